//! The outboards of the files this client publishes (issue #14):
//! `<share>/.peerhub-outboards/<hash>.obao`, a [`Header`] and the tree's parents, written
//! while the file is hashed for `publish` (into `.<job>.part` first, renamed once the
//! hash is known) and swept when no publication names their hash any more. Every path
//! is opened beneath the share dir without following a link; the directory is hidden and
//! reserved like the client's other `.peerhub-` files.

use crate::sys::{self, OpenFlags};
use crate::transfer::verified::outboard::Header;
use crate::transfer::verified::outboard_len;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The directory of the outboards, beneath the share dir.
pub const DIR: &str = ".peerhub-outboards";

/// Where the outboard of the file whose hash is `hash_hex` lives, beneath the share.
pub fn path_of(hash_hex: &str) -> PathBuf {
    Path::new(DIR).join(format!("{hash_hex}.obao"))
}

/// An outboard being written while its file is hashed.
pub struct OutboardFile {
    file: File,
    temp: PathBuf,
}

impl OutboardFile {
    /// Start the outboard of a file of `size` bytes, for hash job `job`.
    pub fn create(share: &File, job: u64, size: u64) -> io::Result<OutboardFile> {
        sys::mkdir_beneath(share, Path::new(DIR))?;
        let temp = Path::new(DIR).join(format!(".{job}.part"));
        // A part left by a client that died is this job's no more.
        let _ = sys::remove_beneath(share, &temp);
        let mut file = sys::open_beneath(share, &temp, OpenFlags::CreateNew)?;
        file.write_all(&Header { size }.to_bytes())?;
        Ok(OutboardFile { file, temp })
    }

    /// The next parents the hash pass built.
    pub fn append(&mut self, parents: &[u8]) -> io::Result<()> {
        self.file.write_all(parents)
    }

    /// The file's hash is known: the outboard takes its name (replacing an older one
    /// of the same content). Returns where it lies beneath the share.
    pub fn finish(self, share: &File, hash_hex: &str) -> io::Result<PathBuf> {
        let path = path_of(hash_hex);
        sys::rename_beneath(share, &self.temp, &path)?;
        Ok(path)
    }

    /// The hash pass failed: nothing is left behind.
    pub fn abandon(self, share: &File) {
        let _ = sys::remove_beneath(share, &self.temp);
    }
}

/// The stored outboard of `hash_hex`, checked to be one for a file of `size` bytes
/// (its header, and its length), to read parents from.
pub fn open(share: &File, hash_hex: &str, size: u64) -> io::Result<File> {
    let file = sys::open_beneath(share, &path_of(hash_hex), OpenFlags::ReadOnly)?;
    let mut head = [0; Header::LEN];
    file.read_exact_at(&mut head, 0)?;
    let fits = Header::parse(&head) == Some(Header { size })
        && file.metadata()?.len() == Header::LEN as u64 + outboard_len(size);
    if !fits {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the outboard is not this file's",
        ));
    }
    Ok(file)
}

/// Remove the outboard of `hash_hex`, if there is one (no publication needs it).
pub fn remove(share: &File, hash_hex: &str) {
    let _ = sys::remove_beneath(share, &path_of(hash_hex));
}

/// Remove the outboards whose hash `keep` does not name — the ones no publication
/// needs — and the parts of hash passes that never ended (at start, when none runs).
/// Returns how many went.
pub fn sweep(share: &File, share_path: &Path, keep: &dyn Fn(&str) -> bool) -> io::Result<usize> {
    let entries = match std::fs::read_dir(share_path.join(DIR)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.strip_suffix(".obao").is_some_and(keep) {
            continue;
        }
        if sys::remove_beneath(share, &Path::new(DIR).join(name)).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TempDir;

    #[test]
    fn an_outboard_is_written_renamed_to_its_hash_and_swept_when_unneeded() {
        let tmp = TempDir::new("outboards");
        let share = sys::open_dir(tmp.path()).unwrap();
        let mut ob = OutboardFile::create(&share, 7, 100_000).unwrap();
        ob.append(&[1; 64]).unwrap();
        let path = ob.finish(&share, "ab12").unwrap();
        assert_eq!(path, Path::new(".peerhub-outboards/ab12.obao"));
        let bytes = std::fs::read(tmp.path().join(&path)).unwrap();
        assert_eq!(Header::parse(&bytes), Some(Header { size: 100_000 }));
        assert_eq!(bytes.len(), Header::LEN + 64);

        let other = OutboardFile::create(&share, 8, 5).unwrap();
        other.finish(&share, "cd34").unwrap();
        let _died = OutboardFile::create(&share, 9, 5).unwrap();
        let removed = sweep(&share, tmp.path(), &|hash| hash == "ab12").unwrap();
        assert_eq!(removed, 2);
        assert!(tmp.path().join(&path).exists());
        assert!(!tmp.path().join(path_of("cd34")).exists());
        assert!(
            !tmp.path().join(DIR).join(".9.part").exists(),
            "a dead pass's part"
        );
        remove(&share, "ab12");
        assert!(!tmp.path().join(&path).exists());
        let running = OutboardFile::create(&share, 10, 5).unwrap();
        running.abandon(&share);
        assert_eq!(std::fs::read_dir(tmp.path().join(DIR)).unwrap().count(), 0);
    }

    #[test]
    fn a_link_in_place_of_the_directory_is_not_followed() {
        let tmp = TempDir::new("outboards-link");
        let elsewhere = TempDir::new("outboards-elsewhere");
        std::os::unix::fs::symlink(elsewhere.path(), tmp.path().join(DIR)).unwrap();
        let share = sys::open_dir(tmp.path()).unwrap();
        assert!(OutboardFile::create(&share, 1, 10).is_err());
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    }
}
