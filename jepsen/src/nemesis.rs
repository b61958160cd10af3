//! The nemesis: which faults there are, the schedule that applies them (one at a time, taking
//! turns, or several at once with `mix`), what each fault hit, and how long the ensemble took
//! to take writes again after it ended.
//! Must never: leave a fault in place past its window (every window ends with the network
//! healed, every member resumed and started), or apply a fault outside the run's deadline.

use crate::cluster::Cluster;
use crate::history::{Kind, Op};
use rand::{RngExt, SeedableRng};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zabkeeper::client::{Client, ConnectOptions};

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nemesis {
    /// SIGKILL a random member, restart it when the fault ends.
    Kill,
    KillLeader,
    /// SIGKILL a majority at once.
    KillMajority,
    /// SIGSTOP a random member for longer than the session timeout.
    Pause,
    PauseLeader,
    /// SIGSTOP a follower: when it resumes it answers the reads queued on its connections
    /// from the state it had when it stopped (plain reads go stale; sync reads must not).
    PauseFollower,
    /// Random halves.
    Partition,
    /// The leader alone on one side.
    PartitionLeader,
    /// A follower alone on one side (it serves plain reads from its stale state until it
    /// notices, after syncLimit).
    PartitionFollower,
    /// One pair cut: each of the two sees a different majority.
    Bridge,
    /// 20% of the packets between members dropped.
    Loss,
    /// Every member's link throttled (a token bucket: 256 kbit/s, up to 300 ms queued, the
    /// rest dropped), so messages are delayed in proportion to the load. This kernel has no
    /// `netem`, so this is the delay there is.
    Slow,
    /// A random member's wall clock (CLOCK_REALTIME, through libfaketime) stepped by up to a
    /// minute either way; it steps back when the fault ends. Monotonic time is left alone, as
    /// an NTP step leaves it.
    Clock,
    /// SIGKILL a random member and lose every write its disk had not fsynced (the data
    /// directories are lazy disks, `lazyfs`); every other crash is torn: a random prefix of
    /// the unsynced writes survives, so a log may end in half a record.
    Crash,
    /// Every member crashed at once, as `Crash` (a power failure of the whole ensemble).
    CrashAll,
}

impl Nemesis {
    /// Whether the members' data directories must be lazy disks for this fault.
    pub fn needs_lazy_disks(self) -> bool {
        matches!(self, Nemesis::Crash | Nemesis::CrashAll)
    }
}

impl std::str::FromStr for Nemesis {
    type Err = String;
    fn from_str(s: &str) -> Result<Nemesis, String> {
        Ok(match s {
            "kill" => Nemesis::Kill,
            "kill-leader" => Nemesis::KillLeader,
            "kill-majority" => Nemesis::KillMajority,
            "pause" => Nemesis::Pause,
            "pause-leader" => Nemesis::PauseLeader,
            "pause-follower" => Nemesis::PauseFollower,
            "partition" => Nemesis::Partition,
            "partition-leader" => Nemesis::PartitionLeader,
            "partition-follower" => Nemesis::PartitionFollower,
            "bridge" => Nemesis::Bridge,
            "loss" => Nemesis::Loss,
            "slow" => Nemesis::Slow,
            "clock" => Nemesis::Clock,
            "crash" => Nemesis::Crash,
            "crash-all" => Nemesis::CrashAll,
            _ => {
                return Err(format!(
                    "unknown nemesis {s:?} (kill, kill-leader, kill-majority, pause, pause-leader, pause-follower, \
                     partition, partition-leader, partition-follower, bridge, loss, slow, clock, crash, crash-all)"
                ))
            }
        })
    }
}

/// One fault window: what was applied, when, and how the ensemble fared.
#[derive(Debug, Clone)]
pub struct Fault {
    /// The faults applied together in this window.
    pub kinds: Vec<Nemesis>,
    pub what: String,
    pub start: u64,
    pub end: u64,
    /// From the end of the fault until a write succeeded again (None: not within 60 s).
    pub recovered_after: Option<Duration>,
    /// The longest time from the fault's start to its recovery in which no write-like
    /// operation of the workloads completed ok (the unavailability the clients saw).
    pub write_gap: Option<Duration>,
}

impl Fault {
    /// The kinds, joined: `Kill+Partition`.
    pub fn label(&self) -> String {
        self.kinds.iter().map(|k| format!("{k:?}")).collect::<Vec<_>>().join("+")
    }
}

/// When faults start, how long each lasts, and how many are applied at once.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub nemeses: Vec<Nemesis>,
    pub interval: Duration,
    pub fault_for: Duration,
    /// Faults applied together in one window (1: they take turns).
    pub mix: usize,
    pub seed: u64,
}

/// The faults of one window: in turn when `mix` is 1, otherwise `mix` different ones drawn
/// at random.
fn pick_kinds(s: &Schedule, k: usize, rng: &mut impl RngExt) -> Vec<Nemesis> {
    if s.mix <= 1 || s.nemeses.len() == 1 {
        return vec![s.nemeses[k % s.nemeses.len()]];
    }
    let mut pool = s.nemeses.clone();
    let mut kinds = Vec::new();
    while kinds.len() < s.mix && !pool.is_empty() {
        kinds.push(pool.swap_remove(rng.random_range(0..pool.len())));
    }
    kinds
}

/// Applies the schedule until `deadline`; `now_ns` is the run's clock.
pub async fn nemesis_loop(
    cluster: Arc<Mutex<Cluster>>,
    schedule: Schedule,
    deadline: Instant,
    now_ns: impl Fn() -> u64,
    addrs: Vec<String>,
    copts: ConnectOptions,
) -> Vec<Fault> {
    let mut faults = Vec::new();
    if schedule.nemeses.is_empty() {
        tokio::time::sleep_until(deadline.into()).await;
        return faults;
    }
    let (interval, fault_for) = (schedule.interval, schedule.fault_for);
    let mut rng = rand::rngs::StdRng::seed_from_u64(schedule.seed ^ 0x6e656d65);
    let mut k = 0;
    // A quiet start, then a fault every interval, none running past the end.
    tokio::time::sleep(interval / 2).await;
    while Instant::now() + fault_for < deadline {
        let kinds = pick_kinds(&schedule, k, &mut rng);
        k += 1;
        let picks: Vec<u64> = kinds.iter().map(|_| rng.random_range(0..u64::MAX)).collect();
        let c = cluster.clone();
        let start = now_ns();
        let applied = kinds.clone();
        let what = tokio::task::spawn_blocking(move || {
            let mut c = c.lock().expect("cluster");
            let said: Vec<String> = applied
                .iter()
                .zip(picks)
                .map(|(&kind, pick)| apply(&mut c, kind, pick).unwrap_or_else(|e| format!("not applied: {e}")))
                .collect();
            said.join("; ")
        })
        .await
        .unwrap_or_else(|e| format!("not applied: {e}"));
        tokio::time::sleep(fault_for).await;
        let c = cluster.clone();
        let gone = tokio::task::spawn_blocking(move || {
            let mut c = c.lock().expect("cluster");
            let gone = c.reap();
            let _ = c.heal();
            gone
        })
        .await
        .unwrap_or_default();
        let what = format!("{what}{}", exited(&gone));
        let end = now_ns();
        let recovered_after = probe_write(&addrs, &copts, Duration::from_secs(60)).await;
        faults.push(Fault { kinds, what, start, end, recovered_after, write_gap: None });
        let next = Instant::now() + interval.saturating_sub(fault_for);
        if next >= deadline {
            break;
        }
        tokio::time::sleep_until(next.into()).await;
    }
    faults
}

/// Applies one fault; says what it hit.
fn apply(c: &mut Cluster, kind: Nemesis, pick: u64) -> Result<String, String> {
    let n = c.len();
    let random = (pick % n as u64) as usize;
    let leader = || c.leader().unwrap_or(random);
    let e = |e: crate::cluster::ClusterError| e.to_string();
    Ok(match kind {
        Nemesis::Kill => {
            c.kill(random);
            format!("killed member {}", random + 1)
        }
        Nemesis::KillLeader => {
            let l = leader();
            c.kill(l);
            format!("killed member {} (leader)", l + 1)
        }
        Nemesis::KillMajority => {
            let victims: Vec<usize> = (0..n / 2 + 1).map(|j| (random + j) % n).collect();
            for &v in &victims {
                c.kill(v);
            }
            format!("killed members {:?}", victims.iter().map(|v| v + 1).collect::<Vec<_>>())
        }
        Nemesis::Pause => {
            c.pause(random);
            format!("paused member {}", random + 1)
        }
        Nemesis::PauseLeader => {
            let l = leader();
            c.pause(l);
            format!("paused member {} (leader)", l + 1)
        }
        Nemesis::PauseFollower => {
            let f = follower(c.leader(), random, n);
            c.pause(f);
            format!("paused member {} (a follower)", f + 1)
        }
        Nemesis::Partition => {
            let mut ids: Vec<usize> = (0..n).collect();
            ids.rotate_left(random);
            let (a, b) = ids.split_at(n / 2);
            c.partition(&[a.to_vec(), b.to_vec()]).map_err(e)?;
            format!("partition {:?} | {:?}", plus1(a), plus1(b))
        }
        Nemesis::PartitionLeader => {
            let l = leader();
            let rest: Vec<usize> = (0..n).filter(|&i| i != l).collect();
            c.partition(&[vec![l], rest.clone()]).map_err(e)?;
            format!("partition [{}] (leader) | {:?}", l + 1, plus1(&rest))
        }
        Nemesis::PartitionFollower => {
            let f = follower(c.leader(), random, n);
            let rest: Vec<usize> = (0..n).filter(|&i| i != f).collect();
            c.partition(&[vec![f], rest.clone()]).map_err(e)?;
            format!("partition [{}] (a follower) | {:?}", f + 1, plus1(&rest))
        }
        Nemesis::Bridge => {
            let a = random;
            let b = (random + 1 + (pick as usize / n) % (n - 1)) % n;
            c.cut_pairs(&[(a, b)]).map_err(e)?;
            format!("bridge: {} and {} cut from each other", a + 1, b + 1)
        }
        Nemesis::Loss => {
            c.lose(20).map_err(e)?;
            "20% packet loss between members".into()
        }
        Nemesis::Slow => {
            c.throttle(256, 300).map_err(e)?;
            "every member's link at 256 kbit/s, up to 300 ms queued".into()
        }
        Nemesis::Clock => {
            let secs = 5 + (pick / n as u64 % 56) as i64;
            let secs = if (pick >> 32) & 1 == 0 { secs } else { -secs };
            c.step_clock(random, secs).map_err(e)?;
            format!("member {}'s wall clock stepped {secs:+} s", random + 1)
        }
        Nemesis::Crash => {
            let torn = (pick >> 40) & 1 == 1;
            let lost = c.crash(random, torn.then_some(pick)).map_err(e)?;
            format!("crashed member {}{}, {lost}", random + 1, if torn { " (torn)" } else { "" })
        }
        Nemesis::CrashAll => {
            let mut said = Vec::new();
            for i in 0..n {
                let seed = pick.rotate_left(i as u32 * 8);
                let torn = (seed >> 40) & 1 == 1;
                let lost = c.crash(i, torn.then_some(seed)).map_err(e)?;
                said.push(format!("{}{}: {lost}", i + 1, if torn { " torn" } else { "" }));
            }
            format!("crashed every member ({})", said.join(", "))
        }
    })
}

/// "; member 2 exited by itself (exit status: 1)" for each member that did.
pub fn exited(gone: &[(usize, String)]) -> String {
    gone.iter().map(|(i, how)| format!("; member {} exited by itself ({how})", i + 1)).collect()
}

/// A member other than the leader: `random`, or the next one if that leads.
fn follower(leader: Option<usize>, random: usize, n: usize) -> usize {
    match leader {
        Some(l) if l == random => (random + 1) % n,
        _ => random,
    }
}

fn plus1(ids: &[usize]) -> Vec<usize> {
    ids.iter().map(|i| i + 1).collect()
}

/// How long until a write succeeds through any member.
async fn probe_write(addrs: &[String], copts: &ConnectOptions, within: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    let mut i = 0;
    while t0.elapsed() < within {
        let addr = &addrs[i % addrs.len()];
        i += 1;
        let attempt = async {
            let (c, _) = Client::connect(addr, copts.clone()).await.ok()?;
            c.set_data("/jepsen", None, -1).await.ok()
        };
        if tokio::time::timeout(Duration::from_secs(2), attempt).await.ok().flatten().is_some() {
            return Some(t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Operations that change state (everything but reads and observations).
fn is_write(o: &Op) -> bool {
    !matches!(o.f.as_str(), "read" | "observe")
}

/// Fills in each fault's `write_gap`: the longest stretch from its start to its recovery (its
/// end when it never recovered) without a write-like operation completing ok.
pub fn fill_write_gaps(faults: &mut [Fault], ops: &[Op]) {
    let mut done: Vec<u64> =
        ops.iter().filter(|o| o.outcome == Kind::Ok && is_write(o)).filter_map(|o| o.completed).collect();
    done.sort_unstable();
    for f in faults {
        let until = f.end + f.recovered_after.map_or(0, |d| d.as_nanos() as u64);
        let mut last = f.start;
        let mut gap = 0;
        for &t in done.iter().skip_while(|&&t| t < f.start).take_while(|&&t| t <= until) {
            gap = gap.max(t - last);
            last = t;
        }
        gap = gap.max(until - last);
        f.write_gap = Some(Duration::from_nanos(gap));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write_done(at_ms: u64) -> Op {
        Op {
            process: 0,
            f: "write".into(),
            key: None,
            arg: json!(1),
            result: json!(1),
            invoked: at_ms * 1_000_000 - 1,
            completed: Some(at_ms * 1_000_000),
            outcome: Kind::Ok,
            index: 0,
            answer: json!(1),
        }
    }

    #[test]
    fn the_write_gap_is_the_longest_stretch_without_a_write_inside_the_window() {
        let ops: Vec<Op> = [100, 1_000, 1_100, 4_000, 4_050, 9_000].into_iter().map(write_done).collect();
        let mut faults = vec![Fault {
            kinds: vec![Nemesis::Kill, Nemesis::Partition],
            what: String::new(),
            start: 900_000_000,
            end: 3_000_000_000,
            recovered_after: Some(Duration::from_millis(1_500)),
            write_gap: None,
        }];
        fill_write_gaps(&mut faults, &ops);
        // Window 900..4500 ms: writes at 1000, 1100, 4000, 4050; longest stretch 1100..4000.
        assert_eq!(faults[0].write_gap, Some(Duration::from_millis(2_900)));
        assert_eq!(faults[0].label(), "Kill+Partition");
    }

    #[test]
    fn mixed_windows_draw_distinct_faults_and_single_ones_take_turns() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let all = vec![Nemesis::Kill, Nemesis::Pause, Nemesis::Partition, Nemesis::Clock];
        let s = Schedule { nemeses: all.clone(), interval: Duration::ZERO, fault_for: Duration::ZERO, mix: 2, seed: 0 };
        for k in 0..50 {
            let kinds = pick_kinds(&s, k, &mut rng);
            assert_eq!(kinds.len(), 2);
            assert_ne!(kinds[0], kinds[1]);
        }
        let one = Schedule { mix: 1, ..s };
        let turns: Vec<Nemesis> = (0..5).map(|k| pick_kinds(&one, k, &mut rng)[0]).collect();
        assert_eq!(turns, vec![all[0], all[1], all[2], all[3], all[0]]);
    }
}
