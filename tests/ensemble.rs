//! Three (and four) real zabkeeper processes on loopback as one ensemble: writes through any
//! member are read on every member after sync; SIGKILL of the leader under write load loses
//! no acknowledged write, a new leader takes over and the old one rejoins by DIFF; a follower
//! with a wiped dataDir catches up by SNAP; a member holding a txn no quorum logged is
//! truncated (TRUNC), its tree rebuilt, and the txn vanishes; a minority stops serving; an observer serves and
//! does not vote.

mod ensemble_support;
mod zk_support;

use ensemble_support::{Ensemble, DEADLINE};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zabkeeper::client::{Client, ClientError, ConnectOptions};
use zabkeeper::proto::records::SetWatches2;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn opts() -> ConnectOptions {
    ConnectOptions { timeout_ms: 10_000, connect_timeout: Duration::from_secs(5), ..ConnectOptions::default() }
}

/// A session on exactly this member, retried until the deadline (it may be syncing).
async fn connect(hostport: &str, e: &Ensemble) -> Client {
    let until = Instant::now() + DEADLINE;
    loop {
        match Client::connect(hostport, opts()).await {
            Ok((c, _)) => return c,
            Err(err) => {
                assert!(Instant::now() < until, "cannot connect to {hostport}: {err}\n{}", e.logs());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The children of `path` as member `i` sees them after a sync through it.
async fn children_after_sync(e: &Ensemble, i: usize, path: &str) -> BTreeSet<String> {
    let c = connect(&e.members[i].hostport(), e).await;
    c.sync(path).await.unwrap_or_else(|err| panic!("sync on member {}: {err}\n{}", i + 1, e.logs()));
    let (kids, _) = c.get_children(path, false).await.expect("getChildren");
    let _ = c.close().await;
    kids.into_iter().collect()
}

async fn create(c: &Client, path: &str, data: &[u8]) -> Result<String, ClientError> {
    c.create(path, Some(data), None, 0, 0).await.map(|(p, _)| p)
}

#[test]
fn writes_through_every_member_are_read_on_every_member_after_sync() {
    let mut e = Ensemble::new(3, 0);
    e.start_all();
    let leader = e.wait_for_roles();
    let modes: Vec<String> = (0..3).map(|i| e.mode(i).expect("serving")).collect();
    assert_eq!(modes.iter().filter(|m| *m == "follower").count(), 2, "{modes:?}");
    assert_eq!(modes[leader], "leader");
    runtime().block_on(async {
        for i in 0..3 {
            let c = connect(&e.members[i].hostport(), &e).await;
            create(&c, &format!("/via{}", i + 1), format!("written through member {}", i + 1).as_bytes())
                .await
                .unwrap_or_else(|err| panic!("create through member {}: {err}\n{}", i + 1, e.logs()));
            let _ = c.close().await;
        }
        for i in 0..3 {
            let c = connect(&e.members[i].hostport(), &e).await;
            c.sync("/").await.expect("sync");
            for j in 0..3 {
                let (data, stat) = c.get_data(&format!("/via{}", j + 1), false).await.expect("read");
                assert_eq!(data.as_deref(), Some(format!("written through member {}", j + 1).as_bytes()));
                assert!(stat.czxid >> 32 >= 1, "zxids carry the leader's epoch: 0x{:x}", stat.czxid);
            }
            let _ = c.close().await;
        }
        // Linearizable reads (asked for with addauth): a value written through one member is
        // read through another with no sync in between.
        let writer = connect(&e.members[leader].hostport(), &e).await;
        let reader = connect(&e.members[(leader + 1) % 3].hostport(), &e).await;
        reader.add_auth("linearizable", Some(b"on")).await.expect("addauth linearizable");
        for n in 0..50 {
            let v = format!("v{n}");
            writer.set_data("/via1", Some(v.as_bytes()), -1).await.expect("setData");
            let (data, _) = reader.get_data("/via1", false).await.expect("linearizable read");
            assert_eq!(data.as_deref(), Some(v.as_bytes()), "a linearizable read missed a completed write");
        }
    });
}

/// Writers that create `/w/<writer>-<n>` through the members in turn, reconnecting after any
/// error; the paths whose create was acknowledged are kept.
struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn start_load(rt: &tokio::runtime::Runtime, hosts: Vec<String>, writers: usize) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let tasks = (0..writers)
        .map(|w| {
            let (stop, acked, hosts) = (stop.clone(), acked.clone(), hosts.clone());
            rt.spawn(async move {
                let mut n = 0u64;
                let mut next = w;
                let mut client: Option<Client> = None;
                // Bounded: at most 100,000 attempts per writer, paced to about 500 writes a
                // second each so the load lasts through the test's kills and restarts.
                for _ in 0..100_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let c = match &client {
                        Some(c) if !c.is_closed() => c,
                        _ => {
                            next = (next + 1) % hosts.len();
                            match tokio::time::timeout(Duration::from_secs(5), Client::connect(&hosts[next], opts()))
                                .await
                            {
                                Ok(Ok((c, _))) => client.insert(c),
                                _ => {
                                    tokio::time::sleep(Duration::from_millis(50)).await;
                                    continue;
                                }
                            }
                        }
                    };
                    n += 1;
                    let path = format!("/w/{w}-{n}");
                    match tokio::time::timeout(Duration::from_secs(10), create(c, &path, b"x")).await {
                        Ok(Ok(_)) => {
                            acked.lock().unwrap().push(path);
                            tokio::time::sleep(Duration::from_millis(2)).await;
                        }
                        // Not acknowledged (it may or may not have committed): move on.
                        _ => client = None,
                    }
                }
            })
        })
        .collect();
    Load { stop, acked, tasks }
}

impl Load {
    fn acked(&self) -> usize {
        self.acked.lock().unwrap().len()
    }
    fn wait_for(&self, n: usize, e: &Ensemble) {
        let until = Instant::now() + DEADLINE;
        while self.acked() < n {
            assert!(Instant::now() < until, "only {} writes acknowledged, wanted {n}\n{}", self.acked(), e.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    fn finish(self, rt: &tokio::runtime::Runtime) -> BTreeSet<String> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = rt.block_on(t);
        }
        let acked = self.acked.lock().unwrap();
        acked.iter().map(|p| p.trim_start_matches("/w/").to_owned()).collect()
    }
}

fn make_parent(rt: &tokio::runtime::Runtime, e: &Ensemble, path: &str) {
    rt.block_on(async {
        let c = connect(&e.members[0].hostport(), e).await;
        create(&c, path, b"").await.expect("create the parent");
        let _ = c.close().await;
    });
}

/// Every member holds every acknowledged write, and all hold the same children.
fn assert_all_hold(rt: &tokio::runtime::Runtime, e: &Ensemble, acked: &BTreeSet<String>) {
    let mut seen = Vec::new();
    for i in 0..e.members.len() {
        let kids = rt.block_on(children_after_sync(e, i, "/w"));
        let missing: Vec<&String> = acked.difference(&kids).collect();
        assert!(missing.is_empty(), "member {} lost acknowledged writes {missing:?}\n{}", i + 1, e.logs());
        seen.push(kids);
    }
    for (i, kids) in seen.iter().enumerate().skip(1) {
        assert_eq!(kids, &seen[0], "member {} and member 1 differ", i + 1);
    }
}

#[test]
fn killing_the_leader_under_write_load_loses_no_acknowledged_write_and_it_rejoins_by_diff() {
    let rt = runtime();
    let mut e = Ensemble::new(3, 0);
    e.start_all();
    let mut leader = e.wait_for_roles();
    make_parent(&rt, &e, "/w");
    let hosts: Vec<String> = e.members.iter().map(|m| m.hostport()).collect();
    let load = start_load(&rt, hosts, 3);
    load.wait_for(60, &e);
    // Three leaders in a row die under load; each comes back and catches up.
    for _ in 0..3 {
        let old = leader;
        e.members[old].kill();
        let at_kill = load.acked();
        leader = e.wait_for_roles();
        assert_ne!(leader, old);
        load.wait_for(at_kill + 60, &e);
        e.start(old);
        e.wait_for_roles();
        // From its log: DIFF, or TRUNC first when it had logged a txn no quorum did (the
        // kill may land between its own fsync and the followers' ACKs); never a whole SNAP.
        let id = e.members[old].spec.id;
        let log = e.members[leader].log();
        assert!(
            log.contains(&format!("syncing learner {id}: Diff"))
                || log.contains(&format!("syncing learner {id}: Trunc")),
            "the old leader should rejoin by DIFF or TRUNC\n{}",
            e.logs()
        );
        load.wait_for(load.acked() + 30, &e);
    }
    let acked = load.finish(&rt);
    assert_all_hold(&rt, &e, &acked);
}

#[test]
fn a_follower_with_a_wiped_data_dir_catches_up_by_snap() {
    let rt = runtime();
    let mut e = Ensemble::new(3, 0);
    e.start_all();
    let leader = e.wait_for_roles();
    let f = (leader + 1) % 3;
    make_parent(&rt, &e, "/w");
    let load = start_load(&rt, vec![e.members[leader].hostport()], 1);
    load.wait_for(30, &e);
    e.members[f].kill();
    e.wipe(f);
    load.wait_for(load.acked() + 30, &e);
    let acked = load.finish(&rt);
    e.start(f);
    e.wait_for_roles();
    assert_all_hold(&rt, &e, &acked);
    let id = e.members[f].spec.id;
    assert!(e.members[leader].log().contains(&format!("syncing learner {id}: Snap")), "{}", e.logs());
}

#[test]
fn a_txn_no_quorum_logged_is_truncated_away() {
    let rt = runtime();
    let mut e = Ensemble::new(3, 0);
    e.start_all();
    let leader = e.wait_for_roles();
    make_parent(&rt, &e, "/w");
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    // The leader alone logs a create no quorum will ever log: its client gets no answer.
    let c = rt.block_on(connect(&e.members[leader].hostport(), &e));
    for &f in &followers {
        e.members[f].kill();
    }
    let orphan =
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(2), create(&c, "/w/orphan", b"")).await });
    assert!(!matches!(orphan, Ok(Ok(_))), "a write with no quorum was acknowledged: {orphan:?}");
    e.wait_not_serving(leader);
    e.members[leader].kill();
    // The followers elect a new leader of a later epoch; the old leader rejoins before any
    // write of that epoch, so its extra txn lies past the new leader's last: TRUNC (after a
    // write of the new epoch ZooKeeper's rule, which we follow, sends SNAP instead).
    for &f in &followers {
        e.start(f);
    }
    e.wait_for_roles();
    e.start(leader);
    e.wait_for_roles();
    let load = start_load(&rt, e.members.iter().map(|m| m.hostport()).collect(), 1);
    load.wait_for(10, &e);
    let acked = load.finish(&rt);
    assert_all_hold(&rt, &e, &acked);
    for i in 0..3 {
        let kids = rt.block_on(children_after_sync(&e, i, "/w"));
        assert!(!kids.contains("orphan"), "member {} kept the unacknowledged txn\n{}", i + 1, e.logs());
    }
    let id = e.members[leader].spec.id;
    assert!(e.logs().contains(&format!("syncing learner {id}: Trunc")), "{}", e.logs());
}

/// Whether member `i` refuses a create of `/minority` (or cannot be reached, or does not
/// answer within 5 s).
fn refuses_a_write(rt: &tokio::runtime::Runtime, e: &Ensemble, i: usize) -> bool {
    rt.block_on(async {
        match tokio::time::timeout(Duration::from_secs(5), Client::connect(&e.members[i].hostport(), opts())).await {
            Ok(Ok((c, _))) => tokio::time::timeout(Duration::from_secs(5), create(&c, "/minority", b""))
                .await
                .map_or(true, |r| r.is_err()),
            _ => true,
        }
    })
}

#[test]
fn a_minority_stops_serving_and_refuses_writes() {
    let rt = runtime();
    let mut e = Ensemble::new(3, 0);
    e.start_all();
    let leader = e.wait_for_roles();
    let survivor = (leader + 1) % 3;
    for i in 0..3 {
        if i != survivor {
            e.members[i].kill();
        }
    }
    e.wait_not_serving(survivor);
    assert!(refuses_a_write(&rt, &e, survivor), "a lone member of three took a write");
}

/// Five voters, three SIGKILLed (the leader among them): the two left are a minority, serve
/// nobody and take no write; once a third voter returns, the three elect, serve, and the write
/// the minority was offered does not exist.
#[test]
fn two_voters_of_five_refuse_writes_until_a_third_returns() {
    let rt = runtime();
    let mut e = Ensemble::new(5, 0);
    e.start_all();
    let leader = e.wait_for_roles();
    let minority = [(leader + 1) % 5, (leader + 2) % 5];
    let killed: Vec<usize> = (0..5).filter(|i| !minority.contains(i)).collect();
    for i in &killed {
        e.members[*i].kill();
    }
    for i in minority {
        e.wait_not_serving(i);
    }
    for i in minority {
        assert!(refuses_a_write(&rt, &e, i), "member {} of a two-member minority took a write\n{}", i + 1, e.logs());
    }
    e.start(killed[0]);
    let skip: Vec<usize> = killed[1..].to_vec();
    e.wait_for_roles_without(&skip);
    rt.block_on(async {
        let c = connect(&e.members[minority[0]].hostport(), &e).await;
        create(&c, "/majority", b"").await.expect("a write once three of five serve");
        c.sync("/").await.expect("sync");
        assert!(c.exists("/minority", false).await.expect("exists").is_none(), "the minority's write exists");
        let _ = c.close().await;
    });
}

/// `linearizableReads=true` in zoo.cfg: every read on a follower reflects a write completed
/// through another member just before, with no sync and no per-connection opt-in.
#[test]
fn linearizable_reads_configured_for_the_server_see_every_completed_write() {
    let rt = runtime();
    let mut e = Ensemble::new(3, 0);
    e.add_config("linearizableReads=true");
    e.start_all();
    let leader = e.wait_for_roles();
    rt.block_on(async {
        let writer = connect(&e.members[leader].hostport(), &e).await;
        let reader = connect(&e.members[(leader + 1) % 3].hostport(), &e).await;
        create(&writer, "/lin", b"v0").await.expect("create");
        for n in 1..=100 {
            let v = format!("v{n}");
            writer.set_data("/lin", Some(v.as_bytes()), -1).await.expect("setData");
            let (data, _) = reader.get_data("/lin", false).await.expect("read");
            assert_eq!(data.as_deref(), Some(v.as_bytes()), "a read on a follower missed a completed write");
        }
    });
}

#[test]
fn an_observer_serves_reads_and_writes_and_never_votes() {
    let rt = runtime();
    let mut e = Ensemble::new(3, 1);
    e.start_all();
    let leader = e.wait_for_roles();
    assert_eq!(e.mode(3).as_deref(), Some("observer"));
    rt.block_on(async {
        let c = connect(&e.members[3].hostport(), &e).await;
        create(&c, "/from-observer", b"o").await.expect("a write through the observer");
        let (data, _) = c.get_data("/from-observer", false).await.expect("read on the observer");
        assert_eq!(data.as_deref(), Some(&b"o"[..]));
        let _ = c.close().await;
        let c = connect(&e.members[leader].hostport(), &e).await;
        c.sync("/").await.expect("sync");
        assert!(c.exists("/from-observer", false).await.expect("exists").is_some());
    });
    // Two voters gone: the observer and one voter are no quorum, so nobody serves.
    let voter = (leader + 1) % 3;
    for i in 0..3 {
        if i != voter {
            e.members[i].kill();
        }
    }
    e.wait_not_serving(voter);
    e.wait_not_serving(3);
}

/// Waits until `cond` holds, polling (bounded by the deadline).
async fn eventually<F, Fut>(what: &str, e: &Ensemble, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + DEADLINE;
    while !cond().await {
        assert!(Instant::now() < until, "{what} did not happen within {DEADLINE:?}\n{}", e.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn sessions_are_global_kept_alive_through_followers_movable_and_expired_everywhere() {
    let rt = runtime();
    let mut e = Ensemble::new(3, 0);
    e.start_all();
    let leader = e.wait_for_roles();
    let (f1, f2) = ((leader + 1) % 3, (leader + 2) % 3);
    rt.block_on(async {
        let short = ConnectOptions { timeout_ms: 2_000, ..opts() };
        let (owner, _) = Client::connect(&e.members[f1].hostport(), short.clone()).await.expect("connect");
        assert_eq!(owner.timeout_ms, 2_000);
        owner.create("/eph", Some(b"mine"), None, 1, 0).await.expect("ephemeral");
        let (watcher, mut events) = Client::connect(&e.members[f2].hostport(), opts()).await.expect("connect");
        watcher.sync("/").await.expect("sync");
        assert!(watcher.exists("/eph", true).await.expect("exists + watch").is_some());
        // Only its follower hears from the owner: the leader keeps the session alive from the
        // touches that follower reports in its PING replies. Three timeouts pass.
        tokio::time::sleep(Duration::from_millis(6_000)).await;
        assert!(owner.exists("/eph", false).await.expect("owner still connected").is_some());
        // The session moves to another member with its id and password; its ephemeral stays.
        let moved_opts = ConnectOptions { session_id: owner.session_id, password: owner.password.clone(), ..short };
        drop(owner);
        let (moved, _) = Client::connect(&e.members[leader].hostport(), moved_opts).await.expect("move the session");
        assert!(moved.timeout_ms > 0, "the moved session was refused");
        tokio::time::sleep(Duration::from_millis(4_000)).await;
        assert!(moved.exists("/eph", false).await.expect("exists").is_some(), "{}", e.logs());
        // The client vanishes without closing: the leader expires the session and its
        // ephemeral goes on every member, firing the watch set on another member.
        drop(moved);
        for i in 0..3 {
            let c = connect(&e.members[i].hostport(), &e).await;
            eventually("the expired session's ephemeral vanishing", &e, || async {
                c.sync("/").await.is_ok() && c.exists("/eph", false).await.ok() == Some(None)
            })
            .await;
        }
        let fired = tokio::time::timeout(DEADLINE, async {
            while let Some(ev) = events.recv().await {
                if ev.path.as_deref() == Some("/eph") {
                    return ev.event_type;
                }
            }
            0
        })
        .await
        .expect("the watch fired");
        assert_eq!(fired, 2, "NodeDeleted");

        // setWatches after a move: a watch set through one member, a change made while its
        // client is away, and the watch re-registered on another member fires at once.
        let writer = connect(&e.members[leader].hostport(), &e).await;
        writer.create("/moving", Some(b"0"), None, 0, 0).await.expect("create");
        let (away, _) = Client::connect(&e.members[f1].hostport(), opts()).await.expect("connect");
        away.sync("/").await.expect("sync");
        away.get_data("/moving", true).await.expect("get + watch");
        let (seen, id, password) = (away.last_zxid_seen(), away.session_id, away.password.clone());
        drop(away);
        writer.set_data("/moving", Some(b"1"), -1).await.expect("set while the client is away");
        let (tx, mut missed) = tokio::sync::mpsc::unbounded_channel();
        let back_opts = ConnectOptions { session_id: id, password, last_zxid_seen: seen, events: Some(tx), ..opts() };
        let (back, _) = Client::connect(&e.members[f2].hostport(), back_opts).await.expect("reconnect elsewhere");
        let rewatch = SetWatches2 { relative_zxid: seen, data_watches: vec!["/moving".into()], ..Default::default() };
        back.set_watches(rewatch).await.expect("setWatches2");
        let fired = tokio::time::timeout(DEADLINE, async {
            while let Some(ev) = missed.recv().await {
                if ev.path.as_deref() == Some("/moving") {
                    return ev.event_type;
                }
            }
            0
        })
        .await
        .expect("the missed change fired after setWatches");
        assert_eq!(fired, 3, "NodeDataChanged");
    });
}

#[test]
fn a_sync_on_a_paused_old_leader_never_returns_a_stale_read() {
    // Apache ZooKeeper 3.8's leader answers sync without confirming it still leads, so a
    // client of a paused-then-resumed leader can read stale data after sync. Ours confirms
    // with a quorum first: the client gets the new value or an error, never the old one.
    let rt = runtime();
    let mut e = Ensemble::new(3, 0);
    e.start_all();
    let old = e.wait_for_roles();
    rt.block_on(async {
        let seed = connect(&e.members[old].hostport(), &e).await;
        create(&seed, "/reg", b"old").await.expect("create");
        let stale_side = connect(&e.members[old].hostport(), &e).await;
        e.members[old].pause(true);
        let new = tokio::task::block_in_place(|| e.wait_for_roles_without(&[old]));
        assert_ne!(new, old);
        let writer = connect(&e.members[new].hostport(), &e).await;
        writer.set_data("/reg", Some(b"new"), -1).await.expect("write through the new leader");
        // The sync and the read reach the old leader's socket while it is still paused, so
        // they are the first thing it sees when it resumes (before its own timers).
        let stale_side = std::sync::Arc::new(stale_side);
        let client = stale_side.clone();
        let read = tokio::spawn(async move {
            tokio::time::timeout(Duration::from_secs(30), async {
                let (s, r) = tokio::join!(client.sync("/"), client.get_data("/reg", false));
                s?;
                r
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        e.members[old].pause(false);
        let read = read.await.expect("reader task");
        // Connection loss or a timeout is fine: the old leader refused to vouch for itself.
        if let Ok(Ok((data, _))) = read {
            assert_eq!(data.as_deref(), Some(&b"new"[..]), "a stale read after sync");
        }
    });
}

#[test]
fn a_stalled_quorum_slows_a_pipelining_client_instead_of_queueing_its_writes() {
    // Both followers stopped: the leader cannot commit. A client that pipelines 500 writes is
    // read only up to its connection's budget (64 outstanding requests); the rest wait in the
    // client and in socket buffers, not in the server. Once the followers resume, all commit.
    stalled_quorum_bounds_pipelined_writes(false);
}

#[test]
fn a_stalled_leader_slows_a_pipelining_client_of_a_follower_too() {
    // The same through a follower: its writes are forwarded to a leader that is paused (for
    // less than syncLimit, so nobody gives up); the follower reads no more than the
    // connection's budget from its client meanwhile.
    stalled_quorum_bounds_pipelined_writes(true);
}

/// 500 pipelined setData through the leader (followers paused) or through a follower (leader
/// paused): that member holds at most 64 of them outstanding while nothing commits, and the
/// writes commit once the paused members resume.
fn stalled_quorum_bounds_pipelined_writes(through_follower: bool) {
    let rt = runtime();
    let mut e = Ensemble::new(3, 0);
    e.start_all();
    let leader = e.wait_for_roles();
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let (client_at, paused) = match through_follower {
        true => (followers[0], vec![leader]),
        false => (leader, followers.clone()),
    };
    rt.block_on(async {
        let c = Arc::new(connect(&e.members[client_at].hostport(), &e).await);
        c.create("/pipelined", Some(b"0"), None, 0, 0).await.expect("create");
        for &p in &paused {
            e.members[p].pause(true);
        }
        let writes: Vec<_> = (0..500)
            .map(|i| {
                let c = c.clone();
                tokio::spawn(async move { c.set_data("/pipelined", Some(format!("{i}").as_bytes()), -1).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(700)).await;
        let mntr = ensemble_support::four_letter(e.members[client_at].addr(), "mntr").unwrap_or_default();
        let outstanding: u64 = mntr
            .lines()
            .find_map(|l| l.strip_prefix("zk_outstanding_requests\t"))
            .and_then(|v| v.trim().parse().ok())
            .expect("mntr reports outstanding requests");
        for &p in &paused {
            e.members[p].pause(false);
        }
        assert!(outstanding > 0, "the writes should be waiting for the quorum\n{mntr}");
        assert!(outstanding <= 64, "{outstanding} requests queued in the server for one connection\n{mntr}");
        let mut ok = 0;
        for w in writes {
            match tokio::time::timeout(DEADLINE, w).await.expect("every write ends").expect("task") {
                Ok(_) => ok += 1,
                // If a member gave up before the paused ones came back, the connection closed.
                Err(ClientError::ConnectionLoss(_)) => {}
                Err(other) => panic!("a write failed with {other}\n{}", e.logs()),
            }
        }
        assert!(ok > 0, "nothing committed after the paused members resumed\n{}", e.logs());
    });
}
