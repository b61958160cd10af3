//! The Prometheus endpoint over real HTTP: served only with ZooKeeper's Prometheus provider
//! class, scraped while clients write, every scrape parsed by a Prometheus text-format parser
//! (the `prometheus-parse` crate): ZooKeeper's metric names with their types, figures that
//! follow the load, and the stream jobs' checkpoint gauges.

mod common;
mod ensemble_support;
mod zk_support;

use bytes::Bytes;
use prometheus_parse::{Scrape, Value};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use zabkeeper::client::{Client, ConnectOptions};
use zabkeeper::config::PROMETHEUS_PROVIDER;
use zabkeeper::proto::codes::op;
use zabkeeper::proto::records::{Acl, CreateTtlRequest, PathVersionRequest};
use zabkeeper::proto::request::MultiOp;

/// `GET path` as HTTP/1.0: (status, content type, body).
fn http_get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect to /metrics");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status");
    let ctype = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type:").map(|v| v.trim().to_string()))
        .unwrap_or_default();
    (status, ctype, body.to_string())
}

/// One scrape, parsed: metric name (+ sorted labels) → value, and the declared types.
struct Parsed {
    samples: HashMap<String, f64>,
    summaries: HashMap<String, usize>,
    docs: HashMap<String, String>,
}

fn scrape(addr: SocketAddr) -> Parsed {
    let (status, ctype, body) = http_get(addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let parsed = Scrape::parse(lines).unwrap_or_else(|e| panic!("not the Prometheus text format ({e}):\n{body}"));
    let mut samples = HashMap::new();
    let mut summaries = HashMap::new();
    for s in parsed.samples {
        let mut labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        let key = if labels.is_empty() { s.metric.clone() } else { format!("{}{{{}}}", s.metric, labels.join(",")) };
        match s.value {
            Value::Gauge(v) | Value::Counter(v) | Value::Untyped(v) => {
                samples.insert(key, v);
            }
            Value::Summary(qs) => {
                summaries.insert(key, qs.len());
            }
            Value::Histogram(_) => panic!("no histograms are exported: {key}"),
        }
    }
    Parsed { samples, summaries, docs: parsed.docs }
}

fn value(p: &Parsed, key: &str) -> f64 {
    *p.samples.get(key).unwrap_or_else(|| panic!("{key} missing; have {:?}", p.samples.keys()))
}

fn opts() -> ConnectOptions {
    ConnectOptions { timeout_ms: 30_000, connect_timeout: Duration::from_secs(5), ..Default::default() }
}

fn open_acl() -> Vec<Acl> {
    vec![Acl::new(31, "world", "anyone")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_the_load_in_zookeepers_names() {
    let srv = common::start_server_with(|c| {
        c.metrics_provider_class_name = Some(PROMETHEUS_PROVIDER.into());
        c.metrics_provider_http_host = "127.0.0.1".parse().unwrap();
        c.metrics_provider_http_port = 0;
    })
    .await;
    let addr = srv.handle.as_ref().unwrap().metrics_addr.expect("the metrics endpoint bound port 0");
    let (status, _, _) = tokio::task::spawn_blocking(move || http_get(addr, "/nope")).await.unwrap();
    assert_eq!(status, 404);

    let before = tokio::task::spawn_blocking(move || scrape(addr)).await.unwrap();
    for (name, doc_needed) in [
        ("znode_count", true),
        ("watch_count", true),
        ("ephemerals_count", true),
        ("num_alive_connections", true),
        ("outstanding_requests", true),
        ("global_sessions", true),
        ("packets_received", true),
        ("packets_sent", true),
        ("approximate_data_size", true),
        ("fsync_threshold_exceed_count", true),
    ] {
        value(&before, name);
        assert_eq!(before.docs.contains_key(name), doc_needed, "{name} has HELP");
    }
    assert!(!before.samples.contains_key("quorum_size"), "standalone: no ensemble figures");

    // Four writers, 200 creates each (one ephemeral per writer), while we scrape.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let connect = srv.connect_string();
            tokio::spawn(async move {
                let (c, _) = Client::connect(&connect, opts()).await.expect("connect");
                c.create(&format!("/e{w}"), None, None, 1, 0).await.expect("ephemeral");
                for i in 0..200 {
                    c.create(&format!("/w{w}-{i}"), Some(b"x"), None, 0, 0).await.expect("create");
                }
                c
            })
        })
        .collect();
    let mut scrapes = 0;
    while !writers.iter().all(|w| w.is_finished()) && scrapes < 500 {
        let p = tokio::task::spawn_blocking(move || scrape(addr)).await.unwrap();
        assert!(value(&p, "znode_count") >= value(&before, "znode_count"));
        scrapes += 1;
    }
    let mut clients = Vec::new();
    for w in writers {
        clients.push(w.await.expect("writer"));
    }
    let after = tokio::task::spawn_blocking(move || scrape(addr)).await.unwrap();
    assert!(scrapes >= 1, "scraped during the load");
    assert_eq!(value(&after, "znode_count"), value(&before, "znode_count") + 804.0);
    assert_eq!(value(&after, "ephemerals_count"), 4.0);
    assert_eq!(value(&after, "num_alive_connections"), 4.0);
    assert_eq!(value(&after, "global_sessions"), 4.0);
    assert!(value(&after, "packets_received") >= 804.0);
    assert!(value(&after, "fsynctime_count") > value(&before, "fsynctime_count"));
    assert!(value(&after, "fsynctime_sum") >= 0.0);
    assert_eq!(after.summaries.get("fsynctime"), Some(&1), "a basic summary: its median");
    // Request latencies as ZooKeeper's percentile summaries; counters that follow the load.
    assert_eq!(after.summaries.get("updatelatency"), Some(&3), "quantiles 0.5, 0.9 and 0.99");
    assert_eq!(after.summaries.get("readlatency"), Some(&3));
    assert!(value(&after, "updatelatency_count") >= 804.0);
    assert!(value(&after, "connection_request_count") >= 4.0);
    assert!(value(&after, "bytes_received_count") > value(&before, "bytes_received_count"));
    assert!(value(&after, "response_bytes") > value(&before, "response_bytes"));
    assert_eq!(value(&after, "dbinittime_count"), 1.0);
    assert_eq!(value(&after, "proposal_count"), 0.0, "standalone proposes nothing");

    // A registry job with a committed checkpoint gets its gauges.
    let c = &clients[0];
    c.create("/checkpoints", None, None, 0, 0).await.expect("root");
    c.create("/checkpoints/etl", Some(br#"{"retain": 2}"#), None, 0, 0).await.expect("job");
    let (_, lease) = c.create("/checkpoints/etl/leader", Some(b"jm"), None, 1, 0).await.expect("lease");
    let name = zabkeeper::prep::checkpoint_name(7);
    let data = format!(r#"{{"id": 7, "location": "s3://b/7", "size": 1, "epoch": {}}}"#, lease.czxid);
    let req = CreateTtlRequest {
        path: format!("/checkpoints/etl/completed/{name}"),
        data: Some(Bytes::from(data)),
        acl: open_acl(),
        flags: 0,
        ttl: 0,
    };
    c.multi(&[
        MultiOp::Check(PathVersionRequest { path: "/checkpoints/etl/leader".into(), version: -1 }),
        MultiOp::Create { op: op::CREATE, req },
    ])
    .await
    .expect("commit");
    let jobs = tokio::task::spawn_blocking(move || scrape(addr)).await.unwrap();
    let labels = "{job=/checkpoints/etl,layout=registry}";
    assert_eq!(value(&jobs, &format!("checkpoint_latest_id{labels}")), 7.0);
    let age = value(&jobs, &format!("checkpoint_age_seconds{labels}"));
    assert!((0.0..600.0).contains(&age), "{age}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_zookeepers_prometheus_provider_serves_metrics() {
    let deadline = Instant::now() + Duration::from_secs(60);
    for class in [None, Some("org.apache.zookeeper.metrics.impl.DefaultMetricsProvider")] {
        let srv = common::start_server_with(|c| {
            c.metrics_provider_class_name = class.map(String::from);
            c.metrics_provider_http_port = 0;
        })
        .await;
        assert_eq!(srv.handle.as_ref().unwrap().metrics_addr, None, "{class:?}");
        assert!(Instant::now() < deadline);
    }
}

/// Polls until `ok` holds for a scrape of `addr`, returning that scrape.
async fn scrape_until(addr: SocketAddr, what: &str, ok: impl Fn(&Parsed) -> bool) -> Parsed {
    let until = Instant::now() + ensemble_support::DEADLINE;
    loop {
        let p = tokio::task::spawn_blocking(move || scrape(addr)).await.unwrap();
        if ok(&p) {
            return p;
        }
        assert!(Instant::now() < until, "{what}: never seen on {addr}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Three members, each scraped: the leader's gauges and its proposal figures, the followers'
/// received proposals and commit propagation, everyone's election time.
#[test]
fn an_ensembles_members_export_their_part() {
    let mut e = ensemble_support::Ensemble::new(3, 0);
    let ports = e.enable_metrics();
    e.start_all();
    let leader = e.wait_for_roles();
    let addr = |i: usize| SocketAddr::from(([127, 0, 0, 1], ports[i]));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let follower = (leader + 1) % 3;
        let (c, _) = Client::connect(&e.members[follower].hostport(), opts()).await.expect("connect");
        for i in 0..50 {
            c.create(&format!("/m{i}"), Some(b"x"), None, 0, 0).await.expect("create through a follower");
        }
        let p = scrape_until(addr(leader), "the leader's proposals", |p| {
            p.samples.get("synced_followers") == Some(&2.0)
                && p.samples.get("proposal_count").is_some_and(|n| *n >= 50.0)
        })
        .await;
        assert_eq!(value(&p, "quorum_size"), 3.0);
        assert_eq!(value(&p, "learners"), 2.0);
        assert!(value(&p, "commit_count") >= 50.0);
        assert!(value(&p, "quorum_ack_latency_count") >= 50.0);
        assert_eq!(p.summaries.get("quorum_ack_latency"), Some(&3));
        assert!(value(&p, "election_time_count") >= 1.0);
        assert!(value(&p, "looking_count") >= 1.0);
        for i in (0..3).filter(|i| *i != leader) {
            let p = scrape_until(addr(i), "a follower's commits", |p| {
                p.samples.get("learner_commit_received_count").is_some_and(|n| *n >= 50.0)
            })
            .await;
            assert_eq!(value(&p, "quorum_size"), 3.0);
            assert!(!p.samples.contains_key("synced_followers"), "leader-only gauges on a follower");
            assert!(value(&p, "learner_proposal_received_count") >= 50.0);
            assert!(value(&p, "commit_propagation_latency_count") >= 50.0);
            assert_eq!(value(&p, "proposal_count"), 0.0);
            assert!(value(&p, "follower_sync_time_count") >= 1.0);
            assert!(value(&p, "election_time_count") >= 1.0);
        }
        let _ = c.close().await;
    });
}
