//! The learner's side step by step (the whole exchange is also run against a real ZooKeeper
//! leader in tests/quorum_wire_zk.rs).

use super::*;

const E: i64 = 3;

fn pkt(ty: i32, zxid: i64) -> QuorumPacket {
    QuorumPacket::new(ty, zxid, None)
}

fn prop(zxid: i64) -> QuorumPacket {
    QuorumPacket::new(packet::PROPOSAL, zxid, Some(Bytes::from(format!("txn {zxid:x}"))))
}

fn sent(actions: &[LearnerAction]) -> Vec<(i32, i64)> {
    actions
        .iter()
        .filter_map(|a| match a {
            LearnerAction::Send(p) => Some((p.type_, p.zxid)),
            _ => None,
        })
        .collect()
}

/// A follower at (accepted 2, current 2, last 2:5) joined to a leader of epoch 3.
fn registered() -> Learner {
    let (mut l, out) = Learner::start(2, false, 2, 2, (2 << 32) | 5);
    assert_eq!(sent(&out), vec![(packet::FOLLOWERINFO, 2 << 32)]);
    let out = l.packet(pkt(packet::LEADERINFO, E << 32));
    assert_eq!(out[0], LearnerAction::PersistAcceptedEpoch(E), "the epoch is durable before it is acked");
    let LearnerAction::Send(ack) = &out[1] else { panic!("{out:?}") };
    assert_eq!((ack.type_, ack.zxid), (packet::ACKEPOCH, (2 << 32) | 5));
    assert_eq!(ack.data.as_deref(), Some(&2i32.to_be_bytes()[..]), "the old currentEpoch");
    l
}

#[test]
fn diff_sync_logs_before_acking_newleader_and_commits_after_uptodate() {
    let mut l = registered();
    assert!(l.packet(pkt(packet::DIFF, (2 << 32) | 7)).is_empty());
    let (z6, z7) = ((2 << 32) | 6, (2 << 32) | 7);
    for (p, c) in [(z6, z6), (z7, z7)] {
        assert!(l.packet(prop(p)).is_empty());
        assert!(l.packet(pkt(packet::COMMIT, c)).is_empty());
    }
    assert!(l.packet(pkt(packet::PING, 0)).is_empty(), "no PING answered during sync");
    let out = l.packet(pkt(packet::NEWLEADER, E << 32));
    assert!(matches!(&out[..], [LearnerAction::Append(v)] if v.len() == 2), "{out:?}");
    assert!(l.logged(z6).is_empty(), "not all of them durable yet");
    let out = l.logged(z7);
    assert_eq!(out[0], LearnerAction::PersistCurrentEpoch(E));
    assert_eq!(sent(&out), vec![(packet::ACK, E << 32)]);
    let out = l.packet(pkt(packet::UPTODATE, -1));
    assert_eq!(sent(&out), vec![(packet::ACK, E << 32), (packet::ACK, z6), (packet::ACK, z7)]);
    assert!(out.contains(&LearnerAction::Serving));
    let commits: Vec<i64> =
        out.iter().filter_map(|a| if let LearnerAction::Commit(z, _) = a { Some(*z) } else { None }).collect();
    assert_eq!(commits, vec![z6, z7]);
    assert!(l.is_serving());
}

#[test]
fn broadcast_acks_only_what_is_durable_and_commits_in_order() {
    let mut l = registered();
    l.packet(pkt(packet::DIFF, (2 << 32) | 5));
    l.packet(pkt(packet::NEWLEADER, E << 32));
    l.packet(pkt(packet::UPTODATE, -1));
    let (a, b) = ((E << 32) | 1, (E << 32) | 2);
    assert!(matches!(&l.packet(prop(a))[..], [LearnerAction::Append(_)]));
    assert!(matches!(&l.packet(prop(b))[..], [LearnerAction::Append(_)]));
    assert_eq!(sent(&l.logged(a)), vec![(packet::ACK, a)]);
    assert_eq!(sent(&l.logged(b)), vec![(packet::ACK, b)]);
    assert!(sent(&l.logged(b)).is_empty(), "acked once");
    assert!(matches!(&l.packet(pkt(packet::COMMIT, a))[..], [LearnerAction::Commit(z, _)] if *z == a));
    assert_eq!(l.packet(pkt(packet::PING, 42)), vec![LearnerAction::PingReply(42)]);
    // A COMMIT that skips the next pending proposal breaks the order: leave the leader.
    let out = l.packet(pkt(packet::COMMIT, (E << 32) | 9));
    assert!(matches!(&out[..], [LearnerAction::Fail(_)]), "{out:?}");
    assert!(l.packet(prop((E << 32) | 10)).is_empty(), "nothing after a failure");
}

#[test]
fn a_commit_that_overtakes_the_fsync_still_gets_its_ack() {
    // The leader and another follower made the quorum before this follower's fsync: the
    // COMMIT arrives first, and the ACK must still follow once the txn is durable (found
    // against ZooKeeper's leader, which drops a learner that leaves a proposal unacked).
    let mut l = registered();
    l.packet(pkt(packet::DIFF, (2 << 32) | 5));
    l.packet(pkt(packet::NEWLEADER, E << 32));
    let z1 = (E << 32) | 1;
    assert!(matches!(&l.packet(prop(z1))[..], [LearnerAction::Append(_)]), "a proposal before UPTODATE");
    let out = l.packet(pkt(packet::UPTODATE, -1));
    assert_eq!(sent(&out), vec![(packet::ACK, E << 32)], "not durable yet: no ACK");
    let (a, b) = ((E << 32) | 2, (E << 32) | 3);
    l.packet(prop(a));
    l.packet(prop(b));
    assert!(matches!(&l.packet(pkt(packet::COMMIT, z1))[..], [LearnerAction::Commit(z, _)] if *z == z1));
    assert!(matches!(&l.packet(pkt(packet::COMMIT, a))[..], [LearnerAction::Commit(z, _)] if *z == a));
    assert_eq!(sent(&l.logged(a)), vec![(packet::ACK, z1), (packet::ACK, a)]);
    assert_eq!(sent(&l.logged(b)), vec![(packet::ACK, b)]);
    assert!(sent(&l.logged(b)).is_empty(), "acked once");
}

#[test]
fn trunc_drops_what_no_quorum_committed() {
    let mut l = registered();
    let out = l.packet(pkt(packet::TRUNC, (2 << 32) | 3));
    assert_eq!(out, vec![LearnerAction::Truncate((2 << 32) | 3)]);
    l.packet(prop((2 << 32) | 4));
    let out = l.packet(pkt(packet::NEWLEADER, E << 32));
    assert!(matches!(&out[..], [LearnerAction::Append(v)] if v[0].0 == (2 << 32) | 4));
}

#[test]
fn a_trunc_followed_by_newleader_alone_is_acked_at_once() {
    // ZooKeeper's leader, after TRUNC to its last committed zxid, sends NEWLEADER with no
    // proposals: the ACK must not wait for the truncated txn (2:5) to be durable.
    let mut l = registered();
    assert_eq!(l.packet(pkt(packet::TRUNC, (2 << 32) | 4)), vec![LearnerAction::Truncate((2 << 32) | 4)]);
    let out = l.packet(pkt(packet::NEWLEADER, E << 32));
    assert_eq!(out[0], LearnerAction::PersistCurrentEpoch(E), "{out:?}");
    assert_eq!(sent(&out), vec![(packet::ACK, E << 32)]);
    let out = l.packet(pkt(packet::UPTODATE, -1));
    assert!(out.contains(&LearnerAction::Serving));
}

#[test]
fn an_older_or_equal_epoch_is_handled_as_zookeeper_does() {
    let (mut l, _) = Learner::start(2, false, 5, 5, 5 << 32);
    let out = l.packet(pkt(packet::LEADERINFO, 5 << 32));
    let LearnerAction::Send(ack) = &out[0] else { panic!("{out:?}") };
    assert_eq!(ack.data.as_deref(), Some(&(-1i32).to_be_bytes()[..]), "equal epoch: -1, nothing persisted");
    let (mut l, _) = Learner::start(2, false, 5, 5, 5 << 32);
    assert!(matches!(&l.packet(pkt(packet::LEADERINFO, 4 << 32))[..], [LearnerAction::Fail(_)]));
}

#[test]
fn an_observer_registers_as_one_and_applies_informs() {
    let (mut l, out) = Learner::start(9, true, 2, 2, 2 << 32);
    assert_eq!(sent(&out), vec![(packet::OBSERVERINFO, 2 << 32)]);
    l.packet(pkt(packet::LEADERINFO, E << 32));
    l.packet(pkt(packet::DIFF, 2 << 32));
    l.packet(pkt(packet::NEWLEADER, E << 32));
    l.packet(pkt(packet::UPTODATE, -1));
    let z = (E << 32) | 1;
    let out = l.packet(QuorumPacket::new(packet::INFORM, z, Some(Bytes::from_static(b"t"))));
    assert!(matches!(&out[..], [LearnerAction::Append(_), LearnerAction::Commit(c, _)] if *c == z));
    assert!(sent(&l.logged(z)).is_empty(), "observers never ACK");
}

#[test]
fn snap_loads_the_leaders_snapshot_then_syncs_from_it() {
    let mut l = registered();
    let at = (2 << 32) | 9;
    assert_eq!(l.packet(pkt(packet::SNAP, at)), vec![LearnerAction::LoadSnapshot(at)]);
    // Proposals after the snapshot's zxid follow, then NEWLEADER.
    assert!(l.packet(prop(at + 1)).is_empty());
    let out = l.packet(pkt(packet::NEWLEADER, E << 32));
    assert!(matches!(&out[..], [LearnerAction::Append(v)] if v[0].0 == at + 1), "{out:?}");
    assert_eq!(sent(&l.logged(at + 1)), vec![(packet::ACK, E << 32)]);
}
