//! What the loop sends: frames queued under each connection's and the hub-wide
//! output budgets, dirty connections flushed, closes drained and connections reaped
//! (the hub told of each).

use super::{memory, HubConn, Server, Slot};
use crate::net::conn::{FlushStatus, QueueFull};
use crate::server::hub::ConnId;
use log::debug;
use mio::Token;
use std::time::Instant;

impl Server {
    /// Queue output for a connection. A full queue is written out first: only a reader
    /// whose queue is still full after that is a slow consumer.
    pub(super) fn queue(
        &mut self,
        key: ConnId,
        len: usize,
        push: impl FnOnce(&mut HubConn) -> Result<(), QueueFull>,
    ) {
        let Some(Slot::Hub(conn)) = self.conns.get_mut(key) else {
            return;
        };
        if !conn.has_room(len) {
            // A write error shows up at the next flush; here only room matters.
            let _ = conn.flush();
        }
        let limit = self.config.max_output_total;
        if limit > 0 && self.queued_total.get() + len > limit {
            self.make_room(len);
        }
        let Some(Slot::Hub(conn)) = self.conns.get_mut(key) else {
            return;
        };
        match push(conn) {
            Ok(()) => self.dirty.push(key),
            Err(full) => self.overflow(key, full.limit),
        }
    }

    /// `len` more bytes would take all queues together past `--max-output-total`:
    /// drop the biggest queues (and their connections) until they fit.
    pub(super) fn make_room(&mut self, len: usize) {
        let limit = self.config.max_output_total;
        let total = self.queued_total.get() + len;
        let queues = self
            .conns
            .iter()
            .filter_map(|(key, slot)| match slot {
                Slot::Hub(c) => Some((key, c.held())),
                _ => None,
            })
            .collect();
        for (key, bytes) in memory::victims(queues, total, limit) {
            self.hub.warn(
                "output budget",
                format_args!(
                    "connection {key}: dropping its {bytes} queued bytes (the biggest queue) \
                     as all queues together would pass --max-output-total {limit}"
                ),
            );
            if let Some(Slot::Hub(conn)) = self.conns.get_mut(key) {
                conn.discard_output();
            }
            self.trim.freed(bytes);
            if !self.closing.iter().any(|(k, _)| *k == key) {
                self.closing
                    .push((key, "output over the hub-wide budget".into()));
            }
        }
    }

    pub(super) fn overflow(&mut self, key: ConnId, limit: usize) {
        if !self.closing.iter().any(|(k, _)| *k == key) {
            self.hub.warn(
                "slow consumer",
                format_args!("connection {key}: output buffer over {limit} bytes (a reader that does not read); closing"),
            );
            self.closing.push((key, "slow consumer".into()));
        }
    }

    pub(super) fn flush_dirty(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for key in dirty {
            let conn = match self.conns.get_mut(key) {
                Some(Slot::Hub(conn)) => conn,
                Some(Slot::Store(_)) => {
                    self.ready.push(key);
                    continue;
                }
                Some(Slot::Refused(_)) => {
                    self.refused_turn(key);
                    continue;
                }
                _ => continue,
            };
            match conn.flush() {
                Ok(FlushStatus::Drained) | Ok(FlushStatus::Pending) => {
                    if let Err(e) = conn.sync_interest(self.poll.registry(), Token(key)) {
                        self.closing.push((key, format!("register: {e}")));
                    }
                }
                Err(e) => self.closing.push((key, format!("write error: {e}"))),
            }
        }
    }

    /// Close draining connections whose queue is empty or whose grace ran out.
    pub(super) fn drain(&mut self, now: Instant) {
        let conns = &self.conns;
        let closing = &mut self.closing;
        self.draining.retain(|&(key, deadline)| {
            let flushed = match conns.get(key) {
                Some(Slot::Hub(c)) => c.is_flushed(),
                _ => true,
            };
            if flushed || now >= deadline {
                closing.push((key, "closed by the hub".into()));
                false
            } else {
                true
            }
        });
    }

    /// Remove connections marked for closing, after a last best-effort flush.
    pub(super) fn reap(&mut self) {
        // In the order they were marked (the hub's leave notices follow it).
        let mut marked = std::mem::take(&mut self.closing).into_iter();
        while let Some((key, reason)) = marked.next().or_else(|| self.closing.pop()) {
            let mut conn = match self.conns.try_remove(key) {
                Some(Slot::Hub(conn)) => conn,
                Some(Slot::Store(sc)) => {
                    self.close_store_conn(key, *sc, reason);
                    continue;
                }
                _ => continue,
            };
            let _ = conn.flush();
            let _ = self.poll.registry().deregister(conn.stream_mut());
            self.per_address.release(key);
            self.trim.freed(conn.held() + memory::CONN_OVERHEAD);
            debug!("closed connection {key}: {reason}");
            self.hub
                .on_disconnect(key, &reason, Instant::now(), &mut self.actions);
            self.ready.retain(|k| *k != key);
            self.dirty.retain(|k| *k != key);
            self.draining.retain(|(k, _)| *k != key);
        }
    }
}
