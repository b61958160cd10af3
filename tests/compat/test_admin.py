"""Four-letter words and server_version: structure, not values."""

import datetime
import re
import time
import struct

from compat_util import four_letter, port_of


def kv_lines(text, sep):
    out = {}
    for line in text.splitlines():
        if sep in line:
            k, v = line.split(sep, 1)
            out[k.strip()] = v.strip()
    return out


def test_ruok(server, zk):
    assert four_letter(server.port, "ruok") == "imok"
    assert zk.command(b"ruok") == "imok"


def test_server_version(zk):
    version = zk.server_version()
    assert isinstance(version, tuple) and len(version) >= 3
    assert all(isinstance(v, int) for v in version)
    assert version[:2] >= (3, 5)


def expected_mode(server):
    """srvr's Mode line: a regex for an ensemble member (member 1 leads or follows)."""
    return "standalone" if server.kind in ("zabkeeper", "zookeeper") else "(leader|follower)"


def test_srvr(server, zk):
    zk.create("/srvr-probe-%d" % id(zk), ephemeral=True)
    text = four_letter(server.port, "srvr")
    assert text.startswith("Zookeeper version: ")
    lines = text.splitlines()
    # A leader adds the sizes of its proposals, as ZooKeeper's does.
    keys = [l.split(":", 1)[0] for l in lines if l and not l.startswith("Proposal sizes")]
    assert keys == [
        "Zookeeper version", "Latency min/avg/max", "Received", "Sent", "Connections",
        "Outstanding", "Zxid", "Mode", "Node count",
    ]
    kv = kv_lines(text, ":")
    assert re.fullmatch(r"\d+/[\d.]+/\d+", kv["Latency min/avg/max"])
    assert re.fullmatch(r"0x[0-9a-f]+", kv["Zxid"]) and int(kv["Zxid"], 16) > 0
    assert re.fullmatch(expected_mode(server), kv["Mode"])
    # /, /zookeeper, /zookeeper/quota, /zookeeper/config, and ours (an ensemble member that
    # is not the client's may not have applied it yet)
    assert int(kv["Node count"]) >= (5 if expected_mode(server) == "standalone" else 4)
    assert int(kv["Connections"]) >= 1


def test_stat_lists_clients(server, zk):
    text = four_letter(port_of(server, zk), "stat")
    assert text.startswith("Zookeeper version: ")
    assert "\nClients:\n" in text
    clients = re.findall(r"^ /127\.0\.0\.1:\d+\[\d+\]\(queued=\d+,recved=\d+,sent=\d+\)$", text, re.M)
    assert len(clients) >= 2  # our kazoo session and this 4lw connection
    assert re.search(r"^Mode: %s$" % expected_mode(server), text, re.M)
    assert re.search(r"^Node count: \d+$", text, re.M)


def test_conf(server):
    kv = kv_lines(four_letter(server.port, "conf"), "=")
    assert kv["clientPort"] == str(server.port)
    assert kv["tickTime"] == "200"
    assert kv["minSessionTimeout"] == "400"
    assert kv["maxSessionTimeout"] == "4000"
    assert kv["maxClientCnxns"] == "0"
    assert kv["dataDir"].startswith(server.data_dir)
    assert kv["serverId"] == ("0" if server.kind in ("zabkeeper", "zookeeper") else "1")
    for key in ("dataLogDir", "dataDirSize", "dataLogSize", "clientPortListenBacklog"):
        assert key in kv


def test_envi(server):
    text = four_letter(server.port, "envi")
    assert text.startswith("Environment:\n")
    kv = kv_lines(text, "=")
    for key in ("zookeeper.version", "host.name", "java.version", "os.name", "os.arch",
                "user.name", "user.dir"):
        assert key in kv, key
    assert kv["os.name"] == "Linux"


def test_mntr(server, clients, base):
    a = clients()
    a.create(base + "/e1", ephemeral=True)
    a.create(base + "/e2", ephemeral=True)
    text = four_letter(port_of(server, a), "mntr")
    lines = [l for l in text.splitlines() if l]
    assert all(len(l.split("\t")) == 2 for l in lines), [l for l in lines if len(l.split("\t")) != 2]
    kv = dict(l.split("\t") for l in lines)
    assert re.fullmatch(expected_mode(server), kv["zk_server_state"])
    assert lines[0].startswith("zk_version\t")
    assert int(kv["zk_ephemerals_count"]) >= 2
    assert int(kv["zk_znode_count"]) >= 7
    assert int(kv["zk_num_alive_connections"]) >= 2
    assert int(kv["zk_outstanding_requests"]) >= 0
    for key in ("zk_avg_latency", "zk_max_latency", "zk_min_latency", "zk_packets_received",
                "zk_packets_sent", "zk_watch_count", "zk_approximate_data_size",
                "zk_open_file_descriptor_count", "zk_max_file_descriptor_count",
                "zk_global_sessions", "zk_uptime"):
        assert key in kv, key


def test_mntr_counts_watches(server, zk, base):
    before = dict(l.split("\t") for l in four_letter(port_of(server, zk), "mntr").splitlines() if l)
    p = zk.create(base + "/w")
    zk.get(p, watch=lambda e: None)
    zk.get_children(p, watch=lambda e: None)
    after = dict(l.split("\t") for l in four_letter(port_of(server, zk), "mntr").splitlines() if l)
    assert int(after["zk_watch_count"]) == int(before["zk_watch_count"]) + 2


def test_unknown_and_isro(server):
    assert four_letter(server.port, "isro") == "rw"
    wchs = four_letter(server.port, "wchs")
    assert re.search(r"\d+ connections watching \d+ paths\nTotal watches:\d+", wchs), wchs


def test_cons_lists_sessions(server, zk):
    text = four_letter(port_of(server, zk), "cons")
    sid = "sid=0x%x" % zk.client_id[0]
    lines = [l for l in text.splitlines() if sid in l]
    assert len(lines) == 1, text
    line = lines[0]
    assert re.match(r"^ /127\.0\.0\.1:\d+\[\d+\]\(queued=\d+,recved=\d+,sent=\d+,", line), line
    for field in ("lop=", "est=", "to=", "lcxid=0x", "lzxid=0x", "lresp=", "llat=", "minlat=",
                  "avglat=", "maxlat="):
        assert field in line, (field, line)


def test_stmk_sets_the_trace_mask_that_gtmk_reads(server):
    """stmk: the new mask is the big-endian long after the word; the answer is the mask in
    decimal, without a newline, and gtmk reads it back."""
    before = four_letter(server.port, "gtmk")
    try:
        assert four_letter(server.port, b"stmk" + struct.pack(">q", 0x1F2)) == "498"
        assert four_letter(server.port, "gtmk") == "498"
    finally:
        four_letter(server.port, b"stmk" + struct.pack(">q", int(before)))
    assert four_letter(server.port, "gtmk") == before


JAVA_DATE = r"\w{3} \w{3} \d{2} \d{2}:\d{2}:\d{2} \w+ \d{4}"


def _java_date_is_soon(text, within_s):
    t = datetime.datetime.strptime(text, "%a %b %d %H:%M:%S %Z %Y").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    now = time.time()
    assert now - 5 <= t <= now + within_s, (text, now)


def _expiry_sets(section, title, text):
    """An ExpiryQueue dump ("<title> Sets (N)/(M):", then per bucket "<n> expire at <date>:"
    and its members indented): checks the counts and dates, returns the members."""
    m = re.fullmatch(r"%s Sets \((\d+)\)/\((\d+)\):" % title, section[0])
    assert m, text
    buckets = [l for l in section[1:] if not l.startswith("\t")]
    members = [l for l in section[1:] if l.startswith("\t")]
    assert len(buckets) == int(m.group(1)) and len(members) == int(m.group(2)), text
    for b in buckets:
        bm = re.fullmatch(r"(\d+) expire at (%s):" % JAVA_DATE, b)
        assert bm, b
        _java_date_is_soon(bm.group(2), 120)
    return members


def test_dump_lists_sessions_ephemerals_and_connections(server, zk, base):
    """dump: the session tracker (expiry buckets; a learner lists its global sessions with
    their timeouts instead), the ephemerals by session, the connections by expiry."""
    path = zk.create(base + "/eph", ephemeral=True)
    sid = "0x%x" % zk.client_id[0]
    text = four_letter(port_of(server, zk), "dump")
    lines = text.splitlines()
    assert lines[0] == "SessionTracker dump:", text
    eph_at, con_at = lines.index("ephemeral nodes dump:"), lines.index("Connections dump:")
    sessions = lines[1:eph_at]
    if sessions[0].startswith("Global Sessions("):
        m = re.fullmatch(r"Global Sessions\((\d+)\):", sessions[0])
        assert m and int(m.group(1)) == len(sessions) - 1, text
        assert all(re.fullmatch(r"0x[0-9a-f]+\t\d+ms", l) for l in sessions[1:]), text
        assert any(l.startswith(sid + "\t") for l in sessions[1:]), text
    else:
        members = _expiry_sets(sessions, "Session", text)
        assert all(re.fullmatch(r"\t0x[0-9a-f]+", l) for l in members), text
        assert "\t" + sid in members, text
    ephemerals = lines[eph_at + 1:con_at]
    m = re.fullmatch(r"Sessions with Ephemerals \((\d+)\):", ephemerals[0])
    assert m and int(m.group(1)) == len([l for l in ephemerals[1:] if not l.startswith("\t")]), text
    mine = ephemerals.index(sid + ":")
    assert "\t" + path in ephemerals[mine + 1:], text
    conns = lines[con_at + 1:]
    members = _expiry_sets(conns, "Connections", text)
    assert any(re.fullmatch(r"\tip: /127\.0\.0\.1:\d+ sessionId: %s" % sid, l) for l in members), text
    # this connection, still without a session, is listed too
    assert any(re.fullmatch(r"\tip: /127\.0\.0\.1:\d+ sessionId: 0x0", l) for l in members), text
