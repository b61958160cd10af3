//! Snapshots as plain files: `<data_dir>/version-2/snapshot.<zxid as 16 hex digits>`, each a
//! 32-byte header (`b"ZBKF"`, u32 BE version = 1, i64 BE zxid, u64 BE body length, u32 BE
//! crc32c of the body, u32 BE crc32c of the first 28 header bytes) followed by the body.
//! A snapshot is written to `snapshot.<zxid>.tmp`, fsynced, renamed into place and the
//! directory fsynced, so a listed snapshot is always complete; stale `.tmp` files (a crash
//! mid-write) are removed when the store opens.
//!
//! Owns: the snapshot files and their format.
//! Must never: list a snapshot before its rename is durable, return bytes that fail their
//! checksum (a stream reports the mismatch when its end is read, so a reader must read to
//! the end before trusting what it read), or hold a whole snapshot in memory while writing
//! or streaming it.

use super::snapshot::{SnapshotSink, SnapshotStore};
use super::{fsync_dir, Result, StorageError};
use bytes::Bytes;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 4] = b"ZBKF";
const VERSION: u32 = 1;
/// Bytes before the body.
pub const HEADER_LEN: usize = 32;

/// File name of snapshot `zxid`.
pub fn snapshot_name(zxid: i64) -> String {
    format!("snapshot.{:016x}", zxid as u64)
}

/// The zxid of a snapshot file name (`snapshot.<16 hex digits>`), None for any other name.
pub fn parse_name(name: &str) -> Option<i64> {
    let hex = name.strip_prefix("snapshot.")?;
    if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok().map(|v| v as i64)
}

fn header(zxid: i64, len: u64, crc: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(MAGIC);
    h[4..8].copy_from_slice(&VERSION.to_be_bytes());
    h[8..16].copy_from_slice(&zxid.to_be_bytes());
    h[16..24].copy_from_slice(&len.to_be_bytes());
    h[24..28].copy_from_slice(&crc.to_be_bytes());
    let hcrc = crc32c::crc32c(&h[..28]);
    h[28..32].copy_from_slice(&hcrc.to_be_bytes());
    h
}

/// File-per-snapshot store.
pub struct FileSnapshotStore {
    dir: PathBuf,
}

impl FileSnapshotStore {
    /// Opens (creating) the store in `<data_dir>/version-2` and removes unfinished writes.
    pub fn open(data_dir: &Path) -> Result<FileSnapshotStore> {
        let dir = data_dir.join("version-2");
        std::fs::create_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
        let store = FileSnapshotStore { dir };
        let mut removed = false;
        for entry in std::fs::read_dir(&store.dir).map_err(|e| StorageError::io(&store.dir, e))? {
            let entry = entry.map_err(|e| StorageError::io(&store.dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.strip_suffix(".tmp").and_then(parse_name).is_some() {
                tracing::warn!("removing unfinished snapshot {}", entry.path().display());
                std::fs::remove_file(entry.path()).map_err(|e| StorageError::io(&entry.path(), e))?;
                removed = true;
            }
        }
        if removed {
            fsync_dir(&store.dir)?;
        }
        Ok(store)
    }

    fn path_of(&self, zxid: i64) -> PathBuf {
        self.dir.join(snapshot_name(zxid))
    }

    /// Opens snapshot `zxid` after checking its header; the body's checksum is checked as its
    /// end is read.
    fn open_body(&self, zxid: i64) -> Result<CheckedBody> {
        let path = self.path_of(zxid);
        let io = |e| StorageError::io(&path, e);
        let mut f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(StorageError::SnapshotNotFound(zxid)),
            Err(e) => return Err(io(e)),
        };
        let file_len = f.metadata().map_err(io)?.len();
        let mut h = [0u8; HEADER_LEN];
        if file_len < HEADER_LEN as u64 {
            return Err(self.corrupt(zxid, 0, "shorter than its header"));
        }
        f.read_exact(&mut h).map_err(io)?;
        if &h[..4] != MAGIC {
            return Err(self.corrupt(zxid, 0, "bad magic"));
        }
        if crc32c::crc32c(&h[..28]) != u32::from_be_bytes(h[28..32].try_into().expect("4 bytes")) {
            return Err(self.corrupt(zxid, 28, "header checksum mismatch"));
        }
        let version = u32::from_be_bytes(h[4..8].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(self.corrupt(zxid, 4, format!("unsupported version {version}")));
        }
        if i64::from_be_bytes(h[8..16].try_into().expect("8 bytes")) != zxid {
            return Err(self.corrupt(zxid, 8, "zxid does not match the file name"));
        }
        let len = u64::from_be_bytes(h[16..24].try_into().expect("8 bytes"));
        if len != file_len - HEADER_LEN as u64 {
            return Err(self.corrupt(
                zxid,
                16,
                format!("body length {len}, file holds {}", file_len - HEADER_LEN as u64),
            ));
        }
        let want = u32::from_be_bytes(h[24..28].try_into().expect("4 bytes"));
        Ok(CheckedBody { file: f, left: len, crc: 0, want, path, zxid })
    }

    fn corrupt(&self, zxid: i64, offset: u64, reason: impl std::fmt::Display) -> StorageError {
        StorageError::corrupt(&self.path_of(zxid), offset, format!("snapshot 0x{zxid:x}: {reason}"))
    }
}

impl SnapshotStore for FileSnapshotStore {
    fn begin(&mut self, zxid: i64) -> Result<Box<dyn SnapshotSink + '_>> {
        let tmp = self.dir.join(format!("{}.tmp", snapshot_name(zxid)));
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| StorageError::io(&tmp, e))?;
        // Pieces of this size or more (a snapshot's usual pieces) go to the file as they are.
        let mut out = BufWriter::with_capacity(crate::tree::snapshot::PIECE, file);
        // The real header is written at `finish`, once length and checksum are known.
        out.write_all(&[0u8; HEADER_LEN]).map_err(|e| StorageError::io(&tmp, e))?;
        Ok(Box::new(FileSink { store: self, zxid, tmp, out: Some(out), len: 0, crc: 0, kicked: 0 }))
    }

    fn list(&self) -> Result<Vec<i64>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(|e| StorageError::io(&self.dir, e))? {
            let entry = entry.map_err(|e| StorageError::io(&self.dir, e))?;
            if let Some(z) = entry.file_name().to_str().and_then(parse_name) {
                out.push(z);
            }
        }
        out.sort_unstable_by(|a, b| b.cmp(a));
        Ok(out)
    }

    fn load(&self, zxid: i64) -> Result<Bytes> {
        let mut body = self.open_body(zxid)?;
        // Read into spare capacity: no zero-filling of a buffer about to be overwritten.
        let mut out = Vec::with_capacity(body.left as usize);
        body.read_to_end(&mut out).map_err(|e| body.error(e))?;
        Ok(Bytes::from(out))
    }

    fn open(&self, zxid: i64) -> Result<(Box<dyn Read + Send + '_>, u64)> {
        let body = self.open_body(zxid)?;
        let len = body.left;
        Ok((Box::new(body), len))
    }

    fn remove(&mut self, zxid: i64) -> Result<()> {
        let path = self.path_of(zxid);
        match std::fs::remove_file(&path) {
            Ok(()) => fsync_dir(&self.dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::io(&path, e)),
        }
    }

    fn location(&self) -> &Path {
        &self.dir
    }
}

/// A snapshot's body as a stream: reading past its last byte checks the checksum (an
/// `InvalidData` error if it does not match), and a file that ends early is an error too.
struct CheckedBody {
    file: File,
    left: u64,
    crc: u32,
    want: u32,
    path: PathBuf,
    zxid: i64,
}

impl CheckedBody {
    /// A read error as the store reports it: damage is `Corrupt`, the rest I/O.
    fn error(&self, e: std::io::Error) -> StorageError {
        match e.kind() {
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof => {
                StorageError::corrupt(&self.path, HEADER_LEN as u64, format!("snapshot 0x{:x}: {e}", self.zxid))
            }
            _ => StorageError::io(&self.path, e),
        }
    }
}

impl Read for CheckedBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            if self.left == 0 && self.crc != self.want {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "checksum mismatch"));
            }
            return Ok(0);
        }
        let n = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let got = self.file.read(&mut buf[..n])?;
        if got == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "file shrank while read"));
        }
        self.crc = crc32c::crc32c_append(self.crc, &buf[..got]);
        self.left -= got as u64;
        Ok(got)
    }
}

struct FileSink<'a> {
    store: &'a FileSnapshotStore,
    zxid: i64,
    tmp: PathBuf,
    /// None once finished.
    out: Option<BufWriter<File>>,
    len: u64,
    crc: u32,
    /// Body bytes already handed to the kernel's writeback.
    kicked: u64,
}

/// How much written data may wait before writeback is started on it.
const WRITEBACK_EVERY: u64 = 8 << 20;

impl SnapshotSink for FileSink<'_> {
    fn write(&mut self, chunk: &[u8]) -> Result<()> {
        let out = self.out.as_mut().expect("not finished");
        out.write_all(chunk).map_err(|e| StorageError::io(&self.tmp, e))?;
        self.crc = crc32c::crc32c_append(self.crc, chunk);
        self.len += chunk.len() as u64;
        if self.len - self.kicked >= WRITEBACK_EVERY {
            // Start writing back what is written so far, without waiting, so the fsync at
            // the end has only the tail left (a 190 MB snapshot's fsync: ~100 ms -> ~10 ms).
            out.flush().map_err(|e| StorageError::io(&self.tmp, e))?;
            let from = HEADER_LEN as i64 + self.kicked as i64;
            // SAFETY: a plain syscall on a descriptor this sink owns; no memory is passed.
            let r = unsafe { libc::sync_file_range(out.get_ref().as_raw_fd(), from, 0, libc::SYNC_FILE_RANGE_WRITE) };
            if r != 0 {
                // Only a hint: the fsync at the end still makes the file durable.
                tracing::debug!("sync_file_range: {}", std::io::Error::last_os_error());
            }
            self.kicked = self.len;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        let io = |e| StorageError::io(&self.tmp, e);
        let out = self.out.take().expect("not finished");
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        file.write_all_at(&header(self.zxid, self.len, self.crc), 0).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        let dest = self.store.path_of(self.zxid);
        std::fs::rename(&self.tmp, &dest).map_err(io)?;
        fsync_dir(&self.store.dir)
    }
}

impl Drop for FileSink<'_> {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            if let Err(e) = std::fs::remove_file(&self.tmp) {
                tracing::warn!("cleaning up abandoned snapshot 0x{:x}: {e}", self.zxid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::snapshot::load_newest_valid;
    use crate::storage::snapshot::test_support::{pattern, raw, write_snapshot};

    fn write(store: &mut FileSnapshotStore, zxid: i64, data: &[u8]) {
        write_snapshot(store, zxid, data, 7777);
    }

    #[test]
    fn round_trip_list_remove_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let big = pattern(3 << 20, 1);
        {
            let mut store = FileSnapshotStore::open(dir.path()).unwrap();
            write(&mut store, 0x100, &big);
            write(&mut store, 0x200, b"small");
            write(&mut store, 0x50, b"");
            assert_eq!(store.list().unwrap(), vec![0x200, 0x100, 0x50]);
        }
        let mut store = FileSnapshotStore::open(dir.path()).unwrap();
        assert_eq!(store.load(0x100).unwrap(), &big[..]);
        assert_eq!(store.load(0x200).unwrap(), &b"small"[..]);
        assert!(store.load(0x50).unwrap().is_empty());
        assert!(matches!(store.load(0x7), Err(StorageError::SnapshotNotFound(7))));
        store.remove(0x200).unwrap();
        assert_eq!(store.list().unwrap(), vec![0x100, 0x50]);
        assert_eq!(load_newest_valid(&store, raw).unwrap().unwrap().0, 0x100);
    }

    #[test]
    fn damage_is_detected_and_older_snapshot_used() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FileSnapshotStore::open(dir.path()).unwrap();
        write(&mut store, 10, &pattern(5000, 2));
        write(&mut store, 20, &pattern(5000, 3));
        let p = dir.path().join("version-2").join(snapshot_name(20));
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[HEADER_LEN + 100] ^= 0x40;
        std::fs::write(&p, &bytes).unwrap();
        let err = store.load(20).unwrap_err();
        assert!(err.is_corrupt() && err.to_string().contains("checksum"), "{err}");
        let (zxid, b) = load_newest_valid(&store, raw).unwrap().unwrap();
        assert_eq!((zxid, &b[..]), (10, &pattern(5000, 2)[..]));
        // A truncated file fails on its length, a damaged header on its own checksum.
        std::fs::write(&p, &bytes[..HEADER_LEN + 10]).unwrap();
        assert!(store.load(20).unwrap_err().to_string().contains("length"));
        let mut h = bytes.clone();
        h[17] ^= 1;
        std::fs::write(&p, &h).unwrap();
        assert!(store.load(20).unwrap_err().to_string().contains("header checksum"));
    }

    #[test]
    fn unfinished_writes_are_never_listed_and_are_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = FileSnapshotStore::open(dir.path()).unwrap();
            write(&mut store, 5, b"complete");
            let mut sink = store.begin(9).unwrap();
            sink.write(b"partial").unwrap();
            assert_eq!(store_list(dir.path()), vec![5]);
            drop(sink);
            // A crash leaves the temporary file behind.
            std::fs::write(dir.path().join("version-2").join(format!("{}.tmp", snapshot_name(7))), b"x").unwrap();
            assert_eq!(store.list().unwrap(), vec![5]);
        }
        let store = FileSnapshotStore::open(dir.path()).unwrap();
        let names: Vec<String> = std::fs::read_dir(dir.path().join("version-2"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![snapshot_name(5)]);
        assert_eq!(store.load(5).unwrap(), &b"complete"[..]);
    }

    fn store_list(data_dir: &Path) -> Vec<i64> {
        FileSnapshotStore { dir: data_dir.join("version-2") }.list().unwrap()
    }
}
