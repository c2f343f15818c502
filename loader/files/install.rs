//! Descriptors, cwd and root: planned in the parent (paths checked, sizes
//! compared as CRIU does), installed in the child before the blob runs.

use std::collections::HashMap;
use std::ffi::CString;

use crate::images::schema::{FdTypes, FileEntry};
use crate::sys;

use crate::restore::images::TaskImages;
use crate::restore::RestoreError;

use super::shared::Shared;

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
    Memfd {
        shmid: u64,
        flags: i32,
        pos: u64,
        /// The open file memfd_create made, not a reopen: one read-write
        /// description per object, the one that does not count as a writer
        /// (a reopen for writing makes exec of the memfd fail, ETXTBSY).
        original: bool,
    },
    /// A socket the loader created before the first fork, by file id.
    Socket(u32),
    /// A pidfd of a task of the tree (`nspid`, opened by the task once
    /// every task exists), or of an ended process (-1: the loader makes
    /// one, with every pidfd of the same `ino`, from a helper it kills).
    Pidfd { nspid: i32, flags: i32, ino: u32 },
    /// An end of a pty pair, opened by the loader before the first fork
    /// (`tty::open_all`), by file id.
    Tty {
        index: u32,
        master: bool,
        path: CString,
        flags: i32,
    },
    /// `/dev/tty`, reopened by the task once its controlling terminal is
    /// in place.
    Ctty { flags: i32 },
    /// A file of one of the task's own namespaces, reopened by the task
    /// through /proc/self/ns.
    NsFile { kind: &'static str, flags: i32 },
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
    /// The files.img id: descriptors with one id share one open file.
    pub id: u32,
    /// Its owner and signal (F_SETOWN_EX, F_SETSIG), when it has them.
    pub fown: Option<crate::images::schema::FownEntry>,
    /// O_ASYNC, which open(2) ignores: set once the owner is.
    pub async_io: bool,
    /// The inode number its file had when dumped, where the image says
    /// (pipes, FIFOs, sockets, memfds): what an epoll watch names it by.
    pub dumped_ino: Option<u64>,
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
    /// The exe descriptors of the tasks sharing this task's table
    /// (`restore::fdt`), which this task opens for them: path, number.
    pub more_exes: Vec<(CString, i32)>,
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

pub(crate) fn cpath(name: &str, what: &str) -> Result<CString, RestoreError> {
    CString::new(name).map_err(|_| {
        RestoreError::Inconsistent(format!("{what}: file name {name:?} has a NUL byte"))
    })
}

/// The pid of a `/proc/PID/...` path.
pub fn proc_pid_path(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("/proc/")?;
    rest.split('/').next()?.parse().ok()
}

/// The open flags to open a dumped file again with: what only creating
/// it meant goes (O_CREAT, O_EXCL, O_TRUNC, and O_TMPFILE, whose file is
/// a ghost by now).
pub(crate) fn reopen_flags(flags: u32) -> i32 {
    let mut drop = libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC;
    if flags as i32 & libc::O_TMPFILE & !libc::O_DIRECTORY != 0 {
        drop |= libc::O_TMPFILE;
    }
    flags as i32 & !drop
}

/// The dumped size must still be the file's size (CRIU's default check):
/// a changed binary or data file would restore into wrong contents.
pub fn check_size(name: &str, size: Option<u64>, what: &str) -> Result<(), RestoreError> {
    // A file of a task of the tree under /proc exists once it is forked;
    // such files have no size to compare.
    if proc_pid_path(name).is_some() {
        return Ok(());
    }
    // Not followed: an O_PATH|O_NOFOLLOW descriptor names a symlink.
    let meta = std::fs::symlink_metadata(&*crate::mnt::restore::seen(name))
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

/// What planning a task's descriptors takes besides its images.
pub struct PlanContext<'a> {
    pub ttys: &'a super::tty::Images,
    /// `--shell-job`.
    pub shell_job: bool,
    /// `--inherit-fd`.
    pub inherit: &'a [super::external::Inherit],
}

pub fn plan(task: &TaskImages, ctx: &PlanContext) -> Result<FdPlan, RestoreError> {
    let (ttys, shell_job) = (ctx.ttys, ctx.shell_job);
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
        let inherited = super::external::inherited(file, ttys, ctx.inherit, &what)?;
        let source = match (kind, &file.reg) {
            _ if inherited.is_some() => Source::Inherit(inherited.unwrap_or(-1)),
            (FdTypes::Reg, Some(reg)) => {
                check_size(&reg.name, reg.size, &what)?;
                Source::Path {
                    path: cpath(&reg.name, &what)?,
                    flags: reopen_flags(reg.flags) | libc::O_NOCTTY,
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
            (
                FdTypes::Eventfd
                | FdTypes::Signalfd
                | FdTypes::Timerfd
                | FdTypes::Inotify
                | FdTypes::Fanotify,
                _,
            ) => Source::Anon(Box::new(file.clone())),
            (FdTypes::Memfd, _) => {
                let m = file
                    .memfd
                    .as_ref()
                    .ok_or_else(|| without_data(&what, "memfd", fi.id))?;
                let inode =
                    super::memfd::inode_of(&task.files, &task.memfds, u64::from(fi.id), &what)?;
                memfds.push(inode.clone()); // one object per shmid: plan_shmem
                                            // The lowest read-write entry of the inode gets the original.
                let rdwr = |f: &FileEntry| {
                    f.memfd.as_ref().is_some_and(|x| {
                        x.inode_id == m.inode_id && x.flags as i32 & libc::O_ACCMODE == libc::O_RDWR
                    })
                };
                let first = task.files.values().filter(|f| rdwr(f)).map(|f| f.id).min();
                Source::Memfd {
                    shmid: u64::from(inode.shmid),
                    flags: reopen_flags(m.flags),
                    pos: m.pos,
                    original: first == Some(fi.id),
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
                Source::Fifo {
                    path: cpath(name, &what)?,
                    flags: reopen_flags(flags as u32) | libc::O_NOCTTY,
                    pipe_id: f.pipe_id,
                }
            }
            (FdTypes::Pidfd, _) => {
                let p = file
                    .pidfd
                    .as_ref()
                    .ok_or_else(|| without_data(&what, "pidfd", fi.id))?;
                Source::Pidfd {
                    nspid: p.nspid,
                    flags: p.flags as i32 & libc::O_NONBLOCK,
                    ino: p.ino,
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
            (FdTypes::Tty, _) => super::tty::source(file, &task.files, ttys, shell_job, &what)?,
            (FdTypes::Ns, _) => {
                let e = file
                    .nsf
                    .as_ref()
                    .ok_or_else(|| without_data(&what, "namespace file", fi.id))?;
                Source::NsFile {
                    kind: super::nsfile::reopen(e, &task.ids, &what)?,
                    flags: e.flags as i32,
                }
            }
            _ => {
                return Err(RestoreError::Unsupported(format!(
                    "{what}: {kind:?} files (files.img id {}) are not restored yet",
                    fi.id
                )))
            }
        };
        let owner = file
            .fifo
            .as_ref()
            .and_then(|f| task.files.get(&f.regf_id?))
            .unwrap_or(file);
        targets.push(FdTarget {
            fd,
            id: fi.id,
            fown: super::fown::of(owner)
                .filter(|f| f.pid != 0 || f.signum != 0)
                .cloned(),
            async_io: super::fown::async_io(owner),
            dumped_ino: dumped_ino(file, &task.memfds),
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
        more_exes: Vec::new(),
        cwd: name(task.fs.cwd_id, "cwd")?,
        root: name(task.fs.root_id, "root")?,
        memfds,
    })
}

/// In the child: opens every target above all target numbers, then moves
/// each onto its number, so no open can land on a number still needed.
pub fn install(plan: &FdPlan, shared: &Shared, shmem: &HashMap<u64, i32>) -> Result<(), String> {
    // Above the exe descriptors too, which are put at their numbers
    // while the others are staged.
    let floor = plan
        .more_exes
        .iter()
        .map(|e| e.1)
        .fold(plan.exe_fd, i32::max)
        + 1;
    let mut staged = Vec::with_capacity(plan.targets.len());
    let (epolls, targets): (Vec<&FdTarget>, Vec<&FdTarget>) = plan
        .targets
        .iter()
        .partition(|t| matches!(t.source, Source::Epoll(_)));
    // The staged copy of each open file met, for descriptors dup'ed from it.
    let mut opened: HashMap<u32, i32> = HashMap::new();
    for t in &targets {
        let high = match shared.files.get(&t.id).or_else(|| opened.get(&t.id)) {
            Some(&fd) => sys::dup_above(fd, floor),
            None => {
                let fd = match open_description(&t.source, shmem)
                    .map_err(|e| format!("fd {}: {e}", t.fd))?
                {
                    Some(fd) => fd,
                    None => super::shared::inherited(t, shared)?,
                };
                let high = sys::dup_above(fd, floor);
                if matches!(
                    t.source,
                    Source::Path { .. }
                        | Source::Memfd { .. }
                        | Source::Fifo { .. }
                        | Source::Pidfd { .. }
                        | Source::Ctty { .. }
                        | Source::NsFile { .. }
                ) {
                    sys::close(fd);
                }
                high
            }
        }
        .map_err(|e| format!("fd {}: dup: {e}", t.fd))?;
        opened.entry(t.id).or_insert(high);
        staged.push(high);
    }
    let exes = plan.exe.iter().map(|e| (e, plan.exe_fd));
    for (exe, at) in exes.chain(plan.more_exes.iter().map(|(e, at)| (e, *at))) {
        let fd = sys::open(exe, libc::O_RDONLY | libc::O_CLOEXEC, 0)
            .map_err(|e| format!("exe {exe:?}: {e}"))?;
        sys::dup2(fd, at).map_err(|e| format!("exe fd: {e}"))?;
        if fd != at {
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
        let raw = sys::epoll_create().map_err(|e| format!("fd {}: epoll_create1: {e}", t.fd))?;
        // Above every number a watch may borrow for a moment.
        let top = ep.tfd.iter().map(|w| w.tfd as i32).max().unwrap_or(0);
        let e = sys::dup_above(raw, floor.max(top + 1))
            .map_err(|err| format!("fd {}: dup: {err}", t.fd))?;
        sys::close(raw);
        for w in &ep.tfd {
            watch(plan, e, w, floor.max(top + 1))
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
    // Every task exists by now: owners can be named.
    for t in &plan.targets {
        if let Some(f) = &t.fown {
            super::fown::restore(t.fd, f).map_err(|e| format!("fd {}: owner: {e}", t.fd))?;
        }
        if t.async_io {
            sys::add_status_flags(t.fd, libc::O_ASYNC)
                .map_err(|e| format!("fd {}: O_ASYNC: {e}", t.fd))?;
        }
    }
    Ok(())
}

/// The inode number of a dumped file, where its entry keeps it.
fn dumped_ino(
    f: &FileEntry,
    memfds: &HashMap<u32, crate::images::schema::MemfdInodeEntry>,
) -> Option<u64> {
    None.or(f.pipe.as_ref().map(|p| u64::from(p.pipe_id)))
        .or(f.fifo.as_ref().map(|p| u64::from(p.pipe_id)))
        .or(f.usk.as_ref().map(|x| u64::from(x.ino)))
        .or(f.isk.as_ref().map(|x| u64::from(x.ino)))
        .or(f.nlsk.as_ref().map(|x| u64::from(x.ino)))
        .or(f
            .memfd
            .as_ref()
            .and_then(|m| memfds.get(&m.inode_id))
            .map(|i| u64::from(i.shmid)))
}

/// Whether target `t` is the file an epoll watch names by inode (and,
/// for a file that keeps its inode, device: the kernel's encoding). A
/// file made anew at restore is known by its dumped inode.
fn is_watched(t: &FdTarget, w: &crate::images::schema::EventpollTfdEntry) -> bool {
    if let Some(ino) = t.dumped_ino {
        return w.inode.is_none_or(|i| i == ino);
    }
    let Ok((dev, ino)) = sys::dev_ino(t.fd) else {
        return false;
    };
    let kdev = ((libc::major(dev) as u64) << 20 | libc::minor(dev) as u64) as u32;
    w.inode.is_none_or(|i| i == ino) && w.dev.is_none_or(|d| d == kdev)
}

/// Adds watch `w` to epoll `e`. A watch is keyed by file and number: its
/// number may have been closed or reused since (the watch lives on while
/// the file is open elsewhere), so the file is put at that number for the
/// moment of the add, whatever is there moved aside above `spare`.
fn watch(
    plan: &FdPlan,
    e: i32,
    w: &crate::images::schema::EventpollTfdEntry,
    spare: i32,
) -> Result<(), String> {
    let n = w.tfd as i32;
    let at_n = plan.targets.iter().find(|t| t.fd == n);
    if at_n.is_some_and(|t| is_watched(t, w)) {
        return sys::epoll_add(e, n, w.events, w.data).map_err(|e| e.to_string());
    }
    let Some(file) = plan.targets.iter().find(|t| t.fd != n && is_watched(t, w)) else {
        return Err(format!(
            "the watched file (inode {:?}) is not held by the task",
            w.inode
        ));
    };
    let saved = match at_n {
        Some(_) => Some(sys::dup_above(n, spare).map_err(|e| e.to_string())?),
        None => None,
    };
    let added = sys::dup2(file.fd, n).and_then(|_| sys::epoll_add(e, n, w.events, w.data));
    match (saved, at_n) {
        (Some(s), Some(t)) => {
            sys::dup2(s, n).map_err(|e| e.to_string())?;
            sys::close(s);
            sys::set_cloexec(n, t.cloexec).map_err(|e| e.to_string())?;
        }
        _ => sys::close(n),
    }
    added.map_err(|e| e.to_string())
}

/// A new open file description for a path, a memfd object or a FIFO,
/// with the dumped flags and offset; None for what the loader created.
pub(super) fn open_description(
    source: &Source,
    shmem: &HashMap<u64, i32>,
) -> Result<Option<i32>, String> {
    Ok(Some(match source {
        Source::Path { path, flags, pos } => {
            // Opened by the loader (shared with another task) while the
            // tree's mount namespace is being built: through it.
            let fd = sys::open(
                &crate::mnt::restore::seen_c(path),
                flags | libc::O_CLOEXEC,
                0,
            )
            .map_err(|e| format!("{path:?}: {e}"))?;
            // A FIFO or a device without positions opens at 0 anyway.
            if *pos != 0 {
                sys::lseek(fd, *pos).map_err(|e| format!("{path:?}: seek to {pos}: {e}"))?;
            }
            fd
        }
        Source::Memfd {
            shmid,
            flags,
            pos,
            original,
        } => {
            let obj = *shmem
                .get(shmid)
                .ok_or_else(|| format!("memfd {shmid:#x} was not created"))?;
            let fd = if *original {
                let fd = sys::dup_above(obj, 3).map_err(|e| format!("memfd {shmid:#x}: {e}"))?;
                let settable = libc::O_APPEND | libc::O_NONBLOCK | libc::O_NOATIME;
                sys::set_status_flags(fd, flags & settable)
                    .map_err(|e| format!("memfd {shmid:#x}: flags: {e}"))?;
                fd
            } else {
                // Through /proc/self/fd: a new file description of the
                // same object, with the dumped access mode and flags.
                let path = CString::new(format!("/proc/self/fd/{obj}")).unwrap_or_default();
                sys::open(&path, flags | libc::O_CLOEXEC, 0)
                    .map_err(|e| format!("reopening memfd {shmid:#x}: {e}"))?
            };
            sys::lseek(fd, *pos).map_err(|e| format!("memfd {shmid:#x}: seek to {pos}: {e}"))?;
            fd
        }
        // The loader's own descriptor, inherited, is reader and writer
        // both: this open does not block.
        Source::Fifo { path, flags, .. } => sys::open(
            &crate::mnt::restore::seen_c(path),
            flags | libc::O_CLOEXEC,
            0,
        )
        .map_err(|e| format!("FIFO {path:?}: {e}"))?,
        Source::Ctty { flags } => {
            let tty = CString::new("/dev/tty").unwrap_or_default();
            sys::open(&tty, reopen_flags(*flags as u32) | libc::O_CLOEXEC, 0)
                .map_err(|e| format!("/dev/tty: {e}"))?
        }
        Source::NsFile { kind, flags } => {
            let path = CString::new(format!("/proc/self/ns/{kind}")).unwrap_or_default();
            let keep = flags & (libc::O_ACCMODE | libc::O_NONBLOCK);
            sys::open(&path, keep | libc::O_CLOEXEC, 0)
                .map_err(|e| format!("/proc/self/ns/{kind}: {e}"))?
        }
        Source::Pidfd { nspid, flags, .. } if *nspid > 0 => {
            sys::pidfd_open(*nspid, *flags).map_err(|e| format!("pidfd_open({nspid}): {e}"))?
        }
        _ => return Ok(None),
    }))
}

/// Closes every descriptor the task must not have: all but the targets
/// and the exe descriptors (which the blobs close themselves).
pub fn close_strays(plan: &FdPlan) -> Result<(), String> {
    let mut keep: Vec<u32> = plan.targets.iter().map(|t| t.fd as u32).collect();
    if plan.exe.is_some() {
        keep.push(plan.exe_fd as u32);
    }
    keep.extend(plan.more_exes.iter().map(|e| e.1 as u32));
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
