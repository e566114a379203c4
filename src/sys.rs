//! Safe wrappers for the few Linux system calls std lacks: sendfile, splice, mmap,
//! sync_file_range, setrlimit, statvfs, openat2, fcntl file flags, termios, poll.
//!
//! All `unsafe` in the crate that talks to the kernel directly lives here, each
//! block with a `SAFETY` note. The functions know nothing of peerhub.
//!
//! The `*_beneath` functions open paths *beneath* a directory handle with the
//! kernel enforcing it: `openat2(2)` with `RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`, so absolute paths, `..` above
//! the directory and any symlink are refused even if the tree changes between
//! a check and the open. On kernels without `openat2` (before 5.6) they walk
//! the path one component at a time with `O_NOFOLLOW`. Both ways also refuse
//! absolute paths and every `..` component up front, so the two behave alike.

use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path};
use std::sync::atomic::{AtomicBool, Ordering};

/// The most `sendfile` moves in one call on Linux; larger counts are clamped to it.
const SENDFILE_MAX: usize = 0x7fff_f000;

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
    /// written at explicit offsets, read back through a [`MappedRange`] to be hashed).
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

/// The file status flags of `fd` (`fcntl(F_GETFL)`: `O_NONBLOCK`, `O_APPEND`, …).
pub fn fd_flags(fd: BorrowedFd<'_>) -> io::Result<i32> {
    // SAFETY: F_GETFL on an open descriptor (the borrow keeps it open) reads no memory.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(flags)
}

/// Set the file status flags of `fd` (`fcntl(F_SETFL)`), e.g. to add `O_NONBLOCK`.
pub fn set_fd_flags(fd: BorrowedFd<'_>, flags: i32) -> io::Result<()> {
    // SAFETY: F_SETFL on an open descriptor takes an int and touches no memory.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The terminal settings of `fd` (`tcgetattr`).
pub fn termios(fd: BorrowedFd<'_>) -> io::Result<libc::termios> {
    // SAFETY: a zeroed termios is a valid out-parameter for tcgetattr.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: tcgetattr writes into `t`, which lives for the call, on an open fd.
    if unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(t)
}

/// Apply terminal settings to `fd` now (`tcsetattr(TCSANOW)`).
pub fn set_termios(fd: BorrowedFd<'_>, t: &libc::termios) -> io::Result<()> {
    // SAFETY: tcsetattr only reads `t`, a valid termios, for an open fd.
    if unsafe { libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The columns of the terminal on `fd` (`TIOCGWINSZ`); `None` if it is none or cannot say.
pub fn terminal_columns(fd: BorrowedFd<'_>) -> Option<u16> {
    // SAFETY: a zeroed winsize is a valid out-parameter for TIOCGWINSZ.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize into `ws`, which lives for the call.
    let ok = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) } == 0;
    (ok && ws.ws_col > 0).then_some(ws.ws_col)
}

/// One unbuffered `write(2)` of `bytes` to `fd`: how many were written.
pub fn write_fd(fd: BorrowedFd<'_>, bytes: &[u8]) -> io::Result<usize> {
    // SAFETY: writes from a live slice of `bytes.len()` bytes to an open fd.
    let n = unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Wait up to `timeout` for `events` (`libc::POLLIN`, `libc::POLLOUT`) on `fd`;
/// true if one came.
pub fn poll_fd(fd: BorrowedFd<'_>, events: i16, timeout: std::time::Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one pollfd that lives for the call.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n > 0)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the new soft limit.
///
/// If the hard limit is unlimited, the soft limit goes to `/proc/sys/fs/nr_open`,
/// the most the kernel allows.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut lim = get_nofile()?;
    if lim.rlim_cur >= lim.rlim_max {
        return Ok(rlim_to_u64(lim.rlim_cur));
    }
    let target = if lim.rlim_max == libc::RLIM_INFINITY {
        std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<libc::rlim_t>().ok())
            .unwrap_or(lim.rlim_cur)
    } else {
        lim.rlim_max
    };
    if target > lim.rlim_cur {
        lim.rlim_cur = target;
        // SAFETY: `lim` is a valid, initialised rlimit that setrlimit only reads.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(rlim_to_u64(get_nofile()?.rlim_cur))
}

/// The current `RLIMIT_NOFILE`.
fn get_nofile() -> io::Result<libc::rlimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit that getrlimit fills in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(lim)
}

/// An `rlim_t` as `u64` (a widening or identity cast, depending on the target).
// rlim_t is u64 here but u32 on some 32-bit targets, so the cast is not always a no-op.
#[allow(clippy::unnecessary_cast)]
fn rlim_to_u64(v: libc::rlim_t) -> u64 {
    v as u64
}

/// Sends up to `count` bytes of `file`, starting at `*offset`, to `out` with `sendfile(2)`.
///
/// Advances `*offset` by the bytes sent and returns that number; `Ok(0)` means
/// `*offset` is at or past the end of the file. A non-blocking `out` that is
/// full yields an error of kind `WouldBlock`. `EINTR` is retried. The file's
/// own position is not used or changed. `count` is clamped to Linux's per-call maximum.
pub fn sendfile(
    out: &impl AsRawFd,
    file: &File,
    offset: &mut u64,
    count: usize,
) -> io::Result<usize> {
    let mut off = libc::off64_t::try_from(*offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "sendfile offset too large"))?;
    let count = count.min(SENDFILE_MAX);
    loop {
        // SAFETY: both descriptors are borrowed, so they stay open for the call;
        // `off` is a valid off64_t the kernel reads and updates.
        let n = unsafe { libc::sendfile64(out.as_raw_fd(), file.as_raw_fd(), &mut off, count) };
        if n >= 0 {
            *offset = u64::try_from(off).unwrap_or(*offset);
            return Ok(usize::try_from(n).unwrap_or(0));
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// How far [`sync_file_range`] goes with a range of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSync {
    /// Start writing the range's dirty pages back and return at once
    /// (`SYNC_FILE_RANGE_WRITE`; it blocks only if the device's queue is full).
    Start,
    /// Wait until the range is written back: writeback already under way first, then
    /// what is still dirty (`WAIT_BEFORE | WRITE | WAIT_AFTER`).
    Finish,
}

/// Writes back `len` bytes of `file` from `offset` with `sync_file_range(2)`, started
/// or finished as `how` says. It moves data pages only (no metadata, no cache flush of
/// the device): it does not replace an `fsync`, it makes the one that follows cheap
/// and keeps the dirty pages a writer leaves behind bounded. `len` 0 means to the end
/// of the file. `EINTR` is retried.
pub fn sync_file_range(file: &File, offset: u64, len: u64, how: RangeSync) -> io::Result<()> {
    let too_large = |_| io::Error::new(io::ErrorKind::InvalidInput, "sync range too large");
    let off = libc::off64_t::try_from(offset).map_err(too_large)?;
    let len = libc::off64_t::try_from(len).map_err(too_large)?;
    let flags = match how {
        RangeSync::Start => libc::SYNC_FILE_RANGE_WRITE,
        RangeSync::Finish => {
            libc::SYNC_FILE_RANGE_WAIT_BEFORE
                | libc::SYNC_FILE_RANGE_WRITE
                | libc::SYNC_FILE_RANGE_WAIT_AFTER
        }
    };
    loop {
        // SAFETY: the descriptor is borrowed, so it stays open for the call; the other
        // arguments are plain integers.
        if unsafe { libc::sync_file_range(file.as_raw_fd(), off, len, flags) } == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// The most one pipe of a [`Pipe`] asks to hold (Linux's default `pipe-max-size`).
const PIPE_WANTED: libc::c_int = 1024 * 1024;

/// A non-blocking pipe to [`splice`] socket bytes through into a file without
/// copying them into user space.
pub struct Pipe {
    read: File,
    write: OwnedFd,
    capacity: usize,
}

impl Pipe {
    /// A new pipe, enlarged to 1 MiB when the system allows it (an unprivileged
    /// user's pipes share a quota; past it the pipe keeps the default 64 KiB).
    pub fn new() -> io::Result<Pipe> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both are fresh descriptors owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let read = File::from(read);
        // SAFETY: F_SETPIPE_SZ / F_GETPIPE_SZ on a pipe we own; failure is harmless.
        let capacity = unsafe {
            libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_WANTED);
            libc::fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ)
        };
        Ok(Pipe {
            read,
            write,
            capacity: usize::try_from(capacity).unwrap_or(0).max(4096),
        })
    }

    /// How many bytes the pipe holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Moves up to `count` bytes waiting on `socket` into the pipe. `Ok(0)` means
    /// the peer closed the socket; nothing waiting yields kind `WouldBlock`.
    pub fn fill_from(&self, socket: &impl AsRawFd, count: usize) -> io::Result<usize> {
        splice(socket.as_raw_fd(), self.write.as_raw_fd(), None, count)
    }

    /// Moves up to `count` bytes out of the pipe into `file` at `*offset` (the
    /// file's own position is unused) and advances `*offset`.
    pub fn drain_into(&self, file: &File, offset: &mut u64, count: usize) -> io::Result<usize> {
        splice(self.read.as_raw_fd(), file.as_raw_fd(), Some(offset), count)
    }

    /// Reads bytes out of the pipe into `buf` (for a file that refuses splice).
    pub fn read_out(&self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(&mut &self.read, buf)
    }
}

/// `splice(2)` from `from` to `to`, one of them a pipe, writing at `*to_offset` (advanced)
/// when `to` is a file. Non-blocking; `EINTR` is retried.
fn splice(
    from: libc::c_int,
    to: libc::c_int,
    to_offset: Option<&mut u64>,
    count: usize,
) -> io::Result<usize> {
    let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;
    let mut off =
        match &to_offset {
            Some(o) => Some(libc::loff_t::try_from(**o).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, "splice offset too large")
            })?),
            None => None,
        };
    let count = count.min(SENDFILE_MAX);
    loop {
        let off_ptr = off
            .as_mut()
            .map_or(std::ptr::null_mut(), |o| o as *mut libc::loff_t);
        // SAFETY: the descriptors are open for the call (owned or borrowed by the
        // callers); the output offset pointer is null or points at `off`, a live
        // loff_t that the kernel reads and updates.
        let n = unsafe { libc::splice(from, std::ptr::null_mut(), to, off_ptr, count, flags) };
        if n >= 0 {
            if let (Some(slot), Some(v)) = (to_offset, off) {
                *slot = u64::try_from(v).unwrap_or(*slot);
            }
            return Ok(usize::try_from(n).unwrap_or(0));
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// A read-only shared mapping of a byte range of a file, unmapped on drop: a
/// way to read bytes that are already in the page cache without copying them.
///
/// The range must lie within the file and the file must not shrink while the
/// mapping is read: the kernel answers a read of a page past the end of the
/// file with `SIGBUS`. Map only bytes this process itself wrote to a file it
/// owns (a partial download), and drop the mapping right after reading it.
pub struct MappedRange {
    base: *mut libc::c_void,
    map_len: usize,
    skip: usize,
    len: usize,
}

impl MappedRange {
    /// Maps `len` bytes of `file` (opened for reading) from `offset`, which
    /// must be within the file's current size (checked).
    pub fn new(file: &File, offset: u64, len: usize) -> io::Result<MappedRange> {
        let end = offset.saturating_add(len as u64);
        if end > file.metadata()?.len() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "mapping past the end of the file",
            ));
        }
        // SAFETY: sysconf has no preconditions.
        let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let start = offset - offset % page;
        let skip = usize::try_from(offset - start).unwrap_or(0);
        let map_len = skip + len;
        if len == 0 {
            return Ok(MappedRange {
                base: std::ptr::null_mut(),
                map_len: 0,
                skip: 0,
                len: 0,
            });
        }
        let at = libc::off64_t::try_from(start)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "mapping offset too large"))?;
        // SAFETY: a fresh read-only shared mapping chosen by the kernel (null hint)
        // of a descriptor borrowed for the call; nothing else is touched.
        let base = unsafe {
            libc::mmap64(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                file.as_raw_fd(),
                at,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(MappedRange {
            base,
            map_len,
            skip,
            len,
        })
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `base` maps `map_len = skip + len` readable bytes that stay mapped
        // until drop, which the returned borrow cannot outlive; the range was within
        // the file when mapped (see the type's note on files that shrink).
        unsafe { std::slice::from_raw_parts(self.base.cast::<u8>().add(self.skip), self.len) }
    }
}

impl Drop for MappedRange {
    fn drop(&mut self) {
        if self.map_len > 0 {
            // SAFETY: `base`/`map_len` are exactly the mapping made in `new`, unmapped once.
            unsafe { libc::munmap(self.base, self.map_len) };
        }
    }
}

/// Bytes available to an unprivileged user on the file system holding `path`
/// (`f_bavail * f_frsize` from `statvfs(3)`).
pub fn free_space(path: &Path) -> io::Result<u64> {
    let c_path = to_cstring(path.as_os_str())?;
    // SAFETY: statvfs is a plain C struct of integers, for which all-zero is valid.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is NUL-terminated and outlives the call; `st` is writable.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // Widening or identity casts: the field types vary by target.
    let avail = st.f_bavail as u64;
    let frsize = st.f_frsize as u64;
    Ok(avail.saturating_mul(frsize))
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

/// Both ends of a rename beneath a directory: the parents opened beneath it (same
/// refusals as [`open_beneath`]) and the final names, which are never followed.
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

/// Renames `from` to `to`, both beneath `dir`, with `renameat(2)`; replaces an
/// existing `to` as `rename(2)` does.
///
/// The parents of both paths are opened beneath `dir` (same refusals as
/// [`open_beneath`]); the final components are not followed if they are symlinks.
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

/// Flags for directories opened while walking: usable as `*at` anchors, never a symlink.
fn walk_dir_flags() -> libc::c_int {
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
fn split_last(path: &Path) -> io::Result<(&Path, &OsStr)> {
    components(path)?;
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => Ok((parent, name)),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "path names no file",
        )),
    }
}

/// A C string from raw path bytes; an interior NUL is `InvalidInput`.
fn to_cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// Opens `relative` beneath `dir`: `openat2` if the kernel has it, else the component walk.
fn openat_beneath(
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

/// Hands freed heap pages back to the system (`malloc_trim(0)`; glibc keeps them
/// otherwise, so a burst's memory would stay resident after it was freed). A no-op
/// where the C library has no such call.
pub fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and releases the allocator's own free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;
    use std::sync::atomic::AtomicU32;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let p =
                std::env::temp_dir().join(format!("peerhub-sys-{tag}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn fd_flags_round_trip_and_nonblocking_takes_effect() {
        let (mut a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let old = fd_flags(a.as_fd()).unwrap();
        assert_eq!(old & libc::O_NONBLOCK, 0);
        set_fd_flags(a.as_fd(), old | libc::O_NONBLOCK).unwrap();
        assert_ne!(fd_flags(a.as_fd()).unwrap() & libc::O_NONBLOCK, 0);
        let err = a.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        set_fd_flags(a.as_fd(), old).unwrap();
        assert_eq!(fd_flags(a.as_fd()).unwrap(), old);
    }

    #[test]
    fn write_fd_poll_fd_and_termios_on_a_socket() {
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let wait = std::time::Duration::from_secs(5);
        assert!(!poll_fd(b.as_fd(), libc::POLLIN, std::time::Duration::ZERO).unwrap());
        assert_eq!(write_fd(a.as_fd(), b"hello").unwrap(), 5);
        assert!(poll_fd(b.as_fd(), libc::POLLIN, wait).unwrap());
        let mut got = [0u8; 5];
        b.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");
        // A socket is no terminal: no settings, no width.
        assert!(termios(a.as_fd()).is_err());
        assert_eq!(terminal_columns(a.as_fd()), None);
    }

    /// A tree: root/share/a/b.txt, root/outside.txt, and symlinks in share pointing out.
    fn tree() -> (TempDir, File) {
        let t = TempDir::new("tree");
        let share = t.0.join("share");
        std::fs::create_dir_all(share.join("a")).unwrap();
        std::fs::write(share.join("a/b.txt"), b"inside").unwrap();
        std::fs::write(t.0.join("outside.txt"), b"secret").unwrap();
        symlink(t.0.join("outside.txt"), share.join("link")).unwrap();
        symlink(&t.0, share.join("uplink")).unwrap();
        symlink("a/b.txt", share.join("innerlink")).unwrap();
        let dir = open_dir(&share).unwrap();
        (t, dir)
    }

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

    #[test]
    fn sync_file_range_starts_and_finishes_writeback() {
        let t = TempDir::new("syncrange");
        let path = t.0.join("f");
        let mut f = File::create(&path).unwrap();
        f.write_all(&vec![7u8; 256 * 1024]).unwrap();
        sync_file_range(&f, 0, 128 * 1024, RangeSync::Start).unwrap();
        sync_file_range(&f, 128 * 1024, 0, RangeSync::Start).unwrap();
        sync_file_range(&f, 0, 256 * 1024, RangeSync::Finish).unwrap();
        // Past the end is nothing to do, not an error.
        sync_file_range(&f, 1 << 40, 4096, RangeSync::Finish).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), vec![7u8; 256 * 1024]);
        // Offsets the kernel cannot take are refused before the call.
        let err = sync_file_range(&f, u64::MAX, 1, RangeSync::Start).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        // A pipe has no pages to write back.
        let pipe = Pipe::new().unwrap();
        let err = sync_file_range(&pipe.read, 0, 0, RangeSync::Start).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ESPIPE));
    }

    #[test]
    fn sendfile_over_tcp() {
        let t = TempDir::new("sendfile");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let path = t.0.join("data");
        std::fs::write(&path, &data).unwrap();
        let file = File::open(&path).unwrap();

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            got
        });
        let out = std::net::TcpStream::connect(addr).unwrap();
        let mut offset = 1000u64;
        while (offset as usize) < data.len() {
            let before = offset;
            let n = sendfile(&out, &file, &mut offset, 65536).unwrap();
            assert!(n > 0);
            assert_eq!(offset, before + n as u64);
        }
        assert_eq!(sendfile(&out, &file, &mut offset, 10).unwrap(), 0);
        drop(out);
        assert_eq!(reader.join().unwrap(), &data[1000..]);
    }

    #[test]
    fn sendfile_nonblocking_unix_would_block() {
        let t = TempDir::new("sendfile-nb");
        let data = vec![7u8; 4 << 20];
        let path = t.0.join("data");
        std::fs::write(&path, &data).unwrap();
        let file = File::open(&path).unwrap();
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let mut offset = 0u64;
        let err = loop {
            match sendfile(&a, &file, &mut offset, data.len()) {
                Ok(n) => assert!(n > 0),
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(offset > 0 && (offset as usize) < data.len());
        let mut got = vec![0u8; offset as usize];
        b.read_exact(&mut got).unwrap();
        assert!(got.iter().all(|&x| x == 7));
    }

    #[test]
    fn free_space_is_positive() {
        assert!(free_space(&std::env::temp_dir()).unwrap() > 0);
        assert!(free_space(Path::new("/no/such/dir/peerhub")).is_err());
    }

    #[test]
    fn nofile_limit_does_not_drop() {
        let before = rlim_to_u64(get_nofile().unwrap().rlim_cur);
        let after = raise_nofile_limit().unwrap();
        assert!(after >= before);
        assert_eq!(after, rlim_to_u64(get_nofile().unwrap().rlim_cur));
    }
}
