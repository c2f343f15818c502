//! Restores against the real kernel: the CRIU 4.2 fixtures through their
//! own run.sh (the restored program checks itself and reports PASS), and
//! broken image sets that must fail cleanly, leaving no task behind.
//!
//! The harness is a child subreaper, so anything a failed restore leaves
//! behind is adopted here and shows up as our child; every test checks
//! that nothing does. Restores share pids, so tests run one at a time.

mod common;

use common::*;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

fn restore(images: &Path, env: &[(&str, &str)]) -> Output {
    let pidfile = images.parent().unwrap().join("restored.pid");
    Command::new(crest())
        .args(["restore", "-D"])
        .arg(images)
        .args(["-d", "--pidfile"])
        .arg(&pidfile)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn fixture_passes_twice(name: &str, pid: u32) {
    let Some(_g) = harness(name) else { return };
    let copy = Copy::new(name);
    for round in 1..=2 {
        let out = copy.run_sh();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(out.status.success(), "{name} round {round}: {text}");
        assert!(
            text.lines().any(|l| l == "PASS"),
            "{name} round {round}: {text}"
        );
        assert_nothing_left(pid);
    }
}

#[test]
fn counter_fixture() {
    fixture_passes_twice("counter", 31000);
}

#[test]
fn sigstate_fixture() {
    fixture_passes_twice("sigstate", 31100);
}

#[test]
fn tree_fixture() {
    fixture_passes_twice("tree", 31200);
}

#[test]
fn threads_fixture() {
    fixture_passes_twice("threads", 31300);
}

#[test]
fn openfile_fixture() {
    fixture_passes_twice("openfile", 31400);
}

/// stats-restore says where the time went: CRIU's forking and restore
/// times, and crest's own sums of premapping, page filling and the blob,
/// each inside the whole.
#[test]
fn stats_restore_splits_the_time() {
    let Some(_g) = harness("counter") else { return };
    let copy = Copy::new("counter");
    let out = copy.run_sh();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(text.lines().any(|l| l == "PASS"), "{text}");
    assert_nothing_left(31000);
    let shown = Command::new(crest())
        .arg("show")
        .arg(copy.images().join("stats-restore"))
        .output()
        .unwrap();
    let json = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(shown.status.success(), "{json}{}", stderr(&shown));
    let field = |name: &str| -> u64 {
        let at = json
            .find(&format!("\"{name}\":"))
            .unwrap_or_else(|| panic!("no {name} in {json}"));
        let digits: String = json[at + name.len() + 3..]
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        digits
            .parse()
            .unwrap_or_else(|_| panic!("{name} in {json}"))
    };
    let whole = field("restore_time");
    // counter has 9.4 MB of pages: reading them in takes measurable time.
    assert!(field("crest_fill_time") > 0, "{json}");
    for part in [
        "forking_time",
        "crest_premap_time",
        "crest_fill_time",
        "crest_blob_time",
    ] {
        assert!(field(part) <= whole, "{part} exceeds restore_time: {json}");
    }
    assert!(
        field("crest_premap_time") + field("crest_fill_time") + field("crest_blob_time") <= whole,
        "{json}"
    );
}

/// CRIU 4.2's memfd images: a sealed memfd held as fd 5 at an offset and
/// mapped shared by two processes, and MAP_SHARED anonymous memory that
/// CRIU dumps as a memfd named "/dev/zero".
/// A container dumped by CRIU 4.2: init (pid 1) of new pid, UTS and IPC
/// namespaces with four descendants in three process groups, a zombie, a
/// message queue, a semaphore set and two shm segments (one attached).
/// Its pids are inside its own namespace, so no host pid is fixed: the
/// check afterwards is that nothing of the tree is left.
#[test]
fn pidns_fixture() {
    let Some(_g) = harness("pidns") else { return };
    let copy = Copy::new("pidns");
    for round in 1..=2 {
        let out = copy.run_sh();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(out.status.success(), "pidns round {round}: {text}");
        assert!(
            text.lines().any(|l| l == "PASS"),
            "pidns round {round}: {text}"
        );
        reap_all();
        let left = children();
        assert!(left.is_empty(), "tasks left behind: {left:?}");
    }
}

/// A container restore that fails anywhere leaves nothing: a failing
/// blob stage in one of its tasks, an IPC object that cannot get its
/// dumped id (a segment listed twice), and a pid 1 whose images give it
/// no pid namespace of its own (refused before anything is created).
#[test]
fn failing_pidns_restore_leaves_nothing() {
    use crest::images::file::{INVENTORY, IPCNS_SHM};
    let Some(_g) = harness("pidns") else { return };
    let copy = Copy::new("pidns");
    copy.install_binary("pidns");
    let check = |out: Output, words: &[&str]| {
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(words.iter().all(|w| err.contains(w)), "{err}");
        reap_all();
        let left = children();
        assert!(left.is_empty(), "tasks left behind: {left:?}");
    };
    check(
        restore(&copy.images(), &[("CREST_FAULT", "creds")]),
        &["restorer failed at", "restoring credentials"],
    );

    let dir = copy.images();
    let shm = IPCNS_SHM.read_all(&dir, 10).unwrap();
    let twice = [&shm[0], &shm[0]];
    fs::write(IPCNS_SHM.path(&dir, 10), IPCNS_SHM.encode(twice)).unwrap();
    check(
        restore(&dir, &[]),
        &["(ns pid 1): ", "System V segment 0 (key 0x70696441)"],
    );
    fs::write(IPCNS_SHM.path(&dir, 10), IPCNS_SHM.encode(&shm)).unwrap();

    let mut inv = INVENTORY.read_one(&dir, "").unwrap();
    inv.root_ids.as_mut().unwrap().pid_ns_id = Some(9);
    fs::write(INVENTORY.path(&dir, ""), INVENTORY.encode([&inv])).unwrap();
    check(
        restore(&dir, &[]),
        &["pid 1 can only be restored as init of a new pid namespace"],
    );
}

/// Action scripts run at every restore action, in CRIU's order, with
/// CRIU's environment; at setup-namespaces the root's UTS and IPC
/// namespaces are already made and filled. One that fails at
/// post-restore fails the restore, and nothing is left.
#[test]
fn action_scripts() {
    let Some(_g) = harness("pidns") else { return };
    let copy = Copy::new("pidns");
    let log = copy.dir.join("actions.log");
    let script = copy.dir.join("log.sh");
    fs::write(
        &script,
        format!(
            "echo \"$CRTOOLS_SCRIPT_ACTION pid=$CRTOOLS_INIT_PID dir=$CRTOOLS_IMAGE_DIR\" >> {log}\n\
             if [ \"$CRTOOLS_SCRIPT_ACTION\" = setup-namespaces ]; then\n\
             nsenter -t \"$CRTOOLS_INIT_PID\" -u hostname >> {log}\n\
             nsenter -t \"$CRTOOLS_INIT_PID\" -i cat /proc/sysvipc/msg | wc -l >> {log}\n\
             fi\n",
            log = log.display()
        ),
    )
    .unwrap();
    let run = format!("sh {}", script.display());
    let out = copy.run_sh_with(&["--action-script", &run]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(
        out.status.success() && text.lines().any(|l| l == "PASS"),
        "{text}"
    );
    reap_all();
    let root = fs::read_to_string("/tmp/crest-fixtures/run/pidns.restored.pid").unwrap();
    let root = root.trim();
    let dir = copy.images();
    let want = format!(
        "pre-restore pid= dir={d}\n\
         setup-namespaces pid={root} dir={d}\ncrest-pidns-box\n2\n\
         post-setup-namespaces pid={root} dir={d}\n\
         post-restore pid={root} dir={d}\n\
         pre-resume pid={root} dir={d}\n\
         post-resume pid={root} dir={d}\n",
        d = dir.display()
    );
    assert_eq!(fs::read_to_string(&log).unwrap(), want);

    let before = namespaces();
    let failing = "[ \"$CRTOOLS_SCRIPT_ACTION\" != post-restore ]";
    let out = Command::new(crest())
        .args(["restore", "-D"])
        .arg(&dir)
        .args(["-d", "--action-script", failing])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("failed at post-restore"),
        "{}",
        stderr(&out)
    );
    reap_all();
    let left = children();
    assert!(left.is_empty(), "tasks left behind: {left:?}");
    let after = namespaces();
    assert!(
        after.is_subset(&before),
        "namespaces left: {:?}",
        after.difference(&before)
    );
}

/// Every loader stage CREST_FAULT names fails the restore of a container
/// there and leaves no task and no namespace behind.
#[test]
fn every_loader_stage_fails_cleanly() {
    let Some(_g) = harness("pidns") else { return };
    let copy = Copy::new("pidns");
    copy.install_binary("pidns");
    let before = namespaces();
    for stage in [
        "read",
        "plan",
        "layout",
        "pipes",
        "files",
        "premap",
        "prepare-namespaces",
        "ipc",
        "setup-namespaces",
        "forking",
        "zombies",
        "scripts",
        "post-restore",
        "pre-resume",
    ] {
        let out = restore(&copy.images(), &[("CREST_FAULT", stage)]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "fault {stage}: {err}");
        let named = if stage == "scripts" {
            "post-restore"
        } else {
            stage
        };
        assert!(
            err.contains(&format!("{named}: fault injected by CREST_FAULT")),
            "fault {stage}: {err}"
        );
        reap_all();
        let left = children();
        assert!(
            left.is_empty(),
            "fault {stage}: tasks left behind: {left:?}"
        );
        let after = namespaces();
        assert!(
            after.is_subset(&before),
            "fault {stage}: namespaces left: {:?}",
            after.difference(&before)
        );
    }
}

/// --restore-sibling: the restored root is the child of crest's parent
/// (here the test), not crest's. With -d crest just returns; without it
/// crest watches the root through ptrace and leaves with its exit status.
#[test]
fn restore_sibling() {
    let Some(_g) = harness("sigstate") else {
        return;
    };
    let copy = Copy::new("sigstate");
    copy.install_binary("sigstate");
    let pidfile = copy.dir.join("restored.pid");
    let verdict = Path::new("/tmp/crest-fixtures/run/sigstate.out");
    let ppid = |pid: i32| crest::proc::Stat::read(pid).unwrap().field(4) as i32;
    for detach in [true, false] {
        let _ = fs::remove_file(&pidfile);
        let _ = fs::remove_file(verdict);
        let mut cmd = Command::new(crest());
        cmd.args(["restore", "-D"])
            .arg(copy.images())
            .args(["--restore-sibling", "--pidfile"])
            .arg(&pidfile);
        if detach {
            cmd.arg("-d");
        }
        let mut crest_run = cmd.spawn().unwrap();
        if detach {
            assert!(crest_run.wait().unwrap().success());
        }
        let root = poll(Duration::from_secs(5), || {
            fs::read_to_string(&pidfile)
                .ok()?
                .trim()
                .parse::<i32>()
                .ok()
        })
        .expect("pidfile");
        assert_eq!(root, 31100);
        assert_eq!(
            ppid(root),
            std::process::id() as i32,
            "the root is our child"
        );
        crest::sys::kill(root, libc::SIGTERM).unwrap();
        let v = poll(Duration::from_secs(5), || fs::read_to_string(verdict).ok());
        assert_eq!(v.as_deref().map(str::trim), Some("PASS"));
        let (_, st) = crest::sys::waitpid(root, 0).unwrap().unwrap();
        assert!(
            libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0,
            "root status {st:#x}"
        );
        // With -d this is the status waited for above.
        let st = crest_run.wait().unwrap();
        assert_eq!(st.code(), Some(0), "crest passes on the root's status");
        assert_nothing_left(31100);
    }
}

/// An existing pidfile is written over: longer, of the same length, and
/// shorter than the new pid, it holds exactly the pid after each restore
/// (crest writes it in place rather than truncating it first).
#[test]
fn pidfile_is_written_over() {
    let Some(_g) = harness("sigstate") else {
        return;
    };
    let copy = Copy::new("sigstate");
    copy.install_binary("sigstate");
    let pidfile = copy.dir.join("restored.pid");
    for old in ["1234567890 from an earlier run\n", "99999\n", "7"] {
        fs::write(&pidfile, old).unwrap();
        let out = restore(&copy.images(), &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            fs::read_to_string(&pidfile).unwrap(),
            "31100\n",
            "over {old:?}"
        );
        crest::sys::kill(31100, libc::SIGKILL).unwrap();
        reap_all();
        let _ = poll(Duration::from_secs(5), || {
            reap_all();
            (!Path::new("/proc/31100").exists()).then_some(())
        });
        assert_nothing_left(31100);
    }
}

/// --check-only reads, checks and plans a restore and creates nothing:
/// the images of a fixture pass, a broken set is refused as a restore
/// would refuse it.
#[test]
fn check_only_creates_nothing() {
    let Some(_g) = harness("tree") else { return };
    let copy = Copy::new("tree");
    copy.install_binary("tree");
    let run = |dir: &Path| {
        Command::new(crest())
            .args(["restore", "--check-only", "-D"])
            .arg(dir)
            .output()
            .unwrap()
    };
    let out = run(&copy.images());
    assert!(out.status.success(), "{}", stderr(&out));
    reap_all();
    assert!(children().is_empty(), "tasks created");
    assert!(!Path::new(&format!("/proc/{PSTREE_ROOT}")).exists());
    fs::remove_file(copy.images().join(format!("mm-{PSTREE_ROOT}.img"))).unwrap();
    let out = run(&copy.images());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("mm-{PSTREE_ROOT}.img")),
        "{}",
        stderr(&out)
    );
}

/// CRIU 4.2's zombies: two dead children (exit code 42, SIGKILL) of a live
/// root, beside a live child.
#[test]
fn zombie_fixture() {
    fixture_passes_twice("zombie", 32200);
}

#[test]
fn memfd_fixture() {
    fixture_passes_twice("memfd", 32100);
}

#[test]
fn truncated_pages_file_is_refused() {
    let Some(_g) = harness("counter") else { return };
    let copy = Copy::new("counter");
    let pages = copy.images().join("pages-1.img");
    let len = fs::metadata(&pages).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&pages)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let out = restore(&copy.images(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("pages-1.img") && err.contains("needs"),
        "{err}"
    );
    assert_nothing_left(31000);
}

#[test]
fn missing_core_image_is_named() {
    let Some(_g) = harness("counter") else { return };
    let copy = Copy::new("counter");
    fs::remove_file(copy.images().join("core-31000.img")).unwrap();
    let out = restore(&copy.images(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("core-31000.img: missing image"), "{err}");
    assert_nothing_left(31000);
}

#[test]
fn corrupt_core_image_is_named() {
    let Some(_g) = harness("counter") else { return };
    let copy = Copy::new("counter");
    let core = copy.images().join("core-31000.img");
    let mut bytes = fs::read(&core).unwrap();
    // Keep the magic and the length prefix, garble the protobuf.
    for b in &mut bytes[12..40] {
        *b = 0xff;
    }
    fs::write(&core, bytes).unwrap();
    let out = restore(&copy.images(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("core-31000.img: record 0"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_nothing_left(31000);
}

#[test]
fn taken_pid_is_reported_with_its_holder() {
    let Some(_g) = harness("counter") else { return };
    let copy = Copy::new("counter");
    // Occupy pid 31000 with a sleeping process of ours.
    let sleep = c"/bin/sleep";
    let argv = [sleep.as_ptr(), c"30".as_ptr(), std::ptr::null()];
    // SAFETY: the child only calls execv (with arguments made before the
    // fork) and _exit: no allocation or lock another test thread may hold.
    let holder = match unsafe { crest::sys::clone3(0, &[31000]) }.expect("clone3 with set_tid") {
        crest::sys::Forked::Child => {
            // SAFETY: argv is a NULL-terminated array of C strings.
            unsafe { libc::execv(sleep.as_ptr(), argv.as_ptr()) };
            crest::sys::exit_now(127)
        }
        crest::sys::Forked::Parent(p) => p,
    };
    let out = restore(&copy.images(), &[]);
    crest::sys::kill(holder, libc::SIGKILL).unwrap();
    crest::sys::waitpid(holder, 0).unwrap();
    reap_all();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("pid 31000 is already in use by"), "{err}");
    assert_nothing_left(31000);
}

#[test]
fn failing_blob_leaves_nothing_behind() {
    let Some(_g) = harness("counter") else { return };
    let copy = Copy::new("counter");
    copy.install_binary("counter");
    for (fault, words) in [
        (
            "mremap",
            "moving a premapped VMA into place (mremap): EINVAL (Invalid argument)",
        ),
        ("creds", "restoring credentials"),
        ("sigreturn", "rt_sigreturn"),
    ] {
        let out = restore(&copy.images(), &[("CREST_FAULT", fault)]);
        assert_eq!(out.status.code(), Some(1), "fault {fault}");
        let err = stderr(&out);
        assert!(
            err.contains("pid 31000: restorer failed at") && err.contains(words),
            "{err}"
        );
        assert_nothing_left(31000);
    }
}

/// What used to be accepted silently is refused naming the image and the
/// record: a file id twice in files.img, pipe data for a pipe no task
/// holds, a pending signal whose siginfo is cut short, a child in a session
/// its parent cannot give it, a files.img padded with zeros.
#[test]
fn contradictions_are_refused_by_record() {
    use crest::images::file::{CORE, FILES};
    use crest::images::magic::PIPES_DATA_MAGIC;
    use crest::images::schema::{PipeDataEntry, SiginfoEntry, SignalQueueEntry};
    use crest::images::ImageWriter;
    let Some(_g) = harness("tree") else { return };
    let check = |copy: &Copy, words: &[&str]| {
        let out = restore(&copy.images(), &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(words.iter().all(|w| err.contains(w)), "{words:?}: {err}");
        reap_all();
        assert!(children().is_empty(), "tasks left behind");
    };

    let copy = Copy::new("tree");
    let mut files = FILES.read_all(&copy.images(), "").unwrap();
    files.push(files[0].clone());
    fs::write(copy.images().join("files.img"), FILES.encode(&files)).unwrap();
    check(&copy, &["files.img", "appears twice"]);

    let copy = Copy::new("tree");
    let mut w = ImageWriter::new(PIPES_DATA_MAGIC);
    let e = PipeDataEntry {
        pipe_id: 0x7fff_ffff,
        bytes: 1,
        size: None,
    };
    w.push_raw(&e, &[], b"x");
    fs::write(copy.images().join("pipes-data.img"), w.into_bytes()).unwrap();
    check(&copy, &["pipes-data.img", "record 0", "no task holds"]);

    let copy = Copy::new("tree");
    let root = PSTREE_ROOT;
    let mut core = CORE.read_one(&copy.images(), root).unwrap();
    core.tc.as_mut().unwrap().signals_s = Some(SignalQueueEntry {
        signals: vec![SiginfoEntry { siginfo: vec![10] }],
    });
    fs::write(CORE.path(&copy.images(), root), CORE.encode([&core])).unwrap();
    check(&copy, &[&format!("core-{root}.img"), "siginfo of 1 bytes"]);

    // A child in a session that neither it nor its parent leads.
    use crest::images::file::PSTREE;
    let copy = Copy::new("tree");
    let mut tree = PSTREE.read_all(&copy.images(), "").unwrap();
    let child = tree
        .iter()
        .position(|e| e.ppid == root && e.sid != e.pid)
        .unwrap();
    tree[child].sid = 4242;
    let pid = tree[child].pid;
    fs::write(copy.images().join("pstree.img"), PSTREE.encode(&tree)).unwrap();
    check(
        &copy,
        &["pstree.img", &format!("pid {pid} is in session 4242")],
    );

    // files.img padded with 64 MiB of zeros (64 Mi empty records): refused
    // at the first, not after splitting them all.
    let copy = Copy::new("tree");
    let path = copy.images().join("files.img");
    let mut data = fs::read(&path).unwrap();
    data.resize(data.len() + (64 << 20), 0);
    fs::write(&path, data).unwrap();
    check(&copy, &["files.img", "an empty record"]);
}

/// The tree fixture's root.
const PSTREE_ROOT: u32 = 31200;

/// Signals sent to a task while it is restored (a window-size change and
/// SIGCONT, a thousand a second) neither abort the restore nor get lost:
/// they are held while the loader traces the task and sent again after.
/// (A storm faster than the loader handles its stops keeps the task from
/// running at all; the restore then fails whole after 30 s.)
#[test]
fn signals_during_restore_are_delivered_after() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(_g) = harness("counter") else { return };
    let copy = Copy::new("counter");
    for sig in [libc::SIGWINCH, libc::SIGCONT] {
        let done = AtomicBool::new(false);
        let out = std::thread::scope(|s| {
            s.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    let _ = crest::sys::kill(31000, sig);
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            });
            let out = copy.run_sh();
            done.store(true, Ordering::Relaxed);
            out
        });
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(out.status.success(), "signal {sig}: {text}");
        assert!(text.lines().any(|l| l == "PASS"), "signal {sig}: {text}");
        assert_nothing_left(31000);
    }
}

/// Image files that are not regular files are refused at once: a FIFO as
/// pstree.img used to block the restore for ever, a link to /dev/zero to
/// grow without end.
#[test]
fn images_that_are_not_regular_files_are_refused() {
    let Some(_g) = harness("counter") else { return };
    for (file, make) in [
        ("pstree.img", "fifo"),
        ("pages-1.img", "fifo"),
        ("files.img", "zero"),
    ] {
        let copy = Copy::new("counter");
        copy.install_binary("counter");
        let path = copy.images().join(file);
        fs::remove_file(&path).unwrap();
        if make == "fifo" {
            let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
            // SAFETY: c is a NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        } else {
            std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        }
        let start = std::time::Instant::now();
        let out = restore(&copy.images(), &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{file} as a {make}: {err}");
        assert!(
            err.contains(file) && err.contains("not a regular file"),
            "{err}"
        );
        assert!(
            start.elapsed().as_secs() < 10,
            "{file}: took {:?}",
            start.elapsed()
        );
        assert_nothing_left(31000);
    }
}

/// Every stage of the blob with a fault point fails the restore when
/// CREST_FAULT names it, and leaves nothing behind; a name that is no stage
/// is an error, not a restore without the fault.
#[test]
fn every_blob_stage_fails_cleanly() {
    let Some(_g) = harness("counter") else { return };
    let copy = Copy::new("counter");
    copy.install_binary("counter");
    for stage in [
        "entry",
        "unmap",
        "mremap",
        "vdso",
        "mm",
        "sigaction",
        "itimer",
        "rlimit",
        "name",
        "thread",
        "sigqueue",
        "creds",
        "rseq",
        "sigreturn",
    ] {
        let out = restore(&copy.images(), &[("CREST_FAULT", stage)]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "fault {stage}: {err}");
        assert!(
            err.contains("pid 31000: restorer failed at"),
            "fault {stage}: {err}"
        );
        assert_nothing_left(31000);
    }
    let out = restore(&copy.images(), &[("CREST_FAULT", "bogus")]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("CREST_FAULT=\"bogus\" names no restore stage"),
        "{err}"
    );
    assert_nothing_left(31000);
}

#[test]
fn changed_binary_is_refused() {
    let Some(_g) = harness("counter") else { return };
    let copy = Copy::new("counter");
    copy.install_binary("counter");
    let bin = Path::new("/tmp/crest-fixtures/bin/counter");
    let mut f = fs::OpenOptions::new().append(true).open(bin).unwrap();
    std::io::Write::write_all(&mut f, b"x").unwrap();
    drop(f);
    let out = restore(&copy.images(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("/tmp/crest-fixtures/bin/counter is") && err.contains("when dumped"),
        "{err}"
    );
    let _ = fs::remove_file(bin);
    assert_nothing_left(31000);
}

/// The restored task's /proc/PID/maps covers exactly the dumped VMAs with
/// their protections (the running kernel's vvar/vdso where the dumped ones
/// were): the loader's memory and the restorer blob are gone. Adjacent
/// ranges with equal protection are joined on both sides, since the kernel
/// may merge VMAs that the dump saw apart (e.g. two brk extensions).
#[test]
fn restored_layout_is_the_dumped_layout() {
    use crest::images::{magic::MM_MAGIC, schema::MmEntry, Image};
    let Some(_g) = harness("counter") else { return };
    let copy = Copy::new("counter");
    copy.install_binary("counter");
    let out = restore(&copy.images(), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    reap_all(); // crest itself
    let maps = fs::read_to_string("/proc/31000/maps").unwrap();
    crest::sys::kill(31000, libc::SIGKILL).unwrap();
    crest::sys::waitpid(31000, 0).unwrap();
    let mm: MmEntry = Image::open(&copy.images().join("mm-31000.img"), MM_MAGIC)
        .unwrap()
        .decode_one()
        .unwrap();
    // On a kernel whose vdso differs from the dumped one, the dumped vdso
    // comes back as a proxy at its address (its own pages, redirected) and
    // this kernel's vvar/vdso set is mapped elsewhere; the dumped vvar is
    // not restored.
    const VMA_AREA_VDSO: u32 = 1 << 3;
    const VMA_AREA_VVAR: u32 = 1 << 12;
    let dumped_vdso = mm
        .vmas
        .iter()
        .find(|v| v.status & VMA_AREA_VDSO != 0)
        .unwrap();
    let proxied = !maps
        .lines()
        .any(|l| l.ends_with("[vdso]") && l.starts_with(&format!("{:x}-", dumped_vdso.start)));
    let rt_set = |l: &&str| {
        proxied && (l.ends_with("[vvar]") || l.ends_with("[vvar_vclock]") || l.ends_with("[vdso]"))
    };
    let want: Vec<(u64, u64, u32)> = mm
        .vmas
        .iter()
        .filter(|v| !(proxied && v.status & VMA_AREA_VVAR != 0))
        .map(|v| (v.start, v.end, v.prot))
        .collect();
    let got: Vec<(u64, u64, u32)> = maps
        .lines()
        .filter(|l| !rt_set(l))
        .map(|l| {
            let mut f = l.split_whitespace();
            let (s, e) = f.next().unwrap().split_once('-').unwrap();
            let perms = f.next().unwrap().as_bytes();
            let prot = (perms[0] == b'r') as u32
                | ((perms[1] == b'w') as u32) << 1
                | ((perms[2] == b'x') as u32) << 2;
            (
                u64::from_str_radix(s, 16).unwrap(),
                u64::from_str_radix(e, 16).unwrap(),
                prot,
            )
        })
        .collect();
    assert_eq!(coalesce(got), coalesce(want), "maps:\n{maps}");
    assert!(
        maps.contains("[heap]") && maps.contains("[stack]") && maps.contains("[vdso]"),
        "{maps}"
    );
    assert_nothing_left(31000);
}

/// Sorts and joins adjacent ranges of equal protection.
fn coalesce(mut v: Vec<(u64, u64, u32)>) -> Vec<(u64, u64, u32)> {
    v.sort_unstable();
    let mut out: Vec<(u64, u64, u32)> = Vec::new();
    for r in v {
        match out.last_mut() {
            Some(last) if last.1 == r.0 && last.2 == r.2 => last.1 = r.1,
            _ => out.push(r),
        }
    }
    out
}

/// Hostile images: bytes flipped or cut at pseudo-random places of every
/// image of the counter fixture. Each restore must end on its own (no
/// crash, no panic, no hang); a failure must say why; and whatever it did,
/// no task may survive it (a restore that still succeeds is killed here).
#[test]
fn mutated_images_fail_cleanly() {
    let Some(_g) = harness("counter") else { return };
    let copy = Copy::new("counter");
    copy.install_binary("counter");
    let images = protobuf_images(&copy.images());
    let mut seed: u64 = 0x5eed_c0ff_ee15_0001;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        seed >> 33
    };
    for round in 0..60 {
        let image = &images[next() as usize % images.len()];
        let original = fs::read(image).unwrap();
        let mut bytes = original.clone();
        let at = 8 + next() as usize % (bytes.len().max(9) - 8);
        if round % 4 == 3 {
            bytes.truncate(at); // cut short
        } else if at < bytes.len() {
            bytes[at] ^= 1 << (next() % 8); // one bit flipped
        }
        fs::write(image, &bytes).unwrap();
        let mut child = Command::new(crest())
            .args(["restore", "-d", "-D"])
            .arg(copy.images())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            assert!(
                start.elapsed().as_secs() < 40,
                "round {round}: restore hangs on {image:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let what = format!(
            "round {round}, {} byte {at}: {status:?} {err}",
            image.display()
        );
        assert!(!err.contains("panicked"), "{what}");
        eprintln!("{}", what.lines().next().unwrap_or(""));
        match status.code() {
            Some(0) => {
                reap_all();
                let _ = crest::sys::kill(31000, libc::SIGKILL);
                let _ = crest::sys::waitpid(31000, 0);
            }
            Some(1) => assert!(err.trim().len() > 10, "a failure says why: {what}"),
            _ => panic!("crest crashed: {what}"),
        }
        fs::write(image, &original).unwrap();
        assert_nothing_left(31000);
    }
}

/// Images of a zombie (as CRIU writes them for a dead child not yet
/// reaped) are refused with a message saying so.
#[test]
fn zombie_task_is_refused() {
    use crest::images::{magic::CORE_MAGIC, schema, schema::CoreEntry, Image, ImageWriter};
    let Some(_g) = harness("counter") else { return };
    let copy = Copy::new("counter");
    let path = copy.images().join("core-31000.img");
    let img = Image::open(&path, CORE_MAGIC).unwrap();
    let mut core = img
        .decode_kept::<CoreEntry>(0, &schema::CORE_ENTRY)
        .unwrap();
    core.msg.tc.as_mut().unwrap().task_state = 6;
    let mut w = ImageWriter::new(CORE_MAGIC);
    w.push_raw(&core.msg, &core.unknown, &[]);
    fs::write(&path, w.into_bytes()).unwrap();
    let out = restore(&copy.images(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("pid 31000 is a zombie task"), "{err}");
    assert_nothing_left(31000);
}
