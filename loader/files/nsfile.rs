//! Descriptors of namespace files (`/proc/PID/ns/net` and the like), as
//! CRIU keeps them: an `ns_file_entry` naming the namespace by its id in
//! the images and by its clone flag. crest restores those of the task's
//! own namespaces, reopened through /proc/self/ns in the task; one of
//! another namespace is refused by name.

use crate::dump::DumpError;
use crate::images::schema::{FdTypes, FileEntry, NsFileEntry, TaskKobjIdsEntry};
use crate::restore::RestoreError;

/// A task's id of one kind of namespace.
type IdOf = fn(&TaskKobjIdsEntry) -> Option<u32>;

/// Each kind of namespace: its /proc name, its clone flag, and its id in
/// a task's ids.
const KINDS: [(&str, i32, IdOf); 8] = [
    ("net", libc::CLONE_NEWNET, |i| i.net_ns_id),
    ("uts", libc::CLONE_NEWUTS, |i| i.uts_ns_id),
    ("ipc", libc::CLONE_NEWIPC, |i| i.ipc_ns_id),
    ("pid", libc::CLONE_NEWPID, |i| i.pid_ns_id),
    ("mnt", libc::CLONE_NEWNS, |i| i.mnt_ns_id),
    ("user", libc::CLONE_NEWUSER, |i| i.user_ns_id),
    ("cgroup", libc::CLONE_NEWCGROUP, |i| i.cgroup_ns_id),
    ("time", libc::CLONE_NEWTIME, |i| i.time_ns_id),
];

/// The kind of namespace a descriptor's link (`net:[4026531833]`) names.
pub(crate) fn kind_of(link: &str) -> Option<&'static str> {
    let (kind, rest) = link.split_once(":[")?;
    rest.strip_suffix(']')?.parse::<u64>().ok()?;
    KINDS.iter().map(|k| k.0).find(|&k| k == kind)
}

impl super::Files {
    /// Descriptor `fd` of `pid`, a file of namespace kind `kind`: an NS
    /// entry if it is the task's own namespace of that kind.
    pub(crate) fn ns_file(
        &mut self,
        pid: i32,
        fd: i32,
        link: &str,
        kind: &'static str,
        flags: u32,
    ) -> Result<u32, DumpError> {
        use std::os::unix::fs::MetadataExt;
        let ino = |p: String| std::fs::metadata(p).map(|m| m.ino());
        let open = ino(format!("/proc/{pid}/fd/{fd}"));
        let own = ino(format!("/proc/{pid}/ns/{kind}"));
        let (k, cflag, id_of) = KINDS
            .iter()
            .find(|k| k.0 == kind)
            .copied()
            .ok_or_else(|| DumpError::refused(pid, format!("fd {fd}: {link}")))?;
        let ns_id = match (open, own) {
            (Ok(a), Ok(b)) if a == b => id_of(&crate::ns::namespace_ids(pid, 0).1),
            _ => None,
        };
        let Some(ns_id) = ns_id else {
            return Err(DumpError::refused(
                pid,
                format!(
                    "fd {fd} is a file of a {k} namespace other than the task's own ({link}), \
                     which crest does not dump"
                ),
            ));
        };
        Ok(self.add(|id| FileEntry {
            r#type: FdTypes::Ns as i32,
            id,
            nsf: Some(NsFileEntry {
                id,
                ns_id,
                ns_cflag: cflag as u32,
                flags,
            }),
            ..Default::default()
        }))
    }
}

/// The /proc/self/ns name of the namespace file `e`, which must be of
/// one of the task's own namespaces (`ids`).
pub(crate) fn reopen(
    e: &NsFileEntry,
    ids: &TaskKobjIdsEntry,
    what: &str,
) -> Result<&'static str, RestoreError> {
    let (kind, _, id_of) = KINDS
        .iter()
        .find(|k| k.1 as u32 == e.ns_cflag)
        .copied()
        .ok_or_else(|| {
            RestoreError::Inconsistent(format!(
                "{what}: namespace file of clone flag {:#x}, which is no namespace",
                e.ns_cflag
            ))
        })?;
    if id_of(ids) != Some(e.ns_id) {
        return Err(RestoreError::Unsupported(format!(
            "{what}: a file of {kind} namespace {}, not the task's own, which crest does not \
             restore",
            e.ns_id
        )));
    }
    Ok(kind)
}
