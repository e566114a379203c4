//! Moving and checking file bytes for both roles: hashing in slices, and (to come)
//! serving, receiving, resuming and verifying transfers.

pub mod hash;
