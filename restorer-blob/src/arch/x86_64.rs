//! The calls that never return, as `asm!` with `options(noreturn)`.

use core::arch::asm;

/// Ends the process with `code`.
pub fn exit_group(code: u32) -> ! {
    // SAFETY: exit_group takes no memory and never returns.
    unsafe {
        asm!(
            "syscall",
            in("rax") 231usize,
            in("rdi") code as usize,
            options(noreturn, nostack)
        )
    }
}

/// Switches to the registers in the `struct rt_sigframe` at `frame`.
///
/// # Safety
/// `frame` must be a complete frame built by the loader whose memory stays
/// mapped until the kernel has read it; nothing of the blob runs afterwards.
pub unsafe fn rt_sigreturn(frame: u64) -> ! {
    // The kernel reads the frame at `rsp - 8` (it expects `pretcode` to
    // have been popped by the handler's `ret`).
    // SAFETY: forwarded to the caller.
    unsafe {
        asm!(
            "mov rsp, {sp}",
            "mov eax, 15",
            "syscall",
            sp = in(reg) frame + 8,
            options(noreturn)
        )
    }
}

/// Stops in the tracer with SIGTRAP (`int3`).
pub fn breakpoint() {
    // SAFETY: int3 only raises SIGTRAP, which the loader's ptrace catches.
    unsafe { asm!("int3", options(nomem, nostack)) }
}

/// `clone3(args, 88)` for a thread: in the new thread, on the stack given
/// in `args`, calls `f(a0, a1)`, which never returns. Returns the new tid
/// or a negative errno in the calling thread.
///
/// # Safety
/// `args` is a complete `struct clone_args` (11 u64) whose stack is
/// writable memory no one else uses.
pub unsafe fn clone_thread(
    args: &[u64; 11],
    f: extern "C" fn(u64, u64) -> !,
    a0: u64,
    a1: u64,
) -> i64 {
    let ret: i64;
    // SAFETY: forwarded to the caller. The child gets a copy of the
    // registers, so r12-r14 carry f and its arguments across.
    unsafe {
        asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "mov rsi, r13",
            "and rsp, -16",
            "call r14",
            "ud2",
            "2:",
            inlateout("rax") 435i64 => ret,
            in("rdi") args.as_ptr(),
            in("rsi") 88usize,
            in("r12") a0,
            in("r13") a1,
            in("r14") f,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack)
        )
    };
    ret
}
