//! The tree's snapshot encoding: a consistent image of the DataTree (live sessions, last
//! applied zxid, the ACL table once, then every znode with its ACL id) as bytes, and back. The
//! bytes are stored and checksummed by `storage`. Encoding reads a `TreeImage`, so it runs on
//! the snapshot thread in bounded pieces while the tree goes on changing. Version 3 lists
//! znodes in slot order (a parent may follow its children); versions 2 (parents first) and 1
//! (an ACL list inlined in every znode) are still read. Decoding takes the bytes as a stream
//! (`decode_from`, a window of about a mebibyte) and parses znodes on a scoped helper thread
//! while the caller's thread builds the tree; the result does not depend on the scheduling.
//! Must never: open or name files (the bytes come and go through the sink or `Read` it is
//! given; storage owns the disk and the checksums), or trust a length or count in an image
//! for more memory than the image could hold.

use super::{DataTree, TreeImage, Znode};
use crate::proto::jute::{DecodeError, Jute, Reader};
use crate::proto::records::Acl;
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::HashMap;
use std::io::Read;

const MAGIC: &[u8; 4] = b"ZBKS";
const END: &[u8; 4] = b"ZEND";
/// Version 1: ACL list per znode. Version 2: ACL table, then an ACL id per znode, parents
/// first. Version 3: znodes in any order, each with its path and data lengths ahead of both.
const VERSION: i32 = 3;
/// Bytes handed to the sink at a time: under the allocator's mmap threshold (128 KiB, see
/// `server::process`), so the buffers a SNAP stream passes along are reused heap memory, not
/// fresh mappings whose every page faults in (with 1 MiB pieces a 1,000,000-znode SNAP took
/// ~0.9-1.0 s here, with these ~0.75-0.85 s).
pub const PIECE: usize = 120 << 10;

/// Serialises the whole tree into one buffer (for tests; the server streams `encode_image`).
#[cfg(test)]
pub fn encode(tree: &DataTree) -> Bytes {
    let mut out = Vec::new();
    encode_image(&tree.image(), |piece| {
        out.extend_from_slice(&piece);
        Ok::<(), std::convert::Infallible>(())
    })
    .unwrap_or_else(|never| match never {});
    Bytes::from(out)
}

/// Serialises `img`, handing the bytes to `sink` in pieces of about `PIECE`; stops at the
/// sink's first error.
pub fn encode_image<E>(img: &TreeImage, mut sink: impl FnMut(Bytes) -> Result<(), E>) -> Result<(), E> {
    let mut w = BytesMut::with_capacity(PIECE + 4096);
    w.put_slice(MAGIC);
    VERSION.write(&mut w);
    img.last_zxid.write(&mut w);
    (img.sessions.len() as i32).write(&mut w);
    for (id, to) in &img.sessions {
        id.write(&mut w);
        to.write(&mut w);
        if w.len() >= PIECE {
            hand_over(&mut w, &mut sink)?;
        }
    }
    (img.acls.len() as i32).write(&mut w);
    for (id, list) in &img.acls {
        w.put_u32(*id);
        (list.len() as i32).write(&mut w);
        for a in list.iter() {
            a.write(&mut w);
        }
        if w.len() >= PIECE {
            hand_over(&mut w, &mut sink)?;
        }
    }
    (img.node_count as i64).write(&mut w);
    for n in img.znodes() {
        // Both lengths first, so the path and data lie side by side as a znode holds them.
        let (p, d) = (n.path_bytes(), n.data());
        w.put_i32(p.len() as i32);
        w.put_i32(d.map_or(-1, |d| d.len() as i32));
        w.put_slice(p);
        w.put_slice(d.unwrap_or_default());
        w.put_u32(n.acl);
        for v in [n.czxid, n.mzxid, n.ctime, n.mtime] {
            w.put_i64(v);
        }
        for v in [n.version, n.cversion, n.aversion] {
            w.put_i32(v);
        }
        w.put_i64(n.ephemeral_owner);
        w.put_i64(n.pzxid);
        if w.len() >= PIECE {
            hand_over(&mut w, &mut sink)?;
        }
    }
    w.put_slice(END);
    sink(w.freeze())
}

/// Hands the full piece over as it is (no copy) and starts the next one.
fn hand_over<E>(w: &mut BytesMut, sink: &mut impl FnMut(Bytes) -> Result<(), E>) -> Result<(), E> {
    sink(w.split().freeze())?;
    w.reserve(PIECE + 4096);
    Ok(())
}

fn bad(what: &'static str) -> DecodeError {
    DecodeError::BadValue { what, value: 0 }
}

/// A path as a slice of the image (no copy).
fn read_str<'a>(r: &mut Reader<'a>) -> Result<&'a str, DecodeError> {
    let n = i32::read(r)?;
    if n < 0 {
        return Err(DecodeError::BadLength(n));
    }
    std::str::from_utf8(r.take(n as usize)?).map_err(|_| DecodeError::BadUtf8)
}

/// Znodes handed from the parsing thread to the one building the tree at a time.
const BATCH: usize = 4096;

/// A znode parsed from an image, with its path hash, waiting for its ACL id.
struct Parsed {
    node: Znode,
    hash: super::PathHash,
    acl: ParsedAcl,
}

/// A znode's ACL as the image names it.
enum ParsedAcl {
    /// An id in the image's ACL table (versions 2 and 3).
    Id(u32),
    /// The list itself (version 1).
    List(Vec<Acl>),
}

/// Parses `count` znodes of a version `v` image and the end marker after them, sending them
/// in batches, then reads the stream to its end; stops early when the receiver is gone.
fn parse_znodes(
    mut w: Window<'_>,
    v: i32,
    count: i64,
    hasher: &super::PathHasher,
    tx: std::sync::mpsc::SyncSender<Vec<Parsed>>,
) -> Result<(), RestoreError> {
    let mut batch = Vec::with_capacity(BATCH);
    for _ in 0..count {
        let parsed = w.parse(|r| {
            let mut node = if v >= 3 {
                read_path_and_data(r)?
            } else {
                let p = read_str(r)?;
                Znode::new(p, read_data(r)?)
            };
            let acl = if v >= 2 {
                ParsedAcl::Id(u32::from_be_bytes(r.take(4)?.try_into().expect("4 bytes")))
            } else {
                ParsedAcl::List(Jute::read(r)?)
            };
            read_counters(r, &mut node)?;
            // The path's bytes were checked as UTF-8 when read: no second check here.
            if node.path_bytes().first() != Some(&b'/') {
                return Err(bad("znode path in snapshot"));
            }
            let hash = hasher.hash_bytes(node.path_bytes());
            Ok(Parsed { node, hash, acl })
        })?;
        batch.push(parsed);
        if batch.len() == BATCH && tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))).is_err() {
            return Ok(());
        }
    }
    if !batch.is_empty() && tx.send(batch).is_err() {
        return Ok(());
    }
    if w.parse(|r| Ok(r.take(4)? == END))? {
        w.finish()
    } else {
        Err(bad("snapshot end marker").into())
    }
}

/// A version 3 znode's path and data (both lengths come first).
fn read_path_and_data(r: &mut Reader<'_>) -> Result<Znode, DecodeError> {
    let (p, d) = (i32::read(r)?, i32::read(r)?);
    if p < 0 || d < -1 {
        return Err(DecodeError::BadLength(p.min(d)));
    }
    let bytes = r.take(p as usize + d.max(0) as usize)?;
    std::str::from_utf8(&bytes[..p as usize]).map_err(|_| DecodeError::BadUtf8)?;
    Ok(Znode::from_path_and_data(bytes, p as usize, d >= 0))
}

/// Data as a slice of the image: None for null.
fn read_data<'a>(r: &mut Reader<'a>) -> Result<Option<&'a [u8]>, DecodeError> {
    let n = i32::read(r)?;
    match n {
        -1 => Ok(None),
        n if n < 0 => Err(DecodeError::BadLength(n)),
        n => Ok(Some(r.take(n as usize)?)),
    }
}

/// The counters that follow the ACL in both versions.
fn read_counters(r: &mut Reader<'_>, n: &mut Znode) -> Result<(), DecodeError> {
    n.czxid = i64::read(r)?;
    n.mzxid = i64::read(r)?;
    n.ctime = i64::read(r)?;
    n.mtime = i64::read(r)?;
    n.version = i32::read(r)?;
    n.cversion = i32::read(r)?;
    n.aversion = i32::read(r)?;
    n.ephemeral_owner = i64::read(r)?;
    n.pzxid = i64::read(r)?;
    Ok(())
}

/// Why an image could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The stream failed (for a stored snapshot this includes a checksum mismatch at its end).
    #[error("reading the snapshot: {0}")]
    Io(#[from] std::io::Error),
}

/// A window over a byte stream: a record is parsed from the bytes read so far and parsed
/// again from its start once more are in if it ran past them.
struct Window<'r> {
    src: &'r mut (dyn Read + Send),
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl<'r> Window<'r> {
    fn new(src: &'r mut (dyn Read + Send)) -> Self {
        Window { src, buf: Vec::new(), pos: 0, eof: false }
    }

    /// One record parsed by `f`, which must not change anything outside until it succeeds.
    fn parse<T>(&mut self, mut f: impl FnMut(&mut Reader<'_>) -> Result<T, DecodeError>) -> Result<T, RestoreError> {
        loop {
            let mut r = Reader::new(&self.buf[self.pos..]);
            match f(&mut r) {
                Ok(v) => {
                    self.pos += r.position();
                    return Ok(v);
                }
                Err(DecodeError::Truncated { wanted, .. }) if !self.eof => self.more(wanted)?,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Reads at least another piece (or `wanted` bytes, if more) after what is left.
    fn more(&mut self, wanted: usize) -> std::io::Result<()> {
        self.buf.drain(..self.pos);
        self.pos = 0;
        let want = wanted.max(PIECE);
        // Into spare capacity: nothing is zero-filled just to be overwritten.
        let got = (&mut *self.src).take(want as u64).read_to_end(&mut self.buf)?;
        self.eof = got < want;
        Ok(())
    }

    /// Reads the stream to its end (where a stored snapshot's checksum is checked); nothing
    /// may follow the end marker.
    fn finish(&mut self) -> Result<(), RestoreError> {
        while !self.eof {
            self.more(PIECE)?;
        }
        if self.pos != self.buf.len() {
            return Err(bad("bytes after the snapshot end marker").into());
        }
        Ok(())
    }
}

/// Rebuilds a tree from `encode`'s bytes (any version; for tests, the server streams
/// `decode_from`).
#[cfg(test)]
pub fn decode(b: &[u8]) -> Result<DataTree, RestoreError> {
    let mut src = b;
    decode_from(&mut src, b.len() as u64)
}

/// Rebuilds a tree from an image of `len` bytes read as a stream (any version), reading it to
/// its end.
pub fn decode_from(src: &mut (dyn Read + Send), len: u64) -> Result<DataTree, RestoreError> {
    let mut w = Window::new(src);
    let (v, last_zxid, n_sessions) = w.parse(|r| {
        if r.take(4)? != MAGIC {
            return Err(bad("snapshot magic"));
        }
        let v = i32::read(r)?;
        if !(1..=VERSION).contains(&v) {
            return Err(DecodeError::BadValue { what: "snapshot version", value: v as i64 });
        }
        Ok((v, i64::read(r)?, i32::read(r)?))
    })?;
    let mut sessions = HashMap::new();
    for _ in 0..n_sessions.max(0) {
        let (id, timeout) = w.parse(|r| Ok((i64::read(r)?, i32::read(r)?)))?;
        sessions.insert(id, timeout);
    }
    let mut tree = DataTree::empty();
    // Snapshot ACL id -> our id; each entry holds one reference until the znodes are in.
    let mut acl_ids: HashMap<u32, u32> = HashMap::new();
    if v >= 2 {
        let n_acls = w.parse(i32::read)?;
        for _ in 0..n_acls.max(0) {
            let (id, list) = w.parse(|r| {
                let id = u32::from_be_bytes(r.take(4)?.try_into().expect("4 bytes"));
                Ok((id, Vec::<Acl>::read(r)?))
            })?;
            let ours = tree.acl_table_mut().intern(&list);
            if acl_ids.insert(id, ours).is_some() {
                return Err(bad("duplicate snapshot ACL id").into());
            }
        }
    }
    let count = w.parse(i64::read)?.max(0);
    // Never trust the count for more room than the image could describe.
    tree.reserve((count as usize).min(len as usize / 64));
    let mut restoring = super::Restoring::default();
    let hasher = tree.path_hasher();
    // Reading and parsing znodes (UTF-8 checks, copying path and data, hashing the path) runs
    // beside putting them in the tree (index probes, links), a batch at a time.
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        let parser = scope.spawn(move || parse_znodes(w, v, count, &hasher, tx));
        for batch in rx {
            for Parsed { mut node, hash, acl } in batch {
                node.acl = match acl {
                    ParsedAcl::Id(0) => 0,
                    ParsedAcl::Id(id) => {
                        let ours = *acl_ids.get(&id).ok_or(bad("unknown snapshot ACL id"))?;
                        tree.acl_table_mut().add_ref(ours);
                        ours
                    }
                    ParsedAcl::List(list) => tree.acl_table_mut().intern(&list),
                };
                restoring.insert(&mut tree, node, hash).map_err(bad)?;
            }
        }
        parser.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
    })?;
    restoring.finish(&mut tree).map_err(bad)?;
    for id in acl_ids.into_values() {
        tree.acl_table_mut().release(id);
    }
    tree.restore_meta(last_zxid, sessions);
    Ok(tree)
}
