//! What /proc tells about a task, parsed once for dump, restore and the
//! kernel probe: stat, status, maps, fdinfo, fds, threads, children and
//! POSIX timers. Every error names the file and the cause.

use std::fmt;
use std::fs;
use std::io;

/// A /proc file that could not be read or did not parse.
#[derive(Debug)]
pub enum ProcError {
    /// The task is gone (ENOENT/ESRCH on its files).
    NoSuchProcess {
        pid: i32,
    },
    Io {
        path: String,
        err: io::Error,
    },
    Format {
        path: String,
        what: String,
    },
}

impl fmt::Display for ProcError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            ProcError::NoSuchProcess { pid } => write!(f, "pid {pid}: no such process"),
            ProcError::Io { path, err } => write!(f, "{path}: {err}"),
            ProcError::Format { path, what } => write!(f, "{path}: {what}"),
        }
    }
}

impl std::error::Error for ProcError {}

fn io_error(pid: i32, name: &str, err: io::Error) -> ProcError {
    match err.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ESRCH) => ProcError::NoSuchProcess { pid },
        _ => ProcError::Io {
            path: format!("/proc/{pid}/{name}"),
            err,
        },
    }
}

fn format_error(pid: i32, name: &str, what: String) -> ProcError {
    ProcError::Format {
        path: format!("/proc/{pid}/{name}"),
        what,
    }
}

pub fn read(pid: i32, name: &str) -> Result<String, ProcError> {
    fs::read_to_string(format!("/proc/{pid}/{name}")).map_err(|e| io_error(pid, name, e))
}

/// The inode of an fd link naming an object with no path, as
/// `KIND:[INODE]` (`pipe:[123]`, `socket:[456]`).
pub fn link_inode(link: &str, kind: &str) -> Option<u32> {
    link.strip_prefix(kind)?
        .strip_prefix(":[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

pub fn readlink(pid: i32, name: &str) -> Result<String, ProcError> {
    fs::read_link(format!("/proc/{pid}/{name}"))
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|e| ProcError::Io {
            path: format!("/proc/{pid}/{name}"),
            err: e,
        })
}

/// /proc/PID/stat, split after the command name: `fields[i]` is field
/// number `i + 3` of proc(5).
pub struct Stat {
    fields: Vec<u64>,
    pub state: char,
}

impl Stat {
    pub fn read(pid: i32) -> Result<Stat, ProcError> {
        Stat::read_at(pid, "stat")
    }

    /// A stat file below /proc/PID, e.g. `task/TID/stat`.
    pub fn read_at(pid: i32, name: &str) -> Result<Stat, ProcError> {
        let s = read(pid, name)?;
        let bad = || format_error(pid, name, "unexpected format".into());
        let close = s.rfind(") ").ok_or_else(bad)?;
        let rest = &s[close + 2..];
        let state = rest.chars().next().ok_or_else(bad)?;
        let fields = rest
            .split_whitespace()
            .map(|f| f.parse::<i64>().map(|v| v as u64).unwrap_or(0))
            .collect();
        Ok(Stat { fields, state })
    }

    /// Field number `n` (1-based, as in proc(5); n >= 4).
    pub fn field(&self, n: usize) -> u64 {
        self.fields.get(n - 3).copied().unwrap_or(0)
    }
}

/// /proc/PID/status as key -> value text.
pub struct Status(Vec<(String, String)>);

impl Status {
    pub fn read(pid: i32) -> Result<Status, ProcError> {
        Status::read_at(pid, "status")
    }

    /// A status file below /proc/PID, e.g. `task/TID/status`.
    pub fn read_at(pid: i32, name: &str) -> Result<Status, ProcError> {
        let s = read(pid, name)?;
        Ok(Status(
            s.lines()
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.to_string(), v.trim().to_string()))
                .collect(),
        ))
    }

    pub fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    pub fn hex(&self, key: &str) -> u64 {
        u64::from_str_radix(self.get(key), 16).unwrap_or(0)
    }

    pub fn octal(&self, key: &str) -> u32 {
        u32::from_str_radix(self.get(key), 8).unwrap_or(0)
    }

    pub fn ids(&self, key: &str) -> Vec<u32> {
        self.get(key)
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect()
    }
}

/// One line of /proc/PID/maps.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub perms: [u8; 4],
    pub offset: u64,
    pub inode: u64,
    pub path: String,
}

/// /proc/PID/maps of a task.
pub fn maps(pid: i32) -> Result<Vec<Mapping>, ProcError> {
    parse_maps(&read(pid, "maps")?)
        .map_err(|line| format_error(pid, "maps", format!("bad line {line:?}")))
}

/// The lines of a maps file; `Err` holds the first line that does not parse.
pub fn parse_maps(text: &str) -> Result<Vec<Mapping>, String> {
    text.lines()
        .map(|line| parse_maps_line(line).ok_or_else(|| line.to_string()))
        .collect()
}

fn parse_maps_line(line: &str) -> Option<Mapping> {
    let mut f = line.splitn(6, ' ');
    let (s, e) = f.next()?.split_once('-')?;
    let perms = f.next()?.as_bytes();
    let offset = f.next()?;
    let _dev = f.next()?;
    let inode = f.next()?;
    let path = f.next().unwrap_or("").trim_start().to_string();
    let hex = |t: &str| u64::from_str_radix(t, 16).ok();
    Some(Mapping {
        start: hex(s)?,
        end: hex(e)?,
        perms: perms.get(..4)?.try_into().ok()?,
        offset: hex(offset)?,
        inode: inode.parse().ok()?,
        path,
    })
}

/// One line of /proc/PID/mountinfo, its paths unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub id: u32,
    pub parent: u32,
    /// The filesystem's device, `(major, minor)`.
    pub dev: (u32, u32),
    /// The directory of the filesystem the mount shows.
    pub root: String,
    pub mountpoint: String,
    /// The mount's own options (`rw,nosuid,relatime`).
    pub mount_opts: String,
    /// Peer group (`shared:N`), master group (`master:N`), unbindable.
    pub shared: Option<u32>,
    pub master: Option<u32>,
    pub unbindable: bool,
    /// Filesystem type, with a subtype if any (`fuse.sshfs`).
    pub fstype: String,
    pub source: String,
    /// The superblock's options.
    pub super_opts: String,
}

impl Mount {
    /// The device number as the kernel keeps it in `s_dev` (and CRIU in
    /// its images): major in the top 12 bits, minor in the low 20.
    pub fn kdev(&self) -> u32 {
        (self.dev.0 << 20) | (self.dev.1 & 0xf_ffff)
    }
}

/// The mounts task `pid` (or `"self"`) sees, in the kernel's order.
pub fn mountinfo(pid: &str) -> io::Result<Vec<Mount>> {
    let path = format!("/proc/{pid}/mountinfo");
    let text = std::fs::read_to_string(&path)?;
    text.lines()
        .map(|l| parse_mount(l).ok_or_else(|| io::Error::other(format!("{path}: bad line {l:?}"))))
        .collect()
}

/// A path of mountinfo, whose space, tab, newline and backslash are
/// written as octal escapes.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], oct) {
            (b'\\', Some(d)) => {
                out.push(d.iter().fold(0u8, |a, c| a.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_mount(line: &str) -> Option<Mount> {
    let (head, tail) = line.split_once(" - ")?;
    let mut h = head.split(' ');
    let id = h.next()?.parse().ok()?;
    let parent = h.next()?.parse().ok()?;
    let (major, minor) = h.next()?.split_once(':')?;
    let root = unescape(h.next()?);
    let mountpoint = unescape(h.next()?);
    let mount_opts = h.next()?.to_string();
    let (mut shared, mut master, mut unbindable) = (None, None, false);
    for tag in h {
        if let Some(n) = tag.strip_prefix("shared:") {
            shared = Some(n.parse().ok()?);
        } else if let Some(n) = tag.strip_prefix("master:") {
            master = Some(n.parse().ok()?);
        } else if tag == "unbindable" {
            unbindable = true;
        }
    }
    let mut t = tail.split(' ');
    let fstype = t.next()?.to_string();
    let source = unescape(t.next()?);
    let super_opts = t.next().unwrap_or("").to_string();
    Some(Mount {
        id,
        parent,
        dev: (major.parse().ok()?, minor.parse().ok()?),
        root,
        mountpoint,
        mount_opts,
        shared,
        master,
        unbindable,
        fstype,
        source,
        super_opts,
    })
}

/// /proc/PID/fdinfo/FD, read once: its position, status flags and
/// `lock:` lines, and the whole text for the kind-specific fields.
pub struct Fdinfo {
    pub pos: u64,
    pub flags: u32,
    pub locks: Vec<String>,
    pub text: String,
}

pub fn fdinfo(pid: i32, fd: i32) -> Result<Fdinfo, ProcError> {
    let text = read(pid, &format!("fdinfo/{fd}"))?;
    let mut pos = 0;
    let mut flags = 0;
    let mut locks = Vec::new();
    for l in text.lines() {
        if let Some(v) = l.strip_prefix("pos:") {
            pos = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = l.strip_prefix("flags:") {
            flags = u32::from_str_radix(v.trim(), 8).unwrap_or(0);
        } else if let Some(v) = l.strip_prefix("lock:") {
            locks.push(v.trim().to_string());
        }
    }
    Ok(Fdinfo {
        pos,
        flags,
        locks,
        text,
    })
}

/// Descriptor numbers of the task, sorted.
pub fn fds(pid: i32) -> Result<Vec<i32>, ProcError> {
    let mut v: Vec<i32> = fs::read_dir(format!("/proc/{pid}/fd"))
        .map_err(|e| io_error(pid, "fd", e))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    v.sort_unstable();
    Ok(v)
}

/// Thread ids of the task.
pub fn threads(pid: i32) -> Result<Vec<i32>, ProcError> {
    let mut v: Vec<i32> = fs::read_dir(format!("/proc/{pid}/task"))
        .map_err(|_| ProcError::NoSuchProcess { pid })?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    v.sort_unstable();
    Ok(v)
}

/// A task's pids from the outermost pid namespace to its own (`NSpid:`
/// of /proc/PID/task/TID/status): one number outside pid namespaces.
pub fn ns_pids(pid: i32, tid: i32) -> Result<Vec<u32>, ProcError> {
    let s = read(pid, &format!("task/{tid}/status"))?;
    let line = s
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .ok_or(ProcError::NoSuchProcess { pid })?;
    Ok(line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect())
}

/// The resource limits of /proc/PID/limits, in resource order: (soft,
/// hard), "unlimited" as RLIM_INFINITY. The kernel prints each as
/// `%-25s %-20s %-20s`, so the values start at column 26.
pub fn limits(pid: i32) -> Result<Vec<(u64, u64)>, ProcError> {
    let text = read(pid, "limits")?;
    let value = |v: &str| -> Option<u64> {
        match v {
            "unlimited" => Some(u64::MAX),
            n => n.parse().ok(),
        }
    };
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let mut cols = line.get(26..).unwrap_or("").split_whitespace();
        match (cols.next().and_then(value), cols.next().and_then(value)) {
            (Some(soft), Some(hard)) => out.push((soft, hard)),
            _ => {
                return Err(ProcError::Format {
                    path: format!("/proc/{pid}/limits"),
                    what: format!("bad line {line:?}"),
                })
            }
        }
    }
    Ok(out)
}

/// The last number of a `NS*` line of /proc/PID/status (`NSpid`,
/// `NSpgid`, `NSsid`): the value in the task's own pid namespace.
pub fn ns_field(pid: i32, field: &str) -> Result<Option<u32>, ProcError> {
    let s = read(pid, "status")?;
    Ok(s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|l| l.split_whitespace().last()?.parse().ok()))
}

/// For the threads `ns_tids` (numbered in the task's own pid namespace) of
/// the task `pid` (our number for it): our numbers for them, in order.
pub fn host_tids(pid: i32, ns_tids: &[u32]) -> Result<Vec<i32>, String> {
    let mut map = Vec::new();
    for tid in threads(pid).map_err(|e| e.to_string())? {
        let ns = ns_pids(pid, tid).map_err(|e| e.to_string())?;
        if let Some(&inner) = ns.last() {
            map.push((inner, tid));
        }
    }
    ns_tids
        .iter()
        .map(|t| {
            map.iter()
                .find(|(inner, _)| inner == t)
                .map(|&(_, host)| host)
                .ok_or(format!("thread {t} is not among the task's threads"))
        })
        .collect()
}

/// Child pids of the task (all its threads).
pub fn children(pid: i32) -> Result<Vec<i32>, ProcError> {
    let mut v = Vec::new();
    for tid in threads(pid)? {
        let s = read(pid, &format!("task/{tid}/children")).unwrap_or_default();
        v.extend(s.split_whitespace().filter_map(|c| c.parse::<i32>().ok()));
    }
    Ok(v)
}

/// Who holds `pid`, in words for an error message.
pub fn holder(pid: u32) -> String {
    let pid = pid as i32;
    let zombie = Stat::read(pid).is_ok_and(|s| s.state == 'Z');
    match read(pid, "comm") {
        Ok(c) if zombie => format!("a zombie of {:?} (not yet reaped by its parent)", c.trim()),
        Ok(c) => format!("process {:?}", c.trim()),
        Err(_) => "a task that is not visible here".into(),
    }
}

/// Pids whose parent is `pid`, from every process's stat (unlike
/// [`children`], this finds orphans adopted by a subreaper too).
pub fn children_of(pid: i32) -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| Stat::read(p).is_ok_and(|s| s.field(4) == pid as u64))
        .collect()
}

/// The task's POSIX timers from /proc/PID/timers (ids, clocks, signals,
/// notification), without their times, which only the task can read.
pub fn posix_timers(pid: i32) -> Result<Vec<crate::images::schema::PosixTimerEntry>, ProcError> {
    let text = read(pid, "timers")?;
    let bad = |l: &str| format_error(pid, "timers", format!("unexpected line {l:?}"));
    let mut out: Vec<crate::images::schema::PosixTimerEntry> = Vec::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(": ") else {
            continue;
        };
        if key == "ID" {
            out.push(crate::images::schema::PosixTimerEntry {
                it_id: value.trim().parse().map_err(|_| bad(line))?,
                ..Default::default()
            });
            continue;
        }
        let t = out.last_mut().ok_or_else(|| bad(line))?;
        match key {
            // "signal: SIGNO/SIVAL_PTR(hex)"
            "signal" => {
                let (signo, ptr) = value.split_once('/').ok_or_else(|| bad(line))?;
                t.si_signo = signo.trim().parse().map_err(|_| bad(line))?;
                t.sival_ptr =
                    u64::from_str_radix(ptr.trim().trim_start_matches("0x"), 16).unwrap_or(0);
            }
            // "notify: signal|none|thread/pid|tid.N"
            "notify" => {
                let (kind, who) = value.split_once('/').ok_or_else(|| bad(line))?;
                let base = match kind {
                    "signal" => libc::SIGEV_SIGNAL,
                    "none" => libc::SIGEV_NONE,
                    "thread" => libc::SIGEV_THREAD,
                    _ => return Err(bad(line)),
                } as u32;
                let (whom, id) = who.split_once('.').ok_or_else(|| bad(line))?;
                if whom == "tid" {
                    t.it_sigev_notify = base | libc::SIGEV_THREAD_ID as u32;
                    t.notify_thread_id = Some(id.parse().map_err(|_| bad(line))?);
                } else {
                    t.it_sigev_notify = base;
                }
            }
            "ClockID" => t.clock_id = value.trim().parse().map_err(|_| bad(line))?,
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{link_inode, parse_mount, unescape};

    #[test]
    fn mountinfo_lines() {
        let m = parse_mount(
            "36 25 0:32 /a\\040b /mnt/x\\134y rw,nosuid shared:7 master:3 - tmpfs my\\040src rw,size=4k",
        )
        .unwrap();
        assert_eq!((m.id, m.parent, m.dev), (36, 25, (0, 32)));
        assert_eq!(
            (m.root.as_str(), m.mountpoint.as_str()),
            ("/a b", "/mnt/x\\y")
        );
        assert_eq!(
            (m.shared, m.master, m.unbindable),
            (Some(7), Some(3), false)
        );
        assert_eq!((m.fstype.as_str(), m.source.as_str()), ("tmpfs", "my src"));
        assert_eq!(m.super_opts, "rw,size=4k");
        assert_eq!(m.kdev(), 32);
        assert_eq!(unescape("a\\011b\\"), "a\tb\\");
        assert!(parse_mount("36 25 0:32 / /x rw").is_none());
    }

    #[test]
    fn link_inodes() {
        assert_eq!(link_inode("socket:[1253648]", "socket"), Some(1253648));
        assert_eq!(link_inode("pipe:[7]", "pipe"), Some(7));
        assert_eq!(link_inode("pipe:[7]", "socket"), None);
        assert_eq!(link_inode("/tmp/socket:[7]", "socket"), None);
        assert_eq!(link_inode("socket:[x]", "socket"), None);
    }
}
