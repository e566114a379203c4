//! The hub's file store: entry metadata in SQLite, content under `<data>/store`, one
//! directory per version so a replacement is one pointer swap and a crash leaves no
//! half-visible entry (a start-up sweep removes versions nothing points to).

use super::db::Db;
use crate::proto::message::Hash;
use crate::proto::names;
use crate::proto::status::Status;
use crate::transfer::tree::TreeItem;
use rusqlite::{params, OptionalExtension};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Prefix of a version directory still being written.
const INCOMING_PREFIX: &str = ".incoming-";

/// What an entry holds (a file or a directory tree).
pub use crate::proto::message::StoreKind as Kind;

fn kind_parse(text: &str) -> Kind {
    if text == "dir" {
        Kind::Dir
    } else {
        Kind::File
    }
}

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
}

impl StoreEntry {
    /// The content's path relative to the store root: `<version>/<name>`.
    pub fn content_path(&self) -> PathBuf {
        Path::new(&self.version).join(&self.name)
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

/// An upload being written: its version directory, not yet visible.
#[derive(Debug)]
pub struct Incoming {
    pub version: String,
    /// Relative to the store root.
    pub dir_name: String,
    pub dir: File,
}

/// The store.
pub struct Store {
    root: PathBuf,
    root_dir: File,
    limits: StoreLimits,
}

fn store_err(e: rusqlite::Error) -> io::Error {
    io::Error::other(format!("store database: {e}"))
}

fn random_version() -> io::Result<String> {
    let mut bytes = [0u8; 12];
    rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, &mut bytes)
        .map_err(|e| io::Error::other(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl Store {
    /// Open (creating) `<data>/store` and sweep what no entry points to.
    pub fn open(data: &Path, limits: StoreLimits, db: &Db) -> io::Result<Store> {
        let root = data.join("store");
        std::fs::create_dir_all(&root)?;
        let store = Store {
            root_dir: crate::sys::open_dir(&root)?,
            root,
            limits,
        };
        let swept = store.sweep(db)?;
        if swept > 0 {
            log::info!("store: removed {swept} unfinished or replaced version(s)");
        }
        Ok(store)
    }

    /// The store's root directory (every store file is opened beneath it).
    pub fn root_dir(&self) -> &File {
        &self.root_dir
    }

    /// Remove version directories that no entry points to: uploads interrupted by a
    /// crash and versions replaced just before one.
    pub fn sweep(&self, db: &Db) -> io::Result<usize> {
        let mut live = std::collections::HashSet::new();
        {
            let mut stmt = db
                .conn()
                .prepare("SELECT version FROM store")
                .map_err(store_err)?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(store_err)?;
            for row in rows {
                live.insert(row.map_err(store_err)?);
            }
        }
        db.conn()
            .execute(
                "DELETE FROM store_files WHERE version NOT IN (SELECT version FROM store)",
                [],
            )
            .map_err(store_err)?;
        let mut removed = 0;
        for dirent in std::fs::read_dir(&self.root)? {
            let dirent = dirent?;
            let name = dirent.file_name().to_string_lossy().into_owned();
            if !live.contains(&name) {
                remove_tree(&dirent.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Every entry, by name.
    pub fn list(&self, db: &Db) -> io::Result<Vec<StoreEntry>> {
        let mut stmt = db
            .conn()
            .prepare(
                "SELECT name, owner, kind, files, bytes, created, version FROM store ORDER BY name",
            )
            .map_err(store_err)?;
        let rows = stmt.query_map([], row_entry).map_err(store_err)?;
        rows.collect::<Result<_, _>>().map_err(store_err)
    }

    /// One entry.
    pub fn get(&self, db: &Db, name: &str) -> io::Result<Option<StoreEntry>> {
        db.conn()
            .query_row(
                "SELECT name, owner, kind, files, bytes, created, version FROM store WHERE name = ?1",
                params![name],
                row_entry,
            )
            .optional()
            .map_err(store_err)
    }

    /// Entries and bytes in all.
    pub fn totals(&self, db: &Db) -> io::Result<(u64, u64)> {
        db.conn()
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM store",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .map_err(store_err)
    }

    /// Bytes `user` keeps in the store, leaving out the entry `except` (being replaced).
    fn usage(&self, db: &Db, user: &str, except: &str) -> io::Result<u64> {
        db.conn()
            .query_row(
                "SELECT COALESCE(SUM(bytes), 0) FROM store WHERE owner = ?1 AND name != ?2",
                params![user, except],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(store_err)
    }

    /// May `user` upload `name` (`files` files, `bytes` in all, the largest `largest`)?
    pub fn check_upload(
        &self,
        db: &Db,
        user: &str,
        name: &str,
        replace: bool,
        bytes: u64,
        largest: u64,
    ) -> Result<(), (Status, String)> {
        let internal = |e: io::Error| (Status::INTERNAL, e.to_string());
        names::check_file_name(name).map_err(|e| (Status::INVALID_NAME, e.to_string()))?;
        if let Some(existing) = self.get(db, name).map_err(internal)? {
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
        let limits = self.limits;
        if limits.max_file > 0 && largest > limits.max_file {
            return Err((
                Status::TOO_LARGE,
                format!(
                    "a file of {largest} bytes is over the per-file limit of {} bytes",
                    limits.max_file
                ),
            ));
        }
        if limits.user_quota > 0 {
            let used = self.usage(db, user, name).map_err(internal)?;
            if used.saturating_add(bytes) > limits.user_quota {
                return Err((
                    Status::QUOTA_EXCEEDED,
                    format!(
                        "{bytes} more bytes would pass your quota of {} (you use {used})",
                        limits.user_quota
                    ),
                ));
            }
        }
        let free = crate::sys::free_space(&self.root).map_err(internal)?;
        if free < bytes.saturating_add(limits.reserve) {
            return Err((
                Status::DISK_FULL,
                format!("the hub's disk has {free} bytes free"),
            ));
        }
        Ok(())
    }

    /// Make a fresh, invisible version directory for an upload.
    pub fn begin(&self) -> io::Result<Incoming> {
        let version = random_version()?;
        let dir_name = format!("{INCOMING_PREFIX}{version}");
        crate::sys::mkdir_beneath(&self.root_dir, Path::new(&dir_name))?;
        let dir = crate::sys::open_dir_beneath(&self.root_dir, Path::new(&dir_name))?;
        Ok(Incoming {
            version,
            dir_name,
            dir,
        })
    }

    /// Make a finished upload visible: rename its directory into place, then record the
    /// entry and its manifest (`items`) and swap the pointer in one transaction, then
    /// remove the version it replaced. A crash before the transaction leaves the new
    /// directory unreferenced (swept at the next start); after it, only the old one.
    pub fn commit(
        &self,
        db: &mut Db,
        incoming: Incoming,
        entry: &StoreEntry,
        items: &[TreeItem],
    ) -> io::Result<()> {
        crate::sys::rename_beneath(
            &self.root_dir,
            Path::new(&incoming.dir_name),
            Path::new(&incoming.version),
        )?;
        let old = self.get(db, &entry.name)?;
        let recorded = (|| -> rusqlite::Result<()> {
            let tx = db.conn_mut().transaction()?;
            tx.execute(
                "INSERT OR REPLACE INTO store (name, owner, kind, files, bytes, created, version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    entry.name,
                    entry.owner,
                    entry.kind.as_str(),
                    entry.files as i64,
                    entry.bytes as i64,
                    entry.created as i64,
                    incoming.version
                ],
            )?;
            {
                let mut insert = tx.prepare(
                    "INSERT INTO store_files (version, seq, path, kind, size, hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for (seq, item) in items.iter().enumerate() {
                    insert.execute(params![
                        incoming.version,
                        seq as i64,
                        item.path,
                        item.kind.as_str(),
                        item.size as i64,
                        item.hash.as_ref().map(|h| h.to_vec()),
                    ])?;
                }
            }
            if let Some(old) = &old {
                tx.execute(
                    "DELETE FROM store_files WHERE version = ?1",
                    params![old.version],
                )?;
            }
            tx.commit()
        })();
        if let Err(e) = recorded {
            let _ = remove_tree(&self.root.join(&incoming.version));
            return Err(store_err(e));
        }
        if let Some(old) = old {
            remove_tree(&self.root.join(&old.version))?;
        }
        Ok(())
    }

    /// The manifest of a version: its directories and files in upload order.
    pub fn manifest(&self, db: &Db, version: &str) -> io::Result<Vec<TreeItem>> {
        let mut stmt = db
            .conn()
            .prepare(
                "SELECT path, kind, size, hash FROM store_files WHERE version = ?1 ORDER BY seq",
            )
            .map_err(store_err)?;
        let rows = stmt
            .query_map(params![version], |r| {
                let hash: Option<Vec<u8>> = r.get(3)?;
                Ok(TreeItem {
                    path: r.get(0)?,
                    kind: kind_parse(&r.get::<_, String>(1)?),
                    size: r.get::<_, i64>(2)? as u64,
                    hash: hash.and_then(|h| Hash::try_from(h.as_slice()).ok()),
                })
            })
            .map_err(store_err)?;
        rows.collect::<Result<_, _>>().map_err(store_err)
    }

    /// The directory of a committed version, to open its files beneath.
    pub fn version_dir(&self, version: &str) -> io::Result<File> {
        crate::sys::open_dir_beneath(&self.root_dir, Path::new(version))
    }

    /// Throw away an upload that failed or was cancelled.
    pub fn abort(&self, incoming: Incoming) -> io::Result<()> {
        remove_tree(&self.root.join(&incoming.dir_name))
    }

    /// Remove an entry (operator `rm`); false if there is none.
    pub fn remove(&self, db: &Db, name: &str) -> io::Result<bool> {
        let Some(entry) = self.get(db, name)? else {
            return Ok(false);
        };
        db.conn()
            .execute("DELETE FROM store WHERE name = ?1", params![name])
            .map_err(store_err)?;
        db.conn()
            .execute(
                "DELETE FROM store_files WHERE version = ?1",
                params![entry.version],
            )
            .map_err(store_err)?;
        remove_tree(&self.root.join(&entry.version))?;
        Ok(true)
    }
}

/// Now, in Unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn row_entry(r: &rusqlite::Row) -> rusqlite::Result<StoreEntry> {
    Ok(StoreEntry {
        name: r.get(0)?,
        owner: r.get(1)?,
        kind: kind_parse(&r.get::<_, String>(2)?),
        files: r.get::<_, i64>(3)? as u64,
        bytes: r.get::<_, i64>(4)? as u64,
        created: r.get::<_, i64>(5)? as u64,
        version: r.get(6)?,
    })
}

/// Remove a file or a directory tree, never following symlinks; absent is fine.
fn remove_tree(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh directory under the system temp dir (tests remove it themselves).
    pub(crate) fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "peerhub-store-{tag}-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn limits() -> StoreLimits {
        StoreLimits {
            max_file: 1000,
            user_quota: 1500,
            reserve: 0,
        }
    }

    fn entry(name: &str, owner: &str, bytes: u64) -> StoreEntry {
        StoreEntry {
            name: name.into(),
            owner: owner.into(),
            kind: Kind::File,
            files: 1,
            bytes,
            created: unix_now(),
            version: String::new(),
        }
    }

    fn upload(store: &Store, db: &mut Db, e: &StoreEntry, content: &[u8]) {
        let incoming = store.begin().unwrap();
        let file = crate::sys::open_beneath(
            &incoming.dir,
            Path::new(&e.name),
            crate::sys::OpenFlags::CreateNew,
        )
        .unwrap();
        std::io::Write::write_all(&mut &file, content).unwrap();
        let items = [TreeItem {
            path: e.name.clone(),
            kind: Kind::File,
            size: content.len() as u64,
            hash: Some(*blake3::hash(content).as_bytes()),
        }];
        store.commit(db, incoming, e, &items).unwrap();
        let version = store.get(db, &e.name).unwrap().unwrap().version;
        assert_eq!(store.manifest(db, &version).unwrap(), items);
    }

    #[test]
    fn upload_replace_remove_and_sweep() {
        let data = temp_dir("cycle");
        let mut db = Db::open(&data.join("db")).unwrap();
        let store = Store::open(&data, limits(), &db).unwrap();
        upload(&store, &mut db, &entry("a.txt", "alice", 5), b"hello");
        let first = store.get(&db, "a.txt").unwrap().unwrap();
        assert_eq!(
            std::fs::read(store.root.join(first.content_path())).unwrap(),
            b"hello"
        );
        // Replacing swaps the version and removes the old one.
        upload(&store, &mut db, &entry("a.txt", "alice", 3), b"new");
        let second = store.get(&db, "a.txt").unwrap().unwrap();
        assert_ne!(first.version, second.version);
        assert!(!store.root.join(&first.version).exists());
        assert!(store.manifest(&db, &first.version).unwrap().is_empty());
        assert_eq!(store.totals(&db).unwrap(), (1, 3));
        // An interrupted upload is invisible and swept at the next open.
        let stale = store.begin().unwrap();
        let stale_path = store.root.join(&stale.dir_name);
        assert!(stale_path.exists());
        drop(store);
        let store = Store::open(&data, limits(), &db).unwrap();
        assert!(!stale_path.exists());
        assert_eq!(store.list(&db).unwrap().len(), 1);
        assert!(store.remove(&db, "a.txt").unwrap());
        assert!(!store.remove(&db, "a.txt").unwrap());
        assert_eq!(store.totals(&db).unwrap(), (0, 0));
        std::fs::remove_dir_all(&data).unwrap();
    }

    #[test]
    fn upload_checks() {
        let data = temp_dir("checks");
        let mut db = Db::open(&data.join("db")).unwrap();
        let store = Store::open(&data, limits(), &db).unwrap();
        upload(&store, &mut db, &entry("mine", "alice", 1000), &[0; 1000]);
        let code = |r: Result<(), (Status, String)>| r.err().map(|(s, _)| s.0);
        assert_eq!(
            code(store.check_upload(&db, "bob", "../x", false, 1, 1)),
            Some(408)
        );
        assert_eq!(
            code(store.check_upload(&db, "bob", "mine", true, 1, 1)),
            Some(409)
        );
        assert_eq!(
            code(store.check_upload(&db, "alice", "mine", false, 1, 1)),
            Some(409)
        );
        assert_eq!(
            code(store.check_upload(&db, "alice", "mine", true, 1000, 1000)),
            None
        );
        assert_eq!(
            code(store.check_upload(&db, "alice", "big", false, 1001, 1001)),
            Some(413)
        );
        assert_eq!(
            code(store.check_upload(&db, "alice", "more", false, 600, 600)),
            Some(414)
        );
        assert_eq!(
            code(store.check_upload(&db, "bob", "more", false, 600, 600)),
            None
        );
        std::fs::remove_dir_all(&data).unwrap();
    }
}
