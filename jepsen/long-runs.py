#!/usr/bin/env python3
"""Long zkjepsen runs, one per nemesis (and one of mixed faults), against zabkeeper and Apache
ZooKeeper 3.8 in turn, and a side-by-side table of the results (markdown, also written to
OUT/table.md).

    sudo python3 jepsen/long-runs.py --time 300 --out jepsen-long
    sudo python3 jepsen/long-runs.py --time 120 --runs kill,pause-follower --out jepsen-long
    python3 jepsen/long-runs.py --table-only --out jepsen-long     # re-tabulate

Needs root, `ip`, `nft`, `tc`, /dev/fuse, libfaketime and (for ZooKeeper) Debian's
zookeeper package: what .ci/run installs. Builds nothing: run
`cargo build --release --workspace` first.
"""
import argparse
import json
import os
import subprocess
import sys

NEMESES = ["kill", "kill-leader", "kill-majority", "pause", "pause-leader", "pause-follower",
           "partition", "partition-leader", "partition-follower", "bridge", "loss", "slow",
           "clock", "crash", "crash-all"]
# Each nemesis alone, then two different ones at once in every window (--mix 2).
GROUPS = [(n, n) for n in NEMESES] + [("mixed", "kill,pause,partition,bridge,loss,clock,crash")]
# libfaketime preloaded into the JVM slows Apache ZooKeeper down by two orders of magnitude
# here (p50 ~400 ms instead of ~2 ms, with or without a step), so its runs would measure
# libfaketime, not ZooKeeper: clock steps are for our process only, as the issue allows.
SKIP = {("zookeeper", "clock")}


def nemeses_for(target, nemeses):
    if target == "zookeeper":
        return ",".join(n for n in nemeses.split(",") if n != "clock")
    return nemeses
WORKLOADS = "register,set,ids,lock,sessions,watches,checkpoints"


def run(bin_, target, group, nemeses, args, out):
    d = os.path.join(out, target, group)
    cmd = [bin_, "run", "--target", target, "--workload", WORKLOADS, "--nemesis", nemeses,
           "--time", str(args.time), "--interval", str(args.interval), "--fault-for",
           str(args.fault_for), "--seed", str(args.seed), "--out", d]
    if group == "mixed":
        cmd += ["--mix", "2"]
    print("+", " ".join(cmd), flush=True)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with open(os.path.join(out, f"{target}-{group}.log"), "w") as f:
        f.write(r.stdout)
    print(f"  exit {r.returncode}", flush=True)


def fmt(x, digits=1):
    return "–" if x is None else f"{x:.{digits}f}"


def table(out):
    rows = ["| nemeses | target | verdicts | ops (ok / info) | read p50 / p99 ms | change p50 / p99 ms "
            "| recovered after, median / max ms | writes stalled, median / max ms |",
            "|---|---|---|---|---|---|---|---|"]
    for group, _ in GROUPS:
        for target in ("zabkeeper", "zookeeper"):
            p = os.path.join(out, target, group, "summary.json")
            if not os.path.exists(p):
                continue
            s = json.load(open(p))
            bad = [v["workload"] for v in s["verdicts"] if v["validity"] != "Valid"]
            verdict = "all valid" if not bad else "NOT valid: " + ", ".join(
                f'{v["workload"]} {v["validity"]}' for v in s["verdicts"] if v["validity"] != "Valid")
            rec = sorted(f["recovered_ms"] for f in s["faults"] if f["recovered_ms"] is not None)
            gap = sorted(f["write_gap_ms"] for f in s["faults"] if f["write_gap_ms"] is not None)
            never = sum(1 for f in s["faults"] if f["recovered_ms"] is None)
            med = lambda xs: xs[len(xs) // 2] if xs else None
            o = s["operations"]
            rows.append(
                f'| {group} | {target} | {verdict} | {o["total"]} ({o["ok"]} / {o["info"]}) '
                f'| {fmt(s["reads"]["p50_ms"])} / {fmt(s["reads"]["p99_ms"])} '
                f'| {fmt(s["changes"]["p50_ms"])} / {fmt(s["changes"]["p99_ms"])} '
                f'| {med(rec)} / {rec[-1] if rec else None}{f" ({never} never)" if never else ""} '
                f'| {med(gap)} / {gap[-1] if gap else None} |')
    text = "\n".join(rows) + "\n"
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(text)
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--time", type=int, default=300, help="seconds of workload per run")
    ap.add_argument("--interval", type=int, default=15)
    ap.add_argument("--fault-for", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="jepsen-long")
    ap.add_argument("--targets", default="zabkeeper,zookeeper")
    ap.add_argument("--runs", default=",".join(g for g, _ in GROUPS),
                    help="which runs: nemesis names, and 'mixed'")
    ap.add_argument("--table-only", action="store_true")
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "..", "target", "release", "zkjepsen"))
    args = ap.parse_args()
    if not args.table_only:
        if not os.path.exists(args.bin):
            sys.exit(f"{args.bin} is missing: cargo build --release --workspace")
        wanted = args.runs.split(",")
        unknown = set(wanted) - {g for g, _ in GROUPS}
        if unknown:
            sys.exit(f"unknown runs {sorted(unknown)}: choose from {[g for g, _ in GROUPS]}")
        for group, nemeses in GROUPS:
            if group not in wanted:
                continue
            for target in args.targets.split(","):
                if (target, group) not in SKIP:
                    run(args.bin, target, group, nemeses_for(target, nemeses), args, args.out)
    print(table(args.out))


if __name__ == "__main__":
    main()
