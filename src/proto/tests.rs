//! Wire-format tests: every record round-trips through jute, every request through its client
//! wire form and `Request::decode`, multi results, the handshake forms, every txn body, exact
//! byte layouts against ZooKeeper's, and garbage that must neither panic nor over-allocate.

use super::codes::{op, xid};
use super::jute::{to_bytes, DecodeError, Jute, Reader};
use super::records::*;
use super::request::{write_notification, write_reply, MultiOp, MultiResult, Request, Response};
use crate::txn::{Txn, TxnBody};
use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

// ---- a per-thread allocation meter, to check decoders never allocate beyond their input ----

struct Meter;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    let _ = LIVE.try_with(|l| {
        let v = l.get() + delta;
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

unsafe impl GlobalAlloc for Meter {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note(l.size() as isize);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        note(-(l.size() as isize));
        System.dealloc(p, l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note(l.size() as isize);
        System.alloc_zeroed(l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        note(new as isize - l.size() as isize);
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static METER: Meter = Meter;

/// Runs `f` and returns its result and the peak extra bytes this thread held while it ran.
fn metered<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.with(|l| l.get());
    PEAK.with(|p| p.set(base));
    let r = f();
    let peak = PEAK.with(|p| p.get());
    (r, (peak - base).max(0) as usize)
}

/// A decoder may keep a small constant factor of its input (a `String` is 24 bytes for a
/// 4-byte empty string on the wire), never more: a forged length must not buy memory.
fn assert_bounded(what: &str, input: usize, peak: usize) {
    assert!(peak <= 32 * input + 4096, "{what}: {peak} bytes allocated for {input} bytes of input");
}

// ---- strategies ----

fn s() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}
fn os() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(s())
}
fn b() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}
fn ob() -> impl Strategy<Value = Option<Bytes>> {
    option::of(b())
}
fn strs() -> impl Strategy<Value = Vec<String>> {
    vec(s(), 0..5)
}
fn id() -> impl Strategy<Value = Id> {
    (s(), s()).prop_map(|(scheme, id)| Id { scheme, id })
}
fn acl() -> impl Strategy<Value = Acl> {
    (any::<i32>(), id()).prop_map(|(perms, id)| Acl { perms, id })
}
fn acls() -> impl Strategy<Value = Vec<Acl>> {
    vec(acl(), 0..4)
}
fn stat() -> impl Strategy<Value = Stat> {
    (
        any::<i64>(),
        any::<i64>(),
        any::<i64>(),
        any::<i64>(),
        any::<i32>(),
        any::<i32>(),
        any::<i32>(),
        any::<i64>(),
        any::<i32>(),
        any::<i32>(),
        any::<i64>(),
    )
        .prop_map(|(a, b, c, d, e, f, g, h, i, j, k)| Stat {
            czxid: a,
            mzxid: b,
            ctime: c,
            mtime: d,
            version: e,
            cversion: f,
            aversion: g,
            ephemeral_owner: h,
            data_length: i,
            num_children: j,
            pzxid: k,
        })
}
fn create_req() -> impl Strategy<Value = CreateRequest> {
    (s(), ob(), acls(), any::<i32>()).prop_map(|(path, data, acl, flags)| CreateRequest { path, data, acl, flags })
}
fn create_ttl_req() -> impl Strategy<Value = CreateTtlRequest> {
    (s(), ob(), acls(), any::<i32>(), any::<i64>()).prop_map(|(path, data, acl, flags, ttl)| CreateTtlRequest {
        path,
        data,
        acl,
        flags,
        ttl,
    })
}
fn path_req() -> impl Strategy<Value = PathRequest> {
    s().prop_map(|path| PathRequest { path })
}
fn path_watch() -> impl Strategy<Value = PathWatchRequest> {
    (s(), any::<bool>()).prop_map(|(path, watch)| PathWatchRequest { path, watch })
}
fn path_version() -> impl Strategy<Value = PathVersionRequest> {
    (s(), any::<i32>()).prop_map(|(path, version)| PathVersionRequest { path, version })
}
fn path_type() -> impl Strategy<Value = PathTypeRequest> {
    (s(), any::<i32>()).prop_map(|(path, type_)| PathTypeRequest { path, type_ })
}
fn set_data_req() -> impl Strategy<Value = SetDataRequest> {
    (s(), ob(), any::<i32>()).prop_map(|(path, data, version)| SetDataRequest { path, data, version })
}
fn set_watches2() -> impl Strategy<Value = SetWatches2> {
    (any::<i64>(), strs(), strs(), strs(), strs(), strs()).prop_map(|(z, d, e, c, p, r)| SetWatches2 {
        relative_zxid: z,
        data_watches: d,
        exist_watches: e,
        child_watches: c,
        persistent_watches: p,
        persistent_recursive_watches: r,
    })
}
fn txn_header() -> impl Strategy<Value = TxnHeader> {
    (any::<i64>(), any::<i32>(), any::<i64>(), any::<i64>(), any::<i32>())
        .prop_map(|(client_id, cxid, zxid, time, type_)| TxnHeader { client_id, cxid, zxid, time, type_ })
}

/// Writes a record, reads it back, and checks every byte was consumed.
fn round_trip<T: Jute + PartialEq + std::fmt::Debug>(v: &T) {
    let bytes = to_bytes(v);
    let mut r = Reader::new(&bytes);
    let back = T::read(&mut r).expect("decodes");
    assert_eq!(&back, v);
    assert_eq!(r.remaining(), 0, "trailing bytes for {v:?}");
}

macro_rules! record_round_trips {
    ($($name:ident: $strat:expr;)*) => {
        proptest! {
            $(
                #[test]
                fn $name(v in $strat) {
                    round_trip(&v);
                }
            )*
        }
    };
}

record_round_trips! {
    rt_id: id();
    rt_acl: acl();
    rt_stat: stat();
    rt_connect_request: (any::<i32>(), any::<i64>(), any::<i32>(), any::<i64>(), b(), any::<bool>()).prop_map(
        |(protocol_version, last_zxid_seen, time_out, session_id, passwd, read_only)| ConnectRequest {
            protocol_version, last_zxid_seen, time_out, session_id, passwd, read_only,
        });
    rt_connect_response: (any::<i32>(), any::<i32>(), any::<i64>(), b(), any::<bool>()).prop_map(
        |(protocol_version, time_out, session_id, passwd, read_only)| ConnectResponse {
            protocol_version, time_out, session_id, passwd, read_only,
        });
    rt_request_header: (any::<i32>(), any::<i32>()).prop_map(|(xid, type_)| RequestHeader { xid, type_ });
    rt_reply_header: (any::<i32>(), any::<i64>(), any::<i32>()).prop_map(|(xid, zxid, err)| ReplyHeader { xid, zxid, err });
    rt_watcher_event: (any::<i32>(), any::<i32>(), s()).prop_map(|(type_, state, path)| WatcherEvent { type_, state, path });
    rt_auth_packet: (any::<i32>(), s(), proptest::option::of(b())).prop_map(|(type_, scheme, auth)| AuthPacket { type_, scheme, auth });
    rt_set_watches: (any::<i64>(), strs(), strs(), strs()).prop_map(|(relative_zxid, data_watches, exist_watches, child_watches)| {
        SetWatches { relative_zxid, data_watches, exist_watches, child_watches }
    });
    rt_set_watches2: set_watches2();
    rt_multi_header: (any::<i32>(), any::<bool>(), any::<i32>()).prop_map(|(type_, done, err)| MultiHeader { type_, done, err });
    rt_path_request: path_req();
    rt_path_watch_request: path_watch();
    rt_path_version_request: path_version();
    rt_path_type_request: path_type();
    rt_create_request: create_req();
    rt_create_ttl_request: create_ttl_req();
    rt_set_data_request: set_data_req();
    rt_set_acl_request: (s(), acls(), any::<i32>()).prop_map(|(path, acl, version)| SetAclRequest { path, acl, version });
    rt_add_watch_request: (s(), any::<i32>()).prop_map(|(path, mode)| AddWatchRequest { path, mode });
    rt_reconfig_request: (os(), os(), os(), any::<i64>()).prop_map(|(joining_servers, leaving_servers, new_members, cur_config_id)| {
        ReconfigRequest { joining_servers, leaving_servers, new_members, cur_config_id }
    });
    rt_sasl_request: b().prop_map(|token| SaslRequest { token });
    rt_stat_response: stat().prop_map(|stat| StatResponse { stat });
    rt_get_data_response: (ob(), stat()).prop_map(|(data, stat)| GetDataResponse { data, stat });
    rt_path_response: s().prop_map(|path| PathResponse { path });
    rt_create2_response: (s(), stat()).prop_map(|(path, stat)| Create2Response { path, stat });
    rt_get_children_response: strs().prop_map(|children| GetChildrenResponse { children });
    rt_get_children2_response: (strs(), stat()).prop_map(|(children, stat)| GetChildren2Response { children, stat });
    rt_get_acl_response: (acls(), stat()).prop_map(|(acl, stat)| GetAclResponse { acl, stat });
    rt_error_response: any::<i32>().prop_map(|err| ErrorResponse { err });
    rt_get_ephemerals_response: strs().prop_map(|ephemerals| GetEphemeralsResponse { ephemerals });
    rt_get_all_children_number_response: any::<i32>().prop_map(|total_number| GetAllChildrenNumberResponse { total_number });
    rt_client_info: (s(), s()).prop_map(|(auth_scheme, user)| ClientInfo { auth_scheme, user });
    rt_who_am_i_response: vec((s(), s()).prop_map(|(auth_scheme, user)| ClientInfo { auth_scheme, user }), 0..4)
        .prop_map(|client_info| WhoAmIResponse { client_info });
    rt_txn_header: txn_header();
    rt_create_txn: (s(), ob(), acls(), any::<bool>(), any::<i32>()).prop_map(|(path, data, acl, ephemeral, parent_cversion)| {
        CreateTxn { path, data, acl, ephemeral, parent_cversion }
    });
    rt_create_container_txn: (s(), ob(), acls(), any::<i32>()).prop_map(|(path, data, acl, parent_cversion)| {
        CreateContainerTxn { path, data, acl, parent_cversion }
    });
    rt_create_ttl_txn: (s(), ob(), acls(), any::<i32>(), any::<i64>()).prop_map(|(path, data, acl, parent_cversion, ttl)| {
        CreateTtlTxn { path, data, acl, parent_cversion, ttl }
    });
    rt_delete_txn: s().prop_map(|path| DeleteTxn { path });
    rt_set_data_txn: (s(), ob(), any::<i32>()).prop_map(|(path, data, version)| SetDataTxn { path, data, version });
    rt_check_version_txn: (s(), any::<i32>()).prop_map(|(path, version)| CheckVersionTxn { path, version });
    rt_set_acl_txn: (s(), acls(), any::<i32>()).prop_map(|(path, acl, version)| SetAclTxn { path, acl, version });
    rt_create_session_txn: any::<i32>().prop_map(|time_out| CreateSessionTxn { time_out });
    rt_close_session_txn: strs().prop_map(|paths2_delete| CloseSessionTxn { paths2_delete });
    rt_error_txn: any::<i32>().prop_map(|err| ErrorTxn { err });
    rt_txn_record: (any::<i32>(), b()).prop_map(|(type_, data)| TxnRecord { type_, data });
    rt_multi_txn: vec((any::<i32>(), b()).prop_map(|(type_, data)| TxnRecord { type_, data }), 0..4)
        .prop_map(|txns| MultiTxn { txns });
}

// ---- requests through their client wire form ----

const CREATE_OPS: [i32; 3] = [op::CREATE, op::CREATE2, op::CREATE_CONTAINER];

fn create_op() -> impl Strategy<Value = (i32, CreateTtlRequest)> {
    prop_oneof![
        (prop::sample::select(&CREATE_OPS[..]), create_req()).prop_map(|(o, c)| (
            o,
            CreateTtlRequest { path: c.path, data: c.data, acl: c.acl, flags: c.flags, ttl: 0 }
        )),
        create_ttl_req().prop_map(|r| (op::CREATE_TTL, r)),
    ]
}

fn write_op() -> impl Strategy<Value = MultiOp> {
    prop_oneof![
        create_op().prop_map(|(op, req)| MultiOp::Create { op, req }),
        path_version().prop_map(MultiOp::Delete),
        set_data_req().prop_map(MultiOp::SetData),
        path_version().prop_map(MultiOp::Check),
    ]
}

fn read_op() -> impl Strategy<Value = MultiOp> {
    prop_oneof![path_req().prop_map(MultiOp::GetChildren), path_req().prop_map(MultiOp::GetData)]
}

const KNOWN_OPS: [i32; 32] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 100, 101, 102, 103, 104, 105, 106,
    107, -10, -11,
];

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        create_op().prop_map(|(op, req)| Request::Create { op, req }),
        path_version().prop_map(Request::Delete),
        path_watch().prop_map(Request::Exists),
        path_watch().prop_map(Request::GetData),
        set_data_req().prop_map(Request::SetData),
        path_req().prop_map(Request::GetAcl),
        (s(), acls(), any::<i32>()).prop_map(|(path, acl, version)| Request::SetAcl(SetAclRequest {
            path,
            acl,
            version
        })),
        path_watch().prop_map(Request::GetChildren),
        path_watch().prop_map(Request::GetChildren2),
        path_req().prop_map(Request::Sync),
        Just(Request::Ping),
        path_version().prop_map(Request::Check),
        vec(write_op(), 0..4).prop_map(Request::Multi),
        vec(read_op(), 0..4).prop_map(Request::MultiRead),
        (os(), os(), os(), any::<i64>()).prop_map(|(j, l, n, c)| Request::Reconfig(ReconfigRequest {
            joining_servers: j,
            leaving_servers: l,
            new_members: n,
            cur_config_id: c
        })),
        path_type().prop_map(Request::CheckWatches),
        path_type().prop_map(Request::RemoveWatches),
        (any::<i32>(), s(), proptest::option::of(b())).prop_map(|(type_, scheme, auth)| Request::Auth(AuthPacket {
            type_,
            scheme,
            auth
        })),
        set_watches2().prop_map(Request::SetWatches),
        b().prop_map(|token| Request::Sasl(SaslRequest { token })),
        path_req().prop_map(Request::GetEphemerals),
        path_req().prop_map(Request::GetAllChildrenNumber),
        (s(), any::<i32>()).prop_map(|(path, mode)| Request::AddWatch(AddWatchRequest { path, mode })),
        Just(Request::WhoAmI),
        Just(Request::CloseSession),
        any::<i32>().prop_filter("unknown op", |o| !KNOWN_OPS.contains(o)).prop_map(Request::Unknown),
    ]
}

fn multi_done(w: &mut BytesMut) {
    MultiHeader { type_: -1, done: true, err: -1 }.write(w);
}

/// The frame body a client sends for `req` (request header included), and its op code.
fn client_frame(xid_: i32, req: &Request) -> BytesMut {
    let mut w = BytesMut::new();
    let hdr = |t: i32, w: &mut BytesMut| RequestHeader { xid: xid_, type_: t }.write(w);
    match req {
        Request::Create { op: o, req } => {
            hdr(*o, &mut w);
            if *o == op::CREATE_TTL {
                req.write(&mut w)
            } else {
                CreateRequest { path: req.path.clone(), data: req.data.clone(), acl: req.acl.clone(), flags: req.flags }
                    .write(&mut w)
            }
        }
        Request::Delete(r) => {
            hdr(op::DELETE, &mut w);
            r.write(&mut w)
        }
        Request::Exists(r) => {
            hdr(op::EXISTS, &mut w);
            r.write(&mut w)
        }
        Request::GetData(r) => {
            hdr(op::GET_DATA, &mut w);
            r.write(&mut w)
        }
        Request::SetData(r) => {
            hdr(op::SET_DATA, &mut w);
            r.write(&mut w)
        }
        Request::GetAcl(r) => {
            hdr(op::GET_ACL, &mut w);
            r.write(&mut w)
        }
        Request::SetAcl(r) => {
            hdr(op::SET_ACL, &mut w);
            r.write(&mut w)
        }
        Request::GetChildren(r) => {
            hdr(op::GET_CHILDREN, &mut w);
            r.write(&mut w)
        }
        Request::GetChildren2(r) => {
            hdr(op::GET_CHILDREN2, &mut w);
            r.write(&mut w)
        }
        Request::Sync(r) => {
            hdr(op::SYNC, &mut w);
            r.write(&mut w)
        }
        Request::Ping => hdr(op::PING, &mut w),
        Request::Check(r) => {
            hdr(op::CHECK, &mut w);
            r.write(&mut w)
        }
        Request::Multi(ops) | Request::MultiRead(ops) => {
            hdr(if matches!(req, Request::Multi(_)) { op::MULTI } else { op::MULTI_READ }, &mut w);
            for o in ops {
                o.write(&mut w);
            }
            multi_done(&mut w);
        }
        Request::Reconfig(r) => {
            hdr(op::RECONFIG, &mut w);
            r.write(&mut w)
        }
        Request::CheckWatches(r) => {
            hdr(op::CHECK_WATCHES, &mut w);
            r.write(&mut w)
        }
        Request::RemoveWatches(r) => {
            hdr(op::REMOVE_WATCHES, &mut w);
            r.write(&mut w)
        }
        Request::Auth(r) => {
            hdr(op::AUTH, &mut w);
            r.write(&mut w)
        }
        Request::SetWatches(r) => {
            hdr(op::SET_WATCHES2, &mut w);
            r.write(&mut w)
        }
        Request::Sasl(r) => {
            hdr(op::SASL, &mut w);
            r.write(&mut w)
        }
        Request::GetEphemerals(r) => {
            hdr(op::GET_EPHEMERALS, &mut w);
            r.write(&mut w)
        }
        Request::GetAllChildrenNumber(r) => {
            hdr(op::GET_ALL_CHILDREN_NUMBER, &mut w);
            r.write(&mut w)
        }
        Request::AddWatch(r) => {
            hdr(op::ADD_WATCH, &mut w);
            r.write(&mut w)
        }
        Request::WhoAmI => hdr(op::WHO_AM_I, &mut w),
        Request::CloseSession => hdr(op::CLOSE_SESSION, &mut w),
        Request::CreateSession { timeout } => {
            hdr(op::CREATE_SESSION, &mut w);
            timeout.write(&mut w)
        }
        Request::Unknown(o) | Request::Malformed { op: o } => hdr(*o, &mut w),
    }
    w
}

fn decode_frame(frame: &[u8]) -> (RequestHeader, Result<Request, DecodeError>) {
    let mut r = Reader::new(frame);
    let h = RequestHeader::read(&mut r).expect("header");
    let req = Request::decode(h.type_, r.rest());
    (h, req)
}

fn multi_result() -> impl Strategy<Value = MultiResult> {
    prop_oneof![
        (s(), option::of(stat())).prop_map(|(path, stat)| MultiResult::Create { path, stat }),
        Just(MultiResult::Delete),
        stat().prop_map(MultiResult::SetData),
        Just(MultiResult::Check),
        (ob(), stat()).prop_map(|(data, stat)| MultiResult::GetData { data, stat }),
        strs().prop_map(MultiResult::GetChildren),
        any::<i32>().prop_map(MultiResult::Error),
    ]
}

fn leaf_txn_body() -> impl Strategy<Value = (i32, TxnBody)> {
    prop_oneof![
        any::<i32>().prop_map(|time_out| (op::CREATE_SESSION, TxnBody::CreateSession(CreateSessionTxn { time_out }))),
        strs().prop_map(|paths2_delete| (op::CLOSE_SESSION, TxnBody::CloseSession(CloseSessionTxn { paths2_delete }))),
        (prop::sample::select(vec![op::CREATE, op::CREATE2]), s(), ob(), acls(), any::<bool>(), any::<i32>()).prop_map(
            |(o, path, data, acl, ephemeral, parent_cversion)| (
                o,
                TxnBody::Create(CreateTxn { path, data, acl, ephemeral, parent_cversion })
            )
        ),
        (s(), ob(), acls(), any::<i32>()).prop_map(|(path, data, acl, parent_cversion)| (
            op::CREATE_CONTAINER,
            TxnBody::CreateContainer(CreateContainerTxn { path, data, acl, parent_cversion })
        )),
        (s(), ob(), acls(), any::<i32>(), any::<i64>()).prop_map(|(path, data, acl, parent_cversion, ttl)| (
            op::CREATE_TTL,
            TxnBody::CreateTtl(CreateTtlTxn { path, data, acl, parent_cversion, ttl })
        )),
        (prop::sample::select(vec![op::DELETE, op::DELETE_CONTAINER]), s())
            .prop_map(|(o, path)| (o, TxnBody::Delete(DeleteTxn { path }))),
        (s(), ob(), any::<i32>())
            .prop_map(|(path, data, version)| (op::SET_DATA, TxnBody::SetData(SetDataTxn { path, data, version }))),
        (s(), acls(), any::<i32>())
            .prop_map(|(path, acl, version)| (op::SET_ACL, TxnBody::SetAcl(SetAclTxn { path, acl, version }))),
        (s(), any::<i32>()).prop_map(|(path, version)| (op::CHECK, TxnBody::Check(CheckVersionTxn { path, version }))),
        any::<i32>().prop_map(|err| (op::ERROR, TxnBody::Error(ErrorTxn { err }))),
    ]
}

fn txn_body() -> impl Strategy<Value = (i32, TxnBody)> {
    prop_oneof![leaf_txn_body(), vec(leaf_txn_body(), 0..4).prop_map(|ops| (op::MULTI, TxnBody::Multi(ops))),]
}

/// Known op codes, plus a few others, so garbage reaches every decoder branch.
fn any_op() -> impl Strategy<Value = i32> {
    prop_oneof![prop::sample::select(&KNOWN_OPS[..]), any::<i32>()]
}

/// Garbage biased towards jute: a mix of raw bytes and well-formed-looking lengths.
fn garbage() -> impl Strategy<Value = Vec<u8>> {
    vec(
        prop_oneof![
            vec(any::<u8>(), 0..16),
            prop_oneof![Just(-1i32), Just(0), Just(1), Just(i32::MAX), Just(i32::MIN), 0..64i32]
                .prop_map(|n| n.to_be_bytes().to_vec()),
        ],
        0..24,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn every_request_round_trips_through_its_wire_form(x in any::<i32>(), req in request()) {
        let frame = client_frame(x, &req);
        let (h, back) = decode_frame(&frame);
        prop_assert_eq!(h.xid, x);
        prop_assert_eq!(back.expect("decodes"), req);
    }

    #[test]
    fn old_set_watches_decodes_into_set_watches2(
        z in any::<i64>(), d in strs(), e in strs(), c in strs()
    ) {
        let mut w = BytesMut::new();
        SetWatches { relative_zxid: z, data_watches: d.clone(), exist_watches: e.clone(), child_watches: c.clone() }
            .write(&mut w);
        let want = SetWatches2 {
            relative_zxid: z,
            data_watches: d,
            exist_watches: e,
            child_watches: c,
            persistent_watches: vec![],
            persistent_recursive_watches: vec![],
        };
        prop_assert_eq!(Request::decode(op::SET_WATCHES, &w).unwrap(), Request::SetWatches(want));
    }

    #[test]
    fn multi_results_round_trip(rs in vec(multi_result(), 0..6)) {
        let mut w = BytesMut::new();
        Response::Multi(rs.clone()).write(&mut w);
        prop_assert_eq!(MultiResult::decode_all(&w).unwrap(), rs);
    }

    #[test]
    fn every_txn_body_round_trips(h in txn_header(), (ty, body) in txn_body()) {
        let t = Txn { header: TxnHeader { type_: ty, ..h }, body };
        prop_assert_eq!(Txn::decode(&t.encode()).unwrap(), t);
    }

    #[test]
    fn connect_request_44_and_45_byte_forms(
        z in any::<i64>(), to in any::<i32>(), sid in any::<i64>(), pw in vec(any::<u8>(), 16), ro in any::<bool>()
    ) {
        let full = ConnectRequest {
            protocol_version: 0, last_zxid_seen: z, time_out: to, session_id: sid, passwd: Bytes::from(pw), read_only: ro,
        };
        let bytes = to_bytes(&full);
        prop_assert_eq!(bytes.len(), 45);
        let (got, has_ro) = ConnectRequest::decode(&bytes).unwrap();
        prop_assert!(has_ro);
        prop_assert_eq!(&got, &full);
        let (old, has_ro) = ConnectRequest::decode(&bytes[..44]).unwrap();
        prop_assert!(!has_ro);
        prop_assert_eq!(old, ConnectRequest { read_only: false, ..full });
    }

    #[test]
    fn garbage_requests_never_panic_or_overallocate(o in any_op(), g in garbage()) {
        let (_, peak) = metered(|| Request::decode(o, &g));
        assert_bounded("Request::decode", g.len(), peak);
    }

    #[test]
    fn garbage_handshakes_never_panic_or_overallocate(g in garbage()) {
        let (_, peak) = metered(|| ConnectRequest::decode(&g));
        assert_bounded("ConnectRequest::decode", g.len(), peak);
    }

    #[test]
    fn garbage_txns_never_panic_or_overallocate(o in any_op(), g in garbage()) {
        // With a plausible header in front, so the body decoders see the garbage too.
        let mut w = BytesMut::new();
        TxnHeader { client_id: 1, cxid: 2, zxid: 3, time: 4, type_: o }.write(&mut w);
        w.extend_from_slice(&g);
        for input in [&g[..], &w[..]] {
            let (_, peak) = metered(|| Txn::decode(input));
            assert_bounded("Txn::decode", input.len(), peak);
        }
    }

    #[test]
    fn garbage_multi_results_never_panic_or_overallocate(g in garbage()) {
        let (_, peak) = metered(|| MultiResult::decode_all(&g));
        assert_bounded("MultiResult::decode_all", g.len(), peak);
    }

    #[test]
    fn garbage_snapshots_never_panic_or_overallocate(g in garbage()) {
        let mut w = BytesMut::new();
        w.extend_from_slice(b"ZBKS");
        1i32.write(&mut w);
        w.extend_from_slice(&g);
        for input in [&g[..], &w[..]] {
            let (_, peak) = metered(|| crate::tree::snapshot::decode(input));
            assert_bounded("snapshot::decode", input.len(), peak);
        }
    }

    #[test]
    fn truncated_requests_fail_cleanly(x in any::<i32>(), req in request(), cut in any::<prop::sample::Index>()) {
        let frame = client_frame(x, &req);
        let body = &frame[8..];
        let n = cut.index(body.len() + 1);
        // A prefix either fails or (for bodiless and trailing-tolerant ops) decodes; never panics.
        let _ = Request::decode(RequestHeader::read(&mut Reader::new(&frame)).unwrap().type_, &body[..n]);
    }
}

// Exact byte layouts against ZooKeeper's encodings, and the decoders' allocation bounds.
#[path = "tests_layout.rs"]
mod layout;
