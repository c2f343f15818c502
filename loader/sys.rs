//! The loader's system calls: one typed wrapper each, returning
//! `io::Result`. This module and `blob` are the only ones allowed `unsafe`.

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
/// The caller must be single-threaded: the child continues with a copy of
/// this address space in which no other thread exists.
pub fn clone3(flags: u64, pids: &[libc::pid_t]) -> io::Result<Forked> {
    let args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
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
    // stack, exactly as after fork().
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

/// An anonymous or file mapping owned by the caller.
pub fn mmap(addr: u64, len: u64, prot: i32, flags: i32, fd: RawFd, off: u64) -> io::Result<u64> {
    // SAFETY: mmap only creates mappings. Callers pass MAP_FIXED only for
    // ranges they reserved themselves (see restore::layout), so no memory
    // Rust still references is replaced.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len as usize,
            prot,
            flags,
            fd,
            off as libc::off_t,
        )
    };
    if p == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(p as u64)
    }
}

/// Unmaps a range the caller mapped and no longer references.
pub fn munmap(addr: u64, len: u64) -> io::Result<()> {
    // SAFETY: callers only unmap ranges they mapped with `mmap` above and
    // to which no Rust reference remains.
    check_int(unsafe { libc::munmap(addr as *mut libc::c_void, len as usize) }).map(drop)
}

pub fn mprotect(addr: u64, len: u64, prot: i32) -> io::Result<()> {
    // SAFETY: callers change the protection of ranges they mapped and do
    // not access through Rust references afterwards.
    check_int(unsafe { libc::mprotect(addr as *mut libc::c_void, len as usize, prot) }).map(drop)
}

/// Reads file data straight into mapped memory: `iov` are (address, length)
/// pairs inside mappings the caller made writable.
pub fn preadv(fd: RawFd, iov: &[(u64, u64)], off: u64) -> io::Result<usize> {
    let vecs: Vec<libc::iovec> = iov
        .iter()
        .map(|&(base, len)| libc::iovec {
            iov_base: base as *mut libc::c_void,
            iov_len: len as usize,
        })
        .collect();
    // SAFETY: every iovec lies in a writable mapping owned by the caller
    // (checked against the premap plan in restore::layout).
    let r = unsafe { libc::preadv(fd, vecs.as_ptr(), vecs.len() as i32, off as libc::off_t) };
    check(r as libc::c_long).map(|n| n as usize)
}

/// Copies `bytes` into memory the caller mapped at `addr`.
pub fn write_mem(addr: u64, bytes: &[u8]) {
    // SAFETY: callers pass an address inside a writable mapping of theirs
    // that is at least bytes.len() long and not aliased by a Rust reference.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, bytes.len()) }
}

/// Reads memory of ours that Rust does not track (e.g. the vdso).
pub fn read_mem(addr: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    // SAFETY: callers pass a readable mapping of this process at least len
    // bytes long (the vdso, from AT_SYSINFO_EHDR and /proc/self/maps).
    unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, v.as_mut_ptr(), len) };
    v
}

/// `FUTEX_WAIT` on a shared word until it differs from `expected` or
/// `timeout_ns` passes. Spurious wakeups are fine: callers re-check.
pub fn futex_wait(word: u64, expected: u32, timeout_ns: u64) {
    let ts = libc::timespec {
        tv_sec: (timeout_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (timeout_ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: word is the address of an aligned u32 in a mapping owned by
    // the caller; the kernel only reads it.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word as *const u32,
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
        )
    };
}

/// Reads a `u32` in shared memory that another process writes.
pub fn load_u32(addr: u64) -> u32 {
    // SAFETY: addr is an aligned u32 in a mapping owned by the caller.
    unsafe { std::ptr::read_volatile(addr as *const u32) }
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

/// `open(2)` returning a raw descriptor the caller arranges itself.
pub fn open(path: &CStr, flags: i32, mode: u32) -> io::Result<RawFd> {
    // SAFETY: path is NUL terminated.
    check_int(unsafe { libc::open(path.as_ptr(), flags, mode) })
}

pub fn lseek(fd: RawFd, off: u64) -> io::Result<()> {
    // SAFETY: lseek takes no memory.
    check(unsafe { libc::lseek(fd, off as libc::off_t, libc::SEEK_SET) } as libc::c_long).map(drop)
}

pub fn dup2(old: RawFd, new: RawFd) -> io::Result<()> {
    // SAFETY: dup2 takes no memory; the caller owns both numbers.
    check_int(unsafe { libc::dup2(old, new) }).map(drop)
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, min)`.
pub fn dup_above(fd: RawFd, min: RawFd) -> io::Result<RawFd> {
    // SAFETY: fcntl F_DUPFD_CLOEXEC takes no memory.
    check_int(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) })
}

pub fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    let flags = if on { libc::FD_CLOEXEC } else { 0 };
    // SAFETY: fcntl F_SETFD takes no memory.
    check_int(unsafe { libc::fcntl(fd, libc::F_SETFD, flags) }).map(drop)
}

pub fn close(fd: RawFd) {
    // SAFETY: the caller owns fd and drops its number afterwards.
    unsafe { libc::close(fd) };
}

/// Closes every descriptor in `[first, last]`.
pub fn close_range(first: u32, last: u32) -> io::Result<()> {
    // SAFETY: close_range takes no memory; callers own the whole range.
    check(unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) }).map(drop)
}

/// A saved signal mask.
pub struct SigMask(libc::sigset_t);

/// Blocks every signal in the calling thread; returns the previous mask.
pub fn block_all_signals() -> io::Result<SigMask> {
    // SAFETY: set and old are local sigsets; sigfillset initialises set
    // and pthread_sigmask fills old.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        check_int(libc::pthread_sigmask(libc::SIG_SETMASK, &set, &mut old))?;
        Ok(SigMask(old))
    }
}

/// Puts back a mask saved by `block_all_signals`.
pub fn restore_sigmask(mask: SigMask) {
    // SAFETY: mask.0 was filled by pthread_sigmask.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &mask.0, std::ptr::null_mut()) };
}

pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill takes no memory.
    check_int(unsafe { libc::kill(pid, sig) }).map(drop)
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

/// Whether clone3 understands `set_tid`, without forking: a `set_tid_size`
/// of 1 with a NULL array is EINVAL where set_tid is known and E2BIG (or
/// ENOSYS) where it is not.
pub fn probe_clone3_set_tid() -> bool {
    let args = CloneArgs {
        set_tid_size: 1,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    // SAFETY: the arguments are invalid on purpose, so the kernel rejects
    // them before creating any task.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL)
}

/// `prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE)`: the size of `struct prctl_mm_map`.
pub fn prctl_mm_map_size() -> io::Result<u32> {
    const PR_SET_MM_MAP_SIZE: u64 = 15;
    let mut size = 0u32;
    // SAFETY: the kernel writes one u32 to `size`.
    check_int(unsafe {
        libc::prctl(
            libc::PR_SET_MM,
            PR_SET_MM_MAP_SIZE,
            &mut size as *mut u32,
            0u64,
            0u64,
        )
    })?;
    Ok(size)
}

static FPU_PROBE_SIZE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
static FPU_PROBE_FEATURES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

extern "C" fn fpu_probe_handler(_sig: i32, _info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    use std::sync::atomic::Ordering::Relaxed;
    // SAFETY: the kernel passes a ucontext_t for SA_SIGINFO handlers; its
    // fpregs pointer is either NULL or the frame's fpstate, whose software
    // reserved bytes (fx_sw_bytes) sit at offset 464 of the fxsave area.
    unsafe {
        let uc = ctx as *const libc::ucontext_t;
        let fp = (*uc).uc_mcontext.fpregs as *const u8;
        if fp.is_null() {
            return;
        }
        let sw = fp.add(464);
        let magic1 = std::ptr::read_unaligned(sw as *const u32);
        if magic1 != 0x4650_5853 {
            return;
        }
        let features = std::ptr::read_unaligned(sw.add(8) as *const u64);
        let size = std::ptr::read_unaligned(sw.add(16) as *const u32);
        FPU_PROBE_FEATURES.store(features, Relaxed);
        FPU_PROBE_SIZE.store(size, Relaxed);
    }
}

/// What the kernel puts in this process's signal frames: the xstate size
/// and the feature mask from `fx_sw_bytes`, read in a handler for a
/// self-sent SIGURG. `None`: legacy fxsave frames only.
pub fn probe_sigframe_fpu() -> Option<(u32, u64)> {
    use std::sync::atomic::Ordering::Relaxed;
    // SAFETY: a local sigaction pointing at a handler that only reads its
    // own frame; the previous action is restored right after the signal.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = fpu_probe_handler as *const () as usize;
        act.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut act.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGURG, &act, &mut old) != 0 {
            return None;
        }
        let mut unblock: libc::sigset_t = std::mem::zeroed();
        let mut oldmask: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut unblock);
        libc::sigaddset(&mut unblock, libc::SIGURG);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &unblock, &mut oldmask);
        libc::raise(libc::SIGURG);
        libc::pthread_sigmask(libc::SIG_SETMASK, &oldmask, std::ptr::null_mut());
        libc::sigaction(libc::SIGURG, &old, std::ptr::null_mut());
    }
    match FPU_PROBE_SIZE.load(Relaxed) {
        0 => None,
        size => Some((size, FPU_PROBE_FEATURES.load(Relaxed))),
    }
}

pub fn isatty(fd: RawFd) -> bool {
    // SAFETY: isatty takes no memory.
    unsafe { libc::isatty(fd) == 1 }
}

pub fn madvise(addr: u64, len: u64, advice: i32) -> io::Result<()> {
    // SAFETY: advice on a range of ours that Rust does not reference;
    // the advice numbers come from the dumped VMA's own flags.
    check_int(unsafe { libc::madvise(addr as *mut libc::c_void, len as usize, advice) }).map(drop)
}

/// Wakes one waiter on a shared futex word.
pub fn futex_wake(word: u64) {
    // SAFETY: word is an aligned u32 in a mapping owned by the caller.
    unsafe { libc::syscall(libc::SYS_futex, word as *const u32, libc::FUTEX_WAKE, 1) };
}

/// `PTRACE_SEIZE` with options (no stop).
pub fn ptrace_seize(pid: i32, options: u64) -> io::Result<()> {
    // SAFETY: PTRACE_SEIZE passes options as an integer.
    check(unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0, options) }).map(drop)
}

/// Resumes a stopped tracee until its next syscall entry/exit, delivering
/// `sig` (0: none).
pub fn ptrace_syscall(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: no memory is passed.
    check(unsafe { libc::ptrace(libc::PTRACE_SYSCALL, pid, 0, sig as u64) }).map(drop)
}

pub fn ptrace_detach(pid: i32) -> io::Result<()> {
    // SAFETY: no memory is passed.
    check(unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0) }).map(drop)
}

pub fn ptrace_getregs(pid: i32) -> io::Result<libc::user_regs_struct> {
    // SAFETY: the kernel fills a local user_regs_struct.
    unsafe {
        let mut regs: libc::user_regs_struct = std::mem::zeroed();
        check(libc::ptrace(
            libc::PTRACE_GETREGS,
            pid,
            0,
            &mut regs as *mut _,
        ))?;
        Ok(regs)
    }
}

pub fn ptrace_setregs(pid: i32, regs: &libc::user_regs_struct) -> io::Result<()> {
    // SAFETY: the kernel reads a complete user_regs_struct.
    check(unsafe { libc::ptrace(libc::PTRACE_SETREGS, pid, 0, regs as *const _) }).map(drop)
}

/// `PTRACE_INTERRUPT`: stop a seized tracee.
pub fn ptrace_interrupt(pid: i32) -> io::Result<()> {
    // SAFETY: no memory is passed.
    check(unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, pid, 0, 0) }).map(drop)
}

/// `PTRACE_GETREGSET` of note type `nt` into `buf`; returns the bytes the
/// kernel filled.
pub fn ptrace_getregset(pid: i32, nt: u32, buf: &mut [u8]) -> io::Result<usize> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: iov describes buf, which the kernel fills up to iov_len.
    check(unsafe { libc::ptrace(libc::PTRACE_GETREGSET, pid, nt as u64, &mut iov as *mut _) })?;
    Ok(iov.iov_len)
}

/// `PTRACE_GETSIGMASK`: the tracee's blocked signals.
pub fn ptrace_getsigmask(pid: i32) -> io::Result<u64> {
    let mut mask = 0u64;
    // SAFETY: the kernel writes 8 bytes to mask.
    check(unsafe { libc::ptrace(0x420a, pid, 8u64, &mut mask as *mut u64) })?;
    Ok(mask)
}

/// `PTRACE_PEEKSIGINFO`: up to `buf.len()` queued siginfos from offset
/// `off` of the thread's (or with `shared`, the process's) queue.
pub fn ptrace_peeksiginfo(
    pid: i32,
    off: u64,
    shared: bool,
    buf: &mut [[u8; 128]],
) -> io::Result<usize> {
    #[repr(C)]
    struct Args {
        off: u64,
        flags: u32,
        nr: i32,
    }
    let args = Args {
        off,
        flags: shared as u32,
        nr: buf.len() as i32,
    };
    // SAFETY: the kernel writes at most nr 128-byte siginfos into buf.
    let r = check(unsafe { libc::ptrace(0x4209, pid, &args as *const Args, buf.as_mut_ptr()) })?;
    Ok(r as usize)
}

/// `PTRACE_GET_RSEQ_CONFIGURATION`: (area, size, signature).
pub fn ptrace_rseq_config(pid: i32) -> io::Result<(u64, u32, u32)> {
    let mut conf = [0u64; 3];
    // SAFETY: the kernel writes its 24-byte struct into conf.
    check(unsafe { libc::ptrace(0x420f, pid, 24u64, conf.as_mut_ptr()) })?;
    Ok((conf[0], conf[1] as u32, (conf[1] >> 32) as u32))
}

/// Reads the tracee's memory: `local` buffers filled from `remote`
/// (address, length) ranges, as far as they go.
pub fn process_vm_readv(pid: i32, local: &mut [u8], remote: &[(u64, u64)]) -> io::Result<usize> {
    let liov = libc::iovec {
        iov_base: local.as_mut_ptr() as *mut libc::c_void,
        iov_len: local.len(),
    };
    let riov: Vec<libc::iovec> = remote
        .iter()
        .map(|&(a, l)| libc::iovec {
            iov_base: a as *mut libc::c_void,
            iov_len: l as usize,
        })
        .collect();
    // SAFETY: liov covers `local`; the remote iovecs are only read by the
    // kernel from the other process.
    let r = unsafe { libc::process_vm_readv(pid, &liov, 1, riov.as_ptr(), riov.len() as u64, 0) };
    check(r as libc::c_long).map(|n| n as usize)
}

/// `get_robust_list(pid)`: (head, len).
pub fn get_robust_list(pid: i32) -> io::Result<(u64, u64)> {
    let (mut head, mut len) = (0u64, 0u64);
    // SAFETY: the kernel writes one pointer and one size_t.
    check(unsafe {
        libc::syscall(
            libc::SYS_get_robust_list,
            pid,
            &mut head as *mut u64,
            &mut len as *mut u64,
        )
    })?;
    Ok((head, len))
}

/// `prlimit64(pid, resource, NULL, &old)`.
pub fn prlimit_of(pid: i32, resource: u32) -> io::Result<(u64, u64)> {
    let mut old = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: old is a local rlimit64; no new limit is passed.
    check_int(unsafe { libc::prlimit64(pid, resource as _, std::ptr::null(), &mut old) })?;
    Ok((old.rlim_cur, old.rlim_max))
}

/// Resumes a stopped tracee, delivering `sig` (0: none).
pub fn ptrace_cont(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: no memory is passed.
    check(unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0, sig as u64) }).map(drop)
}

/// `kcmp(pid_a, pid_b, KCMP_FILE, a, b) == 0`: descriptor `a` of `pid_a`
/// and `b` of `pid_b` are one open file.
pub fn same_file(pid_a: i32, a: i32, pid_b: i32, b: i32) -> bool {
    const KCMP_FILE: i32 = 0;
    // SAFETY: kcmp takes no memory for KCMP_FILE.
    unsafe { libc::syscall(libc::SYS_kcmp, pid_a, pid_b, KCMP_FILE, a, b) == 0 }
}

/// A copy of descriptor `fd` of process `pid` (pidfd_open + pidfd_getfd).
pub fn steal_fd(pid: i32, fd: i32) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes no memory.
    let pidfd = check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })? as RawFd;
    // SAFETY: pidfd_getfd takes no memory; pidfd is ours and closed below.
    let r = check(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0) });
    close(pidfd);
    // SAFETY: the kernel just gave us this descriptor.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(r? as RawFd) })
}

pub fn get_pipe_size(fd: RawFd) -> io::Result<u32> {
    // SAFETY: F_GETPIPE_SZ takes no memory.
    check_int(unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) }).map(|n| n as u32)
}

/// `tee(fd_in, fd_out, len, SPLICE_F_NONBLOCK)`: copies pipe contents
/// without consuming them; 0 when the input pipe is empty.
pub fn tee(fd_in: RawFd, fd_out: RawFd, len: usize) -> io::Result<usize> {
    // SAFETY: tee takes no memory.
    match check(unsafe { libc::tee(fd_in, fd_out, len, libc::SPLICE_F_NONBLOCK) } as libc::c_long) {
        Ok(n) => Ok(n as usize),
        Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => Ok(0),
        Err(e) => Err(e),
    }
}

/// `read(2)` into `buf`.
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for buf.len() bytes.
    check(
        unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) } as libc::c_long,
    )
    .map(|n| n as usize)
}

/// `syncfs`: write back everything of the filesystem holding `f`.
pub fn syncfs(f: &std::fs::File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: syncfs takes no memory.
    check_int(unsafe { libc::syncfs(f.as_raw_fd()) }).map(drop)
}

/// Starts writeback of `[off, off + len)` of `f` without waiting for it.
pub fn start_writeback(f: &std::fs::File, off: u64, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: sync_file_range takes no memory.
    check_int(unsafe {
        libc::sync_file_range(
            f.as_raw_fd(),
            off as i64,
            len as i64,
            libc::SYNC_FILE_RANGE_WRITE,
        )
    })
    .map(drop)
}

/// `PTRACE_SECCOMP_GET_FILTER`: the BPF program of the tracee's seccomp
/// filter number `index` (0: the most recently installed), as raw
/// `struct sock_filter` bytes; `Ok(None)` past the last filter.
pub fn ptrace_seccomp_filter(pid: i32, index: u64) -> io::Result<Option<Vec<u8>>> {
    const PTRACE_SECCOMP_GET_FILTER: libc::c_uint = 0x420c;
    // SAFETY: with a NULL buffer the kernel only returns the length.
    let n = unsafe { libc::ptrace(PTRACE_SECCOMP_GET_FILTER, pid, index, 0) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ENOENT) {
            Ok(None)
        } else {
            Err(e)
        };
    }
    let mut buf = vec![0u8; n as usize * 8];
    // SAFETY: buf holds n 8-byte instructions, as the kernel will write.
    check(unsafe { libc::ptrace(PTRACE_SECCOMP_GET_FILTER, pid, index, buf.as_mut_ptr()) })?;
    Ok(Some(buf))
}

/// `PTRACE_GET_SECCOMP_METADATA`: the flags filter `index` was installed with.
pub fn ptrace_seccomp_flags(pid: i32, index: u64) -> io::Result<u32> {
    const PTRACE_GET_SECCOMP_METADATA: libc::c_uint = 0x420d;
    let mut meta = [index, 0u64];
    // SAFETY: the kernel reads filter_off and writes flags in meta.
    check(unsafe { libc::ptrace(PTRACE_GET_SECCOMP_METADATA, pid, 16u64, meta.as_mut_ptr()) })?;
    Ok(meta[1] as u32)
}

/// `pipe2(O_CLOEXEC)`: (read end, write end).
pub fn pipe() -> io::Result<(RawFd, RawFd)> {
    let mut fds = [0; 2];
    // SAFETY: the kernel writes two descriptors into fds.
    check_int(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok((fds[0], fds[1]))
}

pub fn set_pipe_size(fd: RawFd, size: u32) -> io::Result<()> {
    // SAFETY: F_SETPIPE_SZ takes an integer.
    check_int(unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, size as libc::c_int) }).map(drop)
}

/// `fcntl(F_SETFL)`.
pub fn set_status_flags(fd: RawFd, flags: i32) -> io::Result<()> {
    // SAFETY: F_SETFL takes an integer.
    check_int(unsafe { libc::fcntl(fd, libc::F_SETFL, flags) }).map(drop)
}

/// Writes all of `buf` to `fd`.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// An anonymous memory file of `size` bytes (memfd_create + ftruncate).
pub fn memfd(size: u64) -> io::Result<RawFd> {
    // SAFETY: the name is a NUL-terminated empty string, as CRIU names
    // its shmem objects.
    let fd = check_int(unsafe { libc::memfd_create(c"".as_ptr(), libc::MFD_CLOEXEC) })?;
    // SAFETY: ftruncate takes no memory.
    if let Err(e) = check_int(unsafe { libc::ftruncate(fd, size as libc::off_t) }) {
        close(fd);
        return Err(e);
    }
    Ok(fd)
}

/// A new pseudo-terminal: its master and the path of its slave.
pub fn open_pty() -> io::Result<(std::os::fd::OwnedFd, std::path::PathBuf)> {
    use std::os::fd::FromRawFd;
    // SAFETY: posix_openpt returns a new descriptor or -1.
    let m =
        check_int(unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) })?;
    // SAFETY: m is the descriptor just opened, owned from here on.
    let master = unsafe { std::os::fd::OwnedFd::from_raw_fd(m) };
    // SAFETY: grantpt/unlockpt take the master descriptor only.
    check_int(unsafe { libc::grantpt(m) })?;
    // SAFETY: as above.
    check_int(unsafe { libc::unlockpt(m) })?;
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes the pty number into n.
    check_int(unsafe { libc::ioctl(m, libc::TIOCGPTN, &mut n) })?;
    Ok((master, format!("/dev/pts/{n}").into()))
}

pub fn eventfd(counter: u64, flags: i32) -> io::Result<RawFd> {
    // The kernel takes the initial count as an unsigned int; a larger one
    // is written after creation.
    // SAFETY: eventfd takes no memory.
    let fd = check_int(unsafe { libc::eventfd(0, flags | libc::EFD_CLOEXEC) })?;
    if counter > 0 {
        if let Err(e) = write_all(fd, &counter.to_ne_bytes()) {
            close(fd);
            return Err(e);
        }
    }
    Ok(fd)
}

pub fn signalfd(mask: u64, flags: i32) -> io::Result<RawFd> {
    // SAFETY: the kernel reads 8 bytes of mask.
    check(unsafe {
        libc::syscall(
            libc::SYS_signalfd4,
            -1,
            &mask as *const u64,
            8usize,
            flags | libc::SFD_CLOEXEC,
        )
    })
    .map(|fd| fd as RawFd)
}

pub fn timerfd(clock: i32, flags: i32) -> io::Result<RawFd> {
    // SAFETY: timerfd_create takes no memory.
    check_int(unsafe { libc::timerfd_create(clock, flags | libc::TFD_CLOEXEC) })
}

/// `timerfd_settime(fd, 0, {interval, value})`, relative.
pub fn timerfd_settime(fd: RawFd, spec: &[u64; 4]) -> io::Result<()> {
    // SAFETY: spec has the layout of struct itimerspec; no old value.
    check(unsafe { libc::syscall(libc::SYS_timerfd_settime, fd, 0, spec.as_ptr(), 0usize) })
        .map(drop)
}

/// `TFD_IOC_SET_TICKS`: expirations not yet read.
pub fn timerfd_set_ticks(fd: RawFd, ticks: u64) -> io::Result<()> {
    const TFD_IOC_SET_TICKS: libc::c_ulong = 0x4008_5400;
    // SAFETY: the kernel reads one u64.
    check_int(unsafe { libc::ioctl(fd, TFD_IOC_SET_TICKS, &ticks as *const u64) }).map(drop)
}

pub fn epoll_create() -> io::Result<RawFd> {
    // SAFETY: epoll_create1 takes no memory.
    check_int(unsafe { libc::epoll_create1(0) })
}

/// `epoll_ctl(ADD)` of `fd` with the dumped event mask and data.
pub fn epoll_add(epfd: RawFd, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: data };
    // SAFETY: ev is a complete epoll_event the kernel only reads.
    check_int(unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) }).map(drop)
}
