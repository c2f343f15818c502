//! What the tree's root does in the mount namespace crest built for it:
//! pivot into the tree, drop everything else, and mount what only a task
//! in the tree's own pid, network and IPC namespaces can (proc, sysfs,
//! mqueue), then give the root mount its propagation.

use std::ffi::CString;
use std::path::Path;

use super::restore::{bind, remount, set_view};
use crate::sys;

/// What the root does once it pivoted: mounts only it can make, and the
/// propagation of those and of the root mount.
#[derive(Debug)]
pub struct Steps {
    pub(super) scratch: CString,
    pub(super) late: Vec<Late>,
    pub(super) root_shared: bool,
    pub(super) root_keeps_master: bool,
    pub(super) root_unbindable: bool,
}

#[derive(Debug)]
pub(super) struct Late {
    pub(super) target: String,
    pub(super) bind_from: Option<String>,
    pub(super) fstype: String,
    pub(super) source: String,
    pub(super) sb_flags: u32,
    pub(super) options: String,
    pub(super) flags: u32,
}

impl Steps {
    /// In the tree's root, forked into a copy of the built namespace:
    /// pivots into the tree, drops everything else, and mounts what only
    /// the root can.
    pub fn enter(&self) -> Result<(), String> {
        set_view(None);
        let dir = sys::open(
            &self.scratch,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            0,
        )
        .map_err(|e| format!("the built mount tree: {e}"))?;
        let moved = sys::fchdir(dir);
        sys::close(dir);
        moved.map_err(|e| format!("into the built mount tree: {e}"))?;
        sys::pivot_root_here().map_err(|e| format!("pivot_root into the mount tree: {e}"))?;
        sys::umount2(Path::new("."), libc::MNT_DETACH)
            .map_err(|e| format!("detaching the old root: {e}"))?;
        std::env::set_current_dir("/").map_err(|e| format!("chdir /: {e}"))?;
        for l in &self.late {
            let target = Path::new(&l.target);
            let made = match &l.bind_from {
                Some(from) => bind(Path::new(from), target),
                None => sys::mount(
                    Some(&l.source),
                    target,
                    Some(&l.fstype),
                    l.sb_flags as libc::c_ulong,
                    (!l.options.is_empty()).then_some(l.options.as_str()),
                )
                .map_err(|e| format!("mount -t {} at {}: {e}", l.fstype, l.target)),
            };
            made?;
            remount(target, l.flags).map_err(|e| format!("{}: its flags: {e}", l.target))?;
            let kind = if l.flags & libc::MS_SHARED as u32 != 0 {
                libc::MS_SHARED
            } else {
                libc::MS_PRIVATE
            };
            sys::mount(None, target, None, kind, None)
                .map_err(|e| format!("{}: propagation: {e}", l.target))?;
        }
        let root = Path::new("/");
        if self.root_shared {
            sys::mount(None, root, None, libc::MS_SHARED, None)
        } else if !self.root_keeps_master {
            sys::mount(None, root, None, libc::MS_PRIVATE, None)
        } else {
            Ok(())
        }
        .map_err(|e| format!("the root mount's propagation: {e}"))?;
        if self.root_unbindable {
            sys::mount(None, root, None, libc::MS_UNBINDABLE, None)
                .map_err(|e| format!("the root mount unbindable: {e}"))?;
        }
        Ok(())
    }
}
