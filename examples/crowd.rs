//! A crowd on a hub, for the browser test of a busy page (`tests/browser/crowd.mjs`):
//! `crowd <hub addr> <hub fingerprint> <users> <lines> <lines per second>` logs
//! `users` accounts in over TLS (pinned to the hub's key, as a client is) through one
//! `mio` loop, a few dozen logins at a time, prints `{"event":"online","users":N}`,
//! then says `lines` chat lines spread over the crowd at the given rate, prints
//! `{"event":"chatted","lines":N}`, and stays online — answering the hub's pings —
//! until it is killed or its stdin closes. It speaks the wire format through the
//! library's own `proto` and TLS stream, so it is a client as the hub sees one; it is
//! built by `cargo test` (as every example), so the browser test finds it in
//! `target/debug/examples/`. Every step has a deadline; a refusal ends it with exit 1.

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use peerhub::net::tls::TlsStream;
use peerhub::net::wire::Wire;
use peerhub::proto::frame;
use peerhub::proto::message::{ClientMsg, HubMsg, Role, VERSION};
use peerhub::trust::{self, Fingerprint, ServerKeyVerifier};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Logins under way at once: enough to keep the hub busy, few enough that none waits
/// past the hub's hello deadline.
const LOGINS_AT_ONCE: usize = 32;
/// The whole crowd must be online within this.
const LOGIN_DEADLINE: Duration = Duration::from_secs(120);
const PASSWORD: &str = "crowd-password";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Hello sent; waiting for the welcome.
    Hello,
    /// Register sent.
    Register,
    /// Login sent.
    Login,
    Online,
}

/// One member of the crowd: its connection and where its login stands.
struct Member {
    name: String,
    wire: Wire<TcpStream>,
    stage: Stage,
    inbox: Vec<u8>,
    outbox: Vec<u8>,
}

impl Member {
    fn connect(n: usize, addr: SocketAddr, config: &Arc<ClientConfig>) -> io::Result<Member> {
        let socket = TcpStream::connect(addr)?;
        let name = ServerName::try_from("localhost").map_err(io::Error::other)?;
        let tls = TlsStream::client(config.clone(), name, socket).map_err(io::Error::other)?;
        let mut member = Member {
            name: format!("crowd-{n:04}"),
            wire: Wire::tls(tls),
            stage: Stage::Hello,
            inbox: Vec::new(),
            outbox: Vec::new(),
        };
        member.send(&ClientMsg::Hello {
            version: VERSION,
            role: Role::Session,
        });
        Ok(member)
    }

    fn send(&mut self, msg: &ClientMsg) {
        msg.encode(&mut self.outbox);
    }

    /// Write what is queued, as far as the socket takes it.
    fn flush(&mut self) -> io::Result<()> {
        while !self.outbox.is_empty() {
            match self.wire.write(&self.outbox) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.outbox.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        match self.wire.flush() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            other => other,
        }
    }

    /// Read until the socket is dry and act on each whole message.
    fn read(&mut self, scratch: &mut [u8]) -> io::Result<()> {
        loop {
            match self.wire.read(scratch) {
                Ok(0) => return Err(io::Error::other(format!("{}: the hub closed", self.name))),
                Ok(n) => self.inbox.extend_from_slice(&scratch[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let mut used = 0;
        while let Some((len, payload)) =
            frame::try_parse(&self.inbox[used..], frame::DEFAULT_MAX_FRAME)
                .map_err(|e| io::Error::other(e.to_string()))?
        {
            let msg = HubMsg::decode(payload).map_err(|e| io::Error::other(e.to_string()))?;
            used += len;
            self.on_message(msg)?;
        }
        self.inbox.drain(..used);
        Ok(())
    }

    fn on_message(&mut self, msg: HubMsg) -> io::Result<()> {
        match msg {
            HubMsg::Ping { nonce } => self.send(&ClientMsg::Pong { nonce }),
            HubMsg::Welcome { .. } if self.stage == Stage::Hello => {
                self.stage = Stage::Register;
                self.send(&ClientMsg::Register {
                    tag: 1,
                    user: self.name.clone(),
                    password: PASSWORD.into(),
                });
            }
            HubMsg::Reply {
                status, message, ..
            } if !(200..300).contains(&status.0) && self.stage != Stage::Online => {
                let why = format!(
                    "{}: {:?} refused: {} {message}",
                    self.name, self.stage, status.0
                );
                return Err(io::Error::other(why));
            }
            HubMsg::Reply { .. } if self.stage == Stage::Register => {
                self.stage = Stage::Login;
                self.send(&ClientMsg::Login {
                    tag: 2,
                    user: self.name.clone(),
                    password: PASSWORD.into(),
                    peer_port: 1,
                    fingerprint: Fingerprint::from_bytes([0; 32]),
                });
            }
            HubMsg::Reply { .. } if self.stage == Stage::Login => self.stage = Stage::Online,
            HubMsg::Bye { reason, .. } => {
                return Err(io::Error::other(format!(
                    "{}: the hub said bye: {reason}",
                    self.name
                )))
            }
            _ => {}
        }
        Ok(())
    }
}

/// The crowd: its members, the loop they share, and stdin (its end ends the crowd).
struct Crowd {
    poll: Poll,
    members: Vec<Member>,
    scratch: Vec<u8>,
}

const STDIN: Token = Token(usize::MAX);

impl Crowd {
    /// One turn of the loop: wait up to `timeout`, read and write whoever is ready.
    /// Returns false once stdin has ended.
    fn turn(&mut self, events: &mut Events, timeout: Duration) -> io::Result<bool> {
        if let Err(e) = self.poll.poll(events, Some(timeout)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        for event in events.iter() {
            if event.token() == STDIN {
                let mut buf = [0u8; 256];
                if matches!(io::stdin().read(&mut buf), Ok(0) | Err(_)) {
                    return Ok(false);
                }
                continue;
            }
            let member = &mut self.members[event.token().0];
            member.read(&mut self.scratch)?;
            member.flush()?;
        }
        Ok(true)
    }

    fn join(&mut self, addr: SocketAddr, config: &Arc<ClientConfig>) -> io::Result<()> {
        let n = self.members.len();
        let mut member = Member::connect(n + 1, addr, config)?;
        self.poll.registry().register(
            member.wire.socket_mut(),
            Token(n),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        self.members.push(member);
        Ok(())
    }

    fn online(&self) -> usize {
        self.members
            .iter()
            .filter(|m| m.stage == Stage::Online)
            .count()
    }
}

/// Log `users` in, at most [`LOGINS_AT_ONCE`] under way at a time.
fn log_in(
    crowd: &mut Crowd,
    users: usize,
    addr: SocketAddr,
    config: &Arc<ClientConfig>,
) -> io::Result<()> {
    let deadline = Instant::now() + LOGIN_DEADLINE;
    let mut events = Events::with_capacity(1024);
    loop {
        let online = crowd.online();
        if online == users {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "only {online} of {users} online in time"
            )));
        }
        while crowd.members.len() < users && crowd.members.len() - crowd.online() < LOGINS_AT_ONCE {
            crowd.join(addr, config)?;
        }
        crowd.turn(&mut events, Duration::from_millis(20))?;
    }
}

/// Say `lines` lines at `rate` a second, each from the next member in turn.
fn chat(crowd: &mut Crowd, lines: usize, rate: f64) -> io::Result<()> {
    let start = Instant::now();
    let mut events = Events::with_capacity(1024);
    let mut said = 0;
    while said < lines {
        let due = ((start.elapsed().as_secs_f64() * rate) as usize).min(lines);
        while said < due {
            let n = said % crowd.members.len();
            let member = &mut crowd.members[n];
            let text = format!("line {said} of the crowd's busy chat, from {}", member.name);
            member.send(&ClientMsg::Say { tag: 3, text });
            member.flush()?;
            said += 1;
        }
        crowd.turn(&mut events, Duration::from_millis(5))?;
    }
    Ok(())
}

fn usage() -> io::Error {
    io::Error::other("usage: crowd <hub addr> <hub fingerprint> <users> <lines> <lines per second>")
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, fingerprint, users, lines, rate] = args.as_slice() else {
        return Err(usage());
    };
    let addr: SocketAddr = addr.parse().map_err(|_| usage())?;
    let fingerprint: Fingerprint = fingerprint.parse().map_err(|_| usage())?;
    let users: usize = users.parse().map_err(|_| usage())?;
    let lines: usize = lines.parse().map_err(|_| usage())?;
    let rate: f64 = rate.parse().map_err(|_| usage())?;
    let verifier = ServerKeyVerifier::exactly(&trust::provider(), fingerprint);
    let config = trust::client_config(verifier, None).map_err(io::Error::other)?;
    let poll = Poll::new()?;
    poll.registry().register(
        &mut mio::unix::SourceFd(&libc::STDIN_FILENO),
        STDIN,
        Interest::READABLE,
    )?;
    let mut crowd = Crowd {
        poll,
        members: Vec::with_capacity(users),
        scratch: vec![0; 64 * 1024],
    };
    let started = Instant::now();
    log_in(&mut crowd, users, addr, &config)?;
    let secs = started.elapsed().as_secs_f64();
    println!("{{\"event\":\"online\",\"users\":{users},\"seconds\":{secs:.1}}}");
    let started = Instant::now();
    chat(&mut crowd, lines, rate)?;
    let secs = started.elapsed().as_secs_f64();
    println!("{{\"event\":\"chatted\",\"lines\":{lines},\"seconds\":{secs:.1}}}");
    let mut events = Events::with_capacity(1024);
    while crowd.turn(&mut events, Duration::from_secs(1))? {}
    Ok(())
}
