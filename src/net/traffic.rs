//! [`Traffic`]: the bytes a group of connections moved, both ways (the hub's
//! `/metrics`), shared by every connection that counts in it.

use std::cell::Cell;
use std::rc::Rc;

/// Bytes of the peerhub protocol read and written by the connections that share it
/// (inside TLS, without its overhead).
#[derive(Debug, Default)]
pub struct Traffic {
    received: Cell<u64>,
    sent: Cell<u64>,
}

impl Traffic {
    pub fn new() -> Rc<Traffic> {
        Rc::new(Traffic::default())
    }

    /// `n` more bytes read.
    pub fn received(&self, n: u64) {
        self.received.set(self.received.get() + n);
    }

    /// `n` more bytes written.
    pub fn sent(&self, n: u64) {
        self.sent.set(self.sent.get() + n);
    }

    pub fn total_received(&self) -> u64 {
        self.received.get()
    }

    pub fn total_sent(&self) -> u64 {
        self.sent.get()
    }
}
