//! The load generator works end to end: every workload runs briefly against a server and
//! completes operations without errors. (Figures are measured by the benchmark command, not
//! asserted here.)

mod common;

use std::time::Duration;
use zabkeeper::bench::{self, BenchConfig, Workload};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workload_completes_operations() {
    let srv = common::start_server().await;
    for w in ["read", "write", "create", "create-seq", "delete", "mixed:70", "watch", "churn", "multi", "hold"] {
        let cfg = BenchConfig {
            server: srv.connect_string(),
            workload: Workload::parse(w).unwrap(),
            sessions: 2,
            pipeline: 2,
            payload: 32,
            keys: 20,
            duration: Duration::from_millis(400),
            warmup: Duration::from_millis(100),
            watchers: 3,
            watches_per_session: 5,
            ..BenchConfig::default()
        };
        let r = bench::run(cfg).await.unwrap_or_else(|e| panic!("{w}: {e}"));
        assert!(r.ops > 0, "{w} completed no operations: {r:?}");
        if w != "watch" {
            assert_eq!(r.errors, 0, "{w} had errors: {r:?}");
        }
        assert!(r.p50_us > 0 && r.p50_us <= r.p99_us && r.p99_us <= r.max_us, "{w}: {r:?}");
    }
    assert!(Workload::parse("bogus").is_err());
}
