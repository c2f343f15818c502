//! The last step: the blob cannot unmap itself (the code doing the
//! `munmap` would vanish under it), so, as CRIU does, the loader traces the
//! task and has it unmap the blob once it is back in its own registers.
//!
//! 1. `PTRACE_SEIZE` right after the fork (with `EXITKILL`: if crest dies
//!    mid-restore the task dies with it).
//! 2. The blob stops with `int3` just before `rt_sigreturn`.
//! 3. The loader resumes it to the syscall-exit stop of `rt_sigreturn`:
//!    the task now holds its dumped registers.
//! 4. It points `rip` at a `syscall` in the blob with `munmap(blob)` in the
//!    argument registers, runs it to its exit stop, puts the dumped
//!    registers back and detaches.
//!
//! Steps 3 and 4 go in lockstep over the tree's tasks (`unmap_blobs`).

use crate::blob;
use crate::ptrace::SYSCALL_STOP;
use crate::sys;

use super::RestoreError;

/// Starts tracing the new task; false if the kernel refuses (the blob then
/// stays mapped in the task, which still works).
pub fn seize(pid: i32) -> bool {
    // Seccomp suspended: the blob installs the filters before the rest of
    // the restore, and the loader's injected calls must pass them too.
    let opts = (libc::PTRACE_O_TRACESYSGOOD | libc::PTRACE_O_EXITKILL) as u64;
    let suspend = libc::PTRACE_O_SUSPEND_SECCOMP as u64;
    let seized = sys::ptrace_seize(pid, opts | suspend).or_else(|e| match e.raw_os_error() {
        Some(libc::EPERM | libc::EINVAL) => sys::ptrace_seize(pid, opts),
        _ => Err(e),
    });
    match seized {
        Ok(()) => true,
        Err(e) => {
            crate::log!(
                crate::log::WARN,
                "pid {pid}: ptrace: {e}; the restorer stays mapped"
            );
            false
        }
    }
}

/// How long the finish (every task's unmap) may take in all: an alarm
/// then interrupts the wait it is in (`sys::deadline_alarm`).
pub const FINISH_TIMEOUT_S: u64 = 30;

/// How a held task is let run on to its next stop.
#[derive(Clone, Copy)]
enum Resume {
    /// To the next syscall entry or exit (PTRACE_SYSCALL).
    Syscall,
    /// Until something stops it (PTRACE_CONT).
    Cont,
}

/// A signal held back while a task was traced: its number and, where the
/// kernel gave it, its siginfo (a timer's, a sigqueue's), sent again as
/// it came.
pub(crate) type Held = (i32, Option<[u8; 128]>);

/// Holds back the signal `pid` is stopped for (`sig`), once per signal.
pub(crate) fn hold(pid: i32, sig: i32, pending: &mut Vec<Held>) {
    if !pending.iter().any(|h| h.0 == sig) {
        pending.push((sig, sys::ptrace_getsiginfo(pid).ok()));
    }
}

/// Waits for the next stop of `pid` that is `want`: a stop signal and
/// the ptrace event it comes with (0 for a signal-delivery or syscall
/// stop), so that a breakpoint's SIGTRAP is not taken for an event stop's.
/// A signal that
/// arrives meanwhile (a signal-delivery-stop: a timer, a SIGWINCH, a
/// SIGSTOP) is held back, the task resumed as `resume` says, and the
/// signal added to `pending`, to be sent again once the task is let go:
/// a signal never aborts a restore and is never lost. A task that ends
/// instead is an error.
fn wait_stop(
    pid: i32,
    want: (i32, i32),
    resume: Resume,
    pending: &mut Vec<Held>,
    what: &str,
) -> Result<(), RestoreError> {
    match wait_stop_or_end(pid, want, resume, pending, what)? {
        Waited::Stopped => Ok(()),
        Waited::Ended(st) => Err(RestoreError::System(format!(
            "pid {pid}: {what}: ended (wait status {st:#x})"
        ))),
    }
}

/// How a wait for a stop came out.
enum Waited {
    Stopped,
    /// The task (or thread) ended first; its wait status.
    Ended(i32),
}

/// `wait_stop`, with the end of the task an answer rather than an error.
fn wait_stop_or_end(
    pid: i32,
    want: (i32, i32),
    resume: Resume,
    pending: &mut Vec<Held>,
    what: &str,
) -> Result<Waited, RestoreError> {
    let fail = |m: String| RestoreError::System(format!("pid {pid}: {what}: {m}"));
    for _ in 0..10_000 {
        match sys::waitpid(pid, libc::__WALL) {
            Ok(Some((_, st))) if libc::WIFSTOPPED(st) && (libc::WSTOPSIG(st), st >> 16) == want => {
                return Ok(Waited::Stopped)
            }
            Ok(Some((_, st))) if libc::WIFSTOPPED(st) => {
                // A signal-delivery-stop (held back), or an event stop a
                // signal caused (PTRACE_EVENT_STOP after a SIGCONT): the
                // task goes on either way.
                if st >> 16 == 0 {
                    hold(pid, libc::WSTOPSIG(st), pending);
                }
                match resume {
                    Resume::Syscall => sys::ptrace_syscall(pid, 0),
                    Resume::Cont => sys::ptrace_cont(pid, 0),
                }
                .map_err(|e| RestoreError::sys(pid, format!("resuming ({what})"), e))?;
            }
            Ok(Some((_, st))) => return Ok(Waited::Ended(st)),
            Ok(None) => return Err(fail("no status".into())),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {
                return Err(fail(format!(
                    "no stop within {FINISH_TIMEOUT_S} s of the restore's end"
                )))
            }
            Err(e) => return Err(RestoreError::sys(pid, format!("waitpid ({what})"), e)),
        }
    }
    Err(fail("signals keep arriving".into()))
}

fn step(pid: i32, pending: &mut Vec<Held>, what: &str) -> Result<(), RestoreError> {
    sys::ptrace_syscall(pid, 0)
        .map_err(|e| RestoreError::sys(pid, format!("PTRACE_SYSCALL ({what})"), e))?;
    wait_stop(pid, (SYSCALL_STOP, 0), Resume::Syscall, pending, what)
}

/// Sends thread `tid` of `pid` the signals held back while it was traced.
fn redeliver(pid: i32, tid: i32, pending: &[Held]) -> Result<(), RestoreError> {
    const SI_TKILL: i32 = -6;
    for (sig, info) in pending {
        let sig = *sig;
        let code = info.map(|i| i32::from_le_bytes([i[8], i[9], i[10], i[11]]));
        let sent = match (info, code) {
            (Some(info), Some(c)) if c < 0 && c != SI_TKILL => {
                sys::tgsigqueueinfo(pid, tid, sig, info)
            }
            _ => sys::tgkill(pid, tid, sig),
        };
        sent.map_err(|e| {
            RestoreError::sys(pid, format!("thread {tid}: re-sending signal {sig}"), e)
        })?;
    }
    Ok(())
}

/// The other threads have each counted themselves out before their own
/// `rt_sigreturn`, which leaves a few instructions still in the blob.
/// Makes sure that every one of them is past them: each is seized and
/// stopped, its `rip` looked at, and let go. A thread that has ended by
/// then is past them too: it ran its own code to its end (a thread of
/// glibc's SIGEV_THREAD timers lives for one expiry), as a failure in the
/// blob ends the whole task before it counts itself out.
pub fn threads_out(pid: i32, tids: &[i32], blob: (u64, u64)) -> Result<(), RestoreError> {
    let gone = |e: &std::io::Error| e.raw_os_error() == Some(libc::ESRCH);
    for &tid in tids.iter().filter(|&&t| t != pid) {
        let fail = |what: &str, e: std::io::Error| {
            RestoreError::sys(pid, format!("thread {tid}: {what}"), e)
        };
        for attempt in 0.. {
            match sys::ptrace_seize(tid, 0) {
                Err(e) if gone(&e) => break,
                r => r.map_err(|e| fail("PTRACE_SEIZE", e))?,
            }
            // Ending now, it is reaped by the wait below.
            match sys::ptrace_interrupt(tid) {
                Err(e) if gone(&e) => {}
                r => r.map_err(|e| fail("PTRACE_INTERRUPT", e))?,
            }
            let mut pending = Vec::new();
            let waited = wait_stop_or_end(
                tid,
                (libc::SIGTRAP, crate::ptrace::PTRACE_EVENT_STOP),
                Resume::Cont,
                &mut pending,
                "stopping a thread",
            )?;
            if let Waited::Ended(_) = waited {
                break;
            }
            let rip = sys::ptrace_getregs(tid)
                .map_err(|e| fail("PTRACE_GETREGS", e))?
                .rip;
            sys::ptrace_detach(tid).map_err(|e| fail("PTRACE_DETACH", e))?;
            redeliver(pid, tid, &pending)?;
            if !(blob.0..blob.1).contains(&rip) {
                break;
            }
            if attempt == 1000 {
                return Err(RestoreError::System(format!(
                    "pid {pid}: thread {tid} does not leave the restorer (rip {rip:#x})"
                )));
            }
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
    }
    Ok(())
}

/// What the finish puts back in a task besides unmapping the blob.
pub struct Last<'a> {
    /// The signal a task dumped stopped is stopped with again.
    pub stop: Option<i32>,
    /// The dumped SIGTRAP action (handler, flags, restorer, mask) when it
    /// is not the default: the kernel resets it as the blob's `int3`
    /// traps with every signal blocked.
    pub sigtrap: Option<[u64; 4]>,
    /// MADV_GUARD_INSTALL regions, installed once no blob code runs.
    pub guards: &'a [(u64, u64)],
    /// AIO rings, made again and moved over their dumped copies.
    pub aios: &'a [crate::images::schema::AioRingEntry],
}

/// One task whose blob the finish unmaps.
pub struct Finishing<'a> {
    pub pid: i32,
    /// Its `int3` stop was already reaped.
    pub trapped: bool,
    pub blob_at: u64,
    pub blob_len: u64,
    pub last: Last<'a>,
    /// Signals held back so far, sent again when it is let go.
    pub pending: Vec<Held>,
}

/// Lets every task in `tasks` run on to its next syscall stop, and waits
/// for each: the tasks run at once, so the tree waits for one round trip
/// per step rather than one per task and step (a wake-up of another core
/// costs tens of microseconds here).
fn step_all(tasks: &mut [Finishing], what: &str) -> Result<(), RestoreError> {
    for t in tasks.iter() {
        sys::ptrace_syscall(t.pid, 0)
            .map_err(|e| RestoreError::sys(t.pid, format!("PTRACE_SYSCALL ({what})"), e))?;
    }
    for t in tasks.iter_mut() {
        wait_stop(
            t.pid,
            (SYSCALL_STOP, 0),
            Resume::Syscall,
            &mut t.pending,
            what,
        )?;
    }
    Ok(())
}

/// The registers for one system call through the blob's `syscall`
/// instruction, from the dumped registers `regs`.
fn call_regs(
    regs: &libc::user_regs_struct,
    blob_at: u64,
    nr: i64,
    args: [u64; 6],
) -> libc::user_regs_struct {
    let mut call = *regs;
    call.rip = blob_at + blob::SYSCALL_OFFSET as u64;
    call.rax = nr as u64;
    (call.rdi, call.rsi, call.rdx) = (args[0], args[1], args[2]);
    (call.r10, call.r8, call.r9) = (args[3], args[4], args[5]);
    call
}

fn failed(pid: i32, what: String, ret: i64) -> RestoreError {
    RestoreError::sys(pid, what, std::io::Error::from_raw_os_error(-ret as i32))
}

/// Steps 2-4 above, for every task at once.
pub fn unmap_blobs(tasks: &mut [Finishing]) -> Result<(), RestoreError> {
    for t in tasks.iter_mut().filter(|t| !t.trapped) {
        wait_stop(
            t.pid,
            (libc::SIGTRAP, 0),
            Resume::Cont,
            &mut t.pending,
            "waiting for the restorer's breakpoint",
        )?;
    }
    step_all(tasks, "rt_sigreturn entry")?;
    step_all(tasks, "rt_sigreturn exit")?;
    let mut regs = Vec::with_capacity(tasks.len());
    for t in tasks.iter_mut() {
        let r = sys::ptrace_getregs(t.pid)
            .map_err(|e| RestoreError::sys(t.pid, "PTRACE_GETREGS", e))?;
        put_back(t, &r)?;
        regs.push(r);
    }
    // The blobs go: one munmap in each task, at once.
    for (t, r) in tasks.iter().zip(&regs) {
        let call = call_regs(
            r,
            t.blob_at,
            libc::SYS_munmap,
            [t.blob_at, t.blob_len, 0, 0, 0, 0],
        );
        sys::ptrace_setregs(t.pid, &call)
            .map_err(|e| RestoreError::sys(t.pid, "PTRACE_SETREGS", e))?;
    }
    step_all(tasks, "munmap entry")?;
    step_all(tasks, "munmap exit")?;
    for (t, r) in tasks.iter().zip(&regs) {
        let sysfail = |what: &str, e: std::io::Error| RestoreError::sys(t.pid, what, e);
        let ret = sys::ptrace_getregs(t.pid)
            .map_err(|e| sysfail("PTRACE_GETREGS", e))?
            .rax as i64;
        sys::ptrace_setregs(t.pid, r).map_err(|e| sysfail("PTRACE_SETREGS", e))?;
        if ret != 0 {
            return Err(failed(
                t.pid,
                format!("munmap of the restorer at {:#x}", t.blob_at),
                ret,
            ));
        }
        // A task dumped stopped gets its stop signal while still held, so
        // that it stops before it runs any code of its own (as CRIU does).
        if let Some(sig) = t.last.stop {
            sys::kill(t.pid, sig).map_err(|e| sysfail(&format!("kill(signal {sig})"), e))?;
        }
        sys::ptrace_detach(t.pid).map_err(|e| sysfail("PTRACE_DETACH", e))?;
        redeliver(t.pid, t.pid, &t.pending)?;
    }
    Ok(())
}

/// What goes back into a task through its own system calls before its
/// blob goes (its SIGTRAP action, guard regions, AIO rings), one call at
/// a time from its dumped registers `regs`. Rare: done task by task.
fn put_back(t: &mut Finishing, regs: &libc::user_regs_struct) -> Result<(), RestoreError> {
    let (pid, blob_at, blob_len) = (t.pid, t.blob_at, t.blob_len);
    let last = &t.last;
    let pending = &mut t.pending;
    let sysfail = |what: &str, e: std::io::Error| RestoreError::sys(pid, what, e);
    let mut inject = |nr: i64, args: [u64; 6], what: &str| -> Result<i64, RestoreError> {
        sys::ptrace_setregs(pid, &call_regs(regs, blob_at, nr, args))
            .map_err(|e| sysfail("PTRACE_SETREGS", e))?;
        step(pid, pending, &format!("{what} entry"))?;
        step(pid, pending, &format!("{what} exit"))?;
        Ok(sys::ptrace_getregs(pid)
            .map_err(|e| sysfail("PTRACE_GETREGS", e))?
            .rax as i64)
    };
    if let Some(act) = last.sigtrap {
        // The blob's memory is dead now: its last bytes hold the action.
        let at = blob_at + blob_len - 64;
        let bytes: Vec<u8> = act.iter().flat_map(|w| w.to_le_bytes()).collect();
        sys::process_vm_writev(pid, &bytes, at)
            .map_err(|e| sysfail("writing SIGTRAP's action", e))?;
        let ret = inject(libc::SYS_rt_sigaction, [5, at, 0, 8, 0, 0], "rt_sigaction")?;
        if ret != 0 {
            return Err(failed(
                pid,
                "rt_sigaction(SIGTRAP) after the breakpoint".into(),
                ret,
            ));
        }
    }
    const MADV_GUARD_INSTALL: u64 = 102;
    for &(start, end) in last.guards {
        let ret = inject(
            libc::SYS_madvise,
            [start, end - start, MADV_GUARD_INSTALL, 0, 0, 0],
            "madvise",
        )?;
        if ret != 0 {
            return Err(failed(
                pid,
                format!("guard region {start:#x}-{end:#x} (MADV_GUARD_INSTALL)"),
                ret,
            ));
        }
    }
    // The blob's stack is dead too: two pages of it are the rings' scratch.
    let scratch = blob_at + blob_len - 2 * crate::images::flags::PAGE;
    for r in last.aios {
        super::aio::restore(pid, r, scratch, &mut inject)?;
    }
    Ok(())
}

/// Writes `pid` into the pidfile at `path`. An existing file is written
/// over in place and cut only where it was longer: truncating it to zero
/// first frees its block, which on ext4 also flushes the file at close
/// (and, mounted with `discard`, waits for the disk to trim the block),
/// several hundred microseconds of a small restore here. A pipe or a
/// terminal is simply written.
pub fn write_pidfile(path: &std::path::Path, pid: i32) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let text = format!("{pid}\n");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        // A pipe, a terminal: written as it comes.
        return std::io::Write::write_all(&mut &file, text.as_bytes());
    }
    file.write_all_at(text.as_bytes(), 0)?;
    if meta.len() > text.len() as u64 {
        file.set_len(text.len() as u64)?;
    }
    Ok(())
}

/// --restore-sibling without -d: the root is our parent's child, not
/// ours, so we trace it (without stopping it) to learn how it ends. Each
/// signal it stops for is passed on, a group stop is let be; returns the
/// exit code to leave with, as for our own child.
pub fn watch(pid: i32) -> Result<i32, RestoreError> {
    sys::ptrace_seize(pid, 0).map_err(|e| RestoreError::sys(pid, "PTRACE_SEIZE (watching)", e))?;
    loop {
        let st = match sys::waitpid(pid, libc::__WALL) {
            Ok(Some((_, st))) => st,
            Ok(None) => continue,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) => return Err(RestoreError::sys(pid, "waitpid (watching)", e)),
        };
        if libc::WIFEXITED(st) {
            return Ok(libc::WEXITSTATUS(st));
        }
        if libc::WIFSIGNALED(st) {
            return Ok(128 + libc::WTERMSIG(st));
        }
        if !libc::WIFSTOPPED(st) {
            continue;
        }
        let r = if st >> 16 == crate::ptrace::PTRACE_EVENT_STOP {
            sys::ptrace_listen(pid)
        } else {
            sys::ptrace_cont(pid, libc::WSTOPSIG(st))
        };
        if let Err(e) = r {
            if e.raw_os_error() != Some(libc::ESRCH) {
                return Err(RestoreError::sys(pid, "resuming (watching)", e));
            }
        }
    }
}
