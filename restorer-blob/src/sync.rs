//! Counters and words of the block and the shared page that threads
//! and the loader wait on with futexes.

use core::sync::atomic::{AtomicU32, Ordering};
use restorer_blob::*;

use crate::sys;

/// Whether the loader traces this task, once it has said so.
pub fn tracer_word(status: &Status) -> u32 {
    loop {
        // SAFETY: tracer is an aligned u32 in the shared page.
        let v = unsafe { core::ptr::read_volatile(&status.tracer) };
        if v != TRACER_UNKNOWN {
            return v;
        }
        // SAFETY: as above; a spurious or failed wait just loops.
        unsafe { sys::futex_wait(&status.tracer, TRACER_UNKNOWN) };
    }
}

/// Takes one off the counter `word` of the block and wakes its waiter.
pub fn count_down(word: &u32) {
    let at = word as *const u32 as *mut u32;
    // SAFETY: the counter is an aligned u32 of the writable block, which
    // every thread changes only through this atomic.
    let n = unsafe { AtomicU32::from_ptr(at) };
    n.fetch_sub(1, Ordering::SeqCst);
    // SAFETY: as above.
    unsafe { sys::futex_wake(word) };
}

/// Waits until the counter `word` of the block is 0.
pub fn wait_zero(word: &u32) {
    loop {
        // SAFETY: an aligned u32 of the block, changed atomically.
        let left = unsafe { core::ptr::read_volatile(word) };
        if left == 0 {
            return;
        }
        // SAFETY: as above; a spurious wake just loops.
        unsafe { sys::futex_wait(word, left) };
    }
}
