//! ZooKeeper 3.8's tree digest (`DigestCalculator`, version 2): each znode's CRC32 over its
//! path (the root as the empty path), its data, and 60 bytes of its stat in the order czxid,
//! mzxid, pzxid, ctime, mtime, version, cversion, aversion, ephemeralOwner; znodes under
//! `/zookeeper/` count 0; the tree's digest is the wrapping sum of them all. ACLs do not count.
//! Must never: include a `/zookeeper/...` znode, or hash the stored stat in another order.

use crate::tree::{DataTree, Znode};

pub const DIGEST_VERSION: i32 = 2;

/// One znode's digest (0 for the system znodes under `/zookeeper/`).
pub fn node_digest(path: &str, node: &Znode) -> u64 {
    if path.starts_with("/zookeeper/") {
        return 0;
    }
    let mut h = crc32fast::Hasher::new();
    h.update(if path == "/" { b"" } else { path.as_bytes() });
    if let Some(d) = node.data() {
        h.update(d);
    }
    let mut stat = [0u8; 60];
    let fields: [&[u8]; 9] = [
        &node.czxid.to_be_bytes(),
        &node.mzxid.to_be_bytes(),
        &node.pzxid.to_be_bytes(),
        &node.ctime.to_be_bytes(),
        &node.mtime.to_be_bytes(),
        &node.version.to_be_bytes(),
        &node.cversion.to_be_bytes(),
        &node.aversion.to_be_bytes(),
        &node.ephemeral_owner.to_be_bytes(),
    ];
    let mut at = 0;
    for f in fields {
        stat[at..at + f.len()].copy_from_slice(f);
        at += f.len();
    }
    h.update(&stat);
    u64::from(h.finalize())
}

/// The whole tree's digest.
pub fn tree_digest(tree: &DataTree) -> u64 {
    let mut sum = 0u64;
    tree.walk(|p, n| sum = sum.wrapping_add(node_digest(p, n)));
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_trees_digest_is_zookeepers() {
        // The root and /zookeeper with zero stats and no data: CRC32 of 60 zero bytes plus
        // CRC32 of "/zookeeper" and 60 zero bytes (ZooKeeper's value for a fresh DataTree).
        let root = Znode::new("/", Some(b""));
        let zk = Znode::new("/zookeeper", Some(b""));
        assert_eq!(node_digest("/", &root), 0x0412_8908);
        assert_eq!(node_digest("/zookeeper", &zk), 0x4DB4_4D58);
        assert_eq!(node_digest("/zookeeper/quota", &zk), 0);
        assert_eq!(node_digest("/", &root) + node_digest("/zookeeper", &zk), 1_371_985_504);
    }
}
