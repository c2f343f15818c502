//! A real program: Node.js (Debian's `nodejs`) holding a 100k-entry Map
//! and a 50 ms timer, dumped (`--leave-running`, images synced) and
//! restored, each beside fork+exec+wait in the same rounds. Skipped with
//! a message where node is missing.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{median, ms, reap_all, Row};

const PROGRAM: &str = r#"
const fs = require('fs');
const m = new Map();
for (let i = 0; i < 100000; i++) m.set('key' + i, { i, s: 'value' + i });
let ticks = 0;
setInterval(() => { ticks++; m.set('tick', ticks); }, 50);
fs.writeFileSync(process.argv[2] + '/ready.tmp', String(process.pid));
fs.renameSync(process.argv[2] + '/ready.tmp', process.argv[2] + '/ready');
"#;

fn node() -> Option<&'static str> {
    ["/usr/bin/node", "/usr/bin/nodejs"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

pub fn node_bench(crest: &str, baseline: &dyn Fn() -> Duration, rounds: usize) -> Vec<Row> {
    let Some(node) = node() else {
        println!("node: not installed (Debian's nodejs), the Node.js case is skipped");
        return Vec::new();
    };
    let tmp = std::env::temp_dir().join(format!("crest-bench-node-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let script = tmp.join("map.js");
    std::fs::write(&script, PROGRAM).unwrap();
    let mut child = Command::new(node)
        .arg(&script)
        .arg(&tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut pid = 0;
    for _ in 0..2000 {
        if let Some(p) = std::fs::read_to_string(tmp.join("ready"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            pid = p;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(pid > 0, "node did not start");
    std::thread::sleep(Duration::from_millis(200));
    let dir = tmp.join("images");
    let (mut base, mut dumps, mut restores) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        base.push(baseline());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let t = Instant::now();
        let o = Command::new(crest)
            .args(["dump", "--leave-running", "-t", &pid.to_string(), "-D"])
            .arg(&dir)
            .output()
            .unwrap();
        dumps.push(t.elapsed());
        assert!(
            o.status.success(),
            "dump node: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // The last images are restored; the original goes first (same pids).
    let _ = child.kill();
    let _ = child.wait();
    reap_all();
    let bytes: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("pages-"))
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum();
    let pidfile = tmp.join("restored.pid");
    for _ in 0..rounds {
        let t = Instant::now();
        let o = Command::new(crest)
            .args(["restore", "-d", "--shell-job", "-D"])
            .arg(&dir)
            .arg("--pidfile")
            .arg(&pidfile)
            .output()
            .unwrap();
        restores.push(t.elapsed());
        assert!(
            o.status.success(),
            "restore node: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let root = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        super::kill_tree(root);
    }
    let _ = std::fs::remove_dir_all(&tmp);
    let b = ms(median(base));
    let row = |what: &str, v: Vec<Duration>| Row {
        case: "node (100k-entry Map)".into(),
        what: what.into(),
        bytes,
        ms: ms(median(v)),
        base_ms: b,
    };
    vec![
        row("dump --leave-running, synced", dumps),
        row("restore, eager", restores),
    ]
}
