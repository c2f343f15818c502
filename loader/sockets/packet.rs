//! Packet sockets (AF_PACKET): type, protocol, the bound interface, the
//! PACKET_* options, memberships and fanout, from sock_diag's packet
//! family (`linux/packet_diag.h`). As CRIU, frames still queued are not
//! kept (a network drops them as well). Rings are set up again with their
//! geometry; a mapping of one is refused by name at dump (its frames
//! would have to be copied).

use std::os::fd::{AsRawFd, OwnedFd};

use crate::dump::DumpError;
use crate::images::schema::{FownEntry, PacketMclist, PacketRing, PacketSockEntry};
use crate::sys;

use super::diag::u32_at as word;

const SOL_PACKET: i32 = 263;
const PACKET_ADD_MEMBERSHIP: i32 = 1;
const PACKET_RX_RING: i32 = 5;
const PACKET_COPY_THRESH: i32 = 7;
const PACKET_TX_RING: i32 = 13;
const PACKET_AUXDATA: i32 = 8;
const PACKET_ORIGDEV: i32 = 9;
const PACKET_VERSION: i32 = 10;
const PACKET_RESERVE: i32 = 12;
const PACKET_LOSS: i32 = 14;
const PACKET_VNET_HDR: i32 = 15;
const PACKET_TIMESTAMP: i32 = 17;
const PACKET_FANOUT: i32 = 18;

const PDI_AUXDATA: u32 = 0x2;
const PDI_ORIGDEV: u32 = 0x4;
const PDI_VNETHDR: u32 = 0x8;
const PDI_LOSS: u32 = 0x10;
const NO_FANOUT: u32 = 0xffff_ffff;
/// The obsolete `SOCK_PACKET` type (bound by interface name).
const SOCK_PACKET: u32 = 10;

/// What packet diag says about one socket.
#[derive(Default)]
struct Diag {
    /// index, version, reserve, copy_thresh, tstamp, flags
    info: [u32; 6],
    mclist: Vec<PacketMclist>,
    rx_ring: Option<PacketRing>,
    tx_ring: Option<PacketRing>,
    fanout: Option<u32>,
    /// The protocol as socket() takes it (network order); SO_PROTOCOL
    /// says 0 for packet sockets.
    protocol: u32,
}

/// sock_diag of the packet family for socket `ino`.
fn diag(ino: u32) -> std::io::Result<Option<Diag>> {
    // struct packet_diag_req: family, protocol, pad, ino, show, cookie.
    let mut req = vec![libc::AF_PACKET as u8, 0, 0, 0];
    req.extend_from_slice(&ino.to_ne_bytes());
    // INFO | MCLIST | RING_CFG | FANOUT
    req.extend_from_slice(&0xfu32.to_ne_bytes());
    req.extend_from_slice(&[0xff; 8]);
    for msg in sys::sock_diag(&req)? {
        // struct packet_diag_msg: family, type, num, ino, cookie[2].
        if msg.len() < 16 || word(&msg, 4) != ino {
            continue;
        }
        let mut d = Diag {
            protocol: u32::from(u16::from_ne_bytes([msg[2], msg[3]]).to_be()),
            ..Default::default()
        };
        for (kind, val) in super::diag::attrs(&msg, 16) {
            match kind {
                0 => {
                    for (i, v) in d.info.iter_mut().enumerate() {
                        *v = word(val, i * 4);
                    }
                }
                1 => {
                    for m in val.chunks_exact(44) {
                        let alen = u16::from_ne_bytes([m[10], m[11]]) as usize;
                        if word(m, 4) != 1 {
                            // A membership taken more than once.
                            return Err(std::io::Error::from_raw_os_error(libc::EMLINK));
                        }
                        d.mclist.push(PacketMclist {
                            index: word(m, 0),
                            r#type: u32::from(u16::from_ne_bytes([m[8], m[9]])),
                            addr: m[12..12 + alen.min(32)].to_vec(),
                        });
                    }
                }
                2 | 3 => {
                    let r = PacketRing {
                        block_size: word(val, 0),
                        block_nr: word(val, 4),
                        frame_size: word(val, 8),
                        frame_nr: word(val, 12),
                        retire_tmo: word(val, 16),
                        sizeof_priv: word(val, 20),
                        features: word(val, 24),
                    };
                    if kind == 2 {
                        d.rx_ring = Some(r);
                    } else {
                        d.tx_ring = Some(r);
                    }
                }
                4 => d.fanout = Some(word(val, 0)),
                _ => {}
            }
        }
        return Ok(Some(d));
    }
    Ok(None)
}

pub(crate) fn dump(
    dumped: &super::Dumped,
    pid: i32,
    what: &str,
    sock: &OwnedFd,
    ino: u32,
    id: u32,
    flags: u32,
) -> Result<PacketSockEntry, DumpError> {
    let fd = sock.as_raw_fd();
    let refuse = |why: String| DumpError::refused(pid, format!("{what}: {why}"));
    let sys_err = |call: &str, e| DumpError::sys(pid, format!("{what}: {call}"), e);
    let d = match dumped.in_netns(|| diag(ino)) {
        Ok(Some(d)) => d,
        Ok(None) => return Err(refuse("a packet socket sock_diag does not report".into())),
        Err(e) if e.raw_os_error() == Some(libc::EMLINK) => {
            return Err(refuse(
                "a packet socket holding one membership twice".into(),
            ))
        }
        Err(e) => return Err(sys_err("sock_diag of packet sockets", e)),
    };
    let kind = sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TYPE)
        .map_err(|e| sys_err("SO_TYPE", e))? as u32;
    let opts =
        super::opts::dump(fd).map_err(|e| DumpError::sys(pid, format!("{what}: options"), e))?;
    let [index, version, reserve, copy_thresh, tstamp, pflags] = d.info;
    Ok(PacketSockEntry {
        id,
        r#type: kind,
        protocol: d.protocol,
        flags,
        ifindex: index,
        fown: FownEntry::default(),
        opts,
        version,
        reserve,
        aux_data: pflags & PDI_AUXDATA != 0,
        orig_dev: pflags & PDI_ORIGDEV != 0,
        vnet_hdr: pflags & PDI_VNETHDR != 0,
        loss: pflags & PDI_LOSS != 0,
        timestamp: tstamp,
        copy_thresh,
        mclist: d.mclist,
        fanout: d.fanout,
        rx_ring: d.rx_ring,
        tx_ring: d.tx_ring,
        ns_id: None,
    })
}

/// The socket of `e`, bound to its interface, with its options,
/// memberships and fanout group.
pub fn create(e: &PacketSockEntry) -> Result<OwnedFd, String> {
    let sock = sys::socket(libc::AF_PACKET, e.r#type as i32, e.protocol as i32)
        .map_err(|err| format!("socket: {err}"))?;
    let fd = sock.as_raw_fd();
    if e.ifindex != 0 {
        let addr = if e.r#type == SOCK_PACKET {
            // A plain struct sockaddr: family, then the device name in
            // sa_data (14 bytes); the kernel wants exactly that length.
            let name =
                sys::if_name(e.ifindex).map_err(|err| format!("interface {}: {err}", e.ifindex))?;
            let mut a = (libc::AF_PACKET as u16).to_ne_bytes().to_vec();
            let mut dev = [0u8; 14];
            let n = name.len().min(13);
            dev[..n].copy_from_slice(&name.as_bytes()[..n]);
            a.extend_from_slice(&dev);
            a
        } else {
            // struct sockaddr_ll: family, protocol, ifindex, then zeros.
            let mut a = (libc::AF_PACKET as u16).to_ne_bytes().to_vec();
            a.extend_from_slice(&(e.protocol as u16).to_ne_bytes());
            a.extend_from_slice(&(e.ifindex as i32).to_ne_bytes());
            a.resize(20, 0);
            a
        };
        sys::bind(fd, &addr).map_err(|err| format!("bind to interface {}: {err}", e.ifindex))?;
    }
    let set = |name: i32, v: u32, what: &str| {
        sys::setsockopt_int(fd, SOL_PACKET, name, v as i32).map_err(|err| format!("{what}: {err}"))
    };
    if e.r#type != SOCK_PACKET {
        set(PACKET_VERSION, e.version, "PACKET_VERSION")?;
        if e.reserve != 0 {
            set(PACKET_RESERVE, e.reserve, "PACKET_RESERVE")?;
        }
        if e.timestamp != 0 {
            set(PACKET_TIMESTAMP, e.timestamp, "PACKET_TIMESTAMP")?;
        }
        if e.copy_thresh != 0 {
            set(PACKET_COPY_THRESH, e.copy_thresh, "PACKET_COPY_THRESH")?;
        }
        for (on, name, what) in [
            (e.aux_data, PACKET_AUXDATA, "PACKET_AUXDATA"),
            (e.orig_dev, PACKET_ORIGDEV, "PACKET_ORIGDEV"),
            (e.vnet_hdr, PACKET_VNET_HDR, "PACKET_VNET_HDR"),
            (e.loss, PACKET_LOSS, "PACKET_LOSS"),
        ] {
            if on {
                set(name, 1, what)?;
            }
        }
        for m in &e.mclist {
            // struct packet_mreq: ifindex, type, alen, address[8].
            let mut mreq = (m.index as i32).to_ne_bytes().to_vec();
            mreq.extend_from_slice(&(m.r#type as u16).to_ne_bytes());
            mreq.extend_from_slice(&(m.addr.len() as u16).to_ne_bytes());
            let mut addr = [0u8; 8];
            let n = m.addr.len().min(8);
            addr[..n].copy_from_slice(&m.addr[..n]);
            mreq.extend_from_slice(&addr);
            sys::setsockopt_bytes(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq)
                .map_err(|err| format!("PACKET_ADD_MEMBERSHIP on {}: {err}", m.index))?;
        }
        // Before the rings, as the socket is still running then.
        if let Some(f) = e.fanout.filter(|&f| f != NO_FANOUT) {
            set(PACKET_FANOUT, f, "PACKET_FANOUT")?;
        }
        for (ring, name, what) in [
            (&e.rx_ring, PACKET_RX_RING, "PACKET_RX_RING"),
            (&e.tx_ring, PACKET_TX_RING, "PACKET_TX_RING"),
        ] {
            let Some(r) = ring else { continue };
            // struct tpacket_req3 (the kernel reads the first four words
            // of it for TPACKET_V1 and V2).
            let req: Vec<u8> = [
                r.block_size,
                r.block_nr,
                r.frame_size,
                r.frame_nr,
                r.retire_tmo,
                r.sizeof_priv,
                r.features,
            ]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
            sys::setsockopt_bytes(fd, SOL_PACKET, name, &req)
                .map_err(|err| format!("{what}: {err}"))?;
        }
    }
    super::opts::restore(fd, &e.opts)?;
    sys::set_status_flags(fd, e.flags as i32 & libc::O_NONBLOCK)
        .map_err(|err| format!("flags: {err}"))?;
    Ok(sock)
}
