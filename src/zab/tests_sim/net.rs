//! The simulation's network: what it does to messages, and the TCP between it and the quorum
//! port.
//!
//! The wire delays every message (1–20 ms, independently, so later ones overtake earlier
//! ones), loses some and duplicates some, at rates drawn per seed (none, 1% or 5% lost; none,
//! 1% or 3% duplicated). Election notifications take that as it is: ZooKeeper's
//! QuorumCnxManager drops queued notifications and resends the last one on a new connection,
//! and the election must cope. Quorum packets ride a simulated TCP connection, as ZooKeeper's
//! do: each is a numbered segment; the receiver delivers segments in order, holds early ones
//! back and drops duplicates; a lost segment is sent again after a retransmission timeout
//! (200 ms, doubling per try; after `MAX_RETRANSMITS` tries the connection breaks). A
//! partition is silent (its segments are lost and retransmitted, the connection survives a
//! short one and delivers late) or loud (a reset: a connection breaks at its next segment),
//! drawn per partition. Losses are recorded as faults near the two members (a lost ACK can
//! delay it past syncLimit). The simulation's state machines therefore see what a quorum
//! connection can give them: packets in order, late, or a broken connection.

use super::{packet, Flight, Log, LogView, Msg, Role, Sim};
use crate::zab::wire::QuorumPacket;
use std::collections::{BTreeMap, BTreeSet};

/// After this many retransmissions of one segment the connection breaks.
const MAX_RETRANSMITS: u32 = 7;
/// The first retransmission timeout; each further try waits twice as long.
const RTO_MS: u64 = 200;

/// A quorum packet on connection `conn`: its TCP segment number `seq`, on the wire for the
/// `tries`+1-th time (a snapshot, after SNAP, rides along).
#[derive(Clone)]
pub(super) struct Segment {
    conn: u64,
    seq: u64,
    tries: u32,
    p: QuorumPacket,
    snapshot: Option<Log>,
}

impl Segment {
    pub(super) fn conn(&self) -> u64 {
        self.conn
    }
}

/// One direction of a quorum connection, as the receiving side's TCP keeps it.
#[derive(Default)]
struct Stream {
    /// The next segment number the sender gives out.
    next_seq: u64,
    /// The next segment number the receiver delivers.
    expected: u64,
    /// Segments that arrived before `expected`.
    early: BTreeMap<u64, (QuorumPacket, Option<Log>)>,
}

/// What the network did over a run.
#[derive(Default, Debug, Clone, Copy)]
pub(super) struct NetStats {
    pub(super) segments: u64,
    pub(super) lost: u64,
    pub(super) duplicated: u64,
    /// Segments that arrived before one sent earlier (held back by the receiver).
    pub(super) reordered: u64,
    pub(super) duplicates_dropped: u64,
    /// Connections TCP gave up on (a segment lost `MAX_RETRANSMITS` times).
    pub(super) given_up: u64,
    pub(super) votes: u64,
    pub(super) votes_lost: u64,
    pub(super) votes_duplicated: u64,
}

impl NetStats {
    pub(super) fn add(&mut self, o: &NetStats) {
        self.segments += o.segments;
        self.lost += o.lost;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
        self.duplicates_dropped += o.duplicates_dropped;
        self.given_up += o.given_up;
        self.votes += o.votes;
        self.votes_lost += o.votes_lost;
        self.votes_duplicated += o.votes_duplicated;
    }
}

/// The network's state: the partition, the connections gone, the wire's rates and each
/// connection's TCP.
pub(super) struct Net {
    /// Pairs (from, to) that cannot reach each other, until `heal_at`.
    pub(super) cut: BTreeSet<(i64, i64)>,
    pub(super) heal_at: u64,
    /// Quorum connections closed (by either side, a crash, a reset or TCP giving up).
    pub(super) broken: BTreeSet<u64>,
    /// Loss and duplication rates, in thousandths.
    loss: u64,
    dup: u64,
    /// Whether the current partition resets connections instead of silently dropping.
    pub(super) loud: bool,
    /// Per (connection, sender).
    streams: BTreeMap<(u64, i64), Stream>,
    pub(super) stats: NetStats,
    /// A planted bug: quorum segments are handed over as they arrive, with no TCP between.
    pub(super) raw: bool,
}

impl Net {
    pub(super) fn new(rng: &mut crate::testkit::Rng) -> Net {
        let loss = [0, 10, 50][rng.below(3) as usize];
        let dup = [0, 10, 30][rng.below(3) as usize];
        Net {
            cut: BTreeSet::new(),
            heal_at: 0,
            broken: BTreeSet::new(),
            loss,
            dup,
            loud: false,
            streams: BTreeMap::new(),
            stats: NetStats::default(),
            raw: false,
        }
    }
}

impl Sim {
    fn wire_delay(&mut self) -> u64 {
        1 + self.rng.below(20)
    }

    fn push(&mut self, at: u64, from: i64, to: i64, msg: Msg) {
        self.seq += 1;
        self.flights.push(Flight { at, seq: self.seq, from, to, msg });
    }

    /// A message a member hands itself (a client's sync): it arrives, in a few ms.
    pub(super) fn post_local(&mut self, id: i64, msg: Msg) {
        let at = self.now + self.wire_delay();
        self.push(at, id, id, msg);
    }

    /// An election notification on the wire: delayed, maybe lost, maybe duplicated.
    pub(super) fn post_vote(&mut self, from: i64, to: i64, n: super::Notification) {
        self.net.stats.votes += 1;
        if self.rng.below(1000) < self.net.loss {
            self.net.stats.votes_lost += 1;
            return;
        }
        if self.rng.below(1000) < self.net.dup {
            self.net.stats.votes_duplicated += 1;
            let at = self.now + self.wire_delay();
            self.push(at, from, to, Msg::Vote(n.clone()));
        }
        let at = self.now + self.wire_delay();
        self.push(at, from, to, Msg::Vote(n));
    }

    /// A quorum packet written to connection `conn` (a snapshot, after SNAP, rides along).
    pub(super) fn send_quorum(&mut self, from: i64, to: i64, conn: u64, p: QuorumPacket, snapshot: Option<Log>) {
        if self.net.broken.contains(&conn) {
            return;
        }
        let stream = self.net.streams.entry((conn, from)).or_default();
        let seq = stream.next_seq;
        stream.next_seq += 1;
        self.net.stats.segments += 1;
        self.transmit(from, to, Segment { conn, seq, tries: 0, p, snapshot }, self.now);
    }

    /// Puts a segment on the wire at `at`, duplicated at the seed's rate.
    fn transmit(&mut self, from: i64, to: i64, seg: Segment, at: u64) {
        if self.rng.below(1000) < self.net.dup {
            self.net.stats.duplicated += 1;
            let arrive = at + self.wire_delay();
            self.push(arrive, from, to, Msg::Segment(seg.clone()));
        }
        let arrive = at + self.wire_delay();
        self.push(arrive, from, to, Msg::Segment(seg));
    }

    /// A segment reached member `to` (which is not paused): what its TCP hands the quorum
    /// port now, in order (nothing when it was lost, early or a duplicate).
    pub(super) fn receive_segment(&mut self, from: i64, to: i64, seg: Segment) -> Vec<(QuorumPacket, Option<Log>)> {
        let conn = seg.conn;
        if self.net.broken.contains(&conn) {
            // The connection is gone, and what its receiver held back with it.
            self.net.streams.remove(&(conn, from));
            return Vec::new();
        }
        let cut = self.net.cut.contains(&(from, to));
        if cut && self.net.loud {
            self.net.broken.insert(conn);
            return Vec::new();
        }
        if cut || self.rng.below(1000) < self.net.loss {
            self.net.stats.lost += 1;
            if seg.tries >= MAX_RETRANSMITS {
                self.net.stats.given_up += 1;
                self.net.broken.insert(conn);
                return Vec::new();
            }
            // The sender's retransmission timer fires RTO after the lost copy went out.
            let again = self.now + (RTO_MS << seg.tries);
            if !cut {
                self.faults.push((self.now, again + 20, BTreeSet::from([from, to])));
            }
            self.transmit(from, to, Segment { tries: seg.tries + 1, ..seg }, again);
            return Vec::new();
        }
        let Segment { seq, p, snapshot, .. } = seg;
        if self.net.raw {
            return vec![(p, snapshot)];
        }
        let stream = self.net.streams.entry((conn, from)).or_default();
        if seq < stream.expected || stream.early.contains_key(&seq) {
            self.net.stats.duplicates_dropped += 1;
            return Vec::new();
        }
        if seq > stream.expected {
            self.net.stats.reordered += 1;
            stream.early.insert(seq, (p, snapshot));
            return Vec::new();
        }
        let mut ready = vec![(p, snapshot)];
        stream.expected += 1;
        while let Some(next) = stream.early.remove(&stream.expected) {
            ready.push(next);
            stream.expected += 1;
        }
        ready
    }

    /// A quorum packet the TCP of member `to` hands its quorum port, from `from` on `conn`.
    pub(super) fn quorum_packet(
        &mut self,
        from: i64,
        to: i64,
        conn: u64,
        p: QuorumPacket,
        snapshot: Option<Log>,
    ) -> Result<(), String> {
        if self.net.broken.contains(&conn) {
            return Ok(());
        }
        let m = self.members.get_mut(&to).expect("m");
        match &mut m.role {
            Role::Leading { leader, conns, .. } => {
                if matches!(p.type_, packet::FOLLOWERINFO | packet::OBSERVERINFO) {
                    if let Some(old) = conns.insert(from, conn) {
                        if old != conn {
                            leader.learner_gone(from);
                            self.net.broken.insert(old);
                        }
                    }
                }
                if conns.get(&from) != Some(&conn) {
                    return Ok(());
                }
                let out = leader.packet(from, p, &LogView(&m.disk.log));
                self.leader_actions(to, out)?;
            }
            Role::Following { learner, conn: c, .. } if *c == conn => {
                let out = learner.packet(p);
                self.learner_actions_checked(to, out, snapshot)?;
            }
            _ => {
                // Nobody there (any more) for this connection.
                self.net.broken.insert(conn);
            }
        }
        Ok(())
    }
}
