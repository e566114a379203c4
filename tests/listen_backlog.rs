//! End-to-end test of the hub's listen backlog (issue 12, connection storms): while the
//! hub is frozen and accepts nothing, the kernel completes as many handshakes as
//! `--listen-backlog` allows, and the thawed hub answers every one's hello.

mod support;

use std::time::{Duration, Instant};
use support::{Hub, Raw};

/// Connections made while the hub is stopped: more than std's backlog of 128 holds,
/// fewer than the 600 the hub is started with.
const STORM: usize = 500;

/// The kernel's cap on any backlog (`net.core.somaxconn`; 4,096 if unreadable).
fn somaxconn() -> usize {
    let text = std::fs::read_to_string("/proc/sys/net/core/somaxconn").unwrap_or_default();
    text.trim().parse().unwrap_or(4096)
}

/// Whether process `pid` is stopped (state `T` in `/proc/<pid>/stat`).
fn is_stopped(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The state follows the command name, which is in parentheses.
    stat.rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('T'))
}

#[test]
fn a_frozen_hub_queues_a_storm_and_answers_it_thawed() {
    // Below 600 the kernel caps the backlog, so the storm is sized to what it holds.
    let backlog = 600.min(somaxconn());
    let count = STORM.min(backlog - backlog / 6);
    let mut hub = Hub::start(&[
        "--listen-backlog",
        &backlog.to_string(),
        "--max-per-address",
        "0",
    ]);
    hub.signal(libc::SIGSTOP);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !is_stopped(hub.pid()) {
        assert!(Instant::now() < deadline, "the hub did not stop");
        std::thread::yield_now();
    }

    // Raw::connect panics after 5 s: a full accept queue drops the SYN and its retries.
    let mut storm: Vec<Raw> = (0..count).map(|_| Raw::connect(hub.addr())).collect();

    hub.signal(libc::SIGCONT);
    for raw in &mut storm {
        raw.hello();
    }
}

#[test]
fn a_backlog_past_the_kernels_cap_is_said_to_be_capped() {
    let Some(cap) = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
    else {
        eprintln!("skipping: net.core.somaxconn unreadable");
        return;
    };
    let asked = (cap + 1).to_string();
    let hub = Hub::start(&["--listen-backlog", &asked]);
    let log = hub.stderr_tail();
    assert!(
        log.contains(&format!("capped at {cap}")) && log.contains("net.core.somaxconn"),
        "{log}"
    );
}
