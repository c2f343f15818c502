//! Pagemap images and the pages files they index (criu/include/image.h,
//! images/pagemap.proto): a `pagemap_head` naming `pages-<id>.img`, then
//! runs of pages, present ones stored back to back in the pages file.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::flags::{PAGE, PE_PARENT, PE_PRESENT};
use super::magic::PAGEMAP_MAGIC;
use super::schema::{PagemapEntry, PagemapHead};
use super::{Image, ImageError, ImageErrorKind, ImageWriter};

/// One pagemap run: `nr_pages` pages at `vaddr`, and where they start in
/// the pages file (`None`: not present there, e.g. lazy or in a parent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRun {
    pub vaddr: u64,
    pub nr_pages: u64,
    pub file_off: Option<u64>,
}

/// Reads a pagemap image and opens the pages file its head names, which
/// must hold every page it says is present. `check` vets the runs first.
pub fn read<E: From<ImageError>>(
    dir: &Path,
    pm_name: &str,
    check: impl FnOnce(&[PageRun]) -> Result<(), E>,
) -> Result<(Vec<PageRun>, PathBuf, File), E> {
    let pm_path = dir.join(pm_name);
    let bad = |path: &Path, what: String| ImageError {
        path: path.into(),
        kind: ImageErrorKind::Invalid { what },
    };
    let pm = Image::open(&pm_path, PAGEMAP_MAGIC)?;
    if pm.records.is_empty() {
        return Err(bad(&pm_path, "no pagemap head".into()).into());
    }
    let head: PagemapHead = pm.decode(0)?;
    let mut runs = Vec::with_capacity(pm.records.len() - 1);
    let mut off = 0u64;
    for i in 1..pm.records.len() {
        let e: PagemapEntry = pm.decode(i)?;
        // CRIU 4.2 moved the count to field 5 and writes 0 in field 2.
        let nr = e.nr_pages.unwrap_or(0).max(u64::from(e.compat_nr_pages));
        let flags = e.flags.unwrap_or(PE_PRESENT);
        if flags & PE_PARENT != 0 || e.in_parent == Some(true) {
            return Err(bad(
                &pm_path,
                format!(
                    "entry {i} at {:#x} refers to a parent image (incremental dumps are not supported)",
                    e.vaddr
                ),
            )
            .into());
        }
        let present = flags & PE_PRESENT != 0;
        runs.push(PageRun {
            vaddr: e.vaddr,
            nr_pages: nr,
            file_off: present.then_some(off),
        });
        if present {
            off = nr
                .checked_mul(PAGE)
                .and_then(|b| off.checked_add(b))
                .ok_or_else(|| bad(&pm_path, format!("entry {i}: page count {nr} overflows")))?;
        }
    }
    check(&runs)?;
    let pages_name = format!("pages-{}.img", head.pages_id);
    let pages_path = dir.join(&pages_name);
    let io = |kind| ImageError {
        path: pages_path.clone(),
        kind: ImageErrorKind::Io(kind),
    };
    let pages: File = super::open_regular(&pages_path).map_err(io)?;
    let pages_len = pages.metadata().map_err(io)?.len();
    if pages_len < off {
        return Err(bad(
            &pages_path,
            format!(
                "{pages_len} bytes, but {pm_name} needs {off} ({} pages)",
                off / PAGE
            ),
        )
        .into());
    }
    Ok((runs, pages_path, pages))
}

/// The bytes of a pagemap image: its head naming `pages-<pages_id>.img`,
/// then the entries.
pub fn encode(pages_id: u32, entries: &[PagemapEntry]) -> Vec<u8> {
    let mut w = ImageWriter::new(PAGEMAP_MAGIC);
    w.push(&PagemapHead { pages_id });
    for e in entries {
        w.push(e);
    }
    w.into_bytes()
}
