//! Mixed ensembles under leader kills: two of ours with one Apache ZooKeeper 3.8 member (it
//! has the largest id), and one of ours with two ZooKeeper members (ours has the largest id),
//! so leadership passes between the kinds as leaders die. A client writes without pause through whichever
//! member answers while the leader — of whichever kind — is SIGKILLed and restarted, again and
//! again; at the end every member takes a write and reads everyone's, every acknowledged
//! write is on every member and the members' trees are identical (every znode's data, Stat and
//! ACL, read through a client on each member).

mod ensemble_support;
mod zk_support;

use ensemble_support::{tree_through, Ensemble, DEADLINE};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zabkeeper::client::{Client, ConnectOptions};

fn opts() -> ConnectOptions {
    ConnectOptions { timeout_ms: 20_000, connect_timeout: Duration::from_secs(2), ..Default::default() }
}

/// Writes /load/<n> through any member that answers until `stop`; returns what was
/// acknowledged.
async fn write_load(hosts: Vec<String>, stop: Arc<AtomicBool>, acked: Arc<Mutex<Vec<u64>>>) {
    let mut n = 0u64;
    let mut at = 0;
    while !stop.load(Ordering::Relaxed) {
        at += 1;
        let Ok(Ok((c, _))) =
            tokio::time::timeout(Duration::from_secs(3), Client::connect(&hosts[at % hosts.len()], opts())).await
        else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            match tokio::time::timeout(
                Duration::from_secs(5),
                c.create(&format!("/load/{n:08}"), Some(b"v"), None, 0, 0),
            )
            .await
            {
                Ok(Ok(_)) => acked.lock().unwrap().push(n),
                _ => break,
            }
        }
    }
}

fn leader_kills_under_load(zookeeper: &[u64]) {
    let mut e = Ensemble::mixed(3, 0, zookeeper);
    e.start_zookeeper_first();
    e.wait_for_roles();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let hosts: Vec<String> = e.members.iter().map(|m| m.hostport()).collect();
    rt.block_on(async {
        let c = Client::connect(&hosts[0], opts()).await.expect("connect").0;
        c.create("/load", None, None, 0, 0).await.expect("create /load");
    });
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writer = rt.spawn(write_load(hosts.clone(), stop.clone(), acked.clone()));
    let mut killed_kinds = Vec::new();
    for _ in 0..4 {
        let before = acked.lock().unwrap().len();
        let until = Instant::now() + DEADLINE;
        while acked.lock().unwrap().len() < before + 50 {
            assert!(Instant::now() < until, "no writes get through\n{}", e.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
        let leader = e.wait_for_roles();
        killed_kinds.push(if e.members[leader].spec.zookeeper { "zookeeper" } else { "zabkeeper" });
        e.members[leader].kill();
        e.wait_for_roles_without(&[leader]);
        e.start(leader);
        e.wait_for_roles();
    }
    let before = acked.lock().unwrap().len();
    let until = Instant::now() + DEADLINE;
    while acked.lock().unwrap().len() < before + 50 {
        assert!(Instant::now() < until, "no writes after the last restart\n{}", e.logs());
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    rt.block_on(writer).expect("writer");
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 250, "{}", acked.len());
    rt.block_on(async {
        // Every member, of either kind, takes writes and serves reads.
        for (i, h) in hosts.iter().enumerate() {
            let c = Client::connect(h, opts()).await.expect("connect").0;
            c.create(&format!("/through{}", i + 1), Some(h.as_bytes()), None, 0, 0).await.expect("write through");
        }
        let mut trees = Vec::new();
        for (i, h) in hosts.iter().enumerate() {
            let c = Client::connect(h, opts()).await.expect("connect").0;
            c.sync("/").await.expect("sync");
            let (names, _) = c.get_children("/load", false).await.expect("children");
            let present: std::collections::HashSet<u64> = names.iter().filter_map(|s| s.parse().ok()).collect();
            let lost: Vec<u64> = acked.iter().copied().filter(|n| !present.contains(n)).take(10).collect();
            assert!(lost.is_empty(), "member {} lost acknowledged writes {lost:?}\n{}", i + 1, e.logs());
            for (j, hj) in hosts.iter().enumerate() {
                let (data, _) = c.get_data(&format!("/through{}", j + 1), false).await.expect("read");
                assert_eq!(data.as_deref(), Some(hj.as_bytes()));
            }
            trees.push(tree_through(&c).await.unwrap_or_else(|err| panic!("member {}: {err}\n{}", i + 1, e.logs())));
        }
        for (i, t) in trees.iter().enumerate().skip(1) {
            assert_eq!(t.len(), trees[0].len(), "member {} and member 1 differ", i + 1);
            for (a, b) in t.iter().zip(&trees[0]) {
                assert_eq!(a, b, "member {} and member 1 differ", i + 1);
            }
        }
    });
    eprintln!("leaders killed: {killed_kinds:?}; {} writes acknowledged", acked.len());
}

#[test]
fn two_of_ours_and_zookeeper_survive_leader_kills() {
    leader_kills_under_load(&[3]);
}

#[test]
fn one_of_ours_and_two_zookeepers_survive_leader_kills() {
    leader_kills_under_load(&[1, 2]);
}

/// A leader logs a proposal no follower ever logs (both paused, then killed), loses its
/// quorum and is killed; the followers restart and elect a leader of the other kind; the old leader restarts with that
/// txn in its log and must be cut back by TRUNC — ZooKeeper's leader truncating ours, and ours
/// truncating ZooKeeper. The lost txn is nowhere afterwards and the trees are identical.
fn an_uncommitted_txn_is_truncated_by_a_leader_of_the_other_kind(zookeeper: &[u64]) {
    let mut e = Ensemble::mixed(3, 0, zookeeper);
    e.start_zookeeper_first();
    // Member 3, the only one of its kind, leads.
    let old = e.lead_by_kind(e.members[2].spec.zookeeper);
    assert_eq!(old, 2);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let hosts: Vec<String> = e.members.iter().map(|m| m.hostport()).collect();
    rt.block_on(async {
        let c = Client::connect(&hosts[old], opts()).await.expect("connect").0;
        for k in 0..20 {
            c.create(&format!("/kept{k}"), Some(b"k"), None, 0, 0).await.expect("create");
        }
        // Both followers have logged everything so far (a sync and a read through each): the
        // election after the crash is then decided by id alone.
        for f in [0, 1] {
            let fc = Client::connect(&hosts[f], opts()).await.expect("connect").0;
            fc.sync("/").await.expect("sync");
            assert!(fc.exists("/kept19", false).await.expect("exists").is_some());
        }
        // Sessions are global: open it now, while there is a quorum.
        let lone = Client::connect(&hosts[old], opts()).await.expect("connect").0;
        e.members[0].pause(true);
        e.members[1].pause(true);
        // Proposed and logged by the leader alone: never acknowledged.
        let lost = tokio::time::timeout(Duration::from_secs(1), lone.create("/lost", Some(b"x"), None, 0, 0)).await;
        assert!(lost.is_err() || lost.as_ref().is_ok_and(|r| r.is_err()), "a write without a quorum: {lost:?}");
        drop(lone);
    });
    // Once it gives up leading (syncLimit) its proposal is long durable.
    e.wait_not_serving(old);
    e.members[old].kill();
    // The proposal sits unread in the paused followers' sockets: SIGKILL drops it with them
    // (resumed, they would log it, and a new leader holding it would rightly commit it).
    e.members[0].kill();
    e.members[1].kill();
    let zookeeper_first: Vec<usize> =
        [0, 1].into_iter().filter(|&i| e.members[i].spec.zookeeper).chain([0, 1]).collect();
    for i in zookeeper_first {
        if !e.members[i].is_running() {
            e.start(i);
        }
    }
    let new = e.wait_for_roles_without(&[old]);
    assert_ne!(e.members[new].spec.zookeeper, e.members[old].spec.zookeeper);
    // The old leader rejoins before the new epoch commits anything: it is ahead of the new
    // leader in the old epoch, which both kinds answer with TRUNC (with txns of the new
    // epoch committed first, ZooKeeper 3.8 falls back to SNAP: "Cannot send TRUNC to peer ...
    // peer zxid is from different epoch").
    e.start(old);
    e.wait_for_roles();
    rt.block_on(async {
        let c = Client::connect(&hosts[new], opts()).await.expect("connect").0;
        for k in 0..20 {
            c.create(&format!("/after{k}"), Some(b"a"), None, 0, 0).await.expect("create");
        }
    });
    rt.block_on(async {
        let mut trees = Vec::new();
        for h in &hosts {
            let c = Client::connect(h, opts()).await.expect("connect").0;
            c.sync("/").await.expect("sync");
            assert!(c.exists("/lost", false).await.expect("exists").is_none(), "{h} kept an uncommitted txn");
            assert!(c.exists("/after19", false).await.expect("exists").is_some());
            trees.push(tree_through(&c).await.unwrap_or_else(|err| panic!("{h}: {err}\n{}", e.logs())));
        }
        for t in &trees[1..] {
            assert_eq!(t, &trees[0]);
        }
    });
    // ZooKeeper's leader does not log its TRUNC at INFO; our old leader logs taking it (and
    // must have finished that sync at once, not after initLimit and a reconnect).
    let truncated = if e.members[new].spec.zookeeper {
        let log = e.members[old].log();
        log.contains("truncated the log to") && !log.contains("the connection to leader")
    } else {
        e.members[new].log().contains("Trunc {")
    };
    assert!(truncated, "no TRUNC (or not at once)\n{}", e.logs());
}

#[test]
fn zookeeper_truncates_an_uncommitted_txn_of_ours() {
    // Ours (id 3) leads first; one of the two ZooKeeper members after.
    an_uncommitted_txn_is_truncated_by_a_leader_of_the_other_kind(&[1, 2]);
}

#[test]
fn ours_truncates_an_uncommitted_txn_of_zookeeper() {
    // ZooKeeper (id 3) leads first; one of ours after.
    an_uncommitted_txn_is_truncated_by_a_leader_of_the_other_kind(&[3]);
}
