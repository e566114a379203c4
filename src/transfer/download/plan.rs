//! The download's pure decisions: resume or start over, what a holder's answer means,
//! and whether what arrived is what was announced.

use crate::proto::message::Hash;
use crate::proto::peer::Answer;
use crate::proto::status::Status;

/// How to start, given what is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// No usable partial file: start at byte 0 (an unusable one is truncated).
    Fresh,
    /// Hash the partial file's `n` bytes, then ask for the rest.
    Resume(u64),
}

/// Resume only from a partial file downloaded for the same content that is not longer
/// than the file.
pub fn resume_plan(partial_len: Option<u64>, same_content: bool, size: u64) -> Plan {
    match partial_len {
        Some(n) if n > 0 && same_content && n <= size => Plan::Resume(n),
        _ => Plan::Fresh,
    }
}

/// What a holder's answer means for the download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerCheck {
    /// As announced by the hub: receive.
    Receive,
    /// The holder re-announced changed content and nothing was received yet: take
    /// its new size and hash and receive.
    Adopt { size: u64, hash: Hash },
    /// The holder serves other content than the partial file holds: start over at 0.
    Restart,
    /// A refusal or a nonsensical answer.
    Fail(Status, String),
}

/// Check a holder's answer against what was expected, for a request from `offset`.
pub fn check_answer(
    answer: &Answer,
    holder: &str,
    size: u64,
    hash: &Hash,
    offset: u64,
) -> AnswerCheck {
    if answer.status != Status::OK {
        let status = if answer.status.0 >= 400 && answer.status.0 < 600 {
            answer.status
        } else {
            Status::PEER_UNREACHABLE
        };
        return AnswerCheck::Fail(status, format!("{holder} refused: {}", answer.message));
    }
    if answer.size == size && answer.hash == *hash {
        AnswerCheck::Receive
    } else if offset == 0 {
        AnswerCheck::Adopt {
            size: answer.size,
            hash: answer.hash,
        }
    } else {
        AnswerCheck::Restart
    }
}

/// Whether the received content is what was announced.
pub fn verdict(received: u64, size: u64, computed: &Hash, expected: &Hash) -> bool {
    received == size && computed == expected
}
