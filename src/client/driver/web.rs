//! The peer's web interface (`--web`): the page's commands run in the session like
//! typed lines, under ids of their own; their results go back to the page that sent
//! them (`web::Web` keeps the routes), events to every page and to stdout.

use super::Client;
use crate::client::session::Session;
use crate::output::{CommandResult, Event};
use crate::web::{Delivered, WebCommand};
use std::time::Instant;

/// Whether `session` publishes the share's file `file` (what `GET /share` shows).
fn publishes(session: &Session) -> impl Fn(&str) -> bool + '_ {
    move |file| session.published().iter().any(|p| p.path == file)
}

impl Client {
    /// Whether `token` belongs to the web interface.
    pub(super) fn web_owns(&self, token: mio::Token) -> bool {
        self.web.as_ref().is_some_and(|w| w.owns(token))
    }

    /// A readiness event of the web interface.
    pub(super) fn web_event(&mut self, token: mio::Token, now: Instant) {
        let mut commands = Vec::new();
        if let Some(w) = self.web.as_mut() {
            let published = publishes(&self.session);
            w.on_event(self.poll.registry(), token, now, &published, &mut commands);
        }
        self.web_commands(commands, now);
    }

    /// What stopped at its budget, and heads past their deadline.
    pub(super) fn web_turn(&mut self, now: Instant) {
        let mut commands = Vec::new();
        if let Some(w) = self.web.as_mut() {
            let published = publishes(&self.session);
            w.turn(self.poll.registry(), now, &published, &mut commands);
        }
        self.web_commands(commands, now);
    }

    /// Whether the web interface has work for the next pass at once.
    pub(super) fn web_busy(&self) -> bool {
        self.web.as_ref().is_some_and(|w| w.busy())
    }

    /// When the web interface must run next.
    pub(super) fn web_deadline(&self) -> Option<Instant> {
        self.web.as_ref().and_then(|w| w.next_deadline())
    }

    fn web_commands(&mut self, commands: Vec<WebCommand>, now: Instant) {
        for WebCommand { id, line } in commands {
            self.session.on_line(id, &line, now, &mut self.actions);
        }
    }

    /// A command's result: to the page that sent it, else to stdout.
    pub(super) fn emit_result(&mut self, r: &CommandResult) {
        let registry = self.poll.registry();
        let delivered = self.web.as_mut().map(|w| w.result(registry, r));
        if matches!(delivered, None | Some(Delivered::NotAPage)) {
            self.output.result(r);
        }
    }

    /// An event: to stdout and to every page.
    pub(super) fn emit_event(&mut self, e: &Event) {
        self.output.event(e);
        if let Some(w) = self.web.as_mut() {
            w.event(self.poll.registry(), e);
        }
    }
}
