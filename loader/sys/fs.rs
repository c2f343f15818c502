//! Files by path and by offset: holes and data, positioned reads and
//! writes, nodes, owners, modes and times (ghost files), file handles,
//! inotify and fanotify.

use std::ffi::CStr;
use std::io;
use std::os::fd::RawFd;

use super::{check, check_int};

/// The next data range of `fd` at or after `at`, below `size`: (start,
/// end), or None when only a hole is left. A file system without
/// SEEK_DATA counts as all data.
pub fn next_data(fd: RawFd, at: u64, size: u64) -> io::Result<Option<(u64, u64)>> {
    // SAFETY: lseek takes no memory.
    let data = unsafe { libc::lseek(fd, at as libc::off_t, libc::SEEK_DATA) };
    if data < 0 {
        return match io::Error::last_os_error().raw_os_error() {
            Some(libc::ENXIO) => Ok(None),
            Some(libc::EINVAL) => Ok(Some((at, size))),
            _ => Err(io::Error::last_os_error()),
        };
    }
    // SAFETY: as above.
    let hole = check(unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) } as libc::c_long)?;
    Ok(Some((data as u64, (hole as u64).min(size))))
}

/// Reads exactly `buf.len()` bytes of `fd` at `off`.
pub fn pread_exact(fd: RawFd, buf: &mut [u8], off: u64) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: rest is writable memory of the length given.
        let n = unsafe {
            libc::pread(
                fd,
                rest.as_mut_ptr().cast(),
                rest.len(),
                (off + done as u64) as libc::off_t,
            )
        };
        match n {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            n if n < 0 => return Err(io::Error::last_os_error()),
            n => done += n as usize,
        }
    }
    Ok(())
}

/// Writes all of `data` to `fd` at `off`.
pub fn pwrite_all(fd: RawFd, data: &[u8], off: u64) -> io::Result<()> {
    let mut done = 0;
    while done < data.len() {
        let rest = &data[done..];
        // SAFETY: rest is readable memory of the length given.
        let n = unsafe {
            libc::pwrite(
                fd,
                rest.as_ptr().cast(),
                rest.len(),
                (off + done as u64) as libc::off_t,
            )
        };
        match n {
            n if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            n if n <= 0 => return Err(io::Error::last_os_error()),
            n => done += n as usize,
        }
    }
    Ok(())
}

pub fn ftruncate(fd: RawFd, size: u64) -> io::Result<()> {
    // SAFETY: ftruncate takes no memory.
    check_int(unsafe { libc::ftruncate(fd, size as libc::off_t) }).map(drop)
}

/// mknod: a FIFO or device node `mode` (kind and permissions).
pub fn mknod(path: &CStr, mode: u32, rdev: libc::dev_t) -> io::Result<()> {
    // SAFETY: path is NUL-terminated.
    check_int(unsafe { libc::mknod(path.as_ptr(), mode, rdev) }).map(drop)
}

/// Owner and permissions of `path` (not followed: a symlink's own owner,
/// and no mode, which symlinks do not have).
pub fn restore_metadata(path: &CStr, uid: u32, gid: u32, mode: u32, link: bool) -> io::Result<()> {
    // SAFETY: path is NUL-terminated.
    check_int(unsafe {
        libc::fchownat(
            libc::AT_FDCWD,
            path.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    if link {
        return Ok(());
    }
    // SAFETY: as above.
    check_int(unsafe { libc::chmod(path.as_ptr(), mode) }).map(drop)
}

/// Access and modification times of `path` (not followed), as (seconds,
/// microseconds).
pub fn set_times(path: &CStr, times: [(u64, u64); 2]) -> io::Result<()> {
    let ts = times.map(|(s, us)| libc::timespec {
        tv_sec: s as libc::time_t,
        tv_nsec: (us * 1000) as libc::c_long,
    });
    // SAFETY: path is NUL-terminated, ts two timespecs.
    check_int(unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            path.as_ptr(),
            ts.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}

/// The file system type (`f_type` of fstatfs) of `fd`.
pub fn fs_type(fd: RawFd) -> io::Result<i64> {
    let mut st = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: st is a statfs the kernel fills.
    check_int(unsafe { libc::fstatfs(fd, st.as_mut_ptr()) })?;
    // SAFETY: filled by the successful call above (and zeroed before).
    Ok(unsafe { st.assume_init() }.f_type)
}

/// A memfd's seals (F_GET_SEALS).
pub fn seals(fd: RawFd) -> io::Result<u32> {
    // SAFETY: F_GET_SEALS takes no argument.
    check_int(unsafe { libc::fcntl(fd, libc::F_GET_SEALS) }).map(|s| s as u32)
}

/// Device and inode of the file `fd` is open on.
pub fn dev_ino(fd: RawFd) -> io::Result<(u64, u64)> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: st is a stat the kernel fills.
    check_int(unsafe { libc::fstat(fd, st.as_mut_ptr()) })?;
    // SAFETY: filled by the successful call above (and zeroed before).
    let st = unsafe { st.assume_init() };
    Ok((st.st_dev, st.st_ino))
}

/// A POSIX (or, with `ofd`, open-file-description) record lock on `fd`,
/// not waited for: F_SETLK / F_OFD_SETLK.
pub fn record_lock(fd: RawFd, ofd: bool, write: bool, start: i64, len: i64) -> io::Result<()> {
    // SAFETY: a zeroed struct flock is valid; its fields are set below.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = if write { libc::F_WRLCK } else { libc::F_RDLCK } as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = start as libc::off_t;
    fl.l_len = len as libc::off_t;
    let cmd = if ofd {
        libc::F_OFD_SETLK
    } else {
        libc::F_SETLK
    };
    // SAFETY: fl is a struct flock the kernel only reads.
    check_int(unsafe { libc::fcntl(fd, cmd, &fl) }).map(drop)
}

/// flock(LOCK_SH or LOCK_EX | LOCK_NB).
pub fn flock(fd: RawFd, write: bool) -> io::Result<()> {
    let op = if write { libc::LOCK_EX } else { libc::LOCK_SH };
    // SAFETY: flock takes no memory.
    check_int(unsafe { libc::flock(fd, op | libc::LOCK_NB) }).map(drop)
}

/// F_SETLEASE: a read or write lease.
pub fn set_lease(fd: RawFd, write: bool) -> io::Result<()> {
    let t = if write { libc::F_WRLCK } else { libc::F_RDLCK };
    // SAFETY: F_SETLEASE takes an integer.
    check_int(unsafe { libc::fcntl(fd, libc::F_SETLEASE, t) }).map(drop)
}

/// The target of the symlink `fd` (an O_PATH|O_NOFOLLOW descriptor of
/// it) holds: readlinkat(fd, "").
pub fn readlink_fd(fd: RawFd) -> io::Result<std::path::PathBuf> {
    readlink_at(fd, c"")
}

/// `open_by_handle_at(mount_fd, handle, flags)`: the file that handle
/// `bytes` of type `kind` names on the filesystem `mount_fd` is on.
pub fn open_by_handle(
    mount_fd: RawFd,
    kind: i32,
    bytes: &[u8],
    flags: i32,
) -> io::Result<std::os::fd::OwnedFd> {
    // struct file_handle: u32 handle_bytes, i32 handle_type, then the bytes.
    let mut buf = vec![0u8; 8 + bytes.len()];
    buf[..4].copy_from_slice(&(bytes.len() as u32).to_ne_bytes());
    buf[4..8].copy_from_slice(&kind.to_ne_bytes());
    buf[8..].copy_from_slice(bytes);
    // SAFETY: buf is a struct file_handle with handle_bytes bytes after
    // its header; the kernel only reads it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            mount_fd,
            buf.as_mut_ptr(),
            flags,
        )
    };
    let fd = check(r)? as RawFd;
    // SAFETY: the kernel just gave us this descriptor, owned from here.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}

pub fn inotify_init(flags: i32) -> io::Result<RawFd> {
    // SAFETY: inotify_init1 takes no memory.
    check_int(unsafe { libc::inotify_init1(flags) })
}

pub fn inotify_add_watch(fd: RawFd, path: &CStr, mask: u32) -> io::Result<i32> {
    // SAFETY: path is NUL-terminated; the kernel only reads it.
    check_int(unsafe { libc::inotify_add_watch(fd, path.as_ptr(), mask) })
}

/// INOTIFY_IOC_SETNEXTWD: the next watch added gets number `wd`.
pub fn inotify_set_next_wd(fd: RawFd, wd: i32) -> io::Result<()> {
    const INOTIFY_IOC_SETNEXTWD: u64 = 0x4004_4900;
    // SAFETY: the request takes its argument by value.
    check_int(unsafe { libc::ioctl(fd, INOTIFY_IOC_SETNEXTWD as _, wd as libc::c_long) })
        .map(|_| ())
}

pub fn fanotify_init(flags: u32, event_flags: u32) -> io::Result<RawFd> {
    // SAFETY: fanotify_init takes no memory.
    check_int(unsafe { libc::fanotify_init(flags, event_flags) })
}

/// `fanotify_mark(fd, flags, mask, AT_FDCWD, path)`.
pub fn fanotify_mark(fd: RawFd, flags: u32, mask: u64, path: &CStr) -> io::Result<()> {
    // SAFETY: path is NUL-terminated; the kernel only reads it.
    check_int(unsafe { libc::fanotify_mark(fd, flags, mask, libc::AT_FDCWD, path.as_ptr()) })
        .map(|_| ())
}

/// `linkat(AT_FDCWD, from, AT_FDCWD, to, AT_SYMLINK_FOLLOW)`: through a
/// /proc/self/fd link, a new name for an open (even deleted) file.
pub fn link_followed(from: &CStr, to: &CStr) -> io::Result<()> {
    // SAFETY: both paths are NUL-terminated; the kernel only reads them.
    check_int(unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    })
    .map(|_| ())
}

/// `link(from, to)`: a second name for a file.
pub fn link_at(from: &CStr, to: &CStr) -> io::Result<()> {
    // SAFETY: both paths are NUL-terminated; the kernel only reads them.
    check_int(unsafe { libc::link(from.as_ptr(), to.as_ptr()) }).map(|_| ())
}

fn c_path(p: &std::path::Path) -> io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn c_opt(s: Option<&str>) -> io::Result<Option<std::ffi::CString>> {
    s.map(|s| std::ffi::CString::new(s).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL)))
        .transpose()
}

/// `mount(2)`.
pub fn mount(
    source: Option<&str>,
    target: &std::path::Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let (src, ty, data) = (c_opt(source)?, c_opt(fstype)?, c_opt(data)?);
    let target = c_path(target)?;
    let ptr = |c: &Option<std::ffi::CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is a NUL-terminated string alive for the call
    // or null, which mount(2) accepts for source, type and data.
    check_int(unsafe {
        libc::mount(
            ptr(&src),
            target.as_ptr(),
            ptr(&ty),
            flags,
            ptr(&data).cast(),
        )
    })
    .map(drop)
}

/// `umount2(2)`.
pub fn umount2(target: &std::path::Path, flags: i32) -> io::Result<()> {
    let target = c_path(target)?;
    // SAFETY: target is a NUL-terminated string alive for the call.
    check_int(unsafe { libc::umount2(target.as_ptr(), flags) }).map(drop)
}

/// `pivot_root(".", ".")`: the current directory's mount becomes the
/// root of our mount namespace, the old root stacked on it at `/`
/// (to be detached with `umount2(".", MNT_DETACH)`).
pub fn pivot_root_here() -> io::Result<()> {
    // SAFETY: both paths are NUL-terminated literals.
    check(unsafe { libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) }).map(drop)
}

/// `move_mount(from, "", to, "", MOVE_MOUNT_SET_GROUP)`: mount `to` (a
/// private mount; both descriptors of mount roots, in our namespace)
/// joins the peer group and the master of mount `from`.
pub fn set_mount_group(from: RawFd, to: RawFd) -> io::Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_ulong = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_ulong = 0x40;
    const MOVE_MOUNT_SET_GROUP: libc::c_ulong = 0x100;
    let flags = MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH | MOVE_MOUNT_SET_GROUP;
    // SAFETY: both paths are the NUL-terminated empty literal.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from,
            c"".as_ptr(),
            to,
            c"".as_ptr(),
            flags,
        )
    })
    .map(drop)
}

/// The target of symlink `name` in directory `dir`: readlinkat(2).
pub fn readlink_at(dir: RawFd, name: &std::ffi::CStr) -> io::Result<std::path::PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: buf is writable for its length; name is NUL-terminated.
    let n = unsafe { libc::readlinkat(dir, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    let n = check(n as libc::c_long)? as usize;
    Ok(std::ffi::OsStr::from_bytes(&buf[..n]).into())
}
