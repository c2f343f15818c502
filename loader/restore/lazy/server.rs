//! The lazy-pages server and its watch: the two helper processes of
//! `--lazy-pages` (see the parent module for the whole story).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::images::flags::PAGE;
use crate::sys::{self, uffd};

use super::super::task::TaskPlan;
use super::space::{new_space, Pages, Space};
use super::{has_lazy, lazy_runs, GO, HOT_AROUND_IP, HOT_BELOW_SP, IN_BACKGROUND, ON_TOUCH};

/// One served address space: its descriptor and its state.
struct Served {
    uffd: OwnedFd,
    space: Space,
    /// Touched pages (current addresses) not served yet: their threads
    /// wait.
    retry: Vec<u64>,
}

/// The two u32 words of a task's message: its index and its pid.
fn words(buf: &[u8; 8]) -> (u32, u32) {
    let w = |k: usize| u32::from_le_bytes([buf[k], buf[k + 1], buf[k + 2], buf[k + 3]]);
    (w(0), w(4))
}

/// Why serving stopped early.
#[derive(Debug)]
pub(super) struct Abort;

/// The server's work, in the forked helper: never returns to the loader.
/// `end` is its end of the socket; the other end (the loader's and the
/// tasks') is closed here with everything else.
pub(super) fn serve(plans: &[TaskPlan], end: OwnedFd) -> Result<(), Abort> {
    let _ = sys::setsid();
    // Nothing of the tree or the loader's stdio stays open here: only
    // our socket end and the pages files.
    let mut pages: Vec<Option<Pages>> = Vec::with_capacity(plans.len());
    let mut keep = vec![end.as_raw_fd()];
    for p in plans {
        let runs = lazy_runs(p);
        if runs.is_empty() {
            pages.push(None);
            continue;
        }
        let fd = p.task.pages.as_raw_fd();
        keep.push(fd);
        let len = p
            .task
            .pages
            .metadata()
            .map(|m| m.len())
            .map_err(|_| Abort)?;
        let map = sys::mmap(0, len.max(PAGE), libc::PROT_READ, libc::MAP_SHARED, fd, 0)
            .map_err(|_| Abort)?;
        let mut total = 0;
        let runs = runs
            .into_iter()
            .map(|(v, n, off)| {
                total += n;
                (v, n, off, total - n)
            })
            .collect();
        let threads = std::iter::once(&p.task.core).chain(p.task.thread_cores.iter().map(|t| &t.1));
        let hot = threads
            .filter_map(|c| c.thread_info.as_ref())
            .map(|ti| (ti.gpregs.sp, ti.gpregs.ip))
            .collect();
        pages.push(Some(Pages {
            runs,
            total,
            map,
            hot,
        }));
    }
    sys::close_all_but(&keep).map_err(|_| Abort)?;
    let (watch, watch_pid) = start_watch().map_err(|_| Abort)?;
    let watch_pidfd = sys::pidfd_open(watch_pid, 0).map_err(|_| Abort)?;
    let mut served: Vec<Served> = Vec::new();
    let mut expected = plans.iter().filter(|p| has_lazy(p)).count();
    let mut go = false;
    let mut hung_up = false;
    let mut hosts: Vec<i32> = Vec::new();
    let mut run = || -> Result<(), Abort> {
        loop {
            // 1. New descriptors from the tasks, and the loader's word.
            loop {
                let mut buf = [0u8; 8];
                match sys::recvmsg(end.as_raw_fd(), &mut buf, libc::MSG_DONTWAIT) {
                    Ok(r) if r.len == 0 => {
                        hung_up = true;
                        break;
                    }
                    Ok(r) if r.len == 1 && buf[0] == GO => go = true,
                    Ok(r) => {
                        let (i, host) = words(&buf);
                        let Some(fd) = r.fds.into_iter().next() else {
                            continue;
                        };
                        let Some(Some(pg)) = pages.get(i as usize) else {
                            continue;
                        };
                        pass_to_watch(&watch, &fd, host)?;
                        hosts.push(host as i32);
                        let space = new_space(i as usize, &plans[i as usize], pg);
                        let mut s = Served {
                            uffd: fd,
                            space,
                            retry: Vec::new(),
                        };
                        serve_hot(&mut s, pg);
                        served.push(s);
                        expected = expected.saturating_sub(1);
                    }
                    Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => break,
                    Err(_) => {
                        hung_up = true;
                        break;
                    }
                }
            }
            if hung_up && !go {
                // The loader died or failed before the tree was restored.
                return Err(Abort);
            }
            // 2. Every event of every address space, before any copy (a copy
            //    meets EAGAIN while events wait).
            let mut forks = Vec::new();
            for s in served.iter_mut() {
                let Some(pg) = pages[s.space.task].as_ref() else {
                    continue;
                };
                while let Some(ev) = uffd::read_event(s.uffd.as_raw_fd()).unwrap_or(None) {
                    match ev {
                        uffd::Event::Fault { addr } => s.retry.push(addr & !(PAGE - 1)),
                        uffd::Event::Fork { uffd } => forks.push(Served {
                            uffd,
                            space: s.space.clone(),
                            retry: Vec::new(),
                        }),
                        uffd::Event::Remap { from, to, len } => s.space.remap(from, to, len),
                        uffd::Event::Remove { start, end } => {
                            s.space.drop_range(pg, start, end, false)
                        }
                        uffd::Event::Unmap { start, end } => {
                            s.space.drop_range(pg, start, end, true)
                        }
                        uffd::Event::Other(_) => {}
                    }
                }
            }
            // Touches first (those a copy could not serve yet included): a
            // thread waits on each.
            for s in served.iter_mut() {
                let Some(pg) = pages[s.space.task].as_ref() else {
                    continue;
                };
                let touched = std::mem::take(&mut s.retry);
                for a in touched {
                    if !on_touch(s, pg, a) {
                        s.retry.push(a);
                    }
                }
            }
            for f in forks {
                pass_to_watch(&watch, &f.uffd, 0)?;
                served.push(f);
            }
            // 3. One step of the background pass, once the tree is
            //    restored: before, its steps (64 pages each) take a core
            //    from the restore.
            let busy = served
                .iter_mut()
                .filter(|_| go)
                .find(|s| s.space.left > 0 || !s.retry.is_empty());
            let (more, progress) = match busy {
                Some(s) => match pages[s.space.task].as_ref() {
                    Some(pg) => (true, background(s, pg)),
                    None => (true, false),
                },
                None => (served.iter().any(|s| !s.retry.is_empty()), false),
            };
            if !more && expected == 0 && go {
                return Ok(());
            }
            // 4. Wait for something to do, unless the background pass has.
            let mut fds: Vec<RawFd> = served.iter().map(|s| s.uffd.as_raw_fd()).collect();
            fds.push(end.as_raw_fd());
            fds.push(watch_pidfd);
            // A pass that moved nothing (its copies wait for events) waits a
            // little, so as not to spin.
            let wait = match (more, progress) {
                (true, true) => 0,
                (true, false) => 1,
                _ => 1000,
            };
            let ready = uffd::poll(&fds, wait).map_err(|_| Abort)?;
            if ready.last() == Some(&true) {
                // The watch died: nobody would stop the tree reading zeroes
                // after us.
                return Err(Abort);
            }
        }
    };
    let result = run();
    match result {
        Ok(()) => {
            // Every page is in: the watch lets go first, then we do.
            let _ = sys::sendmsg(watch.as_raw_fd(), &[GO], &[], &[], None);
            let _ = sys::waitpid(watch_pid, libc::__WALL);
            drop(served);
            Ok(())
        }
        Err(a) => {
            // The tree goes with us (the watch, if alive, sees to it too).
            kill_tree(&hosts);
            Err(a)
        }
    }
}

/// First the pages the threads touch first: below each stack pointer,
/// around each instruction pointer.
fn serve_hot(s: &mut Served, pg: &Pages) {
    for &(sp, ip) in &pg.hot {
        let sp = sp & !(PAGE - 1);
        for d in (0..=HOT_BELOW_SP).map(|k| sp.wrapping_sub(k * PAGE)) {
            serve_dumped(s, pg, d, 1);
        }
        let ip = ip & !(PAGE - 1);
        for k in 0..=2 * HOT_AROUND_IP {
            serve_dumped(s, pg, (ip + k * PAGE).wrapping_sub(HOT_AROUND_IP * PAGE), 1);
        }
    }
}

/// A thread touched missing page `a` (current address): its pages and
/// those after it, or the zero page where nothing was dumped. False if
/// it must be tried again (events wait first).
fn on_touch(s: &mut Served, pg: &Pages, a: u64) -> bool {
    let dumped = s.space.dumped_of(a).map(|(d, _)| d);
    match dumped.and_then(|d| Some((d, pg.index(d)?))) {
        Some((d, i)) if s.space.is_pending(i) => {
            serve_dumped(s, pg, d, ON_TOUCH);
            !s.space.is_pending(i)
        }
        // Never dumped, emptied since, or served by a copy that raced
        // with this touch: zeroes, or just a wake-up.
        _ => match uffd::zeropage(s.uffd.as_raw_fd(), a, PAGE) {
            Ok(()) => true,
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                let _ = uffd::wake(s.uffd.as_raw_fd(), a, PAGE);
                true
            }
            // The address space is gone, or the range: nobody waits.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ESRCH) | Some(libc::ENOENT)) => true,
            Err(_) => false,
        },
    }
}

/// Serves up to `max` pending pages from dumped address `d` on, as far
/// as they are contiguous in the file and in one region.
fn serve_dumped(s: &mut Served, pg: &Pages, d: u64, max: u64) {
    let Some(idx) = pg.index(d) else { return };
    if !s.space.is_pending(idx) {
        return;
    }
    let Some((cur, region)) = s.space.cur_of(d) else {
        // Nowhere any more: it will never be asked for.
        s.space.clear(idx);
        return;
    };
    let (_, off, in_run) = pg.page(idx);
    let in_region = (region.cur + region.len - cur) / PAGE;
    let mut n = 1;
    while n < max.min(in_run).min(in_region) && s.space.is_pending(idx + n) {
        n += 1;
    }
    // SAFETY: the source lies in our read-only mapping of the pages file
    // (the runs were checked against its length when the images were
    // read); the destination is registered memory of the task's address
    // space (a region of it), not ours.
    let (done, err) = unsafe { uffd::copy(s.uffd.as_raw_fd(), cur, pg.map + off, n * PAGE) };
    for k in 0..done / PAGE {
        s.space.clear(idx + k);
    }
    match err.and_then(|e| e.raw_os_error()) {
        // The page is there already: nothing to serve.
        Some(libc::EEXIST) => s.space.clear(idx + done / PAGE),
        // The address space is gone: nothing more to serve.
        Some(libc::ESRCH) => {
            s.space.pending.iter_mut().for_each(|w| *w = 0);
            s.space.left = 0;
        }
        // Events are waiting (EAGAIN) or the range went (ENOENT): they
        // are read first, then this is tried again.
        _ => {}
    }
}

/// One step of the background pass: the next pending pages in address
/// order.
fn background(s: &mut Served, pg: &Pages) -> bool {
    let before = s.space.left;
    let total = pg.total;
    let mut idx = s.space.cursor;
    while idx < total && !s.space.is_pending(idx) {
        idx += 1;
    }
    if idx >= total {
        // Wrap round once for pages a failed copy left behind.
        s.space.cursor = 0;
        if s.space.left > 0 {
            let first = (0..total).find(|&i| s.space.is_pending(i));
            if let Some(i) = first {
                let (d, _, _) = pg.page(i);
                serve_dumped(s, pg, d, IN_BACKGROUND);
            }
        }
        return s.space.left < before;
    }
    let (d, _, _) = pg.page(idx);
    serve_dumped(s, pg, d, IN_BACKGROUND);
    s.space.cursor = idx;
    s.space.left < before
}

/// Hands a copy of `fd` (of task `pid`, 0 for a forked child) to the
/// watch.
fn pass_to_watch(watch: &OwnedFd, fd: &OwnedFd, pid: u32) -> Result<(), Abort> {
    let mut msg = [0u8; 8];
    msg[..4].copy_from_slice(&pid.to_le_bytes());
    sys::sendmsg(watch.as_raw_fd(), &msg, &[], &[fd.as_raw_fd()], None)
        .map(drop)
        .map_err(|_| Abort)
}

/// Forks the watch: it holds every descriptor the server passes it and,
/// should the server go before it says GO, kills every task it knows and
/// their descendants.
fn start_watch() -> std::io::Result<(OwnedFd, i32)> {
    let (ours, theirs) = sys::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET)?;
    let server = sys::getpid();
    // SAFETY: the server is single-threaded; the child runs `watch` and
    // exits.
    match unsafe { sys::clone3(0, &[]) }? {
        sys::Forked::Child => {
            drop(ours);
            watch(theirs, server);
            sys::exit_now(0)
        }
        sys::Forked::Parent(pid) => Ok((ours, pid)),
    }
}

fn watch(link: OwnedFd, server: i32) {
    let mut held: Vec<OwnedFd> = Vec::new();
    let mut pids: Vec<i32> = Vec::new();
    let server_fd = sys::pidfd_open(server, 0).ok();
    loop {
        let mut fds = vec![link.as_raw_fd()];
        fds.extend(server_fd);
        let _ = uffd::poll(&fds, 1000);
        loop {
            let mut buf = [0u8; 8];
            match sys::recvmsg(link.as_raw_fd(), &mut buf, libc::MSG_DONTWAIT) {
                Ok(r) if r.len == 0 => return kill_tree(&pids),
                Ok(r) if r.len == 1 && buf[0] == GO => return,
                Ok(r) => {
                    let (pid, _) = words(&buf);
                    if pid > 0 {
                        pids.push(pid as i32);
                    }
                    held.extend(r.fds);
                }
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => break,
                Err(_) => return kill_tree(&pids),
            }
        }
        if server_fd.is_some_and(|fd| sys::poll_in(fd).unwrap_or(true)) {
            // The server is gone without a word: a last look at what it
            // sent, then the tree goes.
            let mut buf = [0u8; 8];
            if let Ok(r) = sys::recvmsg(link.as_raw_fd(), &mut buf, libc::MSG_DONTWAIT) {
                if r.len == 1 && buf[0] == GO {
                    return;
                }
            }
            return kill_tree(&pids);
        }
    }
}

/// Kills the tasks `pids` (pids in our pid namespace) and everything
/// below them.
fn kill_tree(pids: &[i32]) {
    let mut all: Vec<i32> = pids.to_vec();
    let mut i = 0;
    while i < all.len() {
        let kids = crate::proc::children(all[i]).unwrap_or_default();
        all.extend(
            kids.into_iter()
                .filter(|k| !all.contains(k))
                .collect::<Vec<_>>(),
        );
        i += 1;
    }
    for p in all {
        let _ = sys::kill(p, libc::SIGKILL);
    }
}
