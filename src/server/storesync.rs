//! Flushing a verified upload to the disk on the loop's own thread, a bounded slice per
//! turn: each file (`fdatasync`) and directory (`fsync`) of its version, the version
//! directory, then the rename into place and the store directory. Only then may the
//! database point at it. Write-behind while receiving (`transfer::writeback`) has most
//! file data on its way to the disk already, so the steps are short.

use super::store::{Incoming, Kind};
use crate::sys::{self, OpenFlags};
use crate::transfer::tree::TreeItem;
use std::fs::File;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

/// How much of a flush one loop turn does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncSlice {
    /// Most steps (a file, a directory, or the final rename) per turn.
    pub steps: usize,
    /// No further step is taken once a turn spent this long.
    pub time: Duration,
}

impl SyncSlice {
    /// One loop turn: short beside chat, long enough that a tree of thousands of small
    /// files (their data written back already) is not spread over thousands of turns.
    pub const TURN: SyncSlice = SyncSlice {
        steps: 256,
        time: Duration::from_millis(5),
    };

    /// No bound: what is left is finished at once (the hub is shutting down).
    pub const ALL: SyncSlice = SyncSlice {
        steps: usize::MAX,
        time: Duration::MAX,
    };

    /// After `done` steps that took `spent` this turn, is another taken now? The first
    /// always is, so every turn moves the flush forward.
    pub fn another(&self, done: usize, spent: Duration) -> bool {
        done == 0 || (done < self.steps && spent < self.time)
    }
}

/// One step of a flush, in order.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// The item at this index of the manifest.
    Item(usize),
    /// The version directory itself (it holds the entry's name).
    VersionDir,
    /// Rename the version directory into place, then flush the store directory.
    Publish,
    /// Nothing is left.
    Done,
}

/// Step number `next` of a flush of `items` items.
fn step(next: usize, items: usize) -> Step {
    match next.checked_sub(items) {
        None => Step::Item(next),
        Some(0) => Step::VersionDir,
        Some(1) => Step::Publish,
        Some(_) => Step::Done,
    }
}

/// A flush under way: which step comes next.
#[derive(Debug, Default)]
pub struct Syncing {
    next: usize,
}

impl Syncing {
    /// A flush from its first step.
    pub fn new() -> Syncing {
        Syncing::default()
    }

    /// Take up to one `slice` of steps flushing `incoming` (whose manifest is `items`)
    /// beneath the store directory `root`. True once every step is done: the files and
    /// directories are on the disk, the version has its final name, and the store
    /// directory is flushed.
    pub fn turn(
        &mut self,
        root: &File,
        incoming: &Incoming,
        items: &[TreeItem],
        slice: SyncSlice,
    ) -> io::Result<bool> {
        let started = Instant::now();
        let mut done = 0;
        while slice.another(done, started.elapsed()) {
            match step(self.next, items.len()) {
                Step::Item(i) => {
                    if let Some(item) = items.get(i) {
                        sync_item(&incoming.dir, item)?;
                    }
                }
                Step::VersionDir => incoming.dir.sync_all()?,
                Step::Publish => {
                    let (from, to) = (Path::new(&incoming.dir_name), Path::new(&incoming.version));
                    sys::rename_beneath(root, from, to)?;
                    root.sync_all()?;
                }
                Step::Done => return Ok(true),
            }
            self.next += 1;
            done += 1;
        }
        Ok(step(self.next, items.len()) == Step::Done)
    }
}

/// Flush one file's data (and its size) or one directory's entries.
fn sync_item(dir: &File, item: &TreeItem) -> io::Result<()> {
    let path = Path::new(&item.path);
    match item.kind {
        Kind::File => sys::open_beneath(dir, path, OpenFlags::ReadOnly)?.sync_data(),
        Kind::Dir => sys::open_dir_beneath(dir, path)?.sync_all(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::store::disk::StoreDisk;
    use crate::testing::TempDir;

    #[test]
    fn a_turn_takes_at_least_one_step_and_stops_at_either_bound() {
        let slice = SyncSlice {
            steps: 3,
            time: Duration::from_millis(5),
        };
        let ms = Duration::from_millis;
        assert!(slice.another(0, ms(0)));
        // A step that alone took longer than the slice still had to be taken.
        assert!(slice.another(0, ms(50)));
        assert!(slice.another(1, ms(1)));
        assert!(slice.another(2, ms(4)));
        assert!(!slice.another(3, ms(1)));
        assert!(!slice.another(1, ms(5)));
        assert!(!slice.another(2, ms(9)));
        assert!(SyncSlice::ALL.another(1_000_000, Duration::from_secs(3600)));
        assert!(SyncSlice::TURN.another(SyncSlice::TURN.steps - 1, ms(4)));
        assert!(!SyncSlice::TURN.another(SyncSlice::TURN.steps, ms(0)));
    }

    #[test]
    fn the_steps_are_every_item_then_the_version_then_the_rename() {
        let steps: Vec<Step> = (0..6).map(|n| step(n, 3)).collect();
        assert_eq!(
            steps,
            [
                Step::Item(0),
                Step::Item(1),
                Step::Item(2),
                Step::VersionDir,
                Step::Publish,
                Step::Done
            ]
        );
        assert_eq!(step(0, 0), Step::VersionDir);
        assert_eq!(step(usize::MAX, 1), Step::Done);
    }

    /// A tree of `dirs` directories with `per_dir` one-byte files each, written into a
    /// fresh version; its manifest.
    fn tree(incoming: &Incoming, dirs: usize, per_dir: usize) -> Vec<TreeItem> {
        let mut items = vec![dir_item("t")];
        sys::mkdir_beneath(&incoming.dir, Path::new("t")).unwrap();
        for d in 0..dirs {
            let dir = format!("t/d{d}");
            sys::mkdir_beneath(&incoming.dir, Path::new(&dir)).unwrap();
            items.push(dir_item(&dir));
            for f in 0..per_dir {
                let path = format!("{dir}/f{f}");
                let file = sys::open_beneath(&incoming.dir, Path::new(&path), OpenFlags::CreateNew)
                    .unwrap();
                std::io::Write::write_all(&mut &file, b"x").unwrap();
                items.push(TreeItem {
                    path,
                    kind: Kind::File,
                    size: 1,
                    hash: Some(*blake3::hash(b"x").as_bytes()),
                });
            }
        }
        items
    }

    fn dir_item(path: &str) -> TreeItem {
        TreeItem {
            path: path.into(),
            kind: Kind::Dir,
            size: 0,
            hash: None,
        }
    }

    #[test]
    fn a_tree_is_flushed_a_slice_per_turn_and_renamed_into_place_last() {
        let data = TempDir::new("store-sync");
        let store = StoreDisk::open(data.path()).unwrap();
        let incoming = store.begin("0123").unwrap();
        let items = tree(&incoming, 3, 4);
        assert_eq!(items.len(), 16);
        let slice = SyncSlice {
            steps: 5,
            time: Duration::MAX,
        };
        let root = data.join("store");
        let mut syncing = Syncing::new();
        let mut turns = 0;
        while !syncing
            .turn(store.root_dir(), &incoming, &items, slice)
            .unwrap()
        {
            turns += 1;
            // Until the last step the version keeps its invisible name.
            assert!(root.join(&incoming.dir_name).exists());
            assert!(!root.join(&incoming.version).exists());
        }
        // 16 items, the version directory and the rename: 18 steps, 5 a turn.
        assert_eq!(turns, 3);
        assert!(!root.join(&incoming.dir_name).exists());
        assert_eq!(
            std::fs::read(root.join(&incoming.version).join("t/d2/f3")).unwrap(),
            b"x"
        );
        // Done is done: a further turn does nothing.
        assert!(syncing
            .turn(store.root_dir(), &incoming, &items, slice)
            .unwrap());
    }

    #[test]
    fn a_file_missing_from_the_version_fails_the_flush_before_the_rename() {
        let data = TempDir::new("store-syncfail");
        let store = StoreDisk::open(data.path()).unwrap();
        let incoming = store.begin("0123").unwrap();
        let mut items = tree(&incoming, 1, 1);
        items.push(TreeItem {
            path: "t/d0/gone".into(),
            kind: Kind::File,
            size: 1,
            hash: None,
        });
        let err = Syncing::new()
            .turn(store.root_dir(), &incoming, &items, SyncSlice::ALL)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(!data.join("store").join(&incoming.version).exists());
    }
}
