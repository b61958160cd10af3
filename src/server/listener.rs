//! The client port: binding it (the wildcard address of both IP stacks where the system has
//! IPv6), accepting connections, and refusing them cleanly when a limit is reached: the
//! per-IP `maxClientCnxns`, and the process's file limit (a connection that would leave too
//! few descriptors for the log, snapshots and the listener itself is closed at once, and a
//! spare descriptor lets the listener take a connection off the backlog to close it even when
//! the limit has been hit).
//! Must never: read from a connection (its task does) or stop accepting because of one bad
//! accept.

use super::connection;
use super::Shared;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Descriptors kept free beyond those open at startup: log segments, snapshots, the next
/// segment being prepared, /proc reads for the admin words.
const FD_HEADROOM: u64 = 32;

/// Binds the client port. The IPv6 wildcard `::` also takes IPv4 clients (as Java's wildcard
/// does) and falls back to `0.0.0.0` where the system has no IPv6.
pub fn bind(addr: SocketAddr, backlog: i32) -> std::io::Result<TcpListener> {
    let backlog = if backlog <= 0 { 1024 } else { backlog };
    if addr.ip() == IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED) {
        match bind_with(addr, backlog, true) {
            Ok(l) => return Ok(l),
            Err(e) if ipv6_unavailable(&e) => {
                tracing::info!("no IPv6 on this system ({e}); listening on IPv4 only");
                return bind_with(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), addr.port()), backlog, false);
            }
            Err(e) => return Err(e),
        }
    }
    bind_with(addr, backlog, false)
}

fn ipv6_unavailable(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EAFNOSUPPORT) | Some(libc::EADDRNOTAVAIL) | Some(libc::EPROTONOSUPPORT))
}

fn bind_with(addr: SocketAddr, backlog: i32, dual_stack: bool) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if dual_stack {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    TcpListener::from_std(socket.into())
}

/// How many client connections fit under the process's file limit.
fn connection_budget() -> usize {
    // SAFETY: getrlimit writes only the struct passed.
    let soft = unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return usize::MAX;
        }
        lim.rlim_cur
    };
    if soft == libc::RLIM_INFINITY {
        return usize::MAX;
    }
    let open = std::fs::read_dir("/proc/self/fd").map(|d| d.count() as u64).unwrap_or(64);
    soft.saturating_sub(open + FD_HEADROOM) as usize
}

/// Gives back a connection's places (per IP and in the total) when its task ends.
struct Slot {
    ip: IpAddr,
    per_ip: Arc<Mutex<HashMap<IpAddr, u32>>>,
    live: Arc<AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::AcqRel);
        let mut m = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// Logs refusals at most every few seconds, with how many there were.
struct RefusalLog {
    last: Option<Instant>,
    since_last: u64,
}

impl RefusalLog {
    fn refused(&mut self, why: impl FnOnce() -> String) {
        self.since_last += 1;
        if self.last.map_or(true, |t| t.elapsed() >= Duration::from_secs(5)) {
            tracing::warn!("{} ({} refused since the last report)", why(), self.since_last);
            self.last = Some(Instant::now());
            self.since_last = 0;
        }
    }
}

/// Accepts until `shutdown` flips; each connection runs in its own task.
pub async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    max_per_ip: Option<u32>,
    mut shutdown: watch::Receiver<bool>,
) {
    static NEXT_CONN: AtomicU64 = AtomicU64::new(1);
    let per_ip: Arc<Mutex<HashMap<IpAddr, u32>>> = Arc::new(Mutex::new(HashMap::new()));
    let live = Arc::new(AtomicUsize::new(0));
    let budget = connection_budget();
    let mut spare = std::fs::File::open("/dev/null").ok();
    let mut refusals = RefusalLog { last: None, since_last: 0 };
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)) => {
                // Out of descriptors: free the spare one to take the connection off the
                // backlog and close it, rather than leave the client hanging.
                drop(spare.take());
                if let Ok(Ok((s, _))) = tokio::time::timeout(Duration::from_millis(100), listener.accept()).await {
                    drop(s);
                }
                spare = std::fs::File::open("/dev/null").ok();
                refusals.refused(|| format!("refusing a connection: out of file descriptors ({e})"));
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // An IPv4 client of the dual-stack socket arrives as ::ffff:a.b.c.d.
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        let ip = peer.ip();
        shared.connections_accepted.fetch_add(1, Ordering::Relaxed);
        if live.load(Ordering::Acquire) >= budget {
            shared.connections_rejected.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            refusals.refused(|| {
                format!("refusing a connection from {ip}: {budget} connections would leave too few file descriptors")
            });
            continue;
        }
        {
            let mut m = per_ip.lock().unwrap_or_else(|e| e.into_inner());
            let n = m.entry(ip).or_insert(0);
            if max_per_ip.is_some_and(|max| *n >= max) {
                tracing::warn!("Too many connections from {ip} - max is {}", max_per_ip.unwrap_or(0));
                shared.connections_rejected.fetch_add(1, Ordering::Relaxed);
                drop(stream);
                continue;
            }
            *n += 1;
        }
        live.fetch_add(1, Ordering::AcqRel);
        let slot = Slot { ip, per_ip: per_ip.clone(), live: live.clone() };
        let conn = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
        let shared = shared.clone();
        let mut sd = shutdown.clone();
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                _ = connection::serve(conn, stream, peer, shared) => {}
                _ = sd.changed() => {}
            }
        });
    }
}
