//! Files: the `files.img` table of every file the tree holds (regular
//! files, pipes, terminals, anonymous-inode descriptors, epoll) with one id
//! per open file description, and each task's descriptors (`fdinfo-*.img`)
//! pointing into it. Dump fills the table here; `install` restores the
//! descriptors, `pipe` handles pipes both ways.

pub mod describe;
pub mod external;
pub mod fown;
pub mod ghost;
pub mod install;
mod linkremap;
pub mod locks;
pub mod memfd;
pub mod notify;
pub mod nsfile;
pub mod pipe;
pub mod shared;
pub mod tty;

use std::collections::HashMap;
use std::fs;

use crate::dump::DumpError;
use crate::images::schema::*;
use crate::proc;
use crate::sys;

pub(crate) use describe::descriptors;
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
    /// Terminals: tty-info.img and tty-data.img records.
    pub(crate) tty: tty::Dumped,
    /// Sockets: what sock_diag said, queues, descriptors in flight.
    pub(crate) sockets: crate::sockets::Dumped,
    /// Deleted files kept as ghosts, and the entries remapped to them.
    pub(crate) ghosts: ghost::Ghosts,
    /// memfd objects (memfd.img), with crest's descriptors of them.
    pub(crate) memfds: memfd::Dumped,
    /// File locks (filelocks.img).
    pub(crate) locks: locks::Locks,
    /// `--evasive-devices`.
    pub(crate) evasive_devices: bool,
    /// `--external` names: files and terminals recorded, not dumped.
    pub(crate) external: Vec<String>,
    /// Where the tree's paths are seen from here: `/proc/ROOT/root` when
    /// the tree has a mount namespace of its own (the paths its
    /// descriptors and mappings show are that namespace's).
    pub(crate) view: Option<String>,
    /// The ids of that namespace's mounts, read once (`check_mount`).
    pub(crate) view_mounts: Option<Vec<u32>>,
    /// Entries of deleted files met by path (mappings, cwd, exe), by
    /// device and inode.
    deleted_ids: HashMap<(u64, u64), u32>,
    /// Ended processes whose /proc directory the tree holds (PROCFS
    /// remaps written).
    dead_pids: Vec<u32>,
}

impl Files {
    /// Appends the entry `make` builds for the next id; returns the id.
    pub(crate) fn add(&mut self, make: impl FnOnce(u32) -> FileEntry) -> u32 {
        let id = self.entries.len() as u32 + 1;
        self.entries.push(make(id));
        id
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
        let meta = fs::metadata(&*self.seen(name)).map_err(|e| DumpError::file(name, e))?;
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
        let id = self.add(|id| reg_entry(id, name, flags, pos, None));
        let (meta, linked) = self.ghosts.add(pid, link, name, id)?;
        if let Some(e) = self.entries.iter_mut().find(|e| e.id == id) {
            *e = reg_entry(id, name, flags, pos, Some(&meta));
        }
        // Still linked elsewhere: remapped to the link made for it, which
        // has a regular entry of its own (one per link).
        if let Some(path) = linked {
            let known = self.ghosts.remaps.iter().find_map(|r| {
                let e = self.entries.iter().find(|e| e.id == r.remap_id)?;
                (r.remap_type == Some(RemapType::Linked as i32)
                    && e.reg.as_ref().is_some_and(|x| x.name == path))
                .then_some(r.remap_id)
            });
            let remap_id = match known {
                Some(r) => r,
                None => self.add(|r| reg_entry(r, &path, 0, 0, Some(&meta))),
            };
            self.ghosts.remaps.push(RemapFilePathEntry {
                orig_id: id,
                remap_id,
                remap_type: Some(RemapType::Linked as i32),
            });
        }
        Ok(id)
    }

    /// A pidfd (`info`: its fdinfo): the pid it names in its process's own pid namespace
    /// (checked against the tree once every process is dumped), or -1
    /// for a process that has ended; its inode tells pidfds of one dead
    /// process apart from another's.
    fn pidfd(&mut self, pid: i32, fd: i32, info: &str, flags: u32) -> Result<u32, DumpError> {
        use std::os::unix::fs::MetadataExt;
        const PIDFD_THREAD: u32 = libc::O_EXCL as u32;
        if flags & PIDFD_THREAD != 0 {
            return Err(DumpError::refused(
                pid,
                format!("fd {fd}: a pidfd of a thread (PIDFD_THREAD), which crest does not dump"),
            ));
        }
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

    /// The entry of `shown`, a path under the /proc directory of process
    /// `dead`, which has ended (`dead_proc_pid`): named without
    /// " (deleted)", with a PROCFS remap to the dead pid (once per pid, as
    /// CRIU writes it), so that a restore holds that pid while the tree
    /// opens it.
    pub(crate) fn dead_proc(&mut self, shown: &str, dead: u32, flags: u32, pos: u64) -> u32 {
        let name = shown.strip_suffix(" (deleted)").unwrap_or(shown);
        let by_path = flags == 0 && pos == 0;
        if let Some(&id) = self.by_path.get(name).filter(|_| by_path) {
            return id;
        }
        let id = self.add(|id| reg_entry(id, name, flags, pos, None));
        if !self.dead_pids.contains(&dead) {
            self.dead_pids.push(dead);
            self.ghosts.remaps.push(RemapFilePathEntry {
                orig_id: id,
                remap_id: dead,
                remap_type: Some(RemapType::Procfs as i32),
            });
        }
        if by_path {
            self.by_path.insert(name.to_string(), id);
        }
        id
    }

    pub(crate) fn reg(&mut self, name: &str, flags: u32, pos: u64) -> Result<u32, DumpError> {
        // Not followed: an O_PATH|O_NOFOLLOW descriptor names a symlink.
        let meta = fs::symlink_metadata(&*self.seen(name)).map_err(|e| DumpError::file(name, e))?;
        Ok(self.add(|id| reg_entry(id, name, flags, pos, Some(&meta))))
    }

    /// Path `name` of the tree as crest reaches it.
    pub(crate) fn seen<'a>(&self, name: &'a str) -> std::borrow::Cow<'a, str> {
        crate::mnt::under(self.view.as_deref(), name)
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
        describe::describe(me, n, self)
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

/// The pid of the ended process whose /proc directory `shown` names (as
/// /proc/`pid`/`link` shows it: the directory itself, deleted, or a file
/// in it), if it is one: on procfs, and no longer there through the
/// task's root (its /proc, its pid numbers).
pub(crate) fn dead_proc_pid(pid: i32, link: &str, shown: &str) -> Option<u32> {
    let name = shown.strip_suffix(" (deleted)").unwrap_or(shown);
    let dead = install::proc_pid_path(name)?;
    let at = std::ffi::CString::new(format!("/proc/{pid}/{link}")).ok()?;
    let on_proc = sys::open_owned(&at, libc::O_PATH | libc::O_CLOEXEC)
        .and_then(|f| sys::fs_type(std::os::fd::AsRawFd::as_raw_fd(&f)))
        .is_ok_and(|t| t == libc::PROC_SUPER_MAGIC);
    let gone = fs::symlink_metadata(format!("/proc/{pid}/root/proc/{dead}")).is_err();
    (on_proc && gone).then_some(dead)
}

/// A regular file entry, with the size and mode of `meta` when given.
pub(crate) fn reg_entry(
    id: u32,
    name: &str,
    flags: u32,
    pos: u64,
    meta: Option<&fs::Metadata>,
) -> FileEntry {
    use std::os::unix::fs::MetadataExt;
    FileEntry {
        r#type: FdTypes::Reg as i32,
        id,
        reg: Some(RegFileEntry {
            id,
            flags,
            pos,
            fown: FownEntry::default(),
            name: name.to_string(),
            size: meta.and_then(|m| m.is_file().then_some(m.len())),
            mode: meta.map(|m| m.mode()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(crate) struct OpenFile {
    pub(crate) pid: i32,
    pub(crate) fd: i32,
    pub(crate) id: u32,
}
