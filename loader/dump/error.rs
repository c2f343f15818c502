//! Why a dump failed, with the task and the object named; and the
//! failures injected on purpose (`CREST_FAULT`).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::sys;

/// Why a dump failed. Whatever the variant, the tree runs on as it was
/// and no image of the failed dump is left.
#[derive(Debug)]
pub enum DumpError {
    /// A /proc file of a task could not be read or parsed.
    Proc(crate::proc::ProcError),
    /// A system call about task `pid` failed; `what` names the call and
    /// the object (fd, address, thread).
    Sys {
        pid: i32,
        what: String,
        err: std::io::Error,
    },
    /// The task died or exited while it was being dumped.
    Gone { pid: i32, what: String },
    /// The traced task did something unexpected (a stop, a result).
    Task { pid: i32, what: String },
    /// State crest does not dump (yet): refused before anything was written.
    Refused { pid: i32, what: String },
    /// A file could not be examined or written: one the tree holds, an
    /// image file, the image directory.
    File { path: PathBuf, err: std::io::Error },
    /// The request itself cannot be met (a bad pid, crest itself).
    Request(String),
}

impl From<crate::proc::ProcError> for DumpError {
    fn from(e: crate::proc::ProcError) -> Self {
        match e {
            crate::proc::ProcError::NoSuchProcess { pid } => DumpError::Gone {
                pid,
                what: "no such process".into(),
            },
            e => DumpError::Proc(e),
        }
    }
}

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            DumpError::Proc(e) => write!(f, "{e}"),
            DumpError::Sys { pid, what, err } => {
                write!(f, "pid {pid}: {what}: {}", sys::describe(err))
            }
            DumpError::Gone { pid, what } => write!(f, "pid {pid}: {what}"),
            DumpError::Task { pid, what } => write!(f, "pid {pid}: {what}"),
            DumpError::Refused { pid, what } => write!(f, "cannot dump pid {pid}: {what}"),
            DumpError::File { path, err } => {
                write!(f, "{}: {}", path.display(), sys::describe(err))
            }
            DumpError::Request(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for DumpError {}

impl DumpError {
    pub(crate) fn sys(pid: i32, what: impl Into<String>, err: std::io::Error) -> DumpError {
        DumpError::Sys {
            pid,
            what: what.into(),
            err,
        }
    }

    pub(crate) fn refused(pid: i32, what: impl Into<String>) -> DumpError {
        DumpError::Refused {
            pid,
            what: what.into(),
        }
    }

    pub(crate) fn file(path: impl AsRef<Path>, err: std::io::Error) -> DumpError {
        DumpError::File {
            path: path.as_ref().into(),
            err,
        }
    }
}

/// The dump stages `CREST_FAULT` can name: the dump fails there on
/// purpose, which must leave the tree running as it was and no images.
const FAULT_STAGES: &[&str] = &["seize", "proc", "inject", "pages", "images", "sync"];

/// `CREST_FAULT=<stage>` for a dump (unset: none); an unknown value is an
/// error, not a dump without the fault.
pub(super) fn fault_from_env() -> Result<Option<&'static str>, DumpError> {
    let Ok(v) = std::env::var("CREST_FAULT") else {
        return Ok(None);
    };
    FAULT_STAGES
        .iter()
        .find(|&&s| s == v)
        .map(|&s| Some(s))
        .ok_or_else(|| {
            DumpError::Request(format!(
                "CREST_FAULT={v:?} names no dump stage (one of: {})",
                FAULT_STAGES.join(", ")
            ))
        })
}

/// Fails on purpose when CREST_FAULT names dump stage `stage`.
pub(super) fn injected(fault: Option<&'static str>, stage: &str) -> Result<(), DumpError> {
    match fault {
        Some(f) if f == stage => Err(DumpError::Request(format!(
            "{stage}: fault injected by CREST_FAULT"
        ))),
        _ => Ok(()),
    }
}
