//! The peer process: its loop moves bytes between the hub connection, the peer
//! listener, stdin and signals, and the pure [`session::Session`].

pub mod check;
pub mod command;
pub mod complete;
pub mod editor;
pub mod history;
pub mod hub_trust;
pub mod keys;
pub mod outboards;
pub mod partials;
pub mod progress;
pub mod published;
pub mod scan;
pub mod session;
pub mod store;
pub mod terminal;

mod driver;

use crate::trust::Fingerprint;
pub use driver::run;

/// Most holders one fetch may take a file from at once (`--sources`).
pub const MAX_SOURCES: usize = 32;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything `peerhub client` is started with.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub server: String,
    /// The hub key to trust (`--hub-key`); `None`: trust on first use and pin it.
    pub hub_key: Option<Fingerprint>,
    /// Plaintext to the hub and to peers instead of TLS (`--insecure-plaintext`).
    pub insecure_plaintext: bool,
    pub share: PathBuf,
    pub listen: Option<SocketAddr>,
    pub json: bool,
    /// `--progress-events`: `progress` events on stdout too (the web page always has them).
    pub progress_events: bool,
    pub serve: bool,
    pub reconnect_for: Duration,
    /// Bytes hashed per loop turn, so hashing never starves the rest of the loop.
    pub hash_slice: usize,
    /// A transfer with no progress for this long fails (504) or is closed; a peer that
    /// connects has this long (at most 10 s) to send its handshake.
    pub stall_timeout: Duration,
    /// Bytes per second per upload (0: unlimited).
    pub upload_rate: u64,
    /// Connections per address on the peer listener (0: no limit).
    pub peer_max_per_address: usize,
    /// Uploads at once, counted once a request is valid; the next peer gets 503.
    pub max_uploads: usize,
    /// Most holders one `fetch` takes a file from (`--sources`).
    pub sources: usize,
    /// The web interface (`--web`), if any.
    pub web: Option<crate::web::WebListen>,
    /// The largest file the page may add to the share (`--web-max-upload`).
    pub web_max_upload: u64,
}
