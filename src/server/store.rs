//! The hub's file store: entry metadata in SQLite, content under `<data>/store`, one
//! directory per version so a replacement is one pointer swap and a crash leaves no
//! half-visible entry (a start-up sweep removes versions nothing points to).

use super::db::Db;
use super::tickets::{disk_allows, quota_allows};
use crate::proto::message::Hash;
use crate::proto::names;
use crate::proto::status::Status;
use crate::transfer::tree::TreeItem;
use rusqlite::{params, OptionalExtension};
use std::collections::{HashMap, HashSet};
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
    /// The tree digest of its manifest (`transfer::tree::tree_digest`).
    pub digest: Hash,
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

/// Bytes promised to uploads under way, beside the one being checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct Held {
    /// Announced bytes of the same user's other uploads (against the quota).
    pub reserved: u64,
    /// Announced bytes other uploads have still to write (against the free space).
    pub pending: u64,
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
    /// Downloads reading each version now.
    readers: HashMap<String, u32>,
    /// Versions no entry points to any more, kept until their last reader finishes.
    retired: HashSet<String>,
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
            readers: HashMap::new(),
            retired: HashSet::new(),
        };
        store.fill_digests(db)?;
        let swept = store.sweep(db)?;
        if swept > 0 {
            log::info!("store: removed {swept} unfinished or replaced version(s)");
        }
        Ok(store)
    }

    /// Give entries recorded before digests existed theirs, from their manifests.
    fn fill_digests(&self, db: &Db) -> io::Result<()> {
        let versions: Vec<String> = {
            let mut stmt = db
                .conn()
                .prepare("SELECT version FROM store WHERE digest IS NULL")
                .map_err(store_err)?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(store_err)?;
            rows.collect::<Result<_, _>>().map_err(store_err)?
        };
        for version in versions {
            let digest = crate::transfer::tree::tree_digest(&self.manifest(db, &version)?);
            db.conn()
                .execute(
                    "UPDATE store SET digest = ?1 WHERE version = ?2",
                    params![digest.to_vec(), version],
                )
                .map_err(store_err)?;
        }
        Ok(())
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
                "SELECT name, owner, kind, files, bytes, created, version, digest FROM store ORDER BY name",
            )
            .map_err(store_err)?;
        let rows = stmt.query_map([], row_entry).map_err(store_err)?;
        rows.collect::<Result<_, _>>().map_err(store_err)
    }

    /// One entry.
    pub fn get(&self, db: &Db, name: &str) -> io::Result<Option<StoreEntry>> {
        db.conn()
            .query_row(
                "SELECT name, owner, kind, files, bytes, created, version, digest FROM store WHERE name = ?1",
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

    /// Bytes `user` keeps in the store, leaving out the entry `except` (being replaced;
    /// `""` leaves out nothing).
    pub fn usage(&self, db: &Db, user: &str, except: &str) -> io::Result<u64> {
        db.conn()
            .query_row(
                "SELECT COALESCE(SUM(bytes), 0) FROM store WHERE owner = ?1 AND name != ?2",
                params![user, except],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(store_err)
    }

    /// May `user` upload `name` (`bytes` in all, the largest file `largest`), while
    /// `held` bytes are promised to uploads under way?
    #[allow(clippy::too_many_arguments)]
    pub fn check_upload(
        &self,
        db: &Db,
        user: &str,
        name: &str,
        replace: bool,
        bytes: u64,
        largest: u64,
        held: Held,
    ) -> Result<(), (Status, String)> {
        self.check_name(db, user, name, replace)?;
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
        self.check_room(db, user, name, bytes, held)
    }

    /// The name half of [`Store::check_upload`] (also asked before a tree is walked):
    /// a valid name (408) that is not another user's entry and, without `replace`, not
    /// `user`'s own (409).
    pub fn check_name(
        &self,
        db: &Db,
        user: &str,
        name: &str,
        replace: bool,
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
        Ok(())
    }

    /// The per-user quota in bytes (0: no limit).
    pub fn quota(&self) -> u64 {
        self.limits.user_quota
    }

    /// Does `bytes` more for `user`'s entry `name` fit the quota, the entry it replaces
    /// left out and `held.reserved` bytes of the user's other uploads counted, and the
    /// disk, keeping `--store-reserve` free after the `held.pending` bytes other
    /// uploads have still to write?
    pub fn check_room(
        &self,
        db: &Db,
        user: &str,
        name: &str,
        bytes: u64,
        held: Held,
    ) -> Result<(), (Status, String)> {
        self.check_quota(db, user, name, bytes, held.reserved)?;
        self.check_disk(bytes, held.pending)
    }

    /// The quota half of [`Store::check_room`] (checked again at commit).
    pub fn check_quota(
        &self,
        db: &Db,
        user: &str,
        name: &str,
        bytes: u64,
        reserved: u64,
    ) -> Result<(), (Status, String)> {
        if self.limits.user_quota == 0 {
            return Ok(());
        }
        let used = self
            .usage(db, user, name)
            .map_err(|e| (Status::INTERNAL, e.to_string()))?;
        quota_allows(self.limits.user_quota, used, reserved, bytes).map_err(|r| (r.status, r.text))
    }

    /// The disk half of [`Store::check_room`] (checked again at commit).
    pub fn check_disk(&self, bytes: u64, pending: u64) -> Result<(), (Status, String)> {
        let free =
            crate::sys::free_space(&self.root).map_err(|e| (Status::INTERNAL, e.to_string()))?;
        disk_allows(free, bytes, self.limits.reserve, pending).map_err(|r| (r.status, r.text))
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

    /// Make a flushed upload visible (`flushed` is how its flush ended, see
    /// [`super::storesync::Syncing`]; the version has its final name if it succeeded):
    /// record the entry, its manifest and the pointer swap in one transaction with
    /// `synchronous=FULL` — the point of no return: once it commits, a crash or a power
    /// cut keeps the new version. The version it replaced is removed after, or once its
    /// last reader finishes. A crash before the commit leaves the new directory
    /// unreferenced (swept at the next start); after it, only the old one.
    pub fn record(
        &mut self,
        db: &mut Db,
        incoming: Incoming,
        flushed: io::Result<()>,
        entry: &StoreEntry,
        items: &[TreeItem],
    ) -> io::Result<()> {
        if let Err(e) = flushed {
            let _ = remove_tree(&self.root.join(&incoming.dir_name));
            let _ = remove_tree(&self.root.join(&incoming.version));
            return Err(e);
        }
        let old = self.get(db, &entry.name)?;
        let recorded = durably(db, |tx| {
            tx.execute(
                "INSERT OR REPLACE INTO store (name, owner, kind, files, bytes, created, version, digest)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    entry.name,
                    entry.owner,
                    entry.kind.as_str(),
                    entry.files as i64,
                    entry.bytes as i64,
                    entry.created as i64,
                    incoming.version,
                    crate::transfer::tree::tree_digest(items).to_vec()
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
            Ok(())
        });
        if let Err(e) = recorded {
            let _ = remove_tree(&self.root.join(&incoming.version));
            return Err(store_err(e));
        }
        if let Some(old) = old {
            self.retire(&old.version)?;
        }
        Ok(())
    }

    /// A version no entry points to any more: removed now, or by its last reader.
    fn retire(&mut self, version: &str) -> io::Result<()> {
        if self.readers.contains_key(version) {
            self.retired.insert(version.to_owned());
            return Ok(());
        }
        remove_tree(&self.root.join(version))
    }

    /// A download starts reading `version`.
    pub fn add_reader(&mut self, version: &str) {
        *self.readers.entry(version.to_owned()).or_insert(0) += 1;
    }

    /// A download of `version` ended; the last reader of a retired version removes it.
    pub fn drop_reader(&mut self, version: &str) {
        let Some(n) = self.readers.get_mut(version) else {
            return;
        };
        *n = n.saturating_sub(1);
        if *n > 0 {
            return;
        }
        self.readers.remove(version);
        if self.retired.remove(version) {
            if let Err(e) = remove_tree(&self.root.join(version)) {
                log::warn!("store: could not remove replaced version {version}: {e}");
            }
        }
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

    /// Remove an entry (operator `rm`); false if there is none. Its content goes now,
    /// or when the last download reading it finishes.
    pub fn remove(&mut self, db: &mut Db, name: &str) -> io::Result<bool> {
        let Some(entry) = self.get(db, name)? else {
            return Ok(false);
        };
        durably(db, |tx| {
            tx.execute("DELETE FROM store WHERE name = ?1", params![name])?;
            tx.execute(
                "DELETE FROM store_files WHERE version = ?1",
                params![entry.version],
            )?;
            Ok(())
        })
        .map_err(store_err)?;
        self.retire(&entry.version)?;
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
        digest: r
            .get::<_, Option<Vec<u8>>>(7)?
            .and_then(|d| Hash::try_from(d.as_slice()).ok())
            .unwrap_or([0; 32]),
    })
}

/// Run `work` in one transaction committed with `synchronous=FULL`, so that a power
/// cut cannot undo it (the database otherwise runs with `NORMAL`).
fn durably(
    db: &mut Db,
    work: impl FnOnce(&rusqlite::Transaction) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    db.conn().pragma_update(None, "synchronous", "FULL")?;
    let done = (|| {
        let tx = db.conn_mut().transaction()?;
        work(&tx)?;
        tx.commit()
    })();
    let restored = db.conn().pragma_update(None, "synchronous", "NORMAL");
    done.and(restored)
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
    use crate::server::storesync::SyncSlice;

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
            digest: [0; 32],
        }
    }

    fn upload(store: &mut Store, db: &mut Db, e: &StoreEntry, content: &[u8]) {
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
        let flushed = crate::server::storesync::Syncing::new()
            .turn(&store.root_dir, &incoming, &items, SyncSlice::ALL)
            .map(|done| assert!(done));
        store.record(db, incoming, flushed, e, &items).unwrap();
        let version = store.get(db, &e.name).unwrap().unwrap().version;
        assert_eq!(store.manifest(db, &version).unwrap(), items);
    }

    #[test]
    fn upload_replace_remove_and_sweep() {
        let data = temp_dir("cycle");
        let mut db = Db::open(&data.join("db")).unwrap();
        let mut store = Store::open(&data, limits(), &db).unwrap();
        upload(&mut store, &mut db, &entry("a.txt", "alice", 5), b"hello");
        let first = store.get(&db, "a.txt").unwrap().unwrap();
        assert_eq!(
            std::fs::read(store.root.join(first.content_path())).unwrap(),
            b"hello"
        );
        // Replacing swaps the version and removes the old one.
        upload(&mut store, &mut db, &entry("a.txt", "alice", 3), b"new");
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
        let mut store = Store::open(&data, limits(), &db).unwrap();
        assert!(!stale_path.exists());
        assert_eq!(store.list(&db).unwrap().len(), 1);
        assert!(store.remove(&mut db, "a.txt").unwrap());
        assert!(!store.remove(&mut db, "a.txt").unwrap());
        assert_eq!(store.totals(&db).unwrap(), (0, 0));
        std::fs::remove_dir_all(&data).unwrap();
    }

    #[test]
    fn a_replaced_or_removed_version_stays_until_its_last_reader_ends() {
        let data = temp_dir("readers");
        let mut db = Db::open(&data.join("db")).unwrap();
        let mut store = Store::open(&data, limits(), &db).unwrap();
        upload(&mut store, &mut db, &entry("r", "alice", 3), b"one");
        let first = store.get(&db, "r").unwrap().unwrap();
        store.add_reader(&first.version);
        store.add_reader(&first.version);
        upload(&mut store, &mut db, &entry("r", "alice", 3), b"two");
        let second = store.get(&db, "r").unwrap().unwrap();
        assert!(store.root.join(first.content_path()).exists());
        store.drop_reader(&first.version);
        assert_eq!(
            std::fs::read(store.root.join(first.content_path())).unwrap(),
            b"one"
        );
        store.drop_reader(&first.version);
        assert!(!store.root.join(&first.version).exists());
        // Removal waits for the reader the same way.
        store.add_reader(&second.version);
        assert!(store.remove(&mut db, "r").unwrap());
        assert!(store.root.join(second.content_path()).exists());
        store.drop_reader(&second.version);
        assert!(!store.root.join(&second.version).exists());
        // A version still read is not retired by a reader of another.
        upload(&mut store, &mut db, &entry("s", "alice", 1), b"x");
        let s = store.get(&db, "s").unwrap().unwrap();
        store.drop_reader(&s.version);
        assert!(store.root.join(s.content_path()).exists());
        std::fs::remove_dir_all(&data).unwrap();
    }

    #[test]
    fn upload_checks() {
        let data = temp_dir("checks");
        let mut db = Db::open(&data.join("db")).unwrap();
        let mut store = Store::open(&data, limits(), &db).unwrap();
        upload(
            &mut store,
            &mut db,
            &entry("mine", "alice", 1000),
            &[0; 1000],
        );
        let code = |r: Result<(), (Status, String)>| r.err().map(|(s, _)| s.0);
        let none = Held::default();
        assert_eq!(
            code(store.check_upload(&db, "bob", "../x", false, 1, 1, none)),
            Some(408)
        );
        assert_eq!(
            code(store.check_upload(&db, "bob", "mine", true, 1, 1, none)),
            Some(409)
        );
        assert_eq!(
            code(store.check_upload(&db, "alice", "mine", false, 1, 1, none)),
            Some(409)
        );
        assert_eq!(
            code(store.check_upload(&db, "alice", "mine", true, 1000, 1000, none)),
            None
        );
        assert_eq!(
            code(store.check_upload(&db, "alice", "big", false, 1001, 1001, none)),
            Some(413)
        );
        assert_eq!(
            code(store.check_upload(&db, "alice", "more", false, 600, 600, none)),
            Some(414)
        );
        assert_eq!(
            code(store.check_upload(&db, "bob", "more", false, 600, 600, none)),
            None
        );
        // Bytes of uploads under way count: bob has 1000 on their way of his 1500.
        let held = Held {
            reserved: 1000,
            pending: 0,
        };
        assert_eq!(
            code(store.check_upload(&db, "bob", "more", false, 600, 600, held)),
            Some(414)
        );
        let held = Held {
            reserved: 0,
            pending: u64::MAX / 2,
        };
        assert_eq!(
            code(store.check_upload(&db, "bob", "more", false, 1, 1, held)),
            Some(507)
        );
        std::fs::remove_dir_all(&data).unwrap();
    }
}
