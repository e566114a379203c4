//! Tests of the SQLite accounts: registration, passwords, bans, the operator's
//! commands, argon2id hashes, nothing in plain text on disk.
use super::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p =
            std::env::temp_dir().join(format!("peerhub-accounts-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn operator_account_commands() {
    let db = Db::open_in_memory().unwrap();
    db.register("alice", "old pw", 0, 0).unwrap();
    db.register("bob", "pw", 0, 0).unwrap();
    db.set_password("alice", "new pw").unwrap();
    db.verify("alice", "new pw").unwrap();
    assert!(db.verify("alice", "old pw").is_err());
    assert!(matches!(
        db.set_password("nobody", "x"),
        Err(AccountError::NoSuchAccount)
    ));
    assert!(matches!(
        db.set_password("alice", ""),
        Err(AccountError::BadPassword)
    ));

    db.set_ban("bob", Some(2_000)).unwrap();
    db.set_ban("alice", Some(500)).unwrap();
    assert_eq!(db.bans(1_000).unwrap(), [("bob".to_owned(), 2_000)]);
    db.set_ban("bob", None).unwrap();
    assert!(db.bans(1_000).unwrap().is_empty());

    db.conn()
        .execute(
            "INSERT INTO store (name, owner, kind, files, bytes, created, version)
             VALUES ('s', 'bob', 'file', 1, 1, 0, 'v1')",
            [],
        )
        .unwrap();
    db.conn()
        .execute(
            "INSERT INTO published (owner, name, size, hash) VALUES ('bob', 'f', 1, x'00')",
            [],
        )
        .unwrap();
    assert_eq!(db.delete_account("bob", "(deleted)").unwrap(), 1);
    assert!(!db.exists("bob").unwrap());
    let owner: String = db
        .conn()
        .query_row("SELECT owner FROM store WHERE name = 's'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(owner, "(deleted)");
    let published: i64 = db
        .conn()
        .query_row("SELECT COUNT(*) FROM published", [], |r| r.get(0))
        .unwrap();
    assert_eq!(published, 0);
    assert!(matches!(
        db.delete_account("bob", "(deleted)"),
        Err(AccountError::NoSuchAccount)
    ));
}

#[test]
fn register_and_verify() {
    let db = Db::open_in_memory().unwrap();
    assert_eq!(db.count().unwrap(), 0);
    db.register("alice", "pw1", 0, 0).unwrap();
    assert!(db.exists("alice").unwrap());
    assert!(!db.exists("Alice").unwrap());
    assert_eq!(db.count().unwrap(), 1);
    db.verify("alice", "pw1").unwrap();
}

#[test]
fn wrong_password_and_missing_account() {
    let db = Db::open_in_memory().unwrap();
    db.register("alice", "pw1", 0, 0).unwrap();
    assert!(matches!(
        db.verify("alice", "pw2"),
        Err(AccountError::WrongPassword)
    ));
    assert!(matches!(
        db.verify("alice", ""),
        Err(AccountError::WrongPassword)
    ));
    assert!(matches!(
        db.verify("bob", "pw1"),
        Err(AccountError::NoSuchAccount)
    ));
}

#[test]
fn duplicate_is_refused() {
    let db = Db::open_in_memory().unwrap();
    db.register("alice", "pw1", 0, 0).unwrap();
    assert!(matches!(
        db.register("alice", "other", 0, 0),
        Err(AccountError::Exists)
    ));
    // Case-sensitive names: a different account.
    db.register("Alice", "pw3", 0, 0).unwrap();
    assert_eq!(db.count().unwrap(), 2);
    db.verify("alice", "pw1").unwrap();
}

#[test]
fn bad_passwords_are_refused() {
    let db = Db::open_in_memory().unwrap();
    assert!(matches!(
        db.register("a", "", 0, 0),
        Err(AccountError::BadPassword)
    ));
    let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
    assert!(matches!(
        db.register("a", &long, 0, 0),
        Err(AccountError::BadPassword)
    ));
    let max = "x".repeat(MAX_PASSWORD_BYTES);
    db.register("a", &max, 0, 0).unwrap();
    db.verify("a", &max).unwrap();
    assert!(matches!(
        db.change_password("a", &max, ""),
        Err(AccountError::BadPassword)
    ));
}

#[test]
fn change_password_works() {
    let db = Db::open_in_memory().unwrap();
    db.register("alice", "old", 0, 0).unwrap();
    assert!(matches!(
        db.change_password("alice", "nope", "new"),
        Err(AccountError::WrongPassword)
    ));
    assert!(matches!(
        db.change_password("bob", "old", "new"),
        Err(AccountError::NoSuchAccount)
    ));
    db.change_password("alice", "old", "new").unwrap();
    db.verify("alice", "new").unwrap();
    assert!(matches!(
        db.verify("alice", "old"),
        Err(AccountError::WrongPassword)
    ));
}

#[test]
fn ban_round_trip() {
    let db = Db::open_in_memory().unwrap();
    db.register("alice", "pw", 0, 0).unwrap();
    assert_eq!(db.ban_until("alice").unwrap(), None);
    db.set_ban("alice", Some(1_900_000_000)).unwrap();
    assert_eq!(db.ban_until("alice").unwrap(), Some(1_900_000_000));
    db.set_ban("alice", Some(u64::MAX)).unwrap();
    assert_eq!(db.ban_until("alice").unwrap(), Some(i64::MAX as u64));
    db.set_ban("alice", None).unwrap();
    assert_eq!(db.ban_until("alice").unwrap(), None);
    assert!(matches!(
        db.set_ban("bob", Some(1)),
        Err(AccountError::NoSuchAccount)
    ));
    assert!(matches!(
        db.ban_until("bob"),
        Err(AccountError::NoSuchAccount)
    ));
}

#[test]
fn stored_hash_is_argon2id_with_chosen_params_and_random_salt() {
    let db = Db::open_in_memory().unwrap();
    db.register("a", "same", 0, 0).unwrap();
    db.register("b", "same", 0, 0).unwrap();
    let ha = db.stored_hash("a").unwrap();
    let hb = db.stored_hash("b").unwrap();
    let prefix = format!("$argon2id$v=19$m={HASH_M_COST_KIB},t={HASH_T_COST},p={HASH_P_COST}$");
    assert!(ha.starts_with(&prefix), "{ha}");
    assert_ne!(ha, hb, "salts must differ");
}

#[test]
fn our_hashes_are_standard_phc_strings() {
    use argon2::password_hash::PasswordVerifier;
    let stored = hash_password("interop").unwrap();
    let parsed = PasswordHash::new(&stored).unwrap();
    Argon2::default()
        .verify_password(b"interop", &parsed)
        .unwrap();
    assert!(Argon2::default()
        .verify_password(b"other", &parsed)
        .is_err());
}

#[test]
fn hashes_with_other_params_still_verify() {
    use argon2::password_hash::PasswordHasher;
    let db = Db::open_in_memory().unwrap();
    let salt = SaltString::generate(&mut rand_core::OsRng);
    let params = Params::new(1024, 1, 1, None).unwrap();
    let old = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(b"legacy", &salt)
        .unwrap()
        .to_string();
    db.conn()
        .execute(
            "INSERT INTO accounts (name, hash, created) VALUES ('old', ?1, 0)",
            [&old],
        )
        .unwrap();
    db.verify("old", "legacy").unwrap();
    assert!(matches!(
        db.verify("old", "legacy2"),
        Err(AccountError::WrongPassword)
    ));
}

#[test]
fn no_plaintext_on_disk() {
    let dir = TempDir::new("plain");
    let path = dir.0.join("hub.sqlite");
    let secret = b"hunter2-secret";
    let scan = |when: &str| {
        for name in ["hub.sqlite", "hub.sqlite-wal", "hub.sqlite-shm"] {
            let p = dir.0.join(name);
            if let Ok(bytes) = std::fs::read(&p) {
                assert!(!contains(&bytes, secret), "plaintext in {name} ({when})");
            }
        }
    };
    {
        let db = Db::open(&path).unwrap();
        db.register("alice", "hunter2-secret", 0, 0).unwrap();
        db.change_password("alice", "hunter2-secret", "hunter2-secret")
            .unwrap();
        // The name is on disk, so the scan is looking at real data.
        let wal = std::fs::read(dir.0.join("hub.sqlite-wal")).unwrap();
        let main = std::fs::read(&path).unwrap();
        assert!(contains(&wal, b"alice") || contains(&main, b"alice"));
        scan("open");
    }
    scan("closed");
}

#[test]
fn persists_across_reopen() {
    let dir = TempDir::new("reopen");
    let path = dir.0.join("hub.sqlite");
    {
        let db = Db::open(&path).unwrap();
        db.register("alice", "pw", 0, 0).unwrap();
        db.set_ban("alice", Some(42)).unwrap();
    }
    let db = Db::open(&path).unwrap();
    assert_eq!(db.count().unwrap(), 1);
    db.verify("alice", "pw").unwrap();
    assert_eq!(db.ban_until("alice").unwrap(), Some(42));
    assert!(matches!(
        db.register("alice", "pw", 0, 0),
        Err(AccountError::Exists)
    ));
}

#[test]
fn password_changes_and_bans_move_the_token_version_on() {
    let db = Db::open_in_memory().unwrap();
    db.register("alice", "pw1", 0, 5).unwrap();
    assert_eq!(db.standing("alice").unwrap(), (None, 5));
    assert!(db.change_password("alice", "wrong", "pw2").is_err());
    assert_eq!(db.standing("alice").unwrap(), (None, 5), "a failed passwd");
    db.change_password("alice", "pw1", "pw2").unwrap();
    assert_eq!(db.standing("alice").unwrap(), (None, 6));
    db.set_password("alice", "pw3").unwrap();
    assert_eq!(db.standing("alice").unwrap(), (None, 7));
    db.set_ban("alice", Some(1_000)).unwrap();
    assert_eq!(db.standing("alice").unwrap(), (Some(1_000), 8));
    assert!(matches!(
        db.standing("nobody"),
        Err(AccountError::NoSuchAccount)
    ));
    // Deleted and registered again: the version the new account is given.
    db.delete_account("alice", "(deleted)").unwrap();
    db.register("alice", "pw", 0, 1 << 61).unwrap();
    assert_eq!(db.standing("alice").unwrap(), (None, 1 << 61));
}
