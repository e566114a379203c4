//! Tests of what the command table drives: usage lines, the help text, the words and the argument spec.

use super::*;

#[test]
fn usage_lines() {
    assert_eq!(
        usage("fetch"),
        Some("fetch <fname> [--from <user>] [--as <name>] [--sources <n>] [--sequential]")
    );
    assert_eq!(usage("FETCH"), usage("fetch"));
    assert_eq!(usage("upload"), Some("upload <path> [<name>] [--replace]"));
    assert_eq!(usage("say"), Some("say <text>"));
    assert_eq!(usage("msg"), Some("msg <user> <text>"));
    assert_eq!(usage("help"), Some("help"));
    assert_eq!(usage("frob"), None);
    assert_eq!(usage(""), None);
    for e in TABLE {
        assert_eq!(usage(e.word()), Some(e.usage));
        assert!(e.usage.starts_with(e.word()));
    }
}

#[test]
fn help_has_one_line_per_command() {
    let help = help_text();
    let lines: Vec<&str> = help.lines().collect();
    assert_eq!(lines.len(), TABLE.len());
    assert_eq!(TABLE.len(), 22);
    for (line, e) in lines.iter().zip(TABLE) {
        assert!(line.starts_with(e.usage), "{line}");
        assert!(line.ends_with(e.about), "{line}");
    }
    assert!(help.ends_with('\n'));
    // Descriptions are aligned in one column.
    let col = lines[0].find(TABLE[0].about).unwrap();
    assert!(lines
        .iter()
        .zip(TABLE)
        .all(|(l, e)| l.find(e.about) == Some(col)));
}

#[test]
fn table_words_are_unique_and_lowercase() {
    for (i, a) in TABLE.iter().enumerate() {
        assert_eq!(a.word(), a.word().to_lowercase());
        assert!(TABLE[i + 1..].iter().all(|b| b.word() != a.word()));
    }
}

#[test]
fn spec_is_derived_from_usage() {
    let f = Spec::of("fetch <fname> [--from <user>] [--as <name>]");
    assert_eq!(f.required, ["<fname>"]);
    assert!(f.optional.is_empty());
    let opts: Vec<(&str, Option<&str>)> = f.options.iter().map(|o| (o.flag, o.value)).collect();
    assert_eq!(opts, [("--from", Some("<user>")), ("--as", Some("<name>"))]);
    let u = Spec::of("upload <path> [<name>] [--replace]");
    assert_eq!(u.required, ["<path>"]);
    assert_eq!(u.optional, ["<name>"]);
    let opts: Vec<(&str, Option<&str>)> = u.options.iter().map(|o| (o.flag, o.value)).collect();
    assert_eq!(opts, [("--replace", None)]);
    let l = Spec::of("logout");
    assert!(l.required.is_empty() && l.optional.is_empty() && l.options.is_empty());
}
