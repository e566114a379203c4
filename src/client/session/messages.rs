//! Messages from the hub: their dispatch, and the events the hub sends unasked (pings,
//! chat, joins and leaves, kicks, store uploads, bye).

use super::{Action, Session};
use crate::output::Event;
use crate::proto::message::{ClientMsg, HubMsg};
use crate::proto::status::Status;
use log::info;
use std::time::Instant;

impl Session {
    /// One message from the hub.
    pub fn on_message(&mut self, msg: HubMsg, now: Instant, out: &mut Vec<Action>) {
        match msg {
            HubMsg::Welcome { server, .. } => self.on_welcome(&server, now, out),
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
                let text = format!("{} ({})", reason, status.0);
                // The hub closes next; drop our side now so that close is not a second loss.
                out.push(Action::Disconnect);
                self.on_lost(&text, now, out);
            }
        }
    }
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
}
