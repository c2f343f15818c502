//! IPv4 and IPv6 sockets that hold no connection state in the kernel:
//! TCP listening and closed (unbound, or bound but not listening) sockets,
//! UDP and UDP-lite (bound, connected), ICMP and raw sockets. Established
//! TCP needs `TCP_REPAIR` (`--tcp-established`), which crest refuses by
//! name. As CRIU does, a UDP socket's unread datagrams are dropped with a
//! warning: the network could have lost them as well.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::dump::DumpError;
use crate::images::schema::{
    FownEntry, InetSkEntry, IpOptsEntry, IpOptsRawEntry, TcpOptsEntry, TcpStreamEntry,
};
use crate::log::WARN;
use crate::sys;

use super::unix::{TCP_CLOSE, TCP_ESTABLISHED, TCP_LISTEN};
use super::{opts, Dumped};

const TCP_INFO_STATE: usize = 0;

/// (family, address words, port) from a raw sockaddr_in / sockaddr_in6.
fn parse_addr(raw: &[u8]) -> (Vec<u32>, u32) {
    let word = |at: usize| super::diag::u32_at(raw, at);
    let port = raw
        .get(2..4)
        .map_or(0, |p| u16::from_be_bytes([p[0], p[1]]));
    let family = raw.get(..2).map_or(0, |f| u16::from_ne_bytes([f[0], f[1]]));
    match family as i32 {
        libc::AF_INET => (vec![word(4)], u32::from(port)),
        libc::AF_INET6 => ((0..4).map(|i| word(8 + i * 4)).collect(), u32::from(port)),
        _ => (Vec::new(), 0),
    }
}

/// A raw sockaddr for `family` from image words and a host-order port.
pub fn make_addr(family: u32, words: &[u32], port: u32) -> Vec<u8> {
    let mut a = Vec::new();
    a.extend_from_slice(&(family as u16).to_ne_bytes());
    a.extend_from_slice(&(port as u16).to_be_bytes());
    if family == libc::AF_INET as u32 {
        a.extend_from_slice(&words.first().copied().unwrap_or(0).to_ne_bytes());
        a.resize(16, 0);
    } else {
        a.extend_from_slice(&0u32.to_ne_bytes()); // flowinfo
        for i in 0..4 {
            a.extend_from_slice(&words.get(i).copied().unwrap_or(0).to_ne_bytes());
        }
        a.extend_from_slice(&0u32.to_ne_bytes()); // scope id
    }
    a
}

pub(crate) fn dump(
    d: &mut Dumped,
    pid: i32,
    what: &str,
    sock: &OwnedFd,
    ino: u32,
    id: u32,
    flags: u32,
) -> Result<InetSkEntry, DumpError> {
    let fd = sock.as_raw_fd();
    let refuse = |why: String| DumpError::refused(pid, format!("{what}: {why}"));
    let sys_err = |call: &str, e| DumpError::sys(pid, format!("{what}: {call}"), e);
    let get = |level, name, call: &str| {
        sys::getsockopt_int(fd, level, name).map_err(|e| sys_err(call, e))
    };
    let family = get(libc::SOL_SOCKET, libc::SO_DOMAIN, "SO_DOMAIN")? as u32;
    let kind = get(libc::SOL_SOCKET, libc::SO_TYPE, "SO_TYPE")? as u32;
    let proto = get(libc::SOL_SOCKET, libc::SO_PROTOCOL, "SO_PROTOCOL")? as u32;
    let (src_addr, src_port) =
        parse_addr(&sys::getsockname(fd).map_err(|e| sys_err("getsockname", e))?);
    let (dst_addr, dst_port) = match sys::getpeername(fd) {
        Ok(raw) => parse_addr(&raw),
        // CRIU wants both addresses of the family's size, zero if unset.
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => (vec![0; src_addr.len()], 0),
        Err(e) => return Err(sys_err("getpeername", e)),
    };
    let diag = d.inet_diag(pid)?.get(&ino).cloned();
    let tcp = is_tcp(kind, proto);
    let state = if tcp {
        let info = sys::getsockopt_bytes(fd, libc::IPPROTO_TCP, libc::TCP_INFO, 8)
            .map_err(|e| sys_err("TCP_INFO", e))?;
        u32::from(info.get(TCP_INFO_STATE).copied().unwrap_or(0))
    } else if dst_port != 0 || dst_addr.iter().any(|&w| w != 0) {
        TCP_ESTABLISHED
    } else {
        TCP_CLOSE
    };
    match (tcp, state) {
        (true, TCP_LISTEN | TCP_CLOSE) | (false, _) => {}
        (true, _) if d.tcp_close => {}
        (true, TCP_ESTABLISHED) if d.tcp_established && d.netns.is_some() => {
            return Err(DumpError::refused(
                pid,
                format!(
                    "{what}: an established connection in the tree's own network namespace, \
                     which crest does not lock and dump yet"
                ),
            ));
        }
        (true, TCP_ESTABLISHED) if d.tcp_established => {
            // First its packets are dropped, then it goes silent; a peer
            // in the tree goes silent with it and needs no lock.
            let conn = super::netfilter::Conn {
                family,
                src: (&src_addr, src_port),
                dst: (&dst_addr, dst_port),
            };
            if !d.peer_in_tree(conn.src, conn.dst) {
                d.repaired.lock_conn(&conn).map_err(|e| {
                    DumpError::sys(pid, format!("{what}: locking the network (nf_tables)"), e)
                })?;
            }
            let (stream, inq, outq) = super::tcp::dump(sock, &mut d.repaired, pid, what)?;
            d.tcp_streams.push((ino, stream, [inq, outq].concat()));
        }
        (true, s) => {
            let why = if d.tcp_established {
                "crest restores only established connections"
            } else {
                "dump with --tcp-established to keep it, or --tcp-close to have it come back closed"
            };
            return Err(refuse(format!(
                "a TCP connection in state {} ({s}): {why}",
                crate::images::schema::SK_STATE
                    .iter()
                    .find(|(k, _)| *k == u64::from(s))
                    .map_or("?", |(_, n)| n)
            )));
        }
    }
    if !matches!(
        kind as i32,
        libc::SOCK_STREAM | libc::SOCK_DGRAM | libc::SOCK_RAW
    ) {
        return Err(refuse(format!("an inet socket of type {kind}")));
    }
    let (backlog, shutdown) = diag.as_ref().map_or((0, 0), |g| (g.wqueue, g.shutdown));
    if tcp && state == TCP_LISTEN {
        if let Some(g) = diag.as_ref().filter(|g| g.rqueue > 0) {
            if !d.skip_in_flight {
                return Err(refuse(format!(
                    "{} connections wait to be accepted on this listener (--skip-in-flight drops them)",
                    g.rqueue
                )));
            }
        }
    }
    if !tcp && kind as i32 == libc::SOCK_DGRAM {
        if sys::getsockopt_int(fd, libc::IPPROTO_UDP, libc::UDP_CORK).unwrap_or(0) != 0 {
            return Err(refuse("a corked UDP socket (UDP_CORK)".into()));
        }
        if let Some(g) = diag.as_ref().filter(|g| g.rqueue > 0) {
            crate::log!(
                WARN,
                "pid {pid}: {what}: {} bytes of unread datagrams are dropped",
                g.rqueue
            );
        }
    }
    let opts = opts::dump(fd).map_err(|e| sys_err("options", e))?;
    let v6 = family == libc::AF_INET6 as u32;
    let flag = |level, name| {
        sys::getsockopt_int(fd, level, name)
            .ok()
            .filter(|&v| v != 0)
    };
    let ip_opts = if v6 {
        IpOptsEntry {
            freebind: flag(libc::SOL_IPV6, libc::IPV6_FREEBIND).map(|_| true),
            pktinfo: flag(libc::SOL_IPV6, libc::IPV6_RECVPKTINFO).map(|_| true),
            ..Default::default()
        }
    } else {
        IpOptsEntry {
            freebind: flag(libc::SOL_IP, libc::IP_FREEBIND).map(|_| true),
            pktinfo: flag(libc::SOL_IP, libc::IP_PKTINFO).map(|_| true),
            tos: flag(libc::SOL_IP, libc::IP_TOS).map(|v| v as u32),
            ttl: flag(libc::SOL_IP, libc::IP_TTL).map(|v| v as u32),
            ..Default::default()
        }
    };
    let mut ip_opts = ip_opts;
    if kind as i32 == libc::SOCK_RAW {
        ip_opts.raw = Some(raw_opts(fd, v6, proto));
    }
    let tcp_opts = if tcp {
        let t = |name| flag(libc::IPPROTO_TCP, name);
        TcpOptsEntry {
            cork: t(libc::TCP_CORK).map(|_| true),
            nodelay: t(libc::TCP_NODELAY).map(|_| true),
            keepcnt: t(libc::TCP_KEEPCNT).map(|v| v as u32),
            keepidle: t(libc::TCP_KEEPIDLE).map(|v| v as u32),
            keepintvl: t(libc::TCP_KEEPINTVL).map(|v| v as u32),
        }
    } else {
        TcpOptsEntry::default()
    };
    Ok(InetSkEntry {
        id,
        ino,
        family,
        r#type: kind,
        proto,
        state,
        src_port,
        dst_port,
        flags,
        backlog,
        src_addr,
        dst_addr,
        fown: FownEntry::default(),
        opts,
        v6only: v6.then(|| flag(libc::SOL_IPV6, libc::IPV6_V6ONLY).is_some()),
        ip_opts: Some(ip_opts),
        ifname: None,
        ns_id: None,
        shutdown: (shutdown != 0).then_some(i32::from(shutdown & 3)),
        tcp_opts: Some(tcp_opts),
    })
}

/// Whether `e` is a TCP socket (a raw socket may carry IPPROTO_TCP too).
fn is_tcp(kind: u32, proto: u32) -> bool {
    kind == libc::SOCK_STREAM as u32 && proto == libc::IPPROTO_TCP as u32
}

/// Creates the socket of `e`: bound, listening or connected as dumped,
/// with its options. SO_REUSEADDR and SO_REUSEPORT stay on (sockets of
/// the tree may share a port, or the dead original hold it in TIME_WAIT)
/// until [`settle`] puts the dumped values back once all exist.
pub fn create(
    e: &InetSkEntry,
    tcp_close: bool,
    stream: Option<&(TcpStreamEntry, Vec<u8>, Vec<u8>)>,
) -> Result<OwnedFd, String> {
    let family = e.family as i32;
    if family != libc::AF_INET && family != libc::AF_INET6 {
        return Err(format!("an inet socket of family {family}"));
    }
    let connection = is_tcp(e.r#type, e.proto) && !matches!(e.state, TCP_LISTEN | TCP_CLOSE);
    if connection && tcp_close {
        // --tcp-close, as CRIU: a new socket, neither bound nor
        // connected, shut down; reads and writes fail as on a closed
        // connection.
        let sock = sys::socket(family, e.r#type as i32, e.proto as i32)
            .map_err(|err| format!("socket: {err}"))?;
        opts::restore(sock.as_raw_fd(), &e.opts)?;
        let _ = sys::shutdown(sock.as_raw_fd(), libc::SHUT_RDWR);
        sys::set_status_flags(sock.as_raw_fd(), e.flags as i32 & libc::O_NONBLOCK)
            .map_err(|err| format!("flags: {err}"))?;
        return Ok(sock);
    }
    if let (true, Some((s, inq, outq))) = (connection, stream) {
        let sock = sys::socket(family, e.r#type as i32, e.proto as i32)
            .map_err(|err| format!("socket: {err}"))?;
        super::tcp::restore(&sock, e, s, inq, outq)?;
        let fd = sock.as_raw_fd();
        opts::restore(fd, &e.opts)?;
        restore_ip_opts(fd, e)?;
        sys::set_status_flags(fd, e.flags as i32 & libc::O_NONBLOCK)
            .map_err(|err| format!("flags: {err}"))?;
        return Ok(sock);
    }
    if connection {
        return Err(format!(
            "a TCP connection in state {} without its tcp-stream-{:x}.img (dumped with --tcp-close? then restore with it too)",
            e.state, e.ino
        ));
    }
    for (what, words) in [("source", &e.src_addr), ("destination", &e.dst_addr)] {
        // Old images wrote four words for IPv4 too: the first counts.
        if family == libc::AF_INET6 && !matches!(words.len(), 0 | 4) {
            return Err(format!("{what} address of {} words for IPv6", words.len()));
        }
    }
    let sock = sys::socket(family, e.r#type as i32, e.proto as i32)
        .map_err(|err| format!("socket: {err}"))?;
    let fd = sock.as_raw_fd();
    let set = |level, name, v, what: &str| {
        sys::setsockopt_int(fd, level, name, v).map_err(|err| format!("{what}: {err}"))
    };
    let raw = e.r#type == libc::SOCK_RAW as u32;
    if family == libc::AF_INET6 {
        // A raw socket counts as bound already and refuses the change;
        // its default is what it was created with.
        let want = i32::from(e.v6only == Some(true));
        let now = sys::getsockopt_int(fd, libc::SOL_IPV6, libc::IPV6_V6ONLY).unwrap_or(want);
        if now != want {
            set(libc::SOL_IPV6, libc::IPV6_V6ONLY, want, "IPV6_V6ONLY")?;
        }
    }
    set(libc::SOL_SOCKET, libc::SO_REUSEADDR, 1, "SO_REUSEADDR")?;
    set(libc::SOL_SOCKET, libc::SO_REUSEPORT, 1, "SO_REUSEPORT")?;
    // IP_FREEBIND must precede bind.
    restore_ip_opts(fd, e)?;
    let addr_set = e.src_addr.iter().any(|&w| w != 0);
    let icmp = e.proto == libc::IPPROTO_ICMP as u32 || e.proto == libc::IPPROTO_ICMPV6 as u32;
    // A raw socket's "port" is its protocol: only its address is bound.
    let bound = if raw {
        addr_set
    } else {
        addr_set || e.src_port != 0
    };
    if bound && !icmp {
        let port = if raw { 0 } else { e.src_port };
        let addr = make_addr(e.family, &e.src_addr, port);
        // The address may have been bound with IP_FREEBIND since turned
        // off (or be gone from the host): bind freely, then as dumped.
        let freebind = e.ip_opts.as_ref().and_then(|o| o.freebind) == Some(true);
        let (level, name) = if family == libc::AF_INET6 {
            (libc::SOL_IPV6, libc::IPV6_FREEBIND)
        } else {
            (libc::SOL_IP, libc::IP_FREEBIND)
        };
        if !freebind && !raw {
            set(level, name, 1, "IP_FREEBIND")?;
        }
        sys::bind(fd, &addr).map_err(|err| format!("bind to port {}: {err}", e.src_port))?;
        if !freebind && !raw {
            set(level, name, 0, "IP_FREEBIND")?;
        }
    }
    if e.state == TCP_LISTEN {
        sys::listen(fd, e.backlog as i32).map_err(|err| format!("listen: {err}"))?;
    }
    if !is_tcp(e.r#type, e.proto) && (e.dst_port != 0 || e.dst_addr.iter().any(|&w| w != 0)) {
        let port = if raw { 0 } else { e.dst_port };
        let addr = make_addr(e.family, &e.dst_addr, port);
        sys::connect(fd, &addr).map_err(|err| format!("connect to port {}: {err}", e.dst_port))?;
    }
    opts::restore(fd, &e.opts)?;
    if let Some(how) = super::unix::shutdown_how(e.shutdown) {
        match sys::shutdown(fd, how) {
            // An unconnected UDP socket takes the shutdown bits and still
            // says ENOTCONN.
            Err(err) if err.raw_os_error() != Some(libc::ENOTCONN) => {
                return Err(format!("shutdown: {err}"))
            }
            _ => {}
        }
    }
    sys::set_status_flags(fd, e.flags as i32 & libc::O_NONBLOCK)
        .map_err(|err| format!("flags: {err}"))?;
    Ok(sock)
}

/// SO_REUSEADDR and SO_REUSEPORT as dumped, once every socket is bound.
pub fn settle(fd: RawFd, e: &InetSkEntry) -> Result<(), String> {
    for (v, name, what) in [
        (e.opts.reuseaddr, libc::SO_REUSEADDR, "SO_REUSEADDR"),
        (e.opts.so_reuseport, libc::SO_REUSEPORT, "SO_REUSEPORT"),
    ] {
        sys::setsockopt_int(fd, libc::SOL_SOCKET, name, i32::from(v == Some(true)))
            .map_err(|err| format!("{what}: {err}"))?;
    }
    Ok(())
}

const IPV6_HDRINCL: i32 = 36;
const SOL_RAW: i32 = 255;
const ICMP_FILTER: i32 = 1;
const SOL_ICMPV6: i32 = 58;
const ICMP6_FILTER: i32 = 1;

/// The ICMP filter option of a raw socket of `proto`, with its size in
/// words: ICMP_FILTER (one) or ICMP6_FILTER (eight).
fn icmp_filter(v6: bool, proto: u32) -> Option<(i32, i32, usize)> {
    match (v6, proto as i32) {
        (false, libc::IPPROTO_ICMP) => Some((SOL_RAW, ICMP_FILTER, 1)),
        (true, libc::IPPROTO_ICMPV6) => Some((SOL_ICMPV6, ICMP6_FILTER, 8)),
        _ => None,
    }
}

/// A raw socket's header, fragmentation and ICMP filter options.
fn raw_opts(fd: RawFd, v6: bool, proto: u32) -> IpOptsRawEntry {
    let on = |level, name| {
        sys::getsockopt_int(fd, level, name)
            .ok()
            .filter(|&v| v != 0)
            .map(|_| true)
    };
    let icmpv_filter = icmp_filter(v6, proto)
        .and_then(|(level, name, words)| sys::getsockopt_bytes(fd, level, name, words * 4).ok())
        .map(|b| {
            b.chunks_exact(4)
                .map(|w| u32::from_ne_bytes([w[0], w[1], w[2], w[3]]))
                .collect()
        })
        .unwrap_or_default();
    if v6 {
        IpOptsRawEntry {
            hdrincl: on(libc::SOL_IPV6, IPV6_HDRINCL),
            icmpv_filter,
            ..Default::default()
        }
    } else {
        IpOptsRawEntry {
            hdrincl: on(libc::SOL_IP, libc::IP_HDRINCL),
            nodefrag: on(libc::SOL_IP, libc::IP_NODEFRAG),
            icmpv_filter,
            ..Default::default()
        }
    }
}

fn restore_raw_opts(fd: RawFd, v6: bool, proto: u32, r: &IpOptsRawEntry) -> Result<(), String> {
    let want = |level, name, v: Option<bool>, what: &str| {
        let v = i32::from(v == Some(true));
        // IPPROTO_RAW sockets have IP_HDRINCL on and refuse a change.
        if sys::getsockopt_int(fd, level, name).ok() == Some(v) {
            return Ok(());
        }
        sys::setsockopt_int(fd, level, name, v).map_err(|err| format!("{what}: {err}"))
    };
    if v6 {
        want(libc::SOL_IPV6, IPV6_HDRINCL, r.hdrincl, "IPV6_HDRINCL")?;
    } else {
        want(libc::SOL_IP, libc::IP_HDRINCL, r.hdrincl, "IP_HDRINCL")?;
        want(libc::SOL_IP, libc::IP_NODEFRAG, r.nodefrag, "IP_NODEFRAG")?;
    }
    if !r.icmpv_filter.is_empty() {
        let Some((level, name, words)) = icmp_filter(v6, proto) else {
            return Err("an ICMP filter on a socket that is not ICMP".into());
        };
        if r.icmpv_filter.len() != words {
            return Err(format!("an ICMP filter of {} words", r.icmpv_filter.len()));
        }
        let bytes: Vec<u8> = r
            .icmpv_filter
            .iter()
            .flat_map(|w| w.to_ne_bytes())
            .collect();
        sys::setsockopt_bytes(fd, level, name, &bytes)
            .map_err(|err| format!("ICMP filter: {err}"))?;
    }
    Ok(())
}

fn restore_ip_opts(fd: RawFd, e: &InetSkEntry) -> Result<(), String> {
    let set = |level, name, v: u32, what: &str| {
        sys::setsockopt_int(fd, level, name, v as i32).map_err(|err| format!("{what}: {err}"))
    };
    if let Some(ip) = &e.ip_opts {
        let v6 = e.family == libc::AF_INET6 as u32;
        if ip.freebind == Some(true) {
            if v6 {
                set(libc::SOL_IPV6, libc::IPV6_FREEBIND, 1, "IPV6_FREEBIND")?;
            } else {
                set(libc::SOL_IP, libc::IP_FREEBIND, 1, "IP_FREEBIND")?;
            }
        }
        if ip.pktinfo == Some(true) {
            if v6 {
                set(
                    libc::SOL_IPV6,
                    libc::IPV6_RECVPKTINFO,
                    1,
                    "IPV6_RECVPKTINFO",
                )?;
            } else {
                set(libc::SOL_IP, libc::IP_PKTINFO, 1, "IP_PKTINFO")?;
            }
        }
        if let Some(tos) = ip.tos.filter(|_| !v6) {
            set(libc::SOL_IP, libc::IP_TOS, tos, "IP_TOS")?;
        }
        if let Some(ttl) = ip.ttl.filter(|_| !v6) {
            set(libc::SOL_IP, libc::IP_TTL, ttl, "IP_TTL")?;
        }
        if let Some(r) = &ip.raw {
            restore_raw_opts(fd, v6, e.proto, r)?;
        }
    }
    if let Some(t) = &e.tcp_opts {
        let tcp = libc::IPPROTO_TCP;
        if t.nodelay == Some(true) {
            set(tcp, libc::TCP_NODELAY, 1, "TCP_NODELAY")?;
        }
        if t.cork == Some(true) {
            set(tcp, libc::TCP_CORK, 1, "TCP_CORK")?;
        }
        for (v, name, what) in [
            (t.keepcnt, libc::TCP_KEEPCNT, "TCP_KEEPCNT"),
            (t.keepidle, libc::TCP_KEEPIDLE, "TCP_KEEPIDLE"),
            (t.keepintvl, libc::TCP_KEEPINTVL, "TCP_KEEPINTVL"),
        ] {
            if let Some(v) = v.filter(|&v| v != 0) {
                set(tcp, name, v, what)?;
            }
        }
    }
    Ok(())
}
