//! The protobuf wire side of the JSON renderer: splitting a message into
//! field occurrences and turning them into [`Value`]s by the schema.

use super::super::desc::{FieldDesc, Fmt, Kind, MsgDesc};
use super::super::read_varint;
use super::text::{base64_mime, python_float};
use super::{JsonError, Style, MAX_DEPTH};

/// A JSON value; numbers are kept as their final text.
#[derive(Debug)]
pub(super) enum Value {
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Value>),
    Obj(Vec<(String, Value)>),
}

/// The field path, built only when an error is reported.
pub(super) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    name: &'a str,
}

impl<'a> Path<'a> {
    pub(super) fn root(name: &'a str) -> Self {
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
pub(super) enum Raw<'a> {
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
pub(super) struct Occurrence<'a> {
    pub(super) tag: u32,
    pub(super) raw: Raw<'a>,
    data_offset: usize,
}

pub(super) fn read_u32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

pub(super) fn read_fixed<const N: usize>(buf: &[u8], pos: &mut usize) -> Option<[u8; N]> {
    let bytes = buf.get(*pos..pos.checked_add(N)?)?;
    let mut arr = [0u8; N];
    arr.copy_from_slice(bytes);
    *pos += N;
    Some(arr)
}

/// Splits a message into its field occurrences.
pub(super) fn scan<'a>(
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
pub(super) struct FieldPath<'p, 'a> {
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
pub(super) fn wire_type_of(kind: Kind) -> u8 {
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

pub(super) fn decode_message(
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
pub(super) fn decode_field<'o, 'a>(
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
pub(super) enum Scalar {
    Int(i128),
    Bool(bool),
    Float(f64),
    Text(String),
    Enum(i32),
}

pub(super) fn scalar_value(
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
        (Kind::Bytes, Raw::Len(b)) if matches!(field.fmt, Fmt::UnixName) => {
            return Ok(Value::Str(super::text::quoted_printable(b)))
        }
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
            Fmt::Plain | Fmt::Hex | Fmt::Ipaddr | Fmt::UnixName => Value::Num(v.to_string()),
        },
    })
}

pub(super) fn zigzag64(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub(super) fn zigzag32(v: u32) -> i32 {
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

/// Python's `"0x%x" % v`.
pub(super) fn hex_string(v: i128) -> String {
    if v < 0 {
        format!("-0x{:x}", v.unsigned_abs())
    } else {
        format!("0x{v:x}")
    }
}

/// pb2dict's `map_flags`: the names of the set bits, then any bits no name
/// covers in hex, joined by `" | "`.
pub(super) fn flags_string(value: i128, table: &[(u64, &str)]) -> String {
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
pub(super) fn ip_address(occ: &[&Occurrence<'_>], wire: u8) -> Option<String> {
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
pub(super) fn compress_ipv6(h: &[u16; 8]) -> String {
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
pub(super) fn raw_value(raw: Raw<'_>) -> Value {
    match raw {
        Raw::Varint(v) | Raw::Fixed64(v) => Value::Num(v.to_string()),
        Raw::Fixed32(v) => Value::Num(v.to_string()),
        Raw::Len(b) => Value::Str(base64_mime(b)),
    }
}
