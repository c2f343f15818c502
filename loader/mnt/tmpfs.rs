//! A tmpfs's contents as CRIU keeps them: a gzip'd tar of the mount's
//! root (`tmpfs-dev-<dev>.tar.gz.img`), with numeric owners, modes and
//! times, symlinks as links, devices and fifos as nodes.

use std::io;
use std::path::Path;

/// The archive of the directory tree at `dir` (one file system: the
/// caller detached every mount below it).
pub fn pack(dir: &str) -> io::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Complete);
    tar.append_dir_all(".", dir)?;
    tar.into_inner()?.finish()
}

/// Unpacks archive `bytes` into `dir` (a new tmpfs's root), owners and
/// modes as recorded.
pub fn unpack(bytes: &[u8], dir: &Path) -> io::Result<()> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    tar.set_preserve_permissions(true);
    tar.set_preserve_ownerships(true);
    tar.set_preserve_mtime(true);
    tar.set_overwrite(true);
    tar.unpack(dir)?;
    // The root's own mode and owner: the tar's "." entry, which unpack
    // skips for the directory it was given.
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    if let Some(root) = tar.entries()?.next() {
        let root = root?;
        let h = root.header();
        let name = root.path()?.into_owned();
        if name == Path::new(".") || name == Path::new("./") {
            use std::os::unix::fs::PermissionsExt;
            std::os::unix::fs::chown(dir, Some(h.uid()? as u32), Some(h.gid()? as u32))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(h.mode()? & 0o7777))?;
        }
    }
    Ok(())
}
