//! HTTP/1.1 request heads, parsed with `httparse` from the bytes read so far: bounded
//! (at most [`MAX_HEAD`] bytes and [`MAX_HEADERS`] headers), strict (one `Host`, a
//! `Content-Length` that is a number), and reduced to the few fields the web interface
//! decides on. Pure: the loop reads, this decides whether a whole head is there.

/// The longest request head accepted (431 past it).
pub const MAX_HEAD: usize = 16 * 1024;
/// The most headers accepted (431 past it).
pub const MAX_HEADERS: usize = 64;

/// A request head, as far as the web interface cares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Head {
    pub method: String,
    /// The path, without its query.
    pub path: String,
    /// The query string, without its `?` (empty: none).
    pub query: String,
    pub host: Option<String>,
    pub authorization: Option<String>,
    /// Every `Cookie` header, joined with `; `.
    pub cookie: String,
    pub origin: Option<String>,
    /// `Upgrade: websocket` with `Connection: upgrade`.
    pub websocket: bool,
    pub websocket_key: Option<String>,
    pub websocket_version: Option<String>,
    pub content_length: Option<u64>,
}

/// What the bytes so far hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Not a whole head yet (and not too long).
    Partial,
    /// A head, and how many bytes it took.
    Done(Box<Head>, usize),
    /// Not a request peerhub answers: the status and why.
    Bad(u16, &'static str),
}

/// Parse the head at the start of `buf`.
pub fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(buf) {
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
            Parsed::Bad(431, "request head too large")
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Ok(httparse::Status::Complete(_)) if request.version != Some(1) => {
            Parsed::Bad(505, "only HTTP/1.1 is spoken here")
        }
        Ok(httparse::Status::Complete(len)) if len > MAX_HEAD => {
            Parsed::Bad(431, "request head too large")
        }
        Ok(httparse::Status::Complete(len)) => match head_of(&request) {
            Ok(head) => Parsed::Done(Box::new(head), len),
            Err(why) => Parsed::Bad(400, why),
        },
        Err(httparse::Error::TooManyHeaders) => Parsed::Bad(431, "too many headers"),
        Err(_) => Parsed::Bad(400, "malformed request"),
    }
}

fn head_of(request: &httparse::Request) -> Result<Head, &'static str> {
    let target = request.path.unwrap_or_default();
    if !target.starts_with('/') {
        return Err("the request target must be a path");
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut head = Head {
        method: request.method.unwrap_or_default().to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        ..Head::default()
    };
    let (mut upgrade, mut connection_upgrade) = (false, false);
    for header in request.headers.iter() {
        let value = std::str::from_utf8(header.value)
            .map_err(|_| "a header value is not UTF-8")?
            .trim();
        let name = header.name;
        let one = |slot: &mut Option<String>| {
            if slot.replace(value.to_owned()).is_some() {
                return Err("a header that may come once came twice");
            }
            Ok(())
        };
        if name.eq_ignore_ascii_case("host") {
            one(&mut head.host)?;
        } else if name.eq_ignore_ascii_case("authorization") {
            one(&mut head.authorization)?;
        } else if name.eq_ignore_ascii_case("origin") {
            one(&mut head.origin)?;
        } else if name.eq_ignore_ascii_case("sec-websocket-key") {
            one(&mut head.websocket_key)?;
        } else if name.eq_ignore_ascii_case("sec-websocket-version") {
            one(&mut head.websocket_version)?;
        } else if name.eq_ignore_ascii_case("cookie") {
            if !head.cookie.is_empty() {
                head.cookie.push_str("; ");
            }
            head.cookie.push_str(value);
        } else if name.eq_ignore_ascii_case("upgrade") {
            upgrade = value.eq_ignore_ascii_case("websocket");
        } else if name.eq_ignore_ascii_case("connection") {
            connection_upgrade = value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
        } else if name.eq_ignore_ascii_case("content-length") {
            if head.content_length.is_some() {
                return Err("a header that may come once came twice");
            }
            let length = value
                .parse()
                .map_err(|_| "Content-Length is not a number")?;
            head.content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("chunked bodies are not accepted: send a Content-Length");
        }
    }
    head.websocket = upgrade && connection_upgrade;
    Ok(head)
}

/// The value of `key` in a query string (`a=1&token=x`), as sent (tokens and names the
/// interface uses need no decoding).
pub fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// The value of cookie `name` in a `Cookie` header's value.
pub fn cookie<'a>(cookies: &'a str, name: &str) -> Option<&'a str> {
    cookies
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(bytes: &[u8]) -> Head {
        match parse(bytes) {
            Parsed::Done(head, len) => {
                assert_eq!(len, bytes.len());
                *head
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_websocket_upgrade_is_read_with_what_the_checks_need() {
        let head = done(
            b"GET /ws?token=abc&x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n\
              Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:8080\r\nCookie: a=1\r\n\
              Cookie: peerhub_token_8080=abc\r\n\r\n",
        );
        assert_eq!((head.method.as_str(), head.path.as_str()), ("GET", "/ws"));
        assert_eq!(query_param(&head.query, "token"), Some("abc"));
        assert_eq!(query_param(&head.query, "tok"), None);
        assert_eq!(head.host.as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(head.origin.as_deref(), Some("http://127.0.0.1:8080"));
        assert!(head.websocket);
        assert_eq!(head.websocket_version.as_deref(), Some("13"));
        assert_eq!(cookie(&head.cookie, "peerhub_token_8080"), Some("abc"));
        assert_eq!(cookie(&head.cookie, "a"), Some("1"));
    }

    #[test]
    fn partial_heads_wait_and_bad_ones_are_refused_with_their_status() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: x"), Parsed::Partial);
        assert_eq!(parse(b""), Parsed::Partial);
        let long = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_HEAD));
        assert_eq!(
            parse(long.as_bytes()),
            Parsed::Bad(431, "request head too large")
        );
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X{i}: 1\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(parse(many.as_bytes()), Parsed::Bad(431, "too many headers"));
        for (bytes, status) in [
            (&b"GARBAGE\r\n\r\n"[..], 400),
            (b"GET / HTTP/1.0\r\n\r\n", 505),
            (b"GET http://evil/ HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            (b"PUT /x HTTP/1.1\r\nContent-Length: ten\r\n\r\n", 400),
            (
                b"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                400,
            ),
            (b"GET / HTTP/1.1\r\nX: \xff\r\n\r\n", 400),
        ] {
            assert!(
                matches!(parse(bytes), Parsed::Bad(s, _) if s == status),
                "{:?}: {:?}",
                String::from_utf8_lossy(bytes),
                parse(bytes)
            );
        }
    }

    #[test]
    fn a_plain_get_is_not_an_upgrade() {
        let head = done(b"GET / HTTP/1.1\r\nHost: localhost:1\r\nUpgrade: websocket\r\n\r\n");
        assert!(!head.websocket, "no Connection: upgrade");
        assert_eq!(head.query, "");
    }
}
