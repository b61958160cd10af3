//! The wire-format proof: one ensemble of two of our members and one Apache ZooKeeper 3.8
//! member (Debian's), each with its own zoo.cfg and myid. They elect one leader (ZooKeeper
//! leading when it has the largest id, one of ours when it has the smallest), every member
//! takes a role, and writes through every member — creates, an ephemeral whose session then
//! closes, a sync — are read the same on every member; a session opened on one member
//! resumes on the next (of either kind) with its ephemeral. A wiped member catches up by SNAP
//! from a leader of the other kind (ZooKeeper's serialized DataTree both ways).

mod ensemble_support;
mod zk_support;

use ensemble_support::{tree_through, Ensemble, DEADLINE};
use std::time::{Duration, Instant};
use zabkeeper::client::{Client, ConnectOptions};

async fn connect(e: &Ensemble, i: usize) -> Client {
    let opts = ConnectOptions { timeout_ms: 10_000, connect_timeout: Duration::from_secs(5), ..Default::default() };
    let until = Instant::now() + DEADLINE;
    loop {
        match Client::connect(&e.members[i].hostport(), opts.clone()).await {
            Ok((c, _)) => return c,
            Err(err) => {
                assert!(Instant::now() < until, "cannot connect to member {}: {err}\n{}", i + 1, e.logs());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// `zookeeper_leads`: whether the ZooKeeper member is made to lead before the writes.
fn writes_through_every_member_are_read_on_every_member(zookeeper_id: u64, zookeeper_leads: bool) -> (usize, Ensemble) {
    let mut e = Ensemble::mixed(3, 0, &[zookeeper_id]);
    e.start_zookeeper_first();
    let leader = e.lead_by_kind(zookeeper_leads);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        for i in 0..3 {
            let c = connect(&e, i).await;
            let data = format!("through member {}", i + 1);
            c.create(&format!("/m{}", i + 1), Some(data.as_bytes()), None, 0, 0)
                .await
                .unwrap_or_else(|err| panic!("create through member {}: {err}\n{}", i + 1, e.logs()));
            c.create(&format!("/eph{}", i + 1), Some(b"e"), None, 1, 0).await.expect("ephemeral");
            c.set_data(&format!("/m{}", i + 1), Some(format!("{data}, set").as_bytes()), 0).await.expect("setData");
            c.close().await.expect("closeSession");
        }
        for i in 0..3 {
            let c = connect(&e, i).await;
            c.sync("/").await.unwrap_or_else(|err| panic!("sync on member {}: {err}", i + 1));
            for j in 0..3 {
                let (data, stat) = c.get_data(&format!("/m{}", j + 1), false).await.expect("getData");
                assert_eq!(data.as_deref(), Some(format!("through member {}, set", j + 1).as_bytes()));
                assert_eq!(stat.version, 1);
                assert!(
                    c.exists(&format!("/eph{}", j + 1), false).await.expect("exists").is_none(),
                    "member {} still has an ephemeral of a closed session",
                    i + 1
                );
            }
            let _ = c.close().await;
        }
        // Sessions move between kinds: one opened on each member resumes on the next (a
        // follower of ours asks the leader, whichever kind, with REVALIDATE) and keeps its
        // ephemeral.
        for i in 0..3 {
            let owner = connect(&e, i).await;
            let path = format!("/moving{}", i + 1);
            owner.create(&path, None, None, 1, 0).await.expect("ephemeral");
            let (id, password, seen) = (owner.session_id, owner.password.clone(), owner.last_zxid_seen());
            drop(owner);
            let next = (i + 1) % 3;
            let resumed = ConnectOptions {
                timeout_ms: 10_000,
                session_id: id,
                password,
                last_zxid_seen: seen,
                connect_timeout: Duration::from_secs(5),
                ..Default::default()
            };
            // A member still behind the client's last zxid refuses it (the client would try
            // another server): try again until it has caught up.
            let until = Instant::now() + DEADLINE;
            let moved = loop {
                match Client::connect(&e.members[next].hostport(), resumed.clone()).await {
                    Ok((c, _)) => break c,
                    Err(zabkeeper::client::ClientError::ConnectionLoss(_)) if Instant::now() < until => {
                        tokio::time::sleep(Duration::from_millis(50)).await
                    }
                    Err(err) => panic!("moving a session from member {} to {}: {err}\n{}", i + 1, next + 1, e.logs()),
                }
            };
            assert_eq!(moved.session_id, id, "member {} refused a live session\n{}", next + 1, e.logs());
            moved.sync("/").await.expect("sync");
            let stat = moved.exists(&path, false).await.expect("exists").expect("the ephemeral stays");
            assert_eq!(stat.ephemeral_owner, id);
            moved.close().await.expect("closeSession");
        }
    });
    (leader, e)
}

/// Member `i` (not the leader) is stopped and wiped while writes go on, then restarted: with
/// nothing logged it must be sent a SNAP by the leader of the other kind, in ZooKeeper's own
/// snapshot format, and then hold exactly the leader's tree (data, Stat, ACL, a live
/// session's ephemeral).
fn a_wiped_member_catches_up_by_snap_from_the_other_kind(e: &mut Ensemble, leader: usize, i: usize) {
    assert_ne!(e.members[leader].spec.zookeeper, e.members[i].spec.zookeeper);
    e.members[i].kill();
    e.wipe(i);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let c = connect(e, leader).await;
        let digest = zabkeeper::proto::records::Acl::new(31, "digest", "bob:8x3tVnW3xxYB4ARrVxnGF5chgNg=");
        c.create("/snap", Some(b"s"), None, 0, 0).await.expect("create");
        for k in 0..200 {
            let readable = zabkeeper::proto::records::Acl::new(1, "world", "anyone");
            let acl = if k % 3 == 0 { Some(vec![readable, digest.clone()]) } else { None };
            c.create(&format!("/snap/n{k:03}"), Some(format!("v{k}").as_bytes()), acl, 0, 0).await.expect("create");
        }
        for k in 0..50 {
            c.set_data(&format!("/snap/n{:03}", k * 3 + 1), Some(b"changed"), -1).await.expect("setData");
        }
        c.create("/snap/live", Some(b"eph"), None, 1, 0).await.expect("ephemeral");
        e.start(i);
        e.wait_for_roles();
        let wiped = connect(e, i).await;
        wiped.sync("/").await.expect("sync");
        c.sync("/").await.expect("sync");
        let want = tree_through(&c).await.unwrap_or_else(|err| panic!("{err}\n{}", e.logs()));
        let got = tree_through(&wiped).await.unwrap_or_else(|err| panic!("member {}: {err}\n{}", i + 1, e.logs()));
        assert_eq!(got.len(), want.len(), "{}", e.logs());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "member {} after SNAP\n{}", i + 1, e.logs());
        }
        let _ = wiped.close().await;
        let _ = c.close().await;
    });
    let log = e.members[i].log();
    if e.members[i].spec.zookeeper {
        assert!(log.contains("Getting a snapshot from leader"), "ZooKeeper was not sent a SNAP\n{log}");
    } else {
        assert!(log.contains("the ZooKeeper leader's snapshot"), "ours was not sent a SNAP\n{log}");
    }
}

#[test]
fn zookeeper_leading_two_of_ours() {
    let (leader, mut e) = writes_through_every_member_are_read_on_every_member(3, true);
    assert!(e.members[leader].spec.zookeeper);
    a_wiped_member_catches_up_by_snap_from_the_other_kind(&mut e, leader, 0);
}

#[test]
fn one_of_ours_leading_zookeeper() {
    let (leader, mut e) = writes_through_every_member_are_read_on_every_member(1, false);
    assert!(!e.members[leader].spec.zookeeper);
    a_wiped_member_catches_up_by_snap_from_the_other_kind(&mut e, leader, 0);
}

/// An observer of one kind follows a leader of the other: it serves what the ensemble
/// commits (INFORM), and wiped, it catches up by SNAP in ZooKeeper's format.
#[test]
fn observers_of_either_kind_follow_a_leader_of_the_other() {
    for zookeeper in [&[3u64][..], &[4u64][..]] {
        let mut e = Ensemble::mixed(3, 1, zookeeper);
        e.start_zookeeper_first();
        let leader = e.wait_for_roles();
        let observer = 3;
        assert_ne!(e.members[leader].spec.zookeeper, e.members[observer].spec.zookeeper, "{zookeeper:?}");
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        for round in 0..2 {
            if round == 1 {
                e.members[observer].kill();
                e.wipe(observer);
            }
            rt.block_on(async {
                let c = connect(&e, leader).await;
                for k in 0..100 {
                    c.create(&format!("/obs{round}-{k}"), Some(b"o"), None, 0, 0).await.expect("create");
                }
            });
            if round == 1 {
                e.start(observer);
                e.wait_for_roles();
            }
            rt.block_on(async {
                let c = connect(&e, leader).await;
                let o = connect(&e, observer).await;
                o.sync("/").await.expect("sync through the observer");
                c.sync("/").await.expect("sync");
                let want = tree_through(&c).await.unwrap_or_else(|err| panic!("{err}\n{}", e.logs()));
                let got = tree_through(&o).await.unwrap_or_else(|err| panic!("observer: {err}\n{}", e.logs()));
                assert_eq!(got.len(), want.len(), "{zookeeper:?} round {round}\n{}", e.logs());
                for (g, w) in got.iter().zip(&want) {
                    assert_eq!(g, w, "{zookeeper:?} round {round}\n{}", e.logs());
                }
            });
        }
        assert_eq!(e.mode(observer).as_deref(), Some("observer"));
        let log = e.members[observer].log();
        let snap_taken = if e.members[observer].spec.zookeeper {
            "Getting a snapshot from leader"
        } else {
            "the ZooKeeper leader's snapshot"
        };
        assert!(log.contains(snap_taken), "the wiped observer was not sent a SNAP\n{log}");
    }
}
