//! The client's record of partial downloads: which content (published name, size,
//! hash) each `<dest>.part` in the share dir was downloaded for, so that a later
//! `fetch` resumes it only from a holder of that same content — and, for a swarm
//! download (a partial file as long as the file, filled in segments), which chunk
//! groups of it were verified: only those are kept on resume.

use crate::proto::message::{hash_hex, Hash};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// The record's file name inside the share dir.
pub const PARTIALS_FILE: &str = ".peerhub-partials.json";

/// What one partial file belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartialRecord {
    /// The file name it will take (`<dest>.part` until then).
    pub dest: String,
    /// The published name it is fetched as.
    pub name: String,
    pub size: u64,
    /// Hex BLAKE3 of the whole file.
    pub hash: String,
    /// Chunk groups verified, as `[start, end)` pairs (a swarm download's partial
    /// file); empty for a partial file that is a prefix of the file (`Get`'s), whose
    /// bytes are checked only by the hash of the whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verified: Vec<(u64, u64)>,
}

impl PartialRecord {
    /// A record for `dest`, fetched as `name`, of content `size`/`hash`.
    pub fn new(dest: &str, name: &str, size: u64, hash: &Hash) -> PartialRecord {
        PartialRecord {
            dest: dest.to_owned(),
            name: name.to_owned(),
            size,
            hash: hash_hex(hash),
            verified: Vec::new(),
        }
    }

    /// The verified groups, as ranges.
    pub fn verified_groups(&self) -> Vec<std::ops::Range<u64>> {
        self.verified.iter().map(|&(a, b)| a..b).collect()
    }

    /// The hash as bytes; `None` if the record was damaged.
    pub fn hash_bytes(&self) -> Option<Hash> {
        let mut out = [0u8; 32];
        if self.hash.len() != 64 {
            return None;
        }
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(self.hash.get(i * 2..i * 2 + 2)?, 16).ok()?;
        }
        Some(out)
    }

    /// Whether the partial file holds a prefix of this content.
    pub fn is_for(&self, size: u64, hash: &Hash) -> bool {
        self.size == size && self.hash_bytes().as_ref() == Some(hash)
    }
}

/// Every partial download, by destination name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Partials {
    by_dest: BTreeMap<String, PartialRecord>,
}

impl Partials {
    /// Read the record from the share dir; a missing or damaged file is an empty record
    /// (partial files without a record are started over, never trusted).
    pub fn load(share: &Path) -> Partials {
        let entries: Vec<PartialRecord> = std::fs::read_to_string(share.join(PARTIALS_FILE))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        Partials {
            by_dest: entries.into_iter().map(|p| (p.dest.clone(), p)).collect(),
        }
    }

    /// Write the record atomically (temporary file, then rename); a failed write (a
    /// full disk) leaves the old record and no temporary file behind.
    pub fn save(&self, share: &Path) -> io::Result<()> {
        let entries: Vec<&PartialRecord> = self.by_dest.values().collect();
        let text = serde_json::to_string_pretty(&entries).map_err(io::Error::other)?;
        let tmp = share.join(format!("{PARTIALS_FILE}.tmp"));
        let written = std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, share.join(PARTIALS_FILE)));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }

    /// The record of a destination.
    pub fn get(&self, dest: &str) -> Option<&PartialRecord> {
        self.by_dest.get(dest)
    }

    /// Add or replace.
    pub fn insert(&mut self, record: PartialRecord) {
        self.by_dest.insert(record.dest.clone(), record);
    }

    /// Forget a destination; whether it was recorded.
    pub fn remove(&mut self, dest: &str) -> bool {
        self.by_dest.remove(dest).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TempDir;

    #[test]
    fn round_trip_and_matching() {
        let tmp = TempDir::new("partials");
        let dir = tmp.path();
        assert_eq!(Partials::load(dir), Partials::default());
        let mut p = Partials::default();
        p.insert(PartialRecord::new("a.iso", "a.iso", 10, &[7; 32]));
        p.save(dir).unwrap();
        let loaded = Partials::load(dir);
        assert_eq!(loaded, p);
        let r = loaded.get("a.iso").unwrap();
        assert!(r.is_for(10, &[7; 32]));
        assert!(!r.is_for(11, &[7; 32]));
        assert!(!r.is_for(10, &[8; 32]));
        std::fs::write(dir.join(PARTIALS_FILE), "not json").unwrap();
        assert_eq!(Partials::load(dir), Partials::default());
        let damaged = PartialRecord {
            hash: "zz".into(),
            ..r.clone()
        };
        assert_eq!(damaged.hash_bytes(), None);
    }
}
