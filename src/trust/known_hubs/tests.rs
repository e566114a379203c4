//! The pins file (parsed, refused line by line, updated in place, written atomically)
//! and issue #12's trust rule as a table.

use super::*;
use crate::testing::TempDir;
use crate::trust::Identity;

fn key(n: u8) -> Fingerprint {
    Fingerprint::of_spki(&[n])
}

#[test]
fn the_trust_rule_is_issue_12s_table() {
    let (a, b, c) = (key(1), key(2), key(3));
    let pin = |pin, replaced| Trust::AcceptAndPin { pin, replaced };
    // (pinned, --hub-key, presented) → decision
    let table = [
        // Trust on first use: pin what is shown.
        (None, None, a, pin(a, None)),
        // A pinned hub showing its key: nothing to do.
        (Some(a), None, a, Trust::Accept),
        // A pinned hub showing another key: refused, nothing sent.
        (
            Some(a),
            None,
            b,
            Trust::Mismatch {
                expected: a,
                got: b,
            },
        ),
        // --hub-key on first use: only that key, nothing written, no event.
        (None, Some(a), a, Trust::Accept),
        (
            None,
            Some(a),
            b,
            Trust::RefusedExplicit {
                expected: a,
                got: b,
            },
        ),
        // --hub-key naming the pinned key: nothing to do.
        (Some(a), Some(a), a, Trust::Accept),
        // --hub-key naming a new key the hub shows: the pin is replaced deliberately.
        (Some(a), Some(b), b, pin(b, Some(a))),
        // --hub-key refuses anything else, whatever is pinned.
        (
            Some(a),
            Some(b),
            a,
            Trust::RefusedExplicit {
                expected: b,
                got: a,
            },
        ),
        (
            Some(a),
            Some(b),
            c,
            Trust::RefusedExplicit {
                expected: b,
                got: c,
            },
        ),
    ];
    for (pinned, hub_key, presented, want) in table {
        let got = decide(pinned, hub_key, presented);
        assert_eq!(
            got, want,
            "pinned {pinned:?}, --hub-key {hub_key:?}, presented {presented:?}"
        );
        assert_eq!(
            got.accepted(),
            matches!(want, Trust::Accept | Trust::AcceptAndPin { .. })
        );
    }
}

#[test]
fn pins_comments_and_blank_lines_parse_and_render_back() {
    let text = format!(
        "# hubs I trust\n\nhub.lan:7000 {}\n  [::1]:7001 {}  \n",
        key(1),
        key(2)
    );
    let hubs = KnownHubs::parse(&text).unwrap();
    assert_eq!(hubs.pinned("hub.lan:7000"), Some(key(1)));
    assert_eq!(hubs.pinned("[::1]:7001"), Some(key(2)));
    assert_eq!(hubs.pinned("hub.lan:7001"), None);
    assert_eq!(
        hubs.decide("hub.lan:7000", None, key(3)),
        Trust::Mismatch {
            expected: key(1),
            got: key(3)
        }
    );
    let rendered = hubs.render();
    assert!(
        rendered.starts_with("# hubs I trust\n\nhub.lan:7000 "),
        "{rendered}"
    );
    assert_eq!(KnownHubs::parse(&rendered).unwrap(), hubs);
}

#[test]
fn a_corrupt_line_is_an_error_naming_it() {
    let good = format!("hub:1 {}", key(1));
    let cases = [
        (format!("{good}\nhub:2\n"), 2, "two words"),
        (format!("{good}\nhub:2 {} extra\n", key(2)), 2, "two words"),
        ("hub:2 sha256:00\n".to_owned(), 1, "not a key fingerprint"),
        (format!("hub {}\n", key(2)), 1, "no :PORT"),
        (format!(":7000 {}\n", key(2)), 1, "no host"),
        (format!("hub:70000 {}\n", key(2)), 1, "port"),
        (format!("# c\n{good}\n{good}\n"), 3, "earlier line"),
    ];
    for (text, line, why) in cases {
        let err = KnownHubs::parse(&text).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, KnownHubsError::Corrupt { line: l, .. } if l == line),
            "{text:?}: {message}"
        );
        assert!(
            message.contains(&format!("line {line}")) && message.contains(why),
            "{text:?}: {message}"
        );
    }
}

#[test]
fn pinning_replaces_in_place_or_appends() {
    let text = format!("# mine\nhub:1 {}\nother:2 {}\n", key(1), key(2));
    let mut hubs = KnownHubs::parse(&text).unwrap();
    assert!(hubs.pin("hub:1", key(9)));
    assert!(hubs.pin("new:3", key(3)));
    assert!(
        !hubs.pin("bad addr:4", key(4)),
        "an address with a blank cannot be a line"
    );
    assert_eq!(
        hubs.render(),
        format!(
            "# mine\nhub:1 {}\nother:2 {}\nnew:3 {}\n",
            key(9),
            key(2),
            key(3)
        )
    );
}

#[test]
fn the_file_is_read_and_written_atomically_keeping_other_lines() {
    let tmp = TempDir::new("known-hubs");
    let path = tmp.join(KNOWN_HUBS_FILE);
    assert_eq!(
        KnownHubs::load(&path).unwrap(),
        KnownHubs::default(),
        "no file, no pins"
    );
    std::fs::write(&path, format!("# keep me\nold:1 {}\n", key(1))).unwrap();
    let mut hubs = KnownHubs::load(&path).unwrap();
    let hub = Identity::generate().unwrap().fingerprint();
    let Trust::AcceptAndPin {
        pin,
        replaced: None,
    } = hubs.decide("hub:7000", None, hub)
    else {
        panic!("first use pins");
    };
    hubs.pin("hub:7000", pin);
    hubs.save(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        format!("# keep me\nold:1 {}\nhub:7000 {hub}\n", key(1))
    );
    assert!(!tmp.join(format!("{KNOWN_HUBS_FILE}.tmp")).exists());
    assert_eq!(
        KnownHubs::load(&path)
            .unwrap()
            .decide("hub:7000", None, hub),
        Trust::Accept
    );
    std::fs::write(&path, "garbage\n").unwrap();
    assert!(KnownHubs::load(&path)
        .unwrap_err()
        .to_string()
        .contains("line 1"));
}
