//! Where and how a web interface serves: its address, the further `Host` names it
//! takes, whether it is HTTPS (always off loopback: nothing in the clear on a
//! network), and the limits that bound it, each a flag of both processes.

use std::net::SocketAddr;
use std::time::Duration;

/// The default of `--web-max-conns`: connections a web interface holds at once
/// (pages, their assets, WebSockets); the next is closed at once.
pub const WEB_MAX_CONNS: usize = 64;
/// The default of `--web-head-timeout`: how long a connection has to send its whole
/// request head (slowloris), its TLS handshake included.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(10);
/// The default of `--web-max-message`: the longest WebSocket message accepted (a
/// command line is far shorter).
pub const MAX_MESSAGE: usize = 64 * 1024;
/// The default of `--web-max-queued`: bytes that may wait for one WebSocket before it
/// is dropped as a slow consumer.
pub const MAX_QUEUED: usize = 4 * 1024 * 1024;

/// What bounds a web interface (each a flag of both processes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebLimits {
    pub max_conns: usize,
    pub head_timeout: Duration,
    pub max_message: usize,
    pub max_queued: usize,
}

impl Default for WebLimits {
    fn default() -> WebLimits {
        WebLimits {
            max_conns: WEB_MAX_CONNS,
            head_timeout: HEAD_DEADLINE,
            max_message: MAX_MESSAGE,
            max_queued: MAX_QUEUED,
        }
    }
}

/// Where `--web` serves, the further `Host` names it accepts, whether HTTPS was asked
/// for on loopback too (`--web-https`), and its limits.
#[derive(Debug, Clone)]
pub struct WebListen {
    pub addr: SocketAddr,
    pub hosts: Vec<String>,
    pub https: bool,
    pub limits: WebLimits,
}

impl WebListen {
    /// Whether the interface is served over HTTPS: always off loopback (nothing in the
    /// clear on a network), on loopback when asked.
    pub fn serves_https(&self) -> bool {
        self.https || !self.addr.ip().is_loopback()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen(addr: &str, https: bool) -> WebListen {
        WebListen {
            addr: addr.parse().unwrap(),
            hosts: Vec::new(),
            https,
            limits: WebLimits::default(),
        }
    }

    #[test]
    fn https_off_loopback_always_and_on_loopback_when_asked() {
        for (addr, asked, https) in [
            ("127.0.0.1:0", false, false),
            ("127.9.9.9:0", false, false),
            ("[::1]:0", false, false),
            ("127.0.0.1:0", true, true),
            ("10.0.0.5:0", false, true),
            ("0.0.0.0:0", false, true),
            ("[::]:0", false, true),
            ("192.168.1.2:8080", true, true),
        ] {
            assert_eq!(listen(addr, asked).serves_https(), https, "{addr} {asked}");
        }
    }
}
