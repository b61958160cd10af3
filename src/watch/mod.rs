//! The watch registry: which connection watches which path, in which mode, and which
//! watch events a tree change triggers. Semantics are ZooKeeper 3.9's, checked against
//! release-3.9.5 `DataTree.java` (createNode / deleteNode / setData / addWatch /
//! setWatches / containsWatcher / removeWatch), `watch/WatchManager.java`
//! (addWatch / triggerWatch / removeWatcher / containsWatcher), `watch/WatchStats.java`,
//! `watch/WatcherMode.java`, `watch/PathParentIterator.java` and `FinalRequestProcessor.java`
//! (checkWatches / removeWatches).
//!
//! ZooKeeper keeps two managers, `dataWatches` and `childWatches`, each mapping
//! (path, watcher) to a set of modes {STANDARD, PERSISTENT, PERSISTENT_RECURSIVE}:
//! - getData / exists add STANDARD to `dataWatches` (data and exist watches are the same
//!   thing on the server); getChildren adds STANDARD to `childWatches`;
//! - addWatch PERSISTENT adds PERSISTENT to both; PERSISTENT_RECURSIVE only to `dataWatches`.
//!
//! Triggers: create fires `dataWatches` NodeCreated on the path (and `childWatches`
//! NodeChildrenChanged on the parent: a separate [`Trigger`]); setData fires `dataWatches`
//! NodeDataChanged; delete fires `dataWatches` NodeDeleted, then `childWatches` NodeDeleted on
//! the same path suppressing watchers already notified. In a manager, every mode of a watcher
//! on the exact path fires and STANDARD is consumed; on ancestors (walked only while some
//! recursive watch exists) only PERSISTENT_RECURSIVE fires. Hence recursive watches never see
//! NodeChildrenChanged. We store both managers as one flag byte per (path, watcher).
//!
//! Must never: do I/O, read a clock, use randomness, or know about the tree. The caller
//! decides what a change triggers (e.g. setWatches' zxid checks against the tree) and
//! delivers the returned events.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use crate::proto::codes::{event, state, watcher_type, ErrorCode};
use crate::proto::records::WatcherEvent;

/// A watching connection.
pub type WatcherId = u64;

/// How a watch was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WatchKind {
    /// getData with watch. Same server-side watch as `Exist`.
    Data,
    /// exists with watch. Same server-side watch as `Data`.
    Exist,
    /// getChildren with watch.
    Child,
    /// addWatch PERSISTENT.
    Persistent,
    /// addWatch PERSISTENT_RECURSIVE.
    PersistentRecursive,
}

/// What a tree change triggers; the tree emits these (a create emits `Created(path)` and
/// `ChildrenChanged(parent)`; a delete `Deleted(path)` and `ChildrenChanged(parent)`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Trigger {
    Created(String),
    Deleted(String),
    DataChanged(String),
    ChildrenChanged(String),
}

/// ZooKeeper's wchs numbers: connections, paths and watches of the *data* manager only
/// (`DataTree.getWatchesSummary` reads `dataWatches`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WatchSummary {
    pub connections: usize,
    pub paths: usize,
    pub total_watches: usize,
}

/// `dataWatches` STANDARD (getData / exists).
const DATA: u8 = 1;
/// `childWatches` STANDARD (getChildren).
const CHILD: u8 = 2;
/// PERSISTENT, which ZooKeeper always adds to and removes from both managers together.
const PERSISTENT: u8 = 4;
/// `dataWatches` PERSISTENT_RECURSIVE.
const RECURSIVE: u8 = 8;
const ALL: u8 = DATA | CHILD | PERSISTENT | RECURSIVE;
/// Flags that put an entry in `dataWatches`.
const IN_DATA: u8 = DATA | PERSISTENT | RECURSIVE;
/// Flags that put an entry in `childWatches`.
const IN_CHILD: u8 = CHILD | PERSISTENT;

fn kind_flag(kind: WatchKind) -> u8 {
    match kind {
        WatchKind::Data | WatchKind::Exist => DATA,
        WatchKind::Child => CHILD,
        WatchKind::Persistent => PERSISTENT,
        WatchKind::PersistentRecursive => RECURSIVE,
    }
}

/// Flags a checkWatches / removeWatches `watcher_type` addresses (`DataTree.containsWatcher`
/// / `DataTree.removeWatch`): Children -> child STANDARD; Data -> data STANDARD;
/// Persistent -> PERSISTENT (both managers); PersistentRecursive -> PERSISTENT_RECURSIVE;
/// Any -> every mode in both managers (`removeWatcher(path, w, null)` unwatches all modes,
/// so Any also removes persistent and recursive watches). Unknown types make
/// `WatcherType.fromInt` throw, which `FinalRequestProcessor` answers with MARSHALLINGERROR.
fn type_mask(wt: i32) -> Result<u8, ErrorCode> {
    Ok(match wt {
        watcher_type::CHILDREN => CHILD,
        watcher_type::DATA => DATA,
        watcher_type::ANY => ALL,
        watcher_type::PERSISTENT => PERSISTENT,
        watcher_type::PERSISTENT_RECURSIVE => RECURSIVE,
        _ => return Err(ErrorCode::MarshallingError),
    })
}

fn flag_kinds(flags: u8) -> Vec<WatchKind> {
    let mut v = Vec::new();
    if flags & DATA != 0 {
        v.push(WatchKind::Data);
    }
    if flags & CHILD != 0 {
        v.push(WatchKind::Child);
    }
    if flags & PERSISTENT != 0 {
        v.push(WatchKind::Persistent);
    }
    if flags & RECURSIVE != 0 {
        v.push(WatchKind::PersistentRecursive);
    }
    v
}

/// Proper ancestors of a (valid) path, nearest first: "/a/b" -> "/a", "/"
/// (`PathParentIterator.forAll` minus its first element).
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut cur = path;
    std::iter::from_fn(move || {
        if cur.len() <= 1 {
            return None;
        }
        let i = cur.rfind('/')?;
        cur = if i == 0 { "/" } else { &cur[..i] };
        Some(cur)
    })
}

/// Above this many watchers a path's set switches from a vector to a hash map.
const SMALL_MAX: usize = 16;

/// The watchers of one path with their flags (never 0).
#[derive(Debug, Clone)]
enum Slot {
    Small(Vec<(WatcherId, u8)>),
    Large(HashMap<WatcherId, u8>),
}

impl Slot {
    fn new() -> Self {
        Slot::Small(Vec::with_capacity(1))
    }

    fn get(&self, w: WatcherId) -> u8 {
        match self {
            Slot::Small(v) => v.iter().find(|e| e.0 == w).map_or(0, |e| e.1),
            Slot::Large(m) => m.get(&w).copied().unwrap_or(0),
        }
    }

    /// Sets non-zero flags, inserting if needed.
    fn set(&mut self, w: WatcherId, flags: u8) {
        debug_assert!(flags != 0);
        match self {
            Slot::Small(v) => {
                if let Some(e) = v.iter_mut().find(|e| e.0 == w) {
                    e.1 = flags;
                } else if v.len() < SMALL_MAX {
                    v.push((w, flags));
                } else {
                    let mut m: HashMap<WatcherId, u8> = v.drain(..).collect();
                    m.insert(w, flags);
                    *self = Slot::Large(m);
                }
            }
            Slot::Large(m) => {
                m.insert(w, flags);
            }
        }
    }

    /// Removes a watcher; returns its old flags (0 if absent).
    fn remove(&mut self, w: WatcherId) -> u8 {
        match self {
            Slot::Small(v) => match v.iter().position(|e| e.0 == w) {
                Some(i) => v.swap_remove(i).1,
                None => 0,
            },
            Slot::Large(m) => m.remove(&w).unwrap_or(0),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Slot::Small(v) => v.is_empty(),
            Slot::Large(m) => m.is_empty(),
        }
    }

    fn for_each(&self, mut f: impl FnMut(WatcherId, u8)) {
        match self {
            Slot::Small(v) => v.iter().for_each(|&(w, fl)| f(w, fl)),
            Slot::Large(m) => m.iter().for_each(|(&w, &fl)| f(w, fl)),
        }
    }
}

/// The watch registry (ZooKeeper's `dataWatches` + `childWatches`).
#[derive(Debug, Clone, Default)]
pub struct WatchManager {
    /// Path -> watchers and their flags. Keys are shared with `by_watcher`.
    table: HashMap<Arc<str>, Slot>,
    /// Watcher -> paths it has any watch on.
    by_watcher: HashMap<WatcherId, HashSet<Arc<str>>>,
    /// Entries in ZooKeeper's `dataWatches` / `childWatches`.
    data_count: usize,
    child_count: usize,
    /// Entries with PERSISTENT_RECURSIVE (`WatchManager.recursiveWatchQty`).
    recursive_count: usize,
}

impl WatchManager {
    pub fn new() -> Self {
        Self::default()
    }

    fn flags(&self, path: &str, w: WatcherId) -> u8 {
        self.table.get(path).map_or(0, |s| s.get(w))
    }

    fn account(&mut self, old: u8, new: u8) {
        fn adj(n: &mut usize, old: bool, new: bool) {
            match (old, new) {
                (false, true) => *n += 1,
                (true, false) => *n -= 1,
                _ => {}
            }
        }
        adj(&mut self.data_count, old & IN_DATA != 0, new & IN_DATA != 0);
        adj(&mut self.child_count, old & IN_CHILD != 0, new & IN_CHILD != 0);
        adj(&mut self.recursive_count, old & RECURSIVE != 0, new & RECURSIVE != 0);
    }

    /// Applies `f` to the flags of (path, w), keeping both indexes and the counters in step.
    /// Returns the old flags.
    fn update(&mut self, path: &str, w: WatcherId, f: impl FnOnce(u8) -> u8) -> u8 {
        let old = self.flags(path, w);
        let new = f(old) & ALL;
        if old == new {
            return old;
        }
        self.account(old, new);
        if new == 0 {
            if let Some(slot) = self.table.get_mut(path) {
                slot.remove(w);
                if slot.is_empty() {
                    self.table.remove(path);
                }
            }
            if let Some(paths) = self.by_watcher.get_mut(&w) {
                paths.remove(path);
                if paths.is_empty() {
                    self.by_watcher.remove(&w);
                }
            }
        } else if old == 0 {
            let key = match self.table.get_key_value(path) {
                Some((k, _)) => Arc::clone(k),
                None => Arc::from(path),
            };
            self.by_watcher.entry(w).or_default().insert(Arc::clone(&key));
            self.table.entry(key).or_insert_with(Slot::new).set(w, new);
        } else if let Some(slot) = self.table.get_mut(path) {
            slot.set(w, new);
        }
        old
    }

    /// Sets a watch. Setting one that exists is a no-op. `Data` and `Exist` are the same
    /// server-side watch; `Persistent` counts in both of ZooKeeper's managers.
    pub fn add(&mut self, path: &str, w: WatcherId, kind: WatchKind) {
        let flag = kind_flag(kind);
        self.update(path, w, |f| f | flag);
    }

    /// Events for one tree change: at most one per watcher, sorted by watcher id. One-shot
    /// (data/exist/child) watches that fire are removed; persistent ones stay. Looks at the
    /// changed path's own watchers, plus its ancestors' recursive watches only while any
    /// recursive watch exists.
    pub fn fire(&mut self, t: &Trigger) -> Vec<(WatcherId, WatcherEvent)> {
        // (path, event type, flags that fire on the exact path, flags consumed, ancestors?)
        let (path, type_, fires, consumes, up) = match t {
            Trigger::Created(p) => (p, event::NODE_CREATED, IN_DATA, DATA, true),
            Trigger::DataChanged(p) => (p, event::NODE_DATA_CHANGED, IN_DATA, DATA, true),
            Trigger::Deleted(p) => (p, event::NODE_DELETED, IN_DATA | IN_CHILD, DATA | CHILD, true),
            Trigger::ChildrenChanged(p) => (p, event::NODE_CHILDREN_CHANGED, IN_CHILD, CHILD, false),
        };
        let path = path.as_str();
        let mut hit: Vec<WatcherId> = Vec::new();
        let mut spent: Vec<WatcherId> = Vec::new();
        if let Some(slot) = self.table.get(path) {
            slot.for_each(|w, fl| {
                if fl & fires != 0 {
                    hit.push(w);
                    if fl & consumes != 0 {
                        spent.push(w);
                    }
                }
            });
        }
        for w in spent {
            self.update(path, w, |f| f & !consumes);
        }
        if up && self.recursive_count > 0 {
            for a in ancestors(path) {
                if let Some(slot) = self.table.get(a) {
                    slot.for_each(|w, fl| {
                        if fl & RECURSIVE != 0 {
                            hit.push(w);
                        }
                    });
                }
            }
        }
        hit.sort_unstable();
        hit.dedup();
        hit.into_iter()
            .map(|w| {
                let e = WatcherEvent { type_, state: state::SYNC_CONNECTED, path: path.to_owned() };
                (w, e)
            })
            .collect()
    }

    /// Connection closed: drop all its watches (`DataTree.removeCnxn`).
    pub fn remove_watcher(&mut self, w: WatcherId) {
        let Some(paths) = self.by_watcher.remove(&w) else {
            return;
        };
        for p in paths {
            let old = match self.table.get_mut(&*p) {
                Some(slot) => {
                    let old = slot.remove(w);
                    if slot.is_empty() {
                        self.table.remove(&*p);
                    }
                    old
                }
                None => 0,
            };
            self.account(old, 0);
        }
    }

    /// removeWatches (`DataTree.removeWatch`). `watcher_type`: CHILDREN removes the child
    /// watch; DATA the data/exist watch; PERSISTENT the persistent watch; PERSISTENT_RECURSIVE
    /// the recursive one; ANY all of them, persistent and recursive included.
    ///
    /// The ZooKeeper server sends no notification for removeWatches, only the reply
    /// (`FinalRequestProcessor`, case removeWatches); the DataWatchRemoved /
    /// ChildWatchRemoved / PersistentWatchRemoved events are generated by the client
    /// library. So this returns the kinds removed (`Data` stands for data/exist), for
    /// logging or tests, and the caller replies OK. Errors: `NoWatcher` if nothing matched,
    /// `MarshallingError` for an unknown `watcher_type` (what ZooKeeper answers).
    pub fn remove(&mut self, path: &str, w: WatcherId, watcher_type: i32) -> Result<Vec<WatchKind>, ErrorCode> {
        let mask = type_mask(watcher_type)?;
        let old = self.update(path, w, |f| f & !mask);
        match old & mask {
            0 => Err(ErrorCode::NoWatcher),
            removed => Ok(flag_kinds(removed)),
        }
    }

    /// checkWatches: is there such a watch (`DataTree.containsWatcher`)? CHILDREN: child
    /// watch; DATA: data/exist watch; PERSISTENT; PERSISTENT_RECURSIVE; ANY: any watch at
    /// all on the path. False for an unknown type (see [`check`](Self::check)).
    pub fn contains(&self, path: &str, w: WatcherId, watcher_type: i32) -> bool {
        type_mask(watcher_type).is_ok_and(|m| self.flags(path, w) & m != 0)
    }

    /// checkWatches as the reply code: Ok, `NoWatcher`, or `MarshallingError` for an
    /// unknown type.
    pub fn check(&self, path: &str, w: WatcherId, watcher_type: i32) -> Result<(), ErrorCode> {
        let m = type_mask(watcher_type)?;
        if self.flags(path, w) & m != 0 {
            Ok(())
        } else {
            Err(ErrorCode::NoWatcher)
        }
    }

    /// The kinds a watcher has on a path (`Data` stands for data/exist).
    pub fn kinds(&self, path: &str, w: WatcherId) -> Vec<WatchKind> {
        flag_kinds(self.flags(path, w))
    }

    /// Total watches as ZooKeeper counts them (`DataTree.getWatchCount` =
    /// `dataWatches.size() + childWatches.size()`, mntr's `zk_watch_count`): a data+child
    /// pair or a persistent watch counts 2, a recursive watch 1.
    pub fn count(&self) -> usize {
        self.data_count + self.child_count
    }

    /// wchs "paths": paths with a data-manager watch (data/exist, persistent, recursive).
    /// Like ZooKeeper, child-only paths are not counted. O(paths).
    pub fn watched_paths(&self) -> usize {
        self.table
            .values()
            .filter(|s| {
                let mut any = false;
                s.for_each(|_, fl| any |= fl & IN_DATA != 0);
                any
            })
            .count()
    }

    /// wchs "connections": watchers with a data-manager watch. O(watches).
    pub fn watchers(&self) -> usize {
        self.by_watcher.iter().filter(|(&w, paths)| paths.iter().any(|p| self.flags(p, w) & IN_DATA != 0)).count()
    }

    /// The wchs line: `connections` connections watching `paths` paths, `total_watches`
    /// watches, all of the data manager (as `DataTree.getWatchesSummary`).
    pub fn summary(&self) -> WatchSummary {
        WatchSummary { connections: self.watchers(), paths: self.watched_paths(), total_watches: self.data_count }
    }

    /// wchc: paths by watcher, sorted. Data-manager watches only, as ZooKeeper's
    /// `DataTree.getWatches` / `dumpWatches(byPath=false)` (child-only watches don't show).
    pub fn by_watcher(&self) -> BTreeMap<WatcherId, Vec<String>> {
        let mut out = BTreeMap::new();
        for (&w, paths) in &self.by_watcher {
            let mut v: Vec<String> =
                paths.iter().filter(|p| self.flags(p, w) & IN_DATA != 0).map(|p| p.to_string()).collect();
            if !v.is_empty() {
                v.sort_unstable();
                out.insert(w, v);
            }
        }
        out
    }

    /// wchp: watchers by path, sorted. Data-manager watches only, as ZooKeeper's
    /// `DataTree.getWatchesByPath` / `dumpWatches(byPath=true)`.
    pub fn by_path(&self) -> BTreeMap<String, Vec<WatcherId>> {
        let mut out = BTreeMap::new();
        for (p, slot) in &self.table {
            let mut v = Vec::new();
            slot.for_each(|w, fl| {
                if fl & IN_DATA != 0 {
                    v.push(w);
                }
            });
            if !v.is_empty() {
                v.sort_unstable();
                out.insert(p.to_string(), v);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
