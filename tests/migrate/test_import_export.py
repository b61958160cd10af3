"""`zabkeeper import` and `zabkeeper export` against Apache ZooKeeper 3.8's own files.

Data is made by a real ZooKeeper 3.8 (Debian's): a few hundred znodes with binary data, every
ACL scheme (world, digest, auth, ip), ephemerals of a session still open when ZooKeeper is
SIGKILLed, sequentials, a container, TTL nodes, quota nodes, multis, deletes, setACLs, closed
sessions; small snapCount, so there are several snapshots and txns after the newest one; and
a torn last log record. ZooKeeper restarted on those files is the reference: our server
started on the imported dataDir must show exactly the same znodes (data, ACL, every Stat
field) and sessions, and ZooKeeper started on our export must show them again, with no digest
mismatch in its log. Damaged files are refused with their name and offset.
"""
import os
import random
import shutil
import struct
import subprocess
import zlib

import pytest
from kazoo.security import ACL, Id, make_digest_acl, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE

import zkservers
from zkext import create_container, create_ttl


def zabkeeper(*args):
    return subprocess.run([zkservers.zabkeeper_bin()] + list(args), capture_output=True, text=True, timeout=120)


def walk(zk):
    """Every znode: path -> (data, stat tuple, acls)."""
    out = {}
    todo = ["/"]
    while todo:
        p = todo.pop()
        data, stat = zk.get(p)
        acls, _ = zk.get_acls(p)
        out[p] = (data, tuple(stat), sorted((a.perms, a.id.scheme, a.id.id) for a in acls))
        for c in zk.get_children(p):
            todo.append(("" if p == "/" else p) + "/" + c)
    return out


def make_data(zk, owner):
    rnd = random.Random(7)
    zk.add_auth("digest", "alice:secret")
    acls = [
        OPEN_ACL_UNSAFE,
        READ_ACL_UNSAFE,
        [make_digest_acl("bob", "pw", all=True)],
        [ACL(31, Id("auth", ""))],
        [ACL(3, Id("ip", "127.0.0.1")), ACL(1, Id("world", "anyone"))],
    ]
    zk.create("/app", b"root")
    for i in range(40):
        zk.create("/app/n%02d" % i, bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 300))))
        for j in range(4):
            zk.create("/app/n%02d/c%d" % (i, j), b"x" * j, acl=acls[(i + j) % len(acls)])
    for i in range(30):
        zk.create("/app/seq-", b"s", sequence=True)
    # setData, setACL, deletes (cversion, pzxid), a multi.
    for i in range(0, 40, 3):
        zk.set("/app/n%02d" % i, b"changed")
        zk.set("/app/n%02d" % i, b"changed again")
    zk.set_acls("/app/n01", [make_digest_acl("carol", "pw", read=True, write=True, create=True, delete=True)])
    zk.set_acls("/app/n03", [ACL(31, Id("auth", ""))])
    for i in range(0, 40, 5):
        zk.delete("/app/n%02d/c3" % i)
    t = zk.transaction()
    t.create("/app/multi", b"m")
    t.set_data("/app/n02", b"via multi")
    t.delete("/app/n04/c2")
    t.commit()
    # Quotas as zkCli's setquota leaves them.
    zk.create("/zookeeper/quota/app/zookeeper_limits", b"count=1000,bytes=1000000", makepath=True)
    zk.create("/zookeeper/quota/app/zookeeper_stats", b"count=0,bytes=0")
    # A container with a child (an empty one would be reaped), TTL znodes (an hour).
    create_container(zk, "/box", b"c")
    zk.create("/box/item", b"i")
    create_ttl(zk, "/ttl", 3_600_000, b"t")
    create_ttl(zk, "/ttlseq-", 3_600_000, b"t", sequential=True)
    # Ephemerals of a session that stays open, and of one that closes.
    owner.create("/live", b"l", ephemeral=True)
    owner.create("/live-seq-", b"l", ephemeral=True, sequence=True)
    gone = zkservers.Server.client.__get__(SERVER_HOLDER[0])()
    gone.create("/gone", b"g", ephemeral=True)
    zkservers.stop_client(gone)
    # A unicode path and a binary one.
    zk.create("/app/\u00e9t\u00e9", "\u2603".encode())


SERVER_HOLDER = []


def last_record_offset(path):
    """The offset of the last complete record of a ZooKeeper txn log."""
    with open(path, "rb") as f:
        b = f.read()
    at, last = 16, None
    while at + 12 <= len(b):
        (n,) = struct.unpack(">i", b[at + 8:at + 12])
        if n <= 0 or at + 12 + n + 1 > len(b) or b[at + 12 + n] != 0x42:
            break
        last, at = at, at + 12 + n + 1
    return last


def newest(dirpath, prefix):
    names = [n for n in os.listdir(dirpath) if n.startswith(prefix + ".")]
    return max(names, key=lambda n: int(n.split(".")[1], 16))


@pytest.fixture
def workdir(tmp_path):
    yield tmp_path
    for s in SERVER_HOLDER:
        s.cleanup()
    SERVER_HOLDER.clear()


def zk_server(data_dir, snap_count=None):
    args = ["-Dzookeeper.snapCount=%d" % snap_count] if snap_count else []
    s = zkservers.Server("zookeeper", prefix="migrate", jvm_args=args)
    s.data_dir = str(data_dir)
    SERVER_HOLDER.append(s)
    return s


def our_server(data_dir):
    s = zkservers.Server("zabkeeper", prefix="migrate")
    s.data_dir = str(data_dir)
    SERVER_HOLDER.append(s)
    return s


def test_import_then_export_keeps_every_znode_acl_stat_and_session(workdir):
    zkdir = workdir / "zk"
    source = zk_server(zkdir, snap_count=60).start()
    zk = source.client(timeout=30.0)
    owner = source.client(timeout=30.0)
    make_data(zk, owner)
    zk.create("/torn", b"never durable")
    # SIGKILL: the session holding /live stays open in the files.
    source.proc.kill()
    source.proc.wait()
    source.proc = None
    for c in (zk, owner):
        try:
            c.stop()
        except Exception:
            pass
    v2 = zkdir / "version-2"
    snaps = [n for n in os.listdir(v2) if n.startswith("snapshot.")]
    assert len(snaps) >= 2, snaps
    log = v2 / newest(v2, "log")
    last = last_record_offset(log)
    assert last is not None
    with open(log, "r+b") as f:
        f.truncate(last + 20)  # the /torn create, cut mid-record
    copy = workdir / "zk-copy"
    shutil.copytree(zkdir, copy)

    # The reference: ZooKeeper itself restarted on the damaged files.
    ref_server = zk_server(zkdir).start()
    ref_client = ref_server.client(super_user=True, timeout=30.0)
    ref = walk(ref_client)
    zkservers.stop_client(ref_client)
    ref_server.stop()
    assert "/torn" not in ref, "ZooKeeper kept the torn record"
    assert "/live" in ref, "the open session's ephemeral is gone"
    assert "/gone" not in ref, "the closed session's ephemeral is there"
    assert "/box/item" in ref

    ours_dir = workdir / "ours"
    r = zabkeeper("import", str(copy), str(ours_dir))
    assert r.returncode == 0, r.stderr
    assert "torn record ignored" in r.stdout and "offset %d" % last in r.stdout, r.stdout
    ours = our_server(ours_dir).start()
    c = ours.client(super_user=True, timeout=30.0)
    got = walk(c)
    zkservers.stop_client(c)
    ours.stop()
    assert sorted(got) == sorted(ref)
    for p in ref:
        assert got[p] == ref[p], p

    back = workdir / "zk-back"
    r = zabkeeper("export", str(ours_dir), str(back))
    assert r.returncode == 0, r.stderr
    again = zk_server(back).start()
    c = again.client(super_user=True, timeout=30.0)
    exported = walk(c)
    zkservers.stop_client(c)
    again.stop()
    assert sorted(exported) == sorted(ref)
    for p in ref:
        assert exported[p] == ref[p], p
    with open(again.log_path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    assert "Digests are not matching" not in text and "digest mismatch" not in text.lower(), text[-3000:]
    assert "problem reading snap file" not in text, text[-3000:]
    # ZooKeeper recomputed the tree digest after loading and it equals the one we wrote.
    import re
    stored = re.search(r"digest version of 2, with zxid as 0x[0-9a-f]+, and digest value as (\d+)", text)
    loaded = re.search(r"Snapshot loaded in .*digest is (\d+)", text)
    assert stored and loaded and stored.group(1) == loaded.group(1) != "0", text[-3000:]


def test_damaged_files_are_refused_with_name_and_offset(workdir):
    zkdir = workdir / "zk"
    source = zk_server(zkdir).start()
    zk = source.client()
    for i in range(20):
        zk.create("/d%d" % i, b"v")
    zkservers.stop_client(zk)
    source.stop()
    v2 = zkdir / "version-2"
    log = v2 / newest(v2, "log")
    with open(log, "r+b") as f:
        f.seek(16 + 12 + 5)  # inside the first record's payload
        byte = f.read(1)
        f.seek(16 + 12 + 5)
        f.write(bytes([byte[0] ^ 0xFF]))
    r = zabkeeper("import", str(zkdir), str(workdir / "ours"))
    assert r.returncode != 0
    assert str(log) in r.stderr and "offset 16" in r.stderr and "checksum" in r.stderr, r.stderr
    assert not (workdir / "ours").exists() and not (workdir / "ours.partial").exists()
    # A destination with files in it is never touched.
    busy = workdir / "busy"
    busy.mkdir()
    (busy / "keep").write_text("x")
    r = zabkeeper("export", str(workdir / "nothing"), str(busy))
    assert r.returncode != 0 and "not a dataDir" in r.stderr, r.stderr
    assert (busy / "keep").read_text() == "x"


class ZooKeeperWithLogDir(zkservers.Server):
    """ZooKeeper with its txn logs in a separate dataLogDir."""

    def _write_cfg(self):
        path = super()._write_cfg()
        with open(path, "a") as f:
            f.write("dataLogDir=%s\n" % self.log_dir)
        return path


def test_gzip_snapshots_and_a_separate_log_dir_import(workdir):
    zkdir, logdir = workdir / "zk", workdir / "zklogs"
    s = ZooKeeperWithLogDir("zookeeper", prefix="migrate",
                            jvm_args=["-Dzookeeper.snapCount=20", "-Dzookeeper.snapshot.compression.method=gz"])
    s.data_dir, s.log_dir = str(zkdir), str(logdir)
    SERVER_HOLDER.append(s)
    s.start()
    zk = s.client()
    for i in range(60):
        zk.create("/g%02d" % i, b"v" * i, acl=[make_digest_acl("bob", "pw", all=True)] if i % 7 == 0 else None)
    zkservers.stop_client(zk)
    s.proc.kill()
    s.proc.wait()
    s.proc = None
    snaps = [n for n in os.listdir(zkdir / "version-2") if n.startswith("snapshot.")]
    assert snaps and all(n.endswith(".gz") for n in snaps), snaps
    assert any(n.startswith("log.") for n in os.listdir(logdir / "version-2"))
    s.start()
    c = s.client(super_user=True)
    ref = walk(c)
    zkservers.stop_client(c)
    s.stop()
    ours_dir = workdir / "ours"
    r = zabkeeper("import", str(zkdir), str(ours_dir), "--zookeeper-log-dir", str(logdir))
    assert r.returncode == 0, r.stderr
    assert ".gz" in r.stdout, r.stdout
    ours = our_server(ours_dir).start()
    c = ours.client(super_user=True)
    got = walk(c)
    zkservers.stop_client(c)
    ours.stop()
    assert got == ref
