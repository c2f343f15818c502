//! `cargo bench`: crest's latencies next to the cost of starting a static
//! binary (fork + exec + wait of `crest help`) measured in the same run,
//! printed as medians and ratios. Run as root.
//!
//! - restore (`crest restore -d`) of three CRIU 4.2 fixtures: `counter`
//!   (one process, 9.4 MB of pages), `sigstate` (one process, 96 KB) and
//!   `tree` (4 processes);
//! - dump (`crest dump --leave-running`, images synced) of a process with
//!   1 MiB of touched anonymous memory, and the dump throughput for 1 GiB;
//! - restore of a 10-process tree (tests/victims/fanout.c) and of a
//!   container (tests/victims/container.c: init of new pid, UTS and IPC
//!   namespaces, 5 processes with a zombie, System V objects) and of a
//!   process in a network namespace of its own (tests/victims/netns.c:
//!   lo, a veth pair, a bridge, addresses and routes) and of a whole
//!   container (tests/victims/box.c: new pid, mount, network, UTS, IPC
//!   and cgroup namespaces, a tmpfs, binds, a peer group, veth, bridge,
//!   a route, its own cgroup; 2 processes), each beside fork+exec+wait
//!   of as many static binaries at once;
//! - eager and lazy (`--lazy-pages`) restores of counter and of 64 MiB and
//!   1 GiB processes, against memcpy into fresh memory (benches/memory.rs);
//! - dump and restore of a Node.js program (benches/node.rs).
//!
//! With CREST_BENCH_REPORT=DIR (scripts/bench-report) the last figures
//! also go to DIR/bench.md and DIR/latency.svg (benches/report.rs).

#[path = "../tests/common/cc.rs"]
mod cc_victims;
mod memory;
mod node;
mod report;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROUNDS: usize = 30;

/// One figure of the report: a median beside its baseline's.
pub struct Row {
    pub case: String,
    pub what: String,
    /// Bytes of pages in the images (0: not a memory case).
    pub bytes: u64,
    pub ms: f64,
    pub base_ms: f64,
}

/// Prints a row as the bench prints its figures.
fn print_row(r: &Row) {
    let gbps = if r.bytes > 0 && !r.what.contains("runs") {
        format!(", {:.2} GB/s of pages", r.bytes as f64 / 1e9 / (r.ms / 1e3))
    } else {
        String::new()
    };
    println!(
        "{:<22} {:<38} median {:>8.3} ms = {:>5.1}x baseline ({:.3} ms){gbps}",
        r.case,
        r.what,
        r.ms,
        r.ms / r.base_ms,
        r.base_ms
    );
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn reap_all() {
    while let Ok(Some(_)) = crest::sys::waitpid(-1, libc::WNOHANG) {}
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let crest = env!("CARGO_BIN_EXE_crest");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    if !fixtures.is_dir() {
        eprintln!("bench: no fixtures at {}", fixtures.display());
        return;
    }
    crest::sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0).expect("subreaper");
    std::fs::create_dir_all("/tmp/crest-fixtures/bin").unwrap();
    let pidfile = std::env::temp_dir().join("crest-bench.pid");
    let cases = [("counter", 31000), ("sigstate", 31100), ("tree", 31200)];
    for (name, _) in cases {
        let bin = Path::new("/tmp/crest-fixtures/bin").join(name);
        let _ = std::fs::remove_file(&bin);
        std::fs::copy(fixtures.join(name).join(name), &bin).unwrap();
    }

    let mut spawn = Vec::new();
    let mut restores = vec![Vec::new(); cases.len()];
    for _ in 0..ROUNDS {
        // Interleave everything so that drift on this noisy VM hits all.
        let t = Instant::now();
        let st = Command::new(crest)
            .arg("help")
            .stdout(Stdio::null())
            .status()
            .unwrap();
        spawn.push(t.elapsed());
        assert!(st.success());
        for (i, (name, pid)) in cases.iter().enumerate() {
            let t = Instant::now();
            let out = Command::new(crest)
                .args(["restore", "-d", "-D"])
                .arg(fixtures.join(name).join("images"))
                .arg("--pidfile")
                .arg(&pidfile)
                .output()
                .unwrap();
            restores[i].push(t.elapsed());
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            reap_all();
            kill_tree(*pid);
        }
    }
    let base = median(spawn);
    println!(
        "baseline: fork+exec+wait of static crest      median {:>7.3} ms",
        ms(base)
    );
    for ((name, _), r) in cases.iter().zip(restores) {
        let r = median(r);
        println!(
            "restore {name:<9} (crest restore -d)          median {:>7.3} ms  = {:.1}x baseline",
            ms(r),
            r.as_secs_f64() / base.as_secs_f64()
        );
    }
    println!("({ROUNDS} rounds, interleaved)");
    dump_bench(crest, base);
    tree_bench(crest);

    let one = || spawn_n(crest, 1);
    let memcpy = memory::memcpy_gbps(64 << 20);
    println!("memcpy into fresh anonymous memory (64 MiB): {memcpy:.2} GB/s");
    let mut rows = memory::memory_bench(crest, &fixtures, &one);
    rows.extend(node::node_bench(crest, &one, 5));
    for r in &rows {
        print_row(r);
    }
    if let Some(dir) = std::env::var_os("CREST_BENCH_REPORT") {
        match report::write(Path::new(&dir), &rows, memcpy) {
            Ok(()) => println!("report: {}", Path::new(&dir).display()),
            Err(e) => eprintln!("report: {e}"),
        }
    }
}

/// Builds victim `name` of tests/victims.
fn build(name: &str) -> std::path::PathBuf {
    let out = std::env::temp_dir().join(format!("crest-bench-{name}-{}", std::process::id()));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/victims/{name}.c"));
    cc_victims::build_victim(&src, &out);
    out
}

/// fork+exec+wait of `n` static binaries (`crest help`), all started
/// before the first is waited for.
fn spawn_n(crest: &str, n: usize) -> Duration {
    let t = Instant::now();
    let kids: Vec<_> = (0..n)
        .map(|_| {
            Command::new(crest)
                .arg("help")
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut k in kids {
        assert!(k.wait().unwrap().success());
    }
    t.elapsed()
}

/// Kills `root` and everything below it, and reaps them (we are their
/// subreaper).
fn kill_tree(root: i32) {
    let mut all = vec![root];
    let mut i = 0;
    while i < all.len() {
        all.extend(crest::proc::children(all[i]).unwrap_or_default());
        i += 1;
    }
    for &p in all.iter().rev() {
        let _ = crest::sys::kill(p, libc::SIGKILL);
    }
    for &p in &all {
        let _ = crest::sys::waitpid(p, libc::__WALL);
    }
    reap_all();
}

/// Starts a victim that writes OUTDIR/ready with the pid to dump.
#[allow(clippy::zombie_processes)] // the launcher is reaped by reap_all()
fn start_victim(bin: &Path, dir: &Path) -> i32 {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    Command::new(bin)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..3000 {
        if let Some(pid) = std::fs::read_to_string(dir.join("ready"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
        {
            return pid;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("victim {} did not start", bin.display());
}

fn tree_bench(crest: &str) {
    let tmp = std::env::temp_dir().join(format!("crest-bench-trees-{}", std::process::id()));
    // (victim, processes, restore options)
    let cases: [(&str, usize, &[&str]); 4] = [
        ("fanout", 10, &["--shell-job"]),
        ("container", 5, &[]),
        ("netns", 1, &["--shell-job"]),
        ("box", 2, &[]),
    ];
    let mut images = Vec::new();
    for (name, _, _) in cases {
        let bin = build(name);
        let pid = start_victim(&bin, &tmp.join(format!("{name}-out")));
        std::thread::sleep(Duration::from_millis(100));
        let dir = tmp.join(format!("{name}-images"));
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new(crest)
            .args(["dump", "-t", &pid.to_string(), "-D"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "dump {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        reap_all();
        images.push(dir);
    }
    let pidfile = tmp.join("restored.pid");
    let mut base = vec![Vec::new(); cases.len()];
    let mut lat = vec![Vec::new(); cases.len()];
    for _ in 0..ROUNDS {
        for (i, (name, n, opts)) in cases.iter().enumerate() {
            base[i].push(spawn_n(crest, *n));
            let t = Instant::now();
            let out = Command::new(crest)
                .args(["restore", "-d", "-D"])
                .arg(&images[i])
                .args(*opts)
                .arg("--pidfile")
                .arg(&pidfile)
                .output()
                .unwrap();
            lat[i].push(t.elapsed());
            assert!(
                out.status.success(),
                "restore {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let root = std::fs::read_to_string(&pidfile)
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            kill_tree(root);
        }
    }
    for (i, (name, n, _)) in cases.iter().enumerate() {
        let (b, l) = (median(base[i].clone()), median(lat[i].clone()));
        println!(
            "restore {name:<9} ({n:>2} processes)           median {:>7.3} ms  = {:.1}x fork+exec+wait of {n} ({:.3} ms)",
            ms(l),
            l.as_secs_f64() / b.as_secs_f64(),
            ms(b)
        );
    }
    println!("({ROUNDS} rounds, interleaved)");
    let _ = std::fs::remove_dir_all(&tmp);
    // The box's cgroup, empty now.
    for e in std::fs::read_dir("/sys/fs/cgroup/pids")
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.file_name().to_string_lossy().starts_with("crest-box-") {
            let _ = std::fs::remove_dir(e.path());
        }
    }
}

/// Builds tests/victims/plain.c (a buffer of N MiB, every page touched).
fn plain_victim() -> std::path::PathBuf {
    let out = std::env::temp_dir().join(format!("crest-bench-plain-{}", std::process::id()));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/victims/plain.c");
    cc_victims::build_victim(&src, &out);
    out
}

// Reaped by stop() (waitpid on the pid), not through the Child handle.
#[allow(clippy::zombie_processes)]
fn start_plain(bin: &Path, dir: &Path, mib: u32) -> i32 {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let mut child = Command::new(bin)
        .arg(dir)
        .arg(mib.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ready = dir.join("ready");
    for _ in 0..3000 {
        if let Ok(p) = std::fs::read_to_string(&ready) {
            if let Ok(pid) = p.trim().parse() {
                return pid;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    panic!("plain victim did not start");
}

fn dump_once(crest: &str, pid: i32, dir: &Path) -> Duration {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let t = Instant::now();
    let out = Command::new(crest)
        .args(["dump", "--leave-running", "-t", &pid.to_string(), "-D"])
        .arg(dir)
        .output()
        .unwrap();
    let d = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    d
}

fn stop(pid: i32) {
    crest::sys::kill(pid, libc::SIGKILL).unwrap();
    crest::sys::waitpid(pid, 0).unwrap();
}

fn dump_bench(crest: &str, base: Duration) {
    let bin = plain_victim();
    let tmp = std::env::temp_dir().join(format!("crest-bench-dump-{}", std::process::id()));
    let (vdir, idir) = (tmp.join("victim"), tmp.join("images"));

    let pid = start_plain(&bin, &vdir, 1);
    let lat: Vec<Duration> = (0..ROUNDS).map(|_| dump_once(crest, pid, &idir)).collect();
    stop(pid);
    let l = median(lat);
    println!(
        "dump 1 MiB process (crest dump --leave-running)   median {:>7.3} ms  = {:.1}x baseline",
        ms(l),
        l.as_secs_f64() / base.as_secs_f64()
    );

    let pid = start_plain(&bin, &vdir, 1024);
    let big: Vec<Duration> = (0..3).map(|_| dump_once(crest, pid, &idir)).collect();
    stop(pid);
    let pages = std::fs::metadata(idir.join("pages-1.img"))
        .map(|m| m.len())
        .unwrap_or(0);
    let b = median(big);
    println!(
        "dump 1 GiB process: {:.2} GB of pages in {:.1} ms (median of 3) = {:.2} GB/s, synced to disk",
        pages as f64 / 1e9,
        ms(b),
        pages as f64 / 1e9 / b.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
