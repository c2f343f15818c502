//! `crest dump`: checkpoint a running process tree into CRIU images,
//! without a parasite. This module orchestrates; what each kernel object
//! is and how it is read lives in its module (`pstree`, `files`, `mem`,
//! `ns`, `seccomp`, `proc`, `ptrace`).
//!
//! The order, and why:
//! 1. Seize the tree (`pstree::seize_tree`): every thread of every
//!    process, root first so that it forks no more, again until no new
//!    child or thread appears. Zombies are refused before anything stops.
//! 2. Per process: read /proc (VMAs, mm fields, creds, descriptors),
//!    ptrace (registers, masks, queues) and, one injected syscall at a time,
//!    what only the task can answer (sigactions, altstack, timers, brk, tid
//!    address, secbits); refuse what crest cannot dump by name.
//! 3. Write the pages as they are read, then every other image, the
//!    inventory last; one syncfs for the set.
//! 4. Kill the tree (CRIU's default) or, with --leave-running, let it go.
//!
//! Any failure lets the tasks go on as they were (each tracee detaches on
//! drop) and removes the image files written so far.

mod checks;
mod core;
mod error;
mod inject;
mod tree;
mod write;
mod zombie;
use crate::mem::dump as mem;
pub use error::DumpError;
use error::{fault_from_env, injected};

use crate::ns::namespace_ids;
use crate::pstree::{seize_tree, Process};
use crate::seccomp::seccomp_filters;
use crate::signals::queued;
use core::{auxv, own_id, syscall_in_code, thread_core};
use inject::{ask_process, ask_uts};
use write::{create_pages, write_bytes, write_image, write_pagemap, Written};

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::files::{descriptors, Files};
use crate::images::file;
use crate::images::schema::*;
use crate::log::{DEBUG, INFO};
use crate::proc;
use crate::scripts::Action;
use crate::sys;

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
    /// `--action-script`s: run at pre-dump and post-dump.
    pub scripts: crate::scripts::Scripts,
    /// `--ext-unix-sk`: datagram unix peers outside the tree are recorded
    /// by name.
    pub ext_unix_sk: bool,
    /// `--skip-in-flight`: pending connections from outside are dropped.
    pub skip_in_flight: bool,
    /// `--tcp-established`: established TCP connections are dumped
    /// (TCP_REPAIR).
    pub tcp_established: bool,
    /// `--tcp-close`: established TCP is dumped to be restored closed.
    pub tcp_close: bool,
    /// `--ghost-limit`: the largest deleted file kept as a ghost.
    pub ghost_limit: u64,
    /// `--file-locks`: held file locks are dumped (else refused).
    pub file_locks: bool,
    /// `--evasive-devices`: a device whose path now names another node
    /// of the same device number is dumped by that path.
    pub evasive_devices: bool,
    /// `--link-remap`: a deleted file linked elsewhere is kept through a
    /// hard link made next to it (else refused).
    pub link_remap: bool,
    /// `--external`: files and terminals recorded by name, not dumped.
    pub external: Vec<String>,
}

/// Dumps the tree below `pid` into `dir`. `shell_job`: terminals are the
/// caller's (a shell job's) and are recorded, for a restore with
/// --shell-job to hand over its own.
/// `crest dump`: checkpoints the tree below `o.pid` into `o.images_dir`.
pub fn dump(o: &DumpOptions) -> Result<(), DumpError> {
    let (pid, dir) = (o.pid, o.images_dir.as_path());
    let mut clock = crate::log::Stages::new();
    if pid <= 0 {
        return Err(DumpError::Request(format!("pid {pid}: not a process id")));
    }
    if pid == sys::getpid() {
        return Err(DumpError::Request("crest cannot dump itself".into()));
    }
    if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
        return Err(DumpError::Gone {
            pid,
            what: "no such process".into(),
        });
    }
    // /proc/TID exists for a thread too: the tree's root must be a process.
    let tgid = proc::Status::read(pid)?
        .get("Tgid")
        .parse::<i32>()
        .unwrap_or(pid);
    if tgid != pid {
        return Err(DumpError::Request(format!(
            "pid {pid} is a thread of process {tgid}, not a process: dump -t {tgid}"
        )));
    }
    // As CRIU: the images directory must exist (a typo must not scatter
    // images somewhere new).
    if !dir.is_dir() {
        return Err(DumpError::Request(format!(
            "images directory {}: no such directory",
            dir.display()
        )));
    }
    o.scripts
        .run(Action::PreDump, dir, None)
        .map_err(DumpError::Request)?;
    // Waits on the tracees sleep on SIGCHLD (ptrace::wait_for).
    let fault = fault_from_env()?;
    let mask = sys::block_sigchld().map_err(|e| DumpError::sys(pid, "sigprocmask", e))?;
    let result = dump_tree(o, &mut clock, fault);
    sys::restore_sigmask(mask);
    let (tree, mut written, stats, repaired, drained) = result?;
    // Still frozen: a failing post-dump script leaves the tree running
    // and no images.
    o.scripts
        .run(Action::PostDump, dir, None)
        .map_err(DumpError::Request)?;
    written.done = true;
    // CRIU's dump statistics, beside the (complete) image set.
    crate::stats::write_dump(dir, stats);
    let elapsed = clock.start.elapsed();
    if o.leave_running {
        // The connections go on, and the terminals get their data back.
        drop(repaired);
        drop(drained);
        for p in tree {
            for t in p.threads {
                t.detach()?;
            }
        }
    } else {
        // Closed in repair mode, the connections send no FIN or RST.
        repaired.keep();
        drained.keep();
        // Zombies are dead already: their parents' end takes them.
        crate::ptrace::kill_all(
            tree.into_iter()
                .filter(|p| p.zombie.is_none())
                .map(|p| (p.pid, p.threads))
                .collect(),
        );
    }
    crate::log!(INFO, "pid {pid} dumped in {} us", elapsed.as_micros());
    Ok(())
}

/// The dump itself, SIGCHLD blocked: the tree seized and written, synced,
/// still frozen; the images are kept once the caller sets `done`.
fn dump_tree(
    o: &DumpOptions,
    clock: &mut crate::log::Stages,
    fault: Option<&'static str>,
) -> Result<Dumped, DumpError> {
    let (pid, dir, shell_job) = (o.pid, o.images_dir.as_path(), o.shell_job);
    let mut tree = seize_tree(pid)?;
    injected(fault, "seize")?;
    let pids: Vec<i32> = tree.iter().map(|p| p.pid).collect();
    crate::ns::check_not_shared(pid, &pids)?;
    checks::check_not_shared_with_parent(&tree)?;
    let tables = checks::shared_tables(&tree)?;
    let frozen = std::time::Instant::now();
    let freezing_time = clock.start.elapsed().as_micros() as u32;
    clock.stage("seize");
    let mut written = Written {
        paths: Vec::new(),
        done: false,
    };
    let mut acc = TreeDump {
        fault,
        ..Default::default()
    };
    acc.cgroups = Some(crate::cgroup::Sets::new(pid)?);
    acc.files.sockets.ext_unix = o.ext_unix_sk;
    acc.files.sockets.skip_in_flight = o.skip_in_flight;
    acc.files.sockets.tcp_established = o.tcp_established;
    acc.files.sockets.tcp_close = o.tcp_close;
    acc.files.ghosts.limit = o.ghost_limit;
    acc.files.locks.allowed = o.file_locks;
    acc.files.evasive_devices = o.evasive_devices;
    acc.files.external = o.external.clone();
    acc.files.view = crate::ns::own_mnt_ns(pid).then(|| format!("/proc/{pid}/root"));
    acc.files.ghosts.link_remap = o.link_remap;
    acc.files.sockets.note_tree(&pids);
    acc.files.sockets.netns = crate::ns::own_net_file(pid)?;
    for (i, p) in tree.iter_mut().enumerate() {
        // The files id of the process whose table this one shares.
        let table = tables[i].map(own_id);
        dump_process(p, i, table, dir, &mut acc, &mut written, clock)?;
    }
    let members: Vec<_> = tree
        .iter()
        .map(|p| crate::files::tty::Member {
            pid: p.pid,
            vpid: p.vpid,
            vpgid: p.vpgid,
            vsid: p.vsid,
        })
        .collect();
    crate::files::tty::finish(&mut acc.files, &members, shell_job)?;
    crate::sockets::unix::check_peers(&mut acc.files.sockets, &mut acc.files.entries)?;
    acc.files.ghosts.check_watched()?;
    written.paths.extend(acc.files.ghosts.keep_links());
    tree::write_tree(pid, dir, &acc, &mut written)?;
    injected(fault, "images")?;
    clock.stage("images");
    // One syncfs for the whole set and its directory entries, rather than
    // an fsync per file: the tasks are killed only once all of it is safe.
    let d = File::open(dir).map_err(|e| DumpError::file(dir, e))?;
    let sync_start = std::time::Instant::now();
    sys::syncfs(&d).map_err(|e| DumpError::file(dir, e))?;
    injected(fault, "sync")?;
    clock.stage("sync");
    let stats = DumpStatsEntry {
        freezing_time,
        frozen_time: frozen.elapsed().as_micros() as u32,
        memwrite_time: sync_start.elapsed().as_micros() as u32,
        ..acc.stats.clone()
    };
    let repaired = std::mem::take(&mut acc.files.sockets.repaired);
    let drained = std::mem::take(&mut acc.files.tty.drained);
    Ok((tree, written, stats, repaired, drained))
}

/// A tree dumped: its tasks, the images written, the statistics, the
/// connections held in TCP repair mode, and the data taken out of its
/// terminals.
type Dumped = (
    Vec<Process>,
    Written,
    DumpStatsEntry,
    crate::sockets::tcp::Repaired,
    crate::files::tty::Drained,
);

/// What the processes of a tree share in the image set.
#[derive(Default)]
struct TreeDump {
    files: Files,
    seccomp: SeccompEntry,
    pstree: Vec<PstreeEntry>,
    root_ids: Option<TaskKobjIdsEntry>,
    /// Mappings of shared anonymous memory, by process.
    shmem: Vec<mem::ShmemUse>,
    /// What goes to stats-dump.
    stats: DumpStatsEntry,
    /// The tree's own IPC namespace: (our pid of the root, its id).
    ipc: Option<(i32, u32)>,
    /// The tree's own network and mount namespaces, the same way.
    net: Option<(i32, u32)>,
    mnt: Option<(i32, u32)>,
    /// The dump stage CREST_FAULT names.
    fault: Option<&'static str>,
    cgroups: Option<crate::cgroup::Sets>,
}

/// Dumps process number `index` of the tree (its threads stopped) into
/// its own images, adding what the tree shares to `acc`. A process that
/// shares the descriptor table of files id `table`, dumped already,
/// takes that id.
fn dump_process(
    process: &mut Process,
    index: usize,
    table: Option<u32>,
    dir: &Path,
    acc: &mut TreeDump,
    written: &mut Written,
    clock: &mut crate::log::Stages,
) -> Result<(), DumpError> {
    if let Some(status) = process.zombie {
        return zombie::dump_zombie(process, status, dir, acc, written);
    }
    let (ppid, stopped) = (process.ppid, process.stopped);
    // Images are named and filled with the tree's own pid numbers; /proc
    // and ptrace take ours.
    let (vpid, vtids) = (process.vpid, process.vtids.clone());
    let threads = &mut process.threads;
    let pid = threads[0].pid;
    let files = &mut acc.files;
    let stat = proc::Stat::read(pid)?;
    if stat.state == 'Z' || stat.state == 'X' {
        return Err(DumpError::Gone {
            pid,
            what: format!("is exiting (state {})", stat.state),
        });
    }
    let status = proc::Status::read(pid)?;
    let seccomp = seccomp_filters(pid, status.get("Seccomp"))?;
    let maps = proc::maps(pid)?;
    // System calls are injected through a `syscall` instruction of the
    // vdso; a task that unmapped it lends one of its own code mappings.
    let vdso = match maps.iter().find(|m| m.path == "[vdso]") {
        Some(m) => (m.start, m.end),
        None => syscall_in_code(pid, &maps).ok_or_else(|| {
            DumpError::refused(
                pid,
                "it has no vdso, and no syscall instruction in its code",
            )
        })?,
    };

    // Files: exe, cwd, root, mapped files, then descriptors.
    // A deleted exe, cwd or mapped file is kept as a ghost file.
    let by_path = |files: &mut Files, link: &str, shown: &str| {
        if let Some(dead) = crate::files::dead_proc_pid(pid, link, shown) {
            return Ok(files.dead_proc(shown, dead, 0, 0));
        }
        if shown.starts_with("/memfd:") {
            files.memfd_map_id(pid, link, shown)
        } else if shown.ends_with(" (deleted)") {
            files.deleted_path_id(pid, link, shown)
        } else {
            files.path_id(shown)
        }
    };
    let exe_id = by_path(files, "exe", &proc::readlink(pid, "exe")?)?;
    let cwd_id = by_path(files, "cwd", &proc::readlink(pid, "cwd")?)?;
    // The root gets its own entry, even when it is also the cwd, as CRIU
    // writes it.
    let root = proc::readlink(pid, "root")?;
    if root.ends_with(" (deleted)") {
        return Err(DumpError::refused(
            pid,
            format!("its root directory {root} was deleted"),
        ));
    }
    let root_id = files.reg(&root, 0, 0)?;
    let mut map_err = None;
    let vmas = mem::vmas(pid, &maps, &mut |p, m| {
        let link = format!("map_files/{:x}-{:x}", m.start, m.end);
        match by_path(files, &link, p) {
            Ok(id) => id,
            Err(e) => {
                map_err = Some(e);
                0
            }
        }
    })?;
    if let Some(e) = map_err {
        return Err(e);
    }
    let fdinfo = match table {
        Some(_) => Vec::new(),
        None => descriptors(pid, vpid as i32, files)?,
    };
    injected(acc.fault, "proc")?;
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
        return Err(DumpError::sys(
            pid,
            "injected mmap of a scratch page",
            std::io::Error::from_raw_os_error(-scratch as i32),
        ));
    }
    let scratch = scratch as u64;
    // The root's own UTS namespace, asked in the task (uname).
    let uts = if index == 0 && crate::ns::own_uts_ns(pid) {
        Some(ask_uts(&mut threads[0], vdso, scratch)?)
    } else {
        None
    };
    let asked = ask_process(&mut threads[0], vdso, scratch, &status).and_then(|p| {
        let mut cores = Vec::with_capacity(threads.len());
        for t in threads.iter_mut() {
            cores.push(thread_core(t, pid, vdso, scratch, &seccomp)?);
        }
        Ok((p, cores))
    });
    let _ = threads[0].syscall(vdso, libc::SYS_munmap, [scratch, 4096, 0, 0, 0, 0]);
    let (asked, cores) = asked?;
    let tids: Vec<i32> = threads.iter().map(|t| t.pid).collect();
    checks::timers_aim_at_dumped(pid, &asked.posix, &tids, &vtids)?;
    let own_filters = cores.iter().any(|c| c.1.is_some());
    let base = acc.seccomp.seccomp_filters.len();
    let mut cores: Vec<CoreEntry> = cores
        .into_iter()
        .map(|(mut c, own)| {
            checks::add_filters(&mut acc.seccomp, &mut c, own.as_ref().unwrap_or(&seccomp));
            c
        })
        .collect();
    if let Some(sets) = acc.cgroups.as_mut() {
        sets.assign(pid, threads.iter().map(|t| t.pid), &mut cores)?;
    }
    checks::seccomp_modes(
        pid,
        &status,
        &mut cores,
        &mut acc.seccomp,
        base,
        own_filters,
    )?;
    injected(acc.fault, "inject")?;
    clock.stage("injected syscalls");

    let shared = queued(pid, true)?;
    let rlimits = core::rlimits(pid)?;
    let comm = proc::read(pid, "comm")?.trim_end().to_string();
    let personality = u32::from_str_radix(proc::read(pid, "personality")?.trim(), 16).unwrap_or(0);
    // The process-wide part lives in the main thread's core.
    cores[0].tc = Some(TaskCoreEntry {
        // A SIGSTOP that came during the dump is in the image as a stop.
        task_state: if stopped || threads.iter().any(|t| t.stop_requested()) {
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
        child_subreaper: Some(asked.child_subreaper),
        stop_signo: if threads.iter().any(|t| t.stop_requested()) {
            Some(libc::SIGSTOP as u32)
        } else if stopped {
            // Stopped, but not seen in a group stop: SIGSTOP, as before.
            Some(match threads[0].stop_signal {
                0 => libc::SIGSTOP as u32,
                sig => sig as u32,
            })
        } else {
            None
        },
        membarrier_registration_mask: asked.membarrier.filter(|&m| m != 0),
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
        vmas: vmas
            .iter()
            .cloned()
            .chain(mem::guard_regions(pid)?)
            .collect(),
        dumpable: None,
        aios: mem::aio_rings(&vmas),
        thp_disabled: Some(asked.thp_disabled),
    };

    // Pages first (the big one), then the rest.
    let pages_id = index as u32 + 1;
    let (mut pages, pages_path) = create_pages(dir, pages_id, written)?;
    let mem_start = std::time::Instant::now();
    let (entries, npages) = mem::dump_pages(pid, &vmas, &mut pages, &pages_path)?;
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
    injected(acc.fault, "pages")?;
    clock.stage("pages");

    write_pagemap(
        dir,
        &format!("pagemap-{vpid}.img"),
        pages_id,
        &entries,
        written,
    )?;
    for (tid, core) in vtids.iter().zip(&cores) {
        write_image(dir, &file::CORE, tid, std::slice::from_ref(core), written)?;
    }
    write_image(dir, &file::MM, vpid, &[mm], written)?;
    let fs_entry = FsEntry {
        cwd_id,
        root_id,
        umask: Some(status.octal("Umask")),
    };
    write_image(dir, &file::FS, vpid, &[fs_entry], written)?;
    acc.shmem.extend(
        vmas.iter()
            .filter(|v| v.status & crate::images::flags::VMA_ANON_SHARED != 0)
            .filter(|v| v.status & crate::images::flags::VMA_AREA_SYSVIPC == 0)
            // A private mapping of the object: its own pages are not the
            // object's.
            .filter(|v| v.flags as i32 & libc::MAP_PRIVATE == 0)
            .map(|v| mem::ShmemUse {
                shmid: v.shmid,
                pid,
                start: v.start,
                end: v.end,
                pgoff: v.pgoff,
            }),
    );
    let (root_ids, mut task_ids) = namespace_ids(pid, own_id(index));
    if let Some(id) = table {
        task_ids.files_id = id;
    }
    acc.root_ids = Some(root_ids);
    if let (Some(u), Some(id)) = (uts, task_ids.uts_ns_id) {
        write_image(dir, &file::UTSNS, id, &[u], written)?;
    }
    let sysv = vmas
        .iter()
        .find(|v| v.status & crate::images::flags::VMA_AREA_SYSVIPC != 0);
    let own_ipc = crate::ns::own_ipc_ns(pid);
    if let (Some(v), false) = (sysv, own_ipc) {
        return Err(DumpError::refused(
            pid,
            format!(
                "vma {:#x}-{:#x}: System V segment {} of crest's own IPC namespace; crest dumps \
                 System V objects with a tree's own IPC namespace",
                v.start, v.end, v.shmid
            ),
        ));
    }
    if let (0, true, Some(id)) = (index, own_ipc, task_ids.ipc_ns_id) {
        acc.ipc = Some((pid, id));
    }
    if index == 0 {
        let own = |theirs: bool, id: Option<u32>| id.filter(|_| theirs).map(|id| (pid, id));
        acc.net = own(crate::ns::own_net_ns(pid), task_ids.net_ns_id);
        acc.mnt = own(crate::ns::own_mnt_ns(pid), task_ids.mnt_ns_id);
    }
    let files_id = task_ids.files_id;
    write_image(dir, &file::IDS, vpid, &[task_ids], written)?;
    if table.is_none() {
        write_image(dir, &file::FDINFO, files_id, &fdinfo, written)?;
    }
    acc.pstree.push(PstreeEntry {
        pid: vpid,
        ppid,
        pgid: process.vpgid,
        sid: process.vsid,
        threads: vtids,
    });
    Ok(())
}
