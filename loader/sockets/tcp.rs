//! Established TCP connections (`--tcp-established`), through the
//! kernel's TCP_REPAIR mode: at dump the socket is put in repair mode,
//! which stops it sending anything, and its sequence numbers, queues,
//! negotiated options and window are read into `tcp-stream-%x.img`; at
//! restore a new socket in repair mode is bound and "connected" without
//! a handshake, given the same sequence numbers, options and queues, and
//! let go.
//!
//! Before it goes into repair mode, a connection's packets are dropped
//! both ways by an nf_tables lock (`netfilter`), which the restore takes
//! away once the connection is back: its peer, in the tree or not, sees
//! a pause, not a RST. The sockets stay in repair mode until the tree is
//! killed, so their closing sends nothing either.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::dump::DumpError;
use crate::images::schema::{InetSkEntry, TcpStreamEntry};
use crate::sys;

const TCP_REPAIR: i32 = 19;
const TCP_REPAIR_QUEUE: i32 = 20;
const TCP_QUEUE_SEQ: i32 = 21;
const TCP_REPAIR_OPTIONS: i32 = 22;
const TCP_TIMESTAMP: i32 = 24;
const TCP_REPAIR_WINDOW: i32 = 29;
const RECV_QUEUE: i32 = 1;
const SEND_QUEUE: i32 = 2;

const TCPI_OPT_TIMESTAMPS: u32 = 1;
const TCPI_OPT_SACK: u32 = 2;
const TCPI_OPT_WSCALE: u32 = 4;
const TCPOPT_MAXSEG: u32 = 2;
const TCPOPT_WINDOW: u32 = 3;
const TCPOPT_SACK_PERM: u32 = 4;
const TCPOPT_TIMESTAMP: u32 = 8;

const SIOCINQ: u64 = libc::FIONREAD;
const SIOCOUTQ: u64 = libc::TIOCOUTQ;
const SIOCOUTQNSD: u64 = 0x894b;

/// Sockets crest put in repair mode during a dump. Dropped, they leave
/// repair mode (a failed dump, or `--leave-running`: the connection goes
/// on); [`Repaired::keep`] leaves them in it, so that the tree's death
/// closes them without a FIN or RST.
/// With them, the network lock that drops their packets (its run id).
#[derive(Default)]
pub(crate) struct Repaired {
    fds: Vec<OwnedFd>,
    pub(crate) lock: Option<String>,
}

impl Repaired {
    /// The tree dies with the connections in repair mode; the lock stays
    /// for the restore to take away.
    pub(crate) fn keep(mut self) {
        self.fds.clear();
        self.lock = None;
    }

    /// The run id of this dump's lock, made with the first connection.
    pub(crate) fn lock_conn(&mut self, c: &super::netfilter::Conn<'_>) -> std::io::Result<()> {
        let id = self.lock.get_or_insert_with(|| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            format!("crest-{:x}-{}", t, std::process::id())
        });
        super::netfilter::lock(id, std::slice::from_ref(c))
    }
}

impl Drop for Repaired {
    /// The connections go on: out of repair mode, their packets let through.
    fn drop(&mut self) {
        for fd in &self.fds {
            let _ = sys::setsockopt_int(fd.as_raw_fd(), libc::IPPROTO_TCP, TCP_REPAIR, 0);
        }
        if let Some(id) = &self.lock {
            let _ = super::netfilter::unlock(id);
        }
    }
}

fn set(fd: RawFd, name: i32, v: i32, what: &str) -> Result<(), String> {
    sys::setsockopt_int(fd, libc::IPPROTO_TCP, name, v).map_err(|e| format!("{what}: {e}"))
}

fn get(fd: RawFd, name: i32, what: &str) -> Result<u32, String> {
    sys::getsockopt_int(fd, libc::IPPROTO_TCP, name)
        .map(|v| v as u32)
        .map_err(|e| format!("{what}: {e}"))
}

/// Puts `sock` in repair mode (recorded in `repaired`) and reads its
/// state: the stream entry, the receive queue and the send queue.
pub(crate) fn dump(
    sock: &OwnedFd,
    repaired: &mut Repaired,
    pid: i32,
    what: &str,
) -> Result<(TcpStreamEntry, Vec<u8>, Vec<u8>), DumpError> {
    let fd = sock.as_raw_fd();
    let err = |why: String| DumpError::refused(pid, format!("{what}: TCP repair: {why}"));
    let copy = sock
        .try_clone()
        .map_err(|e| DumpError::sys(pid, format!("{what}: dup"), e))?;
    set(fd, TCP_REPAIR, 1, "TCP_REPAIR").map_err(err)?;
    repaired.fds.push(copy);
    let read = || -> Result<(TcpStreamEntry, Vec<u8>, Vec<u8>), String> {
        set(fd, TCP_REPAIR_QUEUE, RECV_QUEUE, "TCP_REPAIR_QUEUE")?;
        let inq_seq = get(fd, TCP_QUEUE_SEQ, "TCP_QUEUE_SEQ")?;
        set(fd, TCP_REPAIR_QUEUE, SEND_QUEUE, "TCP_REPAIR_QUEUE")?;
        let outq_seq = get(fd, TCP_QUEUE_SEQ, "TCP_QUEUE_SEQ")?;
        let ioctl = |req, name: &str| sys::ioctl_int(fd, req).map_err(|e| format!("{name}: {e}"));
        let inq_len = ioctl(SIOCINQ, "SIOCINQ")?;
        let outq_len = ioctl(SIOCOUTQ, "SIOCOUTQ")?;
        let unsq_len = ioctl(SIOCOUTQNSD, "SIOCOUTQNSD")?;
        let info = sys::getsockopt_bytes(fd, libc::IPPROTO_TCP, libc::TCP_INFO, 8)
            .map_err(|e| format!("TCP_INFO: {e}"))?;
        let opt_mask = u32::from(info.get(5).copied().unwrap_or(0));
        let wscale = info.get(6).copied().unwrap_or(0);
        let mss_clamp = get(fd, libc::TCP_MAXSEG, "TCP_MAXSEG")?;
        let timestamp = if opt_mask & TCPI_OPT_TIMESTAMPS != 0 {
            Some(get(fd, TCP_TIMESTAMP, "TCP_TIMESTAMP")?)
        } else {
            None
        };
        let window = sys::getsockopt_bytes(fd, libc::IPPROTO_TCP, TCP_REPAIR_WINDOW, 20)
            .ok()
            .filter(|w| w.len() == 20);
        let word = |at: usize| window.as_ref().map(|w| super::diag::u32_at(w, at));
        let queue = |q: i32, len: u32| -> Result<Vec<u8>, String> {
            set(fd, TCP_REPAIR_QUEUE, q, "TCP_REPAIR_QUEUE")?;
            let mut buf = vec![0u8; len as usize];
            if len == 0 {
                return Ok(buf);
            }
            let r = sys::recvmsg(fd, &mut buf, libc::MSG_PEEK | libc::MSG_DONTWAIT)
                .map_err(|e| format!("peeking at its queue: {e}"))?;
            if r.len != len as usize {
                return Err(format!("{} of {len} queued bytes could be read", r.len));
            }
            Ok(buf)
        };
        let inq = queue(RECV_QUEUE, inq_len)?;
        let outq = queue(SEND_QUEUE, outq_len)?;
        let wscale_on = opt_mask & TCPI_OPT_WSCALE != 0;
        let entry = TcpStreamEntry {
            inq_len,
            inq_seq,
            outq_len,
            outq_seq,
            opt_mask,
            snd_wscale: if wscale_on {
                u32::from(wscale & 0xf)
            } else {
                0
            },
            mss_clamp,
            rcv_wscale: wscale_on.then_some(u32::from(wscale >> 4)),
            timestamp,
            unsq_len: Some(unsq_len),
            snd_wl1: word(0),
            snd_wnd: word(4),
            max_window: word(8),
            rcv_wnd: word(12),
            rcv_wup: word(16),
            ..Default::default()
        };
        Ok((entry, inq, outq))
    };
    read().map_err(err)
}

/// Makes `sock` (new, not bound) the connection of `e` again from its
/// stream image; it stays in repair mode until [`release`].
pub fn restore(
    sock: &OwnedFd,
    e: &InetSkEntry,
    s: &TcpStreamEntry,
    inq: &[u8],
    outq: &[u8],
) -> Result<(), String> {
    let fd = sock.as_raw_fd();
    if e.state != super::unix::TCP_ESTABLISHED {
        return Err(format!("a TCP connection in state {}", e.state));
    }
    set(fd, TCP_REPAIR, 1, "TCP_REPAIR")?;
    // Room for both queues, whatever the dumped buffer sizes (set back
    // with the other options afterwards).
    let _ = sys::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, i32::MAX / 2);
    let _ = sys::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, i32::MAX / 2);
    let src = super::inet::make_addr(e.family, &e.src_addr, e.src_port);
    sys::bind(fd, &src).map_err(|err| format!("bind to port {}: {err}", e.src_port))?;
    set(fd, TCP_REPAIR_QUEUE, RECV_QUEUE, "TCP_REPAIR_QUEUE")?;
    set(
        fd,
        TCP_QUEUE_SEQ,
        s.inq_seq.wrapping_sub(s.inq_len) as i32,
        "TCP_QUEUE_SEQ",
    )?;
    set(fd, TCP_REPAIR_QUEUE, SEND_QUEUE, "TCP_REPAIR_QUEUE")?;
    set(
        fd,
        TCP_QUEUE_SEQ,
        s.outq_seq.wrapping_sub(s.outq_len) as i32,
        "TCP_QUEUE_SEQ",
    )?;
    let dst = super::inet::make_addr(e.family, &e.dst_addr, e.dst_port);
    // In repair mode connect() sends nothing: the socket is established.
    sys::connect(fd, &dst).map_err(|err| format!("connect to port {}: {err}", e.dst_port))?;
    let mut opts: Vec<(u32, u32)> = vec![(TCPOPT_MAXSEG, s.mss_clamp)];
    if s.opt_mask & TCPI_OPT_WSCALE != 0 {
        opts.push((
            TCPOPT_WINDOW,
            s.snd_wscale | (s.rcv_wscale.unwrap_or(0) << 16),
        ));
    }
    if s.opt_mask & TCPI_OPT_SACK != 0 {
        opts.push((TCPOPT_SACK_PERM, 0));
    }
    if s.opt_mask & TCPI_OPT_TIMESTAMPS != 0 {
        opts.push((TCPOPT_TIMESTAMP, 0));
    }
    let bytes: Vec<u8> = opts
        .iter()
        .flat_map(|&(code, val)| code.to_ne_bytes().into_iter().chain(val.to_ne_bytes()))
        .collect();
    sys::setsockopt_bytes(fd, libc::IPPROTO_TCP, TCP_REPAIR_OPTIONS, &bytes)
        .map_err(|err| format!("TCP_REPAIR_OPTIONS: {err}"))?;
    if let Some(ts) = s.timestamp {
        set(fd, TCP_TIMESTAMP, ts as i32, "TCP_TIMESTAMP")?;
    }
    // In repair mode, what is sent goes into the chosen queue: the
    // receive queue as if it had arrived, the send queue as if sent and
    // not yet acknowledged (the retransmit timer sends it again).
    for (q, data) in [(RECV_QUEUE, inq), (SEND_QUEUE, outq)] {
        set(fd, TCP_REPAIR_QUEUE, q, "TCP_REPAIR_QUEUE")?;
        for chunk in data.chunks(64 * 1024) {
            let mut at = 0;
            while at < chunk.len() {
                at += sys::sendmsg(fd, &chunk[at..], &[], &[], None)
                    .map_err(|err| format!("refilling queue {q}: {err}"))?;
            }
        }
    }
    if let (Some(snd_wl1), Some(snd_wnd), Some(max_window), Some(rcv_wnd), Some(rcv_wup)) =
        (s.snd_wl1, s.snd_wnd, s.max_window, s.rcv_wnd, s.rcv_wup)
    {
        let w: Vec<u8> = [snd_wl1, snd_wnd, max_window, rcv_wnd, rcv_wup]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        sys::setsockopt_bytes(fd, libc::IPPROTO_TCP, TCP_REPAIR_WINDOW, &w)
            .map_err(|err| format!("TCP_REPAIR_WINDOW: {err}"))?;
    }
    set(fd, TCP_REPAIR_QUEUE, 0, "TCP_REPAIR_QUEUE")
}

/// Takes a restored connection out of repair mode: it sends a window
/// probe, so its peer must exist by now (a probe to no socket draws a
/// RST that kills the connection).
pub fn release(fd: RawFd) -> Result<(), String> {
    set(fd, TCP_REPAIR, 0, "TCP_REPAIR")
}
