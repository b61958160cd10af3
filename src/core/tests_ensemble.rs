//! The core in an ensemble, driven by hand: a leader core and a learner core wired together
//! (the learner's forwards prepared by the leader, the leader's txns committed on both). A
//! learner answers its client's write only when the leader's commit arrives; a linearizable
//! read and a leader's sync wait for their confirmation; stepping down answers nobody.

use super::*;

const EPOCH: i64 = 1;

/// A leader core and a learner core, both past their sync.
fn pair() -> (H, H) {
    let mut leader = H::new(CoreConfig { server_id: 1, ..CoreConfig::default() });
    leader.core.step_down(0, Vec::new());
    leader.core.become_leader(EPOCH);
    let mut learner = H::new(CoreConfig { server_id: 2, ..CoreConfig::default() });
    learner.core.step_down(0, Vec::new());
    learner.core.become_learner();
    (leader, learner)
}

/// Carries the learner's forwards to the leader (syncs are left for the test to confirm)
/// and commits every txn the leader logged on both; returns the learner's new frames.
fn relay(leader: &mut H, learner: &mut H) -> Vec<(ConnId, Frame)> {
    let mut out = learner.pump();
    let mut committed = leader.durable_to;
    loop {
        let forwards = std::mem::take(&mut learner.forwards);
        for (f, auth) in forwards {
            if f.op != opc::SYNC {
                leader.core.forwarded(f, &auth);
            }
        }
        leader.pump();
        let fresh: Vec<(i64, Bytes)> = leader.logs.iter().filter(|(z, _)| *z > committed).cloned().collect();
        if fresh.is_empty() {
            return out;
        }
        for (z, payload) in fresh {
            leader.durable(z);
            learner.core.commit_remote(Txn::decode(&payload).expect("txn"));
            committed = z;
        }
        out.extend(learner.pump());
    }
}

/// A session on the learner (its createSession goes through the leader).
fn open_on_learner(leader: &mut H, learner: &mut H, conn: ConnId) -> i64 {
    learner.core.connection_opened(conn, Some(IP));
    learner.handshake(conn, 0, Bytes::from_static(&[0; 16]), 10_000, 0);
    assert!(learner.pump().is_empty(), "no ConnectResponse before the leader commits the session");
    let out = relay(leader, learner);
    match out.as_slice() {
        [(c, Frame::Connect(r))] if *c == conn => r.session_id,
        o => panic!("expected the ConnectResponse, got {o:?}"),
    }
}

fn create(path: &str) -> Request {
    super::create(path, 0)
}

/// A create as a learner receives it: decoded, and its body as the client sent it.
fn send_create(learner: &mut H, conn: ConnId, xid: i32, path: &str) -> Vec<(ConnId, Frame)> {
    let mut body = BytesMut::new();
    CreateRequest { path: path.into(), data: Some(Bytes::from_static(b"d")), acl: open_acl(), flags: 0 }
        .write(&mut body);
    learner.core.request_with_body(conn, xid, create(path), body.freeze(), 0);
    learner.pump()
}

#[test]
fn a_learner_answers_a_forwarded_write_when_the_leaders_commit_arrives() {
    let (mut leader, mut learner) = pair();
    let session = open_on_learner(&mut leader, &mut learner, 7);
    assert!(session >> 56 == 2, "the learner numbers its sessions with its own id: 0x{session:x}");
    assert!(send_create(&mut learner, 7, 1, "/a").is_empty(), "nothing is answered before the commit");
    let (f, auth) = learner.forwards.last().expect("forwarded").clone();
    assert_eq!((f.session_id, f.cxid, f.op), (session, 1, opc::CREATE));
    assert!(auth.iter().any(|id| id.scheme == "ip"), "the connection's auth ids travel with it");
    let out = relay(&mut leader, &mut learner);
    let (xid, zxid, err) = out.iter().find(|(c, _)| *c == 7).expect("reply").1.reply();
    assert_eq!((xid, err), (1, 0));
    assert_eq!(zxid, (EPOCH << 32) | 2, "the leader's zxid: createSession was 1");
    assert!(learner.core.tree().get("/a").is_some() && leader.core.tree().get("/a").is_some());
    assert!(learner.core.tree().last_zxid() == leader.core.tree().last_zxid());
}

#[test]
fn a_linearizable_read_waits_for_its_read_index_round() {
    let (mut leader, mut learner) = pair();
    open_on_learner(&mut leader, &mut learner, 7);
    send_create(&mut learner, 7, 1, "/a");
    relay(&mut leader, &mut learner);
    let auth =
        Request::Auth(AuthPacket { type_: 0, scheme: "linearizable".into(), auth: Some(Bytes::from_static(b"on")) });
    assert_eq!(learner.req(7, 2, auth)[0].1.reply(), (2, 0, 0));
    let read = Request::GetData(PathWatchRequest { path: "/a".into(), watch: false });
    assert!(learner.req(7, 3, read).is_empty(), "the read waits for the leader's answer to its sync");
    let (f, _) = learner.forwards.last().expect("a sync went to the leader").clone();
    assert_eq!((f.op, f.cxid), (opc::SYNC, 3));
    learner.core.sync_confirmed();
    let out = learner.pump();
    assert_eq!(out.len(), 1, "only the read is answered, not the barrier: {out:?}");
    assert_eq!(out[0].1.reply().0, 3);
    // Off again: reads are answered at once.
    let off =
        Request::Auth(AuthPacket { type_: 0, scheme: "linearizable".into(), auth: Some(Bytes::from_static(b"off")) });
    learner.req(7, 4, off);
    let read = Request::GetData(PathWatchRequest { path: "/a".into(), watch: false });
    assert_eq!(learner.req(7, 5, read)[0].1.reply().0, 5);
}

#[test]
fn a_sync_on_the_leader_waits_for_confirmation() {
    let (mut leader, _) = pair();
    leader.core.connection_opened(9, Some(IP));
    leader.handshake(9, 0, Bytes::from_static(&[0; 16]), 10_000, 0);
    leader.pump();
    leader.durable_all();
    let sync = Request::Sync(PathRequest { path: "/".into() });
    assert!(leader.req(9, 1, sync).is_empty());
    assert_eq!(leader.confirm_syncs, 1);
    leader.core.sync_confirmed();
    assert_eq!(leader.pump()[0].1.reply().0, 1);
}

#[test]
fn stepping_down_answers_no_forwarded_write_and_closes_clients() {
    let (mut leader, mut learner) = pair();
    open_on_learner(&mut leader, &mut learner, 7);
    learner.req(7, 1, create("/a"));
    learner.core.step_down(0, Vec::new());
    let out = learner.pump();
    assert!(out.is_empty(), "{out:?}");
    assert!(learner.closed.contains(&7));
    assert_eq!(learner.core.role(), Role::Down);
    // A learner's logged but uncommitted txn is applied on the way down (fast-forward), as
    // ZooKeeper does; the next leader keeps it or truncates it away.
    let txn = Txn::decode(&leader.logs[0].1).expect("txn");
    let mut other = H::new(CoreConfig::default());
    other.core.step_down(0, vec![txn]);
    assert_eq!(other.core.tree().last_zxid(), (EPOCH << 32) | 1);
    other.core.connection_opened(1, Some(IP));
    other.handshake(1, 0, Bytes::from_static(&[0; 16]), 10_000, 0);
    assert!(other.closed.is_empty() && other.pump().is_empty() && other.closed.contains(&1), "no quorum, no client");
}

#[test]
fn a_session_reconnecting_to_a_learner_is_revalidated_with_the_leader() {
    // The session is created on the leader; the learner has not applied it yet (its commit
    // is still on the way), as when a client moves at once to a member that lags.
    let (mut leader, mut learner) = pair();
    let (id, password) = leader.open(1, 10_000);
    learner.core.connection_opened(5, Some(IP));
    learner.handshake(5, id, password.clone(), 10_000, 0);
    assert!(learner.pump().is_empty(), "no answer before the leader's");
    assert_eq!(learner.revalidations, vec![(id, 10_000)]);
    // A request that arrives meanwhile waits for the handshake.
    learner.core.request(5, 1, super::exists("/", false), 0);
    assert!(learner.pump().is_empty());
    learner.core.revalidated(id, true);
    let out = learner.pump();
    match out.as_slice() {
        [(5, Frame::Connect(r)), (5, Frame::Reply { xid: 1, err: 0, .. })] => {
            assert_eq!((r.session_id, r.time_out), (id, 10_000));
        }
        o => panic!("expected the ConnectResponse then the reply, got {o:?}"),
    }
    // The leader says a session is gone: the client is told it expired.
    learner.core.connection_opened(6, Some(IP));
    let gone = id + 1;
    learner.handshake(6, gone, Bytes::copy_from_slice(&crate::session::session_password(gone)), 10_000, 0);
    learner.pump();
    learner.core.revalidated(gone, false);
    match learner.pump().as_slice() {
        [(6, Frame::Connect(r))] => assert_eq!((r.session_id, r.time_out), (0, 0)),
        o => panic!("expected an expired-session answer, got {o:?}"),
    }
    assert!(learner.closed.contains(&6));
    // A wrong password is refused at once, without asking.
    learner.core.connection_opened(7, Some(IP));
    learner.handshake(7, id, Bytes::from_static(&[9; 16]), 10_000, 0);
    match learner.pump().as_slice() {
        [(7, Frame::Connect(r))] => assert_eq!(r.time_out, 0),
        o => panic!("expected a refusal, got {o:?}"),
    }
    assert_eq!(learner.revalidations.len(), 2);
}
