//! Signals: handlers (`sa_entry`, one per signal but SIGKILL and SIGSTOP),
//! and the queues of pending signals with their siginfo
//! (`signal_queue_entry`), private per thread and shared per process. Dump
//! reads the queues with PTRACE_PEEKSIGINFO (the handlers are asked in the
//! task, `dump::inject`); restore turns both into the blob's arrays.

use restorer_blob::{PendingSignal, SigAction};

use crate::dump::DumpError;
use crate::images::schema::{SaEntry, SiginfoEntry, SignalQueueEntry};
use crate::sys;

/// Signal numbers of `tc.sigactions`: 1..=64 without SIGKILL and SIGSTOP.
pub(crate) fn sigaction_numbers() -> impl Iterator<Item = u32> {
    (1..=64u32).filter(|&s| s != libc::SIGKILL as u32 && s != libc::SIGSTOP as u32)
}

pub(crate) fn sigactions(list: &[SaEntry]) -> Vec<SigAction> {
    sigaction_numbers()
        .zip(list)
        .map(|(sig, sa)| SigAction {
            sig,
            _pad: 0,
            handler: sa.sigaction,
            flags: sa.flags,
            restorer: sa.restorer,
            mask: sa.mask,
        })
        .collect()
}

/// The dumped action of `sig` as the kernel's struct sigaction (handler,
/// flags, restorer, mask), unless it is the default one.
pub(crate) fn action_of(task: &crate::restore::images::TaskImages, sig: i32) -> Option<[u64; 4]> {
    let tc = task.core.tc.as_ref()?;
    let (_, sa) = sigaction_numbers()
        .zip(&tc.sigactions)
        .find(|(n, _)| *n == sig as u32)?;
    (sa.sigaction != 0).then_some([sa.sigaction, sa.flags, sa.restorer, sa.mask])
}

pub(crate) fn signals(q: Option<&SignalQueueEntry>, shared: bool) -> Vec<PendingSignal> {
    q.map(|q| q.signals.as_slice())
        .unwrap_or(&[])
        .iter()
        .filter(|s| s.siginfo.len() >= 4)
        .map(|s| {
            let mut p = PendingSignal {
                sig: u32::from_le_bytes([s.siginfo[0], s.siginfo[1], s.siginfo[2], s.siginfo[3]]),
                shared: shared as u32,
                siginfo: [0; 128],
            };
            let n = s.siginfo.len().min(128);
            p.siginfo[..n].copy_from_slice(&s.siginfo[..n]);
            p
        })
        .collect()
}

/// Queued signals with their siginfo.
pub(crate) fn queued(pid: i32, shared: bool) -> Result<Vec<SiginfoEntry>, DumpError> {
    let mut out = Vec::new();
    let mut buf = [[0u8; 128]; 32];
    loop {
        let n = sys::ptrace_peeksiginfo(pid, out.len() as u64, shared, &mut buf)
            .map_err(|e| DumpError::sys(pid, "PTRACE_PEEKSIGINFO", e))?;
        out.extend(buf[..n].iter().map(|s| SiginfoEntry {
            siginfo: s.to_vec(),
        }));
        if n < buf.len() {
            return Ok(out);
        }
    }
}
