//! The znode store: every znode lives in a slot named by its index (an id, reused after a
//! delete). A znode keeps its full path and its data in a single shared allocation, the path
//! index is an open-addressing table of (id, path hash) pairs, and children hang off their
//! parent in an intrusive doubly linked list, so a znode costs one allocation and no per-child
//! set. With millions of znodes this is most of the server's memory.
//! Slots are kept in fixed-size chunks behind `Arc`s, so `image()` is an O(chunks) frozen copy
//! of every znode: a chunk is copied only when it is changed while an image still holds it
//! (copy-on-write), and a copy shares the znodes' path+data allocations. That lets a snapshot
//! be encoded on another thread while the tree keeps changing.
//! Must never: apply txns, compute Stat semantics beyond reading fields, or keep a path
//! anywhere but in its znode.

use crate::proto::codes::CONTAINER_EPHEMERAL_OWNER;
use crate::proto::records::Stat;
use hashbrown::HashTable;
use std::sync::Arc;

/// "No znode" in the links.
const NIL: u32 = u32::MAX;

/// One znode. Stat fields that can be derived (dataLength, numChildren) are not stored.
#[derive(Debug, Clone)]
pub struct Znode {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub ephemeral_owner: i64,
    pub pzxid: i64,
    pub version: i32,
    /// The stored child-change counter: ZooKeeper (3.6+) advances it on child creates only
    /// and shows clients `2 * cversion - numChildren` (creates plus deletes); sequential names
    /// come from the stored value.
    pub cversion: i32,
    pub aversion: i32,
    /// Id in the tree's ACL table.
    pub acl: u32,
    num_children: u32,
    parent: u32,
    first_child: u32,
    next: u32,
    prev: u32,
    /// Leading bytes of `blob` that hold the path; 0 marks a free slot.
    path_len: u32,
    has_data: bool,
    /// The path followed by the data; never changed in place (shared with snapshot images).
    blob: Arc<[u8]>,
}

impl Znode {
    /// A znode with every counter zero, holding `path` and `data`.
    pub fn new(path: &str, data: Option<&[u8]>) -> Znode {
        Znode::bare(path.len() as u32, join(path.as_bytes(), data), data.is_some())
    }

    /// A znode from its path followed directly by its data (`has_data` false for null data),
    /// copied in one go (snapshot restore). The path must be the first `path_len` bytes.
    pub fn from_path_and_data(path_and_data: &[u8], path_len: usize, has_data: bool) -> Znode {
        Znode::bare(path_len as u32, Arc::from(path_and_data), has_data)
    }

    fn bare(path_len: u32, blob: Arc<[u8]>, has_data: bool) -> Znode {
        Znode {
            czxid: 0,
            mzxid: 0,
            ctime: 0,
            mtime: 0,
            ephemeral_owner: 0,
            pzxid: 0,
            version: 0,
            cversion: 0,
            aversion: 0,
            acl: 0,
            num_children: 0,
            parent: NIL,
            first_child: NIL,
            next: NIL,
            prev: NIL,
            path_len,
            has_data,
            blob,
        }
    }

    fn free_slot() -> Znode {
        let mut z = Znode::new("", None);
        z.path_len = 0;
        z
    }

    pub(crate) fn path_bytes(&self) -> &[u8] {
        &self.blob[..self.path_len as usize]
    }

    /// The znode's full path.
    pub fn path(&self) -> &str {
        // The path bytes are only ever copied from a `&str` (`new`), and `set_data` keeps them.
        std::str::from_utf8(self.path_bytes()).unwrap_or_default()
    }

    /// The last component of the path ("" for the root).
    pub fn name(&self) -> &str {
        let p = self.path();
        match p.rfind('/') {
            Some(i) => &p[i + 1..],
            None => p,
        }
    }

    /// The data (None for a znode created with null data).
    pub fn data(&self) -> Option<&[u8]> {
        self.has_data.then(|| &self.blob[self.path_len as usize..])
    }

    pub fn data_len(&self) -> usize {
        self.blob.len() - self.path_len as usize
    }

    /// Replaces the data, keeping the path.
    pub fn set_data(&mut self, data: Option<&[u8]>) {
        self.blob = join(self.path_bytes(), data);
        self.has_data = data.is_some();
    }

    /// Whether this is an empty slot (no znode has an empty path).
    pub(crate) fn is_free(&self) -> bool {
        self.path_len == 0
    }

    pub fn num_children(&self) -> usize {
        self.num_children as usize
    }

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
            cversion: self.cversion.wrapping_mul(2).wrapping_sub(self.num_children as i32),
            aversion: self.aversion,
            ephemeral_owner: self.client_ephemeral_owner(),
            data_length: self.data_len() as i32,
            num_children: self.num_children as i32,
            pzxid: self.pzxid,
        }
    }
}

/// A znode's blob: `path` followed by `data`, in one allocation (a chain of slice iterators
/// has an exact length).
fn join(path: &[u8], data: Option<&[u8]>) -> Arc<[u8]> {
    path.iter().chain(data.unwrap_or_default()).copied().collect()
}

/// A path's hash as the index keeps it (32 bits, so the table holds 8-byte entries and can
/// grow without reading any znode).
pub type PathHash = u32;

/// Hashes paths as one store's index does (a copy can hash on another thread).
#[derive(Debug, Clone, Default)]
pub struct PathHasher(ahash::RandomState);

impl PathHasher {
    pub fn hash(&self, path: &str) -> PathHash {
        self.hash_bytes(path.as_bytes())
    }

    /// The same hash from the path's bytes (no UTF-8 check).
    pub fn hash_bytes(&self, path: &[u8]) -> PathHash {
        let h = self.0.hash_one(path);
        (h ^ (h >> 32)) as u32
    }
}

fn wide(h: PathHash) -> u64 {
    // hashbrown takes bucket bits from the low end and tag bits from the top.
    (h as u64) << 32 | h as u64
}

/// Slots per chunk (a power of two): small enough that copying one on write is cheap, large
/// enough that an image of a million znodes is a thousand pointers.
const CHUNK_BITS: u32 = 10;
const CHUNK: usize = 1 << CHUNK_BITS;

/// A run of slots; every chunk but the last is full.
#[derive(Debug, Default)]
struct Chunk {
    slots: Vec<Znode>,
}

impl Clone for Chunk {
    /// A copy with room for a whole chunk, so the last chunk copied while an image holds it
    /// does not regrow as it fills.
    fn clone(&self) -> Chunk {
        let mut slots = Vec::with_capacity(CHUNK);
        slots.extend_from_slice(&self.slots);
        Chunk { slots }
    }
}

/// The slots, in chunks shared with any image still being read.
#[derive(Debug, Clone, Default)]
struct Slots {
    chunks: Vec<Arc<Chunk>>,
}

impl Slots {
    fn get(&self, id: u32) -> &Znode {
        &self.chunks[(id >> CHUNK_BITS) as usize].slots[id as usize & (CHUNK - 1)]
    }

    /// The slot, after copying its chunk if an image shares it.
    fn get_mut(&mut self, id: u32) -> &mut Znode {
        &mut Arc::make_mut(&mut self.chunks[(id >> CHUNK_BITS) as usize]).slots[id as usize & (CHUNK - 1)]
    }

    /// Slots in use or free; the next pushed znode gets this id.
    fn len(&self) -> usize {
        self.chunks.last().map_or(0, |c| (self.chunks.len() - 1) * CHUNK + c.slots.len())
    }

    fn push(&mut self, node: Znode) {
        if self.len() % CHUNK == 0 {
            self.chunks.push(Arc::new(Chunk { slots: Vec::with_capacity(CHUNK) }));
        }
        let last = self.chunks.last_mut().expect("a chunk with room");
        Arc::make_mut(last).slots.push(node);
    }
}

/// A frozen copy of every znode slot, cheap to take and safe to read on another thread while
/// the store goes on changing.
#[derive(Debug, Clone)]
pub struct StoreImage {
    chunks: Vec<Arc<Chunk>>,
}

impl StoreImage {
    /// The live znodes in slot order (not parents first).
    pub fn znodes(&self) -> impl Iterator<Item = &Znode> {
        self.chunks.iter().flat_map(|c| c.slots.iter()).filter(|n| !n.is_free())
    }
}

/// The arena of znodes with its path index.
#[derive(Debug, Clone)]
pub struct Store {
    nodes: Slots,
    free: Vec<u32>,
    index: HashTable<(u32, PathHash)>,
    hasher: PathHasher,
}

impl Default for Store {
    fn default() -> Self {
        Store { nodes: Slots::default(), free: Vec::new(), index: HashTable::new(), hasher: PathHasher::default() }
    }
}

impl Store {
    /// Number of live znodes.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Makes room for `n` more znodes in the index (slots grow a chunk at a time).
    pub fn reserve(&mut self, n: usize) {
        self.index.reserve(n, |e| wide(e.1));
    }

    /// A frozen copy of every znode (see `StoreImage`).
    pub fn image(&self) -> StoreImage {
        StoreImage { chunks: self.nodes.chunks.clone() }
    }

    pub fn hash(&self, path: &str) -> PathHash {
        self.hasher.hash(path)
    }

    fn hash_bytes(&self, path: &[u8]) -> PathHash {
        self.hasher.hash_bytes(path)
    }

    /// A copy of the index's path hasher.
    pub fn hasher(&self) -> PathHasher {
        self.hasher.clone()
    }

    /// The id of the znode at `path`, given its hash.
    pub fn find_hashed(&self, path: &str, h: PathHash) -> Option<u32> {
        let nodes = &self.nodes;
        self.index.find(wide(h), |e| e.1 == h && nodes.get(e.0).path_bytes() == path.as_bytes()).map(|e| e.0)
    }

    pub fn find(&self, path: &str) -> Option<u32> {
        self.find_hashed(path, self.hash(path))
    }

    pub fn get(&self, path: &str) -> Option<&Znode> {
        self.find(path).map(|id| self.nodes.get(id))
    }

    pub fn node(&self, id: u32) -> &Znode {
        self.nodes.get(id)
    }

    pub fn node_mut(&mut self, id: u32) -> &mut Znode {
        self.nodes.get_mut(id)
    }

    /// Adds `node` (whose path hashes to `h`) as the first child of `parent` (None for the
    /// root, or for a znode `link`ed to its parent later), in one probe of the index. Returns
    /// its id, or gives the node back when its path is already present.
    pub fn insert_hashed(&mut self, mut node: Znode, parent: Option<u32>, h: PathHash) -> Result<u32, Znode> {
        let id = match self.free.last() {
            Some(&id) => id,
            None => self.nodes.len() as u32,
        };
        let nodes = &self.nodes;
        let path = node.path_bytes();
        match self.index.entry(wide(h), |e| e.1 == h && nodes.get(e.0).path_bytes() == path, |e| wide(e.1)) {
            hashbrown::hash_table::Entry::Occupied(_) => return Err(node),
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert((id, h));
            }
        }
        node.parent = NIL;
        node.prev = NIL;
        node.next = NIL;
        node.first_child = NIL;
        node.num_children = 0;
        if self.free.pop().is_some() {
            *self.nodes.get_mut(id) = node;
        } else {
            self.nodes.push(node);
        }
        if let Some(parent) = parent {
            self.link(id, parent);
        }
        Ok(id)
    }

    /// Makes the unlinked znode `id` the first child of `parent`.
    pub fn link(&mut self, id: u32, parent: u32) {
        let old_first = {
            let p = self.nodes.get_mut(parent);
            let old = p.first_child;
            p.first_child = id;
            p.num_children += 1;
            old
        };
        let n = self.nodes.get_mut(id);
        n.parent = parent;
        n.next = old_first;
        if old_first != NIL {
            self.nodes.get_mut(old_first).prev = id;
        }
    }

    /// Removes the znode `id` (which must have no children) and returns it.
    pub fn remove(&mut self, id: u32) -> Znode {
        let h = self.hash_bytes(self.nodes.get(id).path_bytes());
        if let Ok(e) = self.index.find_entry(wide(h), |e| e.0 == id) {
            e.remove();
        }
        let node = std::mem::replace(self.nodes.get_mut(id), Znode::free_slot());
        if node.prev != NIL {
            self.nodes.get_mut(node.prev).next = node.next;
        } else if node.parent != NIL {
            self.nodes.get_mut(node.parent).first_child = node.next;
        }
        if node.next != NIL {
            self.nodes.get_mut(node.next).prev = node.prev;
        }
        if node.parent != NIL {
            self.nodes.get_mut(node.parent).num_children -= 1;
        }
        self.free.push(id);
        node
    }

    /// The parent's id (None for the root).
    pub fn parent_of(&self, id: u32) -> Option<u32> {
        let p = self.nodes.get(id).parent;
        (p != NIL).then_some(p)
    }

    /// Ids of the children of `id`, most recently linked first.
    pub fn children(&self, id: u32) -> Children<'_> {
        Children { store: self, next: self.nodes.get(id).first_child }
    }
}

/// Iterator over a znode's children ids.
pub struct Children<'a> {
    store: &'a Store,
    next: u32,
}

impl Iterator for Children<'_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        if self.next == NIL {
            return None;
        }
        let id = self.next;
        self.next = self.store.nodes.get(id).next;
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(s: &mut Store, p: &str, parent: Option<&str>) -> u32 {
        let pid = parent.map(|pp| s.find(pp).unwrap());
        let h = s.hash(p);
        s.insert_hashed(Znode::new(p, Some(p.as_bytes())), pid, h).expect("new path")
    }

    #[test]
    fn insert_find_remove_and_reuse() {
        let mut s = Store::default();
        let root = add(&mut s, "/", None);
        let a = add(&mut s, "/a", Some("/"));
        let b = add(&mut s, "/b", Some("/"));
        let c = add(&mut s, "/a/c", Some("/a"));
        assert_eq!(s.len(), 4);
        let h = s.hash("/a");
        assert!(s.insert_hashed(Znode::new("/a", None), Some(root), h).is_err(), "a path is there once");
        assert_eq!(s.node(root).num_children(), 2);
        assert_eq!(s.children(root).collect::<Vec<_>>(), vec![b, a]);
        assert_eq!(s.node(root).num_children(), 2);
        assert_eq!(s.get("/a/c").unwrap().data(), Some(&b"/a/c"[..]));
        assert_eq!(s.node(c).name(), "c");
        assert_eq!(s.parent_of(c), Some(a));
        let removed = s.remove(c);
        assert_eq!(removed.path(), "/a/c");
        assert!(s.find("/a/c").is_none());
        assert_eq!(s.node(a).num_children(), 0);
        s.remove(b);
        assert_eq!(s.children(root).collect::<Vec<_>>(), vec![a]);
        let d = add(&mut s, "/d", Some("/"));
        assert!(d == b || d == c, "a freed slot is reused");
        assert_eq!(s.children(root).collect::<Vec<_>>(), vec![d, a]);
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn set_data_keeps_path_and_null_differs_from_empty() {
        let mut n = Znode::new("/x", None);
        assert_eq!(n.data(), None);
        n.set_data(Some(b""));
        assert_eq!((n.path(), n.data()), ("/x", Some(&b""[..])));
        n.set_data(Some(b"abc"));
        assert_eq!((n.path(), n.data(), n.data_len()), ("/x", Some(&b"abc"[..]), 3));
    }

    #[test]
    fn grows_past_many_rehashes() {
        let mut s = Store::default();
        add(&mut s, "/", None);
        for i in 0..5000 {
            add(&mut s, &format!("/n{i}"), Some("/"));
        }
        for i in (0..5000).step_by(2) {
            let id = s.find(&format!("/n{i}")).unwrap();
            s.remove(id);
        }
        assert_eq!(s.len(), 2501);
        assert!((0..5000).all(|i| s.find(&format!("/n{i}")).is_some() == (i % 2 == 1)));
    }
}
