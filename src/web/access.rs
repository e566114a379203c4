//! Who may use a web interface, decided on the request head alone, in this order:
//! the `Host` must name the bound address, `localhost` or a `--web-host` name (403:
//! DNS rebinding), the access token must come as the `token` query parameter, as
//! `Authorization: Bearer` or in the port's cookie (401), and a WebSocket's `Origin`
//! must be the page's own (403). The token is 128 random bits from the loop, new at
//! every start, compared in constant time.

use super::http::{self, Head};
use std::net::SocketAddr;

/// A web interface's access token: 32 lowercase hex digits.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(..)")
    }
}

impl AccessToken {
    /// The token these random bytes spell.
    pub fn from_random(bytes: [u8; 16]) -> AccessToken {
        AccessToken(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `given` is this token, in time that does not depend on where they differ.
    fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0, |d, (x, y)| d | (x ^ y)) == 0
    }
}

/// What a web interface lets in.
#[derive(Debug, Clone)]
pub struct Access {
    pub token: AccessToken,
    /// The address it is bound to.
    pub bound: SocketAddr,
    /// `https` off loopback, else `http`.
    pub https: bool,
    /// Further names the `Host` header may give (`--web-host`).
    pub hosts: Vec<String>,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub status: u16,
    pub why: &'static str,
}

/// How the token came, when it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// In the query: the page is sent a cookie, so its URL need not carry it again.
    Query,
    Bearer,
    Cookie,
}

impl Access {
    /// The name of the cookie that carries the token: one per port, since cookies are
    /// not port-scoped and two interfaces on one host would overwrite each other's.
    pub fn cookie_name(&self) -> String {
        format!("peerhub_token_{}", self.bound.port())
    }

    /// The URL to print: the page, with its token.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}/?token={}", self.bound, self.token.as_str())
    }

    /// The `Set-Cookie` value that keeps the token for this page.
    pub fn set_cookie(&self) -> String {
        let secure = if self.https { "; Secure" } else { "" };
        format!(
            "{}={}; Path=/; HttpOnly; SameSite=Strict{secure}",
            self.cookie_name(),
            self.token.as_str()
        )
    }

    /// Whether `head` may be answered, and how its token came.
    pub fn check(&self, head: &Head) -> Result<Pass, Denied> {
        let host = head.host.as_deref().unwrap_or_default();
        if !self.host_allowed(host) {
            return Err(Denied {
                status: 403,
                why: "this Host is not the interface's address",
            });
        }
        let pass = self.token_pass(head).ok_or(Denied {
            status: 401,
            why: "a valid access token is needed: open the URL the process printed",
        })?;
        if head.websocket && head.origin.as_deref() != Some(&self.origin_of(host)) {
            return Err(Denied {
                status: 403,
                why: "this WebSocket does not come from the interface's own page",
            });
        }
        Ok(pass)
    }

    fn token_pass(&self, head: &Head) -> Option<Pass> {
        if http::query_param(&head.query, "token").is_some_and(|t| self.token.matches(t)) {
            return Some(Pass::Query);
        }
        let bearer = head
            .authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Bearer "));
        if bearer.is_some_and(|t| self.token.matches(t.trim())) {
            return Some(Pass::Bearer);
        }
        let cookie = http::cookie(&head.cookie, &self.cookie_name());
        cookie
            .is_some_and(|t| self.token.matches(t))
            .then_some(Pass::Cookie)
    }

    /// The bound address, `localhost` or a `--web-host` name, each with the bound
    /// port (a name may also come without it).
    fn host_allowed(&self, host: &str) -> bool {
        let port = self.bound.port();
        let with_port = |name: &str| host == format!("{name}:{port}");
        host == self.bound.to_string()
            || with_port("localhost")
            || self.hosts.iter().any(|h| host == h || with_port(h))
    }

    /// The origin of a page served under `host`.
    fn origin_of(&self, host: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{host}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> Access {
        Access {
            token: AccessToken::from_random([0xAB; 16]),
            bound: "127.0.0.1:8080".parse().unwrap(),
            https: false,
            hosts: vec!["box.lan".into()],
        }
    }

    fn head(host: &str, query: &str) -> Head {
        Head {
            method: "GET".into(),
            path: "/".into(),
            query: query.into(),
            host: Some(host.into()),
            ..Head::default()
        }
    }

    const TOKEN: &str = "abababababababababababababababab";

    #[test]
    fn the_token_is_128_bits_of_hex_and_the_url_and_cookie_carry_it() {
        let a = access();
        assert_eq!(a.token.as_str(), TOKEN);
        assert_eq!(a.url(), format!("http://127.0.0.1:8080/?token={TOKEN}"));
        assert_eq!(a.cookie_name(), "peerhub_token_8080");
        assert_eq!(
            a.set_cookie(),
            format!("peerhub_token_8080={TOKEN}; Path=/; HttpOnly; SameSite=Strict")
        );
        assert!(
            format!("{:?}", a.token).find(TOKEN).is_none(),
            "not in logs"
        );
    }

    #[test]
    fn the_token_may_come_three_ways_and_nothing_else_passes() {
        let a = access();
        let q = format!("token={TOKEN}");
        assert_eq!(a.check(&head("127.0.0.1:8080", &q)), Ok(Pass::Query));
        let mut bearer = head("localhost:8080", "");
        bearer.authorization = Some(format!("Bearer {TOKEN}"));
        assert_eq!(a.check(&bearer), Ok(Pass::Bearer));
        let mut cookie = head("box.lan:8080", "");
        cookie.cookie = format!("x=1; peerhub_token_8080={TOKEN}");
        assert_eq!(a.check(&cookie), Ok(Pass::Cookie));
        let mut other_port = head("127.0.0.1:8080", "");
        other_port.cookie = format!("peerhub_token_9090={TOKEN}");
        for refused in [
            head("127.0.0.1:8080", ""),
            head("127.0.0.1:8080", "token=abab"),
            head("127.0.0.1:8080", &format!("token={TOKEN}0")),
            other_port,
        ] {
            assert_eq!(a.check(&refused).unwrap_err().status, 401, "{refused:?}");
        }
    }

    #[test]
    fn over_https_the_url_the_cookie_and_the_origin_say_so() {
        let a = Access {
            https: true,
            ..access()
        };
        assert_eq!(a.url(), format!("https://127.0.0.1:8080/?token={TOKEN}"));
        assert!(a.set_cookie().ends_with("; SameSite=Strict; Secure"));
        let mut ws = head("box.lan:8080", &format!("token={TOKEN}"));
        ws.websocket = true;
        ws.origin = Some("https://box.lan:8080".into());
        assert_eq!(a.check(&ws), Ok(Pass::Query));
        ws.origin = Some("http://box.lan:8080".into());
        assert_eq!(
            a.check(&ws).unwrap_err().status,
            403,
            "not the page's scheme"
        );
    }

    #[test]
    fn host_comes_first_then_the_token_then_a_websocket_s_origin() {
        let a = access();
        // A foreign Host is refused even without a token: 403 before 401.
        for host in ["evil.example:8080", "127.0.0.1:9999", "localhost", ""] {
            assert_eq!(a.check(&head(host, "")).unwrap_err().status, 403, "{host}");
        }
        assert_eq!(a.check(&head("box.lan", "")).unwrap_err().status, 401);
        let mut ws = head("localhost:8080", "");
        ws.websocket = true;
        ws.origin = Some("http://localhost:8080".into());
        assert_eq!(a.check(&ws).unwrap_err().status, 401, "token before origin");
        ws.query = format!("token={TOKEN}");
        assert_eq!(a.check(&ws), Ok(Pass::Query));
        for origin in [
            Some("http://evil.example"),
            Some("http://127.0.0.1:8080"),
            Some("https://localhost:8080"),
            None,
        ] {
            ws.origin = origin.map(str::to_owned);
            assert_eq!(a.check(&ws).unwrap_err().status, 403, "{origin:?}");
        }
    }
}
