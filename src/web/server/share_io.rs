//! The share endpoints' bytes (`web::share` decides): a `PUT` body read into its
//! partial file and a file sent to a download, each at most [`PIECE`] per turn before
//! the connection waits for the next, and dropped when it stalls for [`BODY_STALL`].

use super::{Request, State, Web};
use crate::web::http::Head;
use crate::web::response::Response;
use crate::web::share::{self, Upload, BODY_STALL, PIECE};
use log::debug;
use mio::Registry;
use std::fs::File;
use std::io::{self, Read, Write};
use std::time::Instant;

/// A download in flight: its head, then the file, through one buffer.
pub(super) struct Sending {
    file: File,
    /// File bytes not yet read.
    left: u64,
    buf: Vec<u8>,
    pos: usize,
    /// When it is dropped unless the page takes more.
    pub stall_at: Instant,
}

/// A state to hold while the answer that replaces it is built.
fn answered() -> State {
    State::Answer {
        out: Vec::new(),
        sent: 0,
    }
}

impl Web {
    /// A request under `/share` (`tail`: what follows `/share/`).
    pub(super) fn share_request(
        &mut self,
        registry: &Registry,
        key: usize,
        head: &Head,
        tail: &str,
        request: Request,
    ) {
        let Some(share) = &self.share else {
            return;
        };
        let Request {
            body,
            now,
            published,
            ..
        } = request;
        let state = match (head.method.as_str(), tail) {
            ("GET", "") => return self.answer(registry, key, share::list(share, published)),
            ("GET", _) => match share::download(share, tail) {
                Ok((file, size, head)) => State::Download(Box::new(Sending {
                    file,
                    left: size,
                    buf: head,
                    pos: 0,
                    stall_at: now + BODY_STALL,
                })),
                Err(refused) => return self.answer(registry, key, refused),
            },
            ("PUT", _) => match Upload::begin(share, tail, head.content_length, now) {
                Ok(mut up) => {
                    if let Err(e) = up.take(&body, now) {
                        up.abandon();
                        let why = format!("could not write the file: {e}");
                        return self.answer(registry, key, Response::text(500, &why));
                    }
                    State::Upload(Box::new(up))
                }
                Err(refused) => return self.answer(registry, key, refused),
            },
            _ => {
                let refused = Response::text(405, "GET or PUT here").header("Allow", "GET, PUT");
                return self.answer(registry, key, refused);
            }
        };
        if let Some(conn) = self.conns.get_mut(key) {
            conn.state = state;
        }
        self.run_share(registry, key, now);
    }

    fn run_share(&mut self, registry: &Registry, key: usize, now: Instant) {
        match self.conns.get(key).map(|c| &c.state) {
            Some(State::Upload(_)) => self.read_upload(registry, key, now),
            Some(State::Download(_)) => self.write_download(registry, key, now),
            _ => {}
        }
    }

    /// Read up to a piece of an upload's body; put it in place once whole.
    pub(super) fn read_upload(&mut self, registry: &Registry, key: usize, now: Instant) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let State::Upload(up) = &mut conn.state else {
            return;
        };
        let mut chunk = vec![0u8; 64 * 1024];
        let mut taken = 0;
        while up.left() > 0 && taken < PIECE {
            let want = chunk
                .len()
                .min(usize::try_from(up.left()).unwrap_or(usize::MAX));
            match conn.stream.read(&mut chunk[..want]) {
                Ok(0) => {
                    debug!("web connection {key}: the upload was cut off");
                    return self.close(registry, key);
                }
                Ok(n) => {
                    taken += n;
                    if let Err(e) = up.take(&chunk[..n], now) {
                        let why = format!("could not write the file: {e}");
                        return self.fail_upload(registry, key, &why);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(registry, key),
            }
        }
        if up.left() > 0 {
            self.ready.push(key);
            return;
        }
        if let State::Upload(up) = std::mem::replace(&mut conn.state, answered()) {
            let answer = up.finish();
            self.answer(registry, key, answer);
        }
    }

    /// An upload that cannot go on: its partial file removed, a 500 sent.
    fn fail_upload(&mut self, registry: &Registry, key: usize, why: &str) {
        if let Some(conn) = self.conns.get_mut(key) {
            if let State::Upload(up) = std::mem::replace(&mut conn.state, answered()) {
                up.abandon();
            }
        }
        self.answer(registry, key, Response::text(500, why));
    }

    /// Send up to a piece of a download; close once all of it is out.
    pub(super) fn write_download(&mut self, registry: &Registry, key: usize, now: Instant) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let State::Download(down) = &mut conn.state else {
            return;
        };
        let mut sent = 0;
        while sent < PIECE {
            if down.pos == down.buf.len() {
                if down.left == 0 {
                    return self.finish(registry, key);
                }
                let want = (64 * 1024).min(usize::try_from(down.left).unwrap_or(usize::MAX));
                down.buf.resize(want, 0);
                match down.file.read(&mut down.buf) {
                    // The file shrank under us: the length sent cannot be kept.
                    Ok(0) | Err(_) => return self.close(registry, key),
                    Ok(n) => {
                        down.buf.truncate(n);
                        down.left -= n as u64;
                        down.pos = 0;
                    }
                }
            }
            match conn.stream.write(&down.buf[down.pos..]) {
                Ok(0) => return self.close(registry, key),
                Ok(n) => {
                    down.pos += n;
                    sent += n;
                    down.stall_at = now + BODY_STALL;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(registry, key),
            }
        }
        self.ready.push(key);
    }

    /// Drop uploads and downloads that moved nothing for [`BODY_STALL`].
    pub(super) fn drop_stalled(&mut self, registry: &Registry, now: Instant) {
        let stalled: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| match &c.state {
                State::Upload(up) => up.stall_at <= now,
                State::Download(down) => down.stall_at <= now,
                _ => false,
            })
            .map(|(k, _)| k)
            .collect();
        for key in stalled {
            debug!("web connection {key}: the transfer stalled");
            self.close(registry, key);
        }
    }
}
