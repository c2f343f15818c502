//! Receive queues of unix sockets (`sk-queues.img`): peeked at dump
//! without consuming them, packet by packet with their boundaries and the
//! descriptors in flight; sent again at restore by the socket that feeds
//! the queue.

use std::os::fd::{OwnedFd, RawFd};

use crate::sys;

/// One queued packet (on a stream socket: a run of bytes) and the
/// descriptors passed with it (SCM_RIGHTS), now crest's.
pub struct Packet {
    pub data: Vec<u8>,
    pub fds: Vec<OwnedFd>,
}

/// Every packet in the receive queue of `sock`, read with MSG_PEEK from
/// an advancing peek offset, which is put back as it was afterwards.
/// `max` bounds one packet: the sender's buffer (CRIU uses SO_SNDBUF).
pub fn peek(sock: RawFd) -> Result<Vec<Packet>, String> {
    let old = sys::getsockopt_int(sock, libc::SOL_SOCKET, libc::SO_PEEK_OFF)
        .map_err(|e| format!("SO_PEEK_OFF: {e}"))?;
    sys::setsockopt_int(sock, libc::SOL_SOCKET, libc::SO_PEEK_OFF, 0)
        .map_err(|e| format!("SO_PEEK_OFF: {e}"))?;
    let got = peek_all(sock);
    let back = sys::setsockopt_int(sock, libc::SOL_SOCKET, libc::SO_PEEK_OFF, old)
        .map_err(|e| format!("putting SO_PEEK_OFF back to {old}: {e}"));
    let packets = got?;
    back?;
    Ok(packets)
}

fn peek_all(sock: RawFd) -> Result<Vec<Packet>, String> {
    let sndbuf = sys::getsockopt_int(sock, libc::SOL_SOCKET, libc::SO_SNDBUF).unwrap_or(0);
    let rcvbuf = sys::getsockopt_int(sock, libc::SOL_SOCKET, libc::SO_RCVBUF).unwrap_or(0);
    // A datagram can be as long as its sender's buffer, which need not be
    // this socket's: take the larger of both, and at least 4 MiB.
    let size = (sndbuf.max(rcvbuf).max(0) as usize).max(4 << 20);
    let mut buf = vec![0u8; size];
    let mut out = Vec::new();
    loop {
        let r = match sys::recvmsg(sock, &mut buf, libc::MSG_PEEK | libc::MSG_DONTWAIT) {
            Ok(r) => r,
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => break,
            Err(e) => return Err(format!("peeking at the queue: {e}")),
        };
        if r.len == 0 && r.fds.is_empty() {
            break;
        }
        if r.truncated {
            return Err(format!("a queued packet is longer than {size} bytes"));
        }
        if r.creds.is_some() {
            // The sender's pid, uid and gid: CRIU's scm_entry has no room
            // for them, and a packet sent again would carry crest's.
            return Err(
                "a queued packet carries its sender's credentials (SO_PASSCRED is on), which CRIU's images cannot hold"
                    .into(),
            );
        }
        if r.other_control {
            return Err("a queued packet carries control data other than descriptors".into());
        }
        out.push(Packet {
            data: buf[..r.len].to_vec(),
            fds: r.fds,
        });
    }
    Ok(out)
}

/// Packets to send again: the bytes and the descriptors passed with them.
pub type Outgoing<'a> = Vec<(&'a [u8], Vec<RawFd>)>;

/// Sends `packets` from `sender` (connected to the queue's socket, or
/// addressing it as `to`), with their descriptors.
pub fn refill(sender: RawFd, to: &[u8], packets: &Outgoing<'_>) -> Result<(), String> {
    // Room for the whole queue, whatever the buffers were.
    let _ = sys::setsockopt_int(sender, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, i32::MAX / 2);
    for (i, (data, fds)) in packets.iter().enumerate() {
        let mut at = 0;
        loop {
            let fds = if at == 0 { &fds[..] } else { &[] };
            let n = sys::sendmsg(sender, &data[at..], to, fds, None)
                .map_err(|e| format!("packet {i} of {}: {e}", packets.len()))?;
            at += n;
            if at >= data.len() {
                break;
            }
        }
    }
    Ok(())
}
