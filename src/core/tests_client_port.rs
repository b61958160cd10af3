//! What the core answers to requests a hostile or unusual client sends, as ZooKeeper 3.8
//! answers them: unknown ops, bodies that could not be decoded, createSession on an open
//! connection, and requests pipelined behind a new session's handshake.

use super::*;

fn logged_error(h: &H, zxid: i64) -> i32 {
    let (_, payload) = h.logs.iter().find(|(z, _)| *z == zxid).expect("logged");
    match Txn::decode(payload).unwrap().body {
        TxnBody::Error(e) => e.err,
        b => panic!("expected an error txn, got {b:?}"),
    }
}

#[test]
fn unknown_op_is_unimplemented_with_zxid_minus_one_then_closed() {
    let mut h = h();
    h.open(1, 30000);
    h.open(2, 30000);
    let out = h.req(1, 1, Request::Unknown(9999));
    assert_eq!(out[0].1.reply(), (1, -1, ErrorCode::Unimplemented.code()));
    assert_eq!(h.closed, vec![1]);
    // The session is not closed, only the connection; others are untouched.
    assert_eq!(h.core.sessions().len(), 2);
    assert_eq!(h.req(2, 1, exists("/", false))[0].1.reply().2, 0);
}

#[test]
fn undecodable_read_is_marshalling_error_and_the_connection_stays() {
    let mut h = h();
    h.open(1, 30000);
    let z = h.core.last_applied_zxid();
    let out = h.req(1, 1, Request::Malformed { op: opc::GET_DATA });
    assert_eq!(out[0].1.reply(), (1, z, ErrorCode::MarshallingError.code()));
    assert!(h.closed.is_empty());
    assert_eq!(h.req(1, 2, exists("/", false))[0].1.reply().2, 0);
}

#[test]
fn undecodable_write_is_an_error_txn_as_in_zookeepers_prep() {
    let mut h = h();
    h.open(1, 30000);
    let f = h.write(1, 1, Request::Malformed { op: opc::CREATE });
    let (xid, zxid, err) = f.reply();
    assert_eq!((xid, err), (1, ErrorCode::MarshallingError.code()));
    // It took a zxid, like any failed write.
    assert_eq!(zxid, h.last_logged());
    assert_eq!(logged_error(&h, zxid), ErrorCode::MarshallingError.code());
    assert!(h.closed.is_empty());
}

#[test]
fn requests_behind_a_new_sessions_handshake_are_answered_after_it() {
    let mut h = h();
    h.core.connection_opened(1, None);
    h.handshake(1, 0, Bytes::from_static(&[0; 16]), 30000, 0);
    assert!(h.pump().is_empty(), "the createSession txn is not durable yet");
    // The zookeeper-client crate pipelines its auth right behind the connect.
    let auth = Request::Auth(AuthPacket { type_: 0, scheme: "digest".into(), auth: Some(Bytes::from_static(b"u:p")) });
    assert!(h.req(1, xids::AUTH, auth).is_empty(), "nothing may overtake the ConnectResponse");
    assert!(h.req(1, 5, exists("/", false)).is_empty());
    let out = h.durable_all();
    assert!(matches!(out[0].1, Frame::Connect(_)), "ConnectResponse first: {out:?}");
    assert_eq!(out[1].1.reply(), (xids::AUTH, 0, 0));
    assert_eq!(out[2].1.reply().0, 5);
    assert_eq!(out.len(), 3);
    // The auth took effect before the read that followed it.
    let c = h.core.conn(1).unwrap();
    assert!(c.auth.iter().any(|id| id.scheme == "digest"));
}

#[test]
fn create_session_on_an_open_connection_is_logged_for_its_own_session() {
    let mut h = h();
    let (id, _) = h.open(1, 30000);
    h.req(1, 3, Request::CreateSession { timeout: 5000 });
    let (zxid, payload) = h.logs.last().cloned().unwrap();
    let txn = Txn::decode(&payload).unwrap();
    assert_eq!((txn.header.client_id, txn.header.type_), (id, opc::CREATE_SESSION));
    h.core.durable(zxid);
    let acts = h.core.take_actions();
    // Answered with the handshake's ConnectResponse again (counted as the request's reply).
    let Some(Action::Send { bytes, replies: 1, .. }) = acts.first() else { panic!("{acts:?}") };
    let mut r = Reader::new(&bytes[4..]);
    let resp = ConnectResponse::read(&mut r).unwrap();
    assert_eq!((resp.session_id, resp.time_out, r.remaining()), (id, 30000, 0));
    assert!(h.closed.is_empty());
}
