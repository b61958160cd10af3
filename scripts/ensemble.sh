#!/usr/bin/env bash
# The three-member test ensemble of conf/node{1,2,3} on 127.0.0.1, run from the repository root:
#   scripts/ensemble.sh up       build if needed, start the members in the background
#   scripts/ensemble.sh down     stop them (SIGTERM, then SIGKILL after 10 s)
#   scripts/ensemble.sh status   each member's role, last zxid and client port (via `srvr`)
#   scripts/ensemble.sh kill N   SIGKILL member N (for failover experiments); `up` restarts it
# Data and logs live in data/node{1,2,3} (zabkeeper.log, zabkeeper.pid).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${ZABKEEPER_BIN:-target/release/zabkeeper}
MEMBERS=(1 2 3)

alive() { [ -f "data/node$1/zabkeeper.pid" ] && kill -0 "$(cat "data/node$1/zabkeeper.pid")" 2>/dev/null; }

srvr() {
    local port=$((2180 + $1))
    timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; printf srvr >&3; cat <&3" 2>/dev/null || true
}

case "${1:-}" in
up)
    [ -x "$BIN" ] || cargo build --release --bin zabkeeper
    for n in "${MEMBERS[@]}"; do
        mkdir -p "data/node$n"
        [ -f "data/node$n/myid" ] || echo "$n" >"data/node$n/myid"
        if alive "$n"; then
            echo "member $n already running (pid $(cat "data/node$n/zabkeeper.pid"))"
            continue
        fi
        nohup "$BIN" "conf/node$n/zoo.cfg" >>"data/node$n/zabkeeper.log" 2>&1 &
        echo $! >"data/node$n/zabkeeper.pid"
        echo "member $n started (pid $!, client port $((2180 + n)), log data/node$n/zabkeeper.log)"
    done
    ;;
down)
    for n in "${MEMBERS[@]}"; do
        if alive "$n"; then
            pid=$(cat "data/node$n/zabkeeper.pid")
            kill -TERM "$pid"
            for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
            echo "member $n stopped"
        fi
        rm -f "data/node$n/zabkeeper.pid"
    done
    ;;
kill)
    n=${2:?member number}
    if alive "$n"; then kill -KILL "$(cat "data/node$n/zabkeeper.pid")"; echo "member $n killed"; fi
    rm -f "data/node$n/zabkeeper.pid"
    ;;
status)
    printf '%-7s %-8s %-10s %-18s %s\n' member pid mode zxid client
    for n in "${MEMBERS[@]}"; do
        pid=-; alive "$n" && pid=$(cat "data/node$n/zabkeeper.pid")
        out=$(srvr "$n")
        mode=$(sed -n 's/^Mode: //p' <<<"$out"); zxid=$(sed -n 's/^Zxid: //p' <<<"$out")
        [ -n "$mode" ] || mode=$([ "$pid" = - ] && echo down || echo "not serving")
        printf '%-7s %-8s %-10s %-18s %s\n' "$n" "$pid" "$mode" "${zxid:--}" "127.0.0.1:$((2180 + n))"
    done
    ;;
*)
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
