//! The shell's ZooKeeper handle: a background task that connects to the `-server` list,
//! reconnects with the same session after a connection loss, reports Expired when the
//! server refuses it, and a printer task that prints every watch event and state change as
//! zkCli.sh does ("WATCHER::" then the `WatchedEvent` line). Commands get the live client
//! from here and wait (bounded) while it is connecting.
//! Must never: print a reply or decide a command's output; it only prints events.

use super::format::watched_event;
use super::watches::WatchTracker;
use crate::client::{Client, ClientError, ConnectOptions, WatchedEvent};
use crate::proto::codes::{event, state};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// Java's `ZooKeeper.States`, as shown in the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleState {
    Connecting,
    Connected,
    ConnectedReadOnly,
    Closed,
    AuthFailed,
}

impl HandleState {
    pub fn name(self) -> &'static str {
        match self {
            HandleState::Connecting => "CONNECTING",
            HandleState::Connected => "CONNECTED",
            HandleState::ConnectedReadOnly => "CONNECTEDREADONLY",
            HandleState::Closed => "CLOSED",
            HandleState::AuthFailed => "AUTH_FAILED",
        }
    }
    /// `States.isAlive()`: commands may be sent (now or once connected).
    pub fn is_alive(self) -> bool {
        !matches!(self, HandleState::Closed | HandleState::AuthFailed)
    }
}

#[derive(Clone)]
struct Status {
    state: HandleState,
    client: Option<Arc<Client>>,
    /// Connection attempts that failed so far (a request waiting for a connection fails
    /// with ConnectionLoss when an attempt fails, as the Java client's queued packets do).
    failed_attempts: u64,
}

/// One ZooKeeper handle (what `connect` creates and `close` ends).
pub struct Handle {
    status: watch::Receiver<Status>,
    stop: Option<oneshot::Sender<()>>,
    printer: mpsc::UnboundedSender<PrinterMsg>,
    session_task: tokio::task::JoinHandle<()>,
    pub timeout: Duration,
    /// The watches this handle set (a new handle starts with none).
    pub watches: Arc<Mutex<WatchTracker>>,
    events: mpsc::UnboundedSender<WatchedEvent>,
}

/// Looks up a handle's client at the moment it is needed.
#[derive(Clone)]
pub struct ClientSource(watch::Receiver<Status>);

impl ClientSource {
    pub fn get(&self) -> Option<Arc<Client>> {
        self.0.borrow().client.clone()
    }
}

/// What a handle connects with.
#[derive(Debug, Clone)]
pub struct HandleConfig {
    pub hosts: String,
    pub timeout_ms: i32,
    pub read_only: bool,
}

impl Handle {
    /// Starts connecting in the background (like `new ZooKeeper(...)`); events print when
    /// `print_watches` is on.
    pub fn open(cfg: HandleConfig, print_watches: Arc<AtomicBool>) -> Handle {
        let (status_tx, status) =
            watch::channel(Status { state: HandleState::Connecting, client: None, failed_attempts: 0 });
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (printer, printer_rx) = mpsc::unbounded_channel();
        let (stop, stop_rx) = oneshot::channel();
        let closing = Arc::new(AtomicBool::new(false));
        let watches = Arc::new(Mutex::new(WatchTracker::default()));
        tokio::spawn(print_events(ev_rx, printer_rx, print_watches, closing.clone(), watches.clone()));
        let timeout = Duration::from_millis(cfg.timeout_ms.max(1) as u64);
        let session_task = tokio::spawn(run_session(cfg, status_tx, ev_tx.clone(), stop_rx, closing, watches.clone()));
        Handle { status, stop: Some(stop), printer, session_task, timeout, watches, events: ev_tx }
    }

    /// A way to look up the connected client later (for tab completion).
    pub fn client_source(&self) -> ClientSource {
        ClientSource(self.status.clone())
    }

    pub fn state(&self) -> HandleState {
        self.status.borrow().state
    }

    /// The connected client, waiting up to the session timeout while connecting.
    pub async fn client(&self) -> Result<Arc<Client>, ClientError> {
        match tokio::time::timeout(self.timeout, self.settled()).await {
            Ok(Some(c)) => Ok(c),
            Ok(None) => Err(ClientError::ConnectionLoss("session closed".into())),
            Err(_) => Err(ClientError::ConnectionLoss("not connected".into())),
        }
    }

    /// Waits until the handle is connected (its client), closed, or a connection attempt
    /// failed (None).
    async fn settled(&self) -> Option<Arc<Client>> {
        let mut rx = self.status.clone();
        let failed = rx.borrow().failed_attempts;
        let s = rx.wait_for(|s| s.client.is_some() || !s.state.is_alive() || s.failed_attempts != failed).await;
        s.ok().and_then(|s| s.client.clone())
    }

    /// After a refused auth: waits (bounded) until the handle has turned AUTH_FAILED and the
    /// AuthFailed event is printed.
    pub async fn wait_settled_after_auth_failure(&self) {
        let mut rx = self.status.clone();
        let _ = tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|s| !s.state.is_alive())).await;
        self.drain_events().await;
    }

    /// Waits until the handle is connected (or closed, or `limit` passes); true if connected.
    pub async fn wait_connected(&self, limit: Duration) -> bool {
        matches!(tokio::time::timeout(limit, self.settled()).await, Ok(Some(_)))
    }

    /// Starts printing events; until then they are held (a one-shot command that never
    /// needed the connection prints no connection event, like zkCli exiting early).
    pub fn arm(&self) {
        let _ = self.printer.send(PrinterMsg::Arm);
    }

    /// Stops printing events (the shell is exiting; zkCli prints nothing after it exits).
    pub fn silence(&self) {
        let _ = self.printer.send(PrinterMsg::Silence);
    }

    /// Reports an event the client itself produces (a watch removed by `removewatches`).
    pub fn emit(&self, ev: WatchedEvent) {
        let _ = self.events.send(ev);
    }

    /// Prints every event received so far (events that arrived before a reply are printed
    /// before the shell moves on).
    pub async fn drain_events(&self) {
        let (tx, rx) = oneshot::channel();
        if self.printer.send(PrinterMsg::Drain(tx)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), rx).await;
        }
    }

    /// Closes the session (closeSession) and waits for the handle to finish.
    pub async fn close(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
            let _ = tokio::time::timeout(Duration::from_secs(15), &mut self.session_task).await;
        }
        self.drain_events().await;
    }
}

async fn run_session(
    cfg: HandleConfig,
    status: watch::Sender<Status>,
    events: mpsc::UnboundedSender<WatchedEvent>,
    mut stop: oneshot::Receiver<()>,
    closing: Arc<AtomicBool>,
    watches: Arc<Mutex<WatchTracker>>,
) {
    let hosts = cfg.hosts.split('/').next().unwrap_or_default().split(',').filter(|h| !h.trim().is_empty()).count();
    let mut opts = ConnectOptions {
        timeout_ms: cfg.timeout_ms,
        read_only: cfg.read_only,
        connect_timeout: Duration::from_millis((cfg.timeout_ms.max(1000) as u64) / hosts.max(1) as u64),
        events: Some(events.clone()),
        ..ConnectOptions::default()
    };
    let send = |state_: i32| {
        let _ = events.send(WatchedEvent { event_type: event::NONE, state: state_, path: None, zxid: -1 });
    };
    let mut backoff = Duration::from_millis(50);
    loop {
        let attempt = tokio::select! {
            r = Client::connect(&cfg.hosts, opts.clone()) => r,
            _ = &mut stop => break,
        };
        match attempt {
            Ok((client, _)) => {
                backoff = Duration::from_millis(50);
                opts.session_id = client.session_id;
                opts.password = client.password.clone();
                let (st, ev) = if client.read_only {
                    (HandleState::ConnectedReadOnly, state::CONNECTED_READ_ONLY)
                } else {
                    (HandleState::Connected, state::SYNC_CONNECTED)
                };
                let client = Arc::new(client);
                // A new connection of the same session: the server forgot the old
                // connection's watches; re-register them (it fires those already due).
                let sw = {
                    let w = watches.lock().expect("watch tracker");
                    (!w.is_empty()).then(|| w.set_watches(opts.last_zxid_seen))
                };
                if let Some(sw) = sw {
                    let _ = client.set_watches(sw).await;
                }
                send(ev);
                status.send_modify(|s| {
                    s.state = st;
                    s.client = Some(client.clone());
                });
                tokio::select! {
                    _ = client.closed() => {
                        if client.auth_failed() {
                            set_state(&status, HandleState::AuthFailed);
                            return;
                        }
                        opts.last_zxid_seen = client.last_zxid_seen();
                        set_state(&status, HandleState::Connecting);
                    }
                    _ = &mut stop => {
                        closing.store(true, Ordering::SeqCst);
                        let _ = client.close().await;
                        break;
                    }
                }
            }
            Err(ClientError::SessionExpired) => {
                send(state::EXPIRED);
                set_state(&status, HandleState::Closed);
                return;
            }
            Err(_) => {
                status.send_modify(|s| s.failed_attempts += 1);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = &mut stop => break,
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
    set_state(&status, HandleState::Closed);
    send(state::CLOSED);
}

/// A state without a client (connecting, closed, auth failed).
fn set_state(status: &watch::Sender<Status>, state_: HandleState) {
    status.send_modify(|s| {
        s.state = state_;
        s.client = None;
    });
}

/// Requests to the printer task.
enum PrinterMsg {
    /// Print everything received so far, then acknowledge.
    Drain(oneshot::Sender<()>),
    Arm,
    Silence,
}

async fn print_events(
    mut events: mpsc::UnboundedReceiver<WatchedEvent>,
    mut requests: mpsc::UnboundedReceiver<PrinterMsg>,
    print_watches: Arc<AtomicBool>,
    closing: Arc<AtomicBool>,
    watches: Arc<Mutex<WatchTracker>>,
) {
    let mut armed = false;
    let mut silenced = false;
    let mut held: Vec<WatchedEvent> = Vec::new();
    let print = |ev: WatchedEvent| {
        // A deliberate close ends the connection too; only "Closed" is reported for it.
        if ev.state == state::DISCONNECTED && ev.path.is_none() && closing.load(Ordering::SeqCst) {
            return;
        }
        let removal = matches!(
            ev.event_type,
            event::DATA_WATCH_REMOVED | event::CHILD_WATCH_REMOVED | event::PERSISTENT_WATCH_REMOVED
        );
        // Like the Java client, a node event reaches the watcher only through a watch it set.
        if ev.event_type != event::NONE && !removal {
            let path = ev.path.as_deref().unwrap_or("/");
            if !watches.lock().expect("watch tracker").materialize(ev.event_type, path) {
                return;
            }
        }
        if print_watches.load(Ordering::SeqCst) {
            let text = watched_event(ev.state, ev.event_type, ev.path.as_deref());
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "\nWATCHER::\n\n{text}\n");
            let _ = out.flush();
        }
    };
    let handle = |ev: WatchedEvent, armed: bool, silenced: bool, held: &mut Vec<WatchedEvent>| {
        if silenced {
            return;
        }
        if armed {
            print(ev)
        } else {
            held.push(ev)
        }
    };
    loop {
        tokio::select! {
            biased;
            req = requests.recv() => match req {
                Some(PrinterMsg::Drain(ack)) => {
                    while let Ok(ev) = events.try_recv() {
                        handle(ev, armed, silenced, &mut held);
                    }
                    let _ = ack.send(());
                }
                Some(PrinterMsg::Arm) => {
                    armed = true;
                    for ev in std::mem::take(&mut held) {
                        handle(ev, armed, silenced, &mut held);
                    }
                }
                Some(PrinterMsg::Silence) => silenced = true,
                None => break,
            },
            ev = events.recv() => match ev {
                Some(ev) => handle(ev, armed, silenced, &mut held),
                None => break,
            },
        }
    }
}
