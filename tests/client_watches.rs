//! Watches through zookeeper-client: one-shot data/child/exist watches, persistent and
//! persistent-recursive watches, and the NodeDeleted other sessions see when a session's
//! ephemerals go away.

mod common;

use common::{zk_connect as connect, zk_persistent as persistent, zk_server as server};
use std::future::Future;
use std::time::Duration;
use zk::{Acls, AddWatchMode, CreateMode, EventType, WatchedEvent};
use zookeeper_client as zk;

/// Waits for a watch event with a generous deadline (a missing event fails, never hangs).
async fn event(f: impl Future<Output = WatchedEvent>) -> WatchedEvent {
    tokio::time::timeout(Duration::from_secs(20), f).await.expect("watch event within 20 s")
}

fn is(ev: &WatchedEvent, ty: EventType, path: &str) -> bool {
    ev.event_type == ty && ev.path == path
}

/// The next event from `f`, which must be `ty` on `path`.
async fn expect(f: impl Future<Output = WatchedEvent>, ty: EventType, path: &str) -> WatchedEvent {
    let ev = event(f).await;
    assert!(is(&ev, ty, path), "expected {ty:?} on {path}, got {ev:?}");
    ev
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_watch_fires_on_change_and_delete() {
    let srv = server().await;
    let a = connect(&srv).await;
    let b = connect(&srv).await;
    a.create("/d", b"1", &persistent()).await.unwrap();
    let (_, _, w) = a.get_and_watch_data("/d").await.unwrap();
    let st = b.set_data("/d", b"2", None).await.unwrap();
    let ev = expect(w.changed(), EventType::NodeDataChanged, "/d").await;
    assert_eq!(ev.zxid, st.mzxid, "the event carries the zxid of the change");
    assert_eq!(ev.session_state, zk::SessionState::SyncConnected);

    let (_, _, w) = a.get_and_watch_data("/d").await.unwrap();
    b.delete("/d", None).await.unwrap();
    expect(w.changed(), EventType::NodeDeleted, "/d").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exist_watch_on_missing_node_fires_created() {
    let srv = server().await;
    let a = connect(&srv).await;
    let b = connect(&srv).await;
    let (stat, w) = a.check_and_watch_stat("/later").await.unwrap();
    assert!(stat.is_none());
    let (st, _) = b.create("/later", b"", &persistent()).await.unwrap();
    let ev = expect(w.changed(), EventType::NodeCreated, "/later").await;
    assert_eq!(ev.zxid, st.czxid);
    // exists on an existing node leaves a data watch.
    let (stat, w) = a.check_and_watch_stat("/later").await.unwrap();
    assert!(stat.is_some());
    b.set_data("/later", b"x", None).await.unwrap();
    expect(w.changed(), EventType::NodeDataChanged, "/later").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_watch_fires_on_child_changes_not_data() {
    let srv = server().await;
    let a = connect(&srv).await;
    let b = connect(&srv).await;
    a.create("/c", b"", &persistent()).await.unwrap();
    let (children, w) = a.list_and_watch_children("/c").await.unwrap();
    assert!(children.is_empty());
    // A data change on the parent does not fire a child watch; the later create does.
    b.set_data("/c", b"data", None).await.unwrap();
    let (kid, _) = b.create("/c/k", b"", &persistent()).await.unwrap();
    let ev = expect(w.changed(), EventType::NodeChildrenChanged, "/c").await;
    assert_eq!(ev.zxid, kid.czxid);

    let (_, _, w) = a.get_and_watch_children("/c").await.unwrap();
    b.delete("/c/k", None).await.unwrap();
    expect(w.changed(), EventType::NodeChildrenChanged, "/c").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_watch_fires_repeatedly() {
    let srv = server().await;
    let a = connect(&srv).await;
    let b = connect(&srv).await;
    let mut w = a.watch("/pw", AddWatchMode::Persistent).await.unwrap();
    b.create("/pw", b"", &persistent()).await.unwrap();
    assert!(is(&event(w.changed()).await, EventType::NodeCreated, "/pw"));
    for i in 0..3 {
        let st = b.set_data("/pw", format!("{i}").as_bytes(), None).await.unwrap();
        let ev = event(w.changed()).await;
        assert!(is(&ev, EventType::NodeDataChanged, "/pw"), "round {i}: {ev:?}");
        assert_eq!(ev.zxid, st.mzxid);
    }
    b.create("/pw/kid", b"", &persistent()).await.unwrap();
    assert!(is(&event(w.changed()).await, EventType::NodeChildrenChanged, "/pw"));
    // Changes below a child are not seen by a non-recursive persistent watch.
    b.set_data("/pw/kid", b"x", None).await.unwrap();
    b.delete("/pw/kid", None).await.unwrap();
    expect(w.changed(), EventType::NodeChildrenChanged, "/pw").await;
    b.delete("/pw", None).await.unwrap();
    assert!(is(&event(w.changed()).await, EventType::NodeDeleted, "/pw"));
    // Still registered after the delete.
    b.create("/pw", b"", &persistent()).await.unwrap();
    assert!(is(&event(w.changed()).await, EventType::NodeCreated, "/pw"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursive_watch_sees_descendants_but_no_child_events() {
    let srv = server().await;
    let a = connect(&srv).await;
    let b = connect(&srv).await;
    b.create("/rw", b"", &persistent()).await.unwrap();
    let mut w = a.watch("/rw", AddWatchMode::PersistentRecursive).await.unwrap();
    b.create("/rw/a", b"", &persistent()).await.unwrap();
    b.create("/rw/a/b", b"", &persistent()).await.unwrap();
    b.set_data("/rw/a/b", b"x", None).await.unwrap();
    b.delete("/rw/a/b", None).await.unwrap();
    b.set_data("/rw", b"sentinel", None).await.unwrap();
    let expected = [
        (EventType::NodeCreated, "/rw/a"),
        (EventType::NodeCreated, "/rw/a/b"),
        (EventType::NodeDataChanged, "/rw/a/b"),
        (EventType::NodeDeleted, "/rw/a/b"),
        (EventType::NodeDataChanged, "/rw"),
    ];
    // Exactly these, in order: a NodeChildrenChanged for /rw or /rw/a would show up in between.
    for (ty, path) in expected {
        let ev = event(w.changed()).await;
        assert!(is(&ev, ty, path), "expected {ty:?} {path}, got {ev:?}");
    }
    // Nodes outside the watched subtree are not reported.
    b.create("/rwx", b"", &persistent()).await.unwrap();
    b.set_data("/rw/a", b"y", None).await.unwrap();
    expect(w.changed(), EventType::NodeDataChanged, "/rw/a").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_session_ephemerals_fire_deleted_for_others() {
    let srv = server().await;
    let owner = connect(&srv).await;
    let watcher = connect(&srv).await;
    owner.create("/grp", b"", &persistent()).await.unwrap();
    owner.create("/grp/me", b"", &CreateMode::Ephemeral.with_acls(Acls::anyone_all())).await.unwrap();
    let (_, _, data_w) = watcher.get_and_watch_data("/grp/me").await.unwrap();
    let (_, child_w) = watcher.list_and_watch_children("/grp").await.unwrap();
    drop(owner); // closes the session
    let ev = expect(data_w.changed(), EventType::NodeDeleted, "/grp/me").await;
    let ev2 = event(child_w.changed()).await;
    assert!(is(&ev2, EventType::NodeChildrenChanged, "/grp"), "{ev2:?}");
    assert_eq!(ev.zxid, ev2.zxid, "one closeSession txn deletes it");
    assert_eq!(watcher.check_stat("/grp/me").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_fires_one_event_per_change() {
    let srv = server().await;
    let a = connect(&srv).await;
    let b = connect(&srv).await;
    a.create("/mw", b"", &persistent()).await.unwrap();
    let mut w = a.watch("/mw", AddWatchMode::PersistentRecursive).await.unwrap();
    let mut m = b.new_multi_writer();
    m.add_create("/mw/x", b"", &persistent()).unwrap();
    m.add_set_data("/mw", b"d", None).unwrap();
    let res = m.commit().await.unwrap();
    // A create in a multi is answered without its Stat (ZooKeeper 3.8): the setData's has the zxid.
    let zk::MultiWriteResult::SetData { stat } = &res[1] else { panic!("{res:?}") };
    let e1 = event(w.changed()).await;
    let e2 = event(w.changed()).await;
    assert!(is(&e1, EventType::NodeCreated, "/mw/x"), "{e1:?}");
    assert!(is(&e2, EventType::NodeDataChanged, "/mw"), "{e2:?}");
    assert_eq!((e1.zxid, e2.zxid), (stat.mzxid, stat.mzxid));
    // A failed multi fires nothing: the next event is from the following write.
    let mut m = b.new_multi_writer();
    m.add_create("/mw/y", b"", &persistent()).unwrap();
    m.add_check_version("/mw", 99).unwrap();
    assert!(m.commit().await.is_err());
    b.create("/mw/z", b"", &persistent()).await.unwrap();
    let e3 = event(w.changed()).await;
    assert!(is(&e3, EventType::NodeCreated, "/mw/z"), "{e3:?}");
}
