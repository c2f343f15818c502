//! One task's restore up to the blob, run in the forked child: session and
//! group, children with their pids, cwd, root and umask, descriptors, the
//! premapped memory filled from the pages file (and a proxied vdso's
//! trampolines), then the blob installed and entered.

use crate::files;
use crate::sys::{self, Forked};

use super::hole::{Reservation, StatusArea, TableWord};
use super::premap::Pass;
use super::tree::fork_with_pid;
use super::{images, premap, RestoreError};
use crate::mem::plan as mem;

/// Everything planned for one task of the tree, computed by the loader
/// before the first fork.
pub(crate) struct TaskPlan {
    pub(crate) task: images::TaskImages,
    pub(crate) mem: mem::MemPlan,
    pub(crate) fds: files::FdPlan,
    /// Resource limits as they will be set (computed once: lowering one
    /// is warned about).
    pub(crate) rlimits: Vec<restorer_blob::Rlimit>,
    pub(crate) args: Vec<u8>,
    /// This task's premap range starts here (`premap_len` bytes).
    pub(crate) premap_at: u64,
    pub(crate) blob_at: u64,
    pub(crate) args_at: u64,
    pub(crate) stack_top: u64,
}

/// The plan index of each task's parent (None for the root, and for a
/// parent that is no live task of the tree).
pub(crate) fn parents(plans: &[TaskPlan]) -> Vec<Option<usize>> {
    let index: std::collections::HashMap<u32, usize> = plans
        .iter()
        .enumerate()
        .map(|(i, p)| (p.task.pstree.pid, i))
        .collect();
    plans
        .iter()
        .map(|p| index.get(&p.task.pstree.ppid).copied())
        .collect()
}

/// The tree being restored, as each forked task sees it.
pub(crate) struct TreeRun<'a> {
    pub(crate) plans: &'a [TaskPlan],
    /// The whole tree in pstree order, zombies included.
    pub(crate) tree: &'a [crate::images::schema::PstreeEntry],
    pub(crate) zombies: &'a [images::Zombie],
    /// The tree's own namespaces (the root was forked into them).
    pub(crate) ns: &'a crate::ns::TreeNs,
    pub(crate) reservation: &'a Reservation,
    pub(crate) status: &'a StatusArea<'a>,
    pub(crate) shared: &'a files::Shared,
    /// Which tasks share a descriptor table.
    pub(crate) tables: &'a super::fdt::Tables,
    /// Each session's controlling terminal, by session id.
    pub(crate) cttys: &'a std::collections::HashMap<u32, files::tty::Ctty>,
    /// shmid -> memfd of each shmem object.
    pub(crate) shmem: &'a std::collections::HashMap<u64, i32>,
    /// The loader stage CREST_FAULT names, failed on purpose here.
    pub(crate) fault: Option<&'static str>,
    /// The cgroups the tasks join, and each task's set (as `plans`).
    pub(crate) cgroups: &'a crate::cgroup::restore::Cgroups,
    pub(crate) cg_sets: &'a [Option<u32>],
    /// What the root does in the tree's mount namespace, if it has one.
    pub(crate) mnt: Option<&'a crate::mnt::restore::Steps>,
    /// crest's /proc (a directory descriptor).
    pub(crate) host_proc: std::os::fd::RawFd,
    /// The tree starts at PREPARE_NAMESPACES, which the root ends (else
    /// at FORKING).
    pub(crate) ns_stage: bool,
    /// `--lazy-pages`: the tasks' end of the socket to the server.
    pub(crate) lazy: Option<std::os::fd::RawFd>,
}

impl TreeRun<'_> {
    /// Runs in the forked task number `i`: never returns. It joins its
    /// session and group, forks its own children (so they inherit both),
    /// restores its memory and descriptors and enters the blob.
    pub(crate) fn task(&self, i: usize) -> ! {
        // Our pid as the loader sees it: /proc is the loader's, and in a
        // new pid namespace getpid() is not.
        let host = sys::readlink_at(self.host_proc, c"self")
            .ok()
            .and_then(|p| p.to_str()?.parse().ok())
            .unwrap_or(sys::getpid() as u32);
        self.status.set_host_pid(i, host);
        self.status.mark(i, restorer_blob::MARK_START);
        match self.prepare(i) {
            Ok(()) => {
                self.status.mark(i, restorer_blob::MARK_ENTER);
                premap::enter(&self.plans[i])
            }
            Err(msg) => {
                self.status.report(i, &msg);
                sys::exit_now(1)
            }
        }
    }

    pub(crate) fn prepare(&self, i: usize) -> Result<(), String> {
        let p = &self.plans[i];
        let t = &p.task;
        let ps = &t.pstree;
        // Before our children and our memory: they are counted there.
        if i == 0 && self.ns.cgroup {
            self.cgroups.enter_ns(self.cg_sets[i])?;
        }
        self.cgroups.join(self.cg_sets[i])?;
        // The root is in the tree's new namespaces: name its UTS one and
        // fill its IPC one before any child is forked into them.
        if i == 0 {
            if let Some(m) = self.mnt {
                m.enter()?;
            }
            if let Some(u) = &self.ns.uts {
                crate::ns::set_uts(u)?;
            }
            self.injected("prepare-namespaces")?;
            if let Some(ipc) = &self.ns.ipc {
                ipc.create()?;
            }
            self.injected("ipc")?;
            // PREPARE_NAMESPACES done: the loader runs the setup-namespaces
            // scripts, then opens FORKING. Should it die meanwhile, we die
            // with it.
            if self.ns_stage {
                let _ = sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as u64, 0, 0, 0);
                self.status.arrive(restorer_blob::TREE_PREPARE_NAMESPACES);
                let _ = sys::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0);
            }
        }
        let ctty = self.cttys.get(&ps.sid).filter(|_| ps.sid == ps.pid);
        if ps.sid == ps.pid {
            sys::setsid().map_err(|e| format!("setsid: {e}"))?;
            // Before any child: they inherit it.
            if let Some(c) = ctty {
                sys::tty_call(c.fd, libc::TIOCSCTTY, 0)
                    .map_err(|e| format!("taking the controlling terminal: {e}"))?;
            }
        } else if ps.pgid == ps.pid {
            sys::setpgid(0, 0).map_err(|e| format!("setpgid: {e}"))?;
        } else if i > 0 {
            join_group(ps.pgid)?;
        }
        // The memory our children take over from us, and what we take
        // over from our parent, before any child is forked.
        let parent = self
            .plans
            .iter()
            .find(|q| q.task.pstree.pid == ps.ppid)
            .map(|q| (q.premap_at, q.mem.premap_len));
        premap::premap(
            p,
            self.reservation,
            self.shmem,
            parent,
            Pass::BeforeFork,
            &|_| {},
            None,
        )?;
        // Children in pstree order (process groups are joined in the
        // order they were made); zombies exit at once and stay unreaped.
        let mut zombies = Vec::new();
        // A group of our children whose leader is gone (it exited, they
        // stayed): a helper with the group's number makes the group, they
        // are put in it, then the helper goes, as in CRIU.
        let mut helpers: Vec<(u32, i32)> = Vec::new();
        for e in self.tree.iter().skip(1).filter(|e| e.ppid == ps.pid) {
            let g = e.pgid;
            // The root's own group may be the caller's (a shell job's).
            let led = self.tree.iter().any(|x| x.pid == g) || g == self.tree[0].pgid;
            if led || helpers.iter().any(|h| h.0 == g) {
                continue;
            }
            match fork_with_pid(g, 0) {
                Ok(Forked::Child) => group_helper(),
                Ok(Forked::Parent(pid)) => helpers.push((g, pid)),
                Err(e) => return Err(format!("group {g}'s helper: {e}")),
            }
        }
        let into_helped = |pid: i32, pgid: u32| {
            if helpers.iter().any(|h| h.0 == pgid) {
                let _ = sys::setpgid(pid, pgid as i32);
            }
        };
        for e in self.tree.iter().skip(1).filter(|e| e.ppid == ps.pid) {
            if let Some(z) = self.zombies.iter().find(|z| z.pid == e.pid) {
                match fork_with_pid(z.pid, 0) {
                    Ok(Forked::Child) => become_zombie(z),
                    Ok(Forked::Parent(pid)) => {
                        lead_group(pid, z.pgid, z.sid);
                        into_helped(pid, z.pgid);
                        zombies.push(z)
                    }
                    Err(e) => return Err(e.to_string()),
                }
                continue;
            }
            let Some(c) = self.plans.iter().position(|p| p.task.pstree.pid == e.pid) else {
                continue;
            };
            let table = if self.tables.shares[c] {
                libc::CLONE_FILES as u64
            } else {
                0
            };
            match fork_with_pid(e.pid, table) {
                Ok(Forked::Child) => self.task(c),
                Ok(Forked::Parent(pid)) => {
                    lead_group(pid, e.pgid, e.sid);
                    into_helped(pid, e.pgid);
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        let made_zombies = !zombies.is_empty();
        for z in zombies {
            collect_zombie(z)?;
        }
        for (g, pid) in helpers {
            let _ = sys::kill(pid, libc::SIGKILL);
            sys::waitpid(pid, libc::__WALL).map_err(|e| format!("group {g}'s helper: {e}"))?;
            sys::take_pending(libc::SIGCHLD);
        }
        if made_zombies {
            self.injected("zombies")?;
        }
        if i + 1 == self.plans.len() {
            self.injected("forking")?;
        }
        // FORKING done: every task exists before any restores itself.
        self.status.arrive(restorer_blob::TREE_FORKING);
        self.status.mark(i, restorer_blob::MARK_FORKED);
        // Every group exists now. The leader's group is the foreground
        // one since TIOCSCTTY, so this raises no SIGTTOU.
        if let Some(c) = ctty.filter(|c| c.pgrp != 0 && c.pgrp != ps.sid) {
            sys::tty_set(c.fd, libc::TIOCSPGRP, c.pgrp as i32)
                .map_err(|e| format!("foreground group {}: {e}", c.pgrp))?;
        }
        sys::umask(t.fs.umask.unwrap_or(0o022));
        let cwd = sys::open(
            &p.fds.cwd,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            0,
        )
        .map_err(|e| format!("cwd {:?}: {e}", p.fds.cwd))?;
        sys::fchdir(cwd).map_err(|e| format!("chdir {:?}: {e}", p.fds.cwd))?;
        sys::close(cwd);
        // Memory before descriptors: the pages file is one of our inherited
        // descriptors, whose number a target descriptor may need.
        let mark = |at| self.status.mark(i, at);
        let hand_over = || match self.lazy {
            Some(link) => super::lazy::hand_over(link, i, self.status.host_pid(i), p),
            None => Ok(()),
        };
        premap::premap(
            p,
            self.reservation,
            self.shmem,
            parent,
            Pass::AfterFork,
            &mark,
            self.lazy
                .map(|_| &hand_over as &dyn Fn() -> Result<(), String>),
        )?;
        // Our copies of the lazy-pages socket go before our descriptors
        // are installed (the server holds what it needs).
        if let Some(link) = self.lazy {
            sys::close(link);
        }
        self.injected("premap")?;
        if self.tables.shares[i] {
            // The owner installs the table's descriptors, once every
            // sharer is done with its own.
            self.status.table_done(TableWord::Sharers);
            self.status.table_wait(TableWord::Owners);
        } else {
            if self.tables.owns[i] {
                self.status.table_wait(TableWord::Sharers);
            }
            files::install(&p.fds, self.shared, self.shmem)?;
            files::close_strays(&p.fds)?;
            if self.tables.owns[i] {
                self.status.table_done(TableWord::Owners);
            }
        }
        self.injected("files")?;
        // Locks once no descriptor is closed any more: closing any of the
        // task's descriptors of a file drops its POSIX locks on it.
        for l in &p.task.locks {
            files::locks::take(l)?;
        }
        super::attrs::apply(&p.task)?;
        // The root last: every path above (files, the cwd, /proc/self) is
        // the loader's, outside a chroot.
        let root = &p.fds.root;
        if root.as_bytes() != b"/" {
            sys::chroot(root).map_err(|e| format!("chroot {root:?}: {e}"))?;
        }
        // The part of the reservation this task does not use.
        premap::release_rest(self.reservation, p.stack_top)?;
        sys::rseq_unregister().map_err(|e| format!("rseq unregister: {e}"))?;
        Ok(())
    }
}

impl TreeRun<'_> {
    /// Fails on purpose when CREST_FAULT names loader stage `stage`.
    fn injected(&self, stage: &str) -> Result<(), String> {
        match self.fault {
            Some(f) if f == stage => Err(format!("{stage}: fault injected by CREST_FAULT")),
            _ => Ok(()),
        }
    }
}

/// In the parent, right after forking `pid`: a child that leads its
/// process group gets it now, so that the group exists for every task
/// forked after it (the child's own setpgid may not have run yet). It
/// does the same itself; whichever comes second changes nothing. (Not a
/// session leader: setsid would then fail.)
fn lead_group(pid: i32, pgid: u32, sid: u32) {
    if pgid == pid as u32 && sid != pid as u32 {
        let _ = sys::setpgid(pid, pid);
    }
}

/// Joins process group `pgid` of our session. Its leader may be a task
/// of another branch of the tree that has not made it yet: EPERM is
/// retried for a while (the group must then appear by itself).
fn join_group(pgid: u32) -> Result<(), String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match sys::setpgid(0, pgid as i32) {
            Ok(()) => return Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::EPERM)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_micros(100))
            }
            Err(e) => return Err(format!("joining process group {pgid}: {e}")),
        }
    }
}

/// The dumped bytes of `[start, start + len)` from the pages file (zeros
/// where a page was not dumped).
pub(crate) fn read_dumped(
    task: &images::TaskImages,
    start: u64,
    len: u64,
) -> Result<Vec<u8>, RestoreError> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; len as usize];
    for r in &task.runs {
        let Some(off) = r.file_off else { continue };
        let (rs, re) = (r.vaddr, r.vaddr + r.nr_pages * crate::images::flags::PAGE);
        let (s, e) = (rs.max(start), re.min(start + len));
        if s < e {
            task.pages
                .read_exact_at(
                    &mut buf[(s - start) as usize..(e - start) as usize],
                    off + (s - rs),
                )
                .map_err(|e| {
                    RestoreError::Inconsistent(format!("{}: {e}", task.pages_path.display()))
                })?;
        }
    }
    Ok(buf)
}

/// A group helper: leads a group of its own until its parent, which
/// puts its children in the group, kills it.
fn group_helper() -> ! {
    if sys::setpgid(0, 0).is_err() {
        sys::exit_now(1);
    }
    sys::sleep_until_killed()
}

/// In a forked zombie: joins its group or session, takes its name, and
/// ends as it ended (exit code, or death by signal without a core dump).
fn become_zombie(z: &images::Zombie) -> ! {
    if z.sid == z.pid {
        let _ = sys::setsid();
    } else if z.pgid == z.pid {
        let _ = sys::setpgid(0, 0);
    } else if join_group(z.pgid).is_err() {
        // Its parent sees it in the wrong group and fails the restore.
        sys::exit_now(1);
    }
    let _ = sys::set_comm(&z.comm);
    let sig = (z.exit_code & 0x7f) as i32;
    if sig != 0 {
        let _ = sys::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        sys::die_of(sig);
    }
    sys::exit_now(((z.exit_code >> 8) & 0xff) as i32)
}

/// In the zombie's parent: waits until the zombie has ended, without
/// reaping it, checks it ended as dumped, and drops the SIGCHLD its end
/// queued (all signals are blocked here; the dumped ones come back later).
fn collect_zombie(z: &images::Zombie) -> Result<(), String> {
    let (code, status) = sys::wait_exited_nowait(z.pid as i32)
        .map_err(|e| format!("zombie {}: waitid: {e}", z.pid))?;
    let sig = (z.exit_code & 0x7f) as i32;
    let want = if sig != 0 {
        (libc::CLD_KILLED, sig)
    } else {
        (libc::CLD_EXITED, ((z.exit_code >> 8) & 0xff) as i32)
    };
    if (code, status) != want {
        return Err(format!(
            "zombie {}: ended with code {code} status {status}, not {} {}",
            z.pid, want.0, want.1
        ));
    }
    // By system call, not /proc: in a new pid namespace /proc (the
    // loader's) names other tasks by these numbers.
    let pgid = sys::getpgid(z.pid as i32).map_err(|e| format!("zombie {}: getpgid: {e}", z.pid))?;
    let sid = sys::getsid(z.pid as i32).map_err(|e| format!("zombie {}: getsid: {e}", z.pid))?;
    if (pgid as u32, sid as u32) != (z.pgid, z.sid) {
        return Err(format!(
            "zombie {}: in group {pgid} of session {sid}, not {} of {}",
            z.pid, z.pgid, z.sid
        ));
    }
    sys::take_pending(libc::SIGCHLD);
    Ok(())
}
