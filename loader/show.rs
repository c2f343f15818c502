//! `crest show` (an image as JSON, in the shape `crit decode` prints) and
//! `crest check` (the kernel features crest relies on).

use std::path::{Path, PathBuf};

use crate::images::json::{self, Style};
use crate::kerndat::Kerndat;

/// Why `crest show` could not print an image.
#[derive(Debug)]
pub enum ShowError {
    /// No file was named.
    NoFile,
    Read {
        path: PathBuf,
        err: std::io::Error,
    },
    /// A pages file: raw memory, no records.
    Raw {
        path: PathBuf,
        len: usize,
    },
    /// The file is not a well-formed image of a kind crest knows.
    Json {
        path: PathBuf,
        err: json::JsonError,
    },
}

impl std::fmt::Display for ShowError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            ShowError::NoFile => write!(f, "show: name an image file (crest show [--pretty] FILE)"),
            ShowError::Read { path, err } if err.kind() == std::io::ErrorKind::NotFound => {
                write!(f, "{}: no such image", path.display())
            }
            ShowError::Read { path, err } => {
                write!(f, "{}: {}", path.display(), crate::sys::describe(err))
            }
            ShowError::Raw { path, len } => write!(
                f,
                "{}: raw page data ({len} bytes), not a protobuf image",
                path.display()
            ),
            ShowError::Json { path, err } => write!(f, "{}: {err}", path.display()),
        }
    }
}

impl std::error::Error for ShowError {}

/// Prints every file in `files` as JSON (`pretty`: indented, with CRIU's
/// display options applied, as `crit decode --pretty`).
pub fn show(files: &[PathBuf], pretty: bool) -> Result<(), ShowError> {
    if files.is_empty() {
        return Err(ShowError::NoFile);
    }
    let style = if pretty { Style::PRETTY } else { Style::PLAIN };
    for path in files {
        println!("{}", render(path, style)?);
    }
    Ok(())
}

/// The JSON of one image file.
pub fn render(path: &Path, style: Style) -> Result<String, ShowError> {
    let data = crate::images::read_regular(path).map_err(|err| ShowError::Read {
        path: path.into(),
        err,
    })?;
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if file_name.starts_with("pages-") {
        return Err(ShowError::Raw {
            path: path.into(),
            len: data.len(),
        });
    }
    json::image_to_json(&data, style).map_err(|err| ShowError::Json {
        path: path.into(),
        err,
    })
}

/// `crest check`: one line per feature; exit 1 if restore cannot work.
pub fn check() -> Result<i32, String> {
    let k = Kerndat::probe();
    let mut fatal = false;
    let mut line = |ok: bool, needed: bool, what: &str, detail: String| {
        let tag = match (ok, needed) {
            (true, _) => "ok  ",
            (false, true) => "FAIL",
            (false, false) => "warn",
        };
        fatal |= needed && !ok;
        println!(
            "{tag} {what}{}",
            if detail.is_empty() {
                detail
            } else {
                format!(": {detail}")
            }
        );
    };
    line(true, false, "kernel", k.kernel.clone());
    line(
        k.has_clone3_set_tid,
        true,
        "clone3 with set_tid (restore with the same pids)",
        String::new(),
    );
    line(
        k.has_mm_map,
        true,
        "prctl PR_SET_MM_MAP (mm fields, exe link)",
        String::new(),
    );
    line(
        k.has_restore_caps,
        true,
        "CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE",
        String::new(),
    );
    line(
        k.has_sys_resource,
        false,
        "CAP_SYS_RESOURCE",
        if k.has_sys_resource {
            String::new()
        } else {
            "absent: resource limits above ours are lowered to ours".into()
        },
    );
    line(
        k.has_map_files,
        false,
        "/proc/PID/map_files (dump)",
        String::new(),
    );
    line(
        k.has_timens,
        false,
        "time namespace (monotonic clocks continue)",
        String::new(),
    );
    line(
        k.has_timer_restore_ids,
        false,
        "PR_TIMER_CREATE_RESTORE_IDS (POSIX timers keep their ids)",
        String::new(),
    );
    let ns: Vec<String> = k
        .namespaces
        .iter()
        .map(|(n, ok)| format!("{n}{}", if *ok { "" } else { "(absent)" }))
        .collect();
    line(true, false, "namespaces", ns.join(" "));
    match k.vdso {
        Some(v) => line(
            true,
            true,
            "vdso",
            format!(
                "{} vvar pages + {} vdso pages ({})",
                v.vvar_len / 4096,
                v.vdso_len / 4096,
                if v.vvar_len > 4 * 4096 {
                    "[vvar] + [vvar_vclock] layout"
                } else {
                    "classic layout"
                }
            ),
        ),
        None => line(false, true, "vdso", "not found in /proc/self/maps".into()),
    }
    line(
        true,
        false,
        "xsave",
        match k.sigframe_xstate {
            Some(size) => format!(
                "signal frames carry {size} bytes, features {:#x}",
                k.sigframe_xfeatures
            ),
            None => "legacy fxsave signal frames".into(),
        },
    );
    if fatal {
        println!("restore cannot work on this system");
        Ok(1)
    } else {
        println!("looks good");
        Ok(0)
    }
}
