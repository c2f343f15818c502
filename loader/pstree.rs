//! The process tree (`pstree.img`): at dump, found through /proc and
//! seized process by process until it stops growing; at restore, checked
//! as a whole before any task is created.

use crate::ptrace::Tracee;
use std::path::Path;

use crate::dump::DumpError;
use crate::images::schema::PstreeEntry;
use crate::proc;
use crate::restore::images::TaskImages;
use crate::restore::RestoreError;

/// One process of the dumped tree, stopped.
pub(crate) struct Process {
    pub(crate) ppid: u32,
    /// It was stopped (SIGSTOP, job control) before we seized it.
    pub(crate) stopped: bool,
    pub(crate) threads: Vec<Tracee>,
}

/// A process's state before we stop it: refuses zombies; true if it is
/// stopped by a signal.
pub(crate) fn pre_seize_state(pid: i32, ppid: u32) -> Result<bool, DumpError> {
    let stat = proc::Stat::read(pid)?;
    match stat.state {
        'Z' | 'X' => Err(DumpError::refused(
            pid,
            format!("it is a zombie (a child of {ppid}); crest dumps live tasks only"),
        )),
        'T' => Ok(true),
        _ => Ok(false),
    }
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
    let mut procs = vec![Process {
        ppid: 0,
        stopped: pre_seize_state(root, 0)?,
        threads: seize_threads(root)?,
    }];
    loop {
        let order = tree_order(root)?;
        let mut new = false;
        for &(pid, ppid) in &order {
            if procs.iter().any(|p| p.threads[0].pid == pid) {
                continue;
            }
            procs.push(Process {
                ppid,
                stopped: pre_seize_state(pid, ppid)?,
                threads: seize_threads(pid)?,
            });
            new = true;
        }
        if !new {
            procs.sort_by_key(|p| order.iter().position(|&(pid, _)| pid == p.threads[0].pid));
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
                threads.push(Tracee::seize(tid)?);
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

/// The tree must be restorable as a whole: unique pids, parents before
/// their children (CRIU writes it depth first), one session.
pub(crate) fn check_tree(
    dir: &Path,
    tree: &[PstreeEntry],
    shell_job: bool,
) -> Result<(), RestoreError> {
    let name = dir.join("pstree.img");
    let bad = |m: String| RestoreError::Inconsistent(format!("{}: {m}", name.display()));
    let root = &tree[0];
    for (i, e) in tree.iter().enumerate() {
        if !e.threads.contains(&e.pid) {
            return Err(bad(format!(
                "pid {} is not among its own threads {:?}",
                e.pid, e.threads
            )));
        }
        if tree[..i].iter().any(|o| o.pid == e.pid) {
            return Err(bad(format!("pid {} appears twice", e.pid)));
        }
        if i > 0 && !tree[..i].iter().any(|o| o.pid == e.ppid) {
            return Err(bad(format!(
                "the parent {} of pid {} does not come before it",
                e.ppid, e.pid
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
