//! What the loader creates before the first fork, for the tasks to
//! inherit: pipes, FIFOs held open, eventfds, signalfds, timerfds,
//! sockets, and the open files several tasks share.

use std::collections::HashMap;
use std::ffi::CString;

use crate::images::schema::{FdTypes, FileEntry};
use crate::restore::RestoreError;
use crate::sys;

use super::install::{cpath, FdPlan, FdTarget, Source};
use super::pipe::PipePlan;

/// What the loader created for the tasks to share: pipes by pipe_id (read
/// end, write end), eventfds, signalfds, timerfds and sockets by file id.
#[derive(Debug, Default)]
pub struct Shared {
    pub pipes: HashMap<u32, (i32, i32)>,
    pub anon: HashMap<u32, i32>,
    pub sockets: HashMap<u32, i32>,
    /// FIFOs by pipe_id: the loader's O_RDWR descriptor.
    pub fifos: HashMap<u32, i32>,
    /// Open files by file id, opened here once because several tasks
    /// share them (one offset, one set of flags), and every description
    /// of a pipe end beyond its first (flags of their own).
    pub files: HashMap<u32, i32>,
}

/// The pidfds of processes that had ended when dumped: per dumped inode
/// (one ended process), a helper child is forked, each such pidfd opened
/// on it, and the helper killed and reaped, so that the pidfds name one
/// process that has ended, as they did.
fn dead_pidfds<'a>(
    plans: impl Iterator<Item = &'a FdPlan>,
    shared: &mut Shared,
) -> Result<(), RestoreError> {
    let mut by_ino: HashMap<u32, Vec<(u32, i32)>> = HashMap::new();
    for t in plans.flat_map(|p| p.targets.iter()) {
        if let Source::Pidfd {
            nspid: -1,
            flags,
            ino,
        } = t.source
        {
            let ids = by_ino.entry(ino).or_default();
            if !ids.iter().any(|(id, _)| *id == t.id) {
                ids.push((t.id, flags));
            }
        }
    }
    for (ino, ids) in by_ino {
        let fail = |what: &str, e: std::io::Error| {
            RestoreError::sys(
                0,
                format!("pidfd of an ended process (inode {ino}): {what}"),
                e,
            )
        };
        let helper = sys::spawn_sleeper().map_err(|e| fail("fork", e))?;
        let mut opened = Ok(());
        for (id, flags) in ids {
            match sys::pidfd_open(helper, flags) {
                Ok(fd) => {
                    shared.files.insert(id, fd);
                }
                Err(e) => {
                    opened = Err(fail("pidfd_open", e));
                    break;
                }
            }
        }
        let _ = sys::kill(helper, libc::SIGKILL);
        let _ = sys::waitpid(helper, libc::__WALL);
        opened?;
    }
    Ok(())
}

/// Opens, before the first fork, what must be one open file description
/// in several tasks: a regular file, memfd or FIFO held by more than one
/// task, and each further description of a pipe end (reopened through
/// /proc/self/fd, as the dumped task made it). Tasks inherit them.
pub fn open_shared<'a>(
    plans: impl Iterator<Item = &'a FdPlan> + Clone,
    shared: &mut Shared,
    shmem: &HashMap<u64, i32>,
) -> Result<(), RestoreError> {
    let mut holders: HashMap<u32, usize> = HashMap::new();
    for p in plans.clone() {
        let mut ids: Vec<u32> = p.targets.iter().map(|t| t.id).collect();
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            *holders.entry(id).or_default() += 1;
        }
    }
    dead_pidfds(plans.clone(), shared)?;
    // The first description met of each (pipe, direction) is the pipe's.
    let mut first_of_end: HashMap<(u32, bool), u32> = HashMap::new();
    for t in plans.flat_map(|p| p.targets.iter()) {
        if shared.files.contains_key(&t.id) {
            continue;
        }
        let fd = match &t.source {
            Source::Pipe { pipe_id, flags } => {
                let writer = flags & libc::O_ACCMODE == libc::O_WRONLY;
                if *first_of_end.entry((*pipe_id, writer)).or_insert(t.id) == t.id {
                    continue;
                }
                let Some(&(r, w)) = shared.pipes.get(pipe_id) else {
                    continue; // install names the missing pipe
                };
                let end = if writer { w } else { r };
                let path = CString::new(format!("/proc/self/fd/{end}")).unwrap_or_default();
                let keep = libc::O_ACCMODE | libc::O_NONBLOCK | libc::O_DIRECT;
                sys::open(&path, (flags & keep) | libc::O_CLOEXEC, 0).map_err(|e| {
                    RestoreError::sys(0, format!("pipe {pipe_id}: a second open file of it"), e)
                })?
            }
            Source::Path { .. } | Source::Memfd { .. } | Source::Fifo { .. }
                if holders.get(&t.id).copied().unwrap_or(0) > 1 =>
            {
                super::install::open_description(&t.source, shmem)
                    .map_err(|e| {
                        RestoreError::System(format!("file {} shared by several tasks: {e}", t.id))
                    })?
                    .unwrap_or(-1)
            }
            _ => continue,
        };
        shared.files.insert(t.id, fd);
    }
    Ok(())
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
                let flags = super::install::reopen_flags(reg.flags) | libc::O_NOCTTY;
                let owned = sys::open_owned(&path, flags).map_err(|e| {
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
    for &fd in owned
        .chain(shared.fifos.values())
        .chain(shared.files.values())
    {
        sys::close(fd);
    }
}

/// An eventfd with its counter, a signalfd with its mask, a timerfd
/// armed with its remaining time and interval and its pending ticks, or
/// an inotify or fanotify instance with its watches or marks.
fn create_anon(file: &FileEntry) -> Result<i32, RestoreError> {
    if let Some(fd) = super::notify::create(file)? {
        return Ok(fd);
    }
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

/// The loader's object a descriptor stands for: a pipe end (given its
/// dumped status flags), an eventfd/signalfd/timerfd, a socket, or one of
/// crest's own descriptors.
pub(super) fn inherited(t: &FdTarget, shared: &Shared) -> Result<i32, String> {
    Ok(match &t.source {
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
            let kept = libc::O_NONBLOCK | libc::O_DIRECT | libc::O_ASYNC;
            sys::set_status_flags(end, flags & kept)
                .map_err(|e| format!("fd {}: pipe flags: {e}", t.fd))?;
            end
        }
        Source::Anon(file) => *shared
            .anon
            .get(&file.id)
            .ok_or_else(|| format!("fd {}: file {} was not created", t.fd, file.id))?,
        Source::Socket(id) => shared
            .sockets
            .get(id)
            .copied()
            .ok_or_else(|| format!("fd {}: socket {id} was not created", t.fd))?,
        // Partitioned out: epolls are installed last.
        Source::Epoll(_) => return Err(format!("fd {}: epoll staged too early", t.fd)),
        Source::Path { .. }
        | Source::Memfd { .. }
        | Source::Fifo { .. }
        | Source::Ctty { .. }
        | Source::NsFile { .. } => {
            return Err(format!("fd {}: opened by the task, not inherited", t.fd))
        }
        Source::Tty { index, .. } => {
            return Err(format!("fd {}: pty {index} was not opened", t.fd))
        }
        Source::Pidfd { nspid, .. } if *nspid > 0 => {
            return Err(format!("fd {}: opened by the task, not inherited", t.fd))
        }
        Source::Pidfd { ino, .. } => {
            return Err(format!(
                "fd {}: the pidfd of ended process (inode {ino}) was not made",
                t.fd
            ))
        }
    })
}
