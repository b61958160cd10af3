//! A member's side as follower or observer: carrying out what `zab::learner` decides against
//! the core, the log writer, the epoch files and the link to the leader, including the
//! truncation (tree rebuilt from snapshot + log) and the leader's snapshot.
//! Must never: decide what the learner machine decides, or ACK anything (the machine does,
//! once the log reports it durable).

use super::{Ensemble, State};
use crate::core::Core;
use crate::server::recovery;
use crate::storage::committer::LogWriter;
use crate::txn::Txn;
use crate::zab::learner::LearnerAction;
use crate::zab::wire::{self, packet, QuorumPacket};

impl Ensemble {
    pub(super) async fn learner_actions(
        &mut self,
        actions: Vec<LearnerAction>,
        mut snapshot: Option<Result<(Box<crate::tree::DataTree>, usize), String>>,
        core: &mut Core,
        writer: &LogWriter,
    ) {
        for a in actions {
            let State::Following(f) = &mut self.state else { return };
            match a {
                LearnerAction::Send(p) => {
                    if let Some(h) = &f.link {
                        h.send(p);
                    }
                }
                LearnerAction::PersistAcceptedEpoch(e) => {
                    if !self.persist_or_leave("acceptedEpoch", e, core, writer).await {
                        return;
                    }
                }
                LearnerAction::PersistCurrentEpoch(e) => {
                    if !self.persist_or_leave("currentEpoch", e, core, writer).await {
                        return;
                    }
                }
                LearnerAction::Truncate(z) => {
                    f.logged.clear();
                    f.sync.kind = "TRUNC";
                    if let Err(e) = self.truncate(z, core, writer).await {
                        self.step_down(core, writer, &e).await;
                        return;
                    }
                }
                LearnerAction::LoadSnapshot(z) => {
                    f.logged.clear();
                    let loaded = snapshot.take().unwrap_or_else(|| Err("SNAP without a snapshot".into()));
                    f.sync.kind = "SNAP";
                    if let Ok((_, size)) = &loaded {
                        f.sync.bytes += *size as u64;
                    }
                    if let Err(e) = self.load_snapshot(z, loaded, core, writer).await {
                        self.step_down(core, writer, &e).await;
                        return;
                    }
                }
                LearnerAction::Append(entries) => {
                    if !f.sync.serving {
                        f.sync.txns += entries.len() as u64;
                        f.sync.bytes += entries.iter().map(|(_, d)| d.len() as u64).sum::<u64>();
                    }
                    for (z, d) in &entries {
                        f.logged.insert(*z, d.clone());
                        self.window.push(*z, d.clone());
                    }
                    if let Some((z, _)) = entries.last() {
                        self.appended = *z;
                    }
                    writer.append_batch(entries);
                }
                LearnerAction::Commit(z, data) => {
                    f.logged.remove(&z);
                    match Txn::decode(&data) {
                        Ok(txn) => core.commit_remote(txn),
                        Err(e) => {
                            let why = format!("committed txn 0x{z:x} does not decode: {e}");
                            self.step_down(core, writer, &why).await;
                            return;
                        }
                    }
                }
                LearnerAction::PingReply(z) => {
                    let touches = core.take_touches();
                    if let Some(h) = &f.link {
                        h.send(QuorumPacket::new(packet::PING, z, Some(wire::encode_session_touches(&touches))));
                    }
                }
                LearnerAction::Serving => {
                    let r = &mut f.sync;
                    r.serving = true;
                    let took = r.started.elapsed().as_millis() as u64;
                    match self.setup.observer {
                        true => self.metrics.observer_sync_time.record(took),
                        false => self.metrics.follower_sync_time.record(took),
                    }
                    tracing::info!(
                        "synchronised with leader {} by {} ({} txns, {} bytes) in {} ms; serving clients",
                        f.leader_sid,
                        r.kind,
                        r.txns,
                        r.bytes,
                        r.started.elapsed().as_millis()
                    );
                    self.vote_epoch.store(self.current_epoch, std::sync::atomic::Ordering::Relaxed);
                    if let Some(h) = &f.link {
                        h.set_read_timeout(self.setup.tick * self.setup.sync_limit.max(1));
                    }
                    core.become_learner();
                }
                LearnerAction::SyncDone => core.sync_confirmed(),
                LearnerAction::Revalidated { session_id, valid } => core.revalidated(session_id, valid),
                LearnerAction::Fail(why) => {
                    self.step_down(core, writer, &why).await;
                    return;
                }
            }
        }
    }

    /// TRUNC: the log loses everything after `zxid` (durably), and the tree is rebuilt from
    /// the snapshot and log that remain.
    async fn truncate(&mut self, zxid: i64, core: &mut Core, writer: &LogWriter) -> Result<(), String> {
        writer
            .truncate_after(zxid)
            .await
            .map_err(|_| "the log writer stopped".to_string())?
            .map_err(|e| format!("truncating the log to 0x{zxid:x}: {e}"))?;
        self.window.truncate_after(zxid);
        self.appended = zxid;
        self.durable = zxid;
        if core.tree().last_zxid() > zxid {
            let dir = self.setup.data_dir.clone();
            let mut tree = tokio::task::spawn_blocking(move || recovery::load_snapshot_at_most(&dir, zxid))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            let records = writer
                .read_after(tree.last_zxid())
                .await
                .map_err(|_| "the log writer stopped".to_string())?
                .map_err(|e| e.to_string())?;
            for (z, payload) in records.into_iter().filter(|(z, _)| *z <= zxid) {
                let txn = Txn::decode(&payload).map_err(|e| format!("txn 0x{z:x} in the log: {e}"))?;
                tree.apply(&txn);
            }
            tracing::info!("truncated the log to 0x{zxid:x} and rebuilt the tree ({} znodes)", tree.node_count());
            core.replace_tree(tree);
        }
        Ok(())
    }

    /// SNAP: the leader's tree becomes ours (decoded and made durable as a snapshot file while
    /// it arrived, by the link), and the log after it is dropped.
    async fn load_snapshot(
        &mut self,
        zxid: i64,
        loaded: Result<(Box<crate::tree::DataTree>, usize), String>,
        core: &mut Core,
        writer: &LogWriter,
    ) -> Result<(), String> {
        let (tree, size) = loaded?;
        writer
            .truncate_after(zxid)
            .await
            .map_err(|_| "the log writer stopped".to_string())?
            .map_err(|e| format!("truncating the log to 0x{zxid:x}: {e}"))?;
        self.window.clear();
        self.appended = zxid;
        self.durable = zxid;
        tracing::info!("loaded the leader's snapshot 0x{zxid:x} ({} znodes, {size} bytes)", tree.node_count());
        core.replace_tree(*tree);
        Ok(())
    }
}
