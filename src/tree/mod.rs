//! The DataTree: znodes with their `Stat`, the ACL table, ephemerals by session, containers and
//! TTL znodes, quota bookkeeping, and the table of live sessions (as the log records them).
//! `apply(txn)` is the only way the tree changes: it returns the op results and the watch
//! triggers the change fires, and it is deterministic, so every server that applies the same
//! log holds the same tree.
//! Must never: validate client requests (prep did that), touch I/O, read a clock, or know
//! about connections.

pub mod acl;
mod arena;
mod quota;
pub mod snapshot;

use crate::proto::codes::{perms, ErrorCode, CONTAINER_EPHEMERAL_OWNER};
use crate::proto::path;
use crate::proto::records::{Acl, Stat};
use crate::txn::{Txn, TxnBody};
use crate::watch::Trigger;
use acl::AclTable;
pub use arena::Znode;
use arena::{PathHash, PathHasher, Store, StoreImage};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

pub const ZOOKEEPER_PATH: &str = "/zookeeper";
pub const QUOTA_PATH: &str = "/zookeeper/quota";
pub const CONFIG_PATH: &str = "/zookeeper/config";

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

/// A frozen copy of the whole tree as of one zxid, for a snapshot: taking it copies a pointer
/// per 1024 znodes plus the session and ACL tables, and it can be encoded on another thread
/// while the tree goes on changing (see `arena`).
#[derive(Debug, Clone)]
pub struct TreeImage {
    pub last_zxid: i64,
    /// Live sessions, sorted.
    pub sessions: Vec<(i64, i32)>,
    /// The ACL table, by id.
    pub acls: Vec<(u32, Arc<[Acl]>)>,
    pub node_count: usize,
    store: StoreImage,
}

impl TreeImage {
    /// Every znode, in slot order (parents are not necessarily first).
    pub fn znodes(&self) -> impl Iterator<Item = &Znode> {
        self.store.znodes()
    }
}

/// Rebuilds a tree from znodes that come in any order (a snapshot): a znode whose parent is
/// already in is linked at once, the others once every znode is in.
#[derive(Default)]
pub(crate) struct Restoring {
    /// The parent found last (znodes listed together mostly share one).
    last_parent: Option<u32>,
    /// Znodes that came before their parent.
    orphans: Vec<u32>,
}

impl Restoring {
    /// Adds `node` (whose `acl` must hold a reference the tree now owns).
    /// `h` is the path's hash by the tree's `path_hasher`.
    pub(crate) fn insert(&mut self, tree: &mut DataTree, node: Znode, h: PathHash) -> Result<(), &'static str> {
        let root = node.path_bytes() == b"/";
        let parent = if root {
            None
        } else {
            let pp = path::parent(node.path());
            match self.last_parent {
                Some(id) if tree.nodes.node(id).path_bytes() == pp.as_bytes() => Some(id),
                _ => tree.nodes.find(pp),
            }
        };
        let id = tree.insert_restored_at(node, parent, h)?;
        match parent {
            Some(_) => self.last_parent = parent,
            None if !root => self.orphans.push(id),
            None => {}
        }
        Ok(())
    }

    /// Links the znodes that came before their parents; every parent must be in by now.
    pub(crate) fn finish(self, tree: &mut DataTree) -> Result<(), &'static str> {
        if tree.nodes.find("/").is_none() {
            return Err("no root znode");
        }
        for id in self.orphans {
            let pid = tree.nodes.find(path::parent(tree.nodes.node(id).path())).ok_or("znode without its parent")?;
            tree.nodes.link(id, pid);
        }
        Ok(())
    }
}

/// The in-memory database.
#[derive(Debug, Clone)]
pub struct DataTree {
    nodes: Store,
    acls: AclTable,
    /// Ephemeral znode ids by owning session.
    ephemerals: HashMap<i64, BTreeSet<u32>>,
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
        let open = t.acls.intern(&[Acl::new(perms::ALL, "world", "anyone")]);
        // ZooKeeper's /zookeeper/config is readable by anyone, writable by nobody.
        let read_only = t.acls.intern(&[Acl::new(perms::READ, "world", "anyone")]);
        // As in ZooKeeper: empty (not null) data; /zookeeper/config got its ACL through a
        // setACL with version -1, which left aversion at -1.
        let mut building = Restoring::default();
        for (p, acl) in [("/", open), (ZOOKEEPER_PATH, open), (QUOTA_PATH, open), (CONFIG_PATH, read_only)] {
            let mut n = Znode::new(p, Some(&[]));
            n.acl = acl;
            if p == CONFIG_PATH {
                n.aversion = -1;
            }
            t.acls.add_ref(acl);
            let h = t.nodes.hash(p);
            building.insert(&mut t, n, h).expect("four new paths");
        }
        building.finish(&mut t).expect("parents first");
        t.acls.release(open);
        t.acls.release(read_only);
        t.approximate_data_size = 0;
        t
    }

    /// A tree with no znodes at all (snapshot restore fills it).
    pub(crate) fn empty() -> DataTree {
        DataTree {
            nodes: Store::default(),
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

    /// The session's ephemeral paths, sorted.
    pub fn ephemerals_of(&self, session: i64) -> Vec<String> {
        let mut v: Vec<String> = self
            .ephemerals
            .get(&session)
            .map(|s| s.iter().map(|&id| self.nodes.node(id).path().to_owned()).collect())
            .unwrap_or_default();
        v.sort_unstable();
        v
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
        self.nodes.find(path).map(|id| self.child_names(id))
    }

    /// Children names of a znode got from `get`, sorted.
    pub fn children_of(&self, node: &Znode) -> Vec<String> {
        self.nodes.find(node.path()).map(|id| self.child_names(id)).unwrap_or_default()
    }

    fn child_names(&self, id: u32) -> Vec<String> {
        let mut v: Vec<String> = self.nodes.children(id).map(|c| self.nodes.node(c).name().to_owned()).collect();
        v.sort_unstable();
        v
    }

    /// Number of all descendants of `path` (getAllChildrenNumber).
    pub fn all_children_number(&self, path: &str) -> Option<i32> {
        let id = self.nodes.find(path)?;
        let mut count = 0i32;
        let mut stack: Vec<u32> = self.nodes.children(id).collect();
        while let Some(c) = stack.pop() {
            count += 1;
            stack.extend(self.nodes.children(c));
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
                let paths = self.ephemerals_of(client_id);
                self.ephemerals.remove(&client_id);
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
        // A present znode has its parent, so looking for the parent first still answers
        // NodeExists for a present path (checked by the insert below, in the same probe).
        let pid = match self.nodes.find(parent_path) {
            Some(pid) => pid,
            None if self.nodes.find(p).is_some() => return Err(ErrorCode::NodeExists),
            None => return Err(ErrorCode::NoNode),
        };
        let h = self.nodes.hash(p);
        let mut node = Znode::new(p, data);
        node.czxid = zxid;
        node.mzxid = zxid;
        node.ctime = time;
        node.mtime = time;
        node.ephemeral_owner = owner;
        node.pzxid = zxid;
        let id = self.nodes.insert_hashed(node, Some(pid), h).map_err(|_| ErrorCode::NodeExists)?;
        let acl_id = self.acls.intern(acl);
        let parent = self.nodes.node_mut(pid);
        let new_cversion = if parent_cversion == -1 { parent.cversion + 1 } else { parent_cversion };
        if new_cversion > parent.cversion {
            parent.cversion = new_cversion;
            parent.pzxid = zxid;
        }
        let node = self.nodes.node_mut(id);
        node.acl = acl_id;
        let stat = node.stat();
        let len = data.map_or(0, |d| d.len()) as u64;
        self.approximate_data_size += len + p.len() as u64;
        self.index_special(p, id, owner);
        self.quota_created(p, len);
        triggers.push(Trigger::Created(p.to_owned()));
        triggers.push(Trigger::ChildrenChanged(parent_path.to_owned()));
        Ok(OpResult::Created { path: p.to_owned(), stat })
    }

    fn index_special(&mut self, p: &str, id: u32, owner: i64) {
        if owner == CONTAINER_EPHEMERAL_OWNER {
            self.containers.insert(p.to_owned());
        } else if crate::proto::codes::ttl_of_owner(owner).is_some() {
            self.ttls.insert(p.to_owned());
        } else if owner != 0 {
            self.ephemerals.entry(owner).or_default().insert(id);
        }
    }

    fn delete_node(&mut self, p: &str, zxid: i64, triggers: &mut Vec<Trigger>) -> Result<(), ErrorCode> {
        if p == "/" {
            return Err(ErrorCode::BadArguments);
        }
        let id = self.nodes.find(p).ok_or(ErrorCode::NoNode)?;
        if self.nodes.node(id).num_children() != 0 {
            return Err(ErrorCode::NotEmpty);
        }
        let parent = self.nodes.parent_of(id);
        let node = self.nodes.remove(id);
        if let Some(pid) = parent {
            let parent = self.nodes.node_mut(pid);
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
                set.remove(&id);
                if set.is_empty() {
                    self.ephemerals.remove(&owner);
                }
            }
        }
        self.acls.release(node.acl);
        let len = node.data_len() as u64;
        self.approximate_data_size = self.approximate_data_size.saturating_sub(len + p.len() as u64);
        self.quota_deleted(p, len);
        triggers.push(Trigger::Deleted(p.to_owned()));
        triggers.push(Trigger::ChildrenChanged(path::parent(p).to_owned()));
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
        let id = self.nodes.find(p).ok_or(ErrorCode::NoNode)?;
        let node = self.nodes.node_mut(id);
        let old_len = node.data_len() as u64;
        let new_len = data.map_or(0, |d| d.len()) as u64;
        node.set_data(data);
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
        let Some(id) = self.nodes.find(p) else {
            return Err(ErrorCode::NoNode);
        };
        let new_id = self.acls.intern(acl);
        let node = self.nodes.node_mut(id);
        let old = node.acl;
        node.acl = new_id;
        node.aversion = version;
        let stat = node.stat();
        self.acls.release(old);
        Ok(stat)
    }

    /// Adds a znode while rebuilding a tree (`Restoring`), under `parent` if known, its path
    /// hashing to `h`. `node.acl` must hold a reference the tree now owns.
    fn insert_restored_at(&mut self, node: Znode, parent: Option<u32>, h: PathHash) -> Result<u32, &'static str> {
        let owner = node.ephemeral_owner;
        let size = (node.data_len() + node.path_bytes().len()) as u64;
        let id = self.nodes.insert_hashed(node, parent, h).map_err(|_| "duplicate znode path")?;
        self.approximate_data_size += size;
        if owner != 0 {
            let p = self.nodes.node(id).path().to_owned();
            self.index_special(&p, id, owner);
        }
        Ok(id)
    }

    /// The path hasher of this tree's index (for hashing paths on another thread).
    pub(crate) fn path_hasher(&self) -> PathHasher {
        self.nodes.hasher()
    }

    /// A frozen copy of the tree for a snapshot (see `TreeImage`).
    pub fn image(&self) -> TreeImage {
        let mut sessions: Vec<(i64, i32)> = self.sessions.iter().map(|(&id, &to)| (id, to)).collect();
        sessions.sort_unstable();
        TreeImage {
            last_zxid: self.last_zxid,
            sessions,
            acls: self.acls.iter(),
            node_count: self.nodes.len(),
            store: self.nodes.image(),
        }
    }

    pub(crate) fn restore_meta(&mut self, last_zxid: i64, sessions: HashMap<i64, i32>) {
        self.last_zxid = last_zxid;
        self.sessions = sessions;
        self.quotas = quota::Quotas::rebuild(self);
        self.recount_quotas();
    }

    /// Visits znodes parent-first.
    pub fn walk(&self, f: impl FnMut(&str, &Znode)) {
        self.walk_from("/", f)
    }

    /// Visits `root` and its descendants, parents first.
    pub fn walk_from(&self, root: &str, mut f: impl FnMut(&str, &Znode)) {
        let mut stack: Vec<u32> = self.nodes.find(root).into_iter().collect();
        while let Some(id) = stack.pop() {
            let n = self.nodes.node(id);
            f(n.path(), n);
            stack.extend(self.nodes.children(id));
        }
    }

    pub(crate) fn acl_table_mut(&mut self) -> &mut AclTable {
        &mut self.acls
    }

    /// Makes room for `n` more znodes (snapshot restore knows the count up front).
    pub(crate) fn reserve(&mut self, n: usize) {
        self.nodes.reserve(n);
    }

    /// A digest of the whole tree's state, for tests comparing two trees: every znode's
    /// path, Stat, data and ACL, sorted by path.
    pub fn fingerprint(&self) -> Vec<NodeFingerprint> {
        let mut v = Vec::with_capacity(self.nodes.len());
        self.walk(|p, n| v.push((p.to_owned(), n.stat(), n.data().map(|d| d.to_vec()), self.acls.get(n.acl).to_vec())));
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

#[cfg(test)]
mod tests;
