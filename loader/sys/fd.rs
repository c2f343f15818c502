//! Descriptors: opening, duplicating, pipes, terminals, eventfd,
//! signalfd, timerfd, epoll, writeback.

use std::ffi::CStr;
use std::io;
use std::os::fd::RawFd;

use super::{check, check_int};

/// `open(2)` returning a raw descriptor the caller arranges itself.
pub fn open(path: &CStr, flags: i32, mode: u32) -> io::Result<RawFd> {
    // SAFETY: path is NUL terminated.
    check_int(unsafe { libc::open(path.as_ptr(), flags, mode) })
}

/// `open(2)` into an owned descriptor.
pub fn open_owned(path: &CStr, flags: i32) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let fd = open(path, flags | libc::O_CLOEXEC, 0)?;
    // SAFETY: the kernel just gave us this descriptor.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
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

/// Closes every descriptor but those in `keep`, and points 0, 1 and 2
/// at /dev/null (for a helper that outlives the command that started
/// it: it must hold none of the caller's pipes or the tree's files).
pub fn close_all_but(keep: &[RawFd]) -> io::Result<()> {
    let mut fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    for fd in fds {
        if !keep.contains(&fd) {
            close(fd);
        }
    }
    let null = open(c"/dev/null", libc::O_RDWR | libc::O_CLOEXEC, 0)?;
    for fd in 0..3 {
        if !keep.contains(&fd) && fd != null {
            dup2(null, fd)?;
        }
    }
    if null > 2 {
        close(null);
    }
    Ok(())
}

pub fn isatty(fd: RawFd) -> bool {
    // SAFETY: isatty takes no memory.
    unsafe { libc::isatty(fd) == 1 }
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

/// `fcntl(F_SETFL)` of the current status flags and `flags`.
pub fn add_status_flags(fd: RawFd, flags: i32) -> io::Result<()> {
    // SAFETY: F_GETFL takes no argument.
    let now = check_int(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    set_status_flags(fd, now | flags)
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

/// `epoll_create1(EPOLL_CLOEXEC)` into an owned descriptor.
pub fn epoll_create_owned() -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: epoll_create1 takes no memory.
    let fd = check_int(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
    // SAFETY: the kernel just gave us this descriptor.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// `epoll_ctl(ADD)` of `fd` with the dumped event mask and data.
pub fn epoll_add(epfd: RawFd, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: data };
    // SAFETY: ev is a complete epoll_event the kernel only reads.
    check_int(unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) }).map(drop)
}

const F_SETSIG: i32 = 10;
const F_GETSIG: i32 = 11;
const F_SETOWN_EX: i32 = 15;
const F_GETOWN_EX: i32 = 16;
const F_GETOWNER_UIDS: i32 = 17;

/// The owner of open file `fd` (F_GETOWN_EX: type and pid, in our pid
/// namespace), the uid and euid it was set with, and its F_GETSIG signal.
pub fn owner(fd: RawFd) -> io::Result<(u32, i32, [u32; 2], u32)> {
    let mut ex = [0i32; 2];
    // SAFETY: ex is a struct f_owner_ex (int type, pid_t pid).
    check_int(unsafe { libc::fcntl(fd, F_GETOWN_EX, ex.as_mut_ptr()) })?;
    let mut uids = [0u32; 2];
    if ex[1] != 0 {
        // SAFETY: F_GETOWNER_UIDS writes two uid_t.
        check_int(unsafe { libc::fcntl(fd, F_GETOWNER_UIDS, uids.as_mut_ptr()) })?;
    }
    // SAFETY: F_GETSIG takes no memory.
    let sig = check_int(unsafe { libc::fcntl(fd, F_GETSIG) })?;
    Ok((ex[0] as u32, ex[1], uids, sig as u32))
}

/// F_SETSIG on `fd`.
pub fn set_owner_signal(fd: RawFd, sig: u32) -> io::Result<()> {
    // SAFETY: F_SETSIG takes no memory.
    check_int(unsafe { libc::fcntl(fd, F_SETSIG, sig as libc::c_int) }).map(drop)
}

/// F_SETOWN_EX on `fd`: owner `pid` of kind `kind` (F_OWNER_TID, _PID,
/// _PGRP), in our pid namespace.
pub fn set_owner(fd: RawFd, kind: u32, pid: i32) -> io::Result<()> {
    let ex = [kind as i32, pid];
    // SAFETY: ex is a struct f_owner_ex.
    check_int(unsafe { libc::fcntl(fd, F_SETOWN_EX, ex.as_ptr()) }).map(drop)
}

/// setresuid of the calling thread only (the raw call, not libc's, which
/// changes every thread): -1 leaves an id as it is.
pub fn setresuid_thread(r: u32, e: u32, s: u32) -> io::Result<()> {
    // SAFETY: setresuid takes no memory.
    check(unsafe { libc::syscall(libc::SYS_setresuid, r, e, s) }).map(drop)
}

/// pidfd_open(pid, flags): a pidfd of `pid` in our pid namespace.
pub fn pidfd_open(pid: i32, flags: i32) -> io::Result<RawFd> {
    // SAFETY: pidfd_open takes no memory.
    check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, flags) }).map(|fd| fd as RawFd)
}

/// Whether descriptor `fd` is open (F_GETFD).
pub fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD takes no memory.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}
