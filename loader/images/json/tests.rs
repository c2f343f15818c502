use super::super::schema;
use super::*;
use crate::images::desc::{FieldDesc, Fmt, Kind};

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures");

fn image(fixture: &str, file: &str, style: Style) -> String {
    let data = std::fs::read(format!("{FIX}/{fixture}/images/{file}")).expect("read");
    image_to_json(&data, style).expect("render")
}

/// The payload of record `index` of an image with the common header.
fn record(fixture: &str, file: &str, index: usize) -> Vec<u8> {
    let data = std::fs::read(format!("{FIX}/{fixture}/images/{file}")).expect("read");
    let mut pos = 8;
    for _ in 0..index {
        pos += 4 + read_u32(&data, pos).expect("len") as usize;
    }
    let len = read_u32(&data, pos).expect("len") as usize;
    data[pos + 4..pos + 4 + len].to_vec()
}

#[test]
fn core_matches_crit() {
    // Values as printed by `crit decode --pretty` (Debian crit 3.17) for
    // sigstate/images/core-31100.img.
    let rec = record("sigstate", "core-31100.img", 0);
    let mut out = String::new();
    message_to_json(&schema::CORE_ENTRY, &rec, &mut out).expect("render");
    assert!(out.starts_with("{\n    \"mtype\": \"X86_64\",\n    \"thread_info\": {\n"));
    for line in [
        "\"clear_tid_addr\": \"0x2981d650\",",
        "\"r12\": \"0x4040122303700978\",",
        "\"ax\": \"0xfffffffffffffffc\",",
        "\"ip\": \"0x402ffc\",",
        "\"sp\": \"0x7fffec318f60\",",
        "\"mode\": \"NATIVE\"",
        "\"cwd\": 2943,",
        "\"mxcsr\": 24480,",
        "\"mxcsr_mask\": 196607,",
        "\"xstate_bv\": 519,",
        "            1077940771,",
    ] {
        assert!(out.contains(line), "missing {line}");
    }
    let plain = image("sigstate", "core-31100.img", Style::PLAIN);
    assert!(plain.starts_with("{\"magic\": \"CORE\", \"entries\": [{\"mtype\": \"X86_64\", "));
    assert!(plain.contains("\"clear_tid_addr\": 696374864, "));
    let pretty = image("sigstate", "core-31100.img", Style::PRETTY);
    for line in [
        "\"task_state\": \"Alive\",",
        "\"blk_sigset\": \"0x800\",",
        "\"comm\": \"crest-sigstate\",",
        "\"ss_size\": 65536,",
        "\"siginfo\": \"DAAAAAAAAAD/////AAAAAHx5AAAAAAAA7V4AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\\nAAAA",
        "AAAAAAAAAAAAAAAAAAA=\\n\"",
    ] {
        assert!(pretty.contains(line), "missing {line}");
    }
}

#[test]
fn pagemap_matches_crit_shape() {
    let out = image("counter", "pagemap-31000.img", Style::PRETTY);
    // crit 3.17 names tag 2 "nr_pages" and drops tag 5; crit 4.2 prints
    // both, as here.
    assert!(out.starts_with(
        "{\n    \"magic\": \"PAGEMAP\",\n    \"entries\": [\n        {\n            \"pages_id\": 1\n        },\n        {\n            \"vaddr\": \"0x401000\",\n            \"compat_nr_pages\": 0,\n"
    ));
    assert!(out.contains("\"flags\": \"PE_LAZY | PE_PRESENT\""));
    let total: u64 = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("\"nr_pages\": "))
        .map(|n| n.trim_end_matches(',').parse::<u64>().expect("number"))
        .sum();
    assert_eq!(total, 2320);
}

#[test]
fn mm_vmas_flags() {
    let out = image("counter", "mm-31000.img", Style::PRETTY);
    assert!(out.contains("\"magic\": \"MM\""));
    assert!(out.contains("\"prot\": \"PROT_READ | PROT_EXEC\""));
    assert!(out.contains("\"flags\": \"MAP_PRIVATE | MAP_ANON\""));
    assert!(out.contains("\"status\": \"VMA_AREA_REGULAR | VMA_ANON_PRIVATE\""));
    assert!(out.contains("\"fd\": -1"));
}

#[test]
fn pipes_data_extra_and_files() {
    let out = image("tree", "pipes-data.img", Style::PRETTY);
    assert!(out.contains(
        "\"pipe_id\": 188586,\n            \"bytes\": 0,\n            \"size\": 65536,\n            \"extra\": \"\"\n"
    ));
    let files = image("tree", "files.img", Style::PRETTY);
    assert!(files.contains("\"flags\": \"O_RDWR | O_LARGEFILE\","));
    assert!(files.contains("\"type\": \"PIPE\""));
    assert!(files.contains("\"flags\": \"0x1\","));
}

#[test]
fn every_fixture_image_renders() {
    for fixture in ["counter", "sigstate", "tree", "threads", "openfile"] {
        for f in std::fs::read_dir(format!("{FIX}/{fixture}/images")).expect("dir") {
            let path = f.expect("entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).expect("name");
            let data = std::fs::read(&path).expect("read");
            let result = image_to_json(&data, Style::PRETTY);
            if name.starts_with("pages-") {
                assert!(result.is_err());
            } else {
                let out = result.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(!out.contains("unknown_"), "{name}");
            }
        }
    }
}

#[test]
fn unknown_fields_are_kept() {
    // pstree_entry with pid=5, an unknown varint tag 9 = 7 and an
    // unknown length-delimited tag 10 = "hi".
    let msg = [0x08, 5, 0x48, 7, 0x52, 2, b'h', b'i'];
    let mut out = String::new();
    message_to_json_with(&schema::PSTREE_ENTRY, &msg, Style::COMPACT, &mut out).expect("render");
    assert_eq!(
        out,
        "{\"pid\": 5, \"unknown_9\": [7], \"unknown_10\": [\"aGk=\\n\"]}"
    );
    // A known field with the wrong wire type is kept too.
    let msg = [0x0d, 1, 0, 0, 0];
    out.clear();
    message_to_json_with(&schema::PSTREE_ENTRY, &msg, Style::COMPACT, &mut out).expect("render");
    assert_eq!(out, "{\"unknown_1\": [1]}");
}

#[test]
fn packed_and_repeated() {
    // threads (tag 5) unpacked 1, then packed [2, 300].
    let msg = [0x28, 1, 0x2a, 3, 2, 0xac, 0x02];
    let mut out = String::new();
    message_to_json_with(&schema::PSTREE_ENTRY, &msg, Style::COMPACT, &mut out).expect("render");
    assert_eq!(out, "{\"threads\": [1, 2, 300]}");
}

#[test]
fn hostile_input_errors() {
    let err = |desc: &MsgDesc, b: &[u8]| {
        let mut out = String::new();
        let e = message_to_json(desc, b, &mut out).expect_err("should fail");
        assert!(out.is_empty());
        e
    };
    let e = err(&schema::PSTREE_ENTRY, &[0x08, 0x80]);
    assert_eq!((e.offset, e.field.as_str()), (1, "pstree_entry.pid"));
    assert!(e.message.contains("truncated varint"));
    let e = err(&schema::PSTREE_ENTRY, &[0x0f, 0]);
    assert!(e.message.contains("bad wire type 7"), "{e}");
    let e = err(&schema::CORE_ENTRY, &[0x12, 0x05, 0x08]);
    assert_eq!((e.offset, e.field.as_str()), (1, "core_entry.thread_info"));
    assert!(e.message.contains("past the end"));
    let e = err(&schema::PSTREE_ENTRY, &[0x00, 1]);
    assert!(e.message.contains("invalid field number 0"));
    // Error offsets inside nested messages are absolute.
    let e = err(&schema::CORE_ENTRY, &[0x08, 1, 0x12, 0x02, 0x08, 0xff]);
    assert_eq!(e.offset, 5);
    assert_eq!(e.field, "core_entry.thread_info.clear_tid_addr");
    // Unknown magic, truncated record, extra past the end.
    assert!(image_to_json(&[1, 2, 3], Style::PRETTY).is_err());
    let mut img = vec![
        0x19, 0x43, 0x56, 0x54, 0x47, 0x38, 0x05, 0x55, 9, 0, 0, 0, 8,
    ];
    assert!(image_to_json(&img, Style::PRETTY)
        .expect_err("truncated")
        .message
        .contains("past the end"));
    img.truncate(8);
    img.extend_from_slice(&[1, 0]);
    assert!(image_to_json(&img, Style::PRETTY)
        .expect_err("partial length")
        .message
        .contains("truncated record length"));
    let pipes = [
        0x19, 0x43, 0x56, 0x54, 0x09, 0x37, 0x45, 0x56, 4, 0, 0, 0, 0x08, 1, 0x10, 9, b'x',
    ];
    assert!(image_to_json(&pipes, Style::PRETTY)
        .expect_err("extra")
        .field
        .contains("extra"));
}

#[test]
fn framing_errors_name_file_offsets() {
    // Common magic, PSTREE magic, then records.
    let head = [0x19, 0x43, 0x56, 0x54, 0x30, 0x30, 0x27, 0x50];
    let image = |records: &[&[u8]]| {
        let mut v = head.to_vec();
        for r in records {
            v.extend_from_slice(r);
        }
        v
    };
    // Record 1 (at byte 14) claims 255 bytes.
    let e = image_to_json(
        &image(&[&[2, 0, 0, 0, 8, 1], &[255, 0, 0, 0, 8]]),
        Style::PLAIN,
    )
    .expect_err("oversized");
    assert_eq!(
        (e.offset, e.field.as_str()),
        (14, "record 1 (pstree_entry)")
    );
    assert_eq!(
        e.message,
        "record length 255 runs past the end of the file (1 bytes left)"
    );
    // Record 1's body starts at byte 18; its bad key is there.
    let e = image_to_json(
        &image(&[&[2, 0, 0, 0, 8, 1], &[2, 0, 0, 0, 0x0f, 0]]),
        Style::PLAIN,
    )
    .expect_err("bad wire type");
    assert_eq!((e.offset, e.field.as_str()), (18, "pstree_entry.pid"));
    // Extra bytes past the end of a pipes-data file: 9 announced, 1 there.
    let pipes = [
        0x19, 0x43, 0x56, 0x54, 0x09, 0x37, 0x45, 0x56, 4, 0, 0, 0, 0x08, 1, 0x10, 9, b'x',
    ];
    let e = image_to_json(&pipes, Style::PLAIN).expect_err("extra");
    assert_eq!(
        (e.offset, e.field.as_str()),
        (8, "record 0 extra (bytes = 9)")
    );
    // A common header on a service image.
    let stats = [0x19, 0x43, 0x56, 0x54, 0x06, 0x33, 0x09, 0x57];
    let e = image_to_json(&stats, Style::PLAIN).expect_err("header");
    assert_eq!(e.offset, 0);
    assert!(
        e.message.contains("STATS image: wrong magic 0x54564319"),
        "{e}"
    );
}

#[test]
fn deep_nesting_is_rejected() {
    // stats_entry.dump is a message; build 70 levels of a message that
    // nests itself through an unknown-free path: core_entry.thread_info
    // cannot recurse, so use a self-referencing descriptor.
    static NODE: MsgDesc = MsgDesc {
        name: "node",
        fields: &[FieldDesc {
            tag: 1,
            name: "child",
            kind: Kind::Message(&NODE),
            label: crate::images::desc::Label::Optional,
            fmt: Fmt::Plain,
        }],
    };
    let mut msg: Vec<u8> = Vec::new();
    for _ in 0..70 {
        let mut outer = vec![0x0a];
        let mut len = msg.len();
        loop {
            let b = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                outer.push(b);
                break;
            }
            outer.push(b | 0x80);
        }
        outer.extend_from_slice(&msg);
        msg = outer;
    }
    let mut out = String::new();
    let e = message_to_json(&NODE, &msg, &mut out).expect_err("too deep");
    assert!(e.message.contains("deeper than 64"), "{e}");
    // 60 levels are fine.
    let shallow = &msg[msg.len() - 120..];
    assert!(message_to_json(&NODE, shallow, &mut out).is_ok());
}

#[test]
fn formatting_helpers() {
    assert_eq!(base64_mime(b""), "");
    assert_eq!(base64_mime(b"hello"), "aGVsbG8=\n");
    assert_eq!(base64_mime(&[0u8; 58]).lines().count(), 2);
    assert_eq!(flags_string(0, &schema::MMAP_PROT), "");
    assert_eq!(
        flags_string(0x45, &schema::MMAP_PROT),
        "PROT_READ | PROT_EXEC | 0x40"
    );
    assert_eq!(hex_string(-1), "-0x1");
    assert_eq!(compress_ipv6(&[0, 0, 0, 0, 0, 0, 0, 1]), "::1");
    assert_eq!(
        compress_ipv6(&[0xfe80, 0, 0, 0, 1, 0, 0, 2]),
        "fe80::1:0:0:2"
    );
    assert_eq!(compress_ipv6(&[1, 0, 2, 0, 3, 0, 4, 0]), "1:0:2:0:3:0:4:0");
    let mut s = String::new();
    write_string("a\"\u{7f}é😀\n", &mut s);
    assert_eq!(s, "\"a\\\"\\u007f\\u00e9\\ud83d\\ude00\\n\"");
}

#[test]
fn unix_names_print_as_python_quopri() {
    use super::text::quoted_printable;
    // The expected strings are what Python's quopri.encodestring gives.
    assert_eq!(quoted_printable(b"/tmp/a b/l.sock\0"), "/tmp/a b/l.sock=00");
    assert_eq!(quoted_printable(b"\0crest-sockets-1"), "=00crest-sockets-1");
    let long = [&[b'x'; 100][..], b"\0"].concat();
    assert_eq!(
        quoted_printable(&long),
        format!("{}=\n{}=00", "x".repeat(75), "x".repeat(25))
    );
    assert_eq!(quoted_printable(b"a=b. \t"), "a=3Db. =09");
    assert_eq!(quoted_printable(b".\n"), "=2E\n");
    assert_eq!(quoted_printable(b" \n"), "=20\n");
}
