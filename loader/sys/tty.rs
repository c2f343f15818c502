//! Terminal ioctls: termios, window size, pty lock, packet mode,
//! exclusive mode, controlling terminal and foreground group.

use std::io;
use std::os::fd::RawFd;

use super::check_int;

/// The kernel's `struct termios` (TCGETS, TIOCGLCKTRMIOS): 19 control
/// characters, no speeds (those are in `termios2`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Termios {
    pub iflag: u32,
    pub oflag: u32,
    pub cflag: u32,
    pub lflag: u32,
    pub line: u8,
    pub cc: [u8; 19],
}

/// `ws_row, ws_col, ws_xpixel, ws_ypixel`.
pub type Winsize = [u16; 4];

const TIOCGLCKTRMIOS: u64 = 0x5456;
const TIOCSLCKTRMIOS: u64 = 0x5457;

/// The line settings of `fd` (`locked`: the mask of those that may not
/// change, TIOCGLCKTRMIOS).
pub fn termios(fd: RawFd, locked: bool) -> io::Result<Termios> {
    let mut t = Termios::default();
    let req = if locked { TIOCGLCKTRMIOS } else { libc::TCGETS };
    // SAFETY: the request writes one kernel struct termios, which Termios is.
    check_int(unsafe { libc::ioctl(fd, req as _, &mut t as *mut Termios) })?;
    Ok(t)
}

/// Sets the line settings of `fd` (TCSETS), or their lock mask
/// (TIOCSLCKTRMIOS, which needs CAP_SYS_ADMIN).
pub fn set_termios(fd: RawFd, t: &Termios, locked: bool) -> io::Result<()> {
    let req = if locked { TIOCSLCKTRMIOS } else { libc::TCSETS };
    // SAFETY: the request reads one kernel struct termios, which Termios is.
    check_int(unsafe { libc::ioctl(fd, req as _, t as *const Termios) })?;
    Ok(())
}

pub fn winsize(fd: RawFd) -> io::Result<Winsize> {
    let mut w: Winsize = [0; 4];
    // SAFETY: TIOCGWINSZ writes one struct winsize (four u16).
    check_int(unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, w.as_mut_ptr()) })?;
    Ok(w)
}

pub fn set_winsize(fd: RawFd, w: &Winsize) -> io::Result<()> {
    // SAFETY: TIOCSWINSZ reads one struct winsize (four u16).
    check_int(unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, w.as_ptr()) })?;
    Ok(())
}

/// An ioctl that writes one int: TIOCGPTN, TIOCGPKT, TIOCGPTLCK,
/// TIOCGEXCL, TIOCGSID, TIOCGPGRP, TIOCINQ.
pub fn tty_get(fd: RawFd, request: u64) -> io::Result<i32> {
    let mut v: libc::c_int = 0;
    // SAFETY: the request writes one int into v.
    check_int(unsafe { libc::ioctl(fd, request as _, &mut v) })?;
    Ok(v)
}

/// An ioctl that reads one int: TIOCSPTLCK, TIOCPKT, TIOCSPGRP.
pub fn tty_set(fd: RawFd, request: u64, v: i32) -> io::Result<()> {
    let v: libc::c_int = v;
    // SAFETY: the request reads one int from v.
    check_int(unsafe { libc::ioctl(fd, request as _, &v) })?;
    Ok(())
}

/// An ioctl whose argument is a plain value: TIOCSCTTY, TIOCEXCL.
pub fn tty_call(fd: RawFd, request: u64, arg: u64) -> io::Result<()> {
    // SAFETY: the request takes no memory, only the value.
    check_int(unsafe { libc::ioctl(fd, request as _, arg) })?;
    Ok(())
}

/// `fchown(fd, uid, gid)`: the owner of the file `fd` is.
pub fn fchown(fd: RawFd, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: fchown takes no memory.
    check_int(unsafe { libc::fchown(fd, uid, gid) })?;
    Ok(())
}
