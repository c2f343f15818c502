//! ptrace, the one layer for both directions: the wait-status and
//! syscall-restart constants, and for dump the stopped task: seized with
//! `PTRACE_SEIZE` + `PTRACE_INTERRUPT`, asked
//! what only it can answer by running one system call at a time in its own
//! context, and always let go as it was (`Drop` detaches).
//!
//! Syscall injection: the registers are saved, `rip` is pointed at a
//! `syscall` instruction that already exists in the task's vdso (no code is
//! written into the task), the argument registers are set, and the task is
//! stepped to the syscall's exit stop; the result is read from `rax`. With
//! `orig_rax = -1` the kernel applies no syscall-restart logic to our
//! registers.

use std::io;

use crate::sys;

use crate::dump::DumpError;

/// `status >> 16` of a group stop or `PTRACE_INTERRUPT` stop.
pub const PTRACE_EVENT_STOP: i32 = 128;
/// `WSTOPSIG` of a syscall stop under `PTRACE_O_TRACESYSGOOD`.
pub const SYSCALL_STOP: i32 = libc::SIGTRAP | 0x80;
pub const ERESTARTSYS: i64 = 512;
pub const ERESTARTNOINTR: i64 = 513;
pub const ERESTARTNOHAND: i64 = 514;
pub const ERESTART_RESTARTBLOCK: i64 = 516;
pub const EINTR: i64 = 4;
pub const NR_RESTART_SYSCALL: u64 = 219;

pub struct Tracee {
    pub pid: i32,
    /// Registers at the stop, untouched.
    pub regs: libc::user_regs_struct,
    /// The thread's own blocked mask. While we hold it, it blocks every
    /// signal (PTRACE_SETSIGMASK), so that nothing is delivered into our
    /// injected code: what arrives stays pending for the task.
    pub mask: u64,
    /// Signals that stopped it anyway (SIGSTOP cannot be blocked), held
    /// back and sent again when it is let go.
    held: Vec<i32>,
    /// The job-control signal (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU) of the
    /// group stop it was in when seized, 0 if it was running.
    pub stop_signal: i32,
    /// Address of a `syscall` instruction in the task (vdso), once found.
    gadget: Option<u64>,
    attached: bool,
}

/// Longest a tracee may take to report a stop we wait for.
const REPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Wait statuses taken for other tracees than the one waited for, to be
/// handed out when they are waited for: one wait for any tracee
/// (`waitpid(-1)`) sees the exit of every thread of a task killed during
/// the dump, whose leader is only reported once they are all reaped.
static STASH: std::sync::Mutex<Vec<(i32, i32)>> = std::sync::Mutex::new(Vec::new());

/// The next wait status of tracee `pid`, within REPORT_TIMEOUT (the caller
/// blocks SIGCHLD for the dump, `crate::dump`, so this sleeps on it).
fn wait_for(pid: i32) -> Result<i32, DumpError> {
    let deadline = std::time::Instant::now() + REPORT_TIMEOUT;
    loop {
        {
            let mut stash = STASH.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(i) = stash.iter().position(|&(p, _)| p == pid) {
                return Ok(stash.remove(i).1);
            }
        }
        match sys::waitpid(-1, libc::__WALL | libc::WNOHANG) {
            Ok(Some((p, st))) if p == pid => return Ok(st),
            Ok(Some((p, st))) => STASH
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((p, st)),
            Ok(None) if std::time::Instant::now() > deadline => {
                return Err(DumpError::Task {
                    pid,
                    what: format!("no report within {} s", REPORT_TIMEOUT.as_secs()),
                })
            }
            Ok(None) => sys::wait_sigchld(10_000_000),
            Err(e) => return Err(perr(pid, "waitpid", e)),
        }
    }
}

fn perr(pid: i32, what: &str, e: io::Error) -> DumpError {
    if e.raw_os_error() == Some(libc::ESRCH) {
        // A stopped tracee only goes away when it is killed.
        return DumpError::Gone {
            pid,
            what: format!("was killed during the dump ({what})"),
        };
    }
    DumpError::sys(pid, what, e)
}

impl Tracee {
    /// Seizes and stops `pid`. Signals that arrive while stopping it are
    /// passed on (they would have been delivered anyway).
    pub fn seize(pid: i32) -> Result<Tracee, DumpError> {
        // Seccomp suspended, as CRIU does: the injected calls (a scratch
        // page, uname, ...) would meet the task's filters or strict mode.
        let opts = libc::PTRACE_O_TRACESYSGOOD as u64;
        let suspend = libc::PTRACE_O_SUSPEND_SECCOMP as u64;
        let seized = sys::ptrace_seize(pid, opts | suspend).or_else(|e| match e.raw_os_error() {
            Some(libc::EINVAL | libc::EPERM) => sys::ptrace_seize(pid, opts),
            _ => Err(e),
        });
        seized.map_err(|e| match e.raw_os_error() {
            Some(libc::ESRCH) => DumpError::Gone {
                pid,
                what: "no such process".into(),
            },
            Some(libc::EPERM) => DumpError::sys(
                pid,
                "PTRACE_SEIZE: it may not be traced (already traced, or not permitted)",
                e,
            ),
            _ => perr(pid, "PTRACE_SEIZE", e),
        })?;
        let mut t = Tracee {
            pid,
            regs: empty_regs(),
            mask: 0,
            held: Vec::new(),
            stop_signal: 0,
            gadget: None,
            attached: true,
        };
        sys::ptrace_interrupt(pid).map_err(|e| perr(pid, "PTRACE_INTERRUPT", e))?;
        loop {
            let st = wait_for(pid)?;
            if !libc::WIFSTOPPED(st) {
                t.attached = false;
                return Err(DumpError::Gone {
                    pid,
                    what: "exited while being stopped".into(),
                });
            }
            if st >> 16 == PTRACE_EVENT_STOP {
                // A seized task in a group stop reports it with the signal
                // that stopped it; our interrupt alone says SIGTRAP.
                let sig = libc::WSTOPSIG(st);
                if matches!(
                    sig,
                    libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
                ) {
                    t.stop_signal = sig;
                }
                break;
            }
            // A signal-delivery stop: let the signal through, stop again.
            let sig = libc::WSTOPSIG(st);
            sys::ptrace_cont(pid, sig).map_err(|e| perr(pid, "PTRACE_CONT", e))?;
            sys::ptrace_interrupt(pid).map_err(|e| perr(pid, "PTRACE_INTERRUPT", e))?;
        }
        t.regs = sys::ptrace_getregs(pid).map_err(|e| perr(pid, "PTRACE_GETREGS", e))?;
        t.mask = sys::ptrace_getsigmask(pid).map_err(|e| perr(pid, "PTRACE_GETSIGMASK", e))?;
        sys::ptrace_setsigmask(pid, !0).map_err(|e| perr(pid, "PTRACE_SETSIGMASK", e))?;
        Ok(t)
    }

    /// A signal stopped the task though it blocks everything (SIGSTOP):
    /// it is not delivered now, but sent again when the task is let go.
    pub fn stop_requested(&self) -> bool {
        self.held.contains(&libc::SIGSTOP)
    }

    /// The registers to store in the image: an interrupted syscall is set
    /// up to run again (or, for restart_block syscalls such as nanosleep,
    /// to return EINTR, since the restart block cannot be restored).
    pub fn image_regs(&self) -> libc::user_regs_struct {
        self.restarted(false)
    }

    /// The registers to resume with when the task keeps running: as the
    /// kernel would have restarted the interrupted syscall itself.
    fn resume_regs(&self) -> libc::user_regs_struct {
        let mut r = self.restarted(true);
        r.orig_rax = u64::MAX;
        r
    }

    /// The stop registers with syscall restart applied, as the kernel does
    /// on the way back to user space (arch/x86/kernel/signal.c). A
    /// restart_block syscall goes through restart_syscall when the task
    /// stays alive, and returns EINTR otherwise.
    fn restarted(&self, alive: bool) -> libc::user_regs_struct {
        let mut r = self.regs;
        if (r.orig_rax as i64) < 0 {
            return r;
        }
        match -(r.rax as i64) {
            ERESTARTSYS | ERESTARTNOINTR | ERESTARTNOHAND => {
                r.rax = r.orig_rax;
                r.rip -= 2;
            }
            ERESTART_RESTARTBLOCK if alive => {
                r.rax = NR_RESTART_SYSCALL;
                r.rip -= 2;
            }
            ERESTART_RESTARTBLOCK => r.rax = (-EINTR) as u64,
            _ => {}
        }
        r
    }

    fn wait_syscall_stop(&mut self, what: &str) -> Result<(), DumpError> {
        // A task that was in a group stop (SIGSTOP) reports event stops
        // (the group stop, our interrupt) before it gets to run: resume
        // it past them.
        // A signal that stops it though every signal is blocked (SIGSTOP)
        // is held back, the syscall goes on.
        for _ in 0..64 {
            let st = wait_for(self.pid)?;
            if libc::WIFSTOPPED(st) && libc::WSTOPSIG(st) == SYSCALL_STOP {
                return Ok(());
            }
            if libc::WIFSTOPPED(st) && st >> 16 == PTRACE_EVENT_STOP {
                sys::ptrace_syscall(self.pid, 0).map_err(|e| perr(self.pid, what, e))?;
            } else if libc::WIFSTOPPED(st) && st >> 16 == 0 {
                let sig = libc::WSTOPSIG(st);
                if !self.held.contains(&sig) {
                    self.held.push(sig);
                }
                sys::ptrace_syscall(self.pid, 0).map_err(|e| perr(self.pid, what, e))?;
            } else if libc::WIFSIGNALED(st) || libc::WIFEXITED(st) {
                self.attached = false;
                return self_died(self.pid, st);
            } else {
                return Err(DumpError::Task {
                    pid: self.pid,
                    what: format!("{what}: unexpected wait status {st:#x}"),
                });
            }
        }
        Err(DumpError::Task {
            pid: self.pid,
            what: format!("{what}: keeps stopping"),
        })
    }

    /// Finds a `syscall` instruction (0f 05) in the task's vdso (or the
    /// code mapping given instead).
    fn gadget(&mut self, vdso: (u64, u64)) -> Result<u64, DumpError> {
        if let Some(g) = self.gadget {
            return Ok(g);
        }
        let mut buf = vec![0u8; (vdso.1 - vdso.0) as usize];
        sys::process_vm_readv(self.pid, &mut buf, &[(vdso.0, vdso.1 - vdso.0)])
            .map_err(|e| perr(self.pid, "reading the vdso", e))?;
        let at = buf
            .windows(2)
            .position(|w| w == [0x0f, 0x05])
            .ok_or_else(|| {
                DumpError::refused(
                    self.pid,
                    "its vdso (or code) has no syscall instruction to inject through",
                )
            })?;
        let g = vdso.0 + at as u64;
        self.gadget = Some(g);
        Ok(g)
    }

    /// Runs `nr(args..)` in the task; returns the raw result (negative
    /// errno on failure).
    pub fn syscall(&mut self, vdso: (u64, u64), nr: i64, args: [u64; 6]) -> Result<i64, DumpError> {
        let gadget = self.gadget(vdso)?;
        let mut r = self.regs;
        r.rax = nr as u64;
        r.orig_rax = u64::MAX;
        r.rdi = args[0];
        r.rsi = args[1];
        r.rdx = args[2];
        r.r10 = args[3];
        r.r8 = args[4];
        r.r9 = args[5];
        r.rip = gadget;
        let what = format!("injected syscall {nr}");
        sys::ptrace_setregs(self.pid, &r).map_err(|e| perr(self.pid, &what, e))?;
        sys::ptrace_syscall(self.pid, 0).map_err(|e| perr(self.pid, &what, e))?;
        self.wait_syscall_stop(&what)?;
        sys::ptrace_syscall(self.pid, 0).map_err(|e| perr(self.pid, &what, e))?;
        self.wait_syscall_stop(&what)?;
        let out = sys::ptrace_getregs(self.pid).map_err(|e| perr(self.pid, &what, e))?;
        Ok(out.rax as i64)
    }

    /// Lets the task go on as it was.
    pub fn detach(mut self) -> Result<(), DumpError> {
        self.release()
    }

    fn release(&mut self) -> Result<(), DumpError> {
        if !self.attached {
            return Ok(());
        }
        self.attached = false;
        let r = self.resume_regs();
        // ESRCH: no longer stopped, so killed (or already gone).
        let gone = |e: &io::Error| e.raw_os_error() == Some(libc::ESRCH);
        // Its own mask back, and what was held back sent again (before
        // the detach, so that a SIGSTOP stops it before it runs on).
        let resend = |pid: i32, held: &[i32]| -> io::Result<()> {
            let tgid = crate::proc::Status::read(pid)
                .ok()
                .and_then(|s| s.get("Tgid").parse().ok())
                .unwrap_or(pid);
            for &sig in held {
                sys::tgkill(tgid, pid, sig)?;
            }
            Ok(())
        };
        let held = std::mem::take(&mut self.held);
        match sys::ptrace_setsigmask(self.pid, self.mask)
            .and_then(|_| sys::ptrace_setregs(self.pid, &r))
            .and_then(|_| resend(self.pid, &held))
            .and_then(|_| sys::ptrace_detach(self.pid))
        {
            Ok(()) => Ok(()),
            // It died meanwhile: there is nothing left to let go.
            Err(e) if gone(&e) => {
                let _ = sys::waitpid(self.pid, libc::__WALL | libc::WNOHANG);
                Ok(())
            }
            Err(e) => Err(perr(
                self.pid,
                "letting the task go (PTRACE_SETREGS/DETACH)",
                e,
            )),
        }
    }
}

/// Kills every process of `tree` (pid, its seized threads) and collects
/// every thread, in whatever order they end: a pid namespace's init is
/// reported only once its children are reaped, and they are our tracees,
/// so no one wait may block on a given task.
pub fn kill_all(tree: Vec<(i32, Vec<Tracee>)>) {
    let mut left: Vec<i32> = Vec::new();
    for (pid, mut threads) in tree {
        for t in &mut threads {
            t.attached = false;
            left.push(t.pid);
        }
        let _ = sys::kill(pid, libc::SIGKILL);
    }
    while !left.is_empty() {
        match sys::waitpid(-1, libc::__WALL) {
            Ok(Some((tid, _))) => left.retain(|&t| t != tid),
            _ => break, // ECHILD: nothing of ours is left to wait for
        }
    }
}

impl Drop for Tracee {
    fn drop(&mut self) {
        if let Err(e) = self.release() {
            crate::log!(crate::log::ERROR, "{e}");
        }
    }
}

/// The error for a task that ended while we held it.
fn self_died(pid: i32, st: i32) -> Result<(), DumpError> {
    let how = if libc::WIFSIGNALED(st) {
        format!("was killed by signal {}", libc::WTERMSIG(st))
    } else {
        format!("exited with {}", libc::WEXITSTATUS(st))
    };
    Err(DumpError::Gone {
        pid,
        what: format!("{how} during the dump"),
    })
}

fn empty_regs() -> libc::user_regs_struct {
    libc::user_regs_struct {
        r15: 0,
        r14: 0,
        r13: 0,
        r12: 0,
        rbp: 0,
        rbx: 0,
        r11: 0,
        r10: 0,
        r9: 0,
        r8: 0,
        rax: 0,
        rcx: 0,
        rdx: 0,
        rsi: 0,
        rdi: 0,
        orig_rax: 0,
        rip: 0,
        cs: 0,
        eflags: 0,
        rsp: 0,
        ss: 0,
        fs_base: 0,
        gs_base: 0,
        ds: 0,
        es: 0,
        fs: 0,
        gs: 0,
    }
}
