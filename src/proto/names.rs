//! Validation of the names that travel: user names, published file names and store names.

use std::fmt;

/// Longest user name, in characters (all ASCII).
pub const MAX_USER_LEN: usize = 32;
/// Longest file or store name, in bytes of UTF-8.
pub const MAX_FILE_NAME_BYTES: usize = 255;
/// Longest chat text (`Say`, `Msg`), in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 4096;
/// Longest password, in bytes of UTF-8.
pub const MAX_PASSWORD_BYTES: usize = 256;
/// Longest search text worth sending: no longer text is contained in any name.
pub const MAX_SEARCH_BYTES: usize = MAX_FILE_NAME_BYTES;
/// How much of a refused name an error message quotes.
const SHOWN_CHARS: usize = 40;

/// `name` quoted for an error message, cut after [`SHOWN_CHARS`] characters.
fn shown(name: &str) -> String {
    match name.char_indices().nth(SHOWN_CHARS) {
        Some((end, _)) => format!("{:?}… ({} bytes)", &name[..end], name.len()),
        None => format!("{name:?}"),
    }
}

/// Why a name was refused; the text is shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError(pub String);

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NameError {}

/// A user name: 1–32 characters of `[A-Za-z0-9_.-]`, starting with a letter or digit.
pub fn check_user(name: &str) -> Result<(), NameError> {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !first_ok || !rest_ok || name.len() > MAX_USER_LEN {
        return Err(NameError(format!(
            "invalid user name {}: 1-{MAX_USER_LEN} characters of A-Z a-z 0-9 _ . - starting with a letter or digit",
            shown(name)
        )));
    }
    Ok(())
}

/// A published file name or a store entry name: one path component, 1–255 bytes,
/// no `/` or `\`, not `.` or `..`, no control characters.
pub fn check_file_name(name: &str) -> Result<(), NameError> {
    let why = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > MAX_FILE_NAME_BYTES {
        Some("it is longer than 255 bytes, the maximum")
    } else if name == "." || name == ".." {
        Some("it is . or ..")
    } else if name.contains(['/', '\\']) {
        Some("it contains a path separator")
    } else if name.chars().any(char::is_control) {
        Some("it contains a control character")
    } else {
        None
    };
    match why {
        Some(why) => Err(NameError(format!("invalid name {}: {why}", shown(name)))),
        None => Ok(()),
    }
}

/// Names of the client's own files in its share dir (publication list, partials).
pub const RESERVED_PREFIX: &str = ".peerhub-";

/// Whether `name` is one of the client's own files: never published, stored or fetched.
pub fn is_reserved(name: &str) -> bool {
    name.starts_with(RESERVED_PREFIX)
}

/// A name a peer may publish: a file name that is not [reserved](is_reserved).
pub fn check_published_name(name: &str) -> Result<(), NameError> {
    check_file_name(name)?;
    if is_reserved(name) {
        return Err(NameError(format!(
            "invalid name {}: names starting with {RESERVED_PREFIX} are reserved for the client's own files",
            shown(name)
        )));
    }
    Ok(())
}

/// Text that travels in chat or as a password: valid UTF-8 (guaranteed by `&str`)
/// without control characters other than tab.
pub fn has_control_chars(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && c != '\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        for ok in ["a", "alice", "Bob_2", "x.y-z", "9lives", &"a".repeat(32)] {
            assert!(check_user(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "_a",
            ".a",
            "-a",
            "a b",
            "a/b",
            "é",
            &"a".repeat(33),
            "a\n",
        ] {
            assert!(check_user(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_names() {
        for ok in [
            "report.pdf",
            "with space.txt",
            "ünïcödé",
            "..a",
            "a..",
            &"x".repeat(255),
        ] {
            assert!(check_file_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "a\\b",
            "a\u{0}b",
            "a\nb",
            &"x".repeat(256),
        ] {
            assert!(check_file_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn control_chars() {
        assert!(!has_control_chars("hello\tworld"));
        assert!(has_control_chars("bell\u{7}"));
        assert!(has_control_chars("line\nbreak"));
    }

    #[test]
    fn reserved_names_are_refused_for_publishing() {
        for bad in [
            ".peerhub-published.json",
            ".peerhub-partials.json",
            ".peerhub-",
        ] {
            assert!(is_reserved(bad));
            let e = check_published_name(bad).unwrap_err();
            assert!(e.0.contains("reserved"), "{e}");
        }
        for ok in ["peerhub-x", "a.peerhub-part", "..peerhub-", "x"] {
            assert!(check_published_name(ok).is_ok(), "{ok}");
        }
        assert!(check_published_name("a/b").is_err());
    }

    #[test]
    fn a_long_refused_name_is_quoted_short() {
        let e = check_file_name(&"x".repeat(70_000)).unwrap_err();
        assert!(e.0.len() < 150 && e.0.contains("70000 bytes"), "{e}");
        let e = check_user(&"u".repeat(70_000)).unwrap_err();
        assert!(e.0.len() < 200, "{e}");
    }
}
