//! The premap's shared memory: shmem objects made as memfds and filled
//! before the first fork, System V segments filled and attached into
//! their slots. Part of the premap's named unsafe module.

use crate::sys;

use super::super::RestoreError;
use crate::mem::plan::{self as mem, Shmem};

/// Creates each shmem object as a memfd (as CRIU does) with its contents;
/// returns shmid -> descriptor.
pub fn create_shmem(
    objects: &[Shmem],
) -> Result<std::collections::HashMap<u64, i32>, RestoreError> {
    let mut fds = std::collections::HashMap::new();
    for s in objects {
        let fail = |what: &str, e: std::io::Error| {
            RestoreError::sys(0, format!("shmem {:#x}: {what}", s.shmid), e)
        };
        let name = match &s.memfd {
            Some(m) => std::ffi::CString::new(m.name.as_bytes()).map_err(|_| {
                RestoreError::Inconsistent(format!("memfd.img: name {:?} has a NUL byte", m.name))
            })?,
            None => std::ffi::CString::default(),
        };
        let fd = sys::memfd(&name, s.size, s.memfd.is_some()).map_err(|e| fail("memfd", e))?;
        fds.insert(s.shmid, fd);
        fill_shmem(s, fd)?;
        if let Some(m) = &s.memfd {
            // Owner and mode, then the seals: last, as they may forbid writes.
            sys::set_owner_mode(fd, m.uid, m.gid, m.mode.unwrap_or(0o777))
                .map_err(|e| fail("fchown/fchmod", e))?;
            if m.seals != 0 {
                sys::add_seals(fd, m.seals).map_err(|e| fail("F_ADD_SEALS", e))?;
            }
        }
    }
    Ok(fds)
}

/// Writes shmem object `s`'s dumped pages into it (through `fd`).
fn fill_shmem(s: &Shmem, fd: i32) -> Result<(), RestoreError> {
    let Some((runs, path, file)) = &s.pages else {
        return Ok(());
    };
    if runs.is_empty() {
        return Ok(()); // an empty object: nothing to map
    }
    let at = sys::mmap(
        0,
        s.size,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_SHARED,
        fd,
        0,
    )
    .map_err(|e| RestoreError::sys(0, format!("shmem {:#x}: mmap", s.shmid), e))?;
    // SAFETY: `at` maps all `size` bytes of the object writable, just above.
    let result = unsafe { fill_runs(at, s.size, runs, path, file) }
        .map_err(|m| RestoreError::Inconsistent(format!("shmem {:#x}: {m}", s.shmid)));
    // SAFETY: `at` is the mapping made above; nothing refers to it.
    let _ = unsafe { sys::munmap(at, s.size) };
    result
}

/// Reads each present run of `runs` (offsets in an object of `size`
/// bytes) from `file` into the object, mapped at `at`.
///
/// # Safety
/// `[at, at + size)` is a writable mapping of the caller's that nothing
/// else refers to.
unsafe fn fill_runs(
    at: u64,
    size: u64,
    runs: &[crate::images::pagemap::PageRun],
    path: &std::path::Path,
    file: &std::fs::File,
) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    for r in runs {
        let Some(off) = r.file_off else { continue };
        let len = r
            .nr_pages
            .checked_mul(crate::images::flags::PAGE)
            .filter(|&l| {
                let pages_end =
                    size.div_ceil(crate::images::flags::PAGE) * crate::images::flags::PAGE;
                r.vaddr.checked_add(l).is_some_and(|e| e <= pages_end)
            })
            .ok_or_else(|| {
                format!(
                    "{}: pages at {:#x} lie outside the object",
                    path.display(),
                    r.vaddr
                )
            })?;
        // SAFETY: [vaddr, vaddr + len) lies inside the object's pages
        // (checked just above), which the caller maps writable at `at`.
        match unsafe { sys::preadv(file.as_raw_fd(), &[(at + r.vaddr, len)], off) } {
            Ok(n) if n as u64 == len => {}
            Ok(_) => return Err(format!("{}: ends early", path.display())),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    Ok(())
}

/// Fills System V segment `id` (`size` bytes), already created, from its
/// dumped contents: pages (`pagemap-shmem-<id>.img`) or the bytes that
/// followed its record in old images.
pub(crate) fn fill_sysv(
    id: i32,
    size: u64,
    content: &crate::ipc::ShmContent,
) -> Result<(), String> {
    use crate::ipc::ShmContent;
    if matches!(content, ShmContent::Zero) {
        return Ok(());
    }
    let at = sys::ipc::shmat_anywhere(id, 0).map_err(|e| format!("shmat: {e}"))?;
    let mapped = crate::blob::page_up(size);
    let result = match content {
        ShmContent::Zero => Ok(()),
        // SAFETY: the attachment made above maps the whole segment
        // (size bytes, page-rounded) writable, and nothing refers to it.
        ShmContent::Pages(runs, path, file) => unsafe { fill_runs(at, mapped, runs, path, file) },
        ShmContent::Inline(bytes) if bytes.len() as u64 <= mapped => {
            // SAFETY: as above; bytes fit in the attachment (checked).
            unsafe { sys::write_mem(at, bytes) };
            Ok(())
        }
        ShmContent::Inline(bytes) => Err(format!("{} bytes of data for {size} bytes", bytes.len())),
    };
    // SAFETY: the attachment made above; nothing refers to it any more.
    let _ = unsafe { sys::ipc::shmdt(at) };
    result
}

/// Attaches System V segment `id` and moves the part the dumped VMA `p`
/// covers into its slot at `slot` (the rest is detached again), with the
/// dumped protection.
pub(super) fn attach_sysv(p: &mem::Premap, id: i32, slot: u64) -> Result<(), String> {
    let what = || format!("System V segment {id} (attached at {:#x})", p.start);
    let mut ds = sys::ipc::ShmDs::default();
    sys::ipc::shmctl(id, libc::IPC_STAT, &mut ds)
        .map_err(|e| format!("{}: IPC_STAT: {e}", what()))?;
    let mapped = crate::blob::page_up(ds.segsz);
    if p.pgoff.checked_add(p.len).is_none_or(|e| e > mapped) {
        return Err(format!(
            "{}: the vma maps {} bytes at offset {:#x} of a {}-byte segment",
            what(),
            p.len,
            p.pgoff,
            ds.segsz
        ));
    }
    let mut flags = 0;
    if p.prot & libc::PROT_WRITE == 0 {
        flags |= libc::SHM_RDONLY;
    }
    if p.prot & libc::PROT_EXEC != 0 {
        flags |= libc::SHM_EXEC;
    }
    let at = sys::ipc::shmat_anywhere(id, flags).map_err(|e| format!("{}: shmat: {e}", what()))?;
    // SAFETY: [at, at + mapped) is the attachment just made, which nothing
    // refers to; the slot lies in the premap area (checked by `premap`).
    let moved = unsafe { sys::mremap_fixed(at + p.pgoff, p.len, slot) };
    // What is left of the attachment: before and after the moved part.
    // SAFETY: parts of the attachment made above, which nothing uses.
    unsafe {
        if moved.is_err() {
            let _ = sys::ipc::shmdt(at);
        } else {
            if p.pgoff > 0 {
                let _ = sys::munmap(at, p.pgoff);
            }
            let end = p.pgoff + p.len;
            if end < mapped {
                let _ = sys::munmap(at + end, mapped - end);
            }
        }
    }
    moved.map_err(|e| format!("{}: mremap into the premap area: {e}", what()))?;
    let given = libc::PROT_READ
        | if p.prot & libc::PROT_WRITE != 0 {
            libc::PROT_WRITE
        } else {
            0
        }
        | (p.prot & libc::PROT_EXEC);
    if given != p.prot {
        // SAFETY: the slot just filled with the segment; nothing refers to it.
        unsafe { sys::mprotect(slot, p.len, p.prot) }
            .map_err(|e| format!("{}: mprotect: {e}", what()))?;
    }
    Ok(())
}
