//! The macros that turn a table of messages into Rust: each variant is written once, with its type byte and its fields in wire order, and the macro derives the enum, its encoding, its strict decoding and (for requests) `tag()`.

/// A message enum, one line per variant:
/// `Variant = type_byte [+ PREFIX] [, tag] { field: Type, ... }`.
///
/// Fields travel in the order written, each as its [`Field`](super::field::Field)
/// impl says. `+ PREFIX` writes a constant byte array (the hello magic) after the type
/// byte and checks it on decoding (`BadMagic`); `, tag` starts the variant with the
/// u32 tag a reply echoes. Declared `pub enum Name with tag()`, the enum also gets
/// `tag()`. Decoding is strict: an unknown type byte, a bad value or a byte after the
/// last field is an error.
macro_rules! messages {
    (@some) => {
        ::core::option::Option::None
    };
    (@some $tag:ident) => {
        ::core::option::Option::Some(*$tag)
    };
    (@tag $E:ident {
        $( $(#[$m:meta])* $V:ident = $ty:literal $(+ $prefix:path)? $(, $tag:ident)?
            { $($f:ident : $ft:ty),* $(,)? } ),* $(,)?
    }) => {
        impl $E {
            /// The tag of a request, if it carries one.
            pub fn tag(&self) -> Option<u32> {
                match self {
                    $( $E::$V { $($tag,)? .. } => messages!(@some $($tag)?), )*
                }
            }
        }
    };
    (@enum $(#[$em:meta])* $E:ident {
        $( $(#[$m:meta])* $V:ident = $ty:literal $(+ $prefix:path)? $(, $tag:ident)?
            { $($f:ident : $ft:ty),* $(,)? } ),* $(,)?
    }) => {
        $(#[$em])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $E {
            $( $(#[$m])* $V { $($tag: u32,)? $($f: $ft),* }, )*
        }

        impl $E {
            /// Append this message as one frame to `out`.
            pub fn encode(&self, out: &mut Vec<u8>) {
                use $crate::proto::hub::field::Field;
                $crate::proto::codec::framed(out, |w| match self {
                    $( $E::$V { $($tag,)? $($f),* } => {
                        w.u8($ty);
                        $( w.bytes(&$prefix); )?
                        $( Field::put($tag, w); )?
                        $( Field::put($f, w); )*
                    } )*
                });
            }

            /// Decode one frame payload.
            pub fn decode(payload: &[u8]) -> Result<$E, $crate::proto::hub::DecodeError> {
                use $crate::proto::hub::field::Field;
                use $crate::proto::hub::DecodeError;
                let mut r = $crate::proto::hub::Reader::new(payload);
                let msg = match r.u8()? {
                    $( $ty => {
                        $(
                            if r.take($prefix.len()).map_err(|_| DecodeError::BadMagic)? != $prefix {
                                return Err(DecodeError::BadMagic);
                            }
                        )?
                        $E::$V { $($tag: Field::get(&mut r)?,)? $($f: Field::get(&mut r)?),* }
                    } )*
                    other => return Err(DecodeError::UnknownType(other)),
                };
                r.end()?;
                Ok(msg)
            }
        }
    };
    ($(#[$em:meta])* pub enum $E:ident with tag() { $($body:tt)* }) => {
        messages!(@enum $(#[$em])* $E { $($body)* });
        messages!(@tag $E { $($body)* });
    };
    ($(#[$em:meta])* pub enum $E:ident { $($body:tt)* }) => {
        messages!(@enum $(#[$em])* $E { $($body)* });
    };
}

/// A field enum (the reply body), one line per variant: `Variant = type_byte`,
/// `Variant(name: Type, ...) = type_byte` or `Variant { field: Type, ... } = type_byte`.
/// The enum becomes a [`Field`](super::field::Field): its type byte, then its fields
/// in order; an unknown type byte is `BadValue(what)`.
macro_rules! field_enum {
    ($(#[$em:meta])* pub enum $E:ident, unknown $what:literal {
        $( $(#[$m:meta])* $V:ident $(( $($p:ident : $pt:ty),+ ))?
            $({ $($f:ident : $ft:ty),* $(,)? })? = $ty:literal ),* $(,)?
    }) => {
        $(#[$em])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $E {
            $( $(#[$m])* $V $(( $($pt),+ ))? $({ $($f: $ft),* })?, )*
        }

        impl $crate::proto::hub::field::Field for $E {
            const MIN: usize = 1;
            fn put(&self, w: &mut $crate::proto::codec::Writer) {
                use $crate::proto::hub::field::Field;
                match self {
                    $( $E::$V $(( $($p),+ ))? $({ $($f),* })? => {
                        w.u8($ty);
                        $($( Field::put($p, w); )+)?
                        $($( Field::put($f, w); )*)?
                    } )*
                }
            }
            fn get(
                r: &mut $crate::proto::hub::Reader,
            ) -> Result<$E, $crate::proto::hub::DecodeError> {
                use $crate::proto::hub::field::Field;
                Ok(match r.u8()? {
                    $( $ty => $E::$V $(( $(<$pt as Field>::get(r)?),+ ))?
                        $({ $($f: Field::get(r)?),* })?, )*
                    _ => return Err($crate::proto::hub::DecodeError::BadValue($what)),
                })
            }
        }
    };
}
