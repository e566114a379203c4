//! Renaming one path beneath a directory to another (`renameat`, and `renameat2`
//! with `RENAME_NOREPLACE`), and removing a file beneath it (`unlinkat`), with the same
//! refusals as opening beneath it.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use super::beneath::{openat_beneath, split_last, walk_dir_flags};
use super::to_cstring;

/// Both ends of a rename beneath a directory: the parents opened beneath it (same
/// refusals as [`open_beneath`](super::open_beneath)) and the final names, which
/// are never followed.
struct RenameEnds {
    from_dir: OwnedFd,
    from_name: CString,
    to_dir: OwnedFd,
    to_name: CString,
}

impl RenameEnds {
    fn open(dir: &File, from: &Path, to: &Path) -> io::Result<RenameEnds> {
        let (from_parent, from_name) = split_last(from)?;
        let (to_parent, to_name) = split_last(to)?;
        Ok(RenameEnds {
            from_dir: openat_beneath(dir.as_fd(), from_parent, walk_dir_flags(), 0)?,
            from_name: to_cstring(from_name)?,
            to_dir: openat_beneath(dir.as_fd(), to_parent, walk_dir_flags(), 0)?,
            to_name: to_cstring(to_name)?,
        })
    }

    /// `renameat(2)`: replaces an existing `to` as `rename(2)` does.
    fn rename(&self) -> io::Result<()> {
        // SAFETY: both descriptors are owned and open for the call; both names are
        // NUL-terminated and outlive it.
        let rc = unsafe {
            libc::renameat(
                self.from_dir.as_raw_fd(),
                self.from_name.as_ptr(),
                self.to_dir.as_raw_fd(),
                self.to_name.as_ptr(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Whether `to` exists (without following a symlink).
    fn target_exists(&self) -> bool {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: `to_dir` is open, `to_name` NUL-terminated; `st` is writable for the call.
        let rc = unsafe {
            libc::fstatat(
                self.to_dir.as_raw_fd(),
                self.to_name.as_ptr(),
                st.as_mut_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        rc == 0
    }
}

/// Removes the file (or link: it is never followed) `path` beneath `dir`, with
/// `unlinkat(2)`; its parents are opened with the refusals of
/// [`open_beneath`](super::open_beneath).
pub fn remove_beneath(dir: &File, path: &Path) -> io::Result<()> {
    let (parent, name) = split_last(path)?;
    let parent = openat_beneath(dir.as_fd(), parent, walk_dir_flags(), 0)?;
    let name = to_cstring(name)?;
    // SAFETY: `parent` is an owned open descriptor and `name` NUL-terminated, both
    // alive for the call.
    let rc = unsafe { libc::unlinkat(parent.as_raw_fd(), name.as_ptr(), 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Renames `from` to `to`, both beneath `dir`, with `renameat(2)`; replaces an
/// existing `to` as `rename(2)` does.
///
/// The parents of both paths are opened beneath `dir` (same refusals as
/// [`open_beneath`](super::open_beneath)); the final components are not followed if
/// they are symlinks.
pub fn rename_beneath(dir: &File, from: &Path, to: &Path) -> io::Result<()> {
    RenameEnds::open(dir, from, to)?.rename()
}

/// Renames `from` to `to`, both beneath `dir`, failing with `AlreadyExists` if `to`
/// exists (`renameat2(2)` with `RENAME_NOREPLACE`). Where the kernel or file system
/// lacks it, checks then renames (a small race, on the caller's own directory).
pub fn rename_beneath_noreplace(dir: &File, from: &Path, to: &Path) -> io::Result<()> {
    let ends = RenameEnds::open(dir, from, to)?;
    // SAFETY: both descriptors are owned and open for the call; both names are
    // NUL-terminated and outlive it.
    let rc = unsafe {
        libc::renameat2(
            ends.from_dir.as_raw_fd(),
            ends.from_name.as_ptr(),
            ends.to_dir.as_raw_fd(),
            ends.to_name.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if !matches!(err.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) {
        return Err(err);
    }
    if ends.target_exists() {
        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
    }
    ends.rename()
}

#[cfg(test)]
mod tests {
    use super::super::testing::tree;
    use super::super::{mkdir_beneath, open_dir_beneath};
    use super::*;

    #[test]
    fn mkdir_and_rename_beneath() {
        let (t, dir) = tree();
        mkdir_beneath(&dir, Path::new("x/y/z")).unwrap();
        mkdir_beneath(&dir, Path::new("x/y/z")).unwrap();
        assert!(t.0.join("share/x/y/z").is_dir());
        assert!(mkdir_beneath(&dir, Path::new("../evil")).is_err());
        assert!(mkdir_beneath(&dir, Path::new("/tmp/evil")).is_err());
        assert!(mkdir_beneath(&dir, Path::new("uplink/evil")).is_err());
        assert!(!t.0.join("evil").exists());
        assert!(mkdir_beneath(&dir, Path::new("a/b.txt/c")).is_err());

        let sub = open_dir_beneath(&dir, Path::new("x/y")).unwrap();
        std::fs::write(t.0.join("share/x/y/z/f"), b"data").unwrap();
        rename_beneath(&dir, Path::new("x/y/z/f"), Path::new("a/g")).unwrap();
        assert_eq!(std::fs::read(t.0.join("share/a/g")).unwrap(), b"data");
        rename_beneath(&sub, Path::new("z"), Path::new("w")).unwrap();
        assert!(t.0.join("share/x/y/w").is_dir());
        assert!(rename_beneath(&dir, Path::new("a/g"), Path::new("../stolen")).is_err());
        assert!(rename_beneath(&dir, Path::new("a/g"), Path::new("uplink/stolen")).is_err());
        assert!(rename_beneath(&dir, Path::new("a/g"), Path::new("")).is_err());
        assert!(!t.0.join("stolen").exists());
        // Renaming a symlink moves the link, not its target.
        rename_beneath(&dir, Path::new("link"), Path::new("a/link2")).unwrap();
        assert!(t.0.join("outside.txt").exists());
        assert!(open_dir_beneath(&dir, Path::new("uplink")).is_err());
    }
}
