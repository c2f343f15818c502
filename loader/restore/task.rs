//! One task's restore up to the blob, run in the forked child: session and
//! group, children with their pids, cwd, root and umask, descriptors, the
//! premapped memory filled from the pages file (and a proxied vdso's
//! trampolines), then the blob installed and entered.

use restorer_blob::STATE_FAILED;

use crate::blob;
use crate::files;
use crate::sys::{self, Forked};

use super::tree::{MSG_LEN, SLOT};
use super::{images, mem, vdso, RestoreError};

/// Everything planned for one task of the tree, computed by the loader
/// before the first fork.
pub(crate) struct TaskPlan {
    pub(crate) task: images::TaskImages,
    pub(crate) mem: mem::MemPlan,
    pub(crate) fds: files::FdPlan,
    pub(crate) args: Vec<u8>,
    pub(crate) blob_at: u64,
    pub(crate) args_at: u64,
    pub(crate) stack_top: u64,
}

/// The tree being restored, as each forked task sees it.
pub(crate) struct TreeRun<'a> {
    pub(crate) plans: &'a [TaskPlan],
    pub(crate) hole: u64,
    pub(crate) total: u64,
    pub(crate) shared: &'a files::Shared,
    /// shmid -> memfd of each shmem object.
    pub(crate) shmem: &'a std::collections::HashMap<u64, i32>,
}

impl TreeRun<'_> {
    /// Runs in the forked task number `i`: never returns. It joins its
    /// session and group, forks its own children (so they inherit both),
    /// restores its memory and descriptors and enters the blob.
    pub(crate) fn task(&self, i: usize) -> ! {
        let p = &self.plans[i];
        match self.prepare(i) {
            Ok(()) => {
                // SAFETY: prepare() installed and sealed the blob at
                // blob_at, wrote the argument block at args_at, and the
                // stack below stack_top is part of the blob's mapping.
                #[allow(unsafe_code)]
                unsafe {
                    blob::enter(p.blob_at, blob::RESTORE_TASK_OFFSET, p.args_at, p.stack_top)
                }
            }
            Err(msg) => {
                let slot = self.hole + SLOT * i as u64;
                let mut bytes = msg.into_bytes();
                bytes.truncate(MSG_LEN as usize - 1);
                bytes.push(0);
                sys::write_mem(self.hole + SLOT * self.plans.len() as u64, &bytes);
                sys::write_mem(slot + 4, &0u32.to_ne_bytes());
                sys::write_mem(slot, &STATE_FAILED.to_ne_bytes());
                sys::futex_wake(slot);
                sys::exit_now(1)
            }
        }
    }

    pub(crate) fn prepare(&self, i: usize) -> Result<(), String> {
        let p = &self.plans[i];
        let t = &p.task;
        let ps = &t.pstree;
        if ps.sid == ps.pid {
            sys::setsid().map_err(|e| format!("setsid: {e}"))?;
        } else if ps.pgid == ps.pid {
            sys::setpgid(0, 0).map_err(|e| format!("setpgid: {e}"))?;
        } else if i > 0 {
            sys::setpgid(0, ps.pgid as i32)
                .map_err(|e| format!("joining process group {}: {e}", ps.pgid))?;
        }
        for (c, child) in self.plans.iter().enumerate().skip(1) {
            if child.task.pstree.ppid != ps.pid {
                continue;
            }
            let cpid = child.task.pstree.pid;
            match sys::clone3(0, &[cpid as i32]) {
                Ok(Forked::Child) => self.task(c),
                Ok(Forked::Parent(_)) => {}
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                    return Err(format!(
                        "pid {cpid} is already in use by {}",
                        crate::proc::holder(cpid)
                    ))
                }
                Err(e) => return Err(format!("clone3 for child {cpid}: {e}")),
            }
        }
        sys::umask(t.fs.umask.unwrap_or(0o022));
        let root = &p.fds.root;
        if root.as_bytes() != b"/" {
            sys::chroot(root).map_err(|e| format!("chroot {root:?}: {e}"))?;
        }
        let cwd = sys::open(
            &p.fds.cwd,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            0,
        )
        .map_err(|e| format!("cwd {:?}: {e}", p.fds.cwd))?;
        sys::fchdir(cwd).map_err(|e| format!("chdir {:?}: {e}", p.fds.cwd))?;
        sys::close(cwd);
        // Memory before descriptors: the pages file is one of our inherited
        // descriptors, whose number a target descriptor may need.
        self.premap(p)?;
        files::install(&p.fds, self.shared)?;
        files::close_strays(&p.fds)?;
        // The part of the reservation this task does not use.
        let end = self.hole + self.total;
        if p.stack_top < end {
            sys::munmap(p.stack_top, end - p.stack_top).map_err(|e| format!("munmap: {e}"))?;
        }
        sys::rseq_unregister().map_err(|e| format!("rseq unregister: {e}"))?;
        Ok(())
    }

    /// Maps every premapped VMA into its slot, fills the dumped pages,
    /// applies the dumped protection, then installs the blob.
    pub(crate) fn premap(&self, plan: &TaskPlan) -> Result<(), String> {
        let area = self.hole + blob::page_up(SLOT * self.plans.len() as u64 + MSG_LEN);
        for p in &plan.mem.premaps {
            let at = area + p.slot;
            let (fd, what) = match (&p.file, p.shmid) {
                (Some((path, flags)), _) => (
                    sys::open(path, *flags, 0)
                        .map_err(|e| format!("{path:?} (mapped at {:#x}): {e}", p.start))?,
                    path.to_string_lossy().into_owned(),
                ),
                (None, Some(shmid)) => {
                    let fd = *self
                        .shmem
                        .get(&shmid)
                        .ok_or(format!("shmem {shmid:#x} was not created"))?;
                    // The object stays ours: dup so that closing below is harmless.
                    let fd = sys::dup_above(fd, 3).map_err(|e| format!("shmem {shmid:#x}: {e}"))?;
                    (fd, format!("shared anonymous {shmid:#x}"))
                }
                (None, None) => (-1, "anonymous".to_string()),
            };
            let prot = if p.filled {
                p.prot | libc::PROT_READ | libc::PROT_WRITE
            } else {
                p.prot
            };
            let r = sys::mmap(at, p.len, prot, p.flags | libc::MAP_FIXED, fd, p.pgoff);
            if fd >= 0 {
                sys::close(fd);
            }
            r.map_err(|e| {
                format!(
                    "premapping {what} vma {:#x}-{:#x}: {e}",
                    p.start,
                    p.start + p.len
                )
            })?;
        }
        fill_pages(&plan.task, &plan.mem, area)?;
        if let Some(x) = &plan.mem.proxy {
            redirect_vdso(&plan.mem, x, area)?;
        }
        for p in &plan.mem.premaps {
            let at = area + p.slot;
            if p.filled && p.prot != p.prot | libc::PROT_READ | libc::PROT_WRITE {
                sys::mprotect(at, p.len, p.prot)
                    .map_err(|e| format!("mprotect vma {:#x}: {e}", p.start))?;
            }
            for &adv in &p.advice {
                sys::madvise(at, p.len, adv)
                    .map_err(|e| format!("madvise({adv}) vma {:#x}: {e}", p.start))?;
            }
        }
        let blob_len = plan.stack_top - plan.blob_at;
        sys::mmap(
            plan.blob_at,
            blob_len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
            -1,
            0,
        )
        .map_err(|e| format!("mapping the restorer at {:#x}: {e}", plan.blob_at))?;
        blob::install(plan.blob_at);
        sys::write_mem(plan.args_at, &plan.args);
        blob::seal(plan.blob_at).map_err(|e| format!("sealing the restorer: {e}"))?;
        Ok(())
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
        // In range: vdso::plan checked every entry point against the
        // dumped vdso's size, which is the slot's.
        let t = vdso::trampoline(x.rt_at + x.rt_text + r.new);
        sys::write_mem(area + p.slot + r.old, &t);
    }
    Ok(())
}

/// Reads every present page run into its premapped slot, with as few
/// `preadv` calls as the layout allows.
pub(crate) fn fill_pages(
    task: &images::TaskImages,
    mem: &mem::MemPlan,
    area: u64,
) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    const IOV_MAX: usize = 1024;
    // (destination, length, file offset) segments, merged where both the
    // memory and the file are contiguous.
    let mut segs: Vec<(u64, u64, u64)> = Vec::new();
    for r in &task.runs {
        let Some(mut off) = r.file_off else { continue };
        let end = r.vaddr + r.nr_pages * images::PAGE;
        let mut at = r.vaddr;
        // A run may span several VMAs: split it at their boundaries.
        while at < end {
            let Some(p) = mem.premap_of(at) else {
                // vdso pages: the running kernel's vdso replaces them.
                let skip = mem.vdso_end(at).unwrap_or(end).min(end) - at;
                at += skip;
                off += skip;
                continue;
            };
            let len = (p.start + p.len).min(end) - at;
            let dst = area + p.slot + (at - p.start);
            match segs.last_mut() {
                Some(last) if last.0 + last.1 == dst && last.2 + last.1 == off => last.1 += len,
                _ => segs.push((dst, len, off)),
            }
            at += len;
            off += len;
        }
    }
    let fd = task.pages.as_raw_fd();
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
            let _ = sys::madvise(at, len, libc::MADV_POPULATE_WRITE);
        }
        let want: u64 = iov.iter().map(|s| s.1).sum();
        let got = sys::preadv(fd, &iov, segs[i].2).map_err(|e| {
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

/// The dumped bytes of `[start, start + len)` from the pages file (zeros
/// where a page was not dumped).
pub(crate) fn read_dumped(
    task: &images::TaskImages,
    start: u64,
    len: u64,
) -> Result<Vec<u8>, RestoreError> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; len as usize];
    for r in &task.runs {
        let Some(off) = r.file_off else { continue };
        let (rs, re) = (r.vaddr, r.vaddr + r.nr_pages * images::PAGE);
        let (s, e) = (rs.max(start), re.min(start + len));
        if s < e {
            task.pages
                .read_exact_at(
                    &mut buf[(s - start) as usize..(e - start) as usize],
                    off + (s - rs),
                )
                .map_err(|e| {
                    RestoreError::Inconsistent(format!("{}: {e}", task.pages_path.display()))
                })?;
        }
    }
    Ok(buf)
}
