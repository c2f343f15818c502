//! `--lazy-pages`: the tree runs before its memory is in. One of the
//! restore's named unsafe modules (it writes into the tasks' memory
//! through userfaultfd).
//!
//! 1. Before the root is forked the loader makes a socket pair; every
//!    task inherits one end.
//! 2. In each task, once its VMAs are premapped, the private anonymous
//!    ones that hold dumped pages are registered with a new userfaultfd
//!    of its address space (events: fork, mremap, remove, unmap) and left
//!    empty; the task sends the descriptor down the socket and closes its
//!    own copies. The blob's mremaps move the registered slots (the
//!    kernel reports each move) and the task runs.
//! 3. The helper ("server", forked by the loader right before the root;
//!    it keeps no descriptor but its socket end and the pages files) serves each first touch with `UFFDIO_COPY` from a read-only
//!    mapping of the task's pages file, first the pages around every
//!    thread's stack and instruction pointers, then all the others in
//!    address order. A bitmap per address space says which dumped pages
//!    are still to come: none is served twice, a page the task emptied or
//!    unmapped meanwhile is not served at all (a later touch gets the zero
//!    page), a child forked meanwhile gets a copy of its parent's state.
//! 4. A second helper ("watch", the server's child) holds a copy of every
//!    descriptor: should the server die, the tasks' missing pages cannot
//!    turn into zeroes (the descriptors live on, touches wait), and the
//!    watch kills the tree. Should the watch die, the server does. Once
//!    every page is in, the watch lets go, then the server, and the
//!    registrations end with the last descriptor.
//! 5. The loader tells the server the restore succeeded ("go"); a server
//!    that sees the socket close without it kills what it served.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::images::flags::PAGE;
use crate::mem::plan::{MemPlan, Premap};
use crate::sys::{self, uffd};

use super::task::TaskPlan;
use super::RestoreError;

mod server;
mod space;

/// The events the server follows.
pub(crate) const FEATURES: u64 = uffd::FEATURE_EVENT_FORK
    | uffd::FEATURE_EVENT_REMAP
    | uffd::FEATURE_EVENT_REMOVE
    | uffd::FEATURE_EVENT_UNMAP;

/// Pages served for one touch: the one touched and those after it.
const ON_TOUCH: u64 = 16;
/// Pages served per step in the background.
const IN_BACKGROUND: u64 = 64;
/// Pages around a thread's stack pointer and instruction pointer that go
/// first.
const HOT_BELOW_SP: u64 = 8;
const HOT_AROUND_IP: u64 = 2;

/// The loader's word to the server: the tree is restored.
const GO: u8 = 0xff;

/// Whether premap `p` of `mem` is filled lazily: private anonymous
/// memory with dumped pages, premapped after the fork (not shared
/// copy-on-write with a parent or child), not the vdso.
pub(crate) fn is_lazy(mem: &MemPlan, p: &Premap) -> bool {
    let vdso = mem
        .vdso
        .is_some_and(|d| d.vdso_start >= p.start && d.vdso_start < p.start + p.len);
    p.filled
        && p.file.is_none()
        && p.shmid.is_none()
        && p.sysv.is_none()
        && p.inherit.is_none()
        && !p.passed_on
        && p.flags & libc::MAP_SHARED == 0
        && !vdso
}

/// The dumped pages of `plan` that are served lazily: runs of (dumped
/// address, pages, offset in the pages file), in address order.
fn lazy_runs(plan: &TaskPlan) -> Vec<(u64, u64, u64)> {
    plan.mem
        .pieces(&plan.task.runs)
        .into_iter()
        .filter(|(p, ..)| is_lazy(&plan.mem, p))
        .map(|(_, at, len, off)| (at, len / PAGE, off))
        .collect()
}

/// The lazy slots of `plan` where they are premapped: (premap address,
/// dumped address, length).
fn lazy_slots(plan: &TaskPlan) -> Vec<(u64, u64, u64)> {
    plan.mem
        .premaps
        .iter()
        .filter(|p| is_lazy(&plan.mem, p))
        .map(|p| (p.at(plan.premap_at), p.start, p.len))
        .collect()
}

/// Whether task `plan` has any page to serve lazily.
pub(crate) fn has_lazy(plan: &TaskPlan) -> bool {
    !lazy_runs(plan).is_empty()
}

/// In task `i` (loader code), its lazy slots premapped and empty:
/// registers them with a userfaultfd of its own and sends that down
/// `link` to the server.
pub(crate) fn hand_over(link: RawFd, i: usize, host: u32, plan: &TaskPlan) -> Result<(), String> {
    if !has_lazy(plan) {
        return Ok(());
    }
    let fd = uffd::create(FEATURES).map_err(|e| format!("userfaultfd: {e}"))?;
    for (at, start, len) in lazy_slots(plan) {
        // SAFETY: the slot is one of this task's premapped slots (mapped by
        // `premap`, inside the reservation); nothing of the loader touches
        // it, and from here on the server supplies its pages.
        unsafe { uffd::register(fd.as_raw_fd(), at, len) }
            .map_err(|e| format!("vma {start:#x}: registering with userfaultfd: {e}"))?;
    }
    let mut msg = [0u8; 8];
    msg[..4].copy_from_slice(&(i as u32).to_le_bytes());
    msg[4..].copy_from_slice(&host.to_le_bytes());
    sys::sendmsg(link, &msg, &[], &[fd.as_raw_fd()], None)
        .map_err(|e| format!("handing the userfaultfd to the lazy-pages server: {e}"))?;
    Ok(())
}

/// The server as the loader sees it.
pub(crate) struct Lazy {
    /// The tasks' end of the socket (and the loader's, for GO).
    pub(crate) link: OwnedFd,
    server_end: Option<OwnedFd>,
    pid: i32,
}

impl Lazy {
    /// For `--lazy-pages` (`on`): the socket pair, before the root is
    /// forked, once the kernel is known to give what the server needs.
    pub(crate) fn link(on: bool) -> Result<Option<Lazy>, RestoreError> {
        if !on {
            return Ok(None);
        }
        if !uffd::available(FEATURES) {
            return Err(RestoreError::Unsupported(
                "--lazy-pages: this kernel gives no userfaultfd with fork, mremap, remove and \
                 unmap events"
                    .into(),
            ));
        }
        let (a, b) = sys::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET)
            .map_err(|e| RestoreError::sys(0, "socketpair for --lazy-pages", e))?;
        Ok(Some(Lazy {
            link: a,
            server_end: Some(b),
            pid: 0,
        }))
    }

    /// Starts the server, right before the root is forked (so that the
    /// tree does not inherit the server's end).
    pub(crate) fn start(&mut self, plans: &[TaskPlan]) -> Result<(), RestoreError> {
        let end = self
            .server_end
            .take()
            .ok_or_else(|| RestoreError::System("the lazy-pages server started twice".into()))?;
        // SAFETY: the loader is single-threaded; the child runs the
        // server and exits without returning here.
        match unsafe { sys::clone3(0, &[]) } {
            Ok(sys::Forked::Child) => {
                let code = match server::serve(plans, end) {
                    Ok(()) => 0,
                    Err(_) => 1,
                };
                sys::exit_now(code)
            }
            Ok(sys::Forked::Parent(pid)) => {
                self.pid = pid;
                Ok(())
            }
            Err(e) => Err(RestoreError::sys(0, "forking the lazy-pages server", e)),
        }
    }

    /// The tree is restored: the server may stop once every page is in,
    /// and lives on after us.
    pub(crate) fn go(mut self) -> Result<(), RestoreError> {
        sys::sendmsg(self.link.as_raw_fd(), &[GO], &[], &[], None)
            .map_err(|e| RestoreError::sys(0, "telling the lazy-pages server to go", e))?;
        crate::log!(
            crate::log::DEBUG,
            "lazy-pages server: pid {}, serving until every page is in",
            self.pid
        );
        self.pid = 0;
        Ok(())
    }
}

impl Drop for Lazy {
    /// The restore failed: the server goes (its watch kills what it
    /// served, and goes too).
    fn drop(&mut self) {
        if self.pid > 0 {
            let _ = sys::kill(self.pid, libc::SIGKILL);
            let _ = sys::waitpid(self.pid, libc::__WALL);
        }
    }
}
