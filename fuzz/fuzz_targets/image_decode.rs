//! Arbitrary bytes as a CRIU image file, through both readers:
//!
//! 1. the framing (`Image::parse`) with the magic the bytes claim, or with
//!    one picked by the first byte when they claim none crest knows, then
//!    every record decoded with its typed prost message, the fields the
//!    schema does not know split off with `unknown_fields`, and the record
//!    written back and read again;
//! 2. the crit-style JSON renderer, plain and pretty.
//!
//! Errors are expected; panics, hangs and huge allocations are the bugs.
#![no_main]

use std::path::Path;

use crest::images::json::{image_to_json, Style};
use crest::images::magic::{self, Header, IMG_COMMON_MAGIC, IMG_SERVICE_MAGIC};
use crest::images::{desc, schema, unknown_fields, Image, ImageWriter};
use libfuzzer_sys::fuzz_target;
use prost::Message;

/// Magics tried when the input names none crest knows.
const MAGICS: [&str; 8] = [
    "CORE",
    "MM",
    "PAGEMAP",
    "INVENTORY",
    "PSTREE",
    "PIPES_DATA",
    "FILES",
    "STATS",
];

fn claimed_magic(data: &[u8]) -> Option<u32> {
    let word = |i: usize| {
        let b = data.get(i..i + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    match word(0)? {
        IMG_COMMON_MAGIC | IMG_SERVICE_MAGIC => word(4),
        m => Some(m),
    }
    .filter(|m| magic::by_magic(*m).is_some())
}

/// Decodes record `i` as `M`, splits off its unknown fields, writes both
/// back and checks the copy decodes to the same message.
fn record<M: Message + Default + PartialEq + std::fmt::Debug>(
    img: &Image,
    i: usize,
    desc: &desc::MsgDesc,
) {
    let Ok(msg) = img.decode::<M>(i) else {
        return;
    };
    let Ok(unknown) = unknown_fields(desc, img.body(i)) else {
        return;
    };
    let mut w = ImageWriter::new(img.magic);
    w.push_raw(&msg, &unknown, &[]);
    let copy = Image::parse(Path::new("copy"), w.into_bytes(), img.magic, |_, _| Ok(0))
        .expect("crest's own image frames");
    assert_eq!(
        copy.decode::<M>(0).expect("crest's own record decodes"),
        msg
    );
}

fn typed(img: &Image, name: &str) {
    for i in 0..img.records.len() {
        match name {
            "CORE" => record::<schema::CoreEntry>(img, i, &schema::CORE_ENTRY),
            "MM" => record::<schema::MmEntry>(img, i, &schema::MM_ENTRY),
            "PAGEMAP" if i == 0 => record::<schema::PagemapHead>(img, i, &schema::PAGEMAP_HEAD),
            "PAGEMAP" => record::<schema::PagemapEntry>(img, i, &schema::PAGEMAP_ENTRY),
            "INVENTORY" => record::<schema::InventoryEntry>(img, i, &schema::INVENTORY_ENTRY),
            "PSTREE" => record::<schema::PstreeEntry>(img, i, &schema::PSTREE_ENTRY),
            "PIPES_DATA" => record::<schema::PipeDataEntry>(img, i, &schema::PIPE_DATA_ENTRY),
            "FILES" => record::<schema::FileEntry>(img, i, &schema::FILE_ENTRY),
            "FDINFO" => record::<schema::FdinfoEntry>(img, i, &schema::FDINFO_ENTRY),
            "IDS" => record::<schema::TaskKobjIdsEntry>(img, i, &schema::TASK_KOBJ_IDS_ENTRY),
            "FS" => record::<schema::FsEntry>(img, i, &schema::FS_ENTRY),
            "SECCOMP" => record::<schema::SeccompEntry>(img, i, &schema::SECCOMP_ENTRY),
            "TIMENS" => record::<schema::TimensEntry>(img, i, &schema::TIMENS_ENTRY),
            "STATS" => record::<schema::StatsEntry>(img, i, &schema::STATS_ENTRY),
            _ => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let kind = match claimed_magic(data) {
        Some(m) => magic::by_magic(m),
        None => data
            .first()
            .and_then(|b| magic::by_name(MAGICS[usize::from(*b) % MAGICS.len()])),
    };
    if let Some(kind) = kind.filter(|k| k.header != Header::Raw) {
        let pipes = kind.extra.bytes_field().is_some();
        let parsed = Image::parse(Path::new("fuzz.img"), data.to_vec(), kind.magic, |body, _| {
            if !pipes {
                return Ok(0);
            }
            schema::PipeDataEntry::decode(body)
                .map(|e| u64::from(e.bytes))
                .map_err(|e| e.to_string())
        });
        if let Ok(img) = parsed {
            typed(&img, kind.name);
        }
    }
    let _ = image_to_json(data, Style::PLAIN);
    let _ = image_to_json(data, Style::PRETTY);
});
