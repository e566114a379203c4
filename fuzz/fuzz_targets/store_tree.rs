//! The store's tree receiver (`transfer::tree::TreeReceiver`), which turns the frames
//! of an upload into directories and files beneath a root: whatever arrives, nothing is
//! created outside the entry's own directory, every item it records has a checked path
//! and exists on disk as recorded (size and hash), a finished tree holds exactly what
//! was recorded, and feeding the bytes in small pieces gives the same outcome as
//! feeding them at once.
//!
//! The input is either raw bytes or, when its first byte is odd, a little program of
//! store messages (directories, files with right or wrong sums, totals), so the fuzzer
//! reaches deep trees without having to forge BLAKE3 hashes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhub::proto::message::StoreKind;
use peerhub::proto::store::{self, check_path, StoreMsg};
use peerhub::sys;
use peerhub::transfer::tree::{RxLimits, Totals, TreeItem, TreeReceiver};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const ROOT: &str = "e";

/// A directory of this process's own (beneath `$TMPDIR`: `run.sh` points it at
/// memory and removes it) holding only `cell`, where the two receivers' roots are
/// made (so an escape of one or two levels shows).
fn jail() -> &'static Path {
    static JAIL: OnceLock<PathBuf> = OnceLock::new();
    JAIL.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("peerhub-fuzz-tree-{}", std::process::id()));
        fs::create_dir_all(dir.join("cell")).expect("create the fuzz jail");
        dir
    })
}

fn cell() -> PathBuf {
    jail().join("cell")
}

/// Reads the little program of the structured mode.
struct Ops<'a>(&'a [u8]);

impl Ops<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
    /// A path: a length byte (its top bit puts the entry's name and `/` in front).
    fn path(&mut self) -> String {
        let len = self.byte().unwrap_or(0);
        let text = String::from_utf8_lossy(self.bytes(usize::from(len & 0x7F))).into_owned();
        if len & 0x80 != 0 {
            format!("{ROOT}/{text}")
        } else {
            text
        }
    }
}

/// The byte stream the structured mode describes.
fn program(mut ops: Ops) -> Vec<u8> {
    let mut out = Vec::new();
    let mut sent = Totals::default();
    while let Some(op) = ops.byte() {
        match op % 6 {
            0 => {
                store::encode(&StoreMsg::Dir { path: ops.path() }, &mut out);
                sent.dirs += 1;
            }
            1 | 2 => {
                let path = ops.path();
                let n = usize::from(ops.byte().unwrap_or(0));
                let body = ops.bytes(n).to_vec();
                store::encode(
                    &StoreMsg::File {
                        path,
                        size: body.len() as u64,
                    },
                    &mut out,
                );
                out.extend_from_slice(&body);
                let mut hash = *blake3::hash(&body).as_bytes();
                if op % 6 == 2 {
                    hash[0] ^= 1;
                }
                store::encode(&StoreMsg::Sum { hash }, &mut out);
                sent.files += 1;
                sent.bytes += body.len() as u64;
            }
            3 => store::encode(
                &StoreMsg::End {
                    files: sent.files,
                    dirs: sent.dirs,
                    bytes: sent.bytes,
                },
                &mut out,
            ),
            4 => {
                let n = u64::from(ops.byte().unwrap_or(0));
                store::encode(
                    &StoreMsg::End {
                        files: n,
                        dirs: n / 2,
                        bytes: n * 3,
                    },
                    &mut out,
                );
            }
            _ => {
                let n = usize::from(ops.byte().unwrap_or(0));
                out.extend_from_slice(ops.bytes(n));
            }
        }
    }
    out
}

/// What is on disk beneath `dir`, by path relative to it: a file's contents or `None`
/// for a directory. Nothing there may be a symlink or anything but a file or directory.
fn on_disk(dir: &Path, prefix: &str, found: &mut BTreeMap<String, Option<Vec<u8>>>) {
    for entry in fs::read_dir(dir).expect("read a received directory") {
        let entry = entry.expect("a directory entry");
        let name = entry.file_name().into_string().expect("names are UTF-8");
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry.file_type().expect("a file type");
        assert!(check_path(&rel, ROOT).is_ok(), "{rel:?} was created");
        if kind.is_dir() {
            found.insert(rel.clone(), None);
            on_disk(&entry.path(), &rel, found);
        } else {
            assert!(kind.is_file(), "{rel:?} is neither a file nor a directory");
            found.insert(
                rel,
                Some(fs::read(entry.path()).expect("read a received file")),
            );
        }
    }
}

struct Outcome {
    status: Option<u16>,
    items: Vec<TreeItem>,
    ended: bool,
}

/// Receive `bytes` beneath a fresh `jail/<slot>` in pieces of `piece` bytes, check
/// what landed on disk, and clean up.
fn receive(slot: &str, kind: StoreKind, bytes: &[u8], piece: usize) -> Outcome {
    let dir = cell().join(slot);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir(&dir).expect("create a receiver root");
    let root = sys::open_dir(&dir).expect("open a receiver root");
    let limits = RxLimits {
        root: ROOT.into(),
        kind,
        max_file: 1024,
        max_bytes: 4096,
        max_items: 16,
    };
    let mut rx = TreeReceiver::new(limits, Vec::new());
    let mut status = None;
    for chunk in bytes.chunks(piece.max(1)) {
        if let Err(e) = rx.feed(chunk, &root) {
            status = Some(e.status.0);
            break;
        }
    }
    let mut found = BTreeMap::new();
    on_disk(&dir, "", &mut found);
    let items = rx.items().to_vec();
    for item in &items {
        assert!(
            check_path(&item.path, ROOT).is_ok(),
            "{item:?} was recorded"
        );
        let there = found
            .get(&item.path)
            .unwrap_or_else(|| panic!("{item:?} is not on disk"));
        match (item.kind, there) {
            (StoreKind::Dir, None) => {}
            (StoreKind::File, Some(data)) => {
                assert_eq!(data.len() as u64, item.size, "{item:?}");
                assert_eq!(item.hash, Some(*blake3::hash(data).as_bytes()), "{item:?}");
            }
            _ => panic!("{item:?} is something else on disk"),
        }
    }
    if rx.ended() {
        assert_eq!(Totals::of(&items), rx.totals());
        let recorded: Vec<&str> = items.iter().map(|i| i.path.as_str()).collect();
        let there: Vec<&str> = found.keys().map(String::as_str).collect();
        let mut recorded_sorted = recorded.clone();
        recorded_sorted.sort_unstable();
        assert_eq!(
            recorded_sorted, there,
            "a finished tree holds exactly what it recorded"
        );
    }
    drop(root);
    fs::remove_dir_all(&dir).expect("clean a receiver root");
    Outcome {
        status,
        items,
        ended: rx.ended(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let kind = if head & 2 == 0 {
        StoreKind::Dir
    } else {
        StoreKind::File
    };
    let bytes = if head & 1 == 1 {
        program(Ops(rest))
    } else {
        rest.to_vec()
    };
    let piece = usize::from(head >> 2) + 1;
    let whole = receive("whole", kind, &bytes, bytes.len());
    let pieces = receive("pieces", kind, &bytes, piece);
    assert_eq!(
        whole.status, pieces.status,
        "fed whole vs in pieces of {piece}"
    );
    assert_eq!(whole.items, pieces.items);
    assert_eq!(whole.ended, pieces.ended);
    // Nothing but the two roots was ever made in the jail.
    let names = |dir: &Path| -> Vec<String> {
        fs::read_dir(dir)
            .expect("read the jail")
            .map(|e| {
                e.expect("a jail entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    };
    assert_eq!(names(jail()), ["cell"]);
    assert_eq!(names(&cell()), Vec::<String>::new());
});
