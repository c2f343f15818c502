//! The sysctls CRIU keeps of a network namespace and its links, in its
//! order: the lists are positional (`conf4[i]` is `DEVCONF4[i]`), read
//! from and written to /proc/sys/net of the namespace crest is in.

use crate::images::schema::{SysctlEntry, SysctlType};

/// IPv4 per-device sysctls (`net/ipv4/conf/<dev>/`), CRIU's order.
pub(crate) const DEVCONF4: [&str; 30] = [
    "accept_local",
    "accept_redirects",
    "accept_source_route",
    "arp_accept",
    "arp_announce",
    "arp_filter",
    "arp_ignore",
    "arp_notify",
    "bootp_relay",
    "disable_policy",
    "disable_xfrm",
    "force_igmp_version",
    "forwarding",
    "igmpv2_unsolicited_report_interval",
    "igmpv3_unsolicited_report_interval",
    "log_martians",
    "medium_id",
    "promote_secondaries",
    "proxy_arp",
    "proxy_arp_pvlan",
    "route_localnet",
    "rp_filter",
    "secure_redirects",
    "send_redirects",
    "shared_media",
    "src_valid_mark",
    "tag",
    "ignore_routes_with_linkdown",
    "drop_gratuitous_arp",
    "drop_unicast_in_l2_multicast",
];

/// IPv6 per-device sysctls (`net/ipv6/conf/<dev>/`), CRIU's order.
pub(crate) const DEVCONF6: [&str; 42] = [
    "accept_dad",
    "accept_ra",
    "accept_ra_defrtr",
    "accept_ra_from_local",
    "accept_ra_min_hop_limit",
    "accept_ra_mtu",
    "accept_ra_pinfo",
    "accept_ra_rt_info_max_plen",
    "accept_ra_rtr_pref",
    "accept_redirects",
    "accept_source_route",
    "autoconf",
    "dad_transmits",
    "disable_ipv6",
    "drop_unicast_in_l2_multicast",
    "drop_unsolicited_na",
    "force_mld_version",
    "force_tllao",
    "forwarding",
    "hop_limit",
    "ignore_routes_with_linkdown",
    "keep_addr_on_down",
    "max_addresses",
    "max_desync_factor",
    "mldv1_unsolicited_report_interval",
    "mldv2_unsolicited_report_interval",
    "mtu",
    "ndisc_notify",
    "optimistic_dad",
    "proxy_ndp",
    "regen_max_retry",
    "router_probe_interval",
    "router_solicitation_delay",
    "router_solicitation_interval",
    "router_solicitations",
    "stable_secret",
    "suppress_frag_ndisc",
    "temp_prefered_lft",
    "temp_valid_lft",
    "use_oif_addrs_only",
    "use_optimistic",
    "use_tempaddr",
];

/// The one string sysctl of DEVCONF6.
const STABLE_SECRET: usize = 35;

/// `net/<family>/conf/<dev>/` as CRIU lists it: every entry, valued where
/// the file can be read.
pub(crate) fn read_conf(family: &str, dev: &str) -> Vec<SysctlEntry> {
    let names: &[&str] = if family == "ipv4" {
        &DEVCONF4
    } else {
        &DEVCONF6
    };
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let path = format!("/proc/sys/net/{family}/conf/{dev}/{name}");
            read_one(&path, family == "ipv6" && i == STABLE_SECRET)
        })
        .collect()
}

/// Writes the valued entries of `conf` to `net/<family>/conf/<dev>/`,
/// skipping those equal to `defaults` (but for `lo` and mtu, as CRIU),
/// and accept_redirects last. A missing sysctl is an error naming it.
pub(crate) fn write_conf(
    family: &str,
    dev: &str,
    conf: &[SysctlEntry],
    defaults: &[SysctlEntry],
) -> Result<(), String> {
    let names: &[&str] = if family == "ipv4" {
        &DEVCONF4
    } else {
        &DEVCONF6
    };
    let mut order: Vec<usize> = (0..conf.len().min(names.len())).collect();
    order.sort_by_key(|&i| names[i] == "accept_redirects");
    for i in order {
        let e = &conf[i];
        let value = match (&e.sarg, e.iarg) {
            (Some(s), _) => s.trim_end().to_string(),
            (None, Some(v)) => v.to_string(),
            (None, None) => continue,
        };
        let same = defaults
            .get(i)
            .is_some_and(|d| d.iarg == e.iarg && d.sarg == e.sarg);
        if same && dev != "lo" && names[i] != "mtu" {
            continue;
        }
        // The secret cannot be read back unless set; an unset one is not
        // written.
        if family == "ipv6" && i == STABLE_SECRET && value.is_empty() {
            continue;
        }
        let path = format!("/proc/sys/net/{family}/conf/{dev}/{}", names[i]);
        write(&path, &value)?;
    }
    Ok(())
}

/// Writes `value` to sysctl file `path`; an unchanged value is not
/// written (some refuse any write in a namespace).
pub(crate) fn write(path: &str, value: &str) -> Result<(), String> {
    if std::fs::read_to_string(path).is_ok_and(|now| now.trim_end() == value) {
        return Ok(());
    }
    std::fs::write(path, value).map_err(|e| format!("sysctl {path} = {value:?}: {e}"))
}

/// One sysctl as CRIU keeps it, read from `path`: a number, or the text.
pub(crate) fn read_one(path: &str, text: bool) -> SysctlEntry {
    let v = std::fs::read_to_string(path);
    if text {
        SysctlEntry {
            r#type: SysctlType::CtlStr as i32,
            iarg: None,
            sarg: v.ok(),
        }
    } else {
        SysctlEntry {
            r#type: SysctlType::Ctl32 as i32,
            iarg: v.ok().and_then(|t| t.trim().parse().ok()),
            sarg: None,
        }
    }
}
