//! A dumped mount namespace built again. crest makes a new namespace of
//! its own (every mount in it a slave of ours: nothing goes back out),
//! builds the tree at a scratch directory there (binds of what came from
//! outside, binds inside the tree, fresh virtual file systems, tmpfs
//! contents, per-mount flags, peer groups and masters), and forks the
//! tree's root into a copy of it (CLONE_NEWNS). The root pivots into the
//! tree, detaching everything else, and mounts what only it can: proc of
//! its pid namespace, sysfs of its network one, mqueue of its IPC one
//! (`Steps::enter`). crest goes back to its own namespace once the root
//! is forked; the scratch one then ends with it.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::steps::Late;
pub use super::steps::Steps;
use super::{fstype_name, rebase, within, AUTODETECTED, FRESH};
use crate::images::schema::MntEntry;
use crate::log::{DEBUG, WARN};
use crate::restore::RestoreError;
use crate::sys;

/// While crest builds and plans a tree with a mount namespace: where the
/// tree's paths are seen from here (the scratch directory).
static VIEW: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

pub(super) fn set_view(v: Option<String>) {
    if let Ok(mut g) = VIEW.lock() {
        *g = v;
    }
}

fn view() -> Option<String> {
    VIEW.lock().ok().and_then(|g| g.clone())
}

/// Path `name` of the tree as crest reaches it now.
pub fn seen(name: &str) -> std::borrow::Cow<'_, str> {
    match view() {
        Some(v) => super::under(Some(&v), name).into_owned().into(),
        None => name.into(),
    }
}

/// `seen` of a C path.
pub fn seen_c(name: &std::ffi::CStr) -> std::borrow::Cow<'_, std::ffi::CStr> {
    match view() {
        Some(v) if name.to_bytes().starts_with(b"/") => {
            let mut full = v.into_bytes();
            full.extend_from_slice(name.to_bytes());
            CString::new(full).map_or(name.into(), Into::into)
        }
        _ => name.into(),
    }
}

/// `--root` and `--external mnt[KEY]:PATH` of a restore.
#[derive(Debug, Default, Clone)]
pub struct MntOpts {
    pub root: Option<PathBuf>,
    pub external: Vec<(String, PathBuf)>,
}

/// The per-mount flags a bind remount sets.
const MNT_FLAGS: u32 = (libc::MS_RDONLY
    | libc::MS_NOSUID
    | libc::MS_NODEV
    | libc::MS_NOEXEC
    | libc::MS_NOATIME
    | libc::MS_NODIRATIME
    | libc::MS_RELATIME
    | libc::MS_STRICTATIME) as u32;
/// The superblock flags a fresh mount takes.
const SB_FLAGS: u32 =
    (libc::MS_RDONLY | libc::MS_SYNCHRONOUS | libc::MS_DIRSYNC | libc::MS_MANDLOCK) as u32;

/// The tree's mount namespace, from `mountpoints-<id>.img`, in tree order.
#[derive(Debug)]
pub struct MntNs {
    id: u32,
    dir: PathBuf,
    mounts: Vec<MntEntry>,
}

/// Where a mount comes from.
#[derive(Debug, Clone)]
enum Source {
    /// A path of crest's own namespace (`--root`, an external mount).
    Outside(PathBuf),
    /// Mount `n` (tree order), at the path within it.
    Inside(usize, String),
    /// A new superblock of its type.
    Fresh,
}

/// crest in the namespace it built, until `leave` (or drop) takes it
/// back home; drop also removes the scratch directory.
pub struct Built {
    home: super::Home,
    scratch: PathBuf,
    left: std::cell::Cell<bool>,
    pub steps: Steps,
}

/// The tree's mount namespace built, if it has one (`--root` wants one).
pub fn build_for(ns: Option<MntNs>, o: &MntOpts) -> Result<Option<Built>, RestoreError> {
    match ns {
        Some(m) => m.build(o).map(Some),
        None if o.root.is_some() => Err(RestoreError::Unsupported(
            "--root: the images hold no mount namespace of the tree's own".into(),
        )),
        None => Ok(None),
    }
}

impl MntNs {
    /// Reads and checks `mountpoints-<id>.img`: one tree, rooted at `/`,
    /// with no path that climbs out of it.
    pub fn read(dir: &Path, id: u32) -> Result<MntNs, RestoreError> {
        let file = crate::images::file::MNTS;
        let name = dir.join(file.name(id));
        let all = file.read_all(dir, id)?;
        let bad = |what: String| RestoreError::Inconsistent(format!("{}: {what}", name.display()));
        let order = super::tree_order(&all, |m| m.mnt_id, |m| m.parent_mnt_id)
            .ok_or_else(|| bad("the mounts do not make one tree".into()))?;
        let mounts: Vec<MntEntry> = order.into_iter().map(|i| all[i].clone()).collect();
        let Some(root) = mounts.first() else {
            return Err(bad("no mounts".into()));
        };
        if root.mountpoint != "/" {
            return Err(bad(format!("the root mount is at {}", root.mountpoint)));
        }
        for m in &mounts {
            for p in [&m.mountpoint, &m.root] {
                if !p.starts_with('/') || p.split('/').any(|c| c == "..") || p.contains('\0') {
                    return Err(bad(format!("mount {}: path {p:?}", m.mnt_id)));
                }
            }
            if m.deleted == Some(true) {
                return Err(RestoreError::Unsupported(format!(
                    "{}: mount {} at {} shows a deleted directory",
                    name.display(),
                    m.mnt_id,
                    m.mountpoint
                )));
            }
        }
        Ok(MntNs {
            id,
            dir: dir.to_path_buf(),
            mounts,
        })
    }

    fn what(&self, m: &MntEntry) -> String {
        format!(
            "mount namespace {}: mount {} at {}",
            self.id, m.mnt_id, m.mountpoint
        )
    }

    /// Where each mount comes from, and whether the root must make it.
    fn sources(&self, o: &MntOpts) -> Result<Vec<(Source, bool)>, RestoreError> {
        let mut out: Vec<(Source, bool)> = Vec::new();
        for (n, m) in self.mounts.iter().enumerate() {
            let what = self.what(m);
            let fstype = fstype_name(m).unwrap_or("");
            let source = if n == 0 && o.root.is_some() {
                Source::Outside(o.root.clone().unwrap_or_default())
            } else if let Some(key) = &m.ext_key {
                if key == AUTODETECTED {
                    Source::Outside(PathBuf::from(&m.source))
                } else {
                    let path = o.external.iter().find(|(k, _)| k == key).ok_or_else(|| {
                        RestoreError::Unsupported(format!(
                            "{what} came from outside the namespace (key {key}): restore with \
                             --external mnt[{key}]:PATH"
                        ))
                    })?;
                    Source::Outside(path.1.clone())
                }
            } else if n == 0 {
                Source::Outside(own_root(m).ok_or_else(|| {
                    RestoreError::Unsupported(format!(
                        "{what}: the namespace's root ({fstype} {}, root {}) is not crest's own \
                         root file system: give it with --root PATH",
                        m.source, m.root
                    ))
                })?)
            } else if let Some(j) = self.mounts[..n]
                .iter()
                .position(|e| e.root_dev == m.root_dev && within(&e.root, &m.root))
            {
                Source::Inside(j, rebase("/", &self.mounts[j].root, &m.root))
            } else if FRESH.contains(&fstype) {
                Source::Fresh
            } else {
                return Err(RestoreError::Unsupported(format!(
                    "{what} ({fstype} {}): a file system crest cannot mount anew, and no other \
                     mount shows it",
                    m.source
                )));
            };
            let parent_late = self
                .mounts
                .iter()
                .position(|e| e.mnt_id == m.parent_mnt_id)
                .is_some_and(|p| p < n && out[p].1);
            let late = n > 0
                && match &source {
                    Source::Fresh => matches!(fstype, "proc" | "mqueue" | "sysfs"),
                    Source::Inside(j, _) => out[*j].1,
                    Source::Outside(_) => false,
                }
                || parent_late;
            out.push((source, late));
        }
        Ok(out)
    }

    /// Makes the namespace and builds the tree in it; crest stays there
    /// until `Built::leave`.
    pub fn build(&self, o: &MntOpts) -> Result<Built, RestoreError> {
        let fail = |what: &str, e: std::io::Error| {
            RestoreError::sys(0, format!("mount namespace {}: {what}", self.id), e)
        };
        let sources = self.sources(o)?;
        let home = super::Home::here().map_err(|e| fail("our namespace and directory", e))?;
        let scratch = std::env::temp_dir().join(format!("crest-mnt-{}", std::process::id()));
        let _ = std::fs::remove_dir(&scratch);
        std::fs::create_dir(&scratch).map_err(|e| fail(&scratch.display().to_string(), e))?;
        let steps = Steps {
            scratch: CString::new(scratch.as_os_str().as_bytes()).unwrap_or_default(),
            late: Vec::new(),
            root_shared: false,
            root_keeps_master: false,
            root_unbindable: false,
        };
        let mut built = Built {
            home,
            scratch,
            left: std::cell::Cell::new(true),
            steps,
        };
        sys::unshare(libc::CLONE_NEWNS).map_err(|e| fail("unshare", e))?;
        built.left.set(false);
        sys::mount(
            None,
            Path::new("/"),
            None,
            libc::MS_REC | libc::MS_SLAVE,
            None,
        )
        .map_err(|e| fail("making our mounts slaves", e))?;
        self.fill(&mut built, &sources)
            .map_err(|m| RestoreError::System(format!("mount namespace {}: {m}", self.id)))?;
        set_view(Some(built.scratch.to_string_lossy().into_owned()));
        Ok(built)
    }

    fn fill(&self, built: &mut Built, sources: &[(Source, bool)]) -> Result<(), String> {
        let scratch = built.scratch.to_string_lossy().into_owned();
        let at = |m: &MntEntry| rebase(&scratch, "/", &m.mountpoint);
        // Each mount made here: a descriptor of its root.
        let mut made: Vec<Option<File>> = Vec::new();
        for (n, (m, (source, late))) in self.mounts.iter().zip(sources).enumerate() {
            let what = self.what(m);
            let fstype = fstype_name(m).unwrap_or("").to_string();
            if *late {
                let bind_from = match source {
                    Source::Inside(j, rel) => Some(rebase(&self.mounts[*j].mountpoint, "/", rel)),
                    _ => None,
                };
                built.steps.late.push(Late {
                    target: m.mountpoint.clone(),
                    bind_from,
                    fstype,
                    source: m.source.clone(),
                    sb_flags: m.sb_flags.unwrap_or(0) & SB_FLAGS,
                    options: m.options.clone(),
                    flags: m.flags,
                });
                made.push(None);
                continue;
            }
            let target = PathBuf::from(at(m));
            if n > 0 && std::fs::symlink_metadata(&target).is_err() {
                return Err(format!("{what}: its mount point is missing in the tree"));
            }
            match source {
                Source::Outside(p) => bind(p, &target).map_err(|e| format!("{what}: {e}"))?,
                Source::Inside(j, rel) => {
                    let from = PathBuf::from(rebase(&at(&self.mounts[*j]), "/", rel));
                    bind(&from, &target).map_err(|e| format!("{what}: {e}"))?
                }
                Source::Fresh => self
                    .fresh(m, &fstype, &target)
                    .map_err(|e| format!("{what}: {e}"))?,
            }
            remount(&target, m.flags).map_err(|e| format!("{what}: its flags: {e}"))?;
            crate::log!(DEBUG, "{what}: made ({source:?})");
            let fd = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
                .open(&target)
                .map_err(|e| format!("{what}: {e}"))?;
            made.push(Some(fd));
        }
        self.propagate(&made, sources)?;
        let root = &self.mounts[0];
        built.steps.root_shared = root.shared_id.unwrap_or(0) != 0;
        built.steps.root_keeps_master =
            self.outside_master(root) && matches!(sources[0].0, Source::Outside(_));
        built.steps.root_unbindable = root.flags & libc::MS_UNBINDABLE as u32 != 0;
        Ok(())
    }

    /// A new file system of type `fstype` at `target`; a tmpfs gets its
    /// dumped contents.
    fn fresh(&self, m: &MntEntry, fstype: &str, target: &Path) -> Result<(), String> {
        let sb = m.sb_flags.unwrap_or(0) & SB_FLAGS;
        let tmpfs = fstype == "tmpfs";
        let first = if tmpfs {
            sb & !(libc::MS_RDONLY as u32)
        } else {
            sb
        };
        let data = (!m.options.is_empty()).then_some(m.options.as_str());
        sys::mount(
            Some(&m.source),
            target,
            Some(fstype),
            first as libc::c_ulong,
            data,
        )
        .map_err(|e| format!("mount -t {fstype} {} -o {:?}: {e}", m.source, m.options))?;
        if tmpfs {
            let names = [
                format!("tmpfs-dev-{}.tar.gz.img", m.root_dev),
                format!("tmpfs-{}.tar.gz.img", m.mnt_id),
            ];
            let image = names
                .iter()
                .map(|n| self.dir.join(n))
                .find(|p| p.exists())
                .ok_or_else(|| format!("no {} for its contents", names[0]))?;
            let bytes = std::fs::read(&image).map_err(|e| format!("{}: {e}", image.display()))?;
            super::tmpfs::unpack(&bytes, target)
                .map_err(|e| format!("unpacking {}: {e}", image.display()))?;
            if sb & libc::MS_RDONLY as u32 != 0 {
                sys::mount(None, target, None, libc::MS_REMOUNT | libc::MS_RDONLY, data)
                    .map_err(|e| format!("read-only: {e}"))?;
            }
        }
        Ok(())
    }

    /// Whether `m` was a slave of a peer group no mount of the namespace
    /// is in.
    fn outside_master(&self, m: &MntEntry) -> bool {
        let g = m.master_id.unwrap_or(0);
        g != 0 && !self.mounts.iter().any(|e| e.shared_id == Some(g))
    }

    /// Peer groups, masters and unbindable mounts, on the mounts made
    /// here (`made`): private first, unless they keep the master they got
    /// outside; then each group's leader shared, a slave of its master
    /// group, and its peers joined to it.
    fn propagate(&self, made: &[Option<File>], sources: &[(Source, bool)]) -> Result<(), String> {
        let path = |f: &File| PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd()));
        let change = |f: &File, flag: libc::c_ulong, m: &MntEntry| {
            sys::mount(None, &path(f), None, flag, None)
                .map_err(|e| format!("{}: propagation: {e}", self.what(m)))
        };
        for (n, (m, f)) in self.mounts.iter().zip(made).enumerate() {
            let Some(f) = f.as_ref().filter(|_| n > 0) else {
                continue;
            };
            let keeps = self.outside_master(m) && matches!(sources[n].0, Source::Outside(_));
            if !keeps {
                if self.outside_master(m) {
                    crate::log!(
                        WARN,
                        "{}: its master group was outside the namespace; restored private",
                        self.what(m)
                    );
                }
                change(f, libc::MS_PRIVATE, m)?;
            }
        }
        // Groups by their leader (the first member made here), in an
        // order where a master group comes before its slaves.
        let mut done: Vec<u32> = Vec::new();
        let members = |g: u32| -> Vec<usize> {
            (1..self.mounts.len())
                .filter(|&i| made[i].is_some() && self.mounts[i].shared_id == Some(g))
                .collect()
        };
        let mut pending: Vec<usize> = (1..self.mounts.len())
            .filter(|&i| made[i].is_some())
            .filter(|&i| {
                let m = &self.mounts[i];
                m.shared_id.unwrap_or(0) != 0
                    || (m.master_id.unwrap_or(0) != 0 && !self.outside_master(m))
            })
            .collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut next = Vec::new();
            for &i in &pending {
                let m = &self.mounts[i];
                let g = m.shared_id.unwrap_or(0);
                let master = m.master_id.unwrap_or(0);
                if g != 0 && done.contains(&g) {
                    continue;
                }
                let inside_master = master != 0 && !self.outside_master(m);
                if inside_master && !done.contains(&master) {
                    next.push(i);
                    continue;
                }
                let own = made[i].as_ref().ok_or("no descriptor")?;
                if inside_master {
                    let from = members(master)
                        .into_iter()
                        .find(|&k| within(&self.mounts[k].root, &m.root))
                        .and_then(|k| made[k].as_ref())
                        .ok_or_else(|| {
                            format!(
                                "{}: no mount of its master group shows its root",
                                self.what(m)
                            )
                        })?;
                    sys::set_mount_group(from.as_raw_fd(), own.as_raw_fd())
                        .map_err(|e| format!("{}: joining its master group: {e}", self.what(m)))?;
                    change(own, libc::MS_SLAVE, m)?;
                }
                if g != 0 {
                    change(own, libc::MS_SHARED, m)?;
                    for k in members(g).into_iter().filter(|&k| k != i) {
                        let peer = made[k].as_ref().ok_or("no descriptor")?;
                        sys::set_mount_group(own.as_raw_fd(), peer.as_raw_fd()).map_err(|e| {
                            format!(
                                "{}: joining peer group {g}: {e}",
                                self.what(&self.mounts[k])
                            )
                        })?;
                    }
                    done.push(g);
                }
            }
            pending = next;
            if pending.len() == before {
                return Err("the mounts' master groups make a cycle".into());
            }
        }
        for (m, f) in self.mounts.iter().zip(made).skip(1) {
            if let (Some(f), true) = (f, m.flags & libc::MS_UNBINDABLE as u32 != 0) {
                change(f, libc::MS_UNBINDABLE, m)?;
            }
        }
        Ok(())
    }
}

/// crest's own root mount, when it is what mount `m` showed: same
/// device and root.
fn own_root(m: &MntEntry) -> Option<PathBuf> {
    let ours = crate::proc::mountinfo("self").ok()?;
    let root = &ours[*super::tree_order(&ours, |o| o.id, |o| o.parent)?.first()?];
    (root.kdev() == m.root_dev && root.root == m.root).then(|| PathBuf::from("/"))
}

pub(super) fn bind(from: &Path, to: &Path) -> Result<(), String> {
    sys::mount(Some(&from.to_string_lossy()), to, None, libc::MS_BIND, None)
        .map_err(|e| format!("bind from {}: {e}", from.display()))
}

/// Sets the per-mount flags of the mount at `target`.
pub(super) fn remount(target: &Path, flags: u32) -> std::io::Result<()> {
    let f = libc::MS_REMOUNT | libc::MS_BIND | (flags & MNT_FLAGS) as libc::c_ulong;
    sys::mount(None, target, None, f, None)
}

impl Built {
    /// Back to crest's own mount namespace and working directory. The
    /// scratch directory stays until drop: removing it would detach the
    /// tree from under a root that has not pivoted yet.
    pub fn leave(&self) -> Result<(), RestoreError> {
        set_view(None);
        if !self.left.get() {
            self.home.back().map_err(|e| {
                RestoreError::sys(0, "back to crest's mount namespace and directory", e)
            })?;
            self.left.set(true);
        }
        Ok(())
    }
}

impl Drop for Built {
    fn drop(&mut self) {
        let _ = self.leave();
        let _ = std::fs::remove_dir(&self.scratch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u32, parent: u32, mountpoint: &str, root: &str) -> MntEntry {
        MntEntry {
            fstype: 5,
            mnt_id: id,
            parent_mnt_id: parent,
            root: root.into(),
            mountpoint: mountpoint.into(),
            source: "none".into(),
            ..Default::default()
        }
    }

    /// `mountpoints-1.img` of `mounts` in a fresh directory, read back.
    fn read(tag: &str, mounts: &[MntEntry]) -> Result<MntNs, RestoreError> {
        let dir = std::env::temp_dir().join(format!("crest-mnt-test-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = crate::images::file::MNTS;
        std::fs::write(dir.join(file.name(1)), file.encode(mounts)).unwrap();
        let r = MntNs::read(&dir, 1);
        let _ = std::fs::remove_dir_all(&dir);
        r
    }

    #[test]
    fn hostile_mount_trees_are_refused() {
        let root = entry(10, 1, "/", "/");
        let ok = read("ok", &[entry(11, 10, "/a", "/"), root.clone()]).unwrap();
        assert_eq!(ok.mounts[0].mnt_id, 10, "the root first");
        for (tag, bad, why) in [
            ("climb", entry(11, 10, "/a/../../etc", "/"), "path"),
            ("relative", entry(11, 10, "a", "/"), "path"),
            ("root", entry(11, 10, "/a", "/x/../.."), "path"),
            ("orphan", entry(11, 99, "/a", "/"), "one tree"),
        ] {
            let e = read(tag, &[root.clone(), bad]).unwrap_err().to_string();
            assert!(e.contains(why), "{tag}: {e}");
        }
        let cycle = [
            entry(11, 12, "/a", "/"),
            entry(12, 11, "/b", "/"),
            root.clone(),
        ];
        assert!(read("cycle", &cycle)
            .unwrap_err()
            .to_string()
            .contains("one tree"));
        let e = read("no-root", &[entry(10, 1, "/x", "/")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("the root mount is at /x"), "{e}");
        assert!(read("empty", &[]).is_err());
    }
}
