//! The restored tree as a whole: the address-space reservation every task
//! inherits, the guard that kills and reaps everything unless the restore
//! completes, and the status protocol through which each task's blob (or
//! the loader code in the child) reports its stage and failure.

use std::time::{Duration, Instant};

use restorer_blob::{Status, STATE_DONE, STATE_FAILED, STATE_RUNNING};

use crate::sys;

use super::task::TaskPlan;
use super::{finish, RestoreError};

/// Slot bytes per task in the status area, and the room after the slots
/// for a loader-side error message from a child.
pub(crate) const SLOT: u64 = 64;

pub(crate) const MSG_LEN: u64 = 2048;

/// The address-space reservation for the restore, released on drop.
pub(crate) struct Reservation {
    pub(crate) at: u64,
    pub(crate) len: u64,
}

impl Reservation {
    pub(crate) fn new(at: u64, len: u64) -> Result<Reservation, RestoreError> {
        sys::mmap(
            at,
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE
                | libc::MAP_ANONYMOUS
                | libc::MAP_NORESERVE
                | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
        .map_err(|e| RestoreError::System(format!("reserving {len} bytes at {at:#x}: {e}")))?;
        Ok(Reservation { at, len })
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let _ = sys::munmap(self.at, self.len);
    }
}

/// A restored tree that is killed and reaped unless released: a restore
/// is all or nothing. We are a child subreaper while restoring, so the
/// root's descendants come to us once it is gone.
pub(crate) struct TreeGuard {
    pub(crate) root: i32,
}

impl TreeGuard {
    pub(crate) fn release(self) -> i32 {
        let root = self.root;
        std::mem::forget(self);
        root
    }
}

impl Drop for TreeGuard {
    fn drop(&mut self) {
        let _ = sys::kill(self.root, libc::SIGKILL);
        let _ = sys::waitpid(self.root, libc::__WALL);
        // Then every task adopted from it, until none is left.
        for _ in 0..1000 {
            let kids = crate::proc::children_of(sys::getpid());
            if kids.is_empty() {
                break;
            }
            for k in kids {
                let _ = sys::kill(k, libc::SIGKILL);
                let _ = sys::waitpid(k, libc::__WALL);
            }
        }
    }
}

/// Waits until every task of the tree reports success, or one fails or
/// dies. Meanwhile traces each task as soon as it exists, and tells its
/// blob (which waits for the answer at its end) whether it is traced.
/// Returns, per task, `None` if untraced, else whether its breakpoint
/// stop was already reaped here.
pub(crate) fn wait_tree(
    plans: &[TaskPlan],
    status: u64,
) -> Result<Vec<Option<bool>>, RestoreError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let n = plans.len();
    let mut tracer: Vec<Option<Option<bool>>> = vec![None; n];
    loop {
        let mut done = 0;
        for (i, p) in plans.iter().enumerate() {
            let pid = p.task.pstree.pid;
            let slot = status + SLOT * i as u64;
            if tracer[i].is_none() && std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let traced = finish::seize(pid as i32);
                let word = if traced {
                    restorer_blob::TRACER_ATTACHED
                } else {
                    restorer_blob::TRACER_NONE
                };
                tracer[i] = Some(traced.then_some(false));
                sys::write_mem(slot + 12, &word.to_ne_bytes());
                sys::futex_wake(slot + 12);
            }
            match sys::load_u32(slot) {
                STATE_DONE => done += 1,
                STATE_FAILED => return Err(read_failure(pid, slot, status + SLOT * n as u64)),
                STATE_RUNNING => {}
                s => {
                    return Err(RestoreError::System(format!(
                        "pid {pid}: bad status word {s}"
                    )))
                }
            }
            // Our child (the root) and every traced task report here.
            if tracer[i].is_none() && i != 0 {
                continue;
            }
            match sys::waitpid(pid as i32, libc::WNOHANG | libc::__WALL) {
                Ok(Some((_, st))) if libc::WIFSTOPPED(st) => match sys::load_u32(slot) {
                    STATE_DONE if libc::WSTOPSIG(st) == libc::SIGTRAP => {
                        tracer[i] = Some(Some(true));
                    }
                    STATE_FAILED => return Err(read_failure(pid, slot, status + SLOT * n as u64)),
                    _ => {
                        return Err(RestoreError::Died {
                            pid,
                            status: format!("stopped on signal {}", libc::WSTOPSIG(st)),
                        })
                    }
                },
                Ok(Some((_, st))) => {
                    if sys::load_u32(slot) == STATE_FAILED {
                        return Err(read_failure(pid, slot, status + SLOT * n as u64));
                    }
                    let how = if libc::WIFSIGNALED(st) {
                        format!("was killed by signal {}", libc::WTERMSIG(st))
                    } else {
                        format!("exited with {}", libc::WEXITSTATUS(st))
                    };
                    return Err(RestoreError::Died { pid, status: how });
                }
                Ok(None) | Err(_) => {}
            }
        }
        if done == n && tracer.iter().all(|t| t.is_some()) {
            return Ok(tracer.into_iter().map(|t| t.flatten()).collect());
        }
        if Instant::now() > deadline {
            return Err(RestoreError::System(format!(
                "{done} of {n} tasks restored within 30 s"
            )));
        }
        // Sleep on the first unfinished task's word; any task's report or
        // a new task to trace is picked up within a millisecond.
        let first = (0..n).find(|&i| sys::load_u32(status + SLOT * i as u64) == STATE_RUNNING);
        match first {
            Some(i) if tracer.iter().all(|t| t.is_some()) => {
                sys::futex_wait(status + SLOT * i as u64, STATE_RUNNING, 1_000_000)
            }
            _ => std::thread::sleep(Duration::from_micros(20)),
        }
    }
}

pub(crate) fn read_failure(pid: u32, status_at: u64, msg_at: u64) -> RestoreError {
    let raw = sys::read_mem(status_at, std::mem::size_of::<Status>());
    let word = |i: usize| u32::from_ne_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
    let (stage, errno) = (word(4), word(8));
    let detail = u64::from_ne_bytes(raw[16..24].try_into().unwrap_or([0; 8]));
    if stage == 0 {
        let msg = sys::read_mem(msg_at, MSG_LEN as usize);
        let end = msg.iter().position(|&b| b == 0).unwrap_or(msg.len());
        return RestoreError::Child {
            pid,
            msg: String::from_utf8_lossy(&msg[..end]).into_owned(),
        };
    }
    RestoreError::Blob {
        pid,
        stage,
        errno,
        detail,
    }
}
