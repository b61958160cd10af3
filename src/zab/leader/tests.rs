//! The leader against our own learners, in memory: discovery, the epoch quorum, sync,
//! establishment and broadcast, delivered in order with the logs durable at once; ticks with
//! PINGs answered; learners whose proposal ACKs are held back or never sent.

use super::*;
use crate::zab::learner::{Learner, LearnerAction};

use crate::zab::sync::EmptyLog as Empty;

struct Ensemble {
    leader: Leader,
    learners: BTreeMap<i64, Learner>,
    /// Packets in flight to the leader and to each learner, in order.
    to_leader: Vec<(i64, QuorumPacket)>,
    to_learner: BTreeMap<i64, Vec<QuorumPacket>>,
    applied: BTreeMap<i64, Vec<i64>>,
    established: bool,
    epochs: Vec<(i64, &'static str, i64)>,
    /// Learners whose proposal ACKs are held back in `held` (their PING replies still flow).
    hold_acks: BTreeSet<i64>,
    held: Vec<(i64, QuorumPacket)>,
    /// Learners the leader dropped, and why: their connection is closed.
    dropped: Vec<(i64, String)>,
    failed: Option<String>,
    /// Learners whose incoming packets stay queued (a stalled connection).
    stalled: BTreeSet<i64>,
}

impl Ensemble {
    fn new(voters: &[i64], observers: &[i64]) -> Ensemble {
        let ids: BTreeSet<i64> = voters.iter().copied().collect();
        let leader_id = *voters.iter().max().unwrap();
        let mut e = Ensemble {
            leader: Leader::start(leader_id, ids, Bytes::from_static(b"version=0"), 0, 0, 0),
            learners: BTreeMap::new(),
            to_leader: Vec::new(),
            to_learner: BTreeMap::new(),
            applied: BTreeMap::new(),
            established: false,
            epochs: Vec::new(),
            hold_acks: BTreeSet::new(),
            held: Vec::new(),
            dropped: Vec::new(),
            failed: None,
            stalled: BTreeSet::new(),
        };
        for &id in voters.iter().filter(|&&id| id != leader_id).chain(observers) {
            let (l, out) = Learner::start(id, observers.contains(&id), 0, 0, 0);
            e.learners.insert(id, l);
            e.learner_actions(id, out);
        }
        e
    }

    fn leader_actions(&mut self, actions: Vec<LeaderAction>) {
        let me = 0;
        for a in actions {
            match a {
                LeaderAction::Send(to, p) => self.to_learner.entry(to).or_default().push(p),
                LeaderAction::Sync(to, plan, _) => {
                    assert_eq!(plan, SyncPlan::Diff { zxid: 0, after: 0 });
                    self.to_learner.entry(to).or_default().push(QuorumPacket::new(packet::DIFF, 0, None));
                }
                LeaderAction::PersistAcceptedEpoch(e) => self.epochs.push((me, "accepted", e)),
                LeaderAction::PersistCurrentEpoch(e) => self.epochs.push((me, "current", e)),
                LeaderAction::Append(z, _) => {
                    let more = self.leader.logged(z);
                    self.leader_actions(more);
                }
                LeaderAction::Commit(z, _) => self.applied.entry(me).or_default().push(z),
                LeaderAction::Established => self.established = true,
                LeaderAction::SessionTouches(..) => {}
                LeaderAction::DropLearner(sid, why) => {
                    // The connection closes: nothing in flight arrives any more.
                    self.to_learner.remove(&sid);
                    self.to_leader.retain(|(from, _)| *from != sid);
                    self.held.retain(|(from, _)| *from != sid);
                    self.dropped.push((sid, why));
                }
                LeaderAction::Fail(why) => self.failed = Some(why),
                other => panic!("unexpected leader action {other:?}"),
            }
        }
    }

    fn learner_actions(&mut self, id: i64, actions: Vec<LearnerAction>) {
        for a in actions {
            match a {
                _ if self.is_dropped(id) => {}
                LearnerAction::Send(p)
                    if p.type_ == packet::ACK && p.zxid & 0xffff_ffff != 0 && self.hold_acks.contains(&id) =>
                {
                    self.held.push((id, p))
                }
                LearnerAction::Send(p) => self.to_leader.push((id, p)),
                LearnerAction::PingReply(z) => {
                    self.to_leader.push((id, QuorumPacket::new(packet::PING, z, Some(Bytes::new()))))
                }
                LearnerAction::PersistAcceptedEpoch(e) => self.epochs.push((id, "accepted", e)),
                LearnerAction::PersistCurrentEpoch(e) => self.epochs.push((id, "current", e)),
                LearnerAction::Append(entries) => {
                    let more = self.learners.get_mut(&id).unwrap().logged(entries.last().unwrap().0);
                    self.learner_actions(id, more);
                }
                LearnerAction::Commit(z, _) => self.applied.entry(id).or_default().push(z),
                LearnerAction::Serving => {}
                other => panic!("learner {id}: unexpected {other:?}"),
            }
        }
    }

    /// Delivers everything in flight until nothing moves, learners first (so every learner
    /// acks the epoch before the first NEWLEADER ACK establishes the leader: all sync by DIFF;
    /// one that comes later would need SNAP, as in ZooKeeper).
    fn settle(&mut self) {
        for _ in 0..1000 {
            let ready = self.to_learner.iter().find(|(id, q)| !q.is_empty() && !self.stalled.contains(id));
            if let Some(id) = ready.map(|(id, _)| *id) {
                let p = self.to_learner.get_mut(&id).unwrap().remove(0);
                let out = self.learners.get_mut(&id).unwrap().packet(p);
                self.learner_actions(id, out);
                continue;
            }
            if self.to_leader.is_empty() {
                return;
            }
            let (from, p) = self.to_leader.remove(0);
            let out = self.leader.packet(from, p, &Empty);
            self.leader_actions(out);
        }
        panic!("did not settle");
    }

    fn is_dropped(&self, id: i64) -> bool {
        self.dropped.iter().any(|(sid, _)| *sid == id)
    }

    /// Half a tick passes on the leader; what it sends is delivered and answered.
    fn tick(&mut self) {
        let out = self.leader.tick();
        self.leader_actions(out);
        self.settle();
    }

    fn applied_by(&self, id: i64) -> Vec<i64> {
        self.applied.get(&id).cloned().unwrap_or_default()
    }

    fn propose(&mut self, n: usize) -> Vec<i64> {
        let mut zxids = Vec::new();
        for i in 0..n {
            let (z, out) = self.leader.propose(|z| Bytes::from(format!("txn {i} at {z:x}"))).expect("established");
            zxids.push(z);
            self.leader_actions(out);
        }
        zxids
    }
}

#[test]
fn a_quorum_establishes_epoch_one_and_commits_in_order_everywhere() {
    let mut e = Ensemble::new(&[1, 2, 3], &[9]);
    e.settle();
    assert!(e.established && e.leader.is_established());
    assert_eq!(e.leader.epoch(), Some(1));
    // Every voter made the epoch durable: accepted first, then current.
    for id in [0, 1, 2] {
        let mine: Vec<_> = e.epochs.iter().filter(|(m, _, _)| *m == id).map(|(_, k, v)| (*k, *v)).collect();
        assert_eq!(mine, vec![("accepted", 1), ("current", 1)], "member {id}");
    }
    assert!(e.learners.values().all(|l| l.is_serving()));
    let zxids = e.propose(5);
    e.settle();
    assert_eq!(zxids, (1..=5).map(|c| (1 << 32) | c).collect::<Vec<_>>());
    for id in [0, 1, 2, 9] {
        assert_eq!(e.applied.get(&id), Some(&zxids), "member {id} applied every txn in order");
    }
}

#[test]
fn nothing_commits_without_a_quorum_of_voter_acks() {
    let mut e = Ensemble::new(&[1, 2, 3, 4, 5], &[]);
    e.settle();
    assert!(e.established);
    let z = e.propose(1)[0];
    // Deliver the proposal to one follower only: the leader and it are 2 of 5.
    let to_1 = e.to_learner.get_mut(&1).unwrap().remove(0);
    for q in e.to_learner.values_mut() {
        q.clear();
    }
    let out = e.learners.get_mut(&1).unwrap().packet(to_1);
    e.learner_actions(1, out);
    let (from, ack) = e.to_leader.remove(0);
    let out = e.leader.packet(from, ack, &Empty);
    assert!(!out.iter().any(|a| matches!(a, LeaderAction::Commit(..))), "2 of 5 is no quorum: {out:?}");
    assert_eq!(e.leader.last_committed() & 0xffff_ffff, 0);
    assert!(!e.leader.proposals.acked_by(z, 9));
}

#[test]
fn no_uptodate_before_a_quorum_acked_newleader() {
    let ids: BTreeSet<i64> = [1, 2, 3].into_iter().collect();
    let mut leader = Leader::start(3, ids, Bytes::new(), 0, 0, 0);
    let info = |sid| {
        let li = LearnerInfo { server_id: sid, protocol_version: LEARNER_PROTOCOL_VERSION, config_version: 0 };
        QuorumPacket::new(packet::FOLLOWERINFO, 0, Some(crate::proto::jute::to_bytes(&li).freeze()))
    };
    let out = leader.packet(1, info(1), &Empty);
    assert!(matches!(out[0], LeaderAction::PersistAcceptedEpoch(1)), "leader + 1 of 3 is a quorum: {out:?}");
    let ackepoch = QuorumPacket::new(packet::ACKEPOCH, 0, Some(Bytes::copy_from_slice(&0i32.to_be_bytes())));
    let out = leader.packet(1, ackepoch, &Empty);
    assert!(matches!(out[0], LeaderAction::PersistCurrentEpoch(1)));
    assert!(!leader.is_established());
    // A learner ahead of the leader is dropped; the attempt goes on without it.
    let mut ahead = Leader::start(3, [1, 2, 3].into_iter().collect(), Bytes::new(), 0, 0, 0);
    ahead.packet(1, info(1), &Empty);
    ahead.packet(2, info(2), &Empty);
    let bad = QuorumPacket::new(packet::ACKEPOCH, 5, Some(Bytes::copy_from_slice(&0i32.to_be_bytes())));
    assert!(matches!(&ahead.packet(1, bad, &Empty)[..], [LeaderAction::DropLearner(1, _)]));
    let good = QuorumPacket::new(packet::ACKEPOCH, 0, Some(Bytes::copy_from_slice(&0i32.to_be_bytes())));
    assert!(matches!(ahead.packet(2, good, &Empty)[0], LeaderAction::PersistCurrentEpoch(1)));
    // NEWLEADER's ACK establishes it.
    let out = leader.packet(1, QuorumPacket::new(packet::ACK, 1 << 32, None), &Empty);
    assert_eq!(out[0], LeaderAction::Established);
    assert!(matches!(&out[1], LeaderAction::Send(1, p) if p.type_ == packet::UPTODATE));
}

#[test]
fn an_ack_given_on_an_earlier_connection_does_not_count() {
    // Found by the ensemble simulation: a leader counted an ACK a learner gave before it
    // reconnected; the learner's new sync truncated the txn away, so the txn committed while
    // durable on a minority. 5 voters (5 leads); 1 ACKs z, then registers again.
    let mut e = Ensemble::new(&[1, 2, 3, 4, 5], &[]);
    e.settle();
    e.hold_acks.extend([2, 3, 4]);
    let z = e.propose(1)[0];
    e.settle();
    assert!(e.leader.proposals.acked_by(z, 1) && e.held.len() == 3, "held {:?}", e.held);
    let li = LearnerInfo { server_id: 1, protocol_version: LEARNER_PROTOCOL_VERSION, config_version: 0 };
    let info = QuorumPacket::new(packet::FOLLOWERINFO, 1 << 32, Some(crate::proto::jute::to_bytes(&li).freeze()));
    e.leader.packet(1, info, &Empty);
    assert!(!e.leader.proposals.acked_by(z, 1), "the earlier ACK is forgotten on registering again");
    // 2's ACK makes 5 and 2: no quorum of five.
    let i = e.held.iter().position(|(from, _)| *from == 2).unwrap();
    let (from, ack) = e.held.remove(i);
    let out = e.leader.packet(from, ack, &Empty);
    assert!(!out.iter().any(|a| matches!(a, LeaderAction::Commit(..))), "committed on 5 and 2 of five: {out:?}");
    // And a learner whose connection closed loses its ACK too.
    let i = e.held.iter().position(|(from, _)| *from == 3).unwrap();
    let (from, ack) = e.held.remove(i);
    e.leader.learner_gone(2);
    let out = e.leader.packet(from, ack, &Empty);
    assert!(!out.iter().any(|a| matches!(a, LeaderAction::Commit(..))), "committed on 5 and 3 of five: {out:?}");
    assert!(e.leader.last_committed() < z);
    // 4's ACK makes 5, 3 and 4: a quorum, with every one of them holding z.
    let (from, ack) = e.held.remove(0);
    assert_eq!(from, 4);
    let out = e.leader.packet(from, ack, &Empty);
    assert!(out.iter().any(|a| matches!(a, LeaderAction::Commit(c, _) if *c == z)), "{out:?}");
}

#[test]
fn a_learner_synced_during_broadcast_gets_outstanding_proposals_without_commits() {
    // Found by the ensemble simulation: the sync stream once ran to the last *proposed* zxid,
    // so a rejoining learner got a COMMIT for a proposal no quorum had acknowledged.
    let mut e = Ensemble::new(&[1, 2, 3], &[]);
    e.settle();
    let z = e.propose(1)[0];
    for q in e.to_learner.values_mut() {
        q.clear();
    }
    // Learner 1 reconnects while z is outstanding.
    e.leader.learner_gone(1);
    let li = LearnerInfo { server_id: 1, protocol_version: LEARNER_PROTOCOL_VERSION, config_version: 0 };
    let info = QuorumPacket::new(packet::FOLLOWERINFO, 1 << 32, Some(crate::proto::jute::to_bytes(&li).freeze()));
    e.leader.packet(1, info, &Empty);
    let ack = QuorumPacket::new(packet::ACKEPOCH, 1 << 32, Some(Bytes::copy_from_slice(&(-1i32).to_be_bytes())));
    let out = e.leader.packet(1, ack, &Empty);
    let upto = out.iter().find_map(|a| if let LeaderAction::Sync(1, _, upto) = a { Some(*upto) } else { None });
    // Nothing of this epoch is committed yet: the stream stops at the history the leader
    // brought in (empty here), not at the epoch's start, which is no txn.
    assert_eq!(upto, Some(0), "the stream stops at the last committed zxid: {out:?}");
    assert!(
        out.iter().any(|a| matches!(a, LeaderAction::Send(1, p) if p.type_ == packet::PROPOSAL && p.zxid == z)),
        "the outstanding proposal follows as a PROPOSAL: {out:?}"
    );
    assert!(!out.iter().any(|a| matches!(a, LeaderAction::Send(_, p) if p.type_ == packet::COMMIT)), "{out:?}");
}

/// syncLimit in half ticks (zoo.cfg's usual 5 ticks, the leader's default).
const SYNC_HALF_TICKS: usize = 10;

#[test]
fn a_follower_that_answers_pings_but_never_acks_is_dropped_for_a_transaction_timeout() {
    assert_eq!(SYNC_HALF_TICKS, 2 * Limits::default().sync_ticks as usize);
    // ZooKeeper's LearnerHandler SyncLimitCheck: a follower whose disk hangs still answers
    // PINGs, so it is never silent; its oldest unACKed proposal ages past syncLimit instead.
    let mut e = Ensemble::new(&[1, 2, 3], &[]);
    e.settle();
    e.learners.get_mut(&1).unwrap().skip_acks = true;
    let z = e.propose(1)[0];
    e.settle();
    assert_eq!(e.applied_by(0), vec![z], "the leader and follower 2 commit it");
    for _ in 0..SYNC_HALF_TICKS {
        e.tick();
    }
    assert!(e.dropped.is_empty(), "exactly syncLimit old is not older than syncLimit: {:?}", e.dropped);
    e.tick();
    assert_eq!(e.dropped.len(), 1, "{:?}", e.dropped);
    let (sid, why) = &e.dropped[0];
    assert_eq!(*sid, 1);
    assert!(why.starts_with("transaction timeout") && why.contains(&format!("0x{z:x}")), "{why}");
    assert!(e.failed.is_none(), "the leader and follower 2 are a quorum of 3");
    assert_eq!(e.leader.active_learners(), vec![(2, true)]);
    // Without it the quorum is the leader and follower 2: writes still commit, on both.
    let more = e.propose(2);
    e.settle();
    assert_eq!(e.applied_by(0), vec![z, more[0], more[1]]);
    assert_eq!(e.applied_by(2), vec![z, more[0], more[1]]);
    for _ in 0..3 * SYNC_HALF_TICKS {
        e.tick();
    }
    assert_eq!(e.dropped.len(), 1, "follower 2 ACKs everything: {:?}", e.dropped);
    assert!(e.failed.is_none());
}

#[test]
fn a_follower_whose_acks_come_late_but_within_sync_limit_is_kept() {
    let mut e = Ensemble::new(&[1, 2, 3], &[]);
    e.settle();
    e.hold_acks.insert(1);
    let first = e.propose(1);
    e.settle();
    for i in 0..SYNC_HALF_TICKS {
        e.tick();
        if i == SYNC_HALF_TICKS / 2 {
            e.propose(1);
            e.settle();
        }
    }
    assert!(e.held.len() == 2 && e.dropped.is_empty(), "held {:?}, dropped {:?}", e.held, e.dropped);
    // The ACKs arrive, the oldest exactly syncLimit after its proposal: in time.
    e.to_leader.append(&mut e.held);
    e.hold_acks.clear();
    e.settle();
    assert!(e.leader.learners[&1].unacked.is_empty(), "both ACKed");
    assert!(e.leader.last_committed() > first[0]);
    for _ in 0..3 * SYNC_HALF_TICKS {
        e.propose(1);
        e.tick();
    }
    assert!(e.dropped.is_empty() && e.failed.is_none(), "{:?} {:?}", e.dropped, e.failed);
    assert_eq!(e.leader.active_learners(), vec![(1, true), (2, true)]);
    assert!(e.leader.learners.values().all(|l| l.unacked.is_empty()), "every proposal ACKed");
}

#[test]
fn an_observer_is_never_dropped_for_a_transaction_timeout() {
    // Observers are sent INFORMs of committed txns and ACK nothing.
    let mut e = Ensemble::new(&[1, 2, 3], &[9]);
    e.settle();
    e.learners.get_mut(&9).unwrap().skip_acks = true;
    let mut zxids = Vec::new();
    for _ in 0..4 * SYNC_HALF_TICKS {
        zxids.extend(e.propose(1));
        e.tick();
    }
    assert!(e.dropped.is_empty() && e.failed.is_none(), "{:?} {:?}", e.dropped, e.failed);
    assert!(e.leader.active_learners().contains(&(9, false)));
    assert!(e.leader.learners[&9].unacked.is_empty(), "nothing awaits an observer's ACK");
    assert_eq!(e.applied_by(9), zxids, "the observer applied every txn");
}

#[test]
fn a_learner_still_syncing_is_left_to_init_limit() {
    // Proposals reach a learner from the moment its sync is queued, but the clock of its
    // ACKs starts only once it ACKed NEWLEADER (as ZooKeeper's SyncLimitCheck starts then).
    let mut e = Ensemble::new(&[1, 2, 3], &[]);
    e.settle();
    e.leader.learner_gone(1);
    e.learners.get_mut(&1).unwrap().skip_acks = true;
    let li = LearnerInfo { server_id: 1, protocol_version: LEARNER_PROTOCOL_VERSION, config_version: 0 };
    let info = QuorumPacket::new(packet::FOLLOWERINFO, 1 << 32, Some(crate::proto::jute::to_bytes(&li).freeze()));
    e.leader.packet(1, info, &Empty);
    let ack = QuorumPacket::new(packet::ACKEPOCH, 1 << 32, Some(Bytes::copy_from_slice(&(-1i32).to_be_bytes())));
    e.leader.packet(1, ack, &Empty);
    // Learner 1 gets nothing more (its sync stalls); the others go on.
    e.stalled.insert(1);
    for _ in 0..3 * SYNC_HALF_TICKS {
        e.propose(1);
        e.tick();
    }
    assert!(e.to_learner[&1].iter().any(|p| p.type_ == packet::PROPOSAL), "proposals were sent to it");
    assert!(e.dropped.is_empty() && e.failed.is_none(), "{:?} {:?}", e.dropped, e.failed);
    assert!(e.leader.learners[&1].unacked.is_empty());
    assert_eq!(e.leader.active_learners(), vec![(2, true)]);
}

#[test]
fn dropped_followers_leave_the_quorum_count() {
    let mut e = Ensemble::new(&[1, 2, 3, 4, 5], &[]);
    e.settle();
    for id in [1, 2] {
        e.learners.get_mut(&id).unwrap().skip_acks = true;
    }
    let z = e.propose(1)[0];
    e.settle();
    for _ in 0..=SYNC_HALF_TICKS {
        e.tick();
    }
    let ids: Vec<i64> = e.dropped.iter().map(|(sid, _)| *sid).collect();
    assert_eq!(ids, vec![1, 2]);
    assert!(e.dropped.iter().all(|(_, why)| why.starts_with("transaction timeout")));
    assert!(e.failed.is_none(), "the leader, 3 and 4 are 3 of 5");
    let more = e.propose(1)[0];
    e.settle();
    assert_eq!(e.applied_by(0), vec![z, more]);
    // One more stops ACKing: the leader and 4 are 2 of 5, so the leader gives up.
    e.learners.get_mut(&3).unwrap().skip_acks = true;
    let last = e.propose(1)[0];
    e.settle();
    assert_eq!(e.applied_by(0), vec![z, more], "2 of 5 ACKs commit nothing");
    for _ in 0..=SYNC_HALF_TICKS {
        e.tick();
    }
    assert_eq!(e.dropped.last().map(|(sid, _)| *sid), Some(3));
    let why = e.failed.clone().expect("no quorum left");
    assert!(why.contains("not sufficient followers synced"), "{why}");
    assert!(!e.leader.is_established());
    assert!(e.leader.propose(|_| Bytes::new()).is_none(), "no proposal after giving up (0x{last:x} never commits)");
}

#[test]
fn the_epoch_ends_before_its_zxid_counter_would_wrap() {
    // The low 32 bits of a zxid count the epoch's proposals. ZooKeeper's leader never issues
    // counter 0xffffffff (the next would carry into the epoch): it ends the epoch and a new
    // election follows. Every leader starts its epoch at counter 1, so the test moves it on.
    let mut e = Ensemble::new(&[1, 2, 3], &[]);
    e.settle();
    let epoch = e.leader.epoch().unwrap();
    e.leader.skip_counter_to(0xffff_fffc);
    let zxids = e.propose(3);
    e.settle();
    let last = (epoch << 32) | 0xffff_fffe;
    assert_eq!(zxids, vec![(epoch << 32) | 0xffff_fffc, (epoch << 32) | 0xffff_fffd, last]);
    for id in [0, 1, 2] {
        assert_eq!(e.applied_by(id), zxids, "member {id}");
    }
    let (z, out) = e.leader.propose(|z| panic!("no txn is made for 0x{z:x}")).expect("an answer");
    assert_eq!(out, vec![LeaderAction::Fail("the zxid counter of this epoch is used up".into())], "zxid {z:x}");
    assert!(!e.leader.is_established());
    assert_eq!(e.leader.last_proposed(), last, "nothing past the counter's last value was proposed");
    assert!(e.leader.tick().is_empty(), "a leader that gave up is done");
}

#[test]
fn a_core_numbered_zxid_at_the_counters_end_is_never_appended() {
    // The core numbers what it prepares (`propose_at`): the txn at counter 0xffffffff and the
    // one after it, whose zxid would read as the next epoch's first, end the epoch unlogged.
    let mut e = Ensemble::new(&[1, 2, 3], &[]);
    e.settle();
    let epoch = e.leader.epoch().unwrap();
    e.leader.skip_counter_to(0xffff_fffe);
    let out = e.leader.propose_at((epoch << 32) | 0xffff_fffe, Bytes::from_static(b"last"));
    assert!(matches!(out[0], LeaderAction::Append(z, _) if z == (epoch << 32) | 0xffff_fffe), "{out:?}");
    e.leader_actions(out);
    e.settle();
    for next in [(epoch << 32) | 0xffff_ffff, (epoch + 1) << 32] {
        let out = e.leader.propose_at(next, Bytes::from_static(b"over"));
        assert!(matches!(&out[..], [LeaderAction::Fail(_)]), "0x{next:x}: {out:?}");
    }
    assert_eq!(e.applied_by(0), vec![(epoch << 32) | 0xffff_fffe]);
}
