//! The hub console parser (`server::console::parse`): never panics, and every command
//! it accepts, written back as a line, parses to the same command; names are never
//! empty and user names never hold whitespace.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhub::server::console::{self, ConsoleCommand};

fn user(u: &str) -> &str {
    assert!(
        !u.is_empty() && !u.contains(char::is_whitespace),
        "user {u:?}"
    );
    u
}

/// `text` (never empty) as one `"…"` quoted name.
fn quoted(text: &str) -> String {
    assert!(!text.is_empty());
    let mut out = String::from("\"");
    for c in text.chars() {
        if c == '\\' || c == '"' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A line that says `cmd`.
fn line_of(cmd: &ConsoleCommand) -> String {
    match cmd {
        ConsoleCommand::Help => "help".into(),
        ConsoleCommand::Users => "users".into(),
        ConsoleCommand::Stats => "stats".into(),
        ConsoleCommand::Store => "store".into(),
        ConsoleCommand::Shutdown => "shutdown".into(),
        ConsoleCommand::Bans => "bans".into(),
        ConsoleCommand::Deluser { user: u } => format!("deluser {}", user(u)),
        ConsoleCommand::Setpass { user: u, password } => {
            format!("setpass {} {}", user(u), quoted(password))
        }
        ConsoleCommand::Kick { user: u } => format!("kick {}", user(u)),
        ConsoleCommand::Unban { user: u } => format!("unban {}", user(u)),
        ConsoleCommand::Ping { user: u } => format!("ping {}", user(u)),
        ConsoleCommand::Discover { user: u } => format!("discover {}", user(u)),
        ConsoleCommand::Ban { user: u, minutes } => match minutes {
            None => format!("ban {}", user(u)),
            Some(m) => {
                assert!(*m > 0);
                format!("ban {} {m}", user(u))
            }
        },
        ConsoleCommand::Say { text } => {
            assert!(!text.is_empty());
            format!("say {text}")
        }
        ConsoleCommand::Rm { name } => format!("rm {}", quoted(name)),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    match console::parse(line) {
        Ok(Some(cmd)) => {
            let again = line_of(&cmd);
            assert_eq!(
                console::parse(&again).as_ref(),
                Ok(&Some(cmd.clone())),
                "{line:?} written back as {again:?}"
            );
        }
        Ok(None) => {
            let body = line.trim_start();
            assert!(
                body.is_empty() || body.starts_with('#'),
                "{line:?} was ignored"
            );
        }
        Err(e) => assert!(!e.message.is_empty()),
    }
});
