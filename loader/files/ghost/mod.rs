//! Deleted files the tree still holds: CRIU's ghost files. Each one's
//! metadata and contents go into `ghost-file-<id>.img` (a
//! `ghost_file_entry`, then the data as `ghost_chunk_entry` records each
//! followed by its bytes, holes left out), and `remap-fpath.img` maps the
//! `files.img` entry that names the file (by its old path) to the ghost.
//! Regular files, directories, FIFOs, symlinks and device nodes. A file
//! unlinked here but still linked elsewhere is, with --link-remap, kept
//! through a hard link made next to its old path (`link_remap.<n>`, a
//! LINKED remap, as CRIU makes it); without it, refused.
//!
//! At restore ([`Restored`]) each ghost is made again next to its old path
//! before anything opens it, every entry remapped to it is pointed there,
//! and once the tree holds what it needs the ghosts are removed again.

use std::ffi::CString;
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

use crate::dump::DumpError;
use crate::images::magic::GHOST_FILE_MAGIC;
use crate::images::schema::Timeval;
use crate::images::schema::{GhostChunkEntry, GhostFileEntry, RemapFilePathEntry, RemapType};
use crate::sys;

mod restore;
pub use restore::Restored;

/// CRIU's default `--ghost-limit`: 1 MiB of a deleted file's blocks.
pub const DEFAULT_LIMIT: u64 = 1 << 20;

/// One deleted file, met through a descriptor, a mapping, the cwd or the
/// exe of some task.
pub(crate) struct Ghost {
    pub(crate) id: u32,
    pub(super) dev: u64,
    pub(super) ino: u64,
    entry: GhostFileEntry,
    /// Read-only (regular files) or O_PATH copy to read it from.
    file: OwnedFd,
}

/// The ghosts of a dump and the entries remapped to them.
pub(crate) struct Ghosts {
    pub(crate) list: Vec<Ghost>,
    pub(crate) remaps: Vec<RemapFilePathEntry>,
    /// `--ghost-limit`: the most bytes a deleted file may take on disk.
    pub(crate) limit: u64,
    /// `--link-remap`: a deleted file linked elsewhere gets a hard link.
    pub(crate) link_remap: bool,
    /// Deleted files watched through inotify or fanotify, by (device,
    /// inode): (pid, fd, name). Each must be a ghost by the end.
    pub(crate) watched: Vec<((u64, u64), i32, i32, String)>,
    /// The hard links made (device, inode, path): removed again unless
    /// the dump keeps them (`keep_links`).
    pub(super) links: Vec<(u64, u64, String)>,
}

impl Drop for Ghosts {
    fn drop(&mut self) {
        for (_, _, p) in &self.links {
            let _ = fs::remove_file(p);
        }
    }
}

impl Default for Ghosts {
    fn default() -> Ghosts {
        Ghosts {
            list: Vec::new(),
            remaps: Vec::new(),
            limit: DEFAULT_LIMIT,
            link_remap: false,
            watched: Vec::new(),
            links: Vec::new(),
        }
    }
}

/// The kernel's device number encoding (20 minor bits), as CRIU's images
/// keep `dev`.
fn kernel_dev(dev: u64) -> u32 {
    ((libc::major(dev) << 20) | libc::minor(dev)) as u32
}

fn timeval(sec: i64, nsec: i64) -> Timeval {
    Timeval {
        tv_sec: sec as u64,
        tv_usec: (nsec / 1000) as u64,
    }
}

impl Ghosts {
    /// Makes (or finds) the ghost of the deleted file behind
    /// `/proc/PID/<link>` (`fd/N`, `map_files/A-B`, `cwd`, `exe`), which
    /// `name` names, and remaps files.img entry `id` to it. Returns the
    /// file's metadata.
    pub(crate) fn add(
        &mut self,
        pid: i32,
        link: &str,
        name: &str,
        id: u32,
    ) -> Result<(fs::Metadata, Option<String>), DumpError> {
        let at = format!("/proc/{pid}/{link}");
        let path = CString::new(at.clone()).unwrap_or_default();
        let opath = sys::open_owned(&path, libc::O_PATH | libc::O_CLOEXEC)
            .map_err(|e| DumpError::file(&at, e))?;
        let own = format!("/proc/self/fd/{}", opath.as_raw_fd());
        let meta = fs::metadata(&own).map_err(|e| DumpError::file(&at, e))?;
        let refuse =
            |why: String| DumpError::refused(pid, format!("{link}: {name} (deleted) {why}"));
        let kind = meta.mode() & libc::S_IFMT;
        if meta.nlink() > 0 && kind != libc::S_IFDIR {
            if !self.link_remap {
                return Err(refuse(format!(
                    "still has {} links elsewhere (dump with --link-remap to keep it through a \
                     link of its own)",
                    meta.nlink()
                )));
            }
            let path = self.link(&opath, &meta, name).map_err(|e| {
                DumpError::sys(pid, format!("{link}: a link to {name} (deleted)"), e)
            })?;
            return Ok((meta, Some(path)));
        }
        let used = meta.blocks() * 512;
        if kind == libc::S_IFREG && used > self.limit {
            return Err(refuse(format!(
                "takes {used} bytes, more than --ghost-limit ({} bytes)",
                self.limit
            )));
        }
        let found = self
            .list
            .iter()
            .find(|g| g.dev == meta.dev() && g.ino == meta.ino())
            .map(|g| g.id);
        let ghost_id = match found {
            Some(g) => g,
            None => {
                let file = match kind {
                    // Reopened for reading: the task's own descriptor may
                    // be write-only.
                    libc::S_IFREG => sys::open_owned(
                        &CString::new(own).unwrap_or_default(),
                        libc::O_RDONLY | libc::O_CLOEXEC,
                    )
                    .map_err(|e| DumpError::file(&at, e))?,
                    libc::S_IFDIR
                    | libc::S_IFIFO
                    | libc::S_IFLNK
                    | libc::S_IFCHR
                    | libc::S_IFBLK => opath,
                    _ => return Err(refuse("is a kind of file crest does not dump".into())),
                };
                let symlnk_target = if kind == libc::S_IFLNK {
                    Some(
                        sys::readlink_fd(file.as_raw_fd())
                            .map_err(|e| DumpError::file(&at, e))?
                            .to_string_lossy()
                            .into_owned(),
                    )
                } else {
                    None
                };
                let special = kind == libc::S_IFCHR || kind == libc::S_IFBLK;
                let gid = self.list.len() as u32 + 1;
                self.list.push(Ghost {
                    id: gid,
                    dev: meta.dev(),
                    ino: meta.ino(),
                    entry: GhostFileEntry {
                        uid: meta.uid(),
                        gid: meta.gid(),
                        mode: meta.mode(),
                        dev: Some(kernel_dev(meta.dev())),
                        ino: Some(meta.ino()),
                        rdev: special.then_some(meta.rdev() as u32),
                        atim: Some(timeval(meta.atime(), meta.atime_nsec())),
                        mtim: Some(timeval(meta.mtime(), meta.mtime_nsec())),
                        chunks: (kind == libc::S_IFREG).then_some(true),
                        size: (kind == libc::S_IFREG).then_some(meta.size()),
                        symlnk_target,
                    },
                    file,
                });
                gid
            }
        };
        self.remaps.push(RemapFilePathEntry {
            orig_id: id,
            remap_id: ghost_id,
            remap_type: Some(RemapType::Ghost as i32),
        });
        Ok((meta, None))
    }

    /// `ghost-file-<id>.img` of each ghost: its entry, then the data of a
    /// regular file as chunks (SEEK_DATA/SEEK_HOLE: holes stay holes).
    pub(crate) fn images(&self) -> Result<Vec<(String, Vec<u8>)>, DumpError> {
        let mut out = Vec::new();
        for g in &self.list {
            let name = format!("ghost-file-{:x}.img", g.id);
            let mut w = crate::images::ImageWriter::new(GHOST_FILE_MAGIC);
            w.push(&g.entry);
            let size = g.entry.size.unwrap_or(0);
            let fd = g.file.as_raw_fd();
            let mut at = 0u64;
            while g.entry.chunks == Some(true) && at < size {
                let Some((data, end)) = sys::next_data(fd, at, size)
                    .map_err(|e| DumpError::file(format!("ghost file {:x}", g.id), e))?
                else {
                    break;
                };
                let mut bytes = vec![0u8; (end - data) as usize];
                sys::pread_exact(fd, &mut bytes, data)
                    .map_err(|e| DumpError::file(format!("ghost file {:x}", g.id), e))?;
                let chunk = GhostChunkEntry {
                    len: end - data,
                    off: data,
                };
                w.push_raw(&chunk, &[], &bytes);
                at = end;
            }
            out.push((name, w.into_bytes()));
        }
        Ok(out)
    }
}
