//! The memory functions the compiler may call. The prebuilt compiler_builtins
//! for this target exports none of them. Each loop carries an empty `asm!`
//! so LLVM cannot recognise the loop as a `memcpy` and call itself.

use core::arch::asm;

/// # Safety
/// `dst` and `src` valid for `n` bytes and not overlapping.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    let mut i = 0;
    while i < n {
        // SAFETY: i < n, both valid for n bytes (caller).
        unsafe { *dst.add(i) = *src.add(i) };
        // SAFETY: an empty asm block touches nothing.
        unsafe { asm!("", options(nomem, nostack, preserves_flags)) };
        i += 1;
    }
    dst
}

/// # Safety
/// `dst` and `src` valid for `n` bytes; they may overlap.
#[no_mangle]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize) <= (src as usize) {
        // SAFETY: copying forwards never reads a byte already overwritten
        // when dst is below src.
        return unsafe { memcpy(dst, src, n) };
    }
    let mut i = n;
    while i > 0 {
        i -= 1;
        // SAFETY: i < n, both valid for n bytes (caller).
        unsafe { *dst.add(i) = *src.add(i) };
        // SAFETY: an empty asm block touches nothing.
        unsafe { asm!("", options(nomem, nostack, preserves_flags)) };
    }
    dst
}

/// # Safety
/// `dst` valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    let mut i = 0;
    while i < n {
        // SAFETY: i < n, dst valid for n bytes (caller).
        unsafe { *dst.add(i) = c as u8 };
        // SAFETY: an empty asm block touches nothing.
        unsafe { asm!("", options(nomem, nostack, preserves_flags)) };
        i += 1;
    }
    dst
}

/// # Safety
/// `a` and `b` valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // SAFETY: i < n, both valid for n bytes (caller).
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return x as i32 - y as i32;
        }
        // SAFETY: an empty asm block touches nothing.
        unsafe { asm!("", options(nomem, nostack, preserves_flags)) };
        i += 1;
    }
    0
}

/// # Safety
/// As `memcmp`.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: forwarded to the caller.
    unsafe { memcmp(a, b, n) }
}
