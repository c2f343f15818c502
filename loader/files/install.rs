//! Descriptors, cwd and root: planned in the parent (paths checked, sizes
//! compared as CRIU does), installed in the child before the blob runs.

use std::collections::HashMap;
use std::ffi::CString;

use crate::images::schema::{FdTypes, FileEntry};
use crate::sys;

use crate::restore::images::TaskImages;
use crate::restore::RestoreError;

use super::pipe::PipePlan;

/// Where a restored descriptor comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A regular file (or device node) reopened by path.
    Path { path: CString, flags: i32, pos: u64 },
    /// One of crest's own descriptors (a shell job's terminal).
    Inherit(i32),
    /// One end of a pipe the loader creates before the first fork, so that
    /// every task holding an end inherits the same pipe.
    Pipe { pipe_id: u32, flags: i32 },
    /// An eventfd, signalfd or timerfd, also created by the loader before
    /// the first fork (one object however many tasks hold it).
    Anon(Box<FileEntry>),
    /// An epoll instance, created by the task once every other descriptor
    /// is in place, watching its descriptors by number.
    Epoll(Box<crate::images::schema::EventpollFileEntry>),
    /// A memfd object the loader created (by its shmid), reopened as a file
    /// description of its own.
    Memfd { shmid: u64, flags: i32, pos: u64 },
    /// A socket the loader created before the first fork, by file id.
    Socket(u32),
    /// A FIFO reopened by path; the loader holds it open (refilled with
    /// its data) until every task has opened its own.
    Fifo {
        path: CString,
        flags: i32,
        pipe_id: u32,
    },
}

#[derive(Debug, Clone)]
pub struct FdTarget {
    pub fd: i32,
    pub source: Source,
    pub cloexec: bool,
}

#[derive(Debug, Clone)]
pub struct FdPlan {
    pub targets: Vec<FdTarget>,
    pub exe: Option<CString>,
    /// Number the exe link's descriptor gets (above every target), which
    /// the blob passes to PR_SET_MM_MAP and then closes.
    pub exe_fd: i32,
    pub cwd: CString,
    pub root: CString,
    /// The memfd objects the descriptors refer to.
    pub memfds: Vec<crate::images::schema::MemfdInodeEntry>,
}

/// A files.img entry of a kind whose own message is missing.
fn without_data(what: &str, kind: &str, id: u32) -> RestoreError {
    RestoreError::Inconsistent(format!(
        "{what}: {kind} entry {id} in files.img without its data"
    ))
}

fn cpath(name: &str, what: &str) -> Result<CString, RestoreError> {
    CString::new(name).map_err(|_| {
        RestoreError::Inconsistent(format!("{what}: file name {name:?} has a NUL byte"))
    })
}

/// The dumped size must still be the file's size (CRIU's default check):
/// a changed binary or data file would restore into wrong contents.
pub fn check_size(name: &str, size: Option<u64>, what: &str) -> Result<(), RestoreError> {
    let meta = std::fs::metadata(name)
        .map_err(|e| RestoreError::Inconsistent(format!("{what}: {name}: {e}")))?;
    if let Some(size) = size {
        if meta.is_file() && meta.len() != size {
            return Err(RestoreError::Inconsistent(format!(
                "{what}: {name} is {} bytes now, {size} when dumped",
                meta.len()
            )));
        }
    }
    Ok(())
}

fn reg_name(files: &std::collections::HashMap<u32, FileEntry>, id: u32) -> Option<&str> {
    files.get(&id)?.reg.as_ref().map(|r| r.name.as_str())
}

pub fn plan(task: &TaskImages, shell_job: bool) -> Result<FdPlan, RestoreError> {
    let fdinfo_name = "fdinfo";
    let mut targets = Vec::new();
    let mut memfds = Vec::new();
    for fi in &task.fdinfo {
        let what = format!("fd {}", fi.fd);
        let file = &task.files[&fi.id];
        let kind = FdTypes::try_from(file.r#type).unwrap_or(FdTypes::Und);
        let fd = i32::try_from(fi.fd).map_err(|_| {
            RestoreError::Inconsistent(format!("{fdinfo_name}: fd {} out of range", fi.fd))
        })?;
        let source = match (kind, &file.reg) {
            (FdTypes::Reg, Some(reg)) => {
                check_size(&reg.name, reg.size, &what)?;
                let drop = libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC;
                Source::Path {
                    path: cpath(&reg.name, &what)?,
                    flags: (reg.flags as i32 & !drop) | libc::O_NOCTTY,
                    pos: reg.pos,
                }
            }
            (FdTypes::Pipe, _) => {
                let pipe = file
                    .pipe
                    .as_ref()
                    .ok_or_else(|| without_data(&what, "pipe", fi.id))?;
                Source::Pipe {
                    pipe_id: pipe.pipe_id,
                    flags: pipe.flags as i32,
                }
            }
            (FdTypes::Eventfd | FdTypes::Signalfd | FdTypes::Timerfd, _) => {
                Source::Anon(Box::new(file.clone()))
            }
            (FdTypes::Memfd, _) => {
                let m = file
                    .memfd
                    .as_ref()
                    .ok_or_else(|| without_data(&what, "memfd", fi.id))?;
                let inode =
                    super::memfd::inode_of(&task.files, &task.memfds, u64::from(fi.id), &what)?;
                memfds.push(inode.clone()); // one object per shmid: plan_shmem
                let drop = libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC;
                Source::Memfd {
                    shmid: u64::from(inode.shmid),
                    flags: m.flags as i32 & !drop,
                    pos: m.pos,
                }
            }
            (FdTypes::Fifo, _) => {
                let f = file
                    .fifo
                    .as_ref()
                    .ok_or_else(|| without_data(&what, "FIFO", fi.id))?;
                let name = f
                    .regf_id
                    .and_then(|r| reg_name(&task.files, r))
                    .ok_or_else(|| {
                        RestoreError::Inconsistent(format!(
                            "{what}: FIFO {} names no regular file entry for its path",
                            fi.id
                        ))
                    })?;
                let flags = task.files[&f.regf_id.unwrap_or(0)]
                    .reg
                    .as_ref()
                    .map_or(libc::O_RDONLY, |r| r.flags as i32);
                let drop = libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC;
                Source::Fifo {
                    path: cpath(name, &what)?,
                    flags: (flags & !drop) | libc::O_NOCTTY,
                    pipe_id: f.pipe_id,
                }
            }
            (FdTypes::Unixsk | FdTypes::Inetsk | FdTypes::Netlinksk | FdTypes::Packetsk, _) => {
                Source::Socket(fi.id)
            }
            (FdTypes::Eventpoll, _) => {
                let ep = file
                    .epfd
                    .clone()
                    .ok_or_else(|| without_data(&what, "eventpoll", fi.id))?;
                Source::Epoll(Box::new(ep))
            }
            (FdTypes::Tty, _) if shell_job => {
                let own = (0..3).find(|&f| sys::isatty(f)).ok_or_else(|| {
                    RestoreError::Unsupported(format!(
                        "{what}: a terminal, but crest runs without one to give it (--shell-job)"
                    ))
                })?;
                Source::Inherit(own)
            }
            _ => {
                return Err(RestoreError::Unsupported(format!(
                    "{what}: {kind:?} files (files.img id {}) are not restored yet",
                    fi.id
                )))
            }
        };
        targets.push(FdTarget {
            fd,
            source,
            cloexec: fi.flags & libc::FD_CLOEXEC as u32 != 0,
        });
    }
    targets.sort_by_key(|t| t.fd);
    let exe = match task.mm.exe_file_id {
        0 => None,
        id => {
            let reg = task.files[&id].reg.as_ref().ok_or_else(|| {
                RestoreError::Inconsistent(format!("exe file id {id} is not a regular file"))
            })?;
            check_size(&reg.name, reg.size, "exe")?;
            Some(cpath(&reg.name, "exe")?)
        }
    };
    let exe_fd = targets.last().map_or(3, |t| t.fd + 1).max(3);
    let name = |id, what| {
        reg_name(&task.files, id)
            .ok_or_else(|| RestoreError::Inconsistent(format!("{what} id {id} has no name")))
            .and_then(|n| cpath(n, what))
    };
    Ok(FdPlan {
        targets,
        exe,
        exe_fd,
        cwd: name(task.fs.cwd_id, "cwd")?,
        root: name(task.fs.root_id, "root")?,
        memfds,
    })
}

/// In the child: opens every target above all target numbers, then moves
/// each onto its number, so no open can land on a number still needed.
pub fn install(plan: &FdPlan, shared: &Shared, shmem: &HashMap<u64, i32>) -> Result<(), String> {
    let floor = plan.exe_fd + 1;
    let mut staged = Vec::with_capacity(plan.targets.len());
    let (epolls, targets): (Vec<&FdTarget>, Vec<&FdTarget>) = plan
        .targets
        .iter()
        .partition(|t| matches!(t.source, Source::Epoll(_)));
    for t in &targets {
        let fd = match &t.source {
            Source::Path { path, flags, pos } => {
                let fd = sys::open(path, flags | libc::O_CLOEXEC, 0)
                    .map_err(|e| format!("fd {}: {path:?}: {e}", t.fd))?;
                // A FIFO or a device without positions opens at 0 anyway.
                if *pos != 0 {
                    sys::lseek(fd, *pos).map_err(|e| format!("fd {}: seek to {pos}: {e}", t.fd))?;
                }
                fd
            }
            Source::Inherit(own) => *own,
            Source::Pipe { pipe_id, flags } => {
                let &(r, w) = shared
                    .pipes
                    .get(pipe_id)
                    .ok_or_else(|| format!("fd {}: pipe {pipe_id} was not created", t.fd))?;
                let end = if flags & libc::O_ACCMODE == libc::O_WRONLY {
                    w
                } else {
                    r
                };
                // Status flags belong to the open file, shared by every
                // task holding this end, as they were when dumped.
                sys::set_status_flags(end, flags & (libc::O_NONBLOCK | libc::O_DIRECT))
                    .map_err(|e| format!("fd {}: pipe flags: {e}", t.fd))?;
                end
            }
            Source::Memfd { shmid, flags, pos } => {
                let obj = shmem
                    .get(shmid)
                    .ok_or_else(|| format!("fd {}: memfd {shmid:#x} was not created", t.fd))?;
                // Through /proc/self/fd: a new file description of the same
                // object, with the dumped access mode and flags.
                let path = CString::new(format!("/proc/self/fd/{obj}")).unwrap_or_default();
                let fd = sys::open(&path, flags | libc::O_CLOEXEC, 0)
                    .map_err(|e| format!("fd {}: reopening memfd {shmid:#x}: {e}", t.fd))?;
                sys::lseek(fd, *pos).map_err(|e| format!("fd {}: seek to {pos}: {e}", t.fd))?;
                fd
            }
            Source::Anon(file) => *shared
                .anon
                .get(&file.id)
                .ok_or_else(|| format!("fd {}: file {} was not created", t.fd, file.id))?,
            Source::Fifo { path, flags, .. } => {
                // The loader's own descriptor, inherited, is reader and
                // writer both: this open does not block.
                sys::open(path, flags | libc::O_CLOEXEC, 0)
                    .map_err(|e| format!("fd {}: FIFO {path:?}: {e}", t.fd))?
            }
            Source::Socket(id) => shared
                .sockets
                .get(id)
                .copied()
                .ok_or_else(|| format!("fd {}: socket {id} was not created", t.fd))?,
            // Partitioned out above: epolls are installed last.
            Source::Epoll(_) => return Err(format!("fd {}: epoll staged too early", t.fd)),
        };
        let high = sys::dup_above(fd, floor).map_err(|e| format!("fd {}: dup: {e}", t.fd))?;
        if matches!(
            t.source,
            Source::Path { .. } | Source::Memfd { .. } | Source::Fifo { .. }
        ) {
            sys::close(fd);
        }
        staged.push(high);
    }
    if let Some(exe) = &plan.exe {
        let fd = sys::open(exe, libc::O_RDONLY | libc::O_CLOEXEC, 0)
            .map_err(|e| format!("exe {exe:?}: {e}"))?;
        sys::dup2(fd, plan.exe_fd).map_err(|e| format!("exe fd: {e}"))?;
        if fd != plan.exe_fd {
            sys::close(fd);
        }
    }
    for (t, high) in targets.iter().zip(staged) {
        sys::dup2(high, t.fd).map_err(|e| format!("fd {}: dup2: {e}", t.fd))?;
        sys::close(high);
        sys::set_cloexec(t.fd, t.cloexec).map_err(|e| format!("fd {}: {e}", t.fd))?;
    }
    // Every watched descriptor is at its number now.
    for t in epolls {
        let Source::Epoll(ep) = &t.source else {
            continue;
        };
        let e = sys::epoll_create().map_err(|e| format!("fd {}: epoll_create1: {e}", t.fd))?;
        for w in &ep.tfd {
            sys::epoll_add(e, w.tfd as i32, w.events, w.data)
                .map_err(|err| format!("fd {}: watching fd {}: {err}", t.fd, w.tfd))?;
        }
        if e != t.fd {
            sys::dup2(e, t.fd).map_err(|err| format!("fd {}: dup2: {err}", t.fd))?;
            sys::close(e);
        }
        sys::set_status_flags(t.fd, ep.flags as i32 & libc::O_NONBLOCK)
            .and_then(|_| sys::set_cloexec(t.fd, t.cloexec))
            .map_err(|err| format!("fd {}: {err}", t.fd))?;
    }
    Ok(())
}

/// Closes every descriptor the task must not have: all but the targets
/// and the exe descriptor (which the blob closes itself).
pub fn close_strays(plan: &FdPlan) -> Result<(), String> {
    let mut keep: Vec<u32> = plan.targets.iter().map(|t| t.fd as u32).collect();
    if plan.exe.is_some() {
        keep.push(plan.exe_fd as u32);
    }
    keep.sort_unstable();
    let mut from = 0u32;
    for k in keep {
        if k > from {
            sys::close_range(from, k - 1).map_err(|e| format!("close_range: {e}"))?;
        }
        from = k + 1;
    }
    sys::close_range(from, u32::MAX).map_err(|e| format!("close_range: {e}"))
}

/// What the loader created for the tasks to share: pipes by pipe_id (read
/// end, write end), eventfds, signalfds, timerfds and sockets by file id.
#[derive(Debug, Default)]
pub struct Shared {
    pub pipes: HashMap<u32, (i32, i32)>,
    pub anon: HashMap<u32, i32>,
    pub sockets: HashMap<u32, i32>,
    /// FIFOs by pipe_id: the loader's O_RDWR descriptor.
    pub fifos: HashMap<u32, i32>,
}

/// Creates every pipe with its size and contents, and every eventfd,
/// signalfd, timerfd and socket some task holds, before the first fork.
pub fn create_shared<'a>(
    pipes: &[PipePlan],
    plans: impl Iterator<Item = &'a FdPlan> + Clone,
    sockets: &crate::sockets::create::SocketImages,
    fifos: &[(PipePlan, CString)],
) -> Result<Shared, RestoreError> {
    let mut shared = Shared::default();
    for (p, path) in fifos {
        let fail = |what: &str, e: std::io::Error| {
            RestoreError::sys(0, format!("FIFO {path:?}: {what}"), e)
        };
        // O_RDWR opens at once, reader or writer missing; the tasks'
        // opens then find both.
        let fd = sys::open(path, libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC, 0)
            .map_err(|e| fail("open", e))?;
        shared.fifos.insert(p.pipe_id, fd);
        if let Some(size) = p.size {
            sys::set_pipe_size(fd, size).map_err(|e| fail("F_SETPIPE_SZ", e))?;
        }
        if !p.data.is_empty() {
            sys::write_all(fd, &p.data).map_err(|e| fail("writing its data", e))?;
        }
    }
    let in_flight = sockets.in_flight();
    let flying: Vec<&FileEntry> = in_flight
        .iter()
        .filter_map(|id| sockets.files.get(id))
        .collect();
    let anon = plans
        .clone()
        .flat_map(|p| p.targets.iter())
        .filter_map(|t| match &t.source {
            Source::Anon(file) => Some(&**file),
            _ => None,
        })
        .chain(
            flying
                .iter()
                .copied()
                .filter(|f| f.efd.is_some() || f.sgfd.is_some() || f.tfd.is_some()),
        );
    for file in anon {
        if let std::collections::hash_map::Entry::Vacant(slot) = shared.anon.entry(file.id) {
            slot.insert(create_anon(file)?);
        }
    }
    let fds = &mut shared.pipes;
    for p in pipes {
        let fail = |what: &str, e: std::io::Error| {
            RestoreError::sys(0, format!("pipe {}: {what}", p.pipe_id), e)
        };
        let (r, w) = sys::pipe().map_err(|e| fail("pipe2", e))?;
        fds.insert(p.pipe_id, (r, w));
        if let Some(size) = p.size {
            sys::set_pipe_size(w, size).map_err(|e| fail("F_SETPIPE_SZ", e))?;
        }
        if !p.data.is_empty() {
            sys::write_all(w, &p.data).map_err(|e| fail("writing its data", e))?;
        }
    }
    let mut wanted: Vec<u32> = plans
        .flat_map(|p| p.targets.iter())
        .filter_map(|t| match t.source {
            Source::Socket(id) => Some(id),
            _ => None,
        })
        .collect();
    wanted.extend(
        flying
            .iter()
            .filter(|f| f.usk.is_some() || f.isk.is_some() || f.nlsk.is_some() || f.psk.is_some())
            .map(|f| f.id),
    );
    if !wanted.is_empty() {
        // Regular files in flight are opened for the send, then closed.
        let mut opened = HashMap::new();
        for f in &flying {
            if let Some(reg) = &f.reg {
                let path = cpath(&reg.name, "a file in flight")?;
                let drop = libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC;
                let owned = sys::open_owned(&path, (reg.flags as i32 & !drop) | libc::O_NOCTTY)
                    .map_err(|e| {
                        RestoreError::sys(0, format!("file {} in flight: {}", f.id, reg.name), e)
                    })?;
                sys::lseek(std::os::fd::AsRawFd::as_raw_fd(&owned), reg.pos).map_err(|e| {
                    RestoreError::sys(0, format!("file {} in flight: seek", f.id), e)
                })?;
                opened.insert(f.id, owned);
            }
        }
        let resolve = |id: u32| -> Result<i32, String> {
            if let Some(fd) = opened.get(&id) {
                return Ok(std::os::fd::AsRawFd::as_raw_fd(fd));
            }
            if let Some(&fd) = shared.anon.get(&id) {
                return Ok(fd);
            }
            match sockets.files.get(&id) {
                Some(FileEntry { pipe: Some(p), .. }) => shared
                    .pipes
                    .get(&p.pipe_id)
                    .map(|&(r, w)| {
                        if p.flags as i32 & libc::O_ACCMODE == libc::O_WRONLY {
                            w
                        } else {
                            r
                        }
                    })
                    .ok_or_else(|| format!("pipe {} was not created", p.pipe_id)),
                Some(f) => Err(format!(
                    "a {:?} file cannot be passed yet",
                    FdTypes::try_from(f.r#type).unwrap_or(FdTypes::Und)
                )),
                None => Err("not in files.img".into()),
            }
        };
        let created = crate::sockets::create::create_all(sockets, &wanted, &resolve)?;
        shared.sockets = created
            .into_iter()
            .map(|(id, fd)| (id, std::os::fd::IntoRawFd::into_raw_fd(fd)))
            .collect();
    }
    Ok(shared)
}

/// The loader's copies, closed once the tree has them.
pub fn close_shared(shared: &Shared) {
    for &(r, w) in shared.pipes.values() {
        sys::close(r);
        sys::close(w);
    }
    let owned = shared.anon.values().chain(shared.sockets.values());
    for &fd in owned.chain(shared.fifos.values()) {
        sys::close(fd);
    }
}

/// An eventfd with its counter, a signalfd with its mask, or a timerfd
/// armed with its remaining time and interval and its pending ticks.
fn create_anon(file: &FileEntry) -> Result<i32, RestoreError> {
    let nonblock = |flags: u32| flags as i32 & libc::O_NONBLOCK;
    let fail = |what: &str, e: std::io::Error| {
        RestoreError::sys(0, format!("file id {}: {what}", file.id), e)
    };
    if let Some(e) = &file.efd {
        return sys::eventfd(e.counter, nonblock(e.flags)).map_err(|err| fail("eventfd", err));
    }
    if let Some(s) = &file.sgfd {
        return sys::signalfd(s.sigmask, nonblock(s.flags)).map_err(|err| fail("signalfd", err));
    }
    if let Some(t) = &file.tfd {
        let fd = sys::timerfd(t.clockid as i32, nonblock(t.flags))
            .map_err(|err| fail("timerfd_create", err))?;
        // A periodic timer whose expirations are still unread shows a
        // zero remaining time (it is forwarded on read): it stays armed,
        // next expiring an interval from now.
        let (vsec, vnsec) = if t.vsec == 0 && t.vnsec == 0 {
            (t.isec, t.insec)
        } else {
            (t.vsec, t.vnsec)
        };
        let spec = [t.isec, t.insec, vsec, vnsec];
        sys::timerfd_settime(fd, &spec).map_err(|err| fail("timerfd_settime", err))?;
        if t.ticks > 0 {
            sys::timerfd_set_ticks(fd, t.ticks).map_err(|err| fail("TFD_IOC_SET_TICKS", err))?;
        }
        return Ok(fd);
    }
    Err(RestoreError::Inconsistent(format!(
        "files.img: file {} has no eventfd/signalfd/timerfd data",
        file.id
    )))
}
