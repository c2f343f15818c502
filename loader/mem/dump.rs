//! Memory: VMAs from /proc/PID/maps, the pages worth keeping from
//! /proc/PID/pagemap, and their contents with `process_vm_readv` in large
//! batches, written to `pages-1.img` as CRIU lays it out.
//!
//! Dumped: present or swapped pages of private anonymous memory (the
//! shared zero page, i.e. read but never written, is skipped), the pages of
//! private file mappings that became anonymous copies, and the vdso text.
//! Untouched pages are not dumped: a restore maps them fresh.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::images::flags::{
    PAGE, PE_PRESENT, VMA_ANON_PRIVATE, VMA_ANON_SHARED, VMA_AREA_AIORING, VMA_AREA_HEAP,
    VMA_AREA_MEMFD, VMA_AREA_REGULAR, VMA_AREA_SYSVIPC, VMA_AREA_VDSO, VMA_AREA_VSYSCALL,
    VMA_AREA_VVAR, VMA_FILE_PRIVATE, VMA_FILE_SHARED,
};
use crate::images::schema::{PagemapEntry, VmaEntry};
use crate::sys;

use crate::dump::DumpError;
use crate::proc::Mapping;

const PM_PRESENT: u64 = 1 << 63;
const PM_SWAP: u64 = 1 << 62;
const PM_FILE: u64 = 1 << 61;
const PM_PFN: u64 = (1 << 55) - 1;
/// A page of a MADV_GUARD_INSTALL guard region (Linux 6.15).
const PM_GUARD_REGION: u64 = 1 << 58;
/// Bytes read from the task per `process_vm_readv`: small enough to stay
/// in cache (4 MiB batches took ~1.7x as long here: first-touch faults and
/// cache misses on the bounce buffer).
const BATCH: usize = 256 << 10;
/// Bytes of pages written between two kicks of disk writeback.
const WRITEBACK_CHUNK: u64 = 16 << 20;

fn prot(perms: &[u8; 4]) -> u32 {
    (perms[0] == b'r') as u32 | ((perms[1] == b'w') as u32) << 1 | ((perms[2] == b'x') as u32) << 2
}

/// Turns maps lines into VMA entries, refusing what crest cannot restore.
/// `file_id` gives the files.img id of a mapped path.
pub fn vmas(
    pid: i32,
    maps: &[Mapping],
    file_id: &mut dyn FnMut(&str, &Mapping) -> u32,
) -> Result<Vec<VmaEntry>, DumpError> {
    let anon = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u32;
    let mut out: Vec<VmaEntry> = Vec::new();
    let vm_flags = super::vmflags::read(pid)?;
    for m in maps {
        let what = || format!("vma {:#x}-{:#x} {}", m.start, m.end, m.path);
        let shared = m.perms[3] == b's';
        let mut e = VmaEntry {
            start: m.start,
            end: m.end,
            pgoff: 0,
            shmid: 0,
            prot: prot(&m.perms),
            flags: anon,
            status: VMA_AREA_REGULAR | VMA_ANON_PRIVATE,
            fd: -1,
            madv: None,
            fdflags: None,
        };
        match m.path.as_str() {
            "[vsyscall]" => e.status = VMA_AREA_VSYSCALL | VMA_ANON_PRIVATE,
            "[vvar]" | "[vvar_vclock]" => {
                // CRIU keeps the vvar pages as one VMA.
                if let Some(prev) = out.last_mut() {
                    if prev.status & VMA_AREA_VVAR != 0 && prev.end == m.start {
                        prev.end = m.end;
                        continue;
                    }
                }
                e.status |= VMA_AREA_VVAR;
            }
            "[vdso]" => e.status |= VMA_AREA_VDSO,
            "[heap]" => e.status |= VMA_AREA_HEAP,
            "[stack]" => e.flags |= libc::MAP_GROWSDOWN as u32,
            // MAP_SHARED | MAP_ANONYMOUS: a shmem object, named by inode;
            // its pages are dumped once for the tree (dump_shmem).
            // A private mapping of one (through /proc/PID/map_files) is the
            // object's too: its pages not yet written are the object's,
            // its written ones its own (dumped as a file's would be).
            "/dev/zero (deleted)" if m.inode != 0 => {
                let kind = if shared {
                    libc::MAP_SHARED
                } else {
                    libc::MAP_PRIVATE
                };
                e.flags = (kind | libc::MAP_ANONYMOUS) as u32;
                e.status = VMA_AREA_REGULAR | VMA_ANON_SHARED;
                e.shmid = m.inode;
                e.pgoff = m.offset;
            }
            // An attached System V segment: "/SYSV<key> (deleted)", whose
            // inode number is the segment's id (0 for the first one). Its contents are dumped
            // with its IPC namespace (`ipc::dump`).
            p if p.starts_with("/SYSV") && shared => {
                e.flags = (libc::MAP_SHARED | libc::MAP_ANONYMOUS) as u32;
                e.status = VMA_AREA_REGULAR | VMA_ANON_SHARED | VMA_AREA_SYSVIPC;
                e.shmid = m.inode;
                e.pgoff = m.offset;
                e.fdflags = Some(if m.perms[1] == b'w' {
                    libc::O_RDWR as u32
                } else {
                    0
                });
            }
            p if m.inode == 0 || p.is_empty() || p.starts_with("[anon:") => {
                if shared {
                    return Err(DumpError::refused(
                        pid,
                        format!("{}: shared anonymous memory is not dumped yet", what()),
                    ));
                }
            }
            // An AIO ring (io_setup): its pages are dumped as memory, and
            // the restore makes a ring again and moves it here (aio_rings).
            p if p.starts_with("/[aio]") => {
                e.flags = libc::MAP_SHARED as u32;
                e.status = VMA_AREA_AIORING;
            }
            // A memfd: its object is dumped once (memfd.img), the VMA
            // names a MEMFD file entry of it, as CRIU 4.2 writes it.
            p if p.starts_with("/memfd:") => {
                e.pgoff = m.offset;
                e.shmid = u64::from(file_id(p, m));
                let kind = if shared {
                    VMA_FILE_SHARED
                } else {
                    VMA_FILE_PRIVATE
                };
                e.flags = if shared {
                    libc::MAP_SHARED as u32
                } else {
                    libc::MAP_PRIVATE as u32
                };
                e.status = VMA_AREA_REGULAR | kind | VMA_AREA_MEMFD;
                e.fdflags = Some(map_file_mode(pid, m, shared));
            }
            // A deleted file is kept as a ghost (file_id sees to it).
            p if p.starts_with('/') => {
                if p.starts_with("/SYSV") || p.starts_with("/memfd:") || p.starts_with("/dev/") {
                    return Err(DumpError::refused(
                        pid,
                        format!("{}: this kind of mapping is not dumped yet", what()),
                    ));
                }
                e.pgoff = m.offset;
                e.shmid = u64::from(file_id(p, m));
                if shared {
                    e.flags = libc::MAP_SHARED as u32;
                    e.status = VMA_AREA_REGULAR | VMA_FILE_SHARED;
                } else {
                    e.flags = libc::MAP_PRIVATE as u32;
                    e.status = VMA_AREA_REGULAR | VMA_FILE_PRIVATE;
                }
                e.fdflags = Some(map_file_mode(pid, m, shared));
            }
            p if p.starts_with("socket:") => {
                return Err(DumpError::refused(
                    pid,
                    format!(
                        "{}: a mapped socket (a packet socket's ring), which crest does not dump",
                        what()
                    ),
                ));
            }
            _ => {
                return Err(DumpError::refused(
                    pid,
                    format!("{}: unknown kind of mapping", what()),
                ));
            }
        }
        let special = VMA_AREA_VDSO | VMA_AREA_VVAR | VMA_AREA_VSYSCALL;
        if let (Some(flags), 0) = (vm_flags.get(&m.start), e.status & special) {
            super::vmflags::apply(&mut e, flags, &what())
                .map_err(|w| DumpError::refused(pid, w))?;
        }
        out.push(e);
    }
    Ok(out)
}

/// The access mode the mapped file was opened with, as CRIU reads it:
/// the mode of its /proc/PID/map_files link mirrors the open file's
/// read and write bits. Without the link, a guess from the mapping.
fn map_file_mode(pid: i32, m: &Mapping, shared: bool) -> u32 {
    use std::os::unix::fs::MetadataExt;
    let link = format!("/proc/{pid}/map_files/{:x}-{:x}", m.start, m.end);
    let mode = match std::fs::symlink_metadata(link) {
        Ok(meta) => meta.mode() & 0o600,
        Err(_) if shared && m.perms[1] == b'w' => 0o600,
        Err(_) => 0o400,
    };
    (match mode {
        0o600 => libc::O_RDWR,
        0o200 => libc::O_WRONLY,
        _ => libc::O_RDONLY,
    }) as u32
}

/// The PFN of the shared zero page, read from our own pagemap (needs
/// CAP_SYS_ADMIN to see PFNs; None otherwise).
pub fn zero_pfn() -> Option<u64> {
    let pm = File::open("/proc/self/pagemap").ok()?;
    let mut b = [0u8; 8];
    sys::with_zero_page(|page| pm.read_exact_at(&mut b, page / PAGE * 8))
        .ok()?
        .ok()?;
    let e = u64::from_le_bytes(b);
    (e & PM_PRESENT != 0 && e & PM_PFN != 0).then_some(e & PM_PFN)
}

/// The /proc/PID/pagemap entries of the pages in `[start, end)`.
fn pagemap_entries(pid: i32, pagemap: &File, start: u64, end: u64) -> Result<Vec<u64>, DumpError> {
    let mut raw = vec![0u8; ((end - start) / PAGE) as usize * 8];
    pagemap
        .read_exact_at(&mut raw, start / PAGE * 8)
        .map_err(|e| {
            DumpError::sys(pid, format!("reading /proc/{pid}/pagemap at {start:#x}"), e)
        })?;
    Ok(raw
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect())
}

/// The AIO rings among `vmas`, as CRIU records them: the ring's address,
/// its length, and the request count io_setup was given, worked back
/// from the ring's size as the kernel sizes it (nr * 2 + 2 events after
/// a 32-byte header, rounded up to pages).
pub fn aio_rings(vmas: &[VmaEntry]) -> Vec<crate::images::schema::AioRingEntry> {
    vmas.iter()
        .filter(|v| v.status & VMA_AREA_AIORING != 0)
        .map(|v| {
            let len = v.end - v.start;
            let events = (len - AIO_RING_HEADER) / AIO_EVENT;
            crate::images::schema::AioRingEntry {
                id: v.start,
                nr_req: (events.saturating_sub(2) / 2) as u32,
                ring_len: len as u32,
            }
        })
        .collect()
}

/// `struct aio_ring`'s header and one `struct io_event`.
pub const AIO_RING_HEADER: u64 = 32;
pub const AIO_EVENT: u64 = 32;

/// The MADV_GUARD_INSTALL regions of the task, as CRIU 4.2 lists them
/// after its VMAs: entries with only VMA_AREA_GUARD set. Found with
/// PAGEMAP_SCAN over the whole address space (a kernel without it has no
/// guard regions either).
pub fn guard_regions(pid: i32) -> Result<Vec<VmaEntry>, DumpError> {
    use std::os::fd::AsRawFd;
    let pagemap = File::open(format!("/proc/{pid}/pagemap"))
        .map_err(|e| DumpError::file(format!("/proc/{pid}/pagemap"), e))?;
    let found = match sys::pagemap_scan_guards(pagemap.as_raw_fd(), crate::arch::TASK_SIZE) {
        Ok(r) => r,
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOTTY)) => Vec::new(),
        Err(e) => return Err(DumpError::sys(pid, "PAGEMAP_SCAN for guard regions", e)),
    };
    Ok(found
        .into_iter()
        .map(|(start, end)| VmaEntry {
            start,
            end,
            status: crate::images::flags::VMA_AREA_GUARD,
            fd: -1,
            ..Default::default()
        })
        .collect())
}

/// Pages of one VMA worth dumping, as runs of (vaddr, pages).
fn runs_of(
    pid: i32,
    pagemap: &File,
    v: &VmaEntry,
    zero: Option<u64>,
) -> Result<Vec<(u64, u64)>, DumpError> {
    let dump_anon = v.status & (VMA_ANON_PRIVATE | VMA_AREA_VDSO | VMA_AREA_AIORING) != 0
        && v.status & VMA_AREA_VVAR == 0;
    let dump_cow = v.status & VMA_FILE_PRIVATE != 0
        || (v.status & VMA_ANON_SHARED != 0 && v.flags as i32 & libc::MAP_PRIVATE != 0);
    if v.status & VMA_AREA_VSYSCALL != 0 || !(dump_anon || dump_cow) {
        return Ok(Vec::new());
    }
    // The kernel writes an AIO ring through its own mapping: the task's
    // page tables may not show its pages. All of it, as CRIU dumps it.
    if v.status & VMA_AREA_AIORING != 0 {
        return Ok(vec![(v.start, (v.end - v.start) / PAGE)]);
    }
    let entries = pagemap_entries(pid, pagemap, v.start, v.end)?;
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for (i, &e) in entries.iter().enumerate() {
        // Guard pages hold nothing; guard_regions lists them.
        if e & PM_GUARD_REGION != 0 {
            continue;
        }
        let present = e & PM_PRESENT != 0;
        let keep = if dump_cow {
            (present && e & PM_FILE == 0) || e & PM_SWAP != 0
        } else {
            (present && zero.is_none_or(|z| e & PM_PFN != z)) || e & PM_SWAP != 0
        };
        if !keep {
            continue;
        }
        let addr = v.start + i as u64 * PAGE;
        match runs.last_mut() {
            Some(r) if r.0 + r.1 * PAGE == addr => r.1 += 1,
            _ => runs.push((addr, 1)),
        }
    }
    Ok(runs)
}

/// Batches in flight between the reading and the writing thread.
const BUFFERS: usize = 3;

/// Writes the dumped pages to `pages` and returns the pagemap entries.
/// This thread reads the task's memory while a second one writes the
/// batches read before (allocating page cache is the slower half here).
pub fn dump_pages(
    pid: i32,
    vmas: &[VmaEntry],
    pages: &mut File,
    pages_path: &Path,
) -> Result<(Vec<PagemapEntry>, u64), DumpError> {
    use std::sync::mpsc;
    let (full_tx, full_rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(BUFFERS);
    let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
    for _ in 0..BUFFERS {
        let _ = free_tx.send(vec![0u8; BATCH]);
    }
    std::thread::scope(|s| {
        let writer = s.spawn(move || -> Result<(), DumpError> {
            let (mut written, mut kicked) = (0u64, 0u64);
            for (buf, len) in full_rx {
                pages
                    .write_all(&buf[..len])
                    .map_err(|e| DumpError::file(pages_path, e))?;
                // Start writing each 16 MiB back to disk while the next
                // ones are read, so that the final sync only waits for
                // the tail.
                written += len as u64;
                if written - kicked >= WRITEBACK_CHUNK {
                    let _ = sys::start_writeback(pages, kicked, written - kicked);
                    kicked = written;
                }
                let _ = free_tx.send(buf);
            }
            Ok(())
        });
        let read = read_pages(pid, vmas, &free_rx, &full_tx, pages_path);
        drop(full_tx);
        let wrote = writer.join().unwrap_or_else(|_| {
            Err(DumpError::file(
                pages_path,
                std::io::Error::other("the writing thread panicked"),
            ))
        });
        // A failed write stops the reading too: its error is the cause.
        wrote?;
        read
    })
}

/// The reading half of `dump_pages`: each batch into a buffer from
/// `free`, handed on to `full`.
fn read_pages(
    pid: i32,
    vmas: &[VmaEntry],
    free: &std::sync::mpsc::Receiver<Vec<u8>>,
    full: &std::sync::mpsc::SyncSender<(Vec<u8>, usize)>,
    pages_path: &Path,
) -> Result<(Vec<PagemapEntry>, u64), DumpError> {
    let pagemap = File::open(format!("/proc/{pid}/pagemap"))
        .map_err(|e| DumpError::file(format!("/proc/{pid}/pagemap"), e))?;
    let zero = zero_pfn();
    let mut entries = Vec::new();
    let mut pending: Vec<(u64, u64)> = Vec::new();
    let mut pending_len = 0usize;
    let mut total = 0u64;
    let mut mem: Option<File> = None;
    let stopped = || DumpError::file(pages_path, std::io::Error::other("the writer stopped"));
    let mut flush = |pending: &mut Vec<(u64, u64)>, len: &mut usize| -> Result<(), DumpError> {
        if pending.is_empty() {
            return Ok(());
        }
        let mut buf = free.recv().map_err(|_| stopped())?;
        let got = match sys::process_vm_readv(pid, &mut buf[..*len], pending) {
            Ok(n) => n,
            // Not even the first page could be read: all through
            // /proc/PID/mem, below.
            Err(e) if e.raw_os_error() == Some(libc::EFAULT) => 0,
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
                return Err(DumpError::Gone {
                    pid,
                    what: "was killed during the dump".into(),
                })
            }
            Err(e) => {
                return Err(DumpError::sys(
                    pid,
                    format!("process_vm_readv at {:#x}", pending[0].0),
                    e,
                ))
            }
        };
        if got != *len {
            // process_vm_readv stops at the first page it may not read (a
            // PROT_NONE range that has pages): /proc/PID/mem reads through
            // the protection.
            let file = match mem.take() {
                Some(f) => f,
                None => {
                    let path = format!("/proc/{pid}/mem");
                    File::open(&path).map_err(|e| DumpError::file(&path, e))?
                }
            };
            let file = &*mem.insert(file);
            let mut off = 0usize;
            for &(addr, l) in pending.iter() {
                let l = l as usize;
                let done = got.saturating_sub(off).min(l);
                if done < l {
                    file.read_exact_at(&mut buf[off + done..off + l], addr + done as u64)
                        .map_err(|e| DumpError::Task {
                            pid,
                            what: format!(
                                "memory at {:#x} cannot be read ({e}; {got} of {len} bytes came \
                                 from process_vm_readv)",
                                addr + done as u64
                            ),
                        })?;
                }
                off += l;
            }
        }
        full.send((buf, *len)).map_err(|_| stopped())?;
        pending.clear();
        *len = 0;
        Ok(())
    };
    // Droppable pages may read back as zeros any time: not dumped, as
    // CRIU does.
    let kept = vmas
        .iter()
        .filter(|v| v.flags & super::vmflags::MAP_DROPPABLE == 0);
    for v in kept {
        let runs = runs_of(pid, &pagemap, v, zero)?;
        for (addr, nr) in runs {
            entries.push(PagemapEntry {
                vaddr: addr,
                compat_nr_pages: 0,
                in_parent: None,
                flags: Some(PE_PRESENT),
                nr_pages: Some(nr),
            });
            total += nr;
            // Feed the run in batch-sized pieces.
            let mut at = addr;
            let mut left = nr * PAGE;
            while left > 0 {
                let room = (BATCH - pending_len) as u64;
                let take = left.min(room);
                pending.push((at, take));
                pending_len += take as usize;
                at += take;
                left -= take;
                if pending_len == BATCH || pending.len() >= 1024 {
                    flush(&mut pending, &mut pending_len)?;
                }
            }
        }
    }
    flush(&mut pending, &mut pending_len)?;
    Ok((entries, total))
}

/// One mapping of a shmem object by a process of the tree.
pub struct ShmemUse {
    pub shmid: u64,
    pub pid: i32,
    pub start: u64,
    pub end: u64,
    pub pgoff: u64,
}

/// The pages of shmem object `shmid` that any of its mappings has touched
/// (present or swapped in that process's page tables), read through the
/// first mapping that has each, written to `pages`. Returns the pagemap
/// entries, addressed by offset in the object as CRIU addresses them.
pub fn dump_shmem(
    shmid: u64,
    uses: &[&ShmemUse],
    pages: &mut File,
    pages_path: &Path,
) -> Result<Vec<PagemapEntry>, DumpError> {
    use std::collections::BTreeMap;
    // offset -> (pid, address) of a mapping where the page is present.
    let mut found: BTreeMap<u64, (i32, u64)> = BTreeMap::new();
    for u in uses {
        let pagemap = File::open(format!("/proc/{}/pagemap", u.pid))
            .map_err(|e| DumpError::file(format!("/proc/{}/pagemap", u.pid), e))?;
        let entries = pagemap_entries(u.pid, &pagemap, u.start, u.end)?;
        for (i, &e) in entries.iter().enumerate() {
            if e & (PM_PRESENT | PM_SWAP) != 0 {
                let addr = u.start + i as u64 * PAGE;
                found
                    .entry(u.pgoff + i as u64 * PAGE)
                    .or_insert((u.pid, addr));
            }
        }
    }
    // Runs contiguous both in the object and in one process's memory.
    let mut runs: Vec<(u64, i32, u64, u64)> = Vec::new(); // offset, pid, addr, pages
    for (&off, &(pid, addr)) in &found {
        match runs.last_mut() {
            Some(r) if r.0 + r.3 * PAGE == off && r.1 == pid && r.2 + r.3 * PAGE == addr => {
                r.3 += 1
            }
            _ => runs.push((off, pid, addr, 1)),
        }
    }
    let mut entries = Vec::with_capacity(runs.len());
    let mut buf = vec![0u8; BATCH];
    for &(off, pid, addr, nr) in &runs {
        let (mut at, mut left) = (addr, nr * PAGE);
        while left > 0 {
            let take = left.min(BATCH as u64) as usize;
            let got = sys::process_vm_readv(pid, &mut buf[..take], &[(at, take as u64)]).map_err(
                |e| DumpError::sys(pid, format!("reading shmem {shmid:#x} at {at:#x}"), e),
            )?;
            if got != take {
                return Err(DumpError::Task {
                    pid,
                    what: format!("short read of shmem {shmid:#x} at {at:#x}"),
                });
            }
            pages
                .write_all(&buf[..take])
                .map_err(|e| DumpError::file(pages_path, e))?;
            at += take as u64;
            left -= take as u64;
        }
        entries.push(PagemapEntry {
            vaddr: off,
            compat_nr_pages: 0,
            in_parent: None,
            flags: Some(PE_PRESENT),
            nr_pages: Some(nr),
        });
    }
    Ok(entries)
}
