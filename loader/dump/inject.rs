//! What only the task can tell: signal handlers, interval timers, brk and
//! POSIX timers, asked one injected system call at a time through the
//! main thread (`Tracee::syscall`), answers read from a scratch page.

use crate::images::schema::{ItimerEntry, PosixTimerEntry, SaEntry, UtsnsEntry};
use crate::sys;

use super::DumpError;
use crate::proc;
use crate::ptrace::Tracee;

/// Answers from the task itself about the whole process.
pub(crate) struct Asked {
    pub(crate) sigactions: Vec<SaEntry>,
    pub(crate) itimers: [ItimerEntry; 3],
    pub(crate) brk: u64,
    pub(crate) posix: Vec<PosixTimerEntry>,
    pub(crate) child_subreaper: bool,
    pub(crate) thp_disabled: bool,
    /// The membarrier commands the process registered for (None where
    /// the kernel cannot tell).
    pub(crate) membarrier: Option<u32>,
}

pub(crate) fn read_words<const N: usize>(pid: i32, at: u64) -> Result<[u64; N], DumpError> {
    let mut b = vec![0u8; N * 8];
    sys::process_vm_readv(pid, &mut b, &[(at, (N * 8) as u64)])
        .map_err(|e| DumpError::sys(pid, "reading the scratch page", e))?;
    let mut w = [0u64; N];
    for (i, c) in b.chunks_exact(8).enumerate() {
        w[i] = u64::from_le_bytes(c.try_into().unwrap_or_default());
    }
    Ok(w)
}

pub(crate) fn injected_failure(tid: i32, what: &str, r: i64) -> DumpError {
    DumpError::sys(
        tid,
        format!("injected {what}"),
        std::io::Error::from_raw_os_error(-r as i32),
    )
}

/// Signal handlers, interval timers, brk and POSIX timers, asked through
/// the main thread.
pub(crate) fn ask_process(
    t: &mut Tracee,
    vdso: (u64, u64),
    scratch: u64,
    status: &proc::Status,
) -> Result<Asked, DumpError> {
    let pid = t.pid;
    // Only handlers that are not SIG_DFL need asking: /proc says which.
    let interesting = status.hex("SigCgt") | status.hex("SigIgn");
    let mut sigactions = Vec::new();
    for sig in (1..=64u64).filter(|&s| s != 9 && s != 19) {
        if interesting & (1 << (sig - 1)) == 0 {
            sigactions.push(SaEntry::default());
            continue;
        }
        let r = t.syscall(vdso, libc::SYS_rt_sigaction, [sig, 0, scratch, 8, 0, 0])?;
        if r < 0 {
            return Err(injected_failure(pid, "rt_sigaction", r));
        }
        let [handler, flags, restorer, mask] = read_words::<4>(pid, scratch)?;
        sigactions.push(SaEntry {
            sigaction: handler,
            flags,
            restorer,
            mask,
            compat_sigaction: Some(false),
            mask_extended: None,
        });
    }
    let mut itimers: [ItimerEntry; 3] = Default::default();
    for (which, it) in itimers.iter_mut().enumerate() {
        let r = t.syscall(
            vdso,
            libc::SYS_getitimer,
            [which as u64, scratch, 0, 0, 0, 0],
        )?;
        if r < 0 {
            return Err(injected_failure(pid, "getitimer", r));
        }
        let [isec, iusec, vsec, vusec] = read_words::<4>(pid, scratch)?;
        *it = ItimerEntry {
            isec,
            iusec,
            vsec,
            vusec,
        };
    }
    let brk = t.syscall(vdso, libc::SYS_brk, [0; 6])? as u64;
    let mut posix = proc::posix_timers(pid)?;
    for p in &mut posix {
        let id = u64::from(p.it_id);
        let r = t.syscall(vdso, libc::SYS_timer_gettime, [id, scratch, 0, 0, 0, 0])?;
        if r < 0 {
            return Err(injected_failure(pid, "timer_gettime", r));
        }
        [p.isec, p.insec, p.vsec, p.vnsec] = read_words::<4>(pid, scratch)?;
        let r = t.syscall(vdso, libc::SYS_timer_getoverrun, [id, 0, 0, 0, 0, 0])?;
        p.overrun = r.max(0) as u32;
    }
    let r = t.syscall(
        vdso,
        libc::SYS_prctl,
        [libc::PR_GET_CHILD_SUBREAPER as u64, scratch, 0, 0, 0, 0],
    )?;
    if r < 0 {
        return Err(injected_failure(pid, "prctl(PR_GET_CHILD_SUBREAPER)", r));
    }
    let child_subreaper = read_words::<1>(pid, scratch)?[0] as u32 != 0;
    let thp = t.syscall(
        vdso,
        libc::SYS_prctl,
        [libc::PR_GET_THP_DISABLE as u64, 0, 0, 0, 0, 0],
    )?;
    if thp < 0 {
        return Err(injected_failure(pid, "prctl(PR_GET_THP_DISABLE)", thp));
    }
    if thp > 1 {
        // PR_THP_DISABLE_EXCEPT_ADVISED and later modes.
        return Err(DumpError::refused(
            pid,
            format!("PR_GET_THP_DISABLE says {thp:#x}: a mode CRIU's images cannot record"),
        ));
    }
    const MEMBARRIER_CMD_GET_REGISTRATIONS: u64 = 1 << 9;
    let r = t.syscall(
        vdso,
        libc::SYS_membarrier,
        [MEMBARRIER_CMD_GET_REGISTRATIONS, 0, 0, 0, 0, 0],
    )?;
    Ok(Asked {
        sigactions,
        itimers,
        brk,
        posix,
        child_subreaper,
        thp_disabled: thp == 1,
        membarrier: (r >= 0).then_some(r as u32),
    })
}

/// The task's UTS names (`uname`), for a tree in a UTS namespace of its own.
pub(crate) fn ask_uts(
    t: &mut Tracee,
    vdso: (u64, u64),
    scratch: u64,
) -> Result<UtsnsEntry, DumpError> {
    let pid = t.pid;
    let r = t.syscall(vdso, libc::SYS_uname, [scratch, 0, 0, 0, 0, 0])?;
    if r < 0 {
        return Err(injected_failure(pid, "uname", r));
    }
    let mut raw = vec![0u8; 6 * 65];
    let len = raw.len() as u64;
    sys::process_vm_readv(pid, &mut raw, &[(scratch, len)])
        .map_err(|e| DumpError::sys(pid, "reading the scratch page", e))?;
    let (nodename, domainname) = crate::ns::parse_utsname(&raw);
    Ok(UtsnsEntry {
        nodename,
        domainname,
    })
}
