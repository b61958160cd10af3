//! The load generator: N sessions with a configurable pipeline depth each, running one
//! workload against any ZooKeeper-compatible server for a duration, recording per-op latency
//! in an HDR histogram. Workloads: read, write, create, create-seq, delete, mixed, watch
//! (fan-out notify latency), churn (session connect/close), multi.
//! Must never: count an op that failed as done; errors are counted separately.

pub mod hold;
mod raw;
pub mod workload;

use crate::client::{Client, ConnectOptions};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use workload::Workload;

/// One benchmark run's settings.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub server: String,
    pub workload: Workload,
    pub sessions: usize,
    pub pipeline: usize,
    pub payload: usize,
    pub keys: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// Root znode the benchmark works under (created if missing, left in place).
    pub root: String,
    /// For `watch`: number of watching sessions.
    pub watchers: usize,
    /// For `multi`: ops per multi.
    pub multi_ops: usize,
    /// Offered load in ops/s over all workers (0 = as fast as replies allow).
    pub rate: f64,
    /// Stop once this many ops completed (0 = run for `duration`).
    pub stop_after: u64,
    /// For `hold`: data watches each session sets.
    pub watches_per_session: usize,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            server: "127.0.0.1:2181".into(),
            workload: Workload::Read,
            sessions: 8,
            pipeline: 8,
            payload: 100,
            keys: 1000,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(1),
            root: "/zkbench".into(),
            watchers: 100,
            multi_ops: 4,
            rate: 0.0,
            stop_after: 0,
            watches_per_session: 100,
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub workload: String,
    pub server: String,
    pub sessions: usize,
    pub pipeline: usize,
    pub payload: usize,
    pub ops: u64,
    pub errors: u64,
    pub seconds: f64,
    pub ops_per_sec: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
    /// CPU seconds the load generator itself used during the measured window.
    pub client_cpu_seconds: f64,
    /// Latency CDF points: (percentile, micros).
    pub cdf: Vec<(f64, u64)>,
    /// Resident memory of the load generator at the end (reported by `hold`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_rss_kb: Option<u64>,
}

/// Shared recording state of a run.
pub struct Recorder {
    hist: Mutex<Histogram<u64>>,
    pub ops: AtomicU64,
    pub errors: AtomicU64,
    measuring: AtomicBool,
    pub stop: AtomicBool,
    stop_after: u64,
}

impl Recorder {
    fn new(stop_after: u64) -> Recorder {
        Recorder {
            hist: Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")),
            ops: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            measuring: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            stop_after,
        }
    }

    /// Records a finished op (ignored during warm-up).
    pub fn done(&self, latency: Duration, ok: bool, local: &mut Histogram<u64>) {
        if !self.measuring.load(Ordering::Relaxed) {
            return;
        }
        if ok {
            let n = self.ops.fetch_add(1, Ordering::Relaxed) + 1;
            if self.stop_after > 0 && n >= self.stop_after {
                self.stop.store(true, Ordering::Relaxed);
            }
            let _ = local.record((latency.as_micros() as u64).max(1));
        } else {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Folds a worker's local histogram in (workers record locally: no lock per op).
    pub fn merge(&self, local: &Histogram<u64>) {
        if let Ok(mut h) = self.hist.lock() {
            let _ = h.add(local);
        }
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// A fresh per-worker histogram.
pub fn local_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

/// Connects a session with a generous timeout.
pub async fn connect(server: &str) -> Result<Client, String> {
    let opts = ConnectOptions { timeout_ms: 30_000, ..ConnectOptions::default() };
    Client::connect(server, opts).await.map(|(c, _)| c).map_err(|e| format!("connect to {server}: {e}"))
}

fn cpu_seconds() -> f64 {
    // utime + stime of this process from /proc (Linux); 0 elsewhere.
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    let after = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Runs one benchmark and reports.
pub async fn run(cfg: BenchConfig) -> Result<BenchReport, String> {
    if cfg.workload == Workload::Hold {
        return hold::run(&cfg).await;
    }
    let rec = Arc::new(Recorder::new(cfg.stop_after));
    let handles = workload::start(&cfg, rec.clone()).await?;
    tokio::time::sleep(cfg.warmup).await;
    rec.measuring.store(true, Ordering::Relaxed);
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    while t0.elapsed() < cfg.duration && !rec.stopped() {
        tokio::time::sleep(Duration::from_millis(20).min(cfg.duration)).await;
    }
    rec.measuring.store(false, Ordering::Relaxed);
    let seconds = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    rec.stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = tokio::time::timeout(Duration::from_secs(30), h).await;
    }
    let hist = rec.hist.lock().map_err(|_| "histogram lock poisoned")?.clone();
    let ops = rec.ops.load(Ordering::Relaxed);
    let cdf = [0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.99, 100.0]
        .iter()
        .map(|p| (*p, hist.value_at_percentile(*p)))
        .collect();
    Ok(BenchReport {
        ops,
        errors: rec.errors.load(Ordering::Relaxed),
        seconds,
        ops_per_sec: ops as f64 / seconds,
        client_cpu_seconds: cpu,
        cdf,
        ..BenchReport::from_histogram(&cfg, &hist)
    })
}

impl BenchReport {
    /// A report of `cfg`'s run with the latency figures of `hist`; counts, times and CPU
    /// are left at zero for the caller to fill in.
    pub fn from_histogram(cfg: &BenchConfig, hist: &Histogram<u64>) -> BenchReport {
        BenchReport {
            workload: cfg.workload.name(),
            server: cfg.server.clone(),
            sessions: cfg.sessions,
            pipeline: cfg.pipeline,
            payload: cfg.payload,
            ops: 0,
            errors: 0,
            seconds: 0.0,
            ops_per_sec: 0.0,
            p50_us: hist.value_at_quantile(0.5),
            p90_us: hist.value_at_quantile(0.9),
            p99_us: hist.value_at_quantile(0.99),
            p999_us: hist.value_at_quantile(0.999),
            max_us: hist.max(),
            mean_us: hist.mean(),
            client_cpu_seconds: 0.0,
            cdf: Vec::new(),
            client_rss_kb: None,
        }
    }

    /// One human-readable line.
    pub fn line(&self) -> String {
        format!(
            "{:<12} {:>10.0} ops/s  p50 {:>7}us  p99 {:>7}us  p99.9 {:>7}us  max {:>8}us  errors {}  client-cpu {:.1}s/{:.1}s",
            self.workload,
            self.ops_per_sec,
            self.p50_us,
            self.p99_us,
            self.p999_us,
            self.max_us,
            self.errors,
            self.client_cpu_seconds,
            self.seconds
        )
    }
}
