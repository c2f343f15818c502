//! Premapping, the second of the restore's named unsafe modules (with
//! `hole`): in each forked task, every dumped VMA is mapped into its slot
//! of the premap area, filled from the pages file (a proxied vdso gets its
//! trampolines), given its protection and advice; then the blob and its
//! arguments are put in place. The loader also fills each shmem object
//! here before the first fork. Every address written to is checked
//! against the task's reservation first; the SAFETY lines cite the check.

use std::collections::HashMap;

use crate::blob;
use crate::sys;

use super::hole::{Reservation, RESERVE};
use super::task::TaskPlan;
use super::{images, vdso};
use crate::mem::plan::{self as mem};

mod shmem;
use shmem::attach_sysv;
pub use shmem::create_shmem;
pub(crate) use shmem::fill_sysv;

/// Marks the VMAs of a lone task's `mem` that are premapped at their
/// dumped addresses, and reserves those ranges in `res`: each range none
/// of the loader's mappings holds, away from where the loader's stack may
/// still grow (its limit and a guard gap below it). Not System V segments
/// (attached at their slots) nor anything shared with a parent or child.
pub(crate) fn choose_in_place(res: &mut Reservation, mem: &mut mem::MemPlan, own_maps: &str) {
    let stack = own_maps
        .lines()
        .filter_map(|l| crate::proc::parse_maps(l).ok()?.pop())
        .find(|m| m.path == "[stack]");
    let Some(stack_end) = stack.map(|m| m.end) else {
        return;
    };
    const GUARD: u64 = 2 << 20;
    let reach = match sys::getrlimit(libc::RLIMIT_STACK) {
        Ok((soft, _)) if soft != libc::RLIM_INFINITY => stack_end.saturating_sub(soft + GUARD),
        _ => 0,
    };
    for p in &mut mem.premaps {
        let near_stack = p.start + p.len > reach && p.start < stack_end;
        if p.sysv.is_some() || p.inherit.is_some() || p.passed_on || near_stack {
            continue;
        }
        p.in_place = res.reserve_in_place(p.start, p.len);
    }
}

/// Writes the trampolines of a proxied vdso into its filled slot.
pub(crate) fn redirect_vdso(
    mem: &mem::MemPlan,
    x: &mem::VdsoProxy,
    area: u64,
) -> Result<(), String> {
    let d = mem.vdso.ok_or("a vdso proxy without a dumped vdso")?;
    let p = mem
        .premap_of(d.vdso_start)
        .ok_or("the proxied vdso has no premap slot")?;
    for r in &x.redirects {
        if r.old.saturating_add(vdso::TRAMPOLINE_LEN as u64) > p.len {
            return Err(format!(
                "vdso entry {:#x} lies outside the dumped vdso",
                r.old
            ));
        }
        let t = vdso::trampoline(x.rt_at + x.rt_text + r.new);
        // SAFETY: the slot is one of this task's premapped, writable (it
        // is filled) slots inside the reservation (checked in `premap`),
        // and the 12 bytes lie inside it (checked just above).
        unsafe { sys::write_mem(p.at(area) + r.old, &t) };
    }
    Ok(())
}

/// Which of a task's premaps one `premap` call maps: those shared with
/// its parent or its children (copy-on-write, `super::cow`), before its
/// children are forked, or the rest after.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pass {
    BeforeFork,
    AfterFork,
}

impl Pass {
    fn has(self, p: &mem::Premap) -> bool {
        (p.passed_on || p.inherit.is_some()) == (self == Pass::BeforeFork)
    }
}

/// Reads every present page run of the premaps of `pass` into its slot,
/// with as few `preadv` calls as the layout allows; in a slot taken over
/// from the parent, only the pages that differ are written.
pub(crate) fn fill_pages(
    task: &images::TaskImages,
    mem: &mem::MemPlan,
    area: u64,
    pass: Pass,
    skip_lazy: bool,
) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    const IOV_MAX: usize = 1024;
    // (destination, length, file offset) segments, merged where both the
    // memory and the file are contiguous; those of inherited slots apart.
    let mut segs: Vec<(u64, u64, u64)> = Vec::new();
    let mut inherited: Vec<(u64, u64, u64)> = Vec::new();
    // Private anonymous slots are filled with UFFDIO_COPY where the
    // kernel lets us: no zeroing of the fresh pages first, no fault per
    // page (`copy_in`). Their segments, and the slots to register.
    let mut copies: Vec<(u64, u64, u64)> = Vec::new();
    let mut copy_slots: Vec<(u64, u64)> = Vec::new();
    // A run may span several VMAs: its pieces, cut at their boundaries.
    for (p, at, len, off) in mem.pieces(&task.runs) {
        let dst = p.at(area) + (at - p.start);
        let lazy = super::lazy::is_lazy(mem, p);
        if !pass.has(p) || (skip_lazy && lazy) {
            continue;
        }
        let list = if p.inherit.is_some() {
            &mut inherited
        } else if lazy {
            let slot = (p.at(area), p.len);
            if copy_slots.last() != Some(&slot) {
                copy_slots.push(slot);
            }
            &mut copies
        } else {
            &mut segs
        };
        // A UFFDIO_COPY stays inside one VMA: copies merge only within
        // their slot.
        let slot_at = if lazy { p.at(area) } else { 0 };
        match list.last_mut() {
            Some(last) if last.0 + last.1 == dst && last.2 + last.1 == off && last.0 >= slot_at => {
                last.1 += len
            }
            _ => list.push((dst, len, off)),
        }
    }
    let fd = task.pages.as_raw_fd();
    if !inherited.is_empty() {
        write_changed(task, &inherited)?;
    }
    if !copies.is_empty() && !copy_in(task, &copy_slots, &copies)? {
        // No userfaultfd here: those are read in like the rest.
        segs.extend(copies);
        segs.sort_unstable_by_key(|s| s.2);
    }
    let mut i = 0;
    while i < segs.len() {
        // One preadv for a run of segments that are contiguous in the file.
        let mut j = i + 1;
        while j < segs.len() && j - i < IOV_MAX && segs[j].2 == segs[j - 1].2 + segs[j - 1].1 {
            j += 1;
        }
        let iov: Vec<(u64, u64)> = segs[i..j].iter().map(|s| (s.0, s.1)).collect();
        // Faulting the pages in one call is much cheaper than one fault
        // per page inside preadv (about a quarter of the fill time here).
        // Only an optimisation: on kernels without it preadv faults them.
        for &(at, len) in &iov {
            // SAFETY: a segment of one premapped slot (built from
            // premap_of above); populating writes nothing.
            let _ = unsafe { sys::madvise(at, len, libc::MADV_POPULATE_WRITE) };
        }
        let want: u64 = iov.iter().map(|s| s.1).sum();
        // SAFETY: every segment lies inside one premapped slot, each
        // piece cut at its VMA's end by premap_of above, and the slots are
        // writable (filled) mappings inside the reservation (`premap`).
        let got = unsafe { sys::preadv(fd, &iov, segs[i].2) }.map_err(|e| {
            format!(
                "{}: reading at {}: {e}",
                task.pages_path.display(),
                segs[i].2
            )
        })? as u64;
        if got == want {
            i = j;
            continue;
        }
        if got == 0 {
            return Err(format!(
                "{}: ends at byte {} (pages missing)",
                task.pages_path.display(),
                segs[i].2
            ));
        }
        // Short read: advance exactly past what arrived and go on.
        let mut left = got;
        while left >= segs[i].1 {
            left -= segs[i].1;
            i += 1;
        }
        segs[i].0 += left;
        segs[i].1 -= left;
        segs[i].2 += left;
    }
    Ok(())
}

/// Fills segments `segs` (destination, length, file offset) of the
/// fresh private anonymous `slots` (address, length) with UFFDIO_COPY
/// from a read-only mapping of the pages file: the kernel allocates each
/// page and copies into it once, where populating first zeroes it and
/// preadv then copies again. False (nothing done) if this kernel or
/// sysctl gives us no userfaultfd.
fn copy_in(
    task: &images::TaskImages,
    slots: &[(u64, u64)],
    segs: &[(u64, u64, u64)],
) -> Result<bool, String> {
    use std::os::fd::AsRawFd;
    use sys::uffd;
    let Ok(u) = uffd::create(0) else {
        return Ok(false);
    };
    let path = task.pages_path.display();
    for &(at, len) in slots {
        // SAFETY: a fresh slot of this task premapped above, which
        // nothing touches until the copies below are done and `u`, with
        // its registrations, is closed.
        unsafe { uffd::register(u.as_raw_fd(), at, len) }
            .map_err(|e| format!("slot {at:#x}: registering with userfaultfd: {e}"))?;
    }
    let size = task
        .pages
        .metadata()
        .map_err(|e| format!("{path}: {e}"))?
        .len();
    let map = sys::mmap(
        0,
        size.max(crate::images::flags::PAGE),
        libc::PROT_READ,
        // Populated: a source page the copy faults on costs it a slow
        // retry outside its locks.
        libc::MAP_SHARED | libc::MAP_POPULATE,
        task.pages.as_raw_fd(),
        0,
    )
    .map_err(|e| format!("{path}: mapping it: {e}"))?;
    let result = segs.iter().try_for_each(|&(dst, len, off)| {
        if off.checked_add(len).is_none_or(|e| e > size) {
            return Err(format!(
                "{path}: ends before byte {} (pages missing)",
                off + len
            ));
        }
        let mut done = 0;
        while done < len {
            // SAFETY: the source lies in our mapping of the pages file
            // (checked against its size above); the destination is a
            // registered fresh slot of ours (above) that holds nothing yet.
            let (n, err) =
                unsafe { uffd::copy(u.as_raw_fd(), dst + done, map + off + done, len - done) };
            done += n;
            match err {
                None => {}
                Some(e) if e.raw_os_error() == Some(libc::EAGAIN) => {}
                // A page the mapping brought in by itself (MAP_LOCKED,
                // MAP_POPULATE): written directly.
                Some(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                    const PAGE: u64 = crate::images::flags::PAGE;
                    let n = PAGE.min(len - done);
                    // SAFETY: both lie where the copy above would have
                    // gone and come from: a page of our writable slot,
                    // premapped above, and of our pages-file mapping.
                    unsafe {
                        let page = sys::read_mem(map + off + done, n as usize);
                        sys::write_mem(dst + done, &page);
                    }
                    done += n;
                }
                Some(e) => return Err(format!("{path}: copying in at {:#x}: {e}", dst + done)),
            }
        }
        Ok(())
    });
    // SAFETY: our own mapping of the pages file, made above, used by
    // nothing else.
    let _ = unsafe { sys::munmap(map, size.max(crate::images::flags::PAGE)) };
    result.map(|()| true)
}

/// Writes the pages of segments `segs` (destination, length, file
/// offset) of slots taken over from the parent where they differ from
/// what is there: an unchanged page stays shared with the parent.
fn write_changed(task: &images::TaskImages, segs: &[(u64, u64, u64)]) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    const PAGE: usize = crate::images::flags::PAGE as usize;
    const CHUNK: usize = 64 * PAGE;
    let mut buf = vec![0u8; CHUNK];
    for &(dst, len, off) in segs {
        let mut done = 0u64;
        while done < len {
            let n = ((len - done) as usize).min(CHUNK);
            sys::pread_exact(task.pages.as_raw_fd(), &mut buf[..n], off + done).map_err(|e| {
                let path = task.pages_path.display();
                match e.kind() {
                    std::io::ErrorKind::UnexpectedEof => {
                        format!("{path}: ends before byte {} (pages missing)", off + len)
                    }
                    _ => format!("{path}: reading at {}: {e}", off + done),
                }
            })?;
            for (i, page) in buf[..n].chunks(PAGE).enumerate() {
                let at = dst + done + (i * PAGE) as u64;
                // SAFETY: `at` is a page of an inherited slot this task
                // premapped readable and writable (it is filled: `premap`),
                // inside the premap range; page lies in buf.
                unsafe {
                    if !sys::same_mem(at, page) {
                        sys::write_mem(at, page);
                    }
                }
            }
            done += n as u64;
        }
    }
    Ok(())
}

/// Maps the premapped VMAs of `pass` of `plan` into their slots of its
/// premap range, taking over those it inherits from its parent's range
/// (`parent`: start, length), and fills them with the dumped pages.
/// After the fork it gives every slot its protection and advice and
/// installs the blob and its arguments. Runs in the forked task; `mark`
/// notes when the slots are mapped and when they are filled
/// (`restorer_blob::MARK_*`).
pub(crate) fn premap(
    plan: &TaskPlan,
    res: &Reservation,
    shmem: &HashMap<u64, i32>,
    parent: Option<(u64, u64)>,
    pass: Pass,
    mark: &dyn Fn(usize),
    lazy: Option<&dyn Fn() -> Result<(), String>>,
) -> Result<(), String> {
    let area = plan.premap_at;
    // Everything below is written inside these ranges of our own
    // reservation.
    if !res.holds(area, plan.mem.premap_len)
        || !res.holds(plan.blob_at, plan.stack_top - plan.blob_at)
        || parent.is_some_and(|(at, len)| !res.holds(at, len))
    {
        return Err(format!(
            "premap area {area:#x}+{:#x}, the parent's or restorer {:#x}-{:#x} outside the \
             reservation",
            plan.mem.premap_len, plan.blob_at, plan.stack_top
        ));
    }
    let prot_of = |p: &mem::Premap| {
        if p.filled {
            p.prot | libc::PROT_READ | libc::PROT_WRITE
        } else {
            p.prot
        }
    };
    let mine = |p: &&mem::Premap| pass.has(p);
    for p in plan.mem.premaps.iter().filter(mine) {
        if p.slot
            .checked_add(p.len)
            .is_none_or(|e| e > plan.mem.premap_len)
        {
            return Err(format!("vma {:#x}: slot outside the premap area", p.start));
        }
        if p.in_place && !res.holds(p.start, p.len) {
            return Err(format!("vma {:#x}: its own range is not reserved", p.start));
        }
    }
    // First what we take over of the parent's, then its range reserved
    // again right away (the moves left holes in it) and emptied, before
    // anything of ours could be mapped there.
    for p in plan.mem.premaps.iter().filter(mine) {
        if let Some(inh) = &p.inherit {
            take_over(p, inh, p.at(area), prot_of(p), parent)?;
        }
    }
    if let (Pass::BeforeFork, Some((at, len))) = (pass, parent) {
        if len > 0 {
            // SAFETY: the parent's range lies in our reservation (checked
            // above); what it holds now is our copy of the parent's slots,
            // which nothing of ours uses once ours are taken over.
            unsafe { sys::mmap_fixed(at, len, libc::PROT_NONE, RESERVE, -1, 0) }
                .map_err(|e| format!("reserving the parent's premap range again: {e}"))?;
        }
    }
    // A file mapped by several VMAs (a binary's segments) is opened once.
    let mut opened: Vec<(&(std::ffi::CString, i32), i32)> = Vec::new();
    let mapped = plan.mem.premaps.iter().filter(mine).try_for_each(|p| {
        let at = p.at(area);
        if p.inherit.is_some() {
            return Ok(());
        }
        if let Some(id) = p.sysv {
            return attach_sysv(p, id, at);
        }
        let prot = prot_of(p);
        let (fd, what) = match (&p.file, p.shmid) {
            (Some(file), _) => {
                let fd = match opened.iter().find(|o| o.0 == file) {
                    Some(o) => o.1,
                    None => {
                        let fd = sys::open(&file.0, file.1, 0)
                            .map_err(|e| format!("{:?} (mapped at {:#x}): {e}", file.0, p.start))?;
                        opened.push((file, fd));
                        fd
                    }
                };
                (fd, file.0.to_string_lossy().into_owned())
            }
            (None, Some(shmid)) => {
                let fd = *shmem
                    .get(&shmid)
                    .ok_or(format!("shmem {shmid:#x} was not created"))?;
                (fd, format!("shared anonymous {shmid:#x}"))
            }
            (None, None) => (-1, "anonymous".to_string()),
        };
        // SAFETY: the slot lies in the premap area, or an in-place VMA's
        // own range (both checked above), parts of our reservation:
        // nothing of the loader lives there.
        let r = unsafe { sys::mmap_fixed(at, p.len, prot, p.flags, fd, p.pgoff) };
        // The descriptor stays open: a file's for its next VMA (closed
        // below), a shmem object's is the loader's.
        r.map(|_| ()).map_err(|e| {
            format!(
                "premapping {what} vma {:#x}-{:#x}: {e}",
                p.start,
                p.start + p.len
            )
        })
    });
    for (_, fd) in opened {
        sys::close(fd);
    }
    mapped?;
    // The slots of VMAs mapped in place stay empty, not reserved: the
    // blob keeps the premap area as it is.
    for p in plan.mem.premaps.iter().filter(mine).filter(|p| p.in_place) {
        // SAFETY: the slot lies in the premap area (checked above), part
        // of our reservation, and nothing is mapped in it.
        unsafe { sys::munmap(area + p.slot, p.len) }
            .map_err(|e| format!("vma {:#x}: emptying its slot: {e}", p.start))?;
    }
    mark(restorer_blob::MARK_PREMAPPED);
    // --lazy-pages: the lazy slots go to the server empty.
    let lazy = lazy.filter(|_| pass == Pass::AfterFork);
    if let Some(hand_over) = lazy {
        hand_over()?;
    }
    fill_pages(&plan.task, &plan.mem, area, pass, lazy.is_some())?;
    mark(restorer_blob::MARK_FILLED);
    for p in plan.mem.premaps.iter().filter(mine) {
        for &(s, e) in p.inherit.iter().flat_map(|i| &i.drops) {
            // SAFETY: a range inside the slot just taken over (the drops
            // are offsets within the VMA); its pages become the file's or
            // zeroes, as they were for this task.
            unsafe { sys::madvise(p.at(area) + s, e - s, libc::MADV_DONTNEED) }
                .map_err(|err| format!("vma {:#x}: dropping the parent's pages: {err}", p.start))?;
        }
    }
    if pass == Pass::BeforeFork {
        return Ok(());
    }
    if let Some(x) = &plan.mem.proxy {
        redirect_vdso(&plan.mem, x, area)?;
    }
    for p in &plan.mem.premaps {
        let at = p.at(area);
        if prot_of(p) != p.prot {
            // SAFETY: the slot mapped above; nothing of ours refers to it.
            unsafe { sys::mprotect(at, p.len, p.prot) }
                .map_err(|e| format!("mprotect vma {:#x}: {e}", p.start))?;
        }
        for &adv in &p.advice {
            // SAFETY: the slot mapped above; the advice is the dumped
            // VMA's own (madv bits), given to a copy of that VMA.
            unsafe { sys::madvise(at, p.len, adv) }
                .map_err(|e| format!("madvise({adv}) vma {:#x}: {e}", p.start))?;
        }
    }
    let blob_len = plan.stack_top - plan.blob_at;
    // SAFETY: [blob_at, stack_top) lies in the reservation (checked above).
    unsafe {
        sys::mmap_fixed(
            plan.blob_at,
            blob_len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    }
    .map_err(|e| format!("mapping the restorer at {:#x}: {e}", plan.blob_at))?;
    if plan.args_at + plan.args.len() as u64 > plan.stack_top {
        return Err("the restorer's arguments overrun its stack".into());
    }
    // SAFETY: the blob's range was just mapped writable and holds
    // code_size() bytes before args_at; the arguments fit before
    // stack_top (checked above); seal makes only the code executable.
    unsafe {
        blob::install(plan.blob_at);
        sys::write_mem(plan.args_at, &plan.args);
        blob::seal(plan.blob_at)
    }
    .map_err(|e| format!("sealing the restorer: {e}"))
}

/// Moves slot `p`, inherited, from the parent's premap range (inherited
/// with the fork) to `at` in ours, with protection `prot`.
fn take_over(
    p: &mem::Premap,
    inh: &mem::Inherit,
    at: u64,
    prot: i32,
    parent: Option<(u64, u64)>,
) -> Result<(), String> {
    let (base, len) = parent.ok_or("an inherited vma without a parent")?;
    if inh.parent_slot.checked_add(p.len).is_none_or(|e| e > len) {
        return Err(format!(
            "vma {:#x}: outside the parent's premap range",
            p.start
        ));
    }
    let from = base + inh.parent_slot;
    // SAFETY: `from` is the parent's filled slot, inherited with the fork
    // and inside its premap range (checked above), which our loader code
    // does not use; `at` is our slot (checked by `premap`).
    unsafe { sys::mremap_fixed(from, p.len, at) }
        .and_then(|_| {
            // SAFETY: the slot just moved in; nothing refers to it.
            unsafe { sys::mprotect(at, p.len, prot) }
        })
        .map_err(|e| format!("vma {:#x}: taking over the parent's copy: {e}", p.start))
}

/// Unmaps the part of the reservation past `from` that this task does
/// not use.
pub(crate) fn release_rest(res: &Reservation, from: u64) -> Result<(), String> {
    let end = res.end();
    if from < end && res.holds(from, end - from) {
        // SAFETY: the range is the unused tail of our reservation: nothing
        // is mapped in it but PROT_NONE pages (and in the parent the
        // reservation stays).
        unsafe { sys::munmap(from, end - from) }.map_err(|e| format!("munmap: {e}"))?;
    }
    Ok(())
}

/// Enters the blob `premap` installed for `plan`: never returns.
pub(crate) fn enter(plan: &TaskPlan) -> ! {
    // SAFETY: premap() succeeded for this plan: it installed and sealed
    // the blob at blob_at, wrote the argument block at args_at, and the
    // stack below stack_top is part of the blob's mapping.
    unsafe {
        blob::enter(
            plan.blob_at,
            blob::RESTORE_TASK_OFFSET,
            plan.args_at,
            plan.stack_top,
        )
    }
}
