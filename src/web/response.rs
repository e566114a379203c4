//! HTTP responses as bytes: a status line, the headers every answer carries (no
//! caching, no sniffing, no referrer — the first URL holds the token — and a content
//! security policy that allows nothing from elsewhere), and the body. Every response
//! closes its connection; the page's live traffic goes over its WebSocket.

/// The reason phrase of the statuses the interface sends.
fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// A response, built header by header.
#[derive(Debug)]
pub struct Response {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", content_type.to_owned())],
            body: body.into(),
        }
    }

    /// A short plain-text answer: the status and why.
    pub fn text(status: u16, why: &str) -> Response {
        Response::new(status, "text/plain; charset=utf-8", format!("{why}\n"))
    }

    /// A redirect to `to` (on this host).
    pub fn see_other(to: &str) -> Response {
        Response::text(303, "see other").header("Location", to)
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    /// The response's bytes.
    pub fn into_bytes(mut self) -> Vec<u8> {
        let body = std::mem::take(&mut self.body);
        let mut bytes = self.head_bytes(body.len() as u64);
        bytes.extend_from_slice(&body);
        bytes
    }

    /// The status line and headers of a response whose body of `length` bytes the
    /// caller sends after them (its own body is not sent).
    pub fn head_bytes(&self, length: u64) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\
             X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n\
             X-Frame-Options: DENY\r\nContent-Security-Policy: default-src 'self'; \
             connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'\r\n\r\n",
            length
        ));
        out.into_bytes()
    }
}

/// The `101` that turns a request into a WebSocket, for its `Sec-WebSocket-Key`.
pub fn switching_protocols(key: &str) -> Vec<u8> {
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_carries_its_length_and_the_safety_headers() {
        let bytes = Response::text(401, "no token")
            .header("X-A", "b")
            .into_bytes();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{text}");
        for line in [
            "Content-Type: text/plain; charset=utf-8\r\n",
            "X-A: b\r\n",
            "Content-Length: 9\r\n",
            "Connection: close\r\n",
            "Referrer-Policy: no-referrer\r\n",
            "Cache-Control: no-store\r\n",
        ] {
            assert!(text.contains(line), "{line:?} in {text}");
        }
        assert!(text.ends_with("\r\n\r\nno token\n"));
    }

    #[test]
    fn the_upgrade_answer_has_the_rfc_6455_accept_key() {
        let text = String::from_utf8(switching_protocols("dGhlIHNhbXBsZSBub25jZQ==")).unwrap();
        assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(text.starts_with("HTTP/1.1 101 "));
    }
}
