//! An IPC namespace (`ipcns-{var,shm,sem,msg}-<id>.img`): its sysctls and
//! every System V object in it, with the ids, keys, owners and modes they
//! were dumped with; segments' contents, semaphore values and queued
//! messages in order. Read by the loader before the first fork, created by
//! the tree's root inside its new IPC namespace before it forks anyone;
//! dumped from inside the namespace (`dump`).

mod dump;
pub use dump::{dump, DumpedIpc, DumpedSegment};

use std::path::{Path, PathBuf};

use crate::images::file::{IPCNS_MSG, IPCNS_SEM, IPCNS_SHM, IPC_VAR};
use crate::images::pagemap::PageRun;
use crate::images::schema::{IpcDescEntry, IpcMsg, IpcShmEntry, IpcVarEntry};
use crate::restore::RestoreError;
use crate::sys::ipc as sysv;

/// A segment's dumped contents.
#[derive(Debug)]
pub enum ShmContent {
    /// Never written: the new segment's zeros are right.
    Zero,
    /// Pages from `pagemap-shmem-<id>.img`: runs at offsets in the segment.
    Pages(Vec<PageRun>, PathBuf, std::fs::File),
    /// Old images: the bytes after the segment's record.
    Inline(Vec<u8>),
}

#[derive(Debug)]
pub struct Segment {
    pub entry: IpcShmEntry,
    pub content: ShmContent,
}

#[derive(Debug)]
pub struct SemSet {
    pub desc: IpcDescEntry,
    pub values: Vec<u16>,
}

#[derive(Debug)]
pub struct Queue {
    pub desc: IpcDescEntry,
    pub qbytes: u32,
    /// (type, text), oldest first.
    pub messages: Vec<(i64, Vec<u8>)>,
}

/// One dumped IPC namespace.
#[derive(Debug)]
pub struct IpcNs {
    pub id: u32,
    pub var: IpcVarEntry,
    pub segments: Vec<Segment>,
    pub sems: Vec<SemSet>,
    pub queues: Vec<Queue>,
}

fn bad(dir: &Path, name: String, m: String) -> RestoreError {
    RestoreError::Inconsistent(format!("{}: {m}", dir.join(name).display()))
}

/// Whether an image file is there (a namespace without objects of a kind
/// may have no file for them).
fn exists(dir: &Path, name: &str) -> bool {
    dir.join(name).exists()
}

impl IpcNs {
    /// Reads IPC namespace `id` from `dir`, checking every object.
    pub fn read(dir: &Path, id: u32) -> Result<IpcNs, RestoreError> {
        let var = IPC_VAR.read_one(dir, id)?;
        let mut segments = Vec::new();
        if exists(dir, &IPCNS_SHM.name(id)) {
            for (i, (entry, extra)) in IPCNS_SHM.read_with_extra(dir, id)?.into_iter().enumerate() {
                check_id(dir, IPCNS_SHM.name(id), i, &entry.desc)?;
                let size = entry.size;
                if size == 0 || size > i64::MAX as u64 {
                    return Err(bad(
                        dir,
                        IPCNS_SHM.name(id),
                        format!("record {i}: segment size {size}"),
                    ));
                }
                let content = if entry.in_pagemaps == Some(true) {
                    let name = format!("pagemap-shmem-{}.img", entry.desc.id);
                    if exists(dir, &name) {
                        let mapped = crate::blob::page_up(size);
                        let check = |runs: &[PageRun]| match runs.iter().position(|r| {
                            !r.vaddr.is_multiple_of(crate::images::flags::PAGE)
                                || r.nr_pages
                                    .checked_mul(crate::images::flags::PAGE)
                                    .and_then(|l| r.vaddr.checked_add(l))
                                    .is_none_or(|e| e > mapped)
                        }) {
                            Some(j) => Err(bad(
                                dir,
                                name.clone(),
                                format!("entry {}: pages outside the {size}-byte segment", j + 1),
                            )),
                            None => Ok(()),
                        };
                        let (runs, path, file) = crate::images::pagemap::read(dir, &name, check)?;
                        ShmContent::Pages(runs, path, file)
                    } else {
                        ShmContent::Zero
                    }
                } else {
                    ShmContent::Inline(extra)
                };
                segments.push(Segment { entry, content });
            }
        }
        let mut sems = Vec::new();
        if exists(dir, &IPCNS_SEM.name(id)) {
            for (i, (entry, extra)) in IPCNS_SEM.read_with_extra(dir, id)?.into_iter().enumerate() {
                check_id(dir, IPCNS_SEM.name(id), i, &entry.desc)?;
                let n = entry.nsems as usize;
                if n == 0 || extra.len() < 2 * n {
                    return Err(bad(
                        dir,
                        IPCNS_SEM.name(id),
                        format!("record {i}: {n} semaphores"),
                    ));
                }
                let values = extra[..2 * n]
                    .chunks_exact(2)
                    .map(|b| u16::from_le_bytes([b[0], b[1]]))
                    .collect();
                sems.push(SemSet {
                    desc: entry.desc,
                    values,
                });
            }
        }
        let mut queues = Vec::new();
        if exists(dir, &IPCNS_MSG.name(id)) {
            for (i, (entry, extra)) in IPCNS_MSG.read_with_extra(dir, id)?.into_iter().enumerate() {
                check_id(dir, IPCNS_MSG.name(id), i, &entry.desc)?;
                let messages = messages(&extra, entry.qnum)
                    .map_err(|m| bad(dir, IPCNS_MSG.name(id), format!("record {i}: {m}")))?;
                queues.push(Queue {
                    desc: entry.desc,
                    qbytes: entry.qbytes,
                    messages,
                });
            }
        }
        Ok(IpcNs {
            id,
            var,
            segments,
            sems,
            queues,
        })
    }

    /// In the tree's root, inside the new IPC namespace: sets its sysctls
    /// and creates every object with its id, then the dumped next ids.
    pub fn create(&self) -> Result<(), String> {
        let v = &self.var;
        if !v.sem_ctls.is_empty() {
            let s: Vec<String> = v.sem_ctls.iter().map(|x| x.to_string()).collect();
            self.sysctl("kernel/sem", s.join(" "))?;
        }
        self.sysctl("kernel/msgmax", v.msg_ctlmax.to_string())?;
        self.sysctl("kernel/msgmnb", v.msg_ctlmnb.to_string())?;
        if Path::new("/proc/sys/kernel/auto_msgmni").exists() {
            self.sysctl("kernel/auto_msgmni", v.auto_msgmni.to_string())?;
        }
        self.sysctl("kernel/msgmni", v.msg_ctlmni.to_string())?;
        self.sysctl("kernel/shmmax", v.shm_ctlmax.to_string())?;
        self.sysctl("kernel/shmall", v.shm_ctlall.to_string())?;
        self.sysctl("kernel/shmmni", v.shm_ctlmni.to_string())?;
        self.sysctl("kernel/shm_rmid_forced", v.shm_rmid_forced.to_string())?;
        if Path::new("/proc/sys/fs/mqueue").exists() {
            self.sysctl("fs/mqueue/queues_max", v.mq_queues_max.to_string())?;
            self.sysctl("fs/mqueue/msg_max", v.mq_msg_max.to_string())?;
            self.sysctl("fs/mqueue/msgsize_max", v.mq_msgsize_max.to_string())?;
            if let Some(x) = v.mq_msg_default {
                self.sysctl("fs/mqueue/msg_default", x.to_string())?;
            }
            if let Some(x) = v.mq_msgsize_default {
                self.sysctl("fs/mqueue/msgsize_default", x.to_string())?;
            }
        }
        for s in &self.segments {
            self.create_segment(s)?;
        }
        for q in &self.queues {
            self.create_queue(q)?;
        }
        for s in &self.sems {
            self.create_sems(s)?;
        }
        // The ids the next objects would have got: written last, since
        // every creation above consumed the one it set.
        for (name, id) in [
            ("kernel/msg_next_id", v.msg_next_id),
            ("kernel/sem_next_id", v.sem_next_id),
            ("kernel/shm_next_id", v.shm_next_id),
        ] {
            if let Some(id) = id.filter(|&i| i as i32 >= 0) {
                self.sysctl(name, id.to_string())?;
            }
        }
        Ok(())
    }

    /// Writes `value` to /proc/sys/`name`, which is this namespace's.
    fn sysctl(&self, name: &str, value: impl std::fmt::Display) -> Result<(), String> {
        let path = format!("/proc/sys/{name}");
        let value = value.to_string();
        std::fs::write(&path, &value).map_err(|e| {
            format!(
                "IPC namespace {}: writing {value:?} to {path}: {e}",
                self.id
            )
        })
    }

    fn next_id(&self, kind: &str, id: u32) -> Result<(), String> {
        self.sysctl(&format!("kernel/{kind}_next_id"), id)
    }

    fn create_segment(&self, s: &Segment) -> Result<(), String> {
        let d = &s.entry.desc;
        let what = format!("System V segment {} (key {:#x})", d.id, d.key);
        if d.mode & SHM_DEST != 0 {
            return Err(format!(
                "{what} was removed (IPC_RMID) while still attached: crest does not restore removed segments"
            ));
        }
        self.next_id("shm", d.id)?;
        let flags = s.entry.hugetlb_flag.unwrap_or(0) as i32
            | (d.mode & 0o777) as i32
            | libc::IPC_CREAT
            | libc::IPC_EXCL;
        let id = sysv::shmget(d.key as i32, s.entry.size, flags)
            .map_err(|e| format!("{what}: shmget: {e}"))?;
        same_id(&what, id, d.id)?;
        let mut ds = sysv::ShmDs::default();
        sysv::shmctl(id, libc::IPC_STAT, &mut ds).map_err(|e| format!("{what}: IPC_STAT: {e}"))?;
        set_perm(&mut ds.perm, d);
        sysv::shmctl(id, libc::IPC_SET, &mut ds)
            .map_err(|e| format!("{what}: IPC_SET ({}): {e}", perm_text(d)))?;
        crate::restore::fill_sysv(id, s.entry.size, &s.content)
            .map_err(|e| format!("{what}: {e}"))?;
        if d.mode & SHM_LOCKED != 0 {
            sysv::shmctl(id, libc::SHM_LOCK, &mut ds)
                .map_err(|e| format!("{what}: SHM_LOCK: {e}"))?;
        }
        Ok(())
    }

    fn create_queue(&self, q: &Queue) -> Result<(), String> {
        let d = &q.desc;
        let what = format!("System V message queue {} (key {:#x})", d.id, d.key);
        self.next_id("msg", d.id)?;
        let id = sysv::msgget(
            d.key as i32,
            (d.mode & 0o777) as i32 | libc::IPC_CREAT | libc::IPC_EXCL,
        )
        .map_err(|e| format!("{what}: msgget: {e}"))?;
        same_id(&what, id, d.id)?;
        for (n, (mtype, text)) in q.messages.iter().enumerate() {
            sysv::msgsnd(id, *mtype, text).map_err(|e| {
                format!(
                    "{what}: message {n} (type {mtype}, {} bytes): msgsnd: {e}",
                    text.len()
                )
            })?;
        }
        let mut ds = sysv::MsgDs::default();
        sysv::msgctl(id, libc::IPC_STAT, &mut ds).map_err(|e| format!("{what}: IPC_STAT: {e}"))?;
        set_perm(&mut ds.perm, d);
        ds.qbytes = u64::from(q.qbytes);
        sysv::msgctl(id, libc::IPC_SET, &mut ds).map_err(|e| {
            format!(
                "{what}: IPC_SET ({}, qbytes {}): {e}",
                perm_text(d),
                q.qbytes
            )
        })?;
        Ok(())
    }

    fn create_sems(&self, s: &SemSet) -> Result<(), String> {
        let d = &s.desc;
        let what = format!("System V semaphore set {} (key {:#x})", d.id, d.key);
        self.next_id("sem", d.id)?;
        let id = sysv::semget(
            d.key as i32,
            s.values.len() as i32,
            (d.mode & 0o777) as i32 | libc::IPC_CREAT | libc::IPC_EXCL,
        )
        .map_err(|e| format!("{what}: semget: {e}"))?;
        same_id(&what, id, d.id)?;
        let mut ds = sysv::SemDs::default();
        sysv::semctl_ds(id, libc::IPC_STAT, &mut ds)
            .map_err(|e| format!("{what}: IPC_STAT: {e}"))?;
        set_perm(&mut ds.perm, d);
        sysv::semctl_ds(id, libc::IPC_SET, &mut ds)
            .map_err(|e| format!("{what}: IPC_SET ({}): {e}", perm_text(d)))?;
        sysv::sem_setall(id, &s.values).map_err(|e| format!("{what}: SETALL: {e}"))?;
        Ok(())
    }
}

/// Segment mode bits that are state, not permission (`SHM_DEST`: removed,
/// still attached; `SHM_LOCKED`: SHM_LOCK'ed).
const SHM_DEST: u32 = 0o1000;
const SHM_LOCKED: u32 = 0o2000;

/// The owner and mode an object gets, for messages.
fn perm_text(d: &IpcDescEntry) -> String {
    format!("owner {}:{}, mode {:o}", d.uid, d.gid, d.mode & 0o777)
}

fn set_perm(perm: &mut sysv::IpcPerm, d: &IpcDescEntry) {
    perm.uid = d.uid;
    perm.gid = d.gid;
    perm.mode = (perm.mode & !0o777) | (d.mode & 0o777);
}

fn same_id(what: &str, got: i32, want: u32) -> Result<(), String> {
    if got as u32 != want {
        return Err(format!(
            "{what}: created with id {got}, not its dumped id (is kernel/*_next_id writable here?)"
        ));
    }
    Ok(())
}

fn check_id(dir: &Path, name: String, i: usize, d: &IpcDescEntry) -> Result<(), RestoreError> {
    if d.id > i32::MAX as u32 {
        return Err(bad(
            dir,
            name,
            format!("record {i}: id {} is out of range", d.id),
        ));
    }
    Ok(())
}

/// The `qnum` messages after a queue's record: each an `ipc_msg` record
/// (u32 length, then the message), then its text padded to 8 bytes.
fn messages(extra: &[u8], qnum: u32) -> Result<Vec<(i64, Vec<u8>)>, String> {
    use prost::Message;
    let mut out = Vec::new();
    let mut pos = 0usize;
    for n in 0..qnum {
        let len = extra
            .get(pos..pos + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or(format!("message {n}: truncated"))?;
        let body = extra
            .get(pos + 4..pos + 4 + len)
            .ok_or(format!("message {n}: truncated"))?;
        let m = IpcMsg::decode(body).map_err(|e| format!("message {n}: {e}"))?;
        let start = pos + 4 + len;
        let size = m.msize as usize;
        if size > sysv::MSG_TEXT_MAX {
            return Err(format!("message {n}: {size} bytes of text"));
        }
        let text = extra
            .get(start..start + size)
            .ok_or(format!("message {n}: truncated"))?;
        out.push((m.mtype as i64, text.to_vec()));
        pos = start + size.div_ceil(8) * 8;
    }
    Ok(out)
}
