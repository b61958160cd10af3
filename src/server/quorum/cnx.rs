//! The election port's connections, as ZooKeeper's `QuorumCnxManager` keeps them: one TCP
//! connection per pair of members, always the one the larger sid opened (a smaller sid that
//! connects is hung up on and called back); a V1 initial message from the connecting side;
//! length-prefixed messages (at most 512 KiB); per peer a send slot of one message where a
//! newer message replaces an unsent older one, and the last message sent goes out again on a
//! new connection. Messages to ourselves skip the network.
//! Must never: interpret a message (the election does), or block a sender on a slow peer.

use crate::proto::frame;
use crate::zab::wire::{InitialMessage, MAX_ELECTION_MESSAGE};
use bytes::{Buf, Bytes, BytesMut};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};

/// How long the initial message may take, and a connection attempt.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Received messages waiting for the election; the oldest give way (ZooKeeper keeps 100).
const INBOUND: usize = 100;

/// A message from a member.
pub type Inbound = (i64, Bytes);

/// One peer's outgoing side.
#[derive(Default)]
struct Slot {
    pending: Option<Bytes>,
    last_sent: Option<Bytes>,
    /// Bumped on every new connection to this peer: an older writer or reader stops.
    generation: u64,
    connected: bool,
    connecting: bool,
}

struct Peer {
    addr: SocketAddr,
    slot: Mutex<Slot>,
    wake: Notify,
}

impl Peer {
    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The election port of one member.
pub struct CnxManager {
    my_id: i64,
    my_addr: String,
    peers: BTreeMap<i64, Arc<Peer>>,
    inbound: mpsc::Sender<Inbound>,
}

impl CnxManager {
    /// Listens on `listener` and returns the manager and the stream of received messages.
    /// `peers` are the members' election addresses (our own is skipped); `advertised` is the
    /// address we tell peers to call us back at.
    pub fn start(
        my_id: i64,
        listener: TcpListener,
        advertised: SocketAddr,
        peers: BTreeMap<i64, SocketAddr>,
    ) -> (Arc<CnxManager>, mpsc::Receiver<Inbound>) {
        let (tx, rx) = mpsc::channel(INBOUND);
        let peers = peers
            .into_iter()
            .filter(|(id, _)| *id != my_id)
            .map(|(id, addr)| (id, Arc::new(Peer { addr, slot: Mutex::new(Slot::default()), wake: Notify::new() })))
            .collect();
        let m = Arc::new(CnxManager { my_id, my_addr: advertised.to_string(), peers, inbound: tx });
        tokio::spawn(accept_loop(m.clone(), listener));
        (m, rx)
    }

    /// Queues a message (a notification's body) for member `to`; a newer one replaces it if
    /// it has not gone out yet.
    pub fn send(self: &Arc<Self>, to: i64, msg: Bytes) {
        if to == self.my_id {
            let _ = self.inbound.try_send((to, msg));
            return;
        }
        let Some(peer) = self.peers.get(&to) else { return };
        let connect = {
            let mut s = peer.slot();
            s.pending = Some(msg);
            let connect = !s.connected && !s.connecting;
            s.connecting |= connect;
            connect
        };
        peer.wake.notify_waiters();
        if connect {
            tokio::spawn(connect_to(self.clone(), to));
        }
    }

    /// A connection to `sid` is up: it replaces any older one.
    /// `early` holds bytes already read past the peer's initial message (its first messages
    /// may arrive in the same read).
    fn install(self: &Arc<Self>, sid: i64, stream: TcpStream, early: BytesMut) {
        let Some(peer) = self.peers.get(&sid).cloned() else {
            tracing::warn!("election connection from unknown member {sid}; closing it");
            return;
        };
        tracing::debug!("election connection with member {sid} up");
        let _ = stream.set_nodelay(true);
        let (rd, wr) = stream.into_split();
        let generation = {
            let mut s = peer.slot();
            s.generation += 1;
            s.connected = true;
            s.connecting = false;
            if s.pending.is_none() {
                s.pending = s.last_sent.clone();
            }
            s.generation
        };
        tracing::debug!("election connection with member {sid}: generation {generation}");
        peer.wake.notify_waiters();
        tokio::spawn(write_loop(self.clone(), sid, peer, generation, wr));
        tokio::spawn(read_loop(self.clone(), sid, generation, rd, early));
    }

    /// The connection of `generation` to `sid` ended: a pending message reconnects.
    fn lost(self: &Arc<Self>, sid: i64, generation: u64) {
        let Some(peer) = self.peers.get(&sid) else { return };
        let reconnect = {
            let mut s = peer.slot();
            if s.generation != generation || !s.connected {
                return;
            }
            s.connected = false;
            let again = s.pending.is_some() && !s.connecting;
            s.connecting |= again;
            again
        };
        peer.wake.notify_waiters();
        if reconnect {
            tokio::spawn(connect_to(self.clone(), sid));
        }
    }

    /// A smaller sid connected to us: drop what we had with it and call it back, as only our
    /// connection may stand.
    async fn call_back(self: &Arc<Self>, sid: i64) {
        let Some(peer) = self.peers.get(&sid) else { return };
        let go = {
            let mut s = peer.slot();
            s.generation += 1;
            s.connected = false;
            let go = !s.connecting;
            s.connecting = true;
            go
        };
        peer.wake.notify_waiters();
        tracing::debug!("member {sid} connected to us: calling it back (go={go})");
        if go {
            connect_to(self.clone(), sid).await;
        }
    }
}

async fn accept_loop(m: Arc<CnxManager>, listener: TcpListener) {
    loop {
        let Ok((stream, from)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let m = m.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, read_initial(stream)).await {
                Ok(Ok((sid, stream, _))) if sid < m.my_id => {
                    drop(stream);
                    m.call_back(sid).await;
                }
                Ok(Ok((sid, stream, early))) if sid > m.my_id => m.install(sid, stream, early),
                Ok(Ok((sid, _, _))) => tracing::warn!("election connection from {from} claims our own id {sid}"),
                Ok(Err(e)) => tracing::info!("election connection from {from} refused: {e}"),
                Err(_) => tracing::info!("election connection from {from} sent no initial message"),
            }
        });
    }
}

/// The peer's initial message; returns its sid and whatever followed it in the same reads.
async fn read_initial(mut stream: TcpStream) -> Result<(i64, TcpStream, BytesMut), String> {
    let mut buf = BytesMut::with_capacity(64);
    loop {
        if let Some((m, n)) = InitialMessage::decode(&buf).map_err(|e| e.to_string())? {
            buf.advance(n);
            return Ok((m.sid, stream, buf));
        }
        if stream.read_buf(&mut buf).await.map_err(|e| e.to_string())? == 0 {
            return Err("closed during the initial message".into());
        }
    }
}

/// Opens a connection to `sid` and sends our initial message. We keep it only if we are the
/// larger sid; otherwise the peer hangs up and calls us back.
async fn connect_to(m: Arc<CnxManager>, sid: i64) {
    let Some(peer) = m.peers.get(&sid).cloned() else { return };
    let attempt = async {
        let mut s = TcpStream::connect(peer.addr).await?;
        s.write_all(&InitialMessage::encode(m.my_id, &m.my_addr)).await?;
        Ok::<TcpStream, std::io::Error>(s)
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, attempt).await {
        Ok(Ok(stream)) if sid < m.my_id => m.install(sid, stream, BytesMut::new()),
        r => {
            tracing::debug!("connect to member {sid}: {:?}", r.map(|x| x.map(|_| ())));
            peer.slot().connecting = false
        }
    }
}

async fn write_loop(
    m: Arc<CnxManager>,
    sid: i64,
    peer: Arc<Peer>,
    generation: u64,
    mut wr: tokio::net::tcp::OwnedWriteHalf,
) {
    loop {
        let wake = peer.wake.notified();
        tokio::pin!(wake);
        // Registered before looking, so a message queued meanwhile is not missed.
        wake.as_mut().enable();
        let next = {
            let mut s = peer.slot();
            if s.generation != generation {
                return;
            }
            s.pending.take()
        };
        let Some(msg) = next else {
            wake.await;
            continue;
        };
        let mut out = BytesMut::with_capacity(4 + msg.len());
        frame::write_frame(&mut out, |w| w.extend_from_slice(&msg));
        if wr.write_all(&out).await.is_err() {
            // Not sent: it goes out again on the next connection.
            peer.slot().last_sent = Some(msg);
            m.lost(sid, generation);
            return;
        }
        tracing::trace!("sent a message to member {sid} (generation {generation})");
        peer.slot().last_sent = Some(msg);
    }
}

async fn read_loop(
    m: Arc<CnxManager>,
    sid: i64,
    generation: u64,
    mut rd: tokio::net::tcp::OwnedReadHalf,
    mut buf: BytesMut,
) {
    buf.reserve(1024);
    loop {
        loop {
            let msg = match frame::take_frame(&mut buf, MAX_ELECTION_MESSAGE) {
                Ok(Some(msg)) if !msg.is_empty() => msg.freeze(),
                Ok(None) => break,
                bad => {
                    let len = bad.err().map_or(0, |frame::BadLength(len)| len);
                    tracing::info!("election message of length {len} from member {sid}; closing");
                    m.lost(sid, generation);
                    return;
                }
            };
            // A full queue drops the message: the election resends.
            tracing::trace!("election message from member {sid}");
            let _ = m.inbound.try_send((sid, msg));
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => {
                m.lost(sid, generation);
                return;
            }
            Ok(_) => {}
        }
    }
}
