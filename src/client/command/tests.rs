//! The parser's tests: every command, quoting, options, chat, ignored lines, case; words, errors and the table in the rooms below.

use super::*;

mod errors;
mod lex;
mod table;

fn ok(line: &str) -> Command {
    match parse_line(line) {
        Ok(Some(c)) => c,
        other => panic!("{line:?} gave {other:?}"),
    }
}

fn err(line: &str) -> ParseError {
    match parse_line(line) {
        Err(e) => e,
        other => panic!("{line:?} should fail, gave {other:?}"),
    }
}

fn s(x: &str) -> String {
    x.to_string()
}

// ---- every command ----

#[test]
fn parses_every_command() {
    let cases: Vec<(&str, Command)> = vec![
        (
            "register alice secret",
            Command::Register {
                user: s("alice"),
                password: s("secret"),
            },
        ),
        (
            "login alice secret",
            Command::Login {
                user: s("alice"),
                password: s("secret"),
            },
        ),
        ("logout", Command::Logout),
        ("quit", Command::Quit),
        (
            "passwd old new",
            Command::Passwd {
                old: s("old"),
                new: s("new"),
            },
        ),
        (
            "publish a.txt",
            Command::Publish {
                local: s("a.txt"),
                name: None,
            },
        ),
        (
            "publish dir/a.txt shown",
            Command::Publish {
                local: s("dir/a.txt"),
                name: Some(s("shown")),
            },
        ),
        ("unpublish shown", Command::Unpublish { name: s("shown") }),
        ("shared", Command::Shared),
        ("search foo", Command::Search { text: s("foo") }),
        (
            "fetch song",
            Command::Fetch {
                name: s("song"),
                from: None,
                as_name: None,
                sources: None,
                sequential: false,
            },
        ),
        (
            "fetch song --from bob --as mine",
            Command::Fetch {
                name: s("song"),
                from: Some(s("bob")),
                as_name: Some(s("mine")),
                sources: None,
                sequential: false,
            },
        ),
        ("transfers", Command::Transfers),
        ("cancel song", Command::Cancel { name: s("song") }),
        ("users", Command::Users),
        ("say hello", Command::Say { text: s("hello") }),
        (
            "msg bob hi",
            Command::Msg {
                user: s("bob"),
                text: s("hi"),
            },
        ),
        (
            "upload photos",
            Command::Upload {
                path: s("photos"),
                name: None,
                replace: false,
            },
        ),
        (
            "upload photos pics --replace",
            Command::Upload {
                path: s("photos"),
                name: Some(s("pics")),
                replace: true,
            },
        ),
        (
            "download pics",
            Command::Download {
                name: s("pics"),
                dest: None,
            },
        ),
        (
            "download pics out/dir",
            Command::Download {
                name: s("pics"),
                dest: Some(s("out/dir")),
            },
        ),
        ("store", Command::Store),
        ("rm pics", Command::Rm { name: s("pics") }),
        (
            "rm \"my photos\"",
            Command::Rm {
                name: s("my photos"),
            },
        ),
        ("help", Command::Help),
    ];
    for (line, want) in cases {
        let got = ok(line);
        assert_eq!(got, want, "{line}");
        let word = line.split(' ').next().unwrap();
        assert_eq!(got.name(), word, "{line}");
    }
}

#[test]
fn every_table_word_parses_to_a_command_with_that_name() {
    for e in TABLE {
        // Fill every required positional with "x".
        let spec = Spec::of(e.usage);
        let mut line = e.word().to_string();
        for _ in &spec.required {
            line.push_str(" x");
        }
        let cmd = ok(&line);
        assert_eq!(cmd.name(), e.word());
    }
}

// ---- quoting and escapes through parse_line ----

#[test]
fn quoted_names_and_passwords_with_spaces() {
    assert_eq!(
        ok(r#"login "john doe" "my secret pass""#),
        Command::Login {
            user: s("john doe"),
            password: s("my secret pass"),
        }
    );
    assert_eq!(
        ok(r#"publish "My Music/a song.mp3" "a song""#),
        Command::Publish {
            local: s("My Music/a song.mp3"),
            name: Some(s("a song")),
        }
    );
    assert_eq!(
        ok(r"publish my\ file.txt"),
        Command::Publish {
            local: s("my file.txt"),
            name: None,
        }
    );
    assert_eq!(
        ok(r#"passwd "a\"b" c\\d"#),
        Command::Passwd {
            old: s(r#"a"b"#),
            new: s(r"c\d"),
        }
    );
    assert_eq!(
        ok(r#"search "two words""#),
        Command::Search {
            text: s("two words")
        }
    );
}

#[test]
fn quoted_command_word_works() {
    assert_eq!(ok(r#""users""#), Command::Users);
    assert_eq!(ok(r"\logout"), Command::Logout);
}

// ---- options ----

#[test]
fn options_before_after_and_between_positionals() {
    let want = Command::Fetch {
        name: s("song"),
        from: Some(s("bob")),
        as_name: Some(s("mine")),
        sources: None,
        sequential: false,
    };
    assert_eq!(ok("fetch --from bob --as mine song"), want);
    assert_eq!(
        ok("fetch song --sources 2 --sequential"),
        Command::Fetch {
            name: s("song"),
            from: None,
            as_name: None,
            sources: Some(s("2")),
            sequential: true,
        }
    );
    assert_eq!(ok("fetch --from bob song --as mine"), want);
    assert_eq!(ok("fetch song --as mine --from bob"), want);
    assert_eq!(ok("fetch --as mine song --from bob"), want);
    let up = Command::Upload {
        path: s("p"),
        name: Some(s("n")),
        replace: true,
    };
    assert_eq!(ok("upload --replace p n"), up);
    assert_eq!(ok("upload p --replace n"), up);
    assert_eq!(ok("upload p n --replace"), up);
}

#[test]
fn option_values_may_be_quoted() {
    assert_eq!(
        ok(r#"fetch "a song" --from "bo b" --as "my song""#),
        Command::Fetch {
            name: s("a song"),
            from: Some(s("bo b")),
            as_name: Some(s("my song")),
            sources: None,
            sequential: false,
        }
    );
}

#[test]
fn double_dash_ends_options() {
    assert_eq!(
        ok("publish -- --x"),
        Command::Publish {
            local: s("--x"),
            name: None,
        }
    );
    assert_eq!(
        ok("fetch --from bob -- --as"),
        Command::Fetch {
            name: s("--as"),
            from: Some(s("bob")),
            as_name: None,
            sources: None,
            sequential: false,
        }
    );
    // Options are no longer recognised after `--`: too many positionals.
    let e = err("fetch -- a --from bob");
    assert!(e.message.contains("unexpected extra argument"), "{e}");
    // A second `--` is an ordinary positional.
    assert_eq!(
        ok("publish -- a --"),
        Command::Publish {
            local: s("a"),
            name: Some(s("--")),
        }
    );
    assert_eq!(
        ok("upload -- --replace"),
        Command::Upload {
            path: s("--replace"),
            name: None,
            replace: false,
        }
    );
    assert_eq!(
        ok("login -- --me --pw"),
        Command::Login {
            user: s("--me"),
            password: s("--pw"),
        }
    );
    // `--` on a command without arguments is accepted and ignored.
    assert_eq!(ok("users --"), Command::Users);
}

#[test]
fn single_dash_words_are_positional() {
    assert_eq!(
        ok("publish -x -"),
        Command::Publish {
            local: s("-x"),
            name: Some(s("-")),
        }
    );
}

// ---- say / msg ----

#[test]
fn say_takes_the_rest_of_the_line_as_typed() {
    assert_eq!(
        ok("say   hello   there  \"quoted\" \\n back\\slash"),
        Command::Say {
            text: s("hello   there  \"quoted\" \\n back\\slash")
        }
    );
    assert_eq!(
        ok("say \"unterminated"),
        Command::Say {
            text: s("\"unterminated")
        }
    );
    assert_eq!(
        ok("say ends in \\"),
        Command::Say {
            text: s("ends in \\")
        }
    );
    assert_eq!(
        ok("say --from x -- # not a comment"),
        Command::Say {
            text: s("--from x -- # not a comment")
        }
    );
    assert_eq!(
        ok("say\t\ttabbed\tout\r\n"),
        Command::Say {
            text: s("tabbed\tout")
        }
    );
    assert_eq!(ok("SAY Hi"), Command::Say { text: s("Hi") });
}

#[test]
fn a_leading_double_dash_is_not_sent() {
    assert_eq!(ok("say -- --from"), Command::Say { text: s("--from") });
    assert_eq!(
        ok("say --  two  words"),
        Command::Say {
            text: s("two  words")
        }
    );
    assert_eq!(ok("say --x"), Command::Say { text: s("--x") });
    assert_eq!(ok("say -- -- x"), Command::Say { text: s("-- x") });
    assert!(err("say --").message.contains("missing <text>"));
    assert_eq!(
        ok("msg bob -- --as"),
        Command::Msg {
            user: s("bob"),
            text: s("--as")
        }
    );
}

#[test]
fn msg_takes_user_then_rest_of_line() {
    assert_eq!(
        ok("msg bob   hi  \"there\"   you\r"),
        Command::Msg {
            user: s("bob"),
            text: s("hi  \"there\"   you"),
        }
    );
    assert_eq!(
        ok("msg \"john doe\" hello \"x"),
        Command::Msg {
            user: s("john doe"),
            text: s("hello \"x"),
        }
    );
    assert_eq!(
        ok("msg\tbob\t\tyo"),
        Command::Msg {
            user: s("bob"),
            text: s("yo"),
        }
    );
}

#[test]
fn say_and_msg_usage_errors() {
    for line in ["say", "say   ", "say \t \r\n"] {
        let e = err(line);
        assert_eq!(e.command, "say");
        assert!(e.message.contains("missing <text>"), "{e}");
        assert!(e.message.contains("usage: say <text>"), "{e}");
    }
    let e = err("msg");
    assert_eq!(e.command, "msg");
    assert!(e.message.contains("missing <user>"), "{e}");
    assert!(e.message.contains("usage: msg <user> <text>"), "{e}");
    for line in ["msg bob", "msg bob   ", "msg \"bo b\"\r"] {
        let e = err(line);
        assert!(e.message.contains("missing <text>"), "{line}: {e}");
    }
    let e = err("msg \"bob hi");
    assert!(e.message.contains("unterminated quote"), "{e}");
    assert!(e.message.contains("usage: msg"), "{e}");
    let e = err("msg \"\" hi");
    assert!(e.message.contains("<user> must not be empty"), "{e}");
}

// ---- ignored lines ----

#[test]
fn blank_and_comment_lines_are_ignored() {
    for line in [
        "",
        "   ",
        "\t",
        "\r\n",
        "\n",
        " \t \r",
        "#",
        "# a comment",
        "   # indented comment",
        "\t#x \"unterminated",
        "#login a b\r\n",
    ] {
        assert_eq!(parse_line(line), Ok(None), "{line:?}");
    }
}

#[test]
fn hash_later_in_the_line_is_not_a_comment() {
    assert_eq!(ok("search #tag"), Command::Search { text: s("#tag") });
    assert_eq!(
        ok("publish a #"),
        Command::Publish {
            local: s("a"),
            name: Some(s("#")),
        }
    );
    let e = err("\\#nope");
    assert_eq!(e.command, "#nope");
}

// ---- case and line endings ----

#[test]
fn command_word_is_case_insensitive() {
    assert_eq!(ok("LOGOUT"), Command::Logout);
    assert_eq!(ok("Help"), Command::Help);
    assert_eq!(
        ok("LoGiN Alice PassWord"),
        Command::Login {
            user: s("Alice"),
            password: s("PassWord"),
        }
    );
    assert_eq!(
        ok("FETCH x --from Bob"),
        Command::Fetch {
            name: s("x"),
            from: Some(s("Bob")),
            as_name: None,
            sources: None,
            sequential: false,
        }
    );
    // Options themselves are case-sensitive.
    assert!(err("fetch x --FROM bob").message.contains("unknown option"));
    let e = err("LOGIN alice");
    assert_eq!(e.command, "login");
}

#[test]
fn trailing_cr_is_tolerated() {
    assert_eq!(ok("users\r"), Command::Users);
    assert_eq!(ok("users\r\n"), Command::Users);
    assert_eq!(
        ok("login a b\r\n"),
        Command::Login {
            user: s("a"),
            password: s("b"),
        }
    );
    assert_eq!(
        ok("login \"a\" \"b\"\r"),
        Command::Login {
            user: s("a"),
            password: s("b"),
        }
    );
    assert_eq!(ok("  help  \r"), Command::Help);
}
