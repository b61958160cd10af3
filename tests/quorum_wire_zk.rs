//! Our quorum wire formats against Apache ZooKeeper 3.8 itself: the test plays member 2 of a
//! three-member ensemble whose member 1 is Debian's ZooKeeper. Over the election port it
//! reads ZooKeeper's notification and votes for it; over the quorum port our learner state
//! machine (`zab::learner`) follows it through FOLLOWERINFO / LEADERINFO / ACKEPOCH / DIFF /
//! NEWLEADER / UPTODATE, answers its PINGs, and logs and ACKs the proposals of a client's
//! session and create so that ZooKeeper commits them. Every byte is built and parsed by
//! `zabkeeper::zab::wire` and `zabkeeper::txn`.

mod zk_support;

use bytes::{Buf, Bytes, BytesMut};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};
use zabkeeper::txn::{Txn, TxnBody};
use zabkeeper::zab::learner::{Learner, LearnerAction};
use zabkeeper::zab::wire::*;

const DEADLINE: Duration = Duration::from_secs(60);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Connects, retrying until the port listens or the deadline passes.
fn connect(addr: SocketAddr, what: &str, zk: &zk_support::ZkMember) -> TcpStream {
    let until = Instant::now() + DEADLINE;
    loop {
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            s.set_read_timeout(Some(DEADLINE)).unwrap();
            s.set_nodelay(true).unwrap();
            return s;
        }
        assert!(Instant::now() < until, "ZooKeeper's {what} at {addr} never listened; its log:\n{}", zk.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Reads one length-prefixed election message.
fn read_election_message(s: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).expect("election message length");
    let n = i32::from_be_bytes(len);
    assert!(n > 0 && (n as usize) <= MAX_ELECTION_MESSAGE, "election message length {n}");
    let mut body = vec![0u8; n as usize];
    s.read_exact(&mut body).unwrap();
    body
}

/// The quorum port's packet stream, driven by our learner state machine.
struct Quorum {
    s: TcpStream,
    buf: BytesMut,
    learner: Option<Learner>,
    persisted: Vec<(&'static str, i64)>,
    commits: Vec<(i64, Bytes)>,
}

impl Quorum {
    fn send(&mut self, p: QuorumPacket) {
        let mut b = BytesMut::new();
        p.write(&mut b);
        self.s.write_all(&b).unwrap();
    }

    /// Carries out the learner's actions; the "log" here is durable at once.
    fn carry_out(&mut self, actions: Vec<LearnerAction>, zk: &zk_support::ZkMember) {
        for a in actions {
            match a {
                LearnerAction::Send(p) => self.send(p),
                LearnerAction::PersistAcceptedEpoch(e) => self.persisted.push(("accepted", e)),
                LearnerAction::PersistCurrentEpoch(e) => self.persisted.push(("current", e)),
                LearnerAction::Truncate(z) => panic!("unexpected TRUNC to 0x{z:x}"),
                LearnerAction::LoadSnapshot(z) => panic!("unexpected SNAP at 0x{z:x}"),
                LearnerAction::Append(entries) => {
                    let last = entries.last().expect("entries").0;
                    let more = self.learner.as_mut().unwrap().logged(last);
                    self.carry_out(more, zk);
                }
                LearnerAction::Commit(z, data) => self.commits.push((z, data)),
                LearnerAction::SyncDone => panic!("no sync was forwarded"),
                LearnerAction::Revalidated { .. } => panic!("no session was revalidated"),
                LearnerAction::PingReply(z) => self.send(QuorumPacket::new(packet::PING, z, Some(Bytes::new()))),
                LearnerAction::Serving => {}
                LearnerAction::Fail(why) => {
                    panic!("our learner left the leader: {why}; ZooKeeper's log:\n{}", zk.log_text())
                }
            }
        }
    }

    /// Reads the next packet from the leader and hands it to the learner.
    fn step(&mut self, zk: &zk_support::ZkMember) {
        loop {
            if let Some((p, used)) = QuorumPacket::decode(&self.buf, 4 << 20).expect("a well-formed packet") {
                self.buf.advance(used);
                let out = self.learner.as_mut().unwrap().packet(p);
                self.carry_out(out, zk);
                return;
            }
            let mut chunk = [0u8; 64 << 10];
            let n = self.s.read(&mut chunk).unwrap_or(0);
            assert!(n > 0, "ZooKeeper closed the quorum connection; its log:\n{}", zk.log_text());
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn client_frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

/// A new session's ConnectRequest frame (30 s timeout).
fn client_hello() -> Vec<u8> {
    let mut hello = Vec::new();
    hello.extend_from_slice(&0i32.to_be_bytes());
    hello.extend_from_slice(&0i64.to_be_bytes());
    hello.extend_from_slice(&30000i32.to_be_bytes());
    hello.extend_from_slice(&0i64.to_be_bytes());
    hello.extend_from_slice(&16i32.to_be_bytes());
    hello.extend_from_slice(&[0u8; 16]);
    hello.push(0);
    client_frame(&hello)
}

/// Apache ZooKeeper as member 1 of a three-member ensemble on loopback.
struct Member1 {
    zk: zk_support::ZkMember,
    client: u16,
    election: u16,
    /// (quorum, election) ports of members 1, 2, 3.
    ports: [(u16, u16); 3],
    _dir: tempfile::TempDir,
}

/// Starts ZooKeeper as member 1; `quorum3` is member 3's quorum port when the test listens
/// on it itself.
fn zookeeper_member_1(quorum3: Option<u16>) -> Member1 {
    let dir = tempfile::tempdir().unwrap();
    let client = free_port();
    let ports =
        [(free_port(), free_port()), (free_port(), free_port()), (quorum3.unwrap_or_else(free_port), free_port())];
    let mut cfg =
        format!("tickTime=1000\ninitLimit=20\nsyncLimit=10\nclientPort={client}\nclientPortAddress=127.0.0.1\n");
    for (i, (q, e)) in ports.iter().enumerate() {
        cfg.push_str(&format!("server.{}=127.0.0.1:{q}:{e}\n", i + 1));
    }
    let zk = zk_support::ZkMember::start(dir.path(), 1, &cfg);
    Member1 { zk, client, election: ports[0].1, ports, _dir: dir }
}

/// Connects to member 1's election port as `sid` (larger than 1, so ZooKeeper keeps the
/// connection) and returns the socket and ZooKeeper's first notification.
fn election_with(m: &Member1, sid: i64) -> (TcpStream, Notification) {
    let mut el = connect(SocketAddr::from(([127, 0, 0, 1], m.election)), "election port", &m.zk);
    let mine = m.ports[sid as usize - 1].1;
    el.write_all(&InitialMessage::encode(sid, &format!("127.0.0.1:{mine}"))).unwrap();
    loop {
        if let Some(n) = Notification::decode(&read_election_message(&mut el)).unwrap() {
            return (el, n);
        }
    }
}

/// Sends one notification on an election connection.
fn send_notification(el: &mut TcpStream, n: &Notification) {
    let body = n.encode();
    let mut msg = (body.len() as i32).to_be_bytes().to_vec();
    msg.extend_from_slice(&body);
    el.write_all(&msg).unwrap();
}

#[test]
fn we_follow_a_zookeeper_leader_and_ack_its_proposals() {
    let m = zookeeper_member_1(None);
    let zk = &m.zk;
    let [(q1, e1), (q2, e2), (q3, e3)] = m.ports;
    let c1 = m.client;

    // Election port: we are sid 2.
    let (mut el, theirs) = election_with(&m, 2);
    assert_eq!((theirs.state, theirs.leader, theirs.version), (PeerState::Looking, 1, NOTIFICATION_VERSION));
    assert_eq!(theirs.peer_epoch, 0);
    let config = String::from_utf8(theirs.config.clone().expect("a config").to_vec()).unwrap();
    let servers: Vec<_> = [(1, q1, e1), (2, q2, e2), (3, q3, e3)]
        .iter()
        .map(|(id, q, e)| zabkeeper::config::ServerSpec::parse(&id.to_string(), &format!("127.0.0.1:{q}:{e}")).unwrap())
        .collect();
    assert_eq!(config, membership_text(&servers, 0), "our membership text must equal ZooKeeper's");

    // Vote for ZooKeeper: with its own vote that is a quorum, and it leads.
    send_notification(
        &mut el,
        &Notification { state: PeerState::Looking, config: Some(config.clone().into()), ..theirs.clone() },
    );

    // Quorum port: our learner state machine registers, synchronises and starts serving.
    let s = connect(SocketAddr::from(([127, 0, 0, 1], q1)), "quorum port (it leads)", zk);
    let mut q = Quorum { s, buf: BytesMut::new(), learner: None, persisted: Vec::new(), commits: Vec::new() };
    let (learner, first) = Learner::start(2, false, 0, 0, 0);
    q.learner = Some(learner);
    q.carry_out(first, zk);
    let until = Instant::now() + DEADLINE;
    while !q.learner.as_ref().unwrap().is_serving() {
        assert!(Instant::now() < until, "not synchronised; ZooKeeper's log:\n{}", zk.log_text());
        q.step(zk);
    }
    let new_epoch = q.learner.as_ref().unwrap().new_epoch();
    assert_eq!(new_epoch, 1, "epoch 1 proposed");
    // Both epochs were made durable, the accepted one first.
    assert_eq!(q.persisted, vec![("accepted", 1), ("current", 1)]);

    // A client creates a znode on ZooKeeper: its proposal comes to us; our ACK makes the quorum.
    let mut client = connect(SocketAddr::from(([127, 0, 0, 1], c1)), "client port", zk);
    client.write_all(&client_hello()).unwrap();
    // The session itself is a txn: createSession, proposed and committed through us.
    let read_reply = |client: &mut TcpStream| {
        let mut len = [0u8; 4];
        client.read_exact(&mut len).unwrap();
        let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
        client.read_exact(&mut body).unwrap();
        body
    };
    // Each client request becomes a txn ZooKeeper proposes; our learner logs and ACKs it,
    // ZooKeeper commits it (our ACK makes its quorum) and our learner applies it.
    let expect_round = |q: &mut Quorum, want_type: i32| -> Txn {
        let before = q.commits.len();
        let until = Instant::now() + DEADLINE;
        while q.commits.len() == before {
            assert!(Instant::now() < until, "no commit; ZooKeeper's log:\n{}", zk.log_text());
            q.step(zk);
        }
        let (zxid, data) = q.commits[before].clone();
        let txn = Txn::decode(&data).expect("ZooKeeper's txn decodes with ours");
        assert_eq!((txn.zxid(), txn.header.type_), (zxid, want_type));
        assert_eq!(txn.zxid() >> 32, new_epoch);
        // What follows the record is ZooKeeper's TxnDigest{int version, long digest}.
        assert_eq!(data.len() - txn.encode().len(), 12, "digest after the txn record");
        txn
    };
    let session_txn = expect_round(&mut q, zabkeeper::proto::codes::op::CREATE_SESSION);
    let connect_resp = read_reply(&mut client);
    assert_eq!(&connect_resp[8..16], &session_txn.header.client_id.to_be_bytes(), "the session the txn created");
    // ZooKeeper's password for it is the one we derive: a session moves between kinds.
    assert_eq!(&connect_resp[16..20], &16i32.to_be_bytes());
    assert_eq!(&connect_resp[20..36], &zabkeeper::session::session_password(session_txn.header.client_id));

    let mut req = Vec::new();
    req.extend_from_slice(&1i32.to_be_bytes()); // xid
    req.extend_from_slice(&1i32.to_be_bytes()); // create
    for part in [&b"/probe"[..], b"hi"] {
        req.extend_from_slice(&(part.len() as i32).to_be_bytes());
        req.extend_from_slice(part);
    }
    req.extend_from_slice(&1i32.to_be_bytes());
    req.extend_from_slice(&31i32.to_be_bytes());
    for part in ["world", "anyone"] {
        req.extend_from_slice(&(part.len() as i32).to_be_bytes());
        req.extend_from_slice(part.as_bytes());
    }
    req.extend_from_slice(&0i32.to_be_bytes());
    client.write_all(&client_frame(&req)).unwrap();
    let create = expect_round(&mut q, zabkeeper::proto::codes::op::CREATE);
    match &create.body {
        TxnBody::Create(c) => assert_eq!((c.path.as_str(), c.data.as_deref()), ("/probe", Some(&b"hi"[..]))),
        b => panic!("expected a create txn, got {b:?}"),
    }
    let reply = read_reply(&mut client);
    let (xid, zxid, err) = (
        i32::from_be_bytes(reply[0..4].try_into().unwrap()),
        i64::from_be_bytes(reply[4..12].try_into().unwrap()),
        i32::from_be_bytes(reply[12..16].try_into().unwrap()),
    );
    assert_eq!((xid, zxid, err), (1, create.zxid(), 0), "the client's create succeeded at the zxid we acked");
    assert_eq!(q.commits.len(), 2);
}

/// The other direction: Apache ZooKeeper 3.8 follows our leader state machine (`zab::leader`)
/// through the handshake and DIFF sync, logs and ACKs our proposals, applies our commits, and
/// serves what we committed to its own client; that client's session is a createSession
/// ZooKeeper forwards to us as a REQUEST.
#[test]
fn zookeeper_follows_our_leader_and_serves_what_we_commit() {
    use zabkeeper::prep::Prep;
    use zabkeeper::proto::records::{Acl, CreateTxn};
    use zabkeeper::txn::TxnBody;
    use zabkeeper::zab::leader::{Leader, LeaderAction};
    use zabkeeper::zab::sync::{EmptyLog as Empty, SyncPlan};

    let quorum3 = TcpListener::bind("127.0.0.1:0").unwrap();
    let m = zookeeper_member_1(Some(quorum3.local_addr().unwrap().port()));
    let zk = &m.zk;

    // Election: we are sid 3 and vote for ourselves; ZooKeeper adopts the better vote, and
    // its vote and ours are a quorum for 3.
    let (mut el, theirs) = election_with(&m, 3);
    send_notification(&mut el, &Notification { leader: 3, zxid: 0, peer_epoch: 0, ..theirs.clone() });

    // ZooKeeper, following, connects to our quorum port.
    quorum3.set_nonblocking(false).unwrap();
    let (s, _) = quorum3.accept().expect("ZooKeeper connects to its leader");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.set_nodelay(true).unwrap();
    let mut q = Quorum { s, buf: BytesMut::new(), learner: None, persisted: Vec::new(), commits: Vec::new() };
    let config = theirs.config.clone().expect("config");
    let mut leader = Leader::start(3, [1, 2, 3].into_iter().collect(), config, 0, 0, 0);
    let mut established = false;
    let mut committed: Vec<i64> = Vec::new();
    let mut forwarded: Vec<QuorumPacket> = Vec::new();

    // Carries out the leader's actions on the one learner connection.
    fn run(
        q: &mut Quorum,
        leader: &mut Leader,
        actions: Vec<LeaderAction>,
        established: &mut bool,
        committed: &mut Vec<i64>,
        forwarded: &mut Vec<QuorumPacket>,
    ) {
        for a in actions {
            match a {
                LeaderAction::Send(1, p) => q.send(p),
                LeaderAction::Send(to, p) => panic!("a packet for absent member {to}: {p:?}"),
                LeaderAction::Sync(1, plan, _) => {
                    assert_eq!(plan, SyncPlan::Diff { zxid: 0, after: 0 }, "an empty DIFF: both at zxid 0");
                    q.send(QuorumPacket::new(packet::DIFF, 0, None));
                }
                LeaderAction::PersistAcceptedEpoch(e) => q.persisted.push(("accepted", e)),
                LeaderAction::PersistCurrentEpoch(e) => q.persisted.push(("current", e)),
                LeaderAction::Append(z, _) => {
                    let more = leader.logged(z);
                    run(q, leader, more, established, committed, forwarded);
                }
                LeaderAction::Commit(z, _) => committed.push(z),
                LeaderAction::Established => *established = true,
                LeaderAction::Forwarded(_, p) => forwarded.push(p),
                LeaderAction::SessionTouches(..) => {}
                other => panic!("unexpected leader action {other:?}"),
            }
        }
    }

    let next_packet = |q: &mut Quorum| -> QuorumPacket {
        loop {
            if let Some((p, used)) = QuorumPacket::decode(&q.buf, 4 << 20).expect("well-formed") {
                q.buf.advance(used);
                return p;
            }
            let mut chunk = [0u8; 64 << 10];
            let n = q.s.read(&mut chunk).unwrap_or(0);
            assert!(n > 0, "ZooKeeper closed the quorum connection; its log:\n{}", zk.log_text());
            q.buf.extend_from_slice(&chunk[..n]);
        }
    };
    let until = Instant::now() + DEADLINE;
    while !established {
        assert!(Instant::now() < until, "not established; ZooKeeper's log:\n{}", zk.log_text());
        let p = next_packet(&mut q);
        let out = leader.packet(1, p, &Empty);
        run(&mut q, &mut leader, out, &mut established, &mut committed, &mut forwarded);
    }
    assert_eq!(q.persisted, vec![("accepted", 1), ("current", 1)]);
    assert_eq!(leader.epoch(), Some(1));

    // Our leader proposes a create; ZooKeeper logs it, ACKs, and we commit.
    let (zxid, out) = leader
        .propose(|zxid| {
            Txn {
                header: zabkeeper::proto::records::TxnHeader { client_id: 0, cxid: 0, zxid, time: 1, type_: 1 },
                body: TxnBody::Create(CreateTxn {
                    path: "/from-our-leader".into(),
                    data: Some(Bytes::from_static(b"zab")),
                    acl: vec![Acl::new(31, "world", "anyone")],
                    ephemeral: false,
                    parent_cversion: 1,
                }),
            }
            .encode()
        })
        .expect("established");
    run(&mut q, &mut leader, out, &mut established, &mut committed, &mut forwarded);
    while !committed.contains(&zxid) {
        assert!(Instant::now() < until, "not committed; ZooKeeper's log:\n{}", zk.log_text());
        let p = next_packet(&mut q);
        let out = leader.packet(1, p, &Empty);
        run(&mut q, &mut leader, out, &mut established, &mut committed, &mut forwarded);
    }

    // A client of ZooKeeper: its createSession comes to us as a REQUEST, which we commit.
    let mut client = connect(SocketAddr::from(([127, 0, 0, 1], m.client)), "client port", zk);
    client.write_all(&client_hello()).unwrap();
    while forwarded.is_empty() {
        assert!(Instant::now() < until, "no forwarded createSession; ZooKeeper's log:\n{}", zk.log_text());
        let p = next_packet(&mut q);
        let out = leader.packet(1, p, &Empty);
        run(&mut q, &mut leader, out, &mut established, &mut committed, &mut forwarded);
    }
    let req = forwarded.remove(0);
    assert_eq!((req.type_, req.zxid), (packet::REQUEST, -1));
    let fwd = ForwardedRequest::decode(req.data.as_deref().unwrap()).unwrap();
    assert_eq!(fwd.op, zabkeeper::proto::codes::op::CREATE_SESSION);
    let timeout = i32::from_be_bytes(fwd.body[..4].try_into().unwrap());
    let (session_zxid, out) = leader
        .propose(|zxid| {
            let mut t = Prep::prepare_create_session(fwd.session_id, timeout, zxid, 2);
            t.header.cxid = fwd.cxid;
            t.encode()
        })
        .expect("established");
    run(&mut q, &mut leader, out, &mut established, &mut committed, &mut forwarded);
    while !committed.contains(&session_zxid) {
        assert!(Instant::now() < until, "session not committed; ZooKeeper's log:\n{}", zk.log_text());
        let p = next_packet(&mut q);
        let out = leader.packet(1, p, &Empty);
        run(&mut q, &mut leader, out, &mut established, &mut committed, &mut forwarded);
    }
    let read_frame = |client: &mut TcpStream| {
        let mut len = [0u8; 4];
        client.read_exact(&mut len).unwrap();
        let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
        client.read_exact(&mut body).unwrap();
        body
    };
    let resp = read_frame(&mut client);
    assert_eq!(&resp[8..16], &fwd.session_id.to_be_bytes(), "ZooKeeper answered with the session we committed");

    // The client reads our znode from ZooKeeper.
    let mut get = Vec::new();
    get.extend_from_slice(&1i32.to_be_bytes());
    get.extend_from_slice(&4i32.to_be_bytes()); // getData
    get.extend_from_slice(&16i32.to_be_bytes());
    get.extend_from_slice(b"/from-our-leader");
    get.push(0);
    client.write_all(&client_frame(&get)).unwrap();
    let reply = read_frame(&mut client);
    let (xid, zxid_seen, err) = (
        i32::from_be_bytes(reply[0..4].try_into().unwrap()),
        i64::from_be_bytes(reply[4..12].try_into().unwrap()),
        i32::from_be_bytes(reply[12..16].try_into().unwrap()),
    );
    assert_eq!((xid, err), (1, 0), "ZooKeeper serves the znode our leader committed");
    assert_eq!(zxid_seen, session_zxid);
    assert_eq!(&reply[16..20], &3i32.to_be_bytes());
    assert_eq!(&reply[20..23], b"zab");
    let stat_czxid = i64::from_be_bytes(reply[23..31].try_into().unwrap());
    assert_eq!(stat_czxid, zxid, "created at the zxid our leader gave it");
}
