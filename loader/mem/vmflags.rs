//! The flags of each VMA that /proc/PID/maps does not show: the two-letter
//! `VmFlags:` of /proc/PID/smaps, turned into what CRIU's `vma_entry`
//! keeps of them: mmap flags (`flags`: locked, no-reserve, droppable, ...)
//! and the madvise advice given (`madv`, one bit per MADV_* number).

use std::collections::HashMap;

use crate::dump::DumpError;
use crate::images::schema::VmaEntry;

/// mmap's MAP_DROPPABLE (Linux 6.11; no libc constant yet): pages the
/// kernel may drop under pressure, read back as zeros.
pub const MAP_DROPPABLE: u32 = 0x08;

/// `VmFlags:` of every VMA of `pid`, by start address.
pub fn read(pid: i32) -> Result<HashMap<u64, String>, DumpError> {
    let path = format!("/proc/{pid}/smaps");
    let text = std::fs::read_to_string(&path).map_err(|e| DumpError::file(&path, e))?;
    let mut out = HashMap::new();
    let mut start = None;
    for line in text.lines() {
        if let Some(flags) = line.strip_prefix("VmFlags:") {
            if let Some(s) = start.take() {
                out.insert(s, flags.trim().to_string());
            }
            continue;
        }
        // A VMA's first line: "start-end perms offset dev inode [path]".
        let range = line.split(' ').next().unwrap_or("");
        if let Some((s, e)) = range.split_once('-') {
            if let (Ok(s), true) = (
                u64::from_str_radix(s, 16),
                u64::from_str_radix(e, 16).is_ok(),
            ) {
                start = Some(s);
            }
        }
    }
    Ok(out)
}

/// Applies `VmFlags` `flags` to `e`; refuses, naming the VMA, what crest
/// cannot restore: hugetlb pages, shadow stacks, I/O or PFN mappings.
pub fn apply(e: &mut VmaEntry, flags: &str, what: &str) -> Result<(), String> {
    let mut madv = 0u64;
    for f in flags.split_whitespace() {
        match f {
            "gd" => e.flags |= libc::MAP_GROWSDOWN as u32,
            "lo" => e.flags |= libc::MAP_LOCKED as u32,
            "nr" => e.flags |= libc::MAP_NORESERVE as u32,
            "dp" => e.flags = (e.flags & !(libc::MAP_PRIVATE as u32)) | MAP_DROPPABLE,
            "sr" => madv |= 1 << libc::MADV_SEQUENTIAL,
            "rr" => madv |= 1 << libc::MADV_RANDOM,
            "dc" => madv |= 1 << libc::MADV_DONTFORK,
            "dd" => madv |= 1 << libc::MADV_DONTDUMP,
            "mg" => madv |= 1 << libc::MADV_MERGEABLE,
            "hg" => madv |= 1 << libc::MADV_HUGEPAGE,
            "nh" => madv |= 1 << libc::MADV_NOHUGEPAGE,
            "wf" => madv |= 1 << libc::MADV_WIPEONFORK,
            "ht" => return Err(format!("{what}: hugetlb memory is not dumped")),
            "ss" => return Err(format!("{what}: a shadow stack is not dumped")),
            _ => {}
        }
    }
    e.madv = (madv != 0).then_some(madv);
    Ok(())
}
