//! The loop's side of the store connections: a connection that said hello as one is
//! upgraded into a [`StoreConn`], each is run a turn at a time, what it reports goes to
//! the hub and the hub's orders come back to it, and those that stalled or never
//! presented a ticket are swept. The connection is closed here and the hub told.

use super::storeconn::{StoreConn, StoreEnv, StoreStep};
use super::storelink::{StoreEvent, StoreOrder};
use super::{ConnId, Server, Slot};
use crate::net::wire::Wire;
use log::{debug, info, warn};
use mio::net::TcpStream;
use mio::{Interest, Token};
use std::time::{Duration, Instant};

impl Server {
    /// A connection said hello as a store connection: it becomes one.
    pub(super) fn upgrade(&mut self, key: ConnId) {
        let Some(slot) = self
            .conns
            .get_mut(key)
            .filter(|s| matches!(s, Slot::Hub(_)))
        else {
            // Gone before its upgrade: the hub counted it as a store connection.
            let gone = StoreEvent::Closed("gone before its upgrade".into());
            self.hub
                .on_store_event(key, gone, Instant::now(), &mut self.actions);
            return;
        };
        let Slot::Hub(conn) = std::mem::replace(slot, Slot::Moving) else {
            return;
        };
        let (mut stream, pending) = conn.into_parts();
        debug!(
            "connection {key} becomes a store connection ({} byte(s) pending)",
            pending.len()
        );
        // Edge-triggered: both interests stay registered for the connection's life.
        if let Err(e) = self.poll.registry().reregister(
            &mut stream,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            warn!("store connection: register: {e}");
        }
        let who = stream
            .socket()
            .peer_addr()
            .map_or_else(|_| "?".to_owned(), |a| a.to_string());
        let sc = StoreConn::new(stream, who, pending, Instant::now());
        *slot = Slot::Store(Box::new(sc));
        self.ready.push(key);
        self.dirty.retain(|k| *k != key);
        if self.store_sweep.is_none() {
            self.store_sweep = Some(Instant::now() + self.sweep_every());
        }
    }

    pub(super) fn sweep_every(&self) -> Duration {
        (self.store_config.stall.min(self.store_config.begin_timeout) / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(1))
    }

    /// One turn of a store connection; what it reports goes to the hub.
    pub(super) fn store_turn(&mut self, key: ConnId, now: Instant) {
        if self.closing.iter().any(|(k, _)| *k == key) {
            return;
        }
        let Some(Slot::Store(sc)) = self.conns.get_mut(key) else {
            return;
        };
        let mut env = StoreEnv {
            config: &self.store_config,
            scratch: &mut self.store_buf,
            root: self.disk.root_dir(),
        };
        let mut events = Vec::new();
        let moved = sc.moved();
        let step = sc.turn(&mut env, now, &mut events);
        let (received, sent) = sc.moved();
        self.metrics.traffic.received(received - moved.0);
        self.metrics.traffic.sent(sent - moved.1);
        for event in events {
            self.hub.on_store_event(key, event, now, &mut self.actions);
        }
        match step {
            StoreStep::Wait => {}
            StoreStep::Again => self.ready.push(key),
            StoreStep::Close(reason) => self.closing.push((key, reason)),
        }
    }

    /// Carry out the hub's order on a store connection, then run it.
    pub(super) fn store_order(&mut self, key: ConnId, order: StoreOrder) {
        let Some(Slot::Store(sc)) = self.conns.get_mut(key) else {
            return;
        };
        let now = Instant::now();
        if let Some(event) = sc.order(order, &self.disk, now) {
            self.hub.on_store_event(key, event, now, &mut self.actions);
        }
        self.ready.push(key);
    }

    /// Remove a store connection (marked for closing) and tell the hub.
    pub(super) fn close_store_conn(
        &mut self,
        key: ConnId,
        mut sc: StoreConn<Wire<TcpStream>>,
        reason: String,
    ) {
        let _ = self.poll.registry().deregister(sc.stream_mut());
        self.per_address.release(key);
        let now = Instant::now();
        if let Some(event) = sc.close(self.disk.root_dir(), &reason) {
            self.hub.on_store_event(key, event, now, &mut self.actions);
        }
        let closed = StoreEvent::Closed(reason);
        self.hub.on_store_event(key, closed, now, &mut self.actions);
        self.ready.retain(|k| *k != key);
    }

    /// Close store connections that stalled or never presented a ticket.
    pub(super) fn sweep_store(&mut self, now: Instant) {
        let mut any = false;
        for (key, slot) in self.conns.iter() {
            if let Slot::Store(sc) = slot {
                any = true;
                if let Some(why) = sc.expired(now, &self.store_config) {
                    if !self.closing.iter().any(|(k, _)| *k == key) {
                        info!("store connection {key}: {why}; closing");
                        self.closing.push((key, why));
                    }
                }
            }
        }
        self.store_sweep = any.then(|| now + self.sweep_every());
    }

    /// Shutting down: store transfers end now (uploads are thrown away).
    pub(super) fn close_store_conns(&mut self) {
        for (key, slot) in self.conns.iter() {
            if matches!(slot, Slot::Store(_)) && !self.closing.iter().any(|(k, _)| *k == key) {
                self.closing.push((key, "the hub is shutting down".into()));
            }
        }
    }
}
