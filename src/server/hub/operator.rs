//! The console's account commands: `ban`, `bans`, `deluser`, `setpass`, `unban`, and
//! what every console command that asks the backend waits with.

use super::accounts::account_failure;
use super::pending::Then as Waiting;
use super::{Action, Hub};
use crate::output::CommandResult;
use crate::proto::status::Status;
use crate::server::persist::{Answer, Ask, PersistError};
use log::info;
use std::time::Instant;

/// Who owns the store entries of a deleted account: not a valid user name, so that a
/// new account of the same name does not inherit them.
pub const DELETED_OWNER: &str = "(deleted)";

/// A console command waiting for the backend: its input line and what it names.
#[derive(Debug)]
pub(super) enum Then {
    Ban {
        id: u64,
        user: String,
        minutes: u64,
    },
    Unban {
        id: u64,
        user: String,
    },
    /// `bans`, at this wall-clock time.
    Bans {
        id: u64,
        now: u64,
    },
    Setpass {
        id: u64,
        user: String,
    },
    Deluser {
        id: u64,
        user: String,
    },
    /// `ping` of a user offline: does the account exist?
    Ping {
        id: u64,
        user: String,
    },
    Discover {
        id: u64,
        user: String,
    },
    Stats {
        id: u64,
    },
}

impl Hub {
    /// The answer a console command waited for: its result.
    pub(super) fn console_answered(
        &mut self,
        then: Then,
        answer: Answer,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let result = match then {
            Then::Ban { id, user, minutes } => {
                self.banned(id, &user, minutes, answer.done(), now, out)
            }
            Then::Unban { id, user } => unbanned(id, &user, answer.lifted()),
            Then::Bans { id, now } => bans_result(id, now, answer.bans()),
            Then::Setpass { id, user } => password_set(id, &user, answer.done()),
            Then::Deluser { id, user } => self.deleted(id, &user, answer.deleted(), now, out),
            Then::Ping { id, user } => self.pinged_offline(id, &user, answer.exists()),
            Then::Discover { id, user } => self.discovered(id, &user, answer.exists()),
            Then::Stats { id } => self.stats(id, answer.count()),
        };
        out.push(Action::result(result));
    }

    /// Ask for a console command; its result comes with the answer.
    pub(super) fn console_ask(&mut self, ask: Ask, then: Then, out: &mut Vec<Action>) {
        self.ask(ask, Waiting::Console(then), out);
    }

    /// `ban <user> [minutes]`: record the ban, then end the user's session.
    pub(super) fn ban(&mut self, id: u64, user: &str, minutes: Option<u64>, out: &mut Vec<Action>) {
        // No duration: a ban for a hundred years, i.e. until `unban`.
        let minutes = minutes.unwrap_or(100 * 365 * 24 * 60);
        let until = self.wall.saturating_add(minutes.saturating_mul(60));
        let ask = Ask::SetBan {
            name: user.to_owned(),
            until: Some(until),
        };
        let user = user.to_owned();
        self.console_ask(ask, Then::Ban { id, user, minutes }, out);
    }

    fn banned(
        &mut self,
        id: u64,
        user: &str,
        minutes: u64,
        result: Result<(), PersistError>,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> CommandResult {
        if let Err(e) = result {
            let (status, text) = account_failure(&e);
            return CommandResult::new(id, "ban", false, status.0, text);
        }
        if self.online.contains_key(user) {
            self.kick(id, user, Status::BANNED, "banned by the operator", now, out);
        }
        info!("banned {user} for {minutes} minute(s)");
        CommandResult::new(id, "ban", true, 200, format!("banned {user}")).field("minutes", minutes)
    }

    /// `deluser <user>`: delete the account with its publications; its store entries
    /// stay (others may rely on them), owned by [`DELETED_OWNER`]. Its session ends
    /// when the backend says the account is gone.
    pub(super) fn console_deluser(&mut self, id: u64, user: &str, out: &mut Vec<Action>) {
        let ask = Ask::DeleteAccount {
            name: user.to_owned(),
            new_owner: DELETED_OWNER.to_owned(),
        };
        let user = user.to_owned();
        self.console_ask(ask, Then::Deluser { id, user }, out);
    }

    fn deleted(
        &mut self,
        id: u64,
        user: &str,
        result: Result<u64, PersistError>,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> CommandResult {
        let fail = |status: Status, text: String| {
            CommandResult::new(id, "deluser", false, status.0, text).field("user", user)
        };
        let moved = match result {
            Ok(moved) => moved,
            Err(PersistError::NoSuchAccount) => {
                return fail(Status::NO_ACCOUNT, format!("no such user {user:?}"))
            }
            Err(e) => return fail(account_failure(&e).0, e.to_string()),
        };
        if self.online.contains_key(user) {
            self.kick(
                id,
                user,
                Status::NO_ACCOUNT,
                "your account was deleted by the operator",
                now,
                out,
            );
        }
        // The backend withdrew the rows with the account; the memory follows.
        let files = self.index.withdraw_all(user);
        self.catalogue.reown(user, DELETED_OWNER);
        info!("operator deleted account {user}: {files} publication(s), {moved} store entries");
        let store = if moved == 0 {
            "no store entries".to_owned()
        } else {
            format!("{moved} store entr(ies) kept, now owned by {DELETED_OWNER} (rm removes them)")
        };
        CommandResult::new(
            id,
            "deluser",
            true,
            Status::OK.0,
            format!("deleted account {user}: {files} publication(s) withdrawn, {store}"),
        )
        .field("user", user)
        .field("unpublished", files)
        .field("store_entries", moved)
        .field("store_owner", DELETED_OWNER)
    }
}

/// `bans`: the accounts banned at `now`, with when each ban ends.
fn bans_result(id: u64, now: u64, bans: Result<Vec<(String, u64)>, PersistError>) -> CommandResult {
    let bans = match bans {
        Ok(bans) => bans,
        Err(e) => {
            let (status, text) = account_failure(&e);
            return CommandResult::new(id, "bans", false, status.0, text);
        }
    };
    let mut r = CommandResult::new(
        id,
        "bans",
        true,
        Status::OK.0,
        format!("{} account(s) banned", bans.len()),
    );
    let mut list = Vec::new();
    for (user, until) in &bans {
        let minutes = until.saturating_sub(now).div_ceil(60);
        // A ban without a duration lasts a hundred years: say so plainly.
        let left = if minutes > 50 * 365 * 24 * 60 {
            "until unban".to_owned()
        } else {
            format!("{minutes} more minute(s)")
        };
        r = r.line(format!("{user}  {left}"));
        list.push(serde_json::json!({"user": user, "until": until, "minutes": minutes}));
    }
    r.field("bans", list)
}

/// `unban <user>`: a ban lifted, or there was none.
fn unbanned(id: u64, user: &str, lifted: Result<bool, PersistError>) -> CommandResult {
    let (ok, status, text) = match lifted {
        Ok(true) => (true, Status::OK, format!("{user} may log in again")),
        Ok(false) => (false, Status::BAD_REQUEST, format!("{user} is not banned")),
        Err(e) => {
            let (status, text) = account_failure(&e);
            (false, status, text)
        }
    };
    CommandResult::new(id, "unban", ok, status.0, text).field("user", user)
}

/// `setpass <user> <password>`: a new password for an account whose owner forgot it.
fn password_set(id: u64, user: &str, result: Result<(), PersistError>) -> CommandResult {
    match result {
        Ok(()) => {
            info!("operator set a new password for {user}");
            CommandResult::new(
                id,
                "setpass",
                true,
                Status::OK.0,
                format!("{user} has a new password"),
            )
            .field("user", user)
        }
        Err(e) => {
            let (status, text) = account_failure(&e);
            CommandResult::new(id, "setpass", false, status.0, text).field("user", user)
        }
    }
}
