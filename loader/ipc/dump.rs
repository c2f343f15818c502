//! Dumping an IPC namespace: crest enters it (setns), reads its sysctls
//! and copies every System V object, then goes back to its own.

use crate::images::file::{IPCNS_MSG, IPCNS_SEM, IPCNS_SHM, IPC_VAR};
use crate::images::schema::{IpcDescEntry, IpcMsg, IpcShmEntry, IpcVarEntry};
use crate::sys::ipc as sysv;

use super::{Queue, SemSet, SHM_DEST};

/// Dumps the IPC namespace of task `pid` (numbered `id` in the images):
/// crest enters it for the time of the call (setns), reads its sysctls
/// and copies every object, messages with MSG_COPY (the queues stay as
/// they are).
pub fn dump(pid: i32, id: u32) -> Result<DumpedIpc, crate::dump::DumpError> {
    use crate::dump::DumpError;
    use std::os::fd::AsRawFd;
    let own = std::fs::File::open("/proc/self/ns/ipc")
        .map_err(|e| DumpError::file("/proc/self/ns/ipc", e))?;
    let theirs_path = format!("/proc/{pid}/ns/ipc");
    let theirs = std::fs::File::open(&theirs_path).map_err(|e| DumpError::file(&theirs_path, e))?;
    sysv::setns_ipc(theirs.as_raw_fd())
        .map_err(|e| DumpError::sys(pid, "entering its IPC namespace (setns)", e))?;
    let result = read_current(pid, id);
    sysv::setns_ipc(own.as_raw_fd())
        .map_err(|e| DumpError::sys(pid, "leaving its IPC namespace (setns back)", e))?;
    result
}

/// The ids listed in /proc/sysvipc/`kind` (second column), which shows
/// the reader's IPC namespace.
fn listed(kind: &str) -> Result<Vec<i32>, crate::dump::DumpError> {
    let path = format!("/proc/sysvipc/{kind}");
    let text =
        std::fs::read_to_string(&path).map_err(|e| crate::dump::DumpError::file(&path, e))?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect())
}

fn desc_of(p: &sysv::IpcPerm, id: i32) -> IpcDescEntry {
    IpcDescEntry {
        key: p.key as u32,
        uid: p.uid,
        gid: p.gid,
        cuid: p.cuid,
        cgid: p.cgid,
        mode: p.mode,
        id: id as u32,
    }
}

/// What `dump` reads, once inside the namespace.
fn read_current(pid: i32, id: u32) -> Result<DumpedIpc, crate::dump::DumpError> {
    use crate::dump::DumpError;
    let ctl = |name: &str| -> Result<String, DumpError> {
        let path = format!("/proc/sys/{name}");
        std::fs::read_to_string(&path)
            .map(|s| s.trim().to_string())
            .map_err(|e| DumpError::file(&path, e))
    };
    let num = |name: &str| -> Result<u64, DumpError> {
        let s = ctl(name)?;
        s.parse().map_err(|_| DumpError::Task {
            pid,
            what: format!("/proc/sys/{name}: {s:?} is not a number"),
        })
    };
    let opt = |name: &str| -> Option<u32> {
        std::fs::read_to_string(format!("/proc/sys/{name}"))
            .ok()?
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|&v| v >= 0)
            .map(|v| v as u32)
    };
    let var = IpcVarEntry {
        sem_ctls: ctl("kernel/sem")?
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect(),
        msg_ctlmax: num("kernel/msgmax")? as u32,
        msg_ctlmnb: num("kernel/msgmnb")? as u32,
        msg_ctlmni: num("kernel/msgmni")? as u32,
        auto_msgmni: opt("kernel/auto_msgmni").unwrap_or(0),
        shm_ctlmax: num("kernel/shmmax")?,
        shm_ctlall: num("kernel/shmall")?,
        shm_ctlmni: num("kernel/shmmni")? as u32,
        shm_rmid_forced: num("kernel/shm_rmid_forced")? as u32,
        mq_queues_max: opt("fs/mqueue/queues_max").unwrap_or(0),
        mq_msg_max: opt("fs/mqueue/msg_max").unwrap_or(0),
        mq_msgsize_max: opt("fs/mqueue/msgsize_max").unwrap_or(0),
        mq_msg_default: opt("fs/mqueue/msg_default"),
        mq_msgsize_default: opt("fs/mqueue/msgsize_default"),
        msg_next_id: opt("kernel/msg_next_id"),
        sem_next_id: opt("kernel/sem_next_id"),
        shm_next_id: opt("kernel/shm_next_id"),
    };
    let fail = |what: String, e: std::io::Error| DumpError::sys(pid, what, e);
    let mut segments = Vec::new();
    for shm in listed("shm")? {
        let mut ds = sysv::ShmDs::default();
        sysv::shmctl(shm, libc::IPC_STAT, &mut ds)
            .map_err(|e| fail(format!("System V segment {shm}: IPC_STAT"), e))?;
        if ds.perm.mode & SHM_DEST != 0 {
            return Err(DumpError::refused(
                pid,
                format!("System V segment {shm} was removed (IPC_RMID) while still attached; crest does not dump removed segments"),
            ));
        }
        let pages = sysv::shm_pages(shm, ds.segsz)
            .map_err(|e| fail(format!("System V segment {shm}: reading its pages"), e))?;
        segments.push(DumpedSegment {
            entry: IpcShmEntry {
                desc: desc_of(&ds.perm, shm),
                size: ds.segsz,
                in_pagemaps: Some(true),
                hugetlb_flag: None,
            },
            pages,
        });
    }
    let mut sems = Vec::new();
    for sem in listed("sem")? {
        let mut ds = sysv::SemDs::default();
        sysv::semctl_ds(sem, libc::IPC_STAT, &mut ds)
            .map_err(|e| fail(format!("System V semaphore set {sem}: IPC_STAT"), e))?;
        let mut values = vec![0u16; ds.nsems as usize];
        sysv::sem_getall(sem, &mut values)
            .map_err(|e| fail(format!("System V semaphore set {sem}: GETALL"), e))?;
        sems.push(SemSet {
            desc: desc_of(&ds.perm, sem),
            values,
        });
    }
    let mut queues = Vec::new();
    for msq in listed("msg")? {
        let mut ds = sysv::MsgDs::default();
        sysv::msgctl(msq, libc::IPC_STAT, &mut ds)
            .map_err(|e| fail(format!("System V message queue {msq}: IPC_STAT"), e))?;
        let max = (var.msg_ctlmax as usize).clamp(1, sysv::MSG_TEXT_MAX);
        let mut messages = Vec::new();
        for n in 0..ds.qnum {
            let m = sysv::msg_copy(msq, n as i64, max).map_err(|e| {
                fail(
                    format!("System V message queue {msq}: copying message {n} (MSG_COPY)"),
                    e,
                )
            })?;
            messages.push(m);
        }
        queues.push(Queue {
            desc: desc_of(&ds.perm, msq),
            qbytes: ds.qbytes as u32,
            messages,
        });
    }
    Ok(DumpedIpc {
        id,
        var,
        segments,
        sems,
        queues,
    })
}

/// An IPC namespace as dumped.
#[derive(Debug)]
pub struct DumpedIpc {
    pub id: u32,
    pub var: IpcVarEntry,
    pub segments: Vec<DumpedSegment>,
    pub sems: Vec<SemSet>,
    pub queues: Vec<Queue>,
}

impl DumpedIpc {
    /// The namespace's images but the segments' pages: (file name, bytes)
    /// of ipcns-var, -shm, -sem and -msg, laid out as CRIU writes them
    /// (semaphore values padded to 8 bytes, each message an `ipc_msg`
    /// record and its text padded to 8 bytes).
    pub fn images(&self) -> Vec<(String, Vec<u8>)> {
        use crate::images::ImageWriter;
        use prost::Message;
        let pad8 = |v: &mut Vec<u8>| v.resize(v.len().div_ceil(8) * 8, 0);
        let id = self.id;
        let mut out = vec![(IPC_VAR.name(id), IPC_VAR.encode([&self.var]))];
        let shm: Vec<&IpcShmEntry> = self.segments.iter().map(|s| &s.entry).collect();
        out.push((IPCNS_SHM.name(id), IPCNS_SHM.encode(shm)));
        let mut w = ImageWriter::new(IPCNS_SEM.magic());
        for s in &self.sems {
            let mut values: Vec<u8> = s.values.iter().flat_map(|v| v.to_le_bytes()).collect();
            pad8(&mut values);
            let e = crate::images::schema::IpcSemEntry {
                desc: s.desc.clone(),
                nsems: s.values.len() as u32,
            };
            w.push_raw(&e, &[], &values);
        }
        out.push((IPCNS_SEM.name(id), w.into_bytes()));
        let mut w = ImageWriter::new(IPCNS_MSG.magic());
        for q in &self.queues {
            let mut extra = Vec::new();
            for (mtype, text) in &q.messages {
                let m = IpcMsg {
                    mtype: *mtype as u64,
                    msize: text.len() as u32,
                };
                let body = m.encode_to_vec();
                extra.extend_from_slice(&(body.len() as u32).to_le_bytes());
                extra.extend_from_slice(&body);
                extra.extend_from_slice(text);
                extra.resize(extra.len() + text.len().div_ceil(8) * 8 - text.len(), 0);
            }
            let e = crate::images::schema::IpcMsgEntry {
                desc: q.desc.clone(),
                qbytes: q.qbytes,
                qnum: q.messages.len() as u32,
            };
            w.push_raw(&e, &[], &extra);
        }
        out.push((IPCNS_MSG.name(id), w.into_bytes()));
        out
    }
}

/// A segment as dumped: its record and its pages worth keeping, as runs
/// of (offset, bytes).
#[derive(Debug)]
pub struct DumpedSegment {
    pub entry: IpcShmEntry,
    pub pages: Vec<(u64, Vec<u8>)>,
}
