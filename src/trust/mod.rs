//! Who is on the other end of a connection: the hub's and each peer's identity (a key
//! pair and a self-signed certificate on disk), fingerprints of public keys, the
//! client's pins of hub keys (`.peerhub-known-hubs`) and the rule that decides whether
//! a presented key is trusted, the rustls verifiers and configurations built from
//! them, fetch tickets signed and checked with the hub's key, a holder's decision on
//! the ticket a peer brings, and the hub's resume secret. It touches files, never
//! sockets.

pub mod admit;
pub mod config;
pub mod fingerprint;
pub mod identity;
pub mod known_hubs;
pub mod resume_secret;
pub mod ticket;
pub mod verify;

pub use config::{
    client_config, hub_server_config, peer_server_config, provider, web_server_config, ALPN,
};
pub use fingerprint::{Fingerprint, FingerprintError};
pub use identity::{Identity, IdentityError};
pub use known_hubs::{decide, KnownHubs, KnownHubsError, Trust};
pub use resume_secret::{ResumeSecret, SecretError};
pub use ticket::{HubKey, HubSigner, TicketCheck, TicketSigner};
pub use verify::{KeyRefused, PeerCertVerifier, ServerKeyVerifier};

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Replace `path` with `bytes` atomically: a fresh temporary file beside it, created
/// with `mode`, written and synced, then renamed over it. A reader sees the old file or
/// the new one, never half of one.
fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let tmp = temporary_beside(path);
    let _ = std::fs::remove_file(&tmp);
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// `<path>.tmp`.
fn temporary_beside(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}
