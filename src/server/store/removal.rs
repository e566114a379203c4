//! Removing a directory tree in bounded slices, so that deleting a version of 100,000
//! entries never stalls the loop: each turn takes at most a fixed number of steps
//! (a directory opened, a file or an empty directory removed). Symlinks are removed,
//! never followed; what is already gone is fine.

use std::fs::{self, ReadDir};
use std::io;
use std::path::PathBuf;

/// A tree being removed.
#[derive(Debug)]
pub struct Removal {
    /// The tree's root, until the first step looks at it.
    start: Option<PathBuf>,
    /// The directories being emptied, outermost first, each with its listing.
    open: Vec<(PathBuf, ReadDir)>,
}

fn absent_is_fine(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

impl Removal {
    /// The removal of the file or tree at `path` (nothing is touched yet).
    pub fn new(path: PathBuf) -> Removal {
        Removal {
            start: Some(path),
            open: Vec::new(),
        }
    }

    /// Whether nothing is left to remove.
    pub fn done(&self) -> bool {
        self.start.is_none() && self.open.is_empty()
    }

    /// Take at most `budget` steps (at least one); how many were taken. Each step
    /// removes at most one entry.
    pub fn step(&mut self, budget: usize) -> io::Result<usize> {
        let mut steps = 0;
        while steps < budget.max(1) && !self.done() {
            steps += 1;
            if let Some(path) = self.start.take() {
                self.enter(path)?;
                continue;
            }
            let Some((_, listing)) = self.open.last_mut() else {
                break;
            };
            match listing.next() {
                Some(Ok(dirent)) if dirent.file_type()?.is_dir() => self.enter(dirent.path())?,
                Some(Ok(dirent)) => absent_is_fine(fs::remove_file(dirent.path()))?,
                Some(Err(e)) => return Err(e),
                None => self.leave()?,
            }
        }
        Ok(steps)
    }

    /// Start emptying the directory at `path` (a file or a symlink is removed at once).
    fn enter(&mut self, path: PathBuf) -> io::Result<()> {
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => match fs::read_dir(&path) {
                Ok(listing) => {
                    self.open.push((path, listing));
                    Ok(())
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            },
            Ok(_) => absent_is_fine(fs::remove_file(&path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The innermost open directory was listed to its end: remove it (listed again if
    /// something is still in it).
    fn leave(&mut self) -> io::Result<()> {
        let Some((path, _)) = self.open.pop() else {
            return Ok(());
        };
        match fs::remove_dir(&path) {
            Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => self.enter(path),
            other => absent_is_fine(other),
        }
    }
}
