//! The command line, with CRIU's option names where the meaning is the same.

use std::path::PathBuf;

use crate::dump::DumpOptions;
use crate::log::{self, ERROR, INFO};
use crate::restore::RestoreOptions;

const USAGE: &str = "\
usage: crest COMMAND [OPTIONS]

commands:
  restore -D DIR       restore the process tree dumped in DIR
  dump -t PID -D DIR   checkpoint the process tree below PID into DIR
  show [--pretty] FILE print an image file as JSON, as `crit decode` does
  check                report the kernel features crest needs

options (as CRIU's):
  -D, --images-dir DIR      image directory
  -W, --work-dir DIR        where stats-restore goes (default: the images dir if writable)
  -t, --tree PID            root of the tree to dump
  -d, --restore-detached    return once the tree runs (default: wait for it)
  --pidfile FILE            write the restored root's pid to FILE
  --restore-sibling         the restored root becomes our sibling (our parent's child)
  --check-only              restore: read, check and plan everything, create nothing
  --lazy-pages              restore: the tree runs at once; a helper brings its memory in
                            on first touch (userfaultfd) and in the background, then exits
  -j, --shell-job           the tree belongs to a shell job: keep the caller's session/tty
  -R, --leave-running       keep the dumped tree running
  --ext-unix-sk             allow (dump) and reconnect (restore) datagram unix peers outside the tree
  --skip-in-flight          dump: drop connections not yet accepted by a listener, from outside
  --tcp-close               dump established TCP connections closed; restore them closed
  --root PATH               restore: the root of the tree's mount namespace (a rootfs)
  --ext-mount-map A:B       dump: the mount at A is recorded as external, key B; restore:
                            key A is bound from path B (as --external mnt[A]:B)
  --empty-ns net            restore: the tree's network namespace comes back empty (but
                            for lo, down), for a setup-namespaces script to configure
  --manage-cgroups[=MODE]   restore: ignore, none, props, soft (the default), full or strict,
                            as CRIU's: which cgroups of the images are made and given their properties
  --tcp-established         dump established TCP connections (TCP_REPAIR); restore them
  --ghost-limit SIZE        dump: largest deleted file kept as a ghost (default 1M; K, M, G)
  --[no-]ghost-fiemap       accepted; a ghost's data is found with SEEK_DATA/SEEK_HOLE
  --file-locks              dump held file locks (flock, POSIX, OFD, leases); restore
                            takes back whatever filelocks.img holds
  --force-irmap             accepted; crest always records the path of a watched inode
  --irmap-scan-path DIR     accepted; paths come from file handles, nothing is scanned
  --link-remap              dump a deleted file still linked elsewhere through a hard link
  --evasive-devices         dump: a device opened by a path that now names another
                            node of the same device number is kept by that path
  --external NAME           dump: record file[MNT_ID:INODE] or tty[RDEV:DEV] (hex) by that
                            name instead of dumping it (repeatable); restore:
                            veth[IN]:OUT[@BR] makes the outside peer of veth IN, named
                            OUT, here (attached to bridge BR)
  --inherit-fd fd[N]:NAME   restore: our descriptor N stands for the file NAME names: an
                            --external one, pipe:[ID], socket:[INODE], tty[RDEV:DEV] or a
                            path (repeatable)
  --action-script SCRIPT    run SCRIPT (sh -c) at each dump/restore action (repeatable)
  -o, --log-file FILE       log to FILE instead of stderr
  -v[0-4], -v...            log level (default 2: errors and warnings)
  -h, --help                this text
";

/// Parsed options, shared by all commands.
#[derive(Debug, Default, Clone)]
pub struct Opts {
    pub command: String,
    pub images_dir: Option<PathBuf>,
    pub work_dir: Option<PathBuf>,
    pub tree: Option<i32>,
    pub detach: bool,
    pub pidfile: Option<PathBuf>,
    pub shell_job: bool,
    pub leave_running: bool,
    pub log_file: Option<PathBuf>,
    pub verbosity: u8,
    pub pretty: bool,
    pub files: Vec<PathBuf>,
    pub scripts: Vec<String>,
    pub sibling: bool,
    pub check_only: bool,
    pub ext_unix_sk: bool,
    pub skip_in_flight: bool,
    pub tcp_established: bool,
    pub tcp_close: bool,
    pub empty_net: bool,
    pub root: Option<PathBuf>,
    /// `--manage-cgroups[=MODE]`.
    pub manage_cgroups: crate::cgroup::restore::Mode,
    pub lazy_pages: bool,
    pub ghost_limit: Option<u64>,
    pub file_locks: bool,
    pub evasive_devices: bool,
    pub link_remap: bool,
    pub external: Vec<String>,
    pub inherit_fd: Vec<crate::files::external::Inherit>,
}

/// A size as CRIU takes it: a number of bytes, or with K, M or G.
fn size(v: &str) -> Result<u64, String> {
    let (digits, unit) = match v.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => v.split_at(at),
        None => (v, ""),
    };
    let shift = match unit {
        "" => 0,
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        _ => return Err(format!("bad size {v:?} (a number, with K, M or G)")),
    };
    let n: u64 = digits.parse().map_err(|_| format!("bad size {v:?}"))?;
    n.checked_mul(1 << shift)
        .ok_or(format!("size {v:?} too large"))
}

/// Parses `args` (without the program name).
pub fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        verbosity: log::WARN,
        ..Default::default()
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or(format!("option {name} needs {what}"))
        };
        match name {
            "-D" | "--images-dir" => o.images_dir = Some(value("a directory")?.into()),
            "-W" | "--work-dir" => o.work_dir = Some(value("a directory")?.into()),
            "-t" | "--tree" => {
                let v = value("a pid")?;
                o.tree = Some(v.parse().map_err(|_| format!("-t: bad pid {v:?}"))?)
            }
            "-d" | "--restore-detached" => o.detach = true,
            "--pidfile" => o.pidfile = Some(value("a file")?.into()),
            "-j" | "--shell-job" => o.shell_job = true,
            "-R" | "--leave-running" => o.leave_running = true,
            "-o" | "--log-file" => o.log_file = Some(value("a file")?.into()),
            "--restore-sibling" => o.sibling = true,
            "--check-only" => o.check_only = true,
            "--lazy-pages" => o.lazy_pages = true,
            "--ext-unix-sk" => o.ext_unix_sk = true,
            "--skip-in-flight" => o.skip_in_flight = true,
            "--tcp-established" => o.tcp_established = true,
            "--tcp-close" => o.tcp_close = true,
            "--empty-ns" => match value("a namespace")?.as_str() {
                "net" | "network" => o.empty_net = true,
                ns => return Err(format!("--empty-ns {ns}: only net is taken")),
            },
            "--manage-cgroups" => {
                o.manage_cgroups =
                    crate::cgroup::restore::Mode::parse(inline.as_deref().unwrap_or(""))?
            }
            "--ghost-limit" => o.ghost_limit = Some(size(&value("a size")?)?),
            // crest finds a ghost's data with SEEK_DATA/SEEK_HOLE, which
            // gives what FIEMAP would.
            "--ghost-fiemap" | "--no-ghost-fiemap" => {}
            "--file-locks" => o.file_locks = true,
            "--evasive-devices" => o.evasive_devices = true,
            "--link-remap" => o.link_remap = true,
            "--external" => o.external.push(value("a name")?),
            "--ext-mount-map" => {
                let v = value("KEY:PATH")?;
                let (a, b) = v
                    .split_once(':')
                    .ok_or_else(|| format!("--ext-mount-map {v}: want A:B"))?;
                o.external.push(format!("mnt[{a}]:{b}"));
            }
            "--root" => o.root = Some(value("a directory")?.into()),
            "--inherit-fd" => o
                .inherit_fd
                .push(crate::files::external::parse_inherit(&value(
                    "fd[N]:NAME",
                )?)?),
            // Paths of watched inodes are resolved through their file
            // handles at dump, always: there is no cache to build.
            "--force-irmap" => {}
            "--irmap-scan-path" => {
                value("a directory")?;
            }
            "--action-script" => o.scripts.push(value("a script")?),
            "--pretty" => o.pretty = true,
            "-i" | "--in" => o.files.push(value("a file")?.into()),
            "-h" | "--help" => o.command = "help".into(),
            v if v.starts_with("-v") => {
                let rest = &v[2..];
                o.verbosity = if rest.is_empty() {
                    log::INFO
                } else if rest.chars().all(|c| c == 'v') {
                    (log::INFO + rest.len() as u8).min(log::DEBUG)
                } else {
                    rest.parse().map_err(|_| format!("bad verbosity {v:?}"))?
                };
            }
            v if v.starts_with('-') && v.len() > 1 => return Err(format!("unknown option {v}")),
            v if o.command.is_empty() => o.command = v.to_string(),
            v => o.files.push(v.into()),
        }
    }
    Ok(o)
}

/// Runs crest with the process's arguments; returns the exit code.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("crest: {e}\n\n{USAGE}");
            return 1;
        }
    };
    let file = match &opts.log_file {
        Some(p) => match std::fs::File::create(p) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("crest: log file {}: {e}", p.display());
                return 1;
            }
        },
        None => None,
    };
    log::init(opts.verbosity, file);
    crate::log!(
        INFO,
        "crest {} {}",
        env!("CARGO_PKG_VERSION"),
        args.join(" ")
    );
    let images_dir = opts
        .images_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    let result = match opts.command.as_str() {
        "restore" => restore_externals(&opts.external).and_then(|(veths, mounts)| {
            crate::restore::restore(&RestoreOptions {
                images_dir,
                veths,
                mounts: crate::mnt::restore::MntOpts {
                    root: opts.root.clone(),
                    external: mounts,
                },
                work_dir: opts.work_dir.clone(),
                detach: opts.detach,
                pidfile: opts.pidfile.clone(),
                shell_job: opts.shell_job,
                inherit_fd: opts.inherit_fd.clone(),
                scripts: crate::scripts::Scripts(opts.scripts.clone()),
                sibling: opts.sibling,
                check_only: opts.check_only,
                ext_unix_sk: opts.ext_unix_sk,
                tcp_close: opts.tcp_close,
                empty_net: opts.empty_net,
                manage_cgroups: opts.manage_cgroups,
                lazy_pages: opts.lazy_pages,
            })
            .map_err(|e| e.to_string())
        }),
        "show" | "decode" => crate::show::show(&opts.files, opts.pretty)
            .map(|()| 0)
            .map_err(|e| e.to_string()),
        "check" => crate::show::check(),
        "dump" => match opts.tree {
            None => Err("dump: name the process with -t PID".into()),
            Some(pid) => crate::dump::dump(&DumpOptions {
                pid,
                images_dir,
                leave_running: opts.leave_running,
                shell_job: opts.shell_job,
                scripts: crate::scripts::Scripts(opts.scripts.clone()),
                ext_unix_sk: opts.ext_unix_sk,
                skip_in_flight: opts.skip_in_flight,
                tcp_established: opts.tcp_established,
                tcp_close: opts.tcp_close,
                ghost_limit: opts
                    .ghost_limit
                    .unwrap_or(crate::files::ghost::DEFAULT_LIMIT),
                file_locks: opts.file_locks,
                evasive_devices: opts.evasive_devices,
                external: opts.external.clone(),
                link_remap: opts.link_remap,
            })
            .map(|()| 0)
            .map_err(|e| e.to_string()),
        },
        "help" => {
            print!("{USAGE}");
            return 0;
        }
        "" => {
            eprintln!("{USAGE}");
            return 1;
        }
        c => {
            eprintln!("crest: unknown command {c:?}\n\n{USAGE}");
            return 1;
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            crate::log!(ERROR, "{e}");
            if opts.log_file.is_some() {
                eprintln!("crest: {e}");
            }
            1
        }
    }
}

/// The `--external` keys of a restore: veth[IN]:OUT[@BR] and
/// mnt[KEY]:PATH.
type Externals = (Vec<crate::net::Veth>, Vec<(String, PathBuf)>);

fn restore_externals(keys: &[String]) -> Result<Externals, String> {
    let mut out: Externals = Default::default();
    for k in keys {
        if let Some((key, path)) = crate::mnt::parse_external(k) {
            out.1.push((key, path.into()));
        } else {
            out.0.push(crate::net::Veth::parse(k).ok_or_else(|| {
                format!(
                    "restore: --external {k}: only veth[INSIDE]:OUTSIDE[@BRIDGE] and \
                     mnt[KEY]:PATH are taken here"
                )
            })?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Opts {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>()).expect("test setup")
    }

    #[test]
    fn criu_style_restore() {
        let o = p("restore -D /img -d --pidfile /p -o /l -v4 --shell-job --action-script /a --action-script=/b");
        assert_eq!(o.scripts, ["/a", "/b"]);
        assert_eq!(o.command, "restore");
        assert_eq!(o.images_dir.expect("test setup"), PathBuf::from("/img"));
        assert!(o.detach && o.shell_job);
        assert_eq!(o.pidfile.expect("test setup"), PathBuf::from("/p"));
        assert_eq!(o.verbosity, 4);
    }

    #[test]
    fn long_options_with_equals() {
        let o = p("dump --tree=42 --images-dir=/x -vvv");
        assert_eq!(o.tree, Some(42));
        assert_eq!(o.images_dir.expect("test setup"), PathBuf::from("/x"));
        assert_eq!(o.verbosity, 4);
    }

    #[test]
    fn bad_input() {
        assert!(parse(&["-t".into()]).is_err());
        assert!(parse(&["dump".into(), "-t".into(), "x".into()]).is_err());
        assert!(parse(&["--bogus".into()]).is_err());
    }
}
