//! One answer and a close: an HTTP answer written as the socket takes it, then — over
//! TLS — the records it left and a close notice, before the connection is dropped.

use super::{State, Web};
use crate::net::wire::Wire;
use crate::web::response::Response;
use log::debug;
use mio::Registry;
use std::io::{self, Write};

impl Web {
    /// Answer `key` with `response` and close it once written.
    pub(super) fn answer(&mut self, registry: &Registry, key: usize, response: Response) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if response.status() >= 400 {
            debug!("web connection {key}: {}", response.status());
        }
        conn.state = State::Answer {
            out: response.into_bytes(),
            sent: 0,
        };
        self.write_answer(registry, key);
    }

    pub(super) fn write_answer(&mut self, registry: &Registry, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let State::Answer { out, sent } = &mut conn.state else {
            return;
        };
        while *sent < out.len() {
            match conn.stream.write(&out[*sent..]) {
                Ok(0) => return self.close(registry, key),
                Ok(n) => *sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(registry, key),
            }
        }
        // A TLS stream holds records yet: out with them (and its close notice) first.
        let flushed = match &mut conn.stream {
            Wire::Plain(_) => Ok(true),
            Wire::Tls(tls) => tls.flush().and_then(|()| tls.close_notify()),
        };
        match flushed {
            Ok(false) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Ok(true) | Err(_) => self.close(registry, key),
        }
    }

    /// Close `key` once what it was sent has left (its TLS records too).
    pub(super) fn finish(&mut self, registry: &Registry, key: usize) {
        if let Some(conn) = self.conns.get_mut(key) {
            conn.state = State::Answer {
                out: Vec::new(),
                sent: 0,
            };
        }
        self.write_answer(registry, key);
    }
}
