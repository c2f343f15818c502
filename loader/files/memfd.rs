//! memfd files, as CRIU 4.2 writes them (images/memfd.proto): one
//! `memfd_inode_entry` per object in `memfd.img` (name, size, seals, owner,
//! mode and the `shmid` of its `pagemap-shmem-<shmid>.img`), `MEMFD`
//! entries in files.img pointing at an inode, and VMAs with
//! `VMA_AREA_MEMFD` whose `shmid` is such a file's id. CRIU also dumps
//! `MAP_SHARED|MAP_ANONYMOUS` memory this way on this kernel, as an inode
//! named "/dev/zero".
//!
//! At restore each object is created once by the loader, before the first
//! fork, like shared anonymous memory (`restore::premap::create_shmem`):
//! filled, owned, given its mode, then sealed. Descriptors reopen it
//! through /proc/self/fd (a file description of their own, with the
//! dumped flags and offset).

use std::collections::HashMap;
use std::path::Path;

use crate::images::file::MEMFD_INODE;
use crate::images::schema::{FileEntry, MemfdInodeEntry};
use crate::restore::RestoreError;

/// The inodes of `memfd.img` in `dir` by inode id (none without the file).
pub fn read_inodes(dir: &Path) -> Result<HashMap<u32, MemfdInodeEntry>, RestoreError> {
    if !MEMFD_INODE.path(dir, "").exists() {
        return Ok(HashMap::new());
    }
    let mut out = HashMap::new();
    for e in MEMFD_INODE.read_all(dir, "")? {
        let id = u32::try_from(e.inode_id).map_err(|_| {
            RestoreError::Inconsistent(format!(
                "{}: inode id {} out of range",
                MEMFD_INODE.path(dir, "").display(),
                e.inode_id
            ))
        })?;
        if out.insert(id, e).is_some() {
            return Err(RestoreError::Inconsistent(format!(
                "{}: inode id {id} appears twice",
                MEMFD_INODE.path(dir, "").display()
            )));
        }
    }
    Ok(out)
}

/// The inode that files.img entry `file_id` (a `MEMFD` file) refers to;
/// `what` names the referring object for the error.
pub fn inode_of<'a>(
    files: &HashMap<u32, FileEntry>,
    inodes: &'a HashMap<u32, MemfdInodeEntry>,
    file_id: u64,
    what: &str,
) -> Result<&'a MemfdInodeEntry, RestoreError> {
    let bad = |m: String| RestoreError::Inconsistent(format!("{what}: {m}"));
    let id = u32::try_from(file_id).map_err(|_| bad(format!("file id {file_id} out of range")))?;
    let memfd = files
        .get(&id)
        .and_then(|f| f.memfd.as_ref())
        .ok_or_else(|| bad(format!("file id {id} is not a memfd entry in files.img")))?;
    inodes.get(&memfd.inode_id).ok_or_else(|| {
        bad(format!(
            "memfd inode {} is not in memfd.img",
            memfd.inode_id
        ))
    })
}
