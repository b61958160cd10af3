//! The load generator's lean path: one task per session speaking the protocol on its socket,
//! keeping `pipeline` requests in flight, encoding requests straight into one write buffer and
//! matching replies in order against their send times. No channel, no task and no allocation
//! per op, so the generator's CPU per op stays small next to the server's. Used for the
//! closed-loop read, write, mixed, create and create-seq workloads; the others (and any run
//! with an offered rate) go through `crate::client`.
//! Must never: count a reply with an error code as done, or send past `Recorder::stop`.

use super::{local_histogram, BenchConfig, Recorder, Workload};
use crate::proto::codes::{op, perms, xid};
use crate::proto::frame::{self, write_frame};
use crate::proto::jute::{Jute, Reader};
use crate::proto::records::{Acl, ConnectRequest, ConnectResponse, ReplyHeader};
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// Longest wait for any one reply before the session gives up.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// Workloads the lean path runs.
pub fn handles(w: Workload) -> bool {
    matches!(w, Workload::Read | Workload::Write | Workload::Mixed(_) | Workload::Create | Workload::CreateSeq)
}

/// Reads one length-prefixed frame (`buf` keeps what was read past it).
pub(super) async fn read_frame(s: &mut TcpStream, buf: &mut BytesMut) -> Result<Bytes, String> {
    match tokio::time::timeout(REPLY_TIMEOUT, frame::read_frame(s, buf, MAX_REPLY)).await {
        Err(_) => Err("no reply within 60 s".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(None)) => Err("the server closed the connection".into()),
        Ok(Ok(Some(f))) => Ok(f.freeze()),
    }
}

/// The next reply already read, if a whole one is there.
fn take_frame(buf: &mut BytesMut) -> Result<Option<Bytes>, String> {
    Ok(frame::take_frame(buf, MAX_REPLY).map_err(|e| e.to_string())?.map(BytesMut::freeze))
}

/// The largest reply the bench takes.
const MAX_REPLY: usize = 16 << 20;

/// Connects and performs the handshake for a new session with `timeout_ms`.
pub(super) async fn connect(server: &str, timeout_ms: i32) -> Result<(TcpStream, BytesMut), String> {
    let mut s = TcpStream::connect(server).await.map_err(|e| format!("connect to {server}: {e}"))?;
    let _ = s.set_nodelay(true);
    let mut out = BytesMut::with_capacity(64);
    let hello = ConnectRequest::new_session(timeout_ms);
    write_frame(&mut out, |w| hello.write(w));
    s.write_all(&out).await.map_err(|e| e.to_string())?;
    let mut buf = BytesMut::with_capacity(16 << 10);
    let resp = read_frame(&mut s, &mut buf).await?;
    let resp = ConnectResponse::read(&mut Reader::new(&resp)).map_err(|e| format!("handshake reply: {e}"))?;
    if resp.time_out <= 0 {
        return Err("the server refused the session".into());
    }
    Ok((s, buf))
}

/// A tiny xorshift generator: keys picked without locks or allocation.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// What every request of a session needs, encoded once.
struct Encoder {
    keys: Arc<Vec<String>>,
    /// Payload as a jute buffer (length + bytes).
    payload: Vec<u8>,
    /// The open ACL vector and the flags word of a create, as jute.
    create_tail_persistent: Vec<u8>,
    create_tail_sequential: Vec<u8>,
    /// Prefix of created paths ("<root>/c/<session>-"), and the parent of sequential ones.
    create_prefix: String,
    seq_prefix: String,
    next_xid: i32,
    counter: u64,
}

fn put_str(w: &mut BytesMut, s: &[u8]) {
    w.put_i32(s.len() as i32);
    w.put_slice(s);
}

impl Encoder {
    fn new(cfg: &BenchConfig, keys: Arc<Vec<String>>, session: usize) -> Encoder {
        let mut payload = Vec::with_capacity(cfg.payload + 4);
        payload.extend_from_slice(&(cfg.payload as i32).to_be_bytes());
        payload.resize(cfg.payload + 4, b'y');
        let tail = |flags: i32| {
            let mut w = BytesMut::new();
            vec![Acl::new(perms::ALL, "world", "anyone")].write(&mut w);
            w.put_i32(flags);
            w.to_vec()
        };
        Encoder {
            keys,
            payload,
            create_tail_persistent: tail(0),
            create_tail_sequential: tail(2),
            create_prefix: format!("{}/c/{session}-", cfg.root),
            seq_prefix: format!("{}/seq/n-", cfg.root),
            next_xid: 1,
            counter: 0,
        }
    }

    /// Appends one request of `workload` to `out`.
    fn push(&mut self, out: &mut BytesMut, workload: Workload, rng: &mut Rng) {
        let x = self.next_xid;
        self.next_xid = self.next_xid.wrapping_add(1).max(1);
        let read = match workload {
            Workload::Read => true,
            Workload::Mixed(pct) => rng.below(100) < pct as usize,
            _ => false,
        };
        let start = out.len();
        out.put_i32(0);
        out.put_i32(x);
        match workload {
            Workload::Create | Workload::CreateSeq => {
                out.put_i32(op::CREATE);
                if workload == Workload::Create {
                    self.counter += 1;
                    let digits = itoa_buf(self.counter);
                    out.put_i32((self.create_prefix.len() + digits.len()) as i32);
                    out.put_slice(self.create_prefix.as_bytes());
                    out.put_slice(digits.as_slice());
                    out.put_slice(&self.payload);
                    out.put_slice(&self.create_tail_persistent);
                } else {
                    put_str(out, self.seq_prefix.as_bytes());
                    out.put_slice(&self.payload);
                    out.put_slice(&self.create_tail_sequential);
                }
            }
            _ => {
                let key = &self.keys[rng.below(self.keys.len())];
                if read {
                    out.put_i32(op::GET_DATA);
                    put_str(out, key.as_bytes());
                    out.put_u8(0);
                } else {
                    out.put_i32(op::SET_DATA);
                    put_str(out, key.as_bytes());
                    out.put_slice(&self.payload);
                    out.put_i32(-1);
                }
            }
        }
        let len = (out.len() - start - 4) as i32;
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }
}

/// Decimal digits of `n` without allocating.
fn itoa_buf(mut n: u64) -> Digits {
    let mut d = Digits { buf: [0; 20], start: 20 };
    loop {
        d.start -= 1;
        d.buf[d.start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return d;
        }
    }
}

struct Digits {
    buf: [u8; 20],
    start: usize,
}

impl Digits {
    fn len(&self) -> usize {
        20 - self.start
    }
    fn as_slice(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

/// Spawns one task per session; they run until `rec.stop` and then drain their in-flight
/// requests.
pub async fn start(cfg: &BenchConfig, rec: Arc<Recorder>) -> Result<Vec<JoinHandle<()>>, String> {
    let keys: Arc<Vec<String>> = Arc::new((0..cfg.keys.max(1)).map(|k| format!("{}/k/{k}", cfg.root)).collect());
    let mut handles = Vec::with_capacity(cfg.sessions);
    // A comma-separated list of servers (an ensemble's members): sessions go round-robin.
    let servers: Vec<&str> = cfg.server.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    for s in 0..cfg.sessions {
        let (sock, buf) = connect(servers[s % servers.len().max(1)], 30_000).await?;
        let enc = Encoder::new(cfg, keys.clone(), s);
        let (rec, workload, depth) = (rec.clone(), cfg.workload, cfg.pipeline.max(1));
        handles.push(tokio::spawn(async move {
            let rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((s as u64) << 20 | 1));
            if let Err(e) = session(sock, buf, enc, rng, workload, depth, &rec).await {
                tracing::warn!("zkbench session {s}: {e}");
                rec.errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    Ok(handles)
}

async fn session(
    mut sock: TcpStream,
    mut buf: BytesMut,
    mut enc: Encoder,
    mut rng: Rng,
    workload: Workload,
    depth: usize,
    rec: &Recorder,
) -> Result<(), String> {
    let mut hist = local_histogram();
    let mut sent: VecDeque<Instant> = VecDeque::with_capacity(depth);
    let mut out = BytesMut::with_capacity(depth * 256);
    let result = async {
        loop {
            // Top the pipeline up (unless stopping), then send what was encoded in one write.
            if !rec.stopped() {
                let now = Instant::now();
                while sent.len() < depth {
                    enc.push(&mut out, workload, &mut rng);
                    sent.push_back(now);
                }
            }
            if !out.is_empty() {
                sock.write_all(&out).await.map_err(|e| e.to_string())?;
                out.clear();
            }
            if sent.is_empty() {
                return Ok(());
            }
            // Wait for at least one reply, then take every complete one.
            let f = read_frame(&mut sock, &mut buf).await?;
            let mut next = Some(f);
            while let Some(f) = next {
                let h = ReplyHeader::read(&mut Reader::new(&f)).map_err(|e| format!("reply header: {e}"))?;
                if h.xid != xid::NOTIFICATION && h.xid != xid::PING {
                    let t = sent.pop_front().ok_or("a reply nobody asked for")?;
                    rec.done(t.elapsed(), h.err == 0, &mut hist);
                }
                next = take_frame(&mut buf)?;
            }
        }
    }
    .await;
    rec.merge(&hist);
    result
}
