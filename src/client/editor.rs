//! The line editor of the client on a terminal (pure: no I/O). It keeps the line
//! being typed, its cursor and the history, and renders the bottom of the screen —
//! status lines (progress bars) above one input line — as a byte string. Text that
//! arrives meanwhile is printed above that area, which is then drawn again, so chat
//! never lands in the middle of what is being typed. Neither the input line nor a
//! status line is ever wider than the terminal: the input scrolls sideways, status
//! lines are cut, so the area's height is always known and nothing wraps.

use super::complete::{complete, Vocabulary};
use super::keys::{Key, KeyParser};

/// Longest line the editor takes (bytes of UTF-8): a command never needs more, and a
/// longer paste is cut with a notice, never silently.
pub const MAX_INPUT: usize = 64 * 1024;
/// History entries kept (in memory and on disk).
pub const MAX_HISTORY: usize = 1000;

/// What a batch of keys produced for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Enter on a line (as typed).
    Line(String),
    /// Enter while asking for a secret: what was typed (never echoed).
    Secret(String),
    /// Ctrl-C.
    Interrupt,
    /// Ctrl-D on an empty line.
    EndOfInput,
}

/// The editor and the bottom area of the screen it owns.
#[derive(Debug)]
pub struct Editor {
    parser: KeyParser,
    prompt: String,
    line: Vec<char>,
    cursor: usize,
    /// First character of the line shown (the line scrolls sideways).
    scroll: usize,
    history: Vec<String>,
    /// Which history entry is shown, while browsing.
    browsing: Option<usize>,
    /// The line being typed before browsing started.
    draft: Vec<char>,
    /// Asking for a secret: its prompt; the line is not echoed nor kept in history.
    secret: Option<String>,
    /// Whether there is an input line at all (false: only status lines are drawn).
    input: bool,
    status: Vec<String>,
    width: usize,
    /// Rows of the area on screen now (0: nothing drawn).
    drawn: usize,
    /// Bytes for the terminal, taken by [`Editor::take_output`].
    out: Vec<u8>,
    dirty: bool,
    /// Characters of a paste dropped for [`MAX_INPUT`], to be said once.
    dropped: usize,
}

impl Editor {
    /// An editor with `prompt`, `width` columns, and an input line when `input`.
    pub fn new(prompt: &str, width: usize, input: bool) -> Editor {
        Editor {
            parser: KeyParser::default(),
            prompt: prompt.to_owned(),
            line: Vec::new(),
            cursor: 0,
            scroll: 0,
            history: Vec::new(),
            browsing: None,
            draft: Vec::new(),
            secret: None,
            input,
            status: Vec::new(),
            width,
            drawn: 0,
            out: Vec::new(),
            dirty: input,
            dropped: 0,
        }
    }

    /// The line as typed so far.
    pub fn line(&self) -> String {
        self.line.iter().collect()
    }

    /// Whether a secret is being asked for.
    pub fn asking(&self) -> bool {
        self.secret.is_some()
    }

    /// Replace the history (oldest first), e.g. with what an earlier run saved.
    pub fn set_history(&mut self, entries: Vec<String>) {
        let skip = entries.len().saturating_sub(MAX_HISTORY);
        self.history = entries.into_iter().skip(skip).collect();
        self.browsing = None;
    }

    /// The history, oldest first.
    pub fn history(&self) -> &[String] {
        &self.history
    }

    /// Remember `entry` (blank lines and a repeat of the last entry are not kept).
    pub fn push_history(&mut self, entry: String) {
        if entry.trim().is_empty() || self.history.last() == Some(&entry) {
            return;
        }
        self.history.push(entry);
        let over = self.history.len().saturating_sub(MAX_HISTORY);
        self.history.drain(..over);
    }

    /// Ask for a secret with `prompt`: typed characters are not shown.
    pub fn ask_secret(&mut self, prompt: &str) {
        self.secret = Some(prompt.to_owned());
        self.set_line(Vec::new());
    }

    /// Stop asking for a secret (cancelled).
    pub fn stop_asking(&mut self) {
        self.secret = None;
        self.set_line(Vec::new());
    }

    /// The terminal is now `width` columns wide.
    pub fn resize(&mut self, width: usize) {
        self.width = width;
        // Old rows may have been re-wrapped by the terminal: clear from the top.
        self.dirty = true;
    }

    /// The status lines shown above the input line (progress bars).
    pub fn set_status(&mut self, lines: Vec<String>) {
        if lines != self.status {
            self.status = lines;
            self.dirty = true;
        }
    }

    /// Print `text` (one or more lines) above the area, which is then drawn again.
    pub fn print_above(&mut self, text: &str) {
        self.clear_area();
        for line in text.split('\n') {
            self.out.extend_from_slice(line.as_bytes());
            self.out.extend_from_slice(b"\r\n");
        }
        self.dirty = true;
    }

    /// Take the area off the screen for good (at exit): what was printed stays.
    pub fn finish(&mut self) -> Vec<u8> {
        self.clear_area();
        self.dirty = false;
        std::mem::take(&mut self.out)
    }

    /// Bytes to write to the terminal now: what was printed, and the area redrawn if
    /// anything in it changed.
    pub fn take_output(&mut self) -> Vec<u8> {
        if self.dirty {
            self.render();
        }
        std::mem::take(&mut self.out)
    }

    /// Feed bytes read from the terminal; what they completed goes to `edits`.
    pub fn feed(&mut self, bytes: &[u8], vocab: &Vocabulary, edits: &mut Vec<Edit>) {
        let mut keys = Vec::new();
        self.parser.feed(bytes, &mut keys);
        for key in keys {
            if let Some(edit) = self.key(key, vocab) {
                edits.push(edit);
            }
        }
        if self.dropped > 0 {
            let n = std::mem::take(&mut self.dropped);
            self.print_above(&format!(
                "the input line holds at most {MAX_INPUT} bytes: {n} character(s) were not added"
            ));
        }
    }

    fn key(&mut self, key: Key, vocab: &Vocabulary) -> Option<Edit> {
        self.dirty = true;
        if self.secret.is_some() {
            return self.secret_key(key);
        }
        match key {
            Key::Char(c) => self.insert(&[c]),
            Key::Enter => {
                let line = self.line();
                self.browsing = None;
                self.set_line(Vec::new());
                return Some(Edit::Line(line));
            }
            Key::Tab => self.tab(vocab),
            Key::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                self.line.remove(self.cursor);
            }
            Key::Delete if self.cursor < self.line.len() => {
                self.line.remove(self.cursor);
            }
            Key::EndOfInput if self.line.is_empty() => return Some(Edit::EndOfInput),
            Key::EndOfInput if self.cursor < self.line.len() => {
                self.line.remove(self.cursor);
            }
            Key::Left => self.cursor = self.cursor.saturating_sub(1),
            Key::Right => self.cursor = (self.cursor + 1).min(self.line.len()),
            Key::Home => self.cursor = 0,
            Key::End => self.cursor = self.line.len(),
            Key::WordLeft => self.cursor = self.word_start(self.cursor),
            Key::WordRight => self.cursor = self.word_end(self.cursor),
            Key::DeleteWordBack => {
                let start = self.word_start(self.cursor);
                self.line.drain(start..self.cursor);
                self.cursor = start;
            }
            Key::DeleteWordForward => {
                let end = self.word_end(self.cursor);
                self.line.drain(self.cursor..end);
            }
            Key::KillToStart => {
                self.line.drain(..self.cursor);
                self.cursor = 0;
            }
            Key::KillToEnd => self.line.truncate(self.cursor),
            Key::Up => self.browse_back(),
            Key::Down => self.browse_forward(),
            Key::Interrupt => return Some(Edit::Interrupt),
            Key::Redraw => {
                self.out.extend_from_slice(b"\x1b[H\x1b[2J");
                self.drawn = 0;
            }
            Key::Backspace | Key::Delete | Key::EndOfInput => {}
        }
        None
    }

    fn secret_key(&mut self, key: Key) -> Option<Edit> {
        match key {
            Key::Char(c) => self.insert(&[c]),
            Key::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                self.line.remove(self.cursor);
            }
            Key::KillToStart | Key::DeleteWordBack => self.set_line(Vec::new()),
            Key::Enter => {
                let secret = self.line();
                self.stop_asking();
                return Some(Edit::Secret(secret));
            }
            Key::Interrupt => return Some(Edit::Interrupt),
            _ => {}
        }
        None
    }

    fn insert(&mut self, chars: &[char]) {
        let mut used: usize = self.line.iter().map(|c| c.len_utf8()).sum();
        for &c in chars {
            if used + c.len_utf8() > MAX_INPUT {
                self.dropped += 1;
                continue;
            }
            used += c.len_utf8();
            self.line.insert(self.cursor, c);
            self.cursor += 1;
        }
    }

    fn set_line(&mut self, line: Vec<char>) {
        self.cursor = line.len();
        self.line = line;
        self.scroll = 0;
        self.dirty = true;
    }

    /// Start of the word before `at` (skipping the blanks before it).
    fn word_start(&self, at: usize) -> usize {
        let mut i = at;
        while i > 0 && self.line[i - 1].is_whitespace() {
            i -= 1;
        }
        while i > 0 && !self.line[i - 1].is_whitespace() {
            i -= 1;
        }
        i
    }

    /// End of the word after `at` (skipping the blanks before it).
    fn word_end(&self, at: usize) -> usize {
        let mut i = at;
        while i < self.line.len() && self.line[i].is_whitespace() {
            i += 1;
        }
        while i < self.line.len() && !self.line[i].is_whitespace() {
            i += 1;
        }
        i
    }

    fn browse_back(&mut self) {
        let at = match self.browsing {
            None if self.history.is_empty() => return,
            None => {
                self.draft = self.line.clone();
                self.history.len() - 1
            }
            Some(0) => return,
            Some(i) => i - 1,
        };
        self.browsing = Some(at);
        let entry = self.history[at].chars().collect();
        self.set_line(entry);
    }

    fn browse_forward(&mut self) {
        let Some(i) = self.browsing else {
            return;
        };
        if i + 1 < self.history.len() {
            self.browsing = Some(i + 1);
            let entry = self.history[i + 1].chars().collect();
            self.set_line(entry);
        } else {
            self.browsing = None;
            let draft = std::mem::take(&mut self.draft);
            self.set_line(draft);
        }
    }

    fn tab(&mut self, vocab: &Vocabulary) {
        let before: String = self.line[..self.cursor].iter().collect();
        let done = complete(&before, vocab);
        let start = before[..done.start].chars().count();
        let add: Vec<char> = done.replacement.chars().collect();
        if add != self.line[start..self.cursor] {
            self.line.drain(start..self.cursor);
            self.cursor = start;
            self.insert(&add);
        } else if done.choices.len() > 1 {
            self.print_above(&done.choices.join("  "));
        }
    }

    fn clear_area(&mut self) {
        if self.drawn == 0 {
            return;
        }
        self.out.push(b'\r');
        if self.drawn > 1 {
            self.out
                .extend_from_slice(format!("\x1b[{}A", self.drawn - 1).as_bytes());
        }
        self.out.extend_from_slice(b"\x1b[J");
        self.drawn = 0;
    }

    fn render(&mut self) {
        self.dirty = false;
        self.clear_area();
        if !self.input && self.status.is_empty() {
            return;
        }
        // The last column stays empty: writing there would wrap on some terminals.
        let cols = self.width.max(10) - 1;
        for line in &self.status {
            let cut: String = line.chars().take(cols).collect();
            self.out.extend_from_slice(cut.as_bytes());
            self.out.extend_from_slice(b"\r\n");
        }
        self.drawn = self.status.len() + 1;
        if !self.input {
            return;
        }
        let prompt: String = match &self.secret {
            Some(p) => p.clone(),
            None => self.prompt.clone(),
        };
        let prompt: String = prompt.chars().take(cols / 2).collect();
        self.out.extend_from_slice(prompt.as_bytes());
        if self.secret.is_some() {
            return;
        }
        let room = (cols - prompt.chars().count()).max(1);
        if self.cursor < self.scroll {
            self.scroll = self.cursor;
        } else if self.cursor - self.scroll >= room {
            self.scroll = self.cursor + 1 - room;
        }
        let shown: String = self.line.iter().skip(self.scroll).take(room).collect();
        self.out.extend_from_slice(shown.as_bytes());
        let col = prompt.chars().count() + self.cursor - self.scroll;
        self.out.push(b'\r');
        if col > 0 {
            self.out
                .extend_from_slice(format!("\x1b[{col}C").as_bytes());
        }
    }
}

#[cfg(test)]
mod tests;
