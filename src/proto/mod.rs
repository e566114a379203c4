//! The wire format: frames, messages, status codes, name rules and fetch tickets. Pure: no I/O.

pub mod codec;
pub mod frame;
pub mod hub;
pub mod message;
pub mod names;
pub mod peer;
pub mod status;
pub mod store;
pub mod ticket;
pub mod types;
