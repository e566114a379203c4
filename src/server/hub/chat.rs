//! Chat: public `say` and private `msg`, their text check and flood limit, the history a
//! login is sent, the shared frame every other user online gets, and who is online.

use super::accounts::account_failure;
use super::pending::{ReplyTo, Then as Waiting};
use super::{reply, Action, Asker, ConnId, Hub, MAX_TEXT_BYTES};
use crate::proto::message::{Body, HubMsg};
use crate::proto::names;
use crate::proto::status::Status;
use crate::server::persist::{Answer, Ask};
use log::debug;
use std::rc::Rc;
use std::time::Instant;

/// What a chat request waits with.
#[derive(Debug)]
pub(super) enum Then {
    /// A `msg` to a user offline: does the account exist?
    Offline { to: ReplyTo, name: String },
}

impl Hub {
    /// An answer to a chat request.
    pub(super) fn chat_answered(&mut self, then: Then, answer: Answer, out: &mut Vec<Action>) {
        let Then::Offline { to, name } = then;
        let said = match answer.exists() {
            Ok(false) => (Status::NO_ACCOUNT, format!("no such user {name:?}")),
            Ok(true) => (Status::USER_OFFLINE, format!("{name} is not online")),
            Err(e) => account_failure(&e),
        };
        self.send_reply(&to, said, Body::None, out);
    }

    /// Queue one shared frame to everyone logged in except `except` (after the join
    /// notices that wait, so that notices keep their order).
    pub(super) fn share_with_others(
        &mut self,
        except: ConnId,
        frame: &Rc<[u8]>,
        out: &mut Vec<Action>,
    ) {
        self.flush_joins(out);
        for &c in self.online.values() {
            if c != except {
                out.push(Action::Share(c, Rc::clone(frame)));
            }
        }
    }

    pub(super) fn check_text(text: &str) -> Result<(), (Status, String)> {
        if text.is_empty() {
            Err((Status::BAD_REQUEST, "empty message".into()))
        } else if text.len() > MAX_TEXT_BYTES {
            Err((
                Status::TOO_LARGE,
                format!("message longer than {MAX_TEXT_BYTES} bytes"),
            ))
        } else if names::has_control_chars(text) {
            Err((
                Status::BAD_REQUEST,
                "message contains control characters".into(),
            ))
        } else {
            Ok(())
        }
    }

    /// Whole seconds until a chat token is back.
    pub(super) fn chat_retry_after(&self) -> u32 {
        ((1.0 / self.config.chat_rate).ceil() as u32).max(1)
    }

    /// Whether `conn` may send a chat line now (it takes one from its flood bucket);
    /// if not, request `tag` is answered 429 with when to try again.
    fn chat_allowed(
        &mut self,
        conn: ConnId,
        tag: u32,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> bool {
        let (rate, burst) = (self.config.chat_rate, self.config.chat_burst());
        let allowed = self
            .sessions
            .get_mut(&conn)
            .is_some_and(|s| s.chat.take(rate, burst, now));
        if !allowed {
            let text = "slow down: chat flood limit reached";
            let retry = Body::RetryAfter(self.chat_retry_after());
            out.push(Action::Send(
                conn,
                reply(tag, Status::RATE_LIMITED, text, retry),
            ));
        }
        allowed
    }

    pub(super) fn say(
        &mut self,
        conn: ConnId,
        tag: u32,
        user: &str,
        text: &str,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        if let Err((status, why)) = Self::check_text(text) {
            return out.push(Action::Send(conn, reply(tag, status, why, Body::None)));
        }
        if !self.chat_allowed(conn, tag, now, out) {
            return;
        }
        let frame: Rc<[u8]> = HubMsg::Chat {
            from: user.to_owned(),
            text: text.to_owned(),
            history: false,
        }
        .to_frame()
        .into();
        let recipients = self.online.len().saturating_sub(1);
        self.share_with_others(conn, &frame, out);
        self.counters.chat_relayed += 1;
        self.remember(user, text);
        debug!("chat from {user} to {recipients}");
        out.push(Action::Send(
            conn,
            reply(
                tag,
                Status::OK,
                format!("sent to {recipients} user(s)"),
                Body::None,
            ),
        ));
    }

    pub(super) fn remember(&mut self, from: &str, text: &str) {
        if self.config.history == 0 {
            return;
        }
        if self.history.len() >= self.config.history {
            self.history.pop_front();
        }
        self.history.push_back((from.to_owned(), text.to_owned()));
    }

    pub(super) fn private(
        &mut self,
        asker: Asker,
        to: &str,
        text: &str,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Asker { conn, tag, user } = asker;
        if let Err((status, why)) = Self::check_text(text) {
            return out.push(Action::Send(conn, reply(tag, status, why, Body::None)));
        }
        let Some(&target) = self.online.get(to) else {
            if names::check_user(to).is_err() {
                let why = format!("invalid user name {to:?}");
                return out.push(Action::Send(
                    conn,
                    reply(tag, Status::INVALID_NAME, why, Body::None),
                ));
            }
            let Some(reply_to) = self.reply_to(conn, tag) else {
                return;
            };
            let then = Then::Offline {
                to: reply_to,
                name: to.to_owned(),
            };
            let ask = Ask::AccountExists {
                name: to.to_owned(),
            };
            self.ask(ask, Waiting::Chat(then), out);
            return;
        };
        if !self.chat_allowed(conn, tag, now, out) {
            return;
        }
        self.flush_joins(out);
        out.push(Action::Send(
            target,
            HubMsg::Private {
                from: user.to_owned(),
                text: text.to_owned(),
            }
            .to_frame(),
        ));
        self.counters.chat_relayed += 1;
        out.push(Action::Send(
            conn,
            reply(tag, Status::OK, format!("sent to {to}"), Body::None),
        ));
    }

    pub(super) fn user_names(&self) -> Vec<String> {
        let mut users: Vec<String> = self.online.keys().map(|n| n.to_string()).collect();
        users.sort();
        users
    }
}

/// Keep the first names whose encoding fits in `budget` bytes; true if some were cut.
pub(super) fn fit_names(names: &mut Vec<String>, budget: usize) -> bool {
    let mut used = 0;
    let fits = names
        .iter()
        .take_while(|n| {
            used += 2 + n.len();
            used <= budget
        })
        .count();
    let cut = fits < names.len();
    names.truncate(fits);
    cut
}
