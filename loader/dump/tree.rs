//! The images of the whole tree, written once every process is dumped:
//! files, shmem objects, pipe data, terminals, pstree, the time namespace,
//! seccomp filters, and the inventory last (an image set without it is not
//! a complete dump).

use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::files::pipe::{fifos_data, pipes_data};
use crate::images::file;
use crate::images::magic;
use crate::images::schema::*;
use crate::images::ImageWriter;
use crate::ns::timens;

use super::{
    create_pages, mem, write_bytes, write_image, write_pagemap, DumpError, TreeDump, Written,
};

/// The images of the whole tree: files, pipe data, pstree, time
/// namespace, seccomp filters, and the inventory last (an image set
/// without it is not a complete dump).
pub(super) fn write_tree(
    root: i32,
    dir: &Path,
    acc: &TreeDump,
    written: &mut Written,
) -> Result<(), DumpError> {
    // A pidfd must name a process of the tree (or one that has ended):
    // nothing else will be there at restore.
    for e in acc.files.entries.iter().filter_map(|e| e.pidfd.as_ref()) {
        let known =
            |p: &PstreeEntry| p.pid as i32 == e.nspid || p.threads.contains(&(e.nspid as u32));
        if e.nspid != -1 && !acc.pstree.iter().any(known) {
            return Err(DumpError::refused(
                root,
                format!(
                    "a pidfd (file {}) of pid {}, which is not in the tree",
                    e.id, e.nspid
                ),
            ));
        }
    }
    write_image(dir, &file::FILES, "", &acc.files.entries, written)?;
    // Pages files are numbered after the processes' ones: the tree's IPC
    // namespace's segments, then shmem objects.
    let mut pages_id = acc.pstree.len() as u32;
    if let Some((pid, id)) = acc.net {
        for (name, bytes) in crate::net::dump(pid, id)?.images() {
            write_bytes(dir, &name, bytes, written)?;
        }
    }
    if let Some((pid, id)) = acc.mnt {
        // `--external mnt[MOUNTPOINT]:KEY`: mounts recorded by key.
        let keys: Vec<_> = acc
            .files
            .external
            .iter()
            .filter_map(|k| crate::mnt::parse_external(k))
            .collect();
        for (name, bytes) in crate::mnt::dump(pid, &keys)?.images(id) {
            write_bytes(dir, &name, bytes, written)?;
        }
    }
    if let Some((pid, id)) = acc.ipc {
        let ipc = crate::ipc::dump(pid, id)?;
        for (name, bytes) in ipc.images() {
            write_bytes(dir, &name, bytes, written)?;
        }
        for s in &ipc.segments {
            pages_id += 1;
            let name = format!("pagemap-shmem-{}.img", s.entry.desc.id);
            write_object_pages(dir, &name, pages_id, &s.pages, written)?;
        }
    }
    // Each shmem object once, in pagemap-shmem-SHMID.img and its own
    // pages file.
    let mut shmids: Vec<u64> = acc.shmem.iter().map(|u| u.shmid).collect();
    shmids.sort_unstable();
    shmids.dedup();
    for &shmid in &shmids {
        pages_id += 1;
        let (mut pages, pages_path) = create_pages(dir, pages_id, written)?;
        let uses: Vec<&mem::ShmemUse> = acc.shmem.iter().filter(|u| u.shmid == shmid).collect();
        let entries = mem::dump_shmem(shmid, &uses, &mut pages, &pages_path)?;
        write_pagemap(
            dir,
            &format!("pagemap-shmem-{shmid}.img"),
            pages_id,
            &entries,
            written,
        )?;
    }
    // memfd objects: memfd.img, and each one's pages from crest's own
    // descriptor of it, addressed by offset.
    for (inode, fd) in &acc.files.memfds.inodes {
        let runs = crate::files::memfd::contents(std::os::fd::AsRawFd::as_raw_fd(fd), inode.size)
            .map_err(|e| DumpError::file(format!("memfd {}", inode.name), e))?;
        if runs.is_empty() {
            continue; // nothing in it: it comes back empty
        }
        pages_id += 1;
        let name = format!("pagemap-shmem-{}.img", inode.shmid);
        write_object_pages(dir, &name, pages_id, &runs, written)?;
    }
    if !acc.files.memfds.inodes.is_empty() {
        let inodes: Vec<MemfdInodeEntry> = acc
            .files
            .memfds
            .inodes
            .iter()
            .map(|(e, _)| e.clone())
            .collect();
        write_image(dir, &file::MEMFD_INODE, "", &inodes, written)?;
    }
    let pipes = pipes_data(&acc.files)?;
    if !pipes.is_empty() {
        write_raw(
            dir,
            "pipes-data.img",
            magic::PIPES_DATA_MAGIC,
            pairs(&pipes),
            written,
        )?;
    }
    for (ino, entry, queues) in &acc.files.sockets.tcp_streams {
        let name = format!("tcp-stream-{ino:x}.img");
        let record = [(entry, queues.as_slice())];
        write_raw(dir, &name, magic::TCP_STREAM_MAGIC, record, written)?;
    }
    // CRIU writes sk-queues.img even when no socket has a queue.
    let queues = &acc.files.sockets.queues;
    write_raw(
        dir,
        "sk-queues.img",
        magic::SK_QUEUES_MAGIC,
        pairs(queues),
        written,
    )?;
    let fifos = fifos_data(&acc.files)?;
    if !fifos.is_empty() {
        write_raw(
            dir,
            "fifo-data.img",
            magic::FIFO_DATA_MAGIC,
            pairs(&fifos),
            written,
        )?;
    }
    for (name, bytes) in acc.files.ghosts.images()? {
        write_bytes(dir, &name, bytes, written)?;
    }
    if !acc.files.locks.entries.is_empty() {
        write_image(
            dir,
            &file::FILE_LOCKS,
            "",
            &acc.files.locks.entries,
            written,
        )?;
    }
    if !acc.files.ghosts.remaps.is_empty() {
        write_image(
            dir,
            &file::REMAP_FPATH,
            "",
            &acc.files.ghosts.remaps,
            written,
        )?;
    }
    if !acc.files.tty.infos.is_empty() {
        write_image(dir, &file::TTY_INFO, "", &acc.files.tty.infos, written)?;
    }
    if !acc.files.tty.data.is_empty() {
        write_image(dir, &file::TTY_DATA, "", &acc.files.tty.data, written)?;
    }
    write_image(dir, &file::PSTREE, "", &acc.pstree, written)?;
    write_image(dir, &file::TIMENS, 0, &[timens(root)?], written)?;
    write_image(
        dir,
        &file::SECCOMP,
        "",
        std::slice::from_ref(&acc.seccomp),
        written,
    )?;
    let cgroups = acc.cgroups.as_ref();
    if let Some(entry) = cgroups.map(|c| c.entry()).transpose()?.flatten() {
        write_image(dir, &file::CGROUP, "", &[entry], written)?;
    }
    let inventory = InventoryEntry {
        img_version: 2,
        root_cg_set: cgroups.map(|c| c.own_id()),
        fdinfo_per_id: Some(true),
        root_ids: acc.root_ids.clone(),
        ns_per_id: Some(true),
        lsmtype: Some(Lsmtype::NoLsm as i32),
        tcp_close: acc.files.sockets.tcp_close.then_some(true),
        // As CRIU: the restore takes the lock away by this run id.
        network_lock_method: acc
            .files
            .sockets
            .repaired
            .lock
            .as_ref()
            .map(|_| crate::sockets::netfilter::LOCK_NFTABLES),
        dump_criu_run_id: acc.files.sockets.repaired.lock.clone(),
        ..Default::default()
    };
    write_image(dir, &file::INVENTORY, "", &[inventory], written)
}

/// An object's pages (System V segment, memfd): the (offset, bytes) runs
/// into `pages-<pages_id>.img`, and their pagemap, addressed by offset in
/// the object as CRIU addresses them, as `name`.
fn write_object_pages(
    dir: &Path,
    name: &str,
    pages_id: u32,
    runs: &[(u64, Vec<u8>)],
    written: &mut Written,
) -> Result<(), DumpError> {
    let (pages, pages_path) = create_pages(dir, pages_id, written)?;
    let (mut entries, mut at) = (Vec::new(), 0u64);
    for (off, data) in runs {
        pages
            .write_all_at(data, at)
            .map_err(|e| DumpError::file(&pages_path, e))?;
        at += data.len() as u64;
        entries.push(PagemapEntry {
            vaddr: *off,
            compat_nr_pages: 0,
            in_parent: None,
            flags: Some(crate::images::flags::PE_PRESENT),
            nr_pages: Some(data.len() as u64 / crate::images::flags::PAGE),
        });
    }
    write_pagemap(dir, name, pages_id, &entries, written)
}

/// Writes `name`: each record followed by its raw bytes (pipe and FIFO
/// data, socket queues, TCP streams).
fn write_raw<'a, M: prost::Message + 'a>(
    dir: &Path,
    name: &str,
    magic: u32,
    records: impl IntoIterator<Item = (&'a M, &'a [u8])>,
    written: &mut Written,
) -> Result<(), DumpError> {
    let mut w = ImageWriter::new(magic);
    for (e, data) in records {
        w.push_raw(e, &[], data);
    }
    write_bytes(dir, name, w.into_bytes(), written)
}

fn pairs<M>(records: &[(M, Vec<u8>)]) -> impl Iterator<Item = (&M, &[u8])> {
    records.iter().map(|(e, d)| (e, d.as_slice()))
}
