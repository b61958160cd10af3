//! A member's applied tree in the simulation, and the check, at every step, that it equals the
//! tree rebuilt from the member's log up to the same zxid.
//!
//! Rebuilding from the log at every step costs ~300x the whole run, so the log's tree (the
//! shadow) is kept incrementally: it applies the logged txns up to the applied tree's last
//! zxid, and is rebuilt from scratch only when the log is cut back (a crash losing its tail,
//! TRUNC, SNAP: `Disk::cuts` counts them). Each step compares the two trees' last zxid and
//! znode count, and every znode either tree changed since the last step (a txn's watch
//! triggers name them: the znode and its parent); both trees were equal after the previous
//! step, so they are equal after this one. A full comparison (every znode's path, Stat, data
//! and ACL) runs after each rebuild, every 500 steps and at the end, to back that reasoning.

use super::{Log, Txn};
use crate::tree::DataTree;
use crate::watch::Trigger;
use std::collections::BTreeSet;

/// The tree a log's txns up to `upto` make.
pub(super) fn rebuild(log: &Log, upto: i64) -> DataTree {
    let mut t = DataTree::new();
    for (z, d) in log.iter().filter(|(z, _)| *z <= upto) {
        t.apply(&Txn::decode(d).unwrap_or_else(|e| panic!("txn 0x{z:x}: {e}")));
    }
    t
}

/// The znodes a txn's outcome changed: each trigger's path (a create names the znode and,
/// as its children changed, the parent).
fn changed(triggers: &[Trigger], into: &mut BTreeSet<String>) {
    for t in triggers {
        let (Trigger::Created(p) | Trigger::Deleted(p) | Trigger::DataChanged(p) | Trigger::ChildrenChanged(p)) = t;
        into.insert(p.clone());
    }
}

/// The tree a member applied (committed txns, and on leaving a role what it logged), with the
/// shadow rebuilt from its log beside it.
pub(super) struct AppliedTree {
    tree: DataTree,
    /// Znodes changed in `tree` or `shadow` since the last comparison.
    touched: BTreeSet<String>,
    shadow: DataTree,
    /// The log's `cuts` when `shadow` was last rebuilt; None: rebuild it at the next check.
    shadow_cuts: Option<u64>,
}

impl AppliedTree {
    pub(super) fn new() -> AppliedTree {
        AppliedTree { tree: DataTree::new(), touched: BTreeSet::new(), shadow: DataTree::new(), shadow_cuts: Some(0) }
    }

    pub(super) fn last_zxid(&self) -> i64 {
        self.tree.last_zxid()
    }

    pub(super) fn has(&self, path: &str) -> bool {
        self.tree.get(path).is_some()
    }

    pub(super) fn apply(&mut self, txn: &Txn) {
        let out = self.tree.apply(txn);
        changed(&out.triggers, &mut self.touched);
    }

    /// The tree was rebuilt (restart, TRUNC, SNAP): the next check rebuilds the shadow too and
    /// compares them whole.
    pub(super) fn replace(&mut self, tree: DataTree) {
        self.tree = tree;
        self.shadow_cuts = None;
    }

    /// Compares the applied tree with the tree `log` makes up to the same zxid; `cuts` counts
    /// how often `log` was cut back. `full` compares every znode.
    pub(super) fn check(&mut self, log: &Log, cuts: u64, full: bool) -> Result<(), String> {
        let upto = self.tree.last_zxid();
        let rebuilt = self.shadow_cuts != Some(cuts) || self.shadow.last_zxid() > upto;
        if rebuilt {
            self.shadow = rebuild(log, upto);
            self.shadow_cuts = Some(cuts);
        } else {
            let from = log.partition_point(|e| e.0 <= self.shadow.last_zxid());
            for (z, d) in log[from..].iter().take_while(|e| e.0 <= upto) {
                let out = self.shadow.apply(&Txn::decode(d).map_err(|e| format!("logged txn 0x{z:x}: {e}"))?);
                changed(&out.triggers, &mut self.touched);
            }
        }
        let touched = std::mem::take(&mut self.touched);
        let (a, s) = (&self.tree, &self.shadow);
        let differs = |what: String| {
            Err(format!(
                "applied tree (0x{:x}, {} znodes) differs from its log's (0x{:x}, {} znodes): {what}",
                a.last_zxid(),
                a.node_count(),
                s.last_zxid(),
                s.node_count()
            ))
        };
        if a.last_zxid() != s.last_zxid() || a.node_count() != s.node_count() {
            return differs("last zxid or znode count".into());
        }
        if full || rebuilt {
            let (fa, fs) = (a.fingerprint(), s.fingerprint());
            if let Some((x, y)) = fa.iter().zip(&fs).find(|(x, y)| x != y) {
                return differs(format!("{x:?} against {y:?}"));
            }
            return Ok(());
        }
        for path in &touched {
            let node = |t: &DataTree| {
                t.get(path).map(|n| (n.stat(), n.data().map(|d| String::from_utf8_lossy(d).into_owned())))
            };
            if node(a) != node(s) {
                return differs(format!("{path}: {:?} against {:?}", node(a), node(s)));
            }
        }
        Ok(())
    }
}
