//! Login storm: N fresh password logins (default 10,000), every user staying online,
//! so each login's join notice goes to everyone already there.
//!
//! One driver process holds all N connections (the benches' style: one thread, the
//! other core left to the hub). It registers the N accounts first (not timed), then
//! sends every `Login` at once and reads all connections round-robin, draining the
//! join notices as a real client would, until each login has its reply. Prints the
//! total time and logins per second.
//!
//! Settings (environment): `PEERHUB_BENCH_LOGINS` (10000); `PEERHUB_BENCH_HUB_BIN` to
//! run another build of the hub; `PEERHUB_BENCH_HUB_ARGS` replaces the limit flags
//! (default `--hash-rate 0 --max-per-address 0`; an older hub without them needs
//! `PEERHUB_BENCH_HUB_ARGS=""`). Under `cargo test --benches` it runs 50 logins.

mod common;

use common::*;
use peerhub::proto::frame;
use peerhub::proto::message::{ClientMsg, HubMsg, Role as HelloRole, VERSION};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn main() {
    if let Err(e) = bench() {
        eprintln!("logins bench failed: {e}");
        std::process::exit(1);
    }
}

fn bench() -> io::Result<()> {
    let n = env_usize("PEERHUB_BENCH_LOGINS", if is_bench() { 10_000 } else { 50 }).max(1);
    let _ = peerhub::sys::raise_nofile_limit();
    let limits = std::env::var("PEERHUB_BENCH_HUB_ARGS")
        .unwrap_or_else(|_| "--hash-rate 0 --max-per-address 0".into());
    let max_clients = (n + 100).to_string();
    let mut args: Vec<&str> = limits.split_whitespace().collect();
    args.extend(["--max-clients", &max_clients, "--ping-interval", "3600"]);
    let hub = HubProcess::start(&args)?;

    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut stream = TcpStream::connect(hub.addr)?;
        stream.set_nodelay(true)?;
        let mut out = Vec::new();
        ClientMsg::Hello {
            version: VERSION,
            role: HelloRole::Session,
        }
        .encode(&mut out);
        ClientMsg::Register {
            tag: 1,
            user: format!("user{i}"),
            password: "bench-password".into(),
        }
        .encode(&mut out);
        stream.write_all(&out)?;
        stream.set_nonblocking(true)?;
        conns.push(stream);
    }
    drain_until_replies(&mut conns, 1)?;
    let started = Instant::now();
    for (i, stream) in conns.iter_mut().enumerate() {
        let mut out = Vec::new();
        ClientMsg::Login {
            tag: 2,
            user: format!("user{i}"),
            password: "bench-password".into(),
            peer_port: 40_000,
            fingerprint: peerhub::trust::Fingerprint::from_bytes([0; 32]),
        }
        .encode(&mut out);
        write_all_nonblocking(stream, &out)?;
    }
    drain_until_replies(&mut conns, 1)?;
    let took = started.elapsed();
    println!(
        "{n} fresh password logins: {:.1} s, {:.0} logins/s",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
    Ok(())
}

fn write_all_nonblocking(stream: &mut TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(k) => bytes = &bytes[k..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Read every connection round-robin (join notices included) until each has `want`
/// more successful replies.
fn drain_until_replies(conns: &mut [TcpStream], want: usize) -> io::Result<()> {
    let mut left = vec![want; conns.len()];
    let mut bufs: Vec<Vec<u8>> = vec![Vec::new(); conns.len()];
    let mut waiting = conns.len();
    let mut chunk = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + Duration::from_secs(900);
    while waiting > 0 {
        if Instant::now() > deadline {
            return Err(io::Error::other("the logins did not finish in 15 minutes"));
        }
        let mut progress = false;
        for (i, stream) in conns.iter_mut().enumerate() {
            loop {
                match stream.read(&mut chunk) {
                    Ok(0) => return Err(io::Error::other("the hub closed a connection")),
                    Ok(k) => {
                        bufs[i].extend_from_slice(&chunk[..k]);
                        progress = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            let mut used = 0;
            while let Some((len, payload)) = frame::try_parse(&bufs[i][used..], 16 << 20)
                .map_err(|e| io::Error::other(e.to_string()))?
            {
                used += len;
                // Only replies are decoded; join notices are skipped by their type.
                if payload.first() == Some(&0x40) {
                    if let Ok(HubMsg::Reply {
                        status, message, ..
                    }) = HubMsg::decode(payload)
                    {
                        if !(200..300).contains(&status.0) {
                            return Err(io::Error::other(format!("{} {message}", status.0)));
                        }
                        if left[i] > 0 {
                            left[i] -= 1;
                            if left[i] == 0 {
                                waiting -= 1;
                            }
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
