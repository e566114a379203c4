//! Tests of splitting a line into words: blanks, quotes, escapes, errors, line endings, Unicode.

use super::*;

fn words(line: &str) -> Vec<String> {
    split_words(line).unwrap()
}

#[test]
fn split_plain_words_on_spaces_and_tabs() {
    assert_eq!(words("a b\tc   d"), ["a", "b", "c", "d"]);
    assert_eq!(words("  \t lead and trail \t "), ["lead", "and", "trail"]);
    assert!(words("").is_empty());
    assert!(words(" \t ").is_empty());
}

#[test]
fn split_quotes_keep_spaces_and_glue() {
    assert_eq!(
        words(r#"login "john doe" "pass word""#),
        ["login", "john doe", "pass word"]
    );
    assert_eq!(words(r#"a"b c"d e"#), ["ab cd", "e"]);
    assert_eq!(words(r#""" x"#), ["", "x"]);
    assert_eq!(words(r#""  two  spaces  ""#), ["  two  spaces  "]);
    assert_eq!(words("\"tab\tinside\""), ["tab\tinside"]);
}

#[test]
fn split_escapes() {
    assert_eq!(words(r#"say\ hi"#), ["say hi"]);
    assert_eq!(words(r#"a\"b"#), [r#"a"b"#]);
    assert_eq!(words(r#"a\\b"#), [r"a\b"]);
    assert_eq!(
        words(r#""in \"quotes\" \\ here""#),
        [r#"in "quotes" \ here"#]
    );
    assert_eq!(words(r#""esc\ space""#), ["esc space"]);
    assert_eq!(words(r"\n\t"), ["nt"]);
    assert_eq!(words(r"a\ "), ["a "]);
    assert_eq!(words("\\#x"), ["#x"]);
}

#[test]
fn split_errors() {
    let e = split_words(r#"login "john"#).unwrap_err();
    assert!(e.contains("unterminated quote"), "{e}");
    assert!(e.contains("column 7"), "{e}");
    assert!(split_words(r#"a "b\""#)
        .unwrap_err()
        .contains("unterminated quote"));
    let e = split_words(r"abc\").unwrap_err();
    assert!(e.contains("backslash"), "{e}");
    assert!(split_words("abc\\\r\n").unwrap_err().contains("backslash"));
}

#[test]
fn split_ignores_trailing_cr_lf() {
    assert_eq!(words("a b\r\n"), ["a", "b"]);
    assert_eq!(words("a \"b\"\r"), ["a", "b"]);
}

#[test]
fn split_handles_unicode() {
    assert_eq!(words("héllo \"wörld ünï\" ✓"), ["héllo", "wörld ünï", "✓"]);
    let e = split_words("é \"x").unwrap_err();
    assert!(e.contains("column 3"), "{e}");
}
