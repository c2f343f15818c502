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
//! slots, the tree's `TreeStage` (the lock-step stages) and two counters
//! of tasks sharing descriptor tables (`TableWord`), then `MSG_LEN` bytes
//! take a loader-side error message from a child.
//! This module is one of the few allowed `unsafe`: every access to the
//! area goes through [`StatusArea`], whose mapping lives as long as the
//! [`Reservation`] it borrows.

use std::mem::offset_of;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use restorer_blob::{Status, TreeStage, MARKS, STATE_FAILED, TREE_FAIL};

use crate::sys;

use super::RestoreError;

/// Bytes per task in the status area.
pub const SLOT: u64 = 192;
/// Room after the slots for the tree's stage words.
const TREE_LEN: u64 = 64;
/// Room after those for a loader-side error message from a child.
pub const MSG_LEN: u64 = 2048;

const _: () = assert!(size_of::<Status>() as u64 <= SLOT);
const _: () = assert!(size_of::<TreeStage>() as u64 + TABLE_WORDS_LEN <= TREE_LEN);
/// The table counters, after the `TreeStage`.
const TABLE_WORDS_LEN: u64 = 8;
const _: () = assert!(offset_of!(Status, detail) % 8 == 0);
const _: () = assert!(offset_of!(Status, marks) % 8 == 0);

/// The two counters of tasks whose descriptor table is shared
/// (`super::fdt`).
#[derive(Clone, Copy)]
pub enum TableWord {
    /// Tasks sharing their parent's table, yet to be done with their
    /// own descriptors (memory premapped).
    Sharers = 0,
    /// Tasks whose table others share, yet to install its descriptors.
    Owners = 1,
}

/// Flags of the reservation's PROT_NONE mappings.
pub(crate) const RESERVE: i32 = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;

/// The address-space reservation for the restore (`PROT_NONE`), released
/// on drop.
pub struct Reservation {
    at: u64,
    len: u64,
    /// Dumped VMAs' own ranges, reserved for premapping them in place.
    in_place: Vec<(u64, u64)>,
}

impl Reservation {
    /// Reserves `[at, at + len)`, which must be free: `MAP_FIXED_NOREPLACE`
    /// never replaces a mapping.
    pub fn new(at: u64, len: u64) -> Result<Reservation, RestoreError> {
        sys::mmap(
            at,
            len,
            libc::PROT_NONE,
            RESERVE | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
        .map_err(|e| RestoreError::sys(0, format!("reserving {len} bytes at {at:#x}"), e))?;
        Ok(Reservation {
            at,
            len,
            in_place: Vec::new(),
        })
    }

    /// Reserves a dumped VMA's range `[at, at + len)` as well, if it is
    /// free here (none of the loader's mappings is there). Mapped in the
    /// task's premap, it then needs no move in the blob.
    pub fn reserve_in_place(&mut self, at: u64, len: u64) -> bool {
        let flags = RESERVE | libc::MAP_FIXED_NOREPLACE;
        match sys::mmap(at, len, libc::PROT_NONE, flags, -1, 0) {
            Ok(got) if got == at => {
                self.in_place.push((at, len));
                true
            }
            Ok(got) => {
                // An old kernel without MAP_FIXED_NOREPLACE placed it
                // elsewhere: not ours to use.
                // SAFETY: `got` is the mapping just made, used by nothing.
                let _ = unsafe { sys::munmap(got, len) };
                false
            }
            Err(_) => false,
        }
    }

    /// The first address past the reservation.
    pub fn end(&self) -> u64 {
        self.at + self.len
    }

    /// Whether `[at, at + len)` lies inside the reservation.
    pub fn holds(&self, at: u64, len: u64) -> bool {
        let inside =
            |(s, l): (u64, u64)| at >= s && at.checked_add(len).is_some_and(|e| e <= s + l);
        inside((self.at, self.len)) || self.in_place.iter().any(|&r| inside(r))
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
        for &(at, len) in &self.in_place {
            // SAFETY: as above, for a range reserved in `reserve_in_place`.
            let _ = unsafe { sys::munmap(at, len) };
        }
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
        crate::blob::page_up(SLOT * tasks as u64 + TREE_LEN + MSG_LEN)
    }

    /// Address of task `i`'s slot (for the blob's arguments).
    pub fn slot_at(&self, i: usize) -> u64 {
        self.at + SLOT * i as u64
    }

    fn msg_at(&self) -> u64 {
        self.tree_at() + TREE_LEN
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

    /// In a child: task `i` passed point `at` (`restorer_blob::MARK_*`)
    /// now.
    pub fn mark(&self, i: usize, at: usize) {
        self.mark_word(i, at)
            .store(sys::monotonic_ns(), Ordering::Release);
    }

    /// When task `i` passed each `MARK_*` point (CLOCK_MONOTONIC, ns; 0:
    /// it did not).
    pub fn marks(&self, i: usize) -> [u64; MARKS] {
        std::array::from_fn(|at| self.mark_word(i, at).load(Ordering::Acquire))
    }

    fn mark_word(&self, i: usize, at: usize) -> &AtomicU64 {
        assert!(i < self.tasks && at < MARKS, "mark {at} of slot {i}");
        let off = offset_of!(Status, marks) + at * size_of::<u64>();
        // SAFETY: the word lies in slot i < tasks of the mapping (as in
        // `word`), at an 8-aligned offset (asserted below the constants);
        // other processes write it only as a whole u64.
        unsafe { &*((self.slot_at(i) + off as u64) as *const AtomicU64) }
    }

    /// Task `i`'s pid in the loader's pid namespace (0: not known yet).
    pub fn host_pid(&self, i: usize) -> u32 {
        self.word(i, offset_of!(Status, host_pid))
            .load(Ordering::Acquire)
    }

    /// The tree's stage words (after the slots).
    fn tree_words(&self) -> (&AtomicU32, &AtomicU32) {
        let at = self.tree_at();
        // SAFETY: the TreeStage lies right after the slots, inside the
        // mapping (`len` counts it), aligned; other processes change its
        // words only atomically.
        unsafe {
            (
                &*((at + offset_of!(TreeStage, stage) as u64) as *const AtomicU32),
                &*((at + offset_of!(TreeStage, left) as u64) as *const AtomicU32),
            )
        }
    }

    /// Address of the tree's `TreeStage` (for the blob's arguments).
    pub fn tree_at(&self) -> u64 {
        self.at + Self::tree_offset(self.tasks)
    }

    /// Where the tree's `TreeStage` lies in an area for `tasks` tasks.
    pub fn tree_offset(tasks: usize) -> u64 {
        SLOT * tasks as u64
    }

    /// The tree's stage now, and how many tasks have yet to arrive at it.
    pub fn tree_stage(&self) -> (u32, u32) {
        let (stage, left) = self.tree_words();
        (stage.load(Ordering::Acquire), left.load(Ordering::Acquire))
    }

    /// In the loader: opens `stage`, at which `left` of the tree's `tasks`
    /// live tasks will arrive.
    pub fn start_stage(&self, stage: u32, left: u32, tasks: u32) {
        let (s, l) = self.tree_words();
        let at = self.tree_at() + offset_of!(TreeStage, tasks) as u64;
        // SAFETY: `tasks` is an aligned u32 of the TreeStage in our
        // mapping; it is written here only, before the tasks read it.
        unsafe { &*(at as *const AtomicU32) }.store(tasks, Ordering::Release);
        l.store(left, Ordering::Release);
        s.store(stage, Ordering::Release);
        sys::futex_wake_all(s);
    }

    /// In the loader: sleeps until the count of tasks yet to arrive is no
    /// longer `left` (or a task failed, which wakes it too), at most
    /// `timeout_ns`.
    pub fn wait_arrivals(&self, left: u32, timeout_ns: u64) {
        sys::futex_wait(self.tree_words().1, left, timeout_ns);
    }

    /// In a task (loader code): it has done its part of `stage`; counts
    /// itself out and, the last one, opens the next stage as the blob
    /// does (but PREPARE_NAMESPACES, which the loader closes: it is only
    /// woken), then waits for the next stage. A failed restore ends it
    /// here.
    pub fn arrive(&self, stage: u32) {
        let (s, l) = self.tree_words();
        if l.fetch_sub(1, Ordering::AcqRel) == 1 {
            if stage == restorer_blob::TREE_PREPARE_NAMESPACES {
                sys::futex_wake(l);
            } else {
                let at = self.tree_at() + offset_of!(TreeStage, tasks) as u64;
                // SAFETY: as in start_stage.
                let tasks = unsafe { &*(at as *const AtomicU32) }.load(Ordering::Acquire);
                l.store(tasks, Ordering::Release);
                let _ = s.compare_exchange(stage, stage + 1, Ordering::AcqRel, Ordering::Acquire);
                sys::futex_wake_all(s);
            }
        }
        loop {
            let now = s.load(Ordering::Acquire);
            if now == TREE_FAIL {
                sys::exit_now(1);
            }
            if now > stage {
                return;
            }
            sys::futex_wait(s, now, 100_000_000);
        }
    }

    /// In the loader: the restore failed; every task waiting at a stage
    /// ends.
    pub fn fail_tree(&self) {
        let (s, _) = self.tree_words();
        s.store(TREE_FAIL, Ordering::Release);
        sys::futex_wake_all(s);
        sys::futex_wake_all(self.table_word(TableWord::Sharers));
        sys::futex_wake_all(self.table_word(TableWord::Owners));
    }

    fn table_word(&self, which: TableWord) -> &AtomicU32 {
        let at = self.tree_at() + size_of::<TreeStage>() as u64 + which as u64 * 4;
        // SAFETY: the two counters lie right after the TreeStage, inside
        // TREE_LEN (asserted above), aligned; processes change them only
        // atomically.
        unsafe { &*(at as *const AtomicU32) }
    }

    /// In the loader, before the first fork: `count` tasks will count
    /// themselves out of `which`.
    pub fn start_tables(&self, which: TableWord, count: u32) {
        self.table_word(which).store(count, Ordering::Release);
    }

    /// In a task: it counts itself out of `which`, waking its waiters.
    pub fn table_done(&self, which: TableWord) {
        let w = self.table_word(which);
        w.fetch_sub(1, Ordering::AcqRel);
        sys::futex_wake_all(w);
    }

    /// In a task: waits until every task of `which` counted itself out.
    /// A failed restore ends it here.
    pub fn table_wait(&self, which: TableWord) {
        let w = self.table_word(which);
        loop {
            let left = w.load(Ordering::Acquire);
            if left == 0 {
                return;
            }
            if self.tree_stage().0 == TREE_FAIL {
                sys::exit_now(1);
            }
            sys::futex_wait(w, left, 100_000_000);
        }
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
        // The loader may be asleep on the stage count instead.
        sys::futex_wake(self.tree_words().1);
    }
}
