//! Tests of the store: the catalogue's checks and readers over plain values, the
//! catalogue in SQLite, the directories on disk and their removal in slices.

use super::disk::StoreDisk;
use super::removal::Removal;
use super::*;
use crate::server::db::Db;
use crate::server::storesync::{SyncSlice, Syncing};
use crate::testing::TempDir;
use crate::transfer::tree::TreeItem;
use std::path::Path;

fn limits() -> StoreLimits {
    StoreLimits {
        max_file: 1000,
        user_quota: 1500,
        reserve: 0,
    }
}

fn entry(name: &str, owner: &str, bytes: u64, version: &str) -> StoreEntry {
    StoreEntry {
        name: name.into(),
        owner: owner.into(),
        kind: Kind::File,
        files: 1,
        bytes,
        created: 1_700_000_000,
        version: version.into(),
        digest: [7; 32],
    }
}

/// A disk with this many bytes free (or failing).
struct Free(io::Result<u64>);

impl FreeSpace for Free {
    fn free_bytes(&self) -> io::Result<u64> {
        match &self.0 {
            Ok(n) => Ok(*n),
            Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
        }
    }
}

const ROOMY: Free = Free(Ok(u64::MAX / 4));

fn claim<'a>(user: &'a str, name: &'a str, replace: bool, bytes: u64) -> Claim<'a> {
    Claim {
        user,
        name,
        replace,
        bytes,
        largest: bytes,
    }
}

#[test]
fn upload_checks() {
    let store = Catalogue::new(limits(), vec![entry("mine", "alice", 1000, "v1")]);
    let code = |r: Result<(), Refused>| r.err().map(|(s, _)| s.0);
    let none = Held::default();
    let check = |c, held| code(store.check_upload(c, held, &ROOMY));
    assert_eq!(check(claim("bob", "../x", false, 1), none), Some(408));
    assert_eq!(check(claim("bob", "mine", true, 1), none), Some(409));
    assert_eq!(check(claim("alice", "mine", false, 1), none), Some(409));
    assert_eq!(check(claim("alice", "mine", true, 1000), none), None);
    assert_eq!(check(claim("alice", "big", false, 1001), none), Some(413));
    assert_eq!(check(claim("alice", "more", false, 600), none), Some(414));
    assert_eq!(check(claim("bob", "more", false, 600), none), None);
    // Bytes of uploads under way count: bob has 1000 on their way of his 1500.
    let held = Held {
        reserved: 1000,
        pending: 0,
    };
    assert_eq!(check(claim("bob", "more", false, 600), held), Some(414));
    let held = Held {
        reserved: 0,
        pending: u64::MAX / 2,
    };
    assert_eq!(check(claim("bob", "more", false, 1), held), Some(507));
    // The disk's figure decides, and a disk that cannot say is a 500.
    let small = Free(Ok(10));
    assert!(store.check_disk(10, 0, &small).is_ok());
    assert_eq!(code(store.check_disk(11, 0, &small)), Some(507));
    let broken = Free(Err(io::Error::other("statvfs failed")));
    assert_eq!(code(store.check_disk(1, 0, &broken)), Some(500));
}

#[test]
fn the_catalogue_counts_usage_and_totals_through_replace_remove_and_reown() {
    let mut store = Catalogue::new(
        limits(),
        vec![entry("b", "bob", 5, "v2"), entry("a", "alice", 3, "v1")],
    );
    let names: Vec<&str> = store.list().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(store.totals(), (2, 8));
    assert_eq!(store.usage("alice", ""), 3);
    assert_eq!(store.usage("alice", "a"), 0);
    assert_eq!(store.usage("alice", "b"), 3, "bob's entry is not alice's");
    // A replacement swaps the version: the old one goes.
    assert_eq!(
        store.record(entry("a", "alice", 10, "v3")),
        Some("v1".into())
    );
    assert_eq!(store.totals(), (2, 15));
    assert_eq!(store.usage("alice", ""), 10);
    assert_eq!(store.record(entry("c", "alice", 1, "v4")), None);
    assert_eq!(store.reown("alice", "(deleted)"), 2);
    assert_eq!(store.usage("alice", ""), 0);
    assert_eq!(store.usage("(deleted)", ""), 11);
    assert_eq!(store.get("a").unwrap().owner, "(deleted)");
    let (gone, version) = store.remove("a").unwrap();
    assert_eq!((gone.bytes, version), (10, Some("v3".into())));
    assert!(store.remove("a").is_none());
    assert_eq!(store.totals(), (2, 6));
}

#[test]
fn a_replaced_or_removed_version_stays_until_its_last_reader_ends() {
    let mut store = Catalogue::new(limits(), vec![entry("r", "alice", 3, "one")]);
    store.add_reader("one");
    store.add_reader("one");
    assert_eq!(store.record(entry("r", "alice", 3, "two")), None);
    assert_eq!(store.drop_reader("one"), None);
    assert_eq!(store.drop_reader("one"), Some("one".into()));
    assert_eq!(store.drop_reader("one"), None, "gone is gone");
    // Removal waits for the reader the same way.
    store.add_reader("two");
    assert_eq!(store.remove("r").map(|(_, now)| now), Some(None));
    assert_eq!(store.drop_reader("two"), Some("two".into()));
    // A version still read is not retired by a reader of another.
    store.record(entry("s", "alice", 1, "three"));
    store.add_reader("three");
    assert_eq!(store.drop_reader("three"), None);
    assert_eq!(store.get("s").unwrap().version, "three");
}

fn item(path: &str, content: &[u8]) -> TreeItem {
    TreeItem {
        path: path.into(),
        kind: Kind::File,
        size: content.len() as u64,
        hash: Some(*blake3::hash(content).as_bytes()),
    }
}

/// Write `content` as `e`'s one file into a fresh version `e.version`, flush it.
fn upload(disk: &StoreDisk, e: &StoreEntry, content: &[u8]) -> Vec<TreeItem> {
    let incoming = disk.begin(&e.version).unwrap();
    let flags = crate::sys::OpenFlags::CreateNew;
    let file = crate::sys::open_beneath(&incoming.dir, Path::new(&e.name), flags).unwrap();
    std::io::Write::write_all(&mut &file, content).unwrap();
    let items = vec![item(&e.name, content)];
    let done = Syncing::new()
        .turn(disk.root_dir(), &incoming, &items, SyncSlice::ALL)
        .unwrap();
    assert!(done);
    items
}

#[test]
fn the_catalogue_survives_in_sqlite_and_the_disk_is_swept_of_what_it_lacks() {
    let data = TempDir::new("store-cycle");
    let mut db = Db::open(&data.join("db")).unwrap();
    let mut disk = StoreDisk::open(data.path()).unwrap();
    let first = entry("a.txt", "alice", 5, "v1");
    let items = upload(&disk, &first, b"hello");
    sql::record(&mut db, &first, &items).unwrap();
    let root = data.join("store");
    assert_eq!(std::fs::read(root.join("v1/a.txt")).unwrap(), b"hello");
    // Replacing points at the new version; the old manifest goes with it.
    let second = entry("a.txt", "alice", 3, "v2");
    let items = upload(&disk, &second, b"new");
    sql::record(&mut db, &second, &items).unwrap();
    assert!(sql::manifest(&db, "v1").unwrap().is_empty());
    assert_eq!(sql::manifest(&db, "v2").unwrap(), items);
    assert_eq!(sql::load(&db).unwrap(), vec![second.clone()]);
    // An interrupted upload and the replaced version are swept at the next start.
    let stale = disk.begin("v3").unwrap();
    assert!(root.join(&stale.dir_name).exists());
    let live = sql::load(&db)
        .unwrap()
        .into_iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(disk.sweep(&live).unwrap(), 2);
    assert!(disk.removing(), "swept versions go a slice per turn");
    disk.remove_slice(1);
    assert!(disk.removing(), "one step does not remove two trees");
    disk.remove_all();
    assert!(!root.join(&stale.dir_name).exists() && !root.join("v1").exists());
    assert!(root.join("v2/a.txt").exists());
    sql::remove(&mut db, "a.txt", "v2").unwrap();
    assert!(sql::load(&db).unwrap().is_empty());
    assert!(sql::manifest(&db, "v2").unwrap().is_empty());
    // A version is removed from the disk, incoming or committed, in slices.
    disk.remove_version("v2");
    disk.remove_version("v3");
    assert!(disk.removing());
    disk.remove_all();
    assert!(!disk.removing());
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
}

/// A tree of `dirs` directories of `per_dir` files each (and a symlink out of it).
fn make_tree(root: &Path, dirs: usize, per_dir: usize) -> usize {
    std::fs::create_dir_all(root).unwrap();
    let mut entries = 1;
    for d in 0..dirs {
        let dir = root.join(format!("d{d}"));
        std::fs::create_dir(&dir).unwrap();
        entries += 1;
        for f in 0..per_dir {
            std::fs::write(dir.join(format!("f{f}")), b"x").unwrap();
            entries += 1;
        }
    }
    entries
}

#[test]
fn a_slice_removes_at_most_its_bound_and_a_big_tree_goes_in_several() {
    let data = TempDir::new("store-removal");
    let outside = data.join("outside");
    std::fs::write(&outside, b"keep me").unwrap();
    let tree = data.join("tree");
    let entries = make_tree(&tree, 9, 110);
    std::os::unix::fs::symlink(&outside, tree.join("d0/link")).unwrap();
    assert_eq!(entries, 1000);
    let count = |p: &Path| {
        let mut n = 0;
        let mut stack = vec![p.to_path_buf()];
        while let Some(dir) = stack.pop() {
            n += 1;
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                } else {
                    n += 1;
                }
            }
        }
        n
    };
    let mut removal = Removal::new(tree.clone());
    let mut slices = 0;
    let mut left = count(&tree);
    while !removal.done() {
        let steps = removal.step(10).unwrap();
        assert!(steps <= 10);
        slices += 1;
        if tree.exists() {
            let now = count(&tree);
            assert!(left - now <= 10, "{} removed in one slice", left - now);
            left = now;
        }
    }
    assert!(!tree.exists());
    // 1,000 entries, a symlink and 10 directories opened, 10 steps a slice.
    assert!(slices >= 100, "{slices} slices");
    assert_eq!(
        std::fs::read(&outside).unwrap(),
        b"keep me",
        "the link was not followed"
    );
    // What is gone already is fine; so is a single file.
    let mut again = Removal::new(tree.clone());
    assert_eq!(again.step(10).unwrap(), 1);
    assert!(again.done());
    let mut file = Removal::new(outside.clone());
    file.step(10).unwrap();
    assert!(file.done() && !outside.exists());
}

#[test]
fn the_disk_removes_within_its_budget_across_versions() {
    let data = TempDir::new("store-slices");
    let mut disk = StoreDisk::open(data.path()).unwrap();
    let root = data.join("store");
    make_tree(&root.join("va/t"), 3, 5);
    make_tree(&root.join(".incoming-vb/t"), 2, 2);
    disk.remove_version("va");
    disk.remove_version("vb");
    let mut turns = 0;
    while disk.removing() {
        disk.remove_slice(4);
        turns += 1;
    }
    assert!(turns >= 6, "{turns} turns");
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
}
