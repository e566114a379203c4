//! Tests of chat: the flood limit by simulated time, the history a login gets, and
//! `msg` to someone online, offline or unknown.

use super::*;

fn say(tag: u32, text: &str) -> ClientMsg {
    ClientMsg::Say {
        tag,
        text: text.into(),
    }
}

fn msg(tag: u32, to: &str, text: &str) -> ClientMsg {
    ClientMsg::Msg {
        tag,
        to: to.into(),
        text: text.into(),
    }
}

#[test]
fn the_flood_limit_allows_a_burst_then_one_message_per_token() {
    let mut hub = test_hub(HubConfig {
        chat_rate: 1.0,
        ..HubConfig::default()
    });
    let t0 = base();
    join(&mut hub, 1, "alice", t0);
    join(&mut hub, 2, "bob", t0);
    let mut out = Vec::new();
    for tag in 0..5 {
        hub.on_message(1, say(tag, "hi"), t0, &mut out);
    }
    hub.on_message(1, msg(5, "bob", "psst"), t0, &mut out);
    assert_eq!(
        status_of(1, &out),
        [200, 200, 200, 200, 200, 429],
        "burst of 5"
    );
    assert!(matches!(
        sent_to(1, &out).pop(),
        Some(HubMsg::Reply {
            body: Body::RetryAfter(1),
            ..
        })
    ));
    let mut out = Vec::new();
    let later = t0 + Duration::from_secs(1);
    hub.on_message(1, msg(6, "bob", "psst"), later, &mut out);
    hub.on_message(1, say(7, "again"), later, &mut out);
    assert_eq!(status_of(1, &out), [200, 429], "one token a second");
    assert!(sent_to(2, &out)
        .iter()
        .any(|m| matches!(m, HubMsg::Private { from, text } if from == "alice" && text == "psst")));
    assert_eq!(hub.counters.chat_relayed, 6);
}

#[test]
fn a_login_gets_the_history_and_msg_tells_offline_from_unknown() {
    let mut hub = test_hub(HubConfig {
        history: 2,
        ..HubConfig::default()
    });
    let now = base();
    join(&mut hub, 1, "alice", now);
    let mut out = Vec::new();
    for (tag, text) in [(3, "one"), (4, "two"), (5, "three")] {
        hub.on_message(1, say(tag, text), now, &mut out);
    }
    let out = join(&mut hub, 2, "bob", now);
    let history: Vec<String> = sent_to(2, &out)
        .into_iter()
        .filter_map(|m| match m {
            HubMsg::Chat {
                text,
                history: true,
                ..
            } => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(history, ["two", "three"]);
    let mut out = Vec::new();
    hub.on_message(2, ClientMsg::Logout { tag: 6 }, now, &mut out);
    let mut out = Vec::new();
    hub.on_message(1, msg(7, "bob", "hi"), now, &mut out);
    hub.on_message(1, msg(8, "carol", "hi"), now, &mut out);
    hub.on_message(1, msg(9, "bad name!", "hi"), now, &mut out);
    hub.on_message(1, msg(10, "bob", ""), now, &mut out);
    assert_eq!(status_of(1, &out), [410, 401, 408, 400]);
}
