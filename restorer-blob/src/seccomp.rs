//! Seccomp filters and strict mode, put back in the dumped order.

use restorer_blob::*;

use crate::{fault, sys, Args, Failure};

/// Seccomp as the task had it, oldest filter first. The first thread
/// does this before its credentials: the loader traces it with
/// PTRACE_O_SUSPEND_SECCOMP, so neither the filters nor strict mode bind
/// what it does next, and it may still install them without
/// no_new_privs (CAP_SYS_ADMIN). The others do it after theirs, with
/// no_new_privs or the credentials they were dumped with.
pub fn restore(args: &Args, t: &TaskArgs, chain: Array) -> Result<(), Failure> {
    fault(t, STAGE_SECCOMP)?;
    let filters: &[SeccompFilter] = args.array(chain)?;
    for f in filters {
        let insns: &[u64] = args.array(Array {
            off: f.off,
            count: u64::from(f.len),
        })?;
        // struct sock_fprog: an unsigned short length, then the pointer.
        let prog = [u64::from(f.len), insns.as_ptr() as u64];
        // SAFETY: prog is a sock_fprog whose filter lies in the block.
        unsafe { sys::seccomp_set_filter(f.flags, prog.as_ptr()) }
            .map_err(Failure::at(STAGE_SECCOMP))?;
    }
    if t.seccomp_strict != 0 {
        sys::seccomp_set_strict().map_err(Failure::at(STAGE_SECCOMP))?;
    }
    Ok(())
}
