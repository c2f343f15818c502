//! A thread's core image (`core-<tid>.img`): registers and FPU state,
//! blocked mask and pending signals, credentials, name, altstack,
//! clear_child_tid, robust list and rseq.

use crate::images::schema::*;
use crate::sys;

use std::fs;

use crate::arch::{fpregs, gpregs};
use crate::seccomp::seccomp_filters;

use super::inject::{injected_failure, read_words};
use super::DumpError;
use crate::proc;
use crate::ptrace::Tracee;
use crate::signals::queued;

/// One thread's core image: registers, FPU state, blocked mask, pending
/// signals, credentials, name, altstack, clear_child_tid, robust list and
/// rseq. Its seccomp filters are the process's (`seccomp`, the main
/// thread's) or, returned beside, its own (numbered from 0 in the core).
pub(crate) fn thread_core(
    t: &mut Tracee,
    pid: i32,
    vdso: (u64, u64),
    scratch: u64,
    seccomp: &SeccompEntry,
) -> Result<(CoreEntry, Option<SeccompEntry>), DumpError> {
    let tid = t.pid;
    let perr =
        |what: &str, e: std::io::Error| DumpError::sys(pid, format!("thread {tid}: {what}"), e);
    let regs = t.image_regs();
    let mut xsave = vec![0u8; 64 * 1024];
    let xlen = sys::ptrace_getregset(tid, 0x202, &mut xsave)
        .map_err(|e| perr("PTRACE_GETREGSET NT_X86_XSTATE", e))?;
    // Its own mask: while we hold it, it blocks everything.
    let blocked = t.mask;
    let private = queued(tid, false)?;

    let r = t.syscall(vdso, libc::SYS_sigaltstack, [0, scratch, 0, 0, 0, 0])?;
    if r < 0 {
        return Err(injected_failure(tid, "sigaltstack", r));
    }
    let [ss_sp, ss_flags, ss_size] = read_words::<3>(pid, scratch)?;
    const PR_GET_TID_ADDRESS: u64 = 40;
    let r = t.syscall(
        vdso,
        libc::SYS_prctl,
        [PR_GET_TID_ADDRESS, scratch, 0, 0, 0, 0],
    )?;
    let tid_address = if r < 0 {
        0
    } else {
        read_words::<1>(pid, scratch)?[0]
    };
    let r = t.syscall(
        vdso,
        libc::SYS_prctl,
        [libc::PR_GET_PDEATHSIG as u64, scratch, 0, 0, 0, 0],
    )?;
    let pdeath_sig = if r < 0 {
        return Err(injected_failure(tid, "prctl(PR_GET_PDEATHSIG)", r));
    } else {
        read_words::<1>(pid, scratch)?[0] as u32
    };
    let (policy, prio) = sys::sched_get(tid).map_err(|e| perr("sched_getscheduler", e))?;
    if policy & !libc::SCHED_RESET_ON_FORK == SCHED_DEADLINE {
        return Err(DumpError::refused(
            pid,
            format!("thread {tid} runs under SCHED_DEADLINE, which CRIU's images cannot record"),
        ));
    }
    let secbits = t.syscall(
        vdso,
        libc::SYS_prctl,
        [libc::PR_GET_SECUREBITS as u64, 0, 0, 0, 0, 0],
    )?;

    let task = format!("task/{tid}");
    let status = proc::Status::read_at(pid, &format!("{task}/status"))?;
    let stat = proc::Stat::read_at(pid, &format!("{task}/stat"))?;
    let own = match (tid != pid, status.get("Seccomp")) {
        (true, "1") => {
            return Err(DumpError::refused(
                pid,
                format!("thread {tid} runs in seccomp strict mode, which crest does not restore"),
            ))
        }
        (true, mode) => Some(seccomp_filters(tid, mode)?).filter(|f| f != seccomp),
        (false, _) => None,
    };
    let filters = own.as_ref().unwrap_or(seccomp);
    let creds = crate::creds::from_status(&status, secbits.max(0) as u32);
    let rseq = sys::ptrace_rseq_config(tid).ok().filter(|r| r.0 != 0);
    let (robust, robust_len) = sys::get_robust_list(tid).unwrap_or((0, 0));
    let core = CoreEntry {
        mtype: core_entry::March::X8664 as i32,
        thread_info: Some(ThreadInfoX86 {
            clear_tid_addr: tid_address,
            gpregs: gpregs(&regs),
            fpregs: fpregs(&xsave[..xlen]),
            tls: Vec::new(),
        }),
        tc: None,
        ids: None,
        thread_core: Some(ThreadCoreEntry {
            futex_rla: robust,
            futex_rla_len: robust_len as u32,
            sched_nice: Some(stat.field(19) as i32),
            sched_policy: Some(policy as u32),
            sched_prio: Some(prio as u32),
            pdeath_sig: (pdeath_sig != 0).then_some(pdeath_sig),
            blk_sigset: Some(blocked),
            sas: Some(ThreadSasEntry {
                ss_sp,
                ss_size,
                ss_flags: ss_flags as u32,
            }),
            signals_p: Some(SignalQueueEntry { signals: private }),
            creds: Some(creds),
            comm: Some(
                proc::read(pid, &format!("{task}/comm"))?
                    .trim_end()
                    .to_string(),
            ),
            seccomp_mode: (!filters.seccomp_filters.is_empty())
                .then_some(SeccompMode::Filter as i32),
            seccomp_filter: filters
                .seccomp_filters
                .len()
                .checked_sub(1)
                .map(|i| i as u32),
            rseq_entry: rseq.map(|(ptr, size, sig)| RseqEntry {
                rseq_abi_pointer: ptr,
                rseq_abi_size: size,
                signature: sig,
                rseq_cs_pointer: None,
            }),
            ..Default::default()
        }),
    };
    Ok((core, own))
}

/// The deadline scheduling class (no libc constant): its parameters do
/// not fit `thread_core_entry`.
const SCHED_DEADLINE: i32 = 6;

/// Words of the auxiliary vector CRIU's x86_64 restore accepts
/// (`AT_VECTOR_SIZE` in criu/arch/x86/include/asm/types.h): CRIU 4.2
/// refuses a longer `mm_saved_auxv` as a corrupted image.
pub(crate) const CRIU_AUXV_WORDS: usize = 44;

/// The task's auxiliary vector as `mm.mm_saved_auxv`, as CRIU writes it:
/// the entries up to AT_NULL, at most [`CRIU_AUXV_WORDS`] words. A vector
/// that fills them loses its AT_NULL pair, which PR_SET_MM_MAP restores
/// (it zero-fills the kernel's copy); entries past the limit are dropped,
/// as CRIU drops them, with a warning.
pub(crate) fn auxv(pid: i32) -> Result<Vec<u64>, DumpError> {
    let raw = fs::read(format!("/proc/{pid}/auxv"))
        .map_err(|e| DumpError::file(format!("/proc/{pid}/auxv"), e))?;
    let mut v: Vec<u64> = raw
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect();
    // Keep up to and including the AT_NULL pair.
    if let Some(end) = v.chunks(2).position(|p| p[0] == 0) {
        v.truncate(end * 2 + 2);
    }
    if v.len() > CRIU_AUXV_WORDS {
        let lost: Vec<u64> = v[CRIU_AUXV_WORDS..]
            .chunks(2)
            .map(|p| p[0])
            .filter(|&t| t != 0)
            .collect();
        if !lost.is_empty() {
            crate::log!(
                crate::log::WARN,
                "pid {pid}: auxv entries {lost:?} do not fit CRIU's {CRIU_AUXV_WORDS} words and are not dumped"
            );
        }
        v.truncate(CRIU_AUXV_WORDS);
    }
    Ok(v)
}

/// The two bytes of a `syscall` instruction in one of the task's readable
/// code mappings (each read up to 4 MiB), for a task without a vdso.
pub(crate) fn syscall_in_code(pid: i32, maps: &[proc::Mapping]) -> Option<(u64, u64)> {
    let code = maps
        .iter()
        .filter(|m| m.perms[0] == b'r' && m.perms[2] == b'x' && !m.path.starts_with('['));
    for m in code {
        let len = (m.end - m.start).min(4 << 20);
        let mut buf = vec![0u8; len as usize];
        match sys::process_vm_readv(pid, &mut buf, &[(m.start, len)]) {
            Ok(n) if n == len as usize => {}
            _ => continue,
        }
        if let Some(at) = buf.windows(2).position(|w| w == [0x0f, 0x05]) {
            let g = m.start + at as u64;
            return Some((g, g + 2));
        }
    }
    None
}

/// The process's resource limits. prlimit of another user's task needs
/// CAP_SYS_RESOURCE, which we may lack: then /proc/PID/limits, which says
/// the same.
pub(super) fn rlimits(pid: i32) -> Result<Vec<RlimitEntry>, DumpError> {
    let mut rlimits = Vec::new();
    let mut listed: Option<Vec<(u64, u64)>> = None;
    for res in 0..16 {
        let (cur, max) = match sys::prlimit_of(pid, res) {
            Ok(l) => l,
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                if listed.is_none() {
                    listed = Some(proc::limits(pid)?);
                }
                *listed
                    .as_ref()
                    .and_then(|l| l.get(res as usize))
                    .ok_or_else(|| DumpError::Task {
                        pid,
                        what: format!("/proc/{pid}/limits has no resource {res}"),
                    })?
            }
            Err(e) => return Err(DumpError::sys(pid, format!("prlimit of resource {res}"), e)),
        };
        rlimits.push(RlimitEntry { cur, max });
    }
    Ok(rlimits)
}

/// The id of process number `index` of the tree among its kind of
/// object (memory, descriptor table, fs information, signal handlers),
/// unless it shares one.
pub(super) fn own_id(index: usize) -> u32 {
    index as u32 + 2
}
