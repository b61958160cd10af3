//! The checkpoint registry for stream jobs: a reserved subtree (`/checkpoints` unless
//! configured otherwise) whose znodes follow rules enforced here, where writes are prepared.
//!
//! Layout under the root:
//! - `<job>`: a job; data is JSON metadata (`"retain"`: how many completed checkpoints to
//!   keep, default 3; optional `"name"`). Creating it creates `<job>/completed` in the same txn
//!   (unless the client's own multi creates it too).
//! - `<job>/leader`: the writer's lease, an ephemeral znode; its czxid is the job's fencing
//!   epoch.
//! - `<job>/completed/<id>`: one completed checkpoint, the id zero-padded to 19 digits; data
//!   is JSON with `"id"`, `"location"`, `"size"` and `"epoch"` (the lease's czxid).
//!   Committing one (normally a multi: a check on the lease, then the create) also deletes
//!   the oldest beyond the job's retain count and writes its JSON to `<job>/latest`, in the
//!   same txn.
//! - `<job>/latest`: the newest completed checkpoint's JSON.
//!
//! A refused write is an ordinary error txn with a ZooKeeper error code: BADARGUMENTS for a
//! malformed name, mode or JSON, a missing field, data over the limit or an id not above the
//! newest; NOAUTH for a commit from a session that does not hold the lease, and for writing
//! `latest` or deleting a checkpoint while another session holds it; BADVERSION for an epoch
//! that is not the lease's czxid (a zombie writer after failover).
//! Must never: produce anything but ordinary ZooKeeper txns (create, delete and setData in one
//! multi), so that every member applies them unchanged — an Apache ZooKeeper member of a mixed
//! ensemble too; read anything but the tree and the changes already prepared.

use super::{NodeData, Overlay, Prep, WriteContext};
use crate::proto::codes::{op, ErrorCode};
use crate::proto::path;
use crate::proto::records::{Acl, CreateTtlRequest, PathVersionRequest, SetDataRequest};
use crate::proto::request::Request;
use crate::tree::DataTree;
use bytes::Bytes;

/// The registry's settings (zoo.cfg `checkpoints.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryOptions {
    /// An absolute path other than `/`.
    pub root: String,
    /// The largest checkpoint JSON accepted, in bytes.
    pub max_checkpoint_bytes: usize,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions { root: "/checkpoints".into(), max_checkpoint_bytes: 256 * 1024 }
    }
}

/// Completed checkpoints kept per job unless its metadata says otherwise.
pub const DEFAULT_RETAIN: usize = 3;
/// Digits of a checkpoint's name (Flink's padding of checkpoint ids).
pub const ID_DIGITS: usize = 19;

/// A checkpoint id as its znode name.
pub fn checkpoint_name(id: u64) -> String {
    format!("{id:0ID_DIGITS$}")
}

/// Where a path sits under the registry root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place<'a> {
    Job(&'a str),
    Completed(&'a str),
    Checkpoint {
        job: &'a str,
        name: &'a str,
    },
    Lease(&'a str),
    Latest(&'a str),
    /// Anything else under a job: not part of the layout.
    Unknown,
}

/// The place of `p` under `root`; None for the root itself and for paths outside it.
pub fn place<'a>(root: &str, p: &'a str) -> Option<Place<'a>> {
    let rest = p.strip_prefix(root)?.strip_prefix('/')?;
    let mut parts = rest.split('/');
    let job = parts.next()?;
    Some(match (parts.next(), parts.next(), parts.next()) {
        (None, _, _) => Place::Job(job),
        (Some("completed"), None, _) => Place::Completed(job),
        (Some("completed"), Some(name), None) => Place::Checkpoint { job, name },
        (Some("leader"), None, _) => Place::Lease(job),
        (Some("latest"), None, _) => Place::Latest(job),
        _ => Place::Unknown,
    })
}

/// A job's metadata: how many completed checkpoints it keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobMeta {
    pub retain: usize,
}

/// Reads a job's JSON metadata: an object; `"retain"` a positive integer if present,
/// `"name"` a string if present.
pub fn parse_job(data: Option<&[u8]>) -> Result<JobMeta, ErrorCode> {
    let v: serde_json::Value = serde_json::from_slice(data.unwrap_or(b"")).map_err(|_| ErrorCode::BadArguments)?;
    let o = v.as_object().ok_or(ErrorCode::BadArguments)?;
    let retain = match o.get("retain") {
        None => DEFAULT_RETAIN,
        Some(r) => match r.as_u64() {
            Some(n) if n >= 1 && n <= u32::MAX as u64 => n as usize,
            _ => return Err(ErrorCode::BadArguments),
        },
    };
    if o.get("name").is_some_and(|n| !n.is_string()) {
        return Err(ErrorCode::BadArguments);
    }
    Ok(JobMeta { retain })
}

/// The retain count of a job whose data may predate the registry (not JSON): the default.
fn retain_of(data: Option<&[u8]>) -> usize {
    parse_job(data).map(|m| m.retain).unwrap_or(DEFAULT_RETAIN)
}

/// A checkpoint's JSON, as the rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointMeta {
    pub id: u64,
    pub epoch: i64,
}

/// The id a checkpoint name stands for: exactly 19 digits.
pub fn parse_name(name: &str) -> Option<u64> {
    (name.len() == ID_DIGITS && name.bytes().all(|b| b.is_ascii_digit())).then(|| name.parse().ok()).flatten()
}

/// A checkpoint's `"id"`: a number, or its digits as a string.
fn json_id(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Reads a checkpoint's JSON: an object with `"id"` (a number, or the name as a string)
/// equal to the name's id, a non-empty string `"location"`, a non-negative integer `"size"`
/// and an integer `"epoch"`; other fields are free.
pub fn parse_checkpoint(name_id: u64, data: Option<&[u8]>) -> Result<CheckpointMeta, ErrorCode> {
    let bad = ErrorCode::BadArguments;
    let v: serde_json::Value = serde_json::from_slice(data.unwrap_or(b"")).map_err(|_| bad)?;
    let o = v.as_object().ok_or(bad)?;
    let id = o.get("id").and_then(json_id).ok_or(bad)?;
    if id != name_id {
        return Err(bad);
    }
    if !o.get("location").and_then(|l| l.as_str()).is_some_and(|l| !l.is_empty()) {
        return Err(bad);
    }
    o.get("size").and_then(|s| s.as_u64()).ok_or(bad)?;
    let epoch = o.get("epoch").and_then(|e| e.as_i64()).ok_or(bad)?;
    Ok(CheckpointMeta { id, epoch })
}

/// What the client's own ops asked for that the registry completes in the same txn.
#[derive(Debug, Default)]
pub(super) struct Followups {
    /// Jobs created: their `completed` child, with the job's ACL.
    new_jobs: Vec<(String, Vec<Acl>)>,
    /// Jobs with a newly committed checkpoint: retention and `latest`.
    committed: Vec<String>,
}

impl Followups {
    pub(super) fn is_empty(&self) -> bool {
        self.new_jobs.is_empty() && self.committed.is_empty()
    }
}

fn join(a: &str, b: &str) -> String {
    format!("{a}/{b}")
}

impl Prep {
    /// The registry's rules for one client op, checked after the op itself was prepared
    /// (its effect is in `scratch`). Records what the registry must add to the txn.
    pub(super) fn registry_rules(
        &self,
        tree: &DataTree,
        ctx: &WriteContext<'_>,
        req: &Request,
        scratch: &Overlay,
        follow: &mut Followups,
    ) -> Result<(), ErrorCode> {
        let Some(reg) = &self.opts.registry else { return Ok(()) };
        let root = reg.root.as_str();
        let over = |d: &Option<Bytes>| d.as_ref().is_some_and(|d| d.len() > reg.max_checkpoint_bytes);
        match req {
            Request::Create { req: c, .. } => {
                let Some(at) = place(root, &c.path) else { return Ok(()) };
                let persistent = c.flags == 0;
                match at {
                    Place::Job(_) => {
                        if !persistent || over(&c.data) {
                            return Err(ErrorCode::BadArguments);
                        }
                        parse_job(c.data.as_deref())?;
                        let acl = self.view(tree, scratch, &c.path).map(|n| n.acl.to_vec()).unwrap_or_default();
                        follow.new_jobs.push((c.path.clone(), acl));
                    }
                    Place::Completed(_) if !persistent => return Err(ErrorCode::BadArguments),
                    Place::Completed(_) => {}
                    // The lease is ephemeral: it goes with its holder's session.
                    Place::Lease(_) if c.flags != 1 => return Err(ErrorCode::BadArguments),
                    Place::Lease(_) => {}
                    Place::Latest(job) => self.not_leased_by_another(tree, scratch, root, job, ctx)?,
                    Place::Checkpoint { job, name } => {
                        if !persistent {
                            return Err(ErrorCode::BadArguments);
                        }
                        let id = parse_name(name).ok_or(ErrorCode::BadArguments)?;
                        if over(&c.data) {
                            return Err(ErrorCode::BadArguments);
                        }
                        let meta = parse_checkpoint(id, c.data.as_deref())?;
                        let job_path = join(root, job);
                        let lease = self.view(tree, scratch, &join(&job_path, "leader")).ok_or(ErrorCode::NoAuth)?;
                        if lease.ephemeral_owner != ctx.session_id {
                            return Err(ErrorCode::NoAuth);
                        }
                        if meta.epoch != lease.czxid {
                            return Err(ErrorCode::BadVersion);
                        }
                        let newest = self.newest_checkpoint(tree, scratch, &job_path, Some(name));
                        if newest.is_some_and(|n| id <= n) {
                            return Err(ErrorCode::BadArguments);
                        }
                        if !follow.committed.contains(&job_path) {
                            follow.committed.push(job_path);
                        }
                    }
                    Place::Unknown => return Err(ErrorCode::BadArguments),
                }
            }
            Request::Delete(d) => {
                if let Some(Place::Checkpoint { job, .. } | Place::Latest(job)) = place(root, &d.path) {
                    self.not_leased_by_another(tree, scratch, root, job, ctx)?
                }
            }
            Request::SetData(s) => match place(root, &s.path) {
                Some(Place::Job(_)) => {
                    if over(&s.data) {
                        return Err(ErrorCode::BadArguments);
                    }
                    parse_job(s.data.as_deref())?;
                }
                Some(Place::Checkpoint { job, .. } | Place::Latest(job)) => {
                    self.not_leased_by_another(tree, scratch, root, job, ctx)?
                }
                _ => {}
            },
            _ => {}
        }
        Ok(())
    }

    /// NOAUTH when the job's lease exists and another session holds it.
    fn not_leased_by_another(
        &self,
        tree: &DataTree,
        scratch: &Overlay,
        root: &str,
        job: &str,
        ctx: &WriteContext<'_>,
    ) -> Result<(), ErrorCode> {
        match self.view(tree, scratch, &join(&join(root, job), "leader")) {
            Some(lease) if lease.ephemeral_owner != ctx.session_id => Err(ErrorCode::NoAuth),
            _ => Ok(()),
        }
    }

    /// A znode's data as it will be once everything prepared is applied.
    fn data_of(&self, tree: &DataTree, scratch: &Overlay, p: &str) -> Option<Option<Bytes>> {
        let n = self.view(tree, scratch, p)?;
        Some(match n.data {
            NodeData::Is(d) => d,
            NodeData::InTree => tree.get(p).and_then(|z| z.data()).map(Bytes::copy_from_slice),
        })
    }

    /// The children of `parent` as they will be once everything prepared is applied, sorted.
    fn children_after(&self, tree: &DataTree, scratch: &Overlay, parent: &str) -> Vec<String> {
        let mut names: Vec<String> = tree.get(parent).map(|n| tree.children_of(n)).unwrap_or_default();
        for p in self.pending.keys().chain(scratch.keys()) {
            if path::parent(p) == parent && p.len() > parent.len() + 1 {
                names.push(p[parent.len() + 1..].to_owned());
            }
        }
        names.sort_unstable();
        names.dedup();
        names.retain(|n| self.view(tree, scratch, &join(parent, n)).is_some());
        names
    }

    /// The newest checkpoint id of a job: its newest completed child (leaving `except` out)
    /// or, if larger, the id `latest` records (the completed ones may have been deleted).
    fn newest_checkpoint(
        &self,
        tree: &DataTree,
        scratch: &Overlay,
        job_path: &str,
        except: Option<&str>,
    ) -> Option<u64> {
        let completed = join(job_path, "completed");
        let from_children = self
            .children_after(tree, scratch, &completed)
            .iter()
            .filter(|n| Some(n.as_str()) != except)
            .filter_map(|n| parse_name(n))
            .max();
        let from_latest = self
            .data_of(tree, scratch, &join(job_path, "latest"))
            .flatten()
            .and_then(|d| serde_json::from_slice::<serde_json::Value>(&d).ok())
            .and_then(|v| v.get("id").and_then(json_id));
        from_children.max(from_latest)
    }

    /// The ops the registry adds after the client's: each new job's `completed`, and for each
    /// job with a new checkpoint, the deletes of those past its retain count and the write
    /// of `latest`.
    pub(super) fn registry_followups(&self, tree: &DataTree, scratch: &Overlay, follow: &Followups) -> Vec<Request> {
        let mut out = Vec::new();
        for (job_path, acl) in &follow.new_jobs {
            // A client that created `completed` itself, in the same multi as the job, needs
            // no second create: that form works through every member (an Apache ZooKeeper
            // member answers a multi request from a multi txn, but not a create request).
            let completed = join(job_path, "completed");
            if self.view(tree, scratch, &completed).is_some() {
                continue;
            }
            let req = CreateTtlRequest { path: completed, data: None, acl: acl.clone(), flags: 0, ttl: 0 };
            out.push(Request::Create { op: op::CREATE, req });
        }
        for job_path in &follow.committed {
            let completed = join(job_path, "completed");
            let names: Vec<String> = self
                .children_after(tree, scratch, &completed)
                .into_iter()
                .filter(|n| parse_name(n).is_some())
                .collect();
            let retain = retain_of(self.data_of(tree, scratch, job_path).flatten().as_deref());
            let Some(newest) = names.last() else { continue };
            let newest_data = self.data_of(tree, scratch, &join(&completed, newest)).flatten();
            for old in &names[..names.len().saturating_sub(retain)] {
                out.push(Request::Delete(PathVersionRequest { path: join(&completed, old), version: -1 }));
            }
            let latest = join(job_path, "latest");
            if self.view(tree, scratch, &latest).is_some() {
                out.push(Request::SetData(SetDataRequest { path: latest, data: newest_data, version: -1 }));
            } else {
                let acl = self.view(tree, scratch, job_path).map(|n| n.acl.to_vec()).unwrap_or_default();
                let req = CreateTtlRequest { path: latest, data: newest_data, acl, flags: 0, ttl: 0 };
                out.push(Request::Create { op: op::CREATE, req });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
