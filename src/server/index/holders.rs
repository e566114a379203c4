//! The holders of one name in the publish index: none, one kept inline, or many.

use super::Entry;
use crate::server::inline_name::Name;

/// Every holder of one name, and the name folded for case-insensitive search.
#[derive(Debug, Default)]
pub(super) struct NameHolders {
    /// Its id in the search index.
    pub(super) id: u32,
    /// Each holder with what it announced, kept here too so that a lookup touches one
    /// table: on a big index every extra pointer chased is a cache miss.
    pub(super) holders: Holders,
}

/// The holders of one name. Most names have one, kept inline so that a lookup does
/// not chase a pointer to a list.
#[derive(Debug, Default)]
pub(super) enum Holders {
    #[default]
    None,
    One((Name, Entry)),
    Many(Vec<(Name, Entry)>),
}

impl Holders {
    pub(super) fn push(&mut self, holder: (Name, Entry)) {
        *self = match std::mem::take(self) {
            Holders::None => Holders::One(holder),
            Holders::One(first) => Holders::Many(vec![first, holder]),
            Holders::Many(mut all) => {
                all.push(holder);
                Holders::Many(all)
            }
        };
    }

    pub(super) fn remove(&mut self, owner: &str) {
        *self = match std::mem::take(self) {
            Holders::One(first) if first.0 == *owner => Holders::None,
            Holders::Many(mut all) => {
                all.retain(|(o, _)| o != owner);
                match all.len() {
                    0 => Holders::None,
                    _ => Holders::Many(all),
                }
            }
            other => other,
        };
    }

    pub(super) fn is_empty(&self) -> bool {
        matches!(self, Holders::None)
    }

    pub(super) fn as_slice(&self) -> &[(Name, Entry)] {
        match self {
            Holders::None => &[],
            Holders::One(first) => std::slice::from_ref(first),
            Holders::Many(all) => all,
        }
    }

    pub(super) fn as_mut_slice(&mut self) -> &mut [(Name, Entry)] {
        match self {
            Holders::None => &mut [],
            Holders::One(first) => std::slice::from_mut(first),
            Holders::Many(all) => all,
        }
    }
}
