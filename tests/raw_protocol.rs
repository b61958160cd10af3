//! The wire protocol byte for byte, with a tiny raw client over TcpStream encoding with
//! `zabkeeper::proto`: handshake forms, refused reconnects, bad frames, invalid paths,
//! special xids, connection limits, and notification ordering.

mod common;

use bytes::{BufMut, Bytes, BytesMut};
use common::{start_server, start_server_with, wait_until};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zabkeeper::proto::codes::op;
use zabkeeper::proto::jute::{Jute, Reader};
use zabkeeper::proto::records::*;
use zabkeeper::proto::request::{MultiOp, MultiResult};

const DEADLINE: Duration = Duration::from_secs(20);

struct Raw {
    s: TcpStream,
}

/// What the server sent next.
#[derive(Debug)]
enum Frame {
    Data(Vec<u8>),
    Closed,
}

impl Raw {
    async fn open(addr: SocketAddr) -> Raw {
        Raw { s: TcpStream::connect(addr).await.expect("connect") }
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        // The server may already have closed the socket; tests check that via `next`.
        let _ = self.s.write_all(bytes).await;
    }

    async fn send_frame(&mut self, body: &[u8]) {
        let mut b = BytesMut::with_capacity(body.len() + 4);
        b.put_i32(body.len() as i32);
        b.put_slice(body);
        self.send_raw(&b).await;
    }

    async fn next(&mut self) -> Frame {
        let read = async {
            let mut len = [0u8; 4];
            if self.s.read_exact(&mut len).await.is_err() {
                return Frame::Closed;
            }
            let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
            match self.s.read_exact(&mut body).await {
                Ok(_) => Frame::Data(body),
                Err(_) => Frame::Closed,
            }
        };
        tokio::time::timeout(DEADLINE, read).await.expect("server answered or closed within 20 s")
    }

    async fn expect_closed(&mut self) {
        match self.next().await {
            Frame::Closed => {}
            Frame::Data(d) => panic!("expected the connection to close, got a {}-byte frame", d.len()),
        }
    }

    /// Sends a ConnectRequest (with or without the trailing readOnly byte) and decodes the
    /// answer; None when the server closed instead.
    async fn handshake(&mut self, req: &ConnectRequest, with_ro: bool) -> Option<(ConnectResponse, usize)> {
        let mut b = BytesMut::new();
        req.write(&mut b);
        if !with_ro {
            b.truncate(b.len() - 1);
        }
        self.send_frame(&b).await;
        match self.next().await {
            Frame::Closed => None,
            Frame::Data(d) => {
                let mut r = Reader::new(&d);
                let resp = ConnectResponse {
                    protocol_version: i32::read(&mut r).unwrap(),
                    time_out: i32::read(&mut r).unwrap(),
                    session_id: i64::read(&mut r).unwrap(),
                    passwd: Bytes::read(&mut r).unwrap(),
                    read_only: r.remaining() > 0 && bool::read(&mut r).unwrap(),
                };
                Some((resp, d.len()))
            }
        }
    }

    /// A new session.
    async fn session(addr: SocketAddr, timeout_ms: i32) -> (Raw, ConnectResponse) {
        let mut raw = Raw::open(addr).await;
        let (resp, _) = raw.handshake(&new_session(timeout_ms), true).await.expect("session");
        assert_ne!(resp.session_id, 0);
        (raw, resp)
    }

    async fn request(&mut self, xid: i32, op_code: i32, body: &impl Jute) {
        let mut b = BytesMut::new();
        RequestHeader { xid, type_: op_code }.write(&mut b);
        body.write(&mut b);
        self.send_frame(&b).await;
    }

    /// The next frame as a reply: header and body.
    async fn reply(&mut self) -> (ReplyHeader, Vec<u8>) {
        match self.next().await {
            Frame::Closed => panic!("connection closed while waiting for a reply"),
            Frame::Data(d) => {
                let mut r = Reader::new(&d);
                let h = ReplyHeader::read(&mut r).expect("reply header");
                (h, r.rest().to_vec())
            }
        }
    }

    /// Sends a request and returns its reply, skipping notifications.
    async fn call(&mut self, xid: i32, op_code: i32, body: &impl Jute) -> (ReplyHeader, Vec<u8>) {
        self.request(xid, op_code, body).await;
        loop {
            let (h, b) = self.reply().await;
            if h.xid != -1 {
                assert_eq!(h.xid, xid, "replies come in request order");
                return (h, b);
            }
        }
    }
}

fn new_session(timeout_ms: i32) -> ConnectRequest {
    ConnectRequest::new_session(timeout_ms)
}

fn create_req(path: &str, flags: i32) -> CreateRequest {
    CreateRequest {
        path: path.into(),
        data: Some(Bytes::from_static(b"d")),
        acl: vec![Acl::new(31, "world", "anyone")],
        flags,
    }
}

fn get(path: &str, watch: bool) -> PathWatchRequest {
    PathWatchRequest { path: path.into(), watch }
}

/// An empty jute body (ping, closeSession).
struct Empty;
impl Jute for Empty {
    fn write(&self, _: &mut BytesMut) {}
    fn read(_: &mut Reader<'_>) -> Result<Self, zabkeeper::proto::DecodeError> {
        Ok(Empty)
    }
}

/// Raw bytes as a body.
struct RawBody(Vec<u8>);
impl Jute for RawBody {
    fn write(&self, w: &mut BytesMut) {
        w.put_slice(&self.0)
    }
    fn read(_: &mut Reader<'_>) -> Result<Self, zabkeeper::proto::DecodeError> {
        Ok(RawBody(Vec::new()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_with_and_without_read_only_byte() {
    let srv = start_server().await;
    let mut b = BytesMut::new();
    new_session(3000).write(&mut b);
    assert_eq!(b.len(), 45, "4+8+4+8+(4+16)+1");

    let mut a = Raw::open(srv.addr).await;
    let (ra, len_a) = a.handshake(&new_session(3000), true).await.expect("45-byte handshake");
    assert_eq!(len_a, 37, "protocolVersion, timeOut, sessionId, passwd(16), readOnly");
    assert_eq!((ra.protocol_version, ra.time_out, ra.read_only), (0, 3000, false));
    assert_eq!(ra.passwd.len(), 16);

    let mut o = Raw::open(srv.addr).await;
    let (ro, _) = o.handshake(&new_session(3000), false).await.expect("44-byte handshake");
    assert_ne!(ro.session_id, 0);
    assert_ne!(ro.session_id, ra.session_id);
    assert_eq!(ro.time_out, 3000);
    // Both sessions work.
    let (h, _) = a.call(1, op::EXISTS, &get("/", false)).await;
    assert_eq!(h.err, 0);
    let (h, _) = o.call(1, op::EXISTS, &get("/", false)).await;
    assert_eq!(h.err, 0);

    // Requested timeouts are clamped to [2, 20] ticks (tickTime 200 ms).
    let mut t = Raw::open(srv.addr).await;
    assert_eq!(t.handshake(&new_session(1), true).await.unwrap().0.time_out, 400);
    let mut t = Raw::open(srv.addr).await;
    assert_eq!(t.handshake(&new_session(1_000_000), true).await.unwrap().0.time_out, 4000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_with_wrong_password_is_refused() {
    let srv = start_server().await;
    let (mut a, ra) = Raw::session(srv.addr, 4000).await;
    let (h, _) = a.call(1, op::EXISTS, &get("/", false)).await;
    assert_eq!(h.err, 0);

    let mut bad_pw = ra.passwd.to_vec();
    bad_pw[0] ^= 0xff;
    let mut b = Raw::open(srv.addr).await;
    let req = ConnectRequest { session_id: ra.session_id, passwd: Bytes::from(bad_pw), ..new_session(4000) };
    let (resp, _) = b.handshake(&req, true).await.expect("a refusal is answered");
    assert_eq!((resp.time_out, resp.session_id), (0, 0));
    assert_eq!(resp.passwd.as_ref(), &[0u8; 16]);
    b.expect_closed().await;

    // An unknown session id is refused the same way.
    let mut c = Raw::open(srv.addr).await;
    let req = ConnectRequest { session_id: 0x1234_5678, passwd: ra.passwd.clone(), ..new_session(4000) };
    let (resp, _) = c.handshake(&req, true).await.expect("answered");
    assert_eq!((resp.time_out, resp.session_id), (0, 0));
    c.expect_closed().await;

    // The right password resumes the session (and moves it off the old connection).
    let mut d = Raw::open(srv.addr).await;
    let req = ConnectRequest { session_id: ra.session_id, passwd: ra.passwd.clone(), ..new_session(4000) };
    let (resp, _) = d.handshake(&req, true).await.expect("resumed");
    assert_eq!(resp.session_id, ra.session_id);
    assert_eq!(resp.passwd, ra.passwd);
    let (h, _) = d.call(2, op::EXISTS, &get("/", false)).await;
    assert_eq!(h.err, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ahead_of_server_is_refused() {
    let srv = start_server().await;
    let (mut a, _) = Raw::session(srv.addr, 4000).await;
    let (h, _) = a.call(1, op::CREATE, &create_req("/z", 0)).await;
    assert_eq!(h.err, 0);
    let mut b = Raw::open(srv.addr).await;
    let req = ConnectRequest { last_zxid_seen: h.zxid + 1000, ..new_session(4000) };
    assert!(b.handshake(&req, true).await.is_none(), "closed without a ConnectResponse");
    // Exactly caught up is fine.
    let mut c = Raw::open(srv.addr).await;
    let req = ConnectRequest { last_zxid_seen: h.zxid, ..new_session(4000) };
    assert!(c.handshake(&req, true).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_op_is_unimplemented_then_the_connection_closes() {
    let srv = start_server().await;
    let (mut a, resp) = Raw::session(srv.addr, 4000).await;
    let (h, body) = a.call(7, 999, &RawBody(vec![1, 2, 3])).await;
    // As ZooKeeper's UnimplementedRequestProcessor: zxid -1, then the connection is closed.
    assert_eq!((h.xid, h.zxid, h.err), (7, -1, -6));
    assert!(body.is_empty());
    a.expect_closed().await;
    // Only the connection: the session can be resumed on another one.
    let mut b = Raw::open(srv.addr).await;
    let req = ConnectRequest { session_id: resp.session_id, passwd: resp.passwd.clone(), ..new_session(4000) };
    let (again, _) = b.handshake(&req, true).await.expect("session resumed");
    assert_eq!(again.session_id, resp.session_id);
    let (h, _) = b.call(8, op::CREATE, &create_req("/still-here", 0)).await;
    assert_eq!(h.err, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_garbage_frames_close_only_that_connection() {
    let srv = start_server_with(|c| c.jute_max_buffer = 4096).await;
    let (mut good, _) = Raw::session(srv.addr, 4000).await;

    // A length prefix over jute.maxbuffer.
    let (mut big, _) = Raw::session(srv.addr, 4000).await;
    big.send_raw(&4097i32.to_be_bytes()).await;
    big.send_raw(&[0u8; 64]).await;
    big.expect_closed().await;

    // A negative length.
    let (mut neg, _) = Raw::session(srv.addr, 4000).await;
    neg.send_raw(&(-5i32).to_be_bytes()).await;
    neg.expect_closed().await;

    // A request header cut short.
    let (mut short, _) = Raw::session(srv.addr, 4000).await;
    short.send_frame(&[0, 0, 0]).await;
    short.expect_closed().await;

    // A getData whose path length runs past the frame: well framed, so ZooKeeper answers
    // MARSHALLINGERROR and the connection stays.
    let (mut trunc, _) = Raw::session(srv.addr, 4000).await;
    let mut b = BytesMut::new();
    RequestHeader { xid: 1, type_: op::GET_DATA }.write(&mut b);
    b.put_i32(100);
    b.put_slice(b"/ab");
    trunc.send_frame(&b).await;
    let (h, _) = trunc.reply().await;
    assert_eq!((h.xid, h.err), (1, -5));
    let (h, _) = trunc.call(2, op::EXISTS, &get("/", false)).await;
    assert_eq!(h.err, 0);

    // A garbage handshake.
    let mut hs = Raw::open(srv.addr).await;
    hs.send_frame(&[9, 9, 9]).await;
    hs.expect_closed().await;

    // The well-behaved client is unaffected, including a frame right at the limit.
    let (h, _) = good.call(1, op::CREATE, &create_req("/ok", 0)).await;
    assert_eq!(h.err, 0);
    let data = vec![7u8; 4096 - 100];
    let set = SetDataRequest { path: "/ok".into(), data: Some(Bytes::from(data)), version: -1 };
    let (h, _) = good.call(2, op::SET_DATA, &set).await;
    assert_eq!(h.err, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_paths_are_bad_arguments() {
    let srv = start_server().await;
    let (mut a, _) = Raw::session(srv.addr, 4000).await;
    let (h, _) = a.call(1, op::CREATE, &create_req("/a", 0)).await;
    assert_eq!(h.err, 0);
    let mut xid = 10;
    for p in ["", "a", "/a/", "/a//b", "/a/./b", "/a/../b", "/a/\u{0001}"] {
        // A create looks the parent (everything before the last '/') up first, as ZooKeeper
        // does: "/a//b" has the parent "/a/", which cannot exist, so it is NONODE.
        let create_err = if ["/a//b", "/a/./b", "/a/../b"].contains(&p) { -101 } else { -8 };
        for op_code in [op::CREATE, op::CREATE2] {
            xid += 1;
            let (h, _) = a.call(xid, op_code, &create_req(p, 0)).await;
            assert_eq!(h.err, create_err, "create {p:?}");
        }
        xid += 1;
        let (h, _) = a.call(xid, op::GET_DATA, &get(p, false)).await;
        assert_eq!(h.err, -8, "getData {p:?}");
        xid += 1;
        let (h, _) = a.call(xid, op::SET_DATA, &SetDataRequest { path: p.into(), data: None, version: -1 }).await;
        assert_eq!(h.err, -8, "setData {p:?}");
    }
    // A sequential create may end in '/', a plain one may not.
    xid += 1;
    let (h, body) = a.call(xid, op::CREATE, &create_req("/a/", 2)).await;
    assert_eq!(h.err, 0);
    assert_eq!(String::read(&mut Reader::new(&body)).unwrap(), "/a/0000000000");
    // The connection survived all of it.
    let (h, _) = a.call(xid + 1, op::EXISTS, &get("/a", false)).await;
    assert_eq!(h.err, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_answered_after_close_session() {
    let srv = start_server().await;
    let (mut a, _) = Raw::session(srv.addr, 4000).await;
    let (h, _) = a.call(1, op::CREATE, &create_req("/e", 1)).await;
    assert_eq!(h.err, 0);
    // Pipeline closeSession and a read after it.
    a.request(2, op::CLOSE_SESSION, &Empty).await;
    a.request(3, op::GET_DATA, &get("/", false)).await;
    let (h, body) = a.reply().await;
    assert_eq!((h.xid, h.err), (2, 0));
    assert!(body.is_empty());
    a.expect_closed().await;
    // The ephemeral went with the session.
    let (mut b, _) = Raw::session(srv.addr, 4000).await;
    let (h, _) = b.call(1, op::EXISTS, &get("/e", false)).await;
    assert_eq!(h.err, -101);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_client_cnxns_per_ip() {
    let srv = start_server_with(|c| c.max_client_cnxns = 2).await;
    let (mut a, _) = Raw::session(srv.addr, 4000).await;
    let (b, _) = Raw::session(srv.addr, 4000).await;
    let mut third = Raw::open(srv.addr).await;
    assert!(third.handshake(&new_session(4000), true).await.is_none(), "third connection closed");
    // The first two still work.
    let (h, _) = a.call(1, op::EXISTS, &get("/", false)).await;
    assert_eq!(h.err, 0);
    // Closing one frees a slot.
    drop(b);
    let addr = srv.addr;
    wait_until(20, "a slot frees up", || async move {
        let mut c = Raw::open(addr).await;
        c.handshake(&new_session(4000), true).await.is_some()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_reply_has_xid_minus_two() {
    let srv = start_server().await;
    let (mut a, _) = Raw::session(srv.addr, 4000).await;
    let (c, _) = a.call(1, op::CREATE, &create_req("/p", 0)).await;
    a.request(-2, op::PING, &Empty).await;
    let (h, body) = a.reply().await;
    assert_eq!((h.xid, h.err), (-2, 0));
    assert_eq!(h.zxid, c.zxid, "a ping reply carries the last applied zxid");
    assert!(body.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_raw_session_expires() {
    let srv = start_server().await;
    let (mut quiet, rq) = Raw::session(srv.addr, 400).await;
    assert_eq!(rq.time_out, 400);
    let (h, _) = quiet.call(1, op::CREATE, &create_req("/quiet", 1)).await;
    assert_eq!(h.err, 0);
    // Keep the socket open but say nothing: the session must expire and the server closes it.
    let (mut obs, _) = Raw::session(srv.addr, 4000).await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    for xid in 1.. {
        if obs.call(xid, op::EXISTS, &get("/quiet", false)).await.0.err == -101 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the silent session never expired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    quiet.expect_closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_carries_xid_minus_one_and_the_change_zxid() {
    let srv = start_server().await;
    let (mut a, _) = Raw::session(srv.addr, 4000).await;
    let (mut b, _) = Raw::session(srv.addr, 4000).await;
    let (h, _) = a.call(1, op::CREATE, &create_req("/n", 0)).await;
    assert_eq!(h.err, 0);
    let (h, _) = a.call(2, op::GET_DATA, &get("/n", true)).await;
    assert_eq!(h.err, 0);
    let set = SetDataRequest { path: "/n".into(), data: Some(Bytes::from_static(b"x")), version: -1 };
    let (hb, body) = b.call(1, op::SET_DATA, &set).await;
    assert_eq!(hb.err, 0);
    let stat = Stat::read(&mut Reader::new(&body)).unwrap();
    assert_eq!(stat.mzxid, hb.zxid);
    let (hn, ev) = a.reply().await;
    assert_eq!((hn.xid, hn.err, hn.zxid), (-1, 0, hb.zxid));
    let ev = WatcherEvent::read(&mut Reader::new(&ev)).unwrap();
    assert_eq!(ev, WatcherEvent { type_: 3, state: 3, path: "/n".into() });
    // One-shot: a second change fires nothing; the next frame is the reply to our read.
    b.call(2, op::SET_DATA, &set).await;
    let (h, _) = a.call(3, op::EXISTS, &get("/n", false)).await;
    assert_eq!(h.xid, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_event_precedes_replies_that_reflect_the_change() {
    let srv = start_server().await;
    let (mut a, _) = Raw::session(srv.addr, 4000).await;
    let (mut b, _) = Raw::session(srv.addr, 4000).await;
    a.call(1, op::CREATE, &create_req("/w", 0)).await;
    let (reg, _) = a.call(2, op::GET_DATA, &get("/w", true)).await;
    // B's write is pipelined: A keeps reading while it is in flight.
    let set = SetDataRequest { path: "/w".into(), data: Some(Bytes::from_static(b"new")), version: -1 };
    b.request(1, op::SET_DATA, &set).await;
    let mut seen_event: Option<i64> = None;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut xid = 10;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "B's write never became visible to A");
        xid += 1;
        a.request(xid, op::EXISTS, &get("/w", false)).await;
        let mut reply_zxid = None;
        while reply_zxid.is_none() {
            let (h, _) = a.reply().await;
            if h.xid == -1 {
                seen_event = Some(h.zxid);
            } else {
                assert_eq!(h.xid, xid);
                reply_zxid = Some(h.zxid);
            }
        }
        if reply_zxid.unwrap() > reg.zxid {
            let ev = seen_event.expect("the notification arrives before a reply reflecting the change");
            assert_eq!(ev, reply_zxid.unwrap());
            break;
        }
        assert!(seen_event.is_none(), "an event before the change was visible");
    }
    let (hb, _) = b.reply().await;
    assert_eq!(Some(hb.zxid), seen_event);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_multi_reports_every_op() {
    let srv = start_server().await;
    let (mut a, _) = Raw::session(srv.addr, 4000).await;
    a.call(1, op::CREATE, &create_req("/mf", 0)).await;
    let ops = [
        MultiOp::Create {
            op: op::CREATE,
            req: CreateTtlRequest {
                path: "/mf/a".into(),
                data: None,
                acl: vec![Acl::new(31, "world", "anyone")],
                flags: 0,
                ttl: 0,
            },
        },
        MultiOp::Check(PathVersionRequest { path: "/mf".into(), version: 5 }),
        MultiOp::Delete(PathVersionRequest { path: "/mf".into(), version: -1 }),
    ];
    let mut body = BytesMut::new();
    for o in &ops {
        o.write(&mut body);
    }
    MultiHeader { type_: -1, done: true, err: -1 }.write(&mut body);
    let (h, rb) = a.call(2, op::MULTI, &RawBody(body.to_vec())).await;
    assert_eq!(h.err, 0, "a failed multi still answers OK in the header");
    let results = MultiResult::decode_all(&rb).unwrap();
    assert_eq!(results, vec![MultiResult::Error(0), MultiResult::Error(-103), MultiResult::Error(-2)]);
    let (h, _) = a.call(3, op::EXISTS, &get("/mf/a", false)).await;
    assert_eq!(h.err, -101, "rolled back");

    // multiRead over the raw protocol: per-op results, errors inline.
    let reads = [
        MultiOp::GetData(PathRequest { path: "/mf".into() }),
        MultiOp::GetChildren(PathRequest { path: "/nope".into() }),
        MultiOp::GetChildren(PathRequest { path: "/".into() }),
    ];
    let mut body = BytesMut::new();
    for o in &reads {
        o.write(&mut body);
    }
    MultiHeader { type_: -1, done: true, err: -1 }.write(&mut body);
    let (h, rb) = a.call(4, op::MULTI_READ, &RawBody(body.to_vec())).await;
    assert_eq!(h.err, 0);
    let results = MultiResult::decode_all(&rb).unwrap();
    assert_eq!(results.len(), 3);
    assert!(matches!(&results[0], MultiResult::GetData { data: Some(d), .. } if d.as_ref() == b"d"));
    assert_eq!(results[1], MultiResult::Error(-101));
    assert!(matches!(&results[2], MultiResult::GetChildren(c) if c.contains(&"mf".to_string())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_reply_uses_the_request_xid() {
    let srv = start_server().await;
    let (mut a, _) = Raw::session(srv.addr, 4000).await;
    let auth = AuthPacket { type_: 0, scheme: "digest".into(), auth: Some(Bytes::from_static(b"u:p")) };
    let (h, _) = a.call(-4, op::AUTH, &auth).await;
    assert_eq!((h.xid, h.err), (-4, 0));
    let (h, _) = a.call(17, op::AUTH, &auth).await;
    assert_eq!((h.xid, h.err), (17, 0));
    let bad = AuthPacket { type_: 0, scheme: "bogus".into(), auth: Some(Bytes::new()) };
    let (h, _) = a.call(18, op::AUTH, &bad).await;
    assert_eq!((h.xid, h.err), (18, -115));
    a.expect_closed().await;
}
