//! Crash durability: the `zabkeeper` binary runs as a child process, takes concurrent writes
//! from several sessions, and is killed with SIGKILL while writes are in flight, many times
//! over the same data directory. After every restart the test checks that everything that was
//! acknowledged survived (creates, sequential creates, setData counters, two-node multis), that
//! multis are all-or-nothing, that sequential names never repeat, and that the tree is
//! self-consistent (child counts, cversions, getAllChildrenNumber, `mntr` znode count).
//!
//! Two more tests damage the txn log between runs: a torn tail in the newest segment (the
//! server must start and keep every acknowledged write) and a flipped byte inside an older
//! complete record (the server must refuse to start, naming the file).
//!
//! The kill points are chosen by a seeded generator (`CRASH_SEED` overrides the seed) and are
//! counted in acknowledged operations rather than in wall-clock time, so a loaded machine
//! changes the timing but not the shape of the test. Every wait is a poll with a deadline.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zookeeper_client as zk;

mod crash_support;
use crash_support::*;

/// Concurrent writer sessions per round.
const WRITERS: usize = 8;
/// Crash rounds of the main test.
const ROUNDS: usize = 12;
/// Any single client operation.
const OP_TIMEOUT: Duration = Duration::from_secs(15);
/// Acknowledged operations before a kill: uniformly in this range (seeded).
const ACKS_BEFORE_KILL: (u64, u64) = (40, 500);
/// The acknowledged operations a round must reach before its kill.
const ROUND_DEADLINE: Duration = Duration::from_secs(30);

/// The tests share two cores with everything else; running them one at a time keeps the
/// timings meaningful.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn seed() -> u64 {
    std::env::var("CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_c7a5_4d0b_2024)
}

/// splitmix64: small, seeded, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

// ---------------------------------------------------------------------------------------------
// What was acknowledged.

#[derive(Default)]
struct Model {
    /// Per writer: the next operation id (ids are never reused, across rounds too).
    next_id: Vec<u64>,
    /// Acknowledged `/c/...` creates and their data.
    creates: BTreeMap<String, String>,
    /// Acknowledged sequential creates: full path → data.
    seqs: BTreeMap<String, String>,
    /// Largest sequence number present at the last restart (-1: none); new ones must be above.
    seq_floor: i64,
    /// Per writer: last acknowledged and last attempted counter value of `/k/w<N>`.
    counter_acked: Vec<u64>,
    counter_attempted: Vec<u64>,
    /// Acknowledged multis, by key `<writer>-<id>`.
    multis: BTreeSet<String>,
    /// Multis whose failure (a third op hitting NodeExists) was acknowledged: never applied.
    failed_multis: BTreeSet<String>,
    /// Total acknowledged operations.
    acks: u64,
    /// Anything that went wrong while the server was supposed to be up.
    violations: Vec<String>,
}

impl Model {
    fn new() -> Model {
        Model {
            next_id: vec![1; WRITERS],
            counter_acked: vec![0; WRITERS],
            counter_attempted: vec![0; WRITERS],
            seq_floor: -1,
            ..Model::default()
        }
    }
}

/// Locks the model; a panicking test thread must not turn every writer into a second panic.
fn lock(m: &Mutex<Model>) -> std::sync::MutexGuard<'_, Model> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

fn sequential() -> zk::CreateOptions<'static> {
    zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all())
}

async fn timed<T, E: std::fmt::Debug>(what: &str, f: impl std::future::Future<Output = Result<T, E>>) -> T {
    match tokio::time::timeout(OP_TIMEOUT, f).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => panic!("{what}: {e:?}"),
        Err(_) => panic!("{what}: timed out after {OP_TIMEOUT:?}"),
    }
}

async fn connect(addr: SocketAddr) -> zk::Client {
    let deadline = Instant::now() + Duration::from_secs(20);
    let cluster = addr.to_string();
    loop {
        let c =
            zk::Client::connector().with_session_timeout(Duration::from_secs(10)).with_fail_eagerly().connect(&cluster);
        match tokio::time::timeout(Duration::from_secs(10), c).await {
            Ok(Ok(client)) => return client,
            other => {
                assert!(Instant::now() < deadline, "cannot connect to {addr}: {other:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// What to record in the model once the server acknowledged an operation.
type Record = Box<dyn FnOnce(&mut Model) + Send>;

/// One writer session: cycles through create, sequential create, setData and a two-create
/// multi, recording only what the server acknowledged, until `stop` or the first error.
async fn writer(
    w: usize,
    client: zk::Client,
    model: Arc<Mutex<Model>>,
    stop: Arc<AtomicBool>,
    inflight: Arc<AtomicUsize>,
) {
    let (opts, seq_opts) = (persistent(), sequential());
    for _ in 0..1_000_000 {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let id = {
            let mut m = lock(&model);
            let id = m.next_id[w];
            m.next_id[w] += 1;
            if id % 5 == 2 {
                m.counter_attempted[w] = id;
            }
            id
        };
        inflight.fetch_add(1, Ordering::SeqCst);
        let res: Result<Record, zk::Error> = match id % 5 {
            0 => {
                let path = format!("/c/w{w}-{id}");
                let data = format!("c{w}-{id}");
                let r = tokio::time::timeout(OP_TIMEOUT, client.create(&path, data.as_bytes(), &opts)).await;
                r.unwrap_or(Err(zk::Error::Timeout)).map(|_| -> Record {
                    Box::new(move |m: &mut Model| {
                        m.creates.insert(path, data);
                    })
                })
            }
            1 => {
                let data = format!("s{w}-{id}");
                let r = tokio::time::timeout(OP_TIMEOUT, client.create("/s/q-", data.as_bytes(), &seq_opts)).await;
                r.unwrap_or(Err(zk::Error::Timeout)).map(|(_, seq)| -> Record {
                    Box::new(move |m: &mut Model| {
                        let n = seq.into_i64();
                        let path = format!("/s/q-{seq}");
                        if n <= m.seq_floor {
                            m.violations.push(format!(
                                "sequential create got {path}, not above {} present at restart",
                                m.seq_floor
                            ));
                        }
                        if let Some(old) = m.seqs.insert(path.clone(), data) {
                            m.violations.push(format!("sequential name {path} handed out twice (first for {old})"));
                        }
                    })
                })
            }
            2 => {
                let r = tokio::time::timeout(
                    OP_TIMEOUT,
                    client.set_data(&format!("/k/w{w}"), id.to_string().as_bytes(), None),
                )
                .await;
                r.unwrap_or(Err(zk::Error::Timeout)).map(|_| -> Record {
                    Box::new(move |m: &mut Model| {
                        m.counter_acked[w] = m.counter_acked[w].max(id);
                    })
                })
            }
            3 => {
                // Fails at its last op, so the first two must be rolled back (and stay so
                // after replaying the logged error txn).
                let key = format!("{w}-{id}");
                let mut mw = client.new_multi_writer();
                mw.add_create(&format!("/m/a-{key}"), format!("a{key}").as_bytes(), &opts).expect("add_create");
                mw.add_create(&format!("/m/b-{key}"), format!("b{key}").as_bytes(), &opts).expect("add_create");
                mw.add_create("/k", b"", &opts).expect("add_create");
                let r = tokio::time::timeout(OP_TIMEOUT, mw.commit()).await;
                match r {
                    Ok(Err(zk::MultiWriteError::OperationFailed { index: 2, source: zk::Error::NodeExists })) => {
                        Ok(Box::new(move |m: &mut Model| {
                            m.failed_multis.insert(key);
                        }) as Record)
                    }
                    Ok(Ok(results)) => Err(zk::Error::UnexpectedError(format!("failing multi returned {results:?}"))),
                    Ok(Err(e)) => Err(e.into()),
                    Err(_) => Err(zk::Error::Timeout),
                }
            }
            _ => {
                let key = format!("{w}-{id}");
                let mut mw = client.new_multi_writer();
                mw.add_create(&format!("/m/a-{key}"), format!("a{key}").as_bytes(), &opts).expect("add_create");
                mw.add_create(&format!("/m/b-{key}"), format!("b{key}").as_bytes(), &opts).expect("add_create");
                let r = tokio::time::timeout(OP_TIMEOUT, mw.commit()).await;
                match r {
                    Ok(Ok(results)) if results.len() == 2 => Ok(Box::new(move |m: &mut Model| {
                        m.multis.insert(key);
                    }) as Record),
                    Ok(Ok(results)) => Err(zk::Error::UnexpectedError(format!("multi returned {results:?}"))),
                    Ok(Err(e)) => Err(e.into()),
                    Err(_) => Err(zk::Error::Timeout),
                }
            }
        };
        inflight.fetch_sub(1, Ordering::SeqCst);
        let mut m = lock(&model);
        match res {
            Ok(record) => {
                record(&mut m);
                m.acks += 1;
            }
            Err(e) => {
                if !stop.load(Ordering::SeqCst) {
                    m.violations.push(format!("writer {w} op {id} failed while the server was up: {e}"));
                }
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Verification after a restart.

fn parse_multi(name: &str) -> Option<(char, &str)> {
    let (kind, key) = name.split_once('-')?;
    match kind {
        "a" => Some(('a', key)),
        "b" => Some(('b', key)),
        _ => None,
    }
}

/// Checks the recovered tree against what was acknowledged; returns the number of znodes.
async fn verify(client: &zk::Client, addr: SocketAddr, model: &mut Model) -> usize {
    let mut problems = Vec::new();

    // Every acknowledged create exists with its data; every /c child is well-formed.
    let c_children: BTreeSet<String> = timed("list /c", client.list_children("/c")).await.into_iter().collect();
    for path in model.creates.keys() {
        if !c_children.contains(path.trim_start_matches("/c/")) {
            problems.push(format!("acknowledged create {path} is missing"));
        }
    }
    let gets: Vec<_> = c_children.iter().map(|n| (n.clone(), client.get_data(&format!("/c/{n}")))).collect();
    for (name, f) in gets {
        let (data, _) = timed("get /c child", f).await;
        let want = format!("c{}", name.trim_start_matches('w'));
        if data != want.as_bytes() {
            problems.push(format!("/c/{name} holds {:?}, expected {want:?}", String::from_utf8_lossy(&data)));
        }
    }

    // Sequential creates: acknowledged ones present with their data, no data twice.
    let s_children: Vec<String> = timed("list /s", client.list_children("/s")).await;
    let gets: Vec<_> = s_children.iter().map(|n| (n.clone(), client.get_data(&format!("/s/{n}")))).collect();
    let mut s_data: BTreeMap<String, String> = BTreeMap::new();
    let mut seen_data = BTreeSet::new();
    let mut max_seq = -1i64;
    for (name, f) in gets {
        let (data, _) = timed("get /s child", f).await;
        let data = String::from_utf8_lossy(&data).into_owned();
        if !seen_data.insert(data.clone()) {
            problems.push(format!("sequential data {data:?} stored twice"));
        }
        match name.strip_prefix("q-").and_then(|n| n.parse::<i64>().ok()) {
            Some(n) => max_seq = max_seq.max(n),
            None => problems.push(format!("unexpected sequential name /s/{name}")),
        }
        s_data.insert(format!("/s/{name}"), data);
    }
    for (path, data) in &model.seqs {
        match s_data.get(path) {
            Some(d) if d == data => {}
            Some(d) => problems.push(format!("acknowledged {path} holds {d:?}, expected {data:?}")),
            None => problems.push(format!("acknowledged sequential create {path} ({data}) is missing")),
        }
    }
    let (_, s_stat) = timed("get /s", client.get_data("/s")).await;
    if i64::from(s_stat.cversion) <= max_seq {
        problems.push(format!("/s cversion {} is not above the largest sequence number {max_seq}", s_stat.cversion));
    }
    model.seq_floor = model.seq_floor.max(max_seq);

    // Counters: at least the last acknowledged value, at most the last attempted one.
    for w in 0..WRITERS {
        let path = format!("/k/w{w}");
        let (data, _) = timed("get counter", client.get_data(&path)).await;
        let v: u64 = String::from_utf8_lossy(&data).parse().unwrap_or(u64::MAX);
        if v < model.counter_acked[w] || v > model.counter_attempted[w] {
            problems.push(format!(
                "{path} = {v}, expected within [{}, {}] (acknowledged, attempted)",
                model.counter_acked[w], model.counter_attempted[w]
            ));
        }
    }

    // Multis: a-K exists iff b-K exists; acknowledged ones exist; data well-formed.
    let m_children: Vec<String> = timed("list /m", client.list_children("/m")).await;
    let (mut a_keys, mut b_keys) = (BTreeSet::new(), BTreeSet::new());
    for name in &m_children {
        match parse_multi(name) {
            Some(('a', k)) => a_keys.insert(k.to_string()),
            Some((_, k)) => b_keys.insert(k.to_string()),
            None => {
                problems.push(format!("unexpected /m/{name}"));
                false
            }
        };
    }
    for k in a_keys.symmetric_difference(&b_keys) {
        problems.push(format!("multi {k} is half-applied (a: {}, b: {})", a_keys.contains(k), b_keys.contains(k)));
    }
    for k in &model.multis {
        if !a_keys.contains(k) || !b_keys.contains(k) {
            problems.push(format!("acknowledged multi {k} is missing"));
        }
    }
    for k in &model.failed_multis {
        if a_keys.contains(k) || b_keys.contains(k) {
            problems.push(format!("multi {k} failed (acknowledged) but some of its creates exist"));
        }
    }
    let gets: Vec<_> = m_children.iter().map(|n| (n.clone(), client.get_data(&format!("/m/{n}")))).collect();
    for (name, f) in gets {
        let (data, _) = timed("get /m child", f).await;
        let want = name.replacen('-', "", 1);
        if data != want.as_bytes() {
            problems.push(format!("/m/{name} holds {:?}, expected {want:?}", String::from_utf8_lossy(&data)));
        }
    }

    // Structure: child counts, cversions (no child is ever deleted, so cversion equals the
    // number of children), getAllChildrenNumber and mntr agree.
    let mut top: Vec<String> = timed("list /", client.list_children("/")).await;
    top.sort();
    let mut expected_all = 0usize;
    for name in &top {
        let path = format!("/{name}");
        let n = timed("getAllChildrenNumber", client.count_descendants_number(&path)).await;
        expected_all += 1 + n;
        if name == "zookeeper" {
            continue;
        }
        let (children, stat) = timed("get_children", client.get_children(&path)).await;
        if n != children.len() || stat.num_children as usize != children.len() {
            problems.push(format!(
                "{path}: {} children listed, numChildren {}, getAllChildrenNumber {n}",
                children.len(),
                stat.num_children
            ));
        }
        if stat.cversion as usize != children.len() {
            problems.push(format!(
                "{path}: cversion {} but {} children were ever created",
                stat.cversion,
                children.len()
            ));
        }
    }
    let all = timed("getAllChildrenNumber /", client.count_descendants_number("/")).await;
    if all != expected_all {
        problems.push(format!("getAllChildrenNumber(/) = {all}, the top-level subtrees sum to {expected_all}"));
    }
    let mntr = tokio::task::block_in_place(|| four_letter(addr, "mntr"));
    let znodes: Option<usize> =
        mntr.lines().find_map(|l| l.strip_prefix("zk_znode_count\t")).and_then(|v| v.trim().parse().ok());
    if znodes != Some(all + 1) {
        problems.push(format!("mntr zk_znode_count {znodes:?}, expected {} (descendants of / plus the root)", all + 1));
    }
    assert!(problems.is_empty(), "after restart:\n  {}", problems.join("\n  "));
    all + 1
}

// ---------------------------------------------------------------------------------------------
// Rounds.

#[derive(Default)]
struct Timings {
    restarts: Vec<Duration>,
    acks_per_round: Vec<u64>,
    inflight_at_kill: Vec<usize>,
    verify: Vec<Duration>,
    znodes: usize,
}

impl Timings {
    fn report(&self, name: &str) {
        let mut r = self.restarts.clone();
        r.sort();
        let max_verify = self.verify.iter().max().copied().unwrap_or_default();
        println!(
            "{name}: {} starts, restart-to-serving min {:?} median {:?} max {:?}; acks per round {:?}; \
             writes in flight at each kill {:?}; slowest verification {max_verify:?}; final znodes {}",
            r.len(),
            r.first().copied().unwrap_or_default(),
            r.get(r.len() / 2).copied().unwrap_or_default(),
            r.last().copied().unwrap_or_default(),
            self.acks_per_round,
            self.inflight_at_kill,
            self.znodes
        );
    }
}

/// Starts the server, verifies the model, and (on a fresh directory) creates the parents.
async fn start_and_verify(dir: &Path, model: &Arc<Mutex<Model>>, t: &mut Timings) -> (Server, zk::Client) {
    let (server, took) = tokio::task::block_in_place(|| start(dir));
    t.restarts.push(took);
    let client = connect(server.addr).await;
    if timed("exists /c", client.check_stat("/c")).await.is_none() {
        for p in ["/c", "/s", "/k", "/m"] {
            timed("create parent", client.create(p, b"", &persistent())).await;
        }
        for w in 0..WRITERS {
            timed("create counter", client.create(&format!("/k/w{w}"), b"0", &persistent())).await;
        }
    }
    let began = Instant::now();
    let mut m = std::mem::take(&mut *lock(model));
    t.znodes = verify(&client, server.addr, &mut m).await;
    *lock(model) = m;
    t.verify.push(began.elapsed());
    (server, client)
}

/// Runs `rounds` crash rounds on `dir`: start, verify, concurrent writes, SIGKILL mid-write.
async fn crash_rounds(dir: &Path, model: &Arc<Mutex<Model>>, rounds: usize, rng: &mut Rng, t: &mut Timings) {
    for round in 0..rounds {
        let (mut server, check) = start_and_verify(dir, model, t).await;
        drop(check);
        let stop = Arc::new(AtomicBool::new(false));
        let inflight = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let client = connect(server.addr).await;
            tasks.push(tokio::spawn(writer(w, client, model.clone(), stop.clone(), inflight.clone())));
        }
        let start_acks = lock(model).acks;
        let target = start_acks + rng.range(ACKS_BEFORE_KILL.0, ACKS_BEFORE_KILL.1);
        let deadline = Instant::now() + ROUND_DEADLINE;
        loop {
            let (violations, acks) = {
                let m = lock(model);
                (m.violations.clone(), m.acks)
            };
            assert!(violations.is_empty(), "round {round}:\n  {}", violations.join("\n  "));
            if acks >= target {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: only {} of {} acknowledged writes within {ROUND_DEADLINE:?}; stderr:\n{}",
                lock(model).acks - start_acks,
                target - start_acks,
                server.stderr()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        stop.store(true, Ordering::SeqCst);
        t.inflight_at_kill.push(inflight.load(Ordering::SeqCst));
        server.kill();
        // Writers end at their next check of `stop` or with their in-flight op's error.
        let deadline = tokio::time::Instant::now() + OP_TIMEOUT + Duration::from_secs(5);
        for task in tasks {
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                panic!("round {round}: a writer did not finish after the kill");
            }
        }
        let (violations, acks) = {
            let m = lock(model);
            (m.violations.clone(), m.acks)
        };
        assert!(violations.is_empty(), "round {round}:\n  {}", violations.join("\n  "));
        t.acks_per_round.push(acks - start_acks);
    }
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_repeated_sigkill() {
    let _serial = SERIAL.lock().await;
    let began = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let model = Arc::new(Mutex::new(Model::new()));
    let mut rng = Rng(seed());
    let mut t = Timings::default();
    crash_rounds(dir.path(), &model, ROUNDS, &mut rng, &mut t).await;
    let (mut server, _client) = start_and_verify(dir.path(), &model, &mut t).await;
    server.kill();
    {
        let m = lock(&model);
        println!(
            "acknowledged: {} creates, {} sequential, {} multis, {} failed multis, {} total ops; {} log segments left",
            m.creates.len(),
            m.seqs.len(),
            m.multis.len(),
            m.failed_multis.len(),
            m.acks,
            segments(dir.path()).len()
        );
    }
    t.report("sigkill");
    println!("sigkill test took {:?}", began.elapsed());
    for (i, d) in t.restarts.iter().enumerate() {
        assert!(*d < START_DEADLINE, "start {i} took {d:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_log_tail_is_repaired_and_acknowledged_writes_survive() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let model = Arc::new(Mutex::new(Model::new()));
    let mut rng = Rng(seed() ^ 0x7041);
    let mut t = Timings::default();
    crash_rounds(dir.path(), &model, 3, &mut rng, &mut t).await;

    // A quiet server; one last acknowledged write (not counted: the torn record may be it),
    // then SIGKILL with nothing in flight.
    let (mut server, client) = start_and_verify(dir.path(), &model, &mut t).await;
    timed("create marker", client.create("/torn-marker", b"torn", &persistent())).await;
    server.kill();
    drop(client);

    // Cut the newest segment inside its last record. Everything in that record came after
    // the last acknowledged counted write, so no counted write may be lost.
    let seg = segments(dir.path()).pop().expect("a log segment");
    let recs = records(&seg);
    let last = recs.last().expect("the newest segment has records");
    let is_marker = last.payload.windows(12).any(|w| w == b"/torn-marker");
    let cut = last.end - 3;
    println!(
        "tearing {} at {cut} (record zxid 0x{:x}, {}..{}, marker record: {is_marker}; file was {} bytes)",
        seg.display(),
        last.zxid,
        last.start,
        last.end,
        std::fs::metadata(&seg).unwrap().len()
    );
    std::fs::OpenOptions::new().write(true).open(&seg).unwrap().set_len(cut).unwrap();

    let (mut server, client) = start_and_verify(dir.path(), &model, &mut t).await;
    assert!(server.stderr().contains("torn write"), "no torn-tail repair logged:\n{}", server.stderr());
    let marker = timed("exists marker", client.check_stat("/torn-marker")).await.is_some();
    println!("after the repair the marker znode {}", if marker { "survived (in a snapshot)" } else { "is gone" });
    server.kill();
    drop(client);

    // The repaired log keeps accepting writes; crash once more and check everything again.
    crash_rounds(dir.path(), &model, 2, &mut rng, &mut t).await;
    let (mut server, _client) = start_and_verify(dir.path(), &model, &mut t).await;
    server.kill();
    t.report("torn tail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_older_record_refuses_to_start_naming_the_file() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let model = Arc::new(Mutex::new(Model::new()));
    let mut rng = Rng(seed() ^ 0xf11b);
    let mut t = Timings::default();
    crash_rounds(dir.path(), &model, 2, &mut rng, &mut t).await;

    // An older complete record: the first record of the oldest segment if there are several,
    // else the first of the only one (which then must have a later valid record).
    let segs = segments(dir.path());
    let seg = segs.first().expect("a log segment").clone();
    let recs = records(&seg);
    assert!(!recs.is_empty(), "{} has no records", seg.display());
    assert!(segs.len() > 1 || recs.len() > 1, "need a record followed by another valid one");
    let rec = &recs[0];
    let at = rec.start + 16 + (rec.end - rec.start - 16) / 2;
    let f = std::fs::OpenOptions::new().read(true).write(true).open(&seg).unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x5a], at).unwrap();
    f.sync_all().unwrap();
    println!("flipped byte {at} of {} (record zxid 0x{:x}; {} segments)", seg.display(), rec.zxid, segs.len());

    let name = seg.file_name().unwrap().to_string_lossy().into_owned();
    match tokio::task::block_in_place(|| spawn_once(dir.path())) {
        Outcome::Serving(s, _) => panic!("server started on a damaged log; stderr:\n{}", s.stderr()),
        Outcome::Exited { status, stderr, after } => {
            println!("refused to start after {after:?} with {status}");
            assert!(!status.success(), "exit status {status}");
            assert!(after < START_DEADLINE);
            assert!(stderr.contains(&name), "stderr does not name {name}:\n{stderr}");
        }
    }

    // Undo the damage: the server starts again with everything acknowledged.
    f.write_all_at(&b, at).unwrap();
    f.sync_all().unwrap();
    let (mut server, _client) = start_and_verify(dir.path(), &model, &mut t).await;
    server.kill();
    t.report("flipped byte");
}
