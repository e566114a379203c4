//! Unit tests: a failing database shows as a 500 with its cause, never as "no such
//! user" or zero counts.

use super::*;

/// Type `line` on the console at `now`; its result.
fn console(hub: &mut TestHub, line: &str, now: Instant) -> CommandResult {
    console_at(hub, line, now, &mut Vec::new())
}

#[test]
fn an_account_lookup_that_fails_is_a_500_not_no_such_user() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    join(&mut hub, 1, "alice", now);
    hub.memory().broken = Some("no such table: accounts".into());
    for line in ["discover bob", "ping bob"] {
        let r = console(&mut hub, line, now);
        assert_eq!((r.ok, r.status), (false, 500), "{line}: {}", r.message);
        assert_eq!(r.message, "no such table: accounts", "{line}");
    }
    let mut out = Vec::new();
    let msg = ClientMsg::Msg {
        tag: 3,
        to: "bob".into(),
        text: "hi".into(),
    };
    hub.on_message(1, msg, now, &mut out);
    assert_eq!(status_of(1, &out), vec![500]);
}

#[test]
fn stats_that_cannot_be_counted_are_a_500_not_zero() {
    let mut hub = test_hub(HubConfig::default());
    hub.memory().broken = Some("disk I/O error".into());
    let r = console(&mut hub, "stats", base());
    assert_eq!((r.ok, r.status), (false, 500), "{}", r.message);
}
