//! Files: the `files.img` table of every file the tree holds (regular
//! files, pipes, terminals, anonymous-inode descriptors, epoll) with one id
//! per open file description, and each task's descriptors (`fdinfo-*.img`)
//! pointing into it. Dump fills the table here; `install` restores the
//! descriptors, `pipe` handles pipes both ways.

pub mod fown;
pub mod ghost;
pub mod install;
pub mod locks;
pub mod memfd;
pub mod pipe;
pub mod shared;

use std::collections::HashMap;
use std::fs;

use crate::dump::DumpError;
use crate::images::schema::*;
use crate::proc;
use crate::sys;

pub use install::*;
use pipe::PipeEnd;
pub use shared::*;

/// files.img entries and their ids.
#[derive(Default)]
pub(crate) struct Files {
    pub(crate) entries: Vec<FileEntry>,
    pub(crate) by_path: HashMap<String, u32>,
    /// One descriptor of every open file met, to find the others sharing it.
    pub(crate) open: Vec<OpenFile>,
    /// Every pipe end met.
    pub(crate) pipes: Vec<PipeEnd>,
    /// Every FIFO descriptor met (its inode is the FIFO's pipe_id).
    pub(crate) fifos: Vec<PipeEnd>,
    /// tty-info.img records, one per terminal device.
    pub(crate) ttys: Vec<TtyInfoEntry>,
    /// Sockets: what sock_diag said, queues, descriptors in flight.
    pub(crate) sockets: crate::sockets::Dumped,
    /// Deleted files kept as ghosts, and the entries remapped to them.
    pub(crate) ghosts: ghost::Ghosts,
    /// memfd objects (memfd.img), with crest's descriptors of them.
    pub(crate) memfds: memfd::Dumped,
    /// File locks (filelocks.img).
    pub(crate) locks: locks::Locks,
    /// Entries of deleted files met by path (mappings, cwd, exe), by
    /// device and inode.
    deleted_ids: HashMap<(u64, u64), u32>,
}

impl Files {
    /// Appends the entry `make` builds for the next id; returns the id.
    pub(crate) fn add(&mut self, make: impl FnOnce(u32) -> FileEntry) -> u32 {
        let id = self.entries.len() as u32 + 1;
        self.entries.push(make(id));
        id
    }

    /// A terminal of the caller's (shell job): a TTY entry naming its
    /// device in tty-info.img.
    pub(crate) fn tty(&mut self, name: &str, flags: u32) -> Result<u32, DumpError> {
        use std::os::unix::fs::MetadataExt;
        let meta = fs::metadata(name).map_err(|e| DumpError::file(name, e))?;
        let rdev = meta.rdev() as u32;
        let info_id = match self.ttys.iter().find(|t| t.rdev == rdev) {
            Some(t) => t.id,
            None => {
                let index = name.strip_prefix("/dev/pts/").and_then(|n| n.parse().ok());
                let id = self.ttys.len() as u32 + 1;
                self.ttys.push(TtyInfoEntry {
                    id,
                    r#type: if index.is_some() {
                        TtyType::Pty
                    } else {
                        TtyType::Vt
                    } as i32,
                    rdev,
                    pty: index.map(|index| TtyPtyEntry { index }),
                    ..Default::default()
                });
                id
            }
        };
        Ok(self.add(|id| FileEntry {
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
        }))
    }

    /// An epoll instance and the descriptors it watches, from its fdinfo:
    /// `tfd: FD events: HEX data: HEX pos:N ino:HEX sdev:HEX` lines.
    pub(crate) fn epoll(&mut self, fdinfo: &str, flags: u32) -> u32 {
        let id = self.entries.len() as u32 + 1;
        let mut tfd = Vec::new();
        for line in fdinfo.lines().filter(|l| l.starts_with("tfd:")) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let after = |key: &str| {
                fields
                    .iter()
                    .position(|w| *w == key)
                    .and_then(|i| fields.get(i + 1))
                    .copied()
            };
            let inline = |key: &str| fields.iter().find_map(|w| w.strip_prefix(key));
            let (Some(fd), Some(events), Some(data)) =
                (after("tfd:"), after("events:"), after("data:"))
            else {
                continue;
            };
            tfd.push(EventpollTfdEntry {
                id,
                tfd: fd.parse().unwrap_or(0),
                events: u32::from_str_radix(events, 16).unwrap_or(0),
                data: u64::from_str_radix(data, 16).unwrap_or(0),
                dev: inline("sdev:").and_then(|v| u32::from_str_radix(v, 16).ok()),
                inode: inline("ino:").and_then(|v| u64::from_str_radix(v, 16).ok()),
                pos: inline("pos:").and_then(|v| v.parse().ok()),
            });
        }
        self.entries.push(FileEntry {
            r#type: FdTypes::Eventpoll as i32,
            id,
            epfd: Some(EventpollFileEntry {
                id,
                flags,
                fown: FownEntry::default(),
                tfd,
            }),
            ..Default::default()
        });
        id
    }

    /// An eventfd, signalfd or timerfd, from its fdinfo text.
    pub(crate) fn anon(&mut self, fdinfo: &str, flags: u32) -> u32 {
        let field = |key: &str| {
            fdinfo
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        // "(sec, nsec)"
        let pair = |key: &str| -> (u64, u64) {
            let v = field(key);
            let mut n = v
                .trim_matches(|c| c == '(' || c == ')')
                .split(',')
                .map(|x| x.trim().parse::<u64>().unwrap_or(0));
            (n.next().unwrap_or(0), n.next().unwrap_or(0))
        };
        let id = self.entries.len() as u32 + 1;
        let mut e = FileEntry {
            id,
            ..Default::default()
        };
        if fdinfo.contains("eventfd-count:") {
            e.r#type = FdTypes::Eventfd as i32;
            e.efd = Some(EventfdFileEntry {
                id,
                flags,
                fown: FownEntry::default(),
                counter: u64::from_str_radix(&field("eventfd-count:"), 16).unwrap_or(0),
            });
        } else if fdinfo.contains("clockid:") {
            let (vsec, vnsec) = pair("it_value:");
            let (isec, insec) = pair("it_interval:");
            e.r#type = FdTypes::Timerfd as i32;
            e.tfd = Some(TimerfdEntry {
                id,
                flags,
                fown: FownEntry::default(),
                clockid: field("clockid:").parse().unwrap_or(0),
                ticks: field("ticks:").parse().unwrap_or(0),
                settime_flags: u32::from_str_radix(&field("settime flags:"), 8).unwrap_or(0),
                vsec,
                vnsec,
                isec,
                insec,
            });
        } else {
            e.r#type = FdTypes::Signalfd as i32;
            e.sgfd = Some(SignalfdEntry {
                id,
                flags,
                fown: FownEntry::default(),
                sigmask: u64::from_str_radix(&field("sigmask:"), 16).unwrap_or(0),
            });
        }
        self.entries.push(e);
        id
    }

    pub(crate) fn pipe(&mut self, pid: i32, fd: i32, ino: u32, flags: u32) -> u32 {
        let id = self.add(|id| FileEntry {
            r#type: FdTypes::Pipe as i32,
            id,
            pipe: Some(PipeEntry {
                id,
                pipe_id: ino,
                flags,
                fown: FownEntry::default(),
            }),
            ..Default::default()
        });
        self.pipes.push(PipeEnd {
            pid,
            fd,
            ino,
            flags,
        });
        id
    }

    /// A FIFO opened by path: a FIFO entry for the descriptor and a
    /// regular one for its path (`regf_id`), as CRIU writes them.
    pub(crate) fn fifo(
        &mut self,
        pid: i32,
        fd: i32,
        name: &str,
        flags: u32,
    ) -> Result<u32, DumpError> {
        use std::os::unix::fs::MetadataExt;
        let meta = fs::metadata(name).map_err(|e| DumpError::file(name, e))?;
        let regf = self.reg(name, flags, 0)?;
        Ok(self.fifo_of(pid, fd, regf, meta.ino() as u32, flags))
    }

    /// The FIFO entry of descriptor `fd`, whose path is entry `regf`.
    fn fifo_of(&mut self, pid: i32, fd: i32, regf: u32, ino: u32, flags: u32) -> u32 {
        let id = self.add(|id| FileEntry {
            r#type: FdTypes::Fifo as i32,
            id,
            fifo: Some(FifoEntry {
                id,
                pipe_id: ino,
                regf_id: Some(regf),
            }),
            ..Default::default()
        });
        self.fifos.push(PipeEnd {
            pid,
            fd,
            ino,
            flags,
        });
        id
    }

    /// A descriptor of a deleted file (`link`, as /proc shows it): a
    /// regular entry for its old path remapped to a ghost, and for a FIFO
    /// the FIFO entry on top.
    fn deleted(
        &mut self,
        pid: i32,
        fd: i32,
        link: &str,
        flags: u32,
        pos: u64,
    ) -> Result<u32, DumpError> {
        use std::os::unix::fs::MetadataExt;
        let name = link.strip_suffix(" (deleted)").unwrap_or(link);
        let id = self.ghost_reg(pid, &format!("fd/{fd}"), name, flags, pos)?;
        let fifo = self
            .entries
            .last()
            .and_then(|e| e.reg.as_ref())
            .and_then(|r| r.mode);
        if fifo.is_some_and(|m| m & libc::S_IFMT == libc::S_IFIFO) {
            let meta = fs::metadata(format!("/proc/{pid}/fd/{fd}"))
                .map_err(|e| DumpError::file(format!("/proc/{pid}/fd/{fd}"), e))?;
            return Ok(self.fifo_of(pid, fd, id, meta.ino() as u32, flags));
        }
        Ok(id)
    }

    /// A regular entry named `name` for the deleted file behind
    /// /proc/PID/`link`, remapped to its ghost.
    fn ghost_reg(
        &mut self,
        pid: i32,
        link: &str,
        name: &str,
        flags: u32,
        pos: u64,
    ) -> Result<u32, DumpError> {
        use std::os::unix::fs::MetadataExt;
        let id = self.add(|id| FileEntry {
            r#type: FdTypes::Reg as i32,
            id,
            reg: Some(RegFileEntry {
                id,
                flags,
                pos,
                fown: FownEntry::default(),
                name: name.to_string(),
                ..Default::default()
            }),
            ..Default::default()
        });
        let meta = self.ghosts.add(pid, link, name, id)?;
        if let Some(reg) = self.entries.last_mut().and_then(|e| e.reg.as_mut()) {
            reg.size = meta.is_file().then_some(meta.len());
            reg.mode = Some(meta.mode());
        }
        Ok(id)
    }

    /// A pidfd: the pid it names in its process's own pid namespace
    /// (checked against the tree once every process is dumped), or -1
    /// for a process that has ended; its inode tells pidfds of one dead
    /// process apart from another's.
    fn pidfd(&mut self, pid: i32, fd: i32, flags: u32) -> Result<u32, DumpError> {
        use std::os::unix::fs::MetadataExt;
        const PIDFD_THREAD: u32 = libc::O_EXCL as u32;
        if flags & PIDFD_THREAD != 0 {
            return Err(DumpError::refused(
                pid,
                format!("fd {fd}: a pidfd of a thread (PIDFD_THREAD), which crest does not dump"),
            ));
        }
        let info = proc::read(pid, &format!("fdinfo/{fd}"))?;
        let field = |key: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(key))
                .map(str::trim)
        };
        let target: i32 = field("Pid:").and_then(|v| v.parse().ok()).unwrap_or(-1);
        let nspid = match target {
            -1 => -1,
            // Another pid namespace's process it cannot see: refused.
            0 => {
                return Err(DumpError::refused(
                    pid,
                    format!("fd {fd}: a pidfd of a process outside the tree's pid namespace"),
                ))
            }
            _ => field("NSpid:")
                .and_then(|v| v.split_whitespace().last()?.parse().ok())
                .unwrap_or(target),
        };
        let at = format!("/proc/{pid}/fd/{fd}");
        let ino = fs::metadata(&at)
            .map_err(|e| DumpError::file(&at, e))?
            .ino();
        Ok(self.add(|id| FileEntry {
            r#type: FdTypes::Pidfd as i32,
            id,
            pidfd: Some(PidfdEntry {
                id,
                ino: ino as u32,
                flags: flags & !(libc::O_RDWR as u32),
                nspid,
                fown: FownEntry::default(),
            }),
            ..Default::default()
        }))
    }

    /// A MEMFD entry for descriptor `fd`, a memfd shown as `link`.
    fn memfd_fd(
        &mut self,
        pid: i32,
        fd: i32,
        link: &str,
        flags: u32,
        pos: u64,
    ) -> Result<u32, DumpError> {
        let inode_id = self.memfds.inode(pid, &format!("fd/{fd}"), link)?;
        Ok(self.memfd_entry(inode_id, flags, pos))
    }

    fn memfd_entry(&mut self, inode_id: u64, flags: u32, pos: u64) -> u32 {
        self.add(|id| FileEntry {
            r#type: FdTypes::Memfd as i32,
            id,
            memfd: Some(MemfdFileEntry {
                id,
                flags,
                pos,
                fown: FownEntry::default(),
                inode_id: inode_id as u32,
            }),
            ..Default::default()
        })
    }

    /// The MEMFD entry mappings of the memfd behind /proc/PID/`link`
    /// name (one per object), as CRIU writes them.
    pub(crate) fn memfd_map_id(
        &mut self,
        pid: i32,
        link: &str,
        shown: &str,
    ) -> Result<u32, DumpError> {
        let inode_id = self.memfds.inode(pid, link, shown)?;
        if let Some(id) = self.memfds.map_id(inode_id) {
            return Ok(id);
        }
        let id = self.memfd_entry(inode_id, 0, 0);
        self.memfds.set_map_id(inode_id, id);
        Ok(id)
    }

    /// One entry per deleted file met by path (a mapping, the cwd, the
    /// exe): `shown` as /proc shows it, behind /proc/PID/`link`.
    pub(crate) fn deleted_path_id(
        &mut self,
        pid: i32,
        link: &str,
        shown: &str,
    ) -> Result<u32, DumpError> {
        use std::os::unix::fs::MetadataExt;
        let at = format!("/proc/{pid}/{link}");
        let meta = fs::metadata(&at).map_err(|e| DumpError::file(&at, e))?;
        if let Some(&id) = self.deleted_ids.get(&(meta.dev(), meta.ino())) {
            return Ok(id);
        }
        let name = shown.strip_suffix(" (deleted)").unwrap_or(shown);
        let id = self.ghost_reg(pid, link, name, 0, 0)?;
        self.deleted_ids.insert((meta.dev(), meta.ino()), id);
        Ok(id)
    }

    pub(crate) fn reg(&mut self, name: &str, flags: u32, pos: u64) -> Result<u32, DumpError> {
        // Not followed: an O_PATH|O_NOFOLLOW descriptor names a symlink.
        let meta = fs::symlink_metadata(name).map_err(|e| DumpError::file(name, e))?;
        use std::os::unix::fs::MetadataExt;
        Ok(self.add(|id| FileEntry {
            r#type: FdTypes::Reg as i32,
            id,
            reg: Some(RegFileEntry {
                id,
                flags,
                pos,
                fown: FownEntry::default(),
                name: name.to_string(),
                size: meta.is_file().then_some(meta.len()),
                mode: Some(meta.mode()),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    /// The receive queue of unix socket `id` (descriptor `fd` of `pid`)
    /// into sk-queues.img; descriptors in flight in it get their own
    /// entries, described from crest's copies.
    fn socket_queue(&mut self, pid: i32, fd: i32, id: u32) -> Result<(), DumpError> {
        use crate::images::schema::{ScmEntry, SkPacketEntry};
        let Some(usk) = self.entries.last().and_then(|e| e.usk.as_ref()) else {
            return Ok(());
        };
        if usk.state == crate::sockets::unix::TCP_LISTEN || !self.sockets.queued(usk.ino) {
            return Ok(());
        }
        let sock = sys::steal_fd(pid, fd)
            .map_err(|e| DumpError::sys(pid, format!("fd {fd}: pidfd_getfd"), e))?;
        let packets =
            crate::sockets::queue::peek(std::os::fd::AsRawFd::as_raw_fd(&sock)).map_err(|why| {
                DumpError::refused(pid, format!("fd {fd}: the socket's queue: {why}"))
            })?;
        let me = sys::getpid();
        for p in packets {
            let mut rights = Vec::new();
            for f in p.fds {
                let n = std::os::fd::AsRawFd::as_raw_fd(&f);
                self.sockets.in_flight.push(f);
                rights.push(self.in_flight(me, n, pid, fd)?);
            }
            let entry = SkPacketEntry {
                id_for: id,
                length: p.data.len() as u32,
                scm: if rights.is_empty() {
                    Vec::new()
                } else {
                    vec![ScmEntry {
                        r#type: libc::SCM_RIGHTS as u32,
                        rights,
                    }]
                },
            };
            self.sockets.queues.push((entry, p.data));
        }
        // As CRIU writes them: the files in flight before the socket whose
        // queue holds them (CRIU's restore does not refill it otherwise).
        if let Some(at) = self.entries.iter().position(|e| e.id == id) {
            let e = self.entries.remove(at);
            self.entries.push(e);
        }
        Ok(())
    }

    /// The files.img id of descriptor `n` of crest, in flight in a queue
    /// of `pid`'s fd `fd`: the task's open file when it holds it too, else
    /// an entry of its own (no fdinfo refers to it; the queue does).
    fn in_flight(&mut self, me: i32, n: i32, pid: i32, fd: i32) -> Result<u32, DumpError> {
        let link = proc::readlink(me, &format!("fd/{n}")).unwrap_or_default();
        describe(me, n, self, false)
            .map(|(id, _, _, _)| id)
            .map_err(|e| {
                DumpError::refused(
                    pid,
                    format!("fd {fd}: a descriptor in flight in its queue ({link}): {e}"),
                )
            })
    }

    /// One id per path for mapped files, the exe, cwd and root.
    pub(crate) fn path_id(&mut self, name: &str) -> Result<u32, DumpError> {
        if let Some(&id) = self.by_path.get(name) {
            return Ok(id);
        }
        let id = self.reg(name, 0, 0)?;
        self.by_path.insert(name.to_string(), id);
        Ok(id)
    }
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

pub(crate) struct OpenFile {
    pub(crate) pid: i32,
    pub(crate) fd: i32,
    pub(crate) id: u32,
}

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
    shell_job: bool,
) -> Result<Vec<FdinfoEntry>, DumpError> {
    let mut out: Vec<FdinfoEntry> = Vec::new();
    for fd in proc::fds(pid)? {
        let (id, r#type, cloexec, locks) = describe(pid, fd, files, shell_job)?;
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
fn describe(
    pid: i32,
    fd: i32,
    files: &mut Files,
    shell_job: bool,
) -> Result<(u32, i32, bool, Vec<String>), DumpError> {
    let link = proc::readlink(pid, &format!("fd/{fd}"))?;
    let (pos, flags, lock_lines) = proc::fdinfo(pid, fd)?;
    let cloexec = flags & libc::O_CLOEXEC as u32 != 0;
    let pipe = proc::link_inode(&link, "pipe");
    let tty =
        link.starts_with("/dev/pts/") || link.starts_with("/dev/tty") || link == "/dev/console";
    let anon = match link.as_str() {
        "anon_inode:[eventfd]" => Some(FdTypes::Eventfd),
        "anon_inode:[signalfd]" => Some(FdTypes::Signalfd),
        "anon_inode:[timerfd]" => Some(FdTypes::Timerfd),
        "anon_inode:[eventpoll]" => Some(FdTypes::Eventpoll),
        "anon_inode:[pidfd]" => Some(FdTypes::Pidfd),
        _ => None,
    };
    let socket = proc::link_inode(&link, "socket");
    let kind = if pipe.is_some() || anon.is_some() || socket.is_some() || (tty && shell_job) {
        None
    } else if link.starts_with("anon_inode:") {
        Some("an anonymous inode (epoll, io_uring, inotify, ...)")
    } else if tty {
        Some("a terminal (dump with --shell-job to hand it over to the restoring shell)")
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
        (None, None) if tty => files.tty(&link, status_flags)?,
        (None, None) if link.starts_with("/memfd:") => {
            files.memfd_fd(pid, fd, &link, status_flags, pos)?
        }
        (None, None) if link.ends_with(" (deleted)") => {
            files.deleted(pid, fd, &link, status_flags, pos)?
        }
        (None, None) if is_fifo(&link) => files.fifo(pid, fd, &link, status_flags)?,
        (None, None) if anon == Some(FdTypes::Pidfd) => files.pidfd(pid, fd, status_flags)?,
        (None, None) if anon == Some(FdTypes::Eventpoll) => {
            let id = files.epoll(&proc::read(pid, &format!("fdinfo/{fd}"))?, status_flags);
            if let Some(ep) = files.entries.last_mut().and_then(|e| e.epfd.as_mut()) {
                epoll_targets(pid, fd, ep)?;
            }
            id
        }
        (None, None) if anon.is_some() => {
            files.anon(&proc::read(pid, &format!("fdinfo/{fd}"))?, status_flags)
        }
        (None, None) => files.reg(&link, status_flags, pos)?,
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
            fown::dump(pid, fd, e)?;
        }
    }
    // CRIU finds a descriptor's file by (type, id): the type must be
    // the files.img entry's.
    let r#type = files
        .entries
        .iter()
        .find(|e| e.id == id)
        .map_or(FdTypes::Reg as i32, |e| e.r#type);
    Ok((id, r#type, cloexec, lock_lines))
}
