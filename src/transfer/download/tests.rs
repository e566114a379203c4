//! The download's tests: its pure decisions from plain values, and whole downloads
//! over in-memory streams: resumed, refused, cut short, a byte at a time.

use super::*;
use crate::proto::peer::Answer;

#[test]
fn plans() {
    assert_eq!(resume_plan(None, true, 10), Plan::Fresh);
    assert_eq!(resume_plan(Some(0), true, 10), Plan::Fresh);
    assert_eq!(resume_plan(Some(4), true, 10), Plan::Resume(4));
    assert_eq!(resume_plan(Some(10), true, 10), Plan::Resume(10));
    assert_eq!(resume_plan(Some(11), true, 10), Plan::Fresh);
    assert_eq!(resume_plan(Some(4), false, 10), Plan::Fresh);
}

#[test]
fn answers() {
    let ok = Answer {
        status: Status::OK,
        message: "ok".into(),
        size: 10,
        hash: [1; 32],
        user: "bob".into(),
    };
    assert_eq!(
        check_answer(&ok, "bob", 10, &[1; 32], 4),
        AnswerCheck::Receive
    );
    assert_eq!(
        check_answer(&ok, "bob", 9, &[2; 32], 0),
        AnswerCheck::Adopt {
            size: 10,
            hash: [1; 32]
        }
    );
    assert_eq!(
        check_answer(&ok, "bob", 9, &[2; 32], 3),
        AnswerCheck::Restart
    );
    let no = Answer::refuse(Status::NO_FILE, "not published", "bob");
    assert!(matches!(
        check_answer(&no, "bob", 10, &[1; 32], 0),
        AnswerCheck::Fail(Status::NO_FILE, m) if m.contains("bob refused: not published")
    ));
    let odd = Answer::refuse(Status(250), "what", "bob");
    assert!(matches!(
        check_answer(&odd, "bob", 10, &[1; 32], 0),
        AnswerCheck::Fail(Status::PEER_UNREACHABLE, _)
    ));
}

#[test]
fn verdicts() {
    assert!(verdict(10, 10, &[1; 32], &[1; 32]));
    assert!(!verdict(9, 10, &[1; 32], &[1; 32]));
    assert!(!verdict(10, 10, &[1; 32], &[2; 32]));
}
