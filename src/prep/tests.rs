//! Prep unit tests: every error code path, outstanding changes, multi results.

use super::*;
use crate::acl::generate_digest;
use bytes::Bytes;

fn ctx(zxid: i64, auth: &[Id]) -> WriteContext<'_> {
    WriteContext { session_id: 0x55, cxid: 1, zxid, time: 1000, auth }
}

fn open() -> Vec<Acl> {
    vec![Acl::new(31, "world", "anyone")]
}

fn create(p: &str, flags: i32) -> Request {
    Request::Create {
        op: op::CREATE,
        req: CreateTtlRequest { path: p.into(), data: Some(Bytes::from_static(b"d")), acl: open(), flags, ttl: 0 },
    }
}

fn err_of(t: &Txn) -> i32 {
    match &t.body {
        TxnBody::Error(e) => e.err,
        _ => 0,
    }
}

/// Prepares and applies, like a server with an instant log.
fn run(prep: &mut Prep, tree: &mut DataTree, zxid: i64, req: &Request) -> Txn {
    let t = prep.prepare(tree, &ctx(zxid, &[]), req);
    tree.apply(&t);
    prep.applied(zxid);
    t
}

#[test]
fn create_errors() {
    let mut p = Prep::new(PrepOptions::default());
    let mut t = DataTree::new();
    assert_eq!(err_of(&run(&mut p, &mut t, 1, &create("/a/b", 0))), ErrorCode::NoNode.code());
    assert_eq!(err_of(&run(&mut p, &mut t, 2, &create("a", 0))), ErrorCode::BadArguments.code());
    // A missing parent wins over path validation (ZooKeeper looks the parent up first).
    assert_eq!(err_of(&run(&mut p, &mut t, 3, &create("/a/", 0))), ErrorCode::NoNode.code());
    assert_eq!(err_of(&run(&mut p, &mut t, 4, &create("/a", 9))), ErrorCode::BadArguments.code());
    assert_eq!(err_of(&run(&mut p, &mut t, 5, &create("/a", 0))), 0);
    assert_eq!(err_of(&run(&mut p, &mut t, 6, &create("/a", 0))), ErrorCode::NodeExists.code());
    // With the parent there, the rest of the path is validated.
    for (i, bad) in ["/a/", "/a/.", "//a", "/a/\0x"].into_iter().enumerate() {
        assert_eq!(
            err_of(&run(&mut p, &mut t, 60 + i as i64, &create(bad, 0))),
            ErrorCode::BadArguments.code(),
            "{bad}"
        );
    }
    for (i, missing) in ["/a//x", "/a/./x", "/a/x/", "x/y"].into_iter().enumerate() {
        assert_eq!(
            err_of(&run(&mut p, &mut t, 70 + i as i64, &create(missing, 0))),
            ErrorCode::NoNode.code(),
            "{missing}"
        );
    }
    // A sequential create may end in '/': the counter makes the name.
    assert_eq!(err_of(&run(&mut p, &mut t, 80, &create("/a/", 2))), 0);
    assert_eq!(err_of(&run(&mut p, &mut t, 7, &create("/e", 1))), 0);
    assert_eq!(err_of(&run(&mut p, &mut t, 8, &create("/e/x", 0))), ErrorCode::NoChildrenForEphemerals.code());
    // TTL disabled by default: UNIMPLEMENTED, like ZooKeeper without extendedTypesEnabled.
    let ttl = Request::Create {
        op: op::CREATE_TTL,
        req: CreateTtlRequest { path: "/t".into(), data: None, acl: open(), flags: 5, ttl: 100 },
    };
    assert_eq!(err_of(&run(&mut p, &mut t, 9, &ttl)), ErrorCode::Unimplemented.code());
    let bad_acl = Request::Create {
        op: op::CREATE,
        req: CreateTtlRequest { path: "/z".into(), data: None, acl: vec![], flags: 0, ttl: 0 },
    };
    assert_eq!(err_of(&run(&mut p, &mut t, 10, &bad_acl)), ErrorCode::InvalidAcl.code());
    // container flag through plain create is refused
    assert_eq!(err_of(&run(&mut p, &mut t, 11, &create("/c", 4))), ErrorCode::BadArguments.code());
}

#[test]
fn ttl_rules_when_enabled() {
    let mut p = Prep::new(PrepOptions { skip_acl: false, ttl_enabled: true, registry: None });
    let mut t = DataTree::new();
    let ttl = |flags, ttl| Request::Create {
        op: op::CREATE_TTL,
        req: CreateTtlRequest { path: "/t".into(), data: None, acl: open(), flags, ttl },
    };
    assert_eq!(err_of(&run(&mut p, &mut t, 1, &ttl(5, 0))), ErrorCode::BadArguments.code());
    assert_eq!(err_of(&run(&mut p, &mut t, 2, &ttl(0, 10))), ErrorCode::BadArguments.code());
    assert_eq!(err_of(&run(&mut p, &mut t, 3, &ttl(5, MAX_TTL + 1))), ErrorCode::BadArguments.code());
    assert_eq!(err_of(&run(&mut p, &mut t, 4, &ttl(5, 1000))), 0);
    assert_eq!(crate::proto::codes::ttl_of_owner(t.get("/t").unwrap().ephemeral_owner), Some(1000));
    assert_eq!(err_of(&run(&mut p, &mut t, 5, &create("/u", 5))), ErrorCode::BadArguments.code());
}

#[test]
fn sequential_names_come_from_parent_cversion_including_pending() {
    let mut p = Prep::new(PrepOptions::default());
    let t = DataTree::new();
    let a = p.prepare(&t, &ctx(1, &[]), &create("/q-", 2));
    let b = p.prepare(&t, &ctx(2, &[]), &create("/q-", 2));
    let path = |t: &Txn| match &t.body {
        TxnBody::Create(c) => c.path.clone(),
        b => panic!("{b:?}"),
    };
    // root's cversion is 2 after /zookeeper's creation? No: the initial tree is restored, cversion 0.
    assert_eq!(path(&a), "/q-0000000000");
    assert_eq!(path(&b), "/q-0000000001");
}

#[test]
fn pending_changes_are_seen_before_apply() {
    let mut p = Prep::new(PrepOptions::default());
    let t = DataTree::new();
    assert_eq!(err_of(&p.prepare(&t, &ctx(1, &[]), &create("/a", 0))), 0);
    assert_eq!(err_of(&p.prepare(&t, &ctx(2, &[]), &create("/a", 0))), ErrorCode::NodeExists.code());
    assert_eq!(err_of(&p.prepare(&t, &ctx(3, &[]), &create("/a/b", 0))), 0);
    let del = Request::Delete(PathVersionRequest { path: "/a".into(), version: -1 });
    assert_eq!(err_of(&p.prepare(&t, &ctx(4, &[]), &del)), ErrorCode::NotEmpty.code());
    let set = Request::SetData(SetDataRequest { path: "/a".into(), data: None, version: 0 });
    assert_eq!(err_of(&p.prepare(&t, &ctx(5, &[]), &set)), 0);
    assert_eq!(err_of(&p.prepare(&t, &ctx(6, &[]), &set)), ErrorCode::BadVersion.code());
    assert!(p.outstanding() > 0);
    p.applied(6);
    assert_eq!(p.outstanding(), 0);
}

#[test]
fn delete_setdata_setacl_check_errors() {
    let mut p = Prep::new(PrepOptions::default());
    let mut t = DataTree::new();
    run(&mut p, &mut t, 1, &create("/a", 0));
    let del = |v| Request::Delete(PathVersionRequest { path: "/a".into(), version: v });
    assert_eq!(
        err_of(&run(&mut p, &mut t, 2, &Request::Delete(PathVersionRequest { path: "/x".into(), version: -1 }))),
        ErrorCode::NoNode.code()
    );
    assert_eq!(err_of(&run(&mut p, &mut t, 3, &del(5))), ErrorCode::BadVersion.code());
    assert_eq!(
        err_of(&run(&mut p, &mut t, 4, &Request::Delete(PathVersionRequest { path: "/".into(), version: -1 }))),
        ErrorCode::BadArguments.code()
    );
    let set = |v| Request::SetData(SetDataRequest { path: "/a".into(), data: None, version: v });
    assert_eq!(err_of(&run(&mut p, &mut t, 5, &set(3))), ErrorCode::BadVersion.code());
    assert_eq!(err_of(&run(&mut p, &mut t, 6, &set(0))), 0);
    assert_eq!(t.get("/a").unwrap().version, 1);
    let check = |v| Request::Check(PathVersionRequest { path: "/a".into(), version: v });
    assert_eq!(err_of(&run(&mut p, &mut t, 7, &check(0))), ErrorCode::BadVersion.code());
    assert_eq!(err_of(&run(&mut p, &mut t, 8, &check(1))), 0);
    let setacl = |acl: Vec<Acl>, v| Request::SetAcl(SetAclRequest { path: "/a".into(), acl, version: v });
    assert_eq!(err_of(&run(&mut p, &mut t, 9, &setacl(vec![], -1))), ErrorCode::InvalidAcl.code());
    assert_eq!(err_of(&run(&mut p, &mut t, 10, &setacl(open(), 4))), ErrorCode::BadVersion.code());
    assert_eq!(err_of(&run(&mut p, &mut t, 11, &setacl(vec![Acl::new(1, "world", "anyone")], 0))), 0);
    assert_eq!(t.get("/a").unwrap().aversion, 1);
    // now only READ: write, admin, check(read ok)
    assert_eq!(err_of(&run(&mut p, &mut t, 12, &set(-1))), ErrorCode::NoAuth.code());
    assert_eq!(err_of(&run(&mut p, &mut t, 13, &setacl(open(), -1))), ErrorCode::NoAuth.code());
    assert_eq!(err_of(&run(&mut p, &mut t, 14, &check(-1))), 0);
    // CREATE/DELETE checked on the parent
    run(
        &mut p,
        &mut t,
        15,
        &Request::SetAcl(SetAclRequest {
            path: "/".into(),
            acl: vec![Acl::new(1 | 16, "world", "anyone")],
            version: -1,
        }),
    );
    assert_eq!(err_of(&run(&mut p, &mut t, 16, &create("/b", 0))), ErrorCode::NoAuth.code());
    assert_eq!(err_of(&run(&mut p, &mut t, 17, &del(-1))), ErrorCode::NoAuth.code());
}

#[test]
fn digest_and_super_auth() {
    let mut p = Prep::new(PrepOptions::default());
    let mut t = DataTree::new();
    let me = [Id { scheme: "digest".into(), id: generate_digest("me:pw") }];
    let req = Request::Create {
        op: op::CREATE,
        req: CreateTtlRequest {
            path: "/mine".into(),
            data: None,
            acl: vec![Acl::new(31, "auth", "")],
            flags: 0,
            ttl: 0,
        },
    };
    let tx = p.prepare(&t, &ctx(1, &me), &req);
    assert_eq!(err_of(&tx), 0);
    t.apply(&tx);
    let set = Request::SetData(SetDataRequest { path: "/mine".into(), data: None, version: -1 });
    assert_eq!(err_of(&p.prepare(&t, &ctx(2, &[]), &set)), ErrorCode::NoAuth.code());
    assert_eq!(err_of(&p.prepare(&t, &ctx(3, &me), &set)), 0);
    let sup = [Id { scheme: "super".into(), id: String::new() }];
    assert_eq!(err_of(&p.prepare(&t, &ctx(4, &sup), &set)), 0);
    let mut skip = Prep::new(PrepOptions { skip_acl: true, ttl_enabled: false, registry: None });
    assert_eq!(err_of(&skip.prepare(&t, &ctx(5, &[]), &set)), 0);
}

#[test]
fn multi_is_all_or_nothing_with_per_op_codes() {
    let mut p = Prep::new(PrepOptions::default());
    let mut t = DataTree::new();
    let c = |path: &str| MultiOp::Create {
        op: op::CREATE,
        req: CreateTtlRequest { path: path.into(), data: None, acl: open(), flags: 0, ttl: 0 },
    };
    let bad = Request::Multi(vec![c("/m1"), c("/m1"), c("/m2")]);
    let tx = run(&mut p, &mut t, 1, &bad);
    match &tx.body {
        TxnBody::Multi(ops) => {
            let codes: Vec<i32> = ops
                .iter()
                .map(|(_, b)| match b {
                    TxnBody::Error(e) => e.err,
                    _ => 99,
                })
                .collect();
            assert_eq!(codes, vec![0, ErrorCode::NodeExists.code(), ErrorCode::RuntimeInconsistency.code()]);
        }
        b => panic!("{b:?}"),
    }
    assert!(t.get("/m1").is_none());
    assert_eq!(p.outstanding(), 0);
    let good = Request::Multi(vec![
        c("/m1"),
        c("/m1/x"),
        MultiOp::Check(PathVersionRequest { path: "/m1".into(), version: 0 }),
    ]);
    let tx = run(&mut p, &mut t, 2, &good);
    assert!(matches!(tx.body, TxnBody::Multi(ref v) if v.len() == 3));
    assert!(t.get("/m1/x").is_some());
}

#[test]
fn close_session_lists_pending_ephemerals() {
    let mut p = Prep::new(PrepOptions::default());
    let mut t = DataTree::new();
    run(&mut p, &mut t, 1, &create("/e1", 1));
    p.prepare(&t, &ctx(2, &[]), &create("/e2", 1));
    let tx = p.prepare_close_session(&t, 0x55, 3, 1000);
    match tx.body {
        TxnBody::CloseSession(c) => assert_eq!(c.paths2_delete, vec!["/e1", "/e2"]),
        b => panic!("{b:?}"),
    }
}
