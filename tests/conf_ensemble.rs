//! The three-member ensemble of `conf/` as shipped, run by `scripts/ensemble.sh` as the README
//! says, survives killing each member in turn (followers and leaders alike) under write load:
//! no acknowledged write is missing on any member afterwards. The test copies `conf/` and the
//! script into a temporary directory (so the data lands there) and moves only the port numbers
//! to free ones (a developer's own `conf/` ensemble or a ZooKeeper on 2181 may be running); every
//! other line of the files is used as it is. Members are stopped by the PIDs the script wrote.

mod ensemble_support;
mod zk_support;

use ensemble_support::{four_letter, free_port, DEADLINE};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zabkeeper::client::{Client, ConnectOptions};

/// The ports of `conf/`: client, quorum, election, AdminServer, Prometheus, for members 1–3.
const SHIPPED_PORTS: [u16; 15] =
    [2181, 2182, 2183, 2888, 2889, 2890, 3888, 3889, 3890, 8081, 8082, 8083, 7001, 7002, 7003];

struct ConfEnsemble {
    root: tempfile::TempDir,
    client_ports: Vec<u16>,
}

impl ConfEnsemble {
    fn new() -> ConfEnsemble {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = tempfile::tempdir().expect("tempdir");
        let ports: BTreeMap<u16, u16> = SHIPPED_PORTS.iter().map(|p| (*p, free_port())).collect();
        for n in 1..=3 {
            let text = std::fs::read_to_string(repo.join(format!("conf/node{n}/zoo.cfg"))).expect("conf/nodeN/zoo.cfg");
            let moved: String = text
                .lines()
                .map(|line| {
                    if line.starts_with('#') {
                        return format!("{line}\n");
                    }
                    // Every shipped port number in the line, moved (they never overlap).
                    let mut out = line.to_string();
                    for (from, to) in &ports {
                        out = replace_number(&out, *from, *to);
                    }
                    format!("{out}\n")
                })
                .collect();
            let dir = root.path().join(format!("conf/node{n}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("zoo.cfg"), moved).unwrap();
        }
        std::fs::create_dir_all(root.path().join("scripts")).unwrap();
        std::fs::copy(repo.join("scripts/ensemble.sh"), root.path().join("scripts/ensemble.sh")).unwrap();
        let client_ports = (0..3).map(|i| ports[&(2181 + i)]).collect();
        ConfEnsemble { root, client_ports }
    }

    fn script(&self, args: &[&str]) -> String {
        let out = Command::new("bash")
            .arg(self.root.path().join("scripts/ensemble.sh"))
            .args(args)
            .env("ZABKEEPER_BIN", env!("CARGO_BIN_EXE_zabkeeper"))
            .output()
            .expect("run scripts/ensemble.sh");
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "scripts/ensemble.sh {args:?} failed:\n{text}");
        text
    }

    fn addr(&self, i: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.client_ports[i]))
    }

    fn hosts(&self) -> String {
        self.client_ports.iter().map(|p| format!("127.0.0.1:{p}")).collect::<Vec<_>>().join(",")
    }

    fn mode(&self, i: usize) -> Option<String> {
        let out = four_letter(self.addr(i), "srvr")?;
        out.lines().find_map(|l| l.strip_prefix("Mode: ")).map(str::to_string)
    }

    /// Waits until the members in `up` serve with one leader among them.
    fn wait_serving(&self, up: &[usize]) {
        let until = Instant::now() + DEADLINE;
        loop {
            let modes: Vec<Option<String>> = up.iter().map(|i| self.mode(*i)).collect();
            let leaders = modes.iter().filter(|m| m.as_deref() == Some("leader")).count();
            if leaders == 1 && modes.iter().all(|m| matches!(m.as_deref(), Some("leader" | "follower"))) {
                return;
            }
            assert!(Instant::now() < until, "members {up:?} never served: {modes:?}\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn logs(&self) -> String {
        (1..=3)
            .map(|n| {
                let p = self.data(n).join("zabkeeper.log");
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                format!("--- member {n}:\n{}\n", tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
            })
            .collect()
    }

    fn data(&self, n: usize) -> PathBuf {
        self.root.path().join(format!("data/node{n}"))
    }
}

impl Drop for ConfEnsemble {
    /// Whatever the test left running: SIGKILL by the PIDs the script recorded (our children).
    fn drop(&mut self) {
        for n in 1..=3 {
            if let Ok(pid) = std::fs::read_to_string(self.data(n).join("zabkeeper.pid")) {
                if let Ok(pid) = pid.trim().parse::<i32>() {
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
    }
}

/// `line` with the whole number `from` replaced by `to` (not inside a longer number).
fn replace_number(line: &str, from: u16, to: u16) -> String {
    let (from, to) = (from.to_string(), to.to_string());
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(&from) {
        let before_digit = rest[..at].chars().last().is_some_and(|c| c.is_ascii_digit());
        let after_digit = rest[at + from.len()..].chars().next().is_some_and(|c| c.is_ascii_digit());
        out.push_str(&rest[..at]);
        out.push_str(if before_digit || after_digit { &from } else { &to });
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    out
}

fn opts() -> ConnectOptions {
    ConnectOptions { timeout_ms: 10_000, connect_timeout: Duration::from_secs(5), ..ConnectOptions::default() }
}

#[test]
fn the_conf_ensemble_survives_killing_each_member_in_turn() {
    let e = ConfEnsemble::new();
    let up = e.script(&["up"]);
    assert_eq!(up.matches("started").count(), 3, "{up}");
    e.wait_serving(&[0, 1, 2]);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let hosts = e.hosts();
    rt.block_on(async {
        let (c, _) = Client::connect(&hosts, opts()).await.expect("connect");
        c.create("/w", None, None, 0, 0).await.expect("create /w");
        let _ = c.close().await;
    });
    // Two writers through the connect string of all three, reconnecting after any error.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (stop, acked, hosts) = (stop.clone(), acked.clone(), hosts.clone());
            rt.spawn(async move {
                let mut client: Option<Client> = None;
                for n in 0..200_000u64 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let c = match &client {
                        Some(c) if !c.is_closed() => c,
                        _ => {
                            match tokio::time::timeout(Duration::from_secs(5), Client::connect(&hosts, opts())).await {
                                Ok(Ok((c, _))) => client.insert(c),
                                _ => {
                                    tokio::time::sleep(Duration::from_millis(50)).await;
                                    continue;
                                }
                            }
                        }
                    };
                    let path = format!("/w/{w}-{n}");
                    match tokio::time::timeout(Duration::from_secs(10), c.create(&path, Some(b"x"), None, 0, 0)).await {
                        Ok(Ok(_)) => {
                            acked.lock().unwrap().insert(path);
                            tokio::time::sleep(Duration::from_millis(2)).await;
                        }
                        _ => client = None,
                    }
                }
            })
        })
        .collect();
    let acked_now = || acked.lock().unwrap().len();
    let wait_for_more = |what: &str| {
        let start = acked_now();
        let until = Instant::now() + DEADLINE;
        while acked_now() < start + 50 {
            assert!(Instant::now() < until, "writes stalled {what}\n{}", e.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for_more("before any kill");
    // Each member twice, in turn: SIGKILL, writes go on with the other two, restart, rejoin.
    for round in 0..6 {
        let n = round % 3 + 1;
        let was = e.mode(n - 1);
        let out = e.script(&["kill", &n.to_string()]);
        assert!(out.contains("killed"), "{out}");
        let others: Vec<usize> = (0..3).filter(|i| *i != n - 1).collect();
        e.wait_serving(&others);
        wait_for_more(&format!("with member {n} ({was:?}) killed"));
        let out = e.script(&["up"]);
        assert!(out.contains(&format!("member {n} started")), "{out}");
        e.wait_serving(&[0, 1, 2]);
        wait_for_more(&format!("after member {n} rejoined"));
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let _ = rt.block_on(w);
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 650, "{} writes acknowledged", acked.len());
    let status = e.script(&["status"]);
    assert_eq!(status.lines().count(), 4, "{status}");
    // Every member, after a sync, holds every acknowledged write.
    for i in 0..3 {
        let kids: BTreeSet<String> = rt.block_on(async {
            let (c, _) = Client::connect(&format!("127.0.0.1:{}", e.client_ports[i]), opts()).await.expect("connect");
            c.sync("/w").await.expect("sync");
            let (kids, _) = c.get_children("/w", false).await.expect("children");
            let _ = c.close().await;
            kids.into_iter().map(|k| format!("/w/{k}")).collect()
        });
        let missing: Vec<&String> = acked.difference(&kids).collect();
        assert!(
            missing.is_empty(),
            "member {} lacks {} acknowledged writes: {:?}",
            i + 1,
            missing.len(),
            &missing[..missing.len().min(5)]
        );
    }
    let down = e.script(&["down"]);
    assert_eq!(down.matches("stopped").count(), 3, "{down}");
}
