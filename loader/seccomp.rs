//! Seccomp filters: read with PTRACE_SECCOMP_GET_FILTER at dump, written
//! as CRIU's `seccomp.img` (oldest first, each pointing at the one before
//! it), and put back as chains by the blob.

use crate::dump::DumpError;
use crate::images::schema::{SeccompEntry, SeccompFilter};
use crate::sys;

/// The task's seccomp filters, as CRIU writes them: oldest first, each
/// newer one pointing at the one before it with `prev`.
pub(crate) fn seccomp_filters(pid: i32, mode: &str) -> Result<SeccompEntry, DumpError> {
    match mode {
        // Strict mode has no filters (dump_process records the mode).
        "" | "0" | "1" => return Ok(SeccompEntry::default()),
        "2" => {}
        m => {
            return Err(DumpError::refused(
                pid,
                format!("it runs in seccomp mode {m}; only filter mode (2) is dumped"),
            ))
        }
    }
    let mut newest_first = Vec::new();
    let fail = |e: std::io::Error| DumpError::sys(pid, "PTRACE_SECCOMP_GET_FILTER", e);
    while let Some(bpf) =
        sys::ptrace_seccomp_filter(pid, newest_first.len() as u64).map_err(fail)?
    {
        let flags = sys::ptrace_seccomp_flags(pid, newest_first.len() as u64).map_err(fail)?;
        newest_first.push((bpf, flags));
    }
    let filters = newest_first
        .into_iter()
        .rev()
        .enumerate()
        .map(|(i, (filter, flags))| SeccompFilter {
            filter,
            prev: i.checked_sub(1).map(|p| p as u32),
            flags: (flags != 0).then_some(flags),
        })
        .collect();
    Ok(SeccompEntry {
        seccomp_filters: filters,
    })
}

/// A chain of filters, oldest first: (BPF bytes, flags).
pub(crate) type Chain = Vec<(Vec<u8>, u32)>;

/// Follows `prev` links from filter `top` of a seccomp image to the oldest
/// filter and returns the chain oldest first.
pub(crate) fn seccomp_chain(entry: &SeccompEntry, top: u32) -> Result<Chain, String> {
    let n = entry.seccomp_filters.len();
    let mut chain = Vec::new();
    let mut at = Some(top);
    while let Some(i) = at {
        let f = entry
            .seccomp_filters
            .get(i as usize)
            .ok_or_else(|| format!("filter {i} of {n} does not exist"))?;
        if chain.len() >= n {
            return Err("the filters' prev links form a cycle".into());
        }
        if f.filter.is_empty() || f.filter.len() % 8 != 0 || f.filter.len() / 8 > 4096 {
            return Err(format!(
                "filter {i}: {} bytes is not a BPF program",
                f.filter.len()
            ));
        }
        chain.push((f.filter.clone(), f.flags.unwrap_or(0)));
        at = f.prev;
    }
    chain.reverse();
    Ok(chain)
}
