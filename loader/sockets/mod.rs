//! Sockets, both ways. At dump each socket descriptor is copied into crest
//! (`pidfd_getfd`) and described from sock_diag and getsockopt into its
//! `files.img` entry (`usk`, `isk`, `nlsk`, `psk`), its receive queue peeked into
//! `sk-queues.img`. At restore the loader creates every socket before the
//! first fork, connected, filled and with its options, and the tasks
//! inherit them like pipes.
//!
//! Sockets are dumped and restored in crest's own network namespace: the
//! tree must live in it (checked with the other namespaces).

pub mod create;
pub mod diag;
pub mod inet;
pub mod netfilter;
pub mod netlink;
pub mod opts;
pub mod packet;
pub mod queue;
pub mod tcp;
pub mod unix;
mod unix_names;

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::dump::DumpError;
use crate::images::schema::{FdTypes, FileEntry, SkPacketEntry};
use crate::sys;

/// What the dump of one tree has learnt about its sockets.
#[derive(Default)]
pub(crate) struct Dumped {
    unix: Option<HashMap<u32, diag::UnixDiag>>,
    inet: Option<HashMap<u32, diag::InetDiag>>,
    /// sk-queues.img: each record and its bytes.
    pub(crate) queues: Vec<(SkPacketEntry, Vec<u8>)>,
    /// The unix sockets dumped: inode → (file id, holder pid, fd).
    pub(crate) unix_ids: HashMap<u32, (u32, i32, i32)>,
    /// Descriptors that were in flight in a queue, now crest's: the file
    /// table refers to them by (crest's pid, number) until the end.
    pub(crate) in_flight: Vec<OwnedFd>,
    /// `--ext-unix-sk`: a datagram peer outside the tree is allowed.
    pub(crate) ext_unix: bool,
    /// `--skip-in-flight`: connections not yet accepted by a listener
    /// whose client is outside the tree are dropped, not refused.
    pub(crate) skip_in_flight: bool,
    /// `--tcp-established` was given.
    pub(crate) tcp_established: bool,
    /// `--tcp-close`: established TCP is recorded, to be restored closed.
    pub(crate) tcp_close: bool,
    /// Established connections in repair mode until the dump ends.
    pub(crate) repaired: tcp::Repaired,
    /// The socket inodes the tree's tasks hold: a connection between two
    /// of them needs no network lock (both ends go silent together).
    pub(crate) tree_sockets: std::collections::HashSet<u32>,
    /// tcp-stream-%x.img: the socket inode, its entry and its queues.
    pub(crate) tcp_streams: Vec<(u32, crate::images::schema::TcpStreamEntry, Vec<u8>)>,
    /// The tree's own network namespace, where sock_diag is asked.
    pub(crate) netns: Option<std::fs::File>,
}

impl Dumped {
    /// Runs `f` (a sock_diag query) in the tree's network namespace.
    pub(crate) fn in_netns<T>(&self, f: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
        match &self.netns {
            Some(ns) => crate::net::inside(ns, f)?,
            None => f(),
        }
    }

    fn unix_diag(&mut self, pid: i32) -> Result<&HashMap<u32, diag::UnixDiag>, DumpError> {
        if self.unix.is_none() {
            let d = self
                .in_netns(diag::unix_sockets)
                .map_err(|e| DumpError::sys(pid, "sock_diag of unix sockets", e))?;
            self.unix = Some(d);
        }
        Ok(self.unix.get_or_insert_with(HashMap::new))
    }

    /// Records the sockets every task of the tree holds.
    pub(crate) fn note_tree(&mut self, pids: &[i32]) {
        for &pid in pids {
            for fd in crate::proc::fds(pid).unwrap_or_default() {
                let link = crate::proc::readlink(pid, &format!("fd/{fd}")).unwrap_or_default();
                if let Some(ino) = crate::proc::link_inode(&link, "socket") {
                    self.tree_sockets.insert(ino);
                }
            }
        }
    }

    /// Whether the TCP connection (src, dst) has its other end in the
    /// tree.
    fn peer_in_tree(&self, src: (&[u32], u32), dst: (&[u32], u32)) -> bool {
        let same = |a: &[u32; 4], b: &[u32]| b.iter().enumerate().all(|(i, w)| a[i] == *w);
        self.inet.as_ref().is_some_and(|m| {
            m.values().any(|d| {
                u32::from(d.src_port) == dst.1
                    && u32::from(d.dst_port) == src.1
                    && same(&d.src, dst.0)
                    && same(&d.dst, src.0)
                    && self.tree_sockets.contains(&d.ino)
            })
        })
    }

    /// Whether unix socket `ino` has bytes in its receive queue.
    pub(crate) fn queued(&self, ino: u32) -> bool {
        self.unix
            .as_ref()
            .and_then(|m| m.get(&ino))
            .is_some_and(|u| u.rqlen.0 > 0)
    }

    fn inet_diag(&mut self, pid: i32) -> Result<&HashMap<u32, diag::InetDiag>, DumpError> {
        if self.inet.is_none() {
            let mut all = HashMap::new();
            for proto in [libc::IPPROTO_TCP, libc::IPPROTO_UDP, libc::IPPROTO_UDPLITE] {
                let d = self
                    .in_netns(|| diag::inet_sockets(proto as u8))
                    .map_err(|e| DumpError::sys(pid, "sock_diag of inet sockets", e))?;
                all.extend(d);
            }
            self.inet = Some(all);
        }
        Ok(self.inet.get_or_insert_with(HashMap::new))
    }
}

/// The socket behind descriptor `fd` of `pid` (inode `ino`) as a
/// files.img entry for id `id`, or why crest refuses it.
pub(crate) fn dump_fd(
    d: &mut Dumped,
    pid: i32,
    fd: i32,
    ino: u32,
    id: u32,
    flags: u32,
) -> Result<FileEntry, DumpError> {
    let sock = sys::steal_fd(pid, fd)
        .map_err(|e| DumpError::sys(pid, format!("fd {fd}: pidfd_getfd of socket {ino}"), e))?;
    let raw = sock.as_raw_fd();
    let domain = sys::getsockopt_int(raw, libc::SOL_SOCKET, libc::SO_DOMAIN)
        .map_err(|e| DumpError::sys(pid, format!("fd {fd}: SO_DOMAIN"), e))?;
    let what = format!("fd {fd} (socket:[{ino}])");
    let mut e = FileEntry {
        id,
        ..Default::default()
    };
    let kind = match domain {
        libc::AF_UNIX => {
            e.usk = Some(unix::dump(d, pid, &what, &sock, ino, id, flags)?);
            d.unix_ids.insert(ino, (id, pid, fd));
            FdTypes::Unixsk
        }
        libc::AF_INET | libc::AF_INET6 => {
            e.isk = Some(inet::dump(d, pid, &what, &sock, ino, id, flags)?);
            FdTypes::Inetsk
        }
        libc::AF_NETLINK => {
            e.nlsk = Some(netlink::dump(pid, &what, &sock, ino, id, flags)?);
            FdTypes::Netlinksk
        }
        libc::AF_PACKET => {
            e.psk = Some(packet::dump(d, pid, &what, &sock, ino, id, flags)?);
            FdTypes::Packetsk
        }
        _ => {
            return Err(DumpError::refused(
                pid,
                format!(
                    "{what} is a socket of family {} ({domain}), which crest does not dump",
                    family_name(domain)
                ),
            ))
        }
    };
    e.r#type = kind as i32;
    Ok(e)
}

fn family_name(family: i32) -> &'static str {
    match family {
        libc::AF_UNIX => "AF_UNIX",
        libc::AF_INET => "AF_INET",
        libc::AF_INET6 => "AF_INET6",
        libc::AF_NETLINK => "AF_NETLINK",
        libc::AF_PACKET => "AF_PACKET",
        libc::AF_BLUETOOTH => "AF_BLUETOOTH",
        libc::AF_VSOCK => "AF_VSOCK",
        libc::AF_ALG => "AF_ALG",
        libc::AF_XDP => "AF_XDP",
        _ => "unknown",
    }
}
