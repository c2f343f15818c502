//! Each descriptor of a task described: which files.img entry it is (a
//! new one unless its open file was met before), of which type, and the
//! locks held through it; epoll watches pointed at the descriptors that
//! are the files they watch.

use std::collections::HashMap;
use std::fs;

use super::{Files, OpenFile};
use crate::dump::DumpError;
use crate::images::schema::*;
use crate::proc;
use crate::sys;

fn is_fifo(path: &str) -> bool {
    use std::os::unix::fs::FileTypeExt;
    path.starts_with('/') && fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

/// Descriptors: regular files and devices reopenable by path; anything
/// else is refused, naming the descriptor.
pub(crate) fn descriptors(
    pid: i32,
    vpid: i32,
    files: &mut Files,
) -> Result<Vec<FdinfoEntry>, DumpError> {
    let mut out: Vec<FdinfoEntry> = Vec::new();
    for fd in proc::fds(pid)? {
        let (id, r#type, cloexec, locks) = describe(pid, fd, files)?;
        if !locks.is_empty() {
            files.locks.note(pid, vpid, fd, id, &locks)?;
        }
        out.push(FdinfoEntry {
            id,
            flags: if cloexec { libc::FD_CLOEXEC as u32 } else { 0 },
            r#type,
            fd: fd as u32,
            ..Default::default()
        });
    }
    Ok(out)
}

/// The files.img entry of descriptor `fd` of `pid` (made now unless the
/// open file was met before): its id, its type, whether the descriptor
/// is close-on-exec, and the locks held through it (fdinfo `lock:`).
pub(super) fn describe(
    pid: i32,
    fd: i32,
    files: &mut Files,
) -> Result<(u32, i32, bool, Vec<String>), DumpError> {
    let link = proc::readlink(pid, &format!("fd/{fd}"))?;
    let info = proc::fdinfo(pid, fd)?;
    let (pos, flags) = (info.pos, info.flags);
    let cloexec = flags & libc::O_CLOEXEC as u32 != 0;
    let pipe = proc::link_inode(&link, "pipe");
    let tty = link.starts_with("/dev/pts/")
        || link.starts_with("/dev/tty")
        || link == "/dev/console"
        || link == "/dev/ptmx";
    let anon = match link.as_str() {
        "anon_inode:[eventfd]" => Some(FdTypes::Eventfd),
        "anon_inode:[signalfd]" => Some(FdTypes::Signalfd),
        "anon_inode:[timerfd]" => Some(FdTypes::Timerfd),
        "anon_inode:[eventpoll]" => Some(FdTypes::Eventpoll),
        "anon_inode:[pidfd]" => Some(FdTypes::Pidfd),
        "anon_inode:inotify" => Some(FdTypes::Inotify),
        "anon_inode:[fanotify]" => Some(FdTypes::Fanotify),
        _ => None,
    };
    let socket = proc::link_inode(&link, "socket");
    let ns = super::nsfile::kind_of(&link);
    let kind = if pipe.is_some() || anon.is_some() || socket.is_some() || tty || ns.is_some() {
        None
    } else if link.starts_with("anon_inode:") {
        Some("an anonymous inode (epoll, io_uring, inotify, ...)")
    } else if !link.starts_with('/') {
        Some("not a file")
    } else {
        None
    };
    if let Some(kind) = kind {
        return Err(DumpError::refused(
            pid,
            format!("fd {fd} is {kind} ({link}), which crest does not dump yet"),
        ));
    }
    // Descriptors sharing one open file (dup'ed, or inherited across
    // fork in the tree) share one files.img entry.
    let shared = files
        .open
        .iter()
        .find(|o| sys::same_file(o.pid, o.fd, pid, fd))
        .map(|o| o.id);
    let status_flags = flags & !(libc::O_CLOEXEC as u32);
    let dead_proc = match link.starts_with("/proc/") {
        true => super::dead_proc_pid(pid, &format!("fd/{fd}"), &link),
        false => None,
    };
    let id = match (shared, pipe) {
        (Some(id), _) => id,
        (None, Some(ino)) => files.pipe(pid, fd, ino, status_flags),
        (None, None) if socket.is_some() => {
            let ino = socket.unwrap_or(0);
            let id = files.entries.len() as u32 + 1;
            let e = crate::sockets::dump_fd(&mut files.sockets, pid, fd, ino, id, status_flags)?;
            files.entries.push(e);
            files.open.push(OpenFile { pid, fd, id });
            files.socket_queue(pid, fd, id)?;
            id
        }
        (None, None) if tty => files.tty(pid, fd, &link, status_flags)?,
        (None, None) if ns.is_some() => {
            files.ns_file(pid, fd, &link, ns.unwrap_or_default(), status_flags)?
        }
        (None, None) if link.starts_with("/memfd:") => {
            files.memfd_fd(pid, fd, &link, status_flags, pos)?
        }
        (None, None) if dead_proc.is_some() => {
            files.dead_proc(&link, dead_proc.unwrap_or(0), status_flags, pos)
        }
        (None, None) if link.ends_with(" (deleted)") => {
            files.deleted(pid, fd, &link, status_flags, pos)?
        }
        (None, None) if is_fifo(&files.seen(&link)) => files.fifo(pid, fd, &link, status_flags)?,
        (None, None) if anon == Some(FdTypes::Pidfd) => {
            files.pidfd(pid, fd, &info.text, status_flags)?
        }
        (None, None) if anon == Some(FdTypes::Eventpoll) => {
            let id = files.epoll(&info.text, status_flags);
            if let Some(ep) = files.entries.last_mut().and_then(|e| e.epfd.as_mut()) {
                epoll_targets(pid, fd, ep)?;
            }
            id
        }
        (None, None) if anon == Some(FdTypes::Inotify) => {
            files.inotify(pid, fd, &info.text, status_flags)?
        }
        (None, None) if anon == Some(FdTypes::Fanotify) => {
            files.fanotify(pid, fd, &info.text, status_flags)?
        }
        (None, None) if anon.is_some() => files.anon(&info.text, status_flags),
        (None, None) => match external(pid, fd, &info.text, &files.external) {
            Some(name) => files.add(|id| {
                let mut e = super::reg_entry(id, &name, status_flags, pos, None);
                if let Some(r) = e.reg.as_mut() {
                    r.ext = Some(true);
                }
                e
            }),
            None => {
                check_mount(files, pid, fd, &link, &info.text)?;
                same_file(pid, fd, &link, &files.seen(&link), files.evasive_devices)?;
                files.reg(&link, status_flags, pos)?
            }
        },
    };
    if shared.is_none() && socket.is_none() {
        files.open.push(OpenFile { pid, fd, id });
    }
    if shared.is_none() {
        // A FIFO's owner is kept in the regular entry of its path.
        let own = files.entries.iter().find(|e| e.id == id);
        let at = own
            .and_then(|e| e.fifo.as_ref())
            .and_then(|f| f.regf_id)
            .unwrap_or(id);
        if let Some(e) = files.entries.iter_mut().find(|e| e.id == at) {
            super::fown::dump(pid, fd, e)?;
        }
    }
    // CRIU finds a descriptor's file by (type, id): the type must be
    // the files.img entry's.
    let r#type = files
        .entries
        .iter()
        .find(|e| e.id == id)
        .map_or(FdTypes::Reg as i32, |e| e.r#type);
    Ok((id, r#type, cloexec, info.locks))
}

/// The `--external` name descriptor `fd` of `pid` matches, if any
/// (`file[MNT_ID:INODE]`, from its fdinfo and inode).
fn external(pid: i32, fd: i32, fdinfo: &str, external: &[String]) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    if external.is_empty() {
        return None;
    }
    let mnt_id: u64 = fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))?
        .trim()
        .parse()
        .ok()?;
    let ino = fs::metadata(format!("/proc/{pid}/fd/{fd}")).ok()?.ino();
    let name = super::external::file_name(mnt_id, ino);
    external.contains(&name).then_some(name)
}

/// The path a descriptor shows must name the file it has open, else the
/// restore would open another (CRIU checks the same); with
/// --evasive-devices a device node of the same device number will do.
/// /proc files are left out: their inodes come and go.
fn same_file(pid: i32, fd: i32, link: &str, seen: &str, evasive: bool) -> Result<(), DumpError> {
    use std::os::unix::fs::MetadataExt;
    if link.starts_with("/proc/") {
        return Ok(());
    }
    let open = fs::metadata(format!("/proc/{pid}/fd/{fd}"));
    let (Ok(open), Ok(named)) = (open, fs::symlink_metadata(seen)) else {
        return Ok(()); // reg() names a missing path
    };
    if open.is_symlink() || named.is_symlink() {
        return Ok(()); // an O_PATH descriptor of a symlink
    }
    if (open.dev(), open.ino()) == (named.dev(), named.ino()) {
        return Ok(());
    }
    let device = |m: &fs::Metadata| {
        let k = m.mode() & libc::S_IFMT;
        k == libc::S_IFCHR || k == libc::S_IFBLK
    };
    if evasive && device(&open) && device(&named) && open.rdev() == named.rdev() {
        return Ok(());
    }
    Err(DumpError::refused(
        pid,
        format!(
            "fd {fd}: {link} now names another file than the one open{}",
            if device(&open) {
                " (--evasive-devices takes any node of the same device)"
            } else {
                ""
            }
        ),
    ))
}

/// Points each watch of epoll `efd` at a descriptor of the task that is
/// the watched file: a watch is keyed by file and number, and the number
/// may have been closed or reused since the watch was added. As CRIU, a
/// watch whose number no longer names its file gets the number of one
/// that does (found with KCMP_EPOLL_TFD); one the task no longer holds at
/// all is refused by name.
fn epoll_targets(pid: i32, efd: i32, ep: &mut EventpollFileEntry) -> Result<(), DumpError> {
    use std::os::unix::fs::MetadataExt;
    let mut by_ino: Option<HashMap<u64, Vec<i32>>> = None;
    let mut seen: HashMap<u32, u32> = HashMap::new();
    for w in &mut ep.tfd {
        // The kernel counts watches of one number in the order fdinfo
        // lists them.
        let toff = seen.entry(w.tfd).or_default();
        let nth = *toff;
        *toff += 1;
        if sys::same_epoll_target(pid, w.tfd as i32, efd, w.tfd, nth) {
            continue;
        }
        let fds = by_ino.get_or_insert_with(|| {
            let mut m: HashMap<u64, Vec<i32>> = HashMap::new();
            for fd in proc::fds(pid).unwrap_or_default() {
                if let Ok(meta) = fs::metadata(format!("/proc/{pid}/fd/{fd}")) {
                    m.entry(meta.ino()).or_default().push(fd);
                }
            }
            m
        });
        let candidates = w
            .inode
            .and_then(|i| fds.get(&i))
            .cloned()
            .unwrap_or_default();
        match candidates
            .into_iter()
            .find(|&m| sys::same_epoll_target(pid, m, efd, w.tfd, nth))
        {
            Some(m) => w.tfd = m as u32,
            None => {
                return Err(DumpError::refused(
                    pid,
                    format!(
                        "fd {efd}: an epoll watch (fd {}, inode {:?}) of a file the task no longer holds",
                        w.tfd, w.inode
                    ),
                ))
            }
        }
    }
    Ok(())
}

/// In a tree with a mount namespace of its own: refuses descriptor
/// `fd` (`link`, fdinfo `fdinfo`) of a file on a mount outside that
/// namespace (inherited from before the namespace was made, say)
/// when its path names another file in the namespace.
fn check_mount(
    files: &mut Files,
    pid: i32,
    fd: i32,
    link: &str,
    fdinfo: &str,
) -> Result<(), DumpError> {
    if files.view.is_none() {
        return Ok(());
    }
    let mnt_id: Option<u32> = fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))
        .and_then(|v| v.trim().parse().ok());
    // Every task shares the root's mount namespace: its mounts once.
    if files.view_mounts.is_none() {
        let mounts = crate::proc::mountinfo(&pid.to_string())
            .map_err(|e| DumpError::sys(pid, "reading its mountinfo", e))?;
        files.view_mounts = Some(mounts.iter().map(|x| x.id).collect());
    }
    let ids = files.view_mounts.as_deref().unwrap_or(&[]);
    let Some(m) = mnt_id.filter(|m| !ids.contains(m)) else {
        return Ok(());
    };
    // Still the file the path names in the namespace (a mount of the
    // same file system there, as after unshare(CLONE_NEWNS)): fine.
    use std::os::unix::fs::MetadataExt;
    let open = fs::metadata(format!("/proc/{pid}/fd/{fd}"));
    let named = fs::metadata(&*files.seen(link));
    match (open, named) {
        (Ok(a), Ok(b)) if (a.dev(), a.ino()) == (b.dev(), b.ino()) => Ok(()),
        _ => Err(DumpError::refused(
            pid,
            format!(
                "fd {fd}: {link} is on mount {m}, which is not in its mount namespace, and \
                 the path names another file there"
            ),
        )),
    }
}
