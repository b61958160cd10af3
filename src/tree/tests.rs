//! Tree unit tests: every Stat field after each op, watch triggers, ephemerals, quotas,
//! snapshots.

use super::*;
use crate::proto::codes::op;
use crate::proto::records::*;
use bytes::Bytes;

fn hdr(zxid: i64, ty: i32, client: i64) -> TxnHeader {
    TxnHeader { client_id: client, cxid: 1, zxid, time: 1000 + zxid, type_: ty }
}

fn open_acl() -> Vec<Acl> {
    vec![Acl::new(31, "world", "anyone")]
}

fn create(t: &mut DataTree, zxid: i64, p: &str, data: &[u8], eph: i64, pcv: i32) -> ApplyOutcome {
    t.apply(&Txn {
        header: hdr(zxid, op::CREATE, eph),
        body: TxnBody::Create(CreateTxn {
            path: p.into(),
            data: Some(Bytes::copy_from_slice(data)),
            acl: open_acl(),
            ephemeral: eph != 0,
            parent_cversion: pcv,
        }),
    })
}

#[test]
fn initial_tree_has_zookeeper_nodes() {
    let t = DataTree::new();
    assert_eq!(t.children("/").unwrap(), vec!["zookeeper"]);
    assert_eq!(t.children("/zookeeper").unwrap(), vec!["config", "quota"]);
    assert_eq!(t.acl_of(t.get("/zookeeper/config").unwrap())[0].perms, perms::READ);
    assert_eq!(t.node_count(), 4);
    // ZooKeeper's initial nodes hold empty (not null) data; config's aversion is -1.
    for p in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
        assert_eq!(t.get(p).unwrap().data(), Some(&[][..]), "{p}");
    }
    assert_eq!(t.get("/zookeeper/config").unwrap().aversion, -1);
    assert_eq!(t.get("/zookeeper").unwrap().aversion, 0);
}

#[test]
fn create_sets_every_stat_field() {
    let mut t = DataTree::new();
    let out = create(&mut t, 5, "/a", b"hello", 0, 1);
    let OpResult::Created { path, stat } = out.result else { panic!("{:?}", out.result) };
    assert_eq!(path, "/a");
    assert_eq!(
        stat,
        Stat {
            czxid: 5,
            mzxid: 5,
            ctime: 1005,
            mtime: 1005,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: 0,
            data_length: 5,
            num_children: 0,
            pzxid: 5
        }
    );
    let root = t.get("/").unwrap().stat();
    // Stored cversion 1 (one create), shown as 2*1 - 2 children, as ZooKeeper shows it.
    assert_eq!((root.cversion, root.pzxid, root.num_children), (0, 5, 2));
    assert_eq!(out.triggers, vec![Trigger::Created("/a".into()), Trigger::ChildrenChanged("/".into())]);
    assert_eq!(t.last_zxid(), 5);
}

#[test]
fn set_data_and_acl_and_delete_update_stats() {
    let mut t = DataTree::new();
    create(&mut t, 1, "/a", b"x", 0, 1);
    create(&mut t, 2, "/a/b", b"", 0, 1);
    let out = t.apply(&Txn {
        header: hdr(3, op::SET_DATA, 9),
        body: TxnBody::SetData(SetDataTxn { path: "/a".into(), data: Some(Bytes::from_static(b"yy")), version: 1 }),
    });
    let OpResult::SetData(s) = out.result else { panic!() };
    assert_eq!((s.version, s.mzxid, s.mtime, s.czxid, s.data_length, s.num_children), (1, 3, 1003, 1, 2, 1));
    assert_eq!(out.triggers, vec![Trigger::DataChanged("/a".into())]);
    let out = t.apply(&Txn {
        header: hdr(4, op::SET_ACL, 9),
        body: TxnBody::SetAcl(SetAclTxn { path: "/a".into(), acl: vec![Acl::new(1, "world", "anyone")], version: 1 }),
    });
    let OpResult::SetAcl(s) = out.result else { panic!() };
    assert_eq!((s.aversion, s.mzxid), (1, 3));
    assert!(out.triggers.is_empty());
    let out = t.apply(&Txn { header: hdr(5, op::DELETE, 9), body: TxnBody::Delete(DeleteTxn { path: "/a/b".into() }) });
    assert_eq!(out.result, OpResult::Deleted);
    assert_eq!(out.triggers, vec![Trigger::Deleted("/a/b".into()), Trigger::ChildrenChanged("/a".into())]);
    let a = t.get("/a").unwrap().stat();
    assert_eq!((a.cversion, a.pzxid, a.num_children), (2, 5, 0));
    // delete of a non-empty znode / missing znode changes nothing
    create(&mut t, 6, "/a/c", b"", 0, 3);
    let out = t.apply(&Txn { header: hdr(7, op::DELETE, 9), body: TxnBody::Delete(DeleteTxn { path: "/a".into() }) });
    assert_eq!(out.result, OpResult::Error(ErrorCode::NotEmpty));
    assert!(t.get("/a").is_some());
}

#[test]
fn close_session_removes_its_ephemerals_in_one_txn() {
    let mut t = DataTree::new();
    t.apply(&Txn {
        header: hdr(1, op::CREATE_SESSION, 77),
        body: TxnBody::CreateSession(CreateSessionTxn { time_out: 4000 }),
    });
    assert_eq!(t.sessions().get(&77), Some(&4000));
    create(&mut t, 2, "/e1", b"", 77, 1);
    create(&mut t, 3, "/e2", b"", 77, 2);
    create(&mut t, 4, "/p", b"", 0, 3);
    assert_eq!(t.ephemerals_of(77), vec!["/e1", "/e2"]);
    assert_eq!(t.get("/e1").unwrap().stat().ephemeral_owner, 77);
    let out = t.apply(&Txn {
        header: hdr(5, op::CLOSE_SESSION, 77),
        body: TxnBody::CloseSession(CloseSessionTxn { paths2_delete: vec!["/e1".into(), "/e2".into()] }),
    });
    assert_eq!(out.result, OpResult::SessionClosed);
    assert!(t.get("/e1").is_none() && t.get("/e2").is_none() && t.get("/p").is_some());
    assert!(out.triggers.contains(&Trigger::Deleted("/e1".into())));
    assert!(out.triggers.contains(&Trigger::Deleted("/e2".into())));
    assert!(t.sessions().is_empty());
    assert_eq!(t.ephemeral_count(), 0);
}

#[test]
fn containers_and_ttls_are_indexed() {
    let mut t = DataTree::new();
    t.apply(&Txn {
        header: hdr(1, op::CREATE_CONTAINER, 5),
        body: TxnBody::CreateContainer(CreateContainerTxn {
            path: "/c".into(),
            data: None,
            acl: open_acl(),
            parent_cversion: 1,
        }),
    });
    t.apply(&Txn {
        header: hdr(2, op::CREATE_TTL, 5),
        body: TxnBody::CreateTtl(CreateTtlTxn {
            path: "/t".into(),
            data: None,
            acl: open_acl(),
            parent_cversion: 2,
            ttl: 500,
        }),
    });
    assert_eq!(t.get("/c").unwrap().ephemeral_owner, CONTAINER_EPHEMERAL_OWNER);
    assert_eq!(crate::proto::codes::ttl_of_owner(t.get("/t").unwrap().ephemeral_owner), Some(500));
    assert_eq!(t.containers().collect::<Vec<_>>(), vec!["/c"]);
    assert_eq!(t.ttl_nodes().collect::<Vec<_>>(), vec!["/t"]);
    assert_eq!(t.ephemeral_count(), 0);
    assert_eq!(t.get("/c").unwrap().stat().data_length, 0);
}

#[test]
fn failed_multi_changes_nothing() {
    let mut t = DataTree::new();
    let before = t.fingerprint();
    let out = t.apply(&Txn {
        header: hdr(1, op::MULTI, 5),
        body: TxnBody::Multi(vec![
            (op::ERROR, TxnBody::Error(ErrorTxn { err: 0 })),
            (op::ERROR, TxnBody::Error(ErrorTxn { err: -101 })),
            (op::ERROR, TxnBody::Error(ErrorTxn { err: -2 })),
        ]),
    });
    assert_eq!(
        out.result,
        OpResult::Multi(vec![
            OpResult::RolledBack,
            OpResult::Error(ErrorCode::NoNode),
            OpResult::Error(ErrorCode::RuntimeInconsistency)
        ])
    );
    assert_eq!(t.fingerprint(), before);
}

#[test]
fn quotas_track_count_and_bytes() {
    let mut t = DataTree::new();
    create(&mut t, 1, "/q", b"abc", 0, 1);
    create(&mut t, 2, "/zookeeper/quota/q", b"", 0, 1);
    create(&mut t, 3, "/zookeeper/quota/q/zookeeper_limits", b"count=10,bytes=-1", 0, 1);
    create(&mut t, 4, "/zookeeper/quota/q/zookeeper_stats", b"count=0,bytes=0", 0, 2);
    let stats = |t: &DataTree| t.get("/zookeeper/quota/q/zookeeper_stats").unwrap().data().unwrap().to_vec();
    assert_eq!(&*stats(&t), b"count=1,bytes=3");
    create(&mut t, 5, "/q/x", b"12345", 0, 1);
    assert_eq!(&*stats(&t), b"count=2,bytes=8");
    t.apply(&Txn { header: hdr(6, op::DELETE, 0), body: TxnBody::Delete(DeleteTxn { path: "/q/x".into() }) });
    assert_eq!(&*stats(&t), b"count=1,bytes=3");
    // Stats a fuzzy snapshot caught out of step with the znodes it holds are counted again
    // when the snapshot is loaded, as ZooKeeper's setupQuota does.
    set(&mut t, 7, "/zookeeper/quota/q/zookeeper_stats", b"count=99,bytes=5");
    let restored = crate::tree::snapshot::decode(&crate::tree::snapshot::encode(&t)).expect("decode");
    assert_eq!(&*stats(&restored), b"count=1,bytes=3");
}

#[test]
fn snapshot_round_trips_everything() {
    let mut t = DataTree::new();
    t.apply(&Txn {
        header: hdr(1, op::CREATE_SESSION, 77),
        body: TxnBody::CreateSession(CreateSessionTxn { time_out: 4000 }),
    });
    create(&mut t, 2, "/a", b"x", 0, 1);
    create(&mut t, 3, "/a/e", b"y", 77, 1);
    t.apply(&Txn {
        header: hdr(4, op::CREATE, 0),
        body: TxnBody::Create(CreateTxn {
            path: "/n".into(),
            data: None,
            acl: open_acl(),
            ephemeral: false,
            parent_cversion: 2,
        }),
    });
    let bytes = snapshot::encode(&t);
    let back = snapshot::decode(&bytes).unwrap();
    assert_eq!(back.fingerprint(), t.fingerprint());
    assert_eq!(back.last_zxid(), 4);
    assert_eq!(back.sessions(), t.sessions());
    assert_eq!(back.ephemerals_of(77), vec!["/a/e"]);
    assert_eq!(back.get("/n").unwrap().data(), None);
    assert!(snapshot::decode(&bytes[..bytes.len() - 3]).is_err());
}

fn set(t: &mut DataTree, zxid: i64, p: &str, data: &[u8]) -> ApplyOutcome {
    let body = TxnBody::SetData(SetDataTxn { path: p.into(), data: Some(Bytes::copy_from_slice(data)), version: -1 });
    t.apply(&Txn { header: hdr(zxid, op::SET_DATA, 0), body })
}

fn delete(t: &mut DataTree, zxid: i64, p: &str) -> ApplyOutcome {
    t.apply(&Txn { header: hdr(zxid, op::DELETE, 0), body: TxnBody::Delete(DeleteTxn { path: p.into() }) })
}

fn encode_pieces(img: &TreeImage) -> (Vec<u8>, usize) {
    let (mut out, mut pieces) = (Vec::new(), 0);
    snapshot::encode_image(img, |b| {
        out.extend_from_slice(&b);
        pieces += 1;
        Ok::<(), ()>(())
    })
    .unwrap();
    (out, pieces)
}

#[test]
fn image_stays_frozen_while_the_tree_changes() {
    let mut t = DataTree::new();
    let mut z = 1;
    let mut next = || {
        z += 1;
        z
    };
    // Several chunks of slots, nested znodes, and a parent whose slot follows its child's
    // (freed slots are reused last-freed first).
    for i in 0..3000 {
        create(&mut t, next(), &format!("/d{i}"), &[i as u8; 300], 0, -1);
    }
    create(&mut t, next(), "/d1/x", b"nested", 0, -1);
    delete(&mut t, next(), "/d5");
    delete(&mut t, next(), "/d6");
    create(&mut t, next(), "/q", b"parent", 0, -1);
    create(&mut t, next(), "/q/c", b"child", 0, -1);
    let (img, at_image) = (t.image(), t.fingerprint());

    // Change every chunk: data, deletes, slot reuse, new chunks, ACLs.
    for i in (0..3000).step_by(7) {
        set(&mut t, next(), &format!("/d{i}"), b"changed");
    }
    for i in (100..3000).step_by(50) {
        delete(&mut t, next(), &format!("/d{i}"));
    }
    for i in 0..2000 {
        create(&mut t, next(), &format!("/new{i}"), b"n", 0, -1);
    }
    delete(&mut t, next(), "/q/c");
    let acl = vec![Acl::new(perms::READ, "world", "anyone")];
    t.apply(&Txn {
        header: hdr(next(), op::SET_ACL, 0),
        body: TxnBody::SetAcl(SetAclTxn { path: "/d1".into(), acl, version: -1 }),
    });
    assert_ne!(t.fingerprint(), at_image);

    let (bytes, pieces) = encode_pieces(&img);
    assert!(pieces >= 1);
    let back = snapshot::decode(&bytes).unwrap();
    assert_eq!(back.fingerprint(), at_image, "the image is the tree as it was when taken");
    assert_eq!(back.children("/q").unwrap(), vec!["c"]);
    assert_eq!(back.get("/d1").unwrap().num_children(), 1);
    assert_eq!(back.node_count(), img.node_count);
    // And the changed tree still encodes and decodes to itself.
    let now = snapshot::decode(&snapshot::encode(&t)).unwrap();
    assert_eq!(now.fingerprint(), t.fingerprint());
    assert_eq!(now.get("/").unwrap().stat(), t.get("/").unwrap().stat(), "numChildren and cversion rebuilt");
}

#[test]
fn large_images_are_handed_out_in_pieces() {
    let mut t = DataTree::new();
    for i in 0..5000 {
        create(&mut t, 2 + i, &format!("/big{i}"), &[7; 500], 0, -1);
    }
    let (bytes, pieces) = encode_pieces(&t.image());
    assert!(pieces >= 2, "{} bytes in {pieces} piece(s)", bytes.len());
    assert_eq!(snapshot::decode(&bytes).unwrap().fingerprint(), t.fingerprint());
}

#[test]
fn snapshot_without_parent_or_root_is_refused() {
    let mut t = DataTree::new();
    create(&mut t, 2, "/a", b"", 0, -1);
    create(&mut t, 3, "/a/b", b"", 0, -1);
    let bytes = snapshot::encode(&t);
    // Rename "/a" to "/z" in the image: "/a/b" is left without a parent.
    let at = bytes.windows(10).position(|w| w == b"\0\0\0\x02\0\0\0\0/a").expect("the /a record");
    let mut bad = bytes.to_vec();
    bad[at + 9] = b'z';
    assert!(snapshot::decode(&bad).is_err());
}

/// A version 1 or 2 image of `/` and `/a` (data "x") and `/a/b` (null data), parents first,
/// written field by field as those versions laid them out.
fn older_image(version: i32) -> Vec<u8> {
    use bytes::BufMut;
    let mut w = Vec::new();
    w.put_slice(b"ZBKS");
    w.put_i32(version);
    w.put_i64(9); // last zxid
    w.put_i32(1); // one session
    w.put_i64(77);
    w.put_i32(4000);
    let acl = |w: &mut Vec<u8>| {
        w.put_i32(1);
        w.put_i32(31);
        for s in ["world", "anyone"] {
            w.put_i32(s.len() as i32);
            w.put_slice(s.as_bytes());
        }
    };
    if version == 2 {
        w.put_i32(1); // ACL table: id 5
        w.put_u32(5);
        acl(&mut w);
    }
    w.put_i64(3);
    for (i, (p, d)) in [("/", Some(&b""[..])), ("/a", Some(&b"x"[..])), ("/a/b", None)].into_iter().enumerate() {
        w.put_i32(p.len() as i32);
        w.put_slice(p.as_bytes());
        match d {
            Some(d) => {
                w.put_i32(d.len() as i32);
                w.put_slice(d);
            }
            None => w.put_i32(-1),
        }
        if version == 2 {
            w.put_u32(5);
        } else {
            acl(&mut w);
        }
        let z = 2 + i as i64;
        for v in [z, z, 1000 + z, 1000 + z] {
            w.put_i64(v); // czxid mzxid ctime mtime
        }
        for v in [0, 1, 0] {
            w.put_i32(v); // version cversion aversion
        }
        w.put_i64(0); // ephemeral owner
        w.put_i64(z); // pzxid
    }
    w.put_slice(b"ZEND");
    w
}

#[test]
fn older_image_versions_still_decode() {
    for version in [1, 2] {
        let t = snapshot::decode(&older_image(version)).unwrap_or_else(|e| panic!("version {version}: {e}"));
        assert_eq!(t.last_zxid(), 9);
        assert_eq!(t.sessions().get(&77), Some(&4000));
        assert_eq!(t.children("/").unwrap(), vec!["a"]);
        assert_eq!(t.get("/a").unwrap().data(), Some(&b"x"[..]));
        assert_eq!(t.get("/a/b").unwrap().data(), None);
        let st = t.get("/a").unwrap().stat();
        assert_eq!((st.czxid, st.ctime, st.num_children, st.cversion), (3, 1003, 1, 1));
        assert_eq!(t.acl_of(t.get("/a/b").unwrap()).to_vec(), open_acl());
    }
}

/// A stream that hands out at most `step` bytes per read.
struct Trickle<'a> {
    bytes: &'a [u8],
    step: usize,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.step).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

#[test]
fn images_decode_from_streams_in_any_read_sizes() {
    let mut t = DataTree::new();
    create(&mut t, 2, "/small", b"s", 0, -1);
    // Records bigger than the pieces the decoder reads at a time.
    create(&mut t, 3, "/big", &vec![9; 3 << 20], 0, -1);
    create(&mut t, 4, "/big/child", &vec![8; (1 << 20) + 5], 0, -1);
    let bytes = snapshot::encode(&t);
    for step in [1 << 20, 4096] {
        let back = snapshot::decode_from(&mut Trickle { bytes: &bytes, step }, bytes.len() as u64).unwrap();
        assert_eq!(back.fingerprint(), t.fingerprint(), "reads of {step} bytes");
    }
    // Every record split at every byte (a small tree: dribbling megabytes is slow).
    let mut small = DataTree::new();
    create(&mut small, 2, "/a", b"xyz", 0, -1);
    create(&mut small, 3, "/a/b", b"", 77, -1);
    let b = snapshot::encode(&small);
    for step in [1, 3, 7] {
        let back = snapshot::decode_from(&mut Trickle { bytes: &b, step }, b.len() as u64).unwrap();
        assert_eq!(back.fingerprint(), small.fingerprint(), "reads of {step} bytes");
    }
    // Bytes after the end marker, and a stream cut short, are refused.
    let mut extra = bytes.to_vec();
    extra.push(0);
    assert!(snapshot::decode(&extra).is_err());
    assert!(snapshot::decode(&bytes[..bytes.len() - 1]).is_err());
    assert!(snapshot::decode(&bytes[..bytes.len() / 2]).is_err());
}

#[test]
fn stream_errors_surface_from_decode() {
    struct Failing;
    impl std::io::Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "checksum mismatch"))
        }
    }
    let err = snapshot::decode_from(&mut Failing, 100).unwrap_err();
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
}
