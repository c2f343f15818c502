//! Facts about the running kernel that crest branches on, probed once at
//! start-up. Every probe is cheap: no forks, no files written.

use std::fs;

/// One range of the running kernel's vvar/vdso set, as /proc/self/maps
/// shows it (the vvar pages come first, the vdso text last).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VdsoLayout {
    /// Start of the first vvar page (what `ARCH_MAP_VDSO_64` takes).
    pub vvar_start: u64,
    /// Bytes of all vvar pages ([vvar] and, on newer kernels, [vvar_vclock]).
    pub vvar_len: u64,
    pub vdso_start: u64,
    pub vdso_len: u64,
}

/// `prctl` option of Linux 6.17 that makes timer_create take the id given.
const PR_TIMER_CREATE_RESTORE_IDS: i32 = 77;

#[derive(Debug, Clone)]
pub struct Kerndat {
    pub kernel: String,
    /// clone3 exists and understands `set_tid` (Linux 5.5).
    pub has_clone3_set_tid: bool,
    /// `prctl(PR_SET_MM, PR_SET_MM_MAP)` exists (size query answers).
    pub has_mm_map: bool,
    /// We hold CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE, which PR_SET_MM_MAP,
    /// set_tid and map_files need.
    pub has_restore_caps: bool,
    /// CAP_SYS_RESOURCE: without it only limits up to ours can be restored.
    pub has_sys_resource: bool,
    pub has_map_files: bool,
    pub has_timens: bool,
    /// Namespaces present as /proc/self/ns entries.
    pub namespaces: Vec<(&'static str, bool)>,
    pub vdso: Option<VdsoLayout>,
    /// Size of the xsave area in this kernel's signal frames (`None`: the
    /// legacy 512-byte fxsave frame only).
    pub sigframe_xstate: Option<u32>,
    /// Features the kernel saves in signal frames (`fx_sw_bytes.xfeatures`).
    pub sigframe_xfeatures: u64,

    pub cap_last_cap: u32,
    /// `PR_TIMER_CREATE_RESTORE_IDS` (Linux 6.13): POSIX timers can be
    /// created with a given id.
    pub has_timer_restore_ids: bool,
}

const CAP_SYS_ADMIN: u32 = 21;
const CAP_SYS_RESOURCE: u32 = 24;
const CAP_CHECKPOINT_RESTORE: u32 = 40;

fn has_cap(eff: [u32; 2], cap: u32) -> bool {
    eff[(cap / 32) as usize] & (1 << (cap % 32)) != 0
}

impl Kerndat {
    /// Everything, for `crest check`.
    pub fn probe() -> Kerndat {
        let mut k = Kerndat::probe_restore();
        k.namespaces = ["mnt", "pid", "net", "ipc", "uts", "user", "cgroup", "time"]
            .into_iter()
            .map(|ns| (ns, fs::metadata(format!("/proc/self/ns/{ns}")).is_ok()))
            .collect();
        k.kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        k.has_mm_map = crate::sys::prctl_mm_map_size().is_ok();
        k.has_map_files = fs::read_dir("/proc/self/map_files")
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        k
    }

    /// What a restore branches on: a subset that costs a few syscalls and
    /// one read of /proc/self/maps, which `maps` hands back for reuse.
    pub fn probe_restore() -> Kerndat {
        Kerndat::probe_restore_with_maps().0
    }

    /// As `probe_restore`, also returning the text of /proc/self/maps.
    pub fn probe_restore_with_maps() -> (Kerndat, String) {
        let caps = crate::sys::capget().unwrap_or_default();
        let eff = [caps[0][0], caps[1][0]];
        let sigframe = crate::sys::probe_sigframe_fpu();
        let maps = fs::read_to_string("/proc/self/maps").unwrap_or_default();
        let k = Kerndat {
            kernel: String::new(),
            has_clone3_set_tid: crate::sys::probe_clone3_set_tid(),
            has_mm_map: true,
            has_restore_caps: has_cap(eff, CAP_SYS_ADMIN) || has_cap(eff, CAP_CHECKPOINT_RESTORE),
            has_sys_resource: has_cap(eff, CAP_SYS_RESOURCE),
            has_map_files: true,
            has_timens: fs::metadata("/proc/self/ns/time").is_ok(),
            namespaces: Vec::new(),
            vdso: vdso_layout(&maps),
            sigframe_xstate: sigframe.map(|(size, _)| size),
            sigframe_xfeatures: sigframe.map_or(3, |(_, f)| f),
            // PR_TIMER_CREATE_RESTORE_IDS with PR_TIMER_CREATE_RESTORE_IDS_GET.
            has_timer_restore_ids: crate::sys::prctl(PR_TIMER_CREATE_RESTORE_IDS, 2, 0, 0, 0)
                .is_ok(),
            cap_last_cap: fs::read_to_string("/proc/sys/kernel/cap_last_cap")
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(40),
        };
        (k, maps)
    }
}

/// Offset and size of xsave feature `nr` in the standard (non-compacted)
/// layout that signal frames use, from CPUID leaf 0xD. Asked per feature:
/// CPUID traps to the hypervisor in a VM, so probing all of them costs.
pub fn xsave_feature(nr: u32) -> (u32, u32) {
    let l = std::arch::x86_64::__cpuid_count(0xd, nr);
    (l.ebx, l.eax)
}

/// Parses the vvar/vdso ranges out of a maps file.
pub fn vdso_layout(maps: &str) -> Option<VdsoLayout> {
    let mut vvar: Option<(u64, u64)> = None;
    let mut vdso = None;
    // Lines that do not parse are skipped: only the named ones matter.
    for m in maps
        .lines()
        .filter_map(|l| crate::proc::parse_maps(l).ok()?.pop())
    {
        match m.path.as_str() {
            "[vvar]" | "[vvar_vclock]" => {
                vvar = Some(match vvar {
                    Some((vs, ve)) => (vs.min(m.start), ve.max(m.end)),
                    None => (m.start, m.end),
                })
            }
            "[vdso]" => vdso = Some((m.start, m.end)),
            _ => {}
        }
    }
    let (ds, de) = vdso?;
    let (vs, ve) = vvar.unwrap_or((ds, ds));
    Some(VdsoLayout {
        vvar_start: vs,
        vvar_len: ve - vs,
        vdso_start: ds,
        vdso_len: de - ds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vdso_layout_with_vclock() {
        let maps = "7fe75a723000-7fe75a727000 r--p 00000000 00:00 0  [vvar]\n\
                    7fe75a727000-7fe75a729000 r--p 00000000 00:00 0  [vvar_vclock]\n\
                    7fe75a729000-7fe75a72b000 r-xp 00000000 00:00 0  [vdso]\n";
        let l = vdso_layout(maps).expect("test setup");
        assert_eq!(l.vvar_start, 0x7fe75a723000);
        assert_eq!(l.vvar_len, 6 * 4096);
        assert_eq!(l.vdso_start, 0x7fe75a729000);
        assert_eq!(l.vdso_len, 2 * 4096);
    }

    #[test]
    fn probe_sees_this_kernel() {
        let k = Kerndat::probe();
        assert!(k.vdso.is_some(), "every x86_64 process has a vdso");
        let size = k.sigframe_xstate.expect("x86_64 with xsave");
        assert!(size >= 576, "xstate size {size}");
        assert_eq!(k.sigframe_xfeatures & 3, 3, "x87 and SSE are always saved");
    }
}
