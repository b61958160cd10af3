//! The process environment shown by `envi`, collected once from `/proc` and environment variables.
//! Owns: [`EnvView`] and its collection, plus [`process_fd_counts`] for `mntr`.
//! Must never: fail (missing sources become placeholders) or touch server state.
//!
//! ZooKeeper prints JVM properties; we print honest Rust-process equivalents under the same keys:
//! `java.version=rust`, `java.vendor=zabkeeper`, `java.home`/`java.class.path` = the executable's
//! directory/path, and `os.memory.*` in MB as free = MemAvailable, max = MemTotal (system),
//! total = this process's resident set (ZooKeeper: JVM heap free/max/committed).

use std::path::PathBuf;

/// Key/values for `envi` (besides `zookeeper.version`, which comes from the `ServerView`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvView {
    pub host_name: String,
    pub java_version: String,
    pub java_vendor: String,
    pub java_home: String,
    pub java_class_path: String,
    pub java_library_path: String,
    pub java_io_tmpdir: String,
    pub java_compiler: String,
    pub os_name: String,
    pub os_arch: String,
    pub os_version: String,
    pub user_name: String,
    pub user_home: String,
    pub user_dir: String,
    pub os_memory_free_mb: u64,
    pub os_memory_max_mb: u64,
    pub os_memory_total_mb: u64,
}

impl EnvView {
    /// Reads `/proc`, `/etc/passwd` and environment variables. Never fails.
    pub fn collect() -> EnvView {
        let exe = std::env::current_exe().ok();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        EnvView {
            host_name: read_trim("/proc/sys/kernel/hostname")
                .or_else(|| std::env::var("HOSTNAME").ok())
                .unwrap_or_else(|| "localhost".into()),
            java_version: "rust".into(),
            java_vendor: "zabkeeper".into(),
            java_home: exe.as_ref().and_then(|p| p.parent()).map(|p| p.display().to_string()).unwrap_or_default(),
            java_class_path: exe.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            java_library_path: std::env::var("LD_LIBRARY_PATH").unwrap_or_default(),
            java_io_tmpdir: std::env::temp_dir().display().to_string(),
            java_compiler: "<NA>".into(),
            os_name: match std::env::consts::OS {
                "linux" => "Linux".into(),
                "macos" => "Mac OS X".into(),
                "windows" => "Windows".into(),
                other => other.into(),
            },
            os_arch: match std::env::consts::ARCH {
                "x86_64" => "amd64".into(),
                other => other.into(),
            },
            os_version: read_trim("/proc/sys/kernel/osrelease").unwrap_or_default(),
            user_name: std::env::var("USER").ok().or_else(|| user_from_passwd(&status)).unwrap_or_else(|| "?".into()),
            user_home: std::env::var("HOME").unwrap_or_else(|_| "?".into()),
            user_dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("?")).display().to_string(),
            os_memory_free_mb: kb_field(&meminfo, "MemAvailable:") / 1024,
            os_memory_max_mb: kb_field(&meminfo, "MemTotal:") / 1024,
            os_memory_total_mb: kb_field(&status, "VmRSS:") / 1024,
        }
    }
}

/// `(open, max)` file descriptors of this process, or -1 where unknown (`mntr`).
pub fn process_fd_counts() -> (i64, i64) {
    let open = std::fs::read_dir("/proc/self/fd").map(|d| d.count() as i64).unwrap_or(-1);
    let max = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|line| line.starts_with("Max open files"))
                .and_then(|line| line.split_whitespace().nth(3))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(-1);
    (open, max)
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// The `kB` value of a `/proc` field such as `MemTotal:       16384 kB`.
fn kb_field(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn user_from_passwd(status: &str) -> Option<String> {
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:"))?.split_whitespace().next()?.to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid).then(|| name.to_string())
    })
}

impl EnvView {
    /// The environment as ZooKeeper's `envi` and the AdminServer's `environment` list it, in
    /// ZooKeeper's order, with `version` as `zookeeper.version`.
    pub fn rows<'a>(&'a self, version: &'a str) -> [(&'static str, &'a str); 15] {
        [
            ("zookeeper.version", version),
            ("host.name", &self.host_name),
            ("java.version", &self.java_version),
            ("java.vendor", &self.java_vendor),
            ("java.home", &self.java_home),
            ("java.class.path", &self.java_class_path),
            ("java.library.path", &self.java_library_path),
            ("java.io.tmpdir", &self.java_io_tmpdir),
            ("java.compiler", &self.java_compiler),
            ("os.name", &self.os_name),
            ("os.arch", &self.os_arch),
            ("os.version", &self.os_version),
            ("user.name", &self.user_name),
            ("user.home", &self.user_home),
            ("user.dir", &self.user_dir),
        ]
    }
}
