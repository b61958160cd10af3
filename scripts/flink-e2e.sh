#!/usr/bin/env bash
# Apache Flink's ZooKeeper HA, unchanged, against a three-member zabkeeper ensemble and the
# same test against Apache ZooKeeper 3.8 (tests/flink/test_flink_ha.py): JobManager SIGKILLed
# and restarted, ensemble leader SIGKILLed while the job checkpoints; prints the recovery times
# of both side by side.
#
#   scripts/flink-e2e.sh                  # 3 runs on each server, then the table
#   scripts/flink-e2e.sh --runs 5         # more runs
#   scripts/flink-e2e.sh --short          # 1 run, zabkeeper only (scripts/test.sh with FLINK_E2E=1)
#   scripts/flink-e2e.sh --targets zookeeper
#
# Needs Java 17 (`apt-get install default-jdk-headless`; .ci/run installs it), python3 with
# kazoo and pytest, and Apache ZooKeeper 3.8 for the comparison (Debian's `zookeeper`). The
# first run downloads Flink 2.3.0 (the PyPI packages apache-flink and apache-flink-libraries
# carry the whole distribution, 330 MB) into ${ZABKEEPER_CACHE:-~/.cache/zabkeeper}.
# Results: target/flink-e2e/report.jsonl (one JSON line per run) and report.md.
set -euo pipefail
cd "$(dirname "$0")/.."

FLINK_VERSION=2.3.0
runs=3
targets=zabkeeper,zookeeper
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --targets) targets="$2"; shift 2 ;;
        --short) runs=1; targets=zabkeeper; shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "flink-e2e.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

PYTHON="${PYTHON:-python3}"
cache="${ZABKEEPER_CACHE:-$HOME/.cache/zabkeeper}/flink-$FLINK_VERSION"
flink_home="$cache/pyflink"
if [ ! -x "$flink_home/bin/jobmanager.sh" ]; then
    echo "+ downloading Apache Flink $FLINK_VERSION (PyPI: apache-flink, apache-flink-libraries) into $cache"
    mkdir -p "$cache/download"
    # The wheels only carry files we run with our own Java: fetch them for any interpreter.
    "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
        --platform manylinux2014_x86_64 --dest "$cache/download" \
        "apache-flink==$FLINK_VERSION" "apache-flink-libraries==$FLINK_VERSION"
    for w in "$cache"/download/*.whl; do
        "$PYTHON" -m zipfile -e "$w" "$cache"
    done
    chmod +x "$flink_home"/bin/*.sh "$flink_home/bin/flink"
    rm -rf "$cache/download"
fi

out="${CARGO_TARGET_DIR:-$PWD/target}/flink-e2e"
rm -rf "$out"
mkdir -p "$out/classes"
echo "+ javac tests/flink/CheckpointedCounts.java"
javac -nowarn -d "$out/classes" -cp "$flink_home/lib/*" tests/flink/CheckpointedCounts.java
(cd "$out/classes" && jar cf "$out/job.jar" ./*.class)

if [ -z "${ZABKEEPER_BIN:-}" ]; then
    cargo build --release --bin zabkeeper
    export ZABKEEPER_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/zabkeeper"
fi

echo "+ pytest tests/flink (targets $targets, $runs run(s) each)"
status=0
FLINK_HOME="$flink_home" FLINK_E2E_JOB="$out/job.jar" FLINK_E2E_TARGETS="$targets" \
    FLINK_E2E_RUNS="$runs" FLINK_E2E_REPORT="$out/report.jsonl" \
    "$PYTHON" -m pytest -s -q -p no:cacheprovider --basetemp="$out/tmp" tests/flink || status=$?
if [ -s "$out/report.jsonl" ]; then
    "$PYTHON" tests/flink/report.py "$out/report.jsonl" | tee "$out/report.md"
fi
if [ "$status" != 0 ]; then
    echo "flink-e2e.sh: FAILED (logs of every process under $out/tmp)" >&2
fi
exit "$status"
