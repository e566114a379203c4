//! The web interface (`--web`): a page, its assets and a WebSocket, served from the
//! process's own mio loop. The page sends command lines exactly as typed at the prompt
//! and receives exactly the JSON objects of the `--json` contract; each WebSocket
//! numbers its own commands.
//!
//! The decisions are pure and live in rooms of their own — [`http`] (request heads),
//! [`access`] (Host, token, Origin), [`response`] (answers as bytes), [`page`] (the
//! embedded assets), [`share`] (the peer's share dir over HTTP) — while [`Web`] holds the listener and the connections and moves
//! their bytes for the loop that owns it: it reports [`WebCommand`]s, sends each
//! result to the page whose command it ends and every event to every page.

pub mod access;
pub mod http;
pub mod page;
pub mod response;
mod server;
pub mod share;

pub use server::{
    socket_config, Delivered, MetricsWait, Web, WebCommand, WebLimits, WebListen, FIRST_COMMAND_ID,
    HEAD_DEADLINE, MAX_MESSAGE, MAX_QUEUED, WEB_MAX_CONNS,
};
