//! The process tree (`pstree.img`): at dump, found through /proc and
//! seized process by process until it stops growing; at restore, checked
//! as a whole before any task is created.

use crate::ptrace::Tracee;
use std::path::Path;

use crate::dump::DumpError;
use crate::images::schema::PstreeEntry;
use crate::proc;
use crate::restore::images::{TaskImages, Zombie};
use crate::restore::RestoreError;

/// One process of the dumped tree, stopped (its threads seized), or a
/// zombie (nothing to seize: it only has its exit status).
pub(crate) struct Process {
    pub(crate) pid: i32,
    /// The parent's pid in the tree's pid namespace (0 for the root),
    /// once the tree is seized.
    pub(crate) ppid: u32,
    /// Pid, process group, session and thread ids as the tree's own pid
    /// namespace numbers them (the images' numbers; ours outside one).
    pub(crate) vpid: u32,
    pub(crate) vpgid: u32,
    pub(crate) vsid: u32,
    pub(crate) vtids: Vec<u32>,
    /// It was stopped (SIGSTOP, job control) before we seized it.
    pub(crate) stopped: bool,
    /// A zombie's wait status (exit code << 8, or the killing signal).
    pub(crate) zombie: Option<u32>,
    pub(crate) threads: Vec<Tracee>,
}

/// What a process is before we stop it.
enum Before {
    Running,
    Stopped,
    Zombie(u32),
}

/// A process's state before we stop it. A zombie root is refused (there
/// is nothing to restore), and so is a task already being reaped.
fn pre_seize_state(pid: i32, ppid: u32) -> Result<Before, DumpError> {
    let stat = proc::Stat::read(pid)?;
    match stat.state {
        'Z' if ppid != 0 => Ok(Before::Zombie(stat.field(52) as u32)),
        'Z' | 'X' => Err(DumpError::refused(
            pid,
            "it is dead (a zombie, or being reaped); there is nothing to dump",
        )),
        'T' => Ok(Before::Stopped),
        _ => Ok(Before::Running),
    }
}

/// Seizes process `pid` (a child of `ppid`), unless it is a zombie.
fn seize(pid: i32, ppid: u32, root: i32) -> Result<Process, DumpError> {
    let before = pre_seize_state(pid, ppid)?;
    let zombie = match before {
        Before::Zombie(status) => Some(status),
        _ => None,
    };
    let threads = if zombie.is_some() {
        Vec::new()
    } else {
        crate::ns::check_dumpable(pid, root)?;
        seize_threads(pid)?
    };
    let inner = |field: &str| -> Result<u32, DumpError> {
        proc::ns_field(pid, field)?.ok_or_else(|| DumpError::Task {
            pid,
            what: format!("/proc/{pid}/status has no {field} line"),
        })
    };
    let mut vtids = Vec::with_capacity(threads.len());
    for t in &threads {
        let ns = proc::ns_pids(pid, t.pid)?;
        vtids.push(*ns.last().unwrap_or(&(t.pid as u32)));
    }
    let vpid = inner("NSpid")?;
    if pid == root && crate::ns::own_pid_ns(pid) && vpid != 1 {
        return Err(DumpError::refused(
            pid,
            format!(
                "it is pid {vpid} of a pid namespace of its own, not its init: crest dumps a pid \
                 namespace from its init (pid 1)"
            ),
        ));
    }
    Ok(Process {
        pid,
        ppid,
        vpid,
        vpgid: inner("NSpgid")?,
        vsid: inner("NSsid")?,
        vtids: if zombie.is_some() { vec![vpid] } else { vtids },
        stopped: matches!(before, Before::Stopped),
        zombie,
        threads,
    })
}

/// The tree below `root`, depth first as CRIU lists it: (pid, ppid).
pub(crate) fn tree_order(root: i32) -> Result<Vec<(i32, u32)>, DumpError> {
    let mut out = Vec::new();
    let mut stack = vec![(root, 0u32)];
    while let Some((pid, ppid)) = stack.pop() {
        out.push((pid, ppid));
        let mut kids = proc::children(pid)?;
        kids.reverse();
        stack.extend(kids.into_iter().map(|k| (k, pid as u32)));
    }
    Ok(out)
}

/// Seizes every process of the tree (root first, so it forks no more),
/// again and again until no new child appears.
pub(crate) fn seize_tree(root: i32) -> Result<Vec<Process>, DumpError> {
    let mut procs = vec![seize(root, 0, root)?];
    loop {
        let order = tree_order(root)?;
        let mut new = false;
        for &(pid, ppid) in &order {
            if procs.iter().any(|p| p.pid == pid) {
                continue;
            }
            procs.push(seize(pid, ppid, root)?);
            new = true;
        }
        if !new {
            procs.sort_by_key(|p| order.iter().position(|&(pid, _)| pid == p.pid));
            // Parents by their number in the tree's pid namespace.
            let vpids: Vec<(i32, u32)> = procs.iter().map(|p| (p.pid, p.vpid)).collect();
            for p in &mut procs {
                p.ppid = vpids
                    .iter()
                    .find(|&&(host, _)| host as u32 == p.ppid)
                    .map_or(0, |&(_, v)| v);
            }
            return Ok(procs);
        }
    }
}

/// Seizes and stops every thread of `pid`, the main one first, until no
/// new thread appears (one may be cloned while the others are stopped).
pub(crate) fn seize_threads(pid: i32) -> Result<Vec<Tracee>, DumpError> {
    let mut threads = vec![Tracee::seize(pid)?];
    loop {
        let mut new = false;
        for tid in proc::threads(pid)? {
            if threads.iter().all(|t| t.pid != tid) {
                // A thread that ends before it is stopped (a glibc
                // SIGEV_THREAD timer runs one per expiry) is not part of
                // what is dumped; the next pass lists the threads left. A
                // timer aimed at it refuses the dump (`dump_process`).
                match Tracee::seize(tid) {
                    Ok(t) => threads.push(t),
                    Err(DumpError::Gone { .. }) => {}
                    Err(e) => return Err(e),
                }
                new = true;
            }
        }
        if !new {
            return Ok(threads);
        }
    }
}

/// Whether the task was dumped stopped.
pub(crate) fn dumped_stopped(task: &TaskImages) -> bool {
    use crate::images::schema::TaskState;
    task.core.tc.as_ref().map(|tc| tc.task_state) == Some(TaskState::Stopped as u32)
}

/// The job-control signal that stopped a task dumped stopped (SIGSTOP
/// where the image does not say, or names another signal).
pub(crate) fn stop_signal(task: &TaskImages) -> i32 {
    let sig = task.core.tc.as_ref().and_then(|tc| tc.stop_signo);
    match sig.map(|s| s as i32) {
        Some(s @ (libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU)) => s,
        _ => libc::SIGSTOP,
    }
}

/// The tree must be restorable as a whole: unique pids, parents before
/// their children (CRIU writes it depth first), one session.
pub(crate) fn check_tree(
    dir: &Path,
    tree: &[PstreeEntry],
    zombies: &[Zombie],
    shell_job: bool,
) -> Result<(), RestoreError> {
    let name = dir.join("pstree.img");
    let bad = |m: String| RestoreError::Inconsistent(format!("{}: {m}", name.display()));
    let root = &tree[0];
    for (i, e) in tree.iter().enumerate() {
        let zombie = zombies.iter().any(|z| z.pid == e.pid);
        // A zombie's threads entry is garbage in CRIU's images: ignored.
        if !zombie && !e.threads.contains(&e.pid) {
            return Err(bad(format!(
                "pid {} is not among its own threads {:?}",
                e.pid, e.threads
            )));
        }
        if tree[..i].iter().any(|o| o.pid == e.pid) {
            return Err(bad(format!("pid {} appears twice", e.pid)));
        }
        if zombies.iter().any(|z| z.pid == e.ppid) {
            return Err(bad(format!(
                "pid {} is a child of the zombie {}",
                e.pid, e.ppid
            )));
        }
        let parent = tree[..i].iter().find(|o| o.pid == e.ppid);
        if i > 0 && parent.is_none() {
            return Err(bad(format!(
                "the parent {} of pid {} does not come before it",
                e.ppid, e.pid
            )));
        }
        // A child is in its parent's session unless it made its own.
        if let Some(p) = parent.filter(|p| p.sid != e.sid && e.sid != e.pid) {
            return Err(bad(format!(
                "pid {} is in session {}, but neither its parent {} (session {}) nor it leads that",
                e.pid, e.sid, p.pid, p.sid
            )));
        }
    }
    if root.sid != root.pid && !shell_job {
        return Err(RestoreError::Unsupported(format!(
            "pid {} belongs to session {} which is not in the images; \
             restore it into the current session with --shell-job",
            root.pid, root.sid
        )));
    }
    Ok(())
}
