//! Typed input: lines from the line editor or from stdin into the session, and what
//! the session printed shown above the input line.

use super::Client;
use crate::client::terminal::Input;
use std::time::Instant;

impl Client {
    /// Print above the input line what the session printed, and redraw.
    pub(super) fn show(&mut self) {
        if let Some(tty) = self.tty.as_mut() {
            for text in self.output.take_held() {
                tty.print(&text);
            }
            tty.flush();
        }
    }

    pub(super) fn read_input(&mut self, now: Instant) {
        let Some(tty) = self.tty.as_mut().filter(|t| t.has_keyboard()) else {
            return self.read_stdin(now);
        };
        let mine = self.session.published().iter().map(|p| p.name.clone());
        let mut inputs = Vec::new();
        tty.read(mine, &mut inputs);
        for input in inputs {
            match input {
                Input::Line(line) => {
                    self.lines += 1;
                    self.session
                        .on_line(self.lines, &line, now, &mut self.actions);
                }
                Input::Interrupt => self.session.on_signal(now, &mut self.actions),
                Input::EndOfInput if !self.input_ended => {
                    self.input_ended = true;
                    self.session.on_end_of_input(now, &mut self.actions);
                }
                Input::EndOfInput => {}
            }
        }
    }

    pub(super) fn read_stdin(&mut self, now: Instant) {
        let Some(stdin) = self.stdin.as_mut() else {
            return;
        };
        let lines = stdin.read_lines_or_warn("reading commands");
        let eof = stdin.at_eof();
        for line in lines {
            self.lines += 1;
            self.session
                .on_line(self.lines, &line, now, &mut self.actions);
        }
        if eof {
            if let Some(stdin) = self.stdin.take() {
                stdin.leave_poll(self.poll.registry());
            }
            self.session.on_end_of_input(now, &mut self.actions);
        }
    }
}
