//! The hole: one range of address space free in the loader's and every
//! dumped layout, reserved before the first fork so that every task
//! inherits it, laid out as
//!
//! ```text
//! [status area][premap area][blob][args][stack] ... [proxied vdso's replacement]
//! ```
//!
//! The status area is shared (`MAP_SHARED`): slot `i` (`SLOT` bytes)
//! holds task `i`'s `restorer_blob::Status`, which its blob or the loader
//! code in the child writes and the loader waits on as a futex; after the
//! slots, `MSG_LEN` bytes take a loader-side error message from a child.
//! This module is one of the few allowed `unsafe`: every access to the
//! area goes through [`StatusArea`], whose mapping lives as long as the
//! [`Reservation`] it borrows.

use std::mem::offset_of;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use restorer_blob::{Status, STATE_FAILED};

use crate::sys;

use super::RestoreError;

/// Bytes per task in the status area.
pub const SLOT: u64 = 64;
/// Room after the slots for a loader-side error message from a child.
pub const MSG_LEN: u64 = 2048;

const _: () = assert!(size_of::<Status>() as u64 <= SLOT);
const _: () = assert!(offset_of!(Status, detail) % 8 == 0);

/// The address-space reservation for the restore (`PROT_NONE`), released
/// on drop.
pub struct Reservation {
    at: u64,
    len: u64,
}

impl Reservation {
    /// Reserves `[at, at + len)`, which must be free: `MAP_FIXED_NOREPLACE`
    /// never replaces a mapping.
    pub fn new(at: u64, len: u64) -> Result<Reservation, RestoreError> {
        sys::mmap(
            at,
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE
                | libc::MAP_ANONYMOUS
                | libc::MAP_NORESERVE
                | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
        .map_err(|e| RestoreError::sys(0, format!("reserving {len} bytes at {at:#x}"), e))?;
        Ok(Reservation { at, len })
    }

    /// The first address past the reservation.
    pub fn end(&self) -> u64 {
        self.at + self.len
    }

    /// Whether `[at, at + len)` lies inside the reservation.
    pub fn holds(&self, at: u64, len: u64) -> bool {
        at >= self.at && at.checked_add(len).is_some_and(|e| e <= self.at + self.len)
    }

    /// Maps the shared status area for `tasks` tasks at the start of the
    /// reservation, zeroed (every task `STATE_RUNNING`).
    pub fn status_area(&self, tasks: usize) -> Result<StatusArea<'_>, RestoreError> {
        let len = StatusArea::len(tasks);
        if !self.holds(self.at, len) {
            return Err(RestoreError::System(format!(
                "status area of {len} bytes does not fit the reservation"
            )));
        }
        // SAFETY: the range lies in our reservation (checked just above),
        // which holds nothing but PROT_NONE pages no Rust code uses.
        unsafe {
            sys::mmap_fixed(
                self.at,
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        }
        .map_err(|e| RestoreError::sys(0, "mapping the status area", e))?;
        Ok(StatusArea {
            at: self.at,
            tasks,
            _reservation: self,
        })
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        // SAFETY: the range is ours (reserved in `new`); every StatusArea
        // borrowing it is gone, and the premapped memory in it belongs to
        // the children, not to this process.
        let _ = unsafe { sys::munmap(self.at, self.len) };
    }
}

/// The shared status area, valid while its reservation lives.
pub struct StatusArea<'r> {
    at: u64,
    tasks: usize,
    _reservation: &'r Reservation,
}

impl StatusArea<'_> {
    /// Bytes of the area for `tasks` tasks, page aligned.
    pub fn len(tasks: usize) -> u64 {
        crate::blob::page_up(SLOT * tasks as u64 + MSG_LEN)
    }

    /// Address of task `i`'s slot (for the blob's arguments).
    pub fn slot_at(&self, i: usize) -> u64 {
        self.at + SLOT * i as u64
    }

    fn msg_at(&self) -> u64 {
        self.at + SLOT * self.tasks as u64
    }

    fn word(&self, i: usize, offset: usize) -> &AtomicU32 {
        assert!(i < self.tasks, "status slot {i} of {}", self.tasks);
        // SAFETY: the word lies in slot i < tasks of the mapping made by
        // Reservation::status_area, which outlives self; the offset is a
        // u32 field of Status (aligned, as the slot is); other processes
        // write it only as a whole u32.
        unsafe { &*((self.slot_at(i) + offset as u64) as *const AtomicU32) }
    }

    /// Task `i`'s `STATE_*`.
    pub fn state(&self, i: usize) -> u32 {
        self.word(i, offset_of!(Status, state))
            .load(Ordering::Acquire)
    }

    /// In a child: records task `i`'s pid in the loader's pid namespace.
    pub fn set_host_pid(&self, i: usize, pid: u32) {
        self.word(i, offset_of!(Status, host_pid))
            .store(pid, Ordering::Release);
    }

    /// Task `i`'s pid in the loader's pid namespace (0: not known yet).
    pub fn host_pid(&self, i: usize) -> u32 {
        self.word(i, offset_of!(Status, host_pid))
            .load(Ordering::Acquire)
    }

    /// In the root (task `i`): says it reached its gate, and waits until
    /// the loader opens it.
    pub fn wait_at_gate(&self, i: usize) {
        let w = self.word(i, offset_of!(Status, gate));
        w.store(restorer_blob::GATE_REACHED, Ordering::Release);
        sys::futex_wake(w);
        while w.load(Ordering::Acquire) != restorer_blob::GATE_OPEN {
            sys::futex_wait(w, restorer_blob::GATE_REACHED, 100_000_000);
        }
    }

    /// In the loader: waits until task `i` (our pid `pid`) reached its
    /// gate; an error if it failed, died or took longer than `timeout`.
    pub fn wait_gate_reached(
        &self,
        i: usize,
        pid: i32,
        timeout: std::time::Duration,
    ) -> Result<(), String> {
        let deadline = std::time::Instant::now() + timeout;
        let w = self.word(i, offset_of!(Status, gate));
        loop {
            if w.load(Ordering::Acquire) == restorer_blob::GATE_REACHED {
                return Ok(());
            }
            if self.state(i) == STATE_FAILED {
                return Err(self.message());
            }
            if crate::proc::Stat::read(pid).is_ok_and(|s| s.state == 'Z') {
                return Err(format!("pid {pid} died before its namespaces were ready"));
            }
            if std::time::Instant::now() > deadline {
                return Err(format!(
                    "pid {pid}: its namespaces were not ready within {} s",
                    timeout.as_secs()
                ));
            }
            sys::futex_wait(w, restorer_blob::GATE_NONE, 1_000_000);
        }
    }

    /// In the loader: lets task `i` go on from its gate.
    pub fn open_gate(&self, i: usize) {
        let w = self.word(i, offset_of!(Status, gate));
        w.store(restorer_blob::GATE_OPEN, Ordering::Release);
        sys::futex_wake(w);
    }

    /// Tells task `i`'s blob whether the loader traces it.
    pub fn set_tracer(&self, i: usize, tracer: u32) {
        let w = self.word(i, offset_of!(Status, tracer));
        w.store(tracer, Ordering::Release);
        sys::futex_wake(w);
    }

    /// Sleeps until task `i`'s state differs from `expected`, at most
    /// `timeout_ns`.
    pub fn wait(&self, i: usize, expected: u32, timeout_ns: u64) {
        sys::futex_wait(
            self.word(i, offset_of!(Status, state)),
            expected,
            timeout_ns,
        );
    }

    /// What task `i` reported on failure: (stage, errno, detail).
    pub fn failure(&self, i: usize) -> (u32, u32, u64) {
        let stage = self
            .word(i, offset_of!(Status, stage))
            .load(Ordering::Acquire);
        let errno = self
            .word(i, offset_of!(Status, errno))
            .load(Ordering::Acquire);
        // SAFETY: as in `word`, for the aligned u64 field `detail`.
        let detail = unsafe {
            &*((self.slot_at(i) + offset_of!(Status, detail) as u64) as *const AtomicU64)
        };
        (stage, errno, detail.load(Ordering::Acquire))
    }

    /// The loader-side message a child left (stage 0 failures).
    pub fn message(&self) -> String {
        // SAFETY: MSG_LEN bytes after the slots lie in the area (`len`);
        // the failed child wrote them before setting its state, and
        // nothing writes them any more.
        let msg = unsafe { sys::read_mem(self.msg_at(), MSG_LEN as usize) };
        let end = msg.iter().position(|&b| b == 0).unwrap_or(msg.len());
        String::from_utf8_lossy(&msg[..end]).into_owned()
    }

    /// In a child: records that task `i` failed before its blob ran, with
    /// `msg`, and wakes the loader.
    pub fn report(&self, i: usize, msg: &str) {
        let mut bytes = msg.as_bytes().to_vec();
        bytes.truncate(MSG_LEN as usize - 1);
        bytes.push(0);
        // SAFETY: at most MSG_LEN bytes into the message room of the area;
        // only a failing child writes it, once, before exiting.
        unsafe { sys::write_mem(self.msg_at(), &bytes) };
        self.word(i, offset_of!(Status, stage))
            .store(0, Ordering::Release);
        let state = self.word(i, offset_of!(Status, state));
        state.store(STATE_FAILED, Ordering::Release);
        sys::futex_wake(state);
    }
}
