//! The registry's rules through `Prep`, against a real `DataTree`: every refusal with its
//! error code and nothing stored, retention, `latest`, fencing, pipelined commits.

use super::*;
use crate::prep::PrepOptions;
use crate::proto::records::Id;
use crate::proto::request::MultiOp;
use crate::txn::{Txn, TxnBody};

const A: i64 = 0xa;
const B: i64 = 0xb;

struct World {
    prep: Prep,
    tree: DataTree,
    zxid: i64,
}

fn open() -> Vec<Acl> {
    vec![Acl::new(31, "world", "anyone")]
}

fn create(p: &str, data: Option<&str>, flags: i32) -> Request {
    let data = data.map(|d| Bytes::copy_from_slice(d.as_bytes()));
    Request::Create { op: op::CREATE, req: CreateTtlRequest { path: p.into(), data, acl: open(), flags, ttl: 0 } }
}

fn checkpoint_json(id: u64, epoch: i64) -> String {
    format!(
        r#"{{"id": {id}, "location": "s3://bucket/chk-{id}", "size": 1024, "epoch": {epoch}, "sources": {{"t-0": 17}}}}"#
    )
}

/// The commit as clients send it: a check on the lease, then the create.
fn commit(job: &str, id: u64, data: &str) -> Request {
    let path = format!("/checkpoints/{job}/completed/{}", checkpoint_name(id));
    let Request::Create { op: o, req } = create(&path, Some(data), 0) else { unreachable!() };
    Request::Multi(vec![
        MultiOp::Check(PathVersionRequest { path: format!("/checkpoints/{job}/leader"), version: -1 }),
        MultiOp::Create { op: o, req },
    ])
}

/// The error code a txn carries: a plain error txn's, or a failed multi's first non-zero one.
fn err_of(t: &Txn) -> i32 {
    match &t.body {
        TxnBody::Error(e) => e.err,
        TxnBody::Multi(ops) => ops
            .iter()
            .find_map(|(_, b)| match b {
                TxnBody::Error(e) if e.err != 0 => Some(e.err),
                _ => None,
            })
            .unwrap_or(0),
        _ => 0,
    }
}

impl World {
    fn new(registry: Option<RegistryOptions>) -> World {
        let mut w = World {
            prep: Prep::new(PrepOptions { registry, ..PrepOptions::default() }),
            tree: DataTree::new(),
            zxid: 0,
        };
        assert_eq!(w.run(A, &create("/checkpoints", None, 0)), 0);
        w
    }

    fn prepare(&mut self, session: i64, req: &Request) -> Txn {
        self.zxid += 1;
        let auth: [Id; 0] = [];
        let ctx = WriteContext { session_id: session, cxid: 1, zxid: self.zxid, time: 1000, auth: &auth };
        self.prep.prepare(&self.tree, &ctx, req)
    }

    fn apply(&mut self, t: &Txn) {
        self.tree.apply(t);
        self.prep.applied(t.header.zxid);
    }

    /// Prepares and applies at once; the error code (0: done).
    fn run(&mut self, session: i64, req: &Request) -> i32 {
        let t = self.prepare(session, req);
        self.apply(&t);
        err_of(&t)
    }

    fn data(&self, p: &str) -> Option<String> {
        self.tree.get(p).map(|n| String::from_utf8_lossy(n.data().unwrap_or_default()).into_owned())
    }

    fn completed(&self, job: &str) -> Vec<String> {
        let n = self.tree.get(&format!("/checkpoints/{job}/completed")).expect("completed");
        self.tree.children_of(n)
    }

    /// A job whose lease session `holder` holds; returns the lease's czxid (the epoch).
    fn job_with_lease(&mut self, job: &str, meta: &str, holder: i64) -> i64 {
        assert_eq!(self.run(B, &create(&format!("/checkpoints/{job}"), Some(meta), 0)), 0);
        assert_eq!(self.run(holder, &create(&format!("/checkpoints/{job}/leader"), Some("jm-1"), 1)), 0);
        self.tree.get(&format!("/checkpoints/{job}/leader")).expect("lease").czxid
    }

    /// Everything stored, to show a refusal stored nothing.
    fn snapshot(&self) -> Vec<(String, Option<String>)> {
        let mut out = Vec::new();
        let mut todo = vec!["/checkpoints".to_string()];
        while let Some(p) = todo.pop() {
            let n = self.tree.get(&p).expect("node");
            for c in self.tree.children_of(n) {
                todo.push(format!("{p}/{c}"));
            }
            out.push((p.clone(), self.data(&p)));
        }
        out.sort();
        out
    }
}

#[test]
fn places_names_and_json() {
    let r = "/checkpoints";
    assert_eq!(place(r, "/checkpoints"), None);
    assert_eq!(place(r, "/checkpointsX/a"), None);
    assert_eq!(place(r, "/other/a"), None);
    assert_eq!(place(r, "/checkpoints/j"), Some(Place::Job("j")));
    assert_eq!(place(r, "/checkpoints/j/completed"), Some(Place::Completed("j")));
    assert_eq!(place(r, "/checkpoints/j/leader"), Some(Place::Lease("j")));
    assert_eq!(place(r, "/checkpoints/j/latest"), Some(Place::Latest("j")));
    assert_eq!(place(r, "/checkpoints/j/completed/7"), Some(Place::Checkpoint { job: "j", name: "7" }));
    assert_eq!(place(r, "/checkpoints/j/other"), Some(Place::Unknown));
    assert_eq!(place(r, "/checkpoints/j/completed/7/x"), Some(Place::Unknown));
    assert_eq!(checkpoint_name(42), "0000000000000000042");
    assert_eq!(parse_name("0000000000000000042"), Some(42));
    assert_eq!(parse_name("42"), None);
    assert_eq!(parse_name("000000000000000004x"), None);
    assert_eq!(parse_name("99999999999999999999"), None);
    assert_eq!(parse_job(Some(b"{}")), Ok(JobMeta { retain: DEFAULT_RETAIN }));
    assert_eq!(parse_job(Some(br#"{"retain": 5, "name": "wordcount"}"#)), Ok(JobMeta { retain: 5 }));
    for bad in
        [&b""[..], b"[]", b"{", br#"{"retain": 0}"#, br#"{"retain": -1}"#, br#"{"retain": "3"}"#, br#"{"name": 1}"#]
    {
        assert_eq!(parse_job(Some(bad)), Err(ErrorCode::BadArguments), "{}", String::from_utf8_lossy(bad));
    }
    assert_eq!(parse_job(None), Err(ErrorCode::BadArguments));
    let good = checkpoint_json(7, 99);
    assert_eq!(parse_checkpoint(7, Some(good.as_bytes())), Ok(CheckpointMeta { id: 7, epoch: 99 }));
    let as_string = r#"{"id": "0000000000000000007", "location": "x", "size": 0, "epoch": 1}"#;
    assert_eq!(parse_checkpoint(7, Some(as_string.as_bytes())), Ok(CheckpointMeta { id: 7, epoch: 1 }));
    for bad in [
        r#"{"location": "x", "size": 0, "epoch": 1}"#,
        r#"{"id": 8, "location": "x", "size": 0, "epoch": 1}"#,
        r#"{"id": 7, "size": 0, "epoch": 1}"#,
        r#"{"id": 7, "location": "", "size": 0, "epoch": 1}"#,
        r#"{"id": 7, "location": "x", "epoch": 1}"#,
        r#"{"id": 7, "location": "x", "size": -3, "epoch": 1}"#,
        r#"{"id": 7, "location": "x", "size": 0}"#,
        r#"{"id": 7, "location": "x", "size": 0, "epoch": "1"}"#,
        "not json",
    ] {
        assert_eq!(parse_checkpoint(7, Some(bad.as_bytes())), Err(ErrorCode::BadArguments), "{bad}");
    }
}

#[test]
fn a_job_comes_with_its_completed_child_in_one_txn() {
    let mut w = World::new(Some(RegistryOptions::default()));
    let t = w.prepare(B, &create("/checkpoints/wordcount", Some(r#"{"retain": 2}"#), 0));
    let TxnBody::Multi(ops) = &t.body else { panic!("{t:?}") };
    assert_eq!(ops.iter().map(|(ty, _)| *ty).collect::<Vec<_>>(), vec![op::CREATE, op::CREATE]);
    w.apply(&t);
    assert!(w.tree.get("/checkpoints/wordcount/completed").is_some());
    // A create2 (what most clients send) is a create inside the multi txn: ZooKeeper 3.8
    // members cannot apply a create2 there.
    let Request::Create { req, .. } = create("/checkpoints/create2", Some("{}"), 0) else { unreachable!() };
    let t = w.prepare(B, &Request::Create { op: op::CREATE2, req });
    let TxnBody::Multi(ops) = &t.body else { panic!("{t:?}") };
    assert_eq!(ops.iter().map(|(ty, _)| *ty).collect::<Vec<_>>(), vec![op::CREATE, op::CREATE]);
    w.apply(&t);
    // Refused, and nothing stored: not JSON, a bad retain, an ephemeral or sequential job.
    let before = w.snapshot();
    assert_eq!(w.run(B, &create("/checkpoints/j2", Some("nope"), 0)), ErrorCode::BadArguments.code());
    assert_eq!(w.run(B, &create("/checkpoints/j2", Some(r#"{"retain": 0}"#), 0)), ErrorCode::BadArguments.code());
    assert_eq!(w.run(B, &create("/checkpoints/j2", Some("{}"), 1)), ErrorCode::BadArguments.code());
    assert_eq!(w.run(B, &create("/checkpoints/j2", Some("{}"), 2)), ErrorCode::BadArguments.code());
    assert_eq!(w.run(B, &create("/checkpoints/wordcount/other", None, 0)), ErrorCode::BadArguments.code());
    // The lease is ephemeral or nothing.
    assert_eq!(w.run(A, &create("/checkpoints/wordcount/leader", None, 0)), ErrorCode::BadArguments.code());
    // setData on a job keeps its JSON valid.
    let set = Request::SetData(SetDataRequest { path: "/checkpoints/wordcount".into(), data: None, version: -1 });
    assert_eq!(w.run(B, &set), ErrorCode::BadArguments.code());
    assert_eq!(w.snapshot(), before);
}

/// The form that works through every member of a mixed ensemble: the client's own multi
/// creates the job and its `completed`; the registry adds no second create.
#[test]
fn a_job_created_with_its_completed_child_in_the_clients_multi_gets_no_second_one() {
    let mut w = World::new(Some(RegistryOptions::default()));
    let ops = ["/checkpoints/etl", "/checkpoints/etl/completed"]
        .iter()
        .map(|p| {
            let data = (!p.ends_with("completed")).then_some(r#"{"retain": 1}"#);
            let Request::Create { op: o, req } = create(p, data, 0) else { unreachable!() };
            MultiOp::Create { op: o, req }
        })
        .collect();
    let t = w.prepare(B, &Request::Multi(ops));
    let TxnBody::Multi(ops) = &t.body else { panic!("{t:?}") };
    assert_eq!(ops.iter().map(|(ty, _)| *ty).collect::<Vec<_>>(), vec![op::CREATE, op::CREATE], "{t:?}");
    w.apply(&t);
    assert!(w.completed("etl").is_empty());
    // Without the job's own create, `completed` alone is still refused outside a job.
    let ops = vec![{
        let Request::Create { op: o, req } = create("/checkpoints/nojob/completed", None, 0) else { unreachable!() };
        MultiOp::Create { op: o, req }
    }];
    assert_eq!(w.run(B, &Request::Multi(ops)), ErrorCode::NoNode.code());
}

#[test]
fn commits_keep_the_retained_ones_and_latest_follows() {
    let mut w = World::new(Some(RegistryOptions::default()));
    let epoch = w.job_with_lease("wc", r#"{"retain": 2}"#, A);
    for id in [1, 2, 5] {
        assert_eq!(w.run(A, &commit("wc", id, &checkpoint_json(id, epoch))), 0, "checkpoint {id}");
        assert_eq!(w.data("/checkpoints/wc/latest"), Some(checkpoint_json(id, epoch)));
    }
    assert_eq!(w.completed("wc"), vec![checkpoint_name(2), checkpoint_name(5)]);
    // One txn: the client's two ops, one retention delete, latest's setData.
    let t = w.prepare(A, &commit("wc", 6, &checkpoint_json(6, epoch)));
    let TxnBody::Multi(ops) = &t.body else { panic!("{t:?}") };
    let types: Vec<i32> = ops.iter().map(|(ty, _)| *ty).collect();
    assert_eq!(types, vec![op::CHECK, op::CREATE, op::DELETE, op::SET_DATA]);
    w.apply(&t);
    assert_eq!(w.completed("wc"), vec![checkpoint_name(5), checkpoint_name(6)]);
    // A plain create from the lease holder is completed the same way.
    let plain =
        create(&format!("/checkpoints/wc/completed/{}", checkpoint_name(9)), Some(&checkpoint_json(9, epoch)), 0);
    assert_eq!(w.run(A, &plain), 0);
    assert_eq!(w.completed("wc"), vec![checkpoint_name(6), checkpoint_name(9)]);
    assert_eq!(w.data("/checkpoints/wc/latest"), Some(checkpoint_json(9, epoch)));
}

#[test]
fn every_refusal_has_its_code_and_stores_nothing() {
    let limits = RegistryOptions { max_checkpoint_bytes: 200, ..RegistryOptions::default() };
    let mut w = World::new(Some(limits));
    let epoch = w.job_with_lease("wc", "{}", A);
    assert_eq!(w.run(A, &commit("wc", 10, &checkpoint_json(10, epoch))), 0);
    let before = w.snapshot();
    let cases: Vec<(&str, i64, Request, ErrorCode)> = vec![
        ("an older id", A, commit("wc", 9, &checkpoint_json(9, epoch)), ErrorCode::BadArguments),
        ("the same id", A, commit("wc", 10, &checkpoint_json(10, epoch)), ErrorCode::NodeExists),
        ("not the lease holder", B, commit("wc", 11, &checkpoint_json(11, epoch)), ErrorCode::NoAuth),
        ("a stale epoch", A, commit("wc", 11, &checkpoint_json(11, epoch - 1)), ErrorCode::BadVersion),
        ("malformed JSON", A, commit("wc", 11, "{"), ErrorCode::BadArguments),
        (
            "no location",
            A,
            commit("wc", 11, &format!(r#"{{"id": 11, "size": 1, "epoch": {epoch}}}"#)),
            ErrorCode::BadArguments,
        ),
        ("an id unlike the name", A, commit("wc", 11, &checkpoint_json(12, epoch)), ErrorCode::BadArguments),
        (
            "over the size limit",
            A,
            commit(
                "wc",
                11,
                &format!(r#"{{"id": 11, "location": "{}", "size": 1, "epoch": {epoch}}}"#, "x".repeat(300)),
            ),
            ErrorCode::BadArguments,
        ),
        (
            "a short name",
            A,
            create("/checkpoints/wc/completed/11", Some(&checkpoint_json(11, epoch)), 0),
            ErrorCode::BadArguments,
        ),
        (
            "a sequential checkpoint",
            A,
            create(&format!("/checkpoints/wc/completed/{}", checkpoint_name(11)), Some(&checkpoint_json(11, epoch)), 2),
            ErrorCode::BadArguments,
        ),
        ("latest written by another", B, create("/checkpoints/wc/latest", Some("{}"), 0), ErrorCode::NodeExists),
        (
            "latest set by another",
            B,
            Request::SetData(SetDataRequest { path: "/checkpoints/wc/latest".into(), data: None, version: -1 }),
            ErrorCode::NoAuth,
        ),
        (
            "a checkpoint deleted by another",
            B,
            Request::Delete(PathVersionRequest {
                path: format!("/checkpoints/wc/completed/{}", checkpoint_name(10)),
                version: -1,
            }),
            ErrorCode::NoAuth,
        ),
        (
            "latest deleted by another",
            B,
            Request::Delete(PathVersionRequest { path: "/checkpoints/wc/latest".into(), version: -1 }),
            ErrorCode::NoAuth,
        ),
    ];
    for (what, session, req, code) in cases {
        assert_eq!(w.run(session, &req), code.code(), "{what}");
        assert_eq!(w.snapshot(), before, "{what} stored something");
    }
    // No lease at all: nobody commits; and then anyone may clean up.
    assert_eq!(
        w.run(A, &Request::Delete(PathVersionRequest { path: "/checkpoints/wc/leader".into(), version: -1 })),
        0
    );
    assert_eq!(
        w.run(A, &commit("wc", 11, &checkpoint_json(11, epoch))),
        ErrorCode::NoNode.code(),
        "the check on the lease"
    );
    let plain =
        create(&format!("/checkpoints/wc/completed/{}", checkpoint_name(11)), Some(&checkpoint_json(11, epoch)), 0);
    assert_eq!(w.run(A, &plain), ErrorCode::NoAuth.code());
    let del = Request::Delete(PathVersionRequest {
        path: format!("/checkpoints/wc/completed/{}", checkpoint_name(10)),
        version: -1,
    });
    assert_eq!(w.run(B, &del), 0);
}

#[test]
fn a_new_lease_fences_the_old_writer_and_ids_keep_rising() {
    let mut w = World::new(Some(RegistryOptions::default()));
    let old = w.job_with_lease("wc", "{}", A);
    assert_eq!(w.run(A, &commit("wc", 3, &checkpoint_json(3, old))), 0);
    // A's session ends (its ephemeral lease goes with it); B takes the lease.
    w.zxid += 1;
    let close = w.prep.prepare_close_session(&w.tree, A, w.zxid, 2000);
    w.apply(&close);
    assert!(w.tree.get("/checkpoints/wc/leader").is_none());
    assert_eq!(w.run(B, &create("/checkpoints/wc/leader", Some("jm-2"), 1)), 0);
    let new = w.tree.get("/checkpoints/wc/leader").unwrap().czxid;
    assert!(new > old);
    // The zombie (a live session elsewhere, say) with its old epoch: refused.
    assert_eq!(w.run(A, &commit("wc", 4, &checkpoint_json(4, old))), ErrorCode::NoAuth.code());
    assert_eq!(w.run(B, &commit("wc", 4, &checkpoint_json(4, old))), ErrorCode::BadVersion.code());
    // Ids must rise past what latest records even when the completed ones were cleaned up.
    assert_eq!(w.run(B, &commit("wc", 2, &checkpoint_json(2, new))), ErrorCode::BadArguments.code());
    assert_eq!(w.run(B, &commit("wc", 4, &checkpoint_json(4, new))), 0);
}

#[test]
fn pipelined_commits_see_each_other_before_they_apply() {
    let mut w = World::new(Some(RegistryOptions::default()));
    let epoch = w.job_with_lease("wc", r#"{"retain": 1}"#, A);
    let t1 = w.prepare(A, &commit("wc", 1, &checkpoint_json(1, epoch)));
    let again = w.prepare(A, &commit("wc", 1, &checkpoint_json(1, epoch)));
    assert_eq!(err_of(&again), ErrorCode::NodeExists.code());
    let older = w.prepare(A, &commit("wc", 0, &checkpoint_json(0, epoch)));
    assert_eq!(err_of(&older), ErrorCode::BadArguments.code());
    let t2 = w.prepare(A, &commit("wc", 2, &checkpoint_json(2, epoch)));
    let TxnBody::Multi(ops) = &t2.body else { panic!("{t2:?}") };
    assert!(ops
        .iter()
        .any(|(ty, b)| *ty == op::DELETE && matches!(b, TxnBody::Delete(d) if d.path.ends_with(&checkpoint_name(1)))));
    assert!(ops.iter().any(|(ty, _)| *ty == op::SET_DATA), "latest, created by the first, is set by the second");
    for t in [t1, again, older, t2] {
        w.apply(&t);
    }
    assert_eq!(w.completed("wc"), vec![checkpoint_name(2)]);
    assert_eq!(w.data("/checkpoints/wc/latest"), Some(checkpoint_json(2, epoch)));
}

#[test]
fn switched_off_the_subtree_is_ordinary() {
    let mut w = World::new(None);
    assert_eq!(w.run(B, &create("/checkpoints/j", Some("not json"), 0)), 0);
    assert!(w.tree.get("/checkpoints/j/completed").is_none());
    assert_eq!(w.run(B, &create("/checkpoints/j/anything", None, 0)), 0);
}

#[test]
fn another_root_is_honoured() {
    let mut w = World::new(Some(RegistryOptions { root: "/flink/registry".into(), ..RegistryOptions::default() }));
    assert_eq!(w.run(B, &create("/checkpoints/j", Some("not json"), 0)), 0, "/checkpoints is ordinary now");
    assert_eq!(w.run(B, &create("/flink", None, 0)), 0);
    assert_eq!(w.run(B, &create("/flink/registry", None, 0)), 0);
    assert_eq!(w.run(B, &create("/flink/registry/j", Some("not json"), 0)), ErrorCode::BadArguments.code());
}
