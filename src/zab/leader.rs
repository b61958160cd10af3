//! The leader's side of Zab for one epoch, as a state machine (docs/quorum-protocol.md §4–5):
//! discovery (learners' FOLLOWERINFO give their accepted epochs; once the leader and a quorum
//! of voters are in, the new epoch is the largest accepted epoch + 1, made durable, and sent
//! in LEADERINFO), the epoch quorum (ACKEPOCH; a learner ahead of the leader ends the
//! attempt), synchronisation (DIFF / TRUNC / SNAP chosen by `sync::plan`, streamed by the
//! shell from the log, then NEWLEADER), establishment (a quorum of NEWLEADER ACKs, then
//! UPTODATE), and broadcast (proposals, ACKs, commits in zxid order, INFORM to observers,
//! PINGs), with the read-index round that answers `sync` (`read_index`).
//!
//! Time is the shell calling `tick` every half tick: the leader PINGs every learner in
//! broadcast, gives up the epoch when no quorum formed and synced within initLimit, drops a
//! learner silent for syncLimit, drops a follower whose oldest unACKed proposal was sent more
//! than syncLimit ago (ZooKeeper's "transaction timeout": its PINGs may flow while its disk
//! hangs), and gives up when the learners still heard from and itself are no quorum. The
//! shell carries out actions in order; the persist actions are durable before the next
//! action runs; `Append` is asynchronous and the shell reports `logged(zxid)` (the leader's
//! own ACK).
//! Must never: count an observer, send UPTODATE before a quorum ACKed NEWLEADER, commit
//! without a quorum, propose before it is established, or answer a sync before a quorum
//! confirmed it still leads.

use super::broadcast::Proposals;
use super::read_index::{ReadIndex, SyncFrom};
use super::sync::{plan, LogIndex, SyncPlan};
use super::wire::{
    packet, ForwardedRequest, LearnerInfo, QuorumPacket, LEARNER_PROTOCOL_VERSION, ZABKEEPER_PROTOCOL_VERSION,
};
use super::Limits;
use crate::proto::codes::op;
use crate::proto::jute::{from_bytes, Jute, Reader};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaderAction {
    Send(i64, QuorumPacket),
    /// Write and fsync `acceptedEpoch` before the next action.
    PersistAcceptedEpoch(i64),
    /// Write and fsync `currentEpoch` before the next action.
    PersistCurrentEpoch(i64),
    /// Bring learner `.0` up to date by `.1`: send DIFF (or TRUNC, or SNAP with the tree), then
    /// PROPOSAL + COMMIT for every committed txn after the plan's starting point up to `.2`,
    /// in order, before anything sent to it after this action.
    Sync(i64, SyncPlan, i64),
    /// Append this proposal to the leader's own log; report `logged` when durable.
    Append(i64, Bytes),
    /// Apply this committed txn (in zxid order).
    Commit(i64, Bytes),
    /// A quorum is synchronised: serve clients and take writes.
    Established,
    /// A learner's PING reply: the sessions its clients touched.
    SessionTouches(i64, Bytes),
    /// A learner forwarded a client request (REQUEST packet; not `sync`, which the leader
    /// answers itself) or asked to REVALIDATE a session.
    Forwarded(i64, QuorumPacket),
    /// The oldest sync from one of the leader's own clients is confirmed: answer it.
    SyncConfirmed,
    /// Close this learner's connection (it broke the protocol, or was silent or left a
    /// proposal unACKed for syncLimit).
    DropLearner(i64, String),
    /// Give up this epoch and look for a leader again.
    Fail(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// FOLLOWERINFO received, LEADERINFO maybe sent.
    Registered,
    /// ACKEPOCH received; synced and NEWLEADER sent once the epoch quorum formed.
    Synchronising,
    /// NEWLEADER ACKed.
    AckedNewLeader,
    /// UPTODATE sent: takes part in broadcast.
    Active,
}

#[derive(Debug)]
struct LearnerState {
    observer: bool,
    stage: Stage,
    /// The learner's last logged zxid from its ACKEPOCH.
    last_zxid: i64,
    /// The half tick of the last packet from it.
    last_heard: u64,
    /// Proposals sent to it since it ACKed NEWLEADER and not ACKed by it yet, with the half
    /// tick each was sent (followers only: observers are sent INFORMs and ACK nothing).
    /// ZooKeeper's LearnerHandler keeps the same clock (`SyncLimitCheck`) for its oldest.
    unacked: BTreeMap<i64, u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Discovery,
    Synchronisation,
    Broadcast,
    Failed,
}

/// A leader for one epoch.
#[derive(Debug)]
pub struct Leader {
    my_id: i64,
    voters: BTreeSet<i64>,
    config: Bytes,
    current_epoch: i64,
    last_zxid: i64,
    phase: Phase,
    /// The largest accepted epoch seen, and who has reported theirs.
    max_accepted: i64,
    connecting: BTreeSet<i64>,
    new_epoch: Option<i64>,
    epoch_acked: BTreeSet<i64>,
    newleader_acked: BTreeSet<i64>,
    learners: BTreeMap<i64, LearnerState>,
    proposals: Proposals,
    /// Proposal data until committed (INFORM carries it to observers).
    proposal_data: BTreeMap<i64, Bytes>,
    next_counter: i64,
    /// The last zxid of the history this leader brought into its epoch (all of it committed
    /// once established).
    history_end: i64,
    limits: Limits,
    /// Half ticks since the start.
    clock: u64,
    /// The half tick by which the current phase must be done (before broadcast).
    deadline: u64,
    reads: ReadIndex,
    /// A planted bug for the simulation: answer syncs without the read-index round.
    #[cfg(test)]
    pub(crate) skip_read_index: bool,
}

impl Leader {
    /// A member that election made leader, with its durable state and membership text.
    pub fn start(
        my_id: i64,
        voters: BTreeSet<i64>,
        config: Bytes,
        accepted_epoch: i64,
        current_epoch: i64,
        last_zxid: i64,
    ) -> Leader {
        let mut connecting = BTreeSet::new();
        connecting.insert(my_id);
        let proposals = Proposals::new(voters.clone(), last_zxid);
        Leader {
            my_id,
            voters,
            config,
            current_epoch,
            last_zxid,
            phase: Phase::Discovery,
            max_accepted: accepted_epoch,
            connecting,
            new_epoch: None,
            epoch_acked: BTreeSet::new(),
            newleader_acked: BTreeSet::new(),
            learners: BTreeMap::new(),
            proposals,
            proposal_data: BTreeMap::new(),
            next_counter: 1,
            history_end: last_zxid,
            limits: Limits::default(),
            clock: 0,
            deadline: 2 * Limits::default().init_ticks,
            reads: ReadIndex::default(),
            #[cfg(test)]
            skip_read_index: false,
        }
    }

    /// The ensemble's initLimit and syncLimit (zoo.cfg's 10 and 5 unless given).
    pub fn with_limits(mut self, limits: Limits) -> Leader {
        self.limits = limits;
        self.deadline = self.clock + 2 * limits.init_ticks;
        self
    }

    pub fn is_established(&self) -> bool {
        self.phase == Phase::Broadcast
    }

    pub fn epoch(&self) -> Option<i64> {
        self.new_epoch
    }

    /// The last committed zxid: the newest of this epoch's commits, or before the first of
    /// them the end of the history the leader brought in.
    pub fn last_committed(&self) -> i64 {
        let c = self.proposals.last_committed();
        if c & 0xffff_ffff == 0 {
            self.history_end
        } else {
            c
        }
    }

    fn quorum(&self, ids: &BTreeSet<i64>) -> bool {
        ids.iter().filter(|id| self.voters.contains(id)).count() * 2 > self.voters.len()
    }

    fn fail(&mut self, why: String) -> Vec<LeaderAction> {
        self.phase = Phase::Failed;
        vec![LeaderAction::Fail(why)]
    }

    /// A packet from learner `sid`. `log` answers which committed txns the leader still holds.
    pub fn packet(&mut self, sid: i64, p: QuorumPacket, log: &impl LogIndex) -> Vec<LeaderAction> {
        if self.phase == Phase::Failed {
            return Vec::new();
        }
        if let Some(l) = self.learners.get_mut(&sid) {
            l.last_heard = self.clock;
        }
        match p.type_ {
            packet::FOLLOWERINFO | packet::OBSERVERINFO => self.learner_info(sid, &p),
            packet::ACKEPOCH => self.ack_epoch(sid, &p, log),
            packet::ACK => self.ack(sid, p.zxid),
            packet::PING => match self.learners.get(&sid) {
                Some(l) if l.stage == Stage::Active => {
                    self.reads.answered(sid);
                    let mut out = vec![LeaderAction::SessionTouches(sid, p.data.unwrap_or_default())];
                    out.extend(self.answer_syncs());
                    out
                }
                _ => Vec::new(),
            },
            packet::REQUEST if self.is_forwarded_sync(sid, &p) => self.request_sync(SyncFrom::Learner(sid)),
            packet::REQUEST | packet::REVALIDATE => vec![LeaderAction::Forwarded(sid, p)],
            ty => {
                // ZooKeeper ends that learner's handler; the others go on.
                self.learners.remove(&sid);
                vec![LeaderAction::DropLearner(sid, format!("unexpected packet type {ty}"))]
            }
        }
    }

    fn learner_info(&mut self, sid: i64, p: &QuorumPacket) -> Vec<LeaderAction> {
        let Some(info) = p.data.as_deref().and_then(|d| from_bytes::<LearnerInfo>(d).ok()) else {
            return Vec::new();
        };
        if info.protocol_version < LEARNER_PROTOCOL_VERSION {
            return Vec::new();
        }
        let observer = p.type_ == packet::OBSERVERINFO || !self.voters.contains(&sid);
        // Registering again: what it ACKed on an earlier connection may be truncated by the
        // coming sync.
        self.proposals.forget(sid);
        self.learners.insert(
            sid,
            LearnerState {
                observer,
                stage: Stage::Registered,
                last_zxid: -1,
                last_heard: self.clock,
                unacked: BTreeMap::new(),
            },
        );
        self.reads.joined(sid);
        let mut out = Vec::new();
        match self.new_epoch {
            Some(e) => out.push(self.leader_info(sid, e)),
            None => {
                self.max_accepted = self.max_accepted.max(p.zxid >> 32);
                if !observer {
                    self.connecting.insert(sid);
                }
                if self.quorum(&self.connecting.clone()) {
                    let e = self.max_accepted + 1;
                    self.new_epoch = Some(e);
                    out.push(LeaderAction::PersistAcceptedEpoch(e));
                    let ids: Vec<i64> = self.learners.keys().copied().collect();
                    for id in ids {
                        out.push(self.leader_info(id, e));
                    }
                }
            }
        }
        out
    }

    fn leader_info(&self, sid: i64, epoch: i64) -> LeaderAction {
        let data = Bytes::copy_from_slice(&ZABKEEPER_PROTOCOL_VERSION.to_be_bytes());
        LeaderAction::Send(sid, QuorumPacket::new(packet::LEADERINFO, epoch << 32, Some(data)))
    }

    fn ack_epoch(&mut self, sid: i64, p: &QuorumPacket, log: &impl LogIndex) -> Vec<LeaderAction> {
        let Some(epoch) = self.new_epoch else { return Vec::new() };
        let Some(state) = self.learners.get_mut(&sid) else { return Vec::new() };
        let mut r = Reader::new(p.data.as_deref().unwrap_or(&[]));
        let their_epoch = i32::read(&mut r).unwrap_or(-1) as i64;
        if their_epoch > self.current_epoch || (their_epoch == self.current_epoch && p.zxid > self.last_zxid) {
            // As ZooKeeper's LearnerHandler: that learner goes, the attempt goes on. What it
            // holds beyond this leader is uncommitted (the quorum that elected this leader
            // intersects every quorum that committed anything), and once the epoch is
            // established it rejoins and is truncated. Ending the whole attempt instead let
            // the same leader be elected again and again (found by the simulation).
            self.learner_gone(sid);
            self.epoch_acked.remove(&sid);
            let why = format!("it is ahead of the leader (epoch {their_epoch}, zxid 0x{:x})", p.zxid);
            return vec![LeaderAction::DropLearner(sid, why)];
        }
        state.stage = Stage::Synchronising;
        state.last_zxid = p.zxid;
        let mut out = Vec::new();
        if self.phase == Phase::Discovery {
            if their_epoch != -1 && p.zxid != -1 && !state.observer {
                self.epoch_acked.insert(sid);
            }
            let mut acked = self.epoch_acked.clone();
            acked.insert(self.my_id);
            if !self.quorum(&acked) {
                return out;
            }
            // The epoch quorum: this epoch is ours; every learner that acked gets synced.
            self.phase = Phase::Synchronisation;
            self.deadline = self.clock + 2 * self.limits.init_ticks;
            self.current_epoch = epoch;
            out.push(LeaderAction::PersistCurrentEpoch(epoch));
            let waiting: Vec<i64> =
                self.learners.iter().filter(|(_, l)| l.stage == Stage::Synchronising).map(|(id, _)| *id).collect();
            for id in waiting {
                out.extend(self.sync(id, log));
            }
        } else {
            out.extend(self.sync(sid, log));
        }
        out
    }

    /// The sync stream for one learner, then NEWLEADER. Once broadcasting, the stream covers
    /// only what is committed; proposals still outstanding follow as PROPOSALs alone (a COMMIT
    /// for them would commit what no quorum has: the simulation caught exactly that).
    fn sync(&mut self, sid: i64, log: &impl LogIndex) -> Vec<LeaderAction> {
        let epoch = self.new_epoch.expect("epoch decided");
        let peer_last = self.learners[&sid].last_zxid;
        let upto = if self.phase == Phase::Broadcast { self.last_committed() } else { self.last_zxid };
        let how = plan(peer_last, upto, &UpTo(log, upto));
        let mut out = vec![LeaderAction::Sync(sid, how, upto)];
        // Proposals made since establishment that the stream above does not carry.
        // (Only a follower: an observer gets INFORMs of them as they commit.)
        if self.phase == Phase::Broadcast && !self.learners[&sid].observer {
            for (z, d) in &self.proposal_data {
                out.push(LeaderAction::Send(sid, QuorumPacket::new(packet::PROPOSAL, *z, Some(d.clone()))));
            }
        }
        let newleader = QuorumPacket::new(packet::NEWLEADER, epoch << 32, Some(self.config.clone()));
        out.push(LeaderAction::Send(sid, newleader));
        out
    }

    fn ack(&mut self, sid: i64, zxid: i64) -> Vec<LeaderAction> {
        let Some(epoch) = self.new_epoch else { return Vec::new() };
        let mut out = Vec::new();
        if zxid == epoch << 32 {
            let Some(l) = self.learners.get_mut(&sid) else { return out };
            if l.stage != Stage::Synchronising {
                // The ACK a learner sends after UPTODATE, or a duplicate.
                return out;
            }
            l.stage = Stage::AckedNewLeader;
            if !l.observer {
                self.newleader_acked.insert(sid);
            }
            match self.phase {
                Phase::Synchronisation => {
                    let mut acked = self.newleader_acked.clone();
                    acked.insert(self.my_id);
                    if self.quorum(&acked) {
                        self.phase = Phase::Broadcast;
                        self.last_zxid = epoch << 32;
                        self.proposals = Proposals::new(self.voters.clone(), epoch << 32);
                        out.push(LeaderAction::Established);
                        let ready: Vec<i64> = self
                            .learners
                            .iter()
                            .filter(|(_, l)| l.stage == Stage::AckedNewLeader)
                            .map(|(id, _)| *id)
                            .collect();
                        for id in ready {
                            out.push(self.up_to_date(id));
                        }
                    }
                }
                Phase::Broadcast => out.push(self.up_to_date(sid)),
                _ => {}
            }
            return out;
        }
        if let Some(l) = self.learners.get_mut(&sid) {
            // An ACK names one proposal; one it never ACKs keeps its clock running (our
            // learners ACK every proposal, in order, once durable).
            l.unacked.remove(&zxid);
        }
        let done = self.proposals.ack(sid, zxid);
        self.committed(done)
    }

    fn up_to_date(&mut self, sid: i64) -> LeaderAction {
        if let Some(l) = self.learners.get_mut(&sid) {
            l.stage = Stage::Active;
        }
        LeaderAction::Send(sid, QuorumPacket::new(packet::UPTODATE, -1, None))
    }

    /// Learners that receive proposals: every follower past the start of its sync.
    fn followers(&self) -> Vec<i64> {
        self.learners.iter().filter(|(_, l)| !l.observer && l.stage != Stage::Registered).map(|(id, _)| *id).collect()
    }

    fn committed(&mut self, zxids: Vec<i64>) -> Vec<LeaderAction> {
        let mut out = Vec::new();
        for z in zxids {
            let data = self.proposal_data.remove(&z).unwrap_or_default();
            for id in self.followers() {
                out.push(LeaderAction::Send(id, QuorumPacket::new(packet::COMMIT, z, None)));
            }
            // Every observer whose sync is queued: what commits after it reaches it this way.
            let observers: Vec<i64> = self
                .learners
                .iter()
                .filter(|(_, l)| l.observer && l.stage != Stage::Registered)
                .map(|(id, _)| *id)
                .collect();
            for id in observers {
                out.push(LeaderAction::Send(id, QuorumPacket::new(packet::INFORM, z, Some(data.clone()))));
            }
            out.push(LeaderAction::Commit(z, data));
        }
        if !out.is_empty() {
            out.extend(self.answer_syncs());
        }
        out
    }

    /// Proposes a txn (its encoded entry); returns its zxid and the actions, or None before the
    /// leader is established or when the epoch's counter is used up (a new election follows).
    pub fn propose(&mut self, make_txn: impl FnOnce(i64) -> Bytes) -> Option<(i64, Vec<LeaderAction>)> {
        if self.phase != Phase::Broadcast {
            return None;
        }
        let epoch = self.new_epoch.expect("established");
        if self.next_counter >= 0xffff_ffff {
            self.phase = Phase::Failed;
            return Some((0, vec![LeaderAction::Fail("the zxid counter of this epoch is used up".into())]));
        }
        let zxid = (epoch << 32) | self.next_counter;
        self.next_counter += 1;
        let data = make_txn(zxid);
        self.proposals.propose(zxid).ok()?;
        self.proposal_data.insert(zxid, data.clone());
        self.last_zxid = zxid;
        let mut out = vec![LeaderAction::Append(zxid, data.clone())];
        for id in self.followers() {
            if let Some(l) = self.learners.get_mut(&id).filter(|l| l.stage == Stage::Active) {
                l.unacked.insert(zxid, self.clock);
            }
            out.push(LeaderAction::Send(id, QuorumPacket::new(packet::PROPOSAL, zxid, Some(data.clone()))));
        }
        Some((zxid, out))
    }

    /// For tests: the next proposal of this epoch takes counter `counter` (the end of the
    /// counter is otherwise 2^32 proposals away: every leader starts its epoch at 1).
    #[cfg(test)]
    pub(crate) fn skip_counter_to(&mut self, counter: i64) {
        assert!(counter >= self.next_counter && counter <= 0xffff_ffff, "counter 0x{counter:x}");
        self.next_counter = counter;
    }

    /// Proposes a txn whose zxid the caller already assigned (the core numbers the txns it
    /// prepares); a zxid out of step with this epoch's counter ends the epoch.
    pub fn propose_at(&mut self, zxid: i64, data: Bytes) -> Vec<LeaderAction> {
        let mut assigned = zxid;
        match self.propose(|z| {
            assigned = z;
            data
        }) {
            Some((z, out)) if z == zxid => out,
            Some((_, out)) if self.phase == Phase::Failed => out,
            Some(_) => self.fail(format!("proposal 0x{zxid:x} out of step (expected 0x{assigned:x})")),
            None => self.fail(format!("proposal 0x{zxid:x} before the leader is established")),
        }
    }

    /// The last zxid proposed (before this epoch's first proposal, the end of the history the
    /// leader brought in): what a sync arriving now must see committed.
    pub fn last_proposed(&self) -> i64 {
        let p = self.proposals.last_proposed();
        if p & 0xffff_ffff == 0 {
            self.history_end
        } else {
            p
        }
    }

    /// The learners in broadcast, and whether each votes.
    pub fn active_learners(&self) -> Vec<(i64, bool)> {
        self.learners.iter().filter(|(_, l)| l.stage == Stage::Active).map(|(id, l)| (*id, !l.observer)).collect()
    }

    /// Whether `ids` (voters among them) plus this leader form a quorum.
    pub fn is_quorum_with_me(&self, ids: &BTreeSet<i64>) -> bool {
        let mut all = ids.clone();
        all.insert(self.my_id);
        self.quorum(&all)
    }

    /// The leader's own log made everything up to `zxid` durable: its own ACK.
    pub fn logged(&mut self, zxid: i64) -> Vec<LeaderAction> {
        let pending: Vec<i64> = self.proposal_data.range(..=zxid).map(|(z, _)| *z).collect();
        let mut out = Vec::new();
        for z in pending {
            let c = self.proposals.ack(self.my_id, z);
            out.extend(self.committed(c));
        }
        out
    }

    /// Half a tick passed. Before broadcast: give up once the phase's initLimit is spent. In
    /// broadcast: drop the learners silent for syncLimit, and the followers whose oldest
    /// unACKed proposal was sent more than syncLimit ago (ZooKeeper's "transaction timeout");
    /// PING every learner left; give up when they and the leader are no quorum (ZooKeeper's
    /// "not sufficient followers synced").
    pub fn tick(&mut self) -> Vec<LeaderAction> {
        if self.phase == Phase::Failed {
            return Vec::new();
        }
        self.clock += 1;
        if self.phase != Phase::Broadcast {
            if self.clock > self.deadline {
                let stage = if self.phase == Phase::Discovery { "agreed on an epoch" } else { "synced" };
                return self.fail(format!("no quorum of followers {stage} within initLimit"));
            }
            return Vec::new();
        }
        let mut out = Vec::new();
        // Anything from before this half tick is older than syncLimit.
        let oldest = self.clock.saturating_sub(2 * self.limits.sync_ticks);
        let mut gone = Vec::new();
        for (sid, l) in self.learners.iter().filter(|(_, l)| l.stage == Stage::Active) {
            if l.last_heard < oldest {
                gone.push((*sid, "silent for syncLimit".to_string()));
            } else if let Some((z, sent)) = l.unacked.first_key_value().filter(|(_, sent)| **sent < oldest) {
                let ago = self.clock - sent;
                let why =
                    format!("transaction timeout: proposal 0x{z:x} not ACKed within syncLimit ({ago} half ticks)");
                gone.push((*sid, why));
            }
        }
        for (sid, why) in gone {
            self.learner_gone(sid);
            out.push(LeaderAction::DropLearner(sid, why));
        }
        out.extend(self.ping_round());
        let heard: BTreeSet<i64> = self.active_learners().into_iter().map(|(id, _)| id).collect();
        if !self.is_quorum_with_me(&heard) {
            out.extend(self.fail(format!("not sufficient followers synced, only synced with sids: {heard:?}")));
        }
        out
    }

    /// A PING to every learner in broadcast (counted for the read-index).
    fn ping_round(&mut self) -> Vec<LeaderAction> {
        let zxid = self.proposals.last_proposed();
        let active: Vec<i64> = self.active_learners().into_iter().map(|(id, _)| id).collect();
        active
            .into_iter()
            .map(|id| {
                self.reads.pinged(id);
                LeaderAction::Send(id, QuorumPacket::new(packet::PING, zxid, None))
            })
            .collect()
    }

    /// A sync from one of the leader's clients or a learner: answered (`SyncConfirmed`, or
    /// SYNC to the learner) once its read-index round is done and what was proposed before
    /// it is committed. The round's PINGs go out at the next `flush`, so the syncs that
    /// arrive together share one round.
    pub fn request_sync(&mut self, from: SyncFrom) -> Vec<LeaderAction> {
        if self.phase != Phase::Broadcast {
            return Vec::new();
        }
        let voters: Vec<i64> = self.active_learners().into_iter().filter(|(_, v)| *v).map(|(id, _)| id).collect();
        self.reads.request(from, self.last_proposed(), voters.into_iter());
        self.answer_syncs()
    }

    /// Sends the PING round waiting syncs want, if any (the shell calls this once it has
    /// taken in what arrived together).
    pub fn flush(&mut self) -> Vec<LeaderAction> {
        if self.phase != Phase::Broadcast || !self.reads.take_round_wanted() {
            return Vec::new();
        }
        self.ping_round()
    }

    /// Syncs waiting for their round or their commit.
    pub fn pending_syncs(&self) -> usize {
        self.reads.pending()
    }

    fn answer_syncs(&mut self) -> Vec<LeaderAction> {
        #[cfg(test)]
        let skip = self.skip_read_index;
        #[cfg(not(test))]
        let skip = false;
        let committed = self.last_committed();
        // Taken out for the call, so the quorum rule is this leader's own `is_quorum_with_me`.
        let mut reads = std::mem::take(&mut self.reads);
        let ready = reads.ready(committed, |ids| self.is_quorum_with_me(ids), skip);
        self.reads = reads;
        ready
            .into_iter()
            .map(|from| match from {
                SyncFrom::Local => LeaderAction::SyncConfirmed,
                SyncFrom::Learner(sid) => LeaderAction::Send(sid, QuorumPacket::new(packet::SYNC, 0, None)),
            })
            .collect()
    }

    /// Whether a REQUEST from an active learner is a forwarded `sync`.
    fn is_forwarded_sync(&self, sid: i64, p: &QuorumPacket) -> bool {
        self.learners.get(&sid).is_some_and(|l| l.stage == Stage::Active)
            && p.data.as_deref().and_then(|d| ForwardedRequest::decode(d).ok()).is_some_and(|r| r.op == op::SYNC)
    }

    /// A learner's connection ended.
    pub fn learner_gone(&mut self, sid: i64) {
        self.learners.remove(&sid);
        self.reads.gone(sid);
        self.proposals.forget(sid);
    }
}

/// A leader's log seen only up to a zxid (what is committed).
struct UpTo<'a, L>(&'a L, i64);

impl<L: LogIndex> LogIndex for UpTo<'_, L> {
    fn range(&self) -> Option<(i64, i64)> {
        let (min, _) = self.0.range()?;
        let max = if self.0.first_at_or_after(self.1) == Some(self.1) { self.1 } else { self.0.last_before(self.1)? };
        (min <= max).then_some((min, max))
    }
    fn first_at_or_after(&self, zxid: i64) -> Option<i64> {
        self.0.first_at_or_after(zxid).filter(|z| *z <= self.1)
    }
    fn last_before(&self, zxid: i64) -> Option<i64> {
        self.0.last_before(zxid.min(self.1 + 1))
    }
}

#[cfg(test)]
mod tests;
