//! The tree's snapshot encoding: a consistent image of the DataTree (znodes parent-first, the
//! ACL table, live sessions, last applied zxid) as bytes, and back. The bytes are stored and
//! checksummed by `storage`.
//! Must never: touch files; storage owns the disk.

use super::{DataTree, Znode};
use crate::proto::jute::{DecodeError, Jute, Reader};
use crate::proto::records::Acl;
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::{BTreeSet, HashMap};

const MAGIC: &[u8; 4] = b"ZBKS";
const END: &[u8; 4] = b"ZEND";
const VERSION: i32 = 1;

/// Serialises the whole tree. The caller holds the tree still while this runs.
pub fn encode(tree: &DataTree) -> Bytes {
    let mut w = BytesMut::with_capacity(64 + tree.node_count() * 96 + tree.approximate_data_size() as usize);
    w.put_slice(MAGIC);
    VERSION.write(&mut w);
    tree.last_zxid().write(&mut w);
    let mut sessions: Vec<(&i64, &i32)> = tree.sessions().iter().collect();
    sessions.sort();
    (sessions.len() as i32).write(&mut w);
    for (id, to) in sessions {
        id.write(&mut w);
        to.write(&mut w);
    }
    (tree.node_count() as i64).write(&mut w);
    tree.walk(|p, n| {
        p.to_owned().write(&mut w);
        match &n.data {
            None => w.put_i32(-1),
            Some(d) => {
                w.put_i32(d.len() as i32);
                w.put_slice(d);
            }
        }
        let acl = tree.acl_table().get(n.acl);
        (acl.len() as i32).write(&mut w);
        for a in acl.iter() {
            a.write(&mut w);
        }
        for v in [n.czxid, n.mzxid, n.ctime, n.mtime] {
            v.write(&mut w);
        }
        for v in [n.version, n.cversion, n.aversion] {
            v.write(&mut w);
        }
        n.ephemeral_owner.write(&mut w);
        n.pzxid.write(&mut w);
    });
    w.put_slice(END);
    w.freeze()
}

/// Rebuilds a tree from `encode`'s bytes.
pub fn decode(b: &[u8]) -> Result<DataTree, DecodeError> {
    let mut r = Reader::new(b);
    if r.take(4)? != MAGIC {
        return Err(DecodeError::BadValue { what: "snapshot magic", value: 0 });
    }
    let v = i32::read(&mut r)?;
    if v != VERSION {
        return Err(DecodeError::BadValue { what: "snapshot version", value: v as i64 });
    }
    let last_zxid = i64::read(&mut r)?;
    let n_sessions = i32::read(&mut r)?;
    let mut sessions = HashMap::new();
    for _ in 0..n_sessions.max(0) {
        let id = i64::read(&mut r)?;
        sessions.insert(id, i32::read(&mut r)?);
    }
    let count = i64::read(&mut r)?;
    let mut tree = DataTree::empty();
    for _ in 0..count.max(0) {
        let p = String::read(&mut r)?;
        let data: Option<Bytes> = Jute::read(&mut r)?;
        let acl: Vec<Acl> = Jute::read(&mut r)?;
        let node = Znode {
            czxid: i64::read(&mut r)?,
            mzxid: i64::read(&mut r)?,
            ctime: i64::read(&mut r)?,
            mtime: i64::read(&mut r)?,
            version: i32::read(&mut r)?,
            cversion: i32::read(&mut r)?,
            aversion: i32::read(&mut r)?,
            ephemeral_owner: i64::read(&mut r)?,
            pzxid: i64::read(&mut r)?,
            data: data.map(|d| Box::from(&d[..])),
            acl: 0,
            children: BTreeSet::new(),
        };
        tree.insert_restored(&p, node, &acl);
    }
    if r.take(4)? != END {
        return Err(DecodeError::BadValue { what: "snapshot end marker", value: 0 });
    }
    tree.restore_meta(last_zxid, sessions);
    Ok(tree)
}
