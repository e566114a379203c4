//! The client's command-line parser (`client::command::parse_line`): never panics, and
//! every command it accepts, written back as a line (positionals quoted after `--`,
//! chat text after `--` as typed), parses to the same command; required arguments are never
//! empty and every command's word has a usage line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhub::client::command::{self, Command};

/// `s` as one word, whatever it holds.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if c == '\\' || c == '"' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A line that says `cmd`.
fn line_of(cmd: &Command) -> String {
    let word = cmd.name();
    let mut options: Vec<String> = Vec::new();
    let positionals: Vec<&String> = match cmd {
        // `--` before chat text keeps a text that starts with `--` as it is.
        Command::Say { text } => return format!("{word} -- {text}"),
        Command::Msg { user, text } => return format!("{word} {} -- {text}", quote(user)),
        Command::Register { user, password } | Command::Login { user, password } => {
            vec![user, password]
        }
        Command::Passwd { old, new } => vec![old, new],
        Command::Publish { local, name } => std::iter::once(local).chain(name).collect(),
        Command::Unpublish { name } | Command::Cancel { name } | Command::Rm { name } => {
            vec![name]
        }
        Command::Search { text } => vec![text],
        Command::Fetch {
            name,
            from,
            as_name,
        } => {
            for (flag, value) in [("--from", from), ("--as", as_name)] {
                if let Some(v) = value {
                    options.push(format!("{flag} {}", quote(v)));
                }
            }
            vec![name]
        }
        Command::Upload {
            path,
            name,
            replace,
        } => {
            if *replace {
                options.push("--replace".into());
            }
            std::iter::once(path).chain(name).collect()
        }
        Command::Download { name, dest } => std::iter::once(name).chain(dest).collect(),
        Command::Logout
        | Command::Quit
        | Command::Shared
        | Command::Transfers
        | Command::Users
        | Command::Store
        | Command::Status
        | Command::Wait
        | Command::Help => Vec::new(),
    };
    let mut line = word.to_owned();
    for o in options {
        line.push(' ');
        line.push_str(&o);
    }
    line.push_str(" --");
    for p in positionals {
        assert!(!p.is_empty(), "{cmd:?} has an empty argument");
        line.push(' ');
        line.push_str(&quote(p));
    }
    line
}

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let _ = command::split_words(line);
    match command::parse_line(line) {
        Ok(Some(cmd)) => {
            assert!(command::usage(cmd.name()).is_some());
            if let Command::Say { text } | Command::Msg { text, .. } = &cmd {
                assert!(!text.is_empty());
            }
            let again = line_of(&cmd);
            assert_eq!(
                command::parse_line(&again).as_ref(),
                Ok(&Some(cmd.clone())),
                "{line:?} written back as {again:?}"
            );
        }
        Ok(None) => {
            let body = line
                .trim_end_matches(['\r', '\n'])
                .trim_start_matches([' ', '\t']);
            assert!(
                body.is_empty() || body.starts_with('#'),
                "{line:?} was ignored"
            );
        }
        Err(e) => assert!(!e.message.is_empty()),
    }
});
