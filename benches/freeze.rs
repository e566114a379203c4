//! Freeze time: how long an honest client waits while one connection pipelines
//! expensive requests, and how many wrong passwords one account takes from rotating
//! addresses (issue 10, items 8 and 11).
//!
//! Each freeze scenario starts a fresh hub, lets an attacker write its whole burst at
//! once and read the replies on a thread of its own, while an honest session sends
//! `Echo` in a closed loop. It prints the honest client's longest wait (the freeze),
//! its median, how many echoes it got while the attacker still waited, and how long
//! the attacker took. Rate limits are lifted (`--hash-rate 0 --auth-rate 0`) so that
//! the burst is really worked through: this measures fairness, not refusals.
//!
//! 1. `passwd`: 1,000 pipelined `Passwd` (old = new) from a logged-in session.
//! 2. `login`: 1,000 pipelined `Login` with the right password for an online account.
//! 3. `search`: 2,000 pipelined `Search ""` over an index of 100,000 names (ten
//!    accounts publishing 10,000 each).
//!
//! Then `rotating`: one connection from each of 250 loopback addresses (127.0.1.x)
//! keeps a wrong-password `Login` for one account outstanding for the whole window
//! (60 s; a 429 is retried at once). It prints the wrong passwords the hub checked
//! (402) against the account, per minute, and whether the owner still logs in with
//! the right password right after, from the address it registered from and from a
//! new one.
//!
//! `PEERHUB_BENCH_HUB_BIN` measures another build (flags it does not know are left
//! out); `PEERHUB_BENCH_SCALE` (1.0) scales the counts; `PEERHUB_BENCH_WINDOW` (60)
//! is the rotating window in seconds. Under `cargo test --benches` it runs a small
//! smoke round.

mod common;

use common::blocking::{hub_knows, per_address_limits_lifted, Blocking};
use common::*;
use peerhub::proto::message::{ClientMsg, FileInfo};
use std::io;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

fn main() {
    if let Err(e) = bench() {
        eprintln!("freeze bench failed: {e}");
        std::process::exit(1);
    }
}

fn bench() -> io::Result<()> {
    let scale = if is_bench() {
        std::env::var("PEERHUB_BENCH_SCALE")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(1.0)
    } else {
        0.01
    };
    let count = |n: f64| ((n * scale) as usize).max(2);
    let window = env_secs("PEERHUB_BENCH_WINDOW", if is_bench() { 60.0 } else { 2.0 });
    let _ = peerhub::sys::raise_nofile_limit();
    println!("freeze seen by an honest client (closed-loop Echo) during one attacker's burst");
    println!(
        "  {:<8} {:>8} {:>12} {:>12} {:>10} {:>14}",
        "attack", "requests", "freeze ms", "median ms", "echoes", "attacker ms"
    );
    let passwds = count(1000.0);
    freeze(
        "passwd",
        passwds,
        |_| Ok(()),
        |tag| ClientMsg::Passwd {
            tag,
            old: "bench-password".into(),
            new: "bench-password".into(),
        },
    )?;
    let logins = count(1000.0);
    freeze(
        "login",
        logins,
        |hub| Blocking::logged_in(hub.addr, "victim").map(keep),
        |tag| ClientMsg::Login {
            tag,
            user: "victim".into(),
            password: "bench-password".into(),
            peer_port: 40_001,
            fingerprint: peerhub::trust::Fingerprint::from_bytes([0; 32]),
        },
    )?;
    let (accounts, names) = (10, count(10_000.0));
    freeze(
        "search",
        count(2000.0),
        |hub| publish_index(hub, accounts, names),
        |tag| ClientMsg::Search {
            tag,
            text: String::new(),
        },
    )?;
    rotating(count(250.0).min(250), window)
}

/// Flags that lift the rate limits, as far as the hub under test knows them.
fn unlimited() -> Vec<&'static str> {
    let mut flags = vec!["--ping-interval", "3600", "--max-clients", "2000"];
    flags.extend(per_address_limits_lifted());
    if hub_knows("--account-auth-rate") {
        flags.extend(["--account-auth-rate", "0"]);
    }
    flags
}

/// One freeze scenario: `prepare` the hub, then one connection pipelines `n` requests
/// made by `request` while the honest session echoes.
fn freeze(
    label: &str,
    n: usize,
    prepare: impl FnOnce(&HubProcess) -> io::Result<()>,
    request: impl Fn(u32) -> ClientMsg,
) -> io::Result<()> {
    let hub = HubProcess::start(&unlimited())?;
    prepare(&hub)?;
    let mut honest = Blocking::logged_in(hub.addr, "honest")?;
    let mut attacker = if label == "login" {
        Blocking::hello(hub.addr, None)?
    } else {
        Blocking::logged_in(hub.addr, "mallory")?
    };
    let mut burst = Vec::new();
    for i in 0..n {
        request(1000 + i as u32).encode(&mut burst);
    }
    let started = Instant::now();
    // The attacker's time, and how many replies it got before the hub dropped it.
    let attack = std::thread::spawn(move || -> (Duration, usize) {
        let answered = attacker
            .send_bytes(&burst)
            .map(|()| (0..n).take_while(|_| attacker.next_reply().is_ok()).count())
            .unwrap_or(0);
        (started.elapsed(), answered)
    });
    let mut waits = Vec::new();
    let mut tag = 10;
    while !attack.is_finished() {
        let sent = Instant::now();
        honest.call(&ClientMsg::Echo { tag })?;
        waits.push(sent.elapsed());
        tag += 1;
    }
    let (attacker_took, answered) = attack
        .join()
        .map_err(|_| io::Error::other("attacker thread panicked"))?;
    waits.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  {:<8} {:>8} {:>12.1} {:>12.2} {:>10} {:>14.0}",
        label,
        n,
        waits.last().map_or(0.0, |d| ms(*d)),
        waits.get(waits.len() / 2).map_or(0.0, |d| ms(*d)),
        waits.len(),
        ms(attacker_took)
    );
    if answered < n {
        println!("           (the hub closed the attacker after {answered} replies)");
    }
    Ok(())
}

/// Keep `conn` online for the rest of the run, answering the hub's pings (a ghost
/// check finds it alive).
fn keep(mut conn: Blocking) {
    std::thread::spawn(move || while conn.next_reply().is_ok() {});
}

/// `accounts` publishers with `names` files each, in chunks that fit a frame.
fn publish_index(hub: &HubProcess, accounts: usize, names: usize) -> io::Result<()> {
    for account in 0..accounts {
        let mut publisher = Blocking::logged_in(hub.addr, &format!("publisher{account}"))?;
        for (chunk, start) in (0..names).step_by(500).enumerate() {
            let files = (start..names.min(start + 500))
                .map(|i| FileInfo {
                    name: format!("file-{account}-{i:05}-padding-padding.bin"),
                    size: 1 + i as u64,
                    hash: [account as u8; 32],
                })
                .collect();
            let reply = publisher.call(&ClientMsg::Sync {
                tag: 10 + chunk as u32,
                files,
                first: chunk == 0,
            })?;
            if reply.0 != 200 {
                return Err(io::Error::other(format!("sync: {} {}", reply.0, reply.1)));
            }
        }
        // The publications stay while the publisher is online.
        keep(publisher);
    }
    Ok(())
}

/// Wrong passwords against one account from `addresses` loopback addresses for
/// `window`; then the owner's own login.
fn rotating(addresses: usize, window: Duration) -> io::Result<()> {
    let mut flags = vec!["--ping-interval", "3600"];
    if hub_knows("--max-per-address") {
        flags.extend(["--max-per-address", "0"]);
    }
    // The per-address limits stay on their defaults: each address is one attacker.
    let hub = HubProcess::start_with_limits(&flags)?;
    Blocking::registered(hub.addr, "victim")?;
    let mut attackers = (0..addresses)
        .map(|i| Blocking::hello(hub.addr, Some(Ipv4Addr::new(127, 0, 1, 1 + i as u8))))
        .collect::<io::Result<Vec<_>>>()?;
    let wrong = |tag| ClientMsg::Login {
        tag,
        user: "victim".into(),
        password: "wrong-password".into(),
        peer_port: 40_002,
        fingerprint: peerhub::trust::Fingerprint::from_bytes([0; 32]),
    };
    for a in attackers.iter_mut() {
        a.send(&wrong(1))?;
        a.set_nonblocking(true)?;
    }
    let (mut checked, mut refused) = (0u64, 0u64);
    let started = Instant::now();
    while started.elapsed() < window {
        let mut idle = true;
        for (i, a) in attackers.iter_mut().enumerate() {
            while let Some((status, _)) = a.try_reply()? {
                idle = false;
                match status {
                    402 | 401 => checked += 1,
                    429 => refused += 1,
                    other => return Err(io::Error::other(format!("attacker {i}: {other}"))),
                }
                a.send(&wrong(2))?;
            }
        }
        if idle {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    let show = |reply: io::Result<(u16, String)>| match reply {
        Ok((status, message)) => format!("{status} {message}"),
        Err(e) => format!("error {e}"),
    };
    // The owner registered from 127.0.0.1: the hub knows that address for the account.
    let known = Blocking::hello(hub.addr, None)?.login("victim");
    let fresh = Blocking::hello(hub.addr, Some(Ipv4Addr::new(127, 0, 2, 1)))?.login("victim");
    println!(
        "wrong passwords against one account from {addresses} addresses, {:.0} s window:",
        window.as_secs_f64()
    );
    println!(
        "  checked (402) {checked} = {:.0} a minute; refused (429) {refused}",
        checked as f64 / minutes
    );
    println!(
        "  the owner right after, from its known address: {}",
        show(known)
    );
    println!(
        "  the owner right after, from a new address:     {}",
        show(fresh)
    );
    Ok(())
}
