//! The leader's read-index bookkeeping: a `sync` (from one of its own clients or forwarded by
//! a learner) is answered only once (a) a quorum of voters, the leader among them, answered a
//! PING the leader sent after the sync arrived — so the leader still led when it answered —
//! and (b) everything proposed before the sync arrived is committed. No txn is written.
//! Apache ZooKeeper 3.8 answers a sync without (a), which lets a paused old leader serve a
//! stale read after a sync; this is what closes that.
//!
//! PINGs are counted per learner connection: a learner answers every PING, in order, so when
//! it has answered `n` of them it has answered the `n`-th sent. A learner that reconnects
//! starts again from zero, which can only make a waiting sync wait longer, never shorter.
//! Must never: confirm a sync with answers to PINGs sent before it arrived, or count an
//! observer.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Who asked for a sync: one of the leader's own clients, or the learner that forwarded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncFrom {
    Local,
    Learner(i64),
}

#[derive(Debug)]
struct Waiting {
    from: SyncFrom,
    /// The last zxid proposed when the sync arrived.
    zxid: i64,
    /// Per voting learner in broadcast when it arrived, the PINGs it must have answered.
    needed: Vec<(i64, u64)>,
}

#[derive(Debug, Default)]
pub struct ReadIndex {
    sent: BTreeMap<i64, u64>,
    answered: BTreeMap<i64, u64>,
    waiting: VecDeque<Waiting>,
    round_wanted: bool,
}

impl ReadIndex {
    /// A learner (re)joined: its PING counts start from zero.
    pub fn joined(&mut self, sid: i64) {
        self.sent.insert(sid, 0);
        self.answered.insert(sid, 0);
    }

    /// A learner's connection ended: its syncs die with it (it closed the clients that asked,
    /// and a SYNC on its next connection would answer nothing it sent there).
    pub fn gone(&mut self, sid: i64) {
        self.sent.remove(&sid);
        self.answered.remove(&sid);
        self.waiting.retain(|w| w.from != SyncFrom::Learner(sid));
    }

    /// A sync arrived; `voters` are the voting learners in broadcast now.
    pub fn request(&mut self, from: SyncFrom, zxid: i64, voters: impl Iterator<Item = i64>) {
        let needed = voters.map(|sid| (sid, self.sent.get(&sid).copied().unwrap_or(0) + 1)).collect();
        self.waiting.push_back(Waiting { from, zxid, needed });
        self.round_wanted = true;
    }

    /// Whether a PING round is wanted for waiting syncs (and forget that it was).
    pub fn take_round_wanted(&mut self) -> bool {
        std::mem::take(&mut self.round_wanted)
    }

    pub fn pinged(&mut self, sid: i64) {
        *self.sent.entry(sid).or_default() += 1;
    }

    pub fn answered(&mut self, sid: i64) {
        if let Some(n) = self.answered.get_mut(&sid) {
            *n += 1;
        }
    }

    /// The syncs that may be answered now, oldest first: confirmed by `is_quorum` (which adds
    /// the leader itself) over the learners whose answers cover them, and with everything
    /// they wait for committed. `skip_round` answers without the round (a planted bug).
    pub fn ready(
        &mut self,
        committed: i64,
        is_quorum: impl Fn(&BTreeSet<i64>) -> bool,
        skip_round: bool,
    ) -> Vec<SyncFrom> {
        let mut out = Vec::new();
        while let Some(w) = self.waiting.front() {
            let confirmed: BTreeSet<i64> = w
                .needed
                .iter()
                .filter(|(sid, n)| self.answered.get(sid).copied().unwrap_or(0) >= *n)
                .map(|(sid, _)| *sid)
                .collect();
            if !(skip_round || is_quorum(&confirmed)) || w.zxid > committed {
                break;
            }
            out.push(self.waiting.pop_front().expect("front").from);
        }
        out
    }

    pub fn pending(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn majority_of_3(ids: &BTreeSet<i64>) -> bool {
        ids.len() + 1 >= 2
    }

    #[test]
    fn answers_only_after_a_ping_sent_after_the_sync_is_answered() {
        let mut r = ReadIndex::default();
        r.joined(2);
        r.joined(3);
        // A PING already in flight when the sync arrives does not count.
        r.pinged(2);
        r.request(SyncFrom::Local, 5, [2, 3].into_iter());
        assert!(r.take_round_wanted());
        assert!(!r.take_round_wanted());
        r.answered(2);
        assert!(r.ready(5, majority_of_3, false).is_empty());
        r.pinged(2);
        r.pinged(3);
        r.answered(2);
        assert_eq!(r.ready(5, majority_of_3, false), vec![SyncFrom::Local]);
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn waits_for_what_was_proposed_before_it_to_commit_and_answers_in_order() {
        let mut r = ReadIndex::default();
        r.joined(2);
        r.request(SyncFrom::Learner(2), 7, [2].into_iter());
        r.request(SyncFrom::Local, 9, [2].into_iter());
        r.pinged(2);
        r.answered(2);
        assert!(r.ready(6, majority_of_3, false).is_empty());
        assert_eq!(r.ready(8, majority_of_3, false), vec![SyncFrom::Learner(2)]);
        assert_eq!(r.ready(9, majority_of_3, false), vec![SyncFrom::Local]);
    }

    #[test]
    fn a_reconnected_learner_cannot_confirm_with_old_counts() {
        let mut r = ReadIndex::default();
        r.joined(2);
        for _ in 0..3 {
            r.pinged(2);
            r.answered(2);
        }
        r.request(SyncFrom::Local, 0, [2].into_iter());
        r.gone(2);
        r.joined(2);
        // Answers on the new connection count only up to what was needed: four.
        for _ in 0..3 {
            r.pinged(2);
            r.answered(2);
            assert!(r.ready(0, majority_of_3, false).is_empty());
        }
        r.pinged(2);
        r.answered(2);
        assert_eq!(r.ready(0, majority_of_3, false).len(), 1);
    }

    #[test]
    fn a_learner_that_leaves_takes_its_syncs_along() {
        let mut r = ReadIndex::default();
        r.joined(2);
        r.joined(3);
        r.request(SyncFrom::Learner(2), 0, [2, 3].into_iter());
        r.request(SyncFrom::Local, 0, [2, 3].into_iter());
        r.gone(2);
        r.joined(2);
        r.pinged(3);
        r.answered(3);
        assert_eq!(r.ready(0, majority_of_3, false), vec![SyncFrom::Local]);
    }

    #[test]
    fn the_planted_bug_answers_without_a_round() {
        let mut r = ReadIndex::default();
        r.joined(2);
        r.request(SyncFrom::Local, 0, [2].into_iter());
        assert_eq!(r.ready(0, majority_of_3, true), vec![SyncFrom::Local]);
    }
}
