//! Tests of the parser's refusals: unknown commands, bad words, arity, options and empty values, each with its message.

use super::*;

#[test]
fn unknown_command() {
    let e = err("frob x y");
    assert_eq!(e.command, "frob");
    assert_eq!(
        e.message,
        "unknown command \"frob\"; type help for the list"
    );
    assert_eq!(e.to_string(), e.message);
    let e = err("serach x");
    assert_eq!(
        e.message,
        "unknown command \"serach\"; did you mean \"search\"?; type help for the list"
    );
    let e = err("FROB");
    assert_eq!(e.command, "frob");
    assert!(e.message.contains("\"frob\""));
    let e = err(r#""" x"#);
    assert_eq!(e.command, "");
    assert!(e.message.contains("unknown command"));
}

#[test]
fn split_error_on_the_command_word_has_empty_command() {
    let e = err("\"login a b");
    assert_eq!(e.command, "");
    assert!(e.message.contains("unterminated quote"), "{e}");
    let e = err("\\");
    assert_eq!(e.command, "");
    assert!(e.message.contains("backslash"), "{e}");
}

#[test]
fn split_errors_in_arguments_include_usage() {
    let e = err("login \"john doe secret");
    assert_eq!(e.command, "login");
    assert!(e.message.contains("unterminated quote"), "{e}");
    assert!(e.message.contains("usage: login <user> <password>"), "{e}");
    let e = err("publish file\\");
    assert!(e.message.contains("backslash"), "{e}");
    assert!(e.message.contains("usage: publish"), "{e}");
}

#[test]
fn missing_positionals() {
    let e = err("login alice");
    assert_eq!(e.command, "login");
    assert_eq!(
        e.message,
        "missing <password>; usage: login <user> <password>"
    );
    assert!(err("register").message.contains("missing <user>"));
    assert!(err("passwd x").message.contains("missing <new>"));
    assert!(err("publish").message.contains("missing <lname>"));
    assert!(err("unpublish").message.contains("missing <fname>"));
    assert!(err("search").message.contains("missing <text>"));
    assert!(err("fetch --from bob").message.contains("missing <fname>"));
    assert!(err("cancel").message.contains("missing <fname>"));
    assert!(err("upload --replace").message.contains("missing <path>"));
    assert!(err("download").message.contains("missing <name>"));
}

#[test]
fn too_many_positionals() {
    let e = err("logout now");
    assert_eq!(e.command, "logout");
    assert_eq!(
        e.message,
        "unexpected extra argument \"now\"; usage: logout"
    );
    for line in [
        "register a b c",
        "login a b c",
        "quit x",
        "passwd a b c",
        "publish a b c",
        "unpublish a b",
        "shared x",
        "search two words",
        "fetch a b",
        "transfers x",
        "cancel a b",
        "users x",
        "upload a b c",
        "download a b c",
        "store x",
        "help fetch",
    ] {
        let e = err(line);
        assert!(
            e.message.contains("unexpected extra argument"),
            "{line}: {e}"
        );
        let word = line.split(' ').next().unwrap();
        assert_eq!(e.command, word);
        assert!(
            e.message
                .ends_with(&format!("usage: {}", usage(word).unwrap())),
            "{line}: {e}"
        );
    }
}

#[test]
fn unknown_options() {
    let e = err("publish --x a");
    assert_eq!(e.command, "publish");
    assert!(e.message.contains("unknown option \"--x\""), "{e}");
    assert!(e.message.contains("publish takes no options"), "{e}");
    assert!(
        e.message.contains("usage: publish <lname> [<fname>]"),
        "{e}"
    );
    let e = err("fetch a --to bob");
    assert!(e.message.contains("unknown option \"--to\""), "{e}");
    assert!(e.message.contains("--from, --as"), "{e}");
    let e = err("upload a --from x");
    assert!(e.message.contains("unknown option \"--from\""), "{e}");
    assert!(e.message.contains("options: --replace"), "{e}");
    assert!(err("fetch a --replace").message.contains("unknown option"));
    assert!(err("login --user a b").message.contains("unknown option"));
    assert!(err("users --all").message.contains("unknown option"));
    assert!(err("fetch a --from=bob").message.contains("unknown option"));
}

#[test]
fn option_missing_its_value() {
    let e = err("fetch a --from");
    assert_eq!(e.command, "fetch");
    assert!(
        e.message.contains("option --from needs a value <user>"),
        "{e}"
    );
    assert!(e.message.contains("usage: fetch"), "{e}");
    assert!(err("fetch a --as")
        .message
        .contains("--as needs a value <name>"));
    // A following option or `--` is not taken as the value.
    assert!(err("fetch a --from --as x")
        .message
        .contains("--from needs a value"));
    assert!(err("fetch --as -- a")
        .message
        .contains("--as needs a value"));
}

#[test]
fn repeated_options() {
    let e = err("fetch a --from bob --from carol");
    assert_eq!(e.command, "fetch");
    assert!(
        e.message.contains("option --from given more than once"),
        "{e}"
    );
    assert!(e.message.contains("usage: fetch"), "{e}");
    assert!(err("fetch --as x a --as y")
        .message
        .contains("--as given more than once"));
    assert!(err("upload a --replace --replace")
        .message
        .contains("--replace given more than once"));
}

#[test]
fn empty_arguments_are_refused() {
    let e = err(r#"login "" pw"#);
    assert!(e.message.contains("<user> must not be empty"), "{e}");
    assert!(err(r#"passwd a """#)
        .message
        .contains("<new> must not be empty"));
    assert!(err(r#"publish a """#)
        .message
        .contains("<fname> must not be empty"));
    assert!(err(r#"fetch a --from """#)
        .message
        .contains("<user> for --from must not be empty"));
}

#[test]
fn parse_error_is_an_error_that_prints_its_message() {
    let e = err("login alice");
    let boxed: Box<dyn std::error::Error> = Box::new(e.clone());
    assert_eq!(
        boxed.to_string(),
        "missing <password>; usage: login <user> <password>"
    );
    assert!(boxed.source().is_none());
    assert_eq!(boxed.downcast_ref::<ParseError>(), Some(&e));
}
