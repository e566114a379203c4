//! The console's account commands: `bans`, `deluser`, `setpass`, `unban`.

use super::accounts::account_failure;
use super::{unix_now, Action, Hub};
use crate::output::CommandResult;
use crate::proto::status::Status;
use log::info;
use std::time::Instant;

/// Who owns the store entries of a deleted account: not a valid user name, so that a
/// new account of the same name does not inherit them.
pub const DELETED_OWNER: &str = "(deleted)";

impl Hub {
    /// `bans`: the accounts banned now, with when each ban ends.
    pub(super) fn console_bans(&self, id: u64) -> CommandResult {
        let now = unix_now();
        let bans = match self.db.bans(now) {
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

    /// `unban <user>`: lift a ban, or say there was none.
    pub(super) fn console_unban(&self, id: u64, user: &str) -> CommandResult {
        let fail = |e| {
            let (status, text) = account_failure(&e);
            CommandResult::new(id, "unban", false, status.0, text).field("user", user)
        };
        match self.db.ban_until(user) {
            Err(e) => fail(e),
            Ok(until) if until.is_none_or(|t| t <= unix_now()) => CommandResult::new(
                id,
                "unban",
                false,
                Status::BAD_REQUEST.0,
                format!("{user} is not banned"),
            )
            .field("user", user),
            Ok(_) => match self.db.set_ban(user, None) {
                Ok(()) => CommandResult::new(
                    id,
                    "unban",
                    true,
                    Status::OK.0,
                    format!("{user} may log in again"),
                )
                .field("user", user),
                Err(e) => fail(e),
            },
        }
    }

    /// `setpass <user> <password>`: a new password for an account whose owner forgot it.
    pub(super) fn console_setpass(&self, id: u64, user: &str, password: &str) -> CommandResult {
        match self.db.set_password(user, password) {
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

    /// `deluser <user>`: end its session, withdraw its publications, delete the account;
    /// its store entries stay (others may rely on them), owned by [`DELETED_OWNER`].
    pub(super) fn console_deluser(
        &mut self,
        id: u64,
        user: &str,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> CommandResult {
        let fail = |status: Status, text: String| {
            CommandResult::new(id, "deluser", false, status.0, text).field("user", user)
        };
        match self.db.exists(user) {
            Ok(true) => {}
            Ok(false) => return fail(Status::NO_ACCOUNT, format!("no such user {user:?}")),
            Err(e) => return fail(account_failure(&e).0, e.to_string()),
        }
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
        let files = self.index.files_of(user).len();
        if let Err(e) = self.index.sync(&self.db, user, &[], true) {
            return fail(Status::INTERNAL, e.to_string());
        }
        let moved = match self.db.delete_account(user, DELETED_OWNER) {
            Ok(moved) => moved,
            Err(e) => return fail(account_failure(&e).0, e.to_string()),
        };
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

#[cfg(test)]
mod tests {
    use super::super::tests::{hub, join, sent_to, status_of};
    use super::super::{Action, HubConfig};
    use super::DELETED_OWNER;
    use crate::output::CommandResult;
    use crate::proto::message::{ClientMsg, FileInfo, HubMsg};
    use std::time::Instant;

    /// Type `line` on the console; its result.
    fn console(hub: &mut super::Hub, line: &str, out: &mut Vec<Action>) -> CommandResult {
        hub.on_console(7, line, Instant::now(), out);
        out.iter()
            .rev()
            .find_map(|a| match a {
                Action::Result(r) => Some(r.clone()),
                _ => None,
            })
            .expect("a console result")
    }

    #[test]
    fn a_ban_says_banned_and_unban_says_when_there_was_none() {
        let (mut hub, dir) = hub(HubConfig::default());
        let now = Instant::now();
        join(&mut hub, 1, "alice", now);
        join(&mut hub, 2, "bob", now);
        let mut out = Vec::new();
        let r = console(&mut hub, "ban bob 5", &mut out);
        assert_eq!((r.ok, r.message.as_str()), (true, "banned bob"));
        assert!(sent_to(2, &out).iter().any(|m| matches!(m,
            HubMsg::Kicked { status, reason } if status.0 == 423 && reason.contains("banned"))));
        assert!(sent_to(1, &out).iter().any(|m| matches!(m,
            HubMsg::Leave { user, reason, .. } if user == "bob" && reason == "banned")));
        let r = console(&mut hub, "bans", &mut Vec::new());
        assert_eq!(r.fields["bans"][0]["user"], "bob");
        assert_eq!(r.fields["bans"][0]["minutes"], 5);
        assert_eq!(r.detail, ["bob  5 more minute(s)"]);
        let r = console(&mut hub, "unban alice", &mut Vec::new());
        assert_eq!((r.ok, r.status), (false, 400));
        assert_eq!(r.message, "alice is not banned");
        let r = console(&mut hub, "unban bob", &mut Vec::new());
        assert_eq!((r.ok, r.message.as_str()), (true, "bob may log in again"));
        assert!(console(&mut hub, "bans", &mut Vec::new()).fields["bans"]
            .as_array()
            .unwrap()
            .is_empty());
        let r = console(&mut hub, "unban nobody", &mut Vec::new());
        assert_eq!(r.status, 401);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn ping_and_msg_name_a_user_who_does_not_exist() {
        let (mut hub, dir) = hub(HubConfig::default());
        let now = Instant::now();
        join(&mut hub, 1, "alice", now);
        join(&mut hub, 2, "bob", now);
        hub.on_console(3, "kick bob", now, &mut Vec::new());
        let r = console(&mut hub, "ping nobody", &mut Vec::new());
        assert_eq!(
            (r.status, r.message.as_str()),
            (401, "no such user \"nobody\"")
        );
        assert_eq!(r.fields["state"], "offline");
        let r = console(&mut hub, "ping bob", &mut Vec::new());
        assert_eq!((r.status, r.message.as_str()), (410, "bob is offline"));
        let r = console(&mut hub, "discover nobody", &mut Vec::new());
        assert_eq!(
            (r.status, r.message.as_str()),
            (401, "no such user \"nobody\"")
        );
        let mut out = Vec::new();
        for (tag, to) in [(5, "nobody"), (6, "bob")] {
            let msg = ClientMsg::Msg {
                tag,
                to: to.into(),
                text: "hi".into(),
            };
            hub.on_message(1, msg, now, &mut out);
        }
        assert_eq!(status_of(1, &out), [401, 410]);
        assert!(sent_to(1, &out).iter().any(|m| matches!(m,
            HubMsg::Reply { message, .. } if message == "no such user \"nobody\"")));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn deluser_withdraws_publications_and_keeps_store_entries_ownerless() {
        let (mut hub, dir) = hub(HubConfig::default());
        let now = Instant::now();
        join(&mut hub, 1, "alice", now);
        join(&mut hub, 2, "bob", now);
        let file = FileInfo {
            name: "song".into(),
            size: 3,
            hash: [1; 32],
        };
        let mut out = Vec::new();
        let publish = ClientMsg::Publish {
            tag: 3,
            file,
            replace: false,
        };
        hub.on_message(2, publish, now, &mut out);
        hub.db
            .conn()
            .execute(
                "INSERT INTO store (name, owner, kind, files, bytes, created, version)
                 VALUES ('kept', 'bob', 'file', 1, 1, 0, 'v1')",
                [],
            )
            .unwrap();
        let mut out = Vec::new();
        let r = console(&mut hub, "deluser bob", &mut out);
        assert!(r.ok, "{r:?}");
        assert_eq!(r.fields["unpublished"], 1);
        assert_eq!(r.fields["store_entries"], 1);
        assert!(
            r.message.contains("1 publication(s) withdrawn"),
            "{}",
            r.message
        );
        assert!(sent_to(2, &out)
            .iter()
            .any(|m| matches!(m, HubMsg::Kicked { status, .. } if status.0 == 401)));
        assert!(hub.index.files_of("bob").is_empty());
        assert!(!hub.db.exists("bob").unwrap());
        let owner: String = hub
            .db
            .conn()
            .query_row("SELECT owner FROM store WHERE name = 'kept'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(owner, DELETED_OWNER);
        let r = console(&mut hub, "deluser bob", &mut Vec::new());
        assert_eq!(r.status, 401);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn setpass_replaces_a_forgotten_password() {
        let (mut hub, dir) = hub(HubConfig::default());
        let now = Instant::now();
        join(&mut hub, 1, "alice", now);
        let r = console(&mut hub, "setpass alice new secret", &mut Vec::new());
        assert!(r.ok, "{r:?}");
        hub.db.verify("alice", "new secret").unwrap();
        assert!(hub.db.verify("alice", "pw").is_err());
        let r = console(&mut hub, "setpass nobody x", &mut Vec::new());
        assert_eq!(r.status, 401);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
