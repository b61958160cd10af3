//! Apache ZooKeeper 3.8 (Debian's package) as a child process for tests that need the real
//! thing beside ours: locating java and the classpath (the same rules as tests/zkservers.py),
//! writing a quorum member's zoo.cfg and myid, and SIGKILL on drop. Missing Java or ZooKeeper
//! fails the test with how to install them (.ci/run does).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub fn java() -> PathBuf {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(j) = std::env::var_os("JAVA") {
        candidates.push(j.into());
    }
    if let Some(h) = std::env::var_os("JAVA_HOME") {
        candidates.push(Path::new(&h).join("bin/java"));
    }
    candidates.push("/usr/bin/java".into());
    candidates.into_iter().find(|p| p.is_file()).unwrap_or_else(|| {
        panic!(
            "Java is not installed; install it with `apt-get install -y default-jre-headless zookeeper` (.ci/run does)"
        )
    })
}

pub fn classpath() -> String {
    if let Ok(cp) = std::env::var("ZK_CLASSPATH") {
        return cp;
    }
    let jar = Path::new("/usr/share/java/zookeeper.jar");
    assert!(
        jar.is_file(),
        "Apache ZooKeeper is not installed (no {}); install it with `apt-get install -y zookeeper` (.ci/run does)",
        jar.display()
    );
    let mut cp = vec![jar.display().to_string()];
    for binding in ["slf4j-simple.jar", "slf4j-nop.jar"] {
        let p = Path::new("/usr/share/java").join(binding);
        if p.is_file() {
            cp.push(p.display().to_string());
            break;
        }
    }
    cp.join(":")
}

/// A ZooKeeper quorum member (QuorumPeerMain); SIGKILLed and reaped on drop.
pub struct ZkMember {
    pub child: Child,
    pub log: PathBuf,
}

impl ZkMember {
    /// Starts member `myid` of the ensemble described by `cfg_text` (the zoo.cfg lines other
    /// than dataDir) in `dir`.
    pub fn start(dir: &Path, myid: u64, cfg_text: &str) -> ZkMember {
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("myid"), format!("{myid}\n")).unwrap();
        let cfg = dir.join("zoo.cfg");
        std::fs::write(&cfg, format!("dataDir={}\n{cfg_text}", data.display())).unwrap();
        let log = dir.join("zookeeper.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(java())
            .args([
                "-Xmx256m",
                "-Dzookeeper.admin.enableServer=false",
                "-Dzookeeper.4lw.commands.whitelist=*",
                "-Djava.net.preferIPv4Stack=true",
                "-cp",
                &classpath(),
                "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            ])
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start Apache ZooKeeper");
        ZkMember { child, log }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ZkMember {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
