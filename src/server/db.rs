//! The server's SQLite database: opening it with the right pragmas and migrating its schema.
//!
//! The schema version lives in `PRAGMA user_version`. [`MIGRATIONS`] is an
//! ordered list; entry `i` takes the database from version `i` to `i + 1`.
//! A module that needs a new table appends an entry — never edits an old one,
//! since databases in the field have already run it.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

/// How long a statement waits for a lock before failing with `SQLITE_BUSY`.
///
/// Only this process writes the database, so contention comes from at most an
/// operator's `sqlite3` shell; the loop must not stall long on it.
const BUSY_TIMEOUT: Duration = Duration::from_millis(50);

/// Schema migrations in order: entry `i` upgrades `user_version` `i` to `i + 1`.
///
/// Append only. Each entry runs inside one transaction together with the
/// `user_version` bump, so a crash mid-migration leaves the old version intact.
pub const MIGRATIONS: &[&str] = &[
    // Version 1: accounts. Names are case-sensitive, hence plain UNIQUE.
    // `hash` is an argon2id PHC string; `created` and `banned_until` are Unix seconds.
    "CREATE TABLE accounts (
        id           INTEGER PRIMARY KEY,
        name         TEXT    NOT NULL UNIQUE,
        hash         TEXT    NOT NULL,
        created      INTEGER NOT NULL,
        banned_until INTEGER NULL
    );",
    // Version 2: the publish index, one row per account and published name.
    "CREATE TABLE published (
        owner TEXT    NOT NULL,
        name  TEXT    NOT NULL,
        size  INTEGER NOT NULL,
        hash  BLOB    NOT NULL,
        PRIMARY KEY (owner, name)
    ) WITHOUT ROWID;",
    // Version 3: the store. `version` names the directory under <data>/store that holds
    // the entry's current content; replacing an entry swaps this pointer.
    "CREATE TABLE store (
        name    TEXT    NOT NULL PRIMARY KEY,
        owner   TEXT    NOT NULL,
        kind    TEXT    NOT NULL,
        files   INTEGER NOT NULL,
        bytes   INTEGER NOT NULL,
        created INTEGER NOT NULL,
        version TEXT    NOT NULL UNIQUE
    );",
    // Version 4: the manifest of each store version, one row per directory and file in
    // the order they were received (directories before what is beneath them), with each
    // file's size and BLAKE3 hash: what a download sends and the client verifies.
    "CREATE TABLE store_files (
        version TEXT    NOT NULL,
        seq     INTEGER NOT NULL,
        path    TEXT    NOT NULL,
        kind    TEXT    NOT NULL,
        size    INTEGER NOT NULL,
        hash    BLOB    NULL,
        PRIMARY KEY (version, seq)
    ) WITHOUT ROWID;",
    // Version 5: each store entry's tree digest (BLAKE3 over its manifest, see
    // `transfer::tree::tree_digest`), so a client that lost the hub's verdict can tell
    // whether the entry is what it sent. Entries from before are filled in at start-up.
    "ALTER TABLE store ADD COLUMN digest BLOB NULL;",
    // Version 6: each account's token version, bound into the resume tokens it is given
    // at login and bumped by a password change or a ban, which so revoke them. A new
    // account gets a random one, so a name deleted and registered again takes no old
    // token; accounts from before start at 0.
    "ALTER TABLE accounts ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0;",
];

/// Errors from opening or migrating the database.
#[derive(Debug)]
pub enum DbError {
    /// SQLite reported an error.
    Sqlite(rusqlite::Error),
    /// The file was written by a newer peerhub whose schema this build does not know.
    TooNew {
        /// The `user_version` found in the file.
        found: i64,
        /// The newest version this build can migrate to.
        known: i64,
    },
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Sqlite(e) => write!(f, "database error: {e}"),
            DbError::TooNew { found, known } => write!(
                f,
                "database schema version {found} is newer than this build knows ({known})"
            ),
        }
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DbError::Sqlite(e) => Some(e),
            DbError::TooNew { .. } => None,
        }
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        DbError::Sqlite(e)
    }
}

/// The server's database connection, opened and migrated to the newest schema.
pub struct Db {
    conn: Connection,
}

impl Db {
    /// Opens (creating if absent) the database file at `path` and migrates it.
    ///
    /// The parent directory must already exist. The file is put in WAL mode
    /// with `synchronous=NORMAL`: a committed transaction survives the process
    /// being killed (only a power loss may drop the last few commits).
    pub fn open(path: &Path) -> Result<Db, DbError> {
        let conn = Connection::open(path)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            log::warn!(
                "database {} runs in journal mode {mode}, not WAL",
                path.display()
            );
        }
        Db::setup(conn)
    }

    /// Opens a fresh, private in-memory database with the full schema (for tests).
    pub fn open_in_memory() -> Result<Db, DbError> {
        Db::setup(Connection::open_in_memory()?)
    }

    /// Applies the per-connection pragmas and runs pending migrations.
    fn setup(conn: Connection) -> Result<Db, DbError> {
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mut db = Db { conn };
        db.migrate()?;
        Ok(db)
    }

    /// Runs every migration newer than the file's `user_version`, each in its own transaction.
    fn migrate(&mut self) -> Result<(), DbError> {
        let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
        let found = self.user_version()?;
        if found > known {
            return Err(DbError::TooNew { found, known });
        }
        for (index, sql) in MIGRATIONS.iter().enumerate() {
            let target = i64::try_from(index + 1).unwrap_or(i64::MAX);
            if target <= found {
                continue;
            }
            // IMMEDIATE takes the write lock up front, so the version check and
            // the change cannot interleave with another writer.
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", target)?;
            tx.commit()?;
            log::info!("database schema migrated to version {target}");
        }
        Ok(())
    }

    /// The schema version recorded in the file (`PRAGMA user_version`).
    pub fn user_version(&self) -> Result<i64, DbError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))?)
    }

    /// The underlying connection, for modules that keep their own tables.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The underlying connection mutably, for `Connection::transaction`.
    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_memory_gets_newest_schema() {
        let db = Db::open_in_memory().unwrap();
        assert_eq!(db.user_version().unwrap(), MIGRATIONS.len() as i64);
        let n: i64 = db
            .conn()
            .query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
        let fk: i64 = db
            .conn()
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
    }

    #[test]
    fn file_is_wal_and_reopens_without_remigrating() {
        let dir = std::env::temp_dir().join(format!("peerhub-db-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("hub.sqlite");
        let _ = std::fs::remove_file(&path);
        {
            let db = Db::open(&path).unwrap();
            let mode: String = db
                .conn()
                .pragma_query_value(None, "journal_mode", |r| r.get(0))
                .unwrap();
            assert_eq!(mode, "wal");
            let sync: i64 = db
                .conn()
                .pragma_query_value(None, "synchronous", |r| r.get(0))
                .unwrap();
            assert_eq!(sync, 1, "synchronous=NORMAL");
            db.conn()
                .execute(
                    "INSERT INTO accounts (name, hash, created) VALUES ('a', 'x', 0)",
                    [],
                )
                .unwrap();
        }
        let db = Db::open(&path).unwrap();
        assert_eq!(db.user_version().unwrap(), MIGRATIONS.len() as i64);
        let n: i64 = db
            .conn()
            .query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        drop(db);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = std::env::temp_dir().join(format!("peerhub-db-new-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("hub.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", 999).unwrap();
        }
        match Db::open(&path) {
            Err(DbError::TooNew { found: 999, .. }) => {}
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("a newer schema was accepted"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_are_case_sensitive() {
        let db = Db::open_in_memory().unwrap();
        let ins = "INSERT INTO accounts (name, hash, created) VALUES (?1, 'x', 0)";
        db.conn().execute(ins, ["Alice"]).unwrap();
        db.conn().execute(ins, ["alice"]).unwrap();
        assert!(db.conn().execute(ins, ["alice"]).is_err());
    }
}
