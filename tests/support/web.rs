//! Plain HTTP to a web interface (`--web`) from the tests: the page a `web` event
//! announces, one request per connection, the status of an answer.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The address and access token of a `web` event's `http://` URL.
pub fn page_of(web: &Value) -> (SocketAddr, String) {
    let url = web["url"].as_str().expect("url");
    let rest = url.strip_prefix("http://").expect("http URL");
    let (addr, token) = rest.split_once("/?token=").expect("token in URL");
    assert_eq!(token.len(), 32, "128 bits in hex: {token}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    (addr.parse().expect("address"), token.to_owned())
}

/// Send raw request bytes; the whole answer (the interface closes after it).
pub fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// `GET path` with this `Host` and further header lines (`extra`, each ending `\r\n`).
pub fn get(addr: SocketAddr, path: &str, host: &str, extra: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n");
    exchange(addr, request.as_bytes())
}

/// The status code of an answer.
pub fn status(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

/// The body of an answer (after its head).
pub fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}
