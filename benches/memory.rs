//! Restore latency against memory size, eager and lazy: tests/victims/plain.c
//! with 64 MiB and 1 GiB of touched anonymous memory and the `counter`
//! fixture (9.4 MB), each restored eagerly (time to return, and GB/s of
//! pages) and with `--lazy-pages` (time until the task runs, and until the
//! helper has every page in and exits), beside memcpy into fresh anonymous
//! memory measured in the same run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{median, ms, reap_all, Row};

/// memcpy of `bytes` into fresh (untouched) anonymous memory: GB/s.
pub fn memcpy_gbps(bytes: usize) -> f64 {
    let src = vec![0x5au8; bytes];
    let times: Vec<Duration> = (0..5)
        .map(|_| {
            // alloc_zeroed of this size is a fresh mapping: untouched pages.
            let mut dst = vec![0u8; bytes];
            let t = Instant::now();
            dst.copy_from_slice(&src);
            let d = t.elapsed();
            std::hint::black_box(&dst);
            d
        })
        .collect();
    bytes as f64 / 1e9 / median(times).as_secs_f64()
}

/// Our children but `root`: the lazy-pages server, adopted once crest
/// exits (we are a subreaper).
fn helpers(root: i32) -> Vec<i32> {
    crest::proc::children(std::process::id() as i32)
        .unwrap_or_default()
        .into_iter()
        .filter(|&p| p != root)
        .collect()
}

/// One restore of `dir`; (time to return, time until every page is in:
/// the lazy helper's exit, or the same for an eager one), root pid.
fn restore_once(crest: &str, dir: &Path, opts: &[&str], lazy: bool) -> (Duration, Duration, i32) {
    // Not in `dir`: the fixtures' images are never written to.
    let pidfile = std::env::temp_dir().join(format!("crest-bench-{}.pid", std::process::id()));
    let t = Instant::now();
    let mut cmd = Command::new(crest);
    cmd.args(["restore", "-d", "-D"]).arg(dir).args(opts);
    if lazy {
        cmd.arg("--lazy-pages");
    }
    let out = cmd.arg("--pidfile").arg(&pidfile).output().unwrap();
    let back = t.elapsed();
    assert!(
        out.status.success(),
        "restore {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let root: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut all_in = back;
    for h in helpers(root) {
        let _ = crest::sys::waitpid(h, libc::__WALL);
        all_in = t.elapsed();
    }
    (back, all_in, root)
}

/// Medians over `rounds` of eager and lazy restores of `dir` (`bytes` of
/// pages), interleaved with the baseline.
#[allow(clippy::too_many_arguments)]
fn restore_rows(
    crest: &str,
    name: &str,
    dir: &Path,
    opts: &[&str],
    bytes: u64,
    rounds: usize,
    kill: &dyn Fn(i32),
    baseline: &dyn Fn() -> Duration,
) -> Vec<Row> {
    let (mut base, mut eager, mut lazy_back, mut lazy_in) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        base.push(baseline());
        let (e, _, root) = restore_once(crest, dir, opts, false);
        eager.push(e);
        kill(root);
        let (b, i, root) = restore_once(crest, dir, opts, true);
        lazy_back.push(b);
        lazy_in.push(i);
        kill(root);
    }
    let b = ms(median(base));
    let row = |what: &str, v: Vec<Duration>| Row {
        case: name.to_string(),
        what: what.to_string(),
        bytes,
        ms: ms(median(v)),
        base_ms: b,
    };
    vec![
        row("restore, eager", eager),
        row("restore --lazy-pages: task runs", lazy_back),
        row("restore --lazy-pages: every page in", lazy_in),
    ]
}

/// Starts plain.c with `mib` MiB and dumps it (which ends it) into a new
/// directory under `tmp`.
fn dump_plain(crest: &str, bin: &Path, tmp: &Path, mib: u32) -> PathBuf {
    let out = tmp.join(format!("plain-{mib}-out"));
    let pid = super::start_plain(bin, &out, mib);
    let dir = tmp.join(format!("plain-{mib}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let o = Command::new(crest)
        .args(["dump", "-t", &pid.to_string(), "-D"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = crest::sys::waitpid(pid, 0);
    reap_all();
    dir
}

/// The rows of this part: counter (fixture), 64 MiB and 1 GiB.
pub fn memory_bench(crest: &str, fixtures: &Path, baseline: &dyn Fn() -> Duration) -> Vec<Row> {
    let tmp = std::env::temp_dir().join(format!("crest-bench-mem-{}", std::process::id()));
    let bin = super::plain_victim();
    let kill = |root: i32| {
        let _ = crest::sys::kill(root, libc::SIGKILL);
        let _ = crest::sys::waitpid(root, 0);
        reap_all();
    };
    let counter = fixtures.join("counter/images");
    let pages = |dir: &Path| -> u64 {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("pages-"))
            .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
            .sum()
    };
    let mut rows = restore_rows(
        crest,
        "counter",
        &counter,
        &[],
        pages(&counter),
        15,
        &kill,
        baseline,
    );
    for (mib, rounds) in [(64u32, 7usize), (1024, 3)] {
        let dir = dump_plain(crest, &bin, &tmp, mib);
        let name = if mib < 1024 {
            format!("{mib} MiB")
        } else {
            format!("{} GiB", mib / 1024)
        };
        rows.extend(restore_rows(
            crest,
            &name,
            &dir,
            &["--shell-job"],
            pages(&dir),
            rounds,
            &kill,
            baseline,
        ));
    }
    let _ = std::fs::remove_dir_all(&tmp);
    rows
}
