//! Safe wrappers for the few Linux system calls std lacks: sendfile, splice, mmap,
//! sync_file_range, pwritev, setrlimit, statvfs, openat2, fcntl file flags, termios, poll, and
//! `listen` with a chosen backlog.
//!
//! All `unsafe` in the crate that talks to the kernel directly lives here, each
//! block with a `SAFETY` note. The functions know nothing of peerhub.
//!
//! One room per kind of call: `beneath` (open, create and `mkdir -p` beneath a
//! directory), `rename` (rename beneath it), `disk` (free space, writeback, writes
//! of many pieces at once),
//! `zerocopy` (`sendfile`, `splice` through a [`Pipe`], [`MappedRange`]),
//! `term` (terminal and stdin descriptors), `process` (open-file limit,
//! heap trimming), `listen` (TCP listeners with a chosen accept backlog) and `alloc`
//! (the binary's allocator: big blocks on a cache line, for glibc's copies).
//! Every item is re-exported here, so callers name `sys::X`.

mod alloc;
mod beneath;
mod disk;
mod listen;
mod process;
mod rename;
mod term;
mod zerocopy;

pub use alloc::LineAligned;
pub use beneath::{mkdir_beneath, open_beneath, open_dir, open_dir_beneath, OpenFlags};
pub use disk::{free_space, sync_file_range, write_all_vectored_at, RangeSync};
pub use listen::{bind_tcp_listener, DEFAULT_LISTEN_BACKLOG};
pub use process::{give_back_memory, raise_nofile_limit};
pub use rename::{remove_beneath, rename_beneath, rename_beneath_noreplace};
pub use term::{fd_flags, poll_fd, set_fd_flags, set_termios, terminal_columns, termios, write_fd};
pub use zerocopy::{sendfile, MappedRange, Pipe};

use std::ffi::{CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;

/// A C string from raw path bytes; an interior NUL is `InvalidInput`.
fn to_cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// Helpers the rooms' tests share.
#[cfg(test)]
mod testing {
    use super::open_dir;
    use std::fs::File;
    use std::os::unix::fs::symlink;

    pub(super) use crate::testing::TempDir;

    /// A tree: root/share/a/b.txt, root/outside.txt, and symlinks in share pointing out.
    pub(super) fn tree() -> (TempDir, File) {
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
}
