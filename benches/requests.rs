//! Request throughput: C clients each keep one cheap request outstanding (a closed
//! loop) against the optimised hub — peerhub `Echo` → `Reply 200` — and, when
//! `redis-server` is on PATH, the same driver against a Redis of our own with `PING`;
//! each in plaintext (the hub under `--insecure-plaintext`) and over TLS 1.3 (the
//! hub's default; Redis on `--tls-port` with a throw-away certificate), the driver
//! speaking TLS through the library's `TlsStream` to both.
//! Prints requests/s (median of the runs), p50/p99 latency, the server's CPU load and
//! CPU time per request, and the ratios peerhub/redis and peerhub+tls/redis+tls of
//! both. The CPU ratio matters when the server is not saturated (the one-thread driver
//! costs about what a server does per request, so on two cores the rates of two fast
//! servers converge).
//!
//! The runs alternate between the four servers so that a slow spell of a shared
//! machine hits all. Settings (environment):
//! - `PEERHUB_BENCH_CLIENTS`  concurrent clients (50)
//! - `PEERHUB_BENCH_RUNS`     measured runs per system (5)
//! - `PEERHUB_BENCH_SECS`     seconds per run (3)
//! - `PEERHUB_BENCH_WARMUP`   unmeasured seconds before each run (0.3)
//! - `PEERHUB_BENCH_DEPTH`    requests outstanding per client (1: closed loop)
//! - `PEERHUB_BENCH_PIN`      0 to leave CPU placement to the scheduler (default: the
//!   servers on CPU 0, the driver on the last CPU; see `common::pin_to_cpu`)
//! - `PEERHUB_BENCH_HUB_BIN`  a hub binary to measure instead of this build's
//! - `PEERHUB_BENCH_TLS`      `plain` or `tls` for one transport only (default: both)
//!
//! Under `cargo test --benches` (no `--bench` argument) it only runs a short smoke round.

mod common;

use common::*;
use std::time::Duration;

fn main() {
    if let Err(e) = bench() {
        eprintln!("requests bench failed: {e}");
        std::process::exit(1);
    }
}

fn bench() -> std::io::Result<()> {
    let quick = !is_bench();
    if quick {
        self_check();
    }
    let clients = env_usize("PEERHUB_BENCH_CLIENTS", if quick { 4 } else { 50 }).max(1);
    let runs = env_usize("PEERHUB_BENCH_RUNS", if quick { 1 } else { 5 }).max(1);
    let secs = env_secs("PEERHUB_BENCH_SECS", if quick { 0.2 } else { 3.0 });
    let warmup = env_secs("PEERHUB_BENCH_WARMUP", if quick { 0.05 } else { 0.3 });
    let depth = env_usize("PEERHUB_BENCH_DEPTH", 1).max(1);

    // One hub and one Redis per transport: plaintext (the hub under
    // --insecure-plaintext, Redis's --port) and TLS 1.3 (the hub's default, Redis's
    // --tls-port), each with a driver speaking the same.
    let mut hubs = Vec::new();
    let mut redises = Vec::new();
    let mut rows = Vec::new();
    let mut pairs = Vec::new();
    for tls in wire_modes() {
        let hub = if tls {
            HubProcess::start_tls(&[])?
        } else {
            HubProcess::start(&[])?
        };
        let mut d =
            Driver::connect_over(hub.addr, clients, PeerhubEcho::new(depth), &hub.transport())?;
        d.watch(hub.pid());
        rows.push(Row::new(label("peerhub", tls), d));
        hubs.push(hub);
        let redis = if tls {
            RedisProcess::start_tls()?
        } else {
            RedisProcess::start()?
        };
        if let Some(r) = redis {
            let mut d = Driver::connect_over(r.addr, clients, RedisPing { depth }, &r.transport())?;
            d.watch(r.pid());
            pairs.push((rows.len() - 1, rows.len()));
            rows.push(Row::new(label("redis", tls), d));
            redises.push(r);
        }
    }

    let pinned = match pinning() {
        Some((server_cpu, driver_cpu)) => {
            let mut ok = pin_to_cpu(0, driver_cpu);
            for pid in hubs.iter().map(HubProcess::pid) {
                ok &= pin_to_cpu(pid, server_cpu);
            }
            for pid in redises.iter().map(RedisProcess::pid) {
                ok &= pin_to_cpu(pid, server_cpu);
            }
            if ok {
                format!("servers on cpu {server_cpu}, driver on cpu {driver_cpu}")
            } else {
                "pinning failed, unpinned".to_string()
            }
        }
        None => "unpinned".to_string(),
    };

    alternate(&mut rows, runs, warmup, secs, |_| {})?;

    let pipelining = if depth > 1 {
        format!(", {depth} outstanding each")
    } else {
        String::new()
    };
    let title = format!(
        "requests: {clients} clients{pipelining}, {runs} runs x {} s (Echo vs PING; {pinned})",
        fmt_secs(secs)
    );
    let summaries: Vec<Summary> = rows.into_iter().map(|r| r.summary).collect();
    print_table(&title, &summaries, &pairs);
    if redises.is_empty() {
        println!("redis-server not on PATH: no baseline, ratio skipped");
    }
    Ok(())
}

fn fmt_secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}
