//! The blob's argument block: a `TaskArgs` header followed by the arrays it
//! points to (as offsets from the header), built entirely in the loader.

use restorer_blob::*;

use crate::blob::{abi_bytes, Abi};
use crate::kerndat::Kerndat;
use crate::log::WARN;
use crate::signals::{sigactions, signals};

use super::images::TaskImages;
use super::sigframe;
use super::RestoreError;
use crate::arch::TASK_SIZE;
use crate::files::FdPlan;
use crate::mem::plan::MemPlan;

/// The blob's stack.
pub const STACK_SIZE: u64 = 64 * 1024;

/// Addresses of the restore area (all 0 while sizing the block).
#[derive(Debug, Default, Clone, Copy)]
pub struct Layout {
    /// This task's premap range.
    pub premap_at: u64,
    pub premap_len: u64,
    /// This task's status slot, and the shared status area holding it.
    pub status_at: u64,
    pub status_area: u64,
    pub status_len: u64,
    /// The tree's `TreeStage` in the status area.
    pub tree_at: u64,
    pub blob_at: u64,
    pub args_at: u64,
    /// End of this task's restorer (blob, arguments, stack): the sweep
    /// keeps the status area, the premap range and `[blob_at, keep_end)`.
    pub keep_end: u64,
}

struct Block {
    buf: Vec<u8>,
}

impl Block {
    fn align(&mut self, to: usize) {
        let len = self.buf.len().next_multiple_of(to);
        self.buf.resize(len, 0);
    }

    fn array<T: Abi>(&mut self, items: &[T]) -> Array {
        self.align(8);
        let off = self.buf.len() as u64;
        self.buf.extend_from_slice(abi_bytes(items));
        Array {
            off,
            count: items.len() as u64,
        }
    }
}

/// What bounds the limits a task gets back here, read once per restore:
/// fs.nr_open, and our own hard limits when we cannot raise them.
pub struct LimitBounds {
    nr_open: u64,
    /// Our hard limit of each resource (`None`: CAP_SYS_RESOURCE, or
    /// unreadable).
    ours: Vec<Option<u64>>,
}

impl LimitBounds {
    pub fn read(k: &Kerndat) -> LimitBounds {
        let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1 << 20);
        // RLIMIT_CPU to RLIMIT_RTTIME, the limits Linux has.
        let ours = (0..=libc::RLIMIT_RTTIME)
            .map(|r| {
                (!k.has_sys_resource)
                    .then(|| crate::sys::getrlimit(r).ok().map(|(_, max)| max))
                    .flatten()
            })
            .collect();
        LimitBounds { nr_open, ours }
    }
}

/// The task's dumped resource limits as they can be set here: a hard
/// limit above ours is lowered to ours without CAP_SYS_RESOURCE (with a
/// warning; CRIU fails the same calls and goes on), and RLIMIT_NOFILE's
/// to fs.nr_open.
pub fn rlimits(bounds: &LimitBounds, t: &TaskImages) -> Vec<Rlimit> {
    let Some(rl) = t.core.tc.as_ref().and_then(|tc| tc.rlimits.as_ref()) else {
        return Vec::new();
    };
    rl.rlimits
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let resource = i as u32;
            let (mut cur, mut max) = (r.cur, r.max);
            if resource == libc::RLIMIT_NOFILE {
                max = max.min(bounds.nr_open);
            }
            if let Some(&Some(ours)) = bounds.ours.get(i) {
                if max > ours {
                    crate::log!(
                        WARN,
                        "rlimit {resource}: hard limit {max} lowered to {ours} (no CAP_SYS_RESOURCE)"
                    );
                    max = ours;
                }
            }
            cur = cur.min(max);
            Rlimit {
                resource,
                _pad: 0,
                cur,
                max,
            }
        })
        .collect()
}

/// Builds the argument block for `layout`.
pub fn build(
    k: &Kerndat,
    t: &TaskImages,
    mem: &MemPlan,
    fds: &FdPlan,
    rlimits: &[Rlimit],
    layout: &Layout,
    fault: u32,
) -> Result<Vec<u8>, RestoreError> {
    let tc = t.core.tc.as_ref().ok_or_else(|| {
        RestoreError::Inconsistent(format!(
            "{}: pid {}: no task core (tc)",
            t.dir.join(format!("core-{}.img", t.pstree.pid)).display(),
            t.pstree.pid
        ))
    })?;
    let th = t.core.thread_core.as_ref();
    let mut b = Block {
        buf: vec![0; std::mem::size_of::<TaskArgs>()],
    };
    let mut a = TaskArgs {
        abi_version: ABI_VERSION,
        status: layout.status_at,
        status_area: layout.status_area,
        status_len: layout.status_len,
        tree: layout.tree_at,
        fault,
        close_fd: if fds.exe.is_some() {
            fds.exe_fd as u32
        } else {
            u32::MAX
        },
        ..Default::default()
    };
    // Not the other tasks' premap ranges, nor what this one inherited
    // of its parent's; but the VMAs premapped in place. In address order,
    // as the blob's sweep walks them.
    let mut keep = vec![
        Range {
            start: layout.status_area,
            end: layout.status_area + layout.status_len,
        },
        Range {
            start: layout.premap_at,
            end: layout.premap_at + layout.premap_len,
        },
        Range {
            start: layout.blob_at,
            end: layout.keep_end,
        },
        Range {
            start: TASK_SIZE,
            end: u64::MAX,
        },
    ];
    keep.extend(mem.premaps.iter().filter(|p| p.in_place).map(|p| Range {
        start: p.start,
        end: p.start + p.len,
    }));
    keep.sort_unstable_by_key(|r| r.start);
    a.keep = b.array(&keep);
    let moves: Vec<VmaMove> = mem
        .premaps
        .iter()
        .filter(|p| !p.in_place)
        .map(|p| VmaMove {
            src: layout.premap_at + p.slot,
            dst: p.start,
            len: p.len,
        })
        .collect();
    a.vmas = b.array(&moves);
    if let Some(v) = mem.vdso {
        a.vdso = Vdso {
            mode: VDSO_MAP,
            _pad: 0,
            vvar_start: mem.proxy.as_ref().map_or(v.vvar_start, |x| x.rt_at),
        };
    }
    let m = &t.mm;
    a.mm = PrctlMmMap {
        start_code: m.mm_start_code,
        end_code: m.mm_end_code,
        start_data: m.mm_start_data,
        end_data: m.mm_end_data,
        start_brk: m.mm_start_brk,
        brk: m.mm_brk,
        start_stack: m.mm_start_stack,
        arg_start: m.mm_arg_start,
        arg_end: m.mm_arg_end,
        env_start: m.mm_env_start,
        env_end: m.mm_env_end,
        auxv: 0,
        auxv_size: 0,
        exe_fd: if fds.exe.is_some() {
            fds.exe_fd as u32
        } else {
            u32::MAX
        },
    };
    a.auxv = b.array(&m.mm_saved_auxv);
    a.sigactions = b.array(&sigactions(&tc.sigactions));
    if let Some(timers) = &tc.timers {
        if !timers.posix.is_empty() && !k.has_timer_restore_ids {
            return Err(RestoreError::Unsupported(format!(
                "pid {}: {} POSIX timers, but this kernel cannot create timers with given ids \
                 (PR_TIMER_CREATE_RESTORE_IDS, Linux 6.13+)",
                t.pstree.pid,
                timers.posix.len()
            )));
        }
        a.posix_timers = b.array(&crate::timers::posix_to_blob(timers));
        a.itimers = b.array(&crate::timers::itimers_to_blob(timers));
    }
    a.rlimits = b.array(rlimits);
    a.shared_signals = b.array(&signals(tc.signals_s.as_ref(), true));

    if let Some(c) = th.and_then(|th| th.creds.as_ref()) {
        let groups = b.array(&c.groups);
        a.creds = crate::creds::to_blob(c, groups, k.cap_last_cap);
    } else {
        a.creds.skip = 1;
    }

    // Every thread: its frame, signals, name, rseq; the others a stack.
    let task = Inherited {
        comm: &tc.comm,
        blocked: tc.blk_sigset,
        creds: a.creds,
    };
    let mut threads = vec![thread(k, &mut b, layout, t.pstree.pid, &t.core, &task)?];
    threads[0].seccomp = filters(&mut b, &t.seccomp);
    for ((tid, core), chain) in t.thread_cores.iter().zip(&t.thread_seccomp) {
        let mut th = thread(k, &mut b, layout, *tid, core, &task)?;
        th.seccomp = filters(&mut b, chain);
        b.align(16);
        b.buf.resize(b.buf.len() + THREAD_STACK_SIZE as usize, 0);
        th.stack_top = b.buf.len() as u64;
        threads.push(th);
    }
    a.threads_left = (threads.len() - 1) as u32;
    a.creds_left = a.threads_left;
    a.seccomp_tsync = t.seccomp_tsync.into();
    a.seccomp_strict = t.seccomp_strict.into();
    a.threads = b.array(&threads);
    a.total_size = b.buf.len() as u32;
    b.buf[..std::mem::size_of::<TaskArgs>()].copy_from_slice(abi_bytes(&[a]));
    Ok(b.buf)
}

/// What a thread whose core lacks its own takes from its task: name,
/// blocked mask, credentials.
struct Inherited<'a> {
    comm: &'a str,
    blocked: u64,
    creds: restorer_blob::Creds,
}

/// A chain of seccomp filters (BPF bytes, flags), oldest first, into the
/// block.
fn filters(b: &mut Block, chain: &[(Vec<u8>, u32)]) -> Array {
    let mut filters = Vec::with_capacity(chain.len());
    for (bpf, flags) in chain {
        b.align(8);
        let off = b.buf.len() as u64;
        b.buf.extend_from_slice(bpf);
        filters.push(SeccompFilter {
            off,
            len: (bpf.len() / 8) as u32,
            flags: *flags,
        });
    }
    b.array(&filters)
}

/// One thread's `ThreadArgs`, with its signal frame, pending signals and
/// groups appended to the block.
fn thread(
    k: &Kerndat,
    b: &mut Block,
    layout: &Layout,
    tid: u32,
    core: &crate::images::schema::CoreEntry,
    task: &Inherited,
) -> Result<ThreadArgs, RestoreError> {
    let (comm, blocked) = (task.comm, task.blocked);
    let th = core.thread_core.as_ref();
    // Threads of one task may run under credentials of their own.
    let creds = match th.and_then(|th| th.creds.as_ref()) {
        Some(c) => {
            let groups = b.array(&c.groups);
            crate::creds::to_blob(c, groups, k.cap_last_cap)
        }
        None => task.creds,
    };
    let ti = core
        .thread_info
        .as_ref()
        .ok_or_else(|| RestoreError::Inconsistent(format!("thread {tid}: no thread info")))?;
    let signals = b.array(&signals(th.and_then(|th| th.signals_p.as_ref()), false));
    // The frame is 64-byte aligned for its xsave area.
    b.align(64);
    let frame_off = b.buf.len() as u64;
    let frame = sigframe::build(
        k,
        layout.args_at + frame_off,
        &ti.gpregs,
        &ti.fpregs,
        th.and_then(|th| th.blk_sigset).unwrap_or(blocked),
        th.and_then(|th| th.sas.as_ref()),
    )?;
    b.buf.extend_from_slice(&frame);
    let mut name = [0u8; 16];
    let given = th
        .and_then(|th| th.comm.as_deref())
        .unwrap_or(comm)
        .as_bytes();
    let n = given.len().min(15);
    name[..n].copy_from_slice(&given[..n]);
    let rseq = th
        .and_then(|th| th.rseq_entry.as_ref())
        .filter(|r| r.rseq_abi_pointer != 0)
        .map_or(Rseq::default(), |r| Rseq {
            ptr: r.rseq_abi_pointer,
            len: r.rseq_abi_size,
            sig: r.signature,
        });
    Ok(ThreadArgs {
        tid,
        _pad: 0,
        fs_base: ti.gpregs.fs_base,
        gs_base: ti.gpregs.gs_base,
        robust_list: th.map_or(0, |th| th.futex_rla),
        robust_list_len: th.map_or(0, |th| u64::from(th.futex_rla_len)),
        clear_tid: ti.clear_tid_addr,
        rseq,
        sigframe: frame_off,
        signals,
        comm: name,
        stack_top: 0,
        sched_policy: th.and_then(|th| th.sched_policy).unwrap_or(0),
        sched_prio: th.and_then(|th| th.sched_prio).unwrap_or(0),
        sched_nice: th.and_then(|th| th.sched_nice).unwrap_or(0),
        pdeath_sig: th.and_then(|th| th.pdeath_sig).unwrap_or(0),
        creds,
        // Set by the caller.
        seccomp: Array::default(),
    })
}
