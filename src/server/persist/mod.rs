//! What the hub remembers, as requests and completions: the hub returns an
//! [`Action::Persist`](crate::server::hub::Action::Persist) with a [`JobId`] and an
//! [`Ask`]; the loop hands it to a [`Backend`] and gives each [`Answer`] back to
//! [`Hub::on_answer`](crate::server::hub::Hub::on_answer). The hub never waits: an
//! answer may come in the same turn (SQLite, [`sqlite`]) or a later one (a networked
//! store). [`memory`] answers from hash maps, for unit tests.

pub mod memory;
pub mod sqlite;

use crate::proto::message::FileInfo;
use crate::server::store::StoreEntry;
use crate::transfer::tree::TreeItem;
use std::collections::VecDeque;
use std::fmt;

/// Names one request to the backend; its answer carries the same id.
pub type JobId = u64;

/// A password on its way to the backend: never printed, not even by `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// One request to the backend, plain data. Each says which [`Answer`] it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// Create an account (`created`: Unix seconds) with its first token version (fresh
    /// and random, below 2^62). [`Answer::Done`].
    Register {
        name: String,
        password: Secret,
        created: u64,
        token_version: u64,
    },
    /// Check a password; the account's [`Standing`] comes back with it.
    /// [`Answer::Verified`].
    Verify { name: String, password: Secret },
    /// The account's [`Standing`], for a login with a resume token (no password).
    /// [`Answer::Standing`].
    Standing { name: String },
    /// `passwd`: a new password once the old one is checked; the token version moves
    /// on (so do those of `SetPassword` and `SetBan`). [`Answer::Done`].
    ChangePassword {
        name: String,
        old: Secret,
        new: Secret,
    },
    /// The operator's `setpass`: a new password without the old. [`Answer::Done`].
    SetPassword { name: String, password: Secret },
    /// Ban until a Unix time, or lift the ban with `None`. [`Answer::Done`].
    SetBan { name: String, until: Option<u64> },
    /// Lift a ban that still runs at `now`. [`Answer::Lifted`].
    LiftBan { name: String, now: u64 },
    /// The bans still running at `now`, by name. [`Answer::Bans`].
    Bans { now: u64 },
    /// Whether the account exists. [`Answer::Exists`].
    AccountExists { name: String },
    /// How many accounts there are. [`Answer::Count`].
    CountAccounts,
    /// Delete an account and its publications; its store entries pass to
    /// `new_owner`. [`Answer::Deleted`].
    DeleteAccount { name: String, new_owner: String },
    /// Record one publication (replacing the owner's one of that name).
    /// [`Answer::Done`].
    Publish { owner: String, file: FileInfo },
    /// Withdraw one publication. [`Answer::Done`].
    Unpublish { owner: String, name: String },
    /// Record a chunk of an owner's list; `first` withdraws everything it had.
    /// [`Answer::Done`].
    Sync {
        owner: String,
        files: Vec<FileInfo>,
        first: bool,
    },
    /// Record a flushed upload durably: the entry (pointing at its new version) and
    /// its manifest, in place of any entry of that name. [`Answer::Done`].
    StoreRecord {
        entry: StoreEntry,
        items: Vec<TreeItem>,
    },
    /// Remove the store entry `name` and the manifest of its `version`, durably.
    /// [`Answer::Done`].
    StoreRemove { name: String, version: String },
    /// The manifest of a store version. [`Answer::Manifest`].
    Manifest { version: String },
}

/// The completion of an [`Ask`], plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A write (or check) with nothing to say but how it went.
    Done(Result<(), PersistError>),
    /// The password was right; the account's ban and token version.
    Verified(Result<Standing, PersistError>),
    /// The account's ban and token version.
    Standing(Result<Standing, PersistError>),
    /// Whether a running ban was lifted.
    Lifted(Result<bool, PersistError>),
    /// Running bans: each name and the Unix time its ban ends.
    Bans(Result<Vec<(String, u64)>, PersistError>),
    /// Whether the account exists.
    Exists(Result<bool, PersistError>),
    /// How many accounts there are.
    Count(Result<u64, PersistError>),
    /// The account is gone; how many store entries changed owner.
    Deleted(Result<u64, PersistError>),
    /// A version's manifest: its directories and files in upload order.
    Manifest(Result<Vec<TreeItem>, PersistError>),
}

/// What a login checks of an account beside its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// The Unix time the account is banned until, if one is stored (maybe past).
    pub banned_until: Option<u64>,
    /// Bound into its resume tokens; moved on by a password change or a ban.
    pub token_version: u64,
}

/// Why a request failed; the texts are those the hub has always shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersistError {
    /// The name is taken.
    Exists,
    /// No account has that name.
    NoSuchAccount,
    /// The password does not match.
    WrongPassword,
    /// The new password is empty or too long.
    BadPassword,
    /// The backend itself failed: its words (a database error, say).
    Failed(String),
}

impl fmt::Display for PersistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PersistError::Exists => f.write_str("account already exists"),
            PersistError::NoSuchAccount => f.write_str("no such account"),
            PersistError::WrongPassword => f.write_str("wrong password"),
            PersistError::BadPassword => write!(
                f,
                "password must be 1 to {} bytes long",
                crate::proto::names::MAX_PASSWORD_BYTES
            ),
            PersistError::Failed(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for PersistError {}

/// An answer of another kind than its ask calls for: a bug, reported as a failure.
fn mismatch(answer: &Answer) -> PersistError {
    PersistError::Failed(format!("the backend answered out of turn: {answer:?}"))
}

/// One accessor per kind of answer: the outcome, or a failure if the answer is of
/// another kind.
macro_rules! accessors {
    ($($name:ident: $variant:ident -> $ok:ty;)*) => {
        impl Answer {
            $(
                #[doc = concat!("The outcome of an ask answered [`Answer::", stringify!($variant), "`].")]
                pub fn $name(self) -> Result<$ok, PersistError> {
                    match self {
                        Answer::$variant(r) => r,
                        other => Err(mismatch(&other)),
                    }
                }
            )*
        }
    };
}

accessors! {
    done: Done -> ();
    verified: Verified -> Standing;
    standing: Standing -> Standing;
    lifted: Lifted -> bool;
    bans: Bans -> Vec<(String, u64)>;
    exists: Exists -> bool;
    count: Count -> u64;
    deleted: Deleted -> u64;
    manifest: Manifest -> Vec<TreeItem>;
}

/// What the hub holds in memory from the start: read once, before the loop runs.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Every publication: its owner and what it announced.
    pub published: Vec<(String, FileInfo)>,
    /// Every store entry, by name.
    pub store: Vec<StoreEntry>,
}

/// What the loop drives: requests in, completions out. The hub must not assume an
/// answer comes in the turn that asked.
pub trait Backend {
    /// What the hub needs in memory at start.
    fn load(&mut self) -> Result<Snapshot, PersistError>;
    /// Take a request; its answer comes out of [`Backend::take_done`].
    fn submit(&mut self, id: JobId, ask: Ask);
    /// The next completed request, if any.
    fn take_done(&mut self) -> Option<(JobId, Answer)>;
}

/// A store that answers each request as it is asked (SQLite, the memory maps).
pub trait Answers {
    /// What the hub needs in memory at start.
    fn load(&mut self) -> Result<Snapshot, PersistError>;
    /// Carry out one request.
    fn answer(&mut self, ask: Ask) -> Answer;
}

/// A [`Backend`] over a store that answers at once: its answers wait, in order, until
/// the loop takes them (so the hub sees them as it would a slower backend's).
#[derive(Debug, Default)]
pub struct AtOnce<S> {
    store: S,
    done: VecDeque<(JobId, Answer)>,
}

impl<S> AtOnce<S> {
    /// A backend over `store`.
    pub fn new(store: S) -> AtOnce<S> {
        AtOnce {
            store,
            done: VecDeque::new(),
        }
    }

    /// The store beneath (a test looks into it or breaks it).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }
}

impl<S: Answers> Backend for AtOnce<S> {
    fn load(&mut self) -> Result<Snapshot, PersistError> {
        self.store.load()
    }

    fn submit(&mut self, id: JobId, ask: Ask) {
        let answer = self.store.answer(ask);
        self.done.push_back((id, answer));
    }

    fn take_done(&mut self) -> Option<(JobId, Answer)> {
        self.done.pop_front()
    }
}

#[cfg(test)]
mod tests;
