//! A network namespace rebuilt from its images: crest makes it
//! (unshare), steps in, sets its sysctls, makes its links with their
//! dumped indexes, names, addresses and masters, brings them up as they
//! were, then replays the dumped addresses and routes; the tree's sockets
//! are made there next, and the root is forked into it.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::images::schema::{NdType, NetDeviceEntry, NetnsEntry};
use crate::restore::RestoreError;
use crate::sys;

use super::rtnl::{self, Rtnl};
use super::{sysctl, IFADDR_MAGIC, ROUTE_MAGIC};
use crate::sockets::diag::u32_at;

/// `--external veth[INSIDE]:OUTSIDE[@BRIDGE]`: the veth whose peer was
/// outside the namespace gets its peer, named OUTSIDE, in crest's own
/// namespace, attached to BRIDGE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Veth {
    pub inside: String,
    pub outside: String,
    pub bridge: Option<String>,
}

impl Veth {
    /// An `--external` key of that form (None for other keys).
    pub fn parse(key: &str) -> Option<Veth> {
        let rest = key.strip_prefix("veth[")?;
        let (inside, outside) = rest.split_once("]:")?;
        let (outside, bridge) = match outside.split_once('@') {
            Some((o, b)) => (o, Some(b.to_string())),
            None => (outside, None),
        };
        (!inside.is_empty() && !outside.is_empty()).then(|| Veth {
            inside: inside.into(),
            outside: outside.into(),
            bridge,
        })
    }
}

/// A network namespace's images.
#[derive(Debug)]
pub(crate) struct NetImages {
    id: u32,
    devices: Vec<NetDeviceEntry>,
    ifaddr: Vec<u8>,
    routes: Vec<Vec<u8>>,
    netns: Option<NetnsEntry>,
}

fn bad(dir: &Path, name: &str, what: String) -> RestoreError {
    RestoreError::Inconsistent(format!("{}: {what}", dir.join(name).display()))
}

/// The body of a raw iproute2 save image `name`, checked: its magic, then
/// whole messages.
fn read_saved(dir: &Path, name: &str, magic: u32) -> Result<Vec<u8>, RestoreError> {
    let path = dir.join(name);
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(RestoreError::sys(
                0,
                format!("reading {}", path.display()),
                e,
            ))
        }
    };
    if data.len() < 4 || u32_at(&data, 0) != magic {
        return Err(bad(
            dir,
            name,
            format!("does not start with iproute2's magic {magic:#x}"),
        ));
    }
    let body = data[4..].to_vec();
    sys::nl_split(&body).map_err(|_| bad(dir, name, "a message runs past the end".into()))?;
    Ok(body)
}

impl NetImages {
    /// Reads the images of network namespace `id`; refuses by name the
    /// images of what crest does not rebuild (rules, filter rules).
    pub(crate) fn read(dir: &Path, id: u32) -> Result<NetImages, RestoreError> {
        use crate::images::file::{NETDEV, NETNS};
        check_extras(dir, id)?;
        let devices = NETDEV.read_all(dir, id)?;
        let netns = match NETNS.read_all(dir, id) {
            Ok(mut v) => v.pop(),
            Err(e) if matches!(&e.kind, crate::images::ImageErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound) => {
                None
            }
            Err(e) => return Err(RestoreError::Image(e)),
        };
        for d in &devices {
            let kind = NdType::try_from(d.r#type).ok();
            if !matches!(kind, Some(NdType::Loopback | NdType::Veth | NdType::Bridge)) {
                return Err(RestoreError::Unsupported(format!(
                    "{}: link {} of type {} is not restored (loopback, veth and bridge only)",
                    NETDEV.path(dir, id).display(),
                    d.name,
                    d.r#type
                )));
            }
        }
        let mut routes = Vec::new();
        for name in [format!("route-{id}.img"), format!("route6-{id}.img")] {
            routes.push(read_saved(dir, &name, ROUTE_MAGIC)?);
        }
        Ok(NetImages {
            id,
            devices,
            ifaddr: read_saved(dir, &format!("ifaddr-{id}.img"), IFADDR_MAGIC)?,
            routes,
            netns,
        })
    }

    /// The veth links whose peer was outside the namespace, by name.
    fn outer_peer(&self, d: &NetDeviceEntry) -> bool {
        d.r#type == NdType::Veth as i32 && d.peer_nsid != Some(self.id)
    }

    /// Makes the namespace and builds it; crest stays in it until
    /// `Entered::leave`. With `veths` the peers outside get made in
    /// crest's own namespace.
    pub(crate) fn build(&self, veths: &[Veth]) -> Result<Entered, RestoreError> {
        let fail = |what: &str, e: std::io::Error| {
            RestoreError::sys(0, format!("network namespace {}: {what}", self.id), e)
        };
        for d in self.devices.iter().filter(|d| self.outer_peer(d)) {
            if !veths.iter().any(|v| v.inside == d.name) {
                return Err(RestoreError::Unsupported(format!(
                    "veth {} had its peer outside the network namespace: restore with \
                     --external veth[{}]:NAME[@BRIDGE] to make it, named NAME, here",
                    d.name, d.name
                )));
            }
        }
        let own = File::open("/proc/self/ns/net").map_err(|e| fail("/proc/self/ns/net", e))?;
        let mut outer = Rtnl::open().map_err(|e| fail("rtnetlink socket", e))?;
        sys::unshare(libc::CLONE_NEWNET).map_err(|e| fail("unshare", e))?;
        let entered = Entered { own, left: false };
        self.fill(&entered, veths, &mut outer)
            .map_err(|m| RestoreError::System(format!("network namespace {}: {m}", self.id)))?;
        Ok(entered)
    }

    fn fill(&self, entered: &Entered, veths: &[Veth], outer: &mut Rtnl) -> Result<(), String> {
        let mut nl = Rtnl::open().map_err(|e| format!("rtnetlink socket: {e}"))?;
        let empty = NetnsEntry::default();
        let ns = self.netns.as_ref().unwrap_or(&empty);
        let v6 = Path::new("/proc/sys/net/ipv6").exists();
        for (family, all, def) in [
            ("ipv4", &ns.all_conf4, &ns.def_conf4),
            ("ipv6", &ns.all_conf6, &ns.def_conf6),
        ] {
            if family == "ipv6" && !v6 {
                continue;
            }
            sysctl::write_conf(family, "all", all, &[])?;
            sysctl::write_conf(family, "default", def, &[])?;
        }
        for (path, e) in [
            ("/proc/sys/net/unix/max_dgram_qlen", ns.unix_conf.first()),
            (
                "/proc/sys/net/ipv4/ping_group_range",
                ns.ipv4_sysctl.first(),
            ),
        ] {
            let value = e.and_then(|e| {
                e.sarg
                    .as_ref()
                    .map(|s| s.trim_end().to_string())
                    .or(e.iarg.map(|v| v.to_string()))
            });
            if let Some(v) = value {
                sysctl::write(path, &v)?;
            }
        }
        // Bridges first (ports name them), then veth pairs, each once.
        let mut made: Vec<u32> = Vec::new();
        let order = self
            .devices
            .iter()
            .filter(|d| d.r#type == NdType::Bridge as i32)
            .chain(
                self.devices
                    .iter()
                    .filter(|d| d.r#type == NdType::Veth as i32),
            );
        for d in order {
            if made.contains(&d.ifindex) {
                continue;
            }
            let what =
                |e: std::io::Error| format!("making link {} (index {}): {e}", d.name, d.ifindex);
            let mut body = rtnl::ifinfomsg(0, d.ifindex as i32, 0, 0);
            link_attrs(&mut body, d);
            if d.r#type == NdType::Bridge as i32 {
                rtnl::nest(&mut body, rtnl::IFLA_LINKINFO, |li| {
                    rtnl::attr(li, rtnl::IFLA_INFO_KIND, b"bridge");
                });
            } else {
                // The peer: the other end in the images, or, outside, the
                // --external name in crest's namespace (checked by `build`).
                let mut peer_info;
                if self.outer_peer(d) {
                    let v = veths
                        .iter()
                        .find(|v| v.inside == d.name)
                        .ok_or_else(|| format!("veth {}: no --external for its peer", d.name))?;
                    peer_info = rtnl::ifinfomsg(0, 0, 0, 0);
                    rtnl::attr(&mut peer_info, rtnl::IFLA_IFNAME, v.outside.as_bytes());
                    let fd = entered.own.as_raw_fd() as u32;
                    rtnl::attr(&mut peer_info, rtnl::IFLA_NET_NS_FD, &fd.to_ne_bytes());
                } else {
                    let peer = self
                        .devices
                        .iter()
                        .find(|p| Some(p.ifindex) == d.peer_ifindex && p.ifindex != d.ifindex)
                        .ok_or_else(|| {
                            format!(
                                "veth {}: its peer (index {:?}) is not in the images",
                                d.name, d.peer_ifindex
                            )
                        })?;
                    peer_info = rtnl::ifinfomsg(0, peer.ifindex as i32, 0, 0);
                    link_attrs(&mut peer_info, peer);
                    made.push(peer.ifindex);
                }
                rtnl::nest(&mut body, rtnl::IFLA_LINKINFO, |li| {
                    rtnl::attr(li, rtnl::IFLA_INFO_KIND, b"veth");
                    rtnl::nest(li, rtnl::IFLA_INFO_DATA, |data| {
                        rtnl::nest(data, rtnl::VETH_INFO_PEER, |p| {
                            p.extend_from_slice(&peer_info)
                        });
                    });
                });
            }
            let flags = (libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16;
            nl.request(rtnl::RTM_NEWLINK, flags, &body).map_err(what)?;
            made.push(d.ifindex);
        }
        // Ports into their bridges, then every link as it was: flags
        // (up), mtu, address; then its sysctls.
        for d in self.devices.iter().filter(|d| d.master.is_some()) {
            let mut body = rtnl::ifinfomsg(0, d.ifindex as i32, 0, 0);
            rtnl::attr(
                &mut body,
                rtnl::IFLA_MASTER,
                &d.master.unwrap_or(0).to_ne_bytes(),
            );
            nl.request(rtnl::RTM_SETLINK, 0, &body)
                .map_err(|e| format!("link {} into its bridge: {e}", d.name))?;
        }
        for d in &self.devices {
            let mut body = rtnl::ifinfomsg(0, d.ifindex as i32, d.flags, 0);
            rtnl::attr(&mut body, rtnl::IFLA_MTU, &d.mtu.to_ne_bytes());
            if let (Some(a), true) = (&d.address, d.r#type == NdType::Bridge as i32) {
                rtnl::attr(&mut body, rtnl::IFLA_ADDRESS, a);
            }
            nl.request(rtnl::RTM_SETLINK, 0, &body)
                .map_err(|e| format!("setting link {} (index {}): {e}", d.name, d.ifindex))?;
            sysctl::write_conf("ipv4", &d.name, &d.conf4, &ns.def_conf4)?;
            if v6 {
                sysctl::write_conf("ipv6", &d.name, &d.conf6, &ns.def_conf6)?;
            }
        }
        // The outer ends, in crest's namespace, attached to their bridges
        // and up (as CRIU; without a bridge they stay down).
        let outer_ends = veths.iter().filter(|v| {
            v.bridge.is_some()
                && self
                    .devices
                    .iter()
                    .any(|d| d.name == v.inside && self.outer_peer(d))
        });
        for v in outer_ends {
            let up = libc::IFF_UP as u32;
            let mut body = rtnl::ifinfomsg(0, 0, up, up);
            rtnl::attr(&mut body, rtnl::IFLA_IFNAME, v.outside.as_bytes());
            if let Some(b) = &v.bridge {
                let master = outer.index_of(b).map_err(|e| format!("bridge {b}: {e}"))?;
                rtnl::attr(&mut body, rtnl::IFLA_MASTER, &master.to_ne_bytes());
            }
            outer
                .request(rtnl::RTM_SETLINK, 0, &body)
                .map_err(|e| format!("veth {} outside: {e}", v.outside))?;
        }
        for m in sys::nl_split(&self.ifaddr).map_err(|e| e.to_string())? {
            nl.replay(m)
                .map_err(|e| format!("restoring an address: {e}"))?;
        }
        // As `ip route restore`: direct routes without a preferred source
        // (or with their own), then the other direct ones, then those via a
        // gateway.
        for pass in 0..3 {
            for table in &self.routes {
                for m in sys::nl_split(table).map_err(|e| e.to_string())? {
                    if route_pass(m) == pass {
                        nl.replay(&settable_route(m))
                            .map_err(|e| format!("restoring a route: {e}"))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Name, mtu and address of link `d`, as attributes.
fn link_attrs(out: &mut Vec<u8>, d: &NetDeviceEntry) {
    rtnl::attr(out, rtnl::IFLA_IFNAME, d.name.as_bytes());
    rtnl::attr(out, rtnl::IFLA_MTU, &d.mtu.to_ne_bytes());
    if let Some(a) = &d.address {
        rtnl::attr(out, rtnl::IFLA_ADDRESS, a);
    }
}

/// Route message `m` without the flags only the kernel reports (dead,
/// link down, offloaded...), which a request may not carry: the on-link
/// and pervasive ones stay.
fn settable_route(m: &[u8]) -> Vec<u8> {
    const KEEP: u32 = 0x2 | 0x4; // RTNH_F_PERVASIVE | RTNH_F_ONLINK
    let mut out = m.to_vec();
    let at = rtnl::NLMSG_HDR + 8;
    if let Some(f) = out.get_mut(at..at + 4) {
        let flags = u32_at(f, 0) & KEEP;
        f.copy_from_slice(&flags.to_ne_bytes());
    }
    out
}

/// The pass of `ip route restore` that restores route message `m`.
fn route_pass(m: &[u8]) -> u32 {
    let attrs = rtnl::attrs(m.get(rtnl::NLMSG_HDR..).unwrap_or(&[]), rtnl::RTMSG);
    let gateway = rtnl::find(&attrs, rtnl::RTA_GATEWAY).is_some();
    let prefsrc = rtnl::find(&attrs, rtnl::RTA_PREFSRC);
    let dst = rtnl::find(&attrs, rtnl::RTA_DST);
    match (gateway, prefsrc) {
        (true, _) => 2,
        (false, Some(p)) if Some(p) != dst => 1,
        _ => 0,
    }
}

/// crest inside the namespace it built, until `leave` takes it back to
/// its own (on drop too).
pub(crate) struct Entered {
    own: File,
    left: bool,
}

impl Entered {
    /// A new network namespace left empty (`--empty-ns net`), crest in it.
    pub(crate) fn empty() -> Result<Entered, RestoreError> {
        let fail =
            |what: &str, e| RestoreError::sys(0, format!("an empty network namespace: {what}"), e);
        let own = File::open("/proc/self/ns/net").map_err(|e| fail("/proc/self/ns/net", e))?;
        sys::unshare(libc::CLONE_NEWNET).map_err(|e| fail("unshare", e))?;
        Ok(Entered { own, left: false })
    }

    /// Back to crest's own network namespace (the tree keeps the built
    /// one alive from now on).
    pub(crate) fn leave(&mut self) -> Result<(), RestoreError> {
        if !self.left {
            sys::ipc::setns(self.own.as_raw_fd(), libc::CLONE_NEWNET)
                .map_err(|e| RestoreError::sys(0, "back to crest's network namespace", e))?;
            self.left = true;
        }
        Ok(())
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        let _ = self.leave();
    }
}

/// Images of what crest does not rebuild: routing rules beyond a new
/// namespace's own, filter rules (CRIU's own network lock excepted: the
/// restore would drop it anyway), conntrack entries.
pub(crate) fn check_extras(dir: &Path, id: u32) -> Result<(), RestoreError> {
    let refuse = |name: &str, why: &str| {
        Err(RestoreError::Unsupported(format!(
            "{}: {why}, which crest does not restore",
            dir.join(name).display()
        )))
    };
    // The IPv4 rules of every new namespace, by priority.
    const RULE_MAGIC: u32 = 0x7170_6986;
    let rules = format!("rule-{id}.img");
    let saved = read_saved(dir, &rules, RULE_MAGIC)?;
    let prios: Vec<u32> = sys::nl_split(&saved)
        .unwrap_or_default()
        .iter()
        .map(|m| super::rule_priority(m))
        .collect();
    if !saved.is_empty() && prios != [0, 32766, 32767] {
        return refuse(&rules, "routing rules of its own");
    }
    for name in [format!("iptables-{id}.img"), format!("ip6tables-{id}.img")] {
        if let Ok(text) = std::fs::read_to_string(dir.join(&name)) {
            if !only_criu_lock(&text) {
                return refuse(&name, "iptables rules");
            }
        }
    }
    let nft = format!("nftables-{id}.img");
    if let Ok(text) = std::fs::read_to_string(dir.join(&nft)) {
        if !only_criu_lock_nft(&text) {
            return refuse(&nft, "nftables rules");
        }
    }
    for name in [format!("netns-ct-{id}.img"), format!("netns-exp-{id}.img")] {
        if std::fs::metadata(dir.join(&name)).is_ok_and(|m| m.len() > 0) {
            return refuse(&name, "filter rules or tracked connections");
        }
    }
    Ok(())
}

/// `iptables-save` text holding no rule but CRIU's network lock (its
/// CRIU chain and the jumps to it), every built-in chain accepting.
fn only_criu_lock(text: &str) -> bool {
    text.lines().map(str::trim).all(|l| {
        l.is_empty()
            || l.starts_with('#')
            || l.starts_with('*')
            || l == "COMMIT"
            || (l.starts_with(':') && (l.contains(" ACCEPT ") || l.starts_with(":CRIU ")))
            || l.starts_with("-A CRIU ")
            || l.ends_with("-j CRIU")
    })
}

/// `nft list ruleset` text holding no rule but CRIU's network lock: its
/// CRIU chains and the jumps to them from accepting base chains.
fn only_criu_lock_nft(text: &str) -> bool {
    let mut chain = "";
    text.lines().map(str::trim).all(|l| {
        if let Some(name) = l.strip_prefix("chain ").and_then(|c| c.strip_suffix(" {")) {
            chain = name;
            return true;
        }
        l.is_empty()
            || l == "}"
            || (l.starts_with("table ") && l.ends_with('{'))
            || chain == "CRIU"
            || (l.starts_with("type filter hook ") && l.ends_with("policy accept;"))
            || l.ends_with("jump CRIU")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_veth_keys() {
        assert_eq!(
            Veth::parse("veth[eth0]:host0@br0"),
            Some(Veth {
                inside: "eth0".into(),
                outside: "host0".into(),
                bridge: Some("br0".into())
            })
        );
        assert_eq!(
            Veth::parse("veth[eth0]:host0").map(|v| v.bridge),
            Some(None)
        );
        assert_eq!(Veth::parse("veth[]:x"), None);
        assert_eq!(Veth::parse("file[1:2]"), None);
    }

    #[test]
    fn criu_lock_alone_is_no_rule() {
        let lock = "# Generated\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n\
                    :OUTPUT ACCEPT [0:0]\n:CRIU - [0:0]\n-A INPUT -j CRIU\n-A OUTPUT -j CRIU\n\
                    -A CRIU -m mark --mark 0xc114 -j ACCEPT\n-A CRIU -j DROP\nCOMMIT\n";
        assert!(only_criu_lock(lock));
        assert!(!only_criu_lock("*filter\n:INPUT DROP [0:0]\nCOMMIT\n"));
        assert!(!only_criu_lock(
            "*filter\n-A INPUT -p tcp -j ACCEPT\nCOMMIT\n"
        ));
        let nft = "table ip filter {\n\tchain CRIU {\n\t\tmeta mark 0x0000c114 counter packets 0 \
                   bytes 0 accept\n\t\tcounter packets 0 bytes 0 drop\n\t}\n\n\tchain INPUT {\n\t\t\
                   type filter hook input priority filter; policy accept;\n\t\tcounter packets 0 \
                   bytes 0 jump CRIU\n\t}\n}\n";
        assert!(only_criu_lock_nft(nft));
        assert!(!only_criu_lock_nft(
            &nft.replace("jump CRIU", "tcp dport 22 drop")
        ));
        assert!(!only_criu_lock_nft(
            &nft.replace("policy accept", "policy drop")
        ));
    }
}
