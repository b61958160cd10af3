//! Fast leader election: single steps against ZooKeeper's rules, then a seeded simulation of
//! 3- and 5-member ensembles (message delay, loss, duplication and reordering; observers)
//! that must always elect exactly one leader that is at least as up to date as a quorum.
//! `ZAB_ELECTION_SEEDS=N` runs N seeds (default 300); a failure names its seed, and
//! `ZAB_ELECTION_SEED=S` replays exactly that one.

use super::*;
use std::collections::BTreeSet;

fn voters(ids: &[i64]) -> BTreeSet<i64> {
    ids.iter().copied().collect()
}

fn cfg() -> Bytes {
    Bytes::from_static(b"version=0")
}

fn looking(leader: i64, zxid: i64, peer_epoch: i64, election_epoch: i64) -> Notification {
    Notification {
        state: PeerState::Looking,
        leader,
        zxid,
        election_epoch,
        peer_epoch,
        version: NOTIFICATION_VERSION,
        config: Some(cfg()),
    }
}

fn sends(actions: &[ElectionAction]) -> Vec<(i64, Notification)> {
    actions
        .iter()
        .filter_map(|a| match a {
            ElectionAction::Send { to, notification } => Some((*to, notification.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn votes_order_on_epoch_then_zxid_then_sid() {
    let v = |leader, zxid, peer_epoch| Vote { leader, zxid, peer_epoch };
    assert!(v(1, 0, 2).beats(&v(3, 100, 1)), "epoch first");
    assert!(v(1, 101, 1).beats(&v(3, 100, 1)), "then zxid");
    assert!(v(3, 100, 1).beats(&v(1, 100, 1)), "then sid");
    assert!(!v(3, 100, 1).beats(&v(3, 100, 1)));
}

#[test]
fn a_better_vote_is_adopted_and_a_quorum_decides_after_the_finalize_wait() {
    let (mut e, out) = Election::start(1, voters(&[1, 2, 3]), cfg(), 0, 5, 1, 0);
    // The first round's notification goes to every voter, ourselves included.
    let s = sends(&out);
    assert_eq!(s.iter().map(|(to, _)| *to).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!((s[0].1.leader, s[0].1.zxid, s[0].1.election_epoch), (1, 5, 1));
    e.receive(1, &s[0].1, 1);
    // Member 3 is more up to date: adopted and announced.
    let out = e.receive(3, &looking(3, 9, 1, 1), 2);
    assert!(sends(&out).iter().all(|(_, n)| n.leader == 3), "{out:?}");
    assert_eq!(e.proposal().leader, 3);
    assert_eq!(e.next_deadline_ms(), 200, "no quorum agrees yet");
    // Our own announcement of 3 comes back; with 3's that is a quorum of 3: finalize.
    e.receive(1, &looking(3, 9, 1, 1), 3);
    assert_eq!(e.next_deadline_ms(), 3 + DECIDE_WAIT_MS, "the decide wait ends before the resend timer");
    assert!(e.tick(40).is_empty());
    let out = e.tick(3 + DECIDE_WAIT_MS);
    assert_eq!(
        out,
        vec![ElectionAction::Decided(Decision {
            state: PeerState::Following,
            vote: Vote { leader: 3, zxid: 9, peer_epoch: 1 },
            election_epoch: 1
        })]
    );
    assert!(e.receive(2, &looking(2, 100, 5, 1), 204).is_empty(), "decided: nothing more");
}

#[test]
fn a_better_vote_during_the_finalize_wait_cancels_it() {
    let (mut e, _) = Election::start(1, voters(&[1, 2, 3]), cfg(), 0, 5, 1, 0);
    e.receive(1, &looking(1, 5, 1, 1), 1);
    e.receive(2, &looking(1, 5, 1, 1), 2);
    assert_eq!(e.next_deadline_ms(), 2 + DECIDE_WAIT_MS, "deciding unless a better vote comes");
    let out = e.receive(3, &looking(3, 9, 1, 1), 20);
    assert_eq!(e.proposal().leader, 3);
    assert_eq!(sends(&out).len(), 3);
    e.tick(2 + DECIDE_WAIT_MS);
    assert!(e.decided().is_none(), "the quorum for 1 no longer counts");
}

#[test]
fn every_voter_agreeing_decides_without_waiting() {
    let (mut e, _) = Election::start(1, voters(&[1, 2, 3]), cfg(), 0, 5, 1, 0);
    e.receive(3, &looking(3, 9, 1, 1), 1);
    e.receive(1, &looking(3, 9, 1, 1), 2);
    let out = e.receive(2, &looking(3, 9, 1, 1), 3);
    assert!(matches!(&out[..], [ElectionAction::Decided(d)] if d.vote.leader == 3), "{out:?}");
}

#[test]
fn a_higher_round_resets_received_votes_and_an_older_one_is_answered() {
    let (mut e, _) = Election::start(2, voters(&[1, 2, 3]), cfg(), 4, 5, 1, 0);
    assert_eq!(e.logical_clock(), 5);
    e.receive(2, &looking(2, 5, 1, 5), 1);
    // Round 7 from member 1 with a worse vote: clock jumps, our initial vote stands.
    let out = e.receive(1, &looking(1, 3, 1, 7), 2);
    assert_eq!(e.logical_clock(), 7);
    assert!(sends(&out).iter().all(|(_, n)| n.leader == 2 && n.election_epoch == 7));
    // A voter still in round 6 is told our proposal, and its vote does not count.
    let out = e.receive(3, &looking(3, 99, 9, 6), 3);
    assert_eq!(sends(&out), vec![(3, looking(2, 5, 1, 7))]);
    assert_eq!(e.proposal().leader, 2);
}

#[test]
fn observers_are_answered_but_never_counted_or_elected() {
    let (mut e, _) = Election::start(1, voters(&[1, 2, 3]), cfg(), 0, 5, 1, 0);
    // Observer 9 votes for itself with a huge zxid: answered, ignored.
    let out = e.receive(9, &looking(9, 1000, 9, 1), 1);
    assert_eq!(sends(&out).len(), 1);
    assert_eq!(e.proposal().leader, 1);
    // An observer's own round votes for nobody and decides OBSERVING by following.
    let (mut o, out) = Election::start(9, voters(&[1, 2, 3]), cfg(), 0, 5, 1, 0);
    assert!(sends(&out).iter().all(|(to, n)| *to != 9 && n.leader == i64::MIN));
    let lead = |state| Notification { state, ..looking(3, 7, 1, 4) };
    o.receive(1, &lead(PeerState::Following), 1);
    assert!(o.decided().is_none(), "one follower is no quorum");
    let out = o.receive(3, &lead(PeerState::Leading), 2);
    assert!(
        matches!(out.last(), Some(ElectionAction::Decided(d)) if d.state == PeerState::Observing && d.vote.leader == 3)
    );
}

#[test]
fn a_settled_quorum_is_followed_only_if_its_leader_says_it_leads() {
    let (mut e, _) = Election::start(1, voters(&[1, 2, 3, 4, 5]), cfg(), 0, 5, 1, 0);
    let n = |state| Notification { state, ..looking(4, 8, 2, 3) };
    e.receive(2, &n(PeerState::Following), 1);
    e.receive(3, &n(PeerState::Following), 2);
    e.receive(5, &n(PeerState::Following), 3);
    assert!(e.decided().is_none(), "a quorum follows 4, but 4 has not said it leads");
    e.receive(4, &n(PeerState::Leading), 4);
    let d = e.decided().expect("decided");
    assert_eq!((d.state, d.vote.leader, d.election_epoch), (PeerState::Following, 4, 3));
}

#[test]
fn resends_back_off_to_sixty_seconds() {
    let (mut e, _) = Election::start(1, voters(&[1, 2, 3]), cfg(), 0, 5, 1, 0);
    let mut now = 0;
    let mut gaps = Vec::new();
    for _ in 0..12 {
        let at = e.next_deadline_ms();
        gaps.push(at - now);
        now = at;
        assert_eq!(sends(&e.tick(now)).len(), 3);
    }
    assert_eq!(&gaps[..5], &[200, 400, 800, 1600, 3200]);
    assert_eq!(*gaps.last().unwrap(), MAX_NOTIFICATION_INTERVAL_MS);
}

// ---------------------------------------------------------------------------------------------
// Seeded simulation.

use crate::testkit::Rng;

enum Member {
    Looking(Election),
    /// Settled, since when.
    Settled(Decision, u64),
}

struct Sim {
    rng: Rng,
    now: u64,
    voters: BTreeSet<i64>,
    members: BTreeMap<i64, Member>,
    initial: BTreeMap<i64, Vote>,
    /// (delivery time, sequence, from, to, notification)
    inflight: Vec<(u64, u64, i64, i64, Notification)>,
    seq: u64,
    loss_pct: u64,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = Rng::new(seed);
        let n_voters = if rng.below(2) == 0 { 3 } else { 5 };
        let voters: BTreeSet<i64> = (1..=n_voters).collect();
        let observers: Vec<i64> = (0..rng.below(2)).map(|i| 100 + i as i64).collect();
        let loss_pct = rng.below(30);
        let mut sim = Sim {
            rng,
            now: 0,
            voters: voters.clone(),
            members: BTreeMap::new(),
            initial: BTreeMap::new(),
            inflight: Vec::new(),
            seq: 0,
            loss_pct,
        };
        for &id in voters.iter().chain(observers.iter()) {
            // Members that saw different amounts of the log, in one of two epochs.
            let epoch = 1 + sim.rng.below(2) as i64;
            let zxid = (epoch << 32) | sim.rng.below(4) as i64;
            let clock = sim.rng.below(3) as i64;
            let start_at = sim.rng.below(300);
            sim.now = start_at;
            let (e, out) = Election::start(id, voters.clone(), cfg(), clock, zxid, epoch, start_at);
            if voters.contains(&id) {
                sim.initial.insert(id, Vote { leader: id, zxid, peer_epoch: epoch });
            }
            sim.members.insert(id, Member::Looking(e));
            sim.dispatch(id, out);
        }
        sim.now = 0;
        sim
    }

    fn plant_bug(&mut self) {
        for m in self.members.values_mut() {
            if let Member::Looking(e) = m {
                e.planted_bug = true;
            }
        }
    }

    fn dispatch(&mut self, from: i64, actions: Vec<ElectionAction>) {
        for a in actions {
            match a {
                ElectionAction::Send { to, notification } => self.post(from, to, notification),
                ElectionAction::Decided(d) => {
                    self.members.insert(from, Member::Settled(d, self.now));
                }
            }
        }
    }

    fn post(&mut self, from: i64, to: i64, n: Notification) {
        if from != to && self.rng.below(100) < self.loss_pct {
            return;
        }
        let copies = if self.rng.below(100) < 5 { 2 } else { 1 };
        for _ in 0..copies {
            let at = self.now + 1 + self.rng.below(80);
            self.seq += 1;
            self.inflight.push((at, self.seq, from, to, n.clone()));
        }
    }

    fn next_deadline(&self) -> Option<u64> {
        self.members
            .values()
            .filter_map(|m| match m {
                Member::Looking(e) => Some(e.next_deadline_ms()),
                Member::Settled(..) => None,
            })
            .min()
    }

    /// Runs until every member follows one leader that a quorum follows (or the simulated
    /// time limit). Election alone may split: a member can settle in an older round for a
    /// leader that only a minority follows, or that does not lead at all. Zab's discovery is
    /// what undoes that (no quorum of epoch acks, or no leader to connect to, within
    /// initLimit); modelled here: a member settled for `INIT_LIMIT_MS` on a leader that is not
    /// established looks again.
    fn run(&mut self) -> Result<(), String> {
        const INIT_LIMIT_MS: u64 = 2_000;
        let limit = 60 * 60 * 1000;
        let mut next_check = self.now + INIT_LIMIT_MS;
        loop {
            let all_settled = self.members.values().all(|m| matches!(m, Member::Settled(..)));
            if all_settled && self.unestablished(u64::MAX).is_empty() {
                return self.check();
            }
            if self.now > limit {
                return Err(format!("no established leader after an hour: {:#?}", self.states()));
            }
            let next_msg = self.inflight.iter().map(|m| (m.0, m.1)).min();
            let next_tick = self.next_deadline().unwrap_or(u64::MAX).min(next_check);
            if next_msg.is_some_and(|(t, _)| t <= next_tick) {
                let (t, s) = next_msg.expect("message");
                let i = self.inflight.iter().position(|m| (m.0, m.1) == (t, s)).expect("present");
                let (at, _, from, to, n) = self.inflight.swap_remove(i);
                self.now = at;
                self.deliver(from, to, n);
                continue;
            }
            self.now = next_tick;
            if self.now >= next_check {
                next_check = self.now + INIT_LIMIT_MS / 4;
                for (id, clock) in self.unestablished(self.now.saturating_sub(INIT_LIMIT_MS)) {
                    let (zxid, epoch) = self.initial.get(&id).map_or((0, 0), |v| (v.zxid, v.peer_epoch));
                    let (e, out) = Election::start(id, self.voters.clone(), cfg(), clock, zxid, epoch, self.now);
                    self.members.insert(id, Member::Looking(e));
                    self.dispatch(id, out);
                }
            }
            let ids: Vec<i64> = self.members.keys().copied().collect();
            for id in ids {
                if let Some(Member::Looking(e)) = self.members.get_mut(&id) {
                    if e.next_deadline_ms() <= self.now {
                        let out = e.tick(self.now);
                        self.dispatch(id, out);
                    }
                }
            }
        }
    }

    /// Members settled before `settled_before` on a leader that does not lead with a quorum
    /// of voters following it, with their rounds.
    fn unestablished(&self, settled_before: u64) -> Vec<(i64, i64)> {
        let mut followers: BTreeMap<i64, usize> = BTreeMap::new();
        for (id, m) in &self.members {
            if let Member::Settled(d, _) = m {
                if self.voters.contains(id) {
                    *followers.entry(d.vote.leader).or_default() += 1;
                }
            }
        }
        let established = |leader: &i64| {
            let leads =
                matches!(self.members.get(leader), Some(Member::Settled(d, _)) if d.state == PeerState::Leading);
            leads && followers.get(leader).copied().unwrap_or(0) > self.voters.len() / 2
        };
        self.members
            .iter()
            .filter_map(|(id, m)| match m {
                Member::Settled(d, at) if *at <= settled_before && !established(&d.vote.leader) => {
                    Some((*id, d.election_epoch))
                }
                _ => None,
            })
            .collect()
    }

    fn states(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|(id, m)| match m {
                Member::Looking(e) => format!("{id}: looking round {} for {:?}", e.logical_clock(), e.proposal()),
                Member::Settled(d, at) => format!("{id}: at {at} ms {d:?}"),
            })
            .collect()
    }

    fn deliver(&mut self, from: i64, to: i64, n: Notification) {
        let from_is_voter = self.voters.contains(&from);
        match self.members.get_mut(&to) {
            Some(Member::Looking(e)) => {
                let out = e.receive(from, &n, self.now);
                self.dispatch(to, out);
            }
            Some(Member::Settled(d, _)) => {
                let d = *d;
                if let Some(reply) = settled_reply(&d, &cfg(), from_is_voter, &n) {
                    self.post(to, from, reply);
                }
            }
            None => {}
        }
    }

    fn check(&self) -> Result<(), String> {
        let decisions: Vec<(i64, Decision)> = self
            .members
            .iter()
            .map(|(id, m)| match m {
                Member::Settled(d, _) => (*id, *d),
                Member::Looking(_) => unreachable!("run ends when all settled"),
            })
            .collect();
        let leaders: BTreeSet<i64> = decisions.iter().map(|(_, d)| d.vote.leader).collect();
        if leaders.len() != 1 {
            return Err(format!("members settled on different leaders: {decisions:?}"));
        }
        let leader = *leaders.iter().next().expect("one");
        if !self.voters.contains(&leader) {
            return Err(format!("a non-voter {leader} was elected"));
        }
        let leading: Vec<i64> =
            decisions.iter().filter(|(_, d)| d.state == PeerState::Leading).map(|(id, _)| *id).collect();
        if leading != vec![leader] {
            return Err(format!("leading: {leading:?}, elected: {leader}"));
        }
        for (id, d) in &decisions {
            let want = if *id == leader {
                PeerState::Leading
            } else if self.voters.contains(id) {
                PeerState::Following
            } else {
                PeerState::Observing
            };
            if d.state != want {
                return Err(format!("member {id} settled as {:?}, expected {want:?}", d.state));
            }
        }
        // The leader is at least as up to date as a quorum of voters, so it holds every txn a
        // quorum acknowledged.
        let lv = self.initial[&leader];
        let covered = self.initial.values().filter(|v| !v.beats(&lv)).count();
        if covered <= self.voters.len() / 2 {
            return Err(format!("leader {leader} ({lv:?}) is behind a majority: {:?}", self.initial));
        }
        Ok(())
    }
}

fn run_seed(seed: u64) -> Result<(), String> {
    Sim::new(seed).run()
}

#[test]
fn seeded_simulation_always_elects_one_up_to_date_leader() {
    let seeds: Vec<u64> = match std::env::var("ZAB_ELECTION_SEED") {
        Ok(s) => vec![s.parse().expect("ZAB_ELECTION_SEED is a number")],
        Err(_) => {
            let n = std::env::var("ZAB_ELECTION_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
            (0..n).collect()
        }
    };
    for seed in seeds {
        if let Err(why) = run_seed(seed) {
            panic!("seed {seed} failed (replay: ZAB_ELECTION_SEED={seed}): {why}");
        }
    }
}

#[test]
fn a_seed_replays_exactly() {
    let trace = |seed| {
        let mut s = Sim::new(seed);
        s.run().unwrap();
        (s.now, s.seq)
    };
    assert_eq!(trace(42), trace(42));
}

#[test]
fn the_simulation_catches_a_planted_bug() {
    // The bug: the higher sid wins a vote whatever its epoch and zxid, so a stale member can
    // lead. Some seed must expose it.
    let caught = (0..300u64).find_map(|seed| {
        let mut s = Sim::new(seed);
        s.plant_bug();
        s.run().err().map(|why| (seed, why))
    });
    let (seed, why) = caught.expect("no seed caught the planted bug");
    assert!(why.contains("behind a majority"), "seed {seed}: {why}");
}

#[test]
fn the_checker_refuses_a_stale_leader() {
    let mut s = Sim::new(7);
    s.run().unwrap();
    let stale = *s.initial.iter().min_by_key(|(_, v)| (v.peer_epoch, v.zxid, v.leader)).map(|(id, _)| id).unwrap();
    let ids: Vec<i64> = s.members.keys().copied().collect();
    for id in ids {
        let state = if id == stale {
            PeerState::Leading
        } else if s.voters.contains(&id) {
            PeerState::Following
        } else {
            PeerState::Observing
        };
        let vote = Vote { leader: stale, ..s.initial[&stale] };
        s.members.insert(id, Member::Settled(Decision { state, vote, election_epoch: 1 }, 0));
    }
    let err = s.check().expect_err("a stale leader must be caught");
    assert!(err.contains("behind a majority"), "{err}");
}
