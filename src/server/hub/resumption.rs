//! Logins with a resume token (`Resume`): the token is checked with the hub's secret and
//! this turn's wall clock, then the account's standing is asked of the backend — its ban
//! refuses as a password login's would, a token version moved on since (`passwd`,
//! `setpass`, `ban`) revokes the token — and the login goes in as a password login does,
//! without a hash. An expired, revoked or forged token gets 419 and the client falls
//! back to its password.

use super::accounts::{account_failure, Then};
use super::pending::{ReplyTo, Then as Waiting};
use super::sessions::Grant;
use super::{Action, ConnId, Hub};
use crate::proto::message::Body;
use crate::proto::status::Status;
use crate::server::guard::Outcome;
use crate::server::persist::{Ask, PersistError, Standing};
use crate::server::resume::{self, Claims, TokenError};
use crate::trust::Fingerprint;
use std::net::IpAddr;
use std::time::Instant;

/// The reply to a token past its expiry.
pub const EXPIRED: &str = "resume token expired, log in with your password";
/// The reply to a token whose account changed its password or was banned since.
pub const REVOKED: &str =
    "resume token revoked (the password was changed or the account banned), log in with your password";
/// The reply to a token this hub did not make (another hub's, altered, or garbage).
pub const INVALID: &str = "resume token not valid on this hub, log in with your password";

/// What a `Resume` claims: the token, the peer port and the key it announces.
#[derive(Debug)]
pub(super) struct ResumeClaim {
    pub(super) token: String,
    pub(super) peer_port: u16,
    pub(super) fingerprint: Fingerprint,
}

/// A login with a well-signed token, waiting for the account's standing.
#[derive(Debug)]
pub(super) struct ResumeCheck {
    to: ReplyTo,
    ip: IpAddr,
    claims: Claims,
    token: String,
    peer_port: u16,
}

impl Hub {
    /// `Resume`: the checks a login passes, then the token, then the account's standing
    /// (an ask).
    pub(super) fn resume_login(
        &mut self,
        conn: ConnId,
        tag: u32,
        claim: ResumeClaim,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let ResumeClaim {
            token,
            peer_port,
            fingerprint,
        } = claim;
        let Some(to) = self.reply_to(conn, tag) else {
            return;
        };
        let Some(ip) = self.may_log_in(&to, peer_port, None, out) else {
            return;
        };
        self.claim_key(conn, fingerprint);
        // An address that failed too often is refused here too (tokens cost no hash).
        if let Err(refusal) = self.guard.check(ip, None, 0, now) {
            let (status, text, body) = super::accounts::rate_limited(refusal);
            return self.send_reply(&to, (status, text), body, out);
        }
        let claims = match self.token_claims(&token) {
            Ok(claims) => claims,
            Err(e) => {
                // Only a token this hub never made tells of an attacker.
                if e != TokenError::Expired {
                    self.guard.checked(ip, None, 0, Outcome::Failed, now);
                }
                let text = if e == TokenError::Expired {
                    EXPIRED
                } else {
                    INVALID
                };
                return self.send_reply(&to, refused(text), Body::None, out);
            }
        };
        let ask = Ask::Standing {
            name: claims.user.clone(),
        };
        let check = ResumeCheck {
            to,
            ip,
            claims,
            token,
            peer_port,
        };
        self.ask(ask, Waiting::Account(Then::Resumed(check)), out);
    }

    /// What a token says, if this hub signed it and its time runs still. A token that
    /// outlives the `--resume-ttl` of now (made under a longer one) counts as expired.
    fn token_claims(&self, token: &str) -> Result<Claims, TokenError> {
        let claims = resume::check(&self.config.resume_secret, token, self.wall)?;
        let horizon = self.wall.saturating_add(self.config.resume_ttl.as_secs());
        if claims.expires > horizon {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// The account's standing came back: refuse the login as a password login would be
    /// (no account, banned), or as revoked; else let it in.
    pub(super) fn resumed(
        &mut self,
        check: ResumeCheck,
        standing: Result<Standing, PersistError>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let ResumeCheck {
            to,
            ip,
            claims,
            token,
            peer_port,
        } = check;
        let standing = match standing {
            Ok(standing) => standing,
            Err(e) => return self.send_reply(&to, account_failure(&e), Body::None, out),
        };
        let name = claims.user;
        if let Some(said) = self.ban_refusal(&name, standing.banned_until) {
            return self.send_reply(&to, said, Body::None, out);
        }
        if standing.token_version != claims.version {
            return self.send_reply(&to, refused(REVOKED), Body::None, out);
        }
        self.guard
            .checked(ip, Some(&name), 0, Outcome::Success, now);
        let grant = Grant {
            peer_port,
            token,
            resumed: true,
        };
        self.admit(to, name, grant, now, out);
    }
}

/// A 419 with `text`.
fn refused(text: &str) -> (Status, String) {
    (Status::TOKEN_REFUSED, text.to_owned())
}
