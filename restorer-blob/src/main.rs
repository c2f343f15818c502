//! crest's restorer blob: position-independent, `no_std`, no allocation.
//!
//! The loader maps this blob into the task being restored, applies its
//! `R_X86_64_RELATIVE` relocations, writes a [`TaskArgs`] block beside it and
//! jumps to `__export_restore_task` on a stack inside the blob's mapping. From
//! then on only raw system calls run, in a fixed order (see `restore`): the
//! loader has already made every decision, this code only walks its arrays.
//!
//! Failure has one exit: the entry function stores the stage and errno in
//! the status word shared with the loader, wakes it and calls `exit_group`.
#![no_std]
#![no_main]

mod arch {
    pub mod x86_64;
}
mod creds;
mod mem;
mod seccomp;
mod stage;
mod sync;
mod sys;

use core::mem::{align_of, size_of};
use restorer_blob::*;
use stage::{arrive, tree, wait_stage};
use sync::{count_down, tracer_word, wait_zero};

/// Why the restore stopped: the stage and the positive errno.
#[derive(Clone, Copy)]
pub struct Failure {
    pub stage: u32,
    pub errno: u32,
    pub detail: u64,
}

impl Failure {
    fn at(stage: u32) -> impl Fn(syscalls::Errno) -> Failure {
        move |e| Failure {
            stage,
            errno: e.into_raw() as u32,
            detail: 0,
        }
    }
}

/// The argument block, with bound-checked access to its arrays.
struct Args<'a> {
    task: &'a TaskArgs,
    base: usize,
}

impl<'a> Args<'a> {
    fn array<T>(&self, a: Array) -> Result<&'a [T], Failure> {
        let bad = Failure {
            stage: STAGE_ENTRY,
            errno: sys::EINVAL,
            detail: a.off,
        };
        let bytes = a.count.checked_mul(size_of::<T>() as u64).ok_or(bad)?;
        let end = a.off.checked_add(bytes).ok_or(bad)?;
        if end > self.task.total_size as u64 || a.off % align_of::<T>() as u64 != 0 {
            return Err(bad);
        }
        // SAFETY: the range lies inside the argument block (checked above
        // against total_size, which the loader mapped), is aligned for T,
        // and T is a plain #[repr(C)] integer struct valid for any bytes.
        Ok(unsafe {
            core::slice::from_raw_parts((self.base + a.off as usize) as *const T, a.count as usize)
        })
    }

    fn addr(&self, off: u64) -> u64 {
        self.base as u64 + off
    }
}

/// Notes the time this task passed point `at` (`MARK_*`) in its status
/// slot, for the loader's stage timings.
fn mark(t: &TaskArgs, at: usize) {
    let now = sys::monotonic_ns();
    // SAFETY: t.status is this task's slot in the shared page, kept by the
    // unmap sweep until right before rt_sigreturn; `at` < MARKS (a constant).
    unsafe { core::ptr::write_volatile(&mut (*(t.status as *mut Status)).marks[at], now) };
}

fn fault(args: &TaskArgs, stage: u32) -> Result<(), Failure> {
    if args.fault == stage {
        return Err(Failure {
            stage,
            errno: sys::EINVAL,
            detail: u64::MAX,
        });
    }
    Ok(())
}

/// The restore proper. Returns the address of the signal frame to return
/// through. The order matters where noted.
fn restore(args: &Args) -> Result<u64, Failure> {
    let t = args.task;
    let threads: &[ThreadArgs] = args.array(t.threads)?;
    let me = threads.first().ok_or(Failure {
        stage: STAGE_ENTRY,
        errno: sys::EINVAL,
        detail: 0,
    })?;

    // 1. Drop every mapping the loader left behind (its binary, heap,
    //    stacks, vdso), keeping only our own mapping, the premapped VMAs
    //    and the status page. Nothing of the loader may run after this.
    fault(t, STAGE_ENTRY)?;
    fault(t, STAGE_UNMAP)?;
    let keep: &[Range] = args.array(t.keep)?;
    let mut from = 0u64;
    for r in keep {
        if r.start > from {
            // SAFETY: the gap holds only loader memory, which nothing
            // below uses: the blob, its arguments and stack are in `keep`.
            unsafe { sys::munmap(from, r.start - from) }.map_err(|e| Failure {
                detail: from,
                ..Failure::at(STAGE_UNMAP)(e)
            })?;
        }
        from = from.max(r.end);
    }
    mark(t, MARK_UNMAPPED);

    // 2. Move every VMA premapped in a slot (not in place) to its dumped
    //    address. The loader chose premap slots outside all dumped ranges,
    //    so no move clobbers another.
    let vmas: &[VmaMove] = args.array(t.vmas)?;
    if vmas.is_empty() {
        // Everything was premapped in place: the injected fault has no
        // move to spoil.
        fault(t, STAGE_REMAP)?;
    }
    for (i, v) in vmas.iter().enumerate() {
        let dst = if i == 0 && t.fault == STAGE_REMAP {
            v.dst | 1 // fault injection: a misaligned target, refused by the kernel
        } else {
            v.dst
        };
        // SAFETY: src is a premapped slot (in `keep`), dst a dumped range
        // that the sweep emptied; neither overlaps the blob.
        unsafe { sys::mremap_fixed(v.src, v.len, dst) }.map_err(|e| Failure {
            detail: v.dst,
            ..Failure::at(STAGE_REMAP)(e)
        })?;
    }
    mark(t, MARK_REMAPPED);

    // 3. The running kernel's vvar/vdso where the dumped ones were. This
    //    fails with EEXIST while the loader's vdso is mapped, hence after 1.
    if t.vdso.mode == VDSO_MAP {
        fault(t, STAGE_VDSO)?;
        // SAFETY: the range is free (the sweep emptied it and no dumped
        // VMA overlaps the dumped vdso, checked by the loader).
        unsafe { sys::arch_prctl(sys::ARCH_MAP_VDSO_64, t.vdso.vvar_start) }
            .map_err(Failure::at(STAGE_VDSO))?;
    }

    // 4. mm fields and the exe link. PR_SET_MM_MAP refuses a new exe file
    //    (EBUSY) while the old one is still mapped, hence after 1.
    fault(t, STAGE_MM)?;
    let auxv: &[u64] = args.array(t.auxv)?;
    let mut mm = t.mm;
    mm.auxv = auxv.as_ptr() as u64;
    mm.auxv_size = (auxv.len() * size_of::<u64>()) as u32;
    // SAFETY: mm's auxv pointer refers to the argument block, valid for
    // auxv_size bytes (the array just read from it).
    unsafe { sys::set_mm_map(&mm) }.map_err(Failure::at(STAGE_MM))?;
    if t.close_fd != u32::MAX {
        sys::close(t.close_fd).map_err(Failure::at(STAGE_MM))?;
    }
    mark(t, MARK_MM);

    // 5. Signal handlers. All signals stay blocked (the loader blocked them
    //    before entering) until rt_sigreturn installs the dumped mask.
    fault(t, STAGE_SIGACTION)?;
    let acts: &[SigAction] = args.array(t.sigactions)?;
    // SIGCHLD's comes in its own stage, once every task is restored.
    for a in acts.iter().filter(|a| a.sig != SIGCHLD) {
        // SAFETY: handler..mask of SigAction is the kernel's sigaction.
        unsafe { sys::rt_sigaction(a.sig, &a.handler as *const u64 as *const u8) }.map_err(
            |e| Failure {
                detail: a.sig as u64,
                ..Failure::at(STAGE_SIGACTION)(e)
            },
        )?;
    }

    // 6. Interval timers, resource limits, the task name.
    fault(t, STAGE_ITIMER)?;
    let itimers: &[Itimer] = args.array(t.itimers)?;
    for it in itimers {
        // SAFETY: the four u64 after `which` are a struct itimerval.
        unsafe { sys::setitimer(it.which, &it.interval_sec) }.map_err(Failure::at(STAGE_ITIMER))?;
    }
    fault(t, STAGE_RLIMIT)?;
    let rlimits: &[Rlimit] = args.array(t.rlimits)?;
    for r in rlimits {
        // SAFETY: cur and max are a struct rlimit64.
        unsafe { sys::prlimit64(r.resource, &r.cur) }.map_err(|e| Failure {
            detail: r.resource as u64,
            ..Failure::at(STAGE_RLIMIT)(e)
        })?;
    }
    // 7. Process-wide pending signals go back into their queue while
    //    everything is still blocked, so none is delivered before the
    //    threads' rt_sigreturn.
    fault(t, STAGE_SIGQUEUE)?;
    let shared: &[PendingSignal] = args.array(t.shared_signals)?;
    for s in shared {
        // SAFETY: siginfo is 128 bytes.
        unsafe { sys::rt_sigqueueinfo(sys::getpid(), s.sig, s.siginfo.as_ptr()) }
            .map_err(Failure::at(STAGE_SIGQUEUE))?;
    }
    mark(t, MARK_SIGNALS);

    // 8. The other threads, with their dumped tids: each restores its own
    //    state (restore_thread) and returns into its registers. Before the
    //    credentials change: clone3 with set_tid needs CAP_SYS_ADMIN.
    for (i, th) in threads.iter().enumerate().skip(1) {
        fault(t, STAGE_CLONE)?;
        let stack_top = args.addr(th.stack_top);
        let clone = [
            CLONE_THREAD_FLAGS,
            0,
            0,
            0,
            0, // exit_signal: none for a thread
            stack_top - THREAD_STACK_SIZE,
            THREAD_STACK_SIZE,
            0,
            &th.tid as *const u32 as u64,
            1,
            0,
        ];
        // SAFETY: clone is a complete clone_args; the new thread starts on
        // its own stack in the blob's mapping and never returns.
        let r =
            unsafe { arch::x86_64::clone_thread(&clone, thread_main, args.base as u64, i as u64) };
        if r < 0 {
            return Err(Failure {
                stage: STAGE_CLONE,
                errno: (-r) as u32,
                detail: u64::from(th.tid),
            });
        }
    }
    //    POSIX timers once every thread exists: one may signal a given
    //    thread (SIGEV_THREAD_ID), which timer_create wants alive.
    posix_timers(args)?;
    mark(t, MARK_THREADS);
    // 9. The tree's stages: every task is restored but for SIGCHLD and
    //    credentials; then SIGCHLD's action; then every thread's
    //    credentials (the threads wait for this stage themselves).
    arrive(t, TREE_RESTORE);
    for a in acts.iter().filter(|a| a.sig == SIGCHLD) {
        // SAFETY: as in step 5.
        unsafe { sys::rt_sigaction(a.sig, &a.handler as *const u64 as *const u8) }.map_err(
            |e| Failure {
                detail: a.sig as u64,
                ..Failure::at(STAGE_SIGACTION)(e)
            },
        )?;
    }
    arrive(t, TREE_RESTORE_SIGCHLD);
    mark(t, MARK_TREE);

    // 10. This thread's own state, as every other thread does.
    restore_thread(args, me, true)
}

const SIGCHLD: u32 = 17;

/// The state of one thread, in its own context, in this order:
/// 1. TLS bases (not part of the signal frame), the robust futex list and
///    clear_child_tid (a forked loader's still point into its TLS);
/// 2. its name and its pending signals, while all signals are blocked;
/// 3. credentials, which are per thread, after everything that needs
///    CAP_SYS_ADMIN, with no_new_privs; seccomp around them (`seccomp`);
/// 4. rseq, which the kernel starts writing on the next return to user.
///
/// Returns the address of the thread's signal frame.
fn restore_thread(args: &Args, me: &ThreadArgs, first: bool) -> Result<u64, Failure> {
    let t = args.task;
    fault(t, STAGE_THREAD)?;
    // SAFETY: the bases are the dumped ones; nothing in the blob uses TLS.
    unsafe { sys::arch_prctl(sys::ARCH_SET_FS, me.fs_base) }.map_err(Failure::at(STAGE_THREAD))?;
    // SAFETY: as above.
    unsafe { sys::arch_prctl(sys::ARCH_SET_GS, me.gs_base) }.map_err(Failure::at(STAGE_THREAD))?;
    if me.robust_list != 0 {
        // SAFETY: the dumped list head lives in the restored memory.
        unsafe { sys::set_robust_list(me.robust_list, me.robust_list_len) }
            .map_err(Failure::at(STAGE_THREAD))?;
    }
    // SAFETY: the dumped clear_child_tid lives in the restored memory.
    unsafe { sys::set_tid_address(me.clear_tid) };
    fault(t, STAGE_NAME)?;
    sys::set_name(&me.comm).map_err(Failure::at(STAGE_NAME))?;

    fault(t, STAGE_SIGQUEUE)?;
    let (pid, tid) = (sys::getpid(), sys::gettid());
    let private: &[PendingSignal] = args.array(me.signals)?;
    for s in private {
        // SAFETY: siginfo is 128 bytes.
        unsafe { sys::rt_tgsigqueueinfo(pid, tid, s.sig, s.siginfo.as_ptr()) }
            .map_err(Failure::at(STAGE_SIGQUEUE))?;
    }

    // Credentials only once the whole tree is there (the first thread
    // opens this stage for the task with its own arrival).
    wait_stage(t, TREE_RESTORE_CREDS);
    // Before the credentials: a real-time class or a lower nice value
    // needs CAP_SYS_NICE.
    fault(t, STAGE_SCHED)?;
    sys::sched_set(me.sched_policy, me.sched_prio).map_err(Failure::at(STAGE_SCHED))?;
    // Real-time threads keep a nice value too, for a later return to a
    // normal class.
    sys::set_nice(me.sched_nice).map_err(Failure::at(STAGE_SCHED))?;
    let has_seccomp = me.seccomp.count != 0 || t.seccomp_strict != 0;
    if first && has_seccomp {
        // Only once the loader traces us (seccomp suspended), or knows it
        // cannot: then the filters bind the rest of the restore.
        // SAFETY: t.status is this task's slot in the shared page.
        let status = unsafe { &*(t.status as *const Status) };
        if tracer_word(status) != TRACER_ATTACHED {
            return Err(Failure {
                stage: STAGE_SECCOMP,
                errno: sys::EPERM,
                detail: 0,
            });
        }
        // Filters for every thread (TSYNC) once the others have their
        // credentials: they are not traced, the filters would bind them.
        if t.seccomp_tsync != 0 {
            wait_zero(&t.creds_left);
        }
        seccomp::restore(args, t, me.seccomp)?;
    }
    fault(t, STAGE_CREDS)?;
    creds::restore(args, &me.creds)?;
    if first {
        mark(t, MARK_CREDS);
    }
    // A change of credentials clears the parent-death signal: it goes on
    // after them.
    fault(t, STAGE_PDEATHSIG)?;
    if me.pdeath_sig != 0 {
        sys::set_pdeath_signal(me.pdeath_sig).map_err(Failure::at(STAGE_PDEATHSIG))?;
    }
    if !first {
        count_down(&t.creds_left);
        if t.seccomp_tsync == 0 {
            seccomp::restore(args, t, me.seccomp)?;
        }
    }

    fault(t, STAGE_RSEQ)?;
    if me.rseq.len != 0 {
        // SAFETY: the dumped rseq area lives in the restored memory.
        unsafe { sys::rseq_register(me.rseq.ptr, me.rseq.len, me.rseq.sig) }
            .map_err(Failure::at(STAGE_RSEQ))?;
    }
    fault(t, STAGE_SIGRETURN)?;
    Ok(args.addr(me.sigframe))
}

/// clone3 flags of a thread: one address space, descriptors, fs info,
/// signal handlers and SysV undo list.
const CLONE_THREAD_FLAGS: u64 = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000;

/// Where a cloned thread starts, on its own stack: restore its state and
/// return into its registers, or report the failure for the whole task.
extern "C" fn thread_main(base: u64, index: u64) -> ! {
    // SAFETY: base is the block the first thread was entered with, and it
    // stays mapped until every thread has left (threads_left).
    let t = unsafe { &*(base as *const TaskArgs) };
    let args = Args {
        task: t,
        base: base as usize,
    };
    let result = args
        .array::<ThreadArgs>(t.threads)
        .and_then(|ths| {
            ths.get(index as usize).ok_or(Failure {
                stage: STAGE_ENTRY,
                errno: sys::EINVAL,
                detail: index,
            })
        })
        .and_then(|me| restore_thread(&args, me, false));
    match result {
        Ok(frame) => {
            // Nobody runs its own code before the whole tree is complete.
            wait_stage(t, TREE_COMPLETE);
            count_down(&t.threads_left);
            // SAFETY: the loader built this thread's frame in the block.
            unsafe { arch::x86_64::rt_sigreturn(frame) }
        }
        Err(f) => fail_task(t, f),
    }
}

/// POSIX timers with their dumped ids: with PR_TIMER_CREATE_RESTORE_IDS on,
/// timer_create takes the id to create from its id argument. Signals stay
/// blocked, so a timer that expires before rt_sigreturn only queues.
fn posix_timers(args: &Args) -> Result<(), Failure> {
    let timers: &[PosixTimer] = args.array(args.task.posix_timers)?;
    if timers.is_empty() {
        return Ok(());
    }
    fault(args.task, STAGE_POSIX_TIMER)?;
    let fail = Failure::at(STAGE_POSIX_TIMER);
    sys::timer_create_restore_ids(true).map_err(&fail)?;
    for tm in timers {
        // struct sigevent: sigev_value, sigev_signo, sigev_notify, then
        // the union whose first member is the thread id; 64 bytes.
        let mut sev = [0u64; 8];
        sev[0] = tm.sival;
        sev[1] = u64::from(tm.signo) | u64::from(tm.notify) << 32;
        sev[2] = u64::from(tm.notify_tid);
        let mut id = tm.id as i32;
        // SAFETY: sev is a complete sigevent, id a local.
        unsafe { sys::timer_create(tm.clock_id, sev.as_ptr(), &mut id) }.map_err(|e| Failure {
            detail: u64::from(tm.id),
            ..fail(e)
        })?;
        if id as u32 != tm.id {
            return Err(Failure {
                stage: STAGE_POSIX_TIMER,
                errno: sys::EEXIST, // the kernel handed out another id
                detail: u64::from(tm.id),
            });
        }
        let spec = [
            tm.interval_sec,
            tm.interval_nsec,
            tm.value_sec,
            tm.value_nsec,
        ];
        // SAFETY: spec is a struct itimerspec.
        unsafe { sys::timer_settime(tm.id, spec.as_ptr()) }.map_err(&fail)?;
    }
    sys::timer_create_restore_ids(false).map_err(&fail)?;
    Ok(())
}

/// The one exit for failures of any thread: the stage and errno go to the
/// shared status page, the loader is woken, the whole task ends.
fn fail_task(t: &TaskArgs, f: Failure) -> ! {
    // SAFETY: the status page was mapped shared by the loader and is kept
    // until every thread is done.
    let status = unsafe { &mut *(t.status as *mut Status) };
    status.stage = f.stage;
    status.errno = f.errno;
    status.detail = f.detail;
    // SAFETY: state is an aligned u32 in the shared page.
    unsafe { core::ptr::write_volatile(&mut status.state, STATE_FAILED) };
    // SAFETY: as above.
    unsafe { sys::futex_wake(&status.state) };
    // The loader may be asleep on the stage count instead.
    let (_, left, _) = tree(t);
    // SAFETY: left is a live u32 of the shared area.
    unsafe { sys::futex_wake(left.as_ptr()) };
    arch::x86_64::exit_group(1)
}

/// Entered by `__export_restore_task` on the blob's own stack.
extern "C" fn restore_task_main(task: *const TaskArgs) -> ! {
    // SAFETY: the loader passes the address of the block it wrote, aligned,
    // readable and at least size_of::<TaskArgs>() long.
    let t = unsafe { &*task };
    let result = if t.abi_version != ABI_VERSION || (t.total_size as usize) < size_of::<TaskArgs>()
    {
        Err(Failure {
            stage: STAGE_ENTRY,
            errno: sys::EINVAL,
            detail: t.abi_version as u64,
        })
    } else {
        restore(&Args {
            task: t,
            base: task as usize,
        })
    };
    match result {
        Ok(frame) => {
            arrive(t, TREE_RESTORE_CREDS);
            // Every thread is past its wait for COMPLETE and on its way
            // out: only then may the status page go and the loader take
            // the blob away.
            loop {
                // SAFETY: threads_left is an aligned u32 of the block,
                // which the threads decrement atomically.
                let left = unsafe { core::ptr::read_volatile(&t.threads_left) };
                if left == 0 {
                    break;
                }
                // SAFETY: as above; a spurious wake just loops.
                unsafe { sys::futex_wait(&t.threads_left, left) };
            }
            // The loader says whether it traces us right after the fork;
            // by now it almost always has.
            mark(t, MARK_DONE);
            // SAFETY: the status page was mapped shared by the loader, its
            // address put in the block, and it is kept by the unmap sweep.
            let status = unsafe { &mut *(t.status as *mut Status) };
            let tracer = tracer_word(status);
            // SAFETY: state is an aligned u32 in the shared page.
            unsafe { core::ptr::write_volatile(&mut status.state, STATE_DONE) };
            // SAFETY: as above.
            unsafe { sys::futex_wake(&status.state) };
            // The status page is the loader's; it must not outlive the
            // restore. Nothing reads it after this.
            // SAFETY: status_len covers the shared page only.
            let _ = unsafe { sys::munmap(t.status_area, t.status_len) };
            if tracer == TRACER_ATTACHED {
                // The tracing loader takes over from here: it lets the
                // rt_sigreturn below run, then unmaps this blob.
                arch::x86_64::breakpoint();
            }
            // SAFETY: the frame was built by the loader in our argument
            // block, which stays mapped.
            unsafe { arch::x86_64::rt_sigreturn(frame) }
        }
        Err(f) => fail_task(t, f),
    }
}

/// An exported entry point in its own section (`.text.<name>`, which
/// ld/restorer.ld keeps): aligns the stack and calls `main` with `rdi` as
/// the loader set it; never returns.
macro_rules! entry {
    ($(#[$doc:meta])* $name:ident => $main:ident) => {
        $(#[$doc])*
        #[no_mangle]
        #[unsafe(naked)]
        #[link_section = concat!(".text.", stringify!($name))]
        pub extern "C" fn $name() -> ! {
            core::arch::naked_asm!("and rsp, -16", "call {main}", "ud2", main = sym $main)
        }
    };
}

entry! {
    /// The restore entry: `rdi` = the `TaskArgs` block, `rsp` = the top of
    /// the blob's stack.
    __export_restore_task => restore_task_main
}

/// A lone `syscall` for the loader to point `rip` at when it makes the
/// restored task unmap this blob (see loader/restore/finish.rs).
#[no_mangle]
#[unsafe(naked)]
#[link_section = ".text.__export_syscall"]
pub extern "C" fn __export_syscall() -> ! {
    core::arch::naked_asm!("syscall", "ud2")
}

/// What the self-test does, through a function-pointer table so that the
/// blob needs (and the loader must apply) an `R_X86_64_RELATIVE`.
static SELFTEST_STEPS: [fn(&SelftestArgs); 2] = [selftest_store, selftest_store_not];

fn selftest_store(a: &SelftestArgs) {
    // SAFETY: the test passes a writable u64 address.
    unsafe { core::ptr::write_volatile(a.out as *mut u64, a.value) };
}

fn selftest_store_not(a: &SelftestArgs) {
    // SAFETY: the test passes a writable u64 address.
    unsafe { core::ptr::write_volatile(a.out as *mut u64, !a.value) };
}

extern "C" fn selftest_main(a: *const SelftestArgs) -> ! {
    // SAFETY: the test passes a valid SelftestArgs.
    let a = unsafe { &*a };
    let step = SELFTEST_STEPS[(a.code & 1) as usize];
    step(a);
    arch::x86_64::exit_group(a.code)
}

entry! {
    /// The pipeline self-test entry: `rdi` = a `SelftestArgs`.
    __export_selftest => selftest_main
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: ud2 traps; nothing returns from here.
    unsafe { core::arch::asm!("ud2", options(noreturn)) }
}
