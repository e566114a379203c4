//! Removing a store entry: one path for a user's `rm` (their own entries only) and the
//! operator's console `rm` (any entry). A download reading the entry keeps its version
//! until it finishes (see `Catalogue::remove`).

use super::{Action, Hub};
use crate::output::CommandResult;
use crate::proto::message::{Body, StoreKind};
use crate::proto::names;
use crate::proto::status::Status;
use crate::server::store::{sql, StoreEntry};
use crate::transfer::{files_and_size, human_size};
use log::info;

impl Hub {
    /// Remove the entry `name`: any entry for the operator (`by` is `None`), only their
    /// own for a user. 408 for an invalid name, 406 for no such entry, 409 for another
    /// user's entry, 500 for a database failure. The removed entry on success; its
    /// version is removed from the disk now or, if a download reads it, after.
    fn remove_entry(
        &mut self,
        by: Option<&str>,
        name: &str,
        out: &mut Vec<Action>,
    ) -> Result<StoreEntry, (Status, String)> {
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
        sql::remove(&mut self.db, name, &entry.version)
            .map_err(|e| (Status::INTERNAL, format!("store: {e}")))?;
        let Some((entry, gone)) = self.catalogue.remove(name) else {
            return Err((Status::NO_FILE, format!("no store entry named {name:?}")));
        };
        if let Some(version) = gone {
            out.push(Action::RemoveVersion(version));
        }
        let what = files_and_size(entry.files, entry.bytes);
        info!(
            "{} removed {name} ({what}) from the store",
            by.unwrap_or("the operator")
        );
        Ok(entry)
    }

    /// A user's `StoreRm`: status, text and body ([`Body::Removed`] on success).
    pub(super) fn store_rm(
        &mut self,
        user: &str,
        name: &str,
        out: &mut Vec<Action>,
    ) -> (Status, String, Body) {
        match self.remove_entry(Some(user), name, out) {
            Ok(e) => (
                Status::OK,
                removed_text(&e),
                Body::Removed {
                    name: e.name,
                    kind: e.kind,
                    files: e.files,
                    bytes: e.bytes,
                },
            ),
            Err((status, text)) => (status, text, Body::None),
        }
    }

    /// The console's `rm <name>`.
    pub(super) fn console_rm(
        &mut self,
        id: u64,
        name: &str,
        out: &mut Vec<Action>,
    ) -> CommandResult {
        match self.remove_entry(None, name, out) {
            Ok(e) => CommandResult::new(id, "rm", true, 200, removed_text(&e))
                .field("name", e.name.as_str())
                .field("owner", e.owner.as_str())
                .field("kind", e.kind.as_str())
                .field("files", e.files)
                .field("bytes", e.bytes),
            Err((status, text)) => CommandResult::new(id, "rm", false, status.0, text),
        }
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
    use super::super::tests::{hub, join, sent_to, stored};
    use super::super::{Action, HubConfig};
    use crate::proto::message::{Body, ClientMsg, HubMsg, StoreKind};
    use std::time::Instant;

    /// The replies (status, text, body) to `conn` in `out`.
    fn replies(conn: usize, out: &[Action]) -> Vec<(u16, String, Body)> {
        sent_to(conn, out)
            .into_iter()
            .filter_map(|m| match m {
                HubMsg::Reply {
                    status,
                    message,
                    body,
                    ..
                } => Some((status.0, message, body)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_user_removes_only_their_own_entry_and_is_told_what_went() {
        let (mut hub, dir) = hub(HubConfig::default());
        let now = Instant::now();
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
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_console_rm_takes_anyones_entry_through_the_same_path() {
        let (mut hub, dir) = hub(HubConfig::default());
        let now = Instant::now();
        stored(&mut hub, "kept", "bob", 3, 30);
        let mut out = Vec::new();
        hub.on_console(3, "rm kept", now, &mut out);
        hub.on_console(4, "rm kept", now, &mut out);
        let results: Vec<_> = out
            .iter()
            .filter_map(|a| match a {
                Action::Result(r) => Some(r.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(results[0].status, 200);
        assert_eq!(results[0].fields["owner"], "bob");
        assert_eq!(results[0].fields["files"], 3);
        assert_eq!(results[0].fields["bytes"], 30);
        assert_eq!(results[1].status, 406);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
