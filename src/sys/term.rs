//! The terminal and stdin descriptors: file status flags (`fcntl`), terminal
//! settings and width (`tcgetattr`/`tcsetattr`, `TIOCGWINSZ`), an unbuffered
//! `write(2)` and a `poll(2)` on one descriptor.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsFd;

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
}
