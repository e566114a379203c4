//! The publish index: which account published which names, in memory for lookups and
//! search (the hub asks the backend to keep it across restarts, and loads it from the
//! backend's snapshot). Lookups cost the same among 10 or 100,000 entries.

mod holders;

use super::inline_name::Name;
use super::search::SearchIndex;
use crate::proto::message::{FileInfo, Hash, SearchHit};
use holders::{Holders, NameHolders};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

/// What an account announced for one name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub size: u64,
    pub hash: Hash,
}

/// How a publish went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    New,
    /// The same name and hash again (a login re-announcing): not a duplicate.
    Unchanged,
    /// `replace`: the content changed and the new hash replaces the old.
    Replaced,
}

/// Why the index refused a change.
#[derive(Debug)]
pub enum IndexError {
    /// The owner already publishes this name with other content.
    Duplicate,
    /// The owner would publish more than `--max-published` files.
    TooMany(usize),
}

/// How to take back a change to the index (its write failed): each name it touched and
/// what the owner published under it before, in the order they were touched.
#[derive(Debug, Default)]
pub struct Undo(Vec<(String, Option<Entry>)>);

impl fmt::Display for IndexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexError::Duplicate => f.write_str(
                "you already publish a different file under that name; unpublish it first",
            ),
            IndexError::TooMany(max) => write!(
                f,
                "an account may publish at most {max} files (--max-published); unpublish some first"
            ),
        }
    }
}

impl std::error::Error for IndexError {}

/// The index.
#[derive(Debug, Default)]
pub struct Index {
    by_owner: HashMap<String, BTreeMap<String, Entry>>,
    by_name: HashMap<Name, NameHolders>,
    entries: usize,
    /// Every name, for substring search.
    search: SearchIndex,
    /// Files one owner may publish (0: no limit).
    max_per_owner: usize,
    /// Names whose holders [`Index::holders`] has read: the cost the lookup test bounds.
    #[cfg(test)]
    names_examined: std::cell::Cell<u64>,
}

impl Index {
    /// An index of these publications (each owner and what it announced).
    pub fn from_published(published: Vec<(String, FileInfo)>) -> Index {
        let mut index = Index::default();
        for (owner, file) in published {
            let entry = Entry {
                size: file.size,
                hash: file.hash,
            };
            index.insert_memory(&owner, &file.name, entry);
        }
        index
    }

    /// Refuse publications that would give one owner more than `max` files (0: no limit).
    pub fn set_max_per_owner(&mut self, max: usize) {
        self.max_per_owner = max;
    }

    /// Whether `owner` may have `count` files.
    fn check_count(&self, count: usize) -> Result<(), IndexError> {
        if self.max_per_owner > 0 && count > self.max_per_owner {
            return Err(IndexError::TooMany(self.max_per_owner));
        }
        Ok(())
    }

    /// Published entries in all.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether nothing is published.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    fn insert_memory(&mut self, owner: &str, name: &str, entry: Entry) {
        let files = self.by_owner.entry(owner.to_owned()).or_default();
        if files.insert(name.to_owned(), entry).is_none() {
            self.entries += 1;
            let search = &mut self.search;
            let holders = self
                .by_name
                .entry(Name::new(name))
                .or_insert_with(|| NameHolders {
                    id: search.insert(name, &name.to_lowercase()),
                    holders: Holders::default(),
                });
            holders.holders.push((Name::new(owner), entry));
        }
    }

    fn remove_memory(&mut self, owner: &str, name: &str) -> bool {
        let Some(files) = self.by_owner.get_mut(owner) else {
            return false;
        };
        if files.remove(name).is_none() {
            return false;
        }
        if files.is_empty() {
            self.by_owner.remove(owner);
        }
        self.entries -= 1;
        if let Some(holders) = self.by_name.get_mut(name) {
            holders.holders.remove(owner);
            if holders.holders.is_empty() {
                self.search.remove(holders.id);
                self.by_name.remove(name);
            }
        }
        true
    }

    /// Forget everything `owner` publishes (its rows went with its account); how many.
    pub fn withdraw_all(&mut self, owner: &str) -> usize {
        let names: Vec<String> = self
            .by_owner
            .get(owner)
            .map(|f| f.keys().cloned().collect())
            .unwrap_or_default();
        for name in &names {
            self.remove_memory(owner, name);
        }
        names.len()
    }

    /// Announce `file` for `owner`: how it went, and how to take it back.
    pub fn publish(
        &mut self,
        owner: &str,
        file: &FileInfo,
        replace: bool,
    ) -> Result<(Published, Undo), IndexError> {
        let entry = Entry {
            size: file.size,
            hash: file.hash,
        };
        let before = self.entry(owner, &file.name);
        let outcome = match before {
            Some(old) if old == entry => return Ok((Published::Unchanged, Undo::default())),
            Some(_) if !replace => return Err(IndexError::Duplicate),
            Some(_) => Published::Replaced,
            None => {
                let count = self.by_owner.get(owner).map_or(0, BTreeMap::len);
                self.check_count(count + 1)?;
                Published::New
            }
        };
        let undo = Undo(vec![(file.name.clone(), before)]);
        if before.is_some() {
            self.replace_memory(owner, &file.name, entry);
        } else {
            self.insert_memory(owner, &file.name, entry);
        }
        Ok((outcome, undo))
    }

    /// What `owner` announced for `name`, if it publishes it.
    fn entry(&self, owner: &str, name: &str) -> Option<Entry> {
        self.by_owner.get(owner)?.get(name).copied()
    }

    /// The content of a name the owner publishes changed.
    fn replace_memory(&mut self, owner: &str, name: &str, entry: Entry) {
        if let Some(old) = self.by_owner.get_mut(owner).and_then(|f| f.get_mut(name)) {
            *old = entry;
        }
        if let Some(holders) = self.by_name.get_mut(name) {
            for (o, e) in holders.holders.as_mut_slice() {
                if o == owner {
                    *e = entry;
                }
            }
        }
    }

    /// Withdraw a name: how to take it back, or `None` if it was not published.
    pub fn unpublish(&mut self, owner: &str, name: &str) -> Option<Undo> {
        let before = self.entry(owner, name)?;
        self.remove_memory(owner, name);
        Some(Undo(vec![(name.to_owned(), Some(before))]))
    }

    /// The owner's full list (a chunk of it): `first` clears what the hub had, since the
    /// client's list wins. Refused whole if the owner would publish too many.
    pub fn sync(
        &mut self,
        owner: &str,
        files: &[FileInfo],
        first: bool,
    ) -> Result<Undo, IndexError> {
        let current = self.by_owner.get(owner);
        let mut new_names: HashSet<&str> = HashSet::new();
        for f in files {
            if first || !current.is_some_and(|c| c.contains_key(&f.name)) {
                new_names.insert(&f.name);
            }
        }
        let kept = if first {
            0
        } else {
            current.map_or(0, BTreeMap::len)
        };
        self.check_count(kept + new_names.len())?;
        let mut undo = Vec::new();
        if first {
            for (name, entry) in self.by_owner.get(owner).cloned().unwrap_or_default() {
                self.remove_memory(owner, &name);
                undo.push((name, Some(entry)));
            }
        }
        for f in files {
            undo.push((f.name.clone(), self.entry(owner, &f.name)));
            self.remove_memory(owner, &f.name);
            let entry = Entry {
                size: f.size,
                hash: f.hash,
            };
            self.insert_memory(owner, &f.name, entry);
        }
        Ok(Undo(undo))
    }

    /// Take back a change whose write failed: every name it touched is as before.
    pub fn restore(&mut self, owner: &str, undo: Undo) {
        for (name, before) in undo.0.into_iter().rev() {
            self.remove_memory(owner, &name);
            if let Some(entry) = before {
                self.insert_memory(owner, &name, entry);
            }
        }
    }

    /// What an owner publishes, by name.
    pub fn files_of(&self, owner: &str) -> Vec<FileInfo> {
        self.by_owner
            .get(owner)
            .map(|files| {
                files
                    .iter()
                    .map(|(name, e)| FileInfo {
                        name: name.clone(),
                        size: e.size,
                        hash: e.hash,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Who holds `name`, with what they announced.
    pub fn holders<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (&'a str, Entry)> + 'a {
        let found = self.by_name.get(name);
        #[cfg(test)]
        self.names_examined
            .set(self.names_examined.get() + u64::from(found.is_some()));
        found
            .into_iter()
            .flat_map(|h| h.holders.as_slice().iter())
            .map(|(owner, entry)| (owner.as_str(), *entry))
    }

    /// Whether `owner` publishes `name` with this hash.
    pub fn has(&self, owner: &str, name: &str, hash: &Hash) -> bool {
        self.by_owner
            .get(owner)
            .and_then(|f| f.get(name))
            .is_some_and(|e| &e.hash == hash)
    }

    /// Names containing `text` (case-insensitive), one hit per name and hash with the
    /// owners for whom `online` holds; hits without an online owner are left out.
    /// At most `limit` hits, sorted by name; the flag says whether more matched or the
    /// search stopped at its scan limit (see `search.rs`: the cost is bounded whatever
    /// the index holds).
    pub fn search(
        &self,
        text: &str,
        limit: usize,
        online: impl Fn(&str) -> bool,
    ) -> (Vec<SearchHit>, bool) {
        let needle = text.to_lowercase();
        let candidates = self.search.candidates(&needle);
        let mut scanned = 0;
        let mut names: Vec<&str> = Vec::new();
        let mut truncated = false;
        for (name, lower) in candidates.names {
            scanned += 1;
            if !lower.contains(&needle) || !self.holders(name).any(|(o, _)| online(o)) {
                continue;
            }
            if candidates.ordered && names.len() > limit {
                truncated = true;
                break;
            }
            names.push(name);
        }
        if scanned >= super::search::SCAN_LIMIT {
            truncated = true;
        }
        if !candidates.ordered {
            names.sort_unstable();
        }
        let mut hits = Vec::new();
        for name in names {
            let mut by_hash: BTreeMap<Hash, SearchHit> = BTreeMap::new();
            for (owner, entry) in self.holders(name) {
                if !online(owner) {
                    continue;
                }
                by_hash
                    .entry(entry.hash)
                    .or_insert_with(|| SearchHit {
                        file: FileInfo {
                            name: name.to_owned(),
                            size: entry.size,
                            hash: entry.hash,
                        },
                        owners: Vec::new(),
                    })
                    .owners
                    .push(owner.to_owned());
            }
            for (_, mut hit) in by_hash {
                if hits.len() == limit {
                    return (hits, true);
                }
                hit.owners.sort();
                hits.push(hit);
            }
        }
        (hits, truncated)
    }
}

#[cfg(test)]
mod tests;
