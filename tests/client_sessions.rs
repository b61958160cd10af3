//! Sessions through zookeeper-client: close removes ephemerals, a silent session expires,
//! and a session (with its ephemerals and the data) survives a server restart.

mod common;

use common::{wait_until, zk_connect as connect, zk_server as server, TestServer};
use std::time::Duration;
use zk::{Acls, CreateMode};
use zookeeper_client as zk;

fn ephemeral() -> zk::CreateOptions<'static> {
    CreateMode::Ephemeral.with_acls(Acls::anyone_all())
}

/// A session with the given requested timeout.
async fn with_timeout(srv: &TestServer, timeout: Duration) -> zk::Client {
    zk::Client::connector().with_session_timeout(timeout).connect(&srv.connect_string()).await.unwrap()
}

/// A session that does not close itself when dropped (so a test can abandon or resume it).
async fn detached(srv: &TestServer, timeout: Duration) -> zk::Client {
    zk::Client::connector().with_detached().with_session_timeout(timeout).connect(&srv.connect_string()).await.unwrap()
}

/// Reconnects to an existing session by id and password.
async fn resume(srv: &TestServer, session: zk::SessionInfo, timeout: Duration) -> Result<zk::Client, zk::Error> {
    zk::Client::connector().with_session(session).with_session_timeout(timeout).connect(&srv.connect_string()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_removes_ephemerals_at_once() {
    let srv = server().await;
    let a = connect(&srv).await;
    let b = connect(&srv).await;
    assert_ne!(a.session_id(), b.session_id());
    let (st, _) = a.create("/a-eph", b"", &ephemeral()).await.unwrap();
    assert_eq!(st.ephemeral_owner, a.session_id().0);
    assert_eq!(b.check_stat("/a-eph").await.unwrap().map(|s| s.ephemeral_owner), Some(a.session_id().0));
    drop(a);
    wait_until(20, "ephemeral gone after close", || async { b.check_stat("/a-eph").await.unwrap().is_none() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiated_timeout_is_clamped() {
    // tickTime 200 ms: min 400 ms, max 20 ticks = 4000 ms by default.
    let srv = common::start_server().await;
    let short = with_timeout(&srv, Duration::from_millis(100)).await;
    assert_eq!(short.session_timeout(), Duration::from_millis(400));
    let long = with_timeout(&srv, Duration::from_secs(100)).await;
    assert_eq!(long.session_timeout(), Duration::from_millis(4000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_session_expires_and_cannot_resume() {
    let srv = server().await;
    let observer = connect(&srv).await;
    // A detached client does not send closeSession when dropped: it just goes quiet.
    let quiet = detached(&srv, Duration::from_millis(1000)).await;
    quiet.create("/quiet", b"", &ephemeral()).await.unwrap();
    let session = quiet.session().clone();
    drop(quiet);
    wait_until(20, "expired session's ephemeral removed", || async {
        observer.check_stat("/quiet").await.unwrap().is_none()
    })
    .await;
    // The expired session cannot be resumed.
    let err = resume(&srv, session, Duration::from_millis(1000)).await.unwrap_err();
    assert_eq!(err, zk::Error::SessionExpired);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detached_session_can_be_resumed_by_id_and_password() {
    let srv = server().await;
    let first = detached(&srv, Duration::from_secs(30)).await;
    first.create("/mine", b"", &ephemeral()).await.unwrap();
    let session = first.session().clone();
    let id = first.session_id();
    drop(first);
    let second = resume(&srv, session, Duration::from_secs(30)).await.unwrap();
    assert_eq!(second.session_id(), id);
    assert_eq!(second.list_ephemerals("/").await.unwrap(), vec!["/mine".to_string()]);
    assert_eq!(second.check_stat("/mine").await.unwrap().unwrap().ephemeral_owner, id.0);
    second.create("/mine2", b"", &ephemeral()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_and_data_survive_restart() {
    let mut srv = server().await;
    let c = connect(&srv).await;
    let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
    c.create("/keep", b"v1", &persistent).await.unwrap();
    let set = c.set_data("/keep", b"v2", None).await.unwrap();
    let (eph, _) = c.create("/keep-eph", b"", &ephemeral()).await.unwrap();
    let detached = detached(&srv, Duration::from_secs(30)).await;
    detached.create("/other-eph", b"", &ephemeral()).await.unwrap();
    let other_session = detached.session().clone();
    let other_id = detached.session_id();
    drop(detached);

    srv.restart().await;

    // The live client reconnects with its session id and password by itself.
    wait_until(30, "client usable after restart", || async { c.get_data("/keep").await.is_ok() }).await;
    let (data, st) = c.get_data("/keep").await.unwrap();
    assert_eq!(data, b"v2");
    assert_eq!((st.version, st.mzxid), (1, set.mzxid));
    let st = c.check_stat("/keep-eph").await.unwrap().expect("ephemeral survived");
    assert_eq!(st.ephemeral_owner, c.session_id().0);
    assert_eq!(st.czxid, eph.czxid);
    // New writes get zxids above everything before the restart.
    let (fresh, _) = c.create("/after", b"", &persistent).await.unwrap();
    assert!(fresh.czxid > eph.czxid);

    // The detached session resumes explicitly on the new server.
    let resumed = resume(&srv, other_session, Duration::from_secs(30)).await.unwrap();
    assert_eq!(resumed.session_id(), other_id);
    assert_eq!(resumed.list_ephemerals("/").await.unwrap(), vec!["/other-eph".to_string()]);

    // Closing after the restart still removes the ephemerals.
    let observer = connect(&srv).await;
    drop(c);
    wait_until(20, "ephemeral removed on close after restart", || async {
        observer.check_stat("/keep-eph").await.unwrap().is_none()
    })
    .await;
    assert!(observer.check_stat("/keep").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_not_resumed_after_restart_expires() {
    let mut srv = server().await;
    let observer_before = connect(&srv).await;
    let quiet = detached(&srv, Duration::from_millis(1000)).await;
    quiet.create("/gone-later", b"", &ephemeral()).await.unwrap();
    drop(quiet);
    drop(observer_before);
    srv.restart().await;
    // Recovered sessions get a full timeout to come back, then expire.
    let observer = connect(&srv).await;
    wait_until(30, "recovered but abandoned session expired", || async {
        observer.check_stat("/gone-later").await.unwrap().is_none()
    })
    .await;
}
