//! What sock_diag tells about the sockets of crest's network namespace,
//! by inode: for unix sockets the name, the bound file, the peer, the
//! connections waiting on a listener, the queue lengths and the shutdown
//! state (`linux/unix_diag.h`); for inet sockets the addresses, state and
//! queues (`linux/inet_diag.h`).

use std::collections::HashMap;
use std::io;

use crate::sys;

/// A unix socket as `UNIX_DIAG` reports it.
#[derive(Debug, Clone, Default)]
pub struct UnixDiag {
    pub ino: u32,
    pub kind: u8,
    pub state: u8,
    /// Bound name (`sun_path` bytes; an abstract name starts with NUL).
    pub name: Option<Vec<u8>>,
    /// The bound file: (inode, device).
    pub vfs: Option<(u32, u32)>,
    pub peer: u32,
    /// Inodes of connections not yet accepted (listeners only).
    pub icons: Vec<u32>,
    /// Receive queue: bytes (or, on a listener, connections) waiting;
    /// send queue: bytes the peer has not read.
    pub rqlen: (u32, u32),
    pub shutdown: u8,
}

const UDIAG_SHOW_NAME: u32 = 0x01;
const UDIAG_SHOW_VFS: u32 = 0x02;
const UDIAG_SHOW_PEER: u32 = 0x04;
const UDIAG_SHOW_ICONS: u32 = 0x08;
const UDIAG_SHOW_RQLEN: u32 = 0x10;

/// Netlink attributes after a fixed header: (type, payload).
pub(super) fn attrs(msg: &[u8], header: usize) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut at = header;
    while at + 4 <= msg.len() {
        let len = u16::from_ne_bytes([msg[at], msg[at + 1]]) as usize;
        let kind = u16::from_ne_bytes([msg[at + 2], msg[at + 3]]) & 0x3fff;
        if len < 4 || at + len > msg.len() {
            break;
        }
        out.push((kind, &msg[at + 4..at + len]));
        at += (len + 3) & !3;
    }
    out
}

/// The native-endian word at `at` of a kernel structure (0 past its end).
pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |w| u32::from_ne_bytes([w[0], w[1], w[2], w[3]]))
}

/// Every unix socket of the namespace, by inode.
pub fn unix_sockets() -> io::Result<HashMap<u32, UnixDiag>> {
    // struct unix_diag_req: family, protocol, pad, states, ino, show, cookie.
    let mut req = Vec::with_capacity(24);
    req.extend_from_slice(&[libc::AF_UNIX as u8, 0, 0, 0]);
    req.extend_from_slice(&u32::MAX.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    let show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS;
    req.extend_from_slice(&(show | UDIAG_SHOW_RQLEN).to_ne_bytes());
    req.extend_from_slice(&[0xff; 8]);
    let mut out = HashMap::new();
    for msg in sys::sock_diag(&req)? {
        // struct unix_diag_msg: family, type, state, pad, ino, cookie[2].
        if msg.len() < 16 {
            continue;
        }
        let mut d = UnixDiag {
            ino: u32_at(&msg, 4),
            kind: msg[1],
            state: msg[2],
            ..Default::default()
        };
        for (kind, val) in attrs(&msg, 16) {
            match kind {
                0 => d.name = Some(val.to_vec()),
                1 => d.vfs = Some((u32_at(val, 0), u32_at(val, 4))),
                2 => d.peer = u32_at(val, 0),
                3 => d.icons = (0..val.len() / 4).map(|i| u32_at(val, i * 4)).collect(),
                4 => d.rqlen = (u32_at(val, 0), u32_at(val, 4)),
                6 => d.shutdown = val.first().copied().unwrap_or(0),
                _ => {}
            }
        }
        out.insert(d.ino, d);
    }
    Ok(out)
}

/// An inet socket as `INET_DIAG` reports it.
#[derive(Debug, Clone, Default)]
pub struct InetDiag {
    pub ino: u32,
    pub family: u8,
    pub protocol: u8,
    pub state: u8,
    /// Ports in host order; addresses as the 4 network-order words of
    /// the image (1 used for IPv4).
    pub src_port: u16,
    pub dst_port: u16,
    pub src: [u32; 4],
    pub dst: [u32; 4],
    pub ifindex: u32,
    pub rqueue: u32,
    pub wqueue: u32,
    pub shutdown: u8,
    pub v6only: Option<bool>,
}

const INET_DIAG_SHUTDOWN: u16 = 8;
const INET_DIAG_SKV6ONLY: u16 = 11;

/// Every inet socket of `protocol` (IPPROTO_TCP, _UDP, _UDPLITE, _RAW,
/// _ICMP...) in both families, by inode.
pub fn inet_sockets(protocol: u8) -> io::Result<HashMap<u32, InetDiag>> {
    let mut out = HashMap::new();
    for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
        // struct inet_diag_req_v2: family, protocol, ext, pad, states,
        // then an all-zero inet_diag_sockid (48 bytes) with no cookie.
        let mut req = vec![family, protocol, 0, 0];
        req.extend_from_slice(&u32::MAX.to_ne_bytes());
        req.extend_from_slice(&[0u8; 40]);
        req.extend_from_slice(&[0xff; 8]);
        let replies = match sys::sock_diag(&req) {
            Ok(r) => r,
            // A protocol whose diag module is not loaded has no sockets
            // crest could meet through it.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        for msg in replies {
            // struct inet_diag_msg: family, state, timer, retrans, id (48),
            // expires, rqueue, wqueue, uid, inode.
            if msg.len() < 72 {
                continue;
            }
            let be16 = |at: usize| u16::from_be_bytes([msg[at], msg[at + 1]]);
            let words = |at: usize| {
                let mut w = [0u32; 4];
                for (i, v) in w.iter_mut().enumerate() {
                    let o = at + i * 4;
                    *v = u32::from_ne_bytes([msg[o], msg[o + 1], msg[o + 2], msg[o + 3]]);
                }
                w
            };
            let mut d = InetDiag {
                family: msg[0],
                protocol,
                state: msg[1],
                src_port: be16(4),
                dst_port: be16(6),
                src: words(8),
                dst: words(24),
                ifindex: u32_at(&msg, 40),
                rqueue: u32_at(&msg, 56),
                wqueue: u32_at(&msg, 60),
                ino: u32_at(&msg, 68),
                ..Default::default()
            };
            for (kind, val) in attrs(&msg, 72) {
                match kind {
                    INET_DIAG_SHUTDOWN => d.shutdown = val.first().copied().unwrap_or(0),
                    INET_DIAG_SKV6ONLY => d.v6only = val.first().map(|&b| b != 0),
                    _ => {}
                }
            }
            out.insert(d.ino, d);
        }
    }
    Ok(out)
}
