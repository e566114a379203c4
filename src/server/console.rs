//! Operator commands typed on the hub's stdin: one table row per command (word, usage, help, arguments) drives the enum, `help`, the "did you mean" words and a pure parser.

/// A console line that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleError {
    pub command: String,
    pub message: String,
}

/// One row of the console's command table: its usage line (whose first word is the
/// command word), what it does, and how its arguments build the command.
#[derive(Clone, Copy)]
pub struct Row {
    usage: &'static str,
    about: &'static str,
    build: fn(&mut Args<'_>) -> Result<ConsoleCommand, Refusal>,
}

impl Row {
    /// The command word: the usage line's first word.
    fn word(&self) -> &'static str {
        self.usage.split(' ').next().unwrap_or(self.usage)
    }

    /// What the operator is told when this row's arguments are refused.
    fn refusal(&self, refusal: Refusal) -> String {
        let usage = self.usage;
        match refusal {
            Refusal::Extra(extra) if usage == self.word() => {
                format!("unexpected extra argument {extra:?}; usage: {usage}")
            }
            Refusal::Usage | Refusal::Extra(_) => format!("usage: {usage}"),
            Refusal::Minutes => format!("usage: {usage}  (minutes: a whole number above 0)"),
        }
    }
}

/// A row as its help line: the usage, padded to the longest usage, then what it does.
impl From<Row> for String {
    fn from(row: Row) -> String {
        let width = HELP.iter().map(|r| r.usage.len()).max().unwrap_or(0);
        format!("{:<width$}  {}", row.usage, row.about)
    }
}

/// Why a command's arguments were refused.
enum Refusal {
    /// A missing or surplus argument, or one that is not closed: the usage says it.
    Usage,
    /// `[minutes]` is not a whole number above 0.
    Minutes,
    /// A word left over once the row took its arguments.
    Extra(String),
}

/// The text after a command word, taken from the left by the row's getters (one per
/// field, in field order); what none takes is refused by [`Args::finish`].
struct Args<'a> {
    rest: &'a str,
}

impl Args<'_> {
    /// The next word (`<user>`).
    fn word(&mut self) -> Result<String, Refusal> {
        let text = self.rest.trim_start();
        if text.is_empty() {
            return Err(Refusal::Usage);
        }
        let (word, after) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        self.rest = after;
        Ok(word.to_owned())
    }

    /// An optional last word, a whole number of minutes above 0 (`[minutes]`). A
    /// surplus word is a usage error before the number is judged.
    fn minutes(&mut self) -> Result<Option<u64>, Refusal> {
        let mut words = self.rest.split_whitespace();
        let minutes = match (words.next(), words.next()) {
            (None, _) => return Ok(None),
            (Some(_), Some(_)) => return Err(Refusal::Usage),
            (Some(minutes), None) => minutes,
        };
        self.rest = "";
        match minutes.parse::<u64>() {
            Ok(m) if m > 0 => Ok(Some(m)),
            _ => Err(Refusal::Minutes),
        }
    }

    /// The rest of the line as typed, without the blanks before it or the line end
    /// (`<text>`); never empty.
    fn text(&mut self) -> Result<String, Refusal> {
        let text = self.rest.trim_start().trim_end_matches(['\r', '\n']);
        self.rest = "";
        if text.is_empty() {
            return Err(Refusal::Usage);
        }
        Ok(text.to_owned())
    }

    /// The rest of the line as one name (`<name>`, `<password>`): see [`rest_name`].
    fn name(&mut self) -> Result<String, Refusal> {
        let name = rest_name(self.rest).ok_or(Refusal::Usage);
        self.rest = "";
        name
    }

    /// Refuse the first word no getter took.
    fn finish(self) -> Result<(), Refusal> {
        match self.rest.split_whitespace().next() {
            None => Ok(()),
            Some(extra) => Err(Refusal::Extra(extra.to_owned())),
        }
    }
}

/// The console's command table, one row per command:
/// `Variant = "usage line", "help text" [{ field: Type = getter, ... }]`.
///
/// The macro derives the [`ConsoleCommand`] enum and [`HELP`], the rows in the order
/// `help` lists them (and "did you mean" compares). Each field is taken by an [`Args`]
/// getter, in field order: `word` (`<user>`), `minutes` (`[minutes]`, last), `text`
/// (the rest of the line as typed) or `name` (the rest of the line, or `"quoted"`).
/// A command without fields refuses any argument.
macro_rules! console_commands {
    ($(
        $(#[$m:meta])*
        $V:ident = $usage:literal, $about:literal
            $({ $( $(#[$fm:meta])* $f:ident : $ft:ty = $get:ident ),* $(,)? })?
    ),* $(,)?) => {
        /// One console command.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum ConsoleCommand {
            $( $(#[$m])* $V $({ $( $(#[$fm])* $f: $ft ),* })?, )*
        }

        /// The console's commands, in the order `help` lists them; each row becomes
        /// its help line with `String::from`.
        pub const HELP: &[Row] = &[
            $( Row {
                usage: $usage,
                about: $about,
                build: |_args: &mut Args<'_>| {
                    Ok(ConsoleCommand::$V $({ $( $f: _args.$get()? ),* })?)
                },
            }, )*
        ];
    };
}

console_commands! {
    /// `help`: the list of commands.
    Help = "help", "this list",
    /// `users`: who is online.
    Users = "users", "who is online, with their peer addresses",
    /// `ping <user>`: a live round trip to a user's client.
    Ping = "ping <user>", "a live round trip to that user's client" {
        user: String = word,
    },
    /// `discover <user>`: what a user publishes.
    Discover = "discover <user>", "the files that user publishes, online or not" {
        user: String = word,
    },
    /// `say <text>`: an announcement to everyone online.
    Say = "say <text>", "an announcement to everyone online" {
        /// The rest of the line as typed (never empty).
        text: String = text,
    },
    /// `kick <user>`: end a user's session.
    Kick = "kick <user>", "end that user's session" {
        user: String = word,
    },
    /// `ban <user> [minutes]`: refuse an account's logins.
    Ban = "ban <user> [minutes]", "refuse that account's logins (no minutes: until unban)" {
        user: String = word,
        /// `None`: until `unban`.
        minutes: Option<u64> = minutes,
    },
    /// `unban <user>`: lift a ban.
    Unban = "unban <user>", "lift a ban" {
        user: String = word,
    },
    /// List the accounts banned now.
    Bans = "bans", "the accounts banned now, with when each ban ends",
    /// Delete an account: its publications go, its store entries stay, ownerless.
    Deluser = "deluser <user>",
        "delete an account (its publications are withdrawn; its store entries stay, owner \"(deleted)\")" {
        user: String = word,
    },
    /// Set a new password for an account (the password is the rest of the line, or quoted).
    Setpass = "setpass <user> <password>",
        "set a new password for an account (the rest of the line, or \"quoted\")" {
        user: String = word,
        password: String = name,
    },
    /// `stats`: the hub's counters.
    Stats = "stats", "counters: connections, users, accounts, files, lookups, chat, store",
    /// List the store.
    Store = "store", "the store: name, owner, kind, files, size, time",
    /// Remove a store entry (the name is the rest of the line, or a `"…"` quoted name).
    Rm = "rm <name>", "remove a store entry (the rest of the line, or \"quoted\")" {
        name: String = name,
    },
    /// `shutdown`: tell everyone, close, exit.
    Shutdown = "shutdown", "tell everyone, close, exit",
}

/// Every console command word, in table order (what an unknown word is compared with).
fn words() -> impl Iterator<Item = &'static str> {
    HELP.iter().map(Row::word)
}

/// Parse a console line; `None` for a blank line or a `#` comment.
pub fn parse(line: &str) -> Result<Option<ConsoleCommand>, ConsoleError> {
    let line = line.trim_start();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let word = word.to_ascii_lowercase();
    let Some(row) = HELP.iter().find(|row| row.word() == word) else {
        let hint = crate::suggest::did_you_mean(&word, words());
        return Err(ConsoleError {
            message: format!("unknown command {word:?}{hint}; type help for the list"),
            command: word,
        });
    };
    let mut args = Args { rest };
    let built = (row.build)(&mut args).and_then(|command| {
        args.finish()?;
        Ok(command)
    });
    built.map(Some).map_err(|refusal| ConsoleError {
        message: row.refusal(refusal),
        command: word,
    })
}

/// The rest of a line as one name: `"…"` quoted (with `\"` and `\\` escapes) or as
/// typed, without the surrounding blanks. `None` if empty or the quote is not closed.
fn rest_name(rest: &str) -> Option<String> {
    let text = rest.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\r' || c == '\n');
    let Some(quoted) = text.strip_prefix('"') else {
        return (!text.is_empty()).then(|| text.to_owned());
    };
    let mut name = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => name.push(chars.next()?),
            '"' => return (chars.as_str().trim().is_empty() && !name.is_empty()).then_some(name),
            c => name.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests;
