//! The AdminServer's HTTP shell (ZooKeeper's `JettyAdminServer`): `GET /commands` lists a link
//! per command, `GET /commands/<name>` asks the node loop for the command's JSON
//! (`CoreMsg::Admin`) and answers it `200 application/json`, errors included, as ZooKeeper 3.8
//! does; any other path is a 404.
//! Owns: the listener on `admin.serverAddress:admin.serverPort`, reading directory sizes and the
//! newest snapshot file off the node loop (a blocking task, only for the commands that print
//! them), and the bounds: 64 connections at once, one request per connection, 30 s to send the
//! request headers, 60 s for a whole connection, 10 s for the node loop's answer.
//! Must never: decide an answer (`admin::commands` does), hold a lock across an await, or stop
//! the server when it cannot bind (it logs, as ZooKeeper logs "Problem starting AdminServer").

use super::node::{AdminRequest, CoreMsg};
use crate::admin::commands;
use crate::admin::DiskView;
use crate::config::Config;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};

/// ZooKeeper's `zookeeper.admin.commandURL` default.
pub const COMMAND_URL: &str = "/commands";
const MAX_CONNECTIONS: usize = 64;
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);
const NODE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct AdminState {
    core_tx: mpsc::UnboundedSender<CoreMsg>,
    snap_dir: PathBuf,
    log_dir: PathBuf,
}

/// Binds the AdminServer and serves it until `shutdown` flips. Returns the bound address and
/// the serving task, or None (logged) when it cannot bind.
pub async fn start(
    cfg: &Config,
    core_tx: mpsc::UnboundedSender<CoreMsg>,
    shutdown: watch::Receiver<bool>,
) -> Option<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let want = SocketAddr::new(cfg.admin_server_address, cfg.admin_server_port);
    let listener = match tokio::net::TcpListener::bind(want).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(
                "Problem starting AdminServer on address {}, port {} and command URL {COMMAND_URL}: {e}; \
                 serving clients without it",
                want.ip(),
                want.port()
            );
            return None;
        }
    };
    let bound = listener.local_addr().ok()?;
    tracing::info!(
        "Started AdminServer on address {}, port {} and command URL {COMMAND_URL}",
        bound.ip(),
        bound.port()
    );
    let state = AdminState { core_tx, snap_dir: cfg.snap_dir(), log_dir: cfg.txn_log_dir() };
    let router = Router::new()
        .route(COMMAND_URL, get(list))
        .route(&format!("{COMMAND_URL}/"), get(list))
        .route(&format!("{COMMAND_URL}/{{*name}}"), get(run))
        .fallback(not_found)
        .with_state(state);
    Some((bound, tokio::spawn(serve(listener, router, shutdown))))
}

/// Serves `router` on `listener` with the bounds above until `shutdown` flips (also the metrics
/// endpoint's server).
pub(super) async fn serve(listener: tokio::net::TcpListener, router: Router, mut shutdown: watch::Receiver<bool>) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            _ = shutdown.changed() => return,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let stream = tokio::select! {
            _ = shutdown.changed() => return,
            a = listener.accept() => match a {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!("AdminServer accept failed: {e}");
                    // EMFILE and the like: give the process a moment instead of spinning.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
        });
    }
}

async fn list() -> Response {
    ([(header::CONTENT_TYPE, "text/html;charset=utf-8")], commands::links(COMMAND_URL)).into_response()
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found\n").into_response()
}

async fn run(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    // ZooKeeper takes each parameter's first value.
    let mut args = BTreeMap::new();
    for (k, v) in query {
        args.entry(k).or_insert(v);
    }
    let disk = match commands::lookup(&name).filter(|c| commands::reads_disk(c)) {
        Some(_) => {
            let (snap, log) = (state.snap_dir.clone(), state.log_dir.clone());
            tokio::task::spawn_blocking(move || read_disk(&snap, &log)).await.unwrap_or_default()
        }
        None => DiskView::default(),
    };
    let (reply, answer) = oneshot::channel();
    let request = AdminRequest { command: name, args, disk };
    if state.core_tx.send(CoreMsg::Admin { request, reply }).is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "the server is stopping\n").into_response();
    }
    match tokio::time::timeout(NODE_TIMEOUT, answer).await {
        Ok(Ok(json)) => {
            let body = serde_json::to_string_pretty(&json).unwrap_or_default();
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        _ => (StatusCode::SERVICE_UNAVAILABLE, "the server did not answer in time\n").into_response(),
    }
}

/// Bytes of the files under `dir` (ZooKeeper's `getDirSize`); 0 if it cannot be read.
fn dir_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

/// The directories' sizes and the newest snapshot file (its zxid and mtime in seconds).
fn read_disk(snap_dir: &std::path::Path, log_dir: &std::path::Path) -> DiskView {
    let mut last_snapshot: Option<(i64, i64)> = None;
    if let Ok(entries) = std::fs::read_dir(snap_dir) {
        for e in entries.flatten() {
            let Some(zxid) = e.file_name().to_str().and_then(crate::storage::snapfile::parse_name) else { continue };
            if last_snapshot.is_some_and(|(z, _)| z >= zxid) {
                continue;
            }
            let mtime = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(-1, |d| d.as_secs() as i64);
            last_snapshot = Some((zxid, mtime));
        }
    }
    DiskView { data_dir_size: dir_size(snap_dir), data_log_size: dir_size(log_dir), last_snapshot }
}
