//! Retention: keep the newest N (≥ 3) snapshots and the log back to the oldest one kept.
//!
//! Owns: the decision of what may be deleted.
//! Must never: delete the newest snapshots, or log segments still needed to replay from the
//! oldest retained snapshot.

use super::committer::LogWriter;
use super::snapshot::SnapshotStore;
use super::wal::TxnLog;
use super::Result;

/// Fewest snapshots ever retained.
pub const MIN_RETAIN: usize = 3;

/// What a purge removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Snapshots removed (zxids).
    pub snapshots_removed: Vec<i64>,
    /// The log was (or will be) purged of segments wholly before this zxid.
    pub log_purged_before: Option<i64>,
    /// Log segments removed (0 when purging through a `LogWriter`, which does it later).
    pub segments_removed: usize,
}

/// The zxid the log may be purged before: the oldest of the newest `retain` snapshots.
pub fn purge_point(store: &dyn SnapshotStore, retain: usize) -> Result<Option<i64>> {
    let snaps = store.list()?;
    Ok(snaps.iter().take(retain.max(MIN_RETAIN)).next_back().copied())
}

/// Removes all but the newest `retain` (≥ 3) snapshots; returns the report with the log purge
/// point filled in (the log itself is not touched).
pub fn purge_snapshots(store: &mut dyn SnapshotStore, retain: usize) -> Result<PurgeReport> {
    let snaps = store.list()?;
    let keep = retain.max(MIN_RETAIN);
    let mut report =
        PurgeReport { log_purged_before: snaps.iter().take(keep).next_back().copied(), ..PurgeReport::default() };
    for &zxid in snaps.iter().skip(keep) {
        store.remove(zxid)?;
        report.snapshots_removed.push(zxid);
    }
    Ok(report)
}

/// Purges snapshots and then the log segments wholly before the oldest retained snapshot.
pub fn purge(store: &mut dyn SnapshotStore, log: &mut TxnLog, retain: usize) -> Result<PurgeReport> {
    let mut report = purge_snapshots(store, retain)?;
    if let Some(zxid) = report.log_purged_before {
        report.segments_removed = log.purge_before(zxid)?;
    }
    Ok(report)
}

/// Like `purge`, for a log owned by a `LogWriter` (the segment removal is queued to it).
pub fn purge_with_writer(store: &mut dyn SnapshotStore, writer: &LogWriter, retain: usize) -> Result<PurgeReport> {
    let report = purge_snapshots(store, retain)?;
    if let Some(zxid) = report.log_purged_before {
        writer.purge_before(zxid);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::snapshot::SledSnapshotStore;
    use crate::storage::wal::LogOptions;

    #[test]
    fn keeps_newest_snapshots_and_log_back_to_oldest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SledSnapshotStore::open(dir.path()).unwrap();
        let opts = LogOptions { pre_alloc_size: 4096, ..LogOptions::default() };
        let mut log = TxnLog::open(dir.path(), opts).unwrap();
        // Segments start at 1, 11, 21, 31, 41; a snapshot after every 10 txns.
        for seg in 0..5 {
            for z in seg * 10 + 1..=seg * 10 + 10 {
                log.append(z, b"txn").unwrap();
            }
            log.roll().unwrap();
            let mut sink = store.begin(seg * 10 + 10).unwrap();
            sink.write(b"snap").unwrap();
            sink.finish().unwrap();
        }
        assert_eq!(purge_point(&store, 1).unwrap(), Some(30));
        let report = purge(&mut store, &mut log, 2).unwrap();
        assert_eq!(report.snapshots_removed, vec![20, 10]);
        assert_eq!(report.log_purged_before, Some(30));
        // Segment 21..30 contains zxid 30, so it stays; 1..10 and 11..20 go.
        assert_eq!(report.segments_removed, 2);
        assert_eq!(store.list().unwrap(), vec![50, 40, 30]);
        assert_eq!(log.read_after(0).unwrap().first().map(|r| r.0), Some(21));
        // Nothing more to do on a second run.
        let again = purge(&mut store, &mut log, 3).unwrap();
        assert!(again.snapshots_removed.is_empty() && again.segments_removed == 0);
    }
}
