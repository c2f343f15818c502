//! Reading and checking the image set of one task before anything is
//! touched: every inconsistency is refused here, with the file it is in.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::images::file::{CORE, FDINFO, FILES, FS, IDS, INVENTORY, MM, PSTREE, SECCOMP, TIMENS};
use crate::images::schema::TaskState;
use crate::images::schema::{
    CoreEntry, FdinfoEntry, FileEntry, FsEntry, InventoryEntry, MmEntry, PstreeEntry, TimensEntry,
};

use super::RestoreError;
use crate::arch::TASK_SIZE;
use crate::images::flags::*;
pub use crate::images::pagemap::PageRun;

/// Everything the restore of one task (all its threads) reads.
#[derive(Debug)]
pub struct TaskImages {
    pub dir: PathBuf,
    pub pstree: PstreeEntry,
    pub core: CoreEntry,
    /// The other threads' cores, by tid.
    pub thread_cores: Vec<(u32, CoreEntry)>,
    pub mm: MmEntry,
    pub runs: Vec<PageRun>,
    pub pages_path: PathBuf,
    pub pages: File,
    pub fs: FsEntry,
    pub files: HashMap<u32, FileEntry>,
    pub fdinfo: Vec<FdinfoEntry>,
    pub timens: Option<TimensEntry>,
    /// Seccomp filters, oldest first: (BPF bytes, flags).
    pub seccomp: crate::seccomp::Chain,
    /// Each other thread's filters (as `thread_cores`), the same way.
    pub thread_seccomp: Vec<crate::seccomp::Chain>,
    /// The namespace ids of the task (`ids-<pid>.img`).
    pub ids: crate::images::schema::TaskKobjIdsEntry,
    /// memfd.img's inodes by id.
    pub memfds: HashMap<u32, crate::images::schema::MemfdInodeEntry>,
    /// The file locks the task held (filelocks.img).
    pub locks: Vec<crate::images::schema::FileLockEntry>,
    /// MADV_GUARD_INSTALL regions, which CRIU lists after the VMAs as
    /// entries with only VMA_AREA_GUARD set (taken out of `mm.vmas`).
    pub guards: Vec<(u64, u64)>,
    /// The main thread runs in seccomp strict mode (no threads besides).
    pub seccomp_strict: bool,
    /// The filters reach every thread through SECCOMP_FILTER_FLAG_TSYNC,
    /// installed by the main thread alone.
    pub seccomp_tsync: bool,
}

fn bad(dir: &Path, name: &str, what: String) -> RestoreError {
    RestoreError::Inconsistent(format!("{}: {what}", dir.join(name).display()))
}

/// A dead task the tree holds as a zombie: its parent restores it as a
/// child that exits at once and stays unreaped (CRIU's way).
#[derive(Debug, Clone)]
pub struct Zombie {
    pub pid: u32,
    pub ppid: u32,
    pub pgid: u32,
    pub sid: u32,
    /// A wait status: an exit code << 8, or the killing signal.
    pub exit_code: u32,
    pub comm: String,
}

/// The zombie `entry` is, if its `core` says it is dead (CRIU 4.2 writes
/// task_state 2, TASK_DEAD, for a zombie; 6 is compel's zombie). A root
/// is never one: `read_task` refuses it.
pub fn zombie_of(entry: &PstreeEntry, core: &CoreEntry, root: bool) -> Option<Zombie> {
    if root {
        return None;
    }
    let tc = core.tc.as_ref()?;
    if tc.task_state != TaskState::Dead as u32 && tc.task_state != TaskState::Zombie as u32 {
        return None;
    }
    Some(Zombie {
        pid: entry.pid,
        ppid: entry.ppid,
        pgid: entry.pgid,
        sid: entry.sid,
        exit_code: tc.exit_code,
        comm: tc.comm.clone(),
    })
}

/// Reads the inventory and the process tree.
pub fn read_tree(dir: &Path) -> Result<(InventoryEntry, Vec<PstreeEntry>), RestoreError> {
    let inventory = INVENTORY.read_one(dir, "")?;
    if inventory.img_version != 2 {
        return Err(bad(
            dir,
            "inventory.img",
            format!(
                "image version {} (crest reads version 2)",
                inventory.img_version
            ),
        ));
    }
    let tree = PSTREE.read_all(dir, "")?;
    if tree.is_empty() {
        return Err(bad(dir, "pstree.img", "no processes".into()));
    }
    Ok((inventory, tree))
}

/// The images of the whole tree that every task's checks and plans
/// use: read once, not once per task.
pub struct TreeImages {
    /// files.img by id.
    pub files: HashMap<u32, FileEntry>,
    timens: Option<TimensEntry>,
    memfds: HashMap<u32, crate::images::schema::MemfdInodeEntry>,
    locks: Vec<crate::images::schema::FileLockEntry>,
}

/// Reads files.img (each id once), timens-0.img, memfd.img and
/// filelocks.img where the images have them.
pub fn read_tree_wide(dir: &Path) -> Result<TreeImages, RestoreError> {
    let mut files: HashMap<u32, FileEntry> = HashMap::new();
    for (i, f) in FILES.read_all(dir, "")?.into_iter().enumerate() {
        let id = f.id;
        if files.insert(id, f).is_some() {
            return Err(bad(
                dir,
                &FILES.name(""),
                format!("record {i}: file id {id} appears twice"),
            ));
        }
    }
    let timens = match TIMENS.read_one(dir, 0) {
        Ok(t) => Some(t),
        Err(e) if matches!(&e.kind, crate::images::ImageErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound) => {
            None
        }
        Err(e) => return Err(RestoreError::Image(e)),
    };
    let locks_file = crate::images::file::FILE_LOCKS;
    let locks = if locks_file.path(dir, "").exists() {
        locks_file.read_all(dir, "")?
    } else {
        Vec::new()
    };
    Ok(TreeImages {
        files,
        timens,
        memfds: crate::files::memfd::read_inodes(dir)?,
        locks,
    })
}

/// Reads and checks the images of the task `entry`; `tree` holds the
/// tree-wide ones.
pub fn read_task(
    dir: &Path,
    inventory: &InventoryEntry,
    tree: &TreeImages,
    entry: &PstreeEntry,
    core: CoreEntry,
) -> Result<TaskImages, RestoreError> {
    let pid = entry.pid;
    let core_name = CORE.name(pid);
    check_core(dir, &core_name, &core)?;
    let state = core.tc.as_ref().map_or(1, |tc| tc.task_state);
    if state != TaskState::Alive as u32 && state != TaskState::Stopped as u32 {
        return Err(RestoreError::Unsupported(format!(
            "{}: pid {pid} is a {} task; crest restores live and stopped tasks only",
            dir.join(&core_name).display(),
            if state == TaskState::Zombie as u32 {
                "zombie"
            } else {
                "dead"
            }
        )));
    }

    let mut thread_cores = Vec::new();
    for &tid in entry.threads.iter().filter(|&&t| t != pid) {
        let name = CORE.name(tid);
        let c = CORE.read_one(dir, tid)?;
        check_thread(dir, &name, &c)?;
        thread_cores.push((tid, c));
    }

    let mm_name = MM.name(pid);
    let mut mm = MM.read_one(dir, pid)?;
    let guards = guard_regions(dir, &mm_name, &mut mm)?;
    check_vmas(dir, &mm_name, &mm)?;
    super::aio::check(
        &mm.aios,
        &mm.vmas,
        &dir.join(&mm_name).display().to_string(),
    )?;

    let pm_name = format!("pagemap-{pid}.img");
    let (runs, pages_path, pages) =
        crate::images::pagemap::read(dir, &pm_name, |runs| check_runs(dir, &pm_name, &mm, runs))?;

    let fs = FS.read_one(dir, pid)?;
    let ids = IDS.read_one(dir, pid)?;
    if let Some(root) = &inventory.root_ids {
        crate::ns::check_restorable(&IDS.path(dir, pid), pid, &ids, root)?;
    }
    let files = tree.files.clone();
    let fdinfo_id = if inventory.fdinfo_per_id == Some(true) {
        ids.files_id
    } else {
        pid
    };
    let fdinfo_name = FDINFO.name(fdinfo_id);
    let fdinfo = FDINFO.read_all(dir, fdinfo_id)?;
    for fd in &fdinfo {
        if !files.contains_key(&fd.id) {
            return Err(bad(
                dir,
                &fdinfo_name,
                format!(
                    "fd {} refers to file id {} missing from files.img",
                    fd.fd, fd.id
                ),
            ));
        }
    }
    for (what, id) in [("cwd", fs.cwd_id), ("root", fs.root_id)] {
        if files.get(&id).and_then(|f| f.reg.as_ref()).is_none() {
            return Err(bad(
                dir,
                &FS.name(pid),
                format!("{what} refers to file id {id}, not a regular file entry in files.img"),
            ));
        }
    }
    if mm.exe_file_id != 0 && !files.contains_key(&mm.exe_file_id) {
        return Err(bad(
            dir,
            &mm_name,
            format!("exe file id {} missing from files.img", mm.exe_file_id),
        ));
    }

    let timens = tree.timens.clone();
    // The filters the task runs under, oldest first, or strict mode.
    let mode = core.thread_core.as_ref().and_then(|t| t.seccomp_mode);
    let seccomp_strict = mode == Some(1);
    if seccomp_strict && !thread_cores.is_empty() {
        return Err(RestoreError::Unsupported(format!(
            "{}: seccomp strict mode in a process with threads, which crest does not restore",
            dir.join(&core_name).display()
        )));
    }
    let seccomp = match mode {
        None | Some(0) | Some(1) => Vec::new(),
        Some(2) => {
            let top = core
                .thread_core
                .as_ref()
                .and_then(|t| t.seccomp_filter)
                .unwrap_or(0);
            let entry = SECCOMP.read_one(dir, "")?;
            crate::seccomp::seccomp_chain(&entry, top).map_err(|m| bad(dir, "seccomp.img", m))?
        }
        Some(mode) => {
            return Err(RestoreError::Unsupported(format!(
                "{}: seccomp mode {mode} is not restored (only filters, mode 2)",
                dir.join(&core_name).display()
            )))
        }
    };

    let memfds = tree.memfds.clone();
    let mut locks = Vec::new();
    for l in tree.locks.iter().filter(|l| l.pid == pid as i32) {
        if !fdinfo.iter().any(|f| f.fd as i64 == i64::from(l.fd)) {
            return Err(bad(
                dir,
                &crate::images::file::FILE_LOCKS.name(""),
                format!(
                    "pid {pid}: a lock on fd {}, which the task does not hold",
                    l.fd
                ),
            ));
        }
        locks.push(l.clone());
    }
    // As CRIU writes it: the main thread's filters with TSYNC, the other
    // threads' none, for filters all threads shared.
    const SECCOMP_FILTER_FLAG_TSYNC: u32 = 1;
    let seccomp_tsync =
        !thread_cores.is_empty() && seccomp.iter().any(|f| f.1 & SECCOMP_FILTER_FLAG_TSYNC != 0);
    let thread_seccomp = thread_chains(dir, &thread_cores, seccomp_tsync)?;
    Ok(TaskImages {
        thread_seccomp,
        seccomp_strict,
        seccomp_tsync,
        guards,
        locks,
        ids,
        memfds,
        thread_cores,
        seccomp,
        dir: dir.into(),
        pstree: entry.clone(),
        core,
        mm,
        runs,
        pages_path,
        pages,
        fs,
        files,
        fdinfo,
        timens,
    })
}

/// A thread's core: x86_64 registers of the right sizes.
fn check_thread(dir: &Path, name: &str, c: &CoreEntry) -> Result<(), RestoreError> {
    let ti = c
        .thread_info
        .as_ref()
        .ok_or_else(|| bad(dir, name, "no x86 thread_info".into()))?;
    if ti.fpregs.st_space.len() != 32 || ti.fpregs.xmm_space.len() != 64 {
        return Err(bad(dir, name, "fpregs of the wrong size".into()));
    }
    Ok(())
}

/// A thread's seccomp (mode, top filter).
fn seccomp_of(c: &CoreEntry) -> (i32, Option<u32>) {
    c.thread_core.as_ref().map_or((0, None), |t| {
        (t.seccomp_mode.unwrap_or(0), t.seccomp_filter)
    })
}

/// Each other thread's filters, oldest first: its own chain (threads of
/// one task may differ), or, where the main thread's reach every thread
/// (`tsync`, as crest writes filters all threads shared), none; a thread
/// with filters of its own beside those is refused by name.
fn thread_chains(
    dir: &Path,
    threads: &[(u32, CoreEntry)],
    tsync: bool,
) -> Result<Vec<crate::seccomp::Chain>, RestoreError> {
    let mut image = None;
    let mut out = Vec::with_capacity(threads.len());
    for (tid, c) in threads {
        let refuse = |what: &str| {
            RestoreError::Unsupported(format!(
                "{}: thread {tid} {what}, which crest does not restore",
                dir.display()
            ))
        };
        match seccomp_of(c) {
            (0, _) => out.push(Vec::new()),
            (2, top) if !tsync => {
                let entry = match image.take() {
                    Some(e) => e,
                    None => SECCOMP.read_one(dir, "")?,
                };
                out.push(
                    crate::seccomp::seccomp_chain(&entry, top.unwrap_or(0))
                        .map_err(|m| bad(dir, "seccomp.img", m))?,
                );
                image = Some(entry);
            }
            (2, _) => {
                return Err(refuse(
                    "has seccomp filters of its own beside filters of every thread",
                ))
            }
            (1, _) => return Err(refuse("runs in seccomp strict mode")),
            (mode, _) => return Err(refuse(&format!("runs in seccomp mode {mode}"))),
        }
    }
    Ok(out)
}

fn check_core(dir: &Path, name: &str, core: &CoreEntry) -> Result<(), RestoreError> {
    const X86_64: i32 = 1;
    if core.mtype != X86_64 {
        return Err(bad(
            dir,
            name,
            format!("machine type {} is not x86_64", core.mtype),
        ));
    }
    // Queued signals carry a whole siginfo (128 bytes on x86_64).
    let queues = [
        (
            "shared",
            core.tc.as_ref().and_then(|t| t.signals_s.as_ref()),
        ),
        (
            "private",
            core.thread_core.as_ref().and_then(|t| t.signals_p.as_ref()),
        ),
    ];
    for (which, q) in queues {
        for (i, s) in q.iter().flat_map(|q| q.signals.iter()).enumerate() {
            if s.siginfo.len() != 128 {
                return Err(bad(
                    dir,
                    name,
                    format!(
                        "{which} pending signal {i}: a siginfo of {} bytes, not 128",
                        s.siginfo.len()
                    ),
                ));
            }
        }
    }
    let ti = core
        .thread_info
        .as_ref()
        .ok_or_else(|| bad(dir, name, "no x86 thread_info".into()))?;
    if ti.gpregs.mode.unwrap_or(1) != 1 {
        return Err(RestoreError::Unsupported(format!(
            "{}: compat (32-bit) tasks are not supported",
            dir.join(name).display()
        )));
    }
    if core.tc.is_none() {
        return Err(bad(dir, name, "no task core (tc)".into()));
    }
    let ti_fp = &ti.fpregs;
    if ti_fp.st_space.len() != 32 || ti_fp.xmm_space.len() != 64 {
        return Err(bad(
            dir,
            name,
            format!(
                "fpregs: {} st words and {} xmm words (want 32 and 64)",
                ti_fp.st_space.len(),
                ti_fp.xmm_space.len()
            ),
        ));
    }
    Ok(())
}

/// Takes the guard regions out of `mm.vmas`; each must be page aligned
/// and inside VMAs.
fn guard_regions(
    dir: &Path,
    name: &str,
    mm: &mut MmEntry,
) -> Result<Vec<(u64, u64)>, RestoreError> {
    type Vmas = Vec<crate::images::schema::VmaEntry>;
    let (guards, vmas): (Vmas, Vmas) = std::mem::take(&mut mm.vmas)
        .into_iter()
        .partition(|v| v.status == VMA_AREA_GUARD);
    mm.vmas = vmas;
    let mut out = Vec::with_capacity(guards.len());
    for g in guards {
        // A region may span adjacent VMAs, but no page outside them.
        let mut at = g.start;
        for v in &mm.vmas {
            if v.start <= at && at < v.end {
                at = v.end.min(g.end);
            }
        }
        let inside = at >= g.end;
        if g.start % PAGE != 0 || g.end % PAGE != 0 || g.start >= g.end || !inside {
            return Err(bad(
                dir,
                name,
                format!(
                    "guard region {:#x}-{:#x}: not a page-aligned range inside the vmas",
                    g.start, g.end
                ),
            ));
        }
        out.push((g.start, g.end));
    }
    Ok(out)
}

/// VMAs must be page aligned, non-empty, sorted, disjoint and in user space.
fn check_vmas(dir: &Path, name: &str, mm: &MmEntry) -> Result<(), RestoreError> {
    let mut prev_end = 0u64;
    for (i, v) in mm.vmas.iter().enumerate() {
        if v.status & VMA_AREA_VSYSCALL != 0 {
            continue;
        }
        let what = format!("vma {i} {:#x}-{:#x}", v.start, v.end);
        if v.start % PAGE != 0 || v.end % PAGE != 0 || v.start >= v.end {
            return Err(bad(dir, name, format!("{what}: not a page-aligned range")));
        }
        if v.end > TASK_SIZE {
            return Err(bad(
                dir,
                name,
                format!("{what}: beyond the user address space"),
            ));
        }
        if v.start < prev_end {
            return Err(bad(
                dir,
                name,
                format!("{what}: overlaps or precedes the previous vma"),
            ));
        }
        prev_end = v.end;
    }
    Ok(())
}

/// Every pagemap run must lie inside one VMA, runs must not overlap.
fn check_runs(dir: &Path, name: &str, mm: &MmEntry, runs: &[PageRun]) -> Result<(), RestoreError> {
    let mut prev_end = 0u64;
    for (i, r) in runs.iter().enumerate() {
        let len = r.nr_pages.saturating_mul(PAGE);
        let end = r.vaddr.saturating_add(len);
        let what = format!("entry {} {:#x} ({} pages)", i + 1, r.vaddr, r.nr_pages);
        if r.vaddr % PAGE != 0 || r.nr_pages == 0 {
            return Err(bad(
                dir,
                name,
                format!("{what}: not a page-aligned, non-empty run"),
            ));
        }
        if r.vaddr < prev_end {
            return Err(bad(
                dir,
                name,
                format!("{what}: overlaps the previous entry"),
            ));
        }
        prev_end = end;
        // A run may span adjacent VMAs (CRIU merges runs across them), but
        // every page of it must be inside one.
        let mut at = r.vaddr;
        for v in mm.vmas.iter().filter(|v| v.status & VMA_AREA_VSYSCALL == 0) {
            if v.start <= at && at < v.end {
                at = v.end.min(end);
            }
        }
        if at < end {
            return Err(bad(
                dir,
                name,
                format!("{what}: page {at:#x} is outside every vma"),
            ));
        }
        // Pages of a shared mapping are its file's or object's: written
        // into the mapping they would change that file (CRIU never dumps
        // them into a task's pagemap).
        if r.file_off.is_some() {
            // (An AIO ring's pages are dumped: they become a new ring.)
            let shared = mm.vmas.iter().find(|v| {
                v.flags as i32 & libc::MAP_SHARED != 0
                    && v.status & VMA_AREA_AIORING == 0
                    && v.start < end
                    && r.vaddr < v.end
            });
            if let Some(v) = shared {
                return Err(bad(
                    dir,
                    name,
                    format!(
                        "{what}: pages for the shared mapping {:#x}-{:#x}, which would be \
                         written into what it maps",
                        v.start, v.end
                    ),
                ));
            }
        }
    }
    Ok(())
}
