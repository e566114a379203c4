//! peerhub: a peer-to-peer file-sharing hub and its peers, each one thread on one mio loop.
//!
//! # Layout
//! - [`proto`]: the wire format only — frames, messages, status codes, name rules. Pure.
//! - [`sys`]: the few system calls std lacks, behind safe functions.
//! - [`net`]: mio plumbing both roles share — buffered connections, deadlines, stdin lines.
//! - [`output`]: human text or `--json` lines on stdout.
//! - [`server`]: the hub — pure state ([`server::hub::Hub`]) plus its loop.
//! - [`client`]: the peer — pure state plus its loop.

pub mod client;
pub mod net;
pub mod output;
pub mod proto;
pub mod server;
pub mod suggest;
pub mod sys;
pub mod transfer;
