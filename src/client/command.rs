//! Pure parser for the commands typed at the `peerhub client` prompt (no I/O).
//!
//! One table (`TABLE`) holds every command word with its usage line and a short
//! description; the usage line is the single source of truth for each command's
//! positional arguments and options, so [`usage`], [`help_text`] and the arity and
//! option checks in [`parse_line`] can never disagree.
//!
//! Grammar:
//! - words are separated by spaces and tabs; `"…"` quotes (a quoted part may
//!   contain spaces and may be glued to unquoted text: `a"b c"` is `ab c`); a
//!   backslash takes the next character literally, inside or outside quotes;
//! - options (`--from X`, `--as X`, `--replace`) may stand anywhere after the
//!   command word; a bare `--` ends option parsing;
//! - `say <text>` and `msg <user> <text>` take the rest of the line exactly as
//!   typed (only the whitespace before the text and a trailing CR/LF are removed);
//! - blank lines and lines whose first non-blank character is `#` are ignored;
//! - the command word is case-insensitive.

use std::fmt;

/// One row of the command table: the command word, its usage line and what it does.
struct Entry {
    word: &'static str,
    usage: &'static str,
    about: &'static str,
}

/// The command table. The usage line drives arity and option checks:
/// `<x>` is a required positional, `[<x>]` an optional one, `[--flag]` a flag
/// option and `[--opt <x>]` an option taking a value.
const TABLE: &[Entry] = &[
    Entry {
        word: "register",
        usage: "register <user> <password>",
        about: "create an account",
    },
    Entry {
        word: "login",
        usage: "login <user> <password>",
        about: "log in and announce the peer port",
    },
    Entry {
        word: "logout",
        usage: "logout",
        about: "end the session; the client keeps running",
    },
    Entry {
        word: "quit",
        usage: "quit",
        about: "leave cleanly once in-flight work is done",
    },
    Entry {
        word: "passwd",
        usage: "passwd <old> <new>",
        about: "change my password",
    },
    Entry {
        word: "publish",
        usage: "publish <lname> [<fname>]",
        about: "announce a file beneath the share dir (a relative lname is in the share dir) as fname (default: its file name)",
    },
    Entry {
        word: "unpublish",
        usage: "unpublish <fname>",
        about: "withdraw a published file",
    },
    Entry {
        word: "shared",
        usage: "shared",
        about: "list what I publish",
    },
    Entry {
        word: "search",
        usage: "search <text>",
        about: "published names containing text, with owners online",
    },
    Entry {
        word: "fetch",
        usage: "fetch <fname> [--from <user>] [--as <name>]",
        about: "download a published file straight from a peer into the share dir",
    },
    Entry {
        word: "transfers",
        usage: "transfers",
        about: "downloads and uploads in progress",
    },
    Entry {
        word: "cancel",
        usage: "cancel <fname>",
        about: "stop a fetch (the partial file stays, resumable) or a store upload/download",
    },
    Entry {
        word: "users",
        usage: "users",
        about: "who is online",
    },
    Entry {
        word: "say",
        usage: "say <text>",
        about: "chat to everyone (the rest of the line, as typed)",
    },
    Entry {
        word: "msg",
        usage: "msg <user> <text>",
        about: "chat to one user (the rest of the line, as typed)",
    },
    Entry {
        word: "upload",
        usage: "upload <path> [<name>] [--replace]",
        about: "put a file or directory (relative to the working directory) into the hub's store",
    },
    Entry {
        word: "download",
        usage: "download <name> [<dest>]",
        about: "take a file or directory from the store into dest (relative to the working directory; default: <share>/<name>)",
    },
    Entry {
        word: "store",
        usage: "store",
        about: "list the store, and my usage against my quota",
    },
    Entry {
        word: "rm",
        usage: "rm <name>",
        about: "remove my own entry (a file or a whole directory) from the hub's store",
    },
    Entry {
        word: "status",
        usage: "status",
        about: "login state, user, hub, transfers in flight and publications",
    },
    Entry {
        word: "wait",
        usage: "wait",
        about: "run the next line only once every earlier command has its result (scripts)",
    },
    Entry {
        word: "help",
        usage: "help",
        about: "show this list of commands",
    },
];

/// A parsed client command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `register <user> <password>`: create an account.
    Register {
        /// Account name.
        user: String,
        /// Its password.
        password: String,
    },
    /// `login <user> <password>`: log in.
    Login {
        /// Account name.
        user: String,
        /// Its password.
        password: String,
    },
    /// `logout`: end the session, keep running.
    Logout,
    /// `quit`: leave cleanly and exit.
    Quit,
    /// `passwd <old> <new>`: change my password.
    Passwd {
        /// The current password.
        old: String,
        /// The new password.
        new: String,
    },
    /// `publish <lname> [<fname>]`: announce a local file under a name.
    Publish {
        /// Local path (relative paths resolve in the share dir).
        local: String,
        /// Published name; `None` means the file's own name.
        name: Option<String>,
    },
    /// `unpublish <fname>`: withdraw a published name.
    Unpublish {
        /// The published name.
        name: String,
    },
    /// `shared`: list what I publish.
    Shared,
    /// `search <text>`: search published names.
    Search {
        /// Text the names must contain.
        text: String,
    },
    /// `fetch <fname> [--from <user>] [--as <name>]`: download from a peer.
    Fetch {
        /// The published name.
        name: String,
        /// `--from`: the peer to download from.
        from: Option<String>,
        /// `--as`: the local name to save under.
        as_name: Option<String>,
    },
    /// `transfers`: transfers in progress.
    Transfers,
    /// `cancel <fname>`: stop a download.
    Cancel {
        /// The published name being downloaded.
        name: String,
    },
    /// `users`: who is online.
    Users,
    /// `say <text>`: chat to everyone.
    Say {
        /// The rest of the line as typed (never empty).
        text: String,
    },
    /// `msg <user> <text>`: chat to one user.
    Msg {
        /// The recipient (quoting and escapes apply).
        user: String,
        /// The rest of the line as typed (never empty).
        text: String,
    },
    /// `upload <path> [<name>] [--replace]`: put a file or directory into the store.
    Upload {
        /// Path relative to the working directory.
        path: String,
        /// Store name; `None` means the path's own name.
        name: Option<String>,
        /// `--replace`: overwrite my own existing entry.
        replace: bool,
    },
    /// `download <name> [<dest>]`: take a file or directory from the store.
    Download {
        /// The store name.
        name: String,
        /// Destination relative to the working directory; `None` means the default.
        dest: Option<String>,
    },
    /// `store`: list the store.
    Store,
    /// `rm <name>`: remove my own store entry.
    Rm {
        /// The store name.
        name: String,
    },
    /// `status`: where the client stands (login, hub, transfers, publications).
    Status,
    /// `wait`: hold the following lines until every earlier command has its result.
    Wait,
    /// `help`: list the commands.
    Help,
}

impl Command {
    /// The command word that produces this command (`"register"`, `"login"`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Register { .. } => "register",
            Command::Login { .. } => "login",
            Command::Logout => "logout",
            Command::Quit => "quit",
            Command::Passwd { .. } => "passwd",
            Command::Publish { .. } => "publish",
            Command::Unpublish { .. } => "unpublish",
            Command::Shared => "shared",
            Command::Search { .. } => "search",
            Command::Fetch { .. } => "fetch",
            Command::Transfers => "transfers",
            Command::Cancel { .. } => "cancel",
            Command::Users => "users",
            Command::Say { .. } => "say",
            Command::Msg { .. } => "msg",
            Command::Upload { .. } => "upload",
            Command::Download { .. } => "download",
            Command::Store => "store",
            Command::Rm { .. } => "rm",
            Command::Status => "status",
            Command::Wait => "wait",
            Command::Help => "help",
        }
    }
}

/// Why a typed line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The command word as typed, lowercased; empty when no word could be read.
    pub command: String,
    /// A self-contained human explanation, including the usage line when the
    /// command is known (this is what `Display` prints).
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

/// The usage line for a command word (case-insensitive), e.g.
/// `usage("fetch") == Some("fetch <fname> [--from <user>] [--as <name>]")`.
pub fn usage(command: &str) -> Option<&'static str> {
    lookup(command).map(|e| e.usage)
}

/// Every command word, in table order (what Tab completes).
pub fn words() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|e| e.word)
}

/// The help text: one line per command with its usage and a short description
/// (each line ends with `\n`).
pub fn help_text() -> String {
    let width = TABLE.iter().map(|e| e.usage.len()).max().unwrap_or(0);
    TABLE
        .iter()
        .map(|e| format!("{:<width$}  {}\n", e.usage, e.about))
        .collect()
}

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

/// Parse one typed line. `Ok(None)` for a blank line or a line whose first
/// non-blank character is `#`.
pub fn parse_line(line: &str) -> Result<Option<Command>, ParseError> {
    let line = strip_eol(line);
    let body = line.trim_start_matches(is_blank);
    if body.is_empty() || body.starts_with('#') {
        return Ok(None);
    }
    let (typed, after) = match next_word(line, 0) {
        Ok(Some(found)) => found,
        Ok(None) => return Ok(None),
        Err(e) => {
            return Err(ParseError {
                command: String::new(),
                message: e,
            });
        }
    };
    let word = typed.to_lowercase();
    let Some(entry) = lookup(&word) else {
        let hint = crate::suggest::did_you_mean(&word, TABLE.iter().map(|e| e.word));
        return Err(ParseError {
            message: format!("unknown command {word:?}{hint}; type help for the list"),
            command: word,
        });
    };
    let fail = |what: String| ParseError {
        command: word.clone(),
        message: format!("{what}; usage: {}", entry.usage),
    };
    match entry.word {
        "say" => {
            let text = without_dashes(line[after..].trim_start_matches(is_blank));
            if text.is_empty() {
                return Err(fail("missing <text>".into()));
            }
            Ok(Some(Command::Say { text: text.into() }))
        }
        "msg" => {
            let (user, end) = match next_word(line, after) {
                Ok(Some(found)) => found,
                Ok(None) => return Err(fail("missing <user>".into())),
                Err(e) => return Err(fail(e)),
            };
            if user.is_empty() {
                return Err(fail("<user> must not be empty".into()));
            }
            let text = without_dashes(line[end..].trim_start_matches(is_blank));
            if text.is_empty() {
                return Err(fail("missing <text>".into()));
            }
            Ok(Some(Command::Msg {
                user,
                text: text.into(),
            }))
        }
        _ => {
            let mut words = Vec::new();
            let mut pos = after;
            loop {
                match next_word(line, pos) {
                    Ok(Some((w, end))) => {
                        words.push(w);
                        pos = end;
                    }
                    Ok(None) => break,
                    Err(e) => return Err(fail(e)),
                }
            }
            let args = Args::parse(entry, words).map_err(fail)?;
            build(entry.word, args).map(Some).map_err(fail)
        }
    }
}

/// Chat text without a leading `--` word: `say -- --from` says `--from`, as `--` ends
/// the options of every other command.
fn without_dashes(text: &str) -> &str {
    match text.strip_prefix("--") {
        Some(rest) if rest.is_empty() || rest.starts_with(is_blank) => {
            rest.trim_start_matches(is_blank)
        }
        _ => text,
    }
}

/// Remove any trailing CR/LF characters.
fn strip_eol(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// Word separators: space and tab.
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Find a table entry by command word, ignoring ASCII case.
fn lookup(word: &str) -> Option<&'static Entry> {
    TABLE.iter().find(|e| e.word.eq_ignore_ascii_case(word))
}

/// Read the word starting at byte `start` (after skipping blanks). Returns the
/// word and the byte offset just past it, or `None` if only blanks remain.
fn next_word(s: &str, start: usize) -> Result<Option<(String, usize)>, String> {
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

/// An option as described by a usage line: `--flag` or `--opt <value>`.
struct OptSpec {
    flag: &'static str,
    value: Option<&'static str>,
}

/// Positionals and options derived from a usage line.
struct Spec {
    required: Vec<&'static str>,
    optional: Vec<&'static str>,
    options: Vec<OptSpec>,
}

impl Spec {
    /// Derive the argument spec from a usage line (see [`TABLE`]).
    fn of(usage: &'static str) -> Spec {
        let mut spec = Spec {
            required: Vec::new(),
            optional: Vec::new(),
            options: Vec::new(),
        };
        let mut tokens = usage.split_whitespace().skip(1);
        while let Some(t) = tokens.next() {
            if let Some(opt) = t.strip_prefix('[').filter(|o| o.starts_with("--")) {
                match opt.strip_suffix(']') {
                    Some(flag) => spec.options.push(OptSpec { flag, value: None }),
                    None => {
                        let value = tokens.next().unwrap_or("<value>]").trim_end_matches(']');
                        spec.options.push(OptSpec {
                            flag: opt,
                            value: Some(value),
                        });
                    }
                }
            } else if let Some(opt) = t.strip_prefix('[') {
                spec.optional.push(opt.trim_end_matches(']'));
            } else {
                spec.required.push(t);
            }
        }
        spec
    }
}

/// The arguments of a (non-chat) command after option and arity checks.
struct Args {
    positional: std::vec::IntoIter<String>,
    options: Vec<(&'static str, Option<String>)>,
}

impl Args {
    /// Separate options from positionals and check them against the usage line.
    fn parse(entry: &Entry, words: Vec<String>) -> Result<Args, String> {
        let spec = Spec::of(entry.usage);
        let mut positional = Vec::new();
        let mut options: Vec<(&'static str, Option<String>)> = Vec::new();
        let mut options_done = false;
        let mut words = words.into_iter();
        while let Some(w) = words.next() {
            if !options_done && w == "--" {
                options_done = true;
                continue;
            }
            if options_done || !w.starts_with("--") {
                positional.push(w);
                continue;
            }
            let Some(opt) = spec.options.iter().find(|o| o.flag == w) else {
                return Err(unknown_option(entry.word, &w, &spec));
            };
            if options.iter().any(|(f, _)| *f == opt.flag) {
                return Err(format!("option {} given more than once", opt.flag));
            }
            let value = match opt.value {
                None => None,
                Some(placeholder) => match words.next() {
                    Some(v) if !v.starts_with("--") => {
                        if v.is_empty() {
                            return Err(format!(
                                "{placeholder} for {} must not be empty",
                                opt.flag
                            ));
                        }
                        Some(v)
                    }
                    _ => return Err(format!("option {} needs a value {placeholder}", opt.flag)),
                },
            };
            options.push((opt.flag, value));
        }
        let max = spec.required.len() + spec.optional.len();
        if let Some(missing) = spec.required.get(positional.len()) {
            return Err(format!("missing {missing}"));
        }
        if let Some(extra) = positional.get(max) {
            return Err(format!("unexpected extra argument {extra:?}"));
        }
        let names = spec.required.iter().chain(spec.optional.iter());
        if let Some((name, _)) = names.zip(&positional).find(|(_, v)| v.is_empty()) {
            return Err(format!("{name} must not be empty"));
        }
        Ok(Args {
            positional: positional.into_iter(),
            options,
        })
    }

    /// The next required positional (arity was checked, so it is present).
    fn req(&mut self) -> String {
        self.positional.next().unwrap_or_default()
    }

    /// The next optional positional, if given.
    fn opt(&mut self) -> Option<String> {
        self.positional.next()
    }

    /// The value given to option `flag`, if any.
    fn value(&self, flag: &str) -> Option<String> {
        self.options
            .iter()
            .find(|(f, _)| *f == flag)
            .and_then(|(_, v)| v.clone())
    }

    /// Whether flag option `flag` was given.
    fn flag(&self, flag: &str) -> bool {
        self.options.iter().any(|(f, _)| *f == flag)
    }
}

/// The message for an option the command does not take.
fn unknown_option(word: &str, given: &str, spec: &Spec) -> String {
    if spec.options.is_empty() {
        format!(
            "unknown option {given:?} ({word} takes no options; put -- before an argument that starts with --)"
        )
    } else {
        let known: Vec<&str> = spec.options.iter().map(|o| o.flag).collect();
        format!("unknown option {given:?} (options: {})", known.join(", "))
    }
}

/// Build the command for `word` from its checked arguments.
fn build(word: &str, mut a: Args) -> Result<Command, String> {
    Ok(match word {
        "register" => Command::Register {
            user: a.req(),
            password: a.req(),
        },
        "login" => Command::Login {
            user: a.req(),
            password: a.req(),
        },
        "logout" => Command::Logout,
        "quit" => Command::Quit,
        "passwd" => Command::Passwd {
            old: a.req(),
            new: a.req(),
        },
        "publish" => Command::Publish {
            local: a.req(),
            name: a.opt(),
        },
        "unpublish" => Command::Unpublish { name: a.req() },
        "shared" => Command::Shared,
        "search" => Command::Search { text: a.req() },
        "fetch" => Command::Fetch {
            name: a.req(),
            from: a.value("--from"),
            as_name: a.value("--as"),
        },
        "transfers" => Command::Transfers,
        "cancel" => Command::Cancel { name: a.req() },
        "users" => Command::Users,
        "upload" => Command::Upload {
            path: a.req(),
            name: a.opt(),
            replace: a.flag("--replace"),
        },
        "download" => Command::Download {
            name: a.req(),
            dest: a.opt(),
        },
        "store" => Command::Store,
        "rm" => Command::Rm { name: a.req() },
        "status" => Command::Status,
        "wait" => Command::Wait,
        "help" => Command::Help,
        other => return Err(format!("command {other:?} is not handled here")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn words(line: &str) -> Vec<String> {
        split_words(line).unwrap()
    }

    // ---- split_words ----

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
                },
            ),
            (
                "fetch song --from bob --as mine",
                Command::Fetch {
                    name: s("song"),
                    from: Some(s("bob")),
                    as_name: Some(s("mine")),
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
            let mut line = e.word.to_string();
            for _ in &spec.required {
                line.push_str(" x");
            }
            let cmd = ok(&line);
            assert_eq!(cmd.name(), e.word);
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
        };
        assert_eq!(ok("fetch --from bob --as mine song"), want);
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

    // ---- errors ----

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
    fn parse_error_is_an_error() {
        let e: Box<dyn std::error::Error> = Box::new(err("frob"));
        assert!(e.to_string().contains("unknown command"));
    }

    // ---- table-driven helpers ----

    #[test]
    fn usage_lines() {
        assert_eq!(
            usage("fetch"),
            Some("fetch <fname> [--from <user>] [--as <name>]")
        );
        assert_eq!(usage("FETCH"), usage("fetch"));
        assert_eq!(usage("upload"), Some("upload <path> [<name>] [--replace]"));
        assert_eq!(usage("say"), Some("say <text>"));
        assert_eq!(usage("msg"), Some("msg <user> <text>"));
        assert_eq!(usage("help"), Some("help"));
        assert_eq!(usage("frob"), None);
        assert_eq!(usage(""), None);
        for e in TABLE {
            assert_eq!(usage(e.word), Some(e.usage));
            assert!(e.usage.starts_with(e.word));
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
            assert_eq!(a.word, a.word.to_lowercase());
            assert!(TABLE[i + 1..].iter().all(|b| b.word != a.word));
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
}
