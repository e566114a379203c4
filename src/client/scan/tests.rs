//! The walk's results (pre-order, skips, refusals) and its slices: bounded, and the
//! same tree as a walk at once.

use super::*;
use crate::testing::TempDir;

/// Walk in slices of `budget` steps to the end; the number of slices it took.
fn walk_in_slices(path: &Path, name: Option<&str>, max: usize, budget: usize) -> (Walked, usize) {
    let mut scan = match Scan::start(path.to_str().unwrap(), name, max) {
        Ok(scan) => scan,
        Err(e) => return (Err(e), 0),
    };
    let mut slices = 0;
    loop {
        slices += 1;
        let before = scan.items.len();
        match scan.step(budget) {
            ScanStep::Walking => {
                let added = scan.items.len() - before;
                assert!(
                    added <= budget,
                    "{added} items in a slice of {budget} steps"
                );
            }
            ScanStep::Done(walked) => return (walked, slices),
        }
    }
}

/// A walk at once (one slice as big as it needs).
fn walk(path: &Path, name: Option<&str>, max: usize) -> Walked {
    walk_in_slices(path, name, max, usize::MAX).0
}

fn paths(prepared: &Prepared) -> Vec<&str> {
    prepared
        .items
        .iter()
        .map(|(i, _)| i.path.as_str())
        .collect()
}

#[test]
fn a_tree_in_pre_order_without_symlinks() {
    let dir = TempDir::new("scan-order");
    let top = dir.join("top");
    std::fs::create_dir_all(top.join("b/c")).unwrap();
    std::fs::write(top.join("a.txt"), b"12345").unwrap();
    std::fs::write(top.join("b/c/d"), b"").unwrap();
    std::os::unix::fs::symlink("/etc", top.join("link")).unwrap();
    std::fs::write(top.join("bad\\name"), b"x").unwrap();
    let (scanned, prepared) = walk(&top, Some("up"), 100).unwrap();
    assert_eq!(
        paths(&prepared),
        ["up", "up/a.txt", "up/b", "up/b/c", "up/b/c/d"]
    );
    assert_eq!(
        scanned.totals,
        Totals {
            files: 2,
            dirs: 3,
            bytes: 5
        }
    );
    assert_eq!(scanned.skipped.len(), 2);
    assert_eq!(prepared.items[4].1, PathBuf::from("b/c/d"));
    let (one, p) = walk(&top.join("a.txt"), None, 100).unwrap();
    assert_eq!((one.name.as_str(), one.kind), ("a.txt", StoreKind::File));
    assert_eq!(p.items[0].1, PathBuf::from("a.txt"));
    let too_many = walk(&top, None, 3).err();
    assert_eq!(
        too_many,
        Some((
            Status::TOO_LARGE,
            "more than 3 files and directories".into()
        ))
    );
    let missing = walk(&dir.join("nope"), None, 3).err().map(|e| e.0);
    assert_eq!(missing, Some(Status::NO_FILE));
}

#[test]
fn the_clients_own_files_are_never_uploaded() {
    let dir = TempDir::new("scan-own");
    let share = dir.join("share");
    std::fs::create_dir_all(&share).unwrap();
    std::fs::write(share.join("song.mp3"), b"la").unwrap();
    std::fs::write(share.join(".peerhub-published.json"), b"[]").unwrap();
    std::fs::write(share.join(".peerhub-partials.json"), b"[]").unwrap();
    let (scanned, prepared) = walk(&share, None, 100).unwrap();
    assert_eq!(paths(&prepared), ["share", "share/song.mp3"]);
    let skipped: Vec<&str> = scanned.skipped.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        skipped,
        [".peerhub-partials.json", ".peerhub-published.json"]
    );
    let own = share.join(".peerhub-published.json");
    for name in [None, Some("backup.json")] {
        let refused = walk(&own, name, 100).err().map(|e| e.0);
        assert_eq!(refused, Some(Status::INVALID_NAME), "{name:?}");
    }
    let refused = walk(&share, Some(".peerhub-x"), 100).err();
    assert_eq!(refused.map(|e| e.0), Some(Status::INVALID_NAME));
}

#[test]
fn a_big_tree_is_walked_in_bounded_slices_to_the_same_result() {
    let dir = TempDir::new("scan-slices");
    let top = dir.join("big");
    for d in 0..10 {
        let sub = top.join(format!("d{d}"));
        std::fs::create_dir_all(&sub).unwrap();
        for f in 0..99 {
            std::fs::write(sub.join(format!("f{f}")), [b'x'; 3]).unwrap();
        }
    }
    std::os::unix::fs::symlink("/etc", top.join("d3/link")).unwrap();
    let (at_once, slices_at_once) = walk_in_slices(&top, None, 100_000, usize::MAX);
    let (sliced, slices) = walk_in_slices(&top, None, 100_000, 10);
    let (at_once, sliced) = (at_once.unwrap(), sliced.unwrap());
    assert_eq!(slices_at_once, 1);
    // Each directory is opened, read an entry per step (and one step to find its end),
    // examined an entry per step and left: 23 steps for the top (10 entries), 201 for
    // each subdirectory (99 files) and 203 for d3 (and its link), 2,035 in all. Slices
    // of at most 10 steps need 204 of them; one doing more work would need fewer.
    assert_eq!(slices, 204);
    assert_eq!(at_once.0, sliced.0);
    assert_eq!(at_once.0.totals.files, 990);
    assert_eq!(at_once.0.skipped.len(), 1);
    let items = |p: &Prepared| {
        p.items
            .iter()
            .map(|(i, rel)| (i.clone(), rel.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(items(&at_once.1), items(&sliced.1));
    // The same refusal, with the same words, when the tree is too big.
    let refusal = |budget| walk_in_slices(&top, None, 500, budget).0.err();
    assert_eq!(refusal(10), refusal(usize::MAX));
    assert_eq!(
        refusal(10),
        Some((
            Status::TOO_LARGE,
            "more than 500 files and directories".into()
        ))
    );
}
