//! Administration: ZooKeeper's four-letter words, rendered from plain data views, and the
//! stream jobs found in the tree ([`jobs`]).
//! Owns: [`ServerView`] / [`ConnectionView`] (what the words print), [`EnvView`] (process
//! environment for `envi`), the whitelist decision and ZooKeeper 3.8's exact output formats.
//! Must never: do socket I/O, reach into server internals or mutate server state. The server
//! fills a `ServerView`, calls [`four_letter`], writes the text and closes the connection; for
//! `crst`/`srst` it also performs the reset named by [`stat_reset`]. The AdminServer's JSON
//! commands ([`commands`]) render from the same views.

pub mod commands;
mod env;
pub mod fourlw;
pub mod jobs;
pub mod metrics;
pub mod server_metrics;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_commands;

pub use env::{process_fd_counts, EnvView};
pub use fourlw::{
    four_letter, is_enabled, is_four_letter_word, stat_reset, word_name, FourLetterReply, StatReset, KNOWN_WORDS,
};
pub use server_metrics::{MetricValue, ServerMetrics};

use std::net::SocketAddr;

/// The ZooKeeper release whose wire protocol and 4lw formats we follow.
pub const ZOOKEEPER_COMPAT_VERSION: &str = "3.8.4";

/// `3.8.4-zabkeeper-<crate version>, built on <date>`: tools that parse
/// `Zookeeper version: 3.x` keep working. The date comes from `ZABKEEPER_BUILD_DATE` at compile
/// time when set.
pub fn version_string() -> String {
    format!(
        "{}-zabkeeper-{}, built on {}",
        ZOOKEEPER_COMPAT_VERSION,
        env!("CARGO_PKG_VERSION"),
        option_env!("ZABKEEPER_BUILD_DATE").unwrap_or("unknown date")
    )
}

pub(crate) use crate::stats::round4;
pub use crate::stats::Summary;

/// Everything the four-letter words print, gathered by the server at the time of the request.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerView {
    /// Usually [`version_string`].
    pub version: String,
    /// False while starting/stopping: most words then print ZooKeeper's "not currently serving".
    pub serving: bool,
    /// Read-only mode (`isro` prints `ro`, `srvr` adds ZooKeeper's READ-ONLY line).
    pub read_only: bool,
    /// ZooKeeper's server state, printed as `Mode:` and `zk_server_state`:
    /// "standalone", "leader", "follower", "observer" or "read-only".
    pub mode: String,
    /// Last processed zxid.
    pub zxid: i64,
    pub node_count: u64,
    pub min_latency_ms: u64,
    /// Printed rounded to 4 places like ZooKeeper's `AvgMinMaxCounter`.
    pub avg_latency_ms: f64,
    pub max_latency_ms: u64,
    pub packets_received: u64,
    pub packets_sent: u64,
    pub outstanding_requests: u64,
    pub num_alive_connections: u64,
    /// Data + child watches (`zk_watch_count`).
    pub watch_count: u64,
    /// Data/exists watches by session id, for `wchs`/`wchc`/`wchp` (ZooKeeper lists only data
    /// watches there). Order does not matter; output is sorted.
    pub data_watches: Vec<(i64, Vec<String>)>,
    pub ephemerals_count: u64,
    pub approximate_data_size: u64,
    pub open_file_descriptor_count: i64,
    pub max_file_descriptor_count: i64,
    pub connections: Vec<ConnectionView>,
    pub uptime_ms: u64,
    pub global_sessions: u64,
    pub local_sessions: u64,
    pub auth_failed_count: u64,
    pub fsync_ms: Summary,
    /// Latencies, the ensemble's timings and counters, startup and snapshot times.
    pub metrics: ServerMetrics,
    /// Bytes of snapshots / txn logs under `version-2` (`conf`, `dirs`).
    pub data_dir_size: u64,
    pub data_log_size: u64,
    /// The bound client port when it differs from the config (e.g. `clientPort=0`).
    pub client_port_bound: Option<u16>,
    /// `gtmk`'s trace mask.
    pub trace_mask: i64,
    /// An ensemble member's figures (None standalone).
    pub quorum: Option<QuorumView>,
    /// Sizes in bytes of replies to requests (ZooKeeper's `client_response` buffer stats).
    pub client_response: BufferSizes,
    /// Log fsyncs longer than `fsync.warningthresholdms`.
    pub fsync_threshold_exceed_count: u64,
    /// The newest snapshot file: (zxid, modification time in seconds since the epoch).
    pub last_snapshot: Option<(i64, i64)>,
    /// Expiry time (ms of the session clock) → session ids due then, for `dump`. Filled only
    /// for the commands that print it.
    pub session_expiry: Vec<(i64, Vec<i64>)>,
    /// Session id → its ephemeral paths, for `dump`. Filled only for the commands that print it.
    pub ephemerals: Vec<(i64, Vec<String>)>,
    /// Stream jobs' checkpoints (registry and Flink HA layouts) with the wall clock in ms they
    /// are aged against, for `checkpoints`. Filled only for the command that prints them.
    pub checkpoint_jobs: Vec<jobs::JobRow>,
    pub now_ms: i64,
    /// A learner's `dump`: its global sessions and their timeouts in ms (ZooKeeper's learners
    /// keep no expiry buckets; `session_expiry` is then empty).
    pub learner_sessions: Option<Vec<(i64, i64)>>,
    /// The session clock (ms) at `now_ms`, to turn `session_expiry` times into wall time.
    pub session_clock_ms: i64,
}

/// ZooKeeper's `BufferStats`: last, smallest and largest size, each -1 before the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferSizes {
    pub last: i64,
    pub min: i64,
    pub max: i64,
}

impl Default for BufferSizes {
    fn default() -> Self {
        BufferSizes { last: -1, min: -1, max: -1 }
    }
}

/// What `mntr` adds on an ensemble member (ZooKeeper 3.8's key names).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuorumView {
    /// `zk_peer_state`: "leading - broadcast", "following - broadcast", "looking", …
    pub peer_state: String,
    /// `zk_quorum_size`: the voting members.
    pub quorum_size: u64,
    /// Leader only from here on.
    pub leader: bool,
    /// `zk_leader_uptime`, ms since this member started leading.
    pub leader_uptime_ms: u64,
    pub learners: u64,
    pub synced_followers: u64,
    pub synced_observers: u64,
    pub pending_syncs: u64,
    pub last_proposal_size: u64,
    pub min_proposal_size: u64,
    pub max_proposal_size: u64,
    /// This member's id (`myid`).
    pub my_id: i64,
    /// The leader this member follows or is (-1 while looking).
    pub leader_id: i64,
    /// ZooKeeper's `ZabState` in lower case: "election", "discovery", "synchronization" or
    /// "broadcast".
    pub zab_state: String,
    /// Leader only: the observers synced with it, by sid.
    pub observers: Vec<i64>,
}

impl Default for ServerView {
    fn default() -> Self {
        ServerView {
            version: version_string(),
            serving: true,
            read_only: false,
            mode: "standalone".into(),
            quorum: None,
            zxid: 0,
            node_count: 0,
            min_latency_ms: 0,
            avg_latency_ms: 0.0,
            max_latency_ms: 0,
            packets_received: 0,
            packets_sent: 0,
            outstanding_requests: 0,
            num_alive_connections: 0,
            watch_count: 0,
            data_watches: Vec::new(),
            ephemerals_count: 0,
            approximate_data_size: 0,
            open_file_descriptor_count: -1,
            max_file_descriptor_count: -1,
            connections: Vec::new(),
            uptime_ms: 0,
            global_sessions: 0,
            local_sessions: 0,
            auth_failed_count: 0,
            fsync_ms: Summary::default(),
            metrics: ServerMetrics::default(),
            data_dir_size: 0,
            data_log_size: 0,
            client_port_bound: None,
            trace_mask: 306,
            client_response: BufferSizes::default(),
            fsync_threshold_exceed_count: 0,
            last_snapshot: None,
            session_expiry: Vec::new(),
            ephemerals: Vec::new(),
            checkpoint_jobs: Vec::new(),
            now_ms: 0,
            session_clock_ms: 0,
            learner_sessions: None,
        }
    }
}

/// What the AdminServer reads from disk for a command (gathered off the node loop by the HTTP
/// shell): the sizes of the snapshot and log directories and the newest snapshot file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskView {
    pub data_dir_size: u64,
    pub data_log_size: u64,
    /// (zxid, modification time in seconds since the epoch).
    pub last_snapshot: Option<(i64, i64)>,
}

/// One client connection as `stat`/`cons` print it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionView {
    pub remote: SocketAddr,
    /// NIO interest ops (1 = read, 4 = write; 0 when throttled/closing).
    pub interest_ops: u32,
    pub queued: u64,
    pub recved: u64,
    pub sent: u64,
    /// 0 before the session handshake; `cons` prints session details only when non-zero.
    pub session_id: i64,
    /// Four-letter op name of the last request (`GETD`, `SETD`, …), `NA` if none.
    pub last_op: String,
    /// Epoch milliseconds when the connection was established.
    pub established_ms: i64,
    pub timeout_ms: u32,
    pub last_cxid: i32,
    pub last_zxid: i64,
    /// Epoch milliseconds of the last response.
    pub last_response_ms: i64,
    /// Epoch milliseconds of the last request read (`dump` ages a connection from it).
    pub last_active_ms: i64,
    pub last_latency_ms: u64,
    pub min_latency_ms: u64,
    pub avg_latency_ms: u64,
    pub max_latency_ms: u64,
}

impl ConnectionView {
    /// A connection that has not completed a handshake yet.
    pub fn new(remote: SocketAddr) -> Self {
        ConnectionView {
            remote,
            interest_ops: 1,
            queued: 0,
            recved: 0,
            sent: 0,
            session_id: 0,
            last_op: "NA".into(),
            established_ms: 0,
            timeout_ms: 0,
            last_cxid: -1,
            last_zxid: -1,
            last_response_ms: 0,
            last_active_ms: 0,
            last_latency_ms: 0,
            min_latency_ms: 0,
            avg_latency_ms: 0,
            max_latency_ms: 0,
        }
    }
}
