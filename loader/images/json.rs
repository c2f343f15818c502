//! Generic protobuf-wire → JSON renderer that prints CRIU images the way
//! `crit decode` does, driven by the descriptor tables in `schema.rs`.
//!
//! crit's conventions (lib/pycriu/images/pb2dict.py, images.py):
//! * an image is `{"magic": "CORE", "entries": [...]}`;
//! * a message is an object with the fields that are present, in tag order;
//!   repeated fields are arrays and are left out when empty;
//! * enums print as their value names, bools as `true`/`false`, 64-bit
//!   integers as plain numbers, `bytes` as MIME base64 (76-char lines, each
//!   ending in `\n`), strings as JSON strings with non-ASCII escaped;
//! * in pretty mode (`crit decode --pretty`) `(criu).hex` fields print as
//!   `"0x1f"` (a hex message field makes every integer inside it hex),
//!   `(criu).flags` fields as `"A | B | 0x40"` (`""` for 0),
//!   `(criu).dev` as `"major:minor"`, `(criu).dict` values by name and
//!   `(criu).ipadd` arrays as one address string; output is indented by 4.
//!
//! Beyond crit: fields whose tag the schema does not know, or that arrive
//! with a wire type that does not fit the schema, are printed as
//! `"unknown_<tag>": [values]` (varints and fixed values as numbers,
//! length-delimited values as base64), and enum numbers without a name are
//! printed as numbers. Malformed input gives a [`JsonError`], never a panic.

use super::desc::{FieldDesc, Fmt, Kind, MsgDesc};
use super::magic::{self, Header, ImageKind};
use super::{Image, ImageError, ImageErrorKind};
use std::fmt;

/// Deepest message nesting accepted (the top-level message is depth 0).
pub const MAX_DEPTH: usize = 64;

/// Why a message or image could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Byte offset of the problem (from the start of the buffer given to
    /// the public function that failed).
    pub offset: usize,
    /// Dotted path of the field being read, e.g. `core_entry.thread_info`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "at byte {} in {}: {}",
            self.offset, self.field, self.message
        )
    }
}

impl std::error::Error for JsonError {}

/// Output style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Spaces per indentation level; `None` prints everything on one line
    /// with Python's `", "` and `": "` separators.
    pub indent: Option<usize>,
    /// Apply CRIU's display options (hex, flags, dev, dict, ipadd), as crit
    /// does with `--pretty`. Without it every integer is a plain number.
    pub annotate: bool,
}

impl Style {
    /// `crit decode --pretty`.
    pub const PRETTY: Style = Style {
        indent: Some(4),
        annotate: true,
    };
    /// `crit decode` without `--pretty`.
    pub const PLAIN: Style = Style {
        indent: None,
        annotate: false,
    };
    /// Annotated values on one line.
    pub const COMPACT: Style = Style {
        indent: None,
        annotate: true,
    };
}

/// Appends the JSON of one protobuf message (crit `--pretty` style) to `out`.
/// On error `out` is left unchanged.
pub fn message_to_json(desc: &MsgDesc, bytes: &[u8], out: &mut String) -> Result<(), JsonError> {
    message_to_json_with(desc, bytes, Style::PRETTY, out)
}

/// Like [`message_to_json`] with an explicit [`Style`].
pub fn message_to_json_with(
    desc: &MsgDesc,
    bytes: &[u8],
    style: Style,
    out: &mut String,
) -> Result<(), JsonError> {
    let root = Path::root(desc.name);
    let value = decode_message(desc, bytes, 0, 0, false, &root, style)?;
    write_value(&value, style, 0, out);
    Ok(())
}

/// Renders a whole image file (header, records, extra bytes) as crit does.
/// The kind is taken from the magic in the header; raw images such as
/// pages-*.img have none and are rejected like crit rejects them. The
/// framing is [`Image::parse`]'s. No trailing newline.
pub fn image_to_json(data: &[u8], style: Style) -> Result<String, JsonError> {
    let err = |offset: usize, message: String| JsonError {
        offset,
        field: "image header".to_string(),
        message,
    };
    let first = read_u32(data, 0).ok_or_else(|| err(0, "file shorter than a magic".into()))?;
    let (kind_magic, header) = match first {
        magic::IMG_COMMON_MAGIC | magic::IMG_SERVICE_MAGIC => (
            read_u32(data, 4).ok_or_else(|| err(4, "missing second magic".into()))?,
            if first == magic::IMG_COMMON_MAGIC {
                Header::Common
            } else {
                Header::Service
            },
        ),
        m => (m, Header::Inventory),
    };
    let kind = magic::by_magic(kind_magic)
        .ok_or_else(|| err(0, format!("unknown magic {kind_magic:#x}")))?;
    if header == Header::Inventory && kind.header != Header::Inventory {
        return Err(err(0, format!("{} image without common magic", kind.name)));
    }
    let image = Image::parse(
        std::path::Path::new(kind.name),
        data.to_vec(),
        kind.magic,
        |body| Ok(extra_length(kind, body) as u64),
    )
    .map_err(|e| framing_error(kind, data, e))?;
    image_records_to_json(kind, &image, style)
}

/// Renders the records of `image`, already split by [`Image::parse`], as
/// records of `kind`. Error offsets count from the start of the file.
pub fn image_records_to_json(
    kind: &ImageKind,
    image: &Image,
    style: Style,
) -> Result<String, JsonError> {
    let mut entries = Vec::with_capacity(image.records.len());
    for (index, record) in image.records.iter().enumerate() {
        let desc = kind.entry_desc(index).ok_or_else(|| JsonError {
            offset: record.offset,
            field: kind.name.to_string(),
            message: "raw image has no records".into(),
        })?;
        let path = Path::root(desc.name);
        let body = &image.data[record.body.clone()];
        let mut value = decode_message(desc, body, record.body.start, 0, false, &path, style)?;
        if kind.extra_bytes_field.is_some() {
            if let Value::Obj(fields) = &mut value {
                let extra = &image.data[record.extra.clone()];
                fields.push(("extra".to_string(), Value::Str(base64_mime(extra))));
            }
        }
        entries.push(value);
    }
    let image = Value::Obj(vec![
        ("magic".to_string(), Value::Str(kind.name.to_string())),
        ("entries".to_string(), Value::Arr(entries)),
    ]);
    let mut out = String::new();
    write_value(&image, style, 0, &mut out);
    Ok(out)
}

/// Says which part of the framing `Image::parse` found broken, in the
/// terms of a record of `kind`.
fn framing_error(kind: &ImageKind, data: &[u8], e: ImageError) -> JsonError {
    let record_name = |record: usize| match kind.entry_desc(record) {
        Some(desc) => format!("record {record} ({})", desc.name),
        None => format!("record {record}"),
    };
    match e.kind {
        ImageErrorKind::Truncated {
            record,
            offset,
            need,
            have,
        } => {
            let (field, message) = match read_u32(data, offset) {
                None => (record_name(record), "truncated record length".to_string()),
                Some(len) if 4 + u64::from(len) > have as u64 => (
                    record_name(record),
                    format!(
                        "record length {len} runs past the end of the file ({} bytes left)",
                        have - 4
                    ),
                ),
                Some(len) => (
                    format!(
                        "record {record} extra ({} = {})",
                        kind.extra_bytes_field.unwrap_or("extra"),
                        need - 4 - u64::from(len)
                    ),
                    "extra data runs past the end of the file".to_string(),
                ),
            };
            JsonError {
                offset,
                field,
                message,
            }
        }
        // image_to_json picked the kind by the magic that decides the
        // header, so only the first word can disagree with it.
        ImageErrorKind::BadMagic { found, expected } => JsonError {
            offset: 0,
            field: "image header".to_string(),
            message: format!(
                "{} image: wrong magic {found:#010x} (expected {expected:#010x})",
                kind.name
            ),
        },
        ImageErrorKind::Decode {
            record,
            offset,
            err,
        } => JsonError {
            offset,
            field: record_name(record),
            message: err,
        },
        _ => JsonError {
            offset: 0,
            field: "image".to_string(),
            message: e.to_string(),
        },
    }
}

// ---------------------------------------------------------------------------
// Wire decoding
// ---------------------------------------------------------------------------

/// A JSON value; numbers are kept as their final text.
#[derive(Debug)]
enum Value {
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Value>),
    Obj(Vec<(String, Value)>),
}

/// The field path, built only when an error is reported.
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    name: &'a str,
}

impl<'a> Path<'a> {
    fn root(name: &'a str) -> Self {
        Path { parent: None, name }
    }

    fn child(&'a self, name: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            name,
        }
    }

    fn render(&self) -> String {
        match self.parent {
            Some(p) => format!("{}.{}", p.render(), self.name),
            None => self.name.to_string(),
        }
    }

    fn error(&self, offset: usize, message: impl Into<String>) -> JsonError {
        JsonError {
            offset,
            field: self.render(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Raw<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Len(&'a [u8]),
}

impl Raw<'_> {
    fn wire_type(&self) -> u8 {
        match self {
            Raw::Varint(_) => 0,
            Raw::Fixed64(_) => 1,
            Raw::Len(_) => 2,
            Raw::Fixed32(_) => 5,
        }
    }
}

/// One field occurrence on the wire; `data_offset` is the absolute offset
/// of its value (of the payload, for length-delimited ones).
struct Occurrence<'a> {
    tag: u32,
    raw: Raw<'a>,
    data_offset: usize,
}

fn read_u32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a varint at `*pos`; on failure returns the reason.
fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, &'static str> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let Some(&b) = buf.get(*pos) else {
            return Err("truncated varint");
        };
        *pos += 1;
        if i == 9 && b > 1 {
            return Err("varint overflows 64 bits");
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint longer than 10 bytes")
}

fn read_fixed<const N: usize>(buf: &[u8], pos: &mut usize) -> Option<[u8; N]> {
    let bytes = buf.get(*pos..pos.checked_add(N)?)?;
    let mut arr = [0u8; N];
    arr.copy_from_slice(bytes);
    *pos += N;
    Some(arr)
}

/// Splits a message into its field occurrences.
fn scan<'a>(
    desc: &MsgDesc,
    buf: &'a [u8],
    base: usize,
    path: &Path<'_>,
) -> Result<Vec<Occurrence<'a>>, JsonError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let start = pos;
        let key = read_varint(buf, &mut pos)
            .map_err(|e| path.error(base + start, format!("field key: {e}")))?;
        let tag = u32::try_from(key >> 3)
            .ok()
            .filter(|t| (1..=0x1fff_ffff).contains(t))
            .ok_or_else(|| {
                path.error(base + start, format!("invalid field number {}", key >> 3))
            })?;
        let wire = (key & 7) as u8;
        let fpath = FieldPath { path, desc, tag };
        let data_offset = pos;
        let raw = match wire {
            0 => Raw::Varint(
                read_varint(buf, &mut pos).map_err(|e| fpath.error(base + data_offset, e))?,
            ),
            1 => Raw::Fixed64(u64::from_le_bytes(
                read_fixed::<8>(buf, &mut pos)
                    .ok_or_else(|| fpath.error(base + data_offset, "truncated fixed64"))?,
            )),
            5 => Raw::Fixed32(u32::from_le_bytes(
                read_fixed::<4>(buf, &mut pos)
                    .ok_or_else(|| fpath.error(base + data_offset, "truncated fixed32"))?,
            )),
            2 => {
                let len = read_varint(buf, &mut pos)
                    .map_err(|e| fpath.error(base + data_offset, format!("length: {e}")))?;
                let left = buf.len() - pos;
                let len = usize::try_from(len)
                    .ok()
                    .filter(|l| *l <= left)
                    .ok_or_else(|| {
                        fpath.error(
                            base + data_offset,
                            format!("length {len} runs past the end ({left} bytes left)"),
                        )
                    })?;
                let payload = &buf[pos..pos + len];
                pos += len;
                out.push(Occurrence {
                    tag,
                    raw: Raw::Len(payload),
                    data_offset: base + pos - len,
                });
                continue;
            }
            3 | 4 => return Err(fpath.error(base + start, "group wire types are not supported")),
            w => return Err(fpath.error(base + start, format!("bad wire type {w}"))),
        };
        out.push(Occurrence {
            tag,
            raw,
            data_offset: base + data_offset,
        });
    }
    Ok(out)
}

/// A field of a message being scanned, named only if an error needs it.
struct FieldPath<'p, 'a> {
    path: &'p Path<'a>,
    desc: &'p MsgDesc,
    tag: u32,
}

impl FieldPath<'_, '_> {
    fn error(&self, offset: usize, message: impl Into<String>) -> JsonError {
        let name = match self.desc.field(self.tag) {
            Some(f) => f.name.to_string(),
            None => format!("unknown_{}", self.tag),
        };
        self.path.child(&name).error(offset, message)
    }
}

/// The wire type a field of `kind` uses when not packed.
fn wire_type_of(kind: Kind) -> u8 {
    match kind {
        Kind::Uint32
        | Kind::Uint64
        | Kind::Int32
        | Kind::Int64
        | Kind::Sint32
        | Kind::Sint64
        | Kind::Bool
        | Kind::Enum(_) => 0,
        Kind::Fixed64 | Kind::Sfixed64 | Kind::Double => 1,
        Kind::Fixed32 | Kind::Sfixed32 | Kind::Float => 5,
        Kind::String | Kind::Bytes | Kind::Message(_) => 2,
    }
}

fn decode_message(
    desc: &MsgDesc,
    buf: &[u8],
    base: usize,
    depth: usize,
    hex: bool,
    path: &Path<'_>,
    style: Style,
) -> Result<Value, JsonError> {
    if depth > MAX_DEPTH {
        return Err(path.error(base, format!("messages nested deeper than {MAX_DEPTH}")));
    }
    let occurrences = scan(desc, buf, base, path)?;
    let mut tags: Vec<u32> = occurrences.iter().map(|o| o.tag).collect();
    tags.sort_unstable();
    tags.dedup();

    let mut fields = Vec::new();
    for tag in tags {
        let occ: Vec<&Occurrence<'_>> = occurrences.iter().filter(|o| o.tag == tag).collect();
        let mut unknown: Vec<&Occurrence<'_>> = Vec::new();
        if let Some(field) = desc.field(tag) {
            let fpath = path.child(field.name);
            let hex = hex || (style.annotate && matches!(field.fmt, Fmt::Hex));
            let (value, rejected) = decode_field(field, &occ, depth, hex, &fpath, style)?;
            if let Some(v) = value {
                fields.push((field.name.to_string(), v));
            }
            unknown = rejected;
        } else {
            unknown.extend(occ);
        }
        if !unknown.is_empty() {
            let values = unknown.iter().map(|o| raw_value(o.raw)).collect();
            fields.push((format!("unknown_{tag}"), Value::Arr(values)));
        }
    }
    Ok(Value::Obj(fields))
}

type FieldResult<'o, 'a> = Result<(Option<Value>, Vec<&'o Occurrence<'a>>), JsonError>;

/// Decodes every occurrence of one known field. Returns its value (if any)
/// and the occurrences whose wire type does not fit the schema.
fn decode_field<'o, 'a>(
    field: &FieldDesc,
    occ: &[&'o Occurrence<'a>],
    depth: usize,
    hex: bool,
    path: &Path<'_>,
    style: Style,
) -> FieldResult<'o, 'a> {
    let wire = wire_type_of(field.kind);
    let packable = wire != 2;
    let mut rejected = Vec::new();

    if let Kind::Message(sub) = field.kind {
        let mut parts = Vec::new();
        for o in occ {
            match o.raw {
                Raw::Len(b) => parts.push((b, o.data_offset)),
                _ => rejected.push(*o),
            }
        }
        if parts.is_empty() {
            return Ok((None, rejected));
        }
        if field.is_repeated() {
            let mut items = Vec::with_capacity(parts.len());
            for (b, off) in parts {
                items.push(decode_message(sub, b, off, depth + 1, hex, path, style)?);
            }
            return Ok((Some(Value::Arr(items)), rejected));
        }
        // A singular message seen more than once is merged, which is the
        // same as parsing the concatenation of its occurrences.
        let value = if let [(b, off)] = parts.as_slice() {
            decode_message(sub, b, *off, depth + 1, hex, path, style)?
        } else {
            let joined: Vec<u8> = parts.iter().flat_map(|(b, _)| b.iter().copied()).collect();
            decode_message(sub, &joined, parts[0].1, depth + 1, hex, path, style)?
        };
        return Ok((Some(value), rejected));
    }

    let mut values = Vec::new();
    for o in occ {
        if o.raw.wire_type() == wire {
            values.push(scalar_value(field, o.raw, o.data_offset, hex, path, style)?);
        } else if let (true, true, Raw::Len(b)) = (field.is_repeated(), packable, o.raw) {
            let mut pos = 0;
            while pos < b.len() {
                let at = o.data_offset + pos;
                let raw = match wire {
                    0 => Raw::Varint(
                        read_varint(b, &mut pos)
                            .map_err(|e| path.error(at, format!("packed: {e}")))?,
                    ),
                    1 => Raw::Fixed64(u64::from_le_bytes(
                        read_fixed::<8>(b, &mut pos)
                            .ok_or_else(|| path.error(at, "packed: truncated fixed64"))?,
                    )),
                    _ => Raw::Fixed32(u32::from_le_bytes(
                        read_fixed::<4>(b, &mut pos)
                            .ok_or_else(|| path.error(at, "packed: truncated fixed32"))?,
                    )),
                };
                values.push(scalar_value(field, raw, at, hex, path, style)?);
            }
        } else {
            rejected.push(*o);
        }
    }
    if field.is_repeated() {
        if values.is_empty() {
            return Ok((None, rejected));
        }
        if style.annotate && matches!(field.fmt, Fmt::Ipaddr) {
            if let Some(addr) = ip_address(occ, wire) {
                return Ok((Some(Value::Arr(vec![Value::Str(addr)])), rejected));
            }
        }
        return Ok((Some(Value::Arr(values)), rejected));
    }
    // Singular scalar: the last occurrence wins.
    Ok((values.pop(), rejected))
}

/// A decoded scalar before formatting.
enum Scalar {
    Int(i128),
    Bool(bool),
    Float(f64),
    Text(String),
    Enum(i32),
}

fn scalar_value(
    field: &FieldDesc,
    raw: Raw<'_>,
    offset: usize,
    hex: bool,
    path: &Path<'_>,
    style: Style,
) -> Result<Value, JsonError> {
    let s = match (field.kind, raw) {
        (Kind::Uint64, Raw::Varint(v)) => Scalar::Int(i128::from(v)),
        (Kind::Uint32, Raw::Varint(v)) => Scalar::Int(i128::from(v as u32)),
        (Kind::Int64, Raw::Varint(v)) => Scalar::Int(i128::from(v as i64)),
        (Kind::Int32, Raw::Varint(v)) => Scalar::Int(i128::from(v as i32)),
        (Kind::Sint64, Raw::Varint(v)) => Scalar::Int(i128::from(zigzag64(v))),
        (Kind::Sint32, Raw::Varint(v)) => Scalar::Int(i128::from(zigzag32(v as u32))),
        (Kind::Bool, Raw::Varint(v)) => Scalar::Bool(v != 0),
        (Kind::Enum(_), Raw::Varint(v)) => Scalar::Enum(v as i32),
        (Kind::Fixed64, Raw::Fixed64(v)) => Scalar::Int(i128::from(v)),
        (Kind::Sfixed64, Raw::Fixed64(v)) => Scalar::Int(i128::from(v as i64)),
        (Kind::Double, Raw::Fixed64(v)) => Scalar::Float(f64::from_bits(v)),
        (Kind::Fixed32, Raw::Fixed32(v)) => Scalar::Int(i128::from(v)),
        (Kind::Sfixed32, Raw::Fixed32(v)) => Scalar::Int(i128::from(v as i32)),
        (Kind::Float, Raw::Fixed32(v)) => Scalar::Float(f64::from(f32::from_bits(v))),
        (Kind::String, Raw::Len(b)) => Scalar::Text(String::from_utf8_lossy(b).into_owned()),
        (Kind::Bytes, Raw::Len(b)) => return Ok(Value::Str(base64_mime(b))),
        _ => return Err(path.error(offset, "wire type does not match the field")),
    };
    Ok(match s {
        Scalar::Bool(b) => Value::Bool(b),
        Scalar::Float(f) => Value::Num(python_float(f)),
        Scalar::Text(t) => Value::Str(t),
        Scalar::Enum(n) => match field.kind {
            Kind::Enum(e) => match e.name_of(n) {
                Some(name) => Value::Str(name.to_string()),
                None => Value::Num(n.to_string()),
            },
            _ => Value::Num(n.to_string()),
        },
        Scalar::Int(v) if !style.annotate => Value::Num(v.to_string()),
        Scalar::Int(v) if hex => Value::Str(hex_string(v)),
        Scalar::Int(v) => match field.fmt {
            Fmt::Dev => Value::Str(format!("{}:{}", v >> 20, v & 0xf_ffff)),
            Fmt::Odev => {
                let d = v as u64;
                let major = ((d >> 8) & 0xfff) | ((d >> 32) & !0xfff);
                let minor = (d & 0xff) | ((d >> 12) & !0xff);
                Value::Str(format!("{major}:{minor}"))
            }
            Fmt::Flags(table) => Value::Str(flags_string(v, table)),
            Fmt::Dict(table) => match table.iter().find(|(k, _)| i128::from(*k) == v) {
                Some((_, name)) => Value::Str((*name).to_string()),
                None => Value::Num(v.to_string()),
            },
            Fmt::Plain | Fmt::Hex | Fmt::Ipaddr => Value::Num(v.to_string()),
        },
    })
}

fn zigzag64(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn zigzag32(v: u32) -> i32 {
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

/// Python's `"0x%x" % v`.
fn hex_string(v: i128) -> String {
    if v < 0 {
        format!("-0x{:x}", v.unsigned_abs())
    } else {
        format!("0x{v:x}")
    }
}

/// pb2dict's `map_flags`: the names of the set bits, then any bits no name
/// covers in hex, joined by `" | "`.
fn flags_string(value: i128, table: &[(u64, &str)]) -> String {
    let mut parts: Vec<String> = table
        .iter()
        .filter(|(bit, _)| value & i128::from(*bit) != 0)
        .map(|(_, name)| (*name).to_string())
        .collect();
    let known: i128 = table.iter().map(|(bit, _)| i128::from(*bit)).sum();
    let rest = value & !known;
    if rest != 0 {
        parts.push(hex_string(rest));
    }
    parts.join(" | ")
}

/// pb2dict's rendering of an `ipadd` field: one value is IPv4, four are
/// IPv6, each stored in network byte order. Other counts stay numbers.
fn ip_address(occ: &[&Occurrence<'_>], wire: u8) -> Option<String> {
    let mut words = Vec::new();
    for o in occ {
        match (o.raw, wire) {
            (Raw::Varint(v), 0) => words.push(v as u32),
            (Raw::Fixed32(v), 5) => words.push(v),
            _ => return None,
        }
    }
    let host: Vec<u32> = words.iter().map(|w| w.swap_bytes()).collect();
    match host.as_slice() {
        [a] => Some(std::net::Ipv4Addr::from(*a).to_string()),
        [a, b, c, d] => {
            let mut hextets = [0u16; 8];
            for (i, w) in [a, b, c, d].iter().enumerate() {
                hextets[2 * i] = (**w >> 16) as u16;
                hextets[2 * i + 1] = **w as u16;
            }
            Some(compress_ipv6(&hextets))
        }
        _ => None,
    }
}

/// Python `ipaddress` compressed form: the first longest run (2 or more)
/// of zero groups becomes `::`; no IPv4-in-IPv6 notation.
fn compress_ipv6(h: &[u16; 8]) -> String {
    let (mut best_start, mut best_len) = (0, 0);
    let mut i = 0;
    while i < 8 {
        if h[i] == 0 {
            let start = i;
            while i < 8 && h[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                best_start = start;
                best_len = i - start;
            }
        } else {
            i += 1;
        }
    }
    let part = |s: &[u16]| {
        s.iter()
            .map(|x| format!("{x:x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    if best_len < 2 {
        return part(h);
    }
    format!(
        "{}::{}",
        part(&h[..best_start]),
        part(&h[best_start + best_len..])
    )
}

/// A value of an unknown field.
fn raw_value(raw: Raw<'_>) -> Value {
    match raw {
        Raw::Varint(v) | Raw::Fixed64(v) => Value::Num(v.to_string()),
        Raw::Fixed32(v) => Value::Num(v.to_string()),
        Raw::Len(b) => Value::Str(base64_mime(b)),
    }
}

/// How many raw bytes follow a record of `kind`: its uint32 field named by
/// `extra_bytes_field` (0 if the kind has none, or it is absent or
/// malformed; the record's own decoding reports malformed ones).
fn extra_length(kind: &ImageKind, body: &[u8]) -> usize {
    let (Some(name), Some(desc)) = (kind.extra_bytes_field, kind.entry) else {
        return 0;
    };
    let Some(field) = desc.fields.iter().find(|f| f.name == name) else {
        return 0;
    };
    let root = Path::root(desc.name);
    let Ok(occurrences) = scan(desc, body, 0, &root) else {
        return 0;
    };
    occurrences
        .iter()
        .rev()
        .find_map(|o| match o.raw {
            Raw::Varint(v) if o.tag == field.tag => Some(v as u32 as usize),
            _ => None,
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------
// Text output (Python json.dump compatible)
// ---------------------------------------------------------------------------

/// Python's `base64.encodebytes`: 76-character lines, each ending in `\n`.
fn base64_mime(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() * 4 / 3 + data.len() / 57 + 4);
    for line in data.chunks(57) {
        for chunk in line.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out.push('\n');
    }
    out
}

/// Python's `repr(float)` as json.dump prints it (close enough for the
/// values CRIU could store; CRIU's schema has no float fields).
fn python_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else {
        format!("{f:?}")
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.push('"');
}

fn newline(style: Style, level: usize, out: &mut String) {
    if let Some(n) = style.indent {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', n * level));
    }
}

fn write_value(v: &Value, style: Style, level: usize, out: &mut String) {
    let sep = if style.indent.is_some() { "," } else { ", " };
    match v {
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Num(n) => out.push_str(n),
        Value::Str(s) => write_string(s, out),
        Value::Arr(items) if items.is_empty() => out.push_str("[]"),
        Value::Obj(items) if items.is_empty() => out.push_str("{}"),
        Value::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                newline(style, level + 1, out);
                write_value(item, style, level + 1, out);
            }
            newline(style, level, out);
            out.push(']');
        }
        Value::Obj(items) => {
            out.push('{');
            for (i, (key, item)) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                newline(style, level + 1, out);
                write_string(key, out);
                out.push_str(": ");
                write_value(item, style, level + 1, out);
            }
            newline(style, level, out);
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::schema;
    use super::*;

    const FIX: &str = "/work/shared/fixtures";

    fn image(fixture: &str, file: &str, style: Style) -> String {
        let data = std::fs::read(format!("{FIX}/{fixture}/images/{file}")).expect("read");
        image_to_json(&data, style).expect("render")
    }

    /// The payload of record `index` of an image with the common header.
    fn record(fixture: &str, file: &str, index: usize) -> Vec<u8> {
        let data = std::fs::read(format!("{FIX}/{fixture}/images/{file}")).expect("read");
        let mut pos = 8;
        for _ in 0..index {
            pos += 4 + read_u32(&data, pos).expect("len") as usize;
        }
        let len = read_u32(&data, pos).expect("len") as usize;
        data[pos + 4..pos + 4 + len].to_vec()
    }

    #[test]
    fn core_matches_crit() {
        // Values as printed by `crit decode --pretty` (Debian crit 3.17) for
        // sigstate/images/core-31100.img.
        let rec = record("sigstate", "core-31100.img", 0);
        let mut out = String::new();
        message_to_json(&schema::CORE_ENTRY, &rec, &mut out).expect("render");
        assert!(out.starts_with("{\n    \"mtype\": \"X86_64\",\n    \"thread_info\": {\n"));
        for line in [
            "\"clear_tid_addr\": \"0x2981d650\",",
            "\"r12\": \"0x4040122303700978\",",
            "\"ax\": \"0xfffffffffffffffc\",",
            "\"ip\": \"0x402ffc\",",
            "\"sp\": \"0x7fffec318f60\",",
            "\"mode\": \"NATIVE\"",
            "\"cwd\": 2943,",
            "\"mxcsr\": 24480,",
            "\"mxcsr_mask\": 196607,",
            "\"xstate_bv\": 519,",
            "            1077940771,",
        ] {
            assert!(out.contains(line), "missing {line}");
        }
        let plain = image("sigstate", "core-31100.img", Style::PLAIN);
        assert!(plain.starts_with("{\"magic\": \"CORE\", \"entries\": [{\"mtype\": \"X86_64\", "));
        assert!(plain.contains("\"clear_tid_addr\": 696374864, "));
        let pretty = image("sigstate", "core-31100.img", Style::PRETTY);
        for line in [
            "\"task_state\": \"Alive\",",
            "\"blk_sigset\": \"0x800\",",
            "\"comm\": \"crest-sigstate\",",
            "\"ss_size\": 65536,",
            "\"siginfo\": \"DAAAAAAAAAD/////AAAAAHx5AAAAAAAA7V4AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\\nAAAA",
            "AAAAAAAAAAAAAAAAAAA=\\n\"",
        ] {
            assert!(pretty.contains(line), "missing {line}");
        }
    }

    #[test]
    fn pagemap_matches_crit_shape() {
        let out = image("counter", "pagemap-31000.img", Style::PRETTY);
        // crit 3.17 names tag 2 "nr_pages" and drops tag 5; crit 4.2 prints
        // both, as here.
        assert!(out.starts_with(
            "{\n    \"magic\": \"PAGEMAP\",\n    \"entries\": [\n        {\n            \"pages_id\": 1\n        },\n        {\n            \"vaddr\": \"0x401000\",\n            \"compat_nr_pages\": 0,\n"
        ));
        assert!(out.contains("\"flags\": \"PE_LAZY | PE_PRESENT\""));
        let total: u64 = out
            .lines()
            .filter_map(|l| l.trim().strip_prefix("\"nr_pages\": "))
            .map(|n| n.trim_end_matches(',').parse::<u64>().expect("number"))
            .sum();
        assert_eq!(total, 2320);
    }

    #[test]
    fn mm_vmas_flags() {
        let out = image("counter", "mm-31000.img", Style::PRETTY);
        assert!(out.contains("\"magic\": \"MM\""));
        assert!(out.contains("\"prot\": \"PROT_READ | PROT_EXEC\""));
        assert!(out.contains("\"flags\": \"MAP_PRIVATE | MAP_ANON\""));
        assert!(out.contains("\"status\": \"VMA_AREA_REGULAR | VMA_ANON_PRIVATE\""));
        assert!(out.contains("\"fd\": -1"));
    }

    #[test]
    fn pipes_data_extra_and_files() {
        let out = image("tree", "pipes-data.img", Style::PRETTY);
        assert!(out.contains(
            "\"pipe_id\": 188586,\n            \"bytes\": 0,\n            \"size\": 65536,\n            \"extra\": \"\"\n"
        ));
        let files = image("tree", "files.img", Style::PRETTY);
        assert!(files.contains("\"flags\": \"O_RDWR | O_LARGEFILE\","));
        assert!(files.contains("\"type\": \"PIPE\""));
        assert!(files.contains("\"flags\": \"0x1\","));
    }

    #[test]
    fn every_fixture_image_renders() {
        for fixture in ["counter", "sigstate", "tree", "threads", "openfile"] {
            for f in std::fs::read_dir(format!("{FIX}/{fixture}/images")).expect("dir") {
                let path = f.expect("entry").path();
                let name = path.file_name().and_then(|n| n.to_str()).expect("name");
                let data = std::fs::read(&path).expect("read");
                let result = image_to_json(&data, Style::PRETTY);
                if name.starts_with("pages-") {
                    assert!(result.is_err());
                } else {
                    let out = result.unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert!(!out.contains("unknown_"), "{name}");
                }
            }
        }
    }

    #[test]
    fn unknown_fields_are_kept() {
        // pstree_entry with pid=5, an unknown varint tag 9 = 7 and an
        // unknown length-delimited tag 10 = "hi".
        let msg = [0x08, 5, 0x48, 7, 0x52, 2, b'h', b'i'];
        let mut out = String::new();
        message_to_json_with(&schema::PSTREE_ENTRY, &msg, Style::COMPACT, &mut out)
            .expect("render");
        assert_eq!(
            out,
            "{\"pid\": 5, \"unknown_9\": [7], \"unknown_10\": [\"aGk=\\n\"]}"
        );
        // A known field with the wrong wire type is kept too.
        let msg = [0x0d, 1, 0, 0, 0];
        out.clear();
        message_to_json_with(&schema::PSTREE_ENTRY, &msg, Style::COMPACT, &mut out)
            .expect("render");
        assert_eq!(out, "{\"unknown_1\": [1]}");
    }

    #[test]
    fn packed_and_repeated() {
        // threads (tag 5) unpacked 1, then packed [2, 300].
        let msg = [0x28, 1, 0x2a, 3, 2, 0xac, 0x02];
        let mut out = String::new();
        message_to_json_with(&schema::PSTREE_ENTRY, &msg, Style::COMPACT, &mut out)
            .expect("render");
        assert_eq!(out, "{\"threads\": [1, 2, 300]}");
    }

    #[test]
    fn hostile_input_errors() {
        let err = |desc: &MsgDesc, b: &[u8]| {
            let mut out = String::new();
            let e = message_to_json(desc, b, &mut out).expect_err("should fail");
            assert!(out.is_empty());
            e
        };
        let e = err(&schema::PSTREE_ENTRY, &[0x08, 0x80]);
        assert_eq!((e.offset, e.field.as_str()), (1, "pstree_entry.pid"));
        assert!(e.message.contains("truncated varint"));
        let e = err(&schema::PSTREE_ENTRY, &[0x0f, 0]);
        assert!(e.message.contains("bad wire type 7"), "{e}");
        let e = err(&schema::CORE_ENTRY, &[0x12, 0x05, 0x08]);
        assert_eq!((e.offset, e.field.as_str()), (1, "core_entry.thread_info"));
        assert!(e.message.contains("past the end"));
        let e = err(&schema::PSTREE_ENTRY, &[0x00, 1]);
        assert!(e.message.contains("invalid field number 0"));
        // Error offsets inside nested messages are absolute.
        let e = err(&schema::CORE_ENTRY, &[0x08, 1, 0x12, 0x02, 0x08, 0xff]);
        assert_eq!(e.offset, 5);
        assert_eq!(e.field, "core_entry.thread_info.clear_tid_addr");
        // Unknown magic, truncated record, extra past the end.
        assert!(image_to_json(&[1, 2, 3], Style::PRETTY).is_err());
        let mut img = vec![
            0x19, 0x43, 0x56, 0x54, 0x47, 0x38, 0x05, 0x55, 9, 0, 0, 0, 8,
        ];
        assert!(image_to_json(&img, Style::PRETTY)
            .expect_err("truncated")
            .message
            .contains("past the end"));
        img.truncate(8);
        img.extend_from_slice(&[1, 0]);
        assert!(image_to_json(&img, Style::PRETTY)
            .expect_err("partial length")
            .message
            .contains("truncated record length"));
        let pipes = [
            0x19, 0x43, 0x56, 0x54, 0x09, 0x37, 0x45, 0x56, 4, 0, 0, 0, 0x08, 1, 0x10, 9, b'x',
        ];
        assert!(image_to_json(&pipes, Style::PRETTY)
            .expect_err("extra")
            .field
            .contains("extra"));
    }

    #[test]
    fn framing_errors_name_file_offsets() {
        // Common magic, PSTREE magic, then records.
        let head = [0x19, 0x43, 0x56, 0x54, 0x30, 0x30, 0x27, 0x50];
        let image = |records: &[&[u8]]| {
            let mut v = head.to_vec();
            for r in records {
                v.extend_from_slice(r);
            }
            v
        };
        // Record 1 (at byte 14) claims 255 bytes.
        let e = image_to_json(
            &image(&[&[2, 0, 0, 0, 8, 1], &[255, 0, 0, 0, 8]]),
            Style::PLAIN,
        )
        .expect_err("oversized");
        assert_eq!(
            (e.offset, e.field.as_str()),
            (14, "record 1 (pstree_entry)")
        );
        assert_eq!(
            e.message,
            "record length 255 runs past the end of the file (1 bytes left)"
        );
        // Record 1's body starts at byte 18; its bad key is there.
        let e = image_to_json(
            &image(&[&[2, 0, 0, 0, 8, 1], &[2, 0, 0, 0, 0x0f, 0]]),
            Style::PLAIN,
        )
        .expect_err("bad wire type");
        assert_eq!((e.offset, e.field.as_str()), (18, "pstree_entry.pid"));
        // Extra bytes past the end of a pipes-data file: 9 announced, 1 there.
        let pipes = [
            0x19, 0x43, 0x56, 0x54, 0x09, 0x37, 0x45, 0x56, 4, 0, 0, 0, 0x08, 1, 0x10, 9, b'x',
        ];
        let e = image_to_json(&pipes, Style::PLAIN).expect_err("extra");
        assert_eq!(
            (e.offset, e.field.as_str()),
            (8, "record 0 extra (bytes = 9)")
        );
        // A common header on a service image.
        let stats = [0x19, 0x43, 0x56, 0x54, 0x06, 0x33, 0x09, 0x57];
        let e = image_to_json(&stats, Style::PLAIN).expect_err("header");
        assert_eq!(e.offset, 0);
        assert!(
            e.message.contains("STATS image: wrong magic 0x54564319"),
            "{e}"
        );
    }

    #[test]
    fn deep_nesting_is_rejected() {
        // stats_entry.dump is a message; build 70 levels of a message that
        // nests itself through an unknown-free path: core_entry.thread_info
        // cannot recurse, so use a self-referencing descriptor.
        static NODE: MsgDesc = MsgDesc {
            name: "node",
            fields: &[FieldDesc {
                tag: 1,
                name: "child",
                kind: Kind::Message(&NODE),
                label: crate::images::desc::Label::Optional,
                fmt: Fmt::Plain,
            }],
        };
        let mut msg: Vec<u8> = Vec::new();
        for _ in 0..70 {
            let mut outer = vec![0x0a];
            let mut len = msg.len();
            loop {
                let b = (len & 0x7f) as u8;
                len >>= 7;
                if len == 0 {
                    outer.push(b);
                    break;
                }
                outer.push(b | 0x80);
            }
            outer.extend_from_slice(&msg);
            msg = outer;
        }
        let mut out = String::new();
        let e = message_to_json(&NODE, &msg, &mut out).expect_err("too deep");
        assert!(e.message.contains("deeper than 64"), "{e}");
        // 60 levels are fine.
        let shallow = &msg[msg.len() - 120..];
        assert!(message_to_json(&NODE, shallow, &mut out).is_ok());
    }

    #[test]
    fn formatting_helpers() {
        assert_eq!(base64_mime(b""), "");
        assert_eq!(base64_mime(b"hello"), "aGVsbG8=\n");
        assert_eq!(base64_mime(&[0u8; 58]).lines().count(), 2);
        assert_eq!(flags_string(0, &schema::MMAP_PROT), "");
        assert_eq!(
            flags_string(0x45, &schema::MMAP_PROT),
            "PROT_READ | PROT_EXEC | 0x40"
        );
        assert_eq!(hex_string(-1), "-0x1");
        assert_eq!(compress_ipv6(&[0, 0, 0, 0, 0, 0, 0, 1]), "::1");
        assert_eq!(
            compress_ipv6(&[0xfe80, 0, 0, 0, 1, 0, 0, 2]),
            "fe80::1:0:0:2"
        );
        assert_eq!(compress_ipv6(&[1, 0, 2, 0, 3, 0, 4, 0]), "1:0:2:0:3:0:4:0");
        let mut s = String::new();
        write_string("a\"\u{7f}é😀\n", &mut s);
        assert_eq!(s, "\"a\\\"\\u007f\\u00e9\\ud83d\\ude00\\n\"");
    }
}
