//! `crest show` against `crit decode`, and `crest show` on broken input.
//!
//! 1. Every image of every fixture (../shared/fixtures/*/images) is printed
//!    by `crest show` and by `crit decode`, plain and `--pretty`. A python3
//!    helper parses both outputs and compares them field by field; where no
//!    known difference applies the text must be identical too.
//! 2. The only differences tolerated are those of crit 3.17 (Debian's) with
//!    images written by CRIU 4.2, listed in [`COMPARE`] one by one. Each is
//!    accepted only where crit's output lacks the field, so a newer crit
//!    that prints it is held to the same values as crest.
//! 3. Broken files (truncated, wrong magic, oversized length prefix, invalid
//!    protobuf, missing, raw pages) must make `crest show` exit 1 with a
//!    message naming the file and the cause, never a panic.
//!
//! Without the fixtures, crit or python3 the tests fail, unless
//! `CREST_ALLOW_SKIP=1` lets them skip with the reason printed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crest::images::magic::IMG_COMMON_MAGIC;
use crest::images::{schema, ImageWriter};

const CREST: &str = env!("CARGO_BIN_EXE_crest");
const CORE_MAGIC: u32 = 0x5505_3847;
const PSTREE_MAGIC: u32 = 0x5027_3030;

/// `../shared/fixtures`, if it is there.
fn fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    if dir.is_dir() {
        Some(dir)
    } else {
        common::cannot_run(&format!(
            "no fixtures at {} (images dumped by CRIU 4.2)",
            dir.display()
        ));
        None
    }
}

/// Whether `tool` runs. A missing one fails the comparison, unless
/// CREST_ALLOW_SKIP=1 lets it skip.
fn have(tool: &str, arg: &str) -> bool {
    let ran = Command::new(tool)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if ran.is_ok() {
        return true;
    }
    common::cannot_run(&format!(
        "comparison with crit needs crit and python3: {tool} is not installed \
         (`{tool} {arg}` did not run: {ran:?})"
    ));
    false
}

/// Every image file of every fixture, sorted, pages-*.img included.
fn fixture_images(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for fixture in std::fs::read_dir(root).expect("read fixtures dir") {
        let dir = fixture.expect("fixtures entry").path().join("images");
        let Ok(files) = std::fs::read_dir(&dir) else {
            continue;
        };
        for f in files {
            out.push(f.expect("images entry").path());
        }
    }
    out.sort();
    out
}

fn is_pages(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("pages-"))
}

fn show(args: &[&str], file: &Path) -> Output {
    Command::new(CREST)
        .arg("show")
        .args(args)
        .arg(file)
        .output()
        .expect("run crest")
}

/// Scratch directory for this test binary's files.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("show")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn every_fixture_image_matches_crit() {
    let Some(root) = fixtures() else { return };
    if !have("crit", "-h") || !have("python3", "-V") {
        return;
    }
    let images: Vec<PathBuf> = fixture_images(&root)
        .into_iter()
        .filter(|p| !is_pages(p))
        .collect();
    assert!(!images.is_empty(), "no images under {}", root.display());
    common::crit::compare(&images, &scratch("crit"));
}

/// Runs `crest show FILE` (plain and pretty) and checks it fails cleanly:
/// exit 1, the file and `cause` named on stderr, no panic.
fn assert_refused(file: &Path, cause: &str) {
    for flag in [&[][..], &["--pretty"][..]] {
        let out = show(flag, file);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {err}", file.display());
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            err.contains(&file.display().to_string()),
            "stderr does not name {}: {err}",
            file.display()
        );
        assert!(err.contains(cause), "stderr does not say {cause:?}: {err}");
        assert!(out.stdout.is_empty(), "printed something for a bad file");
    }
}

/// A valid one-record pstree image, built with crest's writer.
fn pstree_image() -> Vec<u8> {
    let mut w = ImageWriter::new(PSTREE_MAGIC);
    w.push(&schema::PstreeEntry {
        pid: 31000,
        ppid: 0,
        pgid: 31000,
        sid: 31000,
        threads: vec![31000],
    });
    w.into_bytes()
}

fn header(magic: u32) -> Vec<u8> {
    let mut v = IMG_COMMON_MAGIC.to_le_bytes().to_vec();
    v.extend_from_slice(&magic.to_le_bytes());
    v
}

#[test]
fn pstree_image_shows() {
    // The images the refusal tests below break are valid when whole.
    let dir = scratch("whole");
    let file = dir.join("pstree.img");
    std::fs::write(&file, pstree_image()).expect("write");
    let out = show(&[], &file);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\"magic\": \"PSTREE\", \"entries\": [{\"pid\": 31000, \"ppid\": 0, \
         \"pgid\": 31000, \"sid\": 31000, \"threads\": [31000]}]}\n"
    );
}

#[test]
fn pages_images_are_refused() {
    let Some(root) = fixtures() else { return };
    let pages: Vec<PathBuf> = fixture_images(&root)
        .into_iter()
        .filter(|p| is_pages(p))
        .collect();
    assert!(!pages.is_empty());
    for p in pages {
        assert_refused(&p, "raw page data");
    }
}

#[test]
fn truncated_file_is_refused() {
    let dir = scratch("truncated");
    let whole = pstree_image();
    // Inside the record body, then inside the length prefix.
    for (name, cut, cause) in [
        ("body.img", whole.len() - 3, "runs past the end of the file"),
        ("prefix.img", 10, "truncated record length"),
        ("header.img", 6, "missing second magic"),
    ] {
        let file = dir.join(name);
        std::fs::write(&file, &whole[..cut]).expect("write");
        assert_refused(&file, cause);
    }
}

#[test]
fn wrong_magic_is_refused() {
    let dir = scratch("magic");
    let mut first = pstree_image();
    first[..4].copy_from_slice(&0x1234_5678u32.to_le_bytes());
    let mut second = pstree_image();
    second[4..8].copy_from_slice(&0x1234_5678u32.to_le_bytes());
    for (name, data) in [("first.img", first), ("second.img", second)] {
        let file = dir.join(name);
        std::fs::write(&file, data).expect("write");
        assert_refused(&file, "unknown magic 0x12345678");
    }
}

#[test]
fn oversized_length_prefix_is_refused() {
    let dir = scratch("oversized");
    let mut data = header(CORE_MAGIC);
    data.extend_from_slice(&u32::MAX.to_le_bytes());
    data.extend_from_slice(&[0x08, 0x01]);
    let file = dir.join("core-1.img");
    std::fs::write(&file, data).expect("write");
    assert_refused(
        &file,
        "record length 4294967295 runs past the end of the file (2 bytes left)",
    );
}

#[test]
fn invalid_protobuf_is_refused() {
    let dir = scratch("protobuf");
    for (name, body, cause) in [
        // Wire type 7 does not exist.
        ("wire.img", &[0x0f, 0x00][..], "bad wire type 7"),
        // pid (tag 1) varint that never ends.
        ("varint.img", &[0x08, 0x80, 0x80][..], "truncated varint"),
        // A nested message (thread_info, tag 2) longer than the record.
        ("nested.img", &[0x12, 0x09, 0x08][..], "runs past the end"),
    ] {
        let magic = if name == "nested.img" {
            CORE_MAGIC
        } else {
            PSTREE_MAGIC
        };
        let mut data = header(magic);
        data.extend_from_slice(&(body.len() as u32).to_le_bytes());
        data.extend_from_slice(body);
        let file = dir.join(name);
        std::fs::write(&file, data).expect("write");
        assert_refused(&file, cause);
    }
}

#[test]
fn missing_file_is_refused() {
    let dir = scratch("missing");
    assert_refused(&dir.join("core-404.img"), "no such image");
}
