#!/usr/bin/env python3
"""Slow-reader flood: zabkeeper against Apache ZooKeeper 3.8, memory and a bystander's latency.

For each server (same settings as bench/compare.py: fsync on, maxClientCnxns=0, on this
machine, one after the other):

  1. a 16 KiB znode /flood and a small /probe are created;
  2. a bystander session starts a closed loop of getData(/probe) with a 2 ms pause, recording
     each latency and the phase it fell in (before / during / after);
  3. --floods sessions each pipeline --requests getData(/flood) and never read a reply
     (20 x 1,000 x 16 KiB = 320 MiB of replies nobody reads);
  4. for --during seconds the server's RSS is sampled every 100 ms;
  5. the flood sockets are closed; after --settle seconds RSS is read again.

Prints RSS before / peak during / after, and the bystander's p50/p99/max per phase, for both
servers side by side, and writes bench-out/flood.json. Only 127.0.0.1; every process it
starts is stopped by PID; every wait is bounded.

    python3 bench/flood.py                 # both servers
    python3 bench/flood.py --servers zabkeeper --floods 20 --requests 1000
"""

import argparse
import json
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (Server, running, rss_kb, read_frame, ensure_zookeeper)

GET_DATA, CREATE = 4, 1
OPEN_ACL = struct.pack(">ii", 1, 31) + struct.pack(">i", 5) + b"world" + struct.pack(">i", 6) + b"anyone"


def ustr(s):
    b = s.encode()
    return struct.pack(">i", len(b)) + b


def frame(body):
    return struct.pack(">i", len(body)) + body


def session(port, timeout_ms=30000):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    hello = struct.pack(">iqiqi", 0, 0, timeout_ms, 0, 16) + b"\0" * 16 + b"\0"
    s.sendall(frame(hello))
    compare.read_frame(s)
    return s


def call(s, xid, op, body):
    s.sendall(frame(struct.pack(">ii", xid, op) + body))
    while True:
        reply = compare.read_frame(s)
        rxid, _zxid, err = struct.unpack(">iqi", reply[:16])
        if rxid == xid:
            return err
        # notifications (-1) and pings (-2) are skipped


def get_data(path):
    return ustr(path) + b"\0"


class Bystander(threading.Thread):
    """A well-behaved client: one getData at a time, latencies tagged with the phase."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.phase, self.samples, self.stop, self.errors = port, "before", [], False, 0

    def run(self):
        s = session(self.port)
        xid = 1
        # The session must stay alive: a ping every few seconds is implied by the reads.
        try:
            while not self.stop:
                xid += 1
                t0 = time.perf_counter()
                err = call(s, xid, GET_DATA, get_data("/probe"))
                dt = time.perf_counter() - t0
                if err != 0:
                    self.errors += 1
                self.samples.append((self.phase, dt * 1000.0))
                time.sleep(0.002)
        except OSError:
            self.errors += 1
        finally:
            s.close()


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def flood_one(kind, args, workdir):
    with compare.running(kind, args, workdir) as srv:
        pid = srv.proc.pid
        admin = session(srv.port)
        assert call(admin, 1, CREATE, ustr("/flood") + struct.pack(">i", 16384) + b"x" * 16384 + OPEN_ACL +
                    struct.pack(">i", 0)) == 0
        assert call(admin, 2, CREATE, ustr("/probe") + struct.pack(">i", 10) + b"p" * 10 + OPEN_ACL +
                    struct.pack(">i", 0)) == 0
        by = Bystander(srv.port)
        by.start()
        time.sleep(2.0)
        rss_before = compare.rss_kb(pid)
        floods = []
        pipeline = b"".join(frame(struct.pack(">ii", i + 1, GET_DATA) + get_data("/flood"))
                            for i in range(args.requests))
        by.phase = "during"
        t0 = time.time()
        for _ in range(args.floods):
            f = session(srv.port)
            f.settimeout(30)
            floods.append(f)
        for f in floods:
            # ~20 KB each: fits in the socket buffers even if the server reads nothing more.
            f.sendall(pipeline)
        peak = rss_before
        samples = []
        while time.time() - t0 < args.during:
            r = compare.rss_kb(pid)
            samples.append(r)
            peak = max(peak, r)
            time.sleep(0.1)
        by.phase = "after"
        for f in floods:
            f.close()
        time.sleep(args.settle)
        rss_after = compare.rss_kb(pid)
        by.stop = True
        by.join(30)
        admin.close()
        lat = {ph: [ms for (p, ms) in by.samples if p == ph] for ph in ("before", "during", "after")}
        return {
            "rss_before_kib": rss_before, "rss_peak_kib": peak, "rss_after_kib": rss_after,
            "bystander_errors": by.errors,
            "latency_ms": {ph: {"n": len(v), "p50": pct(v, 50), "p99": pct(v, 99), "max": max(v) if v else None}
                           for ph, v in lat.items()},
        }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--servers", default="zabkeeper,zookeeper")
    ap.add_argument("--floods", type=int, default=20)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--during", type=float, default=8.0, help="seconds of flood before closing")
    ap.add_argument("--settle", type=float, default=5.0, help="seconds after closing before RSS is read")
    ap.add_argument("--snap-count", type=int, default=100000)
    ap.add_argument("--zk-heap", default="4g")
    ap.add_argument("--out", default=os.path.join(compare.REPO, "bench-out"))
    args = ap.parse_args()
    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    if "zookeeper" in kinds:
        compare.ensure_zookeeper()
    if "zabkeeper" in kinds:
        compare.sh(["cargo", "build", "--release", "--bin", "zabkeeper"], cwd=compare.REPO)
    os.makedirs(args.out, exist_ok=True)
    results = {}
    for kind in kinds:
        print("flooding %s: %d sessions x %d getData of 16 KiB, unread" % (kind, args.floods, args.requests),
              flush=True)
        results[kind] = flood_one(kind, args, args.out)
    with open(os.path.join(args.out, "flood.json"), "w") as f:
        json.dump(results, f, indent=2)
    print("\n| server | RSS before | peak during | after close | bystander p50 / p99 / max during (ms) "
          "| p99 before | p99 after |")
    print("|---|---|---|---|---|---|---|")
    for kind, r in results.items():
        d = r["latency_ms"]["during"]
        print("| %s | %.0f MiB | %.0f MiB | %.0f MiB | %.2f / %.2f / %.1f (n=%d) | %.2f | %.2f |" % (
            kind, r["rss_before_kib"] / 1024, r["rss_peak_kib"] / 1024, r["rss_after_kib"] / 1024,
            d["p50"], d["p99"], d["max"] or float("nan"), d["n"],
            r["latency_ms"]["before"]["p99"], r["latency_ms"]["after"]["p99"]))
        if r["bystander_errors"]:
            print("  %s: the bystander saw %d errors" % (kind, r["bystander_errors"]))


if __name__ == "__main__":
    main()
