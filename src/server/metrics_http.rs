//! The Prometheus endpoint's HTTP shell (ZooKeeper's `PrometheusMetricsProvider` server):
//! `GET /metrics` asks the node loop for a snapshot of the view and the stream jobs
//! (`CoreMsg::Metrics`) and answers it in the Prometheus text format; any other path is a 404.
//! Owns: the listener on `metricsProvider.httpHost:httpPort` (the AdminServer's bounds apply).
//! Must never: decide what a metric is (`admin::metrics` does), hold a lock across an await,
//! or stop the server when it cannot bind (it logs and the server goes on).

use super::node::{CoreMsg, MetricsSnapshot};
use crate::admin::metrics;
use crate::config::Config;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

const NODE_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds the metrics endpoint and serves it until `shutdown` flips. Returns the bound address
/// and the serving task, or None (logged) when it cannot bind.
pub async fn start(
    cfg: &Config,
    core_tx: mpsc::UnboundedSender<CoreMsg>,
    shutdown: watch::Receiver<bool>,
) -> Option<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let want = SocketAddr::new(cfg.metrics_provider_http_host, cfg.metrics_provider_http_port);
    let listener = match tokio::net::TcpListener::bind(want).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("Cannot start the Prometheus metrics endpoint on {want}: {e}; serving clients without it");
            return None;
        }
    };
    let bound = listener.local_addr().ok()?;
    tracing::info!("Prometheus metrics on http://{bound}/metrics");
    let router = Router::new().route("/metrics", get(scrape)).fallback(not_found).with_state(core_tx);
    Some((bound, tokio::spawn(super::admin_http::serve(listener, router, shutdown))))
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found\n").into_response()
}

async fn scrape(State(core_tx): State<mpsc::UnboundedSender<CoreMsg>>) -> Response {
    let (reply, answer) = oneshot::channel();
    if core_tx.send(CoreMsg::Metrics { reply }).is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "the server is stopping\n").into_response();
    }
    match tokio::time::timeout(NODE_TIMEOUT, answer).await {
        Ok(Ok(MetricsSnapshot { view, jobs, now_ms })) => {
            ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], metrics::render(&view, &jobs, now_ms)).into_response()
        }
        _ => (StatusCode::SERVICE_UNAVAILABLE, "the server did not answer in time\n").into_response(),
    }
}
