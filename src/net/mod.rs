//! mio plumbing shared by the hub and the peer: buffered connections, deadlines,
//! stdin lines, TLS streams (and the `Wire` that is TLS or plain) and token bookkeeping. It knows frames, not what they mean.

pub mod conn;
pub mod peraddr;
pub mod stdin;
pub mod timers;
pub mod tls;
pub mod traffic;
pub mod wire;

use mio::{Events, Poll, Token};
use std::io;
use std::time::Duration;

/// Tokens reserved for the sources every loop has; connections use their slab keys below these.
pub mod tokens {
    use super::Token;
    /// The listening socket (hub port, or the peer listener).
    pub const LISTENER: Token = Token(usize::MAX - 1);
    /// Typed lines on stdin.
    pub const STDIN: Token = Token(usize::MAX - 2);
    /// SIGINT / SIGTERM.
    pub const SIGNALS: Token = Token(usize::MAX - 3);
    /// The client's connection to the hub.
    pub const HUB: Token = Token(usize::MAX - 4);
    /// The web interface's listener (`--web`).
    pub const WEB: Token = Token(usize::MAX - 5);
    /// Keys at or above this are reserved.
    pub const FIRST_RESERVED: usize = usize::MAX - 16;
}

/// Wait up to `timeout` for events. `Ok(false)` when a signal interrupted the wait:
/// the loop goes round again (and so works out its timeout afresh) instead of failing.
pub fn poll_events(
    poll: &mut Poll,
    events: &mut Events,
    timeout: Option<Duration>,
) -> io::Result<bool> {
    match poll.poll(events, timeout) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(e),
    }
}

/// The slab key of a connection token, or `None` for a reserved token.
pub fn conn_key(token: Token) -> Option<usize> {
    (token.0 < tokens::FIRST_RESERVED).then_some(token.0)
}

/// State kept per connection, indexed by its slab key: the keys are small and dense,
/// so a vector answers without hashing (the hub looks a session up several times per
/// request). The API follows `HashMap`'s so call sites read the same.
#[derive(Debug)]
pub struct ConnMap<T> {
    slots: Vec<Option<T>>,
    len: usize,
}

impl<T> Default for ConnMap<T> {
    fn default() -> Self {
        ConnMap {
            slots: Vec::new(),
            len: 0,
        }
    }
}

impl<T> ConnMap<T> {
    /// The entry of connection `key`.
    pub fn get(&self, key: &usize) -> Option<&T> {
        self.slots.get(*key)?.as_ref()
    }

    /// The entry of connection `key`, to change.
    pub fn get_mut(&mut self, key: &usize) -> Option<&mut T> {
        self.slots.get_mut(*key)?.as_mut()
    }

    /// Whether connection `key` has an entry.
    pub fn contains_key(&self, key: &usize) -> bool {
        self.get(key).is_some()
    }

    /// Set the entry of connection `key`, returning the one it replaces.
    pub fn insert(&mut self, key: usize, value: T) -> Option<T> {
        if self.slots.len() <= key {
            self.slots.resize_with(key + 1, || None);
        }
        let old = self.slots.get_mut(key).and_then(|slot| slot.replace(value));
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Remove the entry of connection `key`.
    pub fn remove(&mut self, key: &usize) -> Option<T> {
        let old = self.slots.get_mut(*key).and_then(Option::take);
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    /// Connections with an entry.
    pub fn keys(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(key, slot)| slot.as_ref().map(|_| key))
    }

    /// Entries in all.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conn_map_behaves_like_a_map() {
        let mut map = ConnMap::default();
        assert!(map.is_empty());
        assert_eq!(map.insert(3, "c"), None);
        assert_eq!(map.insert(0, "a"), None);
        assert_eq!(map.insert(3, "C"), Some("c"));
        assert_eq!(map.len(), 2);
        assert_eq!(map.get(&3), Some(&"C"));
        assert_eq!(map.get(&1), None);
        assert_eq!(map.get(&99), None);
        assert_eq!(map.keys().collect::<Vec<_>>(), vec![0, 3]);
        assert_eq!(map.remove(&3), Some("C"));
        assert_eq!(map.remove(&3), None);
        assert!(!map.contains_key(&3));
        assert_eq!(map.len(), 1);
    }
}
