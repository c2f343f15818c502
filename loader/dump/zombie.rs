//! Zombies, as CRIU 4.2 writes them: a pstree entry and a core image
//! holding only `mtype` and `tc` (task_state TASK_DEAD, the wait status,
//! the name). Nothing else of a zombie exists.

use std::path::Path;

use crate::images::file;
use crate::images::schema::*;
use crate::proc;

use super::{write_image, DumpError, TreeDump, Written};

/// A zombie, as CRIU 4.2 writes one: a pstree entry and a core image
/// holding only `mtype` and `tc` (task_state TASK_DEAD, the wait status,
/// the name).
pub(super) fn dump_zombie(
    z: &crate::pstree::Process,
    status: u32,
    dir: &Path,
    acc: &mut TreeDump,
    written: &mut Written,
) -> Result<(), DumpError> {
    let pid = z.pid;
    let comm = proc::read(pid, "comm")?.trim_end().to_string();
    let core = CoreEntry {
        mtype: core_entry::March::X8664 as i32,
        tc: Some(TaskCoreEntry {
            task_state: TaskState::Dead as u32,
            exit_code: status,
            comm,
            ..Default::default()
        }),
        ..Default::default()
    };
    write_image(dir, &file::CORE, z.vpid, &[core], written)?;
    acc.pstree.push(PstreeEntry {
        pid: z.vpid,
        ppid: z.ppid,
        pgid: z.vpgid,
        sid: z.vsid,
        threads: vec![z.vpid],
    });
    Ok(())
}
