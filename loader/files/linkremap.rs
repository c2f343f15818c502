//! CRIU's --link-remap at dump: a deleted file still linked elsewhere is
//! kept through a hard link next to its old path (`link_remap.<n>`), and
//! the watches on deleted files are checked against the ghosts.

use std::ffi::CString;
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::ghost::Ghosts;
use crate::dump::DumpError;
use crate::sys;

impl Ghosts {
    /// The hard link to deleted file `file` (once at `name`) that keeps it:
    /// `link_remap.<n>` in the directory it was in, made once per inode.
    pub(crate) fn link(
        &mut self,
        file: &OwnedFd,
        meta: &fs::Metadata,
        name: &str,
    ) -> std::io::Result<String> {
        if let Some((_, _, p)) = self
            .links
            .iter()
            .find(|l| l.0 == meta.dev() && l.1 == meta.ino())
        {
            return Ok(p.clone());
        }
        let dir = Path::new(name).parent().unwrap_or(Path::new("/"));
        let from = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd())).unwrap_or_default();
        for n in self.links.len() as u32 + 1.. {
            let path = dir.join(format!("link_remap.{n}"));
            let to =
                CString::new(path.as_os_str().as_encoded_bytes()).map_err(std::io::Error::other)?;
            match sys::link_followed(&from, &to) {
                Ok(()) => {
                    let p = path.to_string_lossy().into_owned();
                    self.links.push((meta.dev(), meta.ino(), p.clone()));
                    return Ok(p);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other("no free link_remap name"))
    }

    /// Every watched deleted file is a ghost (the tree holds it open), to
    /// be watched where the ghost is made at restore, its old path.
    pub(crate) fn check_watched(&self) -> Result<(), DumpError> {
        for ((dev, ino), pid, fd, name) in &self.watched {
            if !self.list.iter().any(|g| g.dev == *dev && g.ino == *ino) {
                return Err(DumpError::refused(
                    *pid,
                    format!(
                        "fd {fd}: a watch on the deleted file {name}, which nothing of the tree \
                         holds open (crest restores watches on deleted files it keeps as ghosts)"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The links made, now kept with the images: the caller removes them
    /// should the dump fail after all.
    pub(crate) fn keep_links(&mut self) -> Vec<PathBuf> {
        self.links.drain(..).map(|l| PathBuf::from(l.2)).collect()
    }
}
