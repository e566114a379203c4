//! Tests of fetch.rs.

use super::super::tests::{
    delivered, done, download_done, failed, fetch, fetch_found, fetch_started, holder, logged_in,
    reply, results, sent, started, swarms, type_line,
};
use super::super::Action;
use crate::client::partials::PartialRecord;
use crate::proto::message::{hash_hex, Body, ClientMsg};
use crate::proto::status::Status;
use crate::transfer::download::{Delivered, Outcome, PartialFate};

#[test]
fn fetch_picks_another_holder_and_reports_the_result() {
    let mut s = logged_in(false);
    let out = fetch_found(
        &mut s,
        1,
        "fetch song",
        vec![holder("me", 2), holder("bob", 2)],
    );
    let spec = started(&out)[0].clone();
    assert_eq!(spec.holder.user, "bob");
    assert_eq!(spec.dest, "song");
    assert!(!spec.resume);
    assert_eq!(
        spec.holder.ticket,
        holder("bob", 2).ticket,
        "the hub's ticket goes on"
    );
    assert!(out.contains(&Action::SavePartials));
    // The same destination cannot be fetched twice at once.
    let out = type_line(&mut s, 2, "fetch song");
    assert_eq!(results(&out)[0].status, Status::NAME_TAKEN.0);
    let out = download_done(&mut s, spec.job, done("/share/song"));
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
        let out = type_line(&mut s, 1, line);
        assert!(sent(&out).is_empty(), "{line}");
        assert_eq!(results(&out)[0].status, status.0, "{line}");
    }
    let out = fetch_found(&mut s, 2, "fetch song", vec![holder("me", 2)]);
    assert_eq!(results(&out)[0].status, Status::BAD_REQUEST.0);
    let tag = fetch(&mut s, 3, "fetch nothing");
    let out = reply(&mut s, tag, Status::NO_FILE, Body::Holders(vec![]));
    assert_eq!(results(&out)[0].status, Status::NO_FILE.0);
}

#[test]
fn a_prompt_asks_again_for_a_number_out_of_range_or_a_line_that_is_no_command() {
    let mut s = logged_in(true);
    let holders = || vec![holder("bob", 2), holder("carol", 3)];
    fetch_found(&mut s, 1, "fetch song", holders());
    for (n, line) in ["3", "0", "-1", "bogus words", "99999999999999999999999"]
        .into_iter()
        .enumerate()
    {
        let out = type_line(&mut s, 2 + n as u64, line);
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
    let out = type_line(&mut s, 9, " 2 ");
    assert_eq!(started(&out)[0].holder.user, "carol");

    // A known command with a usage error cancels and runs (its own 400).
    fetch_found(&mut s, 10, "fetch other", holders());
    let out = type_line(&mut s, 11, "msg");
    let r = results(&out);
    assert_eq!((r[0].id, r[0].status), (10, 400));
    assert_eq!((r[1].id, r[1].command.as_str()), (11, "msg"));
}

#[test]
fn a_prompt_takes_a_number_or_enter_and_any_other_line_cancels_it() {
    let mut s = logged_in(true);
    let holders = || vec![holder("bob", 2), holder("carol", 3)];
    let out = fetch_found(&mut s, 1, "fetch song", holders());
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::Event(e) if e.name == "choose")));
    assert!(started(&out).is_empty());
    let out = type_line(&mut s, 2, "2");
    assert_eq!(started(&out)[0].holder.user, "carol");

    fetch_found(&mut s, 3, "fetch other", holders());
    let out = type_line(&mut s, 4, "");
    // carol is busy with the first download: bob is suggested.
    assert_eq!(started(&out)[0].holder.user, "bob");

    fetch_found(&mut s, 5, "fetch third", holders());
    let out = type_line(&mut s, 6, "users");
    assert!(started(&out).is_empty());
    assert_eq!(results(&out)[0].id, 5);
    assert_eq!(results(&out)[0].status, 400);
    assert!(matches!(sent(&out).as_slice(), [ClientMsg::Users { .. }]));
}

#[test]
fn cancel_during_download_and_during_lookup() {
    let mut s = logged_in(false);
    let job = fetch_started(&mut s, 1, "fetch song --as tune", vec![holder("bob", 2)]);
    let out = type_line(&mut s, 2, "cancel tune");
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
    let out = type_line(&mut s, 4, "cancel song");
    assert_eq!(results(&out)[0].status, 200);
    let out = reply(
        &mut s,
        tag,
        Status::FOUND,
        Body::Holders(vec![holder("bob", 2)]),
    );
    assert!(started(&out).is_empty());
    assert_eq!((results(&out)[0].id, results(&out)[0].status), (3, 400));
    let out = type_line(&mut s, 5, "cancel song");
    assert_eq!(results(&out)[0].status, Status::NO_FILE.0);
}

#[test]
fn integrity_failure_reports_the_holder_and_a_kept_partial_resumes() {
    let mut s = logged_in(false);
    // Over plaintext, one holder: the raw `Get`, whose partial file is a prefix.
    s.config.plaintext = true;
    let job = fetch_started(&mut s, 1, "fetch song", vec![holder("bob", 2)]);
    let corrupt = failed(Status::INTEGRITY, true, PartialFate::Deleted);
    let out = download_done(&mut s, job, corrupt);
    assert!(matches!(
        sent(&out).as_slice(),
        [ClientMsg::Report { holder, name, hash, .. }]
            if holder == "bob" && name == "song" && *hash == [2; 32]
    ));
    assert_eq!(results(&out)[0].status, 422);
    assert!(s.partials().get("song").is_none());

    // A holder that died: the partial stays, and the next fetch resumes it from a
    // holder of the same content, preferred over one of other content.
    let job = fetch_started(&mut s, 2, "fetch song", vec![holder("bob", 2)]);
    let died = failed(Status::PEER_UNREACHABLE, false, PartialFate::Kept(40));
    let out = download_done(&mut s, job, died);
    assert!(sent(&out).is_empty());
    let out = fetch_found(
        &mut s,
        3,
        "fetch song",
        vec![holder("ann", 9), holder("dave", 2)],
    );
    let spec = started(&out)[0].clone();
    assert_eq!(spec.holder.user, "dave");
    assert!(spec.resume);
}

#[test]
fn a_fetch_result_gives_the_file_size_and_what_this_call_received() {
    let mut s = logged_in(false);
    let job = fetch_started(&mut s, 1, "fetch song", vec![holder("bob", 2)]);
    let resumed = Outcome::Done(Delivered {
        received: 60,
        resumed: 40,
        ..delivered("/s/song")
    });
    let out = download_done(&mut s, job, resumed);
    let f = &results(&out)[0].fields;
    assert_eq!(f["bytes"], 100);
    assert_eq!(f["received"], 60);
    assert_eq!(f["resumed"], 40);
    assert_eq!(f["resumed_at"], 40);
    let job = fetch_started(&mut s, 2, "fetch song", vec![holder("bob", 2)]);
    let already = Outcome::Done(Delivered {
        received: 0,
        already: true,
        ..delivered("/s/song")
    });
    let out = download_done(&mut s, job, already);
    let f = &results(&out)[0].fields;
    assert_eq!(f["bytes"], 100, "the file on disk");
    assert_eq!(f["received"], 0);
    assert_eq!(f["already"], true);
    assert!(!f.contains_key("resumed_at"));
}

#[test]
fn fetch_as_reports_the_new_name_and_cancel_names_no_line() {
    let mut s = logged_in(false);
    let job = fetch_started(&mut s, 1, "fetch song --as tune", vec![holder("bob", 2)]);
    let out = download_done(&mut s, job, done("/share/tune"));
    let r = results(&out)[0];
    assert!(
        r.message.starts_with("fetched song as tune from bob"),
        "{}",
        r.message
    );
    assert_eq!(r.fields["as"], "tune");
    assert_eq!(r.fields["name"], "song");

    let out = fetch_found(&mut s, 2, "fetch song", vec![holder("bob", 2)]);
    assert!(!started(&out).is_empty());
    let out = type_line(&mut s, 3, "cancel song");
    let r = results(&out)[0];
    assert_eq!(r.id, 2);
    assert!(
        r.message.starts_with("cancelled; the partial file"),
        "{}",
        r.message
    );
    assert!(!r.message.contains("line"), "{}", r.message);
}

#[test]
fn a_listener_that_is_not_the_holder_s_client_is_skipped_for_the_next_holder() {
    let mut s = logged_in(false);
    let holders = vec![holder("carol", 2), holder("me", 2), holder("bob", 2)];
    let out = fetch_found(&mut s, 1, "fetch song", holders);
    let first = started(&out)[0].clone();
    assert_eq!(first.holder.user, "carol");
    let wrong = |who: &str| Outcome::Failed {
        status: Status::WRONG_PEER,
        message: format!("that address is not {who}'s client"),
        report: true,
        partial: PartialFate::None,
        size: 100,
        hash: [2; 32],
    };
    let out = download_done(&mut s, first.job, wrong("carol"));
    assert!(results(&out).is_empty(), "no result yet: {out:?}");
    let skipped = out
        .iter()
        .find_map(|a| match a {
            Action::Event(e) if e.name == "holder_skipped" => Some(e.clone()),
            _ => None,
        })
        .expect("the skip is said");
    assert_eq!(skipped.fields["status"], 421);
    assert_eq!(skipped.fields["from"], "carol");
    assert_eq!(skipped.fields["next"], "bob");
    assert!(skipped
        .human
        .starts_with("that address is not carol's client"));
    // The next holder, never this client's own user; no report of the skipped one.
    let second = started(&out)[0].clone();
    assert_eq!(second.holder.user, "bob");
    assert!(!sent(&out)
        .iter()
        .any(|m| matches!(m, ClientMsg::Report { .. })));
    // When no holder is left, the fetch fails with 421.
    let out = download_done(&mut s, second.job, wrong("bob"));
    let r = results(&out)[0];
    assert_eq!((r.id, r.status, r.ok), (1, 421, false));
    assert!(r.message.contains("not bob's client"), "{}", r.message);
    assert!(started(&out).is_empty());
}

#[test]
fn only_a_listener_of_the_wrong_key_moves_on_and_from_is_kept() {
    let mut s = logged_in(false);
    let holders = vec![holder("carol", 2), holder("bob", 2)];
    let out = fetch_found(&mut s, 1, "fetch song", holders.clone());
    let job = started(&out)[0].job;
    let out = download_done(
        &mut s,
        job,
        failed(Status::PEER_UNREACHABLE, false, PartialFate::None),
    );
    assert_eq!(
        results(&out)[0].status,
        502,
        "another failure ends the fetch"
    );
    let out = fetch_found(&mut s, 2, "fetch song --from carol", holders);
    let spec = started(&out)[0].clone();
    assert_eq!(spec.holder.user, "carol");
    let out = download_done(
        &mut s,
        spec.job,
        failed(Status::WRONG_PEER, false, PartialFate::None),
    );
    assert_eq!(
        results(&out)[0].status,
        421,
        "--from carol: bob is not tried"
    );
    assert!(started(&out).is_empty());
}

#[test]
fn a_fetch_takes_up_to_sources_holders_of_the_same_content_and_from_pins_one() {
    let mut s = logged_in(false);
    let four = || {
        vec![
            holder("bob", 2),
            holder("carol", 2),
            holder("ann", 9),
            holder("dave", 2),
            holder("erin", 2),
        ]
    };
    let out = fetch_found(&mut s, 1, "fetch song --sources 3", four());
    let users: Vec<&str> = swarms(&out)[0]
        .holders
        .iter()
        .map(|h| h.user.as_str())
        .collect();
    assert_eq!(
        users,
        ["bob", "carol", "dave"],
        "the same content only, up to 3"
    );

    let out = fetch_found(&mut s, 2, "fetch song --as two", four());
    assert_eq!(swarms(&out)[0].holders.len(), 4, "the default: up to 4");

    let out = fetch_found(&mut s, 3, "fetch song --from carol --as three", four());
    let users: Vec<&str> = swarms(&out)[0]
        .holders
        .iter()
        .map(|h| h.user.as_str())
        .collect();
    assert_eq!(users, ["carol"], "--from: that holder only");

    for bad in ["0", "33", "many"] {
        let out = type_line(&mut s, 4, &format!("fetch song --sources {bad}"));
        assert_eq!(results(&out)[0].status, 400, "{bad}");
    }
}

#[test]
fn a_swarm_resume_takes_only_the_verified_groups_and_never_a_prefix_partial() {
    let mut s = logged_in(false);
    let job = fetch_started(&mut s, 1, "fetch song", vec![holder("bob", 2)]);
    let mut out = Vec::new();
    s.record_verified("song", 100, &[2; 32], &[0..3, 7..9], &mut out);
    assert!(out.contains(&Action::SavePartials));
    assert_eq!(s.partials().get("song").unwrap().verified, [(0, 3), (7, 9)]);
    let died = failed(
        Status::PEER_UNREACHABLE,
        false,
        PartialFate::Kept(5 * 16384),
    );
    download_done(&mut s, job, died);
    assert_eq!(
        s.partials().get("song").unwrap().verified,
        [(0, 3), (7, 9)],
        "a failure keeps what the record says is verified"
    );
    let out = fetch_found(&mut s, 2, "fetch song", vec![holder("carol", 2)]);
    assert_eq!(swarms(&out)[0].verified, [0..3, 7..9]);

    // A prefix partial of the raw path is not verified: the swarm starts it over.
    let mut s = logged_in(false);
    s.partials
        .insert(PartialRecord::new("song", "song", 100, &[2; 32]));
    let out = fetch_found(&mut s, 1, "fetch song", vec![holder("bob", 2)]);
    assert!(swarms(&out)[0].verified.is_empty());
}

#[test]
fn a_bad_source_is_named_and_reported_and_the_result_names_every_source() {
    let mut s = logged_in(false);
    let job = fetch_started(
        &mut s,
        1,
        "fetch song",
        vec![holder("bob", 2), holder("carol", 2)],
    );
    let mut out = Vec::new();
    let why = "carol sent corrupt data in bytes 0..16384";
    s.on_source_dropped(
        job,
        "carol",
        why,
        crate::transfer::swarm::Fault::Bad,
        &mut out,
    );
    assert!(matches!(
        sent(&out).as_slice(),
        [ClientMsg::Report { holder, .. }] if holder == "carol"
    ));
    assert!(out.iter().any(|a| matches!(a,
        Action::Event(e) if e.name == "source_dropped" && e.fields["user"] == "carol" && e.fields["bad"] == true)));
    let mut d = delivered("/share/song");
    d.sources = Box::new([("bob".into(), 100)]);
    d.bad_sources = Box::new(["carol".into()]);
    let out = download_done(&mut s, job, Outcome::Done(d));
    let r = &results(&out)[0];
    assert_eq!(r.fields["from"], "bob");
    assert_eq!(
        r.fields["sources"],
        serde_json::json!([{"user": "bob", "bytes": 100}])
    );
    assert_eq!(r.fields["bad_sources"], serde_json::json!(["carol"]));
}
