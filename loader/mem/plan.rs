//! The memory plan: which dumped VMAs are premapped where, which pages go
//! where, and a hole for the premap area and the blob that overlaps neither
//! the dumped layout nor the loader's own mappings.
//!
//! Every premapped VMA gets a slot in one contiguous area; the child maps
//! each slot (anonymous, or the dumped file at its offset), fills it with
//! the dumped pages, gives it the dumped protection, and the blob finally
//! `mremap`s each slot onto its dumped address. Because the area lies in a
//! hole of the dumped layout, no move can clobber a slot not yet moved.

use std::ffi::CString;
use std::path::Path;

use crate::images::pagemap::PageRun;
use crate::images::schema::{FileEntry, MemfdInodeEntry, VmaEntry};
use crate::kerndat::VdsoLayout;

use crate::arch::TASK_SIZE;
use crate::images::flags::*;
use crate::restore::RestoreError;

/// One VMA to premap.
#[derive(Debug, Clone)]
pub struct Premap {
    pub start: u64,
    pub len: u64,
    /// Offset of the slot in the premap area.
    pub slot: u64,
    pub prot: i32,
    /// mmap flags for the slot (without MAP_FIXED).
    pub flags: i32,
    /// The file to map (path, open flags) and its page offset.
    pub file: Option<(CString, i32)>,
    /// The shmem object to map (shared anonymous memory).
    pub shmid: Option<u64>,
    /// The System V segment attached here (its IPC id).
    pub sysv: Option<i32>,
    pub pgoff: u64,
    /// `madvise` advice numbers to apply.
    pub advice: Vec<i32>,
    /// Dumped pages go into it: premapped writable, then given its
    /// protection. Others are premapped with their protection right away,
    /// so a huge PROT_NONE reservation costs nothing and a read-only
    /// shared file mapping needs no write access.
    pub filled: bool,
    /// Private memory a child may share copy-on-write with its parent
    /// (`restore::cow`): what the parent's VMA must match.
    pub cow: Option<CowKey>,
    /// Taken over from the parent's premap (set by `restore::cow`).
    pub inherit: Option<Inherit>,
    /// A child takes this slot over: it is premapped before the children
    /// are forked.
    pub passed_on: bool,
    /// Premapped at its dumped address, which the loader reserved
    /// (`Reservation::reserve_in_place`), rather than in its slot: the
    /// blob need not move it.
    pub in_place: bool,
}

impl Premap {
    /// Where the VMA is premapped, for a premap area at `area`.
    pub fn at(&self, area: u64) -> u64 {
        if self.in_place {
            self.start
        } else {
            area + self.slot
        }
    }
}

/// What makes two private VMAs of a parent and its child, at the same
/// addresses, possibly the same copy-on-write memory (as CRIU decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CowKey {
    /// The mapped file's id (None: anonymous).
    pub file: Option<u64>,
    pub growsdown: bool,
}

/// A slot taken over from the parent's premap: its pages are the
/// parent's, shared until written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inherit {
    /// The parent's slot, as an offset in the parent's premap range.
    pub parent_slot: u64,
    /// Ranges (offsets in the VMA) of pages the parent's image has and
    /// this task's does not: dropped back to the file or to zeroes.
    pub drops: Vec<(u64, u64)>,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DumpedVdso {
    pub vvar_start: u64,
    pub vvar_len: u64,
    pub vdso_start: u64,
    pub vdso_len: u64,
    pub vdso_prot: i32,
}

/// The dumped vdso restored from its pages with its entry points
/// redirected to the running kernel's vdso, mapped at `rt_at` (see
/// `vdso.rs`).
#[derive(Debug, Clone)]
pub struct VdsoProxy {
    pub redirects: Vec<crate::restore::vdso::Redirect>,
    /// Where the running kernel's vvar/vdso go (set with the layout).
    pub rt_at: u64,
    /// Size of the running kernel's vvar+vdso, and the vdso text's offset in it.
    pub rt_len: u64,
    pub rt_text: u64,
}

#[derive(Debug)]
pub struct MemPlan {
    pub premaps: Vec<Premap>,
    pub premap_len: u64,
    pub vdso: Option<DumpedVdso>,
    pub proxy: Option<VdsoProxy>,
    /// The memfd objects the VMAs map (an inode once per VMA).
    pub memfds: Vec<MemfdInodeEntry>,
    /// Dumped ranges (everything the task will have mapped).
    pub dumped: Vec<(u64, u64)>,
}

const UNSUPPORTED: &[(u32, &str)] = &[
    (VMA_AREA_SOCKET, "a packet socket ring"),
    (VMA_AREA_SHSTK, "a shadow stack"),
    (VMA_AREA_GUARD, "guard regions"),
    (VMA_AREA_UPROBES, "a uprobes area"),
];

/// `vma.madv` is a bit mask of advice numbers.
fn advice(madv: Option<u64>) -> Vec<i32> {
    let m = madv.unwrap_or(0);
    (0..64i32).filter(|b| m & (1u64 << b) != 0).collect()
}

/// Plans the premap for `vmas` with `files` naming the mapped files.
pub fn plan(
    mm_image: &Path,
    vmas: &[VmaEntry],
    files: &std::collections::HashMap<u32, FileEntry>,
    memfds: &std::collections::HashMap<u32, MemfdInodeEntry>,
) -> Result<MemPlan, RestoreError> {
    let mut premaps = Vec::new();
    let mut slot = 0u64;
    let mut checked: Vec<u64> = Vec::new();
    let mut vvar: Option<(u64, u64)> = None;
    let mut vdso: Option<(u64, u64, i32)> = None;
    let mut dumped = Vec::new();
    let mut used_memfds = Vec::new();
    for v in vmas {
        let what = || format!("{}: vma {:#x}-{:#x}", mm_image.display(), v.start, v.end);
        if v.status & VMA_AREA_VSYSCALL != 0 {
            continue;
        }
        dumped.push((v.start, v.end));
        if v.status & VMA_AREA_VVAR != 0 {
            vvar = Some(vvar.map_or((v.start, v.end), |(s, e)| (s.min(v.start), e.max(v.end))));
            continue;
        }
        if v.status & VMA_AREA_VDSO != 0 {
            vdso = Some((v.start, v.end, v.prot as i32));
            continue;
        }
        if let Some((_, name)) = UNSUPPORTED.iter().find(|(bit, _)| v.status & bit != 0) {
            return Err(RestoreError::Unsupported(format!(
                "{}: {name} is not restored yet",
                what()
            )));
        }
        // An AIO ring: its dumped pages as plain memory, until the finish
        // moves a new ring over them (restore::aio).
        if v.status & VMA_AREA_AIORING != 0 {
            let len = v.end - v.start;
            premaps.push(Premap {
                start: v.start,
                len,
                slot,
                prot: libc::PROT_READ | libc::PROT_WRITE,
                flags: libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                file: None,
                shmid: None,
                sysv: None,
                pgoff: 0,
                advice: Vec::new(),
                filled: false,
                cow: None,
                inherit: None,
                passed_on: false,
                in_place: false,
            });
            slot += len;
            continue;
        }
        if v.status & VMA_AREA_REGULAR == 0 {
            return Err(RestoreError::Unsupported(format!(
                "{}: status {:#x} is not a regular mapping",
                what(),
                v.status
            )));
        }
        let len = v.end - v.start;
        let keep = v.flags as i32 & (libc::MAP_GROWSDOWN | libc::MAP_NORESERVE | libc::MAP_LOCKED);
        let droppable = v.flags & super::vmflags::MAP_DROPPABLE != 0;
        let sysv = v.status & VMA_AREA_SYSVIPC != 0;
        let mut shmid = (v.status & VMA_ANON_SHARED != 0 && !sysv).then_some(v.shmid);
        let (flags, file) = if sysv {
            // An attached System V segment: its IPC namespace creates it,
            // the task attaches it again (`shmid` is the segment's id).
            if v.shmid > i32::MAX as u64 {
                return Err(RestoreError::Inconsistent(format!(
                    "{}: System V segment id {} is out of range",
                    what(),
                    v.shmid
                )));
            }
            (libc::MAP_SHARED, None)
        } else if v.status & VMA_AREA_MEMFD != 0 {
            // A memfd (shared or private): its object, by the inode's shmid.
            let inode = crate::files::memfd::inode_of(files, memfds, v.shmid, &what())?;
            shmid = Some(u64::from(inode.shmid));
            used_memfds.push(inode.clone()); // plan_shmem makes one object per shmid
            let base = if v.status & VMA_FILE_SHARED != 0 {
                libc::MAP_SHARED
            } else {
                libc::MAP_PRIVATE
            };
            (base | keep, None)
        } else if v.status & (VMA_FILE_PRIVATE | VMA_FILE_SHARED) != 0 {
            let shared = v.status & VMA_FILE_SHARED != 0;
            let f = files
                .get(&(v.shmid as u32))
                .and_then(|f| f.reg.as_ref())
                .ok_or_else(|| {
                    RestoreError::Inconsistent(format!(
                        "{}: file id {} is not a regular file in files.img",
                        what(),
                        v.shmid
                    ))
                })?;
            // A mapped file that changed size since the dump (a rebuilt
            // library or binary) would restore into other code: CRIU's
            // default check, once per file.
            if !checked.contains(&v.shmid) {
                crate::files::check_size(&f.name, f.size, &format!("mapped file id {}", v.shmid))?;
                checked.push(v.shmid);
            }
            // Opened as the dumped task had it (an mprotect to writable
            // needs a writable file), else as the mapping needs.
            let write = shared && v.prot as i32 & libc::PROT_WRITE != 0;
            let oflags = match v.fdflags.map(|f| f as i32 & libc::O_ACCMODE) {
                Some(mode @ (libc::O_RDWR | libc::O_RDONLY)) => mode,
                _ if write => libc::O_RDWR,
                _ => libc::O_RDONLY,
            };
            let path = CString::new(f.name.as_bytes()).map_err(|_| {
                RestoreError::Inconsistent(format!("{}: file name has a NUL byte", what()))
            })?;
            let base = if shared {
                libc::MAP_SHARED
            } else {
                libc::MAP_PRIVATE
            };
            (base | keep, Some((path, oflags | libc::O_CLOEXEC)))
        } else if v.status & VMA_ANON_PRIVATE != 0 && droppable {
            let flags = super::vmflags::MAP_DROPPABLE as i32;
            (flags | libc::MAP_ANONYMOUS | keep, None)
        } else if v.status & VMA_ANON_PRIVATE != 0 {
            (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | keep, None)
        } else if v.status & VMA_ANON_SHARED != 0 {
            // (MAP_PRIVATE: a private mapping of the object.)
            let kind = v.flags as i32 & (libc::MAP_SHARED | libc::MAP_PRIVATE);
            let kind = if kind == 0 { libc::MAP_SHARED } else { kind };
            (kind | keep, None)
        } else {
            return Err(RestoreError::Unsupported(format!(
                "{}: status {:#x} is neither anonymous nor file memory",
                what(),
                v.status
            )));
        };
        premaps.push(Premap {
            start: v.start,
            len,
            slot,
            prot: v.prot as i32,
            flags,
            file,
            shmid,
            sysv: sysv.then_some(v.shmid as i32),
            pgoff: v.pgoff,
            advice: advice(v.madv),
            filled: false,
            cow: cow_key(v, flags, sysv || shmid.is_some() || droppable),
            inherit: None,
            passed_on: false,
            in_place: false,
        });
        slot += len;
    }
    let vdso = match (vdso, vvar) {
        (Some((ds, de, prot)), vv) => {
            let (vs, ve) = vv.unwrap_or((ds, ds));
            Some(DumpedVdso {
                vvar_start: vs,
                vvar_len: ve - vs,
                vdso_start: ds,
                vdso_len: de - ds,
                vdso_prot: prot,
            })
        }
        (None, Some(_)) => {
            return Err(RestoreError::Inconsistent(format!(
                "{}: vvar without vdso",
                mm_image.display()
            )))
        }
        (None, None) => None,
    };
    Ok(MemPlan {
        premaps,
        premap_len: slot,
        vdso,
        proxy: None,
        dumped,
        memfds: used_memfds,
    })
}

/// The CowKey of a private, regular, non-hugetlb VMA mapped with `flags`
/// (None for the rest, and for shared or droppable memory: `other`).
fn cow_key(v: &VmaEntry, flags: i32, other: bool) -> Option<CowKey> {
    let private = flags & libc::MAP_PRIVATE != 0 && !other;
    let hugetlb = v.flags as i32 & libc::MAP_HUGETLB != 0;
    let file = v.status & VMA_FILE_PRIVATE != 0;
    let anon = v.status & VMA_ANON_PRIVATE != 0;
    (private && !hugetlb && (file || anon) && v.status & VMA_AREA_MEMFD == 0).then_some(CowKey {
        file: file.then_some(v.shmid),
        growsdown: v.flags as i32 & libc::MAP_GROWSDOWN != 0,
    })
}

impl MemPlan {
    /// Marks the premaps that present pages of `runs` fall into.
    pub fn mark_filled(&mut self, runs: &[PageRun]) {
        for r in runs.iter().filter(|r| r.file_off.is_some()) {
            let end = r.vaddr + r.nr_pages * PAGE;
            for p in self.premaps.iter_mut() {
                if p.start < end && r.vaddr < p.start + p.len {
                    p.filled = true;
                }
            }
        }
    }

    /// The present pages of `runs` cut at VMA boundaries: (the premap they
    /// go into, dumped address, length, offset in the pages file), in
    /// order. Pages of the dumped vdso are left out: the running kernel's
    /// replaces them.
    pub fn pieces(&self, runs: &[PageRun]) -> Vec<(&Premap, u64, u64, u64)> {
        let mut out = Vec::new();
        for r in runs {
            let Some(mut off) = r.file_off else { continue };
            let end = r.vaddr + r.nr_pages * PAGE;
            let mut at = r.vaddr;
            while at < end {
                let Some(p) = self.premap_of(at) else {
                    let skip = self.vdso_end(at).unwrap_or(end).min(end) - at;
                    at += skip;
                    off += skip;
                    continue;
                };
                let len = (p.start + p.len).min(end) - at;
                out.push((p, at, len, off));
                at += len;
                off += len;
            }
        }
        out
    }

    /// The premap entry holding `addr`.
    pub fn premap_of(&self, addr: u64) -> Option<&Premap> {
        let i = self.premaps.partition_point(|p| p.start + p.len <= addr);
        self.premaps.get(i).filter(|p| p.start <= addr)
    }

    /// End of the vvar/vdso range holding `addr`, if it is in one.
    pub fn vdso_end(&self, addr: u64) -> Option<u64> {
        let v = self.vdso?;
        let end = v.vdso_start + v.vdso_len;
        (v.vvar_start <= addr && addr < end).then_some(end)
    }

    /// Whether the running kernel's vvar/vdso has the dumped layout: same
    /// sizes and the vdso text at the same distance from the vvar.
    pub fn same_vdso_layout(&self, current: Option<VdsoLayout>) -> Result<bool, RestoreError> {
        let Some(d) = self.vdso else {
            return Ok(true);
        };
        let c = current.ok_or_else(|| {
            RestoreError::Unsupported("the running kernel maps no vdso, the dump has one".into())
        })?;
        Ok(d.vvar_len == c.vvar_len
            && d.vdso_len == c.vdso_len
            && d.vdso_start - d.vvar_start == c.vdso_start - c.vvar_start)
    }

    /// Restores the dumped vdso as a private mapping of its dumped pages
    /// (given their trampolines once filled) instead of mapping the
    /// running kernel's vdso over it.
    pub fn proxify(&mut self, redirects: Vec<crate::restore::vdso::Redirect>, current: VdsoLayout) {
        let Some(d) = self.vdso else { return };
        let premap = Premap {
            start: d.vdso_start,
            len: d.vdso_len,
            slot: self.premap_len,
            prot: d.vdso_prot,
            flags: libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            file: None,
            shmid: None,
            sysv: None,
            pgoff: 0,
            advice: Vec::new(),
            filled: true,
            cow: None,
            inherit: None,
            passed_on: false,
            in_place: false,
        };
        let at = self.premaps.partition_point(|p| p.start < d.vdso_start);
        self.premaps.insert(at, premap);
        self.premap_len += d.vdso_len;
        self.proxy = Some(VdsoProxy {
            redirects,
            rt_at: 0,
            rt_len: current.vdso_start + current.vdso_len - current.vvar_start,
            rt_text: current.vdso_start - current.vvar_start,
        });
    }
}

/// Finds `len` bytes of address space free in both `used` lists, preferring
/// addresses at or above 16 TiB (far from heaps, stacks and mmap areas) and
/// leaving a guard page on each side.
pub fn find_hole(used: &[(u64, u64)], len: u64) -> Option<u64> {
    const LOW: u64 = 0x1_0000; // mmap_min_addr
    const PREFERRED: u64 = 0x1000_0000_0000;
    let mut v: Vec<(u64, u64)> = used.to_vec();
    v.sort_unstable();
    let mut gaps = Vec::new();
    let mut from = LOW;
    for &(s, e) in &v {
        if s > from {
            gaps.push((from, s));
        }
        from = from.max(e);
    }
    if from < TASK_SIZE {
        gaps.push((from, TASK_SIZE));
    }
    let need = len + 2 * PAGE;
    let fits = |&(s, e): &(u64, u64), floor: u64| {
        let s = s.max(floor);
        (e > s && e - s >= need).then_some(s + PAGE)
    };
    gaps.iter()
        .find_map(|g| fits(g, PREFERRED))
        .or_else(|| gaps.iter().find_map(|g| fits(g, LOW)))
}

/// The ranges of a maps file (this process's, read at start-up).
pub fn parse_maps(maps: &str) -> Result<Vec<(u64, u64)>, RestoreError> {
    crate::proc::parse_maps(maps)
        .map(|v| v.iter().map(|m| (m.start, m.end)).collect())
        .map_err(|line| RestoreError::System(format!("/proc/self/maps: bad line {line:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hole_prefers_high_addresses_and_avoids_used() {
        let used = [(0x400000, 0x500000), (0x1000_0000_0000, 0x1000_0010_0000)];
        let h = find_hole(&used, 0x10000).expect("test setup");
        assert!(h >= 0x1000_0010_0000 + PAGE, "{h:#x}");
        assert!(h + 0x10000 <= TASK_SIZE);
    }

    #[test]
    fn hole_falls_back_low() {
        let used = [(0x1000_0000_0000, TASK_SIZE)];
        let h = find_hole(&used, 0x10000).expect("test setup");
        assert!(h >= 0x1_0000 && h + 0x10000 < 0x1000_0000_0000);
    }

    #[test]
    fn no_hole() {
        assert_eq!(find_hole(&[(0, TASK_SIZE)], PAGE), None);
    }
}

/// A shmem object (shared anonymous memory, or a memfd) of the tree:
/// created once by the loader before the first fork, so every task maps
/// the same one.
#[derive(Debug)]
pub struct Shmem {
    pub shmid: u64,
    pub size: u64,
    /// A memfd's name, seals, owner and mode (`None`: anonymous memory).
    pub memfd: Option<MemfdInodeEntry>,
    /// Its dumped pages (offsets in the object) and their pages file.
    pub pages: Option<(Vec<PageRun>, std::path::PathBuf, std::fs::File)>,
}

/// Every shmem object mapped in `plans` (anonymous ones sized to cover
/// all their mappings, memfds as dumped) and every memfd in `memfds` (held
/// by descriptors), with its pages from pagemap-shmem-SHMID.img where there
/// is one.
pub fn plan_shmem<'a>(
    dir: &Path,
    plans: impl Iterator<Item = &'a MemPlan>,
    memfds: impl Iterator<Item = &'a MemfdInodeEntry>,
) -> Result<Vec<Shmem>, RestoreError> {
    let plans: Vec<&MemPlan> = plans.collect();
    let mut out: Vec<Shmem> = Vec::new();
    for m in plans.iter().flat_map(|p| &p.memfds).chain(memfds) {
        if out.iter().all(|s| s.shmid != u64::from(m.shmid)) {
            out.push(Shmem {
                shmid: u64::from(m.shmid),
                size: m.size,
                memfd: Some(m.clone()),
                pages: None,
            });
        }
    }
    for plan in plans {
        for p in &plan.premaps {
            let Some(shmid) = p.shmid else { continue };
            if out.iter().any(|s| s.shmid == shmid && s.memfd.is_some()) {
                continue; // a memfd keeps its dumped size
            }
            // pgoff and len come from the image: a sum past u64 is no size.
            let end = p.pgoff.checked_add(p.len).ok_or_else(|| {
                RestoreError::Inconsistent(format!(
                    "shmem {shmid:#x}: vma {:#x} maps {} bytes at offset {:#x}, past any object",
                    p.start, p.len, p.pgoff
                ))
            })?;
            match out.iter_mut().find(|s| s.shmid == shmid) {
                Some(s) => s.size = s.size.max(end),
                None => out.push(Shmem {
                    shmid,
                    size: end,
                    memfd: None,
                    pages: None,
                }),
            }
        }
    }
    for s in &mut out {
        let name = format!("pagemap-shmem-{}.img", s.shmid);
        if !dir.join(&name).exists() {
            continue; // never touched: all zero
        }
        let size = s.size;
        // Every run must lie inside the object's pages (the last one may
        // pass its size): the fill writes each one at its offset into a
        // mapping of the object. Checked arithmetic, as offset and count
        // are the image's.
        let pages_end = size.div_ceil(PAGE).saturating_mul(PAGE);
        let inside = |r: &PageRun| {
            r.vaddr.is_multiple_of(PAGE)
                && r.nr_pages
                    .checked_mul(PAGE)
                    .and_then(|len| r.vaddr.checked_add(len))
                    .is_some_and(|end| end <= pages_end)
        };
        let check = |runs: &[PageRun]| match runs.iter().position(|r| !inside(r)) {
            Some(i) => Err(RestoreError::Inconsistent(format!(
                "{}: entry {}: {} pages at offset {:#x} lie outside the object ({size} bytes)",
                dir.join(&name).display(),
                i + 1,
                runs[i].nr_pages,
                runs[i].vaddr
            ))),
            None => Ok(()),
        };
        s.pages = Some(crate::images::pagemap::read(dir, &name, check)?);
    }
    Ok(out)
}
