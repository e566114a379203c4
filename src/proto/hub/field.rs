//! How each field type travels in a hub message: [`Field`] writes and reads one value and knows the fewest bytes it takes, so a list count is checked against the bytes left before anything is allocated.

use super::{DecodeError, Reader};
use crate::proto::codec::Writer;
use crate::proto::status::Status;
use crate::proto::types::{FileInfo, Holder, Role, SearchHit, StoreInfo, StoreKind};
use crate::trust::Fingerprint;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// One value on the wire.
pub trait Field: Sized {
    /// The fewest bytes a value takes.
    const MIN: usize;
    fn put(&self, w: &mut Writer);
    fn get(r: &mut Reader) -> Result<Self, DecodeError>;
}

macro_rules! integers {
    ($($t:ident),*) => {$(
        impl Field for $t {
            const MIN: usize = std::mem::size_of::<$t>();
            fn put(&self, w: &mut Writer) {
                w.$t(*self);
            }
            fn get(r: &mut Reader) -> Result<$t, DecodeError> {
                r.$t()
            }
        }
    )*};
}

integers!(u8, u16, u32, u64);

/// A flag: 0 or 1.
impl Field for bool {
    const MIN: usize = 1;
    fn put(&self, w: &mut Writer) {
        w.u8(*self as u8);
    }
    fn get(r: &mut Reader) -> Result<bool, DecodeError> {
        match r.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::BadValue("flag")),
        }
    }
}

/// A u16 byte length, then UTF-8.
impl Field for String {
    const MIN: usize = 2;
    fn put(&self, w: &mut Writer) {
        w.str(self);
    }
    fn get(r: &mut Reader) -> Result<String, DecodeError> {
        r.str()
    }
}

/// Raw bytes: a hash, a store token.
impl<const N: usize> Field for [u8; N] {
    const MIN: usize = N;
    fn put(&self, w: &mut Writer) {
        w.bytes(self);
    }
    fn get(r: &mut Reader) -> Result<[u8; N], DecodeError> {
        r.array()
    }
}

/// A key's fingerprint: its 32 digest bytes.
impl Field for Fingerprint {
    const MIN: usize = 32;
    fn put(&self, w: &mut Writer) {
        w.bytes(self.bytes());
    }
    fn get(r: &mut Reader) -> Result<Fingerprint, DecodeError> {
        Ok(Fingerprint::from_bytes(r.array()?))
    }
}

impl Field for Status {
    const MIN: usize = 2;
    fn put(&self, w: &mut Writer) {
        w.u16(self.0);
    }
    fn get(r: &mut Reader) -> Result<Status, DecodeError> {
        Ok(Status(r.u16()?))
    }
}

impl Field for Role {
    const MIN: usize = 1;
    fn put(&self, w: &mut Writer) {
        w.u8(*self as u8);
    }
    fn get(r: &mut Reader) -> Result<Role, DecodeError> {
        match r.u8()? {
            0 => Ok(Role::Session),
            1 => Ok(Role::Store),
            _ => Err(DecodeError::BadValue("role")),
        }
    }
}

impl Field for StoreKind {
    const MIN: usize = 1;
    fn put(&self, w: &mut Writer) {
        w.u8(*self as u8);
    }
    fn get(r: &mut Reader) -> Result<StoreKind, DecodeError> {
        match r.u8()? {
            0 => Ok(StoreKind::File),
            1 => Ok(StoreKind::Dir),
            _ => Err(DecodeError::BadValue("store kind")),
        }
    }
}

/// The family (4 or 6), the address, the port.
impl Field for SocketAddr {
    const MIN: usize = 1 + 4 + 2;
    fn put(&self, w: &mut Writer) {
        match self.ip() {
            IpAddr::V4(ip) => {
                w.u8(4);
                w.bytes(&ip.octets());
            }
            IpAddr::V6(ip) => {
                w.u8(6);
                w.bytes(&ip.octets());
            }
        }
        w.u16(self.port());
    }
    fn get(r: &mut Reader) -> Result<SocketAddr, DecodeError> {
        let ip = match r.u8()? {
            4 => IpAddr::V4(Ipv4Addr::from(r.array::<4>()?)),
            6 => IpAddr::V6(Ipv6Addr::from(r.array::<16>()?)),
            _ => return Err(DecodeError::BadValue("address family")),
        };
        Ok(SocketAddr::new(ip, r.u16()?))
    }
}

/// A u16 count, then the items. A list holds at most `u16::MAX` items: a longer one
/// is written as its first `u16::MAX` (count and items always agree).
impl<T: Field> Field for Vec<T> {
    const MIN: usize = 2;
    fn put(&self, w: &mut Writer) {
        let n = w.count(self.len());
        self[..n].iter().for_each(|item| item.put(w));
    }
    fn get(r: &mut Reader) -> Result<Vec<T>, DecodeError> {
        let n = r.count(T::MIN)?;
        (0..n).map(|_| T::get(r)).collect()
    }
}

/// A record travels as its fields in the order listed.
macro_rules! records {
    ($($R:ident { $($f:ident : $ft:ty),* })*) => {$(
        impl Field for $R {
            const MIN: usize = 0 $(+ <$ft as Field>::MIN)*;
            fn put(&self, w: &mut Writer) {
                $( self.$f.put(w); )*
            }
            fn get(r: &mut Reader) -> Result<$R, DecodeError> {
                Ok($R { $($f: Field::get(r)?),* })
            }
        }
    )*};
}

records! {
    FileInfo { name: String, size: u64, hash: [u8; 32] }
    SearchHit { file: FileInfo, owners: Vec<String> }
    Holder {
        user: String,
        addr: SocketAddr,
        size: u64,
        hash: [u8; 32],
        fingerprint: Fingerprint,
        ticket: Vec<u8>
    }
    StoreInfo {
        name: String,
        owner: String,
        kind: StoreKind,
        files: u64,
        bytes: u64,
        created: u64,
        digest: [u8; 32]
    }
}
