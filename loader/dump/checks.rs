//! What refuses or reshapes a process's dump beyond its own state: the
//! seccomp modes of its threads, and resources shared with its parent.

use super::{DumpError, Process};
use crate::images::schema::{CoreEntry, SeccompEntry, SeccompMode};
use crate::{proc, sys};

/// Seccomp beyond one thread's filters, as CRIU writes it. Filters every
/// thread shares (thread_core checked they are the same) are the main
/// thread's with SECCOMP_FILTER_FLAG_TSYNC, the others' none, so that a
/// restore installs them once for all threads, shared again (a later
/// TSYNC of the task's own needs that). Strict mode is recorded for a
/// single-threaded process; with threads it is refused by name.
pub(super) fn seccomp_modes(
    pid: i32,
    status: &proc::Status,
    cores: &mut [CoreEntry],
    all: &mut SeccompEntry,
    base: usize,
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
    if cores.len() > 1 && all.seccomp_filters.len() > base {
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
