//! Static descriptors of the CRIU 4.2 messages mirrored in `proto.rs`.
//!
//! The tables carry what a generic decoder needs to print a message the way
//! `crit decode` does: field names, tag numbers, wire kinds, labels and CRIU's
//! `(criu).*` display options. Fields are listed in tag order, which is also
//! the order crit prints them in.

/// One protobuf message type.
#[derive(Debug)]
pub struct MsgDesc {
    /// The message name as written in CRIU's `.proto` file.
    pub name: &'static str,
    /// Fields sorted by tag.
    pub fields: &'static [FieldDesc],
}

impl MsgDesc {
    /// The field with tag `tag`, if the schema knows it.
    pub fn field(&self, tag: u32) -> Option<&'static FieldDesc> {
        self.fields.iter().find(|f| f.tag == tag)
    }
}

/// One field of a message.
#[derive(Debug, Clone, Copy)]
pub struct FieldDesc {
    pub tag: u32,
    pub name: &'static str,
    pub kind: Kind,
    pub label: Label,
    pub fmt: Fmt,
}

impl FieldDesc {
    /// A field printed without any `(criu).*` option.
    pub const fn new(tag: u32, name: &'static str, kind: Kind, label: Label) -> Self {
        FieldDesc {
            tag,
            name,
            kind,
            label,
            fmt: Fmt::Plain,
        }
    }

    /// The same field with a display option.
    pub const fn with(self, fmt: Fmt) -> Self {
        FieldDesc { fmt, ..self }
    }

    /// Whether the field may occur any number of times.
    pub const fn is_repeated(&self) -> bool {
        matches!(self.label, Label::Repeated | Label::Packed)
    }
}

/// proto2 field label. `Packed` is a repeated scalar encoded packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    Optional,
    Required,
    Repeated,
    Packed,
}

/// Protobuf field type.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Uint32,
    Uint64,
    Int32,
    Int64,
    Sint32,
    Sint64,
    Bool,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
    Float,
    Double,
    String,
    Bytes,
    Enum(&'static EnumDesc),
    Message(&'static MsgDesc),
}

/// A protobuf enum: numbers and their names.
#[derive(Debug)]
pub struct EnumDesc {
    pub name: &'static str,
    pub values: &'static [(i32, &'static str)],
}

impl EnumDesc {
    /// The name of `value`, if it is one of the enum's values.
    pub fn name_of(&self, value: i32) -> Option<&'static str> {
        self.values
            .iter()
            .find(|(v, _)| *v == value)
            .map(|(_, n)| *n)
    }
}

/// How crit's pretty mode prints an integer field (CRIU's `(criu).*` options).
#[derive(Debug, Clone, Copy)]
pub enum Fmt {
    /// A number.
    Plain,
    /// `(criu).hex`: `"0x1f"`. On a message field it applies to every
    /// integer inside that message, recursively.
    Hex,
    /// `(criu).flags`: `"A | B | 0x40"`, with unnamed bits shown in hex.
    Flags(&'static [(u64, &'static str)]),
    /// `(criu).dev`: `"major:minor"` in the kernel's internal encoding
    /// (20 minor bits).
    Dev,
    /// `(criu).odev`: `"major:minor"` in the glibc `dev_t` encoding.
    Odev,
    /// `(criu).ipadd` on a repeated uint32: one IPv4 or IPv6 address string.
    Ipaddr,
    /// `(criu).dict`: a name for the known values, the number otherwise.
    Dict(&'static [(u64, &'static str)]),
}

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

// ---------------------------------------------------------------------------
// Enums
// ---------------------------------------------------------------------------

/// CRIU enum `TtyType`.
pub static TTY_TYPE: EnumDesc = EnumDesc {
    name: "TtyType",
    values: &[
        (0, "UNKNOWN"),
        (1, "PTY"),
        (2, "CONSOLE"),
        (3, "VT"),
        (4, "CTTY"),
        (5, "EXT_TTY"),
        (6, "SERIAL"),
    ],
};

/// CRIU enum `core_entry.march`.
pub static CORE_ENTRY_MARCH: EnumDesc = EnumDesc {
    name: "core_entry.march",
    values: &[
        (0, "UNKNOWN"),
        (1, "X86_64"),
        (2, "ARM"),
        (3, "AARCH64"),
        (4, "PPC64"),
        (5, "S390"),
        (6, "MIPS"),
        (7, "LOONGARCH64"),
        (8, "RISCV64"),
    ],
};

/// CRIU enum `fd_types`.
pub static FD_TYPES: EnumDesc = EnumDesc {
    name: "fd_types",
    values: &[
        (0, "UND"),
        (1, "REG"),
        (2, "PIPE"),
        (3, "FIFO"),
        (4, "INETSK"),
        (5, "UNIXSK"),
        (6, "EVENTFD"),
        (7, "EVENTPOLL"),
        (8, "INOTIFY"),
        (9, "SIGNALFD"),
        (10, "PACKETSK"),
        (11, "TTY"),
        (12, "FANOTIFY"),
        (13, "NETLINKSK"),
        (14, "NS"),
        (15, "TUNF"),
        (16, "EXT"),
        (17, "TIMERFD"),
        (18, "MEMFD"),
        (19, "BPFMAP"),
        (20, "PIDFD"),
        (65534, "CTL_TTY"),
        (65535, "AUTOFS_PIPE"),
    ],
};

/// CRIU enum `lsmtype`.
pub static LSMTYPE: EnumDesc = EnumDesc {
    name: "lsmtype",
    values: &[(0, "NO_LSM"), (1, "SELINUX"), (2, "APPARMOR")],
};

/// CRIU enum `seccomp_mode`.
pub static SECCOMP_MODE: EnumDesc = EnumDesc {
    name: "seccomp_mode",
    values: &[(0, "disabled"), (1, "strict"), (2, "filter")],
};

/// CRIU enum `sk_shutdown`.
pub static SK_SHUTDOWN: EnumDesc = EnumDesc {
    name: "sk_shutdown",
    values: &[(0, "NONE"), (1, "READ"), (2, "WRITE"), (3, "BOTH")],
};

/// CRIU enum `user_x86_regs_mode`.
pub static USER_X86_REGS_MODE: EnumDesc = EnumDesc {
    name: "user_x86_regs_mode",
    values: &[(1, "NATIVE"), (2, "COMPAT")],
};

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

/// CRIU `inventory_entry`.
pub static INVENTORY_ENTRY: MsgDesc = MsgDesc {
    name: "inventory_entry",
    fields: &[
        FieldDesc::new(1, "img_version", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "fdinfo_per_id", Kind::Bool, Label::Optional),
        FieldDesc::new(
            3,
            "root_ids",
            Kind::Message(&TASK_KOBJ_IDS_ENTRY),
            Label::Optional,
        ),
        FieldDesc::new(4, "ns_per_id", Kind::Bool, Label::Optional),
        FieldDesc::new(5, "root_cg_set", Kind::Uint32, Label::Optional),
        FieldDesc::new(6, "lsmtype", Kind::Enum(&LSMTYPE), Label::Optional),
        FieldDesc::new(8, "dump_uptime", Kind::Uint64, Label::Optional),
        FieldDesc::new(9, "pre_dump_mode", Kind::Uint32, Label::Optional),
        FieldDesc::new(10, "tcp_close", Kind::Bool, Label::Optional),
        FieldDesc::new(11, "network_lock_method", Kind::Uint32, Label::Optional),
        FieldDesc::new(
            12,
            "plugins_entry",
            Kind::Message(&PLUGINS_ENTRY),
            Label::Optional,
        ),
        FieldDesc::new(13, "dump_criu_run_id", Kind::String, Label::Optional),
        FieldDesc::new(14, "allow_uprobes", Kind::Bool, Label::Optional),
    ],
};

/// CRIU `plugins_entry`.
pub static PLUGINS_ENTRY: MsgDesc = MsgDesc {
    name: "plugins_entry",
    fields: &[FieldDesc::new(12, "plugins", Kind::String, Label::Repeated)],
};

/// CRIU `pstree_entry`.
pub static PSTREE_ENTRY: MsgDesc = MsgDesc {
    name: "pstree_entry",
    fields: &[
        FieldDesc::new(1, "pid", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "ppid", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "pgid", Kind::Uint32, Label::Required),
        FieldDesc::new(4, "sid", Kind::Uint32, Label::Required),
        FieldDesc::new(5, "threads", Kind::Uint32, Label::Repeated),
    ],
};

/// CRIU `core_entry`.
pub static CORE_ENTRY: MsgDesc = MsgDesc {
    name: "core_entry",
    fields: &[
        FieldDesc::new(1, "mtype", Kind::Enum(&CORE_ENTRY_MARCH), Label::Required),
        FieldDesc::new(
            2,
            "thread_info",
            Kind::Message(&THREAD_INFO_X86),
            Label::Optional,
        ),
        FieldDesc::new(3, "tc", Kind::Message(&TASK_CORE_ENTRY), Label::Optional),
        FieldDesc::new(
            4,
            "ids",
            Kind::Message(&TASK_KOBJ_IDS_ENTRY),
            Label::Optional,
        ),
        FieldDesc::new(
            5,
            "thread_core",
            Kind::Message(&THREAD_CORE_ENTRY),
            Label::Optional,
        ),
    ],
};

/// CRIU `thread_info_x86`.
pub static THREAD_INFO_X86: MsgDesc = MsgDesc {
    name: "thread_info_x86",
    fields: &[
        FieldDesc::new(1, "clear_tid_addr", Kind::Uint64, Label::Required).with(Fmt::Hex),
        FieldDesc::new(
            2,
            "gpregs",
            Kind::Message(&USER_X86_REGS_ENTRY),
            Label::Required,
        )
        .with(Fmt::Hex),
        FieldDesc::new(
            3,
            "fpregs",
            Kind::Message(&USER_X86_FPREGS_ENTRY),
            Label::Required,
        ),
        FieldDesc::new(4, "tls", Kind::Message(&USER_DESC_T), Label::Repeated),
    ],
};

/// CRIU `user_x86_regs_entry`.
pub static USER_X86_REGS_ENTRY: MsgDesc = MsgDesc {
    name: "user_x86_regs_entry",
    fields: &[
        FieldDesc::new(1, "r15", Kind::Uint64, Label::Required),
        FieldDesc::new(2, "r14", Kind::Uint64, Label::Required),
        FieldDesc::new(3, "r13", Kind::Uint64, Label::Required),
        FieldDesc::new(4, "r12", Kind::Uint64, Label::Required),
        FieldDesc::new(5, "bp", Kind::Uint64, Label::Required),
        FieldDesc::new(6, "bx", Kind::Uint64, Label::Required),
        FieldDesc::new(7, "r11", Kind::Uint64, Label::Required),
        FieldDesc::new(8, "r10", Kind::Uint64, Label::Required),
        FieldDesc::new(9, "r9", Kind::Uint64, Label::Required),
        FieldDesc::new(10, "r8", Kind::Uint64, Label::Required),
        FieldDesc::new(11, "ax", Kind::Uint64, Label::Required),
        FieldDesc::new(12, "cx", Kind::Uint64, Label::Required),
        FieldDesc::new(13, "dx", Kind::Uint64, Label::Required),
        FieldDesc::new(14, "si", Kind::Uint64, Label::Required),
        FieldDesc::new(15, "di", Kind::Uint64, Label::Required),
        FieldDesc::new(16, "orig_ax", Kind::Uint64, Label::Required),
        FieldDesc::new(17, "ip", Kind::Uint64, Label::Required),
        FieldDesc::new(18, "cs", Kind::Uint64, Label::Required),
        FieldDesc::new(19, "flags", Kind::Uint64, Label::Required),
        FieldDesc::new(20, "sp", Kind::Uint64, Label::Required),
        FieldDesc::new(21, "ss", Kind::Uint64, Label::Required),
        FieldDesc::new(22, "fs_base", Kind::Uint64, Label::Required),
        FieldDesc::new(23, "gs_base", Kind::Uint64, Label::Required),
        FieldDesc::new(24, "ds", Kind::Uint64, Label::Required),
        FieldDesc::new(25, "es", Kind::Uint64, Label::Required),
        FieldDesc::new(26, "fs", Kind::Uint64, Label::Required),
        FieldDesc::new(27, "gs", Kind::Uint64, Label::Required),
        FieldDesc::new(28, "mode", Kind::Enum(&USER_X86_REGS_MODE), Label::Optional),
    ],
};

/// CRIU `user_x86_fpregs_entry`.
pub static USER_X86_FPREGS_ENTRY: MsgDesc = MsgDesc {
    name: "user_x86_fpregs_entry",
    fields: &[
        FieldDesc::new(1, "cwd", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "swd", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "twd", Kind::Uint32, Label::Required),
        FieldDesc::new(4, "fop", Kind::Uint32, Label::Required),
        FieldDesc::new(5, "rip", Kind::Uint64, Label::Required),
        FieldDesc::new(6, "rdp", Kind::Uint64, Label::Required),
        FieldDesc::new(7, "mxcsr", Kind::Uint32, Label::Required),
        FieldDesc::new(8, "mxcsr_mask", Kind::Uint32, Label::Required),
        FieldDesc::new(9, "st_space", Kind::Uint32, Label::Repeated),
        FieldDesc::new(10, "xmm_space", Kind::Uint32, Label::Repeated),
        FieldDesc::new(11, "padding", Kind::Uint32, Label::Repeated),
        FieldDesc::new(
            13,
            "xsave",
            Kind::Message(&USER_X86_XSAVE_ENTRY),
            Label::Optional,
        ),
    ],
};

/// CRIU `user_x86_xsave_entry`.
pub static USER_X86_XSAVE_ENTRY: MsgDesc = MsgDesc {
    name: "user_x86_xsave_entry",
    fields: &[
        FieldDesc::new(1, "xstate_bv", Kind::Uint64, Label::Required),
        FieldDesc::new(2, "ymmh_space", Kind::Uint32, Label::Repeated),
        FieldDesc::new(3, "bndreg_state", Kind::Uint64, Label::Repeated),
        FieldDesc::new(4, "bndcsr_state", Kind::Uint64, Label::Repeated),
        FieldDesc::new(5, "opmask_reg", Kind::Uint64, Label::Repeated),
        FieldDesc::new(6, "zmm_upper", Kind::Uint64, Label::Repeated),
        FieldDesc::new(7, "hi16_zmm", Kind::Uint64, Label::Repeated),
        FieldDesc::new(8, "pkru", Kind::Uint32, Label::Repeated),
        FieldDesc::new(
            9,
            "cet",
            Kind::Message(&USER_X86_CET_ENTRY),
            Label::Optional,
        ),
    ],
};

/// CRIU `user_x86_cet_entry`.
pub static USER_X86_CET_ENTRY: MsgDesc = MsgDesc {
    name: "user_x86_cet_entry",
    fields: &[
        FieldDesc::new(1, "cet", Kind::Uint64, Label::Required).with(Fmt::Hex),
        FieldDesc::new(2, "ssp", Kind::Uint64, Label::Required).with(Fmt::Hex),
    ],
};

/// CRIU `user_desc_t`.
pub static USER_DESC_T: MsgDesc = MsgDesc {
    name: "user_desc_t",
    fields: &[
        FieldDesc::new(1, "entry_number", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "base_addr", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "limit", Kind::Uint32, Label::Required),
        FieldDesc::new(4, "seg_32bit", Kind::Bool, Label::Required),
        FieldDesc::new(5, "contents_h", Kind::Bool, Label::Required),
        FieldDesc::new(6, "contents_l", Kind::Bool, Label::Required),
        FieldDesc::new(7, "read_exec_only", Kind::Bool, Label::Required),
        FieldDesc::new(8, "limit_in_pages", Kind::Bool, Label::Required),
        FieldDesc::new(9, "seg_not_present", Kind::Bool, Label::Required),
        FieldDesc::new(10, "usable", Kind::Bool, Label::Required),
    ],
};

/// CRIU `task_core_entry`.
pub static TASK_CORE_ENTRY: MsgDesc = MsgDesc {
    name: "task_core_entry",
    fields: &[
        FieldDesc::new(1, "task_state", Kind::Uint32, Label::Required)
            .with(Fmt::Dict(&TASK_STATE_GEN)),
        FieldDesc::new(2, "exit_code", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "personality", Kind::Uint32, Label::Required),
        FieldDesc::new(4, "flags", Kind::Uint32, Label::Required),
        FieldDesc::new(5, "blk_sigset", Kind::Uint64, Label::Required).with(Fmt::Hex),
        FieldDesc::new(6, "comm", Kind::String, Label::Required),
        FieldDesc::new(
            7,
            "timers",
            Kind::Message(&TASK_TIMERS_ENTRY),
            Label::Optional,
        ),
        FieldDesc::new(
            8,
            "rlimits",
            Kind::Message(&TASK_RLIMITS_ENTRY),
            Label::Optional,
        ),
        FieldDesc::new(9, "cg_set", Kind::Uint32, Label::Optional),
        FieldDesc::new(
            10,
            "signals_s",
            Kind::Message(&SIGNAL_QUEUE_ENTRY),
            Label::Optional,
        ),
        FieldDesc::new(
            11,
            "old_seccomp_mode",
            Kind::Enum(&SECCOMP_MODE),
            Label::Optional,
        ),
        FieldDesc::new(12, "old_seccomp_filter", Kind::Uint32, Label::Optional),
        FieldDesc::new(13, "loginuid", Kind::Uint32, Label::Optional),
        FieldDesc::new(14, "oom_score_adj", Kind::Int32, Label::Optional),
        FieldDesc::new(15, "sigactions", Kind::Message(&SA_ENTRY), Label::Repeated),
        FieldDesc::new(18, "child_subreaper", Kind::Bool, Label::Optional),
        FieldDesc::new(20, "blk_sigset_extended", Kind::Uint64, Label::Optional).with(Fmt::Hex),
        FieldDesc::new(21, "stop_signo", Kind::Uint32, Label::Optional),
        FieldDesc::new(
            22,
            "membarrier_registration_mask",
            Kind::Uint32,
            Label::Optional,
        )
        .with(Fmt::Hex),
    ],
};

/// CRIU `task_kobj_ids_entry`.
pub static TASK_KOBJ_IDS_ENTRY: MsgDesc = MsgDesc {
    name: "task_kobj_ids_entry",
    fields: &[
        FieldDesc::new(1, "vm_id", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "files_id", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "fs_id", Kind::Uint32, Label::Required),
        FieldDesc::new(4, "sighand_id", Kind::Uint32, Label::Required),
        FieldDesc::new(5, "pid_ns_id", Kind::Uint32, Label::Optional),
        FieldDesc::new(6, "net_ns_id", Kind::Uint32, Label::Optional),
        FieldDesc::new(7, "ipc_ns_id", Kind::Uint32, Label::Optional),
        FieldDesc::new(8, "uts_ns_id", Kind::Uint32, Label::Optional),
        FieldDesc::new(9, "mnt_ns_id", Kind::Uint32, Label::Optional),
        FieldDesc::new(10, "user_ns_id", Kind::Uint32, Label::Optional),
        FieldDesc::new(11, "cgroup_ns_id", Kind::Uint32, Label::Optional),
        FieldDesc::new(12, "time_ns_id", Kind::Uint32, Label::Optional),
    ],
};

/// CRIU `thread_core_entry`.
pub static THREAD_CORE_ENTRY: MsgDesc = MsgDesc {
    name: "thread_core_entry",
    fields: &[
        FieldDesc::new(1, "futex_rla", Kind::Uint64, Label::Required),
        FieldDesc::new(2, "futex_rla_len", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "sched_nice", Kind::Sint32, Label::Optional),
        FieldDesc::new(4, "sched_policy", Kind::Uint32, Label::Optional),
        FieldDesc::new(5, "sched_prio", Kind::Uint32, Label::Optional),
        FieldDesc::new(6, "blk_sigset", Kind::Uint64, Label::Optional),
        FieldDesc::new(7, "sas", Kind::Message(&THREAD_SAS_ENTRY), Label::Optional),
        FieldDesc::new(8, "pdeath_sig", Kind::Uint32, Label::Optional),
        FieldDesc::new(
            9,
            "signals_p",
            Kind::Message(&SIGNAL_QUEUE_ENTRY),
            Label::Optional,
        ),
        FieldDesc::new(10, "creds", Kind::Message(&CREDS_ENTRY), Label::Optional),
        FieldDesc::new(
            11,
            "seccomp_mode",
            Kind::Enum(&SECCOMP_MODE),
            Label::Optional,
        ),
        FieldDesc::new(12, "seccomp_filter", Kind::Uint32, Label::Optional),
        FieldDesc::new(13, "comm", Kind::String, Label::Optional),
        FieldDesc::new(14, "blk_sigset_extended", Kind::Uint64, Label::Optional),
        FieldDesc::new(
            15,
            "rseq_entry",
            Kind::Message(&RSEQ_ENTRY),
            Label::Optional,
        ),
        FieldDesc::new(16, "cg_set", Kind::Uint32, Label::Optional),
    ],
};

/// CRIU `thread_sas_entry`.
pub static THREAD_SAS_ENTRY: MsgDesc = MsgDesc {
    name: "thread_sas_entry",
    fields: &[
        FieldDesc::new(1, "ss_sp", Kind::Uint64, Label::Required),
        FieldDesc::new(2, "ss_size", Kind::Uint64, Label::Required),
        FieldDesc::new(3, "ss_flags", Kind::Uint32, Label::Required),
    ],
};

/// CRIU `task_rlimits_entry`.
pub static TASK_RLIMITS_ENTRY: MsgDesc = MsgDesc {
    name: "task_rlimits_entry",
    fields: &[FieldDesc::new(
        1,
        "rlimits",
        Kind::Message(&RLIMIT_ENTRY),
        Label::Repeated,
    )],
};

/// CRIU `rlimit_entry`.
pub static RLIMIT_ENTRY: MsgDesc = MsgDesc {
    name: "rlimit_entry",
    fields: &[
        FieldDesc::new(1, "cur", Kind::Uint64, Label::Required),
        FieldDesc::new(2, "max", Kind::Uint64, Label::Required),
    ],
};

/// CRIU `task_timers_entry`.
pub static TASK_TIMERS_ENTRY: MsgDesc = MsgDesc {
    name: "task_timers_entry",
    fields: &[
        FieldDesc::new(1, "real", Kind::Message(&ITIMER_ENTRY), Label::Required),
        FieldDesc::new(2, "virt", Kind::Message(&ITIMER_ENTRY), Label::Required),
        FieldDesc::new(3, "prof", Kind::Message(&ITIMER_ENTRY), Label::Required),
        FieldDesc::new(
            4,
            "posix",
            Kind::Message(&POSIX_TIMER_ENTRY),
            Label::Repeated,
        ),
    ],
};

/// CRIU `itimer_entry`.
pub static ITIMER_ENTRY: MsgDesc = MsgDesc {
    name: "itimer_entry",
    fields: &[
        FieldDesc::new(1, "isec", Kind::Uint64, Label::Required),
        FieldDesc::new(2, "iusec", Kind::Uint64, Label::Required),
        FieldDesc::new(3, "vsec", Kind::Uint64, Label::Required),
        FieldDesc::new(4, "vusec", Kind::Uint64, Label::Required),
    ],
};

/// CRIU `posix_timer_entry`.
pub static POSIX_TIMER_ENTRY: MsgDesc = MsgDesc {
    name: "posix_timer_entry",
    fields: &[
        FieldDesc::new(1, "it_id", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "clock_id", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "si_signo", Kind::Uint32, Label::Required),
        FieldDesc::new(4, "it_sigev_notify", Kind::Uint32, Label::Required),
        FieldDesc::new(5, "sival_ptr", Kind::Uint64, Label::Required),
        FieldDesc::new(6, "overrun", Kind::Uint32, Label::Required),
        FieldDesc::new(7, "isec", Kind::Uint64, Label::Required),
        FieldDesc::new(8, "insec", Kind::Uint64, Label::Required),
        FieldDesc::new(9, "vsec", Kind::Uint64, Label::Required),
        FieldDesc::new(10, "vnsec", Kind::Uint64, Label::Required),
        FieldDesc::new(11, "notify_thread_id", Kind::Int32, Label::Optional),
    ],
};

/// CRIU `creds_entry`.
pub static CREDS_ENTRY: MsgDesc = MsgDesc {
    name: "creds_entry",
    fields: &[
        FieldDesc::new(1, "uid", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "gid", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "euid", Kind::Uint32, Label::Required),
        FieldDesc::new(4, "egid", Kind::Uint32, Label::Required),
        FieldDesc::new(5, "suid", Kind::Uint32, Label::Required),
        FieldDesc::new(6, "sgid", Kind::Uint32, Label::Required),
        FieldDesc::new(7, "fsuid", Kind::Uint32, Label::Required),
        FieldDesc::new(8, "fsgid", Kind::Uint32, Label::Required),
        FieldDesc::new(9, "cap_inh", Kind::Uint32, Label::Repeated),
        FieldDesc::new(10, "cap_prm", Kind::Uint32, Label::Repeated),
        FieldDesc::new(11, "cap_eff", Kind::Uint32, Label::Repeated),
        FieldDesc::new(12, "cap_bnd", Kind::Uint32, Label::Repeated),
        FieldDesc::new(13, "secbits", Kind::Uint32, Label::Required),
        FieldDesc::new(14, "groups", Kind::Uint32, Label::Repeated),
        FieldDesc::new(15, "lsm_profile", Kind::String, Label::Optional),
        FieldDesc::new(16, "lsm_sockcreate", Kind::String, Label::Optional),
        FieldDesc::new(17, "apparmor_data", Kind::Bytes, Label::Optional),
        FieldDesc::new(18, "no_new_privs", Kind::Uint32, Label::Optional),
        FieldDesc::new(19, "cap_amb", Kind::Uint32, Label::Repeated),
    ],
};

/// CRIU `sa_entry`.
pub static SA_ENTRY: MsgDesc = MsgDesc {
    name: "sa_entry",
    fields: &[
        FieldDesc::new(1, "sigaction", Kind::Uint64, Label::Required).with(Fmt::Hex),
        FieldDesc::new(2, "flags", Kind::Uint64, Label::Required).with(Fmt::Hex),
        FieldDesc::new(3, "restorer", Kind::Uint64, Label::Required).with(Fmt::Hex),
        FieldDesc::new(4, "mask", Kind::Uint64, Label::Required).with(Fmt::Hex),
        FieldDesc::new(5, "compat_sigaction", Kind::Bool, Label::Optional),
        FieldDesc::new(6, "mask_extended", Kind::Uint64, Label::Optional).with(Fmt::Hex),
    ],
};

/// CRIU `siginfo_entry`.
pub static SIGINFO_ENTRY: MsgDesc = MsgDesc {
    name: "siginfo_entry",
    fields: &[FieldDesc::new(1, "siginfo", Kind::Bytes, Label::Required)],
};

/// CRIU `signal_queue_entry`.
pub static SIGNAL_QUEUE_ENTRY: MsgDesc = MsgDesc {
    name: "signal_queue_entry",
    fields: &[FieldDesc::new(
        1,
        "signals",
        Kind::Message(&SIGINFO_ENTRY),
        Label::Repeated,
    )],
};

/// CRIU `rseq_entry`.
pub static RSEQ_ENTRY: MsgDesc = MsgDesc {
    name: "rseq_entry",
    fields: &[
        FieldDesc::new(1, "rseq_abi_pointer", Kind::Uint64, Label::Required),
        FieldDesc::new(2, "rseq_abi_size", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "signature", Kind::Uint32, Label::Required),
        FieldDesc::new(4, "rseq_cs_pointer", Kind::Uint64, Label::Optional),
    ],
};

/// CRIU `mm_entry`.
pub static MM_ENTRY: MsgDesc = MsgDesc {
    name: "mm_entry",
    fields: &[
        FieldDesc::new(1, "mm_start_code", Kind::Uint64, Label::Required).with(Fmt::Hex),
        FieldDesc::new(2, "mm_end_code", Kind::Uint64, Label::Required).with(Fmt::Hex),
        FieldDesc::new(3, "mm_start_data", Kind::Uint64, Label::Required).with(Fmt::Hex),
        FieldDesc::new(4, "mm_end_data", Kind::Uint64, Label::Required).with(Fmt::Hex),
        FieldDesc::new(5, "mm_start_stack", Kind::Uint64, Label::Required).with(Fmt::Hex),
        FieldDesc::new(6, "mm_start_brk", Kind::Uint64, Label::Required).with(Fmt::Hex),
        FieldDesc::new(7, "mm_brk", Kind::Uint64, Label::Required).with(Fmt::Hex),
        FieldDesc::new(8, "mm_arg_start", Kind::Uint64, Label::Required).with(Fmt::Hex),
        FieldDesc::new(9, "mm_arg_end", Kind::Uint64, Label::Required).with(Fmt::Hex),
        FieldDesc::new(10, "mm_env_start", Kind::Uint64, Label::Required).with(Fmt::Hex),
        FieldDesc::new(11, "mm_env_end", Kind::Uint64, Label::Required).with(Fmt::Hex),
        FieldDesc::new(12, "exe_file_id", Kind::Uint32, Label::Required),
        FieldDesc::new(13, "mm_saved_auxv", Kind::Uint64, Label::Repeated),
        FieldDesc::new(14, "vmas", Kind::Message(&VMA_ENTRY), Label::Repeated),
        FieldDesc::new(15, "dumpable", Kind::Int32, Label::Optional),
        FieldDesc::new(16, "aios", Kind::Message(&AIO_RING_ENTRY), Label::Repeated),
        FieldDesc::new(17, "thp_disabled", Kind::Bool, Label::Optional),
    ],
};

/// CRIU `vma_entry`.
pub static VMA_ENTRY: MsgDesc = MsgDesc {
    name: "vma_entry",
    fields: &[
        FieldDesc::new(1, "start", Kind::Uint64, Label::Required).with(Fmt::Hex),
        FieldDesc::new(2, "end", Kind::Uint64, Label::Required).with(Fmt::Hex),
        FieldDesc::new(3, "pgoff", Kind::Uint64, Label::Required),
        FieldDesc::new(4, "shmid", Kind::Uint64, Label::Required),
        FieldDesc::new(5, "prot", Kind::Uint32, Label::Required).with(Fmt::Flags(&MMAP_PROT)),
        FieldDesc::new(6, "flags", Kind::Uint32, Label::Required).with(Fmt::Flags(&MMAP_FLAGS)),
        FieldDesc::new(7, "status", Kind::Uint32, Label::Required).with(Fmt::Flags(&MMAP_STATUS)),
        FieldDesc::new(8, "fd", Kind::Sint64, Label::Required),
        FieldDesc::new(9, "madv", Kind::Uint64, Label::Optional).with(Fmt::Hex),
        FieldDesc::new(10, "fdflags", Kind::Uint32, Label::Optional).with(Fmt::Hex),
    ],
};

/// CRIU `aio_ring_entry`.
pub static AIO_RING_ENTRY: MsgDesc = MsgDesc {
    name: "aio_ring_entry",
    fields: &[
        FieldDesc::new(1, "id", Kind::Uint64, Label::Required),
        FieldDesc::new(2, "nr_req", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "ring_len", Kind::Uint32, Label::Required),
    ],
};

/// CRIU `pagemap_head`.
pub static PAGEMAP_HEAD: MsgDesc = MsgDesc {
    name: "pagemap_head",
    fields: &[FieldDesc::new(1, "pages_id", Kind::Uint32, Label::Required)],
};

/// CRIU `pagemap_entry`.
pub static PAGEMAP_ENTRY: MsgDesc = MsgDesc {
    name: "pagemap_entry",
    fields: &[
        FieldDesc::new(1, "vaddr", Kind::Uint64, Label::Required).with(Fmt::Hex),
        FieldDesc::new(2, "compat_nr_pages", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "in_parent", Kind::Bool, Label::Optional),
        FieldDesc::new(4, "flags", Kind::Uint32, Label::Optional).with(Fmt::Flags(&PMAP_FLAGS)),
        FieldDesc::new(5, "nr_pages", Kind::Uint64, Label::Optional),
    ],
};

/// CRIU `fs_entry`.
pub static FS_ENTRY: MsgDesc = MsgDesc {
    name: "fs_entry",
    fields: &[
        FieldDesc::new(1, "cwd_id", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "root_id", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "umask", Kind::Uint32, Label::Optional),
    ],
};

/// CRIU `timens_entry`.
pub static TIMENS_ENTRY: MsgDesc = MsgDesc {
    name: "timens_entry",
    fields: &[
        FieldDesc::new(1, "monotonic", Kind::Message(&TIMESPEC), Label::Required),
        FieldDesc::new(2, "boottime", Kind::Message(&TIMESPEC), Label::Required),
    ],
};

/// CRIU `timespec`.
pub static TIMESPEC: MsgDesc = MsgDesc {
    name: "timespec",
    fields: &[
        FieldDesc::new(1, "tv_sec", Kind::Uint64, Label::Required),
        FieldDesc::new(2, "tv_nsec", Kind::Uint64, Label::Required),
    ],
};

/// CRIU `seccomp_entry`.
pub static SECCOMP_ENTRY: MsgDesc = MsgDesc {
    name: "seccomp_entry",
    fields: &[FieldDesc::new(
        1,
        "seccomp_filters",
        Kind::Message(&SECCOMP_FILTER),
        Label::Repeated,
    )],
};

/// CRIU `seccomp_filter`.
pub static SECCOMP_FILTER: MsgDesc = MsgDesc {
    name: "seccomp_filter",
    fields: &[
        FieldDesc::new(1, "filter", Kind::Bytes, Label::Required),
        FieldDesc::new(2, "prev", Kind::Uint32, Label::Optional),
        FieldDesc::new(3, "flags", Kind::Uint32, Label::Optional),
    ],
};

/// CRIU `stats_entry`.
pub static STATS_ENTRY: MsgDesc = MsgDesc {
    name: "stats_entry",
    fields: &[
        FieldDesc::new(1, "dump", Kind::Message(&DUMP_STATS_ENTRY), Label::Optional),
        FieldDesc::new(
            2,
            "restore",
            Kind::Message(&RESTORE_STATS_ENTRY),
            Label::Optional,
        ),
    ],
};

/// CRIU `dump_stats_entry`.
pub static DUMP_STATS_ENTRY: MsgDesc = MsgDesc {
    name: "dump_stats_entry",
    fields: &[
        FieldDesc::new(1, "freezing_time", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "frozen_time", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "memdump_time", Kind::Uint32, Label::Required),
        FieldDesc::new(4, "memwrite_time", Kind::Uint32, Label::Required),
        FieldDesc::new(5, "pages_scanned", Kind::Uint64, Label::Required),
        FieldDesc::new(6, "pages_skipped_parent", Kind::Uint64, Label::Required),
        FieldDesc::new(7, "pages_written", Kind::Uint64, Label::Required),
        FieldDesc::new(8, "irmap_resolve", Kind::Uint32, Label::Optional),
        FieldDesc::new(9, "pages_lazy", Kind::Uint64, Label::Required),
        FieldDesc::new(10, "page_pipes", Kind::Uint64, Label::Optional),
        FieldDesc::new(11, "page_pipe_bufs", Kind::Uint64, Label::Optional),
        FieldDesc::new(12, "shpages_scanned", Kind::Uint64, Label::Optional),
        FieldDesc::new(13, "shpages_skipped_parent", Kind::Uint64, Label::Optional),
        FieldDesc::new(14, "shpages_written", Kind::Uint64, Label::Optional),
    ],
};

/// CRIU `restore_stats_entry`.
pub static RESTORE_STATS_ENTRY: MsgDesc = MsgDesc {
    name: "restore_stats_entry",
    fields: &[
        FieldDesc::new(1, "pages_compared", Kind::Uint64, Label::Required),
        FieldDesc::new(2, "pages_skipped_cow", Kind::Uint64, Label::Required),
        FieldDesc::new(3, "forking_time", Kind::Uint32, Label::Required),
        FieldDesc::new(4, "restore_time", Kind::Uint32, Label::Required),
        FieldDesc::new(5, "pages_restored", Kind::Uint64, Label::Optional),
    ],
};

/// CRIU `fdinfo_entry`.
pub static FDINFO_ENTRY: MsgDesc = MsgDesc {
    name: "fdinfo_entry",
    fields: &[
        FieldDesc::new(1, "id", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "flags", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "type", Kind::Enum(&FD_TYPES), Label::Required),
        FieldDesc::new(4, "fd", Kind::Uint32, Label::Required),
        FieldDesc::new(5, "xattr_security_selinux", Kind::String, Label::Optional),
    ],
};

/// CRIU `file_entry`.
pub static FILE_ENTRY: MsgDesc = MsgDesc {
    name: "file_entry",
    fields: &[
        FieldDesc::new(1, "type", Kind::Enum(&FD_TYPES), Label::Required),
        FieldDesc::new(2, "id", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "reg", Kind::Message(&REG_FILE_ENTRY), Label::Optional),
        FieldDesc::new(5, "nsf", Kind::Message(&NS_FILE_ENTRY), Label::Optional),
        FieldDesc::new(
            8,
            "efd",
            Kind::Message(&EVENTFD_FILE_ENTRY),
            Label::Optional,
        ),
        FieldDesc::new(
            9,
            "epfd",
            Kind::Message(&EVENTPOLL_FILE_ENTRY),
            Label::Optional,
        ),
        FieldDesc::new(10, "sgfd", Kind::Message(&SIGNALFD_ENTRY), Label::Optional),
        FieldDesc::new(12, "tfd", Kind::Message(&TIMERFD_ENTRY), Label::Optional),
        FieldDesc::new(15, "ext", Kind::Message(&EXT_FILE_ENTRY), Label::Optional),
        FieldDesc::new(16, "usk", Kind::Message(&UNIX_SK_ENTRY), Label::Optional),
        FieldDesc::new(17, "fifo", Kind::Message(&FIFO_ENTRY), Label::Optional),
        FieldDesc::new(18, "pipe", Kind::Message(&PIPE_ENTRY), Label::Optional),
        FieldDesc::new(19, "tty", Kind::Message(&TTY_FILE_ENTRY), Label::Optional),
        FieldDesc::new(
            20,
            "memfd",
            Kind::Message(&MEMFD_FILE_ENTRY),
            Label::Optional,
        ),
        FieldDesc::new(22, "pidfd", Kind::Message(&PIDFD_ENTRY), Label::Optional),
    ],
};

/// CRIU `fown_entry`.
pub static FOWN_ENTRY: MsgDesc = MsgDesc {
    name: "fown_entry",
    fields: &[
        FieldDesc::new(1, "uid", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "euid", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "signum", Kind::Uint32, Label::Required),
        FieldDesc::new(4, "pid_type", Kind::Uint32, Label::Required),
        FieldDesc::new(5, "pid", Kind::Uint32, Label::Required),
    ],
};

/// CRIU `reg_file_entry`.
pub static REG_FILE_ENTRY: MsgDesc = MsgDesc {
    name: "reg_file_entry",
    fields: &[
        FieldDesc::new(1, "id", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "flags", Kind::Uint32, Label::Required).with(Fmt::Flags(&RFILE_FLAGS)),
        FieldDesc::new(3, "pos", Kind::Uint64, Label::Required),
        FieldDesc::new(5, "fown", Kind::Message(&FOWN_ENTRY), Label::Required),
        FieldDesc::new(6, "name", Kind::String, Label::Required),
        FieldDesc::new(7, "mnt_id", Kind::Sint32, Label::Optional),
        FieldDesc::new(8, "size", Kind::Uint64, Label::Optional),
        FieldDesc::new(9, "ext", Kind::Bool, Label::Optional),
        FieldDesc::new(10, "mode", Kind::Uint32, Label::Optional),
        FieldDesc::new(11, "build_id", Kind::Uint32, Label::Repeated),
        FieldDesc::new(12, "checksum", Kind::Uint32, Label::Optional),
        FieldDesc::new(13, "checksum_config", Kind::Uint32, Label::Optional),
        FieldDesc::new(14, "checksum_parameter", Kind::Uint32, Label::Optional),
    ],
};

/// CRIU `ns_file_entry`.
pub static NS_FILE_ENTRY: MsgDesc = MsgDesc {
    name: "ns_file_entry",
    fields: &[
        FieldDesc::new(1, "id", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "ns_id", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "ns_cflag", Kind::Uint32, Label::Required),
        FieldDesc::new(4, "flags", Kind::Uint32, Label::Required),
    ],
};

/// CRIU `eventfd_file_entry`.
pub static EVENTFD_FILE_ENTRY: MsgDesc = MsgDesc {
    name: "eventfd_file_entry",
    fields: &[
        FieldDesc::new(1, "id", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "flags", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "fown", Kind::Message(&FOWN_ENTRY), Label::Required),
        FieldDesc::new(4, "counter", Kind::Uint64, Label::Required),
    ],
};

/// CRIU `signalfd_entry`.
pub static SIGNALFD_ENTRY: MsgDesc = MsgDesc {
    name: "signalfd_entry",
    fields: &[
        FieldDesc::new(1, "id", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "flags", Kind::Uint32, Label::Required).with(Fmt::Hex),
        FieldDesc::new(3, "fown", Kind::Message(&FOWN_ENTRY), Label::Required),
        FieldDesc::new(4, "sigmask", Kind::Uint64, Label::Required).with(Fmt::Hex),
    ],
};

/// CRIU `timerfd_entry`.
pub static TIMERFD_ENTRY: MsgDesc = MsgDesc {
    name: "timerfd_entry",
    fields: &[
        FieldDesc::new(1, "id", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "flags", Kind::Uint32, Label::Required).with(Fmt::Hex),
        FieldDesc::new(3, "fown", Kind::Message(&FOWN_ENTRY), Label::Required),
        FieldDesc::new(4, "clockid", Kind::Uint32, Label::Required),
        FieldDesc::new(5, "ticks", Kind::Uint64, Label::Required),
        FieldDesc::new(6, "settime_flags", Kind::Uint32, Label::Required).with(Fmt::Hex),
        FieldDesc::new(7, "vsec", Kind::Uint64, Label::Required),
        FieldDesc::new(8, "vnsec", Kind::Uint64, Label::Required),
        FieldDesc::new(9, "isec", Kind::Uint64, Label::Required),
        FieldDesc::new(10, "insec", Kind::Uint64, Label::Required),
    ],
};

/// CRIU `ext_file_entry`.
pub static EXT_FILE_ENTRY: MsgDesc = MsgDesc {
    name: "ext_file_entry",
    fields: &[
        FieldDesc::new(1, "id", Kind::Uint32, Label::Required),
        FieldDesc::new(5, "fown", Kind::Message(&FOWN_ENTRY), Label::Required),
    ],
};

/// CRIU `fifo_entry`.
pub static FIFO_ENTRY: MsgDesc = MsgDesc {
    name: "fifo_entry",
    fields: &[
        FieldDesc::new(1, "id", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "pipe_id", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "regf_id", Kind::Uint32, Label::Optional),
    ],
};

/// CRIU `pipe_entry`.
pub static PIPE_ENTRY: MsgDesc = MsgDesc {
    name: "pipe_entry",
    fields: &[
        FieldDesc::new(1, "id", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "pipe_id", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "flags", Kind::Uint32, Label::Required).with(Fmt::Hex),
        FieldDesc::new(4, "fown", Kind::Message(&FOWN_ENTRY), Label::Required),
    ],
};

/// CRIU `pipe_data_entry`.
pub static PIPE_DATA_ENTRY: MsgDesc = MsgDesc {
    name: "pipe_data_entry",
    fields: &[
        FieldDesc::new(1, "pipe_id", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "bytes", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "size", Kind::Uint32, Label::Optional),
    ],
};

/// CRIU `memfd_file_entry`.
pub static MEMFD_FILE_ENTRY: MsgDesc = MsgDesc {
    name: "memfd_file_entry",
    fields: &[
        FieldDesc::new(1, "id", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "flags", Kind::Uint32, Label::Required).with(Fmt::Flags(&RFILE_FLAGS)),
        FieldDesc::new(3, "pos", Kind::Uint64, Label::Required),
        FieldDesc::new(4, "fown", Kind::Message(&FOWN_ENTRY), Label::Required),
        FieldDesc::new(5, "inode_id", Kind::Uint32, Label::Required),
    ],
};

/// CRIU `pidfd_entry`.
pub static PIDFD_ENTRY: MsgDesc = MsgDesc {
    name: "pidfd_entry",
    fields: &[
        FieldDesc::new(1, "id", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "ino", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "flags", Kind::Uint32, Label::Required),
        FieldDesc::new(4, "nspid", Kind::Int32, Label::Required),
        FieldDesc::new(5, "fown", Kind::Message(&FOWN_ENTRY), Label::Required),
    ],
};

/// CRIU `sk_opts_entry`.
pub static SK_OPTS_ENTRY: MsgDesc = MsgDesc {
    name: "sk_opts_entry",
    fields: &[
        FieldDesc::new(1, "so_sndbuf", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "so_rcvbuf", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "so_snd_tmo_sec", Kind::Uint64, Label::Required),
        FieldDesc::new(4, "so_snd_tmo_usec", Kind::Uint64, Label::Required),
        FieldDesc::new(5, "so_rcv_tmo_sec", Kind::Uint64, Label::Required),
        FieldDesc::new(6, "so_rcv_tmo_usec", Kind::Uint64, Label::Required),
        FieldDesc::new(7, "reuseaddr", Kind::Bool, Label::Optional),
        FieldDesc::new(8, "so_priority", Kind::Uint32, Label::Optional),
        FieldDesc::new(9, "so_rcvlowat", Kind::Uint32, Label::Optional),
        FieldDesc::new(10, "so_mark", Kind::Uint32, Label::Optional),
        FieldDesc::new(11, "so_passcred", Kind::Bool, Label::Optional),
        FieldDesc::new(12, "so_passsec", Kind::Bool, Label::Optional),
        FieldDesc::new(13, "so_dontroute", Kind::Bool, Label::Optional),
        FieldDesc::new(14, "so_no_check", Kind::Bool, Label::Optional),
        FieldDesc::new(15, "so_bound_dev", Kind::String, Label::Optional),
        FieldDesc::new(16, "so_filter", Kind::Fixed64, Label::Repeated),
        FieldDesc::new(17, "so_reuseport", Kind::Bool, Label::Optional),
        FieldDesc::new(18, "so_broadcast", Kind::Bool, Label::Optional),
        FieldDesc::new(19, "so_keepalive", Kind::Bool, Label::Optional),
        FieldDesc::new(20, "tcp_keepcnt", Kind::Uint32, Label::Optional),
        FieldDesc::new(21, "tcp_keepidle", Kind::Uint32, Label::Optional),
        FieldDesc::new(22, "tcp_keepintvl", Kind::Uint32, Label::Optional),
        FieldDesc::new(23, "so_oobinline", Kind::Uint32, Label::Optional),
        FieldDesc::new(24, "so_linger", Kind::Uint32, Label::Optional),
        FieldDesc::new(25, "so_buf_lock", Kind::Uint32, Label::Optional),
    ],
};

/// CRIU `eventpoll_tfd_entry`.
pub static EVENTPOLL_TFD_ENTRY: MsgDesc = MsgDesc {
    name: "eventpoll_tfd_entry",
    fields: &[
        FieldDesc::new(1, "id", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "tfd", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "events", Kind::Uint32, Label::Required),
        FieldDesc::new(4, "data", Kind::Uint64, Label::Required),
        FieldDesc::new(5, "dev", Kind::Uint32, Label::Optional),
        FieldDesc::new(6, "inode", Kind::Uint64, Label::Optional),
        FieldDesc::new(7, "pos", Kind::Uint64, Label::Optional),
    ],
};

/// CRIU `eventpoll_file_entry`.
pub static EVENTPOLL_FILE_ENTRY: MsgDesc = MsgDesc {
    name: "eventpoll_file_entry",
    fields: &[
        FieldDesc::new(1, "id", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "flags", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "fown", Kind::Message(&FOWN_ENTRY), Label::Required),
        FieldDesc::new(
            4,
            "tfd",
            Kind::Message(&EVENTPOLL_TFD_ENTRY),
            Label::Repeated,
        ),
    ],
};

/// CRIU `file_perms_entry`.
pub static FILE_PERMS_ENTRY: MsgDesc = MsgDesc {
    name: "file_perms_entry",
    fields: &[
        FieldDesc::new(1, "mode", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "uid", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "gid", Kind::Uint32, Label::Required),
    ],
};

/// CRIU `unix_sk_entry`.
///
/// `name` carries `(criu).conv = "unix_name"`, which crit prints
/// quoted-printable; [`Fmt`] has no such option, so it is shown like any
/// other bytes field.
pub static UNIX_SK_ENTRY: MsgDesc = MsgDesc {
    name: "unix_sk_entry",
    fields: &[
        FieldDesc::new(1, "id", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "ino", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "type", Kind::Uint32, Label::Required).with(Fmt::Dict(&SK_TYPE)),
        FieldDesc::new(4, "state", Kind::Uint32, Label::Required).with(Fmt::Dict(&SK_STATE)),
        FieldDesc::new(5, "flags", Kind::Uint32, Label::Required).with(Fmt::Hex),
        FieldDesc::new(6, "uflags", Kind::Uint32, Label::Required).with(Fmt::Hex),
        FieldDesc::new(7, "backlog", Kind::Uint32, Label::Required),
        FieldDesc::new(8, "peer", Kind::Uint32, Label::Required),
        FieldDesc::new(9, "fown", Kind::Message(&FOWN_ENTRY), Label::Required),
        FieldDesc::new(10, "opts", Kind::Message(&SK_OPTS_ENTRY), Label::Required),
        FieldDesc::new(11, "name", Kind::Bytes, Label::Required),
        FieldDesc::new(12, "shutdown", Kind::Enum(&SK_SHUTDOWN), Label::Optional),
        FieldDesc::new(
            13,
            "file_perms",
            Kind::Message(&FILE_PERMS_ENTRY),
            Label::Optional,
        ),
        FieldDesc::new(14, "name_dir", Kind::String, Label::Optional),
        FieldDesc::new(15, "deleted", Kind::Bool, Label::Optional),
        FieldDesc::new(16, "ns_id", Kind::Uint32, Label::Optional),
        FieldDesc::new(17, "mnt_id", Kind::Sint32, Label::Optional),
    ],
};

/// CRIU `scm_entry`.
pub static SCM_ENTRY: MsgDesc = MsgDesc {
    name: "scm_entry",
    fields: &[
        FieldDesc::new(1, "type", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "rights", Kind::Uint32, Label::Repeated),
    ],
};

/// CRIU `sk_packet_entry`.
pub static SK_PACKET_ENTRY: MsgDesc = MsgDesc {
    name: "sk_packet_entry",
    fields: &[
        FieldDesc::new(1, "id_for", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "length", Kind::Uint32, Label::Required),
        FieldDesc::new(4, "scm", Kind::Message(&SCM_ENTRY), Label::Repeated),
    ],
};

/// CRIU `tty_info_entry`.
pub static TTY_INFO_ENTRY: MsgDesc = MsgDesc {
    name: "tty_info_entry",
    fields: &[
        FieldDesc::new(1, "id", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "type", Kind::Enum(&TTY_TYPE), Label::Required),
        FieldDesc::new(3, "locked", Kind::Bool, Label::Required),
        FieldDesc::new(4, "exclusive", Kind::Bool, Label::Required),
        FieldDesc::new(5, "packet_mode", Kind::Bool, Label::Required),
        FieldDesc::new(6, "sid", Kind::Uint32, Label::Required),
        FieldDesc::new(7, "pgrp", Kind::Uint32, Label::Required),
        FieldDesc::new(8, "rdev", Kind::Uint32, Label::Required),
        FieldDesc::new(9, "termios", Kind::Message(&TERMIOS_ENTRY), Label::Optional),
        FieldDesc::new(
            10,
            "termios_locked",
            Kind::Message(&TERMIOS_ENTRY),
            Label::Optional,
        ),
        FieldDesc::new(
            11,
            "winsize",
            Kind::Message(&WINSIZE_ENTRY),
            Label::Optional,
        ),
        FieldDesc::new(12, "pty", Kind::Message(&TTY_PTY_ENTRY), Label::Optional),
        FieldDesc::new(13, "dev", Kind::Uint32, Label::Optional),
        FieldDesc::new(14, "uid", Kind::Uint32, Label::Optional),
        FieldDesc::new(15, "gid", Kind::Uint32, Label::Optional),
    ],
};

/// CRIU `tty_file_entry`.
pub static TTY_FILE_ENTRY: MsgDesc = MsgDesc {
    name: "tty_file_entry",
    fields: &[
        FieldDesc::new(1, "id", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "tty_info_id", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "flags", Kind::Uint32, Label::Required).with(Fmt::Hex),
        FieldDesc::new(4, "fown", Kind::Message(&FOWN_ENTRY), Label::Required),
        FieldDesc::new(6, "regf_id", Kind::Uint32, Label::Optional),
    ],
};

/// CRIU `tty_data_entry`.
pub static TTY_DATA_ENTRY: MsgDesc = MsgDesc {
    name: "tty_data_entry",
    fields: &[
        FieldDesc::new(1, "tty_id", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "data", Kind::Bytes, Label::Required),
    ],
};

/// CRIU `termios_entry`.
pub static TERMIOS_ENTRY: MsgDesc = MsgDesc {
    name: "termios_entry",
    fields: &[
        FieldDesc::new(1, "c_iflag", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "c_oflag", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "c_cflag", Kind::Uint32, Label::Required),
        FieldDesc::new(4, "c_lflag", Kind::Uint32, Label::Required),
        FieldDesc::new(5, "c_line", Kind::Uint32, Label::Required),
        FieldDesc::new(6, "c_ispeed", Kind::Uint32, Label::Required),
        FieldDesc::new(7, "c_ospeed", Kind::Uint32, Label::Required),
        FieldDesc::new(8, "c_cc", Kind::Uint32, Label::Repeated),
    ],
};

/// CRIU `winsize_entry`.
pub static WINSIZE_ENTRY: MsgDesc = MsgDesc {
    name: "winsize_entry",
    fields: &[
        FieldDesc::new(1, "ws_row", Kind::Uint32, Label::Required),
        FieldDesc::new(2, "ws_col", Kind::Uint32, Label::Required),
        FieldDesc::new(3, "ws_xpixel", Kind::Uint32, Label::Required),
        FieldDesc::new(4, "ws_ypixel", Kind::Uint32, Label::Required),
    ],
};

/// CRIU `tty_pty_entry`.
pub static TTY_PTY_ENTRY: MsgDesc = MsgDesc {
    name: "tty_pty_entry",
    fields: &[FieldDesc::new(1, "index", Kind::Uint32, Label::Required)],
};

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
];

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(CORE_ENTRY_MARCH.name_of(1), Some("X86_64"));
        assert_eq!(FD_TYPES.name_of(65535), Some("AUTOFS_PIPE"));
        assert!(PAGEMAP_ENTRY.field(5).is_some_and(|f| f.name == "nr_pages"));
        assert!(USER_X86_XSAVE_ENTRY
            .field(2)
            .is_some_and(|f| f.is_repeated()));
    }
}
