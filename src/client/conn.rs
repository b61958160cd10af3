//! The client's connection task: handshake, pipelined writes, in-order reply matching, pings
//! at a third of the session timeout, and notifications forwarded to the event channel.
//! Must never: reorder requests; replies are matched to calls strictly in send order.

use super::{Call, ClientError, WatchedEvent, XidKind};
use crate::proto::codes::{event, state, xid, ErrorCode};
use crate::proto::frame::{self, write_frame};
use crate::proto::jute::{Jute, Reader};
use crate::proto::records::*;
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// Handshake settings.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub timeout_ms: i32,
    pub session_id: i64,
    pub password: Bytes,
    pub last_zxid_seen: i64,
    pub read_only: bool,
    pub connect_timeout: Duration,
    /// Where watch events and connection-state changes go; `None` = a fresh channel
    /// returned by `Client::connect`. Lets a caller keep one event stream across reconnects.
    pub events: Option<mpsc::UnboundedSender<WatchedEvent>>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            timeout_ms: 30_000,
            session_id: 0,
            password: Bytes::from_static(&[0u8; 16]),
            last_zxid_seen: 0,
            read_only: false,
            connect_timeout: Duration::from_secs(10),
            events: None,
        }
    }
}

type Pending = VecDeque<(i32, oneshot::Sender<Result<(ReplyHeader, Bytes), ClientError>>)>;

fn frame(out: &mut BytesMut, xid_: i32, op: i32, body: &[u8]) {
    write_frame(out, |w| {
        RequestHeader { xid: xid_, type_: op }.write(w);
        w.put_slice(body);
    });
}

/// The largest reply this client takes (ZooKeeper's jute.maxbuffer is far below it).
const MAX_REPLY: usize = 64 << 20;

/// The socket's read half and what was read past the last frame.
struct Replies {
    rd: tokio::net::tcp::OwnedReadHalf,
    buf: BytesMut,
}

/// The next reply frame; a clean end of the stream is an error here (the server went away).
async fn read_frame(r: &mut Replies) -> std::io::Result<Bytes> {
    match frame::read_frame(&mut r.rd, &mut r.buf, MAX_REPLY).await? {
        Some(f) => Ok(f.freeze()),
        None => Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the server closed the connection")),
    }
}

/// Connects, performs the handshake and spawns the connection task.
pub async fn open(
    server: &str,
    opts: &ConnectOptions,
    chroot: Option<String>,
    shared: Shared,
) -> Result<(mpsc::UnboundedSender<Call>, mpsc::UnboundedReceiver<WatchedEvent>, ConnectResponse), ClientError> {
    let lost = |e: std::io::Error| ClientError::ConnectionLoss(format!("{server}: {e}"));
    let stream = tokio::time::timeout(opts.connect_timeout, TcpStream::connect(server))
        .await
        .map_err(|_| ClientError::ConnectionLoss(format!("{server}: connect timed out")))?
        .map_err(lost)?;
    let _ = stream.set_nodelay(true);
    let (rd, mut wr) = stream.into_split();
    let mut rd = Replies { rd, buf: BytesMut::with_capacity(64 * 1024) };
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: opts.last_zxid_seen,
        time_out: opts.timeout_ms,
        session_id: opts.session_id,
        passwd: opts.password.clone(),
        read_only: opts.read_only,
    };
    let mut f = BytesMut::new();
    write_frame(&mut f, |w| req.write(w));
    wr.write_all(&f).await.map_err(lost)?;
    let b = tokio::time::timeout(opts.connect_timeout, read_frame(&mut rd))
        .await
        .map_err(|_| ClientError::ConnectionLoss(format!("{server}: handshake timed out")))?
        .map_err(lost)?;
    let resp = ConnectResponse::read(&mut Reader::new(&b)).map_err(|e| ClientError::Malformed(e.to_string()))?;
    let (call_tx, call_rx) = mpsc::unbounded_channel();
    let (own_tx, ev_rx) = mpsc::unbounded_channel();
    let ev_tx = opts.events.clone().unwrap_or(own_tx);
    if resp.time_out > 0 {
        let ping_every = Duration::from_millis((resp.time_out as u64 / 3).max(1));
        tokio::spawn(run(rd, wr, call_rx, ev_tx, ping_every, chroot, shared));
    }
    Ok((call_tx, ev_rx, resp))
}

async fn run(
    rd: Replies,
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    mut calls: mpsc::UnboundedReceiver<Call>,
    events: mpsc::UnboundedSender<WatchedEvent>,
    ping_every: Duration,
    chroot: Option<String>,
    shared: Shared,
) {
    let mut pending: Pending = VecDeque::new();
    let mut next_xid: i32 = 1;
    let mut out = BytesMut::new();
    let mut ping = tokio::time::interval(ping_every);
    ping.tick().await;
    // Frames are read by their own task: a read future must never be dropped half-way by the
    // select below (that would lose bytes of a frame).
    let (frame_tx, mut frames) = mpsc::channel::<std::io::Result<Bytes>>(1024);
    let reader = tokio::spawn(async move {
        let mut rd = rd;
        loop {
            let f = read_frame(&mut rd).await;
            let failed = f.is_err();
            if frame_tx.send(f).await.is_err() || failed {
                return;
            }
        }
    });
    let reason = loop {
        tokio::select! {
            c = calls.recv() => {
                let Some(c) = c else { break "client dropped".to_string() };
                let mut push = |c: Call, out: &mut BytesMut, pending: &mut Pending| {
                    let x = match c.xid_kind {
                        XidKind::Normal => { let x = next_xid; next_xid = next_xid.wrapping_add(1).max(1); x }
                        XidKind::Auth => xid::AUTH,
                        XidKind::SetWatches => xid::SET_WATCHES,
                    };
                    frame(out, x, c.op, &c.body);
                    pending.push_back((x, c.reply));
                };
                push(c, &mut out, &mut pending);
                while let Ok(c) = calls.try_recv() {
                    push(c, &mut out, &mut pending);
                }
                if let Err(e) = wr.write_all(&out).await { break e.to_string(); }
                out.clear();
            }
            _ = ping.tick() => {
                let mut p = BytesMut::new();
                frame(&mut p, xid::PING, crate::proto::codes::op::PING, &[]);
                if let Err(e) = wr.write_all(&p).await { break e.to_string(); }
            }
            f = frames.recv() => {
                let b = match f { Some(Ok(b)) => b, Some(Err(e)) => break e.to_string(), None => break "reader ended".to_string() };
                let mut r = Reader::new(&b);
                let Ok(h) = ReplyHeader::read(&mut r) else { break "malformed reply header".to_string() };
                if h.zxid > 0 {
                    shared.last_zxid.fetch_max(h.zxid, Ordering::Relaxed);
                }
                match h.xid {
                    xid::PING => {}
                    xid::NOTIFICATION => {
                        if let Ok(ev) = WatcherEvent::read(&mut r) {
                            let path = Some(strip_chroot(chroot.as_deref(), ev.path));
                            let _ = events.send(WatchedEvent { event_type: ev.type_, state: ev.state, path, zxid: h.zxid });
                        }
                    }
                    x => {
                        match pending.front() {
                            Some((want, _)) if *want == x => {
                                let (_, tx) = pending.pop_front().expect("front");
                                let refused = x == xid::AUTH && h.err == ErrorCode::AuthFailed as i32;
                                let _ = tx.send(Ok((h, Bytes::copy_from_slice(r.rest()))));
                                if refused {
                                    // Like the Java client: AuthFailed is the last word of this
                                    // connection (no Disconnected, no reconnect).
                                    shared.auth_failed.store(true, Ordering::Relaxed);
                                    let _ = events.send(WatchedEvent { event_type: event::NONE, state: state::AUTH_FAILED, path: None, zxid: -1 });
                                    break "authentication failed".to_string();
                                }
                            }
                            _ => break format!("reply xid {x} out of order"),
                        }
                    }
                }
            }
        }
    };
    reader.abort();
    for (_, tx) in pending {
        let _ = tx.send(Err(ClientError::ConnectionLoss(reason.clone())));
    }
    if !shared.auth_failed.load(Ordering::Relaxed) {
        let _ = events.send(WatchedEvent { event_type: event::NONE, state: state::DISCONNECTED, path: None, zxid: -1 });
    }
}

/// State a connection task shares with its `Client`.
pub(crate) struct Shared {
    pub last_zxid: Arc<AtomicI64>,
    pub auth_failed: Arc<AtomicBool>,
}

/// A server path as the client sees it under `chroot` (the chroot itself is "/"); paths
/// outside the chroot are left as they are.
pub(crate) fn strip_chroot(chroot: Option<&str>, p: String) -> String {
    match chroot {
        Some(c) => match p.strip_prefix(c) {
            Some("") => "/".to_owned(),
            Some(rest) if rest.starts_with('/') => rest.to_owned(),
            _ => p,
        },
        None => p,
    }
}
