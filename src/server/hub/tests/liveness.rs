//! Unit tests of the liveness schedule: when the hub pings a logged-in client.

use super::*;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Run `conn`'s timers as the loop would until `end`, answering every ping as soon as
/// it is sent; return when each ping was sent, as offsets from `t0`.
fn ping_times(
    hub: &mut Hub,
    conn: ConnId,
    t0: Instant,
    mut out: Vec<Action>,
    end: Duration,
) -> Vec<Duration> {
    let mut timers = BinaryHeap::new();
    let mut pings = Vec::new();
    loop {
        for action in &out {
            if let Action::Arm(at, c, serial) = action {
                if *c == conn {
                    timers.push(Reverse((*at, *serial)));
                }
            }
        }
        let Some(Reverse((at, serial))) = timers.pop() else {
            break;
        };
        if at > t0 + end {
            break;
        }
        out = Vec::new();
        hub.on_timer(conn, serial, at, &mut out);
        let nonces: Vec<u32> = sent_to(conn, &out)
            .into_iter()
            .filter_map(|m| match m {
                HubMsg::Ping { nonce } => Some(nonce),
                _ => None,
            })
            .collect();
        for nonce in nonces {
            pings.push(at - t0);
            hub.on_message(conn, ClientMsg::Pong { nonce }, at, &mut out);
        }
    }
    pings
}

/// A hub that pings every 300 ms and waits a second for the pong.
fn pinged_every_300ms() -> TestHub {
    test_hub(HubConfig {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_secs(1),
        ..HubConfig::default()
    })
}

#[test]
fn after_an_answered_ping_the_next_is_one_interval_after_the_pong() {
    let mut hub = pinged_every_300ms();
    let t0 = base();
    let first = join(&mut hub, 1, "alice", t0);
    let got = ping_times(&mut hub, 1, t0, first, Duration::from_millis(2000));
    let ms = |n| Duration::from_millis(n);
    assert_eq!(got, (1..=6).map(|i| ms(300 * i)).collect::<Vec<_>>());
}

#[test]
fn an_unanswered_liveness_ping_drops_the_client_at_the_timeout() {
    let mut hub = pinged_every_300ms();
    let t0 = base();
    join(&mut hub, 1, "alice", t0);
    let serial = hub.sessions.get(&1).unwrap().serial;
    let mut out = Vec::new();
    hub.on_timer(1, serial, t0 + Duration::from_millis(300), &mut out);
    assert!(sent_to(1, &out)
        .iter()
        .any(|m| matches!(m, HubMsg::Ping { .. })));
    let mut out = Vec::new();
    hub.on_timer(1, serial, t0 + Duration::from_millis(1299), &mut out);
    assert!(!out.iter().any(|a| matches!(a, Action::Close(1))));
    hub.on_timer(1, serial, t0 + Duration::from_millis(1300), &mut out);
    assert!(out.iter().any(|a| matches!(a, Action::Close(1))));
}
