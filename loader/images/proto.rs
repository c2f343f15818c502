//! Hand-written prost mirrors of the CRIU 4.2 protobuf messages that a
//! restore of an ordinary process tree needs.
//!
//! Every struct carries the same tag numbers, labels and wire types as the
//! `.proto` file it mirrors (CRIU `images/*.proto`, tag v4.2). CRIU's schema is
//! proto2 and declares no `[packed = true]` fields, so every repeated scalar is
//! unpacked on the wire (prost still accepts packed input when decoding).
//!
//! Fields whose type is a message this module does not mirror (for example
//! the inet, packet and netlink socket entries inside `file_entry`) are left
//! out; prost skips their tags when decoding.

// ---------------------------------------------------------------------------
// Enumerations
// ---------------------------------------------------------------------------

/// CRIU `seccomp_mode` (images/core.proto).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum SeccompMode {
    Disabled = 0,
    Strict = 1,
    Filter = 2,
}

/// CRIU `user_x86_regs_mode` (images/core-x86.proto).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum UserX86RegsMode {
    Native = 1,
    Compat = 2,
}

/// CRIU `lsmtype` (images/inventory.proto).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum Lsmtype {
    NoLsm = 0,
    Selinux = 1,
    Apparmor = 2,
}

/// CRIU `fd_types` (images/fdinfo.proto).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum FdTypes {
    Und = 0,
    Reg = 1,
    Pipe = 2,
    Fifo = 3,
    Inetsk = 4,
    Unixsk = 5,
    Eventfd = 6,
    Eventpoll = 7,
    Inotify = 8,
    Signalfd = 9,
    Packetsk = 10,
    Tty = 11,
    Fanotify = 12,
    Netlinksk = 13,
    Ns = 14,
    Tunf = 15,
    Ext = 16,
    Timerfd = 17,
    Memfd = 18,
    Bpfmap = 19,
    Pidfd = 20,
    /// Never stored in an image (CRIU-internal).
    CtlTty = 65534,
    /// Never stored in an image (CRIU-internal).
    AutofsPipe = 65535,
}

/// CRIU `TtyType` (images/tty.proto).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum TtyType {
    Unknown = 0,
    Pty = 1,
    Console = 2,
    Vt = 3,
    Ctty = 4,
    ExtTty = 5,
    Serial = 6,
}

/// CRIU `sk_shutdown` (images/sk-opts.proto).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum SkShutdown {
    None = 0,
    Read = 1,
    Write = 2,
    Both = 3,
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

/// CRIU `plugins_entry` (images/inventory.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PluginsEntry {
    #[prost(string, repeated, tag = "12")]
    pub plugins: Vec<String>,
}

/// CRIU `inventory_entry` (images/inventory.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct InventoryEntry {
    #[prost(uint32, required, tag = "1")]
    pub img_version: u32,
    #[prost(bool, optional, tag = "2")]
    pub fdinfo_per_id: Option<bool>,
    #[prost(message, optional, tag = "3")]
    pub root_ids: Option<TaskKobjIdsEntry>,
    #[prost(bool, optional, tag = "4")]
    pub ns_per_id: Option<bool>,
    #[prost(uint32, optional, tag = "5")]
    pub root_cg_set: Option<u32>,
    #[prost(enumeration = "Lsmtype", optional, tag = "6")]
    pub lsmtype: Option<i32>,
    #[prost(uint64, optional, tag = "8")]
    pub dump_uptime: Option<u64>,
    #[prost(uint32, optional, tag = "9")]
    pub pre_dump_mode: Option<u32>,
    #[prost(bool, optional, tag = "10")]
    pub tcp_close: Option<bool>,
    #[prost(uint32, optional, tag = "11")]
    pub network_lock_method: Option<u32>,
    #[prost(message, optional, tag = "12")]
    pub plugins_entry: Option<PluginsEntry>,
    #[prost(string, optional, tag = "13")]
    pub dump_criu_run_id: Option<String>,
    #[prost(bool, optional, tag = "14")]
    pub allow_uprobes: Option<bool>,
}

// ---------------------------------------------------------------------------
// pstree.proto
// ---------------------------------------------------------------------------

/// CRIU `pstree_entry` (images/pstree.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PstreeEntry {
    #[prost(uint32, required, tag = "1")]
    pub pid: u32,
    #[prost(uint32, required, tag = "2")]
    pub ppid: u32,
    #[prost(uint32, required, tag = "3")]
    pub pgid: u32,
    #[prost(uint32, required, tag = "4")]
    pub sid: u32,
    #[prost(uint32, repeated, packed = "false", tag = "5")]
    pub threads: Vec<u32>,
}

// ---------------------------------------------------------------------------
// core-x86.proto
// ---------------------------------------------------------------------------

/// CRIU `user_x86_regs_entry` (images/core-x86.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct UserX86RegsEntry {
    #[prost(uint64, required, tag = "1")]
    pub r15: u64,
    #[prost(uint64, required, tag = "2")]
    pub r14: u64,
    #[prost(uint64, required, tag = "3")]
    pub r13: u64,
    #[prost(uint64, required, tag = "4")]
    pub r12: u64,
    #[prost(uint64, required, tag = "5")]
    pub bp: u64,
    #[prost(uint64, required, tag = "6")]
    pub bx: u64,
    #[prost(uint64, required, tag = "7")]
    pub r11: u64,
    #[prost(uint64, required, tag = "8")]
    pub r10: u64,
    #[prost(uint64, required, tag = "9")]
    pub r9: u64,
    #[prost(uint64, required, tag = "10")]
    pub r8: u64,
    #[prost(uint64, required, tag = "11")]
    pub ax: u64,
    #[prost(uint64, required, tag = "12")]
    pub cx: u64,
    #[prost(uint64, required, tag = "13")]
    pub dx: u64,
    #[prost(uint64, required, tag = "14")]
    pub si: u64,
    #[prost(uint64, required, tag = "15")]
    pub di: u64,
    #[prost(uint64, required, tag = "16")]
    pub orig_ax: u64,
    #[prost(uint64, required, tag = "17")]
    pub ip: u64,
    #[prost(uint64, required, tag = "18")]
    pub cs: u64,
    #[prost(uint64, required, tag = "19")]
    pub flags: u64,
    #[prost(uint64, required, tag = "20")]
    pub sp: u64,
    #[prost(uint64, required, tag = "21")]
    pub ss: u64,
    #[prost(uint64, required, tag = "22")]
    pub fs_base: u64,
    #[prost(uint64, required, tag = "23")]
    pub gs_base: u64,
    #[prost(uint64, required, tag = "24")]
    pub ds: u64,
    #[prost(uint64, required, tag = "25")]
    pub es: u64,
    #[prost(uint64, required, tag = "26")]
    pub fs: u64,
    #[prost(uint64, required, tag = "27")]
    pub gs: u64,
    /// Schema default: `NATIVE`.
    #[prost(
        enumeration = "UserX86RegsMode",
        optional,
        tag = "28",
        default = "Native"
    )]
    pub mode: Option<i32>,
}

/// CRIU `user_x86_cet_entry` (images/core-x86.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct UserX86CetEntry {
    #[prost(uint64, required, tag = "1")]
    pub cet: u64,
    #[prost(uint64, required, tag = "2")]
    pub ssp: u64,
}

/// CRIU `user_x86_xsave_entry` (images/core-x86.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct UserX86XsaveEntry {
    #[prost(uint64, required, tag = "1")]
    pub xstate_bv: u64,
    #[prost(uint32, repeated, packed = "false", tag = "2")]
    pub ymmh_space: Vec<u32>,
    #[prost(uint64, repeated, packed = "false", tag = "3")]
    pub bndreg_state: Vec<u64>,
    #[prost(uint64, repeated, packed = "false", tag = "4")]
    pub bndcsr_state: Vec<u64>,
    #[prost(uint64, repeated, packed = "false", tag = "5")]
    pub opmask_reg: Vec<u64>,
    #[prost(uint64, repeated, packed = "false", tag = "6")]
    pub zmm_upper: Vec<u64>,
    #[prost(uint64, repeated, packed = "false", tag = "7")]
    pub hi16_zmm: Vec<u64>,
    #[prost(uint32, repeated, packed = "false", tag = "8")]
    pub pkru: Vec<u32>,
    #[prost(message, optional, tag = "9")]
    pub cet: Option<UserX86CetEntry>,
}

/// CRIU `user_x86_fpregs_entry` (images/core-x86.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct UserX86FpregsEntry {
    #[prost(uint32, required, tag = "1")]
    pub cwd: u32,
    #[prost(uint32, required, tag = "2")]
    pub swd: u32,
    #[prost(uint32, required, tag = "3")]
    pub twd: u32,
    #[prost(uint32, required, tag = "4")]
    pub fop: u32,
    #[prost(uint64, required, tag = "5")]
    pub rip: u64,
    #[prost(uint64, required, tag = "6")]
    pub rdp: u64,
    #[prost(uint32, required, tag = "7")]
    pub mxcsr: u32,
    #[prost(uint32, required, tag = "8")]
    pub mxcsr_mask: u32,
    #[prost(uint32, repeated, packed = "false", tag = "9")]
    pub st_space: Vec<u32>,
    #[prost(uint32, repeated, packed = "false", tag = "10")]
    pub xmm_space: Vec<u32>,
    /// Unused, kept for backward compatibility.
    #[prost(uint32, repeated, packed = "false", tag = "11")]
    pub padding: Vec<u32>,
    #[prost(message, optional, tag = "13")]
    pub xsave: Option<UserX86XsaveEntry>,
}

/// CRIU `user_desc_t` (images/core-x86.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct UserDescT {
    #[prost(uint32, required, tag = "1")]
    pub entry_number: u32,
    #[prost(uint32, required, tag = "2")]
    pub base_addr: u32,
    #[prost(uint32, required, tag = "3")]
    pub limit: u32,
    #[prost(bool, required, tag = "4")]
    pub seg_32bit: bool,
    #[prost(bool, required, tag = "5")]
    pub contents_h: bool,
    #[prost(bool, required, tag = "6")]
    pub contents_l: bool,
    #[prost(bool, required, tag = "7", default = "true")]
    pub read_exec_only: bool,
    #[prost(bool, required, tag = "8")]
    pub limit_in_pages: bool,
    #[prost(bool, required, tag = "9", default = "true")]
    pub seg_not_present: bool,
    #[prost(bool, required, tag = "10")]
    pub usable: bool,
}

/// CRIU `thread_info_x86` (images/core-x86.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ThreadInfoX86 {
    #[prost(uint64, required, tag = "1")]
    pub clear_tid_addr: u64,
    #[prost(message, required, tag = "2")]
    pub gpregs: UserX86RegsEntry,
    #[prost(message, required, tag = "3")]
    pub fpregs: UserX86FpregsEntry,
    #[prost(message, repeated, tag = "4")]
    pub tls: Vec<UserDescT>,
}

// ---------------------------------------------------------------------------
// rlimit.proto, timer.proto, creds.proto, sa.proto, siginfo.proto, rseq.proto
// ---------------------------------------------------------------------------

/// CRIU `rlimit_entry` (images/rlimit.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct RlimitEntry {
    #[prost(uint64, required, tag = "1")]
    pub cur: u64,
    #[prost(uint64, required, tag = "2")]
    pub max: u64,
}

/// CRIU `itimer_entry` (images/timer.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ItimerEntry {
    #[prost(uint64, required, tag = "1")]
    pub isec: u64,
    #[prost(uint64, required, tag = "2")]
    pub iusec: u64,
    #[prost(uint64, required, tag = "3")]
    pub vsec: u64,
    #[prost(uint64, required, tag = "4")]
    pub vusec: u64,
}

/// CRIU `posix_timer_entry` (images/timer.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PosixTimerEntry {
    #[prost(uint32, required, tag = "1")]
    pub it_id: u32,
    #[prost(uint32, required, tag = "2")]
    pub clock_id: u32,
    #[prost(uint32, required, tag = "3")]
    pub si_signo: u32,
    #[prost(uint32, required, tag = "4")]
    pub it_sigev_notify: u32,
    #[prost(uint64, required, tag = "5")]
    pub sival_ptr: u64,
    #[prost(uint32, required, tag = "6")]
    pub overrun: u32,
    #[prost(uint64, required, tag = "7")]
    pub isec: u64,
    #[prost(uint64, required, tag = "8")]
    pub insec: u64,
    #[prost(uint64, required, tag = "9")]
    pub vsec: u64,
    #[prost(uint64, required, tag = "10")]
    pub vnsec: u64,
    #[prost(int32, optional, tag = "11")]
    pub notify_thread_id: Option<i32>,
}

/// CRIU `task_timers_entry` (images/timer.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TaskTimersEntry {
    #[prost(message, required, tag = "1")]
    pub real: ItimerEntry,
    #[prost(message, required, tag = "2")]
    pub virt: ItimerEntry,
    #[prost(message, required, tag = "3")]
    pub prof: ItimerEntry,
    #[prost(message, repeated, tag = "4")]
    pub posix: Vec<PosixTimerEntry>,
}

/// CRIU `creds_entry` (images/creds.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CredsEntry {
    #[prost(uint32, required, tag = "1")]
    pub uid: u32,
    #[prost(uint32, required, tag = "2")]
    pub gid: u32,
    #[prost(uint32, required, tag = "3")]
    pub euid: u32,
    #[prost(uint32, required, tag = "4")]
    pub egid: u32,
    #[prost(uint32, required, tag = "5")]
    pub suid: u32,
    #[prost(uint32, required, tag = "6")]
    pub sgid: u32,
    #[prost(uint32, required, tag = "7")]
    pub fsuid: u32,
    #[prost(uint32, required, tag = "8")]
    pub fsgid: u32,
    #[prost(uint32, repeated, packed = "false", tag = "9")]
    pub cap_inh: Vec<u32>,
    #[prost(uint32, repeated, packed = "false", tag = "10")]
    pub cap_prm: Vec<u32>,
    #[prost(uint32, repeated, packed = "false", tag = "11")]
    pub cap_eff: Vec<u32>,
    #[prost(uint32, repeated, packed = "false", tag = "12")]
    pub cap_bnd: Vec<u32>,
    #[prost(uint32, required, tag = "13")]
    pub secbits: u32,
    #[prost(uint32, repeated, packed = "false", tag = "14")]
    pub groups: Vec<u32>,
    #[prost(string, optional, tag = "15")]
    pub lsm_profile: Option<String>,
    #[prost(string, optional, tag = "16")]
    pub lsm_sockcreate: Option<String>,
    #[prost(bytes = "vec", optional, tag = "17")]
    pub apparmor_data: Option<Vec<u8>>,
    #[prost(uint32, optional, tag = "18")]
    pub no_new_privs: Option<u32>,
    #[prost(uint32, repeated, packed = "false", tag = "19")]
    pub cap_amb: Vec<u32>,
}

/// CRIU `sa_entry` (images/sa.proto): one signal's `sigaction`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SaEntry {
    #[prost(uint64, required, tag = "1")]
    pub sigaction: u64,
    #[prost(uint64, required, tag = "2")]
    pub flags: u64,
    #[prost(uint64, required, tag = "3")]
    pub restorer: u64,
    #[prost(uint64, required, tag = "4")]
    pub mask: u64,
    #[prost(bool, optional, tag = "5")]
    pub compat_sigaction: Option<bool>,
    #[prost(uint64, optional, tag = "6")]
    pub mask_extended: Option<u64>,
}

/// CRIU `siginfo_entry` (images/siginfo.proto): a raw `siginfo_t`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SiginfoEntry {
    #[prost(bytes = "vec", required, tag = "1")]
    pub siginfo: Vec<u8>,
}

/// CRIU `signal_queue_entry` (images/siginfo.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SignalQueueEntry {
    #[prost(message, repeated, tag = "1")]
    pub signals: Vec<SiginfoEntry>,
}

/// CRIU `rseq_entry` (images/rseq.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct RseqEntry {
    #[prost(uint64, required, tag = "1")]
    pub rseq_abi_pointer: u64,
    #[prost(uint32, required, tag = "2")]
    pub rseq_abi_size: u32,
    #[prost(uint32, required, tag = "3")]
    pub signature: u32,
    #[prost(uint64, optional, tag = "4")]
    pub rseq_cs_pointer: Option<u64>,
}

// ---------------------------------------------------------------------------
// core.proto
// ---------------------------------------------------------------------------

/// CRIU `task_core_entry` (images/core.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TaskCoreEntry {
    /// See [`TaskState`] for the values.
    #[prost(uint32, required, tag = "1")]
    pub task_state: u32,
    #[prost(uint32, required, tag = "2")]
    pub exit_code: u32,
    #[prost(uint32, required, tag = "3")]
    pub personality: u32,
    #[prost(uint32, required, tag = "4")]
    pub flags: u32,
    #[prost(uint64, required, tag = "5")]
    pub blk_sigset: u64,
    #[prost(string, required, tag = "6")]
    pub comm: String,
    #[prost(message, optional, tag = "7")]
    pub timers: Option<TaskTimersEntry>,
    #[prost(message, optional, tag = "8")]
    pub rlimits: Option<TaskRlimitsEntry>,
    /// Deprecated (per-thread now).
    #[prost(uint32, optional, tag = "9")]
    pub cg_set: Option<u32>,
    #[prost(message, optional, tag = "10")]
    pub signals_s: Option<SignalQueueEntry>,
    /// Deprecated (per-thread now).
    #[prost(enumeration = "SeccompMode", optional, tag = "11")]
    pub old_seccomp_mode: Option<i32>,
    /// Deprecated (per-thread now).
    #[prost(uint32, optional, tag = "12")]
    pub old_seccomp_filter: Option<u32>,
    #[prost(uint32, optional, tag = "13")]
    pub loginuid: Option<u32>,
    #[prost(int32, optional, tag = "14")]
    pub oom_score_adj: Option<i32>,
    #[prost(message, repeated, tag = "15")]
    pub sigactions: Vec<SaEntry>,
    #[prost(bool, optional, tag = "18")]
    pub child_subreaper: Option<bool>,
    #[prost(uint64, optional, tag = "20")]
    pub blk_sigset_extended: Option<u64>,
    #[prost(uint32, optional, tag = "21")]
    pub stop_signo: Option<u32>,
    #[prost(uint32, optional, tag = "22")]
    pub membarrier_registration_mask: Option<u32>,
}

/// CRIU `task_kobj_ids_entry` (images/core.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TaskKobjIdsEntry {
    #[prost(uint32, required, tag = "1")]
    pub vm_id: u32,
    #[prost(uint32, required, tag = "2")]
    pub files_id: u32,
    #[prost(uint32, required, tag = "3")]
    pub fs_id: u32,
    #[prost(uint32, required, tag = "4")]
    pub sighand_id: u32,
    #[prost(uint32, optional, tag = "5")]
    pub pid_ns_id: Option<u32>,
    #[prost(uint32, optional, tag = "6")]
    pub net_ns_id: Option<u32>,
    #[prost(uint32, optional, tag = "7")]
    pub ipc_ns_id: Option<u32>,
    #[prost(uint32, optional, tag = "8")]
    pub uts_ns_id: Option<u32>,
    #[prost(uint32, optional, tag = "9")]
    pub mnt_ns_id: Option<u32>,
    #[prost(uint32, optional, tag = "10")]
    pub user_ns_id: Option<u32>,
    #[prost(uint32, optional, tag = "11")]
    pub cgroup_ns_id: Option<u32>,
    #[prost(uint32, optional, tag = "12")]
    pub time_ns_id: Option<u32>,
}

/// CRIU `thread_sas_entry` (images/core.proto): the sigaltstack.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ThreadSasEntry {
    #[prost(uint64, required, tag = "1")]
    pub ss_sp: u64,
    #[prost(uint64, required, tag = "2")]
    pub ss_size: u64,
    #[prost(uint32, required, tag = "3")]
    pub ss_flags: u32,
}

/// CRIU `thread_core_entry` (images/core.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ThreadCoreEntry {
    #[prost(uint64, required, tag = "1")]
    pub futex_rla: u64,
    #[prost(uint32, required, tag = "2")]
    pub futex_rla_len: u32,
    #[prost(sint32, optional, tag = "3")]
    pub sched_nice: Option<i32>,
    #[prost(uint32, optional, tag = "4")]
    pub sched_policy: Option<u32>,
    #[prost(uint32, optional, tag = "5")]
    pub sched_prio: Option<u32>,
    #[prost(uint64, optional, tag = "6")]
    pub blk_sigset: Option<u64>,
    #[prost(message, optional, tag = "7")]
    pub sas: Option<ThreadSasEntry>,
    #[prost(uint32, optional, tag = "8")]
    pub pdeath_sig: Option<u32>,
    #[prost(message, optional, tag = "9")]
    pub signals_p: Option<SignalQueueEntry>,
    #[prost(message, optional, tag = "10")]
    pub creds: Option<CredsEntry>,
    #[prost(enumeration = "SeccompMode", optional, tag = "11")]
    pub seccomp_mode: Option<i32>,
    #[prost(uint32, optional, tag = "12")]
    pub seccomp_filter: Option<u32>,
    #[prost(string, optional, tag = "13")]
    pub comm: Option<String>,
    #[prost(uint64, optional, tag = "14")]
    pub blk_sigset_extended: Option<u64>,
    #[prost(message, optional, tag = "15")]
    pub rseq_entry: Option<RseqEntry>,
    #[prost(uint32, optional, tag = "16")]
    pub cg_set: Option<u32>,
}

/// CRIU `task_rlimits_entry` (images/core.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TaskRlimitsEntry {
    #[prost(message, repeated, tag = "1")]
    pub rlimits: Vec<RlimitEntry>,
}

/// CRIU `core_entry` (images/core.proto).
///
/// The per-architecture `thread_info` fields other than x86 (tags 6, 8-13)
/// are not mirrored.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CoreEntry {
    #[prost(enumeration = "core_entry::March", required, tag = "1")]
    pub mtype: i32,
    #[prost(message, optional, tag = "2")]
    pub thread_info: Option<ThreadInfoX86>,
    #[prost(message, optional, tag = "3")]
    pub tc: Option<TaskCoreEntry>,
    #[prost(message, optional, tag = "4")]
    pub ids: Option<TaskKobjIdsEntry>,
    #[prost(message, optional, tag = "5")]
    pub thread_core: Option<ThreadCoreEntry>,
}

/// Nested types of CRIU `core_entry`.
pub mod core_entry {
    /// CRIU `core_entry.march` (images/core.proto).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum March {
        Unknown = 0,
        X8664 = 1,
        Arm = 2,
        Aarch64 = 3,
        Ppc64 = 4,
        S390 = 5,
        Mips = 6,
        Loongarch64 = 7,
        Riscv64 = 8,
    }
}

// ---------------------------------------------------------------------------
// mm.proto, vma.proto, pagemap.proto
// ---------------------------------------------------------------------------

/// CRIU `aio_ring_entry` (images/mm.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct AioRingEntry {
    #[prost(uint64, required, tag = "1")]
    pub id: u64,
    #[prost(uint32, required, tag = "2")]
    pub nr_req: u32,
    #[prost(uint32, required, tag = "3")]
    pub ring_len: u32,
}

/// CRIU `mm_entry` (images/mm.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct MmEntry {
    #[prost(uint64, required, tag = "1")]
    pub mm_start_code: u64,
    #[prost(uint64, required, tag = "2")]
    pub mm_end_code: u64,
    #[prost(uint64, required, tag = "3")]
    pub mm_start_data: u64,
    #[prost(uint64, required, tag = "4")]
    pub mm_end_data: u64,
    #[prost(uint64, required, tag = "5")]
    pub mm_start_stack: u64,
    #[prost(uint64, required, tag = "6")]
    pub mm_start_brk: u64,
    #[prost(uint64, required, tag = "7")]
    pub mm_brk: u64,
    #[prost(uint64, required, tag = "8")]
    pub mm_arg_start: u64,
    #[prost(uint64, required, tag = "9")]
    pub mm_arg_end: u64,
    #[prost(uint64, required, tag = "10")]
    pub mm_env_start: u64,
    #[prost(uint64, required, tag = "11")]
    pub mm_env_end: u64,
    #[prost(uint32, required, tag = "12")]
    pub exe_file_id: u32,
    #[prost(uint64, repeated, packed = "false", tag = "13")]
    pub mm_saved_auxv: Vec<u64>,
    #[prost(message, repeated, tag = "14")]
    pub vmas: Vec<VmaEntry>,
    #[prost(int32, optional, tag = "15")]
    pub dumpable: Option<i32>,
    #[prost(message, repeated, tag = "16")]
    pub aios: Vec<AioRingEntry>,
    #[prost(bool, optional, tag = "17")]
    pub thp_disabled: Option<bool>,
}

/// CRIU `vma_entry` (images/vma.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct VmaEntry {
    #[prost(uint64, required, tag = "1")]
    pub start: u64,
    #[prost(uint64, required, tag = "2")]
    pub end: u64,
    #[prost(uint64, required, tag = "3")]
    pub pgoff: u64,
    #[prost(uint64, required, tag = "4")]
    pub shmid: u64,
    /// `PROT_*` bits.
    #[prost(uint32, required, tag = "5")]
    pub prot: u32,
    /// `MAP_*` bits.
    #[prost(uint32, required, tag = "6")]
    pub flags: u32,
    /// CRIU `VMA_*` status bits.
    #[prost(uint32, required, tag = "7")]
    pub status: u32,
    /// Unused; -1 by default.
    #[prost(sint64, required, tag = "8")]
    pub fd: i64,
    /// madvise bitmap.
    #[prost(uint64, optional, tag = "9")]
    pub madv: Option<u64>,
    /// File status flags.
    #[prost(uint32, optional, tag = "10")]
    pub fdflags: Option<u32>,
}

/// CRIU `pagemap_head` (images/pagemap.proto): first record of a pagemap image.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PagemapHead {
    #[prost(uint32, required, tag = "1")]
    pub pages_id: u32,
}

/// CRIU `pagemap_entry` (images/pagemap.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PagemapEntry {
    #[prost(uint64, required, tag = "1")]
    pub vaddr: u64,
    /// 32-bit page count; CRIU 4.x writes `nr_pages` (tag 5) as well.
    #[prost(uint32, required, tag = "2")]
    pub compat_nr_pages: u32,
    #[prost(bool, optional, tag = "3")]
    pub in_parent: Option<bool>,
    /// `PE_*` bits.
    #[prost(uint32, optional, tag = "4")]
    pub flags: Option<u32>,
    #[prost(uint64, optional, tag = "5")]
    pub nr_pages: Option<u64>,
}

// ---------------------------------------------------------------------------
// fs.proto, timens.proto, seccomp.proto, stats.proto
// ---------------------------------------------------------------------------

/// CRIU `fs_entry` (images/fs.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct FsEntry {
    #[prost(uint32, required, tag = "1")]
    pub cwd_id: u32,
    #[prost(uint32, required, tag = "2")]
    pub root_id: u32,
    #[prost(uint32, optional, tag = "3")]
    pub umask: Option<u32>,
}

/// CRIU `timespec` (images/timens.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Timespec {
    #[prost(uint64, required, tag = "1")]
    pub tv_sec: u64,
    #[prost(uint64, required, tag = "2")]
    pub tv_nsec: u64,
}

/// CRIU `timens_entry` (images/timens.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TimensEntry {
    #[prost(message, required, tag = "1")]
    pub monotonic: Timespec,
    #[prost(message, required, tag = "2")]
    pub boottime: Timespec,
}

/// CRIU `seccomp_filter` (images/seccomp.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SeccompFilter {
    /// Raw `struct sock_filter` array.
    #[prost(bytes = "vec", required, tag = "1")]
    pub filter: Vec<u8>,
    #[prost(uint32, optional, tag = "2")]
    pub prev: Option<u32>,
    #[prost(uint32, optional, tag = "3")]
    pub flags: Option<u32>,
}

/// CRIU `seccomp_entry` (images/seccomp.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SeccompEntry {
    #[prost(message, repeated, tag = "1")]
    pub seccomp_filters: Vec<SeccompFilter>,
}

/// CRIU `dump_stats_entry` (images/stats.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct DumpStatsEntry {
    #[prost(uint32, required, tag = "1")]
    pub freezing_time: u32,
    #[prost(uint32, required, tag = "2")]
    pub frozen_time: u32,
    #[prost(uint32, required, tag = "3")]
    pub memdump_time: u32,
    #[prost(uint32, required, tag = "4")]
    pub memwrite_time: u32,
    #[prost(uint64, required, tag = "5")]
    pub pages_scanned: u64,
    #[prost(uint64, required, tag = "6")]
    pub pages_skipped_parent: u64,
    #[prost(uint64, required, tag = "7")]
    pub pages_written: u64,
    #[prost(uint32, optional, tag = "8")]
    pub irmap_resolve: Option<u32>,
    #[prost(uint64, required, tag = "9")]
    pub pages_lazy: u64,
    #[prost(uint64, optional, tag = "10")]
    pub page_pipes: Option<u64>,
    #[prost(uint64, optional, tag = "11")]
    pub page_pipe_bufs: Option<u64>,
    #[prost(uint64, optional, tag = "12")]
    pub shpages_scanned: Option<u64>,
    #[prost(uint64, optional, tag = "13")]
    pub shpages_skipped_parent: Option<u64>,
    #[prost(uint64, optional, tag = "14")]
    pub shpages_written: Option<u64>,
}

/// CRIU `restore_stats_entry` (images/stats.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct RestoreStatsEntry {
    #[prost(uint64, required, tag = "1")]
    pub pages_compared: u64,
    #[prost(uint64, required, tag = "2")]
    pub pages_skipped_cow: u64,
    #[prost(uint32, required, tag = "3")]
    pub forking_time: u32,
    #[prost(uint32, required, tag = "4")]
    pub restore_time: u32,
    #[prost(uint64, optional, tag = "5")]
    pub pages_restored: Option<u64>,
}

/// CRIU `stats_entry` (images/stats.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct StatsEntry {
    #[prost(message, optional, tag = "1")]
    pub dump: Option<DumpStatsEntry>,
    #[prost(message, optional, tag = "2")]
    pub restore: Option<RestoreStatsEntry>,
}

// ---------------------------------------------------------------------------
// fdinfo.proto and the file kinds it references
// ---------------------------------------------------------------------------

/// CRIU `fown_entry` (images/fown.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct FownEntry {
    #[prost(uint32, required, tag = "1")]
    pub uid: u32,
    #[prost(uint32, required, tag = "2")]
    pub euid: u32,
    #[prost(uint32, required, tag = "3")]
    pub signum: u32,
    #[prost(uint32, required, tag = "4")]
    pub pid_type: u32,
    #[prost(uint32, required, tag = "5")]
    pub pid: u32,
}

/// CRIU `fdinfo_entry` (images/fdinfo.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct FdinfoEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    /// fd flags (`FD_CLOEXEC`).
    #[prost(uint32, required, tag = "2")]
    pub flags: u32,
    #[prost(enumeration = "FdTypes", required, tag = "3")]
    pub r#type: i32,
    #[prost(uint32, required, tag = "4")]
    pub fd: u32,
    #[prost(string, optional, tag = "5")]
    pub xattr_security_selinux: Option<String>,
}

/// CRIU `eventpoll_tfd_entry` (images/eventpoll.proto): one watched
/// descriptor of an epoll instance.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct EventpollTfdEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(uint32, required, tag = "2")]
    pub tfd: u32,
    #[prost(uint32, required, tag = "3")]
    pub events: u32,
    #[prost(uint64, required, tag = "4")]
    pub data: u64,
    #[prost(uint32, optional, tag = "5")]
    pub dev: Option<u32>,
    #[prost(uint64, optional, tag = "6")]
    pub inode: Option<u64>,
    #[prost(uint64, optional, tag = "7")]
    pub pos: Option<u64>,
}

/// CRIU `eventpoll_file_entry` (images/eventpoll.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct EventpollFileEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(uint32, required, tag = "2")]
    pub flags: u32,
    #[prost(message, required, tag = "3")]
    pub fown: FownEntry,
    #[prost(message, repeated, tag = "4")]
    pub tfd: Vec<EventpollTfdEntry>,
}

/// CRIU `file_entry` (images/fdinfo.proto).
///
/// Only the kinds mirrored in this module are present; the inet, packet and
/// netlink socket, epoll, tun, inotify/fanotify and bpfmap payloads (tags 4,
/// 6, 7, 9, 11, 13, 14, 21) are skipped when decoding.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct FileEntry {
    #[prost(enumeration = "FdTypes", required, tag = "1")]
    pub r#type: i32,
    #[prost(uint32, required, tag = "2")]
    pub id: u32,
    #[prost(message, optional, tag = "3")]
    pub reg: Option<RegFileEntry>,
    #[prost(message, optional, tag = "5")]
    pub nsf: Option<NsFileEntry>,
    #[prost(message, optional, tag = "8")]
    pub efd: Option<EventfdFileEntry>,
    #[prost(message, optional, tag = "10")]
    pub sgfd: Option<SignalfdEntry>,
    #[prost(message, optional, tag = "9")]
    pub epfd: Option<EventpollFileEntry>,
    #[prost(message, optional, tag = "12")]
    pub tfd: Option<TimerfdEntry>,
    #[prost(message, optional, tag = "15")]
    pub ext: Option<ExtFileEntry>,
    #[prost(message, optional, tag = "16")]
    pub usk: Option<UnixSkEntry>,
    #[prost(message, optional, tag = "17")]
    pub fifo: Option<FifoEntry>,
    #[prost(message, optional, tag = "18")]
    pub pipe: Option<PipeEntry>,
    #[prost(message, optional, tag = "19")]
    pub tty: Option<TtyFileEntry>,
    #[prost(message, optional, tag = "20")]
    pub memfd: Option<MemfdFileEntry>,
    #[prost(message, optional, tag = "22")]
    pub pidfd: Option<PidfdEntry>,
}

/// CRIU `reg_file_entry` (images/regfile.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct RegFileEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    /// `O_*` open flags.
    #[prost(uint32, required, tag = "2")]
    pub flags: u32,
    #[prost(uint64, required, tag = "3")]
    pub pos: u64,
    #[prost(message, required, tag = "5")]
    pub fown: FownEntry,
    #[prost(string, required, tag = "6")]
    pub name: String,
    /// Schema default: -1.
    #[prost(sint32, optional, tag = "7", default = "-1")]
    pub mnt_id: Option<i32>,
    #[prost(uint64, optional, tag = "8")]
    pub size: Option<u64>,
    #[prost(bool, optional, tag = "9")]
    pub ext: Option<bool>,
    #[prost(uint32, optional, tag = "10")]
    pub mode: Option<u32>,
    #[prost(uint32, repeated, packed = "false", tag = "11")]
    pub build_id: Vec<u32>,
    #[prost(uint32, optional, tag = "12")]
    pub checksum: Option<u32>,
    #[prost(uint32, optional, tag = "13")]
    pub checksum_config: Option<u32>,
    #[prost(uint32, optional, tag = "14")]
    pub checksum_parameter: Option<u32>,
}

/// CRIU `ns_file_entry` (images/ns.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct NsFileEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(uint32, required, tag = "2")]
    pub ns_id: u32,
    #[prost(uint32, required, tag = "3")]
    pub ns_cflag: u32,
    #[prost(uint32, required, tag = "4")]
    pub flags: u32,
}

/// CRIU `eventfd_file_entry` (images/eventfd.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct EventfdFileEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(uint32, required, tag = "2")]
    pub flags: u32,
    #[prost(message, required, tag = "3")]
    pub fown: FownEntry,
    #[prost(uint64, required, tag = "4")]
    pub counter: u64,
}

/// CRIU `signalfd_entry` (images/signalfd.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SignalfdEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(uint32, required, tag = "2")]
    pub flags: u32,
    #[prost(message, required, tag = "3")]
    pub fown: FownEntry,
    #[prost(uint64, required, tag = "4")]
    pub sigmask: u64,
}

/// CRIU `timerfd_entry` (images/timerfd.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TimerfdEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(uint32, required, tag = "2")]
    pub flags: u32,
    #[prost(message, required, tag = "3")]
    pub fown: FownEntry,
    #[prost(uint32, required, tag = "4")]
    pub clockid: u32,
    #[prost(uint64, required, tag = "5")]
    pub ticks: u64,
    #[prost(uint32, required, tag = "6")]
    pub settime_flags: u32,
    #[prost(uint64, required, tag = "7")]
    pub vsec: u64,
    #[prost(uint64, required, tag = "8")]
    pub vnsec: u64,
    #[prost(uint64, required, tag = "9")]
    pub isec: u64,
    #[prost(uint64, required, tag = "10")]
    pub insec: u64,
}

/// CRIU `ext_file_entry` (images/ext-file.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ExtFileEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(message, required, tag = "5")]
    pub fown: FownEntry,
}

/// CRIU `fifo_entry` (images/fifo.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct FifoEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(uint32, required, tag = "2")]
    pub pipe_id: u32,
    #[prost(uint32, optional, tag = "3")]
    pub regf_id: Option<u32>,
}

/// CRIU `pipe_entry` (images/pipe.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PipeEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    /// Pipe inode number; both ends of one pipe share it.
    #[prost(uint32, required, tag = "2")]
    pub pipe_id: u32,
    #[prost(uint32, required, tag = "3")]
    pub flags: u32,
    #[prost(message, required, tag = "4")]
    pub fown: FownEntry,
}

/// CRIU `pipe_data_entry` (images/pipe-data.proto). In a pipes-data image
/// each record is followed by `bytes` raw bytes of queued pipe data.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PipeDataEntry {
    #[prost(uint32, required, tag = "1")]
    pub pipe_id: u32,
    #[prost(uint32, required, tag = "2")]
    pub bytes: u32,
    #[prost(uint32, optional, tag = "3")]
    pub size: Option<u32>,
}

/// CRIU `memfd_file_entry` (images/memfd.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct MemfdFileEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(uint32, required, tag = "2")]
    pub flags: u32,
    #[prost(uint64, required, tag = "3")]
    pub pos: u64,
    #[prost(message, required, tag = "4")]
    pub fown: FownEntry,
    #[prost(uint32, required, tag = "5")]
    pub inode_id: u32,
}

/// CRIU `pidfd_entry` (images/pidfd.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PidfdEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(uint32, required, tag = "2")]
    pub ino: u32,
    #[prost(uint32, required, tag = "3")]
    pub flags: u32,
    #[prost(int32, required, tag = "4")]
    pub nspid: i32,
    #[prost(message, required, tag = "5")]
    pub fown: FownEntry,
}

// ---------------------------------------------------------------------------
// sk-opts.proto, sk-unix.proto, sk-packet.proto
// ---------------------------------------------------------------------------

/// CRIU `sk_opts_entry` (images/sk-opts.proto): generic socket options.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SkOptsEntry {
    #[prost(uint32, required, tag = "1")]
    pub so_sndbuf: u32,
    #[prost(uint32, required, tag = "2")]
    pub so_rcvbuf: u32,
    #[prost(uint64, required, tag = "3")]
    pub so_snd_tmo_sec: u64,
    #[prost(uint64, required, tag = "4")]
    pub so_snd_tmo_usec: u64,
    #[prost(uint64, required, tag = "5")]
    pub so_rcv_tmo_sec: u64,
    #[prost(uint64, required, tag = "6")]
    pub so_rcv_tmo_usec: u64,
    #[prost(bool, optional, tag = "7")]
    pub reuseaddr: Option<bool>,
    #[prost(uint32, optional, tag = "8")]
    pub so_priority: Option<u32>,
    #[prost(uint32, optional, tag = "9")]
    pub so_rcvlowat: Option<u32>,
    #[prost(uint32, optional, tag = "10")]
    pub so_mark: Option<u32>,
    #[prost(bool, optional, tag = "11")]
    pub so_passcred: Option<bool>,
    #[prost(bool, optional, tag = "12")]
    pub so_passsec: Option<bool>,
    #[prost(bool, optional, tag = "13")]
    pub so_dontroute: Option<bool>,
    #[prost(bool, optional, tag = "14")]
    pub so_no_check: Option<bool>,
    #[prost(string, optional, tag = "15")]
    pub so_bound_dev: Option<String>,
    /// Raw `struct sock_filter` array, 8 bytes per instruction.
    #[prost(fixed64, repeated, packed = "false", tag = "16")]
    pub so_filter: Vec<u64>,
    #[prost(bool, optional, tag = "17")]
    pub so_reuseport: Option<bool>,
    #[prost(bool, optional, tag = "18")]
    pub so_broadcast: Option<bool>,
    #[prost(bool, optional, tag = "19")]
    pub so_keepalive: Option<bool>,
    /// Deprecated (`tcp_opts_entry` now).
    #[prost(uint32, optional, tag = "20")]
    pub tcp_keepcnt: Option<u32>,
    /// Deprecated (`tcp_opts_entry` now).
    #[prost(uint32, optional, tag = "21")]
    pub tcp_keepidle: Option<u32>,
    /// Deprecated (`tcp_opts_entry` now).
    #[prost(uint32, optional, tag = "22")]
    pub tcp_keepintvl: Option<u32>,
    #[prost(uint32, optional, tag = "23")]
    pub so_oobinline: Option<u32>,
    #[prost(uint32, optional, tag = "24")]
    pub so_linger: Option<u32>,
    #[prost(uint32, optional, tag = "25")]
    pub so_buf_lock: Option<u32>,
}

/// CRIU `file_perms_entry` (images/sk-unix.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct FilePermsEntry {
    #[prost(uint32, required, tag = "1")]
    pub mode: u32,
    #[prost(uint32, required, tag = "2")]
    pub uid: u32,
    #[prost(uint32, required, tag = "3")]
    pub gid: u32,
}

/// CRIU `unix_sk_entry` (images/sk-unix.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct UnixSkEntry {
    /// Links the entry to the `fdinfo_entry` records that open it.
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    /// Socket inode number; `peer` of the other end refers to it.
    #[prost(uint32, required, tag = "2")]
    pub ino: u32,
    /// `SOCK_*` type.
    #[prost(uint32, required, tag = "3")]
    pub r#type: u32,
    /// `TCP_*`-numbered socket state.
    #[prost(uint32, required, tag = "4")]
    pub state: u32,
    /// File status flags (`O_*`).
    #[prost(uint32, required, tag = "5")]
    pub flags: u32,
    /// CRIU `USK_*` bits.
    #[prost(uint32, required, tag = "6")]
    pub uflags: u32,
    #[prost(uint32, required, tag = "7")]
    pub backlog: u32,
    /// Inode number of the peer socket, 0 if none.
    #[prost(uint32, required, tag = "8")]
    pub peer: u32,
    #[prost(message, required, tag = "9")]
    pub fown: FownEntry,
    #[prost(message, required, tag = "10")]
    pub opts: SkOptsEntry,
    /// Bound address; an abstract name starts with and may contain NUL.
    #[prost(bytes = "vec", required, tag = "11")]
    pub name: Vec<u8>,
    #[prost(enumeration = "SkShutdown", optional, tag = "12")]
    pub shutdown: Option<i32>,
    #[prost(message, optional, tag = "13")]
    pub file_perms: Option<FilePermsEntry>,
    /// Directory a relative `name` is resolved against.
    #[prost(string, optional, tag = "14")]
    pub name_dir: Option<String>,
    #[prost(bool, optional, tag = "15")]
    pub deleted: Option<bool>,
    #[prost(uint32, optional, tag = "16")]
    pub ns_id: Option<u32>,
    /// Schema default: -1.
    #[prost(sint32, optional, tag = "17", default = "-1")]
    pub mnt_id: Option<i32>,
}

/// CRIU `scm_entry` (images/sk-packet.proto): one control message.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ScmEntry {
    /// `SCM_*` type.
    #[prost(uint32, required, tag = "1")]
    pub r#type: u32,
    /// For `SCM_RIGHTS`: the file ids of the passed descriptors.
    #[prost(uint32, repeated, packed = "false", tag = "2")]
    pub rights: Vec<u32>,
}

/// CRIU `sk_packet_entry` (images/sk-packet.proto). In an sk-queues image
/// each record is followed by `length` raw bytes of queued data.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SkPacketEntry {
    /// `id` of the socket whose receive queue holds the packet.
    #[prost(uint32, required, tag = "1")]
    pub id_for: u32,
    #[prost(uint32, required, tag = "2")]
    pub length: u32,
    #[prost(message, repeated, tag = "4")]
    pub scm: Vec<ScmEntry>,
}

// ---------------------------------------------------------------------------
// tty.proto
// ---------------------------------------------------------------------------

/// CRIU `winsize_entry` (images/tty.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct WinsizeEntry {
    #[prost(uint32, required, tag = "1")]
    pub ws_row: u32,
    #[prost(uint32, required, tag = "2")]
    pub ws_col: u32,
    #[prost(uint32, required, tag = "3")]
    pub ws_xpixel: u32,
    #[prost(uint32, required, tag = "4")]
    pub ws_ypixel: u32,
}

/// CRIU `termios_entry` (images/tty.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TermiosEntry {
    #[prost(uint32, required, tag = "1")]
    pub c_iflag: u32,
    #[prost(uint32, required, tag = "2")]
    pub c_oflag: u32,
    #[prost(uint32, required, tag = "3")]
    pub c_cflag: u32,
    #[prost(uint32, required, tag = "4")]
    pub c_lflag: u32,
    #[prost(uint32, required, tag = "5")]
    pub c_line: u32,
    #[prost(uint32, required, tag = "6")]
    pub c_ispeed: u32,
    #[prost(uint32, required, tag = "7")]
    pub c_ospeed: u32,
    #[prost(uint32, repeated, packed = "false", tag = "8")]
    pub c_cc: Vec<u32>,
}

/// CRIU `tty_pty_entry` (images/tty.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TtyPtyEntry {
    #[prost(uint32, required, tag = "1")]
    pub index: u32,
}

/// CRIU `tty_data_entry` (images/tty.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TtyDataEntry {
    #[prost(uint32, required, tag = "1")]
    pub tty_id: u32,
    #[prost(bytes = "vec", required, tag = "2")]
    pub data: Vec<u8>,
}

/// CRIU `tty_info_entry` (images/tty.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TtyInfoEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(enumeration = "TtyType", required, tag = "2")]
    pub r#type: i32,
    #[prost(bool, required, tag = "3")]
    pub locked: bool,
    #[prost(bool, required, tag = "4")]
    pub exclusive: bool,
    #[prost(bool, required, tag = "5")]
    pub packet_mode: bool,
    #[prost(uint32, required, tag = "6")]
    pub sid: u32,
    #[prost(uint32, required, tag = "7")]
    pub pgrp: u32,
    #[prost(uint32, required, tag = "8")]
    pub rdev: u32,
    #[prost(message, optional, tag = "9")]
    pub termios: Option<TermiosEntry>,
    #[prost(message, optional, tag = "10")]
    pub termios_locked: Option<TermiosEntry>,
    #[prost(message, optional, tag = "11")]
    pub winsize: Option<WinsizeEntry>,
    #[prost(message, optional, tag = "12")]
    pub pty: Option<TtyPtyEntry>,
    #[prost(uint32, optional, tag = "13")]
    pub dev: Option<u32>,
    #[prost(uint32, optional, tag = "14")]
    pub uid: Option<u32>,
    #[prost(uint32, optional, tag = "15")]
    pub gid: Option<u32>,
}

/// CRIU `tty_file_entry` (images/tty.proto).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TtyFileEntry {
    #[prost(uint32, required, tag = "1")]
    pub id: u32,
    #[prost(uint32, required, tag = "2")]
    pub tty_info_id: u32,
    #[prost(uint32, required, tag = "3")]
    pub flags: u32,
    #[prost(message, required, tag = "4")]
    pub fown: FownEntry,
    #[prost(uint32, optional, tag = "6")]
    pub regf_id: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use std::path::PathBuf;

    const FIXTURES: &str = "/work/shared/fixtures";
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
}
