//! The hub's file store: its vocabulary (entries, limits, an upload's version
//! directory) and the catalogue the hub keeps in memory — every entry by name, each
//! owner's usage, the quota and disk checks, and the downloads that keep a replaced
//! version alive until they finish. Pure: the catalogue in SQLite is in [`sql`], the
//! directories on disk in [`disk`], their removal in bounded slices in [`removal`].

pub mod disk;
pub mod removal;
pub mod sql;
#[cfg(test)]
mod tests;

use super::tickets::{disk_allows, quota_allows};
use crate::proto::message::{Hash, StoreInfo};
use crate::proto::names;
use crate::proto::status::Status;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io;

/// What an entry holds (a file or a directory tree).
pub use crate::proto::message::StoreKind as Kind;

/// One store entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreEntry {
    pub name: String,
    pub owner: String,
    pub kind: Kind,
    pub files: u64,
    pub bytes: u64,
    /// Unix seconds of the upload.
    pub created: u64,
    /// The directory under the store root that holds the content.
    pub version: String,
    /// The tree digest of its manifest (`transfer::tree::tree_digest`).
    pub digest: Hash,
}

impl StoreEntry {
    /// The entry as a listing carries it.
    pub fn info(&self) -> StoreInfo {
        StoreInfo {
            name: self.name.clone(),
            owner: self.owner.clone(),
            kind: self.kind,
            files: self.files,
            bytes: self.bytes,
            created: self.created,
            digest: self.digest,
        }
    }
}

/// Size limits of the store.
#[derive(Debug, Clone, Copy)]
pub struct StoreLimits {
    /// Largest single file, in bytes (0: no limit).
    pub max_file: u64,
    /// Most bytes one user may keep in the store (0: no limit).
    pub user_quota: u64,
    /// Free bytes the disk must keep after an upload.
    pub reserve: u64,
}

/// Bytes promised to uploads under way, beside the one being checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct Held {
    /// Announced bytes of the same user's other uploads (against the quota).
    pub reserved: u64,
    /// Announced bytes other uploads have still to write (against the free space).
    pub pending: u64,
}

/// What an upload claims before it runs: who, which entry, how big.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    pub user: &'a str,
    pub name: &'a str,
    /// Whether it may replace the user's own entry of that name.
    pub replace: bool,
    /// Bytes in all.
    pub bytes: u64,
    /// The largest file.
    pub largest: u64,
}

/// An upload being written: its version directory, not yet visible.
#[derive(Debug)]
pub struct Incoming {
    pub version: String,
    /// Relative to the store root.
    pub dir_name: String,
    pub dir: File,
}

/// How much the store's disk has free: asked by the hub before it admits an upload
/// (the loop's implementation asks the file system; a test says a number).
pub trait FreeSpace {
    /// Free bytes for the store now.
    fn free_bytes(&self) -> io::Result<u64>;
}

/// A refusal: the status and its text.
pub type Refused = (Status, String);

/// The store's entries as the hub keeps them in memory, with the readers of each
/// version.
#[derive(Debug)]
pub struct Catalogue {
    limits: StoreLimits,
    entries: BTreeMap<String, StoreEntry>,
    /// Bytes each owner keeps.
    usage: HashMap<String, u64>,
    /// Downloads reading each version now.
    readers: HashMap<String, u32>,
    /// Versions no entry points to any more, kept until their last reader finishes.
    retired: HashSet<String>,
}

impl Catalogue {
    /// The catalogue of `entries` (as loaded at start) under `limits`.
    pub fn new(limits: StoreLimits, entries: Vec<StoreEntry>) -> Catalogue {
        let mut catalogue = Catalogue {
            limits,
            entries: BTreeMap::new(),
            usage: HashMap::new(),
            readers: HashMap::new(),
            retired: HashSet::new(),
        };
        for entry in entries {
            catalogue.put(entry);
        }
        catalogue
    }

    /// One entry.
    pub fn get(&self, name: &str) -> Option<&StoreEntry> {
        self.entries.get(name)
    }

    /// Every entry, by name.
    pub fn list(&self) -> impl Iterator<Item = &StoreEntry> {
        self.entries.values()
    }

    /// Entries and bytes in all.
    pub fn totals(&self) -> (u64, u64) {
        let bytes = self.usage.values().fold(0u64, |a, b| a.saturating_add(*b));
        (self.entries.len() as u64, bytes)
    }

    /// Bytes `user` keeps in the store, leaving out the entry `except` (being replaced;
    /// `""` leaves out nothing).
    pub fn usage(&self, user: &str, except: &str) -> u64 {
        let all = self.usage.get(user).copied().unwrap_or(0);
        let left_out = self
            .entries
            .get(except)
            .filter(|e| e.owner == user)
            .map_or(0, |e| e.bytes);
        all.saturating_sub(left_out)
    }

    /// The per-user quota in bytes (0: no limit).
    pub fn quota(&self) -> u64 {
        self.limits.user_quota
    }

    /// The largest single file (0: no limit).
    pub fn max_file(&self) -> u64 {
        self.limits.max_file
    }

    /// May `claim` upload, while `held` bytes are promised to uploads under way and the
    /// disk has what `space` says free?
    pub fn check_upload(
        &self,
        claim: Claim,
        held: Held,
        space: &dyn FreeSpace,
    ) -> Result<(), Refused> {
        self.check_name(claim.user, claim.name, claim.replace)?;
        let max = self.limits.max_file;
        if max > 0 && claim.largest > max {
            return Err((
                Status::TOO_LARGE,
                format!(
                    "a file of {} bytes is over the per-file limit of {max} bytes",
                    claim.largest
                ),
            ));
        }
        self.check_quota(claim.user, claim.name, claim.bytes, held.reserved)?;
        self.check_disk(claim.bytes, held.pending, space)
    }

    /// The name half of [`Catalogue::check_upload`] (also asked before a tree is
    /// walked): a valid name (408) that is not another user's entry and, without
    /// `replace`, not `user`'s own (409).
    pub fn check_name(&self, user: &str, name: &str, replace: bool) -> Result<(), Refused> {
        names::check_published_name(name).map_err(|e| (Status::INVALID_NAME, e.to_string()))?;
        if let Some(existing) = self.get(name) {
            if existing.owner != user {
                return Err((
                    Status::NAME_TAKEN,
                    format!("{name} belongs to {}", existing.owner),
                ));
            }
            if !replace {
                return Err((
                    Status::NAME_TAKEN,
                    format!("you already have {name} in the store; use --replace to overwrite it"),
                ));
            }
        }
        Ok(())
    }

    /// Does `bytes` more for `user`'s entry `name` fit the quota, the entry it replaces
    /// left out and `reserved` bytes of the user's other uploads counted?
    pub fn check_quota(
        &self,
        user: &str,
        name: &str,
        bytes: u64,
        reserved: u64,
    ) -> Result<(), Refused> {
        let quota = self.limits.user_quota;
        quota_allows(quota, self.usage(user, name), reserved, bytes).map_err(|r| (r.status, r.text))
    }

    /// Does the disk keep `--store-reserve` free after `bytes` more and the `pending`
    /// bytes other uploads have still to write?
    pub fn check_disk(
        &self,
        bytes: u64,
        pending: u64,
        space: &dyn FreeSpace,
    ) -> Result<(), Refused> {
        let free = space
            .free_bytes()
            .map_err(|e| (Status::INTERNAL, e.to_string()))?;
        disk_allows(free, bytes, self.limits.reserve, pending).map_err(|r| (r.status, r.text))
    }

    /// A committed upload: `entry` is visible now. The version it replaced, if no
    /// download reads it, is returned to be removed; otherwise its last reader does.
    pub fn record(&mut self, entry: StoreEntry) -> Option<String> {
        let old = self.put(entry)?;
        self.retire(old.version)
    }

    /// An entry removed; its version is returned to be removed now, unless a download
    /// still reads it.
    pub fn remove(&mut self, name: &str) -> Option<(StoreEntry, Option<String>)> {
        let entry = self.take(name)?;
        let now = self.retire(entry.version.clone());
        Some((entry, now))
    }

    /// Every entry of `from` now belongs to `to` (an account deleted); how many.
    pub fn reown(&mut self, from: &str, to: &str) -> usize {
        let names: Vec<String> = self
            .entries
            .values()
            .filter(|e| e.owner == from)
            .map(|e| e.name.clone())
            .collect();
        for name in &names {
            if let Some(mut entry) = self.take(name) {
                entry.owner = to.to_owned();
                self.put(entry);
            }
        }
        names.len()
    }

    /// A download starts reading `version`.
    pub fn add_reader(&mut self, version: &str) {
        *self.readers.entry(version.to_owned()).or_insert(0) += 1;
    }

    /// A download of `version` ended: the version, if it was retired and this was its
    /// last reader, to be removed now.
    pub fn drop_reader(&mut self, version: &str) -> Option<String> {
        let n = self.readers.get_mut(version)?;
        *n = n.saturating_sub(1);
        if *n > 0 {
            return None;
        }
        self.readers.remove(version);
        self.retired.take(version)
    }

    fn put(&mut self, entry: StoreEntry) -> Option<StoreEntry> {
        let old = self.take(&entry.name);
        let used = self.usage.entry(entry.owner.clone()).or_insert(0);
        *used = used.saturating_add(entry.bytes);
        self.entries.insert(entry.name.clone(), entry);
        old
    }

    fn take(&mut self, name: &str) -> Option<StoreEntry> {
        let entry = self.entries.remove(name)?;
        if let Some(used) = self.usage.get_mut(&entry.owner) {
            *used = used.saturating_sub(entry.bytes);
            if *used == 0 {
                self.usage.remove(&entry.owner);
            }
        }
        Some(entry)
    }

    /// `version` has no entry any more: it goes now (returned), or with its last reader.
    fn retire(&mut self, version: String) -> Option<String> {
        if self.readers.contains_key(&version) {
            self.retired.insert(version);
            return None;
        }
        Some(version)
    }
}
