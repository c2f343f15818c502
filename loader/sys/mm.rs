//! Memory: mappings, raw reads and writes of memory Rust does not track,
//! futexes. Everything that can replace, unmap or write memory is an
//! `unsafe fn`: its caller proves the range is its own.

use std::io;
use std::os::fd::RawFd;

use super::{check, check_int, close};

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
