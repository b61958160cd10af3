//! `checkpoints [path]` (ours, not zkCli's: it is left out of the usage listing, which must
//! match zkCli.sh's): the stream jobs found under `path` (default: `/checkpoints` and
//! `/flink`), each with its latest checkpoint id, that checkpoint's age and the current
//! writer. Two layouts are recognised, read-only and through ordinary reads (so it works
//! against any ZooKeeper server):
//! - the checkpoint registry: a job znode with a `completed` child (`latest`, `leader`);
//! - Apache Flink's ZooKeeper HA: `…/jobs/<job-id>/checkpoints/<19-digit id>`, the writer
//!   being the owner of the ephemeral lock under the newest checkpoint (`<id>/locks/<lock>`).
//!
//! Must never: write anything.

use super::{out, CliError, CmdResult, Shell};
use crate::client::Client;
use crate::proto::records::Stat;

/// How many znodes one listing may visit (a bound on a walk of a large tree).
const MAX_VISITED: usize = 20_000;
/// How deep below the given path jobs are looked for.
const MAX_DEPTH: usize = 6;

/// One job found.
#[derive(Debug, Clone, PartialEq, Eq)]
struct JobRow {
    path: String,
    layout: &'static str,
    latest: Option<String>,
    /// Milliseconds since the latest checkpoint was committed (server time).
    age_ms: Option<i64>,
    writer: String,
}

fn join(p: &str, c: &str) -> String {
    if p == "/" {
        format!("/{c}")
    } else {
        format!("{p}/{c}")
    }
}

async fn children(c: &Client, p: &str) -> Vec<String> {
    let mut v = c.get_children(p, false).await.map(|r| r.0).unwrap_or_default();
    v.sort();
    v
}

async fn stat_of(c: &Client, p: &str) -> Option<Stat> {
    c.exists(p, false).await.ok().flatten()
}

/// The newest 19-digit child of `dir` and its Stat.
async fn newest(c: &Client, dir: &str) -> Option<(String, Stat)> {
    let name = children(c, dir).await.into_iter().filter(|n| crate::prep::parse_name(n).is_some()).max()?;
    let stat = stat_of(c, &join(dir, &name)).await?;
    Some((name, stat))
}

/// A job's row from its newest checkpoint (name, Stat) and its writer.
fn row(job: &str, layout: &'static str, newest: Option<(String, Stat)>, writer: String, now_ms: i64) -> JobRow {
    JobRow {
        path: job.into(),
        layout,
        age_ms: newest.as_ref().map(|(_, s)| now_ms - s.ctime),
        latest: newest.map(|(n, _)| n),
        writer,
    }
}

async fn registry_job(c: &Client, job: &str, now_ms: i64) -> JobRow {
    let newest = newest(c, &join(job, "completed")).await;
    let writer = match stat_of(c, &join(job, "leader")).await {
        Some(s) => format!("session 0x{:x} (epoch 0x{:x})", s.ephemeral_owner, s.czxid),
        None => "none".into(),
    };
    row(job, "registry", newest, writer, now_ms)
}

async fn flink_job(c: &Client, job: &str, now_ms: i64) -> JobRow {
    let dir = join(job, "checkpoints");
    let newest = newest(c, &dir).await;
    let mut writer = "none".to_string();
    if let Some((name, _)) = &newest {
        let locks = join(&join(&dir, name), "locks");
        for l in children(c, &locks).await {
            if let Some(s) = stat_of(c, &join(&locks, &l)).await.filter(|s| s.ephemeral_owner != 0) {
                writer = format!("session 0x{:x}", s.ephemeral_owner);
                break;
            }
        }
    }
    row(job, "flink", newest, writer, now_ms)
}

/// Every job under `root` (breadth first, bounded).
async fn find_jobs(c: &Client, root: &str, now_ms: i64) -> Vec<JobRow> {
    let mut rows = Vec::new();
    let mut todo = std::collections::VecDeque::from([(root.to_string(), 0usize)]);
    let mut visited = 0;
    while let Some((p, depth)) = todo.pop_front() {
        visited += 1;
        if visited > MAX_VISITED {
            break;
        }
        let kids = children(c, &p).await;
        if kids.iter().any(|k| k == "completed") {
            rows.push(registry_job(c, &p, now_ms).await);
            continue;
        }
        let parent_is_jobs = crate::proto::path::parent(&p).rsplit('/').next() == Some("jobs");
        if parent_is_jobs && kids.iter().any(|k| k == "checkpoints") {
            rows.push(flink_job(c, &p, now_ms).await);
            continue;
        }
        if depth < MAX_DEPTH {
            todo.extend(kids.into_iter().map(|k| (join(&p, &k), depth + 1)));
        }
    }
    rows
}

fn age(ms: Option<i64>) -> String {
    match ms {
        None => "-".into(),
        Some(ms) if ms < 0 => "0s".into(),
        Some(ms) if ms < 120_000 => format!("{}s", ms / 1000),
        Some(ms) if ms < 7_200_000 => format!("{}m", ms / 60_000),
        Some(ms) => format!("{}h", ms / 3_600_000),
    }
}

impl Shell {
    pub(super) async fn checkpoints(&self, words: &[String]) -> CmdResult {
        let roots: Vec<String> = match words.get(1) {
            Some(p) => {
                crate::proto::path::validate(p, false).map_err(|e| CliError::new(e.to_string()))?;
                vec![p.clone()]
            }
            None => vec!["/checkpoints".into(), "/flink".into()],
        };
        if words.len() > 2 {
            return Err(CliError::new("checkpoints [path]"));
        }
        let c = self.client(&roots[0]).await?;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let mut rows = Vec::new();
        for r in &roots {
            if stat_of(&c, r).await.is_some() {
                rows.extend(find_jobs(&c, r, now_ms).await);
            } else if words.len() > 1 {
                return Err(CliError::new(format!("Node does not exist: {r}")));
            }
        }
        let mut s = String::new();
        if rows.is_empty() {
            s.push_str("no jobs found\n");
        }
        for j in rows {
            s.push_str(&format!(
                "{} ({}): latest {} age {} writer {}\n",
                j.path,
                j.layout,
                j.latest.as_deref().unwrap_or("-"),
                age(j.age_ms),
                j.writer
            ));
        }
        out(&s);
        Ok(())
    }
}
