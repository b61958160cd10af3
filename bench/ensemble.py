#!/usr/bin/env python3
"""Three-member ensembles of zabkeeper and of Apache ZooKeeper 3.8 on this machine, measured
the same way in the same run (bench/compare.py --parts ensemble runs this too):

  write     write throughput (zkbench setData, sessions spread over all members) and server
            CPU per write summed over the three members (/proc/<pid>/stat utime+stime)
  failover  SIGKILL the leader under write load; time from the kill to the first write
            committed through a surviving member (a fresh session's setData on "/"), the
            median over --kills kills; the killed member is restarted between kills
  snap      a follower with an empty dataDir joins a leader holding --nodes znodes: time from
            its start until it serves with the leader's zxid

Both with fsync on, tickTime 2000, initLimit 10, syncLimit 5, the same snapCount; ZooKeeper
with -Xmx of --zk-heap. Every process it starts is stopped by PID; every wait is bounded.

    python3 bench/ensemble.py                          # all parts, both servers
    python3 bench/ensemble.py --parts failover --kills 10
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (shared helpers: ports, raw client frames, ZooKeeper's classpath)

REPO = compare.REPO
KINDS = ("zabkeeper", "zookeeper")


def cpu_seconds(pid):
    """User + system CPU seconds of a process so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def raw_set_root(port, timeout=2.0):
    """A fresh session's setData on "/": True once the member committed it."""
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        hello = struct.pack(">iqiqi", 0, 0, 30000, 0, 16) + b"\0" * 16 + b"\0"
        s.sendall(struct.pack(">i", len(hello)) + hello)
        resp = compare.read_frame(s)
        if struct.unpack(">i", resp[4:8])[0] <= 0:
            return False
        req = struct.pack(">iii", 1, 5, 1) + b"/" + struct.pack(">i", 1) + b"x" + struct.pack(">i", -1)
        s.sendall(struct.pack(">i", len(req)) + req)
        xid, _zxid, err = struct.unpack(">iqi", compare.read_frame(s)[:16])
        return xid == 1 and err == 0


class Ensemble:
    def __init__(self, kind, args, workdir):
        self.kind, self.args = kind, args
        self.dir = tempfile.mkdtemp(prefix="ens-%s-" % kind, dir=workdir)
        self.ports = [(compare.free_port(), compare.free_port(), compare.free_port()) for _ in range(3)]
        self.procs = [None, None, None]
        servers = "".join("server.%d=127.0.0.1:%d:%d;127.0.0.1:%d\n" % (i + 1, q, e, c)
                          for i, (c, q, e) in enumerate(self.ports))
        for i, (c, _, _) in enumerate(self.ports):
            os.makedirs(self.data(i), exist_ok=True)
            with open(os.path.join(self.dir, "zoo%d.cfg" % (i + 1)), "w") as f:
                f.write("tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=%s\nclientPort=%d\n"
                        "clientPortAddress=127.0.0.1\nmaxClientCnxns=0\nsnapCount=%d\n"
                        "admin.enableServer=false\n4lw.commands.whitelist=*\nautopurge.purgeInterval=0\n"
                        "maxSessionTimeout=120000\n%s" % (self.data(i), c, args.snap_count, servers))

    def data(self, i):
        return os.path.join(self.dir, "data%d" % (i + 1))

    def client_port(self, i):
        return self.ports[i][0]

    def hosts(self, members=(0, 1, 2)):
        return ",".join("127.0.0.1:%d" % self.client_port(i) for i in members)

    def start(self, i):
        with open(os.path.join(self.data(i), "myid"), "w") as f:
            f.write("%d\n" % (i + 1))
        cfg = os.path.join(self.dir, "zoo%d.cfg" % (i + 1))
        if self.kind == "zabkeeper":
            cmd = [os.path.join(REPO, "target", "release", "zabkeeper"), cfg]
        else:
            cmd = ["java", "-Xmx%s" % self.args.zk_heap, "-Dzookeeper.4lw.commands.whitelist=*",
                   "-Dzookeeper.admin.enableServer=false", "-cp", compare.zk_classpath(),
                   "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg]
        log = open(os.path.join(self.dir, "member%d.log" % (i + 1)), "ab")
        self.procs[i] = subprocess.Popen(cmd, stdout=log, stderr=log, preexec_fn=compare.child_setup)

    def srvr(self, i, key):
        """A field of member i's `srvr` answer (None if it does not answer)."""
        try:
            text = compare.four(self.client_port(i), "srvr")
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith(key + ": "):
                return line[len(key) + 2:].strip()
        return None

    def mode(self, i):
        return self.srvr(i, "Mode")

    def zxid(self, i):
        z = self.srvr(i, "Zxid")
        return None if z is None else int(z, 16)

    def wait_settled(self, members=(0, 1, 2), timeout=120):
        """Waits until the members all serve with one leader; returns the leader's index."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            modes = {i: self.mode(i) for i in members}
            leaders = [i for i, m in modes.items() if m == "leader"]
            if len(leaders) == 1 and all(m in ("leader", "follower") for m in modes.values()):
                return leaders[0]
            time.sleep(0.05)
        raise RuntimeError("%s ensemble did not settle: %s (see %s)" % (self.kind, modes, self.dir))

    def start_all(self):
        for i in range(3):
            self.start(i)
        return self.wait_settled()

    def kill(self, i):
        p = self.procs[i]
        if p and p.poll() is None:
            p.kill()
            p.wait()
        self.procs[i] = None

    def cleanup(self):
        for i in range(3):
            p = self.procs[i]
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def zkbench(hosts, workload, args, duration, extra=()):
    out = tempfile.mktemp(suffix=".json")
    cmd = [os.path.join(REPO, "target", "release", "zkbench"), "--server", hosts, "--workload", workload,
           "--duration", str(duration), "--warmup", "1", "--sessions", str(args.sessions),
           "--pipeline", str(args.pipeline), "--payload", "100", "--keys", "1000", "--json", out] + list(extra)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=duration + 600)
    with open(out) as f:
        res = json.load(f)
    os.remove(out)
    return res[0] if isinstance(res, list) else res


def part_write(kind, args, workdir):
    e = Ensemble(kind, args, workdir)
    try:
        e.start_all()
        before = sum(cpu_seconds(p.pid) for p in e.procs)
        r = zkbench(e.hosts(), "write", args, args.duration)
        after = sum(cpu_seconds(p.pid) for p in e.procs)
        ops = r["ops_per_sec"]
        # The CPU window includes zkbench's setup and warmup second; it is charged to the
        # measured writes, the same way for both servers.
        return {"ops_per_sec": ops, "p99_ms": r["p99_us"] / 1000, "errors": r["errors"],
                "cpu_us_per_write": (after - before) / max(r["ops"], 1) * 1e6}
    finally:
        e.cleanup()


def part_failover(kind, args, workdir):
    e = Ensemble(kind, args, workdir)
    times = []
    try:
        leader = e.start_all()
        for _ in range(args.kills):
            # Write load on every member while the leader dies (errors are expected).
            load = subprocess.Popen(
                [os.path.join(REPO, "target", "release", "zkbench"), "--server", e.hosts(), "--workload", "write",
                 "--duration", "30", "--warmup", "0", "--sessions", "6", "--pipeline", "4", "--rate", "2000"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)  # the load runs before the kill (this is the load, not a synchronisation)
            survivors = [i for i in range(3) if i != leader]
            t0 = time.time()
            e.kill(leader)
            first = None
            while time.time() - t0 < 120 and first is None:
                for i in survivors:
                    try:
                        if raw_set_root(e.client_port(i), timeout=1.0):
                            first = time.time() - t0
                            break
                    except OSError:
                        pass
                if first is None:
                    time.sleep(0.005)
            load.kill()
            load.wait()
            if first is None:
                raise RuntimeError("%s: no write committed within 120 s of the kill (see %s)" % (kind, e.dir))
            times.append(first)
            e.start(leader)
            leader = e.wait_settled()
        return {"kills": len(times), "median_s": statistics.median(times), "all_s": times}
    finally:
        e.cleanup()


def part_snap(kind, args, workdir):
    e = Ensemble(kind, args, workdir)
    try:
        leader = e.start_all()
        compare.fill(e.client_port(leader), args.nodes)
        f = next(i for i in range(3) if i != leader)
        e.kill(f)
        shutil.rmtree(e.data(f))
        os.makedirs(e.data(f))
        target = e.zxid(leader)
        t0 = time.time()
        e.start(f)
        while time.time() - t0 < 1800:
            if e.mode(f) == "follower" and e.zxid(f) == target:
                return {"nodes": args.nodes, "catch_up_s": time.time() - t0}
            time.sleep(0.02)
        raise RuntimeError("%s: the wiped follower did not catch up (see %s)" % (kind, e.dir))
    finally:
        e.cleanup()


PARTS = {"write": part_write, "failover": part_failover, "snap": part_snap}


def run(args):
    workdir = tempfile.mkdtemp(prefix="bench-ensemble-")
    results = {}
    try:
        for part in args.parts.split(","):
            results[part] = {}
            for kind in args.kinds.split(","):
                print("ensemble %s: %s ..." % (part, kind), flush=True)
                results[part][kind] = PARTS[part](kind, args, workdir)
                print("  %s" % json.dumps(results[part][kind]), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def report(results):
    lines = ["| ensemble of three | zabkeeper | ZooKeeper 3.8 | ratio |", "|---|---|---|---|"]
    w = results.get("write")
    if w:
        a, b = w["zabkeeper"], w["zookeeper"]
        lines.append("| write, ops/s | %.0f | %.0f | %.2fx |" % (a["ops_per_sec"], b["ops_per_sec"],
                                                                 a["ops_per_sec"] / max(b["ops_per_sec"], 1)))
        lines.append("| server CPU per write (3 members), us | %.1f | %.1f | %.2f |" % (
            a["cpu_us_per_write"], b["cpu_us_per_write"], a["cpu_us_per_write"] / max(b["cpu_us_per_write"], 1e-9)))
    f = results.get("failover")
    if f:
        a, b = f["zabkeeper"], f["zookeeper"]
        lines.append("| failover, kill -> first write committed, median of %d, s | %.3f | %.3f | %.2f |" % (
            a["kills"], a["median_s"], b["median_s"], a["median_s"] / max(b["median_s"], 1e-9)))
    s = results.get("snap")
    if s:
        a, b = s["zabkeeper"], s["zookeeper"]
        lines.append("| empty follower catching up on %d znodes (SNAP), s | %.2f | %.2f | %.2f |" % (
            a["nodes"], a["catch_up_s"], b["catch_up_s"], a["catch_up_s"] / max(b["catch_up_s"], 1e-9)))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="write,failover,snap")
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--sessions", type=int, default=24)
    ap.add_argument("--pipeline", type=int, default=8)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--nodes", type=int, default=1000000)
    ap.add_argument("--snap-count", type=int, default=100000)
    ap.add_argument("--zk-heap", default="2g")
    ap.add_argument("--out", default=os.path.join(REPO, "bench-out"))
    ap.add_argument("--kinds", default=",".join(KINDS), help="servers to measure (the report needs both)")
    args = ap.parse_args()
    compare.ensure_zookeeper()
    subprocess.run(["cargo", "build", "--release", "--bins"], cwd=REPO, check=True)
    results = run(args)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "ensemble.json"), "w") as f:
        json.dump(results, f, indent=2)
    text = report(results) if len(args.kinds.split(",")) == 2 else json.dumps(results, indent=2)
    with open(os.path.join(args.out, "ensemble.md"), "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
