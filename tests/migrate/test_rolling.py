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
from ensembles import Mixed


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
