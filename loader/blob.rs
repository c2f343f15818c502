//! The restorer blob embedded by build.rs, and the three unsafe steps of
//! using it: mapping it, relocating it in place, and jumping into it.
//!
//! Hazards: the blob is position independent only after its
//! `R_X86_64_RELATIVE` slots hold `base + addend` (rust-lld leaves 0 in the
//! slots, so they are written, not adjusted); and once entered it unmaps
//! everything of ours, so `enter` never returns.

use std::io;

mod generated {
    include!(concat!(env!("OUT_DIR"), "/blob.rs"));
}
pub use generated::{
    BLOB, BLOB_MEM_SIZE, RELOCS, RESTORE_TASK_OFFSET, SELFTEST_OFFSET, SYSCALL_OFFSET,
};

pub const PAGE: u64 = 4096;

pub fn page_up(n: u64) -> u64 {
    n.div_ceil(PAGE) * PAGE
}

/// Size of the blob's code and data, page aligned.
pub fn code_size() -> u64 {
    page_up(BLOB_MEM_SIZE as u64)
}

/// Copies the blob to `base` and applies its relocations for that address.
///
/// # Safety
/// `[base, base + code_size())` is a writable mapping of the caller's that
/// nothing else uses.
pub unsafe fn install(base: u64) {
    // SAFETY: the caller's range holds code_size() >= BLOB.len() bytes,
    // and every relocation offset lies inside the blob (build.rs checked
    // them against its sections).
    unsafe {
        crate::sys::write_mem(base, &BLOB);
        for &(off, addend) in RELOCS.iter() {
            crate::sys::write_mem(base + off, &(base + addend).to_ne_bytes());
        }
    }
}

/// Makes the installed blob's code executable (and read-only).
///
/// # Safety
/// `base` is where [`install`] put the blob; nothing writes there after.
pub unsafe fn seal(base: u64) -> io::Result<()> {
    // SAFETY: forwarded to the caller: the range is the blob's mapping.
    unsafe { crate::sys::mprotect(base, code_size(), libc::PROT_READ | libc::PROT_EXEC) }
}

/// Jumps to the blob entry at `base + entry` with `arg` in `rdi` and the
/// stack pointer at `stack_top`.
///
/// # Safety
/// The blob must be installed and sealed at `base`, `arg` must point to the
/// argument block that entry expects, and `stack_top` must be the top of a
/// writable region the blob may use. Nothing of the caller runs afterwards.
#[allow(unsafe_code)]
pub unsafe fn enter(base: u64, entry: usize, arg: u64, stack_top: u64) -> ! {
    // SAFETY: forwarded to the caller.
    unsafe {
        std::arch::asm!(
            "mov rsp, {sp}",
            "xor ebp, ebp",
            "jmp {entry}",
            sp = in(reg) stack_top,
            entry = in(reg) base + entry as u64,
            in("rdi") arg,
            options(noreturn)
        )
    }
}

/// Plain `#[repr(C)]` integer structs of the blob ABI, which have no
/// padding bytes and are valid for any bit pattern.
///
/// # Safety
/// Only for types whose every byte is a field (explicit `_pad` fields
/// included), so viewing them as bytes reads no uninitialised memory.
pub unsafe trait Abi: Copy {}

// SAFETY: each of these is #[repr(C)] with only integer fields, and its
// size equals the sum of its fields (asserted in restorer-blob's lib.rs,
// where explicit `_pad` fields fill every hole).
unsafe impl Abi for restorer_blob::TaskArgs {}
// SAFETY: as above.
unsafe impl Abi for restorer_blob::ThreadArgs {}
// SAFETY: as above.
unsafe impl Abi for restorer_blob::VmaMove {}
// SAFETY: as above.
unsafe impl Abi for restorer_blob::Range {}
// SAFETY: as above.
unsafe impl Abi for restorer_blob::SigAction {}
// SAFETY: as above.
unsafe impl Abi for restorer_blob::Rlimit {}
// SAFETY: as above.
unsafe impl Abi for restorer_blob::Itimer {}
// SAFETY: as above.
unsafe impl Abi for restorer_blob::PendingSignal {}
// SAFETY: as above.
unsafe impl Abi for restorer_blob::PosixTimer {}
// SAFETY: as above.
unsafe impl Abi for restorer_blob::SeccompFilter {}
// SAFETY: as above.
unsafe impl Abi for restorer_blob::SelftestArgs {}
// SAFETY: a u64 is 8 plain bytes.
unsafe impl Abi for u64 {}
// SAFETY: a u32 is 4 plain bytes.
unsafe impl Abi for u32 {}

/// The bytes of an ABI value, to copy into the argument block.
pub fn abi_bytes<T: Abi>(v: &[T]) -> &[u8] {
    // SAFETY: T: Abi has no padding and no invalid bit patterns, and the
    // slice's memory is valid for size_of_val(v) bytes.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
}
