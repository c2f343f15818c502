//! AIO rings, at the very end of a restore, through system calls the
//! loader injects into the held task (as CRIU's restorer does them): a
//! new ring from io_setup; as many no-op writes to /dev/null submitted as
//! it takes to bring the kernel's tail where the dumped ring's was; the
//! dumped events copied in; the ring moved over the dumped copy, which
//! the task has had as plain memory until then. Requests that were still
//! in flight when dumped are not seen by a dump and do not come back (as
//! with CRIU).

use crate::images::schema::AioRingEntry;
use crate::sys;

use super::RestoreError;

/// `struct aio_ring`'s header: id, nr, head, tail, magic, features,
/// header length.
const HEADER: usize = 32;
/// A `struct iocb`.
const IOCB: usize = 64;
/// Requests submitted per io_submit.
const BATCH: u64 = 256;

/// Injects one system call with up to six arguments; its result.
pub type Inject<'a> = dyn FnMut(i64, [u64; 6], &str) -> Result<i64, RestoreError> + 'a;

fn word(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
}

/// Checks the rings of an mm image against its VMAs: each at the start
/// of an AIO ring VMA of its length.
pub fn check(
    rings: &[AioRingEntry],
    vmas: &[crate::images::schema::VmaEntry],
    what: &str,
) -> Result<(), RestoreError> {
    use crate::images::flags::VMA_AREA_AIORING;
    for r in rings {
        let vma = vmas
            .iter()
            .find(|v| v.start == r.id && v.status & VMA_AREA_AIORING != 0);
        let fits = vma.is_some_and(|v| v.end - v.start == u64::from(r.ring_len));
        if !fits || r.nr_req == 0 || (r.ring_len as usize) < HEADER {
            return Err(RestoreError::Inconsistent(format!(
                "{what}: AIO ring {:#x} ({} bytes, {} requests) is not an AIO ring vma of its size",
                r.id, r.ring_len, r.nr_req
            )));
        }
    }
    Ok(())
}

/// Restores ring `r` of `pid`; `scratch` is a page of the task's that is
/// free to use.
pub fn restore(
    pid: i32,
    r: &AioRingEntry,
    scratch: u64,
    inject: &mut Inject,
) -> Result<(), RestoreError> {
    let len = u64::from(r.ring_len);
    let at = format!("AIO ring at {:#x}", r.id);
    let sysfail =
        |what: &str, e: std::io::Error| RestoreError::sys(pid, format!("{at}: {what}"), e);
    let failed = |what: &str, ret: i64| {
        RestoreError::sys(
            pid,
            format!("{at}: {what}"),
            std::io::Error::from_raw_os_error(-ret as i32),
        )
    };
    let read = |addr: u64, n: usize| -> Result<Vec<u8>, RestoreError> {
        let mut buf = vec![0u8; n];
        let got = sys::process_vm_readv(pid, &mut buf, &[(addr, n as u64)])
            .map_err(|e| sysfail("reading it", e))?;
        if got != n {
            return Err(RestoreError::System(format!(
                "{at}: short read of the ring"
            )));
        }
        Ok(buf)
    };
    let write = |addr: u64, data: &[u8]| -> Result<(), RestoreError> {
        sys::process_vm_writev(pid, data, addr)
            .map_err(|e| sysfail("writing it", e))
            .map(drop)
    };
    let old = read(r.id, len as usize)?;
    let (nr, head, tail) = (word(&old, 1), word(&old, 2), word(&old, 3));
    write(scratch, &0u64.to_le_bytes())?;
    let ret = inject(
        libc::SYS_io_setup,
        [u64::from(r.nr_req), scratch, 0, 0, 0, 0],
        "io_setup",
    )?;
    if ret != 0 {
        return Err(failed("io_setup", ret));
    }
    let ctx = u64::from_le_bytes(read(scratch, 8)?.try_into().unwrap_or_default());
    let new_nr = word(&read(ctx, HEADER)?, 1);
    let expect = ((len as usize - HEADER) / 32) as u32;
    if tail >= nr || head >= nr || nr != expect || new_nr != nr {
        return Err(RestoreError::Inconsistent(format!(
            "{at}: head {head}, tail {tail} and {nr} events do not fit a ring of {expect} \
             (a new one has {new_nr})"
        )));
    }
    if head != 0 || tail != 0 {
        // A full turn when the tail had wrapped: the kernel counts
        // completed events from the start.
        let count = u64::from(if tail < head { nr + tail } else { tail });
        let path = scratch + 16;
        write(path, b"/dev/null\0")?;
        let fd = inject(
            libc::SYS_openat,
            [libc::AT_FDCWD as u64, path, libc::O_WRONLY as u64, 0, 0, 0],
            "open /dev/null",
        )?;
        if fd < 0 {
            return Err(failed("open /dev/null", fd));
        }
        let (iocb, ptrs) = (scratch + 32, scratch + 32 + IOCB as u64);
        let mut cb = [0u8; IOCB];
        cb[16..18].copy_from_slice(&1u16.to_le_bytes()); // IOCB_CMD_PWRITE
        cb[20..24].copy_from_slice(&(fd as u32).to_le_bytes());
        cb[24..32].copy_from_slice(&(scratch + 8).to_le_bytes()); // one byte
        cb[32..40].copy_from_slice(&1u64.to_le_bytes());
        write(iocb, &cb)?;
        let most = BATCH.min(u64::from(nr) - 1).max(1);
        let list: Vec<u8> = (0..most).flat_map(|_| iocb.to_le_bytes()).collect();
        write(ptrs, &list)?;
        let mut done = 0u64;
        while done < count {
            let n = (count - done).min(most);
            let ret = inject(libc::SYS_io_submit, [ctx, n, ptrs, 0, 0, 0], "io_submit")?;
            if ret <= 0 {
                return Err(failed("io_submit of the requests that move its tail", ret));
            }
            done += ret as u64;
            // Reaping the events, as io_getevents would: room for more.
            let h = done.min(u64::from(head)) as u32;
            write(ctx + 8, &h.to_le_bytes())?;
        }
        inject(libc::SYS_close, [fd as u64, 0, 0, 0, 0, 0], "close")?;
    }
    write(ctx + HEADER as u64, &old[HEADER..])?;
    let flags = (libc::MREMAP_FIXED | libc::MREMAP_MAYMOVE) as u64;
    let ret = inject(libc::SYS_mremap, [ctx, len, len, flags, r.id, 0], "mremap")?;
    if ret as u64 != r.id {
        return Err(failed("moving it into place (mremap)", ret));
    }
    Ok(())
}
