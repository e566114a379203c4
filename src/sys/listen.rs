//! TCP listeners with a chosen accept backlog (`listen(2)`; std and mio fix it at 128).

use mio::net::TcpListener;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

/// A backlog that holds a reconnect storm of a thousand clients while the loop catches
/// up, so none falls into the kernel's 1 s SYN retries. The kernel caps any backlog
/// at `net.core.somaxconn` (4,096 by default since Linux 5.4).
pub const DEFAULT_LISTEN_BACKLOG: u32 = 1024;

/// A non-blocking TCP listener on `addr` (IPv4 or IPv6) whose accept queue holds
/// `backlog` connections (capped at `somaxconn` by the kernel).
///
/// The socket is mio's own, `SO_REUSEADDR` and `IPV6_V6ONLY` as std sets them; on
/// Linux a second `listen` on a listening socket only changes its backlog.
pub fn bind_tcp_listener(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    if let Some(cap) = somaxconn().filter(|cap| backlog > *cap) {
        log::warn!(
            "a listen backlog of {backlog} is capped at {cap} by the kernel \
             (net.core.somaxconn); raise that sysctl for a deeper queue"
        );
    }
    let listener = TcpListener::bind(addr)?;
    let backlog = libc::c_int::try_from(backlog).unwrap_or(libc::c_int::MAX);
    // SAFETY: the descriptor is the listener's own, open for this whole call; listen
    // reads nothing but its two integer arguments.
    if unsafe { libc::listen(listener.as_raw_fd(), backlog) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(listener)
}

/// The kernel's cap on any listen backlog, if it can be read.
pub fn somaxconn() -> Option<u32> {
    let text = std::fs::read_to_string("/proc/sys/net/core/somaxconn").ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;
    use std::time::Duration;

    /// Connections a backlog of 600 must hold while nothing accepts; std's 128
    /// would hold 129 and time the 130th out.
    const UNACCEPTED: usize = 500;

    /// The kernel's cap on any backlog (4,096 if unreadable).
    fn cap() -> usize {
        super::somaxconn().map_or(4096, |cap| cap as usize)
    }

    #[test]
    fn backlog_holds_connections_nobody_accepts() {
        // Each connection holds a descriptor until the end; the limit may be 1,024.
        crate::sys::raise_nofile_limit().unwrap();
        // Below 600 the kernel caps the backlog, so ask only for what it would hold.
        let backlog = 600.min(cap());
        let connections = UNACCEPTED.min(backlog - backlog / 6);
        let listener = bind_tcp_listener("127.0.0.1:0".parse().unwrap(), backlog as u32).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut held = Vec::with_capacity(connections);
        for n in 0..connections {
            match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
                Ok(stream) => held.push(stream),
                Err(e) => panic!("connection {n} of {connections} (backlog {backlog}): {e}"),
            }
        }
        assert_eq!(held.len(), connections);
    }

    #[test]
    fn a_taken_address_is_addr_in_use() {
        let listener = bind_tcp_listener("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let taken = listener.local_addr().unwrap();
        let err = bind_tcp_listener(taken, 16).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }
}
