//! The dumped vdso against the running kernel's, and CRIU's proxy for
//! when they differ.
//!
//! The restored program holds pointers into its vdso (glibc caches the
//! addresses of `__vdso_clock_gettime` and friends at start-up). Mapping
//! the current vdso at the dumped address is only right when every dumped
//! symbol sits at the same offset in the current one and the vvar/vdso
//! layout is the same; identical bytes prove it at once. Otherwise the
//! dumped vdso is restored from its pages like any private mapping, the
//! current one is mapped elsewhere, and each dumped entry point is
//! overwritten with a jump to the same function in the current vdso (CRIU's
//! `vdso_redirect_calls`). The dumped vvar is not restored: only the old
//! code read it, and no old code runs past its first instruction.

use std::collections::HashMap;

use goblin::elf::{sym, Elf};

use super::images::TaskImages;
use super::RestoreError;
use crate::kerndat::VdsoLayout;
use crate::mem::plan::MemPlan;

/// The running kernel's vdso, read once, and the dumped vdsos planned
/// against it so far: the tasks of a tree mostly share one, planned once.
pub struct Vdsos {
    /// Our vdso as kerndat found it at start-up.
    layout: Option<VdsoLayout>,
    /// Its text, read on first need.
    current: Option<Vec<u8>>,
    /// (dumped text, same layout, its plan).
    planned: Vec<(Vec<u8>, bool, Option<Vec<Redirect>>)>,
}

impl Vdsos {
    pub fn new(layout: Option<VdsoLayout>) -> Vdsos {
        Vdsos {
            layout,
            current: None,
            planned: Vec::new(),
        }
    }

    /// Plans task `pid`'s vdso: where its dumped text differs from the
    /// running kernel's, its entry points are redirected (`plan`).
    pub fn redirect(
        &mut self,
        pid: u32,
        task: &TaskImages,
        mem: &mut MemPlan,
    ) -> Result<(), RestoreError> {
        let same_layout = mem.same_vdso_layout(self.layout)?;
        let (Some(d), Some(c)) = (mem.vdso, self.layout) else {
            return Ok(());
        };
        let current = match &mut self.current {
            Some(text) => text,
            none => none.insert(crate::sys::own_vdso(c.vdso_start, c.vdso_len).ok_or_else(
                || RestoreError::System("this process's vdso is not readable".into()),
            )?),
        };
        let dumped = super::task::read_dumped(task, d.vdso_start, d.vdso_len)?;
        let known = self
            .planned
            .iter()
            .position(|p| p.1 == same_layout && p.0 == dumped);
        let i = match known {
            Some(i) => i,
            None => {
                let redirects = plan(&dumped, current, same_layout)?;
                self.planned.push((dumped, same_layout, redirects));
                self.planned.len() - 1
            }
        };
        if let Some(redirects) = &self.planned[i].2 {
            crate::log!(
                crate::log::INFO,
                "pid {pid}: the dumped vdso differs from this kernel's: {} entry points redirected",
                redirects.len()
            );
            mem.proxify(redirects.clone(), c);
        }
        Ok(())
    }
}

/// `movabs $target, %rax; jmp *%rax`: 12 bytes, reaches anywhere and
/// clobbers only %rax, which no vdso function takes an argument in.
pub const TRAMPOLINE_LEN: usize = 12;

/// One redirected entry point: offsets into the dumped and current vdso.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redirect {
    pub old: u64,
    pub new: u64,
}

/// The trampoline that sends a call at the old entry point to `target`.
pub fn trampoline(target: u64) -> [u8; TRAMPOLINE_LEN] {
    let mut t = [0u8; TRAMPOLINE_LEN];
    t[..2].copy_from_slice(&[0x48, 0xb8]);
    t[2..10].copy_from_slice(&target.to_le_bytes());
    t[10..].copy_from_slice(&[0xff, 0xe0]);
    t
}

/// Function symbols of a vdso image: name -> (offset, size).
fn symbols(image: &[u8]) -> Result<HashMap<String, (u64, u64)>, String> {
    let elf = Elf::parse(image).map_err(|e| e.to_string())?;
    Ok(elf
        .dynsyms
        .iter()
        .filter(|s| s.st_type() == sym::STT_FUNC && s.st_value != 0)
        .filter_map(|s| {
            let name = elf.dynstrtab.get_at(s.st_name)?.to_string();
            Some((name, (s.st_value, s.st_size)))
        })
        .collect())
}

/// Compares the dumped vdso text with the running kernel's. `None`: the
/// current vdso can be mapped where the dumped one was (`same_layout` says
/// whether the vvar/vdso sizes and distance agree). Otherwise the entry
/// points to redirect; a dumped function the current vdso lacks, or one
/// too short for a trampoline, is refused by name.
pub fn plan(
    dumped: &[u8],
    current: &[u8],
    same_layout: bool,
) -> Result<Option<Vec<Redirect>>, RestoreError> {
    if same_layout && dumped == current {
        return Ok(None);
    }
    let refuse = |why: String| {
        RestoreError::Unsupported(format!(
            "the dumped vdso cannot be redirected to this kernel's: {why}"
        ))
    };
    let old = symbols(dumped).map_err(|e| refuse(format!("dumped vdso unreadable: {e}")))?;
    let new = symbols(current).map_err(|e| refuse(format!("current vdso unreadable: {e}")))?;
    if same_layout
        && old
            .iter()
            .all(|(n, (off, _))| new.get(n).map(|s| s.0) == Some(*off))
    {
        return Ok(None);
    }
    let mut names: Vec<&String> = old.keys().collect();
    names.sort();
    let mut redirects: Vec<Redirect> = Vec::new();
    for name in names {
        let (off, size) = old[name];
        let &(to, _) = new
            .get(name)
            .ok_or_else(|| refuse(format!("{name} is gone from this kernel's vdso")))?;
        if size < TRAMPOLINE_LEN as u64 {
            return Err(refuse(format!(
                "{name} is {size} bytes, too short for a {TRAMPOLINE_LEN}-byte trampoline"
            )));
        }
        let end = off.checked_add(size).filter(|&e| e <= dumped.len() as u64);
        if end.is_none() {
            return Err(refuse(format!("{name} lies outside the dumped vdso")));
        }
        match redirects.iter().find(|r| r.old == off) {
            // An alias (clock_gettime and __vdso_clock_gettime).
            Some(r) if r.new == to => {}
            Some(_) => return Err(refuse(format!("{name} is an alias that moved apart"))),
            None => redirects.push(Redirect { old: off, new: to }),
        }
    }
    Ok(Some(redirects))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own_vdso() -> Vec<u8> {
        let maps = std::fs::read_to_string("/proc/self/maps").expect("test setup");
        let l = crate::kerndat::vdso_layout(&maps).expect("test setup");
        crate::sys::own_vdso(l.vdso_start, l.vdso_len).expect("test setup")
    }

    #[test]
    fn own_vdso_matches_itself_and_has_clock_gettime() {
        let v = own_vdso();
        assert_eq!(plan(&v, &v, true).expect("same vdso"), None);
        let syms = symbols(&v).expect("test setup");
        assert!(syms.keys().any(|n| n.contains("clock_gettime")), "{syms:?}");
    }

    #[test]
    fn different_bytes_with_same_symbols_pass_and_garbage_is_refused() {
        let v = own_vdso();
        let mut other = v.clone();
        other[v.len() - 1] ^= 0xff; // different bytes, same symbols: fine
        assert_eq!(plan(&v, &other, true).expect("same symbols"), None);
        let e = plan(&v, b"not an elf", true).unwrap_err().to_string();
        assert!(e.contains("current vdso unreadable"), "{e}");
    }

    #[test]
    fn another_layout_is_redirected_entry_by_entry() {
        let v = own_vdso();
        let r = plan(&v, &v, false).expect("own vdso").expect("redirects");
        let syms = symbols(&v).expect("test setup");
        assert!(!r.is_empty());
        for (off, _) in syms.values() {
            assert_eq!(
                r.iter().filter(|x| x.old == *off && x.new == *off).count(),
                1
            );
        }
    }

    #[test]
    fn trampoline_is_movabs_rax_then_jmp_rax() {
        let t = trampoline(0x1122_3344_5566_7788);
        assert_eq!(
            t,
            [0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0xff, 0xe0]
        );
    }
}
