//! The hub's state machine (`server::hub::Hub`) driven by hostile sessions: a little
//! program of connects, decoded client frames (any bytes), scripted hellos, logins and
//! logins with the last resume token a login reply gave, disconnects, timers, console
//! lines and time passing, on four connections. Whatever
//! they send, the hub never panics, every frame it queues decodes as a hub message, it
//! never addresses a connection it does not know, and no more users are online than
//! connections are open.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhub::proto::frame;
use peerhub::proto::message::{Body, ClientMsg, HubMsg, Role, VERSION};
use peerhub::proto::ticket::SIGNATURE_LEN;
use peerhub::server::hub::{Action, ConnId, Hub, HubConfig, Request, StoreSide};
use peerhub::server::persist::memory::{Memory, MemoryBackend};
use peerhub::server::persist::{Backend, Snapshot};
use peerhub::server::random::Seeded;
use peerhub::server::store::{FreeSpace, StoreLimits};
use peerhub::trust::TicketSigner;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const CONNS: usize = 4;

/// A disk that is never full.
struct Plenty;

impl FreeSpace for Plenty {
    fn free_bytes(&self) -> std::io::Result<u64> {
        Ok(1 << 40)
    }
}

/// Fetch tickets signed with zeros: what is under test is the hub, not the signature.
struct ZeroSigner;

impl TicketSigner for ZeroSigner {
    fn sign(&self, _message: &[u8]) -> [u8; SIGNATURE_LEN] {
        [0; SIGNATURE_LEN]
    }

    fn public_key(&self) -> &[u8] {
        b"no key"
    }
}

struct Run {
    hub: Hub,
    /// The accounts and publications, answered at once as the SQLite backend does.
    backend: MemoryBackend,
    now: Instant,
    /// Unix seconds, moving with `now`.
    wall: u64,
    open: BTreeSet<ConnId>,
    timers: Vec<(Instant, ConnId, u64)>,
    exited: bool,
    /// The resume token of the last login reply (a later login resumes with it).
    token: Option<String>,
}

impl Run {
    /// Check and apply what the hub asked for, as the loop would.
    fn apply(&mut self, out: Vec<Action>) {
        let mut closed = Vec::new();
        for action in out {
            match action {
                Action::Send(conn, bytes) => self.frame_for(conn, &bytes),
                Action::Share(conn, bytes) => self.frame_for(conn, &bytes),
                Action::Close(conn) => closed.push(conn),
                Action::Arm(at, conn, serial) => self.timers.push((at, conn, serial)),
                Action::Upgrade(conn) => {
                    // The loop takes the connection over; the hub has forgotten it.
                    assert!(self.open.remove(&conn), "upgrade of unknown {conn}");
                    assert!(!self.hub.knows(conn));
                }
                Action::Exit => self.exited = true,
                Action::Persist(id, ask) => {
                    self.backend.submit(id, *ask);
                    while let Some((id, answer)) = self.backend.take_done() {
                        let mut then = Vec::new();
                        self.hub.on_answer(id, answer, self.now, &mut then);
                        self.apply(then);
                    }
                }
                _ => {}
            }
        }
        for conn in closed {
            if self.open.remove(&conn) {
                let mut out = Vec::new();
                self.hub.on_disconnect(conn, "closed", self.now, &mut out);
                self.apply(out);
            }
        }
        assert!(self.hub.online_count() <= self.hub.connection_count());
    }

    fn frame_for(&mut self, conn: ConnId, bytes: &[u8]) {
        assert!(
            self.open.contains(&conn),
            "a frame for unknown connection {conn}"
        );
        let mut rest = bytes;
        while !rest.is_empty() {
            let (used, payload) = frame::try_parse(rest, usize::MAX)
                .expect("the hub queues valid frames")
                .expect("the hub queues whole frames");
            match HubMsg::decode(payload) {
                Ok(HubMsg::Reply {
                    body: Body::LoggedIn { token, .. },
                    ..
                }) => self.token = Some(token),
                Ok(_) => {}
                Err(e) => panic!("the hub queued an undecodable frame ({e}): {payload:?}"),
            }
            rest = &rest[used..];
        }
    }

    fn request(&mut self, conn: ConnId, req: Request) {
        if self.open.contains(&conn) && self.hub.knows(conn) {
            let mut out = Vec::new();
            self.hub.on_request(conn, req, self.now, &mut out);
            self.apply(out);
        }
    }

    fn message(&mut self, conn: ConnId, msg: ClientMsg) {
        self.request(conn, Request::Msg(msg));
    }

    /// A turn of the loop begins: what waits from earlier turns goes first.
    fn begin_turn(&mut self) {
        self.hub.begin_turn(self.now, self.wall);
        for conn in self.open.clone() {
            if self.hub.knows(conn) {
                let mut out = Vec::new();
                self.hub.resume(conn, self.now, &mut out);
                self.apply(out);
            }
        }
    }

    /// The turn ends: batched notices go out.
    fn end_turn(&mut self) {
        let mut out = Vec::new();
        self.hub.end_turn(self.now, &mut out);
        self.apply(out);
    }
}

/// Reads the program.
struct Ops<'a>(&'a [u8]);

impl Ops<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn bytes(&mut self) -> &[u8] {
        let n = usize::from(self.byte().unwrap_or(0));
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
}

fuzz_target!(|data: &[u8]| {
    let store = StoreSide {
        limits: StoreLimits {
            max_file: 0,
            user_quota: 0,
            reserve: 0,
        },
        free_space: Box::new(Plenty),
    };
    let config = HubConfig {
        history: 4,
        ..HubConfig::default()
    };
    let now = Instant::now();
    let hub = Hub::new(
        now,
        config,
        Snapshot::default(),
        store,
        Box::new(Seeded::new(7)),
        Box::new(ZeroSigner),
    );
    let mut run = Run {
        hub,
        backend: Memory::backend(),
        now,
        wall: 1_800_000_000,
        open: BTreeSet::new(),
        timers: Vec::new(),
        exited: false,
        token: None,
    };
    let mut ops = Ops(data);
    let mut console_id = 0;
    while let Some(op) = ops.byte() {
        if run.exited {
            break;
        }
        run.begin_turn();
        let conn = usize::from(op >> 4) % CONNS;
        match op % 8 {
            0 if !run.open.contains(&conn) => {
                // Two connections share an address, as behind a NAT.
                let addr =
                    SocketAddr::from(([127, 0, 0, 1 + (conn % 2) as u8], 5000 + conn as u16));
                run.open.insert(conn);
                let mut out = Vec::new();
                // Accepted on the hub's address (a login may not announce it).
                let local = SocketAddr::from(([127, 0, 0, 1], 9999));
                run.hub.on_connect(conn, addr, local, run.now, &mut out);
                run.apply(out);
            }
            1 => {
                let payload = ops.bytes().to_vec();
                if !run.open.contains(&conn) || !run.hub.knows(conn) {
                    continue;
                }
                let req = match ClientMsg::decode(&payload) {
                    Ok(msg) => Request::Msg(msg),
                    Err(e) => Request::Bad {
                        tag: payload
                            .get(1..5)
                            .map(|t| u32::from_be_bytes([t[0], t[1], t[2], t[3]])),
                        why: e.to_string(),
                    },
                };
                run.request(conn, req);
            }
            2 => run.message(
                conn,
                ClientMsg::Hello {
                    version: VERSION,
                    role: Role::Session,
                },
            ),
            3 if op & 8 != 0 && run.token.is_some() => {
                // The last token given (maybe another user's, revoked or expired since).
                let token = run.token.clone().unwrap_or_default();
                let peer_port = 4000 + conn as u16;
                let tag = u32::from(op);
                run.message(
                    conn,
                    ClientMsg::Resume {
                        tag,
                        token,
                        peer_port,
                        fingerprint: peerhub::trust::Fingerprint::from_bytes([0; 32]),
                    },
                );
            }
            3 => {
                // Accounts u0..u2 with password pw (the memory backend hashes nothing).
                let user = format!("u{}", op % 3);
                let tag = u32::from(op);
                run.message(
                    conn,
                    ClientMsg::Register {
                        tag,
                        user: user.clone(),
                        password: "pw".into(),
                    },
                );
                run.message(
                    conn,
                    ClientMsg::Login {
                        tag,
                        user,
                        password: "pw".into(),
                        peer_port: 4000 + conn as u16,
                        fingerprint: peerhub::trust::Fingerprint::from_bytes([0; 32]),
                    },
                );
            }
            4 if run.open.remove(&conn) => {
                let mut out = Vec::new();
                run.hub.on_disconnect(conn, "gone", run.now, &mut out);
                run.apply(out);
            }
            5 => {
                let due: Vec<_> = run
                    .timers
                    .iter()
                    .copied()
                    .filter(|t| t.0 <= run.now)
                    .collect();
                run.timers.retain(|t| t.0 > run.now);
                for (_, conn, serial) in due {
                    let mut out = Vec::new();
                    run.hub.on_timer(conn, serial, run.now, &mut out);
                    run.apply(out);
                }
            }
            6 => {
                let secs = u64::from(ops.byte().unwrap_or(1));
                run.now += Duration::from_secs(secs);
                run.wall += secs;
            }
            7 => {
                let line = String::from_utf8_lossy(ops.bytes()).into_owned();
                console_id += 1;
                let mut out = Vec::new();
                run.hub.on_console(console_id, &line, run.now, &mut out);
                run.apply(out);
            }
            _ => {}
        }
        run.end_turn();
    }
    if !run.exited {
        let mut out = Vec::new();
        run.hub.shutdown(&mut out);
        run.apply(out);
    }
    drop(run);
});
