//! Comparing `crest show` with `crit decode` on image files: both run on
//! each file (plain and `--pretty`) and a python3 script compares the JSON
//! (values, types, key order), allowing only the differences of crit 3.17
//! it lists.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Compares crest's and crit's JSON. argv[1] is a manifest with one line
/// per output pair: `label TAB plain|pretty TAB crest-file TAB crit-file`.
/// Prints every difference and exits 1 if there is any.
pub const COMPARE: &str = r#"
import json, sys

# Fields CRIU 4.2 writes that crit 3.17's schema (pycriu/images/*_pb2.py)
# does not have: crit drops them, crest prints them. Keyed by image magic
# and the field's path inside an entry.
CRIT_LACKS = {
    ("INVENTORY", "plugins_entry"): "inventory_entry tag 12, not in crit 3.17",
    ("INVENTORY", "dump_criu_run_id"): "inventory_entry tag 13, not in crit 3.17",
    ("CORE", "thread_info.fpregs.xsave.cet"): "user_x86_xsave_entry tag 9, not in crit 3.17",
    ("CORE", "thread_core.creds.cap_amb"): "creds_entry tag 19, not in crit 3.17",
    ("CORE", "thread_core.creds.no_new_privs"): "creds_entry tag 18, not in crit 3.17",
    ("CORE", "tc.membarrier_registration_mask"): "task_core_entry tag 22, not in crit 3.17",
    ("CORE", "thread_core.cg_set"): "thread_core_entry tag 16, not in crit 3.17",
    ("MEMFD_INODE", "mode"): "memfd_inode_entry tag 9, not in crit 3.17",
    ("NETNS", "ipv4_sysctl"): "netns_entry tag 10, not in crit 3.17",
    ("CGROUP", "controllers[].is_threaded"): "cg_controller_entry tag 3, not in crit 3.17",
    ("FILES", "isk.ip_opts.pktinfo"): "ip_opts_entry tag 5, not in crit 3.17",
    ("FILES", "isk.ip_opts.tos"): "ip_opts_entry tag 6, not in crit 3.17",
    ("FILES", "isk.ip_opts.ttl"): "ip_opts_entry tag 7, not in crit 3.17",
    ("FILES", "isk.tcp_opts"): "inet_sk_entry tag 20, not in crit 3.17",
    ("FILES", "pidfd"): "file_entry tag 22, not in crit 3.17",
}

# Enum values crit 3.17's schema lacks: it drops the field that holds one.
CRIT_LACKS_VALUE = {
    ("FDINFO", "type", "PIDFD"): "fd_types PIDFD (20), not in crit 3.17",
    ("FILES", "type", "PIDFD"): "fd_types PIDFD (20), not in crit 3.17",
}

# Flag names crit 3.17's tables lack: it prints the bit in hex instead.
CRIT_LACKS_FLAG = {"VMA_AREA_MEMFD": "0x4000"}


def flags_as_crit_317(value, used, magic, path):
    # Only whole " | "-separated names are replaced.
    parts = value.split(" | ")
    out = [CRIT_LACKS_FLAG.get(p, p) for p in parts]
    if out != parts:
        used.add((magic, f"{path} flag names {sorted(set(parts) - set(out))}"))
    return " | ".join(out)


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
            elif isinstance(v, str) and (magic, sub, v) in CRIT_LACKS_VALUE:
                used.add((magic, f"{sub} {v}"))
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
    elif isinstance(crest, str) and isinstance(crit, str) and crest != crit and " | " in crest:
        if flags_as_crit_317(crest, used, magic, path) != crit:
            errs.append(f"{path}: {crest!r:.60} vs crit {crit!r:.60}")
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
    mine = set()
    # crit (3.17 and 4.2 alike) reads `size` bytes of contents after every
    # ipc_shm_entry, even one whose contents are in pagemap-shmem images
    # (in_pagemaps, as CRIU 4.2 writes): it swallows the records after the
    # first as its "extra". Compare the first record without it.
    if magic == "IPCNS_SHM" and isinstance(a, list) and any(e.get("in_pagemaps") for e in a):
        mine.add((magic, "records after an in_pagemaps segment (crit reads them as contents)"))
        a, b = a[:1], [{k: v for k, v in e.items() if k != "extra"} for e in b[:1]]
    if not isinstance(a, list) or not isinstance(b, list) or len(a) != len(b):
        return [f"entries differ in number or shape"]
    if set(crest) != {"magic", "entries"} or list(crest) != list(crit):
        errs.append(f"top-level keys {list(crest)} vs crit {list(crit)}")
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

/// Runs crit and `crest show` on every image in `images` and asserts that
/// they agree. `out` is a scratch directory for the JSON files.
pub fn compare(images: &[PathBuf], out: &Path) {
    let mut manifest = String::new();
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
            let mine = Command::new(env!("CARGO_BIN_EXE_crest"))
                .arg("show")
                .args(flag)
                .arg(image)
                .output()
                .expect("run crest show");
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
