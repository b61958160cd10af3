//! An ensemble of real zabkeeper processes on 127.0.0.1 for integration tests: each member a
//! child with its own dataDir and myid, SIGKILLed and reaped on drop (only our own children,
//! by handle). Helpers wait on conditions with generous deadlines (the machine may be loaded).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an ensemble may take to elect and serve on a loaded machine.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A port the kernel calls free that no ensemble of this test process was given before: the
/// tests of one binary run in parallel, and a port released by one test's probe was handed
/// to another test's member too (a member then failed to bind, and its client port answered
/// for the other test's ensemble).
pub fn free_port() -> u16 {
    static GIVEN: Mutex<std::collections::BTreeSet<u16>> = Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0").expect("bind :0").local_addr().expect("addr").port();
        if GIVEN.lock().expect("ports").insert(port) {
            return port;
        }
    }
}

/// One member's fixed facts.
#[derive(Debug, Clone)]
pub struct Spec {
    pub id: u64,
    pub client: u16,
    pub quorum: u16,
    pub election: u16,
    pub observer: bool,
    /// An Apache ZooKeeper 3.8 member (Debian's) instead of ours.
    pub zookeeper: bool,
}

pub struct Member {
    pub spec: Spec,
    pub dir: PathBuf,
    child: Option<Child>,
    log: Arc<Mutex<String>>,
}

impl Member {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.spec.client))
    }
    pub fn hostport(&self) -> String {
        format!("127.0.0.1:{}", self.spec.client)
    }
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
    /// Everything this member has logged, across restarts.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    /// SIGSTOP (`stop = true`) or SIGCONT our child.
    pub fn pause(&self, stop: bool) {
        if let Some(c) = &self.child {
            let sig = if stop { libc::SIGSTOP } else { libc::SIGCONT };
            // SAFETY: signalling our own child by its pid.
            unsafe { libc::kill(c.id() as i32, sig) };
            if stop {
                wait_stopped(c.id());
            }
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct Ensemble {
    pub members: Vec<Member>,
    pub tmp: tempfile::TempDir,
    config: String,
    /// Each member's AdminServer port, once [`Ensemble::enable_admin`] gave them one (else the
    /// AdminServer is off: many ensembles run at once and 8080 is only one port).
    admin_ports: Option<Vec<u16>>,
    /// Each member's Prometheus endpoint port, once [`Ensemble::enable_metrics`] gave them one.
    metrics_ports: Option<Vec<u16>>,
}

impl Ensemble {
    /// `voters` participants and `observers` observers, none started yet.
    pub fn new(voters: u64, observers: u64) -> Ensemble {
        Ensemble::mixed(voters, observers, &[])
    }

    /// Like `new`, with the members whose ids are in `zookeeper` run by Apache ZooKeeper.
    pub fn mixed(voters: u64, observers: u64, zookeeper: &[u64]) -> Ensemble {
        let tmp = tempfile::tempdir().expect("tempdir");
        let specs: Vec<Spec> = (1..=voters + observers)
            .map(|id| Spec {
                id,
                client: free_port(),
                quorum: free_port(),
                election: free_port(),
                observer: id > voters,
                zookeeper: zookeeper.contains(&id),
            })
            .collect();
        let mut config = String::from(
            "tickTime=500\ninitLimit=10\nsyncLimit=5\nclientPortAddress=127.0.0.1\n\
             4lw.commands.whitelist=*\nforceSync=yes\n",
        );
        for s in &specs {
            let role = if s.observer { ":observer" } else { "" };
            config.push_str(&format!(
                "server.{}=127.0.0.1:{}:{}{role};127.0.0.1:{}\n",
                s.id, s.quorum, s.election, s.client
            ));
        }
        let members = specs
            .into_iter()
            .map(|spec| {
                let dir = tmp.path().join(format!("m{}", spec.id));
                Member { spec, dir, child: None, log: Arc::new(Mutex::new(String::new())) }
            })
            .collect();
        Ensemble { members, tmp, config, admin_ports: None, metrics_ports: None }
    }

    /// Gives each of our members an AdminServer on 127.0.0.1 and a free port (ZooKeeper members
    /// keep theirs off); returns the ports by member index. Call before starting members.
    pub fn enable_admin(&mut self) -> Vec<u16> {
        let ports: Vec<u16> = self.members.iter().map(|_| free_port()).collect();
        self.admin_ports = Some(ports.clone());
        ports
    }

    /// Adds a zoo.cfg line for every member started from now on.
    pub fn add_config(&mut self, line: &str) {
        self.config.push_str(line);
        self.config.push('\n');
    }

    /// Gives each of our members ZooKeeper's Prometheus endpoint on 127.0.0.1 and a free port;
    /// returns the ports by member index. Call before starting members.
    pub fn enable_metrics(&mut self) -> Vec<u16> {
        let ports: Vec<u16> = self.members.iter().map(|_| free_port()).collect();
        self.metrics_ports = Some(ports.clone());
        ports
    }

    /// Starts member `i` (index into `members`) with its data directory as it is.
    pub fn start(&mut self, i: usize) {
        let m = &mut self.members[i];
        let data = m.dir.join("data");
        std::fs::create_dir_all(&data).expect("mkdir");
        std::fs::write(data.join("myid"), m.spec.id.to_string()).expect("myid");
        let cfg = m.dir.join("zoo.cfg");
        let admin = match &self.admin_ports {
            Some(ports) if !m.spec.zookeeper => {
                format!("admin.enableServer=true\nadmin.serverAddress=127.0.0.1\nadmin.serverPort={}\n", ports[i])
            }
            _ => "admin.enableServer=false\n".to_string(),
        };
        let admin = match &self.metrics_ports {
            Some(ports) if !m.spec.zookeeper => format!(
                "{admin}metricsProvider.className={}\nmetricsProvider.httpHost=127.0.0.1\nmetricsProvider.httpPort={}\n",
                zabkeeper::config::PROMETHEUS_PROVIDER,
                ports[i]
            ),
            _ => admin,
        };
        let text = format!("dataDir={}\nclientPort={}\n{}{admin}", data.display(), m.spec.client, self.config);
        std::fs::write(&cfg, text).expect("zoo.cfg");
        let mut cmd = if m.spec.zookeeper {
            let mut c = Command::new(crate::zk_support::java());
            c.args([
                "-Xmx256m",
                "-Dzookeeper.admin.enableServer=false",
                "-Dzookeeper.4lw.commands.whitelist=*",
                "-Djava.net.preferIPv4Stack=true",
                "-cp",
                &crate::zk_support::classpath(),
                "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            ]);
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_zabkeeper"))
        };
        let mut child = cmd
            .arg(&cfg)
            .env("ZABKEEPER_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn a member");
        let pipe = child.stderr.take().expect("stderr");
        let log = m.log.clone();
        let id = m.spec.id;
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
                l.push_str(&format!("[{id}] {line}\n"));
            }
        });
        m.child = Some(child);
    }

    /// Starts the ZooKeeper members first (their JVMs start slowly) and waits until each
    /// listens on its election port and is looking, then ours: all take part in one election.
    pub fn start_zookeeper_first(&mut self) {
        let zk: Vec<usize> = (0..self.members.len()).filter(|&i| self.members[i].spec.zookeeper).collect();
        for &i in &zk {
            self.start(i);
        }
        let until = Instant::now() + DEADLINE;
        for &i in &zk {
            let election = std::net::SocketAddr::from(([127, 0, 0, 1], self.members[i].spec.election));
            while std::net::TcpStream::connect_timeout(&election, Duration::from_secs(2)).is_err() {
                assert!(Instant::now() < until, "ZooKeeper's election port never listened\n{}", self.logs());
                std::thread::sleep(Duration::from_millis(50));
            }
            // And until it is looking (when it logs: Debian ships an slf4j binding), so that
            // its vote reaches ours within the election's finalize wait.
            let logs_anything = Instant::now() + Duration::from_secs(5);
            while !self.members[i].log().contains("New election") {
                if Instant::now() > logs_anything && self.members[i].log().is_empty() {
                    break;
                }
                assert!(Instant::now() < until, "ZooKeeper never started its election\n{}", self.logs());
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        for i in (0..self.members.len()).filter(|i| !zk.contains(i)) {
            self.start(i);
        }
    }

    pub fn start_all(&mut self) {
        for i in 0..self.members.len() {
            self.start(i);
        }
    }

    /// Removes member `i`'s data (it must be stopped); `start` recreates its myid.
    pub fn wipe(&mut self, i: usize) {
        assert!(!self.members[i].is_running());
        let _ = std::fs::remove_dir_all(self.members[i].dir.join("data"));
    }

    /// Every running member's log, for failure messages.
    pub fn logs(&self) -> String {
        self.members.iter().map(|m| m.log()).collect::<Vec<_>>().join("")
    }

    pub fn connect_string(&self) -> String {
        self.members.iter().map(|m| m.hostport()).collect::<Vec<_>>().join(",")
    }

    /// Member `i`'s `srvr` Mode, or None if it does not answer or does not serve.
    pub fn mode(&self, i: usize) -> Option<String> {
        let text = four_letter(self.members[i].addr(), "srvr")?;
        text.lines().find_map(|l| l.strip_prefix("Mode: ")).map(str::to_owned)
    }

    /// Waits until every running member serves, exactly one of them leads, and returns the
    /// leader's index.
    pub fn wait_for_roles(&self) -> usize {
        self.wait_for_roles_without(&[])
    }

    /// Until a member of the wanted kind leads: the leader of the other kind is killed,
    /// the rest elect, it is restarted. Which member wins the first election of a fresh mixed
    /// ensemble is a race (two of one kind may form a quorum before the third's vote
    /// arrives); afterwards the largest id among equal logs wins. Returns the leader.
    pub fn lead_by_kind(&mut self, zookeeper: bool) -> usize {
        for _ in 0..4 {
            let l = self.wait_for_roles();
            if self.members[l].spec.zookeeper == zookeeper {
                return l;
            }
            self.members[l].kill();
            self.wait_for_roles_without(&[l]);
            self.start(l);
        }
        panic!("no member of the wanted kind came to lead\n{}", self.logs());
    }

    /// `wait_for_roles`, leaving the members in `skip` (paused ones) out.
    pub fn wait_for_roles_without(&self, skip: &[usize]) -> usize {
        let until = Instant::now() + DEADLINE;
        loop {
            let modes: Vec<(usize, Option<String>)> = (0..self.members.len())
                .filter(|i| self.members[*i].is_running() && !skip.contains(i))
                .map(|i| (i, self.mode(i)))
                .collect();
            let leaders: Vec<usize> =
                modes.iter().filter(|(_, m)| m.as_deref() == Some("leader")).map(|(i, _)| *i).collect();
            let all_serving = modes.iter().all(|(i, m)| match m.as_deref() {
                Some("leader") | Some("follower") => !self.members[*i].spec.observer,
                Some("observer") => self.members[*i].spec.observer,
                _ => false,
            });
            if all_serving && leaders.len() == 1 {
                return leaders[0];
            }
            assert!(Instant::now() < until, "no settled ensemble within {DEADLINE:?}: {modes:?}\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until member `i` does not serve.
    pub fn wait_not_serving(&self, i: usize) {
        let until = Instant::now() + DEADLINE;
        while self.mode(i).is_some() {
            assert!(Instant::now() < until, "member {} kept serving\n{}", i + 1, self.logs());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Waits until every thread of process `pid` is stopped: SIGSTOP is delivered asynchronously,
/// and a JVM thread still running after `kill` returned can take one more packet (a test
/// then saw a follower ACK the proposal it was paused to miss).
fn wait_stopped(pid: u32) {
    let until = Instant::now() + DEADLINE;
    loop {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).map(|d| {
            d.filter_map(|t| t.ok())
                .map(|t| std::fs::read_to_string(t.path().join("stat")).unwrap_or_default())
                .collect::<Vec<_>>()
        });
        let Ok(tasks) = tasks else { return };
        // The state follows the parenthesised command name: T (stopped), t (traced), Z or X (gone).
        let running = tasks.iter().any(|st| {
            st.rsplit_once(") ")
                .and_then(|(_, rest)| rest.chars().next())
                .is_some_and(|c| !matches!(c, 'T' | 't' | 'Z' | 'X'))
        });
        if !running {
            return;
        }
        assert!(Instant::now() < until, "process {pid} did not stop");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A four-letter word's answer, or None if the member does not answer or does not serve.
pub fn four_letter(addr: SocketAddr, word: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(word.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    if out.is_empty() || out.contains("not currently serving") {
        return None;
    }
    Some(out)
}

/// The data directory of a member (for log inspection).
pub fn data_dir(m: &Member) -> PathBuf {
    m.dir.join("data")
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}

/// Every znode as read through one client: path, data, Stat and ACL.
pub type Tree = Vec<(String, Option<Vec<u8>>, zabkeeper::proto::records::Stat, String)>;

/// Every znode seen through `c`, sorted by path, except `/zookeeper/config`: that one is each
/// member's own (a ZooKeeper member without reconfig writes its local config there, at start
/// and after a SNAP), so members of different kinds rightly differ on it.
/// An error names the request and path that failed, for the caller to report with the logs.
pub async fn tree_through(c: &zabkeeper::client::Client) -> Result<Tree, String> {
    let mut out = Vec::new();
    let mut todo = vec!["/".to_string()];
    while let Some(p) = todo.pop() {
        let (data, stat) = c.get_data(&p, false).await.map_err(|e| format!("getData {p}: {e:?}"))?;
        let (acl, _) = c.get_acl(&p).await.map_err(|e| format!("getACL {p}: {e:?}"))?;
        let (children, _) = c.get_children(&p, false).await.map_err(|e| format!("getChildren {p}: {e:?}"))?;
        for ch in children {
            todo.push(if p == "/" { format!("/{ch}") } else { format!("{p}/{ch}") });
        }
        if p != "/zookeeper/config" {
            out.push((p, data.map(|d| d.to_vec()), stat, format!("{acl:?}")));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
