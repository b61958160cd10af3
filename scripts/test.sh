#!/usr/bin/env bash
# The project's single test command: installs what is missing (scripts/setup.sh), then every
# Rust test, then the kazoo compatibility suite
# (tests/compat), which runs the same tests against zabkeeper and Apache ZooKeeper 3.8, then
# the migration suite (tests/migrate: zabkeeper import/export against ZooKeeper 3.8 files), the
# README's checkpoint-registry examples (tests/checkpoints: kazoo and Java, as written), then
# the zkcli golden-output suite (tests/zkcli: zkCli.sh vs ZooKeeper 3.8 as the reference,
# compared with zkcli vs zabkeeper and zkcli vs ZooKeeper). Fails if any part fails; every
# part always runs.
#
# Every part runs under a time bound (TEST_PART_TIMEOUT seconds for cargo test, two fifths of it
# for each pytest suite): a hung test fails its part, with the rest still run, instead of
# holding the whole run.
#
# Environment: CARGO_TARGET_DIR (default ./target), PYTHON (default python3),
# PYTEST_ARGS (extra pytest arguments), COMPAT_TARGETS (e.g. "zabkeeper"),
# TEST_PART_TIMEOUT (default 1500), FLINK_E2E (1: also the Flink HA test, scripts/flink-e2e.sh).
set -uo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

# What the suites need (ZooKeeper 3.8, Java, kazoo, pytest...), installed if missing.
echo "+ bash scripts/setup.sh"
bash scripts/setup.sh || { echo "test.sh: installing the test dependencies failed" >&2; exit 1; }

echo "+ cargo build --release --workspace"
cargo build --release --workspace || { echo "test.sh: release build failed" >&2; exit 1; }
export ZABKEEPER_BIN="$TARGET_DIR/release/zabkeeper"
[ -x "$ZABKEEPER_BIN" ] || { echo "test.sh: $ZABKEEPER_BIN missing after build" >&2; exit 1; }
echo "ZABKEEPER_BIN=$ZABKEEPER_BIN"
export ZKCLI_BIN="$TARGET_DIR/release/zkcli"
export ZKCLI_REQUIRE=1

PART_TIMEOUT="${TEST_PART_TIMEOUT:-1500}"
# Runs a part under a time bound; timeout signals the part's whole process group.
bounded() {
    local secs="$1"
    shift
    timeout --kill-after=30 "$secs" "$@"
    local rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "test.sh: '$*' did not finish within ${secs}s" >&2
    fi
    return "$rc"
}

status=0
# --no-fail-fast: one failing test binary must not hide the others' results.
echo "+ cargo test --release --workspace --no-fail-fast"
if ! bounded "$PART_TIMEOUT" cargo test --release --workspace --no-fail-fast; then
    echo "test.sh: cargo test FAILED" >&2
    status=1
fi

echo "+ $PYTHON -m pytest -q tests/compat ${PYTEST_ARGS:-}"
# shellcheck disable=SC2086
if ! bounded $((PART_TIMEOUT * 2 / 5)) "$PYTHON" -m pytest -q -p no:cacheprovider tests/compat ${PYTEST_ARGS:-}; then
    echo "test.sh: compat suite FAILED" >&2
    status=1
fi

echo "+ $PYTHON -m pytest -q tests/migrate ${PYTEST_ARGS:-}"
# shellcheck disable=SC2086
if ! bounded $((PART_TIMEOUT * 2 / 5)) "$PYTHON" -m pytest -q -p no:cacheprovider tests/migrate ${PYTEST_ARGS:-}; then
    echo "test.sh: migration suite FAILED" >&2
    status=1
fi

echo "+ $PYTHON -m pytest -q tests/checkpoints ${PYTEST_ARGS:-}"
# shellcheck disable=SC2086
if ! bounded $((PART_TIMEOUT * 2 / 5)) "$PYTHON" -m pytest -q -p no:cacheprovider tests/checkpoints ${PYTEST_ARGS:-}; then
    echo "test.sh: checkpoint registry examples FAILED" >&2
    status=1
fi

echo "+ $PYTHON -m pytest -q tests/zkcli ${PYTEST_ARGS:-}"
# shellcheck disable=SC2086
if ! bounded $((PART_TIMEOUT * 2 / 5)) "$PYTHON" -m pytest -q -p no:cacheprovider tests/zkcli ${PYTEST_ARGS:-}; then
    echo "test.sh: zkcli golden suite FAILED" >&2
    status=1
fi

# Real Apache Flink's ZooKeeper HA against a three-member ensemble (one run, about 2.5 min
# after a 330 MB download on first use): FLINK_E2E=1 turns it on.
if [ "${FLINK_E2E:-0}" = "1" ]; then
    echo "+ scripts/flink-e2e.sh --short"
    if ! bounded $((PART_TIMEOUT * 2 / 5)) bash scripts/flink-e2e.sh --short; then
        echo "test.sh: Flink HA end-to-end test FAILED" >&2
        status=1
    fi
fi

if [ "$status" -eq 0 ]; then echo "test.sh: all tests passed"; fi
exit "$status"
