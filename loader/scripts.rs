//! Action scripts (`--action-script`), as CRIU runs them: each script is
//! run with `sh -c` at every action of a dump or restore, with
//! `CRTOOLS_SCRIPT_ACTION` naming the action, `CRTOOLS_IMAGE_DIR` the
//! images and, once the restored root exists, `CRTOOLS_INIT_PID` its pid.
//! A script that fails (exits non-zero, or cannot be run) fails the dump
//! or restore at that point, but after the tasks resumed (post-resume),
//! when it is only reported.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The scripts given, in order.
#[derive(Debug, Clone, Default)]
pub struct Scripts(pub Vec<String>);

/// Where a restore or dump stands when its scripts run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    PreDump,
    PostDump,
    PreRestore,
    SetupNamespaces,
    PostSetupNamespaces,
    PostRestore,
    PreResume,
    PostResume,
}

impl Action {
    /// The name CRIU passes in `CRTOOLS_SCRIPT_ACTION`.
    pub fn name(self) -> &'static str {
        match self {
            Action::PreDump => "pre-dump",
            Action::PostDump => "post-dump",
            Action::PreRestore => "pre-restore",
            Action::SetupNamespaces => "setup-namespaces",
            Action::PostSetupNamespaces => "post-setup-namespaces",
            Action::PostRestore => "post-restore",
            Action::PreResume => "pre-resume",
            Action::PostResume => "post-resume",
        }
    }
}

impl Scripts {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Runs every script for `action`, one after the other; the first
    /// that fails ends the run with what it did. `init`: the restored
    /// root's pid, once there is one.
    pub fn run(&self, action: Action, images: &Path, init: Option<i32>) -> Result<(), String> {
        for script in &self.0 {
            let mut cmd = Command::new("/bin/sh");
            cmd.arg("-c")
                .arg(script)
                .env("CRTOOLS_SCRIPT_ACTION", action.name())
                .env("CRTOOLS_IMAGE_DIR", absolute(images))
                .stdin(Stdio::null());
            if let Some(pid) = init {
                cmd.env("CRTOOLS_INIT_PID", pid.to_string());
            }
            crate::log!(
                crate::log::INFO,
                "action script {script:?}: {}",
                action.name()
            );
            let status = cmd
                .status()
                .map_err(|e| format!("action script {script:?} ({}): {e}", action.name()))?;
            if !status.success() {
                return Err(format!(
                    "action script {script:?} failed at {} ({status})",
                    action.name()
                ));
            }
        }
        Ok(())
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
