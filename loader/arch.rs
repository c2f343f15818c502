//! Facts of the one architecture crest supports, x86_64.

/// Highest user address on x86_64 with 4-level page tables.
pub const TASK_SIZE: u64 = 0x7fff_ffff_f000;
