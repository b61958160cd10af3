//! Zab's broadcast phase as bookkeeping, both sides (docs/quorum-protocol.md §5):
//! - the leader's outstanding proposals and who has ACKed each (`Proposals`): a proposal
//!   commits once a quorum of voters has ACKed it (the leader's own ACK comes after its own
//!   fsync, like anyone's) and every earlier one has committed, so commits go out strictly in
//!   zxid order; ACKs of observers, of NEWLEADER (counter 0), of committed or unknown zxids
//!   are ignored, as `Leader.processAck` ignores them; a learner that leaves or registers
//!   again has its ACKs forgotten (its next sync may truncate what it ACKed);
//! - a learner's logged but uncommitted proposals (`Pending`): a COMMIT must name the oldest
//!   of them (ZooKeeper's follower exits otherwise; here it is an error the shell acts on).
//!
//! Must never: count a non-voter, commit out of order, or commit what no quorum ACKed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use thiserror::Error;

/// The leader's proposals awaiting a quorum.
#[derive(Debug)]
pub struct Proposals {
    voters: BTreeSet<i64>,
    last_proposed: i64,
    last_committed: i64,
    acks: BTreeMap<i64, BTreeSet<i64>>,
}

impl Proposals {
    /// `last_committed`: the zxid everything up to which is committed when broadcast starts.
    pub fn new(voters: BTreeSet<i64>, last_committed: i64) -> Proposals {
        Proposals { voters, last_proposed: last_committed, last_committed, acks: BTreeMap::new() }
    }

    pub fn last_committed(&self) -> i64 {
        self.last_committed
    }

    pub fn last_proposed(&self) -> i64 {
        self.last_proposed
    }

    pub fn outstanding(&self) -> usize {
        self.acks.len()
    }

    /// A new proposal; its zxid must follow the last one proposed.
    pub fn propose(&mut self, zxid: i64) -> Result<(), BroadcastError> {
        if zxid <= self.last_proposed {
            return Err(BroadcastError::OutOfOrder { zxid, after: self.last_proposed });
        }
        self.last_proposed = zxid;
        self.acks.insert(zxid, BTreeSet::new());
        Ok(())
    }

    /// Member `from` has logged (fsynced) `zxid` and everything before it. Returns the zxids
    /// this commits, in order.
    pub fn ack(&mut self, from: i64, zxid: i64) -> Vec<i64> {
        if zxid & 0xffff_ffff == 0 || zxid <= self.last_committed || !self.voters.contains(&from) {
            return Vec::new();
        }
        match self.acks.get_mut(&zxid) {
            Some(who) => {
                who.insert(from);
            }
            None => return Vec::new(),
        }
        let mut committed = Vec::new();
        while let Some(entry) = self.acks.first_entry() {
            if entry.get().len() * 2 <= self.voters.len() {
                break;
            }
            let (z, _) = entry.remove_entry();
            self.last_committed = z;
            committed.push(z);
        }
        committed
    }

    /// Member `sid` left (its connection closed, or it registers again): its ACKs no longer
    /// count. It must sync again before it ACKs anything, and that sync may truncate what it
    /// ACKed (its log beyond what is committed), so an old ACK says nothing of its log now.
    /// The leader sends it the outstanding proposals again after the sync and it ACKs them
    /// again. (Counting the old ACK committed a txn durable on a minority: found by the
    /// simulation.)
    pub fn forget(&mut self, sid: i64) {
        for who in self.acks.values_mut() {
            who.remove(&sid);
        }
    }

    /// Whether `zxid` has been ACKed by `member` (for tests and the admin view).
    pub fn acked_by(&self, zxid: i64, member: i64) -> bool {
        self.acks.get(&zxid).is_some_and(|s| s.contains(&member))
    }
}

/// A learner's proposals, logged in order, waiting for their COMMIT.
#[derive(Debug)]
pub struct Pending<T> {
    queue: VecDeque<(i64, T)>,
    last_committed: i64,
}

impl<T> Pending<T> {
    pub fn new(last_committed: i64) -> Pending<T> {
        Pending { queue: VecDeque::new(), last_committed }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn last_committed(&self) -> i64 {
        self.last_committed
    }

    /// The pending proposals, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &(i64, T)> {
        self.queue.iter()
    }

    /// A PROPOSAL: it must follow everything before it.
    pub fn proposed(&mut self, zxid: i64, txn: T) -> Result<(), BroadcastError> {
        let after = self.queue.back().map_or(self.last_committed, |(z, _)| *z);
        if zxid <= after {
            return Err(BroadcastError::OutOfOrder { zxid, after });
        }
        self.queue.push_back((zxid, txn));
        Ok(())
    }

    /// A COMMIT: it must name the oldest pending proposal, which it returns to be applied.
    pub fn committed(&mut self, zxid: i64) -> Result<T, BroadcastError> {
        match self.queue.front() {
            Some((z, _)) if *z == zxid => {
                self.last_committed = zxid;
                Ok(self.queue.pop_front().expect("front").1)
            }
            Some((z, _)) => Err(BroadcastError::CommitMismatch { zxid, next: Some(*z) }),
            None => Err(BroadcastError::CommitMismatch { zxid, next: None }),
        }
    }
}

/// A broken ordering promise: the member must leave the epoch (and look for a leader again).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BroadcastError {
    #[error("proposal 0x{zxid:x} does not follow 0x{after:x}")]
    OutOfOrder { zxid: i64, after: i64 },
    #[error("COMMIT of 0x{zxid:x} but the next pending proposal is {next:?}")]
    CommitMismatch { zxid: i64, next: Option<i64> },
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn voters(ids: &[i64]) -> BTreeSet<i64> {
        ids.iter().copied().collect()
    }

    const E: i64 = 5 << 32;

    #[test]
    fn a_quorum_of_voters_commits_in_order() {
        let mut p = Proposals::new(voters(&[1, 2, 3]), E);
        for z in 1..=3 {
            p.propose(E | z).unwrap();
        }
        assert!(p.ack(1, E | 2).is_empty());
        assert!(p.ack(2, E | 2).is_empty(), "2 has a quorum but 1 has not committed");
        assert!(p.ack(1, E | 1).is_empty());
        assert_eq!(p.ack(3, E | 1), vec![E | 1, E | 2], "1 commits, then 2 which was waiting");
        assert_eq!(p.last_committed(), E | 2);
        assert_eq!(p.outstanding(), 1);
    }

    #[test]
    fn observers_newleader_acks_and_stale_or_unknown_zxids_do_not_count() {
        let mut p = Proposals::new(voters(&[1, 2, 3]), E);
        p.propose(E | 1).unwrap();
        assert!(p.ack(9, E | 1).is_empty(), "observer");
        assert!(p.ack(1, E).is_empty(), "NEWLEADER ack (counter 0)");
        assert!(p.ack(1, E | 7).is_empty(), "never proposed");
        assert!(!p.acked_by(E | 1, 9));
        p.ack(1, E | 1);
        assert_eq!(p.ack(2, E | 1), vec![E | 1]);
        assert!(p.ack(3, E | 1).is_empty(), "already committed");
        assert_eq!(p.propose(E | 1), Err(BroadcastError::OutOfOrder { zxid: E | 1, after: E | 1 }));
    }

    #[test]
    fn the_acks_of_a_learner_that_left_no_longer_count() {
        // 1..=5 vote; 5 leads. 0x101 is ACKed by 5 and 1, then 1 leaves (it will be
        // truncated below 0x101 when it syncs again): 2 and 3 must ACK before it commits.
        let mut p = Proposals::new(voters(&[1, 2, 3, 4, 5]), 0x100);
        p.propose(0x101).unwrap();
        assert!(p.ack(5, 0x101).is_empty());
        assert!(p.ack(1, 0x101).is_empty());
        p.forget(1);
        assert!(!p.acked_by(0x101, 1));
        assert!(p.ack(2, 0x101).is_empty(), "committed on 5 and 2 of five voters");
        assert_eq!(p.ack(1, 0x101), vec![0x101], "1 ACKs again after its sync: 5, 2, 1");
    }

    #[test]
    fn a_learners_commits_must_name_its_oldest_proposal() {
        let mut q: Pending<&str> = Pending::new(E);
        q.proposed(E | 1, "a").unwrap();
        q.proposed(E | 2, "b").unwrap();
        assert!(q.proposed(E | 2, "dup").is_err());
        assert_eq!(q.committed(E | 2), Err(BroadcastError::CommitMismatch { zxid: E | 2, next: Some(E | 1) }));
        assert_eq!(q.committed(E | 1), Ok("a"));
        assert_eq!(q.committed(E | 2), Ok("b"));
        assert_eq!(q.committed(E | 3), Err(BroadcastError::CommitMismatch { zxid: E | 3, next: None }));
        assert_eq!(q.last_committed(), E | 2);
    }

    proptest! {
        /// Whatever order ACKs arrive in (duplicates, observers and strays included): commits
        /// come out in zxid order, each had a quorum of voter ACKs, and once every voter has
        /// ACKed everything, everything is committed.
        #[test]
        fn commits_are_ordered_and_quorate(
            n_voters in 1usize..6,
            n_props in 1i64..12,
            order in prop::collection::vec((0usize..8, 1i64..14), 0..120),
        ) {
            let ids: Vec<i64> = (1..=n_voters as i64).collect();
            let mut p = Proposals::new(voters(&ids), E);
            for z in 1..=n_props {
                p.propose(E | z).unwrap();
            }
            let mut acked: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
            let mut committed = Vec::new();
            let all = ids.iter().flat_map(|&m| (1..=n_props).map(move |z| (m, z)));
            let sequence: Vec<(i64, i64)> = order.iter().map(|&(m, z)| (m as i64 + 1, z)).chain(all).collect();
            for (member, z) in sequence {
                if ids.contains(&member) {
                    acked.entry(E | z).or_default().insert(member);
                }
                for c in p.ack(member, E | z) {
                    let who = acked.get(&c).map_or(0, |s| s.len());
                    prop_assert!(who * 2 > n_voters, "0x{:x} committed with {} of {} acks", c, who, n_voters);
                    prop_assert!(committed.last().map_or(true, |&l| c > l), "out of order");
                    committed.push(c);
                }
            }
            prop_assert_eq!(committed, (1..=n_props).map(|z| E | z).collect::<Vec<_>>());
        }
    }
}
