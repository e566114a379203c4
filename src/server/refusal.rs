//! Refusing a connection the hub will not take (full, too many from one address,
//! shutting down, out of descriptors) with a 503 `Bye` the client can show. A plaintext
//! hub writes it to the fresh socket at once; a TLS hub can only say it inside TLS, so
//! it keeps a bounded number of refused connections ([`MAX_REFUSING`]) just long enough
//! for the handshake and the Bye ([`REFUSE_GRACE`]) and simply closes the rest — the
//! client reports "hub full or unreachable" either way.

use super::{memory, Server, Slot};
use crate::net::conn::{Conn, ReadStatus};
use crate::net::tls::TlsStream;
use crate::net::wire::Wire;
use crate::proto::message::HubMsg;
use crate::proto::status::Status;
use crate::server::hub::ConnId;
use log::debug;
use mio::net::TcpStream;
use mio::{Interest, Token};
use std::io;
use std::time::{Duration, Instant};

/// Refused TLS connections kept at once for their handshake and Bye.
pub(super) const MAX_REFUSING: usize = 64;
/// How long a refused TLS connection may take to finish its handshake and read the Bye.
pub(super) const REFUSE_GRACE: Duration = Duration::from_secs(2);
/// Bytes a refused connection's frame may be (the Bye, nothing from the client).
const REFUSED_FRAME: usize = 1024;

/// The 503 that tells a client why it is not taken.
fn bye(reason: &str) -> Vec<u8> {
    HubMsg::Bye {
        status: Status::UNAVAILABLE,
        reason: reason.into(),
    }
    .to_frame()
}

impl Server {
    /// Tell `stream`, not taken, why; `affordable` is false when the hub cannot spare
    /// a descriptor's worth of time for it (out of descriptors): then a TLS hub closes.
    pub(super) fn refuse(&mut self, mut stream: TcpStream, reason: &str, affordable: bool) {
        let Some(tls) = &self.tls else {
            // Best effort on a fresh socket whose buffer is empty; dropping it closes it.
            let _ = io::Write::write(&mut stream, &bye(reason));
            return;
        };
        if !affordable || self.refusing.len() >= MAX_REFUSING {
            return;
        }
        let Ok(tls) = TlsStream::server(tls.clone(), stream) else {
            return;
        };
        let mut wire = Wire::tls(tls);
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        if self
            .poll
            .registry()
            .register(&mut wire, Token(key), Interest::READABLE)
            .is_err()
        {
            return;
        }
        let mut conn = Conn::new(wire, REFUSED_FRAME, REFUSED_FRAME);
        let _ = conn.queue_owned(bye(reason));
        entry.insert(Slot::Refused(conn));
        self.refusing.push((key, Instant::now() + REFUSE_GRACE));
        // The client speaks first; its hello drives the handshake and the Bye follows.
    }

    /// A refused TLS connection's turn: read (the handshake, and whatever the client
    /// sends, discarded), write the Bye, close once it is out or the client went away.
    pub(super) fn refused_turn(&mut self, key: ConnId) {
        let Some(Slot::Refused(conn)) = self.conns.get_mut(key) else {
            return;
        };
        let mut ignored: Vec<()> = Vec::new();
        let status = conn.read_frames(&mut self.scratch, 4, &mut ignored, |_| ());
        let done = match status {
            ReadStatus::Drained | ReadStatus::Budget => match conn.flush() {
                Ok(_) => {
                    if conn
                        .sync_interest(self.poll.registry(), Token(key))
                        .is_err()
                    {
                        true
                    } else {
                        conn.is_flushed() && !conn.stream().is_handshaking()
                    }
                }
                Err(_) => true,
            },
            ReadStatus::Closed | ReadStatus::BadFrame(_) | ReadStatus::Failed(_) => true,
        };
        if done {
            self.drop_refused(key);
        }
    }

    /// Refused connections whose grace ran out are dropped.
    pub(super) fn sweep_refused(&mut self, now: Instant) {
        let expired: Vec<ConnId> = self
            .refusing
            .iter()
            .filter(|(_, at)| *at <= now)
            .map(|(key, _)| *key)
            .collect();
        for key in expired {
            self.drop_refused(key);
        }
    }

    /// The nearest end of a refused connection's grace.
    pub(super) fn refused_deadline(&self) -> Option<Instant> {
        self.refusing.iter().map(|(_, at)| *at).min()
    }

    fn drop_refused(&mut self, key: ConnId) {
        self.refusing.retain(|(k, _)| *k != key);
        if let Some(Slot::Refused(mut conn)) = self.conns.try_remove(key) {
            let _ = self.poll.registry().deregister(conn.stream_mut());
            self.trim.freed(conn.held() + memory::CONN_OVERHEAD);
            debug!("closed refused connection {key}");
        }
    }
}
