//! Descriptor tables shared between a parent and its children
//! (CLONE_FILES), as CRIU records them: tasks with one files id, each
//! the child of another. The topmost, the table's owner, installs the
//! descriptors; the others are forked with CLONE_FILES and install none.
//!
//! In a shared table one task's descriptors are everyone's, so the steps
//! are ordered through two counters of the status area: every sharer is
//! done with its own (inherited pages files, transient opens) before any
//! owner installs, and every owner has installed and closed the strays
//! before a sharer goes on. Each sharer's exe descriptor, which its blob
//! closes after PR_SET_MM_MAP, gets a number of its own, opened by the
//! owner.

use std::collections::HashMap;

use super::hole::{StatusArea, TableWord};
use super::task::TaskPlan;
use super::RestoreError;

/// Each task's part in a shared table, by plan index.
#[derive(Debug, Default)]
pub(crate) struct Tables {
    /// It shares its parent's table (forked with CLONE_FILES).
    pub(crate) shares: Vec<bool>,
    /// Others share its table.
    pub(crate) owns: Vec<bool>,
}

impl Tables {
    /// Which tasks share a table, checked: each one's parent shares it
    /// too, and one task heads it. Each sharer's exe descriptor gets a
    /// number above the table's descriptors, which the owner opens.
    pub(crate) fn plan(plans: &mut [TaskPlan]) -> Result<Tables, RestoreError> {
        let files_id = |p: &TaskPlan| p.task.ids.files_id;
        let shares: Vec<bool> = super::task::parents(plans)
            .into_iter()
            .enumerate()
            .map(|(i, parent)| parent.is_some_and(|j| files_id(&plans[j]) == files_id(&plans[i])))
            .collect();
        let mut heads: HashMap<u32, usize> = HashMap::new();
        for (i, p) in plans.iter().enumerate() {
            if shares[i] {
                continue;
            }
            if let Some(&j) = heads.get(&files_id(p)) {
                return Err(RestoreError::Unsupported(format!(
                    "pids {} and {} share one descriptor table (files id {}), but neither is \
                     forked from the other through tasks that share it",
                    plans[j].task.pstree.pid,
                    p.task.pstree.pid,
                    files_id(p)
                )));
            }
            heads.insert(files_id(p), i);
        }
        let mut owns = vec![false; plans.len()];
        // Numbers above the highest of each table so far.
        let mut next: HashMap<u32, i32> = HashMap::new();
        for i in (0..plans.len()).filter(|&i| shares[i]) {
            let id = files_id(&plans[i]);
            let head = heads[&id];
            owns[head] = true;
            let top = next.entry(id).or_insert(plans[head].fds.exe_fd);
            *top += 1;
            let fd = *top;
            let sharer = &mut plans[i].fds;
            sharer.exe_fd = fd;
            if let Some(exe) = sharer.exe.clone() {
                plans[head].fds.more_exes.push((exe, fd));
            }
        }
        Ok(Tables { shares, owns })
    }

    /// In the loader, before the first fork: how many tasks each counter
    /// waits for.
    pub(crate) fn start(&self, status: &StatusArea) {
        let count = |v: &[bool]| v.iter().filter(|&&b| b).count() as u32;
        status.start_tables(TableWord::Sharers, count(&self.shares));
        status.start_tables(TableWord::Owners, count(&self.owns));
    }
}
