//! The project's own client (`zabkeeper::client`) against the server: typed calls, chroot,
//! pipelining, multi results and watch delivery.

mod common;

use zabkeeper::client::{Client, ClientError, ConnectOptions};
use zabkeeper::proto::codes::{event, ErrorCode};
use zabkeeper::proto::records::*;
use zabkeeper::proto::request::{MultiOp, MultiResult};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_calls_chroot_and_watches() {
    let srv = common::start_server().await;
    let (c, mut events) = Client::connect(&srv.connect_string(), ConnectOptions::default()).await.expect("connect");
    assert!(c.session_id != 0);
    let (p, stat) = c.create("/app", Some(b"v"), None, 0, 0).await.unwrap();
    assert_eq!((p.as_str(), stat.version, stat.data_length), ("/app", 0, 1));
    // pipelined: many calls in flight at once on one connection
    let c = std::sync::Arc::new(c);
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move { c.create(&format!("/app/n{i:02}"), None, None, 0, 0).await })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap().unwrap().0, format!("/app/n{i:02}"));
    }
    assert_eq!(c.get_all_children_number("/app").await.unwrap(), 50);
    // chroot
    let (cr, _) = Client::connect(&format!("{}/app", srv.connect_string()), ConnectOptions::default()).await.unwrap();
    let (kids, _) = cr.get_children("/", false).await.unwrap();
    assert_eq!(kids.len(), 50);
    assert_eq!(cr.create("/x", None, None, 0, 0).await.unwrap().0, "/x");
    assert!(c.exists("/app/x", false).await.unwrap().is_some());
    // watch delivery
    c.get_data("/app", true).await.unwrap();
    cr.set_data("/", Some(b"w"), 0).await.unwrap();
    let ev = tokio::time::timeout(std::time::Duration::from_secs(20), events.recv()).await.unwrap().unwrap();
    assert_eq!((ev.event_type, ev.path.as_deref()), (event::NODE_DATA_CHANGED, Some("/app")));
    // errors and multi
    assert_eq!(c.create("/app", None, None, 0, 0).await.unwrap_err(), ClientError::Server(ErrorCode::NodeExists));
    let ops = vec![
        MultiOp::Check(PathVersionRequest { path: "/app".into(), version: 1 }),
        MultiOp::Delete(PathVersionRequest { path: "/missing".into(), version: -1 }),
    ];
    let (e, results) = c.multi(&ops).await.unwrap_err();
    assert_eq!(e, ClientError::Server(ErrorCode::NoNode));
    assert_eq!(results, vec![MultiResult::Error(0), MultiResult::Error(ErrorCode::NoNode.code())]);
    c.close().await.unwrap();
}
