//! `GET /metrics` on the hub's web interface (issue #13), against real processes: the
//! token as a bearer, a query parameter or the cookie (401 without, 403 for a foreign
//! `Host`), the Prometheus text with every named family, values that follow what
//! happened (logins, a publication, a lookup, chat, a store upload's bytes), the loop's
//! turn histogram, and no `/metrics` on a client's page.

mod support;

use std::fs;
use std::time::Duration;
use support::web::{body, get, page_of, status};
use support::{Hub, Peer};

const SECS_10: Duration = Duration::from_secs(10);
const SECS_30: Duration = Duration::from_secs(30);

/// The value of the sample `name` in a Prometheus text.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn the_hub_s_metrics_follow_what_happened_and_need_the_token() {
    let mut hub = Hub::start(&["--web"]);
    let (addr, token) = page_of(&hub.wait_event("web", |_| true, SECS_10));
    let host = addr.to_string();
    let bearer = format!("Authorization: Bearer {token}\r\n");
    let scrape = || {
        let answer = get(addr, "/metrics", &host, &bearer);
        assert_eq!(status(&answer), 200, "{answer}");
        assert!(answer.contains("Content-Type: text/plain; version=0.0.4"));
        body(&answer).to_owned()
    };
    let before = scrape();
    for family in [
        "peerhub_connections",
        "peerhub_users_online",
        "peerhub_accounts",
        "peerhub_published_files",
        "peerhub_lookups_total",
        "peerhub_chat_messages_total",
        "peerhub_store_entries",
        "peerhub_store_bytes",
        "peerhub_bytes_received_total",
        "peerhub_bytes_sent_total",
        "peerhub_event_loop_seconds",
    ] {
        assert!(before.contains(&format!("# TYPE {family} ")), "{family}");
    }
    assert_eq!(sample(&before, "peerhub_accounts"), 0.0);

    let mut alice = Peer::logged_in(hub.addr(), "alice");
    let mut bob = Peer::logged_in(hub.addr(), "bob");
    fs::write(alice.share_dir().join("song.mp3"), vec![7u8; 10_000]).unwrap();
    assert_eq!(alice.run("publish song.mp3")["ok"], true);
    assert_eq!(alice.run("say hello")["ok"], true);
    let found = bob.run("search song");
    assert_eq!(found["ok"], true, "{found}");
    let data = vec![3u8; 300_000];
    fs::write(alice.work_dir().join("report.pdf"), &data).unwrap();
    let id = alice.send("upload report.pdf");
    assert_eq!(alice.wait_result(id, SECS_30)["ok"], true);

    let after = scrape();
    assert_eq!(sample(&after, "peerhub_accounts"), 2.0);
    assert_eq!(sample(&after, "peerhub_users_online"), 2.0);
    assert_eq!(sample(&after, "peerhub_connections"), 2.0);
    assert_eq!(sample(&after, "peerhub_published_files"), 1.0);
    assert_eq!(sample(&after, "peerhub_chat_messages_total"), 1.0);
    assert_eq!(sample(&after, "peerhub_store_entries"), 1.0);
    assert_eq!(sample(&after, "peerhub_store_bytes"), 300_000.0);
    let received = sample(&after, "peerhub_bytes_received_total");
    assert!(
        received >= 300_000.0,
        "the upload's bytes are counted: {received}"
    );
    let sent = sample(&after, "peerhub_bytes_sent_total");
    assert!(sent > sample(&before, "peerhub_bytes_sent_total"), "{sent}");
    let turns = sample(&after, "peerhub_event_loop_seconds_count");
    assert!(turns > sample(&before, "peerhub_event_loop_seconds_count"));
    assert_eq!(
        sample(&after, "peerhub_event_loop_seconds_bucket{le=\"+Inf\"}"),
        turns
    );

    // The token may come three ways; nothing else passes, and Host comes first.
    let query = get(addr, &format!("/metrics?token={token}"), &host, "");
    assert_eq!(
        status(&query),
        200,
        "a scraper with the token in its URL: {query}"
    );
    let cookie = format!("Cookie: peerhub_token_{}={token}\r\n", addr.port());
    assert_eq!(status(&get(addr, "/metrics", &host, &cookie)), 200);
    assert_eq!(status(&get(addr, "/metrics", &host, "")), 401);
    assert_eq!(status(&get(addr, "/metrics", "evil.example", &bearer)), 403);
    let post = format!("POST /metrics HTTP/1.1\r\nHost: {host}\r\n{bearer}\r\n");
    let posted = support::web::exchange(addr, post.as_bytes());
    assert_eq!(status(&posted), 405);
    hub.assert_clean();
}

#[test]
fn a_client_s_page_has_no_metrics() {
    let hub = Hub::start(&[]);
    let mut peer = Peer::start(hub.addr(), &["--web"]);
    let (addr, token) = page_of(&peer.wait_event("web", |_| true, SECS_10));
    let bearer = format!("Authorization: Bearer {token}\r\n");
    let answer = get(addr, "/metrics", &addr.to_string(), &bearer);
    assert_eq!(status(&answer), 404, "{answer}");
}
