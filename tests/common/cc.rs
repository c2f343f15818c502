//! Building the C victims of tests/victims as static binaries with the C
//! compiler the `cc` crate finds. Shared by the tests and the bench (which
//! includes this file by path).

use std::path::Path;
use std::process::Command;

/// Compiles `src` into the static executable `out`; panics on failure.
pub fn build_victim(src: &Path, out: &Path) {
    let cc = cc::Build::new()
        .target("x86_64-unknown-linux-gnu")
        .host("x86_64-unknown-linux-gnu")
        .opt_level(1)
        .cargo_metadata(false)
        .get_compiler();
    let st = Command::new(cc.path())
        .args(["-O1", "-static", "-Wall", "-Wextra", "-pthread", "-o"])
        .arg(out)
        .arg(src)
        .arg("-lm")
        .status()
        .expect("run the C compiler");
    assert!(st.success(), "building victim {}", src.display());
}
