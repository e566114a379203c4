//! Walking what `upload` was given: one regular file, or a directory tree in pre-order
//! (every directory before what is beneath it). Symlinks are never followed and, like
//! special files and names the store refuses, are skipped with a reason; the contents
//! are later opened beneath the tree's root by the kernel (`openat2`, no symlinks).
//!
//! A walk is a [`Scan`] that the loop advances a bounded slice per turn
//! ([`Scan::step`]), like hashing, so a tree of 100,000 entries never stalls chat or
//! the transfers; it gives the same items, skips and errors as walking it at once.

use super::session::Scanned;
use crate::proto::message::StoreKind;
use crate::proto::names;
use crate::proto::status::Status;
use crate::proto::store::MAX_DEPTH;
use crate::sys;
use crate::transfer::tree::{Totals, TreeItem};
use std::fs::{DirEntry, File, ReadDir};
use std::path::{Path, PathBuf};

/// A tree ready to upload: its root directory and its items, each with the path of its
/// content beneath that root.
pub struct Prepared {
    pub root: File,
    pub items: Vec<(TreeItem, PathBuf)>,
}

/// How a walk ended: the tree and what it holds, or why it cannot be uploaded.
pub type Walked = Result<(Scanned, Prepared), (Status, String)>;

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

/// What a slice of a walk did.
pub enum ScanStep {
    /// The walk goes on: the slice took all its steps.
    Walking,
    /// The walk ended.
    Done(Walked),
}

/// A directory being walked: its listing is read an entry per step, then sorted, then
/// its entries are examined an entry per step.
struct Level {
    /// Its path, to list it and to name it in an error.
    dir: PathBuf,
    /// Its path on the wire (the store name, then `/`-joined names).
    wire: String,
    /// Its path beneath the root.
    rel: PathBuf,
    depth: usize,
    listing: Listing,
}

enum Listing {
    /// Not opened yet.
    Unopened,
    /// Being read; the entries so far.
    Reading(ReadDir, Vec<DirEntry>),
    /// Read whole and sorted backwards: the next to examine is the last.
    Sorted(Vec<DirEntry>),
}

/// What one step in a directory comes to.
enum Advance {
    /// Its listing was opened, read one entry further, or read whole and sorted.
    Listed,
    /// This entry is next.
    Examine(DirEntry),
    /// Everything in it was examined.
    Leave,
}

impl Level {
    fn advance(&mut self) -> Result<Advance, (Status, String)> {
        match &mut self.listing {
            Listing::Unopened => {
                let listing = std::fs::read_dir(&self.dir)
                    .map_err(|e| (Status::NO_FILE, format!("{}: {e}", self.dir.display())))?;
                self.listing = Listing::Reading(listing, Vec::new());
            }
            Listing::Reading(listing, entries) => match listing.next() {
                // An entry that cannot be read is left out, as a listing that skips it.
                Some(entry) => entries.extend(entry.ok()),
                None => {
                    let mut sorted = std::mem::take(entries);
                    sorted.sort_by_key(|e| std::cmp::Reverse(e.file_name()));
                    self.listing = Listing::Sorted(sorted);
                }
            },
            Listing::Sorted(entries) => {
                return Ok(entries.pop().map_or(Advance::Leave, Advance::Examine));
            }
        }
        Ok(Advance::Listed)
    }
}

/// A walk of what `upload` was given, advanced a bounded slice at a time.
pub struct Scan {
    name: String,
    kind: StoreKind,
    /// The directory the items' paths are beneath.
    root: PathBuf,
    max_items: usize,
    items: Vec<(TreeItem, PathBuf)>,
    skipped: Vec<(String, String)>,
    /// The directories being walked, the innermost last.
    levels: Vec<Level>,
}

impl Scan {
    /// Start a walk of `path` (relative to the working directory) for an upload as
    /// `name` (default: the path's own name), refusing trees of more than `max_items`
    /// items. A single file is walked at once; a tree, by [`Scan::step`].
    pub fn start(
        path: &str,
        name: Option<&str>,
        max_items: usize,
    ) -> Result<Scan, (Status, String)> {
        let (canonical, meta, name) = resolve(path, name)?;
        if meta.is_file() {
            let root = canonical.parent().unwrap_or(Path::new("/")).to_path_buf();
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
            return Ok(Scan {
                name,
                kind: StoreKind::File,
                root,
                max_items,
                items: vec![(item, file_name)],
                skipped: Vec::new(),
                levels: Vec::new(),
            });
        }
        if !meta.is_dir() {
            return Err((
                Status::BAD_REQUEST,
                format!("{path} is neither a regular file nor a directory"),
            ));
        }
        let top = TreeItem {
            path: name.clone(),
            kind: StoreKind::Dir,
            size: 0,
            hash: None,
        };
        let level = Level {
            dir: canonical.clone(),
            wire: name.clone(),
            rel: PathBuf::new(),
            depth: 1,
            listing: Listing::Unopened,
        };
        Ok(Scan {
            name,
            kind: StoreKind::Dir,
            root: canonical,
            max_items,
            items: vec![(top, PathBuf::from("."))],
            skipped: Vec::new(),
            levels: vec![level],
        })
    }

    /// Walk on for at most `budget` steps (at least one): a step opens a directory,
    /// reads one entry of its listing, examines one entry, or leaves a directory.
    pub fn step(&mut self, budget: usize) -> ScanStep {
        let budget = budget.max(1);
        for _ in 0..budget {
            let Some(level) = self.levels.last_mut() else {
                return ScanStep::Done(self.finish());
            };
            let stepped = match level.advance() {
                Ok(Advance::Listed) => Ok(()),
                Ok(Advance::Examine(entry)) => self.examine(entry),
                Ok(Advance::Leave) => {
                    self.levels.pop();
                    Ok(())
                }
                Err(e) => Err(e),
            };
            if let Err(e) = stepped {
                self.levels.clear();
                return ScanStep::Done(Err(e));
            }
        }
        ScanStep::Walking
    }

    /// Add one entry of the innermost directory: skipped with a reason, an item, or a
    /// directory to walk next.
    fn examine(&mut self, entry: DirEntry) -> Result<(), (Status, String)> {
        let Some(level) = self.levels.last() else {
            return Ok(());
        };
        let (depth, wire) = (level.depth, level.wire.clone());
        let os_name = entry.file_name();
        let shown = level.rel.join(&os_name).display().to_string();
        let Some(part) = os_name.to_str() else {
            self.skipped
                .push((shown, "the name is not valid UTF-8".into()));
            return Ok(());
        };
        let kind = match skip_reason(part, &entry) {
            Ok(kind) => kind,
            Err(why) => {
                self.skipped.push((shown, why));
                return Ok(());
            }
        };
        if depth + 1 > MAX_DEPTH {
            return Err((
                Status::TOO_LARGE,
                format!("{shown} is nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        if self.items.len() >= self.max_items {
            let max_items = self.max_items;
            return Err((
                Status::TOO_LARGE,
                format!("more than {max_items} files and directories"),
            ));
        }
        let child_wire = format!("{wire}/{part}");
        let child_rel = level.rel.join(part);
        let size = match kind {
            StoreKind::Dir => 0,
            StoreKind::File => entry
                .metadata()
                .map_err(|e| (Status::NO_FILE, format!("{shown}: {e}")))?
                .len(),
        };
        let item = TreeItem {
            path: child_wire.clone(),
            kind,
            size,
            hash: None,
        };
        self.items.push((item, child_rel.clone()));
        if kind == StoreKind::Dir {
            self.levels.push(Level {
                dir: entry.path(),
                wire: child_wire,
                rel: child_rel,
                depth: depth + 1,
                listing: Listing::Unopened,
            });
        }
        Ok(())
    }

    /// The walk is over: the totals, and the root opened for the upload.
    fn finish(&mut self) -> Walked {
        let root = sys::open_dir(&self.root)
            .map_err(|e| (Status::NO_FILE, format!("{}: {e}", self.root.display())))?;
        let items = std::mem::take(&mut self.items);
        let totals = Totals::of(items.iter().map(|(i, _)| i));
        let largest = items.iter().map(|(i, _)| i.size).max().unwrap_or(0);
        let scanned = Scanned {
            name: self.name.clone(),
            kind: self.kind,
            totals,
            largest,
            skipped: std::mem::take(&mut self.skipped),
        };
        Ok((scanned, Prepared { root, items }))
    }
}

/// What an entry named `part` is, or why it is left out of the tree.
fn skip_reason(part: &str, entry: &DirEntry) -> Result<StoreKind, String> {
    if let Err(e) = names::check_file_name(part) {
        return Err(format!("the store does not take this name ({e})"));
    }
    if names::is_reserved(part) {
        return Err("one of the client's own files (.peerhub-*)".into());
    }
    match entry.file_type() {
        Ok(t) if t.is_symlink() => Err("a symbolic link (never followed)".into()),
        Ok(t) if t.is_dir() => Ok(StoreKind::Dir),
        Ok(t) if t.is_file() => Ok(StoreKind::File),
        Ok(_) => Err("not a regular file or directory".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests;
