//! The segment file format of the txn log: header, record encoding, sequential record reading
//! and the open-time validation / torn-tail repair of one segment.
//!
//! Owns: the byte layout of `log.<zxid>` files (see `wal` for the layout summary).
//! Must never: accept a record whose checksum fails, or treat damage that is followed by a
//! valid record as a torn tail.

use super::{Result, StorageError};
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

/// File name of the segment whose first record is `zxid`.
pub fn segment_name(zxid: i64) -> String {
    format!("log.{:016x}", zxid as u64)
}

/// The zxid in a segment file name `log.<16 hex digits>`, if it is one.
pub fn parse_segment_name(name: &str) -> Option<i64> {
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

pub(super) fn encode_record(buf: &mut Vec<u8>, zxid: i64, payload: &[u8]) {
    buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    buf.extend_from_slice(&record_crc(zxid, payload).to_be_bytes());
    buf.extend_from_slice(&zxid.to_be_bytes());
    buf.extend_from_slice(payload);
}

pub(super) fn segment_header() -> [u8; SEGMENT_HEADER_LEN as usize] {
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
pub(super) enum Step {
    /// A valid record; its payload is in `RecordReader::payload` until the next step.
    Record { zxid: i64 },
    /// End of data (zero header or end of file) at this offset.
    End,
    /// A damaged or incomplete record starts at the reader's offset.
    Bad(String),
}

/// Sequential reader of the records of one segment.
pub(super) struct RecordReader {
    r: BufReader<File>,
    path: PathBuf,
    /// Offset of the next record.
    pub(super) offset: u64,
    /// Records must end at or before this offset.
    limit: u64,
    max_payload: u32,
    /// The payload of the record `next` returned last (reused: no allocation per record).
    pub(super) payload: Vec<u8>,
}

impl RecordReader {
    /// Opens `path`, checks its header. `Ok(None)` if the header is short or all zeros.
    pub(super) fn open(path: &Path, max_payload: u32, limit: Option<u64>) -> Result<Option<RecordReader>> {
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
            payload: Vec::new(),
        }))
    }

    pub(super) fn next(&mut self) -> Result<Step> {
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
        self.payload.resize(len as usize, 0);
        if read_full(&mut self.r, &mut self.payload).map_err(io)? < self.payload.len() {
            return Ok(Step::Bad("incomplete record payload".into()));
        }
        if record_crc(zxid, &self.payload) != crc {
            return Ok(Step::Bad(format!("checksum mismatch (record zxid 0x{zxid:x})")));
        }
        self.offset += RECORD_HEADER_LEN + len as u64;
        Ok(Step::Record { zxid })
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

/// Where the next data (not a hole) at or after `off` starts: `len` when only holes follow.
/// A sparse preallocation leaves the rest of a segment a hole, skipped without reading it
/// (a zero-filled one, `prealloc`, is data and is read).
/// File systems without SEEK_DATA report everything as data.
fn next_data(f: &File, off: u64, len: u64) -> u64 {
    use std::os::unix::io::AsRawFd;
    // SAFETY: lseek on a file descriptor we own; it only moves the file offset (unused: all
    // reads here are positional).
    let r = unsafe { libc::lseek(f.as_raw_fd(), off as libc::off_t, libc::SEEK_DATA) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ENXIO) { len } else { off };
    }
    r as u64
}

/// Where the hole after `off` starts (`len` at the end of the file).
fn next_hole(f: &File, off: u64, len: u64) -> u64 {
    use std::os::unix::io::AsRawFd;
    // SAFETY: as in `next_data`.
    let r = unsafe { libc::lseek(f.as_raw_fd(), off as libc::off_t, libc::SEEK_HOLE) };
    if r < 0 {
        len
    } else {
        (r as u64).min(len)
    }
}

/// True if `path` holds only zero bytes from `from` to its end. Holes are zeros by
/// definition and are skipped; data regions are read 1 MiB at a time.
fn zeros_from(path: &Path, from: u64) -> Result<bool> {
    let io = |e| StorageError::io(path, e);
    let f = File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let mut buf = vec![0u8; 1 << 20];
    let mut off = next_data(&f, from, len);
    while off < len {
        let end = next_hole(&f, off, len).max(off + 1);
        while off < end {
            let n = ((end - off) as usize).min(buf.len());
            f.read_exact_at(&mut buf[..n], off).map_err(io)?;
            if buf[..n].iter().any(|&b| b != 0) {
                return Ok(false);
            }
            off += n as u64;
        }
        off = next_data(&f, off, len);
    }
    Ok(true)
}

/// Zeros `path` from `from` to its current end, keeping its length; fsyncs.
pub(super) fn zero_tail(path: &Path, from: u64) -> Result<()> {
    let io = |e| StorageError::io(path, e);
    let f = OpenOptions::new().write(true).open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    f.set_len(from).map_err(io)?;
    f.set_len(len.max(from)).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Outcome of validating one segment at open.
pub(super) enum Scanned {
    /// Header missing or all zeros (only tolerated for the last segment).
    NoHeader,
    Ok {
        last: Option<i64>,
        end: u64,
    },
}

/// What reading one segment found, without changing it (`inspect_segment`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inspected {
    /// Header missing or all zeros: tolerated (and removed at open) only for the last segment.
    NoHeader,
    /// Every record valid up to `end`, where zeros run to the end of the file.
    Clean { last: Option<i64>, end: u64 },
    /// The last segment's data ends in a damaged or partial record at `end` that no valid
    /// record follows: a torn write, which opening the log truncates (zeros) away.
    Torn { last: Option<i64>, end: u64, reason: String },
}

/// Validates one segment. `prev` is the last zxid of earlier segments.
pub(super) fn scan_segment(path: &Path, name_zxid: i64, prev: i64, is_last: bool, max_payload: u32) -> Result<Scanned> {
    match inspect_segment(path, Some(name_zxid), prev, is_last, max_payload, |_, _, _| {})? {
        Inspected::NoHeader => Ok(Scanned::NoHeader),
        Inspected::Clean { last, end } => Ok(Scanned::Ok { last, end }),
        Inspected::Torn { last, end, reason } => {
            tracing::warn!(file = %path.display(), offset = end, "torn write at the log tail ({reason}); truncating");
            zero_tail(path, end)?;
            Ok(Scanned::Ok { last, end })
        }
    }
}

/// Reads one segment read-only, as opening the log judges it, handing every valid record to
/// `on_record(offset, zxid, payload)` in order. `name_zxid` is the zxid in the file's name
/// (its first record's; `None` for a file under another name), `prev` the last zxid of
/// earlier segments (records must exceed it), `is_last` whether this is the newest segment (only there a
/// missing header or a torn tail is tolerated). Damage is a `Corrupt` error naming the file
/// and the offset; records before it have been handed over already.
pub fn inspect_segment(
    path: &Path,
    name_zxid: Option<i64>,
    prev: i64,
    is_last: bool,
    max_payload: u32,
    mut on_record: impl FnMut(u64, i64, &[u8]),
) -> Result<Inspected> {
    let Some(mut rd) = RecordReader::open(path, max_payload, None)? else {
        return if is_last {
            Ok(Inspected::NoHeader)
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
                if last.is_none() && name_zxid.is_some_and(|n| n != zxid) {
                    return Err(StorageError::corrupt(
                        path,
                        off,
                        format!("first record zxid 0x{zxid:x} does not match the file name"),
                    ));
                }
                on_record(off, zxid, &rd.payload);
                last = Some(zxid);
            }
            Step::End => {
                if zeros_from(path, off)? {
                    return Ok(Inspected::Clean { last, end: off });
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
    Ok(Inspected::Torn { last, end: off, reason: bad })
}
