//! Resume tokens: what a login reply hands the client so that it can log back in after
//! losing the hub — also a restarted hub — without its password and without an argon2
//! hash. Pure: minted and checked with the hub's [`ResumeSecret`] and the wall clock the
//! caller gives.
//!
//! A token names the account, the account's token version (the backend bumps it on
//! `passwd`, `setpass` and `ban`; a new account gets a fresh random one, so a name
//! deleted and registered again does not take old tokens) and when it expires, signed
//! with HMAC-SHA256. It travels as lowercase hex of
//! `format (1) · user length (1) · user · version (u64 BE) · expires (u64 BE) · tag (32)`
//! and is decoded strictly: one spelling per token, nothing before or after.

use crate::proto::names;
use crate::trust::resume_secret::TAG_BYTES;
use crate::trust::ResumeSecret;
use std::fmt;

/// The first byte of every token of this layout.
const FORMAT: u8 = 1;
/// Bytes around the user name: format, length, version, expiry, tag.
const FIXED_BYTES: usize = 1 + 1 + 8 + 8 + TAG_BYTES;
/// The longest token's text, in characters.
pub const MAX_TOKEN_CHARS: usize = 2 * (FIXED_BYTES + names::MAX_USER_LEN);

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The account.
    pub user: String,
    /// The account's token version when it was minted.
    pub version: u64,
    /// Wall-clock seconds (Unix time) from which it is refused.
    pub expires: u64,
}

/// Why a token is refused before the account is even looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not a token of this layout (`what` is wrong with it).
    Malformed(&'static str),
    /// Well formed but not signed with this hub's secret.
    Forged,
    /// Its time is over.
    Expired,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Malformed(what) => write!(f, "malformed resume token: {what}"),
            TokenError::Forged => f.write_str("resume token not signed by this hub"),
            TokenError::Expired => f.write_str("resume token expired"),
        }
    }
}

impl std::error::Error for TokenError {}

/// The signed part of a token: everything before the tag.
fn signed_bytes(claims: &Claims) -> Vec<u8> {
    let mut out = Vec::with_capacity(FIXED_BYTES + claims.user.len());
    out.push(FORMAT);
    out.push(claims.user.len() as u8);
    out.extend_from_slice(claims.user.as_bytes());
    out.extend_from_slice(&claims.version.to_be_bytes());
    out.extend_from_slice(&claims.expires.to_be_bytes());
    out
}

/// The token for `claims` (whose user is a valid user name), signed with `secret`.
pub fn mint(secret: &ResumeSecret, claims: &Claims) -> String {
    let mut bytes = signed_bytes(claims);
    let tag = secret.sign(&bytes);
    bytes.extend_from_slice(&tag);
    hex(&bytes)
}

/// The claims and tag of a token's text, without checking the tag: every byte must be
/// where the layout puts it.
pub fn decode(text: &str) -> Result<(Claims, [u8; TAG_BYTES]), TokenError> {
    if text.len() > MAX_TOKEN_CHARS {
        return Err(TokenError::Malformed("too long"));
    }
    let bytes = unhex(text)?;
    let (&format, rest) = bytes.split_first().ok_or(TokenError::Malformed("empty"))?;
    if format != FORMAT {
        return Err(TokenError::Malformed("unknown format"));
    }
    let (&len, rest) = rest
        .split_first()
        .ok_or(TokenError::Malformed("too short"))?;
    let len = len as usize;
    if rest.len() != len + 8 + 8 + TAG_BYTES {
        return Err(TokenError::Malformed("wrong length"));
    }
    let (user, rest) = rest.split_at(len);
    let user = std::str::from_utf8(user).map_err(|_| TokenError::Malformed("user not UTF-8"))?;
    names::check_user(user).map_err(|_| TokenError::Malformed("not a user name"))?;
    let (version, rest) = rest.split_at(8);
    let (expires, tag) = rest.split_at(8);
    let number = |b: &[u8]| <[u8; 8]>::try_from(b).map(u64::from_be_bytes);
    let claims = Claims {
        user: user.to_owned(),
        version: number(version).map_err(|_| TokenError::Malformed("version"))?,
        expires: number(expires).map_err(|_| TokenError::Malformed("expiry"))?,
    };
    let tag = <[u8; TAG_BYTES]>::try_from(tag).map_err(|_| TokenError::Malformed("tag"))?;
    Ok((claims, tag))
}

/// The claims of a token signed with `secret` that is still valid at `wall` (Unix
/// seconds). Whether the account still has that version is the caller's to ask.
pub fn check(secret: &ResumeSecret, text: &str, wall: u64) -> Result<Claims, TokenError> {
    let (claims, tag) = decode(text)?;
    if !secret.verify(&signed_bytes(&claims), &tag) {
        return Err(TokenError::Forged);
    }
    if claims.expires <= wall {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// Bytes of lowercase hex (an odd length or any other character is refused).
fn unhex(text: &str) -> Result<Vec<u8>, TokenError> {
    fn digit(c: u8) -> Result<u8, TokenError> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            _ => Err(TokenError::Malformed("not lowercase hex")),
        }
    }
    let text = text.as_bytes();
    if text.len() % 2 != 0 {
        return Err(TokenError::Malformed("odd length"));
    }
    text.chunks_exact(2)
        .map(|pair| match pair {
            &[high, low] => Ok((digit(high)? << 4) | digit(low)?),
            _ => Err(TokenError::Malformed("odd length")),
        })
        .collect()
}

#[cfg(test)]
mod tests;
