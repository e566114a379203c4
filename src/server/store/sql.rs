//! The store catalogue in SQLite: table `store` (one row per entry, pointing at its
//! version) and `store_files` (each version's manifest). Loaded once at start; an upload
//! is recorded, and an entry removed, in one transaction committed with
//! `synchronous=FULL` — the point of no return.

use super::{Kind, StoreEntry};
use crate::proto::message::Hash;
use crate::server::db::Db;
use crate::transfer::tree::{tree_digest, TreeItem};
use rusqlite::{params, OptionalExtension};
use std::io;

fn store_err(e: rusqlite::Error) -> io::Error {
    io::Error::other(format!("store database: {e}"))
}

fn kind_parse(text: &str) -> Kind {
    if text == "dir" {
        Kind::Dir
    } else {
        Kind::File
    }
}

/// Every entry, by name, once entries recorded before digests existed have theirs and
/// manifests of versions no entry points to are gone.
pub fn load(db: &Db) -> io::Result<Vec<StoreEntry>> {
    fill_digests(db)?;
    db.conn()
        .execute(
            "DELETE FROM store_files WHERE version NOT IN (SELECT version FROM store)",
            [],
        )
        .map_err(store_err)?;
    let mut stmt = db
        .conn()
        .prepare(
            "SELECT name, owner, kind, files, bytes, created, version, digest FROM store ORDER BY name",
        )
        .map_err(store_err)?;
    let rows = stmt.query_map([], row_entry).map_err(store_err)?;
    rows.collect::<Result<_, _>>().map_err(store_err)
}

/// Give entries recorded before digests existed theirs, from their manifests.
fn fill_digests(db: &Db) -> io::Result<()> {
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
        let digest = tree_digest(&manifest(db, &version)?);
        db.conn()
            .execute(
                "UPDATE store SET digest = ?1 WHERE version = ?2",
                params![digest.to_vec(), version],
            )
            .map_err(store_err)?;
    }
    Ok(())
}

/// Make a flushed upload visible: the entry (pointing at its new version), its manifest
/// and the removal of the manifest of the version it replaces, in one durable
/// transaction. A crash before the commit leaves the new directory unreferenced (swept
/// at the next start); after it, only the old one.
pub fn record(db: &mut Db, entry: &StoreEntry, items: &[TreeItem]) -> io::Result<()> {
    durably(db, |tx| {
        let old: Option<String> = tx
            .query_row(
                "SELECT version FROM store WHERE name = ?1",
                params![entry.name],
                |r| r.get(0),
            )
            .optional()?;
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
                entry.version,
                entry.digest.to_vec()
            ],
        )?;
        let mut insert = tx.prepare(
            "INSERT INTO store_files (version, seq, path, kind, size, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for (seq, item) in items.iter().enumerate() {
            insert.execute(params![
                entry.version,
                seq as i64,
                item.path,
                item.kind.as_str(),
                item.size as i64,
                item.hash.as_ref().map(|h| h.to_vec()),
            ])?;
        }
        if let Some(old) = old.filter(|v| *v != entry.version) {
            tx.execute("DELETE FROM store_files WHERE version = ?1", params![old])?;
        }
        Ok(())
    })
    .map_err(store_err)
}

/// Remove the entry `name` and the manifest of its `version`, durably.
pub fn remove(db: &mut Db, name: &str, version: &str) -> io::Result<()> {
    durably(db, |tx| {
        tx.execute("DELETE FROM store WHERE name = ?1", params![name])?;
        tx.execute(
            "DELETE FROM store_files WHERE version = ?1",
            params![version],
        )?;
        Ok(())
    })
    .map_err(store_err)
}

/// The manifest of a version: its directories and files in upload order.
pub fn manifest(db: &Db, version: &str) -> io::Result<Vec<TreeItem>> {
    let mut stmt = db
        .conn()
        .prepare("SELECT path, kind, size, hash FROM store_files WHERE version = ?1 ORDER BY seq")
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
