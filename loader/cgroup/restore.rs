//! Restore of cgroups: the cgroups of `cgroup.img` made where missing,
//! with their properties, as `--manage-cgroups` says, and every task
//! moved into its set before it forks its children or fills its memory.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{cnames, hierarchy, parse};
use crate::images::schema::{CgSetEntry, CgroupDirEntry, CgroupEntry, CgroupPropEntry};
use crate::restore::RestoreError;

/// `--manage-cgroups`, as CRIU's modes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Tasks stay in crest's cgroups.
    Ignore,
    /// The cgroups must exist; their properties are left as they are.
    None,
    /// The cgroups must exist; their properties are set.
    Props,
    /// Missing cgroups are made with their properties; existing ones are
    /// left as they are.
    #[default]
    Soft,
    /// Missing cgroups are made; every cgroup gets its properties.
    Full,
    /// Every cgroup must be missing, and is made with its properties.
    Strict,
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode, String> {
        Ok(match s {
            "ignore" => Mode::Ignore,
            "none" => Mode::None,
            "props" => Mode::Props,
            "soft" | "" => Mode::Soft,
            "full" => Mode::Full,
            "strict" => Mode::Strict,
            m => {
                return Err(format!(
                    "--manage-cgroups {m}: one of ignore, none, props, soft, full, strict"
                ))
            }
        })
    }
}

/// Written when the cgroup is made, before any task is in it: the kernel
/// refuses some of them later (CRIU's "special" properties).
const EARLY: [&str; 8] = [
    "cpuset.cpus",
    "cpuset.mems",
    "devices.list",
    "memory.kmem.limit_in_bytes",
    "memory.swappiness",
    "memory.oom_control",
    "memory.use_hierarchy",
    "cgroup.type",
];

/// The cgroups of a restore, ready for the tasks to join.
#[derive(Default)]
pub(crate) struct Cgroups {
    /// Each set's `cgroup.procs` files, one a hierarchy.
    procs: HashMap<u32, Vec<File>>,
    /// Those of the cgroups at the root of each set's cgroup namespace
    /// (`cgns_prefix`), where it has one.
    ns_procs: HashMap<u32, Vec<File>>,
    /// Properties set once every task is in: (the cgroup, the property).
    late: Vec<(PathBuf, CgroupPropEntry)>,
    /// Cgroups made here, parents first: removed if the restore fails.
    made: Vec<PathBuf>,
    /// The hierarchies' roots, which the paths above go through.
    _roots: Vec<File>,
    kept: bool,
}

fn err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> RestoreError {
    RestoreError::Unsupported(format!("cgroups: {what}: {e}"))
}

impl Cgroups {
    /// The cgroups of the images in `dir` for tasks in sets `sets`.
    pub(crate) fn for_tree(
        dir: &Path,
        mode: Mode,
        sets: &[Option<u32>],
        own: Option<u32>,
    ) -> Result<Cgroups, RestoreError> {
        use crate::images::file::CGROUP;
        let image = if CGROUP.path(dir, "").exists() {
            Some(CGROUP.read_one(dir, "")?)
        } else {
            None
        };
        let mut used: Vec<u32> = sets.iter().flatten().copied().collect();
        used.sort_unstable();
        used.dedup();
        Cgroups::prepare(image, mode, &used, own)
    }

    /// Makes the cgroups of `image` (none if absent or `Mode::Ignore`)
    /// and opens the sets the tasks join (`sets`: those the tasks use;
    /// `own`: the dumper's set, the inventory's `root_cg_set`, which
    /// means crest's own cgroups here).
    fn prepare(
        image: Option<CgroupEntry>,
        mode: Mode,
        sets: &[u32],
        own: Option<u32>,
    ) -> Result<Cgroups, RestoreError> {
        let mut out = Cgroups::default();
        let Some(image) = image.filter(|_| mode != Mode::Ignore) else {
            return Ok(out);
        };
        let mut roots: HashMap<String, String> = HashMap::new();
        for c in &image.controllers {
            let name = c.cnames.join(",");
            let root = hierarchy(&name).map_err(|e| err(format!("hierarchy {name:?}"), e))?;
            let base = format!("/proc/self/fd/{}", root.as_raw_fd());
            for d in &c.dirs {
                out.make(Path::new(&base), d, mode, true)?;
            }
            roots.insert(name, base);
            out._roots.push(root);
        }
        let crest_own = fs::read_to_string("/proc/self/cgroup")
            .map(|t| parse(&t))
            .map_err(|e| err("/proc/self/cgroup", e))?;
        for &id in sets {
            let ctls = if Some(id) == own {
                &crest_own
            } else {
                match image.sets.iter().find(|s| s.id == id) {
                    Some(CgSetEntry { ctls, .. }) => ctls,
                    None => {
                        return Err(err(
                            "cgroup.img",
                            format!("no set {id}, which a task is in"),
                        ))
                    }
                }
            };
            let mut files = Vec::new();
            let mut ns_files = Vec::new();
            for m in ctls {
                let Some(base) = roots.get(&m.name).or_else(|| {
                    roots
                        .iter()
                        .find(|(k, _)| cnames(k).iter().all(|n| cnames(&m.name).contains(n)))
                        .map(|(_, v)| v)
                }) else {
                    // A hierarchy the image has no cgroups of: as dumped,
                    // the task stays where crest is.
                    continue;
                };
                let open = |p: &str| {
                    let path = Path::new(base)
                        .join(p.trim_start_matches('/'))
                        .join("cgroup.procs");
                    OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(|e| err(format!("{}:{p}", m.name), e))
                };
                files.push(open(&m.path)?);
                if let Some(n) = m.cgns_prefix {
                    let prefix = m.path.get(..n as usize).ok_or_else(|| {
                        err(
                            "cgroup.img",
                            format!("{}: cgns_prefix {n} is past {:?}", m.name, m.path),
                        )
                    })?;
                    ns_files.push(open(prefix)?);
                }
            }
            out.procs.insert(id, files);
            out.ns_procs.insert(id, ns_files);
        }
        Ok(out)
    }

    /// Makes the cgroup `d` under `parent` and those below it.
    fn make(
        &mut self,
        parent: &Path,
        d: &CgroupDirEntry,
        mode: Mode,
        head: bool,
    ) -> Result<(), RestoreError> {
        let path = parent.join(&d.dir_name);
        let exists = path.is_dir();
        if !exists && matches!(mode, Mode::None | Mode::Props) {
            return Err(err(
                &d.dir_name,
                "missing, and --manage-cgroups none/props makes no cgroups (use soft or full)",
            ));
        }
        if exists && mode == Mode::Strict {
            return Err(err(&d.dir_name, "exists already (--manage-cgroups strict)"));
        }
        let at_root = head && d.dir_name.is_empty();
        if !exists {
            // The parents a head needs, as CRIU (mkdir -p).
            let mut missing = Vec::new();
            let mut p = path.as_path();
            while !p.is_dir() {
                missing.push(p.to_path_buf());
                p = match p.parent() {
                    Some(q) => q,
                    None => break,
                };
            }
            for m in missing.into_iter().rev() {
                fs::create_dir(&m).map_err(|e| err(m.display(), e))?;
                self.made.push(m);
            }
        }
        if mode != Mode::None && !at_root {
            if let Some(p) = &d.dir_perms {
                set_perms(&path, p.mode, p.uid, p.gid)?;
            }
        }
        let set_props = !at_root && (!exists || matches!(mode, Mode::Props | Mode::Full));
        for p in d.properties.iter().filter(|_| set_props) {
            if EARLY.contains(&p.name.as_str()) {
                if !exists {
                    write_prop(&path, p)?;
                }
            } else if p.name != "cgroup.procs" && p.name != "tasks" {
                self.late.push((path.clone(), p.clone()));
            }
        }
        for c in &d.children {
            self.make(&path, c, mode, false)?;
        }
        Ok(())
    }

    /// Moves the calling process into set `id` (in a forked task).
    pub(crate) fn join(&self, id: Option<u32>) -> Result<(), String> {
        let Some(files) = id.and_then(|id| self.procs.get(&id)) else {
            return Ok(());
        };
        for mut f in files {
            f.write_all(b"0")
                .map_err(|e| format!("joining cgroup set {}: {e}", id.unwrap_or(0)))?;
        }
        Ok(())
    }

    /// Makes the calling process (the tree's root) the root of a new
    /// cgroup namespace as set `id`'s was: it joins the cgroups at that
    /// namespace's root, unshares, then joins its own.
    pub(crate) fn enter_ns(&self, id: Option<u32>) -> Result<(), String> {
        let files = id.and_then(|id| self.ns_procs.get(&id));
        for mut f in files.into_iter().flatten() {
            f.write_all(b"0")
                .map_err(|e| format!("joining the cgroup namespace's root: {e}"))?;
        }
        crate::sys::unshare(libc::CLONE_NEWCGROUP)
            .map_err(|e| format!("unshare(CLONE_NEWCGROUP): {e}"))
    }

    /// Sets the properties kept for when every task is in.
    pub(crate) fn finish(&mut self) -> Result<(), RestoreError> {
        for (path, p) in std::mem::take(&mut self.late) {
            write_prop(&path, &p)?;
        }
        Ok(())
    }

    /// The restore succeeded: the cgroups made stay.
    pub(crate) fn keep(&mut self) {
        self.kept = true;
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        for m in self.made.iter().rev() {
            // The tasks in it were killed and reaped before this.
            let _ = fs::remove_dir(m);
        }
    }
}

fn set_perms(path: &Path, mode: u32, uid: u32, gid: u32) -> Result<(), RestoreError> {
    let m = fs::metadata(path).map_err(|e| err(path.display(), e))?;
    if m.uid() != uid || m.gid() != gid {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|e| err(path.display(), e))?;
    }
    if m.mode() & 0o7777 != mode & 0o7777 {
        fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o7777))
            .map_err(|e| err(path.display(), e))?;
    }
    Ok(())
}

/// Writes property `p` of the cgroup at `dir`.
fn write_prop(dir: &Path, p: &CgroupPropEntry) -> Result<(), RestoreError> {
    let path = dir.join(&p.name);
    let name = || format!("{} = {:?}", path.display(), p.value);
    let open = || OpenOptions::new().write(true).open(&path);
    let mut f = open().map_err(|e| err(name(), e))?;
    let written: io::Result<()> = match p.name.as_str() {
        // Only "threaded" is ever written to cgroup.type.
        "cgroup.type" if p.value != "threaded" => Ok(()),
        // A list of rules, one write each, after denying all.
        "devices.list" => {
            let deny = dir.join("devices.deny");
            let mut d = OpenOptions::new()
                .write(true)
                .open(&deny)
                .map_err(|e| err(deny.display(), e))?;
            d.write_all(b"a").map_err(|e| err(deny.display(), e))?;
            let allow = dir.join("devices.allow");
            p.value.lines().filter(|l| !l.is_empty()).try_for_each(|l| {
                OpenOptions::new()
                    .write(true)
                    .open(&allow)?
                    .write_all(l.as_bytes())
            })
        }
        // One line a device; those gone from this machine are skipped.
        "net_prio.ifpriomap" => {
            for l in p.value.lines() {
                let _ = open().and_then(|mut f| f.write_all(l.as_bytes()));
            }
            Ok(())
        }
        "cgroup.subtree_control" => {
            let v: Vec<String> = p
                .value
                .split_whitespace()
                .map(|c| format!("+{c}"))
                .collect();
            if v.is_empty() {
                Ok(())
            } else {
                f.write_all(v.join(" ").as_bytes())
            }
        }
        _ => match f.write_all(p.value.as_bytes()) {
            // Deprecated on this kernel, as CRIU lets it pass.
            Err(e)
                if e.raw_os_error() == Some(libc::EOPNOTSUPP)
                    && p.name == "memory.kmem.limit_in_bytes" =>
            {
                Ok(())
            }
            r => r,
        },
    };
    written.map_err(|e| err(name(), e))?;
    if let Some(perms) = &p.perms {
        set_perms(&path, perms.mode, perms.uid, perms.gid)?;
    }
    Ok(())
}

/// The set task `t` is restored into (that of its main thread); its
/// other threads must be in the same, as crest moves whole processes.
pub(crate) fn set_of(t: &crate::restore::images::TaskImages) -> Result<Option<u32>, RestoreError> {
    let of = |c: &crate::images::schema::CoreEntry| {
        c.thread_core
            .as_ref()
            .and_then(|tc| tc.cg_set)
            .or(c.tc.as_ref().and_then(|tc| tc.cg_set))
    };
    let main = of(&t.core);
    for (tid, c) in &t.thread_cores {
        if of(c).is_some() && of(c) != main {
            return Err(RestoreError::Unsupported(format!(
                "pid {}: thread {tid} is in other cgroups (set {:?}) than its main thread (set {:?}): \
                 crest restores the cgroups of whole processes",
                t.pstree.pid,
                of(c),
                main
            )));
        }
    }
    Ok(main)
}
