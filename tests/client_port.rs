//! The client port under clients that misbehave: slow readers flooding the server (memory
//! stays bounded and comes back, a well-behaved client keeps being served), sockets that never
//! send a handshake (closed after `nio.sessionlessCnxnTimeout`), a process near its file
//! limit (new connections refused cleanly), IPv6 clients of the wildcard listener, and an
//! auth packet pipelined right behind the handshake (answered after the ConnectResponse).

mod common;
mod crash_support;

use common::{start_server_with, zk_persistent};
use crash_support::{start_with, ChildOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(20);
const CREATE: i32 = 1;
const EXISTS: i32 = 3;
const GET_DATA: i32 = 4;

// ---------------------------------------------------------------------------------------------
// A blocking raw client.

fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

fn ustr(s: &str) -> Vec<u8> {
    let mut v = (s.len() as i32).to_be_bytes().to_vec();
    v.extend_from_slice(s.as_bytes());
    v
}

fn request(xid: i32, op: i32, record: &[u8]) -> Vec<u8> {
    let mut b = xid.to_be_bytes().to_vec();
    b.extend_from_slice(&op.to_be_bytes());
    b.extend_from_slice(record);
    frame(&b)
}

fn path_watch(path: &str) -> Vec<u8> {
    let mut v = ustr(path);
    v.push(0);
    v
}

fn create_record(path: &str, data: &[u8]) -> Vec<u8> {
    let mut v = ustr(path);
    v.extend_from_slice(&(data.len() as i32).to_be_bytes());
    v.extend_from_slice(data);
    v.extend_from_slice(&1i32.to_be_bytes()); // one ACL: world:anyone, all permissions
    v.extend_from_slice(&31i32.to_be_bytes());
    v.extend_from_slice(&ustr("world"));
    v.extend_from_slice(&ustr("anyone"));
    v.extend_from_slice(&0i32.to_be_bytes());
    v
}

/// The next frame, or None when the server closed the connection.
fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

/// A new session's socket (handshake answered), or None when the server closed instead.
fn try_session(addr: SocketAddr, timeout_ms: i32) -> Option<TcpStream> {
    let mut s = TcpStream::connect_timeout(&addr, DEADLINE).ok()?;
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.set_write_timeout(Some(DEADLINE)).unwrap();
    let mut hello = Vec::new();
    hello.extend_from_slice(&0i32.to_be_bytes());
    hello.extend_from_slice(&0i64.to_be_bytes());
    hello.extend_from_slice(&timeout_ms.to_be_bytes());
    hello.extend_from_slice(&0i64.to_be_bytes());
    hello.extend_from_slice(&16i32.to_be_bytes());
    hello.extend_from_slice(&[0u8; 16]);
    hello.push(0);
    s.write_all(&frame(&hello)).ok()?;
    let resp = read_frame(&mut s)?;
    (resp.len() >= 16).then_some(s)
}

fn session(addr: SocketAddr, timeout_ms: i32) -> TcpStream {
    try_session(addr, timeout_ms).expect("handshake answered")
}

/// Sends one request and returns its reply's error code (skipping notifications and pings).
fn call(s: &mut TcpStream, xid: i32, op: i32, record: &[u8]) -> i32 {
    s.write_all(&request(xid, op, record)).expect("send");
    loop {
        let reply = read_frame(s).expect("a reply, not a close");
        let rxid = i32::from_be_bytes(reply[0..4].try_into().unwrap());
        if rxid == xid {
            return i32::from_be_bytes(reply[12..16].try_into().unwrap());
        }
    }
}

/// Reads until the server closes the socket (or the deadline passes); true if it closed.
fn closed_within(s: &mut TcpStream, deadline: Duration) -> bool {
    s.set_read_timeout(Some(deadline)).unwrap();
    let mut buf = [0u8; 4096];
    let until = Instant::now() + deadline;
    while Instant::now() < until {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
    false
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

// ---------------------------------------------------------------------------------------------

const FLOODS: usize = 20;
const FLOOD_REQUESTS: i32 = 1000;
const BIG: usize = 16 << 10;

/// 20 sessions each pipeline 1,000 getData of a 16 KiB znode and never read: 320 MiB of
/// replies. The server holds at most clientMaxUnsentBytes (1 MiB) plus 64 replies (1 MiB)
/// per connection, so ~40 MiB, not 320; before back-pressure it grew by 262-415 MiB.
#[test]
fn slow_readers_hold_bounded_memory_and_others_keep_being_served() {
    let dir = tempfile::tempdir().unwrap();
    // Sessions of at most 3 s: a flood that cannot ping expires, and its connection, held
    // past its byte budget, is closed.
    let opts = ChildOptions { extra_config: "maxSessionTimeout=3000\n".into(), ..ChildOptions::default() };
    let (srv, _) = start_with(dir.path(), &opts);
    let pid = srv.child.as_ref().unwrap().id();
    let mut admin = session(srv.addr, 3000);
    assert_eq!(call(&mut admin, 1, CREATE, &create_record("/big", &vec![b'x'; BIG])), 0);
    assert_eq!(call(&mut admin, 2, CREATE, &create_record("/probe", b"p")), 0);
    let before = rss_kib(pid);

    let pipeline: Vec<u8> = (1..=FLOOD_REQUESTS).flat_map(|xid| request(xid, GET_DATA, &path_watch("/big"))).collect();
    let mut floods: Vec<TcpStream> = (0..FLOODS).map(|_| session(srv.addr, 30_000)).collect();
    for f in &mut floods {
        // ~20 KB: fits in the socket buffers even when the server reads no more of it.
        f.write_all(&pipeline).expect("flood written");
    }
    // A well-behaved client keeps being answered during the flood; the server's memory is
    // sampled meanwhile.
    let mut peak = before;
    let mut slowest = Duration::ZERO;
    for i in 0..200 {
        let t = Instant::now();
        assert_eq!(call(&mut admin, 10 + i, EXISTS, &path_watch("/probe")), 0);
        slowest = slowest.max(t.elapsed());
        peak = peak.max(rss_kib(pid));
        std::thread::sleep(Duration::from_millis(5));
    }
    let grown_mib = peak.saturating_sub(before) / 1024;
    eprintln!("RSS before {before} KiB, peak {peak} KiB (+{grown_mib} MiB); bystander's slowest reply {slowest:?}");
    assert!(grown_mib < 120, "RSS grew by {grown_mib} MiB under 320 MiB of unread replies");

    // A connection left past its budget for a session timeout is closed, with a log line.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let closes = srv.stderr().matches("reply bytes not read in time").count()
            + srv.stderr().matches("reply bytes unread").count();
        if closes >= FLOODS {
            break;
        }
        assert!(Instant::now() < deadline, "only {closes} of {FLOODS} flooding connections closed:\n{}", srv.stderr());
        // Keep the bystander's session alive while waiting.
        assert_eq!(call(&mut admin, 500, EXISTS, &path_watch("/probe")), 0);
        std::thread::sleep(Duration::from_millis(50));
    }
    for f in &mut floods {
        let mut n = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        f.set_read_timeout(Some(DEADLINE)).unwrap();
        while let Ok(k) = f.read(&mut buf) {
            if k == 0 {
                break;
            }
            n += k;
        }
        assert!(n < FLOOD_REQUESTS as usize * BIG, "a closed flood got only part of its replies ({n} bytes)");
    }
    drop(floods);

    // The memory comes back once the floods are gone.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = rss_kib(pid);
        if now < before + 24 * 1024 {
            eprintln!("RSS after the flood: {now} KiB");
            break;
        }
        assert!(Instant::now() < deadline, "RSS stayed at {now} KiB after the flood (before: {before} KiB)");
        assert_eq!(call(&mut admin, 501, EXISTS, &path_watch("/probe")), 0);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(call(&mut admin, 502, GET_DATA, &path_watch("/big")), 0);
}

/// With a file limit of 128 descriptors, connections past what fits are closed at once, the
/// server keeps serving those it has, and takes new ones once others are gone.
#[test]
fn near_the_file_limit_new_connections_are_refused_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ChildOptions { extra_config: "maxClientCnxns=0\n".into(), open_files: Some(128) };
    let (srv, _) = start_with(dir.path(), &opts);
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..160 {
        match try_session(srv.addr, 10_000) {
            Some(s) => held.push(s),
            None => refused += 1,
        }
    }
    eprintln!("{} sessions held, {refused} refused", held.len());
    assert!(held.len() >= 10, "too few connections fit: {}", held.len());
    assert!(refused > 0, "no connection was refused under a 128-descriptor limit");
    assert!(srv.stderr().contains("refusing a connection"), "no log line:\n{}", srv.stderr());
    // Those it holds are served.
    for (i, s) in held.iter_mut().enumerate().take(5) {
        assert_eq!(call(s, 1 + i as i32, EXISTS, &path_watch("/")), 0);
    }
    drop(held);
    // Once they are gone, new connections are served again.
    let deadline = Instant::now() + DEADLINE;
    let mut again = loop {
        if let Some(s) = try_session(srv.addr, 10_000) {
            break s;
        }
        assert!(Instant::now() < deadline, "no connection accepted after the others closed");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(call(&mut again, 1, EXISTS, &path_watch("/")), 0);
    assert_eq!(crash_support::four_letter(srv.addr, "ruok"), "imok");
}

/// A socket that never completes a handshake is closed after `nio.sessionlessCnxnTimeout`;
/// one that did is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_without_a_handshake_are_closed_after_the_deadline() {
    let srv = start_server_with(|c| c.sessionless_cnxn_timeout_ms = 500).await;
    let addr = srv.addr;
    tokio::task::spawn_blocking(move || {
        let opened = Instant::now();
        let mut idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
        // Half a length prefix, half a four-letter word, a whole prefix with half a body.
        for partial in [&[0u8, 0][..], b"ru", &[0, 0, 0, 45, 0, 0, 0]] {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(partial).unwrap();
            idle.push(s);
        }
        let mut ok = session(addr, 4000);
        for s in &mut idle {
            assert!(closed_within(s, DEADLINE), "a socket without a handshake was kept");
        }
        // Not before the deadline (a lower bound holds however loaded the machine is).
        assert!(opened.elapsed() >= Duration::from_millis(450), "closed after only {:?}", opened.elapsed());
        // The connection that sent its handshake outlives the deadline.
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(call(&mut ok, 1, EXISTS, &path_watch("/")), 0);
    })
    .await
    .unwrap();
}

/// Without clientPortAddress the server listens on both stacks: IPv6 and IPv4 clients reach it
/// (the C client's testIPV6). Where the system has no IPv6, it listens on IPv4 alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wildcard_listener_takes_ipv6_and_ipv4_clients() {
    let srv = start_server_with(|c| {
        c.client_port_address = "::".parse().unwrap();
        c.max_session_timeout = Some(60_000);
    })
    .await;
    let port = srv.addr.port();
    let v4 = zookeeper_client::Client::connect(&format!("127.0.0.1:{port}")).await.expect("IPv4 client");
    v4.create("/from-v4", b"4", &zk_persistent()).await.unwrap();
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("this system has no IPv6 loopback: checked the IPv4 fallback only");
        return;
    }
    let v6 = zookeeper_client::Client::connect(&format!("[::1]:{port}")).await.expect("IPv6 client");
    let (data, _) = v6.get_data("/from-v4").await.unwrap();
    assert_eq!(data, b"4");
    // An IPv4 client of the dual-stack socket is seen as IPv4 (ip ACLs, per-IP limits).
    let who = v4.list_auth_users().await.unwrap();
    assert!(who.iter().any(|a| a.scheme() == "ip" && a.user() == "127.0.0.1"), "{who:?}");
    let who6 = v6.list_auth_users().await.unwrap();
    assert!(who6.iter().any(|a| a.scheme() == "ip" && a.user() == "::1"), "{who6:?}");

    // An IPv6 clientPortAddress is accepted and binds that address.
    let only6 = start_server_with(|c| c.client_port_address = "::1".parse().unwrap()).await;
    assert_eq!(only6.addr.ip(), "::1".parse::<std::net::IpAddr>().unwrap());
    let c = zookeeper_client::Client::connect(&format!("[::1]:{}", only6.addr.port())).await.expect("::1 client");
    assert!(c.check_stat("/").await.unwrap().is_some());
}

/// The zookeeper-client crate sends its auth packets right behind the ConnectRequest. The
/// ConnectResponse must come first: the connect waits for its createSession txn to be
/// durable, the auth did not, and the crate failed reading a 16-byte reply as the handshake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_pipelined_behind_the_handshake_is_answered_after_it() {
    let srv = start_server_with(|c| c.max_session_timeout = Some(60_000)).await;
    for _ in 0..5 {
        let c = zookeeper_client::Client::connector()
            .with_session_timeout(Duration::from_secs(30))
            .with_auth("digest", b"user:secret")
            .connect(&srv.connect_string())
            .await
            .expect("connect with auth");
        let who = c.list_auth_users().await.unwrap();
        assert!(who.iter().any(|a| a.scheme() == "digest" && a.user() == "user"), "{who:?}");
    }
}
