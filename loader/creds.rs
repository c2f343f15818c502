//! Credentials (`creds_entry`): ids, groups, the five capability sets and
//! securebits, read from a thread's /proc status at dump and handed to the
//! blob, which sets them last (after everything that needs privileges).

use restorer_blob::{Array, Creds};

use crate::images::schema::CredsEntry;
use crate::proc::Status;

/// A thread's credentials from its /proc status and `secbits` (asked in
/// the task: /proc does not show them).
pub fn from_status(status: &Status, secbits: u32) -> CredsEntry {
    let caps = |key: &str| {
        let v = status.hex(key);
        vec![v as u32, (v >> 32) as u32]
    };
    let (uids, gids) = (status.ids("Uid"), status.ids("Gid"));
    let id = |v: &Vec<u32>, i: usize| v.get(i).copied().unwrap_or(0);
    CredsEntry {
        uid: id(&uids, 0),
        euid: id(&uids, 1),
        suid: id(&uids, 2),
        fsuid: id(&uids, 3),
        gid: id(&gids, 0),
        egid: id(&gids, 1),
        sgid: id(&gids, 2),
        fsgid: id(&gids, 3),
        cap_inh: caps("CapInh"),
        cap_prm: caps("CapPrm"),
        cap_eff: caps("CapEff"),
        cap_bnd: caps("CapBnd"),
        cap_amb: caps("CapAmb"),
        secbits,
        groups: status.ids("Groups"),
        no_new_privs: Some(status.get("NoNewPrivs").parse().unwrap_or(0)),
        ..Default::default()
    }
}

fn pair(v: &[u32]) -> [u32; 2] {
    [
        v.first().copied().unwrap_or(0),
        v.get(1).copied().unwrap_or(0),
    ]
}

/// The blob's view of `c`, its groups already placed at `groups` in the
/// argument block; `last_cap` bounds the capability numbers it drops.
pub fn to_blob(c: &CredsEntry, groups: Array, last_cap: u32) -> Creds {
    Creds {
        uid: c.uid,
        euid: c.euid,
        suid: c.suid,
        fsuid: c.fsuid,
        gid: c.gid,
        egid: c.egid,
        sgid: c.sgid,
        fsgid: c.fsgid,
        secbits: c.secbits,
        ngroups: c.groups.len() as u32,
        groups,
        cap_eff: pair(&c.cap_eff),
        cap_prm: pair(&c.cap_prm),
        cap_inh: pair(&c.cap_inh),
        cap_bnd: pair(&c.cap_bnd),
        cap_amb: pair(&c.cap_amb),
        last_cap,
        skip: 0,
        no_new_privs: c.no_new_privs.unwrap_or(0),
        _pad: 0,
    }
}
