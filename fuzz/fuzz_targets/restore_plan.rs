//! Image sets, not single files, through the restore up to (not
//! including) the first fork: `crest restore --check-only` reads every
//! image, cross-checks them, plans memory, descriptors, namespaces and the
//! blob's arguments, and creates nothing.
//!
//! Each input mutates one image of one CRIU 4.2 fixture: the first byte
//! picks the fixture, the second the file (pages-*.img are left alone:
//! they are only read at fork time), the third how (replace the file,
//! overwrite at an offset, cut it there, insert there), the next two the
//! offset; the rest is the new bytes. The set is written to a scratch
//! directory (pages files linked to the fixture's) and checked.
//!
//! Errors are expected; panics, hangs and huge allocations are the bugs.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

const FIXTURES: [&str; 8] = [
    "counter", "sigstate", "tree", "threads", "openfile", "pidns", "zombie", "memfd",
];

struct Set {
    dir: PathBuf,
    /// (name, contents) of every image but pages-*.img.
    files: Vec<(String, Vec<u8>)>,
    pages: Vec<String>,
}

fn sets() -> &'static [Set] {
    static SETS: OnceLock<Vec<Set>> = OnceLock::new();
    SETS.get_or_init(|| {
        crest::log::init(0, None);
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures");
        // The fixtures' programs where their images expect them (the
        // planner checks mapped files' sizes).
        let _ = std::fs::create_dir_all("/tmp/crest-fixtures/bin");
        let mut out = Vec::new();
        for name in FIXTURES {
            let dir = root.join(name).join("images");
            let bin = Path::new("/tmp/crest-fixtures/bin").join(name);
            if !bin.exists() {
                let _ = std::fs::copy(root.join(name).join(name), &bin);
            }
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            let mut files = Vec::new();
            let mut pages = Vec::new();
            for e in entries.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with("pages-") {
                    pages.push(n);
                } else if let Ok(data) = std::fs::read(e.path()) {
                    files.push((n, data));
                }
            }
            files.sort();
            out.push(Set { dir, files, pages });
        }
        out
    })
}

fuzz_target!(|data: &[u8]| {
    let sets = sets();
    if data.len() < 5 || sets.is_empty() {
        return;
    }
    let set = &sets[data[0] as usize % sets.len()];
    let which = data[1] as usize % set.files.len();
    let at = u16::from_le_bytes([data[3], data[4]]) as usize;
    let payload = &data[5..];
    let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let scratch = base.join(format!("crest-fuzz-plan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    for (i, (name, bytes)) in set.files.iter().enumerate() {
        let mut b = bytes.clone();
        if i == which {
            let at = at.min(b.len());
            match data[2] % 4 {
                0 => b = payload.to_vec(),
                1 => {
                    let end = (at + payload.len()).min(b.len());
                    b[at..end].copy_from_slice(&payload[..end - at]);
                }
                2 => b.truncate(at),
                _ => {
                    b.splice(at..at, payload.iter().copied());
                }
            }
        }
        std::fs::write(scratch.join(name), b).unwrap();
    }
    for p in &set.pages {
        let _ = std::os::unix::fs::symlink(set.dir.join(p), scratch.join(p));
    }
    let opts = crest::restore::RestoreOptions {
        images_dir: scratch.clone(),
        check_only: true,
        ..Default::default()
    };
    let _ = crest::restore::restore(&opts);
});
