//! Primitives the wire codecs share: a bounded field [`Reader`], the length-capped string writer [`put_str`] and [`StatusError`], a refusal carrying the status to answer it with.

use super::frame::FrameError;
use super::message::Hash;
use super::status::Status;
use byteorder::{BigEndian, ByteOrder};
use std::fmt;
use std::marker::PhantomData;

/// Append `s` as a u16 byte length then its UTF-8 bytes, cut at a character boundary
/// to at most `max` bytes (and never more than `u16::MAX`).
pub fn put_str(out: &mut Vec<u8>, s: &str, max: usize) {
    let mut end = s.len().min(max).min(u16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&(end as u16).to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..end]);
}

/// What can be wrong with a payload's bytes before any field means anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// A field runs past the end (or a list count claims more than is left).
    Truncated,
    /// A string is not UTF-8.
    BadUtf8,
    /// Bytes are left after the last field.
    Trailing,
}

/// How a protocol reports a [`ReadError`]: each one words it (and picks its status) its own way.
pub trait Dialect {
    type Error;
    fn error(e: ReadError) -> Self::Error;
}

/// Reads fields from a payload, never past its end; errors are worded by `D`.
pub struct Reader<'a, D> {
    buf: &'a [u8],
    dialect: PhantomData<D>,
}

impl<'a, D: Dialect> Reader<'a, D> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            dialect: PhantomData,
        }
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], D::Error> {
        if self.buf.len() < n {
            return Err(D::error(ReadError::Truncated));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    pub fn u8(&mut self) -> Result<u8, D::Error> {
        Ok(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> Result<u16, D::Error> {
        Ok(BigEndian::read_u16(self.take(2)?))
    }
    pub fn u32(&mut self) -> Result<u32, D::Error> {
        Ok(BigEndian::read_u32(self.take(4)?))
    }
    pub fn u64(&mut self) -> Result<u64, D::Error> {
        Ok(BigEndian::read_u64(self.take(8)?))
    }
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], D::Error> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    pub fn hash(&mut self) -> Result<Hash, D::Error> {
        self.array()
    }
    /// A string: u16 byte length, then UTF-8.
    pub fn str(&mut self) -> Result<String, D::Error> {
        let len = self.u16()? as usize;
        std::str::from_utf8(self.take(len)?)
            .map(str::to_owned)
            .map_err(|_| D::error(ReadError::BadUtf8))
    }
    /// A u16 list count, checked against the bytes left (each item takes at least
    /// `min_item_bytes`) so a lying count cannot reserve memory.
    pub fn count(&mut self, min_item_bytes: usize) -> Result<usize, D::Error> {
        let n = self.u16()? as usize;
        if n * min_item_bytes > self.buf.len() {
            return Err(D::error(ReadError::Truncated));
        }
        Ok(n)
    }
    /// Every byte was read.
    pub fn end(&self) -> Result<(), D::Error> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(D::error(ReadError::Trailing))
        }
    }
}

/// Why a frame (peer handshake, store connection) was refused, with the status to
/// answer it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusError {
    pub status: Status,
    pub message: String,
}

impl StatusError {
    /// An error with this status.
    pub fn new(status: Status, message: impl Into<String>) -> StatusError {
        StatusError {
            status,
            message: message.into(),
        }
    }

    /// A 400.
    pub fn bad(message: impl Into<String>) -> StatusError {
        StatusError::new(Status::BAD_REQUEST, message)
    }
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.0, self.message)
    }
}

impl std::error::Error for StatusError {}

impl From<FrameError> for StatusError {
    fn from(e: FrameError) -> StatusError {
        match e {
            FrameError::TooLarge { .. } => StatusError::new(Status::TOO_LARGE, e.to_string()),
            FrameError::Empty => StatusError::bad(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    enum Plain {}
    impl Dialect for Plain {
        type Error = ReadError;
        fn error(e: ReadError) -> ReadError {
            e
        }
    }

    #[test]
    fn reads_stop_at_the_end() {
        let mut out = vec![7];
        put_str(&mut out, "été", 100);
        out.extend_from_slice(&[0xFF, 0xFF]);
        let mut r = Reader::<Plain>::new(&out);
        assert_eq!(r.u8(), Ok(7));
        assert_eq!(r.str().as_deref(), Ok("été"));
        assert_eq!(r.count(1), Err(ReadError::Truncated));
        assert_eq!(r.end(), Ok(()));
        assert_eq!(r.u8(), Err(ReadError::Truncated));
        assert_eq!(
            Reader::<Plain>::new(&[0, 1, 0xC3]).str(),
            Err(ReadError::BadUtf8)
        );
        assert_eq!(Reader::<Plain>::new(&[0]).end(), Err(ReadError::Trailing));
    }

    #[test]
    fn strings_are_cut_at_a_character_boundary() {
        let mut out = Vec::new();
        put_str(&mut out, "aé", 2);
        assert_eq!(out, [0, 1, b'a']);
    }
}
