//! The `zkcli` binary against an in-process server: one-shot commands and their exit codes,
//! a piped session seeing another client's change through its watch, chroot, and the shell
//! keeping its session across a server restart. (Output compared line by line with zkCli.sh
//! against Apache ZooKeeper lives in tests/zkcli/, which needs Java.)

mod common;

use common::{start_server_with, wait_until, TestServer};
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zabkeeper::client::{Client, ConnectOptions};

const ZKCLI: &str = env!("CARGO_BIN_EXE_zkcli");

async fn server() -> TestServer {
    start_server_with(|c| c.max_session_timeout = Some(60_000)).await
}

/// Runs `zkcli -server <server> <command…>` to completion.
fn one_shot(server: &str, command: &[&str]) -> (i32, String, String) {
    let out = Command::new(ZKCLI)
        .args(["-server", server, "-timeout", "20000"])
        .args(command)
        .stdin(Stdio::null())
        .output()
        .expect("run zkcli");
    let s = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (out.status.code().unwrap_or(-1), s(out.stdout), s(out.stderr))
}

/// A zkcli reading commands from a pipe, its output collected as it comes.
/// Everything `r` yields until it ends, gathered by a thread into a shared string.
fn collect(mut r: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let buf = Arc::new(Mutex::new(String::new()));
    let b = buf.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = r.read(&mut chunk) {
            if n == 0 {
                break;
            }
            b.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    });
    buf
}

struct PipedShell {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
}

impl PipedShell {
    fn spawn(server: &str) -> PipedShell {
        let mut child = Command::new(ZKCLI)
            .args(["-server", server, "-timeout", "20000"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn zkcli");
        let out = collect(child.stdout.take().unwrap());
        let err = collect(child.stderr.take().unwrap());
        PipedShell { stdin: child.stdin.take(), child, out, err }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    async fn wait_out(&self, needle: &str) {
        let out = self.out.clone();
        wait_until(30, &format!("zkcli stdout to show {needle:?}"), || {
            let found = out.lock().unwrap().contains(needle);
            async move { found }
        })
        .await;
    }

    async fn wait_err(&self, needle: &str) {
        let err = self.err.clone();
        wait_until(30, &format!("zkcli stderr to show {needle:?}"), || {
            let found = err.lock().unwrap().contains(needle);
            async move { found }
        })
        .await;
    }

    /// Closes stdin and waits (bounded) for the exit code.
    fn finish(mut self) -> (i32, String) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code().unwrap_or(-1), self.out.lock().unwrap().clone());
            }
            assert!(Instant::now() < deadline, "zkcli did not exit at end of input");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PipedShell {
    /// A failed test must not leave its shell running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Kills the child it holds when dropped (a failing test leaves nothing running).
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

async fn root_client(srv: &TestServer) -> Client {
    Client::connect(&srv.connect_string(), ConnectOptions::default()).await.expect("connect").0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_commands_print_like_zkcli_and_set_exit_codes() {
    let srv = server().await;
    let s = srv.connect_string();
    let (code, out, err) = one_shot(&s, &["create", "/a", "hello"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with(&format!("Connecting to {s}\n")), "{out}");
    assert!(out.contains("WatchedEvent state:SyncConnected type:None path:null"), "{out}");
    assert_eq!(err.trim(), "Created /a");

    let (code, out, _) = one_shot(&s, &["get", "-s", "/a"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    let at = lines.iter().position(|l| *l == "hello").expect("data line");
    assert!(lines[at + 1].starts_with("cZxid = 0x"), "{out}");
    assert_eq!(lines[at + 6], "cversion = 0");
    assert_eq!(lines[at + 10], "dataLength = 5");

    let (code, _, err) = one_shot(&s, &["get", "/nope"]);
    assert_eq!((code, err.trim()), (1, "Node does not exist: /nope"));
    let (code, _, err) = one_shot(&s, &["set", "-v", "7", "/a", "x"]);
    assert_eq!((code, err.trim()), (1, "version No is not valid : /a"));
    let (code, _, err) = one_shot(&s, &["create", "/a"]);
    assert_eq!((code, err.trim()), (1, "Node already exists: /a"));
    let (code, out, err) = one_shot(&s, &["get"]);
    assert_eq!((code, err.trim()), (1, "get [-s] [-w] path"));
    assert!(!out.contains("WATCHER::"), "a command that never used the connection prints no event: {out}");
    let (code, _, err) = one_shot(&s, &["bogus"]);
    assert_eq!(code, 127);
    assert!(err.ends_with("Command not found: Command not found bogus\n"), "{err}");
    let (code, _, err) = one_shot(&s, &["ls", "-x", "/"]);
    assert_eq!((code, err.trim()), (1, "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -x"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_session_sees_another_clients_change_through_its_watch() {
    let srv = server().await;
    let other = root_client(&srv).await;
    other.create("/w", Some(b"first-value"), None, 0, -1).await.unwrap();
    let mut sh = PipedShell::spawn(&srv.connect_string());
    sh.send("get -w /w");
    sh.wait_out("\nfirst-value\n").await;
    sh.send("ls -w /w");
    sh.wait_out("\n[]\n").await;
    other.set_data("/w", Some(b"2"), -1).await.unwrap();
    sh.wait_out("\nWATCHER::\n\nWatchedEvent state:SyncConnected type:NodeDataChanged path:/w\n").await;
    other.create("/w/c", None, None, 0, -1).await.unwrap();
    sh.wait_out("WatchedEvent state:SyncConnected type:NodeChildrenChanged path:/w\n").await;
    // The data watch fired once; a second change is not reported.
    other.set_data("/w", Some(b"3"), -1).await.unwrap();
    sh.send("addWatch -m PERSISTENT /w");
    sh.send("removewatches /w -p");
    sh.wait_out("WatchedEvent state:SyncConnected type:PersistentWatchRemoved path:/w\n").await;
    sh.send("removewatches /w");
    sh.wait_err("KeeperErrorCode = No such watcher for /w").await;
    sh.send("history");
    sh.wait_out("5 - history\n").await;
    let (code, out) = sh.finish();
    assert_eq!(code, 0, "the last command (history) succeeded: {out}");
    assert_eq!(out.matches("type:NodeDataChanged").count(), 1, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chroot_paths_are_relative_in_requests_and_events() {
    let srv = server().await;
    let root = root_client(&srv).await;
    root.create("/app", None, None, 0, -1).await.unwrap();
    let chrooted = format!("{}/app", srv.connect_string());
    let mut sh = PipedShell::spawn(&chrooted);
    sh.send("create /x data");
    sh.wait_err("Created /x").await;
    sh.send("stat -w /y");
    sh.wait_err("Node does not exist: /y").await;
    root.create("/app/y", None, None, 0, -1).await.unwrap();
    sh.wait_out("WatchedEvent state:SyncConnected type:NodeCreated path:/y\n").await;
    sh.send("deleteall /x");
    sh.send("ls /");
    sh.wait_out("[y]\n").await;
    let (code, _) = sh.finish();
    assert_eq!(code, 0);
    assert!(root.exists("/app/x", false).await.unwrap().is_none());
    assert!(root.exists("/app/y", false).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_keeps_its_session_across_a_server_restart() {
    let mut srv = server().await;
    let mut sh = PipedShell::spawn(&srv.connect_string());
    sh.send("create -e /eph");
    sh.wait_err("Created /eph").await;
    sh.send("create /watched before-restart");
    sh.send("get -w /watched");
    sh.wait_out("\nbefore-restart\n").await;
    srv.restart().await;
    sh.wait_out("WatchedEvent state:Disconnected type:None path:null\n").await;
    let out = sh.out.clone();
    wait_until(30, "a second SyncConnected", || {
        let n = out.lock().unwrap().matches("state:SyncConnected type:None").count();
        async move { n >= 2 }
    })
    .await;
    // Same session: its ephemeral is still there and still its own.
    sh.send("getEphemerals /");
    sh.wait_out("[/eph]\n").await;
    // The watch set before the restart was re-registered on the new connection.
    let other = root_client(&srv).await;
    other.set_data("/watched", Some(b"2"), -1).await.unwrap();
    sh.wait_out("WatchedEvent state:SyncConnected type:NodeDataChanged path:/watched\n").await;
    let (code, out) = sh.finish();
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("Expired"), "{out}");
}

/// zkcli on a terminal (a pseudo-terminal we own): the prompt shows the connect string, the
/// state and the command counter; Tab completes command names and znode paths.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_session_has_prompt_and_tab_completion() {
    use std::os::fd::FromRawFd;
    let srv = server().await;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two new descriptors we then own.
    let rc =
        unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: `slave` is open and ours; each Stdio takes its own duplicate.
    let tty = |fd: i32| unsafe { Stdio::from_raw_fd(libc::dup(fd)) };
    let mut child = KillOnDrop(
        Command::new(ZKCLI)
            .args(["-server", &srv.connect_string(), "-timeout", "20000"])
            .env("TERM", "xterm")
            .stdin(tty(slave))
            .stdout(tty(slave))
            .stderr(tty(slave))
            .spawn()
            .expect("spawn zkcli on a pty"),
    );
    // SAFETY: closing our copy of the slave; the child holds its own.
    unsafe { libc::close(slave) };
    // SAFETY: `master` is open and owned by this File from here on.
    let mut term = unsafe { std::fs::File::from_raw_fd(master) };
    let screen = collect(term.try_clone().unwrap());
    // What the terminal shows, without the line editor's escape sequences.
    let plain = |s: &str| {
        let mut out = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for x in chars.by_ref() {
                        if x.is_ascii_alphabetic() || x == '~' {
                            break;
                        }
                    }
                }
                continue;
            }
            out.push(c);
        }
        out
    };
    let wait = |needle: String| {
        let screen = screen.clone();
        async move {
            wait_until(30, &format!("the terminal to show {needle:?}"), || {
                let found = plain(&screen.lock().unwrap()).contains(&needle);
                async move { found }
            })
            .await
        }
    };
    let host = srv.connect_string();
    wait("JLine support is enabled".into()).await;
    wait("WatchedEvent state:SyncConnected type:None path:null".into()).await;
    // Tab completes "getAllC" to the command and "/zook" to the path.
    term.write_all(b"getAllC\t/zook\t\r").unwrap();
    wait("getAllChildrenNumber /zookeeper".into()).await;
    wait(format!("[zk: {host}(CONNECTED) 1] ")).await;
    term.write_all(b"ls /zookeeper\r").unwrap();
    wait("[config, quota]".into()).await;
    wait(format!("[zk: {host}(CONNECTED) 2] ")).await;
    term.write_all(b"close\r").unwrap();
    wait(format!("[zk: {host}(CLOSED) 3] ")).await;
    term.write_all(b"quit\r").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = child.0.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "zkcli did not quit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    let shown = plain(&screen.lock().unwrap());
    assert!(shown.contains("\r\n2\r\n") || shown.contains("\n2\n"), "getAllChildrenNumber printed 2: {shown}");
}

/// `checkpoints` (ours): jobs of the checkpoint registry and of Flink's HA layout, each with
/// its latest checkpoint, age and writer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_lists_registry_and_flink_jobs() {
    let srv = server().await;
    let s = srv.connect_string();
    let (code, out, _) = one_shot(&s, &["checkpoints"]);
    assert_eq!(code, 0);
    assert!(out.contains("no jobs found"), "{out}");
    let c = root_client(&srv).await;
    c.create("/checkpoints", None, None, 0, 0).await.expect("root");
    c.create("/checkpoints/wordcount", Some(b"{}"), None, 0, 0).await.expect("job");
    let (_, lease) = c.create("/checkpoints/wordcount/leader", None, None, 1, 0).await.expect("lease");
    for id in [1u64, 2] {
        let name = zabkeeper::prep::checkpoint_name(id);
        let json = format!(r#"{{"id": {id}, "location": "file:///c/{id}", "size": 1, "epoch": {}}}"#, lease.czxid);
        c.create(&format!("/checkpoints/wordcount/completed/{name}"), Some(json.as_bytes()), None, 0, 0)
            .await
            .expect("commit");
    }
    // Flink's layout, as its ZooKeeper HA services write it.
    let job = "/flink/default/jobs/a1b2c3";
    for p in ["/flink", "/flink/default", "/flink/default/jobs", job, &format!("{job}/checkpoints")] {
        c.create(p, None, None, 0, 0).await.expect("flink path");
    }
    let chk = format!("{job}/checkpoints/{}", zabkeeper::prep::checkpoint_name(7));
    c.create(&chk, Some(b"pointer"), None, 0, 0).await.expect("checkpoint");
    c.create(&format!("{chk}/locks"), None, None, 0, 0).await.expect("locks");
    c.create(&format!("{chk}/locks/lock-1"), None, None, 1, 0).await.expect("lock");
    let (code, out, err) = one_shot(&s, &["checkpoints"]);
    assert_eq!(code, 0, "{out}{err}");
    let writer = format!("writer session 0x{:x} (epoch 0x{:x})", c.session_id, lease.czxid);
    // The age is seconds since the commit: whatever a loaded machine took to get here.
    let line = |prefix: &str| out.lines().find(|l| l.starts_with(prefix)).unwrap_or_default().to_string();
    let registry = line("/checkpoints/wordcount (registry): latest 0000000000000000002 age ");
    assert!(registry.ends_with(&format!("s {writer}")), "{out}");
    let flink = line(&format!("{job} (flink): latest 0000000000000000007 age "));
    assert!(flink.ends_with(&format!("s writer session 0x{:x}", c.session_id)), "{out}");
    let (code, out, _) = one_shot(&s, &["checkpoints", "/flink"]);
    assert_eq!(code, 0);
    assert!(out.contains("(flink)") && !out.contains("(registry)"), "{out}");
    let (code, _, err) = one_shot(&s, &["checkpoints", "/nope"]);
    assert_eq!((code, err.trim()), (1, "Node does not exist: /nope"));
}
