//! Unit tests of the console parser: every row, its usage, its refusals and the help.

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
    for word in words() {
        assert!(
            HELP.iter()
                .any(|l| String::from(*l).starts_with(&format!("{word} "))),
            "{word} is missing from the help"
        );
        assert!(parse(word).map_or_else(|e| !e.message.contains("unknown"), |_| true));
    }
}

/// A line that fills a usage line's placeholders: `<x>` with a word, `[minutes]` with 5.
fn example(usage: &str) -> String {
    usage
        .split(' ')
        .map(|part| match part {
            "[minutes]" => "5",
            p if p.starts_with('<') => "alice",
            p => p,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn every_row_parses_its_usage_example_into_its_own_variant() {
    for row in HELP {
        let line = example(row.usage);
        let command = parse(&line).unwrap_or_else(|e| panic!("{line}: {e:?}"));
        let command = command.unwrap_or_else(|| panic!("{line}: nothing parsed"));
        let variant = format!("{command:?}").to_ascii_lowercase();
        assert!(variant.starts_with(row.word()), "{line} gave {command:?}");
        assert!(parse(&line.to_ascii_uppercase()).is_ok(), "{line}");
    }
    assert_eq!(
        parse(&example("ban <user> [minutes]")),
        Ok(Some(ConsoleCommand::Ban {
            user: "alice".into(),
            minutes: Some(5)
        }))
    );
}

#[test]
fn help_lists_every_command_once_in_aligned_columns() {
    let lines: Vec<String> = HELP.iter().map(|row| String::from(*row)).collect();
    assert_eq!(lines.len(), 15);
    assert_eq!(words().count(), 15);
    let column = lines[0].find("this list").expect("help's own line");
    for (row, line) in HELP.iter().zip(&lines) {
        assert!(line.starts_with(&format!("{} ", row.usage)), "{line}");
        assert_eq!(&line[column..], row.about, "{line}");
        assert_eq!(words().filter(|w| *w == row.word()).count(), 1, "{line}");
    }
    assert_eq!(
        lines[6],
        format!(
            "{:<27}{}",
            "ban <user> [minutes]", "refuse that account's logins (no minutes: until unban)"
        )
    );
}

#[test]
fn a_wrong_argument_count_gives_that_rows_usage() {
    for row in HELP {
        let word = row.word();
        let surplus = parse(&format!("{} surplus", example(row.usage)));
        if row.usage == word {
            let expected = format!("unexpected extra argument \"surplus\"; usage: {word}");
            assert_eq!(surplus.unwrap_err().message, expected);
            continue;
        }
        let missing = parse(word).unwrap_err();
        assert_eq!(missing.command, word);
        assert_eq!(missing.message, format!("usage: {}", row.usage));
        // The rest-of-line rows take the surplus word into their last argument.
        if let Err(e) = surplus {
            assert_eq!(e.message, format!("usage: {}", row.usage), "{word}");
        }
    }
    for (line, message) in [
        ("ban bob 5 6", "usage: ban <user> [minutes]"),
        (
            "ban bob soon",
            "usage: ban <user> [minutes]  (minutes: a whole number above 0)",
        ),
        ("setpass bob", "usage: setpass <user> <password>"),
        ("kick bob carol", "usage: kick <user>"),
        (
            "SHUTDOWN now",
            "unexpected extra argument \"now\"; usage: shutdown",
        ),
    ] {
        assert_eq!(parse(line).unwrap_err().message, message, "{line}");
    }
}
