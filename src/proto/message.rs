//! The historical home of the hub messages: re-exports [`super::types`] and [`super::hub`] so `proto::message::{ClientMsg, HubMsg, Body, ...}` keeps working.

pub use super::hub::reply::{complete_tickets, encode_holders_reply, Body, HolderEntry, HubMsg};
pub use super::hub::request::ClientMsg;
pub use super::hub::DecodeError;
pub use super::types::{
    hash_hex, FileInfo, Hash, Holder, Role, SearchHit, StoreInfo, StoreKind, StoreToken, MAGIC,
    VERSION,
};
