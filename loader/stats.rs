//! CRIU's statistics images (images/stats.proto): `stats-dump` beside a
//! complete image set, `stats-restore` in the work directory. A failure to
//! write one is a warning: the dump or restore itself succeeded.

use std::path::Path;
use std::time::Duration;

use crate::images::magic::STATS_MAGIC;
use crate::images::schema::{DumpStatsEntry, RestoreStatsEntry, StatsEntry};
use crate::images::ImageWriter;
use crate::log::{DEBUG, WARN};
use crate::restore::images::TaskImages;
use crate::restore::timing::TreeTimes;

/// Writes one statistics image to `path`.
fn write(path: &Path, stats: &StatsEntry) {
    let mut w = ImageWriter::new(STATS_MAGIC);
    w.push(stats);
    if let Err(e) = std::fs::write(path, w.into_bytes()) {
        crate::log!(WARN, "{}: {e}", path.display());
    }
}

/// `stats-dump` in the image directory `dir`.
pub fn write_dump(dir: &Path, dump: DumpStatsEntry) {
    let stats = StatsEntry {
        dump: Some(dump),
        restore: None,
    };
    write(&dir.join("stats-dump"), &stats);
}

/// CRIU's stats-restore image, in the work directory (default: the image
/// directory, unless that is read-only, as the shared fixtures are).
pub fn write_restore(
    work_dir: Option<&Path>,
    dir: &Path,
    elapsed: Duration,
    tasks: &[&TaskImages],
    times: &TreeTimes,
) {
    use std::os::unix::fs::PermissionsExt;
    let work = work_dir.unwrap_or(dir);
    let writable = std::fs::metadata(work).is_ok_and(|m| m.permissions().mode() & 0o222 != 0);
    if !writable {
        crate::log!(
            DEBUG,
            "{}: read-only, no stats-restore written",
            work.display()
        );
        return;
    }
    let pages: u64 = tasks
        .iter()
        .flat_map(|t| &t.runs)
        .filter(|r| r.file_off.is_some())
        .map(|r| r.nr_pages)
        .sum();
    let stats = StatsEntry {
        dump: None,
        restore: Some(RestoreStatsEntry {
            pages_compared: 0,
            pages_skipped_cow: 0,
            forking_time: times.forking_us,
            restore_time: elapsed.as_micros() as u32,
            pages_restored: Some(pages),
            crest_premap_time: Some(times.premap_us),
            crest_fill_time: Some(times.fill_us),
            crest_blob_time: Some(times.blob_us),
            crest_wait_time: Some(times.waits_us),
        }),
    };
    write(&work.join("stats-restore"), &stats);
}
