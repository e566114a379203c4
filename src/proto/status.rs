//! Status codes carried by the hub's replies: the original 200–406 table and the codes added for peerhub.

use std::fmt;

/// A numeric status code, as it travels on the wire (u16) and appears in `--json` results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status(pub u16);

macro_rules! statuses {
    ($($name:ident = $code:expr, $text:expr;)*) => {
        impl Status {
            $(#[doc = $text] pub const $name: Status = Status($code);)*

            /// The short meaning of a code, or "unknown status" for a code not in the table.
            pub fn meaning(self) -> &'static str {
                match self.0 {
                    $($code => $text,)*
                    _ => "unknown status",
                }
            }

            /// Every code in the table, in order (used by documentation tests).
            pub const ALL: &'static [Status] = &[$(Status::$name),*];
        }
    };
}

statuses! {
    OK = 200, "success (login succeeded)";
    REGISTERED = 201, "registration succeeded";
    PUBLISHED = 202, "publish succeeded";
    PING = 203, "the server is pinging the client";
    FOUND = 204, "lookup succeeded";
    DOWNLOADED = 205, "download succeeded";
    BAD_REQUEST = 400, "bad request";
    NO_ACCOUNT = 401, "no such account";
    WRONG_PASSWORD = 402, "wrong password";
    ALREADY_LOGGED_IN = 403, "account already logged in";
    ACCOUNT_EXISTS = 404, "account already exists";
    LEFT = 405, "client left";
    NO_FILE = 406, "file does not exist";
    NOT_LOGGED_IN = 407, "not logged in";
    INVALID_NAME = 408, "invalid name";
    NAME_TAKEN = 409, "name taken";
    USER_OFFLINE = 410, "user offline";
    TOO_LARGE = 413, "too large";
    QUOTA_EXCEEDED = 414, "quota exceeded";
    TOKEN_REFUSED = 419, "resume token refused";
    WRONG_PEER = 421, "not the holder's client";
    INTEGRITY = 422, "integrity failure";
    BANNED = 423, "account banned";
    RATE_LIMITED = 429, "rate limited";
    INTERNAL = 500, "internal error";
    PEER_UNREACHABLE = 502, "peer unreachable";
    UNAVAILABLE = 503, "server full or shutting down";
    TIMEOUT = 504, "no answer in time";
    DISK_FULL = 507, "disk full";
}

impl Status {
    /// Whether the code reports success (2xx).
    pub fn is_success(self) -> bool {
        (200..300).contains(&self.0)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0, self.meaning())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        let codes: Vec<u16> = Status::ALL.iter().map(|s| s.0).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(codes, sorted);
        assert_eq!(codes.len(), 29);
    }

    #[test]
    fn meanings() {
        assert_eq!(Status::NO_FILE.meaning(), "file does not exist");
        assert_eq!(Status(999).meaning(), "unknown status");
        assert!(Status::LEFT.0 == 405 && !Status::LEFT.is_success());
        assert!(Status::FOUND.is_success());
        assert_eq!(Status::BANNED.to_string(), "423 account banned");
    }

    #[test]
    fn protocol_doc_lists_every_code() {
        let doc = include_str!("../../docs/PROTOCOL.md");
        for status in Status::ALL {
            assert!(
                doc.contains(&format!("| {} |", status.0)),
                "docs/PROTOCOL.md lacks {status}"
            );
        }
    }
}
