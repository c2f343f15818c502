//! Looking into another process: ptrace requests, process_vm_readv,
//! kcmp, pidfd_getfd, prlimit and the robust list of a tracee.

use std::io;
use std::os::fd::RawFd;

use super::{check, check_int, close};

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

/// Lets a seized task in a group stop stay stopped but report again
/// (PTRACE_LISTEN).
pub fn ptrace_listen(pid: i32) -> io::Result<()> {
    // SAFETY: PTRACE_LISTEN takes no memory.
    check(unsafe { libc::ptrace(libc::PTRACE_LISTEN, pid, 0, 0) }).map(drop)
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

/// `PTRACE_SETSIGMASK`: sets the tracee's blocked signals.
pub fn ptrace_setsigmask(pid: i32, mask: u64) -> io::Result<()> {
    // SAFETY: the kernel reads 8 bytes from mask.
    check(unsafe { libc::ptrace(0x420b, pid, 8u64, &mask as *const u64) }).map(drop)
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

/// Writes `data` into the tracee's memory at `at`; the count written.
pub fn process_vm_writev(pid: i32, data: &[u8], at: u64) -> io::Result<usize> {
    let liov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    let riov = libc::iovec {
        iov_base: at as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: liov covers `data`, only read; the remote range is the other
    // process's, written by the kernel.
    let r = unsafe { libc::process_vm_writev(pid, &liov, 1, &riov, 1, 0) };
    check(r as libc::c_long).map(|n| n as usize)
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
/// The siginfo of the signal `pid` is stopped for (signal-delivery-stop).
pub fn ptrace_getsiginfo(pid: i32) -> io::Result<[u8; 128]> {
    let mut info = [0u8; 128];
    // SAFETY: PTRACE_GETSIGINFO writes one 128-byte siginfo_t into info.
    check(unsafe { libc::ptrace(libc::PTRACE_GETSIGINFO, pid, 0, info.as_mut_ptr()) })?;
    Ok(info)
}

/// rt_tgsigqueueinfo: queues signal `sig` with `info` for thread `tid` of
/// `tgid` (the kernel takes a negative si_code from another process but
/// SI_TKILL's).
pub fn tgsigqueueinfo(tgid: i32, tid: i32, sig: i32, info: &[u8; 128]) -> io::Result<()> {
    // SAFETY: info is one 128-byte siginfo_t, only read.
    check(unsafe { libc::syscall(libc::SYS_rt_tgsigqueueinfo, tgid, tid, sig, info.as_ptr()) })
        .map(drop)
}

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

pub const KCMP_VM: i32 = 1;
pub const KCMP_FILES: i32 = 2;
pub const KCMP_FS: i32 = 3;
pub const KCMP_SIGHAND: i32 = 4;

/// Whether processes `a` and `b` share the kernel object of kind `kind`
/// (KCMP_VM, KCMP_FILES, KCMP_FS, KCMP_SIGHAND).
pub fn kcmp_same(a: i32, b: i32, kind: i32) -> bool {
    // SAFETY: kcmp takes no memory for these kinds.
    unsafe { libc::syscall(libc::SYS_kcmp, a, b, kind, 0, 0) == 0 }
}

/// Whether descriptor `fd` of `pid` is the file that the `nth` watch with
/// number `tfd` of epoll `efd` (of `pid` too) watches (KCMP_EPOLL_TFD).
pub fn same_epoll_target(pid: i32, fd: i32, efd: i32, tfd: u32, nth: u32) -> bool {
    const KCMP_EPOLL_TFD: i32 = 7;
    let slot: [u32; 3] = [efd as u32, tfd, nth];
    // SAFETY: slot is a struct kcmp_epoll_slot, only read by the kernel.
    unsafe { libc::syscall(libc::SYS_kcmp, pid, pid, KCMP_EPOLL_TFD, fd, slot.as_ptr()) == 0 }
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
