//! Files and memory against the real kernel: victims holding FIFOs,
//! pipes, shared open files, shared memory, terminals and anonymous-inode
//! files are dumped and restored by crest, and check themselves.

mod common;

use common::victim::*;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A FIFO opened by path twice (a non-blocking reader, a writer), with
/// bytes buffered and a larger pipe size: both descriptors come back on
/// the same FIFO with its bytes and size (fifo-data.img, CRIU's format).
#[test]
fn fifo_round_trip() {
    victim_round_trip("fifo", 0);
}

/// A parent and child joined by two pipes holding unread data (one resized
/// to 128 KiB, one end non-blocking): the tree, its pipes and their bytes
/// survive dump + restore.
#[test]
fn pipes_tree_round_trip() {
    victim_round_trip("pipes", 0);
}

/// A parent and child sharing MAP_SHARED|MAP_ANONYMOUS memory (partly
/// untouched): after dump + restore it holds the same bytes and is still
/// one object, written by one and seen by the other.
#[test]
fn shared_memory_tree_round_trip() {
    victim_round_trip("shmem", 0);
}

/// A pagemap-shmem entry whose offset plus length passes u64::MAX once got
/// past the bounds check (the sum wrapped), and the fill then wrote below
/// the object's mapping. It must be refused, naming the image and entry.
#[test]
fn crafted_shmem_pagemap_is_refused() {
    use crest::images::magic::PAGEMAP_MAGIC;
    use crest::images::schema::{PagemapEntry, PagemapHead};
    use crest::images::{Image, ImageWriter};
    let Some(_g) = harness("counter") else { return };
    let v = start_victim("shmem", &[]);
    let dir = Dir::new("shmem-crafted");
    let out = crest_cmd(&["dump", "-t", &v.pid.to_string(), "-D", dir.s()]);
    assert!(out.status.success(), "dump shmem: {}", text(&out));
    wait_gone(v.pid);
    let pm = fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("pagemap-shmem-")
        })
        .expect("a pagemap-shmem image");
    let img = Image::open(&pm, PAGEMAP_MAGIC).unwrap();
    assert!(img.records.len() > 1, "no shmem pages dumped");
    let mut w = ImageWriter::new(PAGEMAP_MAGIC);
    w.push(&img.decode::<PagemapHead>(0).unwrap());
    for i in 1..img.records.len() {
        let mut e: PagemapEntry = img.decode(i).unwrap();
        if i == 1 {
            e.vaddr = !0xfff_u64;
        }
        w.push(&e);
    }
    fs::write(&pm, w.into_bytes()).unwrap();
    let out = crest_cmd(&["restore", "-D", dir.s(), "-d", "--shell-job"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    let name = pm.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        t.contains(&name) && t.contains("entry 1") && t.contains("outside the object"),
        "{t}"
    );
    reap_all();
    assert_nothing_left(v.pid as u32);
}

/// A pagemap entry with pages for a shared file mapping would make the
/// restore write them into the file: refused while the images are read.
#[test]
fn pages_for_a_shared_file_mapping_are_refused() {
    use crest::images::file::MM;
    use crest::images::magic::PAGEMAP_MAGIC;
    use crest::images::schema::{PagemapEntry, PagemapHead};
    use crest::images::{Image, ImageWriter};
    let Some(_g) = harness("counter") else { return };
    let v = start_victim("reserve", &[]);
    let dir = Dir::new("shared-file-pages");
    let out = crest_cmd(&["dump", "-t", &v.pid.to_string(), "-D", dir.s()]);
    assert!(out.status.success(), "dump reserve: {}", text(&out));
    wait_gone(v.pid);
    let mm = MM.read_one(&dir.0, v.pid).unwrap();
    let shared = mm
        .vmas
        .iter()
        .find(|m| m.flags as i32 & libc::MAP_SHARED != 0 && m.status & (1 << 7) != 0)
        .expect("a shared file mapping in the reserve victim");
    let pm_path = dir.0.join(format!("pagemap-{}.img", v.pid));
    let img = Image::open(&pm_path, PAGEMAP_MAGIC).unwrap();
    let head: PagemapHead = img.decode(0).unwrap();
    // One more present page, for the shared mapping, in address order; its
    // bytes go where the pages file has that entry's place.
    let mut entries: Vec<PagemapEntry> = (1..img.records.len())
        .map(|i| img.decode::<PagemapEntry>(i).unwrap())
        .collect();
    let at = entries.partition_point(|e| e.vaddr < shared.start);
    let before: u64 = entries[..at]
        .iter()
        .filter(|e| e.flags.unwrap_or(4) & 4 != 0)
        .map(|e| e.nr_pages.unwrap_or(u64::from(e.compat_nr_pages)))
        .sum();
    entries.insert(
        at,
        PagemapEntry {
            vaddr: shared.start,
            nr_pages: Some(1),
            flags: Some(4),
            ..Default::default()
        },
    );
    let mut w = ImageWriter::new(PAGEMAP_MAGIC);
    w.push(&head);
    for e in &entries {
        w.push(e);
    }
    fs::write(&pm_path, w.into_bytes()).unwrap();
    let pages = dir.0.join(format!("pages-{}.img", head.pages_id));
    let mut data = fs::read(&pages).unwrap();
    let off = (before * 4096) as usize;
    data.splice(off..off, [0x5a; 4096]);
    fs::write(&pages, data).unwrap();
    let out = crest_cmd(&["restore", "-D", dir.s(), "-d", "--shell-job"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("shared mapping"), "{t}");
    reap_all();
    assert_nothing_left(v.pid as u32);
}

/// A task whose stdio is a terminal: refused without --shell-job; with
/// it the terminal is recorded, and a restore with --shell-job hands the
/// task the restoring crest's own terminal.
#[test]
// The victim is reaped by reap_all(), as in start_victim().
#[allow(clippy::zombie_processes)]
fn shell_job_terminal() {
    let Some(_g) = harness("counter") else { return };
    let (_master, slave) = crest::sys::open_pty().unwrap();
    let tty = || {
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&slave)
            .unwrap()
    };
    let out_dir = Dir::new("tty-victim");
    Command::new(victim("plain"))
        .arg(out_dir.s())
        .env_clear()
        .stdin(tty())
        .stdout(tty())
        .stderr(tty())
        .spawn()
        .unwrap();
    let pid: i32 = wait_for(&out_dir.0.join("ready"), 10)
        .unwrap()
        .parse()
        .unwrap();
    let v = Victim { pid, out: out_dir };
    let dir = Dir::new("tty");
    let refused = crest_cmd(&["dump", "-t", &pid.to_string(), "-D", dir.s()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused).contains("fd 0 is a terminal"),
        "{}",
        text(&refused)
    );
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "a refused dump leaves the task"
    );
    let out = crest_cmd(&["dump", "-t", &pid.to_string(), "-D", dir.s(), "--shell-job"]);
    assert!(out.status.success(), "dump: {}", text(&out));
    wait_gone(pid);
    crit_decodes(&dir.0);
    let pidfile = dir.0.join("restored.pid");
    let out = Command::new(crest())
        .args(["restore", "-D", dir.s(), "-d", "--shell-job", "--pidfile"])
        .arg(&pidfile)
        .stdin(tty())
        .output()
        .unwrap();
    assert!(out.status.success(), "restore: {}", text(&out));
    reap_all();
    let fd0 = fs::read_link(format!("/proc/{pid}/fd/0")).unwrap();
    assert_eq!(fd0, slave, "stdin is the restoring crest's terminal");
    assert_eq!(v.verdict().as_deref(), Some("PASS"));
    assert_nothing_left(pid as u32);
}

/// Pseudoterminal pairs come back with their indices, settings, lock,
/// packet and exclusive modes and queued data, and a child session gets
/// its controlling terminal and foreground group back (pty.c).
#[test]
fn pty_pairs_and_controlling_terminal() {
    victim_round_trip("pty", 0);
}

/// Descriptors of the task's own namespace files (net, uts, ipc) come
/// back as files of its namespaces, flags kept (nsfile.c).
#[test]
fn namespace_files_round_trip() {
    victim_round_trip("nsfile", 0);
}

/// An AIO ring with completed events not yet reaped comes back at its
/// address with those events, and the kernel's head and tail agree with
/// it: a new request completes after them (aio.c).
#[test]
fn aio_ring_round_trip() {
    victim_round_trip("aio", 0);
}

/// inotify watches keep their numbers (a gap included) and masks, a
/// fanotify mark its mask and the instance its flags (notify.c).
#[test]
fn inotify_fanotify_round_trip() {
    victim_round_trip("notify", 0);
}

/// An eventfd shared by a parent and child (with its counter), a signalfd
/// with a pending signal, and two timerfds (one periodic with expirations
/// to read, one far away) survive dump + restore.
#[test]
fn eventfd_signalfd_timerfd_round_trip() {
    victim_round_trip("anonfds", 0);
}

/// An epoll instance keeps its watch list, data words, trigger modes and
/// the readiness of its targets across dump + restore.
#[test]
fn epoll_round_trip() {
    victim_round_trip("epoll", 0);
}

/// A 64 GiB PROT_NONE reservation with a read-write middle, and a
/// read-only shared file mapping: premapping them must neither charge the
/// reservation nor ask for write access to the file.
#[test]
fn reservation_and_read_only_shared_mapping_round_trip() {
    victim_round_trip("reserve", 0);
}

/// One open file dup'ed within a task and shared across fork keeps one
/// offset; a second open of the same file keeps its own; every open file
/// of one pipe end keeps its own O_NONBLOCK (CRIU's file_shared, pipe01).
#[test]
fn shared_open_files_round_trip() {
    victim_round_trip("shared", 0);
}

/// Mappings keep their madvise advice (don't-fork, wipe-on-fork,
/// don't-dump, sequential) and MAP_LOCKED, pages made PROT_NONE after
/// they were written are dumped, and a read-only shared mapping of a
/// file opened for writing can be made writable again (CRIU's maps02,
/// maps04, maps_file_prot).
#[test]
fn mapping_flags_round_trip() {
    victim_round_trip("maps", 0);
}

/// Deleted files held open come back as they were, through ghost files
/// (CRIU's format): a sparse file with its hole and offset, a mapped one
/// still shared with its descriptor, an O_TMPFILE file, a FIFO with its
/// bytes, a directory, and a deleted cwd; their old paths are named in
/// /proc, and no ghost is left behind.
#[test]
fn deleted_files_round_trip() {
    victim_round_trip("ghost", 0);
}

/// Starts the plain victim with `stdin` and `stdout` as given.
// The victim is reaped by reap_all(), as in start_victim().
#[allow(clippy::zombie_processes)]
fn plain_with(name: &str, stdin: std::process::Stdio, stdout: std::process::Stdio) -> Victim {
    let out_dir = Dir::new(name);
    Command::new(victim("plain"))
        .arg(out_dir.s())
        .env_clear()
        .stdin(stdin)
        .stdout(stdout)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid: i32 = wait_for(&out_dir.0.join("ready"), 10)
        .unwrap()
        .parse()
        .unwrap();
    Victim { pid, out: out_dir }
}

/// --inherit-fd: a pipe of the images (pipe:[ID]) comes back as one of
/// the restoring crest's descriptors. --external file[MNT_ID:INODE]: a
/// file recorded by that name, not dumped; the restore refuses it until
/// --inherit-fd names a descriptor for it, which the task then gets.
#[test]
fn external_files_and_inherit_fd() {
    use std::os::unix::fs::MetadataExt;
    let Some(_g) = harness("counter") else { return };
    let (reader, writer) = std::io::pipe().unwrap();
    let v = plain_with(
        "inherit-victim",
        std::process::Stdio::null(),
        writer.try_clone().unwrap().into(),
    );
    let pipe = fs::read_link(format!("/proc/{}/fd/1", v.pid)).unwrap();
    let dir = Dir::new("inherit");
    let out = crest_cmd(&["dump", "-t", &v.pid.to_string(), "-D", dir.s()]);
    assert!(out.status.success(), "dump: {}", text(&out));
    wait_gone(v.pid);
    let name = pipe.to_str().unwrap().to_string(); // pipe:[INODE]
    let pidfile = dir.0.join("restored.pid");
    let out = Command::new(crest())
        .args(["restore", "-D", dir.s(), "-d", "--shell-job", "--pidfile"])
        .arg(&pidfile)
        .arg("--inherit-fd")
        .arg(format!("fd[0]:{name}"))
        .stdin(writer.try_clone().unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "restore: {}", text(&out));
    reap_all();
    assert_eq!(
        fs::read_link(format!("/proc/{}/fd/1", v.pid)).unwrap(),
        pipe
    );
    assert_eq!(v.verdict().as_deref(), Some("PASS"));
    assert_nothing_left(v.pid as u32);
    drop(reader);

    let held = Dir::new("inherit-files");
    let (a, b) = (held.0.join("a"), held.0.join("b"));
    fs::write(&a, "a").unwrap();
    fs::write(&b, "b").unwrap();
    let v = plain_with(
        "external-victim",
        fs::File::open(&a).unwrap().into(),
        std::process::Stdio::null(),
    );
    let fdinfo = fs::read_to_string(format!("/proc/{}/fdinfo/0", v.pid)).unwrap();
    let mnt_id: u64 = fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let ext = format!("file[{mnt_id:x}:{:x}]", fs::metadata(&a).unwrap().ino());
    let dir = Dir::new("external");
    let out = crest_cmd(&[
        "dump",
        "-t",
        &v.pid.to_string(),
        "-D",
        dir.s(),
        "--external",
        &ext,
    ]);
    assert!(out.status.success(), "dump: {}", text(&out));
    wait_gone(v.pid);
    crit_decodes(&dir.0);
    let refused = crest_cmd(&["restore", "-D", dir.s(), "-d", "--shell-job"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains(&format!("--inherit-fd fd[N]:{ext}")),
        "{}",
        text(&refused)
    );
    assert!(!Path::new(&format!("/proc/{}", v.pid)).exists());
    let out = Command::new(crest())
        .args([
            "restore",
            "-D",
            dir.s(),
            "-d",
            "--shell-job",
            "--inherit-fd",
        ])
        .arg(format!("fd[0]:{ext}"))
        .stdin(fs::File::open(&b).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "restore: {}", text(&out));
    reap_all();
    assert_eq!(fs::read_link(format!("/proc/{}/fd/0", v.pid)).unwrap(), b);
    assert_eq!(v.verdict().as_deref(), Some("PASS"));
    assert_nothing_left(v.pid as u32);
}

/// --external tty[RDEV:DEV]: a terminal recorded by name (an EXT_TTY
/// record), handed back at restore through --inherit-fd.
#[test]
fn external_terminal() {
    use std::os::unix::fs::MetadataExt;
    let Some(_g) = harness("counter") else { return };
    let (_master, slave) = crest::sys::open_pty().unwrap();
    let tty = || {
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&slave)
            .unwrap()
    };
    let v = plain_with("ext-tty-victim", tty().into(), std::process::Stdio::null());
    let meta = fs::metadata(&slave).unwrap();
    let ext = format!("tty[{:x}:{:x}]", meta.rdev(), meta.dev());
    let dir = Dir::new("ext-tty");
    let out = crest_cmd(&[
        "dump",
        "-t",
        &v.pid.to_string(),
        "-D",
        dir.s(),
        "--external",
        &ext,
    ]);
    assert!(out.status.success(), "dump: {}", text(&out));
    wait_gone(v.pid);
    crit_decodes(&dir.0);
    let out = Command::new(crest())
        .args([
            "restore",
            "-D",
            dir.s(),
            "-d",
            "--shell-job",
            "--inherit-fd",
        ])
        .arg(format!("fd[0]:{ext}"))
        .stdin(tty())
        .output()
        .unwrap();
    assert!(out.status.success(), "restore: {}", text(&out));
    reap_all();
    assert_eq!(
        fs::read_link(format!("/proc/{}/fd/0", v.pid)).unwrap(),
        slave
    );
    assert_eq!(v.verdict().as_deref(), Some("PASS"));
    assert_nothing_left(v.pid as u32);
}

/// A device opened by a path that now names another node (a bind mount
/// over its directory): refused, and with --evasive-devices dumped and
/// restored by that path, a node of the same device number.
#[test]
// The victim is reaped by reap_all(), as in start_victim().
#[allow(clippy::zombie_processes)]
fn evasive_devices() {
    use std::os::unix::fs::FileTypeExt;
    use std::os::unix::fs::MetadataExt;
    let Some(_g) = harness("counter") else { return };
    let top = Dir::new("evasive-nodes");
    let (a, b) = (top.0.join("a"), top.0.join("b"));
    for d in [&a, &b] {
        fs::create_dir_all(d).unwrap();
        let node = std::ffi::CString::new(d.join("zero").to_str().unwrap()).unwrap();
        crest::sys::mknod(&node, libc::S_IFCHR | 0o666, libc::makedev(1, 5)).unwrap();
    }
    let out_dir = Dir::new("evasive-victim");
    Command::new(victim("plain"))
        .arg(out_dir.s())
        .env_clear()
        .stdin(fs::File::open(a.join("zero")).unwrap())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid: i32 = wait_for(&out_dir.0.join("ready"), 10)
        .unwrap()
        .parse()
        .unwrap();
    let v = Victim { pid, out: out_dir };
    let mount = |args: &[&str]| Command::new("mount").args(args).status().unwrap();
    assert!(mount(&["--bind", b.to_str().unwrap(), a.to_str().unwrap()]).success());
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _mounted = Unmount(a.clone());
    let dir = Dir::new("evasive");
    let refused = crest_cmd(&["dump", "-t", &pid.to_string(), "-D", dir.s()]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("--evasive-devices"),
        "{}",
        text(&refused)
    );
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    let out = crest_cmd(&[
        "dump",
        "-t",
        &pid.to_string(),
        "-D",
        dir.s(),
        "--evasive-devices",
    ]);
    assert!(out.status.success(), "dump: {}", text(&out));
    wait_gone(pid);
    restore_dir(&dir, pid);
    let fd0 = fs::metadata(format!("/proc/{pid}/fd/0")).unwrap();
    assert!(fd0.file_type().is_char_device());
    assert_eq!(fd0.rdev(), libc::makedev(1, 5));
    assert_eq!(v.verdict().as_deref(), Some("PASS"));
    assert_nothing_left(pid as u32);
}

/// A deleted file still linked elsewhere: refused without --link-remap
/// (the task runs on, no link is left); with it, kept through a link
/// made next to it, which the restore removes again. The task gets the
/// very inode back, at its offset, still watched (linkremap.c).
#[test]
fn link_remap_round_trip() {
    let Some(_g) = harness("counter") else { return };
    let v = start_victim("linkremap", &[]);
    let sub = v.out.0.join("d");
    let listing = || -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&sub)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let dir = Dir::new("linkremap");
    let refused = crest_cmd(&["dump", "-t", &v.pid.to_string(), "-D", dir.s()]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("--link-remap"),
        "{}",
        text(&refused)
    );
    assert!(Path::new(&format!("/proc/{}", v.pid)).exists());
    assert!(listing().is_empty(), "left: {:?}", listing());
    let out = crest_cmd(&[
        "dump",
        "-t",
        &v.pid.to_string(),
        "-D",
        dir.s(),
        "--link-remap",
    ]);
    assert!(out.status.success(), "dump: {}", text(&out));
    wait_gone(v.pid);
    assert_eq!(listing(), ["link_remap.1"]);
    crit_decodes(&dir.0);
    restore_dir(&dir, v.pid);
    assert_eq!(v.verdict().as_deref(), Some("PASS"));
    assert!(listing().is_empty(), "left: {:?}", listing());
    assert_nothing_left(v.pid as u32);
}

/// Bad ghost files are refused with the image named, and nothing is left
/// behind: a chunk past the file's size, and an image cut short in its
/// data. Ghosts made before the bad one are removed again.
#[test]
fn crafted_ghost_images_are_refused() {
    use crest::images::magic::GHOST_FILE_MAGIC;
    use crest::images::schema::{GhostChunkEntry, GhostFileEntry};
    use crest::images::ImageWriter;
    let Some(_g) = harness("counter") else { return };
    let v = start_victim("ghost", &[]);
    let dir = Dir::new("ghost-crafted");
    let out = crest_cmd(&["dump", "-t", &v.pid.to_string(), "-D", dir.s()]);
    assert!(out.status.success(), "dump ghost: {}", text(&out));
    wait_gone(v.pid);
    let ghosts: Vec<PathBuf> = fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("ghost-file-"))
        .collect();
    assert!(ghosts.len() >= 5, "ghost images: {ghosts:?}");
    let last = ghosts.iter().max().unwrap();
    let original = fs::read(last).unwrap();
    let left_behind = || -> Vec<String> {
        fs::read_dir(&v.out.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "ready" && n != "live")
            .collect()
    };
    let mut past = ImageWriter::new(GHOST_FILE_MAGIC);
    past.push(&GhostFileEntry {
        mode: libc::S_IFREG | 0o600,
        chunks: Some(true),
        size: Some(10),
        ..Default::default()
    });
    past.push_raw(&GhostChunkEntry { len: 4, off: 8 }, &[], b"abcd");
    let cut = original[..original.len() - 1].to_vec();
    for (bytes, says) in [(past.into_bytes(), "lies past"), (cut, "")] {
        fs::write(last, &bytes).unwrap();
        let out = crest_cmd(&["restore", "-D", dir.s(), "-d", "--shell-job"]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{t}");
        let name = last.file_name().unwrap().to_string_lossy().into_owned();
        assert!(t.contains(&name) && t.contains(says), "{t}");
        assert_eq!(left_behind(), Vec::<String>::new(), "after: {t}");
        reap_all();
        assert_nothing_left(v.pid as u32);
    }
}

/// A sealed memfd held read-write at an offset and read-only, mapped
/// shared and privately (a page copied), comes back with its contents,
/// seals and offsets, and can still be executed (CRIU's memfd00-05).
#[test]
fn memfd_victim_round_trip() {
    victim_round_trip("memfd", 0);
}

/// POSIX, OFD and flock locks and a lease: refused without --file-locks
/// (the tree runs on), dumped with it (filelocks.img, CRIU's format) and
/// held again after the restore, as a lock-free process sees them
/// (CRIU's file_locks00-08, file_lease00-01).
#[test]
fn file_locks_round_trip() {
    let Some(_g) = harness("counter") else { return };
    let v = start_victim("locks", &[]);
    let dir = Dir::new("locks");
    let pid = v.pid.to_string();
    let out = crest_cmd(&["dump", "-t", &pid, "-D", dir.s()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--file-locks"), "{}", text(&out));
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "the refused dump ended the tree"
    );
    let out = crest_cmd(&["dump", "-t", &pid, "-D", dir.s(), "--file-locks"]);
    assert!(out.status.success(), "dump: {}", text(&out));
    wait_gone(v.pid);
    crit_decodes(&dir.0);
    // A lock on a descriptor the task does not hold: refused, named.
    use crest::images::file::FILE_LOCKS;
    let locks = dir.0.join("filelocks.img");
    let original = fs::read(&locks).unwrap();
    let mut bad = FILE_LOCKS.read_all(&dir.0, "").unwrap();
    let mut stray = bad[0].clone();
    stray.fd = 77;
    bad.push(stray);
    fs::write(&locks, FILE_LOCKS.encode(&bad)).unwrap();
    let out = crest_cmd(&["restore", "-D", dir.s(), "-d", "--shell-job"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("filelocks.img") && t.contains("fd 77"), "{t}");
    reap_all();
    assert_nothing_left(v.pid as u32);
    fs::write(&locks, original).unwrap();
    restore_dir(&dir, v.pid);
    assert_eq!(v.verdict().as_deref(), Some("PASS"));
    assert_nothing_left(v.pid as u32);
}

/// A task in a chroot, its cwd inside it: its root, cwd and files come
/// back (files and cwd are opened through the loader's paths before the
/// chroot; CRIU's chroot, chroot-file).
#[test]
fn chroot_round_trip() {
    victim_round_trip("chroot", 0);
}

/// pidfds of the task itself, of a live child and of an ended process
/// (three descriptors, two open files) come back naming the same
/// processes (CRIU's pidfd_self, pidfd_child, pidfd_dead,
/// pidfd_diffdead).
#[test]
fn pidfd_round_trip() {
    victim_round_trip("pidfd", 0);
}

/// The /proc directory of a process that has ended, as a cwd and through
/// a descriptor, comes back gone as it was: a helper holds the pid while
/// the tree opens it (a PROCFS remap), and none is left (deadproc.c).
#[test]
fn dead_process_proc_directory_round_trip() {
    victim_round_trip("deadproc", 0);
}
