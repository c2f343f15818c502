//! The server's bookkeeping for `--lazy-pages`, pure logic: which
//! dumped pages each address space still waits for, and where its dumped
//! ranges are now.

use crate::images::flags::PAGE;

use super::super::task::TaskPlan;
use super::lazy_slots;

/// Where one range of a task's dumped memory is now: `len` bytes at
/// `cur` that were dumped at `dumped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Region {
    pub(super) cur: u64,
    pub(super) dumped: u64,
    pub(super) len: u64,
}

/// The dumped pages one task's address space (or a child forked from it)
/// still waits for.
#[derive(Clone)]
pub(super) struct Space {
    pub(super) task: usize,
    pub(super) regions: Vec<Region>,
    /// One bit per lazy page of the task (`Pages::runs` order): not in yet.
    pub(super) pending: Vec<u64>,
    pub(super) left: u64,
    /// Where the background pass goes on.
    pub(super) cursor: u64,
}

/// A task's lazily served pages: its runs (dumped address, pages, file
/// offset, index of the first page) and its pages file, mapped.
pub(super) struct Pages {
    pub(super) runs: Vec<(u64, u64, u64, u64)>,
    pub(super) total: u64,
    pub(super) map: u64,
    /// Each thread's stack and instruction pointers.
    pub(super) hot: Vec<(u64, u64)>,
}

impl Pages {
    /// The page index of dumped address `d`, if it is a lazy page.
    pub(super) fn index(&self, d: u64) -> Option<u64> {
        let i = self.runs.partition_point(|r| r.0 <= d).checked_sub(1)?;
        let (v, n, _, first) = self.runs[i];
        (d < v + n * PAGE).then(|| first + (d - v) / PAGE)
    }

    /// The dumped address and file offset of page `idx`, with the pages
    /// left in its run from there.
    pub(super) fn page(&self, idx: u64) -> (u64, u64, u64) {
        let i = self.runs.partition_point(|r| r.3 <= idx) - 1;
        let (v, n, off, first) = self.runs[i];
        let k = idx - first;
        (v + k * PAGE, off + k * PAGE, n - k)
    }
}

impl Space {
    pub(super) fn is_pending(&self, idx: u64) -> bool {
        self.pending[(idx / 64) as usize] & (1 << (idx % 64)) != 0
    }

    pub(super) fn clear(&mut self, idx: u64) {
        let w = &mut self.pending[(idx / 64) as usize];
        if *w & (1 << (idx % 64)) != 0 {
            *w &= !(1 << (idx % 64));
            self.left -= 1;
        }
    }

    /// The dumped address of current address `a`.
    pub(super) fn dumped_of(&self, a: u64) -> Option<(u64, Region)> {
        self.regions
            .iter()
            .find(|r| a >= r.cur && a < r.cur + r.len)
            .map(|r| (r.dumped + (a - r.cur), *r))
    }

    /// The current address of dumped address `d`.
    pub(super) fn cur_of(&self, d: u64) -> Option<(u64, Region)> {
        self.regions
            .iter()
            .find(|r| d >= r.dumped && d < r.dumped + r.len)
            .map(|r| (r.cur + (d - r.dumped), *r))
    }

    /// Splits the regions at `a` and `b` (current addresses), so that
    /// each lies wholly inside or outside `[a, b)`.
    pub(super) fn split(&mut self, a: u64, b: u64) {
        let mut out = Vec::with_capacity(self.regions.len() + 2);
        for r in &self.regions {
            let mut r = *r;
            for cut in [a, b] {
                if cut > r.cur && cut < r.cur + r.len {
                    let head = cut - r.cur;
                    out.push(Region { len: head, ..r });
                    r = Region {
                        cur: cut,
                        dumped: r.dumped + head,
                        len: r.len - head,
                    };
                }
            }
            out.push(r);
        }
        self.regions = out;
    }

    /// `[start, end)` lost its pages (emptied or unmapped): none of them
    /// is served any more; if `gone`, the range is no longer there.
    pub(super) fn drop_range(&mut self, pages: &Pages, start: u64, end: u64, gone: bool) {
        self.split(start, end);
        let inside = |r: &Region| r.cur >= start && r.cur + r.len <= end;
        for r in self
            .regions
            .iter()
            .filter(|r| inside(r))
            .copied()
            .collect::<Vec<_>>()
        {
            let mut d = r.dumped;
            while d < r.dumped + r.len {
                if let Some(idx) = pages.index(d) {
                    self.clear(idx);
                }
                d += PAGE;
            }
        }
        if gone {
            self.regions.retain(|r| !inside(r));
        }
    }

    /// `[from, from + len)` moved to `to`.
    pub(super) fn remap(&mut self, from: u64, to: u64, len: u64) {
        self.split(from, from + len);
        for r in &mut self.regions {
            if r.cur >= from && r.cur + r.len <= from + len {
                r.cur = r.cur - from + to;
            }
        }
    }
}

/// A new task's space: its lazy slots where they are premapped, all its
/// lazy pages pending.
pub(super) fn new_space(i: usize, plan: &TaskPlan, pg: &Pages) -> Space {
    let regions = lazy_slots(plan)
        .into_iter()
        .map(|(at, start, len)| Region {
            cur: at,
            dumped: start,
            len,
        })
        .collect();
    let words = pg.total.div_ceil(64) as usize;
    let mut pending = vec![u64::MAX; words];
    if !pg.total.is_multiple_of(64) {
        pending[words - 1] = (1u64 << (pg.total % 64)) - 1;
    }
    Space {
        task: i,
        regions,
        pending,
        left: pg.total,
        cursor: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two runs of a task: 4 pages at 0x10000 and 2 at 0x20000, premapped
    /// at 0x90000 and 0xa0000.
    fn setup() -> (Pages, Space) {
        let pages = Pages {
            runs: vec![(0x10000, 4, 0, 0), (0x20000, 2, 4 * PAGE, 4)],
            total: 6,
            map: 0,
            hot: Vec::new(),
        };
        let space = Space {
            task: 0,
            regions: vec![
                Region {
                    cur: 0x90000,
                    dumped: 0x10000,
                    len: 4 * PAGE,
                },
                Region {
                    cur: 0xa0000,
                    dumped: 0x20000,
                    len: 2 * PAGE,
                },
            ],
            pending: vec![0b11_1111],
            left: 6,
            cursor: 0,
        };
        (pages, space)
    }

    #[test]
    fn pages_are_found_by_dumped_address() {
        let (pages, _) = setup();
        assert_eq!(pages.index(0x10000 + PAGE), Some(1));
        assert_eq!(pages.index(0x20000 + PAGE), Some(5));
        assert_eq!(pages.index(0x14000), None);
        assert_eq!(pages.index(0x0fff), None);
        assert_eq!(pages.page(5), (0x20000 + PAGE, 5 * PAGE, 1));
    }

    #[test]
    fn a_move_of_part_of_a_region_is_followed() {
        let (_, mut s) = setup();
        // The blob moves the first slot home; then the task moves its
        // second page elsewhere.
        s.remap(0x90000, 0x10000, 4 * PAGE);
        assert_eq!(s.dumped_of(0x10000 + 2 * PAGE).map(|d| d.0), Some(0x12000));
        s.remap(0x11000, 0x50000, PAGE);
        assert_eq!(s.dumped_of(0x50000).map(|d| d.0), Some(0x11000));
        assert_eq!(s.cur_of(0x11000).map(|c| c.0), Some(0x50000));
        assert_eq!(s.cur_of(0x12000).map(|c| c.0), Some(0x12000));
        assert_eq!(s.dumped_of(0x11000), None);
    }

    #[test]
    fn emptied_and_unmapped_pages_are_not_served() {
        let (pages, mut s) = setup();
        // MADV_DONTNEED of dumped pages 1-2 where they are premapped.
        s.drop_range(&pages, 0x91000, 0x93000, false);
        assert!(!s.is_pending(1) && !s.is_pending(2));
        assert!(s.is_pending(0) && s.is_pending(3));
        assert_eq!(s.left, 4);
        // The range stays (a touch gets zeroes)...
        assert!(s.dumped_of(0x91000).is_some());
        // ...but an unmapped one goes.
        s.drop_range(&pages, 0xa0000, 0xa2000, true);
        assert_eq!(s.left, 2);
        assert!(s.dumped_of(0xa0000).is_none());
        // Clearing twice counts once.
        s.clear(0);
        s.clear(0);
        assert_eq!(s.left, 1);
    }
}
