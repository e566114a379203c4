//! Opening and creating paths *beneath* a directory handle, with the kernel
//! enforcing it: `openat2(2)` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS`, so absolute paths, `..` above the directory and any
//! symlink are refused even if the tree changes between a check and the open. On
//! kernels without `openat2` (before 5.6) the path is walked one component at a
//! time with `O_NOFOLLOW`. Both ways also refuse absolute paths and every `..`
//! component up front, so the two behave alike.

use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path};
use std::sync::atomic::{AtomicBool, Ordering};

use super::to_cstring;

/// How often an `openat2` that reports a rename race (`EAGAIN`) is retried.
const OPENAT2_RETRIES: u32 = 8;

/// Mode bits for files created by [`open_beneath`] (before the umask).
const FILE_MODE: libc::mode_t = 0o644;

/// Mode bits for directories created by [`mkdir_beneath`] (before the umask).
const DIR_MODE: libc::mode_t = 0o755;

/// The kernel's resolve restrictions for every `*_beneath` open.
const RESOLVE: u64 =
    libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;

/// Set once `openat2` is found missing (`ENOSYS`), so later calls go straight to the walk.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// `struct open_how` from `linux/openat2.h` (libc's is `#[non_exhaustive]`).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// How [`open_beneath`] opens a file. Every mode adds `O_CLOEXEC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenFlags {
    /// Read an existing regular file.
    ReadOnly,
    /// Create a new file to write (and read back); fails with `AlreadyExists` if the
    /// name is taken.
    CreateNew,
    /// Read and write a file in place, creating it if absent (a partial download:
    /// written at explicit offsets, read back through a
    /// [`MappedRange`](super::MappedRange) to be hashed).
    CreateReadWrite,
}

impl OpenFlags {
    /// The `open(2)` flags for this mode.
    ///
    /// `O_NONBLOCK` keeps a FIFO planted in the tree from stalling the caller in
    /// `open`; regular files ignore it, and non-regular files are refused after opening.
    fn bits(self) -> libc::c_int {
        let base = libc::O_CLOEXEC | libc::O_NOCTTY;
        match self {
            OpenFlags::ReadOnly => base | libc::O_RDONLY | libc::O_NONBLOCK,
            OpenFlags::CreateNew => base | libc::O_RDWR | libc::O_CREAT | libc::O_EXCL,
            OpenFlags::CreateReadWrite => base | libc::O_RDWR | libc::O_CREAT | libc::O_NONBLOCK,
        }
    }
}

/// Opens a directory (`O_DIRECTORY | O_RDONLY | O_CLOEXEC`) to serve as the root of `*_beneath` calls.
pub fn open_dir(path: &Path) -> io::Result<File> {
    // std adds O_CLOEXEC itself.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(path)
}

/// Opens the regular file `relative` beneath `dir`, refusing any path that would leave it.
///
/// Absolute paths, `..` components and symlinks anywhere on the path are
/// refused (kind `PermissionDenied` for the first two; the kernel's `ELOOP`,
/// `EXDEV` or `ENOTDIR` for symlinks). Anything that turns out not to be a
/// regular file (directory, FIFO, device) is refused with kind `InvalidInput`.
/// Files are created with mode 0o644 before the umask.
pub fn open_beneath(dir: &File, relative: &Path, flags: OpenFlags) -> io::Result<File> {
    let fd = openat_beneath(dir.as_fd(), relative, flags.bits(), FILE_MODE)?;
    let file = File::from(fd);
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

/// Opens the directory `relative` beneath `dir` (`O_DIRECTORY | O_RDONLY`), with the
/// same refusals as [`open_beneath`]. An empty path or `.` opens `dir` itself anew.
pub fn open_dir_beneath(dir: &File, relative: &Path) -> io::Result<File> {
    let flags = libc::O_DIRECTORY | libc::O_RDONLY | libc::O_CLOEXEC;
    openat_beneath(dir.as_fd(), relative, flags, 0).map(File::from)
}

/// Creates every missing directory of `relative` beneath `dir` (like `mkdir -p`),
/// never following a symlink. Existing directories are fine; an existing
/// non-directory or symlink on the way is an error. New directories get mode
/// 0o755 before the umask.
pub fn mkdir_beneath(dir: &File, relative: &Path) -> io::Result<()> {
    let parts = components(relative)?;
    let mut current: Option<OwnedFd> = None;
    for part in parts {
        let parent = current.as_ref().map_or(dir.as_fd(), |fd| fd.as_fd());
        let name = to_cstring(part)?;
        // SAFETY: `parent` is an open descriptor borrowed for the call; `name` is
        // NUL-terminated and outlives it.
        let rc = unsafe { libc::mkdirat(parent.as_raw_fd(), name.as_ptr(), DIR_MODE) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::AlreadyExists {
                return Err(err);
            }
        }
        // O_NOFOLLOW + O_DIRECTORY: a symlink (or a file) in the way is an error.
        let next = openat(parent, &name, walk_dir_flags(), 0)?;
        current = Some(next);
    }
    Ok(())
}

/// Flags for directories opened while walking: usable as `*at` anchors, never a symlink.
pub(super) fn walk_dir_flags() -> libc::c_int {
    libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC
}

/// The error for a path that is absolute or climbs out with `..`.
fn escape_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        "path must be relative and must not contain `..`",
    )
}

/// The normal components of `relative`, refusing absolute paths and `..`.
fn components(relative: &Path) -> io::Result<Vec<&OsStr>> {
    let mut parts = Vec::new();
    for c in relative.components() {
        match c {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(escape_error())
            }
        }
    }
    Ok(parts)
}

/// Splits `path` into its parent and a final normal component.
pub(super) fn split_last(path: &Path) -> io::Result<(&Path, &OsStr)> {
    components(path)?;
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => Ok((parent, name)),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "path names no file",
        )),
    }
}

/// Opens `relative` beneath `dir`: `openat2` if the kernel has it, else the component walk.
pub(super) fn openat_beneath(
    dir: BorrowedFd<'_>,
    relative: &Path,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    let parts = components(relative)?;
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        match openat2(dir, &parts, flags, mode) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                NO_OPENAT2.store(true, Ordering::Relaxed);
                log::debug!("openat2 unavailable; opening beneath by walking components");
            }
            // Old container seccomp filters answer EPERM for syscalls they do not
            // know. The walk is just as strict, so try it, without giving up on
            // openat2 for good: EPERM can also be a genuine answer.
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
            other => return other,
        }
    }
    walk_beneath(dir, &parts, flags, mode)
}

/// One `openat2` call with the beneath/no-symlink restrictions, retried on `EAGAIN`/`EINTR`.
fn openat2(
    dir: BorrowedFd<'_>,
    parts: &[&OsStr],
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    let mut joined = Vec::new();
    for part in parts {
        if !joined.is_empty() {
            joined.push(b'/');
        }
        joined.extend_from_slice(part.as_bytes());
    }
    if joined.is_empty() {
        joined.push(b'.');
    }
    let c_path = CString::new(joined)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    let how = OpenHow {
        // Flags are non-negative bit sets; the kernel takes them as u64.
        flags: u64::try_from(flags).unwrap_or(0),
        // openat2 insists on mode 0 unless O_CREAT or O_TMPFILE is set.
        mode: if flags & libc::O_CREAT != 0 {
            u64::from(mode)
        } else {
            0
        },
        resolve: RESOLVE,
    };
    let mut tries = 0;
    loop {
        // SAFETY: `c_path` is NUL-terminated, `how` is a valid open_how whose size
        // we pass, both outlive the call; `dir` is an open descriptor borrowed for it.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                c_path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if rc >= 0 {
            let fd = libc::c_int::try_from(rc)
                .map_err(|_| io::Error::other("openat2 returned an impossible descriptor"))?;
            // SAFETY: the kernel just returned this descriptor; nothing else owns it.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let err = io::Error::last_os_error();
        let retry = matches!(err.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EINTR));
        tries += 1;
        if !retry || tries >= OPENAT2_RETRIES {
            return Err(err);
        }
    }
}

/// Opens `parts` beneath `dir` one component at a time, each with `O_NOFOLLOW`.
///
/// `parts` holds only normal components (see [`components`]), so no step can
/// climb out, and `O_NOFOLLOW` refuses every symlink, magic links included.
fn walk_beneath(
    dir: BorrowedFd<'_>,
    parts: &[&OsStr],
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    let dot = OsStr::new(".");
    let (last, parents) = parts.split_last().unwrap_or((&dot, &[]));
    let mut current: Option<OwnedFd> = None;
    for part in parents {
        let parent = current.as_ref().map_or(dir, |fd| fd.as_fd());
        let next = openat(parent, &to_cstring(part)?, walk_dir_flags(), 0)?;
        current = Some(next);
    }
    let parent = current.as_ref().map_or(dir, |fd| fd.as_fd());
    openat(parent, &to_cstring(last)?, flags | libc::O_NOFOLLOW, mode)
}

/// `openat(2)`, retried on `EINTR`.
fn openat(
    dir: BorrowedFd<'_>,
    name: &CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    loop {
        // SAFETY: `name` is NUL-terminated and outlives the call; `dir` is an open
        // descriptor borrowed for it; the mode argument is read only with O_CREAT.
        let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, mode) };
        if fd >= 0 {
            // SAFETY: the kernel just returned this descriptor; nothing else owns it.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::tree;
    use super::super::MappedRange;
    use super::*;
    use std::io::{Read, Write};

    fn read_all(mut f: File) -> Vec<u8> {
        let mut v = Vec::new();
        f.read_to_end(&mut v).unwrap();
        v
    }

    #[test]
    fn open_beneath_accepts_inside_paths() {
        let (_t, dir) = tree();
        let f = open_beneath(&dir, Path::new("a/b.txt"), OpenFlags::ReadOnly).unwrap();
        assert_eq!(read_all(f), b"inside");
        let f = open_beneath(&dir, Path::new("./a//b.txt"), OpenFlags::ReadOnly).unwrap();
        assert_eq!(read_all(f), b"inside");
    }

    fn assert_escapes_refused(open: &dyn Fn(&Path) -> io::Result<OwnedFd>) {
        for bad in [
            "../outside.txt",
            "a/../../outside.txt",
            "a/../b.txt",
            "/etc/passwd",
            "link",
            "uplink/outside.txt",
            "innerlink",
            "/proc/self/root/etc/passwd",
        ] {
            assert!(open(Path::new(bad)).is_err(), "{bad} was opened");
        }
    }

    #[test]
    fn open_beneath_refuses_escapes() {
        let (_t, dir) = tree();
        assert_escapes_refused(&|p| open_beneath(&dir, p, OpenFlags::ReadOnly).map(OwnedFd::from));
        assert!(open_beneath(&dir, Path::new("../new.txt"), OpenFlags::CreateNew).is_err());
        assert!(open_beneath(&dir, Path::new("link"), OpenFlags::CreateReadWrite).is_err());
    }

    #[test]
    fn fallback_walk_refuses_escapes_and_accepts_inside() {
        let (_t, dir) = tree();
        let walk = |p: &Path, flags: libc::c_int| {
            let parts = components(p)?;
            walk_beneath(dir.as_fd(), &parts, flags, FILE_MODE)
        };
        assert_escapes_refused(&|p| walk(p, OpenFlags::ReadOnly.bits()));
        let fd = walk(Path::new("a/b.txt"), OpenFlags::ReadOnly.bits()).unwrap();
        assert_eq!(read_all(File::from(fd)), b"inside");
        let fd = walk(Path::new("a/new.txt"), OpenFlags::CreateNew.bits()).unwrap();
        drop(fd);
        assert!(walk(Path::new("a/new.txt"), OpenFlags::CreateNew.bits()).is_err());
        // A symlink as an intermediate directory is refused too.
        assert!(walk(
            Path::new("uplink/share/a/b.txt"),
            OpenFlags::ReadOnly.bits()
        )
        .is_err());
    }

    #[test]
    fn kernel_refuses_escapes_by_itself() {
        // Bypasses the lexical check to show openat2 alone enforces the boundary.
        let (_t, dir) = tree();
        let flags = OpenFlags::ReadOnly.bits();
        let up = [OsStr::new(".."), OsStr::new("outside.txt")];
        match openat2(dir.as_fd(), &up, flags, 0) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => return,
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EXDEV)),
            Ok(_) => panic!("openat2 opened ../outside.txt"),
        }
        let abs = [OsStr::new("/etc/passwd")];
        assert!(openat2(dir.as_fd(), &abs, flags, 0).is_err());
        let link = [OsStr::new("link")];
        let e = openat2(dir.as_fd(), &link, flags, 0).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
        assert!(openat2(
            dir.as_fd(),
            &[OsStr::new("a"), OsStr::new("b.txt")],
            flags,
            0
        )
        .is_ok());
    }

    #[test]
    fn create_modes() {
        let (t, dir) = tree();
        let mut f = open_beneath(&dir, Path::new("a/new.txt"), OpenFlags::CreateNew).unwrap();
        f.write_all(b"one").unwrap();
        let e = open_beneath(&dir, Path::new("a/new.txt"), OpenFlags::CreateNew).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        let f = open_beneath(&dir, Path::new("a/new.txt"), OpenFlags::CreateReadWrite).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&f, b"two", 2).unwrap();
        assert_eq!(MappedRange::new(&f, 1, 4).unwrap().bytes(), b"ntwo");
        assert!(MappedRange::new(&f, 2, 4).is_err(), "past the end");
        let mut f = open_beneath(&dir, Path::new("a/app.txt"), OpenFlags::CreateReadWrite).unwrap();
        f.write_all(b"x").unwrap();
        assert_eq!(
            std::fs::read(t.0.join("share/a/new.txt")).unwrap(),
            b"ontwo"
        );
        assert_eq!(std::fs::read(t.0.join("share/a/app.txt")).unwrap(), b"x");
        // Directories and empty paths are not regular files.
        assert!(open_beneath(&dir, Path::new("a"), OpenFlags::ReadOnly).is_err());
        assert!(open_beneath(&dir, Path::new(""), OpenFlags::ReadOnly).is_err());
    }

    #[test]
    fn fifo_is_refused_without_blocking() {
        let (t, dir) = tree();
        let fifo = to_cstring(t.0.join("share/fifo").as_os_str()).unwrap();
        // SAFETY: test-only mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let e = open_beneath(&dir, Path::new("fifo"), OpenFlags::ReadOnly).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
