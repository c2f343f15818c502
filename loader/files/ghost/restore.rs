//! Ghosts at restore: made again next to their old paths before anything
//! opens them, removed again once the tree holds what it needs; hard-link
//! remaps linked back; the /proc directories of ended processes held by
//! helpers of their pids meanwhile.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::images::magic::{self, GHOST_FILE_MAGIC};
use crate::images::schema::{FileEntry, GhostChunkEntry, GhostFileEntry, RemapType};
use crate::restore::RestoreError;
use crate::sys;

/// The ghosts a restore made, removed (files, then the directories made
/// for them) when this is dropped.
#[derive(Default)]
pub struct Restored {
    /// files.img id -> the ghost's path.
    by_file: HashMap<u32, String>,
    made: Vec<(PathBuf, bool)>,
    /// The link_remap files of the images, removed once the tree is
    /// restored (`finish`), as CRIU removes them.
    links: Vec<PathBuf>,
    /// Each ghost's path by the (device, inode) it was dumped from, for
    /// the watches on it.
    by_inode: HashMap<(u32, u64), String>,
    /// Pids of ended processes whose /proc directories the tree holds
    /// (PROCFS remaps), and the helpers holding them (`hold_dead_pids`).
    dead_pids: Vec<u32>,
    helpers: Vec<i32>,
}

impl Drop for Restored {
    fn drop(&mut self) {
        for &h in &self.helpers {
            let _ = sys::kill(h, libc::SIGKILL);
            let _ = sys::waitpid(h, libc::__WALL);
        }
        for (path, dir) in self.made.iter().rev() {
            let _ = if *dir {
                fs::remove_dir(path)
            } else {
                fs::remove_file(path)
            };
        }
    }
}

fn bad(dir: &Path, name: &str, what: String) -> RestoreError {
    RestoreError::Inconsistent(format!("{}: {what}", dir.join(name).display()))
}

impl Restored {
    /// Reads `remap-fpath.img` (if any) and makes every ghost it names
    /// next to the old path of the file remapped to it.
    pub fn make(dir: &Path, files: &HashMap<u32, FileEntry>) -> Result<Restored, RestoreError> {
        let mut out = Restored::default();
        let remaps = crate::images::file::REMAP_FPATH;
        if !remaps.path(dir, "").exists() {
            return Ok(out);
        }
        let mut made: HashMap<u32, String> = HashMap::new();
        let reg_name = |id: u32, what: String| {
            files
                .get(&id)
                .and_then(|f| f.reg.as_ref())
                .map(|reg| reg.name.clone())
                .ok_or_else(|| bad(dir, "remap-fpath.img", what))
        };
        for r in remaps.read_all(dir, "")? {
            let what = format!("file {}", r.orig_id);
            // Images of CRIU before remap_type marked ghosts in the id.
            const OLD_GHOST_BIT: u32 = 1 << 31;
            let (kind, remap) = match r.remap_type {
                Some(t) => (t, r.remap_id),
                None if r.remap_id & OLD_GHOST_BIT != 0 => {
                    (RemapType::Ghost as i32, r.remap_id & !OLD_GHOST_BIT)
                }
                None => (RemapType::Linked as i32, r.remap_id),
            };
            let name = reg_name(r.orig_id, format!("{what} is not a regular file entry"))?;
            if kind == RemapType::Procfs as i32 {
                if crate::files::proc_pid_path(&name) != Some(remap) {
                    return Err(bad(
                        dir,
                        "remap-fpath.img",
                        format!("{what} ({name}) is not under /proc/{remap}"),
                    ));
                }
                if !out.dead_pids.contains(&remap) {
                    out.dead_pids.push(remap);
                }
                continue;
            }
            let linked = kind == RemapType::Linked as i32;
            let path = match made.get(&remap) {
                Some(p) => p.clone(),
                None if linked => {
                    let from = reg_name(
                        remap,
                        format!("{what}: link {remap} is not a regular file entry"),
                    )?;
                    let p = out.link_back(&from, &name, remap)?;
                    made.insert(remap, p.clone());
                    p
                }
                None => {
                    let p = out.make_one(dir, remap, &name)?;
                    made.insert(remap, p.clone());
                    p
                }
            };
            out.by_file.insert(r.orig_id, path);
        }
        Ok(out)
    }

    /// The tree is restored: the link_remap files go too (the old paths
    /// linked back to them go with the ghosts, on drop).
    /// Holds the pid of every ended process whose /proc directory the
    /// tree holds, with a helper of that pid (in our pid namespace, as the
    /// tree: `in_own_pid_ns` is false otherwise), until `finish`: the
    /// tasks open /proc/PID meanwhile, and hold it, gone, after. A pid of
    /// the tree itself needs none.
    pub fn hold_dead_pids(
        &mut self,
        tree: &[u32],
        in_own_pid_ns: bool,
    ) -> Result<(), RestoreError> {
        for &pid in self.dead_pids.iter().filter(|p| !tree.contains(p)) {
            if in_own_pid_ns {
                return Err(RestoreError::Unsupported(format!(
                    "/proc/{pid} of an ended process, held by a tree in a pid namespace of its \
                     own, which crest does not restore yet"
                )));
            }
            match sys::spawn_sleeper_as(&[pid as i32]) {
                Ok(h) => self.helpers.push(h),
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                    return Err(RestoreError::PidTaken {
                        pid,
                        holder: crate::proc::holder(pid),
                    })
                }
                Err(e) => {
                    return Err(RestoreError::sys(
                        pid,
                        format!("a helper holding /proc/{pid} of an ended process"),
                        e,
                    ))
                }
            }
        }
        Ok(())
    }

    pub fn finish(self) {
        for l in &self.links {
            let _ = fs::remove_file(l);
        }
    }

    /// Links the file kept at `from` (a link_remap) back at its old path
    /// `name`, or next to it when that is taken; returns the path.
    fn link_back(&mut self, from: &str, name: &str, id: u32) -> Result<String, RestoreError> {
        let cfrom = CString::new(from).unwrap_or_default();
        for to in [name.to_string(), format!("{name}.crest-link-{id:x}")] {
            let cto = CString::new(to.as_str()).unwrap_or_default();
            match sys::link_at(&cfrom, &cto) {
                Ok(()) => {
                    self.made.push((PathBuf::from(&to), false));
                    self.links.push(PathBuf::from(from));
                    return Ok(to);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(RestoreError::sys(
                        0,
                        format!("linking {from} back to {to}"),
                        e,
                    ))
                }
            }
        }
        Err(RestoreError::Inconsistent(format!(
            "{name} and {name}.crest-link-{id:x} exist already"
        )))
    }

    /// Points every remapped entry of `files` at its ghost, and every
    /// inotify watch or fanotify mark on a ghosted inode at the ghost.
    pub fn apply(&self, files: &mut HashMap<u32, FileEntry>) {
        for (id, path) in &self.by_file {
            if let Some(reg) = files.get_mut(id).and_then(|f| f.reg.as_mut()) {
                reg.name = path.clone();
            }
        }
        let ghost = |dev: u32, ino: u64| self.by_inode.get(&(dev, ino)).cloned();
        for f in files.values_mut() {
            for w in f.ify.iter_mut().flat_map(|i| i.wd.iter_mut()) {
                if let Some(p) = ghost(w.s_dev, w.i_ino) {
                    w.f_handle.path = Some(p);
                }
            }
            for m in f.ffy.iter_mut().flat_map(|x| x.mark.iter_mut()) {
                let dev = m.s_dev;
                if let Some(ie) = m.ie.as_mut() {
                    if let Some(p) = ghost(dev, ie.i_ino) {
                        ie.f_handle.path = Some(p);
                    }
                }
            }
        }
    }

    /// Makes ghost `id` for the file once at `name`; returns its path.
    fn make_one(&mut self, dir: &Path, id: u32, name: &str) -> Result<String, RestoreError> {
        let image = format!("ghost-file-{id:x}.img");
        let path = dir.join(&image);
        let data = crate::images::read_regular(&path)
            .map_err(|e| RestoreError::Inconsistent(format!("{}: {e}", path.display())))?;
        let kind = magic::by_magic(GHOST_FILE_MAGIC)
            .ok_or_else(|| RestoreError::System("no GHOST_FILE image kind".into()))?;
        let img = crate::images::Image::parse(&path, data, GHOST_FILE_MAGIC, |i, body, rest| {
            Ok(crate::images::json::extra_length(kind, i, body, rest))
        })?;
        if img.records.is_empty() {
            return Err(bad(dir, &image, "no ghost_file_entry".into()));
        }
        let g: GhostFileEntry = img.decode(0)?;
        // At its old path, so that /proc shows the same name (deleted)
        // once it is removed; next to it if that path is taken by now.
        let (ghost, cpath) = match self.make_at(dir, &image, &img, &g, name)? {
            Some(c) => (name.to_string(), c),
            None => {
                let other = format!("{name}.crest-ghost-{id:x}");
                let c = self
                    .make_at(dir, &image, &img, &g, &other)?
                    .ok_or_else(|| {
                        RestoreError::Inconsistent(format!(
                            "ghost file {id:x} ({name}): {other} exists already"
                        ))
                    })?;
                (other, c)
            }
        };
        let fail = |what: &str, e: std::io::Error| {
            RestoreError::sys(0, format!("ghost file {id:x} ({name}): {what} {ghost}"), e)
        };
        if let (Some(dev), Some(ino)) = (g.dev, g.ino) {
            self.by_inode.insert((dev, ino), ghost.clone());
        }
        let mode = g.mode & 0o7777;
        sys::restore_metadata(
            &cpath,
            g.uid,
            g.gid,
            mode,
            g.mode & libc::S_IFMT == libc::S_IFLNK,
        )
        .map_err(|e| fail("owner and mode of", e))?;
        if let (Some(a), Some(m)) = (&g.atim, &g.mtim) {
            sys::set_times(&cpath, [(a.tv_sec, a.tv_usec), (m.tv_sec, m.tv_usec)])
                .map_err(|e| fail("times of", e))?;
        }
        Ok(ghost)
    }

    /// Makes ghost `g` at `ghost`; None if something is there already.
    fn make_at(
        &mut self,
        dir: &Path,
        image: &str,
        img: &crate::images::Image,
        g: &GhostFileEntry,
        ghost: &str,
    ) -> Result<Option<CString>, RestoreError> {
        let target = Path::new(ghost);
        if let Some(parent) = target.parent() {
            self.make_parents(parent)?;
        }
        let cpath = CString::new(ghost)
            .map_err(|_| bad(dir, image, format!("{ghost:?} has a NUL byte")))?;
        let fail = |what: &str, e: std::io::Error| {
            RestoreError::sys(0, format!("ghost file {image}: {what} {ghost}"), e)
        };
        let exists = |e: &std::io::Error| e.kind() == std::io::ErrorKind::AlreadyExists;
        let mode = g.mode & 0o7777;
        let made = match g.mode & libc::S_IFMT {
            libc::S_IFREG => {
                let fd = match sys::open_owned(
                    &cpath,
                    libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
                ) {
                    Err(e) if exists(&e) => return Ok(None),
                    r => r.map_err(|e| fail("creating", e))?,
                };
                self.made.push((target.into(), false));
                write_contents(img, g, fd.as_raw_fd()).map_err(|e| match e {
                    Contents::Io(e) => fail("writing", e),
                    Contents::Bad(m) => bad(dir, image, m),
                })?;
                return Ok(Some(cpath));
            }
            libc::S_IFDIR => fs::create_dir(target),
            libc::S_IFLNK => {
                let to = g
                    .symlnk_target
                    .as_ref()
                    .ok_or_else(|| bad(dir, image, "a symlink without its target".into()))?;
                std::os::unix::fs::symlink(to, target)
            }
            kind @ (libc::S_IFIFO | libc::S_IFCHR | libc::S_IFBLK) => {
                let rdev = g.rdev.map_or(0, |d| d as libc::dev_t);
                sys::mknod(&cpath, kind | mode, rdev)
            }
            other => {
                return Err(bad(
                    dir,
                    image,
                    format!("file mode {other:#o} is not a file kind"),
                ))
            }
        };
        match made {
            Err(e) if exists(&e) => Ok(None),
            Err(e) => Err(fail("making", e)),
            Ok(()) => {
                self.made
                    .push((target.into(), g.mode & libc::S_IFMT == libc::S_IFDIR));
                Ok(Some(cpath))
            }
        }
    }

    /// Makes the missing directories down to `dir` (a deleted file's
    /// directory may be gone too), to be removed with the ghosts.
    fn make_parents(&mut self, dir: &Path) -> Result<(), RestoreError> {
        let mut missing = Vec::new();
        let mut at = Some(dir);
        while let Some(d) = at {
            if d.exists() {
                break;
            }
            missing.push(d.to_path_buf());
            at = d.parent();
        }
        for d in missing.into_iter().rev() {
            fs::create_dir(&d)
                .map_err(|e| RestoreError::sys(0, format!("making {}", d.display()), e))?;
            self.made.push((d, true));
        }
        Ok(())
    }
}

enum Contents {
    Io(std::io::Error),
    Bad(String),
}

/// A regular ghost's data into `fd`: its chunks, each within the dumped
/// size, or (an image without chunks) every byte after the entry.
fn write_contents(img: &crate::images::Image, g: &GhostFileEntry, fd: i32) -> Result<(), Contents> {
    if g.chunks != Some(true) {
        let data = &img.data[img.records[0].extra.clone()];
        return sys::pwrite_all(fd, data, 0).map_err(Contents::Io);
    }
    let size = g
        .size
        .ok_or_else(|| Contents::Bad("a chunked ghost file without its size".into()))?;
    sys::ftruncate(fd, size).map_err(Contents::Io)?;
    for i in 1..img.records.len() {
        let c: GhostChunkEntry = img
            .decode(i)
            .map_err(|e| Contents::Bad(format!("chunk {i}: {e}")))?;
        let data = &img.data[img.records[i].extra.clone()];
        if c.off.checked_add(c.len).is_none_or(|end| end > size) || data.len() as u64 != c.len {
            return Err(Contents::Bad(format!(
                "chunk {i} ({} bytes at {}) lies past the file's {size} bytes",
                c.len, c.off
            )));
        }
        sys::pwrite_all(fd, data, c.off).map_err(Contents::Io)?;
    }
    Ok(())
}
