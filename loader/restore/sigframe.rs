//! The `struct rt_sigframe` the blob returns through (x86_64 layout, from
//! arch/x86/include/asm/sigframe.h and uapi/asm/sigcontext.h):
//!
//! ```text
//!   0  pretcode                      (unused: the blob calls rt_sigreturn)
//!   8  ucontext: flags, link, uc_stack (24), sigcontext (256), sigmask (8)
//! 312  siginfo (128)
//! 440  -- the xsave area follows at the next 64-byte boundary --
//! ```
//!
//! `rt_sigreturn` restores the general registers, the FPU/xsave state (when
//! the area carries both FP_XSTATE magic words; else only the legacy
//! part), the blocked mask and the sigaltstack from here. fs_base/gs_base
//! are not in the frame: the blob sets them first.

use crate::images::schema::{ThreadSasEntry, UserX86FpregsEntry, UserX86RegsEntry};
use crate::kerndat::Kerndat;

use super::RestoreError;

pub const FRAME_HEAD: usize = 440;
const UC: usize = 8;
const UC_STACK: usize = UC + 16;
const SIGCONTEXT: usize = UC + 40;
const SIGMASK: usize = SIGCONTEXT + 256;
const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;
const UC_FP_XSTATE: u64 = 1;
const UC_SIGCONTEXT_SS: u64 = 2;
const UC_STRICT_RESTORE_SS: u64 = 4;
const XFEATURE_AVX: u32 = 2;
const XFEATURE_OPMASK: u32 = 5;
const XFEATURE_ZMM_HI256: u32 = 6;
const XFEATURE_HI16_ZMM: u32 = 7;
const XFEATURE_PKRU: u32 = 9;

fn put(buf: &mut [u8], off: usize, bytes: &[u8]) {
    buf[off..off + bytes.len()].copy_from_slice(bytes);
}

fn put_u64s(buf: &mut [u8], off: usize, words: &[u64]) {
    for (i, w) in words.iter().enumerate() {
        put(buf, off + 8 * i, &w.to_le_bytes());
    }
}

fn put_u32s(buf: &mut [u8], off: usize, words: &[u32]) {
    for (i, w) in words.iter().enumerate() {
        put(buf, off + 4 * i, &w.to_le_bytes());
    }
}

/// Size of the frame plus its xsave area, for a frame at a 64-byte aligned
/// address.
pub fn frame_size(k: &Kerndat) -> usize {
    let fp = k.sigframe_xstate.unwrap_or(512) as usize + 4;
    FRAME_HEAD.next_multiple_of(64) + fp
}

/// Builds the frame for a frame placed at address `at` (64-byte aligned).
pub fn build(
    k: &Kerndat,
    at: u64,
    regs: &UserX86RegsEntry,
    fp: &UserX86FpregsEntry,
    blocked: u64,
    sas: Option<&ThreadSasEntry>,
) -> Result<Vec<u8>, RestoreError> {
    let fp_off = FRAME_HEAD.next_multiple_of(64);
    let mut buf = vec![0u8; frame_size(k)];

    let has_xstate = k.sigframe_xstate.is_some();
    let flags = UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS | if has_xstate { UC_FP_XSTATE } else { 0 };
    put_u64s(&mut buf, UC, &[flags, 0]);
    let (ss_sp, ss_flags, ss_size) = sas.map_or((0, libc::SS_DISABLE as u32, 0), |s| {
        (s.ss_sp, s.ss_flags, s.ss_size)
    });
    put(&mut buf, UC_STACK, &ss_sp.to_le_bytes());
    put(&mut buf, UC_STACK + 8, &ss_flags.to_le_bytes());
    put(&mut buf, UC_STACK + 16, &ss_size.to_le_bytes());

    // struct sigcontext_64, in its field order.
    let r = regs;
    put_u64s(
        &mut buf,
        SIGCONTEXT,
        &[
            r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.di, r.si, r.bp, r.bx, r.dx,
            r.ax, r.cx, r.sp, r.ip, r.flags,
        ],
    );
    // cs, gs, fs, ss as u16 each; the kernel forces user cs/ss anyway.
    let segs = [r.cs as u16, r.gs as u16, r.fs as u16, r.ss as u16];
    for (i, s) in segs.iter().enumerate() {
        put(&mut buf, SIGCONTEXT + 144 + 2 * i, &s.to_le_bytes());
    }
    // err, trapno, oldmask, cr2 stay 0; then the fpstate pointer.
    put(
        &mut buf,
        SIGCONTEXT + 184,
        &(at + fp_off as u64).to_le_bytes(),
    );
    put(&mut buf, SIGMASK, &blocked.to_le_bytes());

    fpstate(k, &mut buf[fp_off..], fp)?;
    Ok(buf)
}

/// The fxsave area, and when the kernel uses xsave frames the xsave header,
/// the extended features the image has, and the two magic words.
fn fpstate(k: &Kerndat, out: &mut [u8], fp: &UserX86FpregsEntry) -> Result<(), RestoreError> {
    put(out, 0, &(fp.cwd as u16).to_le_bytes());
    put(out, 2, &(fp.swd as u16).to_le_bytes());
    put(out, 4, &(fp.twd as u16).to_le_bytes());
    put(out, 6, &(fp.fop as u16).to_le_bytes());
    put(out, 8, &fp.rip.to_le_bytes());
    put(out, 16, &fp.rdp.to_le_bytes());
    put(out, 24, &fp.mxcsr.to_le_bytes());
    put(out, 28, &fp.mxcsr_mask.to_le_bytes());
    put_u32s(out, 32, &fp.st_space);
    put_u32s(out, 160, &fp.xmm_space);

    let Some(size) = k.sigframe_xstate else {
        return Ok(());
    };
    let size = size as usize;
    let supported = k.sigframe_xfeatures;
    let mut bv = 3u64; // x87 and SSE are always in the legacy area
    if let Some(x) = &fp.xsave {
        let mut wanted = x.xstate_bv;
        // PKRU on a CPU without protection keys: harmless to drop while it
        // holds 0 or Linux's default (only key 0 usable, as with no keys).
        let pkru = 1u64 << XFEATURE_PKRU;
        let default_pkru = matches!(x.pkru.first(), None | Some(0 | 0x5555_5554));
        if wanted & pkru != 0 && supported & pkru == 0 && default_pkru {
            wanted &= !pkru;
        }
        let missing = wanted & !supported;
        if missing != 0 {
            return Err(RestoreError::Unsupported(format!(
                "the dumped FPU state uses xsave features {missing:#x} that this CPU/kernel \
                 does not save (supported: {supported:#x})"
            )));
        }
        bv = wanted | 3;
        let mut feature = |nr: u32, bytes: &[u8]| -> Result<(), RestoreError> {
            if wanted & (1 << nr) == 0 {
                return Ok(());
            }
            let (off, len) = crate::kerndat::xsave_feature(nr);
            let (off, len) = (off as usize, len as usize);
            if bytes.len() > len || off + len > size {
                return Err(RestoreError::Inconsistent(format!(
                    "xsave feature {nr}: {} bytes in the image, {len} at offset {off} here",
                    bytes.len()
                )));
            }
            put(out, off, bytes);
            Ok(())
        };
        let as_bytes32 = |w: &[u32]| w.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
        let as_bytes64 = |w: &[u64]| w.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
        feature(XFEATURE_AVX, &as_bytes32(&x.ymmh_space))?;
        feature(XFEATURE_OPMASK, &as_bytes64(&x.opmask_reg))?;
        feature(XFEATURE_ZMM_HI256, &as_bytes64(&x.zmm_upper))?;
        feature(XFEATURE_HI16_ZMM, &as_bytes64(&x.hi16_zmm))?;
        feature(XFEATURE_PKRU, &as_bytes32(&x.pkru))?;
    }
    // The xsave header: which features the area holds (the rest restore
    // to their init state), standard (non-compacted) format.
    put(out, 512, &bv.to_le_bytes());
    // fx_sw_bytes in the legacy area's software-reserved bytes.
    put(out, 464, &FP_XSTATE_MAGIC1.to_le_bytes());
    put(out, 468, &((size + 4) as u32).to_le_bytes());
    put(out, 472, &supported.to_le_bytes());
    put(out, 480, &(size as u32).to_le_bytes());
    put(out, size, &FP_XSTATE_MAGIC2.to_le_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_land_in_sigcontext_order() {
        let k = Kerndat::probe();
        let regs = UserX86RegsEntry {
            r8: 8,
            ip: 0x401000,
            sp: 0x7ffd_0000,
            flags: 0x202,
            cs: 0x33,
            ss: 0x2b,
            ..Default::default()
        };
        let fp = UserX86FpregsEntry {
            st_space: vec![0; 32],
            xmm_space: (0..64).collect(),
            mxcsr: 0x1f80,
            ..Default::default()
        };
        let f = build(&k, 0x10000, &regs, &fp, 0x4000, None).expect("test setup");
        let word = |off: usize| u64::from_le_bytes(f[off..off + 8].try_into().expect("test setup"));
        assert_eq!(word(SIGCONTEXT), 8);
        assert_eq!(word(SIGCONTEXT + 15 * 8), 0x7ffd_0000, "rsp");
        assert_eq!(word(SIGCONTEXT + 16 * 8), 0x401000, "rip");
        assert_eq!(word(SIGMASK), 0x4000);
        let fp_at = word(SIGCONTEXT + 184);
        assert_eq!(fp_at % 64, 0);
        let fp_off = (fp_at - 0x10000) as usize;
        assert_eq!(&f[fp_off + 24..fp_off + 28], &0x1f80u32.to_le_bytes());
        // xmm1's first word is xmm_space[4]
        assert_eq!(
            &f[fp_off + 160 + 16..fp_off + 164 + 16],
            &4u32.to_le_bytes()
        );
        if let Some(size) = k.sigframe_xstate {
            let m2 = fp_off + size as usize;
            assert_eq!(&f[m2..m2 + 4], &FP_XSTATE_MAGIC2.to_le_bytes());
        }
    }
}
