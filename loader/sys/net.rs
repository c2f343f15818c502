//! Sockets: creation, addresses, options, peeking at queues, sending with
//! control messages, and sock_diag dumps over netlink.
//!
//! Addresses travel as raw `sockaddr` bytes: the callers in `sockets/`
//! build and parse them per family.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use super::{check, check_int};

pub fn socket(family: i32, kind: i32, protocol: i32) -> io::Result<OwnedFd> {
    // SAFETY: socket takes no memory.
    let fd = check_int(unsafe { libc::socket(family, kind | libc::SOCK_CLOEXEC, protocol) })?;
    // SAFETY: the kernel just gave us this descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn socketpair(family: i32, kind: i32) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut sv = [0 as RawFd; 2];
    // SAFETY: sv has room for the two descriptors socketpair writes.
    check_int(unsafe { libc::socketpair(family, kind | libc::SOCK_CLOEXEC, 0, sv.as_mut_ptr()) })?;
    // SAFETY: the kernel just gave us both descriptors.
    Ok(unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) })
}

pub fn bind(fd: RawFd, addr: &[u8]) -> io::Result<()> {
    // SAFETY: addr is a sockaddr of addr.len() bytes, read only.
    check_int(unsafe { libc::bind(fd, addr.as_ptr().cast(), addr.len() as libc::socklen_t) })
        .map(drop)
}

pub fn connect(fd: RawFd, addr: &[u8]) -> io::Result<()> {
    // SAFETY: addr is a sockaddr of addr.len() bytes, read only.
    check_int(unsafe { libc::connect(fd, addr.as_ptr().cast(), addr.len() as libc::socklen_t) })
        .map(drop)
}

pub fn listen(fd: RawFd, backlog: i32) -> io::Result<()> {
    // SAFETY: listen takes no memory.
    check_int(unsafe { libc::listen(fd, backlog) }).map(drop)
}

pub fn shutdown(fd: RawFd, how: i32) -> io::Result<()> {
    // SAFETY: shutdown takes no memory.
    check_int(unsafe { libc::shutdown(fd, how) }).map(drop)
}

fn name_of(
    fd: RawFd,
    call: unsafe extern "C" fn(RawFd, *mut libc::sockaddr, *mut libc::socklen_t) -> i32,
) -> io::Result<Vec<u8>> {
    // SAFETY: an all-zero sockaddr_storage is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of_val(&ss) as libc::socklen_t;
    // SAFETY: ss has `len` writable bytes; the kernel writes at most that
    // many and stores the full length in len.
    check_int(unsafe { call(fd, (&raw mut ss).cast(), &mut len) })?;
    let len = (len as usize).min(std::mem::size_of_val(&ss));
    // SAFETY: ss is plain bytes and len is within it.
    let bytes = unsafe { std::slice::from_raw_parts((&raw const ss).cast::<u8>(), len) };
    Ok(bytes.to_vec())
}

/// The socket's own address, raw.
pub fn getsockname(fd: RawFd) -> io::Result<Vec<u8>> {
    name_of(fd, libc::getsockname)
}

/// The connected peer's address, raw.
pub fn getpeername(fd: RawFd) -> io::Result<Vec<u8>> {
    name_of(fd, libc::getpeername)
}

/// A getsockopt of up to `max` bytes.
pub fn getsockopt_bytes(fd: RawFd, level: i32, name: i32, max: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; max];
    let mut len = max as libc::socklen_t;
    // SAFETY: buf has len writable bytes; the kernel writes at most len.
    check_int(unsafe { libc::getsockopt(fd, level, name, buf.as_mut_ptr().cast(), &mut len) })?;
    buf.truncate(len as usize);
    Ok(buf)
}

pub fn getsockopt_int(fd: RawFd, level: i32, name: i32) -> io::Result<i32> {
    let b = getsockopt_bytes(fd, level, name, 4)?;
    let mut w = [0u8; 4];
    w[..b.len().min(4)].copy_from_slice(&b[..b.len().min(4)]);
    Ok(i32::from_ne_bytes(w))
}

pub fn setsockopt_bytes(fd: RawFd, level: i32, name: i32, val: &[u8]) -> io::Result<()> {
    // SAFETY: val is read only, of the length passed.
    check_int(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            val.as_ptr().cast(),
            val.len() as libc::socklen_t,
        )
    })
    .map(drop)
}

pub fn setsockopt_int(fd: RawFd, level: i32, name: i32, val: i32) -> io::Result<()> {
    setsockopt_bytes(fd, level, name, &val.to_ne_bytes())
}

/// One packet (or, on a stream socket, up to `buf.len()` bytes) read
/// with `flags`, and the descriptors and credentials that came with it.
pub struct Received {
    pub len: usize,
    /// MSG_TRUNC was set: the packet was longer than the buffer.
    pub truncated: bool,
    pub fds: Vec<OwnedFd>,
    /// SCM_CREDENTIALS: pid, uid, gid.
    pub creds: Option<[u32; 3]>,
    /// Control data of other kinds was present.
    pub other_control: bool,
}

pub fn recvmsg(fd: RawFd, buf: &mut [u8], flags: i32) -> io::Result<Received> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // Room for SCM_MAX_FD (253) descriptors and one ucred.
    let mut control = vec![0u64; 160];
    // SAFETY: an all-zero msghdr is valid; the pointers are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = control.len() * 8;
    // SAFETY: msg points at iov (into buf) and control, both live and
    // writable for the lengths given.
    let n = check(unsafe { libc::recvmsg(fd, &mut msg, flags | libc::MSG_CMSG_CLOEXEC) } as _)?;
    let mut out = Received {
        len: n as usize,
        truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
        fds: Vec::new(),
        creds: None,
        other_control: msg.msg_flags & libc::MSG_CTRUNC != 0,
    };
    // SAFETY: msg describes the control buffer the kernel just filled;
    // the CMSG_* helpers stay within msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            let len = (*c).cmsg_len - libc::CMSG_LEN(0) as usize;
            match ((*c).cmsg_level, (*c).cmsg_type) {
                (libc::SOL_SOCKET, libc::SCM_RIGHTS) => {
                    for i in 0..len / 4 {
                        let fd = std::ptr::read_unaligned(data.cast::<RawFd>().add(i));
                        out.fds.push(OwnedFd::from_raw_fd(fd));
                    }
                }
                (libc::SOL_SOCKET, libc::SCM_CREDENTIALS) if len >= 12 => {
                    let u = std::ptr::read_unaligned(data.cast::<[u32; 3]>());
                    out.creds = Some(u);
                }
                _ => out.other_control = true,
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(out)
}

/// `sendmsg` of one buffer to `to` (or the connected peer when empty),
/// passing `fds` (SCM_RIGHTS) and `creds` (SCM_CREDENTIALS) with it.
pub fn sendmsg(
    fd: RawFd,
    data: &[u8],
    to: &[u8],
    fds: &[RawFd],
    creds: Option<[u32; 3]>,
) -> io::Result<usize> {
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut _,
        iov_len: data.len(),
    };
    let mut control = vec![0u64; 160];
    // SAFETY: an all-zero msghdr is valid; the pointers are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !to.is_empty() {
        msg.msg_name = to.as_ptr() as *mut _;
        msg.msg_namelen = to.len() as libc::socklen_t;
    }
    // SAFETY: CMSG_SPACE only computes sizes.
    let need = unsafe {
        (if fds.is_empty() {
            0
        } else {
            libc::CMSG_SPACE((fds.len() * 4) as u32)
        }) + if creds.is_some() {
            libc::CMSG_SPACE(12)
        } else {
            0
        }
    } as usize;
    if need > control.len() * 8 {
        return Err(io::Error::from_raw_os_error(libc::E2BIG));
    }
    if need > 0 {
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = need;
        // SAFETY: the control buffer holds `need` bytes, the sum of the
        // CMSG_SPACE of each header written; CMSG_NXTHDR stays within it.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            if !fds.is_empty() {
                (*c).cmsg_level = libc::SOL_SOCKET;
                (*c).cmsg_type = libc::SCM_RIGHTS;
                (*c).cmsg_len = libc::CMSG_LEN((fds.len() * 4) as u32) as usize;
                std::ptr::copy_nonoverlapping(
                    fds.as_ptr().cast::<u8>(),
                    libc::CMSG_DATA(c),
                    fds.len() * 4,
                );
                c = libc::CMSG_NXTHDR(&msg, c);
            }
            if let Some(u) = creds {
                (*c).cmsg_level = libc::SOL_SOCKET;
                (*c).cmsg_type = libc::SCM_CREDENTIALS;
                (*c).cmsg_len = libc::CMSG_LEN(12) as usize;
                std::ptr::copy_nonoverlapping(u.as_ptr().cast::<u8>(), libc::CMSG_DATA(c), 12);
            }
        }
    }
    // SAFETY: msg points at live buffers of the lengths it gives.
    check(unsafe { libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) } as _)
        .map(|n| n as usize)
}

/// The inode number of a socket descriptor.
pub fn socket_ino(fd: RawFd) -> io::Result<u64> {
    // SAFETY: an all-zero stat is valid; fstat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is writable and of the size fstat expects.
    check_int(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st.st_ino)
}

const NETLINK_SOCK_DIAG: i32 = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

/// Appends one netlink message (nlmsghdr, then `body`) to `out`.
pub fn nlmsg(out: &mut Vec<u8>, kind: u16, flags: u16, seq: u32, body: &[u8]) {
    out.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes()); // pid: the kernel
    out.extend_from_slice(body);
}

/// The netlink messages in `buf`, each as (type, flags, the whole
/// message); one running past the end is EBADMSG.
fn nl_messages(buf: &[u8]) -> io::Result<Vec<(u16, u16, &[u8])>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 16 <= buf.len() {
        let len = u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]) as usize;
        if len < 16 || at + len > buf.len() {
            return Err(io::Error::from_raw_os_error(libc::EBADMSG));
        }
        let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
        let flags = u16::from_ne_bytes([buf[at + 6], buf[at + 7]]);
        out.push((kind, flags, &buf[at..at + len]));
        at += (len + 3) & !3;
    }
    Ok(out)
}

/// The errno of an NLMSG_ERROR message (0 for an acknowledgement).
fn nl_errno(msg: &[u8]) -> i32 {
    msg.get(16..20)
        .map_or(0, |e| -i32::from_ne_bytes([e[0], e[1], e[2], e[3]]))
}

/// A netlink socket of `protocol` that has sent `msgs` to the kernel.
fn nl_send(protocol: i32, msgs: &[u8]) -> io::Result<OwnedFd> {
    use std::os::fd::AsRawFd;
    let nl = socket(libc::AF_NETLINK, libc::SOCK_RAW, protocol)?;
    // struct sockaddr_nl of the kernel: family, pad, pid 0, groups 0.
    let mut kernel = vec![0u8; 12];
    kernel[..2].copy_from_slice(&(libc::AF_NETLINK as u16).to_ne_bytes());
    sendmsg(nl.as_raw_fd(), msgs, &kernel, &[], None)?;
    Ok(nl)
}

fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is writable for its length.
    check(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) } as _).map(|n| n as usize)
}

/// Sends one request `msg` (nlmsghdr and body) on netlink socket `fd` and
/// takes its answer: for a dump (NLM_F_DUMP) every message up to
/// NLMSG_DONE, whole; otherwise the acknowledgement (NLM_F_ACK asked).
/// An error message in the answer is the error.
pub fn nl_talk(fd: RawFd, msg: &[u8]) -> io::Result<Vec<Vec<u8>>> {
    let dump = msg.len() >= 8
        && u16::from_ne_bytes([msg[6], msg[7]]) & libc::NLM_F_DUMP as u16
            == libc::NLM_F_DUMP as u16;
    let mut kernel = vec![0u8; 12];
    kernel[..2].copy_from_slice(&(libc::AF_NETLINK as u16).to_ne_bytes());
    sendmsg(fd, msg, &kernel, &[], None)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = recv(fd, &mut buf)?;
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        for (kind, _, m) in nl_messages(&buf[..n])? {
            match kind {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => {
                    return match nl_errno(m) {
                        0 if !dump => Ok(out),
                        0 => continue,
                        e => Err(io::Error::from_raw_os_error(e)),
                    }
                }
                _ => out.push(m.to_vec()),
            }
        }
    }
}

/// The netlink messages in `buf` (a stream of them, each 4-aligned), whole.
pub fn nl_split(buf: &[u8]) -> io::Result<Vec<&[u8]>> {
    Ok(nl_messages(buf)?.into_iter().map(|m| m.2).collect())
}

/// A sock_diag dump: sends `request` (the family's `*_diag_req`) with
/// NLM_F_DUMP and returns the payload of every reply message.
pub fn sock_diag(request: &[u8]) -> io::Result<Vec<Vec<u8>>> {
    use std::os::fd::AsRawFd;
    let mut msg = Vec::with_capacity(16 + request.len());
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    nlmsg(&mut msg, SOCK_DIAG_BY_FAMILY, flags, 1, request);
    let nl = nl_send(NETLINK_SOCK_DIAG, &msg)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = recv(nl.as_raw_fd(), &mut buf)?;
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        for (kind, _, m) in nl_messages(&buf[..n])? {
            match kind {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => return Err(io::Error::from_raw_os_error(nl_errno(m))),
                SOCK_DIAG_BY_FAMILY => out.push(m[16..].to_vec()),
                _ => {}
            }
        }
    }
}

/// `SO_GET_FILTER`: the classic BPF program attached to the socket, as
/// 8-byte instructions; empty when there is none.
pub fn get_filter(fd: RawFd) -> io::Result<Vec<u64>> {
    let mut count: libc::socklen_t = 0;
    // SAFETY: with a zero length the kernel writes nothing but the
    // instruction count, into `count`.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_GET_FILTER,
            std::ptr::null_mut(),
            &mut count,
        )
    };
    if r < 0 || count == 0 {
        return Ok(Vec::new());
    }
    let mut insns = vec![0u64; count as usize];
    // The length is counted in instructions, not bytes.
    let mut len = count;
    // SAFETY: insns holds `count` instructions of 8 bytes, all the kernel
    // copies for a length of `count`.
    check_int(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_GET_FILTER,
            insns.as_mut_ptr().cast(),
            &mut len,
        )
    })?;
    insns.truncate(len as usize);
    Ok(insns)
}

/// `SO_ATTACH_FILTER` with a classic BPF program (8-byte instructions).
pub fn attach_filter(fd: RawFd, insns: &[u64]) -> io::Result<()> {
    let prog = libc::sock_fprog {
        len: insns.len() as u16,
        filter: insns.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prog points at `insns`, alive for the call; the kernel
    // copies the program and keeps no pointer.
    check_int(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&raw const prog).cast(),
            std::mem::size_of_val(&prog) as libc::socklen_t,
        )
    })
    .map(drop)
}

/// An ioctl that returns a new descriptor (SIOCUNIXFILE).
pub fn ioctl_fd(fd: RawFd, request: u64) -> io::Result<OwnedFd> {
    // SAFETY: the request takes no argument memory; it returns a new fd.
    let r = check_int(unsafe { libc::ioctl(fd, request as _, 0) })?;
    // SAFETY: the kernel just gave us this descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

/// Whether `fd` has data to read now (poll POLLIN, no wait).
pub fn poll_in(fd: RawFd) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: p is one live pollfd.
    let n = check_int(unsafe { libc::poll(&mut p, 1, 0) })?;
    Ok(n > 0 && p.revents & libc::POLLIN != 0)
}

/// An ioctl that writes one int (SIOCINQ, SIOCOUTQ, SIOCOUTQNSD).
pub fn ioctl_int(fd: RawFd, request: u64) -> io::Result<u32> {
    let mut v: libc::c_int = 0;
    // SAFETY: the request writes one int into v.
    check_int(unsafe { libc::ioctl(fd, request as _, &mut v) })?;
    Ok(v as u32)
}

/// `if_indextoname`: the interface's name.
pub fn if_name(index: u32) -> io::Result<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf has IF_NAMESIZE bytes, all if_indextoname writes.
    let r = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if r.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success buf holds a NUL-terminated name.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Ok(name.to_string_lossy().into_owned())
}

const NETLINK_NETFILTER: i32 = 12;

/// Sends a batch of nf_tables messages (BATCH_BEGIN ... BATCH_END) and
/// waits for the acknowledgement of each message asking for one; the
/// first error is returned.
pub fn netfilter_batch(batch: &[u8]) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // The messages that ask for an ack (NLM_F_ACK).
    let mut want = nl_messages(batch)?
        .iter()
        .filter(|&&(_, flags, _)| flags & libc::NLM_F_ACK as u16 != 0)
        .count();
    let nl = nl_send(NETLINK_NETFILTER, batch)?;
    let mut buf = vec![0u8; 64 * 1024];
    // The kernel sends every ack (and the error of a message that asked
    // for none) once the batch is done: all come in one go.
    while want > 0 {
        let mut p = libc::pollfd {
            fd: nl.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: p is one live pollfd.
        if check_int(unsafe { libc::poll(&mut p, 1, 5000) })? == 0 {
            return Err(io::Error::from(io::ErrorKind::TimedOut));
        }
        let n = recv(nl.as_raw_fd(), &mut buf)?;
        for (kind, _, m) in nl_messages(&buf[..n])? {
            if kind == libc::NLMSG_ERROR as u16 {
                want = want.saturating_sub(1);
                // A failed message aborts the batch: nothing more comes.
                match nl_errno(m) {
                    0 => {}
                    errno => return Err(io::Error::from_raw_os_error(errno)),
                }
            }
        }
    }
    Ok(())
}
