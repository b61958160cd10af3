//! The node loop: one task that owns the core and is the only place it runs. It feeds the
//! core what connections, the log writer and the clock produce, and carries out the core's
//! actions: frames to connections, txns to the group-commit log writer, snapshots to the
//! snapshot thread. Inputs are drained in batches so one wake-up serves many requests and
//! many writes share one fsync.
//! Must never: block (disk work is on the log and snapshot threads) or hold a lock across an
//! await.

use super::flow::Flow;
use super::quorum::ensemble::Ensemble;
use super::quorum::QuorumMsg;
use super::recovery::StartupTimes;
use super::Shared;
use crate::admin::commands::{self as admin_commands, Effect};
use crate::admin::{self, ConnectionView, DiskView, EnvView, FourLetterReply, ServerMetrics, ServerView, StatReset};
use crate::config::Config;
use crate::core::conn::ConnId;
use crate::core::{Action, Core};
use crate::proto::records::ConnectRequest;
use crate::proto::request::Request;
use crate::stats::{once, SharedTiming};
use crate::storage::committer::{Durable, LogWriter};
use crate::storage::snapfile::FileSnapshotStore;
use crate::storage::snapshot::SnapshotStore;
use crate::tree::TreeImage;
use bytes::{Bytes, BytesMut};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, watch};

/// What a connection task sends to the node loop.
pub enum CoreMsg {
    Opened {
        conn: ConnId,
        peer: SocketAddr,
        out: mpsc::UnboundedSender<Outbound>,
        flow: Arc<Flow>,
    },
    Connect {
        conn: ConnId,
        req: ConnectRequest,
    },
    /// A request, with its body as received (a learner forwards writes unchanged).
    Request {
        conn: ConnId,
        xid: i32,
        req: Request,
        body: Bytes,
        received_us: u64,
    },
    Closed {
        conn: ConnId,
    },
    FourLetter {
        word: &'static str,
        /// `stmk`'s trace mask (the 8 bytes after the word).
        arg: Option<i64>,
        reply: oneshot::Sender<String>,
    },
    /// An AdminServer command, answered with its JSON like a four-letter word.
    Admin {
        request: AdminRequest,
        reply: oneshot::Sender<serde_json::Value>,
    },
    /// A Prometheus scrape: the view and the stream jobs, rendered by the HTTP shell.
    Metrics {
        reply: oneshot::Sender<MetricsSnapshot>,
    },
    /// The ensemble's election, quorum listener and links.
    Quorum(QuorumMsg),
}

/// What one Prometheus scrape renders.
pub struct MetricsSnapshot {
    pub view: crate::admin::ServerView,
    pub jobs: Vec<crate::admin::jobs::JobRow>,
    pub now_ms: i64,
}

/// An AdminServer command as the HTTP shell received it.
pub struct AdminRequest {
    /// The name or alias from the URL.
    pub command: String,
    /// The query string's parameters (the first value of each).
    pub args: BTreeMap<String, String>,
    /// Directory sizes and the newest snapshot, read by the shell off this loop.
    pub disk: DiskView,
}

/// What the node loop sends to a connection's writer.
pub enum Outbound {
    Bytes(BytesMut),
    Close,
}

struct ConnHandle {
    peer: SocketAddr,
    /// Unbounded, but every byte sent is counted in `flow`, whose budget stops the
    /// connection's reads: what is queued here is bounded by what its requests asked for.
    out: mpsc::UnboundedSender<Outbound>,
    flow: Arc<Flow>,
}

/// Everything the loop owns.
pub struct Node {
    pub core: Core,
    pub writer: Arc<LogWriter>,
    pub durable_rx: mpsc::UnboundedReceiver<Durable>,
    pub snap_tx: std::sync::mpsc::Sender<(i64, Box<TreeImage>)>,
    /// Set while the snapshot thread writes one (the core skips snapshots meanwhile).
    pub snap_busy: Arc<AtomicBool>,
    pub config: Config,
    pub shared: Arc<Shared>,
    pub rx: mpsc::UnboundedReceiver<CoreMsg>,
    pub bound: SocketAddr,
    pub env: EnvView,
    /// This member's part in an ensemble (None: standalone).
    pub ensemble: Option<Ensemble>,
    /// `gtmk`'s trace mask, as `stmk` last set it (ZooKeeper's default 306). It selects no
    /// logging here: we keep it so both answer as ZooKeeper's do.
    pub trace_mask: i64,
    /// What recovery took, and the snapshot thread's write times (ms).
    pub startup: StartupTimes,
    pub snapshot_ms: Arc<SharedTiming>,
}

/// How long a clean shutdown waits for the writes already in the log.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

fn wall_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Node {
    fn set_time(&mut self) {
        let us = self.shared.now_us();
        self.core.set_time(wall_ms(), (us / 1000) as i64, us);
    }

    /// Runs until `shutdown` flips or the log fails.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut conns: HashMap<ConnId, ConnHandle> = HashMap::new();
        loop {
            self.set_time();
            let next_tick = self.core.next_tick_ms();
            let now_ms = (self.shared.now_us() / 1000) as i64;
            let mut wait = Duration::from_millis((next_tick - now_ms).clamp(1, 1000) as u64);
            if let Some(e) = &self.ensemble {
                wait = wait.min(e.next_tick_in().max(Duration::from_millis(1)));
            }
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                d = self.durable_rx.recv() => {
                    match d {
                        Some(Durable::UpTo(z)) => {
                            self.set_time();
                            self.core.set_snapshot_busy(self.snap_busy.load(Ordering::Acquire));
                            let mut z = z;
                            while let Ok(d) = self.durable_rx.try_recv() {
                                match d {
                                    Durable::UpTo(later) => z = z.max(later),
                                    Durable::Failed(e) => { self.log_failed(&e); return; }
                                }
                            }
                            match self.ensemble.as_mut() {
                                Some(e) => e.on_durable(z, &mut self.core, &self.writer).await,
                                None => self.core.durable(z),
                            }
                        }
                        Some(Durable::Failed(e)) => { self.log_failed(&e); return; }
                        None => return,
                    }
                }
                m = self.rx.recv() => {
                    let Some(m) = m else { break };
                    self.set_time();
                    self.handle(m, &mut conns).await;
                    // Drain what else is queued: one batch, one round of log appends.
                    for _ in 0..4096 {
                        match self.rx.try_recv() {
                            Ok(m) => self.handle(m, &mut conns).await,
                            Err(_) => break,
                        }
                    }
                }
                _ = tokio::time::sleep(wait) => {
                    self.set_time();
                    self.core.tick();
                    if let Some(e) = self.ensemble.as_mut() {
                        e.tick(&mut self.core, &self.writer).await;
                    }
                }
            }
            self.execute(&mut conns).await;
        }
        self.drain(&mut conns).await;
        for (_, c) in conns.drain() {
            let _ = c.out.send(Outbound::Close);
        }
    }

    /// A clean shutdown's last step before the connections close (their queued replies go out
    /// before the close): standalone, the writes already handed to the log are fsynced,
    /// applied and answered — no new request is taken — within [`DRAIN_TIMEOUT`]. An
    /// ensemble member stops as it is: its in-flight writes wait for a quorum this loop no
    /// longer serves, and the other members keep every one that commits.
    async fn drain(&mut self, conns: &mut HashMap<ConnId, ConnHandle>) {
        if self.ensemble.is_some() || self.core.outstanding() == 0 {
            return;
        }
        let pending = self.core.outstanding();
        let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
        while self.core.outstanding() > 0 {
            match tokio::time::timeout_at(deadline, self.durable_rx.recv()).await {
                Ok(Some(Durable::UpTo(z))) => {
                    self.set_time();
                    self.core.durable(z);
                    self.execute(conns).await;
                }
                Ok(Some(Durable::Failed(e))) => return self.log_failed(&e),
                Ok(None) | Err(_) => break,
            }
        }
        let left = self.core.outstanding();
        tracing::info!("shutdown: {} in-flight writes fsynced and answered, {left} left", pending - left);
    }

    fn log_failed(&self, e: &str) {
        tracing::error!("the txn log failed: {e}; stopping so that nothing unlogged is acknowledged");
    }

    async fn handle(&mut self, m: CoreMsg, conns: &mut HashMap<ConnId, ConnHandle>) {
        match m {
            CoreMsg::Opened { conn, peer, out, flow } => {
                conns.insert(conn, ConnHandle { peer, out, flow });
                self.core.connection_opened(conn, Some(peer.ip()));
            }
            CoreMsg::Connect { conn, req } => {
                self.core.connect(conn, req);
                if let (Some(h), Some(c)) = (conns.get(&conn), self.core.conn(conn)) {
                    h.flow.set_session_timeout_ms(c.timeout_ms.max(0) as u64);
                }
            }
            CoreMsg::Request { conn, xid, req, body, received_us } => {
                self.core.request_with_body(conn, xid, req, body, received_us)
            }
            CoreMsg::Quorum(q) => {
                if let Some(e) = self.ensemble.as_mut() {
                    e.on_msg(q, &mut self.core, &self.writer).await;
                }
                // Whatever the core was asked to do meanwhile (closes on a step-down).
                self.execute(conns).await;
            }
            CoreMsg::Closed { conn } => {
                conns.remove(&conn);
                self.core.connection_closed(conn);
            }
            CoreMsg::FourLetter { word, arg, reply } => {
                let text = self.four_letter(word, arg, conns);
                let _ = reply.send(text);
            }
            CoreMsg::Admin { request, reply } => {
                let json = self.admin(request, conns);
                let _ = reply.send(json);
            }
            CoreMsg::Metrics { reply } => {
                let mut view = self.view(conns);
                view.serving = self.serving();
                let roots = [self.config.checkpoints_root.as_str(), "/flink"];
                let jobs = crate::admin::jobs::find_in_tree(self.core.tree(), &roots);
                let _ = reply.send(MetricsSnapshot { view, jobs, now_ms: wall_ms() });
            }
        }
    }

    async fn execute(&mut self, conns: &mut HashMap<ConnId, ConnHandle>) {
        // Txns go to the log writer together (they come first among the actions), so a
        // batch is never split across two group commits.
        let mut logs = Vec::new();
        // Committing on a leader makes more actions (replies): run until none are left.
        for _ in 0..64 {
            if let Some(e) = self.ensemble.as_mut() {
                // PING rounds syncs wait for, and syncs now answerable.
                e.flush(&mut self.core, &self.writer).await;
            }
            let actions = self.core.take_actions();
            if actions.is_empty() {
                break;
            }
            for a in actions {
                match a {
                    Action::Log { zxid, payload } => match self.ensemble.as_mut() {
                        Some(e) => e.propose(zxid, payload, &mut self.core, &self.writer).await,
                        None => logs.push((zxid, payload)),
                    },
                    Action::Forward { req, auth } => {
                        if let Some(e) = self.ensemble.as_mut() {
                            e.forward(req, auth);
                        }
                    }
                    Action::ConfirmSync => {
                        if let Some(e) = self.ensemble.as_mut() {
                            e.confirm_sync(&mut self.core, &self.writer).await;
                        }
                    }
                    Action::Revalidate { session_id, timeout } => {
                        if let Some(e) = self.ensemble.as_mut() {
                            e.revalidate(session_id, timeout);
                        }
                    }
                    other => {
                        if !logs.is_empty() {
                            self.writer.append_batch(std::mem::take(&mut logs));
                        }
                        self.dispatch(other, conns);
                    }
                }
            }
        }
        if !logs.is_empty() {
            self.writer.append_batch(logs);
        }
    }

    fn dispatch(&mut self, a: Action, conns: &mut HashMap<ConnId, ConnHandle>) {
        match a {
            Action::Send { conn, bytes, replies } => {
                if let Some(c) = conns.get(&conn) {
                    c.flow.queued(bytes.len(), replies, &self.shared.outstanding);
                    let _ = c.out.send(Outbound::Bytes(bytes));
                }
            }
            Action::Close { conn } => {
                if let Some(c) = conns.remove(&conn) {
                    let _ = c.out.send(Outbound::Close);
                }
            }
            Action::Log { zxid, payload } => self.writer.append(zxid, payload),
            // Routed by `execute`.
            Action::Forward { .. } | Action::ConfirmSync | Action::Revalidate { .. } => {}
            Action::Snapshot { zxid, image } => {
                // New txns go to a new segment so the old ones can be purged later.
                self.writer.roll();
                self.snap_busy.store(true, Ordering::Release);
                let _ = self.snap_tx.send((zxid, image));
            }
        }
    }

    fn four_letter(&mut self, word: &str, arg: Option<i64>, conns: &HashMap<ConnId, ConnHandle>) -> String {
        let serving = !matches!(self.ensemble.as_ref().map(|e| e.mode()), Some(super::quorum::ensemble::Mode::Looking));
        if !serving && !matches!(word, "ruok" | "conf" | "envi" | "dirs" | "isro" | "gtmk" | "stmk") {
            // ZooKeeper's answer while it has no quorum.
            return "This ZooKeeper instance is not currently serving requests\n".to_string();
        }
        let mut view = self.view(conns);
        if matches!(word, "wchs" | "wchc" | "wchp") {
            // Only these words list watches; building the list costs O(watches).
            view.data_watches = self.data_watches();
        }
        if word == "dump" {
            self.fill_dump(&mut view);
        }
        if let (true, Some(mask)) = (word == "stmk", arg) {
            view.trace_mask = mask;
        }
        match admin::four_letter(word, &view, &self.config, &self.env) {
            FourLetterReply::Text(t) => {
                if let (true, Some(mask)) = (word == "stmk", arg) {
                    self.trace_mask = mask;
                }
                // crst / srst reset after rendering their reply, and only when allowed.
                match admin::stat_reset(word) {
                    Some(StatReset::Server) => self.reset_server_stats(),
                    Some(StatReset::Connections) => self.core.reset_conn_stats(),
                    None => {}
                }
                t
            }
            FourLetterReply::NotWhitelisted(t) => t,
            FourLetterReply::Unknown => String::new(),
        }
    }

    /// What `dump` prints: sessions by expiry time, ephemerals by session, and the clock
    /// those expiry times are on.
    fn fill_dump(&self, view: &mut ServerView) {
        use super::quorum::ensemble::Mode;
        let live = || self.core.sessions().iter().filter(|s| !s.closing);
        if matches!(self.ensemble.as_ref().map(|e| e.mode()), Some(Mode::Follower | Mode::Observer)) {
            let mut sessions: Vec<(i64, i64)> = live().map(|s| (s.id, s.timeout_ms as i64)).collect();
            sessions.sort_unstable();
            view.learner_sessions = Some(sessions);
        } else {
            let mut expiry: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
            for s in live() {
                expiry.entry(s.expires_at).or_default().push(s.id);
            }
            view.session_expiry = expiry.into_iter().collect();
        }
        let tree = self.core.tree();
        view.ephemerals = self
            .core
            .sessions()
            .iter()
            .map(|s| (s.id, tree.ephemerals_of(s.id)))
            .filter(|(_, paths)| !paths.is_empty())
            .collect();
        view.now_ms = wall_ms();
        view.session_clock_ms = (self.shared.now_us() / 1000) as i64;
    }

    fn serving(&self) -> bool {
        !matches!(self.ensemble.as_ref().map(|e| e.mode()), Some(super::quorum::ensemble::Mode::Looking))
    }

    /// An AdminServer command: the view (with what only some commands print), the JSON, then
    /// the reset or trace mask the command asked for.
    fn admin(&mut self, req: AdminRequest, conns: &HashMap<ConnId, ConnHandle>) -> serde_json::Value {
        let mut view = self.view(conns);
        view.serving = self.serving();
        view.data_dir_size = req.disk.data_dir_size;
        view.data_log_size = req.disk.data_log_size;
        view.last_snapshot = req.disk.last_snapshot;
        match admin_commands::lookup(&req.command).map(|c| c.name) {
            Some("watches" | "watches_by_path" | "watch_summary") => view.data_watches = self.data_watches(),
            Some("dump") => self.fill_dump(&mut view),
            Some("checkpoints") => {
                let roots: Vec<&str> = match req.args.get("path") {
                    Some(p) => vec![p.as_str()],
                    None => vec![self.config.checkpoints_root.as_str(), "/flink"],
                };
                view.checkpoint_jobs = crate::admin::jobs::find_in_tree(self.core.tree(), &roots);
                view.now_ms = wall_ms();
            }
            _ => {}
        }
        let inputs = admin_commands::Inputs { view: &view, cfg: &self.config, env: &self.env };
        let answer = admin_commands::respond(&req.command, &req.args, &inputs);
        match answer.effect {
            Some(Effect::ResetServer) => self.reset_server_stats(),
            Some(Effect::ResetConnections) => self.core.reset_conn_stats(),
            Some(Effect::SetTraceMask(mask)) => self.trace_mask = mask,
            None => {}
        }
        answer.json
    }

    /// Data watches by session, as wchs / wchc / wchp report them.
    fn data_watches(&self) -> Vec<(i64, Vec<String>)> {
        let sessions: HashMap<ConnId, i64> = self.core.conns().map(|(id, c)| (*id, c.session_id)).collect();
        self.core
            .watches()
            .by_watcher()
            .into_iter()
            .filter_map(|(conn, paths)| sessions.get(&conn).map(|&sid| (sid, paths)))
            .collect()
    }

    /// ZooKeeper's `ServerMetrics` as far as we keep them, from the core, the shells and the
    /// ensemble.
    fn server_metrics(&self) -> ServerMetrics {
        let st = self.core.stats();
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let mut m = ServerMetrics {
            read_latency: st.read_latency.summary(),
            update_latency: st.update_latency.summary(),
            commit_propagation_latency: st.commit_propagation.summary(),
            snapshot_time: self.snapshot_ms.summary(),
            db_init_time: once(self.startup.db_init_ms),
            startup_snap_load_time: once(self.startup.snap_load_ms),
            startup_txns_load_time: once(self.startup.txns_load_ms),
            startup_txns_loaded: once(self.startup.txns_loaded),
            connection_request_count: load(&self.shared.connections_accepted),
            bytes_received_count: load(&self.shared.bytes_received),
            connection_rejected: load(&self.shared.connections_rejected),
            sessionless_connections_expired: load(&self.shared.sessionless_expired),
            response_bytes: st.response_bytes,
            sync_processor_batch_size: self.writer.stats().batch_sizes.summary(),
            ..ServerMetrics::default()
        };
        if let Some(e) = &self.ensemble {
            e.fill_metrics(&mut m);
        }
        m
    }

    /// `srst`: every server statistic and metric starts again (as ZooKeeper's
    /// `ServerStats.reset`, which resets its `ServerMetrics` too).
    fn reset_server_stats(&mut self) {
        self.core.reset_stats();
        let log = self.writer.stats();
        for timing in [&log.fsync_ms, &log.batch_sizes, &*self.snapshot_ms] {
            timing.reset();
        }
        for counter in [
            &self.shared.connections_accepted,
            &self.shared.bytes_received,
            &self.shared.connections_rejected,
            &self.shared.sessionless_expired,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        if let Some(e) = &mut self.ensemble {
            e.reset_metrics();
        }
    }

    fn view(&self, conns: &HashMap<ConnId, ConnHandle>) -> ServerView {
        let core = &self.core;
        let st = core.stats();
        let tree = core.tree();
        let (open_fds, max_fds) = admin::process_fd_counts();
        let log_stats = self.writer.stats();
        let mut connections = Vec::new();
        for (id, c) in core.conns() {
            let Some(h) = conns.get(id) else { continue };
            let mut v = ConnectionView::new(h.peer);
            v.session_id = c.session_id;
            v.recved = c.stats.received;
            v.sent = c.stats.sent;
            v.last_op = c.stats.last_op.to_string();
            v.last_cxid = c.stats.last_cxid;
            v.last_zxid = c.stats.last_zxid;
            v.timeout_ms = c.timeout_ms as u32;
            v.established_ms = c.stats.established_ms;
            v.last_active_ms = c.stats.last_active_ms;
            v.queued = c.queue.len() as u64;
            if let Some(avg) = c.stats.total_latency_us.checked_div(c.stats.latency_count) {
                v.min_latency_ms = c.stats.min_latency_us / 1000;
                v.max_latency_ms = c.stats.max_latency_us / 1000;
                v.avg_latency_ms = avg / 1000;
                v.last_latency_ms = c.stats.last_latency_us / 1000;
            }
            connections.push(v);
        }
        ServerView {
            zxid: tree.last_zxid(),
            node_count: tree.node_count() as u64,
            min_latency_ms: st.min_latency_us / 1000,
            avg_latency_ms: if st.latency_count > 0 {
                st.total_latency_us as f64 / st.latency_count as f64 / 1000.0
            } else {
                0.0
            },
            max_latency_ms: st.max_latency_us / 1000,
            packets_received: st.packets_received,
            packets_sent: st.packets_sent,
            outstanding_requests: self.shared.outstanding.get() as u64,
            num_alive_connections: conns.len() as u64,
            watch_count: core.watches().count() as u64,
            ephemerals_count: tree.ephemeral_count() as u64,
            approximate_data_size: tree.approximate_data_size(),
            open_file_descriptor_count: open_fds,
            max_file_descriptor_count: max_fds,
            connections,
            uptime_ms: self.shared.now_us() / 1000,
            global_sessions: core.sessions().len() as u64,
            auth_failed_count: st.auth_failed,
            fsync_ms: log_stats.fsync_ms.summary(),
            client_port_bound: Some(self.bound.port()),
            trace_mask: self.trace_mask,
            client_response: match st.responses_sized {
                0 => admin::BufferSizes::default(),
                _ => admin::BufferSizes {
                    last: st.last_response_size as i64,
                    min: st.min_response_size as i64,
                    max: st.max_response_size as i64,
                },
            },
            fsync_threshold_exceed_count: log_stats.over_threshold.load(std::sync::atomic::Ordering::Relaxed),
            metrics: self.server_metrics(),
            mode: self.ensemble.as_ref().map_or("standalone", |e| e.mode().as_str()).to_string(),
            quorum: self.ensemble.as_ref().map(|e| e.view(core)),
            ..ServerView::default()
        }
    }
}

/// Clears the busy flag when a snapshot is done with, however it ended.
struct ClearOnDrop<'a>(&'a AtomicBool);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The snapshot thread: encodes each tree image (a piece at a time, so no second copy of the
/// tree is ever held) into the store, then purges old snapshots and the log segments before
/// the oldest one kept.
pub fn snapshot_thread(
    mut store: FileSnapshotStore,
    rx: std::sync::mpsc::Receiver<(i64, Box<TreeImage>)>,
    busy: Arc<AtomicBool>,
    writer: Arc<LogWriter>,
    retain: usize,
    autopurge: bool,
    times: Arc<SharedTiming>,
) {
    crate::storage::lower_thread_priority();
    while let Ok((zxid, image)) = rx.recv() {
        let _done = ClearOnDrop(&busy);
        let started = std::time::Instant::now();
        let mut bytes = 0;
        let res = store.begin(zxid).and_then(|mut sink| {
            crate::tree::snapshot::encode_image(&image, |piece| {
                bytes += piece.len();
                sink.write(&piece)
            })?;
            sink.finish()
        });
        // Gives the chunks it shared back before the next image is taken.
        drop(image);
        match res {
            Ok(()) => {
                let took = started.elapsed();
                times.record(took.as_millis() as u64);
                tracing::info!("Snapshot 0x{zxid:x} written ({bytes} bytes) in {took:?}");
            }
            Err(e) => {
                tracing::error!("writing snapshot 0x{zxid:x} failed: {e}");
                continue;
            }
        }
        if autopurge {
            match crate::storage::purge::purge_with_writer(&mut store, &writer, retain) {
                Ok(report) => {
                    if !report.snapshots_removed.is_empty() {
                        tracing::info!("Purged {} old snapshots", report.snapshots_removed.len());
                    }
                }
                Err(e) => tracing::warn!("purging old snapshots failed: {e}"),
            }
        }
    }
}
