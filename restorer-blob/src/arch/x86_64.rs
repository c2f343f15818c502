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
