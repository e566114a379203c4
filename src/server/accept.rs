//! Taking new connections: accept until `WouldBlock` (each over TLS unless
//! `--insecure-plaintext`), refuse (`refusal.rs`) past `--max-clients`, per address
//! or while shutting down, and pause accepting for a moment when the open-file limit
//! is hit.

use super::{memory, Server, Slot, ACCEPT_PAUSE, PRE_LOGIN_FRAME};
use crate::net::conn::Conn;
use crate::net::tls::TlsStream;
use crate::net::wire::Wire;
use log::{error, warn};
use mio::{Interest, Token};
use std::io;
use std::time::Instant;

impl Server {
    pub(super) fn accept(&mut self, now: Instant) {
        if self.accept_paused.is_some() {
            return;
        }
        loop {
            let (mut stream, addr) = match self.listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if memory::out_of_descriptors(&e) => return self.out_of_descriptors(now),
                Err(e) => {
                    // The listener stays; try again on the next edge.
                    error!("accept failed: {e}");
                    return;
                }
            };
            let key = self.conns.vacant_key();
            let refusal = if self.hub.is_shutting_down() {
                Some("the hub is shutting down")
            } else if self
                .conns
                .len()
                .saturating_sub(self.hub.store_connections())
                >= self.config.max_clients
            {
                // Store connections have their own limit (`--max-store-conns`).
                Some("the hub is full")
            } else if !self.per_address.admit(key, addr.ip()) {
                Some("too many connections from your address")
            } else {
                None
            };
            if let Some(reason) = refusal {
                self.hub.warn(
                    "refused connection",
                    format_args!("refusing {addr}: {reason}"),
                );
                self.refuse(stream, reason, true);
                continue;
            }
            // The hub's own address as this client reached it (see `Hub::on_connect`).
            let local = match stream.local_addr() {
                Ok(local) => local,
                Err(e) => {
                    warn!("local address of {addr}: {e}");
                    self.per_address.release(key);
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            if let Err(e) =
                self.poll
                    .registry()
                    .register(&mut stream, Token(key), Interest::READABLE)
            {
                warn!("register {addr}: {e}");
                self.per_address.release(key);
                continue;
            }
            let wire = match &self.tls {
                None => Wire::Plain(stream),
                Some(tls) => match TlsStream::server(tls.clone(), stream) {
                    Ok(tls) => Wire::tls(tls),
                    Err(e) => {
                        warn!("TLS for {addr}: {e}");
                        self.per_address.release(key);
                        continue;
                    }
                },
            };
            let plain = !wire.is_tls();
            let mut conn = Conn::new(wire, PRE_LOGIN_FRAME, self.config.max_output);
            if plain {
                // A TLS stream's reads end at a record, not when the socket is empty.
                conn.trust_short_reads();
            }
            conn.count_in(&self.queued_total);
            conn.count_traffic_in(&self.metrics.traffic);
            self.conns.insert(Slot::Hub(conn));
            self.hub
                .on_connect(key, addr, local, now, &mut self.actions);
        }
    }

    /// The open-file limit was hit: with the spare descriptor let go, take one waiting
    /// connection, tell it 503 and close it; then pause accepting for a moment (the
    /// rest of the backlog is taken when the pause ends, each told the same while
    /// descriptors stay short).
    pub(super) fn out_of_descriptors(&mut self, now: Instant) {
        self.hub.warn(
            "out of descriptors",
            format_args!("out of file descriptors: refusing new connections for a moment"),
        );
        if self.spare.release() {
            if let Ok((stream, addr)) = self.listener.accept() {
                self.hub.warn(
                    "refused connection",
                    format_args!("refusing {addr}: the hub is out of file descriptors"),
                );
                self.refuse(stream, "the hub is out of file descriptors", false);
            }
            self.spare.restore();
        }
        self.accept_paused = Some(now + ACCEPT_PAUSE);
    }
}
