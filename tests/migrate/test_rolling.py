"""The rolling migration: a three-member Apache ZooKeeper 3.8 ensemble, under continuous
writes from clients that hold ephemeral znodes and watches, has its members replaced one at a
time by zabkeeper (same myid, addresses and zoo.cfg; member 3 starts empty and takes a SNAP,
member 2 starts on `zabkeeper import` of its dataDir, member 1 empty again), then back the same
way (`zabkeeper export`, or empty ZooKeeper members taking a SNAP from ours). At the end: every
acknowledged write present, no client session expired, every ephemeral still owned by its
session, the watches still firing. A plain rolling restart of ZooKeeper itself runs first, for
comparison; each swap's duration and the longest stretch without a successful write are
printed (pytest -s).
"""
import os
import shutil
import subprocess
import threading
import time

import pytest
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException

import zkservers

TICK = 1000


class Member:
    def __init__(self, tmp, i):
        self.id = i + 1
        self.client_port = zkservers.free_port()
        self.quorum_port = zkservers.free_port()
        self.election_port = zkservers.free_port()
        self.dir = os.path.join(tmp, "m%d" % self.id)
        self.data = os.path.join(self.dir, "data")
        self.kind = "zookeeper"
        self.proc = None
        os.makedirs(self.data)
        with open(os.path.join(self.data, "myid"), "w") as f:
            f.write(str(self.id))

    @property
    def hostport(self):
        return "127.0.0.1:%d" % self.client_port


class Mixed:
    def __init__(self, tmp):
        self.tmp = tmp
        self.members = [Member(tmp, i) for i in range(3)]
        # Kazoo clients to stop before the servers (their threads would keep pytest alive).
        self.clients = []

    def cfg(self, m):
        lines = [
            "tickTime=%d" % TICK, "initLimit=10", "syncLimit=5", "dataDir=%s" % m.data,
            "clientPort=%d" % m.client_port, "clientPortAddress=127.0.0.1", "maxClientCnxns=0",
            "4lw.commands.whitelist=*", "admin.enableServer=false", "autopurge.purgeInterval=0",
        ]
        for o in self.members:
            lines.append("server.%d=127.0.0.1:%d:%d;127.0.0.1:%d" % (o.id, o.quorum_port, o.election_port, o.client_port))
        path = os.path.join(m.dir, "zoo.cfg")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start(self, m):
        cfg = self.cfg(m)
        if m.kind == "zabkeeper":
            cmd = [zkservers.zabkeeper_bin(), cfg]
        else:
            cmd = [zkservers.java_bin(), "-Xmx256m", "-Dzookeeper.admin.enableServer=false",
                   "-Dzookeeper.4lw.commands.whitelist=*", "-Djava.net.preferIPv4Stack=true",
                   "-cp", zkservers.zookeeper_classpath(),
                   "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg]
        log = open(os.path.join(m.dir, "%s.log" % m.kind), "ab")
        m.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  env=dict(os.environ, ZABKEEPER_LOG="info"))

    def stop(self, m):
        zkservers.stop_children([m.proc])
        m.proc = None

    def mode(self, m):
        try:
            text = zkservers_four(m.client_port, "srvr")
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith("Mode: "):
                return line[6:].strip()
        return None

    def wait_serving(self, m, timeout=60):
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            if self.mode(m) in ("leader", "follower"):
                return
            if m.proc is not None and m.proc.poll() is not None:
                raise AssertionError("member %d (%s) exited" % (m.id, m.kind))
            time.sleep(0.05)
        raise AssertionError("member %d (%s) did not serve within %d s" % (m.id, m.kind, timeout))

    def connect_string(self):
        return ",".join(m.hostport for m in self.members)

    def stop_all(self):
        for c in self.clients:
            zkservers.stop_client(c)
        zkservers.stop_children([m.proc for m in self.members if m.proc])


def zkservers_four(port, word):
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(word.encode())
        s.settimeout(2)
        out = b""
        while True:
            b = s.recv(4096)
            if not b:
                return out.decode()
            out += b


class Load:
    """A writer creating /w/<n> without pause, recording what was acknowledged and when."""

    def __init__(self, hosts):
        self.zk = KazooClient(hosts=hosts, timeout=20.0)
        self.zk.start(timeout=30)
        self.zk.ensure_path("/w")
        self.acked = []
        self.times = []
        self.unknown = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                self.zk.create("/w/%08d" % n, b"v")
                self.acked.append(n)
                self.times.append(time.monotonic())
            except KazooException:
                self.unknown += 1
                time.sleep(0.01)

    def longest_gap(self, t0, t1):
        ts = [t for t in self.times if t0 <= t <= t1]
        edges = [t0] + ts + [t1]
        return max(b - a for a, b in zip(edges, edges[1:]))


class Holder:
    """A session holding an ephemeral and a data watch on /watched; records every state."""

    def __init__(self, hosts, k):
        self.states = []
        self.zk = KazooClient(hosts=hosts, timeout=20.0)
        self.zk.add_listener(self.states.append)
        self.zk.start(timeout=30)
        self.path = "/eph/h%d" % k
        self.zk.create(self.path, b"h", ephemeral=True, makepath=True)
        self.seen = []
        self.zk.DataWatch("/watched", lambda data, stat: self.seen.append(data))


def swap(e, m, kind, how, load):
    t0 = time.monotonic()
    e.stop(m)
    if how == "empty":
        shutil.rmtree(m.data)
        os.makedirs(m.data)
        with open(os.path.join(m.data, "myid"), "w") as f:
            f.write(str(m.id))
    elif how in ("import", "export"):
        new = m.data + "-" + kind
        r = subprocess.run([zkservers.zabkeeper_bin(), how, m.data, new], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        m.data = new
    m.kind = kind
    e.start(m)
    e.wait_serving(m)
    t1 = time.monotonic()
    # Until the writer got one through after the swap.
    n = len(load.acked)
    until = time.monotonic() + 60
    while len(load.acked) == n and time.monotonic() < until:
        time.sleep(0.01)
    return t1 - t0, load.longest_gap(t0, time.monotonic())


@pytest.fixture
def ensemble(tmp_path):
    e = Mixed(str(tmp_path))
    yield e
    e.stop_all()


def test_a_zookeeper_ensemble_is_migrated_member_by_member_and_back(ensemble):
    e = ensemble
    for m in e.members:
        e.start(m)
    for m in e.members:
        e.wait_serving(m)
    hosts = e.connect_string()
    load = Load(hosts)
    e.clients.append(load.zk)
    holders = [Holder(hosts, k) for k in range(3)]
    e.clients.extend(h.zk for h in holders)
    setter = KazooClient(hosts=hosts, timeout=20.0)
    e.clients.append(setter)
    setter.start(timeout=30)
    setter.ensure_path("/watched")
    report = []
    # A rolling restart of ZooKeeper itself, for comparison.
    for m in reversed(e.members):
        report.append(("zookeeper restart", m.id) + swap(e, m, "zookeeper", "restart", load))
    plan = [(3, "empty"), (2, "import"), (1, "empty")]
    for mid, how in plan:
        m = e.members[mid - 1]
        report.append(("to zabkeeper (%s)" % how, mid) + swap(e, m, "zabkeeper", how, load))
        setter.set("/watched", ("after member %d" % mid).encode())
    kinds = [m.kind for m in e.members]
    assert kinds == ["zabkeeper"] * 3, kinds
    back = [(1, "export"), (2, "empty"), (3, "empty")]
    for mid, how in back:
        m = e.members[mid - 1]
        report.append(("to zookeeper (%s)" % how, mid) + swap(e, m, "zookeeper", how, load))
        setter.set("/watched", ("back at member %d" % mid).encode())
    load.stop.set()
    load.thread.join(timeout=30)
    for line in report:
        print("%-26s member %d: swap %.2f s, longest write gap %.2f s" % line)

    # Every acknowledged write is there, on every member.
    for m in e.members:
        c = KazooClient(hosts=m.hostport, timeout=20.0)
        e.clients.append(c)
        c.start(timeout=30)
        c.sync("/")
        present = set(int(x) for x in c.get_children("/w"))
        missing = [n for n in load.acked if n not in present]
        assert not missing, "member %d lost acknowledged writes %s" % (m.id, missing[:10])
        c.stop()
    # No session expired; every ephemeral still owned by its session; watches fired.
    final = b"final"
    setter.set("/watched", final)
    until = time.monotonic() + 30
    while time.monotonic() < until and not all(h.seen and h.seen[-1] == final for h in holders):
        time.sleep(0.05)
    for h in holders:
        assert KazooState.LOST not in h.states, h.states
        stat = h.zk.exists(h.path)
        assert stat is not None and stat.ephemeralOwner == h.zk.client_id[0], (h.path, stat)
        assert h.seen and h.seen[-1] == final, h.seen[-5:]
        assert len(set(h.seen)) >= 4, h.seen  # it fired through the swaps, not only at the end
    assert len(load.acked) > 100
