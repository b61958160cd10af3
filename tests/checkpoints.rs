//! The checkpoint registry over real sockets: what a stock client sees (a job created with
//! one create, a commit answered with exactly its own two results, `latest` and its watch,
//! every refusal's error code with nothing stored), fencing across a session expiry on a
//! standalone server, and across a leader failover of a three-member ensemble (the old
//! writer's commit refused, the new one's accepted), with every member's registry identical;
//! an Apache ZooKeeper member of a mixed ensemble applies the registry's txns unchanged.

mod common;
mod ensemble_support;
mod zk_support;

use bytes::Bytes;
use std::time::{Duration, Instant};
use zabkeeper::client::{Client, ClientError, ConnectOptions};
use zabkeeper::prep::checkpoint_name;
use zabkeeper::proto::codes::{op, ErrorCode};
use zabkeeper::proto::records::{CreateTtlRequest, PathVersionRequest, Stat};
use zabkeeper::proto::request::{MultiOp, MultiResult};

fn opts(timeout_ms: i32) -> ConnectOptions {
    ConnectOptions { timeout_ms, connect_timeout: Duration::from_secs(5), ..Default::default() }
}

fn checkpoint_json(id: u64, epoch: i64) -> String {
    format!(r#"{{"id": {id}, "location": "file:///state/chk-{id}", "size": 4096, "epoch": {epoch}}}"#)
}

fn open_acl() -> Vec<zabkeeper::proto::records::Acl> {
    vec![zabkeeper::proto::records::Acl::new(31, "world", "anyone")]
}

/// A request's answer within a generous deadline: a request the server never answers fails
/// the test instead of hanging it (our client, like ZooKeeper's, has no request timeout).
async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f).await.expect("no answer within 60 s")
}

/// A multi's answer: its results, or the error with the per-op results.
type MultiAnswer = Result<Vec<MultiResult>, (ClientError, Vec<MultiResult>)>;

/// The commit as documented: a check on the lease, then the create of the checkpoint.
async fn commit(c: &Client, job: &str, id: u64, epoch: i64) -> MultiAnswer {
    let req = CreateTtlRequest {
        path: format!("/checkpoints/{job}/completed/{}", checkpoint_name(id)),
        data: Some(Bytes::from(checkpoint_json(id, epoch))),
        acl: open_acl(),
        flags: 0,
        ttl: 0,
    };
    c.multi(&[
        MultiOp::Check(PathVersionRequest { path: format!("/checkpoints/{job}/leader"), version: -1 }),
        MultiOp::Create { op: op::CREATE, req },
    ])
    .await
}

fn code(e: &ClientError) -> Option<ErrorCode> {
    match e {
        ClientError::Server(c) => Some(*c),
        _ => None,
    }
}

async fn completed(c: &Client, job: &str) -> Vec<String> {
    let mut v = c
        .get_children(&format!("/checkpoints/{job}/completed"), false)
        .await
        .unwrap_or_else(|e| panic!("children of {job}: {e:?}"))
        .0;
    v.sort();
    v
}

/// A job with a lease held by `holder`: the lease's czxid, the fencing epoch.
async fn job_with_lease(admin: &Client, holder: &Client, job: &str, meta: &str) -> i64 {
    let (path, _) = admin.create(&format!("/checkpoints/{job}"), Some(meta.as_bytes()), None, 0, 0).await.expect("job");
    assert_eq!(path, format!("/checkpoints/{job}"), "a single create is answered with its own path");
    assert!(admin.exists(&format!("/checkpoints/{job}/completed"), false).await.expect("exists").is_some());
    let (_, stat) = holder.create(&format!("/checkpoints/{job}/leader"), Some(b"jm"), None, 1, 0).await.expect("lease");
    stat.czxid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_requests_see_the_registry_rules() {
    let srv = common::start_server().await;
    let (admin, _) = Client::connect(&srv.connect_string(), opts(10_000)).await.expect("connect");
    let (jm, mut jm_events) = Client::connect(&srv.connect_string(), opts(10_000)).await.expect("connect");
    let (other, _) = Client::connect(&srv.connect_string(), opts(10_000)).await.expect("connect");
    admin.create("/checkpoints", None, None, 0, 0).await.expect("root");
    let epoch = job_with_lease(&admin, &jm, "wordcount", r#"{"retain": 2, "name": "WordCount"}"#).await;

    let results = commit(&jm, "wordcount", 1, epoch).await.expect("commit 1");
    assert_eq!(results.len(), 2, "answered for its own two ops only: {results:?}");
    assert!(matches!(&results[1], MultiResult::Create { path, .. } if path.ends_with(&checkpoint_name(1))));
    let (latest, _) = jm.get_data("/checkpoints/wordcount/latest", true).await.expect("latest");
    assert_eq!(latest.as_deref(), Some(checkpoint_json(1, epoch).as_bytes()));
    for id in [2, 3] {
        assert_eq!(commit(&jm, "wordcount", id, epoch).await.expect("commit").len(), 2);
    }
    // The watch set on latest fired for the next commit.
    let ev = tokio::time::timeout(Duration::from_secs(10), jm_events.recv()).await.expect("event").expect("open");
    assert_eq!(ev.path.as_deref(), Some("/checkpoints/wordcount/latest"));
    assert_eq!(ev.event_type, 3, "NodeDataChanged");
    assert_eq!(completed(&admin, "wordcount").await, vec![checkpoint_name(2), checkpoint_name(3)], "retain 2");

    let before = tree(&admin).await;
    let refusals: Vec<(&str, MultiAnswer, ErrorCode)> = vec![
        ("an id that exists", commit(&jm, "wordcount", 2, epoch).await, ErrorCode::NodeExists),
        ("a lower id (retention deleted it)", commit(&jm, "wordcount", 1, epoch).await, ErrorCode::BadArguments),
        ("another session", commit(&other, "wordcount", 4, epoch).await, ErrorCode::NoAuth),
        ("a stale epoch", commit(&jm, "wordcount", 4, epoch - 1).await, ErrorCode::BadVersion),
    ];
    for (what, r, want) in refusals {
        let (e, results) = r.expect_err(what);
        assert_eq!(code(&e), Some(want), "{what}: {e:?}");
        assert_eq!(results.len(), 2, "{what}: one result per op sent: {results:?}");
    }
    let malformed = other.create("/checkpoints/job2", Some(b"{not json"), None, 0, 0).await.expect_err("malformed");
    assert_eq!(code(&malformed), Some(ErrorCode::BadArguments));
    let set = other.set_data("/checkpoints/wordcount/latest", Some(b"{}"), -1).await.expect_err("latest by another");
    assert_eq!(code(&set), Some(ErrorCode::NoAuth));
    let del = other.delete(&format!("/checkpoints/wordcount/completed/{}", checkpoint_name(3)), -1).await;
    assert_eq!(del.as_ref().err().and_then(code), Some(ErrorCode::NoAuth));
    assert_eq!(tree(&admin).await, before, "a refusal stores nothing");

    // Session expiry: the lease goes with the session; the next JobManager's lease has a new
    // epoch, and a zombie commit (the old epoch, from the old process's new session) is refused.
    let jm_id = jm.session_id;
    drop(jm);
    let until = Instant::now() + Duration::from_secs(60);
    while admin.exists("/checkpoints/wordcount/leader", false).await.expect("exists").is_some() {
        assert!(Instant::now() < until, "session 0x{jm_id:x} never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (jm2, _) = Client::connect(&srv.connect_string(), opts(10_000)).await.expect("connect");
    let (_, lease) = jm2.create("/checkpoints/wordcount/leader", Some(b"jm-2"), None, 1, 0).await.expect("lease");
    assert!(lease.czxid > epoch);
    let (zombie, _) = Client::connect(&srv.connect_string(), opts(10_000)).await.expect("connect");
    let (e, _) = commit(&zombie, "wordcount", 4, epoch).await.expect_err("zombie");
    assert_eq!(code(&e), Some(ErrorCode::NoAuth));
    let (e, _) = commit(&jm2, "wordcount", 4, epoch).await.expect_err("old epoch");
    assert_eq!(code(&e), Some(ErrorCode::BadVersion));
    commit(&jm2, "wordcount", 4, lease.czxid).await.expect("the new writer commits");
    assert_eq!(completed(&admin, "wordcount").await, vec![checkpoint_name(3), checkpoint_name(4)]);
}

/// Every znode under /checkpoints with its data and Stat.
async fn tree(c: &Client) -> Vec<(String, Option<Bytes>, Stat)> {
    let mut out = Vec::new();
    let mut todo = vec!["/checkpoints".to_string()];
    while let Some(p) = todo.pop() {
        let (data, stat) = c.get_data(&p, false).await.expect("getData");
        for ch in c.get_children(&p, false).await.expect("children").0 {
            todo.push(format!("{p}/{ch}"));
        }
        out.push((p, data, stat));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn fencing_holds_across_a_leader_failover() {
    let mut e = ensemble_support::Ensemble::new(3, 0);
    e.start_all();
    let leader = e.wait_for_roles();
    let followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let hosts: Vec<String> = e.members.iter().map(|m| m.hostport()).collect();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (old_epoch, old_writer) = rt.block_on(async {
        let (admin, _) = Client::connect(&hosts[followers[0]], opts(10_000)).await.expect("connect");
        admin.create("/checkpoints", None, None, 0, 0).await.expect("root");
        // The first JobManager works through the member that is about to lose its leader
        // role, with a short session that will not survive the failover.
        let (jm, _) = Client::connect(&hosts[leader], opts(1_000)).await.expect("connect");
        let epoch = job_with_lease(&admin, &jm, "etl", "{}").await;
        for id in 1..=3 {
            commit(&jm, "etl", id, epoch).await.unwrap_or_else(|err| panic!("commit {id}: {err:?}\n{}", e.logs()));
        }
        (epoch, jm.session_id)
    });
    e.members[leader].kill();
    e.wait_for_roles_without(&[leader]);
    rt.block_on(async {
        let (admin, _) = Client::connect(&hosts[followers[0]], opts(10_000)).await.expect("connect");
        // The old writer's session expires on the new leader, and its lease with it.
        let until = Instant::now() + ensemble_support::DEADLINE;
        while admin.exists("/checkpoints/etl/leader", false).await.expect("exists").is_some() {
            assert!(Instant::now() < until, "session 0x{old_writer:x} never expired\n{}", e.logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (jm2, _) = Client::connect(&hosts[followers[1]], opts(10_000)).await.expect("connect");
        let (_, lease) = jm2.create("/checkpoints/etl/leader", Some(b"jm-2"), None, 1, 0).await.expect("lease");
        assert!(lease.czxid > old_epoch);
        // The zombie comes back on a new session (through another member) with its old epoch.
        let (zombie, _) = Client::connect(&hosts[followers[0]], opts(10_000)).await.expect("connect");
        let (err, _) = commit(&zombie, "etl", 4, old_epoch).await.expect_err("the zombie's commit");
        assert_eq!(code(&err), Some(ErrorCode::NoAuth), "{}", e.logs());
        commit(&jm2, "etl", 4, lease.czxid).await.unwrap_or_else(|err| panic!("the new writer: {err:?}\n{}", e.logs()));
    });
    e.start(leader);
    e.wait_for_roles();
    rt.block_on(async {
        let mut trees = Vec::new();
        for h in &hosts {
            let (c, _) = Client::connect(h, opts(10_000)).await.expect("connect");
            c.sync("/").await.expect("sync");
            let (latest, _) = c.get_data("/checkpoints/etl/latest", false).await.expect("latest");
            let want = checkpoint_json(4, lease_epoch(&c).await);
            assert_eq!(latest.as_deref(), Some(want.as_bytes()), "{h}");
            assert_eq!(completed(&c, "etl").await, (2..=4).map(checkpoint_name).collect::<Vec<_>>(), "{h}");
            trees.push(tree(&c).await);
        }
        assert_eq!(trees[0], trees[1]);
        assert_eq!(trees[0], trees[2]);
    });
}

/// The current lease's czxid as seen through `c`.
async fn lease_epoch(c: &Client) -> i64 {
    c.exists("/checkpoints/etl/leader", false).await.expect("exists").expect("a lease").czxid
}

/// Two of ours (one leading) and one Apache ZooKeeper 3.8 member: the registry's txns are
/// ordinary multis, so the ZooKeeper member applies them unchanged — its tree is byte for byte
/// ours — and its clients use the registry like any other (the rules run on our leader, where
/// their writes are prepared): a lease, commits, a refused zombie.
#[test]
fn a_zookeeper_member_applies_registry_txns_unchanged() {
    let mut e = ensemble_support::Ensemble::mixed(3, 0, &[3]);
    e.start_all();
    let leader = e.lead_by_kind(false);
    let zookeeper = 2;
    let ours = (0..2).find(|&i| i != leader).expect("our follower");
    let hosts: Vec<String> = e.members.iter().map(|m| m.hostport()).collect();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let (admin, _) = Client::connect(&hosts[ours], opts(10_000)).await.expect("connect");
        admin.create("/checkpoints", None, None, 0, 0).await.expect("root");
        // A JobManager on our follower, retention and latest at work.
        let (jm, _) = Client::connect(&hosts[ours], opts(10_000)).await.expect("connect");
        let epoch = job_with_lease(&admin, &jm, "etl", r#"{"retain": 2}"#).await;
        for id in 1..=3 {
            commit(&jm, "etl", id, epoch).await.unwrap_or_else(|err| panic!("commit {id}: {err:?}\n{}", e.logs()));
        }
        // Clients of the ZooKeeper member: a job created in the form every member answers
        // (one multi creating the job and its completed child: a plain create, which the
        // registry expands into a multi txn, is never answered by a ZooKeeper member — see
        // the README), a lease, commits, and a zombie refused with the registry's code.
        let (zk_admin, _) = Client::connect(&hosts[zookeeper], opts(10_000)).await.expect("connect zk member");
        let (zk_jm, _) = Client::connect(&hosts[zookeeper], opts(10_000)).await.expect("connect zk member");
        let job_ops = ["/checkpoints/ingest", "/checkpoints/ingest/completed"].map(|p| {
            let data = (!p.ends_with("completed")).then(|| br#"{"retain": 1}"#.to_vec().into());
            MultiOp::Create {
                op: op::CREATE,
                req: CreateTtlRequest { path: p.into(), data, acl: open_acl(), flags: 0, ttl: 0 },
            }
        });
        let created = within(zk_admin.multi(&job_ops)).await.expect("job through the ZooKeeper member");
        assert_eq!(created.len(), 2, "{created:?}");
        let (_, lease) = zk_jm.create("/checkpoints/ingest/leader", Some(b"jm"), None, 1, 0).await.expect("lease");
        let zk_epoch = lease.czxid;
        for id in [10, 11] {
            let r = commit(&zk_jm, "ingest", id, zk_epoch).await;
            r.unwrap_or_else(|err| panic!("commit {id} through ZooKeeper: {err:?}\n{}", e.logs()));
        }
        let (err, _) = commit(&zk_admin, "etl", 4, epoch).await.expect_err("a commit without the lease");
        assert_eq!(code(&err), Some(ErrorCode::NoAuth), "{}", e.logs());
        let (err, _) = commit(&zk_jm, "ingest", 11, zk_epoch).await.expect_err("an id that is not rising");
        assert_eq!(code(&err), Some(ErrorCode::NodeExists));

        let mut trees = Vec::new();
        for h in &hosts {
            let (c, _) = Client::connect(h, opts(10_000)).await.expect("connect");
            c.sync("/").await.expect("sync");
            assert_eq!(completed(&c, "etl").await, vec![checkpoint_name(2), checkpoint_name(3)], "{h}");
            assert_eq!(completed(&c, "ingest").await, vec![checkpoint_name(11)], "{h}");
            let (latest, _) = c.get_data("/checkpoints/ingest/latest", false).await.expect("latest");
            assert_eq!(latest.as_deref(), Some(checkpoint_json(11, zk_epoch).as_bytes()), "{h}");
            trees.push(tree(&c).await);
        }
        assert_eq!(trees[0], trees[2], "the ZooKeeper member's registry differs from ours");
        assert_eq!(trees[1], trees[2], "the ZooKeeper member's registry differs from ours");
    });
}
