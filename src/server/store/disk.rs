//! The store on disk, `<data>/store/<version>/<name>`: the filesystem room the loop
//! and the store connections use (the hub only names versions). It makes an upload's
//! invisible `.incoming-<version>` directory, opens a committed version for a download,
//! says how much the disk has free, queues at start what no entry points to, and
//! removes versions in bounded slices across loop turns.

use super::removal::Removal;
use super::{FreeSpace, Incoming};
use log::warn;
use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Prefix of a version directory still being written.
const INCOMING_PREFIX: &str = ".incoming-";

/// The store's directory.
pub struct StoreDisk {
    root: PathBuf,
    root_dir: File,
    /// Trees being removed, oldest first.
    removals: VecDeque<Removal>,
}

/// The free space of the file system that holds the store.
#[derive(Debug, Clone)]
pub struct RootSpace(PathBuf);

impl FreeSpace for RootSpace {
    fn free_bytes(&self) -> io::Result<u64> {
        crate::sys::free_space(&self.0)
    }
}

impl StoreDisk {
    /// Open (creating) `<data>/store`.
    pub fn open(data: &Path) -> io::Result<StoreDisk> {
        let root = data.join("store");
        std::fs::create_dir_all(&root)?;
        Ok(StoreDisk {
            root_dir: crate::sys::open_dir(&root)?,
            root,
            removals: VecDeque::new(),
        })
    }

    /// Queue for removal every version directory not in `live` (uploads interrupted by
    /// a crash, versions replaced just before one): they go a slice per turn once the
    /// loop runs, like any removed version, so a big leftover tree does not hold up the
    /// start. How many there are.
    pub fn sweep(&mut self, live: &HashSet<String>) -> io::Result<usize> {
        let mut swept = 0;
        for dirent in std::fs::read_dir(&self.root)? {
            let dirent = dirent?;
            if !live.contains(dirent.file_name().to_string_lossy().as_ref()) {
                self.removals.push_back(Removal::new(dirent.path()));
                swept += 1;
            }
        }
        Ok(swept)
    }

    /// The store's root directory (every store file is opened beneath it).
    pub fn root_dir(&self) -> &File {
        &self.root_dir
    }

    /// What the hub asks for the free space.
    pub fn space(&self) -> RootSpace {
        RootSpace(self.root.clone())
    }

    /// Make the fresh, invisible directory of an upload into `version`.
    pub fn begin(&self, version: &str) -> io::Result<Incoming> {
        let dir_name = format!("{INCOMING_PREFIX}{version}");
        crate::sys::mkdir_beneath(&self.root_dir, Path::new(&dir_name))?;
        let dir = crate::sys::open_dir_beneath(&self.root_dir, Path::new(&dir_name))?;
        Ok(Incoming {
            version: version.to_owned(),
            dir_name,
            dir,
        })
    }

    /// The directory of a committed version, to open its files beneath.
    pub fn open_version(&self, version: &str) -> io::Result<File> {
        crate::sys::open_dir_beneath(&self.root_dir, Path::new(version))
    }

    /// Remove `version`, committed or still incoming, over the next turns.
    pub fn remove_version(&mut self, version: &str) {
        for name in [format!("{INCOMING_PREFIX}{version}"), version.to_owned()] {
            self.removals.push_back(Removal::new(self.root.join(name)));
        }
    }

    /// Whether removals wait for their next slice.
    pub fn removing(&self) -> bool {
        !self.removals.is_empty()
    }

    /// Take at most `budget` steps of the removals under way, oldest first. A removal
    /// that fails is given up with a warning (the next start sweeps what it left).
    pub fn remove_slice(&mut self, budget: usize) {
        let mut left = budget;
        while left > 0 {
            let Some(removal) = self.removals.front_mut() else {
                return;
            };
            match removal.step(left) {
                Ok(steps) => left = left.saturating_sub(steps),
                Err(e) => warn!("store: could not remove a version: {e}"),
            }
            // A removal that took fewer steps than it was allowed ended or failed.
            if removal.done() || left > 0 {
                self.removals.pop_front();
            }
        }
    }

    /// Finish every removal under way now (the hub is exiting).
    pub fn remove_all(&mut self) {
        while self.removing() {
            self.remove_slice(usize::MAX);
        }
    }
}
