//! What the disk holds and when it gets it: free space (`statvfs`) and the
//! writeback of a file's dirty pages (`sync_file_range`).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::to_cstring;

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

/// Write every byte of `pieces`, one after the other, to `file` from `offset`
/// (`pwritev`, resumed after a short write): pieces that lie apart in memory but next
/// to each other in the file, in one call.
pub fn write_all_vectored_at(file: &File, mut offset: u64, pieces: &[&[u8]]) -> io::Result<()> {
    // At most IOV_MAX (1024 on Linux) slices per call.
    for batch in pieces.chunks(1024) {
        let mut iov: Vec<libc::iovec> = batch
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| libc::iovec {
                iov_base: p.as_ptr() as *mut libc::c_void,
                iov_len: p.len(),
            })
            .collect();
        let mut first = 0;
        while first < iov.len() {
            let Some(rest) = iov.get(first..) else {
                break;
            };
            let at = libc::off_t::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
            let count = libc::c_int::try_from(rest.len()).unwrap_or(libc::c_int::MAX);
            // SAFETY: every iovec points into a slice borrowed for this call, with its
            // length; the descriptor is the open file's.
            let n = unsafe { libc::pwritev(file.as_raw_fd(), rest.as_ptr(), count, at) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            let mut n = n as usize;
            offset += n as u64;
            // Skip what was written: whole slices, then the front of the next.
            while n > 0 && first < iov.len() {
                let len = iov[first].iov_len;
                if n >= len {
                    n -= len;
                    first += 1;
                } else {
                    // SAFETY: advancing within the same slice, by less than its length.
                    iov[first].iov_base =
                        unsafe { (iov[first].iov_base as *mut u8).add(n) } as *mut libc::c_void;
                    iov[first].iov_len = len - n;
                    n = 0;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testing::TempDir;
    use super::super::Pipe;
    use super::*;
    use std::io::Write;

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
    fn free_space_is_positive() {
        assert!(free_space(&std::env::temp_dir()).unwrap() > 0);
        assert!(free_space(Path::new("/no/such/dir/peerhub")).is_err());
    }

    #[test]
    fn pieces_apart_in_memory_land_next_to_each_other_in_the_file() {
        let dir = crate::testing::TempDir::new("pwritev");
        let path = dir.path().join("f");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let pieces: Vec<Vec<u8>> = (0..2000u32)
            .map(|i| vec![(i % 251) as u8; (i % 7) as usize])
            .collect();
        let slices: Vec<&[u8]> = pieces.iter().map(|p| p.as_slice()).collect();
        write_all_vectored_at(&file, 3, &slices).unwrap();
        let got = std::fs::read(&path).unwrap();
        assert_eq!(&got[..3], &[0, 0, 0]);
        assert_eq!(
            got[3..],
            pieces.concat(),
            "more slices than IOV_MAX, empty ones too"
        );
    }
}
