//! One suite of requests run on both backends: the memory one answers as SQLite does.

use super::memory::Memory;
use super::sqlite::Sqlite;
use super::*;
use crate::proto::message::StoreKind;
use crate::server::db::Db;
use crate::server::store::StoreEntry;
use crate::transfer::tree::TreeItem;

fn ask(backend: &mut dyn Backend, ask: Ask) -> Answer {
    backend.submit(7, ask);
    let (id, answer) = backend.take_done().expect("answered at once");
    assert_eq!(id, 7);
    assert!(backend.take_done().is_none());
    answer
}

fn secret(s: &str) -> Secret {
    Secret(s.into())
}

/// Alice's accounts start at token version 10, anyone else's at 20.
fn register(name: &str, password: &str) -> Ask {
    Ask::Register {
        name: name.into(),
        password: secret(password),
        created: 1,
        token_version: if name == "alice" { 10 } else { 20 },
    }
}

/// An account's standing: its ban and token version.
fn standing(banned_until: Option<u64>, token_version: u64) -> Standing {
    Standing {
        banned_until,
        token_version,
    }
}

fn verify(name: &str, password: &str) -> Ask {
    Ask::Verify {
        name: name.into(),
        password: secret(password),
    }
}

fn file(name: &str, byte: u8) -> FileInfo {
    FileInfo {
        name: name.into(),
        size: byte.into(),
        hash: [byte; 32],
    }
}

/// Every ask, and what both backends must answer.
fn suite(b: &mut dyn Backend) {
    use PersistError::*;
    assert_eq!(ask(b, register("alice", "pw")), Answer::Done(Ok(())));
    assert_eq!(ask(b, register("alice", "x")), Answer::Done(Err(Exists)));
    assert_eq!(ask(b, register("bob", "")), Answer::Done(Err(BadPassword)));
    assert_eq!(ask(b, register("bob", "pw")), Answer::Done(Ok(())));
    assert_eq!(
        ask(b, verify("alice", "pw")),
        Answer::Verified(Ok(standing(None, 10)))
    );
    assert_eq!(
        ask(b, verify("alice", "no")),
        Answer::Verified(Err(WrongPassword))
    );
    assert_eq!(
        ask(b, verify("alice", "")),
        Answer::Verified(Err(WrongPassword))
    );
    assert_eq!(
        ask(b, verify("carol", "pw")),
        Answer::Verified(Err(NoSuchAccount))
    );
    let change = |old: &str, new: &str| Ask::ChangePassword {
        name: "alice".into(),
        old: secret(old),
        new: secret(new),
    };
    assert_eq!(
        ask(b, change("no", "new")),
        Answer::Done(Err(WrongPassword))
    );
    assert_eq!(ask(b, change("pw", "")), Answer::Done(Err(BadPassword)));
    assert_eq!(ask(b, change("pw", "new")), Answer::Done(Ok(())));
    assert_eq!(
        ask(b, verify("alice", "new")),
        Answer::Verified(Ok(standing(None, 11))),
        "passwd moves the token version on, a failed one does not"
    );
    let setpass = |name: &str| Ask::SetPassword {
        name: name.into(),
        password: secret("set"),
    };
    assert_eq!(ask(b, setpass("alice")), Answer::Done(Ok(())));
    assert_eq!(ask(b, setpass("carol")), Answer::Done(Err(NoSuchAccount)));
    assert_eq!(
        ask(b, verify("alice", "set")),
        Answer::Verified(Ok(standing(None, 12)))
    );
    let ban = |name: &str, until| Ask::SetBan {
        name: name.into(),
        until,
    };
    assert_eq!(ask(b, ban("bob", Some(2_000))), Answer::Done(Ok(())));
    assert_eq!(ask(b, ban("alice", Some(500))), Answer::Done(Ok(())));
    assert_eq!(
        ask(b, ban("carol", Some(1))),
        Answer::Done(Err(NoSuchAccount))
    );
    assert_eq!(
        ask(b, verify("bob", "pw")),
        Answer::Verified(Ok(standing(Some(2_000), 21)))
    );
    assert_eq!(
        ask(b, Ask::Bans { now: 1_000 }),
        Answer::Bans(Ok(vec![("bob".into(), 2_000)]))
    );
    let lift = |name: &str| Ask::LiftBan {
        name: name.into(),
        now: 1_000,
    };
    assert_eq!(ask(b, lift("alice")), Answer::Lifted(Ok(false)), "ran out");
    assert_eq!(ask(b, lift("bob")), Answer::Lifted(Ok(true)));
    assert_eq!(ask(b, lift("bob")), Answer::Lifted(Ok(false)));
    assert_eq!(ask(b, lift("carol")), Answer::Lifted(Err(NoSuchAccount)));
    let standing_of = |name: &str| Ask::Standing { name: name.into() };
    assert_eq!(
        ask(b, standing_of("alice")),
        Answer::Standing(Ok(standing(Some(500), 13)))
    );
    assert_eq!(
        ask(b, standing_of("bob")),
        Answer::Standing(Ok(standing(None, 22))),
        "a ban and its lifting each move the version on"
    );
    assert_eq!(
        ask(b, standing_of("carol")),
        Answer::Standing(Err(NoSuchAccount))
    );
    let exists = |name: &str| Ask::AccountExists { name: name.into() };
    assert_eq!(ask(b, exists("bob")), Answer::Exists(Ok(true)));
    assert_eq!(ask(b, exists("Bob")), Answer::Exists(Ok(false)));
    assert_eq!(ask(b, Ask::CountAccounts), Answer::Count(Ok(2)));
    index_suite(b);
    let delete = |name: &str| Ask::DeleteAccount {
        name: name.into(),
        new_owner: "(deleted)".into(),
    };
    assert_eq!(ask(b, delete("bob")), Answer::Deleted(Ok(0)));
    assert_eq!(ask(b, delete("bob")), Answer::Deleted(Err(NoSuchAccount)));
    assert_eq!(ask(b, Ask::CountAccounts), Answer::Count(Ok(1)));
    assert_eq!(
        ask(b, Ask::Standing { name: "bob".into() }),
        Answer::Standing(Err(NoSuchAccount))
    );
    assert_eq!(ask(b, register("bob", "pw")), Answer::Done(Ok(())));
    assert_eq!(
        ask(b, Ask::Standing { name: "bob".into() }),
        Answer::Standing(Ok(standing(None, 20))),
        "registered again: the version it is given"
    );
    assert_eq!(ask(b, delete("bob")), Answer::Deleted(Ok(0)));
    let snapshot = b.load().unwrap();
    assert_eq!(snapshot.published, vec![("alice".into(), file("c", 3))]);
}

/// The publish index's writes, read back with `load`.
fn index_suite(b: &mut dyn Backend) {
    let publish = |owner: &str, f| Ask::Publish {
        owner: owner.into(),
        file: f,
    };
    assert_eq!(ask(b, publish("alice", file("a", 1))), Answer::Done(Ok(())));
    assert_eq!(ask(b, publish("alice", file("a", 2))), Answer::Done(Ok(())));
    assert_eq!(ask(b, publish("bob", file("b", 1))), Answer::Done(Ok(())));
    let sync = |files, first| Ask::Sync {
        owner: "alice".into(),
        files,
        first,
    };
    assert_eq!(
        ask(b, sync(vec![file("c", 3)], false)),
        Answer::Done(Ok(()))
    );
    let mut published = b.load().unwrap().published;
    published.sort_by(|x, y| (&x.0, &x.1.name).cmp(&(&y.0, &y.1.name)));
    let expected = [
        ("alice", file("a", 2)),
        ("alice", file("c", 3)),
        ("bob", file("b", 1)),
    ];
    let expected: Vec<(String, FileInfo)> =
        expected.into_iter().map(|(o, f)| (o.into(), f)).collect();
    assert_eq!(published, expected);
    assert_eq!(ask(b, sync(vec![file("c", 3)], true)), Answer::Done(Ok(())));
    let unpublish = Ask::Unpublish {
        owner: "alice".into(),
        name: "a".into(),
    };
    assert_eq!(
        ask(b, unpublish),
        Answer::Done(Ok(())),
        "gone already: no error"
    );
}

fn entry(name: &str, owner: &str, version: &str) -> StoreEntry {
    StoreEntry {
        name: name.into(),
        owner: owner.into(),
        kind: StoreKind::File,
        files: 1,
        bytes: 3,
        created: 1_700_000_000,
        version: version.into(),
        digest: [4; 32],
    }
}

fn item(path: &str) -> TreeItem {
    TreeItem {
        path: path.into(),
        kind: StoreKind::File,
        size: 3,
        hash: Some([5; 32]),
    }
}

/// The store catalogue's asks, and what both backends must answer.
fn store_suite(b: &mut dyn Backend) {
    let manifest = |version: &str| Ask::Manifest {
        version: version.into(),
    };
    let record = |e: StoreEntry, path: &str| Ask::StoreRecord {
        entry: e,
        items: vec![item(path)],
    };
    assert_eq!(ask(b, manifest("v1")), Answer::Manifest(Ok(Vec::new())));
    let first = entry("a", "alice", "v1");
    assert_eq!(ask(b, record(first.clone(), "a")), Answer::Done(Ok(())));
    assert_eq!(
        ask(b, manifest("v1")),
        Answer::Manifest(Ok(vec![item("a")]))
    );
    assert_eq!(b.load().unwrap().store, vec![first]);
    // A replacement points at its version; the old manifest goes.
    let second = entry("a", "alice", "v2");
    assert_eq!(ask(b, record(second.clone(), "b")), Answer::Done(Ok(())));
    assert_eq!(ask(b, manifest("v1")), Answer::Manifest(Ok(Vec::new())));
    assert_eq!(
        ask(b, manifest("v2")),
        Answer::Manifest(Ok(vec![item("b")]))
    );
    assert_eq!(b.load().unwrap().store, vec![second]);
    let remove = Ask::StoreRemove {
        name: "a".into(),
        version: "v2".into(),
    };
    assert_eq!(ask(b, remove.clone()), Answer::Done(Ok(())));
    assert_eq!(
        ask(b, remove),
        Answer::Done(Ok(())),
        "gone already: no error"
    );
    assert!(b.load().unwrap().store.is_empty());
    assert_eq!(ask(b, manifest("v2")), Answer::Manifest(Ok(Vec::new())));
    // Deleting an account keeps its entries under the new owner.
    assert_eq!(ask(b, register("erin", "pw")), Answer::Done(Ok(())));
    assert_eq!(
        ask(b, record(entry("e", "erin", "v3"), "e")),
        Answer::Done(Ok(()))
    );
    let delete = Ask::DeleteAccount {
        name: "erin".into(),
        new_owner: "(deleted)".into(),
    };
    assert_eq!(ask(b, delete), Answer::Deleted(Ok(1)));
    assert_eq!(b.load().unwrap().store[0].owner, "(deleted)");
}

#[test]
fn sqlite_answers_every_ask() {
    suite(&mut Sqlite::backend(Db::open_in_memory().unwrap()));
    store_suite(&mut Sqlite::backend(Db::open_in_memory().unwrap()));
}

#[test]
fn memory_answers_every_ask_as_sqlite_does() {
    suite(&mut Memory::backend());
    store_suite(&mut Memory::backend());
}

#[test]
fn a_broken_memory_backend_fails_every_ask_with_its_text() {
    let mut b = Memory::backend();
    b.store_mut().broken = Some("disk I/O error".into());
    let failed = PersistError::Failed("disk I/O error".into());
    assert_eq!(
        ask(&mut b, Ask::CountAccounts),
        Answer::Count(Err(failed.clone()))
    );
    assert_eq!(ask(&mut b, register("a", "pw")), Answer::Done(Err(failed)));
    assert!(b.load().is_err());
}

#[test]
fn a_mismatched_answer_is_a_failure_not_a_panic() {
    let wrong = Answer::Count(Ok(1));
    assert!(matches!(wrong.done(), Err(PersistError::Failed(_))));
    assert_eq!(format!("{:?}", secret("hunter2")), "Secret(..)");
}
