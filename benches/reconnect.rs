//! Reconnect storm: N logged-in clients (default 10,000; one driver process holds
//! them all, as the lookup bench does) lose their hub — it is killed with SIGKILL and
//! started again on the same port with the same data — and all come back at once.
//! Timed: from the kill until every one of them is logged in again, once with resume
//! tokens (no password, no argon2 hash) and once with passwords, for comparison.
//! Target: all 10,000 back within 10 s with tokens.
//!
//! Both rounds speak TLS 1.3, as clients do by default (`PEERHUB_BENCH_TLS=plain` for
//! plaintext). Each client's join notices are drained as a real client would.
//!
//! Rounds alternate (tokens, passwords, tokens, …); the table has the medians.
//!
//! Settings (environment): `PEERHUB_BENCH_RECONNECT` (10000), `PEERHUB_BENCH_RUNS`
//! rounds of each kind (3), `PEERHUB_BENCH_TLS` (`tls`), `PEERHUB_BENCH_HUB_BIN` to run
//! another build of the hub. Under `cargo test --benches` it runs 100 clients, once.

mod common;
mod idle;

use common::blocking::per_address_limits_lifted;
use common::*;
use idle::{Fleet, Relogin};
use std::io;
use std::time::Instant;

fn main() {
    if let Err(e) = bench() {
        eprintln!("reconnect bench failed: {e}");
        std::process::exit(1);
    }
}

/// One round's times, in seconds.
struct Round {
    /// From the kill until the new hub listens.
    restart: f64,
    /// From the kill until the last client has its login reply.
    total: f64,
}

fn bench() -> io::Result<()> {
    let n = env_usize(
        "PEERHUB_BENCH_RECONNECT",
        if is_bench() { 10_000 } else { 100 },
    )
    .max(1);
    let runs = env_usize("PEERHUB_BENCH_RUNS", if is_bench() { 3 } else { 1 }).max(1);
    let tls = std::env::var("PEERHUB_BENCH_TLS").map_or(true, |v| v != "plain");
    let _ = peerhub::sys::raise_nofile_limit();
    let max_clients = (n + 100).to_string();
    let mut flags = vec!["--max-clients", &max_clients, "--ping-interval", "3600"];
    flags.extend(per_address_limits_lifted());
    let mut hub = if tls {
        HubProcess::start_tls(&flags)?
    } else {
        HubProcess::start(&flags)?
    };
    let set_up = Instant::now();
    let mut fleet = Fleet::new(hub.transport());
    fleet.log_in(hub.addr, "user", n, |_| None)?;
    fleet.drain();
    eprintln!(
        "{n} accounts registered and logged in in {:.1} s",
        set_up.elapsed().as_secs_f64()
    );

    let (mut tokens, mut passwords) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        tokens.push(storm(&mut hub, &mut fleet, Relogin::Token)?);
        passwords.push(storm(&mut hub, &mut fleet, Relogin::Password)?);
    }
    let (tokens, passwords) = (Round::median(&tokens), Round::median(&passwords));

    let transport = if tls { "TLS 1.3" } else { "plaintext" };
    println!();
    println!(
        "reconnect storm: {n} logged-in clients, hub killed (SIGKILL) and restarted on its \
         port and data, {transport}; median of {runs} round(s) each"
    );
    println!(
        "{:<34} {:>12} {:>14} {:>12}",
        "logging back in with", "restart s", "all back s", "logins/s"
    );
    for (name, round) in [
        ("resume tokens", &tokens),
        ("passwords (argon2)", &passwords),
    ] {
        println!(
            "{:<34} {:>12.2} {:>14.2} {:>12.0}",
            name,
            round.restart,
            round.total,
            n as f64 / (round.total - round.restart).max(1e-9)
        );
    }
    println!(
        "tokens: all {n} back in {:.2} s (target <= 10 s); passwords take {:.1}x as long",
        tokens.total,
        passwords.total / tokens.total.max(1e-9)
    );
    Ok(())
}

impl Round {
    /// The round with the median total time.
    fn median(rounds: &[Round]) -> Round {
        let mut totals: Vec<(f64, f64)> = rounds.iter().map(|r| (r.total, r.restart)).collect();
        totals.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (total, restart) = totals.get(totals.len() / 2).copied().unwrap_or_default();
        Round { restart, total }
    }
}

/// Kill the hub, restart it and time `fleet` logging back in `how`.
fn storm(hub: &mut HubProcess, fleet: &mut Fleet, how: Relogin) -> io::Result<Round> {
    let killed = Instant::now();
    hub.kill_and_restart()?;
    let restart = killed.elapsed().as_secs_f64();
    fleet.come_back(hub.addr, how)?;
    let total = killed.elapsed().as_secs_f64();
    fleet.drain();
    eprintln!("{} clients back with {how:?} in {total:.2} s", fleet.len());
    Ok(Round { restart, total })
}
