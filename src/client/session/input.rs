//! Typed lines: parsing, refusal while leaving, and the dispatch of each command to
//! the room that carries it out.

use super::fetch::FetchArgs;
use super::request::RequestKind;
use super::{Action, Leaving, Session, Then};
use crate::client::command::Command;
use crate::client::published::Publication;
use crate::client::{check, command};
use crate::output::human_size;
use crate::output::CommandResult;
use crate::proto::message::ClientMsg;
use crate::proto::status::Status;
use std::time::Instant;

impl Session {
    /// One typed line (`id` is its 1-based line number).
    pub fn on_line(&mut self, id: u64, line: &str, now: Instant, out: &mut Vec<Action>) {
        if let Some(prompt) = self.prompt.take() {
            if self.answer_prompt(prompt, line, out) {
                return;
            }
        }
        if self.hold_line(id, line) {
            return;
        }
        let command = match command::parse_line(line) {
            Ok(Some(command)) => command,
            Ok(None) => return,
            Err(e) => {
                let name = if e.command.is_empty() {
                    "?"
                } else {
                    e.command.as_str()
                };
                out.push(Action::Result(CommandResult::new(
                    id,
                    name,
                    false,
                    Status::BAD_REQUEST.0,
                    e.message,
                )));
                return;
            }
        };
        if self.leaving.is_some() {
            out.push(Action::Result(CommandResult::new(
                id,
                command.name(),
                false,
                Status::UNAVAILABLE.0,
                "the client is leaving",
            )));
            return;
        }
        self.on_command(id, command, now, out);
    }

    pub(super) fn on_command(
        &mut self,
        id: u64,
        command: Command,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let name = command.name();
        if let Err((status, text)) = check::check(&command) {
            return out.push(Action::Result(CommandResult::new(
                id, name, false, status.0, text,
            )));
        }
        match command {
            Command::Help => {
                let mut r = CommandResult::new(id, "help", true, 200, "commands:");
                for line in command::help_text().lines() {
                    r = r.line(line);
                }
                out.push(Action::Result(r));
            }
            Command::Register { user, password } => self.request(
                id,
                RequestKind::Plain(name),
                |tag| ClientMsg::Register {
                    tag,
                    user,
                    password,
                },
                out,
            ),
            Command::Login { user, password } => {
                self.send_login(id, RequestKind::Login, user, password, out)
            }
            Command::Logout => self.request(
                id,
                RequestKind::Logout,
                |tag| ClientMsg::Logout { tag },
                out,
            ),
            Command::Passwd { old, new } => {
                let remember = Then::Passwd(new.clone());
                self.request_with(
                    id,
                    RequestKind::Passwd,
                    remember,
                    |tag| ClientMsg::Passwd { tag, old, new },
                    out,
                )
            }
            Command::Users => self.request(
                id,
                RequestKind::Plain(name),
                |tag| ClientMsg::Users { tag },
                out,
            ),
            Command::Say { text } => self.request(
                id,
                RequestKind::Plain(name),
                |tag| ClientMsg::Say { tag, text },
                out,
            ),
            Command::Msg { user, text } => self.request(
                id,
                RequestKind::Plain(name),
                |tag| ClientMsg::Msg {
                    tag,
                    to: user,
                    text,
                },
                out,
            ),
            Command::Quit => {
                self.leaving = Some(Leaving::Quit { id });
                self.try_leave(now, out);
                self.say_why_not_yet(out);
            }
            Command::Publish { local, name: fname } => self.publish(id, &local, fname, out),
            Command::Unpublish { name: fname } => {
                let then = Then::Unpublish(fname.clone());
                self.request_with(
                    id,
                    RequestKind::Unpublish,
                    then,
                    |tag| ClientMsg::Unpublish { tag, name: fname },
                    out,
                )
            }
            Command::Shared => {
                let files: Vec<serde_json::Value> =
                    self.published.iter().map(Publication::json).collect();
                let mut r = CommandResult::new(
                    id,
                    name,
                    true,
                    200,
                    format!("{} file(s) published", files.len()),
                );
                for p in self.published.iter() {
                    r = r.line(format!(
                        "{}  {}  {}  ({})",
                        p.name,
                        human_size(p.size),
                        &p.hash[..16.min(p.hash.len())],
                        p.path
                    ));
                }
                out.push(Action::Result(r.field("files", files)));
            }
            Command::Search { text } => self.request(
                id,
                RequestKind::Plain(name),
                |tag| ClientMsg::Search { tag, text },
                out,
            ),
            Command::Fetch {
                name: fname,
                from,
                as_name,
                sources,
                sequential,
            } => self.fetch(
                id,
                FetchArgs {
                    name: fname,
                    from,
                    as_name,
                    sources,
                    sequential,
                },
                out,
            ),
            Command::Transfers => out.push(Action::ListTransfers(id)),
            Command::Cancel { name: fname } => self.cancel(id, &fname, out),
            Command::Upload {
                path,
                name: sname,
                replace,
            } => self.upload(id, path, sname, replace, out),
            Command::Download { name: sname, dest } => self.download(id, sname, dest, out),
            Command::Store => self.request(
                id,
                RequestKind::Plain(name),
                |tag| ClientMsg::StoreList { tag },
                out,
            ),
            Command::Rm { name: sname } => self.store_rm(id, sname, out),
            Command::Wait => self.start_wait(id, now, out),
            Command::Status => out.push(Action::Status(self.status(id))),
        }
    }
}
