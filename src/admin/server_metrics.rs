//! The part of ZooKeeper 3.8's `ServerMetrics` we keep: request latencies, the ensemble's
//! timings and counters, startup and snapshot times, each under ZooKeeper's name and of
//! ZooKeeper's kind (a counter, a basic summary or a summary with percentiles).
//! Owns: [`ServerMetrics`] (filled by the server), the one table of names and kinds
//! ([`ServerMetrics::rows`]) that `mntr`, the AdminServer's `monitor` and `/metrics` all print
//! from, and the `mntr`/`monitor` key names of a summary ([`flat_rows`]).
//! Must never: measure anything or reach into the server; it renders what it is given.

use super::Summary;

/// One metric's value and kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetricValue {
    Counter(u64),
    /// ZooKeeper's `AvgMinMaxCounter` (`DetailLevel.BASIC`): avg/min/max/cnt/sum in `mntr`,
    /// quantile 0.5 on `/metrics`.
    Basic(Summary),
    /// ZooKeeper's `AvgMinMaxPercentileCounter` (`DetailLevel.ADVANCED`): also p50/p95/p99/p999
    /// in `mntr`, quantiles 0.5/0.9/0.99 on `/metrics`.
    Percentiles(Summary),
}

/// The metrics the server keeps beyond the plain gauges; values in ms unless named otherwise.
/// Every member has them all (an unused one stays zero, as in ZooKeeper).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerMetrics {
    /// Request latency of reads (and syncs, pings) and of writes.
    pub read_latency: Summary,
    pub update_latency: Summary,
    /// Learners: from a txn's time to its commit here.
    pub commit_propagation_latency: Summary,
    /// Leader: from proposing a txn to a quorum's ACKs.
    pub quorum_ack_latency: Summary,
    pub snapshot_time: Summary,
    /// From starting to look for a leader to the election's result.
    pub election_time: Summary,
    /// A follower's or an observer's sync with its leader (DIFF/TRUNC/SNAP to UPTODATE).
    pub follower_sync_time: Summary,
    pub observer_sync_time: Summary,
    /// Startup: loading the whole database, its snapshot, and replaying the log (time and
    /// number of txns).
    pub db_init_time: Summary,
    pub startup_snap_load_time: Summary,
    pub startup_txns_load_time: Summary,
    pub startup_txns_loaded: Summary,
    /// Leader: txns proposed and committed; learners synced by SNAP and by DIFF.
    pub proposal_count: u64,
    pub commit_count: u64,
    pub snap_count: u64,
    pub diff_count: u64,
    /// Times this member started looking for a leader.
    pub looking_count: u64,
    /// Learners: PROPOSALs and COMMITs (or INFORMs) received from the leader.
    pub learner_proposal_received_count: u64,
    pub learner_commit_received_count: u64,
    /// Client connections accepted and bytes read from clients.
    pub connection_request_count: u64,
    pub bytes_received_count: u64,
    /// Connections refused, and closed for want of a handshake in time.
    pub connection_rejected: u64,
    pub sessionless_connections_expired: u64,
    /// Bytes of all replies to requests.
    pub response_bytes: u64,
    /// Txns made durable by one fsync.
    pub sync_processor_batch_size: Summary,
}

impl ServerMetrics {
    /// Every metric under ZooKeeper's name, `fsync` (kept by the log writer) among them.
    pub fn rows(&self, fsync: &Summary) -> Vec<(&'static str, MetricValue)> {
        use MetricValue::{Basic, Counter, Percentiles};
        vec![
            ("readlatency", Percentiles(self.read_latency)),
            ("updatelatency", Percentiles(self.update_latency)),
            ("commit_propagation_latency", Percentiles(self.commit_propagation_latency)),
            ("quorum_ack_latency", Percentiles(self.quorum_ack_latency)),
            ("fsynctime", Basic(*fsync)),
            ("snapshottime", Basic(self.snapshot_time)),
            ("election_time", Basic(self.election_time)),
            ("follower_sync_time", Basic(self.follower_sync_time)),
            ("observer_sync_time", Basic(self.observer_sync_time)),
            ("dbinittime", Basic(self.db_init_time)),
            ("startup_snap_load_time", Basic(self.startup_snap_load_time)),
            ("startup_txns_load_time", Basic(self.startup_txns_load_time)),
            ("startup_txns_loaded", Basic(self.startup_txns_loaded)),
            ("proposal_count", Counter(self.proposal_count)),
            ("commit_count", Counter(self.commit_count)),
            ("snap_count", Counter(self.snap_count)),
            ("diff_count", Counter(self.diff_count)),
            ("looking_count", Counter(self.looking_count)),
            ("learner_proposal_received_count", Counter(self.learner_proposal_received_count)),
            ("learner_commit_received_count", Counter(self.learner_commit_received_count)),
            ("connection_request_count", Counter(self.connection_request_count)),
            ("bytes_received_count", Counter(self.bytes_received_count)),
            ("connection_rejected", Counter(self.connection_rejected)),
            ("sessionless_connections_expired", Counter(self.sessionless_connections_expired)),
            ("response_bytes", Counter(self.response_bytes)),
            ("sync_processor_batch_size", Basic(self.sync_processor_batch_size)),
        ]
    }
}

/// A flat value: `mntr` prints a double as Java does, the AdminServer as a JSON number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Flat {
    Int(u64),
    Double(f64),
}

/// The keys ZooKeeper's `mntr` (with `zk_` before them) and `monitor` give each metric:
/// `name` for a counter; `avg_`, `min_`, `max_`, `cnt_`, `sum_` + name for a summary, and
/// `p50_`, `p95_`, `p99_`, `p999_` + name for one with percentiles.
pub fn flat_rows(rows: &[(&'static str, MetricValue)]) -> Vec<(String, Flat)> {
    let mut out = Vec::new();
    for (name, v) in rows {
        let s = match v {
            MetricValue::Counter(n) => {
                out.push((name.to_string(), Flat::Int(*n)));
                continue;
            }
            MetricValue::Basic(s) | MetricValue::Percentiles(s) => s,
        };
        out.push((format!("avg_{name}"), Flat::Double(s.avg())));
        out.push((format!("min_{name}"), Flat::Int(s.min)));
        out.push((format!("max_{name}"), Flat::Int(s.max)));
        out.push((format!("cnt_{name}"), Flat::Int(s.count)));
        out.push((format!("sum_{name}"), Flat::Int(s.sum)));
        if matches!(v, MetricValue::Percentiles(_)) {
            for (label, q) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("p999", 0.999)] {
                out.push((format!("{label}_{name}"), Flat::Int(s.quantile(q))));
            }
        }
    }
    out
}
