//! Tests of fetch.rs.

use super::super::tests::{done, fetch, holder, logged_in, reply, results, sent, started};
use super::super::Action;
use crate::proto::message::{hash_hex, Body, ClientMsg};
use crate::proto::status::Status;
use crate::transfer::download::{Outcome, PartialFate};
use std::path::PathBuf;
use std::time::Instant;

#[test]
fn fetch_picks_another_holder_and_reports_the_result() {
    let mut s = logged_in(false);
    let tag = fetch(&mut s, 1, "fetch song");
    let out = reply(
        &mut s,
        tag,
        Status::FOUND,
        Body::Holders(vec![holder("me", 2), holder("bob", 2)]),
    );
    let spec = started(&out)[0].clone();
    assert_eq!(spec.holder.user, "bob");
    assert_eq!(spec.dest, "song");
    assert!(!spec.resume);
    assert_eq!(spec.me, "me");
    assert!(out.contains(&Action::SavePartials));
    // The same destination cannot be fetched twice at once.
    let mut out = Vec::new();
    s.on_line(2, "fetch song", Instant::now(), &mut out);
    assert_eq!(results(&out)[0].status, Status::NAME_TAKEN.0);
    let mut out = Vec::new();
    s.on_download_done(spec.job, done("/share/song"), Instant::now(), &mut out);
    let r = results(&out)[0];
    assert_eq!((r.id, r.status, r.ok), (1, 205, true));
    assert_eq!(r.fields["from"], "bob");
    assert_eq!(r.fields["path"], "/share/song");
    assert_eq!(r.fields["hash"], hash_hex(&[2; 32]));
    assert!(s.partials().get("song").is_none());
}

#[test]
fn refusals_before_and_after_the_lookup() {
    let mut s = logged_in(false);
    for (line, status) in [
        ("fetch song --as ../x", Status::INVALID_NAME),
        ("fetch ../x", Status::INVALID_NAME),
        (
            "fetch song --as .peerhub-published.json",
            Status::INVALID_NAME,
        ),
        ("fetch song --from me", Status::BAD_REQUEST),
        ("fetch song --from bad/user", Status::INVALID_NAME),
    ] {
        let mut out = Vec::new();
        s.on_line(1, line, Instant::now(), &mut out);
        assert!(sent(&out).is_empty(), "{line}");
        assert_eq!(results(&out)[0].status, status.0, "{line}");
    }
    let tag = fetch(&mut s, 2, "fetch song");
    let out = reply(
        &mut s,
        tag,
        Status::FOUND,
        Body::Holders(vec![holder("me", 2)]),
    );
    assert_eq!(results(&out)[0].status, Status::BAD_REQUEST.0);
    let tag = fetch(&mut s, 3, "fetch nothing");
    let out = reply(&mut s, tag, Status::NO_FILE, Body::Holders(vec![]));
    assert_eq!(results(&out)[0].status, Status::NO_FILE.0);
}

#[test]
fn a_prompt_asks_again_for_a_number_out_of_range_or_a_line_that_is_no_command() {
    let mut s = logged_in(true);
    let holders = || Body::Holders(vec![holder("bob", 2), holder("carol", 3)]);
    let tag = fetch(&mut s, 1, "fetch song");
    reply(&mut s, tag, Status::FOUND, holders());
    for (n, line) in ["3", "0", "-1", "bogus words", "99999999999999999999999"]
        .into_iter()
        .enumerate()
    {
        let mut out = Vec::new();
        s.on_line(2 + n as u64, line, Instant::now(), &mut out);
        assert!(results(&out).is_empty(), "{line:?}: {out:?}");
        assert!(
            started(&out).is_empty() && sent(&out).is_empty(),
            "{line:?}"
        );
        let asked = out.iter().any(|a| {
            matches!(a, Action::Event(e)
                if e.name == "choose" && e.human == "choose 1\u{2013}2, Enter for the suggestion")
        });
        assert!(asked, "{line:?}: {out:?}");
    }
    // Still open: a valid number now chooses.
    let mut out = Vec::new();
    s.on_line(9, " 2 ", Instant::now(), &mut out);
    assert_eq!(started(&out)[0].holder.user, "carol");

    // A known command with a usage error cancels and runs (its own 400).
    let tag = fetch(&mut s, 10, "fetch other");
    reply(&mut s, tag, Status::FOUND, holders());
    let mut out = Vec::new();
    s.on_line(11, "msg", Instant::now(), &mut out);
    let r = results(&out);
    assert_eq!((r[0].id, r[0].status), (10, 400));
    assert_eq!((r[1].id, r[1].command.as_str()), (11, "msg"));
}

#[test]
fn a_prompt_takes_a_number_or_enter_and_any_other_line_cancels_it() {
    let mut s = logged_in(true);
    let holders = || Body::Holders(vec![holder("bob", 2), holder("carol", 3)]);
    let tag = fetch(&mut s, 1, "fetch song");
    let out = reply(&mut s, tag, Status::FOUND, holders());
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::Event(e) if e.name == "choose")));
    assert!(started(&out).is_empty());
    let mut out = Vec::new();
    s.on_line(2, "2", Instant::now(), &mut out);
    assert_eq!(started(&out)[0].holder.user, "carol");

    let tag = fetch(&mut s, 3, "fetch other");
    reply(&mut s, tag, Status::FOUND, holders());
    let mut out = Vec::new();
    s.on_line(4, "", Instant::now(), &mut out);
    // carol is busy with the first download: bob is suggested.
    assert_eq!(started(&out)[0].holder.user, "bob");

    let tag = fetch(&mut s, 5, "fetch third");
    reply(&mut s, tag, Status::FOUND, holders());
    let mut out = Vec::new();
    s.on_line(6, "users", Instant::now(), &mut out);
    assert!(started(&out).is_empty());
    assert_eq!(results(&out)[0].id, 5);
    assert_eq!(results(&out)[0].status, 400);
    assert!(matches!(sent(&out).as_slice(), [ClientMsg::Users { .. }]));
}

#[test]
fn cancel_during_download_and_during_lookup() {
    let mut s = logged_in(false);
    let tag = fetch(&mut s, 1, "fetch song --as tune");
    let out = reply(
        &mut s,
        tag,
        Status::FOUND,
        Body::Holders(vec![holder("bob", 2)]),
    );
    let job = started(&out)[0].job;
    let mut out = Vec::new();
    s.on_line(2, "cancel tune", Instant::now(), &mut out);
    assert!(out.contains(&Action::CancelDownload(job)));
    let rs = results(&out);
    assert_eq!((rs[0].id, rs[0].status), (1, 400));
    assert_eq!((rs[1].id, rs[1].status), (2, 200));
    // The partial file stays recorded for a resume.
    assert!(s
        .partials()
        .get("tune")
        .is_some_and(|r| r.is_for(100, &[2; 32])));

    let tag = fetch(&mut s, 3, "fetch song");
    let mut out = Vec::new();
    s.on_line(4, "cancel song", Instant::now(), &mut out);
    assert_eq!(results(&out)[0].status, 200);
    let out = reply(
        &mut s,
        tag,
        Status::FOUND,
        Body::Holders(vec![holder("bob", 2)]),
    );
    assert!(started(&out).is_empty());
    assert_eq!((results(&out)[0].id, results(&out)[0].status), (3, 400));
    let mut out = Vec::new();
    s.on_line(5, "cancel song", Instant::now(), &mut out);
    assert_eq!(results(&out)[0].status, Status::NO_FILE.0);
}

#[test]
fn integrity_failure_reports_the_holder_and_a_kept_partial_resumes() {
    let mut s = logged_in(false);
    let tag = fetch(&mut s, 1, "fetch song");
    let out = reply(
        &mut s,
        tag,
        Status::FOUND,
        Body::Holders(vec![holder("bob", 2)]),
    );
    let job = started(&out)[0].job;
    let mut out = Vec::new();
    let failed = Outcome::Failed {
        status: Status::INTEGRITY,
        message: "bad".into(),
        report: true,
        partial: PartialFate::Deleted,
        size: 100,
        hash: [2; 32],
    };
    s.on_download_done(job, failed, Instant::now(), &mut out);
    assert!(matches!(
        sent(&out).as_slice(),
        [ClientMsg::Report { holder, name, hash, .. }]
            if holder == "bob" && name == "song" && *hash == [2; 32]
    ));
    assert_eq!(results(&out)[0].status, 422);
    assert!(s.partials().get("song").is_none());

    // A holder that died: the partial stays, and the next fetch resumes it from a
    // holder of the same content, preferred over one of other content.
    let tag = fetch(&mut s, 2, "fetch song");
    let out = reply(
        &mut s,
        tag,
        Status::FOUND,
        Body::Holders(vec![holder("bob", 2)]),
    );
    let job = started(&out)[0].job;
    let died = Outcome::Failed {
        status: Status::PEER_UNREACHABLE,
        message: "gone".into(),
        report: false,
        partial: PartialFate::Kept(40),
        size: 100,
        hash: [2; 32],
    };
    let mut out = Vec::new();
    s.on_download_done(job, died, Instant::now(), &mut out);
    assert!(sent(&out).is_empty());
    let tag = fetch(&mut s, 3, "fetch song");
    let out = reply(
        &mut s,
        tag,
        Status::FOUND,
        Body::Holders(vec![holder("ann", 9), holder("dave", 2)]),
    );
    let spec = started(&out)[0];
    assert_eq!(spec.holder.user, "dave");
    assert!(spec.resume);
}

#[test]
fn a_fetch_result_gives_the_file_size_and_what_this_call_received() {
    let mut s = logged_in(false);
    let holders = Body::Holders(vec![holder("bob", 2)]);
    let tag = fetch(&mut s, 1, "fetch song");
    let job = started(&reply(&mut s, tag, Status::FOUND, holders.clone()))[0].job;
    let resumed = Outcome::Done {
        path: PathBuf::from("/s/song"),
        received: 60,
        resumed: 40,
        size: 100,
        hash: [2; 32],
        already: false,
    };
    let mut out = Vec::new();
    s.on_download_done(job, resumed, Instant::now(), &mut out);
    let f = &results(&out)[0].fields;
    assert_eq!(f["bytes"], 100);
    assert_eq!(f["received"], 60);
    assert_eq!(f["resumed"], 40);
    assert_eq!(f["resumed_at"], 40);
    let tag = fetch(&mut s, 2, "fetch song");
    let job = started(&reply(&mut s, tag, Status::FOUND, holders))[0].job;
    let already = Outcome::Done {
        path: PathBuf::from("/s/song"),
        received: 0,
        resumed: 0,
        size: 100,
        hash: [2; 32],
        already: true,
    };
    let mut out = Vec::new();
    s.on_download_done(job, already, Instant::now(), &mut out);
    let f = &results(&out)[0].fields;
    assert_eq!(f["bytes"], 100, "the file on disk");
    assert_eq!(f["received"], 0);
    assert_eq!(f["already"], true);
    assert!(!f.contains_key("resumed_at"));
}

#[test]
fn fetch_as_reports_the_new_name_and_cancel_names_no_line() {
    let mut s = logged_in(false);
    let tag = fetch(&mut s, 1, "fetch song --as tune");
    let out = reply(
        &mut s,
        tag,
        Status::FOUND,
        Body::Holders(vec![holder("bob", 2)]),
    );
    let job = started(&out)[0].job;
    let mut out = Vec::new();
    s.on_download_done(job, done("/share/tune"), Instant::now(), &mut out);
    let r = results(&out)[0];
    assert!(
        r.message.starts_with("fetched song as tune from bob"),
        "{}",
        r.message
    );
    assert_eq!(r.fields["as"], "tune");
    assert_eq!(r.fields["name"], "song");

    let tag = fetch(&mut s, 2, "fetch song");
    let out = reply(
        &mut s,
        tag,
        Status::FOUND,
        Body::Holders(vec![holder("bob", 2)]),
    );
    assert!(!started(&out).is_empty());
    let mut out = Vec::new();
    s.on_line(3, "cancel song", Instant::now(), &mut out);
    let r = results(&out)[0];
    assert_eq!(r.id, 2);
    assert!(
        r.message.starts_with("cancelled; the partial file"),
        "{}",
        r.message
    );
    assert!(!r.message.contains("line"), "{}", r.message);
}
