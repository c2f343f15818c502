//! Writing the image set: each file recorded as it is created, and all
//! of them removed unless the dump completes.

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::DumpError;
use crate::images::desc::CriuMessage;
use crate::images::file::ImageFile;
use crate::images::schema::PagemapEntry;

/// Files written so far, removed unless the dump completes.
pub(super) struct Written {
    pub(super) paths: Vec<PathBuf>,
    pub(super) done: bool,
}

impl Drop for Written {
    fn drop(&mut self) {
        if !self.done {
            for p in &self.paths {
                let _ = fs::remove_file(p);
            }
        }
    }
}

/// Writes `records` into `file`'s image for object `id`.
pub(super) fn write_image<'a, M: CriuMessage + 'a>(
    dir: &Path,
    file: &ImageFile<M>,
    id: impl std::fmt::Display,
    records: impl IntoIterator<Item = &'a M>,
    written: &mut Written,
) -> Result<(), DumpError> {
    write_bytes(dir, &file.name(id), file.encode(records), written)
}

/// Creates pages-ID.img, to be removed unless the dump completes.
pub(super) fn create_pages(
    dir: &Path,
    pages_id: u32,
    written: &mut Written,
) -> Result<(File, PathBuf), DumpError> {
    let path = dir.join(format!("pages-{pages_id}.img"));
    written.paths.push(path.clone());
    let f = File::create(&path).map_err(|e| DumpError::file(&path, e))?;
    Ok((f, path))
}

/// A pagemap image: its head naming pages-ID.img, then the entries.
pub(super) fn write_pagemap(
    dir: &Path,
    name: &str,
    pages_id: u32,
    entries: &[PagemapEntry],
    written: &mut Written,
) -> Result<(), DumpError> {
    write_bytes(
        dir,
        name,
        crate::images::pagemap::encode(pages_id, entries),
        written,
    )
}

/// Writes one image file of the set (synced with the others at the end).
pub(super) fn write_bytes(
    dir: &Path,
    name: &str,
    bytes: Vec<u8>,
    written: &mut Written,
) -> Result<(), DumpError> {
    let path = dir.join(name);
    written.paths.push(path.clone());
    let f = File::create(&path).map_err(|e| DumpError::file(&path, e))?;
    f.write_all_at(&bytes, 0)
        .map_err(|e| DumpError::file(&path, e))
}
