//! Lookup throughput and idle-client memory.
//!
//! With 100,000 files published across 1,000 accounts (all online), C clients (default
//! 50) run closed-loop fetch lookups (`Lookup` → `Reply 204` with the holders) for
//! random names; in the same run, the same driver against `redis-server` with `GET` of
//! random keys among as many keys, each holding a value the size of a lookup reply.
//! Prints lookups/s, p50/p99 and the ratio peerhub/Redis (target ≥ 1.0).
//!
//! Then memory: the hub's RSS growth per idle logged-in client with 10,000 of them,
//! beside Redis's RSS growth per idle client (target: no more than Redis).
//!
//! Settings (environment): `PEERHUB_BENCH_ACCOUNTS` (1000), `PEERHUB_BENCH_FILES`
//! files per account (100), `PEERHUB_BENCH_CLIENTS` (50), `PEERHUB_BENCH_IDLE` (10000),
//! `PEERHUB_BENCH_RUNS` (3), `PEERHUB_BENCH_SECS` (3), `PEERHUB_BENCH_WARMUP` (0.3),
//! `PEERHUB_BENCH_PIN` (see `common::pinning`). Under `cargo test --benches` it runs a
//! small smoke round.

mod common;

use common::blocking::per_address_limits_lifted;
use common::*;
use peerhub::proto::frame;
use peerhub::proto::message::{ClientMsg, FileInfo, HubMsg, Role as HelloRole, VERSION};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

fn main() {
    if let Err(e) = bench() {
        eprintln!("lookup bench failed: {e}");
        std::process::exit(1);
    }
}

/// The name of file `i` of account `a`.
fn file_name(a: usize, i: usize) -> String {
    format!("file-{a:04}-{i:03}.dat")
}

fn bench() -> io::Result<()> {
    let quick = !is_bench();
    let accounts = env_usize("PEERHUB_BENCH_ACCOUNTS", if quick { 10 } else { 1000 }).max(1);
    let per_account = env_usize("PEERHUB_BENCH_FILES", if quick { 10 } else { 100 }).max(1);
    let clients = env_usize("PEERHUB_BENCH_CLIENTS", if quick { 4 } else { 50 }).max(1);
    let idle = env_usize("PEERHUB_BENCH_IDLE", if quick { 50 } else { 10_000 });
    let runs = env_usize("PEERHUB_BENCH_RUNS", if quick { 1 } else { 3 }).max(1);
    let secs = env_secs("PEERHUB_BENCH_SECS", if quick { 0.2 } else { 3.0 });
    let warmup = env_secs("PEERHUB_BENCH_WARMUP", if quick { 0.05 } else { 0.3 });
    let _ = peerhub::sys::raise_nofile_limit();

    let mut flags = vec!["--max-clients", "100000", "--ping-interval", "3600"];
    flags.extend(per_address_limits_lifted());
    let hub = HubProcess::start(&flags)?;
    let started = Instant::now();
    let mut holders = Fleet::default();
    holders.log_in(hub.addr, "holder", accounts, |a| {
        let files = (0..per_account)
            .map(|i| FileInfo {
                name: file_name(a, i),
                size: 1_000_000 + i as u64,
                hash: [a as u8; 32],
            })
            .collect();
        Some(ClientMsg::Sync {
            tag: 3,
            files,
            first: true,
        })
    })?;
    let total = accounts * per_account;
    eprintln!(
        "published {total} files across {accounts} accounts in {:.1} s; hub RSS {} KB",
        started.elapsed().as_secs_f64(),
        rss_bytes(hub.pid())? / 1024
    );

    let lookup = PeerhubLookup::new(accounts, per_account);
    let mut hub_driver = Driver::connect(hub.addr, clients, lookup)?;
    hub_driver.watch(hub.pid());

    let redis = RedisProcess::start()?;
    let mut redis_driver = match &redis {
        Some(r) => {
            let value_len = sample_reply_len(hub.addr)?;
            fill_redis(r.addr, accounts, per_account, value_len)?;
            let mut d = Driver::connect(r.addr, clients, RedisGet::new(accounts, per_account))?;
            d.watch(r.pid());
            Some(d)
        }
        None => None,
    };
    if let Some((server_cpu, driver_cpu)) = pinning() {
        pin_to_cpu(0, driver_cpu);
        pin_to_cpu(hub.pid(), server_cpu);
        if let Some(r) = &redis {
            pin_to_cpu(r.pid(), server_cpu);
        }
    }

    let mut peerhub = Summary::new("peerhub");
    let mut baseline = Summary::new("redis");
    for _ in 0..runs {
        holders.drain();
        peerhub.add(hub_driver.run(warmup, secs)?);
        if let Some(d) = redis_driver.as_mut() {
            baseline.add(d.run(warmup, secs)?);
        }
    }
    let title = format!(
        "lookups: {total} files, {accounts} accounts, {clients} clients, {runs} runs x {:.1} s \
         (Lookup vs GET)",
        secs.as_secs_f64()
    );
    if redis.is_some() {
        print_table(&title, &[peerhub, baseline]);
    } else {
        print_table(&title, &[peerhub]);
        println!("redis-server not found: comparison skipped (apt-get install redis-server)");
    }
    drop(hub_driver);
    drop(redis_driver);

    if idle == 0 {
        return Ok(());
    }
    // Idle memory: the RSS a fresh hub grows by per idle logged-in client (a hub of
    // its own, so that buffers freed after the lookup runs do not blur the figure).
    drop(holders);
    drop(hub);
    let mut flags = vec!["--max-clients", "100000", "--ping-interval", "3600"];
    flags.extend(per_address_limits_lifted());
    let hub = HubProcess::start(&flags)?;
    // One client first, so one-time costs (the 4 MiB password-hashing block, the
    // database's page cache) are in "before" and only per-client memory is compared.
    let mut warm = Fleet::default();
    warm.log_in(hub.addr, "warm", 1, |_| None)?;
    let before = rss_bytes(hub.pid())?;
    let started = Instant::now();
    let mut idlers = Fleet::default();
    idlers.log_in(hub.addr, "idle", idle, |_| None)?;
    idlers.drain();
    let after = rss_bytes(hub.pid())?;
    let hub_per = after.saturating_sub(before) as f64 / idle as f64;
    eprintln!(
        "{idle} idle clients logged in in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!();
    println!("idle clients: {idle} connected and logged in (peerhub) / connected (redis)");
    println!("system     RSS before   RSS after   bytes per idle client");
    println!(
        "{:<8} {:>10} KB {:>9} KB {:>12.0}",
        "peerhub",
        before / 1024,
        after / 1024,
        hub_per
    );
    drop(idlers);
    if let Some(r) = &redis {
        let before = rss_bytes(r.pid())?;
        let mut conns = Vec::with_capacity(idle);
        for _ in 0..idle {
            conns.push(TcpStream::connect(r.addr)?);
        }
        // One round trip on the last connection: Redis has accepted them all.
        let last = conns
            .last_mut()
            .ok_or_else(|| io::Error::other("no connection"))?;
        last.write_all(b"*1\r\n$4\r\nPING\r\n")?;
        let mut pong = [0u8; 7];
        last.read_exact(&mut pong)?;
        let after = rss_bytes(r.pid())?;
        let redis_per = after.saturating_sub(before) as f64 / idle as f64;
        println!(
            "{:<8} {:>10} KB {:>9} KB {:>12.0}",
            "redis",
            before / 1024,
            after / 1024,
            redis_per
        );
        println!(
            "ratio peerhub/redis bytes per idle client: {:.2} (target <= 1.0)",
            hub_per / redis_per.max(1.0)
        );
    }
    Ok(())
}

/// A process's resident set, from /proc.
fn rss_bytes(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| io::Error::other("no VmRSS"))
}

/// Many logged-in connections that the bench holds open and keeps drained (a real
/// client reads its join notices; one that does not is a slow consumer).
#[derive(Default)]
struct Fleet {
    conns: Vec<TcpStream>,
}

impl Fleet {
    /// Register and log in `count` accounts `<prefix>N`, pipelined: every request is
    /// sent before any reply is awaited, so the hub hashes passwords back to back and
    /// fans each join out once per loop pass. `extra(n)` may add a request once logged
    /// in (it waits for the login's reply: before it, a frame over the pre-login limit
    /// of 4 KiB would be refused).
    fn log_in(
        &mut self,
        addr: SocketAddr,
        prefix: &str,
        count: usize,
        mut extra: impl FnMut(usize) -> Option<ClientMsg>,
    ) -> io::Result<()> {
        let first = self.conns.len();
        for n in 0..count {
            let mut stream = TcpStream::connect(addr)?;
            stream.set_nodelay(true)?;
            let user = format!("{prefix}{n}");
            let mut out = Vec::new();
            ClientMsg::Hello {
                version: VERSION,
                role: HelloRole::Session,
            }
            .encode(&mut out);
            ClientMsg::Register {
                tag: 1,
                user: user.clone(),
                password: "bench-password".into(),
            }
            .encode(&mut out);
            ClientMsg::Login {
                tag: 2,
                user,
                password: "bench-password".into(),
                peer_port: 40_000,
                fingerprint: peerhub::trust::Fingerprint::from_bytes([0; 32]),
            }
            .encode(&mut out);
            stream.write_all(&out)?;
            stream.set_nonblocking(true)?;
            self.conns.push(stream);
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
            stream.set_nonblocking(false)?;
            stream.write_all(&out)?;
            stream.set_nonblocking(true)?;
        }
        self.await_replies(first, expected)
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
                        Ok(0) => return Err(io::Error::other("the hub closed a connection")),
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
                    if let Ok(HubMsg::Reply {
                        status, message, ..
                    }) = HubMsg::decode(payload)
                    {
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

    /// Read and discard whatever the hub sent (join notices).
    fn drain(&mut self) {
        let mut chunk = vec![0u8; 64 * 1024];
        for stream in &mut self.conns {
            while matches!(stream.read(&mut chunk), Ok(n) if n > 0) {}
        }
    }
}

/// A small, fast, deterministic generator for random names.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below.max(1) as u64) as usize
    }
}

/// Closed-loop lookups of random published names.
struct PeerhubLookup {
    accounts: usize,
    per_account: usize,
    rng: XorShift,
}

impl PeerhubLookup {
    fn new(accounts: usize, per_account: usize) -> PeerhubLookup {
        PeerhubLookup {
            accounts,
            per_account,
            rng: XorShift(0x9E37_79B9_7F4A_7C15),
        }
    }
}

impl Protocol for PeerhubLookup {
    fn open(&mut self, index: usize, conn: &mut Setup) -> io::Result<Role> {
        hub_hello(conn)?;
        hub_register_login(conn, &format!("looker{index}"), 40_001)?;
        Ok(Role::Requester { depth: 1 })
    }

    fn request(&mut self, _index: usize, seq: u64, _now_ns: u64, out: &mut Vec<u8>) {
        let name = file_name(
            self.rng.next(self.accounts),
            self.rng.next(self.per_account),
        );
        ClientMsg::Lookup {
            tag: seq as u32,
            name,
        }
        .encode(out);
    }

    fn parse(
        &mut self,
        _index: usize,
        buf: &[u8],
        answer: &mut Vec<u8>,
    ) -> Result<Option<(usize, Incoming)>, String> {
        match hub_incoming(buf, answer)? {
            Some((_, Incoming::Reply, HubMsg::Reply { status, .. })) if status.0 != 204 => {
                Err(format!("lookup answered {} (expected 204)", status.0))
            }
            Some((len, what, _)) => Ok(Some((len, what))),
            None => Ok(None),
        }
    }
}

/// The size of one lookup reply, so that Redis values weigh the same.
fn sample_reply_len(addr: SocketAddr) -> io::Result<usize> {
    let mut stream = TcpStream::connect(addr)?;
    let mut out = Vec::new();
    ClientMsg::Hello {
        version: VERSION,
        role: HelloRole::Session,
    }
    .encode(&mut out);
    ClientMsg::Register {
        tag: 1,
        user: "sampler".into(),
        password: "bench-password".into(),
    }
    .encode(&mut out);
    ClientMsg::Login {
        tag: 2,
        user: "sampler".into(),
        password: "bench-password".into(),
        peer_port: 40_002,
        fingerprint: peerhub::trust::Fingerprint::from_bytes([0; 32]),
    }
    .encode(&mut out);
    ClientMsg::Lookup {
        tag: 3,
        name: file_name(0, 0),
    }
    .encode(&mut out);
    stream.write_all(&out)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let mut used = 0;
        while let Some((len, payload)) = frame::try_parse(&buf[used..], frame::DEFAULT_MAX_FRAME)
            .map_err(|e| io::Error::other(e.to_string()))?
        {
            used += len;
            if let Ok(HubMsg::Reply { tag: 3, .. }) = HubMsg::decode(payload) {
                return Ok(len);
            }
        }
        buf.drain(..used);
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::other("the hub closed the sample connection"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// SET every key, pipelined on one connection.
fn fill_redis(
    addr: SocketAddr,
    accounts: usize,
    per_account: usize,
    value_len: usize,
) -> io::Result<()> {
    let mut stream = TcpStream::connect(addr)?;
    let value = vec![b'h'; value_len];
    let mut sent = 0usize;
    let mut out = Vec::new();
    for a in 0..accounts {
        for i in 0..per_account {
            resp::command(&mut out, &[b"SET", file_name(a, i).as_bytes(), &value]);
            sent += 1;
        }
        stream.write_all(&out)?;
        out.clear();
    }
    // Every SET answers "+OK\r\n".
    let mut left = sent * 5;
    let mut chunk = [0u8; 64 * 1024];
    while left > 0 {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::other("redis closed the connection"));
        }
        left = left.saturating_sub(n);
    }
    Ok(())
}

/// Closed-loop GETs of random keys.
struct RedisGet {
    accounts: usize,
    per_account: usize,
    rng: XorShift,
}

impl RedisGet {
    fn new(accounts: usize, per_account: usize) -> RedisGet {
        RedisGet {
            accounts,
            per_account,
            rng: XorShift(0x9E37_79B9_7F4A_7C15),
        }
    }
}

impl Protocol for RedisGet {
    fn open(&mut self, _index: usize, _conn: &mut Setup) -> io::Result<Role> {
        Ok(Role::Requester { depth: 1 })
    }

    fn request(&mut self, _index: usize, _seq: u64, _now_ns: u64, out: &mut Vec<u8>) {
        let name = file_name(
            self.rng.next(self.accounts),
            self.rng.next(self.per_account),
        );
        resp::command(out, &[b"GET", name.as_bytes()]);
    }

    fn parse(
        &mut self,
        _index: usize,
        buf: &[u8],
        _answer: &mut Vec<u8>,
    ) -> Result<Option<(usize, Incoming)>, String> {
        if buf.starts_with(b"$-1") {
            return Err("GET of a missing key".into());
        }
        Ok(redis_reply(buf)?.map(|len| (len, Incoming::Reply)))
    }
}
