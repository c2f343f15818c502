//! Where a restored unix socket's name lives: bound in its directory
//! (`name_dir`), a stale socket file of the dead tree removed first, a
//! deleted one bound where it was and unlinked again, and the address
//! others reach it by (its name, or the ghost's O_PATH descriptor).

use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::images::schema::UnixSkEntry;
use crate::restore::RestoreError;
use crate::sys;

use super::unix::show_name;

pub(super) fn fail(e: &UnixSkEntry, why: String) -> RestoreError {
    RestoreError::Inconsistent(format!(
        "unix socket {} (socket:[{}]) {}: {why}",
        e.id,
        e.ino,
        show_name(&e.name)
    ))
}

/// The sockaddr_un of a name (CRIU's length: the family and the bytes).
fn addr(name: &[u8]) -> Vec<u8> {
    let mut a = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
    a.extend_from_slice(name);
    a
}

/// The file-system path of a name (without its trailing NUL), relative
/// to `name_dir` when there is one.
fn path_of(e: &UnixSkEntry) -> Option<std::path::PathBuf> {
    if e.name.first().is_none_or(|&c| c == 0) {
        return None;
    }
    let name =
        String::from_utf8_lossy(e.name.split(|&c| c == 0).next().unwrap_or(&[])).into_owned();
    Some(match &e.name_dir {
        Some(dir) if !name.starts_with('/') => std::path::Path::new(dir).join(name),
        _ => name.into(),
    })
}

/// Runs `f` with the loader's cwd in the entry's `name_dir`, where a
/// relative name was bound; back in the old cwd afterwards.
pub(super) fn in_name_dir<T>(
    e: &UnixSkEntry,
    f: impl FnOnce() -> std::io::Result<T>,
) -> Result<T, RestoreError> {
    let Some(dir) = e
        .name_dir
        .as_deref()
        .filter(|_| e.name.first() != Some(&b'/'))
    else {
        return f().map_err(|err| fail(e, err.to_string()));
    };
    let here = std::fs::File::open(".").map_err(|err| fail(e, format!("opening cwd: {err}")))?;
    let c = CString::new(dir).map_err(|_| fail(e, "name_dir has a NUL byte".into()))?;
    let d = sys::open(&c, libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC, 0)
        .map_err(|err| fail(e, format!("{dir}: {err}")))?;
    let moved = sys::fchdir(d);
    sys::close(d);
    moved.map_err(|err| fail(e, format!("chdir {dir}: {err}")))?;
    let r = f();
    let _ = sys::fchdir(here.as_raw_fd());
    r.map_err(|err| fail(e, err.to_string()))
}

/// Binds `e`; for a deleted name, returns an O_PATH descriptor of the
/// socket's file, through which others still reach it.
pub(super) fn bind(e: &UnixSkEntry, fd: RawFd) -> Result<Option<OwnedFd>, RestoreError> {
    if e.name.is_empty() {
        return Ok(None);
    }
    let Some(p) = path_of(e) else {
        return in_name_dir(e, || sys::bind(fd, &addr(&e.name))).map(|()| None);
    };
    if e.deleted == Some(true) {
        return bind_deleted(e, fd, &p).map(Some);
    }
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(&p) {
        // The dumped socket's own file, left behind when it died.
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(&p)
            .map_err(|err| fail(e, format!("removing the stale {}: {err}", p.display())))?,
        Ok(_) => return Err(fail(e, format!("{} is taken by another file", p.display()))),
        Err(_) => {}
    }
    in_name_dir(e, || sys::bind(fd, &addr(&e.name)))?;
    if let Some(perms) = &e.file_perms {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(perms.mode & 0o7777))
            .and_then(|_| std::os::unix::fs::lchown(&p, Some(perms.uid), Some(perms.gid)))
            .map_err(|err| fail(e, format!("owner and mode of {}: {err}", p.display())))?;
    }
    Ok(None)
}

/// A socket whose file was deleted: bound where it was (missing parent
/// directories made, a file now at that path moved aside), then the new
/// file unlinked and everything put back as it was.
pub(super) fn bind_deleted(
    e: &UnixSkEntry,
    fd: RawFd,
    p: &std::path::Path,
) -> Result<OwnedFd, RestoreError> {
    let mut made = Vec::new();
    let mut dir = p.parent();
    while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        made.push(d.to_path_buf());
        dir = d.parent();
    }
    for d in made.iter().rev() {
        std::fs::create_dir(d).map_err(|err| fail(e, format!("mkdir {}: {err}", d.display())))?;
    }
    let aside = p.with_file_name(format!(
        "{}.crest-sk-ghost",
        p.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let moved = std::fs::symlink_metadata(p).is_ok();
    if moved {
        std::fs::rename(p, &aside)
            .map_err(|err| fail(e, format!("moving {} aside: {err}", p.display())))?;
    }
    let bound = in_name_dir(e, || {
        sys::bind(fd, &addr(&e.name))?;
        let c = CString::new(p.as_os_str().as_encoded_bytes()).map_err(std::io::Error::other)?;
        sys::open_owned(&c, libc::O_PATH)
    });
    let unlinked = if bound.is_ok() {
        std::fs::remove_file(p)
    } else {
        Ok(())
    };
    if moved {
        let _ = std::fs::rename(&aside, p);
    }
    for d in &made {
        let _ = std::fs::remove_dir(d);
    }
    let ghost = bound?;
    unlinked.map_err(|err| fail(e, format!("unlinking {}: {err}", p.display())))?;
    Ok(ghost)
}

/// Where others reach socket `e`: its name, or for a deleted one its
/// file through the loader's O_PATH descriptor (`/proc/self/fd/N`).
pub(super) fn reach(e: &UnixSkEntry, ghosts: &HashMap<u32, OwnedFd>) -> Vec<u8> {
    match ghosts.get(&e.id) {
        Some(g) => {
            let mut a = addr(format!("/proc/self/fd/{}", g.as_raw_fd()).as_bytes());
            a.push(0);
            a
        }
        None => addr(&e.name),
    }
}
