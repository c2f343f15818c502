//! Terminals at dump: the records of each device end, read through
//! crest's copy of one descriptor of it, and the data queued in pairs.

use std::collections::HashMap;
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;

use super::{master_of, Driver};
use crate::dump::DumpError;
use crate::files::Files;
use crate::images::schema::*;
use crate::log::WARN;
use crate::proc;
use crate::sys;

/// Bytes of queued data crest takes out of one end of a pair; the line
/// discipline holds 4 KiB, its buffers a few pages more.
const DATA_LIMIT: usize = 64 << 10;

/// What dump gathers of the tree's terminals.
#[derive(Default)]
pub(crate) struct Dumped {
    pub(crate) infos: Vec<TtyInfoEntry>,
    pub(crate) data: Vec<TtyDataEntry>,
    /// A copy of one descriptor of each device end, by tty-info id, and
    /// the process and descriptor it was taken from.
    ends: Vec<(u32, OwnedFd, i32, i32)>,
    /// Data taken out of the pairs, to be put back unless the tree dies.
    pub(crate) drained: Drained,
}

/// Queued data read out of a live pair: each chunk written back through
/// the other end when this drops, as the tree then goes on. `keep` once
/// the tree is killed.
#[derive(Default)]
pub(crate) struct Drained(Vec<(OwnedFd, Vec<u8>)>);

impl Drained {
    pub(crate) fn keep(mut self) {
        self.0.clear();
    }
}

impl Drop for Drained {
    fn drop(&mut self) {
        for (fd, data) in &self.0 {
            if let Err(e) = sys::write_all(fd.as_raw_fd(), data) {
                crate::log!(
                    WARN,
                    "{} bytes of terminal data not put back: {e}",
                    data.len()
                );
            }
        }
    }
}

/// The device number as /proc/PID/stat's `tty_nr` encodes it.
fn stat_encoded(rdev: u64) -> u64 {
    let (major, minor) = (libc::major(rdev) as u64, libc::minor(rdev) as u64);
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

impl Files {
    /// Descriptor `fd` of `pid`, a terminal: its tty.img entry (and the
    /// regular entry of its path), and the device end's tty-info record
    /// the first time it is met.
    pub(crate) fn tty(
        &mut self,
        pid: i32,
        fd: i32,
        link: &str,
        flags: u32,
    ) -> Result<u32, DumpError> {
        let copy = sys::steal_fd(pid, fd)
            .map_err(|e| DumpError::sys(pid, format!("fd {fd}: pidfd_getfd"), e))?;
        let c = copy.as_raw_fd();
        let meta = fs::metadata(format!("/proc/self/fd/{c}"))
            .map_err(|e| DumpError::sys(pid, format!("fd {fd}: fstat"), e))?;
        let rdev = meta.rdev();
        let ext = crate::files::external::tty_name(rdev, meta.dev());
        if self.external.contains(&ext) {
            return Ok(self.external_tty(&meta, flags));
        }
        let driver = Driver::of(rdev).ok_or_else(|| {
            DumpError::refused(
                pid,
                format!(
                    "fd {fd} is a terminal of device {}:{} ({link}), a kind crest does not dump",
                    libc::major(rdev),
                    libc::minor(rdev)
                ),
            )
        })?;
        let index = match driver {
            Driver::Master => sys::tty_get(c, libc::TIOCGPTN)
                .map_err(|e| DumpError::sys(pid, format!("fd {fd}: pty index (TIOCGPTN)"), e))?
                as u32,
            // The node of a hung-up slave is gone with its master.
            Driver::Slave => link
                .trim_end_matches(" (deleted)")
                .strip_prefix("/dev/pts/")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| {
                    DumpError::refused(
                        pid,
                        format!("fd {fd}: a pty slave not under /dev/pts ({link})"),
                    )
                })?,
            _ => 0,
        };
        let info_id = driver.info_id(index);
        if !self.tty.infos.iter().any(|i| i.id == info_id) {
            let info = info(pid, fd, c, &meta, driver, index, info_id)?;
            self.tty.infos.push(info);
            self.tty.ends.push((info_id, copy, pid, fd));
        }
        let path = link.trim_end_matches(" (deleted)");
        let regf_id = match path.len() == link.len() {
            true => self.reg(link, flags, 0)?,
            false => self.add(|id| crate::files::reg_entry(id, path, flags, 0, None)),
        };
        Ok(self.add(|id| FileEntry {
            r#type: FdTypes::Tty as i32,
            id,
            tty: Some(TtyFileEntry {
                id,
                tty_info_id: info_id,
                flags,
                fown: FownEntry::default(),
                regf_id: Some(regf_id),
            }),
            ..Default::default()
        }))
    }
}

impl Files {
    /// A terminal named by `--external tty[RDEV:DEV]`: an EXT_TTY record
    /// with only its identity (one per device, numbered as CRIU numbers
    /// them), and no path; the restore takes it from --inherit-fd.
    fn external_tty(&mut self, meta: &fs::Metadata, flags: u32) -> u32 {
        let (rdev, dev) = (meta.rdev() as u32, meta.dev() as u32);
        let known =
            self.tty.infos.iter().find(|i| {
                i.r#type == TtyType::ExtTty as i32 && i.rdev == rdev && i.dev == Some(dev)
            });
        let info_id = match known {
            Some(i) => i.id,
            None => {
                let n = self
                    .tty
                    .infos
                    .iter()
                    .filter(|i| i.r#type == TtyType::ExtTty as i32)
                    .count() as u32;
                let id = (1012 + n + 1) << 1;
                self.tty.infos.push(TtyInfoEntry {
                    id,
                    r#type: TtyType::ExtTty as i32,
                    rdev,
                    dev: Some(dev),
                    ..Default::default()
                });
                id
            }
        };
        self.add(|id| FileEntry {
            r#type: FdTypes::Tty as i32,
            id,
            tty: Some(TtyFileEntry {
                id,
                tty_info_id: info_id,
                flags,
                fown: FownEntry::default(),
                regf_id: None,
            }),
            ..Default::default()
        })
    }
}

/// The tty-info record of one device end, from crest's copy `c` of
/// descriptor `fd` of `pid`. Session and group are numbered as the
/// loader sees them; `finish` renumbers them.
fn info(
    pid: i32,
    fd: i32,
    c: RawFd,
    meta: &fs::Metadata,
    driver: Driver,
    index: u32,
    id: u32,
) -> Result<TtyInfoEntry, DumpError> {
    let pty = matches!(driver, Driver::Master | Driver::Slave);
    let mut e = TtyInfoEntry {
        id,
        r#type: driver.r#type() as i32,
        rdev: meta.rdev() as u32,
        dev: Some(meta.dev() as u32),
        uid: Some(meta.uid()),
        gid: Some(meta.gid()),
        pty: pty.then_some(TtyPtyEntry { index }),
        ..Default::default()
    };
    // As CRIU: ENOTTY reads as 0 (not a controlling terminal), EIO says
    // the terminal was hung up (a slave whose master is closed), which
    // leaves only the record's identity to keep.
    let mut hung = false;
    let mut get = |req: u64, what: &str| match sys::tty_get(c, req) {
        Ok(v) => Ok(v),
        Err(e) if e.raw_os_error() == Some(libc::ENOTTY) => Ok(0),
        Err(e) if e.raw_os_error() == Some(libc::EIO) => {
            hung = true;
            Ok(0)
        }
        Err(e) => Err(DumpError::sys(pid, format!("fd {fd}: {what}"), e)),
    };
    if driver == Driver::Master {
        // Asked through the master, the slave's session: from anywhere.
        e.sid = get(libc::TIOCGSID, "session (TIOCGSID)")? as u32;
        e.pgrp = get(libc::TIOCGPGRP, "foreground group (TIOCGPGRP)")? as u32;
    } else {
        // Asked through any other end, only the controlling process may
        // learn it: its stat says which terminal controls it.
        let stat = proc::Stat::read(pid)?;
        let controls = match driver {
            Driver::Ctty => stat.field(7) != 0,
            _ => stat.field(7) == stat_encoded(meta.rdev()),
        };
        if controls {
            e.sid = stat.field(6) as u32;
            e.pgrp = (stat.field(8) as i64).max(0) as u32;
        }
    }
    e.exclusive = get(libc::TIOCGEXCL, "exclusive mode (TIOCGEXCL)")? != 0;
    if pty {
        e.packet_mode = get(libc::TIOCGPKT, "packet mode (TIOCGPKT)")? != 0;
        e.locked = get(libc::TIOCGPTLCK, "pty lock (TIOCGPTLCK)")? != 0;
    }
    if hung {
        return Ok(e);
    }
    let t = |locked, what: &str| {
        sys::termios(c, locked)
            .map(|t| termios_entry(&t))
            .map_err(|err| DumpError::sys(pid, format!("fd {fd}: {what}"), err))
    };
    e.termios = Some(t(false, "line settings (TCGETS)")?);
    e.termios_locked = Some(t(true, "locked line settings (TIOCGLCKTRMIOS)")?);
    let w = sys::winsize(c)
        .map_err(|err| DumpError::sys(pid, format!("fd {fd}: window size (TIOCGWINSZ)"), err))?;
    e.winsize = Some(WinsizeEntry {
        ws_row: w[0].into(),
        ws_col: w[1].into(),
        ws_xpixel: w[2].into(),
        ws_ypixel: w[3].into(),
    });
    Ok(e)
}

fn termios_entry(t: &sys::Termios) -> TermiosEntry {
    TermiosEntry {
        c_iflag: t.iflag,
        c_oflag: t.oflag,
        c_cflag: t.cflag,
        c_lflag: t.lflag,
        c_line: t.line.into(),
        c_ispeed: 0,
        c_ospeed: 0,
        c_cc: super::pack_cc(&t.cc),
    }
}

/// One process of the tree: our pid of it, and its own pid, group and
/// session numbers.
pub(crate) struct Member {
    pub(crate) pid: i32,
    pub(crate) vpid: u32,
    pub(crate) vpgid: u32,
    pub(crate) vsid: u32,
}

/// Once every descriptor is met: sessions and groups renumbered as the
/// tree numbers them (one outside the tree is refused), each slave's
/// master looked for (without it the slave is the caller's terminal:
/// only a shell job may hold it), and the data queued in each pair read
/// out.
pub(crate) fn finish(files: &mut Files, tree: &[Member], shell_job: bool) -> Result<(), DumpError> {
    let d = &mut files.tty;
    if d.infos.is_empty() {
        return Ok(());
    }
    let mut own: HashMap<u32, u32> = HashMap::new();
    for m in tree {
        own.insert(m.pid as u32, m.vpid);
        if let Ok(st) = proc::Stat::read(m.pid) {
            own.insert(st.field(5) as u32, m.vpgid);
            own.insert(st.field(6) as u32, m.vsid);
        }
    }
    let ids: Vec<u32> = d.infos.iter().map(|i| i.id).collect();
    for info in &mut d.infos {
        let (pid, fd) = d
            .ends
            .iter()
            .find(|e| e.0 == info.id)
            .map_or((0, 0), |e| (e.2, e.3));
        let index = info.pty.as_ref().map_or(0, |p| p.index);
        let slave = info.r#type == TtyType::Pty as i32 && info.id & 1 == 0;
        let unpaired = slave && !ids.contains(&master_of(info.id));
        if unpaired && info.termios.is_some() {
            if !shell_job {
                return Err(DumpError::refused(
                    pid,
                    format!(
                        "fd {fd} is a terminal (/dev/pts/{index}) whose master is outside the \
                         dumped tree (dump with --shell-job to hand it over to the restoring shell)"
                    ),
                ));
            }
            // The caller's terminal: its session is the caller's too.
            info.sid = 0;
            info.pgrp = 0;
            continue;
        }
        if info.sid == 0 {
            continue;
        }
        let what = if info.r#type == TtyType::Pty as i32 {
            format!("pty {index}")
        } else {
            "its terminal".to_string()
        };
        let outside = |what_of: String| {
            DumpError::refused(
                pid,
                format!("fd {fd}: {what} {what_of}, which is outside the dumped tree"),
            )
        };
        let sid = *own.get(&info.sid).ok_or_else(|| {
            outside(format!(
                "is the controlling terminal of session {}",
                info.sid
            ))
        })?;
        if info.pgrp != 0 {
            info.pgrp = *own
                .get(&info.pgrp)
                .ok_or_else(|| outside(format!("has foreground group {}", info.pgrp)))?;
        }
        info.sid = sid;
    }
    drain_pairs(d)
}

/// Reads out what is queued in each pair both of whose ends the tree
/// holds: the master's input (what the slave wrote) and the slave's
/// (what the master wrote, complete lines in canonical mode, as CRIU).
fn drain_pairs(d: &mut Dumped) -> Result<(), DumpError> {
    let pairs: Vec<(u32, u32)> = d
        .infos
        .iter()
        .filter(|i| i.r#type == TtyType::Pty as i32 && i.id & 1 == 1 && i.termios.is_some())
        .filter(|m| d.infos.iter().any(|s| s.id == m.id & !1))
        .map(|m| (m.id, m.id & !1))
        .collect();
    for (master, slave) in pairs {
        let end = |id: u32| d.ends.iter().find(|e| e.0 == id);
        let (Some(m), Some(s)) = (end(master), end(slave)) else {
            continue;
        };
        let packet = d.infos.iter().any(|i| i.id == master && i.packet_mode);
        for (from, to, id, packet) in [(m, s, master, packet), (s, m, slave, false)] {
            let data = drain(from.1.as_raw_fd(), packet).map_err(|e| {
                DumpError::sys(from.2, format!("fd {}: its queued data", from.3), e)
            })?;
            if data.is_empty() {
                continue;
            }
            if data.len() > DATA_LIMIT {
                let back =
                    to.1.try_clone()
                        .map_err(|e| DumpError::sys(to.2, "dup", e))?;
                d.drained.0.push((back, data));
                return Err(DumpError::refused(
                    from.2,
                    format!(
                        "fd {}: more than {DATA_LIMIT} bytes queued in a terminal",
                        from.3
                    ),
                ));
            }
            let back =
                to.1.try_clone()
                    .map_err(|e| DumpError::sys(to.2, "dup", e))?;
            d.data.push(TtyDataEntry {
                tty_id: id,
                data: data.clone(),
            });
            d.drained.0.push((back, data));
        }
    }
    Ok(())
}

/// What can be read from terminal end `fd` now, without waiting: as much
/// as TIOCINQ says is there, each read of a master in packet mode
/// starting with a status byte that is not data.
fn drain(fd: RawFd, packet: bool) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    while out.len() <= DATA_LIMIT {
        let n = sys::tty_get(fd, libc::TIOCINQ)?;
        if n <= 0 {
            break;
        }
        let mut buf = vec![0u8; n as usize + usize::from(packet)];
        let got = sys::read(fd, &mut buf)?;
        if got == 0 {
            break;
        }
        let skip = usize::from(packet).min(got);
        out.extend_from_slice(&buf[skip..got]);
    }
    Ok(out)
}
