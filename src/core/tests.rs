//! Core tests: the pipeline driven input by input, its output decoded frame by frame.
//! Durability before replies, per-connection order, notifications before replies, handshakes
//! and reconnects, expiry, closeSession, auth, sync, snapshots, containers and TTLs,
//! setWatches, refusals, multi failures. The seeded random interleavings live in
//! `tests_random.rs`.

use super::*;
use crate::proto::codes::{event, op as opc, xid as xids, CONTAINER_EPHEMERAL_OWNER};
use crate::proto::jute::{Jute, Reader};
use crate::proto::records::*;
use crate::proto::request::MultiOp;
use bytes::Bytes;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

#[path = "tests_random.rs"]
mod random;

#[path = "tests_client_port.rs"]
mod client_port;

#[path = "tests_ensemble.rs"]
mod ensemble;

/// One decoded frame sent to a connection.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Frame {
    Connect(ConnectResponse),
    Reply { xid: i32, zxid: i64, err: i32, body: Bytes },
    Notify { zxid: i64, ev: WatcherEvent },
}

impl Frame {
    fn reply(&self) -> (i32, i64, i32) {
        match self {
            Frame::Reply { xid, zxid, err, .. } => (*xid, *zxid, *err),
            f => panic!("not a reply: {f:?}"),
        }
    }
}

/// Drives a `Core` and keeps what it did, decoded.
pub(super) struct H {
    pub core: Core,
    pub wall: i64,
    pub mono: i64,
    /// Frames per connection, in the order they were sent.
    pub frames: HashMap<ConnId, Vec<Frame>>,
    pub closed: Vec<ConnId>,
    /// Every Log action, in order.
    pub logs: Vec<(i64, Bytes)>,
    pub snapshots: Vec<(i64, Box<crate::tree::TreeImage>)>,
    connected: HashSet<ConnId>,
    /// Highest zxid passed to `durable`.
    pub durable_to: i64,
    /// Requests a learner core handed to the leader.
    pub forwards: Vec<(crate::zab::wire::ForwardedRequest, Vec<Id>)>,
    /// REVALIDATE questions a learner core asked (session, timeout).
    pub revalidations: Vec<(i64, i32)>,
    /// Syncs a leader core asked to have confirmed.
    pub confirm_syncs: usize,
}

pub(super) const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7));

impl H {
    pub fn new(cfg: CoreConfig) -> H {
        H {
            core: Core::new(cfg, DataTree::new(), 0, 1_000_000, 0),
            wall: 1_000_000,
            mono: 0,
            frames: HashMap::new(),
            closed: Vec::new(),
            logs: Vec::new(),
            snapshots: Vec::new(),
            connected: HashSet::new(),
            durable_to: 0,
            forwards: Vec::new(),
            revalidations: Vec::new(),
            confirm_syncs: 0,
        }
    }

    /// Collects and decodes everything the core asked for; returns the frames sent now.
    pub fn pump(&mut self) -> Vec<(ConnId, Frame)> {
        let mut new = Vec::new();
        let mut closed_now = Vec::new();
        for a in self.core.take_actions() {
            match a {
                Action::Send { conn, bytes, replies } => {
                    assert!(!self.closed.contains(&conn), "send to closed conn {conn}");
                    let mut r = Reader::new(&bytes);
                    let mut answers = 0;
                    while r.remaining() > 0 {
                        let len = i32::read(&mut r).unwrap() as usize;
                        let f = r.take(len).unwrap();
                        let frame = self.decode(conn, f);
                        answers += u32::from(matches!(frame, Frame::Reply { .. }));
                        self.frames.entry(conn).or_default().push(frame.clone());
                        new.push((conn, frame));
                    }
                    // The shell counts outstanding requests down by this.
                    assert_eq!(replies, answers, "a send's reply count must match the replies in it");
                }
                Action::Close { conn } => closed_now.push(conn),
                Action::Log { zxid, payload } => {
                    if let Some((last, _)) = self.logs.last() {
                        assert!(zxid > *last, "log zxids must increase: {last} then {zxid}");
                    }
                    assert_eq!(Txn::decode(&payload).unwrap().zxid(), zxid);
                    self.logs.push((zxid, payload));
                }
                Action::Snapshot { zxid, image } => self.snapshots.push((zxid, image)),
                Action::Forward { req, auth } => self.forwards.push((req, auth)),
                Action::ConfirmSync => self.confirm_syncs += 1,
                Action::Revalidate { session_id, timeout } => self.revalidations.push((session_id, timeout)),
            }
        }
        self.closed.extend(closed_now);
        new
    }

    fn decode(&mut self, conn: ConnId, f: &[u8]) -> Frame {
        let mut r = Reader::new(f);
        if self.connected.insert(conn) {
            let c = ConnectResponse::read(&mut r).unwrap();
            assert_eq!(r.remaining(), 0);
            return Frame::Connect(c);
        }
        let h = ReplyHeader::read(&mut r).unwrap();
        if h.xid == xids::NOTIFICATION {
            let ev = WatcherEvent::read(&mut r).unwrap();
            assert_eq!(r.remaining(), 0);
            return Frame::Notify { zxid: h.zxid, ev };
        }
        Frame::Reply { xid: h.xid, zxid: h.zxid, err: h.err, body: Bytes::copy_from_slice(r.rest()) }
    }

    pub fn last_logged(&self) -> i64 {
        self.logs.last().map_or(0, |l| l.0)
    }

    pub fn durable(&mut self, zxid: i64) -> Vec<(ConnId, Frame)> {
        self.durable_to = self.durable_to.max(zxid);
        self.core.durable(zxid);
        self.pump()
    }

    pub fn durable_all(&mut self) -> Vec<(ConnId, Frame)> {
        let z = self.last_logged();
        self.durable(z)
    }

    pub fn set_mono(&mut self, mono: i64) {
        self.mono = mono;
        self.core.set_time(self.wall, self.mono, 0);
    }

    pub fn set_wall(&mut self, wall: i64) {
        self.wall = wall;
        self.core.set_time(self.wall, self.mono, 0);
    }

    pub fn handshake(&mut self, conn: ConnId, session_id: i64, passwd: Bytes, timeout: i32, last_zxid: i64) {
        self.core.connect(
            conn,
            ConnectRequest { last_zxid_seen: last_zxid, session_id, passwd, ..ConnectRequest::new_session(timeout) },
        );
    }

    /// Opens a connection with a new session and makes it durable; returns (id, password).
    pub fn open(&mut self, conn: ConnId, timeout: i32) -> (i64, Bytes) {
        self.core.connection_opened(conn, Some(IP));
        self.handshake(conn, 0, Bytes::from_static(&[0; 16]), timeout, 0);
        self.pump();
        let out = self.durable_all();
        match out.as_slice() {
            [(c, Frame::Connect(r))] if *c == conn => (r.session_id, r.passwd.clone()),
            o => panic!("expected a ConnectResponse, got {o:?}"),
        }
    }

    pub fn req(&mut self, conn: ConnId, xid: i32, r: Request) -> Vec<(ConnId, Frame)> {
        self.core.request(conn, xid, r, 0);
        self.pump()
    }

    /// Sends a write and makes everything durable; returns the write's reply.
    pub fn write(&mut self, conn: ConnId, xid: i32, r: Request) -> Frame {
        self.req(conn, xid, r);
        let out = self.durable_all();
        out.into_iter()
            .find(|(c, f)| *c == conn && matches!(f, Frame::Reply { xid: x, .. } if *x == xid))
            .expect("reply")
            .1
    }

    pub fn frames_of(&self, conn: ConnId) -> &[Frame] {
        self.frames.get(&conn).map_or(&[], |v| v.as_slice())
    }
}

pub(super) fn open_acl() -> Vec<Acl> {
    vec![Acl::new(31, "world", "anyone")]
}

pub(super) fn create_with(o: i32, p: &str, data: &[u8], flags: i32, ttl: i64) -> Request {
    Request::Create {
        op: o,
        req: CreateTtlRequest { path: p.into(), data: Some(Bytes::copy_from_slice(data)), acl: open_acl(), flags, ttl },
    }
}

pub(super) fn create(p: &str, flags: i32) -> Request {
    create_with(opc::CREATE, p, b"d", flags, 0)
}

pub(super) fn set_data(p: &str, data: &[u8], version: i32) -> Request {
    Request::SetData(SetDataRequest { path: p.into(), data: Some(Bytes::copy_from_slice(data)), version })
}

pub(super) fn delete(p: &str, version: i32) -> Request {
    Request::Delete(PathVersionRequest { path: p.into(), version })
}

pub(super) fn get_data(p: &str, watch: bool) -> Request {
    Request::GetData(PathWatchRequest { path: p.into(), watch })
}

pub(super) fn exists(p: &str, watch: bool) -> Request {
    Request::Exists(PathWatchRequest { path: p.into(), watch })
}

pub(super) fn get_children(p: &str, watch: bool) -> Request {
    Request::GetChildren(PathWatchRequest { path: p.into(), watch })
}

fn notify(ty: i32, p: &str) -> WatcherEvent {
    WatcherEvent { type_: ty, state: crate::proto::codes::state::SYNC_CONNECTED, path: p.into() }
}

fn body<T: Jute>(f: &Frame) -> T {
    match f {
        Frame::Reply { body, err: 0, .. } => crate::proto::jute::from_bytes(body).unwrap(),
        f => panic!("no body: {f:?}"),
    }
}

fn replies(out: &[(ConnId, Frame)], conn: ConnId) -> Vec<(i32, i64, i32)> {
    out.iter().filter(|(c, f)| *c == conn && matches!(f, Frame::Reply { .. })).map(|(_, f)| f.reply()).collect()
}

fn h() -> H {
    H::new(CoreConfig::default())
}

#[test]
fn session_exists_only_after_its_create_session_is_durable() {
    let mut h = h();
    h.core.connection_opened(1, Some(IP));
    h.handshake(1, 0, Bytes::new(), 30000, 0);
    assert!(h.pump().is_empty(), "no ConnectResponse before durable");
    assert_eq!(h.logs.len(), 1);
    let t = Txn::decode(&h.logs[0].1).unwrap();
    assert_eq!(t.header.type_, opc::CREATE_SESSION);
    assert_eq!(t.body, TxnBody::CreateSession(CreateSessionTxn { time_out: 30000 }));
    assert!(h.core.tree().sessions().is_empty());
    h.durable(t.zxid() - 1);
    assert!(h.frames_of(1).is_empty());
    let out = h.durable(t.zxid());
    let [(1, Frame::Connect(c))] = out.as_slice() else { panic!("{out:?}") };
    assert_eq!(c.session_id, t.header.client_id);
    assert_eq!(c.time_out, 30000);
    assert_eq!(c.passwd.len(), 16);
    assert_eq!(h.core.tree().sessions().get(&c.session_id), Some(&30000));
    // The timeout is clamped to [min, max].
    h.core.connection_opened(2, None);
    h.handshake(2, 0, Bytes::new(), 1, 0);
    h.pump();
    let out = h.durable_all();
    assert!(matches!(&out[0].1, Frame::Connect(c) if c.time_out == 4000));
}

#[test]
fn write_reply_waits_for_durable_covering_its_zxid() {
    let mut h = h();
    h.open(1, 30000);
    assert!(h.req(1, 1, create("/a", 0)).is_empty());
    assert!(h.req(1, 2, create("/b", 0)).is_empty());
    let (za, zb) = (h.logs[1].0, h.logs[2].0);
    assert_eq!(zb, za + 1);
    assert!(h.durable(za - 1).is_empty());
    assert!(h.core.tree().get("/a").is_none());
    let out = h.durable(za);
    assert_eq!(replies(&out, 1), vec![(1, za, 0)]);
    assert_eq!(body::<String>(&out[0].1), "/a");
    let out = h.durable(zb);
    assert_eq!(replies(&out, 1), vec![(2, zb, 0)]);
}

#[test]
fn replies_keep_request_order_behind_a_pending_write() {
    let mut h = h();
    h.open(1, 30000);
    h.open(2, 30000);
    h.req(1, 1, create("/a", 0));
    // A read behind the pending write waits, and must see the write.
    assert!(h.req(1, 2, exists("/a", false)).is_empty());
    assert!(h.req(1, 3, Request::Ping).is_empty());
    // Another connection with nothing pending is answered at once, from the applied tree.
    let out = h.req(2, 7, exists("/a", false));
    assert_eq!(replies(&out, 2), vec![(7, h.core.last_applied_zxid(), ErrorCode::NoNode.code())]);
    let z = h.last_logged();
    let out = h.durable_all();
    assert_eq!(replies(&out, 1), vec![(1, z, 0), (2, z, 0), (xids::PING, z, 0)]);
    assert_eq!(body::<Stat>(&out[1].1).czxid, z);
}

#[test]
fn notifications_precede_the_write_reply_and_later_replies() {
    let mut h = h();
    h.open(1, 30000);
    h.open(2, 30000);
    h.write(1, 1, create("/a", 0));
    // conn 1 watches /b for creation, conn 2 watches /a's data.
    h.req(1, 2, exists("/b", true));
    h.req(2, 1, get_data("/a", true));
    // conn 1 creates /b and changes /a; conn 2 queues a write and a read meanwhile.
    h.req(1, 3, create("/b", 0));
    h.req(1, 4, set_data("/a", b"x", -1));
    h.req(2, 2, create("/c", 0));
    h.req(2, 3, get_data("/a", false));
    let zb = h.logs[h.logs.len() - 3].0;
    let za = zb + 1;
    let out = h.durable_all();
    let c1: Vec<&Frame> = out.iter().filter(|(c, _)| *c == 1).map(|(_, f)| f).collect();
    assert_eq!(c1[0], &Frame::Notify { zxid: zb, ev: notify(event::NODE_CREATED, "/b") });
    assert_eq!(c1[1].reply(), (3, zb, 0));
    assert_eq!(c1[2].reply(), (4, za, 0));
    assert_eq!(c1.len(), 3);
    let c2: Vec<&Frame> = out.iter().filter(|(c, _)| *c == 2).map(|(_, f)| f).collect();
    assert_eq!(c2[0], &Frame::Notify { zxid: za, ev: notify(event::NODE_DATA_CHANGED, "/a") });
    assert_eq!(c2[1].reply(), (2, za + 1, 0));
    assert_eq!(c2[2].reply().0, 3);
    assert_eq!(body::<GetDataResponse>(c2[2]).data.as_deref(), Some(&b"x"[..]));
    // One-shot: a second change fires nothing.
    h.req(1, 5, set_data("/a", b"y", -1));
    let out = h.durable_all();
    assert!(out.iter().all(|(_, f)| !matches!(f, Frame::Notify { .. })));
}

#[test]
fn reconnect_with_right_password_answers_at_once() {
    let mut h = h();
    let (sid, pw) = h.open(1, 30000);
    h.core.connection_opened(2, Some(IP));
    h.handshake(2, sid, pw.clone(), 10000, h.core.last_applied_zxid());
    let out = h.pump();
    assert_eq!(h.logs.len(), 1, "a reconnect logs nothing");
    let Some((2, Frame::Connect(c))) = out.iter().find(|(c, _)| *c == 2) else { panic!("{out:?}") };
    assert_eq!((c.session_id, c.time_out, &c.passwd), (sid, 10000, &pw));
    assert_eq!(h.closed, vec![1], "the old connection is closed");
    // The session works on the new connection.
    assert_eq!(h.write(2, 1, create("/a", 1)).reply().2, 0);
    assert_eq!(h.core.tree().get("/a").unwrap().ephemeral_owner, sid);
}

#[test]
fn reconnect_with_wrong_password_or_unknown_session_is_refused() {
    let mut h = h();
    let (sid, pw) = h.open(1, 30000);
    let mut bad = pw.to_vec();
    bad[0] ^= 1;
    for (conn, id, p) in [(2, sid, Bytes::from(bad)), (3, sid + 1000, pw.clone())] {
        h.core.connection_opened(conn, Some(IP));
        h.handshake(conn, id, p, 30000, 0);
        let out = h.pump();
        let [(c, Frame::Connect(r))] = out.as_slice() else { panic!("{out:?}") };
        assert_eq!((*c, r.time_out, r.session_id), (conn, 0, 0));
        assert!(h.closed.contains(&conn));
    }
    assert!(!h.closed.contains(&1));
}

#[test]
fn client_ahead_of_us_is_closed_without_a_response() {
    let mut h = h();
    let (sid, pw) = h.open(1, 30000);
    h.core.connection_opened(2, Some(IP));
    h.handshake(2, sid, pw, 30000, h.core.last_applied_zxid() + 1);
    assert!(h.pump().is_empty());
    assert_eq!(h.closed, vec![2]);
    h.core.connection_opened(3, Some(IP));
    h.handshake(3, 0, Bytes::new(), 30000, 99);
    assert!(h.pump().is_empty());
    assert_eq!(h.closed, vec![2, 3]);
    assert_eq!(h.logs.len(), 1);
}

#[test]
fn expiry_closes_the_session_through_the_log() {
    let mut h = h();
    let (sid, _) = h.open(1, 4000);
    let (sid2, _) = h.open(2, 40000);
    h.write(1, 1, create("/e", 1));
    h.write(1, 2, create("/p", 0));
    h.write(1, 3, create("/p/e", 1));
    h.req(2, 1, exists("/e", true));
    h.req(2, 2, get_children("/p", true));
    let logged = h.logs.len();
    h.set_mono(3000);
    h.core.tick();
    assert!(h.pump().is_empty(), "not expired yet");
    h.set_mono(10_000);
    h.core.tick();
    h.pump();
    assert_eq!(h.logs.len(), logged + 1);
    let t = Txn::decode(&h.logs[logged].1).unwrap();
    assert_eq!((t.header.type_, t.header.client_id), (opc::CLOSE_SESSION, sid));
    assert_eq!(t.body, TxnBody::CloseSession(CloseSessionTxn { paths2_delete: vec!["/e".into(), "/p/e".into()] }));
    // Until it is durable, nothing changed, and the expired session's requests get SESSIONEXPIRED.
    assert!(h.core.tree().get("/e").is_some());
    let out = h.req(1, 4, exists("/", false));
    assert_eq!(replies(&out, 1)[0].2, ErrorCode::SessionExpired.code());
    let out = h.durable_all();
    assert!(h.core.tree().get("/e").is_none() && h.core.tree().get("/p/e").is_none());
    assert!(!h.core.tree().sessions().contains_key(&sid));
    assert!(h.core.tree().sessions().contains_key(&sid2));
    let notes: Vec<&WatcherEvent> = out
        .iter()
        .filter_map(|(c, f)| match f {
            Frame::Notify { ev, zxid } if *c == 2 && *zxid == t.zxid() => Some(ev),
            _ => None,
        })
        .collect();
    assert_eq!(notes, vec![&notify(event::NODE_CHILDREN_CHANGED, "/p"), &notify(event::NODE_DELETED, "/e")]);
    assert!(h.closed.contains(&1));
    // Expired once only.
    h.set_mono(20_000);
    h.core.tick();
    h.pump();
    assert_eq!(h.logs.len(), logged + 1);
}

#[test]
fn close_session_replies_then_closes_and_ignores_later_requests() {
    let mut h = h();
    let (sid, _) = h.open(1, 30000);
    h.write(1, 1, create("/e", 1));
    assert!(h.req(1, 2, Request::CloseSession).is_empty());
    let z = h.last_logged();
    assert!(h.req(1, 3, exists("/", false)).is_empty());
    assert!(h.req(1, 4, create("/x", 0)).is_empty());
    assert_eq!(h.last_logged(), z, "requests after closeSession are not logged");
    let out = h.durable_all();
    assert_eq!(out, vec![(1, Frame::Reply { xid: 2, zxid: z, err: 0, body: Bytes::new() })]);
    assert_eq!(h.closed, vec![1]);
    assert!(h.core.tree().get("/e").is_none());
    assert!(h.core.sessions().get(sid).is_none());
    // A reconnect to the closed session is refused.
    h.core.connection_opened(2, None);
    h.handshake(2, sid, crate::session::session_password(sid).to_vec().into(), 30000, 0);
    let out = h.pump();
    assert!(matches!(&out[0].1, Frame::Connect(c) if c.time_out == 0));
}

#[test]
fn auth_digest_adds_ids_and_unknown_scheme_fails() {
    let mut h = h();
    h.open(1, 30000);
    let auth = |scheme: &str, a: &[u8]| {
        Request::Auth(AuthPacket { type_: 0, scheme: scheme.into(), auth: Some(Bytes::copy_from_slice(a)) })
    };
    let out = h.req(1, xids::AUTH, auth("digest", b"bob:secret"));
    assert_eq!(replies(&out, 1), vec![(xids::AUTH, 0, 0)]);
    let out = h.req(1, 9, Request::WhoAmI);
    let who: Vec<ClientInfo> = body(&out[0].1);
    assert_eq!(
        who,
        // ZooKeeper 3.8 answers user names, authenticated ids before the ip id.
        vec![
            ClientInfo { auth_scheme: "digest".into(), user: "bob".into() },
            ClientInfo { auth_scheme: "ip".into(), user: IP.to_string() },
        ]
    );
    // The digest id now passes a digest ACL.
    let acl = vec![Acl::new(31, "digest", &crate::acl::generate_digest("bob:secret"))];
    let req = Request::Create {
        op: opc::CREATE,
        req: CreateTtlRequest { path: "/d".into(), data: None, acl, flags: 0, ttl: 0 },
    };
    assert_eq!(h.write(1, 10, req).reply().2, 0);
    assert_eq!(h.req(1, 11, get_data("/d", false))[0].1.reply().2, 0);
    h.open(2, 30000);
    assert_eq!(h.req(2, 1, get_data("/d", false))[0].1.reply().2, ErrorCode::NoAuth.code());
    let out = h.req(2, xids::AUTH, auth("kerberos", b"x"));
    assert_eq!(replies(&out, 2), vec![(xids::AUTH, 0, ErrorCode::AuthFailed.code())]);
    assert_eq!(h.closed, vec![2]);
    assert_eq!(h.core.stats().auth_failed, 1);
}

#[test]
fn sync_waits_for_earlier_writes_of_other_connections() {
    let mut h = h();
    h.open(1, 30000);
    h.open(2, 30000);
    h.req(1, 1, create("/a", 0));
    h.req(1, 2, create("/b", 0));
    let za = h.last_logged() - 1;
    assert!(h.req(2, 1, Request::Sync(PathRequest { path: "/a".into() })).is_empty());
    // Reads behind the sync wait too.
    assert!(h.req(2, 2, exists("/b", false)).is_empty());
    let out = h.durable(za);
    assert!(replies(&out, 2).is_empty());
    let out = h.durable_all();
    let r2 = replies(&out, 2);
    assert_eq!(r2, vec![(1, za + 1, 0), (2, za + 1, 0)]);
    let path: String = body(out.iter().find(|(c, _)| *c == 2).map(|(_, f)| f).unwrap());
    assert_eq!(path, "/a");
    // With nothing outstanding a sync answers at once.
    let out = h.req(2, 3, Request::Sync(PathRequest { path: "/".into() }));
    assert_eq!(replies(&out, 2), vec![(3, za + 1, 0)]);
}

#[test]
fn snapshot_after_snap_count_applied_txns_decodes_to_the_tree() {
    let mut h = H::new(CoreConfig { snap_count: 5, ..CoreConfig::default() });
    h.open(1, 30000);
    for i in 0..3 {
        h.req(1, i, create(&format!("/n{i}"), 0));
    }
    h.durable_all();
    assert!(h.snapshots.is_empty(), "4 applied txns so far");
    h.req(1, 3, create("/e", 1));
    h.req(1, 4, set_data("/n0", b"new", 0));
    h.durable_all();
    assert_eq!(h.snapshots.len(), 1);
    let (zxid, image) = h.snapshots[0].clone();
    assert_eq!(zxid, h.core.last_applied_zxid());
    let (at_snapshot, sessions) = (h.core.tree().fingerprint(), h.core.tree().sessions().clone());
    // The image is encoded later, on another thread: changes after it must not show in it.
    h.req(1, 5, set_data("/n1", b"later", 0));
    h.req(1, 6, create("/later", 0));
    h.durable_all();
    let mut data = Vec::new();
    crate::tree::snapshot::encode_image(&image, |b| {
        data.extend_from_slice(&b);
        Ok::<(), ()>(())
    })
    .unwrap();
    let t = crate::tree::snapshot::decode(&data).unwrap();
    assert_eq!(t.fingerprint(), at_snapshot);
    assert_ne!(t.fingerprint(), h.core.tree().fingerprint());
    assert_eq!(t.last_zxid(), zxid);
    assert_eq!(t.sessions(), &sessions);
    assert_eq!(t.ephemeral_count(), 1);
}

#[test]
fn empty_container_is_deleted_by_tick() {
    let mut h = h();
    h.open(1, 40000);
    h.write(1, 1, create_with(opc::CREATE_CONTAINER, "/c", b"", 4, 0));
    h.write(1, 2, create_with(opc::CREATE_CONTAINER, "/never", b"", 4, 0));
    assert_eq!(h.core.tree().get("/c").unwrap().ephemeral_owner, CONTAINER_EPHEMERAL_OWNER);
    h.write(1, 3, create("/c/x", 0));
    h.write(1, 4, delete("/c/x", -1));
    h.req(1, 5, exists("/c", true));
    let logged = h.logs.len();
    let interval = CoreConfig::default().container_check_interval_ms;
    h.set_mono(interval - 1);
    h.req(1, 6, Request::Ping);
    h.core.tick();
    h.pump();
    assert_eq!(h.logs.len(), logged, "not yet time to check");
    h.set_mono(interval);
    h.req(1, 7, Request::Ping);
    h.core.tick();
    h.pump();
    assert_eq!(h.logs.len(), logged + 1, "only /c: /never never had a child");
    let t = Txn::decode(&h.logs[logged].1).unwrap();
    assert_eq!(t.header.type_, opc::DELETE_CONTAINER);
    assert_eq!(t.body, TxnBody::Delete(DeleteTxn { path: "/c".into() }));
    let out = h.durable_all();
    assert!(h.core.tree().get("/c").is_none());
    assert!(h.core.tree().get("/never").is_some());
    assert!(out.contains(&(1, Frame::Notify { zxid: t.zxid(), ev: notify(event::NODE_DELETED, "/c") })));
}

#[test]
fn ttl_node_expires_by_tick_once_unmodified_for_its_ttl() {
    let mut h = H::new(CoreConfig { ttl_enabled: true, ..CoreConfig::default() });
    h.open(1, 40000);
    assert_eq!(h.write(1, 1, create_with(opc::CREATE_TTL, "/t", b"", 5, 5000)).reply().2, 0);
    assert_eq!(h.write(1, 2, create_with(opc::CREATE_TTL, "/long", b"", 5, 500_000)).reply().2, 0);
    let interval = CoreConfig::default().container_check_interval_ms;
    let logged = h.logs.len();
    h.set_wall(h.wall + 5000); // now - mtime == ttl: not yet
    h.set_mono(interval);
    h.req(1, 3, Request::Ping);
    h.core.tick();
    h.pump();
    assert_eq!(h.logs.len(), logged);
    h.set_wall(h.wall + 1);
    h.set_mono(2 * interval);
    h.req(1, 4, Request::Ping);
    h.core.tick();
    h.pump();
    assert_eq!(h.logs.len(), logged + 1);
    let t = Txn::decode(&h.logs[logged].1).unwrap();
    assert_eq!((t.header.type_, t.body.clone()), (opc::DELETE, TxnBody::Delete(DeleteTxn { path: "/t".into() })));
    h.durable_all();
    assert!(h.core.tree().get("/t").is_none());
    assert!(h.core.tree().get("/long").is_some());
}

#[test]
fn set_watches_is_answered_with_the_request_xid() {
    // The Java client writes its setWatches with an ordinary xid and drops the connection
    // ("Xid out of order") on a reply with any other; kazoo sends -8.
    let mut h = h();
    h.open(1, 30000);
    let z = h.core.last_applied_zxid();
    for xid in [181, xids::SET_WATCHES] {
        let out = h.req(1, xid, Request::SetWatches(SetWatches2::default()));
        assert_eq!(replies(&out, 1), vec![(xid, z, 0)]);
    }
}

#[test]
fn set_watches_fires_missed_changes_and_registers_the_rest() {
    let mut h = h();
    h.open(1, 30000);
    for (i, p) in ["/d", "/p", "/old", "/u"].iter().enumerate() {
        h.write(1, i as i32, create(p, 0));
    }
    let rel = h.core.last_applied_zxid();
    h.write(1, 10, set_data("/d", b"x", -1));
    h.write(1, 11, create("/p/k", 0));
    h.write(1, 12, create("/new", 0));
    h.write(1, 13, delete("/old", -1));
    // A reconnecting client on connection 2 re-sets its watches.
    h.open(2, 30000);
    let sw = SetWatches2 {
        relative_zxid: rel,
        data_watches: vec!["/d".into(), "/old".into(), "/u".into()],
        exist_watches: vec!["/new".into(), "/missing".into()],
        child_watches: vec!["/p".into(), "/u".into(), "/gone".into()],
        persistent_watches: vec![],
        persistent_recursive_watches: vec!["/r".into()],
    };
    let out = h.req(2, xids::SET_WATCHES, Request::SetWatches(sw));
    let frames: Vec<Frame> = out.into_iter().map(|(_, f)| f).collect();
    assert_eq!(
        frames[..5],
        [
            Frame::Notify { zxid: -1, ev: notify(event::NODE_DATA_CHANGED, "/d") },
            Frame::Notify { zxid: -1, ev: notify(event::NODE_DELETED, "/old") },
            Frame::Notify { zxid: -1, ev: notify(event::NODE_CREATED, "/new") },
            Frame::Notify { zxid: -1, ev: notify(event::NODE_CHILDREN_CHANGED, "/p") },
            Frame::Notify { zxid: -1, ev: notify(event::NODE_DELETED, "/gone") },
        ]
    );
    assert_eq!(frames[5].reply(), (xids::SET_WATCHES, h.core.last_applied_zxid(), 0));
    assert_eq!(frames.len(), 6);
    // The others are registered: they fire on the next change.
    h.req(1, 20, set_data("/u", b"1", -1));
    h.req(1, 21, create("/missing", 0));
    h.req(1, 22, create("/u/c", 0));
    h.req(1, 23, create("/r", 0));
    h.req(1, 24, set_data("/d", b"2", -1)); // fired already: not registered again
    let out = h.durable_all();
    let evs: Vec<WatcherEvent> = out
        .into_iter()
        .filter_map(|(c, f)| match f {
            Frame::Notify { ev, .. } if c == 2 => Some(ev),
            _ => None,
        })
        .collect();
    assert_eq!(
        evs,
        vec![
            notify(event::NODE_DATA_CHANGED, "/u"),
            notify(event::NODE_CREATED, "/missing"),
            notify(event::NODE_CHILDREN_CHANGED, "/u"),
            notify(event::NODE_CREATED, "/r"),
        ]
    );
}

#[test]
fn unknown_op_reconfig_and_sasl_are_refused() {
    let mut h = h();
    h.open(1, 30000);
    let z = h.core.last_applied_zxid();
    let rc = ReconfigRequest {
        joining_servers: None,
        leaving_servers: Some("".into()),
        new_members: None,
        cur_config_id: -1,
    };
    assert_eq!(h.req(1, 2, Request::Reconfig(rc))[0].1.reply(), (2, z, ErrorCode::ReconfigDisabled.code()));
    assert!(h.closed.is_empty());
}

#[test]
fn failed_multi_reports_per_op_errors_with_header_ok() {
    let mut h = h();
    h.open(1, 30000);
    h.write(1, 1, create("/x", 0));
    let multi = Request::Multi(vec![
        MultiOp::Create {
            op: opc::CREATE,
            req: CreateTtlRequest { path: "/m".into(), data: None, acl: open_acl(), flags: 0, ttl: 0 },
        },
        MultiOp::Delete(PathVersionRequest { path: "/nope".into(), version: -1 }),
        MultiOp::SetData(SetDataRequest { path: "/x".into(), data: None, version: -1 }),
    ]);
    let f = h.write(1, 2, multi);
    let Frame::Reply { err, body, zxid, .. } = &f else { panic!() };
    assert_eq!((*err, *zxid), (0, h.last_logged()));
    let rs = MultiResult::decode_all(body).unwrap();
    assert_eq!(rs, vec![MultiResult::Error(0), MultiResult::Error(-101), MultiResult::Error(-2)]);
    // And on the wire each is an ErrorResult: MultiHeader{type -1, done false, err code}.
    let mut r = Reader::new(body);
    for code in [0, -101, -2] {
        assert_eq!(MultiHeader::read(&mut r).unwrap(), MultiHeader { type_: -1, done: false, err: code });
        assert_eq!(i32::read(&mut r).unwrap(), code);
    }
    assert!(h.core.tree().get("/m").is_none());
    assert_eq!(h.core.tree().get("/x").unwrap().version, 0);
    // A successful multi answers each op's own result.
    let multi = Request::Multi(vec![
        MultiOp::Create {
            op: opc::CREATE2,
            req: CreateTtlRequest { path: "/m".into(), data: None, acl: open_acl(), flags: 0, ttl: 0 },
        },
        MultiOp::Check(PathVersionRequest { path: "/x".into(), version: 0 }),
        MultiOp::SetData(SetDataRequest { path: "/x".into(), data: None, version: 0 }),
        MultiOp::Delete(PathVersionRequest { path: "/m".into(), version: 0 }),
    ]);
    let f = h.write(1, 3, multi);
    let Frame::Reply { err: 0, body, .. } = &f else { panic!("{f:?}") };
    let rs = MultiResult::decode_all(body).unwrap();
    // The create2 is a create in a multi, as ZooKeeper 3.8 reads it: no Stat in its result.
    assert!(matches!(&rs[..], [
        MultiResult::Create { stat: None, .. },
        MultiResult::Check,
        MultiResult::SetData(s),
        MultiResult::Delete
    ] if s.version == 1));
}

#[test]
fn sync_then_write_answer_in_order_when_made_durable_together() {
    let mut h = h();
    h.open(1, 30000);
    h.open(2, 30000);
    h.req(1, 1, create("/a", 0));
    h.req(2, 1, Request::Sync(PathRequest { path: "/".into() }));
    h.req(2, 2, create("/b", 0));
    let out = h.durable_all();
    let z = h.last_logged();
    assert_eq!(replies(&out, 2), vec![(1, z - 1, 0), (2, z, 0)]);
    // The connection's queue is not left blocked.
    let out = h.req(2, 3, exists("/b", false));
    assert_eq!(replies(&out, 2), vec![(3, z, 0)]);
}

#[test]
fn session_expired_reply_keeps_request_order() {
    let mut h = h();
    h.open(1, 4000);
    h.req(1, 1, create("/a", 0));
    let z = h.last_logged();
    h.set_mono(10_000);
    h.core.tick();
    h.pump();
    // The session expired with a write still pending: the refusal waits its turn.
    let early = h.req(1, 2, exists("/a", false));
    let out = h.durable(z);
    let all: Vec<(ConnId, Frame)> = early.into_iter().chain(out).collect();
    assert_eq!(replies(&all, 1), vec![(1, z, 0), (2, z, ErrorCode::SessionExpired.code())]);
}
