//! `cargo bench`: restore latency with `crest restore -d` of two CRIU 4.2
//! fixtures (`counter`: one process with 9.4 MB of pages; `sigstate`: one
//! process with 96 KB), next to the cost of starting a static binary
//! (fork + exec + wait of `crest help`) measured in the same run, printed
//! as medians and their ratio. Run as root.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROUNDS: usize = 30;

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
    let cases = [("counter", 31000), ("sigstate", 31100)];
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
            crest::sys::kill(*pid, libc::SIGKILL).unwrap();
            crest::sys::waitpid(*pid, 0).unwrap();
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
}
