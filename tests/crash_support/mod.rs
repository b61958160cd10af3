//! The server as a child process, for tests that need a real process (crash tests, memory
//! and file-limit tests of the client port): config, start with a deadline, SIGKILL on drop;
//! and a direct reader of the txn log's segment files.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// A (re)start must print "serving on" within this.
pub const START_DEADLINE: Duration = Duration::from_secs(20);
/// A four-letter-word exchange.
const IO_TIMEOUT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// The server child process.

/// A running server child. Dropping it (also during a panic) SIGKILLs and reaps the child.
pub struct Server {
    pub child: Option<Child>,
    pub addr: SocketAddr,
    pub stderr: Arc<Mutex<String>>,
}

impl Server {
    /// SIGKILL (what `Child::kill` sends) and reap; only ever our own child, by its handle.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A child that was started; either it comes up or it exits.
pub enum Outcome {
    Serving(Server, Duration),
    Exited { status: ExitStatus, stderr: String, after: Duration },
}

/// A port that was free a moment ago (bind 127.0.0.1:0 and release it).
pub fn free_port() -> u16 {
    for _ in 0..100 {
        if let Ok(l) = TcpListener::bind("127.0.0.1:0") {
            if let Ok(a) = l.local_addr() {
                return a.port();
            }
        }
    }
    panic!("no free port on 127.0.0.1");
}

/// How a test wants the child set up beyond the defaults.
#[derive(Default, Clone)]
pub struct ChildOptions {
    /// zoo.cfg lines appended to the defaults (later keys win).
    pub extra_config: String,
    /// RLIMIT_NOFILE (soft and hard) for the child.
    pub open_files: Option<u64>,
}

pub fn write_config(dir: &Path, port: u16, extra: &str) -> PathBuf {
    let cfg = dir.join("zoo.cfg");
    let text = format!(
        "dataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\ntickTime=500\n\
         snapCount=50\npreAllocSize=64\nautopurge.snapRetainCount=3\nautopurge.purgeInterval=1\n\
         4lw.commands.whitelist=ruok,srvr,mntr\nadmin.enableServer=false\n{extra}\n",
        dir.join("data").display()
    );
    std::fs::write(&cfg, text).expect("write zoo.cfg");
    cfg
}

/// Spawns the server on `dir` with a fresh port and waits until it serves or exits.
pub fn spawn_once(dir: &Path) -> Outcome {
    spawn_once_with(dir, &ChildOptions::default())
}

/// `spawn_once` with extra config lines and limits.
pub fn spawn_once_with(dir: &Path, opts: &ChildOptions) -> Outcome {
    use std::os::unix::process::CommandExt;
    let port = free_port();
    let cfg = write_config(dir, port, &opts.extra_config);
    let started = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zabkeeper"));
    cmd.arg(&cfg)
        .env("ZABKEEPER_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(n) = opts.open_files {
        // SAFETY: only setrlimit, which is async-signal-safe, runs between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit { rlim_cur: n, rlim_max: n };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().expect("spawn zabkeeper");
    let pipe = child.stderr.take().expect("stderr pipe");
    let stderr = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel::<String>();
    {
        let stderr = stderr.clone();
        // Drains the pipe until the child is gone so the server never blocks on logging.
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                {
                    let mut s = stderr.lock().unwrap_or_else(|e| e.into_inner());
                    s.push_str(&line);
                    s.push('\n');
                }
                let _ = tx.send(line);
            }
        });
    }
    let server = Server { child: Some(child), addr: SocketAddr::from(([127, 0, 0, 1], port)), stderr };
    let deadline = started + START_DEADLINE;
    let mut server = Some(server);
    loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(line) if line.contains("serving on") => {
                let s = server.take().unwrap();
                return Outcome::Serving(s, started.elapsed());
            }
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // stderr closed: the child is exiting. Reap it (bounded).
                let s = server.as_mut().unwrap();
                let child = s.child.as_mut().unwrap();
                loop {
                    if let Some(status) = child.try_wait().expect("try_wait") {
                        let s = server.take().unwrap();
                        let stderr = s.stderr();
                        drop(s);
                        return Outcome::Exited { status, stderr, after: started.elapsed() };
                    }
                    assert!(Instant::now() < deadline, "server closed stderr but did not exit");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        let s = server.as_mut().unwrap();
        if let Some(status) = s.child.as_mut().unwrap().try_wait().expect("try_wait") {
            // Exited; collect what it printed (the reader thread finishes at EOF).
            while let Ok(_line) = rx.recv_timeout(Duration::from_millis(500)) {}
            let s = server.take().unwrap();
            let stderr = s.stderr();
            return Outcome::Exited { status, stderr, after: started.elapsed() };
        }
        assert!(Instant::now() < deadline, "server did not start within {START_DEADLINE:?}; stderr:\n{}", s.stderr());
    }
}

/// Starts the server on `dir` (retrying only when the chosen port was taken meanwhile) and
/// checks it answers `ruok`. Returns the server and how long it took to serve.
pub fn start(dir: &Path) -> (Server, Duration) {
    start_with(dir, &ChildOptions::default())
}

/// `start` with extra config lines and limits.
pub fn start_with(dir: &Path, opts: &ChildOptions) -> (Server, Duration) {
    for _ in 0..5 {
        match spawn_once_with(dir, opts) {
            Outcome::Serving(s, took) => {
                assert_eq!(four_letter(s.addr, "ruok"), "imok");
                return (s, took);
            }
            Outcome::Exited { stderr, .. } if stderr.contains("cannot bind") => continue,
            Outcome::Exited { status, stderr, after } => {
                panic!("server exited ({status}) after {after:?} instead of starting; stderr:\n{stderr}")
            }
        }
    }
    panic!("could not find a free port in 5 attempts");
}

pub fn four_letter(addr: SocketAddr, word: &str) -> String {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect for 4lw");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(word.as_bytes()).expect("4lw write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("4lw read");
    out
}

// ---------------------------------------------------------------------------------------------
// The txn log, read directly (format: see src/storage/wal.rs).

/// The newest (`last`) and all segment files, oldest first.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("data").join("version-2"))
        .expect("read version-2")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("log.")))
        .collect();
    v.sort();
    v
}

/// A record of a segment: byte range and zxid.
pub struct LogRecord {
    pub start: u64,
    pub end: u64,
    pub zxid: i64,
    pub payload: Vec<u8>,
}

/// The valid records of one segment (stops at the first zero or damaged header).
pub fn records(path: &Path) -> Vec<LogRecord> {
    let f = std::fs::File::open(path).expect("open segment");
    let len = f.metadata().unwrap().len();
    let mut head = [0u8; 16];
    f.read_exact_at(&mut head, 0).expect("segment header");
    assert_eq!(&head[..4], b"ZBKL", "{} has no segment magic", path.display());
    let mut out = Vec::new();
    let mut off = 16u64;
    while off + 16 <= len {
        let mut h = [0u8; 16];
        f.read_exact_at(&mut h, off).unwrap();
        let n = u32::from_be_bytes(h[0..4].try_into().unwrap()) as u64;
        let crc = u32::from_be_bytes(h[4..8].try_into().unwrap());
        let zxid = i64::from_be_bytes(h[8..16].try_into().unwrap());
        if n == 0 || off + 16 + n > len {
            break;
        }
        let mut payload = vec![0u8; n as usize];
        f.read_exact_at(&mut payload, off + 16).unwrap();
        if crc32c::crc32c_append(crc32c::crc32c(&zxid.to_be_bytes()), &payload) != crc {
            break;
        }
        out.push(LogRecord { start: off, end: off + 16 + n, zxid, payload });
        off += 16 + n;
    }
    out
}
