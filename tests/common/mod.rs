//! The test harness shared by the integration tests: a serial lock (the
//! restores share pids), a child subreaper with checks that nothing
//! survives, and writable copies of the shared fixtures.
#![allow(dead_code)]

pub mod cc;
pub mod crit;
pub mod victim;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

pub static SERIAL: Mutex<()> = Mutex::new(());
static SUBREAPER: Once = Once::new();

pub fn crest() -> &'static str {
    env!("CARGO_BIN_EXE_crest")
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures")
}

/// A test that cannot run here: it fails, unless `CREST_ALLOW_SKIP=1`
/// (never set in CI) lets it skip with the reason printed.
pub fn cannot_run(why: &str) {
    if std::env::var("CREST_ALLOW_SKIP").as_deref() == Ok("1") {
        eprintln!("SKIP: {why}");
    } else {
        panic!("this test cannot run: {why} (CREST_ALLOW_SKIP=1 skips it)");
    }
}

/// Asks `f` again every 10 ms until it answers or `timeout` passes.
pub fn poll<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The host pids and tids a fixture's images restore (none for a tree in
/// a pid namespace of its own: its pids are the namespace's).
fn fixture_pids(fixture: &str) -> Vec<u32> {
    use crest::images::file::{IDS, INVENTORY, PSTREE};
    let dir = fixtures().join(fixture).join("images");
    let Ok(tree) = PSTREE.read_all(&dir, "") else {
        return Vec::new();
    };
    let host_ns = INVENTORY
        .read_one(&dir, "")
        .ok()
        .and_then(|i| i.root_ids)
        .and_then(|r| r.pid_ns_id);
    let root_ns = tree
        .first()
        .and_then(|r| IDS.read_one(&dir, r.pid).ok())
        .and_then(|i| i.pid_ns_id);
    if host_ns != root_ns {
        return Vec::new();
    }
    tree.iter().flat_map(|e| e.threads.clone()).collect()
}

/// Serialises the test and makes this process a subreaper; `None` where
/// the test cannot run and CREST_ALLOW_SKIP=1 lets it skip. The pids the
/// fixture restores must be free (a late-reaped zombie gets 5 s).
pub fn harness(fixture: &str) -> Option<MutexGuard<'static, ()>> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if euid() != 0 {
        cannot_run("restore tests need root (clone3 set_tid, PR_SET_MM_MAP)");
        return None;
    }
    if !fixtures().join(fixture).is_dir() {
        cannot_run(&format!(
            "fixture {fixture} not found at {}",
            fixtures().display()
        ));
        return None;
    }
    SUBREAPER.call_once(|| {
        crest::sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
            .expect("PR_SET_CHILD_SUBREAPER");
        keep_new_pids_above_fixtures();
    });
    reap_all();
    for pid in fixture_pids(fixture) {
        let free = poll(Duration::from_secs(5), || {
            reap_all();
            (!Path::new(&format!("/proc/{pid}")).exists()).then_some(())
        });
        if free.is_none() {
            cannot_run(&format!(
                "pid {pid}, which fixture {fixture} restores, is taken by {}",
                crest::proc::holder(pid)
            ));
            return None;
        }
    }
    Some(guard)
}

/// The fixtures restore fixed pids up to 32204, near the top of this
/// machine's pid range (pid_max 32768), where the pid counter passes now
/// and then: a process the test itself starts (run.sh, a victim) could
/// take one of them mid-test. So new pids go above them: pid_max raised to
/// the 64-bit default and the counter moved past the fixtures' range.
fn keep_new_pids_above_fixtures() {
    const ABOVE: u64 = 40_000;
    let read = |f: &str| {
        fs::read_to_string(f)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    if read("/proc/sys/kernel/pid_max").is_some_and(|m| m <= ABOVE) {
        fs::write("/proc/sys/kernel/pid_max", "4194304").expect("raise pid_max");
    }
    if read("/proc/sys/kernel/ns_last_pid").is_some_and(|l| l < ABOVE) {
        fs::write("/proc/sys/kernel/ns_last_pid", ABOVE.to_string()).expect("move the pid counter");
    }
}

pub fn euid() -> u32 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(String::from))
        })
        .and_then(|u| u.parse().ok())
        .unwrap_or(u32::MAX)
}

/// Our children (adopted orphans included), from /proc.
pub fn children() -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut v = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((comm, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let ppid: i32 = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        if ppid == me {
            v.push((pid, comm.split_once(" (").map_or("", |c| c.1).to_string()));
        }
    }
    v
}

/// Reaps exited children without blocking.
pub fn reap_all() {
    while let Ok(Some(_)) = crest::sys::waitpid(-1, libc::WNOHANG) {}
}

/// Asserts that no task of a restore survived: the pid is free and we
/// have no (adopted) children left.
pub fn assert_nothing_left(pid: u32) {
    reap_all();
    let left = children();
    assert!(left.is_empty(), "tasks left behind: {left:?}");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} still exists"
    );
}

/// Every pid, IPC, UTS, network and mount namespace some process lives in, as
/// /proc/PID/ns links name them ("ipc:[4026531839]").
pub fn namespaces() -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        for ns in ["pid", "ipc", "uts", "net", "mnt"] {
            if let Ok(l) = fs::read_link(e.path().join("ns").join(ns)) {
                out.insert(l.to_string_lossy().into_owned());
            }
        }
    }
    out
}

/// A writable copy of a fixture in a fresh temp dir.
pub struct Copy {
    pub dir: PathBuf,
}

impl Copy {
    pub fn new(fixture: &str) -> Copy {
        let dir = std::env::temp_dir().join(format!(
            "crest-test-{}-{fixture}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        fs::create_dir_all(&dir).unwrap();
        let st = Command::new("cp")
            .arg("-r")
            .arg(fixtures().join(fixture))
            .arg(&dir)
            .status()
            .unwrap();
        assert!(st.success());
        let dir = dir.join(fixture);
        Command::new("chmod")
            .arg("-R")
            .arg("u+w")
            .arg(&dir)
            .status()
            .unwrap();
        Copy { dir }
    }

    pub fn images(&self) -> PathBuf {
        self.dir.join("images")
    }

    /// Installs the victim binary where the images expect it (run.sh does
    /// this itself).
    pub fn install_binary(&self, name: &str) {
        fs::create_dir_all("/tmp/crest-fixtures/bin").unwrap();
        let to = Path::new("/tmp/crest-fixtures/bin").join(name);
        let _ = fs::remove_file(&to);
        fs::copy(self.dir.join(name), &to).unwrap();
    }

    pub fn run_sh(&self) -> Output {
        self.run_sh_with(&[])
    }

    /// run.sh with crest restore and `extra` options after the usual ones.
    pub fn run_sh_with(&self, extra: &[&str]) -> Output {
        Command::new(self.dir.join("run.sh"))
            .args([
                crest(),
                "restore",
                "-D",
                "{images}",
                "-d",
                "--pidfile",
                "{pidfile}",
            ])
            .args(extra)
            .output()
            .unwrap()
    }
}

impl Drop for Copy {
    fn drop(&mut self) {
        if let Some(parent) = self.dir.parent() {
            let _ = fs::remove_dir_all(parent);
        }
    }
}

/// The protobuf images of an image directory (every .img but the raw ones),
/// sorted by name.
pub fn protobuf_images(dir: &Path) -> Vec<PathBuf> {
    let mut images: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read the image directory")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            // Raw images (pages, iproute2 dumps) hold no records.
            let raw = crest::images::magic::IMAGES
                .iter()
                .filter(|k| k.header == crest::images::magic::Header::Raw)
                .filter_map(|k| k.file_pattern.split('%').next())
                .any(|prefix| n.starts_with(prefix));
            n.ends_with(".img") && !raw
        })
        .collect();
    images.sort();
    images
}
