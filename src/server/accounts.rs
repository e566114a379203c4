//! Accounts in SQLite: registration, password checks and bans, with argon2id password hashes.
//!
//! Passwords are stored only as argon2id PHC strings (`$argon2id$v=19$m=…`)
//! with a random per-account salt. The server is single-threaded and its loop
//! stalls while hashing, so the cost is set for a few milliseconds per hash
//! (see [`hash_params`]). Verification reads the parameters from the stored
//! string, so raising the cost later keeps old hashes valid.

use std::cell::RefCell;
use std::fmt;

use argon2::password_hash::{self, Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rusqlite::{params, ErrorCode, OptionalExtension};

use super::db::Db;

/// The longest password accepted, in bytes.
pub const MAX_PASSWORD_BYTES: usize = crate::proto::names::MAX_PASSWORD_BYTES;

/// Argon2 memory cost in KiB (see [`hash_params`]).
pub const HASH_M_COST_KIB: u32 = 4096;
/// Argon2 iterations (see [`hash_params`]).
pub const HASH_T_COST: u32 = 2;
/// Argon2 lanes (see [`hash_params`]).
pub const HASH_P_COST: u32 = 1;

/// Checked at compile time: `Params::new` is a `const fn`, so bad constants fail the build.
const PARAMS: Params = match Params::new(HASH_M_COST_KIB, HASH_T_COST, HASH_P_COST, None) {
    Ok(p) => p,
    Err(_) => panic!("invalid argon2 parameters"),
};

/// The argon2id parameters used for new hashes: m = 4096 KiB, t = 2, p = 1.
///
/// Measured on the development machine (2 vCPUs, release build, argon2 0.5.3):
/// about 2.4 ms per hash (best 2.39 ms, mean 2.47 ms over 50 hashes), and
/// 2.6 ms for a whole [`Db::register`] or [`Db::verify`] (mean over 200). For
/// comparison, m = 2048/t = 2 took 1.1 ms, m = 6144/t = 2 3.8 ms, m = 8192/t = 2
/// 5.3 ms and the crate default (m = 19456, t = 2) 14 ms — too long a stall for
/// a single-threaded loop. 2.4 ms sits mid-way in the 1–5 ms budget, leaving
/// room for slower machines.
///
/// Re-measured 2026-12-04 on a slower machine of the same size (argon2 0.5.3, these
/// parameters, 50 hashes, two runs): best 4.41–4.55 ms, median 4.68–4.76 ms — the top
/// of that budget. The hub computes at most a few hashes per turn of its loop, so a
/// login storm stalls one turn by about four hashes' worth there (about 19 ms).
pub fn hash_params() -> Params {
    PARAMS
}

/// Errors from account operations.
#[derive(Debug)]
pub enum AccountError {
    /// Registration failed: the name is taken.
    Exists,
    /// No account has that name.
    NoSuchAccount,
    /// The password does not match the stored hash.
    WrongPassword,
    /// The password is empty or longer than [`MAX_PASSWORD_BYTES`].
    BadPassword,
    /// Hashing failed, or the stored hash could not be parsed.
    Hash(password_hash::Error),
    /// The database reported an error.
    Db(rusqlite::Error),
}

impl fmt::Display for AccountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountError::Exists => f.write_str("account already exists"),
            AccountError::NoSuchAccount => f.write_str("no such account"),
            AccountError::WrongPassword => f.write_str("wrong password"),
            AccountError::BadPassword => {
                write!(f, "password must be 1 to {MAX_PASSWORD_BYTES} bytes long")
            }
            AccountError::Hash(e) => write!(f, "password hash error: {e}"),
            AccountError::Db(e) => write!(f, "account database error: {e}"),
        }
    }
}

impl std::error::Error for AccountError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AccountError::Db(e) => Some(e),
            // password_hash::Error implements std::error::Error only with its
            // `std` feature, which argon2 does not enable by default.
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for AccountError {
    fn from(e: rusqlite::Error) -> Self {
        AccountError::Db(e)
    }
}

/// A new password hash (`?1`) for the account `?2`; its token version moves on, which
/// revokes its resume tokens (versions start below 2^62: this never overflows).
const NEW_PASSWORD: &str =
    "UPDATE accounts SET hash = ?1, token_version = token_version + 1 WHERE name = ?2";

/// A token version as SQLite stores it (a signed integer).
fn version_to_sql(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}

/// Rejects empty and over-long passwords.
fn check_password(password: &str) -> Result<(), AccountError> {
    if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
        Err(AccountError::BadPassword)
    } else {
        Ok(())
    }
}

thread_local! {
    /// Hashing memory, allocated once and reused. A fresh 4 MiB per hash, freed between
    /// the small long-lived allocations of a busy hub, fragmented its heap: measured,
    /// the RSS grew by megabytes per login when logins and publications interleaved.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Most memory a stored hash may ask for (its parameters come from the database).
const MAX_BLOCKS: usize = 256 * 1024;

/// Run argon2 into `out` with the reused memory.
fn compute(
    argon: &Argon2,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> password_hash::Result<()> {
    let blocks = params.block_count();
    if blocks > MAX_BLOCKS {
        return Err(password_hash::Error::ParamValueInvalid(
            password_hash::errors::InvalidValue::TooLong,
        ));
    }
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        let blocks = memory
            .get_mut(..blocks)
            .ok_or(password_hash::Error::Crypto)?;
        argon
            .hash_password_into_with_memory(password, salt, out, blocks)
            .map_err(|_| password_hash::Error::Crypto)
    })
}

/// Hashes `password` with a fresh random salt into an argon2id PHC string.
fn hash_password(password: &str) -> Result<String, AccountError> {
    let salt = SaltString::generate(&mut rand_core::OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut salt_buf)
        .map_err(AccountError::Hash)?;
    let params = hash_params();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        compute(&argon, &params, password.as_bytes(), salt_bytes, out)
    })
    .map_err(AccountError::Hash)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(AccountError::Hash)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Checks `password` against a stored PHC string, using the parameters it records.
fn verify_hash(password: &str, stored: &str) -> Result<(), AccountError> {
    let parsed = PasswordHash::new(stored).map_err(AccountError::Hash)?;
    // Algorithm, version and cost come from the stored string, so hashes made with
    // older parameters still verify.
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(AccountError::Hash)?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(|e| AccountError::Hash(e.into()))?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).map_err(AccountError::Hash)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(AccountError::Hash(password_hash::Error::PhcStringField));
    };
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(AccountError::Hash)?;
    let argon = Argon2::new(algorithm, version, params.clone());
    let computed = Output::init_with(expected.len(), |out| {
        compute(&argon, &params, password.as_bytes(), salt_bytes, out)
    })
    .map_err(AccountError::Hash)?;
    // Output's equality is constant-time.
    if computed == expected {
        Ok(())
    } else {
        Err(AccountError::WrongPassword)
    }
}

impl Db {
    /// Creates an account (`created`: Unix seconds) with its first token version. Fails
    /// with [`AccountError::Exists`] if the name is taken.
    ///
    /// Names are compared case-sensitively; validating their shape is the caller's job.
    pub fn register(
        &self,
        name: &str,
        password: &str,
        created: u64,
        token_version: u64,
    ) -> Result<(), AccountError> {
        check_password(password)?;
        // Checked first so a taken name does not cost a hash.
        if self.exists(name)? {
            return Err(AccountError::Exists);
        }
        let hash = hash_password(password)?;
        let inserted = self.conn().execute(
            "INSERT INTO accounts (name, hash, created, token_version) VALUES (?1, ?2, ?3, ?4)",
            params![
                name,
                hash,
                i64::try_from(created).unwrap_or(i64::MAX),
                version_to_sql(token_version)
            ],
        );
        match inserted {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == ErrorCode::ConstraintViolation =>
            {
                Err(AccountError::Exists)
            }
            Err(e) => Err(AccountError::Db(e)),
        }
    }

    /// Checks a name and password: [`AccountError::NoSuchAccount`] or
    /// [`AccountError::WrongPassword`] on failure.
    ///
    /// Bans are not checked here; see [`Db::ban_until`].
    pub fn verify(&self, name: &str, password: &str) -> Result<(), AccountError> {
        let stored = self.stored_hash(name)?;
        // An empty or over-long password cannot have been registered; refusing it
        // here also bounds the hashing work a client can ask for.
        check_password(password).map_err(|_| AccountError::WrongPassword)?;
        verify_hash(password, &stored)
    }

    /// Replaces the password of `name` after checking `old`.
    pub fn change_password(&self, name: &str, old: &str, new: &str) -> Result<(), AccountError> {
        check_password(new)?;
        self.verify(name, old)?;
        self.update_account(NEW_PASSWORD, params![hash_password(new)?, name])
    }

    /// The number of accounts.
    pub fn count(&self) -> Result<u64, AccountError> {
        let n: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM accounts", [], |row| row.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Whether an account called `name` exists.
    pub fn exists(&self, name: &str) -> Result<bool, AccountError> {
        let found = self
            .conn()
            .query_row("SELECT 1 FROM accounts WHERE name = ?1", [name], |_| Ok(()))
            .optional()?;
        Ok(found.is_some())
    }

    /// Bans `name` until `until_unix_secs`, or lifts the ban with `None`; either way the
    /// account's resume tokens are revoked (its token version moves on).
    ///
    /// Fails with [`AccountError::NoSuchAccount`] if there is no such account.
    pub fn set_ban(&self, name: &str, until_unix_secs: Option<u64>) -> Result<(), AccountError> {
        // SQLite integers are signed; a ban past year 292 billion is a ban forever anyway.
        let until = until_unix_secs.map(|t| i64::try_from(t).unwrap_or(i64::MAX));
        self.update_account(
            "UPDATE accounts SET banned_until = ?1, token_version = token_version + 1 WHERE name = ?2",
            params![until, name],
        )
    }

    /// What a login checks beside the password: until when `name` is banned (as stored,
    /// maybe past) and its token version.
    pub fn standing(&self, name: &str) -> Result<(Option<u64>, u64), AccountError> {
        let row: Option<(Option<i64>, i64)> = self
            .conn()
            .query_row(
                "SELECT banned_until, token_version FROM accounts WHERE name = ?1",
                [name],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let (until, version) = row.ok_or(AccountError::NoSuchAccount)?;
        let unsigned = |t: i64| u64::try_from(t).unwrap_or(0);
        Ok((until.map(unsigned), unsigned(version)))
    }

    /// Runs `sql`, an `UPDATE` of the one account its `params` name: changing no row
    /// means there is no such account.
    fn update_account(&self, sql: &str, params: impl rusqlite::Params) -> Result<(), AccountError> {
        if self.conn().execute(sql, params)? == 0 {
            return Err(AccountError::NoSuchAccount);
        }
        Ok(())
    }

    /// The Unix time until which `name` is banned, or `None` if it is not banned.
    ///
    /// The stored time is returned as is, even if already past; comparing it
    /// with the current time is the caller's job.
    pub fn ban_until(&self, name: &str) -> Result<Option<u64>, AccountError> {
        let row: Option<Option<i64>> = self
            .conn()
            .query_row(
                "SELECT banned_until FROM accounts WHERE name = ?1",
                [name],
                |row| row.get(0),
            )
            .optional()?;
        match row {
            None => Err(AccountError::NoSuchAccount),
            Some(until) => Ok(until.map(|t| u64::try_from(t).unwrap_or(0))),
        }
    }

    /// Sets a new password for `name` without the old one (the operator's `setpass`).
    pub fn set_password(&self, name: &str, new: &str) -> Result<(), AccountError> {
        check_password(new)?;
        if !self.exists(name)? {
            return Err(AccountError::NoSuchAccount);
        }
        self.update_account(NEW_PASSWORD, params![hash_password(new)?, name])
    }

    /// The accounts banned at `now_unix_secs`, by name, with when each ban ends.
    pub fn bans(&self, now_unix_secs: u64) -> Result<Vec<(String, u64)>, AccountError> {
        let now = i64::try_from(now_unix_secs).unwrap_or(i64::MAX);
        let mut query = self.conn().prepare(
            "SELECT name, banned_until FROM accounts WHERE banned_until > ?1 ORDER BY name",
        )?;
        let rows = query.query_map([now], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?;
        let mut bans = Vec::new();
        for row in rows {
            let (name, until) = row?;
            bans.push((name, u64::try_from(until).unwrap_or(0)));
        }
        Ok(bans)
    }

    /// Deletes the account `name` and its publications; its store entries stay, owned
    /// by `new_owner` (a name no account can take). Returns how many entries moved.
    pub fn delete_account(&self, name: &str, new_owner: &str) -> Result<u64, AccountError> {
        let tx = self.conn().unchecked_transaction()?;
        let deleted = tx.execute("DELETE FROM accounts WHERE name = ?1", [name])?;
        if deleted == 0 {
            return Err(AccountError::NoSuchAccount);
        }
        tx.execute("DELETE FROM published WHERE owner = ?1", [name])?;
        let moved = tx.execute(
            "UPDATE store SET owner = ?1 WHERE owner = ?2",
            params![new_owner, name],
        )?;
        tx.commit()?;
        Ok(moved as u64)
    }

    /// The stored PHC string for `name`.
    fn stored_hash(&self, name: &str) -> Result<String, AccountError> {
        self.conn()
            .query_row("SELECT hash FROM accounts WHERE name = ?1", [name], |row| {
                row.get(0)
            })
            .optional()?
            .ok_or(AccountError::NoSuchAccount)
    }
}

#[cfg(test)]
mod tests;
