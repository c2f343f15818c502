//! Sockets against the real kernel: victims holding unix, TCP, UDP,
//! netlink and packet sockets are dumped and restored by crest inside
//! network namespaces the tests make, and check themselves.

mod common;

use common::victim::*;
use common::*;
use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;
/// The socket victim's socketpair, with a byte queued, comes back with
/// its queue and both directions working.
#[test]
fn socketpair_victim_round_trip() {
    victim_round_trip("socket", 50);
}

/// A network namespace made for one test, with lo up: held by a `sleep`
/// under `unshare --net` (util-linux), entered with `nsenter`.
struct NetNs(std::process::Child);

impl NetNs {
    fn new() -> NetNs {
        let child = Command::new("unshare")
            .args([
                "--net",
                "sh",
                "-c",
                "ip link set lo up && touch \"$0\" && exec sleep 600",
            ])
            .arg(std::env::temp_dir().join(format!("crest-netns-{}", std::process::id())))
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare (util-linux)");
        let ready = std::env::temp_dir().join(format!("crest-netns-{}", std::process::id()));
        assert!(
            poll(Duration::from_secs(5), || ready.exists().then_some(())).is_some(),
            "network namespace with lo up (ip from iproute2)"
        );
        let _ = fs::remove_file(ready);
        NetNs(child)
    }

    /// `prog args` run inside the namespace.
    fn cmd(&self, prog: &Path) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/proc/{}/ns/net", self.0.id()))
            .arg(prog);
        c
    }

    fn crest(&self, args: &[&str]) -> Output {
        self.cmd(Path::new(crest())).args(args).output().unwrap()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts victim `name` inside `ns`.
fn start_in_netns(ns: &NetNs, name: &str, args: &[&str]) -> Victim {
    let out = Dir::new(&format!("victim-netns-{name}"));
    let mut cmd = ns.cmd(&victim(name));
    cmd.arg(out.s()).args(args);
    run_victim(cmd, out)
}

/// Restores `dir` inside `ns` (detached, as a shell job, with `extra`
/// options) and checks the restored root has the victim's pid.
fn restore_in_netns(ns: &NetNs, dir: &Dir, v: &Victim, extra: &[&str]) {
    let pidfile = dir.0.join("restored.pid");
    let pidfile = pidfile.to_str().unwrap();
    let mut args = vec![
        "restore",
        "-D",
        dir.s(),
        "-d",
        "--shell-job",
        "--pidfile",
        pidfile,
    ];
    args.extend_from_slice(extra);
    let out = ns.crest(&args);
    assert!(out.status.success(), "restore: {}", text(&out));
    reap_all();
    assert_eq!(
        fs::read_to_string(pidfile).unwrap().trim(),
        v.pid.to_string()
    );
}

/// Unix sockets of every kind (pairs across two processes, seqpacket
/// and datagram queues, a listener with a pending connection, an abstract
/// name, an orphan with data, a shut down pair, options) and TCP/UDP
/// sockets come back working, dumped and restored in a network namespace
/// the test made; crit decodes the images.
#[test]
fn sockets_round_trip() {
    let Some(_g) = harness("counter") else { return };
    let ns = NetNs::new();
    let v = start_in_netns(&ns, "sockets", &[]);
    let dir = Dir::new("sockets");
    let out = ns.crest(&["dump", "-t", &v.pid.to_string(), "-D", dir.s()]);
    assert!(out.status.success(), "dump: {}", text(&out));
    wait_gone(v.pid);
    crit_decodes(&dir.0);
    restore_in_netns(&ns, &dir, &v, &[]);
    assert_eq!(v.verdict().as_deref(), Some("PASS"));
    drop(ns);
    assert_nothing_left(v.pid as u32);
}

/// An established TCP connection is refused by name without
/// --tcp-established (nothing written, the victim's sockets still work);
/// with it, both ends come back through TCP_REPAIR with the bytes queued
/// and carry data again; crit decodes tcp-stream-*.img.
#[test]
fn established_tcp_round_trip() {
    let Some(_g) = harness("counter") else { return };
    let ns = NetNs::new();
    let v = start_in_netns(&ns, "sockets", &["tcp"]);
    let dir = Dir::new("sockets-tcp");
    let out = ns.crest(&["dump", "-t", &v.pid.to_string(), "-D", dir.s()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("a TCP connection in state ESTABLISHED") && t.contains("--tcp-established"),
        "{t}"
    );
    assert!(
        fs::read_dir(&dir.0).unwrap().next().is_none(),
        "no images from a refused dump"
    );
    let pid = v.pid.to_string();
    let out = ns.crest(&["dump", "-t", &pid, "-D", dir.s(), "--tcp-established"]);
    assert!(out.status.success(), "dump: {}", text(&out));
    wait_gone(v.pid);
    let streams = fs::read_dir(&dir.0)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("tcp-stream-"))
        .count();
    assert_eq!(streams, 2, "one stream image per end");
    crit_decodes(&dir.0);
    restore_in_netns(&ns, &dir, &v, &["--tcp-established"]);
    assert_eq!(v.verdict().as_deref(), Some("PASS"));
    drop(ns);
    assert_nothing_left(v.pid as u32);
}

/// A real server: `python3 -m http.server` on 127.0.0.1, in a network
/// namespace the test made, answers a request, is dumped idle, restored,
/// and answers the next request with the same file.
#[test]
fn python_http_server_round_trip() {
    let Some(_g) = harness("counter") else { return };
    if Command::new("python3").arg("-V").output().is_err() {
        cannot_run("the http.server test needs python3");
        return;
    }
    let ns = NetNs::new();
    let www = Dir::new("www");
    fs::write(www.0.join("index.txt"), "served by a restored python\n").unwrap();
    let port = 18000 + (std::process::id() % 1000) as u16;
    let server = ns
        .cmd(Path::new("python3"))
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .current_dir(&www.0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = server.id() as i32;
    let get = || {
        let script = format!(
            "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:{port}/index.txt', timeout=5).read().decode(), end='')"
        );
        ns.cmd(Path::new("python3"))
            .args(["-c", &script])
            .output()
            .unwrap()
    };
    let first = poll(Duration::from_secs(10), || {
        let o = get();
        o.status.success().then_some(o)
    })
    .expect("the server answers before the dump");
    assert_eq!(
        String::from_utf8_lossy(&first.stdout),
        "served by a restored python\n"
    );
    let dir = Dir::new("http-server");
    let out = ns.crest(&["dump", "-t", &pid.to_string(), "-D", dir.s(), "--shell-job"]);
    assert!(out.status.success(), "dump: {}", text(&out));
    drop(server);
    wait_gone(pid);
    let out = ns.crest(&["restore", "-D", dir.s(), "-d", "--shell-job"]);
    assert!(out.status.success(), "restore: {}", text(&out));
    reap_all();
    let after = get();
    assert!(
        after.status.success(),
        "request after restore: {}",
        text(&after)
    );
    assert_eq!(
        String::from_utf8_lossy(&after.stdout),
        "served by a restored python\n"
    );
    let _ = crest::sys::kill(pid, libc::SIGKILL);
    wait_gone(pid);
    drop(ns);
    assert_nothing_left(pid as u32);
}

/// Crafted socket images are refused with the object named, and no task
/// is left: a unix peer missing from files.img, a queue record longer
/// than the bytes after it, an inet socket of an unknown family.
#[test]
fn crafted_socket_images_are_refused() {
    use crest::images::file::FILES;
    use crest::images::magic::SK_QUEUES_MAGIC;
    use crest::images::schema::{FileEntry, SkPacketEntry};
    use crest::images::ImageWriter;
    let Some(_g) = harness("counter") else { return };
    let ns = NetNs::new();
    let v = start_in_netns(&ns, "sockets", &[]);
    let dir = Dir::new("sockets-crafted");
    let out = ns.crest(&["dump", "-t", &v.pid.to_string(), "-D", dir.s()]);
    assert!(out.status.success(), "dump: {}", text(&out));
    wait_gone(v.pid);
    let pristine: Vec<FileEntry> = FILES.read_all(&dir.0, "").unwrap();
    let queues = fs::read(dir.0.join("sk-queues.img")).unwrap();
    let restore = |what: &str, want: &[&str]| {
        let out = ns.crest(&["restore", "-D", dir.s(), "-d", "--shell-job"]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{what}: {t}");
        for w in want {
            assert!(t.contains(w), "{what}: no {w:?} in {t}");
        }
        reap_all();
        let left: Vec<_> = children()
            .into_iter()
            .filter(|&(p, _)| p != ns.0.id() as i32)
            .collect();
        assert!(left.is_empty(), "{what}: tasks left behind: {left:?}");
        assert!(
            !Path::new(&format!("/proc/{}", v.pid)).exists(),
            "{what}: pid left"
        );
    };
    let with = |edit: &dyn Fn(&mut FileEntry) -> bool| {
        let mut files = pristine.clone();
        let hit = files.iter_mut().map(edit).filter(|&b| b).count();
        assert!(hit > 0, "nothing to edit");
        fs::write(FILES.path(&dir.0, ""), FILES.encode(&files)).unwrap();
    };
    // 1. A connected client's peer is no socket of the images.
    with(&|f| match f.usk.as_mut() {
        Some(u) if u.peer != 0 && u.state == 1 && u.r#type == 1 && !u.name.is_empty() => false,
        Some(u) if u.peer != 0 && u.r#type == 2 => {
            u.peer = 0x7fff_fff0;
            true
        }
        _ => false,
    });
    restore(
        "missing peer",
        &["socket:[2147483632]", "not in the images"],
    );
    // 2. A queue record that claims more bytes than follow it.
    with(&|_| true);
    let records = crest::images::file::SK_QUEUES
        .read_with_extra(&dir.0, "")
        .unwrap();
    let mut w = ImageWriter::new(SK_QUEUES_MAGIC);
    let mut first: SkPacketEntry = records[0].0.clone();
    first.length += 4096;
    w.push_raw(&first, &[], b"short");
    fs::write(dir.0.join("sk-queues.img"), w.into_bytes()).unwrap();
    restore("long queue record", &["sk-queues.img"]);
    fs::write(dir.0.join("sk-queues.img"), &queues).unwrap();
    // 3. An inet socket of a family crest does not know.
    with(&|f| match f.isk.as_mut() {
        Some(i) => {
            i.family = 99;
            true
        }
        None => false,
    });
    restore("unknown family", &["inet socket", "family 99"]);
    drop(ns);
    assert_nothing_left(v.pid as u32);
}

/// An established connection whose peer is outside the tree: the dump
/// locks it (nf_tables), so a packet the peer sends while the tree is
/// away is dropped and sent again, not answered by a RST; the restore
/// unlocks it and both directions go on. A dump that fails first leaves
/// the connection unlocked and out of repair mode.
// The victim is reaped by reap_all() (wait_gone), as in start_victim().
#[allow(clippy::zombie_processes)]
#[test]
fn tcp_peer_outside_the_tree_is_locked_out() {
    let Some(_g) = harness("counter") else { return };
    if Command::new("python3").arg("-V").output().is_err() {
        cannot_run("the TCP lock test needs python3");
        return;
    }
    const PEER: &str = r#"
import os, signal, socket, sys, time
port, out = int(sys.argv[1]), sys.argv[2]
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", port))
l.listen(1)
open(out + "/listening", "w").write("1")
c, _ = l.accept()
poke = []
signal.signal(signal.SIGUSR2, lambda *a: poke.append(1))
c.setblocking(False)
while True:
    if poke:
        poke.clear()
        c.sendall(b"x")
    try:
        d = c.recv(16)
        if not d:
            break
        c.sendall(d)
    except BlockingIOError:
        time.sleep(0.01)
    except ConnectionResetError:
        open(out + "/reset", "w").write("1")
        break
"#;
    const VICTIM: &str = r#"
import os, signal, socket, sys, time
out, port = sys.argv[1], int(sys.argv[2])
def publish(name, text):
    open(out + "/" + name + ".tmp", "w").write(text)
    os.rename(out + "/" + name + ".tmp", out + "/" + name)
go = []
signal.signal(signal.SIGUSR1, lambda *a: go.append(1))
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"a")
assert s.recv(1) == b"a"
publish("ready", str(os.getpid()))
while not go:
    time.sleep(0.01)
try:
    s.settimeout(10)
    s.sendall(b"b")
    got = b""
    while not (b"b" in got and b"x" in got):
        c = s.recv(16)
        if not c:
            break
        got += c
    publish("verdict", "PASS" if sorted(got) == sorted(b"bx") else "FAIL: got %r" % got)
except Exception as e:
    publish("verdict", "FAIL: %r" % e)
"#;
    let ns = NetNs::new();
    let out = Dir::new("tcp-lock");
    let port = (19000 + std::process::id() % 1000).to_string();
    let mut peer = ns
        .cmd(Path::new("python3"))
        .args(["-c", PEER, &port, out.s()])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_for(&out.0.join("listening"), 10).is_some(),
        "peer listening"
    );
    ns.cmd(Path::new("python3"))
        .args(["-c", VICTIM, out.s(), &port])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid: i32 = wait_for(&out.0.join("ready"), 10)
        .expect("victim connected")
        .parse()
        .unwrap();
    let dir = Dir::new("tcp-lock-img");
    let args = [
        "dump",
        "-t",
        &pid.to_string(),
        "-D",
        dir.s(),
        "--shell-job",
        "--tcp-established",
    ];
    // A dump failing after the lock and repair mode leaves neither: the
    // exchange at the end would stall on a lock left behind.
    let o = ns
        .cmd(Path::new(crest()))
        .args(args)
        .env("CREST_FAULT", "images")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "faulted dump: {}", text(&o));
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "the victim runs on"
    );
    let o = ns.crest(&args);
    assert!(o.status.success(), "dump: {}", text(&o));
    wait_gone(pid);
    let inv = crest_cmd(&["show", &dir.0.join("inventory.img").to_string_lossy()]);
    assert!(text(&inv).contains("network_lock_method"), "{}", text(&inv));
    // The peer speaks while the connection is away.
    crest::sys::kill(peer.id() as i32, libc::SIGUSR2).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !out.0.join("reset").exists(),
        "the peer got a RST while locked"
    );
    let o = ns.crest(&[
        "restore",
        "-D",
        dir.s(),
        "-d",
        "--shell-job",
        "--tcp-established",
    ]);
    assert!(o.status.success(), "restore: {}", text(&o));
    reap_all();
    crest::sys::kill(pid, libc::SIGUSR1).unwrap();
    let verdict = wait_for(&out.0.join("verdict"), 20);
    let _ = crest::sys::kill(pid, libc::SIGKILL);
    let _ = peer.kill();
    let _ = peer.wait();
    wait_gone(pid);
    assert_eq!(verdict.as_deref(), Some("PASS"));
    drop(ns);
    assert_nothing_left(pid as u32);
}
