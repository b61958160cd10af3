//! Leader election in a mixed ensemble: two of our members (the real election port and the
//! real `zab::election` state machine) and one Apache ZooKeeper 3.8 member elect one leader
//! together. ZooKeeper's decision is read the way any member reads it: a notification sent
//! from a non-voting id is answered with its current vote and state.

mod zk_support;

use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::time::{Duration, Instant};
use zabkeeper::config::ServerSpec;
use zabkeeper::server::quorum::cnx::CnxManager;
use zabkeeper::server::quorum::election::{answer_while_settled, look, ElectionSetup};
use zabkeeper::zab::election::Decision;
use zabkeeper::zab::wire::*;

const DEADLINE: Duration = Duration::from_secs(60);

struct Ports {
    quorum: u16,
    election: u16,
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Asks ZooKeeper's election port, as a non-voter, for its state and vote until it has
/// decided. ZooKeeper sets its state (FOLLOWING, LEADING) a moment before it stores the vote it
/// decided on, so an answer in between pairs the new state with its initial vote (itself as
/// leader); such an answer is asked again.
fn zookeeper_decision(zk_id: i64, election_port: u16, zk: &zk_support::ZkMember) -> Notification {
    let until = Instant::now() + DEADLINE;
    let addr = SocketAddr::from(([127, 0, 0, 1], election_port));
    loop {
        assert!(Instant::now() < until, "ZooKeeper never decided; its log:\n{}", zk.log_text());
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        // sid 99 is larger than every member's, so ZooKeeper keeps this connection.
        let probe = Notification {
            state: PeerState::Looking,
            leader: 99,
            zxid: 0,
            election_epoch: 0,
            peer_epoch: 0,
            version: NOTIFICATION_VERSION,
            config: None,
        };
        let mut msg = InitialMessage::encode(99, "127.0.0.1:1").to_vec();
        let body = probe.encode();
        msg.extend_from_slice(&(body.len() as i32).to_be_bytes());
        msg.extend_from_slice(&body);
        if s.write_all(&msg).is_ok() {
            let mut len = [0u8; 4];
            if s.read_exact(&mut len).is_ok() {
                let mut body = vec![0u8; i32::from_be_bytes(len).clamp(0, 1 << 20) as usize];
                if s.read_exact(&mut body).is_ok() {
                    if let Ok(Some(n)) = Notification::decode(&body) {
                        let settled = matches!(n.state, PeerState::Leading | PeerState::Following);
                        if settled && (n.state == PeerState::Leading) == (n.leader == zk_id) {
                            return n;
                        }
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Starts one of our members' election on the runtime; its decision comes out of the handle.
fn start_ours(
    rt: &tokio::runtime::Runtime,
    id: i64,
    ports: &BTreeMap<i64, Ports>,
    config: &str,
) -> tokio::task::JoinHandle<Decision> {
    let peers: BTreeMap<i64, SocketAddr> =
        ports.iter().map(|(id, p)| (*id, SocketAddr::from(([127, 0, 0, 1], p.election)))).collect();
    let me = peers[&id];
    let setup = ElectionSetup {
        my_id: id,
        voters: ports.keys().copied().collect::<BTreeSet<_>>(),
        config: Bytes::from(config.to_owned()),
        last_zxid: 0,
        current_epoch: 0,
        vote_epoch: std::sync::Arc::new(std::sync::atomic::AtomicI64::new(-1)),
    };
    rt.spawn(async move {
        let listener = tokio::net::TcpListener::bind(me).await.expect("bind our election port");
        let (cnx, mut inbound) = CnxManager::start(id, listener, me, peers);
        let d = look(&cnx, &mut inbound, &setup, 0).await;
        let answer = async move { answer_while_settled(&cnx, &mut inbound, &setup, d).await };
        tokio::spawn(answer);
        d
    })
}

fn elect(zk_id: i64) -> (BTreeMap<i64, Decision>, Notification) {
    let ports: BTreeMap<i64, Ports> =
        (1..=3).map(|id| (id, Ports { quorum: free_port(), election: free_port() })).collect();
    let servers: Vec<ServerSpec> = ports
        .iter()
        .map(|(id, p)| ServerSpec::parse(&id.to_string(), &format!("127.0.0.1:{}:{}", p.quorum, p.election)).unwrap())
        .collect();
    let config = membership_text(&servers, 0);
    let mut cfg =
        format!("tickTime=1000\ninitLimit=30\nsyncLimit=10\nclientPort={}\nclientPortAddress=127.0.0.1\n", free_port());
    for (id, p) in &ports {
        cfg.push_str(&format!("server.{id}=127.0.0.1:{}:{}\n", p.quorum, p.election));
    }
    let dir = tempfile::tempdir().unwrap();
    let zk = zk_support::ZkMember::start(dir.path(), zk_id as u64, &cfg);
    // Ours start once ZooKeeper's election port listens, so all three take part.
    let zk_election = SocketAddr::from(([127, 0, 0, 1], ports[&zk_id].election));
    let until = Instant::now() + DEADLINE;
    while TcpStream::connect_timeout(&zk_election, Duration::from_secs(5)).is_err() {
        assert!(Instant::now() < until, "ZooKeeper's election port never listened:\n{}", zk.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let ours: Vec<(i64, tokio::task::JoinHandle<Decision>)> =
        ports.keys().filter(|id| **id != zk_id).map(|&id| (id, start_ours(&rt, id, &ports, &config))).collect();
    let mut decisions = BTreeMap::new();
    for (id, h) in ours {
        let d = rt
            .block_on(async { tokio::time::timeout(DEADLINE, h).await })
            .unwrap_or_else(|_| panic!("member {id} did not decide; ZooKeeper's log:\n{}", zk.log_text()))
            .unwrap();
        decisions.insert(id, d);
    }
    let theirs = zookeeper_decision(zk_id, ports[&zk_id].election, &zk);
    rt.shutdown_background();
    (decisions, theirs)
}

/// Everyone follows one leader; the leader (and only it) says it leads.
fn assert_one_leader(zk_id: i64, ours: &BTreeMap<i64, Decision>, zk: &Notification) -> i64 {
    let leader = zk.leader;
    assert_eq!(zk.state == PeerState::Leading, leader == zk_id, "ZooKeeper: {zk:?}");
    assert!(matches!(zk.state, PeerState::Leading | PeerState::Following), "ZooKeeper: {zk:?}");
    for (id, d) in ours {
        assert_eq!(d.vote.leader, leader, "member {id} follows another leader than ZooKeeper: {d:?} vs {zk:?}");
        let want = if *id == leader { PeerState::Leading } else { PeerState::Following };
        assert_eq!(d.state, want, "member {id}: {d:?}");
    }
    leader
}

/// With equal zxids and epochs the largest id wins a full election; if two members finish
/// before the third's vote arrives, they elect the larger of the two and the third follows.
#[test]
fn zookeeper_as_the_largest_id_and_two_of_ours_elect_one_leader() {
    let (ours, zk) = elect(3);
    let leader = assert_one_leader(3, &ours, &zk);
    assert!(leader == 3 || leader == 2, "leader {leader}");
}

#[test]
fn zookeeper_as_the_smallest_id_and_two_of_ours_elect_one_leader() {
    let (ours, zk) = elect(1);
    let leader = assert_one_leader(1, &ours, &zk);
    assert_eq!(leader, 3, "the largest id wins among equals, whichever two finish first");
}
