//! The workloads of the load generator: what each worker task sends, and the set-up each
//! needs (keys created before the clock starts).
//! Must never: leave a worker running after `Recorder::stop`.

use super::{connect, local_histogram, BenchConfig, Recorder};
use crate::client::Client;
use crate::proto::codes::{add_watch_mode, ErrorCode};
use crate::proto::records::SetDataRequest;
use crate::proto::request::MultiOp;
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Which load to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Read,
    Write,
    Create,
    CreateSeq,
    Delete,
    /// Percentage of reads; the rest are writes.
    Mixed(u8),
    Watch,
    Churn,
    Multi,
    /// Many sessions holding data watches, for memory measurements (see `hold`).
    Hold,
}

impl Workload {
    pub fn parse(s: &str) -> Result<Workload, String> {
        Ok(match s {
            "read" => Workload::Read,
            "write" => Workload::Write,
            "create" => Workload::Create,
            "create-seq" => Workload::CreateSeq,
            "delete" => Workload::Delete,
            "watch" => Workload::Watch,
            "churn" => Workload::Churn,
            "multi" => Workload::Multi,
            "hold" => Workload::Hold,
            m if m.starts_with("mixed") => {
                let pct = m.strip_prefix("mixed").and_then(|r| r.strip_prefix(':')).unwrap_or("90");
                Workload::Mixed(
                    pct.parse().ok().filter(|p: &u8| *p <= 100).ok_or(format!("bad read percentage in {m}"))?,
                )
            }
            other => return Err(format!("unknown workload {other}")),
        })
    }

    pub fn name(&self) -> String {
        match self {
            Workload::Read => "read".into(),
            Workload::Write => "write".into(),
            Workload::Create => "create".into(),
            Workload::CreateSeq => "create-seq".into(),
            Workload::Delete => "delete".into(),
            Workload::Mixed(p) => format!("mixed:{p}"),
            Workload::Watch => "watch".into(),
            Workload::Churn => "churn".into(),
            Workload::Multi => "multi".into(),
            Workload::Hold => "hold".into(),
        }
    }
}

/// A tiny xorshift generator: workers pick keys without locks or allocation.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

async fn ensure(c: &Client, path: &str, data: Option<&[u8]>) -> Result<(), String> {
    match c.create(path, data, None, 0, 0).await {
        Ok(_) | Err(crate::client::ClientError::Server(ErrorCode::NodeExists)) => Ok(()),
        Err(e) => Err(format!("create {path}: {e}")),
    }
}

pub(super) async fn setup_keys(cfg: &BenchConfig) -> Result<(), String> {
    let c = Arc::new(connect(&cfg.server).await?);
    ensure(&c, &cfg.root, None).await?;
    for sub in ["k", "c", "seq", "d"] {
        ensure(&c, &format!("{}/{sub}", cfg.root), None).await?;
    }
    let payload = vec![b'x'; cfg.payload];
    // Pipelined set-up: 64 creates in flight at a time.
    let mut i = 0;
    while i < cfg.keys {
        let mut batch = Vec::new();
        for j in i..(i + 64).min(cfg.keys) {
            let c = c.clone();
            let p = format!("{}/k/{j}", cfg.root);
            let d = payload.clone();
            batch.push(tokio::spawn(async move { ensure(&c, &p, Some(&d)).await }));
        }
        for b in batch {
            b.await.map_err(|e| e.to_string())??;
        }
        i += 64;
    }
    let _ = c.close().await;
    Ok(())
}

/// Sets up and spawns the workers; they run until `rec.stop`.
pub async fn start(cfg: &BenchConfig, rec: Arc<Recorder>) -> Result<Vec<JoinHandle<()>>, String> {
    setup_keys(cfg).await?;
    if cfg.workload == Workload::Watch {
        return start_watch(cfg, rec).await;
    }
    if cfg.rate == 0.0 && super::raw::handles(cfg.workload) {
        return super::raw::start(cfg, rec).await;
    }
    let mut handles = Vec::new();
    for s in 0..cfg.sessions {
        let client = if cfg.workload == Workload::Churn { None } else { Some(Arc::new(connect(&cfg.server).await?)) };
        for t in 0..cfg.pipeline {
            let cfg = cfg.clone();
            let rec = rec.clone();
            let client = client.clone();
            handles.push(tokio::spawn(async move {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((s as u64) << 20 | t as u64 | 1));
                let mut hist = local_histogram();
                let payload = Bytes::from(vec![b'y'; cfg.payload]);
                let mut n: u64 = 0;
                // With an offered rate, each worker sends on its own fixed schedule and latency
                // is measured from the scheduled time (no coordinated omission). The workers'
                // schedules are staggered across one interval, so requests arrive evenly rather
                // than all workers firing together once per interval.
                let workers = (cfg.sessions * cfg.pipeline).max(1) as f64;
                let interval = (cfg.rate > 0.0).then(|| std::time::Duration::from_secs_f64(workers / cfg.rate));
                let index = (s * cfg.pipeline + t) as f64;
                let mut next = Instant::now() + interval.map_or(Duration::ZERO, |iv| iv.mul_f64(index / workers));
                while !rec.stopped() {
                    n += 1;
                    let started = match interval {
                        Some(iv) => {
                            let due = next;
                            next += iv;
                            if Instant::now() < due {
                                tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
                                // The timer wakes up to a millisecond late (tokio's timer wheel);
                                // that delay is the generator's, not the server's.
                                Instant::now()
                            } else {
                                // Behind schedule because earlier replies were slow: the wait counts.
                                due
                            }
                        }
                        None => Instant::now(),
                    };
                    let ok = match &client {
                        Some(c) => one_op(&cfg, c, &mut rng, &payload, s, t, n, &mut hist, &rec).await,
                        None => Some(churn_once(&cfg.server).await),
                    };
                    if let Some(ok) = ok {
                        rec.done(started.elapsed(), ok, &mut hist);
                    }
                    if client.as_ref().is_some_and(|c| c.is_closed()) {
                        // The connection is gone: stop rather than spin on instant failures.
                        rec.errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
                rec.merge(&hist);
            }));
        }
    }
    Ok(handles)
}

async fn churn_once(server: &str) -> bool {
    match connect(server).await {
        Ok(c) => c.close().await.is_ok(),
        Err(_) => false,
    }
}

#[allow(clippy::too_many_arguments)]
async fn one_op(
    cfg: &BenchConfig,
    c: &Client,
    rng: &mut Rng,
    payload: &Bytes,
    s: usize,
    t: usize,
    n: u64,
    hist: &mut hdrhistogram::Histogram<u64>,
    rec: &Recorder,
) -> Option<bool> {
    let key = |rng: &mut Rng| format!("{}/k/{}", cfg.root, rng.below(cfg.keys));
    Some(match cfg.workload {
        Workload::Read => c.get_data(&key(rng), false).await.is_ok(),
        Workload::Write => c.set_data(&key(rng), Some(payload), -1).await.is_ok(),
        Workload::Mixed(pct) => {
            if rng.below(100) < pct as usize {
                c.get_data(&key(rng), false).await.is_ok()
            } else {
                c.set_data(&key(rng), Some(payload), -1).await.is_ok()
            }
        }
        Workload::Create => c.create(&format!("{}/c/{s}-{t}-{n}", cfg.root), Some(payload), None, 0, 0).await.is_ok(),
        Workload::CreateSeq => c.create(&format!("{}/seq/n-", cfg.root), Some(payload), None, 2, 0).await.is_ok(),
        Workload::Delete => {
            // Each delete needs a znode: create it first, outside the measured latency.
            let p = format!("{}/d/{s}-{t}-{n}", cfg.root);
            if c.create(&p, Some(payload), None, 0, 0).await.is_err() {
                return Some(false);
            }
            let started = Instant::now();
            let ok = c.delete(&p, -1).await.is_ok();
            rec.done(started.elapsed(), ok, hist);
            return None;
        }
        Workload::Multi => {
            let ops: Vec<MultiOp> = (0..cfg.multi_ops)
                .map(|_| MultiOp::SetData(SetDataRequest { path: key(rng), data: Some(payload.clone()), version: -1 }))
                .collect();
            c.multi(&ops).await.is_ok()
        }
        Workload::Watch | Workload::Churn | Workload::Hold => false,
    })
}

/// Watch fan-out: `watchers` sessions hold a persistent watch on one znode; one writer sets
/// it, and each round waits until every watcher saw the change. Latency = write sent → event
/// received, per watcher.
async fn start_watch(cfg: &BenchConfig, rec: Arc<Recorder>) -> Result<Vec<JoinHandle<()>>, String> {
    let target = format!("{}/watched", cfg.root);
    let writer = connect(&cfg.server).await?;
    ensure(&writer, &target, Some(b"0")).await?;
    let epoch = Instant::now();
    let sent_at = Arc::new(AtomicU64::new(0));
    let seen = Arc::new(AtomicU64::new(0));
    let round_done = Arc::new(tokio::sync::Notify::new());
    let mut handles = Vec::new();
    for _ in 0..cfg.watchers {
        let opts = crate::client::ConnectOptions { timeout_ms: 30_000, ..Default::default() };
        let (c, mut events) =
            Client::connect(&cfg.server, opts).await.map_err(|e| format!("connect {}: {e}", cfg.server))?;
        c.add_watch(&target, add_watch_mode::PERSISTENT).await.map_err(|e| format!("addWatch: {e}"))?;
        let (rec, sent_at, seen, done, n) =
            (rec.clone(), sent_at.clone(), seen.clone(), round_done.clone(), cfg.watchers);
        handles.push(tokio::spawn(async move {
            let _keep = c;
            let mut hist = local_histogram();
            while let Some(ev) = events.recv().await {
                if ev.path.is_none() || rec.stopped() {
                    break;
                }
                let now = epoch.elapsed().as_micros() as u64;
                let lat = now.saturating_sub(sent_at.load(Ordering::Acquire));
                rec.done(std::time::Duration::from_micros(lat), true, &mut hist);
                if seen.fetch_add(1, Ordering::AcqRel) + 1 == n as u64 {
                    done.notify_one();
                }
            }
            rec.merge(&hist);
        }));
    }
    let payload = vec![b'z'; cfg.payload];
    let (rec2, target2) = (rec.clone(), target.clone());
    handles.push(tokio::spawn(async move {
        while !rec2.stopped() {
            seen.store(0, Ordering::Release);
            sent_at.store(epoch.elapsed().as_micros() as u64, Ordering::Release);
            if writer.set_data(&target2, Some(&payload), -1).await.is_err() {
                break;
            }
            if tokio::time::timeout(std::time::Duration::from_secs(10), round_done.notified()).await.is_err() {
                rec2.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        // One more change wakes the watchers so they see `stop`.
        let _ = writer.set_data(&target2, Some(b"end"), -1).await;
        let _ = writer.close().await;
    }));
    Ok(handles)
}
