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
use crate::tree::{DataTree, Restoring, Znode};
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

/// Reads a snapshot body (as a SNAP carries it, or a file's after its header) into a tree
/// whose last zxid is `zxid`.
pub fn read_body(r: &mut Reader<'_>, zxid: i64) -> Result<DataTree, DecodeError> {
    let n_sessions = i32::read(r)?;
    let mut sessions = HashMap::new();
    for _ in 0..n_sessions.max(0) {
        let id = i64::read(r)?;
        sessions.insert(id, i32::read(r)?);
    }
    let mut tree = DataTree::empty();
    // ZooKeeper's ACL index -> ours; each entry holds one reference until the znodes are in.
    let mut acls: HashMap<i64, u32> = HashMap::new();
    let n_acls = i32::read(r)?;
    for _ in 0..n_acls.max(0) {
        let index = i64::read(r)?;
        let list = Vec::<Acl>::read(r)?;
        let ours = tree.acl_table_mut().intern(&list);
        if let Some(old) = acls.insert(index, ours) {
            tree.acl_table_mut().release(old);
        }
    }
    let open = tree.acl_table_mut().intern(&open_acl());
    acls.entry(OPEN_ACL_INDEX).or_insert(open);
    let hasher = tree.path_hasher();
    let mut restoring = Restoring::default();
    loop {
        let path = read_string(r)?;
        if path == "/" {
            break;
        }
        let path = if path.is_empty() { "/".to_string() } else { path };
        if !path.starts_with('/') {
            return Err(DecodeError::BadValue { what: "znode path (not absolute)", value: path.len() as i64 });
        }
        let data = Option::<bytes::Bytes>::read(r)?;
        let index = i64::read(r)?;
        let mut node = Znode::new(&path, data.as_deref());
        node.czxid = i64::read(r)?;
        node.mzxid = i64::read(r)?;
        node.ctime = i64::read(r)?;
        node.mtime = i64::read(r)?;
        node.version = i32::read(r)?;
        node.cversion = i32::read(r)?;
        node.aversion = i32::read(r)?;
        node.ephemeral_owner = i64::read(r)?;
        node.pzxid = i64::read(r)?;
        let ours =
            *acls.get(&index).ok_or(DecodeError::BadValue { what: "ACL index not in the cache", value: index })?;
        tree.acl_table_mut().add_ref(ours);
        node.acl = ours;
        let h = hasher.hash_bytes(node.path_bytes());
        restoring.insert(&mut tree, node, h).map_err(|what| DecodeError::BadValue { what, value: 0 })?;
    }
    restoring.finish(&mut tree).map_err(|what| DecodeError::BadValue { what, value: 0 })?;
    for id in acls.into_values() {
        tree.acl_table_mut().release(id);
    }
    tree.restore_meta(zxid, sessions);
    Ok(tree)
}

/// Writes a tree as a snapshot body: sessions, the ACL cache, the znodes parents first, "/".
pub fn write_body(tree: &DataTree, w: &mut Vec<u8>) {
    let mut sessions: Vec<(i64, i32)> = tree.sessions().iter().map(|(&id, &to)| (id, to)).collect();
    sessions.sort_unstable();
    w.extend_from_slice(&(sessions.len() as i32).to_be_bytes());
    for (id, to) in sessions {
        w.extend_from_slice(&id.to_be_bytes());
        w.extend_from_slice(&to.to_be_bytes());
    }
    // Our ACL ids become ZooKeeper's indexes, but world:anyone/all is -1 and stays out.
    let open = open_acl();
    let table = tree.acl_table();
    let listed: Vec<(u32, std::sync::Arc<[Acl]>)> =
        table.iter().into_iter().filter(|(_, list)| **list != *open.as_slice()).collect();
    let mut index_of: HashMap<u32, i64> = listed.iter().map(|(id, _)| (*id, i64::from(*id))).collect();
    let mut entries: Vec<(i64, Vec<Acl>)> = listed.iter().map(|(id, l)| (i64::from(*id), l.to_vec())).collect();
    for (id, list) in table.iter() {
        if *list == *open.as_slice() {
            index_of.insert(id, OPEN_ACL_INDEX);
        }
    }
    // Id 0 (an empty list) only if some znode has it.
    let mut empty_used = false;
    tree.walk(|_, n| empty_used |= n.acl == 0);
    if empty_used {
        index_of.insert(0, 0);
        entries.push((0, Vec::new()));
    }
    entries.sort_by_key(|(i, _)| *i);
    w.extend_from_slice(&(entries.len() as i32).to_be_bytes());
    for (index, list) in &entries {
        w.extend_from_slice(&index.to_be_bytes());
        let mut b = bytes::BytesMut::new();
        list.write(&mut b);
        w.extend_from_slice(&b);
    }
    tree.walk(|path, n| {
        write_string(w, if path == "/" { "" } else { path });
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
    });
    write_string(w, "/");
}

/// A whole snapshot file's bytes for `tree` (named `snapshot.<its last zxid>`): header, body,
/// seal, the tree digest as of its last zxid, second seal.
pub fn encode_file(tree: &DataTree) -> Vec<u8> {
    let mut w = Vec::with_capacity(64 + tree.node_count() * 100);
    w.extend_from_slice(SNAP_MAGIC);
    w.extend_from_slice(&SNAP_VERSION.to_be_bytes());
    w.extend_from_slice(&(-1i64).to_be_bytes());
    write_body(tree, &mut w);
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
    let tree = read_body(&mut r, zxid).map_err(|e| bad(&r, e))?;
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
