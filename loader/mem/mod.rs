//! Memory: VMAs (`vma_entry`), mm fields and pages. `dump` walks a task's
//! maps and page tables and writes its pages; `plan` is the restore's
//! memory plan (which dumped VMAs go where, the hole, shmem and memfd
//! objects), which `restore::premap` carries out in each task. The pages
//! files themselves are `images::pagemap`'s.

pub mod dump;
pub mod plan;
pub mod vmflags;
