//! File locks (CRIU's `--file-locks`): POSIX record locks, OFD locks,
//! flock locks and leases, in `filelocks.img`. Dump reads the `lock:`
//! lines of each descriptor's fdinfo, which name the locks held through
//! it (by the task, for POSIX locks; by its open file, for the others);
//! restore takes each one again in its task once every descriptor is in
//! place, without waiting: a lock someone else holds now fails the
//! restore, named.

use std::collections::HashSet;

use crate::dump::DumpError;
use crate::images::schema::FileLockEntry;
use crate::sys;

pub const FL_POSIX: u32 = 1;
pub const FL_FLOCK: u32 = 2;
pub const FL_OFD: u32 = 4;
pub const FL_LEASE: u32 = 8;

/// The locks of a dump.
#[derive(Default)]
pub(crate) struct Locks {
    pub(crate) entries: Vec<FileLockEntry>,
    /// `--file-locks`: without it a held lock is refused, as in CRIU.
    pub(crate) allowed: bool,
    seen: HashSet<(u32, i32, u64, i64, i64, u32)>,
}

/// One `lock:` line: "ID: KIND MODE TYPE PID MAJ:MIN:INO START END".
struct Line {
    kind: u32,
    write: bool,
    ino: u64,
    start: i64,
    /// None: to the end of the file.
    end: Option<i64>,
}

fn parse(line: &str) -> Result<Line, String> {
    let w: Vec<&str> = line.split_whitespace().collect();
    let bad = || format!("unexpected lock line {line:?}");
    if w.len() < 8 {
        return Err(bad());
    }
    let kind = match (w[1], w[2]) {
        ("POSIX", _) => FL_POSIX,
        ("FLOCK", _) => FL_FLOCK,
        ("OFDLCK", _) => FL_OFD,
        ("LEASE", "ACTIVE") => FL_LEASE,
        ("LEASE", state) => return Err(format!("a lease being broken ({state})")),
        (other, _) => return Err(format!("a {other} lock")),
    };
    let write = match w[3] {
        "WRITE" => true,
        "READ" => false,
        other => return Err(format!("a lock of type {other}")),
    };
    let ino = w[5]
        .rsplit(':')
        .next()
        .and_then(|i| i.parse().ok())
        .ok_or_else(bad)?;
    let start = w[6].parse().map_err(|_| bad())?;
    let end = match w[7] {
        "EOF" => None,
        e => Some(e.parse().map_err(|_| bad())?),
    };
    Ok(Line {
        kind,
        write,
        ino,
        start,
        end,
    })
}

impl Locks {
    /// Records the locks held through descriptor `fd` (files.img entry
    /// `id`) of the task `pid` (`vpid` in its namespace), from `lines`.
    pub(crate) fn note(
        &mut self,
        pid: i32,
        vpid: i32,
        fd: i32,
        id: u32,
        lines: &[String],
    ) -> Result<(), DumpError> {
        for line in lines {
            let l = parse(line).map_err(|why| {
                DumpError::refused(pid, format!("fd {fd}: {why}, which crest does not dump"))
            })?;
            if !self.allowed {
                return Err(DumpError::refused(
                    pid,
                    format!("fd {fd} holds a file lock: dump with --file-locks (as CRIU)"),
                ));
            }
            let end = l.end.unwrap_or(-1);
            // A POSIX lock is the task's, shown on each of its descriptors
            // of the file; the others belong to the open file, shown on
            // each descriptor sharing it, in any task.
            let key = match l.kind {
                FL_POSIX => (l.kind, vpid, l.ino, l.start, end, l.write as u32),
                _ => (l.kind, 0, u64::from(id), l.start, end, l.write as u32),
            };
            if !self.seen.insert(key) {
                continue;
            }
            self.entries.push(FileLockEntry {
                flag: l.kind,
                r#type: if l.write { 1 } else { 0 },
                pid: vpid,
                fd,
                start: l.start,
                len: l.end.map_or(0, |e| e - l.start + 1),
            });
        }
        Ok(())
    }
}

/// Takes lock `l` again through the task's descriptor `l.fd`.
pub fn take(l: &FileLockEntry) -> Result<(), String> {
    let fail = |what: &str, e: std::io::Error| {
        format!(
            "fd {}: {what} lock at {} ({} bytes): {e}",
            l.fd, l.start, l.len
        )
    };
    let write = match l.r#type {
        0 => false,
        1 => true,
        t => {
            return Err(format!(
                "fd {}: lock type {t} is not F_RDLCK or F_WRLCK",
                l.fd
            ))
        }
    };
    match l.flag {
        FL_POSIX => {
            sys::record_lock(l.fd, false, write, l.start, l.len).map_err(|e| fail("POSIX", e))
        }
        FL_OFD => sys::record_lock(l.fd, true, write, l.start, l.len).map_err(|e| fail("OFD", e)),
        FL_FLOCK => sys::flock(l.fd, write).map_err(|e| fail("flock", e)),
        FL_LEASE => sys::set_lease(l.fd, write).map_err(|e| fail("lease", e)),
        k => Err(format!("fd {}: lock kind {k:#x} is not restored", l.fd)),
    }
}
