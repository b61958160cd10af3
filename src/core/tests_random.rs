//! Seeded random interleavings: requests from three connections (writes, reads with watches,
//! syncs, closeSession, dropped connections and reconnects) with durable points at random.
//! Invariants: every request is answered exactly once, in its connection's request order; a
//! write's reply carries its logged zxid and comes only once durable covers it; nothing a
//! client sees is ahead of durable; and the core's tree equals a fresh tree that applied the
//! logged txns in order.

use super::*;
use std::collections::VecDeque;

use crate::testkit::Rng;

/// One client slot: its current connection and the replies it still expects, in order.
struct Client {
    conn: ConnId,
    session: i64,
    passwd: Bytes,
    next_xid: i32,
    /// (xid, Some(zxid) for a write).
    pending: VecDeque<(i32, Option<i64>)>,
    ready: bool,
    closing: bool,
}

struct World {
    h: H,
    rng: Rng,
    clients: Vec<Client>,
    next_conn: ConnId,
    answered: usize,
}

const PATHS: [&str; 6] = ["/a", "/b", "/a/x", "/a/y", "/b/z", "/a/x/q"];

impl World {
    fn new(seed: u64) -> World {
        let mut w =
            World { h: H::new(CoreConfig::default()), rng: Rng::new(seed), clients: vec![], next_conn: 1, answered: 0 };
        for _ in 0..3 {
            let conn = w.fresh_conn();
            w.clients.push(Client {
                conn,
                session: 0,
                passwd: Bytes::new(),
                next_xid: 1,
                pending: VecDeque::new(),
                ready: false,
                closing: false,
            });
            w.start_session(w.clients.len() - 1);
        }
        w
    }

    fn fresh_conn(&mut self) -> ConnId {
        self.next_conn += 1;
        self.next_conn
    }

    fn start_session(&mut self, i: usize) {
        let conn = self.clients[i].conn;
        self.h.core.connection_opened(conn, Some(IP));
        self.h.handshake(conn, 0, Bytes::new(), 30000, 0);
        let out = self.h.pump();
        self.check(out);
    }

    /// Checks and accounts for everything sent since the last call.
    fn check(&mut self, out: Vec<(ConnId, Frame)>) {
        let durable = self.h.durable_to;
        for (conn, f) in out {
            let c = self
                .clients
                .iter_mut()
                .find(|c| c.conn == conn)
                .unwrap_or_else(|| panic!("frame for a stale conn {conn}: {f:?}"));
            match f {
                Frame::Connect(r) => {
                    assert!(!c.ready, "second ConnectResponse");
                    assert!(r.session_id != 0 && r.time_out > 0, "handshake refused: {r:?}");
                    c.ready = true;
                    c.session = r.session_id;
                    c.passwd = r.passwd;
                }
                Frame::Reply { xid, zxid, err, .. } => {
                    let (want, wz) =
                        c.pending.pop_front().unwrap_or_else(|| panic!("unexpected reply {xid} on {conn}"));
                    assert_eq!(xid, want, "reply out of order on conn {conn}");
                    assert!(zxid <= durable, "reply {xid} at zxid {zxid} ahead of durable {durable}");
                    if let Some(z) = wz {
                        assert_eq!(zxid, z, "write {xid} answered with another zxid (err {err})");
                    }
                    self.answered += 1;
                }
                Frame::Notify { zxid, .. } => assert!(zxid <= durable && zxid > 0, "notification at {zxid}"),
            }
        }
        // Connections the core closed: only after their closeSession was answered.
        let closed: Vec<ConnId> = std::mem::take(&mut self.h.closed);
        for conn in closed {
            let i = self.clients.iter().position(|c| c.conn == conn).expect("closed a known conn");
            let c = &self.clients[i];
            assert!(c.closing, "conn {conn} closed without closeSession");
            assert!(c.pending.is_empty(), "conn {conn} closed with unanswered requests {:?}", c.pending);
            // The slot gets a new connection and a new session.
            let conn = self.fresh_conn();
            let c = &mut self.clients[i];
            c.conn = conn;
            c.ready = false;
            c.closing = false;
            self.start_session(i);
        }
    }

    fn random_write(&mut self) -> Request {
        let p = self.rng.pick(&PATHS).to_string();
        let v = [-1, -1, 0, 1][self.rng.below(4) as usize];
        match self.rng.below(9) {
            0 | 1 => create(&p, *self.rng.pick(&[0, 0, 1, 2])),
            2 | 3 => set_data(&p, &self.rng.next().to_be_bytes()[..self.rng.below(8) as usize], v),
            4 | 5 => {
                // Sometimes a sequential child, so deletes reach them too.
                let kids = self.h.core.tree().children("/a").unwrap_or_default();
                if !kids.is_empty() && self.rng.below(2) == 0 {
                    delete(&format!("/a/{}", self.rng.pick(&kids)), v)
                } else {
                    delete(&p, v)
                }
            }
            6 => Request::Check(PathVersionRequest { path: p, version: v }),
            7 => Request::SetAcl(SetAclRequest { path: p, acl: open_acl(), version: v }),
            _ => {
                let n = 1 + self.rng.below(3);
                let ops = (0..n)
                    .map(|_| {
                        let p = self.rng.pick(&PATHS).to_string();
                        match self.rng.below(4) {
                            0 => MultiOp::Create {
                                op: opc::CREATE,
                                req: CreateTtlRequest { path: p, data: None, acl: open_acl(), flags: 0, ttl: 0 },
                            },
                            1 => MultiOp::Delete(PathVersionRequest { path: p, version: -1 }),
                            2 => MultiOp::SetData(SetDataRequest { path: p, data: None, version: -1 }),
                            _ => MultiOp::Check(PathVersionRequest { path: p, version: -1 }),
                        }
                    })
                    .collect();
                Request::Multi(ops)
            }
        }
    }

    fn random_read(&mut self) -> Request {
        let p = self.rng.pick(&PATHS).to_string();
        let watch = self.rng.below(2) == 0;
        match self.rng.below(6) {
            0 => get_data(&p, watch),
            1 => exists(&p, watch),
            2 => get_children(&p, watch),
            3 => Request::GetChildren2(PathWatchRequest { path: p, watch }),
            4 => Request::GetAllChildrenNumber(PathRequest { path: p }),
            _ => Request::Sync(PathRequest { path: p }),
        }
    }

    fn step(&mut self) {
        let i = self.rng.below(self.clients.len() as u64) as usize;
        let roll = self.rng.below(100);
        if !self.clients[i].ready || roll >= 74 {
            // Durability moves forward by a random amount.
            let (lo, hi) = (self.h.durable_to, self.h.last_logged());
            if hi > lo {
                let z = lo + 1 + self.rng.below((hi - lo) as u64) as i64;
                let out = self.h.durable(z);
                self.check(out);
            }
            return;
        }
        let (req, is_write) = match roll {
            0..=39 => (self.random_write(), true),
            40..=69 => (self.random_read(), false),
            70..=71 => (Request::CloseSession, true),
            72..=73 => {
                // The client drops its connection and reconnects with its session at once.
                let old = self.clients[i].conn;
                if self.clients[i].closing {
                    return;
                }
                self.h.core.connection_closed(old);
                let conn = self.fresh_conn();
                let (sid, pw) = (self.clients[i].session, self.clients[i].passwd.clone());
                let c = &mut self.clients[i];
                c.conn = conn;
                c.pending.clear();
                c.ready = false;
                self.h.core.connection_opened(conn, Some(IP));
                self.h.handshake(conn, sid, pw, 30000, self.h.durable_to);
                let out = self.h.pump();
                self.check(out);
                assert!(self.clients[i].ready, "reconnect is answered at once");
                return;
            }
            _ => unreachable!(),
        };
        let c = &mut self.clients[i];
        let xid = c.next_xid;
        c.next_xid += 1;
        let (conn, closing) = (c.conn, c.closing);
        if matches!(req, Request::CloseSession) {
            c.closing = true;
        }
        let before = self.h.last_logged();
        let out = self.h.req(conn, xid, req);
        let logged = self.h.last_logged();
        if closing {
            assert_eq!(logged, before, "a request after closeSession was logged");
        } else if is_write {
            assert_eq!(logged, before + 1, "a write logs exactly one txn");
            self.clients[i].pending.push_back((xid, Some(logged)));
        } else {
            assert_eq!(logged, before);
            self.clients[i].pending.push_back((xid, None));
        }
        self.check(out);
    }

    fn finish(&mut self) {
        // Let everything become durable, then every live client has its answers.
        for _ in 0..4 {
            let out = self.h.durable_all();
            self.check(out);
        }
        for c in &self.clients {
            assert!(c.pending.is_empty(), "conn {} never answered {:?}", c.conn, c.pending);
        }
        let mut replay = DataTree::new();
        for (_, payload) in &self.h.logs {
            replay.apply(&Txn::decode(payload).unwrap());
        }
        assert_eq!(replay.fingerprint(), self.h.core.tree().fingerprint());
        assert_eq!(replay.sessions(), self.h.core.tree().sessions());
        assert_eq!(replay.last_zxid(), self.h.core.tree().last_zxid());
        assert_eq!(self.h.core.outstanding(), 0);
    }
}

/// Prints the failing seed when a run panics.
struct SeedGuard(u64);

impl Drop for SeedGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("core random test failed with seed {}", self.0);
        }
    }
}

fn run(seed: u64, steps: usize) -> usize {
    let _g = SeedGuard(seed);
    let mut w = World::new(seed);
    for _ in 0..steps {
        w.step();
    }
    w.finish();
    w.answered
}

#[test]
fn random_interleavings_keep_order_durability_and_replay_equality() {
    // CORE_RANDOM_SEEDS=N runs more (200 by default).
    let seeds: u64 = std::env::var("CORE_RANDOM_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(200);
    let mut answered = 0;
    for seed in 0..seeds {
        answered += run(seed, 200);
    }
    // The runs did real work.
    assert!(answered > seeds as usize * 50, "only {answered} replies");
}
