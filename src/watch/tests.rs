//! Watch registry tests: every trigger rule, dedupe, one-shot removal, persistent and
//! recursive watches, removal and checks per watcher type.

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
