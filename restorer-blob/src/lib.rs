//! The argument ABI shared by crest's loader and its restorer blob.
//!
//! The loader writes one [`TaskArgs`] block (followed by the arrays it refers
//! to) into the blob's mapping and enters the blob with the block's address.
//! Everything here is `#[repr(C)]` and made of fixed-width integers: the blob
//! reads memory that nothing on its side has validated, so there are no
//! `bool`s, no Rust enums and no pointers. Arrays are `(offset, count)` pairs
//! relative to the start of the [`TaskArgs`] block. The size guards at the
//! bottom fail the build if either side changes a layout without the other.
//!
//! This crate's lib target is ordinary `no_std` Rust usable from the loader;
//! the blob itself is the bin target (`src/main.rs`), built by crest's
//! `build.rs`.
#![no_std]
#![forbid(unsafe_code)]

use core::mem::size_of;

/// Bumped whenever a layout below changes.
pub const ABI_VERSION: u32 = 12;

/// A `(offset, count)` reference from the start of [`TaskArgs`] to an array.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Array {
    pub off: u64,
    pub count: u64,
}

/// An address range `[start, end)`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

/// Move one premapped VMA to its dumped place: `mremap(src, len, len,
/// MREMAP_FIXED | MREMAP_MAYMOVE, dst)`. The loader has already given the
/// premapped copy its final protection, which `mremap` keeps.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmaMove {
    pub src: u64,
    pub dst: u64,
    pub len: u64,
}

/// One `rt_sigaction` call: the kernel's x86_64 `struct sigaction` layout.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    pub sig: u32,
    pub _pad: u32,
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

/// One `prlimit64(0, resource, &{cur, max}, NULL)` call.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: u32,
    pub _pad: u32,
    pub cur: u64,
    pub max: u64,
}

/// A queued signal to put back: `rt_sigqueueinfo` for the process-wide
/// queue (`shared != 0`), `rt_tgsigqueueinfo` for the thread's own.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingSignal {
    pub sig: u32,
    pub shared: u32,
    /// The raw 128-byte kernel `siginfo_t`.
    pub siginfo: [u8; 128],
}

impl Default for PendingSignal {
    fn default() -> Self {
        Self {
            sig: 0,
            shared: 0,
            siginfo: [0; 128],
        }
    }
}

/// `struct itimerval` for one `setitimer(which, ..)` call.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Itimer {
    pub which: u32,
    pub _pad: u32,
    pub interval_sec: u64,
    pub interval_usec: u64,
    pub value_sec: u64,
    pub value_usec: u64,
}

/// One POSIX timer, created with its dumped id (`PR_TIMER_CREATE_RESTORE_IDS`)
/// and armed with `timer_settime` (relative: the dumped remaining time).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PosixTimer {
    pub id: u32,
    pub clock_id: u32,
    pub signo: u32,
    /// `sigev_notify` (SIGEV_SIGNAL, SIGEV_NONE, | SIGEV_THREAD_ID).
    pub notify: u32,
    /// `sigev_notify_thread_id` for SIGEV_THREAD_ID.
    pub notify_tid: u32,
    pub _pad: u32,
    pub sival: u64,
    pub interval_sec: u64,
    pub interval_nsec: u64,
    pub value_sec: u64,
    pub value_nsec: u64,
}

/// The kernel's `struct prctl_mm_map` (include/uapi/linux/prctl.h), passed to
/// `prctl(PR_SET_MM, PR_SET_MM_MAP, ..)`. The `auxv` pointer is filled in by
/// the blob from `auxv` below, since only the blob knows its final address.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrctlMmMap {
    pub start_code: u64,
    pub end_code: u64,
    pub start_data: u64,
    pub end_data: u64,
    pub start_brk: u64,
    pub brk: u64,
    pub start_stack: u64,
    pub arg_start: u64,
    pub arg_end: u64,
    pub env_start: u64,
    pub env_end: u64,
    pub auxv: u64,
    pub auxv_size: u32,
    pub exe_fd: u32,
}

/// Credentials, applied last (see the blob's `creds` module for the order).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Creds {
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub fsuid: u32,
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub fsgid: u32,
    pub secbits: u32,
    pub ngroups: u32,
    /// `u32` supplementary groups.
    pub groups: Array,
    /// Capability sets as the kernel's two 32-bit words each (v3 capset).
    pub cap_eff: [u32; 2],
    pub cap_prm: [u32; 2],
    pub cap_inh: [u32; 2],
    pub cap_bnd: [u32; 2],
    pub cap_amb: [u32; 2],
    /// Highest capability number the running kernel knows (cap_last_cap).
    pub last_cap: u32,
    /// Non-zero: apply nothing (the restorer already runs with these creds).
    pub skip: u32,
    /// Non-zero: set PR_SET_NO_NEW_PRIVS (it cannot be cleared).
    pub no_new_privs: u32,
    pub _pad: u32,
}

/// One seccomp filter to install, oldest first: `len` BPF instructions
/// (8 bytes each) at `off` from the [`TaskArgs`] block.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeccompFilter {
    pub off: u64,
    pub len: u32,
    /// `SECCOMP_FILTER_FLAG_*` the filter was installed with.
    pub flags: u32,
}

/// The rseq area to register right before `rt_sigreturn` (size 0: none).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rseq {
    pub ptr: u64,
    pub len: u32,
    pub sig: u32,
}

/// Where to put the running kernel's vvar/vdso pair.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Vdso {
    /// `VDSO_*` below.
    pub mode: u32,
    pub _pad: u32,
    /// Start of the vvar pages, which `ARCH_MAP_VDSO_64` takes as its address.
    pub vvar_start: u64,
}

/// No vdso in the image: map none.
pub const VDSO_NONE: u32 = 0;
/// Map the running kernel's vvar+vdso at `vvar_start`.
pub const VDSO_MAP: u32 = 1;

/// Per-thread state, one per thread of the task: index 0 is the thread
/// that enters the blob and clones the others.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadArgs {
    pub tid: u32,
    pub _pad: u32,
    pub fs_base: u64,
    pub gs_base: u64,
    /// `set_robust_list(head, len)`.
    pub robust_list: u64,
    pub robust_list_len: u64,
    /// `set_tid_address(clear_tid)`.
    pub clear_tid: u64,
    pub rseq: Rseq,
    /// Offset (from [`TaskArgs`]) of the `struct rt_sigframe` built by the
    /// loader; the blob points `rsp` just past its `pretcode` field and
    /// calls `rt_sigreturn`.
    pub sigframe: u64,
    /// `PendingSignal`s of this thread.
    pub signals: Array,
    /// The task name for `PR_SET_NAME`, NUL padded.
    pub comm: [u8; 16],
    /// Offset (from [`TaskArgs`]) of the top of this thread's stack in the
    /// blob's mapping; 0 for thread 0, which runs on the blob's own stack.
    pub stack_top: u64,
    /// `sched_setscheduler(0, sched_policy, {sched_prio})` (the policy
    /// with SCHED_RESET_ON_FORK), then `setpriority` to `sched_nice` for
    /// the classes that have one.
    pub sched_policy: u32,
    pub sched_prio: u32,
    pub sched_nice: i32,
    /// `PR_SET_PDEATHSIG` once the credentials are in place (their
    /// change clears it); 0 for none.
    pub pdeath_sig: u32,
    /// This thread's credentials: threads of one task may differ.
    pub creds: Creds,
    /// This thread's `SeccompFilter`s, oldest first: the first thread's
    /// before its credentials (the loader traces it with seccomp
    /// suspended), the others' after theirs. Threads of one task may
    /// differ.
    pub seccomp: Array,
}

/// The shared status word the loader waits on (a futex).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// `STATE_*`; the futex word.
    pub state: u32,
    /// `STAGE_*` that failed.
    pub stage: u32,
    /// Positive errno of the failed call.
    pub errno: u32,
    /// `TRACER_*`: whether the loader traces the task, written by the
    /// loader right after the fork; the blob waits for it at the end.
    pub tracer: u32,
    /// A stage-specific detail, e.g. the address of the VMA that failed.
    pub detail: u64,
    /// The task's pid in the loader's pid namespace, written by the
    /// loader code in the child before anything else (the blob leaves it).
    pub host_pid: u32,
    pub _pad: u32,
    /// When the task passed each `MARK_*` point: CLOCK_MONOTONIC in
    /// nanoseconds, 0 where it did not get there. The loader code in the
    /// child writes the first ones, the blob the rest; the loader turns
    /// them into stage timings once the tree is restored.
    pub marks: [u64; MARKS],
}

/// Points of one task's restore, in the order it passes them.
/// The loader code in the forked task: it started,
pub const MARK_START: usize = 0;
/// every task of the tree is forked (FORKING is over),
pub const MARK_FORKED: usize = 1;
/// its VMAs are premapped,
pub const MARK_PREMAPPED: usize = 2;
/// their pages are read in,
pub const MARK_FILLED: usize = 3;
/// descriptors, protections and the blob are in place: it enters the blob.
pub const MARK_ENTER: usize = 4;
/// The blob: the loader's mappings are gone (the unmap sweep),
pub const MARK_UNMAPPED: usize = 5;
/// the VMAs are at their dumped addresses,
pub const MARK_REMAPPED: usize = 6;
/// the vdso and the mm fields are set,
pub const MARK_MM: usize = 7;
/// signal actions, timers, limits and pending signals are back,
pub const MARK_SIGNALS: usize = 8;
/// the other threads are cloned (and POSIX timers made),
pub const MARK_THREADS: usize = 9;
/// the whole tree is restored but for credentials (RESTORE is over),
pub const MARK_TREE: usize = 10;
/// this thread's credentials are set,
pub const MARK_CREDS: usize = 11;
/// every thread is done: it hands over to the loader or returns.
pub const MARK_DONE: usize = 12;
/// How many marks a `Status` has.
pub const MARKS: usize = 13;

/// The tree's restore stages, as CRIU's: the whole tree moves from one to
/// the next in lock-step. Each task arrives when it has done its part of
/// the stage (an atomic decrement of `left`) and waits for the next one;
/// the last to arrive opens it (`left` back to `tasks`, `stage` one up,
/// unless the loader has set TREE_FAIL meanwhile) and wakes everyone.
/// PREPARE_NAMESPACES, where only the root arrives, is the loader's to
/// close (it runs the setup-namespaces scripts first). No task runs its
/// own code before COMPLETE.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TreeStage {
    /// `TREE_*`; a futex word every task waits on.
    pub stage: u32,
    /// Tasks yet to arrive at `stage`; a futex word the loader waits on
    /// at PREPARE_NAMESPACES.
    pub left: u32,
    /// Live tasks in the tree (zombies do not take part).
    pub tasks: u32,
    pub _pad: u32,
}

/// The root is forked (no task waits here).
pub const TREE_ROOT_TASK: u32 = 1;
/// The root makes its namespaces (UTS names, IPC objects).
pub const TREE_PREPARE_NAMESPACES: u32 = 2;
/// Every task forks its children (and makes its zombies).
pub const TREE_FORKING: u32 = 3;
/// Every task restores its files, memory and state, but SIGCHLD and
/// credentials.
pub const TREE_RESTORE: u32 = 4;
/// Every task restores its SIGCHLD action.
pub const TREE_RESTORE_SIGCHLD: u32 = 5;
/// Every thread restores its credentials (and seccomp, rseq).
pub const TREE_RESTORE_CREDS: u32 = 6;
/// Done: tasks go back into their own code.
pub const TREE_COMPLETE: u32 = 7;
/// The restore failed: tasks waiting at a stage exit.
pub const TREE_FAIL: u32 = 8;

/// The name of tree stage `s`, as CRIU calls it.
pub fn tree_stage_name(s: u32) -> &'static str {
    match s {
        TREE_ROOT_TASK => "ROOT_TASK",
        TREE_PREPARE_NAMESPACES => "PREPARE_NAMESPACES",
        TREE_FORKING => "FORKING",
        TREE_RESTORE => "RESTORE",
        TREE_RESTORE_SIGCHLD => "RESTORE_SIGCHLD",
        TREE_RESTORE_CREDS => "RESTORE_CREDS",
        TREE_COMPLETE => "COMPLETE",
        TREE_FAIL => "FAIL",
        _ => "unknown",
    }
}

pub const TRACER_UNKNOWN: u32 = 0;
/// The loader traces the task: stop with `int3` right before
/// `rt_sigreturn` so it can unmap the blob once the task is back in its
/// own registers.
pub const TRACER_ATTACHED: u32 = 1;
/// Nobody traces: return directly, the blob stays mapped.
pub const TRACER_NONE: u32 = 2;

pub const STATE_RUNNING: u32 = 0;
pub const STATE_DONE: u32 = 1;
pub const STATE_FAILED: u32 = 2;

/// Stack of each cloned thread while it restores itself.
pub const THREAD_STACK_SIZE: u64 = 32 * 1024;

/// Stages of the blob, in the order it runs them. `stage_name` gives words.
pub const STAGE_ENTRY: u32 = 1;
pub const STAGE_UNMAP: u32 = 2;
pub const STAGE_REMAP: u32 = 3;
pub const STAGE_VDSO: u32 = 4;
pub const STAGE_MM: u32 = 5;
pub const STAGE_SIGACTION: u32 = 6;
pub const STAGE_ITIMER: u32 = 7;
pub const STAGE_RLIMIT: u32 = 8;
pub const STAGE_NAME: u32 = 9;
pub const STAGE_THREAD: u32 = 10;
pub const STAGE_SIGQUEUE: u32 = 11;
pub const STAGE_CREDS: u32 = 12;
pub const STAGE_RSEQ: u32 = 13;
pub const STAGE_SIGRETURN: u32 = 14;
pub const STAGE_POSIX_TIMER: u32 = 15;
pub const STAGE_SECCOMP: u32 = 16;
pub const STAGE_CLONE: u32 = 17;
pub const STAGE_SCHED: u32 = 18;
pub const STAGE_PDEATHSIG: u32 = 19;

/// What the loader prints for a failed stage.
pub fn stage_name(stage: u32) -> &'static str {
    match stage {
        STAGE_ENTRY => "entry (bad argument block)",
        STAGE_UNMAP => "unmapping the loader's memory",
        STAGE_REMAP => "moving a premapped VMA into place (mremap)",
        STAGE_VDSO => "mapping the vdso (arch_prctl ARCH_MAP_VDSO_64)",
        STAGE_MM => "restoring mm fields (prctl PR_SET_MM_MAP)",
        STAGE_SIGACTION => "restoring a signal handler (rt_sigaction)",
        STAGE_ITIMER => "restoring an interval timer (setitimer)",
        STAGE_RLIMIT => "restoring a resource limit (prlimit64)",
        STAGE_NAME => "restoring the task name (prctl PR_SET_NAME)",
        STAGE_THREAD => "restoring thread state (TLS, robust list, altstack)",
        STAGE_SIGQUEUE => "queueing a pending signal (rt_sigqueueinfo)",
        STAGE_CREDS => "restoring credentials",
        STAGE_RSEQ => "registering rseq",
        STAGE_SIGRETURN => "rt_sigreturn",
        STAGE_POSIX_TIMER => "restoring a POSIX timer (timer_create/timer_settime)",
        STAGE_SECCOMP => "installing a seccomp filter",
        STAGE_CLONE => "creating a thread with its tid (clone3)",
        STAGE_SCHED => "restoring the scheduling policy or nice value",
        STAGE_PDEATHSIG => "restoring the parent-death signal (prctl PR_SET_PDEATHSIG)",
        _ => "unknown stage",
    }
}

/// `TaskArgs::fault`: make the blob fail on purpose at this stage (0: never),
/// as CRIU's `CRIU_FAULT` does, so tests can prove that a failing blob is
/// reported and cleaned up.
pub const FAULT_NONE: u32 = 0;

/// The block the blob is entered with.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskArgs {
    pub abi_version: u32,
    /// Size of this block plus everything it refers to, for bound checks.
    pub total_size: u32,
    /// Address of this task's [`Status`] slot in the shared status area.
    pub status: u64,
    /// The shared status area (`status_len` bytes), which the task unmaps
    /// right before `rt_sigreturn`.
    pub status_area: u64,
    /// `Range`s the unmap sweep keeps, sorted and disjoint; the sweep
    /// unmaps every gap below the last range, which starts at the top of
    /// the user address space.
    pub keep: Array,
    /// `VmaMove`s.
    pub vmas: Array,
    pub vdso: Vdso,
    pub mm: PrctlMmMap,
    /// `u64` auxv words for `PR_SET_MM_MAP`.
    pub auxv: Array,
    /// `SigAction`s.
    pub sigactions: Array,
    /// `Itimer`s.
    pub itimers: Array,
    /// `PosixTimer`s.
    pub posix_timers: Array,
    /// `Rlimit`s.
    pub rlimits: Array,
    /// `ThreadArgs`; index 0 is the thread that runs the blob, which
    /// clones the others with their dumped tids.
    pub threads: Array,
    /// Threads still restoring themselves: a futex the first thread waits
    /// on before it finishes (set by the loader to `threads.count - 1`).
    pub threads_left: u32,
    /// Threads other than the first whose credentials are not restored
    /// yet (set by the loader to `threads.count - 1`): the first waits
    /// for 0 before it installs filters that reach every thread (TSYNC).
    pub creds_left: u32,
    /// Process-wide pending signals (`PendingSignal`).
    pub shared_signals: Array,
    pub creds: Creds,
    /// Length of the status area to unmap right before `rt_sigreturn` (it
    /// is shared with the loader and must not outlive the restore).
    pub status_len: u64,
    /// `STAGE_*` at which to fail on purpose, or `FAULT_NONE`.
    pub fault: u32,
    /// exe fd to close after `PR_SET_MM_MAP` (u32::MAX: none).
    pub close_fd: u32,
    /// Address of the tree's [`TreeStage`] in the shared status area.
    pub tree: u64,
    /// Non-zero: the filters were shared by every thread through
    /// SECCOMP_FILTER_FLAG_TSYNC; only the first thread installs them,
    /// with that flag, once the others have their credentials.
    pub seccomp_tsync: u32,
    /// Non-zero: the (only) thread runs in seccomp strict mode.
    pub seccomp_strict: u32,
}

/// Arguments of the self-test entry (`__export_selftest`), which proves the
/// build, relocation and ABI: it writes `value` to `out` (through a static
/// that needs a relocation) and calls `exit_group(code)`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SelftestArgs {
    pub out: u64,
    pub value: u64,
    pub code: u32,
    pub _pad: u32,
}

const _: () = assert!(size_of::<Array>() == 16);
const _: () = assert!(size_of::<Range>() == 16);
const _: () = assert!(size_of::<VmaMove>() == 24);
const _: () = assert!(size_of::<SigAction>() == 40);
const _: () = assert!(size_of::<Rlimit>() == 24);
const _: () = assert!(size_of::<PendingSignal>() == 136);
const _: () = assert!(size_of::<Itimer>() == 40);
const _: () = assert!(size_of::<PosixTimer>() == 64);
const _: () = assert!(size_of::<SeccompFilter>() == 16);
const _: () = assert!(size_of::<PrctlMmMap>() == 104);
const _: () = assert!(size_of::<Creds>() == 112);
const _: () = assert!(size_of::<Rseq>() == 16);
const _: () = assert!(size_of::<Vdso>() == 16);
const _: () = assert!(size_of::<ThreadArgs>() == 256);
const _: () = assert!(size_of::<Status>() == 32 + 8 * MARKS);
const _: () = assert!(size_of::<TaskArgs>() == 440);
const _: () = assert!(size_of::<SelftestArgs>() == 24);
