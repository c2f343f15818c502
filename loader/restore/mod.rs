//! `crest restore`: bring back a task from CRIU images.
//!
//! The order, and why:
//! 1. Read and check every image (`images`), plan memory (`mem`), files
//!    (`files`) and the blob's argument block (`args`) in the parent:
//!    nothing is created before the whole restore is known to make sense.
//! 2. Reserve one hole of address space for the premapped VMAs, a shared
//!    status page, the blob, its arguments and its stack.
//! 3. Enter a new time namespace for children (when the images have one),
//!    then clone3 the task with its dumped pid.
//! 4. The child restores session, cwd, root, umask and descriptors,
//!    premaps and fills memory, installs the blob and jumps into it.
//! 5. The parent waits on the status page; on any failure it kills the
//!    task, so nothing half-restored survives.

mod args;
mod files;
mod finish;
pub mod images;
pub mod mem;
pub mod sigframe;
mod vdso;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use restorer_blob::{Status, STATE_DONE, STATE_FAILED, STATE_RUNNING};

use crate::blob::{self, PAGE};
use crate::cli::Opts;
use crate::images::ImageError;
use crate::kerndat::Kerndat;
use crate::log::{DEBUG, INFO, WARN};
use crate::sys::{self, Forked};

/// Why a restore failed.
#[derive(Debug)]
pub enum RestoreError {
    Image(ImageError),
    /// The images contradict themselves or the system (sizes, ranges).
    Inconsistent(String),
    /// Valid images with state crest cannot restore yet.
    Unsupported(String),
    /// A system call of the loader failed.
    System(String),
    /// The dumped pid is in use.
    PidTaken {
        pid: u32,
        holder: String,
    },
    /// The task failed before the blob ran (message from the child).
    Child {
        pid: u32,
        msg: String,
    },
    /// The blob reported a failed stage.
    Blob {
        pid: u32,
        stage: u32,
        errno: u32,
        detail: u64,
    },
    /// The task died without reporting.
    Died {
        pid: u32,
        status: String,
    },
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            RestoreError::Image(e) => write!(f, "{e}"),
            RestoreError::Inconsistent(m) => write!(f, "inconsistent images: {m}"),
            RestoreError::Unsupported(m) => write!(f, "unsupported: {m}"),
            RestoreError::System(m) => write!(f, "{m}"),
            RestoreError::PidTaken { pid, holder } => {
                write!(
                    f,
                    "pid {pid} is already in use by {holder}: cannot restore the task with its pid"
                )
            }
            RestoreError::Child { pid, msg } => write!(f, "pid {pid}: {msg}"),
            RestoreError::Blob {
                pid,
                stage,
                errno,
                detail,
            } => {
                write!(
                    f,
                    "pid {pid}: restorer failed at {}: {}",
                    restorer_blob::stage_name(*stage),
                    errno_name(*errno)
                )?;
                if *detail == u64::MAX {
                    write!(f, " (fault injected by CREST_FAULT)")
                } else if *detail != 0 {
                    write!(f, " (at {detail:#x})")
                } else {
                    Ok(())
                }
            }
            RestoreError::Died { pid, status } => {
                write!(
                    f,
                    "pid {pid}: the task {status} before finishing its restore"
                )
            }
        }
    }
}

impl From<ImageError> for RestoreError {
    fn from(e: ImageError) -> Self {
        RestoreError::Image(e)
    }
}

fn errno_name(errno: u32) -> String {
    let e = std::io::Error::from_raw_os_error(errno as i32);
    format!("{e}")
}

/// `crest restore`.
pub fn run(opts: &Opts) -> Result<i32, String> {
    restore(opts).map_err(|e| e.to_string())
}

fn restore(opts: &Opts) -> Result<i32, RestoreError> {
    let mut clock = crate::log::Stages::new();
    let dir = opts
        .images_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    let k = Kerndat::probe();
    if !k.has_clone3_set_tid {
        return Err(RestoreError::Unsupported(
            "this kernel lacks clone3 with set_tid (Linux 5.5+), needed to restore pids".into(),
        ));
    }
    clock.stage("kerndat");
    let (inventory, tree) = images::read_tree(&dir)?;
    if tree.len() > 1 {
        return Err(RestoreError::Unsupported(format!(
            "{}: a tree of {} processes; crest restores single processes so far",
            dir.join("pstree.img").display(),
            tree.len()
        )));
    }
    let entry = &tree[0];
    if !entry.threads.contains(&entry.pid) {
        return Err(RestoreError::Inconsistent(format!(
            "{}: pid {} is not among its own threads {:?}",
            dir.join("pstree.img").display(),
            entry.pid,
            entry.threads
        )));
    }
    if entry.sid != entry.pid && !opts.shell_job {
        return Err(RestoreError::Unsupported(format!(
            "pid {} belongs to session {} which is not in the images; \
             restore it into the current session with --shell-job",
            entry.pid, entry.sid
        )));
    }
    let task = images::read_task(&dir, &inventory, entry)?;
    clock.stage("read images");
    let mem = mem::plan(
        &dir.join(format!("mm-{}.img", entry.pid)),
        &task.mm.vmas,
        &task.files,
    )?;
    mem.check_vdso(k.vdso)?;
    if let (Some(d), Some(c)) = (mem.vdso, k.vdso) {
        let dumped = read_dumped(&task, d.vdso_start, d.vdso_len)?;
        vdso::check(&dumped, &sys::read_mem(c.vdso_start, c.vdso_len as usize))?;
    }
    let fds = files::plan(&task, opts.shell_job)?;
    clock.stage("plan");

    // 2. The hole: [premap area][status page][blob][args][stack]. The
    //    argument block's size does not depend on where it goes.
    let fault = fault_from_env();
    let sizing = args::Layout::default();
    let args_len = blob::page_up(args::build(&k, &task, &mem, &fds, &sizing, fault)?.len() as u64);
    let blob_len = blob::code_size() + args_len + args::STACK_SIZE;
    let total = mem.premap_len + PAGE + blob_len;
    let mut used = mem::own_mappings()?;
    used.extend_from_slice(&mem.dumped);
    let area = mem::find_hole(&used, total).ok_or_else(|| {
        RestoreError::System(format!(
            "no {total} bytes of address space free in both layouts"
        ))
    })?;
    let status_at = area + mem.premap_len;
    let blob_at = status_at + PAGE;
    let args_at = blob_at + blob::code_size();
    let layout = args::Layout {
        area,
        status_at,
        args_at,
        keep_end: area + total,
    };
    let args_block = args::build(&k, &task, &mem, &fds, &layout, fault)?;
    let reservation = Reservation::new(area, total)?;
    sys::mmap(
        status_at,
        PAGE,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
        -1,
        0,
    )
    .map_err(|e| RestoreError::System(format!("status page: {e}")))?;
    clock.stage("layout");

    // 3. Time namespace, then the task.
    if let Some(t) = &task.timens {
        if k.has_timens {
            enter_timens(t)?;
        } else {
            crate::log!(WARN, "no time namespaces here: monotonic clocks will jump");
        }
    }
    let pid = entry.pid as i32;
    let child = ChildPlan {
        task: &task,
        mem: &mem,
        fds: &fds,
        area,
        blob_at,
        args_at,
        args: &args_block,
        status_at,
        stack_top: blob_at + blob_len,
    };
    // The task starts with every signal blocked; rt_sigreturn installs
    // its dumped mask.
    let mask =
        sys::block_all_signals().map_err(|e| RestoreError::System(format!("sigprocmask: {e}")))?;
    let forked = sys::clone3(0, &[pid]);
    if !matches!(forked, Ok(Forked::Child)) {
        sys::restore_sigmask(mask);
    }
    let guard = match forked {
        Ok(Forked::Child) => child.run(),
        Ok(Forked::Parent(p)) => ChildGuard { pid: p },
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
            return Err(RestoreError::PidTaken {
                pid: entry.pid,
                holder: pid_holder(entry.pid),
            })
        }
        Err(e) => return Err(RestoreError::System(format!("clone3 for pid {pid}: {e}"))),
    };
    // Trace the task so that the blob can be unmapped at the end
    // (finish.rs), and tell the blob, which waits for the answer.
    let traced = finish::seize(guard.pid);
    let tracer = if traced {
        restorer_blob::TRACER_ATTACHED
    } else {
        restorer_blob::TRACER_NONE
    };
    sys::write_mem(status_at + 12, &tracer.to_ne_bytes());
    sys::futex_wake(status_at + 12);
    clock.stage("fork");
    let result = wait_status(&guard, status_at);
    drop(reservation);
    let trapped = result?;
    clock.stage("restore");
    if traced {
        finish::threads_out(guard.pid, &entry.threads, (blob_at, blob_at + blob_len))?;
        finish::unmap_blob(guard.pid, trapped, blob_at, blob_len)?;
        clock.stage("unmap restorer");
    }
    let elapsed = clock.start.elapsed();
    crate::log!(INFO, "pid {pid} restored in {} us", elapsed.as_micros());
    if let Some(p) = &opts.pidfile {
        std::fs::write(p, format!("{pid}\n"))
            .map_err(|e| RestoreError::System(format!("pidfile {}: {e}", p.display())))?;
    }
    write_stats(opts, &dir, elapsed, &task);
    let pid = guard.release();
    if opts.detach {
        return Ok(0);
    }
    // Like criu restore without -d: wait for the task, pass on its status.
    match sys::waitpid(pid, 0) {
        Ok(Some((_, st))) if libc::WIFEXITED(st) => Ok(libc::WEXITSTATUS(st)),
        Ok(Some((_, st))) if libc::WIFSIGNALED(st) => Ok(128 + libc::WTERMSIG(st)),
        _ => Ok(0),
    }
}

/// Who holds `pid`, for the error message.
fn pid_holder(pid: u32) -> String {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"));
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(") ")
        .next()
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or("?");
    match comm {
        Ok(c) if state == "Z" => {
            format!("a zombie of {:?} (not yet reaped by its parent)", c.trim())
        }
        Ok(c) => format!("process {:?}", c.trim()),
        Err(_) => "a task that is not visible here".into(),
    }
}

/// Makes the children of this process start in a new time namespace whose
/// monotonic and boot-time clocks continue from their dump-time values.
fn enter_timens(t: &crate::images::proto::TimensEntry) -> Result<(), RestoreError> {
    sys::unshare(libc::CLONE_NEWTIME)
        .map_err(|e| RestoreError::System(format!("unshare(CLONE_NEWTIME): {e}")))?;
    let offset = |clock, dumped: &crate::images::proto::Timespec| -> Result<String, RestoreError> {
        let (s, ns) = sys::clock_gettime(clock)
            .map_err(|e| RestoreError::System(format!("clock_gettime: {e}")))?;
        let want = dumped.tv_sec as i128 * 1_000_000_000 + dumped.tv_nsec as i128;
        let now = s as i128 * 1_000_000_000 + ns as i128;
        let d = want - now;
        Ok(format!(
            "{} {}",
            d.div_euclid(1_000_000_000),
            d.rem_euclid(1_000_000_000)
        ))
    };
    let text = format!(
        "monotonic {}\nboottime {}\n",
        offset(libc::CLOCK_MONOTONIC, &t.monotonic)?,
        offset(libc::CLOCK_BOOTTIME, &t.boottime)?
    );
    crate::log!(DEBUG, "timens offsets: {}", text.replace('\n', "; "));
    std::fs::write("/proc/self/timens_offsets", text)
        .map_err(|e| RestoreError::System(format!("/proc/self/timens_offsets: {e}")))
}

/// The address-space reservation for the restore, released on drop.
struct Reservation {
    at: u64,
    len: u64,
}

impl Reservation {
    fn new(at: u64, len: u64) -> Result<Reservation, RestoreError> {
        sys::mmap(
            at,
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE
                | libc::MAP_ANONYMOUS
                | libc::MAP_NORESERVE
                | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
        .map_err(|e| RestoreError::System(format!("reserving {len} bytes at {at:#x}: {e}")))?;
        Ok(Reservation { at, len })
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let _ = sys::munmap(self.at, self.len);
    }
}

/// A restored task that is killed and reaped unless released: a restore
/// is all or nothing.
struct ChildGuard {
    pid: i32,
}

impl ChildGuard {
    fn release(self) -> i32 {
        let pid = self.pid;
        std::mem::forget(self);
        pid
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = sys::kill(self.pid, libc::SIGKILL);
        let _ = sys::waitpid(self.pid, 0);
    }
}

/// Offset in the status page of a loader-side error message from the child.
const MSG_OFF: u64 = 64;

/// Waits until the task reports success or failure, or dies. On success,
/// tells whether the blob's breakpoint stop was already reaped here.
fn wait_status(child: &ChildGuard, status_at: u64) -> Result<bool, RestoreError> {
    let pid = child.pid as u32;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = sys::load_u32(status_at);
        match state {
            STATE_DONE => return Ok(false),
            STATE_FAILED => return Err(read_failure(pid, status_at)),
            STATE_RUNNING => {}
            s => {
                return Err(RestoreError::System(format!(
                    "pid {pid}: bad status word {s}"
                )));
            }
        }
        match sys::waitpid(child.pid, libc::WNOHANG | libc::__WALL) {
            Ok(Some((_, st))) if libc::WIFSTOPPED(st) => {
                // A traced task stops at the blob's breakpoint once done,
                // or at a fault (SIGSEGV..) in the restorer.
                match sys::load_u32(status_at) {
                    STATE_DONE if libc::WSTOPSIG(st) == libc::SIGTRAP => return Ok(true),
                    STATE_FAILED => return Err(read_failure(pid, status_at)),
                    _ => {
                        return Err(RestoreError::Died {
                            pid,
                            status: format!("stopped on signal {}", libc::WSTOPSIG(st)),
                        })
                    }
                }
            }
            Ok(Some((_, st))) => {
                // It may have reported just before dying.
                if sys::load_u32(status_at) == STATE_FAILED {
                    return Err(read_failure(pid, status_at));
                }
                let status = if libc::WIFSIGNALED(st) {
                    format!("was killed by signal {}", libc::WTERMSIG(st))
                } else {
                    format!("exited with {}", libc::WEXITSTATUS(st))
                };
                return Err(RestoreError::Died { pid, status });
            }
            Ok(None) => {}
            Err(e) => return Err(RestoreError::System(format!("waitpid {pid}: {e}"))),
        }
        if Instant::now() > deadline {
            return Err(RestoreError::System(format!(
                "pid {pid}: no report within 30 s"
            )));
        }
        sys::futex_wait(status_at, STATE_RUNNING, 5_000_000);
    }
}

fn read_failure(pid: u32, status_at: u64) -> RestoreError {
    let raw = sys::read_mem(status_at, std::mem::size_of::<Status>());
    let word = |i: usize| u32::from_ne_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
    let (stage, errno) = (word(4), word(8));
    let detail = u64::from_ne_bytes(raw[16..24].try_into().unwrap_or([0; 8]));
    if stage == 0 {
        let msg = sys::read_mem(status_at + MSG_OFF, (PAGE - MSG_OFF) as usize);
        let end = msg.iter().position(|&b| b == 0).unwrap_or(msg.len());
        return RestoreError::Child {
            pid,
            msg: String::from_utf8_lossy(&msg[..end]).into_owned(),
        };
    }
    RestoreError::Blob {
        pid,
        stage,
        errno,
        detail,
    }
}

/// CRIU's stats-restore image, in the work directory (default: the image
/// directory, unless that is read-only, as the shared fixtures are).
fn write_stats(opts: &Opts, dir: &Path, elapsed: Duration, task: &images::TaskImages) {
    use crate::images::proto::{RestoreStatsEntry, StatsEntry};
    use std::os::unix::fs::PermissionsExt;
    let work = opts.work_dir.clone().unwrap_or_else(|| dir.to_path_buf());
    let writable = std::fs::metadata(&work).is_ok_and(|m| m.permissions().mode() & 0o222 != 0);
    if !writable {
        crate::log!(
            DEBUG,
            "{}: read-only, no stats-restore written",
            work.display()
        );
        return;
    }
    let pages: u64 = task
        .runs
        .iter()
        .filter(|r| r.file_off.is_some())
        .map(|r| r.nr_pages)
        .sum();
    let stats = StatsEntry {
        dump: None,
        restore: Some(RestoreStatsEntry {
            pages_compared: 0,
            pages_skipped_cow: 0,
            forking_time: 0,
            restore_time: elapsed.as_micros() as u32,
            pages_restored: Some(pages),
        }),
    };
    let mut w = crate::images::ImageWriter::new(crate::images::magic::STATS_MAGIC);
    w.push(&stats);
    if let Err(e) = std::fs::write(work.join("stats-restore"), w.into_bytes()) {
        crate::log!(WARN, "{}: {e}", work.join("stats-restore").display());
    }
}

/// What the child needs, all computed by the parent before the fork.
struct ChildPlan<'a> {
    task: &'a images::TaskImages,
    mem: &'a mem::MemPlan,
    fds: &'a files::FdPlan,
    area: u64,
    blob_at: u64,
    args_at: u64,
    args: &'a [u8],
    status_at: u64,
    stack_top: u64,
}

impl ChildPlan<'_> {
    /// Runs in the forked task: never returns.
    fn run(&self) -> ! {
        match self.prepare() {
            Ok(()) => {
                // SAFETY: prepare() installed and sealed the blob at
                // blob_at, wrote the argument block at args_at, and the
                // stack below stack_top is part of the blob's mapping.
                #[allow(unsafe_code)]
                unsafe {
                    blob::enter(
                        self.blob_at,
                        blob::RESTORE_TASK_OFFSET,
                        self.args_at,
                        self.stack_top,
                    )
                }
            }
            Err(msg) => {
                let mut bytes = msg.into_bytes();
                bytes.truncate((PAGE - MSG_OFF - 1) as usize);
                bytes.push(0);
                sys::write_mem(self.status_at + MSG_OFF, &bytes);
                sys::write_mem(self.status_at + 4, &0u32.to_ne_bytes());
                sys::write_mem(self.status_at, &STATE_FAILED.to_ne_bytes());
                sys::futex_wake(self.status_at);
                sys::exit_now(1)
            }
        }
    }

    fn prepare(&self) -> Result<(), String> {
        let t = self.task;
        let ps = &t.pstree;
        if ps.sid == ps.pid {
            sys::setsid().map_err(|e| format!("setsid: {e}"))?;
        } else if ps.pgid == ps.pid {
            sys::setpgid(0, 0).map_err(|e| format!("setpgid: {e}"))?;
        }
        sys::umask(t.fs.umask.unwrap_or(0o022));
        let root = &self.fds.root;
        if root.as_bytes() != b"/" {
            sys::chroot(root).map_err(|e| format!("chroot {root:?}: {e}"))?;
        }
        let cwd = sys::open(
            &self.fds.cwd,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            0,
        )
        .map_err(|e| format!("cwd {:?}: {e}", self.fds.cwd))?;
        sys::fchdir(cwd).map_err(|e| format!("chdir {:?}: {e}", self.fds.cwd))?;
        sys::close(cwd);
        // Memory before descriptors: the pages file is one of our inherited
        // descriptors, whose number a target descriptor may need.
        self.premap()?;
        files::install(self.fds)?;
        files::close_strays(self.fds)?;
        sys::rseq_unregister().map_err(|e| format!("rseq unregister: {e}"))?;
        Ok(())
    }

    /// Maps every premapped VMA into its slot, fills the dumped pages,
    /// applies the dumped protection, then installs the blob.
    fn premap(&self) -> Result<(), String> {
        for p in &self.mem.premaps {
            let at = self.area + p.slot;
            let (fd, what) = match &p.file {
                Some((path, flags)) => (
                    sys::open(path, *flags, 0)
                        .map_err(|e| format!("{path:?} (mapped at {:#x}): {e}", p.start))?,
                    path.to_string_lossy().into_owned(),
                ),
                None => (-1, "anonymous".to_string()),
            };
            let prot = p.prot | libc::PROT_READ | libc::PROT_WRITE;
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
        fill_pages(self.task, self.mem, self.area)?;
        for p in &self.mem.premaps {
            let at = self.area + p.slot;
            if p.prot != p.prot | libc::PROT_READ | libc::PROT_WRITE {
                sys::mprotect(at, p.len, p.prot)
                    .map_err(|e| format!("mprotect vma {:#x}: {e}", p.start))?;
            }
            for &adv in &p.advice {
                sys::madvise(at, p.len, adv)
                    .map_err(|e| format!("madvise({adv}) vma {:#x}: {e}", p.start))?;
            }
        }
        let blob_len = self.stack_top - self.blob_at;
        sys::mmap(
            self.blob_at,
            blob_len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
            -1,
            0,
        )
        .map_err(|e| format!("mapping the restorer at {:#x}: {e}", self.blob_at))?;
        blob::install(self.blob_at);
        sys::write_mem(self.args_at, self.args);
        blob::seal(self.blob_at).map_err(|e| format!("sealing the restorer: {e}"))?;
        Ok(())
    }
}

/// Reads every present page run into its premapped slot, with as few
/// `preadv` calls as the layout allows.
fn fill_pages(task: &images::TaskImages, mem: &mem::MemPlan, area: u64) -> Result<(), String> {
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
fn read_dumped(task: &images::TaskImages, start: u64, len: u64) -> Result<Vec<u8>, RestoreError> {
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

/// Stage names accepted by `CREST_FAULT`.
pub fn fault_from_env() -> u32 {
    let Ok(v) = std::env::var("CREST_FAULT") else {
        return restorer_blob::FAULT_NONE;
    };
    if let Ok(n) = v.parse() {
        return n;
    }
    match v.as_str() {
        "mremap" | "remap" => restorer_blob::STAGE_REMAP,
        "vdso" => restorer_blob::STAGE_VDSO,
        "mm" => restorer_blob::STAGE_MM,
        "sigaction" => restorer_blob::STAGE_SIGACTION,
        "rlimit" => restorer_blob::STAGE_RLIMIT,
        "thread" => restorer_blob::STAGE_THREAD,
        "sigqueue" => restorer_blob::STAGE_SIGQUEUE,
        "creds" => restorer_blob::STAGE_CREDS,
        "rseq" => restorer_blob::STAGE_RSEQ,
        "posix-timer" => restorer_blob::STAGE_POSIX_TIMER,
        "sigreturn" => restorer_blob::STAGE_SIGRETURN,
        _ => restorer_blob::FAULT_NONE,
    }
}
