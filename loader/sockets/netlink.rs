//! Netlink sockets: protocol, port id, multicast groups and the peer
//! they are connected to, from getsockname/getpeername and
//! NETLINK_LIST_MEMBERSHIPS. As CRIU, a socket with unread messages is
//! refused (they cannot be put back), and so is one in more than 32
//! groups (the image keeps the first word of the group bitmap).

use std::os::fd::{AsRawFd, OwnedFd};

use crate::dump::DumpError;
use crate::images::schema::{FownEntry, NetlinkSkEntry};
use crate::sys;

const SOL_NETLINK: i32 = 270;
const NETLINK_LIST_MEMBERSHIPS: i32 = 9;

/// (port id, groups bitmap) of a raw sockaddr_nl.
fn parse(raw: &[u8]) -> (u32, u32) {
    (super::diag::u32_at(raw, 4), super::diag::u32_at(raw, 8))
}

fn sockaddr(portid: u32, groups: u32) -> Vec<u8> {
    let mut a = (libc::AF_NETLINK as u16).to_ne_bytes().to_vec();
    a.extend_from_slice(&[0, 0]);
    a.extend_from_slice(&portid.to_ne_bytes());
    a.extend_from_slice(&groups.to_ne_bytes());
    a
}

pub(crate) fn dump(
    pid: i32,
    what: &str,
    sock: &OwnedFd,
    ino: u32,
    id: u32,
    flags: u32,
) -> Result<NetlinkSkEntry, DumpError> {
    let fd = sock.as_raw_fd();
    let refuse = |why: String| DumpError::refused(pid, format!("{what}: {why}"));
    let sys_err = |call: &str, e| DumpError::sys(pid, format!("{what}: {call}"), e);
    let protocol = sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL)
        .map_err(|e| sys_err("SO_PROTOCOL", e))? as u32;
    let (portid, _) = parse(&sys::getsockname(fd).map_err(|e| sys_err("getsockname", e))?);
    let (dst_portid, dst_groups) = parse(&sys::getpeername(fd).unwrap_or_default());
    let members = sys::getsockopt_bytes(fd, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, 128)
        .map_err(|e| sys_err("NETLINK_LIST_MEMBERSHIPS", e))?;
    let mut groups: Vec<u32> = members
        .chunks_exact(4)
        .map(|w| u32::from_ne_bytes([w[0], w[1], w[2], w[3]]))
        .collect();
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.len() > 1 {
        return Err(refuse("a netlink socket in groups above 32".into()));
    }
    if sys::poll_in(fd).map_err(|e| sys_err("poll", e))? {
        return Err(refuse("a netlink socket with unread messages".into()));
    }
    let opts =
        super::opts::dump(fd).map_err(|e| DumpError::sys(pid, format!("{what}: options"), e))?;
    let connected = dst_portid != 0 || dst_groups != 0;
    Ok(NetlinkSkEntry {
        id,
        ino,
        protocol,
        state: u32::from(connected),
        flags,
        portid,
        groups,
        dst_portid,
        // The image holds the group number, the address its bit.
        dst_group: if dst_groups == 0 {
            0
        } else {
            dst_groups.trailing_zeros() + 1
        },
        fown: FownEntry::default(),
        opts,
        ns_id: None,
    })
}

/// The socket of `e`: bound to its port id and groups, connected to its
/// peer, with its options.
pub fn create(e: &NetlinkSkEntry) -> Result<OwnedFd, String> {
    if e.groups.len() > 1 {
        return Err("groups above 32 are not restored".into());
    }
    let sock = sys::socket(libc::AF_NETLINK, libc::SOCK_RAW, e.protocol as i32)
        .map_err(|err| format!("socket: {err}"))?;
    let fd = sock.as_raw_fd();
    let groups = e.groups.first().copied().unwrap_or(0);
    if e.portid != 0 || groups != 0 {
        sys::bind(fd, &sockaddr(e.portid, groups))
            .map_err(|err| format!("bind to port id {}: {err}", e.portid))?;
    }
    if e.state == 1 {
        let dst = if e.dst_group == 0 || e.dst_group > 32 {
            0
        } else {
            1 << (e.dst_group - 1)
        };
        sys::connect(fd, &sockaddr(e.dst_portid, dst))
            .map_err(|err| format!("connect to port id {}: {err}", e.dst_portid))?;
    }
    super::opts::restore(fd, &e.opts)?;
    sys::set_status_flags(fd, e.flags as i32 & libc::O_NONBLOCK)
        .map_err(|err| format!("flags: {err}"))?;
    Ok(sock)
}
