//! The operator console's commands on `Hub`: a parsed line dispatched, and `kick`, `ban`,
//! `discover`, `store` and `stats` (the account commands are in `operator.rs`).

use super::accounts::account_failure;
use super::liveness::ping_result;
use super::operator::Then;
use super::{Action, Hub, PingPurpose};
use crate::output::{with_store_rows, CommandResult, StoreRow};
use crate::proto::message::{hash_hex, HubMsg, StoreInfo};
use crate::proto::status::Status;
use crate::server::console;
use crate::server::console::ConsoleCommand;
use crate::server::persist::{Ask, PersistError, Secret};
use crate::server::store::StoreEntry;
use log::{info, warn};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

impl Hub {
    /// One line typed on the hub's console (input line `id`).
    pub fn on_console(&mut self, id: u64, line: &str, now: Instant, out: &mut Vec<Action>) {
        let command = match console::parse(line) {
            Ok(Some(command)) => command,
            Ok(None) => return,
            Err(e) => {
                return out.push(Action::result(CommandResult::new(
                    id,
                    &e.command,
                    false,
                    Status::BAD_REQUEST.0,
                    e.message,
                )))
            }
        };
        let result = match command {
            ConsoleCommand::Help => {
                let mut r = CommandResult::new(id, "help", true, 200, "console commands:");
                for line in console::HELP {
                    r = r.line(*line);
                }
                r
            }
            ConsoleCommand::Users => self.console_users(id),
            ConsoleCommand::Kick { user } => {
                self.kick(id, &user, Status::OK, "kicked by the operator", now, out)
            }
            ConsoleCommand::Ban { user, minutes } => return self.ban(id, &user, minutes, out),
            ConsoleCommand::Unban { user } => {
                let ask = Ask::LiftBan {
                    name: user.clone(),
                    now: self.wall,
                };
                return self.console_ask(ask, Then::Unban { id, user }, out);
            }
            ConsoleCommand::Bans => {
                let now = self.wall;
                return self.console_ask(Ask::Bans { now }, Then::Bans { id, now }, out);
            }
            ConsoleCommand::Deluser { user } => return self.console_deluser(id, &user, out),
            ConsoleCommand::Setpass { user, password } => {
                let ask = Ask::SetPassword {
                    name: user.clone(),
                    password: Secret(password),
                };
                return self.console_ask(ask, Then::Setpass { id, user }, out);
            }
            ConsoleCommand::Say { text } => self.announce(id, &text, out),
            ConsoleCommand::Ping { user } => match self.online.get(user.as_str()).copied() {
                Some(conn) => {
                    self.send_ping(conn, PingPurpose::Console { id }, now, out);
                    return self.schedule(conn, now, out);
                }
                None => {
                    let ask = Ask::AccountExists { name: user.clone() };
                    return self.console_ask(ask, Then::Ping { id, user }, out);
                }
            },
            ConsoleCommand::Stats => {
                return self.console_ask(Ask::CountAccounts, Then::Stats { id }, out)
            }
            ConsoleCommand::Store => self.console_store(id),
            ConsoleCommand::Rm { name } => return self.console_rm(id, &name, out),
            ConsoleCommand::Discover { user } => {
                let ask = Ask::AccountExists { name: user.clone() };
                return self.console_ask(ask, Then::Discover { id, user }, out);
            }
            ConsoleCommand::Shutdown => {
                self.shutdown(out);
                CommandResult::new(id, "shutdown", true, 200, "shutting down")
            }
        };
        out.push(Action::result(result));
    }

    /// `users`: who is online, with the peer address each announced.
    fn console_users(&self, id: u64) -> CommandResult {
        let mut r = CommandResult::new(
            id,
            "users",
            true,
            200,
            format!("{} online", self.online.len()),
        );
        let (mut entries, mut peers) = (Vec::new(), Vec::new());
        for name in self.user_names() {
            if let Some(s) = self
                .online
                .get(name.as_str())
                .and_then(|c| self.sessions.get(c))
            {
                let peer = SocketAddr::new(s.addr.ip(), s.peer_port);
                r = r.line(format!("{name}  {peer}"));
                peers.push(serde_json::json!({ "user": name, "addr": peer.to_string() }));
                entries.push(name);
            }
        }
        r.field("users", entries).field("peers", peers)
    }

    /// `say <text>`: an announcement to everyone online.
    fn announce(&mut self, id: u64, text: &str, out: &mut Vec<Action>) -> CommandResult {
        if let Err((status, why)) = Self::check_text(text) {
            return CommandResult::new(id, "say", false, status.0, why);
        }
        self.flush_joins(out);
        let frame: Rc<[u8]> = HubMsg::Announce {
            text: text.to_owned(),
        }
        .to_frame()
        .into();
        for &c in self.online.values() {
            out.push(Action::Share(c, Rc::clone(&frame)));
        }
        info!("announcement: {text}");
        CommandResult::new(
            id,
            "say",
            true,
            200,
            format!("announced to {} user(s)", self.online.len()),
        )
    }

    /// `ping` of a user who is offline, once the backend said whether the account exists.
    pub(super) fn pinged_offline(
        &self,
        id: u64,
        user: &str,
        exists: Result<bool, PersistError>,
    ) -> CommandResult {
        match exists {
            Ok(true) => ping_result(id, user, "offline", None),
            Ok(false) => {
                let mut r = ping_result(id, user, "offline", None);
                r.status = Status::NO_ACCOUNT.0;
                r.message = format!("no such user {user:?}");
                r
            }
            Err(e) => {
                let (status, text) = account_failure(&e);
                CommandResult::new(id, "ping", false, status.0, text).field("user", user)
            }
        }
    }

    pub(super) fn kick(
        &mut self,
        id: u64,
        user: &str,
        status: Status,
        reason: &str,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> CommandResult {
        let Some(&conn) = self.online.get(user) else {
            return CommandResult::new(
                id,
                "kick",
                false,
                Status::USER_OFFLINE.0,
                format!("{user} is not online"),
            );
        };
        out.push(Action::Send(
            conn,
            HubMsg::Kicked {
                status,
                reason: reason.into(),
            }
            .to_frame(),
        ));
        let leave = match status {
            Status::BANNED => "banned",
            Status::NO_ACCOUNT => "account deleted",
            _ => "kicked",
        };
        self.end_session(conn, leave, now, out);
        CommandResult::new(id, "kick", true, 200, format!("kicked {user}"))
    }

    /// `discover <user>`: what the user publishes, once the backend said the account
    /// exists.
    pub(super) fn discovered(
        &self,
        id: u64,
        user: &str,
        exists: Result<bool, PersistError>,
    ) -> CommandResult {
        let fail = |status: Status, text: String| {
            CommandResult::new(id, "discover", false, status.0, text)
        };
        match exists {
            Ok(true) => {}
            Ok(false) => return fail(Status::NO_ACCOUNT, format!("no such user {user:?}")),
            Err(e) => {
                let (status, text) = account_failure(&e);
                return fail(status, text);
            }
        }
        let files = self.index.files_of(user);
        let online = self.online.contains_key(user);
        let state = if online { "online" } else { "offline" };
        let mut r = CommandResult::new(
            id,
            "discover",
            true,
            200,
            format!("{user} ({state}) publishes {} file(s)", files.len()),
        )
        .field("user", user)
        .field("online", online);
        let mut list = Vec::new();
        for f in &files {
            let hex = hash_hex(&f.hash);
            r = r.line(format!(
                "{}  {}  {}",
                f.name,
                crate::output::human_size(f.size),
                &hex[..16]
            ));
            list.push(serde_json::json!({"name": f.name, "size": f.size, "hash": hex}));
        }
        r.field("files", list)
    }

    pub(super) fn console_store(&self, id: u64) -> CommandResult {
        let entries: Vec<StoreInfo> = self.catalogue.list().map(StoreEntry::info).collect();
        let r = CommandResult::new(
            id,
            "store",
            true,
            200,
            format!(
                "{} store entr{}",
                entries.len(),
                if entries.len() == 1 { "y" } else { "ies" }
            ),
        );
        with_store_rows(r, entries.iter().map(StoreRow::from))
    }

    /// `stats`, with the count of accounts the backend gave.
    pub(super) fn stats(&self, id: u64, accounts: Result<u64, PersistError>) -> CommandResult {
        let fail = |text: String| {
            warn!("stats: {text}");
            CommandResult::new(id, "stats", false, Status::INTERNAL.0, text)
        };
        let accounts = match accounts {
            Ok(n) => n,
            Err(e) => return fail(format!("account database: {e}")),
        };
        let (store_entries, store_bytes) = self.catalogue.totals();
        let c = &self.counters;
        let mut r = CommandResult::new(id, "stats", true, 200, "hub statistics");
        if let Some(fingerprint) = self.config.fingerprint {
            r = r
                .field("fingerprint", fingerprint.to_string())
                .line(format!("hub key: {fingerprint}"));
        }
        r.field("connections", self.sessions.len())
            .field("users_online", self.online.len())
            .field("accounts", accounts)
            .field("published_files", self.index.len())
            .field("lookups", c.lookups)
            .field("chat_messages", c.chat_relayed)
            .field("connections_total", c.connections_total)
            .field("resumed_logins", c.resumed_logins)
            .field("store_entries", store_entries)
            .field("store_bytes", store_bytes)
            .field("queued_output_bytes", self.queued_output)
            .field("store_connections", self.store_jobs.len())
            .line(format!(
                "connections: {} open, {} since start",
                self.sessions.len(),
                c.connections_total
            ))
            .line(format!("users online: {}", self.online.len()))
            .line(format!("logins with a resume token: {}", c.resumed_logins))
            .line(format!("output queued: {} bytes", self.queued_output))
            .line(format!("accounts: {accounts}"))
            .line(format!("published files: {}", self.index.len()))
            .line(format!("lookups served: {}", c.lookups))
            .line(format!("chat messages relayed: {}", c.chat_relayed))
            .line(format!(
                "store: {store_entries} entr{}, {}",
                if store_entries == 1 { "y" } else { "ies" },
                crate::output::human_size(store_bytes)
            ))
            .line(format!("store connections: {} open", self.store_jobs.len()))
    }
}
