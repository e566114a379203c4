//! The process's own resources: the open-file limit (`RLIMIT_NOFILE`) and freed
//! heap pages handed back to the system (`malloc_trim`).

use std::io;

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

    #[test]
    fn nofile_limit_does_not_drop() {
        let before = rlim_to_u64(get_nofile().unwrap().rlim_cur);
        let after = raise_nofile_limit().unwrap();
        assert!(after >= before);
        assert_eq!(after, rlim_to_u64(get_nofile().unwrap().rlim_cur));
    }
}
