//! How a leader brings a learner up to date (`LearnerHandler.syncFollower`, docs §4.2): from
//! the learner's last logged zxid and what the leader's log still holds, choose DIFF (send
//! the committed txns the learner lacks), TRUNC (it logged txns no quorum committed: cut its
//! log back to the last zxid both share, then send what follows) or SNAP (the leader's log no
//! longer reaches back far enough, or histories diverged across epochs).
//! Must never: read the log itself; the shell answers `LogIndex` from its segment index.

/// The zxids of the committed txns the leader can still send from its log, oldest first.
pub trait LogIndex {
    /// The oldest and newest committed zxid in the log, or None when it holds none.
    fn range(&self) -> Option<(i64, i64)>;
    /// The first committed zxid at or after `zxid`.
    fn first_at_or_after(&self, zxid: i64) -> Option<i64>;
    /// The last committed zxid before `zxid`.
    fn last_before(&self, zxid: i64) -> Option<i64>;
}

/// The log of a leader that holds no txns (a fresh ensemble).
pub struct EmptyLog;

impl LogIndex for EmptyLog {
    fn range(&self) -> Option<(i64, i64)> {
        None
    }
    fn first_at_or_after(&self, _: i64) -> Option<i64> {
        None
    }
    fn last_before(&self, _: i64) -> Option<i64> {
        None
    }
}

/// What the leader sends a learner before NEWLEADER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPlan {
    /// DIFF carrying `zxid`, then PROPOSAL+COMMIT of every committed txn after `after`.
    Diff { zxid: i64, after: i64 },
    /// TRUNC to `to` (the learner drops every txn after it), then PROPOSAL+COMMIT of every
    /// committed txn after `to`.
    Trunc { to: i64 },
    /// SNAP: the whole tree as of the leader's last processed zxid, then what follows it.
    Snap,
}

fn epoch(zxid: i64) -> i64 {
    zxid >> 32
}

/// Chooses the sync for a learner whose last logged zxid is `peer_last`, given the leader's
/// `last_processed` zxid and its log.
pub fn plan(peer_last: i64, last_processed: i64, log: &impl LogIndex) -> SyncPlan {
    // A zxid with counter 0 is a new epoch's start: the learner logged nothing in it.
    let peer_new_epoch = peer_last & 0xffff_ffff == 0;
    if peer_last == last_processed {
        return SyncPlan::Diff { zxid: peer_last, after: peer_last };
    }
    let Some((min, max)) = log.range() else {
        return SyncPlan::Snap;
    };
    if peer_last > max && !peer_new_epoch {
        // It logged txns past everything committed: cut them.
        return SyncPlan::Trunc { to: max };
    }
    if peer_last < min || peer_last > max {
        return SyncPlan::Snap;
    }
    match log.first_at_or_after(peer_last) {
        Some(z) if z == peer_last => SyncPlan::Diff { zxid: max, after: peer_last },
        _ if peer_new_epoch => SyncPlan::Diff { zxid: max, after: peer_last },
        // The learner's txns after ours in its epoch were never committed, and our log moved
        // on to a later epoch. ZooKeeper sends SNAP here; where we still hold an earlier txn
        // of the learner's epoch, both histories are that epoch's one leader's up to it, so
        // cutting back to it and sending the rest is exact (and far cheaper).
        Some(z) if epoch(z) != epoch(peer_last) => match log.last_before(peer_last) {
            Some(prev) if epoch(prev) == epoch(peer_last) => SyncPlan::Trunc { to: prev },
            _ => SyncPlan::Snap,
        },
        // The learner logged `peer_last`, which the leader never committed: cut back to the
        // last zxid before it that both hold.
        _ => match log.last_before(peer_last) {
            Some(prev) => SyncPlan::Trunc { to: prev },
            None => SyncPlan::Snap,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Log(Vec<i64>);

    impl LogIndex for Log {
        fn range(&self) -> Option<(i64, i64)> {
            Some((*self.0.first()?, *self.0.last()?))
        }
        fn first_at_or_after(&self, zxid: i64) -> Option<i64> {
            self.0.iter().copied().find(|z| *z >= zxid)
        }
        fn last_before(&self, zxid: i64) -> Option<i64> {
            self.0.iter().copied().rfind(|z| *z < zxid)
        }
    }

    const E1: i64 = 1 << 32;
    const E2: i64 = 2 << 32;

    /// Epoch 1 txns 1..=5, epoch 2 txns 1..=3.
    fn log() -> Log {
        Log((1..=5).map(|c| E1 | c).chain((1..=3).map(|c| E2 | c)).collect())
    }

    #[test]
    fn a_learner_as_current_as_the_leader_gets_an_empty_diff() {
        assert_eq!(plan(E2 | 3, E2 | 3, &log()), SyncPlan::Diff { zxid: E2 | 3, after: E2 | 3 });
        assert_eq!(plan(0, 0, &Log(vec![])), SyncPlan::Diff { zxid: 0, after: 0 });
    }

    #[test]
    fn a_learner_behind_within_the_log_gets_the_txns_it_lacks() {
        assert_eq!(plan(E1 | 4, E2 | 3, &log()), SyncPlan::Diff { zxid: E2 | 3, after: E1 | 4 });
        // A new epoch's start (counter 0): it logged nothing in epoch 2 yet.
        assert_eq!(plan(E2, E2 | 3, &log()), SyncPlan::Diff { zxid: E2 | 3, after: E2 });
    }

    #[test]
    fn a_learner_with_txns_no_quorum_committed_is_truncated() {
        // It logged epoch 2's txn 9, which the leader never committed.
        assert_eq!(plan(E2 | 9, E2 | 3, &log()), SyncPlan::Trunc { to: E2 | 3 });
        // Epoch 1 txn 7 was proposed by an old leader and never committed; the leader's log
        // moved on to epoch 2 after txn 5: cut back to 5, then send epoch 2.
        let l = log();
        assert_eq!(plan(E1 | 7, E2 | 3, &l), SyncPlan::Trunc { to: E1 | 5 }, "cut back within its epoch");
        // Nothing of its epoch before it in our log: SNAP (ZooKeeper's choice whenever the
        // next txn is of another epoch).
        let other = Log((1..=5).map(|c| E1 | c).chain((1..=3).map(|c| (3 << 32) | c)).collect());
        assert_eq!(plan(E2 | 7, (3 << 32) | 3, &other), SyncPlan::Snap);
        let same_epoch = Log((1..=5).map(|c| E1 | c).chain([E1 | 8]).collect());
        assert_eq!(plan(E1 | 7, E1 | 8, &same_epoch), SyncPlan::Trunc { to: E1 | 5 });
    }

    #[test]
    fn a_learner_the_log_no_longer_reaches_gets_a_snapshot() {
        let l = Log((3..=5).map(|c| E1 | c).collect());
        assert_eq!(plan(E1 | 1, E1 | 5, &l), SyncPlan::Snap);
        assert_eq!(plan(0, E1 | 5, &l), SyncPlan::Snap, "an empty learner");
        assert_eq!(plan(E1 | 1, E1 | 5, &Log(vec![])), SyncPlan::Snap);
    }
}
