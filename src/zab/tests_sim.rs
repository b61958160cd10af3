//! Seeded simulation of whole ensembles: the real election, leader and learner state machines
//! of 3 or 5 members, over a simulated network (delays; partitions that break a quorum
//! connection as a whole, as TCP does) and simulated disks (a durable prefix and a tail that
//! a crash loses; epoch files), with crashes, restarts and a client writing through whoever
//! leads. Checked at every step: at most one leader established per epoch; no two members
//! commit different txns at one zxid; a member never truncates a txn it committed; every
//! write a leader committed is in the log of every later established leader; a learner never
//! leaves its leader over a packet it did not expect; every member's applied tree (a real
//! `DataTree` fed the real txns it commits, fast-forwarded from its log when it leaves a role,
//! rebuilt on TRUNC, SNAP and restart, as the server does) equals the tree rebuilt from its log
//! up to the same zxid. Each member's clock runs at its own
//! rate (0.8x to 1.25x), so its timeouts and pings drift against the others'. After the faults
//! stop, a leader must commit a new write within a bound.
//! `ZAB_SIM_SEEDS=N` runs N seeds (default 200); `ZAB_SIM_SEED=S` replays one.

use super::election::{settled_reply, Decision, Election, ElectionAction};
use super::leader::{Leader, LeaderAction};
use super::learner::{Learner, LearnerAction};
use super::sync::{LogIndex, SyncPlan};
use super::wire::{packet, Notification, PeerState, QuorumPacket};
use crate::proto::records::{Acl, CreateTxn, TxnHeader};
use crate::testkit::Rng;
use crate::tree::DataTree;
use crate::txn::{Txn, TxnBody};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

const INIT_LIMIT: u64 = 2_000;
const SYNC_LIMIT: u64 = 1_000;
const PING_EVERY: u64 = 250;
const FAULTS_UNTIL: u64 = 20_000;
const HEAL_BOUND: u64 = 30_000;

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
}

impl Disk {
    fn last_zxid(&self) -> i64 {
        self.log.last().map_or(0, |e| e.0)
    }
}

enum Role {
    Down { until: u64 },
    Looking(Election),
    Leading { leader: Leader, decision: Decision, since: u64, conns: BTreeMap<i64, u64>, heard: BTreeMap<i64, u64> },
    Following { learner: Learner, decision: Decision, conn: u64, heard: u64 },
}

struct Member {
    disk: Disk,
    role: Role,
    clock: i64,
    /// Bumped on every crash: fsyncs scheduled before it are void.
    incarnation: u64,
    committed: Log,
    /// Local time: next PING (leader).
    next_ping: u64,
    /// This member's clock rate in thousandths: its local time is `now * rate / 1000`.
    rate: u64,
    /// The tree it applied.
    tree: DataTree,
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

/// The tree a log's txns up to `upto` make.
fn rebuild(log: &Log, upto: i64) -> DataTree {
    let mut t = DataTree::new();
    for (z, d) in log.iter().filter(|(z, _)| *z <= upto) {
        t.apply(&Txn::decode(d).unwrap_or_else(|e| panic!("txn 0x{z:x}: {e}")));
    }
    t
}

/// Whether two trees hold the same znodes with the same data (paths of `writes` writes).
fn same_tree(a: &DataTree, b: &DataTree, writes: u64) -> bool {
    a.last_zxid() == b.last_zxid()
        && a.node_count() == b.node_count()
        && (1..=writes).all(|n| {
            let p = format!("/w{n}");
            a.get(&p).map(|x| x.data().map(<[u8]>::to_vec)) == b.get(&p).map(|x| x.data().map(<[u8]>::to_vec))
        })
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
    Quorum { conn: u64, p: QuorumPacket, snapshot: Option<Log> },
    Fsync { incarnation: u64, len: usize, zxid: i64 },
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
    cut: BTreeSet<(i64, i64)>,
    heal_at: u64,
    broken: BTreeSet<u64>,
    next_conn: u64,
    committed: BTreeMap<i64, Bytes>,
    acked: Log,
    leaders: BTreeMap<i64, i64>,
    writes: u64,
    next_write: u64,
    /// Planted bug: ACK (and self-ACK) a txn before it is durable.
    ack_before_fsync: bool,
    /// A planted bug: leaving a role does not apply what the member logged.
    skip_fast_forward: bool,
    next_fault: u64,
    last_commit_at: u64,
    /// The last delivery time per (from, to): messages between two members stay in order.
    fifo: BTreeMap<(i64, i64), u64>,
}

fn config() -> Bytes {
    Bytes::from_static(b"version=0")
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = Rng::new(seed);
        let n = if rng.below(2) == 0 { 3 } else { 5 };
        let voters: BTreeSet<i64> = (1..=n).collect();
        let mut sim = Sim {
            rng,
            now: 0,
            voters: voters.clone(),
            members: BTreeMap::new(),
            flights: Vec::new(),
            seq: 0,
            cut: BTreeSet::new(),
            heal_at: 0,
            broken: BTreeSet::new(),
            next_conn: 1,
            committed: BTreeMap::new(),
            acked: Vec::new(),
            leaders: BTreeMap::new(),
            writes: 0,
            next_write: 500,
            ack_before_fsync: false,
            skip_fast_forward: false,
            next_fault: 1_000,
            last_commit_at: 0,
            fifo: BTreeMap::new(),
        };
        for id in voters {
            let m = Member {
                disk: Disk::default(),
                role: Role::Down { until: sim.rng.below(300) },
                clock: 0,
                incarnation: 0,
                committed: Vec::new(),
                next_ping: 0,
                rate: 800 + sim.rng.below(451),
                tree: DataTree::new(),
            };
            sim.members.insert(id, m);
        }
        sim
    }

    fn post(&mut self, from: i64, to: i64, msg: Msg) {
        // TCP: what one member sends another arrives in order (delays vary, order does not).
        let earliest = self.fifo.get(&(from, to)).copied().unwrap_or(0);
        let at = (self.now + 1 + self.rng.below(20)).max(earliest);
        self.fifo.insert((from, to), at);
        self.seq += 1;
        self.flights.push(Flight { at, seq: self.seq, from, to, msg });
    }

    fn fsync_later(&mut self, id: i64, zxid: i64) {
        let m = &self.members[&id];
        let (inc, len) = (m.incarnation, m.disk.log.len());
        let at = self.now + 1 + self.rng.below(5);
        self.seq += 1;
        self.flights.push(Flight {
            at,
            seq: self.seq,
            from: id,
            to: id,
            msg: Msg::Fsync { incarnation: inc, len, zxid },
        });
    }

    fn look(&mut self, id: i64) {
        let (voters, skip) = (self.voters.clone(), self.skip_fast_forward);
        let m = self.members.get_mut(&id).expect("member");
        // Leaving a role: what it logged and did not see committed is applied (the server's
        // fast-forward; the next leader keeps it or truncates it away).
        let last = m.tree.last_zxid();
        for (_, d) in m.disk.log.iter().filter(|(z, _)| *z > last && !skip) {
            m.tree.apply(&Txn::decode(d).expect("a logged txn decodes"));
        }
        let now = m.local(self.now);
        let (e, out) = Election::start(id, voters, config(), m.clock, m.disk.last_zxid(), m.disk.current, now);
        m.clock = e.logical_clock();
        m.role = Role::Looking(e);
        self.election_actions(id, out);
    }

    fn election_actions(&mut self, id: i64, out: Vec<ElectionAction>) {
        for a in out {
            match a {
                ElectionAction::Send { to, notification } => self.post(id, to, Msg::Vote(notification)),
                ElectionAction::Decided(d) => self.decided(id, d),
            }
        }
    }

    fn decided(&mut self, id: i64, d: Decision) {
        let now = self.members[&id].local(self.now);
        let voters = self.voters.clone();
        let conn = self.next_conn;
        self.next_conn += 1;
        let m = self.members.get_mut(&id).expect("member");
        m.clock = d.election_epoch;
        if d.state == PeerState::Leading {
            let leader = Leader::start(id, voters, config(), m.disk.accepted, m.disk.current, m.disk.last_zxid());
            m.role = Role::Leading { leader, decision: d, since: now, conns: BTreeMap::new(), heard: BTreeMap::new() };
            m.next_ping = now + PING_EVERY;
        } else {
            let (learner, out) = Learner::start(id, false, m.disk.accepted, m.disk.current, m.disk.last_zxid());
            m.role = Role::Following { learner, decision: d, conn, heard: now };
            self.learner_actions(id, out, None);
        }
    }

    fn check(&self, ok: bool, why: impl FnOnce() -> String) -> Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err(format!("at {} ms: {}", self.now, why()))
        }
    }

    fn commit(&mut self, id: i64, z: i64, d: Bytes) -> Result<(), String> {
        if let Some(prev) = self.committed.get(&z) {
            self.check(*prev == d, || format!("member {id} committed {d:?} at 0x{z:x}, another {prev:?}"))?;
        }
        let m = self.members.get_mut(&id).expect("member");
        let last = m.committed.last().map_or(0, |e| e.0);
        if z <= last {
            return Err(format!("member {id} committed 0x{z:x} after 0x{last:x}"));
        }
        m.committed.push((z, d.clone()));
        // A txn already in the tree was applied when the member fast-forwarded its log.
        if z > m.tree.last_zxid() {
            m.tree.apply(&Txn::decode(&d).map_err(|e| format!("txn 0x{z:x}: {e}"))?);
        }
        self.committed.insert(z, d);
        Ok(())
    }

    /// Every member's applied tree equals the tree its log makes up to the same zxid.
    fn check_trees(&self) -> Result<(), String> {
        for (id, m) in &self.members {
            if matches!(m.role, Role::Down { .. }) {
                continue;
            }
            let rebuilt = rebuild(&m.disk.log, m.tree.last_zxid());
            self.check(same_tree(&m.tree, &rebuilt, self.writes), || {
                format!(
                    "member {id}'s applied tree (0x{:x}, {} znodes) differs from its log's ({} znodes)",
                    m.tree.last_zxid(),
                    m.tree.node_count(),
                    rebuilt.node_count()
                )
            })?;
        }
        Ok(())
    }

    fn leader_actions(&mut self, id: i64, out: Vec<LeaderAction>) -> Result<(), String> {
        for a in out {
            match a {
                LeaderAction::Send(to, p) => self.leader_send(id, to, p, None),
                LeaderAction::Sync(to, plan, upto) => {
                    let log = self.members[&id].disk.log.clone();
                    let (first, after) = match plan {
                        SyncPlan::Diff { zxid, after } => (QuorumPacket::new(packet::DIFF, zxid, None), after),
                        SyncPlan::Trunc { to: t } => (QuorumPacket::new(packet::TRUNC, t, None), t),
                        SyncPlan::Snap => {
                            // On the wire the snapshot follows the SNAP packet on the stream.
                            let snap: Log = log.iter().filter(|e| e.0 <= upto).cloned().collect();
                            self.leader_send(id, to, QuorumPacket::new(packet::SNAP, upto, None), Some(snap));
                            continue;
                        }
                    };
                    self.leader_send(id, to, first, None);
                    for (z, d) in log.iter().filter(|e| e.0 > after && e.0 <= upto) {
                        self.leader_send(id, to, QuorumPacket::new(packet::PROPOSAL, *z, Some(d.clone())), None);
                        self.leader_send(id, to, QuorumPacket::new(packet::COMMIT, *z, None), None);
                    }
                }
                LeaderAction::PersistAcceptedEpoch(e) => self.members.get_mut(&id).expect("m").disk.accepted = e,
                LeaderAction::PersistCurrentEpoch(e) => self.members.get_mut(&id).expect("m").disk.current = e,
                LeaderAction::Append(z, d) => {
                    self.members.get_mut(&id).expect("m").disk.log.push((z, d));
                    if self.ack_before_fsync {
                        let more = match &mut self.members.get_mut(&id).expect("m").role {
                            Role::Leading { leader, .. } => leader.logged(z),
                            _ => Vec::new(),
                        };
                        self.leader_actions(id, more)?;
                    } else {
                        self.fsync_later(id, z);
                    }
                }
                LeaderAction::Commit(z, d) => {
                    self.commit(id, z, d.clone())?;
                    self.acked.push((z, d));
                    self.last_commit_at = self.now;
                }
                LeaderAction::Established => {
                    let m = &self.members[&id];
                    let Role::Leading { leader, .. } = &m.role else { continue };
                    let epoch = leader.epoch().expect("epoch");
                    if let Some(other) = self.leaders.get(&epoch) {
                        return Err(format!("at {} ms: members {other} and {id} both lead epoch {epoch}", self.now));
                    }
                    self.leaders.insert(epoch, id);
                    // Every write committed so far is in the new leader's log.
                    for (z, d) in &self.acked {
                        let has = m.disk.log.iter().any(|(lz, ld)| lz == z && ld == d);
                        self.check(has, || format!("leader {id} of epoch {epoch} lacks committed 0x{z:x}"))?;
                    }
                    // Its whole log is committed by establishing the epoch.
                    let log = m.disk.log.clone();
                    for (z, d) in log {
                        if z > self.members[&id].committed.last().map_or(0, |e| e.0) {
                            self.commit(id, z, d)?;
                        }
                    }
                }
                LeaderAction::SessionTouches(..) | LeaderAction::Forwarded(..) => {}
                LeaderAction::DropLearner(sid, _) => {
                    if let Role::Leading { conns, .. } = &mut self.members.get_mut(&id).expect("m").role {
                        if let Some(c) = conns.remove(&sid) {
                            self.broken.insert(c);
                        }
                    }
                }
                LeaderAction::Fail(_) => self.look(id),
            }
        }
        Ok(())
    }

    fn leader_send(&mut self, id: i64, to: i64, p: QuorumPacket, snapshot: Option<Log>) {
        let conn = match &self.members[&id].role {
            Role::Leading { conns, .. } => conns.get(&to).copied(),
            _ => None,
        };
        if let Some(conn) = conn {
            self.post(id, to, Msg::Quorum { conn, p, snapshot });
        }
    }

    fn learner_actions(&mut self, id: i64, out: Vec<LearnerAction>, snapshot: Option<Log>) {
        let _ = self.learner_actions_checked(id, out, snapshot);
    }

    fn learner_actions_checked(
        &mut self,
        id: i64,
        out: Vec<LearnerAction>,
        mut snapshot: Option<Log>,
    ) -> Result<(), String> {
        let (conn, leader_id) = match &self.members[&id].role {
            Role::Following { conn, decision, .. } => (*conn, decision.vote.leader),
            _ => return Ok(()),
        };
        for a in out {
            match a {
                LearnerAction::Send(p) => self.post(id, leader_id, Msg::Quorum { conn, p, snapshot: None }),
                LearnerAction::SyncDone => {}
                LearnerAction::PersistAcceptedEpoch(e) => self.members.get_mut(&id).expect("m").disk.accepted = e,
                LearnerAction::PersistCurrentEpoch(e) => self.members.get_mut(&id).expect("m").disk.current = e,
                LearnerAction::Truncate(z) => {
                    let m = self.members.get_mut(&id).expect("m");
                    if let Some(c) = m.committed.iter().find(|e| e.0 > z) {
                        return Err(format!("member {id} truncated to 0x{z:x} past its committed 0x{:x}", c.0));
                    }
                    m.disk.log.retain(|e| e.0 <= z);
                    m.disk.durable = m.disk.durable.min(m.disk.log.len());
                    if m.tree.last_zxid() > z {
                        m.tree = rebuild(&m.disk.log, z);
                    }
                    // Fsyncs still in flight covered the old log, not what is appended next.
                    m.incarnation += 1;
                }
                LearnerAction::LoadSnapshot(z) => {
                    let snap = snapshot.take().expect("a snapshot follows SNAP");
                    let m = self.members.get_mut(&id).expect("m");
                    m.disk.log = snap.clone();
                    m.disk.durable = snap.len();
                    m.tree = rebuild(&snap, z);
                    m.incarnation += 1;
                    let mine: Log = m.committed.clone();
                    for (cz, cd) in &mine {
                        let kept = snap.iter().any(|(sz, sd)| sz == cz && sd == cd);
                        self.check(kept || *cz > z, || format!("member {id}'s snapshot lost its committed 0x{cz:x}"))?;
                    }
                    for (sz, sd) in snap {
                        if sz > self.members[&id].committed.last().map_or(0, |e| e.0) {
                            self.commit(id, sz, sd)?;
                        }
                    }
                }
                LearnerAction::Append(entries) => {
                    let last = entries.last().expect("entries").0;
                    self.members.get_mut(&id).expect("m").disk.log.extend(entries);
                    if self.ack_before_fsync {
                        let more = match &mut self.members.get_mut(&id).expect("m").role {
                            Role::Following { learner, .. } => learner.logged(last),
                            _ => Vec::new(),
                        };
                        self.learner_actions_checked(id, more, None)?;
                    } else {
                        self.fsync_later(id, last);
                    }
                }
                LearnerAction::Commit(z, d) => self.commit(id, z, d)?,
                LearnerAction::PingReply(z) => self.post(
                    id,
                    leader_id,
                    Msg::Quorum { conn, p: QuorumPacket::new(packet::PING, z, Some(Bytes::new())), snapshot: None },
                ),
                LearnerAction::Serving => {}
                LearnerAction::Fail(why) => {
                    // Between correct members a learner leaves only when its link breaks or
                    // a leader of an older epoch speaks: never over a packet it did not expect
                    // (that was a real bug: proposals between NEWLEADER and UPTODATE).
                    self.check(!why.contains("unexpected packet"), || format!("member {id} left its leader: {why}"))?;
                    self.broken.insert(conn);
                    self.look(id);
                    return Ok(());
                }
            }
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
            if steps % 500 == 0 {
                self.check_trees()?;
            }
            if self.last_commit_at > FAULTS_UNTIL + 2_500 {
                return self.check_trees();
            }
        }
        Err(format!("no write committed within {HEAL_BOUND} ms after the faults stopped: {}", self.states()))
    }

    fn next_timer(&self) -> u64 {
        let mut t = self.next_write;
        if self.now < FAULTS_UNTIL {
            t = t.min(self.next_fault);
        }
        if !self.cut.is_empty() {
            t = t.min(self.heal_at);
        }
        for m in self.members.values() {
            t = t.min(match &m.role {
                Role::Down { until } => *until,
                Role::Looking(e) => m.global(e.next_deadline_ms()),
                Role::Leading { .. } => m.global(m.next_ping),
                Role::Following { learner, heard, .. } => {
                    m.global(heard + if learner.is_serving() { SYNC_LIMIT } else { INIT_LIMIT } + 1)
                }
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
                self.deliver(f)
            }
            _ => {
                self.now = t;
                self.timers()
            }
        }
    }

    fn crash(&mut self, id: i64, until: u64) {
        let m = self.members.get_mut(&id).expect("m");
        if let Role::Following { conn, .. } = &m.role {
            self.broken.insert(*conn);
        }
        if let Role::Leading { conns, .. } = &m.role {
            self.broken.extend(conns.values().copied());
        }
        m.incarnation += 1;
        let durable = m.disk.durable;
        m.disk.log.truncate(durable);
        m.committed.clear();
        // Restart: recovery replays the whole durable log.
        m.tree = rebuild(&m.disk.log, i64::MAX);
        m.role = Role::Down { until };
    }

    fn timers(&mut self) -> Result<(), String> {
        let now = self.now;
        if !self.cut.is_empty() && now >= self.heal_at {
            self.cut.clear();
        }
        if now < FAULTS_UNTIL && now >= self.next_fault {
            self.next_fault = now + 500 + self.rng.below(1_500);
            let ids: Vec<i64> = self.members.keys().copied().collect();
            match self.rng.below(10) {
                0..=2 => {
                    let id = *self.rng.pick(&ids);
                    let until = (now + 200 + self.rng.below(2_000)).min(FAULTS_UNTIL + 2_000);
                    self.crash(id, until);
                }
                3..=5 if self.cut.is_empty() => {
                    let side: BTreeSet<i64> = ids.iter().copied().filter(|_| self.rng.below(2) == 0).collect();
                    for a in &ids {
                        for b in &ids {
                            if side.contains(a) != side.contains(b) {
                                self.cut.insert((*a, *b));
                            }
                        }
                    }
                    self.heal_at = (now + 500 + self.rng.below(2_500)).min(FAULTS_UNTIL);
                }
                6 if self.cut.is_empty() => {
                    // A bridge: one pair cannot talk, everyone else can, so each of the two
                    // sees a different majority (with 3 members: A-B and B-C up, A-C cut).
                    let a = *self.rng.pick(&ids);
                    let b = *self.rng.pick(&ids);
                    if a != b {
                        self.cut.insert((a, b));
                        self.cut.insert((b, a));
                        self.heal_at = (now + 500 + self.rng.below(2_500)).min(FAULTS_UNTIL);
                    }
                }
                _ => {}
            }
        }
        if now >= self.next_write {
            self.next_write = now + 20 + self.rng.below(30);
            let leader = self
                .members
                .iter()
                .filter_map(|(id, m)| match &m.role {
                    Role::Leading { leader, .. } if leader.is_established() => Some((leader.epoch(), *id)),
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
        let quorum = self.voters.len() / 2 + 1;
        let m = self.members.get_mut(&id).expect("m");
        let now = m.local(global);
        match &mut m.role {
            Role::Down { until } if *until <= global => self.look(id),
            Role::Looking(e) if e.next_deadline_ms() <= now => {
                let out = e.tick(now);
                self.election_actions(id, out);
            }
            Role::Leading { leader, since, heard, .. } if m.next_ping <= now => {
                m.next_ping = now + PING_EVERY;
                let alive = 1 + heard.values().filter(|t| now - **t <= SYNC_LIMIT).count();
                let lost = if leader.is_established() { alive < quorum } else { now - *since > INIT_LIMIT };
                if lost {
                    let conns: Vec<u64> = match &m.role {
                        Role::Leading { conns, .. } => conns.values().copied().collect(),
                        _ => Vec::new(),
                    };
                    self.broken.extend(conns);
                    self.look(id);
                } else {
                    let out = leader.ping();
                    self.leader_actions(id, out)?;
                }
            }
            Role::Following { learner, heard, conn, .. } => {
                let limit = if learner.is_serving() { SYNC_LIMIT } else { INIT_LIMIT };
                if now > *heard + limit {
                    self.broken.insert(*conn);
                    self.look(id);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn deliver(&mut self, f: Flight) -> Result<(), String> {
        let Flight { from, to, msg, .. } = f;
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
        if self.cut.contains(&(from, to)) {
            if let Msg::Quorum { conn, .. } = msg {
                self.broken.insert(conn);
            }
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
                            self.post(to, from, Msg::Vote(reply));
                        }
                    }
                    Role::Down { .. } => {}
                }
            }
            Msg::Quorum { conn, p, snapshot } => {
                if self.broken.contains(&conn) {
                    return Ok(());
                }
                let m = self.members.get_mut(&to).expect("m");
                match &mut m.role {
                    Role::Leading { leader, conns, heard, .. } => {
                        if matches!(p.type_, packet::FOLLOWERINFO | packet::OBSERVERINFO) {
                            if let Some(old) = conns.insert(from, conn) {
                                if old != conn {
                                    leader.learner_gone(from);
                                    self.broken.insert(old);
                                }
                            }
                        }
                        if conns.get(&from) != Some(&conn) {
                            return Ok(());
                        }
                        heard.insert(from, now);
                        let out = leader.packet(from, p, &LogView(&m.disk.log));
                        self.leader_actions(to, out)?;
                    }
                    Role::Following { learner, conn: c, heard, .. } if *c == conn => {
                        *heard = now;
                        let out = learner.packet(p);
                        self.learner_actions_checked(to, out, snapshot)?;
                    }
                    _ => {
                        // Nobody there (any more) for this connection.
                        self.broken.insert(conn);
                    }
                }
            }
            Msg::Fsync { .. } => unreachable!("handled above"),
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

fn run_seed(seed: u64, planted: bool) -> Result<(), String> {
    let mut s = Sim::new(seed);
    s.ack_before_fsync = planted;
    s.run()
}

#[test]
fn seeded_ensembles_keep_zab_safe_and_recover() {
    let seeds: Vec<u64> = match std::env::var("ZAB_SIM_SEED") {
        Ok(s) => vec![s.parse().expect("ZAB_SIM_SEED is a number")],
        Err(_) => (0..std::env::var("ZAB_SIM_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(200)).collect(),
    };
    for seed in seeds {
        if let Err(why) = run_seed(seed, false) {
            panic!("seed {seed} failed (replay: ZAB_SIM_SEED={seed}): {why}");
        }
    }
}

#[test]
fn the_simulation_catches_acks_before_fsync() {
    // The planted bug: members ACK (and the leader counts itself) as soon as a txn is
    // written, before it is durable; a crash then loses a txn a quorum "had".
    let caught = (0..300u64).find_map(|seed| run_seed(seed, true).err().map(|why| (seed, why)));
    let (seed, why) = caught.expect("no seed caught ACK-before-fsync");
    assert!(
        why.contains("lacks committed") || why.contains("committed") || why.contains("truncated"),
        "seed {seed}: {why}"
    );
}

#[test]
fn the_simulation_catches_a_member_that_does_not_fast_forward_its_log() {
    // The planted bug: a member leaving its role keeps its tree as committed so far, so a
    // txn it logged but never saw committed is missing from its tree once the next leader
    // (which has it) syncs it by DIFF from its log's end.
    let caught = (0..300u64).find_map(|seed| {
        let mut s = Sim::new(seed);
        s.skip_fast_forward = true;
        s.run().err()
    });
    let why = caught.expect("no seed caught the missing fast-forward");
    assert!(why.contains("applied tree"), "{why}");
}

#[test]
fn a_seed_replays_exactly() {
    let trace = |seed| {
        let mut s = Sim::new(seed);
        s.run().unwrap();
        (s.now, s.seq, s.writes, s.committed.len())
    };
    assert_eq!(trace(3), trace(3));
}
