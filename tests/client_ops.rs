//! Every client operation through the third-party zookeeper-client crate, checked against the
//! exact values ZooKeeper 3.9 produces (stat fields, sequential names, multi results, errors).

mod common;

use common::{start_server_with, wait_until, zk_connect as connect, zk_persistent as persistent, zk_server as server};
use std::time::Duration;
use zk::{Acls, CreateMode, MultiReadResult, MultiWriteError, MultiWriteResult};
use zookeeper_client as zk;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create2_stat_and_parent_stat() {
    let srv = server().await;
    let c = connect(&srv).await;
    let (p, _) = c.create("/p", b"", &persistent()).await.unwrap();
    let (s, seq) = c.create("/p/a", b"hello", &persistent()).await.unwrap();
    assert_eq!(seq.into_i64(), -1, "not sequential");
    assert!(s.czxid > p.czxid);
    assert_eq!(s.mzxid, s.czxid);
    assert_eq!(s.pzxid, s.czxid, "a new znode's pzxid is its czxid");
    assert_eq!(s.ctime, s.mtime);
    assert_eq!((s.version, s.cversion, s.aversion), (0, 0, 0));
    assert_eq!(s.ephemeral_owner, 0);
    assert_eq!(s.data_length, 5);
    assert_eq!(s.num_children, 0);

    let (data, s2) = c.get_data("/p/a").await.unwrap();
    assert_eq!(data, b"hello");
    assert_eq!(s2, s);

    let (children, ps) = c.get_children("/p").await.unwrap();
    assert_eq!(children, vec!["a".to_string()]);
    assert_eq!(ps.cversion, 1);
    assert_eq!(ps.num_children, 1);
    assert_eq!(ps.pzxid, s.czxid, "parent pzxid is the last child change");
    assert_eq!(ps.mzxid, p.czxid, "a child create does not change the parent's mzxid");
    assert_eq!(ps.version, 0);

    // exists: Some(stat) / None, no error for a missing node.
    assert_eq!(c.check_stat("/p/a").await.unwrap(), Some(s));
    assert_eq!(c.check_stat("/p/missing").await.unwrap(), None);

    // Deleting the child bumps cversion and pzxid again.
    c.delete("/p/a", None).await.unwrap();
    let (children, ps2) = c.get_children("/p").await.unwrap();
    assert!(children.is_empty());
    assert_eq!(ps2.cversion, 2);
    assert_eq!(ps2.num_children, 0);
    assert!(ps2.pzxid > s.czxid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_names_follow_parent_cversion() {
    let srv = server().await;
    let c = connect(&srv).await;
    c.create("/seq", b"", &persistent()).await.unwrap();
    let seq_opts = CreateMode::PersistentSequential.with_acls(Acls::anyone_all());
    let (_, s0) = c.create("/seq/n-", b"", &seq_opts).await.unwrap();
    assert_eq!(s0.to_string(), "0000000000");
    c.create("/seq/x", b"", &persistent()).await.unwrap();
    let (_, s2) = c.create("/seq/n-", b"", &seq_opts).await.unwrap();
    assert_eq!(s2.into_i64(), 2);
    c.delete("/seq/x", None).await.unwrap();
    // The stored cversion counts creates only (ZooKeeper 3.6+): n-0 (1), x (2), n-2 (3); the
    // delete of x does not advance it, so the next sequence number is 3.
    let eph_seq = CreateMode::EphemeralSequential.with_acls(Acls::anyone_all());
    let (es, s4) = c.create("/seq/e-", b"", &eph_seq).await.unwrap();
    assert_eq!(s4.to_string(), "0000000003");
    assert_eq!(es.ephemeral_owner, c.session_id().0);
    // A sequential create directly in a directory ("/seq/") names the child by number only.
    let (_, s5) = c.create("/seq/", b"", &seq_opts).await.unwrap();
    assert_eq!(s5.into_i64(), 4);
    let mut children = c.list_children("/seq").await.unwrap();
    children.sort();
    assert_eq!(children, vec!["0000000004", "e-0000000003", "n-0000000000", "n-0000000002"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_container_and_ttl_stats() {
    let srv = server().await;
    let c = connect(&srv).await;
    let (e, _) = c.create("/eph", b"", &CreateMode::Ephemeral.with_acls(Acls::anyone_all())).await.unwrap();
    assert_eq!(e.ephemeral_owner, c.session_id().0);
    assert_ne!(e.ephemeral_owner, 0);
    let (ct, _) = c.create("/ctr", b"", &CreateMode::Container.with_acls(Acls::anyone_all())).await.unwrap();
    // Clients see 0 for containers and TTL znodes (DataNode.getClientEphemeralOwner).
    assert_eq!(ct.ephemeral_owner, 0);
    let ttl = persistent().with_ttl(Duration::from_secs(3600));
    let (t, _) = c.create("/ttl", b"", &ttl).await.unwrap();
    assert_eq!(t.ephemeral_owner, 0);
    let ttl_seq = CreateMode::PersistentSequential.with_acls(Acls::anyone_all()).with_ttl(Duration::from_secs(3600));
    let (_, seq) = c.create("/ttl-", b"", &ttl_seq).await.unwrap();
    assert!(seq.into_i64() > 0);
    let mut eph = c.list_ephemerals("/").await.unwrap();
    eph.sort();
    assert_eq!(eph, vec!["/eph".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_data_and_delete_check_versions() {
    let srv = server().await;
    let c = connect(&srv).await;
    let (s0, _) = c.create("/v", b"a", &persistent()).await.unwrap();
    assert_eq!(c.set_data("/v", b"bb", Some(1)).await.unwrap_err(), zk::Error::BadVersion);
    let s1 = c.set_data("/v", b"bb", Some(0)).await.unwrap();
    assert_eq!(s1.version, 1);
    assert_eq!(s1.data_length, 2);
    assert!(s1.mzxid > s0.mzxid);
    assert_eq!(s1.czxid, s0.czxid);
    assert_eq!(s1.pzxid, s0.pzxid, "setData leaves pzxid alone");
    assert!(s1.mtime >= s0.mtime);
    let s2 = c.set_data("/v", b"", None).await.unwrap();
    assert_eq!((s2.version, s2.data_length), (2, 0));
    let (data, gs) = c.get_data("/v").await.unwrap();
    assert!(data.is_empty());
    assert_eq!(gs, s2);

    assert_eq!(c.delete("/v", Some(1)).await.unwrap_err(), zk::Error::BadVersion);
    c.delete("/v", Some(2)).await.unwrap();
    assert_eq!(c.delete("/v", None).await.unwrap_err(), zk::Error::NoNode);
    assert_eq!(c.set_data("/v", b"x", None).await.unwrap_err(), zk::Error::NoNode);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_set_acl_track_aversion() {
    let srv = server().await;
    let c = connect(&srv).await;
    let (s0, _) = c.create("/acl", b"", &persistent()).await.unwrap();
    let (acl, st) = c.get_acl("/acl").await.unwrap();
    assert_eq!(acl, vec![zk::Acl::new(zk::Permission::ALL, zk::AuthId::anyone())]);
    assert_eq!(st, s0);
    let read_only = [zk::Acl::new(zk::Permission::READ | zk::Permission::ADMIN, zk::AuthId::anyone())];
    assert_eq!(c.set_acl("/acl", &read_only, Some(3)).await.unwrap_err(), zk::Error::BadVersion);
    let s1 = c.set_acl("/acl", &read_only, Some(0)).await.unwrap();
    assert_eq!(s1.aversion, 1);
    assert_eq!(s1.version, 0);
    assert_eq!(s1.mzxid, s0.mzxid, "setACL does not touch mzxid");
    let (acl, st) = c.get_acl("/acl").await.unwrap();
    assert_eq!(acl, read_only.to_vec());
    assert_eq!(st.aversion, 1);
    assert_eq!(c.get_acl("/nope").await.unwrap_err(), zk::Error::NoNode);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semantic_errors() {
    let srv = server().await;
    let c = connect(&srv).await;
    assert_eq!(c.create("/a/b", b"", &persistent()).await.unwrap_err(), zk::Error::NoNode);
    c.create("/a", b"", &persistent()).await.unwrap();
    assert_eq!(c.create("/a", b"", &persistent()).await.unwrap_err(), zk::Error::NodeExists);
    c.create("/a/b", b"", &persistent()).await.unwrap();
    assert_eq!(c.delete("/a", None).await.unwrap_err(), zk::Error::NotEmpty);
    c.create("/e", b"", &CreateMode::Ephemeral.with_acls(Acls::anyone_all())).await.unwrap();
    assert_eq!(c.create("/e/child", b"", &persistent()).await.unwrap_err(), zk::Error::NoChildrenForEphemerals);
    assert_eq!(c.get_data("/zz").await.unwrap_err(), zk::Error::NoNode);
    assert_eq!(c.get_children("/zz").await.unwrap_err(), zk::Error::NoNode);
    assert_eq!(c.count_descendants_number("/zz").await.unwrap_err(), zk::Error::NoNode);
    // An "auth" ACL without any authenticated identity is an invalid ACL (server side).
    let creator = CreateMode::Persistent.with_acls(Acls::creator_all());
    assert_eq!(c.create("/creator", b"", &creator).await.unwrap_err(), zk::Error::InvalidAcl);
    // A digest id must be "user:hash".
    let bad = [zk::Acl::new(zk::Permission::ALL, zk::AuthId::new("digest", "nocolon"))];
    assert_eq!(
        c.create("/bad", b"", &CreateMode::Persistent.with_acls(Acls::new(&bad))).await.unwrap_err(),
        zk::Error::InvalidAcl
    );
    let unknown = [zk::Acl::new(zk::Permission::ALL, zk::AuthId::new("nosuchscheme", "x"))];
    assert_eq!(
        c.create("/bad", b"", &CreateMode::Persistent.with_acls(Acls::new(&unknown))).await.unwrap_err(),
        zk::Error::InvalidAcl
    );
    assert_eq!(c.check_stat("/bad").await.unwrap(), None, "failed creates leave nothing behind");
    // The client still works after every error.
    c.create("/after", b"ok", &persistent()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_success_results() {
    let srv = server().await;
    let c = connect(&srv).await;
    let (m, _) = c.create("/m", b"", &persistent()).await.unwrap();
    c.create("/m/old", b"", &persistent()).await.unwrap();
    let mut w = c.new_multi_writer();
    w.add_check_version("/m", 0).unwrap();
    w.add_create("/m/new", b"abc", &persistent()).unwrap();
    w.add_set_data("/m/new", b"abcd", Some(0)).unwrap();
    w.add_create("/m/s-", b"", &CreateMode::PersistentSequential.with_acls(Acls::anyone_all())).unwrap();
    w.add_delete("/m/old", None).unwrap();
    let res = w.commit().await.unwrap();
    assert_eq!(res.len(), 5);
    assert_eq!(res[0], MultiWriteResult::Check);
    // ZooKeeper 3.8 reads a create in a multi by its flags, as a plain create (whatever op
    // code the client sent): its result carries the path and no Stat.
    let MultiWriteResult::Create { path, .. } = &res[1] else { panic!("{:?}", res[1]) };
    assert_eq!(path, "/m/new");
    let MultiWriteResult::SetData { stat: ss } = &res[2] else { panic!("{:?}", res[2]) };
    assert_eq!((ss.version, ss.data_length), (1, 4));
    // Every op of a multi shares one zxid.
    let cs = c.check_stat("/m/new").await.unwrap().expect("created");
    assert_eq!(ss.mzxid, cs.czxid);
    let MultiWriteResult::Create { path, .. } = &res[3] else { panic!("{:?}", res[3]) };
    // cversion of /m: old (1), new (2) → the sequential child is numbered 2.
    assert_eq!(path, "/m/s-0000000002");
    assert_eq!(res[4], MultiWriteResult::Delete);
    let (children, ms) = c.get_children("/m").await.unwrap();
    let mut children = children;
    children.sort();
    assert_eq!(children, vec!["new", "s-0000000002"]);
    assert_eq!(ms.cversion, 4);
    assert_eq!(ms.pzxid, cs.czxid);
    assert_eq!(ms.mzxid, m.mzxid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_failure_rolls_back() {
    let srv = server().await;
    let c = connect(&srv).await;
    c.create("/f", b"orig", &persistent()).await.unwrap();
    let before = c.get_data("/f").await.unwrap();
    let mut w = c.new_multi_writer();
    w.add_create("/f/child", b"", &persistent()).unwrap();
    w.add_set_data("/f", b"changed", None).unwrap();
    w.add_check_version("/f", 7).unwrap();
    w.add_delete("/f/child", None).unwrap();
    let err = w.commit().await.unwrap_err();
    assert_eq!(err, MultiWriteError::OperationFailed { index: 2, source: zk::Error::BadVersion });
    assert_eq!(c.check_stat("/f/child").await.unwrap(), None);
    assert_eq!(c.get_data("/f").await.unwrap(), before, "earlier ops rolled back");

    let mut w = c.new_multi_writer();
    w.add_create("/g", b"", &persistent()).unwrap();
    w.add_create("/g", b"", &persistent()).unwrap();
    let err = w.commit().await.unwrap_err();
    assert_eq!(err, MultiWriteError::OperationFailed { index: 1, source: zk::Error::NodeExists });
    assert_eq!(c.check_stat("/g").await.unwrap(), None);

    // check_writer: the leading check failing is reported separately.
    let mut cw = c.new_check_writer("/missing", None).unwrap();
    cw.add_create("/h", b"", &persistent()).unwrap();
    let err = cw.commit().await.unwrap_err();
    assert_eq!(err, zk::CheckWriteError::CheckFailed { source: zk::Error::NoNode });
    assert_eq!(c.check_stat("/h").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_read_reports_per_op_results() {
    let srv = server().await;
    let c = connect(&srv).await;
    let (s, _) = c.create("/r", b"data", &persistent()).await.unwrap();
    c.create("/r/k", b"", &persistent()).await.unwrap();
    let mut r = c.new_multi_reader();
    r.add_get_data("/r").unwrap();
    r.add_get_children("/r").unwrap();
    r.add_get_data("/r/none").unwrap();
    r.add_get_children("/none").unwrap();
    let res = r.commit().await.unwrap();
    assert_eq!(res.len(), 4);
    match &res[0] {
        MultiReadResult::Data { data, stat } => {
            assert_eq!(data, b"data");
            assert_eq!(stat.czxid, s.czxid);
            assert_eq!(stat.num_children, 1);
        }
        other => panic!("{other:?}"),
    }
    match &res[1] {
        MultiReadResult::Children { children } => assert_eq!(children, &vec!["k".to_string()]),
        other => panic!("{other:?}"),
    }
    assert!(matches!(&res[2], MultiReadResult::Error { err: zk::Error::NoNode }), "{:?}", res[2]);
    assert!(matches!(&res[3], MultiReadResult::Error { err: zk::Error::NoNode }), "{:?}", res[3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_ephemerals_counts_and_who_am_i() {
    let srv = server().await;
    let c = connect(&srv).await;
    c.create("/t", b"", &persistent()).await.unwrap();
    c.create("/t/a", b"", &persistent()).await.unwrap();
    c.create("/t/a/b", b"", &persistent()).await.unwrap();
    c.create("/t/a/b/c", b"", &persistent()).await.unwrap();
    let eph = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
    c.create("/t/e1", b"", &eph).await.unwrap();
    c.create("/t/a/e2", b"", &eph).await.unwrap();
    c.create("/other", b"", &eph).await.unwrap();
    c.sync("/t").await.unwrap();
    assert_eq!(c.count_descendants_number("/t").await.unwrap(), 5);
    assert_eq!(c.count_descendants_number("/t/a/b/c").await.unwrap(), 0);
    let mut all = c.list_ephemerals("/").await.unwrap();
    all.sort();
    assert_eq!(all, vec!["/other", "/t/a/e2", "/t/e1"]);
    let mut under = c.list_ephemerals("/t").await.unwrap();
    under.sort();
    assert_eq!(under, vec!["/t/a/e2", "/t/e1"]);
    // Another session sees none of them as its own.
    let c2 = connect(&srv).await;
    assert!(c2.list_ephemerals("/").await.unwrap().is_empty());

    let users = c.list_auth_users().await.unwrap();
    assert_eq!(users, vec![zk::AuthUser::new("ip", "127.0.0.1")]);
    c.auth("digest", b"alice:secret").await.unwrap();
    let users = c.list_auth_users().await.unwrap();
    assert_eq!(users.len(), 2, "{users:?}");
    assert!(users.iter().any(|u| u.scheme() == "digest" && u.user().starts_with("alice")), "{users:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emptied_container_is_removed() {
    let srv = server().await;
    let c = connect(&srv).await;
    let container = CreateMode::Container.with_acls(Acls::anyone_all());
    c.create("/never-used", b"", &container).await.unwrap();
    c.create("/used", b"", &container).await.unwrap();
    c.create("/used/x", b"", &persistent()).await.unwrap();
    c.delete("/used/x", None).await.unwrap();
    wait_until(20, "emptied container deleted", || async { c.check_stat("/used").await.unwrap().is_none() }).await;
    // A container that never had a child stays (ZooKeeper only reaps cversion > 0).
    assert!(c.check_stat("/never-used").await.unwrap().is_some());
    // A container with a child stays until the child goes.
    c.create("/busy", b"", &container).await.unwrap();
    c.create("/busy/x", b"", &persistent()).await.unwrap();
    c.create("/used2", b"", &container).await.unwrap();
    c.create("/used2/x", b"", &persistent()).await.unwrap();
    c.delete("/used2/x", None).await.unwrap();
    wait_until(20, "second container deleted", || async { c.check_stat("/used2").await.unwrap().is_none() }).await;
    assert!(c.check_stat("/busy").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_node_expires_when_childless() {
    let srv = server().await;
    let c = connect(&srv).await;
    let ttl = persistent().with_ttl(Duration::from_millis(300));
    c.create("/ttl-parent", b"", &ttl).await.unwrap();
    c.create("/ttl-parent/kid", b"", &persistent()).await.unwrap();
    c.create("/ttl-leaf", b"", &ttl).await.unwrap();
    let long = persistent().with_ttl(Duration::from_secs(3600));
    c.create("/ttl-long", b"", &long).await.unwrap();
    wait_until(20, "TTL node expired", || async { c.check_stat("/ttl-leaf").await.unwrap().is_none() }).await;
    assert!(c.check_stat("/ttl-parent").await.unwrap().is_some(), "a TTL node with children stays");
    assert!(c.check_stat("/ttl-long").await.unwrap().is_some());
    c.delete("/ttl-parent/kid", None).await.unwrap();
    wait_until(20, "TTL parent expired", || async { c.check_stat("/ttl-parent").await.unwrap().is_none() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_rejected_when_extended_types_disabled() {
    let srv = start_server_with(|c| c.extended_types_enabled = false).await;
    let c = connect(&srv).await;
    let ttl = persistent().with_ttl(Duration::from_secs(10));
    assert_eq!(c.create("/ttl", b"", &ttl).await.unwrap_err(), zk::Error::Unimplemented);
    assert_eq!(c.check_stat("/ttl").await.unwrap(), None);
}
