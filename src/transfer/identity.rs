//! Who answers at a holder's address: the holder the hub named, or something else —
//! another user's client (an account may announce any port on its address), a client of
//! another peer-protocol version, a peerhub hub, a TLS listener to a plaintext client,
//! or no peerhub program at all. Only the named holder's answer is taken; anything else
//! fails the fetch with the real cause, and the holder is never blamed (no report) for
//! bytes it never sent.

use crate::proto::frame;
use crate::proto::message::HubMsg;
use crate::proto::peer::{self, Answer, MAX_PEER_FRAME, PEER_VERSION};
use std::net::SocketAddr;

/// What the bytes read back from a holder's address are.
#[derive(Debug, PartialEq, Eq)]
pub enum Answered {
    /// Not a whole frame yet: read more.
    Pending,
    /// The named holder's client answered: the bytes this answer took, and the answer.
    Holder(usize, Answer),
    /// Something else answers there: why, for a 502 that names the real cause.
    Stranger(String),
}

/// Identify what answered a `Get` at `addr`, where the hub said `holder`'s client listens.
pub fn identify(buf: &[u8], addr: SocketAddr, holder: &str) -> Answered {
    let error = match peer::parse_answer(buf) {
        Ok(None) => return Answered::Pending,
        Ok(Some((used, answer))) if answer.user == holder => return Answered::Holder(used, answer),
        Ok(Some((_, answer))) => {
            let who = if answer.user.is_empty() {
                "it answers as no user: it never logged in".to_owned()
            } else {
                format!("it answers as {}", answer.user)
            };
            return Answered::Stranger(format!("{addr} is not {holder}'s client ({who})"));
        }
        Err(e) => e,
    };
    match peer::answer_version(buf) {
        Some(version) if version != PEER_VERSION => {
            return Answered::Stranger(format!(
                "{addr} speaks peer protocol version {version} and this client \
                 version {PEER_VERSION}: one of the two needs another peerhub release"
            ))
        }
        _ => {}
    }
    if is_hub_bye(buf) {
        return Answered::Stranger(format!("{addr} is a peerhub hub, not {holder}'s client"));
    }
    // A TLS record (an alert, most likely) to this plaintext client.
    if matches!(buf, [0x14..=0x18, 0x03, ..]) {
        return Answered::Stranger(format!(
            "{addr} speaks TLS and this client runs with --insecure-plaintext: use that \
             flag on both sides or on neither"
        ));
    }
    Answered::Stranger(format!(
        "{addr} is not a peerhub client, so not {holder}'s ({error})"
    ))
}

/// Whether `buf` starts with a hub's `Bye` frame: what a hub says to a peer `Get`,
/// which it reads as a connection that did not say hello.
fn is_hub_bye(buf: &[u8]) -> bool {
    matches!(
        frame::try_parse(buf, MAX_PEER_FRAME),
        Ok(Some((_, payload))) if matches!(HubMsg::decode(payload), Ok(HubMsg::Bye { .. }))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::status::Status;

    fn addr() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 7001))
    }

    fn answer(user: &str) -> Answer {
        Answer {
            status: Status::OK,
            message: "ok".into(),
            size: 12,
            hash: [7; 32],
            user: user.into(),
        }
    }

    fn encoded(answer: &Answer) -> Vec<u8> {
        let mut out = Vec::new();
        peer::encode_answer(answer, &mut out);
        out
    }

    fn stranger(buf: &[u8]) -> String {
        match identify(buf, addr(), "bob") {
            Answered::Stranger(why) => why,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_named_holder_is_taken_and_its_bytes_follow() {
        let mut buf = encoded(&answer("bob"));
        let used = buf.len();
        buf.extend_from_slice(b"file bytes");
        assert_eq!(
            identify(&buf, addr(), "bob"),
            Answered::Holder(used, answer("bob"))
        );
        // A refusal from the named holder is its own refusal.
        let refusal = Answer::refuse(Status::NO_FILE, "not published", "bob");
        let buf = encoded(&refusal);
        assert_eq!(
            identify(&buf, addr(), "bob"),
            Answered::Holder(buf.len(), refusal)
        );
    }

    #[test]
    fn part_of_a_frame_waits() {
        let buf = encoded(&answer("bob"));
        for cut in 0..buf.len() {
            assert_eq!(identify(&buf[..cut], addr(), "bob"), Answered::Pending);
        }
    }

    #[test]
    fn another_users_client_is_named() {
        assert_eq!(
            stranger(&encoded(&answer("carol"))),
            "127.0.0.1:7001 is not bob's client (it answers as carol)"
        );
        // Names are compared exactly, as the hub does.
        assert!(stranger(&encoded(&answer("Bob"))).contains("answers as Bob"));
        let refusal = Answer::refuse(Status::NO_FILE, "not published", "carol");
        assert!(stranger(&encoded(&refusal)).contains("answers as carol"));
        assert_eq!(
            stranger(&encoded(&answer(""))),
            "127.0.0.1:7001 is not bob's client (it answers as no user: it never logged in)"
        );
    }

    #[test]
    fn a_hub_is_recognised_by_its_bye() {
        let mut buf = Vec::new();
        HubMsg::Bye {
            status: Status::BAD_REQUEST,
            reason: "not a peerhub client: expected a peerhub hello".into(),
        }
        .encode(&mut buf);
        assert_eq!(
            stranger(&buf),
            "127.0.0.1:7001 is a peerhub hub, not bob's client"
        );
        // Another hub message is no answer either, but not a hub's refusal of a peer.
        let mut buf = Vec::new();
        HubMsg::Announce { text: "hi".into() }.encode(&mut buf);
        assert!(stranger(&buf).starts_with("127.0.0.1:7001 is not a peerhub client, so not bob's"));
    }

    #[test]
    fn another_protocol_version_is_said_so() {
        let mut buf = encoded(&answer("bob"));
        buf[10] = 1;
        let why = stranger(&buf);
        assert!(
            why.contains("peer protocol version 1 and this client version 3"),
            "{why}"
        );
    }

    #[test]
    fn a_tls_listener_names_the_plaintext_flag() {
        // A fatal alert record, as a TLS listener sends to a plaintext `Get`.
        let why = stranger(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32]);
        assert!(
            why.contains("speaks TLS and this client runs with --insecure-plaintext"),
            "{why}"
        );
    }

    #[test]
    fn anything_else_is_not_a_peerhub_client() {
        for junk in [
            &b"HTTP/1.1 400 Bad Request\r\n\r\n"[..],
            &[0, 0, 0, 0],
            &[0, 0, 0, 2, 0x61, 0],
        ] {
            let why = stranger(junk);
            assert!(
                why.starts_with("127.0.0.1:7001 is not a peerhub client, so not bob's ("),
                "{why}"
            );
        }
    }
}
