//! mio plumbing shared by the hub and the peer: buffered connections, deadlines,
//! stdin lines and token bookkeeping. It knows frames, not what they mean.

pub mod conn;
pub mod stdin;
pub mod timers;

use mio::Token;

/// Tokens reserved for the sources every loop has; connections use their slab keys below these.
pub mod tokens {
    use super::Token;
    /// The listening socket (hub port, or the peer listener).
    pub const LISTENER: Token = Token(usize::MAX - 1);
    /// Typed lines on stdin.
    pub const STDIN: Token = Token(usize::MAX - 2);
    /// SIGINT / SIGTERM.
    pub const SIGNALS: Token = Token(usize::MAX - 3);
    /// The client's connection to the hub.
    pub const HUB: Token = Token(usize::MAX - 4);
    /// Keys at or above this are reserved.
    pub const FIRST_RESERVED: usize = usize::MAX - 16;
}

/// The slab key of a connection token, or `None` for a reserved token.
pub fn conn_key(token: Token) -> Option<usize> {
    (token.0 < tokens::FIRST_RESERVED).then_some(token.0)
}
