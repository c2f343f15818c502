//! Whether the running kernel's vdso can stand in for the dumped one.
//!
//! The restored program may hold pointers into its vdso (glibc caches the
//! addresses of `__vdso_clock_gettime` and friends at start-up). Mapping
//! the current vdso at the dumped address is only right when every dumped
//! symbol sits at the same offset in the current one. Identical bytes
//! prove it at once; otherwise the two symbol tables are compared. A vdso
//! that moved its symbols would need CRIU's proxy (trampolines from the old
//! entry points to the new ones), which crest does not build: it refuses.

use std::collections::HashMap;

use goblin::elf::{sym, Elf};

use super::RestoreError;

/// Function symbols of a vdso image: name -> offset.
fn symbols(image: &[u8]) -> Result<HashMap<String, u64>, String> {
    let elf = Elf::parse(image).map_err(|e| e.to_string())?;
    Ok(elf
        .dynsyms
        .iter()
        .filter(|s| s.st_type() == sym::STT_FUNC && s.st_value != 0)
        .filter_map(|s| Some((elf.dynstrtab.get_at(s.st_name)?.to_string(), s.st_value)))
        .collect())
}

/// Compares the dumped vdso text with the running kernel's.
pub fn check(dumped: &[u8], current: &[u8]) -> Result<(), RestoreError> {
    if dumped == current {
        return Ok(());
    }
    let refuse = |why: String| {
        RestoreError::Unsupported(format!(
            "the dumped vdso differs from this kernel's ({why}); restoring it needs a vdso \
             proxy, which crest does not build"
        ))
    };
    let old = symbols(dumped).map_err(|e| refuse(format!("dumped vdso unreadable: {e}")))?;
    let new = symbols(current).map_err(|e| refuse(format!("current vdso unreadable: {e}")))?;
    let mut names: Vec<&String> = old.keys().collect();
    names.sort();
    for name in names {
        match new.get(name) {
            Some(&off) if off == old[name] => {}
            Some(&off) => {
                return Err(refuse(format!(
                    "{name} moved from {:#x} to {off:#x}",
                    old[name]
                )))
            }
            None => return Err(refuse(format!("{name} is gone"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own_vdso() -> Vec<u8> {
        let maps = std::fs::read_to_string("/proc/self/maps").expect("test setup");
        let l = crate::kerndat::vdso_layout(&maps).expect("test setup");
        crate::sys::read_mem(l.vdso_start, l.vdso_len as usize)
    }

    #[test]
    fn own_vdso_matches_itself_and_has_clock_gettime() {
        let v = own_vdso();
        check(&v, &v).expect("test setup");
        let syms = symbols(&v).expect("test setup");
        assert!(syms.keys().any(|n| n.contains("clock_gettime")), "{syms:?}");
    }

    #[test]
    fn different_bytes_with_same_symbols_pass_and_garbage_is_refused() {
        let v = own_vdso();
        let mut other = v.clone();
        other[v.len() - 1] ^= 0xff; // different bytes, same symbols: fine
        check(&v, &other).expect("test setup");
        let e = check(&v, b"not an elf").unwrap_err().to_string();
        assert!(e.contains("vdso proxy"), "{e}");
    }
}
