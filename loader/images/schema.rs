//! CRIU 4.2's messages (`images/*.proto`, tag v4.2) that crest reads and
//! writes, each declared once: the `message!`/`criu_enum!` macros of `desc`
//! turn a declaration into the prost type used by dump and restore and the
//! descriptor `crest show` prints from, with the same tags, kinds and labels.
//!
//! Fields whose type is a message not declared here (for example the inet,
//! packet and netlink socket entries inside `file_entry`) are left out: prost
//! skips their tags when decoding, and `unknown_fields` keeps them across a
//! rewrite because no descriptor names them.

use super::desc::{criu_enum, message, Fmt, MsgDesc};

// ---------------------------------------------------------------------------
// Flag and value tables (crit's names)
// ---------------------------------------------------------------------------

/// `mmap.prot`.
pub static MMAP_PROT: [(u64, &str); 3] =
    [(0x1, "PROT_READ"), (0x2, "PROT_WRITE"), (0x4, "PROT_EXEC")];

/// `mmap.flags`.
pub static MMAP_FLAGS: [(u64, &str); 5] = [
    (0x1, "MAP_SHARED"),
    (0x2, "MAP_PRIVATE"),
    (0x8, "MAP_DROPPABLE"),
    (0x20, "MAP_ANON"),
    (0x100, "MAP_GROWSDOWN"),
];

/// `mmap.status`: CRIU's `VMA_*` bits. `VMA_AREA_NONE` is 0 and never shown.
pub static MMAP_STATUS: [(u64, &str); 18] = [
    (0, "VMA_AREA_NONE"),
    (1 << 0, "VMA_AREA_REGULAR"),
    (1 << 1, "VMA_AREA_STACK"),
    (1 << 2, "VMA_AREA_VSYSCALL"),
    (1 << 3, "VMA_AREA_VDSO"),
    (1 << 5, "VMA_AREA_HEAP"),
    (1 << 6, "VMA_FILE_PRIVATE"),
    (1 << 7, "VMA_FILE_SHARED"),
    (1 << 8, "VMA_ANON_SHARED"),
    (1 << 9, "VMA_ANON_PRIVATE"),
    (1 << 10, "VMA_AREA_SYSVIPC"),
    (1 << 11, "VMA_AREA_SOCKET"),
    (1 << 12, "VMA_AREA_VVAR"),
    (1 << 13, "VMA_AREA_AIORING"),
    (1 << 14, "VMA_AREA_MEMFD"),
    (1 << 15, "VMA_AREA_SHSTK"),
    (1 << 17, "VMA_AREA_UPROBES"),
    (1 << 31, "VMA_UNSUPP"),
];

/// `rfile.flags`: `O_*` open flags (octal, as in the kernel headers).
pub static RFILE_FLAGS: [(u64, &str); 16] = [
    (0o1, "O_WRONLY"),
    (0o2, "O_RDWR"),
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o10000, "O_DSYNC"),
    (0o20000, "FASYNC"),
    (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"),
];

/// `pmap.flags`: `PE_*` pagemap bits.
pub static PMAP_FLAGS: [(u64, &str); 3] = [
    (1 << 0, "PE_PARENT"),
    (1 << 1, "PE_LAZY"),
    (1 << 2, "PE_PRESENT"),
];

/// `seals.flags`: memfd `F_SEAL_*` bits.
pub static SEALS_FLAGS: [(u64, &str); 5] = [
    (0x1, "F_SEAL_SEAL"),
    (0x2, "F_SEAL_SHRINK"),
    (0x4, "F_SEAL_GROW"),
    (0x8, "F_SEAL_WRITE"),
    (0x10, "F_SEAL_FUTURE_WRITE"),
];

/// crit's `gen` dictionary for `task_core_entry.task_state`.
///
/// This is crit's table verbatim. Note that compel numbers the states
/// 1 alive, 2 dead, 3 stopped, 6 zombie, so crit shows 3 and 6 swapped.
pub static TASK_STATE_GEN: [(u64, &str); 3] = [(1, "Alive"), (3, "Zombie"), (6, "Stopped")];

/// crit's `sk` dictionary for a socket's `type` (`SOCK_*`).
pub static SK_TYPE: [(u64, &str); 5] = [
    (1, "STREAM"),
    (2, "DGRAM"),
    (3, "RAW"),
    (5, "SEQPACKET"),
    (10, "PACKET"),
];

/// crit's `sk` dictionary for a socket's `state` (`TCP_*` numbering).
pub static SK_STATE: [(u64, &str); 10] = [
    (1, "ESTABLISHED"),
    (2, "SYN_SENT"),
    (3, "SYN_RECV"),
    (4, "FIN_WAIT1"),
    (5, "FIN_WAIT2"),
    (6, "TIME_WAIT"),
    (7, "CLOSE"),
    (8, "CLOSE_WAIT"),
    (9, "LAST_ACK"),
    (10, "LISTEN"),
];

/// crit's `sk` dictionary for a socket's `family` (`AF_*`).
pub static SK_FAMILY: [(u64, &str); 5] = [
    (1, "UNIX"),
    (2, "INET"),
    (10, "INET6"),
    (16, "NETLINK"),
    (17, "PACKET"),
];

/// crit's `sk` dictionary for an inet socket's `proto` (`IPPROTO_*`).
pub static SK_PROTO: [(u64, &str); 4] = [(0, "IP"), (6, "TCP"), (17, "UDP"), (136, "UDPLITE")];

// ---------------------------------------------------------------------------
// Enumerations
// ---------------------------------------------------------------------------
criu_enum! {
    /// CRIU `seccomp_mode` (images/core.proto).
    SeccompMode, SECCOMP_MODE = "seccomp_mode" {
        Disabled = 0 "disabled",
        Strict = 1 "strict",
        Filter = 2 "filter",
    }
}

criu_enum! {
    /// CRIU `user_x86_regs_mode` (images/core-x86.proto).
    UserX86RegsMode, USER_X86_REGS_MODE = "user_x86_regs_mode" {
        Native = 1 "NATIVE",
        Compat = 2 "COMPAT",
    }
}

criu_enum! {
    /// CRIU `lsmtype` (images/inventory.proto).
    Lsmtype, LSMTYPE = "lsmtype" {
        NoLsm = 0 "NO_LSM",
        Selinux = 1 "SELINUX",
        Apparmor = 2 "APPARMOR",
    }
}

criu_enum! {
    /// CRIU `fd_types` (images/fdinfo.proto).
    FdTypes, FD_TYPES = "fd_types" {
        Und = 0 "UND",
        Reg = 1 "REG",
        Pipe = 2 "PIPE",
        Fifo = 3 "FIFO",
        Inetsk = 4 "INETSK",
        Unixsk = 5 "UNIXSK",
        Eventfd = 6 "EVENTFD",
        Eventpoll = 7 "EVENTPOLL",
        Inotify = 8 "INOTIFY",
        Signalfd = 9 "SIGNALFD",
        Packetsk = 10 "PACKETSK",
        Tty = 11 "TTY",
        Fanotify = 12 "FANOTIFY",
        Netlinksk = 13 "NETLINKSK",
        Ns = 14 "NS",
        Tunf = 15 "TUNF",
        Ext = 16 "EXT",
        Timerfd = 17 "TIMERFD",
        Memfd = 18 "MEMFD",
        Bpfmap = 19 "BPFMAP",
        Pidfd = 20 "PIDFD",
        /// Never stored in an image (CRIU-internal).
        CtlTty = 65534 "CTL_TTY",
        /// Never stored in an image (CRIU-internal).
        AutofsPipe = 65535 "AUTOFS_PIPE",
    }
}

criu_enum! {
    /// CRIU `TtyType` (images/tty.proto).
    TtyType, TTY_TYPE = "TtyType" {
        Unknown = 0 "UNKNOWN",
        Pty = 1 "PTY",
        Console = 2 "CONSOLE",
        Vt = 3 "VT",
        Ctty = 4 "CTTY",
        ExtTty = 5 "EXT_TTY",
        Serial = 6 "SERIAL",
    }
}

criu_enum! {
    /// CRIU `sk_shutdown` (images/sk-opts.proto).
    SkShutdown, SK_SHUTDOWN = "sk_shutdown" {
        None = 0 "NONE",
        Read = 1 "READ",
        Write = 2 "WRITE",
        Both = 3 "BOTH",
    }
}

/// Values of `task_core_entry.task_state` (a plain uint32 in the schema; the
/// numbers are compel's `enum __compel_task_state`, compel/include/uapi/task-state.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum TaskState {
    Alive = 1,
    Dead = 2,
    Stopped = 3,
    Zombie = 6,
}

// ---------------------------------------------------------------------------
// inventory.proto
// ---------------------------------------------------------------------------
message! {
    /// CRIU `plugins_entry` (images/inventory.proto).
    PluginsEntry, PLUGINS_ENTRY = "plugins_entry" {
        12 plugins: repeated string,
    }
}

message! {
    /// CRIU `inventory_entry` (images/inventory.proto).
    InventoryEntry, INVENTORY_ENTRY = "inventory_entry" {
        1 img_version: required uint32,
        2 fdinfo_per_id: optional bool,
        3 root_ids: optional message(TaskKobjIdsEntry, TASK_KOBJ_IDS_ENTRY),
        4 ns_per_id: optional bool,
        5 root_cg_set: optional uint32,
        6 lsmtype: optional enumeration("Lsmtype", LSMTYPE),
        8 dump_uptime: optional uint64,
        9 pre_dump_mode: optional uint32,
        10 tcp_close: optional bool,
        11 network_lock_method: optional uint32,
        12 plugins_entry: optional message(PluginsEntry, PLUGINS_ENTRY),
        13 dump_criu_run_id: optional string,
        14 allow_uprobes: optional bool,
    }
}

// ---------------------------------------------------------------------------
// pstree.proto
// ---------------------------------------------------------------------------
message! {
    /// CRIU `pstree_entry` (images/pstree.proto).
    PstreeEntry, PSTREE_ENTRY = "pstree_entry" {
        1 pid: required uint32,
        2 ppid: required uint32,
        3 pgid: required uint32,
        4 sid: required uint32,
        5 threads: repeated uint32,
    }
}

// ---------------------------------------------------------------------------
// core-x86.proto
// ---------------------------------------------------------------------------
message! {
    /// CRIU `user_x86_regs_entry` (images/core-x86.proto).
    UserX86RegsEntry, USER_X86_REGS_ENTRY = "user_x86_regs_entry" {
        1 r15: required uint64,
        2 r14: required uint64,
        3 r13: required uint64,
        4 r12: required uint64,
        5 bp: required uint64,
        6 bx: required uint64,
        7 r11: required uint64,
        8 r10: required uint64,
        9 r9: required uint64,
        10 r8: required uint64,
        11 ax: required uint64,
        12 cx: required uint64,
        13 dx: required uint64,
        14 si: required uint64,
        15 di: required uint64,
        16 orig_ax: required uint64,
        17 ip: required uint64,
        18 cs: required uint64,
        19 flags: required uint64,
        20 sp: required uint64,
        21 ss: required uint64,
        22 fs_base: required uint64,
        23 gs_base: required uint64,
        24 ds: required uint64,
        25 es: required uint64,
        26 fs: required uint64,
        27 gs: required uint64,
        /// Schema default: `NATIVE`.
        28 mode: optional enumeration("UserX86RegsMode", USER_X86_REGS_MODE) default("Native"),
    }
}

message! {
    /// CRIU `user_x86_cet_entry` (images/core-x86.proto).
    UserX86CetEntry, USER_X86_CET_ENTRY = "user_x86_cet_entry" {
        1 cet: required uint64 fmt(Fmt::Hex),
        2 ssp: required uint64 fmt(Fmt::Hex),
    }
}

message! {
    /// CRIU `user_x86_xsave_entry` (images/core-x86.proto).
    UserX86XsaveEntry, USER_X86_XSAVE_ENTRY = "user_x86_xsave_entry" {
        1 xstate_bv: required uint64,
        2 ymmh_space: repeated uint32,
        3 bndreg_state: repeated uint64,
        4 bndcsr_state: repeated uint64,
        5 opmask_reg: repeated uint64,
        6 zmm_upper: repeated uint64,
        7 hi16_zmm: repeated uint64,
        8 pkru: repeated uint32,
        9 cet: optional message(UserX86CetEntry, USER_X86_CET_ENTRY),
    }
}

message! {
    /// CRIU `user_x86_fpregs_entry` (images/core-x86.proto).
    UserX86FpregsEntry, USER_X86_FPREGS_ENTRY = "user_x86_fpregs_entry" {
        1 cwd: required uint32,
        2 swd: required uint32,
        3 twd: required uint32,
        4 fop: required uint32,
        5 rip: required uint64,
        6 rdp: required uint64,
        7 mxcsr: required uint32,
        8 mxcsr_mask: required uint32,
        9 st_space: repeated uint32,
        10 xmm_space: repeated uint32,
        /// Unused, kept for backward compatibility.
        11 padding: repeated uint32,
        13 xsave: optional message(UserX86XsaveEntry, USER_X86_XSAVE_ENTRY),
    }
}

message! {
    /// CRIU `user_desc_t` (images/core-x86.proto).
    UserDescT, USER_DESC_T = "user_desc_t" {
        1 entry_number: required uint32,
        2 base_addr: required uint32,
        3 limit: required uint32,
        4 seg_32bit: required bool,
        5 contents_h: required bool,
        6 contents_l: required bool,
        7 read_exec_only: required bool default("true"),
        8 limit_in_pages: required bool,
        9 seg_not_present: required bool default("true"),
        10 usable: required bool,
    }
}

message! {
    /// CRIU `thread_info_x86` (images/core-x86.proto).
    ThreadInfoX86, THREAD_INFO_X86 = "thread_info_x86" {
        1 clear_tid_addr: required uint64 fmt(Fmt::Hex),
        2 gpregs: required message(UserX86RegsEntry, USER_X86_REGS_ENTRY) fmt(Fmt::Hex),
        3 fpregs: required message(UserX86FpregsEntry, USER_X86_FPREGS_ENTRY),
        4 tls: repeated message(UserDescT, USER_DESC_T),
    }
}

// ---------------------------------------------------------------------------
// rlimit.proto, timer.proto, creds.proto, sa.proto, siginfo.proto, rseq.proto
// ---------------------------------------------------------------------------
message! {
    /// CRIU `rlimit_entry` (images/rlimit.proto).
    RlimitEntry, RLIMIT_ENTRY = "rlimit_entry" {
        1 cur: required uint64,
        2 max: required uint64,
    }
}

message! {
    /// CRIU `itimer_entry` (images/timer.proto).
    ItimerEntry, ITIMER_ENTRY = "itimer_entry" {
        1 isec: required uint64,
        2 iusec: required uint64,
        3 vsec: required uint64,
        4 vusec: required uint64,
    }
}

message! {
    /// CRIU `posix_timer_entry` (images/timer.proto).
    PosixTimerEntry, POSIX_TIMER_ENTRY = "posix_timer_entry" {
        1 it_id: required uint32,
        2 clock_id: required uint32,
        3 si_signo: required uint32,
        4 it_sigev_notify: required uint32,
        5 sival_ptr: required uint64,
        6 overrun: required uint32,
        7 isec: required uint64,
        8 insec: required uint64,
        9 vsec: required uint64,
        10 vnsec: required uint64,
        11 notify_thread_id: optional int32,
    }
}

message! {
    /// CRIU `task_timers_entry` (images/timer.proto).
    TaskTimersEntry, TASK_TIMERS_ENTRY = "task_timers_entry" {
        1 real: required message(ItimerEntry, ITIMER_ENTRY),
        2 virt: required message(ItimerEntry, ITIMER_ENTRY),
        3 prof: required message(ItimerEntry, ITIMER_ENTRY),
        4 posix: repeated message(PosixTimerEntry, POSIX_TIMER_ENTRY),
    }
}

message! {
    /// CRIU `creds_entry` (images/creds.proto).
    CredsEntry, CREDS_ENTRY = "creds_entry" {
        1 uid: required uint32,
        2 gid: required uint32,
        3 euid: required uint32,
        4 egid: required uint32,
        5 suid: required uint32,
        6 sgid: required uint32,
        7 fsuid: required uint32,
        8 fsgid: required uint32,
        9 cap_inh: repeated uint32,
        10 cap_prm: repeated uint32,
        11 cap_eff: repeated uint32,
        12 cap_bnd: repeated uint32,
        13 secbits: required uint32,
        14 groups: repeated uint32,
        15 lsm_profile: optional string,
        16 lsm_sockcreate: optional string,
        17 apparmor_data: optional bytes,
        18 no_new_privs: optional uint32,
        19 cap_amb: repeated uint32,
    }
}

message! {
    /// CRIU `sa_entry` (images/sa.proto): one signal's `sigaction`.
    SaEntry, SA_ENTRY = "sa_entry" {
        1 sigaction: required uint64 fmt(Fmt::Hex),
        2 flags: required uint64 fmt(Fmt::Hex),
        3 restorer: required uint64 fmt(Fmt::Hex),
        4 mask: required uint64 fmt(Fmt::Hex),
        5 compat_sigaction: optional bool,
        6 mask_extended: optional uint64 fmt(Fmt::Hex),
    }
}

message! {
    /// CRIU `siginfo_entry` (images/siginfo.proto): a raw `siginfo_t`.
    SiginfoEntry, SIGINFO_ENTRY = "siginfo_entry" {
        1 siginfo: required bytes,
    }
}

message! {
    /// CRIU `signal_queue_entry` (images/siginfo.proto).
    SignalQueueEntry, SIGNAL_QUEUE_ENTRY = "signal_queue_entry" {
        1 signals: repeated message(SiginfoEntry, SIGINFO_ENTRY),
    }
}

message! {
    /// CRIU `rseq_entry` (images/rseq.proto).
    RseqEntry, RSEQ_ENTRY = "rseq_entry" {
        1 rseq_abi_pointer: required uint64,
        2 rseq_abi_size: required uint32,
        3 signature: required uint32,
        4 rseq_cs_pointer: optional uint64,
    }
}

// ---------------------------------------------------------------------------
// core.proto
// ---------------------------------------------------------------------------
message! {
    /// CRIU `task_core_entry` (images/core.proto).
    TaskCoreEntry, TASK_CORE_ENTRY = "task_core_entry" {
        /// See [`TaskState`] for the values.
        1 task_state: required uint32 fmt(Fmt::Dict(&TASK_STATE_GEN)),
        2 exit_code: required uint32,
        3 personality: required uint32,
        4 flags: required uint32,
        5 blk_sigset: required uint64 fmt(Fmt::Hex),
        6 comm: required string,
        7 timers: optional message(TaskTimersEntry, TASK_TIMERS_ENTRY),
        8 rlimits: optional message(TaskRlimitsEntry, TASK_RLIMITS_ENTRY),
        /// Deprecated (per-thread now).
        9 cg_set: optional uint32,
        10 signals_s: optional message(SignalQueueEntry, SIGNAL_QUEUE_ENTRY),
        /// Deprecated (per-thread now).
        11 old_seccomp_mode: optional enumeration("SeccompMode", SECCOMP_MODE),
        /// Deprecated (per-thread now).
        12 old_seccomp_filter: optional uint32,
        13 loginuid: optional uint32,
        14 oom_score_adj: optional int32,
        15 sigactions: repeated message(SaEntry, SA_ENTRY),
        18 child_subreaper: optional bool,
        20 blk_sigset_extended: optional uint64 fmt(Fmt::Hex),
        21 stop_signo: optional uint32,
        22 membarrier_registration_mask: optional uint32 fmt(Fmt::Hex),
    }
}

message! {
    /// CRIU `task_kobj_ids_entry` (images/core.proto).
    TaskKobjIdsEntry, TASK_KOBJ_IDS_ENTRY = "task_kobj_ids_entry" {
        1 vm_id: required uint32,
        2 files_id: required uint32,
        3 fs_id: required uint32,
        4 sighand_id: required uint32,
        5 pid_ns_id: optional uint32,
        6 net_ns_id: optional uint32,
        7 ipc_ns_id: optional uint32,
        8 uts_ns_id: optional uint32,
        9 mnt_ns_id: optional uint32,
        10 user_ns_id: optional uint32,
        11 cgroup_ns_id: optional uint32,
        12 time_ns_id: optional uint32,
    }
}

message! {
    /// CRIU `thread_sas_entry` (images/core.proto): the sigaltstack.
    ThreadSasEntry, THREAD_SAS_ENTRY = "thread_sas_entry" {
        1 ss_sp: required uint64,
        2 ss_size: required uint64,
        3 ss_flags: required uint32,
    }
}

message! {
    /// CRIU `thread_core_entry` (images/core.proto).
    ThreadCoreEntry, THREAD_CORE_ENTRY = "thread_core_entry" {
        1 futex_rla: required uint64,
        2 futex_rla_len: required uint32,
        3 sched_nice: optional sint32,
        4 sched_policy: optional uint32,
        5 sched_prio: optional uint32,
        6 blk_sigset: optional uint64,
        7 sas: optional message(ThreadSasEntry, THREAD_SAS_ENTRY),
        8 pdeath_sig: optional uint32,
        9 signals_p: optional message(SignalQueueEntry, SIGNAL_QUEUE_ENTRY),
        10 creds: optional message(CredsEntry, CREDS_ENTRY),
        11 seccomp_mode: optional enumeration("SeccompMode", SECCOMP_MODE),
        12 seccomp_filter: optional uint32,
        13 comm: optional string,
        14 blk_sigset_extended: optional uint64,
        15 rseq_entry: optional message(RseqEntry, RSEQ_ENTRY),
        16 cg_set: optional uint32,
    }
}

message! {
    /// CRIU `task_rlimits_entry` (images/core.proto).
    TaskRlimitsEntry, TASK_RLIMITS_ENTRY = "task_rlimits_entry" {
        1 rlimits: repeated message(RlimitEntry, RLIMIT_ENTRY),
    }
}

message! {
    /// CRIU `core_entry` (images/core.proto).
    ///
    /// The per-architecture `thread_info` fields other than x86 (tags 6, 8-13)
    /// are not mirrored.
    CoreEntry, CORE_ENTRY = "core_entry" {
        1 mtype: required enumeration("core_entry::March", core_entry::CORE_ENTRY_MARCH),
        2 thread_info: optional message(ThreadInfoX86, THREAD_INFO_X86),
        3 tc: optional message(TaskCoreEntry, TASK_CORE_ENTRY),
        4 ids: optional message(TaskKobjIdsEntry, TASK_KOBJ_IDS_ENTRY),
        5 thread_core: optional message(ThreadCoreEntry, THREAD_CORE_ENTRY),
    }
}

/// Nested types of CRIU `core_entry`.
pub mod core_entry {
    use super::criu_enum;
    criu_enum! {
        /// CRIU `core_entry.march` (images/core.proto).
        March, CORE_ENTRY_MARCH = "core_entry.march" {
            Unknown = 0 "UNKNOWN",
            X8664 = 1 "X86_64",
            Arm = 2 "ARM",
            Aarch64 = 3 "AARCH64",
            Ppc64 = 4 "PPC64",
            S390 = 5 "S390",
            Mips = 6 "MIPS",
            Loongarch64 = 7 "LOONGARCH64",
            Riscv64 = 8 "RISCV64",
        }
    }
}

// ---------------------------------------------------------------------------
// mm.proto, vma.proto, pagemap.proto
// ---------------------------------------------------------------------------
message! {
    /// CRIU `aio_ring_entry` (images/mm.proto).
    AioRingEntry, AIO_RING_ENTRY = "aio_ring_entry" {
        1 id: required uint64,
        2 nr_req: required uint32,
        3 ring_len: required uint32,
    }
}

message! {
    /// CRIU `mm_entry` (images/mm.proto).
    MmEntry, MM_ENTRY = "mm_entry" {
        1 mm_start_code: required uint64 fmt(Fmt::Hex),
        2 mm_end_code: required uint64 fmt(Fmt::Hex),
        3 mm_start_data: required uint64 fmt(Fmt::Hex),
        4 mm_end_data: required uint64 fmt(Fmt::Hex),
        5 mm_start_stack: required uint64 fmt(Fmt::Hex),
        6 mm_start_brk: required uint64 fmt(Fmt::Hex),
        7 mm_brk: required uint64 fmt(Fmt::Hex),
        8 mm_arg_start: required uint64 fmt(Fmt::Hex),
        9 mm_arg_end: required uint64 fmt(Fmt::Hex),
        10 mm_env_start: required uint64 fmt(Fmt::Hex),
        11 mm_env_end: required uint64 fmt(Fmt::Hex),
        12 exe_file_id: required uint32,
        13 mm_saved_auxv: repeated uint64,
        14 vmas: repeated message(VmaEntry, VMA_ENTRY),
        15 dumpable: optional int32,
        16 aios: repeated message(AioRingEntry, AIO_RING_ENTRY),
        17 thp_disabled: optional bool,
    }
}

message! {
    /// CRIU `vma_entry` (images/vma.proto).
    VmaEntry, VMA_ENTRY = "vma_entry" {
        1 start: required uint64 fmt(Fmt::Hex),
        2 end: required uint64 fmt(Fmt::Hex),
        3 pgoff: required uint64,
        4 shmid: required uint64,
        /// `PROT_*` bits.
        5 prot: required uint32 fmt(Fmt::Flags(&MMAP_PROT)),
        /// `MAP_*` bits.
        6 flags: required uint32 fmt(Fmt::Flags(&MMAP_FLAGS)),
        /// CRIU `VMA_*` status bits.
        7 status: required uint32 fmt(Fmt::Flags(&MMAP_STATUS)),
        /// Unused; -1 by default.
        8 fd: required sint64,
        /// madvise bitmap.
        9 madv: optional uint64 fmt(Fmt::Hex),
        /// File status flags.
        10 fdflags: optional uint32 fmt(Fmt::Hex),
    }
}

message! {
    /// CRIU `pagemap_head` (images/pagemap.proto): first record of a pagemap image.
    PagemapHead, PAGEMAP_HEAD = "pagemap_head" {
        1 pages_id: required uint32,
    }
}

message! {
    /// CRIU `pagemap_entry` (images/pagemap.proto).
    PagemapEntry, PAGEMAP_ENTRY = "pagemap_entry" {
        1 vaddr: required uint64 fmt(Fmt::Hex),
        /// 32-bit page count; CRIU 4.x writes `nr_pages` (tag 5) as well.
        2 compat_nr_pages: required uint32,
        3 in_parent: optional bool,
        /// `PE_*` bits.
        4 flags: optional uint32 fmt(Fmt::Flags(&PMAP_FLAGS)),
        5 nr_pages: optional uint64,
    }
}

// ---------------------------------------------------------------------------
// fs.proto, timens.proto, seccomp.proto, stats.proto
// ---------------------------------------------------------------------------
message! {
    /// CRIU `fs_entry` (images/fs.proto).
    FsEntry, FS_ENTRY = "fs_entry" {
        1 cwd_id: required uint32,
        2 root_id: required uint32,
        3 umask: optional uint32,
    }
}

message! {
    /// CRIU `timespec` (images/timens.proto).
    Timespec, TIMESPEC = "timespec" {
        1 tv_sec: required uint64,
        2 tv_nsec: required uint64,
    }
}

message! {
    /// CRIU `timens_entry` (images/timens.proto).
    TimensEntry, TIMENS_ENTRY = "timens_entry" {
        1 monotonic: required message(Timespec, TIMESPEC),
        2 boottime: required message(Timespec, TIMESPEC),
    }
}

message! {
    /// CRIU `seccomp_filter` (images/seccomp.proto).
    SeccompFilter, SECCOMP_FILTER = "seccomp_filter" {
        /// Raw `struct sock_filter` array.
        1 filter: required bytes,
        2 prev: optional uint32,
        3 flags: optional uint32,
    }
}

message! {
    /// CRIU `seccomp_entry` (images/seccomp.proto).
    SeccompEntry, SECCOMP_ENTRY = "seccomp_entry" {
        1 seccomp_filters: repeated message(SeccompFilter, SECCOMP_FILTER),
    }
}

message! {
    /// CRIU `dump_stats_entry` (images/stats.proto).
    DumpStatsEntry, DUMP_STATS_ENTRY = "dump_stats_entry" {
        1 freezing_time: required uint32,
        2 frozen_time: required uint32,
        3 memdump_time: required uint32,
        4 memwrite_time: required uint32,
        5 pages_scanned: required uint64,
        6 pages_skipped_parent: required uint64,
        7 pages_written: required uint64,
        8 irmap_resolve: optional uint32,
        9 pages_lazy: required uint64,
        10 page_pipes: optional uint64,
        11 page_pipe_bufs: optional uint64,
        12 shpages_scanned: optional uint64,
        13 shpages_skipped_parent: optional uint64,
        14 shpages_written: optional uint64,
    }
}

message! {
    /// CRIU `restore_stats_entry` (images/stats.proto).
    RestoreStatsEntry, RESTORE_STATS_ENTRY = "restore_stats_entry" {
        1 pages_compared: required uint64,
        2 pages_skipped_cow: required uint64,
        3 forking_time: required uint32,
        4 restore_time: required uint32,
        5 pages_restored: optional uint64,
        /// crest's own stage sums over the tree, in microseconds, at
        /// numbers far past CRIU's (its decoders skip them): premapping
        /// the VMAs, reading their pages in, the blob's own work, and the
        /// blob's waits for the rest of the tree.
        101 crest_premap_time: optional uint32,
        102 crest_fill_time: optional uint32,
        103 crest_blob_time: optional uint32,
        104 crest_wait_time: optional uint32,
    }
}

message! {
    /// CRIU `stats_entry` (images/stats.proto).
    StatsEntry, STATS_ENTRY = "stats_entry" {
        1 dump: optional message(DumpStatsEntry, DUMP_STATS_ENTRY),
        2 restore: optional message(RestoreStatsEntry, RESTORE_STATS_ENTRY),
    }
}

// ---------------------------------------------------------------------------
// fdinfo.proto and the file kinds it references
// ---------------------------------------------------------------------------
message! {
    /// CRIU `fown_entry` (images/fown.proto).
    FownEntry, FOWN_ENTRY = "fown_entry" {
        1 uid: required uint32,
        2 euid: required uint32,
        3 signum: required uint32,
        4 pid_type: required uint32,
        5 pid: required uint32,
    }
}

message! {
    /// CRIU `fdinfo_entry` (images/fdinfo.proto).
    FdinfoEntry, FDINFO_ENTRY = "fdinfo_entry" {
        1 id: required uint32,
        /// fd flags (`FD_CLOEXEC`).
        2 flags: required uint32,
        3 r#type as "type": required enumeration("FdTypes", FD_TYPES),
        4 fd: required uint32,
        5 xattr_security_selinux: optional string,
    }
}

message! {
    /// CRIU `eventpoll_tfd_entry` (images/eventpoll.proto): one watched
    /// descriptor of an epoll instance.
    EventpollTfdEntry, EVENTPOLL_TFD_ENTRY = "eventpoll_tfd_entry" {
        1 id: required uint32,
        2 tfd: required uint32,
        3 events: required uint32,
        4 data: required uint64,
        5 dev: optional uint32,
        6 inode: optional uint64,
        7 pos: optional uint64,
    }
}

message! {
    /// CRIU `eventpoll_file_entry` (images/eventpoll.proto).
    EventpollFileEntry, EVENTPOLL_FILE_ENTRY = "eventpoll_file_entry" {
        1 id: required uint32,
        2 flags: required uint32,
        3 fown: required message(FownEntry, FOWN_ENTRY),
        4 tfd: repeated message(EventpollTfdEntry, EVENTPOLL_TFD_ENTRY),
    }
}

message! {
    /// CRIU `file_entry` (images/fdinfo.proto).
    ///
    /// Only the kinds mirrored in this module are present; the tun and
    /// bpfmap payloads (tags 11, 21) are skipped when decoding.
    FileEntry, FILE_ENTRY = "file_entry" {
        1 r#type as "type": required enumeration("FdTypes", FD_TYPES),
        2 id: required uint32,
        3 reg: optional message(RegFileEntry, REG_FILE_ENTRY),
        4 isk: optional message(InetSkEntry, INET_SK_ENTRY),
        5 nsf: optional message(NsFileEntry, NS_FILE_ENTRY),
        6 psk: optional message(PacketSockEntry, PACKET_SOCK_ENTRY),
        7 nlsk: optional message(NetlinkSkEntry, NETLINK_SK_ENTRY),
        8 efd: optional message(EventfdFileEntry, EVENTFD_FILE_ENTRY),
        9 epfd: optional message(EventpollFileEntry, EVENTPOLL_FILE_ENTRY),
        10 sgfd: optional message(SignalfdEntry, SIGNALFD_ENTRY),
        12 tfd: optional message(TimerfdEntry, TIMERFD_ENTRY),
        13 ify: optional message(InotifyFileEntry, INOTIFY_FILE_ENTRY),
        14 ffy: optional message(FanotifyFileEntry, FANOTIFY_FILE_ENTRY),
        15 ext: optional message(ExtFileEntry, EXT_FILE_ENTRY),
        16 usk: optional message(UnixSkEntry, UNIX_SK_ENTRY),
        17 fifo: optional message(FifoEntry, FIFO_ENTRY),
        18 pipe: optional message(PipeEntry, PIPE_ENTRY),
        19 tty: optional message(TtyFileEntry, TTY_FILE_ENTRY),
        20 memfd: optional message(MemfdFileEntry, MEMFD_FILE_ENTRY),
        22 pidfd: optional message(PidfdEntry, PIDFD_ENTRY),
    }
}

message! {
    /// CRIU `reg_file_entry` (images/regfile.proto).
    RegFileEntry, REG_FILE_ENTRY = "reg_file_entry" {
        1 id: required uint32,
        /// `O_*` open flags.
        2 flags: required uint32 fmt(Fmt::Flags(&RFILE_FLAGS)),
        3 pos: required uint64,
        5 fown: required message(FownEntry, FOWN_ENTRY),
        6 name: required string,
        /// Schema default: -1.
        7 mnt_id: optional sint32 default("-1"),
        8 size: optional uint64,
        9 ext: optional bool,
        10 mode: optional uint32,
        11 build_id: repeated uint32,
        12 checksum: optional uint32,
        13 checksum_config: optional uint32,
        14 checksum_parameter: optional uint32,
    }
}

message! {
    /// CRIU `file_lock_entry` (images/file-lock.proto): a lock `pid`
    /// holds through its descriptor `fd`. `flag` is the kind (FL_POSIX 1,
    /// FL_FLOCK 2, FL_OFD 4, FL_LEASE 8), `type` F_RDLCK 0 or F_WRLCK 1;
    /// `len` 0 reaches to the end of the file.
    FileLockEntry, FILE_LOCK_ENTRY = "file_lock_entry" {
        1 flag: required uint32,
        2 r#type as "type": required uint32,
        3 pid: required int32,
        4 fd: required int32,
        5 start: required int64,
        6 len: required int64,
    }
}

criu_enum! {
    /// CRIU `remap_type` (images/remap-file-path.proto).
    RemapType, REMAP_TYPE = "remap_type" {
        Linked = 0 "LINKED",
        Ghost = 1 "GHOST",
        Procfs = 2 "PROCFS",
    }
}

message! {
    /// CRIU `remap_file_path_entry` (images/remap-file-path.proto): the
    /// file `orig_id` is reopened through `remap_id` (a ghost file's id, a
    /// linked file's files.img id, or a pid for /proc).
    RemapFilePathEntry, REMAP_FILE_PATH_ENTRY = "remap_file_path_entry" {
        1 orig_id: required uint32,
        2 remap_id: required uint32,
        3 remap_type: optional enumeration("RemapType", REMAP_TYPE),
    }
}

message! {
    /// CRIU `timeval` (images/time.proto).
    Timeval, TIMEVAL = "timeval" {
        1 tv_sec: required uint64,
        2 tv_usec: required uint64,
    }
}

message! {
    /// CRIU `ghost_file_entry` (images/ghost-file.proto): a deleted file
    /// kept in `ghost-file-<id>.img`, its contents after it (as chunks
    /// when `chunks`, else to the end of the image).
    GhostFileEntry, GHOST_FILE_ENTRY = "ghost_file_entry" {
        1 uid: required uint32,
        2 gid: required uint32,
        3 mode: required uint32,
        4 dev: optional uint32 fmt(Fmt::Dev),
        5 ino: optional uint64,
        6 rdev: optional uint32 fmt(Fmt::Odev),
        7 atim: optional message(Timeval, TIMEVAL),
        8 mtim: optional message(Timeval, TIMEVAL),
        9 chunks: optional bool,
        10 size: optional uint64,
        11 symlnk_target: optional string,
    }
}

message! {
    /// CRIU `ghost_chunk_entry` (images/ghost-file.proto): `len` bytes at
    /// offset `off` of a ghost file, which follow the record.
    GhostChunkEntry, GHOST_CHUNK_ENTRY = "ghost_chunk_entry" {
        1 len: required uint64,
        2 off: required uint64,
    }
}

message! {
    /// CRIU `ns_file_entry` (images/ns.proto).
    NsFileEntry, NS_FILE_ENTRY = "ns_file_entry" {
        1 id: required uint32,
        2 ns_id: required uint32,
        3 ns_cflag: required uint32,
        4 flags: required uint32,
    }
}

criu_enum! {
    /// CRIU `mark_type` (images/fsnotify.proto).
    MarkType, MARK_TYPE = "mark_type" {
        Unset = 0 "UNSET",
        Inode = 1 "INODE",
        Mount = 2 "MOUNT",
    }
}

message! {
    /// CRIU `fh_entry` (images/fh.proto): a file handle
    /// (name_to_handle_at), its bytes packed into little-endian u64s, at
    /// least 16 of them; `path` where the inode was resolved to one.
    FhEntry, FH_ENTRY = "fh_entry" {
        1 bytes: required uint32,
        2 r#type as "type": required uint32,
        3 handle: repeated uint64,
        4 path: optional string,
        5 mnt_id: optional uint32,
    }
}

message! {
    /// CRIU `inotify_wd_entry` (images/fsnotify.proto): one watch.
    InotifyWdEntry, INOTIFY_WD_ENTRY = "inotify_wd_entry" {
        1 id: required uint32,
        2 i_ino: required uint64,
        3 mask: required uint32 fmt(Fmt::Hex),
        4 ignored_mask: required uint32 fmt(Fmt::Hex),
        5 s_dev: required uint32 fmt(Fmt::Dev),
        6 wd: required uint32,
        7 f_handle: required message(FhEntry, FH_ENTRY),
    }
}

message! {
    /// CRIU `inotify_file_entry` (images/fsnotify.proto).
    InotifyFileEntry, INOTIFY_FILE_ENTRY = "inotify_file_entry" {
        1 id: required uint32,
        2 flags: required uint32 fmt(Fmt::Hex),
        4 fown: required message(FownEntry, FOWN_ENTRY),
        5 wd: repeated message(InotifyWdEntry, INOTIFY_WD_ENTRY),
    }
}

message! {
    /// CRIU `fanotify_inode_mark_entry` (images/fsnotify.proto).
    FanotifyInodeMarkEntry, FANOTIFY_INODE_MARK_ENTRY = "fanotify_inode_mark_entry" {
        1 i_ino: required uint64,
        2 f_handle: required message(FhEntry, FH_ENTRY),
    }
}

message! {
    /// CRIU `fanotify_mount_mark_entry` (images/fsnotify.proto).
    FanotifyMountMarkEntry, FANOTIFY_MOUNT_MARK_ENTRY = "fanotify_mount_mark_entry" {
        1 mnt_id: required uint32,
        2 path: optional string,
    }
}

message! {
    /// CRIU `fanotify_mark_entry` (images/fsnotify.proto).
    FanotifyMarkEntry, FANOTIFY_MARK_ENTRY = "fanotify_mark_entry" {
        1 id: required uint32,
        2 r#type as "type": required enumeration("MarkType", MARK_TYPE),
        3 mflags: required uint32 fmt(Fmt::Hex),
        4 mask: required uint32 fmt(Fmt::Hex),
        5 ignored_mask: required uint32 fmt(Fmt::Hex),
        6 s_dev: required uint32 fmt(Fmt::Dev),
        7 ie: optional message(FanotifyInodeMarkEntry, FANOTIFY_INODE_MARK_ENTRY),
        8 me: optional message(FanotifyMountMarkEntry, FANOTIFY_MOUNT_MARK_ENTRY),
    }
}

message! {
    /// CRIU `fanotify_file_entry` (images/fsnotify.proto).
    FanotifyFileEntry, FANOTIFY_FILE_ENTRY = "fanotify_file_entry" {
        1 id: required uint32,
        2 flags: required uint32 fmt(Fmt::Hex),
        3 fown: required message(FownEntry, FOWN_ENTRY),
        4 faflags: required uint32 fmt(Fmt::Hex),
        5 evflags: required uint32 fmt(Fmt::Hex),
        6 mark: repeated message(FanotifyMarkEntry, FANOTIFY_MARK_ENTRY),
    }
}

message! {
    /// CRIU `eventfd_file_entry` (images/eventfd.proto).
    EventfdFileEntry, EVENTFD_FILE_ENTRY = "eventfd_file_entry" {
        1 id: required uint32,
        2 flags: required uint32,
        3 fown: required message(FownEntry, FOWN_ENTRY),
        4 counter: required uint64,
    }
}

message! {
    /// CRIU `signalfd_entry` (images/signalfd.proto).
    SignalfdEntry, SIGNALFD_ENTRY = "signalfd_entry" {
        1 id: required uint32,
        2 flags: required uint32 fmt(Fmt::Hex),
        3 fown: required message(FownEntry, FOWN_ENTRY),
        4 sigmask: required uint64 fmt(Fmt::Hex),
    }
}

message! {
    /// CRIU `timerfd_entry` (images/timerfd.proto).
    TimerfdEntry, TIMERFD_ENTRY = "timerfd_entry" {
        1 id: required uint32,
        2 flags: required uint32 fmt(Fmt::Hex),
        3 fown: required message(FownEntry, FOWN_ENTRY),
        4 clockid: required uint32,
        5 ticks: required uint64,
        6 settime_flags: required uint32 fmt(Fmt::Hex),
        7 vsec: required uint64,
        8 vnsec: required uint64,
        9 isec: required uint64,
        10 insec: required uint64,
    }
}

message! {
    /// CRIU `ext_file_entry` (images/ext-file.proto).
    ExtFileEntry, EXT_FILE_ENTRY = "ext_file_entry" {
        1 id: required uint32,
        5 fown: required message(FownEntry, FOWN_ENTRY),
    }
}

message! {
    /// CRIU `fifo_entry` (images/fifo.proto).
    FifoEntry, FIFO_ENTRY = "fifo_entry" {
        1 id: required uint32,
        2 pipe_id: required uint32,
        3 regf_id: optional uint32,
    }
}

message! {
    /// CRIU `pipe_entry` (images/pipe.proto).
    PipeEntry, PIPE_ENTRY = "pipe_entry" {
        1 id: required uint32,
        /// Pipe inode number; both ends of one pipe share it.
        2 pipe_id: required uint32,
        3 flags: required uint32 fmt(Fmt::Hex),
        4 fown: required message(FownEntry, FOWN_ENTRY),
    }
}

message! {
    /// CRIU `pipe_data_entry` (images/pipe-data.proto). In a pipes-data image
    /// each record is followed by `bytes` raw bytes of queued pipe data.
    PipeDataEntry, PIPE_DATA_ENTRY = "pipe_data_entry" {
        1 pipe_id: required uint32,
        2 bytes: required uint32,
        3 size: optional uint32,
    }
}

message! {
    /// CRIU `memfd_file_entry` (images/memfd.proto).
    MemfdFileEntry, MEMFD_FILE_ENTRY = "memfd_file_entry" {
        1 id: required uint32,
        2 flags: required uint32 fmt(Fmt::Flags(&RFILE_FLAGS)),
        3 pos: required uint64,
        4 fown: required message(FownEntry, FOWN_ENTRY),
        5 inode_id: required uint32,
    }
}

message! {
    /// CRIU `memfd_inode_entry` (images/memfd.proto): one memfd object,
    /// whose contents are in `pagemap-shmem-<shmid>.img`.
    MemfdInodeEntry, MEMFD_INODE_ENTRY = "memfd_inode_entry" {
        1 name: required string,
        2 uid: required uint32,
        3 gid: required uint32,
        4 size: required uint64,
        5 shmid: required uint32,
        6 seals: required uint32 fmt(Fmt::Flags(&SEALS_FLAGS)),
        7 inode_id: required uint64,
        8 hugetlb_flag: optional uint32,
        9 mode: optional uint32,
    }
}

message! {
    /// CRIU `pidfd_entry` (images/pidfd.proto).
    PidfdEntry, PIDFD_ENTRY = "pidfd_entry" {
        1 id: required uint32,
        2 ino: required uint32,
        3 flags: required uint32,
        4 nspid: required int32,
        5 fown: required message(FownEntry, FOWN_ENTRY),
    }
}

// ---------------------------------------------------------------------------
// sk-opts.proto, sk-unix.proto, sk-packet.proto
// ---------------------------------------------------------------------------
message! {
    /// CRIU `sk_opts_entry` (images/sk-opts.proto): generic socket options.
    SkOptsEntry, SK_OPTS_ENTRY = "sk_opts_entry" {
        1 so_sndbuf: required uint32,
        2 so_rcvbuf: required uint32,
        3 so_snd_tmo_sec: required uint64,
        4 so_snd_tmo_usec: required uint64,
        5 so_rcv_tmo_sec: required uint64,
        6 so_rcv_tmo_usec: required uint64,
        7 reuseaddr: optional bool,
        8 so_priority: optional uint32,
        9 so_rcvlowat: optional uint32,
        10 so_mark: optional uint32,
        11 so_passcred: optional bool,
        12 so_passsec: optional bool,
        13 so_dontroute: optional bool,
        14 so_no_check: optional bool,
        15 so_bound_dev: optional string,
        /// Raw `struct sock_filter` array, 8 bytes per instruction.
        16 so_filter: repeated fixed64,
        17 so_reuseport: optional bool,
        18 so_broadcast: optional bool,
        19 so_keepalive: optional bool,
        /// Deprecated (`tcp_opts_entry` now).
        20 tcp_keepcnt: optional uint32,
        /// Deprecated (`tcp_opts_entry` now).
        21 tcp_keepidle: optional uint32,
        /// Deprecated (`tcp_opts_entry` now).
        22 tcp_keepintvl: optional uint32,
        23 so_oobinline: optional uint32,
        24 so_linger: optional uint32,
        25 so_buf_lock: optional uint32,
    }
}

message! {
    /// CRIU `file_perms_entry` (images/sk-unix.proto).
    FilePermsEntry, FILE_PERMS_ENTRY = "file_perms_entry" {
        1 mode: required uint32,
        2 uid: required uint32,
        3 gid: required uint32,
    }
}

message! {
    /// CRIU `unix_sk_entry` (images/sk-unix.proto).
    UnixSkEntry, UNIX_SK_ENTRY = "unix_sk_entry" {
        /// Links the entry to the `fdinfo_entry` records that open it.
        1 id: required uint32,
        /// Socket inode number; `peer` of the other end refers to it.
        2 ino: required uint32,
        /// `SOCK_*` type.
        3 r#type as "type": required uint32 fmt(Fmt::Dict(&SK_TYPE)),
        /// `TCP_*`-numbered socket state.
        4 state: required uint32 fmt(Fmt::Dict(&SK_STATE)),
        /// File status flags (`O_*`).
        5 flags: required uint32 fmt(Fmt::Hex),
        /// CRIU `USK_*` bits.
        6 uflags: required uint32 fmt(Fmt::Hex),
        7 backlog: required uint32,
        /// Inode number of the peer socket, 0 if none.
        8 peer: required uint32,
        9 fown: required message(FownEntry, FOWN_ENTRY),
        10 opts: required message(SkOptsEntry, SK_OPTS_ENTRY),
        /// Bound address; an abstract name starts with and may contain NUL.
        11 name: required bytes fmt(Fmt::UnixName),
        12 shutdown: optional enumeration("SkShutdown", SK_SHUTDOWN),
        13 file_perms: optional message(FilePermsEntry, FILE_PERMS_ENTRY),
        /// Directory a relative `name` is resolved against.
        14 name_dir: optional string,
        15 deleted: optional bool,
        16 ns_id: optional uint32,
        /// Schema default: -1.
        17 mnt_id: optional sint32 default("-1"),
    }
}

message! {
    /// CRIU `scm_entry` (images/sk-packet.proto): one control message.
    ScmEntry, SCM_ENTRY = "scm_entry" {
        /// `SCM_*` type.
        1 r#type as "type": required uint32,
        /// For `SCM_RIGHTS`: the file ids of the passed descriptors.
        2 rights: repeated uint32,
    }
}

message! {
    /// CRIU `sk_packet_entry` (images/sk-packet.proto). In an sk-queues image
    /// each record is followed by `length` raw bytes of queued data.
    SkPacketEntry, SK_PACKET_ENTRY = "sk_packet_entry" {
        /// `id` of the socket whose receive queue holds the packet.
        1 id_for: required uint32,
        2 length: required uint32,
        4 scm: repeated message(ScmEntry, SCM_ENTRY),
    }
}

message! {
    /// CRIU `ip_opts_raw_entry` (images/sk-inet.proto).
    IpOptsRawEntry, IP_OPTS_RAW_ENTRY = "ip_opts_raw_entry" {
        1 hdrincl: optional bool,
        2 nodefrag: optional bool,
        3 checksum: optional bool,
        4 icmpv_filter: repeated uint32,
    }
}

message! {
    /// CRIU `ip_opts_entry` (images/sk-inet.proto).
    IpOptsEntry, IP_OPTS_ENTRY = "ip_opts_entry" {
        1 freebind: optional bool,
        4 raw: optional message(IpOptsRawEntry, IP_OPTS_RAW_ENTRY),
        5 pktinfo: optional bool,
        6 tos: optional uint32,
        7 ttl: optional uint32,
    }
}

message! {
    /// CRIU `tcp_opts_entry` (images/tcp-stream.proto).
    TcpOptsEntry, TCP_OPTS_ENTRY = "tcp_opts_entry" {
        1 cork: optional bool,
        2 nodelay: optional bool,
        3 keepcnt: optional uint32,
        4 keepidle: optional uint32,
        5 keepintvl: optional uint32,
    }
}

message! {
    /// CRIU `tcp_stream_entry` (images/tcp-stream.proto): an established
    /// connection's repair state; in `tcp-stream-%x.img` it is followed by
    /// `inq_len` bytes of receive queue, then `outq_len` of send queue.
    TcpStreamEntry, TCP_STREAM_ENTRY = "tcp_stream_entry" {
        1 inq_len: required uint32,
        2 inq_seq: required uint32,
        /// Sent and unsent bytes of the send queue.
        3 outq_len: required uint32,
        4 outq_seq: required uint32,
        /// `TCPI_OPT_*` bits.
        5 opt_mask: required uint32 fmt(Fmt::Hex),
        6 snd_wscale: required uint32,
        7 mss_clamp: required uint32,
        8 rcv_wscale: optional uint32,
        9 timestamp: optional uint32,
        /// Deprecated (`tcp_opts_entry` now).
        10 cork: optional bool,
        /// Deprecated (`tcp_opts_entry` now).
        11 nodelay: optional bool,
        /// Unsent bytes of the send queue.
        12 unsq_len: optional uint32,
        13 snd_wl1: optional uint32,
        14 snd_wnd: optional uint32,
        15 max_window: optional uint32,
        16 rcv_wnd: optional uint32,
        17 rcv_wup: optional uint32,
    }
}

message! {
    /// CRIU `inet_sk_entry` (images/sk-inet.proto). `id` links it to the
    /// fdinfo records; `ino` names a TCP stream image (`tcp-stream-%x`).
    InetSkEntry, INET_SK_ENTRY = "inet_sk_entry" {
        1 id: required uint32,
        2 ino: required uint32,
        3 family: required uint32 fmt(Fmt::Dict(&SK_FAMILY)),
        4 r#type as "type": required uint32 fmt(Fmt::Dict(&SK_TYPE)),
        5 proto: required uint32 fmt(Fmt::Dict(&SK_PROTO)),
        6 state: required uint32 fmt(Fmt::Dict(&SK_STATE)),
        /// Host byte order.
        7 src_port: required uint32,
        8 dst_port: required uint32,
        9 flags: required uint32 fmt(Fmt::Hex),
        10 backlog: required uint32,
        /// One word (IPv4) or four (IPv6), each the network-order bytes.
        11 src_addr: repeated uint32 fmt(Fmt::Ipaddr),
        12 dst_addr: repeated uint32 fmt(Fmt::Ipaddr),
        13 fown: required message(FownEntry, FOWN_ENTRY),
        14 opts: required message(SkOptsEntry, SK_OPTS_ENTRY),
        15 v6only: optional bool,
        16 ip_opts: optional message(IpOptsEntry, IP_OPTS_ENTRY),
        17 ifname: optional string,
        18 ns_id: optional uint32,
        19 shutdown: optional enumeration("SkShutdown", SK_SHUTDOWN),
        20 tcp_opts: optional message(TcpOptsEntry, TCP_OPTS_ENTRY),
    }
}

message! {
    /// CRIU `packet_mclist` (images/packet-sock.proto): one membership.
    PacketMclist, PACKET_MCLIST = "packet_mclist" {
        1 index: required uint32,
        2 r#type as "type": required uint32,
        3 addr: required bytes,
    }
}

message! {
    /// CRIU `packet_ring` (images/packet-sock.proto).
    PacketRing, PACKET_RING = "packet_ring" {
        1 block_size: required uint32,
        2 block_nr: required uint32,
        3 frame_size: required uint32,
        4 frame_nr: required uint32,
        5 retire_tmo: required uint32,
        6 sizeof_priv: required uint32,
        7 features: required uint32,
    }
}

message! {
    /// CRIU `packet_sock_entry` (images/packet-sock.proto).
    PacketSockEntry, PACKET_SOCK_ENTRY = "packet_sock_entry" {
        1 id: required uint32,
        2 r#type as "type": required uint32,
        /// As given to socket(): network byte order.
        3 protocol: required uint32,
        4 flags: required uint32 fmt(Fmt::Hex),
        5 ifindex: required uint32,
        6 fown: required message(FownEntry, FOWN_ENTRY),
        7 opts: required message(SkOptsEntry, SK_OPTS_ENTRY),
        8 version: required uint32,
        9 reserve: required uint32,
        10 aux_data: required bool,
        11 orig_dev: required bool,
        12 vnet_hdr: required bool,
        13 loss: required bool,
        14 timestamp: required uint32,
        15 copy_thresh: required uint32,
        16 mclist: repeated message(PacketMclist, PACKET_MCLIST),
        /// Schema default: 0xffffffff (no fanout).
        17 fanout: optional uint32 default("4294967295"),
        18 rx_ring: optional message(PacketRing, PACKET_RING),
        19 tx_ring: optional message(PacketRing, PACKET_RING),
        20 ns_id: optional uint32,
    }
}

message! {
    /// CRIU `netlink_sk_entry` (images/sk-netlink.proto).
    NetlinkSkEntry, NETLINK_SK_ENTRY = "netlink_sk_entry" {
        1 id: required uint32,
        2 ino: required uint32,
        3 protocol: required uint32,
        4 state: required uint32,
        6 flags: required uint32 fmt(Fmt::Hex),
        7 portid: required uint32,
        8 groups: repeated uint32,
        9 dst_portid: required uint32,
        10 dst_group: required uint32,
        11 fown: required message(FownEntry, FOWN_ENTRY),
        12 opts: required message(SkOptsEntry, SK_OPTS_ENTRY),
        13 ns_id: optional uint32,
    }
}

// ---------------------------------------------------------------------------
// tty.proto
// ---------------------------------------------------------------------------
message! {
    /// CRIU `winsize_entry` (images/tty.proto).
    WinsizeEntry, WINSIZE_ENTRY = "winsize_entry" {
        1 ws_row: required uint32,
        2 ws_col: required uint32,
        3 ws_xpixel: required uint32,
        4 ws_ypixel: required uint32,
    }
}

message! {
    /// CRIU `termios_entry` (images/tty.proto).
    TermiosEntry, TERMIOS_ENTRY = "termios_entry" {
        1 c_iflag: required uint32,
        2 c_oflag: required uint32,
        3 c_cflag: required uint32,
        4 c_lflag: required uint32,
        5 c_line: required uint32,
        6 c_ispeed: required uint32,
        7 c_ospeed: required uint32,
        8 c_cc: repeated uint32,
    }
}

message! {
    /// CRIU `tty_pty_entry` (images/tty.proto).
    TtyPtyEntry, TTY_PTY_ENTRY = "tty_pty_entry" {
        1 index: required uint32,
    }
}

message! {
    /// CRIU `tty_data_entry` (images/tty.proto).
    TtyDataEntry, TTY_DATA_ENTRY = "tty_data_entry" {
        1 tty_id: required uint32,
        2 data: required bytes,
    }
}

message! {
    /// CRIU `tty_info_entry` (images/tty.proto).
    TtyInfoEntry, TTY_INFO_ENTRY = "tty_info_entry" {
        1 id: required uint32,
        2 r#type as "type": required enumeration("TtyType", TTY_TYPE),
        3 locked: required bool,
        4 exclusive: required bool,
        5 packet_mode: required bool,
        6 sid: required uint32,
        7 pgrp: required uint32,
        8 rdev: required uint32,
        9 termios: optional message(TermiosEntry, TERMIOS_ENTRY),
        10 termios_locked: optional message(TermiosEntry, TERMIOS_ENTRY),
        11 winsize: optional message(WinsizeEntry, WINSIZE_ENTRY),
        12 pty: optional message(TtyPtyEntry, TTY_PTY_ENTRY),
        13 dev: optional uint32,
        14 uid: optional uint32,
        15 gid: optional uint32,
    }
}

message! {
    /// CRIU `tty_file_entry` (images/tty.proto).
    TtyFileEntry, TTY_FILE_ENTRY = "tty_file_entry" {
        1 id: required uint32,
        2 tty_info_id: required uint32,
        3 flags: required uint32 fmt(Fmt::Hex),
        4 fown: required message(FownEntry, FOWN_ENTRY),
        6 regf_id: optional uint32,
    }
}

// ---------------------------------------------------------------------------
// utsns.proto, ipc-*.proto
// ---------------------------------------------------------------------------

message! {
    /// CRIU `utsns_entry` (images/utsns.proto).
    UtsnsEntry, UTSNS_ENTRY = "utsns_entry" {
        1 nodename: required string,
        2 domainname: required string,
    }
}

// ---------------------------------------------------------------------------
// mnt.proto
// ---------------------------------------------------------------------------

message! {
    /// CRIU `mnt_entry` (images/mnt.proto): one mount of a mount
    /// namespace (`mountpoints-<ns id>.img`).
    MntEntry, MNT_ENTRY = "mnt_entry" {
        1 fstype: required uint32,
        2 mnt_id: required uint32,
        3 root_dev: required uint32 fmt(Fmt::Dev),
        4 parent_mnt_id: required uint32,
        5 flags: required uint32 fmt(Fmt::Hex),
        6 root: required string,
        7 mountpoint: required string,
        8 source: required string,
        9 options: required string,
        10 shared_id: optional uint32,
        11 master_id: optional uint32,
        12 with_plugin: optional bool,
        13 ext_mount: optional bool,
        14 fsname: optional string,
        15 internal_sharing: optional bool,
        16 deleted: optional bool,
        17 sb_flags: optional uint32 fmt(Fmt::Hex),
        18 ext_key: optional string,
    }
}

message! {
    /// CRIU `ipc_var_entry` (images/ipc-var.proto): an IPC namespace's sysctls.
    IpcVarEntry, IPC_VAR_ENTRY = "ipc_var_entry" {
        1 sem_ctls: repeated uint32,
        2 msg_ctlmax: required uint32,
        3 msg_ctlmnb: required uint32,
        4 msg_ctlmni: required uint32,
        5 auto_msgmni: required uint32,
        6 shm_ctlmax: required uint64,
        7 shm_ctlall: required uint64,
        8 shm_ctlmni: required uint32,
        9 shm_rmid_forced: required uint32,
        10 mq_queues_max: required uint32,
        11 mq_msg_max: required uint32,
        12 mq_msgsize_max: required uint32,
        13 mq_msg_default: optional uint32,
        14 mq_msgsize_default: optional uint32,
        15 msg_next_id: optional uint32,
        16 sem_next_id: optional uint32,
        17 shm_next_id: optional uint32,
    }
}

message! {
    /// CRIU `ipc_desc_entry` (images/ipc-desc.proto): what every System V
    /// IPC object has.
    IpcDescEntry, IPC_DESC_ENTRY = "ipc_desc_entry" {
        1 key: required uint32,
        2 uid: required uint32,
        3 gid: required uint32,
        4 cuid: required uint32,
        5 cgid: required uint32,
        6 mode: required uint32,
        7 id: required uint32,
    }
}

message! {
    /// CRIU `ipc_shm_entry` (images/ipc-shm.proto).
    IpcShmEntry, IPC_SHM_ENTRY = "ipc_shm_entry" {
        1 desc: required message(IpcDescEntry, IPC_DESC_ENTRY),
        2 size: required uint64,
        3 in_pagemaps: optional bool,
        4 hugetlb_flag: optional uint32,
    }
}

message! {
    /// CRIU `ipc_sem_entry` (images/ipc-sem.proto); the values follow
    /// each record as raw u16s.
    IpcSemEntry, IPC_SEM_ENTRY = "ipc_sem_entry" {
        1 desc: required message(IpcDescEntry, IPC_DESC_ENTRY),
        2 nsems: required uint32,
    }
}

message! {
    /// CRIU `ipc_msg_entry` (images/ipc-msg.proto); its messages follow
    /// each record.
    IpcMsgEntry, IPC_MSG_ENTRY = "ipc_msg_entry" {
        1 desc: required message(IpcDescEntry, IPC_DESC_ENTRY),
        2 qbytes: required uint32,
        3 qnum: required uint32,
    }
}

message! {
    /// CRIU `ipc_msg` (images/ipc-msg.proto): one queued message, after
    /// its queue's record; its `msize` bytes follow it.
    IpcMsg, IPC_MSG = "ipc_msg" {
        1 mtype: required uint64,
        2 msize: required uint32,
    }
}

// ---------------------------------------------------------------------------
// netdev.proto, sysctl.proto: a network namespace
// ---------------------------------------------------------------------------
criu_enum! {
    /// CRIU `nd_type` (images/netdev.proto).
    NdType, ND_TYPE = "nd_type" {
        Loopback = 1 "LOOPBACK",
        Veth = 2 "VETH",
        Tun = 3 "TUN",
        Extlink = 4 "EXTLINK",
        Venet = 5 "VENET",
        Bridge = 6 "BRIDGE",
        Macvlan = 7 "MACVLAN",
        Sit = 8 "SIT",
    }
}

criu_enum! {
    /// CRIU `SysctlType` (images/sysctl.proto).
    SysctlType, SYSCTL_TYPE = "SysctlType" {
        CtlStr = 5 "CTL_STR",
        Ctl32 = 6 "CTL_32",
    }
}

message! {
    /// CRIU `sysctl_entry` (images/sysctl.proto): one sysctl value.
    SysctlEntry, SYSCTL_ENTRY = "sysctl_entry" {
        1 r#type as "type": required enumeration("SysctlType", SYSCTL_TYPE),
        2 iarg: optional int32,
        3 sarg: optional string,
    }
}

message! {
    /// CRIU `net_device_entry` (images/netdev.proto): one link of a
    /// network namespace.
    NetDeviceEntry, NET_DEVICE_ENTRY = "net_device_entry" {
        1 r#type as "type": required enumeration("NdType", ND_TYPE),
        2 ifindex: required uint32,
        3 mtu: required uint32,
        4 flags: required uint32 fmt(Fmt::Hex),
        5 name: required string,
        7 address: optional bytes,
        8 conf: repeated int32,
        9 conf4: repeated message(SysctlEntry, SYSCTL_ENTRY),
        10 conf6: repeated message(SysctlEntry, SYSCTL_ENTRY),
        12 peer_ifindex: optional uint32,
        13 peer_nsid: optional uint32,
        14 master: optional uint32,
    }
}

message! {
    /// CRIU `netns_id` (images/netdev.proto): the id another dumped
    /// network namespace has in this one.
    NetnsId, NETNS_ID = "netns_id" {
        1 target_ns_id: required uint32,
        2 netnsid_value: required int32,
    }
}

message! {
    /// CRIU `netns_entry` (images/netdev.proto): a network namespace's
    /// sysctls (the `conf` lists in CRIU's devconf order) and ids.
    NetnsEntry, NETNS_ENTRY = "netns_entry" {
        1 def_conf: repeated int32,
        2 all_conf: repeated int32,
        3 def_conf4: repeated message(SysctlEntry, SYSCTL_ENTRY),
        4 all_conf4: repeated message(SysctlEntry, SYSCTL_ENTRY),
        5 def_conf6: repeated message(SysctlEntry, SYSCTL_ENTRY),
        6 all_conf6: repeated message(SysctlEntry, SYSCTL_ENTRY),
        7 nsids: repeated message(NetnsId, NETNS_ID),
        8 ext_key: optional string,
        9 unix_conf: repeated message(SysctlEntry, SYSCTL_ENTRY),
        10 ipv4_sysctl: repeated message(SysctlEntry, SYSCTL_ENTRY),
    }
}

/// Every message descriptor in this module.
pub static ALL_MESSAGES: &[&MsgDesc] = &[
    &EVENTPOLL_TFD_ENTRY,
    &EVENTPOLL_FILE_ENTRY,
    &INVENTORY_ENTRY,
    &PLUGINS_ENTRY,
    &PSTREE_ENTRY,
    &CORE_ENTRY,
    &THREAD_INFO_X86,
    &USER_X86_REGS_ENTRY,
    &USER_X86_FPREGS_ENTRY,
    &USER_X86_XSAVE_ENTRY,
    &USER_X86_CET_ENTRY,
    &USER_DESC_T,
    &TASK_CORE_ENTRY,
    &TASK_KOBJ_IDS_ENTRY,
    &THREAD_CORE_ENTRY,
    &THREAD_SAS_ENTRY,
    &TASK_RLIMITS_ENTRY,
    &RLIMIT_ENTRY,
    &TASK_TIMERS_ENTRY,
    &ITIMER_ENTRY,
    &POSIX_TIMER_ENTRY,
    &CREDS_ENTRY,
    &SA_ENTRY,
    &SIGINFO_ENTRY,
    &SIGNAL_QUEUE_ENTRY,
    &RSEQ_ENTRY,
    &MM_ENTRY,
    &VMA_ENTRY,
    &AIO_RING_ENTRY,
    &PAGEMAP_HEAD,
    &PAGEMAP_ENTRY,
    &FS_ENTRY,
    &TIMENS_ENTRY,
    &TIMESPEC,
    &SECCOMP_ENTRY,
    &SECCOMP_FILTER,
    &STATS_ENTRY,
    &DUMP_STATS_ENTRY,
    &RESTORE_STATS_ENTRY,
    &FDINFO_ENTRY,
    &FILE_ENTRY,
    &FOWN_ENTRY,
    &REG_FILE_ENTRY,
    &NS_FILE_ENTRY,
    &EVENTFD_FILE_ENTRY,
    &FH_ENTRY,
    &INOTIFY_WD_ENTRY,
    &INOTIFY_FILE_ENTRY,
    &FANOTIFY_INODE_MARK_ENTRY,
    &FANOTIFY_MOUNT_MARK_ENTRY,
    &FANOTIFY_MARK_ENTRY,
    &FANOTIFY_FILE_ENTRY,
    &SIGNALFD_ENTRY,
    &TIMERFD_ENTRY,
    &EXT_FILE_ENTRY,
    &FIFO_ENTRY,
    &PIPE_ENTRY,
    &PIPE_DATA_ENTRY,
    &MEMFD_FILE_ENTRY,
    &PIDFD_ENTRY,
    &SK_OPTS_ENTRY,
    &FILE_PERMS_ENTRY,
    &UNIX_SK_ENTRY,
    &SCM_ENTRY,
    &SK_PACKET_ENTRY,
    &TTY_INFO_ENTRY,
    &TTY_FILE_ENTRY,
    &TTY_DATA_ENTRY,
    &TERMIOS_ENTRY,
    &WINSIZE_ENTRY,
    &TTY_PTY_ENTRY,
    &MEMFD_INODE_ENTRY,
    &UTSNS_ENTRY,
    &IPC_VAR_ENTRY,
    &IPC_DESC_ENTRY,
    &IPC_SHM_ENTRY,
    &IPC_SEM_ENTRY,
    &IPC_MSG_ENTRY,
    &IPC_MSG,
    &SYSCTL_ENTRY,
    &NET_DEVICE_ENTRY,
    &NETNS_ID,
    &NETNS_ENTRY,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::desc::Kind;
    use prost::Message;
    use std::path::PathBuf;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures");
    const IMG_COMMON: u32 = 0x5456_4319;

    fn u32_at(b: &[u8], off: usize) -> u32 {
        u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
    }

    /// Reads an image, checks its two magics, returns its payload records.
    fn records(fixture: &str, file: &str, magic: u32) -> Vec<Vec<u8>> {
        let path: PathBuf = [FIXTURES, fixture, "images", file].iter().collect();
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut off = if magic == 0x5831_3116 {
            assert_eq!(u32_at(&data, 0), magic);
            4
        } else {
            assert_eq!(u32_at(&data, 0), IMG_COMMON);
            assert_eq!(u32_at(&data, 4), magic);
            8
        };
        let mut out = Vec::new();
        while off < data.len() {
            let len = u32_at(&data, off) as usize;
            off += 4;
            out.push(data[off..off + len].to_vec());
            off += len;
        }
        out
    }

    fn one<M: Message + Default>(fixture: &str, file: &str, magic: u32) -> M {
        let recs = records(fixture, file, magic);
        assert_eq!(recs.len(), 1, "{file}");
        M::decode(recs[0].as_slice()).expect("decode")
    }

    #[test]
    fn inventory() {
        let inv: InventoryEntry = one("counter", "inventory.img", 0x5831_3116);
        assert_eq!(inv.img_version, 2);
        assert_eq!(inv.fdinfo_per_id, Some(true));
        assert!(inv.root_ids.is_some());
    }

    #[test]
    fn pstree_counter_and_threads() {
        let p: PstreeEntry = one("counter", "pstree.img", 0x5027_3030);
        assert_eq!((p.pid, p.threads.clone()), (31000, vec![31000]));
        let t: PstreeEntry = one("threads", "pstree.img", 0x5027_3030);
        assert_eq!(t.threads, vec![31300, 31301, 31302, 31303]);
        let tree: Vec<PstreeEntry> = records("tree", "pstree.img", 0x5027_3030)
            .iter()
            .map(|r| PstreeEntry::decode(r.as_slice()).expect("decode"))
            .collect();
        assert_eq!(tree.len(), 4);
        assert_eq!(tree[0].pid, 31200);
        assert!(tree[1..].iter().all(|e| e.ppid != 0));
    }

    #[test]
    fn core_counter() {
        let c: CoreEntry = one("counter", "core-31000.img", 0x5505_3847);
        assert_eq!(c.mtype(), core_entry::March::X8664);
        let ti = c.thread_info.expect("thread_info");
        assert_ne!(ti.gpregs.ip, 0);
        assert_ne!(ti.gpregs.sp, 0);
        assert_eq!(ti.gpregs.mode(), UserX86RegsMode::Native);
        assert_eq!(ti.fpregs.st_space.len(), 32);
        assert_eq!(ti.fpregs.xmm_space.len(), 64);
        let xsave = ti.fpregs.xsave.expect("xsave");
        assert_eq!(xsave.ymmh_space.len(), 64);
        let tc = c.tc.expect("tc");
        assert_eq!(tc.task_state, TaskState::Alive as u32);
        assert_eq!(tc.comm, "counter");
        // Every signal but SIGKILL and SIGSTOP.
        assert_eq!(tc.sigactions.len(), 62);
        assert!(tc.rlimits.expect("rlimits").rlimits.len() >= 16);
        let th = c.thread_core.expect("thread_core");
        assert!(th.creds.is_some());
        assert_eq!(th.seccomp_mode(), SeccompMode::Disabled);
    }

    #[test]
    fn mm_and_pagemap_counter() {
        let mm: MmEntry = one("counter", "mm-31000.img", 0x5749_2820);
        assert!(mm.vmas.len() > 5);
        assert!(mm
            .vmas
            .iter()
            .all(|v| v.start < v.end && v.start % 4096 == 0));
        assert!(mm.mm_start_code <= mm.mm_end_code);
        let recs = records("counter", "pagemap-31000.img", 0x5608_4025);
        let head = PagemapHead::decode(recs[0].as_slice()).expect("head");
        assert_eq!(head.pages_id, 1);
        let total: u64 = recs[1..]
            .iter()
            .map(|r| PagemapEntry::decode(r.as_slice()).expect("entry"))
            .map(|e| e.nr_pages.unwrap_or(u64::from(e.compat_nr_pages)))
            .sum();
        // CRIU 4.2 writes compat_nr_pages = 0 and the real count in nr_pages.
        assert_eq!(total, 2320);
        let pages = std::fs::metadata(format!("{FIXTURES}/counter/images/pages-1.img"))
            .expect("pages-1.img")
            .len();
        assert_eq!(pages, total * 4096);
    }

    #[test]
    fn files_and_fdinfo_openfile() {
        let files: Vec<FileEntry> = records("openfile", "files.img", 0x5630_3138)
            .iter()
            .map(|r| FileEntry::decode(r.as_slice()).expect("decode"))
            .collect();
        let reg = files
            .iter()
            .filter_map(|f| f.reg.as_ref())
            .find(|r| r.pos == 1234)
            .expect("the O_RDWR file at offset 1234");
        assert_eq!(reg.flags & 3, 2);
        let fds: Vec<FdinfoEntry> = records("openfile", "fdinfo-2.img", 0x5621_3732)
            .iter()
            .map(|r| FdinfoEntry::decode(r.as_slice()).expect("decode"))
            .collect();
        assert!(fds.iter().any(|f| f.id == reg.id));
        assert!(fds.iter().all(|f| f.r#type() == FdTypes::Reg));
    }

    #[test]
    fn pipes_in_tree() {
        let files: Vec<FileEntry> = records("tree", "files.img", 0x5630_3138)
            .iter()
            .map(|r| FileEntry::decode(r.as_slice()).expect("decode"))
            .collect();
        let pipes: Vec<&PipeEntry> = files.iter().filter_map(|f| f.pipe.as_ref()).collect();
        assert!(!pipes.is_empty());
        assert!(files
            .iter()
            .filter(|f| f.pipe.is_some())
            .all(|f| f.r#type() == FdTypes::Pipe));
        let data: Vec<PipeDataEntry> = records("tree", "pipes-data.img", 0x5645_3709)
            .iter()
            .map(|r| PipeDataEntry::decode(r.as_slice()).expect("decode"))
            .collect();
        assert_eq!(data.len(), 2);
        assert!(data.iter().all(|d| d.bytes == 0 && d.size == Some(65536)));
    }

    #[test]
    fn small_images() {
        let fs: FsEntry = one("sigstate", "fs-31100.img", 0x5140_3912);
        assert!(fs.umask.is_some());
        let tn: TimensEntry = one("counter", "timens-0.img", 0x4311_4433);
        assert!(tn.monotonic.tv_nsec < 1_000_000_000);
        let ids: TaskKobjIdsEntry = one("counter", "ids-31000.img", 0x5443_2030);
        assert_ne!(ids.vm_id, 0);
        let sc: SeccompEntry = one("counter", "seccomp.img", 0x6441_3049);
        assert!(sc.seccomp_filters.is_empty());
    }

    #[test]
    fn unix_socket_entries() {
        let usk = UnixSkEntry {
            id: 7,
            ino: 4242,
            r#type: 2,
            state: 1,
            flags: 0o2,
            peer: 4243,
            opts: SkOptsEntry {
                so_sndbuf: 212_992,
                so_filter: vec![0x0006_0000_0000_ffff],
                ..Default::default()
            },
            name: b"\0abstract".to_vec(),
            shutdown: Some(SkShutdown::Write as i32),
            ..Default::default()
        };
        assert_eq!(usk.mnt_id(), -1);
        let file = FileEntry {
            r#type: FdTypes::Unixsk as i32,
            id: 7,
            usk: Some(usk.clone()),
            ..Default::default()
        };
        let bytes = file.encode_to_vec();
        // file_entry.usk is field 16, length-delimited: key varint 0x82 0x01.
        assert_eq!(&bytes[4..6], &[0x82, 0x01]);
        let back = FileEntry::decode(bytes.as_slice()).expect("decode");
        assert_eq!(back.usk.as_ref(), Some(&usk));
        assert_eq!(back.usk.expect("usk").shutdown(), SkShutdown::Write);

        let pkt = SkPacketEntry {
            id_for: 7,
            length: 3,
            scm: vec![ScmEntry {
                r#type: 1,
                rights: vec![9, 10],
            }],
        };
        let bytes = pkt.encode_to_vec();
        // Unpacked repeated uint32: one key (field 2, varint) per value.
        assert_eq!(
            bytes,
            [0x08, 7, 0x10, 3, 0x22, 6, 0x08, 1, 0x10, 9, 0x10, 10]
        );
        assert_eq!(
            SkPacketEntry::decode(bytes.as_slice()).expect("decode"),
            pkt
        );
    }

    #[test]
    fn roundtrip_core() {
        let recs = records("sigstate", "core-31100.img", 0x5505_3847);
        let c = CoreEntry::decode(recs[0].as_slice()).expect("decode");
        let again = CoreEntry::decode(c.encode_to_vec().as_slice()).expect("re-decode");
        assert_eq!(c, again);
    }

    #[test]
    fn tags_sorted_and_unique() {
        for m in ALL_MESSAGES {
            assert!(
                m.fields.windows(2).all(|w| w[0].tag < w[1].tag),
                "{}",
                m.name
            );
            assert!(m.fields.iter().all(|f| f.tag > 0), "{}", m.name);
        }
    }

    #[test]
    fn names_unique() {
        for (i, a) in ALL_MESSAGES.iter().enumerate() {
            assert!(ALL_MESSAGES[i + 1..].iter().all(|b| b.name != a.name));
        }
    }

    #[test]
    fn lookups() {
        let f = CORE_ENTRY.field(2).expect("thread_info");
        assert_eq!(f.name, "thread_info");
        assert!(matches!(f.kind, Kind::Message(m) if m.name == "thread_info_x86"));
        assert_eq!(core_entry::CORE_ENTRY_MARCH.name_of(1), Some("X86_64"));
        assert_eq!(FD_TYPES.name_of(65535), Some("AUTOFS_PIPE"));
        assert!(PAGEMAP_ENTRY.field(5).is_some_and(|f| f.name == "nr_pages"));
        assert!(USER_X86_XSAVE_ENTRY
            .field(2)
            .is_some_and(|f| f.is_repeated()));
    }
}

message! {
    /// CRIU `cgroup_perms` (images/cgroup.proto): owner and mode of a
    /// cgroup directory or file.
    CgroupPerms, CGROUP_PERMS = "cgroup_perms" {
        1 mode: required uint32,
        2 uid: required uint32,
        3 gid: required uint32,
    }
}

message! {
    /// CRIU `cgroup_prop_entry`: one control file of a cgroup and its value.
    CgroupPropEntry, CGROUP_PROP_ENTRY = "cgroup_prop_entry" {
        1 name: required string,
        2 value: required string,
        3 perms: optional message(CgroupPerms, CGROUP_PERMS),
    }
}

message! {
    /// CRIU `cgroup_dir_entry`: a cgroup, its children and properties.
    CgroupDirEntry, CGROUP_DIR_ENTRY = "cgroup_dir_entry" {
        1 dir_name: required string,
        2 children: repeated message(CgroupDirEntry, CGROUP_DIR_ENTRY),
        3 properties: repeated message(CgroupPropEntry, CGROUP_PROP_ENTRY),
        4 dir_perms: optional message(CgroupPerms, CGROUP_PERMS),
    }
}

message! {
    /// CRIU `cg_controller_entry`: one hierarchy (its controllers) and the
    /// cgroups dumped in it.
    CgControllerEntry, CG_CONTROLLER_ENTRY = "cg_controller_entry" {
        1 cnames: repeated string,
        2 dirs: repeated message(CgroupDirEntry, CGROUP_DIR_ENTRY),
        3 is_threaded: optional bool,
    }
}

message! {
    /// CRIU `cg_member_entry`: a task's cgroup in one hierarchy.
    CgMemberEntry, CG_MEMBER_ENTRY = "cg_member_entry" {
        1 name: required string,
        2 path: required string,
        3 cgns_prefix: optional uint32,
    }
}

message! {
    /// CRIU `cg_set_entry`: the cgroups a thread is in, one per hierarchy.
    CgSetEntry, CG_SET_ENTRY = "cg_set_entry" {
        1 id: required uint32,
        2 ctls: repeated message(CgMemberEntry, CG_MEMBER_ENTRY),
    }
}

message! {
    /// CRIU `cgroup_entry` (cgroup.img): every set and hierarchy.
    CgroupEntry, CGROUP_ENTRY = "cgroup_entry" {
        1 sets: repeated message(CgSetEntry, CG_SET_ENTRY),
        2 controllers: repeated message(CgControllerEntry, CG_CONTROLLER_ENTRY),
    }
}
