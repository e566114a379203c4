//! The hub's shared test fixtures (a [`TestHub`]: a hub over the memory backend whose
//! asks are answered as the loop would; a logged-in user, the frames sent to a
//! connection) and the tests of its sessions and dispatch.

use super::*;
use crate::output::CommandResult;
use crate::proto::frame;
use crate::proto::message::{Role, VERSION};
use crate::server::persist::memory::{Memory, MemoryBackend};
use crate::server::persist::{Answer, Backend};
use crate::server::random::Seeded;
use crate::server::store::StoreLimits;
use crate::trust::ticket::FakeSigner;
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;
use std::time::Duration;

mod accounts;
mod chat;
mod console;
mod db_errors;
mod fetch_tickets;
mod liveness;
mod resume;
mod sessions;
mod store_conns;
mod store_ops;
mod tracker;

/// A hub over the memory backend, driven as the loop drives it: every call that may
/// ask the backend (the same names as `Hub`'s) carries out the asks in the actions it
/// returned — each replaced, where it stood, by what its answer made the hub do — so a
/// test sees what the loop would send. Everything else reaches the `Hub` beneath.
pub(super) struct TestHub {
    pub(super) hub: Hub,
    pub(super) backend: MemoryBackend,
}

impl Deref for TestHub {
    type Target = Hub;
    fn deref(&self) -> &Hub {
        &self.hub
    }
}

impl DerefMut for TestHub {
    fn deref_mut(&mut self) -> &mut Hub {
        &mut self.hub
    }
}

impl TestHub {
    /// Carry out the asks among `out[from..]` (and those their answers make), in place.
    pub(super) fn settle(&mut self, out: &mut Vec<Action>, from: usize, now: Instant) {
        let mut i = from;
        while i < out.len() {
            if !matches!(out[i], Action::Persist(..)) {
                i += 1;
                continue;
            }
            let Action::Persist(id, ask) = out.remove(i) else {
                unreachable!("matched above");
            };
            self.backend.submit(id, *ask);
            let mut then = Vec::new();
            while let Some((id, answer)) = self.backend.take_done() {
                self.hub.on_answer(id, answer, now, &mut then);
            }
            out.splice(i..i, then);
        }
    }

    /// Answer one ask by hand (a test of what the hub does with an unusual answer).
    pub(super) fn answer(&mut self, id: JobId, answer: Answer, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        self.hub.on_answer(id, answer, now, &mut out);
        self.settle(&mut out, 0, now);
        out
    }

    /// The memory backend's store (to look into it, or break it).
    pub(super) fn memory(&mut self) -> &mut Memory {
        self.backend.store_mut()
    }

    /// Call the hub (`call` appends to `out`) and carry out the asks it added.
    fn settled(
        &mut self,
        out: &mut Vec<Action>,
        now: Instant,
        call: impl FnOnce(&mut Hub, &mut Vec<Action>),
    ) {
        let from = out.len();
        call(&mut self.hub, out);
        self.settle(out, from, now);
    }

    pub(super) fn on_message(
        &mut self,
        conn: ConnId,
        msg: ClientMsg,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        self.settled(out, now, |hub, out| hub.on_message(conn, msg, now, out));
    }

    pub(super) fn on_request(
        &mut self,
        conn: ConnId,
        req: Request,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        self.settled(out, now, |hub, out| hub.on_request(conn, req, now, out));
    }

    pub(super) fn resume(&mut self, conn: ConnId, now: Instant, out: &mut Vec<Action>) {
        self.settled(out, now, |hub, out| hub.resume(conn, now, out));
    }

    pub(super) fn on_console(&mut self, id: u64, line: &str, now: Instant, out: &mut Vec<Action>) {
        self.settled(out, now, |hub, out| hub.on_console(id, line, now, out));
    }

    pub(super) fn on_store_event(
        &mut self,
        conn: ConnId,
        event: crate::server::storelink::StoreEvent,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        self.settled(out, now, |hub, out| {
            hub.on_store_event(conn, event, now, out)
        });
    }
}

/// A hub over the memory backend, with `config`: no directory, no socket.
pub(super) fn test_hub(config: HubConfig) -> TestHub {
    hub_with_store(config, no_store_limits())
}

fn no_store_limits() -> StoreLimits {
    StoreLimits {
        max_file: 0,
        user_quota: 0,
        reserve: 0,
    }
}

/// A disk with this many bytes free.
pub(super) struct FreeBytes(pub u64);

impl FreeSpace for FreeBytes {
    fn free_bytes(&self) -> std::io::Result<u64> {
        Ok(self.0)
    }
}

/// A hub over the memory backend and an empty store with these limits, whose disk is
/// never full.
pub(super) fn hub_with_store(config: HubConfig, limits: StoreLimits) -> TestHub {
    let store = StoreSide {
        limits,
        free_space: Box::new(FreeBytes(u64::MAX / 4)),
    };
    let mut backend = Memory::backend();
    let snapshot = backend.load().unwrap();
    let random = Box::new(Seeded::new(11));
    let signer = Box::new(FakeSigner);
    let hub = Hub::new(base(), config, snapshot, store, random, signer);
    TestHub { hub, backend }
}

/// The one instant the tests count from.
pub(super) fn base() -> Instant {
    use std::sync::OnceLock;
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// An entry `name` of `owner`: `files` files, `bytes` bytes, in version `v-<name>`, in
/// the backend and the hub's catalogue (as if loaded at start).
pub(super) fn stored(hub: &mut TestHub, name: &str, owner: &str, files: u64, bytes: u64) {
    let kind = if files == 1 {
        crate::proto::message::StoreKind::File
    } else {
        crate::proto::message::StoreKind::Dir
    };
    let entry = crate::server::store::StoreEntry {
        name: name.into(),
        owner: owner.into(),
        kind,
        files,
        bytes,
        created: 0,
        version: format!("v-{name}"),
        digest: [0; 32],
    };
    hub.memory().store.insert(name.into(), entry.clone());
    hub.catalogue.record(entry);
}

pub(super) fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The hub's address in these tests: where every connection was accepted.
pub(super) const HUB_PORT: u16 = 9999;

/// Every frame queued for `conn`, decoded.
pub(super) fn sent_to(conn: ConnId, out: &[Action]) -> Vec<HubMsg> {
    out.iter()
        .filter_map(|a| match a {
            Action::Send(c, bytes) if *c == conn => Some(bytes.to_vec()),
            Action::Share(c, bytes) if *c == conn => Some(bytes.to_vec()),
            _ => None,
        })
        .map(|bytes| {
            let (_, payload) = frame::try_parse(&bytes, usize::MAX).unwrap().unwrap();
            HubMsg::decode(payload).unwrap()
        })
        .collect()
}

pub(super) fn status_of(conn: ConnId, out: &[Action]) -> Vec<u16> {
    sent_to(conn, out)
        .into_iter()
        .filter_map(|m| match m {
            HubMsg::Reply { status, .. } => Some(status.0),
            _ => None,
        })
        .collect()
}

/// Connect `conn`, say hello, register and log in as `user`.
pub(super) fn join(hub: &mut TestHub, conn: ConnId, user: &str, now: Instant) -> Vec<Action> {
    let mut out = hello(hub, conn, now);
    let (user, password) = (user.to_string(), "pw".to_string());
    let register = ClientMsg::Register {
        tag: 1,
        user: user.clone(),
        password: password.clone(),
    };
    hub.on_message(conn, register, now, &mut out);
    let login = ClientMsg::Login {
        tag: 2,
        fingerprint: key_of(&user),
        user,
        password,
        peer_port: 4000,
    };
    hub.on_message(conn, login, now, &mut out);
    out
}

/// The key `user`'s client announces at login in these tests.
pub(super) fn key_of(user: &str) -> Fingerprint {
    Fingerprint::of_spki(user.as_bytes())
}

/// Connect `conn` from port 5000 + `conn` and say hello.
pub(super) fn hello(hub: &mut TestHub, conn: ConnId, now: Instant) -> Vec<Action> {
    hello_at(hub, conn, addr(5000 + conn as u16), now)
}

/// Connect `conn` from `ip` and say hello.
pub(super) fn hello_from(
    hub: &mut TestHub,
    conn: ConnId,
    ip: [u8; 4],
    now: Instant,
) -> Vec<Action> {
    hello_at(hub, conn, SocketAddr::from((ip, 6000)), now)
}

/// Connect `conn` from `peer` and say hello.
fn hello_at(hub: &mut TestHub, conn: ConnId, peer: SocketAddr, now: Instant) -> Vec<Action> {
    let mut out = Vec::new();
    hub.on_connect(conn, peer, addr(HUB_PORT), now, &mut out);
    let hello = ClientMsg::Hello {
        version: VERSION,
        role: Role::Session,
    };
    hub.on_message(conn, hello, now, &mut out);
    out
}

/// Type `line` on the console (input line 7) at `now`; its result.
pub(super) fn console_at(
    hub: &mut TestHub,
    line: &str,
    now: Instant,
    out: &mut Vec<Action>,
) -> CommandResult {
    hub.on_console(7, line, now, out);
    out.iter()
        .rev()
        .find_map(|a| match a {
            Action::Result(r) => Some((**r).clone()),
            _ => None,
        })
        .expect("a console result")
}

/// The (status, text, body) of every reply to `conn` in `out`.
pub(super) fn replies(conn: ConnId, out: &[Action]) -> Vec<(u16, String, Body)> {
    sent_to(conn, out)
        .into_iter()
        .filter_map(|m| match m {
            HubMsg::Reply {
                status,
                message,
                body,
                ..
            } => Some((status.0, message, body)),
            _ => None,
        })
        .collect()
}

/// A `StorePut` of one file `name` of `bytes` bytes.
pub(super) fn put_file(name: &str, bytes: u64, replace: bool) -> ClientMsg {
    ClientMsg::StorePut {
        tag: 7,
        name: name.into(),
        replace,
        kind: crate::proto::message::StoreKind::File,
        files: 1,
        dirs: 0,
        bytes,
        largest: bytes,
    }
}

/// A `Publish` of `name` (3 bytes, every hash byte `byte`).
pub(super) fn publish_msg(tag: u32, name: &str, byte: u8) -> ClientMsg {
    let file = crate::proto::message::FileInfo {
        name: name.into(),
        size: 3,
        hash: [byte; 32],
    };
    ClientMsg::Publish {
        tag,
        file,
        replace: false,
    }
}

/// The nonce of the last ping sent to `conn`.
pub(super) fn ping_nonce(conn: ConnId, out: &[Action]) -> Option<u32> {
    sent_to(conn, out).into_iter().rev().find_map(|m| match m {
        HubMsg::Ping { nonce } => Some(nonce),
        _ => None,
    })
}

/// Fire `conn`'s deadline at `at`.
pub(super) fn fire(hub: &mut TestHub, conn: ConnId, at: Instant) -> Vec<Action> {
    let serial = hub.sessions.get(&conn).unwrap().serial;
    let mut out = Vec::new();
    hub.on_timer(conn, serial, at, &mut out);
    out
}
