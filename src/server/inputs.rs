//! The loop's other sources: console lines from stdin (to `Hub::on_console`) and the
//! signals that shut the hub down.

use super::Server;
use crate::output::Event;
use crate::server::hub::Action;
use log::{debug, info};
use std::time::Instant;

impl Server {
    pub(super) fn console(&mut self, now: Instant) {
        let Some(stdin) = self.stdin.as_mut() else {
            return;
        };
        let mut lines = stdin.read_lines_or_warn("console input");
        if stdin.at_eof() {
            debug!("console input ended; the hub keeps running");
            let text = format!(
                "console closed (end of input); the hub keeps running: stop it with Ctrl-C or kill -TERM {}",
                std::process::id()
            );
            self.actions.push(Action::event(
                Event::new("console_closed", text.clone())
                    .field("message", text)
                    .field("pid", std::process::id()),
            ));
            if let Some(mut stdin) = self.stdin.take() {
                stdin.leave_poll(self.poll.registry());
                stdin.read_lines(&mut lines).ok();
            }
        }
        self.hub.note_queued_output(self.queued_total.get());
        for line in lines {
            self.console_lines += 1;
            self.hub
                .on_console(self.console_lines, &line, now, &mut self.actions);
        }
    }

    pub(super) fn signal(&mut self) {
        for sig in self.signals.pending() {
            info!("signal {sig}: shutting down");
            if !self.hub.is_shutting_down() {
                // What the console's `shutdown` prints.
                self.actions.push(Action::event(
                    Event::new("shutdown", "shutting down")
                        .field("message", "shutting down")
                        .field("signal", sig),
                ));
            }
            self.hub.shutdown(&mut self.actions);
        }
    }
}
