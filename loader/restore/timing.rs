//! Where a restore's time goes, task by task: the marks each task left in
//! its status slot (`restorer_blob::MARK_*`, written by the loader code in
//! the child and by the blob) turned into the stages between them, for
//! `-v4` and for `stats-restore`.

use restorer_blob::*;

use crate::log::DEBUG;

/// The stages between two marks, in the order a task passes them: a
/// name, the mark it starts at and the mark it ends at.
const STAGES: [(&str, usize, usize); 12] = [
    ("forking", MARK_START, MARK_FORKED),
    ("premap", MARK_FORKED, MARK_PREMAPPED),
    ("fill", MARK_PREMAPPED, MARK_FILLED),
    ("files", MARK_FILLED, MARK_ENTER),
    ("unmap", MARK_ENTER, MARK_UNMAPPED),
    ("mremap", MARK_UNMAPPED, MARK_REMAPPED),
    ("mm", MARK_REMAPPED, MARK_MM),
    ("signals", MARK_MM, MARK_SIGNALS),
    ("threads", MARK_SIGNALS, MARK_THREADS),
    ("tree", MARK_THREADS, MARK_TREE),
    ("creds", MARK_TREE, MARK_CREDS),
    ("finish", MARK_CREDS, MARK_DONE),
];

/// One task's stage durations in nanoseconds, in `STAGES` order (0
/// where a mark is missing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskTimes {
    pub ns: [u64; STAGES.len()],
    /// When the task started and when it was done (its first and last
    /// marks).
    pub start: u64,
    pub done: u64,
}

impl TaskTimes {
    /// From a task's marks, taken on a clock `skew` ns ahead of ours
    /// (its time namespace's offset).
    pub fn from_marks(m: &[u64; MARKS], skew: i128) -> TaskTimes {
        let ours = |t: u64| (t as i128 - skew).max(0) as u64;
        TaskTimes {
            ns: STAGES.map(|(_, a, b)| match (m[a], m[b]) {
                (a, b) if a != 0 && b >= a => b - a,
                _ => 0,
            }),
            start: ours(m[MARK_START]),
            done: ours(m[MARK_DONE]),
        }
    }

    fn of(&self, name: &str) -> u64 {
        STAGES
            .iter()
            .position(|s| s.0 == name)
            .map_or(0, |i| self.ns[i])
    }

    /// Premapping the VMAs (after the fork).
    pub fn premap(&self) -> u64 {
        self.of("premap")
    }

    /// Reading the pages into them.
    pub fn fill(&self) -> u64 {
        self.of("fill")
    }

    /// The blob's own work: from its entry to the end, less the waits for
    /// the rest of the tree.
    pub fn blob(&self) -> u64 {
        [
            "unmap", "mremap", "mm", "signals", "threads", "creds", "finish",
        ]
        .iter()
        .map(|s| self.of(s))
        .sum()
    }

    /// The waits for the rest of the tree, in the blob.
    pub fn waits(&self) -> u64 {
        self.of("tree")
    }

    /// One line for the log: every stage in microseconds.
    pub fn line(&self) -> String {
        let parts: Vec<String> = STAGES
            .iter()
            .zip(self.ns)
            .map(|((name, _, _), ns)| format!("{name} {}", us(ns)))
            .collect();
        parts.join(", ")
    }
}

/// Nanoseconds as microseconds, with one decimal.
fn us(ns: u64) -> String {
    format!("{}.{}", ns / 1000, ns % 1000 / 100)
}

/// Sums of the stages over the tree, in microseconds, for stats-restore.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TreeTimes {
    pub premap_us: u32,
    pub fill_us: u32,
    pub blob_us: u32,
    pub waits_us: u32,
    /// From `start` (CLOCK_MONOTONIC, ns) until the last task was forked.
    pub forking_us: u32,
}

impl TreeTimes {
    pub fn of(tasks: &[TaskTimes], start: u64, forked: u64) -> TreeTimes {
        let sum = |f: fn(&TaskTimes) -> u64| (tasks.iter().map(f).sum::<u64>() / 1000) as u32;
        TreeTimes {
            premap_us: sum(TaskTimes::premap),
            fill_us: sum(TaskTimes::fill),
            blob_us: sum(TaskTimes::blob),
            waits_us: sum(TaskTimes::waits),
            forking_us: (forked.saturating_sub(start) / 1000) as u32,
        }
    }
}

/// The stages of the `n` tasks of the tree whose root is `root` (our
/// pid), from their marks.
pub fn of_tree(n: usize, marks: impl Fn(usize) -> [u64; MARKS], root: i32) -> Vec<TaskTimes> {
    // The tasks' clock is their time namespace's, which may run ahead.
    let skew = crate::ns::timens_offset(root, "monotonic");
    (0..n)
        .map(|i| TaskTimes::from_marks(&marks(i), skew))
        .collect()
}

/// Logs each task's stages (`pids`: their dumped pids) and when the
/// loader saw the last one done (`start_ns`, `noticed_ns`: the restore's
/// start and that moment, on our clock); the sums for stats-restore.
pub fn report(pids: &[u32], times: &[TaskTimes], start_ns: u64, noticed_ns: u64) -> TreeTimes {
    for (pid, t) in pids.iter().zip(times) {
        crate::log!(DEBUG, "pid {pid}: {} (us)", t.line());
    }
    let last_done = times.iter().map(|t| t.done).max().unwrap_or(0);
    crate::log!(
        DEBUG,
        "every task done {} us after the start; the loader saw it {} us later",
        last_done.saturating_sub(start_ns) / 1000,
        noticed_ns.saturating_sub(last_done) / 1000
    );
    let forked = times.iter().map(|t| t.ns[0] + t.start).max().unwrap_or(0);
    TreeTimes::of(times, start_ns, forked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_from_marks() {
        let mut m = [0u64; MARKS];
        for (i, v) in m.iter_mut().enumerate() {
            *v = 1_000_000 + 1000 * (i as u64 * i as u64);
        }
        let t = TaskTimes::from_marks(&m, 0);
        // fill: marks 2 -> 3, (9 - 4) us
        assert_eq!(t.fill(), 5000);
        assert_eq!(t.waits(), (100 - 81) * 1000);
        assert_eq!(t.start, 1_000_000);
        assert!(t.line().starts_with("forking 1.0, premap 3.0, fill 5.0"));
        // A mark the task never reached makes its stages 0, not garbage.
        m[MARK_FILLED] = 0;
        let t = TaskTimes::from_marks(&m, 1000);
        assert_eq!(t.start, 999_000);
        assert_eq!((t.fill(), t.of("files")), (0, 0));
    }
}
