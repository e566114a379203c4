//! Moving and checking file bytes between peers: hashing in slices, choosing a holder,
//! serving a published file ([`upload`]) and receiving one into a partial file that
//! resumes and is verified before it takes its final name ([`download`]); the shared
//! halves of every transfer ([`stream`]: sendfile slices out, hash-while-writing in) and
//! whole trees over a store connection ([`tree`]); BLAKE3 trees cut at chunk groups, whose
//! ranges are proven against the published root as they arrive ([`verified`]), and which
//! holder fetches which of them ([`swarm`]); telling the holder's answer from
//! whatever else may listen at its address ([`identity`]).

pub mod choose;
pub mod download;
pub mod hash;
pub mod identity;
pub mod stream;
pub mod swarm;
pub mod tree;
pub mod upload;
pub mod verified;
pub mod writeback;
