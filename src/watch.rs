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
mod tests {
    use super::*;
    use watcher_type as wt;
    use WatchKind::*;

    fn ev(type_: i32, path: &str) -> WatcherEvent {
        WatcherEvent { type_, state: state::SYNC_CONNECTED, path: path.to_string() }
    }

    fn created(p: &str) -> Trigger {
        Trigger::Created(p.into())
    }
    fn deleted(p: &str) -> Trigger {
        Trigger::Deleted(p.into())
    }
    fn changed(p: &str) -> Trigger {
        Trigger::DataChanged(p.into())
    }
    fn children(p: &str) -> Trigger {
        Trigger::ChildrenChanged(p.into())
    }

    fn who(v: &[(WatcherId, WatcherEvent)]) -> Vec<WatcherId> {
        v.iter().map(|e| e.0).collect()
    }

    #[test]
    fn ancestors_walk_to_root() {
        assert_eq!(ancestors("/a/b/c").collect::<Vec<_>>(), vec!["/a/b", "/a", "/"]);
        assert_eq!(ancestors("/a").collect::<Vec<_>>(), vec!["/"]);
        assert_eq!(ancestors("/").count(), 0);
    }

    #[test]
    fn data_and_exist_fire_on_created_deleted_changed_once() {
        for (t, ty) in [
            (created("/a"), event::NODE_CREATED),
            (deleted("/a"), event::NODE_DELETED),
            (changed("/a"), event::NODE_DATA_CHANGED),
        ] {
            let mut m = WatchManager::new();
            m.add("/a", 1, Data);
            m.add("/a", 2, Exist);
            m.add("/b", 3, Data);
            assert_eq!(m.fire(&t), vec![(1, ev(ty, "/a")), (2, ev(ty, "/a"))]);
            // One-shot: gone after firing.
            assert!(m.fire(&t).is_empty());
            assert!(!m.contains("/a", 1, wt::DATA));
            assert_eq!(m.count(), 1);
        }
    }

    #[test]
    fn data_watch_ignores_children_changed_and_other_paths() {
        let mut m = WatchManager::new();
        m.add("/a", 1, Data);
        assert!(m.fire(&children("/a")).is_empty());
        assert!(m.fire(&changed("/a/b")).is_empty());
        assert!(m.fire(&changed("/")).is_empty());
        assert!(m.contains("/a", 1, wt::DATA));
    }

    #[test]
    fn child_watch_fires_on_children_changed_and_deleted_only() {
        let mut m = WatchManager::new();
        m.add("/a", 1, Child);
        assert!(m.fire(&created("/a")).is_empty());
        assert!(m.fire(&changed("/a")).is_empty());
        assert!(m.fire(&children("/a/b")).is_empty());
        assert_eq!(m.fire(&children("/a")), vec![(1, ev(event::NODE_CHILDREN_CHANGED, "/a"))]);
        assert!(m.fire(&children("/a")).is_empty());
        m.add("/a", 1, Child);
        assert_eq!(m.fire(&deleted("/a")), vec![(1, ev(event::NODE_DELETED, "/a"))]);
        assert_eq!(m.count(), 0);
        assert!(m.fire(&children("/a")).is_empty());
    }

    #[test]
    fn dedupe_data_and_child_on_delete() {
        let mut m = WatchManager::new();
        m.add("/a", 1, Data);
        m.add("/a", 1, Child);
        m.add("/a", 1, Persistent);
        m.add("/", 1, PersistentRecursive);
        assert_eq!(m.fire(&deleted("/a")), vec![(1, ev(event::NODE_DELETED, "/a"))]);
        // Both one-shot watches were consumed; the persistent one stays.
        assert!(!m.contains("/a", 1, wt::DATA));
        assert!(!m.contains("/a", 1, wt::CHILDREN));
        assert!(m.contains("/a", 1, wt::PERSISTENT));
    }

    #[test]
    fn one_shot_consumed_even_when_persistent_also_fires() {
        let mut m = WatchManager::new();
        m.add("/a", 1, Exist);
        m.add("/a", 1, Persistent);
        assert_eq!(who(&m.fire(&created("/a"))), vec![1]);
        assert!(!m.contains("/a", 1, wt::DATA));
        assert_eq!(who(&m.fire(&changed("/a"))), vec![1]);
    }

    #[test]
    fn child_watch_consumed_on_delete_even_if_data_watch_suppressed_it() {
        // In ZooKeeper childWatches.triggerWatch removes the STANDARD watch before the
        // suppress check, so the child watch is gone too.
        let mut m = WatchManager::new();
        m.add("/a", 1, Data);
        m.add("/a", 1, Child);
        m.fire(&deleted("/a"));
        assert!(m.fire(&children("/a")).is_empty());
        assert_eq!(m.count(), 0);
    }

    #[test]
    fn persistent_fires_on_every_trigger_and_stays() {
        let mut m = WatchManager::new();
        m.add("/a", 7, Persistent);
        for (t, ty) in [
            (created("/a"), event::NODE_CREATED),
            (changed("/a"), event::NODE_DATA_CHANGED),
            (children("/a"), event::NODE_CHILDREN_CHANGED),
            (deleted("/a"), event::NODE_DELETED),
            (created("/a"), event::NODE_CREATED),
        ] {
            assert_eq!(m.fire(&t), vec![(7, ev(ty, "/a"))]);
        }
        // Not on descendants.
        assert!(m.fire(&created("/a/b")).is_empty());
        assert!(m.fire(&children("/a/b")).is_empty());
        assert!(m.contains("/a", 7, wt::PERSISTENT));
        // Counted in both managers, like ZooKeeper.
        assert_eq!(m.count(), 2);
    }

    #[test]
    fn recursive_fires_on_path_and_descendants_not_children_changed() {
        let mut m = WatchManager::new();
        m.add("/a", 1, PersistentRecursive);
        for (t, ty, p) in [
            (created("/a"), event::NODE_CREATED, "/a"),
            (created("/a/b"), event::NODE_CREATED, "/a/b"),
            (changed("/a/b/c"), event::NODE_DATA_CHANGED, "/a/b/c"),
            (deleted("/a/b"), event::NODE_DELETED, "/a/b"),
            (changed("/a"), event::NODE_DATA_CHANGED, "/a"),
        ] {
            assert_eq!(m.fire(&t), vec![(1, ev(ty, p))]);
        }
        assert!(m.fire(&children("/a")).is_empty());
        assert!(m.fire(&children("/a/b")).is_empty());
        // Not siblings that share a prefix, nor ancestors.
        assert!(m.fire(&created("/ab")).is_empty());
        assert!(m.fire(&changed("/")).is_empty());
        assert!(m.contains("/a", 1, wt::PERSISTENT_RECURSIVE));
        assert_eq!(m.count(), 1);
    }

    #[test]
    fn root_recursive_sees_everything_but_children_changed() {
        let mut m = WatchManager::new();
        m.add("/", 9, PersistentRecursive);
        assert_eq!(who(&m.fire(&created("/x"))), vec![9]);
        assert_eq!(who(&m.fire(&changed("/x/y/z"))), vec![9]);
        assert_eq!(who(&m.fire(&changed("/"))), vec![9]);
        assert_eq!(who(&m.fire(&deleted("/x"))), vec![9]);
        assert!(m.fire(&children("/")).is_empty());
    }

    #[test]
    fn recursive_dedupes_across_ancestors_and_exact_watches() {
        let mut m = WatchManager::new();
        m.add("/", 1, PersistentRecursive);
        m.add("/a", 1, PersistentRecursive);
        m.add("/a/b", 1, Data);
        m.add("/a/b", 2, Data);
        m.add("/a", 3, PersistentRecursive);
        m.add("/a", 4, Persistent); // not recursive: doesn't see /a/b
        let out = m.fire(&changed("/a/b"));
        assert_eq!(who(&out), vec![1, 2, 3]);
        assert!(out.iter().all(|(_, e)| *e == ev(event::NODE_DATA_CHANGED, "/a/b")));
        assert!(!m.contains("/a/b", 1, wt::DATA));
    }

    #[test]
    fn ordering_is_by_watcher_id_including_large_sets() {
        let mut m = WatchManager::new();
        let ids: Vec<WatcherId> = (0..100).map(|i| (i * 7919) % 1000).collect();
        for &w in &ids {
            m.add("/a", w, Data);
        }
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(who(&m.fire(&changed("/a"))), sorted);
        assert_eq!(m.count(), 0);
        assert!(m.by_path().is_empty());
    }

    #[test]
    fn remove_children_data_any() {
        let mut m = WatchManager::new();
        m.add("/a", 1, Data);
        m.add("/a", 1, Child);
        assert_eq!(m.remove("/a", 1, wt::CHILDREN), Ok(vec![Child]));
        assert_eq!(m.remove("/a", 1, wt::CHILDREN), Err(ErrorCode::NoWatcher));
        assert!(m.contains("/a", 1, wt::DATA));
        assert_eq!(m.remove("/a", 1, wt::DATA), Ok(vec![Data]));
        assert_eq!(m.remove("/a", 1, wt::DATA), Err(ErrorCode::NoWatcher));
        assert_eq!(m.remove("/a", 1, wt::ANY), Err(ErrorCode::NoWatcher));

        m.add("/a", 1, Exist);
        m.add("/a", 1, Child);
        m.add("/a", 1, Persistent);
        m.add("/a", 1, PersistentRecursive);
        m.add("/a", 2, Data);
        assert_eq!(m.remove("/a", 1, wt::ANY), Ok(vec![Data, Child, Persistent, PersistentRecursive]));
        assert!(!m.contains("/a", 1, wt::ANY));
        assert!(m.contains("/a", 2, wt::DATA));
        assert_eq!(m.count(), 1);
        assert_eq!(m.remove("/zzz", 2, wt::ANY), Err(ErrorCode::NoWatcher));
        assert_eq!(m.remove("/a", 2, 42), Err(ErrorCode::MarshallingError));
    }

    #[test]
    fn remove_persistent_kinds() {
        let mut m = WatchManager::new();
        m.add("/a", 1, Persistent);
        m.add("/a", 1, PersistentRecursive);
        m.add("/a", 1, Data);
        // DATA removes only the standard data watch.
        assert_eq!(m.remove("/a", 1, wt::DATA), Ok(vec![Data]));
        assert_eq!(m.remove("/a", 1, wt::DATA), Err(ErrorCode::NoWatcher));
        // CHILDREN doesn't touch the persistent watch.
        assert_eq!(m.remove("/a", 1, wt::CHILDREN), Err(ErrorCode::NoWatcher));
        assert_eq!(m.remove("/a", 1, wt::PERSISTENT), Ok(vec![Persistent]));
        assert_eq!(m.remove("/a", 1, wt::PERSISTENT), Err(ErrorCode::NoWatcher));
        assert!(m.contains("/a", 1, wt::PERSISTENT_RECURSIVE));
        assert_eq!(m.count(), 1);
        assert_eq!(m.remove("/a", 1, wt::PERSISTENT_RECURSIVE), Ok(vec![PersistentRecursive]));
        assert_eq!(m.count(), 0);
        assert_eq!(m.watchers(), 0);
        // With no recursive watch left, descendants fire nothing.
        m.add("/a/b", 2, Child);
        assert!(m.fire(&changed("/a/b")).is_empty());
    }

    #[test]
    fn contains_and_check_per_type() {
        let mut m = WatchManager::new();
        m.add("/d", 1, Data);
        m.add("/c", 1, Child);
        m.add("/p", 1, Persistent);
        m.add("/r", 1, PersistentRecursive);
        let table = [
            ("/d", [false, true, true, false, false]),
            ("/c", [true, false, true, false, false]),
            ("/p", [false, false, true, true, false]),
            ("/r", [false, false, true, false, true]),
            ("/none", [false; 5]),
        ];
        for (p, expect) in table {
            for (i, t) in (1..=5).enumerate() {
                assert_eq!(m.contains(p, 1, t), expect[i], "{p} type {t}");
                let code = if expect[i] { Ok(()) } else { Err(ErrorCode::NoWatcher) };
                assert_eq!(m.check(p, 1, t), code);
            }
            assert!(!m.contains(p, 2, watcher_type::ANY));
        }
        assert!(!m.contains("/d", 1, 0));
        assert_eq!(m.check("/d", 1, 0), Err(ErrorCode::MarshallingError));
        assert_eq!(m.kinds("/p", 1), vec![Persistent]);
    }

    #[test]
    fn remove_watcher_drops_everything_of_that_connection() {
        let mut m = WatchManager::new();
        m.add("/", 1, PersistentRecursive);
        m.add("/a", 1, Data);
        m.add("/a", 1, Child);
        m.add("/b", 1, Persistent);
        m.add("/a", 2, Data);
        assert_eq!(m.count(), 6);
        m.remove_watcher(1);
        m.remove_watcher(1);
        m.remove_watcher(99);
        assert_eq!(m.count(), 1);
        assert_eq!(who(&m.fire(&changed("/a"))), vec![2]);
        assert!(m.fire(&changed("/b")).is_empty());
        assert!(m.fire(&created("/x")).is_empty());
        assert_eq!(m.recursive_count, 0);
        assert!(m.table.is_empty());
        assert!(m.by_watcher.is_empty());
    }

    #[test]
    fn duplicate_add_is_idempotent() {
        let mut m = WatchManager::new();
        m.add("/a", 1, Data);
        m.add("/a", 1, Exist);
        m.add("/a", 1, Data);
        assert_eq!(m.count(), 1);
        assert_eq!(m.kinds("/a", 1), vec![Data]);
    }

    #[test]
    fn reports_follow_zookeeper_data_manager() {
        let mut m = WatchManager::new();
        m.add("/a", 1, Data);
        m.add("/b", 1, Child); // child-only: invisible to wchc/wchp/wchs
        m.add("/c", 2, Persistent);
        m.add("/a", 2, PersistentRecursive);
        m.add("/d", 3, Child);
        assert_eq!(m.count(), 6); // data: /a1 /c2 /a2; child: /b1 /c2 /d3
        assert_eq!(m.watched_paths(), 2);
        assert_eq!(m.watchers(), 2);
        assert_eq!(m.summary(), WatchSummary { connections: 2, paths: 2, total_watches: 3 });
        let bw = m.by_watcher();
        assert_eq!(bw.len(), 2);
        assert_eq!(bw[&1], vec!["/a".to_string()]);
        assert_eq!(bw[&2], vec!["/a".to_string(), "/c".to_string()]);
        let bp = m.by_path();
        assert_eq!(bp.len(), 2);
        assert_eq!(bp["/a"], vec![1, 2]);
        assert_eq!(bp["/c"], vec![2]);
    }

    #[test]
    fn indexes_stay_consistent_under_churn() {
        let mut m = WatchManager::new();
        let kinds = [Data, Exist, Child, Persistent, PersistentRecursive];
        let paths = ["/", "/a", "/a/b", "/a/b/c", "/x"];
        let mut seed: u64 = 12345;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        for _ in 0..5000 {
            let p = paths[next() % paths.len()];
            let w = (next() % 40) as WatcherId;
            match next() % 6 {
                0 | 1 => m.add(p, w, kinds[next() % kinds.len()]),
                2 => {
                    let _ = m.remove(p, w, 1 + (next() % 5) as i32);
                }
                3 => {
                    let t = match next() % 4 {
                        0 => created(p),
                        1 => deleted(p),
                        2 => changed(p),
                        _ => children(p),
                    };
                    let out = m.fire(&t);
                    let ws = who(&out);
                    let mut d = ws.clone();
                    d.dedup();
                    assert_eq!(ws, d);
                }
                4 if next() % 10 == 0 => m.remove_watcher(w),
                _ => {}
            }
            // Recount from scratch.
            let (mut dc, mut cc, mut rc, mut pairs) = (0, 0, 0, 0);
            for (p, slot) in &m.table {
                assert!(!slot.is_empty());
                slot.for_each(|w, fl| {
                    assert_ne!(fl, 0);
                    assert!(m.by_watcher[&w].contains(p));
                    pairs += 1;
                    dc += (fl & IN_DATA != 0) as usize;
                    cc += (fl & IN_CHILD != 0) as usize;
                    rc += (fl & RECURSIVE != 0) as usize;
                });
            }
            let indexed: usize = m.by_watcher.values().map(|s| s.len()).sum();
            assert_eq!(pairs, indexed);
            assert_eq!((dc, cc, rc), (m.data_count, m.child_count, m.recursive_count));
        }
    }
}
