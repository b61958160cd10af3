//! The group-commit log writer: a dedicated thread that owns the `TxnLog`, appends whatever is
//! queued, fsyncs once per batch and reports `Durable::UpTo(zxid)`.
//!
//! Owns: the `TxnLog` while it runs, and the fsync statistics.
//! Must never: report a zxid durable before its fsync returned, keep going after an I/O error
//! (it reports `Durable::Failed` and stops), or block its callers (sends are non-blocking).

use super::wal::TxnLog;
use super::{Result, StorageError};
use crate::stats::SharedTiming;
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;
use tokio::sync::{mpsc::UnboundedSender, oneshot};

/// Durability notifications from the writer thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Durable {
    /// Every appended record with zxid ≤ this is on disk. Monotonic.
    UpTo(i64),
    /// The log failed; nothing further will become durable. The server must stop acking.
    Failed(String),
}

/// fsync statistics, updated by the writer thread.
#[derive(Debug, Default)]
pub struct LogStats {
    /// Fsync times in ms (ZooKeeper's `fsynctime`): its count is the number of group commits.
    pub fsync_ms: SharedTiming,
    /// Txns made durable by each fsync (ZooKeeper's `sync_processor_batch_size`): its sum is
    /// every txn made durable, its maximum the largest batch.
    pub batch_sizes: SharedTiming,
    /// Fsyncs longer than `warn_threshold_ms` (ZooKeeper's `fsync_threshold_exceed_count`).
    pub over_threshold: AtomicU64,
    /// `fsync.warningthresholdms`, set by the server at startup; 0 (unset) counts nothing.
    pub warn_threshold_ms: AtomicU64,
}

impl LogStats {
    fn record(&self, batch: u64, micros: u64) {
        self.fsync_ms.record(micros / 1000);
        self.batch_sizes.record(batch);
        let threshold = self.warn_threshold_ms.load(Ordering::Relaxed);
        if threshold > 0 && micros / 1000 > threshold {
            self.over_threshold.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                "fsync-ing the txn log took {} ms (fsync.warningthresholdms={threshold}) for {batch} txns; \
                 slow storage delays every write",
                micros / 1000
            );
        }
    }
}

type Job = Box<dyn FnOnce(&mut TxnLog) + Send>;

enum Msg {
    /// Txns in zxid order, queued together so one wake-up of the thread sees them all.
    Append(Vec<(i64, Bytes)>),
    Roll,
    Purge(i64),
    /// Runs on the thread after pending appends are durable (reads, truncation, size queries).
    Exec(Job),
    Shutdown,
}

/// Handle to the writer thread. Dropping it shuts the thread down (flushing first).
pub struct LogWriter {
    tx: mpsc::Sender<Msg>,
    handle: Option<JoinHandle<Result<TxnLog>>>,
    stats: Arc<LogStats>,
}

impl LogWriter {
    /// Starts the writer thread, which takes ownership of `log`.
    pub fn spawn(log: TxnLog, durable_tx: UnboundedSender<Durable>) -> LogWriter {
        let (tx, rx) = mpsc::channel();
        let stats = Arc::new(LogStats::default());
        let thread_stats = stats.clone();
        let handle = std::thread::Builder::new()
            .name("zk-log-writer".into())
            .spawn(move || run(log, rx, durable_tx, &thread_stats))
            .expect("spawn log writer thread");
        LogWriter { tx, handle: Some(handle), stats }
    }

    /// Queues a record (non-blocking). Zxids must increase.
    pub fn append(&self, zxid: i64, payload: Bytes) {
        self.append_batch(vec![(zxid, payload)]);
    }

    /// Queues several txns (in zxid order) in one message: the writer thread is woken once
    /// and the whole batch lands in the same group commit, not split across two fsyncs.
    pub fn append_batch(&self, txns: Vec<(i64, Bytes)>) {
        let _ = self.tx.send(Msg::Append(txns));
    }

    /// After the queued appends, starts a new segment (call after a snapshot).
    pub fn roll(&self) {
        let _ = self.tx.send(Msg::Roll);
    }

    /// Deletes segments wholly before `zxid` (see `TxnLog::purge_before`).
    pub fn purge_before(&self, zxid: i64) {
        let _ = self.tx.send(Msg::Purge(zxid));
    }

    /// Runs `f` on the writer thread once everything queued before it is durable. The result
    /// arrives on the returned receiver (which errors if the writer has stopped).
    pub fn exec<R, F>(&self, f: F) -> oneshot::Receiver<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut TxnLog) -> R + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let _ = self.tx.send(Msg::Exec(Box::new(move |log| {
            let _ = tx.send(f(log));
        })));
        rx
    }

    /// Durable records with zxid > `zxid` (for DIFF sync), read on the writer thread.
    pub fn read_after(&self, zxid: i64) -> oneshot::Receiver<Result<Vec<(i64, Bytes)>>> {
        self.exec(move |log| log.read_after(zxid))
    }

    /// Drops records with zxid > `zxid` (for TRUNC), on the writer thread.
    pub fn truncate_after(&self, zxid: i64) -> oneshot::Receiver<Result<()>> {
        self.exec(move |log| log.truncate_after(zxid))
    }

    /// The fsync statistics.
    pub fn stats(&self) -> Arc<LogStats> {
        self.stats.clone()
    }

    /// Flushes everything queued, stops the thread and returns the log.
    pub fn shutdown(mut self) -> Result<TxnLog> {
        self.stop().expect("handle present until stop")
    }

    fn stop(&mut self) -> Option<Result<TxnLog>> {
        let handle = self.handle.take()?;
        let _ = self.tx.send(Msg::Shutdown);
        Some(match handle.join() {
            Ok(r) => r,
            Err(_) => Err(StorageError::WriterFailed("log writer thread panicked".into())),
        })
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        if let Some(Err(e)) = self.stop() {
            tracing::error!("log writer stopped with an error: {e}");
        }
    }
}

/// The thread body. Returns the log on clean shutdown, or the error that stopped it.
fn run(
    mut log: TxnLog,
    rx: mpsc::Receiver<Msg>,
    durable_tx: UnboundedSender<Durable>,
    stats: &LogStats,
) -> Result<TxnLog> {
    let fail = |e: StorageError| {
        tracing::error!("txn log failure: {e}");
        let _ = durable_tx.send(Durable::Failed(e.to_string()));
        Err(e)
    };
    let mut batch: Vec<Msg> = Vec::new();
    loop {
        // Block for the first message (a closed channel means every handle is gone).
        let Ok(first) = rx.recv() else {
            return match flush(&mut log, 0, &durable_tx, stats) {
                Ok(_) => Ok(log),
                Err(e) => fail(e),
            };
        };
        batch.push(first);
        batch.extend(rx.try_iter());
        let mut pending = 0u64;
        let mut shutdown = false;
        for msg in batch.drain(..) {
            let r = match msg {
                Msg::Append(txns) => {
                    pending += txns.len() as u64;
                    txns.iter().try_for_each(|(zxid, payload)| log.append(*zxid, payload))
                }
                Msg::Roll => flush(&mut log, pending, &durable_tx, stats).and_then(|_| {
                    pending = 0;
                    log.roll()
                }),
                Msg::Purge(zxid) => {
                    if let Err(e) = log.purge_before(zxid) {
                        tracing::warn!("purging log segments before 0x{zxid:x} failed: {e}");
                    }
                    Ok(())
                }
                Msg::Exec(job) => flush(&mut log, pending, &durable_tx, stats).map(|_| {
                    pending = 0;
                    job(&mut log);
                }),
                Msg::Shutdown => {
                    shutdown = true;
                    Ok(())
                }
            };
            if let Err(e) = r {
                return fail(e);
            }
        }
        if let Err(e) = flush(&mut log, pending, &durable_tx, stats) {
            return fail(e);
        }
        if shutdown {
            return Ok(log);
        }
    }
}

/// Makes `pending` buffered appends durable with one fsync and reports it.
fn flush(log: &mut TxnLog, pending: u64, durable_tx: &UnboundedSender<Durable>, stats: &LogStats) -> Result<()> {
    if pending == 0 {
        return Ok(());
    }
    let start = Instant::now();
    log.sync()?;
    stats.record(pending, start.elapsed().as_micros() as u64);
    let _ = durable_tx.send(Durable::UpTo(log.last_durable_zxid()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::wal::LogOptions;
    use tokio::sync::mpsc::unbounded_channel;

    fn opts() -> LogOptions {
        LogOptions { pre_alloc_size: 64 << 10, ..LogOptions::default() }
    }

    /// Parks the writer thread inside a job (with nothing else in its batch) until the
    /// returned sender fires, so the messages sent meanwhile form exactly one batch.
    fn hold(writer: &LogWriter) -> std::sync::mpsc::Sender<()> {
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        drop(writer.exec(move |_| {
            started_tx.send(()).unwrap();
            let _ = go_rx.recv();
        }));
        started_rx.recv().unwrap();
        go_tx
    }

    /// A writer thread on a new log in a temporary directory, and its durable notices.
    fn writer_on_new_log() -> (tempfile::TempDir, LogWriter, tokio::sync::mpsc::UnboundedReceiver<Durable>) {
        let dir = tempfile::tempdir().unwrap();
        let log = TxnLog::open(dir.path(), opts()).unwrap();
        let (dtx, drx) = unbounded_channel();
        (dir, LogWriter::spawn(log, dtx), drx)
    }

    #[test]
    fn group_commit_from_many_threads() {
        let dir = tempfile::tempdir().unwrap();
        let log = TxnLog::open(dir.path(), opts()).unwrap();
        let (dtx, mut drx) = unbounded_channel();
        // (writer, next zxid): zxids are assigned under the lock so they arrive in order.
        let shared = Arc::new(std::sync::Mutex::new((LogWriter::spawn(log, dtx), 0i64)));
        let stats = shared.lock().unwrap().0.stats();
        // Park the writer until every thread has queued 100 appends, so at least 400 appends
        // share one fsync whatever the scheduling; the rest race with the writer.
        let go = hold(&shared.lock().unwrap().0);
        let (queued_tx, queued_rx) = std::sync::mpsc::channel::<()>();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (shared, queued_tx) = (shared.clone(), queued_tx.clone());
                std::thread::spawn(move || {
                    for i in 0..500 {
                        if i == 100 {
                            queued_tx.send(()).unwrap();
                        }
                        let mut guard = shared.lock().unwrap();
                        let (w, next) = &mut *guard;
                        *next += 1;
                        w.append(*next, Bytes::from(format!("t{t} i{i} z{next}")));
                    }
                })
            })
            .collect();
        for _ in 0..4 {
            queued_rx.recv().unwrap();
        }
        go.send(()).unwrap();
        for t in threads {
            t.join().unwrap();
        }
        let (writer, _) = Arc::try_unwrap(shared).ok().unwrap().into_inner().unwrap();
        let log = writer.shutdown().unwrap();
        assert_eq!(log.last_durable_zxid(), 2000);
        let mut last = 0;
        while let Ok(d) = drx.try_recv() {
            let Durable::UpTo(z) = d else { panic!("unexpected {d:?}") };
            assert!(z > last, "durable notifications must increase");
            last = z;
        }
        assert_eq!(last, 2000);
        let batches = stats.batch_sizes.summary();
        let syncs = batches.count;
        assert_eq!(batches.sum, 2000);
        assert!((1..=1601).contains(&syncs), "syncs = {syncs}");
        drop(log);
        let log = TxnLog::open(dir.path(), opts()).unwrap();
        let recs = log.read_after(0).unwrap();
        assert_eq!(recs.len(), 2000);
        assert!(recs.iter().enumerate().all(|(i, (z, _))| *z == i as i64 + 1));
    }

    #[test]
    fn a_queued_batch_is_one_group_commit() {
        // Not held: the writer is idle and wakes for the one message holding all 300 txns.
        let (_dir, writer, mut drx) = writer_on_new_log();
        writer.append_batch((1..=300).map(|z| (z, Bytes::from(format!("txn {z}")))).collect());
        let Some(Durable::UpTo(300)) = drx.blocking_recv() else { panic!("one notice for the whole batch") };
        let batches = writer.stats().batch_sizes.summary();
        assert_eq!(batches.count, 1);
        assert_eq!(batches.max, 300);
        let log = writer.shutdown().unwrap();
        assert_eq!(log.read_after(0).unwrap().len(), 300);
    }

    #[test]
    fn batches_fsync_once_and_exec_sees_durable_state() {
        let (_dir, writer, mut drx) = writer_on_new_log();
        let go = hold(&writer);
        for z in 1..=100 {
            writer.append(z, Bytes::from_static(b"payload"));
        }
        writer.roll();
        writer.append(101, Bytes::from_static(b"after roll"));
        let segs = writer.exec(|log| log.segments().len());
        go.send(()).unwrap();
        assert_eq!(segs.blocking_recv().unwrap(), 2);
        let recs = writer.read_after(99).blocking_recv().unwrap().unwrap();
        assert_eq!(recs.iter().map(|r| r.0).collect::<Vec<_>>(), vec![100, 101]);
        let batches = writer.stats().batch_sizes.summary();
        assert_eq!(batches.count, 2);
        assert_eq!(batches.max, 100);
        writer.purge_before(101);
        let segs = writer.exec(|log| log.segments().len());
        assert_eq!(segs.blocking_recv().unwrap(), 1);
        writer.append(102, Bytes::from_static(b"to be truncated"));
        writer.truncate_after(101).blocking_recv().unwrap().unwrap();
        let log = writer.shutdown().unwrap();
        assert_eq!(log.last_zxid(), 101);
        assert_eq!(log.read_after(0).unwrap().len(), 1);
        assert_eq!(drx.try_recv().unwrap(), Durable::UpTo(100));
        assert_eq!(drx.try_recv().unwrap(), Durable::UpTo(101));
        assert_eq!(drx.try_recv().unwrap(), Durable::UpTo(102));
        assert!(drx.try_recv().is_err());
    }

    #[test]
    fn io_error_reports_failed_and_stops() {
        let (_dir, writer, mut drx) = writer_on_new_log();
        let go = hold(&writer);
        writer.append(5, Bytes::from_static(b"x"));
        writer.append(5, Bytes::from_static(b"dup")); // out of order: a fatal error
        writer.append(6, Bytes::from_static(b"y"));
        go.send(()).unwrap();
        assert!(writer.shutdown().is_err());
        assert!(matches!(drx.try_recv(), Ok(Durable::Failed(_))));
        assert!(drx.try_recv().is_err());
    }
}
