//! What `TlsStream` reads the transport through: the inbox of ciphertext read ahead for
//! bulk reads, and the reader that keeps the peer's first bytes (to name a plaintext peer).

use super::FIRST_BYTES;
use std::io::{self, Read};

/// Ciphertext read from the transport that rustls has not taken yet: `bytes[start..end]`.
#[derive(Default)]
pub(super) struct Inbox {
    pub(super) bytes: Vec<u8>,
    pub(super) start: usize,
    pub(super) end: usize,
}

impl Inbox {
    pub(super) fn pending(&self) -> bool {
        self.start < self.end
    }

    /// Give the buffer back (the transport ran dry, or ended).
    pub(super) fn release(&mut self) {
        *self = Inbox::default();
    }
}

/// The transport's reads, keeping the first [`FIRST_BYTES`] the peer sent.
pub(super) struct FirstBytes<'a, S> {
    pub(super) inner: &'a mut S,
    pub(super) first: &'a mut Vec<u8>,
}

impl<S: Read> Read for FirstBytes<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let room = FIRST_BYTES - self.first.len();
        self.first.extend_from_slice(&buf[..n.min(room)]);
        Ok(n)
    }
}
