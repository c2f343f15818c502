//! Builds the restorer blob and embeds it in crest.
//!
//! A nested cargo builds `restorer-blob`'s bin target with the `blob`
//! profile, its own target dir (sharing ours deadlocks on cargo's lock) and
//! a clean flag environment, linked with `ld/restorer.ld` as a static PIE.
//! goblin then checks the result: only `R_X86_64_RELATIVE` relocations, no
//! `PT_INTERP`/`PT_TLS`, every `__export_*` entry present. The flat image,
//! its relocations and the entry offsets go to `$OUT_DIR/blob.rs`.

use goblin::elf::{program_header, reloc, Elf};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

/// The entry points the loader calls.
const EXPORTS: &[&str] = &[
    "__export_restore_task",
    "__export_selftest",
    "__export_syscall",
];

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    for p in [
        "restorer-blob/src",
        "restorer-blob/Cargo.toml",
        "ld/restorer.ld",
    ] {
        println!("cargo:rerun-if-changed={}", manifest.join(p).display());
    }
    let elf_path = build_blob(&manifest, &out);
    let bytes = fs::read(&elf_path).expect("read the blob ELF");
    let rs = flatten(&bytes).unwrap_or_else(|e| panic!("{}: {e}", elf_path.display()));
    fs::write(out.join("blob.rs"), rs).expect("write blob.rs");
}

/// Runs the nested cargo and returns the path of the linked blob.
fn build_blob(manifest: &Path, out: &Path) -> PathBuf {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_dir = out.join("blob-target");
    let script = manifest.join("ld/restorer.ld");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(manifest)
        .args([
            "rustc",
            "--quiet",
            "-p",
            "restorer-blob",
            "--bin",
            "restorer-blob",
        ])
        .args(["--features", "blob", "--profile", "blob"])
        .args(["--target", "x86_64-unknown-linux-gnu"])
        .arg("--target-dir")
        .arg(&target_dir)
        .args([
            "--",
            "-C",
            "relocation-model=pie",
            "-C",
            "target-feature=+crt-static",
        ]);
    for arg in [
        "-nostartfiles",
        "-nostdlib",
        "-static-pie",
        "-Wl,--no-dynamic-linker",
        "-Wl,-z,norelro",
        "-Wl,--build-id=none",
    ] {
        cmd.args(["-C", &format!("link-arg={arg}")]);
    }
    cmd.args(["-C", &format!("link-arg=-Wl,-T,{}", script.display())]);
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_PROFILE_RELEASE_DEBUG",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .expect("run the nested cargo for restorer-blob");
    assert!(status.success(), "building restorer-blob failed: {status}");
    target_dir.join("x86_64-unknown-linux-gnu/blob/restorer-blob")
}

/// Checks the linked blob and renders `blob.rs`.
fn flatten(bytes: &[u8]) -> Result<String, String> {
    let elf = Elf::parse(bytes).map_err(|e| format!("not an ELF: {e}"))?;
    let mut file_end = 0u64;
    let mut mem_end = 0u64;
    for ph in &elf.program_headers {
        match ph.p_type {
            program_header::PT_INTERP => return Err("has PT_INTERP".into()),
            program_header::PT_TLS => return Err("has PT_TLS (the blob may not use TLS)".into()),
            program_header::PT_LOAD => {
                file_end = file_end.max(ph.p_vaddr + ph.p_filesz);
                mem_end = mem_end.max(ph.p_vaddr + ph.p_memsz);
            }
            _ => {}
        }
    }
    // The flat image: every PT_LOAD copied to its vaddr (linked at 0).
    let mut image = vec![0u8; file_end as usize];
    for ph in elf
        .program_headers
        .iter()
        .filter(|p| p.p_type == program_header::PT_LOAD)
    {
        let src = bytes
            .get(ph.p_offset as usize..(ph.p_offset + ph.p_filesz) as usize)
            .ok_or("PT_LOAD outside the file")?;
        image[ph.p_vaddr as usize..(ph.p_vaddr + ph.p_filesz) as usize].copy_from_slice(src);
    }
    let mut relocs = Vec::new();
    for r in elf
        .dynrelas
        .iter()
        .chain(elf.dynrels.iter())
        .chain(elf.pltrelocs.iter())
    {
        if r.r_type != reloc::R_X86_64_RELATIVE {
            return Err(format!(
                "relocation type {} at {:#x}: only R_X86_64_RELATIVE is allowed",
                r.r_type, r.r_offset
            ));
        }
        let addend = r.r_addend.ok_or("RELATIVE relocation without addend")?;
        if r.r_offset + 8 > file_end {
            return Err(format!("relocation at {:#x} outside the image", r.r_offset));
        }
        relocs.push((r.r_offset, addend as u64));
    }
    for (_, sh) in elf.shdr_relocs.iter() {
        if !sh.is_empty() && elf.dynrelas.is_empty() {
            return Err("static relocations left in the blob".into());
        }
    }
    let mut rs = String::from("// Generated by build.rs: crest's restorer blob.\n");
    writeln!(rs, "pub const BLOB_MEM_SIZE: usize = {mem_end};").ok();
    writeln!(rs, "pub static BLOB: [u8; {}] = {:?};", image.len(), image).ok();
    writeln!(
        rs,
        "pub static RELOCS: [(u64, u64); {}] = {:?};",
        relocs.len(),
        relocs
    )
    .ok();
    for name in EXPORTS {
        let sym = elf
            .syms
            .iter()
            .find(|s| elf.strtab.get_at(s.st_name) == Some(name))
            .ok_or(format!("missing export {name}"))?;
        writeln!(
            rs,
            "pub const {}: usize = {};",
            name.trim_start_matches("__export_").to_uppercase() + "_OFFSET",
            sym.st_value
        )
        .ok();
    }
    Ok(rs)
}
