//! Image files whose records are all of one message: the kind (magic and
//! file name, from `magic::IMAGES`) and the record type tied together, so
//! that a reader cannot open `core-*.img` as an `MmEntry`, and a writer
//! cannot put a record in the wrong file.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use super::desc::CriuMessage;
use super::magic::{self, ImageKind};
use super::schema::*;
use super::{Image, ImageError, ImageWriter, Kept};

/// One image file kind holding records of `M`.
pub struct ImageFile<M> {
    magic: u32,
    _record: PhantomData<fn() -> M>,
}

impl<M: CriuMessage> ImageFile<M> {
    const fn new(magic: u32) -> Self {
        ImageFile {
            magic,
            _record: PhantomData,
        }
    }

    pub fn magic(&self) -> u32 {
        self.magic
    }

    /// The kind in `magic::IMAGES` (every constant below has one: tested).
    pub fn kind(&self) -> Option<&'static ImageKind> {
        magic::by_magic(self.magic)
    }

    /// The file name for object `id` (a pid, a files id, ...): the kind's
    /// CRIU pattern with its one number filled in.
    pub fn name(&self, id: impl std::fmt::Display) -> String {
        let pattern = self.kind().map_or("", |k| k.file_pattern);
        match pattern.find('%') {
            None => pattern.to_string(),
            Some(at) => {
                let conv = pattern[at + 1..]
                    .find(|c: char| c.is_ascii_alphabetic() && c != 'l')
                    .map_or(pattern.len(), |i| at + 1 + i + 1);
                format!("{}{id}{}", &pattern[..at], &pattern[conv..])
            }
        }
    }

    pub fn path(&self, dir: &Path, id: impl std::fmt::Display) -> PathBuf {
        dir.join(self.name(id))
    }

    /// Every record of the file for `id` in `dir`.
    pub fn read_all(&self, dir: &Path, id: impl std::fmt::Display) -> Result<Vec<M>, ImageError> {
        Image::open(&self.path(dir, id), self.magic)?.decode_all()
    }

    /// The one record of the file for `id` in `dir`.
    pub fn read_one(&self, dir: &Path, id: impl std::fmt::Display) -> Result<M, ImageError> {
        Image::open(&self.path(dir, id), self.magic)?.decode_one()
    }

    /// Every record with the raw bytes that follow it (the values of a
    /// semaphore set, the messages of a queue); a file that ends inside
    /// them is truncated.
    pub fn read_with_extra(
        &self,
        dir: &Path,
        id: impl std::fmt::Display,
    ) -> Result<Vec<(M, Vec<u8>)>, ImageError> {
        let path = self.path(dir, id);
        let data = super::read_regular(&path).map_err(|e| ImageError {
            path: path.clone(),
            kind: super::ImageErrorKind::Io(e),
        })?;
        let kind = self.kind();
        let img = Image::parse(&path, data, self.magic, |index, body, rest| {
            Ok(kind.map_or(0, |k| super::json::extra_length(k, index, body, rest)))
        })?;
        (0..img.records.len())
            .map(|i| {
                let extra = img.data[img.records[i].extra.clone()].to_vec();
                Ok((img.decode(i)?, extra))
            })
            .collect()
    }

    /// Every record, with the fields this crest does not know kept.
    pub fn read_kept(
        &self,
        dir: &Path,
        id: impl std::fmt::Display,
    ) -> Result<Vec<Kept<M>>, ImageError> {
        let img = Image::open(&self.path(dir, id), self.magic)?;
        (0..img.records.len())
            .map(|i| img.decode_kept(i, M::DESC))
            .collect()
    }

    /// The bytes of a file holding `records`.
    pub fn encode<'a>(&self, records: impl IntoIterator<Item = &'a M>) -> Vec<u8>
    where
        M: 'a,
    {
        let mut w = ImageWriter::new(self.magic);
        for r in records {
            w.push(r);
        }
        w.into_bytes()
    }
}

pub const INVENTORY: ImageFile<InventoryEntry> = ImageFile::new(magic::INVENTORY_MAGIC);
pub const PSTREE: ImageFile<PstreeEntry> = ImageFile::new(magic::PSTREE_MAGIC);
pub const CORE: ImageFile<CoreEntry> = ImageFile::new(magic::CORE_MAGIC);
pub const IDS: ImageFile<TaskKobjIdsEntry> = ImageFile::new(magic::IDS_MAGIC);
pub const MM: ImageFile<MmEntry> = ImageFile::new(magic::MM_MAGIC);
pub const FS: ImageFile<FsEntry> = ImageFile::new(magic::FS_MAGIC);
pub const FDINFO: ImageFile<FdinfoEntry> = ImageFile::new(magic::FDINFO_MAGIC);
pub const FILES: ImageFile<FileEntry> = ImageFile::new(magic::FILES_MAGIC);
pub const FILE_LOCKS: ImageFile<FileLockEntry> = ImageFile::new(magic::FILE_LOCKS_MAGIC);
pub const REMAP_FPATH: ImageFile<RemapFilePathEntry> = ImageFile::new(magic::REMAP_FPATH_MAGIC);
pub const SECCOMP: ImageFile<SeccompEntry> = ImageFile::new(magic::SECCOMP_MAGIC);
pub const TIMENS: ImageFile<TimensEntry> = ImageFile::new(magic::TIMENS_MAGIC);
pub const TTY_INFO: ImageFile<TtyInfoEntry> = ImageFile::new(magic::TTY_INFO_MAGIC);
pub const TTY_DATA: ImageFile<TtyDataEntry> = ImageFile::new(magic::TTY_DATA_MAGIC);
pub const STATS: ImageFile<StatsEntry> = ImageFile::new(magic::STATS_MAGIC);
pub const MEMFD_INODE: ImageFile<MemfdInodeEntry> = ImageFile::new(magic::MEMFD_INODE_MAGIC);
pub const UTSNS: ImageFile<UtsnsEntry> = ImageFile::new(magic::UTSNS_MAGIC);
pub const MNTS: ImageFile<MntEntry> = ImageFile::new(magic::MNTS_MAGIC);
pub const CGROUP: ImageFile<CgroupEntry> = ImageFile::new(magic::CGROUP_MAGIC);
pub const IPC_VAR: ImageFile<IpcVarEntry> = ImageFile::new(magic::IPC_VAR_MAGIC);
pub const NETDEV: ImageFile<NetDeviceEntry> = ImageFile::new(magic::NETDEV_MAGIC);
pub const NETNS: ImageFile<NetnsEntry> = ImageFile::new(magic::NETNS_MAGIC);
pub const IPCNS_SHM: ImageFile<IpcShmEntry> = ImageFile::new(magic::IPCNS_SHM_MAGIC);
pub const IPCNS_SEM: ImageFile<IpcSemEntry> = ImageFile::new(magic::IPCNS_SEM_MAGIC);
pub const IPCNS_MSG: ImageFile<IpcMsgEntry> = ImageFile::new(magic::IPCNS_MSG_MAGIC);
pub const SK_QUEUES: ImageFile<SkPacketEntry> = ImageFile::new(magic::SK_QUEUES_MAGIC);
pub const TCP_STREAM: ImageFile<TcpStreamEntry> = ImageFile::new(magic::TCP_STREAM_MAGIC);

#[cfg(test)]
mod tests {
    use super::*;

    fn same<M: CriuMessage>(f: &ImageFile<M>) -> (&'static str, &'static str) {
        let kind = f.kind().expect("a kind for every typed image file");
        (kind.entry.map_or("", |e| e.name), M::DESC.name)
    }

    #[test]
    fn every_typed_file_holds_its_kinds_records() {
        for (kind, record) in [
            same(&INVENTORY),
            same(&PSTREE),
            same(&CORE),
            same(&IDS),
            same(&MM),
            same(&FS),
            same(&FDINFO),
            same(&FILES),
            same(&SECCOMP),
            same(&TIMENS),
            same(&TTY_INFO),
            same(&TTY_DATA),
            same(&STATS),
            same(&MEMFD_INODE),
            same(&UTSNS),
            same(&MNTS),
            same(&CGROUP),
            same(&IPC_VAR),
            same(&NETDEV),
            same(&NETNS),
            same(&IPCNS_SHM),
            same(&IPCNS_SEM),
            same(&IPCNS_MSG),
            same(&SK_QUEUES),
            same(&TCP_STREAM),
        ] {
            assert_eq!(kind, record);
        }
    }

    #[test]
    fn names() {
        assert_eq!(CORE.name(31000), "core-31000.img");
        assert_eq!(TIMENS.name(0), "timens-0.img");
        assert_eq!(FILES.name(""), "files.img");
        assert_eq!(STATS.name("dump"), "stats-dump");
    }
}
