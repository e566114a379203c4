//! Blocking hub sessions for benches that script a few connections by hand (an
//! attacker's burst, an honest client's closed loop), optionally from a chosen
//! loopback address.

use peerhub::proto::frame;
use peerhub::proto::message::{ClientMsg, HubMsg, Role as HelloRole, VERSION};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::FromRawFd;

/// The largest frame a bench accepts from the hub (an old build's search reply).
const MAX_REPLY: usize = 16 * 1024 * 1024;

/// A reply's status and message.
pub type Reply = (u16, String);

/// One session connection with its receive buffer.
pub struct Blocking {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Blocking {
    /// Connect (from `from`, else the default address), say hello, read the welcome.
    pub fn hello(addr: SocketAddr, from: Option<Ipv4Addr>) -> io::Result<Blocking> {
        let stream = match from {
            Some(ip) => connect_from(ip, addr)?,
            None => TcpStream::connect(addr)?,
        };
        stream.set_nodelay(true)?;
        let mut conn = Blocking {
            stream,
            buf: Vec::new(),
        };
        conn.send(&ClientMsg::Hello {
            version: VERSION,
            role: HelloRole::Session,
        })?;
        match conn.next_message()? {
            HubMsg::Welcome { .. } => Ok(conn),
            other => Err(io::Error::other(format!("expected a welcome: {other:?}"))),
        }
    }

    /// Register `user` with the password `bench-password` on a connection of its own.
    pub fn registered(addr: SocketAddr, user: &str) -> io::Result<Blocking> {
        let mut conn = Blocking::hello(addr, None)?;
        let register = ClientMsg::Register {
            tag: 1,
            user: user.into(),
            password: "bench-password".into(),
        };
        match conn.call(&register)? {
            (201, _) => Ok(conn),
            (status, message) => Err(io::Error::other(format!("register: {status} {message}"))),
        }
    }

    /// Register and log in `user`.
    pub fn logged_in(addr: SocketAddr, user: &str) -> io::Result<Blocking> {
        let mut conn = Blocking::registered(addr, user)?;
        match conn.login(user)? {
            (200, _) => Ok(conn),
            (status, message) => Err(io::Error::other(format!("login: {status} {message}"))),
        }
    }

    /// Log in as `user` with the password `bench-password`.
    pub fn login(&mut self, user: &str) -> io::Result<Reply> {
        self.call(&ClientMsg::Login {
            tag: 2,
            user: user.into(),
            password: "bench-password".into(),
            peer_port: 40_000,
            fingerprint: peerhub::trust::Fingerprint::from_bytes([0; 32]),
        })
    }

    /// Send `msg` and wait for the next reply (pushes are skipped).
    pub fn call(&mut self, msg: &ClientMsg) -> io::Result<Reply> {
        self.send(msg)?;
        self.next_reply()
    }

    pub fn send(&mut self, msg: &ClientMsg) -> io::Result<()> {
        let mut out = Vec::new();
        msg.encode(&mut out);
        self.send_bytes(&out)
    }

    /// Write all of `bytes` (blocking, or spinning on a non-blocking socket).
    pub fn send_bytes(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match self.stream.write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub fn set_nonblocking(&mut self, on: bool) -> io::Result<()> {
        self.stream.set_nonblocking(on)
    }

    /// The next reply, blocking.
    pub fn next_reply(&mut self) -> io::Result<Reply> {
        loop {
            if let Some(reply) = self.take_reply()? {
                return Ok(reply);
            }
            self.fill()?;
        }
    }

    /// A reply if one has arrived, on a non-blocking socket.
    pub fn try_reply(&mut self) -> io::Result<Option<Reply>> {
        loop {
            if let Some(reply) = self.take_reply()? {
                return Ok(Some(reply));
            }
            match self.fill() {
                Ok(()) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// The next message, blocking.
    fn next_message(&mut self) -> io::Result<HubMsg> {
        loop {
            if let Some(msg) = self.take_message()? {
                return Ok(msg);
            }
            self.fill()?;
        }
    }

    /// The first buffered reply, skipping (and answering) pushes.
    fn take_reply(&mut self) -> io::Result<Option<Reply>> {
        while let Some(msg) = self.take_message()? {
            match msg {
                HubMsg::Reply {
                    status, message, ..
                } => return Ok(Some((status.0, message))),
                HubMsg::Ping { nonce } => self.send(&ClientMsg::Pong { nonce })?,
                HubMsg::Bye { status, reason } => {
                    return Err(io::Error::other(format!("bye {}: {reason}", status.0)))
                }
                _ => {}
            }
        }
        Ok(None)
    }

    fn take_message(&mut self) -> io::Result<Option<HubMsg>> {
        let parsed = frame::try_parse(&self.buf, MAX_REPLY).map_err(io::Error::other)?;
        let Some((len, payload)) = parsed else {
            return Ok(None);
        };
        let msg = HubMsg::decode(payload).map_err(|e| io::Error::other(e.to_string()))?;
        self.buf.drain(..len);
        Ok(Some(msg))
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk)? {
            0 => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the hub closed the connection",
            )),
            n => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
        }
    }
}

/// A TCP connection to `to` from the loopback address `from` (bound before connect).
fn connect_from(from: Ipv4Addr, to: SocketAddr) -> io::Result<TcpStream> {
    let SocketAddr::V4(to) = to else {
        return Err(io::Error::other("an IPv4 hub address is needed"));
    };
    let sockaddr = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a fresh socket owned by the TcpStream at once; bind and connect read a
    // sockaddr_in of the length given.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let stream = TcpStream::from_raw_fd(fd);
        let local = sockaddr(from, 0);
        if libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), len) != 0 {
            return Err(io::Error::last_os_error());
        }
        let remote = sockaddr(*to.ip(), to.port());
        if libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), len) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stream)
    }
}

/// Whether the hub binary under test (`PEERHUB_BENCH_HUB_BIN`, else this build) has
/// `flag`.
pub fn hub_knows(flag: &str) -> bool {
    let program = std::env::var_os("PEERHUB_BENCH_HUB_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_peerhub").into());
    std::process::Command::new(program)
        .args(["server", "--help"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(flag))
        .unwrap_or(false)
}

/// `--hash-rate 0 --max-per-address 0` as far as the hub under test knows them: the
/// per-address limits lifted for a bench whose many clients all come from 127.0.0.1.
pub fn per_address_limits_lifted() -> Vec<&'static str> {
    let mut flags = Vec::new();
    for flag in ["--hash-rate", "--max-per-address"] {
        if hub_knows(flag) {
            flags.extend([flag, "0"]);
        }
    }
    flags
}
