//! Seeded simulation of whole ensembles: the real election, leader and learner state machines
//! of 3 or 5 voters (and, in half the seeds, an observer), over a simulated network (delay,
//! loss, duplication and reordering on the wire, TCP between the wire and the quorum port,
//! partitions silent or loud: see `net`) and simulated disks (a durable prefix and a tail that a crash loses; epoch files), with
//! crashes, restarts and a client writing through whoever leads. Checked at every step: at
//! most one leader established per epoch; a leader commits a txn only once it is in the durable
//! log of a majority of voters; an observer never leads, never ACKs a proposal and is never
//! dropped for a transaction timeout; no two members commit different txns at one zxid; a
//! member never truncates a txn it committed; every write a leader committed is in the log of
//! every later established leader; a learner never leaves its leader over a packet it did not
//! expect; every member's applied tree (a real `DataTree` fed the real txns it commits,
//! fast-forwarded from its log when it leaves a role, rebuilt on TRUNC, SNAP and restart, as
//! the server does) equals the tree rebuilt from its log up to the same zxid (kept
//! incrementally beside it, see `trees`); a leader drops a learner for a transaction timeout
//! (a proposal left unACKed for syncLimit) only when a fault of either (a crash, a pause, a
//! partition, a lost segment, a disk whose fsyncs hang) could explain it. Each member's clock
//! runs at its own rate (0.8x to 1.25x), so its timeouts and pings drift against the others'.
//! After the faults stop, a leader must commit a new write within a bound. A client also
//! syncs through random members, and through a member the moment a long pause (SIGSTOP) of it
//! ends: once the sync is answered, that member's tree must hold every write acknowledged
//! before the sync was issued (the read-index round; a leader that skips it serves a stale
//! read after a pause). `ZAB_SIM_SEEDS=N` runs N seeds (default 200); `ZAB_SIM_SEED=S` replays
//! one, and with `ZAB_SIM_TRACE=1` prints each election result and each member leaving its
//! role.

use super::election::{settled_reply, Decision, Election, ElectionAction};
use super::leader::{Leader, LeaderAction};
use super::learner::{Learner, LearnerAction};
use super::read_index::SyncFrom;
use super::sync::{LogIndex, SyncPlan};
use super::wire::{packet, ForwardedRequest, Notification, PeerState, QuorumPacket};
use super::Limits;
use crate::proto::records::{Acl, CreateTxn, TxnHeader};
use crate::testkit::Rng;
use crate::txn::{Txn, TxnBody};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

/// A tick is 500 ms: PINGs every 250 ms, initLimit 2 s, syncLimit 1 s.
const PING_EVERY: u64 = 250;
const LIMITS: Limits = Limits { init_ticks: 4, sync_ticks: 2 };
const FAULTS_UNTIL: u64 = 20_000;
const HEAL_BOUND: u64 = 30_000;
/// How long before a transaction timeout a fault may have happened and still explain it: a
/// leader drops a follower whose oldest unACKed proposal is older than syncLimit once it is
/// not silent (heard within syncLimit), so whatever kept the ACK away began at most
/// syncLimit plus a half tick ago, in the leader's clock, at the slowest rate (0.8x).
const TXN_TIMEOUT_WINDOW: u64 = (2 * LIMITS.sync_ticks + 2) * PING_EVERY * 1250 / 1000;

type Log = Vec<(i64, Bytes)>;

struct LogView<'a>(&'a Log);

impl LogIndex for LogView<'_> {
    fn range(&self) -> Option<(i64, i64)> {
        Some((self.0.first()?.0, self.0.last()?.0))
    }
    fn first_at_or_after(&self, zxid: i64) -> Option<i64> {
        self.0.iter().map(|e| e.0).find(|z| *z >= zxid)
    }
    fn last_before(&self, zxid: i64) -> Option<i64> {
        self.0.iter().map(|e| e.0).rfind(|z| *z < zxid)
    }
}

#[derive(Default)]
struct Disk {
    accepted: i64,
    current: i64,
    log: Log,
    /// How much of `log` is fsynced.
    durable: usize,
    /// How often `log` was cut back (a crash losing its tail, TRUNC, SNAP).
    cuts: u64,
}

impl Disk {
    fn last_zxid(&self) -> i64 {
        self.log.last().map_or(0, |e| e.0)
    }
}

enum Role {
    Down { until: u64 },
    Looking(Election),
    Leading { leader: Box<Leader>, decision: Decision, conns: BTreeMap<i64, u64> },
    Following { learner: Learner, decision: Decision, conn: u64 },
}

struct Member {
    disk: Disk,
    role: Role,
    clock: i64,
    /// Bumped on every crash: fsyncs scheduled before it are void.
    incarnation: u64,
    committed: Log,
    /// Local time: the next half tick (leader and learner).
    next_ping: u64,
    /// Global time until which this member is paused (SIGSTOP): it takes no message and no
    /// timer fires before then.
    paused_until: u64,
    /// Client syncs waiting for an answer: how many writes were acknowledged when each was
    /// issued.
    syncs: std::collections::VecDeque<usize>,
    /// This member's clock rate in thousandths: its local time is `now * rate / 1000`.
    rate: u64,
    /// Global time until which this member's disk hangs: no fsync completes before then.
    slow_disk_until: u64,
    /// The tree it applied.
    tree: AppliedTree,
}

/// A client write: a real create txn at `zxid`.
fn write_txn(n: u64, zxid: i64) -> Bytes {
    let txn = Txn {
        header: TxnHeader { client_id: 1, cxid: n as i32, zxid, time: 0, type_: crate::proto::codes::op::CREATE },
        body: TxnBody::Create(CreateTxn {
            path: format!("/w{n}"),
            data: Some(Bytes::from(format!("w{n}"))),
            acl: vec![Acl::new(31, "world", "anyone")],
            ephemeral: false,
            parent_cversion: -1,
        }),
    };
    txn.encode()
}

/// The number of a client write, from its txn.
fn write_number(d: &Bytes) -> Option<u64> {
    match Txn::decode(d).ok()?.body {
        TxnBody::Create(c) => c.path.strip_prefix("/w")?.parse().ok(),
        _ => None,
    }
}

impl Member {
    fn local(&self, now: u64) -> u64 {
        now * self.rate / 1000
    }
    /// The first global time at which this member's clock reads `local`.
    fn global(&self, local: u64) -> u64 {
        (local * 1000).div_ceil(self.rate)
    }
}

enum Msg {
    Vote(Notification),
    /// A quorum packet, on the wire as a TCP segment.
    Segment(Segment),
    Fsync {
        incarnation: u64,
        len: usize,
        zxid: i64,
    },
    /// A client's sync through this member; `acked` writes were acknowledged when it was
    /// issued (None: issued as it is delivered).
    ClientSync {
        acked: Option<usize>,
    },
}

struct Flight {
    at: u64,
    seq: u64,
    from: i64,
    to: i64,
    msg: Msg,
}

struct Sim {
    rng: Rng,
    now: u64,
    voters: BTreeSet<i64>,
    members: BTreeMap<i64, Member>,
    flights: Vec<Flight>,
    seq: u64,
    net: Net,
    next_conn: u64,
    committed: BTreeMap<i64, Bytes>,
    acked: Log,
    /// The write number of each acknowledged write, in the order acknowledged.
    acked_writes: Vec<u64>,
    next_sync: u64,
    /// Syncs answered and checked.
    syncs_checked: u64,
    /// Planted bug: leaders answer syncs without the read-index round.
    skip_read_index: bool,
    tracing: bool,
    leaders: BTreeMap<i64, i64>,
    writes: u64,
    next_write: u64,
    /// Planted bug: ACK (and self-ACK) a txn before it is durable.
    ack_before_fsync: bool,
    /// A planted bug: leaving a role does not apply what the member logged.
    skip_fast_forward: bool,
    next_fault: u64,
    last_commit_at: u64,
    /// Every fault injected: (start, end, the members it touched), global times.
    faults: Vec<(u64, u64, BTreeSet<i64>)>,
    /// Learners dropped for a transaction timeout: (time, leader, learner).
    txn_timeouts: Vec<(u64, i64, i64)>,
    /// A planted bug: this member, when it follows, never ACKs a proposal.
    skip_acks: Option<i64>,
    /// Every leader starts its epoch's zxid counter here (its end within reach).
    counter_from: Option<i64>,
    /// Leaders that gave up because their epoch's zxid counter was used up, and the highest
    /// of their epochs.
    counters_used_up: u64,
    used_up_epoch: i64,
    /// A planted bug: every 50th write is applied with other data than was logged; when the
    /// first such apply happened.
    corrupt_applies: bool,
    corrupted_at: Option<u64>,
    /// Whether each commit is checked to be durable on a majority of voters (off: a planted
    /// ACK-before-fsync must then be caught later, by a leader missing a committed write).
    check_durable: bool,
    /// Txns committed by observers.
    observer_commits: u64,
}

fn config() -> Bytes {
    Bytes::from_static(b"version=0")
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = Rng::new(seed);
        let n = if rng.below(2) == 0 { 3 } else { 5 };
        let net = Net::new(&mut rng);
        // Half the seeds add an observer: it takes part in no vote and no quorum.
        let observers = rng.below(2) as i64;
        let voters: BTreeSet<i64> = (1..=n).collect();
        let mut sim = Sim {
            rng,
            now: 0,
            voters: voters.clone(),
            members: BTreeMap::new(),
            flights: Vec::new(),
            seq: 0,
            net,
            next_conn: 1,
            committed: BTreeMap::new(),
            acked: Vec::new(),
            acked_writes: Vec::new(),
            next_sync: 300,
            syncs_checked: 0,
            skip_read_index: false,
            tracing: std::env::var_os("ZAB_SIM_TRACE").is_some(),
            leaders: BTreeMap::new(),
            writes: 0,
            next_write: 500,
            ack_before_fsync: false,
            skip_fast_forward: false,
            next_fault: 1_000,
            last_commit_at: 0,
            faults: Vec::new(),
            txn_timeouts: Vec::new(),
            skip_acks: None,
            counter_from: None,
            counters_used_up: 0,
            used_up_epoch: 0,
            corrupt_applies: false,
            corrupted_at: None,
            check_durable: true,
            observer_commits: 0,
        };
        for id in 1..=n + observers {
            let m = Member {
                disk: Disk::default(),
                role: Role::Down { until: sim.rng.below(300) },
                clock: 0,
                incarnation: 0,
                committed: Vec::new(),
                next_ping: 0,
                paused_until: 0,
                syncs: Default::default(),
                rate: 800 + sim.rng.below(451),
                tree: AppliedTree::new(),
                slow_disk_until: 0,
            };
            sim.members.insert(id, m);
        }
        sim
    }

    /// Schedules the fsync of everything in member `id`'s log; returns when it completes.
    fn fsync_later(&mut self, id: i64, zxid: i64) -> u64 {
        let m = &self.members[&id];
        let (inc, len, slow_until) = (m.incarnation, m.disk.log.len(), m.slow_disk_until);
        let at = (self.now + 1 + self.rng.below(5)).max(slow_until);
        self.seq += 1;
        self.flights.push(Flight {
            at,
            seq: self.seq,
            from: id,
            to: id,
            msg: Msg::Fsync { incarnation: inc, len, zxid },
        });
        at
    }

    fn look(&mut self, id: i64) {
        // Leaving a role, the server first waits until everything it handed to its log is
        // durable (it brings only a durable history into an election; a disk that hangs
        // holds it there, taking no part in anything).
        let m = &self.members[&id];
        if m.disk.durable < m.disk.log.len() {
            let until = self.fsync_later(id, m.disk.last_zxid());
            self.members.get_mut(&id).expect("member").role = Role::Down { until };
            return;
        }
        let (voters, skip) = (self.voters.clone(), self.skip_fast_forward);
        let m = self.members.get_mut(&id).expect("member");
        // Leaving a role: what it logged and did not see committed is applied (the server's
        // fast-forward; the next leader keeps it or truncates it away).
        let last = m.tree.last_zxid();
        for (_, d) in m.disk.log.iter().filter(|(z, _)| *z > last && !skip) {
            m.tree.apply(&Txn::decode(d).expect("a logged txn decodes"));
        }
        m.syncs.clear();
        let now = m.local(self.now);
        let (e, out) = Election::start(id, voters, config(), m.clock, m.disk.last_zxid(), m.disk.current, now);
        m.clock = e.logical_clock();
        m.role = Role::Looking(e);
        self.election_actions(id, out);
    }

    fn election_actions(&mut self, id: i64, out: Vec<ElectionAction>) {
        for a in out {
            match a {
                ElectionAction::Send { to, notification } => self.post_vote(id, to, notification),
                ElectionAction::Decided(d) => self.decided(id, d),
            }
        }
    }

    fn decided(&mut self, id: i64, d: Decision) {
        self.trace(|| format!("{id} decided {:?} for leader {}", d.state, d.vote.leader));
        let now = self.members[&id].local(self.now);
        let voters = self.voters.clone();
        let conn = self.next_conn;
        self.next_conn += 1;
        let skip_read_index = self.skip_read_index;
        let m = self.members.get_mut(&id).expect("member");
        m.clock = d.election_epoch;
        m.next_ping = now + PING_EVERY;
        m.syncs.clear();
        if d.state == PeerState::Leading {
            let mut leader = Leader::start(id, voters, config(), m.disk.accepted, m.disk.current, m.disk.last_zxid())
                .with_limits(LIMITS);
            leader.skip_read_index = skip_read_index;
            if let Some(c) = self.counter_from {
                leader.skip_counter_to(c);
            }
            m.role = Role::Leading { leader: Box::new(leader), decision: d, conns: BTreeMap::new() };
        } else {
            let observer = d.state == PeerState::Observing;
            let (mut learner, out) = Learner::start(id, observer, m.disk.accepted, m.disk.current, m.disk.last_zxid());
            learner.skip_acks = self.skip_acks == Some(id);
            m.role = Role::Following { learner: learner.with_limits(LIMITS), decision: d, conn };
            self.learner_actions(id, out, None);
        }
    }

    /// With `ZAB_SIM_TRACE` set, prints what each member decides (for replaying a seed).
    fn trace(&self, what: impl FnOnce() -> String) {
        if self.tracing {
            eprintln!("{:>6} ms  {}", self.now, what());
        }
    }

    /// Whether a fault touching leader `leader` or learner `sid` was under way within
    /// `TXN_TIMEOUT_WINDOW` before now.
    fn fault_near(&self, leader: i64, sid: i64) -> bool {
        self.faults.iter().any(|(start, end, who)| {
            (who.contains(&leader) || who.contains(&sid)) && *start <= self.now && end + TXN_TIMEOUT_WINDOW >= self.now
        })
    }

    fn check(&self, ok: bool, why: impl FnOnce() -> String) -> Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err(format!("at {} ms: {}", self.now, why()))
        }
    }

    fn commit(&mut self, id: i64, z: i64, d: Bytes) -> Result<(), String> {
        // A leader gives up its epoch rather than take the counter's last value (the next
        // one would wrap into the epoch).
        self.check(z & 0xffff_ffff != 0xffff_ffff, || format!("member {id} committed 0x{z:x}: the counter's end"))?;
        if let Some(prev) = self.committed.get(&z) {
            self.check(*prev == d, || format!("member {id} committed {d:?} at 0x{z:x}, another {prev:?}"))?;
        }
        let m = self.members.get_mut(&id).expect("member");
        let last = m.committed.last().map_or(0, |e| e.0);
        if z <= last {
            return Err(format!("member {id} committed 0x{z:x} after 0x{last:x}"));
        }
        m.committed.push((z, d.clone()));
        if !self.voters.contains(&id) {
            self.observer_commits += 1;
        }
        // A txn already in the tree was applied when the member fast-forwarded its log.
        if z > m.tree.last_zxid() {
            let mut txn = Txn::decode(&d).map_err(|e| format!("txn 0x{z:x}: {e}"))?;
            if let (true, TxnBody::Create(c)) = (self.corrupt_applies, &mut txn.body) {
                if write_number(&d).is_some_and(|n| n % 50 == 0) {
                    c.data = Some(Bytes::from_static(b"not what was logged"));
                    self.corrupted_at.get_or_insert(self.now);
                }
            }
            m.tree.apply(&txn);
        }
        self.committed.insert(z, d);
        Ok(())
    }

    /// Every member's applied tree equals the tree its log makes up to the same zxid (`full`:
    /// compared znode by znode; otherwise as far as this step changed them, see `trees`).
    fn check_trees(&mut self, full: bool) -> Result<(), String> {
        let now = self.now;
        for (id, m) in &mut self.members {
            m.tree.check(&m.disk.log, m.disk.cuts, full).map_err(|why| format!("at {now} ms: member {id}'s {why}"))?;
        }
        Ok(())
    }
}

impl Sim {
    /// Runs one seed: faults until FAULTS_UNTIL, then a leader must commit a write.
    fn run(&mut self) -> Result<(), String> {
        let mut steps = 0u64;
        while self.now < FAULTS_UNTIL + HEAL_BOUND {
            self.step()?;
            steps += 1;
            self.check_trees(steps % 500 == 0)?;
            if self.last_commit_at > FAULTS_UNTIL + 2_500 {
                return self.check_trees(true);
            }
        }
        Err(format!("no write committed within {HEAL_BOUND} ms after the faults stopped: {}", self.states()))
    }

    fn next_timer(&self) -> u64 {
        let mut t = self.next_write;
        if self.now < FAULTS_UNTIL {
            t = t.min(self.next_fault);
        }
        if !self.net.cut.is_empty() {
            t = t.min(self.net.heal_at);
        }
        if self.now < FAULTS_UNTIL + HEAL_BOUND {
            t = t.min(self.next_sync);
        }
        for m in self.members.values() {
            if m.paused_until > self.now {
                t = t.min(m.paused_until);
                continue;
            }
            t = t.min(match &m.role {
                Role::Down { until } => *until,
                Role::Looking(e) => m.global(e.next_deadline_ms()),
                Role::Leading { .. } | Role::Following { .. } => m.global(m.next_ping),
            });
        }
        t.max(self.now)
    }

    fn step(&mut self) -> Result<(), String> {
        let next_msg = self.flights.iter().map(|f| (f.at, f.seq)).min();
        let t = self.next_timer();
        match next_msg {
            Some((at, seq)) if at <= t => {
                let i = self.flights.iter().position(|f| (f.at, f.seq) == (at, seq)).expect("present");
                let f = self.flights.swap_remove(i);
                self.now = at;
                self.deliver(f)?;
            }
            _ => {
                self.now = t;
                self.timers()?;
            }
        }
        // As the server does after each batch of work: the PING round waiting syncs want.
        let leaders: Vec<i64> = self
            .members
            .iter()
            .filter(|(_, m)| matches!(m.role, Role::Leading { .. }) && m.paused_until <= self.now)
            .map(|(id, _)| *id)
            .collect();
        for id in leaders {
            let out = match &mut self.members.get_mut(&id).expect("m").role {
                Role::Leading { leader, .. } => leader.flush(),
                _ => Vec::new(),
            };
            self.leader_actions(id, out)?;
        }
        Ok(())
    }

    fn crash(&mut self, id: i64, until: u64) {
        let m = self.members.get_mut(&id).expect("m");
        if let Role::Following { conn, .. } = &m.role {
            self.net.broken.insert(*conn);
        }
        if let Role::Leading { conns, .. } = &m.role {
            self.net.broken.extend(conns.values().copied());
        }
        m.incarnation += 1;
        m.paused_until = 0;
        m.syncs.clear();
        let durable = m.disk.durable;
        m.disk.log.truncate(durable);
        m.disk.cuts += 1;
        m.committed.clear();
        // Restart: recovery replays the whole durable log.
        m.tree.replace(rebuild(&m.disk.log, i64::MAX));
        m.role = Role::Down { until };
    }

    fn timers(&mut self) -> Result<(), String> {
        let now = self.now;
        if !self.net.cut.is_empty() && now >= self.net.heal_at {
            self.net.cut.clear();
        }
        if now < FAULTS_UNTIL && now >= self.next_fault {
            self.next_fault = now + 500 + self.rng.below(1_500);
            let ids: Vec<i64> = self.members.keys().copied().collect();
            match self.rng.below(10) {
                0..=2 => {
                    let id = *self.rng.pick(&ids);
                    let until = (now + 200 + self.rng.below(2_000)).min(FAULTS_UNTIL + 2_000);
                    self.trace(|| format!("{id} crashes until {until}"));
                    self.crash(id, until);
                    self.faults.push((now, until, BTreeSet::from([id])));
                }
                3..=5 if self.net.cut.is_empty() => {
                    let side: BTreeSet<i64> = ids.iter().copied().filter(|_| self.rng.below(2) == 0).collect();
                    for a in &ids {
                        for b in &ids {
                            if side.contains(a) != side.contains(b) {
                                self.net.cut.insert((*a, *b));
                            }
                        }
                    }
                    self.net.heal_at = (now + 500 + self.rng.below(2_500)).min(FAULTS_UNTIL);
                    self.net.loud = self.rng.below(2) == 0;
                    let who: BTreeSet<i64> = self.net.cut.iter().map(|(a, _)| *a).collect();
                    self.trace(|| format!("partition {side:?} until {}", self.net.heal_at));
                    self.faults.push((now, self.net.heal_at, who));
                }
                6 if self.net.cut.is_empty() => {
                    // A bridge: one pair cannot talk, everyone else can, so each of the two
                    // sees a different majority (with 3 members: A-B and B-C up, A-C cut).
                    let a = *self.rng.pick(&ids);
                    let b = *self.rng.pick(&ids);
                    if a != b {
                        self.net.cut.insert((a, b));
                        self.net.cut.insert((b, a));
                        self.net.heal_at = (now + 500 + self.rng.below(2_500)).min(FAULTS_UNTIL);
                        self.net.loud = self.rng.below(2) == 0;
                        self.faults.push((now, self.net.heal_at, BTreeSet::from([a, b])));
                        self.trace(|| format!("{a} and {b} cut until {}", self.net.heal_at));
                    }
                }
                7 => {
                    // A pause longer than syncLimit; a client syncs through the member the
                    // moment it resumes, before any of its timers runs.
                    let id = *self.rng.pick(&ids);
                    if !matches!(self.members[&id].role, Role::Down { .. }) {
                        let until = (now + 1_500 + self.rng.below(2_000)).min(FAULTS_UNTIL + 2_000);
                        self.members.get_mut(&id).expect("m").paused_until = until;
                        self.faults.push((now, until, BTreeSet::from([id])));
                        self.trace(|| format!("{id} paused until {until}"));
                        self.seq += 1;
                        let msg = Msg::ClientSync { acked: None };
                        self.flights.push(Flight { at: until, seq: self.seq, from: id, to: id, msg });
                    }
                }
                8 => {
                    // A disk that hangs: the member's fsyncs complete only when it recovers,
                    // while its packets (PINGs too) flow. As a follower it ACKs nothing
                    // meanwhile, and its leader drops it (transaction timeout).
                    let id = *self.rng.pick(&ids);
                    let until = (now + 1_000 + self.rng.below(2_500)).min(FAULTS_UNTIL + 2_000);
                    self.members.get_mut(&id).expect("m").slow_disk_until = until;
                    self.faults.push((now, until, BTreeSet::from([id])));
                    self.trace(|| format!("{id}'s disk hangs until {until}"));
                }
                _ => {}
            }
        }
        if now >= self.next_sync && now < FAULTS_UNTIL + HEAL_BOUND {
            self.next_sync = now + 50 + self.rng.below(250);
            let ids: Vec<i64> = self.members.keys().copied().collect();
            let id = *self.rng.pick(&ids);
            let msg = Msg::ClientSync { acked: Some(self.acked_writes.len()) };
            self.post_local(id, msg);
        }
        if now >= self.next_write {
            self.next_write = now + 20 + self.rng.below(30);
            let leader = self
                .members
                .iter()
                .filter_map(|(id, m)| match &m.role {
                    Role::Leading { leader, .. } if leader.is_established() && m.paused_until <= now => {
                        Some((leader.epoch(), *id))
                    }
                    _ => None,
                })
                .max()
                .map(|(_, id)| id);
            if let Some(id) = leader {
                self.writes += 1;
                let n = self.writes;
                let out = match &mut self.members.get_mut(&id).expect("m").role {
                    Role::Leading { leader, .. } => {
                        leader.propose(|z| write_txn(n, z)).map(|(_, out)| out).unwrap_or_default()
                    }
                    _ => Vec::new(),
                };
                self.leader_actions(id, out)?;
            }
        }
        let ids: Vec<i64> = self.members.keys().copied().collect();
        for id in ids {
            self.member_timer(id)?;
        }
        Ok(())
    }

    fn member_timer(&mut self, id: i64) -> Result<(), String> {
        let global = self.now;
        let m = self.members.get_mut(&id).expect("m");
        if m.paused_until > global {
            return Ok(());
        }
        let now = m.local(global);
        let half_tick = m.next_ping <= now;
        if half_tick {
            m.next_ping = now + PING_EVERY;
        }
        match &mut m.role {
            Role::Down { until } if *until <= global => self.look(id),
            Role::Looking(e) if e.next_deadline_ms() <= now => {
                let out = e.tick(now);
                self.election_actions(id, out);
            }
            Role::Leading { leader, .. } if half_tick => {
                let out = leader.tick();
                self.leader_actions(id, out)?;
            }
            Role::Following { learner, .. } if half_tick => {
                let out = learner.tick();
                self.learner_actions_checked(id, out, None)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn deliver(&mut self, f: Flight) -> Result<(), String> {
        let Flight { from, to, msg, seq, .. } = f;
        let paused_until = self.members[&to].paused_until;
        if paused_until > self.now {
            // A paused process takes nothing in; it all waits, in order, for the resume. The
            // flight keeps its sequence number: one posted later but due exactly at the resume
            // must not overtake it (that broke TCP's order; caught when a COMMIT overtook a DIFF).
            self.flights.push(Flight { at: paused_until, seq, from, to, msg });
            return Ok(());
        }
        if let Msg::ClientSync { acked } = msg {
            let acked = acked.unwrap_or(self.acked_writes.len());
            return self.client_sync(to, acked);
        }
        if let Msg::Fsync { incarnation, len, zxid } = msg {
            let m = self.members.get_mut(&to).expect("m");
            if m.incarnation != incarnation {
                return Ok(());
            }
            m.disk.durable = m.disk.durable.max(len).min(m.disk.log.len());
            match &mut m.role {
                Role::Leading { leader, .. } => {
                    let out = leader.logged(zxid);
                    self.leader_actions(to, out)?;
                }
                Role::Following { learner, .. } => {
                    let out = learner.logged(zxid);
                    self.learner_actions_checked(to, out, None)?;
                }
                _ => {}
            }
            return Ok(());
        }
        if let Msg::Segment(seg) = msg {
            let conn = seg.conn();
            for (p, snapshot) in self.receive_segment(from, to, seg) {
                self.quorum_packet(from, to, conn, p, snapshot)?;
            }
            return Ok(());
        }
        if self.net.cut.contains(&(from, to)) {
            return Ok(());
        }
        let now = self.members[&to].local(self.now);
        let from_is_voter = self.voters.contains(&from);
        match msg {
            Msg::Vote(n) => {
                let m = self.members.get_mut(&to).expect("m");
                match &mut m.role {
                    Role::Looking(e) => {
                        let out = e.receive(from, &n, now);
                        self.election_actions(to, out);
                    }
                    Role::Leading { decision, .. } | Role::Following { decision, .. } => {
                        if let Some(reply) = settled_reply(decision, &config(), from_is_voter, &n) {
                            self.post_vote(to, from, reply);
                        }
                    }
                    Role::Down { .. } => {}
                }
            }
            Msg::Fsync { .. } | Msg::ClientSync { .. } | Msg::Segment(_) => unreachable!("handled above"),
        }
        Ok(())
    }

    fn states(&self) -> String {
        self.members
            .iter()
            .map(|(id, m)| {
                let r = match &m.role {
                    Role::Down { .. } => "down".to_string(),
                    Role::Looking(e) => format!("looking round {}", e.logical_clock()),
                    Role::Leading { leader, .. } => {
                        format!("leading epoch {:?} established {}", leader.epoch(), leader.is_established())
                    }
                    Role::Following { learner, decision, .. } => {
                        format!("following {} serving {}", decision.vote.leader, learner.is_serving())
                    }
                };
                format!("{id}: {r}, log to 0x{:x}", m.disk.last_zxid())
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

mod actions;

mod net;
use net::{Net, Segment};

mod trees;
use trees::{rebuild, AppliedTree};

mod cases;
