//! `crest restore --lazy-pages` against the real kernel: the restored
//! task runs before its memory is in, touches it every way that can go
//! wrong meanwhile (moves, forks, empties, unmaps), and checks every word;
//! the helper that serves the pages exits once all are in; and if the
//! helper is killed, the task dies instead of reading zeroes.

mod common;

use common::victim::*;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// The lazy-pages server's pid, from the restore's -v4 log.
fn server_pid(log: &str) -> i32 {
    log.lines()
        .find_map(|l| l.split("lazy-pages server: pid ").nth(1))
        .and_then(|rest| rest.split(',').next())
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no lazy-pages server in the log: {log}"))
}

/// Waits (up to `secs`) for our child or adopted orphan `pid` to end;
/// its wait status.
fn wait_status(pid: i32, secs: u64) -> Option<i32> {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        match crest::sys::waitpid(pid, libc::WNOHANG | libc::__WALL) {
            Ok(Some((_, st))) => return Some(st),
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => return None,
        }
    }
    None
}

/// Dumps the lazy victim with a buffer of `mib` MiB; its pid and images.
fn dumped(mib: u32) -> (Victim, Dir) {
    let v = start_victim("lazy", &[&mib.to_string()]);
    std::thread::sleep(Duration::from_millis(50));
    let dir = Dir::new(&format!("lazy-{mib}"));
    let out = crest_cmd(&["dump", "-t", &v.pid.to_string(), "-D", dir.s()]);
    assert!(out.status.success(), "dump: {}", text(&out));
    wait_gone(v.pid);
    (v, dir)
}

fn restore_lazily(dir: &Dir) -> String {
    restore_with(dir, &["--lazy-pages"])
}

fn restore_with(dir: &Dir, opts: &[&str]) -> String {
    let pidfile = dir.0.join("restored.pid");
    let mut args = vec!["restore", "-D", dir.s(), "-d", "--shell-job", "-v4"];
    args.extend(opts);
    args.extend(["--pidfile", pidfile.to_str().unwrap()]);
    let out = crest_cmd(&args);
    assert!(out.status.success(), "restore: {}", text(&out));
    text(&out)
}

#[test]
fn lazy_restore_serves_every_page_once() {
    let Some(_g) = harness("counter") else { return };
    let (v, dir) = dumped(256);
    let log = restore_lazily(&dir);
    let server = server_pid(&log);
    // Straight away: most of the 256 MiB is still missing.
    crest::sys::kill(v.pid, libc::SIGUSR1).unwrap();
    assert!(
        wait_for(&v.out.0.join("lazy-done"), 20).is_some(),
        "the moves, fork and drops while pages were missing did not finish"
    );
    let st = wait_status(server, 30).expect("the server did not exit once every page was in");
    assert!(
        libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0,
        "server status {st:#x}"
    );
    assert_eq!(v.verdict().as_deref(), Some("PASS"));
    assert_nothing_left(v.pid as u32);
}

/// The same victim restored eagerly (its memory copied in with
/// UFFDIO_COPY): adjacent VMAs whose pages follow each other in the
/// pages file are each filled within themselves.
#[test]
fn eager_restore_of_the_same_victim() {
    let Some(_g) = harness("counter") else { return };
    let (v, dir) = dumped(16);
    restore_with(&dir, &[]);
    crest::sys::kill(v.pid, libc::SIGUSR1).unwrap();
    assert!(wait_for(&v.out.0.join("lazy-done"), 20).is_some());
    assert_eq!(v.verdict().as_deref(), Some("PASS"));
    assert_nothing_left(v.pid as u32);
}

/// The helper goes (SIGKILL) while pages are missing: the task must not
/// go on with zeroes where its memory was.
#[test]
fn killed_server_takes_the_task_with_it() {
    let Some(_g) = harness("counter") else { return };
    let (v, dir) = dumped(1024);
    let log = restore_lazily(&dir);
    crest::sys::kill(server_pid(&log), libc::SIGKILL).unwrap();
    crest::sys::kill(v.pid, libc::SIGTERM).unwrap();
    let st = wait_status(v.pid, 10).expect("the restored task outlived its server");
    assert!(
        libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGKILL,
        "task status {st:#x}"
    );
    assert!(
        !v.out.0.join("verdict").exists(),
        "the task ran on to a verdict without its pages"
    );
    reap_all();
    std::thread::sleep(Duration::from_millis(100));
    reap_all();
    let left = children();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// The watch (the server's child, which holds the descriptors should the
/// server die) goes: the server stops the tree rather than serve on
/// unguarded.
#[test]
fn killed_watch_takes_the_task_with_it() {
    let Some(_g) = harness("counter") else { return };
    let (v, dir) = dumped(1024);
    let log = restore_lazily(&dir);
    let server = server_pid(&log);
    let watch = crest::proc::children(server)
        .ok()
        .and_then(|c| c.first().copied())
        .expect("the server has no watch");
    crest::sys::kill(watch, libc::SIGKILL).unwrap();
    let st = wait_status(v.pid, 10).expect("the restored task outlived the watch");
    assert!(
        libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGKILL,
        "task status {st:#x}"
    );
    assert!(wait_status(server, 5).is_some(), "the server stayed");
    reap_all();
    assert!(children().is_empty(), "left behind: {:?}", children());
}

/// CRIU 4.2's fixtures restored lazily: each checks itself.
#[test]
fn fixtures_restore_lazily() {
    for (name, pid) in [("counter", 31000), ("tree", 31200), ("threads", 31300)] {
        let Some(_g) = harness(name) else { return };
        let copy = Copy::new(name);
        let out = copy.run_sh_with(&["--lazy-pages"]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.lines().any(|l| l == "PASS"), "{name}: {text}");
        // The server ends once every page is in; we adopt and reap it.
        let gone = poll(Duration::from_secs(10), || {
            reap_all();
            children().is_empty().then_some(())
        });
        assert!(gone.is_some(), "{name}: left behind {:?}", children());
        assert_nothing_left(pid);
        assert!(Path::new(&copy.images()).is_dir());
    }
}
