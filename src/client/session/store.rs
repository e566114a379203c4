//! Store jobs: `upload` (name, walk, ticket) and `download` (ticket), the transfers the
//! loop runs for them, and their results.

use super::request::RequestKind;
use super::{Action, Link, Scanned, Session, StoreDone, StoreJob, Then};
use crate::output::{CommandResult, Event};
use crate::proto::message::{Body, ClientMsg};
use crate::proto::names;
use crate::proto::status::Status;
use crate::transfer::tree::Totals;
use std::time::Instant;

impl Session {
    pub(super) fn store_failed(id: u64, command: &str, status: Status, text: &str) -> Action {
        Action::Result(CommandResult::new(id, command, false, status.0, text))
    }

    pub(super) fn upload(
        &mut self,
        id: u64,
        path: String,
        name: Option<String>,
        replace: bool,
        out: &mut Vec<Action>,
    ) {
        if let Some(n) = &name {
            if let Err(e) = names::check_file_name(n) {
                return out.push(Self::store_failed(id, "upload", Status::INVALID_NAME, &e.0));
            }
            if self.store_busy(n, true) {
                return out.push(Self::store_failed(
                    id,
                    "upload",
                    Status::NAME_TAKEN,
                    &format!("{n} is already being uploaded"),
                ));
            }
        }
        let job = self.new_store_job(StoreJob {
            id,
            name: name.clone().unwrap_or_default(),
            dest: None,
            in_share: false,
            upload: true,
            replace,
            verify: None,
        });
        out.push(Action::NameUpload { job, path, name });
    }

    /// Record store job `j` under a new job number, which it returns.
    fn new_store_job(&mut self, j: StoreJob) -> u64 {
        let job = self.next_store_job;
        self.next_store_job += 1;
        self.store_jobs.insert(job, j);
        job
    }

    /// Whether an upload of (or a download into) `name` is under way.
    pub(super) fn store_busy(&self, name: &str, upload: bool) -> bool {
        self.store_jobs.values().any(|j| {
            j.upload == upload
                && if upload {
                    j.name == name
                } else {
                    j.dest.as_deref() == Some(name)
                }
        })
    }

    /// The loop walked the tree of upload `job`.
    pub fn on_scanned(
        &mut self,
        job: u64,
        result: Result<Scanned, (Status, String)>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(j) = self.store_jobs.get(&job).cloned() else {
            // Cancelled meanwhile.
            return out.push(Action::DropStoreJob(job));
        };
        let scanned = match result {
            Ok(s) => s,
            Err((status, text)) => {
                self.store_jobs.remove(&job);
                out.push(Action::DropStoreJob(job));
                out.push(Self::store_failed(j.id, "upload", status, &text));
                return self.try_leave(now, out);
            }
        };
        for (path, why) in &scanned.skipped {
            out.push(Action::Event(
                Event::new("skipped", format!("skipped {path}: {why}"))
                    .field("path", path.as_str())
                    .field("reason", why.as_str()),
            ));
        }
        let duplicate = self
            .store_jobs
            .iter()
            .any(|(k, o)| *k != job && o.upload && o.name == scanned.name);
        if duplicate || matches!(self.link, Link::Down { .. }) {
            self.store_jobs.remove(&job);
            out.push(Action::DropStoreJob(job));
            let (status, text) = if duplicate {
                (
                    Status::NAME_TAKEN,
                    format!("{} is already being uploaded", scanned.name),
                )
            } else {
                (
                    Status::UNAVAILABLE,
                    "not connected to the hub (reconnecting); try again shortly".to_owned(),
                )
            };
            out.push(Self::store_failed(j.id, "upload", status, &text));
            return self.try_leave(now, out);
        }
        if let Some(entry) = self.store_jobs.get_mut(&job) {
            entry.name = scanned.name.clone();
        }
        let t = scanned.totals;
        let (name, kind, largest, replace) =
            (scanned.name, scanned.kind, scanned.largest, j.replace);
        self.request_with(
            j.id,
            RequestKind::Plain("upload"),
            Then::Store(job),
            |tag| ClientMsg::StorePut {
                tag,
                name,
                replace,
                kind,
                files: t.files,
                dirs: t.dirs,
                bytes: t.bytes,
                largest,
            },
            out,
        );
    }

    pub(super) fn download(
        &mut self,
        id: u64,
        name: String,
        dest: Option<String>,
        out: &mut Vec<Action>,
    ) {
        if let Err(e) = names::check_file_name(&name) {
            return out.push(Self::store_failed(
                id,
                "download",
                Status::INVALID_NAME,
                &e.0,
            ));
        }
        let in_share = dest.is_none();
        let dest = dest.unwrap_or_else(|| name.clone());
        if dest.is_empty() {
            return out.push(Self::store_failed(
                id,
                "download",
                Status::BAD_REQUEST,
                "the destination is empty",
            ));
        }
        if self.store_busy(&dest, false) {
            return out.push(Self::store_failed(
                id,
                "download",
                Status::NAME_TAKEN,
                &format!("{dest} is already being downloaded"),
            ));
        }
        if matches!(self.link, Link::Down { .. }) {
            return out.push(Self::store_failed(
                id,
                "download",
                Status::UNAVAILABLE,
                "not connected to the hub (reconnecting); try again shortly",
            ));
        }
        let job = self.new_store_job(StoreJob {
            id,
            name: name.clone(),
            dest: Some(dest),
            in_share,
            upload: false,
            replace: false,
            verify: None,
        });
        self.request_with(
            id,
            RequestKind::Plain("download"),
            Then::Store(job),
            |tag| ClientMsg::StoreGet { tag, name },
            out,
        );
    }

    /// The hub answered a store ticket request.
    pub(super) fn on_store_reply(
        &mut self,
        job: u64,
        status: Status,
        message: String,
        body: Body,
        out: &mut Vec<Action>,
    ) {
        let Some(j) = self.store_jobs.get(&job).cloned() else {
            // Cancelled while the request was out.
            return out.push(Action::DropStoreJob(job));
        };
        let command = if j.upload { "upload" } else { "download" };
        match (status, body) {
            (
                Status::OK,
                Body::Ticket {
                    token,
                    kind,
                    files,
                    bytes,
                },
            ) => {
                if j.upload {
                    out.push(Action::StartStoreUpload { job, token });
                } else {
                    out.push(Action::StartStoreDownload {
                        job,
                        token,
                        name: j.name.clone(),
                        dest: j.dest.clone().unwrap_or_else(|| j.name.clone()),
                        in_share: j.in_share,
                        kind,
                        totals: Totals {
                            files,
                            dirs: 0,
                            bytes,
                        },
                    });
                }
            }
            (status, body) => {
                self.store_jobs.remove(&job);
                out.push(Action::DropStoreJob(job));
                let status = if status.is_success() {
                    Status::INTERNAL
                } else {
                    status
                };
                let mut r = CommandResult::new(j.id, command, false, status.0, message)
                    .field("name", j.name.as_str());
                if let Body::RetryAfter(secs) = body {
                    r = r.field("retry_after", secs);
                }
                out.push(Action::Result(r));
            }
        }
    }

    /// A store transfer started with [`Action::StartStoreUpload`] or
    /// [`Action::StartStoreDownload`] ended.
    pub fn on_store_done(
        &mut self,
        job: u64,
        result: Result<StoreDone, (Status, String)>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(j) = self.store_jobs.remove(&job) else {
            return;
        };
        let result = match result {
            Ok(done) if j.upload && done.lost.is_some() => {
                return self.await_store_check(job, j, done, now, out);
            }
            other => other,
        };
        let command = if j.upload { "upload" } else { "download" };
        let r = match result {
            Ok(done) => {
                let what = crate::output::files_and_size(done.files, done.bytes);
                let (status, text) = if j.upload {
                    (Status::OK, format!("uploaded {} ({what})", done.name))
                } else {
                    let path = done
                        .path
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default();
                    (
                        Status::DOWNLOADED,
                        format!("downloaded {} into {path} ({what}), verified", done.name),
                    )
                };
                let mut r = CommandResult::new(j.id, command, true, status.0, text)
                    .field("name", done.name.as_str())
                    .field("files", done.files)
                    .field("bytes", done.bytes);
                if let Some(path) = &done.path {
                    r = r.field("path", path.to_string_lossy().into_owned());
                }
                r
            }
            Err((status, text)) => CommandResult::new(j.id, command, false, status.0, text)
                .field("name", j.name.as_str()),
        };
        out.push(Action::Result(r));
        self.try_leave(now, out);
    }
}
