#!/usr/bin/env python3
"""Side-by-side benchmark: zabkeeper against Apache ZooKeeper 3.8 on this machine.

One command (see README): installs ZooKeeper from Debian's packages if missing, builds
zabkeeper in release mode, starts each server with equivalent settings (same tickTime, same
snapCount, fsync on, maxClientCnxns=0, dataDir on the same disk), and runs, for both:

  throughput  every zkbench workload, alternating A B A B (ratios, p99, client CPU)
  scaling     read throughput against client count
  latency     p99 of writes offered at half of ZooKeeper's peak write rate
  memory      RSS holding --nodes znodes of 100 bytes, then restart time: process start to
              the first successful client request (handshake + exists), same data, same way
  hold        RSS holding --hold-sessions sessions with --hold-watches data watches each

and writes bench-out/report.md, bench-out/results.json and PNG charts. `--parts` picks parts.

Only 127.0.0.1 is used; every process this script starts is stopped by PID, and every wait
is bounded.
"""

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
WORKLOADS = ["read", "write", "create", "create-seq", "delete", "mixed:90", "watch", "churn", "multi"]
# Workloads that leave znodes behind run last: a faster server would otherwise run every
# later workload against a bigger tree (and bigger snapshots) than a slower one.
GROWING = ("create", "create-seq")


def run_order(workloads):
    return [w for w in workloads if w not in GROWING] + [w for w in workloads if w in GROWING]


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


def raise_fd_limit():
    """Child processes get the hard limit of open files as their soft limit (10,000 sessions
    need more than the usual 1024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def child_setup():
    os.setsid()
    raise_fd_limit()


def read_frame(s):
    def exactly(n):
        data = b""
        while len(data) < n:
            chunk = s.recv(n - len(data))
            if not chunk:
                raise OSError("connection closed")
            data += chunk
        return data
    return exactly(struct.unpack(">i", exactly(4))[0])


def client_request(port, path="/zookeeper", timeout=2.0):
    """One real client request: a session handshake, then exists(path). True when the server
    answered the request with no error."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        hello = struct.pack(">iqiqi", 0, 0, 30000, 0, 16) + b"\0" * 16 + b"\0"
        s.sendall(struct.pack(">i", len(hello)) + hello)
        resp = read_frame(s)
        if struct.unpack(">i", resp[4:8])[0] <= 0:
            return False
        p = path.encode()
        req = struct.pack(">iii", 1, 3, len(p)) + p + b"\0"
        s.sendall(struct.pack(">i", len(req)) + req)
        xid, _zxid, err = struct.unpack(">iqi", read_frame(s)[:16])
        return xid == 1 and err == 0


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
        """Starts the server; returns the seconds from process start to the first client
        request it answered."""
        log = open(os.path.join(self.dir, "server.log"), "ab")
        if self.kind == "zabkeeper":
            cmd = [os.path.join(REPO, "target", "release", "zabkeeper"), self.cfg]
        else:
            cmd = ["java", "-Xmx%s" % self.args.zk_heap,
                   "-Dzookeeper.4lw.commands.whitelist=*", "-Dzookeeper.admin.enableServer=false",
                   "-cp", zk_classpath(), "org.apache.zookeeper.server.ZooKeeperServerMain", self.cfg]
        t0 = time.time()
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, preexec_fn=child_setup)
        deadline = t0 + 300
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited at start; see %s/server.log" % (self.kind, self.dir))
            try:
                if client_request(self.port):
                    return time.time() - t0
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError("%s did not serve a client request within 300 s" % self.kind)

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


@contextlib.contextmanager
def running(kind, args, workdir):
    """A started server of `kind`, stopped and its directory removed afterwards."""
    s = Server(kind, args, workdir)
    try:
        s.start()
        yield s
    finally:
        s.cleanup()


def recovery_lines(server):
    """The server's own account of its last startup (zabkeeper's recovery lines, ZooKeeper's
    snapshot/log loading lines), for the results file."""
    keys = ("Recovered", "Loaded snapshot", "Reading a snapshot", "Opened the txn log", "Snapshot loading",
            "Snapshot taken", "Reading snapshot", "loadData")
    try:
        with open(os.path.join(server.dir, "server.log"), errors="replace") as f:
            return [line.strip()[-300:] for line in f if any(k in line for k in keys)][-8:]
    except OSError:
        return []


def zk_live_heap_kb(pid):
    """ZooKeeper's live heap after a full GC (jcmd), or None when jcmd is unavailable."""
    if not shutil.which("jcmd"):
        return None
    try:
        subprocess.run(["jcmd", str(pid), "GC.run"], capture_output=True, timeout=120, check=True)
        out = subprocess.run(["jcmd", str(pid), "GC.heap_info"], capture_output=True, text=True,
                             timeout=60, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return None
    for line in out.splitlines():
        # " garbage-first heap   total 262144K, used 123456K [...]"
        if "used" in line and "total" in line:
            try:
                return int(line.split("used")[1].split("K")[0].strip())
            except (IndexError, ValueError):
                return None
    return None


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
    sh(cmd, stdout=subprocess.DEVNULL, timeout=3600)


def hold(server, args):
    """Runs zkbench's hold workload against `server` and measures the server's RSS while it
    holds --hold-sessions sessions with --hold-watches data watches each."""
    sessions, per = args.hold_sessions, args.hold_watches
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < sessions + 1024:
        raise RuntimeError("hold: %d sessions need at least %d open files; the hard limit is %d "
                           "(raise it with ulimit -Hn, or lower --hold-sessions)" % (sessions, sessions + 1024, hard))
    idle = rss_kb(server.proc.pid)
    out = tempfile.mktemp(suffix=".json")
    cmd = [os.path.join(REPO, "target", "release", "zkbench"), "--server", "127.0.0.1:%d" % server.port,
           "--workload", "hold", "--sessions", str(sessions), "--watches-per-session", str(per),
           "--keys", str(args.hold_keys), "--payload", "100", "--duration", str(args.hold_seconds), "--json", out]
    print("+", " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, preexec_fn=child_setup)
    result = {"idle_rss_kb": idle}
    try:
        deadline = time.time() + args.hold_timeout
        line = ""
        while time.time() < deadline:
            line = proc.stdout.readline()
            if not line or line.startswith("holding"):
                break
        if not line.startswith("holding"):
            raise RuntimeError("hold: zkbench did not report its sessions in place within %d s (%s)"
                               % (args.hold_timeout, line.strip() or "it exited"))
        print(line.strip(), flush=True)
        time.sleep(2)  # let the server settle after the last reply
        result["rss_kb"] = rss_kb(server.proc.pid)
        try:
            result["wchs"] = four(server.port, "wchs", timeout=30).strip()
        except OSError as e:
            result["wchs"] = "unavailable: %s" % e
        proc.wait(timeout=args.hold_seconds + 120)
        if proc.returncode != 0:
            raise RuntimeError("hold: zkbench failed (exit %d)" % proc.returncode)
        with open(out) as f:
            rep = json.load(f)[0]
        result.update(sessions=rep["sessions"], watches=rep["ops"], setup_s=rep["seconds"],
                      client_cpu_s=rep["client_cpu_seconds"], client_rss_kb=rep.get("client_rss_kb", 0))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if os.path.exists(out):
            os.remove(out)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=2, help="A B rounds (A B A B for 2)")
    ap.add_argument("--sessions", type=int, default=16)
    ap.add_argument("--pipeline", type=int, default=8)
    ap.add_argument("--snap-count", type=int, default=100000)
    ap.add_argument("--zk-heap", default="4g", help="ZooKeeper's -Xmx (initial heap: the JVM's default)")
    ap.add_argument("--nodes", type=int, default=1000000, help="znodes for the memory/restart test (0 = skip)")
    ap.add_argument("--hold-sessions", type=int, default=10000)
    ap.add_argument("--hold-watches", type=int, default=100, help="data watches per held session")
    ap.add_argument("--hold-keys", type=int, default=10000, help="znodes the held sessions watch")
    ap.add_argument("--hold-seconds", type=float, default=10, help="how long zkbench holds them")
    ap.add_argument("--hold-timeout", type=float, default=900, help="longest wait for the hold set-up")
    ap.add_argument("--parts", default="throughput,scaling,latency,memory,hold,ensemble",
                    help="ensemble: three-member ensembles of both (bench/ensemble.py: write throughput "
                         "and CPU per write, failover, SNAP catch-up of --nodes znodes)")
    ap.add_argument("--kills", type=int, default=10, help="leader kills for the ensemble failover median")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--out", default=os.path.join(REPO, "bench-out"))
    args = ap.parse_args()
    # A SIGTERM (or a timeout wrapper) unwinds like Ctrl-C, so every server is stopped by PID.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ensure_zookeeper()
    sh(["cargo", "build", "--release", "--bins"], cwd=REPO)
    os.makedirs(args.out, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="zkcompare-", dir=args.out)
    workloads = run_order(args.workloads.split(","))
    parts = set(args.parts.split(","))
    results = {"zabkeeper": [], "zookeeper": [], "scaling": {"zabkeeper": [], "zookeeper": []}, "memory": {},
               "hold": {}, "zk_heap": args.zk_heap}
    try:
        for rnd in range(args.rounds if "throughput" in parts else 0):
            for kind in ("zookeeper", "zabkeeper") if rnd % 2 else ("zabkeeper", "zookeeper"):
                with running(kind, args, workdir) as s:
                    results[kind].append(zkbench(s.port, workloads, args))
        # Throughput against client count (reads), and p99 at half of ZooKeeper's peak writes.
        for kind in ("zabkeeper", "zookeeper") if "scaling" in parts else ():
            with running(kind, args, workdir) as s:
                for n in (1, 4, 16, 64):
                    r = zkbench(s.port, ["read"], argparse.Namespace(**dict(vars(args), sessions=n)))
                    results["scaling"][kind].append((n, r[0]["ops_per_sec"]))
        zk_peak = max((r["ops_per_sec"] for rr in results["zookeeper"] for r in rr if r["workload"] == "write"),
                      default=0)
        if "latency" in parts and not zk_peak:
            print("latency: skipped (no ZooKeeper write throughput measured; include write in --workloads)")
        results["half_peak_rate"] = zk_peak / 2
        for kind in ("zabkeeper", "zookeeper") if "latency" in parts and zk_peak else ():
            with running(kind, args, workdir) as s:
                results["half_peak_" + kind] = zkbench(s.port, ["write"], args, ["--rate", str(zk_peak / 2)])[0]
        for kind in ("zabkeeper", "zookeeper") if args.nodes and "memory" in parts else ():
            with running(kind, args, workdir) as s:
                fill(s.port, args.nodes)
                time.sleep(2)  # let a snapshot in progress finish, as it would at rest
                mem = rss_kb(s.proc.pid)
                live = zk_live_heap_kb(s.proc.pid) if kind == "zookeeper" else None
                s.stop()
                restart = s.start()
                results["memory"][kind] = {"rss_kb": mem, "restart_s": restart, "live_heap_kb": live,
                                           "rss_after_restart_kb": rss_kb(s.proc.pid),
                                           "recovery_log": recovery_lines(s)}
        for kind in ("zabkeeper", "zookeeper") if args.hold_sessions and "hold" in parts else ():
            with running(kind, args, workdir) as s:
                results["hold"][kind] = hold(s, args)
        if "ensemble" in parts:
            import ensemble  # bench/ensemble.py, beside this file
            ens_args = argparse.Namespace(**dict(vars(args), parts="write,failover,snap", sessions=24,
                                                      kinds="zabkeeper,zookeeper"))
            results["ensemble"] = ensemble.run(ens_args)
            with open(os.path.join(args.out, "ensemble.md"), "w") as f:
                f.write(ensemble.report(results["ensemble"]) + "\n")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    report(results, args)


def client_cores(rr, workload):
    vals = [r["client_cpu_seconds"] / r["seconds"] for rs in rr for r in rs if r["workload"] == workload]
    return sum(vals) / len(vals) if vals else 0.0


def per_round(results, workload):
    """The ratio within each round (both servers ran it back to back), as "3.1x, 2.9x"."""
    out = []
    for za, zb in zip(results["zabkeeper"], results["zookeeper"]):
        a = [r["ops_per_sec"] for r in za if r["workload"] == workload]
        b = [r["ops_per_sec"] for r in zb if r["workload"] == workload]
        if a and b and b[0]:
            out.append("%.2fx" % (a[0] / b[0]))
    return ", ".join(out)


def best(rr, workload, key="ops_per_sec"):
    vals = [r[key] for rs in rr for r in rs if r["workload"] == workload]
    return max(vals) if vals else 0.0


def report(results, args):
    lines = ["# zabkeeper vs Apache ZooKeeper 3.8", "",
             "Same machine, same run, alternating A B A B; %d sessions x pipeline %d; %.0f s per workload; "
             "fsync on for both; ZooKeeper -Xmx%s. Each server runs the workloads in this order: %s "
             "(the ones that grow the tree last). Throughput: best round; client CPU: cores the load "
             "generator used during that workload (mean over rounds)." % (
                 args.sessions, args.pipeline, args.duration, args.zk_heap, ", ".join(run_order(args.workloads.split(",")))), "",
             "| workload | zabkeeper ops/s | ZooKeeper ops/s | ratio | ratio per round | zabkeeper p99 us "
             "| ZooKeeper p99 us | client CPU (zabkeeper / ZooKeeper runs) |",
             "|---|---|---|---|---|---|---|---|"]
    for w in args.workloads.split(",") if results["zabkeeper"] else ():
        a, b = best(results["zabkeeper"], w), best(results["zookeeper"], w)
        pa = min((r["p99_us"] for rs in results["zabkeeper"] for r in rs if r["workload"] == w), default=0)
        pb = min((r["p99_us"] for rs in results["zookeeper"] for r in rs if r["workload"] == w), default=0)
        lines.append("| %s | %.0f | %.0f | %.2fx | %s | %d | %d | %.2f / %.2f |" % (
            w, a, b, a / b if b else float("nan"), per_round(results, w), pa, pb,
            client_cores(results["zabkeeper"], w), client_cores(results["zookeeper"], w)))
    if "half_peak_zabkeeper" in results:
        a, b = results["half_peak_zabkeeper"]["p99_us"], results["half_peak_zookeeper"]["p99_us"]
        lines += ["", "p99 write latency at half of ZooKeeper's peak write rate (%.0f ops/s): zabkeeper %d us, "
                  "ZooKeeper %d us (ratio %.2f)" % (results["half_peak_rate"], a, b, a / b if b else float("nan"))]
    if results["memory"]:
        m = results["memory"]
        lines += ["", "| %d znodes of 100 B | zabkeeper | ZooKeeper | ratio |" % args.nodes, "|---|---|---|---|"]
        za, zb = m.get("zabkeeper", {}), m.get("zookeeper", {})
        lines.append("| RSS MiB after the fill | %.0f | %.0f | %.2f |" % (
            za.get("rss_kb", 0) / 1024, zb.get("rss_kb", 0) / 1024, za.get("rss_kb", 0) / max(zb.get("rss_kb", 1), 1)))
        lines.append("| RSS MiB after the restart | %.0f | %.0f | %.2f |" % (
            za.get("rss_after_restart_kb", 0) / 1024, zb.get("rss_after_restart_kb", 0) / 1024,
            za.get("rss_after_restart_kb", 0) / max(zb.get("rss_after_restart_kb", 1), 1)))
        lines.append("| restart: process start to first client request, s | %.2f | %.2f | %.2f |" % (
            za.get("restart_s", 0), zb.get("restart_s", 0), za.get("restart_s", 0) / max(zb.get("restart_s", 1e-9), 1e-9)))
        if zb.get("live_heap_kb"):
            lines.append("")
            lines.append("ZooKeeper ran with -Xmx%s; its live heap after a full GC (jcmd) was %.0f MiB." % (
                args.zk_heap, zb["live_heap_kb"] / 1024))
    if results["hold"]:
        h = results["hold"]
        za, zb = h.get("zabkeeper", {}), h.get("zookeeper", {})
        lines += ["", "| %d sessions x %d data watches on %d znodes | zabkeeper | ZooKeeper | ratio |" % (
            args.hold_sessions, args.hold_watches, args.hold_keys), "|---|---|---|---|"]
        for key, name in (("idle_rss_kb", "RSS MiB before"), ("rss_kb", "RSS MiB holding them")):
            lines.append("| %s | %.0f | %.0f | %.2f |" % (name, za.get(key, 0) / 1024, zb.get(key, 0) / 1024,
                                                          za.get(key, 0) / max(zb.get(key, 1), 1)))
        lines.append("| sessions / watches confirmed | %d / %d | %d / %d | |" % (
            za.get("sessions", 0), za.get("watches", 0), zb.get("sessions", 0), zb.get("watches", 0)))
        lines.append("| set-up s (client CPU s) | %.1f (%.1f) | %.1f (%.1f) | |" % (
            za.get("setup_s", 0), za.get("client_cpu_s", 0), zb.get("setup_s", 0), zb.get("client_cpu_s", 0)))
        for kind, v in (("zabkeeper", za), ("ZooKeeper", zb)):
            if v.get("wchs"):
                lines.append("")
                lines.append("%s wchs: %s" % (kind, " ".join(v["wchs"].split())))
    cpu = [r["client_cpu_seconds"] / r["seconds"] for rs in results["zabkeeper"] + results["zookeeper"] for r in rs
           if r["seconds"] > 0]
    if cpu:
        lines += ["", "Load generator CPU: %.2f cores on average (of 2, shared with the server)." % (sum(cpu) / len(cpu))]
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    charts(results, args)


def charts(results, args):
    if not results["zabkeeper"]:
        return
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
