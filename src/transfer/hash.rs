//! Hashing a file with BLAKE3 in bounded slices, so a multi-GiB file never freezes the
//! loop — building its outboard in the same pass (the tree's root is the hash).

use super::verified::outboard::OutboardBuilder;
use crate::proto::message::Hash;
use std::fs::File;
use std::io::{self, Read};
use std::time::SystemTime;

/// Size and modification time: what tells that a file changed since it was hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub size: u64,
    pub modified: SystemTime,
}

impl Stamp {
    /// The stamp of an open file.
    pub fn of(file: &File) -> io::Result<Stamp> {
        let meta = file.metadata()?;
        Ok(Stamp {
            size: meta.len(),
            modified: meta.modified()?,
        })
    }
}

/// A file being hashed a slice at a time, its outboard's parents built as it goes.
pub struct HashJob {
    file: File,
    tree: OutboardBuilder,
    stamp: Stamp,
    done: u64,
    buf: Vec<u8>,
    /// The outboard's last parents, built when the job finished and not yet taken.
    tail: Vec<u8>,
}

/// What one step of a job gave.
#[derive(Debug, PartialEq, Eq)]
pub enum HashStep {
    /// More to do; `done` bytes so far.
    Progress { done: u64 },
    /// Finished: the file's stamp (taken before hashing) and hash.
    Done { stamp: Stamp, hash: Hash },
}

/// Read buffer per read call.
const READ_CHUNK: usize = 256 * 1024;

impl HashJob {
    /// Start hashing an open regular file.
    pub fn new(file: File) -> io::Result<HashJob> {
        let stamp = Stamp::of(&file)?;
        Ok(HashJob {
            file,
            tree: OutboardBuilder::new(stamp.size),
            stamp,
            done: 0,
            buf: Vec::new(),
            tail: Vec::new(),
        })
    }

    /// The file's size when the job started.
    pub fn size(&self) -> u64 {
        self.stamp.size
    }

    /// Hash up to `budget` more bytes. A file that changed while being hashed is an error.
    pub fn step(&mut self, budget: usize) -> io::Result<HashStep> {
        if self.buf.is_empty() {
            self.buf = vec![0; READ_CHUNK];
        }
        let mut spent = 0;
        while spent < budget.max(1) {
            let want = READ_CHUNK.min(budget.max(1) - spent);
            let n = match self.file.read(&mut self.buf[..want]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                return self.finish();
            }
            self.tree.update(&self.buf[..n]).map_err(|_| changed())?;
            self.done += n as u64;
            spent += n;
        }
        Ok(HashStep::Progress { done: self.done })
    }

    /// The outboard's parents built since the last call (the whole outboard, once
    /// every call's are put together and the job is done).
    pub fn take_parents(&mut self) -> Vec<u8> {
        let mut parents = self.tree.take_parents();
        parents.append(&mut self.tail);
        parents
    }

    fn finish(&mut self) -> io::Result<HashStep> {
        if self.done != self.stamp.size || Stamp::of(&self.file)? != self.stamp {
            return Err(changed());
        }
        let tree = std::mem::replace(&mut self.tree, OutboardBuilder::new(0));
        let (hash, parents) = tree.finish().map_err(|_| changed())?;
        self.tail = parents;
        Ok(HashStep::Done {
            stamp: self.stamp,
            hash,
        })
    }
}

fn changed() -> io::Error {
    io::Error::other("the file changed while it was being hashed; try again")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TempDir;
    use std::io::Write;

    #[test]
    fn slices_give_the_same_hash_as_one_pass() {
        let tmp = TempDir::new("hash");
        let dir = tmp.path();
        let path = dir.join("data");
        let data: Vec<u8> = (0..1_000_003u32).map(|i| (i % 251) as u8).collect();
        File::create(&path).unwrap().write_all(&data).unwrap();
        let mut job = HashJob::new(File::open(&path).unwrap()).unwrap();
        let mut steps = 0;
        let result = loop {
            steps += 1;
            match job.step(100_000).unwrap() {
                HashStep::Progress { done } => assert_eq!(done, steps * 100_000),
                done => break done,
            }
        };
        assert_eq!(steps, 11);
        match result {
            HashStep::Done { stamp, hash } => {
                assert_eq!(stamp.size, data.len() as u64);
                assert_eq!(&hash, blake3::hash(&data).as_bytes());
            }
            other => panic!("{other:?}"),
        }
    }
}
