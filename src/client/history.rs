//! The line editor's history on disk, `<share>/.peerhub-history`: one line per entry,
//! the last [`MAX_HISTORY`] kept, readable by its owner only. A line that carries
//! passwords (`login`, `register`, `passwd`) is kept without them.

use super::command;
use super::editor::MAX_HISTORY;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The history file's name in the share dir.
pub const FILE: &str = ".peerhub-history";

/// The commands whose arguments after the user name are passwords, and how many
/// words before them are kept (the command word, and the user name where there is one).
fn secret_after(word: &str) -> Option<usize> {
    match word {
        "login" | "register" => Some(2),
        "passwd" => Some(1),
        _ => None,
    }
}

fn words(line: &str) -> Vec<String> {
    command::split_words(line)
        .unwrap_or_else(|_| line.split_whitespace().map(str::to_owned).collect())
}

/// `line` as the history keeps it: without password arguments.
pub fn scrub(line: &str) -> String {
    masked(line, false)
}

/// `line` as it is echoed above the input: each password shown as `***`.
pub fn mask(line: &str) -> String {
    masked(line, true)
}

fn masked(line: &str, stars: bool) -> String {
    let words = words(line);
    let Some(keep) = words.first().and_then(|w| secret_after(&w.to_lowercase())) else {
        return line.to_owned();
    };
    let mut out: Vec<String> = words
        .iter()
        .take(keep)
        .map(|w| {
            if w.contains([' ', '\t', '"', '\\']) || w.is_empty() {
                format!("\"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""))
            } else {
                w.clone()
            }
        })
        .collect();
    if stars {
        out.extend(words.iter().skip(keep).map(|_| "***".to_owned()));
    }
    out.join(" ")
}

/// The entries saved by earlier runs, oldest first (none if there is no file).
pub fn load(share: &Path) -> Vec<String> {
    let text = std::fs::read(share.join(FILE)).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<String> = text.lines().map(scrub).collect();
    let skip = lines.len().saturating_sub(MAX_HISTORY);
    lines.into_iter().skip(skip).collect()
}

/// Write `entries` (the last [`MAX_HISTORY`]) in place of the file.
pub fn save(share: &Path, entries: &[String]) -> io::Result<()> {
    let tmp = share.join(format!("{FILE}.tmp"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    let skip = entries.len().saturating_sub(MAX_HISTORY);
    let mut text = String::new();
    for e in entries.iter().skip(skip) {
        // An entry is one line; a pasted newline must not split it.
        text.push_str(&e.replace(['\n', '\r'], " "));
        text.push('\n');
    }
    file.write_all(text.as_bytes())?;
    drop(file);
    std::fs::rename(&tmp, share.join(FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_history() {
        assert_eq!(scrub("login alice s3cret"), "login alice");
        assert_eq!(scrub("LOGIN alice \"two words\""), "LOGIN alice");
        assert_eq!(scrub("register bob pw"), "register bob");
        assert_eq!(scrub("passwd old new"), "passwd");
        assert_eq!(scrub("login \"a b\" pw"), "login \"a b\"");
        let broken = scrub("login alice pw \"unterminated");
        assert!(broken.starts_with("login alice") && !broken.contains("pw"));
        assert_eq!(scrub("say login alice pw"), "say login alice pw");
        assert_eq!(mask("passwd old new"), "passwd *** ***");
        assert_eq!(mask("login alice pw"), "login alice ***");
        assert_eq!(mask("login alice"), "login alice");
    }

    #[test]
    fn saved_bounded_and_private_and_loaded_scrubbed() {
        let temp = crate::testing::TempDir::new("history");
        let dir = temp.path();
        assert!(load(dir).is_empty());
        let mut entries: Vec<String> = (0..MAX_HISTORY + 3).map(|i| format!("say {i}")).collect();
        entries.push("say a\nb".into());
        save(dir, &entries).unwrap();
        let back = load(dir);
        assert_eq!(back.len(), MAX_HISTORY);
        assert_eq!(back[0], "say 4");
        assert_eq!(back.last().unwrap(), "say a b");
        let mode = std::fs::metadata(dir.join(FILE)).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        // A file written by hand with a password in it is scrubbed on load.
        std::fs::write(dir.join(FILE), "login a pw\nusers\n").unwrap();
        assert_eq!(load(dir), ["login a", "users"]);
    }
}
