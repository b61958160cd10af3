//! The write-ahead txn log: segment files `<log_dir>/version-2/log.<first zxid hex>` holding
//! checksummed records of opaque payload bytes keyed by strictly increasing zxids.
//!
//! Owns: the set of segment files (creating, preallocating, rolling, purging, truncating) and
//! the write buffer; the byte format and per-segment validation live in `segment`.
//! Must never: report a record durable before `sync` has fdatasync'ed it (unless told not to
//! sync: `forceSync=no`), silently skip a
//! damaged record that is followed by valid data, or be used from more than one thread at a
//! time (it is synchronous and single-owner; `committer::LogWriter` puts it on a thread).
//!
//! Segment layout: a 16-byte header (`b"ZBKL"`, u32 BE version = 1, u64 reserved = 0), then
//! records `u32 BE payload_len | u32 BE crc32c(zxid BE ++ payload) | i64 BE zxid | payload`.
//! Files are preallocated with zeros; a zero length field marks the end of the data. The next
//! segment is zero-filled in the background (`prealloc`) so fdatasyncs change no metadata; a
//! segment that outgrows it, or one started before it is ready, grows sparsely.

use super::prealloc::NextSegment;
use super::segment::{encode_record, scan_segment, segment_header, zero_tail, RecordReader, Scanned, Step};
pub use super::segment::{
    inspect_segment, parse_segment_name, record_crc, segment_name, Inspected, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN,
    SEGMENT_MAGIC, SEGMENT_VERSION,
};
use super::{fsync_dir, Result, StorageError};
use bytes::Bytes;
use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Tuning knobs of the txn log.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Segments grow in steps of this many zero bytes (default 64 MiB).
    pub pre_alloc_size: u64,
    /// Largest accepted payload (default 32 MiB); larger lengths on disk are treated as damage.
    pub max_payload: u32,
    /// fdatasync each batch before it counts as durable (default). `false` is ZooKeeper's
    /// `forceSync=no`, for test rigs only: batches are written but not synced, so a power
    /// failure can take acknowledged writes with it.
    pub force_sync: bool,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions { pre_alloc_size: 64 << 20, max_payload: 32 << 20, force_sync: true }
    }
}

/// What we know about one segment file.
#[derive(Debug, Clone)]
struct SegmentInfo {
    path: PathBuf,
    /// From the file name; equals the zxid of its first record.
    first_zxid: i64,
    /// Zxid of the last durable record (0 if none).
    last_zxid: i64,
    /// Offset just past the last durable record.
    end: u64,
}

/// The open segment new records go to (always the last entry of `TxnLog::segs`).
struct Active {
    file: File,
    /// Current file length (written data plus zero preallocation).
    alloc: u64,
}

/// The txn log. Synchronous; buffered appends become durable on `sync`.
pub struct TxnLog {
    dir: PathBuf,
    opts: LogOptions,
    segs: Vec<SegmentInfo>,
    /// `None` means the next `sync` starts a new segment (after `roll`, or when empty).
    active: Option<Active>,
    buf: Vec<u8>,
    /// Zxid of the first buffered record (0 when the buffer is empty).
    buf_first: i64,
    last_appended: i64,
    poisoned: bool,
    next: NextSegment,
}

/// The segment files in `dir` (a `version-2` directory) as (zxid in the name, path), oldest
/// first. Reads the directory only.
pub fn list_segments(dir: &Path) -> Result<Vec<(i64, PathBuf)>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))? {
        let entry = entry.map_err(|e| StorageError::io(dir, e))?;
        if let Some(z) = entry.file_name().to_str().and_then(parse_segment_name) {
            names.push((z, entry.path()));
        }
    }
    names.sort();
    Ok(names)
}

impl TxnLog {
    /// Opens (creating if needed) the log under `log_dir/version-2`, validating every record
    /// and repairing a torn tail in the last segment. Damage elsewhere is `Corrupt`.
    pub fn open(log_dir: &Path, opts: LogOptions) -> Result<TxnLog> {
        let dir = log_dir.join("version-2");
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
            fsync_dir(log_dir)?;
            if let Some(parent) = log_dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fsync_dir(parent)?;
            }
        }
        if super::prealloc::remove_stale(&dir).map_err(|e| StorageError::io(&dir, e))? {
            fsync_dir(&dir)?;
        }
        let names = list_segments(&dir)?;
        let mut segs: Vec<SegmentInfo> = Vec::new();
        let mut prev = 0;
        let count = names.len();
        for (i, (name_zxid, path)) in names.into_iter().enumerate() {
            let is_last = i + 1 == count;
            match scan_segment(&path, name_zxid, prev, is_last, opts.max_payload)? {
                Scanned::Ok { last: Some(last), end, .. } => {
                    prev = last;
                    segs.push(SegmentInfo { path, first_zxid: name_zxid, last_zxid: last, end });
                }
                Scanned::Ok { last: None, .. } if !is_last => {
                    return Err(StorageError::corrupt(&path, SEGMENT_HEADER_LEN, "segment has no records"));
                }
                Scanned::Ok { .. } | Scanned::NoHeader => {
                    tracing::warn!(file = %path.display(), "removing empty last log segment");
                    std::fs::remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
                    fsync_dir(&dir)?;
                }
            }
        }
        let mut log = TxnLog {
            dir,
            opts,
            segs,
            active: None,
            buf: Vec::new(),
            buf_first: 0,
            last_appended: prev,
            poisoned: false,
            next: NextSegment::default(),
        };
        log.reopen_active()?;
        Ok(log)
    }

    /// Makes the last segment the active one (appends continue in it).
    fn reopen_active(&mut self) -> Result<()> {
        self.active = None;
        if let Some(seg) = self.segs.last() {
            let io = |e| StorageError::io(&seg.path, e);
            let file = OpenOptions::new().read(true).write(true).open(&seg.path).map_err(io)?;
            let alloc = file.metadata().map_err(io)?.len();
            self.active = Some(Active { file, alloc });
        }
        // Either for the segment after the reopened one or for the first one.
        self.prepare_next();
        Ok(())
    }

    /// The zxid of the last appended record (buffered or durable); 0 when empty.
    pub fn last_zxid(&self) -> i64 {
        self.last_appended
    }

    /// The zxid of the last durable record; 0 when none.
    pub fn last_durable_zxid(&self) -> i64 {
        self.segs.last().map_or(0, |s| s.last_zxid)
    }

    /// The zxid of the oldest durable record still in the log, if any.
    pub fn first_zxid(&self) -> Option<i64> {
        self.segs.first().map(|s| s.first_zxid)
    }

    /// Buffers a record; it becomes durable at the next `sync`.
    pub fn append(&mut self, zxid: i64, payload: &[u8]) -> Result<()> {
        if self.poisoned {
            return Err(StorageError::Poisoned);
        }
        if zxid <= self.last_appended {
            return Err(StorageError::ZxidOrder { zxid, last: self.last_appended });
        }
        if payload.is_empty() || payload.len() > self.opts.max_payload as usize {
            return Err(StorageError::InvalidRecord {
                zxid,
                reason: format!("payload length {} is not in 1..={}", payload.len(), self.opts.max_payload),
            });
        }
        encode_record(&mut self.buf, zxid, payload);
        if self.buf_first == 0 {
            self.buf_first = zxid;
        }
        self.last_appended = zxid;
        Ok(())
    }

    /// Writes all buffered records and fdatasyncs them (one sync for many appends).
    /// After an I/O error the log refuses further writes (`Poisoned`).
    pub fn sync(&mut self) -> Result<()> {
        if self.poisoned {
            return Err(StorageError::Poisoned);
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        let r = self.write_buffer();
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    fn write_buffer(&mut self) -> Result<()> {
        if self.active.is_none() {
            self.create_segment(self.buf_first)?;
        }
        let (Some(seg), Some(active)) = (self.segs.last_mut(), self.active.as_mut()) else {
            unreachable!("create_segment sets both");
        };
        let io = |e| StorageError::io(&seg.path, e);
        let need = seg.end + self.buf.len() as u64;
        if need > active.alloc {
            let step = self.opts.pre_alloc_size.max(1);
            let mut alloc = active.alloc;
            while alloc < need {
                alloc += step;
            }
            active.file.set_len(alloc).map_err(io)?;
            active.alloc = alloc;
        }
        active.file.write_all_at(&self.buf, seg.end).map_err(io)?;
        if self.opts.force_sync {
            active.file.sync_data().map_err(io)?;
        }
        seg.end = need;
        seg.last_zxid = self.last_appended;
        self.buf.clear();
        self.buf_first = 0;
        if self.buf.capacity() > 8 << 20 {
            self.buf.shrink_to(1 << 20);
        }
        Ok(())
    }

    fn create_segment(&mut self, first_zxid: i64) -> Result<()> {
        let path = self.dir.join(segment_name(first_zxid));
        let io = |e| StorageError::io(&path, e);
        let (file, alloc) = match self.next.take_if_ready() {
            Some(ready) => {
                // The header goes in before the name: a listed segment is never headerless.
                ready.file.write_all_at(&segment_header(), 0).map_err(io)?;
                ready.file.sync_data().map_err(io)?;
                std::fs::rename(&ready.path, &path).map_err(io)?;
                (ready.file, ready.len.max(SEGMENT_HEADER_LEN))
            }
            None => {
                let file = OpenOptions::new().read(true).write(true).create_new(true).open(&path).map_err(io)?;
                let alloc = self.opts.pre_alloc_size.max(SEGMENT_HEADER_LEN);
                file.write_all_at(&segment_header(), 0).map_err(io)?;
                file.set_len(alloc).map_err(io)?;
                file.sync_all().map_err(io)?;
                (file, alloc)
            }
        };
        fsync_dir(&self.dir)?;
        self.segs.push(SegmentInfo { path, first_zxid, last_zxid: 0, end: SEGMENT_HEADER_LEN });
        self.active = Some(Active { file, alloc });
        self.prepare_next();
        Ok(())
    }

    /// Waits until the next segment's file is zero-filled (tests use it to know which kind of
    /// file the next segment gets).
    #[cfg(test)]
    pub(crate) fn wait_next_segment_ready(&mut self) {
        self.next.wait_ready();
    }

    /// Starts zero-filling the file the next segment will use, about as large as the segment
    /// before the active one turned out (between 4 MiB and the preallocation size).
    fn prepare_next(&mut self) {
        let max = self.opts.pre_alloc_size.max(SEGMENT_HEADER_LEN);
        let before = self.segs.len().checked_sub(2).map_or(0, |i| self.segs[i].end);
        self.next.prepare(&self.dir, before.clamp(max.min(4 << 20), max));
    }

    /// Syncs, closes the current segment (trimming its preallocation), and makes the next
    /// append start a new segment named after its zxid.
    pub fn roll(&mut self) -> Result<()> {
        self.sync()?;
        if let (Some(active), Some(seg)) = (self.active.take(), self.segs.last()) {
            let io = |e| StorageError::io(&seg.path, e);
            let r = active.file.set_len(seg.end).and_then(|_| active.file.sync_all());
            if let Err(e) = r {
                self.poisoned = true;
                return Err(io(e));
            }
        }
        Ok(())
    }

    /// All durable records with zxid > `zxid`, in order.
    pub fn read_after(&self, zxid: i64) -> Result<Vec<(i64, Bytes)>> {
        let mut out = Vec::new();
        for seg in self.segs.iter().filter(|s| s.last_zxid > zxid) {
            let mut rd = RecordReader::open(&seg.path, self.opts.max_payload, Some(seg.end))?
                .ok_or_else(|| StorageError::corrupt(&seg.path, 0, "segment header vanished"))?;
            while rd.offset < seg.end {
                let off = rd.offset;
                match rd.next()? {
                    Step::Record { zxid: z } => {
                        if z > zxid {
                            out.push((z, Bytes::copy_from_slice(&rd.payload)));
                        }
                    }
                    Step::End => return Err(StorageError::corrupt(&seg.path, off, "unexpected end of data")),
                    Step::Bad(reason) => return Err(StorageError::corrupt(&seg.path, off, reason)),
                }
            }
        }
        Ok(out)
    }

    /// Deletes whole segments all of whose records are below `zxid`, keeping the segment that
    /// contains `zxid` (or precedes the first record above it) and never the last segment.
    /// Returns the number of segments removed.
    pub fn purge_before(&mut self, zxid: i64) -> Result<usize> {
        let mut k = 0;
        while k + 1 < self.segs.len() && self.segs[k + 1].first_zxid <= zxid {
            k += 1;
        }
        let mut removed = 0;
        let mut result = Ok(());
        for seg in &self.segs[..k] {
            match std::fs::remove_file(&seg.path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == ErrorKind::NotFound => removed += 1,
                Err(e) => {
                    result = Err(StorageError::io(&seg.path, e));
                    break;
                }
            }
        }
        self.segs.drain(..removed);
        if removed > 0 {
            fsync_dir(&self.dir)?;
        }
        result.map(|_| removed)
    }

    /// Drops every record with zxid > `zxid` (buffered or durable) and fsyncs.
    pub fn truncate_after(&mut self, zxid: i64) -> Result<()> {
        self.sync()?;
        let mut removed = false;
        while self.segs.last().is_some_and(|s| s.first_zxid > zxid) {
            let seg = self.segs.pop().unwrap();
            self.active = None;
            std::fs::remove_file(&seg.path).map_err(|e| StorageError::io(&seg.path, e))?;
            removed = true;
        }
        if removed {
            fsync_dir(&self.dir)?;
            self.reopen_active()?;
        }
        let max_payload = self.opts.max_payload;
        if let Some(seg) = self.segs.last_mut().filter(|s| s.last_zxid > zxid) {
            let mut rd = RecordReader::open(&seg.path, max_payload, Some(seg.end))?
                .ok_or_else(|| StorageError::corrupt(&seg.path, 0, "segment header vanished"))?;
            let mut kept = 0;
            loop {
                let off = rd.offset;
                match rd.next()? {
                    Step::Record { zxid: z, .. } if z <= zxid => kept = z,
                    Step::Record { .. } => {
                        zero_tail(&seg.path, off)?;
                        seg.end = off;
                        seg.last_zxid = kept;
                        break;
                    }
                    Step::End => break,
                    Step::Bad(reason) => return Err(StorageError::corrupt(&seg.path, off, reason)),
                }
            }
        }
        self.last_appended = self.last_durable_zxid();
        Ok(())
    }

    /// Paths of the segment files, oldest first.
    pub fn segments(&self) -> Vec<PathBuf> {
        self.segs.iter().map(|s| s.path.clone()).collect()
    }

    /// Total bytes of the segment files on disk (including preallocation).
    pub fn total_size(&self) -> Result<u64> {
        self.segs.iter().try_fold(0, |acc, s| {
            let len = std::fs::metadata(&s.path).map_err(|e| StorageError::io(&s.path, e))?.len();
            Ok(acc + len)
        })
    }

    /// The `version-2` directory holding the segments.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
#[path = "wal_tests.rs"]
mod tests;
