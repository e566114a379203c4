//! Lookup throughput and idle-client memory.
//!
//! With 100,000 files published across 1,000 accounts (all online), C clients (default
//! 50) run closed-loop fetch lookups (`Lookup` → `Reply 204` with the holders) for
//! random names; in the same run, the same driver against `redis-server` with `GET` of
//! random keys among as many keys, each holding a value the size of a lookup reply.
//! Prints lookups/s, p50/p99 and the ratio peerhub/Redis (target ≥ 1.0).
//!
//! Then memory: the hub's RSS growth per idle logged-in client with 10,000 of them,
//! beside Redis's RSS growth per idle client (target: no more than Redis), in
//! plaintext and over TLS 1.3 (the hub's default; Redis on `--tls-port`), each with
//! fresh servers (`idle/`).
//!
//! Settings (environment): `PEERHUB_BENCH_ACCOUNTS` (1000), `PEERHUB_BENCH_FILES`
//! files per account (100), `PEERHUB_BENCH_CLIENTS` (50), `PEERHUB_BENCH_IDLE` (10000),
//! `PEERHUB_BENCH_RUNS` (3), `PEERHUB_BENCH_SECS` (3), `PEERHUB_BENCH_WARMUP` (0.3),
//! `PEERHUB_BENCH_PIN` (see `common::pinning`), `PEERHUB_BENCH_TLS` (`plain` or `tls`:
//! idle memory over one transport only; default both). Under `cargo test --benches` it runs a
//! small smoke round.

mod common;
mod idle;

use common::blocking::per_address_limits_lifted;
use common::*;
use idle::{idle_memory, rss_bytes, Fleet};
use peerhub::proto::frame;
use peerhub::proto::message::{ClientMsg, FileInfo, HubMsg, Role as HelloRole, VERSION};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

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
    let mut holders = Fleet::new(Transport::Plain);
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
        print_table(&title, &[peerhub, baseline], &[(0, 1)]);
    } else {
        print_table(&title, &[peerhub], &[]);
        println!("redis-server not found: comparison skipped (apt-get install redis-server)");
    }
    drop(hub_driver);
    drop(redis_driver);

    if idle == 0 {
        return Ok(());
    }
    // Idle memory: fresh servers of their own, so that buffers freed after the lookup
    // runs do not blur the figure.
    drop(holders);
    drop(hub);
    drop(redis);
    let mut costs = Vec::new();
    for tls in wire_modes() {
        costs.push(idle_memory(idle, tls)?);
    }
    println!();
    println!(
        "idle clients: {idle} connected and logged in (peerhub) / connected (redis); \
         +tls: the same over TLS 1.3, handshakes done"
    );
    println!("system       RSS before   RSS after   bytes per idle client");
    for (hub, redis) in &costs {
        hub.print();
        if let Some(redis) = redis {
            redis.print();
        }
    }
    for (hub, redis) in &costs {
        match redis {
            Some(redis) => println!(
                "ratio {}/{} bytes per idle client: {:.2} (target <= 1.0)",
                hub.name,
                redis.name,
                hub.per_client / redis.per_client.max(1.0)
            ),
            None => println!("redis-server not found: no idle baseline for {}", hub.name),
        }
    }
    Ok(())
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
