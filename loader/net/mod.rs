//! A tree's own network namespace, as CRIU keeps it: its links
//! (`netdev-<id>.img`: loopback, veth and bridge), the raw rtnetlink
//! dumps of its addresses and routes (`ifaddr-`, `route-`, `route6-<id>`,
//! iproute2's save format: a magic, then the kernel's messages), and its
//! sysctls (`netns-<id>.img`). crest reads and rebuilds them through
//! rtnetlink itself; it runs no `ip`.
//!
//! Filter rules (iptables, nftables) and policy routing rules are not
//! dumped: a namespace holding any is refused by name, and so is an
//! image set carrying them (CRIU's own lock rules aside).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::dump::DumpError;
use crate::images::schema::{NdType, NetDeviceEntry, NetnsEntry};
use crate::sys;

pub mod restore;
pub(crate) mod rtnl;
mod sysctl;

use crate::sockets::diag::u32_at;
pub(crate) use restore::NetImages;
pub use restore::Veth;
use rtnl::Rtnl;

/// iproute2's magics of `ip addr save` and `ip route save`.
pub(crate) const IFADDR_MAGIC: u32 = 0x4736_1222;
pub(crate) const ROUTE_MAGIC: u32 = 0x4531_1224;

const ARPHRD_LOOPBACK: u16 = 772;
const RT_TABLE_MAIN: u8 = 254;
const RTM_F_CLONED: u32 = 0x200;

/// Runs `f` in the network namespace `ns` (a /proc/PID/ns/net path or
/// descriptor) and comes back to crest's own, whatever `f` returns.
pub(crate) fn inside<T>(ns: &File, f: impl FnOnce() -> T) -> std::io::Result<T> {
    let own = File::open("/proc/self/ns/net")?;
    sys::ipc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET)?;
    let out = f();
    sys::ipc::setns(own.as_raw_fd(), libc::CLONE_NEWNET)?;
    Ok(out)
}

/// The network namespace of `pid`, dumped.
pub(crate) struct NetDump {
    pub(crate) id: u32,
    pub(crate) devices: Vec<NetDeviceEntry>,
    pub(crate) ifaddr: Vec<u8>,
    pub(crate) route: Vec<u8>,
    pub(crate) route6: Option<Vec<u8>>,
    pub(crate) netns: NetnsEntry,
}

impl NetDump {
    /// Its image files: name and contents.
    pub(crate) fn images(&self) -> Vec<(String, Vec<u8>)> {
        use crate::images::file::{NETDEV, NETNS};
        let raw = |pattern: &str| pattern.replace("%u", &self.id.to_string());
        let mut out = vec![
            (NETDEV.name(self.id), NETDEV.encode(&self.devices)),
            (raw("ifaddr-%u.img"), self.ifaddr.clone()),
            (raw("route-%u.img"), self.route.clone()),
        ];
        if let Some(r6) = &self.route6 {
            out.push((raw("route6-%u.img"), r6.clone()));
        }
        out.push((NETNS.name(self.id), NETNS.encode([&self.netns])));
        out
    }
}

/// Dumps the network namespace of `pid` (its CRIU id `id`), from inside
/// it. What crest cannot restore is refused by name.
pub(crate) fn dump(pid: i32, id: u32) -> Result<NetDump, DumpError> {
    let at = format!("/proc/{pid}/ns/net");
    let ns = File::open(&at).map_err(|e| DumpError::file(&at, e))?;
    inside(&ns, || dump_inside(pid, id))
        .map_err(|e| DumpError::sys(pid, "entering its network namespace", e))?
}

fn dump_inside(pid: i32, id: u32) -> Result<NetDump, DumpError> {
    let fail = |what: &str, e: std::io::Error| {
        DumpError::sys(pid, format!("its network namespace: {what}"), e)
    };
    let refuse = |why: String| DumpError::refused(pid, format!("its network namespace {why}"));
    refuse_filters(&refuse)?;
    let mut nl = Rtnl::open().map_err(|e| fail("rtnetlink socket", e))?;
    let links = nl
        .dump(rtnl::RTM_GETLINK, &rtnl::ifinfomsg(0, 0, 0, 0))
        .map_err(|e| fail("links", e))?;
    let mut devices = Vec::new();
    for m in &links {
        devices.push(device(&m[rtnl::NLMSG_HDR..], id, &refuse)?);
    }
    refuse_rules(&mut nl, &refuse, &fail)?;
    let mut addr_req = vec![0u8; rtnl::IFADDRMSG];
    addr_req[0] = libc::AF_UNSPEC as u8;
    let addrs = nl
        .dump(rtnl::RTM_GETADDR, &addr_req)
        .map_err(|e| fail("addresses", e))?;
    let routes = |nl: &mut Rtnl, family: i32| -> Result<Vec<u8>, DumpError> {
        let mut req = vec![0u8; rtnl::RTMSG];
        req[0] = family as u8;
        let all = nl
            .dump(rtnl::RTM_GETROUTE, &req)
            .map_err(|e| fail("routes", e))?;
        Ok(save(ROUTE_MAGIC, all.iter().filter(|m| main_table(m))))
    };
    let route = routes(&mut nl, libc::AF_INET)?;
    let ipv6 = Path::new("/proc/sys/net/ipv6").exists();
    let route6 = if ipv6 {
        Some(routes(&mut nl, libc::AF_INET6)?)
    } else {
        None
    };
    for d in &mut devices {
        d.conf4 = sysctl::read_conf("ipv4", &d.name);
        if ipv6 {
            d.conf6 = sysctl::read_conf("ipv6", &d.name);
        }
    }
    let conf = |family: &str, which: &str| match (family, ipv6) {
        ("ipv6", false) => Vec::new(),
        _ => sysctl::read_conf(family, which),
    };
    let netns = NetnsEntry {
        def_conf4: conf("ipv4", "default"),
        all_conf4: conf("ipv4", "all"),
        def_conf6: conf("ipv6", "default"),
        all_conf6: conf("ipv6", "all"),
        unix_conf: vec![sysctl::read_one("/proc/sys/net/unix/max_dgram_qlen", false)],
        ipv4_sysctl: vec![sysctl::read_one(
            "/proc/sys/net/ipv4/ping_group_range",
            true,
        )],
        ..Default::default()
    };
    Ok(NetDump {
        id,
        devices,
        ifaddr: save(IFADDR_MAGIC, addrs.iter()),
        route,
        route6,
        netns,
    })
}

/// iproute2's save format: the magic, then the messages as they came.
fn save<'a>(magic: u32, msgs: impl Iterator<Item = &'a Vec<u8>>) -> Vec<u8> {
    let mut out = magic.to_ne_bytes().to_vec();
    for m in msgs {
        out.extend_from_slice(m);
        out.resize(out.len().next_multiple_of(4), 0);
    }
    out
}

/// A route of the main table, not a cached clone (what `ip route save`
/// keeps).
fn main_table(m: &[u8]) -> bool {
    let Some(body) = m.get(rtnl::NLMSG_HDR..) else {
        return false;
    };
    if body.len() < rtnl::RTMSG {
        return false;
    }
    let attrs = rtnl::attrs(body, rtnl::RTMSG);
    let table = rtnl::find(&attrs, rtnl::RTA_TABLE)
        .and_then(rtnl::u32_of)
        .unwrap_or(u32::from(body[4]));
    let flags = u32_at(body, 8);
    table == u32::from(RT_TABLE_MAIN) && flags & RTM_F_CLONED == 0
}

/// One link (an RTM_NEWLINK body) as a NetDeviceEntry.
fn device(
    body: &[u8],
    id: u32,
    refuse: &dyn Fn(String) -> DumpError,
) -> Result<NetDeviceEntry, DumpError> {
    if body.len() < rtnl::IFINFOMSG {
        return Err(refuse("has a link message crest cannot read".into()));
    }
    let kind_hw = u16::from_ne_bytes([body[2], body[3]]);
    let index = u32_at(body, 4);
    let flags = u32_at(body, 8);
    let attrs = rtnl::attrs(body, rtnl::IFINFOMSG);
    let name = rtnl::find(&attrs, rtnl::IFLA_IFNAME)
        .map(rtnl::str_of)
        .unwrap_or_default();
    let kind = rtnl::find(&attrs, rtnl::IFLA_LINKINFO)
        .and_then(|li| rtnl::find(&rtnl::attrs(li, 0), rtnl::IFLA_INFO_KIND).map(rtnl::str_of))
        .unwrap_or_default();
    let nd = match (kind_hw, kind.as_str()) {
        (ARPHRD_LOOPBACK, _) => NdType::Loopback,
        (_, "veth") => NdType::Veth,
        (_, "bridge") => NdType::Bridge,
        (_, k) => {
            let k = if k.is_empty() { "a device" } else { k };
            return Err(refuse(format!(
                "has link {name} ({k}), which crest does not dump (loopback, veth and bridge \
                 links only)"
            )));
        }
    };
    let link = rtnl::find(&attrs, rtnl::IFLA_LINK).and_then(rtnl::u32_of);
    let elsewhere = rtnl::find(&attrs, rtnl::IFLA_LINK_NETNSID).is_some();
    Ok(NetDeviceEntry {
        r#type: nd as i32,
        ifindex: index,
        mtu: rtnl::find(&attrs, rtnl::IFLA_MTU)
            .and_then(rtnl::u32_of)
            .unwrap_or(0),
        flags,
        name,
        address: match nd {
            NdType::Loopback => None,
            _ => rtnl::find(&attrs, rtnl::IFLA_ADDRESS).map(<[u8]>::to_vec),
        },
        master: rtnl::find(&attrs, rtnl::IFLA_MASTER).and_then(rtnl::u32_of),
        // As CRIU: the peer's index (the link's own without one), and
        // the peer's namespace unless it is outside the dump.
        peer_ifindex: Some(link.unwrap_or(index)),
        peer_nsid: (!elsewhere).then_some(id),
        ..Default::default()
    })
}

/// Filter rules would be lost: iptables tables, nf_tables tables.
fn refuse_filters(refuse: &dyn Fn(String) -> DumpError) -> Result<(), DumpError> {
    for (file, what) in [
        ("/proc/net/ip_tables_names", "iptables"),
        ("/proc/net/ip6_tables_names", "ip6tables"),
    ] {
        let names = std::fs::read_to_string(file).unwrap_or_default();
        if !names.trim().is_empty() {
            return Err(refuse(format!(
                "has {what} tables ({}), which crest does not dump",
                names.split_whitespace().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    // NFT_MSG_GETTABLE of NFNL_SUBSYS_NFTABLES, all families.
    let nf = sys::socket(libc::AF_NETLINK, libc::SOCK_RAW, 12);
    if let Ok(nf) = nf {
        let mut msg = Vec::new();
        let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
        sys::nlmsg(&mut msg, (10 << 8) | 1, flags, 1, &[0, 0, 0, 0]);
        if let Ok(tables) = sys::nl_talk(nf.as_raw_fd(), &msg) {
            if !tables.is_empty() {
                return Err(refuse(format!(
                    "has {} nf_tables table(s), which crest does not dump",
                    tables.len()
                )));
            }
        }
    }
    Ok(())
}

/// The priority of routing rule message `m` (0 without one).
pub(crate) fn rule_priority(m: &[u8]) -> u32 {
    const FRA_PRIORITY: u16 = 6;
    let attrs = rtnl::attrs(m.get(rtnl::NLMSG_HDR..).unwrap_or(&[]), 12);
    rtnl::find(&attrs, FRA_PRIORITY)
        .and_then(rtnl::u32_of)
        .unwrap_or(0)
}

/// Policy routing rules beyond a new namespace's own would be lost.
fn refuse_rules(
    nl: &mut Rtnl,
    refuse: &dyn Fn(String) -> DumpError,
    fail: &dyn Fn(&str, std::io::Error) -> DumpError,
) -> Result<(), DumpError> {
    for (family, defaults) in [
        (libc::AF_INET, &[0u32, 32766, 32767][..]),
        (libc::AF_INET6, &[0, 32766][..]),
    ] {
        let mut req = vec![0u8; 12];
        req[0] = family as u8;
        let rules = match nl.dump(rtnl::RTM_GETRULE, &req) {
            Ok(r) => r,
            Err(e) if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => continue,
            Err(e) => return Err(fail("rules", e)),
        };
        let prios: Vec<u32> = rules.iter().map(|m| rule_priority(m)).collect();
        if prios.len() != defaults.len() || prios.iter().zip(defaults).any(|(a, b)| a != b) {
            return Err(refuse(format!(
                "has routing rules of its own (priorities {prios:?}), which crest does not dump"
            )));
        }
    }
    Ok(())
}
