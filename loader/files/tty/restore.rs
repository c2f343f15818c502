//! Terminals at restore: each pty pair made again with its index and
//! settings by the loader, before the first fork, and the controlling
//! terminal of each session.

use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::os::fd::RawFd;
use std::path::Path;

use super::master_of;
use crate::files::install::{cpath, FdPlan, Source};
use crate::files::Shared;
use crate::images::file;
use crate::images::schema::{FileEntry, TermiosEntry, TtyInfoEntry, TtyType};
use crate::restore::RestoreError;
use crate::sys;

/// The terminals of an image set: tty-info.img records by id, the data
/// of tty-data.img by the id of the end it was read from.
#[derive(Debug, Default)]
pub struct Images {
    pub infos: HashMap<u32, TtyInfoEntry>,
    pub data: HashMap<u32, Vec<u8>>,
}

impl Images {
    pub fn read(dir: &Path) -> Result<Images, RestoreError> {
        let mut out = Images::default();
        if file::TTY_INFO.path(dir, "").exists() {
            for i in file::TTY_INFO.read_all(dir, "")? {
                if out.infos.insert(i.id, i).is_some() {
                    return Err(RestoreError::Inconsistent(
                        "tty-info.img: two records with one id".into(),
                    ));
                }
            }
        }
        if file::TTY_DATA.path(dir, "").exists() {
            for d in file::TTY_DATA.read_all(dir, "")? {
                if !out.infos.contains_key(&d.tty_id) {
                    return Err(RestoreError::Inconsistent(format!(
                        "tty-data.img: data of terminal {:#x}, which tty-info.img lacks",
                        d.tty_id
                    )));
                }
                out.data.entry(d.tty_id).or_default().extend(d.data);
            }
        }
        Ok(out)
    }
}

/// Where descriptor `what`, of terminal entry `file`, comes from.
pub(crate) fn source(
    file: &FileEntry,
    files: &HashMap<u32, FileEntry>,
    ttys: &Images,
    shell_job: bool,
    what: &str,
) -> Result<Source, RestoreError> {
    let t = file.tty.as_ref().ok_or_else(|| {
        RestoreError::Inconsistent(format!("{what}: terminal {} without its data", file.id))
    })?;
    let info = ttys.infos.get(&t.tty_info_id).ok_or_else(|| {
        RestoreError::Inconsistent(format!(
            "{what}: terminal {} names tty-info record {:#x}, which tty-info.img lacks",
            file.id, t.tty_info_id
        ))
    })?;
    let path = t
        .regf_id
        .and_then(|r| files.get(&r)?.reg.as_ref())
        .map(|r| r.name.clone());
    let flags = t.flags as i32;
    match TtyType::try_from(info.r#type) {
        Ok(TtyType::Pty) => {
            let index = info.pty.as_ref().map(|p| p.index).ok_or_else(|| {
                RestoreError::Inconsistent(format!("{what}: a pty record without its index"))
            })?;
            let master = info.id & 1 == 1;
            let paired = master || ttys.infos.contains_key(&master_of(info.id));
            if !paired && info.termios.is_some() {
                if !shell_job {
                    return Err(RestoreError::Unsupported(format!(
                        "{what}: pty slave {index}, whose master was outside the dumped tree \
                         (restore with --shell-job to give it crest's own terminal)"
                    )));
                }
                let own = (0..3).find(|&f| sys::isatty(f)).ok_or_else(|| {
                    RestoreError::Unsupported(format!(
                        "{what}: a terminal, but crest runs without one to give it (--shell-job)"
                    ))
                })?;
                return Ok(Source::Inherit(own));
            }
            let path = path.unwrap_or_else(|| match master {
                true => "/dev/ptmx".into(),
                false => format!("/dev/pts/{index}"),
            });
            Ok(Source::Tty {
                index,
                master,
                path: cpath(&path, what)?,
                flags,
            })
        }
        Ok(TtyType::Ctty) => Ok(Source::Ctty { flags }),
        Ok(TtyType::Console | TtyType::Vt | TtyType::Serial) => {
            let path = path.ok_or_else(|| {
                RestoreError::Inconsistent(format!("{what}: a terminal without its path"))
            })?;
            Ok(Source::Path {
                path: cpath(&path, what)?,
                flags: crate::files::install::reopen_flags(t.flags) | libc::O_NOCTTY,
                pos: 0,
            })
        }
        _ => Err(RestoreError::Unsupported(format!(
            "{what}: a terminal of kind {} (external), which crest does not restore",
            info.r#type
        ))),
    }
}

/// One end's open file to make.
struct End {
    id: u32,
    path: CString,
    flags: i32,
}

#[derive(Default)]
struct Pair {
    master: Option<End>,
    slaves: Vec<End>,
}

/// The controlling terminal of a session: a loader descriptor of it,
/// which the tasks inherit, and its foreground group.
#[derive(Debug, Clone, Copy)]
pub struct Ctty {
    pub fd: RawFd,
    pub pgrp: u32,
}

/// Makes every pty pair the tasks hold, before the first fork: the
/// master with its dumped index, then each open file of the slave, each
/// end with its settings, the queued data put back through the other
/// end, lock and exclusive mode last. Their descriptors go to
/// `shared.files` by file id; the result maps each session to its
/// controlling terminal.
pub fn open_all<'a>(
    plans: impl Iterator<Item = &'a FdPlan>,
    ttys: &Images,
    shared: &mut Shared,
) -> Result<HashMap<u32, Ctty>, RestoreError> {
    let mut pairs: BTreeMap<u32, Pair> = BTreeMap::new();
    let mut seen = Vec::new();
    for t in plans.flat_map(|p| p.targets.iter()) {
        let Source::Tty {
            index,
            master,
            path,
            flags,
        } = &t.source
        else {
            continue;
        };
        if seen.contains(&t.id) {
            continue;
        }
        seen.push(t.id);
        let end = End {
            id: t.id,
            path: path.clone(),
            flags: *flags,
        };
        let pair = pairs.entry(*index).or_default();
        if *master {
            if pair.master.is_some() {
                return Err(RestoreError::Inconsistent(format!(
                    "pty {index}: two masters"
                )));
            }
            pair.master = Some(end);
        } else {
            pair.slaves.push(end);
        }
    }
    let mut cttys = HashMap::new();
    for (index, pair) in pairs {
        let fd = open_pair(index, &pair, ttys, shared)?;
        for info in [index << 1, (index << 1) | 1] {
            let Some(i) = ttys.infos.get(&info).filter(|i| i.sid != 0) else {
                continue;
            };
            let c = Ctty { fd, pgrp: i.pgrp };
            if let Some(other) = cttys.insert(i.sid, c) {
                if other.fd != fd {
                    return Err(RestoreError::Inconsistent(format!(
                        "session {} has two controlling terminals",
                        i.sid
                    )));
                }
            }
        }
    }
    Ok(cttys)
}

/// Opens pty pair `index`; returns one of its descriptors.
fn open_pair(
    index: u32,
    pair: &Pair,
    ttys: &Images,
    shared: &mut Shared,
) -> Result<RawFd, RestoreError> {
    let fail =
        |what: &str, e: std::io::Error| RestoreError::sys(0, format!("pty {index}: {what}"), e);
    let master_info = ttys.infos.get(&((index << 1) | 1));
    let slave_info = ttys.infos.get(&(index << 1));
    // A slave whose master was closed (hung up) gets a master of its
    // own for the time of its open.
    let (mfd, temporary) = match &pair.master {
        Some(m) => (
            open_ptmx(index, &m.path, m.flags).map_err(|e| fail("open", e))?,
            false,
        ),
        None => {
            let ptmx = CString::new("/dev/ptmx").unwrap_or_default();
            (
                open_ptmx(index, &ptmx, libc::O_RDWR).map_err(|e| fail("open", e))?,
                true,
            )
        }
    };
    sys::tty_set(mfd, libc::TIOCSPTLCK, 0).map_err(|e| fail("unlock", e))?;
    if let Some(i) = master_info {
        settings(mfd, i).map_err(|e| fail("master's settings", e))?;
        if i.packet_mode {
            sys::tty_set(mfd, libc::TIOCPKT, 1).map_err(|e| fail("packet mode", e))?;
        }
    }
    let mut slave_fd = None;
    for (n, s) in pair.slaves.iter().enumerate() {
        let fd = sys::open(&s.path, slave_flags(s.flags), 0)
            .map_err(|e| fail(&format!("opening {:?}", s.path), e))?;
        shared.files.insert(s.id, fd);
        if n == 0 {
            if let Some(i) = slave_info {
                settings(fd, i).map_err(|e| fail("slave's settings", e))?;
                owner(fd, i).map_err(|e| fail("slave's owner", e))?;
            }
            slave_fd = Some(fd);
        }
    }
    if let (Some(s), Some(i)) = (slave_fd, slave_info) {
        put_back(mfd, s, i, ttys, index).map_err(|e| fail("queued data", e))?;
    }
    if master_info.is_some_and(|i| i.locked) {
        sys::tty_set(mfd, libc::TIOCSPTLCK, 1).map_err(|e| fail("lock", e))?;
    }
    if master_info.is_some_and(|i| i.exclusive) {
        sys::tty_call(mfd, libc::TIOCEXCL, 0).map_err(|e| fail("exclusive mode", e))?;
    }
    if let (Some(fd), true) = (slave_fd, slave_info.is_some_and(|i| i.exclusive)) {
        sys::tty_call(fd, libc::TIOCEXCL, 0).map_err(|e| fail("exclusive mode", e))?;
    }
    match (&pair.master, temporary) {
        (Some(m), false) => {
            shared.files.insert(m.id, mfd);
            Ok(mfd)
        }
        _ => {
            sys::close(mfd);
            slave_fd.ok_or_else(|| {
                RestoreError::Inconsistent(format!("pty {index}: neither end is held"))
            })
        }
    }
}

fn slave_flags(flags: i32) -> i32 {
    crate::files::install::reopen_flags(flags as u32) | libc::O_NOCTTY | libc::O_CLOEXEC
}

/// Opens the pty master of `path` until the kernel gives it `index`: it
/// hands out the lowest free one, so the ones below are opened and
/// closed again, as CRIU does. A taken index is refused.
fn open_ptmx(index: u32, path: &CString, flags: i32) -> std::io::Result<RawFd> {
    let mut spare = Vec::new();
    let result = loop {
        let fd = match sys::open(path, slave_flags(flags), 0) {
            Ok(fd) => fd,
            Err(e) => break Err(e),
        };
        match sys::tty_get(fd, libc::TIOCGPTN) {
            Ok(n) if n as u32 == index => break Ok(fd),
            Ok(n) if (n as u32) < index && spare.len() < 1024 => spare.push(fd),
            Ok(n) => {
                sys::close(fd);
                break Err(std::io::Error::other(format!(
                    "index {index} is taken here (the next free one is {n})"
                )));
            }
            Err(e) => {
                sys::close(fd);
                break Err(e);
            }
        }
    };
    for fd in spare {
        sys::close(fd);
    }
    result
}

fn termios(e: &TermiosEntry) -> sys::Termios {
    let cc = super::unpack_cc(&e.c_cc);
    sys::Termios {
        iflag: e.c_iflag,
        oflag: e.c_oflag,
        cflag: e.c_cflag,
        lflag: e.c_lflag,
        line: e.c_line as u8,
        cc,
    }
}

/// Line settings, then their lock (locked bits would refuse the
/// settings), then the window size.
fn settings(fd: RawFd, i: &TtyInfoEntry) -> std::io::Result<()> {
    if let Some(t) = &i.termios {
        sys::set_termios(fd, &termios(t), false)?;
    }
    if let Some(t) = &i.termios_locked {
        sys::set_termios(fd, &termios(t), true)?;
    }
    if let Some(w) = &i.winsize {
        let ws = [w.ws_row, w.ws_col, w.ws_xpixel, w.ws_ypixel].map(|v| v as u16);
        sys::set_winsize(fd, &ws)?;
    }
    Ok(())
}

/// The slave device node's owner, when it is not who opened the master.
fn owner(fd: RawFd, i: &TtyInfoEntry) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let (Some(uid), Some(gid)) = (i.uid, i.gid) else {
        return Ok(());
    };
    let now = std::fs::metadata(format!("/proc/self/fd/{fd}"))?;
    if (now.uid(), now.gid()) != (uid, gid) {
        sys::fchown(fd, uid, gid)?;
    }
    Ok(())
}

/// Each pty the images make a controlling terminal must have its
/// session's leader among the live tasks (`(pid, sid)` each), which takes
/// it right after setsid; a slave that is crest's own terminal (its
/// master was outside the tree) keeps the caller's session.
pub fn check_sessions(ttys: &Images, live: &[(u32, u32)]) -> Result<(), RestoreError> {
    for i in ttys.infos.values() {
        let slave = i.id & 1 == 0;
        let unpaired = slave && !ttys.infos.contains_key(&master_of(i.id));
        if i.sid == 0 || i.r#type != TtyType::Pty as i32 || unpaired {
            continue;
        }
        if !live.contains(&(i.sid, i.sid)) {
            let index = i.pty.as_ref().map_or(0, |p| p.index);
            return Err(RestoreError::Unsupported(format!(
                "pty {index} is the controlling terminal of session {}, whose leader is not \
                 among the restored tasks",
                i.sid
            )));
        }
    }
    Ok(())
}

/// The data queued in pair `index` when dumped, put back through the
/// other end: what the master had to read is written by the slave with
/// output processing off (it was processed once), what the slave had to
/// read is written by the master with echo off, and waited for until the
/// line discipline has taken it in (it does so after the write returns).
fn put_back(
    master: RawFd,
    slave: RawFd,
    info: &TtyInfoEntry,
    ttys: &Images,
    index: u32,
) -> std::io::Result<()> {
    let Some(dumped) = info.termios.as_ref().map(termios) else {
        return Ok(());
    };
    if let Some(d) = ttys.data.get(&((index << 1) | 1)) {
        let raw = sys::Termios {
            oflag: dumped.oflag & !libc::OPOST,
            ..dumped
        };
        sys::set_termios(slave, &raw, false)?;
        let written = sys::write_all(slave, d);
        sys::set_termios(slave, &dumped, false)?;
        written?;
    }
    if let Some(d) = ttys.data.get(&(index << 1)) {
        let echo =
            libc::ECHO | libc::ECHOE | libc::ECHOK | libc::ECHONL | libc::ECHOCTL | libc::ECHOKE;
        let quiet = sys::Termios {
            lflag: dumped.lflag & !echo,
            ..dumped
        };
        sys::set_termios(slave, &quiet, false)?;
        let written = sys::write_all(master, d);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        while written.is_ok() && std::time::Instant::now() < deadline {
            if sys::tty_get(slave, libc::TIOCINQ)? as usize >= d.len() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
        sys::set_termios(slave, &dumped, false)?;
        written?;
    }
    Ok(())
}
