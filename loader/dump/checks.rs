//! What refuses or reshapes a process's dump beyond its own state: the
//! seccomp modes of its threads, timers aimed at threads not dumped, and
//! resources shared with its parent.

use super::{DumpError, Process};
use crate::images::schema::{CoreEntry, PosixTimerEntry, SeccompEntry, SeccompMode};
use crate::{proc, sys};

/// Puts `filters`, a thread's chain numbered from 0 (its core's
/// seccomp_filter is its top), into the tree's seccomp image after those
/// already there, and points the core at the moved top. Threads sharing
/// the process's chain each get a copy; `seccomp_modes` merges them.
pub(super) fn add_filters(all: &mut SeccompEntry, core: &mut CoreEntry, filters: &SeccompEntry) {
    let base = all.seccomp_filters.len() as u32;
    if let Some(tc) = core.thread_core.as_mut() {
        tc.seccomp_filter = tc.seccomp_filter.map(|i| i + base);
    }
    for f in &filters.seccomp_filters {
        let mut f = f.clone();
        f.prev = f.prev.map(|p| p + base);
        all.seccomp_filters.push(f);
    }
}

/// Seccomp beyond one thread's filters, as CRIU writes it. Filters every
/// thread shares (none has its own: `own_filters` false) are the main
/// thread's with SECCOMP_FILTER_FLAG_TSYNC, the others' none, so that a
/// restore installs them once for all threads, shared again (a later
/// TSYNC of the task's own needs that). Threads with filters of their own
/// keep their chains (the copies of the process's chain too). Strict mode
/// is recorded for a single-threaded process; with threads it is refused
/// by name.
pub(super) fn seccomp_modes(
    pid: i32,
    status: &proc::Status,
    cores: &mut [CoreEntry],
    all: &mut SeccompEntry,
    base: usize,
    own_filters: bool,
) -> Result<(), DumpError> {
    const SECCOMP_FILTER_FLAG_TSYNC: u32 = 1;
    if status.get("Seccomp") == "1" {
        if cores.len() > 1 {
            return Err(DumpError::refused(
                pid,
                "it runs in seccomp strict mode with threads, which crest does not restore",
            ));
        }
        if let Some(tc) = cores[0].thread_core.as_mut() {
            tc.seccomp_mode = Some(SeccompMode::Strict as i32);
        }
    }
    if own_filters {
        return Ok(());
    }
    // Every thread's copy is the main thread's: only the first is kept.
    let main_len = cores[0]
        .thread_core
        .as_ref()
        .and_then(|t| t.seccomp_filter)
        .map_or(0, |top| top as usize + 1 - base);
    all.seccomp_filters.truncate(base + main_len);
    if cores.len() > 1 && main_len > 0 {
        for f in &mut all.seccomp_filters[base..] {
            f.flags = Some(f.flags.unwrap_or(0) | SECCOMP_FILTER_FLAG_TSYNC);
        }
        for c in &mut cores[1..] {
            if let Some(tc) = c.thread_core.as_mut() {
                tc.seccomp_mode = None;
                tc.seccomp_filter = None;
            }
        }
    }
    Ok(())
}

/// Processes of the tree that share their memory, file-system
/// information or signal handlers with their parent (clone with CLONE_VM,
/// CLONE_FS or CLONE_SIGHAND but not CLONE_THREAD) are refused by name:
/// crest restores each process with its own, which would not be what was
/// dumped. (A shared descriptor table is restored: `shared_tables`.)
pub(super) fn check_not_shared_with_parent(tree: &[Process]) -> Result<(), DumpError> {
    let kinds = [
        (sys::KCMP_VM, "memory (CLONE_VM)"),
        (sys::KCMP_FS, "cwd, root and umask (CLONE_FS)"),
        (sys::KCMP_SIGHAND, "signal handlers (CLONE_SIGHAND)"),
    ];
    for p in tree {
        let Some(parent) = parent_of(tree, p) else {
            continue;
        };
        for (kind, what) in kinds {
            if sys::kcmp_same(p.pid, parent.pid, kind) {
                return Err(DumpError::refused(
                    p.pid,
                    format!(
                        "it shares its {what} with its parent {}, which crest does not restore yet",
                        parent.pid
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn parent_of<'a>(tree: &'a [Process], p: &Process) -> Option<&'a Process> {
    if p.ppid == 0 {
        return None;
    }
    tree.iter().find(|q| q.vpid == p.ppid && q.zombie.is_none())
}

/// For each process of the tree, the earlier one whose descriptor table
/// it shares (CLONE_FILES), as CRIU records it: one fdinfo image, under
/// the first one's files id. A table can only be handed down at fork, so
/// the sharer's parent must share it too; a table shared with another
/// task only (the parent in between gone or detached) is refused by name.
pub(super) fn shared_tables(tree: &[Process]) -> Result<Vec<Option<usize>>, DumpError> {
    let mut out = Vec::with_capacity(tree.len());
    for (i, p) in tree.iter().enumerate() {
        let first = tree[..i]
            .iter()
            .position(|q| q.zombie.is_none() && sys::kcmp_same(p.pid, q.pid, sys::KCMP_FILES));
        if let (Some(j), None) = (first, p.zombie) {
            let by_parent =
                parent_of(tree, p).is_some_and(|q| sys::kcmp_same(p.pid, q.pid, sys::KCMP_FILES));
            if !by_parent {
                return Err(DumpError::refused(
                    p.pid,
                    format!(
                        "it shares its descriptor table (CLONE_FILES) with {}, which is not its \
                         parent: crest restores a shared table only from parent to child",
                        tree[j].pid
                    ),
                ));
            }
            out.push(Some(j));
        } else {
            out.push(None);
        }
    }
    Ok(out)
}

/// A thread that ended before it was stopped is not dumped: a POSIX timer
/// of process `pid` that signals it (SIGEV_THREAD_ID) could not be made
/// again. `tids` and `vtids` are the dumped threads, ours and in the
/// tree's pid namespace.
pub(super) fn timers_aim_at_dumped(
    pid: i32,
    timers: &[PosixTimerEntry],
    tids: &[i32],
    vtids: &[u32],
) -> Result<(), DumpError> {
    for t in timers {
        let Some(tid) = t.notify_thread_id else {
            continue;
        };
        if !tids.contains(&tid) && !vtids.contains(&(tid as u32)) {
            return Err(DumpError::Gone {
                pid,
                what: format!(
                    "its POSIX timer {} signals thread {tid}, which ended while the process was \
                     being stopped; it runs on as it was: dump it again",
                    t.it_id
                ),
            });
        }
    }
    Ok(())
}
