//! Why a restore failed, and the task it names in messages.

use std::fmt;

use crate::images::ImageError;
use crate::sys;

/// Why a restore failed.
#[derive(Debug)]
pub enum RestoreError {
    Image(ImageError),
    /// The images contradict themselves or the system (sizes, ranges).
    Inconsistent(String),
    /// Valid images with state crest cannot restore yet.
    Unsupported(String),
    /// A system call of the loader failed: on `pid`'s behalf, or for the
    /// tree (`pid` 0); `what` names the call and the object.
    Sys {
        pid: u32,
        what: String,
        err: std::io::Error,
    },
    /// The loader could not go on for another reason (a timeout, a layout
    /// that does not fit).
    System(String),
    /// The dumped pid is in use.
    PidTaken {
        pid: u32,
        holder: String,
    },
    /// The task failed before the blob ran (message from the child).
    Child {
        pid: TaskId,
        msg: String,
    },
    /// The blob reported a failed stage.
    Blob {
        pid: TaskId,
        stage: u32,
        errno: u32,
        detail: u64,
    },
    /// The task died without reporting.
    Died {
        pid: TaskId,
        status: String,
    },
}

/// A restored task in messages: its dumped pid, and ours for it where a
/// pid namespace makes them differ ("pid 4242 (ns pid 3)").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskId {
    /// The pid in the images (in the tree's pid namespace).
    pub pid: u32,
    /// Ours (0: not known).
    pub host: u32,
}

impl From<u32> for TaskId {
    fn from(pid: u32) -> Self {
        TaskId { pid, host: 0 }
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.host != 0 && self.host != self.pid {
            write!(f, "pid {} (ns pid {})", self.host, self.pid)
        } else {
            write!(f, "pid {}", self.pid)
        }
    }
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            RestoreError::Image(e) => write!(f, "{e}"),
            RestoreError::Inconsistent(m) => write!(f, "inconsistent images: {m}"),
            RestoreError::Unsupported(m) => write!(f, "unsupported: {m}"),
            RestoreError::Sys { pid: 0, what, err } => write!(f, "{what}: {}", sys::describe(err)),
            RestoreError::Sys { pid, what, err } => {
                write!(f, "pid {pid}: {what}: {}", sys::describe(err))
            }
            RestoreError::System(m) => write!(f, "{m}"),
            RestoreError::PidTaken { pid, holder } => {
                write!(
                    f,
                    "pid {pid} is already in use by {holder}: cannot restore the task with its pid"
                )
            }
            RestoreError::Child { pid, msg } => write!(f, "{pid}: {msg}"),
            RestoreError::Blob {
                pid,
                stage,
                errno,
                detail,
            } => {
                write!(
                    f,
                    "{pid}: restorer failed at {}: {}",
                    restorer_blob::stage_name(*stage),
                    sys::describe(&std::io::Error::from_raw_os_error(*errno as i32))
                )?;
                if *detail == u64::MAX {
                    write!(f, " (fault injected by CREST_FAULT)")
                } else if *detail != 0 {
                    write!(f, " (at {detail:#x})")
                } else {
                    Ok(())
                }
            }
            RestoreError::Died { pid, status } => {
                write!(f, "{pid}: the task {status} before finishing its restore")
            }
        }
    }
}

impl From<ImageError> for RestoreError {
    fn from(e: ImageError) -> Self {
        RestoreError::Image(e)
    }
}

impl std::error::Error for RestoreError {}

impl RestoreError {
    /// A failed system call for task `pid` (0: for the whole tree).
    pub(crate) fn sys(
        pid: impl TryInto<u32>,
        what: impl Into<String>,
        err: std::io::Error,
    ) -> Self {
        RestoreError::Sys {
            pid: pid.try_into().unwrap_or(0),
            what: what.into(),
            err,
        }
    }
}
