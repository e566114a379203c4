//! An upload that sent everything but lost its store connection before the hub's
//! verdict (the hub killed or cut off at that moment may or may not have committed
//! it): the session asks the hub — its store listing, once logged in again — whether
//! it holds exactly what was sent (same owner, same tree digest), and reports that.

use super::request::RequestKind;
use super::{Action, Session, StoreDone, StoreJob, Then};
use crate::output::CommandResult;
use crate::proto::message::{Body, ClientMsg, Hash};
use crate::proto::status::Status;
use std::time::Instant;

/// What an upload whose verdict was lost sent, and whether the question is out.
#[derive(Debug, Clone)]
pub struct Verify {
    pub digest: Hash,
    pub files: u64,
    pub bytes: u64,
    /// Why the verdict was lost.
    pub reason: String,
    /// A `StoreList` is out for it.
    pub asked: bool,
}

/// The real outcome of upload `name` by `me`, from the hub's answer to `StoreList`.
pub fn judge(
    name: &str,
    me: &str,
    sent: &Verify,
    status: Status,
    body: &Body,
) -> Result<(), (Status, String)> {
    let lost = &sent.reason;
    let Body::Store {
        entries, truncated, ..
    } = body
    else {
        return Err((
            Status::UNAVAILABLE,
            format!("the connection was lost before the hub's verdict ({lost}), and asking the hub failed ({status})"),
        ));
    };
    match entries.iter().find(|e| e.name == name) {
        Some(e) if e.owner == me && e.digest == sent.digest => Ok(()),
        Some(_) => Err((
            Status::UNAVAILABLE,
            format!("{name} was not stored: the connection was lost before the hub's verdict ({lost}) and the store holds another version"),
        )),
        None if *truncated => Err((
            Status::UNAVAILABLE,
            format!("the connection was lost before the hub's verdict ({lost}); the store listing was cut short, so whether {name} was stored is unknown"),
        )),
        None => Err((
            Status::UNAVAILABLE,
            format!("{name} was not stored: the connection was lost before the hub's verdict ({lost})"),
        )),
    }
}

impl Session {
    /// Upload `job` sent everything and lost its verdict: keep it until the hub says.
    pub(super) fn await_store_check(
        &mut self,
        job: u64,
        mut j: StoreJob,
        done: StoreDone,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        j.verify = Some(Verify {
            digest: done.digest.unwrap_or([0; 32]),
            files: done.files,
            bytes: done.bytes,
            reason: done.lost.unwrap_or_default(),
            asked: false,
        });
        self.store_jobs.insert(job, j);
        if self.user.is_some() {
            self.ask_store_check(job, out);
        }
        self.try_leave(now, out);
    }

    /// Logged in again: ask about every upload whose verdict was lost.
    pub(super) fn resume_store_checks(&mut self, out: &mut Vec<Action>) {
        let mut jobs: Vec<u64> = self
            .store_jobs
            .iter()
            .filter(|(_, j)| j.verify.as_ref().is_some_and(|v| !v.asked))
            .map(|(job, _)| *job)
            .collect();
        jobs.sort_unstable();
        for job in jobs {
            self.ask_store_check(job, out);
        }
    }

    fn ask_store_check(&mut self, job: u64, out: &mut Vec<Action>) {
        let Some(j) = self.store_jobs.get_mut(&job) else {
            return;
        };
        let Some(v) = j.verify.as_mut() else {
            return;
        };
        v.asked = true;
        let id = j.id;
        self.request_with(
            id,
            RequestKind::Plain("upload"),
            Then::StoreCheck(job),
            |tag| ClientMsg::StoreList { tag },
            out,
        );
    }

    /// The link went down with the question out: ask again after the next login.
    pub(super) fn store_check_lost(&mut self, job: u64) {
        if let Some(v) = self
            .store_jobs
            .get_mut(&job)
            .and_then(|j| j.verify.as_mut())
        {
            v.asked = false;
        }
    }

    /// The hub answered the question about upload `job`: report the real outcome.
    pub(super) fn on_store_check(
        &mut self,
        job: u64,
        status: Status,
        _message: String,
        body: Body,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(j) = self.store_jobs.remove(&job) else {
            return;
        };
        let Some(v) = j.verify.clone() else {
            return;
        };
        let me = self.user.clone().unwrap_or_default();
        let r = match judge(&j.name, &me, &v, status, &body) {
            Ok(()) => {
                let what = crate::output::files_and_size(v.files, v.bytes);
                CommandResult::new(
                    j.id,
                    "upload",
                    true,
                    Status::OK.0,
                    format!(
                        "uploaded {} ({what}); the hub's answer was lost ({}), and the hub confirms it holds this upload",
                        j.name, v.reason
                    ),
                )
                .field("name", j.name.as_str())
                .field("files", v.files)
                .field("bytes", v.bytes)
                .field("confirmed_after_reconnect", true)
            }
            Err((status, text)) => CommandResult::new(j.id, "upload", false, status.0, text)
                .field("name", j.name.as_str()),
        };
        out.push(Action::Result(r));
        self.try_leave(now, out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{logged_in, reply, results, sent, type_line};
    use super::super::Scanned;
    use super::*;
    use crate::proto::message::{HubMsg, StoreInfo, StoreKind, VERSION};
    use crate::transfer::tree::Totals;

    #[test]
    fn after_the_hub_died_mid_verdict_the_client_asks_once_logged_in_again() {
        let mut s = logged_in(false);
        let now = Instant::now();
        let out = type_line(&mut s, 7, "upload f doc --replace");
        let job = super::super::store_name::tests::name_checked(&mut s, &out, "doc");
        let mut out = Vec::new();
        let scanned = Scanned {
            name: "doc".into(),
            kind: StoreKind::File,
            totals: Totals {
                files: 1,
                dirs: 0,
                bytes: 3,
            },
            largest: 3,
            skipped: vec![],
        };
        s.on_scanned(job, Ok(scanned), now, &mut out);
        let tag = sent(&out)[0].tag().unwrap();
        let ticket = Body::Ticket {
            token: [3; 16],
            kind: StoreKind::File,
            files: 1,
            bytes: 3,
        };
        let out = reply(&mut s, tag, Status::OK, ticket);
        assert!(out.contains(&Action::StartStoreUpload {
            job,
            token: [3; 16]
        }));
        // The hub dies: the session link and the store connection both break, the
        // store connection after the last byte went out.
        let mut out = Vec::new();
        s.on_lost("connection reset", now, &mut out);
        let done = StoreDone {
            name: "doc".into(),
            path: None,
            files: 1,
            bytes: 3,
            message: String::new(),
            digest: Some([1; 32]),
            lost: Some("the hub closed the store connection".into()),
        };
        let mut out = Vec::new();
        s.on_store_done(job, Ok(done), now, &mut out);
        assert!(results(&out).is_empty(), "reported before asking: {out:?}");
        assert!(sent(&out).is_empty());
        // Back: the relogin succeeds, then the store listing is asked for.
        let mut out = Vec::new();
        let welcome = HubMsg::Welcome {
            version: VERSION,
            server: "hub".into(),
            hub_key: Vec::new(),
        };
        s.on_message(welcome, now, &mut out);
        let login = sent(&out)[0].tag().unwrap();
        let out = reply(
            &mut s,
            login,
            Status::OK,
            Body::LoggedIn {
                online: 1,
                token: "t0".into(),
            },
        );
        let list = sent(&out)
            .into_iter()
            .find(|m| matches!(m, ClientMsg::StoreList { .. }))
            .expect("no store listing asked for");
        let out = reply(
            &mut s,
            list.tag().unwrap(),
            Status::OK,
            listing("me", [1; 32], false),
        );
        let r = results(&out)[0];
        assert_eq!((r.id, r.status, r.ok), (7, 200, true));
        assert_eq!(r.fields["confirmed_after_reconnect"], true);
    }

    fn listing(owner: &str, digest: Hash, truncated: bool) -> Body {
        Body::Store {
            entries: vec![StoreInfo {
                name: "doc".into(),
                owner: owner.into(),
                kind: StoreKind::File,
                files: 1,
                bytes: 3,
                created: 0,
                digest,
            }],
            truncated,
            used: 3,
            quota: 0,
        }
    }

    fn verify(digest: Hash) -> Verify {
        Verify {
            digest,
            files: 1,
            bytes: 3,
            reason: "the hub closed the store connection".into(),
            asked: true,
        }
    }

    #[test]
    fn the_hubs_listing_decides_the_outcome_of_a_lost_verdict() {
        let ok = Status::OK;
        // The hub committed what was sent: success.
        assert!(judge(
            "doc",
            "ann",
            &verify([1; 32]),
            ok,
            &listing("ann", [1; 32], false)
        )
        .is_ok());
        // It still holds the old version (same name and size, other content): failure.
        let e = judge(
            "doc",
            "ann",
            &verify([2; 32]),
            ok,
            &listing("ann", [1; 32], false),
        );
        assert!(e.unwrap_err().1.contains("another version"));
        // Someone else's entry of that name is not ours.
        assert!(judge(
            "doc",
            "ann",
            &verify([1; 32]),
            ok,
            &listing("bob", [1; 32], false)
        )
        .is_err());
        // Nothing of that name: not stored; a cut listing: unknown.
        let none = Body::Store {
            entries: vec![],
            truncated: false,
            used: 0,
            quota: 0,
        };
        let e = judge("doc", "ann", &verify([1; 32]), ok, &none).unwrap_err();
        assert_eq!(e.0, Status::UNAVAILABLE);
        assert!(e.1.contains("was not stored"), "{}", e.1);
        let cut = Body::Store {
            entries: vec![],
            truncated: true,
            used: 0,
            quota: 0,
        };
        assert!(judge("doc", "ann", &verify([1; 32]), ok, &cut)
            .unwrap_err()
            .1
            .contains("unknown"));
        // The question itself failed.
        let e = judge(
            "doc",
            "ann",
            &verify([1; 32]),
            Status::NOT_LOGGED_IN,
            &Body::None,
        );
        assert!(e.unwrap_err().1.contains("asking the hub failed"));
    }
}
