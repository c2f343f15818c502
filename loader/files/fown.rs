//! File owners: the process (or thread, or group) an open file sends
//! SIGIO/SIGURG to (F_SETOWN_EX), the signal it sends (F_SETSIG), and the
//! uid and euid the owner was set with, which the kernel checks before
//! it signals. CRIU keeps them in each file kind's `fown` entry.

use std::os::fd::AsRawFd;

use crate::dump::DumpError;
use crate::images::schema::{FileEntry, FownEntry};
use crate::proc;
use crate::sys;

/// Returns the `fown` of the first kind present in `$e` (through `$conv`,
/// `as_ref` or `as_mut`, borrowed as `$amp`, `[&]` or `[&mut]`).
macro_rules! first_fown {
    (borrow [$($a:tt)+] $x:expr) => {
        $($a)+ $x
    };
    (@ $e:expr, $conv:ident, $amp:tt, $($kind:ident),*) => {{
        $(
            if let Some(x) = $e.$kind.$conv() {
                return Some(first_fown!(borrow $amp x.fown));
            }
        )*
        None
    }};
    ($e:expr, $conv:ident, $amp:tt) => {{
        first_fown!(@ $e, $conv, $amp,
            reg, pipe, efd, sgfd, tfd, epfd, usk, isk, nlsk, psk, tty, memfd, ify, ffy, ext)
    }};
}

/// The `fown` entry of a files.img entry, whatever its kind (a FIFO's
/// lives in the regular entry of its path).
pub(crate) fn of(e: &FileEntry) -> Option<&FownEntry> {
    first_fown!(e, as_ref, [&])
}

fn slot(e: &mut FileEntry) -> Option<&mut FownEntry> {
    first_fown!(e, as_mut, [&mut])
}

/// Whether the open file was in O_ASYNC mode (signalling its owner on
/// I/O), which open(2) ignores: it is set with F_SETFL afterwards.
pub(crate) fn async_io(e: &FileEntry) -> bool {
    let flags = None
        .or(e.reg.as_ref().map(|x| x.flags))
        .or(e.pipe.as_ref().map(|x| x.flags))
        .or(e.usk.as_ref().map(|x| x.flags))
        .or(e.isk.as_ref().map(|x| x.flags))
        .or(e.nlsk.as_ref().map(|x| x.flags))
        .or(e.psk.as_ref().map(|x| x.flags))
        .or(e.tty.as_ref().map(|x| x.flags))
        .or(e.efd.as_ref().map(|x| x.flags))
        .or(e.sgfd.as_ref().map(|x| x.flags))
        .or(e.tfd.as_ref().map(|x| x.flags))
        .or(e.ify.as_ref().map(|x| x.flags))
        .or(e.ffy.as_ref().map(|x| x.flags))
        .unwrap_or(0);
    flags & libc::O_ASYNC as u32 != 0
}

/// Records the owner and signal of `pid`'s descriptor `fd` in `entry`,
/// the owner numbered as in its own pid namespace.
pub(crate) fn dump(pid: i32, fd: i32, entry: &mut FileEntry) -> Result<(), DumpError> {
    let file = sys::steal_fd(pid, fd)
        .map_err(|e| DumpError::sys(pid, format!("fd {fd}: pidfd_getfd"), e))?;
    let (kind, owner, [uid, euid], signum) = match sys::owner(file.as_raw_fd()) {
        Ok(o) => o,
        // An O_PATH descriptor has no owner to ask about.
        Err(e) if e.raw_os_error() == Some(libc::EBADF) => return Ok(()),
        Err(e) => {
            return Err(DumpError::sys(
                pid,
                format!("fd {fd}: its owner (F_GETOWN_EX)"),
                e,
            ))
        }
    };
    if owner == 0 && signum == 0 {
        return Ok(());
    }
    // A process group owner is negative in F_GETOWN only; F_GETOWN_EX
    // gives its number with the kind.
    let owner = match owner {
        0 => 0,
        n => proc::ns_pids(n, n)
            .ok()
            .and_then(|v| v.last().copied())
            .unwrap_or(n as u32),
    };
    if let Some(f) = slot(entry) {
        *f = FownEntry {
            uid,
            euid,
            signum,
            pid_type: kind,
            pid: owner,
        };
    }
    Ok(())
}

/// Gives `fd` its dumped owner and signal. The owner is set with the
/// dumped uid and euid (the kernel records the caller's), then ours come
/// back, and with them the dumpable flag their change cleared.
pub(crate) fn restore(fd: i32, f: &FownEntry) -> Result<(), String> {
    if f.signum != 0 {
        sys::set_owner_signal(fd, f.signum).map_err(|e| format!("F_SETSIG {}: {e}", f.signum))?;
    }
    if f.pid == 0 {
        return Ok(());
    }
    let (uid, euid) = (sys::getuid(), sys::geteuid());
    let switch = (f.uid, f.euid) != (uid, euid);
    if switch {
        sys::setresuid_thread(f.uid, f.euid, u32::MAX)
            .map_err(|e| format!("owner's uids {}/{}: {e}", f.uid, f.euid))?;
    }
    let set = sys::set_owner(fd, f.pid_type, f.pid as i32)
        .map_err(|e| format!("F_SETOWN_EX {} (kind {}): {e}", f.pid, f.pid_type));
    if switch {
        sys::setresuid_thread(uid, euid, u32::MAX).map_err(|e| format!("uids back: {e}"))?;
        let _ = sys::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0);
    }
    set
}
