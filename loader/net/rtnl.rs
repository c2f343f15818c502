//! rtnetlink, as much as a network namespace's links, addresses and
//! routes need: a NETLINK_ROUTE socket of the namespace crest is in when
//! it opens it, dumps, requests, and the attributes of their messages.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::sys;

pub(crate) const RTM_NEWLINK: u16 = 16;
pub(crate) const RTM_GETLINK: u16 = 18;
pub(crate) const RTM_SETLINK: u16 = 19;
pub(crate) const RTM_GETADDR: u16 = 22;
pub(crate) const RTM_GETROUTE: u16 = 26;
pub(crate) const RTM_GETRULE: u16 = 34;

pub(crate) const IFLA_ADDRESS: u16 = 1;
pub(crate) const IFLA_IFNAME: u16 = 3;
pub(crate) const IFLA_MTU: u16 = 4;
pub(crate) const IFLA_LINK: u16 = 5;
pub(crate) const IFLA_MASTER: u16 = 10;
pub(crate) const IFLA_LINKINFO: u16 = 18;
pub(crate) const IFLA_NET_NS_FD: u16 = 28;
pub(crate) const IFLA_LINK_NETNSID: u16 = 37;
pub(crate) const IFLA_INFO_KIND: u16 = 1;
pub(crate) const IFLA_INFO_DATA: u16 = 2;
pub(crate) const VETH_INFO_PEER: u16 = 1;
pub(crate) const RTA_GATEWAY: u16 = 5;
pub(crate) const RTA_PREFSRC: u16 = 7;
pub(crate) const RTA_TABLE: u16 = 15;
pub(crate) const RTA_DST: u16 = 1;

/// Size of `struct nlmsghdr`, and of the fixed headers after it.
pub(crate) const NLMSG_HDR: usize = 16;
pub(crate) const IFINFOMSG: usize = 16;
pub(crate) const IFADDRMSG: usize = 8;
pub(crate) const RTMSG: usize = 12;

/// A NETLINK_ROUTE socket.
pub(crate) struct Rtnl {
    fd: OwnedFd,
    seq: u32,
}

impl Rtnl {
    /// A socket of the network namespace crest is in now; it stays in it.
    pub(crate) fn open() -> io::Result<Rtnl> {
        Ok(Rtnl {
            fd: sys::socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE)?,
            seq: 0,
        })
    }

    fn message(&mut self, kind: u16, flags: u16, body: &[u8]) -> Vec<u8> {
        self.seq += 1;
        let mut msg = Vec::with_capacity(NLMSG_HDR + body.len());
        sys::nlmsg(&mut msg, kind, flags, self.seq, body);
        msg
    }

    /// Every message a dump of `kind` (with header `body`) answers, whole.
    pub(crate) fn dump(&mut self, kind: u16, body: &[u8]) -> io::Result<Vec<Vec<u8>>> {
        let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
        let msg = self.message(kind, flags, body);
        sys::nl_talk(self.fd.as_raw_fd(), &msg)
    }

    /// Sends request `kind` with `flags` (besides REQUEST and ACK) and
    /// body `body`, and waits for its acknowledgement.
    pub(crate) fn request(&mut self, kind: u16, flags: u16, body: &[u8]) -> io::Result<()> {
        let flags = flags | (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16;
        let msg = self.message(kind, flags, body);
        sys::nl_talk(self.fd.as_raw_fd(), &msg).map(drop)
    }

    /// The index of link `name`, in this socket's namespace.
    pub(crate) fn index_of(&mut self, name: &str) -> io::Result<u32> {
        let mut body = ifinfomsg(0, 0, 0, 0);
        attr(&mut body, IFLA_IFNAME, name.as_bytes());
        let flags = (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16;
        let msg = self.message(RTM_GETLINK, flags, &body);
        let reply = sys::nl_talk(self.fd.as_raw_fd(), &msg)?;
        let m = reply
            .first()
            .filter(|m| m.len() >= NLMSG_HDR + IFINFOMSG)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV))?;
        Ok(crate::sockets::diag::u32_at(m, NLMSG_HDR + 4))
    }

    /// Sends a dumped message `msg` again as a request to create what it
    /// describes (as `ip ... restore` does); what exists already is fine.
    pub(crate) fn replay(&mut self, msg: &[u8]) -> io::Result<()> {
        if msg.len() < NLMSG_HDR {
            return Err(io::Error::from_raw_os_error(libc::EBADMSG));
        }
        let kind = u16::from_ne_bytes([msg[4], msg[5]]);
        match self.request(kind, libc::NLM_F_CREATE as u16, &msg[NLMSG_HDR..]) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r,
        }
    }
}

/// The attributes after the first `fixed` bytes of message body `body`:
/// (type without the nested and byte-order bits, payload).
pub(crate) fn attrs(body: &[u8], fixed: usize) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut at = fixed;
    while at + 4 <= body.len() {
        let len = u16::from_ne_bytes([body[at], body[at + 1]]) as usize;
        let kind = u16::from_ne_bytes([body[at + 2], body[at + 3]]) & 0x3fff;
        if len < 4 || at + len > body.len() {
            break;
        }
        out.push((kind, &body[at + 4..at + len]));
        at += (len + 3) & !3;
    }
    out
}

/// The payload of attribute `kind` among `attrs`.
pub(crate) fn find<'a>(attrs: &[(u16, &'a [u8])], kind: u16) -> Option<&'a [u8]> {
    attrs.iter().find(|a| a.0 == kind).map(|a| a.1)
}

/// A u32 attribute's value.
pub(crate) fn u32_of(payload: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(payload.get(..4)?.try_into().ok()?))
}

/// A string attribute's text (up to its NUL).
pub(crate) fn str_of(payload: &[u8]) -> String {
    let end = payload
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(payload.len());
    String::from_utf8_lossy(&payload[..end]).into_owned()
}

/// Appends attribute `kind` with `payload`, padded to 4 bytes.
pub(crate) fn attr(out: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    out.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len().next_multiple_of(4), 0);
}

/// Appends nested attribute `kind`, its payload made by `fill`.
pub(crate) fn nest(out: &mut Vec<u8>, kind: u16, fill: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(kind | 0x8000).to_ne_bytes());
    fill(out);
    let len = (out.len() - start) as u16;
    out[start..start + 2].copy_from_slice(&len.to_ne_bytes());
}

/// A `struct ifinfomsg`.
pub(crate) fn ifinfomsg(family: u8, index: i32, flags: u32, change: u32) -> Vec<u8> {
    let mut m = vec![family, 0, 0, 0];
    m.extend_from_slice(&index.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&change.to_ne_bytes());
    m
}
