//! `crest dump`: checkpoint a running process into CRIU images, without a
//! parasite.
//!
//! The order, and why:
//! 1. Refuse early what crest cannot dump (threads, children), before the
//!    task is even stopped.
//! 2. Seize and stop it (`ptrace`), then check again: it may have changed.
//! 3. Read everything: /proc for most state, ptrace for registers, masks
//!    and queues, one injected syscall at a time for what only the task
//!    can answer (sigactions, altstack, timers, brk, tid address, secbits).
//! 4. Write the pages as they are read, then every other image; fsync.
//! 5. Kill the task (CRIU's default) or, with --leave-running, let it go.
//!
//! Any failure after 2 lets the task go on as it was (the tracee detaches
//! on drop) and removes the image files written so far.

mod mem;
mod proc;
mod ptrace;

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::images::magic;
use crate::images::schema::*;
use crate::images::ImageWriter;
use crate::log::{DEBUG, INFO};
use crate::sys;

use ptrace::Tracee;

#[derive(Debug)]
pub enum DumpError {
    /// The task or /proc said no.
    Proc(String),
    /// State crest does not dump (yet): nothing was written.
    Refused(String),
    Ptrace(String),
    Io(String),
}

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            DumpError::Proc(m) | DumpError::Ptrace(m) | DumpError::Io(m) => write!(f, "{m}"),
            DumpError::Refused(m) => write!(f, "cannot dump: {m}"),
        }
    }
}

/// What `crest dump` was asked to do.
#[derive(Debug, Clone)]
pub struct DumpOptions {
    /// Root of the tree to dump (CRIU's `-t`).
    pub pid: i32,
    pub images_dir: PathBuf,
    /// Let the tree run on afterwards (`-R`) instead of killing it.
    pub leave_running: bool,
    /// The tree belongs to a shell job: record its terminals (`-j`).
    pub shell_job: bool,
}

/// Files written so far, removed unless the dump completes.
struct Written {
    paths: Vec<PathBuf>,
    done: bool,
}

impl Drop for Written {
    fn drop(&mut self) {
        if !self.done {
            for p in &self.paths {
                let _ = fs::remove_file(p);
            }
        }
    }
}

/// Dumps the tree below `pid` into `dir`. `shell_job`: terminals are the
/// caller's (a shell job's) and are recorded, for a restore with
/// --shell-job to hand over its own.
/// `crest dump`: checkpoints the tree below `o.pid` into `o.images_dir`.
pub fn dump(o: &DumpOptions) -> Result<(), DumpError> {
    let (pid, dir, leave_running, shell_job) =
        (o.pid, o.images_dir.as_path(), o.leave_running, o.shell_job);
    let mut clock = crate::log::Stages::new();
    if pid <= 0 {
        return Err(DumpError::Proc(format!("pid {pid}: not a process id")));
    }
    if pid == sys::getpid() {
        return Err(DumpError::Refused("crest cannot dump itself".into()));
    }
    if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
        return Err(DumpError::Proc(format!("pid {pid}: no such process")));
    }
    fs::create_dir_all(dir).map_err(|e| DumpError::Io(format!("{}: {e}", dir.display())))?;
    let mut tree = seize_tree(pid)?;
    let frozen = std::time::Instant::now();
    let freezing_time = clock.start.elapsed().as_micros() as u32;
    clock.stage("seize");
    let mut written = Written {
        paths: Vec::new(),
        done: false,
    };
    let mut acc = TreeDump {
        shell_job,
        ..Default::default()
    };
    for (i, p) in tree.iter_mut().enumerate() {
        dump_process(p, i, dir, &mut acc, &mut written, &mut clock)?;
    }
    write_tree(pid, dir, &acc, &mut written)?;
    clock.stage("images");
    // One syncfs for the whole set and its directory entries, rather than
    // an fsync per file: the tasks are killed only once all of it is safe.
    let d = File::open(dir).map_err(|e| DumpError::Io(format!("{}: {e}", dir.display())))?;
    let sync_start = std::time::Instant::now();
    sys::syncfs(&d).map_err(|e| DumpError::Io(format!("{}: syncfs: {e}", dir.display())))?;
    clock.stage("sync");
    written.done = true;
    // CRIU's dump statistics, beside the (complete) image set.
    let stats = StatsEntry {
        dump: Some(DumpStatsEntry {
            freezing_time,
            frozen_time: frozen.elapsed().as_micros() as u32,
            memwrite_time: sync_start.elapsed().as_micros() as u32,
            ..acc.stats.clone()
        }),
        restore: None,
    };
    let mut w = ImageWriter::new(magic::STATS_MAGIC);
    w.push(&stats);
    if let Err(e) = fs::write(dir.join("stats-dump"), w.into_bytes()) {
        crate::log!(
            crate::log::WARN,
            "{}: {e}",
            dir.join("stats-dump").display()
        );
    }
    let elapsed = clock.start.elapsed();
    if leave_running {
        for p in tree {
            for t in p.threads {
                t.detach()?;
            }
        }
    } else {
        for p in tree {
            ptrace::kill_all(p.threads[0].pid, p.threads);
        }
    }
    crate::log!(INFO, "pid {pid} dumped in {} us", elapsed.as_micros());
    Ok(())
}

/// One process of the dumped tree, stopped.
struct Process {
    ppid: u32,
    /// It was stopped (SIGSTOP, job control) before we seized it.
    stopped: bool,
    threads: Vec<Tracee>,
}

/// A process's state before we stop it: refuses zombies; true if it is
/// stopped by a signal.
fn pre_seize_state(pid: i32, ppid: u32) -> Result<bool, DumpError> {
    let stat = proc::Stat::read(pid)?;
    match stat.state {
        'Z' | 'X' => Err(DumpError::Refused(format!(
            "pid {pid}, a child of {ppid}, is a zombie; crest dumps live tasks only"
        ))),
        'T' => Ok(true),
        _ => Ok(false),
    }
}

/// The tree below `root`, depth first as CRIU lists it: (pid, ppid).
fn tree_order(root: i32) -> Result<Vec<(i32, u32)>, DumpError> {
    let mut out = Vec::new();
    let mut stack = vec![(root, 0u32)];
    while let Some((pid, ppid)) = stack.pop() {
        out.push((pid, ppid));
        let mut kids = proc::children(pid)?;
        kids.reverse();
        stack.extend(kids.into_iter().map(|k| (k, pid as u32)));
    }
    Ok(out)
}

/// Seizes every process of the tree (root first, so it forks no more),
/// again and again until no new child appears.
fn seize_tree(root: i32) -> Result<Vec<Process>, DumpError> {
    let mut procs = vec![Process {
        ppid: 0,
        stopped: pre_seize_state(root, 0)?,
        threads: seize_threads(root)?,
    }];
    loop {
        let order = tree_order(root)?;
        let mut new = false;
        for &(pid, ppid) in &order {
            if procs.iter().any(|p| p.threads[0].pid == pid) {
                continue;
            }
            procs.push(Process {
                ppid,
                stopped: pre_seize_state(pid, ppid)?,
                threads: seize_threads(pid)?,
            });
            new = true;
        }
        if !new {
            procs.sort_by_key(|p| order.iter().position(|&(pid, _)| pid == p.threads[0].pid));
            return Ok(procs);
        }
    }
}

/// What the processes of a tree share in the image set.
#[derive(Default)]
struct TreeDump {
    files: Files,
    seccomp: SeccompEntry,
    pstree: Vec<PstreeEntry>,
    root_ids: Option<TaskKobjIdsEntry>,
    /// Mappings of shared anonymous memory, by process.
    shmem: Vec<mem::ShmemUse>,
    /// Terminals may be dumped (as the caller's, --shell-job).
    shell_job: bool,
    /// What goes to stats-dump.
    stats: DumpStatsEntry,
}

/// The images of the whole tree: files, pipe data, pstree, time
/// namespace, seccomp filters, and the inventory last (an image set
/// without it is not a complete dump).
fn write_tree(
    root: i32,
    dir: &Path,
    acc: &TreeDump,
    written: &mut Written,
) -> Result<(), DumpError> {
    write_image(
        dir,
        "files.img",
        magic::FILES_MAGIC,
        enc(&acc.files.entries),
        written,
    )?;
    // Each shmem object once, in pagemap-shmem-SHMID.img and its own
    // pages file, numbered after the processes' ones.
    let mut shmids: Vec<u64> = acc.shmem.iter().map(|u| u.shmid).collect();
    shmids.sort_unstable();
    shmids.dedup();
    for (n, &shmid) in shmids.iter().enumerate() {
        let pages_id = (acc.pstree.len() + n + 1) as u32;
        let mut pages = create_pages(dir, pages_id, written)?;
        let uses: Vec<&mem::ShmemUse> = acc.shmem.iter().filter(|u| u.shmid == shmid).collect();
        let entries = mem::dump_shmem(shmid, &uses, &mut pages)?;
        write_pagemap(
            dir,
            &format!("pagemap-shmem-{shmid}.img"),
            pages_id,
            &entries,
            written,
        )?;
    }
    let pipes = pipes_data(&acc.files)?;
    if !pipes.is_empty() {
        let mut w = ImageWriter::new(magic::PIPES_DATA_MAGIC);
        for (e, data) in &pipes {
            w.push_raw(e, &[], data);
        }
        write_bytes(dir, "pipes-data.img", w.into_bytes(), written)?;
    }
    if !acc.files.ttys.is_empty() {
        write_image(
            dir,
            "tty-info.img",
            magic::TTY_INFO_MAGIC,
            enc(&acc.files.ttys),
            written,
        )?;
    }
    write_image(
        dir,
        "pstree.img",
        magic::PSTREE_MAGIC,
        enc(&acc.pstree),
        written,
    )?;
    write_image(
        dir,
        "timens-0.img",
        magic::TIMENS_MAGIC,
        enc(&[timens(root)?]),
        written,
    )?;
    write_image(
        dir,
        "seccomp.img",
        magic::SECCOMP_MAGIC,
        enc(std::slice::from_ref(&acc.seccomp)),
        written,
    )?;
    let inventory = InventoryEntry {
        img_version: 2,
        fdinfo_per_id: Some(true),
        root_ids: acc.root_ids.clone(),
        ns_per_id: Some(true),
        lsmtype: Some(Lsmtype::NoLsm as i32),
        ..Default::default()
    };
    write_image(
        dir,
        "inventory.img",
        magic::INVENTORY_MAGIC,
        enc(&[inventory]),
        written,
    )
}

/// Seizes and stops every thread of `pid`, the main one first, until no
/// new thread appears (one may be cloned while the others are stopped).
fn seize_threads(pid: i32) -> Result<Vec<Tracee>, DumpError> {
    let mut threads = vec![Tracee::seize(pid)?];
    loop {
        let mut new = false;
        for tid in proc::threads(pid)? {
            if threads.iter().all(|t| t.pid != tid) {
                threads.push(Tracee::seize(tid)?);
                new = true;
            }
        }
        if !new {
            return Ok(threads);
        }
    }
}

/// files.img entries and their ids.
#[derive(Default)]
struct Files {
    entries: Vec<FileEntry>,
    by_path: HashMap<String, u32>,
    /// One descriptor of every open file met, to find the others sharing it.
    open: Vec<OpenFile>,
    /// Every pipe end met.
    pipes: Vec<PipeEnd>,
    /// tty-info.img records, one per terminal device.
    ttys: Vec<TtyInfoEntry>,
}

struct OpenFile {
    pid: i32,
    fd: i32,
    id: u32,
}

struct PipeEnd {
    pid: i32,
    fd: i32,
    ino: u32,
    flags: u32,
}

impl Files {
    /// Appends the entry `make` builds for the next id; returns the id.
    fn add(&mut self, make: impl FnOnce(u32) -> FileEntry) -> u32 {
        let id = self.entries.len() as u32 + 1;
        self.entries.push(make(id));
        id
    }

    /// A terminal of the caller's (shell job): a TTY entry naming its
    /// device in tty-info.img.
    fn tty(&mut self, name: &str, flags: u32) -> Result<u32, DumpError> {
        use std::os::unix::fs::MetadataExt;
        let meta = fs::metadata(name).map_err(|e| DumpError::Proc(format!("{name}: {e}")))?;
        let rdev = meta.rdev() as u32;
        let info_id = match self.ttys.iter().find(|t| t.rdev == rdev) {
            Some(t) => t.id,
            None => {
                let index = name.strip_prefix("/dev/pts/").and_then(|n| n.parse().ok());
                let id = self.ttys.len() as u32 + 1;
                self.ttys.push(TtyInfoEntry {
                    id,
                    r#type: if index.is_some() {
                        TtyType::Pty
                    } else {
                        TtyType::Vt
                    } as i32,
                    rdev,
                    pty: index.map(|index| TtyPtyEntry { index }),
                    ..Default::default()
                });
                id
            }
        };
        Ok(self.add(|id| FileEntry {
            r#type: FdTypes::Tty as i32,
            id,
            tty: Some(TtyFileEntry {
                id,
                tty_info_id: info_id,
                flags,
                fown: FownEntry::default(),
                regf_id: None,
            }),
            ..Default::default()
        }))
    }

    /// An epoll instance and the descriptors it watches, from its fdinfo:
    /// `tfd: FD events: HEX data: HEX pos:N ino:HEX sdev:HEX` lines.
    fn epoll(&mut self, fdinfo: &str, flags: u32) -> u32 {
        let id = self.entries.len() as u32 + 1;
        let mut tfd = Vec::new();
        for line in fdinfo.lines().filter(|l| l.starts_with("tfd:")) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let after = |key: &str| {
                fields
                    .iter()
                    .position(|w| *w == key)
                    .and_then(|i| fields.get(i + 1))
                    .copied()
            };
            let inline = |key: &str| fields.iter().find_map(|w| w.strip_prefix(key));
            let (Some(fd), Some(events), Some(data)) =
                (after("tfd:"), after("events:"), after("data:"))
            else {
                continue;
            };
            tfd.push(EventpollTfdEntry {
                id,
                tfd: fd.parse().unwrap_or(0),
                events: u32::from_str_radix(events, 16).unwrap_or(0),
                data: u64::from_str_radix(data, 16).unwrap_or(0),
                dev: inline("sdev:").and_then(|v| u32::from_str_radix(v, 16).ok()),
                inode: inline("ino:").and_then(|v| u64::from_str_radix(v, 16).ok()),
                pos: inline("pos:").and_then(|v| v.parse().ok()),
            });
        }
        self.entries.push(FileEntry {
            r#type: FdTypes::Eventpoll as i32,
            id,
            epfd: Some(EventpollFileEntry {
                id,
                flags,
                fown: FownEntry::default(),
                tfd,
            }),
            ..Default::default()
        });
        id
    }

    /// An eventfd, signalfd or timerfd, from its fdinfo text.
    fn anon(&mut self, fdinfo: &str, flags: u32) -> u32 {
        let field = |key: &str| {
            fdinfo
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        // "(sec, nsec)"
        let pair = |key: &str| -> (u64, u64) {
            let v = field(key);
            let mut n = v
                .trim_matches(|c| c == '(' || c == ')')
                .split(',')
                .map(|x| x.trim().parse::<u64>().unwrap_or(0));
            (n.next().unwrap_or(0), n.next().unwrap_or(0))
        };
        let id = self.entries.len() as u32 + 1;
        let mut e = FileEntry {
            id,
            ..Default::default()
        };
        if fdinfo.contains("eventfd-count:") {
            e.r#type = FdTypes::Eventfd as i32;
            e.efd = Some(EventfdFileEntry {
                id,
                flags,
                fown: FownEntry::default(),
                counter: u64::from_str_radix(&field("eventfd-count:"), 16).unwrap_or(0),
            });
        } else if fdinfo.contains("clockid:") {
            let (vsec, vnsec) = pair("it_value:");
            let (isec, insec) = pair("it_interval:");
            e.r#type = FdTypes::Timerfd as i32;
            e.tfd = Some(TimerfdEntry {
                id,
                flags,
                fown: FownEntry::default(),
                clockid: field("clockid:").parse().unwrap_or(0),
                ticks: field("ticks:").parse().unwrap_or(0),
                settime_flags: u32::from_str_radix(&field("settime flags:"), 8).unwrap_or(0),
                vsec,
                vnsec,
                isec,
                insec,
            });
        } else {
            e.r#type = FdTypes::Signalfd as i32;
            e.sgfd = Some(SignalfdEntry {
                id,
                flags,
                fown: FownEntry::default(),
                sigmask: u64::from_str_radix(&field("sigmask:"), 16).unwrap_or(0),
            });
        }
        self.entries.push(e);
        id
    }

    fn pipe(&mut self, pid: i32, fd: i32, ino: u32, flags: u32) -> u32 {
        let id = self.add(|id| FileEntry {
            r#type: FdTypes::Pipe as i32,
            id,
            pipe: Some(PipeEntry {
                id,
                pipe_id: ino,
                flags,
                fown: FownEntry::default(),
            }),
            ..Default::default()
        });
        self.pipes.push(PipeEnd {
            pid,
            fd,
            ino,
            flags,
        });
        id
    }

    fn reg(&mut self, name: &str, flags: u32, pos: u64) -> Result<u32, DumpError> {
        let meta = fs::metadata(name).map_err(|e| DumpError::Proc(format!("{name}: {e}")))?;
        use std::os::unix::fs::MetadataExt;
        let id = self.entries.len() as u32 + 1;
        self.entries.push(FileEntry {
            r#type: FdTypes::Reg as i32,
            id,
            reg: Some(RegFileEntry {
                id,
                flags,
                pos,
                fown: FownEntry::default(),
                name: name.to_string(),
                size: meta.is_file().then_some(meta.len()),
                mode: Some(meta.mode()),
                ..Default::default()
            }),
            ..Default::default()
        });
        Ok(id)
    }

    /// One id per path for mapped files, the exe, cwd and root.
    fn path_id(&mut self, name: &str) -> Result<u32, DumpError> {
        if let Some(&id) = self.by_path.get(name) {
            return Ok(id);
        }
        let id = self.reg(name, 0, 0)?;
        self.by_path.insert(name.to_string(), id);
        Ok(id)
    }
}

/// Encodes records for `write_image`.
fn enc<M: prost::Message>(msgs: &[M]) -> Vec<Vec<u8>> {
    msgs.iter().map(|m| m.encode_to_vec()).collect()
}

fn write_image(
    dir: &Path,
    name: &str,
    magic: u32,
    records: Vec<Vec<u8>>,
    written: &mut Written,
) -> Result<(), DumpError> {
    let mut w = ImageWriter::new(magic);
    for r in &records {
        w.push_encoded(r);
    }
    write_bytes(dir, name, w.into_bytes(), written)
}

/// Creates pages-ID.img, to be removed unless the dump completes.
fn create_pages(dir: &Path, pages_id: u32, written: &mut Written) -> Result<File, DumpError> {
    let path = dir.join(format!("pages-{pages_id}.img"));
    written.paths.push(path.clone());
    File::create(&path).map_err(|e| DumpError::Io(format!("{}: {e}", path.display())))
}

/// A pagemap image: its head naming pages-ID.img, then the entries.
fn write_pagemap(
    dir: &Path,
    name: &str,
    pages_id: u32,
    entries: &[PagemapEntry],
    written: &mut Written,
) -> Result<(), DumpError> {
    let mut records = enc(&[PagemapHead { pages_id }]);
    records.extend(enc(entries));
    write_image(dir, name, magic::PAGEMAP_MAGIC, records, written)
}

/// Writes one image file of the set (synced with the others at the end).
fn write_bytes(
    dir: &Path,
    name: &str,
    bytes: Vec<u8>,
    written: &mut Written,
) -> Result<(), DumpError> {
    let path = dir.join(name);
    written.paths.push(path.clone());
    let f = File::create(&path).map_err(|e| DumpError::Io(format!("{}: {e}", path.display())))?;
    f.write_all_at(&bytes, 0)
        .map_err(|e| DumpError::Io(format!("{}: {e}", path.display())))
}

use std::os::unix::fs::FileExt;

/// Dumps process number `index` of the tree (its threads stopped) into
/// its own images, adding what the tree shares to `acc`.
fn dump_process(
    process: &mut Process,
    index: usize,
    dir: &Path,
    acc: &mut TreeDump,
    written: &mut Written,
    clock: &mut crate::log::Stages,
) -> Result<(), DumpError> {
    let (ppid, stopped) = (process.ppid, process.stopped);
    let threads = &mut process.threads;
    let pid = threads[0].pid;
    let files = &mut acc.files;
    let stat = proc::Stat::read(pid)?;
    if stat.state == 'Z' || stat.state == 'X' {
        return Err(DumpError::Proc(format!(
            "pid {pid} is exiting (state {})",
            stat.state
        )));
    }
    let status = proc::Status::read(pid)?;
    let seccomp = seccomp_filters(pid, status.get("Seccomp"))?;
    let maps = proc::maps(pid)?;
    let vdso = maps
        .iter()
        .find(|m| m.path == "[vdso]")
        .map(|m| (m.start, m.end))
        .ok_or_else(|| DumpError::Refused(format!("pid {pid} has no vdso")))?;

    // Files: exe, cwd, root, mapped files, then descriptors.
    let exe = proc::readlink(pid, "exe")?;
    if exe.ends_with(" (deleted)") {
        return Err(DumpError::Refused(format!(
            "pid {pid}: its executable {exe} was deleted"
        )));
    }
    let exe_id = files.path_id(&exe)?;
    let cwd_id = files.path_id(&proc::readlink(pid, "cwd")?)?;
    // The root gets its own entry, even when it is also the cwd, as CRIU
    // writes it.
    let root_id = files.reg(&proc::readlink(pid, "root")?, 0, 0)?;
    let mut map_err = None;
    let vmas = mem::vmas(pid, &maps, &mut |p| match files.path_id(p) {
        Ok(id) => id,
        Err(e) => {
            map_err = Some(e);
            0
        }
    })?;
    if let Some(e) = map_err {
        return Err(e);
    }
    let fdinfo = descriptors(pid, files, acc.shell_job)?;
    clock.stage("proc");

    // What only the task knows, one injected syscall at a time, through a
    // scratch page mapped in the task (and unmapped again).
    let scratch = threads[0].syscall(
        vdso,
        libc::SYS_mmap,
        [
            0,
            4096,
            (libc::PROT_READ | libc::PROT_WRITE) as u64,
            (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64,
            u64::MAX,
            0,
        ],
    )?;
    if scratch < 0 {
        return Err(DumpError::Ptrace(format!(
            "pid {pid}: injected mmap failed: errno {}",
            -scratch
        )));
    }
    let scratch = scratch as u64;
    let asked = ask_process(&mut threads[0], vdso, scratch, &status).and_then(|p| {
        let mut cores = Vec::with_capacity(threads.len());
        for t in threads.iter_mut() {
            cores.push(thread_core(t, pid, vdso, scratch, &seccomp)?);
        }
        Ok((p, cores))
    });
    let _ = threads[0].syscall(vdso, libc::SYS_munmap, [scratch, 4096, 0, 0, 0, 0]);
    let (asked, mut cores) = asked?;
    // This process's filters join the tree's seccomp image after those of
    // the processes before it; its threads point at the moved top.
    let base = acc.seccomp.seccomp_filters.len() as u32;
    for f in &seccomp.seccomp_filters {
        let mut f = f.clone();
        f.prev = f.prev.map(|p| p + base);
        acc.seccomp.seccomp_filters.push(f);
    }
    for c in &mut cores {
        if let Some(tc) = c.thread_core.as_mut() {
            tc.seccomp_filter = tc.seccomp_filter.map(|i| i + base);
        }
    }
    clock.stage("injected syscalls");

    let shared = queued(pid, true)?;
    let mut rlimits = Vec::new();
    for res in 0..16 {
        let (cur, max) = sys::prlimit_of(pid, res)
            .map_err(|e| DumpError::Proc(format!("pid {pid}: prlimit {res}: {e}")))?;
        rlimits.push(RlimitEntry { cur, max });
    }
    let comm = proc::read(pid, "comm")?.trim_end().to_string();
    let personality = u32::from_str_radix(proc::read(pid, "personality")?.trim(), 16).unwrap_or(0);
    // The process-wide part lives in the main thread's core.
    cores[0].tc = Some(TaskCoreEntry {
        task_state: if stopped {
            TaskState::Stopped
        } else {
            TaskState::Alive
        } as u32,
        exit_code: 0,
        personality,
        flags: stat.field(9) as u32,
        blk_sigset: cores[0]
            .thread_core
            .as_ref()
            .and_then(|t| t.blk_sigset)
            .unwrap_or(0),
        comm,
        timers: Some(TaskTimersEntry {
            real: asked.itimers[0].clone(),
            virt: asked.itimers[1].clone(),
            prof: asked.itimers[2].clone(),
            posix: asked.posix,
        }),
        rlimits: Some(TaskRlimitsEntry { rlimits }),
        signals_s: Some(SignalQueueEntry { signals: shared }),
        sigactions: asked.sigactions,
        loginuid: proc::read(pid, "loginuid")
            .ok()
            .and_then(|s| s.trim().parse().ok()),
        oom_score_adj: proc::read(pid, "oom_score_adj")
            .ok()
            .and_then(|s| s.trim().parse().ok()),
        ..Default::default()
    });
    let mm = MmEntry {
        mm_start_code: stat.field(26),
        mm_end_code: stat.field(27),
        mm_start_data: stat.field(45),
        mm_end_data: stat.field(46),
        mm_start_stack: stat.field(28),
        mm_start_brk: stat.field(47),
        mm_brk: asked.brk,
        mm_arg_start: stat.field(48),
        mm_arg_end: stat.field(49),
        mm_env_start: stat.field(50),
        mm_env_end: stat.field(51),
        exe_file_id: exe_id,
        mm_saved_auxv: auxv(pid)?,
        vmas: vmas.clone(),
        dumpable: None,
        aios: Vec::new(),
        thp_disabled: None,
    };

    // Pages first (the big one), then the rest.
    let pages_id = index as u32 + 1;
    let mut pages = create_pages(dir, pages_id, written)?;
    let mem_start = std::time::Instant::now();
    let (entries, npages) = mem::dump_pages(pid, &vmas, &mut pages)?;
    acc.stats.memdump_time += mem_start.elapsed().as_micros() as u32;
    acc.stats.pages_written += npages;
    acc.stats.pages_scanned += vmas
        .iter()
        .filter(|v| v.status & crate::images::flags::VMA_AREA_VSYSCALL == 0)
        .map(|v| (v.end - v.start) / crate::images::flags::PAGE)
        .sum::<u64>();
    crate::log!(
        DEBUG,
        "pid {pid}: {npages} pages in {} pagemap entries",
        entries.len()
    );
    clock.stage("pages");

    write_pagemap(
        dir,
        &format!("pagemap-{pid}.img"),
        pages_id,
        &entries,
        written,
    )?;
    for (t, core) in threads.iter().zip(&cores) {
        write_image(
            dir,
            &format!("core-{}.img", t.pid),
            magic::CORE_MAGIC,
            enc(std::slice::from_ref(core)),
            written,
        )?;
    }
    write_image(
        dir,
        &format!("mm-{pid}.img"),
        magic::MM_MAGIC,
        enc(&[mm]),
        written,
    )?;
    let fs_entry = FsEntry {
        cwd_id,
        root_id,
        umask: Some(status.octal("Umask")),
    };
    write_image(
        dir,
        &format!("fs-{pid}.img"),
        magic::FS_MAGIC,
        enc(&[fs_entry]),
        written,
    )?;
    acc.shmem.extend(
        vmas.iter()
            .filter(|v| v.status & crate::images::flags::VMA_ANON_SHARED != 0)
            .map(|v| mem::ShmemUse {
                shmid: v.shmid,
                pid,
                start: v.start,
                end: v.end,
                pgoff: v.pgoff,
            }),
    );
    let (root_ids, task_ids) = namespace_ids(pid, index as u32 + 2);
    acc.root_ids = Some(root_ids);
    let files_id = task_ids.files_id;
    write_image(
        dir,
        &format!("ids-{pid}.img"),
        magic::IDS_MAGIC,
        enc(&[task_ids]),
        written,
    )?;
    write_image(
        dir,
        &format!("fdinfo-{files_id}.img"),
        magic::FDINFO_MAGIC,
        enc(&fdinfo),
        written,
    )?;
    acc.pstree.push(PstreeEntry {
        pid: pid as u32,
        ppid,
        pgid: stat.field(5) as u32,
        sid: stat.field(6) as u32,
        threads: threads.iter().map(|t| t.pid as u32).collect(),
    });
    Ok(())
}

/// The task's seccomp filters, as CRIU writes them: oldest first, each
/// newer one pointing at the one before it with `prev`.
fn seccomp_filters(pid: i32, mode: &str) -> Result<SeccompEntry, DumpError> {
    match mode {
        "" | "0" => return Ok(SeccompEntry::default()),
        "2" => {}
        m => {
            return Err(DumpError::Refused(format!(
                "pid {pid} runs in seccomp mode {m}; only filter mode (2) is dumped"
            )))
        }
    }
    let mut newest_first = Vec::new();
    let fail =
        |e: std::io::Error| DumpError::Ptrace(format!("pid {pid}: PTRACE_SECCOMP_GET_FILTER: {e}"));
    while let Some(bpf) =
        sys::ptrace_seccomp_filter(pid, newest_first.len() as u64).map_err(fail)?
    {
        let flags = sys::ptrace_seccomp_flags(pid, newest_first.len() as u64).map_err(fail)?;
        newest_first.push((bpf, flags));
    }
    let filters = newest_first
        .into_iter()
        .rev()
        .enumerate()
        .map(|(i, (filter, flags))| SeccompFilter {
            filter,
            prev: i.checked_sub(1).map(|p| p as u32),
            flags: (flags != 0).then_some(flags),
        })
        .collect();
    Ok(SeccompEntry {
        seccomp_filters: filters,
    })
}

/// Answers from the task itself about the whole process.
struct Asked {
    sigactions: Vec<SaEntry>,
    itimers: [ItimerEntry; 3],
    brk: u64,
    posix: Vec<PosixTimerEntry>,
}

fn read_words<const N: usize>(pid: i32, at: u64) -> Result<[u64; N], DumpError> {
    let mut b = vec![0u8; N * 8];
    sys::process_vm_readv(pid, &mut b, &[(at, (N * 8) as u64)])
        .map_err(|e| DumpError::Proc(format!("pid {pid}: reading the scratch page: {e}")))?;
    let mut w = [0u64; N];
    for (i, c) in b.chunks_exact(8).enumerate() {
        w[i] = u64::from_le_bytes(c.try_into().unwrap_or_default());
    }
    Ok(w)
}

fn injected_failure(tid: i32, what: &str, r: i64) -> DumpError {
    DumpError::Ptrace(format!(
        "pid {tid}: injected {what} failed: {}",
        std::io::Error::from_raw_os_error(-r as i32)
    ))
}

/// Signal handlers, interval timers, brk and POSIX timers, asked through
/// the main thread.
fn ask_process(
    t: &mut Tracee,
    vdso: (u64, u64),
    scratch: u64,
    status: &proc::Status,
) -> Result<Asked, DumpError> {
    let pid = t.pid;
    // Only handlers that are not SIG_DFL need asking: /proc says which.
    let interesting = status.hex("SigCgt") | status.hex("SigIgn");
    let mut sigactions = Vec::new();
    for sig in (1..=64u64).filter(|&s| s != 9 && s != 19) {
        if interesting & (1 << (sig - 1)) == 0 {
            sigactions.push(SaEntry::default());
            continue;
        }
        let r = t.syscall(vdso, libc::SYS_rt_sigaction, [sig, 0, scratch, 8, 0, 0])?;
        if r < 0 {
            return Err(injected_failure(pid, "rt_sigaction", r));
        }
        let [handler, flags, restorer, mask] = read_words::<4>(pid, scratch)?;
        sigactions.push(SaEntry {
            sigaction: handler,
            flags,
            restorer,
            mask,
            compat_sigaction: Some(false),
            mask_extended: None,
        });
    }
    let mut itimers: [ItimerEntry; 3] = Default::default();
    for (which, it) in itimers.iter_mut().enumerate() {
        let r = t.syscall(
            vdso,
            libc::SYS_getitimer,
            [which as u64, scratch, 0, 0, 0, 0],
        )?;
        if r < 0 {
            return Err(injected_failure(pid, "getitimer", r));
        }
        let [isec, iusec, vsec, vusec] = read_words::<4>(pid, scratch)?;
        *it = ItimerEntry {
            isec,
            iusec,
            vsec,
            vusec,
        };
    }
    let brk = t.syscall(vdso, libc::SYS_brk, [0; 6])? as u64;
    let mut posix = proc::posix_timers(pid)?;
    for p in &mut posix {
        let id = u64::from(p.it_id);
        let r = t.syscall(vdso, libc::SYS_timer_gettime, [id, scratch, 0, 0, 0, 0])?;
        if r < 0 {
            return Err(injected_failure(pid, "timer_gettime", r));
        }
        [p.isec, p.insec, p.vsec, p.vnsec] = read_words::<4>(pid, scratch)?;
        let r = t.syscall(vdso, libc::SYS_timer_getoverrun, [id, 0, 0, 0, 0, 0])?;
        p.overrun = r.max(0) as u32;
    }
    Ok(Asked {
        sigactions,
        itimers,
        brk,
        posix,
    })
}

/// One thread's core image: registers, FPU state, blocked mask, pending
/// signals, credentials, name, altstack, clear_child_tid, robust list and
/// rseq; seccomp filters must be the process's (`seccomp`, the main
/// thread's).
fn thread_core(
    t: &mut Tracee,
    pid: i32,
    vdso: (u64, u64),
    scratch: u64,
    seccomp: &SeccompEntry,
) -> Result<CoreEntry, DumpError> {
    let tid = t.pid;
    let perr = |what: &str, e: std::io::Error| {
        DumpError::Ptrace(format!("pid {pid} thread {tid}: {what}: {e}"))
    };
    let regs = t.image_regs();
    let mut xsave = vec![0u8; 64 * 1024];
    let xlen = sys::ptrace_getregset(tid, 0x202, &mut xsave)
        .map_err(|e| perr("PTRACE_GETREGSET NT_X86_XSTATE", e))?;
    let blocked = sys::ptrace_getsigmask(tid).map_err(|e| perr("PTRACE_GETSIGMASK", e))?;
    let private = queued(tid, false)?;

    let r = t.syscall(vdso, libc::SYS_sigaltstack, [0, scratch, 0, 0, 0, 0])?;
    if r < 0 {
        return Err(injected_failure(tid, "sigaltstack", r));
    }
    let [ss_sp, ss_flags, ss_size] = read_words::<3>(pid, scratch)?;
    const PR_GET_TID_ADDRESS: u64 = 40;
    let r = t.syscall(
        vdso,
        libc::SYS_prctl,
        [PR_GET_TID_ADDRESS, scratch, 0, 0, 0, 0],
    )?;
    let tid_address = if r < 0 {
        0
    } else {
        read_words::<1>(pid, scratch)?[0]
    };
    let secbits = t.syscall(
        vdso,
        libc::SYS_prctl,
        [libc::PR_GET_SECUREBITS as u64, 0, 0, 0, 0, 0],
    )?;

    let task = format!("task/{tid}");
    let status = proc::Status::read_at(pid, &format!("{task}/status"))?;
    let stat = proc::Stat::read_at(pid, &format!("{task}/stat"))?;
    if tid != pid && seccomp_filters(tid, status.get("Seccomp"))? != *seccomp {
        return Err(DumpError::Refused(format!(
            "pid {pid}: thread {tid} runs under other seccomp filters than the main thread"
        )));
    }
    let caps = |key: &str| {
        let v = status.hex(key);
        vec![v as u32, (v >> 32) as u32]
    };
    let (uids, gids) = (status.ids("Uid"), status.ids("Gid"));
    let id = |v: &Vec<u32>, i: usize| v.get(i).copied().unwrap_or(0);
    let creds = CredsEntry {
        uid: id(&uids, 0),
        euid: id(&uids, 1),
        suid: id(&uids, 2),
        fsuid: id(&uids, 3),
        gid: id(&gids, 0),
        egid: id(&gids, 1),
        sgid: id(&gids, 2),
        fsgid: id(&gids, 3),
        cap_inh: caps("CapInh"),
        cap_prm: caps("CapPrm"),
        cap_eff: caps("CapEff"),
        cap_bnd: caps("CapBnd"),
        cap_amb: caps("CapAmb"),
        secbits: secbits.max(0) as u32,
        groups: status.ids("Groups"),
        no_new_privs: Some(status.get("NoNewPrivs").parse().unwrap_or(0)),
        ..Default::default()
    };
    let rseq = sys::ptrace_rseq_config(tid).ok().filter(|r| r.0 != 0);
    let (robust, robust_len) = sys::get_robust_list(tid).unwrap_or((0, 0));
    Ok(CoreEntry {
        mtype: core_entry::March::X8664 as i32,
        thread_info: Some(ThreadInfoX86 {
            clear_tid_addr: tid_address,
            gpregs: gpregs(&regs),
            fpregs: fpregs(&xsave[..xlen]),
            tls: Vec::new(),
        }),
        tc: None,
        ids: None,
        thread_core: Some(ThreadCoreEntry {
            futex_rla: robust,
            futex_rla_len: robust_len as u32,
            sched_nice: Some(stat.field(19) as i32),
            sched_policy: Some(stat.field(41) as u32),
            blk_sigset: Some(blocked),
            sas: Some(ThreadSasEntry {
                ss_sp,
                ss_size,
                ss_flags: ss_flags as u32,
            }),
            signals_p: Some(SignalQueueEntry { signals: private }),
            creds: Some(creds),
            comm: Some(
                proc::read(pid, &format!("{task}/comm"))?
                    .trim_end()
                    .to_string(),
            ),
            seccomp_mode: (!seccomp.seccomp_filters.is_empty())
                .then_some(SeccompMode::Filter as i32),
            seccomp_filter: seccomp
                .seccomp_filters
                .len()
                .checked_sub(1)
                .map(|i| i as u32),
            rseq_entry: rseq.map(|(ptr, size, sig)| RseqEntry {
                rseq_abi_pointer: ptr,
                rseq_abi_size: size,
                signature: sig,
                rseq_cs_pointer: None,
            }),
            ..Default::default()
        }),
    })
}

/// Queued signals with their siginfo.
fn queued(pid: i32, shared: bool) -> Result<Vec<SiginfoEntry>, DumpError> {
    let mut out = Vec::new();
    let mut buf = [[0u8; 128]; 32];
    loop {
        let n = sys::ptrace_peeksiginfo(pid, out.len() as u64, shared, &mut buf)
            .map_err(|e| DumpError::Ptrace(format!("pid {pid}: PTRACE_PEEKSIGINFO: {e}")))?;
        out.extend(buf[..n].iter().map(|s| SiginfoEntry {
            siginfo: s.to_vec(),
        }));
        if n < buf.len() {
            return Ok(out);
        }
    }
}

fn auxv(pid: i32) -> Result<Vec<u64>, DumpError> {
    let raw = fs::read(format!("/proc/{pid}/auxv"))
        .map_err(|e| DumpError::Proc(format!("/proc/{pid}/auxv: {e}")))?;
    let mut v: Vec<u64> = raw
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect();
    // Keep up to and including the AT_NULL pair.
    if let Some(end) = v.chunks(2).position(|p| p[0] == 0) {
        v.truncate(end * 2 + 2);
    }
    Ok(v)
}

/// Descriptors: regular files and devices reopenable by path; anything
/// else is refused, naming the descriptor.
fn descriptors(
    pid: i32,
    files: &mut Files,
    shell_job: bool,
) -> Result<Vec<FdinfoEntry>, DumpError> {
    let fds = proc::fds(pid)?;
    let mut out: Vec<FdinfoEntry> = Vec::new();
    for fd in fds {
        let link = proc::readlink(pid, &format!("fd/{fd}"))?;
        let (pos, flags) = proc::fdinfo(pid, fd)?;
        let cloexec = flags & libc::O_CLOEXEC as u32 != 0;
        let pipe = link
            .strip_prefix("pipe:[")
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|ino| ino.parse::<u32>().ok());
        let tty =
            link.starts_with("/dev/pts/") || link.starts_with("/dev/tty") || link == "/dev/console";
        let anon = match link.as_str() {
            "anon_inode:[eventfd]" => Some(FdTypes::Eventfd),
            "anon_inode:[signalfd]" => Some(FdTypes::Signalfd),
            "anon_inode:[timerfd]" => Some(FdTypes::Timerfd),
            "anon_inode:[eventpoll]" => Some(FdTypes::Eventpoll),
            _ => None,
        };
        let kind = if pipe.is_some() || anon.is_some() || (tty && shell_job) {
            None
        } else if link.starts_with("socket:") {
            Some("a socket")
        } else if link.starts_with("anon_inode:") {
            Some("an anonymous inode (epoll, io_uring, inotify, ...)")
        } else if link.ends_with(" (deleted)") {
            Some("a deleted file")
        } else if tty {
            Some("a terminal (dump with --shell-job to hand it over to the restoring shell)")
        } else if !link.starts_with('/') {
            Some("not a file")
        } else {
            None
        };
        if let Some(kind) = kind {
            return Err(DumpError::Refused(format!(
                "pid {pid}: fd {fd} is {kind} ({link}), which crest does not dump yet"
            )));
        }
        // Descriptors sharing one open file (dup'ed, or inherited across
        // fork in the tree) share one files.img entry.
        let shared = files
            .open
            .iter()
            .find(|o| sys::same_file(o.pid, o.fd, pid, fd))
            .map(|o| o.id);
        let status_flags = flags & !(libc::O_CLOEXEC as u32);
        let id = match (shared, pipe) {
            (Some(id), _) => id,
            (None, Some(ino)) => files.pipe(pid, fd, ino, status_flags),
            (None, None) if tty => files.tty(&link, status_flags)?,
            (None, None) if anon == Some(FdTypes::Eventpoll) => {
                files.epoll(&proc::read(pid, &format!("fdinfo/{fd}"))?, status_flags)
            }
            (None, None) if anon.is_some() => {
                files.anon(&proc::read(pid, &format!("fdinfo/{fd}"))?, status_flags)
            }
            (None, None) => files.reg(&link, status_flags, pos)?,
        };
        if shared.is_none() {
            files.open.push(OpenFile { pid, fd, id });
        }
        out.push(FdinfoEntry {
            id,
            flags: if cloexec { libc::FD_CLOEXEC as u32 } else { 0 },
            r#type: if pipe.is_some() {
                FdTypes::Pipe
            } else {
                FdTypes::Reg
            } as i32,
            fd: fd as u32,
            ..Default::default()
        });
    }
    Ok(out)
}

/// The bytes buffered in every pipe of the tree, read without consuming
/// them: a read end is taken from a task that holds one (pidfd_getfd) and
/// `tee`d into a pipe of ours.
fn pipes_data(files: &Files) -> Result<Vec<(PipeDataEntry, Vec<u8>)>, DumpError> {
    use std::os::fd::AsRawFd;
    let mut records = Vec::new();
    let mut done: Vec<u32> = Vec::new();
    for p in &files.pipes {
        if done.contains(&p.ino) || p.flags & libc::O_ACCMODE as u32 != libc::O_RDONLY as u32 {
            continue;
        }
        done.push(p.ino);
        let fail = |what: &str, e: std::io::Error| {
            DumpError::Proc(format!(
                "pid {} fd {}: pipe {}: {what}: {e}",
                p.pid, p.fd, p.ino
            ))
        };
        let theirs = sys::steal_fd(p.pid, p.fd).map_err(|e| fail("pidfd_getfd", e))?;
        let size = sys::get_pipe_size(theirs.as_raw_fd()).map_err(|e| fail("F_GETPIPE_SZ", e))?;
        let (r, w) = sys::pipe().map_err(|e| fail("pipe", e))?;
        let mut data = Vec::new();
        let copied = sys::set_pipe_size(w, size)
            .and_then(|_| sys::tee(theirs.as_raw_fd(), w, size as usize));
        if let Ok(n) = copied {
            data.resize(n, 0);
            let mut got = 0;
            while got < n {
                match sys::read(r, &mut data[got..]) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => got += k,
                }
            }
            data.truncate(got);
        }
        sys::close(r);
        sys::close(w);
        copied.map_err(|e| fail("tee", e))?;
        let entry = PipeDataEntry {
            pipe_id: p.ino,
            bytes: data.len() as u32,
            size: Some(size),
        };
        records.push((entry, data));
    }
    Ok(records)
}

fn gpregs(r: &libc::user_regs_struct) -> UserX86RegsEntry {
    UserX86RegsEntry {
        r15: r.r15,
        r14: r.r14,
        r13: r.r13,
        r12: r.r12,
        bp: r.rbp,
        bx: r.rbx,
        r11: r.r11,
        r10: r.r10,
        r9: r.r9,
        r8: r.r8,
        ax: r.rax,
        cx: r.rcx,
        dx: r.rdx,
        si: r.rsi,
        di: r.rdi,
        orig_ax: r.orig_rax,
        ip: r.rip,
        cs: r.cs,
        flags: r.eflags,
        sp: r.rsp,
        ss: r.ss,
        fs_base: r.fs_base,
        gs_base: r.gs_base,
        ds: r.ds,
        es: r.es,
        fs: r.fs,
        gs: r.gs,
        mode: Some(UserX86RegsMode::Native as i32),
    }
}

fn u32s(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect()
}

fn u64s(b: &[u8]) -> Vec<u64> {
    b.chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect()
}

/// The fxsave part and the extended features CRIU stores, from an
/// NT_X86_XSTATE buffer (standard xsave layout).
fn fpregs(x: &[u8]) -> UserX86FpregsEntry {
    let u16at = |o: usize| u16::from_le_bytes([x[o], x[o + 1]]) as u32;
    let u32at = |o: usize| u32::from_le_bytes(x[o..o + 4].try_into().unwrap_or_default());
    let u64at = |o: usize| u64::from_le_bytes(x[o..o + 8].try_into().unwrap_or_default());
    let mut fp = UserX86FpregsEntry {
        cwd: u16at(0),
        swd: u16at(2),
        twd: u16at(4),
        fop: u16at(6),
        rip: u64at(8),
        rdp: u64at(16),
        mxcsr: u32at(24),
        mxcsr_mask: u32at(28),
        st_space: u32s(&x[32..160]),
        xmm_space: u32s(&x[160..416]),
        padding: u32s(&x[416..512]),
        xsave: None,
    };
    if x.len() > 576 {
        let bv = u64at(512);
        let feature = |nr: u32| -> &[u8] {
            if bv & (1 << nr) == 0 {
                return &[];
            }
            let (off, len) = crate::kerndat::xsave_feature(nr);
            x.get(off as usize..(off + len) as usize).unwrap_or(&[])
        };
        fp.xsave = Some(UserX86XsaveEntry {
            xstate_bv: bv,
            ymmh_space: u32s(feature(2)),
            opmask_reg: u64s(feature(5)),
            zmm_upper: u64s(feature(6)),
            hi16_zmm: u64s(feature(7)),
            pkru: u32s(feature(9)),
            ..Default::default()
        });
    }
    fp
}

/// Namespace ids as CRIU numbers them: small integers, one per distinct
/// namespace, shared by crest's own (the inventory's root_ids) and the
/// task's.
fn namespace_ids(pid: i32, own: u32) -> (TaskKobjIdsEntry, TaskKobjIdsEntry) {
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

/// The task's monotonic and boot-time clocks now, for the restore's time
/// namespace: ours plus the task's time-namespace offsets.
fn timens(pid: i32) -> Result<TimensEntry, DumpError> {
    let offsets = proc::read(pid, "timens_offsets").unwrap_or_default();
    let offset = |name: &str| -> i128 {
        offsets
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| {
                let mut f = l.split_whitespace().skip(1);
                let s: i128 = f.next()?.parse().ok()?;
                let ns: i128 = f.next()?.parse().ok()?;
                Some(s * 1_000_000_000 + ns)
            })
            .unwrap_or(0)
    };
    let clock = |c, name: &str| -> Result<Timespec, DumpError> {
        let (s, ns) =
            sys::clock_gettime(c).map_err(|e| DumpError::Io(format!("clock_gettime: {e}")))?;
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
