//! `checkpoints [path]` (ours, not zkCli's: it is left out of the usage listing, which must
//! match zkCli.sh's): the stream jobs found under `path` (default: `/checkpoints` and
//! `/flink`), each with its latest checkpoint id, that checkpoint's age and the current
//! writer, found by [`crate::admin::jobs`] (the registry's and Flink's layouts) through
//! ordinary reads, so it works against any ZooKeeper server.
//!
//! Must never: write anything.

use super::{out, CliError, CmdResult, Shell};
use crate::admin::jobs::{self, ZnodeSource};
use crate::client::Client;
use crate::proto::records::Stat;

/// Ordinary reads through the shell's client (so it works against any ZooKeeper server).
impl ZnodeSource for Client {
    async fn children(&self, p: &str) -> Vec<String> {
        self.get_children(p, false).await.map(|r| r.0).unwrap_or_default()
    }

    async fn stat(&self, p: &str) -> Option<Stat> {
        self.exists(p, false).await.ok().flatten()
    }
}

fn age(ms: Option<i64>) -> String {
    match ms {
        None => "-".into(),
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
            None => jobs::DEFAULT_ROOTS.iter().map(|r| r.to_string()).collect(),
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
            if c.stat(r).await.is_some() {
                rows.extend(jobs::find_jobs(&*c, r).await);
            } else if words.len() > 1 {
                return Err(CliError::new(format!("Node does not exist: {r}")));
            }
        }
        let mut s = String::new();
        if rows.is_empty() {
            s.push_str("no jobs found\n");
        }
        for j in rows {
            let writer = match (j.writer_session, j.epoch) {
                (Some(s), Some(e)) => format!("session 0x{s:x} (epoch 0x{e:x})"),
                (Some(s), None) => format!("session 0x{s:x}"),
                (None, _) => "none".into(),
            };
            s.push_str(&format!(
                "{} ({}): latest {} age {} writer {}\n",
                j.path,
                j.layout.name(),
                j.latest.as_ref().map(|(n, _)| n.as_str()).unwrap_or("-"),
                age(j.age_ms(now_ms)),
                writer
            ));
        }
        out(&s);
        Ok(())
    }
}
