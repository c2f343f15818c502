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

/// Processes of the tree that share their memory, descriptor table,
/// file-system information or signal handlers with their parent (clone
/// with CLONE_VM, CLONE_FILES, CLONE_FS or CLONE_SIGHAND but not
/// CLONE_THREAD) are refused by name: crest restores each process with
/// its own, which would not be what was dumped.
pub(super) fn check_not_shared_with_parent(tree: &[Process]) -> Result<(), DumpError> {
    let kinds = [
        (sys::KCMP_VM, "memory (CLONE_VM)"),
        (sys::KCMP_FILES, "descriptor table (CLONE_FILES)"),
        (sys::KCMP_FS, "cwd, root and umask (CLONE_FS)"),
        (sys::KCMP_SIGHAND, "signal handlers (CLONE_SIGHAND)"),
    ];
    for p in tree {
        if !tree.iter().any(|q| q.pid as u32 == p.ppid) {
            continue;
        }
        for (kind, what) in kinds {
            if sys::kcmp_same(p.pid, p.ppid as i32, kind) {
                return Err(DumpError::refused(
                    p.pid,
                    format!(
                        "it shares its {what} with its parent {}, which crest does not restore yet",
                        p.ppid
                    ),
                ));
            }
        }
    }
    Ok(())
}
