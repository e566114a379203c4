//! The download's holder half: the `Get` built for the loop to connect and send, the
//! connection checked, the holder's answer read and checked, and the file's bytes
//! received into the partial file.

use super::{check_answer, AnswerCheck, Ctx, DlStep, Download, Handshake, Next, State};
use crate::net::tls::{self, TlsFailure};
use crate::proto::message::{hash_hex, Holder};
use crate::proto::peer::{self, Answer, Request};
use crate::proto::status::Status;
use crate::sys::{self, OpenFlags};
use crate::transfer::identity::{identify, Answered};
use crate::transfer::stream::{
    read_some, write_out, write_status, FillError, Filled, Sink, Stream,
};
use log::info;
use std::io;
use std::path::Path;
use std::time::Instant;

impl<S: Stream> Download<S> {
    /// Build the request and ask the loop to connect.
    pub(super) fn connect(&mut self, hasher: blake3::Hasher) -> Next {
        let mut request = Vec::new();
        peer::encode_request(
            &Request {
                name: self.spec.name.clone(),
                offset: self.offset,
                range_end: None,
                ticket: self.spec.holder.ticket.clone(),
            },
            &mut request,
        );
        self.state = State::Dialling { hasher, request };
        Some(DlStep::Connect(self.spec.holder.addr))
    }

    /// The loop's connection to the holder (begun without blocking), or why it could
    /// not begin one.
    pub fn dialled(&mut self, stream: io::Result<S>, now: Instant) -> DlStep {
        let State::Dialling { hasher, request } =
            std::mem::replace(&mut self.state, State::Finished)
        else {
            return self.fail(Status::INTERNAL, "a connection nobody asked for");
        };
        match stream {
            Ok(stream) => {
                self.last_progress = now;
                self.state = State::Connecting(Handshake {
                    stream,
                    hasher,
                    request,
                    sent: 0,
                    connected: false,
                });
                DlStep::Register
            }
            Err(e) => {
                let holder = &self.spec.holder;
                let msg = format!("{} at {} is unreachable: {e}", holder.user, holder.addr);
                self.fail(Status::PEER_UNREACHABLE, msg)
            }
        }
    }

    /// Wait for the connection, then send the request.
    pub(super) fn connecting(&mut self, mut hs: Handshake<S>, now: Instant) -> Next {
        let holder = self.spec.holder.user.clone();
        let addr = self.spec.holder.addr;
        let unreachable = |e: String| format!("{holder} at {addr} is unreachable: {e}");
        if !hs.connected {
            match hs.stream.established() {
                Ok(true) => {
                    hs.connected = true;
                    self.last_progress = now;
                }
                Ok(false) => {
                    self.state = State::Connecting(hs);
                    return Some(DlStep::Wait);
                }
                Err(e) => {
                    return Some(self.fail(Status::PEER_UNREACHABLE, unreachable(e.to_string())))
                }
            }
        }
        match write_out(&mut hs.stream, &hs.request, &mut hs.sent) {
            Ok(true) => {}
            Ok(false) => {
                self.state = State::Connecting(hs);
                return Some(DlStep::Wait);
            }
            Err(e) if e.kind() == io::ErrorKind::WriteZero => {
                let msg = format!("{holder} closed the connection");
                return Some(self.fail(Status::PEER_UNREACHABLE, msg));
            }
            Err(e) => {
                let (status, msg) = self.failed_at(&e, unreachable(e.to_string()));
                return Some(self.fail(status, msg));
            }
        }
        self.state = State::Answer {
            stream: hs.stream,
            hasher: hs.hasher,
            buf: Vec::new(),
        };
        None
    }

    fn failed_at(&self, e: &io::Error, otherwise: String) -> (Status, String) {
        connection_failure(e, &self.spec.holder, otherwise)
    }

    /// Read the holder's answer; once it is whole, check it and start receiving.
    pub(super) fn answer(
        &mut self,
        mut stream: S,
        hasher: blake3::Hasher,
        mut buf: Vec<u8>,
        ctx: &mut Ctx,
        now: Instant,
    ) -> Next {
        let holder = self.spec.holder.user.clone();
        let (used, answer) = loop {
            match identify(&buf, self.spec.holder.addr, &holder) {
                Answered::Holder(used, answer) => break (used, answer),
                Answered::Pending => {}
                // Not the holder's bytes: fail without blaming it (no report).
                Answered::Stranger(why) => return Some(self.fail(Status::PEER_UNREACHABLE, why)),
            }
            match read_some(&mut stream, ctx.buf) {
                Ok(Some(0)) => {
                    let msg = format!("{holder} closed the connection without answering");
                    return Some(self.fail(Status::PEER_UNREACHABLE, msg));
                }
                Ok(Some(n)) => {
                    buf.extend_from_slice(ctx.buf.get(..n).unwrap_or_default());
                    self.last_progress = now;
                }
                Ok(None) => {
                    self.state = State::Answer {
                        stream,
                        hasher,
                        buf,
                    };
                    return Some(DlStep::Wait);
                }
                Err(e) => {
                    let otherwise = format!("{holder} failed before answering: {e}");
                    let (status, msg) = self.failed_at(&e, otherwise);
                    return Some(self.fail(status, msg));
                }
            }
        };
        if let Some(next) = self.take_answer(&answer, ctx) {
            return next;
        }
        let mut sink = match self.open_part(hasher, ctx) {
            Ok(sink) => sink,
            Err(step) => return Some(step),
        };
        self.receiving_since = Some(now);
        // File bytes that came in the same read as the answer.
        if let Err(step) = self.absorb(&mut sink, buf.get(used..).unwrap_or_default()) {
            return Some(step);
        }
        self.state = State::Receiving { stream, sink };
        None
    }

    /// Act on the holder's answer: `None` to receive, else what the turn does (the
    /// state set: a restart, or a failure).
    fn take_answer(&mut self, answer: &Answer, ctx: &mut Ctx) -> Option<Next> {
        let holder = self.spec.holder.user.clone();
        match check_answer(answer, &holder, self.size, &self.hash, self.offset) {
            AnswerCheck::Receive => None,
            AnswerCheck::Adopt { size, hash } => {
                info!(
                    "{holder} re-announced {}: now {size} bytes, hash {}",
                    self.spec.name,
                    hash_hex(&hash)
                );
                self.size = size;
                self.hash = hash;
                self.check_space(ctx, 0).map(Some)
            }
            AnswerCheck::Restart if !self.restarted => {
                info!(
                    "{holder} serves other content than the partial file of {}: starting over",
                    self.spec.dest
                );
                self.restarted = true;
                self.offset = 0;
                self.received = 0;
                self.state = State::Connect {
                    hasher: blake3::Hasher::new(),
                };
                Some(None)
            }
            AnswerCheck::Restart => Some(Some(self.fail(
                Status::PEER_UNREACHABLE,
                format!("{holder} keeps changing the content of {}", self.spec.name),
            ))),
            AnswerCheck::Fail(status, message) => Some(Some(self.fail(status, message))),
        }
    }

    /// Open the partial file at `offset` bytes for the rest, hashed on from `hasher`.
    fn open_part(&mut self, hasher: blake3::Hasher, ctx: &mut Ctx) -> Result<Sink, DlStep> {
        let part = self.part();
        let file =
            match sys::open_beneath(ctx.share_dir, Path::new(&part), OpenFlags::CreateReadWrite) {
                Ok(f) => f,
                Err(e) => return Err(self.fail(write_status(&e), format!("{part}: {e}"))),
            };
        // The partial file holds exactly `offset` bytes from here on. Truncate only when
        // it does not: on ext4 a truncate arms a flush of the whole file at close
        // (auto_da_alloc), which costs a fresh download a fifth of its speed.
        let truncated = file.metadata().and_then(|m| {
            if m.len() == self.offset {
                Ok(())
            } else {
                file.set_len(self.offset)
            }
        });
        if let Err(e) = truncated {
            return Err(self.fail(write_status(&e), format!("{part}: {e}")));
        }
        Ok(Sink::resume(
            file,
            hasher,
            self.received,
            self.size - self.received,
        ))
    }

    /// Write and hash what of `data` is still expected; a failed write ends the download.
    fn absorb(&mut self, sink: &mut Sink, data: &[u8]) -> Result<(), DlStep> {
        match sink.write(data) {
            Ok(n) => {
                self.received += n as u64;
                Ok(())
            }
            Err(e) => Err(self.fail(write_status(&e), format!("writing {}: {e}", self.part()))),
        }
    }

    /// Take in the file's bytes within the read budget; the last one finishes it.
    pub(super) fn receive(
        &mut self,
        mut stream: S,
        mut sink: Sink,
        ctx: &mut Ctx,
        now: Instant,
    ) -> Next {
        let holder = self.spec.holder.user.clone();
        let before = sink.left();
        let filled = sink.fill_from(&mut stream, ctx.buf, ctx.read_budget);
        self.received += before - sink.left();
        if sink.left() < before {
            self.last_progress = now;
        }
        match filled {
            Ok(_) if sink.left() == 0 => {}
            Ok(Filled::Moved(_)) => {
                self.state = State::Receiving { stream, sink };
                return Some(DlStep::Again);
            }
            Ok(Filled::Blocked(_)) => {
                self.state = State::Receiving { stream, sink };
                return Some(DlStep::Wait);
            }
            Ok(Filled::Closed(_)) => {
                let msg = format!(
                    "{holder} closed the connection after {} of {} bytes",
                    self.received, self.size
                );
                return Some(self.fail(Status::PEER_UNREACHABLE, msg));
            }
            Err(FillError::Socket(e)) => {
                let msg = format!(
                    "the connection to {holder} failed after {} of {} bytes: {e}",
                    self.received, self.size
                );
                return Some(self.fail(Status::PEER_UNREACHABLE, msg));
            }
            Err(FillError::File(e)) => {
                let msg = format!("writing {}: {e}", self.part());
                return Some(self.fail(write_status(&e), msg));
            }
        }
        drop(stream);
        Some(self.finish(&sink.finish(), ctx))
    }
}

/// What a failure of the connection to `holder` before its answer means: a listener
/// whose key is not the one the hub vouches for is not the holder's client (421,
/// nobody's fault the holder is blamed for); another TLS failure is named (502);
/// anything else is `otherwise` (502).
pub fn connection_failure(e: &io::Error, holder: &Holder, otherwise: String) -> (Status, String) {
    match tls::failure_of(e) {
        Some(TlsFailure::KeyRefused(refused)) => (
            Status::WRONG_PEER,
            format!(
                "that address is not {}'s client: {} shows the key {}, and the hub \
                 vouches for {} as {}'s",
                holder.user, holder.addr, refused.got, holder.fingerprint, holder.user
            ),
        ),
        Some(failure) => (
            Status::PEER_UNREACHABLE,
            format!("{} at {}: {failure}", holder.user, holder.addr),
        ),
        None => (Status::PEER_UNREACHABLE, otherwise),
    }
}
