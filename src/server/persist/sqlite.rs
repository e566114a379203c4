//! The SQLite backend: [`Sqlite`] owns the database ([`Db`], its schema in `db.rs`,
//! the account SQL and argon2 hashing in `accounts.rs`) and answers each [`Ask`] as it
//! comes; the publish index's rows are written here, the store catalogue's in
//! `store/sql.rs`.

use super::{Answer, Answers, Ask, AtOnce, PersistError, Snapshot, Standing};
use crate::proto::message::{FileInfo, Hash};
use crate::server::accounts::AccountError;
use crate::server::db::Db;
use crate::server::store::sql;
use rusqlite::params;

/// The backend the hub runs on: SQLite, answered at once.
pub type SqliteBackend = AtOnce<Sqlite>;

/// The database, as the hub's store of accounts and publications.
pub struct Sqlite {
    db: Db,
}

impl Sqlite {
    /// A backend over an open, migrated database.
    pub fn backend(db: Db) -> SqliteBackend {
        AtOnce::new(Sqlite { db })
    }
}

impl From<AccountError> for PersistError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Exists => PersistError::Exists,
            AccountError::NoSuchAccount => PersistError::NoSuchAccount,
            AccountError::WrongPassword => PersistError::WrongPassword,
            AccountError::BadPassword => PersistError::BadPassword,
            other => PersistError::Failed(other.to_string()),
        }
    }
}

/// A failed request of the store catalogue (`store database: …`).
fn store_failure(e: std::io::Error) -> PersistError {
    PersistError::Failed(e.to_string())
}

/// A failed write of the publish index, worded as it always was.
fn index_failure(e: rusqlite::Error) -> PersistError {
    PersistError::Failed(format!("index database: {e}"))
}

impl Answers for Sqlite {
    fn load(&mut self) -> Result<Snapshot, PersistError> {
        let published = self.published().map_err(index_failure)?;
        let store = sql::load(&self.db).map_err(store_failure)?;
        Ok(Snapshot { published, store })
    }

    fn answer(&mut self, ask: Ask) -> Answer {
        let db = &self.db;
        match ask {
            Ask::Register {
                name,
                password,
                created,
                token_version,
            } => Answer::Done(
                db.register(&name, &password.0, created, token_version)
                    .map_err(Into::into),
            ),
            Ask::Verify { name, password } => Answer::Verified(
                db.verify(&name, &password.0)
                    .and_then(|()| standing(db, &name))
                    .map_err(Into::into),
            ),
            Ask::Standing { name } => Answer::Standing(standing(db, &name).map_err(Into::into)),
            Ask::ChangePassword { name, old, new } => Answer::Done(
                db.change_password(&name, &old.0, &new.0)
                    .map_err(Into::into),
            ),
            Ask::SetPassword { name, password } => {
                Answer::Done(db.set_password(&name, &password.0).map_err(Into::into))
            }
            Ask::SetBan { name, until } => {
                Answer::Done(db.set_ban(&name, until).map_err(Into::into))
            }
            Ask::LiftBan { name, now } => {
                Answer::Lifted(lift_ban(db, &name, now).map_err(Into::into))
            }
            Ask::Bans { now } => Answer::Bans(db.bans(now).map_err(Into::into)),
            Ask::AccountExists { name } => Answer::Exists(db.exists(&name).map_err(Into::into)),
            Ask::CountAccounts => Answer::Count(db.count().map_err(Into::into)),
            Ask::DeleteAccount { name, new_owner } => {
                Answer::Deleted(db.delete_account(&name, &new_owner).map_err(Into::into))
            }
            Ask::Publish { owner, file } => {
                Answer::Done(self.publish(&owner, &file).map_err(index_failure))
            }
            Ask::Unpublish { owner, name } => Answer::Done(
                db.conn()
                    .execute(
                        "DELETE FROM published WHERE owner = ?1 AND name = ?2",
                        params![owner, name],
                    )
                    .map(drop)
                    .map_err(index_failure),
            ),
            Ask::Sync {
                owner,
                files,
                first,
            } => Answer::Done(self.sync(&owner, &files, first).map_err(index_failure)),
            Ask::StoreRecord { entry, items } => {
                Answer::Done(sql::record(&mut self.db, &entry, &items).map_err(store_failure))
            }
            Ask::StoreRemove { name, version } => {
                Answer::Done(sql::remove(&mut self.db, &name, &version).map_err(store_failure))
            }
            Ask::Manifest { version } => {
                Answer::Manifest(sql::manifest(&self.db, &version).map_err(store_failure))
            }
        }
    }
}

/// An account's ban and token version.
fn standing(db: &Db, name: &str) -> Result<Standing, AccountError> {
    let (banned_until, token_version) = db.standing(name)?;
    Ok(Standing {
        banned_until,
        token_version,
    })
}

/// Lift a ban that still runs at `now`; false if there was none.
fn lift_ban(db: &Db, name: &str, now: u64) -> Result<bool, AccountError> {
    match db.ban_until(name)? {
        Some(until) if until > now => db.set_ban(name, None).map(|()| true),
        _ => Ok(false),
    }
}

impl Sqlite {
    /// Every publication (rows with a malformed hash are skipped).
    fn published(&self) -> rusqlite::Result<Vec<(String, FileInfo)>> {
        let mut stmt = self
            .db
            .conn()
            .prepare("SELECT owner, name, size, hash FROM published")?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, Vec<u8>>(3)?,
            ))
        })?;
        let mut published = Vec::new();
        for row in rows {
            let (owner, name, size, hash) = row?;
            let Ok(hash) = Hash::try_from(hash.as_slice()) else {
                continue;
            };
            let size = size as u64;
            published.push((owner, FileInfo { name, size, hash }));
        }
        Ok(published)
    }

    fn publish(&self, owner: &str, file: &FileInfo) -> rusqlite::Result<()> {
        self.db.conn().execute(
            "INSERT OR REPLACE INTO published (owner, name, size, hash) VALUES (?1, ?2, ?3, ?4)",
            params![owner, file.name, file.size as i64, &file.hash[..]],
        )?;
        Ok(())
    }

    /// One chunk of an owner's list in one transaction.
    fn sync(&self, owner: &str, files: &[FileInfo], first: bool) -> rusqlite::Result<()> {
        let tx = self.db.conn().unchecked_transaction()?;
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
        tx.commit()
    }
}
