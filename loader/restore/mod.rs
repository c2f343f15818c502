//! `crest restore`: bring back a process tree from CRIU images. This
//! module orchestrates; the knowledge of each object lives in its module
//! (`pstree`, `files`, `mem`, `ns`, `creds`, `signals`, `timers`, ...).
//!
//! The order, and why:
//! 1. Read and check every image (`images`), plan memory (`mem::plan`),
//!    descriptors (`files`) and the blob's argument block (`args`) in the
//!    parent: nothing is created before the whole restore is known to make
//!    sense.
//! 2. Reserve one hole of address space (`hole`) for the shared status
//!    area, the premapped VMAs, the blob, its arguments and its stack.
//! 3. Enter a new time namespace for the children (when the images have
//!    one), create what tasks share (pipes, shmem and memfd objects,
//!    eventfd/signalfd/timerfd), then fork the root with its pid (`tree`).
//! 4. Each task forks its children, restores session, cwd, root, umask and
//!    descriptors, premaps and fills its memory (`premap`), installs the
//!    blob and jumps into it (`task`).
//! 5. The parent waits on the status area; on any failure it kills the
//!    tree, so nothing half-restored survives; at the end it has each task
//!    unmap its blob (`finish`).

mod aio;
mod args;
mod attrs;
mod cow;
mod error;
mod fault;
mod fdt;
mod finish;
#[allow(unsafe_code)]
mod hole;
pub mod images;
pub use crate::mem::plan as mem;
#[allow(unsafe_code)]
mod premap;
pub(crate) use premap::fill_sysv;
#[allow(unsafe_code)]
mod lazy;
pub mod sigframe;
mod task;
pub(crate) mod timing;
#[allow(unsafe_code)]
mod tree;
pub(crate) mod vdso;

use std::path::PathBuf;

use crate::blob;
use crate::files;
use crate::kerndat::Kerndat;
use crate::log::{INFO, WARN};
use crate::scripts::Action;
use crate::sys::{self, Forked};
pub use error::{RestoreError, TaskId};
pub use fault::{fault_from_env, Fault};

use hole::{Reservation, StatusArea, SLOT};
use task::{TaskPlan, TreeRun};
use tree::{wait_root_namespaces, wait_tree, TreeGuard};

/// What `crest restore` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    pub images_dir: PathBuf,
    /// Where stats-restore goes (`-W`; default: the images dir if writable).
    pub work_dir: Option<PathBuf>,
    /// Return once the tree runs (`-d`) instead of waiting for its root.
    pub detach: bool,
    /// Write the restored root's pid here.
    pub pidfile: Option<PathBuf>,
    /// The tree was a shell job: it joins the caller's session and terminal.
    pub shell_job: bool,
    /// `--inherit-fd`: crest's descriptors standing for files of the images.
    pub inherit_fd: Vec<files::external::Inherit>,
    /// `--action-script`s, run at each restore action.
    pub scripts: crate::scripts::Scripts,
    /// `--restore-sibling`: the root becomes our sibling (CLONE_PARENT),
    /// a child of our parent; without `detach` we watch it through ptrace.
    pub sibling: bool,
    /// `--check-only`: read, check and plan everything, create nothing.
    pub check_only: bool,
    /// `--ext-unix-sk`: unix sockets connected to a peer outside the tree
    /// connect to it again by name.
    pub ext_unix_sk: bool,
    /// `--tcp-close`: established TCP connections come back closed (also
    /// when the images were dumped with it).
    pub tcp_close: bool,
    /// `--external veth[IN]:OUT[@BR]`: veth peers made outside the
    /// tree's network namespace.
    pub veths: Vec<crate::net::Veth>,
    /// `--empty-ns net`: the tree's network namespace is made empty, its
    /// images not read (a script configures it).
    pub empty_net: bool,
    /// `--root`, `--external mnt[KEY]:PATH`: where the tree's mounts
    /// come from.
    pub mounts: crate::mnt::restore::MntOpts,
    /// `--manage-cgroups`: what is done with the images' cgroups.
    pub manage_cgroups: crate::cgroup::restore::Mode,
    /// `--lazy-pages`: the tree runs before its private anonymous memory
    /// is in; a helper brings each page on first touch, and all of them
    /// in the background (`lazy`).
    pub lazy_pages: bool,
}

/// `crest restore`: brings back the tree dumped in `opts.images_dir`.
/// Returns the exit code to leave with: 0 when detached, else the root's.
pub fn restore(opts: &RestoreOptions) -> Result<i32, RestoreError> {
    let mut clock = crate::log::Stages::new();
    let start_ns = sys::monotonic_ns();
    let dir = opts.images_dir.clone();
    let fault = fault_from_env()?;
    let script = |action: Action, init: Option<i32>| -> Result<(), RestoreError> {
        opts.scripts
            .run(action, &dir, init)
            .map_err(RestoreError::System)?;
        if fault.loader == Some(action.name())
            || (fault.loader == Some("scripts") && action == Action::PostRestore)
        {
            return Err(RestoreError::System(format!(
                "{}: fault injected by CREST_FAULT",
                action.name()
            )));
        }
        Ok(())
    };
    // The loader's own stages CREST_FAULT can name.
    let at = |stage: &str| -> Result<(), RestoreError> {
        match fault.loader {
            Some(f) if f == stage => Err(RestoreError::System(format!(
                "{stage}: fault injected by CREST_FAULT"
            ))),
            _ => Ok(()),
        }
    };
    script(Action::PreRestore, None)?;
    let (k, own_maps) = Kerndat::probe_restore_with_maps();
    if !k.has_clone3_set_tid {
        return Err(RestoreError::Unsupported(
            "this kernel lacks clone3 with set_tid (Linux 5.5+), needed to restore pids".into(),
        ));
    }
    clock.stage("kerndat");
    let (inventory, tree) = images::read_tree(&dir)?;
    at("read")?;
    // Each core once: it says whether the task is a zombie, and a live
    // task's images are read from it on.
    let mut zombies = Vec::new();
    let mut live = Vec::with_capacity(tree.len());
    for (i, entry) in tree.iter().enumerate() {
        let core = crate::images::file::CORE.read_one(&dir, entry.pid)?;
        match images::zombie_of(entry, &core, i == 0) {
            Some(z) => zombies.push(z),
            None => live.push((entry, core)),
        }
    }
    crate::pstree::check_tree(&dir, &tree, &zombies, opts.shell_job)?;
    // The tree's mount namespace: built first, as the tree's paths are
    // its own; crest stays in it until the root is forked into a copy.
    let mnt = crate::ns::tree_mnt(&dir, inventory.root_ids.as_ref(), tree[0].pid)?;
    let mnt = crate::mnt::restore::build_for(mnt, &opts.mounts)?;
    at("mounts")?;
    clock.stage("mount namespace");
    // Deleted files come back as ghosts next to their old paths, removed
    // again when this ends (the tasks have opened them by then).
    let wide = images::read_tree_wide(&dir)?;
    let mut ghosts = crate::files::ghost::Restored::make(&dir, &wide.files)?;
    at("ghosts")?;
    let ttys = files::tty::Images::read(&dir)?;
    files::external::check_inherited(&opts.inherit_fd)?;
    let mut vdsos = vdso::Vdsos::new(k.vdso);
    let bounds = args::LimitBounds::read(&k);
    let mut plans = Vec::with_capacity(tree.len());
    for (entry, core) in live {
        let mut task = images::read_task(&dir, &inventory, &wide, entry, core)?;
        ghosts.apply(&mut task.files);
        let mut mem = mem::plan(
            &dir.join(format!("mm-{}.img", entry.pid)),
            &task.mm.vmas,
            &task.files,
            &task.memfds,
        )?;
        mem.mark_filled(&task.runs);
        vdsos.redirect(entry.pid, &task, &mut mem)?;
        let ctx = files::PlanContext {
            ttys: &ttys,
            shell_job: opts.shell_job,
            inherit: &opts.inherit_fd,
        };
        let fds = files::plan(&task, &ctx)?;
        let rlimits = args::rlimits(&bounds, &task);
        plans.push(TaskPlan {
            task,
            mem,
            fds,
            rlimits,
            args: Vec::new(),
            premap_at: 0,
            blob_at: 0,
            args_at: 0,
            stack_top: 0,
        });
    }
    let ns = crate::ns::TreeNs::read(
        &dir,
        opts.empty_net,
        inventory.root_ids.as_ref(),
        &plans
            .iter()
            .map(|p| (p.task.pstree.pid, &p.task.ids))
            .collect::<Vec<_>>(),
    )?;
    // A task's /proc/PID files reopen through the loader's /proc, which
    // numbers a new pid namespace's tasks otherwise.
    if ns.new_pid {
        for p in &plans {
            let proc_file = p.fds.targets.iter().find_map(|t| match &t.source {
                files::Source::Path { path, .. } => {
                    let name = path.to_string_lossy();
                    files::proc_pid_path(&name).map(|_| (t.fd, name.into_owned()))
                }
                _ => None,
            });
            if let Some((fd, name)) = proc_file {
                return Err(RestoreError::Unsupported(format!(
                    "pid {}: fd {fd}: {name} of a task in a pid namespace, which crest does not \
                     reopen yet",
                    p.task.pstree.pid
                )));
            }
        }
    }
    let mut sockets = crate::sockets::create::SocketImages::read(
        &dir,
        plans[0].task.files.clone(),
        opts.ext_unix_sk,
    )?;
    sockets.tcp_close = opts.tcp_close || inventory.tcp_close == Some(true);
    let flying_pipes = sockets
        .in_flight()
        .into_iter()
        .filter_map(|id| sockets.files.get(&id)?.pipe.as_ref().map(|p| p.pipe_id));
    let pipes = crate::files::pipe::read_pipes(&dir, plans.iter().map(|p| &p.fds), flying_pipes)?;
    let fifos = crate::files::pipe::read_fifos(&dir, plans.iter().map(|p| &p.fds))?;
    let shmem = mem::plan_shmem(
        &dir,
        plans.iter().map(|p| &p.mem),
        plans.iter().flat_map(|p| &p.fds.memfds),
    )?;
    at("plan")?;
    clock.stage("read images and plan");

    // 2. The hole: [status area][premap area][blob][args][stack], the
    //    last four per task at the same addresses (each task is its own
    //    address space). The argument block's size does not depend on
    //    where it goes.
    let tables = fdt::Tables::plan(&mut plans)?;
    let status_len = StatusArea::len(plans.len());
    let mut total = 0;
    for p in &mut plans {
        // The block's size does not depend on the addresses in it.
        let sizing = args::Layout::default();
        p.args = args::build(&k, &p.task, &p.mem, &p.fds, &p.rlimits, &sizing, fault.blob)?;
        let args_len = blob::page_up(p.args.len() as u64);
        total = total.max(blob::code_size() + args_len + args::STACK_SIZE);
    }
    // Each task's premap range of its own: a child takes over slots of
    // its parent's, which it inherits filled (copy-on-write memory).
    cow::plan(&mut plans);
    let premaps_len: u64 = plans.iter().map(|p| p.mem.premap_len).sum();
    let total = total + premaps_len;
    // A proxied vdso's replacement goes last, past a guard page: outside
    // every task's kept range, so the blob's sweep leaves it free for
    // ARCH_MAP_VDSO_64.
    let rt_len = plans
        .iter()
        .filter_map(|p| p.mem.proxy.as_ref())
        .map(|x| x.rt_len + crate::images::flags::PAGE)
        .max()
        .unwrap_or(0);
    let total = status_len + total + rt_len;
    // Our own layout as it was at start-up: nothing since has mapped
    // anything big (std's heap grows with brk or far below the hole).
    let own_maps = match own_maps {
        m if m.is_empty() => std::fs::read_to_string("/proc/self/maps")
            .map_err(|e| RestoreError::sys(0, "reading /proc/self/maps", e))?,
        m => m,
    };
    let mut used = mem::parse_maps(&own_maps)?;
    for p in &plans {
        used.extend_from_slice(&p.mem.dumped);
    }
    let hole = mem::find_hole(&used, total).ok_or_else(|| {
        RestoreError::System(format!(
            "no {total} bytes of address space free in the loader's and the dumped layouts"
        ))
    })?;
    let mut reservation = Reservation::new(hole, total)?;
    // A lone task's VMAs go straight to their dumped addresses where
    // nothing of ours is there (no tree: a child would inherit them).
    if let [p] = &mut plans[..] {
        premap::choose_in_place(&mut reservation, &mut p.mem, &own_maps);
    }
    let area = hole + status_len;
    let plans_len = plans.len();
    let mut premap_at = area;
    for (i, p) in plans.iter_mut().enumerate() {
        if let Some(x) = &mut p.mem.proxy {
            x.rt_at = hole + total - x.rt_len;
        }
        p.premap_at = premap_at;
        premap_at += p.mem.premap_len;
        p.blob_at = area + premaps_len;
        p.args_at = p.blob_at + blob::code_size();
        let mut layout = args::Layout {
            premap_at: p.premap_at,
            premap_len: p.mem.premap_len,
            status_at: hole + SLOT * i as u64,
            status_area: hole,
            status_len,
            tree_at: hole + StatusArea::tree_offset(plans_len),
            blob_at: p.blob_at,
            args_at: p.args_at,
            keep_end: 0,
        };
        p.stack_top = p.args_at + blob::page_up(p.args.len() as u64) + args::STACK_SIZE;
        layout.keep_end = p.stack_top;
        p.args = args::build(&k, &p.task, &p.mem, &p.fds, &p.rlimits, &layout, fault.blob)?;
    }
    if opts.check_only {
        crate::log!(
            INFO,
            "{}: the images can be restored here ({} processes)",
            dir.display(),
            plans.len()
        );
        return Ok(0);
    }
    let status = reservation.status_area(plans.len())?;
    tables.start(&status);
    at("layout")?;
    clock.stage("layout");

    // 3. Time namespace, pipes, then the tree: its root is our child and
    //    forks the others, each with its pid (TaskPlan::run).
    if let Some(t) = &plans[0].task.timens {
        if k.has_timens {
            crate::ns::enter_timens(t)?;
        } else {
            crate::log!(WARN, "no time namespaces here: monotonic clocks will jump");
        }
    }
    // The tree's network namespace: built, with crest in it until the
    // root is forked (its sockets are made there too).
    let mut net = match &ns.net {
        Some(crate::ns::TreeNet::Images(n)) => Some(n.build(&opts.veths)?),
        Some(crate::ns::TreeNet::Empty) => Some(crate::net::restore::Entered::empty()?),
        None => None,
    };
    at("network")?;
    if net.is_some() {
        clock.stage("network namespace");
    }
    let mut shared = files::create_shared(&pipes, plans.iter().map(|p| &p.fds), &sockets, &fifos)?;
    let shmem_fds = premap::create_shmem(&shmem)?;
    files::open_shared(plans.iter().map(|p| &p.fds), &mut shared, &shmem_fds)?;
    let sessions: Vec<(u32, u32)> = plans
        .iter()
        .map(|p| (p.task.pstree.pid, p.task.pstree.sid))
        .collect();
    files::tty::check_sessions(&ttys, &sessions)?;
    let cttys = files::tty::open_all(plans.iter().map(|p| &p.fds), &ttys, &mut shared)?;
    at("pipes")?;
    let ids: Vec<u32> = tree
        .iter()
        .flat_map(|e| e.threads.iter().chain([&e.pid]))
        .copied()
        .collect();
    ghosts.hold_dead_pids(&ids, ns.new_pid)?;
    let cg_sets = plans
        .iter()
        .map(|p| crate::cgroup::restore::set_of(&p.task))
        .collect::<Result<Vec<_>, _>>()?;
    let mut cgroups = crate::cgroup::restore::Cgroups::for_tree(
        &dir,
        opts.manage_cgroups,
        &cg_sets,
        inventory.root_cg_set,
    )?;
    at("cgroups")?;
    // Our /proc, where tasks read their pids as we see them (theirs may
    // be another pid namespace's).
    let host_proc =
        std::fs::File::open("/proc").map_err(|e| RestoreError::sys(0, "opening /proc", e))?;
    // Orphans of a failed restore come to us, to be killed and reaped.
    let _ = sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    let mut lazy = lazy::Lazy::link(opts.lazy_pages)?;
    let run = TreeRun {
        plans: &plans,
        tree: &tree,
        zombies: &zombies,
        ns: &ns,
        reservation: &reservation,
        status: &status,
        shared: &shared,
        tables: &tables,
        cttys: &cttys,
        shmem: &shmem_fds,
        fault: fault.loader,
        cgroups: &cgroups,
        cg_sets: &cg_sets,
        mnt: mnt.as_ref().map(|m| &m.steps),
        host_proc: std::os::fd::AsRawFd::as_raw_fd(&host_proc),
        // Without scripts nothing happens between the root's namespaces
        // and FORKING: the tree starts there, the root does not stop.
        ns_stage: !opts.scripts.is_empty() || fault.loader.is_some(),
        lazy: lazy
            .as_ref()
            .map(|l| std::os::fd::AsRawFd::as_raw_fd(&l.link)),
    };
    // The tasks start with every signal blocked; rt_sigreturn installs
    // their dumped masks.
    let mask = sys::block_all_signals().map_err(|e| RestoreError::sys(0, "sigprocmask", e))?;
    let root_pid = tree[0].pid;
    let mut flags = ns.clone_flags();
    if opts.sibling {
        flags |= libc::CLONE_PARENT as u64;
    }
    let n = plans.len() as u32;
    if run.ns_stage {
        status.start_stage(restorer_blob::TREE_PREPARE_NAMESPACES, 1, n);
    } else {
        status.start_stage(restorer_blob::TREE_FORKING, n, n);
    }
    // The lazy-pages server before the tasks: it is ready for their
    // first events (it closes every descriptor of the tree it inherits).
    if let Some(l) = &mut lazy {
        l.start(&plans)?;
    }
    let forked = tree::fork_with_pid(root_pid, flags);
    if !matches!(forked, Ok(Forked::Child)) {
        sys::restore_sigmask(mask);
    }
    let guard = match forked? {
        Forked::Child => run.task(0),
        Forked::Parent(p) => TreeGuard {
            root: p,
            known: Vec::new(),
        },
    };
    let mut guard = guard;
    if let Some(n) = &mut net {
        n.leave()?;
    }
    if let Some(m) = &mnt {
        m.leave()?;
    }
    files::close_shared(&shared);
    for &fd in shmem_fds.values() {
        sys::close(fd);
    }

    if run.ns_stage {
        // PREPARE_NAMESPACES: the root makes its namespaces; the
        // setup-namespaces scripts then see them, before anyone is forked.
        wait_root_namespaces(&status, guard.root).map_err(|msg| RestoreError::Child {
            pid: TaskId {
                pid: root_pid,
                host: guard.root as u32,
            },
            msg,
        })?;
        script(Action::SetupNamespaces, Some(guard.root))?;
        script(Action::PostSetupNamespaces, Some(guard.root))?;
        status.start_stage(restorer_blob::TREE_FORKING, n, n);
    }
    clock.stage("fork");
    let result = wait_tree(&plans, &status, guard.root);
    let noticed_ns = sys::monotonic_ns();
    if result.is_err() {
        // Tasks waiting at a stage end; the guard kills the rest.
        status.fail_tree();
    }
    guard.known = (0..plans.len())
        .map(|i| status.host_pid(i) as i32)
        .filter(|&p| p > 0)
        .collect();
    let times = timing::of_tree(plans.len(), |i| status.marks(i), guard.root);
    drop(reservation);
    let traced = result?;
    cgroups.finish()?;
    clock.stage("restore");
    // Every task is restored and none runs its own code yet.
    script(Action::PostRestore, Some(guard.root))?;
    // Every task has opened and mapped its files: the ghosts go.
    ghosts.finish();
    // The connections are back: their packets may flow again.
    crate::sockets::netfilter::unlock_after_restore(&inventory);
    script(Action::PreResume, Some(guard.root))?;
    // Every wait below is bounded: the alarm interrupts it.
    sys::deadline_alarm(finish::FINISH_TIMEOUT_S)
        .map_err(|e| RestoreError::sys(0, "setitimer", e))?;
    let mut finishing = Vec::with_capacity(plans.len());
    for (p, t) in plans.iter().zip(&traced) {
        if let Some(trapped) = t.trap {
            let blob = (p.blob_at, p.stack_top);
            let tids = if ns.new_pid {
                crate::proc::host_tids(t.host, &p.task.pstree.threads)
                    .map_err(|e| RestoreError::System(format!("pid {}: {e}", p.task.pstree.pid)))?
            } else {
                p.task.pstree.threads.iter().map(|&t| t as i32).collect()
            };
            finish::threads_out(t.host, &tids, blob)?;
            let stop =
                crate::pstree::dumped_stopped(&p.task).then(|| crate::pstree::stop_signal(&p.task));
            finishing.push(finish::Finishing {
                pid: t.host,
                trapped,
                blob_at: p.blob_at,
                blob_len: p.stack_top - p.blob_at,
                last: finish::Last {
                    stop,
                    sigtrap: crate::signals::action_of(&p.task, libc::SIGTRAP),
                    guards: &p.task.guards,
                    aios: &p.task.mm.aios,
                },
                pending: t.pending.clone(),
            });
        } else if !p.task.guards.is_empty() || !p.task.mm.aios.is_empty() {
            return Err(RestoreError::Unsupported(format!(
                "pid {}: guard regions and AIO rings are restored through ptrace, which the \
                 kernel refused",
                p.task.pstree.pid
            )));
        }
    }
    finish::unmap_blobs(&mut finishing)?;
    let _ = sys::deadline_alarm(0);
    clock.stage("unmap restorer");
    // Tasks dumped stopped (SIGSTOP, job control) are stopped again; traced
    // ones were, before they were let go.
    for (p, t) in plans.iter().zip(&traced) {
        let stopped = crate::pstree::dumped_stopped(&p.task);
        if stopped && t.trap.is_none() {
            let (pid, sig) = (t.host, crate::pstree::stop_signal(&p.task));
            sys::kill(pid, sig)
                .map_err(|e| RestoreError::sys(pid, format!("kill(signal {sig})"), e))?;
        }
    }
    let elapsed = clock.start.elapsed();
    crate::log!(
        INFO,
        "pid {root_pid} (host pid {}) restored in {} us ({} processes)",
        guard.root,
        elapsed.as_micros(),
        plans.len()
    );
    if let Some(p) = &opts.pidfile {
        finish::write_pidfile(p, guard.root)
            .map_err(|e| RestoreError::sys(0, format!("writing the pidfile {}", p.display()), e))?;
    }
    let pids: Vec<u32> = plans.iter().map(|p| p.task.pstree.pid).collect();
    let tree_times = timing::report(&pids, &times, start_ns, noticed_ns);
    let tasks: Vec<&images::TaskImages> = plans.iter().map(|p| &p.task).collect();
    crate::stats::write_restore(opts.work_dir.as_deref(), &dir, elapsed, &tasks, &tree_times);
    cgroups.keep();
    if let Some(l) = lazy {
        l.go()?;
    }
    let pid = guard.release();
    // The tree runs: a failing post-resume script is only reported.
    if let Err(e) = opts.scripts.run(Action::PostResume, &dir, Some(pid)) {
        crate::log!(WARN, "{e}");
    }
    if opts.detach {
        return Ok(0);
    }
    if opts.sibling {
        return finish::watch(pid);
    }
    // Like criu restore without -d: wait for the root, pass on its status.
    match sys::waitpid(pid, 0) {
        Ok(Some((_, st))) if libc::WIFEXITED(st) => Ok(libc::WEXITSTATUS(st)),
        Ok(Some((_, st))) if libc::WIFSIGNALED(st) => Ok(128 + libc::WTERMSIG(st)),
        _ => Ok(0),
    }
}
