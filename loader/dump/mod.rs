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

use crate::cli::Opts;
use crate::images::magic;
use crate::images::proto::*;
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

/// `crest dump`.
pub fn run(opts: &Opts) -> Result<i32, String> {
    let pid = opts.tree.ok_or("dump: name the process with -t PID")?;
    let dir = opts
        .images_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    dump(pid, &dir, opts.leave_running).map_err(|e| e.to_string())?;
    Ok(0)
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

fn refuse_tree(pid: i32) -> Result<(), DumpError> {
    let children = proc::children(pid)?;
    if !children.is_empty() {
        return Err(DumpError::Refused(format!(
            "pid {pid} has child processes {children:?}; crest dumps single processes so far"
        )));
    }
    Ok(())
}

pub fn dump(pid: i32, dir: &Path, leave_running: bool) -> Result<(), DumpError> {
    let mut clock = crate::log::Stages::new();
    if pid <= 0 {
        return Err(DumpError::Proc(format!("pid {pid}: not a process id")));
    }
    if pid == sys::getpid() {
        return Err(DumpError::Refused("crest cannot dump itself".into()));
    }
    refuse_tree(pid)?;
    fs::create_dir_all(dir).map_err(|e| DumpError::Io(format!("{}: {e}", dir.display())))?;
    let mut threads = seize_threads(pid)?;
    refuse_tree(pid)?;
    clock.stage("seize");
    let mut written = Written {
        paths: Vec::new(),
        done: false,
    };
    collect_and_write(&mut threads, dir, &mut written, &mut clock)?;
    written.done = true;
    let elapsed = clock.start.elapsed();
    if leave_running {
        for t in threads {
            t.detach()?;
        }
    } else {
        ptrace::kill_all(pid, threads);
    }
    crate::log!(INFO, "pid {pid} dumped in {} us", elapsed.as_micros());
    Ok(())
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
}

impl Files {
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
    let path = dir.join(name);
    written.paths.push(path.clone());
    let f = File::create(&path).map_err(|e| DumpError::Io(format!("{}: {e}", path.display())))?;
    f.write_all_at(&w.into_bytes(), 0)
        .map_err(|e| DumpError::Io(format!("{}: {e}", path.display())))
}

use std::os::unix::fs::FileExt;

fn collect_and_write(
    threads: &mut [Tracee],
    dir: &Path,
    written: &mut Written,
    clock: &mut crate::log::Stages,
) -> Result<(), DumpError> {
    let pid = threads[0].pid;
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
    let mut files = Files::default();
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
    let fdinfo = descriptors(pid, &mut files)?;
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
        task_state: TaskState::Alive as u32,
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
    let pages_path = dir.join("pages-1.img");
    written.paths.push(pages_path.clone());
    let mut pages = File::create(&pages_path)
        .map_err(|e| DumpError::Io(format!("{}: {e}", pages_path.display())))?;
    let (entries, npages) = mem::dump_pages(pid, &vmas, &mut pages)?;
    crate::log!(
        DEBUG,
        "pid {pid}: {npages} pages in {} pagemap entries",
        entries.len()
    );
    clock.stage("pages");

    let mut pm = enc(&[PagemapHead { pages_id: 1 }]);
    pm.extend(enc(&entries));
    write_image(
        dir,
        &format!("pagemap-{pid}.img"),
        magic::PAGEMAP_MAGIC,
        pm,
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
    let (root_ids, task_ids) = namespace_ids(pid);
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
        "files.img",
        magic::FILES_MAGIC,
        enc(&files.entries),
        written,
    )?;
    write_image(
        dir,
        &format!("fdinfo-{files_id}.img"),
        magic::FDINFO_MAGIC,
        enc(&fdinfo),
        written,
    )?;
    let pstree = PstreeEntry {
        pid: pid as u32,
        ppid: 0,
        pgid: stat.field(5) as u32,
        sid: stat.field(6) as u32,
        threads: threads.iter().map(|t| t.pid as u32).collect(),
    };
    write_image(
        dir,
        "pstree.img",
        magic::PSTREE_MAGIC,
        enc(&[pstree]),
        written,
    )?;
    write_image(
        dir,
        "timens-0.img",
        magic::TIMENS_MAGIC,
        enc(&[timens(pid)?]),
        written,
    )?;
    write_image(
        dir,
        "seccomp.img",
        magic::SECCOMP_MAGIC,
        enc(&[seccomp]),
        written,
    )?;
    let inventory = InventoryEntry {
        img_version: 2,
        fdinfo_per_id: Some(true),
        root_ids: Some(root_ids),
        ns_per_id: Some(true),
        lsmtype: Some(Lsmtype::NoLsm as i32),
        ..Default::default()
    };
    // The inventory last: an image set without it is not a complete dump.
    write_image(
        dir,
        "inventory.img",
        magic::INVENTORY_MAGIC,
        enc(&[inventory]),
        written,
    )?;
    clock.stage("images");
    // One syncfs for the whole set and its directory entries, rather than
    // an fsync per file: the task is killed only once all of it is safe.
    let d = File::open(dir).map_err(|e| DumpError::Io(format!("{}: {e}", dir.display())))?;
    sys::syncfs(&d).map_err(|e| DumpError::Io(format!("{}: syncfs: {e}", dir.display())))?;
    clock.stage("sync");
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
fn descriptors(pid: i32, files: &mut Files) -> Result<Vec<FdinfoEntry>, DumpError> {
    let fds = proc::fds(pid)?;
    let mut out: Vec<FdinfoEntry> = Vec::new();
    let mut first_of: Vec<(i32, u32)> = Vec::new();
    for fd in fds {
        let link = proc::readlink(pid, &format!("fd/{fd}"))?;
        let (pos, flags) = proc::fdinfo(pid, fd)?;
        let cloexec = flags & libc::O_CLOEXEC as u32 != 0;
        let kind = if link.starts_with("pipe:") {
            Some("a pipe")
        } else if link.starts_with("socket:") {
            Some("a socket")
        } else if link.starts_with("anon_inode:") {
            Some("an anonymous inode (eventfd, epoll, io_uring, ...)")
        } else if link.ends_with(" (deleted)") {
            Some("a deleted file")
        } else if link.starts_with("/dev/pts/")
            || link.starts_with("/dev/tty")
            || link == "/dev/console"
        {
            Some("a terminal")
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
        // Descriptors sharing one open file share one files.img entry.
        let shared = first_of
            .iter()
            .find(|&&(other, _)| sys::same_file(pid, other, fd))
            .map(|&(_, id)| id);
        let id = match shared {
            Some(id) => id,
            None => {
                let id = files.reg(&link, flags & !(libc::O_CLOEXEC as u32), pos)?;
                first_of.push((fd, id));
                id
            }
        };
        out.push(FdinfoEntry {
            id,
            flags: if cloexec { libc::FD_CLOEXEC as u32 } else { 0 },
            r#type: FdTypes::Reg as i32,
            fd: fd as u32,
            ..Default::default()
        });
    }
    Ok(out)
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
fn namespace_ids(pid: i32) -> (TaskKobjIdsEntry, TaskKobjIdsEntry) {
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
    let task = ids(&pid.to_string(), 2);
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
