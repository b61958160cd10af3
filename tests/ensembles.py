"""A three-member ensemble on 127.0.0.1 whose members can each be Apache ZooKeeper 3.8 or
zabkeeper (same zoo.cfg, same myid), started, stopped and swapped one at a time. Used by the
rolling-migration test and the Flink HA test."""
import os
import subprocess
import time

import zkservers
from compat_util import four_letter

TICK = 1000


class Member:
    def __init__(self, tmp, i, kind):
        self.id = i + 1
        self.client_port = zkservers.free_port()
        self.quorum_port = zkservers.free_port()
        self.election_port = zkservers.free_port()
        self.dir = os.path.join(tmp, "m%d" % self.id)
        self.data = os.path.join(self.dir, "data")
        self.kind = kind
        self.proc = None
        os.makedirs(self.data)
        with open(os.path.join(self.data, "myid"), "w") as f:
            f.write(str(self.id))

    @property
    def hostport(self):
        return "127.0.0.1:%d" % self.client_port


class Mixed:
    """Three members, all of `kind` ("zookeeper" or "zabkeeper") to begin with."""

    def __init__(self, tmp, kind="zookeeper"):
        self.tmp = tmp
        self.members = [Member(tmp, i, kind) for i in range(3)]
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
            text = four_letter(m.client_port, "srvr", timeout=2)
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

    def leader(self):
        """The member whose srvr says leader, or None."""
        for m in self.members:
            if m.proc is not None and self.mode(m) == "leader":
                return m
        return None

    def connect_string(self):
        return ",".join(m.hostport for m in self.members)

    def stop_all(self):
        for c in self.clients:
            zkservers.stop_client(c)
        zkservers.stop_children([m.proc for m in self.members if m.proc])
