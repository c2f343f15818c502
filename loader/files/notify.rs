//! inotify and fanotify instances: their watches and marks, from the
//! instance's fdinfo, each inode named by its file handle (and, as with
//! CRIU's --force-irmap, by the path the handle opens here). Restore
//! makes the instance again and adds each watch with its number
//! (INOTIFY_IOC_SETNEXTWD) and each mark with its flags and masks.
//! Events queued but not read are not kept, as in CRIU.

use std::collections::HashMap;
use std::ffi::CString;

use super::Files;
use crate::dump::DumpError;
use crate::images::schema::*;
use crate::restore::RestoreError;
use crate::sys;

/// CRIU writes at least this many u64 words of a handle.
const HANDLE_WORDS: usize = 16;

/// The `key:value` words of one fdinfo line, values in hex.
fn fields(line: &str) -> HashMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|w| w.split_once(':'))
        .collect()
}

fn hex(f: &HashMap<&str, &str>, key: &str) -> Option<u64> {
    u64::from_str_radix(f.get(key)?, 16).ok()
}

/// The kernel's dev_t (fdinfo's `sdev`) as major and minor.
fn kdev(d: u64) -> (u64, u64) {
    (d >> 20, d & 0xf_ffff)
}

/// The file handle of a mark line: its bytes as CRIU packs them, and
/// the path it opens here (refused when the inode was deleted).
fn handle(
    pid: i32,
    fd: i32,
    f: &HashMap<&str, &str>,
    sdev: u64,
    ghosts: &mut super::ghost::Ghosts,
) -> Result<FhEntry, DumpError> {
    let bad = || DumpError::refused(pid, format!("fd {fd}: a watch without its file handle"));
    let bytes = hex(f, "fhandle-bytes").ok_or_else(bad)? as usize;
    let kind = hex(f, "fhandle-type").ok_or_else(bad)? as u32;
    let text = f.get("f_handle").ok_or_else(bad)?;
    let raw: Vec<u8> = (0..text.len() / 2)
        .filter_map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
        .collect();
    if raw.len() != bytes {
        return Err(bad());
    }
    let mut words = vec![0u64; HANDLE_WORDS.max(bytes.div_ceil(8))];
    for (i, b) in raw.iter().enumerate() {
        words[i / 8] |= u64::from(*b) << (8 * (i % 8));
    }
    let fail = |e| {
        DumpError::sys(
            pid,
            format!("fd {fd}: the file a watch is on (device {sdev:#x})"),
            e,
        )
    };
    let file = open_handle(sdev, kind as i32, &raw).map_err(fail)?;
    let own = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file));
    let mut path = std::fs::read_link(&own)
        .map_err(fail)?
        .to_string_lossy()
        .into_owned();
    // A deleted file is watched where its ghost is made, or through the
    // link that --link-remap makes for one still linked elsewhere.
    if let Some(name) = path.strip_suffix(" (deleted)").map(str::to_string) {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&own).map_err(fail)?;
        if meta.nlink() == 0 {
            // A ghost, if the tree holds it (checked once all is met).
            ghosts
                .watched
                .push(((meta.dev(), meta.ino()), pid, fd, name.clone()));
            path = name;
        } else if ghosts.link_remap {
            path = ghosts.link(&file, &meta, &name).map_err(fail)?;
        } else {
            return Err(DumpError::refused(
                pid,
                format!(
                    "fd {fd}: a watch on the deleted file {path}, still linked elsewhere (dump \
                     with --link-remap to keep it through a link of its own)"
                ),
            ));
        }
    }
    Ok(FhEntry {
        bytes: bytes as u32,
        r#type: kind,
        handle: words,
        path: Some(path),
        mnt_id: None,
    })
}

/// Opens (O_PATH) the file handle `raw` names on the filesystem of
/// device `sdev`, through a mount point of it.
fn open_handle(sdev: u64, kind: i32, raw: &[u8]) -> std::io::Result<std::os::fd::OwnedFd> {
    let (major, minor) = kdev(sdev);
    let point = crate::proc::mountinfo("self")?
        .into_iter()
        .find(|m| m.dev == (major as u32, minor as u32))
        .map(|m| m.mountpoint)
        .ok_or_else(|| std::io::Error::other(format!("no mount of device {major}:{minor} here")))?;
    let cpoint = CString::new(point).map_err(std::io::Error::other)?;
    let mfd = sys::open(
        &cpoint,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        0,
    )?;
    let r = sys::open_by_handle(mfd, kind, raw, libc::O_PATH | libc::O_CLOEXEC);
    sys::close(mfd);
    r
}

impl Files {
    /// An inotify instance and its watches (fdinfo `inotify wd:` lines).
    pub(crate) fn inotify(
        &mut self,
        pid: i32,
        fd: i32,
        fdinfo: &str,
        flags: u32,
    ) -> Result<u32, DumpError> {
        let id = self.entries.len() as u32 + 1;
        let mut wd = Vec::new();
        for line in fdinfo.lines().filter(|l| l.starts_with("inotify ")) {
            let f = fields(line);
            let (Some(n), Some(ino), Some(sdev), Some(mask)) = (
                hex(&f, "wd"),
                hex(&f, "ino"),
                hex(&f, "sdev"),
                hex(&f, "mask"),
            ) else {
                return Err(DumpError::refused(
                    pid,
                    format!("fd {fd}: an inotify watch line crest cannot read: {line}"),
                ));
            };
            wd.push(InotifyWdEntry {
                id,
                i_ino: ino,
                mask: mask as u32,
                ignored_mask: hex(&f, "ignored_mask").unwrap_or(0) as u32,
                s_dev: sdev as u32,
                wd: n as u32,
                f_handle: handle(pid, fd, &f, sdev, &mut self.ghosts)?,
            });
        }
        Ok(self.add(|id| FileEntry {
            r#type: FdTypes::Inotify as i32,
            id,
            ify: Some(InotifyFileEntry {
                id,
                flags,
                fown: FownEntry::default(),
                wd,
            }),
            ..Default::default()
        }))
    }

    /// A fanotify instance and its marks (fdinfo `fanotify` lines).
    pub(crate) fn fanotify(
        &mut self,
        pid: i32,
        fd: i32,
        fdinfo: &str,
        flags: u32,
    ) -> Result<u32, DumpError> {
        let id = self.entries.len() as u32 + 1;
        let (mut faflags, mut evflags, mut mark) = (0, 0, Vec::new());
        for line in fdinfo.lines().filter(|l| l.starts_with("fanotify ")) {
            let f = fields(line);
            if let Some(v) = hex(&f, "flags") {
                faflags = v as u32;
                evflags = hex(&f, "event-flags").unwrap_or(0) as u32;
                continue;
            }
            let unreadable = || {
                DumpError::refused(
                    pid,
                    format!("fd {fd}: a fanotify mark line crest cannot read: {line}"),
                )
            };
            let mflags = hex(&f, "mflags").ok_or_else(unreadable)? as u32;
            let mask = hex(&f, "mask").ok_or_else(unreadable)? as u32;
            let ignored_mask = hex(&f, "ignored_mask").unwrap_or(0) as u32;
            let mut m = FanotifyMarkEntry {
                id,
                mflags,
                mask,
                ignored_mask,
                ..Default::default()
            };
            if let (Some(ino), Some(sdev)) = (hex(&f, "ino"), hex(&f, "sdev")) {
                m.r#type = MarkType::Inode as i32;
                m.s_dev = sdev as u32;
                m.ie = Some(FanotifyInodeMarkEntry {
                    i_ino: ino,
                    f_handle: handle(pid, fd, &f, sdev, &mut self.ghosts)?,
                });
            } else if let Some(mnt) = hex(&f, "mnt_id") {
                m.r#type = MarkType::Mount as i32;
                m.me = Some(FanotifyMountMarkEntry {
                    mnt_id: mnt as u32,
                    path: Some(mount_path(mnt).map_err(|e| {
                        DumpError::sys(pid, format!("fd {fd}: mount {mnt} of a mark"), e)
                    })?),
                });
            } else {
                return Err(DumpError::refused(
                    pid,
                    format!("fd {fd}: a fanotify mark on a whole filesystem, which crest does not dump yet"),
                ));
            }
            mark.push(m);
        }
        Ok(self.add(|id| FileEntry {
            r#type: FdTypes::Fanotify as i32,
            id,
            ffy: Some(FanotifyFileEntry {
                id,
                flags,
                fown: FownEntry::default(),
                faflags,
                evflags,
                mark,
            }),
            ..Default::default()
        }))
    }
}

/// The mount point of mount `mnt_id` (ours: the tree shares our mounts).
fn mount_path(mnt_id: u64) -> std::io::Result<String> {
    crate::proc::mountinfo("self")?
        .into_iter()
        .find(|m| u64::from(m.id) == mnt_id)
        .map(|m| m.mountpoint)
        .ok_or_else(|| std::io::Error::other("not among our mounts"))
}

/// The path a mark's inode is at: the one recorded, else what its handle
/// opens here.
fn mark_path(fh: &FhEntry, sdev: u32, what: &str) -> Result<CString, RestoreError> {
    let path = match &fh.path {
        Some(p) => p.clone(),
        None => {
            let raw: Vec<u8> = fh
                .handle
                .iter()
                .flat_map(|w| w.to_le_bytes())
                .take(fh.bytes as usize)
                .collect();
            if raw.len() != fh.bytes as usize {
                return Err(RestoreError::Inconsistent(format!(
                    "{what}: a file handle shorter than its {} bytes",
                    fh.bytes
                )));
            }
            let fd = open_handle(u64::from(sdev), fh.r#type as i32, &raw)
                .map_err(|e| RestoreError::sys(0, format!("{what}: opening its file handle"), e))?;
            let fd = std::os::fd::AsRawFd::as_raw_fd(&fd);
            std::fs::read_link(format!("/proc/self/fd/{fd}"))
                .map_err(|e| RestoreError::sys(0, what.to_string(), e))?
                .to_string_lossy()
                .into_owned()
        }
    };
    super::install::cpath(&path, what)
}

/// Makes the inotify or fanotify instance of `file` with its watches or
/// marks.
pub(crate) fn create(file: &FileEntry) -> Result<Option<i32>, RestoreError> {
    let fail = |what: String, e: std::io::Error| RestoreError::sys(0, what, e);
    if let Some(i) = &file.ify {
        let what = format!("inotify {}", i.id);
        let flags = i.flags as i32 & libc::O_NONBLOCK;
        let fd = sys::inotify_init(flags | libc::O_CLOEXEC)
            .map_err(|e| fail(format!("{what}: inotify_init1"), e))?;
        let mut watches: Vec<&InotifyWdEntry> = i.wd.iter().collect();
        watches.sort_by_key(|w| w.wd);
        for w in watches {
            let at = format!("{what}: watch {}", w.wd);
            let path = mark_path(&w.f_handle, w.s_dev, &at)?;
            sys::inotify_set_next_wd(fd, w.wd as i32)
                .map_err(|e| fail(format!("{at}: INOTIFY_IOC_SETNEXTWD"), e))?;
            let mask = w.mask & libc::IN_ALL_EVENTS
                | w.mask & (libc::IN_DONT_FOLLOW | libc::IN_EXCL_UNLINK | libc::IN_ONESHOT);
            let got = sys::inotify_add_watch(fd, &path, mask | libc::IN_DONT_FOLLOW)
                .map_err(|e| fail(format!("{at} on {path:?}"), e))?;
            if got as u32 != w.wd {
                return Err(RestoreError::Inconsistent(format!(
                    "{at}: {path:?} got number {got} (two watches on one file?)"
                )));
            }
        }
        return Ok(Some(fd));
    }
    if let Some(f) = &file.ffy {
        let what = format!("fanotify {}", f.id);
        let fd = sys::fanotify_init(f.faflags, f.evflags)
            .map_err(|e| fail(format!("{what}: fanotify_init"), e))?;
        for m in &f.mark {
            let at = format!("{what}: mark");
            let (path, kind) = match (&m.ie, &m.me) {
                (Some(ie), _) => (mark_path(&ie.f_handle, m.s_dev, &at)?, 0),
                (None, Some(me)) => {
                    let p = me.path.as_deref().ok_or_else(|| {
                        RestoreError::Inconsistent(format!("{at}: a mount mark without its path"))
                    })?;
                    (super::install::cpath(p, &at)?, libc::FAN_MARK_MOUNT)
                }
                _ => {
                    return Err(RestoreError::Inconsistent(format!(
                        "{at}: neither an inode nor a mount"
                    )))
                }
            };
            let base = libc::FAN_MARK_ADD | kind | (m.mflags & libc::FAN_MARK_IGNORED_SURV_MODIFY);
            if m.mask != 0 {
                sys::fanotify_mark(fd, base, u64::from(m.mask), &path)
                    .map_err(|e| fail(format!("{at} on {path:?}"), e))?;
            }
            if m.ignored_mask != 0 {
                sys::fanotify_mark(
                    fd,
                    base | libc::FAN_MARK_IGNORED_MASK,
                    u64::from(m.ignored_mask),
                    &path,
                )
                .map_err(|e| fail(format!("{at} (ignored) on {path:?}"), e))?;
            }
        }
        return Ok(Some(fd));
    }
    Ok(None)
}
