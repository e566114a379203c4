//! Messages from the hub: their dispatch, and the events the hub sends unasked (pings,
//! chat, joins and leaves, kicks, store uploads, bye).

use super::{Action, Session};
use crate::output::Event;
use crate::proto::message::{ClientMsg, HubMsg, VERSION};
use crate::proto::status::Status;
use log::info;
use std::time::Instant;

impl Session {
    /// One message from the hub.
    pub fn on_message(&mut self, msg: HubMsg, now: Instant, out: &mut Vec<Action>) {
        match msg {
            HubMsg::Welcome {
                version, server, ..
            } if version != VERSION => {
                let text = format!(
                    "incompatible peerhub version: {server} speaks protocol version {version} \
                     and this client {VERSION}; upgrade the older of the two"
                );
                out.push(Action::Disconnect);
                self.on_lost(&text, now, out);
            }
            HubMsg::Welcome {
                server, hub_key, ..
            } => self.on_welcome(&server, &hub_key, now, out),
            HubMsg::Reply {
                tag,
                status,
                message,
                body,
            } => self.on_reply(tag, status, message, body, now, out),
            HubMsg::Ping { nonce } => {
                let mut frame = Vec::new();
                ClientMsg::Pong { nonce }.encode(&mut frame);
                out.push(Action::Send(frame));
                out.push(Action::Event(
                    Event::new("ping", "").field("status", Status::PING.0),
                ));
            }
            HubMsg::Chat {
                from,
                text,
                history,
            } => {
                let mut e = Event::new("chat", format!("<{from}> {text}"))
                    .field("from", from)
                    .field("text", text);
                if history {
                    e = e.field("history", true);
                    e.human = format!("(earlier) {}", e.human);
                }
                out.push(Action::Event(e));
            }
            HubMsg::Private { from, text } => out.push(Action::Event(
                Event::new("private", format!("[{from} → you] {text}"))
                    .field("from", from)
                    .field("text", text),
            )),
            HubMsg::Join { user, online } => out.push(join_event(user, online)),
            HubMsg::Joins { users, online } => {
                // A batch may name me (I joined in it): only those after me are news.
                let me = self.user.as_deref();
                let skip = users
                    .iter()
                    .position(|u| Some(u.as_str()) == me)
                    .map_or(0, |i| i + 1);
                let last = users.len();
                if last - skip > JOINS_ONE_BY_ONE {
                    // A storm: one event for the lot.
                    let users: Vec<String> = users.into_iter().skip(skip).collect();
                    out.push(joins_event(users, online));
                    return;
                }
                for (i, user) in users.into_iter().enumerate().skip(skip) {
                    // The count when this one joined: the later ones were not in yet.
                    let then = online.saturating_sub((last - 1 - i) as u32);
                    out.push(join_event(user, then));
                }
            }
            HubMsg::Leave {
                user,
                online,
                reason,
            } => out.push(Action::Event(
                Event::new(
                    "leave",
                    format!("* {user} left ({reason}; {online} online)"),
                )
                .field("user", user)
                .field("online", online)
                .field("reason", reason),
            )),
            HubMsg::Announce { text } => out.push(Action::Event(
                Event::new("announce", format!("*** {text}")).field("text", text),
            )),
            HubMsg::Kicked { status, reason } => {
                info!("kicked by the hub: {reason}");
                self.user = None;
                // Its resume token goes too: a kicked client stays logged out.
                self.credentials = None;
                self.stay_out = true;
                out.push(Action::Event(
                    Event::new(
                        "kicked",
                        format!("you were logged out by the hub: {reason}"),
                    )
                    .field("reason", reason)
                    .field("status", status.0),
                ));
                self.try_leave(now, out);
            }
            HubMsg::Upload {
                user,
                name,
                files,
                bytes,
            } => out.push(Action::Event(
                Event::new(
                    "upload",
                    format!(
                        "{user} uploaded {name} ({})",
                        crate::output::files_and_size(files, bytes)
                    ),
                )
                .field("user", user)
                .field("name", name)
                .field("files", files)
                .field("bytes", bytes),
            )),
            HubMsg::Bye { status, reason } => {
                let text = if status == Status::UNAVAILABLE {
                    format!("hub full or unreachable: {reason} ({})", status.0)
                } else if reason.starts_with("protocol version") {
                    // An older hub's words for another version.
                    format!("incompatible peerhub version: {reason} ({})", status.0)
                } else {
                    format!("{reason} ({})", status.0)
                };
                // The hub closes next; drop our side now so that close is not a second loss.
                out.push(Action::Disconnect);
                self.on_lost(&text, now, out);
            }
        }
    }
}

/// Most joins in one frame reported one `join` event each; past it, one `joins` event.
pub(super) const JOINS_ONE_BY_ONE: usize = 16;

/// The one event for many users who joined in one frame (a reconnect storm): how many,
/// the count online after them, and the first [`JOINS_ONE_BY_ONE`] names.
fn joins_event(users: Vec<String>, online: u32) -> Action {
    let count = users.len();
    let named: Vec<String> = users.into_iter().take(JOINS_ONE_BY_ONE).collect();
    let human = format!(
        "* {count} users joined ({online} online): {}, and {} more",
        named.join(", "),
        count - named.len()
    );
    Action::Event(
        Event::new("joins", human)
            .field("count", count)
            .field("online", online)
            .field("users", named),
    )
}

/// The event for one user who joined.
pub(super) fn join_event(user: String, online: u32) -> Action {
    Action::Event(
        Event::new("join", format!("* {user} joined ({online} online)"))
            .field("user", user)
            .field("online", online),
    )
}

#[cfg(test)]
mod tests {
    use super::super::tests::logged_in;
    use super::super::Action;
    use crate::proto::message::HubMsg;
    use std::time::Instant;

    #[test]
    fn a_joins_batch_is_one_join_event_per_other_user_after_me() {
        let mut s = logged_in(false);
        let events = |out: &[Action]| -> Vec<(String, u64)> {
            out.iter()
                .filter_map(|a| match a {
                    Action::Event(e) if e.name == "join" => Some((
                        e.fields["user"].as_str().unwrap().to_owned(),
                        e.fields["online"].as_u64().unwrap(),
                    )),
                    _ => None,
                })
                .collect()
        };
        let mut out = Vec::new();
        let batch = |users: &[&str], online| HubMsg::Joins {
            users: users.iter().map(|u| u.to_string()).collect(),
            online,
        };
        s.on_message(batch(&["a", "me", "b", "c"], 10), Instant::now(), &mut out);
        assert_eq!(
            events(&out),
            vec![("b".into(), 9), ("c".into(), 10)],
            "only those after me, each with the count of then"
        );
        let mut out = Vec::new();
        s.on_message(batch(&["d", "e"], 12), Instant::now(), &mut out);
        assert_eq!(events(&out), vec![("d".into(), 11), ("e".into(), 12)]);
    }

    #[test]
    fn a_hub_of_another_version_is_named_incompatible() {
        let mut s = super::super::tests::session(false);
        let mut out = Vec::new();
        s.on_message(
            HubMsg::Welcome {
                version: 1,
                server: "peerhub 0.0.9".into(),
                hub_key: Vec::new(),
            },
            Instant::now(),
            &mut out,
        );
        let lost = out.iter().find_map(|a| match a {
            Action::Event(e) if e.name == "disconnected" => Some(e.human.clone()),
            _ => None,
        });
        let lost = lost.expect("a disconnected event");
        assert!(lost.contains("incompatible peerhub version"), "{lost}");
        assert!(out.iter().any(|a| matches!(a, Action::Exit(1))), "{out:?}");
    }

    #[test]
    fn more_than_sixteen_joins_in_one_frame_are_one_joins_event() {
        let mut s = logged_in(false);
        let names = |n: usize| (0..n).map(|i| format!("u{i}")).collect::<Vec<_>>();
        let mut out = Vec::new();
        let users = names(16);
        s.on_message(
            HubMsg::Joins { users, online: 20 },
            Instant::now(),
            &mut out,
        );
        assert_eq!(out.len(), 16, "sixteen are still one event each");
        let mut users = names(3);
        users.push("me".into());
        users.extend(names(40).into_iter().skip(3));
        let mut out = Vec::new();
        s.on_message(
            HubMsg::Joins { users, online: 500 },
            Instant::now(),
            &mut out,
        );
        let [Action::Event(e)] = &out[..] else {
            panic!("one event: {out:?}");
        };
        assert_eq!(e.name, "joins");
        assert_eq!(e.fields["count"], 37, "the ones after me");
        assert_eq!(e.fields["online"], 500);
        let listed = e.fields["users"].as_array().unwrap();
        assert_eq!(listed.len(), 16);
        assert_eq!(listed[0], "u3");
        assert!(
            e.human.contains("37 users joined (500 online)"),
            "{}",
            e.human
        );
        assert!(e.human.ends_with("and 21 more"), "{}", e.human);
    }
}
