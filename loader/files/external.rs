//! Files outside the tree, as CRIU's options name them. At dump,
//! `--external file[MNT_ID:INODE]` or `--external tty[RDEV:DEV]` (hex)
//! records that file by that name instead of dumping it. At restore,
//! `--inherit-fd fd[N]:NAME` has crest's own descriptor N stand in for
//! every descriptor of the file the images name so: an external one, a
//! pipe (`pipe:[ID]`), a unix socket (`socket:[INODE]`), a terminal
//! (`tty[RDEV:DEV]`) or a regular file (its path).

use crate::images::schema::{FdTypes, FileEntry, TtyType};
use crate::restore::RestoreError;

/// One `--inherit-fd fd[N]:NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inherit {
    pub fd: i32,
    pub name: String,
}

/// Parses `fd[N]:NAME`.
pub fn parse_inherit(arg: &str) -> Result<Inherit, String> {
    let bad = || format!("--inherit-fd {arg:?}: not fd[N]:NAME");
    let rest = arg.strip_prefix("fd[").ok_or_else(bad)?;
    let (n, name) = rest.split_once("]:").ok_or_else(bad)?;
    let fd: i32 = n.parse().map_err(|_| bad())?;
    if fd < 0 || name.is_empty() {
        return Err(bad());
    }
    Ok(Inherit {
        fd,
        name: name.to_string(),
    })
}

/// The name an external regular file is recorded by.
pub(crate) fn file_name(mnt_id: u64, ino: u64) -> String {
    format!("file[{mnt_id:x}:{ino:x}]")
}

/// The name an external terminal is recorded by.
pub(crate) fn tty_name(rdev: u64, dev: u64) -> String {
    format!("tty[{rdev:x}:{dev:x}]")
}

/// The names CRIU gives the file of `file` when it looks it up among the
/// inherited descriptors.
fn names(file: &FileEntry, ttys: &super::tty::Images) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(r) = &file.reg {
        out.push(r.name.clone());
        // CRIU keeps paths without their leading slash.
        if let Some(rel) = r.name.strip_prefix('/') {
            out.push(rel.to_string());
        }
    }
    if let Some(p) = &file.pipe {
        out.push(format!("pipe:[{}]", p.pipe_id));
    }
    if let Some(u) = &file.usk {
        out.push(format!("socket:[{}]", u.ino));
    }
    if let Some(i) = file
        .tty
        .as_ref()
        .and_then(|t| ttys.infos.get(&t.tty_info_id))
    {
        out.push(format!("tty[{:x}:{:x}]", i.rdev, i.dev.unwrap_or(0)));
    }
    out
}

/// The inherited descriptor that stands for `file`, if any; an external
/// file none stands for is refused by name.
pub(crate) fn inherited(
    file: &FileEntry,
    ttys: &super::tty::Images,
    inherit: &[Inherit],
    what: &str,
) -> Result<Option<i32>, RestoreError> {
    let names = names(file, ttys);
    if let Some(i) = inherit.iter().find(|i| names.contains(&i.name)) {
        return Ok(Some(i.fd));
    }
    let external_tty = file
        .tty
        .as_ref()
        .and_then(|t| ttys.infos.get(&t.tty_info_id))
        .is_some_and(|i| i.r#type == TtyType::ExtTty as i32);
    let external_reg = file.r#type == FdTypes::Reg as i32
        && file.reg.as_ref().is_some_and(|r| r.ext == Some(true));
    if external_tty || external_reg {
        let name = names.last().cloned().unwrap_or_default();
        return Err(RestoreError::Unsupported(format!(
            "{what}: {name} was outside the tree when dumped (--external); give crest one to \
             use with --inherit-fd fd[N]:{name}"
        )));
    }
    Ok(None)
}

/// Checks that every inherited descriptor is open here.
pub fn check_inherited(inherit: &[Inherit]) -> Result<(), RestoreError> {
    for i in inherit {
        if !crate::sys::fd_is_open(i.fd) {
            return Err(RestoreError::System(format!(
                "--inherit-fd fd[{}]:{}: crest has no descriptor {}",
                i.fd, i.name, i.fd
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inherit_fd_arguments() {
        assert_eq!(
            parse_inherit("fd[3]:pipe:[1234]"),
            Ok(Inherit {
                fd: 3,
                name: "pipe:[1234]".into()
            })
        );
        assert_eq!(parse_inherit("fd[7]:tmp/x").map(|i| i.fd), Ok(7));
        for bad in ["3:pipe", "fd[x]:a", "fd[3]:", "fd[-1]:a", "fd[3]"] {
            assert!(parse_inherit(bad).is_err(), "{bad}");
        }
    }
}
