//! The session's store requests beside tickets: the name check an upload makes before
//! its tree is walked (so a taken name fails at once, without reading the tree), `rm`
//! of my own entry, and the usage line of the `store` listing.

use super::request::RequestKind;
use super::{Action, Session, Then};
use crate::output::human_size;
use crate::output::CommandResult;
use crate::proto::message::ClientMsg;
use crate::proto::names;
use crate::proto::status::Status;

/// `you use 1.2 MiB of 10.0 MiB`, or `you use 1.2 MiB (no quota)` when `quota` is 0.
pub fn usage_line(used: u64, quota: u64) -> String {
    if quota == 0 {
        format!("you use {} (no quota)", human_size(used))
    } else {
        format!("you use {} of {}", human_size(used), human_size(quota))
    }
}

impl Session {
    /// The loop found the store name of upload `job` (of `path`): ask the hub whether
    /// the name may be uploaded before the tree is walked.
    pub fn on_named(
        &mut self,
        job: u64,
        path: String,
        named: Result<String, (Status, String)>,
        out: &mut Vec<Action>,
    ) {
        let Some(j) = self.store_jobs.get_mut(&job) else {
            // Cancelled meanwhile.
            return out.push(Action::DropStoreJob(job));
        };
        let (id, replace) = (j.id, j.replace);
        let name = match named {
            Ok(name) => name,
            Err((status, text)) => {
                self.store_jobs.remove(&job);
                out.push(Action::DropStoreJob(job));
                return out.push(Self::store_failed(id, "upload", status, &text));
            }
        };
        j.name = name.clone();
        self.request_with(
            id,
            RequestKind::Plain("upload"),
            Then::StoreName { job, path },
            |tag| ClientMsg::StoreName { tag, name, replace },
            out,
        );
    }

    /// The hub answered the name check of upload `job`: walk the tree, or fail with the
    /// hub's refusal (the same status and text a ticket request would get).
    pub(super) fn on_store_name(
        &mut self,
        job: u64,
        path: String,
        status: Status,
        message: String,
        out: &mut Vec<Action>,
    ) {
        let Some(j) = self.store_jobs.get(&job) else {
            return out.push(Action::DropStoreJob(job));
        };
        if status == Status::OK {
            let name = Some(j.name.clone());
            return out.push(Action::ScanUpload { job, path, name });
        }
        let id = j.id;
        self.store_jobs.remove(&job);
        out.push(Action::DropStoreJob(job));
        out.push(Self::store_failed(id, "upload", status, &message));
    }

    /// `rm <name>`: remove my own store entry.
    pub(super) fn store_rm(&mut self, id: u64, name: String, out: &mut Vec<Action>) {
        if let Err(e) = names::check_file_name(&name) {
            return out.push(Action::Result(CommandResult::new(
                id,
                "rm",
                false,
                Status::INVALID_NAME.0,
                e.0,
            )));
        }
        self.request(
            id,
            RequestKind::Plain("rm"),
            |tag| ClientMsg::StoreRm { tag, name },
            out,
        );
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::tests::{logged_in, reply, results, sent, type_line};
    use super::*;
    use crate::proto::message::{Body, StoreKind};
    use std::time::Instant;

    /// The `NameUpload` among `out`: job, path and typed name.
    fn upload_named(out: &[Action]) -> Option<(u64, String, Option<String>)> {
        out.iter().find_map(|a| match a {
            Action::NameUpload { job, path, name } => Some((*job, path.clone(), name.clone())),
            _ => None,
        })
    }

    /// After an `upload` line gave `out`: the loop names it `name`, the hub says the
    /// name is free; the job, whose tree the loop is now asked to walk.
    pub(in super::super) fn name_checked(s: &mut Session, out: &[Action], name: &str) -> u64 {
        let (job, path, _) = upload_named(out).expect("the upload was not named first");
        let mut out = Vec::new();
        s.on_named(job, path.clone(), Ok(name.to_owned()), &mut out);
        let tag = match sent(&out).as_slice() {
            [ClientMsg::StoreName { tag, name: n, .. }] if n == name => *tag,
            other => panic!("no name check: {other:?}"),
        };
        let out = reply(s, tag, Status::OK, Body::None);
        assert!(out.contains(&Action::ScanUpload {
            job,
            path,
            name: Some(name.to_owned())
        }));
        job
    }

    #[test]
    fn an_upload_asks_about_its_name_before_the_tree_is_walked() {
        let mut s = logged_in(false);
        let out = type_line(&mut s, 3, "upload some/dir");
        assert!(sent(&out).is_empty());
        let Some((job, path, name)) = upload_named(&out) else {
            panic!("{out:?}");
        };
        assert_eq!((path.as_str(), name), ("some/dir", None));
        let mut out = Vec::new();
        s.on_named(job, path, Ok("dir".into()), &mut out);
        let tag = match sent(&out).as_slice() {
            [ClientMsg::StoreName {
                tag,
                name,
                replace: false,
            }] if name == "dir" => *tag,
            other => panic!("{other:?}"),
        };
        // Taken: the hub's refusal is the result, and nothing is walked.
        let out = reply(&mut s, tag, Status::NAME_TAKEN, Body::None);
        assert!(!out.iter().any(|a| matches!(a, Action::ScanUpload { .. })));
        assert!(out.contains(&Action::DropStoreJob(job)));
        let r = results(&out);
        assert_eq!(
            (r[0].id, r[0].status, r[0].message.as_str()),
            (3, 409, "msg")
        );
        // A path that cannot be named fails without asking the hub.
        let out = type_line(&mut s, 4, "upload nowhere");
        let Some((job, path, _)) = upload_named(&out) else {
            panic!("{out:?}");
        };
        let mut out = Vec::new();
        s.on_named(
            job,
            path,
            Err((Status::NO_FILE, "nowhere: gone".into())),
            &mut out,
        );
        assert!(sent(&out).is_empty());
        assert_eq!(results(&out)[0].status, 406);
    }

    #[test]
    fn a_name_check_lost_with_the_connection_fails_the_upload() {
        let mut s = logged_in(false);
        let now = Instant::now();
        let out = type_line(&mut s, 5, "upload f doc");
        let Some((job, path, _)) = upload_named(&out) else {
            panic!("{out:?}");
        };
        s.on_named(job, path, Ok("doc".into()), &mut Vec::new());
        let mut out = Vec::new();
        s.on_lost("reset", now, &mut out);
        assert!(out.contains(&Action::DropStoreJob(job)));
        assert_eq!(results(&out)[0].status, 503);
    }

    #[test]
    fn rm_sends_the_name_and_reports_what_was_removed() {
        let mut s = logged_in(false);
        let out = type_line(&mut s, 6, "rm \"my photos\"");
        let tag = match sent(&out).as_slice() {
            [ClientMsg::StoreRm { tag, name }] if name == "my photos" => *tag,
            other => panic!("{other:?}"),
        };
        let removed = Body::Removed {
            name: "my photos".into(),
            kind: StoreKind::Dir,
            files: 2,
            bytes: 2048,
        };
        let out = reply(&mut s, tag, Status::OK, removed);
        let r = results(&out)[0];
        assert_eq!((r.id, r.command.as_str(), r.status), (6, "rm", 200));
        assert_eq!(r.fields["name"], "my photos");
        assert_eq!(r.fields["kind"], "dir");
        assert_eq!(
            (r.fields["files"].clone(), r.fields["bytes"].clone()),
            (2.into(), 2048.into())
        );
        // An invalid name is refused here.
        let out = type_line(&mut s, 7, "rm ..");
        assert!(sent(&out).is_empty());
        assert_eq!(results(&out)[0].status, 408);
    }

    #[test]
    fn the_store_listing_shows_my_usage_against_the_quota() {
        assert_eq!(
            usage_line(1_258_291, 10 << 20),
            "you use 1.2 MiB of 10.0 MiB"
        );
        assert_eq!(usage_line(5, 0), "you use 5 B (no quota)");
        let mut s = logged_in(false);
        let out = type_line(&mut s, 8, "store");
        let tag = sent(&out)[0].tag().unwrap();
        let body = Body::Store {
            entries: Vec::new(),
            truncated: false,
            used: 1_258_291,
            quota: 10 << 20,
        };
        let out = reply(&mut s, tag, Status::OK, body);
        let r = results(&out)[0];
        assert_eq!(r.fields["used"], 1_258_291);
        assert_eq!(r.fields["quota"], 10 << 20);
        assert_eq!(r.detail.last().unwrap(), "you use 1.2 MiB of 10.0 MiB");
    }
}
