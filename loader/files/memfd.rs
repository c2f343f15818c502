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

/// The memfd objects a dump met, one per inode, each with crest's own
/// descriptor of it to read its contents from.
#[derive(Default)]
pub(crate) struct Dumped {
    pub(crate) inodes: Vec<(MemfdInodeEntry, std::os::fd::OwnedFd)>,
    /// The files.img entry that mappings of each inode name.
    map_ids: HashMap<u64, u32>,
}

/// hugetlbfs' f_type: a hugetlb memfd.
const HUGETLBFS_MAGIC: i64 = 0x9584_58f6;

impl Dumped {
    /// The `inode_id` of the memfd behind /proc/PID/`link` (`fd/N`,
    /// `map_files/A-B`), shown there as `shown` ("/memfd:NAME (deleted)"),
    /// recorded the first time it is met.
    pub(crate) fn inode(
        &mut self,
        pid: i32,
        link: &str,
        shown: &str,
    ) -> Result<u64, crate::dump::DumpError> {
        use crate::dump::DumpError;
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::MetadataExt;
        let at = format!("/proc/{pid}/{link}");
        let path = std::ffi::CString::new(at.clone()).unwrap_or_default();
        let fd = crate::sys::open_owned(&path, libc::O_RDONLY | libc::O_CLOEXEC)
            .map_err(|e| DumpError::file(&at, e))?;
        let meta = std::fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .map_err(|e| DumpError::file(&at, e))?;
        if let Some((e, _)) = self
            .inodes
            .iter()
            .find(|(e, _)| e.shmid == meta.ino() as u32)
        {
            return Ok(e.inode_id);
        }
        if crate::sys::fs_type(fd.as_raw_fd()).ok() == Some(HUGETLBFS_MAGIC) {
            return Err(DumpError::refused(
                pid,
                format!("{link}: {shown} is a hugetlb memfd, which crest does not dump"),
            ));
        }
        let seals = crate::sys::seals(fd.as_raw_fd())
            .map_err(|e| DumpError::sys(pid, format!("{link}: F_GET_SEALS"), e))?;
        let name = shown.strip_prefix("/memfd:").unwrap_or(shown);
        let name = name.strip_suffix(" (deleted)").unwrap_or(name);
        let inode_id = self.inodes.len() as u64 + 1;
        self.inodes.push((
            MemfdInodeEntry {
                name: name.to_string(),
                uid: meta.uid(),
                gid: meta.gid(),
                size: meta.size(),
                shmid: meta.ino() as u32,
                seals,
                inode_id,
                hugetlb_flag: None,
                mode: Some(meta.mode()),
            },
            fd,
        ));
        Ok(inode_id)
    }

    /// The files.img entry mappings of inode `inode_id` name, if made.
    pub(crate) fn map_id(&self, inode_id: u64) -> Option<u32> {
        self.map_ids.get(&inode_id).copied()
    }

    pub(crate) fn set_map_id(&mut self, inode_id: u64, id: u32) {
        self.map_ids.insert(inode_id, id);
    }
}

/// The contents of memfd `fd` (`size` bytes): the pages its data ranges
/// cover, as (offset, bytes) runs.
pub(crate) fn contents(fd: i32, size: u64) -> std::io::Result<Vec<(u64, Vec<u8>)>> {
    const PAGE: u64 = crate::images::flags::PAGE;
    let end = size.div_ceil(PAGE) * PAGE;
    let mut out = Vec::new();
    let mut at = 0;
    while at < end {
        let Some((data, stop)) = crate::sys::next_data(fd, at, end)? else {
            break;
        };
        let (from, to) = (data / PAGE * PAGE, stop.div_ceil(PAGE) * PAGE);
        let mut bytes = vec![0u8; (to - from) as usize];
        // Past the size the page reads short: what is read is kept.
        let valid = (size.min(to) - from.min(size)) as usize;
        crate::sys::pread_exact(fd, &mut bytes[..valid], from)?;
        out.push((from, bytes));
        at = to;
    }
    Ok(out)
}
