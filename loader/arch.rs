//! Facts of the one architecture crest supports, x86_64: the address
//! space limit, and the registers as ptrace gives them turned into
//! CRIU's `user_x86_regs_entry` / `user_x86_fpregs_entry`.

use crate::images::schema::{
    UserX86FpregsEntry, UserX86RegsEntry, UserX86RegsMode, UserX86XsaveEntry,
};

/// Highest user address on x86_64 with 4-level page tables.
pub const TASK_SIZE: u64 = 0x7fff_ffff_f000;

pub(crate) fn gpregs(r: &libc::user_regs_struct) -> UserX86RegsEntry {
    UserX86RegsEntry {
        r15: r.r15,
        r14: r.r14,
        r13: r.r13,
        r12: r.r12,
        bp: r.rbp,
        bx: r.rbx,
        r11: r.r11,
        r10: r.r10,
        r9: r.r9,
        r8: r.r8,
        ax: r.rax,
        cx: r.rcx,
        dx: r.rdx,
        si: r.rsi,
        di: r.rdi,
        orig_ax: r.orig_rax,
        ip: r.rip,
        cs: r.cs,
        flags: r.eflags,
        sp: r.rsp,
        ss: r.ss,
        fs_base: r.fs_base,
        gs_base: r.gs_base,
        ds: r.ds,
        es: r.es,
        fs: r.fs,
        gs: r.gs,
        mode: Some(UserX86RegsMode::Native as i32),
    }
}

pub(crate) fn u32s(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect()
}

pub(crate) fn u64s(b: &[u8]) -> Vec<u64> {
    b.chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect()
}

/// The fxsave part and the extended features CRIU stores, from an
/// NT_X86_XSTATE buffer (standard xsave layout).
pub(crate) fn fpregs(x: &[u8]) -> UserX86FpregsEntry {
    let u16at = |o: usize| u16::from_le_bytes([x[o], x[o + 1]]) as u32;
    let u32at = |o: usize| u32::from_le_bytes(x[o..o + 4].try_into().unwrap_or_default());
    let u64at = |o: usize| u64::from_le_bytes(x[o..o + 8].try_into().unwrap_or_default());
    let mut fp = UserX86FpregsEntry {
        cwd: u16at(0),
        swd: u16at(2),
        twd: u16at(4),
        fop: u16at(6),
        rip: u64at(8),
        rdp: u64at(16),
        mxcsr: u32at(24),
        mxcsr_mask: u32at(28),
        st_space: u32s(&x[32..160]),
        xmm_space: u32s(&x[160..416]),
        padding: u32s(&x[416..512]),
        xsave: None,
    };
    if x.len() > 576 {
        let bv = u64at(512);
        let feature = |nr: u32| -> &[u8] {
            if bv & (1 << nr) == 0 {
                return &[];
            }
            let (off, len) = crate::kerndat::xsave_feature(nr);
            x.get(off as usize..(off + len) as usize).unwrap_or(&[])
        };
        fp.xsave = Some(UserX86XsaveEntry {
            xstate_bv: bv,
            ymmh_space: u32s(feature(2)),
            opmask_reg: u64s(feature(5)),
            zmm_upper: u64s(feature(6)),
            hi16_zmm: u64s(feature(7)),
            pkru: u32s(feature(9)),
            ..Default::default()
        });
    }
    fp
}
