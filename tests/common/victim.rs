//! Victims: the C programs in tests/victims, started, dumped, restored
//! and asked for their verdict; images directories and crit checks.

use super::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn wait_for(path: &Path, secs: u64) -> Option<String> {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if let Ok(s) = fs::read_to_string(path) {
            if !s.trim().is_empty() {
                return Some(s.trim().to_string());
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

pub fn crest_cmd(args: &[&str]) -> Output {
    Command::new(crest()).args(args).output().unwrap()
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A fresh images directory, removed on drop.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("crest-dump-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    pub fn s(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Asserts that `dir` holds an image whose name starts with each of
/// `prefixes`.
pub fn assert_images(dir: &Path, prefixes: &[&str]) {
    for f in prefixes {
        let found = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(f));
        assert!(found, "no {f}* image in {}", dir.display());
    }
}

/// Whether link `name` exists in our network namespace (iproute2's `ip`).
pub fn host_link(name: &str) -> bool {
    Command::new("ip")
        .args(["-o", "link", "show", name])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Whether link `name` is gone from our network namespace within 5 s.
pub fn link_gone(name: &str) -> bool {
    poll(Duration::from_secs(5), || (!host_link(name)).then_some(())).is_some()
}

pub fn wait_gone(pid: i32) {
    let end = Instant::now() + Duration::from_secs(5);
    while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < end {
        reap_all();
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What upstream CRIU 4.2 checks when it restores crest's images: the
/// saved auxiliary vector fits its x86_64 AT_VECTOR_SIZE (44 words), and
/// a descriptor's type is its file's (CRIU finds the file by both).
pub fn within_criu_limits(dir: &Path) {
    use crest::images::file::{FDINFO, FILES, MM};
    let files = FILES.read_all(dir, "").unwrap();
    for f in fs::read_dir(dir).unwrap() {
        let name = f.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(id) = name
            .strip_prefix("fdinfo-")
            .and_then(|n| n.strip_suffix(".img"))
        {
            for fd in FDINFO.read_all(dir, id).unwrap() {
                let file = files.iter().find(|f| f.id == fd.id).expect("fd's file");
                assert_eq!(fd.r#type, file.r#type, "{name}: fd {}", fd.fd);
            }
        }
        let Some(pid) = name
            .strip_prefix("mm-")
            .and_then(|n| n.strip_suffix(".img"))
        else {
            continue;
        };
        let mm = MM.read_one(dir, pid).unwrap();
        assert!(
            mm.mm_saved_auxv.len() <= 44 && mm.mm_saved_auxv.len().is_multiple_of(2),
            "{name}: {} words of auxv",
            mm.mm_saved_auxv.len()
        );
    }
}

/// Every image crest wrote in `dir` decodes with crit, and `crest show`
/// prints the same values (crit must be installed unless CREST_ALLOW_SKIP=1).
pub fn crit_decodes(dir: &Path) {
    within_criu_limits(dir);
    let have = |tool: &str| Command::new(tool).arg("--help").output().is_ok();
    if !have("crit") || !have("python3") {
        cannot_run("the crit comparison needs crit and python3");
        return;
    }
    let images = protobuf_images(dir);
    let scratch = Dir::new(&format!(
        "crit-{}",
        dir.file_name().unwrap().to_string_lossy()
    ));
    super::crit::compare(&images, &scratch.0);
}

/// The C victims in tests/victims (every .c file), built once per run with the C compiler
/// the `cc` crate finds, as static binaries.
pub fn victim(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let out = std::env::temp_dir().join(format!("crest-victims-{}", std::process::id()));
        fs::create_dir_all(&out).unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/victims");
        let sources = fs::read_dir(&src).unwrap().flatten().map(|e| e.path());
        for path in sources.filter(|p| p.extension().is_some_and(|e| e == "c")) {
            super::cc::build_victim(&path, &out.join(path.file_stem().unwrap()));
        }
        out
    });
    dir.join(name)
}

/// A running victim with its output directory.
pub struct Victim {
    pub pid: i32,
    pub out: Dir,
}

// The victim is reaped by reap_all() (waitpid(-1)) once the dump kills it
// or it exits, not through its Child handle.
#[allow(clippy::zombie_processes)]
pub fn start_victim(name: &str, args: &[&str]) -> Victim {
    let out = Dir::new(&format!("victim-{name}"));
    let mut cmd = Command::new(victim(name));
    cmd.arg(out.s()).args(args);
    run_victim(cmd, out)
}

/// Runs `cmd` (a victim given `out` as its OUTDIR) with a clean
/// environment and no stdio, and waits for the pid it writes to ready.
// The victim is reaped by reap_all(), as in start_victim().
#[allow(clippy::zombie_processes)]
pub fn run_victim(mut cmd: Command, out: Dir) -> Victim {
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the victim");
    let pid = wait_for(&out.0.join("ready"), 10)
        .expect("victim ready")
        .parse()
        .unwrap();
    Victim { pid, out }
}

impl Drop for Victim {
    /// A failed test must not leave its victim running.
    fn drop(&mut self) {
        if Path::new(&format!("/proc/{}", self.pid)).exists() {
            let _ = crest::sys::kill(self.pid, libc::SIGKILL);
            wait_gone(self.pid);
        }
    }
}

impl Victim {
    /// Lets the victim run a few more iterations, then asks for its verdict.
    pub fn verdict(&self) -> Option<String> {
        std::thread::sleep(Duration::from_millis(100));
        crest::sys::kill(self.pid, libc::SIGTERM).unwrap();
        let v = wait_for(&self.out.0.join("verdict"), 5);
        wait_gone(self.pid);
        v
    }
}

pub fn restore_dir(dir: &Dir, pid: i32) {
    let pidfile = dir.0.join("restored.pid");
    // The victims run in the test's session, hence --shell-job, as CRIU.
    let pidfile = pidfile.to_str().unwrap();
    let out = crest_cmd(&[
        "restore",
        "-D",
        dir.s(),
        "-d",
        "--shell-job",
        "--pidfile",
        pidfile,
    ]);
    assert!(out.status.success(), "restore: {}", text(&out));
    reap_all();
    assert_eq!(fs::read_to_string(pidfile).unwrap().trim(), pid.to_string());
}

/// Starts victim `name`, dumps it (which ends it), checks the images with
/// crit, restores it and asks for its verdict.
pub fn victim_round_trip(name: &str, settle_ms: u64) {
    let Some(_g) = harness("counter") else { return };
    let v = start_victim(name, &[]);
    std::thread::sleep(Duration::from_millis(settle_ms));
    let dir = Dir::new(name);
    let out = crest_cmd(&["dump", "-t", &v.pid.to_string(), "-D", dir.s()]);
    assert!(out.status.success(), "dump {name}: {}", text(&out));
    wait_gone(v.pid);
    crit_decodes(&dir.0);
    restore_dir(&dir, v.pid);
    assert_eq!(
        v.verdict().as_deref(),
        Some("PASS"),
        "{name} after dump + restore"
    );
    assert_nothing_left(v.pid as u32);
}
