//! Tests of the operator console over the memory backend: bans by the wall clock,
//! `unban`, `deluser`, `setpass`, `ping` and `msg` of unknown users, `stats`, `discover`.

use super::*;
use crate::server::hub::operator::DELETED_OWNER;

/// Type `line` on the console; its result.
fn console(hub: &mut TestHub, line: &str, out: &mut Vec<Action>) -> CommandResult {
    console_at(hub, line, base(), out)
}

#[test]
fn a_ban_says_banned_and_unban_says_when_there_was_none() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    join(&mut hub, 1, "alice", now);
    join(&mut hub, 2, "bob", now);
    let mut out = Vec::new();
    let r = console(&mut hub, "ban bob 5", &mut out);
    assert_eq!((r.ok, r.message.as_str()), (true, "banned bob"));
    assert!(sent_to(2, &out).iter().any(|m| matches!(m,
        HubMsg::Kicked { status, reason } if status.0 == 423 && reason.contains("banned"))));
    assert!(sent_to(1, &out).iter().any(|m| matches!(m,
        HubMsg::Leave { user, reason, .. } if user == "bob" && reason == "banned")));
    let r = console(&mut hub, "bans", &mut Vec::new());
    assert_eq!(r.fields["bans"][0]["user"], "bob");
    assert_eq!(r.fields["bans"][0]["minutes"], 5);
    assert_eq!(r.detail, ["bob  5 more minute(s)"]);
    let r = console(&mut hub, "unban alice", &mut Vec::new());
    assert_eq!((r.ok, r.status), (false, 400));
    assert_eq!(r.message, "alice is not banned");
    let r = console(&mut hub, "unban bob", &mut Vec::new());
    assert_eq!((r.ok, r.message.as_str()), (true, "bob may log in again"));
    assert!(console(&mut hub, "bans", &mut Vec::new()).fields["bans"]
        .as_array()
        .unwrap()
        .is_empty());
    let r = console(&mut hub, "unban nobody", &mut Vec::new());
    assert_eq!(r.status, 401);
}

#[test]
fn bans_count_down_by_the_wall_clock_of_the_turn() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    join(&mut hub, 1, "alice", now);
    hub.begin_turn(now, 1_000);
    console(&mut hub, "ban alice 5", &mut Vec::new());
    console(&mut hub, "ban nobody 5", &mut Vec::new());
    hub.begin_turn(now, 1_059);
    let r = console(&mut hub, "bans", &mut Vec::new());
    assert_eq!(r.fields["bans"][0]["until"], 1_300);
    assert_eq!(r.detail, ["alice  5 more minute(s)"]);
    hub.begin_turn(now, 1_241);
    let r = console(&mut hub, "bans", &mut Vec::new());
    assert_eq!(r.detail, ["alice  1 more minute(s)"]);
    hub.begin_turn(now, 1_300);
    let r = console(&mut hub, "bans", &mut Vec::new());
    assert_eq!(r.message, "0 account(s) banned");
    let r = console(&mut hub, "unban alice", &mut Vec::new());
    assert_eq!(r.message, "alice is not banned", "it ran out");
    console(&mut hub, "ban alice", &mut Vec::new());
    let r = console(&mut hub, "bans", &mut Vec::new());
    assert_eq!(r.detail, ["alice  until unban"]);
}

#[test]
fn ping_and_msg_name_a_user_who_does_not_exist() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    join(&mut hub, 1, "alice", now);
    join(&mut hub, 2, "bob", now);
    hub.on_console(3, "kick bob", now, &mut Vec::new());
    let r = console(&mut hub, "ping nobody", &mut Vec::new());
    assert_eq!(
        (r.status, r.message.as_str()),
        (401, "no such user \"nobody\"")
    );
    assert_eq!(r.fields["state"], "offline");
    let r = console(&mut hub, "ping bob", &mut Vec::new());
    assert_eq!((r.status, r.message.as_str()), (410, "bob is offline"));
    let r = console(&mut hub, "discover nobody", &mut Vec::new());
    assert_eq!(
        (r.status, r.message.as_str()),
        (401, "no such user \"nobody\"")
    );
    let mut out = Vec::new();
    for (tag, to) in [(5, "nobody"), (6, "bob")] {
        let msg = ClientMsg::Msg {
            tag,
            to: to.into(),
            text: "hi".into(),
        };
        hub.on_message(1, msg, now, &mut out);
    }
    assert_eq!(status_of(1, &out), [401, 410]);
    assert!(sent_to(1, &out).iter().any(|m| matches!(m,
        HubMsg::Reply { message, .. } if message == "no such user \"nobody\"")));
}

#[test]
fn deluser_withdraws_publications_and_keeps_store_entries_ownerless() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    join(&mut hub, 1, "alice", now);
    join(&mut hub, 2, "bob", now);
    let mut out = Vec::new();
    let publish = publish_msg(3, "song", 1);
    hub.on_message(2, publish, now, &mut out);
    stored(&mut hub, "kept", "bob", 1, 1);
    let mut out = Vec::new();
    let r = console(&mut hub, "deluser bob", &mut out);
    assert!(r.ok, "{r:?}");
    assert_eq!(r.fields["unpublished"], 1);
    assert_eq!(r.fields["store_entries"], 1);
    assert!(
        r.message.contains("1 publication(s) withdrawn"),
        "{}",
        r.message
    );
    assert!(sent_to(2, &out)
        .iter()
        .any(|m| matches!(m, HubMsg::Kicked { status, .. } if status.0 == 401)));
    assert!(hub.index.files_of("bob").is_empty());
    assert_eq!(hub.memory().password_of("bob"), None);
    assert!(hub.memory().published_by("bob").is_empty());
    assert_eq!(hub.memory().store["kept"].owner, DELETED_OWNER);
    assert_eq!(hub.catalogue.get("kept").unwrap().owner, DELETED_OWNER);
    let r = console(&mut hub, "deluser bob", &mut Vec::new());
    assert_eq!(r.status, 401);
}

#[test]
fn setpass_replaces_a_forgotten_password() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    join(&mut hub, 1, "alice", now);
    let r = console(&mut hub, "setpass alice new secret", &mut Vec::new());
    assert!(r.ok, "{r:?}");
    assert_eq!(hub.memory().password_of("alice"), Some("new secret"));
    let r = console(&mut hub, "setpass nobody x", &mut Vec::new());
    assert_eq!(r.status, 401);
}

/// `stats` shows the fingerprint the loop gave the hub, and nothing of a key when it
/// was given none.
#[test]
fn stats_show_the_hub_key_it_was_given() {
    let fingerprint: crate::trust::Fingerprint =
        format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
    let mut hub = test_hub(HubConfig {
        fingerprint: Some(fingerprint),
        ..HubConfig::default()
    });
    let r = console(&mut hub, "stats", &mut Vec::new());
    assert_eq!(r.fields["fingerprint"], fingerprint.to_string());
    let line = format!("hub key: {fingerprint}");
    assert!(r.detail.contains(&line), "{:?}", r.detail);
    let mut keyless = test_hub(HubConfig::default());
    let r = console(&mut keyless, "stats", &mut Vec::new());
    assert!(!r.fields.contains_key("fingerprint"), "{:?}", r.fields);
    assert!(
        !r.detail.iter().any(|l| l.contains("hub key")),
        "{:?}",
        r.detail
    );
}

#[test]
fn stats_count_accounts_and_discover_lists_what_a_user_publishes() {
    let mut hub = test_hub(HubConfig::default());
    let now = base();
    join(&mut hub, 1, "alice", now);
    join(&mut hub, 2, "bob", now);
    let publish = publish_msg(3, "song", 1);
    hub.on_message(2, publish, now, &mut Vec::new());
    hub.on_message(2, ClientMsg::Logout { tag: 4 }, now, &mut Vec::new());
    let r = console(&mut hub, "stats", &mut Vec::new());
    assert_eq!(r.fields["accounts"], 2);
    assert_eq!(r.fields["users_online"], 1);
    assert_eq!(r.fields["published_files"], 1);
    assert!(
        r.detail.contains(&"accounts: 2".to_owned()),
        "{:?}",
        r.detail
    );
    let r = console(&mut hub, "discover bob", &mut Vec::new());
    assert_eq!(r.message, "bob (offline) publishes 1 file(s)");
    assert_eq!(r.fields["files"][0]["name"], "song");
    let r = console(&mut hub, "discover carol", &mut Vec::new());
    assert_eq!(
        (r.status, r.message.as_str()),
        (401, "no such user \"carol\"")
    );
}
