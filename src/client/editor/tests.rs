//! Tests of editor.rs: keys typed, lines returned, the bytes rendered.

use super::*;

fn typed(e: &mut Editor, bytes: &[u8]) -> Vec<Edit> {
    let mut edits = Vec::new();
    e.feed(bytes, &Vocabulary::default(), &mut edits);
    edits
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

#[test]
fn editing_keys_move_and_delete() {
    let mut e = Editor::new("> ", 80, true);
    typed(&mut e, b"say hello world");
    typed(&mut e, b"\x17"); // Ctrl-W
    assert_eq!(e.line(), "say hello ");
    typed(&mut e, b"\x1b\x7f"); // Alt-Backspace
    assert_eq!(e.line(), "say ");
    typed(&mut e, b"there\x01\x1b[Cx"); // Home, Right, x
    assert_eq!(e.line(), "sxay there");
    typed(&mut e, b"\x0b"); // Ctrl-K
    assert_eq!(e.line(), "sx");
    typed(&mut e, b"\x05yz\x1b[D\x1b[D\x15"); // End, yz, Left Left, Ctrl-U
    assert_eq!(e.line(), "yz");
    typed(&mut e, b"\x1b[H\x1b[3~\x04"); // Home, Delete, Ctrl-D deletes too
    assert_eq!(e.line(), "");
    assert_eq!(typed(&mut e, b"\x04"), [Edit::EndOfInput]);
    assert_eq!(typed(&mut e, b"users\r"), [Edit::Line("users".into())]);
    assert_eq!(e.line(), "");
    assert_eq!(typed(&mut e, b"\x03"), [Edit::Interrupt]);
}

#[test]
fn history_browses_and_keeps_the_draft() {
    let mut e = Editor::new("> ", 80, true);
    e.set_history(vec!["one".into(), "two".into()]);
    e.push_history("two".into());
    e.push_history("  ".into());
    assert_eq!(e.history(), ["one", "two"]);
    typed(&mut e, b"dra");
    typed(&mut e, b"\x1b[A");
    assert_eq!(e.line(), "two");
    typed(&mut e, b"\x1b[A\x1b[A");
    assert_eq!(e.line(), "one");
    typed(&mut e, b"\x1b[B");
    assert_eq!(e.line(), "two");
    typed(&mut e, b"\x1b[B");
    assert_eq!(e.line(), "dra");
    let many = (0..MAX_HISTORY + 5).map(|i| i.to_string()).collect();
    e.set_history(many);
    e.push_history("last".into());
    assert_eq!(e.history().len(), MAX_HISTORY);
    assert_eq!(e.history()[0], "6");
}

#[test]
fn a_long_paste_is_cut_with_a_notice() {
    let mut e = Editor::new("> ", 80, true);
    let paste = vec![b'x'; MAX_INPUT + 10];
    typed(&mut e, &paste);
    assert_eq!(e.line().len(), MAX_INPUT);
    let shown = text(e.take_output());
    assert!(shown.contains("10 character(s) were not added"), "{shown}");
}

#[test]
fn secrets_are_not_echoed() {
    let mut e = Editor::new("> ", 80, true);
    e.take_output();
    e.ask_secret("password: ");
    typed(&mut e, b"hunter2");
    let shown = text(e.take_output());
    assert!(shown.ends_with("password: ") && !shown.contains("hunter"));
    typed(&mut e, b"\x1b[A\t\x7f");
    assert_eq!(typed(&mut e, b"\r"), [Edit::Secret("hunter".into())]);
    assert!(!e.asking());
    assert!(e.history().is_empty());
}

#[test]
fn printing_above_clears_the_area_and_draws_it_again() {
    let mut e = Editor::new("> ", 80, true);
    typed(&mut e, b"say hel");
    assert_eq!(text(e.take_output()), "> say hel\r\x1b[9C");
    e.set_status(vec!["bar".into()]);
    assert_eq!(text(e.take_output()), "\r\x1b[Jbar\r\n> say hel\r\x1b[9C");
    e.print_above("bob: hi");
    assert_eq!(
        text(e.take_output()),
        "\r\x1b[1A\x1b[Jbob: hi\r\nbar\r\n> say hel\r\x1b[9C"
    );
    assert_eq!(e.line(), "say hel");
    assert_eq!(text(e.finish()), "\r\x1b[1A\x1b[J");
}

#[test]
fn nothing_drawn_is_wider_than_the_terminal() {
    let mut e = Editor::new("> ", 20, true);
    e.set_status(vec!["x".repeat(50)]);
    typed(&mut e, "a".repeat(30).as_bytes());
    let shown = text(e.take_output());
    let rows: Vec<&str> = shown.split("\r\n").collect();
    assert_eq!(rows[0], "x".repeat(19));
    // The input scrolls: its end and the cursor stay in view.
    assert_eq!(rows[1], format!("> {}\r\x1b[18C", "a".repeat(16)));
    typed(&mut e, b"\x01");
    let shown = text(e.take_output());
    assert!(shown.ends_with(&format!("> {}\r\x1b[2C", "a".repeat(17))));
}

#[test]
fn without_an_input_line_only_status_lines_are_drawn() {
    let mut e = Editor::new("> ", 80, false);
    assert_eq!(e.take_output(), b"");
    e.print_above("hello");
    assert_eq!(text(e.take_output()), "hello\r\n");
    e.set_status(vec!["bar".into()]);
    assert_eq!(text(e.take_output()), "bar\r\n");
    e.set_status(Vec::new());
    assert_eq!(text(e.take_output()), "\r\x1b[1A\x1b[J");
}
