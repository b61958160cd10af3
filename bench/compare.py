#!/usr/bin/env python3
"""Side-by-side benchmark: zabkeeper against Apache ZooKeeper 3.8 on this machine.

One command (see README): installs ZooKeeper from Debian's packages if missing, builds
zabkeeper in release mode, starts each server with equivalent settings (same tickTime, same
snapCount, fsync on, dataDir on the same disk), runs every zkbench workload against both,
alternating A B A B, and writes bench-out/report.md (ratios), bench-out/results.json and PNG
charts (throughput per workload, latency CDFs, throughput against client count).

Only 127.0.0.1 is used; every server this script starts is stopped by PID.
"""

import argparse
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
WORKLOADS = ["read", "write", "create", "create-seq", "delete", "mixed:90", "watch", "churn", "multi"]


def sh(cmd, **kw):
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def ensure_zookeeper():
    if not os.path.isfile("/usr/share/java/zookeeper.jar"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        policy = "/usr/sbin/policy-rc.d"
        created = not os.path.exists(policy)
        if created:
            with open(policy, "w") as f:
                f.write("#!/bin/sh\nexit 101\n")
            os.chmod(policy, 0o755)
        try:
            sh(["apt-get", "update"], env=env)
            sh(["apt-get", "install", "-y", "--no-install-recommends", "zookeeper", "default-jre-headless"], env=env)
        finally:
            if created:
                os.remove(policy)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        sh([sys.executable, "-m", "pip", "install", "matplotlib"])


def zk_classpath():
    cp = ["/usr/share/java/zookeeper.jar"]
    for b in ("slf4j-simple.jar", "slf4j-nop.jar"):
        if os.path.isfile("/usr/share/java/" + b):
            cp.append("/usr/share/java/" + b)
            break
    return ":".join(cp)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def four(port, word, timeout=2.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(word.encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data.decode(errors="replace")
            data += chunk


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Server:
    def __init__(self, kind, args, workdir):
        self.kind, self.args = kind, args
        self.dir = tempfile.mkdtemp(prefix="bench-%s-" % kind, dir=workdir)
        self.port = free_port()
        self.proc = None
        self.cfg = os.path.join(self.dir, "zoo.cfg")
        with open(self.cfg, "w") as f:
            f.write("tickTime=2000\ndataDir=%s/data\nclientPort=%d\nclientPortAddress=127.0.0.1\n"
                    "maxClientCnxns=0\nsnapCount=%d\nadmin.enableServer=false\n4lw.commands.whitelist=*\n"
                    "autopurge.purgeInterval=0\nmaxSessionTimeout=120000\n" % (self.dir, self.port, args.snap_count))

    def start(self):
        log = open(os.path.join(self.dir, "server.log"), "ab")
        if self.kind == "zabkeeper":
            cmd = [os.path.join(REPO, "target", "release", "zabkeeper"), self.cfg]
        else:
            cmd = ["java", "-Xmx%s" % self.args.zk_heap, "-Xms%s" % self.args.zk_heap,
                   "-Dzookeeper.4lw.commands.whitelist=*", "-Dzookeeper.admin.enableServer=false",
                   "-cp", zk_classpath(), "org.apache.zookeeper.server.ZooKeeperServerMain", self.cfg]
        t0 = time.time()
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, preexec_fn=os.setsid)
        deadline = t0 + 300
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited at start; see %s/server.log" % (self.kind, self.dir))
            try:
                if four(self.port, "ruok") == "imok" and "Zxid" in four(self.port, "srvr"):
                    return time.time() - t0
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("%s did not start in time" % self.kind)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def zkbench(port, workloads, args, extra=()):
    out = tempfile.mktemp(suffix=".json")
    cmd = [os.path.join(REPO, "target", "release", "zkbench"), "--server", "127.0.0.1:%d" % port,
           "--workload", ",".join(workloads), "--duration", str(args.duration), "--warmup", "1",
           "--sessions", str(args.sessions), "--pipeline", str(args.pipeline), "--payload", "100",
           "--keys", "1000", "--watchers", "100", "--json", out] + list(extra)
    sh(cmd)
    with open(out) as f:
        res = json.load(f)
    os.remove(out)
    return res


def fill(port, nodes):
    """Creates `nodes` znodes of 100 bytes (pipelined, via zkbench's create workload is
    time-bound, so use a dedicated count-bound loop in python through kazoo-free raw zkbench)."""
    cmd = [os.path.join(REPO, "target", "release", "zkbench"), "--server", "127.0.0.1:%d" % port,
           "--workload", "create", "--sessions", "4", "--pipeline", "64", "--payload", "100",
           "--keys", "1", "--warmup", "0", "--duration", "100000", "--stop-after", str(nodes)]
    sh(cmd, stdout=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=2, help="A B rounds (A B A B for 2)")
    ap.add_argument("--sessions", type=int, default=16)
    ap.add_argument("--pipeline", type=int, default=8)
    ap.add_argument("--snap-count", type=int, default=100000)
    ap.add_argument("--zk-heap", default="4g")
    ap.add_argument("--nodes", type=int, default=1000000, help="znodes for the memory/restart test (0 = skip)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--out", default=os.path.join(REPO, "bench-out"))
    args = ap.parse_args()
    ensure_zookeeper()
    sh(["cargo", "build", "--release", "--bins"], cwd=REPO)
    os.makedirs(args.out, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="zkcompare-", dir=args.out)
    workloads = args.workloads.split(",")
    results = {"zabkeeper": [], "zookeeper": [], "scaling": {"zabkeeper": [], "zookeeper": []}, "memory": {}}
    try:
        for rnd in range(args.rounds):
            for kind in ("zookeeper", "zabkeeper") if rnd % 2 else ("zabkeeper", "zookeeper"):
                s = Server(kind, args, workdir)
                try:
                    s.start()
                    results[kind].append(zkbench(s.port, workloads, args))
                finally:
                    s.cleanup()
        # Throughput against client count (reads), and p99 at half of ZooKeeper's peak writes.
        for kind in ("zabkeeper", "zookeeper"):
            s = Server(kind, args, workdir)
            try:
                s.start()
                for n in (1, 4, 16, 64):
                    r = zkbench(s.port, ["read"], argparse.Namespace(**dict(vars(args), sessions=n)))
                    results["scaling"][kind].append((n, r[0]["ops_per_sec"]))
            finally:
                s.cleanup()
        zk_peak = max(r["ops_per_sec"] for rr in results["zookeeper"] for r in rr if r["workload"] == "write")
        results["half_peak_rate"] = zk_peak / 2
        for kind in ("zabkeeper", "zookeeper"):
            s = Server(kind, args, workdir)
            try:
                s.start()
                results["half_peak_" + kind] = zkbench(s.port, ["write"], args, ["--rate", str(zk_peak / 2)])[0]
            finally:
                s.cleanup()
        if args.nodes:
            for kind in ("zabkeeper", "zookeeper"):
                s = Server(kind, args, workdir)
                try:
                    s.start()
                    fill(s.port, args.nodes)
                    mem = rss_kb(s.proc.pid)
                    s.stop()
                    restart = s.start()
                    results["memory"][kind] = {"rss_kb": mem, "restart_s": restart}
                finally:
                    s.cleanup()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    report(results, args)


def best(rr, workload, key="ops_per_sec"):
    vals = [r[key] for rs in rr for r in rs if r["workload"] == workload]
    return max(vals) if vals else 0.0


def report(results, args):
    lines = ["# zabkeeper vs Apache ZooKeeper 3.8", "",
             "Same machine, same run, alternating A B A B; %d sessions x pipeline %d; %.0f s per workload; "
             "fsync on for both; ZooKeeper heap %s." % (args.sessions, args.pipeline, args.duration, args.zk_heap), "",
             "| workload | zabkeeper ops/s | ZooKeeper ops/s | ratio | zabkeeper p99 us | ZooKeeper p99 us |",
             "|---|---|---|---|---|---|"]
    for w in args.workloads.split(","):
        a, b = best(results["zabkeeper"], w), best(results["zookeeper"], w)
        pa = min((r["p99_us"] for rs in results["zabkeeper"] for r in rs if r["workload"] == w), default=0)
        pb = min((r["p99_us"] for rs in results["zookeeper"] for r in rs if r["workload"] == w), default=0)
        lines.append("| %s | %.0f | %.0f | %.2fx | %d | %d |" % (w, a, b, a / b if b else float("nan"), pa, pb))
    if "half_peak_zabkeeper" in results:
        a, b = results["half_peak_zabkeeper"]["p99_us"], results["half_peak_zookeeper"]["p99_us"]
        lines += ["", "p99 write latency at half of ZooKeeper's peak write rate (%.0f ops/s): zabkeeper %d us, "
                  "ZooKeeper %d us (ratio %.2f)" % (results["half_peak_rate"], a, b, a / b if b else float("nan"))]
    if results["memory"]:
        m = results["memory"]
        lines += ["", "| %d znodes of 100 B | zabkeeper | ZooKeeper | ratio |" % args.nodes, "|---|---|---|---|"]
        za, zb = m.get("zabkeeper", {}), m.get("zookeeper", {})
        lines.append("| RSS MiB | %.0f | %.0f | %.2f |" % (za.get("rss_kb", 0) / 1024, zb.get("rss_kb", 0) / 1024,
                                                         za.get("rss_kb", 0) / max(zb.get("rss_kb", 1), 1)))
        lines.append("| restart to serving s | %.2f | %.2f | %.2f |" % (za.get("restart_s", 0), zb.get("restart_s", 0),
                                                                      za.get("restart_s", 0) / max(zb.get("restart_s", 1e-9), 1e-9)))
    cpu = [r["client_cpu_seconds"] / r["seconds"] for rs in results["zabkeeper"] + results["zookeeper"] for r in rs]
    if cpu:
        lines += ["", "Load generator CPU: %.2f cores on average (of 2, shared with the server)." % (sum(cpu) / len(cpu))]
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    charts(results, args)


def charts(results, args):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ws = args.workloads.split(",")
    fig, ax = plt.subplots(figsize=(10, 4))
    x = range(len(ws))
    ax.bar([i - 0.2 for i in x], [best(results["zabkeeper"], w) for w in ws], 0.4, label="zabkeeper")
    ax.bar([i + 0.2 for i in x], [best(results["zookeeper"], w) for w in ws], 0.4, label="ZooKeeper 3.8")
    ax.set_xticks(list(x))
    ax.set_xticklabels(ws, rotation=30)
    ax.set_ylabel("ops/s")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "throughput.png"))
    for w in ws:
        fig, ax = plt.subplots(figsize=(6, 4))
        for kind in ("zabkeeper", "zookeeper"):
            rs = [r for rr in results[kind] for r in rr if r["workload"] == w]
            if rs:
                cdf = rs[-1]["cdf"]
                ax.plot([c[1] for c in cdf], [c[0] for c in cdf], marker="o", label=kind)
        ax.set_xscale("log")
        ax.set_xlabel("latency (us)")
        ax.set_ylabel("percentile")
        ax.set_title("latency CDF: " + w)
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(args.out, "cdf-%s.png" % w.replace(":", "")))
    fig, ax = plt.subplots(figsize=(6, 4))
    for kind in ("zabkeeper", "zookeeper"):
        pts = results["scaling"][kind]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=kind)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("client sessions")
    ax.set_ylabel("read ops/s")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "scaling.png"))


if __name__ == "__main__":
    main()
