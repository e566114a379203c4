//! The hub's shared test fixtures (a hub over an in-memory database, a logged-in
//! user, the frames sent to a connection) and the tests of its sessions and dispatch.

use super::*;
use crate::proto::frame;
use crate::server::store::StoreLimits;
use std::net::SocketAddr;

mod accounts;
mod db_errors;
mod liveness;
mod sessions;
mod store_ops;
mod tracker;

/// A hub over an in-memory database and a throw-away store directory.
pub(super) fn hub(config: HubConfig) -> (Hub, std::path::PathBuf) {
    let limits = StoreLimits {
        max_file: 0,
        user_quota: 0,
        reserve: 0,
    };
    hub_with_store(config, limits)
}

/// [`hub`] with these store limits.
pub(super) fn hub_with_store(config: HubConfig, limits: StoreLimits) -> (Hub, std::path::PathBuf) {
    let dir = crate::server::store::tests::temp_dir("hub");
    let db = Db::open_in_memory().unwrap();
    let store = Store::open(&dir, limits, &db).unwrap();
    (Hub::new(config, db, store).unwrap(), dir)
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
pub(super) fn join(hub: &mut Hub, conn: ConnId, user: &str, now: Instant) -> Vec<Action> {
    let mut out = Vec::new();
    hub.on_connect(
        conn,
        addr(5000 + conn as u16),
        addr(HUB_PORT),
        now,
        &mut out,
    );
    let hello = ClientMsg::Hello {
        version: VERSION,
        role: Role::Session,
    };
    hub.on_message(conn, hello, now, &mut out);
    let (user, password) = (user.to_string(), "pw".to_string());
    let register = ClientMsg::Register {
        tag: 1,
        user: user.clone(),
        password: password.clone(),
    };
    hub.on_message(conn, register, now, &mut out);
    let login = ClientMsg::Login {
        tag: 2,
        user,
        password,
        peer_port: 4000,
    };
    hub.on_message(conn, login, now, &mut out);
    out
}

/// Connect `conn` from `ip` and say hello.
pub(super) fn hello_from(hub: &mut Hub, conn: ConnId, ip: [u8; 4], now: Instant) -> Vec<Action> {
    let mut out = Vec::new();
    hub.on_connect(
        conn,
        SocketAddr::from((ip, 6000)),
        addr(HUB_PORT),
        now,
        &mut out,
    );
    let hello = ClientMsg::Hello {
        version: VERSION,
        role: Role::Session,
    };
    hub.on_message(conn, hello, now, &mut out);
    out
}

/// The nonce of the last ping sent to `conn`.
pub(super) fn ping_nonce(conn: ConnId, out: &[Action]) -> Option<u32> {
    sent_to(conn, out).into_iter().rev().find_map(|m| match m {
        HubMsg::Ping { nonce } => Some(nonce),
        _ => None,
    })
}

/// Fire `conn`'s deadline at `at`.
pub(super) fn fire(hub: &mut Hub, conn: ConnId, at: Instant) -> Vec<Action> {
    let serial = hub.sessions.get(&conn).unwrap().serial;
    let mut out = Vec::new();
    hub.on_timer(conn, serial, at, &mut out);
    out
}
