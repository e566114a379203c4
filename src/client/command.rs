//! Pure parser for the commands typed at the `peerhub client` prompt (no I/O).
//!
//! One table (`table.rs`) defines every command once: its variant and fields, its
//! usage line, a short description and how it is built. The usage line is the single
//! source of truth for each command's positional arguments and options, so [`usage`],
//! [`help_text`] and the arity and option checks in [`parse_line`] can never disagree.
//! The rooms: `lex` (quoting and words), `args` (checking arguments against a usage
//! line), `table` (the commands).
//!
//! Grammar:
//! - words are separated by spaces and tabs; `"…"` quotes (a quoted part may
//!   contain spaces and may be glued to unquoted text: `a"b c"` is `ab c`); a
//!   backslash takes the next character literally, inside or outside quotes;
//! - options (`--from X`, `--as X`, `--replace`) may stand anywhere after the
//!   command word; a bare `--` ends option parsing;
//! - `say <text>` and `msg <user> <text>` take the rest of the line exactly as
//!   typed (only the whitespace before the text and a trailing CR/LF are removed);
//! - blank lines and lines whose first non-blank character is `#` are ignored;
//! - the command word is case-insensitive.

mod args;
mod lex;
mod table;
#[cfg(test)]
mod tests;

use std::fmt;

use args::Args;
#[cfg(test)]
use args::Spec;
pub use lex::split_words;
use lex::{is_blank, next_word, strip_eol};
pub use table::Command;
use table::{lookup, TABLE};

/// Why a typed line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The command word as typed, lowercased; empty when no word could be read.
    pub command: String,
    /// A self-contained human explanation, including the usage line when the
    /// command is known (this is what `Display` prints).
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

/// The usage line for a command word (case-insensitive), e.g.
/// `usage("fetch") == Some("fetch <fname> [--from <user>] [--as <name>]")`.
pub fn usage(command: &str) -> Option<&'static str> {
    lookup(command).map(|e| e.usage)
}

/// Every command word, in table order (what Tab completes).
pub fn words() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|e| e.word())
}

/// The help text: one line per command with its usage and a short description
/// (each line ends with `\n`).
pub fn help_text() -> String {
    let width = TABLE.iter().map(|e| e.usage.len()).max().unwrap_or(0);
    TABLE
        .iter()
        .map(|e| format!("{:<width$}  {}\n", e.usage, e.about))
        .collect()
}

/// Parse one typed line. `Ok(None)` for a blank line or a line whose first
/// non-blank character is `#`.
pub fn parse_line(line: &str) -> Result<Option<Command>, ParseError> {
    let line = strip_eol(line);
    let body = line.trim_start_matches(is_blank);
    if body.is_empty() || body.starts_with('#') {
        return Ok(None);
    }
    let (typed, after) = match next_word(line, 0) {
        Ok(Some(found)) => found,
        Ok(None) => return Ok(None),
        Err(e) => {
            return Err(ParseError {
                command: String::new(),
                message: e,
            });
        }
    };
    let word = typed.to_lowercase();
    let Some(entry) = lookup(&word) else {
        let hint = crate::suggest::did_you_mean(&word, words());
        return Err(ParseError {
            message: format!("unknown command {word:?}{hint}; type help for the list"),
            command: word,
        });
    };
    match Args::of_line(entry, line, after) {
        Ok(mut args) => Ok(Some((entry.build)(&mut args))),
        Err(what) => Err(ParseError {
            message: format!("{what}; usage: {}", entry.usage),
            command: word,
        }),
    }
}
