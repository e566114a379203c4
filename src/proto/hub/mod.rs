//! The hub protocol: what a client asks ([`request`]) and what the hub answers or announces ([`reply`]), each message defined once in a table.
//!
//! A message is one frame; its first payload byte is the message type. Integers are
//! big-endian; strings are a u16 byte length then UTF-8; lists are a u16 count (at
//! most 65 535 items: an encoder writes the first 65 535 of a longer list).

#[macro_use]
mod table;
pub(crate) mod field;
pub mod reply;
pub mod request;
#[cfg(test)]
mod samples;
#[cfg(test)]
mod tests;

use super::codec::{self, Dialect, ReadError};
use std::fmt;

/// Why a payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Truncated,
    UnknownType(u8),
    BadUtf8,
    BadMagic,
    BadValue(&'static str),
    TrailingBytes,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("message truncated"),
            DecodeError::UnknownType(t) => write!(f, "unknown message type {t:#04x}"),
            DecodeError::BadUtf8 => f.write_str("text is not valid UTF-8"),
            DecodeError::BadMagic => f.write_str("not a peerhub hello"),
            DecodeError::BadValue(what) => write!(f, "bad value for {what}"),
            DecodeError::TrailingBytes => f.write_str("trailing bytes after message"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl Dialect for DecodeError {
    type Error = DecodeError;
    fn error(e: ReadError) -> DecodeError {
        match e {
            ReadError::Truncated => DecodeError::Truncated,
            ReadError::BadUtf8 => DecodeError::BadUtf8,
            ReadError::Trailing => DecodeError::TrailingBytes,
        }
    }
}

/// Reads fields from a hub message, never past its end.
pub(crate) type Reader<'a> = codec::Reader<'a, DecodeError>;
