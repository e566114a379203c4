//! Walking what `upload` was given: one regular file, or a directory tree in pre-order
//! (every directory before what is beneath it). Symlinks are never followed and, like
//! special files and names the store refuses, are skipped with a reason; the contents
//! are later opened beneath the tree's root by the kernel (`openat2`, no symlinks).

use super::session::Scanned;
use crate::proto::message::StoreKind;
use crate::proto::names;
use crate::proto::status::Status;
use crate::proto::store::MAX_DEPTH;
use crate::sys;
use crate::transfer::tree::{Totals, TreeItem};
use std::fs::File;
use std::path::{Path, PathBuf};

/// A tree ready to upload: its root directory and its items, each with the path of its
/// content beneath that root.
pub struct Prepared {
    pub root: File,
    pub items: Vec<(TreeItem, PathBuf)>,
}

/// The store name an upload of `path` (relative to the working directory) goes under:
/// `name`, or the path's own name. Reads nothing beneath the path, so that the name can
/// be checked with the hub before the tree is walked.
pub fn upload_name(path: &str, name: Option<&str>) -> Result<String, (Status, String)> {
    resolve(path, name).map(|(_, _, name)| name)
}

/// The canonical path, its metadata and the store name of an upload of `path`.
fn resolve(
    path: &str,
    name: Option<&str>,
) -> Result<(PathBuf, std::fs::Metadata, String), (Status, String)> {
    let canonical = Path::new(path)
        .canonicalize()
        .map_err(|e| (Status::NO_FILE, format!("{path}: {e}")))?;
    let meta =
        std::fs::metadata(&canonical).map_err(|e| (Status::NO_FILE, format!("{path}: {e}")))?;
    let own = canonical
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned);
    let name = match name {
        Some(n) => n.to_owned(),
        None => own.clone().ok_or_else(|| {
            (
                Status::INVALID_NAME,
                format!("{path} has no usable name; give one: upload <path> <name>"),
            )
        })?,
    };
    names::check_published_name(&name).map_err(|e| (Status::INVALID_NAME, e.0))?;
    if let Some(own) = own.as_deref().filter(|n| names::is_reserved(n)) {
        return Err((
            Status::INVALID_NAME,
            format!("{own} is one of the client's own files: it is never uploaded"),
        ));
    }
    Ok((canonical, meta, name))
}

/// Walk `path` (relative to the working directory) for an upload as `name` (default:
/// the path's own name), refusing trees of more than `max_items` items.
pub fn scan(
    path: &str,
    name: Option<&str>,
    max_items: usize,
) -> Result<(Scanned, Prepared), (Status, String)> {
    let (canonical, meta, name) = resolve(path, name)?;
    let open =
        |p: &Path| sys::open_dir(p).map_err(|e| (Status::NO_FILE, format!("{}: {e}", p.display())));
    if meta.is_file() {
        let parent = canonical.parent().unwrap_or(Path::new("/"));
        let file_name = canonical
            .file_name()
            .map(PathBuf::from)
            .ok_or_else(|| (Status::BAD_REQUEST, format!("{path} is not a file")))?;
        let item = TreeItem {
            path: name.clone(),
            kind: StoreKind::File,
            size: meta.len(),
            hash: None,
        };
        let scanned = Scanned {
            name,
            kind: StoreKind::File,
            totals: Totals {
                files: 1,
                dirs: 0,
                bytes: meta.len(),
            },
            largest: meta.len(),
            skipped: Vec::new(),
        };
        let prepared = Prepared {
            root: open(parent)?,
            items: vec![(item, file_name)],
        };
        return Ok((scanned, prepared));
    }
    if !meta.is_dir() {
        return Err((
            Status::BAD_REQUEST,
            format!("{path} is neither a regular file nor a directory"),
        ));
    }
    let mut items = vec![(
        TreeItem {
            path: name.clone(),
            kind: StoreKind::Dir,
            size: 0,
            hash: None,
        },
        PathBuf::from("."),
    )];
    let mut skipped = Vec::new();
    walk(
        &canonical,
        &name,
        Path::new(""),
        1,
        max_items,
        &mut items,
        &mut skipped,
    )?;
    let tree: Vec<TreeItem> = items.iter().map(|(i, _)| i.clone()).collect();
    let totals = Totals::of(&tree);
    let largest = tree.iter().map(|i| i.size).max().unwrap_or(0);
    Ok((
        Scanned {
            name,
            kind: StoreKind::Dir,
            totals,
            largest,
            skipped,
        },
        Prepared {
            root: open(&canonical)?,
            items,
        },
    ))
}

/// Add what is beneath `dir` (its wire path `wire`, its path `rel` beneath the root).
#[allow(clippy::too_many_arguments)]
fn walk(
    dir: &Path,
    wire: &str,
    rel: &Path,
    depth: usize,
    max_items: usize,
    items: &mut Vec<(TreeItem, PathBuf)>,
    skipped: &mut Vec<(String, String)>,
) -> Result<(), (Status, String)> {
    let listing =
        std::fs::read_dir(dir).map_err(|e| (Status::NO_FILE, format!("{}: {e}", dir.display())))?;
    let mut entries: Vec<_> = listing.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let os_name = entry.file_name();
        let shown = rel.join(&os_name).display().to_string();
        let Some(part) = os_name.to_str() else {
            skipped.push((shown, "the name is not valid UTF-8".into()));
            continue;
        };
        if let Err(e) = names::check_file_name(part) {
            skipped.push((shown, format!("the store does not take this name ({e})")));
            continue;
        }
        if names::is_reserved(part) {
            skipped.push((shown, "one of the client's own files (.peerhub-*)".into()));
            continue;
        }
        let kind = match entry.file_type() {
            Ok(t) if t.is_symlink() => {
                skipped.push((shown, "a symbolic link (never followed)".into()));
                continue;
            }
            Ok(t) if t.is_dir() => StoreKind::Dir,
            Ok(t) if t.is_file() => StoreKind::File,
            Ok(_) => {
                skipped.push((shown, "not a regular file or directory".into()));
                continue;
            }
            Err(e) => {
                skipped.push((shown, e.to_string()));
                continue;
            }
        };
        if depth + 1 > MAX_DEPTH {
            return Err((
                Status::TOO_LARGE,
                format!("{shown} is nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        if items.len() >= max_items {
            return Err((
                Status::TOO_LARGE,
                format!("more than {max_items} files and directories"),
            ));
        }
        let child_wire = format!("{wire}/{part}");
        let child_rel = rel.join(part);
        match kind {
            StoreKind::Dir => {
                items.push((
                    TreeItem {
                        path: child_wire.clone(),
                        kind,
                        size: 0,
                        hash: None,
                    },
                    child_rel.clone(),
                ));
                walk(
                    &entry.path(),
                    &child_wire,
                    &child_rel,
                    depth + 1,
                    max_items,
                    items,
                    skipped,
                )?;
            }
            StoreKind::File => {
                let size = entry
                    .metadata()
                    .map_err(|e| (Status::NO_FILE, format!("{shown}: {e}")))?
                    .len();
                items.push((
                    TreeItem {
                        path: child_wire,
                        kind,
                        size,
                        hash: None,
                    },
                    child_rel,
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_in_pre_order_without_symlinks() {
        let dir = std::env::temp_dir().join(format!(
            "peerhub-scan-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let top = dir.join("top");
        std::fs::create_dir_all(top.join("b/c")).unwrap();
        std::fs::write(top.join("a.txt"), b"12345").unwrap();
        std::fs::write(top.join("b/c/d"), b"").unwrap();
        std::os::unix::fs::symlink("/etc", top.join("link")).unwrap();
        std::fs::write(top.join("bad\\name"), b"x").unwrap();
        let (scanned, prepared) = scan(top.to_str().unwrap(), Some("up"), 100).unwrap();
        let paths: Vec<&str> = prepared
            .items
            .iter()
            .map(|(i, _)| i.path.as_str())
            .collect();
        assert_eq!(paths, ["up", "up/a.txt", "up/b", "up/b/c", "up/b/c/d"]);
        assert_eq!(
            scanned.totals,
            Totals {
                files: 2,
                dirs: 3,
                bytes: 5
            }
        );
        assert_eq!(scanned.skipped.len(), 2);
        assert_eq!(prepared.items[4].1, PathBuf::from("b/c/d"));
        let (one, p) = scan(top.join("a.txt").to_str().unwrap(), None, 100).unwrap();
        assert_eq!((one.name.as_str(), one.kind), ("a.txt", StoreKind::File));
        assert_eq!(p.items[0].1, PathBuf::from("a.txt"));
        assert_eq!(
            scan(top.to_str().unwrap(), None, 3).err().map(|e| e.0),
            Some(Status::TOO_LARGE)
        );
        assert_eq!(
            scan(dir.join("nope").to_str().unwrap(), None, 3)
                .err()
                .map(|e| e.0),
            Some(Status::NO_FILE)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_clients_own_files_are_never_uploaded() {
        let dir = std::env::temp_dir().join(format!(
            "peerhub-scan-own-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let share = dir.join("share");
        std::fs::create_dir_all(&share).unwrap();
        std::fs::write(share.join("song.mp3"), b"la").unwrap();
        std::fs::write(share.join(".peerhub-published.json"), b"[]").unwrap();
        std::fs::write(share.join(".peerhub-partials.json"), b"[]").unwrap();
        let (scanned, prepared) = scan(share.to_str().unwrap(), None, 100).unwrap();
        let paths: Vec<&str> = prepared
            .items
            .iter()
            .map(|(i, _)| i.path.as_str())
            .collect();
        assert_eq!(paths, ["share", "share/song.mp3"]);
        let skipped: Vec<&str> = scanned.skipped.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            skipped,
            [".peerhub-partials.json", ".peerhub-published.json"]
        );
        let own = share.join(".peerhub-published.json");
        for name in [None, Some("backup.json")] {
            let refused = scan(own.to_str().unwrap(), name, 100).err().map(|e| e.0);
            assert_eq!(refused, Some(Status::INVALID_NAME), "{name:?}");
        }
        let refused = scan(share.to_str().unwrap(), Some(".peerhub-x"), 100).err();
        assert_eq!(refused.map(|e| e.0), Some(Status::INVALID_NAME));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
