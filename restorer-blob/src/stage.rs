//! The tree's lock-step restore stages (`restorer_blob::TreeStage`), as
//! each task's blob takes part in them: it arrives when it has done its
//! part of a stage, the last to arrive opens the next, and it waits.

use core::sync::atomic::{AtomicU32, Ordering};
use restorer_blob::*;

use crate::{arch, sys};

/// The tree's stage word, its count of tasks yet to arrive, and its
/// count of tasks.
pub fn tree(t: &TaskArgs) -> (&AtomicU32, &AtomicU32, u32) {
    let ctl = t.tree as *mut TreeStage;
    // SAFETY: the loader put the address of the tree's TreeStage, in the
    // shared status area, in the block; it stays mapped until this task
    // leaves the blob (every thread waits for COMPLETE before that), and
    // every process changes its words only atomically (`tasks` never).
    unsafe {
        (
            AtomicU32::from_ptr(core::ptr::addr_of_mut!((*ctl).stage)),
            AtomicU32::from_ptr(core::ptr::addr_of_mut!((*ctl).left)),
            core::ptr::read_volatile(core::ptr::addr_of!((*ctl).tasks)),
        )
    }
}

/// Waits until the tree's stage is at least `stage`. A failed restore
/// (TREE_FAIL) ends the task here, quietly: the loader reports the task
/// that failed and kills the tree.
pub fn wait_stage(t: &TaskArgs, stage: u32) {
    let (word, _, _) = tree(t);
    loop {
        let now = word.load(Ordering::Acquire);
        if now == TREE_FAIL {
            arch::x86_64::exit_group(1);
        }
        if now >= stage {
            return;
        }
        // SAFETY: word is a live u32 of the shared area; a spurious wake
        // just loops.
        unsafe { sys::futex_wait(word.as_ptr(), now) };
    }
}

/// This task has done its part of `stage`: it counts itself out, opens
/// the next stage if it was the last, and waits for the next stage.
pub fn arrive(t: &TaskArgs, stage: u32) {
    let (word, left, tasks) = tree(t);
    if left.fetch_sub(1, Ordering::AcqRel) == 1 {
        left.store(tasks, Ordering::Release);
        // Not over TREE_FAIL, should the loader have set it meanwhile.
        let _ = word.compare_exchange(stage, stage + 1, Ordering::AcqRel, Ordering::Acquire);
        // SAFETY: word is a live u32 of the shared area.
        unsafe { sys::futex_wake_all(word.as_ptr()) };
    }
    wait_stage(t, stage + 1);
}
