//! CRIU image files: the framing (magic words, then `u32` length-prefixed
//! protobuf records), written once here, and the typed records in `schema`.
//!
//! Hostile input is expected: a length prefix is checked against the bytes
//! that remain before anything is sliced (nothing is allocated from it), and
//! every error names the file, the record and the byte offset.

pub mod desc;
pub mod file;
pub mod flags;
pub mod json;
pub mod magic;
pub mod pagemap;
pub mod schema;

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use magic::{Header, IMG_COMMON_MAGIC, IMG_SERVICE_MAGIC};

/// What went wrong with an image file.
#[derive(Debug)]
pub enum ImageErrorKind {
    Io(io::Error),
    /// The file ends inside the magic words.
    ShortHeader {
        len: usize,
    },
    /// The magic words are not the ones this image must have.
    BadMagic {
        found: u32,
        expected: u32,
    },
    /// A record's length prefix or body runs past the end of the file.
    Truncated {
        record: usize,
        offset: usize,
        /// Bytes the record needs from `offset` on; a u64 because the raw
        /// bytes after a body are counted by a field of the record.
        need: u64,
        have: usize,
    },
    /// A record is not valid protobuf for its message.
    Decode {
        record: usize,
        offset: usize,
        err: String,
    },
    /// Well-formed records that say what crest refuses (a count that
    /// overflows, a reference to a parent image, a pages file too short).
    Invalid {
        what: String,
    },
    /// A file that must hold exactly one record holds another number.
    Count {
        expected: &'static str,
        found: usize,
    },
}

/// An image error, naming the file.
#[derive(Debug)]
pub struct ImageError {
    pub path: PathBuf,
    pub kind: ImageErrorKind,
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let name = self.path.display();
        match &self.kind {
            ImageErrorKind::Io(e) if e.kind() == io::ErrorKind::NotFound => {
                write!(f, "{name}: missing image")
            }
            ImageErrorKind::Io(e) => write!(f, "{name}: {e}"),
            ImageErrorKind::ShortHeader { len } => {
                write!(f, "{name}: {len} bytes, too short for the image magic")
            }
            ImageErrorKind::BadMagic { found, expected } => write!(
                f,
                "{name}: wrong magic {found:#010x} (expected {expected:#010x})"
            ),
            ImageErrorKind::Truncated {
                record,
                offset,
                need,
                have,
            } => write!(
                f,
                "{name}: record {record} truncated at byte {offset} (needs {need} bytes, {have} left)"
            ),
            ImageErrorKind::Decode {
                record,
                offset,
                err,
            } => write!(f, "{name}: record {record} at byte {offset}: invalid protobuf: {err}"),
            ImageErrorKind::Invalid { what } => write!(f, "{name}: {what}"),
            ImageErrorKind::Count { expected, found } => {
                write!(f, "{name}: expected {expected} record(s), found {found}")
            }
        }
    }
}

impl std::error::Error for ImageError {}

/// One record: where its length prefix starts, its protobuf body, and the
/// raw bytes that follow it in the few image kinds that have them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: usize,
    pub body: Range<usize>,
    pub extra: Range<usize>,
}

/// A whole image file in memory, split into records.
#[derive(Debug)]
pub struct Image {
    pub path: PathBuf,
    /// The image's own magic (the second word; the only one for inventory).
    pub magic: u32,
    pub data: Vec<u8>,
    pub records: Vec<Record>,
}

/// Number of magic words `magic` is stored with: the inventory has one,
/// every other image the common (or service) magic first.
fn header_for(magic: u32) -> Header {
    magic::by_magic(magic).map_or(Header::Common, |k| k.header)
}

/// The magic words an image with `magic` starts with.
fn header_words(magic: u32) -> Vec<u32> {
    match header_for(magic) {
        Header::Inventory => vec![magic],
        Header::Service => vec![IMG_SERVICE_MAGIC, magic],
        Header::Raw => Vec::new(),
        Header::Common => vec![IMG_COMMON_MAGIC, magic],
    }
}

/// Opens an image file for reading, which must be a regular file: a FIFO
/// would block the reader, a device (a symlink to /dev/zero) never end.
/// Opened non-blocking, then checked.
pub fn open_regular(path: &Path) -> io::Result<std::fs::File> {
    open_sized(path).map(|(f, _)| f)
}

/// As [`open_regular`], with the file's size then (one `statx` for both).
fn open_sized(path: &Path) -> io::Result<(std::fs::File, u64)> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok((f, meta.len()))
}

/// The whole of a regular file (see [`open_regular`]), read up to the
/// size it had when opened.
pub fn read_regular(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let (f, len) = open_sized(path)?;
    let mut data = Vec::with_capacity(len as usize);
    f.take(len).read_to_end(&mut data)?;
    Ok(data)
}

impl Image {
    /// Reads `path`, which must carry `magic`.
    pub fn open(path: &Path, magic: u32) -> Result<Image, ImageError> {
        let data = read_regular(path).map_err(|e| ImageError {
            path: path.into(),
            kind: ImageErrorKind::Io(e),
        })?;
        Image::parse(path, data, magic, |_, _, _| Ok(0))
    }

    /// Splits `data` into records. `extra_len`, given a record body and
    /// the bytes after it, says how many of those belong to the record
    /// (0 for almost every image kind).
    pub fn parse(
        path: &Path,
        data: Vec<u8>,
        magic: u32,
        extra_len: impl Fn(usize, &[u8], &[u8]) -> Result<u64, String>,
    ) -> Result<Image, ImageError> {
        let err = |kind| ImageError {
            path: path.into(),
            kind,
        };
        let words = header_words(magic);
        let mut pos = 0;
        for want in words {
            let found =
                read_u32(&data, pos).ok_or(err(ImageErrorKind::ShortHeader { len: data.len() }))?;
            if found != want {
                return Err(err(ImageErrorKind::BadMagic {
                    found,
                    expected: want,
                }));
            }
            pos += 4;
        }
        let mut records = Vec::new();
        while pos < data.len() {
            let record = records.len();
            let truncated = |need: u64, have: usize| {
                err(ImageErrorKind::Truncated {
                    record,
                    offset: pos,
                    need,
                    have,
                })
            };
            let left = data.len() - pos;
            let len = read_u32(&data, pos).ok_or(truncated(4, left))? as usize;
            if len > left - 4 {
                return Err(truncated(4 + len as u64, left));
            }
            // An empty record cannot hold a message with required fields:
            // refused at once, so that a stream of zeros costs nothing.
            if len == 0 && requires_fields(magic) {
                return Err(err(ImageErrorKind::Decode {
                    record,
                    offset: pos,
                    err: "an empty record, but the message has required fields".into(),
                }));
            }
            let body = pos + 4..pos + 4 + len;
            let extra = extra_len(record, &data[body.clone()], &data[body.end..]).map_err(|e| {
                err(ImageErrorKind::Decode {
                    record,
                    offset: pos,
                    err: e,
                })
            })?;
            let rest = data.len() - body.end;
            if extra > rest as u64 {
                return Err(truncated((4 + len as u64).saturating_add(extra), left));
            }
            let extra = body.end..body.end + extra as usize;
            records.push(Record {
                offset: pos,
                body,
                extra: extra.clone(),
            });
            pos = extra.end;
        }
        Ok(Image {
            path: path.into(),
            magic,
            data,
            records,
        })
    }

    fn error(&self, kind: ImageErrorKind) -> ImageError {
        ImageError {
            path: self.path.clone(),
            kind,
        }
    }

    pub fn body(&self, i: usize) -> &[u8] {
        &self.data[self.records[i].body.clone()]
    }

    /// Decodes record `i` as `M`.
    pub fn decode<M: prost::Message + Default>(&self, i: usize) -> Result<M, ImageError> {
        M::decode(self.body(i)).map_err(|e| {
            self.error(ImageErrorKind::Decode {
                record: i,
                offset: self.records[i].offset,
                err: e.to_string(),
            })
        })
    }

    /// Decodes every record as `M`.
    pub fn decode_all<M: prost::Message + Default>(&self) -> Result<Vec<M>, ImageError> {
        (0..self.records.len()).map(|i| self.decode(i)).collect()
    }

    /// Decodes the only record, which must exist.
    pub fn decode_one<M: prost::Message + Default>(&self) -> Result<M, ImageError> {
        if self.records.len() != 1 {
            return Err(self.error(ImageErrorKind::Count {
                expected: "1",
                found: self.records.len(),
            }));
        }
        self.decode(0)
    }
}

/// Whether the records of images with `magic` have required fields.
fn requires_fields(magic: u32) -> bool {
    magic::by_magic(magic)
        .and_then(|k| k.entry)
        .is_some_and(|d| d.fields.iter().any(|f| f.label == desc::Label::Required))
}

fn read_u32(data: &[u8], pos: usize) -> Option<u32> {
    let b = data.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Builds an image file: magic words, then records.
pub struct ImageWriter {
    data: Vec<u8>,
}

impl ImageWriter {
    pub fn new(magic: u32) -> ImageWriter {
        let mut data = Vec::new();
        let words = header_words(magic);
        for w in words {
            data.extend_from_slice(&w.to_le_bytes());
        }
        ImageWriter { data }
    }

    /// Appends one record: `msg`, then `unknown` (fields this crest does not
    /// know, kept from the record it was read from), then `extra` raw bytes.
    pub fn push_raw(&mut self, msg: &impl prost::Message, unknown: &[u8], extra: &[u8]) {
        let len = msg.encoded_len() + unknown.len();
        self.data.extend_from_slice(&(len as u32).to_le_bytes());
        msg.encode_raw(&mut self.data);
        self.data.extend_from_slice(unknown);
        self.data.extend_from_slice(extra);
    }

    /// Appends one record already encoded.
    pub fn push_encoded(&mut self, body: &[u8]) {
        self.data
            .extend_from_slice(&(body.len() as u32).to_le_bytes());
        self.data.extend_from_slice(body);
    }

    pub fn push(&mut self, msg: &impl prost::Message) {
        self.push_raw(msg, &[], &[]);
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.data
    }
}

/// A decoded record together with the top-level fields of it that crest's
/// message type does not know, so that a read/write round trip keeps what a
/// newer CRIU wrote. The unknown fields are found with the schema in
/// `schema` (see [`unknown_fields`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Kept<M> {
    pub msg: M,
    pub unknown: Vec<u8>,
}

/// Copies the top-level fields of `body` whose tags `desc` does not list,
/// byte for byte. Fails on malformed wire data.
pub fn unknown_fields(desc: &desc::MsgDesc, body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let start = pos;
        let key = read_varint(body, &mut pos).map_err(wire_error)?;
        let tag = (key >> 3) as u32;
        match key & 7 {
            0 => {
                read_varint(body, &mut pos).map_err(wire_error)?;
            }
            1 => pos = skip(body, pos, 8)?,
            5 => pos = skip(body, pos, 4)?,
            2 => {
                let len = read_varint(body, &mut pos).map_err(wire_error)?;
                let len = usize::try_from(len).map_err(|_| wire_error("length overflow"))?;
                pos = skip(body, pos, len)?;
            }
            w => {
                return Err(wire_error(format!(
                    "unsupported wire type {w} at byte {start}"
                )))
            }
        }
        if desc.field(tag).is_none() {
            out.extend_from_slice(&body[start..pos]);
        }
    }
    Ok(out)
}

fn wire_error(msg: impl Into<String>) -> String {
    msg.into()
}

fn skip(body: &[u8], pos: usize, n: usize) -> Result<usize, String> {
    match pos.checked_add(n) {
        Some(end) if end <= body.len() => Ok(end),
        _ => Err(wire_error("field runs past the end of the record")),
    }
}

/// Reads the varint at `*pos`: at most 10 bytes, and the tenth may only
/// hold the 64th bit.
pub(crate) fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, &'static str> {
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

impl Image {
    /// Decodes record `i` as `M`, keeping the fields `desc` does not know.
    pub fn decode_kept<M: prost::Message + Default>(
        &self,
        i: usize,
        desc: &desc::MsgDesc,
    ) -> Result<Kept<M>, ImageError> {
        let msg = self.decode(i)?;
        let unknown = unknown_fields(desc, self.body(i)).map_err(|e| {
            self.error(ImageErrorKind::Decode {
                record: i,
                offset: self.records[i].offset,
                err: e,
            })
        })?;
        Ok(Kept { msg, unknown })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORE: u32 = 0x5505_3847;

    fn image_bytes(records: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&IMG_COMMON_MAGIC.to_le_bytes());
        v.extend_from_slice(&CORE.to_le_bytes());
        for r in records {
            v.extend_from_slice(&(r.len() as u32).to_le_bytes());
            v.extend_from_slice(r);
        }
        v
    }

    #[test]
    fn splits_records() {
        let img = Image::parse(
            Path::new("x.img"),
            image_bytes(&[b"\x08\x01", b"\x08\x02"]),
            CORE,
            |_, _, _| Ok(0),
        )
        .expect("test setup");
        assert_eq!(img.records.len(), 2);
        assert_eq!(img.body(0), b"\x08\x01");
        assert_eq!(img.records[1].offset, 14);
    }

    #[test]
    fn empty_record_of_a_message_with_required_fields_is_refused() {
        let e = Image::parse(
            Path::new("core-1.img"),
            image_bytes(&[b"\x08\x01", b""]),
            CORE,
            |_, _, _| Ok(0),
        )
        .unwrap_err();
        assert!(e.to_string().contains("an empty record"), "{e}");
    }

    #[test]
    fn wrong_magic_is_named() {
        let e = Image::parse(
            Path::new("core-1.img"),
            image_bytes(&[]),
            0x1234,
            |_, _, _| Ok(0),
        )
        .unwrap_err();
        assert!(e.to_string().contains("core-1.img: wrong magic"), "{e}");
    }

    #[test]
    fn oversized_length_is_truncation_not_allocation() {
        let mut v = image_bytes(&[]);
        v.extend_from_slice(&u32::MAX.to_le_bytes());
        v.extend_from_slice(b"abc");
        let e = Image::parse(Path::new("core-1.img"), v, CORE, |_, _, _| Ok(0)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "core-1.img: record 0 truncated at byte 8 (needs 4294967299 bytes, 7 left)"
        );
    }

    #[test]
    fn huge_extra_length_is_truncation_not_overflow() {
        // An extra-bytes count near u64::MAX once overflowed the "needs"
        // arithmetic (a panic with overflow checks on).
        let v = image_bytes(&[b"\x08\x01"]);
        let e =
            Image::parse(Path::new("pipes-data.img"), v, CORE, |_, _, _| Ok(u64::MAX)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "pipes-data.img: record 0 truncated at byte 8 (needs {} bytes, 6 left)",
                u64::MAX
            )
        );
    }

    #[test]
    fn short_length_prefix() {
        let mut v = image_bytes(&[]);
        v.extend_from_slice(&[1, 0]);
        let e = Image::parse(Path::new("p.img"), v, CORE, |_, _, _| Ok(0)).unwrap_err();
        assert!(
            e.to_string().contains("record 0 truncated at byte 8"),
            "{e}"
        );
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        // PstreeEntry knows tags 1..5; tag 99 (varint) and tag 100 (bytes)
        // stand for fields a newer CRIU added.
        let known = schema::PstreeEntry {
            pid: 7,
            ppid: 1,
            pgid: 7,
            sid: 7,
            threads: vec![7],
        };
        let mut body = prost::Message::encode_to_vec(&known);
        let extra = [0x98, 0x06, 0x2a, 0xa2, 0x06, 0x02, b'h', b'i'];
        body.extend_from_slice(&extra);
        let img = Image::parse(
            Path::new("pstree.img"),
            image_bytes(&[&body]),
            CORE,
            |_, _, _| Ok(0),
        )
        .expect("test setup");
        let kept: Kept<schema::PstreeEntry> = img
            .decode_kept(0, &schema::PSTREE_ENTRY)
            .expect("test setup");
        assert_eq!(kept.msg, known);
        assert_eq!(kept.unknown, extra);
        let mut w = ImageWriter::new(CORE);
        w.push_raw(&kept.msg, &kept.unknown, &[]);
        assert_eq!(w.into_bytes(), image_bytes(&[&body]));
    }
}
