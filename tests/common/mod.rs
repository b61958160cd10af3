//! Shared helpers for integration tests: an in-process server on 127.0.0.1:0 with its own
//! temporary data directory, and condition waits with generous deadlines (never sleeps as
//! synchronization).
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use zabkeeper::config::Config;
use zabkeeper::server::{self, ServerHandle};

/// A running test server and the directory it owns.
pub struct TestServer {
    pub handle: Option<ServerHandle>,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub config: Config,
}

impl TestServer {
    /// "127.0.0.1:PORT", what client libraries take.
    pub fn connect_string(&self) -> String {
        self.addr.to_string()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Stops the server (the data directory stays for a restart).
    pub async fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown().await;
        }
    }

    /// Starts again on the same data directory and port.
    pub async fn restart(&mut self) {
        self.stop().await;
        let mut cfg = self.config.clone();
        cfg.client_port = self.addr.port();
        let h = start_with_retry(cfg).await;
        self.addr = h.addr;
        self.handle = Some(h);
    }
}

/// A config for tests: loopback, port 0, a short tick so session expiry is quick, TTL nodes
/// enabled, containers checked every 100 ms, no AdminServer.
pub fn test_config(dir: &tempfile::TempDir) -> Config {
    let mut cfg = Config::standalone_default();
    cfg.data_dir = dir.path().join("data");
    cfg.data_log_dir = dir.path().join("data");
    cfg.client_port = 0;
    cfg.client_port_address = "127.0.0.1".parse().unwrap();
    cfg.tick_time = 200;
    cfg.extended_types_enabled = true;
    cfg.container_check_interval_ms = 100;
    cfg.pre_alloc_size_kb = 1024;
    // Tests run many servers at once: none takes the AdminServer's 8080 (tests that want
    // one turn it on with port 0).
    cfg.admin_enable_server = false;
    cfg
}

async fn start_with_retry(cfg: Config) -> ServerHandle {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match server::start(cfg.clone()).await {
            Ok(h) => return h,
            Err(e) if tokio::time::Instant::now() < deadline => {
                // The old listener's port may take a moment to be released.
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("server did not start: {e}"),
        }
    }
}

/// Starts a server with the test config, adjusted by `f`.
pub async fn start_server_with(f: impl FnOnce(&mut Config)) -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(&dir);
    f(&mut cfg);
    let h = start_with_retry(cfg.clone()).await;
    TestServer { addr: h.addr, handle: Some(h), dir, config: cfg }
}

pub async fn start_server() -> TestServer {
    start_server_with(|_| {}).await
}

/// Polls `cond` until it holds, panicking after `secs` seconds.
pub async fn wait_until<F, Fut>(secs: u64, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends a four-letter word and returns the whole answer.
pub async fn four_letter(addr: SocketAddr, word: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(word.as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

/// A server for the zookeeper-client tests: sessions may ask for up to 60 s.
pub async fn zk_server() -> TestServer {
    start_server_with(|c| c.max_session_timeout = Some(60_000)).await
}

/// A zookeeper-client session with a 30 s timeout.
pub async fn zk_connect(srv: &TestServer) -> zookeeper_client::Client {
    zookeeper_client::Client::connector()
        .with_session_timeout(Duration::from_secs(30))
        .connect(&srv.connect_string())
        .await
        .expect("connect")
}

/// Persistent, open ACL: the create options most tests use.
pub fn zk_persistent() -> zookeeper_client::CreateOptions<'static> {
    zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all())
}
