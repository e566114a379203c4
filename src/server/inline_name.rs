//! A string key kept inline when short: names in the hub's big tables are compared
//! on every lookup, and a key whose bytes sit in the table's own slot costs no extra
//! cache miss (a `String` key is one more pointer to chase).

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Bytes kept inline; longer names live on the heap.
const INLINE: usize = 30;

/// A name, inline up to 30 bytes. Hashes, compares and borrows as the `str` it holds,
/// so maps keyed by it are searched with a plain `&str`.
#[derive(Clone)]
pub enum Name {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl Name {
    /// A name holding `text`.
    pub fn new(text: &str) -> Name {
        if text.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            Name::Inline {
                len: text.len() as u8,
                bytes,
            }
        } else {
            Name::Heap(text.into())
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match self {
            Name::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)])
                .expect("an inline name holds the whole UTF-8 text it was built from"),
            Name::Heap(text) => text,
        }
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn short_and_long_names_behave_as_their_text() {
        let short = Name::new("alice");
        let exact = Name::new(&"x".repeat(30));
        let long = Name::new(&"y".repeat(200));
        assert!(matches!(short, Name::Inline { .. }));
        assert!(matches!(exact, Name::Inline { .. }));
        assert!(matches!(long, Name::Heap(_)));
        assert_eq!(short.as_str(), "alice");
        assert_eq!(long.len(), 200);
        assert_eq!(Name::new("ünïcödé").as_str(), "ünïcödé");
        assert_eq!(std::mem::size_of::<Name>(), 32);
    }

    #[test]
    fn maps_are_searched_with_a_str() {
        let mut map = HashMap::new();
        map.insert(Name::new("alice"), 1);
        map.insert(Name::new(&"z".repeat(100)), 2);
        assert_eq!(map.get("alice"), Some(&1));
        assert_eq!(map.get("z".repeat(100).as_str()), Some(&2));
        assert_eq!(map.get("bob"), None);
        assert_eq!(map.remove("alice"), Some(1));
    }
}
