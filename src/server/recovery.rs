//! Startup recovery: newest verified snapshot plus replay of the log after it. If the newest
//! snapshot fails verification, an older one is used with more of the log, and the log says
//! so.
//! Must never: write txns; it only reads what is durable (the log truncates a torn tail).

use super::ServerError;
use crate::storage::snapfile::FileSnapshotStore;
use crate::storage::snapshot::{load_newest_valid, SledSnapshotStore, SnapshotStore};
use crate::storage::wal::{LogOptions, TxnLog};
use crate::tree::{snapshot, DataTree};
use crate::txn::Txn;
use std::path::Path;
use std::time::Instant;

/// What startup recovered.
pub struct Recovered {
    pub tree: DataTree,
    pub log: TxnLog,
    pub store: FileSnapshotStore,
    pub last_logged_zxid: i64,
    /// The last txns replayed (at most `RECENT` of them), for syncing learners by DIFF.
    pub recent: Vec<(i64, bytes::Bytes)>,
    pub startup: StartupTimes,
}

/// What recovery took (ZooKeeper's `dbinittime`, `startup_snap_load_time`,
/// `startup_txns_load_time` and `startup_txns_loaded`), times in ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StartupTimes {
    pub db_init_ms: u64,
    pub snap_load_ms: u64,
    pub txns_load_ms: u64,
    pub txns_loaded: u64,
}

/// How many replayed txns `recover` hands back.
pub const RECENT: usize = 10_000;

/// Opens the data directories and rebuilds the tree.
pub fn recover(data_dir: &Path, log_dir: &Path, log_opts: LogOptions) -> Result<Recovered, ServerError> {
    let started = Instant::now();
    std::fs::create_dir_all(data_dir.join("version-2"))
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let mut store = FileSnapshotStore::open(data_dir)
        .map_err(|e| format!("cannot open snapshots in {}: {e}", data_dir.display()))?;
    // Checking the log and decoding the snapshot are independent: do them side by side.
    let (log, tree) = std::thread::scope(|scope| {
        let opening = scope.spawn(|| {
            let log = TxnLog::open(log_dir, log_opts);
            tracing::info!("Opened the txn log in {:?}", started.elapsed());
            log
        });
        // The newest snapshot that passes its checksum and decodes; damaged ones are skipped
        // with a warning. If none is usable, the log must reach back to the first txn.
        let tree = load_tree(&store).and_then(|tree| match tree {
            Some(t) => Ok(Some(t)),
            // Data directories written before snapshots became files keep them in sled.
            None => load_legacy(data_dir),
        });
        let snap_loaded = started.elapsed();
        (opening.join().unwrap_or_else(|p| std::panic::resume_unwind(p)), (tree, snap_loaded))
    });
    let (tree, snap_loaded) = tree;
    let log = log.map_err(|e| format!("cannot open the txn log in {}: {e}", log_dir.display()))?;
    let first_logged = log.first_zxid();
    let tree = tree?;
    let mut tree = match tree {
        Some(t) => t,
        None => {
            if first_logged.is_some_and(|z| z > 1) {
                // Snapshots existed for the purged part of the log and none is usable.
                return Err(format!(
                    "no usable snapshot in {} and the txn log starts at zxid 0x{:x}: cannot rebuild the tree",
                    data_dir.display(),
                    first_logged.unwrap_or(0)
                )
                .into());
            }
            let tree = DataTree::new();
            if first_logged.is_none() {
                // A fresh data directory: as ZooKeeper does, start it with the empty tree's
                // snapshot 0, so a log that later begins past zxid 1 (an ensemble's first
                // txn is epoch << 32 | 1) always has a snapshot beneath it.
                let mut sink = store.begin(0)?;
                crate::tree::snapshot::encode_image(&tree.image(), |piece| sink.write(&piece))?;
                sink.finish()?;
            }
            tree
        }
    };
    let base = tree.last_zxid();
    let records = log.read_after(base).map_err(|e| e.to_string())?;
    if let Some((first, _)) = records.first() {
        if *first != base + 1 && base != 0 {
            tracing::warn!("txn log resumes at 0x{first:x} after snapshot 0x{base:x}");
        }
    }
    let n = records.len();
    let replaying = Instant::now();
    for (zxid, payload) in &records {
        let txn = Txn::decode(payload).map_err(|e| format!("txn 0x{zxid:x} in the log cannot be decoded: {e}"))?;
        tree.apply(&txn);
    }
    let mut recent = records;
    recent.drain(..recent.len().saturating_sub(RECENT));
    let last_logged_zxid = log.last_zxid().max(tree.last_zxid());
    tracing::info!(
        "Recovered {} znodes up to zxid 0x{:x} ({} txns replayed) in {:?}",
        tree.node_count(),
        tree.last_zxid(),
        n,
        started.elapsed()
    );
    let startup = StartupTimes {
        db_init_ms: started.elapsed().as_millis() as u64,
        snap_load_ms: snap_loaded.as_millis() as u64,
        txns_load_ms: replaying.elapsed().as_millis() as u64,
        txns_loaded: n as u64,
    };
    Ok(Recovered { tree, log, store, last_logged_zxid, recent, startup })
}

/// The newest usable snapshot in the sled store older versions kept, if there is one.
fn load_legacy(data_dir: &Path) -> Result<Option<DataTree>, ServerError> {
    let legacy = data_dir.join("version-2").join("snapshots");
    if !legacy.is_dir() {
        return Ok(None);
    }
    let old = SledSnapshotStore::open(data_dir)
        .map_err(|e| format!("cannot open the older snapshots in {}: {e}", legacy.display()))?;
    load_tree(&old)
}

/// The newest snapshot of `store` that verifies and decodes, if any.
fn load_tree(store: &dyn SnapshotStore) -> Result<Option<DataTree>, ServerError> {
    let started = Instant::now();
    match load_newest_valid(store, |body, len| {
        tracing::info!("Reading a snapshot of {len} bytes");
        snapshot::decode_from(body, len).map_err(|e| e.to_string())
    }) {
        Ok(Some((zxid, t))) => {
            tracing::info!(
                "Loaded snapshot 0x{:x} ({} znodes) from {} in {:?}",
                zxid,
                t.node_count(),
                store.location().display(),
                started.elapsed()
            );
            Ok(Some(t))
        }
        Ok(None) => Ok(None),
        Err(e) if e.is_corrupt() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The newest usable snapshot at or before `upto` (an empty tree if there is none): the base
/// a learner rebuilds its tree from after its log was truncated to `upto`.
pub fn load_snapshot_at_most(data_dir: &Path, upto: i64) -> Result<DataTree, ServerError> {
    let store = FileSnapshotStore::open(data_dir)
        .map_err(|e| format!("cannot open snapshots in {}: {e}", data_dir.display()))?;
    for zxid in store.list()?.into_iter().filter(|z| *z <= upto) {
        let loaded = store.open(zxid).and_then(|(mut body, len)| {
            snapshot::decode_from(&mut *body, len).map_err(|e| {
                crate::storage::StorageError::corrupt(store.location(), 0, format!("snapshot 0x{zxid:x}: {e}"))
            })
        });
        match loaded {
            Ok(t) => return Ok(t),
            Err(e) if e.is_corrupt() => tracing::warn!("snapshot 0x{zxid:x} failed verification: {e}"),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(DataTree::new())
}
