//! `publish`: hashing, announcing, re-announcing files changed on disk, withdrawing
//! vanished ones, and the login's sync of the whole publication list.

use super::request::RequestKind;
use super::{Action, HashFor, Hashed, Link, Session, Then};
use crate::client::published::Publication;
use crate::output::{CommandResult, Event};
use crate::proto::message::{hash_hex, ClientMsg, FileInfo};
use crate::proto::names;
use crate::proto::status::Status;
use log::info;
use std::time::Instant;

/// Publications per sync frame (each at most ~300 bytes: well inside a frame).
const SYNC_CHUNK: usize = 150;

impl Session {
    /// Whether `name` is being hashed again or re-announced now.
    pub(super) fn refreshing(&self, name: &str) -> bool {
        self.hashing
            .values()
            .any(|h| matches!(h, HashFor::Refresh { name: n } if n == name))
            || self.pending.values().any(|p| {
                p.kind == RequestKind::Refresh
                    && matches!(&p.then, Then::Publish(pb) if pb.name == name)
            })
    }

    /// Hash the publication `name` again and re-announce it (its file changed on disk).
    pub fn refresh(&mut self, name: &str, out: &mut Vec<Action>) {
        if self.refreshing(name) {
            return;
        }
        if let Some(p) = self.published.get(name) {
            let path = p.path.clone();
            info!("{name} changed on disk: hashing it again before serving it");
            self.start_hash(
                HashFor::Refresh {
                    name: name.to_owned(),
                },
                &path,
                out,
            );
        }
    }

    pub(super) fn publish(
        &mut self,
        id: u64,
        local: &str,
        fname: Option<String>,
        out: &mut Vec<Action>,
    ) {
        let fail = |status: Status, text: String| {
            Action::Result(CommandResult::new(id, "publish", false, status.0, text))
        };
        let name = match fname {
            Some(name) => name,
            None => std::path::Path::new(local)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        if let Err(e) = names::check_published_name(&name) {
            return out.push(fail(Status::INVALID_NAME, e.to_string()));
        }
        if let Some(own) = reserved_component(local) {
            return out.push(fail(Status::INVALID_NAME, own));
        }
        if self
            .hashing
            .values()
            .any(|h| matches!(h, HashFor::Publish { name: n, .. } if *n == name))
        {
            return out.push(fail(
                Status::NAME_TAKEN,
                format!("{name} is already being published"),
            ));
        }
        self.start_hash(HashFor::Publish { id, name }, local, out);
    }

    pub(super) fn start_hash(&mut self, purpose: HashFor, local: &str, out: &mut Vec<Action>) {
        let job = self.next_job;
        self.next_job += 1;
        self.hashing.insert(job, purpose);
        out.push(Action::Hash {
            job,
            local: local.to_owned(),
        });
    }

    /// The loop finished hashing for `job` (or could not).
    pub fn on_hashed(
        &mut self,
        job: u64,
        result: Result<Hashed, (Status, String)>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(purpose) = self.hashing.remove(&job) else {
            return;
        };
        match (purpose, result) {
            (HashFor::Publish { id, .. }, Err((status, text))) => out.push(Action::Result(
                CommandResult::new(id, "publish", false, status.0, text),
            )),
            (HashFor::Refresh { name }, Err((_, text))) => {
                self.withdraw(&name, &text, out);
            }
            (HashFor::Publish { id, .. }, Ok(hashed))
                if reserved_component(&hashed.path).is_some() =>
            {
                // A link to one of the client's own files, seen once resolved.
                let text = reserved_component(&hashed.path).unwrap_or_default();
                out.push(Action::Result(CommandResult::new(
                    id,
                    "publish",
                    false,
                    Status::INVALID_NAME.0,
                    text,
                )));
            }
            (HashFor::Publish { id, name }, Ok(hashed)) => {
                if self
                    .published
                    .get(&name)
                    .is_some_and(|p| p.hash != hash_hex(&hashed.hash))
                {
                    let text = format!(
                        "you already publish a different file as {name}; unpublish it first"
                    );
                    out.push(Action::Result(CommandResult::new(
                        id,
                        "publish",
                        false,
                        Status::NAME_TAKEN.0,
                        text,
                    )));
                } else {
                    self.announce(id, RequestKind::Publish, &name, &hashed, false, out);
                }
            }
            (HashFor::Refresh { name }, Ok(hashed)) => {
                if self.user.is_some() && self.link == Link::Up {
                    self.announce(0, RequestKind::Refresh, &name, &hashed, true, out)
                } else {
                    // Nobody to tell now: the list changes here, and the next login's
                    // sync announces it.
                    self.published.insert(Publication::new(
                        &name,
                        &hashed.path,
                        hashed.size,
                        &hashed.hash,
                        hashed.modified,
                    ));
                    out.push(Action::SavePublished);
                }
            }
        }
        self.try_leave(now, out);
    }

    pub(super) fn announce(
        &mut self,
        id: u64,
        kind: RequestKind,
        name: &str,
        hashed: &Hashed,
        replace: bool,
        out: &mut Vec<Action>,
    ) {
        let publication = Publication::new(
            name,
            &hashed.path,
            hashed.size,
            &hashed.hash,
            hashed.modified,
        );
        let file = FileInfo {
            name: name.to_owned(),
            size: hashed.size,
            hash: hashed.hash,
        };
        self.request_with(
            id,
            kind,
            Then::Publish(publication),
            |tag| ClientMsg::Publish { tag, file, replace },
            out,
        );
    }

    /// A published file was found deleted from disk: withdraw it, with a notice.
    pub(super) fn withdraw_gone(&mut self, name: &str, out: &mut Vec<Action>) {
        self.withdraw(name, "the file was deleted from disk", out);
    }

    /// Drop a publication that can no longer be served, with a notice.
    pub(super) fn withdraw(&mut self, name: &str, why: &str, out: &mut Vec<Action>) {
        if self.published.remove(name).is_none() {
            return;
        }
        out.push(Action::SavePublished);
        out.push(Action::Event(
            Event::new("unpublished", format!("withdrew {name}: {why}"))
                .field("name", name)
                .field("reason", why),
        ));
        let name = name.to_owned();
        self.request(
            0,
            RequestKind::Sync,
            |tag| ClientMsg::Unpublish { tag, name },
            out,
        );
    }

    /// The publications to announce, after the loop compared them with the disk:
    /// `vanished` are withdrawn, `changed` hashed again and re-announced.
    pub(super) fn on_checked(
        &mut self,
        vanished: Vec<String>,
        changed: Vec<String>,
        out: &mut Vec<Action>,
    ) {
        for name in &vanished {
            if self.published.remove(name).is_some() {
                out.push(Action::Event(
                    Event::new("unpublished", format!("withdrew {name}: the file is gone"))
                        .field("name", name.as_str())
                        .field("reason", "the file is gone"),
                ));
            }
        }
        if !vanished.is_empty() {
            out.push(Action::SavePublished);
        }
        let current: Vec<FileInfo> = self
            .published
            .iter()
            .filter(|p| !changed.contains(&p.name))
            .map(Publication::info)
            .collect();
        // At least one frame, so that an empty list clears the hub's copy too.
        let chunks: Vec<Vec<FileInfo>> = if current.is_empty() {
            vec![Vec::new()]
        } else {
            current
                .chunks(SYNC_CHUNK)
                .map(<[FileInfo]>::to_vec)
                .collect()
        };
        for (i, files) in chunks.into_iter().enumerate() {
            let first = i == 0;
            self.request(
                0,
                RequestKind::Sync,
                |tag| ClientMsg::Sync { tag, files, first },
                out,
            );
        }
        // Publications changed meanwhile go behind the sync, which cannot undo them.
        self.open_sync_gate(out);
        for name in changed {
            if let Some(p) = self.published.get(&name) {
                let path = p.path.clone();
                self.start_hash(HashFor::Refresh { name }, &path, out);
            }
        }
    }
}

/// Why the file at `path` may not be published, if one of its components is reserved
/// (`.peerhub-published.json`, `.peerhub-partials.json`: the client's own state).
pub(super) fn reserved_component(path: &str) -> Option<String> {
    let own = std::path::Path::new(path)
        .components()
        .filter_map(|c| c.as_os_str().to_str())
        .find(|c| names::is_reserved(c))?;
    Some(format!(
        "{own} is one of the client's own files (names starting with {}): it is never published",
        names::RESERVED_PREFIX
    ))
}

#[cfg(test)]
mod tests;
