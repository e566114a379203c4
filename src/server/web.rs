//! The operator's web interface (`server --web`): the page's command lines run as
//! console lines, under ids of their own; their results go back to the page that
//! sent them (`web::Web` keeps the routes), events to every page and to stdout.

use super::Server;
use crate::output::{CommandResult, Event};
use crate::web::{Delivered, WebCommand};
use std::time::Instant;

impl Server {
    /// Whether `token` belongs to the web interface.
    pub(super) fn web_owns(&self, token: mio::Token) -> bool {
        self.web.as_ref().is_some_and(|w| w.owns(token))
    }

    /// A readiness event of the web interface.
    pub(super) fn web_event(&mut self, token: mio::Token, now: Instant) {
        let mut commands = Vec::new();
        if let Some(w) = self.web.as_mut() {
            // The hub's page has no share.
            w.on_event(self.poll.registry(), token, now, &|_| false, &mut commands);
        }
        self.web_commands(commands, now);
    }

    /// What stopped at its budget, and heads past their deadline.
    pub(super) fn web_turn(&mut self, now: Instant) {
        let mut commands = Vec::new();
        if let Some(w) = self.web.as_mut() {
            w.turn(self.poll.registry(), now, &|_| false, &mut commands);
        }
        self.web_commands(commands, now);
    }

    /// When the web interface must run next: now while some page waits.
    pub(super) fn web_wake(&self, now: Instant) -> Option<Instant> {
        let w = self.web.as_ref()?;
        if w.busy() {
            return Some(now);
        }
        w.next_deadline()
    }

    fn web_commands(&mut self, commands: Vec<WebCommand>, now: Instant) {
        if !commands.is_empty() {
            self.hub.note_queued_output(self.queued_total.get());
        }
        for WebCommand { id, line } in commands {
            self.hub.on_console(id, &line, now, &mut self.actions);
        }
    }

    /// A console result: to the page that sent its command, to the `GET /metrics`
    /// that waits for it (rendered with the loop's measurements), else to stdout.
    pub(super) fn emit_result(&mut self, r: &CommandResult) {
        let registry = self.poll.registry();
        let Some(w) = self.web.as_mut() else {
            return self.output.result(r);
        };
        match w.result(registry, r) {
            Delivered::ToPage => {}
            Delivered::NotAPage => self.output.result(r),
            Delivered::Metrics(wait) => {
                let text = if r.ok {
                    Ok(super::metrics::render(r, &self.metrics))
                } else {
                    Err(r.message.clone())
                };
                w.answer_metrics(registry, wait, text);
            }
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
