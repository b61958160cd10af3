//! Byte layouts of the quorum wire formats, as docs/quorum-protocol.md records ZooKeeper 3.8's.

use super::*;
use crate::config::ServerSpec;
use crate::proto::jute::to_bytes;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn initial_message_v1_layout_and_parsing() {
    let b = InitialMessage::encode(2, "127.0.0.1:3889");
    assert_eq!(hex(&b[..20]), "ffffffffffff000000000000000000020000000e");
    assert_eq!(&b[..8], &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00]);
    assert_eq!(&b[8..16], &2i64.to_be_bytes());
    assert_eq!(&b[16..20], &14i32.to_be_bytes());
    assert_eq!(&b[20..], b"127.0.0.1:3889");
    // Every proper prefix asks for more; the whole parses.
    for cut in 0..b.len() {
        assert_eq!(InitialMessage::decode(&b[..cut]).unwrap(), None, "prefix of {cut}");
    }
    let (m, used) = InitialMessage::decode(&b).unwrap().unwrap();
    assert_eq!((m.sid, m.addresses.as_slice(), used), (2, &["127.0.0.1:3889".to_string()][..], b.len()));
}

#[test]
fn initial_message_other_forms() {
    // A first long >= 0 is a pre-3.5 peer's bare sid.
    let (m, used) = InitialMessage::decode(&7i64.to_be_bytes()).unwrap().unwrap();
    assert_eq!((m.sid, m.addresses.len(), used), (7, 0, 8));
    // V2 carries '|'-separated addresses.
    let mut b = BytesMut::new();
    b.put_i64(PROTOCOL_VERSION_V2);
    b.put_i64(3);
    let a = "10.0.0.1:3888|[::1]:3888";
    b.put_i32(a.len() as i32);
    b.put_slice(a.as_bytes());
    let (m, _) = InitialMessage::decode(&b).unwrap().unwrap();
    assert_eq!(m.addresses, vec!["10.0.0.1:3888".to_string(), "[::1]:3888".to_string()]);
    // Another negative version, an empty or oversized address: refused.
    assert!(InitialMessage::decode(&(-5i64).to_be_bytes()).is_err());
    for len in [0i32, -1, 2049] {
        let mut b = BytesMut::new();
        b.put_i64(PROTOCOL_VERSION_V1);
        b.put_i64(3);
        b.put_i32(len);
        assert!(InitialMessage::decode(&b).is_err(), "address length {len}");
    }
}

fn vote(state: PeerState) -> Notification {
    Notification {
        state,
        leader: 3,
        zxid: 0x0000_0002_0000_0010,
        election_epoch: 5,
        peer_epoch: 2,
        version: NOTIFICATION_VERSION,
        config: Some(Bytes::from_static(b"server.1=127.0.0.1:2888:3888:participant\nversion=0")),
    }
}

#[test]
fn notification_layout_round_trips() {
    let n = vote(PeerState::Following);
    let b = n.encode();
    let config_len = n.config.as_ref().unwrap().len();
    assert_eq!(b.len(), 44 + config_len);
    assert_eq!(&b[0..4], &1i32.to_be_bytes(), "state FOLLOWING = 1");
    assert_eq!(&b[4..12], &3i64.to_be_bytes(), "leader");
    assert_eq!(&b[12..20], &0x0000_0002_0000_0010i64.to_be_bytes(), "zxid");
    assert_eq!(&b[20..28], &5i64.to_be_bytes(), "electionEpoch");
    assert_eq!(&b[28..36], &2i64.to_be_bytes(), "peerEpoch");
    assert_eq!(&b[36..40], &2i32.to_be_bytes(), "version 2");
    assert_eq!(&b[40..44], &(config_len as i32).to_be_bytes());
    assert_eq!(Notification::decode(&b).unwrap(), Some(n));
}

#[test]
fn notification_old_forms_and_drops() {
    let full = vote(PeerState::Looking).encode();
    // 28 bytes: peerEpoch is the zxid's epoch.
    let n = Notification::decode(&full[..28]).unwrap().unwrap();
    assert_eq!((n.peer_epoch, n.version, n.config), (2, 0, None));
    // 40 bytes: peerEpoch sent, no version.
    let mut forty = full[..40].to_vec();
    forty[28..36].copy_from_slice(&9i64.to_be_bytes());
    let n = Notification::decode(&forty).unwrap().unwrap();
    assert_eq!((n.peer_epoch, n.version), (9, 0));
    // Too short, between the forms, an unknown state, a config length past the end: dropped.
    assert_eq!(Notification::decode(&full[..27]).unwrap(), None);
    assert_eq!(Notification::decode(&full[..33]).unwrap(), None);
    let mut bad = full.to_vec();
    bad[0..4].copy_from_slice(&9i32.to_be_bytes());
    assert_eq!(Notification::decode(&bad).unwrap(), None);
    let mut long = full.to_vec();
    long[40..44].copy_from_slice(&10_000i32.to_be_bytes());
    assert_eq!(Notification::decode(&long).unwrap(), None);
}

#[test]
fn membership_text_is_zookeepers() {
    let servers = vec![
        ServerSpec::parse("2", "127.0.0.1:2889:3889;2182").unwrap(),
        ServerSpec::parse("1", "127.0.0.1:2888:3888").unwrap(),
        ServerSpec::parse("3", "127.0.0.1:2890:3890:observer").unwrap(),
    ];
    assert_eq!(
        membership_text(&servers, 0),
        "server.1=127.0.0.1:2888:3888:participant\n\
         server.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182\n\
         server.3=127.0.0.1:2890:3890:observer\n\
         version=0"
    );
}

#[test]
fn quorum_packet_layout_and_stream_decoding() {
    // A bare packet: 20 bytes, null data and null authinfo.
    let p = QuorumPacket::new(packet::UPTODATE, -1, None);
    let mut b = BytesMut::new();
    p.write(&mut b);
    assert_eq!(hex(&b), "0000000cffffffffffffffffffffffffffffffff");
    // Empty data (a PING reply with no sessions) is length 0, not null.
    let mut e = BytesMut::new();
    QuorumPacket::new(packet::PING, 7, Some(Bytes::new())).write(&mut e);
    assert_eq!(hex(&e[12..16]), "00000000");
    // A REQUEST with auth ids, then a PROPOSAL, back to back in one stream.
    let req = QuorumPacket {
        type_: packet::REQUEST,
        zxid: -1,
        data: Some(Bytes::from_static(b"abc")),
        authinfo: Some(vec![Id { scheme: "ip".into(), id: "127.0.0.1".into() }]),
    };
    let prop = QuorumPacket::new(packet::PROPOSAL, 0x1_0000_0001, Some(Bytes::from_static(&[1, 2, 3, 4])));
    let mut stream = BytesMut::new();
    req.write(&mut stream);
    let first_len = stream.len();
    prop.write(&mut stream);
    for cut in 0..first_len {
        assert_eq!(QuorumPacket::decode(&stream[..cut], 1 << 20).unwrap(), None, "prefix of {cut}");
    }
    let (a, used) = QuorumPacket::decode(&stream, 1 << 20).unwrap().unwrap();
    assert_eq!((a, used), (req, first_len));
    let (b2, used2) = QuorumPacket::decode(&stream[used..], 1 << 20).unwrap().unwrap();
    assert_eq!((b2, used + used2), (prop, stream.len()));
    // A data length past the limit is an error at once, not a wait for 2 GB.
    let mut huge = BytesMut::new();
    huge.put_i32(packet::PROPOSAL);
    huge.put_i64(1);
    huge.put_i32(i32::MAX);
    assert!(QuorumPacket::decode(&huge, 1 << 20).is_err());
}

#[test]
fn learner_info_touches_and_forwarded_requests() {
    let li = LearnerInfo { server_id: 2, protocol_version: LEARNER_PROTOCOL_VERSION, config_version: 0 };
    assert_eq!(hex(&to_bytes(&li)), "0000000000000002000100000000000000000000");
    let touches = vec![(0x0100_0000_0000_0001, 30000), (5, 4000)];
    let d = encode_session_touches(&touches);
    assert_eq!(d.len(), 24);
    assert_eq!(decode_session_touches(&d), touches);
    let f = ForwardedRequest { session_id: 9, cxid: 3, op: 1, body: Bytes::from_static(b"body") };
    let e = f.encode();
    assert_eq!(&e[..16], &[0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 3, 0, 0, 0, 1]);
    assert_eq!(ForwardedRequest::decode(&e).unwrap(), f);
}
