//! The DataTree: znodes with their `Stat`, the ACL table, ephemerals by session, containers and
//! TTL znodes, quota bookkeeping, and the table of live sessions (as the log records them).
//! `apply(txn)` is the only way the tree changes: it returns the op results and the watch
//! triggers the change fires, and it is deterministic, so every server that applies the same
//! log holds the same tree.
//! Must never: validate client requests (prep did that), touch I/O, read a clock, or know
//! about connections.

pub mod acl;
mod quota;
pub mod snapshot;

use crate::proto::codes::{perms, ErrorCode, CONTAINER_EPHEMERAL_OWNER};
use crate::proto::path;
use crate::proto::records::{Acl, Stat};
use crate::txn::{Txn, TxnBody};
use crate::watch::Trigger;
use acl::AclTable;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

pub const ZOOKEEPER_PATH: &str = "/zookeeper";
pub const QUOTA_PATH: &str = "/zookeeper/quota";
pub const CONFIG_PATH: &str = "/zookeeper/config";

/// One znode. Stat fields that can be derived (dataLength, numChildren) are not stored.
#[derive(Debug, Clone, Default)]
pub struct Znode {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    /// The stored child-change counter: ZooKeeper (3.6+) advances it on child creates only
    /// and shows clients `2 * cversion - numChildren` (creates plus deletes); sequential names
    /// come from the stored value.
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub pzxid: i64,
    pub data: Option<Box<[u8]>>,
    pub acl: u32,
    pub children: BTreeSet<Box<str>>,
}

impl Znode {
    /// The owner clients see: the session for an ephemeral, 0 for everything else (containers
    /// and TTL znodes keep their marker internally, as DataNode.getClientEphemeralOwner).
    pub fn client_ephemeral_owner(&self) -> i64 {
        let o = self.ephemeral_owner;
        if o == CONTAINER_EPHEMERAL_OWNER || crate::proto::codes::ttl_of_owner(o).is_some() {
            0
        } else {
            o
        }
    }

    /// The client-visible Stat.
    pub fn stat(&self) -> Stat {
        Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion.wrapping_mul(2).wrapping_sub(self.children.len() as i32),
            aversion: self.aversion,
            ephemeral_owner: self.client_ephemeral_owner(),
            data_length: self.data.as_ref().map_or(0, |d| d.len() as i32),
            num_children: self.children.len() as i32,
            pzxid: self.pzxid,
        }
    }
}

/// What applying one op produced, used to build the client's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    Created {
        path: String,
        stat: Stat,
    },
    Deleted,
    SetData(Stat),
    SetAcl(Stat),
    Checked,
    SessionCreated,
    SessionClosed,
    Error(ErrorCode),
    /// In a failed multi: an op before the failing one (reported with error code 0).
    RolledBack,
    Multi(Vec<OpResult>),
}

/// The result of applying a txn: the reply material and the watch triggers, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOutcome {
    pub result: OpResult,
    pub triggers: Vec<Trigger>,
}

/// One znode's full state, for comparing trees in tests: path, Stat, data, ACL.
pub type NodeFingerprint = (String, Stat, Option<Vec<u8>>, Vec<Acl>);

/// The in-memory database.
#[derive(Debug, Clone)]
pub struct DataTree {
    nodes: HashMap<Box<str>, Znode>,
    acls: AclTable,
    ephemerals: HashMap<i64, BTreeSet<String>>,
    containers: HashSet<String>,
    ttls: HashSet<String>,
    /// Live sessions and their negotiated timeouts, as committed through the log.
    sessions: HashMap<i64, i32>,
    last_zxid: i64,
    quotas: quota::Quotas,
    approximate_data_size: u64,
}

impl Default for DataTree {
    fn default() -> Self {
        Self::new()
    }
}

impl DataTree {
    /// An empty tree with `/`, `/zookeeper`, `/zookeeper/quota` and `/zookeeper/config`.
    pub fn new() -> DataTree {
        let mut t = DataTree::empty();
        let open = [Acl::new(perms::ALL, "world", "anyone")];
        t.insert_restored("/", Znode::default(), &open);
        t.insert_restored(ZOOKEEPER_PATH, Znode::default(), &open);
        t.insert_restored(QUOTA_PATH, Znode::default(), &open);
        // ZooKeeper's /zookeeper/config is readable by anyone, writable by nobody.
        t.insert_restored(CONFIG_PATH, Znode::default(), &[Acl::new(perms::READ, "world", "anyone")]);
        t.approximate_data_size = 0;
        t
    }

    /// A tree with no znodes at all (snapshot restore fills it).
    pub(crate) fn empty() -> DataTree {
        DataTree {
            nodes: HashMap::new(),
            acls: AclTable::default(),
            ephemerals: HashMap::new(),
            containers: HashSet::new(),
            ttls: HashSet::new(),
            sessions: HashMap::new(),
            last_zxid: 0,
            quotas: quota::Quotas::default(),
            approximate_data_size: 0,
        }
    }

    pub fn get(&self, path: &str) -> Option<&Znode> {
        self.nodes.get(path)
    }

    pub fn acl_of(&self, node: &Znode) -> Arc<[Acl]> {
        self.acls.get(node.acl)
    }

    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn approximate_data_size(&self) -> u64 {
        self.approximate_data_size
    }

    pub fn ephemerals_of(&self, session: i64) -> Vec<String> {
        self.ephemerals.get(&session).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(|s| s.len()).sum()
    }

    pub fn sessions(&self) -> &HashMap<i64, i32> {
        &self.sessions
    }

    pub fn containers(&self) -> impl Iterator<Item = &String> {
        self.containers.iter()
    }

    pub fn ttl_nodes(&self) -> impl Iterator<Item = &String> {
        self.ttls.iter()
    }

    /// Children names, sorted (ZooKeeper returns them in hash order; sorted is a valid order).
    pub fn children(&self, path: &str) -> Option<Vec<String>> {
        self.nodes.get(path).map(|n| n.children.iter().map(|c| c.to_string()).collect())
    }

    /// Number of all descendants of `path` (getAllChildrenNumber).
    pub fn all_children_number(&self, path: &str) -> Option<i32> {
        let node = self.nodes.get(path)?;
        let mut count = 0i32;
        let mut stack: Vec<String> = node.children.iter().map(|c| path::join(path, c)).collect();
        while let Some(p) = stack.pop() {
            count += 1;
            if let Some(n) = self.nodes.get(p.as_str()) {
                stack.extend(n.children.iter().map(|c| path::join(&p, c)));
            }
        }
        Some(count)
    }

    /// Applies one committed txn. Never panics on a txn that does not fit the tree (a replay
    /// after a fuzzy state): that op yields an error result and changes nothing.
    pub fn apply(&mut self, txn: &Txn) -> ApplyOutcome {
        let h = &txn.header;
        let mut triggers = Vec::new();
        let result = match &txn.body {
            TxnBody::Multi(ops) => {
                // A multi that failed in prep is logged as error txns only: nothing to apply.
                let failed = ops.iter().any(|(_, b)| matches!(b, TxnBody::Error(_)));
                let mut results = Vec::with_capacity(ops.len());
                for (_, body) in ops {
                    if failed {
                        let code = match body {
                            TxnBody::Error(e) => e.err,
                            _ => 0,
                        };
                        results.push(match ErrorCode::from_code(code) {
                            Some(e) => OpResult::Error(e),
                            None => OpResult::RolledBack,
                        });
                    } else {
                        results.push(self.apply_one(body, h.client_id, h.zxid, h.time, &mut triggers));
                    }
                }
                OpResult::Multi(results)
            }
            body => self.apply_one(body, h.client_id, h.zxid, h.time, &mut triggers),
        };
        if h.zxid > self.last_zxid {
            self.last_zxid = h.zxid;
        }
        ApplyOutcome { result, triggers }
    }

    fn apply_one(
        &mut self,
        body: &TxnBody,
        client_id: i64,
        zxid: i64,
        time: i64,
        triggers: &mut Vec<Trigger>,
    ) -> OpResult {
        let r = match body {
            TxnBody::CreateSession(t) => {
                self.sessions.insert(client_id, t.time_out);
                Ok(OpResult::SessionCreated)
            }
            TxnBody::CloseSession(_) => {
                let paths = self.ephemerals.remove(&client_id).unwrap_or_default();
                // Deepest first cannot matter for ephemerals (they have no children), but keep order stable.
                for p in paths.iter().rev() {
                    let _ = self.delete_node(p, zxid, triggers);
                }
                self.sessions.remove(&client_id);
                Ok(OpResult::SessionClosed)
            }
            TxnBody::Create(t) => {
                let owner = if t.ephemeral { client_id } else { 0 };
                self.create_node(&t.path, t.data.as_deref(), &t.acl, owner, t.parent_cversion, zxid, time, triggers)
            }
            TxnBody::CreateContainer(t) => self.create_node(
                &t.path,
                t.data.as_deref(),
                &t.acl,
                CONTAINER_EPHEMERAL_OWNER,
                t.parent_cversion,
                zxid,
                time,
                triggers,
            ),
            TxnBody::CreateTtl(t) => self.create_node(
                &t.path,
                t.data.as_deref(),
                &t.acl,
                crate::proto::codes::ttl_ephemeral_owner(t.ttl),
                t.parent_cversion,
                zxid,
                time,
                triggers,
            ),
            TxnBody::Delete(t) => self.delete_node(&t.path, zxid, triggers).map(|_| OpResult::Deleted),
            TxnBody::SetData(t) => {
                self.set_data(&t.path, t.data.as_deref(), t.version, zxid, time, triggers).map(OpResult::SetData)
            }
            TxnBody::SetAcl(t) => self.set_acl(&t.path, &t.acl, t.version).map(OpResult::SetAcl),
            TxnBody::Check(_) => Ok(OpResult::Checked),
            TxnBody::Error(e) => Err(ErrorCode::from_code(e.err).unwrap_or(ErrorCode::SystemError)),
            TxnBody::Multi(_) => Err(ErrorCode::RuntimeInconsistency),
        };
        r.unwrap_or_else(OpResult::Error)
    }

    #[allow(clippy::too_many_arguments)]
    fn create_node(
        &mut self,
        p: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        owner: i64,
        parent_cversion: i32,
        zxid: i64,
        time: i64,
        triggers: &mut Vec<Trigger>,
    ) -> Result<OpResult, ErrorCode> {
        let parent_path = path::parent(p);
        let name = path::basename(p);
        if self.nodes.contains_key(p) {
            return Err(ErrorCode::NodeExists);
        }
        let parent = self.nodes.get_mut(parent_path).ok_or(ErrorCode::NoNode)?;
        parent.children.insert(Box::from(name));
        let new_cversion = if parent_cversion == -1 { parent.cversion + 1 } else { parent_cversion };
        if new_cversion > parent.cversion {
            parent.cversion = new_cversion;
            parent.pzxid = zxid;
        }
        let acl_id = self.acls.intern(acl);
        let node = Znode {
            czxid: zxid,
            mzxid: zxid,
            ctime: time,
            mtime: time,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: owner,
            pzxid: zxid,
            data: data.map(Box::from),
            acl: acl_id,
            children: BTreeSet::new(),
        };
        let stat = node.stat();
        let len = data.map_or(0, |d| d.len()) as u64;
        self.approximate_data_size += len + p.len() as u64;
        self.nodes.insert(Box::from(p), node);
        self.index_special(p, owner);
        self.quota_created(p, len);
        triggers.push(Trigger::Created(p.to_owned()));
        triggers.push(Trigger::ChildrenChanged(parent_path.to_owned()));
        Ok(OpResult::Created { path: p.to_owned(), stat })
    }

    fn index_special(&mut self, p: &str, owner: i64) {
        if owner == CONTAINER_EPHEMERAL_OWNER {
            self.containers.insert(p.to_owned());
        } else if crate::proto::codes::ttl_of_owner(owner).is_some() {
            self.ttls.insert(p.to_owned());
        } else if owner != 0 {
            self.ephemerals.entry(owner).or_default().insert(p.to_owned());
        }
    }

    fn delete_node(&mut self, p: &str, zxid: i64, triggers: &mut Vec<Trigger>) -> Result<(), ErrorCode> {
        if p == "/" {
            return Err(ErrorCode::BadArguments);
        }
        let node = self.nodes.get(p).ok_or(ErrorCode::NoNode)?;
        if !node.children.is_empty() {
            return Err(ErrorCode::NotEmpty);
        }
        let node = self.nodes.remove(p).expect("present");
        let parent_path = path::parent(p);
        if let Some(parent) = self.nodes.get_mut(parent_path) {
            parent.children.remove(path::basename(p));
            if zxid > parent.pzxid {
                parent.pzxid = zxid;
            }
        }
        let owner = node.ephemeral_owner;
        if owner == CONTAINER_EPHEMERAL_OWNER {
            self.containers.remove(p);
        } else if crate::proto::codes::ttl_of_owner(owner).is_some() {
            self.ttls.remove(p);
        } else if owner != 0 {
            if let Some(set) = self.ephemerals.get_mut(&owner) {
                set.remove(p);
                if set.is_empty() {
                    self.ephemerals.remove(&owner);
                }
            }
        }
        self.acls.release(node.acl);
        let len = node.data.as_ref().map_or(0, |d| d.len()) as u64;
        self.approximate_data_size = self.approximate_data_size.saturating_sub(len + p.len() as u64);
        self.quota_deleted(p, len);
        triggers.push(Trigger::Deleted(p.to_owned()));
        triggers.push(Trigger::ChildrenChanged(parent_path.to_owned()));
        Ok(())
    }

    fn set_data(
        &mut self,
        p: &str,
        data: Option<&[u8]>,
        version: i32,
        zxid: i64,
        time: i64,
        triggers: &mut Vec<Trigger>,
    ) -> Result<Stat, ErrorCode> {
        let node = self.nodes.get_mut(p).ok_or(ErrorCode::NoNode)?;
        let old_len = node.data.as_ref().map_or(0, |d| d.len()) as u64;
        let new_len = data.map_or(0, |d| d.len()) as u64;
        node.data = data.map(Box::from);
        node.version = version;
        node.mzxid = zxid;
        node.mtime = time;
        let stat = node.stat();
        self.approximate_data_size = (self.approximate_data_size + new_len).saturating_sub(old_len);
        self.quota_data_changed(p, old_len, new_len);
        triggers.push(Trigger::DataChanged(p.to_owned()));
        Ok(stat)
    }

    fn set_acl(&mut self, p: &str, acl: &[Acl], version: i32) -> Result<Stat, ErrorCode> {
        let new_id = self.acls.intern(acl);
        let Some(node) = self.nodes.get_mut(p) else {
            self.acls.release(new_id);
            return Err(ErrorCode::NoNode);
        };
        let old = node.acl;
        node.acl = new_id;
        node.aversion = version;
        let stat = node.stat();
        self.acls.release(old);
        Ok(stat)
    }

    /// Rebuilds a tree from snapshot parts (used by `snapshot::decode`).
    pub(crate) fn insert_restored(&mut self, p: &str, node: Znode, acl: &[Acl]) {
        let mut node = node;
        node.acl = self.acls.intern(acl);
        let owner = node.ephemeral_owner;
        self.approximate_data_size += node.data.as_ref().map_or(0, |d| d.len()) as u64 + p.len() as u64;
        if let Some(old) = self.nodes.insert(Box::from(p), node) {
            self.acls.release(old.acl);
        }
        if p != "/" {
            let parent = path::parent(p).to_owned();
            if let Some(pn) = self.nodes.get_mut(parent.as_str()) {
                pn.children.insert(Box::from(path::basename(p)));
            }
        }
        self.index_special(p, owner);
    }

    pub(crate) fn restore_meta(&mut self, last_zxid: i64, sessions: HashMap<i64, i32>) {
        self.last_zxid = last_zxid;
        self.sessions = sessions;
        self.quotas = quota::Quotas::rebuild(self);
    }

    /// Visits znodes parent-first (used by `snapshot::encode`).
    pub fn walk(&self, mut f: impl FnMut(&str, &Znode)) {
        let mut stack = vec![String::from("/")];
        while let Some(p) = stack.pop() {
            if let Some(n) = self.nodes.get(p.as_str()) {
                f(&p, n);
                for c in n.children.iter().rev() {
                    stack.push(path::join(&p, c));
                }
            }
        }
    }

    pub(crate) fn acl_table(&self) -> &AclTable {
        &self.acls
    }

    /// A digest of the whole tree's state, for tests comparing two trees.
    pub fn fingerprint(&self) -> Vec<NodeFingerprint> {
        let mut v = Vec::with_capacity(self.nodes.len());
        self.walk(|p, n| {
            v.push((p.to_owned(), n.stat(), n.data.as_ref().map(|d| d.to_vec()), self.acls.get(n.acl).to_vec()))
        });
        v
    }
}

#[cfg(test)]
mod tests;
