//! The write-ahead txn log: segment files `<log_dir>/version-2/log.<first zxid hex>` holding
//! checksummed records of opaque payload bytes keyed by strictly increasing zxids.
//!
//! Owns: the segment files, their format, torn-tail repair and corruption detection.
//! Must never: report a record durable before `sync` has fdatasync'ed it, silently skip a
//! damaged record that is followed by valid data, or be used from more than one thread at a
//! time (it is synchronous and single-owner; `committer::LogWriter` puts it on a thread).
//!
//! Segment layout: a 16-byte header (`b"ZBKL"`, u32 BE version = 1, u64 reserved = 0), then
//! records `u32 BE payload_len | u32 BE crc32c(zxid BE ++ payload) | i64 BE zxid | payload`.
//! Files are preallocated with zeros; a zero length field marks the end of the data.

use super::{fsync_dir, Result, StorageError};
use bytes::Bytes;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, ErrorKind, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Segment file magic.
pub const SEGMENT_MAGIC: [u8; 4] = *b"ZBKL";
/// Segment format version.
pub const SEGMENT_VERSION: u32 = 1;
/// Bytes in a segment header.
pub const SEGMENT_HEADER_LEN: u64 = 16;
/// Bytes in a record header (length, crc, zxid).
pub const RECORD_HEADER_LEN: u64 = 16;

/// Tuning knobs of the txn log.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Segments grow in steps of this many zero bytes (default 64 MiB).
    pub pre_alloc_size: u64,
    /// Largest accepted payload (default 32 MiB); larger lengths on disk are treated as damage.
    pub max_payload: u32,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            pre_alloc_size: 64 << 20,
            max_payload: 32 << 20,
        }
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
}

/// File name of the segment whose first record is `zxid`.
pub fn segment_name(zxid: i64) -> String {
    format!("log.{:016x}", zxid as u64)
}

fn parse_segment_name(name: &str) -> Option<i64> {
    let hex = name.strip_prefix("log.")?;
    if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok().map(|v| v as i64)
}

/// The record checksum: crc32c over the zxid (big-endian) followed by the payload.
pub fn record_crc(zxid: i64, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&zxid.to_be_bytes()), payload)
}

fn encode_record(buf: &mut Vec<u8>, zxid: i64, payload: &[u8]) {
    buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    buf.extend_from_slice(&record_crc(zxid, payload).to_be_bytes());
    buf.extend_from_slice(&zxid.to_be_bytes());
    buf.extend_from_slice(payload);
}

fn segment_header() -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    h[..4].copy_from_slice(&SEGMENT_MAGIC);
    h[4..8].copy_from_slice(&SEGMENT_VERSION.to_be_bytes());
    h
}

/// Reads until `buf` is full or EOF; returns the number of bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// One step of sequential record reading.
enum Step {
    Record { zxid: i64, payload: Vec<u8> },
    /// End of data (zero header or end of file) at this offset.
    End,
    /// A damaged or incomplete record starts at the reader's offset.
    Bad(String),
}

/// Sequential reader of the records of one segment.
struct RecordReader {
    r: BufReader<File>,
    path: PathBuf,
    /// Offset of the next record.
    offset: u64,
    /// Records must end at or before this offset.
    limit: u64,
    max_payload: u32,
}

impl RecordReader {
    /// Opens `path`, checks its header. `Ok(None)` if the header is short or all zeros.
    fn open(path: &Path, max_payload: u32, limit: Option<u64>) -> Result<Option<RecordReader>> {
        let io = |e| StorageError::io(path, e);
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut r = BufReader::with_capacity(256 << 10, file);
        let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
        let n = read_full(&mut r, &mut h).map_err(io)?;
        if n < h.len() || h.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        if h[..4] != SEGMENT_MAGIC {
            return Err(StorageError::corrupt(path, 0, "bad segment magic"));
        }
        let version = u32::from_be_bytes(h[4..8].try_into().unwrap());
        if version != SEGMENT_VERSION {
            return Err(StorageError::corrupt(path, 4, format!("unsupported segment version {version}")));
        }
        Ok(Some(RecordReader {
            r,
            path: path.to_path_buf(),
            offset: SEGMENT_HEADER_LEN,
            limit: limit.unwrap_or(len).min(len),
            max_payload,
        }))
    }

    fn next(&mut self) -> Result<Step> {
        let io = |e| StorageError::io(&self.path, e);
        if self.offset + RECORD_HEADER_LEN > self.limit {
            let mut rest = vec![0u8; (self.limit.saturating_sub(self.offset)) as usize];
            let n = read_full(&mut self.r, &mut rest).map_err(io)?;
            return Ok(if rest[..n].iter().all(|&b| b == 0) {
                Step::End
            } else {
                Step::Bad("incomplete record header".into())
            });
        }
        let mut h = [0u8; RECORD_HEADER_LEN as usize];
        let n = read_full(&mut self.r, &mut h).map_err(io)?;
        if n < h.len() {
            return Ok(Step::Bad("incomplete record header".into()));
        }
        if h.iter().all(|&b| b == 0) {
            return Ok(Step::End);
        }
        let len = u32::from_be_bytes(h[0..4].try_into().unwrap());
        let crc = u32::from_be_bytes(h[4..8].try_into().unwrap());
        let zxid = i64::from_be_bytes(h[8..16].try_into().unwrap());
        if len == 0 {
            return Ok(Step::Bad("zero length with a non-zero record header".into()));
        }
        if len > self.max_payload {
            return Ok(Step::Bad(format!("record length {len} exceeds the maximum")));
        }
        if self.offset + RECORD_HEADER_LEN + len as u64 > self.limit {
            return Ok(Step::Bad(format!("record of length {len} extends past the end of data")));
        }
        let mut payload = vec![0u8; len as usize];
        if read_full(&mut self.r, &mut payload).map_err(io)? < payload.len() {
            return Ok(Step::Bad("incomplete record payload".into()));
        }
        if record_crc(zxid, &payload) != crc {
            return Ok(Step::Bad(format!("checksum mismatch (record zxid 0x{zxid:x})")));
        }
        self.offset += RECORD_HEADER_LEN + len as u64;
        Ok(Step::Record { zxid, payload })
    }
}

/// Finds a plausible valid record anywhere in `data` (at index ≥ 1): positive length that
/// fits, zxid greater than `after`, and a matching checksum. Returns (index, zxid).
fn find_valid_record(data: &[u8], after: i64, max_payload: u32) -> Option<(usize, i64)> {
    let h = RECORD_HEADER_LEN as usize;
    (1..data.len().saturating_sub(h - 1)).find_map(|i| {
        let len = u32::from_be_bytes(data[i..i + 4].try_into().unwrap());
        if len == 0 || len > max_payload || i + h + len as usize > data.len() {
            return None;
        }
        let zxid = i64::from_be_bytes(data[i + 8..i + 16].try_into().unwrap());
        let crc = u32::from_be_bytes(data[i + 4..i + 8].try_into().unwrap());
        (zxid > after && record_crc(zxid, &data[i + h..i + h + len as usize]) == crc).then_some((i, zxid))
    })
}

/// True if `path` holds only zero bytes from `from` to its end (streamed, 1 MiB at a time).
fn zeros_from(path: &Path, from: u64) -> Result<bool> {
    let io = |e| StorageError::io(path, e);
    let f = File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let mut buf = vec![0u8; 1 << 20];
    let mut off = from;
    while off < len {
        let n = ((len - off) as usize).min(buf.len());
        f.read_exact_at(&mut buf[..n], off).map_err(io)?;
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        off += n as u64;
    }
    Ok(true)
}

/// Zeros `path` from `from` to its current end, keeping its length; fsyncs.
fn zero_tail(path: &Path, from: u64) -> Result<()> {
    let io = |e| StorageError::io(path, e);
    let f = OpenOptions::new().write(true).open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    f.set_len(from).map_err(io)?;
    f.set_len(len.max(from)).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Outcome of validating one segment at open.
enum Scanned {
    /// Header missing or all zeros (only tolerated for the last segment).
    NoHeader,
    Ok { last: Option<i64>, end: u64 },
}

/// Validates one segment. `prev` is the last zxid of earlier segments.
fn scan_segment(path: &Path, name_zxid: i64, prev: i64, is_last: bool, max_payload: u32) -> Result<Scanned> {
    let Some(mut rd) = RecordReader::open(path, max_payload, None)? else {
        return if is_last {
            Ok(Scanned::NoHeader)
        } else {
            Err(StorageError::corrupt(path, 0, "missing or incomplete segment header"))
        };
    };
    let mut last = None;
    let bad = loop {
        let off = rd.offset;
        match rd.next()? {
            Step::Record { zxid, .. } => {
                let before = last.unwrap_or(prev);
                if zxid <= before {
                    return Err(StorageError::corrupt(
                        path,
                        off,
                        format!("zxid 0x{zxid:x} does not increase (previous 0x{before:x})"),
                    ));
                }
                if last.is_none() && zxid != name_zxid {
                    return Err(StorageError::corrupt(
                        path,
                        off,
                        format!("first record zxid 0x{zxid:x} does not match the file name"),
                    ));
                }
                last = Some(zxid);
            }
            Step::End => {
                if zeros_from(path, off)? {
                    return Ok(Scanned::Ok { last, end: off });
                }
                break "zero record header followed by non-zero data".to_string();
            }
            Step::Bad(reason) => break reason,
        }
    };
    let off = rd.offset;
    if !is_last {
        return Err(StorageError::corrupt(path, off, bad));
    }
    // Last segment: a torn write unless a valid record follows the damage.
    let io = |e| StorageError::io(path, e);
    let f = File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let mut rest = vec![0u8; len.saturating_sub(off) as usize];
    f.read_exact_at(&mut rest, off).map_err(io)?;
    if let Some((i, zxid)) = find_valid_record(&rest, last.unwrap_or(prev), max_payload) {
        return Err(StorageError::corrupt(
            path,
            off,
            format!("{bad}; a valid record (zxid 0x{zxid:x}) follows at offset {}", off + i as u64),
        ));
    }
    tracing::warn!(file = %path.display(), offset = off, "torn write at the log tail ({bad}); truncating");
    zero_tail(path, off)?;
    Ok(Scanned::Ok { last, end: off })
}

impl TxnLog {
    /// Opens (creating if needed) the log under `log_dir/version-2`, validating every record
    /// and repairing a torn tail in the last segment. Damage elsewhere is `Corrupt`.
    pub fn open(log_dir: &Path, opts: LogOptions) -> Result<TxnLog> {
        let dir = log_dir.join("version-2");
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
            fsync_dir(log_dir)?;
        }
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| StorageError::io(&dir, e))? {
            let entry = entry.map_err(|e| StorageError::io(&dir, e))?;
            if let Some(z) = entry.file_name().to_str().and_then(parse_segment_name) {
                names.push((z, entry.path()));
            }
        }
        names.sort();
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
        active.file.sync_data().map_err(io)?;
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
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io)?;
        let alloc = self.opts.pre_alloc_size.max(SEGMENT_HEADER_LEN);
        file.write_all_at(&segment_header(), 0).map_err(io)?;
        file.set_len(alloc).map_err(io)?;
        file.sync_all().map_err(io)?;
        fsync_dir(&self.dir)?;
        self.segs.push(SegmentInfo { path, first_zxid, last_zxid: 0, end: SEGMENT_HEADER_LEN });
        self.active = Some(Active { file, alloc });
        Ok(())
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
                    Step::Record { zxid: z, payload } => {
                        if z > zxid {
                            out.push((z, Bytes::from(payload)));
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
