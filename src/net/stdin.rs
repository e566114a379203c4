//! Typed lines from fd 0, whether it is a terminal, a pipe or a regular file.
//!
//! epoll refuses regular files and some character devices (`/dev/null`) with EPERM:
//! those are read directly, one chunk per loop turn, as an always-ready source.

use crate::sys;
use log::warn;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use std::io::{self, Read};
use std::os::fd::{AsFd, RawFd};

const STDIN_FD: RawFd = 0;
/// Reads of stdin per loop turn.
const CHUNKS_PER_TURN: usize = 4;
/// Longest line kept; longer lines are cut (a typed command never needs more).
const MAX_LINE: usize = 64 * 1024;

/// How stdin is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Registered with the poll; set non-blocking while we own it.
    Polled { old_flags: i32 },
    /// Not pollable: always ready until end of input.
    Direct,
}

/// Lines typed or piped on stdin.
pub struct StdinLines {
    mode: Mode,
    buf: Vec<u8>,
    eof: bool,
    /// A polled read stopped at its per-turn cap with input possibly left.
    more: bool,
}

impl StdinLines {
    /// Register stdin with the poll, or fall back to direct reads when epoll refuses it.
    pub fn register(registry: &Registry, token: Token) -> io::Result<StdinLines> {
        let mode = match registry.register(&mut SourceFd(&STDIN_FD), token, Interest::READABLE) {
            Ok(()) => {
                let old_flags = sys::fd_flags(io::stdin().as_fd())?;
                sys::set_fd_flags(io::stdin().as_fd(), old_flags | libc::O_NONBLOCK)?;
                Mode::Polled { old_flags }
            }
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => Mode::Direct,
            Err(e) => return Err(e),
        };
        Ok(StdinLines {
            mode,
            buf: Vec::new(),
            eof: false,
            more: false,
        })
    }

    /// Whether the loop must not sleep: a direct source with input left, or a polled
    /// one that stopped at its per-turn cap (no new edge will come for those bytes).
    pub fn always_ready(&self) -> bool {
        !self.eof && (self.mode == Mode::Direct || self.more)
    }

    /// Whether the end of input was reached (and every line handed out).
    pub fn at_eof(&self) -> bool {
        self.eof
    }

    /// [`StdinLines::read_lines`] for a loop: the lines read; a read error is logged
    /// (after `what`) and the lines read before it still count.
    pub fn read_lines_or_warn(&mut self, what: &str) -> Vec<String> {
        let mut lines = Vec::new();
        if let Err(e) = self.read_lines(&mut lines) {
            warn!("{what}: {e}");
        }
        lines
    }

    /// [`StdinLines::read_bytes`] for a loop: the bytes read; a read error is logged
    /// (after `what`).
    pub fn read_bytes_or_warn(&mut self, what: &str) -> Vec<u8> {
        let mut bytes = Vec::new();
        if let Err(e) = self.read_bytes(&mut bytes) {
            warn!("{what}: {e}");
        }
        bytes
    }

    /// Leave the poll at the end of input (a direct source never joined it). An error
    /// is of no consequence: the source is done either way.
    pub fn leave_poll(&self, registry: &Registry) {
        if !self.always_ready() {
            let _ = registry.deregister(&mut SourceFd(&STDIN_FD));
        }
    }

    /// Read what is available and append complete lines (without `\n`/`\r\n`) to `out`.
    /// At end of input a last unterminated line is handed out too.
    pub fn read_lines(&mut self, out: &mut Vec<String>) -> io::Result<()> {
        let mut bytes = Vec::new();
        let result = self.read_bytes(&mut bytes);
        self.take_lines(&bytes, out);
        if self.eof && !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            out.push(line_text(&rest));
        }
        result
    }

    /// Read what is available, as raw bytes (a terminal in raw mode), onto `out`.
    pub fn read_bytes(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        if self.eof {
            return Ok(());
        }
        let mut chunk = [0u8; 16 * 1024];
        let mut stdin = io::stdin().lock();
        self.more = false;
        // A fast pipe must not keep the loop from everything else: a few chunks a turn.
        for _ in 0..CHUNKS_PER_TURN {
            match stdin.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    out.extend_from_slice(&chunk[..n]);
                    if self.mode == Mode::Direct {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.eof = true;
                    return Err(e);
                }
            }
        }
        self.more = true;
        Ok(())
    }

    fn take_lines(&mut self, bytes: &[u8], out: &mut Vec<String>) {
        for &b in bytes {
            if b == b'\n' {
                let line = std::mem::take(&mut self.buf);
                out.push(line_text(&line));
            } else if self.buf.len() < MAX_LINE {
                self.buf.push(b);
            }
        }
    }
}

fn line_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

impl Drop for StdinLines {
    fn drop(&mut self) {
        if let Mode::Polled { old_flags } = self.mode {
            // Nothing is left to tell in a drop: a failure leaves stdin non-blocking.
            let _ = sys::set_fd_flags(io::stdin().as_fd(), old_flags);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_chunks_and_crlf() {
        let mut lines = StdinLines {
            mode: Mode::Direct,
            buf: Vec::new(),
            eof: false,
            more: false,
        };
        let mut out = Vec::new();
        lines.take_lines(b"one\r\ntw", &mut out);
        lines.take_lines(b"o\n\nthree", &mut out);
        assert_eq!(out, vec!["one", "two", ""]);
        assert_eq!(lines.buf, b"three");
    }
}
