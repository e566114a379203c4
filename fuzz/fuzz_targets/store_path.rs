//! The tree-path and name checks (`proto::store::check_path`, `proto::names`): never
//! panic, and whatever they accept is safe to join beneath a directory — only plain
//! components (no empty, `.`, `..`, root or `\`), the first one the entry itself,
//! within the length and depth limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhub::proto::names::{self, MAX_FILE_NAME_BYTES, MAX_USER_LEN};
use peerhub::proto::status::Status;
use peerhub::proto::store::{check_path, MAX_DEPTH, MAX_PATH_BYTES};
use std::path::{Component, Path};

/// What every accepted component must be.
fn plain_component(part: &str) {
    assert!(
        !part.is_empty() && part.len() <= MAX_FILE_NAME_BYTES,
        "{part:?}"
    );
    assert!(part != "." && part != "..", "{part:?}");
    assert!(!part.contains(['/', '\\']), "{part:?}");
    assert!(!part.chars().any(char::is_control), "{part:?}");
}

fn path(path: &str, root: &str) {
    match check_path(path, root) {
        Ok(()) => {
            assert!(path.len() <= MAX_PATH_BYTES);
            let parts: Vec<&str> = path.split('/').collect();
            assert!(parts.len() <= MAX_DEPTH);
            assert_eq!(parts[0], root);
            parts.iter().for_each(|p| plain_component(p));
            // Joined beneath a base it stays beneath it, component for component.
            let base = Path::new("/srv/store/version");
            let joined = base.join(path);
            assert!(joined.starts_with(base));
            let components: Vec<Component> = Path::new(path).components().collect();
            assert_eq!(components.len(), parts.len(), "{path:?}");
            for (c, p) in components.iter().zip(&parts) {
                assert_eq!(*c, Component::Normal(p.as_ref()), "{path:?}");
            }
            assert_eq!(check_path(root, root), Ok(()));
        }
        Err(e) => assert_eq!(e.status, Status::INVALID_NAME),
    }
}

fn names(text: &str) {
    if names::check_file_name(text).is_ok() {
        plain_component(text);
        assert_eq!(Path::new(text).components().count(), 1);
    }
    if names::check_user(text).is_ok() {
        assert!((1..=MAX_USER_LEN).contains(&text.len()));
        assert!(text.as_bytes()[0].is_ascii_alphanumeric());
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')));
        assert!(names::check_file_name(text).is_ok());
    }
    if names::check_published_name(text).is_ok() {
        assert!(names::check_file_name(text).is_ok() && !names::is_reserved(text));
    }
    let _ = names::has_control_chars(text);
}

fuzz_target!(|data: &[u8]| {
    // The first byte says how long the entry name is; the rest is the path.
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = (n as usize).min(rest.len());
    let (Ok(root), Ok(p)) = (
        std::str::from_utf8(&rest[..n]),
        std::str::from_utf8(&rest[n..]),
    ) else {
        return;
    };
    path(p, root);
    // The entry's own name followed by the rest: the common shape of a real path.
    path(&format!("{root}/{p}"), root);
    names(root);
    names(p);
});
