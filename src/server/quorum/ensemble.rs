//! A member's life in an ensemble, inside the node loop: looking (the election task runs,
//! clients are refused), leading (the `zab::leader` machine over the learners' quorum links)
//! or following / observing (the `zab::learner` machine over the link to the leader). It
//! carries out what those machines decide against the core, the log writer, the epoch files
//! and the links, and keeps the timers ZooKeeper keeps: initLimit to establish an epoch,
//! syncLimit for a learner to be heard from and for the leader to keep a quorum, a PING every
//! half tick.
//!
//! Sync is stronger than ZooKeeper's: the leader answers a sync (its own clients' and the ones
//! learners forward) only after a quorum of voters answered a PING sent after the sync
//! arrived (a read-index round, no txn), and once everything proposed before it is committed.
//! Must never: decide what the zab machines decide; ACK or act on an epoch before it is
//! durable (the machines order that; this shell carries actions out in order and waits on
//! the ones that must be durable first).

use super::election::ElectionSetup;
use super::link::{self, LinkEvent, LinkHandle, LinkId};
use super::window::LogWindow;
use super::QuorumMsg;
use crate::core::Core;
use crate::server::node::CoreMsg;
use crate::server::ServerError;
use crate::storage::committer::LogWriter;
use crate::storage::epoch;
use crate::txn::Txn;
use crate::zab::election::Decision;
use crate::zab::leader::{Leader, LeaderAction};
use crate::zab::learner::Learner;
use crate::zab::read_index::SyncFrom;
use crate::zab::sync::SyncPlan;
use crate::zab::wire::{self, packet, LearnerInfo, PeerState, QuorumPacket};
use crate::zab::Limits;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

mod following;
mod metrics;

use metrics::EnsembleMetrics;

/// What does not change while the member runs.
#[derive(Debug, Clone)]
pub struct EnsembleSetup {
    pub my_id: i64,
    pub observer: bool,
    pub voters: BTreeSet<i64>,
    /// The membership text election notifications and NEWLEADER carry.
    pub config_text: Bytes,
    /// Every member's quorum address.
    pub quorum_addrs: BTreeMap<i64, SocketAddr>,
    pub tick: Duration,
    pub init_limit: u32,
    pub sync_limit: u32,
    pub data_dir: PathBuf,
    /// Where currentEpoch and acceptedEpoch live (`dataDir/version-2`).
    pub epoch_dir: PathBuf,
    pub max_packet: usize,
    /// How many recent txns to keep for DIFF, and their byte budget.
    pub window_entries: usize,
    pub window_bytes: usize,
}

struct Leading {
    leader: Leader,
    /// When this member started leading (`zk_leader_uptime`).
    since: Instant,
    /// Links not yet identified by FOLLOWERINFO / OBSERVERINFO.
    unidentified: HashMap<LinkId, LinkHandle>,
    by_sid: BTreeMap<i64, LinkHandle>,
}

struct Following {
    leader_sid: i64,
    /// Bumped per connection attempt, so a late connect of an abandoned attempt is dropped.
    attempt: u64,
    learner: Option<Learner>,
    link: Option<LinkHandle>,
    /// Txns logged (appended) and not yet seen committed.
    logged: BTreeMap<i64, Bytes>,
    /// What the sync with this leader took, for its log line once serving.
    sync: SyncReport,
}

/// A learner's sync with its leader: how (DIFF unless a TRUNC or SNAP came), how much, since
/// when.
struct SyncReport {
    started: Instant,
    kind: &'static str,
    txns: u64,
    bytes: u64,
    serving: bool,
}

enum State {
    Looking,
    Leading(Box<Leading>),
    Following(Box<Following>),
}

/// Who this member is now, for `srvr` and `mntr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Looking,
    Leader,
    Follower,
    Observer,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Looking => "looking",
            Mode::Leader => "leader",
            Mode::Follower => "follower",
            Mode::Observer => "observer",
        }
    }
}

pub struct Ensemble {
    setup: EnsembleSetup,
    accepted_epoch: i64,
    current_epoch: i64,
    look_tx: mpsc::UnboundedSender<ElectionSetup>,
    /// The epoch this member is established in, for the election task's answers (see
    /// `ElectionSetup::vote_epoch`).
    vote_epoch: std::sync::Arc<std::sync::atomic::AtomicI64>,
    events: mpsc::UnboundedSender<CoreMsg>,
    state: State,
    window: LogWindow,
    next_link: LinkId,
    next_attempt: u64,
    /// The last zxid handed to the log writer, and the last it reported durable.
    appended: i64,
    durable: i64,
    last_ping: Instant,
    last_proposal_size: u64,
    min_proposal_size: u64,
    max_proposal_size: u64,
    /// Learners that connected while this member was still looking: a learner may decide
    /// before its leader does. Taken on if this member leads, dropped otherwise.
    early_learners: Vec<(Instant, TcpStream)>,
    metrics: EnsembleMetrics,
}

impl Ensemble {
    /// A member with its durable epochs and its recovered log tail, looking for a leader.
    pub fn start(
        setup: EnsembleSetup,
        core: &mut Core,
        recent: Vec<(i64, Bytes)>,
        look_tx: mpsc::UnboundedSender<ElectionSetup>,
        events: mpsc::UnboundedSender<CoreMsg>,
    ) -> Result<Ensemble, ServerError> {
        let last = core.tree().last_zxid();
        let read =
            |name: &str| -> Result<Option<i64>, ServerError> { Ok(epoch::read_epoch(&setup.epoch_dir.join(name))?) };
        // As ZooKeeper: without the files, the epoch of the last logged zxid (and write it).
        let current_epoch = match read("currentEpoch")? {
            Some(e) => e,
            None => {
                let e = last >> 32;
                epoch::write_epoch(&setup.epoch_dir.join("currentEpoch"), e)?;
                e
            }
        };
        let accepted_epoch = match read("acceptedEpoch")? {
            Some(e) => e,
            None => {
                epoch::write_epoch(&setup.epoch_dir.join("acceptedEpoch"), current_epoch)?;
                current_epoch
            }
        };
        if current_epoch > accepted_epoch {
            return Err(ServerError::Startup(format!(
                "currentEpoch {current_epoch} is newer than acceptedEpoch {accepted_epoch} in {}",
                setup.epoch_dir.display()
            )));
        }
        let mut window = LogWindow::new(setup.window_entries, setup.window_bytes);
        for (z, d) in recent {
            window.push(z, d);
        }
        core.step_down(last, Vec::new());
        let mut e = Ensemble {
            setup,
            accepted_epoch,
            current_epoch,
            look_tx,
            vote_epoch: std::sync::Arc::new(std::sync::atomic::AtomicI64::new(-1)),
            events,
            state: State::Looking,
            window,
            next_link: 1,
            next_attempt: 1,
            appended: last,
            durable: last,
            last_ping: Instant::now(),
            last_proposal_size: 0,
            min_proposal_size: 0,
            max_proposal_size: 0,
            early_learners: Vec::new(),
            metrics: EnsembleMetrics::default(),
        };
        e.look(core);
        Ok(e)
    }

    fn look(&mut self, core: &Core) {
        self.metrics.looking_count += 1;
        self.metrics.looking_since.get_or_insert_with(Instant::now);
        self.metrics.proposed_at.clear();
        self.vote_epoch.store(-1, std::sync::atomic::Ordering::Relaxed);
        let _ = self.look_tx.send(ElectionSetup {
            my_id: self.setup.my_id,
            voters: self.setup.voters.clone(),
            config: self.setup.config_text.clone(),
            last_zxid: core.tree().last_zxid(),
            current_epoch: self.current_epoch,
            vote_epoch: self.vote_epoch.clone(),
        });
    }

    pub fn mode(&self) -> Mode {
        match &self.state {
            State::Looking => Mode::Looking,
            State::Leading(l) if l.leader.is_established() => Mode::Leader,
            State::Following(f) if f.learner.as_ref().is_some_and(|l| l.is_serving()) => {
                if self.setup.observer {
                    Mode::Observer
                } else {
                    Mode::Follower
                }
            }
            _ => Mode::Looking,
        }
    }

    /// ZooKeeper's `zk_peer_state`: the state and, in a role, its phase.
    pub fn peer_state(&self) -> String {
        let phase = |serving: bool| if serving { "broadcast" } else { "synchronization" };
        match &self.state {
            State::Looking => "looking".into(),
            State::Leading(l) => format!("leading - {}", phase(l.leader.is_established())),
            State::Following(f) => {
                let who = if self.setup.observer { "observing" } else { "following" };
                format!("{who} - {}", phase(f.learner.as_ref().is_some_and(|l| l.is_serving())))
            }
        }
    }

    /// What `mntr` and `srvr` print about this member's part in the ensemble.
    pub fn view(&self, core: &Core) -> crate::admin::QuorumView {
        let mut v = crate::admin::QuorumView {
            peer_state: self.peer_state(),
            quorum_size: self.setup.voters.len() as u64,
            leader: self.mode() == Mode::Leader,
            pending_syncs: core.pending_syncs() as u64,
            last_proposal_size: self.last_proposal_size,
            min_proposal_size: self.min_proposal_size,
            max_proposal_size: self.max_proposal_size,
            my_id: self.setup.my_id,
            leader_id: match &self.state {
                State::Looking => -1,
                State::Leading(_) => self.setup.my_id,
                State::Following(f) => f.leader_sid,
            },
            // ZooKeeper's ZabState, named as `peer_state` names the phase.
            zab_state: match self.peer_state().split_once(" - ") {
                Some((_, phase)) => phase.to_string(),
                None => "election".into(),
            },
            ..Default::default()
        };
        if let State::Leading(l) = &self.state {
            v.learners = l.by_sid.len() as u64;
            v.leader_uptime_ms = l.since.elapsed().as_millis() as u64;
            for (sid, voter) in l.leader.active_learners() {
                if voter {
                    v.synced_followers += 1;
                } else {
                    v.synced_observers += 1;
                    v.observers.push(sid);
                }
            }
            v.pending_syncs += l.leader.pending_syncs() as u64;
        }
        v
    }

    /// How long until `tick` has work.
    pub fn next_tick_in(&self) -> Duration {
        let half = self.setup.tick / 2;
        half.saturating_sub(self.last_ping.elapsed())
    }

    fn limits(&self) -> Limits {
        Limits { init_ticks: self.setup.init_limit.into(), sync_ticks: self.setup.sync_limit.into() }
    }

    fn link_timeout(&self, limit: u32) -> Duration {
        self.setup.tick * limit.max(1)
    }

    fn persist(&mut self, name: &str, value: i64) -> Result<(), String> {
        epoch::write_epoch(&self.setup.epoch_dir.join(name), value).map_err(|e| format!("cannot write {name}: {e}"))?;
        if name == "acceptedEpoch" {
            self.accepted_epoch = value;
        } else {
            self.current_epoch = value;
        }
        Ok(())
    }

    /// Makes an epoch durable; if it cannot, leaves the role (false: stop acting).
    async fn persist_or_leave(&mut self, name: &str, value: i64, core: &mut Core, writer: &LogWriter) -> bool {
        match self.persist(name, value) {
            Ok(()) => true,
            Err(e) => {
                self.step_down(core, writer, &e).await;
                false
            }
        }
    }

    /// Leaves the current role: clients are closed, what this member logged is applied (once
    /// durable), and a new election starts.
    async fn step_down(&mut self, core: &mut Core, writer: &LogWriter, why: &str) {
        let was = self.mode();
        tracing::warn!("leaving {} ({why}); looking for a leader", was.as_str());
        let logged = match std::mem::replace(&mut self.state, State::Looking) {
            State::Leading(l) => {
                for h in l.unidentified.values().chain(l.by_sid.values()) {
                    h.close();
                }
                Vec::new()
            }
            State::Following(f) => {
                if let Some(h) = &f.link {
                    h.close();
                }
                f.logged.into_values().filter_map(|d| Txn::decode(&d).ok()).collect()
            }
            State::Looking => Vec::new(),
        };
        // Everything handed to the writer is durable once this returns.
        let _ = writer.exec(|_| ()).await;
        self.durable = self.appended;
        core.step_down(self.appended, logged);
        self.look(core);
    }

    /// A message from the election task, the quorum listener or a link.
    pub async fn on_msg(&mut self, m: QuorumMsg, core: &mut Core, writer: &LogWriter) {
        match m {
            QuorumMsg::Decided(d) => self.decided(d, core, writer).await,
            QuorumMsg::LearnerConnected(stream) => self.learner_connected(stream),
            QuorumMsg::LeaderConnected { attempt, stream } => {
                self.leader_connected(attempt, stream, core, writer).await
            }
            QuorumMsg::LeaderUnreachable { attempt } => {
                if matches!(&self.state, State::Following(f) if f.attempt == attempt) {
                    self.step_down(core, writer, "the leader did not accept a connection").await;
                }
            }
            QuorumMsg::Link(LinkEvent::Packet { link, packet, snapshot }) => {
                self.packet(link, packet, snapshot, core, writer).await
            }
            QuorumMsg::Link(LinkEvent::Closed { link, why }) => self.link_closed(link, &why, core, writer).await,
        }
    }

    async fn decided(&mut self, d: Decision, core: &mut Core, writer: &LogWriter) {
        if !matches!(self.state, State::Looking) {
            return;
        }
        let last = core.tree().last_zxid();
        if let Some(since) = self.metrics.looking_since.take() {
            self.metrics.election_time.record(since.elapsed().as_millis() as u64);
        }
        match d.state {
            PeerState::Leading if d.vote.leader == self.setup.my_id => {
                tracing::info!("LEADING (election round {}, last zxid 0x{last:x})", d.election_epoch);
                let leader = Leader::start(
                    self.setup.my_id,
                    self.setup.voters.clone(),
                    self.setup.config_text.clone(),
                    self.accepted_epoch,
                    self.current_epoch,
                    last,
                )
                .with_limits(self.limits());
                self.state = State::Leading(Box::new(Leading {
                    leader,
                    since: Instant::now(),
                    unidentified: HashMap::new(),
                    by_sid: BTreeMap::new(),
                }));
                let fresh = self.link_timeout(self.setup.init_limit);
                for (at, stream) in std::mem::take(&mut self.early_learners) {
                    if at.elapsed() < fresh {
                        self.learner_connected(stream);
                    }
                }
            }
            PeerState::Following | PeerState::Observing if d.vote.leader != self.setup.my_id => {
                let Some(addr) = self.setup.quorum_addrs.get(&d.vote.leader).copied() else {
                    self.step_down(core, writer, "the elected leader is not in the configuration").await;
                    return;
                };
                tracing::info!(
                    "{} leader {} (election round {}, last zxid 0x{last:x})",
                    if self.setup.observer { "OBSERVING" } else { "FOLLOWING" },
                    d.vote.leader,
                    d.election_epoch
                );
                self.early_learners.clear();
                let attempt = self.next_attempt;
                self.next_attempt += 1;
                self.state = State::Following(Box::new(Following {
                    leader_sid: d.vote.leader,
                    attempt,
                    learner: None,
                    link: None,
                    logged: BTreeMap::new(),
                    sync: SyncReport { started: Instant::now(), kind: "DIFF", txns: 0, bytes: 0, serving: false },
                }));
                let events = self.events.clone();
                let give_up = self.link_timeout(self.setup.init_limit);
                tokio::spawn(async move {
                    let until = Instant::now() + give_up;
                    loop {
                        match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await {
                            Ok(Ok(stream)) => {
                                let _ = events.send(CoreMsg::Quorum(QuorumMsg::LeaderConnected { attempt, stream }));
                                return;
                            }
                            _ if Instant::now() >= until => {
                                let _ = events.send(CoreMsg::Quorum(QuorumMsg::LeaderUnreachable { attempt }));
                                return;
                            }
                            _ => tokio::time::sleep(Duration::from_millis(200)).await,
                        }
                    }
                });
            }
            _ => self.look(core),
        }
    }

    fn new_link_id(&mut self) -> LinkId {
        let id = self.next_link;
        self.next_link += 1;
        id
    }

    fn learner_connected(&mut self, stream: TcpStream) {
        let id = self.new_link_id();
        let timeout = self.link_timeout(self.setup.init_limit);
        let l = match &mut self.state {
            State::Leading(l) => l,
            State::Looking => {
                // Kept for a leader this member may be about to become (a few, briefly).
                self.early_learners.retain(|(at, _)| at.elapsed() < timeout);
                if self.early_learners.len() < 64 {
                    self.early_learners.push((Instant::now(), stream));
                }
                return;
            }
            // Only a leader takes learners; the learner looks again and finds the leader.
            State::Following(_) => return,
        };
        let h = link::spawn(stream, id, self.events.clone(), timeout, None, self.setup.max_packet);
        l.unidentified.insert(id, h);
    }

    async fn leader_connected(&mut self, attempt: u64, stream: TcpStream, core: &mut Core, writer: &LogWriter) {
        let id = self.new_link_id();
        let timeout = self.link_timeout(self.setup.init_limit);
        let limits = self.limits();
        let State::Following(f) = &mut self.state else { return };
        if f.attempt != attempt || f.link.is_some() {
            return;
        }
        let h = link::spawn(
            stream,
            id,
            self.events.clone(),
            timeout,
            Some(self.setup.data_dir.clone()),
            self.setup.max_packet,
        );
        let last = core.tree().last_zxid();
        let (learner, first) =
            Learner::start(self.setup.my_id, self.setup.observer, self.accepted_epoch, self.current_epoch, last);
        f.link = Some(h);
        f.learner = Some(learner.with_limits(limits));
        self.learner_actions(first, None, core, writer).await;
    }

    async fn link_closed(&mut self, link: LinkId, why: &str, core: &mut Core, writer: &LogWriter) {
        match &mut self.state {
            State::Leading(l) => {
                l.unidentified.remove(&link);
                let sid = l.by_sid.iter().find(|(_, h)| h.id == link).map(|(s, _)| *s);
                if let Some(sid) = sid {
                    tracing::info!("learner {sid} left: {why}");
                    l.by_sid.remove(&sid);
                    l.leader.learner_gone(sid);
                }
            }
            State::Following(f) if f.link.as_ref().is_some_and(|h| h.id == link) => {
                let why = format!("the connection to leader {} ended: {why}", f.leader_sid);
                self.step_down(core, writer, &why).await;
            }
            _ => {}
        }
    }

    async fn packet(
        &mut self,
        link: LinkId,
        p: QuorumPacket,
        snapshot: Option<Result<(Box<crate::tree::DataTree>, usize), String>>,
        core: &mut Core,
        writer: &LogWriter,
    ) {
        match &mut self.state {
            State::Leading(l) => {
                let sid = match l.by_sid.iter().find(|(_, h)| h.id == link) {
                    Some((sid, _)) => *sid,
                    None => {
                        let Some(h) = l.unidentified.remove(&link) else { return };
                        let info = (p.type_ == packet::FOLLOWERINFO || p.type_ == packet::OBSERVERINFO)
                            .then(|| {
                                p.data.as_deref().and_then(|d| crate::proto::jute::from_bytes::<LearnerInfo>(d).ok())
                            })
                            .flatten();
                        let Some(info) = info else {
                            tracing::warn!("a learner's first packet (type {}) is not FOLLOWERINFO; closing", p.type_);
                            h.close();
                            return;
                        };
                        let sid = info.server_id;
                        if let Some(old) = l.by_sid.insert(sid, h) {
                            old.close();
                            l.leader.learner_gone(sid);
                        }
                        sid
                    }
                };
                let actions = l.leader.packet(sid, p, &self.window);
                self.leader_actions(actions, core, writer).await;
            }
            State::Following(f) if f.link.as_ref().is_some_and(|h| h.id == link) => {
                let Some(learner) = f.learner.as_mut() else { return };
                match p.type_ {
                    packet::PROPOSAL => self.metrics.learner_proposals += 1,
                    packet::COMMIT | packet::INFORM => self.metrics.learner_commits += 1,
                    _ => {}
                }
                let actions = learner.packet(p);
                self.learner_actions(actions, snapshot, core, writer).await;
            }
            _ => {}
        }
    }

    /// The log writer made everything up to `zxid` durable.
    pub async fn on_durable(&mut self, zxid: i64, core: &mut Core, writer: &LogWriter) {
        self.durable = self.durable.max(zxid);
        match &mut self.state {
            State::Leading(l) => {
                let a = l.leader.logged(zxid);
                self.leader_actions(a, core, writer).await;
            }
            State::Following(f) => {
                if let Some(learner) = f.learner.as_mut() {
                    let a = learner.logged(zxid);
                    self.learner_actions(a, None, core, writer).await;
                }
            }
            State::Looking => {}
        }
    }

    /// A txn the core prepared (leader): propose it. Returns the txns to append to the log.
    pub async fn propose(&mut self, zxid: i64, payload: Bytes, core: &mut Core, writer: &LogWriter) {
        let State::Leading(l) = &mut self.state else { return };
        let size = payload.len() as u64;
        self.last_proposal_size = size;
        self.max_proposal_size = self.max_proposal_size.max(size);
        self.min_proposal_size = if self.min_proposal_size == 0 { size } else { self.min_proposal_size.min(size) };
        self.metrics.proposal_count += 1;
        self.metrics.proposed_at.push_back((zxid, Instant::now()));
        let a = l.leader.propose_at(zxid, payload);
        self.leader_actions(a, core, writer).await;
    }

    /// The core forwards a client's request (learner).
    pub fn forward(&mut self, req: wire::ForwardedRequest, auth: Vec<crate::proto::records::Id>) {
        let State::Following(f) = &self.state else { return };
        if let Some(h) = &f.link {
            let mut p = QuorumPacket::new(packet::REQUEST, -1, Some(req.encode()));
            p.authinfo = Some(auth);
            h.send(p);
        }
    }

    /// A client reconnects to this learner with a session: ask the leader whether it lives
    /// (REVALIDATE: long session id, int timeout). Without a link the connection waits and is
    /// closed when this member leaves its role.
    pub fn revalidate(&mut self, session_id: i64, timeout: i32) {
        let State::Following(f) = &self.state else { return };
        if let Some(h) = &f.link {
            let mut data = Vec::with_capacity(12);
            data.extend_from_slice(&session_id.to_be_bytes());
            data.extend_from_slice(&timeout.to_be_bytes());
            h.send(QuorumPacket::new(packet::REVALIDATE, -1, Some(Bytes::from(data))));
        }
    }

    /// One of the leader's own clients issued a sync.
    pub async fn confirm_sync(&mut self, core: &mut Core, writer: &LogWriter) {
        let State::Leading(l) = &mut self.state else { return };
        let a = l.leader.request_sync(SyncFrom::Local);
        self.leader_actions(a, core, writer).await;
    }

    /// Sends the PING round waiting syncs want, if any.
    pub async fn flush(&mut self, core: &mut Core, writer: &LogWriter) {
        let State::Leading(l) = &mut self.state else { return };
        let a = l.leader.flush();
        self.leader_actions(a, core, writer).await;
    }

    /// Every half tick: the machines' clocks (PINGs, initLimit, syncLimit).
    pub async fn tick(&mut self, core: &mut Core, writer: &LogWriter) {
        if self.last_ping.elapsed() < self.setup.tick / 2 {
            return;
        }
        self.last_ping = Instant::now();
        match &mut self.state {
            State::Leading(l) => {
                let a = l.leader.tick();
                self.leader_actions(a, core, writer).await;
            }
            State::Following(f) => {
                if let Some(learner) = f.learner.as_mut() {
                    let a = learner.tick();
                    self.learner_actions(a, None, core, writer).await;
                }
            }
            State::Looking => {}
        }
    }

    async fn leader_actions(&mut self, actions: Vec<LeaderAction>, core: &mut Core, writer: &LogWriter) {
        let mut appends = Vec::new();
        for a in actions {
            let State::Leading(l) = &mut self.state else { break };
            match a {
                LeaderAction::Send(sid, p) => {
                    if let Some(h) = l.by_sid.get(&sid) {
                        h.send(p);
                    }
                }
                LeaderAction::PersistAcceptedEpoch(e) => {
                    if !self.persist_or_leave("acceptedEpoch", e, core, writer).await {
                        return;
                    }
                }
                LeaderAction::PersistCurrentEpoch(e) => {
                    if !self.persist_or_leave("currentEpoch", e, core, writer).await {
                        return;
                    }
                }
                LeaderAction::Sync(sid, plan, upto) => self.sync_learner(sid, plan, upto, core),
                LeaderAction::Append(z, data) => {
                    self.window.push(z, data.clone());
                    self.appended = z;
                    appends.push((z, data));
                }
                LeaderAction::Commit(z, _) => {
                    let m = &mut self.metrics;
                    while m.proposed_at.front().is_some_and(|(p, _)| *p <= z) {
                        let (_, at) = m.proposed_at.pop_front().expect("front");
                        m.quorum_ack_latency.record(at.elapsed().as_millis() as u64);
                        m.commit_count += 1;
                    }
                    if !appends.is_empty() {
                        writer.append_batch(std::mem::take(&mut appends));
                    }
                    core.committed_up_to(z);
                }
                LeaderAction::SyncConfirmed => core.sync_confirmed(),
                LeaderAction::Established => {
                    let epoch = l.leader.epoch().unwrap_or(self.current_epoch);
                    tracing::info!("established as leader of epoch {epoch}; serving clients");
                    self.vote_epoch.store(epoch, std::sync::atomic::Ordering::Relaxed);
                    core.become_leader(epoch);
                }
                LeaderAction::SessionTouches(_, data) => {
                    core.touch_sessions(&wire::decode_session_touches(&data));
                }
                LeaderAction::Forwarded(sid, p) => self.forwarded(sid, p, core),
                LeaderAction::DropLearner(sid, why) => {
                    tracing::warn!("dropping learner {sid}: {why}");
                    if let Some(h) = l.by_sid.remove(&sid) {
                        h.close();
                    }
                }

                LeaderAction::Fail(why) => {
                    if !appends.is_empty() {
                        writer.append_batch(std::mem::take(&mut appends));
                    }
                    self.step_down(core, writer, &why).await;
                    return;
                }
            }
        }
        if !appends.is_empty() {
            writer.append_batch(appends);
        }
    }

    /// Streams a learner's sync: DIFF / TRUNC / SNAP, then every committed txn it lacks as
    /// PROPOSAL + COMMIT.
    fn sync_learner(&mut self, sid: i64, plan: SyncPlan, upto: i64, core: &Core) {
        let State::Leading(l) = &self.state else { return };
        let Some(h) = l.by_sid.get(&sid) else { return };
        let after = match plan {
            SyncPlan::Diff { zxid, after } => {
                self.metrics.diff_count += 1;
                h.send(QuorumPacket::new(packet::DIFF, zxid, None));
                after
            }
            SyncPlan::Trunc { to } => {
                h.send(QuorumPacket::new(packet::TRUNC, to, None));
                to
            }
            SyncPlan::Snap => {
                self.metrics.snap_count += 1;
                let z = core.tree().last_zxid();
                h.send(QuorumPacket::new(packet::SNAP, z, None));
                h.send_snapshot(Box::new(core.tree().image()));
                z
            }
        };
        let mut n = 0;
        for (z, d) in self.window.between(after, upto) {
            h.send(QuorumPacket::new(packet::PROPOSAL, *z, Some(d.clone())));
            h.send(QuorumPacket::new(packet::COMMIT, *z, None));
            n += 1;
        }
        tracing::info!("syncing learner {sid}: {plan:?}, {n} txns up to 0x{upto:x}");
    }

    /// A learner's REQUEST or REVALIDATE.
    fn forwarded(&mut self, sid: i64, p: QuorumPacket, core: &mut Core) {
        let data = p.data.clone().unwrap_or_default();
        if p.type_ == packet::REVALIDATE {
            // long sessionId, int timeout -> long sessionId, bool valid.
            if data.len() < 8 {
                return;
            }
            let id = i64::from_be_bytes(data[..8].try_into().expect("8"));
            let valid = core.sessions().get(id).is_some_and(|s| !s.closing);
            if valid {
                core.touch_sessions(&[(id, 0)]);
            }
            let mut out = Vec::with_capacity(9);
            out.extend_from_slice(&id.to_be_bytes());
            out.push(valid as u8);
            let mut reply = QuorumPacket::new(packet::REVALIDATE, p.zxid, Some(Bytes::from(out)));
            reply.authinfo = p.authinfo;
            if let State::Leading(l) = &self.state {
                if let Some(h) = l.by_sid.get(&sid) {
                    h.send(reply);
                }
            }
            return;
        }
        let Ok(req) = wire::ForwardedRequest::decode(&data) else {
            tracing::warn!("learner {sid} forwarded a request that does not decode");
            return;
        };
        core.forwarded(req, p.authinfo.as_deref().unwrap_or(&[]));
    }
}
