//! One client connection: reads length-prefixed frames (capped at jute.maxbuffer), decodes
//! the handshake and requests, hands them to the node loop, and writes what the node loop
//! sends back, coalescing queued frames into one write. A four-letter word sent instead of a
//! handshake is answered and the connection closed.
//! Must never: decide anything about a request; a frame it cannot decode closes only this
//! connection, with a log line.

use super::node::{CoreMsg, Outbound};
use super::Shared;
use crate::core::conn::ConnId;
use crate::proto::jute::{Jute, Reader};
use crate::proto::records::{ConnectRequest, RequestHeader};
use crate::proto::request::Request;
use bytes::Buf;
use bytes::BytesMut;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Serves one accepted socket until either side closes it.
pub async fn serve(conn: ConnId, stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let mut writer = tokio::spawn(write_loop(wr, out_rx));
    let core_tx = shared.core_tx.clone();
    if core_tx.send(CoreMsg::Opened { conn, peer, out: out_tx.clone() }).is_err() {
        return;
    }
    tokio::select! {
        reason = read_loop(conn, rd, &shared, &out_tx) => {
            if let Err(why) = reason {
                tracing::info!("closing connection 0x{conn:x} from {peer}: {why}");
            }
            let _ = core_tx.send(CoreMsg::Closed { conn });
            drop(out_tx);
            let _ = writer.await;
        }
        // The server closed it (session closed or expired, auth failed, 4lw answered).
        _ = &mut writer => {
            let _ = core_tx.send(CoreMsg::Closed { conn });
        }
    }
}

/// A connection's read buffer starts this small (10,000 idle sessions should not cost 64 KiB
/// each) and grows while pipelined frames or a large frame need more.
const READ_BUF_START: usize = 4 << 10;
/// An empty read buffer that grew past this is given back.
const READ_BUF_KEEP: usize = 64 << 10;

async fn read_loop(
    conn: ConnId,
    mut rd: tokio::net::tcp::OwnedReadHalf,
    shared: &Shared,
    out: &mpsc::UnboundedSender<Outbound>,
) -> Result<(), String> {
    let max = shared.max_buffer;
    let mut handshaken = false;
    let mut buf = BytesMut::with_capacity(READ_BUF_START);
    loop {
        // Every complete frame in the buffer, in order.
        while buf.len() >= 4 {
            let len_buf: [u8; 4] = buf[..4].try_into().expect("4 bytes");
            if !handshaken {
                if let Some(word) = crate::admin::word_name(&len_buf) {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    let _ = shared.core_tx.send(CoreMsg::FourLetter { word, reply: tx });
                    if let Ok(text) = rx.await {
                        let _ = out.send(Outbound::Bytes(BytesMut::from(text.as_bytes())));
                    }
                    let _ = out.send(Outbound::Close);
                    return Ok(());
                }
            }
            let len = i32::from_be_bytes(len_buf);
            if len < 0 || len as usize > max {
                return Err(format!("Len error {len}"));
            }
            let need = 4 + len as usize;
            if buf.len() < need {
                buf.reserve(need - buf.len());
                break;
            }
            buf.advance(4);
            let body = buf.split_to(len as usize);
            let received_us = shared.now_us();
            if !handshaken {
                let (req, _) = ConnectRequest::decode(&body).map_err(|e| format!("bad handshake: {e}"))?;
                handshaken = true;
                shared.core_tx.send(CoreMsg::Connect { conn, req }).map_err(|_| "server stopping")?;
                continue;
            }
            let mut r = Reader::new(&body);
            let header = RequestHeader::read(&mut r).map_err(|e| format!("bad request header: {e}"))?;
            let req = Request::decode(header.type_, r.rest())
                .map_err(|e| format!("bad request (op {}): {e}", header.type_))?;
            shared
                .core_tx
                .send(CoreMsg::Request { conn, xid: header.xid, req, received_us })
                .map_err(|_| "server stopping")?;
        }
        if buf.is_empty() && buf.capacity() > READ_BUF_KEEP {
            buf = BytesMut::with_capacity(READ_BUF_START);
        }
        if buf.capacity() - buf.len() < 512 {
            buf.reserve(READ_BUF_START);
        }
        match rd.read_buf(&mut buf).await {
            // A close inside a length prefix is a plain close, inside a body a truncated frame.
            Ok(0) if buf.len() < 4 => return Ok(()),
            Ok(0) => return Err("truncated frame: the peer closed the connection mid-frame".into()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

async fn write_loop(mut wr: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Outbound>) {
    let mut buf = BytesMut::new();
    while let Some(msg) = rx.recv().await {
        let mut close = false;
        match msg {
            Outbound::Bytes(b) => buf.extend_from_slice(&b),
            Outbound::Close => close = true,
        }
        while !close {
            match rx.try_recv() {
                Ok(Outbound::Bytes(b)) => buf.extend_from_slice(&b),
                Ok(Outbound::Close) => close = true,
                Err(_) => break,
            }
        }
        if !buf.is_empty() {
            if wr.write_all(&buf).await.is_err() {
                return;
            }
            buf.clear();
            if buf.capacity() > READ_BUF_KEEP {
                // A burst grew it; an idle connection keeps nothing.
                buf = BytesMut::new();
            }
        }
        if close {
            let _ = wr.shutdown().await;
            return;
        }
    }
}
