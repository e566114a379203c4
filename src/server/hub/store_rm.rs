//! Removing a store entry: one path for a user's `rm` (their own entries only) and the
//! operator's console `rm` (any entry). The checks are made at once on the catalogue in
//! memory; the removal is asked of the backend, and the reply waits for its answer. A
//! download reading the entry keeps its version until it finishes (see
//! `Catalogue::remove`).

use super::pending::{self, ReplyTo};
use super::{Action, ConnId, Hub};
use crate::output::CommandResult;
use crate::output::{files_and_size, human_size};
use crate::proto::message::{Body, StoreKind};
use crate::proto::names;
use crate::proto::status::Status;
use crate::server::persist::{Answer, Ask};
use crate::server::store::StoreEntry;
use log::info;

/// Who asked for a removal, to be answered when it is done.
#[derive(Debug)]
pub(super) enum Remover {
    /// A user's `StoreRm`.
    User { user: String, to: ReplyTo },
    /// The console's `rm`, by its line number.
    Console { id: u64 },
}

/// A removal asked of the backend.
#[derive(Debug)]
pub(super) struct Then {
    name: String,
    by: Remover,
}

impl Hub {
    /// May `by` (`None`: the operator) remove the entry `name`? Any entry for the
    /// operator, only their own for a user: 408 for an invalid name, 406 for no such
    /// entry, 409 for another user's entry. The entry's version if so.
    fn check_removal(&self, by: Option<&str>, name: &str) -> Result<String, (Status, String)> {
        names::check_file_name(name).map_err(|e| (Status::INVALID_NAME, e.0))?;
        let entry = self
            .catalogue
            .get(name)
            .ok_or_else(|| (Status::NO_FILE, format!("no store entry named {name:?}")))?;
        if let Some(user) = by.filter(|user| *user != entry.owner) {
            return Err((
                Status::NAME_TAKEN,
                format!(
                    "{name} belongs to {}; only its owner may remove it (you are {user})",
                    entry.owner
                ),
            ));
        }
        Ok(entry.version.clone())
    }

    /// Ask for the removal of `name`, `version` for `by`.
    fn ask_removal(&mut self, name: &str, version: String, by: Remover, out: &mut Vec<Action>) {
        let ask = Ask::StoreRemove {
            name: name.to_owned(),
            version,
        };
        let name = name.to_owned();
        self.ask(ask, pending::Then::StoreRm(Then { name, by }), out);
    }

    /// A user's `StoreRm`: refused at once, or answered ([`Body::Removed`] on success)
    /// once the backend removed it.
    pub(super) fn store_rm(
        &mut self,
        conn: ConnId,
        tag: u32,
        user: &str,
        name: &str,
        out: &mut Vec<Action>,
    ) {
        let Some(to) = self.reply_to(conn, tag) else {
            return;
        };
        match self.check_removal(Some(user), name) {
            Ok(version) => {
                let user = user.to_owned();
                self.ask_removal(name, version, Remover::User { user, to }, out);
            }
            Err(refusal) => self.send_reply(&to, refusal, Body::None, out),
        }
    }

    /// The console's `rm <name>`: its result now if refused, else with the answer.
    pub(super) fn console_rm(&mut self, id: u64, name: &str, out: &mut Vec<Action>) {
        match self.check_removal(None, name) {
            Ok(version) => self.ask_removal(name, version, Remover::Console { id }, out),
            Err((status, text)) => {
                let result = CommandResult::new(id, "rm", false, status.0, text);
                out.push(Action::result(result));
            }
        }
    }

    /// The backend answered a removal: the entry leaves the catalogue (its version the
    /// disk, now or after its last reader), and whoever asked is told.
    pub(super) fn store_rm_answered(&mut self, then: Then, answer: Answer, out: &mut Vec<Action>) {
        let Then { name, by } = then;
        let removed = match answer.done() {
            Err(e) => Err((Status::INTERNAL, format!("store: {e}"))),
            Ok(()) => self
                .catalogue
                .remove(&name)
                .ok_or_else(|| (Status::NO_FILE, format!("no store entry named {name:?}"))),
        };
        let removed = removed.map(|(entry, gone)| {
            if let Some(version) = gone {
                out.push(Action::RemoveVersion(version));
            }
            let who = match &by {
                Remover::User { user, .. } => user.as_str(),
                Remover::Console { .. } => "the operator",
            };
            let what = files_and_size(entry.files, entry.bytes);
            info!("{who} removed {name} ({what}) from the store");
            entry
        });
        match by {
            Remover::User { to, .. } => {
                let (answer, body) = match removed {
                    Ok(e) => {
                        let text = removed_text(&e);
                        let body = Body::Removed {
                            name: e.name,
                            kind: e.kind,
                            files: e.files,
                            bytes: e.bytes,
                        };
                        ((Status::OK, text), body)
                    }
                    Err(refusal) => (refusal, Body::None),
                };
                self.send_reply(&to, answer, body, out);
            }
            Remover::Console { id } => out.push(Action::result(console_removed(id, removed))),
        }
    }
}

/// The console's result of a removal.
fn console_removed(id: u64, removed: Result<StoreEntry, (Status, String)>) -> CommandResult {
    match removed {
        Ok(e) => CommandResult::new(id, "rm", true, 200, removed_text(&e))
            .field("name", e.name.as_str())
            .field("owner", e.owner.as_str())
            .field("kind", e.kind.as_str())
            .field("files", e.files)
            .field("bytes", e.bytes),
        Err((status, text)) => CommandResult::new(id, "rm", false, status.0, text),
    }
}

/// `removed a.txt (3 B) from the store`, or for a tree `removed photos (a directory of
/// 3 files, 1.2 MiB) from the store`.
fn removed_text(e: &StoreEntry) -> String {
    let what = match e.kind {
        StoreKind::File => human_size(e.bytes),
        StoreKind::Dir => format!("a directory of {}", files_and_size(e.files, e.bytes)),
    };
    format!("removed {} ({what}) from the store", e.name)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{base, join, replies, stored, test_hub};
    use super::super::{Action, HubConfig};
    use crate::proto::message::{Body, ClientMsg, StoreKind};

    #[test]
    fn a_user_removes_only_their_own_entry_and_is_told_what_went() {
        let mut hub = test_hub(HubConfig::default());
        let now = base();
        join(&mut hub, 1, "alice", now);
        join(&mut hub, 2, "bob", now);
        stored(&mut hub, "mine", "alice", 3, 30);
        stored(&mut hub, "theirs", "bob", 3, 30);
        let long = "n".repeat(256);
        let mut out = Vec::new();
        let asked = [
            (5, "theirs"),
            (6, "missing"),
            (7, ".."),
            (8, "mine"),
            (9, "mine"),
            (10, long.as_str()),
            (11, ""),
        ];
        for (tag, name) in asked {
            let rm = ClientMsg::StoreRm {
                tag,
                name: name.into(),
            };
            hub.on_message(1, rm, now, &mut out);
        }
        let got = replies(1, &out);
        let statuses: Vec<u16> = got.iter().map(|r| r.0).collect();
        assert_eq!(statuses, [409, 406, 408, 200, 406, 408, 408]);
        assert!(got[0].1.contains("belongs to bob"), "{}", got[0].1);
        assert_eq!(
            got[3].1,
            "removed mine (a directory of 3 files, 30 B) from the store"
        );
        assert_eq!(
            got[3].2,
            Body::Removed {
                name: "mine".into(),
                kind: StoreKind::Dir,
                files: 3,
                bytes: 30,
            }
        );
        assert!(hub.catalogue.get("theirs").is_some());
        assert!(hub.catalogue.get("mine").is_none());
        // Its version goes from the disk, once.
        let removed: Vec<&String> = out
            .iter()
            .filter_map(|a| match a {
                Action::RemoveVersion(v) => Some(v),
                _ => None,
            })
            .collect();
        assert_eq!(removed, ["v-mine"]);
    }

    #[test]
    fn the_console_rm_takes_anyones_entry_through_the_same_path() {
        let mut hub = test_hub(HubConfig::default());
        let now = base();
        stored(&mut hub, "kept", "bob", 3, 30);
        let mut out = Vec::new();
        hub.on_console(3, "rm kept", now, &mut out);
        hub.on_console(4, "rm kept", now, &mut out);
        let results: Vec<_> = out
            .iter()
            .filter_map(|a| match a {
                Action::Result(r) => Some((**r).clone()),
                _ => None,
            })
            .collect();
        assert_eq!(results[0].status, 200);
        assert_eq!(results[0].fields["owner"], "bob");
        assert_eq!(results[0].fields["files"], 3);
        assert_eq!(results[0].fields["bytes"], 30);
        assert_eq!(results[1].status, 406);
        // A removal the backend fails is a 500, and the entry stays.
        stored(&mut hub, "stays", "bob", 3, 30);
        hub.memory().broken = Some("disk I/O error".into());
        let mut out = Vec::new();
        hub.on_console(5, "rm stays", now, &mut out);
        let Some(Action::Result(r)) = out.last() else {
            panic!("{out:?}");
        };
        assert_eq!(
            (r.status, r.message.as_str()),
            (500, "store: disk I/O error")
        );
        assert!(hub.catalogue.get("stays").is_some());
    }
}
