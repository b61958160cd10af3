//! A follower's (or observer's) side of Zab against one leader, as a state machine: the
//! handshake (FOLLOWERINFO, LEADERINFO, ACKEPOCH), synchronisation (DIFF / TRUNC / SNAP, the
//! proposals and commits before NEWLEADER, UPTODATE) and broadcast (PROPOSAL logged then
//! ACKed, COMMIT applied in order, PING answered). Follows ZooKeeper 3.8.5+'s order at
//! NEWLEADER, the safer one (docs/quorum-protocol.md §4.4): the txns received during sync are
//! logged and durable, then currentEpoch is written, then NEWLEADER is ACKed; their own ACKs
//! go out after UPTODATE.
//!
//! The shell carries out actions in order; `PersistAcceptedEpoch`, `PersistCurrentEpoch` and
//! `Truncate` and `LoadSnapshot` are durable before the next action runs. `Append` is asynchronous: the shell
//! calls `logged(zxid)` once everything up to `zxid` is fsynced, and only then are ACKs sent.
//! Time is the shell calling `tick` every half tick: a learner that heard nothing from its
//! leader for initLimit (before it serves) or syncLimit (after) leaves it.
//! Must never: ACK a txn before it is durable, act on an epoch before it is durable, or apply
//! a txn out of zxid order.

use super::broadcast::Pending;
use super::wire::{packet, LearnerInfo, QuorumPacket, ZABKEEPER_PROTOCOL_VERSION};
use super::Limits;
use crate::proto::jute::to_bytes;
use bytes::Bytes;
use std::collections::VecDeque;

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LearnerAction {
    Send(QuorumPacket),
    /// Write and fsync `acceptedEpoch` before the next action.
    PersistAcceptedEpoch(i64),
    /// Write and fsync `currentEpoch` before the next action.
    PersistCurrentEpoch(i64),
    /// Drop every logged txn after `zxid` (durably) before the next action.
    Truncate(i64),
    /// The leader's snapshot as of `zxid` follows the SNAP packet on the stream: read it and
    /// make it this member's tree and the start of its log (durably) before the next action.
    LoadSnapshot(i64),
    /// Append these txns (zxid, txn entry bytes) to the log; report `logged` when durable.
    Append(Vec<(i64, Bytes)>),
    /// Apply this committed txn (in zxid order).
    Commit(i64, Bytes),
    /// Answer the leader's PING with this member's session touches (zxid to echo).
    PingReply(i64),
    /// Synchronised: serve clients.
    Serving,
    /// The leader answered the oldest forwarded sync (everything committed before it has
    /// arrived ahead of this).
    SyncDone,
    /// The leader's answer to a REVALIDATE: whether the session lives.
    Revalidated {
        session_id: i64,
        valid: bool,
    },
    /// Leave this leader and look for one again.
    Fail(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// FOLLOWERINFO sent, waiting for LEADERINFO.
    Registering,
    /// ACKEPOCH sent, waiting for DIFF / TRUNC / SNAP.
    AwaitSync,
    /// Taking proposals and commits until NEWLEADER.
    Syncing,
    /// NEWLEADER seen; its ACK waits for the sync txns to be durable.
    AckingNewLeader,
    /// NEWLEADER ACKed, waiting for UPTODATE.
    AwaitUptodate,
    Broadcast,
    Failed,
}

/// One learner's session with one leader.
#[derive(Debug)]
pub struct Learner {
    my_id: i64,
    observer: bool,
    accepted_epoch: i64,
    current_epoch: i64,
    last_logged: i64,
    new_epoch: i64,
    phase: Phase,
    /// Proposals received and not yet committed (during sync: not yet logged either).
    pending: Pending<Bytes>,
    /// Commits received during sync, applied after UPTODATE.
    committed_in_sync: Vec<i64>,
    /// Highest zxid the log has made durable.
    durable: i64,
    /// Proposals handed to the log whose ACK has not gone out, in zxid order (followers
    /// only). Kept apart from `pending` because a COMMIT may overtake the local fsync (the
    /// leader and another follower made the quorum): that proposal is still ACKed once
    /// durable, as ZooKeeper's leader expects an ACK for every proposal and drops a learner
    /// that leaves one out for syncLimit ("transaction timeout").
    unacked: VecDeque<i64>,
    /// During sync: the NEWLEADER ACK waits until this zxid is durable.
    newleader_after: i64,
    limits: Limits,
    /// Half ticks since the start, and the half tick of the leader's last packet.
    clock: u64,
    last_heard: u64,
    /// A planted bug for the simulation: never ACK a proposal (PINGs and the NEWLEADER ACKs
    /// still go out), as a follower whose disk hangs.
    #[cfg(test)]
    pub(crate) skip_acks: bool,
}

impl Learner {
    /// Starts following: `accepted_epoch`, `current_epoch` and `last_logged` are this member's
    /// durable state. Returns the learner and its first packet.
    pub fn start(
        my_id: i64,
        observer: bool,
        accepted_epoch: i64,
        current_epoch: i64,
        last_logged: i64,
    ) -> (Learner, Vec<LearnerAction>) {
        let l = Learner {
            my_id,
            observer,
            accepted_epoch,
            current_epoch,
            last_logged,
            new_epoch: 0,
            phase: Phase::Registering,
            pending: Pending::new(last_logged),
            committed_in_sync: Vec::new(),
            durable: last_logged,
            unacked: VecDeque::new(),
            newleader_after: last_logged,
            limits: Limits::default(),
            clock: 0,
            last_heard: 0,
            #[cfg(test)]
            skip_acks: false,
        };
        let info = LearnerInfo { server_id: my_id, protocol_version: ZABKEEPER_PROTOCOL_VERSION, config_version: 0 };
        let ty = if observer { packet::OBSERVERINFO } else { packet::FOLLOWERINFO };
        let hello = QuorumPacket::new(ty, accepted_epoch << 32, Some(to_bytes(&info).freeze()));
        (l, vec![LearnerAction::Send(hello)])
    }

    /// The ensemble's initLimit and syncLimit (zoo.cfg's 10 and 5 unless given).
    pub fn with_limits(mut self, limits: Limits) -> Learner {
        self.limits = limits;
        self
    }

    /// Half a tick passed: leave a leader silent for initLimit (syncing) or syncLimit
    /// (serving).
    pub fn tick(&mut self) -> Vec<LearnerAction> {
        if self.phase == Phase::Failed {
            return Vec::new();
        }
        self.clock += 1;
        let (limit, name) = if self.phase == Phase::Broadcast {
            (self.limits.sync_ticks, "syncLimit")
        } else {
            (self.limits.init_ticks, "initLimit")
        };
        if self.clock - self.last_heard > 2 * limit {
            return self.fail(format!("nothing from the leader within {name}"));
        }
        Vec::new()
    }

    pub fn my_id(&self) -> i64 {
        self.my_id
    }

    pub fn is_serving(&self) -> bool {
        self.phase == Phase::Broadcast
    }

    pub fn new_epoch(&self) -> i64 {
        self.new_epoch
    }

    fn fail(&mut self, why: String) -> Vec<LearnerAction> {
        self.phase = Phase::Failed;
        vec![LearnerAction::Fail(why)]
    }

    /// A packet from the leader.
    pub fn packet(&mut self, p: QuorumPacket) -> Vec<LearnerAction> {
        self.last_heard = self.clock;
        match (self.phase, p.type_) {
            (Phase::Failed, _) => Vec::new(),
            (Phase::Registering, packet::LEADERINFO) => self.leader_info(p.zxid >> 32),
            (Phase::AwaitSync, packet::DIFF) => {
                self.phase = Phase::Syncing;
                Vec::new()
            }
            (Phase::AwaitSync, packet::TRUNC) => {
                self.log_ends_at(p.zxid);
                vec![LearnerAction::Truncate(p.zxid)]
            }
            (Phase::AwaitSync, packet::SNAP) => {
                self.log_ends_at(p.zxid);
                vec![LearnerAction::LoadSnapshot(p.zxid)]
            }
            (Phase::Syncing, packet::PROPOSAL) => match p.data {
                Some(d) => match self.pending.proposed(p.zxid, d) {
                    Ok(()) => Vec::new(),
                    Err(e) => self.fail(e.to_string()),
                },
                None => self.fail(format!("PROPOSAL 0x{:x} without a txn", p.zxid)),
            },
            (Phase::Syncing, packet::COMMIT) => {
                self.committed_in_sync.push(p.zxid);
                Vec::new()
            }
            // An observer is sent committed txns whole from the moment its sync is queued.
            (Phase::Syncing, packet::INFORM) => match p.data {
                Some(d) => match self.pending.proposed(p.zxid, d) {
                    Ok(()) => {
                        self.committed_in_sync.push(p.zxid);
                        Vec::new()
                    }
                    Err(e) => self.fail(e.to_string()),
                },
                None => self.fail(format!("INFORM 0x{:x} without a txn", p.zxid)),
            },
            (Phase::Syncing, packet::NEWLEADER) => self.new_leader(),
            // The leader broadcasts to a learner as soon as its sync is queued, so proposals,
            // commits and informs can arrive between NEWLEADER and UPTODATE (as ZooKeeper's
            // syncWithLeader takes them): logged now, applied after UPTODATE.
            (Phase::AckingNewLeader | Phase::AwaitUptodate, packet::PROPOSAL | packet::INFORM) => {
                let ty = p.type_;
                let Some(d) = p.data else { return self.fail(format!("packet {ty} 0x{:x} without a txn", p.zxid)) };
                if let Err(e) = self.pending.proposed(p.zxid, d.clone()) {
                    return self.fail(e.to_string());
                }
                if ty == packet::INFORM {
                    self.committed_in_sync.push(p.zxid);
                } else {
                    self.await_ack(p.zxid);
                }
                self.last_logged = p.zxid;
                vec![LearnerAction::Append(vec![(p.zxid, d)])]
            }
            (Phase::AckingNewLeader | Phase::AwaitUptodate, packet::COMMIT) => {
                self.committed_in_sync.push(p.zxid);
                Vec::new()
            }
            (Phase::AwaitUptodate, packet::UPTODATE) => self.up_to_date(),
            // No PING is answered before the sync is done, as in ZooKeeper.
            (Phase::Syncing | Phase::AckingNewLeader | Phase::AwaitUptodate, packet::PING) => Vec::new(),
            (Phase::Broadcast, _) => self.broadcast(p),
            (phase, ty) => self.fail(format!("unexpected packet type {ty} while {phase:?}")),
        }
    }

    /// TRUNC or SNAP: the log (durable, acknowledged) ends at `zxid` from now on, and the
    /// sync continues from there.
    fn log_ends_at(&mut self, zxid: i64) {
        self.phase = Phase::Syncing;
        self.last_logged = zxid;
        self.durable = zxid;
        self.unacked.clear();
        // What NEWLEADER's ACK waits for starts here too: a TRUNC may have cut the very txn
        // it pointed at (found against ZooKeeper, whose TRUNC is followed by NEWLEADER alone).
        self.newleader_after = zxid;
        self.pending = Pending::new(zxid);
    }

    fn leader_info(&mut self, new_epoch: i64) -> Vec<LearnerAction> {
        self.new_epoch = new_epoch;
        self.phase = Phase::AwaitSync;
        let mut out = Vec::new();
        let epoch_data = if new_epoch > self.accepted_epoch {
            self.accepted_epoch = new_epoch;
            out.push(LearnerAction::PersistAcceptedEpoch(new_epoch));
            self.current_epoch
        } else if new_epoch == self.accepted_epoch {
            -1
        } else {
            return self.fail(format!(
                "leader proposed epoch {new_epoch}, older than our accepted epoch {}",
                self.accepted_epoch
            ));
        };
        let ack = QuorumPacket::new(
            packet::ACKEPOCH,
            self.last_logged,
            Some(Bytes::copy_from_slice(&(epoch_data as i32).to_be_bytes())),
        );
        out.push(LearnerAction::Send(ack));
        out
    }

    fn new_leader(&mut self) -> Vec<LearnerAction> {
        self.phase = Phase::AckingNewLeader;
        let mut out = Vec::new();
        let entries: Vec<(i64, Bytes)> = self.pending.iter().map(|(z, d)| (*z, d.clone())).collect();
        for (z, _) in &entries {
            self.await_ack(*z);
        }
        if let Some((last, _)) = entries.last() {
            self.newleader_after = *last;
            self.last_logged = *last;
            out.push(LearnerAction::Append(entries));
        }
        out.extend(self.maybe_ack_new_leader());
        out
    }

    fn maybe_ack_new_leader(&mut self) -> Vec<LearnerAction> {
        if self.phase != Phase::AckingNewLeader || self.durable < self.newleader_after {
            return Vec::new();
        }
        self.phase = Phase::AwaitUptodate;
        self.current_epoch = self.new_epoch;
        vec![
            LearnerAction::PersistCurrentEpoch(self.new_epoch),
            LearnerAction::Send(QuorumPacket::new(packet::ACK, self.new_epoch << 32, None)),
        ]
    }

    fn up_to_date(&mut self) -> Vec<LearnerAction> {
        self.phase = Phase::Broadcast;
        let mut out = vec![
            LearnerAction::Send(QuorumPacket::new(packet::ACK, self.new_epoch << 32, None)),
            LearnerAction::Serving,
        ];
        out.extend(self.send_acks());
        for z in std::mem::take(&mut self.committed_in_sync) {
            match self.pending.committed(z) {
                Ok(d) => out.push(LearnerAction::Commit(z, d)),
                Err(e) => return self.fail(e.to_string()),
            }
        }
        out
    }

    fn broadcast(&mut self, p: QuorumPacket) -> Vec<LearnerAction> {
        match p.type_ {
            packet::PROPOSAL if !self.observer => {
                let Some(d) = p.data else { return self.fail(format!("PROPOSAL 0x{:x} without a txn", p.zxid)) };
                if let Err(e) = self.pending.proposed(p.zxid, d.clone()) {
                    return self.fail(e.to_string());
                }
                self.last_logged = p.zxid;
                self.await_ack(p.zxid);
                vec![LearnerAction::Append(vec![(p.zxid, d)])]
            }
            packet::COMMIT if !self.observer => match self.pending.committed(p.zxid) {
                Ok(d) => vec![LearnerAction::Commit(p.zxid, d)],
                Err(e) => self.fail(e.to_string()),
            },
            // An observer gets committed txns whole: log and apply.
            packet::INFORM if self.observer => match p.data {
                Some(d) => {
                    self.last_logged = p.zxid;
                    vec![LearnerAction::Append(vec![(p.zxid, d.clone())]), LearnerAction::Commit(p.zxid, d)]
                }
                None => self.fail(format!("INFORM 0x{:x} without a txn", p.zxid)),
            },
            packet::PING => vec![LearnerAction::PingReply(p.zxid)],
            packet::SYNC => vec![LearnerAction::SyncDone],
            // The answer to a REVALIDATE: long session id, boolean valid.
            packet::REVALIDATE => match p.data.as_deref() {
                Some(d) if d.len() >= 9 => vec![LearnerAction::Revalidated {
                    session_id: i64::from_be_bytes(d[..8].try_into().expect("8 bytes")),
                    valid: d[8] != 0,
                }],
                _ => self.fail("a REVALIDATE answer without a session".into()),
            },
            ty => self.fail(format!("unexpected packet type {ty} while broadcasting")),
        }
    }

    /// The log made everything up to `zxid` durable.
    pub fn logged(&mut self, zxid: i64) -> Vec<LearnerAction> {
        self.durable = self.durable.max(zxid);
        match self.phase {
            Phase::AckingNewLeader => self.maybe_ack_new_leader(),
            Phase::Broadcast => self.send_acks(),
            _ => Vec::new(),
        }
    }

    /// A proposal handed to the log: its ACK goes out once it is durable (followers only).
    fn await_ack(&mut self, zxid: i64) {
        if !self.observer {
            self.unacked.push_back(zxid);
        }
    }

    /// ACKs, in zxid order, for every logged proposal now durable — committed or not.
    fn send_acks(&mut self) -> Vec<LearnerAction> {
        let mut out = Vec::new();
        while let Some(&z) = self.unacked.front() {
            if z > self.durable {
                break;
            }
            self.unacked.pop_front();
            #[cfg(test)]
            if self.skip_acks {
                continue;
            }
            out.push(LearnerAction::Send(QuorumPacket::new(packet::ACK, z, None)));
        }
        out
    }
}

#[cfg(test)]
mod tests;
