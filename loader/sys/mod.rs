//! The loader's system calls: one typed wrapper each, returning
//! `io::Result`, grouped by what they touch (`mm`, `fd`, `ptrace`,
//! `probe`, `ipc`, `net`, `tty`; processes, credentials and signals here). A wrapper that can
//! replace, unmap or write memory, or fork, is an `unsafe fn` whose
//! `# Safety` says what its caller must prove.

mod fd;
mod fs;
pub mod ipc;
mod mm;
mod net;
mod probe;
mod ptrace;
mod tty;
pub mod uffd;

pub use fd::*;
pub use fs::*;
pub use mm::*;
pub use net::*;
pub use probe::*;
pub use ptrace::*;
pub use tty::*;

use std::ffi::CStr;
use std::io;
use std::os::fd::RawFd;

fn check(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn check_int(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// The symbolic name of an errno, as CRIU and strace print it.
pub fn errno_name(errno: i32) -> &'static str {
    use libc::*;
    match errno {
        EPERM => "EPERM",
        ENOENT => "ENOENT",
        ESRCH => "ESRCH",
        EINTR => "EINTR",
        EIO => "EIO",
        ENXIO => "ENXIO",
        E2BIG => "E2BIG",
        ENOEXEC => "ENOEXEC",
        EBADF => "EBADF",
        ECHILD => "ECHILD",
        EAGAIN => "EAGAIN",
        ENOMEM => "ENOMEM",
        EACCES => "EACCES",
        EFAULT => "EFAULT",
        EBUSY => "EBUSY",
        EEXIST => "EEXIST",
        EXDEV => "EXDEV",
        ENODEV => "ENODEV",
        ENOTDIR => "ENOTDIR",
        EISDIR => "EISDIR",
        EINVAL => "EINVAL",
        ENFILE => "ENFILE",
        EMFILE => "EMFILE",
        ENOTTY => "ENOTTY",
        ETXTBSY => "ETXTBSY",
        EFBIG => "EFBIG",
        ENOSPC => "ENOSPC",
        ESPIPE => "ESPIPE",
        EROFS => "EROFS",
        EMLINK => "EMLINK",
        EPIPE => "EPIPE",
        ERANGE => "ERANGE",
        ENAMETOOLONG => "ENAMETOOLONG",
        ENOSYS => "ENOSYS",
        ELOOP => "ELOOP",
        EOVERFLOW => "EOVERFLOW",
        EOPNOTSUPP => "EOPNOTSUPP",
        ETIMEDOUT => "ETIMEDOUT",
        _ => "errno",
    }
}

/// An error as `ENAME (text)`, e.g. `EPERM (Operation not permitted)`;
/// errors without an errno print as they are.
pub fn describe(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(n) => {
            let text = io::Error::from_raw_os_error(n).to_string();
            let text = text.split(" (os error").next().unwrap_or(&text).to_string();
            match errno_name(n) {
                "errno" => format!("errno {n} ({text})"),
                name => format!("{name} ({text})"),
            }
        }
        None => err.to_string(),
    }
}

/// The kernel's `struct clone_args` (v2, with `set_tid`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Where `clone3` returned.
pub enum Forked {
    Parent(libc::pid_t),
    Child,
}

/// `clone3` with `set_tid`: a fork whose child gets `pids` (innermost pid
/// namespace last; `[]` for any pid). `flags` adds namespace flags.
///
/// # Safety
/// The child continues with a copy of this address space in which no
/// other thread exists: the caller must be single-threaded, or the child
/// must only make system calls until it execs or exits (no allocation, no
/// locks another thread may have held).
pub unsafe fn clone3(flags: u64, pids: &[libc::pid_t]) -> io::Result<Forked> {
    let args = CloneArgs {
        flags,
        // With CLONE_PARENT the child takes our own exit signal; clone3
        // wants 0 here then.
        exit_signal: if flags & libc::CLONE_PARENT as u64 != 0 {
            0
        } else {
            libc::SIGCHLD as u64
        },
        set_tid: if pids.is_empty() {
            0
        } else {
            pids.as_ptr() as u64
        },
        set_tid_size: pids.len() as u64,
        ..Default::default()
    };
    // SAFETY: args is a complete clone_args whose set_tid points to
    // pids.len() pid_t; without CLONE_VM the child runs on a copy of our
    // stack, exactly as after fork(); the rest is the caller's.
    let r = check(unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    })?;
    Ok(if r == 0 {
        Forked::Child
    } else {
        Forked::Parent(r as libc::pid_t)
    })
}

/// Waits to be killed, making nothing but pause(2) calls.
pub fn sleep_until_killed() -> ! {
    loop {
        // SAFETY: pause takes no memory.
        unsafe { libc::pause() };
    }
}

/// Forks a child that does nothing but wait to be killed; its pid.
pub fn spawn_sleeper() -> io::Result<libc::pid_t> {
    spawn_sleeper_as(&[])
}

/// As `spawn_sleeper`, with pid `set_tid` (clone3) if given; the child
/// dies with us.
pub fn spawn_sleeper_as(set_tid: &[i32]) -> io::Result<libc::pid_t> {
    // SAFETY: the child makes nothing but prctl and pause(2) calls until
    // killed.
    match unsafe { clone3(0, set_tid) }? {
        Forked::Child => {
            let _ = prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as u64, 0, 0, 0);
            sleep_until_killed()
        }
        Forked::Parent(pid) => Ok(pid),
    }
}

pub fn prctl(option: i32, a2: u64, a3: u64, a4: u64, a5: u64) -> io::Result<i32> {
    // SAFETY: only integer-argument prctl options are passed here.
    check_int(unsafe { libc::prctl(option, a2, a3, a4, a5) })
}

pub fn unshare(flags: i32) -> io::Result<()> {
    // SAFETY: unshare takes no memory.
    check_int(unsafe { libc::unshare(flags) }).map(drop)
}

pub fn setsid() -> io::Result<()> {
    // SAFETY: setsid takes no memory.
    check_int(unsafe { libc::setsid() }).map(drop)
}

/// The scheduling policy (with SCHED_RESET_ON_FORK) and the static
/// priority of thread `tid`.
pub fn sched_get(tid: i32) -> io::Result<(i32, i32)> {
    // SAFETY: sched_getscheduler takes no memory.
    let policy = check_int(unsafe { libc::sched_getscheduler(tid) })?;
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: param is a sched_param of ours.
    check_int(unsafe { libc::sched_getparam(tid, &mut param) })?;
    Ok((policy, param.sched_priority))
}

/// CLOCK_MONOTONIC in nanoseconds, the clock of the restore's stage
/// marks (the blob reads the same one).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a timespec the call writes; this clock always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub fn getuid() -> u32 {
    // SAFETY: getuid takes no memory and cannot fail.
    unsafe { libc::getuid() }
}

pub fn geteuid() -> u32 {
    // SAFETY: geteuid takes no memory and cannot fail.
    unsafe { libc::geteuid() }
}

/// membarrier(cmd, 0, 0): a registration, or a query.
pub fn membarrier(cmd: i32) -> io::Result<i32> {
    // SAFETY: membarrier takes no memory.
    check(unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0, 0) }).map(|r| r as i32)
}

pub fn getpgid(pid: i32) -> io::Result<i32> {
    // SAFETY: getpgid takes no memory.
    check_int(unsafe { libc::getpgid(pid) })
}

pub fn getsid(pid: i32) -> io::Result<i32> {
    // SAFETY: getsid takes no memory.
    check_int(unsafe { libc::getsid(pid) })
}

pub fn setpgid(pid: i32, pgid: i32) -> io::Result<()> {
    // SAFETY: setpgid takes no memory.
    check_int(unsafe { libc::setpgid(pid, pgid) }).map(drop)
}

pub fn umask(mask: u32) {
    // SAFETY: umask takes no memory.
    unsafe { libc::umask(mask) };
}

pub fn chroot(path: &CStr) -> io::Result<()> {
    // SAFETY: path is NUL terminated.
    check_int(unsafe { libc::chroot(path.as_ptr()) }).map(drop)
}

pub fn fchdir(fd: RawFd) -> io::Result<()> {
    // SAFETY: fchdir takes no memory.
    check_int(unsafe { libc::fchdir(fd) }).map(drop)
}

/// A saved signal mask (the kernel's: one bit per signal).
pub struct SigMask(u64);

/// `rt_sigprocmask(how, set)` for the calling thread; the previous mask.
/// By system call: glibc's sigprocmask leaves its own two signals, 32 and
/// 33 (SIGCANCEL, SIGSETXID), as they are, and a task forked from the
/// loader must not take one before the blob puts its dumped mask back
/// (glibc's SIGEV_THREAD timers signal with 32, whose default action
/// kills).
fn sigprocmask(how: i32, set: u64) -> io::Result<u64> {
    let mut old = 0u64;
    // SAFETY: set and old are local masks of the kernel's size (8 bytes).
    check(unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            how,
            &set as *const u64,
            &mut old as *mut u64,
            8usize,
        )
    })?;
    Ok(old)
}

/// Blocks every signal in the calling thread, 32 and 33 too; returns the
/// previous mask.
pub fn block_all_signals() -> io::Result<SigMask> {
    sigprocmask(libc::SIG_SETMASK, u64::MAX).map(SigMask)
}

/// Blocks SIGCHLD (for `wait_sigchld`); returns the mask to put back.
pub fn block_sigchld() -> io::Result<SigMask> {
    sigprocmask(libc::SIG_BLOCK, 1 << (libc::SIGCHLD - 1)).map(SigMask)
}

/// Sleeps until a SIGCHLD is pending (then takes it) or `timeout_ns`
/// passed; SIGCHLD must be blocked.
pub fn wait_sigchld(timeout_ns: u64) {
    // SAFETY: set, info and ts are locals; sigtimedwait fills info.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        let ts = libc::timespec {
            tv_sec: (timeout_ns / 1_000_000_000) as libc::time_t,
            tv_nsec: (timeout_ns % 1_000_000_000) as libc::c_long,
        };
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::sigtimedwait(&set, &mut info, &ts);
    }
}

extern "C" fn wake_only(_: libc::c_int) {}

/// Makes every blocking system call of this process return EINTR after
/// `secs` seconds (SIGALRM with a handler that does nothing and no
/// SA_RESTART); 0 disarms it. For waits that must not block for ever.
pub fn deadline_alarm(secs: u64) -> io::Result<()> {
    // SAFETY: sa and it are locals; the handler does nothing, so it is
    // async-signal-safe.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = wake_only as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        check_int(libc::sigaction(libc::SIGALRM, &sa, std::ptr::null_mut()))?;
        let it = libc::itimerval {
            it_interval: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            it_value: libc::timeval {
                tv_sec: secs as libc::time_t,
                tv_usec: 0,
            },
        };
        check_int(libc::setitimer(
            libc::ITIMER_REAL,
            &it,
            std::ptr::null_mut(),
        ))?;
    }
    Ok(())
}

/// Puts back a mask saved by `block_all_signals` or `block_sigchld`.
pub fn restore_sigmask(mask: SigMask) {
    let _ = sigprocmask(libc::SIG_SETMASK, mask.0);
}

/// `tgkill(tgid, tid, sig)`.
pub fn tgkill(tgid: i32, tid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: tgkill takes integers only.
    check(unsafe { libc::syscall(libc::SYS_tgkill, tgid, tid, sig) }).map(drop)
}

pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill takes no memory.
    check_int(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// `waitid(P_PID, pid, WEXITED | WNOWAIT)`: waits until child `pid` has
/// ended, without reaping it; returns (si_code, si_status).
pub fn wait_exited_nowait(pid: i32) -> io::Result<(i32, i32)> {
    // SAFETY: siginfo_t is plain data the kernel fills.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: info is a live siginfo_t the kernel writes.
    check_int(unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOWAIT,
        )
    })?;
    // SAFETY: a WEXITED siginfo carries si_status.
    Ok((info.si_code, unsafe { info.si_status() }))
}

/// Takes one pending `sig` of this thread's blocked signals, if there is
/// one (`sigtimedwait` with a zero timeout).
pub fn take_pending(sig: i32) -> bool {
    // SAFETY: set is a local sigset_t initialised by sigemptyset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) == sig
    }
}

/// Dies of `sig` as a process does when it is not handled: default
/// action, unblocked, sent to ourselves. Returns only if `sig` does not
/// end the process. By system calls, which glibc's wrappers refuse or
/// drop for its own signals 32 and 33.
pub fn die_of(sig: i32) {
    let act = [0u64; 4];
    // SAFETY: act is a local kernel sigaction: handler SIG_DFL, flags,
    // restorer and mask all zero.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            act.as_ptr(),
            std::ptr::null_mut::<u64>(),
            8usize,
        )
    };
    let _ = sigprocmask(libc::SIG_UNBLOCK, 1 << (sig - 1));
    // SAFETY: kill takes no memory.
    unsafe { libc::kill(libc::getpid(), sig) };
}

/// `sethostname`.
pub fn sethostname(name: &str) -> io::Result<()> {
    // SAFETY: name's bytes live across the call; the length is passed.
    check_int(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }).map(drop)
}

/// `setdomainname`.
pub fn setdomainname(name: &str) -> io::Result<()> {
    // SAFETY: name's bytes live across the call; the length is passed.
    check_int(unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) }).map(drop)
}

/// `prctl(PR_SET_NAME)`.
pub fn set_comm(comm: &str) -> io::Result<()> {
    let mut name = [0u8; 16];
    let n = comm.len().min(15);
    name[..n].copy_from_slice(&comm.as_bytes()[..n]);
    // SAFETY: name is a 16-byte NUL-terminated buffer that outlives the call.
    check_int(unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) }).map(drop)
}

/// `waitpid`; `Ok(None)` with `WNOHANG` and nothing to report.
pub fn waitpid(pid: i32, flags: i32) -> io::Result<Option<(i32, i32)>> {
    let mut status = 0;
    // SAFETY: status is a local int.
    let r = check_int(unsafe { libc::waitpid(pid, &mut status, flags) })?;
    Ok(if r == 0 { None } else { Some((r, status)) })
}

pub fn getpid() -> i32 {
    // SAFETY: getpid takes no memory.
    unsafe { libc::getpid() }
}

pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit ends the process without running atexit handlers,
    // which belong to the parent in a forked child.
    unsafe { libc::_exit(code) }
}

pub fn getauxval(kind: u64) -> u64 {
    // SAFETY: getauxval reads the process's own auxv.
    unsafe { libc::getauxval(kind) }
}

pub fn clock_gettime(clock: libc::clockid_t) -> io::Result<(i64, i64)> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a local timespec.
    check_int(unsafe { libc::clock_gettime(clock, &mut ts) })?;
    Ok((ts.tv_sec, ts.tv_nsec))
}

/// `prlimit64(0, resource, NULL, &old)`.
pub fn getrlimit(resource: u32) -> io::Result<(u64, u64)> {
    let mut old = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: old is a local rlimit64; no new limit is passed.
    check_int(unsafe { libc::prlimit64(0, resource as _, std::ptr::null(), &mut old) })?;
    Ok((old.rlim_cur, old.rlim_max))
}

/// `capget` for this process: (effective, permitted, inheritable) words.
pub fn capget() -> io::Result<[[u32; 3]; 2]> {
    let mut header = [0x2008_0522u32, 0];
    let mut data = [[0u32; 3]; 2];
    // SAFETY: header and data have the v3 layout (two data structs).
    check(unsafe { libc::syscall(libc::SYS_capget, header.as_mut_ptr(), data.as_mut_ptr()) })?;
    Ok(data)
}

extern "C" {
    /// glibc (2.35+): offset of this thread's rseq area from the thread
    /// pointer, and its registered size (0: glibc did not register one).
    static __rseq_offset: isize;
    static __rseq_size: u32;
}

/// Unregisters the rseq area glibc registered for this thread, which a
/// forked child inherits pointing into the loader's TLS. Once the loader's
/// memory is unmapped the kernel would fault writing to it.
pub fn rseq_unregister() -> io::Result<()> {
    const RSEQ_SIG: u32 = 0x5305_3053;
    const RSEQ_FLAG_UNREGISTER: u32 = 1;
    // SAFETY: glibc defines both symbols (static glibc >= 2.35) and never
    // changes them after start-up.
    let (off, size) = unsafe { (__rseq_offset, __rseq_size) };
    if size == 0 {
        return Ok(());
    }
    let tp: u64;
    // SAFETY: reading fs:0, the thread pointer glibc stores at the TCB start.
    unsafe { std::arch::asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly)) };
    let area = (tp as i64 + off as i64) as u64;
    // A registered area is at least 32 bytes; the kernel wants the length
    // it was registered with, which glibc registers as max(size, 32).
    let len = size.max(32);
    // SAFETY: area/len/sig are exactly what glibc registered for us.
    check(unsafe { libc::syscall(libc::SYS_rseq, area, len, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) })
        .map(drop)
}
