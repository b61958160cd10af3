//! Exact byte layouts of records and frames against ZooKeeper's encodings, and fast failure
//! of forged lengths.

use super::*;

// ---- exact layouts against ZooKeeper's encodings ----

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn reply_header_layout() {
    let b = to_bytes(&ReplyHeader { xid: 1, zxid: 2, err: 0 });
    assert_eq!(hex(&b), "00000001000000000000000200000000");
    let b = to_bytes(&ReplyHeader { xid: -1, zxid: -1, err: -101 });
    assert_eq!(hex(&b), "ffffffffffffffffffffffffffffff9b");
}

#[test]
fn stat_is_68_bytes_in_field_order() {
    let st = Stat {
        czxid: 1,
        mzxid: 2,
        ctime: 3,
        mtime: 4,
        version: 5,
        cversion: 6,
        aversion: 7,
        ephemeral_owner: 8,
        data_length: 9,
        num_children: 10,
        pzxid: 11,
    };
    let b = to_bytes(&st);
    assert_eq!(b.len(), 68);
    assert_eq!(
        hex(&b),
        concat!(
            "0000000000000001",
            "0000000000000002",
            "0000000000000003",
            "0000000000000004",
            "00000005",
            "00000006",
            "00000007",
            "0000000000000008",
            "00000009",
            "0000000a",
            "000000000000000b"
        )
    );
}

#[test]
fn strings_buffers_and_vectors_layout() {
    assert_eq!(hex(&to_bytes(&"/a".to_string())), "000000022f61");
    assert_eq!(hex(&to_bytes(&None::<Bytes>)), "ffffffff");
    assert_eq!(hex(&to_bytes(&Some(Bytes::new()))), "00000000");
    assert_eq!(hex(&to_bytes(&vec!["x".to_string()])), "000000010000000178");
    // A null string reads back empty (clients send null for ""), or None where null matters;
    // a reader can refuse one where a value is required (a request's path).
    assert_eq!(String::read(&mut Reader::new(&[0xff; 4])).unwrap(), "");
    assert_eq!(Option::<String>::read(&mut Reader::new(&[0xff; 4])).unwrap(), None);
    assert_eq!(Reader::new(&[0xff; 4]).refuse_null_string(), Err(DecodeError::NullString));
    assert_eq!(Reader::new(&[0, 0, 0, 0]).refuse_null_string(), Ok(()));
    assert_eq!(hex(&to_bytes(&None::<String>)), "ffffffff");
    // A null vector, and any other negative count, reads back empty as jute's reader does.
    assert_eq!(Vec::<String>::read(&mut Reader::new(&[0xff; 4])).unwrap(), Vec::<String>::new());
    assert_eq!(Vec::<String>::read(&mut Reader::new(&[0xff, 0xff, 0xff, 0xfe])).unwrap(), Vec::<String>::new());
    // A count past the bytes present is refused before anything is allocated.
    assert!(matches!(
        Vec::<i32>::read(&mut Reader::new(&[0x7f, 0xff, 0xff, 0xff, 1])),
        Err(DecodeError::Truncated { .. })
    ));
    assert_eq!(Option::<Bytes>::read(&mut Reader::new(&[0xff; 4])).unwrap(), None);
    // Strings and buffers: -1 is null, any other negative length is an error.
    assert_eq!(String::read(&mut Reader::new(&[0xff, 0xff, 0xff, 0xfe])), Err(DecodeError::BadLength(-2)));
    assert_eq!(Option::<Bytes>::read(&mut Reader::new(&[0xff, 0xff, 0xff, 0xfe])), Err(DecodeError::BadLength(-2)));
}

#[test]
fn connect_response_and_frames_layout() {
    let b = to_bytes(&ConnectResponse {
        protocol_version: 0,
        time_out: 30000,
        session_id: 0x0102030405060708,
        passwd: Bytes::from(vec![0xaa; 16]),
        read_only: false,
    });
    assert_eq!(b.len(), 4 + 4 + 8 + 4 + 16 + 1);
    assert_eq!(hex(&b[..20]), concat!("00000000", "00007530", "0102030405060708", "00000010"));

    // A reply frame: length prefix, header, body only when err == 0.
    let mut out = BytesMut::new();
    write_reply(&mut out, 7, 9, 0, &Response::Path("/a".into()));
    assert_eq!(hex(&out), concat!("00000016", "00000007", "0000000000000009", "00000000", "00000002", "2f61"));
    let mut out = BytesMut::new();
    write_reply(&mut out, 7, 9, -101, &Response::Path("/a".into()));
    assert_eq!(hex(&out), concat!("00000010", "00000007", "0000000000000009", "ffffff9b"));
    let mut out = BytesMut::new();
    write_notification(&mut out, 5, &WatcherEvent { type_: 1, state: 3, path: "/a".into() });
    let mut r = Reader::new(&out);
    assert_eq!(i32::read(&mut r).unwrap() as usize, out.len() - 4);
    assert_eq!(ReplyHeader::read(&mut r).unwrap(), ReplyHeader { xid: xid::NOTIFICATION, zxid: 5, err: 0 });
    assert_eq!(WatcherEvent::read(&mut r).unwrap(), WatcherEvent { type_: 1, state: 3, path: "/a".into() });
}

#[test]
fn multi_layout_matches_zookeeper() {
    // multi { create("/a", null, [world:anyone ALL], 0) } as ZooKeeper's MultiOperationRecord writes it.
    let mut w = BytesMut::new();
    MultiOp::Create {
        op: op::CREATE,
        req: CreateTtlRequest {
            path: "/a".into(),
            data: None,
            acl: vec![Acl::new(31, "world", "anyone")],
            flags: 0,
            ttl: 0,
        },
    }
    .write(&mut w);
    multi_done(&mut w);
    assert_eq!(
        hex(&w),
        concat!(
            "00000001",
            "00",
            "ffffffff", // MultiHeader{create, done=false, err=-1}
            "00000002",
            "2f61",
            "ffffffff", // path, null data
            "00000001",
            "0000001f",
            "00000005",
            "776f726c64",
            "00000006",
            "616e796f6e65", // acl
            "00000000",     // flags
            "ffffffff",
            "01",
            "ffffffff", // done
        )
    );
    // A failed multi's reply as ZooKeeper writes it: each op an ErrorResult (type -1).
    let mut w = BytesMut::new();
    Response::Multi(vec![MultiResult::Error(0), MultiResult::Error(-101)]).write(&mut w);
    assert_eq!(
        hex(&w),
        concat!(
            "ffffffff", "00", "00000000", "00000000", //
            "ffffffff", "00", "ffffff9b", "ffffff9b", //
            "ffffffff", "01", "ffffffff"
        )
    );
}

// ---- forged lengths fail fast ----

#[test]
fn huge_vector_count_fails_fast() {
    let mut b = i32::MAX.to_be_bytes().to_vec();
    b.extend_from_slice(&[0, 0, 0, 0]);
    let (r, peak) = metered(|| Vec::<String>::read(&mut Reader::new(&b)));
    assert!(matches!(r, Err(DecodeError::Truncated { .. })), "{r:?}");
    assert_bounded("Vec<String>", b.len(), peak);
    let (r, peak) = metered(|| Vec::<Acl>::read(&mut Reader::new(&b)));
    assert!(r.is_err());
    assert_bounded("Vec<Acl>", b.len(), peak);
    // Same through every decoder that reads a vector first thing after fixed fields.
    let mut w = BytesMut::new();
    "/p".to_string().write(&mut w);
    Option::<Bytes>::None.write(&mut w);
    w.extend_from_slice(&b);
    assert!(Request::decode(op::CREATE, &w).is_err());
    let mut sw = 0i64.to_be_bytes().to_vec();
    sw.extend_from_slice(&b);
    assert!(Request::decode(op::SET_WATCHES2, &sw).is_err());
    assert!(MultiResult::decode_all(&[0, 0, 0, 8, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]).is_err());
    let mut t = to_bytes(&TxnHeader { client_id: 0, cxid: 0, zxid: 1, time: 0, type_: op::MULTI }).to_vec();
    t.extend_from_slice(&b);
    assert!(Txn::decode(&t).is_err());
    assert!(Bytes::read(&mut Reader::new(&b)).is_err());
    assert!(String::read(&mut Reader::new(&b)).is_err());
}

/// A vector as long as its input whose elements are large in memory must not be preallocated
/// at full count: 1000 bytes of zeros claiming 996 ACLs may cost a few KB, not 996 × 56 bytes.
#[test]
fn vector_preallocation_is_bounded_by_input() {
    let mut b = 996i32.to_be_bytes().to_vec();
    b.extend_from_slice(&[0u8; 996]);
    let (r, peak) = metered(|| Vec::<Acl>::read(&mut Reader::new(&b)));
    assert!(r.is_err());
    assert!(peak <= 16 * b.len(), "{peak} bytes for a {}-byte vector", b.len());
}

/// A multi txn nested in a multi txn, thousands deep, must fail (ZooKeeper never nests them)
/// instead of recursing until the stack overflows.
#[test]
fn deeply_nested_multi_txn_is_refused() {
    const DEPTH: i32 = 20_000;
    let mut t = to_bytes(&TxnHeader { client_id: 0, cxid: 0, zxid: 1, time: 0, type_: op::MULTI }).to_vec();
    // Level k: MultiTxn { [TxnRecord { MULTI, <level k-1> }] }; level 0 is an empty MultiTxn.
    for k in (1..=DEPTH).rev() {
        for v in [1, op::MULTI, 4 + 12 * (k - 1)] {
            t.extend_from_slice(&v.to_be_bytes());
        }
    }
    t.extend_from_slice(&0i32.to_be_bytes());
    let (r, peak) = metered(|| Txn::decode(&t));
    assert!(r.is_err());
    assert_bounded("nested multi txn", t.len(), peak);
}
