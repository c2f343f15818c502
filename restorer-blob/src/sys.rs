//! One typed wrapper per system call the blob makes, and nothing else.
//!
//! Every `as usize` cast of the blob lives here. The wrappers are `unsafe`
//! because most of them change the address space or hand the kernel raw
//! addresses; each caller says why its arguments hold.

use syscalls::{syscall, Errno, Sysno};

pub type Result<T> = core::result::Result<T, Errno>;

pub const MREMAP_MAYMOVE: usize = 1;
pub const MREMAP_FIXED: usize = 2;
pub const ARCH_SET_GS: usize = 0x1001;
pub const ARCH_SET_FS: usize = 0x1002;
pub const ARCH_MAP_VDSO_64: usize = 0x2003;
pub const PR_SET_NAME: usize = 15;
pub const PR_SET_MM: usize = 35;
pub const PR_SET_MM_MAP: usize = 14;
pub const PR_SET_SECUREBITS: usize = 28;
pub const PR_CAPBSET_READ: usize = 23;
pub const PR_CAPBSET_DROP: usize = 24;
pub const PR_CAP_AMBIENT: usize = 47;
pub const PR_CAP_AMBIENT_RAISE: usize = 2;
pub const PR_CAP_AMBIENT_CLEAR_ALL: usize = 4;
pub const PR_TIMER_CREATE_RESTORE_IDS: usize = 77;
pub const PR_SET_NO_NEW_PRIVS: usize = 38;
pub const PR_SET_PDEATHSIG: usize = 1;
/// Errnos the blob reports itself (positive, as in `Status.errno`).
pub const EINVAL: u32 = 22;
pub const EPERM: u32 = 1;
pub const EEXIST: u32 = 17;

pub const FUTEX_WAIT: usize = 0;
pub const FUTEX_WAKE: usize = 1;

/// # Safety
/// Unmaps `[addr, addr + len)`: nothing the caller still uses may live there.
pub unsafe fn munmap(addr: u64, len: u64) -> Result<()> {
    // SAFETY: the caller guarantees the range holds nothing still in use.
    unsafe { syscall!(Sysno::munmap, addr as usize, len as usize) }.map(drop)
}

/// # Safety
/// Moves `[src, src + len)` to `dst`, replacing whatever was mapped there.
pub unsafe fn mremap_fixed(src: u64, len: u64, dst: u64) -> Result<()> {
    // SAFETY: the caller guarantees both ranges are free for this move.
    let r = unsafe {
        syscall!(
            Sysno::mremap,
            src as usize,
            len as usize,
            len as usize,
            MREMAP_MAYMOVE | MREMAP_FIXED,
            dst as usize
        )
    }?;
    if r as u64 == dst {
        Ok(())
    } else {
        Err(Errno::EFAULT)
    }
}

/// # Safety
/// `arch_prctl` codes that take an address change TLS or the vdso mapping.
pub unsafe fn arch_prctl(code: usize, addr: u64) -> Result<()> {
    // SAFETY: forwarded to the caller.
    unsafe { syscall!(Sysno::arch_prctl, code, addr as usize) }.map(drop)
}

/// `prctl` with integer arguments only (no pointer reaches the kernel).
fn prctl_int(option: usize, a2: usize, a3: usize) -> Result<usize> {
    // SAFETY: every option used with this takes integers, not addresses.
    unsafe { syscall!(Sysno::prctl, option, a2, a3, 0, 0) }
}

/// `PR_SET_MM_MAP`: all mm fields, the auxv and the exe link at once.
///
/// # Safety
/// `map.auxv` points to `map.auxv_size` readable bytes.
pub unsafe fn set_mm_map(map: &restorer_blob::PrctlMmMap) -> Result<()> {
    let size = core::mem::size_of::<restorer_blob::PrctlMmMap>();
    // SAFETY: map is a complete prctl_mm_map of the size passed; its auxv
    // pointer is the caller's.
    unsafe {
        syscall!(
            Sysno::prctl,
            PR_SET_MM,
            PR_SET_MM_MAP,
            map as *const restorer_blob::PrctlMmMap as usize,
            size,
            0
        )
    }
    .map(drop)
}

/// `PR_SET_NAME` from a 16-byte NUL-padded buffer.
pub fn set_name(comm: &[u8; 16]) -> Result<()> {
    // SAFETY: comm is 16 readable bytes, as PR_SET_NAME reads (at most
    // TASK_COMM_LEN, NUL-terminated by the kernel).
    unsafe { syscall!(Sysno::prctl, PR_SET_NAME, comm.as_ptr() as usize, 0, 0, 0) }.map(drop)
}

pub fn set_securebits(bits: u32) -> Result<()> {
    prctl_int(PR_SET_SECUREBITS, bits as usize, 0).map(drop)
}

/// Whether `cap` is in the bounding set.
pub fn capbset_has(cap: u32) -> Result<bool> {
    prctl_int(PR_CAPBSET_READ, cap as usize, 0).map(|r| r == 1)
}

pub fn capbset_drop(cap: u32) -> Result<()> {
    prctl_int(PR_CAPBSET_DROP, cap as usize, 0).map(drop)
}

pub fn cap_ambient_clear_all() -> Result<()> {
    prctl_int(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0).map(drop)
}

pub fn cap_ambient_raise(cap: u32) -> Result<()> {
    prctl_int(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap as usize).map(drop)
}

pub fn set_pdeath_signal(sig: u32) -> Result<()> {
    prctl_int(PR_SET_PDEATHSIG, sig as usize, 0).map(drop)
}

/// `sched_setscheduler(0, policy, {prio})` for the calling thread.
pub fn sched_set(policy: u32, prio: u32) -> Result<()> {
    let param = prio as i32;
    // SAFETY: param is a struct sched_param (one int) on our stack.
    unsafe {
        syscall!(
            Sysno::sched_setscheduler,
            0,
            policy as usize,
            &param as *const i32 as usize
        )
    }
    .map(drop)
}

/// `setpriority(PRIO_PROCESS, 0, nice)`: the calling thread's nice value.
pub fn set_nice(nice: i32) -> Result<()> {
    // SAFETY: setpriority takes no memory.
    unsafe { syscall!(Sysno::setpriority, 0, 0, nice as isize as usize) }.map(drop)
}

pub fn set_no_new_privs() -> Result<()> {
    prctl_int(PR_SET_NO_NEW_PRIVS, 1, 0).map(drop)
}

/// `PR_TIMER_CREATE_RESTORE_IDS`: while on, `timer_create` takes the id
/// passed in as the one to create.
pub fn timer_create_restore_ids(on: bool) -> Result<()> {
    prctl_int(PR_TIMER_CREATE_RESTORE_IDS, on as usize, 0).map(drop)
}

/// # Safety
/// `act` must point to a kernel `struct sigaction` (x86_64 layout).
pub unsafe fn rt_sigaction(sig: u32, act: *const u8) -> Result<()> {
    // SAFETY: forwarded to the caller; the old action is not asked for.
    unsafe {
        syscall!(
            Sysno::rt_sigaction,
            sig as usize,
            act as usize,
            0usize,
            8usize
        )
    }
    .map(drop)
}

/// # Safety
/// `value` must point to a `struct itimerval`.
pub unsafe fn setitimer(which: u32, value: *const u64) -> Result<()> {
    // SAFETY: forwarded to the caller.
    unsafe { syscall!(Sysno::setitimer, which as usize, value as usize, 0usize) }.map(drop)
}

/// # Safety
/// `limit` must point to two `u64`s (`struct rlimit64`).
pub unsafe fn prlimit64(resource: u32, limit: *const u64) -> Result<()> {
    // SAFETY: forwarded to the caller.
    unsafe {
        syscall!(
            Sysno::prlimit64,
            0usize,
            resource as usize,
            limit as usize,
            0usize
        )
    }
    .map(drop)
}

/// # Safety
/// `info` must point to 128 bytes of `siginfo_t`.
pub unsafe fn rt_sigqueueinfo(tgid: u32, sig: u32, info: *const u8) -> Result<()> {
    // SAFETY: forwarded to the caller.
    unsafe {
        syscall!(
            Sysno::rt_sigqueueinfo,
            tgid as usize,
            sig as usize,
            info as usize
        )
    }
    .map(drop)
}

/// # Safety
/// `info` must point to 128 bytes of `siginfo_t`.
pub unsafe fn rt_tgsigqueueinfo(tgid: u32, tid: u32, sig: u32, info: *const u8) -> Result<()> {
    // SAFETY: forwarded to the caller.
    unsafe {
        syscall!(
            Sysno::rt_tgsigqueueinfo,
            tgid as usize,
            tid as usize,
            sig as usize,
            info as usize
        )
    }
    .map(drop)
}

/// # Safety
/// The kernel will walk the list at `head` when the thread exits.
pub unsafe fn set_robust_list(head: u64, len: u64) -> Result<()> {
    // SAFETY: forwarded to the caller.
    unsafe { syscall!(Sysno::set_robust_list, head as usize, len as usize) }.map(drop)
}

/// # Safety
/// The kernel will write 0 to `addr` and wake it when the thread exits.
pub unsafe fn set_tid_address(addr: u64) {
    // SAFETY: forwarded to the caller; set_tid_address cannot fail.
    let _ = unsafe { syscall!(Sysno::set_tid_address, addr as usize) };
}

/// # Safety
/// The kernel writes to the rseq area at `ptr` on every return to user.
pub unsafe fn rseq_register(ptr: u64, len: u32, sig: u32) -> Result<()> {
    // SAFETY: forwarded to the caller.
    unsafe {
        syscall!(
            Sysno::rseq,
            ptr as usize,
            len as usize,
            0usize,
            sig as usize
        )
    }
    .map(drop)
}

pub fn close(fd: u32) -> Result<()> {
    // SAFETY: closing a descriptor touches no memory.
    unsafe { syscall!(Sysno::close, fd as usize) }.map(drop)
}

/// # Safety
/// `word` must point to a `u32` in memory shared with the waiter.
pub unsafe fn futex_wake(word: *const u32) {
    // SAFETY: forwarded to the caller; a failed wake leaves the waiter to
    // its timeout, so the result is not needed.
    let _ = unsafe { syscall!(Sysno::futex, word as usize, FUTEX_WAKE, 1usize) };
}

/// Wakes every waiter on `word`.
///
/// # Safety
/// `word` must point to a `u32` in memory shared with the waiters.
pub unsafe fn futex_wake_all(word: *const u32) {
    // SAFETY: as in futex_wake.
    let _ = unsafe { syscall!(Sysno::futex, word as usize, FUTEX_WAKE, i32::MAX as usize) };
}

/// # Safety
/// `word` must point to a `u32` in memory shared with the waker.
pub unsafe fn futex_wait(word: *const u32, expected: u32) {
    // SAFETY: forwarded to the caller; no timeout. The result does not
    // matter: the caller re-reads the word.
    let _ = unsafe {
        syscall!(
            Sysno::futex,
            word as usize,
            FUTEX_WAIT,
            expected as usize,
            0usize
        )
    };
}

/// CLOCK_MONOTONIC in nanoseconds (0 if the kernel refused, which it
/// does not for this clock).
pub fn monotonic_ns() -> u64 {
    let mut ts = [0i64; 2];
    // SAFETY: ts is a struct timespec the kernel writes.
    match unsafe { syscall!(Sysno::clock_gettime, 1usize, ts.as_mut_ptr() as usize) } {
        Ok(_) => ts[0] as u64 * 1_000_000_000 + ts[1] as u64,
        Err(_) => 0,
    }
}

pub fn getpid() -> u32 {
    // SAFETY: getpid touches no memory and cannot fail.
    unsafe { syscall!(Sysno::getpid) }.unwrap_or(0) as u32
}

pub fn gettid() -> u32 {
    // SAFETY: gettid touches no memory and cannot fail.
    unsafe { syscall!(Sysno::gettid) }.unwrap_or(0) as u32
}

/// # Safety
/// `groups` must point to `n` `u32`s.
pub unsafe fn setgroups(n: u32, groups: *const u32) -> Result<()> {
    // SAFETY: forwarded to the caller.
    unsafe { syscall!(Sysno::setgroups, n as usize, groups as usize) }.map(drop)
}

pub fn setresuid(r: u32, e: u32, s: u32) -> Result<()> {
    // SAFETY: no memory is passed.
    unsafe { syscall!(Sysno::setresuid, r as usize, e as usize, s as usize) }.map(drop)
}

pub fn setresgid(r: u32, e: u32, s: u32) -> Result<()> {
    // SAFETY: no memory is passed.
    unsafe { syscall!(Sysno::setresgid, r as usize, e as usize, s as usize) }.map(drop)
}

pub fn setfsuid(id: u32) {
    // SAFETY: no memory is passed; setfsuid reports nothing useful.
    let _ = unsafe { syscall!(Sysno::setfsuid, id as usize) };
}

pub fn setfsgid(id: u32) {
    // SAFETY: no memory is passed; setfsgid reports nothing useful.
    let _ = unsafe { syscall!(Sysno::setfsgid, id as usize) };
}

/// # Safety
/// `header` points to a `cap_user_header_t`, `data` to two `cap_user_data_t`.
pub unsafe fn capset(header: *const u32, data: *const u32) -> Result<()> {
    // SAFETY: forwarded to the caller.
    unsafe { syscall!(Sysno::capset, header as usize, data as usize) }.map(drop)
}

/// # Safety
/// `sev` points to a 64-byte `struct sigevent`; `id` to the wanted id (with
/// PR_TIMER_CREATE_RESTORE_IDS on), overwritten with the id created.
pub unsafe fn timer_create(clock: u32, sev: *const u64, id: *mut i32) -> Result<()> {
    // SAFETY: forwarded to the caller.
    unsafe {
        syscall!(
            Sysno::timer_create,
            clock as usize,
            sev as usize,
            id as usize
        )
    }
    .map(drop)
}

/// # Safety
/// `spec` points to a `struct itimerspec` (four u64).
pub unsafe fn timer_settime(id: u32, spec: *const u64) -> Result<()> {
    // SAFETY: forwarded to the caller; the old value is not asked for.
    unsafe {
        syscall!(
            Sysno::timer_settime,
            id as usize,
            0usize,
            spec as usize,
            0usize
        )
    }
    .map(drop)
}

/// `PR_SET_SECCOMP` with `SECCOMP_MODE_STRICT`: from now on only read,
/// write, exit and sigreturn.
pub fn seccomp_set_strict() -> Result<()> {
    const PR_SET_SECCOMP: usize = 22;
    const SECCOMP_MODE_STRICT: usize = 1;
    prctl_int(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0).map(drop)
}

/// # Safety
/// `prog` points to a `struct sock_fprog` whose filter array is readable.
pub unsafe fn seccomp_set_filter(flags: u32, prog: *const u64) -> Result<()> {
    const SECCOMP_SET_MODE_FILTER: usize = 1;
    // SAFETY: forwarded to the caller.
    unsafe {
        syscall!(
            Sysno::seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags as usize,
            prog as usize
        )
    }
    .map(drop)
}
