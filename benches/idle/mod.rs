//! Many logged-in hub sessions held open by one process ([`Fleet`]), and what an idle
//! one costs: the RSS a fresh hub grows by per idle logged-in client, beside the RSS a
//! fresh Redis grows by per idle connection — plaintext, or both over TLS 1.3 with the
//! handshake done ([`idle_memory`]). The lookup bench uses both; the reconnect bench
//! uses the fleet alone, to have it lose its hub and come back ([`Fleet::come_back`]).

// Each bench uses a different part of this module.
#![allow(dead_code)]

use crate::common::blocking::per_address_limits_lifted;
use crate::common::tls::Link;
use crate::common::{label, HubProcess, RedisProcess, Transport};
use peerhub::proto::frame;
use peerhub::proto::message::{Body, ClientMsg, HubMsg, Role as HelloRole, VERSION};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Bytes per idle client of one system.
pub struct IdleCost {
    pub name: String,
    pub before: u64,
    pub after: u64,
    pub per_client: f64,
}

impl IdleCost {
    fn new(name: String, before: u64, after: u64, clients: usize) -> IdleCost {
        let per_client = after.saturating_sub(before) as f64 / clients.max(1) as f64;
        IdleCost {
            name,
            before,
            after,
            per_client,
        }
    }

    /// One table row.
    pub fn print(&self) {
        println!(
            "{:<12} {:>10} KB {:>9} KB {:>12.0}",
            self.name,
            self.before / 1024,
            self.after / 1024,
            self.per_client
        );
    }
}

/// What `idle` logged-in clients cost a fresh hub (over TLS or not) and `idle`
/// connections a fresh Redis speaking the same (`None` without `redis-server`).
pub fn idle_memory(idle: usize, tls: bool) -> io::Result<(IdleCost, Option<IdleCost>)> {
    let mut flags = vec!["--max-clients", "100000", "--ping-interval", "3600"];
    flags.extend(per_address_limits_lifted());
    let hub = if tls {
        HubProcess::start_tls(&flags)?
    } else {
        HubProcess::start(&flags)?
    };
    // One client first, so one-time costs (the 4 MiB password-hashing block, the
    // database's page cache, TLS's first allocations) are in "before" and only
    // per-client memory is compared.
    let mut warm = Fleet::new(hub.transport());
    warm.log_in(hub.addr, "warm", 1, |_| None)?;
    let before = rss_bytes(hub.pid())?;
    let started = Instant::now();
    let mut idlers = Fleet::new(hub.transport());
    idlers.log_in(hub.addr, "idle", idle, |_| None)?;
    idlers.drain();
    let after = rss_bytes(hub.pid())?;
    eprintln!(
        "{idle} idle clients logged in{} in {:.1} s",
        if tls { " over TLS" } else { "" },
        started.elapsed().as_secs_f64()
    );
    let hub_cost = IdleCost::new(label("peerhub", tls), before, after, idle);
    drop(idlers);
    drop(hub);

    let redis = if tls {
        RedisProcess::start_tls()?
    } else {
        RedisProcess::start()?
    };
    let Some(redis) = redis else {
        return Ok((hub_cost, None));
    };
    let transport = redis.transport();
    let mut warm = transport.connect(redis.addr)?;
    warm.handshake()?;
    let before = rss_bytes(redis.pid())?;
    let mut conns = Vec::with_capacity(idle);
    for _ in 0..idle {
        let mut link = transport.connect(redis.addr)?;
        link.handshake()?;
        conns.push(link);
    }
    // One round trip on the last connection: Redis has accepted (and finished the
    // handshakes of) them all.
    let last = conns
        .last_mut()
        .ok_or_else(|| io::Error::other("no connection"))?;
    last.write_all(b"*1\r\n$4\r\nPING\r\n")?;
    last.flush()?;
    let mut pong = [0u8; 7];
    last.read_exact(&mut pong)?;
    if &pong != b"+PONG\r\n" {
        return Err(io::Error::other(format!(
            "redis answered the last idle connection with {:?}",
            String::from_utf8_lossy(&pong)
        )));
    }
    let after = rss_bytes(redis.pid())?;
    let redis_cost = IdleCost::new(label("redis", tls), before, after, idle);
    Ok((hub_cost, Some(redis_cost)))
}

/// A process's resident set, from /proc.
pub fn rss_bytes(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| io::Error::other("no VmRSS"))
}

/// The message types of `Join` and `Joins` (docs/PROTOCOL.md's table of hub messages).
const JOIN: u8 = 0x53;
const JOINS: u8 = 0x59;

/// Every fleet account's password.
const PASSWORD: &str = "bench-password";

/// Append a password `Login` of `user` (tag 2).
fn login(user: &str, out: &mut Vec<u8>) {
    ClientMsg::Login {
        tag: 2,
        user: user.into(),
        password: PASSWORD.into(),
        peer_port: 40_000,
        fingerprint: peerhub::trust::Fingerprint::from_bytes([0; 32]),
    }
    .encode(out);
}

/// Many logged-in connections that the bench holds open and keeps drained (a real
/// client reads its join notices; one that does not is a slow consumer).
pub struct Fleet {
    transport: Transport,
    conns: Vec<Link>,
    /// Each connection's account.
    users: Vec<String>,
    /// Each connection's latest resume token (from its last login reply).
    tokens: Vec<Option<String>>,
}

/// How a [`Fleet`] logs back in after losing its hub.
#[derive(Clone, Copy, Debug)]
pub enum Relogin {
    /// With the resume token of its last login: no password, no argon2 hash.
    Token,
    /// With the password, as a client without a token must.
    Password,
}

impl Fleet {
    /// No connections yet; they will speak `transport`.
    pub fn new(transport: Transport) -> Fleet {
        for (msg, ty) in [
            (
                HubMsg::Join {
                    user: "u".into(),
                    online: 1,
                },
                JOIN,
            ),
            (
                HubMsg::Joins {
                    users: vec!["u".into()],
                    online: 1,
                },
                JOINS,
            ),
        ] {
            let frame = msg.to_frame();
            let parsed = frame::try_parse(&frame, frame::DEFAULT_MAX_FRAME);
            assert!(
                matches!(parsed, Ok(Some((_, payload))) if payload.first() == Some(&ty)),
                "the fleet's message types are out of date"
            );
        }
        Fleet {
            transport,
            conns: Vec::new(),
            users: Vec::new(),
            tokens: Vec::new(),
        }
    }

    /// Register and log in `count` accounts `<prefix>N`, pipelined: every request is
    /// sent before any reply is awaited, so the hub hashes passwords back to back and
    /// fans each join out once per loop pass. `extra(n)` may add a request once logged
    /// in (it waits for the login's reply: before it, a frame over the pre-login limit
    /// of 4 KiB would be refused). Over TLS the requests wait in the TLS stream until
    /// its handshake, driven by the reads that await the replies, is done.
    pub fn log_in(
        &mut self,
        addr: SocketAddr,
        prefix: &str,
        count: usize,
        mut extra: impl FnMut(usize) -> Option<ClientMsg>,
    ) -> io::Result<()> {
        let first = self.conns.len();
        for n in 0..count {
            let user = format!("{prefix}{n}");
            let mut out = Vec::new();
            ClientMsg::Register {
                tag: 1,
                user: user.clone(),
                password: PASSWORD.into(),
            }
            .encode(&mut out);
            login(&user, &mut out);
            let stream = self.open(addr, &out)?;
            self.conns.push(stream);
            self.users.push(user);
            self.tokens.push(None);
        }
        self.await_replies(first, vec![2; count])?;
        let mut expected = Vec::with_capacity(count);
        for n in 0..count {
            let mut out = Vec::new();
            if let Some(msg) = extra(n) {
                msg.encode(&mut out);
            }
            expected.push(usize::from(!out.is_empty()));
            let stream = &mut self.conns[first + n];
            stream.socket().0.set_nonblocking(false)?;
            stream.write_all(&out)?;
            stream.flush()?;
            stream.socket().0.set_nonblocking(true)?;
        }
        self.await_replies(first, expected)
    }

    /// Every connection lost its hub (it was killed): open them all again to `addr`,
    /// back to back as a reconnect storm does, each logging in `how`, and wait until
    /// every one has its login reply.
    pub fn come_back(&mut self, addr: SocketAddr, how: Relogin) -> io::Result<()> {
        self.conns.clear();
        for i in 0..self.users.len() {
            let mut out = Vec::new();
            match (how, &self.tokens[i]) {
                (Relogin::Token, Some(token)) => ClientMsg::Resume {
                    tag: 2,
                    token: token.clone(),
                    peer_port: 40_000,
                    fingerprint: peerhub::trust::Fingerprint::from_bytes([0; 32]),
                }
                .encode(&mut out),
                (Relogin::Token, None) => {
                    return Err(io::Error::other(format!("{} has no token", self.users[i])))
                }
                (Relogin::Password, _) => login(&self.users[i], &mut out),
            }
            let stream = self.open(addr, &out)?;
            self.conns.push(stream);
        }
        self.await_replies(0, vec![1; self.users.len()])
    }

    /// A new connection to `addr` that has sent the hello and then `requests`.
    fn open(&self, addr: SocketAddr, requests: &[u8]) -> io::Result<Link> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        // Plaintext writes its few bytes blocking; TLS must not wait for each
        // handshake while the hub is busy hashing the passwords before it.
        stream.set_nonblocking(self.transport.is_tls())?;
        let mut stream = self.transport.wrap(stream)?;
        let mut out = Vec::new();
        ClientMsg::Hello {
            version: VERSION,
            role: HelloRole::Session,
        }
        .encode(&mut out);
        out.extend_from_slice(requests);
        stream.write_all(&out)?;
        stream.socket().0.set_nonblocking(true)?;
        Ok(stream)
    }

    /// Read the connections from `first` on round-robin until each has had its
    /// `expected` successful replies (pushes are skipped).
    fn await_replies(&mut self, first: usize, mut expected: Vec<usize>) -> io::Result<()> {
        let count = expected.len();
        let mut bufs: Vec<Vec<u8>> = vec![Vec::new(); count];
        let deadline = Instant::now() + Duration::from_secs(600);
        let mut waiting = expected.iter().filter(|&&n| n > 0).count();
        let mut chunk = vec![0u8; 64 * 1024];
        while waiting > 0 {
            if Instant::now() > deadline {
                return Err(io::Error::other("log-ins did not finish in 10 minutes"));
            }
            let mut progress = false;
            for (i, left) in expected.iter_mut().enumerate() {
                let Some(stream) = self.conns.get_mut(first + i) else {
                    continue;
                };
                loop {
                    match stream.read(&mut chunk) {
                        Ok(0) => {
                            return Err(io::Error::other(format!(
                                "the hub closed {}'s connection without a word",
                                self.users[first + i]
                            )))
                        }
                        Ok(n) => {
                            bufs[i].extend_from_slice(&chunk[..n]);
                            progress = true;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                let mut used = 0;
                while let Some((len, payload)) =
                    frame::try_parse(&bufs[i][used..], frame::DEFAULT_MAX_FRAME)
                        .map_err(|e| io::Error::other(e.to_string()))?
                {
                    used += len;
                    // Join notices are the bulk of a storm and a fleet ignores them:
                    // not decoded (a `Joins` holds up to a thousand names).
                    if matches!(payload.first(), Some(&JOIN | &JOINS)) {
                        continue;
                    }
                    let msg = HubMsg::decode(payload);
                    if let Ok(HubMsg::Bye { status, reason }) = &msg {
                        return Err(io::Error::other(format!(
                            "the hub said goodbye to {}: {} {reason}",
                            self.users[first + i],
                            status.0
                        )));
                    }
                    if let Ok(HubMsg::Reply {
                        status,
                        message,
                        body,
                        ..
                    }) = msg
                    {
                        if let Body::LoggedIn { token, .. } = body {
                            self.tokens[first + i] = Some(token);
                        }
                        if !(200..300).contains(&status.0) {
                            return Err(io::Error::other(format!(
                                "set-up request failed: {} {message}",
                                status.0
                            )));
                        }
                        if *left > 0 {
                            *left -= 1;
                            if *left == 0 {
                                waiting -= 1;
                            }
                        }
                    }
                }
                bufs[i].drain(..used);
            }
            if !progress {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        Ok(())
    }

    /// How many connections it holds.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Read and discard whatever the hub sent (join notices).
    pub fn drain(&mut self) {
        let mut chunk = vec![0u8; 64 * 1024];
        for stream in &mut self.conns {
            while matches!(stream.read(&mut chunk), Ok(n) if n > 0) {}
        }
    }
}
