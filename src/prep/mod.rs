//! Request preparation: turns a client write into the `Txn` that will be logged, checking it
//! against the tree plus the changes already prepared but not yet applied (ZooKeeper's
//! outstanding changes). The only place that validates writes: paths, versions, ACLs,
//! sequential names, ephemeral parents, TTL/container modes, multi all-or-nothing.
//! Every write yields a txn, as in ZooKeeper: a failed one becomes an error txn that still
//! takes a zxid, so replies leave the server in zxid order.
//! Must never: change the tree, do I/O or read a clock (time and zxid come in the context).

mod registry;

pub use registry::{checkpoint_name, parse_name, RegistryOptions};

use crate::acl::{check_acl, fixup_acl};
use crate::proto::codes::{op, perms, ttl_ephemeral_owner, CreateMode, ErrorCode, CONTAINER_EPHEMERAL_OWNER, MAX_TTL};
use crate::proto::path;
use crate::proto::records::*;
use crate::proto::request::{MultiOp, Request};
use crate::tree::DataTree;
use crate::txn::{Txn, TxnBody};
use registry::Followups;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Server settings that change how writes are checked.
#[derive(Debug, Clone, Default)]
pub struct PrepOptions {
    pub skip_acl: bool,
    /// extendedTypesEnabled: TTL znodes are allowed.
    pub ttl_enabled: bool,
    /// The checkpoint registry's root and limits; None: off.
    pub registry: Option<RegistryOptions>,
}

/// Who asks and when: everything prep needs from outside the tree.
pub struct WriteContext<'a> {
    pub session_id: i64,
    pub cxid: i32,
    pub zxid: i64,
    pub time: i64,
    pub auth: &'a [Id],
}

/// The view prep needs of a znode, from the tree or from a prepared change.
#[derive(Debug, Clone)]
struct NodeView {
    version: i32,
    cversion: i32,
    aversion: i32,
    ephemeral_owner: i64,
    num_children: i32,
    acl: Arc<[Acl]>,
    czxid: i64,
    data: NodeData,
}

/// A znode's data as prep sees it: only the checkpoint registry reads it.
#[derive(Debug, Clone)]
enum NodeData {
    /// No prepared change set it: whatever the tree holds.
    InTree,
    /// Set by a prepared create or setData.
    Is(Option<bytes::Bytes>),
}

/// A prepared change to one path: the zxid of the last txn touching it, and the znode as it
/// will be once applied (None: deleted).
#[derive(Debug, Clone)]
struct Pending {
    zxid: i64,
    node: Option<NodeView>,
}

/// Outstanding changes, keyed by path.
#[derive(Debug, Default)]
pub struct Prep {
    pending: FastMap<String, Pending>,
    /// (zxid, path) of every change in `pending`, in zxid order, so that `applied` forgets
    /// covered changes without scanning the whole map.
    order: VecDeque<(i64, String)>,
    /// The per-request overlay, kept between requests so its table is allocated once.
    scratch: Overlay,
    /// The ACL list of the last znode prepared for creation.
    last_acl: Option<Arc<[Acl]>>,
    opts: PrepOptions,
}

/// Maps on the write path hash with ahash (keyed per process), not SipHash.
type FastMap<K, V> = HashMap<K, V, ahash::RandomState>;
type Overlay = FastMap<String, Pending>;

impl Prep {
    pub fn new(opts: PrepOptions) -> Prep {
        Prep { opts, ..Prep::default() }
    }

    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }

    /// The txn with `zxid` was applied to the tree: forget changes it covers.
    pub fn applied(&mut self, zxid: i64) {
        while self.order.front().is_some_and(|(z, _)| *z <= zxid) {
            let (z, p) = self.order.pop_front().expect("front");
            // A later change to the same path replaced this one: it stays.
            if let Entry::Occupied(e) = self.pending.entry(p) {
                if e.get().zxid == z {
                    e.remove();
                }
            }
        }
    }

    /// Forgets all outstanding changes (a new leader epoch, or after recovery).
    pub fn clear(&mut self) {
        self.pending.clear();
        self.order.clear();
    }

    /// Moves a request's overlay into the outstanding changes.
    fn commit(&mut self, scratch: &mut Overlay) {
        for (p, pend) in scratch.drain() {
            self.order.push_back((pend.zxid, p.clone()));
            self.pending.insert(p, pend);
        }
    }

    /// Prepares a client write. Always returns a txn; failures are error txns.
    pub fn prepare(&mut self, tree: &DataTree, ctx: &WriteContext<'_>, req: &Request) -> Txn {
        let mut scratch = std::mem::take(&mut self.scratch);
        let (ty, body) = match req {
            Request::Multi(ops) => (op::MULTI, self.prepare_multi(tree, ctx, ops, &mut scratch)),
            _ => {
                let mut follow = Followups::default();
                let one = self.prepare_one(tree, ctx, req, &mut scratch).and_then(|t| {
                    self.registry_rules(tree, ctx, req, &scratch, &mut follow)?;
                    Ok(t)
                });
                // The registry may complete the op in the same txn: then it is a multi, the
                // client's op first (answered from the first result).
                let one = one.and_then(|(ty, body)| {
                    if follow.is_empty() {
                        return Ok((ty, body));
                    }
                    // Inside a multi txn a create2 is a create, as ZooKeeper 3.8 writes it
                    // (its members cannot apply a create2 there); the client is still
                    // answered as its request asked.
                    let ty = if ty == op::CREATE2 { op::CREATE } else { ty };
                    let mut all = vec![(ty, body)];
                    all.extend(self.prepare_followups(tree, ctx, &mut scratch, &follow)?);
                    Ok((op::MULTI, TxnBody::Multi(all)))
                });
                match one {
                    Ok((ty, body)) => (ty, body),
                    Err(e) => {
                        scratch.clear();
                        (op::ERROR, TxnBody::Error(ErrorTxn { err: e.code() }))
                    }
                }
            }
        };
        self.commit(&mut scratch);
        self.scratch = scratch;
        Txn {
            header: TxnHeader { client_id: ctx.session_id, cxid: ctx.cxid, zxid: ctx.zxid, time: ctx.time, type_: ty },
            body,
        }
    }

    /// The closeSession txn for a session (client close or expiry): deletes its ephemerals.
    pub fn prepare_close_session(&mut self, tree: &DataTree, session_id: i64, zxid: i64, time: i64) -> Txn {
        let mut paths: Vec<String> = tree.ephemerals_of(session_id);
        for (p, pend) in &self.pending {
            match &pend.node {
                Some(n) if n.ephemeral_owner == session_id && !paths.contains(p) => paths.push(p.clone()),
                None => paths.retain(|x| x != p),
                _ => {}
            }
        }
        paths.sort();
        let mut scratch = Overlay::default();
        for p in &paths {
            if let Some(parent) = self.view(tree, &scratch, path::parent(p)) {
                scratch.insert(
                    path::parent(p).to_owned(),
                    Pending { zxid, node: Some(NodeView { num_children: parent.num_children - 1, ..parent }) },
                );
            }
            scratch.insert(p.clone(), Pending { zxid, node: None });
        }
        self.commit(&mut scratch);
        Txn {
            header: TxnHeader { client_id: session_id, cxid: 0, zxid, time, type_: op::CLOSE_SESSION },
            body: TxnBody::CloseSession(CloseSessionTxn { paths2_delete: paths }),
        }
    }

    /// The createSession txn.
    pub fn prepare_create_session(session_id: i64, timeout: i32, zxid: i64, time: i64) -> Txn {
        Txn {
            header: TxnHeader { client_id: session_id, cxid: 0, zxid, time, type_: op::CREATE_SESSION },
            body: TxnBody::CreateSession(CreateSessionTxn { time_out: timeout }),
        }
    }

    /// A server-issued delete of an empty container or an expired TTL znode (no ACL check).
    /// None when the znode is gone or no longer qualifies.
    pub fn prepare_container_delete(&mut self, tree: &DataTree, p: &str, zxid: i64, time: i64) -> Option<Txn> {
        let scratch = Overlay::default();
        let node = self.view(tree, &scratch, p)?;
        if node.num_children != 0 {
            return None;
        }
        let ty = if node.ephemeral_owner == CONTAINER_EPHEMERAL_OWNER { op::DELETE_CONTAINER } else { op::DELETE };
        let mut scratch = scratch;
        self.mark_deleted(tree, &mut scratch, p, zxid);
        self.commit(&mut scratch);
        Some(Txn {
            header: TxnHeader { client_id: 0, cxid: 0, zxid, time, type_: ty },
            body: TxnBody::Delete(DeleteTxn { path: p.to_owned() }),
        })
    }

    fn view(&self, tree: &DataTree, scratch: &Overlay, p: &str) -> Option<NodeView> {
        if let Some(pend) = scratch.get(p).or_else(|| self.pending.get(p)) {
            return pend.node.clone();
        }
        let n = tree.get(p)?;
        Some(NodeView {
            version: n.version,
            cversion: n.cversion,
            aversion: n.aversion,
            ephemeral_owner: n.ephemeral_owner,
            num_children: n.num_children() as i32,
            acl: tree.acl_of(n),
            czxid: n.czxid,
            data: NodeData::InTree,
        })
    }

    fn check(&self, acl: &[Acl], perm: i32, ctx: &WriteContext<'_>) -> Result<(), ErrorCode> {
        if self.opts.skip_acl || check_acl(acl, perm, ctx.auth) {
            Ok(())
        } else {
            Err(ErrorCode::NoAuth)
        }
    }

    fn prepare_multi(
        &mut self,
        tree: &DataTree,
        ctx: &WriteContext<'_>,
        ops: &[MultiOp],
        scratch: &mut Overlay,
    ) -> TxnBody {
        let mut out = Vec::with_capacity(ops.len());
        let mut failure: Option<(usize, ErrorCode)> = None;
        let mut follow = Followups::default();
        for (i, m) in ops.iter().enumerate() {
            let req = match m {
                // The op its flags say, never a create2, as ZooKeeper 3.8 reads a multi.
                MultiOp::Create { op, req } => {
                    Request::Create { op: crate::proto::request::multi_create_op(*op, req.flags), req: req.clone() }
                }
                MultiOp::Delete(r) => Request::Delete(r.clone()),
                MultiOp::SetData(r) => Request::SetData(r.clone()),
                MultiOp::Check(r) => Request::Check(r.clone()),
                MultiOp::GetChildren(_) | MultiOp::GetData(_) => {
                    failure = Some((i, ErrorCode::BadArguments));
                    break;
                }
            };
            let one = self.prepare_one(tree, ctx, &req, scratch).and_then(|t| {
                self.registry_rules(tree, ctx, &req, scratch, &mut follow)?;
                Ok(t)
            });
            match one {
                Ok(t) => out.push(t),
                Err(e) => {
                    failure = Some((i, e));
                    break;
                }
            }
        }
        // The registry's own ops go after the client's (whose results are all it is answered).
        if failure.is_none() && !follow.is_empty() {
            match self.prepare_followups(tree, ctx, scratch, &follow) {
                Ok(more) => out.extend(more),
                Err(e) => failure = Some((ops.len().saturating_sub(1), e)),
            }
        }
        match failure {
            None => TxnBody::Multi(out),
            Some((at, e)) => {
                scratch.clear();
                let errs = (0..ops.len())
                    .map(|i| {
                        let code = match i.cmp(&at) {
                            std::cmp::Ordering::Less => 0,
                            std::cmp::Ordering::Equal => e.code(),
                            std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency.code(),
                        };
                        (op::ERROR, TxnBody::Error(ErrorTxn { err: code }))
                    })
                    .collect();
                TxnBody::Multi(errs)
            }
        }
    }

    /// Prepares the ops the checkpoint registry adds to a client's txn. They are the
    /// consequences of ops already permitted, so no ACL is checked for them.
    fn prepare_followups(
        &mut self,
        tree: &DataTree,
        ctx: &WriteContext<'_>,
        scratch: &mut Overlay,
        follow: &Followups,
    ) -> Result<Vec<(i32, TxnBody)>, ErrorCode> {
        let reqs = self.registry_followups(tree, scratch, follow);
        let skip_acl = std::mem::replace(&mut self.opts.skip_acl, true);
        let out = reqs.iter().map(|r| self.prepare_one(tree, ctx, r, scratch)).collect();
        self.opts.skip_acl = skip_acl;
        out
    }

    fn prepare_one(
        &mut self,
        tree: &DataTree,
        ctx: &WriteContext<'_>,
        req: &Request,
        scratch: &mut Overlay,
    ) -> Result<(i32, TxnBody), ErrorCode> {
        match req {
            Request::Create { op: o, req } => self.prepare_create(tree, ctx, *o, req, scratch),
            Request::Delete(r) => {
                // ZooKeeper refuses only a path with no '/', a NUL or a special path here;
                // another invalid path is simply not found.
                if is_special_path(&r.path) {
                    return Err(ErrorCode::BadArguments);
                }
                let parent = self.view(tree, scratch, parent_for_write(&r.path)?).ok_or(ErrorCode::NoNode)?;
                let node = self.view(tree, scratch, &r.path).ok_or(ErrorCode::NoNode)?;
                self.check(&parent.acl, perms::DELETE, ctx)?;
                check_version(node.version, r.version)?;
                if node.num_children > 0 {
                    return Err(ErrorCode::NotEmpty);
                }
                self.mark_deleted(tree, scratch, &r.path, ctx.zxid);
                Ok((op::DELETE, TxnBody::Delete(DeleteTxn { path: r.path.clone() })))
            }
            Request::SetData(r) => {
                valid_path(&r.path)?;
                let node = self.view(tree, scratch, &r.path).ok_or(ErrorCode::NoNode)?;
                self.check(&node.acl, perms::WRITE, ctx)?;
                check_version(node.version, r.version)?;
                let version = node.version.wrapping_add(1);
                let data = NodeData::Is(r.data.clone());
                scratch
                    .insert(r.path.clone(), Pending { zxid: ctx.zxid, node: Some(NodeView { version, data, ..node }) });
                Ok((op::SET_DATA, TxnBody::SetData(SetDataTxn { path: r.path.clone(), data: r.data.clone(), version })))
            }
            Request::SetAcl(r) => {
                valid_path(&r.path)?;
                let acl = fixup_acl(&r.acl, ctx.auth)?;
                let node = self.view(tree, scratch, &r.path).ok_or(ErrorCode::NoNode)?;
                self.check(&node.acl, perms::ADMIN, ctx)?;
                check_version(node.aversion, r.version)?;
                let aversion = node.aversion.wrapping_add(1);
                scratch.insert(
                    r.path.clone(),
                    Pending { zxid: ctx.zxid, node: Some(NodeView { aversion, acl: Arc::from(acl.clone()), ..node }) },
                );
                Ok((op::SET_ACL, TxnBody::SetAcl(SetAclTxn { path: r.path.clone(), acl, version: aversion })))
            }
            Request::Check(r) => {
                valid_path(&r.path)?;
                let node = self.view(tree, scratch, &r.path).ok_or(ErrorCode::NoNode)?;
                self.check(&node.acl, perms::READ, ctx)?;
                check_version(node.version, r.version)?;
                Ok((op::CHECK, TxnBody::Check(CheckVersionTxn { path: r.path.clone(), version: r.version })))
            }
            Request::Malformed { .. } => Err(ErrorCode::MarshallingError),
            _ => Err(ErrorCode::Unimplemented),
        }
    }

    /// `acl` as a shared list, reusing the last one made when it is the same (nearly every
    /// create in a busy tree carries the same ACL).
    fn shared_acl(&mut self, acl: &[Acl]) -> Arc<[Acl]> {
        match &self.last_acl {
            Some(a) if **a == *acl => a.clone(),
            _ => {
                let a: Arc<[Acl]> = Arc::from(acl);
                self.last_acl = Some(a.clone());
                a
            }
        }
    }

    fn prepare_create(
        &mut self,
        tree: &DataTree,
        ctx: &WriteContext<'_>,
        o: i32,
        req: &CreateTtlRequest,
        scratch: &mut Overlay,
    ) -> Result<(i32, TxnBody), ErrorCode> {
        let mode = CreateMode::from_flags(req.flags).ok_or(ErrorCode::BadArguments)?;
        // validateCreateRequest: TTL modes need extended types; the op and the mode must agree.
        if mode.is_ttl() && !self.opts.ttl_enabled {
            return Err(ErrorCode::Unimplemented);
        }
        if o == op::CREATE_TTL {
            if !mode.is_ttl() || req.ttl <= 0 || req.ttl > MAX_TTL {
                return Err(ErrorCode::BadArguments);
            }
        } else if mode.is_ttl() {
            return Err(ErrorCode::BadArguments);
        }
        if (o == op::CREATE_CONTAINER) != mode.is_container() {
            return Err(ErrorCode::BadArguments);
        }
        // ZooKeeper's order: a path with no '/' (or a NUL) is refused, then the ACL is fixed
        // up, then the parent is looked up (a missing parent wins over the rest of path
        // validation: "/a/" with no "/a" is NONODE), then the full path is validated.
        let parent_path = parent_for_write(&req.path)?.to_owned();
        let acl = fixup_acl(&req.acl, ctx.auth)?;
        let parent = self.view(tree, scratch, &parent_path).ok_or(ErrorCode::NoNode)?;
        self.check(&parent.acl, perms::CREATE, ctx)?;
        let full = if mode.is_sequential() { format!("{}{:010}", req.path, parent.cversion) } else { req.path.clone() };
        valid_path(&full)?;
        if self.view(tree, scratch, &full).is_some() {
            return Err(ErrorCode::NodeExists);
        }
        let parent_is_ephemeral = parent.ephemeral_owner != 0
            && parent.ephemeral_owner != CONTAINER_EPHEMERAL_OWNER
            && crate::proto::codes::ttl_of_owner(parent.ephemeral_owner).is_none();
        if parent_is_ephemeral {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        let new_cversion = parent.cversion.wrapping_add(1);
        let owner = if mode.is_ephemeral() {
            ctx.session_id
        } else if mode.is_container() {
            CONTAINER_EPHEMERAL_OWNER
        } else if mode.is_ttl() {
            ttl_ephemeral_owner(req.ttl)
        } else {
            0
        };
        scratch.insert(
            parent_path,
            Pending {
                zxid: ctx.zxid,
                node: Some(NodeView { cversion: new_cversion, num_children: parent.num_children + 1, ..parent }),
            },
        );
        scratch.insert(
            full.clone(),
            Pending {
                zxid: ctx.zxid,
                node: Some(NodeView {
                    version: 0,
                    cversion: 0,
                    aversion: 0,
                    ephemeral_owner: owner,
                    num_children: 0,
                    acl: self.shared_acl(&acl),
                    czxid: ctx.zxid,
                    data: NodeData::Is(req.data.clone()),
                }),
            },
        );
        let body = if mode.is_container() {
            TxnBody::CreateContainer(CreateContainerTxn {
                path: full,
                data: req.data.clone(),
                acl,
                parent_cversion: new_cversion,
            })
        } else if mode.is_ttl() {
            TxnBody::CreateTtl(CreateTtlTxn {
                path: full,
                data: req.data.clone(),
                acl,
                parent_cversion: new_cversion,
                ttl: req.ttl,
            })
        } else {
            TxnBody::Create(CreateTxn {
                path: full,
                data: req.data.clone(),
                acl,
                ephemeral: mode.is_ephemeral(),
                parent_cversion: new_cversion,
            })
        };
        Ok((o, body))
    }

    fn mark_deleted(&self, tree: &DataTree, scratch: &mut Overlay, p: &str, zxid: i64) {
        let parent_path = path::parent(p);
        if let Some(parent) = self.view(tree, scratch, parent_path) {
            scratch.insert(
                parent_path.to_owned(),
                Pending {
                    zxid,
                    // Deletes do not advance the stored cversion (ZooKeeper 3.6+): it counts
                    // creates, so sequence numbers never repeat and never skip for deletes.
                    node: Some(NodeView { num_children: parent.num_children - 1, ..parent }),
                },
            );
        }
        scratch.insert(p.to_owned(), Pending { zxid, node: None });
    }
}

/// The parent of a path being created or deleted, as ZooKeeper takes it: everything before
/// the last '/'. A path with no '/' or with a NUL is BADARGUMENTS.
fn parent_for_write(p: &str) -> Result<&str, ErrorCode> {
    if !p.contains('/') || p.contains('\0') {
        return Err(ErrorCode::BadArguments);
    }
    Ok(path::parent(p))
}

/// Znodes the server keeps for itself, which a client may never delete.
fn is_special_path(p: &str) -> bool {
    matches!(p, "/" | "/zookeeper" | "/zookeeper/quota" | "/zookeeper/config")
}

fn valid_path(p: &str) -> Result<(), ErrorCode> {
    path::validate(p, false).map_err(|_| ErrorCode::BadArguments)
}

/// ZooKeeper's checkAndIncVersion: -1 matches any version.
fn check_version(current: i32, expected: i32) -> Result<(), ErrorCode> {
    if expected == -1 || expected == current {
        Ok(())
    } else {
        Err(ErrorCode::BadVersion)
    }
}

#[cfg(test)]
mod tests;
