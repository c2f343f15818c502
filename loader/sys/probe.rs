//! Kernel probes for `kerndat`: cheap, no forks, nothing written.

use std::io;

use super::{check_int, CloneArgs};

/// Whether clone3 understands `set_tid`, without forking: a `set_tid_size`
/// of 1 with a NULL array is EINVAL where set_tid is known and E2BIG (or
/// ENOSYS) where it is not.
pub fn probe_clone3_set_tid() -> bool {
    let args = CloneArgs {
        set_tid_size: 1,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    // SAFETY: the arguments are invalid on purpose, so the kernel rejects
    // them before creating any task.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL)
}

/// `prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE)`: the size of `struct prctl_mm_map`.
pub fn prctl_mm_map_size() -> io::Result<u32> {
    const PR_SET_MM_MAP_SIZE: u64 = 15;
    let mut size = 0u32;
    // SAFETY: the kernel writes one u32 to `size`.
    check_int(unsafe {
        libc::prctl(
            libc::PR_SET_MM,
            PR_SET_MM_MAP_SIZE,
            &mut size as *mut u32,
            0u64,
            0u64,
        )
    })?;
    Ok(size)
}

static FPU_PROBE_SIZE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

static FPU_PROBE_FEATURES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// What the kernel puts in this process's signal frames: the xstate size
/// and the feature mask from `fx_sw_bytes`, read in a handler for a
/// self-sent SIGURG. `None`: legacy fxsave frames only.
pub fn probe_sigframe_fpu() -> Option<(u32, u64)> {
    use std::sync::atomic::Ordering::Relaxed;
    // SAFETY: a local sigaction pointing at a handler that only reads its
    // own frame; the previous action is restored right after the signal.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = fpu_probe_handler as *const () as usize;
        act.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut act.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGURG, &act, &mut old) != 0 {
            return None;
        }
        let mut unblock: libc::sigset_t = std::mem::zeroed();
        let mut oldmask: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut unblock);
        libc::sigaddset(&mut unblock, libc::SIGURG);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &unblock, &mut oldmask);
        libc::raise(libc::SIGURG);
        libc::pthread_sigmask(libc::SIG_SETMASK, &oldmask, std::ptr::null_mut());
        libc::sigaction(libc::SIGURG, &old, std::ptr::null_mut());
    }
    match FPU_PROBE_SIZE.load(Relaxed) {
        0 => None,
        size => Some((size, FPU_PROBE_FEATURES.load(Relaxed))),
    }
}

extern "C" fn fpu_probe_handler(_sig: i32, _info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    use std::sync::atomic::Ordering::Relaxed;
    // SAFETY: the kernel passes a ucontext_t for SA_SIGINFO handlers; its
    // fpregs pointer is either NULL or the frame's fpstate, whose software
    // reserved bytes (fx_sw_bytes) sit at offset 464 of the fxsave area.
    unsafe {
        let uc = ctx as *const libc::ucontext_t;
        let fp = (*uc).uc_mcontext.fpregs as *const u8;
        if fp.is_null() {
            return;
        }
        let sw = fp.add(464);
        let magic1 = std::ptr::read_unaligned(sw as *const u32);
        if magic1 != 0x4650_5853 {
            return;
        }
        let features = std::ptr::read_unaligned(sw.add(8) as *const u64);
        let size = std::ptr::read_unaligned(sw.add(16) as *const u32);
        FPU_PROBE_FEATURES.store(features, Relaxed);
        FPU_PROBE_SIZE.store(size, Relaxed);
    }
}
