//! A run: the ensemble in namespaces, client processes running the workloads against it, the
//! nemesis applying faults on a schedule, then everything healed, the final reads done, the
//! history written and checked.
//!
//! Files in the output directory: `history.jsonl` (every event, Jepsen's fields plus
//! `workload`), `nemesis.jsonl` (each fault: kind, what it hit, start and end in ns, and the
//! time from its end until a write succeeded again), `summary.txt` (the verdicts, operation
//! counts and latency percentiles), `latency.png` (latency over time, faults shaded) and each
//! member's `n<i>/server.log`.
//! Must never: leave a namespace, rule or process behind (the cluster's teardown runs on every
//! way out), or run an operation without recording its invocation first.

use crate::checker::{Validity, Verdict};
use crate::cluster::{Cluster, Setup, Target};
use crate::history::{self, Kind, Recorder};
use crate::nemesis::{self, Fault, Nemesis, Schedule};
use crate::workload::{Ctx, Workload};
use rand::SeedableRng;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zabkeeper::client::{Client, ConnectOptions};

pub struct RunOpts {
    pub target: Target,
    pub workloads: Vec<Workload>,
    /// The faults and when they happen.
    pub schedule: Schedule,
    pub time: Duration,
    pub out: PathBuf,
    pub nodes: usize,
    /// Client processes per workload.
    pub concurrency: usize,
    /// Extra register processes per member that only read (so a member cut off from the
    /// others keeps being read while its writers wait on their writes).
    pub readers: usize,
    pub seed: u64,
    /// Extra lines for every member's zoo.cfg (`forceSync=no`, say).
    pub server_config: Vec<String>,
    /// Pause between one process's operations.
    pub think: Duration,
    pub session_timeout_ms: i32,
    /// How long a register read may take before it counts as failed (a read changes
    /// nothing, so a timed-out read is `fail`, and the process goes on on its connection).
    pub read_timeout: Duration,
}

/// Nanoseconds since the run started.
#[derive(Clone)]
struct Clock(Instant);

impl Clock {
    fn ns(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

pub struct Outcome {
    pub verdicts: Vec<Verdict>,
    pub faults: Vec<Fault>,
    pub summary: String,
}

impl Outcome {
    pub fn valid(&self) -> bool {
        self.verdicts.iter().all(|v| v.validity == Validity::Valid)
    }
}

/// Runs the whole thing; the cluster is torn down before this returns, whatever happens.
pub async fn run(opts: RunOpts, stop: Arc<tokio::sync::Notify>) -> Result<Outcome, String> {
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    let nemeses = &opts.schedule.nemeses;
    let setup = Setup {
        lazy_disks: nemeses.iter().any(|n| n.needs_lazy_disks()),
        fake_clock: nemeses.contains(&Nemesis::Clock),
        server_config: opts.server_config.clone(),
    };
    let cluster = Cluster::create(opts.nodes, opts.target.clone(), &opts.out, setup).map_err(|e| e.to_string())?;
    let cluster = Arc::new(Mutex::new(cluster));
    let result = run_in(&opts, cluster.clone(), stop).await;
    let mut c = cluster.lock().expect("cluster");
    c.teardown();
    result
}

async fn run_in(
    opts: &RunOpts,
    cluster: Arc<Mutex<Cluster>>,
    stop: Arc<tokio::sync::Notify>,
) -> Result<Outcome, String> {
    let addrs: Vec<String> = {
        let mut c = cluster.lock().expect("cluster");
        c.start_all().map_err(|e| e.to_string())?;
        (0..c.len()).map(|i| c.client_addr(i).to_string()).collect()
    };
    let settle = cluster.clone();
    tokio::task::spawn_blocking(move || settle.lock().expect("cluster").wait_settled(Duration::from_secs(120)))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let copts = ConnectOptions {
        timeout_ms: opts.session_timeout_ms,
        connect_timeout: Duration::from_secs(2),
        ..ConnectOptions::default()
    };
    // Set up every workload's znodes through any member that answers.
    let setup = connect_any(&addrs, &copts, Duration::from_secs(60)).await?;
    for w in &opts.workloads {
        w.setup(&setup).await.map_err(|e| format!("setting up {}: {e}", w.name()))?;
    }
    setup.sync("/").await.map_err(|e| e.to_string())?;
    drop(setup);

    let clock = Clock(Instant::now());
    let recorder = Arc::new(Mutex::new(Recorder::default()));
    let deadline = Instant::now() + opts.time;
    let several = opts.workloads.len() > 1;
    // (workload, home member, reads only) per process; a process's id is its place here.
    let mut plan = Vec::new();
    for w in &opts.workloads {
        for t in 0..opts.concurrency {
            plan.push((*w, t % addrs.len(), false));
        }
        if let Workload::Register { .. } = w {
            for t in 0..opts.readers * addrs.len() {
                plan.push((*w, t % addrs.len(), true));
            }
        }
    }
    let total_workers = plan.len();
    let next_id = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut workers = Vec::new();
    for (worker, (w, home, reader)) in plan.into_iter().enumerate() {
        let ctx = Worker {
            workload: w,
            reader,
            name: several.then(|| w.name().to_string()),
            process: worker as u64,
            stride: total_workers as u64,
            addr: addrs[home].clone(),
            copts: copts.clone(),
            clock: clock.clone(),
            recorder: recorder.clone(),
            deadline,
            think: opts.think,
            read_timeout: opts.read_timeout,
            rng: rand::rngs::StdRng::seed_from_u64(opts.seed.wrapping_add(worker as u64)),
            next_id: next_id.clone(),
            seen: Default::default(),
            ctx: Ctx { addrs: addrs.clone(), home, session_timeout_ms: opts.session_timeout_ms },
        };
        workers.push(tokio::spawn(ctx.run()));
    }
    let now = clock.clone();
    let nemesis = tokio::spawn(nemesis::nemesis_loop(
        cluster.clone(),
        opts.schedule.clone(),
        deadline,
        move || now.ns(),
        addrs.clone(),
        copts.clone(),
    ));
    let interrupted = tokio::select! {
        _ = async { for w in workers.iter_mut() { let _ = w.await; } } => false,
        _ = stop.notified() => true,
    };
    if interrupted {
        nemesis.abort();
        return Err("interrupted".into());
    }
    let mut faults = nemesis.await.map_err(|e| e.to_string())?;

    // Heal everything and bring every member back. A member that cannot rejoin is a finding
    // of its own (the `recovery` verdict), not a reason to skip checking what happened: the
    // final operations go to whichever members answer.
    let heal = cluster.clone();
    let recovery = tokio::task::spawn_blocking(move || {
        let mut c = heal.lock().expect("cluster");
        let mut gone = c.reap();
        let settled = c.heal().and_then(|_| c.wait_settled(Duration::from_secs(120)));
        gone.extend(c.reap());
        (settled.map(|_| ()).map_err(|e| e.to_string()), gone)
    })
    .await
    .map_err(|e| e.to_string())?;
    let recovery = recovery_verdict(recovery, &faults);
    for w in &opts.workloads {
        for (f, key, value) in w.final_ops() {
            let process = next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1_000_000;
            let ctx = Ctx { addrs: addrs.clone(), home: 0, session_timeout_ms: opts.session_timeout_ms };
            final_op(w, several, process, f, key, value, &ctx, &copts, &clock, &recorder).await;
        }
    }

    let events = std::mem::take(&mut *recorder.lock().expect("recorder")).into_events();
    let mut file = std::fs::File::create(opts.out.join("history.jsonl")).map_err(|e| e.to_string())?;
    history::write_jsonl(&mut file, &events).map_err(|e| e.to_string())?;
    let ops = history::pair(&events).unwrap_or_default();
    nemesis::fill_write_gaps(&mut faults, &ops);
    let mut nf = String::new();
    for f in &faults {
        nf.push_str(
            &json!({
                "nemesis": f.label(), "what": f.what, "start": f.start, "end": f.end,
                "recovered_after_ms": f.recovered_after.map(|d| d.as_millis() as u64),
                "write_gap_ms": f.write_gap.map(|d| d.as_millis() as u64),
            })
            .to_string(),
        );
        nf.push('\n');
    }
    std::fs::write(opts.out.join("nemesis.jsonl"), nf).map_err(|e| e.to_string())?;
    let mut verdicts = Vec::new();
    for w in &opts.workloads {
        let mine: Vec<history::Event> =
            events.iter().filter(|e| !several || e.workload.as_deref() == Some(w.name())).cloned().collect();
        verdicts.push(crate::check(w.name(), &mine).map_err(|e| e.to_string())?);
    }
    verdicts.push(recovery);
    let mut summary = summarize(&events, &faults, &verdicts, opts);
    let title = format!(
        "{} · {} · {}",
        opts.target.name(),
        opts.workloads.iter().map(Workload::name).collect::<Vec<_>>().join(","),
        opts.schedule.nemeses.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(",")
    );
    match crate::plot::plot(&opts.out.join("latency.png"), &title, &ops, &faults) {
        Ok(()) => summary.push_str("plot: latency.png\n"),
        Err(e) => summary.push_str(&format!("plot not drawn: {e}\n")),
    }
    std::fs::write(opts.out.join("summary.txt"), &summary).map_err(|e| e.to_string())?;
    let numbers = summary_json(&ops, &faults, &verdicts, opts);
    std::fs::write(opts.out.join("summary.json"), format!("{numbers:#}\n")).map_err(|e| e.to_string())?;
    Ok(Outcome { verdicts, faults, summary })
}

async fn connect_any(addrs: &[String], copts: &ConnectOptions, within: Duration) -> Result<Client, String> {
    let until = Instant::now() + within;
    let mut i = 0;
    loop {
        match Client::connect(&addrs[i % addrs.len()], copts.clone()).await {
            Ok((c, _)) => return Ok(c),
            Err(e) if Instant::now() >= until => return Err(format!("no member answers: {e}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
        i += 1;
    }
}

/// Each operation must answer within this, or it counts as unknown.
const OP_TIMEOUT: Duration = Duration::from_secs(3);

struct Worker {
    workload: Workload,
    /// Only reads (a register reader).
    reader: bool,
    name: Option<String>,
    process: u64,
    stride: u64,
    addr: String,
    copts: ConnectOptions,
    clock: Clock,
    recorder: Arc<Mutex<Recorder>>,
    deadline: Instant,
    think: Duration,
    read_timeout: Duration,
    rng: rand::rngs::StdRng,
    next_id: Arc<std::sync::atomic::AtomicU64>,
    /// The value this process last saw per register key (what its next cas expects).
    seen: std::collections::HashMap<u64, Value>,
    ctx: Ctx,
}

impl Worker {
    async fn run(mut self) {
        let mut client: Option<Client> = None;
        while Instant::now() < self.deadline {
            if client.as_ref().is_none_or(Client::is_closed) {
                client = match tokio::time::timeout(OP_TIMEOUT, Client::connect(&self.addr, self.copts.clone())).await {
                    Ok(Ok((c, _))) => match self.workload.on_connect(&c).await {
                        Ok(()) => Some(c),
                        Err(_) => None,
                    },
                    _ => None,
                };
                if client.is_none() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            }
            let c = client.as_ref().expect("connected");
            let n = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let (f, key, value) = match self.reader {
                true => self.workload.generate_read(&mut self.rng),
                false => self.workload.generate(&mut self.rng, n, &self.seen),
            };
            self.record(Kind::Invoke, f, key.clone(), value.clone());
            let register_read = f == "read" && matches!(self.workload, Workload::Register { .. });
            let limit = if register_read { self.read_timeout } else { self.workload.op_timeout(&self.ctx) };
            let (kind, result) =
                match tokio::time::timeout(limit, self.workload.invoke(c, f, &key, &value, &self.ctx)).await {
                    Ok(r) => r,
                    Err(_) if f == "read" => (Kind::Fail, json!("timed out")),
                    Err(_) => (Kind::Info, json!("timed out")),
                };
            // What the process saw: a register's value after an ok; a JobManager's belief after
            // any answered commit (a refusal changes what it believes too).
            let remembered = kind == Kind::Ok || (kind == Kind::Fail && f == "commit");
            if let (true, Some(k)) = (remembered, key.as_ref().and_then(Value::as_u64)) {
                let now = match f {
                    "cas" => result.get(1).cloned().unwrap_or(Value::Null),
                    _ => result.clone(),
                };
                self.seen.insert(k, now);
            }
            self.record(kind, f, key, result);
            if kind == Kind::Info {
                // Its operation may still happen: this process is done; a new one replaces it
                // on a new connection.
                self.process += self.stride;
                client = None;
            }
            tokio::time::sleep(self.think).await;
        }
    }

    fn record(&self, kind: Kind, f: &str, key: Option<Value>, value: Value) {
        let t = self.clock.ns();
        self.recorder.lock().expect("recorder").push_for(self.name.as_deref(), t, self.process, kind, f, key, value);
    }
}

#[allow(clippy::too_many_arguments)]
async fn final_op(
    w: &Workload,
    several: bool,
    process: u64,
    f: &'static str,
    key: Option<Value>,
    value: Value,
    ctx: &Ctx,
    copts: &ConnectOptions,
    clock: &Clock,
    recorder: &Arc<Mutex<Recorder>>,
) {
    let addrs = &ctx.addrs;
    let name = several.then(|| w.name());
    let until = Instant::now() + Duration::from_secs(60);
    let mut p = process;
    loop {
        recorder.lock().expect("recorder").push_for(name, clock.ns(), p, Kind::Invoke, f, key.clone(), value.clone());
        let (kind, result) = match connect_any(addrs, copts, Duration::from_secs(10)).await {
            Ok(c) => match tokio::time::timeout(OP_TIMEOUT * 3, w.invoke(&c, f, &key, &value, ctx)).await {
                Ok(r) => r,
                Err(_) => (Kind::Fail, json!("timed out")),
            },
            Err(e) => (Kind::Fail, json!(e)),
        };
        recorder.lock().expect("recorder").push_for(name, clock.ns(), p, kind, f, key.clone(), result);
        if kind == Kind::Ok || Instant::now() >= until {
            return;
        }
        p += 1_000;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Whether every member was serving again, with one leader, once the faults were healed —
/// and which ones had exited by themselves during the run or at the end.
fn recovery_verdict(end: (Result<(), String>, Vec<(usize, String)>), faults: &[Fault]) -> Verdict {
    let (settled, gone) = end;
    let mut v = Verdict::new("recovery");
    let during: Vec<&str> =
        faults.iter().filter(|f| f.what.contains("exited by itself")).map(|f| f.what.as_str()).collect();
    v.summary = match (&settled, during.len()) {
        (Ok(()), 0) => "every member serving again after the faults, none exited by itself".into(),
        (Ok(()), n) => format!("every member serving again at the end; {n} fault windows saw a member exit by itself"),
        (Err(_), _) => "the ensemble did not recover after the faults were healed".into(),
    };
    if let Err(e) = settled {
        v.validity = Validity::Invalid;
        v.anomalies.push(format!("{e}{} (see n<i>/server.log)", nemesis::exited(&gone)));
    }
    for w in during {
        v.validity = Validity::Invalid;
        v.anomalies.push(format!("during the run: {w}"));
    }
    v
}

/// The run in numbers, for tables across runs (`jepsen/long-runs.py`): verdicts, operation
/// counts, latency percentiles of ok reads and of ok changes, and each fault window.
fn summary_json(ops: &[history::Op], faults: &[Fault], verdicts: &[Verdict], opts: &RunOpts) -> Value {
    let pct = |mut lats: Vec<u64>| {
        lats.sort_unstable();
        let q = |p: f64| lats.get(((lats.len() as f64 - 1.0).max(0.0) * p) as usize).map(|&l| l as f64 / 1e6);
        json!({"count": lats.len(), "p50_ms": q(0.5), "p99_ms": q(0.99), "max_ms": q(1.0)})
    };
    let lat = |o: &&history::Op| o.completed.map_or(0, |c| c.saturating_sub(o.invoked));
    let ok = |read: bool| -> Vec<u64> {
        ops.iter().filter(|o| o.outcome == Kind::Ok && (o.f == "read") == read).map(|o| lat(&o)).collect()
    };
    let count = |k: Kind| ops.iter().filter(|o| o.outcome == k).count();
    json!({
        "target": opts.target.name(),
        "seconds": opts.time.as_secs(),
        "nemeses": opts.schedule.nemeses.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>(),
        "mix": opts.schedule.mix,
        "verdicts": verdicts.iter().map(|v| json!({
            "workload": v.workload, "validity": format!("{:?}", v.validity), "summary": v.summary,
        })).collect::<Vec<_>>(),
        "operations": {"total": ops.len(), "ok": count(Kind::Ok), "fail": count(Kind::Fail), "info": count(Kind::Info)},
        "reads": pct(ok(true)),
        "changes": pct(ok(false)),
        "faults": faults.iter().map(|f| json!({
            "nemesis": f.label(), "what": f.what,
            "recovered_ms": f.recovered_after.map(|d| d.as_millis() as u64),
            "write_gap_ms": f.write_gap.map(|d| d.as_millis() as u64),
        })).collect::<Vec<_>>(),
    })
}

/// The verdicts, operation counts and latency percentiles per operation, and the faults.
fn summarize(events: &[history::Event], faults: &[Fault], verdicts: &[Verdict], opts: &RunOpts) -> String {
    let mut s = format!(
        "target {}, {} members, {} s, workloads {}, nemeses {:?}{}\n",
        opts.target.name(),
        opts.nodes,
        opts.time.as_secs(),
        opts.workloads.iter().map(Workload::name).collect::<Vec<_>>().join(","),
        opts.schedule.nemeses,
        if opts.schedule.mix > 1 { format!(", {} at once", opts.schedule.mix) } else { String::new() }
    );
    for v in verdicts {
        s.push_str(&v.report());
        s.push('\n');
    }
    let ops = history::pair(events).unwrap_or_default();
    let mut by_f: std::collections::BTreeMap<(String, &str), Vec<u64>> = std::collections::BTreeMap::new();
    for o in &ops {
        let outcome = match o.outcome {
            Kind::Ok => "ok",
            Kind::Fail => "fail",
            _ => "info",
        };
        let lat = o.completed.map_or(0, |c| c.saturating_sub(o.invoked));
        by_f.entry((o.f.clone(), outcome)).or_default().push(lat);
    }
    s.push_str("operations (count; latency p50 / p99 / max in ms for ok):\n");
    for ((f, outcome), mut lats) in by_f {
        lats.sort_unstable();
        let q = |p: f64| lats[((lats.len() as f64 - 1.0) * p) as usize] as f64 / 1e6;
        if outcome == "ok" {
            s.push_str(&format!("  {f} {outcome}: {} ({:.1} / {:.1} / {:.1})\n", lats.len(), q(0.5), q(0.99), q(1.0)));
        } else {
            s.push_str(&format!("  {f} {outcome}: {}\n", lats.len()));
        }
    }
    s.push_str(
        "faults (recovered: from the fault's end to the next successful write; writes stalled: the \
         longest time from its start to its recovery in which no write of the workloads completed):\n",
    );
    for f in faults {
        s.push_str(&format!(
            "  {:>7.1}-{:>7.1} s {}: {}; recovered in {}; writes stalled up to {}\n",
            f.start as f64 / 1e9,
            f.end as f64 / 1e9,
            f.label(),
            f.what,
            f.recovered_after.map_or("never (60 s)".into(), |d| format!("{} ms", d.as_millis())),
            f.write_gap.map_or("?".into(), |d| format!("{} ms", d.as_millis()))
        ));
    }
    s
}
