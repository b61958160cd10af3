"""Summarises the Flink HA test's JSON lines (FLINK_E2E_REPORT) as a Markdown table: the
median and range of each recovery time, per server."""
import json
import statistics
import sys

METRICS = [
    ("jobmanager_kill", "to_running_s", "JobManager kill → job RUNNING"),
    ("jobmanager_kill", "to_checkpoint_s", "JobManager kill → first new checkpoint"),
    ("leader_kill", "to_new_leader_s", "ensemble leader kill → new leader"),
    ("leader_kill", "to_checkpoint_s", "ensemble leader kill → checkpoint after re-election"),
    ("jobmanager_kill_after", "to_checkpoint_s", "second JobManager kill → first new checkpoint"),
]


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    servers = sorted({r["server"] for r in rows})
    print("| seconds (median, min–max) | " + " | ".join(
        "%s (%d runs)" % (s, sum(r["server"] == s for r in rows)) for s in servers) + " |")
    print("|---|" + "---|" * len(servers))
    for phase, key, label in METRICS:
        cells = []
        for s in servers:
            vals = [r[phase][key] for r in rows if r["server"] == s]
            cells.append("%.1f (%.1f–%.1f)" % (statistics.median(vals), min(vals), max(vals)))
        print("| %s | %s |" % (label, " | ".join(cells)))


if __name__ == "__main__":
    main(sys.argv[1])
