//! The shell's record of the watches it set, as the Java client keeps one: which events
//! reach the shell's watcher (an event with no matching watch is not shown), which watches
//! an event consumes, and what `removewatches` finds and removes (and reports as
//! DataWatchRemoved / ChildWatchRemoved / PersistentWatchRemoved).
//! Must never: talk to the server; it only mirrors what the server was asked to do.

use crate::proto::codes::{event, watcher_type};
use crate::proto::records::SetWatches2;
use std::collections::HashSet;

/// Kinds of watch the client can hold on a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Data,
    Exist,
    Child,
    Persistent,
    PersistentRecursive,
}

#[derive(Debug, Default)]
pub struct WatchTracker {
    set: HashSet<(Kind, String)>,
}

impl WatchTracker {
    pub fn add(&mut self, kind: Kind, path: &str) {
        self.set.insert((kind, path.to_owned()));
    }

    fn has(&self, kind: Kind, path: &str) -> bool {
        self.set.contains(&(kind, path.to_owned()))
    }

    fn take(&mut self, kind: Kind, path: &str) -> bool {
        self.set.remove(&(kind, path.to_owned()))
    }

    /// Every watch by kind, for re-registering them on a new connection.
    pub fn set_watches(&self, relative_zxid: i64) -> SetWatches2 {
        let list = |k: Kind| {
            let mut v: Vec<String> = self.set.iter().filter(|(kind, _)| *kind == k).map(|(_, p)| p.clone()).collect();
            v.sort();
            v
        };
        SetWatches2 {
            relative_zxid,
            data_watches: list(Kind::Data),
            exist_watches: list(Kind::Exist),
            child_watches: list(Kind::Child),
            persistent_watches: list(Kind::Persistent),
            persistent_recursive_watches: list(Kind::PersistentRecursive),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Whether a node event reaches a watch, consuming the one-shot watches it fires.
    pub fn materialize(&mut self, event_type: i32, path: &str) -> bool {
        let mut hit = match event_type {
            event::NODE_DATA_CHANGED | event::NODE_CREATED => {
                let d = self.take(Kind::Data, path);
                self.take(Kind::Exist, path) | d
            }
            event::NODE_CHILDREN_CHANGED => self.take(Kind::Child, path),
            event::NODE_DELETED => {
                let d = self.take(Kind::Data, path);
                let e = self.take(Kind::Exist, path);
                self.take(Kind::Child, path) | d | e
            }
            _ => false,
        };
        hit |= self.has(Kind::Persistent, path);
        // Persistent recursive watches never see child events.
        if event_type != event::NODE_CHILDREN_CHANGED {
            hit |= ancestors(path).any(|a| self.has(Kind::PersistentRecursive, a));
        }
        hit
    }

    /// Whether `removewatches` would find a watch of `wtype` on `path` (the Java client's
    /// `containsWatcher`).
    pub fn contains(&self, path: &str, wtype: i32) -> bool {
        let kinds: &[Kind] = match wtype {
            watcher_type::CHILDREN => &[Kind::Child, Kind::Persistent, Kind::PersistentRecursive],
            watcher_type::DATA => &[Kind::Data, Kind::Exist, Kind::Persistent, Kind::PersistentRecursive],
            watcher_type::PERSISTENT => &[Kind::Persistent],
            watcher_type::PERSISTENT_RECURSIVE => &[Kind::PersistentRecursive],
            _ => &[Kind::Child, Kind::Data, Kind::Exist, Kind::Persistent, Kind::PersistentRecursive],
        };
        kinds.iter().any(|k| self.has(*k, path))
    }

    /// Removes the watches `removewatches` removes; returns the removal events to report, or
    /// None when nothing was removed (the client answers NOWATCHER then).
    pub fn remove(&mut self, path: &str, wtype: i32) -> Option<Vec<i32>> {
        let mut events = Vec::new();
        let mut took = |kinds: &[Kind], ev: i32, this: &mut WatchTracker| {
            let mut any = false;
            for k in kinds {
                any |= this.take(*k, path);
            }
            if any {
                events.push(ev);
            }
        };
        match wtype {
            watcher_type::CHILDREN => took(&[Kind::Child], event::CHILD_WATCH_REMOVED, self),
            watcher_type::DATA => took(&[Kind::Data, Kind::Exist], event::DATA_WATCH_REMOVED, self),
            watcher_type::PERSISTENT => took(&[Kind::Persistent], event::PERSISTENT_WATCH_REMOVED, self),
            watcher_type::PERSISTENT_RECURSIVE => {
                took(&[Kind::PersistentRecursive], event::PERSISTENT_WATCH_REMOVED, self)
            }
            _ => {
                // zkCli 3.8 reports them in this order.
                took(&[Kind::Persistent, Kind::PersistentRecursive], event::PERSISTENT_WATCH_REMOVED, self);
                took(&[Kind::Child], event::CHILD_WATCH_REMOVED, self);
                took(&[Kind::Data, Kind::Exist], event::DATA_WATCH_REMOVED, self);
            }
        }
        (!events.is_empty()).then_some(events)
    }
}

/// The path itself and every ancestor up to "/".
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(path);
    std::iter::from_fn(move || {
        let cur = next?;
        next = match cur.rfind('/') {
            _ if cur == "/" => None,
            Some(0) => Some("/"),
            Some(i) => Some(&cur[..i]),
            None => None,
        };
        Some(cur)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shot_watches_fire_once() {
        let mut t = WatchTracker::default();
        t.add(Kind::Data, "/a");
        assert!(t.materialize(event::NODE_DATA_CHANGED, "/a"));
        assert!(!t.materialize(event::NODE_DATA_CHANGED, "/a"));
        t.add(Kind::Child, "/a");
        assert!(!t.materialize(event::NODE_DATA_CHANGED, "/a"));
        assert!(t.materialize(event::NODE_DELETED, "/a"));
        assert!(!t.contains("/a", watcher_type::ANY));
    }

    #[test]
    fn persistent_watches_stay_and_recursive_covers_descendants() {
        let mut t = WatchTracker::default();
        t.add(Kind::PersistentRecursive, "/a");
        assert!(t.materialize(event::NODE_CREATED, "/a/b/c"));
        assert!(t.materialize(event::NODE_DATA_CHANGED, "/a"));
        assert!(!t.materialize(event::NODE_CHILDREN_CHANGED, "/a"));
        assert!(!t.materialize(event::NODE_CREATED, "/ab"));
        t.add(Kind::Persistent, "/p");
        assert!(t.materialize(event::NODE_CHILDREN_CHANGED, "/p"));
        assert!(t.materialize(event::NODE_DELETED, "/p"));
        assert!(t.contains("/p", watcher_type::ANY));
        assert_eq!(ancestors("/a/b").collect::<Vec<_>>(), vec!["/a/b", "/a", "/"]);
    }

    #[test]
    fn removal_reports_by_kind() {
        let mut t = WatchTracker::default();
        assert!(t.remove("/a", watcher_type::ANY).is_none());
        t.add(Kind::Data, "/a");
        t.add(Kind::Child, "/a");
        assert!(t.contains("/a", watcher_type::CHILDREN));
        assert_eq!(t.remove("/a", watcher_type::DATA), Some(vec![event::DATA_WATCH_REMOVED]));
        assert!(!t.contains("/a", watcher_type::DATA));
        assert_eq!(t.remove("/a", watcher_type::ANY), Some(vec![event::CHILD_WATCH_REMOVED]));
        t.add(Kind::Persistent, "/a");
        assert!(t.contains("/a", watcher_type::DATA));
        assert_eq!(t.remove("/a", watcher_type::PERSISTENT), Some(vec![event::PERSISTENT_WATCH_REMOVED]));
        t.add(Kind::Data, "/b");
        t.add(Kind::Child, "/b");
        t.add(Kind::PersistentRecursive, "/b");
        let all = vec![event::PERSISTENT_WATCH_REMOVED, event::CHILD_WATCH_REMOVED, event::DATA_WATCH_REMOVED];
        assert_eq!(t.remove("/b", watcher_type::ANY), Some(all));
    }
}
