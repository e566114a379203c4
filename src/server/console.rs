//! Operator commands typed on the hub's stdin: a pure parser.

/// One console command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleCommand {
    Help,
    Users,
    Kick {
        user: String,
    },
    Ban {
        user: String,
        minutes: Option<u64>,
    },
    Unban {
        user: String,
    },
    Say {
        text: String,
    },
    Ping {
        user: String,
    },
    Discover {
        user: String,
    },
    Stats,
    /// List the accounts banned now.
    Bans,
    /// Delete an account: its publications go, its store entries stay, ownerless.
    Deluser {
        user: String,
    },
    /// Set a new password for an account (the password is the rest of the line, or quoted).
    Setpass {
        user: String,
        password: String,
    },
    /// List the store.
    Store,
    /// Remove a store entry (the name is the rest of the line, or a `"…"` quoted name).
    Rm {
        name: String,
    },
    Shutdown,
}

/// A console line that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleError {
    pub command: String,
    pub message: String,
}

/// The console's help, one line per command.
pub const HELP: &[&str] = &[
    "help                   this list",
    "users                  who is online, with their peer addresses",
    "ping <user>            a live round trip to that user's client",
    "discover <user>        the files that user publishes, online or not",
    "say <text>             an announcement to everyone online",
    "kick <user>            end that user's session",
    "ban <user> [minutes]   refuse that account's logins (no minutes: until unban)",
    "unban <user>           lift a ban",
    "bans                   the accounts banned now, with when each ban ends",
    "deluser <user>         delete an account (its publications are withdrawn; its store entries stay, owner \"(deleted)\")",
    "setpass <user> <pw>    set a new password for an account (the rest of the line, or \"quoted\")",
    "stats                  counters: connections, users, accounts, files, lookups, chat, store",
    "store                  the store: name, owner, kind, files, size, time",
    "rm <name>              remove a store entry (the rest of the line, or \"quoted\")",
    "shutdown               tell everyone, close, exit",
];

/// Every console command word (what an unknown word is compared with).
const WORDS: &[&str] = &[
    "help", "users", "ping", "discover", "say", "kick", "ban", "unban", "bans", "deluser",
    "setpass", "stats", "store", "rm", "shutdown",
];

/// Parse a console line; `None` for a blank line or a `#` comment.
pub fn parse(line: &str) -> Result<Option<ConsoleCommand>, ConsoleError> {
    let line = line.trim_start();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let word = word.to_ascii_lowercase();
    let args: Vec<&str> = rest.split_whitespace().collect();
    let usage = |u: &str| ConsoleError {
        command: word.clone(),
        message: format!("usage: {u}"),
    };
    let one_user = |u: &str| match args.as_slice() {
        [user] => Ok((*user).to_owned()),
        _ => Err(usage(u)),
    };
    let no_args = |c: ConsoleCommand| match args.first() {
        None => Ok(c),
        Some(extra) => Err(ConsoleError {
            command: word.clone(),
            message: format!("unexpected extra argument {extra:?}; usage: {word}"),
        }),
    };
    let command = match word.as_str() {
        "help" => no_args(ConsoleCommand::Help)?,
        "users" => no_args(ConsoleCommand::Users)?,
        "stats" => no_args(ConsoleCommand::Stats)?,
        "store" => no_args(ConsoleCommand::Store)?,
        "bans" => no_args(ConsoleCommand::Bans)?,
        "deluser" => ConsoleCommand::Deluser {
            user: one_user("deluser <user>")?,
        },
        "setpass" => {
            let (user, password) = rest
                .trim_start()
                .split_once(char::is_whitespace)
                .and_then(|(user, pw)| Some((user.to_owned(), rest_name(pw)?)))
                .ok_or_else(|| usage("setpass <user> <password>"))?;
            ConsoleCommand::Setpass { user, password }
        }
        "rm" => {
            let name = rest_name(rest).ok_or_else(|| usage("rm <name>"))?;
            ConsoleCommand::Rm { name }
        }
        "shutdown" => no_args(ConsoleCommand::Shutdown)?,
        "kick" => ConsoleCommand::Kick {
            user: one_user("kick <user>")?,
        },
        "unban" => ConsoleCommand::Unban {
            user: one_user("unban <user>")?,
        },
        "ping" => ConsoleCommand::Ping {
            user: one_user("ping <user>")?,
        },
        "discover" => ConsoleCommand::Discover {
            user: one_user("discover <user>")?,
        },
        "ban" => match args.as_slice() {
            [user] => ConsoleCommand::Ban {
                user: (*user).to_owned(),
                minutes: None,
            },
            [user, minutes] => match minutes.parse::<u64>() {
                Ok(m) if m > 0 => ConsoleCommand::Ban {
                    user: (*user).to_owned(),
                    minutes: Some(m),
                },
                _ => {
                    return Err(usage(
                        "ban <user> [minutes]  (minutes: a whole number above 0)",
                    ))
                }
            },
            _ => return Err(usage("ban <user> [minutes]")),
        },
        "say" => {
            let text = rest.trim_start().trim_end_matches(['\r', '\n']);
            if text.is_empty() {
                return Err(usage("say <text>"));
            }
            ConsoleCommand::Say {
                text: text.to_owned(),
            }
        }
        _ => {
            let hint = crate::suggest::did_you_mean(&word, WORDS.iter().copied());
            return Err(ConsoleError {
                message: format!("unknown command {word:?}{hint}; type help for the list"),
                command: word,
            });
        }
    };
    Ok(Some(command))
}

/// The rest of a line as one name: `"…"` quoted (with `\"` and `\\` escapes) or as
/// typed, without the surrounding blanks. `None` if empty or the quote is not closed.
fn rest_name(rest: &str) -> Option<String> {
    let text = rest.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\r' || c == '\n');
    let Some(quoted) = text.strip_prefix('"') else {
        return (!text.is_empty()).then(|| text.to_owned());
    };
    let mut name = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => name.push(chars.next()?),
            '"' => return (chars.as_str().trim().is_empty() && !name.is_empty()).then_some(name),
            c => name.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(parse("  "), Ok(None));
        assert_eq!(parse("# note"), Ok(None));
        assert_eq!(parse("USERS"), Ok(Some(ConsoleCommand::Users)));
        assert_eq!(
            parse("kick bob"),
            Ok(Some(ConsoleCommand::Kick { user: "bob".into() }))
        );
        assert_eq!(
            parse("ban bob 5"),
            Ok(Some(ConsoleCommand::Ban {
                user: "bob".into(),
                minutes: Some(5)
            }))
        );
        assert_eq!(parse("store"), Ok(Some(ConsoleCommand::Store)));
        assert_eq!(
            parse("rm my report 2024.pdf  "),
            Ok(Some(ConsoleCommand::Rm {
                name: "my report 2024.pdf".into()
            }))
        );
        assert_eq!(
            parse("rm \" spaced \\\"q\\\" \""),
            Ok(Some(ConsoleCommand::Rm {
                name: " spaced \"q\" ".into()
            }))
        );
        assert!(parse("rm").is_err());
        assert!(parse("rm \"open").is_err());
        assert_eq!(
            parse("say  hello   there "),
            Ok(Some(ConsoleCommand::Say {
                text: "hello   there ".into()
            }))
        );
    }

    #[test]
    fn errors() {
        assert_eq!(parse("kick").unwrap_err().message, "usage: kick <user>");
        assert!(parse("ban bob soon").is_err());
        assert!(parse("ban bob 0").is_err());
        assert!(parse("say").is_err());
        let e = parse("frob").unwrap_err();
        assert_eq!(e.command, "frob");
        assert!(e.message.contains("unknown command"));
        assert!(!e.message.contains("did you mean"));
        let e = parse("sutdown").unwrap_err();
        assert!(e.message.contains("did you mean \"shutdown\"?"), "{e:?}");
    }

    #[test]
    fn extra_arguments_are_refused() {
        for line in [
            "users x",
            "stats now",
            "store all",
            "help kick",
            "shutdown now",
            "bans x",
        ] {
            let e = parse(line).unwrap_err();
            assert!(
                e.message.contains("unexpected extra argument"),
                "{line}: {e:?}"
            );
        }
        assert!(parse("kick bob carol").is_err());
        assert!(parse("deluser").is_err());
        assert!(parse("deluser a b").is_err());
    }

    #[test]
    fn account_commands() {
        assert_eq!(parse("bans"), Ok(Some(ConsoleCommand::Bans)));
        assert_eq!(
            parse("deluser bob"),
            Ok(Some(ConsoleCommand::Deluser { user: "bob".into() }))
        );
        assert_eq!(
            parse("setpass bob  new secret "),
            Ok(Some(ConsoleCommand::Setpass {
                user: "bob".into(),
                password: "new secret".into()
            }))
        );
        assert_eq!(
            parse("setpass bob \" padded \""),
            Ok(Some(ConsoleCommand::Setpass {
                user: "bob".into(),
                password: " padded ".into()
            }))
        );
        assert!(parse("setpass bob").is_err());
        assert!(parse("setpass").is_err());
    }

    #[test]
    fn help_names_every_command() {
        for word in WORDS {
            assert!(
                HELP.iter().any(|l| l.starts_with(&format!("{word} "))),
                "{word} is missing from the help"
            );
            assert!(parse(word).map_or_else(|e| !e.message.contains("unknown"), |_| true));
        }
    }
}
