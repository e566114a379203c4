//! The publish index: which account published which names, in memory for lookups and
//! in SQLite so it survives restarts. Lookups cost the same among 10 or 100,000 entries.

use super::db::Db;
use super::name::Name;
use super::search::SearchIndex;
use crate::proto::message::{FileInfo, Hash, SearchHit};
use rusqlite::params;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

/// What an account announced for one name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub size: u64,
    pub hash: Hash,
}

/// Every holder of one name, and the name folded for case-insensitive search.
#[derive(Debug, Default)]
struct NameHolders {
    /// Its id in the search index.
    id: u32,
    /// Each holder with what it announced, kept here too so that a lookup touches one
    /// table: on a big index every extra pointer chased is a cache miss.
    holders: Holders,
}

/// The holders of one name. Most names have one, kept inline so that a lookup does
/// not chase a pointer to a list.
#[derive(Debug, Default)]
enum Holders {
    #[default]
    None,
    One((Name, Entry)),
    Many(Vec<(Name, Entry)>),
}

impl Holders {
    fn push(&mut self, holder: (Name, Entry)) {
        *self = match std::mem::take(self) {
            Holders::None => Holders::One(holder),
            Holders::One(first) => Holders::Many(vec![first, holder]),
            Holders::Many(mut all) => {
                all.push(holder);
                Holders::Many(all)
            }
        };
    }

    fn remove(&mut self, owner: &str) {
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

    fn is_empty(&self) -> bool {
        matches!(self, Holders::None)
    }

    fn as_slice(&self) -> &[(Name, Entry)] {
        match self {
            Holders::None => &[],
            Holders::One(first) => std::slice::from_ref(first),
            Holders::Many(all) => all,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [(Name, Entry)] {
        match self {
            Holders::None => &mut [],
            Holders::One(first) => std::slice::from_mut(first),
            Holders::Many(all) => all,
        }
    }
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

/// Why the index refused or failed.
#[derive(Debug)]
pub enum IndexError {
    /// The owner already publishes this name with other content.
    Duplicate,
    /// The owner would publish more than `--max-published` files.
    TooMany(usize),
    Db(rusqlite::Error),
}

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
            IndexError::Db(e) => write!(f, "index database: {e}"),
        }
    }
}

impl std::error::Error for IndexError {}

impl From<rusqlite::Error> for IndexError {
    fn from(e: rusqlite::Error) -> Self {
        IndexError::Db(e)
    }
}

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
    /// Load every publication from the database.
    pub fn load(db: &Db) -> Result<Index, IndexError> {
        let mut index = Index::default();
        let mut stmt = db
            .conn()
            .prepare("SELECT owner, name, size, hash FROM published")?;
        let rows = stmt.query_map([], |row| {
            let hash: Vec<u8> = row.get(3)?;
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                hash,
            ))
        })?;
        for row in rows {
            let (owner, name, size, hash) = row?;
            let Ok(hash) = Hash::try_from(hash.as_slice()) else {
                continue;
            };
            index.insert_memory(
                &owner,
                &name,
                Entry {
                    size: size as u64,
                    hash,
                },
            );
        }
        Ok(index)
    }

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

    /// Announce `file` for `owner`.
    pub fn publish(
        &mut self,
        db: &Db,
        owner: &str,
        file: &FileInfo,
        replace: bool,
    ) -> Result<Published, IndexError> {
        let entry = Entry {
            size: file.size,
            hash: file.hash,
        };
        let outcome = match self.by_owner.get(owner).and_then(|f| f.get(&file.name)) {
            Some(old) if *old == entry => return Ok(Published::Unchanged),
            Some(_) if !replace => return Err(IndexError::Duplicate),
            Some(_) => Published::Replaced,
            None => {
                let count = self.by_owner.get(owner).map_or(0, BTreeMap::len);
                self.check_count(count + 1)?;
                Published::New
            }
        };
        db.conn().execute(
            "INSERT OR REPLACE INTO published (owner, name, size, hash) VALUES (?1, ?2, ?3, ?4)",
            params![owner, file.name, file.size as i64, &file.hash[..]],
        )?;
        if let Some(files) = self.by_owner.get_mut(owner) {
            if let Some(old) = files.get_mut(&file.name) {
                *old = entry;
                if let Some(holders) = self.by_name.get_mut(file.name.as_str()) {
                    for (o, e) in holders.holders.as_mut_slice() {
                        if o == owner {
                            *e = entry;
                        }
                    }
                }
                return Ok(outcome);
            }
        }
        self.insert_memory(owner, &file.name, entry);
        Ok(outcome)
    }

    /// Withdraw a name; false if it was not published.
    pub fn unpublish(&mut self, db: &Db, owner: &str, name: &str) -> Result<bool, IndexError> {
        if !self
            .by_owner
            .get(owner)
            .is_some_and(|f| f.contains_key(name))
        {
            return Ok(false);
        }
        db.conn().execute(
            "DELETE FROM published WHERE owner = ?1 AND name = ?2",
            params![owner, name],
        )?;
        Ok(self.remove_memory(owner, name))
    }

    /// The owner's full list (a chunk of it): `first` clears what the hub had, since the
    /// client's list wins. One transaction per chunk.
    pub fn sync(
        &mut self,
        db: &Db,
        owner: &str,
        files: &[FileInfo],
        first: bool,
    ) -> Result<(), IndexError> {
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
        let tx = db.conn().unchecked_transaction()?;
        if first {
            tx.execute("DELETE FROM published WHERE owner = ?1", params![owner])?;
        }
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO published (owner, name, size, hash) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for f in files {
                insert.execute(params![owner, f.name, f.size as i64, &f.hash[..]])?;
            }
        }
        tx.commit()?;
        if first {
            let old: Vec<String> = self
                .by_owner
                .get(owner)
                .map(|f| f.keys().cloned().collect())
                .unwrap_or_default();
            for name in old {
                self.remove_memory(owner, &name);
            }
        }
        for f in files {
            self.remove_memory(owner, &f.name);
            self.insert_memory(
                owner,
                &f.name,
                Entry {
                    size: f.size,
                    hash: f.hash,
                },
            );
        }
        Ok(())
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
mod tests {
    use super::*;

    fn file(name: &str, byte: u8) -> FileInfo {
        FileInfo {
            name: name.into(),
            size: byte as u64 * 10,
            hash: [byte; 32],
        }
    }

    #[test]
    fn publish_same_hash_is_not_a_duplicate_but_other_content_is() {
        let db = Db::open_in_memory().unwrap();
        let mut index = Index::default();
        assert_eq!(
            index
                .publish(&db, "alice", &file("a.txt", 1), false)
                .unwrap(),
            Published::New
        );
        assert_eq!(
            index
                .publish(&db, "alice", &file("a.txt", 1), false)
                .unwrap(),
            Published::Unchanged
        );
        assert!(matches!(
            index.publish(&db, "alice", &file("a.txt", 2), false),
            Err(IndexError::Duplicate)
        ));
        assert_eq!(
            index
                .publish(&db, "alice", &file("a.txt", 2), true)
                .unwrap(),
            Published::Replaced
        );
        assert_eq!(index.len(), 1);
        assert_eq!(index.files_of("alice"), vec![file("a.txt", 2)]);
    }

    #[test]
    fn holders_unpublish_and_persistence() {
        let db = Db::open_in_memory().unwrap();
        let mut index = Index::default();
        index.publish(&db, "alice", &file("x", 1), false).unwrap();
        index.publish(&db, "bob", &file("x", 1), false).unwrap();
        index.publish(&db, "bob", &file("y", 2), false).unwrap();
        let mut holders: Vec<&str> = index.holders("x").map(|(o, _)| o).collect();
        holders.sort();
        assert_eq!(holders, vec!["alice", "bob"]);
        assert!(index.unpublish(&db, "alice", "x").unwrap());
        assert!(!index.unpublish(&db, "alice", "x").unwrap());
        let reloaded = Index::load(&db).unwrap();
        assert_eq!(reloaded.len(), 2);
        assert_eq!(
            reloaded.holders("x").map(|(o, _)| o).collect::<Vec<_>>(),
            vec!["bob"]
        );
    }

    #[test]
    fn holders_go_from_none_to_one_to_many_and_back() {
        let entry = Entry {
            size: 1,
            hash: [1; 32],
        };
        let mut h = Holders::default();
        assert!(h.is_empty());
        h.push((Name::new("a"), entry));
        assert!(matches!(h, Holders::One(_)));
        h.push((Name::new("b"), entry));
        h.push((Name::new("c"), entry));
        let names: Vec<&str> = h.as_slice().iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["a", "b", "c"]);
        h.remove("b");
        h.remove("zzz");
        assert_eq!(h.as_slice().len(), 2);
        h.remove("a");
        h.remove("c");
        assert!(h.is_empty());
        h.push((Name::new("d"), entry));
        h.remove("d");
        assert!(h.is_empty());
    }

    #[test]
    fn sync_replaces_the_owners_list() {
        let db = Db::open_in_memory().unwrap();
        let mut index = Index::default();
        index.publish(&db, "alice", &file("old", 1), false).unwrap();
        index.publish(&db, "bob", &file("keep", 3), false).unwrap();
        index
            .sync(&db, "alice", &[file("new1", 1), file("new2", 2)], true)
            .unwrap();
        index.sync(&db, "alice", &[file("new3", 4)], false).unwrap();
        let names: Vec<String> = index
            .files_of("alice")
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(names, vec!["new1", "new2", "new3"]);
        assert_eq!(index.len(), 4);
        assert_eq!(Index::load(&db).unwrap().len(), 4);
        assert_eq!(index.holders("old").count(), 0);
    }

    #[test]
    fn search_is_case_insensitive_grouped_by_hash_online_only_and_bounded() {
        let db = Db::open_in_memory().unwrap();
        let mut index = Index::default();
        index
            .publish(&db, "alice", &file("Report.PDF", 1), false)
            .unwrap();
        index
            .publish(&db, "bob", &file("Report.PDF", 1), false)
            .unwrap();
        index
            .publish(&db, "carol", &file("Report.PDF", 2), false)
            .unwrap();
        index
            .publish(&db, "dave", &file("report-old.pdf", 3), false)
            .unwrap();
        let online = |u: &str| u != "dave";
        let (hits, truncated) = index.search("report", 10, online);
        assert!(!truncated);
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].owners, vec!["alice", "bob"]);
        assert_eq!(hits[1].owners, vec!["carol"]);
        let (hits, truncated) = index.search("REPORT", 1, |_| true);
        assert_eq!(hits.len(), 1);
        assert!(truncated);
    }

    #[test]
    fn an_owner_publishes_at_most_the_maximum_also_through_sync() {
        let db = Db::open_in_memory().unwrap();
        let mut index = Index::default();
        index.set_max_per_owner(3);
        let files: Vec<FileInfo> = (0..4).map(|i| file(&format!("f{i}"), 1)).collect();
        assert!(matches!(
            index.sync(&db, "alice", &files, true),
            Err(IndexError::TooMany(3))
        ));
        assert_eq!(index.len(), 0, "a refused sync changes nothing");
        index.sync(&db, "alice", &files[..2], true).unwrap();
        assert!(matches!(
            index.sync(&db, "alice", &files[2..], false),
            Err(IndexError::TooMany(3))
        ));
        // Re-announcing names already published does not count twice.
        index.sync(&db, "alice", &files[..2], false).unwrap();
        index.publish(&db, "alice", &files[2], false).unwrap();
        assert!(matches!(
            index.publish(&db, "alice", &files[3], false),
            Err(IndexError::TooMany(3))
        ));
        index.publish(&db, "bob", &files[3], false).unwrap();
        assert_eq!(index.len(), 4);
    }

    #[test]
    fn search_over_a_big_index_is_capped_and_says_so() {
        let db = Db::open_in_memory().unwrap();
        let mut index = Index::default();
        let files: Vec<FileInfo> = (0..20_000)
            .map(|i| file(&format!("song-{i:05}.mp3"), 1))
            .collect();
        index.sync(&db, "alice", &files, true).unwrap();
        let (hits, truncated) = index.search("", 100, |_| true);
        assert_eq!(hits.len(), 100);
        assert!(truncated);
        assert_eq!(hits[0].file.name, "song-00000.mp3", "in name order");
        let (hits, truncated) = index.search("song-1234", 100, |_| true);
        assert_eq!(hits.len(), 10, "song-12340..12349");
        assert!(!truncated);
        assert!(hits.windows(2).all(|w| w[0].file.name < w[1].file.name));
        let (hits, truncated) = index.search("mp3", 100, |_| true);
        assert_eq!(hits.len(), 100);
        assert!(truncated);
        let (hits, truncated) = index.search("", 100, |_| false);
        assert!(
            hits.is_empty() && truncated,
            "offline names: bounded scan, said"
        );
        index.unpublish(&db, "alice", "song-12345.mp3").unwrap();
        assert_eq!(index.search("song-12345", 10, |_| true).0.len(), 0);
    }

    #[test]
    fn lookup_cost_does_not_grow_with_the_index() {
        let db = Db::open_in_memory().unwrap();
        let mut index = Index::default();
        for owner in 0..100 {
            let files: Vec<FileInfo> = (0..1000)
                .map(|i| file(&format!("f{owner}-{i}"), 1))
                .collect();
            index.sync(&db, &format!("u{owner}"), &files, true).unwrap();
        }
        assert_eq!(index.len(), 100_000);
        // One lookup reads one name's holders (none for a miss), not the index.
        let before = index.names_examined.get();
        assert_eq!(index.holders("f42-999").count(), 1);
        assert_eq!(index.names_examined.get() - before, 1);
        assert_eq!(index.holders("nowhere").count(), 0);
        assert_eq!(index.names_examined.get() - before, 1);
    }
}
