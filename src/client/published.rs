//! The client's own list of what it publishes, kept in its share dir so that every
//! login (after a restart of either side) announces it in full.

use crate::proto::message::{hash_hex, FileInfo, Hash};
use crate::proto::names;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The list's file name inside the share dir.
pub const LIST_FILE: &str = ".peerhub-published.json";

/// One publication: the published name, where the file lies beneath the share dir,
/// and what it was when hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publication {
    pub name: String,
    /// Path relative to the share dir.
    pub path: String,
    pub size: u64,
    /// Hex BLAKE3.
    pub hash: String,
    /// Modification time in nanoseconds since the epoch when hashed.
    pub modified_ns: u128,
}

impl Publication {
    /// A publication from a hashed file.
    pub fn new(
        name: &str,
        path: &str,
        size: u64,
        hash: &Hash,
        modified: SystemTime,
    ) -> Publication {
        Publication {
            name: name.to_owned(),
            path: path.to_owned(),
            size,
            hash: hash_hex(hash),
            modified_ns: modified
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_nanos(),
        }
    }

    /// The hash as bytes (a list edited by hand with a bad hash reads as zeros and fails verification).
    pub fn hash_bytes(&self) -> Hash {
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = self
                .hash
                .get(i * 2..i * 2 + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .unwrap_or(0);
        }
        out
    }

    /// What the hub is told.
    pub fn info(&self) -> FileInfo {
        FileInfo {
            name: self.name.clone(),
            size: self.size,
            hash: self.hash_bytes(),
        }
    }

    /// Whether the file's current size and time still match what was hashed.
    pub fn matches(&self, size: u64, modified: SystemTime) -> bool {
        let ns = modified
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_nanos();
        self.size == size && self.modified_ns == ns
    }

    /// As JSON for results.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({"name": self.name, "size": self.size, "hash": self.hash, "path": self.path})
    }
}

/// Every publication, by name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PublishedList {
    by_name: BTreeMap<String, Publication>,
    /// Hashes of publications withdrawn or replaced since the last
    /// [`PublishedList::take_orphaned`]: their outboards may be unneeded now.
    dropped: Vec<String>,
}

impl PublishedList {
    /// Read the list from the share dir; a missing file is an empty list.
    pub fn load(share: &Path) -> io::Result<PublishedList> {
        let text = match std::fs::read_to_string(share.join(LIST_FILE)) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(PublishedList::default()),
            Err(e) => return Err(e),
        };
        let entries: Vec<Publication> = serde_json::from_str(&text)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{LIST_FILE}: {e}")))?;
        // The client's own files are never published, even by a list edited by hand.
        let reserved = |p: &Publication| {
            names::is_reserved(&p.name) || p.path.split('/').any(names::is_reserved)
        };
        Ok(PublishedList {
            by_name: entries
                .into_iter()
                .filter(|p| !reserved(p))
                .map(|p| (p.name.clone(), p))
                .collect(),
            dropped: Vec::new(),
        })
    }

    /// Write the list atomically (temporary file, then rename).
    pub fn save(&self, share: &Path) -> io::Result<()> {
        let entries: Vec<&Publication> = self.by_name.values().collect();
        let text = serde_json::to_string_pretty(&entries).map_err(io::Error::other)?;
        let tmp = share.join(format!("{LIST_FILE}.tmp"));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, share.join(LIST_FILE))
    }

    /// The publication of a name.
    pub fn get(&self, name: &str) -> Option<&Publication> {
        self.by_name.get(name)
    }

    /// Add or replace.
    pub fn insert(&mut self, publication: Publication) {
        let hash = publication.hash.clone();
        if let Some(old) = self.by_name.insert(publication.name.clone(), publication) {
            if old.hash != hash {
                self.dropped.push(old.hash);
            }
        }
    }

    /// Withdraw a name.
    pub fn remove(&mut self, name: &str) -> Option<Publication> {
        let removed = self.by_name.remove(name)?;
        self.dropped.push(removed.hash.clone());
        Some(removed)
    }

    /// The hashes no publication has any more, of those withdrawn or replaced since
    /// the last call (a file published under two names keeps its hash while one stays).
    pub fn take_orphaned(&mut self) -> Vec<String> {
        let mut dropped = std::mem::take(&mut self.dropped);
        dropped.sort();
        dropped.dedup();
        dropped.retain(|hash| !self.by_name.values().any(|p| &p.hash == hash));
        dropped
    }

    /// All publications, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Publication> {
        self.by_name.values()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TempDir;

    #[test]
    fn save_load_round_trip_and_hash_bytes() {
        let tmp = TempDir::new("published");
        let dir = tmp.path();
        let mut list = PublishedList::default();
        assert_eq!(PublishedList::load(dir).unwrap(), list);
        let hash = [0xAB; 32];
        list.insert(Publication::new(
            "a b.txt",
            "sub/a b.txt",
            12,
            &hash,
            UNIX_EPOCH + Duration::from_nanos(5),
        ));
        list.save(dir).unwrap();
        let loaded = PublishedList::load(dir).unwrap();
        assert_eq!(loaded, list);
        let p = loaded.get("a b.txt").unwrap();
        assert_eq!(p.hash_bytes(), hash);
        assert!(p.matches(12, UNIX_EPOCH + Duration::from_nanos(5)));
        assert!(!p.matches(13, UNIX_EPOCH + Duration::from_nanos(5)));
    }

    #[test]
    fn a_list_edited_by_hand_never_publishes_the_clients_own_files() {
        let tmp = TempDir::new("published-own");
        let dir = tmp.path();
        let entry = |name: &str, path: &str| serde_json::json!({"name": name, "path": path, "size": 1, "hash": "00", "modified_ns": 0});
        let list = serde_json::json!([
            entry("ok.txt", "ok.txt"),
            entry(".peerhub-published.json", ".peerhub-published.json"),
            entry("state.json", ".peerhub-partials.json"),
            entry("deep.txt", "a/.peerhub-x/deep.txt"),
        ]);
        std::fs::write(dir.join(LIST_FILE), list.to_string()).unwrap();
        let loaded = PublishedList::load(dir).unwrap();
        let names: Vec<&str> = loaded.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["ok.txt"]);
    }
}
