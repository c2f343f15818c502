//! `CREST_FAULT=<stage>`: the stage of the blob or of the loader at which
//! a restore fails on purpose, so that tests can prove every failure path
//! reports by name and leaves nothing behind.

use super::RestoreError;

/// The blob stages `CREST_FAULT` can name, each with a fault point.
const FAULT_STAGES: &[(&str, u32)] = &[
    ("entry", restorer_blob::STAGE_ENTRY),
    ("unmap", restorer_blob::STAGE_UNMAP),
    ("mremap", restorer_blob::STAGE_REMAP),
    ("vdso", restorer_blob::STAGE_VDSO),
    ("mm", restorer_blob::STAGE_MM),
    ("sigaction", restorer_blob::STAGE_SIGACTION),
    ("itimer", restorer_blob::STAGE_ITIMER),
    ("rlimit", restorer_blob::STAGE_RLIMIT),
    ("name", restorer_blob::STAGE_NAME),
    ("thread", restorer_blob::STAGE_THREAD),
    ("sigqueue", restorer_blob::STAGE_SIGQUEUE),
    ("creds", restorer_blob::STAGE_CREDS),
    ("rseq", restorer_blob::STAGE_RSEQ),
    ("sigreturn", restorer_blob::STAGE_SIGRETURN),
    ("posix-timer", restorer_blob::STAGE_POSIX_TIMER),
    ("seccomp", restorer_blob::STAGE_SECCOMP),
    ("clone", restorer_blob::STAGE_CLONE),
    ("sched", restorer_blob::STAGE_SCHED),
    ("pdeathsig", restorer_blob::STAGE_PDEATHSIG),
];

/// Loader stages `CREST_FAULT` can name: each fails the restore on
/// purpose at that point (in the root, in a task, or in the loader).
const LOADER_FAULTS: &[&str] = &[
    "read",
    "mounts",
    "plan",
    "layout",
    "network",
    "pipes",
    "cgroups",
    "files",
    "premap",
    "prepare-namespaces",
    "ipc",
    "forking",
    "zombies",
    "scripts",
    "setup-namespaces",
    "post-restore",
    "pre-resume",
];

/// What `CREST_FAULT` asks to fail.
#[derive(Debug, Clone, Copy)]
pub struct Fault {
    /// The blob stage (`FAULT_NONE`: none).
    pub blob: u32,
    /// The loader stage (one of `LOADER_FAULTS`).
    pub loader: Option<&'static str>,
}

/// `CREST_FAULT=<stage>`: the blob or loader stage to fail on purpose
/// (unset: none). An unknown value is an error, not a restore without the
/// fault.
pub fn fault_from_env() -> Result<Fault, RestoreError> {
    let none = Fault {
        blob: restorer_blob::FAULT_NONE,
        loader: None,
    };
    let Ok(v) = std::env::var("CREST_FAULT") else {
        return Ok(none);
    };
    let name = if v == "remap" { "mremap" } else { v.as_str() };
    if let Some(l) = LOADER_FAULTS.iter().find(|&&l| l == name) {
        return Ok(Fault {
            loader: Some(l),
            ..none
        });
    }
    FAULT_STAGES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| Fault { blob: *s, ..none })
        .ok_or_else(|| {
            let names: Vec<&str> = FAULT_STAGES
                .iter()
                .map(|(n, _)| *n)
                .chain(LOADER_FAULTS.iter().copied())
                .collect();
            RestoreError::System(format!(
                "CREST_FAULT={v:?} names no restore stage (one of: {})",
                names.join(", ")
            ))
        })
}
