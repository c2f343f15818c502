//! The machinery behind `schema.rs`: descriptor types that a generic decoder
//! prints from (as `crit decode` does), and the two macros that turn one
//! declaration of a CRIU message or enum into both its prost type and its
//! descriptor, so that the tags, kinds and labels are written once.
//!
//! A message is declared as
//!
//! ```text
//! message! {
//!     /// doc
//!     PstreeEntry, PSTREE_ENTRY = "pstree_entry" {
//!         1 pid: required uint32,
//!         5 threads: repeated uint32,
//!         3 r#type as "type": optional enumeration("FdTypes", FD_TYPES) fmt(Fmt::Hex),
//!         4 ids: optional message(TaskKobjIdsEntry, TASK_KOBJ_IDS_ENTRY),
//!     }
//! }
//! ```
//!
//! Field syntax: `TAG NAME [as "crit name"]: LABEL KIND [default("v")]
//! [fmt(FMT)]`. CRIU's schema is proto2 without `[packed = true]`, so every
//! repeated scalar is written unpacked (prost still reads packed input).

/// A prost type declared with `message!`: its descriptor.
pub trait CriuMessage: prost::Message + Default {
    const DESC: &'static MsgDesc;
}

/// One protobuf message type.
#[derive(Debug)]
pub struct MsgDesc {
    /// The message name as written in CRIU's `.proto` file.
    pub name: &'static str,
    /// Fields sorted by tag.
    pub fields: &'static [FieldDesc],
}

impl MsgDesc {
    /// The field with tag `tag`, if the schema knows it.
    pub fn field(&self, tag: u32) -> Option<&'static FieldDesc> {
        self.fields.iter().find(|f| f.tag == tag)
    }
}

/// One field of a message.
#[derive(Debug, Clone, Copy)]
pub struct FieldDesc {
    pub tag: u32,
    pub name: &'static str,
    pub kind: Kind,
    pub label: Label,
    pub fmt: Fmt,
}

impl FieldDesc {
    /// Whether the field may occur any number of times.
    pub const fn is_repeated(&self) -> bool {
        matches!(self.label, Label::Repeated)
    }
}

/// proto2 field label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    Optional,
    Required,
    Repeated,
}

/// Protobuf field type.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Uint32,
    Uint64,
    Int32,
    Int64,
    Sint32,
    Sint64,
    Bool,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
    Float,
    Double,
    String,
    Bytes,
    Enum(&'static EnumDesc),
    Message(&'static MsgDesc),
}

/// A protobuf enum: numbers and their names.
#[derive(Debug)]
pub struct EnumDesc {
    pub name: &'static str,
    pub values: &'static [(i32, &'static str)],
}

impl EnumDesc {
    /// The name of `value`, if it is one of the enum's values.
    pub fn name_of(&self, value: i32) -> Option<&'static str> {
        self.values
            .iter()
            .find(|(v, _)| *v == value)
            .map(|(_, n)| *n)
    }
}

/// How crit's pretty mode prints an integer field (CRIU's `(criu).*` options).
#[derive(Debug, Clone, Copy)]
pub enum Fmt {
    /// A number.
    Plain,
    /// `(criu).hex`: `"0x1f"`. On a message field it applies to every
    /// integer inside that message, recursively.
    Hex,
    /// `(criu).flags`: `"A | B | 0x40"`, with unnamed bits shown in hex.
    Flags(&'static [(u64, &'static str)]),
    /// `(criu).dev`: `"major:minor"` in the kernel's internal encoding
    /// (20 minor bits).
    Dev,
    /// `(criu).odev`: `"major:minor"` in the glibc `dev_t` encoding.
    Odev,
    /// `(criu).ipadd` on a repeated uint32: one IPv4 or IPv6 address string.
    Ipaddr,
    /// `(criu).dict`: a name for the known values, the number otherwise.
    Dict(&'static [(u64, &'static str)]),
    /// `(criu).conv = "unix_name"` on bytes: quoted-printable, not base64.
    UnixName,
}

/// Declares a CRIU enum: the prost enumeration and its [`EnumDesc`].
macro_rules! criu_enum {
    (
        $(#[$doc:meta])*
        $name:ident, $desc:ident = $proto:literal {
            $( $(#[$vdoc:meta])* $variant:ident = $value:literal $crit:literal ),* $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
        #[repr(i32)]
        pub enum $name {
            $( $(#[$vdoc])* $variant = $value, )*
        }

        #[doc = concat!("Names of CRIU's `", $proto, "` values.")]
        pub static $desc: $crate::images::desc::EnumDesc = $crate::images::desc::EnumDesc {
            name: $proto,
            values: &[$(($value, $crit)),*],
        };
    };
}

/// Declares a CRIU message: the prost struct and its [`MsgDesc`]. The
/// fields are parsed one at a time into a normal form (`@field`); their
/// kind gives the prost kind and the Rust type (`@kind`), their label the
/// attribute and the field's type (`@label`); `@done` writes both items.
macro_rules! message {
    (
        $(#[$doc:meta])*
        $name:ident, $desc:ident = $proto:literal { $($body:tt)* }
    ) => {
        message!(@field [$(#[$doc])* $name, $desc, $proto] [] [] $($body)*);
    };

    (@field $hdr:tt $fields:tt $descs:tt) => {
        message!(@done $hdr $fields $descs);
    };
    (@field $hdr:tt $fields:tt $descs:tt
        $(#[$fdoc:meta])* $tag:literal $field:ident $(as $crit:literal)? :
        $label:ident $kind:ident $(($($arg:tt)*))?
        $(default($default:tt))? $(fmt($fmt:expr))?
        $(, $($rest:tt)*)?
    ) => {
        message!(@kind $kind [$($($arg)*)?]
            [$hdr $fields $descs [$(#[$fdoc])*] $tag $field [$($crit)?] [$($default)?]
             [$($fmt)?] $label [$($($rest)*)?]]);
    };

    // Kinds: the prost kind, extra attribute words for a repeated field,
    // the Rust type of one value, and the descriptor's kind.
    (@kind message [$ty:ident, $msg:ident] $ctx:tt) => {
        message!(@label $ctx [message] [] ($ty) ($crate::images::desc::Kind::Message(&$msg)));
    };
    (@kind enumeration [$ty:tt, $en:path] $ctx:tt) => {
        message!(@label $ctx [enumeration = $ty] [packed = "false",] (i32)
            ($crate::images::desc::Kind::Enum(&$en)));
    };
    (@kind bytes [] $ctx:tt) => {
        message!(@label $ctx [bytes = "vec"] [] (::std::vec::Vec<u8>) ($crate::images::desc::Kind::Bytes));
    };
    (@kind string [] $ctx:tt) => {
        message!(@label $ctx [string] [] (::std::string::String) ($crate::images::desc::Kind::String));
    };
    (@kind uint32 [] $ctx:tt) => { message!(@scalar $ctx uint32 u32 Uint32); };
    (@kind uint64 [] $ctx:tt) => { message!(@scalar $ctx uint64 u64 Uint64); };
    (@kind int32 [] $ctx:tt) => { message!(@scalar $ctx int32 i32 Int32); };
    (@kind int64 [] $ctx:tt) => { message!(@scalar $ctx int64 i64 Int64); };
    (@kind sint32 [] $ctx:tt) => { message!(@scalar $ctx sint32 i32 Sint32); };
    (@kind sint64 [] $ctx:tt) => { message!(@scalar $ctx sint64 i64 Sint64); };
    (@kind bool [] $ctx:tt) => { message!(@scalar $ctx bool bool Bool); };
    (@kind fixed32 [] $ctx:tt) => { message!(@scalar $ctx fixed32 u32 Fixed32); };
    (@kind fixed64 [] $ctx:tt) => { message!(@scalar $ctx fixed64 u64 Fixed64); };
    (@kind sfixed32 [] $ctx:tt) => { message!(@scalar $ctx sfixed32 i32 Sfixed32); };
    (@kind sfixed64 [] $ctx:tt) => { message!(@scalar $ctx sfixed64 i64 Sfixed64); };
    (@kind float [] $ctx:tt) => { message!(@scalar $ctx float f32 Float); };
    (@kind double [] $ctx:tt) => { message!(@scalar $ctx double f64 Double); };
    (@scalar $ctx:tt $pk:ident $ty:ident $k:ident) => {
        message!(@label $ctx [$pk] [packed = "false",] ($ty) ($crate::images::desc::Kind::$k));
    };

    // Labels: proto2 `required` is a plain value, `optional` an Option,
    // `repeated` a Vec.
    (@label [$hdr:tt $fields:tt $descs:tt $doc:tt $tag:tt $field:tt $crit:tt $default:tt $fmt:tt
             required $rest:tt] [$($pk:tt)*] $packed:tt ($ty:ty) $k:tt) => {
        message!(@push $hdr $fields $descs $doc $tag $field $crit $fmt $rest $k Required
            [$($pk)*, required,] $default ($ty));
    };
    (@label [$hdr:tt $fields:tt $descs:tt $doc:tt $tag:tt $field:tt $crit:tt $default:tt $fmt:tt
             optional $rest:tt] [$($pk:tt)*] $packed:tt ($ty:ty) $k:tt) => {
        message!(@push $hdr $fields $descs $doc $tag $field $crit $fmt $rest $k Optional
            [$($pk)*, optional,] $default (::std::option::Option<$ty>));
    };
    (@label [$hdr:tt $fields:tt $descs:tt $doc:tt $tag:tt $field:tt $crit:tt $default:tt $fmt:tt
             repeated $rest:tt] [$($pk:tt)*] [$($packed:tt)*] ($ty:ty) $k:tt) => {
        message!(@push $hdr $fields $descs $doc $tag $field $crit $fmt $rest $k Repeated
            [$($pk)*, repeated, $($packed)*] $default (::std::vec::Vec<$ty>));
    };

    (@push $hdr:tt [$($fields:tt)*] [$($descs:tt)*] [$($doc:tt)*] $tag:tt $field:ident
        [$($crit:literal)?] [$($fmt:expr)?] [$($rest:tt)*] ($k:expr) $label:ident
        [$($attr:tt)*] [$($default:tt)?] ($ty:ty)) => {
        message!(@field $hdr
            [$($fields)*
                $($doc)*
                #[prost($($attr)* $(default = $default,)? tag = $tag)]
                pub $field: $ty,
            ]
            [$($descs)*
                $crate::images::desc::FieldDesc {
                    tag: $tag,
                    name: message!(@name $field $($crit)?),
                    kind: $k,
                    label: $crate::images::desc::Label::$label,
                    fmt: message!(@fmt $($fmt)?),
                },
            ]
            $($rest)*);
    };

    (@done [$(#[$doc:meta])* $name:ident, $desc:ident, $proto:literal] [$($fields:tt)*] [$($descs:tt)*]) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, ::prost::Message)]
        pub struct $name {
            $($fields)*
        }

        #[doc = concat!("Descriptor of CRIU's `", $proto, "`.")]
        pub static $desc: $crate::images::desc::MsgDesc = $crate::images::desc::MsgDesc {
            name: $proto,
            fields: &[$($descs)*],
        };

        impl $crate::images::desc::CriuMessage for $name {
            const DESC: &'static $crate::images::desc::MsgDesc = &$desc;
        }
    };

    (@name $field:ident $crit:literal) => { $crit };
    (@name $field:ident) => { stringify!($field) };
    (@fmt $fmt:expr) => { $fmt };
    (@fmt) => { $crate::images::desc::Fmt::Plain };
}

pub(crate) use {criu_enum, message};
