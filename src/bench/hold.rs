//! The `hold` workload: opens many sessions, has each set data watches (`exists` with watch)
//! on the benchmark's keys, then holds them all open, pinging, for the run's duration, so
//! that the server's memory can be measured while it carries them. It speaks the protocol on
//! raw sockets (one small buffer per session, no task per session while holding) so that
//! 10,000 sessions cost the load generator little.
//! Must never: count a session or a watch the server did not confirm, or keep a session
//! past the hold (every socket is closed when the run ends).

use super::raw::{connect, read_frame};
use super::{BenchConfig, BenchReport};
use crate::proto::codes::{op, xid};
use crate::proto::frame::write_frame;
use crate::proto::jute::{Jute, Reader};
use crate::proto::records::{PathWatchRequest, ReplyHeader, RequestHeader};
use bytes::BytesMut;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Session timeout asked for (both servers' default maximum with tickTime 2000).
const SESSION_TIMEOUT_MS: i32 = 40_000;
/// Every held session is pinged this often, well inside any timeout a server negotiates.
const PING_EVERY: Duration = Duration::from_secs(5);
/// Sessions being set up at once.
const SETUP_CONCURRENCY: usize = 256;

/// Opens one session and sets a data watch on each of `paths`. Returns the socket and the
/// number of watches the server confirmed (an `exists` answered OK or NONODE sets one).
/// A held socket is only ever used through `try_read` / `try_write` by the pinger.
async fn open_session(server: &str, paths: &[String]) -> Result<(TcpStream, usize), String> {
    let (mut s, mut buf) = connect(server, SESSION_TIMEOUT_MS).await?;
    let mut out = BytesMut::with_capacity(paths.len() * 48);
    for (i, p) in paths.iter().enumerate() {
        write_frame(&mut out, |w| {
            RequestHeader { xid: i as i32 + 1, type_: op::EXISTS }.write(w);
            PathWatchRequest { path: p.clone(), watch: true }.write(w);
        });
    }
    s.write_all(&out).await.map_err(|e| e.to_string())?;
    let mut ok = 0;
    for _ in paths {
        let f = read_frame(&mut s, &mut buf).await?;
        let h = ReplyHeader::read(&mut Reader::new(&f)).map_err(|e| format!("reply header: {e}"))?;
        // 0 (exists) and -101 (NONODE) both leave a watch behind.
        if h.err == 0 || h.err == -101 {
            ok += 1;
        }
    }
    Ok((s, ok))
}

fn rss_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Pings every held session every `PING_EVERY` (set-up can take longer than a session
/// timeout, so the first sessions are pinged while later ones are still being opened) and
/// keeps `lost` at the number of sessions that failed the latest round.
async fn ping_loop(held: Arc<Mutex<Vec<TcpStream>>>, lost: Arc<AtomicUsize>, stop: Arc<AtomicBool>) {
    let mut ping = BytesMut::new();
    write_frame(&mut ping, |w| RequestHeader { xid: xid::PING, type_: op::PING }.write(w));
    let mut sink = vec![0u8; 4096];
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if last.elapsed() < PING_EVERY {
            continue;
        }
        last = Instant::now();
        let socks = held.lock().unwrap_or_else(|e| e.into_inner());
        let mut gone = 0;
        for s in socks.iter() {
            // Drain what came in (ping replies), then ping. A full socket buffer only delays
            // the ping; a closed connection or a write error loses the session.
            let mut closed = false;
            loop {
                match s.try_read(&mut sink) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(_) => continue,
                    Err(_) => break,
                }
            }
            let failed = matches!(s.try_write(&ping), Err(e) if e.kind() != std::io::ErrorKind::WouldBlock);
            if closed || failed {
                gone += 1;
            }
        }
        lost.store(gone, Ordering::Relaxed);
    }
}

/// Runs the hold workload: set-up (timed), then the hold for `cfg.duration`.
pub async fn run(cfg: &BenchConfig) -> Result<BenchReport, String> {
    if cfg.watches_per_session > cfg.keys {
        return Err(format!(
            "hold: --watches-per-session {} needs at least as many --keys (each session watches distinct znodes)",
            cfg.watches_per_session
        ));
    }
    super::workload::setup_keys(cfg).await?;
    let cpu0 = super::cpu_seconds();
    let started = Instant::now();
    let keys: Arc<Vec<String>> = Arc::new((0..cfg.keys.max(1)).map(|k| format!("{}/k/{k}", cfg.root)).collect());
    let per = cfg.watches_per_session;
    let held: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::with_capacity(cfg.sessions)));
    let (lost, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
    let pinger = tokio::spawn(ping_loop(held.clone(), lost.clone(), stop.clone()));
    let permits = Arc::new(Semaphore::new(SETUP_CONCURRENCY));
    let mut tasks = Vec::with_capacity(cfg.sessions);
    for s in 0..cfg.sessions {
        let (keys, permits, server, held) = (keys.clone(), permits.clone(), cfg.server.clone(), held.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire_owned().await.map_err(|e| e.to_string())?;
            let paths: Vec<String> = (0..per).map(|j| keys[(s * per + j) % keys.len()].clone()).collect();
            let t0 = Instant::now();
            let (sock, ok) = open_session(&server, &paths).await?;
            held.lock().unwrap_or_else(|e| e.into_inner()).push(sock);
            Ok::<_, String>((ok, t0.elapsed()))
        }));
    }
    let mut opened = 0usize;
    let mut watches = 0u64;
    let mut hist = super::local_histogram();
    let mut first_err = None;
    for t in tasks {
        match t.await.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok((ok, lat)) => {
                opened += 1;
                watches += ok as u64;
                let _ = hist.record((lat.as_micros() as u64).max(1));
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    let setup = started.elapsed().as_secs_f64();
    let finish = |pinger: tokio::task::JoinHandle<()>| {
        stop.store(true, Ordering::Relaxed);
        async move {
            let _ = pinger.await;
        }
    };
    if let Some(e) = first_err {
        finish(pinger).await;
        return Err(format!("{} of {} sessions failed to open; first error: {e}", cfg.sessions - opened, cfg.sessions));
    }
    // Tell whoever watches stdout that everything is in place (compare.py measures now).
    println!("holding {opened} sessions with {watches} watches (set up in {setup:.1} s)");
    let _ = std::io::stdout().flush();
    tokio::time::sleep(cfg.duration).await;
    finish(pinger).await;
    let client_rss = rss_kb();
    let cpu = super::cpu_seconds() - cpu0;
    held.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let lost = lost.load(Ordering::Relaxed);
    if lost > 0 {
        return Err(format!("{lost} sessions were closed by the server or could not be pinged during the hold"));
    }
    Ok(BenchReport {
        sessions: opened,
        pipeline: per,
        ops: watches,
        errors: (cfg.sessions * per) as u64 - watches,
        seconds: setup,
        ops_per_sec: watches as f64 / setup.max(1e-9),
        client_cpu_seconds: cpu,
        client_rss_kb: Some(client_rss),
        ..BenchReport::from_histogram(cfg, &hist)
    })
}
