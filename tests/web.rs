//! End-to-end tests of the peer's web interface (`client --web`, issue #13) over
//! loopback: the printed URL, the token (query, bearer, cookie), the Host and Origin
//! checks in their order, bad and oversized request heads, a slow head that holds up
//! nobody and gets its 408, WebSocket commands answered under each page's own numbering, events to
//! every page and to stdout, an oversized WebSocket message, and the share endpoints
//! (list, upload, download; bad names, traversal, limits, an upload cut off; the
//! listing's directories and the share dir's absolute path, for the store commands).

mod support;

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use support::web::{exchange, get, page_of, status};
use support::{Hub, Peer};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

const SECS_10: Duration = Duration::from_secs(10);

/// Where a page is: its address and access token.
struct Page {
    addr: SocketAddr,
    token: String,
}

/// A peer with `--web`, and its page.
struct WebPeer {
    peer: Peer,
    addr: SocketAddr,
    token: String,
}

impl WebPeer {
    fn page(&self) -> Page {
        Page {
            addr: self.addr,
            token: self.token.clone(),
        }
    }
}

fn web_peer(hub: &Hub) -> WebPeer {
    web_peer_with(hub, &[])
}

fn web_peer_with(hub: &Hub, extra: &[&str]) -> WebPeer {
    let args: Vec<&str> = ["--web"].iter().chain(extra).copied().collect();
    let mut peer = Peer::start(hub.addr(), &args);
    let (addr, token) = page_of(&peer.wait_event("web", |_| true, SECS_10));
    WebPeer { peer, addr, token }
}

type Socket = WebSocket<TcpStream>;

/// A WebSocket to the page's `/ws` with `headers`; the refusal's status if refused.
fn try_socket(w: &Page, headers: &[(&'static str, String)]) -> Result<Socket, u16> {
    let mut request = format!("ws://{}/ws", w.addr).into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    let stream = TcpStream::connect(w.addr).unwrap();
    stream.set_read_timeout(Some(SECS_10)).unwrap();
    match tungstenite::client(request, stream) {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
            Err(r.status().as_u16())
        }
        Err(e) => panic!("handshake: {e}"),
    }
}

/// The page's own WebSocket: the cookie and its Origin.
fn socket(w: &Page) -> Socket {
    let cookie = format!("peerhub_token_{}={}", w.addr.port(), w.token);
    let origin = format!("http://{}", w.addr);
    try_socket(w, &[("Cookie", cookie), ("Origin", origin)]).expect("the page's socket")
}

/// The next JSON object on `socket` that satisfies `pred`.
fn next(socket: &mut Socket, mut pred: impl FnMut(&Value) -> bool) -> Value {
    let deadline = Instant::now() + SECS_10;
    while Instant::now() < deadline {
        match socket.read().expect("a message") {
            Message::Text(text) => {
                let v: Value = serde_json::from_str(text.as_str()).expect("JSON");
                if pred(&v) {
                    return v;
                }
            }
            _ => continue,
        }
    }
    panic!("nothing matched within 10 s");
}

fn run(socket: &mut Socket, line: &str, id: u64) -> Value {
    socket.send(Message::text(line)).unwrap();
    next(socket, |v| v["type"] == "result" && v["id"] == id)
}

#[test]
fn a_page_logs_in_chats_and_gets_its_results_under_its_own_numbering() {
    let hub = Hub::start(&[]);
    let mut alice = Peer::logged_in(hub.addr(), "alice");
    let mut w = web_peer(&hub);
    // The printed URL sets the cookie and sends the page to /; the cookie then serves.
    let first = get(
        w.addr,
        &format!("/?token={}", w.token),
        &w.addr.to_string(),
        "",
    );
    assert_eq!(status(&first), 303, "{first}");
    let cookie = format!("peerhub_token_{}={}", w.addr.port(), w.token);
    assert!(first.contains(&format!(
        "Set-Cookie: {cookie}; Path=/; HttpOnly; SameSite=Strict"
    )));
    let page = get(
        w.addr,
        "/",
        &w.addr.to_string(),
        &format!("Cookie: {cookie}\r\n"),
    );
    assert_eq!(status(&page), 200);
    assert!(page.contains("<title>peerhub</title>"));
    let bearer = format!("Authorization: Bearer {}\r\n", w.token);
    let script = get(
        w.addr,
        "/app.js",
        &format!("localhost:{}", w.addr.port()),
        &bearer,
    );
    assert_eq!(status(&script), 200);
    assert!(script.contains("Content-Type: text/javascript"));

    let mut one = socket(&w.page());
    let mut two = socket(&w.page());
    let registered = run(&mut one, "register bob pw", 1);
    assert_eq!(
        (registered["command"].clone(), registered["status"].clone()),
        ("register".into(), 201.into())
    );
    let login = run(&mut one, "login bob pw", 2);
    assert_eq!(login["status"], 200, "{login}");
    // Each page numbers its own commands.
    let status_two = run(&mut two, "status", 1);
    assert_eq!(status_two["user"], "bob", "{status_two}");
    // Events reach every page and stdout; results only the page that asked.
    alice.run("say hello bob");
    for socket in [&mut one, &mut two] {
        let chat = next(socket, |v| v["event"] == "chat" && v["from"] == "alice");
        assert_eq!(chat["text"], "hello bob");
    }
    w.peer.wait_event("chat", |v| v["from"] == "alice", SECS_10);
    assert!(
        w.peer.results().is_empty(),
        "a page's results go to the page only: {:?}",
        w.peer.results()
    );
    let said = run(&mut two, "say hi alice", 2);
    assert_eq!(said["status"], 200, "{said}");
    alice.wait_event(
        "chat",
        |v| v["from"] == "bob" && v["text"] == "hi alice",
        SECS_10,
    );
    let unknown = run(&mut one, "frobnicate", 3);
    assert_eq!(unknown["ok"], false, "{unknown}");
}

#[test]
fn host_then_token_then_origin_are_checked_and_bad_heads_are_refused() {
    let hub = Hub::start(&[]);
    let w = web_peer(&hub);
    let host = w.addr.to_string();
    let with_token = format!("/?token={}", w.token);
    // A foreign Host is refused before the token is even looked at.
    assert_eq!(status(&get(w.addr, &with_token, "evil.example", "")), 403);
    assert_eq!(status(&get(w.addr, "/", "evil.example", "")), 403);
    assert_eq!(status(&get(w.addr, "/", &host, "")), 401);
    let wrong = format!("/?token={}", "0".repeat(32));
    assert_eq!(status(&get(w.addr, &wrong, &host, "")), 401);
    let other_port = format!("Cookie: peerhub_token_1={}\r\n", w.token);
    assert_eq!(status(&get(w.addr, "/", &host, &other_port)), 401);
    let bearer = format!("Authorization: Bearer {}\r\n", w.token);
    assert_eq!(status(&get(w.addr, "/../Cargo.toml", &host, &bearer)), 404);
    assert_eq!(
        status(&get(w.addr, "/%2e%2e/Cargo.toml", &host, &bearer)),
        404
    );
    // WebSockets: no token 401; a token but another page's Origin, or none, 403.
    assert_eq!(
        try_socket(&w.page(), &[("Origin", format!("http://{host}"))]).err(),
        Some(401)
    );
    let cookie = format!("peerhub_token_{}={}", w.addr.port(), w.token);
    let evil = [
        ("Cookie", cookie.clone()),
        ("Origin", "http://evil.example".into()),
    ];
    assert_eq!(try_socket(&w.page(), &evil).err(), Some(403));
    assert_eq!(
        try_socket(&w.page(), &[("Cookie", cookie)]).err(),
        Some(403)
    );
    // Malformed and oversized heads.
    assert_eq!(status(&exchange(w.addr, b"NONSENSE\r\n\r\n")), 400);
    assert_eq!(status(&exchange(w.addr, b"GET / HTTP/1.0\r\n\r\n")), 505);
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nX: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    assert_eq!(status(&exchange(w.addr, huge.as_bytes())), 431);
    let post = format!("POST / HTTP/1.1\r\nHost: {host}\r\n{bearer}Content-Length: 0\r\n\r\n");
    assert_eq!(status(&exchange(w.addr, post.as_bytes())), 405);
}

#[test]
fn a_slow_head_or_an_oversized_message_holds_up_nobody() {
    let hub = Hub::start(&[]);
    let w = web_peer(&hub);
    let host = w.addr.to_string();
    // Half a head, never finished.
    let mut slow = TcpStream::connect(w.addr).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: ").unwrap();
    let mut page = socket(&w.page());
    let mut flooder = socket(&w.page());
    flooder
        .send(Message::text("say ".to_owned() + &"x".repeat(100_000)))
        .unwrap_or(());
    // The flooder is dropped; its neighbour's commands go on.
    let deadline = Instant::now() + SECS_10;
    let dropped = loop {
        match flooder.read() {
            Err(_) | Ok(Message::Close(_)) => break true,
            Ok(_) if Instant::now() < deadline => continue,
            Ok(_) => break false,
        }
    };
    assert!(dropped, "an oversized message closes its socket");
    let status_page = run(&mut page, "status", 1);
    assert_eq!(status_page["command"], "status");
    let bearer = format!("Authorization: Bearer {}\r\n", w.token);
    assert_eq!(status(&get(w.addr, "/style.css", &host, &bearer)), 200);
    // The half head gets its 408 once its 10 s are up, and is closed.
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = slow.read_to_end(&mut answer);
    assert_eq!(status(&String::from_utf8_lossy(&answer)), 408);
}

#[test]
fn the_hub_s_page_runs_console_commands_and_sees_its_events() {
    let mut hub = Hub::start(&["--web"]);
    let web = hub.wait_event("web", |_| true, SECS_10);
    let (addr, token) = page_of(&web);
    let host = addr.to_string();
    assert_eq!(status(&get(addr, "/", &host, "")), 401);
    let bearer = format!("Authorization: Bearer {token}\r\n");
    let page = get(addr, "/", &host, &bearer);
    assert!(page.contains("<title>peerhub hub</title>"), "{page}");
    let mut console = socket(&Page { addr, token });
    let stats = run(&mut console, "stats", 1);
    assert_eq!(stats["fingerprint"], hub.fingerprint(), "{stats}");
    let mut alice = Peer::start(hub.addr(), &[]);
    alice.register_login("alice", "pw");
    let login = next(&mut console, |v| v["event"] == "login");
    assert_eq!(login["user"], "alice");
    let users = run(&mut console, "users", 2);
    assert_eq!(users["peers"][0]["user"], "alice", "{users}");
    assert!(users["peers"][0]["addr"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    run(&mut console, "kick alice", 3);
    alice.wait_event("kicked", |_| true, SECS_10);
    // Console results of the page are not printed on the hub's stdout.
    assert!(hub.results().iter().all(|r| r["command"] != "kick"));
}

/// A request with the page's token as a bearer and `body` after its head; the answer's
/// status and body.
fn share_request(
    w: &WebPeer,
    method: &str,
    path: &str,
    length: usize,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Length: {length}\r\n\r\n",
        w.addr, w.token
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    let mut s = TcpStream::connect(w.addr).unwrap();
    s.set_read_timeout(Some(SECS_10)).unwrap();
    s.write_all(&request).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let split = answer
        .windows(4)
        .position(|x| x == b"\r\n\r\n")
        .expect("a head")
        + 4;
    let code = status(&String::from_utf8_lossy(&answer[..split]));
    (code, answer[split..].to_vec())
}

#[test]
fn the_share_endpoints_list_take_and_give_files_inside_the_share_only() {
    let hub = Hub::start(&[]);
    let mut w = web_peer_with(&hub, &["--web-max-upload", "1000000"]);
    let share = w.peer.share_dir().to_path_buf();
    // An upload over several turns' pieces lands whole, under its name only.
    let data: Vec<u8> = (0..700_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (code, body) = share_request(&w, "PUT", "/share/my%20song.bin", data.len(), &data);
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&body));
    let created: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(created["name"], "my song.bin");
    assert_eq!(created["size"], data.len());
    assert!(std::fs::read(share.join("my song.bin")).unwrap() == data);
    assert!(!share.join(".my song.bin.part").exists());
    assert_eq!(
        share_request(&w, "PUT", "/share/my%20song.bin", 3, b"abc").0,
        409
    );
    for bad in [
        "/share/..%2Fescape",
        "/share/.peerhub-identity.pem",
        "/share/a%2Fb",
        "/share/x%00",
    ] {
        assert_eq!(share_request(&w, "PUT", bad, 3, b"abc").0, 400, "{bad}");
    }
    assert!(!share.parent().unwrap().join("escape").exists());
    assert_eq!(
        share_request(&w, "PUT", "/share/big.bin", 1_000_001, b"").0,
        413
    );
    // The list: visible regular files, with whether they are published.
    let listed = |w: &WebPeer| -> Value {
        let (code, body) = share_request(w, "GET", "/share", 0, b"");
        assert_eq!(code, 200);
        serde_json::from_slice(&body).unwrap()
    };
    let files = listed(&w);
    let names: Vec<&str> = files["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["my song.bin"], "{files}");
    assert_eq!(files["files"][0]["size"], data.len());
    assert_eq!(files["files"][0]["published"], false);
    assert!(files["files"][0]["mtime"].as_u64().unwrap() > 0);
    w.peer.register_login("alice", "pw");
    let r = w.peer.run("publish \"my song.bin\" song");
    assert_eq!(r["status"], 202, "{r}");
    assert_eq!(listed(&w)["files"][0]["published"], true);
    // Downloads: the file, as an attachment; nothing hidden, nothing outside.
    let (code, body) = share_request(&w, "GET", "/share/my%20song.bin", 0, b"");
    assert_eq!(code, 200);
    assert!(body == data);
    let head = get(
        w.addr,
        "/share/my%20song.bin",
        &w.addr.to_string(),
        &format!("Authorization: Bearer {}\r\n", w.token),
    );
    assert!(
        head.contains("Content-Disposition: attachment; filename*=UTF-8''my%20song.bin"),
        "{}",
        &head[..400]
    );
    for hidden in [
        "/share/.peerhub-identity.pem",
        "/share/..%2F..%2Fetc%2Fpasswd",
        "/share/nothing",
    ] {
        assert_eq!(share_request(&w, "GET", hidden, 0, b"").0, 404, "{hidden}");
    }
    // Without the token, nothing.
    let host = w.addr.to_string();
    assert_eq!(status(&get(w.addr, "/share", &host, "")), 401);
    assert_eq!(status(&get(w.addr, "/share/my%20song.bin", &host, "")), 401);
    // An upload cut off halfway leaves nothing behind.
    let head = format!(
        "PUT /share/cut.bin HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nContent-Length: 500000\r\n\r\n",
        w.token
    );
    let mut s = TcpStream::connect(w.addr).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&data[..100_000]).unwrap();
    let part = share.join(".cut.bin.part");
    let deadline = Instant::now() + SECS_10;
    while !part.exists() {
        assert!(Instant::now() < deadline, "the upload never began");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(s);
    while part.exists() {
        assert!(Instant::now() < deadline, "the partial file stayed");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!share.join("cut.bin").exists());
}

#[test]
fn the_share_listing_names_the_share_dir_and_its_directories_but_no_links() {
    let hub = Hub::start(&[]);
    let w = web_peer(&hub);
    let share = w.peer.share_dir().to_path_buf();
    std::fs::create_dir(share.join("photos")).unwrap();
    std::fs::write(share.join("photos").join("a.jpg"), b"jpeg").unwrap();
    std::fs::write(share.join("notes.txt"), b"notes").unwrap();
    std::fs::create_dir(share.join(".hidden")).unwrap();
    std::os::unix::fs::symlink(share.join("photos"), share.join("link-to-photos")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", share.join("link-to-file")).unwrap();
    let (code, body) = share_request(&w, "GET", "/share", 0, b"");
    assert_eq!(code, 200);
    let listed: Value = serde_json::from_slice(&body).unwrap();
    // Absolute, so `upload <dir>/<name>` means the same whatever the working directory.
    let dir = listed["dir"].as_str().expect("dir");
    assert!(dir.starts_with('/'), "{dir}");
    assert_eq!(
        std::path::Path::new(dir),
        share.canonicalize().unwrap(),
        "{listed}"
    );
    let kinds: Vec<(&str, &str)> = listed["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap(), f["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [("notes.txt", "file"), ("photos", "dir")],
        "{listed}"
    );
    assert_eq!(listed["files"][0]["size"], 5);
    assert_eq!(listed["files"][1]["size"], 0);
    assert_eq!(listed["files"][1]["published"], false);
}
