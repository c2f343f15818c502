//! Restore: the loader creates every socket the tasks hold before the
//! first fork, so each task inherits the same socket as the others that
//! held it. Unix sockets are built in an order where each step finds what
//! it needs:
//! 1. socketpairs for mutually connected pairs, and a partner, closed
//!    after step 5, for a stream socket whose peer closed (it reads its
//!    queue, then end of file) or an unnamed datagram socket with a queue;
//! 2. every other socket, bound to its name (stale socket files removed)
//!    and listening;
//! 3. queues of datagram sockets fed by nobody in the tree, sent to their
//!    name before anything connects to them;
//! 4. connections: to listeners (pending connections, in image order) and
//!    to datagram peers, by name;
//! 5. the remaining queues, each from the socket that feeds it;
//! 6. options, file flags, and shutdown last.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::images::schema::{FdTypes, FileEntry, SkPacketEntry, TcpStreamEntry, UnixSkEntry};
use crate::restore::RestoreError;
use crate::sys;

use super::unix::{show_name, shutdown_how, TCP_ESTABLISHED, TCP_LISTEN, USK_EXTERN};
use super::unix_names::{bind, fail, in_name_dir, reach};

/// The sockets created, by file id.
pub type Created = HashMap<u32, OwnedFd>;

/// The epoll instances passed in flight.
fn in_flight_epolls(
    files: &HashMap<u32, FileEntry>,
    queues: &[(SkPacketEntry, Vec<u8>)],
) -> Vec<u32> {
    let mut ids: Vec<u32> = queues
        .iter()
        .flat_map(|(q, _)| q.scm.iter().flat_map(|s| s.rights.iter().copied()))
        .filter(|id| files.get(id).is_some_and(|f| f.epfd.is_some()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// An epoll instance in flight, made by the loader: each watched
/// descriptor is found by the inode its dump recorded, among the sockets
/// made and the pipes.
fn epoll_in_flight(
    files: &HashMap<u32, FileEntry>,
    id: u32,
    out: &Created,
    other: Resolve<'_>,
) -> Result<OwnedFd, RestoreError> {
    let bad = |why: String| RestoreError::Unsupported(format!("epoll {id} in flight: {why}"));
    let ep = files[&id]
        .epfd
        .as_ref()
        .ok_or_else(|| bad("no eventpoll data".into()))?;
    let owned = sys::epoll_create_owned().map_err(|e| bad(format!("epoll_create1: {e}")))?;
    for t in &ep.tfd {
        let ino = t
            .inode
            .ok_or_else(|| bad(format!("watched fd {} has no inode in the image", t.tfd)))?;
        let target = files.values().find_map(|f| {
            let sk = f
                .usk
                .as_ref()
                .map(|u| u.ino)
                .or(f.isk.as_ref().map(|i| i.ino));
            let sk = sk.or(f.nlsk.as_ref().map(|n| n.ino));
            match (sk, &f.pipe) {
                (Some(sino), _) if u64::from(sino) == ino => out.get(&f.id).map(|s| s.as_raw_fd()),
                (None, Some(p)) if u64::from(p.pipe_id) == ino => other(f.id).ok(),
                _ => None,
            }
        });
        let target = target.ok_or_else(|| {
            bad(format!(
                "watched fd {} (inode {ino}) is no socket or pipe of the images",
                t.tfd
            ))
        })?;
        sys::epoll_add(owned.as_raw_fd(), target, t.events, t.data)
            .map_err(|e| bad(format!("watching fd {}: {e}", t.tfd)))?;
    }
    Ok(owned)
}

/// What socket creation reads: the file table, the queues, and whether
/// outside peers may be reconnected.
#[derive(Debug, Default)]
pub struct SocketImages {
    pub files: HashMap<u32, FileEntry>,
    /// sk-queues.img: each packet and its bytes, in order.
    pub queues: Vec<(SkPacketEntry, Vec<u8>)>,
    /// `--ext-unix-sk`: connecting to a peer outside the tree by its name
    /// is allowed.
    pub ext_unix: bool,
    /// Established TCP connections are restored closed (`--tcp-close`).
    pub tcp_close: bool,
    /// tcp-stream-%x.img by socket inode: the entry, the receive queue
    /// and the send queue.
    pub streams: HashMap<u32, (TcpStreamEntry, Vec<u8>, Vec<u8>)>,
}

impl SocketImages {
    /// sk-queues.img from `dir` (absent in images without sockets), and
    /// a check that each packet's socket is a unix socket of `files`.
    pub fn read(
        dir: &std::path::Path,
        files: HashMap<u32, FileEntry>,
        ext_unix: bool,
    ) -> Result<SocketImages, RestoreError> {
        let path = crate::images::file::SK_QUEUES.path(dir, "");
        let queues = if path.exists() {
            crate::images::file::SK_QUEUES.read_with_extra(dir, "")?
        } else {
            Vec::new()
        };
        for (i, (q, data)) in queues.iter().enumerate() {
            if files.get(&q.id_for).and_then(|f| f.usk.as_ref()).is_none() {
                return Err(RestoreError::Inconsistent(format!(
                    "sk-queues.img: record {i} queues {} bytes for file id {}, which is no unix socket of files.img",
                    data.len(),
                    q.id_for
                )));
            }
        }
        let mut streams = HashMap::new();
        for e in files.values().filter_map(|f| f.isk.as_ref()) {
            let connection = e.r#type == libc::SOCK_STREAM as u32
                && e.proto == libc::IPPROTO_TCP as u32
                && !matches!(e.state, TCP_LISTEN | super::unix::TCP_CLOSE);
            let file = crate::images::file::TCP_STREAM;
            let id = format!("{:x}", e.ino);
            if !connection || !file.path(dir, &id).exists() {
                continue;
            }
            let mut records = file.read_with_extra(dir, &id)?;
            let name = file.name(&id);
            let (s, queues) = match (records.pop(), records.is_empty()) {
                (Some(r), true) => r,
                _ => {
                    return Err(RestoreError::Inconsistent(format!(
                        "{name}: one record expected"
                    )))
                }
            };
            let inq = s.inq_len as usize;
            if queues.len() != inq + s.outq_len as usize {
                return Err(RestoreError::Inconsistent(format!(
                    "{name}: {} bytes of queues, the record says {} + {}",
                    queues.len(),
                    s.inq_len,
                    s.outq_len
                )));
            }
            let (a, b) = queues.split_at(inq);
            streams.insert(e.ino, (s.clone(), a.to_vec(), b.to_vec()));
        }
        Ok(SocketImages {
            files,
            queues,
            ext_unix,
            tcp_close: false,
            streams,
        })
    }
}

/// Gives the loader's descriptor of a file in flight that is no socket
/// (a pipe end, a regular file, an eventfd...), by file id.
pub type Resolve<'a> = &'a dyn Fn(u32) -> Result<RawFd, String>;

impl SocketImages {
    /// The file ids passed in flight in some queue.
    pub fn in_flight(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .queues
            .iter()
            .flat_map(|(q, _)| q.scm.iter().flat_map(|s| s.rights.iter().copied()))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// Creates every socket of the file table that `wanted` names (the
/// tasks' and those in flight), with its queue; `other` gives the
/// descriptors in flight that are not sockets.
pub fn create_all(
    images: &SocketImages,
    wanted: &[u32],
    other: Resolve<'_>,
) -> Result<Created, RestoreError> {
    let (files, queues, ext_unix) = (&images.files, &images.queues[..], images.ext_unix);
    let mut out = Created::new();
    let mut unix: Vec<&UnixSkEntry> = Vec::new();
    let mut wanted = wanted.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    for &id in &wanted {
        let Some(f) = files.get(&id) else { continue };
        let missing = |kind: &str| {
            RestoreError::Inconsistent(format!(
                "files.img: {kind} socket entry {id} without its data"
            ))
        };
        match FdTypes::try_from(f.r#type) {
            Ok(FdTypes::Unixsk) => {
                let e = f.usk.as_ref().ok_or_else(|| missing("unix"))?;
                unix.push(e);
            }
            Ok(FdTypes::Inetsk) => {
                let e = f.isk.as_ref().ok_or_else(|| missing("inet"))?;
                let s = super::inet::create(e, images.tcp_close, images.streams.get(&e.ino))
                    .map_err(|why| {
                        RestoreError::Unsupported(format!(
                            "inet socket {id} (socket:[{}]) port {}: {why}",
                            e.ino, e.src_port
                        ))
                    })?;
                out.insert(id, s);
            }
            Ok(FdTypes::Packetsk) => {
                let e = f.psk.as_ref().ok_or_else(|| missing("packet"))?;
                let s = super::packet::create(e).map_err(|why| {
                    RestoreError::Unsupported(format!("packet socket {id}: {why}"))
                })?;
                out.insert(id, s);
            }
            Ok(FdTypes::Netlinksk) => {
                let e = f.nlsk.as_ref().ok_or_else(|| missing("netlink"))?;
                let s = super::netlink::create(e).map_err(|why| {
                    RestoreError::Unsupported(format!(
                        "netlink socket {id} (socket:[{}]) protocol {}: {why}",
                        e.ino, e.protocol
                    ))
                })?;
                out.insert(id, s);
            }
            _ => {}
        }
    }
    for &id in &wanted {
        if let (Some(e), Some(fd)) = (files.get(&id).and_then(|f| f.isk.as_ref()), out.get(&id)) {
            super::inet::settle(fd.as_raw_fd(), e)
                .and_then(|()| match images.streams.contains_key(&e.ino) {
                    true => super::tcp::release(fd.as_raw_fd()),
                    false => Ok(()),
                })
                .map_err(|why| {
                    RestoreError::Unsupported(format!(
                        "inet socket {id} (socket:[{}]): {why}",
                        e.ino
                    ))
                })?;
        }
    }
    create_unix(files, &unix, queues, ext_unix, &mut out, other)?;
    Ok(out)
}

fn create_unix(
    files: &HashMap<u32, FileEntry>,
    unix: &[&UnixSkEntry],
    queues: &[(SkPacketEntry, Vec<u8>)],
    ext_unix: bool,
    out: &mut Created,
    other: Resolve<'_>,
) -> Result<(), RestoreError> {
    let by_ino: HashMap<u32, &UnixSkEntry> = files
        .values()
        .filter_map(|f| f.usk.as_ref())
        .map(|u| (u.ino, u))
        .collect();
    let held = |ino: u32| unix.iter().any(|u| u.ino == ino);
    let queued = |id: u32| queues.iter().any(|(q, _)| q.id_for == id);
    // Each packet of socket `id`'s queue with the descriptors it carries.
    let packets_of = |id: u32, out: &Created| -> Result<super::queue::Outgoing<'_>, RestoreError> {
        let mut packets = Vec::new();
        for (q, data) in queues.iter().filter(|(q, _)| q.id_for == id) {
            let mut fds = Vec::new();
            for r in q.scm.iter().flat_map(|s| s.rights.iter().copied()) {
                let fd = match out.get(&r) {
                    Some(f) => f.as_raw_fd(),
                    None => other(r).map_err(|why| {
                        RestoreError::Unsupported(format!(
                            "sk-queues.img: file {r} in flight to socket {id}: {why}"
                        ))
                    })?,
                };
                fds.push(fd);
            }
            packets.push((data.as_slice(), fds));
        }
        Ok(packets)
    };
    for (q, _) in queues {
        if let Some(s) = q.scm.iter().find(|s| s.r#type != libc::SCM_RIGHTS as u32) {
            return Err(RestoreError::Unsupported(format!(
                "sk-queues.img: a packet for socket {} carries control data of type {}, not descriptors",
                q.id_for, s.r#type
            )));
        }
    }
    let mutual = |e: &UnixSkEntry| {
        by_ino
            .get(&e.peer)
            .filter(|p| p.peer == e.ino && p.ino != e.ino && held(p.ino))
            .copied()
    };
    let fed_by_peer = |e: &UnixSkEntry| unix.iter().any(|q| q.peer == e.ino && q.ino != e.ino);
    let mut partners: HashMap<u32, OwnedFd> = HashMap::new();
    // 1. Pairs, and partners for queues nothing else feeds.
    for e in unix {
        if e.uflags & USK_EXTERN != 0 {
            return Err(fail(
                e,
                "a task holds an entry of a socket outside the tree".into(),
            ));
        }
        let kind = e.r#type as i32;
        if let Some(p) = mutual(e) {
            if e.ino < p.ino {
                let (a, b) = sys::socketpair(libc::AF_UNIX, kind)
                    .map_err(|err| fail(e, format!("socketpair: {err}")))?;
                out.insert(e.id, a);
                out.insert(p.id, b);
            }
            continue;
        }
        let queued = queued(e.id);
        let stream = kind != libc::SOCK_DGRAM;
        let orphan = stream && e.state == TCP_ESTABLISHED && e.peer == 0;
        if orphan || (queued && !fed_by_peer(e) && (stream || e.name.is_empty())) {
            let (a, b) = sys::socketpair(libc::AF_UNIX, kind)
                .map_err(|err| fail(e, format!("socketpair: {err}")))?;
            if !stream {
                // Its own end must not stay connected to the partner.
                let unspec = (libc::AF_UNSPEC as u16).to_ne_bytes();
                sys::connect(a.as_raw_fd(), &unspec)
                    .map_err(|err| fail(e, format!("disconnecting: {err}")))?;
            }
            out.insert(e.id, a);
            partners.insert(e.id, b);
        }
    }
    // 2. The others, bound and listening; then the names of pairs.
    let mut ghosts: HashMap<u32, OwnedFd> = HashMap::new();
    for e in unix {
        let fresh = !out.contains_key(&e.id);
        if fresh {
            let s = sys::socket(libc::AF_UNIX, e.r#type as i32, 0)
                .map_err(|err| fail(e, format!("socket: {err}")))?;
            out.insert(e.id, s);
        }
        let fd = out[&e.id].as_raw_fd();
        // A connected stream socket's name is its listener's (accepted)
        // or its own from before connect(): as CRIU, not bound again.
        if e.r#type == libc::SOCK_DGRAM as u32 || e.state != TCP_ESTABLISHED {
            if let Some(g) = bind(e, fd)? {
                ghosts.insert(e.id, g);
            }
        }
        if e.state == TCP_LISTEN {
            sys::listen(fd, e.backlog as i32).map_err(|err| fail(e, format!("listen: {err}")))?;
        }
    }
    // Epolls in flight, watching what the tree's sockets and pipes are
    // now (by the inodes their fdinfo named).
    for id in in_flight_epolls(files, queues) {
        let ep = epoll_in_flight(files, id, out, other)?;
        out.insert(id, ep);
    }
    // 3. Datagram queues that only their name reaches.
    let ghosts = ghosts;
    let mut done: Vec<u32> = Vec::new();
    for e in unix {
        if !queued(e.id) || partners.contains_key(&e.id) || mutual(e).is_some() || fed_by_peer(e) {
            continue;
        }
        let packets = packets_of(e.id, out)?;
        let temp = sys::socket(libc::AF_UNIX, e.r#type as i32, 0)
            .map_err(|err| fail(e, format!("socket: {err}")))?;
        in_name_dir(e, || {
            super::queue::refill(temp.as_raw_fd(), &reach(e, &ghosts), &packets)
                .map_err(std::io::Error::other)
        })?;
        done.push(e.id);
    }
    // 4. Connections.
    for e in unix {
        if e.peer == 0 || mutual(e).is_some() || partners.contains_key(&e.id) {
            continue;
        }
        let Some(p) = by_ino.get(&e.peer) else {
            return Err(fail(
                e,
                format!("its peer socket:[{}] is not in the images", e.peer),
            ));
        };
        if p.uflags & USK_EXTERN != 0 && !ext_unix {
            return Err(fail(
                e,
                format!(
                    "its peer {} is outside the tree: restore with --ext-unix-sk to connect to it",
                    show_name(&p.name)
                ),
            ));
        }
        if p.uflags & USK_EXTERN == 0 && !held(p.ino) {
            return Err(fail(
                e,
                format!("its peer socket:[{}] is held by no task", p.ino),
            ));
        }
        if p.name.is_empty() {
            return Err(fail(
                e,
                format!("its peer socket:[{}] has no name to connect to", p.ino),
            ));
        }
        let fd = out[&e.id].as_raw_fd();
        in_name_dir(p, || sys::connect(fd, &reach(p, &ghosts)))?;
    }
    // 5. The other queues, from the socket that feeds each.
    for e in unix {
        if !queued(e.id) || done.contains(&e.id) {
            continue;
        }
        let packets = packets_of(e.id, out)?;
        let sender = if let Some(b) = partners.get(&e.id) {
            b.as_raw_fd()
        } else if let Some(p) = mutual(e) {
            out[&p.id].as_raw_fd()
        } else if let Some(q) = unix.iter().find(|q| q.peer == e.ino) {
            out[&q.id].as_raw_fd()
        } else {
            return Err(fail(e, "nothing can refill its queue".into()));
        };
        super::queue::refill(sender, &[], &packets)
            .map_err(|why| fail(e, format!("refilling its queue: {why}")))?;
    }
    drop(partners);
    // 6. Options, flags, shutdown.
    for e in unix {
        let fd = out[&e.id].as_raw_fd();
        super::opts::restore(fd, &e.opts).map_err(|why| fail(e, why))?;
        sys::set_status_flags(fd, e.flags as i32 & libc::O_NONBLOCK)
            .map_err(|err| fail(e, format!("flags: {err}")))?;
        if let Some(how) = shutdown_how(e.shutdown) {
            match sys::shutdown(fd, how) {
                Ok(()) => {}
                // A socket whose peer is gone cannot be shut down again.
                Err(err) if err.raw_os_error() == Some(libc::ENOTCONN) => {}
                Err(err) => return Err(fail(e, format!("shutdown: {err}"))),
            }
        }
    }
    Ok(())
}
