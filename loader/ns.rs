//! Namespaces: the ids CRIU records for a task's namespaces
//! (`task_kobj_ids_entry`) and the time namespace (`timens-*.img`), dumped
//! from /proc and entered again before the tree is forked.

use std::fs;

use crate::dump::DumpError;
use crate::images::schema::{TaskKobjIdsEntry, TimensEntry, Timespec};
use crate::log::DEBUG;
use crate::proc;
use crate::restore::RestoreError;
use crate::sys;

/// Namespace ids as CRIU numbers them: small integers, one per distinct
/// namespace, shared by crest's own (the inventory's root_ids) and the
/// task's.
pub(crate) fn namespace_ids(pid: i32, own: u32) -> (TaskKobjIdsEntry, TaskKobjIdsEntry) {
    let mut seen: Vec<u64> = Vec::new();
    let mut id_of = |who: &str, ns: &str| -> Option<u32> {
        use std::os::unix::fs::MetadataExt;
        let ino = fs::metadata(format!("/proc/{who}/ns/{ns}")).ok()?.ino();
        let i = seen.iter().position(|&s| s == ino).unwrap_or_else(|| {
            seen.push(ino);
            seen.len() - 1
        });
        Some(i as u32 + 1)
    };
    let mut ids = |who: &str, own: u32| TaskKobjIdsEntry {
        vm_id: own,
        files_id: own,
        fs_id: own,
        sighand_id: own,
        pid_ns_id: id_of(who, "pid"),
        net_ns_id: id_of(who, "net"),
        ipc_ns_id: id_of(who, "ipc"),
        uts_ns_id: id_of(who, "uts"),
        mnt_ns_id: id_of(who, "mnt"),
        user_ns_id: id_of(who, "user"),
        cgroup_ns_id: id_of(who, "cgroup"),
        time_ns_id: id_of(who, "time"),
    };
    let root = ids("self", 1);
    let task = ids(&pid.to_string(), own);
    (root, task)
}

/// The namespaces crest does not create yet (the time namespace it does),
/// with what each is called in messages.
const NOT_RESTORED: [&str; 7] = ["pid", "network", "IPC", "UTS", "mount", "user", "cgroup"];

fn ns_ids(ids: &TaskKobjIdsEntry) -> [Option<u32>; 7] {
    [
        ids.pid_ns_id,
        ids.net_ns_id,
        ids.ipc_ns_id,
        ids.uts_ns_id,
        ids.mnt_ns_id,
        ids.user_ns_id,
        ids.cgroup_ns_id,
    ]
}

/// Refuses, by name, a task whose images put it in a namespace other
/// than the dump's root namespaces (`inventory.root_ids`): crest would
/// restore it in the loader's, which is not what was dumped.
pub(crate) fn check_restorable(
    ids_image: &std::path::Path,
    pid: u32,
    ids: &TaskKobjIdsEntry,
    root: &TaskKobjIdsEntry,
) -> Result<(), RestoreError> {
    for ((name, task), host) in NOT_RESTORED.iter().zip(ns_ids(ids)).zip(ns_ids(root)) {
        // The tree's own pid, UTS, IPC, network, mount and cgroup
        // namespaces are restored (`TreeNs`).
        if matches!(
            *name,
            "pid" | "UTS" | "IPC" | "network" | "mount" | "cgroup"
        ) {
            continue;
        }
        if let (Some(t), Some(h)) = (task, host) {
            if t != h {
                return Err(RestoreError::Unsupported(format!(
                    "{}: pid {pid} lives in a {name} namespace of its own (id {t}; the dump's \
                     root namespace is {h}): crest does not restore {name} namespaces yet",
                    ids_image.display()
                )));
            }
        }
    }
    Ok(())
}

/// Refuses, before anything is written, a task in a namespace crest
/// writes no images for: the tree may have pid, UTS and IPC namespaces of
/// its own, the root's, which every task must share; every other
/// namespace (but time, which is dumped) must be crest's.
pub(crate) fn check_dumpable(pid: i32, root: i32) -> Result<(), DumpError> {
    use std::os::unix::fs::MetadataExt;
    const FILES: [&str; 7] = ["pid", "net", "ipc", "uts", "mnt", "user", "cgroup"];
    for (file, name) in FILES.iter().zip(NOT_RESTORED) {
        let ino = |who: &str| fs::metadata(format!("/proc/{who}/ns/{file}")).map(|m| m.ino());
        let tree_own = matches!(*file, "pid" | "ipc" | "uts" | "net" | "mnt" | "cgroup");
        let reference = if tree_own {
            root.to_string()
        } else {
            "self".into()
        };
        match (ino(&pid.to_string()), ino(&reference)) {
            (Ok(t), Ok(own)) if t != own && tree_own => {
                return Err(DumpError::refused(
                    pid,
                    format!("it lives in another {name} namespace than the tree's root; crest dumps one {name} namespace per tree, the root's"),
                ))
            }
            (Ok(t), Ok(own)) if t != own => {
                return Err(DumpError::refused(
                    pid,
                    format!("it lives in a {name} namespace other than crest's; crest does not dump {name} namespaces yet"),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether `pid` lives in another pid namespace than crest.
pub(crate) fn own_pid_ns(pid: i32) -> bool {
    other_than_ours(pid, "pid")
}

/// Whether `pid` lives in another network namespace than crest.
pub(crate) fn own_net_ns(pid: i32) -> bool {
    other_than_ours(pid, "net")
}

/// The network namespace of `pid` when it is not crest's, opened.
pub(crate) fn own_net_file(pid: i32) -> Result<Option<fs::File>, DumpError> {
    if !own_net_ns(pid) {
        return Ok(None);
    }
    let at = format!("/proc/{pid}/ns/net");
    fs::File::open(&at)
        .map(Some)
        .map_err(|e| DumpError::file(&at, e))
}

/// Whether `pid` lives in another cgroup namespace than crest.
pub(crate) fn own_cgroup_ns(pid: i32) -> bool {
    other_than_ours(pid, "cgroup")
}

/// Whether `pid` lives in another mount namespace than crest.
pub(crate) fn own_mnt_ns(pid: i32) -> bool {
    other_than_ours(pid, "mnt")
}

/// Whether `pid` lives in another IPC namespace than crest.
pub(crate) fn own_ipc_ns(pid: i32) -> bool {
    other_than_ours(pid, "ipc")
}

fn other_than_ours(pid: i32, file: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let ino = |who: &str| fs::metadata(format!("/proc/{who}/ns/{file}")).map(|m| m.ino());
    matches!((ino(&pid.to_string()), ino("self")), (Ok(t), Ok(own)) if t != own)
}

/// Refuses a tree whose own pid, UTS or IPC namespace (the root's) holds
/// a process outside the tree (`tree`: every pid of it): the dump would
/// take the namespace away from it, or miss it.
pub(crate) fn check_not_shared(root: i32, tree: &[i32]) -> Result<(), DumpError> {
    use std::os::unix::fs::MetadataExt;
    let mut kinds = Vec::new();
    for (file, name) in [("pid", "pid"), ("ipc", "IPC"), ("uts", "UTS")] {
        if other_than_ours(root, file) {
            if let Ok(m) = fs::metadata(format!("/proc/{root}/ns/{file}")) {
                kinds.push((file, name, m.ino()));
            }
        }
    }
    if kinds.is_empty() {
        return Ok(());
    }
    let Ok(entries) = fs::read_dir("/proc") else {
        return Ok(());
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if tree.contains(&pid) {
            continue;
        }
        for &(file, name, ino) in &kinds {
            if fs::metadata(format!("/proc/{pid}/ns/{file}")).is_ok_and(|m| m.ino() == ino) {
                return Err(DumpError::refused(
                    root,
                    format!(
                        "its {name} namespace is shared with pid {pid} ({}), which is not in the tree",
                        crate::proc::holder(pid as u32)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The namespaces a restored tree gets of its own: each is the root
/// task's, which every task of the tree shares, created with the root
/// (clone3 flags) where it differs from the dump's root namespaces.
#[derive(Debug, Default)]
pub(crate) struct TreeNs {
    /// The root is init (pid 1) of a new pid namespace.
    pub(crate) new_pid: bool,
    /// The tree's UTS namespace, from `utsns-<id>.img`.
    pub(crate) uts: Option<crate::images::schema::UtsnsEntry>,
    /// The tree's IPC namespace, from `ipcns-*-<id>.img`.
    pub(crate) ipc: Option<crate::ipc::IpcNs>,
    /// The tree's network namespace, which crest builds and forks the
    /// root into (not a clone flag).
    pub(crate) net: Option<TreeNet>,
    /// The tree has a mount namespace of its own (`tree_mnt`): the root
    /// is forked into a copy of the one crest built.
    pub(crate) mnt: bool,
    /// The tree has a cgroup namespace of its own, which the root makes
    /// once in its cgroups.
    pub(crate) cgroup: bool,
}

/// What the tree's network namespace is made from.
#[derive(Debug)]
pub(crate) enum TreeNet {
    Images(Box<crate::net::NetImages>),
    /// `--empty-ns net`: nothing.
    Empty,
}

impl TreeNs {
    /// The clone3 flags that fork the root into these namespaces.
    pub(crate) fn clone_flags(&self) -> u64 {
        let mut f = 0;
        if self.new_pid {
            f |= libc::CLONE_NEWPID as u64;
        }
        if self.uts.is_some() {
            f |= libc::CLONE_NEWUTS as u64;
        }
        if self.ipc.is_some() {
            f |= libc::CLONE_NEWIPC as u64;
        }
        if self.mnt {
            f |= libc::CLONE_NEWNS as u64;
        }
        f
    }

    /// Reads and checks the tree's namespaces: `tasks` in pstree order
    /// (the root first), each with its ids.
    pub(crate) fn read(
        dir: &std::path::Path,
        empty_net: bool,
        root_ids: Option<&TaskKobjIdsEntry>,
        tasks: &[(u32, &TaskKobjIdsEntry)],
    ) -> Result<TreeNs, RestoreError> {
        use crate::images::file::UTSNS;
        let (Some(host), Some(&(root_pid, root))) = (root_ids, tasks.first()) else {
            return Ok(TreeNs::default());
        };
        type Pick = fn(&TaskKobjIdsEntry) -> Option<u32>;
        let kinds: [(&str, Pick); 6] = [
            ("pid", |i| i.pid_ns_id),
            ("UTS", |i| i.uts_ns_id),
            ("IPC", |i| i.ipc_ns_id),
            ("network", |i| i.net_ns_id),
            ("mount", |i| i.mnt_ns_id),
            ("cgroup", |i| i.cgroup_ns_id),
        ];
        for (name, pick) in kinds {
            for &(pid, t) in tasks {
                if pick(t) != pick(root) {
                    return Err(RestoreError::Unsupported(format!(
                        "pid {pid} lives in another {name} namespace ({:?}) than the tree's root ({:?}): crest restores one {name} namespace per tree, the root's",
                        pick(t),
                        pick(root)
                    )));
                }
            }
        }
        let own = |pick: Pick| match (pick(root), pick(host)) {
            (Some(t), Some(h)) if t != h => Some(t),
            _ => None,
        };
        let new_pid = own(|i| i.pid_ns_id).is_some();
        if new_pid && root_pid != 1 {
            return Err(RestoreError::Unsupported(format!(
                "can't restore a pid namespace without its init (pid 1): the tree's root is pid {root_pid} of a pid namespace of its own; dump the namespace's init instead"
            )));
        }
        if !new_pid && root_pid == 1 {
            return Err(RestoreError::Unsupported(
                "the tree's root is pid 1, but the images give it the dump's own pid namespace (ids-1.img pid_ns_id equals the inventory's root_ids): pid 1 can only be restored as init of a new pid namespace; dump a tree whose root is not init"
                    .into(),
            ));
        }
        let uts = match own(|i| i.uts_ns_id) {
            Some(id) => Some(UTSNS.read_one(dir, id)?),
            None => None,
        };
        let ipc = match own(|i| i.ipc_ns_id) {
            Some(id) => Some(crate::ipc::IpcNs::read(dir, id)?),
            None => None,
        };
        let net = match own(|i| i.net_ns_id) {
            Some(_) if empty_net => Some(TreeNet::Empty),
            Some(id) => Some(TreeNet::Images(Box::new(crate::net::NetImages::read(
                dir, id,
            )?))),
            None => None,
        };
        let mnt = own(|i| i.mnt_ns_id).is_some();
        let cgroup = own(|i| i.cgroup_ns_id).is_some();
        Ok(TreeNs {
            new_pid,
            uts,
            ipc,
            net,
            mnt,
            cgroup,
        })
    }
}

/// The tree's own mount namespace, if its root (pid `root`) has one
/// other than the dump's root namespaces': read before anything else is
/// planned, as the tree's paths are that namespace's.
pub(crate) fn tree_mnt(
    dir: &std::path::Path,
    root_ids: Option<&TaskKobjIdsEntry>,
    root: u32,
) -> Result<Option<crate::mnt::restore::MntNs>, RestoreError> {
    let Some(host) = root_ids.and_then(|r| r.mnt_ns_id) else {
        return Ok(None);
    };
    let ids = crate::images::file::IDS.read_one(dir, root)?;
    match ids.mnt_ns_id {
        Some(id) if id != host => Ok(Some(crate::mnt::restore::MntNs::read(dir, id)?)),
        _ => Ok(None),
    }
}

/// Whether `pid` lives in another UTS namespace than crest.
pub(crate) fn own_uts_ns(pid: i32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let ino = |who: &str| fs::metadata(format!("/proc/{who}/ns/uts")).map(|m| m.ino());
    matches!((ino(&pid.to_string()), ino("self")), (Ok(t), Ok(own)) if t != own)
}

/// A `struct utsname` as `uname(2)` fills it: (nodename, domainname).
pub(crate) fn parse_utsname(raw: &[u8]) -> (String, String) {
    let field = |i: usize| {
        let f = raw.get(i * 65..(i + 1) * 65).unwrap_or(&[]);
        let end = f.iter().position(|&b| b == 0).unwrap_or(f.len());
        String::from_utf8_lossy(&f[..end]).into_owned()
    };
    (field(1), field(5))
}

/// In the root of a restored tree, which clone3 put in a new UTS
/// namespace: its dumped host and domain names.
pub(crate) fn set_uts(u: &crate::images::schema::UtsnsEntry) -> Result<(), String> {
    sys::sethostname(&u.nodename).map_err(|e| format!("sethostname {:?}: {e}", u.nodename))?;
    sys::setdomainname(&u.domainname).map_err(|e| format!("setdomainname {:?}: {e}", u.domainname))
}

/// The task's monotonic and boot-time clocks now, for the restore's time
/// namespace: ours plus the task's time-namespace offsets.
pub(crate) fn timens(pid: i32) -> Result<TimensEntry, DumpError> {
    let offset = |name: &str| timens_offset(pid, name);
    let clock = |c, name: &str| -> Result<Timespec, DumpError> {
        let (s, ns) = sys::clock_gettime(c)
            .map_err(|e| DumpError::sys(pid, format!("clock_gettime({name})"), e))?;
        let t = s as i128 * 1_000_000_000 + ns as i128 + offset(name);
        Ok(Timespec {
            tv_sec: (t / 1_000_000_000) as u64,
            tv_nsec: (t % 1_000_000_000) as u64,
        })
    };
    Ok(TimensEntry {
        monotonic: clock(libc::CLOCK_MONOTONIC, "monotonic")?,
        boottime: clock(libc::CLOCK_BOOTTIME, "boottime")?,
    })
}

/// How far clock `name` ("monotonic", "boottime") of task `pid`'s time
/// namespace is ahead of ours, in nanoseconds (0 when it cannot be read).
pub(crate) fn timens_offset(pid: i32, name: &str) -> i128 {
    let offsets = proc::read(pid, "timens_offsets").unwrap_or_default();
    offsets
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| {
            let mut f = l.split_whitespace().skip(1);
            let s: i128 = f.next()?.parse().ok()?;
            let ns: i128 = f.next()?.parse().ok()?;
            Some(s * 1_000_000_000 + ns)
        })
        .unwrap_or(0)
}

/// Makes the children of this process start in a new time namespace whose
/// monotonic and boot-time clocks continue from their dump-time values.
pub(crate) fn enter_timens(t: &crate::images::schema::TimensEntry) -> Result<(), RestoreError> {
    sys::unshare(libc::CLONE_NEWTIME)
        .map_err(|e| RestoreError::sys(0, "unshare(CLONE_NEWTIME)", e))?;
    let offset =
        |clock, dumped: &crate::images::schema::Timespec| -> Result<String, RestoreError> {
            let (s, ns) = sys::clock_gettime(clock)
                .map_err(|e| RestoreError::sys(0, format!("clock_gettime(clock {clock})"), e))?;
            let want = dumped.tv_sec as i128 * 1_000_000_000 + dumped.tv_nsec as i128;
            let now = s as i128 * 1_000_000_000 + ns as i128;
            let d = want - now;
            Ok(format!(
                "{} {}",
                d.div_euclid(1_000_000_000),
                d.rem_euclid(1_000_000_000)
            ))
        };
    let text = format!(
        "monotonic {}\nboottime {}\n",
        offset(libc::CLOCK_MONOTONIC, &t.monotonic)?,
        offset(libc::CLOCK_BOOTTIME, &t.boottime)?
    );
    crate::log!(DEBUG, "timens offsets: {}", text.replace('\n', "; "));
    std::fs::write("/proc/self/timens_offsets", text)
        .map_err(|e| RestoreError::sys(0, "writing /proc/self/timens_offsets", e))
}
