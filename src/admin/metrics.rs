//! The Prometheus endpoint's body: ZooKeeper 3.8's metric names (those its
//! `PrometheusMetricsProvider` exports for the quantities we keep: the server gauges
//! `ZooKeeperServer.registerMetrics` registers, a leader's, and `ServerMetrics`' fsync summary
//! and counters), plus ours, the stream jobs' checkpoint gauges, rendered in the Prometheus
//! text format by the `prometheus` crate's encoder.
//! Owns: which metric each view field becomes, its type and help text.
//! Must never: do I/O or read server internals: it renders a [`ServerView`] and job rows.

use super::jobs::JobRow;
use super::MetricValue;
use super::ServerView;
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType, Quantile, Summary};
use prometheus::{Encoder, TextEncoder};

/// The `Content-Type` of the body.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

fn family(name: &str, help: &str, ty: MetricType, metrics: Vec<Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.into());
    f.set_help(help.into());
    f.set_field_type(ty);
    f.set_metric(metrics);
    f
}

fn labels(pairs: &[(&str, &str)]) -> Vec<LabelPair> {
    pairs
        .iter()
        .map(|(k, v)| {
            let mut l = LabelPair::default();
            l.set_name((*k).into());
            l.set_value((*v).into());
            l
        })
        .collect()
}

fn gauge_metric(value: f64, label_pairs: &[(&str, &str)]) -> Metric {
    let mut g = Gauge::default();
    g.set_value(value);
    let mut m = Metric::default();
    m.set_gauge(g);
    m.set_label(labels(label_pairs));
    m
}

fn gauge(name: &str, help: &str, value: f64) -> MetricFamily {
    family(name, help, MetricType::GAUGE, vec![gauge_metric(value, &[])])
}

fn counter(name: &str, help: &str, value: u64) -> MetricFamily {
    let mut c = Counter::default();
    c.set_value(value as f64);
    let mut m = Metric::default();
    m.set_counter(c);
    family(name, help, MetricType::COUNTER, vec![m])
}

/// A summary as ZooKeeper's Prometheus provider exports one: count, sum and the quantiles of
/// its detail level (0.5 for a basic summary; 0.5, 0.9 and 0.99 for one with percentiles).
/// ZooKeeper's quantiles cover a sliding window of recent values; ours every value since the
/// start (or `srst`).
fn summary(name: &str, help: &str, s: &crate::stats::Summary, quantiles: &[f64]) -> MetricFamily {
    let mut sum = Summary::default();
    sum.set_sample_count(s.count);
    sum.set_sample_sum(s.sum as f64);
    sum.set_quantile(
        quantiles
            .iter()
            .map(|at| {
                let mut q = Quantile::default();
                q.set_quantile(*at);
                q.set_value(s.quantile(*at) as f64);
                q
            })
            .collect(),
    );
    let mut m = Metric::default();
    m.set_summary(sum);
    family(name, help, MetricType::SUMMARY, vec![m])
}

/// The families for one scrape.
pub fn families(view: &ServerView, jobs: &[JobRow], now_ms: i64) -> Vec<MetricFamily> {
    let v = view;
    let mut out = vec![
        gauge("znode_count", "Number of znodes", v.node_count as f64),
        gauge("watch_count", "Number of watches (data and child)", v.watch_count as f64),
        gauge("ephemerals_count", "Number of ephemeral znodes", v.ephemerals_count as f64),
        gauge("approximate_data_size", "Bytes of znode paths and data", v.approximate_data_size as f64),
        gauge("global_sessions", "Number of global sessions", v.global_sessions as f64),
        gauge("local_sessions", "Number of local sessions", v.local_sessions as f64),
        gauge("num_alive_connections", "Number of client connections", v.num_alive_connections as f64),
        gauge("outstanding_requests", "Requests received and not yet answered", v.outstanding_requests as f64),
        gauge("packets_received", "Client packets received since start or srst", v.packets_received as f64),
        gauge("packets_sent", "Client packets sent since start or srst", v.packets_sent as f64),
        gauge("avg_latency", "Average request latency in ms", v.avg_latency_ms),
        gauge("min_latency", "Minimum request latency in ms", v.min_latency_ms as f64),
        gauge("max_latency", "Maximum request latency in ms", v.max_latency_ms as f64),
        gauge("uptime", "Milliseconds since the server started", v.uptime_ms as f64),
        gauge("open_file_descriptor_count", "Open file descriptors", v.open_file_descriptor_count as f64),
        gauge("max_file_descriptor_count", "Limit on open file descriptors", v.max_file_descriptor_count as f64),
        gauge("last_client_response_size", "Bytes of the last reply", v.client_response.last as f64),
        gauge("min_client_response_size", "Bytes of the smallest reply", v.client_response.min as f64),
        gauge("max_client_response_size", "Bytes of the largest reply", v.client_response.max as f64),
        counter(
            "fsync_threshold_exceed_count",
            "Txn log fsyncs longer than fsync.warningthresholdms",
            v.fsync_threshold_exceed_count,
        ),
        counter("auth_failed_count", "Failed authentications", v.auth_failed_count),
    ];
    for (name, value) in v.metrics.rows(&v.fsync_ms) {
        let help = format!("ZooKeeper's {name} (times in ms)");
        out.push(match value {
            MetricValue::Counter(n) => counter(name, &help, n),
            MetricValue::Basic(s) => summary(name, &help, &s, &[0.5]),
            MetricValue::Percentiles(s) => summary(name, &help, &s, &[0.5, 0.9, 0.99]),
        });
    }
    if let Some(q) = &v.quorum {
        out.push(gauge("quorum_size", "Voting members of the ensemble", q.quorum_size as f64));
        if q.leader {
            out.extend([
                gauge("learners", "Learners connected to this leader", q.learners as f64),
                gauge("synced_followers", "Followers synced with this leader", q.synced_followers as f64),
                gauge("synced_observers", "Observers synced with this leader", q.synced_observers as f64),
                gauge("pending_syncs", "Learners being synced", q.pending_syncs as f64),
                gauge("leader_uptime", "Milliseconds since this member began leading", q.leader_uptime_ms as f64),
                gauge("last_proposal_size", "Bytes of the last proposal", q.last_proposal_size as f64),
                gauge("min_proposal_size", "Bytes of the smallest proposal", q.min_proposal_size as f64),
                gauge("max_proposal_size", "Bytes of the largest proposal", q.max_proposal_size as f64),
            ]);
        }
    }
    // Ours: one series per stream job that has a completed checkpoint.
    let mut ids = Vec::new();
    let mut ages = Vec::new();
    for j in jobs {
        let Some((_, id)) = &j.latest else { continue };
        let pairs = [("job", j.path.as_str()), ("layout", j.layout.name())];
        ids.push(gauge_metric(*id as f64, &pairs));
        if let Some(ms) = j.age_ms(now_ms) {
            ages.push(gauge_metric(ms as f64 / 1000.0, &pairs));
        }
    }
    if !ids.is_empty() {
        out.push(family(
            "checkpoint_latest_id",
            "A stream job's newest completed checkpoint id",
            MetricType::GAUGE,
            ids,
        ));
        out.push(family(
            "checkpoint_age_seconds",
            "Seconds since a stream job's newest completed checkpoint was created",
            MetricType::GAUGE,
            ages,
        ));
    }
    out
}

/// The body of `GET /metrics`.
pub fn render(view: &ServerView, jobs: &[JobRow], now_ms: i64) -> String {
    let mut buf = Vec::new();
    // Encoding fails only on malformed families, which `families` never builds.
    if let Err(e) = TextEncoder::new().encode(&families(view, jobs, now_ms), &mut buf) {
        return format!("# encoding failed: {e}\n");
    }
    String::from_utf8(buf).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::jobs::Layout;
    use crate::admin::QuorumView;

    #[test]
    fn zookeepers_names_types_and_the_jobs_gauges() {
        let mut view = ServerView { node_count: 12, watch_count: 3, ..ServerView::default() };
        let mut fsync = crate::stats::Timing::new();
        fsync.record(2);
        fsync.record(7);
        view.fsync_ms = fsync.summary();
        let mut reads = crate::stats::Timing::new();
        for v in 1..=100 {
            reads.record(v);
        }
        view.metrics.read_latency = reads.summary();
        view.metrics.commit_count = 5;
        view.quorum = Some(QuorumView { leader: true, learners: 2, synced_followers: 2, ..QuorumView::default() });
        let jobs = vec![
            JobRow {
                path: "/checkpoints/etl".into(),
                layout: Layout::Registry,
                latest: Some(("0000000000000000009".into(), 9)),
                latest_ctime_ms: Some(1_000),
                writer_session: Some(1),
                epoch: Some(4),
            },
            JobRow {
                path: "/checkpoints/idle".into(),
                layout: Layout::Registry,
                latest: None,
                latest_ctime_ms: None,
                writer_session: None,
                epoch: None,
            },
        ];
        let text = render(&view, &jobs, 3_500);
        for line in [
            "# TYPE znode_count gauge\nznode_count 12\n",
            "watch_count 3\n",
            "# TYPE fsynctime summary\n",
            "fsynctime{quantile=\"0.5\"} 2\nfsynctime_sum 9\nfsynctime_count 2\n",
            "# TYPE readlatency summary\n",
            "readlatency{quantile=\"0.5\"} 50\nreadlatency{quantile=\"0.9\"} 90\nreadlatency{quantile=\"0.99\"} 99\nreadlatency_sum 5050\nreadlatency_count 100\n",
            "# TYPE commit_count counter\ncommit_count 5\n",
            "election_time{quantile=\"0.5\"} 0\nelection_time_sum 0\nelection_time_count 0\n",
            "# TYPE fsync_threshold_exceed_count counter\n",
            "synced_followers 2\n",
            "checkpoint_latest_id{job=\"/checkpoints/etl\",layout=\"registry\"} 9\n",
            "checkpoint_age_seconds{job=\"/checkpoints/etl\",layout=\"registry\"} 2.5\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
        assert!(!text.contains("idle"), "a job without a checkpoint has no series:\n{text}");
        // Standalone: no ensemble figures.
        let standalone = render(&ServerView::default(), &[], 0);
        assert!(!standalone.contains("quorum_size") && !standalone.contains("checkpoint_"), "{standalone}");
    }
}
