//! Server configuration: one typed, validated [`Config`] built from a `zoo.cfg` (Java properties)
//! or from built-in standalone defaults.
//! Owns: key names (including ZooKeeper's system-property spellings), defaults, value parsing,
//! validation with line-numbered errors, `server.N` lines, and reading `<dataDir>/myid`.
//! Must never: open sockets, create directories, log (warnings are returned to the caller, who
//! reports them once), or read anything besides the config file and the `myid` file.
//!
//! Defaults follow ZooKeeper 3.8 except where our spec differs (see [`Config::standalone_default`]):
//! `autopurge.purgeInterval` is 1 hour (ZooKeeper: 0 = off) and `4lw.commands.whitelist` is
//! `ruok,srvr,stat,envi,conf,mntr,isro` (ZooKeeper: `srvr`, plus `isro` in read-only mode).
//! A missing `myid` file with `server.N` lines is a warning here (ZooKeeper: an error), because
//! ensemble mode is not implemented yet; a present but malformed one is an error.

mod props;
mod server;
#[cfg(test)]
mod tests;
mod values;

pub use server::{PeerRole, ServerSpec};
pub(crate) use values::resolve_host;
use values::{boolean, int, invalid, ip, jute_int, path_value, port, strict_bool, timeout};

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// Four-letter words enabled by default (our spec; ZooKeeper enables only `srvr`).
pub const DEFAULT_FOUR_LETTER_WORDS: &[&str] = &["ruok", "srvr", "stat", "envi", "conf", "mntr", "isro"];

/// Keys ZooKeeper reads as Java system properties; accepted here with or without `zookeeper.`.
const SYSPROP_KEYS: &[&str] = &[
    "DigestAuthenticationProvider.superDigest",
    "superDigest",
    "extendedTypesEnabled",
    "readonlymode.enabled",
    "jute.maxbuffer",
    "znode.container.checkIntervalMs",
    "znode.container.maxPerMinute",
    "skipACL",
    "snapCount",
    "preAllocSize",
    "globalOutstandingLimit",
    "nio.sessionlessCnxnTimeout",
    "4lw.commands.whitelist",
    "forceSync",
    "fsync.warningthresholdms",
    "admin.enableServer",
    "admin.serverAddress",
    "admin.serverPort",
];

/// Why a configuration was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("line {line}: invalid value {value:?} for {key}: {reason}")]
    Invalid { line: usize, key: String, value: String, reason: String },
    #[error("{key} is not set")]
    Missing { key: String },
    #[error("myid file {path}: {reason}")]
    MyId { path: PathBuf, reason: String },
}

/// Which four-letter words may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WordList {
    /// `*`: every known word.
    All,
    Only(BTreeSet<String>),
}

impl WordList {
    pub fn allows(&self, word: &str) -> bool {
        match self {
            WordList::All => true,
            WordList::Only(set) => set.contains(word),
        }
    }

    /// Parses ZooKeeper's comma-separated list; `*` anywhere means all.
    pub fn parse(text: &str) -> WordList {
        let words: BTreeSet<String> =
            text.split(',').map(str::trim).filter(|w| !w.is_empty()).map(str::to_string).collect();
        if words.contains("*") {
            WordList::All
        } else {
            WordList::Only(words)
        }
    }
}

/// The whole server configuration. Session timeouts are `None` until set: use the accessors,
/// which apply ZooKeeper's tickTime-based defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub tick_time: u32,
    pub init_limit: u32,
    pub sync_limit: u32,
    pub data_dir: PathBuf,
    pub data_log_dir: PathBuf,
    /// 0 asks the OS for a free port.
    pub client_port: u16,
    /// `::` (the default with a config file, as ZooKeeper's wildcard) listens on IPv6 and
    /// IPv4 where the system allows both; `0.0.0.0` on IPv4 only.
    pub client_port_address: IpAddr,
    /// Accepted and reported by `conf`; TLS is not implemented.
    pub secure_client_port: Option<u16>,
    /// -1 = OS default.
    pub client_port_listen_backlog: i32,
    /// Per client IP; 0 = unlimited.
    pub max_client_cnxns: u32,
    pub min_session_timeout: Option<u32>,
    pub max_session_timeout: Option<u32>,
    pub snap_count: u64,
    pub pre_alloc_size_kb: u64,
    /// Requests read but not yet answered, server-wide; past it, connections that already
    /// have one outstanding stop being read.
    pub global_outstanding_limit: u32,
    /// Replies queued for one connection but not yet written to its socket; past it, the
    /// connection stops being read, and it is closed if it stays past it for a session
    /// timeout (zabkeeper's own key, `clientMaxUnsentBytes`).
    pub client_max_unsent_bytes: u64,
    /// A connection that has not sent its handshake within this is closed
    /// (ZooKeeper's `zookeeper.nio.sessionlessCnxnTimeout`).
    pub sessionless_cnxn_timeout_ms: u64,
    pub autopurge_snap_retain_count: u32,
    /// Hours between purges; 0 = off.
    pub autopurge_purge_interval_hours: u32,
    pub jute_max_buffer: u32,
    pub four_letter_words: WordList,
    /// `user:base64(sha1(user:password))`.
    pub super_digest: Option<String>,
    pub skip_acl: bool,
    /// Ours: every read on an ensemble member waits for a read-index round (as if a sync came
    /// first), so it sees every write completed anywhere before it. A connection can ask for
    /// it with `addauth linearizable on` (and leave it with `off`).
    pub linearizable_reads: bool,
    pub extended_types_enabled: bool,
    pub read_only_mode_enabled: bool,
    pub container_check_interval_ms: u64,
    pub container_max_per_minute: u32,
    pub force_sync: bool,
    pub fsync_warning_threshold_ms: u64,
    pub standalone_enabled: bool,
    pub reconfig_enabled: bool,
    pub local_sessions_enabled: bool,
    pub local_sessions_upgrading_enabled: bool,
    pub admin_enable_server: bool,
    pub admin_server_address: IpAddr,
    pub admin_server_port: u16,
    /// The config file's text as read (the AdminServer's `initial_configuration`); None for a
    /// config not read from text.
    pub initial_config: Option<String>,
    /// ZooKeeper's metrics provider: `/metrics` is served (Prometheus text format) on
    /// `metricsProvider.httpHost:httpPort` when the class is ZooKeeper's
    /// `org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider`; any other class
    /// (ZooKeeper's default has no endpoint) serves nothing.
    pub metrics_provider_class_name: Option<String>,
    pub metrics_provider_http_host: IpAddr,
    pub metrics_provider_http_port: u16,
    pub servers: Vec<ServerSpec>,
    pub myid: Option<u64>,
    pub peer_type: PeerRole,
    pub election_alg: u32,
    pub quorum_listen_on_all_ips: bool,
    pub cnx_timeout_ms: u32,
    pub sync_enabled: bool,
    /// The checkpoint registry (ours: `checkpoints.enabled`, `checkpoints.root`,
    /// `checkpoints.maxCheckpointBytes`); see `prep::registry`.
    pub checkpoints_enabled: bool,
    pub checkpoints_root: String,
    pub checkpoints_max_bytes: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config::standalone_default()
    }
}

/// ZooKeeper's Prometheus metrics provider class.
pub const PROMETHEUS_PROVIDER: &str = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";

impl Config {
    /// Whether `/metrics` is served: the metrics provider is ZooKeeper's Prometheus one.
    pub fn prometheus_enabled(&self) -> bool {
        self.metrics_provider_class_name.as_deref() == Some(PROMETHEUS_PROVIDER)
    }

    /// The config used without a file: 127.0.0.1:2181, dataDir `./data`, tickTime 2000,
    /// everything else at ZooKeeper's defaults (except purge interval and 4lw list, see module doc).
    pub fn standalone_default() -> Config {
        let data = PathBuf::from("./data");
        Config {
            tick_time: 2000,
            init_limit: 10,
            sync_limit: 5,
            data_log_dir: data.clone(),
            data_dir: data,
            client_port: 2181,
            client_port_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            secure_client_port: None,
            client_port_listen_backlog: -1,
            max_client_cnxns: 60,
            min_session_timeout: None,
            max_session_timeout: None,
            snap_count: 100_000,
            pre_alloc_size_kb: 65_536,
            global_outstanding_limit: 1000,
            client_max_unsent_bytes: 1 << 20,
            sessionless_cnxn_timeout_ms: 10_000,
            autopurge_snap_retain_count: 3,
            autopurge_purge_interval_hours: 1,
            jute_max_buffer: 0xfffff,
            four_letter_words: WordList::Only(DEFAULT_FOUR_LETTER_WORDS.iter().map(|w| w.to_string()).collect()),
            super_digest: None,
            skip_acl: false,
            linearizable_reads: false,
            extended_types_enabled: false,
            read_only_mode_enabled: false,
            container_check_interval_ms: 60_000,
            container_max_per_minute: 10_000,
            force_sync: true,
            fsync_warning_threshold_ms: 1000,
            standalone_enabled: true,
            reconfig_enabled: false,
            local_sessions_enabled: false,
            local_sessions_upgrading_enabled: false,
            admin_enable_server: true,
            admin_server_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            admin_server_port: 8080,
            initial_config: None,
            metrics_provider_class_name: None,
            metrics_provider_http_host: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            metrics_provider_http_port: 7000,
            servers: Vec::new(),
            myid: None,
            peer_type: PeerRole::Participant,
            election_alg: 3,
            quorum_listen_on_all_ips: false,
            cnx_timeout_ms: 5000,
            sync_enabled: true,
            checkpoints_enabled: true,
            checkpoints_root: "/checkpoints".into(),
            checkpoints_max_bytes: 256 * 1024,
        }
    }

    /// Reads and parses a zoo.cfg. Relative paths are resolved against the current directory,
    /// as ZooKeeper does. Warnings are dropped; use [`Config::from_str`] to get them.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        Self::from_file_with_warnings(path).map(|(cfg, _)| cfg)
    }

    /// Like [`Config::from_file`], also returning warnings for the caller to log once.
    pub fn from_file_with_warnings(path: &Path) -> Result<(Config, Vec<String>), ConfigError> {
        let io = |source| ConfigError::Io { path: path.to_path_buf(), source };
        let text = std::fs::read_to_string(path).map_err(io)?;
        let cwd = std::env::current_dir().map_err(io)?;
        Self::from_str(&text, Some(&cwd))
    }

    /// Parses zoo.cfg text. `base` is the directory relative `dataDir`/`dataLogDir` are resolved
    /// against (`None` keeps them relative to the process's working directory). `dataDir` is
    /// required and `clientPortAddress` defaults to the wildcard address of both stacks, as for
    /// any ZooKeeper config file.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str, base: Option<&Path>) -> Result<(Config, Vec<String>), ConfigError> {
        let mut cfg = Config {
            client_port_address: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            initial_config: Some(text.to_string()),
            ..Config::standalone_default()
        };
        let mut warnings = Vec::new();
        let mut data_dir = None;
        let mut data_log_dir = None;
        let mut min_line = 0;
        let mut max_line = 0;
        for e in props::parse(text) {
            let key = canonical(&e.key);
            match key {
                "tickTime" => cfg.tick_time = int(&e, 1, i32::MAX as i64, "must be > 0")? as u32,
                "initLimit" => cfg.init_limit = int(&e, 1, i32::MAX as i64, "must be > 0")? as u32,
                "syncLimit" => cfg.sync_limit = int(&e, 1, i32::MAX as i64, "must be > 0")? as u32,
                "dataDir" => data_dir = Some(path_value(&e)?),
                "dataLogDir" => data_log_dir = Some(path_value(&e)?),
                "clientPort" => cfg.client_port = port(&e)?,
                "clientPortAddress" => cfg.client_port_address = ip(&e)?,
                "secureClientPort" => cfg.secure_client_port = Some(port(&e)?),
                "clientPortListenBacklog" => {
                    cfg.client_port_listen_backlog = int(&e, -1, i32::MAX as i64, "must be >= -1")? as i32
                }
                "maxClientCnxns" => cfg.max_client_cnxns = int(&e, 0, i32::MAX as i64, "must be >= 0")? as u32,
                "minSessionTimeout" => {
                    cfg.min_session_timeout = timeout(&e)?;
                    min_line = e.line;
                }
                "maxSessionTimeout" => {
                    cfg.max_session_timeout = timeout(&e)?;
                    max_line = e.line;
                }
                "snapCount" => cfg.snap_count = int(&e, 2, i32::MAX as i64, "must be >= 2")? as u64,
                "preAllocSize" => cfg.pre_alloc_size_kb = int(&e, 1, i64::MAX / 1024, "must be > 0 (KB)")? as u64,
                "globalOutstandingLimit" => {
                    cfg.global_outstanding_limit = int(&e, 1, i32::MAX as i64, "must be > 0")? as u32
                }
                "clientMaxUnsentBytes" => {
                    cfg.client_max_unsent_bytes = int(&e, 4096, i64::MAX, "must be >= 4096 (bytes)")? as u64
                }
                "nio.sessionlessCnxnTimeout" => {
                    cfg.sessionless_cnxn_timeout_ms = int(&e, 1, i32::MAX as i64, "must be > 0 (ms)")? as u64
                }
                "autopurge.snapRetainCount" => {
                    let n = int(&e, i32::MIN as i64, i32::MAX as i64, "")?;
                    if n < 3 {
                        warnings.push(format!(
                            "line {}: autopurge.snapRetainCount={} is below the minimum; using 3",
                            e.line, e.value
                        ));
                    }
                    cfg.autopurge_snap_retain_count = n.max(3) as u32;
                }
                "autopurge.purgeInterval" => {
                    cfg.autopurge_purge_interval_hours = int(&e, i32::MIN as i64, i32::MAX as i64, "")?.max(0) as u32
                }
                "jute.maxbuffer" => cfg.jute_max_buffer = jute_int(&e)?,
                "4lw.commands.whitelist" => cfg.four_letter_words = WordList::parse(&e.value),
                "superDigest" | "DigestAuthenticationProvider.superDigest" => {
                    if !e.value.contains(':') {
                        return Err(invalid(&e, "expected user:base64digest"));
                    }
                    cfg.super_digest = Some(e.value.clone());
                }
                "skipACL" => cfg.skip_acl = boolean(&e)?,
                "linearizableReads" => cfg.linearizable_reads = boolean(&e)?,
                "extendedTypesEnabled" => cfg.extended_types_enabled = boolean(&e)?,
                "readonlymode.enabled" => cfg.read_only_mode_enabled = boolean(&e)?,
                "znode.container.checkIntervalMs" => {
                    cfg.container_check_interval_ms = int(&e, 1, i64::MAX, "must be > 0")? as u64
                }
                "znode.container.maxPerMinute" => {
                    cfg.container_max_per_minute = int(&e, 1, i32::MAX as i64, "must be > 0")? as u32
                }
                "forceSync" => cfg.force_sync = boolean(&e)?,
                "fsync.warningthresholdms" => {
                    cfg.fsync_warning_threshold_ms = int(&e, 0, i64::MAX, "must be >= 0")? as u64
                }
                "standaloneEnabled" => cfg.standalone_enabled = strict_bool(&e)?,
                "reconfigEnabled" => cfg.reconfig_enabled = strict_bool(&e)?,
                "localSessionsEnabled" => cfg.local_sessions_enabled = boolean(&e)?,
                "localSessionsUpgradingEnabled" => cfg.local_sessions_upgrading_enabled = boolean(&e)?,
                "admin.enableServer" => cfg.admin_enable_server = boolean(&e)?,
                "admin.serverAddress" => cfg.admin_server_address = ip(&e)?,
                "admin.serverPort" => cfg.admin_server_port = port(&e)?,
                "metricsProvider.className" => cfg.metrics_provider_class_name = Some(e.value.clone()),
                "metricsProvider.httpPort" => cfg.metrics_provider_http_port = port(&e)?,
                "metricsProvider.httpHost" => cfg.metrics_provider_http_host = ip(&e)?,
                "peerType" => {
                    cfg.peer_type = match e.value.to_ascii_lowercase().as_str() {
                        "participant" => PeerRole::Participant,
                        "observer" => PeerRole::Observer,
                        _ => return Err(invalid(&e, "expected participant or observer")),
                    }
                }
                "electionAlg" => cfg.election_alg = int(&e, 3, 3, "only 3 (fast leader election) is supported")? as u32,
                "quorumListenOnAllIPs" => cfg.quorum_listen_on_all_ips = boolean(&e)?,
                "cnxTimeout" => cfg.cnx_timeout_ms = int(&e, 1, i32::MAX as i64, "must be > 0")? as u32,
                "syncEnabled" => cfg.sync_enabled = boolean(&e)?,
                "checkpoints.enabled" => cfg.checkpoints_enabled = boolean(&e)?,
                "checkpoints.root" => {
                    if e.value == "/" || crate::proto::path::validate(&e.value, false).is_err() {
                        return Err(invalid(&e, "expected an absolute znode path other than /"));
                    }
                    cfg.checkpoints_root = e.value.clone();
                }
                "checkpoints.maxCheckpointBytes" => {
                    cfg.checkpoints_max_bytes = int(&e, 1, i32::MAX as i64, "must be > 0 (bytes)")? as u32
                }
                k if k.starts_with("server.") => {
                    let spec =
                        ServerSpec::parse(&k["server.".len()..], &e.value).map_err(|reason| invalid(&e, &reason))?;
                    if cfg.servers.iter().any(|s| s.id == spec.id) {
                        return Err(invalid(&e, &format!("server id {} is listed twice", spec.id)));
                    }
                    cfg.servers.push(spec);
                }
                k if k.starts_with("metricsProvider.") => {}
                _ => warnings.push(format!("line {}: unknown key {:?} ignored", e.line, e.key)),
            }
        }

        let data_dir = data_dir.ok_or_else(|| ConfigError::Missing { key: "dataDir".into() })?;
        cfg.data_dir = resolve(base, data_dir);
        cfg.data_log_dir = match data_log_dir {
            Some(d) => resolve(base, d),
            None => cfg.data_dir.clone(),
        };

        let (min, max) = (cfg.min_session_timeout_ms(), cfg.max_session_timeout_ms());
        if min > max {
            let (line, key, value) =
                if min_line > 0 { (min_line, "minSessionTimeout", min) } else { (max_line, "maxSessionTimeout", max) };
            return Err(ConfigError::Invalid {
                line,
                key: key.into(),
                value: value.to_string(),
                reason: format!("minSessionTimeout ({min}) must not be larger than maxSessionTimeout ({max})"),
            });
        }

        cfg.servers.sort_by_key(|s| s.id);
        if !cfg.servers.is_empty() {
            cfg.read_myid(&mut warnings)?;
        }
        Ok((cfg, warnings))
    }

    fn read_myid(&mut self, warnings: &mut Vec<String>) -> Result<(), ConfigError> {
        let path = self.data_dir.join("myid");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                warnings.push(format!(
                    "server.N lines are present but {} is missing; needed to run in an ensemble",
                    path.display()
                ));
                return Ok(());
            }
            Err(e) => return Err(ConfigError::MyId { path, reason: e.to_string() }),
        };
        let id: u64 = text.trim().parse().map_err(|_| ConfigError::MyId {
            path: path.clone(),
            reason: format!("{:?} is not a server id", text.trim()),
        })?;
        if !self.servers.iter().any(|s| s.id == id) {
            return Err(ConfigError::MyId { path, reason: format!("my id {id} is not in the server.N list") });
        }
        self.myid = Some(id);
        Ok(())
    }

    /// The address clients connect to: this server's `server.N` client address if it has one,
    /// else `clientPortAddress:clientPort`.
    pub fn client_addr(&self) -> SocketAddr {
        if let Some(me) = self.my_server() {
            if let Some(port) = me.client_port {
                return SocketAddr::new(me.client_addr.unwrap_or(self.client_port_address), port);
            }
        }
        SocketAddr::new(self.client_port_address, self.client_port)
    }

    /// The checkpoint registry's settings, or None when it is switched off.
    pub fn registry(&self) -> Option<crate::prep::RegistryOptions> {
        self.checkpoints_enabled.then(|| crate::prep::RegistryOptions {
            root: self.checkpoints_root.clone(),
            max_checkpoint_bytes: self.checkpoints_max_bytes as usize,
        })
    }

    /// The `server.N` entry for `myid`, if both are known.
    pub fn my_server(&self) -> Option<&ServerSpec> {
        let id = self.myid?;
        self.servers.iter().find(|s| s.id == id)
    }

    /// ZooKeeper's `serverId` (0 when standalone).
    pub fn server_id(&self) -> u64 {
        self.myid.unwrap_or(0)
    }

    /// True when no ensemble is configured (or a single server with standaloneEnabled).
    pub fn is_standalone(&self) -> bool {
        self.servers.is_empty() || (self.servers.len() == 1 && self.standalone_enabled)
    }

    pub fn tick_time_ms(&self) -> u32 {
        self.tick_time
    }

    /// `minSessionTimeout`, default 2 × tickTime.
    pub fn min_session_timeout_ms(&self) -> u32 {
        self.min_session_timeout.unwrap_or(self.tick_time.saturating_mul(2))
    }

    /// `maxSessionTimeout`, default 20 × tickTime.
    pub fn max_session_timeout_ms(&self) -> u32 {
        self.max_session_timeout.unwrap_or(self.tick_time.saturating_mul(20))
    }

    /// Clamps a client's requested session timeout into [min, max], as ZooKeeper does.
    pub fn negotiate_session_timeout(&self, requested_ms: i32) -> u32 {
        let (min, max) = (self.min_session_timeout_ms(), self.max_session_timeout_ms());
        (requested_ms.max(0) as u32).clamp(min, max)
    }

    /// Purge interval, or `None` when autopurge is off.
    pub fn purge_interval(&self) -> Option<std::time::Duration> {
        (self.autopurge_purge_interval_hours > 0)
            .then(|| std::time::Duration::from_secs(u64::from(self.autopurge_purge_interval_hours) * 3600))
    }

    pub fn pre_alloc_size_bytes(&self) -> u64 {
        self.pre_alloc_size_kb * 1024
    }

    /// `None` = unlimited.
    pub fn max_client_cnxns_per_ip(&self) -> Option<u32> {
        (self.max_client_cnxns > 0).then_some(self.max_client_cnxns)
    }

    /// ZooKeeper keeps snapshots and logs in a `version-2` subdirectory.
    pub fn snap_dir(&self) -> PathBuf {
        self.data_dir.join("version-2")
    }

    pub fn txn_log_dir(&self) -> PathBuf {
        self.data_log_dir.join("version-2")
    }

    pub fn four_letter_word_enabled(&self, word: &str) -> bool {
        self.four_letter_words.allows(word)
    }
}

/// Resolves a `server.N` host (an IP literal, `localhost`, or a name resolved once).
pub fn resolve_host_ip(host: &str) -> Result<std::net::IpAddr, String> {
    resolve_host(host)
}

fn canonical(key: &str) -> &str {
    match key.strip_prefix("zookeeper.") {
        Some(rest) if SYSPROP_KEYS.contains(&rest) => rest,
        _ => key,
    }
}

fn resolve(base: Option<&Path>, p: PathBuf) -> PathBuf {
    match base {
        Some(b) if p.is_relative() => b.join(p),
        _ => p,
    }
}
