//! The restored tree as a whole: forking each task with its pid, the
//! guard that kills and reaps everything unless the restore completes, and
//! the wait on the status area through which each task's blob (or the
//! loader code in the child) reports its stage and failure.

use std::time::{Duration, Instant};

use restorer_blob::{STATE_DONE, STATE_FAILED, STATE_RUNNING};

use crate::sys::{self, Forked};

use super::hole::StatusArea;
use super::task::TaskPlan;
use super::{finish, RestoreError, TaskId};

/// A restored tree that is killed and reaped unless released: a restore
/// is all or nothing. We are a child subreaper while restoring, so the
/// root's descendants come to us once it is gone.
pub(crate) struct TreeGuard {
    pub(crate) root: i32,
    /// Every task's pid in our namespace, once known: with
    /// --restore-sibling the tree's orphans are not ours to find.
    pub(crate) known: Vec<i32>,
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
        // Reaping must not block on any one task: the init of a new pid
        // namespace dies only once its children are reaped, and those
        // are our tracees, so they wait for us. Every status (children,
        // tracees, the orphans adopted from them) is taken as it comes,
        // and every task adopted is killed, until none is left.
        let _ = sys::kill(self.root, libc::SIGKILL);
        for &p in &self.known {
            let _ = sys::kill(p, libc::SIGKILL);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            loop {
                match sys::waitpid(-1, libc::WNOHANG | libc::__WALL) {
                    Ok(Some(_)) => continue,
                    Ok(None) => break,
                    Err(_) => return, // ECHILD: nothing of ours is left
                }
            }
            for k in crate::proc::children_of(sys::getpid()) {
                let _ = sys::kill(k, libc::SIGKILL);
            }
            if Instant::now() > deadline {
                crate::log!(
                    crate::log::WARN,
                    "tasks of the failed restore are still not gone after 10 s"
                );
                return;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// Per task: its pid in our pid namespace, whether the loader traces it
/// (`None`: untraced, else whether its breakpoint stop was already
/// reaped), and the signals held back meanwhile.
pub(crate) struct Traced {
    pub(crate) host: i32,
    pub(crate) trap: Option<bool>,
    pub(crate) pending: Vec<finish::Held>,
}

/// Waits until every task of the tree reports success, or one fails or
/// dies. Meanwhile traces each task as soon as it has told its pid in our
/// namespace (the root's is `root`, our child's), and tells its blob
/// (which waits for the answer at its end) whether it is traced.
pub(crate) fn wait_tree(
    plans: &[TaskPlan],
    status: &StatusArea,
    root: i32,
) -> Result<Vec<Traced>, RestoreError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let n = plans.len();
    let mut tracer: Vec<Option<Option<bool>>> = vec![None; n];
    // Signals that reached a traced task while it was restored, held back
    // and sent again once it is let go.
    let mut pending: Vec<Vec<finish::Held>> = vec![Vec::new(); n];
    let mut host: Vec<i32> = vec![0; n];
    host[0] = root;
    loop {
        let mut done = 0;
        for (i, p) in plans.iter().enumerate() {
            let pid = p.task.pstree.pid;
            if host[i] == 0 {
                host[i] = status.host_pid(i) as i32;
            }
            let who = |i: usize| TaskId {
                pid: plans[i].task.pstree.pid,
                host: host[i] as u32,
            };
            if tracer[i].is_none() && host[i] != 0 {
                let traced = finish::seize(host[i]);
                let word = if traced {
                    restorer_blob::TRACER_ATTACHED
                } else {
                    restorer_blob::TRACER_NONE
                };
                tracer[i] = Some(traced.then_some(false));
                status.set_tracer(i, word);
            }
            match status.state(i) {
                STATE_DONE => done += 1,
                STATE_FAILED => return Err(failure(status, i, who(i))),
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
            match sys::waitpid(host[i], libc::WNOHANG | libc::__WALL) {
                Ok(Some((_, st))) if libc::WIFSTOPPED(st) => match status.state(i) {
                    STATE_DONE if libc::WSTOPSIG(st) == libc::SIGTRAP && st >> 16 == 0 => {
                        tracer[i] = Some(Some(true));
                    }
                    STATE_FAILED => return Err(failure(status, i, who(i))),
                    _ if tracer[i].flatten().is_some() => {
                        // A signal on its way in, or a ptrace event stop
                        // it caused: held back, the task goes on.
                        let sig = libc::WSTOPSIG(st);
                        if st >> 16 == 0 {
                            finish::hold(host[i], sig, &mut pending[i]);
                        }
                        sys::ptrace_cont(host[i], 0)
                            .map_err(|e| RestoreError::sys(pid, "PTRACE_CONT", e))?;
                    }
                    _ => {
                        return Err(RestoreError::Died {
                            pid: who(i),
                            status: format!("stopped on signal {}", libc::WSTOPSIG(st)),
                        })
                    }
                },
                Ok(Some((_, st))) => {
                    if status.state(i) == STATE_FAILED {
                        return Err(failure(status, i, who(i)));
                    }
                    let how = if libc::WIFSIGNALED(st) {
                        format!("was killed by signal {}", libc::WTERMSIG(st))
                    } else {
                        format!("exited with {}", libc::WEXITSTATUS(st))
                    };
                    return Err(RestoreError::Died {
                        pid: who(i),
                        status: how,
                    });
                }
                Ok(None) | Err(_) => {}
            }
        }
        if done == n && tracer.iter().all(|t| t.is_some()) {
            return Ok(tracer
                .into_iter()
                .zip(pending)
                .zip(host)
                .map(|((t, pending), host)| Traced {
                    host,
                    trap: t.flatten(),
                    pending,
                })
                .collect());
        }
        if Instant::now() > deadline {
            return Err(RestoreError::System(format!(
                "{done} of {n} tasks restored within 30 s"
            )));
        }
        // Sleep on the first unfinished task's word; any task's report or
        // a new task to trace is picked up within a millisecond. (The
        // tasks move through the tree's stages by themselves.)
        let first = (0..n).find(|&i| status.state(i) == STATE_RUNNING);
        match first {
            Some(i) if tracer.iter().all(|t| t.is_some()) => {
                status.wait(i, STATE_RUNNING, 1_000_000)
            }
            _ => std::thread::sleep(Duration::from_micros(20)),
        }
    }
}

/// The error task `i` (`pid`) reported in the status area.
fn failure(status: &StatusArea, i: usize, pid: TaskId) -> RestoreError {
    match status.failure(i) {
        (0, _, _) => RestoreError::Child {
            pid,
            msg: status.message(),
        },
        (stage, errno, detail) => RestoreError::Blob {
            pid,
            stage,
            errno,
            detail,
        },
    }
}

/// Forks a task with pid `pid` (clone3 `set_tid`), in new namespaces
/// for `flags`; EEXIST names who holds the pid.
pub fn fork_with_pid(pid: u32, flags: u64) -> Result<Forked, RestoreError> {
    // SAFETY: the loader is single-threaded while it restores (it starts
    // no threads), so the child's copy of the address space is consistent.
    match unsafe { sys::clone3(flags, &[pid as i32]) } {
        Ok(f) => Ok(f),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Err(RestoreError::PidTaken {
            pid,
            holder: crate::proc::holder(pid),
        }),
        Err(e) => Err(RestoreError::sys(pid, "clone3 with set_tid", e)),
    }
}

/// Waits until the root arrived at the end of PREPARE_NAMESPACES; an
/// error if it failed or died first, or took over 30 s.
pub(crate) fn wait_root_namespaces(status: &StatusArea, root: i32) -> Result<(), String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if status.tree_stage().1 == 0 {
            return Ok(());
        }
        if status.state(0) == restorer_blob::STATE_FAILED {
            return Err(status.message());
        }
        if crate::proc::Stat::read(root).is_ok_and(|s| s.state == 'Z') {
            return Err("died before its namespaces were ready".into());
        }
        if std::time::Instant::now() > deadline {
            return Err("its namespaces were not ready within 30 s".into());
        }
        status.wait_arrivals(1, 1_000_000);
    }
}
