//! peerhub: a peer-to-peer file-sharing hub and its peers, each one thread on one mio loop.
//!
//! # Layout
//! - [`proto`]: the wire format only — frames, messages, status codes, name rules. Pure.
//! - [`sys`]: the few system calls std lacks, behind safe functions.
//! - [`net`]: mio plumbing both roles share — buffered connections, deadlines, stdin lines.
//! - [`output`]: human text or `--json` lines on stdout.
//! - [`transfer`]: moving and checking file bytes — hashing in slices, serving and
//!   receiving files and store trees, resumable verified downloads.
//! - [`suggest`]: "did you mean …?" for mistyped commands (client and hub console).
//! - [`server`]: the hub — its state machine ([`server::hub::Hub`]) plus its loop.
//! - [`client`]: the peer — its state machine plus its loop.

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
