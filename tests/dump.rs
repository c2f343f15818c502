//! Dump against the real kernel: live programs are checkpointed with
//! `crest dump`, restored with `crest restore`, and check themselves.
//! The shared fixtures' static programs run live here (they daemonize and
//! write their pid), which checks crest's dump independently of the CRIU
//! images. Every image crest writes must decode with Debian's crit.

mod common;

use common::victim::*;
use common::*;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const RUN: &str = "/tmp/crest-fixtures/run";

/// Starts a fixture program live; returns its pid once it is ready.
fn start_fixture(name: &str) -> i32 {
    let copy_to = Path::new("/tmp/crest-fixtures/bin").join(name);
    fs::create_dir_all("/tmp/crest-fixtures/bin").unwrap();
    fs::create_dir_all(RUN).unwrap();
    fs::create_dir_all("/tmp/crest-fixtures/data").unwrap();
    for suffix in ["pid", "out", "out.tmp", "restored.pid"] {
        let _ = fs::remove_file(Path::new(RUN).join(format!("{name}.{suffix}")));
    }
    let _ = fs::remove_file(&copy_to);
    fs::copy(fixtures().join(name).join(name), &copy_to).unwrap();
    if name == "openfile" {
        fs::copy(
            fixtures().join("openfile/openfile.dat"),
            "/tmp/crest-fixtures/data/openfile.dat",
        )
        .unwrap();
    }
    let st = Command::new(&copy_to)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "{name} failed to start");
    let pid = wait_for(&Path::new(RUN).join(format!("{name}.pid")), 5).expect("fixture pid file");
    pid.parse().unwrap()
}

/// Runs a fixture program live, dumps it, restores it, lets it check.
fn live_round_trip(name: &str) {
    let Some(_g) = harness(name) else { return };
    let pid = start_fixture(name);
    std::thread::sleep(Duration::from_millis(400));
    let dir = Dir::new(name);
    let out = crest_cmd(&["dump", "-t", &pid.to_string(), "-D", dir.s()]);
    assert!(out.status.success(), "dump {name}: {}", text(&out));
    wait_gone(pid);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "dump must kill the task"
    );
    crit_decodes(&dir.0);
    // counter checks that it saw a checkpoint: a freeze of more than 100 ms
    // of real time. Dump and restore alone can take less (crit, when it
    // runs above, used to make up the rest).
    std::thread::sleep(Duration::from_millis(150));
    let pidfile = dir.0.join("restored.pid");
    let out = crest_cmd(&[
        "restore",
        "-D",
        dir.s(),
        "-d",
        "--pidfile",
        pidfile.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "restore {name}: {}", text(&out));
    reap_all();
    let restored: i32 = fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(restored, pid);
    std::thread::sleep(Duration::from_millis(300));
    crest::sys::kill(pid, libc::SIGTERM).unwrap();
    let verdict = wait_for(&Path::new(RUN).join(format!("{name}.out")), 5);
    wait_gone(pid);
    assert_eq!(
        verdict.as_deref(),
        Some("PASS"),
        "{name} after dump+restore"
    );
    assert_nothing_left(pid as u32);
}

#[test]
fn counter_live() {
    live_round_trip("counter");
}

#[test]
fn sigstate_live() {
    live_round_trip("sigstate");
}

#[test]
fn tree_live() {
    live_round_trip("tree");
}

#[test]
fn threads_live() {
    live_round_trip("threads");
}

/// Two zombie children (an exit code, a signal death) beside a live one.
#[test]
fn zombie_live() {
    live_round_trip("zombie");
}

#[test]
fn openfile_live() {
    live_round_trip("openfile");
}

/// The memfd fixture run live: a sealed memfd held at an offset and
/// mapped shared by two processes, dumped by crest (memfd.img, MEMFD
/// files and VMAs, the contents once) and restored.
#[test]
fn memfd_live() {
    live_round_trip("memfd");
}

#[test]
fn missing_pid_is_a_clear_error() {
    let Some(_g) = harness("counter") else { return };
    let dir = Dir::new("nopid");
    // The highest pid there can be (pid_max is at most 4194304), which the
    // pid counter here never gets near.
    let out = crest_cmd(&["dump", "-t", "4194303", "-D", dir.s()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("4194303: no such process"),
        "{}",
        text(&out)
    );
    assert!(
        fs::read_dir(&dir.0).unwrap().next().is_none(),
        "no images for a failed dump"
    );
}

/// Every dump stage CREST_FAULT names fails the dump there, and leaves
/// the task running as it was: untraced, not stopped, its images gone;
/// a name that is no dump stage is an error.
#[test]
fn every_dump_stage_fails_cleanly() {
    let Some(_g) = harness("counter") else { return };
    let v = start_victim("state", &[]);
    let dir = Dir::new("dump-faults");
    let status = |key: &str| -> String {
        let s = fs::read_to_string(format!("/proc/{}/status", v.pid)).unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or("")
            .trim()
            .to_string()
    };
    for stage in [
        "seize", "proc", "inject", "pages", "images", "sync", "bogus",
    ] {
        let out = Command::new(crest())
            .args(["dump", "-t", &v.pid.to_string(), "-D", dir.s()])
            .env("CREST_FAULT", stage)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "fault {stage}: {}", text(&out));
        let want = if stage == "bogus" {
            "CREST_FAULT=\"bogus\" names no dump stage".to_string()
        } else {
            format!("{stage}: fault injected by CREST_FAULT")
        };
        assert!(text(&out).contains(&want), "fault {stage}: {}", text(&out));
        assert!(
            fs::read_dir(&dir.0).unwrap().next().is_none(),
            "fault {stage}: images left"
        );
        assert_eq!(status("TracerPid:"), "0", "fault {stage}: still traced");
        let running = poll(Duration::from_secs(2), || {
            (!status("State:").starts_with('t') && !status("State:").starts_with('T')).then_some(())
        });
        assert!(
            running.is_some(),
            "fault {stage}: state {}",
            status("State:")
        );
    }
    assert_eq!(
        v.verdict().as_deref(),
        Some("PASS"),
        "the victim after every fault"
    );
}

/// As with CRIU, the images directory must exist: a missing one is an
/// error naming it, nothing is created, and the task runs on.
#[test]
fn missing_images_directory_is_refused() {
    let Some(_g) = harness("counter") else { return };
    let v = start_victim("plain", &[]);
    let dir = Dir::new("nodir");
    let missing = dir.0.join("not-there");
    let res = crest_cmd(&[
        "dump",
        "-t",
        &v.pid.to_string(),
        "-D",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(res.status.code(), Some(1));
    assert!(
        text(&res).contains(&format!("{}: no such directory", missing.display())),
        "{}",
        text(&res)
    );
    assert!(!missing.exists(), "the directory was created");
    assert_eq!(v.verdict().as_deref(), Some("PASS"));
}

/// A tree of ten processes (a parent and nine children, each with its
/// own memory) comes back with every pid and parent.
#[test]
fn fanout_tree_round_trip() {
    victim_round_trip("fanout", 50);
}

/// A task of an ordinary user (uid and gid 1000, no groups, no
/// capabilities, CAP_NET_RAW dropped from its bounding set) comes back
/// with the same credentials: the restorer keeps its own capabilities
/// across the uid change (SECBIT_NO_SETUID_FIXUP) until the dumped ones
/// are set, and drops from the bounding set only what is still there.
#[test]
#[allow(clippy::zombie_processes)] // reaped by reap_all()
fn non_root_task_round_trip() {
    let Some(_g) = harness("counter") else { return };
    let out = Dir::new("victim-nonroot");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&out.0, fs::Permissions::from_mode(0o777)).unwrap();
    Command::new("setpriv")
        .args([
            "--reuid=1000",
            "--regid=1000",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-net_raw",
        ])
        .arg(victim("plain"))
        .arg(out.s())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("setpriv (util-linux)");
    let pid: i32 = wait_for(&out.0.join("ready"), 10)
        .expect("victim ready")
        .parse()
        .unwrap();
    let v = Victim { pid, out };
    let creds = |pid: i32| -> Vec<String> {
        let s = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        s.lines()
            .filter(|l| {
                [
                    "Uid:", "Gid:", "Groups:", "CapInh:", "CapPrm:", "CapEff:", "CapBnd:",
                    "CapAmb:",
                ]
                .iter()
                .any(|p| l.starts_with(p))
            })
            .map(String::from)
            .collect()
    };
    let before = creds(pid);
    assert!(
        before.iter().any(|l| l.starts_with("Uid:\t1000")),
        "{before:?}"
    );
    let dir = Dir::new("nonroot");
    let res = crest_cmd(&["dump", "-t", &pid.to_string(), "-D", dir.s()]);
    assert!(res.status.success(), "dump: {}", text(&res));
    wait_gone(pid);
    restore_dir(&dir, pid);
    assert_eq!(creds(pid), before, "credentials after the restore");
    assert_eq!(v.verdict().as_deref(), Some("PASS"));
    assert_nothing_left(pid as u32);
}

/// Starts `crest dump` of `pid` (with `extra` options) without waiting.
fn spawn_dump(pid: i32, dir: &Dir, extra: &[&str]) -> std::process::Child {
    let _ = fs::remove_dir_all(&dir.0);
    fs::create_dir_all(&dir.0).unwrap();
    Command::new(crest())
        .args(["dump", "-t", &pid.to_string(), "-D", dir.s()])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A task with a 1 ms interval timer dumped 50 times with
/// --leave-running: a signal due during the dump is never delivered into
/// crest's injected system calls (every dump succeeds), and a real-time
/// signal sent at some point of each dump is delivered afterwards, none
/// lost.
#[test]
fn signals_during_dumps_are_kept() {
    let Some(_g) = harness("counter") else { return };
    let v = start_victim("signals", &[]);
    let dir = Dir::new("signals");
    const ROUNDS: usize = 50;
    for round in 0..ROUNDS {
        let dump = spawn_dump(v.pid, &dir, &["-R"]);
        std::thread::sleep(Duration::from_micros(300 * (round % 8) as u64));
        crest::sys::kill(v.pid, libc::SIGRTMIN() + 1).unwrap();
        let out = dump.wait_with_output().unwrap();
        assert!(out.status.success(), "round {round}: {}", text(&out));
    }
    assert_eq!(v.verdict().as_deref(), Some("PASS"));
    let rt = fs::read_to_string(v.out.0.join("rt")).unwrap();
    assert_eq!(rt, ROUNDS.to_string(), "real-time signals received");
}

/// A SIGSTOP sent while a task is dumped with --leave-running (100 times,
/// at varying points) leaves it stopped afterwards, as it would have been
/// without the dump.
#[test]
fn sigstop_during_dump_leaves_it_stopped() {
    let Some(_g) = harness("counter") else { return };
    let v = start_victim("signals", &[]);
    let dir = Dir::new("sigstop");
    let state = |pid: i32| crest::proc::Stat::read(pid).map(|s| s.state).unwrap_or('?');
    for round in 0..100 {
        let dump = spawn_dump(v.pid, &dir, &["-R"]);
        std::thread::sleep(Duration::from_micros(400 * (round % 5) as u64));
        crest::sys::kill(v.pid, libc::SIGSTOP).unwrap();
        let out = dump.wait_with_output().unwrap();
        assert!(out.status.success(), "round {round}: {}", text(&out));
        let stopped = poll(Duration::from_secs(2), || {
            (state(v.pid) == 'T').then_some(())
        });
        assert!(
            stopped.is_some(),
            "round {round}: state {} after the dump",
            state(v.pid)
        );
        crest::sys::kill(v.pid, libc::SIGCONT).unwrap();
        let running = poll(Duration::from_secs(2), || {
            (state(v.pid) != 'T').then_some(())
        });
        assert!(running.is_some(), "round {round}: SIGCONT did not wake it");
    }
    assert_eq!(v.verdict().as_deref(), Some("PASS"));
}

/// A multi-threaded task killed at some point of its dump (30 times, at
/// varying points): the dump ends
/// (an error naming the task, or a complete dump) within bounded time,
/// never hangs, and leaves no task behind.
#[test]
fn task_killed_mid_dump_never_hangs() {
    let Some(_g) = harness("threads") else { return };
    let dir = Dir::new("killed-mid-dump");
    for round in 0..30 {
        let pid = start_fixture("threads");
        let mut dump = spawn_dump(pid, &dir, &[]);
        std::thread::sleep(Duration::from_micros(300 * (round % 15) as u64));
        let _ = crest::sys::kill(pid, libc::SIGKILL);
        let ended = poll(Duration::from_secs(20), || dump.try_wait().unwrap());
        if ended.is_none() {
            let _ = dump.kill();
            let _ = dump.wait();
            panic!("round {round}: crest dump still runs 20 s after its task was killed");
        }
        wait_gone(pid);
        assert_nothing_left(pid as u32);
    }
}

/// Heap and anonymous patterns, a counter, SSE/AVX registers live across
/// the dump, TLS, handlers, mask, altstack, a pending queued signal, umask,
/// cwd, rlimit and a file at an offset survive dump + restore.
#[test]
fn state_victim_round_trip() {
    victim_round_trip("state", 100);
}

/// Dump action scripts: pre-dump and post-dump run with CRIU's
/// environment; one that fails at post-dump (the tree still frozen)
/// fails the dump, removes its images and leaves the tree running.
#[test]
fn dump_action_scripts() {
    let Some(_g) = harness("counter") else { return };
    let v = start_victim("plain", &[]);
    let dir = Dir::new("dump-scripts");
    let failing = "[ \"$CRTOOLS_SCRIPT_ACTION\" != post-dump ]";
    let res = crest_cmd(&[
        "dump",
        "-t",
        &v.pid.to_string(),
        "-D",
        dir.s(),
        "--action-script",
        failing,
    ]);
    assert_eq!(res.status.code(), Some(1));
    assert!(text(&res).contains("failed at post-dump"), "{}", text(&res));
    assert!(
        fs::read_dir(&dir.0).unwrap().next().is_none(),
        "no images from a failed dump"
    );
    let log = dir.0.join("../dump-scripts.log");
    let logging = format!(
        "echo \"$CRTOOLS_SCRIPT_ACTION $CRTOOLS_IMAGE_DIR\" >> {}",
        log.display()
    );
    let res = crest_cmd(&[
        "dump",
        "-t",
        &v.pid.to_string(),
        "-D",
        dir.s(),
        "-R",
        "--action-script",
        &logging,
    ]);
    assert!(res.status.success(), "{}", text(&res));
    let d = std::path::absolute(&dir.0).unwrap();
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        format!("pre-dump {d}\npost-dump {d}\n", d = d.display())
    );
    let _ = fs::remove_file(&log);
    assert_eq!(
        v.verdict().as_deref(),
        Some("PASS"),
        "the victim after both dumps"
    );
}

/// --leave-running: the victim goes on untouched; the images restore it
/// once the original is gone.
#[test]
fn leave_running_keeps_the_task_and_its_images_restore() {
    let Some(_g) = harness("counter") else { return };
    let v = start_victim("plain", &[]);
    let dir = Dir::new("plain");
    let out = crest_cmd(&[
        "dump",
        "-t",
        &v.pid.to_string(),
        "-D",
        dir.s(),
        "--leave-running",
    ]);
    assert!(out.status.success(), "dump: {}", text(&out));
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        Path::new(&format!("/proc/{}", v.pid)).exists(),
        "left running"
    );
    assert_eq!(
        v.verdict().as_deref(),
        Some("PASS"),
        "the original after the dump"
    );
    let _ = fs::remove_file(v.out.0.join("verdict"));
    restore_dir(&dir, v.pid);
    assert_eq!(
        v.verdict().as_deref(),
        Some("PASS"),
        "restored from its images"
    );
    assert_nothing_left(v.pid as u32);
}

/// A task already traced by someone else cannot be dumped; it is left
/// as it was.
/// Starts victim `name` under `unshare ARGS` (util-linux), after `setup`
/// (a shell command run in the new namespaces first).
// The victim is reaped by reap_all() (wait_gone), as in start_victim().
#[allow(clippy::zombie_processes)]
fn start_unshared(name: &str, args: &[&str], setup: &str) -> Victim {
    let out = Dir::new(&format!("victim-unshared-{name}"));
    let script = format!("{setup} && exec \"$0\" \"$1\"");
    let mut cmd = Command::new("unshare");
    cmd.args(args)
        .args(["sh", "-c", &script])
        .arg(victim(name))
        .arg(out.s());
    run_victim(cmd, out)
}

/// `-t` naming a thread that is not its process's leader is refused, with
/// the process to dump instead; the process runs on.
#[test]
fn dump_of_a_thread_names_its_process() {
    let Some(_g) = harness("threads") else { return };
    let pid = start_fixture("threads");
    let tid = poll(Duration::from_secs(5), || {
        fs::read_dir(format!("/proc/{pid}/task"))
            .ok()?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .find(|&t| t != pid)
    })
    .expect("a second thread");
    let dir = Dir::new("thread-tid");
    let out = crest_cmd(&[
        "dump",
        "-t",
        &tid.to_string(),
        "-D",
        dir.s(),
        "--leave-running",
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&format!("pid {tid} is a thread of process {pid}")),
        "{t}"
    );
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "the process runs on"
    );
    crest::sys::kill(pid, libc::SIGKILL).unwrap();
    wait_gone(pid);
}

/// A tree with an IPC namespace of its own is refused while a process
/// outside the tree shares that namespace (before anything is written;
/// the victim runs on), and dumps and restores once it is alone in it.
#[test]
fn shared_ipc_namespace_is_refused() {
    let Some(_g) = harness("counter") else { return };
    let v = start_unshared("plain", &["--ipc"], "true");
    let mut other = Command::new("nsenter")
        .arg(format!("--ipc=/proc/{}/ns/ipc", v.pid))
        .args(["sleep", "30"])
        .spawn()
        .expect("nsenter (util-linux)");
    let joined = poll(Duration::from_secs(5), || {
        let ns = |p: u32| fs::read_link(format!("/proc/{p}/ns/ipc")).ok();
        (ns(other.id()).is_some() && ns(other.id()) == ns(v.pid as u32)).then_some(())
    });
    assert!(joined.is_some(), "nsenter did not join the IPC namespace");
    let dir = Dir::new("unshared-ipc");
    let res = crest_cmd(&["dump", "-t", &v.pid.to_string(), "-D", dir.s()]);
    let _ = other.kill();
    let _ = other.wait();
    assert_eq!(res.status.code(), Some(1));
    assert!(
        text(&res).contains(&format!(
            "its IPC namespace is shared with pid {}",
            other.id()
        )),
        "{}",
        text(&res)
    );
    assert!(
        fs::read_dir(&dir.0).unwrap().next().is_none(),
        "no images from a refused dump"
    );
    let out = crest_cmd(&["dump", "-t", &v.pid.to_string(), "-D", dir.s()]);
    assert!(out.status.success(), "dump: {}", text(&out));
    wait_gone(v.pid);
    crit_decodes(&dir.0);
    restore_dir(&dir, v.pid);
    let own = |p: &str| fs::read_link(format!("/proc/{p}/ns/ipc")).unwrap();
    assert_ne!(
        own(&v.pid.to_string()),
        own("self"),
        "in an IPC namespace of its own"
    );
    assert_eq!(v.verdict().as_deref(), Some("PASS"));
    assert_nothing_left(v.pid as u32);
}

/// Restores the container dumped in `dir` twice from the same images:
/// each time the root must come back as init (NSpid 1) of a new pid
/// namespace, be let run `settle_ms`, and, sent SIGTERM, write PASS to
/// `verdict`; nothing of it may be left.
fn restore_container_twice(dir: &Dir, verdict: &Path, settle_ms: u64, name: &str) {
    for round in 1..=2 {
        let _ = fs::remove_file(verdict);
        let pidfile = dir.0.join("restored.pid");
        let out = crest_cmd(&[
            "restore",
            "-D",
            dir.s(),
            "-d",
            "--pidfile",
            pidfile.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "restore {name} round {round}: {}",
            text(&out)
        );
        reap_all();
        let root: i32 = fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let nspid = crest::proc::ns_field(root, "NSpid").unwrap();
        assert_eq!(nspid, Some(1), "the restored root is init of its namespace");
        std::thread::sleep(Duration::from_millis(settle_ms));
        crest::sys::kill(root, libc::SIGTERM).unwrap();
        let v = wait_for(verdict, 5);
        wait_gone(root);
        assert_eq!(v.as_deref(), Some("PASS"), "{name} round {round}");
        assert_nothing_left(root as u32);
    }
}

/// The pidns fixture's program live: a container (init of new pid, UTS
/// and IPC namespaces, SysV objects, a zombie) dumped by its host pid,
/// restored twice from the same images, each time as a new pid
/// namespace (the root's host pid is whatever is free) whose tasks check
/// their namespace pids, names, IPC objects and memory.
#[test]
fn pidns_live() {
    let name = "pidns";
    let Some(_g) = harness(name) else { return };
    let init = start_fixture(name);
    std::thread::sleep(Duration::from_millis(400));
    let dir = Dir::new(name);
    let out = crest_cmd(&["dump", "-t", &init.to_string(), "-D", dir.s()]);
    assert!(out.status.success(), "dump {name}: {}", text(&out));
    wait_gone(init);
    crit_decodes(&dir.0);
    let names = [
        "ipcns-var-",
        "ipcns-shm-",
        "ipcns-sem-",
        "ipcns-msg-",
        "utsns-",
    ];
    assert_images(&dir.0, &names);
    restore_container_twice(&dir, &Path::new(RUN).join(format!("{name}.out")), 200, name);
}

/// The container victim (tests/victims/container.c): init of new pid,
/// UTS and IPC namespaces with children in two process groups, a
/// zombie, System V objects (one segment attached in four tasks) and a
/// pipe between two members. Dumped by its host pid, restored twice from
/// the same images; each time it checks itself from inside.
#[test]
#[allow(clippy::zombie_processes)] // the launcher is reaped by reap_all()
fn container_victim_round_trip() {
    let Some(_g) = harness("counter") else { return };
    let out = Dir::new("victim-container");
    Command::new(victim("container"))
        .arg(out.s())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let init: i32 = wait_for(&out.0.join("ready"), 10)
        .expect("container ready")
        .parse()
        .unwrap();
    let dir = Dir::new("container");
    let res = crest_cmd(&["dump", "-t", &init.to_string(), "-D", dir.s()]);
    assert!(res.status.success(), "dump: {}", text(&res));
    wait_gone(init);
    crit_decodes(&dir.0);
    restore_container_twice(&dir, &out.0.join("verdict"), 100, "container");
}

/// A process in a network namespace of its own (netns.c: lo, a veth
/// pair, a bridge, IPv4 and IPv6 addresses, routes, a sysctl) comes back
/// in a new one built the same, which it checks from inside. A restore
/// failed once the namespace is built leaves no task and no namespace,
/// and the next one works.
#[test]
fn network_namespace_round_trip() {
    let Some(_g) = harness("counter") else { return };
    let v = start_victim("netns", &[]);
    let dir = Dir::new("netns");
    let out = crest_cmd(&["dump", "-t", &v.pid.to_string(), "-D", dir.s()]);
    assert!(out.status.success(), "dump netns: {}", text(&out));
    wait_gone(v.pid);
    crit_decodes(&dir.0);
    let before = namespaces();
    let failed = Command::new(crest())
        .args(["restore", "-d", "--shell-job", "-D", dir.s()])
        .env("CREST_FAULT", "network")
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    assert!(
        text(&failed).contains("network: fault injected by CREST_FAULT"),
        "{}",
        text(&failed)
    );
    reap_all();
    assert_nothing_left(v.pid as u32);
    let after = namespaces();
    assert!(
        after.is_subset(&before),
        "namespaces left: {:?}",
        after.difference(&before)
    );
    restore_dir(&dir, v.pid);
    assert_eq!(
        v.verdict().as_deref(),
        Some("PASS"),
        "netns after dump + restore"
    );
    assert_nothing_left(v.pid as u32);
}

/// A veth whose peer is outside the tree's network namespace: the
/// restore refuses it by name unless --external veth[IN]:OUT says what to
/// make outside; with it the peer comes back in crest's namespace, named
/// OUT, and goes with the namespace.
#[test]
fn network_namespace_external_veth() {
    let Some(_g) = harness("counter") else { return };
    let host_link = || host_link("crestout0");
    let v = start_victim("netns", &["crestout0"]);
    assert!(host_link(), "the victim's outer veth end");
    let dir = Dir::new("netns-veth");
    let out = crest_cmd(&["dump", "-t", &v.pid.to_string(), "-D", dir.s()]);
    assert!(out.status.success(), "dump netns: {}", text(&out));
    wait_gone(v.pid);
    assert!(
        link_gone("crestout0"),
        "the outer end outlived its namespace"
    );
    let refused = crest_cmd(&["restore", "-d", "--shell-job", "-D", dir.s()]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("--external veth[crestin0]:NAME"),
        "{}",
        text(&refused)
    );
    reap_all();
    assert_nothing_left(v.pid as u32);
    let pidfile = dir.0.join("restored.pid");
    let out = crest_cmd(&[
        "restore",
        "-d",
        "--shell-job",
        "-D",
        dir.s(),
        "--external",
        "veth[crestin0]:crestout0",
        "--pidfile",
        pidfile.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "restore: {}", text(&out));
    reap_all();
    assert!(host_link(), "no outer veth end after the restore");
    assert_eq!(
        v.verdict().as_deref(),
        Some("PASS"),
        "netns after dump + restore"
    );
    assert_nothing_left(v.pid as u32);
    assert!(
        link_gone("crestout0"),
        "the outer end outlived the restored namespace"
    );
}

/// --empty-ns net: the tree's network namespace comes back new and empty
/// (lo alone, down) for a setup-namespaces script, which sees it through
/// CRTOOLS_INIT_PID; the images of the dumped links are not used.
#[test]
fn empty_network_namespace_for_a_script() {
    let Some(_g) = harness("counter") else { return };
    let v = start_unshared(
        "plain",
        &["--net"],
        "ip link set lo up && ip link add crestd0 type veth peer name crestd1",
    );
    let dir = Dir::new("unshared-net");
    let out = crest_cmd(&["dump", "-t", &v.pid.to_string(), "-D", dir.s()]);
    assert!(out.status.success(), "dump: {}", text(&out));
    wait_gone(v.pid);
    let seen = dir.0.join("links-seen");
    let script = format!(
        "[ \"$CRTOOLS_SCRIPT_ACTION\" != setup-namespaces ] || \
         nsenter --net=/proc/$CRTOOLS_INIT_PID/ns/net ip -o link > {}",
        seen.display()
    );
    let pidfile = dir.0.join("restored.pid");
    let out = crest_cmd(&[
        "restore",
        "-d",
        "--shell-job",
        "-D",
        dir.s(),
        "--empty-ns",
        "net",
        "--action-script",
        &script,
        "--pidfile",
        pidfile.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "restore: {}", text(&out));
    reap_all();
    let links = fs::read_to_string(&seen).expect("the script's view of the namespace");
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.starts_with("1: lo: <LOOPBACK>"), "{links}");
    let own = |p: &str| fs::read_link(format!("/proc/{p}/ns/net")).unwrap();
    assert_ne!(
        own(&v.pid.to_string()),
        own("self"),
        "in a network namespace of its own"
    );
    assert_eq!(v.verdict().as_deref(), Some("PASS"));
    assert_nothing_left(v.pid as u32);
}

/// A tree in a UTS namespace of its own comes back in a new one with its
/// host and domain names (utsns-*.img), ours untouched.
#[test]
fn uts_namespace_round_trip() {
    let Some(_g) = harness("counter") else { return };
    let v = start_unshared(
        "plain",
        &["--uts"],
        "hostname crest-uts-box && domainname crest-uts.test",
    );
    let dir = Dir::new("unshared-uts");
    let out = crest_cmd(&["dump", "-t", &v.pid.to_string(), "-D", dir.s()]);
    assert!(out.status.success(), "dump: {}", text(&out));
    wait_gone(v.pid);
    crit_decodes(&dir.0);
    restore_dir(&dir, v.pid);
    let uts = |args: &[&str]| {
        let o = Command::new("nsenter")
            .arg(format!("--uts=/proc/{}/ns/uts", v.pid))
            .args(args)
            .output()
            .expect("nsenter (util-linux)");
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert_eq!(uts(&["hostname"]), "crest-uts-box");
    assert_eq!(uts(&["domainname"]), "crest-uts.test");
    let own = |p: &str| fs::read_link(format!("/proc/{p}/ns/uts")).unwrap();
    assert_ne!(
        own(&v.pid.to_string()),
        own("self"),
        "in a UTS namespace of its own"
    );
    assert_eq!(v.verdict().as_deref(), Some("PASS"));
    assert_nothing_left(v.pid as u32);
}

#[test]
fn traced_task_is_refused() {
    let Some(_g) = harness("counter") else { return };
    let v = start_victim("plain", &[]);
    crest::sys::ptrace_seize(v.pid, 0).unwrap();
    let dir = Dir::new("traced");
    let out = crest_cmd(&["dump", "-t", &v.pid.to_string(), "-D", dir.s()]);
    // Detaching needs a stopped tracee.
    crest::sys::ptrace_interrupt(v.pid).unwrap();
    crest::sys::waitpid(v.pid, libc::__WALL).unwrap();
    crest::sys::ptrace_detach(v.pid).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("may not be traced"), "{}", text(&out));
    assert_eq!(v.verdict().as_deref(), Some("PASS"));
    assert_nothing_left(v.pid as u32);
}

/// POSIX timers keep their ids, clocks, signals and remaining times (one
/// periodic, one one-shot far away, one disarmed), and the itimer keeps
/// firing after dump + restore.
#[test]
fn timers_victim_round_trip() {
    victim_round_trip("timers", 0);
}

/// A POSIX timer that signals one given thread (SIGEV_THREAD_ID) comes
/// back aimed at that thread (CRIU's pthread_timers): it is created once
/// the thread exists again.
#[test]
fn thread_timer_round_trip() {
    victim_round_trip("thread_timer", 0);
}

/// A glibc SIGEV_THREAD timer (CRIU's pthread_timers): its expiries come
/// as signal 32 to glibc's helper thread, one of them queued there while
/// the dump holds the task. The restore queues it again while every
/// signal, 32 too, is blocked, so it waits for the dumped mask.
#[test]
fn sigev_thread_timer_round_trip() {
    victim_round_trip("sigev_thread", 0);
}

/// A thread running under credentials of its own (uid and gid 1000, the
/// main thread root) keeps them (CRIU's different_creds).
#[test]
fn thread_credentials_round_trip() {
    victim_round_trip("threadcreds", 0);
}

/// Tasks sharing one descriptor table (CLONE_FILES: a child and its own
/// child) come back sharing it, beside a child with a table of its own
/// (clonefiles.c, as CRIU's fdt_shared).
#[test]
fn shared_descriptor_table_round_trip() {
    victim_round_trip("clonefiles", 0);
}

/// Private pages a parent and its child share copy-on-write stay one
/// page after a restore, anonymous and file-backed; pages either wrote
/// since the fork, or the parent alone touched, come back as each had
/// them (cow.c, as CRIU's cow00 and cow01).
#[test]
fn copy_on_write_memory_round_trip() {
    victim_round_trip("cow", 0);
}

/// A filter all threads share (TSYNC) in a process that dropped its
/// privileges without no_new_privs: restored shared, so that a later
/// TSYNC of the process's own still works (seccomp_tsync.c).
#[test]
fn seccomp_tsync_round_trip() {
    victim_round_trip("seccomp_tsync", 0);
}

/// Threads of one process under seccomp filters of their own (none, the
/// main thread's, the main thread's and one more) keep them
/// (seccomp_threads.c, as CRIU's seccomp_filter_threads).
#[test]
fn seccomp_filters_per_thread_round_trip() {
    victim_round_trip("seccomp_threads", 0);
}

/// Two stacked seccomp filters and no_new_privs survive dump + restore.
#[test]
fn seccomp_victim_round_trip() {
    victim_round_trip("seccomp", 0);
}

/// A process killed while it is being dumped: the dump either completes
/// (the kill came after it) or fails with a clear error; it never panics,
/// never hangs, and a failed dump leaves no images behind.
#[test]
fn task_dying_mid_dump_is_handled() {
    let Some(_g) = harness("counter") else { return };
    for delay_us in [0u64, 300, 1000, 2000, 4000, 8000] {
        let v = start_victim("plain", &["8"]);
        let dir = Dir::new(&format!("dying-{delay_us}"));
        let pid = v.pid;
        let killer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_micros(delay_us));
            let _ = crest::sys::kill(pid, libc::SIGKILL);
        });
        let out = Command::new(crest())
            .args(["dump", "-t", &pid.to_string(), "-D", dir.s()])
            .output()
            .unwrap();
        killer.join().unwrap();
        let t = text(&out);
        assert!(!t.contains("panicked"), "{t}");
        match out.status.code() {
            Some(0) => {}
            Some(1) => {
                assert!(t.contains(&pid.to_string()), "the error names the pid: {t}");
                let left: Vec<_> = fs::read_dir(&dir.0)
                    .unwrap()
                    .flatten()
                    .map(|e| e.file_name())
                    .collect();
                assert!(left.is_empty(), "a failed dump leaves no images: {left:?}");
            }
            c => panic!("dump exit {c:?}: {t}"),
        }
        wait_gone(pid);
        assert_nothing_left(pid as u32);
    }
}

/// A task stopped by SIGTSTP is dumped as stopped (also with
/// --leave-running, which leaves it stopped) and restored stopped by the
/// same signal (a second dump sees it in that group stop: CRIU's
/// stopped03); after SIGCONT it carries on. The victim leads a process
/// group of the test's session, which is not orphaned, so that job
/// control stops it at all.
#[test]
fn stopped_task_is_restored_stopped() {
    use std::os::unix::process::CommandExt;
    let Some(_g) = harness("counter") else { return };
    let out = Dir::new("victim-stopped");
    let mut cmd = Command::new(victim("plain"));
    cmd.arg(out.s()).process_group(0);
    let v = run_victim(cmd, out);
    let state = |pid: i32| {
        let st = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        st.rsplit(") ").next().and_then(|r| r.chars().next())
    };
    let stop_signo = |dir: &Dir| {
        let core = crest::images::file::CORE.read_one(&dir.0, v.pid.to_string());
        core.unwrap().tc.and_then(|tc| tc.stop_signo)
    };
    std::thread::sleep(Duration::from_millis(100));
    crest::sys::kill(v.pid, libc::SIGTSTP).unwrap();
    let stopped = poll(Duration::from_secs(5), || {
        (state(v.pid) == Some('T')).then_some(())
    });
    assert!(stopped.is_some(), "SIGTSTP did not stop the victim");
    let kept = Dir::new("stopped-kept");
    let leave = |dir: &Dir| {
        let pid = v.pid.to_string();
        let out = crest_cmd(&["dump", "-t", &pid, "-D", dir.s(), "--leave-running"]);
        assert!(out.status.success(), "dump: {}", text(&out));
    };
    leave(&kept);
    assert_eq!(state(v.pid), Some('T'), "left running, and still stopped");
    assert_eq!(stop_signo(&kept), Some(libc::SIGTSTP as u32));
    let dir = Dir::new("stopped");
    let out = crest_cmd(&["dump", "-t", &v.pid.to_string(), "-D", dir.s()]);
    assert!(out.status.success(), "dump: {}", text(&out));
    wait_gone(v.pid);
    restore_dir(&dir, v.pid);
    // The loader stops the task again as it lets it go: the stop lands
    // asynchronously.
    let stopped = poll(Duration::from_secs(5), || {
        (state(v.pid) == Some('T')).then_some(())
    });
    assert!(stopped.is_some(), "restored stopped");
    let again = Dir::new("stopped-again");
    leave(&again);
    assert_eq!(
        stop_signo(&again),
        Some(libc::SIGTSTP as u32),
        "stopped by SIGTSTP after the restore"
    );
    crest::sys::kill(v.pid, libc::SIGCONT).unwrap();
    assert_eq!(v.verdict().as_deref(), Some("PASS"));
    assert_nothing_left(v.pid as u32);
}

/// Scheduling class and nice value of two tasks, oom_score_adj,
/// loginuid, the child-subreaper flag, PR_SET_THP_DISABLE, a membarrier
/// registration, a parent-death signal and the owners and signals of two
/// pipe ends come back as dumped (CRIU's sched_policy00, oom_score_adj,
/// loginuid, child_subreaper, thp_disable, membarrier, pdeath_sig and
/// file_fown).
#[test]
fn process_attributes_round_trip() {
    victim_round_trip("attrs", 0);
}

/// A process group whose leader exited, holding a live orphan and a
/// zombie one (both reparented to a subreaper): the group comes back with
/// its number though no process has it (CRIU's zombie01).
#[test]
fn leaderless_group_round_trip() {
    victim_round_trip("orphans", 0);
}

/// A task that unmapped its vdso and vvar is dumped through a syscall
/// instruction of its own code and restored without them (CRIU's vdso02).
#[test]
fn task_without_vdso_round_trip() {
    victim_round_trip("novdso", 0);
}

/// A tree in cgroups of its own (a pids limit, a child in a cgroup
/// below): the dump records them in cgroup.img; with the cgroups gone,
/// `--manage-cgroups=none` refuses by name, a failed restore leaves none
/// of them behind, and the default (soft) makes them again with the
/// limit and puts each task back in its own.
#[test]
fn cgroups_round_trip() {
    let Some(_g) = harness("counter") else { return };
    let name = format!("crest-test-{}", std::process::id());
    let root = if Path::new("/sys/fs/cgroup/pids").is_dir() {
        Path::new("/sys/fs/cgroup/pids").join(&name)
    } else {
        Path::new("/sys/fs/cgroup").join(&name)
    };
    let remove = || {
        let _ = std::fs::remove_dir(root.join("inner"));
        let _ = std::fs::remove_dir(&root);
    };
    let v = start_victim("cgroups", &[&name]);
    let dir = Dir::new("cgroups");
    let out = crest_cmd(&["dump", "-t", &v.pid.to_string(), "-D", dir.s()]);
    assert!(out.status.success(), "dump cgroups: {}", text(&out));
    wait_gone(v.pid);
    reap_all();
    assert!(dir.0.join("cgroup.img").exists(), "no cgroup.img");
    crit_decodes(&dir.0);
    // The tasks are gone: their cgroups can go too.
    assert!(
        poll(Duration::from_secs(5), || {
            remove();
            (!root.exists()).then_some(())
        })
        .is_some(),
        "{} stays",
        root.display()
    );
    let refused = crest_cmd(&[
        "restore",
        "-d",
        "--shell-job",
        "--manage-cgroups=none",
        "-D",
        dir.s(),
    ]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains(&format!("{name}: missing")),
        "{}",
        text(&refused)
    );
    let failed = Command::new(crest())
        .args(["restore", "-d", "--shell-job", "-D", dir.s()])
        .env("CREST_FAULT", "files")
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    reap_all();
    assert_nothing_left(v.pid as u32);
    assert!(!root.exists(), "a failed restore left {}", root.display());
    restore_dir(&dir, v.pid);
    let verdict = v.verdict();
    reap_all();
    remove();
    assert_eq!(
        verdict.as_deref(),
        Some("PASS"),
        "cgroups after dump + restore"
    );
}
