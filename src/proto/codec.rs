//! Primitives the wire codecs share: a bounded field [`Reader`], a big-endian field [`Writer`] with [`framed`] to build one frame, and [`StatusError`], a refusal carrying the status to answer it with.

use super::frame::{self, FrameError};
use super::status::Status;
use super::types::Hash;
use byteorder::{BigEndian, ByteOrder};
use std::fmt;
use std::marker::PhantomData;

/// Appends big-endian fields to a payload being built.
pub struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        Writer { out }
    }

    pub fn u8(&mut self, v: u8) {
        self.out.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    /// Raw bytes (a hash, a token, the magic), no length.
    pub fn bytes(&mut self, v: &[u8]) {
        self.out.extend_from_slice(v);
    }
    /// A string: a u16 byte length then its UTF-8 bytes, cut at a character boundary
    /// to at most `max` bytes (and never more than `u16::MAX`).
    pub fn str_max(&mut self, s: &str, max: usize) {
        let mut end = s.len().min(max).min(u16::MAX as usize);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.u16(end as u16);
        self.bytes(&s.as_bytes()[..end]);
    }
    /// A string of at most `u16::MAX` bytes (longer ones are cut; callers validate
    /// lengths long before that).
    pub fn str(&mut self, s: &str) {
        self.str_max(s, u16::MAX as usize);
    }
    /// The u16 count of a list of `len` items. A list holds at most `u16::MAX` items:
    /// returns how many the caller writes (the first ones), so count and items agree.
    pub fn count(&mut self, len: usize) -> usize {
        let n = len.min(u16::MAX as usize);
        self.u16(n as u16);
        n
    }
    /// Where the next byte goes (to patch a field once its value is known).
    pub fn position(&self) -> usize {
        self.out.len()
    }
    /// Overwrite the u16 written at `at`.
    pub fn patch_u16(&mut self, at: usize, v: u16) {
        self.out[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }
}

/// Build one frame: the length prefix, then whatever `fields` writes.
pub fn framed(out: &mut Vec<u8>, fields: impl FnOnce(&mut Writer)) {
    let start = frame::begin(out);
    fields(&mut Writer::new(out));
    frame::finish(out, start);
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
        let mut w = Writer::new(&mut out);
        w.str_max("été", 100);
        w.u16(0xFFFF);
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
        Writer::new(&mut out).str_max("aé", 2);
        assert_eq!(out, [0, 1, b'a']);
    }

    #[test]
    fn a_count_caps_at_u16_max_and_says_how_many_to_write() {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out);
        assert_eq!(w.count(3), 3);
        assert_eq!(w.count(70_000), 65_535);
        assert_eq!(out, [0, 3, 0xFF, 0xFF]);
    }
}
