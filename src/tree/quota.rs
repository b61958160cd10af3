//! Quota bookkeeping: which subtrees have quotas (`/zookeeper/quota/<path>/zookeeper_limits`)
//! and keeping their `zookeeper_stats` znode's "count=N,bytes=M" up to date as the tree
//! changes, as ZooKeeper's DataTree does. Quotas are tracked, not enforced (ZooKeeper's
//! default: exceeding one is only logged).
//! Must never: change a znode's Stat (ZooKeeper rewrites the stats data in place).

use super::{DataTree, QUOTA_PATH};
use crate::proto::path;
use std::collections::BTreeSet;

pub const LIMIT_NODE: &str = "zookeeper_limits";
pub const STAT_NODE: &str = "zookeeper_stats";

/// The set of quota roots (paths with a zookeeper_limits node).
#[derive(Debug, Clone, Default)]
pub struct Quotas {
    roots: BTreeSet<String>,
}

impl Quotas {
    /// Finds quota roots again after a snapshot restore.
    pub fn rebuild(tree: &DataTree) -> Quotas {
        let mut roots = BTreeSet::new();
        // Quota roots are only ever defined below /zookeeper/quota.
        tree.walk_from(QUOTA_PATH, |p, _| {
            if let Some(root) = quota_root_of_special(p, LIMIT_NODE) {
                roots.insert(root);
            }
        });
        Quotas { roots }
    }

    /// The deepest quota root that is `p` or an ancestor of it.
    fn max_prefix(&self, p: &str) -> Option<String> {
        if self.roots.is_empty() {
            return None;
        }
        let mut cur = p;
        loop {
            if self.roots.contains(cur) {
                return Some(cur.to_owned());
            }
            if cur == "/" {
                return None;
            }
            cur = path::parent(cur);
        }
    }
}

/// For `/zookeeper/quota/<root>/<special>` returns `<root>`.
fn quota_root_of_special(p: &str, special: &str) -> Option<String> {
    let rest = p.strip_prefix(QUOTA_PATH)?;
    if !rest.starts_with('/') || path::basename(p) != special {
        return None;
    }
    let root = path::parent(rest);
    (root != "/").then(|| root.to_owned())
}

/// Parses "count=N,bytes=M[,…]" into (count, bytes).
pub fn parse_stats(data: &[u8]) -> (i64, i64) {
    let mut count = 0;
    let mut bytes = 0;
    for kv in String::from_utf8_lossy(data).split(',') {
        if let Some((k, v)) = kv.split_once('=') {
            match k.trim() {
                "count" => count = v.trim().parse().unwrap_or(0),
                "bytes" => bytes = v.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    (count, bytes)
}

fn stats_path(root: &str) -> String {
    format!("{QUOTA_PATH}{root}/{STAT_NODE}")
}

impl DataTree {
    fn update_quota_stats(&mut self, root: &str, dcount: i64, dbytes: i64) {
        let sp = stats_path(root);
        if let Some(id) = self.nodes.find(&sp) {
            let node = self.nodes.node_mut(id);
            let (c, b) = parse_stats(node.data().unwrap_or(&[]));
            node.set_data(Some(format!("count={},bytes={}", c + dcount, b + dbytes).as_bytes()));
        }
    }

    /// Counts `root` and its descendants: (znodes, data bytes).
    fn subtree_counts(&self, root: &str) -> (i64, i64) {
        let mut count = 0;
        let mut bytes = 0;
        self.walk_from(root, |_, n| {
            count += 1;
            bytes += n.data_len() as i64;
        });
        (count, bytes)
    }

    /// After a snapshot is loaded: every quota root's stats counted again from the tree, as
    /// ZooKeeper's `setupQuota` does (a fuzzy snapshot of ZooKeeper's can hold stats written
    /// before or after some of the znodes it holds).
    pub(super) fn recount_quotas(&mut self) {
        let roots: Vec<String> = self.quotas.roots.iter().cloned().collect();
        for root in roots {
            let (c, b) = self.subtree_counts(&root);
            if let Some(id) = self.nodes.find(&stats_path(&root)) {
                let text = format!("count={c},bytes={b}");
                if self.nodes.node(id).data() != Some(text.as_bytes()) {
                    self.nodes.node_mut(id).set_data(Some(text.as_bytes()));
                }
            }
        }
    }

    pub(super) fn quota_created(&mut self, p: &str, len: u64) {
        if let Some(root) = quota_root_of_special(p, LIMIT_NODE) {
            self.quotas.roots.insert(root);
            return;
        }
        if let Some(root) = quota_root_of_special(p, STAT_NODE) {
            let (c, b) = self.subtree_counts(&root);
            if let Some(id) = self.nodes.find(p) {
                self.nodes.node_mut(id).set_data(Some(format!("count={c},bytes={b}").as_bytes()));
            }
            return;
        }
        if let Some(root) = self.quotas.max_prefix(p) {
            self.update_quota_stats(&root, 1, len as i64);
        }
    }

    pub(super) fn quota_deleted(&mut self, p: &str, len: u64) {
        if let Some(root) = quota_root_of_special(p, LIMIT_NODE) {
            self.quotas.roots.remove(&root);
            return;
        }
        if let Some(root) = self.quotas.max_prefix(p) {
            self.update_quota_stats(&root, -1, -(len as i64));
        }
    }

    pub(super) fn quota_data_changed(&mut self, p: &str, old: u64, new: u64) {
        if p.starts_with(QUOTA_PATH) {
            return;
        }
        if let Some(root) = self.quotas.max_prefix(p) {
            self.update_quota_stats(&root, 0, new as i64 - old as i64);
        }
    }
}
