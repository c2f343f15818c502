//! Cgroups: the cgroup every thread is in, one per hierarchy (a "set",
//! as CRIU calls it), and the cgroups themselves with the properties
//! CRIU records, in `cgroup.img`.
//!
//! A set equal to crest's own is not written: as in CRIU, a tree that
//! lives in the dumper's cgroups is restored into the restorer's.

pub(crate) mod restore;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::dump::DumpError;
use crate::images::schema::{
    CgControllerEntry, CgMemberEntry, CgSetEntry, CgroupDirEntry, CgroupEntry, CgroupPerms,
    CgroupPropEntry,
};
use crate::sys;

/// The properties CRIU records of each controller (its built-in list),
/// in the order they are restored.
fn controller_props(controller: &str) -> &'static [&'static str] {
    match controller {
        "cpu" => &[
            "cpu.shares",
            "cpu.cfs_period_us",
            "cpu.cfs_quota_us",
            "cpu.rt_period_us",
            "cpu.rt_runtime_us",
        ],
        // limit_in_bytes before memsw.limit_in_bytes, which may not
        // exceed it.
        "memory" => &[
            "memory.limit_in_bytes",
            "memory.memsw.limit_in_bytes",
            "memory.swappiness",
            "memory.soft_limit_in_bytes",
            "memory.move_charge_at_immigrate",
            "memory.oom_control",
            "memory.use_hierarchy",
            "memory.kmem.limit_in_bytes",
            "memory.kmem.tcp.limit_in_bytes",
        ],
        "cpuset" => &[
            "cpuset.cpus",
            "cpuset.mems",
            "cpuset.memory_migrate",
            "cpuset.cpu_exclusive",
            "cpuset.mem_exclusive",
            "cpuset.mem_hardwall",
            "cpuset.memory_spread_page",
            "cpuset.memory_spread_slab",
            "cpuset.sched_load_balance",
            "cpuset.sched_relax_domain_level",
        ],
        "blkio" => &["blkio.weight"],
        "net_cls" => &["net_cls.classid"],
        "net_prio" => &["net_prio.ifpriomap"],
        "pids" => &["pids.max"],
        "devices" => &["devices.list"],
        _ => &[],
    }
}

/// Files every v1 cgroup has; `cgroup.procs` and `tasks` are recorded
/// for their owner and mode only.
const GLOBAL_V1: [&str; 4] = [
    "cgroup.clone_children",
    "notify_on_release",
    "cgroup.procs",
    "tasks",
];
const GLOBAL_V2: [&str; 5] = [
    "cgroup.subtree_control",
    "cgroup.max.descendants",
    "cgroup.max.depth",
    "cgroup.freeze",
    "cgroup.type",
];

/// The controllers of hierarchy `name` (`cpu,cpuacct`; `name=systemd`;
/// empty for cgroup v2).
pub(crate) fn cnames(name: &str) -> Vec<String> {
    name.split(',').map(str::to_string).collect()
}

/// Parses a `/proc/PID/cgroup` file: one member a hierarchy, sorted by
/// name as CRIU keeps them.
pub(crate) fn parse(text: &str) -> Vec<CgMemberEntry> {
    let mut out: Vec<CgMemberEntry> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, name, path) = (f.next()?, f.next()?, f.next()?);
            Some(CgMemberEntry {
                name: name.to_string(),
                path: path.to_string(),
                cgns_prefix: None,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// A directory of hierarchy `name` at its root: a mount of it in our
/// mount namespace, or, where none is, a fresh mount of it, detached at
/// once so nothing stays behind (the descriptor keeps it reachable).
pub(crate) fn hierarchy(name: &str) -> io::Result<File> {
    let names = cnames(name);
    let v2 = name.is_empty();
    for m in crate::proc::mountinfo("self")? {
        if m.root != "/" {
            continue;
        }
        let matches = if v2 {
            m.fstype == "cgroup2"
        } else {
            let opts: Vec<&str> = m.super_opts.split(',').collect();
            m.fstype == "cgroup" && names.iter().all(|n| opts.contains(&n.as_str()))
        };
        if matches {
            return File::open(&m.mountpoint);
        }
    }
    let dir = std::env::temp_dir().join(format!("crest-cg-{}", std::process::id()));
    fs::create_dir(&dir)?;
    let (fstype, opts) = if v2 {
        ("cgroup2", String::new())
    } else if let Some(n) = name.strip_prefix("name=") {
        ("cgroup", format!("none,name={n}"))
    } else {
        ("cgroup", name.to_string())
    };
    let mounted = sys::mount(Some("cgroup"), &dir, Some(fstype), 0, Some(&opts));
    let opened = mounted.and_then(|()| File::open(&dir));
    let _ = sys::umount2(&dir, libc::MNT_DETACH);
    let _ = fs::remove_dir(&dir);
    opened
}

fn perms(m: &fs::Metadata) -> CgroupPerms {
    CgroupPerms {
        mode: m.mode(),
        uid: m.uid(),
        gid: m.gid(),
    }
}

/// One recorded property of the cgroup at `dir`, if the kernel has it.
fn read_prop(dir: &Path, name: &str) -> io::Result<Option<CgroupPropEntry>> {
    let path = dir.join(name);
    let meta = match fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let value = if name == "cgroup.procs" || name == "tasks" {
        String::new()
    } else {
        let raw = fs::read_to_string(&path)?;
        let v = raw.trim();
        if name == "memory.oom_control" {
            // Only the switch is written back.
            v.lines()
                .find_map(|l| l.strip_prefix("oom_kill_disable "))
                .unwrap_or("0")
                .to_string()
        } else if v.parse::<i64>() == Ok(i64::MAX) {
            "-1".into()
        } else {
            v.to_string()
        }
    };
    Ok(Some(CgroupPropEntry {
        name: name.to_string(),
        value,
        perms: Some(perms(&meta)),
    }))
}

/// The cgroup at `dir` (its name in the image `dir_name`) and every
/// cgroup below it.
fn walk(dir: &Path, dir_name: String, names: &[String]) -> io::Result<CgroupDirEntry> {
    let mut properties = Vec::new();
    let globals: &[&str] = if names == [""] {
        &GLOBAL_V2
    } else {
        &GLOBAL_V1
    };
    for n in names {
        for p in controller_props(n).iter().chain(globals) {
            if let Some(prop) = read_prop(dir, p)? {
                properties.push(prop);
            }
        }
    }
    let mut children = Vec::new();
    let mut subdirs: Vec<_> = fs::read_dir(dir)?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .collect();
    subdirs.sort_by_key(|e| e.file_name());
    for e in subdirs {
        let name = e.file_name().to_string_lossy().into_owned();
        children.push(walk(&e.path(), name, names)?);
    }
    Ok(CgroupDirEntry {
        dir_name,
        children,
        properties,
        dir_perms: Some(perms(&fs::metadata(dir)?)),
    })
}

/// The sets of a dump, crest's own first (id 1, never written).
pub(crate) struct Sets {
    sets: Vec<CgSetEntry>,
    /// The cgroup namespace of the tree's root when it has one of its own,
    /// and crest's.
    ns: Option<(File, File)>,
}

impl Sets {
    /// The sets of a dump of the tree rooted at `root`.
    pub(crate) fn new(root: i32) -> Result<Sets, DumpError> {
        let own = fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| DumpError::file("/proc/self/cgroup", e))?;
        let own = parse(&own);
        let ns = if crate::ns::own_cgroup_ns(root) {
            let open = |p: String| File::open(&p).map_err(|e| DumpError::file(&p, e));
            Some((
                open(format!("/proc/{root}/ns/cgroup"))?,
                open("/proc/self/ns/cgroup".into())?,
            ))
        } else {
            None
        };
        Ok(Sets {
            sets: vec![CgSetEntry { id: 1, ctls: own }],
            ns,
        })
    }

    /// A thread's cgroup file as its own cgroup namespace shows it: read
    /// from inside that namespace.
    fn inside(&self, path: &str) -> io::Result<Option<String>> {
        use std::os::fd::AsRawFd;
        let Some((theirs, ours)) = &self.ns else {
            return Ok(None);
        };
        sys::ipc::setns(theirs.as_raw_fd(), libc::CLONE_NEWCGROUP)?;
        let text = fs::read_to_string(path);
        sys::ipc::setns(ours.as_raw_fd(), libc::CLONE_NEWCGROUP)?;
        text.map(Some)
    }

    /// crest's own set, the inventory's `root_cg_set`.
    pub(crate) fn own_id(&self) -> u32 {
        1
    }

    /// The set of thread `tid` of `pid`.
    fn of(&mut self, pid: i32, tid: i32) -> Result<u32, DumpError> {
        let path = format!("/proc/{pid}/task/{tid}/cgroup");
        let fail = |e| DumpError::sys(pid, format!("reading the cgroups of thread {tid}"), e);
        let text = fs::read_to_string(&path).map_err(fail)?;
        let mut ctls = parse(&text);
        // In a cgroup namespace: how much of each path is its root, as
        // CRIU records it (the length of that prefix).
        if let Some(inside) = self.inside(&path).map_err(fail)? {
            for (c, i) in ctls.iter_mut().zip(parse(&inside)) {
                let n = match i.path.as_str() {
                    "/" => c.path.len(),
                    p => c.path.strip_suffix(p).map_or(0, str::len),
                };
                c.cgns_prefix = Some(n as u32);
            }
        }
        let id = match self.sets.iter().find(|s| s.ctls == ctls) {
            Some(s) => s.id,
            None => {
                let id = self.sets.len() as u32 + 1;
                self.sets.push(CgSetEntry { id, ctls });
                id
            }
        };
        Ok(id)
    }

    /// Names each thread's set in its core (`tids` as `cores`).
    pub(crate) fn assign(
        &mut self,
        pid: i32,
        tids: impl Iterator<Item = i32>,
        cores: &mut [crate::images::schema::CoreEntry],
    ) -> Result<(), DumpError> {
        for (tid, c) in tids.zip(cores.iter_mut()) {
            if let Some(tc) = c.thread_core.as_mut() {
                tc.cg_set = Some(self.of(pid, tid)?);
            }
        }
        Ok(())
    }

    /// `cgroup.img`, unless every thread is in crest's own cgroups.
    pub(crate) fn entry(&self) -> Result<Option<CgroupEntry>, DumpError> {
        if self.sets.len() == 1 {
            return Ok(None);
        }
        let fail = |what: &str, e: io::Error| DumpError::file(format!("cgroup {what}"), e);
        // Each hierarchy's cgroups, from each set's cgroup down.
        let mut heads: HashMap<&str, Vec<String>> = HashMap::new();
        for s in &self.sets[1..] {
            for c in &s.ctls {
                let h = heads.entry(&c.name).or_default();
                let within = |a: &str, b: &str| {
                    b == "/" || a == b || a.strip_prefix(b).is_some_and(|r| r.starts_with('/'))
                };
                if h.iter().any(|p| within(&c.path, p)) {
                    continue;
                }
                h.retain(|p| !within(p, &c.path));
                h.push(c.path.clone());
            }
        }
        let mut controllers = Vec::new();
        for own in &self.sets[0].ctls {
            let names = cnames(&own.name);
            let mut dirs = Vec::new();
            if let Some(paths) = heads.get(own.name.as_str()) {
                let root = hierarchy(&own.name).map_err(|e| fail(&own.name, e))?;
                let base = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&root));
                for p in paths {
                    let at = Path::new(&base).join(p.trim_start_matches('/'));
                    let d = walk(&at, p.trim_start_matches('/').to_string(), &names)
                        .map_err(|e| fail(&format!("{}:{p}", own.name), e))?;
                    dirs.push(d);
                }
            }
            controllers.push(CgControllerEntry {
                is_threaded: Some(names != [""]),
                cnames: names,
                dirs,
            });
        }
        Ok(Some(CgroupEntry {
            sets: self.sets[1..].to_vec(),
            controllers,
        }))
    }
}
