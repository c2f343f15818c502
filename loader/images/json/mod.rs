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

use super::desc::MsgDesc;
use super::magic::{self, Header, ImageKind};
use super::{Image, ImageError, ImageErrorKind};
use std::fmt;

mod extra;

/// How many bytes after the record `body` of an image of `kind` belong
/// to it (System V objects' values, messages and data; 0 for most kinds).
pub(crate) fn extra_length(kind: &magic::ImageKind, index: usize, body: &[u8], rest: &[u8]) -> u64 {
    extra::length(kind, index, body, rest)
}
#[cfg(test)]
mod tests;
mod text;
mod wire;

use text::*;
use wire::*;

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
        |index, body, rest| Ok(extra::length(kind, index, body, rest)),
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
        let extra = &image.data[record.extra.clone()];
        if let Some(v) = extra::value(kind, index, body, extra, record.extra.start, style)? {
            if let Value::Obj(fields) = &mut value {
                fields.push(("extra".to_string(), v));
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
                        kind.extra.bytes_field().unwrap_or("extra"),
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
