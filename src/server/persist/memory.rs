//! The memory backend, for unit tests: accounts, publications and the store catalogue in maps, passwords
//! compared as they are (no hashing), answered at once like [`super::sqlite`], whose
//! answers it gives for every [`Ask`] (`persist/tests.rs` runs one suite on both).

use super::{Answer, Answers, Ask, AtOnce, PersistError, Snapshot, Standing};
use crate::proto::message::FileInfo;
use crate::proto::names::MAX_PASSWORD_BYTES;
use crate::server::store::StoreEntry;
use crate::transfer::tree::TreeItem;
use std::collections::{BTreeMap, HashMap};

/// The backend a unit test runs the hub on.
pub type MemoryBackend = AtOnce<Memory>;

/// One account: its password (plain: this never leaves a test), its ban and its token
/// version.
#[derive(Debug, Clone)]
struct Account {
    password: String,
    banned_until: Option<u64>,
    token_version: u64,
}

/// What the memory backend holds.
#[derive(Debug, Default)]
pub struct Memory {
    accounts: BTreeMap<String, Account>,
    /// Publications by (owner, name).
    published: BTreeMap<(String, String), FileInfo>,
    /// The store's entries by name (`DeleteAccount` moves their owners).
    pub store: BTreeMap<String, StoreEntry>,
    /// Each store version's manifest.
    manifests: HashMap<String, Vec<TreeItem>>,
    /// Set by a test: every request fails with this text, as a broken database would.
    pub broken: Option<String>,
}

impl Memory {
    /// An empty memory backend.
    pub fn backend() -> MemoryBackend {
        AtOnce::new(Memory::default())
    }

    /// The password stored for `name`, if the account exists.
    pub fn password_of(&self, name: &str) -> Option<&str> {
        self.accounts.get(name).map(|a| a.password.as_str())
    }

    /// Publications recorded for `owner`, by name.
    pub fn published_by(&self, owner: &str) -> Vec<&FileInfo> {
        self.published
            .iter()
            .filter(|((o, _), _)| o == owner)
            .map(|(_, f)| f)
            .collect()
    }

    fn account(&mut self, name: &str) -> Result<&mut Account, PersistError> {
        self.accounts
            .get_mut(name)
            .ok_or(PersistError::NoSuchAccount)
    }

    fn verify(&self, name: &str, password: &str) -> Result<Standing, PersistError> {
        let account = self.accounts.get(name).ok_or(PersistError::NoSuchAccount)?;
        if account.password != password || !fits(password) {
            return Err(PersistError::WrongPassword);
        }
        self.standing(name)
    }

    fn standing(&self, name: &str) -> Result<Standing, PersistError> {
        let account = self.accounts.get(name).ok_or(PersistError::NoSuchAccount)?;
        Ok(Standing {
            banned_until: account.banned_until,
            token_version: account.token_version,
        })
    }

    fn register(
        &mut self,
        name: String,
        password: String,
        token_version: u64,
    ) -> Result<(), PersistError> {
        if !fits(&password) {
            return Err(PersistError::BadPassword);
        }
        if self.accounts.contains_key(&name) {
            return Err(PersistError::Exists);
        }
        let banned_until = None;
        self.accounts.insert(
            name,
            Account {
                password,
                banned_until,
                token_version,
            },
        );
        Ok(())
    }

    fn set_password(&mut self, name: &str, password: String) -> Result<(), PersistError> {
        if !fits(&password) {
            return Err(PersistError::BadPassword);
        }
        let account = self.account(name)?;
        account.password = password;
        account.token_version += 1;
        Ok(())
    }

    fn lift_ban(&mut self, name: &str, now: u64) -> Result<bool, PersistError> {
        let account = self.account(name)?;
        let running = account.banned_until.is_some_and(|t| t > now);
        if running {
            account.banned_until = None;
            account.token_version += 1;
        }
        Ok(running)
    }

    fn delete_account(&mut self, name: &str, new_owner: &str) -> Result<u64, PersistError> {
        self.accounts
            .remove(name)
            .ok_or(PersistError::NoSuchAccount)?;
        self.published.retain(|(owner, _), _| owner != name);
        let mut moved = 0;
        for entry in self.store.values_mut().filter(|e| e.owner == name) {
            entry.owner = new_owner.to_owned();
            moved += 1;
        }
        Ok(moved)
    }

    /// An upload recorded: the entry in place of any of its name, whose manifest goes.
    fn store_record(&mut self, entry: StoreEntry, items: Vec<TreeItem>) {
        let old = self.store.insert(entry.name.clone(), entry.clone());
        if let Some(old) = old.filter(|old| old.version != entry.version) {
            self.manifests.remove(&old.version);
        }
        self.manifests.insert(entry.version, items);
    }

    fn sync(&mut self, owner: String, files: Vec<FileInfo>, first: bool) {
        if first {
            self.published.retain(|(o, _), _| *o != owner);
        }
        for file in files {
            self.published
                .insert((owner.clone(), file.name.clone()), file);
        }
    }
}

/// Whether a password has an acceptable length (as `accounts.rs` checks it).
fn fits(password: &str) -> bool {
    !password.is_empty() && password.len() <= MAX_PASSWORD_BYTES
}

impl Answers for Memory {
    fn load(&mut self) -> Result<Snapshot, PersistError> {
        if let Some(text) = &self.broken {
            return Err(PersistError::Failed(text.clone()));
        }
        let published = self
            .published
            .iter()
            .map(|((owner, _), file)| (owner.clone(), file.clone()))
            .collect();
        let store = self.store.values().cloned().collect();
        Ok(Snapshot { published, store })
    }

    fn answer(&mut self, ask: Ask) -> Answer {
        if let Some(text) = &self.broken {
            let failed = PersistError::Failed(text.clone());
            return failure_of(&ask, failed);
        }
        match ask {
            Ask::Register {
                name,
                password,
                token_version,
                ..
            } => Answer::Done(self.register(name, password.0, token_version)),
            Ask::Verify { name, password } => Answer::Verified(self.verify(&name, &password.0)),
            Ask::Standing { name } => Answer::Standing(self.standing(&name)),
            Ask::ChangePassword { name, old, new } => Answer::Done(
                fits(&new.0)
                    .then_some(())
                    .ok_or(PersistError::BadPassword)
                    .and_then(|()| self.verify(&name, &old.0))
                    .and_then(|_| self.set_password(&name, new.0)),
            ),
            Ask::SetPassword { name, password } => {
                Answer::Done(self.set_password(&name, password.0))
            }
            Ask::SetBan { name, until } => Answer::Done(self.account(&name).map(|a| {
                a.banned_until = until;
                a.token_version += 1;
            })),
            Ask::LiftBan { name, now } => Answer::Lifted(self.lift_ban(&name, now)),
            Ask::Bans { now } => Answer::Bans(Ok(self
                .accounts
                .iter()
                .filter_map(|(name, a)| Some((name.clone(), a.banned_until.filter(|&t| t > now)?)))
                .collect())),
            Ask::AccountExists { name } => Answer::Exists(Ok(self.accounts.contains_key(&name))),
            Ask::CountAccounts => Answer::Count(Ok(self.accounts.len() as u64)),
            Ask::DeleteAccount { name, new_owner } => {
                Answer::Deleted(self.delete_account(&name, &new_owner))
            }
            Ask::Publish { owner, file } => {
                self.published.insert((owner, file.name.clone()), file);
                Answer::Done(Ok(()))
            }
            Ask::Unpublish { owner, name } => {
                self.published.remove(&(owner, name));
                Answer::Done(Ok(()))
            }
            Ask::Sync {
                owner,
                files,
                first,
            } => {
                self.sync(owner, files, first);
                Answer::Done(Ok(()))
            }
            Ask::StoreRecord { entry, items } => {
                self.store_record(entry, items);
                Answer::Done(Ok(()))
            }
            Ask::StoreRemove { name, version } => {
                self.store.remove(&name);
                self.manifests.remove(&version);
                Answer::Done(Ok(()))
            }
            Ask::Manifest { version } => Answer::Manifest(Ok(self
                .manifests
                .get(&version)
                .cloned()
                .unwrap_or_default())),
        }
    }
}

/// The answer `ask` gets when the backend fails with `e`.
fn failure_of(ask: &Ask, e: PersistError) -> Answer {
    match ask {
        Ask::Verify { .. } => Answer::Verified(Err(e)),
        Ask::Standing { .. } => Answer::Standing(Err(e)),
        Ask::LiftBan { .. } => Answer::Lifted(Err(e)),
        Ask::Bans { .. } => Answer::Bans(Err(e)),
        Ask::AccountExists { .. } => Answer::Exists(Err(e)),
        Ask::CountAccounts => Answer::Count(Err(e)),
        Ask::DeleteAccount { .. } => Answer::Deleted(Err(e)),
        Ask::Manifest { .. } => Answer::Manifest(Err(e)),
        Ask::Register { .. }
        | Ask::ChangePassword { .. }
        | Ask::SetPassword { .. }
        | Ask::SetBan { .. }
        | Ask::Publish { .. }
        | Ask::Unpublish { .. }
        | Ask::Sync { .. }
        | Ask::StoreRecord { .. }
        | Ask::StoreRemove { .. } => Answer::Done(Err(e)),
    }
}
