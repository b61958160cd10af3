//! The harness against a real ensemble of our servers, each member in its own network
//! namespace (needs root, `ip` and `nft`, as CI has): a short run of registers and a set
//! (and unique ids from sequential znodes, a lock with fencing tokens, sessions that expire
//! and move, persistent watches) under kills and partitions must be judged valid, and a run whose register reads skip
//! `sync` while a follower is partitioned away must be judged INVALID (stale reads that
//! ZooKeeper's guarantees allow) — which shows the checker catches a real anomaly, with no
//! fault switch in the server. Both runs' histories are re-checked with `zkjepsen check`.
//! The crash nemesis (members on lazy disks that lose unsynced writes) must leave a correctly
//! configured ensemble valid, and catch `forceSync=no` losing acknowledged writes.

use std::path::{Path, PathBuf};
use std::process::Command;

fn zkjepsen() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_zkjepsen"))
}

fn require_tools() {
    let root = unsafe { libc::geteuid() } == 0;
    assert!(root, "the live harness test needs root (network namespaces); CI runs as root");
    for tool in ["ip", "nft", "tc"] {
        let found = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().map(|o| o.status.success());
        assert_eq!(found.ok(), Some(true), "{tool} is missing (.ci/run installs iproute2 and nftables)");
    }
    assert!(Path::new("/dev/fuse").exists(), "/dev/fuse is missing (lazy disks are FUSE file systems)");
    let faketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
    assert!(Path::new(faketime).is_file(), "{faketime} is missing (.ci/run installs faketime)");
    let server = zkjepsen().with_file_name("zabkeeper");
    assert!(server.is_file(), "{} is missing: build the workspace first (scripts/test.sh does)", server.display());
}

/// Runs `zkjepsen run` with `args`; returns (exit code, stdout).
fn run(out: &Path, args: &[&str]) -> (i32, String) {
    let o = Command::new(zkjepsen()).arg("run").args(args).arg("--out").arg(out).output().expect("zkjepsen runs");
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    (o.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

fn recheck(workload: &str, out: &Path) -> (i32, String) {
    let o = Command::new(zkjepsen())
        .args(["check", "--workload", workload])
        .arg(out.join("history.jsonl"))
        .output()
        .expect("zkjepsen check runs");
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned())
}

fn nothing_left_behind(tag_hint: &str) {
    let ns = Command::new("ip").args(["netns", "list"]).output().expect("ip netns list");
    let ns = String::from_utf8_lossy(&ns.stdout);
    assert!(!ns.contains(tag_hint), "namespaces left behind:\n{ns}");
}

#[test]
fn short_runs_are_judged_and_a_stale_read_is_caught() {
    require_tools();
    let dir = tempfile::tempdir().expect("tempdir");

    // Registers (sync + read) and a set under kills and partitions: valid.
    let good = dir.path().join("good");
    let (code, text) = run(
        &good,
        &[
            "--workload",
            "register,set,ids,lock,sessions,watches",
            "--nemesis",
            "kill,partition,crash",
            "--time",
            "30",
            "--interval",
            "8",
            "--fault-for",
            "4",
            "--read",
            "sync",
        ],
    );
    assert_eq!(code, 0, "{text}");
    for w in ["register", "set", "ids", "lock", "sessions", "watches"] {
        assert!(text.contains(&format!("{w}: valid")), "{text}");
        assert_eq!(recheck(w, &good).0, 0, "{w}");
    }
    assert!(good.join("latency.png").is_file(), "{text}");
    assert!(text.contains("Kill: killed member") && text.contains("Partition: partition"), "{text}");
    assert!(text.contains("Crash: crashed member"), "{text}");
    nothing_left_behind("zkj");

    // Plain reads on a follower cut off from the others: stale, and flagged. A reader per
    // member keeps reading there while that member's writers wait on their writes (without
    // one, every process on the cut-off member can be stuck in a write for the whole window).
    let stale = dir.path().join("stale");
    let (code, text) = run(
        &stale,
        &[
            "--workload",
            "register",
            "--nemesis",
            "partition-follower",
            "--time",
            "20",
            "--interval",
            "8",
            "--fault-for",
            "5",
            "--read",
            "plain",
            "--readers",
            "1",
        ],
    );
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("register: INVALID"), "{text}");
    assert!(text.contains("not linearizable"), "{text}");
    let (code, again) = recheck("register", &stale);
    assert_eq!(code, 1, "{again}");
    assert!(again.contains("register: INVALID"), "{again}");
    nothing_left_behind("zkj");

    // forceSync=no (ZooKeeper's option, which we honour) and whole-ensemble crashes on lazy
    // disks, together with wall-clock steps: acknowledged adds vanish, and the set checker
    // says so. This proves the crash nemesis really drops unsynced writes.
    let unsynced = dir.path().join("unsynced");
    let (code, text) = run(
        &unsynced,
        &[
            "--workload",
            "set",
            "--nemesis",
            "crash-all,clock",
            "--mix",
            "2",
            "--time",
            "20",
            "--interval",
            "8",
            "--fault-for",
            "3",
            "--server-config",
            "forceSync=no",
        ],
    );
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("set: INVALID") && text.contains("acknowledged adds lost"), "{text}");
    assert!(text.contains("CrashAll+Clock") || text.contains("Clock+CrashAll"), "{text}");
    assert!(text.contains("wall clock stepped"), "{text}");
    nothing_left_behind("zkj");
    let mounts = std::fs::read_to_string("/proc/self/mounts").expect("mounts");
    assert!(!mounts.contains("zkj-lazyfs"), "lazy disks left mounted:\n{mounts}");
}
