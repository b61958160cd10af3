//! `zabkeeper import` and `zabkeeper export`: a ZooKeeper dataDir to ours and back.
//!
//! Import takes ZooKeeper's newest snapshot that reads back whole (older ones if it does not,
//! as ZooKeeper does), replays every txn after it from the log files (a torn last record ends
//! its file, as in ZooKeeper), and writes our snapshot of the result, with the epoch files and
//! `myid`, so our server starts with the same tree, ACLs, sessions and last zxid. Export loads
//! our dataDir as the server would and writes a ZooKeeper snapshot (with its digest), the
//! epoch files and `myid`, from which Apache ZooKeeper starts.
//! Both write into a temporary directory beside the destination and rename it into place at
//! the end: a failed run leaves nothing half-written.
//! Must never: write into the source directory, replace a destination that has files, or
//! report success before the result is durable.

use super::{snapshot, txnlog, zxid_of_name, ZkFormatError};
use crate::storage::{epoch, fsync_dir};
use crate::tree::DataTree;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What an import found and wrote.
#[derive(Debug)]
pub struct ImportSummary {
    /// The snapshot used, and its zxid (None: the dataDir had none and no logs).
    pub snapshot: Option<(PathBuf, i64)>,
    /// Snapshots that did not read back, and why (newer than the one used).
    pub skipped_snapshots: Vec<String>,
    pub txns_replayed: usize,
    /// Log files whose data ended in a torn record, and where.
    pub torn: Vec<(PathBuf, u64)>,
    pub last_zxid: i64,
    pub znodes: usize,
    pub sessions: usize,
    pub ephemerals: usize,
    pub current_epoch: i64,
    pub accepted_epoch: i64,
    pub elapsed: Duration,
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.snapshot {
            Some((p, z)) => writeln!(f, "snapshot: {} (zxid 0x{z:x})", p.display())?,
            None => writeln!(f, "snapshot: none (an empty ZooKeeper dataDir)")?,
        }
        for s in &self.skipped_snapshots {
            writeln!(f, "skipped (as ZooKeeper would): {s}")?;
        }
        writeln!(f, "txns replayed from the logs: {}", self.txns_replayed)?;
        for (p, at) in &self.torn {
            writeln!(f, "torn record ignored (as ZooKeeper does): {} at offset {at}", p.display())?;
        }
        writeln!(
            f,
            "result: {} znodes, {} sessions, {} ephemerals, last zxid 0x{:x}, currentEpoch {}, acceptedEpoch {}",
            self.znodes, self.sessions, self.ephemerals, self.last_zxid, self.current_epoch, self.accepted_epoch
        )?;
        write!(f, "took {:.2} s", self.elapsed.as_secs_f64())
    }
}

fn progress(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {bytes}/{total_bytes} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

fn read(path: &Path) -> Result<Vec<u8>, ZkFormatError> {
    std::fs::read(path).map_err(|e| ZkFormatError::io(path, e))
}

/// A destination that does not exist yet or is an empty directory, and the temporary
/// directory beside it to build in.
fn staging(dest: &Path) -> Result<PathBuf, ZkFormatError> {
    if dest.exists() {
        let mut entries = std::fs::read_dir(dest).map_err(|e| ZkFormatError::io(dest, e))?;
        if entries.next().is_some() {
            return Err(ZkFormatError::Refused(format!(
                "{} is not empty: give a new directory (nothing there is replaced)",
                dest.display()
            )));
        }
    }
    let name =
        dest.file_name().ok_or_else(|| ZkFormatError::Refused(format!("{}: not a directory name", dest.display())))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(".partial");
    let tmp = dest.with_file_name(tmp_name);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| ZkFormatError::io(&tmp, e))?;
    }
    std::fs::create_dir_all(tmp.join("version-2")).map_err(|e| ZkFormatError::io(&tmp, e))?;
    Ok(tmp)
}

/// Moves the finished temporary directory into place, durably.
fn publish(tmp: &Path, dest: &Path) -> Result<(), ZkFormatError> {
    fsync_dir(&tmp.join("version-2")).map_err(|e| ZkFormatError::Refused(e.to_string()))?;
    fsync_dir(tmp).map_err(|e| ZkFormatError::Refused(e.to_string()))?;
    if dest.exists() {
        std::fs::remove_dir(dest).map_err(|e| ZkFormatError::io(dest, e))?;
    }
    std::fs::rename(tmp, dest).map_err(|e| ZkFormatError::io(dest, e))?;
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fsync_dir(parent).map_err(|e| ZkFormatError::Refused(e.to_string()))
}

fn copy_myid(from: &Path, to: &Path) -> Result<(), ZkFormatError> {
    let src = from.join("myid");
    if src.is_file() {
        let dst = to.join("myid");
        std::fs::copy(&src, &dst).map_err(|e| ZkFormatError::io(&src, e))?;
        std::fs::File::open(&dst).and_then(|f| f.sync_all()).map_err(|e| ZkFormatError::io(&dst, e))?;
    }
    Ok(())
}

/// The epoch files of `dir/version-2`, or the last zxid's epoch where one is missing.
fn epochs(dir: &Path, last_zxid: i64) -> Result<(i64, i64), ZkFormatError> {
    let v2 = dir.join("version-2");
    let get = |name: &str| epoch::read_epoch(&v2.join(name)).map_err(|e| ZkFormatError::Refused(e.to_string()));
    let derived = last_zxid >> 32;
    let current = get("currentEpoch")?.unwrap_or(derived);
    let accepted = get("acceptedEpoch")?.unwrap_or(current);
    Ok((current, accepted))
}

fn write_epochs(tmp: &Path, current: i64, accepted: i64) -> Result<(), ZkFormatError> {
    let v2 = tmp.join("version-2");
    for (name, v) in [("currentEpoch", current), ("acceptedEpoch", accepted)] {
        epoch::write_epoch(&v2.join(name), v).map_err(|e| ZkFormatError::Refused(e.to_string()))?;
    }
    Ok(())
}

/// Imports ZooKeeper's `zk_data` (snapshots; logs there too unless `zk_logs` is given) into
/// a new dataDir `ours`. `show_progress`: a progress bar on stderr.
pub fn import(
    zk_data: &Path,
    zk_logs: Option<&Path>,
    ours: &Path,
    show_progress: bool,
) -> Result<ImportSummary, ZkFormatError> {
    let started = Instant::now();
    let snap_dir = zk_data.join("version-2");
    let log_dir = zk_logs.unwrap_or(zk_data).join("version-2");
    if !snap_dir.is_dir() {
        return Err(ZkFormatError::Refused(format!(
            "{}: no version-2 directory, so not a ZooKeeper dataDir",
            zk_data.display()
        )));
    }
    let mut snaps: Vec<(i64, PathBuf)> = Vec::new();
    for e in std::fs::read_dir(&snap_dir).map_err(|e| ZkFormatError::io(&snap_dir, e))? {
        let e = e.map_err(|e| ZkFormatError::io(&snap_dir, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(z) = zxid_of_name(&name, "snapshot").filter(|_| !name.ends_with(".tmp")) {
            snaps.push((z, e.path()));
        }
    }
    snaps.sort_by(|a, b| b.cmp(a));
    let logs = if log_dir.is_dir() { txnlog::log_files(&log_dir)? } else { Vec::new() };
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let total: u64 = snaps.first().map_or(0, |(_, p)| size(p)) + logs.iter().map(|(_, p)| size(p)).sum::<u64>();
    let bar = if show_progress { progress(total, "importing") } else { ProgressBar::hidden() };

    let mut skipped = Vec::new();
    let mut used = None;
    let mut tree = None;
    for (zxid, path) in &snaps {
        let bytes = read(path)?;
        match snapshot::decode_file(path, &bytes, *zxid) {
            Ok(t) => {
                bar.inc(bytes.len() as u64);
                used = Some((path.clone(), *zxid));
                tree = Some(t);
                break;
            }
            Err(e @ ZkFormatError::Refused(_)) => return Err(e),
            Err(e) => skipped.push(e.to_string()),
        }
    }
    let mut tree = match tree {
        Some(t) => t,
        None if !snaps.is_empty() => {
            return Err(ZkFormatError::Refused(format!(
                "no snapshot in {} reads back whole (ZooKeeper would not start either): {}",
                snap_dir.display(),
                skipped.join("; ")
            )))
        }
        None if !logs.is_empty() => {
            return Err(ZkFormatError::Refused(format!(
                "{} has txn logs but no snapshot (ZooKeeper refuses this too: \"No snapshot found, but \
                 there are log entries\")",
                snap_dir.display()
            )))
        }
        None => DataTree::new(),
    };
    let mut replayed = 0;
    let mut torn = Vec::new();
    for (_, path) in &logs {
        let bytes = read(path)?;
        let (txns, end) = txnlog::read_file(path, &bytes)?;
        for t in txns {
            if t.zxid() > tree.last_zxid() {
                tree.apply(&t);
                replayed += 1;
            }
        }
        if let txnlog::FileEnd::Torn { offset } = end {
            torn.push((path.clone(), offset));
        }
        bar.inc(bytes.len() as u64);
    }
    bar.finish_and_clear();
    let last_zxid = tree.last_zxid();
    let (current_epoch, accepted_epoch) = epochs(zk_data, last_zxid)?;

    let tmp = staging(ours)?;
    let written = (|| {
        let mut store = crate::storage::snapfile::FileSnapshotStore::open(&tmp)
            .map_err(|e| ZkFormatError::Refused(e.to_string()))?;
        let mut sink = crate::storage::SnapshotStore::begin(&mut store, last_zxid)
            .map_err(|e| ZkFormatError::Refused(e.to_string()))?;
        crate::tree::snapshot::encode_image(&tree.image(), |piece| sink.write(&piece))
            .map_err(|e| ZkFormatError::Refused(e.to_string()))?;
        sink.finish().map_err(|e| ZkFormatError::Refused(e.to_string()))?;
        write_epochs(&tmp, current_epoch, accepted_epoch)?;
        copy_myid(zk_data, &tmp)?;
        publish(&tmp, ours)
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written?;
    Ok(ImportSummary {
        snapshot: used,
        skipped_snapshots: skipped,
        txns_replayed: replayed,
        torn,
        last_zxid,
        znodes: tree.node_count(),
        sessions: tree.sessions().len(),
        ephemerals: tree.ephemeral_count(),
        current_epoch,
        accepted_epoch,
        elapsed: started.elapsed(),
    })
}

/// Exports our dataDir `ours` (its txn log in `our_logs`, if apart) as a new ZooKeeper
/// dataDir `zk_data`. Returns the snapshot written and the tree's size.
pub fn export(ours: &Path, our_logs: Option<&Path>, zk_data: &Path) -> Result<(PathBuf, usize, i64), ZkFormatError> {
    if !ours.join("version-2").is_dir() {
        return Err(ZkFormatError::Refused(format!("{}: no version-2 directory, so not a dataDir", ours.display())));
    }
    let recovered =
        crate::server::recovery::recover(ours, our_logs.unwrap_or(ours), crate::storage::wal::LogOptions::default())
            .map_err(|e| ZkFormatError::Refused(format!("cannot load {}: {e}", ours.display())))?;
    let tree = recovered.tree;
    drop(recovered.log);
    let (current_epoch, accepted_epoch) = epochs(ours, tree.last_zxid())?;
    let tmp = staging(zk_data)?;
    let name = snapshot::file_name(tree.last_zxid());
    let written = (|| {
        let path = tmp.join("version-2").join(&name);
        let bytes = snapshot::encode_file(&tree);
        std::fs::write(&path, &bytes).map_err(|e| ZkFormatError::io(&path, e))?;
        std::fs::File::open(&path).and_then(|f| f.sync_all()).map_err(|e| ZkFormatError::io(&path, e))?;
        write_epochs(&tmp, current_epoch, accepted_epoch)?;
        copy_myid(ours, &tmp)?;
        publish(&tmp, zk_data)
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written?;
    Ok((zk_data.join("version-2").join(name), tree.node_count(), tree.last_zxid()))
}
