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

use crate::blob;
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

/// What `crest restore` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    pub images_dir: PathBuf,
    /// Where stats-restore goes (`-W`; default: the images dir if writable).
    pub work_dir: Option<PathBuf>,
    /// Return once the tree runs (`-d`) instead of waiting for its root.
    pub detach: bool,
    /// Write the restored root's pid here.
    pub pidfile: Option<PathBuf>,
    /// The tree was a shell job: it joins the caller's session and terminal.
    pub shell_job: bool,
}

/// `crest restore`: brings back the tree dumped in `opts.images_dir`.
/// Returns the exit code to leave with: 0 when detached, else the root's.
pub fn restore(opts: &RestoreOptions) -> Result<i32, RestoreError> {
    let mut clock = crate::log::Stages::new();
    let dir = opts.images_dir.clone();
    let (k, own_maps) = Kerndat::probe_restore_with_maps();
    if !k.has_clone3_set_tid {
        return Err(RestoreError::Unsupported(
            "this kernel lacks clone3 with set_tid (Linux 5.5+), needed to restore pids".into(),
        ));
    }
    clock.stage("kerndat");
    let (inventory, tree) = images::read_tree(&dir)?;
    check_tree(&dir, &tree, opts.shell_job)?;
    let mut plans = Vec::with_capacity(tree.len());
    for entry in &tree {
        let task = images::read_task(&dir, &inventory, entry)?;
        let mut mem = mem::plan(
            &dir.join(format!("mm-{}.img", entry.pid)),
            &task.mm.vmas,
            &task.files,
        )?;
        mem.mark_filled(&task.runs);
        let same_layout = mem.same_vdso_layout(k.vdso)?;
        if let (Some(d), Some(c)) = (mem.vdso, k.vdso) {
            let dumped = read_dumped(&task, d.vdso_start, d.vdso_len)?;
            let current = sys::read_mem(c.vdso_start, c.vdso_len as usize);
            if let Some(redirects) = vdso::plan(&dumped, &current, same_layout)? {
                crate::log!(
                    INFO,
                    "pid {}: the dumped vdso differs from this kernel's: {} entry points redirected",
                    entry.pid,
                    redirects.len()
                );
                mem.proxify(redirects, c);
            }
        }
        let fds = files::plan(&task, opts.shell_job)?;
        plans.push(TaskPlan {
            task,
            mem,
            fds,
            args: Vec::new(),
            blob_at: 0,
            args_at: 0,
            stack_top: 0,
        });
    }
    let pipes = files::read_pipes(&dir, plans.iter().map(|p| &p.fds))?;
    let shmem = mem::plan_shmem(&dir, plans.iter().map(|p| &p.mem))?;
    clock.stage("read images and plan");

    // 2. The hole: [status area][premap area][blob][args][stack], the
    //    last four per task at the same addresses (each task is its own
    //    address space). The argument block's size does not depend on
    //    where it goes.
    let fault = fault_from_env();
    let status_len = blob::page_up(SLOT * plans.len() as u64 + MSG_LEN);
    let mut total = 0;
    for p in &plans {
        let sizing = args::Layout::default();
        let args_len =
            blob::page_up(args::build(&k, &p.task, &p.mem, &p.fds, &sizing, fault)?.len() as u64);
        total = total.max(p.mem.premap_len + blob::code_size() + args_len + args::STACK_SIZE);
    }
    // A proxied vdso's replacement goes last, past a guard page: outside
    // every task's kept range, so the blob's sweep leaves it free for
    // ARCH_MAP_VDSO_64.
    let rt_len = plans
        .iter()
        .filter_map(|p| p.mem.proxy.as_ref())
        .map(|x| x.rt_len + images::PAGE)
        .max()
        .unwrap_or(0);
    let total = status_len + total + rt_len;
    // Our own layout as it was at start-up: nothing since has mapped
    // anything big (std's heap grows with brk or far below the hole).
    let mut used = mem::parse_maps(&own_maps);
    if used.is_empty() {
        used = mem::own_mappings()?;
    }
    for p in &plans {
        used.extend_from_slice(&p.mem.dumped);
    }
    let hole = mem::find_hole(&used, total).ok_or_else(|| {
        RestoreError::System(format!(
            "no {total} bytes of address space free in the loader's and the dumped layouts"
        ))
    })?;
    let area = hole + status_len;
    for (i, p) in plans.iter_mut().enumerate() {
        if let Some(x) = &mut p.mem.proxy {
            x.rt_at = hole + total - x.rt_len;
        }
        p.blob_at = area + p.mem.premap_len;
        p.args_at = p.blob_at + blob::code_size();
        let mut layout = args::Layout {
            area,
            status_at: hole + SLOT * i as u64,
            status_area: hole,
            status_len,
            args_at: p.args_at,
            keep_end: 0,
        };
        let sizing = args::build(&k, &p.task, &p.mem, &p.fds, &layout, fault)?;
        p.stack_top = p.args_at + blob::page_up(sizing.len() as u64) + args::STACK_SIZE;
        layout.keep_end = p.stack_top;
        p.args = args::build(&k, &p.task, &p.mem, &p.fds, &layout, fault)?;
    }
    let reservation = Reservation::new(hole, total)?;
    sys::mmap(
        hole,
        status_len,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
        -1,
        0,
    )
    .map_err(|e| RestoreError::System(format!("status area: {e}")))?;
    clock.stage("layout");

    // 3. Time namespace, pipes, then the tree: its root is our child and
    //    forks the others, each with its pid (TaskPlan::run).
    if let Some(t) = &plans[0].task.timens {
        if k.has_timens {
            enter_timens(t)?;
        } else {
            crate::log!(WARN, "no time namespaces here: monotonic clocks will jump");
        }
    }
    let shared = files::create_shared(&pipes, plans.iter().map(|p| &p.fds))?;
    let shmem_fds = mem::create_shmem(&shmem)?;
    // Orphans of a failed restore come to us, to be killed and reaped.
    let _ = sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    let run = TreeRun {
        plans: &plans,
        hole,
        total,
        shared: &shared,
        shmem: &shmem_fds,
    };
    // The tasks start with every signal blocked; rt_sigreturn installs
    // their dumped masks.
    let mask =
        sys::block_all_signals().map_err(|e| RestoreError::System(format!("sigprocmask: {e}")))?;
    let root_pid = tree[0].pid;
    let forked = sys::clone3(0, &[root_pid as i32]);
    if !matches!(forked, Ok(Forked::Child)) {
        sys::restore_sigmask(mask);
    }
    let guard = match forked {
        Ok(Forked::Child) => run.task(0),
        Ok(Forked::Parent(p)) => TreeGuard { root: p },
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
            return Err(RestoreError::PidTaken {
                pid: root_pid,
                holder: pid_holder(root_pid),
            })
        }
        Err(e) => {
            return Err(RestoreError::System(format!(
                "clone3 for pid {root_pid}: {e}"
            )))
        }
    };
    files::close_shared(&shared);
    for &fd in shmem_fds.values() {
        sys::close(fd);
    }
    clock.stage("fork");
    let result = wait_tree(&plans, hole);
    drop(reservation);
    let traced = result?;
    clock.stage("restore");
    for (p, trap) in plans.iter().zip(&traced) {
        if let Some(trapped) = *trap {
            let pid = p.task.pstree.pid as i32;
            let blob = (p.blob_at, p.stack_top);
            finish::threads_out(pid, &p.task.pstree.threads, blob)?;
            finish::unmap_blob(pid, trapped, p.blob_at, p.stack_top - p.blob_at)?;
        }
    }
    clock.stage("unmap restorer");
    // Tasks dumped stopped (SIGSTOP, job control) are stopped again.
    for p in &plans {
        let stopped = dumped_stopped(&p.task);
        if stopped {
            let pid = p.task.pstree.pid as i32;
            sys::kill(pid, libc::SIGSTOP)
                .map_err(|e| RestoreError::System(format!("pid {pid}: SIGSTOP: {e}")))?;
        }
    }
    let elapsed = clock.start.elapsed();
    crate::log!(
        INFO,
        "pid {root_pid} restored in {} us ({} processes)",
        elapsed.as_micros(),
        plans.len()
    );
    if let Some(p) = &opts.pidfile {
        std::fs::write(p, format!("{root_pid}\n"))
            .map_err(|e| RestoreError::System(format!("pidfile {}: {e}", p.display())))?;
    }
    let tasks: Vec<&images::TaskImages> = plans.iter().map(|p| &p.task).collect();
    write_stats(opts, &dir, elapsed, &tasks);
    let pid = guard.release();
    if opts.detach {
        return Ok(0);
    }
    // Like criu restore without -d: wait for the root, pass on its status.
    match sys::waitpid(pid, 0) {
        Ok(Some((_, st))) if libc::WIFEXITED(st) => Ok(libc::WEXITSTATUS(st)),
        Ok(Some((_, st))) if libc::WIFSIGNALED(st) => Ok(128 + libc::WTERMSIG(st)),
        _ => Ok(0),
    }
}

/// Whether the task was dumped stopped.
fn dumped_stopped(task: &images::TaskImages) -> bool {
    use crate::images::schema::TaskState;
    task.core.tc.as_ref().map(|tc| tc.task_state) == Some(TaskState::Stopped as u32)
}

/// The tree must be restorable as a whole: unique pids, parents before
/// their children (CRIU writes it depth first), one session.
fn check_tree(
    dir: &Path,
    tree: &[crate::images::schema::PstreeEntry],
    shell_job: bool,
) -> Result<(), RestoreError> {
    let name = dir.join("pstree.img");
    let bad = |m: String| RestoreError::Inconsistent(format!("{}: {m}", name.display()));
    let root = &tree[0];
    for (i, e) in tree.iter().enumerate() {
        if !e.threads.contains(&e.pid) {
            return Err(bad(format!(
                "pid {} is not among its own threads {:?}",
                e.pid, e.threads
            )));
        }
        if tree[..i].iter().any(|o| o.pid == e.pid) {
            return Err(bad(format!("pid {} appears twice", e.pid)));
        }
        if i > 0 && !tree[..i].iter().any(|o| o.pid == e.ppid) {
            return Err(bad(format!(
                "the parent {} of pid {} does not come before it",
                e.ppid, e.pid
            )));
        }
    }
    if root.sid != root.pid && !shell_job {
        return Err(RestoreError::Unsupported(format!(
            "pid {} belongs to session {} which is not in the images; \
             restore it into the current session with --shell-job",
            root.pid, root.sid
        )));
    }
    Ok(())
}

/// Slot bytes per task in the status area, and the room after the slots
/// for a loader-side error message from a child.
const SLOT: u64 = 64;
const MSG_LEN: u64 = 2048;

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
fn enter_timens(t: &crate::images::schema::TimensEntry) -> Result<(), RestoreError> {
    sys::unshare(libc::CLONE_NEWTIME)
        .map_err(|e| RestoreError::System(format!("unshare(CLONE_NEWTIME): {e}")))?;
    let offset =
        |clock, dumped: &crate::images::schema::Timespec| -> Result<String, RestoreError> {
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

/// A restored tree that is killed and reaped unless released: a restore
/// is all or nothing. We are a child subreaper while restoring, so the
/// root's descendants come to us once it is gone.
struct TreeGuard {
    root: i32,
}

impl TreeGuard {
    fn release(self) -> i32 {
        let root = self.root;
        std::mem::forget(self);
        root
    }
}

impl Drop for TreeGuard {
    fn drop(&mut self) {
        let _ = sys::kill(self.root, libc::SIGKILL);
        let _ = sys::waitpid(self.root, libc::__WALL);
        // Then every task adopted from it, until none is left.
        for _ in 0..1000 {
            let kids = children_of(sys::getpid());
            if kids.is_empty() {
                break;
            }
            for k in kids {
                let _ = sys::kill(k, libc::SIGKILL);
                let _ = sys::waitpid(k, libc::__WALL);
            }
        }
    }
}

/// Pids whose parent is `pid`, from /proc.
fn children_of(pid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|st| {
                st.rsplit(") ")
                    .next()
                    .and_then(|r| r.split_whitespace().nth(1))
                    .and_then(|pp| pp.parse::<i32>().ok())
                    == Some(pid)
            })
        })
        .collect()
}

/// Waits until every task of the tree reports success, or one fails or
/// dies. Meanwhile traces each task as soon as it exists, and tells its
/// blob (which waits for the answer at its end) whether it is traced.
/// Returns, per task, `None` if untraced, else whether its breakpoint
/// stop was already reaped here.
fn wait_tree(plans: &[TaskPlan], status: u64) -> Result<Vec<Option<bool>>, RestoreError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let n = plans.len();
    let mut tracer: Vec<Option<Option<bool>>> = vec![None; n];
    loop {
        let mut done = 0;
        for (i, p) in plans.iter().enumerate() {
            let pid = p.task.pstree.pid;
            let slot = status + SLOT * i as u64;
            if tracer[i].is_none() && std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let traced = finish::seize(pid as i32);
                let word = if traced {
                    restorer_blob::TRACER_ATTACHED
                } else {
                    restorer_blob::TRACER_NONE
                };
                tracer[i] = Some(traced.then_some(false));
                sys::write_mem(slot + 12, &word.to_ne_bytes());
                sys::futex_wake(slot + 12);
            }
            match sys::load_u32(slot) {
                STATE_DONE => done += 1,
                STATE_FAILED => return Err(read_failure(pid, slot, status + SLOT * n as u64)),
                STATE_RUNNING => {}
                s => {
                    return Err(RestoreError::System(format!(
                        "pid {pid}: bad status word {s}"
                    )))
                }
            }
            // Our child (the root) and every traced task report here.
            if tracer[i].is_none() && i != 0 {
                continue;
            }
            match sys::waitpid(pid as i32, libc::WNOHANG | libc::__WALL) {
                Ok(Some((_, st))) if libc::WIFSTOPPED(st) => match sys::load_u32(slot) {
                    STATE_DONE if libc::WSTOPSIG(st) == libc::SIGTRAP => {
                        tracer[i] = Some(Some(true));
                    }
                    STATE_FAILED => return Err(read_failure(pid, slot, status + SLOT * n as u64)),
                    _ => {
                        return Err(RestoreError::Died {
                            pid,
                            status: format!("stopped on signal {}", libc::WSTOPSIG(st)),
                        })
                    }
                },
                Ok(Some((_, st))) => {
                    if sys::load_u32(slot) == STATE_FAILED {
                        return Err(read_failure(pid, slot, status + SLOT * n as u64));
                    }
                    let how = if libc::WIFSIGNALED(st) {
                        format!("was killed by signal {}", libc::WTERMSIG(st))
                    } else {
                        format!("exited with {}", libc::WEXITSTATUS(st))
                    };
                    return Err(RestoreError::Died { pid, status: how });
                }
                Ok(None) | Err(_) => {}
            }
        }
        if done == n && tracer.iter().all(|t| t.is_some()) {
            return Ok(tracer.into_iter().map(|t| t.flatten()).collect());
        }
        if Instant::now() > deadline {
            return Err(RestoreError::System(format!(
                "{done} of {n} tasks restored within 30 s"
            )));
        }
        // Sleep on the first unfinished task's word; any task's report or
        // a new task to trace is picked up within a millisecond.
        let first = (0..n).find(|&i| sys::load_u32(status + SLOT * i as u64) == STATE_RUNNING);
        match first {
            Some(i) if tracer.iter().all(|t| t.is_some()) => {
                sys::futex_wait(status + SLOT * i as u64, STATE_RUNNING, 1_000_000)
            }
            _ => std::thread::sleep(Duration::from_micros(20)),
        }
    }
}

fn read_failure(pid: u32, status_at: u64, msg_at: u64) -> RestoreError {
    let raw = sys::read_mem(status_at, std::mem::size_of::<Status>());
    let word = |i: usize| u32::from_ne_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
    let (stage, errno) = (word(4), word(8));
    let detail = u64::from_ne_bytes(raw[16..24].try_into().unwrap_or([0; 8]));
    if stage == 0 {
        let msg = sys::read_mem(msg_at, MSG_LEN as usize);
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
fn write_stats(
    opts: &RestoreOptions,
    dir: &Path,
    elapsed: Duration,
    tasks: &[&images::TaskImages],
) {
    use crate::images::schema::{RestoreStatsEntry, StatsEntry};
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
    let pages: u64 = tasks
        .iter()
        .flat_map(|t| &t.runs)
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

/// Everything planned for one task of the tree, computed by the loader
/// before the first fork.
struct TaskPlan {
    task: images::TaskImages,
    mem: mem::MemPlan,
    fds: files::FdPlan,
    args: Vec<u8>,
    blob_at: u64,
    args_at: u64,
    stack_top: u64,
}

/// The tree being restored, as each forked task sees it.
struct TreeRun<'a> {
    plans: &'a [TaskPlan],
    hole: u64,
    total: u64,
    shared: &'a files::Shared,
    /// shmid -> memfd of each shmem object.
    shmem: &'a std::collections::HashMap<u64, i32>,
}

impl TreeRun<'_> {
    /// Runs in the forked task number `i`: never returns. It joins its
    /// session and group, forks its own children (so they inherit both),
    /// restores its memory and descriptors and enters the blob.
    fn task(&self, i: usize) -> ! {
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

    fn prepare(&self, i: usize) -> Result<(), String> {
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
                        pid_holder(cpid)
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
    fn premap(&self, plan: &TaskPlan) -> Result<(), String> {
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
fn redirect_vdso(mem: &mem::MemPlan, x: &mem::VdsoProxy, area: u64) -> Result<(), String> {
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
