//! Tab completion for the line editor (pure): command words from the command table,
//! and for each argument what its usage line names — `<user>` (and `--from`) from the
//! users last seen, `<fname>` / `<name>` from published file names (mine and search
//! results). Names with blanks, quotes or backslashes are completed escaped.

use super::command;
use std::collections::BTreeSet;

/// What can be completed.
#[derive(Debug, Default, Clone)]
pub struct Vocabulary {
    /// User names from the last `users`, joins and leaves.
    pub users: BTreeSet<String>,
    /// File names: what I publish and what searches found.
    pub files: BTreeSet<String>,
}

/// What Tab does to the text before the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// Byte offset where the word being completed starts.
    pub start: usize,
    /// What replaces the text from `start` to the cursor.
    pub replacement: String,
    /// Every match, when there are several (to be listed).
    pub choices: Vec<String>,
}

/// Complete the last word of `before` (the text left of the cursor).
pub fn complete(before: &str, vocab: &Vocabulary) -> Completion {
    let (words, start) = split(before);
    let raw = &before[start..];
    let prefix = unescape(raw.strip_prefix('"').unwrap_or(raw));
    let candidates: Vec<String> = match words.split_first() {
        None => command::words().map(str::to_owned).collect(),
        Some((cmd, args)) => match argument_kind(&cmd.to_lowercase(), args, &prefix) {
            Kind::User => vocab.users.iter().cloned().collect(),
            Kind::File => vocab.files.iter().cloned().collect(),
            Kind::Options(options) => options,
            Kind::Nothing => Vec::new(),
        },
    };
    let matches: Vec<String> = candidates
        .into_iter()
        .filter(|c| c.starts_with(&prefix))
        .collect();
    let unchanged = Completion {
        start,
        replacement: raw.to_owned(),
        choices: Vec::new(),
    };
    match matches.as_slice() {
        [] => unchanged,
        [one] => Completion {
            start,
            replacement: format!("{} ", escape(one)),
            choices: Vec::new(),
        },
        [first, rest @ ..] => {
            let mut common = first.as_str();
            for m in rest {
                let same = common
                    .char_indices()
                    .zip(m.chars())
                    .find(|((_, a), b)| a != b)
                    .map_or(common.len().min(m.len()), |((i, _), _)| i);
                common = &common[..same];
            }
            Completion {
                start,
                replacement: if common.len() > prefix.len() {
                    escape(common)
                } else {
                    raw.to_owned()
                },
                choices: matches.clone(),
            }
        }
    }
}

enum Kind {
    User,
    File,
    Options(Vec<String>),
    Nothing,
}

/// What the next argument of `cmd` is, after the complete words `args`.
fn argument_kind(cmd: &str, args: &[String], prefix: &str) -> Kind {
    let Some(usage) = command::usage(cmd) else {
        return Kind::Nothing;
    };
    let parts: Vec<&str> = usage.split_whitespace().skip(1).collect();
    if prefix.starts_with("--") {
        let options = parts
            .iter()
            .filter_map(|p| p.trim_start_matches('[').strip_prefix("--"))
            .map(|o| format!("--{}", o.trim_end_matches(']')))
            .collect();
        return Kind::Options(options);
    }
    // The placeholder after an option that takes a value, or the next positional.
    let placeholder = match args.last() {
        Some(opt) if opt.starts_with("--") => {
            let at = parts.iter().position(|p| p.trim_start_matches('[') == opt);
            at.and_then(|i| parts.get(i + 1))
                .filter(|p| p.starts_with('<'))
                .copied()
        }
        _ => {
            let mut taken = 0;
            let mut skip_value = false;
            for a in args {
                if std::mem::take(&mut skip_value) {
                    continue;
                }
                if a.starts_with("--") {
                    skip_value = parts
                        .windows(2)
                        .any(|w| w[0].trim_start_matches('[') == a && w[1].starts_with('<'));
                } else {
                    taken += 1;
                }
            }
            parts
                .iter()
                .filter(|p| !p.trim_start_matches('[').starts_with("--"))
                .filter(|p| p.trim_start_matches('[').starts_with('<'))
                .nth(taken)
                .copied()
        }
    };
    match placeholder.map(|p| p.trim_matches(|c| "[]<>".contains(c))) {
        Some("user") => Kind::User,
        Some("fname" | "name") => Kind::File,
        _ => Kind::Nothing,
    }
}

/// The complete words before the last one (unescaped), and where the last one starts.
fn split(text: &str) -> (Vec<String>, usize) {
    let mut words = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if std::mem::take(&mut escaped) {
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ' ' | '\t' if !quoted => {
                if i > start {
                    words.push(unescape(&text[start..i]));
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    (words, start)
}

fn unescape(word: &str) -> String {
    let mut out = String::new();
    let mut escaped = false;
    for c in word.chars() {
        if std::mem::take(&mut escaped) {
            out.push(c);
        } else if c == '\\' {
            escaped = true;
        } else if c != '"' {
            out.push(c);
        }
    }
    out
}

fn escape(word: &str) -> String {
    let mut out = String::new();
    for c in word.chars() {
        if matches!(c, ' ' | '\t' | '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vocabulary {
        Vocabulary {
            users: ["alice", "albert", "bob"].map(String::from).into(),
            files: ["song.mp3", "song two.mp3", "notes.txt"]
                .map(String::from)
                .into(),
        }
    }

    fn tab(before: &str) -> (String, Vec<String>) {
        let c = complete(before, &vocab());
        (
            format!("{}{}", &before[..c.start], c.replacement),
            c.choices,
        )
    }

    #[test]
    fn commands_from_the_table() {
        assert_eq!(tab("sh").0, "shared ");
        assert_eq!(tab("pub").0, "publish ");
        let (line, choices) = tab("s");
        assert_eq!(line, "s");
        assert!(choices.contains(&"say".to_owned()) && choices.contains(&"search".to_owned()));
        assert_eq!(tab("zz"), ("zz".to_owned(), vec![]));
        // Every table word completes to itself.
        for w in command::words() {
            assert!(tab(w).1.is_empty() || tab(w).0 == w, "{w}");
        }
    }

    #[test]
    fn arguments_by_their_usage_placeholder() {
        assert_eq!(tab("msg b").0, "msg bob ");
        assert_eq!(tab("msg al").0, "msg al");
        assert_eq!(tab("msg al").1, ["albert", "alice"]);
        assert_eq!(tab("msg alice hi b").0, "msg alice hi b");
        assert_eq!(tab("fetch n").0, "fetch notes.txt ");
        assert_eq!(tab("fetch so").0, "fetch song");
        assert_eq!(tab("fetch song\\ t").0, "fetch song\\ two.mp3 ");
        assert_eq!(tab("fetch \"song t").0, "fetch song\\ two.mp3 ");
        assert_eq!(
            tab("fetch notes.txt --from b").0,
            "fetch notes.txt --from bob "
        );
        assert_eq!(tab("fetch --from bob n").0, "fetch --from bob notes.txt ");
        assert_eq!(tab("fetch notes.txt --f").0, "fetch notes.txt --from ");
        assert_eq!(tab("unpublish no").0, "unpublish notes.txt ");
        assert_eq!(tab("say b").0, "say b");
    }
}
