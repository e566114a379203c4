//! Keys from the bytes a terminal sends in raw mode (pure): control characters,
//! UTF-8 text, and the escape sequences of xterm-like terminals. A sequence or a
//! character cut between two reads waits for the rest.

/// One key press the line editor acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Enter,
    Tab,
    Backspace,
    Delete,
    Left,
    Right,
    Up,
    Down,
    Home,
    End,
    WordLeft,
    WordRight,
    /// Ctrl-W, Alt-Backspace: delete the word before the cursor.
    DeleteWordBack,
    /// Alt-D: delete the word after the cursor.
    DeleteWordForward,
    /// Ctrl-U: delete from the start of the line to the cursor.
    KillToStart,
    /// Ctrl-K: delete from the cursor to the end of the line.
    KillToEnd,
    /// Ctrl-C.
    Interrupt,
    /// Ctrl-D.
    EndOfInput,
    /// Ctrl-L.
    Redraw,
}

/// Turns raw bytes into [`Key`]s, keeping an unfinished sequence for the next read.
#[derive(Debug, Default)]
pub struct KeyParser {
    pending: Vec<u8>,
}

/// Longest escape sequence kept while waiting for its end; past it, it is dropped.
const MAX_SEQUENCE: usize = 32;

impl KeyParser {
    /// Append the keys in `bytes` to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Key>) {
        self.pending.extend_from_slice(bytes);
        let mut at = 0;
        while at < self.pending.len() {
            match parse_one(&self.pending[at..]) {
                Parsed::Key(key, used) => {
                    out.push(key);
                    at += used;
                }
                Parsed::Skip(used) => at += used,
                Parsed::Incomplete if self.pending.len() - at > MAX_SEQUENCE => at += 1,
                Parsed::Incomplete => break,
            }
        }
        self.pending.drain(..at);
    }
}

enum Parsed {
    Key(Key, usize),
    /// Bytes that mean nothing to the editor (an unknown sequence, a stray byte).
    Skip(usize),
    Incomplete,
}

fn parse_one(b: &[u8]) -> Parsed {
    let Some(&first) = b.first() else {
        return Parsed::Incomplete;
    };
    let key = match first {
        0x1b => return escape(b),
        b'\r' | b'\n' => Key::Enter,
        b'\t' => Key::Tab,
        0x7f | 0x08 => Key::Backspace,
        0x01 => Key::Home,
        0x05 => Key::End,
        0x02 => Key::Left,
        0x06 => Key::Right,
        0x10 => Key::Up,
        0x0e => Key::Down,
        0x15 => Key::KillToStart,
        0x0b => Key::KillToEnd,
        0x17 => Key::DeleteWordBack,
        0x03 => Key::Interrupt,
        0x04 => Key::EndOfInput,
        0x0c => Key::Redraw,
        0x00..=0x1f => return Parsed::Skip(1),
        _ => return utf8(b),
    };
    Parsed::Key(key, 1)
}

fn utf8(b: &[u8]) -> Parsed {
    let len = match b[0] {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return Parsed::Skip(1),
    };
    let Some(bytes) = b.get(..len) else {
        // A continuation byte that cannot belong here ends the wait early.
        return if b[1..].iter().all(|c| c & 0xc0 == 0x80) {
            Parsed::Incomplete
        } else {
            Parsed::Skip(1)
        };
    };
    match std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.chars().next())
    {
        Some(c) => Parsed::Key(Key::Char(c), len),
        None => Parsed::Skip(1),
    }
}

fn escape(b: &[u8]) -> Parsed {
    let Some(&second) = b.get(1) else {
        return Parsed::Incomplete;
    };
    match second {
        b'[' => csi(b),
        b'O' => match b.get(2) {
            None => Parsed::Incomplete,
            Some(&c) => ss3(c).map_or(Parsed::Skip(3), |k| Parsed::Key(k, 3)),
        },
        0x7f | 0x08 => Parsed::Key(Key::DeleteWordBack, 2),
        b'b' => Parsed::Key(Key::WordLeft, 2),
        b'f' => Parsed::Key(Key::WordRight, 2),
        b'd' => Parsed::Key(Key::DeleteWordForward, 2),
        // A lone Escape followed by another key: drop the Escape.
        _ => Parsed::Skip(1),
    }
}

fn ss3(c: u8) -> Option<Key> {
    Some(match c {
        b'A' => Key::Up,
        b'B' => Key::Down,
        b'C' => Key::Right,
        b'D' => Key::Left,
        b'H' => Key::Home,
        b'F' => Key::End,
        _ => return None,
    })
}

/// `ESC [ params final`: arrows, Home/End, Delete, and their Ctrl/Alt variants.
fn csi(b: &[u8]) -> Parsed {
    let body = &b[2..];
    let Some(end) = body.iter().position(|c| (0x40..=0x7e).contains(c)) else {
        return Parsed::Incomplete;
    };
    let used = 2 + end + 1;
    let params = &body[..end];
    let modified = params.contains(&b';');
    let key = match (body[end], params) {
        (b'A', _) => Key::Up,
        (b'B', _) => Key::Down,
        (b'C', _) if modified => Key::WordRight,
        (b'D', _) if modified => Key::WordLeft,
        (b'C', _) => Key::Right,
        (b'D', _) => Key::Left,
        (b'H', _) => Key::Home,
        (b'F', _) => Key::End,
        (b'~', b"1" | b"7") => Key::Home,
        (b'~', b"4" | b"8") => Key::End,
        (b'~', b"3") => Key::Delete,
        _ => return Parsed::Skip(used),
    };
    Parsed::Key(key, used)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(chunks: &[&[u8]]) -> Vec<Key> {
        let mut p = KeyParser::default();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut out);
        }
        out
    }

    #[test]
    fn controls_text_and_sequences() {
        use Key::*;
        assert_eq!(
            keys(&[b"a\x01\x05\x15\x0b\x17\x7f\t\r\x03\x04"]),
            [
                Char('a'),
                Home,
                End,
                KillToStart,
                KillToEnd,
                DeleteWordBack,
                Backspace,
                Tab,
                Enter,
                Interrupt,
                EndOfInput
            ]
        );
        assert_eq!(
            keys(&[b"\x1b[A\x1b[B\x1b[C\x1b[D\x1b[H\x1b[F\x1bOH\x1b[4~\x1b[3~"]),
            [Up, Down, Right, Left, Home, End, Home, End, Delete]
        );
        assert_eq!(
            keys(&[b"\x1b\x7f\x1b[1;5D\x1b[1;3C\x1bb\x1bf\x1bd"]),
            [
                DeleteWordBack,
                WordLeft,
                WordRight,
                WordLeft,
                WordRight,
                DeleteWordForward
            ]
        );
        // Unknown sequences are skipped whole.
        assert_eq!(keys(&[b"\x1b[200~x\x1b[15~"]), [Char('x')]);
    }

    #[test]
    fn sequences_and_characters_split_across_reads() {
        assert_eq!(keys(&[b"\x1b", b"[", b"1;5", b"C"]), [Key::WordRight]);
        let e = "é€".as_bytes();
        assert_eq!(
            keys(&[&e[..1], &e[1..3], &e[3..]]),
            [Key::Char('é'), Key::Char('€')]
        );
        // Invalid UTF-8 is dropped, the next character kept.
        assert_eq!(keys(&[b"\xff\xc3a"]), [Key::Char('a')]);
    }
}
