//! A clean shutdown: the `zabkeeper` binary takes two-node multis from eight sessions, gets
//! SIGTERM while writes are in flight, and must exit 0 within its deadline, having answered
//! what it had already logged. Restarted on the same data directory, it must hold every
//! acknowledged write, and every multi must be all there or not at all (nothing half-applied).

mod crash_support;

use crash_support::*;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zabkeeper::client::{Client, ConnectOptions};
use zabkeeper::proto::codes::op;
use zabkeeper::proto::records::{Acl, CreateTtlRequest};
use zabkeeper::proto::request::MultiOp;

const WRITERS: usize = 8;
const PER_WRITER: usize = 3_000;
/// SIGTERM once this many multis were acknowledged.
const TERM_AFTER: usize = 400;

fn opts() -> ConnectOptions {
    ConnectOptions { timeout_ms: 30_000, connect_timeout: Duration::from_secs(5), ..Default::default() }
}

fn create(path: String) -> MultiOp {
    let acl = vec![Acl::new(31, "world", "anyone")];
    MultiOp::Create {
        op: op::CREATE,
        req: CreateTtlRequest { path, data: Some(b"x".to_vec().into()), acl, flags: 0, ttl: 0 },
    }
}

#[test]
fn sigterm_under_write_load_answers_what_it_logged_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut server, _) = start(dir.path());
    let addr = server.addr.to_string();
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let pid = server.child.as_ref().expect("child").id() as libc::pid_t;

    let exit = rt.block_on(async {
        let (setup, _) = Client::connect(&addr, opts()).await.expect("connect");
        for p in ["/a", "/b"] {
            setup.create(p, None, None, 0, 0).await.expect("parent");
        }
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (addr, acked, count) = (addr.clone(), acked.clone(), count.clone());
                tokio::spawn(async move {
                    let (c, _) = Client::connect(&addr, opts()).await.expect("connect");
                    for i in 0..PER_WRITER {
                        let ops = [create(format!("/a/{w}-{i}")), create(format!("/b/{w}-{i}"))];
                        match tokio::time::timeout(Duration::from_secs(30), c.multi(&ops)).await {
                            Ok(Ok(_)) => {
                                acked.lock().unwrap().insert((w, i));
                                count.fetch_add(1, Ordering::AcqRel);
                            }
                            // The server went away (or refused while stopping): stop writing.
                            _ => return,
                        }
                    }
                })
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(120);
        while count.load(Ordering::Acquire) < TERM_AFTER {
            assert!(Instant::now() < deadline, "the writers never got {TERM_AFTER} multis through");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // SAFETY: a signal to our own child, by the pid of the Child we hold and have not reaped.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let child = server.child.as_mut().expect("child");
        let until = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = child.try_wait().expect("try_wait") {
                break s;
            }
            assert!(Instant::now() < until, "no exit within 30 s of SIGTERM:\n{}", server.stderr());
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        for w in writers {
            w.await.expect("writer");
        }
        status
    });
    server.child = None;
    let log = server.stderr();
    assert!(exit.success(), "SIGTERM must exit 0, got {exit}:\n{log}");
    assert!(log.contains("shutting down"), "{log}");
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= TERM_AFTER);
    // In-flight writes at the signal (when there were any) were all answered, none left.
    if let Some(line) = log.lines().find(|l| l.contains("in-flight writes fsynced and answered")) {
        assert!(line.ends_with(", 0 left"), "{line}");
    }

    // Everything acknowledged is there after a restart, and no multi is half there.
    let (restarted, _) = start(dir.path());
    let addr = restarted.addr.to_string();
    rt.block_on(async {
        let (c, _) = Client::connect(&addr, opts()).await.expect("connect after restart");
        let a: BTreeSet<String> = c.get_children("/a", false).await.expect("/a").0.into_iter().collect();
        let b: BTreeSet<String> = c.get_children("/b", false).await.expect("/b").0.into_iter().collect();
        assert_eq!(a, b, "a multi was half applied");
        for (w, i) in &acked {
            assert!(a.contains(&format!("{w}-{i}")), "acknowledged multi {w}-{i} lost");
        }
        assert!(a.len() >= acked.len());
    });
}

/// `--log-file` and `--log-level`: the lines go to the (rotating) file instead of stderr, at
/// the level asked; a digest password given to the server is in no line.
#[test]
fn logs_go_to_the_file_at_the_level_asked_without_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let cfg = write_config(dir.path(), port, "");
    let log = dir.path().join("logs").join("zabkeeper.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_zabkeeper"))
        .arg(&cfg)
        .args(["--log-level", "info,zabkeeper::server::recovery=warn", "--log-file"])
        .arg(&log)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let read_logs = || -> String {
        let mut text = String::new();
        for e in std::fs::read_dir(log.parent().unwrap()).unwrap().flatten() {
            text.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
        }
        text
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !read_logs().contains("serving on") {
        assert!(child.try_wait().unwrap().is_none(), "exited:\n{}", read_logs());
        assert!(Instant::now() < deadline, "no 'serving on' in the log file:\n{}", read_logs());
        std::thread::sleep(Duration::from_millis(20));
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (c, _) = Client::connect(&format!("127.0.0.1:{port}"), opts()).await.expect("connect");
        c.add_auth("digest", Some(b"alice:s3cret-pass-word")).await.expect("auth");
        c.create("/logged", Some(b"x"), None, 0, 0).await.expect("create");
    });
    // SAFETY: SIGTERM to our own child, by the pid of the Child we hold and have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline + Duration::from_secs(30), "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let text = read_logs();
    assert!(text.contains("shutting down"), "{text}");
    // The filter held: recovery's INFO lines are below its level.
    assert!(!text.contains("Recovered"), "--log-level ignored: {text}");
    assert!(!text.contains("s3cret-pass-word"), "a password in the log:\n{text}");
    assert!(!stderr.contains("serving on"), "log lines went to stderr too: {stderr}");
}
