//! Credentials, restored last and in this order (as CRIU's restorer does):
//!
//! 1. securebits with NO_SETUID_FIXUP, so that changing uids below leaves
//!    every capability set as it is (KEEP_CAPS alone keeps the permitted
//!    set only: the effective one would be cleared by a change to
//!    non-root uids, and everything below needs it);
//! 2. groups, then gids, then uids (setgroups and setresgid need
//!    CAP_SETGID);
//! 3. the bounding set, dropping what the image lacks and it still has
//!    (needs CAP_SETPCAP);
//! 4. the dumped securebits (also needs CAP_SETPCAP, so before capset);
//! 5. capset for effective/permitted/inheritable;
//! 6. ambient capabilities, which must be in permitted and inheritable;
//! 7. no_new_privs, which nothing can clear again.

use crate::{sys, Args, Failure};
use restorer_blob::{Creds, STAGE_CREDS};

const SECBIT_NO_SETUID_FIXUP: u32 = 1 << 2;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

pub fn restore(args: &Args, c: &Creds) -> Result<(), Failure> {
    if c.skip != 0 {
        return Ok(());
    }
    let fail = Failure::at(STAGE_CREDS);
    sys::set_securebits(SECBIT_NO_SETUID_FIXUP).map_err(&fail)?;
    let groups: &[u32] = args.array(c.groups)?;
    // SAFETY: groups points to groups.len() u32s in the argument block.
    unsafe { sys::setgroups(groups.len() as u32, groups.as_ptr()) }.map_err(&fail)?;
    sys::setresgid(c.gid, c.egid, c.sgid).map_err(&fail)?;
    sys::setfsgid(c.fsgid);
    sys::setresuid(c.uid, c.euid, c.suid).map_err(&fail)?;
    sys::setfsuid(c.fsuid);

    for cap in 0..=c.last_cap.min(63) {
        let word = c.cap_bnd[(cap / 32) as usize];
        if word & (1 << (cap % 32)) == 0 && sys::capbset_has(cap).map_err(&fail)? {
            sys::capbset_drop(cap).map_err(&fail)?;
        }
    }
    sys::set_securebits(c.secbits).map_err(&fail)?;

    let header = [LINUX_CAPABILITY_VERSION_3, 0];
    // Two struct __user_cap_data_struct { effective, permitted, inheritable }.
    let data = [
        c.cap_eff[0],
        c.cap_prm[0],
        c.cap_inh[0],
        c.cap_eff[1],
        c.cap_prm[1],
        c.cap_inh[1],
    ];
    // SAFETY: header and data have the v3 layout the kernel reads.
    unsafe { sys::capset(header.as_ptr(), data.as_ptr()) }.map_err(&fail)?;

    sys::cap_ambient_clear_all().map_err(&fail)?;
    for cap in 0..=c.last_cap.min(63) {
        if c.cap_amb[(cap / 32) as usize] & (1 << (cap % 32)) != 0 {
            sys::cap_ambient_raise(cap).map_err(&fail)?;
        }
    }
    if c.no_new_privs != 0 {
        sys::set_no_new_privs().map_err(&fail)?;
    }
    Ok(())
}
