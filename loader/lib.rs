//! crest: checkpoint/restore for Linux processes in CRIU's image format.
//!
//! The loader (this crate) reads and checks images, plans the restore and
//! forks the tasks; the restorer blob (crate `restorer-blob`, embedded by
//! build.rs) finishes each task from the inside. `unsafe` is confined to
//! five named modules: `sys` (the system call wrappers; those that can
//! replace, unmap or write memory, or fork, are `unsafe fn`), `blob`
//! (installing and entering the blob), and in `restore`: `hole` (the
//! reservation and the shared status area), `premap` (mapping and filling
//! each task's memory) and `tree` (forking tasks with their pids).
#![deny(unsafe_code)]
// The schema macros recurse once per field and step (images/desc.rs).
#![recursion_limit = "512"]

pub mod arch;
#[allow(unsafe_code)]
pub mod blob;
pub mod cgroup;
pub mod cli;
pub mod creds;
pub mod dump;
pub mod files;
pub mod images;
pub mod ipc;
pub mod kerndat;
pub mod log;
pub mod mem;
pub mod mnt;
pub mod net;
pub mod ns;
pub mod proc;
pub mod pstree;
pub mod ptrace;
pub mod restore;
pub mod scripts;
pub mod seccomp;
pub mod show;
pub mod signals;
pub mod sockets;
pub mod stats;
#[allow(unsafe_code)]
pub mod sys;
pub mod timers;
