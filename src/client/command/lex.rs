//! Words of a typed line: blanks separate them, `"…"` quotes and a backslash escapes; a trailing CR/LF is ignored.

/// Split a line into words: spaces and tabs separate words; `"…"` quotes (the
/// quoted part may contain spaces, and `""` is an empty word); a backslash takes
/// the next character literally, inside or outside quotes. A trailing CR/LF is
/// ignored. An unterminated quote or a trailing lone backslash is an error.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let line = strip_eol(line);
    let mut words = Vec::new();
    let mut pos = 0;
    while let Some((word, end)) = next_word(line, pos)? {
        words.push(word);
        pos = end;
    }
    Ok(words)
}

/// Chat text without a leading `--` word: `say -- --from` says `--from`, as `--` ends
/// the options of every other command.
pub(super) fn without_dashes(text: &str) -> &str {
    match text.strip_prefix("--") {
        Some(rest) if rest.is_empty() || rest.starts_with(is_blank) => {
            rest.trim_start_matches(is_blank)
        }
        _ => text,
    }
}

/// Remove any trailing CR/LF characters.
pub(super) fn strip_eol(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// Word separators: space and tab.
pub(super) fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Read the word starting at byte `start` (after skipping blanks). Returns the
/// word and the byte offset just past it, or `None` if only blanks remain.
pub(super) fn next_word(s: &str, start: usize) -> Result<Option<(String, usize)>, String> {
    let rest = s.get(start..).unwrap_or("");
    let mut chars = rest.char_indices().map(|(i, c)| (start + i, c)).peekable();
    while chars.next_if(|&(_, c)| is_blank(c)).is_some() {}
    if chars.peek().is_none() {
        return Ok(None);
    }
    let mut word = String::new();
    let mut quote_open: Option<usize> = None;
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, escaped)) => word.push(escaped),
                None => return Err("trailing backslash with nothing to escape".into()),
            },
            '"' => quote_open = if quote_open.is_some() { None } else { Some(i) },
            c if is_blank(c) && quote_open.is_none() => return Ok(Some((word, i))),
            c => word.push(c),
        }
    }
    if let Some(at) = quote_open {
        let column = s[..at].chars().count() + 1;
        return Err(format!("unterminated quote (opened at column {column})"));
    }
    Ok(Some((word, s.len())))
}
