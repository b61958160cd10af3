//! One client connection: reads length-prefixed frames (capped at jute.maxbuffer), decodes
//! the handshake and requests, hands them to the node loop, and writes what the node loop
//! sends back. A four-letter word sent instead of a handshake is answered and the connection
//! closed.
//!
//! Bounds (see `flow`): a request is handed on only when the connection's and the server's
//! budgets allow, so a client that sends faster than it reads is simply not read from; the
//! handshake must arrive within `nio.sessionlessCnxnTimeout`; replies are written from the
//! queued buffers as they are (vectored writes, nothing copied into one buffer), and a
//! connection whose unwritten replies stay past its budget for a session timeout is closed.
//! Must never: decide anything about a request. A frame that cannot be framed or whose header
//! cannot be read closes only this connection, with a log line; a body that cannot be decoded
//! is the core's to answer (MARSHALLINGERROR).

use super::flow::Flow;
use super::node::{CoreMsg, Outbound};
use super::Shared;
use crate::core::conn::ConnId;
use crate::proto::frame;
use crate::proto::jute::{Jute, Reader};
use crate::proto::records::{ConnectRequest, RequestHeader};
use crate::proto::request::Request;
use bytes::{Buf, Bytes, BytesMut};
use std::collections::VecDeque;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Serves one accepted socket until either side closes it.
pub async fn serve(conn: ConnId, stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let flow = Arc::new(Flow::new(shared.max_unsent, shared.max_buffer));
    let alive = shared.writers_alive.clone();
    let written = write_loop(conn, peer, wr, out_rx, flow.clone(), shared.handshake_timeout);
    let mut writer = tokio::spawn(async move {
        let _alive = alive;
        written.await
    });
    let opened = CoreMsg::Opened { conn, peer, out: out_tx.clone(), flow: flow.clone() };
    if shared.core_tx.send(opened).is_err() {
        writer.abort();
        return;
    }
    tokio::select! {
        reason = read_loop(conn, rd, &shared, &out_tx, &flow) => {
            if let Err(why) = reason {
                tracing::info!("closing connection 0x{conn:x} from {peer}: {why}");
            }
            let _ = shared.core_tx.send(CoreMsg::Closed { conn });
            drop(out_tx);
            // What is queued may still go out, but a client that reads nothing does not hold
            // the connection open.
            let grace = Duration::from_millis(flow.session_timeout_ms()).max(shared.handshake_timeout);
            if tokio::time::timeout(grace, &mut writer).await.is_err() {
                writer.abort();
            }
        }
        // The server closed it (session closed or expired, auth failed, 4lw answered), or the
        // client left its replies unread for too long.
        _ = &mut writer => {
            let _ = shared.core_tx.send(CoreMsg::Closed { conn });
        }
    }
    flow.release(&shared.outstanding);
}

/// A connection's read buffer starts this small (10,000 idle sessions should not cost 64 KiB
/// each) and grows while pipelined frames or a large frame need more.
const READ_BUF_START: usize = 4 << 10;
/// An empty buffer that grew past this is given back.
const BUF_KEEP: usize = 64 << 10;

async fn read_loop(
    conn: ConnId,
    mut rd: OwnedReadHalf,
    shared: &Shared,
    out: &mpsc::UnboundedSender<Outbound>,
    flow: &Flow,
) -> Result<(), String> {
    let max = shared.max_buffer;
    let handshake_by = Instant::now() + shared.handshake_timeout;
    let mut handshaken = false;
    let mut buf = BytesMut::with_capacity(READ_BUF_START);
    loop {
        // Every complete frame in the buffer, in order.
        while buf.len() >= 4 {
            let len_buf: [u8; 4] = buf[..4].try_into().expect("4 bytes");
            if !handshaken {
                if let Some(word) = crate::admin::word_name(&len_buf) {
                    // `stmk` carries the new trace mask: 8 more bytes, a big-endian long.
                    let arg = match word {
                        "stmk" if buf.len() < 12 => break,
                        "stmk" => Some(i64::from_be_bytes(buf[4..12].try_into().expect("8 bytes"))),
                        _ => None,
                    };
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    let _ = shared.core_tx.send(CoreMsg::FourLetter { word, arg, reply: tx });
                    if let Ok(text) = rx.await {
                        // Counted like any output, so the writer's count-down balances.
                        flow.queued(text.len(), 0, &shared.outstanding);
                        let _ = out.send(Outbound::Bytes(BytesMut::from(text.as_bytes())));
                    }
                    let _ = out.send(Outbound::Close);
                    return Ok(());
                }
            }
            let body = match frame::take_frame(&mut buf, max) {
                Ok(Some(body)) => body,
                Ok(None) => break,
                Err(frame::BadLength(len)) => return Err(format!("Len error {len}")),
            };
            let received_us = shared.now_us();
            if !handshaken {
                let (req, _) = ConnectRequest::decode(&body).map_err(|e| format!("bad handshake: {e}"))?;
                handshaken = true;
                shared.core_tx.send(CoreMsg::Connect { conn, req }).map_err(|_| "server stopping")?;
                continue;
            }
            let mut r = Reader::new(&body);
            let header = RequestHeader::read(&mut r).map_err(|e| format!("bad request header: {e}"))?;
            let rest = r.rest();
            let consumed = body.len() - rest.len();
            let req = Request::decode_from_client(header.type_, rest)
                .map_err(|e| format!("bad request (op {}): {e}", header.type_))?;
            // Writes and syncs keep their body as received: a learner forwards it unchanged.
            let body = if req.is_write() || matches!(req, Request::Sync(_) | Request::Malformed { .. }) {
                body.freeze().slice(consumed..)
            } else {
                Bytes::new()
            };
            // Not read further while this connection or the server is over budget.
            flow.admit(&shared.outstanding).await;
            shared
                .core_tx
                .send(CoreMsg::Request { conn, xid: header.xid, req, body, received_us })
                .map_err(|_| "server stopping")?;
        }
        if buf.is_empty() && buf.capacity() > BUF_KEEP {
            buf = BytesMut::with_capacity(READ_BUF_START);
        }
        if buf.capacity() - buf.len() < 512 {
            buf.reserve(READ_BUF_START);
        }
        let read = if handshaken {
            rd.read_buf(&mut buf).await
        } else {
            match tokio::time::timeout_at(handshake_by, rd.read_buf(&mut buf)).await {
                Ok(r) => r,
                Err(_) => {
                    shared.sessionless_expired.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return Err(format!("no handshake within {} ms", shared.handshake_timeout.as_millis()));
                }
            }
        };
        match read {
            // A close inside a length prefix is a plain close, inside a body a truncated frame.
            Ok(0) if buf.len() < 4 => return Ok(()),
            Ok(0) => return Err("truncated frame: the peer closed the connection mid-frame".into()),
            Ok(n) => {
                shared.bytes_received.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// How many queued buffers one vectored write takes at most.
const IOV_MAX: usize = 64;

enum WriterEvent {
    Wrote(std::io::Result<usize>),
    Queued(Option<Outbound>),
    Stuck,
}

/// Writes the node loop's buffers in order, as they are. Ends when the server closes the
/// connection (after writing what was queued before the close), when the socket fails, or
/// when the client has left more than its budget unread for a session timeout.
async fn write_loop(
    conn: ConnId,
    peer: SocketAddr,
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Outbound>,
    flow: Arc<Flow>,
    handshake_timeout: Duration,
) {
    let mut queued: VecDeque<BytesMut> = VecDeque::new();
    let mut closing = false;
    // Since when the unwritten bytes have been over the budget, or the close has waited.
    let mut waiting_since: Option<Instant> = None;
    loop {
        if queued.is_empty() {
            if closing {
                break;
            }
            match rx.recv().await {
                Some(Outbound::Bytes(b)) => queued.push_back(b),
                Some(Outbound::Close) | None => closing = true,
            }
        }
        while !closing {
            match rx.try_recv() {
                Ok(Outbound::Bytes(b)) => queued.push_back(b),
                Ok(Outbound::Close) => closing = true,
                Err(_) => break,
            }
        }
        if queued.is_empty() {
            continue;
        }
        let deadline = if closing || flow.over_unsent() {
            let limit = Duration::from_millis(flow.session_timeout_ms()).max(handshake_timeout);
            Some(*waiting_since.get_or_insert_with(Instant::now) + limit)
        } else {
            waiting_since = None;
            None
        };
        let event = {
            let mut iov = [IoSlice::new(&[]); IOV_MAX];
            let mut n = 0;
            for (slot, b) in iov.iter_mut().zip(queued.iter()) {
                *slot = IoSlice::new(b);
                n += 1;
            }
            tokio::select! {
                r = wr.write_vectored(&iov[..n]) => WriterEvent::Wrote(r),
                m = rx.recv(), if !closing => WriterEvent::Queued(m),
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    WriterEvent::Stuck
                }
            }
        };
        match event {
            WriterEvent::Wrote(Ok(0)) | WriterEvent::Wrote(Err(_)) => return,
            WriterEvent::Wrote(Ok(mut n)) => {
                flow.written(n);
                while n > 0 {
                    let front = queued.front_mut().expect("written bytes were queued");
                    if front.len() <= n {
                        n -= front.len();
                        queued.pop_front();
                    } else {
                        front.advance(n);
                        n = 0;
                    }
                }
            }
            WriterEvent::Queued(Some(Outbound::Bytes(b))) => queued.push_back(b),
            WriterEvent::Queued(Some(Outbound::Close) | None) => closing = true,
            WriterEvent::Stuck => {
                log_stuck(conn, peer, &queued, &flow, closing);
                return;
            }
        }
        if flow.over_hard_cap() {
            let unsent: usize = queued.iter().map(|b| b.len()).sum();
            tracing::warn!(
                "closing connection 0x{conn:x} from {peer}: its client left {unsent} reply bytes unread, \
                 past the hard cap of {} bytes",
                flow.hard_cap()
            );
            return;
        }
    }
    let _ = wr.shutdown().await;
}

fn log_stuck(conn: ConnId, peer: SocketAddr, queued: &VecDeque<BytesMut>, flow: &Flow, closing: bool) {
    let unsent: usize = queued.iter().map(|b| b.len()).sum();
    if closing {
        tracing::info!("closing connection 0x{conn:x} from {peer}: {unsent} reply bytes not read in time");
    } else {
        tracing::warn!(
            "closing connection 0x{conn:x} from {peer}: its client left {unsent} reply bytes unread, \
             over the {} byte budget for longer than its session timeout",
            flow.max_unsent()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::flow::Outstanding;
    use tokio::net::TcpListener;

    /// A connected pair: the server side's write half and the client's stream.
    async fn pair() -> (OwnedWriteHalf, TcpStream, SocketAddr) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, peer) = l.accept().await.unwrap();
        let (_rd, wr) = server.into_split();
        // The read half may go: a write half alone keeps the socket open.
        (wr, client, peer)
    }

    struct Writer {
        tx: mpsc::UnboundedSender<Outbound>,
        flow: Arc<Flow>,
        global: Outstanding,
        task: tokio::task::JoinHandle<()>,
    }

    impl Writer {
        fn queue(&self, b: &[u8]) {
            self.flow.queued(b.len(), 0, &self.global);
            self.tx.send(Outbound::Bytes(BytesMut::from(b))).unwrap();
        }
    }

    async fn writer(max_unsent: usize, max_reply: usize, stuck_after: Duration) -> (Writer, TcpStream) {
        let (wr, client, peer) = pair().await;
        let (tx, rx) = mpsc::unbounded_channel();
        let flow = Arc::new(Flow::new(max_unsent, max_reply));
        let task = tokio::spawn(write_loop(1, peer, wr, rx, flow.clone(), stuck_after));
        (Writer { tx, flow, global: Outstanding::new(10), task }, client)
    }

    #[tokio::test]
    async fn queued_buffers_arrive_in_order_then_the_close() {
        let (w, mut client) = writer(1 << 20, 1 << 20, Duration::from_secs(60)).await;
        let mut want = Vec::new();
        for i in 0..300u32 {
            let chunk: Vec<u8> = (0..(i % 97) * 13 + 1).map(|j| (i + j) as u8).collect();
            w.queue(&chunk);
            want.extend_from_slice(&chunk);
        }
        w.tx.send(Outbound::Close).unwrap();
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), client.read_to_end(&mut got)).await.unwrap().unwrap();
        assert_eq!(got, want);
        tokio::time::timeout(Duration::from_secs(20), w.task).await.unwrap().unwrap();
        assert_eq!(w.flow.unsent(), 0, "every byte written is counted off");
    }

    #[tokio::test]
    async fn a_client_over_its_budget_for_a_session_timeout_is_closed() {
        let (w, _client) = writer(1024, 1 << 20, Duration::from_millis(300)).await;
        let started = Instant::now();
        // Far more than the socket buffers take, never read.
        for _ in 0..64 {
            w.queue(&[7u8; 256 << 10]);
        }
        tokio::time::timeout(Duration::from_secs(20), w.task).await.expect("closed").unwrap();
        assert!(started.elapsed() >= Duration::from_millis(250), "closed after only {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_client_past_the_hard_cap_is_closed_at_once() {
        // A session timeout far beyond the test: only the hard cap can end it.
        let (w, _client) = writer(1024, 1024, Duration::from_secs(600)).await;
        assert_eq!(w.flow.hard_cap(), 8 * 1024 + 64 * 1024);
        for _ in 0..256 {
            w.queue(&[7u8; 64 << 10]);
        }
        tokio::time::timeout(Duration::from_secs(60), w.task).await.expect("closed at the hard cap").unwrap();
    }
}
