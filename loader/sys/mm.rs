//! Memory: mappings, raw reads and writes of memory Rust does not track,
//! futexes. Everything that can replace, unmap or write memory is an
//! `unsafe fn`: its caller proves the range is its own.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::AtomicU32;

use super::{check, check_int, close};

fn raw_mmap(addr: u64, len: u64, prot: i32, flags: i32, fd: RawFd, off: u64) -> io::Result<u64> {
    // SAFETY: forwarded: both callers below state when a mapping may be
    // placed over existing memory.
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

/// A new mapping where nothing is mapped: at an address the kernel picks
/// (`addr` 0 or a hint) or, with `MAP_FIXED_NOREPLACE`, exactly at `addr`
/// if that range is free. `MAP_FIXED` is refused (EINVAL): replacing
/// memory is [`mmap_fixed`]'s.
pub fn mmap(addr: u64, len: u64, prot: i32, flags: i32, fd: RawFd, off: u64) -> io::Result<u64> {
    if flags & libc::MAP_FIXED != 0
        && flags & libc::MAP_FIXED_NOREPLACE != libc::MAP_FIXED_NOREPLACE
    {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    raw_mmap(addr, len, prot, flags, fd, off)
}

/// A mapping at exactly `addr` (`MAP_FIXED` is added), replacing whatever
/// was mapped in `[addr, addr + len)`.
///
/// # Safety
/// Nothing in the range may be memory that Rust code still uses: the
/// caller reserved it itself (e.g. `restore::hole::Reservation`).
pub unsafe fn mmap_fixed(
    addr: u64,
    len: u64,
    prot: i32,
    flags: i32,
    fd: RawFd,
    off: u64,
) -> io::Result<u64> {
    raw_mmap(addr, len, prot, flags | libc::MAP_FIXED, fd, off)
}

/// Unmaps `[addr, addr + len)`.
///
/// # Safety
/// No memory in the range may be used afterwards: the caller mapped it
/// and holds no reference into it.
pub unsafe fn munmap(addr: u64, len: u64) -> io::Result<()> {
    // SAFETY: forwarded to the caller.
    check_int(unsafe { libc::munmap(addr as *mut libc::c_void, len as usize) }).map(drop)
}

/// Moves the mapping `[from, from + len)` to `to`, replacing whatever is
/// mapped there (`MREMAP_MAYMOVE | MREMAP_FIXED`).
///
/// # Safety
/// Both ranges are the caller's own: nothing refers to the old range
/// afterwards, and nothing of value lives in the new one.
pub unsafe fn mremap_fixed(from: u64, len: u64, to: u64) -> io::Result<()> {
    // SAFETY: forwarded to the caller.
    let r = unsafe {
        libc::mremap(
            from as *mut libc::c_void,
            len as usize,
            len as usize,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            to as *mut libc::c_void,
        )
    };
    if r == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Changes the protection of `[addr, addr + len)`.
///
/// # Safety
/// The range is the caller's own mapping, and no Rust reference into it is
/// used in a way the new protection forbids.
pub unsafe fn mprotect(addr: u64, len: u64, prot: i32) -> io::Result<()> {
    // SAFETY: forwarded to the caller.
    check_int(unsafe { libc::mprotect(addr as *mut libc::c_void, len as usize, prot) }).map(drop)
}

/// `madvise` on `[addr, addr + len)`.
///
/// # Safety
/// The range is the caller's own mapping; advice that drops contents
/// (`MADV_DONTNEED`, `MADV_FREE`, ...) is only given where they are not
/// needed.
pub unsafe fn madvise(addr: u64, len: u64, advice: i32) -> io::Result<()> {
    // SAFETY: forwarded to the caller.
    check_int(unsafe { libc::madvise(addr as *mut libc::c_void, len as usize, advice) }).map(drop)
}

/// Reads file data straight into memory: `iov` are (address, length).
///
/// # Safety
/// Every range lies in a writable mapping of the caller's that no Rust
/// reference aliases.
pub unsafe fn preadv(fd: RawFd, iov: &[(u64, u64)], off: u64) -> io::Result<usize> {
    let vecs: Vec<libc::iovec> = iov
        .iter()
        .map(|&(base, len)| libc::iovec {
            iov_base: base as *mut libc::c_void,
            iov_len: len as usize,
        })
        .collect();
    // SAFETY: forwarded to the caller; vecs lives across the call.
    let r = unsafe { libc::preadv(fd, vecs.as_ptr(), vecs.len() as i32, off as libc::off_t) };
    check(r as libc::c_long).map(|n| n as usize)
}

/// Copies `bytes` to `addr`.
///
/// # Safety
/// `[addr, addr + bytes.len())` lies in a writable mapping of the caller's
/// that no Rust reference aliases.
pub unsafe fn write_mem(addr: u64, bytes: &[u8]) {
    // SAFETY: forwarded to the caller.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, bytes.len()) }
}

/// Whether the `bytes.len()` bytes at `addr` equal `bytes`.
///
/// # Safety
/// `[addr, addr + bytes.len())` is mapped readable.
pub unsafe fn same_mem(addr: u64, bytes: &[u8]) -> bool {
    // SAFETY: forwarded to the caller.
    unsafe { std::slice::from_raw_parts(addr as *const u8, bytes.len()) == bytes }
}

/// Copies `len` bytes from `addr`.
///
/// # Safety
/// `[addr, addr + len)` is readable memory of this process that nothing
/// writes concurrently except through atomics.
pub unsafe fn read_mem(addr: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    // SAFETY: forwarded to the caller; v has len bytes.
    unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, v.as_mut_ptr(), len) };
    v
}

/// The text of this process's own vdso, at `start` for `len` bytes as
/// /proc/self/maps showed it at start-up; `None` unless that is where
/// the kernel put it (`AT_SYSINFO_EHDR`).
pub fn own_vdso(start: u64, len: u64) -> Option<Vec<u8>> {
    if start == 0 || start != super::getauxval(libc::AT_SYSINFO_EHDR) {
        return None;
    }
    // SAFETY: the kernel maps the vdso readable at AT_SYSINFO_EHDR for the
    // life of the process, [start, start + len) as /proc/self/maps showed
    // it, and nothing of the loader unmaps it.
    Some(unsafe { read_mem(start, len as usize) })
}

/// Calls `f` with the address of a fresh private anonymous page that has
/// been read once (so the shared zero page backs it), then unmaps it.
pub fn with_zero_page<R>(f: impl FnOnce(u64) -> R) -> io::Result<R> {
    const PAGE: u64 = 4096;
    let page = mmap(
        0,
        PAGE,
        libc::PROT_READ,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        -1,
        0,
    )?;
    // SAFETY: the page was just mapped readable, by us, and is only read.
    unsafe { std::ptr::read_volatile(page as *const u8) };
    let r = f(page);
    // SAFETY: the page is ours and nothing refers to it any more.
    unsafe { munmap(page, PAGE) }?;
    Ok(r)
}

/// `FUTEX_WAIT` on `word` until it differs from `expected` or
/// `timeout_ns` passes. Spurious wakeups are fine: callers re-check.
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout_ns: u64) {
    let ts = libc::timespec {
        tv_sec: (timeout_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (timeout_ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: word is a live aligned u32 (a reference) and ts outlives the
    // call; the kernel only reads both.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
        )
    };
}

/// Wakes one waiter on `word`.
pub fn futex_wake(word: &AtomicU32) {
    // SAFETY: word is a live aligned u32; FUTEX_WAKE does not access it.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1) };
}

/// Wakes every waiter on `word`.
pub fn futex_wake_all(word: &AtomicU32) {
    // SAFETY: as in futex_wake.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX) };
}

/// An anonymous memory file of `size` bytes (memfd_create + ftruncate),
/// named `name` (CRIU names its shmem objects ""), sealable if `sealing`.
pub fn memfd(name: &std::ffi::CStr, size: u64, sealing: bool) -> io::Result<RawFd> {
    let flags = libc::MFD_CLOEXEC | if sealing { libc::MFD_ALLOW_SEALING } else { 0 };
    // SAFETY: name is a NUL-terminated string that outlives the call.
    let fd = check_int(unsafe { libc::memfd_create(name.as_ptr(), flags) })?;
    // SAFETY: ftruncate takes no memory.
    if let Err(e) = check_int(unsafe { libc::ftruncate(fd, size as libc::off_t) }) {
        close(fd);
        return Err(e);
    }
    Ok(fd)
}

/// `fcntl(F_ADD_SEALS)`.
pub fn add_seals(fd: RawFd, seals: u32) -> io::Result<()> {
    // SAFETY: F_ADD_SEALS takes an integer.
    check_int(unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, seals as libc::c_int) }).map(drop)
}

/// `fchmod` and `fchown` of an object the loader made.
pub fn set_owner_mode(fd: RawFd, uid: u32, gid: u32, mode: u32) -> io::Result<()> {
    // SAFETY: both take integers only.
    check_int(unsafe { libc::fchown(fd, uid, gid) })?;
    // SAFETY: as above.
    check_int(unsafe { libc::fchmod(fd, (mode & 0o7777) as libc::mode_t) }).map(drop)
}

/// The MADV_GUARD_INSTALL regions below `end` of the task whose
/// /proc/PID/pagemap is `pagemap` (PAGEMAP_SCAN, PAGE_IS_GUARD), as
/// [start, end) ranges.
pub fn pagemap_scan_guards(pagemap: RawFd, end: u64) -> io::Result<Vec<(u64, u64)>> {
    const PAGEMAP_SCAN: u64 = 0xc060_6610;
    const PAGE_IS_GUARD: u64 = 1 << 8;
    let mut regions = vec![[0u64; 3]; 256];
    let mut out = Vec::new();
    let mut start = 0u64;
    while start < end {
        // struct pm_scan_arg: size, flags, start, end, walk_end, vec,
        // vec_len, max_pages, category_inverted, category_mask,
        // category_anyof_mask, return_mask.
        let mut arg: [u64; 12] = [
            96,
            0,
            start,
            end,
            0,
            regions.as_mut_ptr() as u64,
            regions.len() as u64,
            0,
            0,
            PAGE_IS_GUARD,
            0,
            PAGE_IS_GUARD,
        ];
        // SAFETY: arg is a struct pm_scan_arg; the kernel writes at most
        // vec_len page_region records (three u64 each) into regions, and
        // walk_end into arg.
        let n = check_int(unsafe { libc::ioctl(pagemap, PAGEMAP_SCAN as _, arg.as_mut_ptr()) })?;
        out.extend(regions[..n as usize].iter().map(|r| (r[0], r[1])));
        if arg[4] <= start {
            break;
        }
        start = arg[4];
    }
    Ok(out)
}
