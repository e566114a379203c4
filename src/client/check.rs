//! Local checks of what a typed command would send: every name, password and text
//! within the rules the hub applies, so that a line too long for the wire is refused
//! here with its maximum and never costs the connection.

use super::command::Command;
use crate::proto::names::{self, MAX_PASSWORD_BYTES, MAX_SEARCH_BYTES, MAX_TEXT_BYTES};
use crate::proto::status::Status;

/// Why a command was refused before anything was sent.
pub type Refusal = (Status, String);

/// Whether `command` may be sent as typed.
pub fn check(command: &Command) -> Result<(), Refusal> {
    match command {
        Command::Register { user, password } | Command::Login { user, password } => {
            user_name(user)?;
            password_len("the password", password)
        }
        Command::Passwd { old, new } => {
            password_len("the old password", old)?;
            password_len("the new password", new)
        }
        Command::Say { text } => text_len(text),
        Command::Msg { user, text } => {
            user_name(user)?;
            text_len(text)
        }
        Command::Unpublish { name } => file_name(name),
        Command::Search { text } if text.len() > MAX_SEARCH_BYTES => Err((
            Status::TOO_LARGE,
            format!(
                "the search text is {} bytes; at most {MAX_SEARCH_BYTES} (the longest name)",
                text.len()
            ),
        )),
        _ => Ok(()),
    }
}

fn user_name(user: &str) -> Result<(), Refusal> {
    names::check_user(user).map_err(|e| (Status::INVALID_NAME, e.0))
}

fn file_name(name: &str) -> Result<(), Refusal> {
    names::check_file_name(name).map_err(|e| (Status::INVALID_NAME, e.0))
}

fn password_len(what: &str, password: &str) -> Result<(), Refusal> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err((
            Status::TOO_LARGE,
            format!(
                "{what} is {} bytes; at most {MAX_PASSWORD_BYTES}",
                password.len()
            ),
        ));
    }
    Ok(())
}

fn text_len(text: &str) -> Result<(), Refusal> {
    if text.len() > MAX_TEXT_BYTES {
        return Err((
            Status::TOO_LARGE,
            format!(
                "the message is {} bytes; at most {MAX_TEXT_BYTES} go in one chat line (nothing was sent)",
                text.len()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::command::parse_line;

    fn status_of(line: &str) -> Option<u16> {
        let command = parse_line(line).unwrap().unwrap();
        check(&command).err().map(|(s, _)| s.0)
    }

    #[test]
    fn every_field_is_held_to_its_limit() {
        let text = "x".repeat(MAX_TEXT_BYTES);
        assert_eq!(status_of(&format!("say {text}")), None);
        assert_eq!(status_of(&format!("say {text}y")), Some(413));
        assert_eq!(status_of(&format!("say {}", "é".repeat(2049))), Some(413));
        assert_eq!(status_of(&format!("msg bob {text}")), None);
        assert_eq!(status_of(&format!("msg bob {text}y")), Some(413));
        assert_eq!(
            status_of(&format!("msg {} hi", "b".repeat(70_000))),
            Some(408)
        );
        let pw = "p".repeat(MAX_PASSWORD_BYTES);
        for cmd in ["register", "login"] {
            assert_eq!(status_of(&format!("{cmd} u {pw}")), None);
            assert_eq!(status_of(&format!("{cmd} u {pw}p")), Some(413));
            assert_eq!(
                status_of(&format!("{cmd} {} pw", "u".repeat(33))),
                Some(408)
            );
        }
        assert_eq!(status_of(&format!("passwd {pw} {pw}")), None);
        assert_eq!(status_of(&format!("passwd a {pw}p")), Some(413));
        assert_eq!(status_of(&format!("passwd {pw}p a")), Some(413));
        let name = "n".repeat(names::MAX_FILE_NAME_BYTES);
        assert_eq!(status_of(&format!("unpublish {name}")), None);
        assert_eq!(status_of(&format!("unpublish {name}n")), Some(408));
        assert_eq!(status_of(&format!("search {name}")), None);
        assert_eq!(status_of(&format!("search {name}n")), Some(413));
    }

    #[test]
    fn a_refusal_names_the_maximum_without_echoing_the_text() {
        let command = parse_line(&format!("say {}", "x".repeat(70_000)))
            .unwrap()
            .unwrap();
        let (status, text) = check(&command).unwrap_err();
        assert_eq!(status, Status::TOO_LARGE);
        assert!(
            text.contains("70000 bytes") && text.contains("4096"),
            "{text}"
        );
        let command = parse_line(&format!("unpublish {}", "x".repeat(70_000)))
            .unwrap()
            .unwrap();
        let (_, text) = check(&command).unwrap_err();
        assert!(text.len() < 200 && text.contains("255"), "{text}");
    }
}
