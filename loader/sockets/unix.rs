//! Unix sockets: stream, datagram and seqpacket; socketpairs, bound
//! (file system and abstract names), listening, connected, with their
//! queues. Dump follows CRIU's conventions for the image (a client whose
//! connection is not accepted yet names the listener as its peer; a peer
//! outside the tree gets an `USK_EXTERN` entry); `restore` rebuilds them
//! all in the loader.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::dump::DumpError;
use crate::images::schema::{FilePermsEntry, FownEntry, SkOptsEntry, SkShutdown, UnixSkEntry};
use crate::sys;

use super::{diag::UnixDiag, opts, Dumped};

/// `unix_sk_entry.uflags`: the entry stands for a socket outside the
/// tree, which the restored one connects to by name.
pub const USK_EXTERN: u32 = 0x1;

pub const TCP_ESTABLISHED: u32 = 1;
pub const TCP_CLOSE: u32 = 7;
pub const TCP_LISTEN: u32 = 10;

/// `ioctl(SIOCUNIXFILE)`: an O_PATH descriptor of the bound file.
const SIOCUNIXFILE: u64 = 0x89e0;

pub(crate) fn dump(
    d: &mut Dumped,
    pid: i32,
    what: &str,
    sock: &OwnedFd,
    ino: u32,
    id: u32,
    flags: u32,
) -> Result<UnixSkEntry, DumpError> {
    let refuse = |why: String| DumpError::refused(pid, format!("{what}: {why}"));
    let all = d.unix_diag(pid)?;
    let Some(u) = all.get(&ino).cloned() else {
        return Err(refuse("a unix socket sock_diag does not report".into()));
    };
    if !matches!(
        u.kind as i32,
        libc::SOCK_STREAM | libc::SOCK_DGRAM | libc::SOCK_SEQPACKET
    ) {
        return Err(refuse(format!("a unix socket of type {}", u.kind)));
    }
    let state = u32::from(u.state);
    if !matches!(state, TCP_ESTABLISHED | TCP_CLOSE | TCP_LISTEN) {
        return Err(refuse(format!("a unix socket in state {state}")));
    }
    let mut peer = u.peer;
    let stream = u.kind as i32 != libc::SOCK_DGRAM;
    if stream && state == TCP_ESTABLISHED && peer == 0 {
        // Connected but not accepted yet: the listener lists our inode
        // among its pending connections, and we restore by connecting to
        // it again.
        let listener = all.values().find(|l| l.icons.contains(&ino));
        match listener {
            Some(l) if u.rqlen.1 != 0 => {
                return Err(refuse(format!(
                    "its connection to listener socket:[{}] is not accepted yet and holds {} bytes sent into it",
                    l.ino, u.rqlen.1
                )))
            }
            Some(l) => peer = l.ino,
            None if u.shutdown == 3 => {}
            None => return Err(refuse("a connected unix socket without a peer".into())),
        }
    }
    if peer != 0 && !all.contains_key(&peer) {
        // The peer closed: a stream socket keeps what it sent.
        if !stream {
            return Err(refuse(format!("its peer socket:[{peer}] no longer exists")));
        }
        peer = 0;
    }
    let raw = sock.as_raw_fd();
    // The peek offset has no field in CRIU's images: a set one would be
    // lost.
    match sys::getsockopt_int(raw, libc::SOL_SOCKET, libc::SO_PEEK_OFF) {
        Ok(off) if off >= 0 => {
            return Err(refuse(format!(
                "SO_PEEK_OFF is set ({off}), which CRIU's images cannot hold"
            )))
        }
        _ => {}
    }
    let opts = opts::dump(raw).map_err(|e| DumpError::sys(pid, format!("{what}: options"), e))?;
    let mut e = UnixSkEntry {
        id,
        ino,
        r#type: u32::from(u.kind),
        state,
        flags,
        uflags: 0,
        backlog: u.rqlen.1,
        peer,
        fown: FownEntry::default(),
        opts,
        name: u.name.clone().unwrap_or_default(),
        shutdown: (u.shutdown != 0).then_some(i32::from(u.shutdown & 3)),
        ..Default::default()
    };
    if e.name.first().is_some_and(|&c| c != 0) {
        bound_file(&mut e, raw, &u).map_err(refuse)?;
    }
    Ok(e)
}

/// The file a socket is bound to: its permissions, whether it still
/// exists, and for a relative name the directory it was bound in.
fn bound_file(e: &mut UnixSkEntry, sock: i32, u: &UnixDiag) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let name =
        String::from_utf8_lossy(e.name.split(|&c| c == 0).next().unwrap_or(&[])).into_owned();
    let file = sys::ioctl_fd(sock, SIOCUNIXFILE)
        .map_err(|err| format!("bound to {name}, whose file cannot be opened: {err}"))?;
    let link = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .map_err(|err| format!("bound to {name}: {err}"))?;
    let meta = std::fs::metadata(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .map_err(|err| format!("bound to {name}: {err}"))?;
    let mut path = link.to_string_lossy().into_owned();
    if let Some(p) = path.strip_suffix(" (deleted)") {
        path = p.to_string();
        e.deleted = Some(true);
    }
    if u.vfs.is_some_and(|(ino, _)| u64::from(ino) != meta.ino()) {
        return Err(format!("bound to {name}, whose file is not the socket's"));
    }
    if !name.starts_with('/') {
        match path.strip_suffix(&name) {
            Some(dir) => e.name_dir = Some(dir.trim_end_matches('/').to_string()),
            None => return Err(format!("bound to relative name {name}, found at {path}")),
        }
    }
    e.file_perms = Some(FilePermsEntry {
        mode: meta.mode(),
        uid: meta.uid(),
        gid: meta.gid(),
    });
    Ok(())
}

/// After every task: each peer must be a dumped socket; a datagram peer
/// outside the tree becomes an `USK_EXTERN` entry with `--ext-unix-sk`;
/// a listener's pending connections must come from dumped sockets.
pub(crate) fn check_peers(
    d: &mut Dumped,
    entries: &mut Vec<crate::images::schema::FileEntry>,
) -> Result<(), DumpError> {
    use crate::images::schema::{FdTypes, FileEntry};
    let mut externs: HashMap<u32, u32> = HashMap::new();
    let mut add = Vec::new();
    let next_id = entries.iter().map(|e| e.id).max().unwrap_or(0) + 1;
    let all = d.unix.clone().unwrap_or_default();
    for e in entries.iter().filter_map(|e| e.usk.as_ref()) {
        let &(_, pid, fd) = d.unix_ids.get(&e.ino).unwrap_or(&(0, 0, 0));
        let refuse =
            |why: String| DumpError::refused(pid, format!("fd {fd} (socket:[{}]): {why}", e.ino));
        if e.state == TCP_LISTEN {
            if let Some(l) = all.get(&e.ino) {
                for client in &l.icons {
                    if !d.unix_ids.contains_key(client) && !d.skip_in_flight {
                        return Err(refuse(format!(
                            "a connection from socket:[{client}], outside the tree, waits to be accepted (--skip-in-flight drops it)"
                        )));
                    }
                }
            }
        }
        if e.peer == 0 || d.unix_ids.contains_key(&e.peer) || externs.contains_key(&e.peer) {
            continue;
        }
        let Some(p) = all.get(&e.peer) else {
            return Err(refuse(format!("its peer socket:[{}] is gone", e.peer)));
        };
        let name = p.name.clone().unwrap_or_default();
        if e.r#type != libc::SOCK_DGRAM as u32 {
            return Err(refuse(format!(
                "connected to socket:[{}] {}, outside the tree: crest cannot dump half of a stream connection",
                e.peer,
                show_name(&name)
            )));
        }
        if !d.ext_unix {
            return Err(refuse(format!(
                "connected to socket:[{}] {}, outside the tree (dump with --ext-unix-sk to reconnect to it by name)",
                e.peer,
                show_name(&name)
            )));
        }
        if name.is_empty() {
            return Err(refuse(format!(
                "connected to unnamed socket:[{}] outside the tree, which cannot be reached again",
                e.peer
            )));
        }
        let id = next_id + add.len() as u32;
        externs.insert(e.peer, id);
        add.push(FileEntry {
            r#type: FdTypes::Unixsk as i32,
            id,
            usk: Some(UnixSkEntry {
                id,
                ino: e.peer,
                // As CRIU writes an outside peer: a datagram listener.
                r#type: libc::SOCK_DGRAM as u32,
                state: TCP_LISTEN,
                uflags: USK_EXTERN,
                opts: SkOptsEntry::default(),
                name,
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    entries.extend(add);
    order_peers_first(entries);
    Ok(())
}

/// Puts each unix socket's entry after its peer's, as CRIU's dump
/// writes them: its restore resolves a peer only among the entries read
/// before.
fn order_peers_first(entries: &mut Vec<crate::images::schema::FileEntry>) {
    let at: HashMap<u32, usize> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.usk.as_ref().map(|u| (u.ino, i)))
        .collect();
    let peer_of = |i: usize| -> Option<usize> {
        let u = entries[i].usk.as_ref()?;
        let j = *at.get(&u.peer)?;
        let mutual = entries[j].usk.as_ref().is_some_and(|p| p.peer == u.ino);
        // Of a mutual pair, the end met second comes first, as in CRIU's
        // dump (the first is held back until its peer is written); its
        // restore makes the pair where that order says.
        (j != i && (!mutual || j > i)).then_some(j)
    };
    let mut order = Vec::with_capacity(entries.len());
    let mut state = vec![0u8; entries.len()]; // 0 new, 1 on the path, 2 placed
    for start in 0..entries.len() {
        // Follow the chain of peers not placed yet, then place it back
        // to front; a cycle is cut where it closes.
        let mut chain = Vec::new();
        let mut i = start;
        while state[i] == 0 {
            state[i] = 1;
            chain.push(i);
            match peer_of(i) {
                Some(j) => i = j,
                None => break,
            }
        }
        for &k in chain.iter().rev() {
            state[k] = 2;
            order.push(k);
        }
    }
    let mut old: Vec<Option<crate::images::schema::FileEntry>> =
        std::mem::take(entries).into_iter().map(Some).collect();
    entries.extend(order.into_iter().filter_map(|i| old[i].take()));
}

/// A unix name for messages: a path, or `@name` for an abstract one.
pub fn show_name(name: &[u8]) -> String {
    match name.split_first() {
        None => "(unnamed)".into(),
        Some((0, rest)) => format!("@{}", String::from_utf8_lossy(rest).replace('\0', "@")),
        Some(_) => {
            String::from_utf8_lossy(name.split(|&c| c == 0).next().unwrap_or(&[])).into_owned()
        }
    }
}

/// The `shutdown(2)` call that gives a socket its dumped `SkShutdown`
/// (the kernel's RCV_SHUTDOWN/SEND_SHUTDOWN bits).
pub fn shutdown_how(s: Option<i32>) -> Option<i32> {
    match s.and_then(|v| SkShutdown::try_from(v).ok()) {
        Some(SkShutdown::Read) => Some(libc::SHUT_RD),
        Some(SkShutdown::Write) => Some(libc::SHUT_WR),
        Some(SkShutdown::Both) => Some(libc::SHUT_RDWR),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::schema::FileEntry;

    fn sk(id: u32, ino: u32, peer: u32) -> FileEntry {
        FileEntry {
            id,
            usk: Some(UnixSkEntry {
                id,
                ino,
                peer,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn peers_come_first_pairs_and_cycles_stay() {
        // 1 -> 3, 2 -> 3 (datagram senders), 4 <-> 5 (a pair), 6 -> 7 -> 6 -> ...
        let mut e = vec![
            sk(1, 10, 30),
            sk(2, 20, 30),
            sk(3, 30, 0),
            sk(4, 40, 50),
            sk(5, 50, 40),
            sk(6, 60, 70),
            sk(7, 70, 80),
            sk(8, 80, 60),
        ];
        order_peers_first(&mut e);
        let ids: Vec<u32> = e.iter().map(|f| f.id).collect();
        let pos = |id| ids.iter().position(|&i| i == id).unwrap();
        assert_eq!(ids.len(), 8);
        assert!(pos(3) < pos(1) && pos(3) < pos(2));
        assert!(pos(5) < pos(4), "the end of a pair met second comes first");
        assert!(pos(7) < pos(6) && pos(8) < pos(7));
    }
}
