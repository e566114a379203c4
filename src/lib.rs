//! peerhub: a peer-to-peer file-sharing hub and its peers, each one thread on one mio loop.
//!
//! # Layout
//! - [`proto`]: the wire format only — frames, messages, status codes, name rules. Pure.
//! - [`sys`]: the few system calls std lacks, behind safe functions.
//! - [`trust`]: identities (key pairs, self-signed certificates), key fingerprints, the
//!   client's hub pins and the rule that decides them, rustls verifiers and configs.
//! - [`net`]: mio plumbing both roles share — buffered connections, deadlines, stdin
//!   lines, TLS streams.
//! - [`output`]: human text or `--json` lines on stdout.
//! - [`transfer`]: moving and checking file bytes — hashing in slices, serving and
//!   receiving files and store trees, resumable verified downloads.
//! - [`suggest`]: "did you mean …?" for mistyped commands (client and hub console).
//! - [`server`]: the hub — its state machine ([`server::hub::Hub`]) plus its loop.
//! - [`client`]: the peer — its state machine plus its loop.
//! - [`web`]: the web interface (`--web`): request heads, access checks, the embedded
//!   page and the WebSocket that carries the `--json` contract.

pub mod client;
pub mod net;
pub mod output;
pub mod proto;
pub mod server;
pub mod suggest;
pub mod sys;
#[cfg(test)]
mod testing;
pub mod transfer;
pub mod trust;
pub mod web;
