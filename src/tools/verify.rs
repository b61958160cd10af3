//! `zabkeeper verify`: an offline check of one of our data directories that says exactly
//! what is wrong and where. Every record of every log segment (its checksum, as
//! `storage::wal::inspect_segment` judges it at open, and that it decodes as a txn), zxid
//! continuity within and across segments (no gap, no repeat, increasing; a new epoch may
//! restart the counter), every snapshot file (checksum and decoding, as recovery reads it),
//! that the newest valid snapshot and the log after it leave no hole, and the epoch files.
//! A torn tail of the newest segment is a warning (recovery truncates it), not damage, and
//! so is anything else recovery tolerates and repairs.
//!
//! Owns: the rules of a healthy data directory, and the wording of each finding (file, offset,
//! zxid).
//! Must never: write to the data or log directory (it opens files read-only and uses none of
//! `storage`'s opening paths that repair, create or remove), or stop at the first problem
//! when later files can still be checked.

use super::{epoch_of, version2_dir, ToolError};
use crate::storage::wal::{inspect_segment, list_segments, Inspected, LogOptions};
use crate::txn::Txn;
use std::path::{Path, PathBuf};

/// What verifying found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub log_files: usize,
    pub snapshot_files: usize,
    /// Valid log records read.
    pub txns: u64,
    pub first_zxid: Option<i64>,
    pub last_zxid: Option<i64>,
    /// The newest snapshot that reads back (what recovery starts from).
    pub snapshot_zxid: Option<i64>,
    /// The epoch files' values (`None`: absent, as in a standalone server's dataDir).
    pub current_epoch: Option<i64>,
    pub accepted_epoch: Option<i64>,
    /// Damage: one sentence each, naming the file and offset or zxid.
    pub problems: Vec<String>,
    /// What recovery tolerates (and repairs): one sentence each.
    pub warnings: Vec<String>,
}

impl Report {
    pub fn healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

impl std::fmt::Display for Report {
    /// The short summary of a healthy directory.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let z = |v: Option<i64>| v.map_or("none".to_string(), |z| format!("0x{z:x}"));
        let e = |v: Option<i64>| v.map_or("absent".to_string(), |e| e.to_string());
        write!(
            f,
            "{} log file(s), {} snapshot file(s), {} txns, zxid {} to {}, snapshot {}, currentEpoch {}, acceptedEpoch {}",
            self.log_files,
            self.snapshot_files,
            self.txns,
            z(self.first_zxid),
            z(self.last_zxid),
            z(self.snapshot_zxid),
            e(self.current_epoch),
            e(self.accepted_epoch)
        )
    }
}

/// How record zxids follow one another: `None` when `next` may follow `prev`.
fn continuity(prev: i64, next: i64) -> Option<String> {
    if next <= prev {
        Some(format!("zxid 0x{next:x} does not increase (previous 0x{prev:x})"))
    } else if next == prev + 1 || epoch_of(next) > epoch_of(prev) {
        None
    } else {
        Some(format!("zxid gap: 0x{next:x} follows 0x{prev:x} (missing 0x{:x} to 0x{:x})", prev + 1, next - 1))
    }
}

/// Checks the data directory `data_dir` (its txn log in `log_dir`, if apart).
/// An error only when the directories themselves cannot be read.
pub fn verify(data_dir: &Path, log_dir: Option<&Path>) -> Result<Report, ToolError> {
    let data_v2 = version2_dir(data_dir)?;
    let log_v2 = match log_dir {
        Some(d) => version2_dir(d)?,
        None => data_v2.clone(),
    };
    let mut r = Report::default();
    check_snapshots(&data_v2, &mut r)?;
    let after = check_log(&log_v2, &mut r)?;
    check_coverage(&log_v2, after, &mut r);
    check_epochs(&data_v2, &mut r);
    Ok(r)
}

/// The first log record after the newest valid snapshot: file, offset, zxid.
type After = Option<(PathBuf, u64, i64)>;

/// Every segment: records, decoding, continuity; how the newest one ends. Returns the first
/// record after the snapshot recovery would start from.
fn check_log(v2: &Path, r: &mut Report) -> Result<After, ToolError> {
    let segs = list_segments(v2)?;
    r.log_files = segs.len();
    for e in std::fs::read_dir(v2).map_err(|e| ToolError(format!("cannot read {}: {e}", v2.display())))? {
        let e = e.map_err(|e| ToolError(format!("cannot read {}: {e}", v2.display())))?;
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with("log.") && crate::storage::wal::parse_segment_name(&n).is_none() {
            r.problems.push(format!(
                "{}: not one of our log segments (named log.<16 hex digits>), so the server ignores it; an Apache ZooKeeper log? (zabkeeper txnlog reads it)",
                e.path().display()
            ));
        }
    }
    let max_payload = LogOptions::default().max_payload;
    let base = r.snapshot_zxid.unwrap_or(0);
    let mut after: After = None;
    // The last valid zxid: later records must exceed it.
    let mut prev: i64 = 0;
    // The record the next one must follow directly (None at the start and after damage,
    // where what is missing is unknown).
    let mut follows: Option<i64> = None;
    for (i, (name_zxid, path)) in segs.iter().enumerate() {
        let is_last = i + 1 == segs.len();
        let name = path.display();
        let mut found = Vec::new();
        let mut any = false;
        let (txns, first, last) = (&mut r.txns, &mut r.first_zxid, &mut r.last_zxid);
        let inspected = inspect_segment(path, Some(*name_zxid), prev, is_last, max_payload, |off, zxid, payload| {
            any = true;
            *txns += 1;
            first.get_or_insert(zxid);
            *last = Some(zxid);
            if let Some(why) = follows.and_then(|p| continuity(p, zxid)) {
                found.push(format!("{name} offset {off}: {why}"));
            }
            if zxid > base && after.is_none() {
                after = Some((path.clone(), off, zxid));
            }
            follows = Some(zxid);
            prev = zxid;
            match Txn::decode(payload) {
                Ok(t) if t.zxid() != zxid => found.push(format!(
                    "{name} offset {off}: the record of zxid 0x{zxid:x} holds a txn of zxid 0x{:x}",
                    t.zxid()
                )),
                Ok(_) => {}
                Err(e) => found.push(format!("{name} offset {off}: zxid 0x{zxid:x} does not decode as a txn: {e}")),
            }
        });
        r.problems.append(&mut found);
        let after_last = if any { format!(" (after zxid 0x{prev:x})") } else { String::new() };
        match inspected {
            Ok(Inspected::Clean { last: None, .. }) if !is_last => {
                r.problems.push(format!("{name}: segment has no records (recovery refuses it)"))
            }
            Ok(Inspected::Clean { last: None, .. }) | Ok(Inspected::NoHeader) => {
                r.warnings.push(format!("{name}: empty last segment; recovery removes it"))
            }
            Ok(Inspected::Clean { .. }) => {}
            Ok(Inspected::Torn { end, reason, .. }) => r.warnings.push(format!(
                "{name}: torn tail at offset {end} ({reason}){after_last}; recovery truncates the log there"
            )),
            Err(e) if e.is_corrupt() => {
                r.problems.push(format!("{e}{after_last}"));
                follows = None;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(after)
}

/// Every snapshot file: header, checksum and decoding; which one recovery would use.
fn check_snapshots(v2: &Path, r: &mut Report) -> Result<(), ToolError> {
    for e in std::fs::read_dir(v2).map_err(|e| ToolError(format!("cannot read {}: {e}", v2.display())))? {
        let e = e.map_err(|e| ToolError(format!("cannot read {}: {e}", v2.display())))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("snapshot.") && name.ends_with(".tmp") {
            r.warnings.push(format!("{}: unfinished snapshot; recovery removes it", e.path().display()));
        }
    }
    if v2.join("snapshots").is_dir() {
        r.warnings.push(format!(
            "{}: snapshots of an older version (sled), not checked; recovery reads them only when no snapshot file reads back",
            v2.join("snapshots").display()
        ));
    }
    let files = super::snapshot::snapshot_files(v2)?;
    r.snapshot_files = files.len();
    let mut newest: Option<(i64, PathBuf)> = None;
    for (name_zxid, path) in files {
        match super::snapshot::load_file(&path) {
            Ok((zxid, format, tree)) => {
                if format != "zabkeeper" {
                    r.problems.push(format!(
                        "{}: an Apache ZooKeeper snapshot; this server does not read it (import it with zabkeeper import)",
                        path.display()
                    ));
                    continue;
                }
                if tree.last_zxid() != zxid || zxid != name_zxid {
                    r.problems.push(format!(
                        "{}: snapshot 0x{zxid:x} holds a tree of zxid 0x{:x}",
                        path.display(),
                        tree.last_zxid()
                    ));
                    continue;
                }
                if newest.is_none() {
                    newest = Some((zxid, path));
                }
            }
            Err(e) => {
                let fallback = if newest.is_none() { "; recovery falls back to an older snapshot" } else { "" };
                r.problems.push(format!("{e}{fallback}"));
            }
        }
    }
    r.snapshot_zxid = newest.map(|(z, _)| z);
    Ok(())
}

/// The newest valid snapshot plus the log after it must reach the last zxid without a hole.
fn check_coverage(log_v2: &Path, after: After, r: &mut Report) {
    let Some(first) = r.first_zxid else { return };
    match r.snapshot_zxid {
        None if first > 1 => r.problems.push(format!(
            "no snapshot reads back and the log in {} starts at zxid 0x{first:x}: the txns before it are in neither (recovery refuses to start)",
            log_v2.display()
        )),
        None => {}
        Some(base) => {
            if let Some((path, off, z)) = after {
                if z != base + 1 && epoch_of(z) <= epoch_of(base) {
                    r.problems.push(format!(
                        "hole after snapshot 0x{base:x}: the log resumes at zxid 0x{z:x} ({} offset {off}); 0x{:x} to 0x{:x} are in neither",
                        path.display(),
                        base + 1,
                        z - 1
                    ));
                }
            }
        }
    }
}

/// acceptedEpoch ≥ currentEpoch ≥ the epoch of the last zxid.
fn check_epochs(v2: &Path, r: &mut Report) {
    let read = |name: &str, r: &mut Report| match crate::storage::read_epoch(&v2.join(name)) {
        Ok(v) => v,
        Err(e) => {
            r.problems.push(e.to_string());
            None
        }
    };
    r.current_epoch = read("currentEpoch", r);
    r.accepted_epoch = read("acceptedEpoch", r);
    let last = r.last_zxid.unwrap_or(0).max(r.snapshot_zxid.unwrap_or(0));
    let file = |n: &str| v2.join(n).display().to_string();
    if let (Some(c), Some(a)) = (r.current_epoch, r.accepted_epoch) {
        if c > a {
            r.problems.push(format!(
                "{}: currentEpoch {c} is above acceptedEpoch {a} ({}); acceptedEpoch >= currentEpoch is violated (the server refuses to start)",
                file("currentEpoch"),
                file("acceptedEpoch")
            ));
        }
    }
    if let Some(c) = r.current_epoch {
        if c < epoch_of(last) {
            r.problems.push(format!(
                "{}: currentEpoch {c} is below epoch {} of the last zxid 0x{last:x}; currentEpoch >= the last zxid's epoch is violated",
                file("currentEpoch"),
                epoch_of(last)
            ));
        }
    }
    if let (None, Some(a)) = (r.current_epoch, r.accepted_epoch) {
        if a < epoch_of(last) {
            r.problems.push(format!(
                "{}: acceptedEpoch {a} is below epoch {} of the last zxid 0x{last:x}",
                file("acceptedEpoch"),
                epoch_of(last)
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuity_rules() {
        assert_eq!(continuity(5, 6), None);
        assert_eq!(continuity(0x1_0000_0007, 0x2_0000_0001), None, "a new epoch restarts the counter");
        assert!(continuity(5, 5).unwrap().contains("does not increase"));
        let gap = continuity(5, 9).unwrap();
        assert!(gap.contains("0x9 follows 0x5") && gap.contains("missing 0x6 to 0x8"), "{gap}");
    }

    #[test]
    fn epochs_are_checked_against_each_other_and_the_last_zxid() {
        let dir = tempfile::tempdir().unwrap();
        let v2 = dir.path();
        let mut r = Report { last_zxid: Some(0x3_0000_0002), ..Report::default() };
        check_epochs(v2, &mut r);
        assert!(r.problems.is_empty(), "absent files are a standalone server's: {:?}", r.problems);
        std::fs::write(v2.join("currentEpoch"), "4").unwrap();
        std::fs::write(v2.join("acceptedEpoch"), "3").unwrap();
        check_epochs(v2, &mut r);
        assert_eq!(r.problems.len(), 1);
        assert!(r.problems[0].contains("currentEpoch 4 is above acceptedEpoch 3"), "{:?}", r.problems);
        let mut r = Report { last_zxid: Some(0x5_0000_0002), ..Report::default() };
        std::fs::write(v2.join("acceptedEpoch"), "4").unwrap();
        check_epochs(v2, &mut r);
        assert!(r.problems[0].contains("below epoch 5"), "{:?}", r.problems);
        std::fs::write(v2.join("acceptedEpoch"), "x").unwrap();
        let mut r = Report::default();
        check_epochs(v2, &mut r);
        assert!(r.problems[0].contains("acceptedEpoch") && r.problems[0].contains("not an epoch"), "{:?}", r.problems);
    }
}
