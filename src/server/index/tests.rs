//! Tests of the publish index: duplicates, holders, sync, the per-owner maximum,
//! search and the cost of a lookup.

use super::*;
use holders::Holders;

fn file(name: &str, byte: u8) -> FileInfo {
    FileInfo {
        name: name.into(),
        size: byte as u64 * 10,
        hash: [byte; 32],
    }
}

#[test]
fn publish_same_hash_is_not_a_duplicate_but_other_content_is() {
    let mut index = Index::default();
    assert_eq!(
        index.publish("alice", &file("a.txt", 1), false).unwrap().0,
        Published::New
    );
    assert_eq!(
        index.publish("alice", &file("a.txt", 1), false).unwrap().0,
        Published::Unchanged
    );
    assert!(matches!(
        index.publish("alice", &file("a.txt", 2), false),
        Err(IndexError::Duplicate)
    ));
    assert_eq!(
        index.publish("alice", &file("a.txt", 2), true).unwrap().0,
        Published::Replaced
    );
    assert_eq!(index.len(), 1);
    assert_eq!(index.files_of("alice"), vec![file("a.txt", 2)]);
}

#[test]
fn holders_unpublish_and_a_snapshot() {
    let mut index = Index::default();
    index.publish("alice", &file("x", 1), false).unwrap();
    index.publish("bob", &file("x", 1), false).unwrap();
    index.publish("bob", &file("y", 2), false).unwrap();
    let mut holders: Vec<&str> = index.holders("x").map(|(o, _)| o).collect();
    holders.sort();
    assert_eq!(holders, vec!["alice", "bob"]);
    assert!(index.unpublish("alice", "x").is_some());
    assert!(index.unpublish("alice", "x").is_none());
    let published = ["alice", "bob"]
        .into_iter()
        .flat_map(|o| {
            index
                .files_of(o)
                .into_iter()
                .map(move |f| (o.to_owned(), f))
        })
        .collect();
    let reloaded = Index::from_published(published);
    assert_eq!(reloaded.len(), 2);
    assert_eq!(
        reloaded.holders("x").map(|(o, _)| o).collect::<Vec<_>>(),
        vec!["bob"]
    );
}

#[test]
fn holders_go_from_none_to_one_to_many_and_back() {
    let entry = Entry {
        size: 1,
        hash: [1; 32],
    };
    let mut h = Holders::default();
    assert!(h.is_empty());
    h.push((Name::new("a"), entry));
    assert!(matches!(h, Holders::One(_)));
    h.push((Name::new("b"), entry));
    h.push((Name::new("c"), entry));
    let names: Vec<&str> = h.as_slice().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec!["a", "b", "c"]);
    h.remove("b");
    h.remove("zzz");
    assert_eq!(h.as_slice().len(), 2);
    h.remove("a");
    h.remove("c");
    assert!(h.is_empty());
    h.push((Name::new("d"), entry));
    h.remove("d");
    assert!(h.is_empty());
}

#[test]
fn sync_replaces_the_owners_list() {
    let mut index = Index::default();
    index.publish("alice", &file("old", 1), false).unwrap();
    index.publish("bob", &file("keep", 3), false).unwrap();
    index
        .sync("alice", &[file("new1", 1), file("new2", 2)], true)
        .unwrap();
    index.sync("alice", &[file("new3", 4)], false).unwrap();
    let names: Vec<String> = index
        .files_of("alice")
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, vec!["new1", "new2", "new3"]);
    assert_eq!(index.len(), 4);
    assert_eq!(index.holders("old").count(), 0);
}

#[test]
fn search_is_case_insensitive_grouped_by_hash_online_only_and_bounded() {
    let mut index = Index::default();
    index
        .publish("alice", &file("Report.PDF", 1), false)
        .unwrap();
    index.publish("bob", &file("Report.PDF", 1), false).unwrap();
    index
        .publish("carol", &file("Report.PDF", 2), false)
        .unwrap();
    index
        .publish("dave", &file("report-old.pdf", 3), false)
        .unwrap();
    let online = |u: &str| u != "dave";
    let (hits, truncated) = index.search("report", 10, online);
    assert!(!truncated);
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].owners, vec!["alice", "bob"]);
    assert_eq!(hits[1].owners, vec!["carol"]);
    let (hits, truncated) = index.search("REPORT", 1, |_| true);
    assert_eq!(hits.len(), 1);
    assert!(truncated);
}

#[test]
fn an_owner_publishes_at_most_the_maximum_also_through_sync() {
    let mut index = Index::default();
    index.set_max_per_owner(3);
    let files: Vec<FileInfo> = (0..4).map(|i| file(&format!("f{i}"), 1)).collect();
    assert!(matches!(
        index.sync("alice", &files, true),
        Err(IndexError::TooMany(3))
    ));
    assert_eq!(index.len(), 0, "a refused sync changes nothing");
    index.sync("alice", &files[..2], true).unwrap();
    assert!(matches!(
        index.sync("alice", &files[2..], false),
        Err(IndexError::TooMany(3))
    ));
    // Re-announcing names already published does not count twice.
    index.sync("alice", &files[..2], false).unwrap();
    index.publish("alice", &files[2], false).unwrap();
    assert!(matches!(
        index.publish("alice", &files[3], false),
        Err(IndexError::TooMany(3))
    ));
    index.publish("bob", &files[3], false).unwrap();
    assert_eq!(index.len(), 4);
}

#[test]
fn search_over_a_big_index_is_capped_and_says_so() {
    let mut index = Index::default();
    let files: Vec<FileInfo> = (0..20_000)
        .map(|i| file(&format!("song-{i:05}.mp3"), 1))
        .collect();
    index.sync("alice", &files, true).unwrap();
    let (hits, truncated) = index.search("", 100, |_| true);
    assert_eq!(hits.len(), 100);
    assert!(truncated);
    assert_eq!(hits[0].file.name, "song-00000.mp3", "in name order");
    let (hits, truncated) = index.search("song-1234", 100, |_| true);
    assert_eq!(hits.len(), 10, "song-12340..12349");
    assert!(!truncated);
    assert!(hits.windows(2).all(|w| w[0].file.name < w[1].file.name));
    let (hits, truncated) = index.search("mp3", 100, |_| true);
    assert_eq!(hits.len(), 100);
    assert!(truncated);
    let (hits, truncated) = index.search("", 100, |_| false);
    assert!(
        hits.is_empty() && truncated,
        "offline names: bounded scan, said"
    );
    index.unpublish("alice", "song-12345.mp3").unwrap();
    assert_eq!(index.search("song-12345", 10, |_| true).0.len(), 0);
}

#[test]
fn lookup_cost_does_not_grow_with_the_index() {
    let mut index = Index::default();
    for owner in 0..100 {
        let files: Vec<FileInfo> = (0..1000)
            .map(|i| file(&format!("f{owner}-{i}"), 1))
            .collect();
        index.sync(&format!("u{owner}"), &files, true).unwrap();
    }
    assert_eq!(index.len(), 100_000);
    // One lookup reads one name's holders (none for a miss), not the index.
    let before = index.names_examined.get();
    assert_eq!(index.holders("f42-999").count(), 1);
    assert_eq!(index.names_examined.get() - before, 1);
    assert_eq!(index.holders("nowhere").count(), 0);
    assert_eq!(index.names_examined.get() - before, 1);
}

#[test]
fn every_change_is_taken_back_by_its_undo() {
    let mut index = Index::default();
    index.publish("alice", &file("a", 1), false).unwrap();
    index.publish("alice", &file("b", 2), false).unwrap();
    index.publish("bob", &file("a", 1), false).unwrap();
    let before = |index: &Index| (index.files_of("alice"), index.files_of("bob"), index.len());
    let start = before(&index);
    let (_, undo) = index.publish("alice", &file("a", 3), true).unwrap();
    index.restore("alice", undo);
    assert_eq!(before(&index), start);
    let (_, undo) = index.publish("alice", &file("c", 3), false).unwrap();
    index.restore("alice", undo);
    assert_eq!(before(&index), start);
    let undo = index.unpublish("alice", "b").unwrap();
    index.restore("alice", undo);
    assert_eq!(before(&index), start);
    let chunk = [file("b", 9), file("d", 4), file("d", 5)];
    for first in [true, false] {
        let undo = index.sync("alice", &chunk, first).unwrap();
        index.restore("alice", undo);
        assert_eq!(before(&index), start, "first: {first}");
    }
    assert_eq!(
        index.search("d", 10, |_| true).0.len(),
        0,
        "search forgot d"
    );
    assert_eq!(index.holders("a").count(), 2);
}
