//! Snapshot storage behind a small trait (`SnapshotStore`), with a sled-backed implementation
//! storing each snapshot as ≤ 1 MiB chunks plus a checksummed meta record written last.
//!
//! Owns: `<data_dir>/version-2/snapshots` and the snapshot chunk/meta format.
//! Must never: list or load a snapshot whose meta record is missing, return bytes that fail
//! their checksum, or hold a whole snapshot in memory twice while writing it.
//!
//! sled layout: tree `chunks`: key `zxid (i64 BE) ++ chunk index (u64 BE)` → chunk bytes;
//! tree `meta`: key `zxid (i64 BE)` → `version u8 (=1) | total_len u64 BE | chunk_count u64 BE
//! | crc32c u32 BE` (crc over all snapshot bytes in order).

use super::{Result, StorageError};
use bytes::Bytes;
use std::path::{Path, PathBuf};

/// Largest chunk stored under one key.
pub const CHUNK_SIZE: usize = 1 << 20;
const META_VERSION: u8 = 1;
const META_LEN: usize = 21;

/// Where snapshots live; the backend can change behind this trait.
pub trait SnapshotStore: Send {
    /// Starts writing snapshot `zxid`; chunks are appended, then `finish` makes it durable and visible.
    fn begin(&mut self, zxid: i64) -> Result<Box<dyn SnapshotSink + '_>, StorageError>;
    /// zxids of complete snapshots, newest first.
    fn list(&self) -> Result<Vec<i64>, StorageError>;
    /// The whole snapshot bytes, verified against its checksum (Err(Corrupt…) if not).
    fn load(&self, zxid: i64) -> Result<Bytes, StorageError>;
    /// The snapshot's bytes as a stream, and their length, verified as the end is read:
    /// reading past the last byte fails (an `InvalidData` error) if the checksum does not match.
    fn open(&self, zxid: i64) -> Result<(Box<dyn std::io::Read + Send + '_>, u64), StorageError> {
        let bytes = self.load(zxid)?;
        let len = bytes.len() as u64;
        Ok((Box::new(std::io::Cursor::new(bytes)), len))
    }
    fn remove(&mut self, zxid: i64) -> Result<(), StorageError>;
    /// Where the snapshots live, for messages.
    fn location(&self) -> &Path;
}

/// A snapshot being written. Dropping it without `finish` abandons it.
pub trait SnapshotSink {
    fn write(&mut self, chunk: &[u8]) -> Result<(), StorageError>;
    fn finish(self: Box<Self>) -> Result<(), StorageError>;
}

/// Loads the newest snapshot that verifies (checksum) and decodes (`decode`, the caller's
/// format check, which reads the stream to its end), warning about and skipping damaged
/// ones. `Ok(None)` if there are no snapshots; a `Corrupt` error if every snapshot failed.
pub fn load_newest_valid<T>(
    store: &dyn SnapshotStore,
    decode: impl Fn(&mut (dyn std::io::Read + Send), u64) -> std::result::Result<T, String>,
) -> Result<Option<(i64, T)>> {
    let mut last_err = None;
    for zxid in store.list()? {
        let loaded = store.open(zxid).and_then(|(mut body, len)| {
            decode(&mut *body, len).map_err(|why| {
                StorageError::corrupt(store.location(), 0, format!("snapshot 0x{zxid:x} does not decode: {why}"))
            })
        });
        match loaded {
            Ok(v) => return Ok(Some((zxid, v))),
            Err(e) if e.is_corrupt() => {
                tracing::warn!("snapshot 0x{zxid:x} failed verification: {e}; falling back to an older one");
                last_err = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    last_err.map_or(Ok(None), Err)
}

/// sled-backed snapshot store.
pub struct SledSnapshotStore {
    path: PathBuf,
    db: sled::Db,
    chunks: sled::Tree,
    meta: sled::Tree,
}

fn chunk_key(zxid: i64, idx: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&zxid.to_be_bytes());
    k[8..].copy_from_slice(&idx.to_be_bytes());
    k
}

fn key_zxid(key: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(key.get(..8)?.try_into().ok()?))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meta {
    total_len: u64,
    chunk_count: u64,
    crc: u32,
}

impl Meta {
    fn encode(&self) -> [u8; META_LEN] {
        let mut v = [0u8; META_LEN];
        v[0] = META_VERSION;
        v[1..9].copy_from_slice(&self.total_len.to_be_bytes());
        v[9..17].copy_from_slice(&self.chunk_count.to_be_bytes());
        v[17..21].copy_from_slice(&self.crc.to_be_bytes());
        v
    }

    fn decode(v: &[u8]) -> Option<Meta> {
        if v.len() != META_LEN || v[0] != META_VERSION {
            return None;
        }
        Some(Meta {
            total_len: u64::from_be_bytes(v[1..9].try_into().ok()?),
            chunk_count: u64::from_be_bytes(v[9..17].try_into().ok()?),
            crc: u32::from_be_bytes(v[17..21].try_into().ok()?),
        })
    }
}

impl SledSnapshotStore {
    /// Opens (creating) the store at `<data_dir>/version-2/snapshots` and removes the chunks of
    /// incomplete snapshots (those without a meta record).
    pub fn open(data_dir: &Path) -> Result<SledSnapshotStore> {
        let path = data_dir.join("version-2").join("snapshots");
        std::fs::create_dir_all(&path).map_err(|e| StorageError::io(&path, e))?;
        let sled_err = |source| StorageError::Sled { path: path.clone(), source };
        let db = sled::Config::new().path(&path).cache_capacity(16 << 20).open().map_err(sled_err)?;
        let chunks = db.open_tree("chunks").map_err(sled_err)?;
        let meta = db.open_tree("meta").map_err(sled_err)?;
        let store = SledSnapshotStore { path, db, chunks, meta };
        store.remove_incomplete()?;
        Ok(store)
    }

    fn sled_err(&self, source: sled::Error) -> StorageError {
        StorageError::Sled { path: self.path.clone(), source }
    }

    /// Removes chunks of snapshots that have no meta record (interrupted writes).
    fn remove_incomplete(&self) -> Result<()> {
        // Keys sort as bytes, so walk the zxid prefixes as unsigned big-endian numbers.
        let mut from = [0u8; 16];
        let mut removed = false;
        // Visit one key per snapshot, skipping to the next zxid each time.
        while let Some(entry) = self.chunks.range(from..).keys().next() {
            let key = entry.map_err(|e| self.sled_err(e))?;
            let Some(zxid) = key_zxid(&key) else { break };
            if self.meta.get(zxid.to_be_bytes()).map_err(|e| self.sled_err(e))?.is_none() {
                tracing::warn!("removing incomplete snapshot 0x{zxid:x} from {}", self.path.display());
                self.remove_chunks(zxid)?;
                removed = true;
            }
            let Some(next) = (zxid as u64).checked_add(1) else {
                break;
            };
            from = chunk_key(next as i64, 0);
        }
        if removed {
            self.db.flush().map_err(|e| self.sled_err(e))?;
        }
        Ok(())
    }

    fn remove_chunks(&self, zxid: i64) -> Result<()> {
        for key in self.chunks.range(chunk_key(zxid, 0)..=chunk_key(zxid, u64::MAX)).keys() {
            let key = key.map_err(|e| self.sled_err(e))?;
            self.chunks.remove(key).map_err(|e| self.sled_err(e))?;
        }
        Ok(())
    }

    fn corrupt(&self, zxid: i64, offset: u64, reason: impl std::fmt::Display) -> StorageError {
        StorageError::corrupt(&self.path, offset, format!("snapshot 0x{zxid:x}: {reason}"))
    }

    /// Test hook: flips one byte of a stored chunk.
    #[cfg(test)]
    pub(crate) fn corrupt_chunk(&self, zxid: i64, idx: u64) {
        let key = chunk_key(zxid, idx);
        let mut v = self.chunks.get(key).unwrap().expect("chunk exists").to_vec();
        let mid = v.len() / 2;
        v[mid] ^= 0x5a;
        self.chunks.insert(key, v).unwrap();
    }
}

impl SnapshotStore for SledSnapshotStore {
    fn begin(&mut self, zxid: i64) -> Result<Box<dyn SnapshotSink + '_>> {
        // Overwriting: hide the old snapshot first, then drop its chunks.
        self.meta.remove(zxid.to_be_bytes()).map_err(|e| self.sled_err(e))?;
        self.remove_chunks(zxid)?;
        Ok(Box::new(SledSink {
            store: self,
            zxid,
            buf: Vec::with_capacity(CHUNK_SIZE),
            next_idx: 0,
            total: 0,
            crc: 0,
            finished: false,
        }))
    }

    fn list(&self) -> Result<Vec<i64>> {
        let mut out = Vec::new();
        for key in self.meta.iter().keys() {
            let key = key.map_err(|e| self.sled_err(e))?;
            out.extend(key_zxid(&key));
        }
        out.sort_unstable_by(|a, b| b.cmp(a));
        Ok(out)
    }

    fn load(&self, zxid: i64) -> Result<Bytes> {
        let raw = self
            .meta
            .get(zxid.to_be_bytes())
            .map_err(|e| self.sled_err(e))?
            .ok_or(StorageError::SnapshotNotFound(zxid))?;
        let meta = Meta::decode(&raw).ok_or_else(|| self.corrupt(zxid, 0, "unreadable meta record"))?;
        if meta.total_len > meta.chunk_count.saturating_mul(CHUNK_SIZE as u64) {
            return Err(self.corrupt(zxid, 0, "meta length exceeds its chunks"));
        }
        let mut out = Vec::with_capacity(meta.total_len as usize);
        let mut crc = 0u32;
        let mut idx = 0u64;
        for entry in self.chunks.range(chunk_key(zxid, 0)..=chunk_key(zxid, u64::MAX)) {
            let (key, chunk) = entry.map_err(|e| self.sled_err(e))?;
            let offset = out.len() as u64;
            let got = u64::from_be_bytes(key[8..16].try_into().unwrap_or_default());
            if got != idx {
                return Err(self.corrupt(zxid, offset, format!("chunk {idx} missing (found {got})")));
            }
            if chunk.len() > CHUNK_SIZE || offset + chunk.len() as u64 > meta.total_len {
                return Err(self.corrupt(zxid, offset, format!("chunk {idx} has a bad length {}", chunk.len())));
            }
            crc = crc32c::crc32c_append(crc, &chunk);
            out.extend_from_slice(&chunk);
            idx += 1;
        }
        let end = out.len() as u64;
        if idx != meta.chunk_count || end != meta.total_len {
            return Err(self.corrupt(
                zxid,
                end,
                format!("{idx} chunks / {end} bytes, expected {} / {}", meta.chunk_count, meta.total_len),
            ));
        }
        if crc != meta.crc {
            return Err(self.corrupt(zxid, 0, "checksum mismatch"));
        }
        Ok(Bytes::from(out))
    }

    fn location(&self) -> &Path {
        &self.path
    }

    fn remove(&mut self, zxid: i64) -> Result<()> {
        self.meta.remove(zxid.to_be_bytes()).map_err(|e| self.sled_err(e))?;
        self.remove_chunks(zxid)?;
        self.db.flush().map_err(|e| self.sled_err(e))?;
        Ok(())
    }
}

struct SledSink<'a> {
    store: &'a SledSnapshotStore,
    zxid: i64,
    buf: Vec<u8>,
    next_idx: u64,
    total: u64,
    crc: u32,
    finished: bool,
}

impl SledSink<'_> {
    fn put_chunk(&mut self, chunk: &[u8]) -> Result<()> {
        self.crc = crc32c::crc32c_append(self.crc, chunk);
        let key = chunk_key(self.zxid, self.next_idx);
        self.store.chunks.insert(key, chunk).map_err(|e| self.store.sled_err(e))?;
        self.next_idx += 1;
        self.total += chunk.len() as u64;
        Ok(())
    }

    fn flush_buf(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            let buf = std::mem::take(&mut self.buf);
            let r = self.put_chunk(&buf);
            self.buf = buf;
            self.buf.clear();
            r?;
        }
        Ok(())
    }
}

impl SnapshotSink for SledSink<'_> {
    fn write(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            if self.buf.is_empty() && data.len() >= CHUNK_SIZE {
                // Whole chunks go straight from the caller's slice.
                self.put_chunk(&data[..CHUNK_SIZE])?;
                data = &data[CHUNK_SIZE..];
                continue;
            }
            let take = (CHUNK_SIZE - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == CHUNK_SIZE {
                self.flush_buf()?;
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.flush_buf()?;
        let store = self.store;
        let err = |e| store.sled_err(e);
        // Chunks durable first, then the meta record that makes the snapshot visible.
        store.db.flush().map_err(err)?;
        let meta = Meta { total_len: self.total, chunk_count: self.next_idx, crc: self.crc };
        store.meta.insert(self.zxid.to_be_bytes(), &meta.encode()[..]).map_err(err)?;
        store.db.flush().map_err(err)?;
        self.finished = true;
        Ok(())
    }
}

impl Drop for SledSink<'_> {
    fn drop(&mut self) {
        if !self.finished {
            if let Err(e) = self.store.remove_chunks(self.zxid) {
                tracing::warn!("cleaning up abandoned snapshot 0x{:x}: {e}", self.zxid);
            }
        }
    }
}

/// Helpers the snapshot store tests share.
#[cfg(test)]
pub(crate) mod test_support {
    use super::SnapshotStore;
    use bytes::Bytes;

    /// Reads a snapshot stream to its end (where the checksum is checked), as a decoder does.
    pub fn raw(body: &mut (dyn std::io::Read + Send), len: u64) -> std::result::Result<Bytes, String> {
        let mut out = Vec::new();
        body.read_to_end(&mut out).map_err(|e| e.to_string())?;
        assert_eq!(out.len() as u64, len);
        Ok(Bytes::from(out))
    }

    /// `len` bytes that differ with `seed` and along the buffer.
    pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 12) as u8).collect()
    }

    /// Writes snapshot `zxid` in pieces of `piece` bytes and finishes it.
    pub fn write_snapshot(store: &mut dyn SnapshotStore, zxid: i64, data: &[u8], piece: usize) {
        let mut sink = store.begin(zxid).unwrap();
        for part in data.chunks(piece) {
            sink.write(part).unwrap();
        }
        sink.finish().unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{pattern, raw, write_snapshot};
    use super::*;

    /// Opens a store just dropped in this process: sled releases its file lock from a
    /// background thread shortly after the drop, so wait (bounded) for it.
    fn reopen(dir: &Path) -> SledSnapshotStore {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            match SledSnapshotStore::open(dir) {
                Ok(s) => return s,
                Err(e) if e.to_string().contains("could not acquire lock") => {
                    assert!(std::time::Instant::now() < deadline, "sled lock never released: {e}");
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => panic!("reopen: {e}"),
            }
        }
    }

    #[test]
    fn round_trip_multi_mib_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let big = pattern(3 * CHUNK_SIZE + 12_345, 1);
        {
            let mut store = SledSnapshotStore::open(dir.path()).unwrap();
            write_snapshot(&mut store, 0x100, &big, 100_003);
            write_snapshot(&mut store, 0x200, &big[..CHUNK_SIZE], 3 * CHUNK_SIZE);
            write_snapshot(&mut store, 0x50, b"", 1);
            assert_eq!(store.list().unwrap(), vec![0x200, 0x100, 0x50]);
            assert_eq!(store.load(0x100).unwrap(), &big[..]);
        }
        let mut store = reopen(dir.path());
        assert_eq!(store.list().unwrap(), vec![0x200, 0x100, 0x50]);
        assert_eq!(store.load(0x100).unwrap(), &big[..]);
        assert_eq!(store.load(0x200).unwrap(), &big[..CHUNK_SIZE]);
        assert!(store.load(0x50).unwrap().is_empty());
        assert!(matches!(store.load(0x7), Err(StorageError::SnapshotNotFound(7))));
        store.remove(0x200).unwrap();
        assert_eq!(store.list().unwrap(), vec![0x100, 0x50]);
        assert_eq!(load_newest_valid(&store, raw).unwrap().unwrap().0, 0x100);
    }

    #[test]
    fn corrupt_chunk_fails_and_falls_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SledSnapshotStore::open(dir.path()).unwrap();
        let old = pattern(CHUNK_SIZE + 10, 2);
        let new = pattern(2 * CHUNK_SIZE + 10, 3);
        write_snapshot(&mut store, 10, &old, 4096);
        write_snapshot(&mut store, 20, &new, 4096);
        store.corrupt_chunk(20, 1);
        let err = store.load(20).unwrap_err();
        assert!(err.is_corrupt(), "{err}");
        assert!(err.to_string().contains("snapshot 0x14"), "{err}");
        let (zxid, bytes) = load_newest_valid(&store, raw).unwrap().unwrap();
        assert_eq!((zxid, &bytes[..]), (10, &old[..]));
        store.corrupt_chunk(10, 0);
        assert!(load_newest_valid(&store, raw).unwrap_err().is_corrupt());
    }

    #[test]
    fn incomplete_snapshot_is_ignored_and_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = SledSnapshotStore::open(dir.path()).unwrap();
            write_snapshot(&mut store, 5, b"complete", 3);
            // Simulate a crash mid-write: chunks without meta.
            for idx in 0..3 {
                store.chunks.insert(chunk_key(9, idx), &b"partial"[..]).unwrap();
            }
            store.db.flush().unwrap();
            assert_eq!(store.list().unwrap(), vec![5]);
            // An abandoned sink cleans up after itself.
            let mut sink = store.begin(7).unwrap();
            sink.write(&pattern(CHUNK_SIZE + 1, 4)).unwrap();
            drop(sink);
            assert_eq!(store.list().unwrap(), vec![5]);
            assert_eq!(store.chunks.range(chunk_key(7, 0)..=chunk_key(7, u64::MAX)).count(), 0);
        }
        let store = reopen(dir.path());
        assert_eq!(store.list().unwrap(), vec![5]);
        assert_eq!(store.chunks.range(chunk_key(9, 0)..=chunk_key(9, u64::MAX)).count(), 0);
        assert_eq!(load_newest_valid(&store, raw).unwrap().unwrap().1, &b"complete"[..]);
        let empty = tempfile::tempdir().unwrap();
        assert!(load_newest_valid(&SledSnapshotStore::open(empty.path()).unwrap(), raw).unwrap().is_none());
    }
}
