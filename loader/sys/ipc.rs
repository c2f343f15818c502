//! System V IPC: shared memory segments, semaphore sets and message
//! queues, through the raw system calls with the kernel's own x86_64
//! structures (`ipc64_perm`, `shmid64_ds`, `semid64_ds`, `msqid64_ds`),
//! which is what the kernel always takes on x86_64.

use std::io;

use super::check;

/// `struct ipc64_perm`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct IpcPerm {
    pub key: i32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    pub mode: u32,
    pub seq: u16,
    _pad: u16,
    _unused: [u64; 2],
}

/// `struct shmid64_ds`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ShmDs {
    pub perm: IpcPerm,
    pub segsz: u64,
    pub atime: i64,
    pub dtime: i64,
    pub ctime: i64,
    pub cpid: i32,
    pub lpid: i32,
    pub nattch: u64,
    _unused: [u64; 2],
}

/// `struct semid64_ds`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SemDs {
    pub perm: IpcPerm,
    pub otime: i64,
    _unused1: u64,
    pub ctime: i64,
    _unused2: u64,
    pub nsems: u64,
    _unused: [u64; 2],
}

/// `struct msqid64_ds`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MsgDs {
    pub perm: IpcPerm,
    pub stime: i64,
    pub rtime: i64,
    pub ctime: i64,
    pub cbytes: u64,
    pub qnum: u64,
    pub qbytes: u64,
    pub lspid: i32,
    pub lrpid: i32,
    _unused: [u64; 2],
}

const _: () = assert!(size_of::<IpcPerm>() == 48);
const _: () = assert!(size_of::<ShmDs>() == 112);
const _: () = assert!(size_of::<SemDs>() == 104);
const _: () = assert!(size_of::<MsgDs>() == 120);

/// Largest message text `msgsnd`/`msgrcv` take here (the kernel's hard
/// limit on `msgmax` is INT_MAX, but a queue holds at most `msgmnb`).
pub const MSG_TEXT_MAX: usize = 1 << 20;

fn int(r: libc::c_long) -> io::Result<i32> {
    check(r).map(|v| v as i32)
}

pub fn shmget(key: i32, size: u64, flags: i32) -> io::Result<i32> {
    // SAFETY: shmget takes no memory.
    int(unsafe { libc::syscall(libc::SYS_shmget, key, size, flags) })
}

/// `shmctl(id, cmd, &ds)` for IPC_STAT, SHM_STAT and IPC_SET; returns the
/// call's value (SHM_STAT: the id at that index).
pub fn shmctl(id: i32, cmd: i32, ds: &mut ShmDs) -> io::Result<i32> {
    // SAFETY: ds is a whole shmid64_ds, which these commands read or fill.
    int(unsafe { libc::syscall(libc::SYS_shmctl, id, cmd, ds as *mut ShmDs) })
}

/// Attaches segment `id` wherever the kernel likes (never over a mapping).
pub fn shmat_anywhere(id: i32, flags: i32) -> io::Result<u64> {
    // SAFETY: without an address (and so without SHM_REMAP) the kernel
    // only maps into free address space.
    check(unsafe { libc::syscall(libc::SYS_shmat, id, 0usize, flags & !libc::SHM_REMAP) })
        .map(|a| a as u64)
}

/// # Safety
/// `at` must be an attachment (from `shmat_anywhere`) that nothing refers
/// to any more.
pub unsafe fn shmdt(at: u64) -> io::Result<()> {
    // SAFETY: the caller's.
    check(unsafe { libc::syscall(libc::SYS_shmdt, at) }).map(drop)
}

pub fn semget(key: i32, nsems: i32, flags: i32) -> io::Result<i32> {
    // SAFETY: semget takes no memory.
    int(unsafe { libc::syscall(libc::SYS_semget, key, nsems, flags) })
}

/// `semctl(id, 0, cmd, &ds)` for IPC_STAT, SEM_STAT and IPC_SET.
pub fn semctl_ds(id: i32, cmd: i32, ds: &mut SemDs) -> io::Result<i32> {
    // SAFETY: ds is a whole semid64_ds, which these commands read or fill.
    int(unsafe { libc::syscall(libc::SYS_semctl, id, 0, cmd, ds as *mut SemDs) })
}

/// Every value of set `id`, which has `values.len()` semaphores.
pub fn sem_getall(id: i32, values: &mut [u16]) -> io::Result<()> {
    let mut ds = SemDs::default();
    semctl_ds(id, libc::IPC_STAT, &mut ds)?;
    if ds.nsems != values.len() as u64 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: GETALL writes nsems u16, and values holds exactly that many
    // (checked just above; a set's size never changes).
    int(unsafe { libc::syscall(libc::SYS_semctl, id, 0, libc::GETALL, values.as_mut_ptr()) })
        .map(drop)
}

/// Sets every value of set `id`, which must have `values.len()` semaphores.
pub fn sem_setall(id: i32, values: &[u16]) -> io::Result<()> {
    let mut ds = SemDs::default();
    semctl_ds(id, libc::IPC_STAT, &mut ds)?;
    if ds.nsems != values.len() as u64 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: SETALL reads nsems u16 from values, which holds that many.
    int(unsafe { libc::syscall(libc::SYS_semctl, id, 0, libc::SETALL, values.as_ptr()) }).map(drop)
}

pub fn msgget(key: i32, flags: i32) -> io::Result<i32> {
    // SAFETY: msgget takes no memory.
    int(unsafe { libc::syscall(libc::SYS_msgget, key, flags) })
}

/// `msgctl(id, cmd, &ds)` for IPC_STAT, MSG_STAT and IPC_SET.
pub fn msgctl(id: i32, cmd: i32, ds: &mut MsgDs) -> io::Result<i32> {
    // SAFETY: ds is a whole msqid64_ds, which these commands read or fill.
    int(unsafe { libc::syscall(libc::SYS_msgctl, id, cmd, ds as *mut MsgDs) })
}

/// Queues one message of type `mtype` on queue `id`, without waiting.
pub fn msgsnd(id: i32, mtype: i64, text: &[u8]) -> io::Result<()> {
    let mut buf = Vec::with_capacity(8 + text.len());
    buf.extend_from_slice(&mtype.to_ne_bytes());
    buf.extend_from_slice(text);
    // SAFETY: buf is a struct msgbuf: the type, then text.len() bytes.
    int(unsafe {
        libc::syscall(
            libc::SYS_msgsnd,
            id,
            buf.as_ptr(),
            text.len(),
            libc::IPC_NOWAIT,
        )
    })
    .map(drop)
}

/// A copy of the message at position `n` of queue `id` (MSG_COPY: the
/// queue is left as it is): (type, text). E2BIG if its text is longer
/// than `max`.
pub fn msg_copy(id: i32, n: i64, max: usize) -> io::Result<(i64, Vec<u8>)> {
    let mut buf = vec![0u8; 8 + max];
    // SAFETY: buf holds a struct msgbuf with room for max bytes of text,
    // and msgrcv writes at most max of them.
    let got = check(unsafe {
        libc::syscall(
            libc::SYS_msgrcv,
            id,
            buf.as_mut_ptr(),
            max,
            n,
            libc::IPC_NOWAIT | libc::MSG_COPY,
        )
    })? as usize;
    let mtype = i64::from_ne_bytes(buf[..8].try_into().unwrap_or_default());
    buf.drain(..8);
    buf.truncate(got);
    Ok((mtype, buf))
}

/// The pages of segment `id` (`size` bytes) worth dumping: those in
/// memory (mincore) that are not all zero, as runs of (offset, bytes).
/// The segment is attached read-only for the time of the call.
pub fn shm_pages(id: i32, size: u64) -> io::Result<Vec<(u64, Vec<u8>)>> {
    const PAGE: u64 = 4096;
    let len = size.div_ceil(PAGE) * PAGE;
    let at = shmat_anywhere(id, libc::SHM_RDONLY)?;
    let mut resident = vec![0u8; (len / PAGE) as usize];
    // SAFETY: [at, at + len) is the attachment just made; mincore writes
    // one byte per page into `resident`, which has that many.
    let r = check(unsafe { libc::syscall(libc::SYS_mincore, at, len, resident.as_mut_ptr()) });
    let mut runs: Vec<(u64, Vec<u8>)> = Vec::new();
    if r.is_ok() {
        for (i, &inside) in resident.iter().enumerate() {
            if inside & 1 == 0 {
                continue;
            }
            let off = i as u64 * PAGE;
            // SAFETY: the page lies in the attachment, mapped readable; other
            // tasks of the (stopped) tree do not write it meanwhile.
            let page = unsafe { super::read_mem(at + off, PAGE as usize) };
            if page.iter().all(|&b| b == 0) {
                continue;
            }
            match runs.last_mut() {
                Some((o, data)) if *o + data.len() as u64 == off => data.extend_from_slice(&page),
                _ => runs.push((off, page)),
            }
        }
    }
    // SAFETY: the attachment made above; nothing refers to it any more.
    unsafe { shmdt(at) }?;
    r.map(|_| runs)
}

/// Enters the IPC namespace `fd` refers to (`setns`, CLONE_NEWIPC).
pub fn setns_ipc(fd: std::os::fd::RawFd) -> io::Result<()> {
    setns(fd, libc::CLONE_NEWIPC)
}

/// Enters the namespace `fd` refers to, of kind `nstype` (CLONE_NEW*).
pub fn setns(fd: std::os::fd::RawFd, nstype: i32) -> io::Result<()> {
    // SAFETY: setns takes no memory.
    check(unsafe { libc::setns(fd, nstype) } as libc::c_long).map(drop)
}
