//! Process attributes the task restores itself, in the loader's code,
//! once every task exists and before the blob runs: oom_score_adj,
//! loginuid, the child-subreaper flag, PR_SET_THP_DISABLE and membarrier
//! registrations. (Scheduling and the parent-death signal are per thread
//! and belong to the blob: the threads are made there, and credentials,
//! whose change clears the parent-death signal.)

use crate::restore::images::TaskImages;
use crate::sys;

/// Writes `value` to /proc/self/`name` unless it already reads so.
fn proc_self(name: &str, value: String, why: &str) -> Result<(), String> {
    let path = format!("/proc/self/{name}");
    let now = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    if now.trim() == value {
        return Ok(());
    }
    std::fs::write(&path, &value).map_err(|e| format!("{name} {value}: {e}{why}"))
}

pub fn apply(task: &TaskImages) -> Result<(), String> {
    let Some(tc) = task.core.tc.as_ref() else {
        return Ok(());
    };
    if let Some(adj) = tc.oom_score_adj {
        proc_self(
            "oom_score_adj",
            adj.to_string(),
            " (a value below the loader's own needs CAP_SYS_RESOURCE)",
        )?;
    }
    if let Some(uid) = tc.loginuid {
        proc_self(
            "loginuid",
            uid.to_string(),
            " (setting it needs CAP_AUDIT_CONTROL)",
        )?;
    }
    if tc.child_subreaper == Some(true) {
        sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
            .map_err(|e| format!("PR_SET_CHILD_SUBREAPER: {e}"))?;
    }
    if task.mm.thp_disabled == Some(true) {
        sys::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0)
            .map_err(|e| format!("PR_SET_THP_DISABLE: {e}"))?;
    }
    // Each bit of the mask is the command that registered it.
    let mask = tc.membarrier_registration_mask.unwrap_or(0);
    for bit in (0..32).filter(|b| mask & (1 << b) != 0) {
        sys::membarrier(1 << bit)
            .map_err(|e| format!("membarrier registration {:#x}: {e}", 1u32 << bit))?;
    }
    Ok(())
}
