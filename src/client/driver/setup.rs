//! Start-up: the share dir, the client's identity in it, the hub's address, the peer
//! listener, where commands come from.

use crate::client::terminal::Terminal;
use crate::client::ClientConfig;
use crate::net::stdin::StdinLines;
use crate::net::tokens;
use crate::trust::Identity;
use log::warn;
use mio::net::TcpListener;
use mio::{Interest, Poll};
use std::io::{self, IsTerminal};
use std::net::SocketAddr;
use std::net::ToSocketAddrs;
use std::net::UdpSocket;
use std::path::Path;
use std::path::PathBuf;

/// The share dir, created if missing; an error names it and what is wrong.
pub(super) fn share_dir(share: &Path) -> io::Result<PathBuf> {
    let named =
        |e: io::Error| io::Error::new(e.kind(), format!("--share {}: {e}", share.display()));
    if share.exists() && !share.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("--share {}: not a directory", share.display()),
        ));
    }
    std::fs::create_dir_all(share).map_err(named)?;
    share.canonicalize().map_err(named)
}

/// The client's identity, `<share>/.peerhub-identity.pem`, made on first start; an
/// exposed or corrupt file is an error that names it and says what to do.
pub(super) fn identity(share: &Path) -> io::Result<Identity> {
    Identity::load_or_create_peer(share).map_err(io::Error::other)
}

/// The hub's address; an error names the host that could not be resolved.
pub(super) fn resolve(server: &str) -> io::Result<SocketAddr> {
    let host = server
        .rsplit_once(':')
        .map_or(server, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let unknown = |why: String| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("--server {server}: cannot resolve the host {host:?}: {why}"),
        )
    };
    server
        .to_socket_addrs()
        .map_err(|e| unknown(e.to_string()))?
        .next()
        .ok_or_else(|| unknown("no address".into()))
}

/// The local address this host uses to reach `hub` (a routing lookup; nothing is sent).
fn local_address_toward(hub: SocketAddr) -> io::Result<SocketAddr> {
    let unspecified: SocketAddr = if hub.is_ipv4() {
        "0.0.0.0:0".parse().map_err(io::Error::other)?
    } else {
        "[::]:0".parse().map_err(io::Error::other)?
    };
    let probe = UdpSocket::bind(unspecified)?;
    probe.connect(hub)?;
    let mut local = probe.local_addr()?;
    local.set_port(0);
    Ok(local)
}

/// The peer listener on `--listen`, or on the address this host uses toward the hub.
pub(super) fn bind_listener(
    config: &ClientConfig,
    hub_addr: SocketAddr,
    poll: &Poll,
) -> io::Result<TcpListener> {
    let listen = match config.listen {
        Some(addr) => addr,
        None => local_address_toward(hub_addr)?,
    };
    let backlog = crate::sys::DEFAULT_LISTEN_BACKLOG;
    let mut listener = crate::sys::bind_tcp_listener(listen, backlog).map_err(|e| {
        let flag = if config.listen.is_some() {
            "--listen "
        } else {
            ""
        };
        io::Error::new(e.kind(), format!("peer listener {flag}{listen}: {e}"))
    })?;
    poll.registry()
        .register(&mut listener, tokens::LISTENER, Interest::READABLE)?;
    Ok(listener)
}

/// Where commands come from: the line editor when stdin and stdout are a terminal (and
/// not `--json`), else stdin's lines; the terminal alone (progress bars) when only
/// stdout is one. The flag says whether the line editor runs.
pub(super) fn open_input(
    config: &ClientConfig,
    poll: &Poll,
) -> (Option<Terminal>, Option<StdinLines>, bool) {
    let on_tty = !config.json && std::io::stdout().is_terminal();
    let keyboard = on_tty && std::io::stdin().is_terminal();
    let mut tty = None;
    if keyboard {
        match Terminal::start(poll.registry(), tokens::STDIN, &config.share, true) {
            Ok(t) => tty = Some(t),
            Err(e) => warn!("no line editor: {e}"),
        }
    }
    let interactive = tty.is_some();
    let stdin = if interactive {
        None
    } else {
        match StdinLines::register(poll.registry(), tokens::STDIN) {
            Ok(s) => Some(s),
            Err(e) => {
                warn!("no command input: {e}");
                None
            }
        }
    };
    if on_tty && tty.is_none() {
        tty = Terminal::start(poll.registry(), tokens::STDIN, &config.share, false).ok();
    }
    (tty, stdin, interactive)
}
