//! userfaultfd: one descriptor per address space, through which a
//! restored task's missing pages are handed to whoever holds it
//! (`restore::lazy`). Only the calls and events crest uses.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::{check, check_int};

const UFFD_API: u64 = 0xAA;
const UFFDIO_API: u64 = 0xC018_AA3F;
const UFFDIO_REGISTER: u64 = 0xC020_AA00;
const UFFDIO_WAKE: u64 = 0x8010_AA02;
const UFFDIO_COPY: u64 = 0xC028_AA03;
const UFFDIO_ZEROPAGE: u64 = 0xC020_AA04;
const UFFDIO_REGISTER_MODE_MISSING: u64 = 1;

/// Events beyond page faults: the monitor hears of forks (with a new
/// descriptor for the child), mremaps, MADV_DONTNEED/REMOVE and munmaps
/// of registered memory, so that it never serves a page to the wrong
/// place or twice.
pub const FEATURE_EVENT_FORK: u64 = 1 << 1;
pub const FEATURE_EVENT_REMAP: u64 = 1 << 2;
pub const FEATURE_EVENT_REMOVE: u64 = 1 << 3;
pub const FEATURE_EVENT_UNMAP: u64 = 1 << 6;

/// What the kernel tells the holder of a userfaultfd.
#[derive(Debug)]
pub enum Event {
    /// A thread touched missing page `addr` and sleeps until it is there.
    Fault {
        addr: u64,
    },
    /// The task forked: the child's address space has its own descriptor.
    Fork {
        uffd: OwnedFd,
    },
    /// `[from, from + len)` moved to `to`.
    Remap {
        from: u64,
        to: u64,
        len: u64,
    },
    /// `[start, end)` was emptied (MADV_DONTNEED, MADV_REMOVE): zeroes now.
    Remove {
        start: u64,
        end: u64,
    },
    /// `[start, end)` was unmapped.
    Unmap {
        start: u64,
        end: u64,
    },
    Other(u8),
}

/// A userfaultfd of the calling process's address space (close-on-exec,
/// non-blocking) that reports `features`; an error if the kernel lacks
/// any of them.
pub fn create(features: u64) -> io::Result<OwnedFd> {
    // SAFETY: userfaultfd takes no memory and returns a new descriptor.
    let fd =
        check(unsafe { libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC | libc::O_NONBLOCK) })?
            as RawFd;
    // SAFETY: the kernel just gave us this descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // struct uffdio_api: api, features (in: wanted; out: all supported),
    // ioctls (out).
    let mut api = [UFFD_API, features, 0];
    // SAFETY: UFFDIO_API reads and writes one struct uffdio_api (api).
    check_int(unsafe { libc::ioctl(fd.as_raw_fd(), UFFDIO_API as _, api.as_mut_ptr()) })?;
    if api[1] & features != features {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok(fd)
}

/// Whether the kernel lets us make a userfaultfd with `features`.
pub fn available(features: u64) -> bool {
    create(features).is_ok()
}

/// Registers `[start, start + len)` of the descriptor's address space for
/// missing-page faults.
///
/// # Safety
/// From now on every missing page touched there waits for a holder of
/// `uffd` to supply it: if that is the caller's own address space, nothing
/// it runs may touch the range unless another process serves it.
pub unsafe fn register(uffd: RawFd, start: u64, len: u64) -> io::Result<()> {
    // struct uffdio_register: range (start, len), mode, ioctls (out).
    let mut reg = [start, len, UFFDIO_REGISTER_MODE_MISSING, 0];
    // SAFETY: UFFDIO_REGISTER reads and writes one struct uffdio_register;
    // the caller vouches for the effect on the range.
    check_int(unsafe { libc::ioctl(uffd, UFFDIO_REGISTER as _, reg.as_mut_ptr()) }).map(drop)
}

/// Copies `len` bytes at `src` of our memory into missing pages at `dst`
/// of the descriptor's address space, and wakes whoever waits on them.
/// Returns how many bytes were copied before an error (then with it).
///
/// # Safety
/// `[src, src + len)` must be readable memory of ours; `[dst, dst + len)`
/// must be registered with `uffd` in another address space, or in ours
/// where nothing the caller still uses lives.
pub unsafe fn copy(uffd: RawFd, dst: u64, src: u64, len: u64) -> (u64, Option<io::Error>) {
    // struct uffdio_copy: dst, src, len, mode, copy (out: bytes or -errno).
    let mut c = [dst, src, len, 0, 0];
    // SAFETY: UFFDIO_COPY reads and writes one struct uffdio_copy; the
    // caller vouches for both ranges.
    let r = unsafe { libc::ioctl(uffd, UFFDIO_COPY as _, c.as_mut_ptr()) };
    let done = (c[4] as i64).max(0) as u64;
    if r < 0 {
        (done, Some(io::Error::last_os_error()))
    } else {
        (done, None)
    }
}

/// Maps the zero page into missing pages `[dst, dst + len)` of the
/// descriptor's address space and wakes whoever waits on them.
pub fn zeropage(uffd: RawFd, dst: u64, len: u64) -> io::Result<()> {
    // struct uffdio_zeropage: range, mode, zeropage (out).
    let mut z = [dst, len, 0, 0];
    // SAFETY: UFFDIO_ZEROPAGE reads and writes one struct uffdio_zeropage;
    // it fills only missing pages, so nothing present changes.
    check_int(unsafe { libc::ioctl(uffd, UFFDIO_ZEROPAGE as _, z.as_mut_ptr()) }).map(drop)
}

/// Wakes threads waiting on `[start, start + len)` (whose pages arrived
/// some other way).
pub fn wake(uffd: RawFd, start: u64, len: u64) -> io::Result<()> {
    let mut range = [start, len];
    // SAFETY: UFFDIO_WAKE reads one struct uffdio_range.
    check_int(unsafe { libc::ioctl(uffd, UFFDIO_WAKE as _, range.as_mut_ptr()) }).map(drop)
}

/// The next event of `uffd`, or None when there is none now.
pub fn read_event(uffd: RawFd) -> io::Result<Option<Event>> {
    // struct uffd_msg: event (u8), 7 reserved bytes, a 24-byte union.
    let mut m = [0u64; 4];
    // SAFETY: m is 32 writable bytes, one struct uffd_msg.
    let n = unsafe { libc::read(uffd, m.as_mut_ptr().cast(), 32) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EAGAIN) => Ok(None),
            _ => Err(e),
        };
    }
    if n != 32 {
        return Err(io::Error::from_raw_os_error(libc::EIO));
    }
    Ok(Some(match m[0] as u8 {
        // pagefault: flags, address, ptid.
        0x12 => Event::Fault { addr: m[2] },
        // fork: ufd (u32), a descriptor the read installed in our table.
        0x13 => Event::Fork {
            // SAFETY: the kernel installed this descriptor for us.
            uffd: unsafe { OwnedFd::from_raw_fd(m[1] as u32 as RawFd) },
        },
        0x14 => Event::Remap {
            from: m[1],
            to: m[2],
            len: m[3],
        },
        0x15 => Event::Remove {
            start: m[1],
            end: m[2],
        },
        0x16 => Event::Unmap {
            start: m[1],
            end: m[2],
        },
        other => Event::Other(other),
    }))
}

/// Waits up to `timeout_ms` (-1: forever) until one of `fds` can be
/// read or hung up; returns which.
pub fn poll(fds: &[RawFd], timeout_ms: i32) -> io::Result<Vec<bool>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: p is a live array of p.len() pollfds.
    let r = unsafe { libc::poll(p.as_mut_ptr(), p.len() as _, timeout_ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINTR) {
            return Ok(vec![false; fds.len()]);
        }
        return Err(e);
    }
    Ok(p.iter().map(|p| p.revents != 0).collect())
}
