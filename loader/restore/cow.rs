//! Private memory a parent and its child share copy-on-write, kept
//! shared, as CRIU does: a child's private VMA at the same addresses as
//! one of its parent's, of the same kind (anonymous or the same file,
//! grows-down alike) and the same executable, is taken over from the
//! parent's premap, which the parent fills before forking its children.
//! The child then writes only the pages its image has that differ from
//! the parent's, and drops those the parent's image has and its own does
//! not. A page the two never wrote since the fork stays one page.

use crate::images::flags::PAGE;
use crate::images::pagemap::PageRun;
use crate::mem::plan::{Inherit, Premap};

use super::task::TaskPlan;

/// Marks every premap a child takes over from its parent: `inherit` in
/// the child, `passed_on` in the parent.
pub(crate) fn plan(plans: &mut [TaskPlan]) {
    let parents = super::task::parents(plans);
    for (c, parent) in parents.into_iter().enumerate() {
        let Some(p) = parent else {
            continue;
        };
        if plans[p].task.mm.exe_file_id != plans[c].task.mm.exe_file_id {
            continue;
        }
        let mut taken = Vec::new();
        for (ci, v) in plans[c].mem.premaps.iter().enumerate() {
            let Some(key) = v.cow else { continue };
            let parent = &plans[p].mem;
            // Premaps are in address order.
            let pi = parent.premaps.partition_point(|q| q.start < v.start);
            let Some(q) = parent.premaps.get(pi) else {
                continue;
            };
            if q.start != v.start || q.len != v.len || q.cow != Some(key) {
                continue;
            }
            let drops = minus(
                &present_in(&plans[p].task.runs, q),
                &present_in(&plans[c].task.runs, v),
            );
            taken.push((ci, pi, q.slot, drops));
        }
        for (ci, pi, parent_slot, drops) in taken {
            plans[p].mem.premaps[pi].passed_on = true;
            plans[c].mem.premaps[ci].inherit = Some(Inherit { parent_slot, drops });
        }
    }
}

/// The ranges of `v` (offsets in it) that present pages of `runs` cover,
/// in order.
fn present_in(runs: &[PageRun], v: &Premap) -> Vec<(u64, u64)> {
    let end = v.start + v.len;
    let mut out: Vec<(u64, u64)> = runs
        .iter()
        .filter(|r| r.file_off.is_some())
        .filter_map(|r| {
            let s = r.vaddr.max(v.start);
            let e = (r.vaddr + r.nr_pages * PAGE).min(end);
            (s < e).then(|| (s - v.start, e - v.start))
        })
        .collect();
    out.sort_unstable();
    out
}

/// The parts of sorted ranges `a` that no range of sorted `b` covers.
fn minus(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for &(mut s, e) in a {
        for &(bs, be) in b {
            if bs >= e || be <= s {
                continue;
            }
            if bs > s {
                out.push((s, bs));
            }
            s = s.max(be);
        }
        if s < e {
            out.push((s, e));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::minus;

    #[test]
    fn ranges_minus_ranges() {
        assert_eq!(minus(&[(0, 10)], &[]), vec![(0, 10)]);
        assert_eq!(
            minus(&[(0, 10)], &[(2, 4), (6, 8)]),
            vec![(0, 2), (4, 6), (8, 10)]
        );
        assert_eq!(minus(&[(0, 4), (6, 10)], &[(2, 7)]), vec![(0, 2), (7, 10)]);
        assert_eq!(minus(&[(2, 4)], &[(0, 10)]), vec![]);
    }
}
