//! The simulation carrying out what the machines return: packets posted on the simulated
//! network, appends fsynced later (or at once, under the planted ACK-before-fsync bug),
//! epochs persisted, truncations and snapshots applied to the member's disk and tree, commits
//! checked against every other member's, and client syncs answered and checked.

use super::*;

impl Sim {
    pub(super) fn leader_actions(&mut self, id: i64, out: Vec<LeaderAction>) -> Result<(), String> {
        for a in out {
            match a {
                LeaderAction::Send(to, p) => self.leader_send(id, to, p, None),
                LeaderAction::Sync(to, plan, upto) => {
                    let log = self.members[&id].disk.log.clone();
                    self.trace(|| format!("leader {id} syncs {to} by {plan:?} up to 0x{upto:x}"));
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
                    self.check_durable_quorum(id, z, &d)?;
                    self.commit(id, z, d.clone())?;
                    if let Some(n) = write_number(&d) {
                        self.acked_writes.push(n);
                    }
                    self.acked.push((z, d));
                    self.last_commit_at = self.now;
                }
                LeaderAction::SyncConfirmed => self.sync_answered(id)?,
                LeaderAction::Established => {
                    let m = &self.members[&id];
                    let Role::Leading { leader, .. } = &m.role else { continue };
                    let epoch = leader.epoch().expect("epoch");
                    self.check(self.voters.contains(&id), || format!("observer {id} leads epoch {epoch}"))?;
                    if let Some(other) = self.leaders.get(&epoch) {
                        return Err(format!("at {} ms: members {other} and {id} both lead epoch {epoch}", self.now));
                    }
                    // After a leader used up its epoch's counter, every leader has a later epoch.
                    let used_up = self.used_up_epoch;
                    self.check(epoch > used_up, || {
                        format!("leader {id} established epoch {epoch} after {used_up} ended")
                    })?;
                    self.leaders.insert(epoch, id);
                    // Every write committed so far in an earlier epoch is in the new leader's
                    // log. (Not those of later epochs: a leader paused after its learners ACKed
                    // NEWLEADER may establish its epoch once it resumes, after the others moved
                    // on to a later one — as in Zab and ZooKeeper, whose leader counts an ACK of
                    // a learner gone since. Its history is in every later epoch's; it can commit
                    // nothing new, those learners refuse its proposals.)
                    for (z, d) in self.acked.iter().filter(|(z, _)| z >> 32 < epoch) {
                        let has = m.disk.log.iter().any(|(lz, ld)| lz == z && ld == d);
                        self.check(has, || format!("leader {id} of epoch {epoch} lacks committed 0x{z:x}"))?;
                    }
                    // Its whole log is committed by establishing the epoch.
                    let log = m.disk.log.clone();
                    for (z, d) in log {
                        if z > self.members[&id].committed.last().map_or(0, |e| e.0) {
                            self.check_durable_quorum(id, z, &d)?;
                            self.commit(id, z, d)?;
                        }
                    }
                }
                LeaderAction::SessionTouches(..) | LeaderAction::Forwarded(..) => {}
                LeaderAction::DropLearner(sid, why) => {
                    if why.contains("transaction timeout") {
                        self.trace(|| format!("leader {id} drops {sid}: {why}"));
                        self.txn_timeouts.push((self.now, id, sid));
                        self.check(self.voters.contains(&sid), || format!("leader {id} timed out observer {sid}"))?;
                        let explained = self.skip_acks == Some(sid) || self.fault_near(id, sid);
                        self.check(explained, || format!("leader {id} dropped {sid} with no fault near: {why}"))?;
                    }
                    if let Role::Leading { conns, .. } = &mut self.members.get_mut(&id).expect("m").role {
                        if let Some(c) = conns.remove(&sid) {
                            self.net.broken.insert(c);
                        }
                    }
                }
                LeaderAction::Fail(why) => {
                    self.trace(|| format!("leader {id} gives up: {why}"));
                    if why.contains("counter") {
                        if let Role::Leading { leader, .. } = &self.members[&id].role {
                            self.counters_used_up += 1;
                            self.used_up_epoch = self.used_up_epoch.max(leader.epoch().unwrap_or(0));
                        }
                    }
                    // The server closes every learner link when it leaves leading.
                    if let Role::Leading { conns, .. } = &self.members[&id].role {
                        let conns: Vec<u64> = conns.values().copied().collect();
                        self.net.broken.extend(conns);
                    }
                    self.look(id);
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Leader `id` commits `z`: a majority of the voters (observers do not count) hold it in
    /// the durable part of their logs — what they ACKed survives any crash from now on.
    fn check_durable_quorum(&self, id: i64, z: i64, d: &Bytes) -> Result<(), String> {
        if !self.check_durable {
            return Ok(());
        }
        let holders: Vec<i64> = self
            .voters
            .iter()
            .copied()
            .filter(|v| {
                let disk = &self.members[v].disk;
                let durable = &disk.log[..disk.durable];
                durable.binary_search_by_key(&z, |e| e.0).is_ok_and(|i| durable[i].1 == *d)
            })
            .collect();
        self.check(holders.len() * 2 > self.voters.len(), || {
            format!("leader {id} committed 0x{z:x} durable on voters {holders:?} only, of {:?}", self.voters)
        })
    }

    pub(super) fn leader_send(&mut self, id: i64, to: i64, p: QuorumPacket, snapshot: Option<Log>) {
        let conn = match &self.members[&id].role {
            Role::Leading { conns, .. } => conns.get(&to).copied(),
            _ => None,
        };
        if let Some(conn) = conn {
            self.send_quorum(id, to, conn, p, snapshot);
        }
    }

    pub(super) fn learner_actions(&mut self, id: i64, out: Vec<LearnerAction>, snapshot: Option<Log>) {
        let _ = self.learner_actions_checked(id, out, snapshot);
    }

    pub(super) fn learner_actions_checked(
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
                LearnerAction::Send(p) => {
                    // An observer ACKs nothing but NEWLEADER (zxid epoch<<32), as ZooKeeper's.
                    let acks_proposal = p.type_ == packet::ACK && p.zxid & 0xffff_ffff != 0;
                    let observer = !self.voters.contains(&id);
                    self.check(!(observer && acks_proposal), || format!("observer {id} ACKed 0x{:x}", p.zxid))?;
                    self.send_quorum(id, leader_id, conn, p, None)
                }
                LearnerAction::SyncDone => self.sync_answered(id)?,
                LearnerAction::PersistAcceptedEpoch(e) => self.members.get_mut(&id).expect("m").disk.accepted = e,
                LearnerAction::PersistCurrentEpoch(e) => self.members.get_mut(&id).expect("m").disk.current = e,
                LearnerAction::Truncate(z) => {
                    let m = self.members.get_mut(&id).expect("m");
                    if let Some(c) = m.committed.iter().find(|e| e.0 > z) {
                        return Err(format!("member {id} truncated to 0x{z:x} past its committed 0x{:x}", c.0));
                    }
                    m.disk.log.retain(|e| e.0 <= z);
                    m.disk.durable = m.disk.durable.min(m.disk.log.len());
                    m.disk.cuts += 1;
                    if m.tree.last_zxid() > z {
                        m.tree.replace(rebuild(&m.disk.log, z));
                    }
                    // Fsyncs still in flight covered the old log, not what is appended next.
                    m.incarnation += 1;
                }
                LearnerAction::LoadSnapshot(z) => {
                    let snap = snapshot.take().expect("a snapshot follows SNAP");
                    let m = self.members.get_mut(&id).expect("m");
                    m.disk.log = snap.clone();
                    m.disk.durable = snap.len();
                    m.disk.cuts += 1;
                    m.tree.replace(rebuild(&snap, z));
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
                LearnerAction::PingReply(z) => {
                    let p = QuorumPacket::new(packet::PING, z, Some(Bytes::new()));
                    self.send_quorum(id, leader_id, conn, p, None);
                }
                LearnerAction::Serving | LearnerAction::Revalidated { .. } => {}
                LearnerAction::Fail(why) => {
                    self.trace(|| format!("learner {id} leaves: {why}"));
                    // Between correct members a learner leaves only when its link breaks or
                    // a leader of an older epoch speaks: never over a packet it did not expect
                    // (that was a real bug: proposals between NEWLEADER and UPTODATE).
                    self.check(!why.contains("unexpected packet"), || format!("member {id} left its leader: {why}"))?;
                    self.net.broken.insert(conn);
                    self.look(id);
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// A client's sync reached member `id`: a leader starts its read-index round, a serving
    /// learner forwards it; anyone else drops it (the client sees the connection close).
    pub(super) fn client_sync(&mut self, id: i64, acked: usize) -> Result<(), String> {
        let m = self.members.get_mut(&id).expect("m");
        match &mut m.role {
            Role::Leading { leader, .. } if leader.is_established() => {
                m.syncs.push_back(acked);
                let out = leader.request_sync(SyncFrom::Local);
                self.leader_actions(id, out)
            }
            Role::Following { learner, conn, decision } if learner.is_serving() => {
                m.syncs.push_back(acked);
                let req =
                    ForwardedRequest { session_id: 1, cxid: 0, op: crate::proto::codes::op::SYNC, body: Bytes::new() };
                let p = QuorumPacket::new(packet::REQUEST, -1, Some(req.encode()));
                let (conn, to) = (*conn, decision.vote.leader);
                self.send_quorum(id, to, conn, p, None);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Member `id` answered its oldest client sync: its tree must hold every write
    /// acknowledged before the sync was issued (the newest 64 of them are checked).
    pub(super) fn sync_answered(&mut self, id: i64) -> Result<(), String> {
        let m = self.members.get_mut(&id).expect("m");
        let Some(acked) = m.syncs.pop_front() else { return Ok(()) };
        self.syncs_checked += 1;
        let m = &self.members[&id];
        for n in &self.acked_writes[acked.saturating_sub(64)..acked] {
            self.check(m.tree.has(&format!("/w{n}")), || {
                format!("stale read after sync on member {id}: write {n}, acknowledged before the sync, is missing")
            })?;
        }
        Ok(())
    }
}
