//! One quorum-port connection between a leader and a learner: a reader task that parses the
//! `QuorumPacket` stream (and, on a learner, the snapshot that follows a SNAP) and hands each
//! packet to the node loop, and a writer task that writes queued packets (coalescing what is
//! queued into one write) and streams a snapshot image without ever holding it encoded whole.
//! A read that waits longer than the current timeout, a broken stream or a close ends the
//! link, and the node loop hears `Closed` once.
//!
//! Snapshot stream after a SNAP packet. Between two of our members (each knows the other by
//! the protocol version in LEARNERINFO / LEADERINFO, `ZABKEEPER_PROTOCOL_VERSION`): chunks of
//! `int length` + bytes of our snapshot encoding, ended by a zero length; a learner decodes
//! it, and writes it to its snapshot file, while it arrives (a blocking thread fed chunk by
//! chunk). With an Apache ZooKeeper peer: ZooKeeper's serialized DataTree (`zkfmt::snapshot`
//! body: sessions, ACL cache, znodes parents first, "/") and the string "BenWasHere", as
//! ZooKeeper's LearnerHandler writes it and its Learner reads it.
//! Must never: interpret a packet (the zab machines do), or block the node loop.

use super::QuorumMsg;
use crate::proto::frame;
use crate::server::node::CoreMsg;
use crate::storage::snapfile::FileSnapshotStore;
use crate::storage::snapshot::SnapshotStore;
use crate::tree::DataTree;
use crate::tree::TreeImage;
use crate::zab::wire::{packet, LearnerInfo, QuorumPacket, ZABKEEPER_PROTOCOL_VERSION};
use bytes::{Buf, Bytes, BytesMut};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Identifies one connection for its whole life (a reconnect is a new link).
pub type LinkId = u64;

/// Largest snapshot chunk accepted.
const MAX_SNAPSHOT_CHUNK: usize = 16 << 20;
/// What ZooKeeper's leader writes after a SNAP's snapshot, and its learner checks.
const SNAP_SIGNATURE: &str = "BenWasHere";

/// What the writer sends, in order.
pub enum Out {
    Packet(QuorumPacket),
    /// The tree image as the snapshot stream after a SNAP packet.
    Snapshot(Box<TreeImage>),
    Close,
}

/// What the reader hands the node loop.
#[derive(Debug)]
pub enum LinkEvent {
    /// A packet; after a SNAP on a learner link, the snapshot that followed it: decoded, and
    /// durable as a snapshot file of the SNAP's zxid (with its size), or why not.
    Packet {
        link: LinkId,
        packet: QuorumPacket,
        snapshot: Option<Result<(Box<DataTree>, usize), String>>,
    },
    Closed {
        link: LinkId,
        why: String,
    },
}

/// The node loop's handle on a link.
#[derive(Debug, Clone)]
pub struct LinkHandle {
    pub id: LinkId,
    tx: mpsc::UnboundedSender<Out>,
    /// The reader's timeout in ms (initLimit ticks while syncing, syncLimit after).
    read_timeout_ms: Arc<AtomicU64>,
}

impl LinkHandle {
    pub fn send(&self, p: QuorumPacket) {
        let _ = self.tx.send(Out::Packet(p));
    }
    pub fn send_snapshot(&self, image: Box<TreeImage>) {
        let _ = self.tx.send(Out::Snapshot(image));
    }
    /// Closes the link after what is queued.
    pub fn close(&self) {
        let _ = self.tx.send(Out::Close);
    }
    pub fn set_read_timeout(&self, t: Duration) {
        self.read_timeout_ms.store(t.as_millis() as u64, Ordering::Relaxed);
    }
}

/// Starts the tasks of a connected link. `learner_side` (the data directory its snapshots go
/// to) makes the reader take the snapshot stream after a SNAP packet.
pub fn spawn(
    stream: TcpStream,
    id: LinkId,
    events: mpsc::UnboundedSender<CoreMsg>,
    read_timeout: Duration,
    learner_side: Option<PathBuf>,
    max_packet: usize,
) -> LinkHandle {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::unbounded_channel();
    let read_timeout_ms = Arc::new(AtomicU64::new(read_timeout.as_millis() as u64));
    let timeout = read_timeout_ms.clone();
    let ev = events.clone();
    // Whether the peer is one of ours (learned from its LEARNERINFO or LEADERINFO, which
    // always come before a SNAP): it picks the snapshot format both ways.
    let peer_is_ours = Arc::new(AtomicBool::new(false));
    let ours_for_writer = peer_is_ours.clone();
    tokio::spawn(async move {
        let why = match read_loop(rd, id, &ev, &timeout, learner_side.as_ref(), max_packet, &peer_is_ours).await {
            Ok(()) => "closed by the peer".to_string(),
            Err(e) => e,
        };
        let _ = ev.send(CoreMsg::Quorum(QuorumMsg::Link(LinkEvent::Closed { link: id, why })));
    });
    tokio::spawn(async move {
        if let Err(e) = write_loop(wr, rx, &ours_for_writer).await {
            tracing::debug!("quorum link {id}: write failed: {e}");
        }
    });
    LinkHandle { id, tx, read_timeout_ms }
}

async fn read_some(
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    buf: &mut BytesMut,
    timeout: &AtomicU64,
) -> Result<(), String> {
    let t = Duration::from_millis(timeout.load(Ordering::Relaxed).max(1));
    match tokio::time::timeout(t, rd.read_buf(buf)).await {
        Err(_) => Err(format!("nothing received for {t:?}")),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(0)) => Err("closed by the peer".into()),
        Ok(Ok(_)) => Ok(()),
    }
}

async fn read_loop(
    mut rd: tokio::net::tcp::OwnedReadHalf,
    id: LinkId,
    events: &mpsc::UnboundedSender<CoreMsg>,
    timeout: &AtomicU64,
    learner_side: Option<&PathBuf>,
    max_packet: usize,
    peer_is_ours: &AtomicBool,
) -> Result<(), String> {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        while let Some((packet, n)) = QuorumPacket::decode(&buf, max_packet).map_err(|e| format!("bad packet: {e}"))? {
            buf.advance(n);
            let version = match packet.type_ {
                packet::LEADERINFO => packet
                    .data
                    .as_deref()
                    .and_then(|d| d.get(..4))
                    .map(|d| i32::from_be_bytes(d.try_into().expect("4 bytes"))),
                packet::FOLLOWERINFO | packet::OBSERVERINFO => packet
                    .data
                    .as_deref()
                    .and_then(|d| crate::proto::jute::from_bytes::<LearnerInfo>(d).ok())
                    .map(|li| li.protocol_version),
                _ => None,
            };
            if let Some(v) = version {
                peer_is_ours.store(v == ZABKEEPER_PROTOCOL_VERSION, Ordering::Relaxed);
            }
            let snapshot = match learner_side {
                Some(dir) if packet.type_ == packet::SNAP && peer_is_ours.load(Ordering::Relaxed) => {
                    Some(read_snapshot(&mut rd, &mut buf, timeout, dir.clone(), packet.zxid).await?)
                }
                Some(dir) if packet.type_ == packet::SNAP => {
                    Some(read_zk_snapshot(&mut rd, &mut buf, timeout, dir.clone(), packet.zxid).await?)
                }
                _ => None,
            };
            events
                .send(CoreMsg::Quorum(QuorumMsg::Link(LinkEvent::Packet { link: id, packet, snapshot })))
                .map_err(|_| "server stopping".to_string())?;
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(64 * 1024);
        }
        read_some(&mut rd, &mut buf, timeout).await?;
    }
}

/// Reads the snapshot stream, handing each chunk to a blocking thread that decodes it and
/// writes it to snapshot file `zxid` as it comes; returns that thread's outcome.
async fn read_snapshot(
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    buf: &mut BytesMut,
    timeout: &AtomicU64,
    dir: PathBuf,
    zxid: i64,
) -> Result<Result<(Box<DataTree>, usize), String>, String> {
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let decoder = tokio::task::spawn_blocking(move || decode_stream(rx, &dir, zxid));
    loop {
        let chunk = loop {
            match frame::take_frame(buf, MAX_SNAPSHOT_CHUNK) {
                Ok(Some(chunk)) => break chunk.freeze(),
                Ok(None) => read_some(rd, buf, timeout).await?,
                Err(e) => return Err(format!("snapshot stream: {e}")),
            }
        };
        // An empty chunk ends the stream.
        if chunk.is_empty() {
            break;
        }
        if tx.send(chunk).await.is_err() {
            // The decoder gave up (a damaged image): its error is the answer.
            break;
        }
    }
    drop(tx);
    Ok(decoder.await.map_err(|e| e.to_string()).and_then(|r| r))
}

/// The learner's side of a snapshot stream: chunks in, decoded tree and durable file out (a
/// second thread writes the file while this one decodes).
fn decode_stream(
    rx: mpsc::Receiver<Bytes>,
    dir: &std::path::Path,
    zxid: i64,
) -> Result<(Box<DataTree>, usize), String> {
    let mut store =
        FileSnapshotStore::open(dir).map_err(|e| format!("cannot open snapshots in {}: {e}", dir.display()))?;
    std::thread::scope(|scope| {
        let (file_tx, file_rx) = std::sync::mpsc::sync_channel::<Bytes>(16);
        let store = &mut store;
        let t0 = std::time::Instant::now();
        let writing = scope.spawn(move || -> Result<(), String> {
            let mut sink = store.begin(zxid).map_err(|e| e.to_string())?;
            for chunk in file_rx {
                sink.write(&chunk).map_err(|e| e.to_string())?;
            }
            sink.finish().map_err(|e| e.to_string())
        });
        let mut reader = ChunkReader { rx, cur: Bytes::new(), file: Some(file_tx), total: 0 };
        // The stream carries no total length; it only bounds what the decoder reserves.
        const LEN_HINT: u64 = 64 * 4_000_000;
        let tree = crate::tree::snapshot::decode_from(&mut reader, LEN_HINT);
        let decoded = t0.elapsed();
        let total = reader.total;
        // The end of the stream: the file is complete once the writer has everything.
        drop(reader);
        let written = writing.join().map_err(|_| "the snapshot writer panicked".to_string())?;
        let tree = tree.map_err(|e| format!("the leader's snapshot: {e}"))?;
        written.map_err(|e| format!("writing the leader's snapshot: {e}"))?;
        tracing::info!(
            "the leader's snapshot 0x{zxid:x}: {total} bytes received and decoded in {decoded:?}, durable in {:?}",
            t0.elapsed()
        );
        Ok((Box::new(tree), total))
    })
}

/// Reads a ZooKeeper leader's snapshot (its serialized DataTree, then "BenWasHere") as it
/// arrives, building the tree record by record; then makes it durable as our snapshot file
/// `zxid` (on a blocking thread). What follows the signature stays in `buf`.
async fn read_zk_snapshot(
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    buf: &mut BytesMut,
    timeout: &AtomicU64,
    dir: PathBuf,
    zxid: i64,
) -> Result<Result<(Box<DataTree>, usize), String>, String> {
    let t0 = std::time::Instant::now();
    let mut body = crate::zkfmt::snapshot::BodyReader::default();
    let mut total = 0;
    while !body.is_done() {
        match body.feed(buf) {
            Ok(n) => {
                buf.advance(n);
                total += n;
            }
            Err(e) => return Ok(Err(format!("the leader's snapshot, {} bytes in: {e}", body.taken()))),
        }
        if !body.is_done() {
            if buf.capacity() - buf.len() < 64 * 1024 {
                buf.reserve(256 * 1024);
            }
            read_some(rd, buf, timeout).await?;
        }
    }
    let signature = loop {
        let mut r = crate::proto::jute::Reader::new(buf);
        match crate::zkfmt::read_string(&mut r) {
            Ok(s) => {
                let n = r.position();
                buf.advance(n);
                break s;
            }
            Err(crate::proto::jute::DecodeError::Truncated { .. }) => read_some(rd, buf, timeout).await?,
            Err(e) => return Ok(Err(format!("the leader's snapshot signature: {e}"))),
        }
    };
    if signature != SNAP_SIGNATURE {
        return Ok(Err(format!("missing snapshot signature: got {signature:?}")));
    }
    let tree = match body.finish(zxid) {
        Ok(t) => t,
        Err(e) => return Ok(Err(format!("the leader's snapshot: {e}"))),
    };
    let decoded = t0.elapsed();
    let written = tokio::task::spawn_blocking(move || -> Result<DataTree, String> {
        let mut store =
            FileSnapshotStore::open(&dir).map_err(|e| format!("cannot open snapshots in {}: {e}", dir.display()))?;
        let mut sink = store.begin(zxid).map_err(|e| e.to_string())?;
        crate::tree::snapshot::encode_image(&tree.image(), |piece| sink.write(&piece)).map_err(|e| e.to_string())?;
        sink.finish().map_err(|e| e.to_string())?;
        Ok(tree)
    })
    .await
    .map_err(|e| e.to_string())?;
    Ok(written.map(|tree| {
        tracing::info!(
            "the ZooKeeper leader's snapshot 0x{zxid:x}: {total} bytes received and decoded in {decoded:?}, \
             durable in {:?}",
            t0.elapsed()
        );
        (Box::new(tree), total)
    }))
}

/// Reads chunks as they arrive, passing each on to the snapshot file's writer.
struct ChunkReader {
    rx: mpsc::Receiver<Bytes>,
    cur: Bytes,
    file: Option<std::sync::mpsc::SyncSender<Bytes>>,
    total: usize,
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => {
                    if let Some(f) = &self.file {
                        if f.send(chunk.clone()).is_err() {
                            return Err(std::io::Error::other("the snapshot file could not be written"));
                        }
                    }
                    self.total += chunk.len();
                    self.cur = chunk;
                }
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len());
        out[..n].copy_from_slice(&self.cur[..n]);
        self.cur.advance(n);
        Ok(n)
    }
}

async fn write_loop(
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Out>,
    peer_is_ours: &AtomicBool,
) -> std::io::Result<()> {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(out) = next.take() {
            match out {
                Out::Packet(p) => p.write(&mut buf),
                Out::Snapshot(image) => {
                    wr.write_all(&buf).await?;
                    buf.clear();
                    if peer_is_ours.load(Ordering::Relaxed) {
                        write_snapshot(&mut wr, image).await?;
                    } else {
                        write_zk_snapshot(&mut wr, image).await?;
                    }
                }
                Out::Close => {
                    wr.write_all(&buf).await?;
                    let _ = wr.shutdown().await;
                    return Ok(());
                }
            }
            if buf.len() < 1 << 20 {
                next = rx.try_recv().ok();
            }
        }
        wr.write_all(&buf).await?;
        buf.clear();
    }
    Ok(())
}

/// ZooKeeper's SNAP payload for a ZooKeeper learner: the image as ZooKeeper's serialized
/// DataTree, encoded on a blocking thread a piece at a time, then "BenWasHere".
async fn write_zk_snapshot(wr: &mut tokio::net::tcp::OwnedWriteHalf, image: Box<TreeImage>) -> std::io::Result<()> {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(4);
    let encoder = tokio::task::spawn_blocking(move || {
        crate::zkfmt::snapshot::write_image_body(&image, |piece| {
            tx.blocking_send(piece).map_err(|_| std::io::Error::other("link closed"))
        })
    });
    while let Some(piece) = rx.recv().await {
        wr.write_all(&piece).await?;
    }
    encoder.await.map_err(std::io::Error::other)??;
    let mut sig = Vec::new();
    crate::zkfmt::write_string(&mut sig, SNAP_SIGNATURE);
    wr.write_all(&sig).await
}

/// Encodes the image on a blocking thread a piece at a time; each piece is written as a
/// chunk while the next is encoded (at most a few pieces are in memory).
async fn write_snapshot(wr: &mut tokio::net::tcp::OwnedWriteHalf, image: Box<TreeImage>) -> std::io::Result<()> {
    let (tx, mut rx) = mpsc::channel::<Bytes>(4);
    let encoder = tokio::task::spawn_blocking(move || {
        crate::tree::snapshot::encode_image(&image, |piece| {
            tx.blocking_send(piece).map_err(|_| std::io::Error::other("link closed"))
        })
    });
    while let Some(piece) = rx.recv().await {
        // The frame's header, then the piece as it is (no copy into a frame buffer).
        wr.write_all(&frame::header(piece.len())).await?;
        wr.write_all(&piece).await?;
    }
    encoder.await.map_err(std::io::Error::other)??;
    // An empty chunk ends the stream.
    wr.write_all(&frame::header(0)).await
}
