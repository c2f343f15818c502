//! The generic socket options CRIU records in `sk_opts_entry`: read from
//! a socket at dump, set on the new one at restore. A non-default option
//! crest cannot set back is an error, never silently dropped.

use std::os::fd::RawFd;

use crate::images::schema::SkOptsEntry;
use crate::sys;

const SOL: i32 = libc::SOL_SOCKET;

fn timeval(fd: RawFd, name: i32) -> std::io::Result<(u64, u64)> {
    let b = sys::getsockopt_bytes(fd, SOL, name, 16)?;
    let word = |at: usize| {
        b.get(at..at + 8)
            .map_or(0, |w| u64::from_ne_bytes(w.try_into().unwrap_or([0; 8])))
    };
    Ok((word(0), word(8)))
}

/// A boolean option: `None` when off, or when the family has no such
/// option (SO_PASSCRED outside unix and netlink sockets).
fn flag(fd: RawFd, name: i32) -> std::io::Result<Option<bool>> {
    match sys::getsockopt_int(fd, SOL, name) {
        Ok(0) => Ok(None),
        Ok(_) => Ok(Some(true)),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::ENOPROTOOPT)) => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Reads the options of socket `fd` (a descriptor of crest's).
pub fn dump(fd: RawFd) -> std::io::Result<SkOptsEntry> {
    let int = |name| sys::getsockopt_int(fd, SOL, name);
    let (snd_sec, snd_usec) = timeval(fd, libc::SO_SNDTIMEO)?;
    let (rcv_sec, rcv_usec) = timeval(fd, libc::SO_RCVTIMEO)?;
    let nonzero = |v: i32| (v != 0).then_some(v as u32);
    let filter = sys::get_filter(fd)?.into_iter().map(encode_insn).collect();
    let dev = sys::getsockopt_bytes(fd, SOL, libc::SO_BINDTODEVICE, libc::IFNAMSIZ)
        .ok()
        .map(|b| {
            let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
            String::from_utf8_lossy(&b[..end]).into_owned()
        })
        .filter(|s| !s.is_empty());
    let linger = sys::getsockopt_bytes(fd, SOL, libc::SO_LINGER, 8)?;
    let word = |b: &[u8], at: usize| {
        b.get(at..at + 4)
            .map_or(0, |w| i32::from_ne_bytes(w.try_into().unwrap_or([0; 4])))
    };
    let lock = sys::getsockopt_int(fd, SOL, libc::SO_BUF_LOCK).unwrap_or(0);
    Ok(SkOptsEntry {
        // The kernel reports the doubled value it keeps; setting half of
        // it back gives the same buffer.
        so_sndbuf: int(libc::SO_SNDBUF)? as u32,
        so_rcvbuf: int(libc::SO_RCVBUF)? as u32,
        so_snd_tmo_sec: snd_sec,
        so_snd_tmo_usec: snd_usec,
        so_rcv_tmo_sec: rcv_sec,
        so_rcv_tmo_usec: rcv_usec,
        reuseaddr: flag(fd, libc::SO_REUSEADDR)?,
        so_priority: nonzero(int(libc::SO_PRIORITY)?),
        so_rcvlowat: nonzero(int(libc::SO_RCVLOWAT)?).filter(|&v| v != 1),
        so_mark: nonzero(int(libc::SO_MARK)?),
        so_passcred: flag(fd, libc::SO_PASSCRED)?,
        so_passsec: flag(fd, libc::SO_PASSSEC)?,
        so_dontroute: flag(fd, libc::SO_DONTROUTE)?,
        so_no_check: flag(fd, libc::SO_NO_CHECK)?,
        so_bound_dev: dev,
        so_filter: filter,
        so_reuseport: flag(fd, libc::SO_REUSEPORT)?,
        so_broadcast: flag(fd, libc::SO_BROADCAST)?,
        so_keepalive: flag(fd, libc::SO_KEEPALIVE)?,
        so_oobinline: nonzero(int(libc::SO_OOBINLINE)?),
        so_linger: (word(&linger, 0) != 0).then_some(word(&linger, 4) as u32),
        // Setting a buffer size locks it: the lock is always recorded,
        // and set back even when it is 0.
        so_buf_lock: Some(lock as u32),
        ..Default::default()
    })
}

/// Sets the recorded options on socket `fd`; names the one that fails.
pub fn restore(fd: RawFd, o: &SkOptsEntry) -> Result<(), String> {
    let set = |name: i32, what: &str, v: i32| {
        sys::setsockopt_int(fd, SOL, name, v).map_err(|e| format!("{what}: {e}"))
    };
    // SO_*BUFFORCE ignores the sysctl limits (root); the kernel doubles
    // what it is given, and the image holds the doubled value.
    let buf = |force: i32, plain: i32, what: &str, v: u32| {
        let half = (v / 2) as i32;
        sys::setsockopt_int(fd, SOL, force, half)
            .or_else(|_| sys::setsockopt_int(fd, SOL, plain, half))
            .map_err(|e| format!("{what}: {e}"))
    };
    buf(
        libc::SO_SNDBUFFORCE,
        libc::SO_SNDBUF,
        "SO_SNDBUF",
        o.so_sndbuf,
    )?;
    buf(
        libc::SO_RCVBUFFORCE,
        libc::SO_RCVBUF,
        "SO_RCVBUF",
        o.so_rcvbuf,
    )?;
    let tv = |name: i32, what: &str, sec: u64, usec: u64| {
        let mut b = sec.to_ne_bytes().to_vec();
        b.extend_from_slice(&usec.to_ne_bytes());
        sys::setsockopt_bytes(fd, SOL, name, &b).map_err(|e| format!("{what}: {e}"))
    };
    if o.so_snd_tmo_sec != 0 || o.so_snd_tmo_usec != 0 {
        tv(
            libc::SO_SNDTIMEO,
            "SO_SNDTIMEO",
            o.so_snd_tmo_sec,
            o.so_snd_tmo_usec,
        )?;
    }
    if o.so_rcv_tmo_sec != 0 || o.so_rcv_tmo_usec != 0 {
        tv(
            libc::SO_RCVTIMEO,
            "SO_RCVTIMEO",
            o.so_rcv_tmo_sec,
            o.so_rcv_tmo_usec,
        )?;
    }
    let flags = [
        (o.reuseaddr, libc::SO_REUSEADDR, "SO_REUSEADDR"),
        (o.so_passcred, libc::SO_PASSCRED, "SO_PASSCRED"),
        (o.so_passsec, libc::SO_PASSSEC, "SO_PASSSEC"),
        (o.so_dontroute, libc::SO_DONTROUTE, "SO_DONTROUTE"),
        (o.so_no_check, libc::SO_NO_CHECK, "SO_NO_CHECK"),
        (o.so_reuseport, libc::SO_REUSEPORT, "SO_REUSEPORT"),
        (o.so_broadcast, libc::SO_BROADCAST, "SO_BROADCAST"),
        (o.so_keepalive, libc::SO_KEEPALIVE, "SO_KEEPALIVE"),
    ];
    for (v, name, what) in flags {
        if v == Some(true) {
            set(name, what, 1)?;
        }
    }
    let values = [
        (o.so_priority, libc::SO_PRIORITY, "SO_PRIORITY"),
        (o.so_rcvlowat, libc::SO_RCVLOWAT, "SO_RCVLOWAT"),
        (o.so_mark, libc::SO_MARK, "SO_MARK"),
        (o.so_oobinline, libc::SO_OOBINLINE, "SO_OOBINLINE"),
    ];
    for (v, name, what) in values {
        if let Some(v) = v.filter(|&v| v != 0) {
            set(name, what, v as i32)?;
        }
    }
    if let Some(secs) = o.so_linger {
        let mut b = 1i32.to_ne_bytes().to_vec();
        b.extend_from_slice(&(secs as i32).to_ne_bytes());
        sys::setsockopt_bytes(fd, SOL, libc::SO_LINGER, &b)
            .map_err(|e| format!("SO_LINGER: {e}"))?;
    }
    if let Some(dev) = o.so_bound_dev.as_deref().filter(|d| !d.is_empty()) {
        sys::setsockopt_bytes(fd, SOL, libc::SO_BINDTODEVICE, dev.as_bytes())
            .map_err(|e| format!("SO_BINDTODEVICE {dev}: {e}"))?;
    }
    if !o.so_filter.is_empty() {
        let insns: Vec<u64> = o.so_filter.iter().map(|&w| decode_insn(w)).collect();
        sys::attach_filter(fd, &insns).map_err(|e| format!("SO_ATTACH_FILTER: {e}"))?;
    }
    // Last: a locked buffer size must have been set first.
    if let Some(lock) = o.so_buf_lock {
        set(libc::SO_BUF_LOCK, "SO_BUF_LOCK", lock as i32)?;
    }
    Ok(())
}

/// A `struct sock_filter` as it sits in memory (code, jt, jf, k) to the
/// image's word: `code << 48 | jt << 40 | jf << 32 | k`, as CRIU packs it.
fn encode_insn(raw: u64) -> u64 {
    let b = raw.to_ne_bytes();
    let code = u64::from(u16::from_ne_bytes([b[0], b[1]]));
    let k = u64::from(u32::from_ne_bytes([b[4], b[5], b[6], b[7]]));
    code << 48 | u64::from(b[2]) << 40 | u64::from(b[3]) << 32 | k
}

/// The inverse of [`encode_insn`].
fn decode_insn(w: u64) -> u64 {
    let mut b = [0u8; 8];
    b[..2].copy_from_slice(&((w >> 48) as u16).to_ne_bytes());
    b[2] = (w >> 40) as u8;
    b[3] = (w >> 32) as u8;
    b[4..].copy_from_slice(&(w as u32).to_ne_bytes());
    u64::from_ne_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_words_as_criu_packs_them() {
        // BPF_RET|BPF_K (0x06), jt 1, jf 2, k 0xffff
        let mut raw = [0u8; 8];
        raw[..2].copy_from_slice(&0x06u16.to_ne_bytes());
        raw[2] = 1;
        raw[3] = 2;
        raw[4..].copy_from_slice(&0xffffu32.to_ne_bytes());
        let raw = u64::from_ne_bytes(raw);
        assert_eq!(encode_insn(raw), 0x0006_0102_0000_ffff);
        assert_eq!(decode_insn(encode_insn(raw)), raw);
    }
}
