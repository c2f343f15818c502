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
//! Without the fixtures or crit the comparison prints why it skips; with
//! `CREST_REQUIRE_CRIT=1` (as in CI) a missing crit or python3 fails it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crest::images::magic::IMG_COMMON_MAGIC;
use crest::images::{proto, ImageWriter};

const CREST: &str = env!("CARGO_BIN_EXE_crest");
const CORE_MAGIC: u32 = 0x5505_3847;
const PSTREE_MAGIC: u32 = 0x5027_3030;

/// Compares crest's and crit's JSON. argv[1] is a manifest with one line
/// per output pair: `label TAB plain|pretty TAB crest-file TAB crit-file`. Prints every
/// difference and exits 1 if there is any.
const COMPARE: &str = r#"
import json, sys

# Fields CRIU 4.2 writes that crit 3.17's schema (pycriu/images/*_pb2.py)
# does not have: crit drops them, crest prints them. Keyed by image magic
# and the field's path inside an entry.
CRIT_LACKS = {
    ("INVENTORY", "plugins_entry"): "inventory_entry tag 12, not in crit 3.17",
    ("INVENTORY", "dump_criu_run_id"): "inventory_entry tag 13, not in crit 3.17",
    ("CORE", "thread_info.fpregs.xsave.cet"): "user_x86_xsave_entry tag 9, not in crit 3.17",
    ("CORE", "thread_core.creds.cap_amb"): "creds_entry tag 19, not in crit 3.17",
    ("CORE", "thread_core.cg_set"): "thread_core_entry tag 16, not in crit 3.17",
}


def same_scalar(a, b):
    # bool is an int in python: 1 == True must not pass.
    return type(a) is type(b) and a == b


def compare(magic, crest, crit, path, errs, used):
    if isinstance(crest, dict) and isinstance(crit, dict):
        order = [k for k in crest if k in crit]
        if order != [k for k in crit if k in crest]:
            errs.append(f"{path or 'entry'}: key order {order} vs crit {list(crit)}")
        for k, v in crest.items():
            sub = f"{path}.{k}" if path else k
            if k in crit:
                compare(magic, v, crit[k], sub, errs, used)
            elif (magic, sub) in CRIT_LACKS:
                used.add((magic, sub))
            else:
                errs.append(f"{sub}: only crest prints it ({v!r:.60})")
        for k in crit:
            if k not in crest:
                sub = f"{path}.{k}" if path else k
                errs.append(f"{sub}: only crit prints it ({crit[k]!r:.60})")
    elif isinstance(crest, list) and isinstance(crit, list):
        if len(crest) != len(crit):
            errs.append(f"{path}: {len(crest)} items, crit {len(crit)}")
        for a, b in zip(crest, crit):
            compare(magic, a, b, path + "[]", errs, used)
    elif not same_scalar(crest, crit):
        errs.append(f"{path}: {crest!r:.60} vs crit {crit!r:.60}")


def pagemap_as_crit_317(entry, errs, used):
    # pagemap_entry: CRIU 4.2 has tag 2 compat_nr_pages (uint32, kept 0 by
    # new dumps) and tag 5 nr_pages (uint64). crit 3.17 calls tag 2
    # "nr_pages" and has no tag 5. Give crest's entry 3.17's view.
    if "compat_nr_pages" not in entry or "nr_pages" not in entry:
        errs.append(f"pagemap entry lacks compat_nr_pages or nr_pages: {entry}")
        return entry
    used.add(("PAGEMAP", "nr_pages (tag 5) / compat_nr_pages (tag 2)"))
    return {
        ("nr_pages" if k == "compat_nr_pages" else k): v
        for k, v in entry.items()
        if k != "nr_pages"
    }


def check(label, indent, crest_text, crit_text, used):
    errs = []
    try:
        crest = json.loads(crest_text)
    except ValueError as e:
        return [f"crest's output is not JSON: {e}"]
    crit = json.loads(crit_text)
    if crest.get("magic") != crit.get("magic"):
        return [f"magic {crest.get('magic')!r} vs crit {crit.get('magic')!r}"]
    magic = crit["magic"]
    a, b = crest.get("entries"), crit.get("entries")
    if not isinstance(a, list) or not isinstance(b, list) or len(a) != len(b):
        return [f"entries differ in number or shape"]
    if set(crest) != {"magic", "entries"} or list(crest) != list(crit):
        errs.append(f"top-level keys {list(crest)} vs crit {list(crit)}")
    mine = set()
    for i, (x, y) in enumerate(zip(a, b)):
        if magic == "PAGEMAP" and i > 0 and "compat_nr_pages" not in y:
            x = pagemap_as_crit_317(x, errs, mine)
        compare(magic, x, y, "", errs, mine)
    # Where nothing was tolerated, the text is the same byte for byte
    # (separators, indentation, escaping, number formats).
    if not errs and not mine and crest_text.rstrip("\n") != crit_text.rstrip("\n"):
        at = next(
            (i for i, (p, q) in enumerate(zip(crest_text, crit_text)) if p != q),
            min(len(crest_text), len(crit_text)),
        )
        errs.append(
            f"same fields, different text at char {at}: "
            f"{crest_text[at:at + 40]!r} vs crit {crit_text[at:at + 40]!r}"
        )
    # crit prints with json.dump; crest's text must be what json.dump
    # makes of crest's own values, tolerated fields included.
    if crest_text.rstrip("\n") != json.dumps(crest, indent=indent):
        errs.append("text is not json.dump's rendering of its values")
    used |= mine
    return errs


failed = 0
used = set()
lines = open(sys.argv[1]).read().splitlines()
for line in lines:
    label, style, crest_file, crit_file = line.split("\t")
    indent = 4 if style == "pretty" else None
    errs = check(label, indent, open(crest_file).read(), open(crit_file).read(), used)
    for e in errs[:20]:
        print(f"{label}: {e}")
    failed += bool(errs)
print(f"{len(lines)} outputs compared, {failed} differ")
for magic, path in sorted(used):
    print(f"tolerated (crit 3.17 lacks it): {magic} {path}")
sys.exit(1 if failed else 0)
"#;

/// `../shared/fixtures`, if it is there.
fn fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP: no fixtures at {} (images dumped by CRIU 4.2)",
            dir.display()
        );
        None
    }
}

/// Whether `tool` runs. Missing tools skip the comparison, unless
/// CREST_REQUIRE_CRIT=1 says they must be there.
fn have(tool: &str, arg: &str) -> bool {
    let ran = Command::new(tool)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if ran.is_ok() {
        return true;
    }
    let why = format!("{tool} is not installed (`{tool} {arg}` did not run: {ran:?})");
    if std::env::var("CREST_REQUIRE_CRIT").as_deref() == Ok("1") {
        panic!("CREST_REQUIRE_CRIT=1 but {why}");
    }
    eprintln!("SKIP: comparison with crit needs crit and python3: {why}");
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
    let out = scratch("crit");
    let mut manifest = String::new();
    let images: Vec<PathBuf> = fixture_images(&root)
        .into_iter()
        .filter(|p| !is_pages(p))
        .collect();
    assert!(!images.is_empty(), "no images under {}", root.display());
    for (n, image) in images.iter().enumerate() {
        for pretty in [false, true] {
            let flag: &[&str] = if pretty { &["--pretty"] } else { &[] };
            let label = format!(
                "{}{}",
                image.display(),
                if pretty { " --pretty" } else { "" }
            );
            // crit's start-up dominates; run it next to crest.
            let crit = Command::new("crit")
                .args(["decode", "-i"])
                .arg(image)
                .args(flag)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run crit");
            let mine = show(flag, image);
            let theirs = crit.wait_with_output().expect("wait for crit");
            assert!(
                theirs.status.success(),
                "{label}: crit failed: {}",
                String::from_utf8_lossy(&theirs.stderr)
            );
            assert!(
                mine.status.success(),
                "{label}: crest show failed: {}",
                String::from_utf8_lossy(&mine.stderr)
            );
            let a = out.join(format!("{n}-{pretty}.crest.json"));
            let b = out.join(format!("{n}-{pretty}.crit.json"));
            std::fs::write(&a, &mine.stdout).expect("write crest output");
            std::fs::write(&b, &theirs.stdout).expect("write crit output");
            let style = if pretty { "pretty" } else { "plain" };
            manifest.push_str(&format!(
                "{label}\t{style}\t{}\t{}\n",
                a.display(),
                b.display()
            ));
        }
    }
    let list = out.join("manifest");
    std::fs::write(&list, manifest).expect("write manifest");
    let cmp = Command::new("python3")
        .args(["-c", COMPARE])
        .arg(&list)
        .output()
        .expect("run python3");
    let report = String::from_utf8_lossy(&cmp.stdout);
    eprintln!("{report}{}", String::from_utf8_lossy(&cmp.stderr));
    assert!(cmp.status.success(), "crest show differs from crit decode");
    assert!(report.contains(&format!("{} outputs compared, 0 differ", 2 * images.len())));
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
    w.push(&proto::PstreeEntry {
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
