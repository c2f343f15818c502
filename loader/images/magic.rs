//! CRIU image kinds: magic numbers (criu/include/magic.h), file names
//! (criu/image-desc.c) and the message each image holds, named as crit names
//! them.
//!
//! An image file starts with one or two little-endian u32 magics (see
//! [`Header`]), then holds records of `[u32 LE length][protobuf]`. For a few
//! kinds every record is followed by raw bytes whose count is a field of the
//! record ([`ImageKind::extra`]).

use super::desc::MsgDesc;
use super::schema;

/// First magic of every image except the inventory and service files.
pub const IMG_COMMON_MAGIC: u32 = 0x5456_4319;
/// First magic of service files (stats, irmap cache).
pub const IMG_SERVICE_MAGIC: u32 = 0x5510_5940;
/// Magic of raw images (pages, tarballs, ip dumps); never stored in a file.
pub const RAW_IMAGE_MAGIC: u32 = 0;

/// Magics of the images a restore reads (criu/include/magic.h).
pub const INVENTORY_MAGIC: u32 = 0x5831_3116;
pub const PSTREE_MAGIC: u32 = 0x5027_3030;
pub const CORE_MAGIC: u32 = 0x5505_3847;
pub const IDS_MAGIC: u32 = 0x5443_2030;
pub const MM_MAGIC: u32 = 0x5749_2820;
pub const PAGEMAP_MAGIC: u32 = 0x5608_4025;
pub const FS_MAGIC: u32 = 0x5140_3912;
pub const FDINFO_MAGIC: u32 = 0x5621_3732;
pub const FILES_MAGIC: u32 = 0x5630_3138;
pub const SECCOMP_MAGIC: u32 = 0x6441_3049;
pub const TIMENS_MAGIC: u32 = 0x4311_4433;
pub const STATS_MAGIC: u32 = 0x5709_3306;
pub const PIPES_DATA_MAGIC: u32 = 0x5645_3709;
pub const SK_QUEUES_MAGIC: u32 = 0x5626_4026;
pub const FIFO_DATA_MAGIC: u32 = 0x5933_3054;
pub const REMAP_FPATH_MAGIC: u32 = 0x5913_3954;
pub const FILE_LOCKS_MAGIC: u32 = 0x5432_3616;
pub const GHOST_FILE_MAGIC: u32 = 0x5258_3605;
pub const TCP_STREAM_MAGIC: u32 = 0x5146_5506;
pub const TTY_INFO_MAGIC: u32 = 0x5945_3036;
pub const TTY_DATA_MAGIC: u32 = 0x5941_3026;
pub const MEMFD_INODE_MAGIC: u32 = 0x4845_3499;
pub const UTSNS_MAGIC: u32 = 0x5447_3203;
pub const MNTS_MAGIC: u32 = 0x5556_3928;
pub const CGROUP_MAGIC: u32 = 0x5938_3330;
pub const IPC_VAR_MAGIC: u32 = 0x5311_5007;
pub const IPCNS_SHM_MAGIC: u32 = 0x4628_3044;
pub const IPCNS_SEM_MAGIC: u32 = 0x5957_3019;
pub const IPCNS_MSG_MAGIC: u32 = 0x5545_3737;
pub const NETDEV_MAGIC: u32 = 0x5737_3951;
pub const NETNS_MAGIC: u32 = 0x5593_3752;

/// How an image file starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// Only the image's own magic (inventory.img).
    Inventory,
    /// [`IMG_COMMON_MAGIC`], then the image's magic.
    Common,
    /// [`IMG_SERVICE_MAGIC`], then the image's magic.
    Service,
    /// No header and no records: raw data (pages-*.img).
    Raw,
}

impl Header {
    /// Number of bytes before the first record.
    pub const fn size(self) -> usize {
        match self {
            Header::Inventory => 4,
            Header::Common | Header::Service => 8,
            Header::Raw => 0,
        }
    }
}

/// One kind of image file.
#[derive(Debug)]
pub struct ImageKind {
    /// crit's magic name, e.g. `"CORE"`.
    pub name: &'static str,
    /// The image's own magic (the second u32 for Common/Service images).
    pub magic: u32,
    pub header: Header,
    /// File name as CRIU formats it: `%u`, `%lu`, `%d` stand for a decimal
    /// number, `%x` for a hex one, `%s` for any text.
    pub file_pattern: &'static str,
    /// Message of every record; `None` for raw images.
    pub entry: Option<&'static MsgDesc>,
    /// Message of the first record when it differs from `entry`
    /// (pagemap images start with a `pagemap_head`).
    pub first_entry: Option<&'static MsgDesc>,
    /// What follows each record besides the next record.
    pub extra: Extra,
}

/// Data that follows each record of a few image kinds (crit's "extra"
/// handlers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    None,
    /// Raw bytes, as many as the named uint32 field of the record says
    /// (crit prints them base64-encoded).
    Bytes(&'static str),
    /// `ipc_sem_entry`: `nsems` u16 values, padded to 8 bytes.
    SemValues,
    /// `ipc_msg_entry`: `qnum` messages, each a length-prefixed `ipc_msg`
    /// and its `msize` bytes padded to 8.
    MsgQueue,
    /// `ipc_shm_entry`: `size` bytes of contents padded to 4, unless the
    /// record says they are `in_pagemaps` (as CRIU 4.2 writes them).
    ShmData,
    /// `tcp_stream_entry`: `inq_len` bytes, then `outq_len` bytes (crit
    /// prints `{"inq": .., "outq": ..}`, both base64).
    TcpQueues,
    /// A ghost file: after its `ghost_file_entry`, either chunk records
    /// (`ghost_chunk_entry`, each followed by `len` bytes) or, without
    /// `chunks`, the contents to the end of the image.
    Ghost,
}

impl Extra {
    /// The field that counts the raw bytes, for `Bytes`.
    pub fn bytes_field(self) -> Option<&'static str> {
        match self {
            Extra::Bytes(f) => Some(f),
            _ => None,
        }
    }
}

impl ImageKind {
    /// The message describing record number `index` (0-based).
    pub fn entry_desc(&self, index: usize) -> Option<&'static MsgDesc> {
        match (index, self.first_entry) {
            (0, Some(first)) => Some(first),
            _ => self.entry,
        }
    }
}

const fn kind(
    name: &'static str,
    magic: u32,
    file_pattern: &'static str,
    entry: &'static MsgDesc,
) -> ImageKind {
    ImageKind {
        name,
        magic,
        header: Header::Common,
        file_pattern,
        entry: Some(entry),
        first_entry: None,
        extra: Extra::None,
    }
}

/// Every image kind known here.
pub static IMAGES: &[ImageKind] = &[
    ImageKind {
        header: Header::Inventory,
        ..kind(
            "INVENTORY",
            INVENTORY_MAGIC,
            "inventory.img",
            &schema::INVENTORY_ENTRY,
        )
    },
    kind("PSTREE", PSTREE_MAGIC, "pstree.img", &schema::PSTREE_ENTRY),
    kind("CORE", CORE_MAGIC, "core-%u.img", &schema::CORE_ENTRY),
    kind("IDS", IDS_MAGIC, "ids-%u.img", &schema::TASK_KOBJ_IDS_ENTRY),
    kind("MM", MM_MAGIC, "mm-%u.img", &schema::MM_ENTRY),
    kind("VMAS", 0x5412_3737, "vmas-%u.img", &schema::VMA_ENTRY),
    ImageKind {
        first_entry: Some(&schema::PAGEMAP_HEAD),
        ..kind(
            "PAGEMAP",
            PAGEMAP_MAGIC,
            "pagemap-%lu.img",
            &schema::PAGEMAP_ENTRY,
        )
    },
    // SHMEM_PAGEMAP shares PAGEMAP's magic; by_magic() finds the entry above.
    ImageKind {
        first_entry: Some(&schema::PAGEMAP_HEAD),
        ..kind(
            "PAGEMAP",
            PAGEMAP_MAGIC,
            "pagemap-shmem-%lu.img",
            &schema::PAGEMAP_ENTRY,
        )
    },
    ImageKind {
        name: "PAGES",
        magic: RAW_IMAGE_MAGIC,
        header: Header::Raw,
        file_pattern: "pages-%u.img",
        entry: None,
        first_entry: None,
        extra: Extra::None,
    },
    kind("FS", FS_MAGIC, "fs-%u.img", &schema::FS_ENTRY),
    kind(
        "FDINFO",
        FDINFO_MAGIC,
        "fdinfo-%u.img",
        &schema::FDINFO_ENTRY,
    ),
    kind("FILES", FILES_MAGIC, "files.img", &schema::FILE_ENTRY),
    kind(
        "REG_FILES",
        0x5036_3636,
        "reg-files.img",
        &schema::REG_FILE_ENTRY,
    ),
    kind(
        "EXT_FILES",
        0x5925_5641,
        "ext-files.img",
        &schema::EXT_FILE_ENTRY,
    ),
    kind(
        "NS_FILES",
        0x6139_4011,
        "ns-files.img",
        &schema::NS_FILE_ENTRY,
    ),
    kind(
        "EVENTFD_FILE",
        0x4452_3722,
        "eventfd.img",
        &schema::EVENTFD_FILE_ENTRY,
    ),
    kind(
        "SIGNALFD",
        0x5732_3820,
        "signalfd.img",
        &schema::SIGNALFD_ENTRY,
    ),
    kind(
        "TIMERFD",
        0x5049_3712,
        "timerfd.img",
        &schema::TIMERFD_ENTRY,
    ),
    kind("PIPES", 0x5651_3555, "pipes.img", &schema::PIPE_ENTRY),
    ImageKind {
        extra: Extra::Bytes("bytes"),
        ..kind(
            "PIPES_DATA",
            PIPES_DATA_MAGIC,
            "pipes-data.img",
            &schema::PIPE_DATA_ENTRY,
        )
    },
    kind("FIFO", 0x5836_4939, "fifo.img", &schema::FIFO_ENTRY),
    ImageKind {
        extra: Extra::Bytes("bytes"),
        ..kind(
            "FIFO_DATA",
            FIFO_DATA_MAGIC,
            "fifo-data.img",
            &schema::PIPE_DATA_ENTRY,
        )
    },
    ImageKind {
        extra: Extra::Bytes("length"),
        ..kind(
            "SK_QUEUES",
            SK_QUEUES_MAGIC,
            "sk-queues.img",
            &schema::SK_PACKET_ENTRY,
        )
    },
    ImageKind {
        extra: Extra::TcpQueues,
        ..kind(
            "TCP_STREAM",
            TCP_STREAM_MAGIC,
            "tcp-stream-%x.img",
            &schema::TCP_STREAM_ENTRY,
        )
    },
    kind(
        "FILE_LOCKS",
        FILE_LOCKS_MAGIC,
        "filelocks.img",
        &schema::FILE_LOCK_ENTRY,
    ),
    kind(
        "REMAP_FPATH",
        REMAP_FPATH_MAGIC,
        "remap-fpath.img",
        &schema::REMAP_FILE_PATH_ENTRY,
    ),
    ImageKind {
        first_entry: Some(&schema::GHOST_FILE_ENTRY),
        extra: Extra::Ghost,
        ..kind(
            "GHOST_FILE",
            GHOST_FILE_MAGIC,
            "ghost-file-%x.img",
            &schema::GHOST_CHUNK_ENTRY,
        )
    },
    kind("TTY_FILES", 0x5943_3025, "tty.img", &schema::TTY_FILE_ENTRY),
    kind(
        "TTY_INFO",
        TTY_INFO_MAGIC,
        "tty-info.img",
        &schema::TTY_INFO_ENTRY,
    ),
    kind(
        "TTY_DATA",
        TTY_DATA_MAGIC,
        "tty-data.img",
        &schema::TTY_DATA_ENTRY,
    ),
    kind("SIGACT", 0x5534_4201, "sigacts-%u.img", &schema::SA_ENTRY),
    kind(
        "ITIMERS",
        0x5746_4056,
        "itimers-%u.img",
        &schema::ITIMER_ENTRY,
    ),
    kind(
        "POSIX_TIMERS",
        0x5260_3957,
        "posix-timers-%u.img",
        &schema::POSIX_TIMER_ENTRY,
    ),
    kind("CREDS", 0x5402_3547, "creds-%u.img", &schema::CREDS_ENTRY),
    kind(
        "RLIMIT",
        0x5711_3925,
        "rlimit-%u.img",
        &schema::RLIMIT_ENTRY,
    ),
    kind(
        "SECCOMP",
        SECCOMP_MAGIC,
        "seccomp.img",
        &schema::SECCOMP_ENTRY,
    ),
    kind(
        "TIMENS",
        TIMENS_MAGIC,
        "timens-%u.img",
        &schema::TIMENS_ENTRY,
    ),
    ImageKind {
        header: Header::Service,
        ..kind("STATS", STATS_MAGIC, "stats-%s", &schema::STATS_ENTRY)
    },
    kind(
        "MEMFD_INODE",
        MEMFD_INODE_MAGIC,
        "memfd.img",
        &schema::MEMFD_INODE_ENTRY,
    ),
    kind("UTSNS", UTSNS_MAGIC, "utsns-%u.img", &schema::UTSNS_ENTRY),
    kind("MNTS", MNTS_MAGIC, "mountpoints-%u.img", &schema::MNT_ENTRY),
    raw("TMPFS_DEV", "tmpfs-dev-%u.tar.gz.img"),
    kind("CGROUP", CGROUP_MAGIC, "cgroup.img", &schema::CGROUP_ENTRY),
    kind(
        "IPC_VAR",
        IPC_VAR_MAGIC,
        "ipcns-var-%u.img",
        &schema::IPC_VAR_ENTRY,
    ),
    ImageKind {
        extra: Extra::ShmData,
        ..kind(
            "IPCNS_SHM",
            IPCNS_SHM_MAGIC,
            "ipcns-shm-%u.img",
            &schema::IPC_SHM_ENTRY,
        )
    },
    ImageKind {
        extra: Extra::SemValues,
        ..kind(
            "IPCNS_SEM",
            IPCNS_SEM_MAGIC,
            "ipcns-sem-%u.img",
            &schema::IPC_SEM_ENTRY,
        )
    },
    ImageKind {
        extra: Extra::MsgQueue,
        ..kind(
            "IPCNS_MSG",
            IPCNS_MSG_MAGIC,
            "ipcns-msg-%u.img",
            &schema::IPC_MSG_ENTRY,
        )
    },
    kind(
        "NETDEV",
        NETDEV_MAGIC,
        "netdev-%u.img",
        &schema::NET_DEVICE_ENTRY,
    ),
    kind("NETNS", NETNS_MAGIC, "netns-%u.img", &schema::NETNS_ENTRY),
    raw("IFADDR", "ifaddr-%u.img"),
    raw("ROUTE", "route-%u.img"),
    raw("ROUTE6", "route6-%u.img"),
    raw("RULE", "rule-%u.img"),
    raw("IPTABLES", "iptables-%u.img"),
    raw("IP6TABLES", "ip6tables-%u.img"),
    raw("NFTABLES", "nftables-%u.img"),
];

/// A raw image kind: the bytes of another tool's format, no header (CRIU
/// names them by their files only).
const fn raw(name: &'static str, file_pattern: &'static str) -> ImageKind {
    ImageKind {
        name,
        magic: RAW_IMAGE_MAGIC,
        header: Header::Raw,
        file_pattern,
        entry: None,
        first_entry: None,
        extra: Extra::None,
    }
}

/// The image kind whose own magic is `magic` (raw images have none).
pub fn by_magic(magic: u32) -> Option<&'static ImageKind> {
    IMAGES
        .iter()
        .find(|k| k.header != Header::Raw && k.magic == magic)
}

/// The image kind with crit's magic name `name` (e.g. `"CORE"`).
pub fn by_name(name: &str) -> Option<&'static ImageKind> {
    IMAGES.iter().find(|k| k.name == name)
}

/// The image kind of a file, from its name without directories
/// (`"core-31000.img"`, `"pages-1.img"`, `"stats-dump"`).
pub fn by_file_name(file: &str) -> Option<&'static ImageKind> {
    IMAGES
        .iter()
        .find(|k| pattern_matches(k.file_pattern, file))
}

/// Matches a CRIU file-name format holding at most one conversion.
fn pattern_matches(pattern: &str, name: &str) -> bool {
    let Some(pos) = pattern.find('%') else {
        return pattern == name;
    };
    let prefix = &pattern[..pos];
    let rest = &pattern[pos + 1..];
    let (conv, suffix) = match rest.strip_prefix('l') {
        Some(r) => r.split_at(r.len().min(1)),
        None => rest.split_at(rest.len().min(1)),
    };
    let Some(middle) = name
        .strip_prefix(prefix)
        .and_then(|n| n.strip_suffix(suffix))
    else {
        return false;
    };
    if middle.is_empty() {
        return false;
    }
    match conv {
        "u" => middle.bytes().all(|b| b.is_ascii_digit()),
        "d" => {
            let digits = middle.strip_prefix('-').unwrap_or(middle);
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        }
        "x" => middle.bytes().all(|b| b.is_ascii_hexdigit()),
        "s" => !middle.contains('/'),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let name = |f: &str| by_file_name(f).map(|k| k.name);
        assert_eq!(name("core-31000.img"), Some("CORE"));
        assert_eq!(name("pages-1.img"), Some("PAGES"));
        assert_eq!(name("stats-dump"), Some("STATS"));
        assert_eq!(name("stats-restore"), Some("STATS"));
        assert_eq!(name("inventory.img"), Some("INVENTORY"));
        assert_eq!(name("pagemap-31000.img"), Some("PAGEMAP"));
        assert_eq!(name("pagemap-shmem-77.img"), Some("PAGEMAP"));
        assert_eq!(name("tty.img"), Some("TTY_FILES"));
        assert_eq!(name("tty-info.img"), Some("TTY_INFO"));
        assert_eq!(name("pipes.img"), Some("PIPES"));
        assert_eq!(name("pipes-data.img"), Some("PIPES_DATA"));
        assert_eq!(name("fdinfo-2.img"), Some("FDINFO"));
        assert_eq!(name("sk-queues.img"), Some("SK_QUEUES"));
        assert_eq!(name("timens-0.img"), Some("TIMENS"));
        assert_eq!(name("core-.img"), None);
        assert_eq!(name("core-12a.img"), None);
        assert_eq!(name("core-1.img.bak"), None);
        assert_eq!(name("dump.log"), None);
    }

    #[test]
    fn magics() {
        assert_eq!(by_magic(0x5505_3847).map(|k| k.name), Some("CORE"));
        assert_eq!(by_magic(RAW_IMAGE_MAGIC).map(|k| k.name), None);
        let skq = by_magic(SK_QUEUES_MAGIC).expect("sk-queues");
        assert_eq!(skq.name, "SK_QUEUES");
        assert_eq!(skq.extra, Extra::Bytes("length"));
        assert_eq!(skq.entry.map(|d| d.name), Some("sk_packet_entry"));
        let stats = by_name("STATS").expect("stats");
        assert_eq!(stats.header, Header::Service);
        assert_eq!(
            by_name("PAGEMAP")
                .and_then(|k| k.entry_desc(0))
                .map(|d| d.name),
            Some("pagemap_head")
        );
        assert_eq!(
            by_name("PAGEMAP")
                .and_then(|k| k.entry_desc(1))
                .map(|d| d.name),
            Some("pagemap_entry")
        );
    }

    #[test]
    fn every_fixture_file_is_known_and_headers_match() {
        let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures"));
        let mut seen = 0;
        for fixture in std::fs::read_dir(root).expect("fixtures") {
            let dir = fixture.expect("entry").path().join("images");
            let Ok(files) = std::fs::read_dir(&dir) else {
                continue;
            };
            for f in files {
                let path = f.expect("entry").path();
                let file = path.file_name().and_then(|n| n.to_str()).expect("name");
                let k = by_file_name(file).unwrap_or_else(|| panic!("unknown {file}"));
                let data = std::fs::read(&path).expect("read");
                let word =
                    |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
                match k.header {
                    Header::Inventory => assert_eq!(word(0), k.magic),
                    Header::Common => assert_eq!((word(0), word(4)), (IMG_COMMON_MAGIC, k.magic)),
                    Header::Service => {
                        assert_eq!((word(0), word(4)), (IMG_SERVICE_MAGIC, k.magic))
                    }
                    Header::Raw => assert_eq!(data.len() % 4096, 0),
                }
                if k.header != Header::Raw {
                    assert_eq!(by_magic(k.magic).map(|m| m.name), Some(k.name));
                }
                seen += 1;
            }
        }
        assert!(seen > 50);
    }

    #[test]
    fn extra_fields_exist() {
        for k in IMAGES {
            if let (Some(field), Some(entry)) = (k.extra.bytes_field(), k.entry) {
                assert!(entry.fields.iter().any(|f| f.name == field), "{}", k.name);
            }
        }
    }
}
