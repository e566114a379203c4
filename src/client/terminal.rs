//! The client on a terminal: raw mode (restored on exit, on Ctrl-C and on panic), the
//! terminal's width, and the glue between stdin's bytes, the pure [`Editor`] and
//! stdout. The loop feeds it what stdin had and what the session printed; it hands
//! back typed lines and writes what the editor rendered. It also asks for passwords
//! left off `login`, `register` and `passwd`, without echo, and keeps the history.

use super::complete::Vocabulary;
use super::editor::{Edit, Editor};
use super::history;
use crate::net::stdin::StdinLines;
use crate::output::{CommandResult, Event};
use crate::sys;
use log::warn;
use mio::{Registry, Token};
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

const PROMPT: &str = "> ";

/// What the person at the terminal did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A command line, passwords filled in.
    Line(String),
    /// Ctrl-C (not while a password is asked: that only cancels the question).
    Interrupt,
    /// Ctrl-D on an empty line, or the terminal went away.
    EndOfInput,
}

/// The terminal's settings before raw mode, for every way out (drop, panic hook).
static SAVED: Mutex<Option<libc::termios>> = Mutex::new(None);

fn restore_saved() {
    let saved = SAVED.lock().ok().and_then(|mut s| s.take());
    if let Some(t) = saved {
        // On the way out (drop, panic) nothing is left to tell of a failure.
        let _ = sys::set_termios(io::stdin().as_fd(), &t);
    }
}

/// Raw input on fd 0: no line discipline, no echo, Ctrl-C as a byte. Output keeps its
/// processing (`\n` still returns the carriage), so log lines stay readable.
fn enter_raw_mode() -> io::Result<()> {
    let mut t = sys::termios(io::stdin().as_fd())?;
    if let Ok(mut saved) = SAVED.lock() {
        *saved = Some(t);
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_saved();
        previous(info);
    }));
    t.c_lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG | libc::IEXTEN);
    t.c_iflag &= !(libc::IXON | libc::ICRNL | libc::INLCR | libc::IGNCR | libc::ISTRIP);
    t.c_cc[libc::VMIN] = 1;
    t.c_cc[libc::VTIME] = 0;
    sys::set_termios(io::stdin().as_fd(), &t)
}

/// Columns of the terminal on stdout (80 when it cannot say).
pub fn width() -> usize {
    sys::terminal_columns(io::stdout().as_fd()).map_or(80, usize::from)
}

/// Write all of `bytes` to stdout, waiting while a non-blocking terminal is full (fd 0
/// and fd 1 of a terminal usually share one file description, so `O_NONBLOCK` set on
/// stdin applies to stdout too).
fn write_stdout(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let e = match sys::write_fd(io::stdout().as_fd(), bytes) {
            Ok(0) => return,
            Ok(n) => {
                bytes = &bytes[n..];
                continue;
            }
            Err(e) => e,
        };
        match e.kind() {
            io::ErrorKind::Interrupted => {}
            io::ErrorKind::WouldBlock => {
                // A failed wait only means another try at the write.
                let _ = sys::poll_fd(io::stdout().as_fd(), libc::POLLOUT, Duration::from_secs(1));
            }
            // A closed terminal: nobody is left to tell.
            _ => return,
        }
    }
}

/// The bottom of the screen and, when interactive, the keyboard.
pub struct Terminal {
    editor: Editor,
    vocab: Vocabulary,
    /// Names found by searches and store listings (mine are added at each read).
    found: std::collections::BTreeSet<String>,
    /// Raw bytes of fd 0, when the editor reads the keyboard.
    keys: Option<StdinLines>,
    share: PathBuf,
    ask: Option<Ask>,
}

impl Terminal {
    /// Take the terminal: with `keyboard`, stdin in raw mode under the line editor;
    /// without, only the status lines (progress bars) and printing above them.
    pub fn start(
        registry: &Registry,
        token: Token,
        share: &Path,
        keyboard: bool,
    ) -> io::Result<Terminal> {
        let mut editor = Editor::new(PROMPT, width(), keyboard);
        let keys = if keyboard {
            let keys = StdinLines::register(registry, token)?;
            enter_raw_mode()?;
            editor.set_history(history::load(share));
            Some(keys)
        } else {
            None
        };
        Ok(Terminal {
            editor,
            vocab: Vocabulary::default(),
            found: Default::default(),
            keys,
            share: share.to_path_buf(),
            ask: None,
        })
    }

    /// Whether the keyboard is read here (stdin must not be read elsewhere).
    pub fn has_keyboard(&self) -> bool {
        self.keys.is_some()
    }

    /// Read the keys waiting on stdin; `mine` are the names I publish (for Tab).
    pub fn read(&mut self, mine: impl Iterator<Item = String>, out: &mut Vec<Input>) {
        let Some(keys) = self.keys.as_mut() else {
            return;
        };
        let bytes = keys.read_bytes_or_warn("reading the terminal");
        let eof = keys.at_eof();
        self.vocab.files = self.found.iter().cloned().chain(mine).collect();
        let mut edits = Vec::new();
        self.editor.feed(&bytes, &self.vocab, &mut edits);
        for edit in edits {
            self.on_edit(edit, out);
        }
        if eof {
            out.push(Input::EndOfInput);
        }
        self.flush();
    }

    /// Whether unread keys may be left (the read stopped at its per-turn cap).
    pub fn always_ready(&self) -> bool {
        self.keys.as_ref().is_some_and(StdinLines::always_ready)
    }

    fn on_edit(&mut self, edit: Edit, out: &mut Vec<Input>) {
        match edit {
            Edit::Line(line) => {
                self.editor
                    .print_above(&format!("{PROMPT}{}", history::mask(&line)));
                self.editor.push_history(history::scrub(&line));
                if let Err(e) = history::save(&self.share, self.editor.history()) {
                    warn!("saving the command history: {e}");
                }
                match Ask::for_line(&line) {
                    Some(ask) => {
                        self.editor.ask_secret(ask.question());
                        self.ask = Some(ask);
                    }
                    None => out.push(Input::Line(line)),
                }
            }
            Edit::Secret(secret) => {
                let Some(mut ask) = self.ask.take() else {
                    return;
                };
                match ask.answer(secret) {
                    Answered::Ask => {
                        self.editor.ask_secret(ask.question());
                        self.ask = Some(ask);
                    }
                    Answered::Line(line) => out.push(Input::Line(line)),
                    Answered::Refused(why) => self.editor.print_above(&why),
                }
            }
            Edit::Interrupt if self.ask.take().is_some() => {
                self.editor.stop_asking();
                self.editor.print_above("cancelled");
            }
            Edit::Interrupt => out.push(Input::Interrupt),
            Edit::EndOfInput => out.push(Input::EndOfInput),
        }
    }

    /// Print `text` above the input line.
    pub fn print(&mut self, text: &str) {
        self.editor.print_above(text);
    }

    /// Learn names for Tab from what a command printed.
    pub fn learn_result(&mut self, r: &CommandResult) {
        let names = |key: &str| -> Vec<String> {
            r.fields
                .get(key)
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e.get("name").and_then(|n| n.as_str()))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        match r.command.as_str() {
            "users" if r.ok => {
                if let Some(users) = r.fields.get("users").and_then(|v| v.as_array()) {
                    self.vocab.users = users
                        .iter()
                        .filter_map(|u| u.as_str().map(str::to_owned))
                        .collect();
                }
            }
            "search" => self.found.extend(names("files")),
            "store" => self.found.extend(names("entries")),
            _ => {}
        }
    }

    /// Learn user names from joins and leaves.
    pub fn learn_event(&mut self, e: &Event) {
        let user = e.fields.get("user").and_then(|u| u.as_str());
        match (e.name, user) {
            ("join", Some(u)) => {
                self.vocab.users.insert(u.to_owned());
            }
            ("leave", Some(u)) => {
                self.vocab.users.remove(u);
            }
            _ => {}
        }
    }

    /// The status lines above the input line (progress bars).
    pub fn set_status(&mut self, lines: Vec<String>) {
        self.editor.set_status(lines);
    }

    /// The terminal was resized.
    pub fn resized(&mut self) {
        self.editor.resize(width());
    }

    /// Write what is pending to the terminal.
    pub fn flush(&mut self) {
        let bytes = self.editor.take_output();
        write_stdout(&bytes);
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let bytes = self.editor.finish();
        write_stdout(&bytes);
        if self.keys.is_some() {
            restore_saved();
        }
    }
}

/// Passwords being asked for, one question after the other.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ask {
    /// The command and the words before the passwords (`login alice`).
    head: String,
    questions: Vec<String>,
    answers: Vec<String>,
    /// The last two answers must agree (a new password, typed twice).
    confirm: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Answered {
    Ask,
    Line(String),
    Refused(String),
}

impl Ask {
    /// The questions a line with its passwords left off needs, if it is one.
    fn for_line(line: &str) -> Option<Ask> {
        let words = super::command::split_words(line).ok()?;
        let word = words.first()?.to_lowercase();
        let ask = |head: String, questions: &[&str], confirm| Ask {
            head,
            questions: questions.iter().map(|q| (*q).to_owned()).collect(),
            answers: Vec::new(),
            confirm,
        };
        match (word.as_str(), words.as_slice()) {
            ("login", [_, user]) => Some(ask(
                format!("login {}", quote(user)),
                &[&format!("password for {user}: ")],
                false,
            )),
            ("register", [_, user]) => Some(ask(
                format!("register {}", quote(user)),
                &[&format!("password for the new account {user}: "), "again: "],
                true,
            )),
            ("passwd", [_]) => Some(ask(
                "passwd".into(),
                &["old password: ", "new password: ", "new password again: "],
                true,
            )),
            _ => None,
        }
    }

    fn question(&self) -> &str {
        self.questions
            .get(self.answers.len())
            .map_or("password: ", String::as_str)
    }

    fn answer(&mut self, secret: String) -> Answered {
        self.answers.push(secret);
        if self.answers.len() < self.questions.len() {
            return Answered::Ask;
        }
        let mut answers = std::mem::take(&mut self.answers);
        if self.confirm {
            let again = answers.pop().unwrap_or_default();
            if answers.last() != Some(&again) {
                return Answered::Refused("the two passwords differ; nothing was sent".into());
            }
        }
        let mut line = self.head.clone();
        for a in &answers {
            line.push(' ');
            line.push_str(&quote(a));
        }
        Answered::Line(line)
    }
}

/// A word quoted for the command grammar, whatever it holds.
fn quote(word: &str) -> String {
    format!("\"{}\"", word.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::command::{parse_line, Command};

    fn answers(line: &str, secrets: &[&str]) -> Vec<Answered> {
        let mut ask = Ask::for_line(line).expect("asks");
        secrets.iter().map(|s| ask.answer((*s).into())).collect()
    }

    #[test]
    fn passwords_left_off_are_asked_for() {
        assert_eq!(Ask::for_line("login alice pw"), None);
        assert_eq!(Ask::for_line("passwd a b"), None);
        assert_eq!(Ask::for_line("say login alice"), None);
        let ask = Ask::for_line("login alice").unwrap();
        assert_eq!(ask.question(), "password for alice: ");
        let got = answers("login alice", &["p \"w\\"]);
        let Answered::Line(line) = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!(
            parse_line(line).unwrap(),
            Some(Command::Login {
                user: "alice".into(),
                password: "p \"w\\".into()
            })
        );
        let got = answers("passwd", &["old", "new", "new"]);
        assert_eq!(got[..2], [Answered::Ask, Answered::Ask]);
        let Answered::Line(line) = &got[2] else {
            panic!("{got:?}")
        };
        assert_eq!(
            parse_line(line).unwrap(),
            Some(Command::Passwd {
                old: "old".into(),
                new: "new".into()
            })
        );
        let got = answers("register bob", &["one", "two"]);
        assert!(matches!(&got[1], Answered::Refused(_)), "{got:?}");
    }
}
