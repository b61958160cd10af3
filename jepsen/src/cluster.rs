//! The ensemble under test: one network namespace per member (a veth pair into a bridge on
//! the host, where the clients run), its server process started inside it, and the faults
//! the nemesis applies: SIGKILL and restart, SIGSTOP / SIGCONT, partitions and packet loss
//! (nftables rules inside a member's namespace), a throttled link (tbf), a stepped wall clock
//! (libfaketime) and a crash that loses unsynced writes (lazy disks), all undone by `heal`
//! and by `Drop` — which also stops every process it started (by PID) and removes every
//! namespace, link, rule and mount it made, on success, on failure and on Ctrl-C alike.
//! Must never: touch a process, namespace or link it did not create.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which server the members run.
#[derive(Debug, Clone)]
pub enum Target {
    Zabkeeper { bin: PathBuf },
    Zookeeper { classpath: String },
}

impl Target {
    pub fn name(&self) -> &'static str {
        match self {
            Target::Zabkeeper { .. } => "zabkeeper",
            Target::Zookeeper { .. } => "zookeeper",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ClusterError(pub String);

type Result<T> = std::result::Result<T, ClusterError>;

/// Runs a command to completion; its stderr is the error.
fn run(cmd: &str, args: &[&str]) -> Result<()> {
    let out =
        Command::new(cmd).args(args).stdin(Stdio::null()).output().map_err(|e| ClusterError(format!("{cmd}: {e}")))?;
    if !out.status.success() {
        return Err(ClusterError(format!("{cmd} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())));
    }
    Ok(())
}

struct Member {
    ns: String,
    veth: String,
    ip: Ipv4Addr,
    dir: PathBuf,
    child: Option<Child>,
    paused: bool,
    /// Its nftables table exists.
    rules: bool,
    /// Its link is throttled (a tbf qdisc on its eth0).
    throttled: bool,
    /// Its wall clock is stepped away from the host's.
    clock_stepped: bool,
    /// Its data directory as a lazy disk (`lazyfs`), when crashes lose unsynced writes.
    disk: Option<crate::lazyfs::LazyDisk>,
}

/// How the members are set up beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// Data directories on lazy disks (for the crash nemeses).
    pub lazy_disks: bool,
    /// Servers started under libfaketime, so their wall clocks can be stepped.
    pub fake_clock: bool,
    /// Extra lines for every member's zoo.cfg.
    pub server_config: Vec<String>,
}

/// Debian's libfaketime (package `faketime`).
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

pub struct Cluster {
    pub target: Target,
    tag: String,
    bridge: String,
    members: Vec<Member>,
    bridge_made: bool,
    /// The third byte of the members' 10.77.k.0/24.
    subnet: u8,
    pub tick_ms: u64,
    setup: Setup,
}

pub const CLIENT_PORT: u16 = 2181;

impl Cluster {
    /// Makes `n` namespaces on a new bridge with addresses 10.77.<k>.(11..) and writes each
    /// member's config under `dir`. Nothing is started yet.
    pub fn create(n: usize, target: Target, dir: &Path, setup: Setup) -> Result<Cluster> {
        if setup.fake_clock && !Path::new(LIBFAKETIME).is_file() {
            return Err(ClusterError(format!("{LIBFAKETIME} is missing (apt-get install faketime)")));
        }
        let pid = std::process::id();
        let tag = format!("zkj{}", pid % 10_000_000);
        let k = (pid % 250) as u8;
        let mut c = Cluster {
            target,
            bridge: format!("{tag}br"),
            tag: tag.clone(),
            members: Vec::new(),
            bridge_made: false,
            subnet: k,
            tick_ms: 500,
            setup,
        };
        run("ip", &["link", "add", &c.bridge, "type", "bridge"])?;
        c.bridge_made = true;
        run("ip", &["addr", "add", &format!("10.77.{k}.1/24"), "dev", &c.bridge])?;
        run("ip", &["link", "set", &c.bridge, "up"])?;
        for i in 0..n {
            let m = Member {
                ns: format!("{tag}n{i}"),
                veth: format!("{tag}v{i}"),
                ip: Ipv4Addr::new(10, 77, k, 11 + i as u8),
                dir: dir.join(format!("n{}", i + 1)),
                child: None,
                paused: false,
                rules: false,
                throttled: false,
                clock_stepped: false,
                disk: None,
            };
            run("ip", &["netns", "add", &m.ns])?;
            c.members.push(m);
            let m = c.members.last().expect("just pushed");
            run("ip", &["link", "add", &m.veth, "type", "veth", "peer", "name", "eth0", "netns", &m.ns])?;
            run("ip", &["link", "set", &m.veth, "master", &c.bridge])?;
            run("ip", &["link", "set", &m.veth, "up"])?;
            let ns = |args: &[&str]| {
                let mut a = vec!["netns", "exec", &m.ns];
                a.extend_from_slice(args);
                run("ip", &a)
            };
            ns(&["ip", "addr", "add", &format!("{}/24", m.ip), "dev", "eth0"])?;
            ns(&["ip", "link", "set", "eth0", "up"])?;
            ns(&["ip", "link", "set", "lo", "up"])?;
            std::fs::create_dir_all(m.dir.join("data")).map_err(|e| ClusterError(e.to_string()))?;
        }
        c.write_configs()?;
        if c.setup.lazy_disks {
            for m in &mut c.members {
                // myid and the rest written so far are durable: they are in the backing
                // directory before the lazy disk is mounted over `data`.
                let backing = m.dir.join("disk");
                std::fs::rename(m.dir.join("data"), &backing).map_err(|e| ClusterError(e.to_string()))?;
                std::fs::create_dir_all(m.dir.join("data")).map_err(|e| ClusterError(e.to_string()))?;
                let disk = crate::lazyfs::LazyDisk::mount(&backing, &m.dir.join("data"))
                    .map_err(|e| ClusterError(format!("mounting a lazy disk (FUSE, needs /dev/fuse): {e}")))?;
                m.disk = Some(disk);
            }
        }
        Ok(c)
    }

    fn write_configs(&self) -> Result<()> {
        let servers: String = self
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| format!("server.{}={}:2888:3888;{}:{CLIENT_PORT}\n", i + 1, m.ip, m.ip))
            .collect();
        for (i, m) in self.members.iter().enumerate() {
            let data = m.dir.join("data");
            let cfg = format!(
                "tickTime={}\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={CLIENT_PORT}\n\
                 clientPortAddress={}\nmaxClientCnxns=0\n4lw.commands.whitelist=*\n\
                 admin.enableServer=false\nautopurge.purgeInterval=0\n{servers}{}",
                self.tick_ms,
                data.display(),
                m.ip,
                self.setup.server_config.iter().map(|l| format!("{l}\n")).collect::<String>()
            );
            std::fs::write(m.dir.join("zoo.cfg"), cfg).map_err(|e| ClusterError(e.to_string()))?;
            std::fs::write(data.join("myid"), format!("{}\n", i + 1)).map_err(|e| ClusterError(e.to_string()))?;
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn client_addr(&self, i: usize) -> SocketAddr {
        SocketAddr::new(self.members[i].ip.into(), CLIENT_PORT)
    }

    /// Starts member `i`'s server inside its namespace (its output goes to `server.log`).
    pub fn start(&mut self, i: usize) -> Result<()> {
        let m = &mut self.members[i];
        if m.child.is_some() {
            return Ok(());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(m.dir.join("server.log"))
            .map_err(|e| ClusterError(e.to_string()))?;
        let cfg = m.dir.join("zoo.cfg");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &m.ns]);
        match &self.target {
            Target::Zabkeeper { bin } => {
                cmd.arg(bin).arg(&cfg);
            }
            Target::Zookeeper { classpath } => {
                cmd.args([
                    "java",
                    "-Xmx512m",
                    "-Dzookeeper.4lw.commands.whitelist=*",
                    "-Dzookeeper.admin.enableServer=false",
                    "-cp",
                    classpath,
                    "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                ])
                .arg(&cfg);
            }
        }
        if self.setup.fake_clock {
            let offset = m.dir.join("clock");
            if !offset.exists() {
                std::fs::write(&offset, "+0\n").map_err(|e| ClusterError(e.to_string()))?;
            }
            // Only the wall clock moves; libfaketime rereads the offset at most once a second.
            cmd.env("LD_PRELOAD", LIBFAKETIME)
                .env("FAKETIME_TIMESTAMP_FILE", &offset)
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
                .env("FAKETIME_CACHE_DURATION", "1");
        }
        let err = log.try_clone().map_err(|e| ClusterError(e.to_string()))?;
        cmd.stdin(Stdio::null()).stdout(log).stderr(err);
        // `ip netns exec` execs the server in place: this PID is the server's.
        m.child = Some(cmd.spawn().map_err(|e| ClusterError(format!("starting member {}: {e}", i + 1)))?);
        m.paused = false;
        Ok(())
    }

    /// The members whose server exited by itself (not killed by us), with how it ended; they
    /// count as stopped from here on, so the next `start` starts them again.
    pub fn reap(&mut self) -> Vec<(usize, String)> {
        let mut gone = Vec::new();
        for (i, m) in self.members.iter_mut().enumerate() {
            if let Some(c) = m.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    gone.push((i, status.to_string()));
                    m.child = None;
                    m.paused = false;
                }
            }
        }
        gone
    }

    pub fn start_all(&mut self) -> Result<()> {
        (0..self.len()).try_for_each(|i| self.start(i))
    }

    pub fn is_running(&self, i: usize) -> bool {
        self.members[i].child.is_some()
    }

    /// SIGKILLs member `i` (resumed first if paused, so it dies at once).
    pub fn kill(&mut self, i: usize) {
        let m = &mut self.members[i];
        if let Some(mut c) = m.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        m.paused = false;
    }

    fn signal(&mut self, i: usize, sig: libc::c_int) -> bool {
        let Some(c) = &self.members[i].child else { return false };
        // SAFETY: a signal to a child this cluster started and has not reaped.
        unsafe { libc::kill(c.id() as libc::pid_t, sig) == 0 }
    }

    pub fn pause(&mut self, i: usize) {
        if self.signal(i, libc::SIGSTOP) {
            self.members[i].paused = true;
        }
    }

    pub fn resume(&mut self, i: usize) {
        if self.members[i].paused && self.signal(i, libc::SIGCONT) {
            self.members[i].paused = false;
        }
    }

    fn nft(&mut self, i: usize, rule: &str) -> Result<()> {
        let ns = self.members[i].ns.clone();
        let nft = |args: &[&str]| {
            let mut a = vec!["netns", "exec", &ns, "nft"];
            a.extend_from_slice(args);
            run("ip", &a)
        };
        if !self.members[i].rules {
            nft(&["add", "table", "inet", "zkj"])?;
            for (chain, hook) in [("out", "output"), ("in", "input")] {
                nft(&["add", "chain", "inet", "zkj", chain, &format!("{{ type filter hook {hook} priority 0; }}")])?;
            }
            self.members[i].rules = true;
        }
        let mut args = vec!["add", "rule", "inet", "zkj"];
        args.extend(rule.split_whitespace());
        nft(&args)
    }

    /// Cuts the members into `groups`: traffic between members of different groups is
    /// dropped both ways (clients on the host still reach everyone, as in Jepsen).
    pub fn partition(&mut self, groups: &[Vec<usize>]) -> Result<()> {
        let n = self.len();
        let group_of = |i: usize| groups.iter().position(|g| g.contains(&i));
        for i in 0..n {
            for j in 0..n {
                if i != j && group_of(i) != group_of(j) {
                    let ip = self.members[j].ip;
                    self.nft(i, &format!("out ip daddr {ip} drop"))?;
                    self.nft(i, &format!("in ip saddr {ip} drop"))?;
                }
            }
        }
        Ok(())
    }

    /// Cuts only the pairs given (a bridge: each side still reaches a different majority).
    pub fn cut_pairs(&mut self, pairs: &[(usize, usize)]) -> Result<()> {
        for &(a, b) in pairs {
            let (ia, ib) = (self.members[a].ip, self.members[b].ip);
            self.nft(a, &format!("out ip daddr {ib} drop"))?;
            self.nft(b, &format!("out ip daddr {ia} drop"))?;
        }
        Ok(())
    }

    /// Drops `percent`% of the packets every member sends to the others.
    pub fn lose(&mut self, percent: u32) -> Result<()> {
        for i in 0..self.len() {
            let net = format!("10.77.{}.0/24", self.subnet);
            self.nft(i, &format!("out ip daddr {net} numgen random mod 100 < {percent} drop"))?;
        }
        Ok(())
    }

    /// Throttles every member's link: `kbit` kbit/s, packets queued up to `latency_ms`, the
    /// rest dropped (a token bucket: the only shaping this kernel has, no netem).
    pub fn throttle(&mut self, kbit: u32, latency_ms: u32) -> Result<()> {
        for i in 0..self.len() {
            let ns = self.members[i].ns.clone();
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &ns,
                    "tc",
                    "qdisc",
                    "add",
                    "dev",
                    "eth0",
                    "root",
                    "tbf",
                    "rate",
                    &format!("{kbit}kbit"),
                    "burst",
                    "4kb",
                    "latency",
                    &format!("{latency_ms}ms"),
                ],
            )?;
            self.members[i].throttled = true;
        }
        Ok(())
    }

    /// Steps member `i`'s wall clock `secs` away from the host's (the server runs under
    /// libfaketime; its monotonic clock is left alone).
    pub fn step_clock(&mut self, i: usize, secs: i64) -> Result<()> {
        if !self.setup.fake_clock {
            return Err(ClusterError("the members were not started under libfaketime".into()));
        }
        let m = &mut self.members[i];
        std::fs::write(m.dir.join("clock"), format!("{secs:+}\n")).map_err(|e| ClusterError(e.to_string()))?;
        m.clock_stepped = true;
        Ok(())
    }

    /// SIGKILLs member `i` and loses every write its disk had not fsynced (`torn`: a random
    /// prefix of them survives). Says what was lost.
    pub fn crash(&mut self, i: usize, torn: Option<u64>) -> Result<String> {
        self.kill(i);
        let Some(disk) = &self.members[i].disk else {
            return Err(ClusterError("the members' data directories are not lazy disks".into()));
        };
        let lost = disk.lose_unsynced(torn).map_err(|e| ClusterError(format!("losing unsynced writes: {e}")))?;
        Ok(format!("{} unsynced bytes lost in {} files", lost.bytes, lost.files))
    }

    /// Ends every fault: the network healed, links unthrottled, clocks back, every member
    /// resumed and running.
    pub fn heal(&mut self) -> Result<()> {
        self.heal_network();
        self.resume_all();
        self.start_all()
    }

    /// Removes every network fault, link throttle and clock step.
    pub fn heal_network(&mut self) {
        for i in 0..self.len() {
            if self.members[i].throttled {
                let ns = self.members[i].ns.clone();
                let _ = run("ip", &["netns", "exec", &ns, "tc", "qdisc", "del", "dev", "eth0", "root"]);
                self.members[i].throttled = false;
            }
            if self.members[i].clock_stepped {
                let _ = std::fs::write(self.members[i].dir.join("clock"), "+0\n");
                self.members[i].clock_stepped = false;
            }
        }
        for i in 0..self.len() {
            if self.members[i].rules {
                let ns = self.members[i].ns.clone();
                let _ = run("ip", &["netns", "exec", &ns, "nft", "delete", "table", "inet", "zkj"]);
                self.members[i].rules = false;
            }
        }
    }

    pub fn resume_all(&mut self) {
        for i in 0..self.len() {
            self.resume(i);
        }
    }

    /// A four-letter word's answer from member `i` (empty if it does not answer in time).
    pub fn four(&self, i: usize, word: &str) -> String {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect_timeout(&self.client_addr(i), Duration::from_millis(500)) else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(1000)));
        if s.write_all(word.as_bytes()).is_err() {
            return String::new();
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    /// The member that says it leads, if exactly one does.
    pub fn leader(&self) -> Option<usize> {
        let leaders: Vec<usize> = (0..self.len())
            .filter(|&i| !self.members[i].paused && self.is_running(i))
            .filter(|&i| self.four(i, "srvr").lines().any(|l| l.trim() == "Mode: leader"))
            .collect();
        (leaders.len() == 1).then(|| leaders[0])
    }

    /// Waits until every running member serves with one leader.
    pub fn wait_settled(&self, within: Duration) -> Result<usize> {
        let until = Instant::now() + within;
        loop {
            let modes: Vec<String> = (0..self.len())
                .map(|i| {
                    self.four(i, "srvr")
                        .lines()
                        .find_map(|l| l.strip_prefix("Mode: ").map(str::to_string))
                        .unwrap_or_default()
                })
                .collect();
            let leaders = modes.iter().filter(|m| *m == "leader").count();
            if leaders == 1 && modes.iter().all(|m| m == "leader" || m == "follower") {
                return Ok(modes.iter().position(|m| m == "leader").expect("one leader"));
            }
            if Instant::now() >= until {
                return Err(ClusterError(format!("the ensemble did not settle within {within:?}: {modes:?}")));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_dir(&self, i: usize) -> &Path {
        &self.members[i].dir
    }

    pub fn tag(&self) -> &str {
        &self.tag
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.teardown();
    }
}

impl Cluster {
    /// Stops every server it started and removes every namespace, link and rule it made
    /// (idempotent; `Drop` calls it too).
    pub fn teardown(&mut self) {
        for i in 0..self.members.len() {
            self.resume(i);
            self.kill(i);
        }
        self.heal_network();
        for m in &mut self.members {
            // Unmounted only once its server is gone.
            m.disk = None;
            let _ = run("ip", &["netns", "del", &m.ns]);
            // The host end goes with its peer; this only matters if the namespace went first.
            let _ = run("ip", &["link", "del", &m.veth]);
        }
        self.members.clear();
        if self.bridge_made {
            let _ = run("ip", &["link", "del", &self.bridge]);
            self.bridge_made = false;
        }
    }
}
