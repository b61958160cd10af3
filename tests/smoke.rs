//! The smallest end-to-end check: a server starts, answers ruok, and serves a create/get
//! through the third-party zookeeper-client crate.

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_and_serves_a_write() {
    let srv = common::start_server().await;
    assert_eq!(common::four_letter(srv.addr, "ruok").await, "imok");
    let client = zookeeper_client::Client::connect(&srv.connect_string()).await.expect("connect");
    let (stat, _) = client
        .create(
            "/smoke",
            b"hi",
            &zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all()),
        )
        .await
        .expect("create");
    assert_eq!(stat.version, 0);
    let (data, stat2) = client.get_data("/smoke").await.expect("get");
    assert_eq!(data, b"hi");
    assert_eq!(stat2.czxid, stat.czxid);
}
