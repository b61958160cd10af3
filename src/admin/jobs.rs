//! Stream jobs found in the tree, for `zkcli checkpoints`, the admin command `checkpoints` and
//! the per-job Prometheus gauges: one walk, over any source of znodes (a client's reads or the
//! server's own tree), that recognises two layouts read-only:
//! - the checkpoint registry: a job znode with a `completed` child (`latest`, `leader`);
//! - Apache Flink's ZooKeeper HA: `…/jobs/<job-id>/checkpoints/<19-digit id>`, the writer
//!   being the owner of the ephemeral lock under the newest checkpoint (`<id>/locks/<lock>`).
//!
//! Owns: the layout rules and the job rows. Must never: write, or walk without a bound.

use crate::proto::records::Stat;
use std::collections::VecDeque;
use std::future::Future;

/// How many znodes one walk may visit (a bound on a walk of a large tree).
pub const MAX_VISITED: usize = 20_000;
/// How deep below the given path jobs are looked for.
pub const MAX_DEPTH: usize = 6;
/// Where jobs are looked for when no path is given.
pub const DEFAULT_ROOTS: &[&str] = &["/checkpoints", "/flink"];

/// Reads the walk needs. Missing znodes read as empty / None.
#[allow(async_fn_in_trait)]
pub trait ZnodeSource {
    async fn children(&self, path: &str) -> Vec<String>;
    async fn stat(&self, path: &str) -> Option<Stat>;
}

/// The checkpoint layout a job follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Registry,
    Flink,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::Registry => "registry",
            Layout::Flink => "flink",
        }
    }
}

/// One job found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    pub path: String,
    pub layout: Layout,
    /// The newest checkpoint's znode name (19 digits) and id.
    pub latest: Option<(String, u64)>,
    /// When the newest checkpoint was committed (its ctime, epoch ms).
    pub latest_ctime_ms: Option<i64>,
    /// The session holding the writer lease (registry) or the newest checkpoint's lock (Flink).
    pub writer_session: Option<i64>,
    /// The registry's fencing epoch: the lease's czxid.
    pub epoch: Option<i64>,
}

impl JobRow {
    /// Milliseconds since the newest checkpoint, never negative.
    pub fn age_ms(&self, now_ms: i64) -> Option<i64> {
        self.latest_ctime_ms.map(|c| (now_ms - c).max(0))
    }
}

fn join(p: &str, c: &str) -> String {
    if p == "/" {
        format!("/{c}")
    } else {
        format!("{p}/{c}")
    }
}

async fn sorted_children<S: ZnodeSource>(s: &S, p: &str) -> Vec<String> {
    let mut v = s.children(p).await;
    v.sort();
    v
}

/// The newest 19-digit child of `dir`, its id and ctime.
async fn newest<S: ZnodeSource>(s: &S, dir: &str) -> (Option<(String, u64)>, Option<i64>) {
    let best = s
        .children(dir)
        .await
        .into_iter()
        .filter_map(|n| crate::prep::parse_name(&n).map(|id| (n, id)))
        .max_by_key(|(_, id)| *id);
    let Some((name, id)) = best else { return (None, None) };
    let ctime = s.stat(&join(dir, &name)).await.map(|st| st.ctime);
    (Some((name, id)), ctime)
}

async fn registry_job<S: ZnodeSource>(s: &S, job: &str) -> JobRow {
    let (latest, latest_ctime_ms) = newest(s, &join(job, "completed")).await;
    let lease = s.stat(&join(job, "leader")).await;
    JobRow {
        path: job.into(),
        layout: Layout::Registry,
        latest,
        latest_ctime_ms,
        writer_session: lease.as_ref().map(|l| l.ephemeral_owner),
        epoch: lease.map(|l| l.czxid),
    }
}

async fn flink_job<S: ZnodeSource>(s: &S, job: &str) -> JobRow {
    let dir = join(job, "checkpoints");
    let (latest, latest_ctime_ms) = newest(s, &dir).await;
    let mut writer_session = None;
    if let Some((name, _)) = &latest {
        let locks = join(&join(&dir, name), "locks");
        for l in sorted_children(s, &locks).await {
            if let Some(st) = s.stat(&join(&locks, &l)).await.filter(|st| st.ephemeral_owner != 0) {
                writer_session = Some(st.ephemeral_owner);
                break;
            }
        }
    }
    JobRow { path: job.into(), layout: Layout::Flink, latest, latest_ctime_ms, writer_session, epoch: None }
}

/// Every job under `root` (breadth first, bounded by [`MAX_VISITED`] and [`MAX_DEPTH`]).
pub async fn find_jobs<S: ZnodeSource>(s: &S, root: &str) -> Vec<JobRow> {
    let mut rows = Vec::new();
    let mut todo = VecDeque::from([(root.to_string(), 0usize)]);
    let mut visited = 0;
    while let Some((p, depth)) = todo.pop_front() {
        visited += 1;
        if visited > MAX_VISITED {
            break;
        }
        let kids = sorted_children(s, &p).await;
        if kids.iter().any(|k| k == "completed") {
            rows.push(registry_job(s, &p).await);
            continue;
        }
        let parent_is_jobs = crate::proto::path::parent(&p).rsplit('/').next() == Some("jobs");
        if parent_is_jobs && kids.iter().any(|k| k == "checkpoints") {
            rows.push(flink_job(s, &p).await);
            continue;
        }
        if depth < MAX_DEPTH {
            todo.extend(kids.into_iter().map(|k| (join(&p, &k), depth + 1)));
        }
    }
    rows
}

/// The jobs under every root that exists.
pub async fn find_all<S: ZnodeSource>(s: &S, roots: &[&str]) -> Vec<JobRow> {
    let mut rows = Vec::new();
    for r in roots {
        if s.stat(r).await.is_some() {
            rows.extend(find_jobs(s, r).await);
        }
    }
    rows
}

/// The jobs under every root that exists in the server's own tree, found without an executor
/// (the tree's reads are ready at once).
pub fn find_in_tree(tree: &crate::tree::DataTree, roots: &[&str]) -> Vec<JobRow> {
    struct NoWake;
    impl std::task::Wake for NoWake {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(NoWake));
    let fut = std::pin::pin!(find_all(tree, roots));
    match fut.poll(&mut std::task::Context::from_waker(&waker)) {
        std::task::Poll::Ready(rows) => rows,
        // Unreachable with a DataTree: none of its reads ever waits.
        std::task::Poll::Pending => Vec::new(),
    }
}

/// The `jobs` array of the admin command `checkpoints`: one object per job.
pub fn to_json(rows: &[JobRow], now_ms: i64) -> serde_json::Value {
    let jobs: Vec<serde_json::Value> = rows
        .iter()
        .map(|j| {
            serde_json::json!({
                "path": j.path,
                "layout": j.layout.name(),
                "latest_id": j.latest.as_ref().map(|(_, id)| *id),
                "latest": j.latest.as_ref().map(|(n, _)| n.clone()),
                "age_seconds": j.age_ms(now_ms).map(|ms| ms as f64 / 1000.0),
                "writer_session": j.writer_session.map(|s| format!("0x{s:x}")),
                "epoch": j.epoch,
            })
        })
        .collect();
    serde_json::Value::Array(jobs)
}

/// The server's own tree as a source (no I/O: every read is ready at once).
impl ZnodeSource for crate::tree::DataTree {
    async fn children(&self, path: &str) -> Vec<String> {
        crate::tree::DataTree::children(self, path).unwrap_or_default()
    }

    async fn stat(&self, path: &str) -> Option<Stat> {
        self.get(path).map(|n| n.stat())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::codes::op;
    use crate::proto::records::{Acl, CreateTxn, TxnHeader};
    use crate::tree::DataTree;
    use crate::txn::{Txn, TxnBody};

    fn tree(nodes: &[(&str, i64)]) -> DataTree {
        let mut t = DataTree::new();
        for (i, (p, owner)) in nodes.iter().enumerate() {
            let zxid = i as i64 + 1;
            t.apply(&Txn {
                header: TxnHeader { client_id: *owner, cxid: 1, zxid, time: 1_000 * zxid, type_: op::CREATE },
                body: TxnBody::Create(CreateTxn {
                    path: p.to_string(),
                    data: None,
                    acl: vec![Acl::new(31, "world", "anyone")],
                    ephemeral: *owner != 0,
                    parent_cversion: 0,
                }),
            });
        }
        t
    }

    fn walk(t: &DataTree, roots: &[&str]) -> Vec<JobRow> {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let rows = rt.block_on(find_all(t, roots));
        assert_eq!(find_in_tree(t, roots), rows, "the executor-free walk finds the same");
        rows
    }

    #[test]
    fn both_layouts_are_found_with_their_newest_checkpoint_and_writer() {
        let c = |id: u64| crate::prep::checkpoint_name(id);
        let t = tree(&[
            ("/checkpoints", 0),
            ("/checkpoints/etl", 0),
            ("/checkpoints/etl/completed", 0),
            (&format!("/checkpoints/etl/completed/{}", c(9)), 0),
            (&format!("/checkpoints/etl/completed/{}", c(10)), 0),
            ("/checkpoints/etl/leader", 0x55),
            ("/checkpoints/idle", 0),
            ("/checkpoints/idle/completed", 0),
            ("/flink", 0),
            ("/flink/c1", 0),
            ("/flink/c1/jobs", 0),
            ("/flink/c1/jobs/abc", 0),
            ("/flink/c1/jobs/abc/checkpoints", 0),
            (&format!("/flink/c1/jobs/abc/checkpoints/{}", c(7)), 0),
            (&format!("/flink/c1/jobs/abc/checkpoints/{}/locks", c(7)), 0),
            (&format!("/flink/c1/jobs/abc/checkpoints/{}/locks/l1", c(7)), 0x77),
            ("/flink/c1/jobs/abc/checkpoints/not-a-checkpoint", 0),
        ]);
        let rows = walk(&t, DEFAULT_ROOTS);
        assert_eq!(rows.len(), 3, "{rows:?}");
        let etl = &rows[0];
        assert_eq!((etl.path.as_str(), etl.layout), ("/checkpoints/etl", Layout::Registry));
        assert_eq!(etl.latest, Some((c(10), 10)));
        assert_eq!(etl.latest_ctime_ms, Some(5_000), "the ctime of checkpoint 10 (zxid 5)");
        assert_eq!((etl.writer_session, etl.epoch), (Some(0x55), Some(6)));
        assert_eq!(etl.age_ms(6_500), Some(1_500));
        let idle = &rows[1];
        assert_eq!((idle.latest.clone(), idle.writer_session, idle.age_ms(1)), (None, None, None));
        let flink = &rows[2];
        assert_eq!((flink.path.as_str(), flink.layout), ("/flink/c1/jobs/abc", Layout::Flink));
        assert_eq!((flink.latest.clone(), flink.writer_session, flink.epoch), (Some((c(7), 7)), Some(0x77), None));

        let json = to_json(&rows, 6_500);
        assert_eq!(json[0]["latest_id"], 10);
        assert_eq!(json[0]["age_seconds"], 1.5);
        assert_eq!(json[0]["writer_session"], "0x55");
        assert_eq!(json[1]["latest_id"], serde_json::Value::Null);
        assert_eq!(json[2]["layout"], "flink");
        // A root that does not exist is no job and no error.
        assert!(walk(&t, &["/nothing"]).is_empty());
    }
}
