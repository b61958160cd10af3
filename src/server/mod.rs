//! The shells around the core: the client listener (per-IP connection limit, four-letter
//! words), connection tasks, the node loop, the log writer and snapshot threads, and startup
//! recovery, the AdminServer (`admin_http.rs`). `start` serves a `Config` and returns a handle with the bound address, so tests
//! can run servers on port 0 in-process.
//! Must never: make a decision the core should make.

pub mod admin_http;
pub mod connection;
pub mod flow;
pub mod listener;
pub mod metrics_http;
pub mod node;
pub mod process;
pub mod quorum;
pub mod recovery;

use crate::admin::EnvView;
use crate::config::Config;
use crate::core::{Core, CoreConfig};
use crate::storage::committer::LogWriter;
use crate::storage::wal::LogOptions;
use crate::storage::StorageError;
use flow::Outstanding;
use node::{CoreMsg, Node};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::{mpsc, watch};

/// Why the server could not start or had to stop.
#[derive(Debug, Error)]
pub enum ServerError {
    #[error("{0}")]
    Startup(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<String> for ServerError {
    fn from(s: String) -> Self {
        ServerError::Startup(s)
    }
}

/// How long a shutdown waits for connection writers to send what was queued.
const WRITERS_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// What connection tasks share: the way to the node loop, the budgets and the clock origin.
pub struct Shared {
    /// Unbounded, but bounded in fact: a request enters it only once admitted by the
    /// back-pressure budgets (`flow`), and a connection sends only a few other messages in its
    /// life (opened, handshake, closed). No per-message semaphore on the hot path.
    pub core_tx: mpsc::UnboundedSender<CoreMsg>,
    pub max_buffer: usize,
    /// Requests read and not yet answered, server-wide (`globalOutstandingLimit`).
    pub outstanding: Outstanding,
    /// Reply bytes one connection may leave unread before it is no longer read from.
    pub max_unsent: usize,
    /// How long a connection may take to send its handshake.
    pub handshake_timeout: Duration,
    /// Held by every connection's writer task: when the last clone is gone, every reply
    /// queued at shutdown has been written (or its socket failed). Never sent on.
    pub writers_alive: mpsc::Sender<()>,
    /// Client connections accepted and bytes read from clients (ZooKeeper's
    /// `connection_request_count` and `bytes_received_count`).
    pub connections_accepted: std::sync::atomic::AtomicU64,
    pub bytes_received: std::sync::atomic::AtomicU64,
    /// Connections refused (per-IP limit, descriptor budget) and closed for sending no
    /// handshake in time (`connection_rejected`, `sessionless_connections_expired`).
    pub connections_rejected: std::sync::atomic::AtomicU64,
    pub sessionless_expired: std::sync::atomic::AtomicU64,
    start: Instant,
}

impl Shared {
    /// Microseconds since the server started (monotonic).
    pub fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }
}

/// A running server.
pub struct ServerHandle {
    pub addr: SocketAddr,
    /// The AdminServer's bound address (None: disabled, or its port could not be bound).
    pub admin_addr: Option<SocketAddr>,
    /// The Prometheus endpoint's bound address (None: not configured, or not bound).
    pub metrics_addr: Option<SocketAddr>,
    metrics_task: Option<tokio::task::JoinHandle<()>>,
    /// Closed once every connection writer (and `Shared`) is gone.
    writers_done: mpsc::Receiver<()>,
    shutdown: watch::Sender<bool>,
    admin_task: Option<tokio::task::JoinHandle<()>>,
    accept_task: tokio::task::JoinHandle<()>,
    node_task: tokio::task::JoinHandle<()>,
}

impl ServerHandle {
    /// Stops accepting, answers the writes already in the log (standalone), closes
    /// connections after their queued replies and waits for the node loop to finish.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.accept_task.await;
        for t in [self.admin_task, self.metrics_task].into_iter().flatten() {
            let _ = t.await;
        }
        let _ = self.node_task.await;
        // The node loop queued the last replies and the closes: let the writers put them on
        // the wire before the process goes (bounded: a client that stopped reading).
        let mut done = self.writers_done;
        let _ = tokio::time::timeout(WRITERS_FLUSH_TIMEOUT, done.recv()).await;
    }

    /// Resolves when the node loop stops by itself (the txn log failed).
    pub async fn failed(&mut self) {
        let _ = (&mut self.node_task).await;
    }
}

/// The core's settings from the operator's config.
pub fn core_config(cfg: &Config) -> CoreConfig {
    CoreConfig {
        tick_ms: cfg.tick_time_ms() as i64,
        min_session_timeout_ms: cfg.min_session_timeout_ms() as i32,
        max_session_timeout_ms: cfg.max_session_timeout_ms() as i32,
        snap_count: cfg.snap_count.max(2),
        skip_acl: cfg.skip_acl,
        linearizable_reads: cfg.linearizable_reads,
        ttl_enabled: cfg.extended_types_enabled,
        super_digest: cfg.super_digest.clone(),
        server_id: cfg.server_id() as i64,
        container_check_interval_ms: cfg.container_check_interval_ms as i64,
        registry: cfg.registry(),
    }
}

/// Recovers the data directory and starts serving; returns once the port is bound.
pub async fn start(cfg: Config) -> Result<ServerHandle, ServerError> {
    let started = Instant::now();
    let log_opts =
        LogOptions { pre_alloc_size: cfg.pre_alloc_size_bytes(), force_sync: cfg.force_sync, ..LogOptions::default() };
    if !cfg.force_sync {
        tracing::warn!("forceSync=no: the txn log is not fsynced; a power failure can lose acknowledged writes");
    }
    let (data_dir, log_dir) = (cfg.data_dir.clone(), cfg.data_log_dir.clone());
    let rec = tokio::task::spawn_blocking(move || recovery::recover(&data_dir, &log_dir, log_opts))
        .await
        .map_err(|e| ServerError::Startup(e.to_string()))??;
    let listener = listener::bind(cfg.client_addr(), cfg.client_port_listen_backlog)
        .map_err(|e| ServerError::Startup(format!("cannot bind the client port {}: {e}", cfg.client_addr())))?;
    let addr = listener.local_addr()?;
    let (core_tx, core_rx) = mpsc::unbounded_channel();
    let (writers_alive, writers_done) = mpsc::channel(1);
    let shared = Arc::new(Shared {
        writers_alive,
        core_tx,
        max_buffer: cfg.jute_max_buffer as usize,
        outstanding: Outstanding::new(cfg.global_outstanding_limit as usize),
        max_unsent: cfg.client_max_unsent_bytes.min(usize::MAX as u64) as usize,
        handshake_timeout: Duration::from_millis(cfg.sessionless_cnxn_timeout_ms),
        connections_accepted: Default::default(),
        bytes_received: Default::default(),
        connections_rejected: Default::default(),
        sessionless_expired: Default::default(),
        start: Instant::now(),
    });
    let us = shared.now_us();
    let wall =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let mut core = Core::new(core_config(&cfg), rec.tree, rec.last_logged_zxid, wall, (us / 1000) as i64);
    let recent = rec.recent;
    let (durable_tx, durable_rx) = mpsc::unbounded_channel();
    let writer = Arc::new(LogWriter::spawn(rec.log, durable_tx));
    // ZooKeeper counts fsyncs over the threshold; a configured 0 counts those over 1 ms.
    writer.stats().warn_threshold_ms.store(cfg.fsync_warning_threshold_ms.max(1), std::sync::atomic::Ordering::Relaxed);
    let (snap_tx, snap_rx) = std::sync::mpsc::channel();
    let snapshot_ms = Arc::new(crate::stats::SharedTiming::default());
    let snap_busy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let busy = snap_busy.clone();
        let writer = writer.clone();
        let retain = cfg.autopurge_snap_retain_count.max(3) as usize;
        let autopurge = cfg.purge_interval().is_some();
        let store = rec.store;
        let times = snapshot_ms.clone();
        std::thread::Builder::new()
            .name("snapshot".into())
            .spawn(move || node::snapshot_thread(store, snap_rx, busy, writer, retain, autopurge, times))?;
    }
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let ensemble =
        if cfg.is_standalone() { None } else { Some(start_ensemble(&cfg, &mut core, recent, &shared.core_tx).await?) };
    let node = Node {
        core,
        writer,
        durable_rx,
        snap_tx,
        snap_busy,
        config: cfg.clone(),
        shared: shared.clone(),
        rx: core_rx,
        bound: addr,
        env: EnvView::collect(),
        ensemble,
        trace_mask: 306,
        startup: rec.startup,
        snapshot_ms,
    };
    let node_task = tokio::spawn(node.run(shutdown_rx.clone()));
    let admin = match cfg.admin_enable_server {
        true => admin_http::start(&cfg, shared.core_tx.clone(), shutdown_rx.clone()).await,
        false => None,
    };
    let (admin_addr, admin_task) = admin.map_or((None, None), |(a, t)| (Some(a), Some(t)));
    let metrics = match cfg.prometheus_enabled() {
        true => metrics_http::start(&cfg, shared.core_tx.clone(), shutdown_rx.clone()).await,
        false => None,
    };
    let (metrics_addr, metrics_task) = metrics.map_or((None, None), |(a, t)| (Some(a), Some(t)));
    let accept_task = tokio::spawn(listener::accept_loop(listener, shared, cfg.max_client_cnxns_per_ip(), shutdown_rx));
    tracing::info!("zabkeeper serving on {addr} (started in {:?})", started.elapsed());
    Ok(ServerHandle {
        addr,
        admin_addr,
        metrics_addr,
        metrics_task,
        writers_done,
        shutdown: shutdown_tx,
        admin_task,
        accept_task,
        node_task,
    })
}

/// Binds the quorum and election ports of this member and starts its election.
async fn start_ensemble(
    cfg: &Config,
    core: &mut Core,
    recent: Vec<(i64, bytes::Bytes)>,
    events: &mpsc::UnboundedSender<CoreMsg>,
) -> Result<quorum::ensemble::Ensemble, ServerError> {
    use quorum::ensemble::{Ensemble, EnsembleSetup};
    let me = cfg.my_server().ok_or_else(|| {
        ServerError::Startup(format!(
            "{} has no myid matching a server.N line: an ensemble member needs one",
            cfg.data_dir.join("myid").display()
        ))
    })?;
    let my_id = me.id as i64;
    let resolve = |host: &str, port: u16| -> Result<SocketAddr, ServerError> {
        let ip = crate::config::resolve_host_ip(host).map_err(ServerError::Startup)?;
        Ok(SocketAddr::new(ip, port))
    };
    let mut quorum_addrs = std::collections::BTreeMap::new();
    let mut election_addrs = std::collections::BTreeMap::new();
    for s in &cfg.servers {
        quorum_addrs.insert(s.id as i64, resolve(&s.host, s.quorum_port)?);
        election_addrs.insert(s.id as i64, resolve(&s.host, s.election_port)?);
    }
    let voters =
        cfg.servers.iter().filter(|s| s.role == crate::config::PeerRole::Participant).map(|s| s.id as i64).collect();
    let observer = me.role == crate::config::PeerRole::Observer;
    let bind = |addr: SocketAddr| {
        if cfg.quorum_listen_on_all_ips {
            SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), addr.port())
        } else {
            addr
        }
    };
    let quorum_listener = tokio::net::TcpListener::bind(bind(quorum_addrs[&my_id]))
        .await
        .map_err(|e| ServerError::Startup(format!("cannot bind the quorum port {}: {e}", quorum_addrs[&my_id])))?;
    let election_listener = tokio::net::TcpListener::bind(bind(election_addrs[&my_id]))
        .await
        .map_err(|e| ServerError::Startup(format!("cannot bind the election port {}: {e}", election_addrs[&my_id])))?;
    let (cnx, inbound) =
        quorum::cnx::CnxManager::start(my_id, election_listener, election_addrs[&my_id], election_addrs);
    let look_tx = quorum::peer::spawn(cnx, inbound, events.clone());
    tokio::spawn(quorum::accept_learners(quorum_listener, events.clone()));
    let setup = EnsembleSetup {
        my_id,
        observer,
        voters,
        config_text: bytes::Bytes::from(crate::zab::wire::membership_text(&cfg.servers, 0)),
        quorum_addrs,
        tick: Duration::from_millis(cfg.tick_time_ms().max(1) as u64),
        init_limit: cfg.init_limit,
        sync_limit: cfg.sync_limit,
        data_dir: cfg.data_dir.clone(),
        epoch_dir: cfg.snap_dir(),
        max_packet: cfg.jute_max_buffer as usize + 1024,
        window_entries: recovery::RECENT,
        window_bytes: 64 << 20,
    };
    tracing::info!(
        "ensemble member {my_id} ({}), {} members",
        if observer { "observer" } else { "participant" },
        cfg.servers.len()
    );
    Ensemble::start(setup, core, recent, look_tx, events.clone())
}

/// Runs a server until Ctrl-C / SIGTERM.
pub async fn run(cfg: Config) -> Result<(), ServerError> {
    process::tune();
    let mut handle = start(cfg).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = handle.failed() => {
            return Err(ServerError::Startup("the txn log failed; stopped serving (see the log above)".into()));
        }
    }
    tracing::info!("shutting down");
    handle.shutdown().await;
    Ok(())
}
