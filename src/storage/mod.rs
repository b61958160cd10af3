//! Durable storage: the write-ahead txn log (`wal`), its group-commit writer thread
//! (`committer`), snapshots (files in `snapfile`; the `SnapshotStore` trait and the older sled
//! store, still read on upgrade, in `snapshot`), retention (`purge`) and the epoch files (`epoch`).
//!
//! Owns: everything under the data and log directories, and the on-disk formats.
//! Must never: interpret payloads (they are opaque bytes keyed by zxid), depend on the data
//! tree, or acknowledge anything that has not been fsynced.

pub mod committer;
pub mod epoch;
pub mod prealloc;
pub mod purge;
mod segment;
pub mod snapfile;
pub mod snapshot;
pub mod wal;

use std::path::{Path, PathBuf};

pub use committer::{Durable, LogStats, LogWriter};
pub use epoch::{read_epoch, write_epoch};
pub use purge::{purge, purge_point, purge_snapshots, purge_with_writer, PurgeReport};
pub use snapfile::FileSnapshotStore;
pub use snapshot::{load_newest_valid, SledSnapshotStore, SnapshotSink, SnapshotStore};
pub use wal::{LogOptions, TxnLog};

/// Everything that can go wrong in storage. Errors name the file (and offset) involved.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt data in {} at offset {offset}: {reason}", file.display())]
    Corrupt { file: PathBuf, offset: u64, reason: String },
    #[error("zxid 0x{zxid:x} is not greater than the last zxid 0x{last:x}")]
    ZxidOrder { zxid: i64, last: i64 },
    #[error("invalid record for zxid 0x{zxid:x}: {reason}")]
    InvalidRecord { zxid: i64, reason: String },
    #[error("snapshot store {}: {source}", path.display())]
    Sled {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error("snapshot 0x{0:x} not found")]
    SnapshotNotFound(i64),
    #[error("txn log is unusable after an earlier I/O error; reopen it")]
    Poisoned,
    #[error("log writer failed: {0}")]
    WriterFailed(String),
}

/// Shorthand used throughout the module.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

impl StorageError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        StorageError::Io { path: path.to_path_buf(), source }
    }

    pub(crate) fn corrupt(file: &Path, offset: u64, reason: impl Into<String>) -> Self {
        StorageError::Corrupt { file: file.to_path_buf(), offset, reason: reason.into() }
    }

    /// True for checksum / format failures (as opposed to I/O or usage errors).
    pub fn is_corrupt(&self) -> bool {
        matches!(self, StorageError::Corrupt { .. })
    }
}

/// fsyncs a directory so that file creations, renames and removals in it are durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    let f = std::fs::File::open(dir).map_err(|e| StorageError::io(dir, e))?;
    f.sync_all().map_err(|e| StorageError::io(dir, e))
}

/// Gives the calling thread a lower CPU priority (nice +10): background disk work (writing a
/// snapshot, zero-filling the next log segment) should yield to the node loop and the
/// connections when cores are scarce.
pub(crate) fn lower_thread_priority() {
    // SAFETY: gettid and setpriority only read their arguments; on Linux a thread id names
    // that thread alone for PRIO_PROCESS.
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10) };
    if r != 0 {
        tracing::debug!("could not lower a background thread's priority: {}", std::io::Error::last_os_error());
    }
}
