//! The command table: each typed command defined once — its variant and fields, its usage line, what it does and how its checked arguments build it.

use super::args::Args;

/// One row of the command table: its usage line (whose first word is the command
/// word), what it does, whether its last positional is the rest of the line as typed,
/// and how its checked arguments build the command.
pub(super) struct Entry {
    pub(super) usage: &'static str,
    pub(super) about: &'static str,
    pub(super) rest: bool,
    pub(super) build: fn(&mut Args) -> Command,
}

impl Entry {
    /// The command word: the usage line's first word.
    pub(super) fn word(&self) -> &'static str {
        first_word(self.usage)
    }
}

/// The first word of a usage line.
fn first_word(usage: &'static str) -> &'static str {
    usage.split(' ').next().unwrap_or(usage)
}

/// Find a table entry by command word, ignoring ASCII case.
pub(super) fn lookup(word: &str) -> Option<&'static Entry> {
    TABLE.iter().find(|e| e.word().eq_ignore_ascii_case(word))
}

/// The command table, one row per command:
/// `Variant = "usage line", "about" [rest] [{ field: Type = getter, ... }]`.
///
/// The macro derives the `Command` enum (in row order), `Command::name()` and the
/// `TABLE` of [`Entry`] rows. The usage line drives arity and option checks: `<x>` is
/// a required positional, `[<x>]` an optional one, `[--flag]` a flag option and
/// `[--opt <x>]` an option taking a value. Each field is built by an [`Args`] getter:
/// `req` (the next required positional), `opt` (the next optional one),
/// `value("--opt")` or `flag("--flag")`. `rest` marks a command whose last positional
/// is the rest of the line exactly as typed (chat).
macro_rules! commands {
    (@rest) => {
        false
    };
    (@rest $rest:ident) => {
        true
    };
    ($(
        $(#[$m:meta])*
        $V:ident = $usage:literal, $about:literal $($rest:ident)?
            $({ $( $(#[$fm:meta])* $f:ident : $ft:ty = $get:ident $(($arg:literal))? ),* $(,)? })?
    ),* $(,)?) => {
        /// A parsed client command.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Command {
            $( $(#[$m])* $V $({ $( $(#[$fm])* $f: $ft ),* })?, )*
        }

        impl Command {
            /// The command word that produces this command (`"register"`, `"login"`, …).
            pub fn name(&self) -> &'static str {
                match self {
                    $( Command::$V { .. } => first_word($usage), )*
                }
            }
        }

        /// Every command, in the order `help` lists them.
        pub(super) const TABLE: &[Entry] = &[
            $( Entry {
                usage: $usage,
                about: $about,
                rest: commands!(@rest $($rest)?),
                build: |_a: &mut Args| Command::$V $({ $( $f: _a.$get($($arg)?) ),* })?,
            }, )*
        ];
    };
}

commands! {
    /// `register <user> <password>`: create an account.
    Register = "register <user> <password>", "create an account" {
        /// Account name.
        user: String = req,
        /// Its password.
        password: String = req,
    },
    /// `login <user> <password>`: log in.
    Login = "login <user> <password>", "log in and announce the peer port" {
        /// Account name.
        user: String = req,
        /// Its password.
        password: String = req,
    },
    /// `logout`: end the session, keep running.
    Logout = "logout", "end the session; the client keeps running",
    /// `quit`: leave cleanly and exit.
    Quit = "quit", "leave cleanly once in-flight work is done",
    /// `passwd <old> <new>`: change my password.
    Passwd = "passwd <old> <new>", "change my password" {
        /// The current password.
        old: String = req,
        /// The new password.
        new: String = req,
    },
    /// `publish <lname> [<fname>]`: announce a local file under a name.
    Publish = "publish <lname> [<fname>]",
        "announce a file beneath the share dir (a relative lname is in the share dir) as fname (default: its file name)" {
        /// Local path (relative paths resolve in the share dir).
        local: String = req,
        /// Published name; `None` means the file's own name.
        name: Option<String> = opt,
    },
    /// `unpublish <fname>`: withdraw a published name.
    Unpublish = "unpublish <fname>", "withdraw a published file" {
        /// The published name.
        name: String = req,
    },
    /// `shared`: list what I publish.
    Shared = "shared", "list what I publish",
    /// `search <text>`: search published names.
    Search = "search <text>", "published names containing text, with owners online" {
        /// Text the names must contain.
        text: String = req,
    },
    /// `fetch <fname> [--from <user>] [--as <name>] [--sources <n>] [--sequential]`:
    /// download from peers.
    Fetch = "fetch <fname> [--from <user>] [--as <name>] [--sources <n>] [--sequential]",
        "download a published file straight from peers (up to --sources at once, every piece verified) into the share dir" {
        /// The published name.
        name: String = req,
        /// `--from`: the one peer to download from.
        from: Option<String> = value("--from"),
        /// `--as`: the local name to save under.
        as_name: Option<String> = value("--as"),
        /// `--sources`: most holders at once, as typed (checked by the session).
        sources: Option<String> = value("--sources"),
        /// `--sequential`: in file order, so the verified prefix grows from the start.
        sequential: bool = flag("--sequential"),
    },
    /// `transfers`: transfers in progress.
    Transfers = "transfers", "downloads and uploads in progress",
    /// `cancel <fname>`: stop a download.
    Cancel = "cancel <fname>",
        "stop a fetch (the partial file stays, resumable) or a store upload/download" {
        /// The published name being downloaded.
        name: String = req,
    },
    /// `users`: who is online.
    Users = "users", "who is online",
    /// `say <text>`: chat to everyone.
    Say = "say <text>", "chat to everyone (the rest of the line, as typed)" rest {
        /// The rest of the line as typed (never empty).
        text: String = req,
    },
    /// `msg <user> <text>`: chat to one user.
    Msg = "msg <user> <text>", "chat to one user (the rest of the line, as typed)" rest {
        /// The recipient (quoting and escapes apply).
        user: String = req,
        /// The rest of the line as typed (never empty).
        text: String = req,
    },
    /// `upload <path> [<name>] [--replace]`: put a file or directory into the store.
    Upload = "upload <path> [<name>] [--replace]",
        "put a file or directory (relative to the working directory) into the hub's store" {
        /// Path relative to the working directory.
        path: String = req,
        /// Store name; `None` means the path's own name.
        name: Option<String> = opt,
        /// `--replace`: overwrite my own existing entry.
        replace: bool = flag("--replace"),
    },
    /// `download <name> [<dest>]`: take a file or directory from the store.
    Download = "download <name> [<dest>]",
        "take a file or directory from the store into dest (relative to the working directory; default: <share>/<name>)" {
        /// The store name.
        name: String = req,
        /// Destination relative to the working directory; `None` means the default.
        dest: Option<String> = opt,
    },
    /// `store`: list the store.
    Store = "store", "list the store, and my usage against my quota",
    /// `rm <name>`: remove my own store entry.
    Rm = "rm <name>", "remove my own entry (a file or a whole directory) from the hub's store" {
        /// The store name.
        name: String = req,
    },
    /// `status`: where the client stands (login, hub, transfers, publications).
    Status = "status", "login state, user, hub, transfers in flight and publications",
    /// `wait`: hold the following lines until every earlier command has its result.
    Wait = "wait",
        "run the next line only once every earlier command has its result (scripts)",
    /// `help`: list the commands.
    Help = "help", "show this list of commands",
}
