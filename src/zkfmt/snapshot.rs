//! ZooKeeper's snapshot: the serialized DataTree. The body — sessions (id, timeout), the ACL
//! cache (index → ACL list; index -1, never stored, is world:anyone with every permission),
//! then every znode parents first as (path, data, ACL index, StatPersisted) with the root as
//! the empty path, ended by the path "/" — is what a SNAP carries; a `snapshot.<zxid hex>` file
//! wraps it in a header (`ZKSN`, version 2, dbid -1), an Adler32 seal (the checksum of every
//! byte before it, then "/"), and, from ZooKeeper 3.6 on, the tree digest as of a zxid with a
//! second seal. The zxid is the file name's; ZooKeeper's snapshots are fuzzy (a txn after it
//! may already show), which replaying the log after it repairs.
//! Must never: build a tree whose znode lacks its parent, or take an ACL index the cache lacks.

use super::{digest, read_string, write_string, zk_hex, ZkFormatError};
use crate::proto::jute::{DecodeError, Jute, Reader};
use crate::proto::records::Acl;
use crate::tree::snapshot::PIECE;
use crate::tree::{DataTree, Restoring, TreeImage, Znode};
use std::collections::HashMap;
use std::path::Path;

pub const SNAP_MAGIC: &[u8; 4] = b"ZKSN";
pub const SNAP_VERSION: i32 = 2;
/// ZooKeeper's index for world:anyone with every permission (never in the cache).
pub const OPEN_ACL_INDEX: i64 = -1;
/// What every sealed snapshot file ends with: the path "/".
const SEAL_END: [u8; 5] = [0, 0, 0, 1, b'/'];

fn open_acl() -> Vec<Acl> {
    vec![Acl::new(31, "world", "anyone")]
}

/// Where a body being read stands.
enum Stage {
    SessionCount,
    Sessions(i32),
    AclCount,
    Acls(i32),
    Nodes,
    Done,
}

/// Reads a snapshot body incrementally, from the bytes as they come (a SNAP on a socket) or
/// all at once (a file): `feed` takes whole records from what it is given and says how much it
/// used; the body ends with the path "/".
pub struct BodyReader {
    stage: Stage,
    sessions: HashMap<i64, i32>,
    tree: DataTree,
    /// ZooKeeper's ACL index -> ours; each entry holds one reference until the znodes are in.
    acls: HashMap<i64, u32>,
    restoring: Restoring,
    /// Bytes of whole records taken so far.
    taken: usize,
}

impl Default for BodyReader {
    fn default() -> Self {
        BodyReader {
            stage: Stage::SessionCount,
            sessions: HashMap::new(),
            tree: DataTree::empty(),
            acls: HashMap::new(),
            restoring: Restoring::default(),
            taken: 0,
        }
    }
}

impl BodyReader {
    /// Parses whole records from `buf`; returns the bytes used (the rest is an incomplete
    /// record, or what follows the body).
    pub fn feed(&mut self, buf: &[u8]) -> Result<usize, DecodeError> {
        let mut used = 0;
        while !self.is_done() {
            let mut r = Reader::new(&buf[used..]);
            match self.step(&mut r) {
                Ok(()) => {
                    used += r.position();
                    self.taken += r.position();
                }
                Err(DecodeError::Truncated { .. }) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(used)
    }

    /// Bytes of whole records taken so far (where a damaged record starts).
    pub fn taken(&self) -> usize {
        self.taken
    }

    pub fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done)
    }

    /// One record; changes nothing unless it was whole.
    fn step(&mut self, r: &mut Reader<'_>) -> Result<(), DecodeError> {
        match self.stage {
            Stage::SessionCount => self.stage = Stage::Sessions(i32::read(r)?.max(0)),
            Stage::Sessions(0) => self.stage = Stage::AclCount,
            Stage::Sessions(n) => {
                let id = i64::read(r)?;
                let timeout = i32::read(r)?;
                self.sessions.insert(id, timeout);
                self.stage = Stage::Sessions(n - 1);
            }
            Stage::AclCount => self.stage = Stage::Acls(i32::read(r)?.max(0)),
            Stage::Acls(0) => {
                let open = self.tree.acl_table_mut().intern(&open_acl());
                if let Some(old) = self.acls.insert(OPEN_ACL_INDEX, open) {
                    self.tree.acl_table_mut().release(old);
                }
                self.stage = Stage::Nodes;
            }
            Stage::Acls(n) => {
                let index = i64::read(r)?;
                let list = Vec::<Acl>::read(r)?;
                let ours = self.tree.acl_table_mut().intern(&list);
                if let Some(old) = self.acls.insert(index, ours) {
                    self.tree.acl_table_mut().release(old);
                }
                self.stage = Stage::Acls(n - 1);
            }
            Stage::Nodes => {
                let path = read_string(r)?;
                if path == "/" {
                    self.stage = Stage::Done;
                    return Ok(());
                }
                let data = Option::<bytes::Bytes>::read(r)?;
                let index = i64::read(r)?;
                let mut c = [0i64; 9];
                for (k, v) in c.iter_mut().enumerate() {
                    *v = if (4..7).contains(&k) { i64::from(i32::read(r)?) } else { i64::read(r)? };
                }
                let path = if path.is_empty() { "/".to_string() } else { path };
                if !path.starts_with('/') {
                    return Err(DecodeError::BadValue { what: "znode path (not absolute)", value: path.len() as i64 });
                }
                let ours = *self
                    .acls
                    .get(&index)
                    .ok_or(DecodeError::BadValue { what: "ACL index not in the cache", value: index })?;
                let mut node = Znode::new(&path, data.as_deref());
                (node.czxid, node.mzxid, node.ctime, node.mtime) = (c[0], c[1], c[2], c[3]);
                (node.version, node.cversion, node.aversion) = (c[4] as i32, c[5] as i32, c[6] as i32);
                (node.ephemeral_owner, node.pzxid) = (c[7], c[8]);
                self.tree.acl_table_mut().add_ref(ours);
                node.acl = ours;
                let h = self.tree.path_hasher().hash_bytes(node.path_bytes());
                self.restoring
                    .insert(&mut self.tree, node, h)
                    .map_err(|what| DecodeError::BadValue { what, value: 0 })?;
            }
            Stage::Done => {}
        }
        Ok(())
    }

    /// The tree, once the body ended; its last zxid is `zxid`.
    pub fn finish(self, zxid: i64) -> Result<DataTree, DecodeError> {
        let BodyReader { stage, sessions, mut tree, acls, restoring, .. } = self;
        if !matches!(stage, Stage::Done) {
            return Err(DecodeError::Truncated { wanted: 1, left: 0 });
        }
        restoring.finish(&mut tree).map_err(|what| DecodeError::BadValue { what, value: 0 })?;
        for id in acls.into_values() {
            tree.acl_table_mut().release(id);
        }
        tree.restore_meta(zxid, sessions);
        Ok(tree)
    }
}

/// Reads a whole snapshot body from `bytes` into a tree at `zxid`; also says how many bytes
/// the body took. An error comes with the offset of the record it is in.
pub fn read_body(bytes: &[u8], zxid: i64) -> Result<(DataTree, usize), (DecodeError, usize)> {
    let mut b = BodyReader::default();
    let used = b.feed(bytes).map_err(|e| (e, b.taken()))?;
    if !b.is_done() {
        return Err((DecodeError::Truncated { wanted: 1, left: bytes.len() - used }, used));
    }
    let tree = b.finish(zxid).map_err(|e| (e, used))?;
    Ok((tree, used))
}

/// Writes a tree image as a snapshot body, handing it to `sink` in pieces of about `PIECE`:
/// sessions, the ACL cache, the znodes parents first (ZooKeeper's reader needs each parent
/// before its children), "/".
pub fn write_image_body<E>(img: &TreeImage, mut sink: impl FnMut(Vec<u8>) -> Result<(), E>) -> Result<(), E> {
    let mut w = Vec::with_capacity(PIECE + 4096);
    w.extend_from_slice(&(img.sessions.len() as i32).to_be_bytes());
    for (id, to) in &img.sessions {
        w.extend_from_slice(&id.to_be_bytes());
        w.extend_from_slice(&to.to_be_bytes());
    }
    // Parents first: by depth (the root is 0, "/a" 1, "/a/b" 2).
    let depth =
        |n: &Znode| if n.path_bytes() == b"/" { 0 } else { n.path_bytes().iter().filter(|&&b| b == b'/').count() };
    let mut nodes: Vec<&Znode> = img.znodes().collect();
    nodes.sort_by_key(|n| depth(n));
    // Our ACL ids become ZooKeeper's indexes, except world:anyone/all, which is -1 and not
    // listed; id 0 (an empty list) is listed only if a znode has it.
    let open = open_acl();
    let mut index_of: HashMap<u32, i64> = HashMap::new();
    let mut entries: Vec<(i64, &[Acl])> = Vec::new();
    for (id, list) in &img.acls {
        if **list == *open.as_slice() {
            index_of.insert(*id, OPEN_ACL_INDEX);
        } else {
            index_of.insert(*id, i64::from(*id));
            entries.push((i64::from(*id), list));
        }
    }
    if nodes.iter().any(|n| n.acl == 0) {
        index_of.insert(0, 0);
        entries.push((0, &[]));
    }
    entries.sort_by_key(|(i, _)| *i);
    w.extend_from_slice(&(entries.len() as i32).to_be_bytes());
    for (index, list) in entries {
        w.extend_from_slice(&index.to_be_bytes());
        let mut b = bytes::BytesMut::new();
        list.to_vec().write(&mut b);
        w.extend_from_slice(&b);
    }
    for n in nodes {
        let path = n.path();
        write_string(&mut w, if path == "/" { "" } else { path });
        match n.data() {
            Some(d) => {
                w.extend_from_slice(&(d.len() as i32).to_be_bytes());
                w.extend_from_slice(d);
            }
            None => w.extend_from_slice(&(-1i32).to_be_bytes()),
        }
        w.extend_from_slice(&index_of.get(&n.acl).copied().unwrap_or(OPEN_ACL_INDEX).to_be_bytes());
        for v in [n.czxid, n.mzxid, n.ctime, n.mtime] {
            w.extend_from_slice(&v.to_be_bytes());
        }
        for v in [n.version, n.cversion, n.aversion] {
            w.extend_from_slice(&v.to_be_bytes());
        }
        w.extend_from_slice(&n.ephemeral_owner.to_be_bytes());
        w.extend_from_slice(&n.pzxid.to_be_bytes());
        if w.len() >= PIECE {
            sink(std::mem::replace(&mut w, Vec::with_capacity(PIECE + 4096)))?;
        }
    }
    write_string(&mut w, "/");
    sink(w)
}

/// A whole snapshot file's bytes for `tree` (named `snapshot.<its last zxid>`): header, body,
/// seal, the tree digest as of its last zxid, second seal.
pub fn encode_file(tree: &DataTree) -> Vec<u8> {
    let mut w = Vec::with_capacity(64 + tree.node_count() * 100);
    w.extend_from_slice(SNAP_MAGIC);
    w.extend_from_slice(&SNAP_VERSION.to_be_bytes());
    w.extend_from_slice(&(-1i64).to_be_bytes());
    write_image_body(&tree.image(), |piece| {
        w.extend_from_slice(&piece);
        Ok::<(), std::convert::Infallible>(())
    })
    .unwrap_or_else(|never| match never {});
    seal(&mut w);
    w.extend_from_slice(&tree.last_zxid().to_be_bytes());
    w.extend_from_slice(&digest::DIGEST_VERSION.to_be_bytes());
    w.extend_from_slice(&digest::tree_digest(tree).to_be_bytes());
    seal(&mut w);
    w
}

/// Appends the Adler32 of everything so far, then the path "/".
fn seal(w: &mut Vec<u8>) {
    let sum = adler2::adler32_slice(w);
    w.extend_from_slice(&i64::from(sum).to_be_bytes());
    w.extend_from_slice(&SEAL_END);
}

/// The file name of a snapshot of a tree at `zxid`.
pub fn file_name(zxid: i64) -> String {
    format!("snapshot.{}", zk_hex(zxid))
}

/// Reads a snapshot file (checked, or gzip-compressed as `.gz`): checks its magic and its
/// first seal (and the digest's seal, if a digest follows), and rebuilds the tree at `zxid`.
pub fn decode_file(file: &Path, bytes: &[u8], zxid: i64) -> Result<DataTree, ZkFormatError> {
    let bytes: std::borrow::Cow<[u8]> = if file.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out)
            .map_err(|e| ZkFormatError::damaged(file, 0, format!("not a gzip stream: {e}")))?;
        out.into()
    } else if file.extension().is_some_and(|e| e == "snappy") {
        return Err(ZkFormatError::Refused(format!(
            "{}: snappy-compressed snapshots are not supported; restart ZooKeeper with \
             zookeeper.snapshot.compression.method unset to write a plain one",
            file.display()
        )));
    } else {
        bytes.into()
    };
    let bytes = &bytes[..];
    if bytes.len() < 10 || bytes[bytes.len() - 5..] != SEAL_END {
        return Err(ZkFormatError::damaged(file, bytes.len(), "no seal at the end (incomplete snapshot)"));
    }
    let mut r = Reader::new(bytes);
    let at = |r: &Reader<'_>| r.position();
    let bad = |r: &Reader<'_>, e: DecodeError| ZkFormatError::damaged(file, r.position(), e.to_string());
    let magic = r.take(4).map_err(|e| bad(&r, e))?;
    if magic != SNAP_MAGIC {
        return Err(ZkFormatError::damaged(file, 0, "not a ZooKeeper snapshot (magic is not ZKSN)"));
    }
    r.take(12).map_err(|e| bad(&r, e))?;
    let (tree, used) = read_body(&bytes[16..], zxid)
        .map_err(|(e, at)| ZkFormatError::damaged(file, 16 + at, format!("snapshot body: {e}")))?;
    r.take(used).map_err(|e| bad(&r, e))?;
    let sealed_at = at(&r);
    let sum = i64::read(&mut r).map_err(|e| bad(&r, e))?;
    if sum != i64::from(adler2::adler32_slice(&bytes[..sealed_at])) {
        return Err(ZkFormatError::damaged(file, sealed_at, "checksum mismatch (CRC corruption)"));
    }
    read_string(&mut r).map_err(|e| bad(&r, e))?;
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::codes::op;
    use crate::proto::records::*;
    use crate::txn::{Txn, TxnBody};
    use bytes::Bytes;

    fn sample() -> DataTree {
        let mut t = DataTree::new();
        let mut zxid = 0x1_0000_0000i64;
        let mut apply = |t: &mut DataTree, client: i64, type_: i32, body: TxnBody| {
            zxid += 1;
            t.apply(&Txn {
                header: TxnHeader { client_id: client, cxid: 1, zxid, time: 1_700_000_000_000, type_ },
                body,
            });
        };
        apply(&mut t, 5, op::CREATE_SESSION, TxnBody::CreateSession(CreateSessionTxn { time_out: 30_000 }));
        let create = |path: &str, data: &[u8], acl: Vec<Acl>, eph: bool| {
            TxnBody::Create(CreateTxn {
                path: path.into(),
                data: Some(Bytes::copy_from_slice(data)),
                acl,
                ephemeral: eph,
                parent_cversion: -1,
            })
        };
        apply(&mut t, 5, op::CREATE, create("/a", b"one", open_acl(), false));
        apply(&mut t, 5, op::CREATE, create("/a/b", b"", vec![Acl::new(1, "ip", "10.0.0.1")], false));
        apply(&mut t, 5, op::CREATE, create("/e", b"mine", open_acl(), true));
        apply(&mut t, 5, op::CREATE, create("/\u{1F600}", &[0, 255, 7], vec![Acl::new(31, "digest", "u:x=")], false));
        apply(
            &mut t,
            5,
            op::SET_DATA,
            TxnBody::SetData(SetDataTxn { path: "/a".into(), data: Some(Bytes::from_static(b"two")), version: 1 }),
        );
        t
    }

    #[test]
    fn a_tree_survives_zookeepers_snapshot_file_format() {
        let t = sample();
        let bytes = encode_file(&t);
        assert_eq!(&bytes[..4], b"ZKSN");
        assert_eq!(&bytes[bytes.len() - 5..], &SEAL_END);
        let back = decode_file(Path::new("snapshot.x"), &bytes, t.last_zxid()).unwrap();
        assert_eq!(back.fingerprint(), t.fingerprint());
        assert_eq!(back.sessions(), t.sessions());
        assert_eq!(back.ephemerals_of(5), vec!["/e".to_string()]);
        assert_eq!(back.last_zxid(), t.last_zxid());
    }

    #[test]
    fn a_body_fed_in_small_pieces_as_a_socket_delivers_it_reads_the_same() {
        let t = sample();
        let mut body = Vec::new();
        write_image_body(&t.image(), |p| {
            body.extend_from_slice(&p);
            Ok::<(), ()>(())
        })
        .unwrap();
        body.extend_from_slice(b"trailing");
        for piece in [1usize, 7, 64] {
            let mut b = BodyReader::default();
            let mut pending: Vec<u8> = Vec::new();
            let mut fed = 0;
            while !b.is_done() {
                let end = (fed + piece).min(body.len());
                pending.extend_from_slice(&body[fed..end]);
                fed = end;
                let used = b.feed(&pending).unwrap();
                pending.drain(..used);
            }
            // What follows the body is left alone.
            pending.extend_from_slice(&body[fed..]);
            assert_eq!(pending, b"trailing");
            let back = b.finish(t.last_zxid()).unwrap();
            assert_eq!(back.fingerprint(), t.fingerprint());
            assert_eq!(back.sessions(), t.sessions());
        }
    }

    #[test]
    fn damage_is_reported_with_the_offset() {
        let t = sample();
        let mut bytes = encode_file(&t);
        // Flip a byte inside the body: the first seal no longer matches.
        bytes[40] ^= 0x55;
        match decode_file(Path::new("snapshot.1"), &bytes, 1) {
            Err(ZkFormatError::Damaged { offset, what, .. }) => {
                assert!(offset > 16, "{offset} {what}");
            }
            other => panic!("{other:?}"),
        }
        // A file cut short has no seal at its end.
        let cut = &encode_file(&t)[..100];
        let e = decode_file(Path::new("snapshot.1"), cut, 1).unwrap_err().to_string();
        assert!(e.contains("snapshot.1") && e.contains("offset 100"), "{e}");
    }
}
