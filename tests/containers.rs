//! Containers: a tree in new pid, mount, network, UTS, IPC and cgroup
//! namespaces and a cgroup of its own (tests/victims/box.c), dumped and restored
//! whole, checking itself from inside: with the host's root file system
//! as the namespace's root, and with a root file system of its own
//! (restored as dumped, with --root onto a copy of it, and with a mount
//! named by an --external key), and with a veth whose peer is outside
//! (--external veth). Restores failed on purpose once the mount tree and
//! the network are built leave nothing behind.

mod common;

use common::victim::*;
use common::*;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The pids cgroup of `pid` ("/crest-box-N").
fn pids_cgroup(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap()
        .lines()
        .find_map(|l| l.split_once(":pids:").map(|(_, p)| p.to_string()))
        .unwrap_or_default()
}

/// Removes the victim's cgroup once nothing is in it.
struct Cgroup(String);

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = fs::remove_dir(format!("/sys/fs/cgroup/pids{}", self.0));
    }
}

/// What a restore of ours may leave in crest's own view: scratch
/// directories and mounts.
fn our_traces() -> (Vec<String>, String) {
    let scratch = fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("crest-mnt-"))
        .collect();
    (scratch, fs::read_to_string("/proc/self/mountinfo").unwrap())
}

/// Restores the box dumped in `dir` (with `extra` options); its root's
/// host pid.
fn restore_box(dir: &Dir, extra: &[&str]) -> i32 {
    let pidfile = dir.0.join("restored.pid");
    let _ = fs::remove_file(&pidfile);
    let mut args = vec!["restore", "-d", "-D", dir.s(), "--pidfile"];
    args.push(pidfile.to_str().unwrap());
    args.extend_from_slice(extra);
    let out = crest_cmd(&args);
    assert!(out.status.success(), "restore {extra:?}: {}", text(&out));
    reap_all();
    let root: i32 = fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        crest::proc::ns_field(root, "NSpid").unwrap(),
        Some(1),
        "the restored root is init of its pid namespace"
    );
    root
}

/// A restore of `dir` refused with a message naming `option`, leaving
/// nothing of the tree (dumped as `pid`).
fn refused_naming(dir: &Dir, pid: i32, option: &str) {
    let refused = crest_cmd(&["restore", "-d", "-D", dir.s()]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(text(&refused).contains(option), "{}", text(&refused));
    assert_nothing_left(pid as u32);
}

/// SIGTERM to the restored root; its verdict once it ended.
fn verdict_of(root: i32, out: &Path) -> Option<String> {
    let _ = fs::remove_file(out.join("verdict.tmp"));
    std::thread::sleep(Duration::from_millis(200));
    crest::sys::kill(root, libc::SIGTERM).unwrap();
    let v = wait_for(&out.join("verdict"), 10);
    wait_gone(root);
    let _ = fs::remove_file(out.join("verdict"));
    v
}

/// The box on the host's root file system: its namespace's root is
/// crest's own, which CRIU cannot restore without --root and crest does.
#[test]
fn box_on_the_host_root() {
    let Some(_g) = harness("counter") else { return };
    let v = start_victim("box", &[]);
    let cgroup = Cgroup(pids_cgroup(v.pid));
    assert!(cgroup.0.starts_with("/crest-box-"), "{}", cgroup.0);
    let dir = Dir::new("box");
    let out = crest_cmd(&["dump", "-t", &v.pid.to_string(), "-D", dir.s()]);
    assert!(out.status.success(), "dump box: {}", text(&out));
    wait_gone(v.pid);
    crit_decodes(&dir.0);
    let names = [
        "mountpoints-",
        "tmpfs-dev-",
        "netdev-",
        "utsns-",
        "cgroup.img",
    ];
    assert_images(&dir.0, &names);
    // A restore failed once the mount tree is built, or once the network
    // is too: no task, namespace, mount, scratch directory or cgroup
    // member left.
    let (namespaces_before, traces_before) = (namespaces(), our_traces());
    for stage in ["mounts", "network"] {
        let failed = Command::new(crest())
            .args(["restore", "-d", "-D", dir.s()])
            .env("CREST_FAULT", stage)
            .output()
            .unwrap();
        assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
        assert!(
            text(&failed).contains(&format!("{stage}: fault injected by CREST_FAULT")),
            "{}",
            text(&failed)
        );
        assert_nothing_left(v.pid as u32);
        let left = namespaces();
        assert!(
            left.is_subset(&namespaces_before),
            "namespaces left after {stage}: {:?}",
            left.difference(&namespaces_before)
        );
        assert_eq!(our_traces(), traces_before, "after a failure at {stage}");
        let procs =
            fs::read_to_string(format!("/sys/fs/cgroup/pids{}/cgroup.procs", cgroup.0)).unwrap();
        assert!(procs.trim().is_empty(), "in the box's cgroup: {procs}");
    }
    let root = restore_box(&dir, &[]);
    assert_eq!(pids_cgroup(root), cgroup.0, "the root's cgroup");
    let ns = |p: String| fs::read_link(p).unwrap();
    assert_ne!(
        ns(format!("/proc/{root}/ns/cgroup")),
        ns("/proc/self/ns/cgroup".into()),
        "a cgroup namespace of its own"
    );
    let max = fs::read_to_string(format!("/sys/fs/cgroup/pids{}/pids.max", cgroup.0)).unwrap();
    assert_eq!(max.trim(), "64");
    assert_eq!(verdict_of(root, &v.out.0).as_deref(), Some("PASS"));
    assert_nothing_left(root as u32);
    assert_eq!(our_traces().0, Vec::<String>::new(), "scratch directories");
}

/// The box in a root file system of its own, its output directory bound
/// in at /out and dumped as an external mount by key: refused without
/// the key's path, restored with it, and again with --root onto a copy
/// of the root file system, which the restored tree then runs on.
#[test]
fn box_in_its_own_root() {
    let Some(_g) = harness("counter") else { return };
    let v = start_victim("box", &["rootfs"]);
    let _cgroup = Cgroup(pids_cgroup(v.pid));
    let dir = Dir::new("box-rootfs");
    let out = crest_cmd(&[
        "dump",
        "-t",
        &v.pid.to_string(),
        "-D",
        dir.s(),
        "--external",
        "mnt[/out]:outdir",
    ]);
    assert!(out.status.success(), "dump box: {}", text(&out));
    wait_gone(v.pid);
    crit_decodes(&dir.0);
    refused_naming(&dir, v.pid, "--external mnt[outdir]:PATH");
    let outdir = format!("mnt[outdir]:{}", v.out.s());
    let root = restore_box(&dir, &["--external", &outdir]);
    assert_eq!(verdict_of(root, &v.out.0).as_deref(), Some("PASS"));
    assert_nothing_left(root as u32);
    let copy = Dir::new("box-rootfs-copy");
    let st = Command::new("cp")
        .arg("-a")
        .arg(v.out.0.join("rootfs/."))
        .arg(&copy.0)
        .status()
        .unwrap();
    assert!(st.success());
    let root = restore_box(&dir, &["--external", &outdir, "--root", copy.s()]);
    use std::os::unix::fs::MetadataExt;
    let ino = |p: String| fs::metadata(p).unwrap().ino();
    assert_eq!(
        ino(format!("/proc/{root}/root/box-bin")),
        ino(format!("{}/box-bin", copy.s())),
        "the restored tree runs on the copy"
    );
    assert_eq!(verdict_of(root, &v.out.0).as_deref(), Some("PASS"));
    assert_nothing_left(root as u32);
}

/// The box with a veth whose peer is outside its network namespace:
/// refused without --external veth naming it; with it the peer comes back
/// in crest's namespace, named as given, and goes with the box.
#[test]
fn box_with_an_outside_veth() {
    let Some(_g) = harness("counter") else { return };
    let host_link = || host_link("crestbox0");
    let gone = || link_gone("crestbox0");
    let v = start_victim("box", &["veth"]);
    let _cgroup = Cgroup(pids_cgroup(v.pid));
    assert!(host_link(), "the box's outer veth end");
    let dir = Dir::new("box-veth");
    let out = crest_cmd(&["dump", "-t", &v.pid.to_string(), "-D", dir.s()]);
    assert!(out.status.success(), "dump box: {}", text(&out));
    wait_gone(v.pid);
    assert!(gone(), "the outer end outlived its namespace");
    refused_naming(&dir, v.pid, "--external veth[crestin0]:NAME");
    let root = restore_box(&dir, &["--external", "veth[crestin0]:crestbox0"]);
    assert!(host_link(), "the outer end, made here");
    assert_eq!(verdict_of(root, &v.out.0).as_deref(), Some("PASS"));
    assert_nothing_left(root as u32);
    assert!(gone(), "the outer end outlived the restored box");
}
