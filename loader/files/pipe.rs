//! Pipes: at dump each end is matched to its pipe by inode and the
//! buffered bytes are read without draining them (`pidfd_getfd` + `tee`);
//! at restore each pipe is created once, refilled from `pipes-data.img`
//! and shared by every task holding an end.

use std::path::Path;

use prost::Message;

use crate::dump::DumpError;
use crate::images::magic::PIPES_DATA_MAGIC;
use crate::images::schema::PipeDataEntry;
use crate::images::Image;
use crate::restore::RestoreError;
use crate::sys;

use super::{FdPlan, Files, Source};

pub(crate) struct PipeEnd {
    pub(crate) pid: i32,
    pub(crate) fd: i32,
    pub(crate) ino: u32,
    pub(crate) flags: u32,
}

/// The bytes buffered in every FIFO the tree holds open (fifo-data.img),
/// read through a reader of crest's own, opened non-blocking on the
/// task's descriptor: a write-only end cannot be `tee`d from.
pub(crate) fn fifos_data(files: &Files) -> Result<Vec<(PipeDataEntry, Vec<u8>)>, DumpError> {
    use std::os::fd::AsRawFd;
    let mut records = Vec::new();
    let mut done: Vec<u32> = Vec::new();
    for p in &files.fifos {
        if done.contains(&p.ino) {
            continue;
        }
        done.push(p.ino);
        let fail = |what: &str, e: std::io::Error| {
            DumpError::sys(p.pid, format!("fd {}: FIFO {}: {what}", p.fd, p.ino), e)
        };
        let path =
            std::ffi::CString::new(format!("/proc/{}/fd/{}", p.pid, p.fd)).unwrap_or_default();
        let reader = sys::open_owned(&path, libc::O_RDONLY | libc::O_NONBLOCK)
            .map_err(|e| fail("opening a reader", e))?;
        let (size, data) = peek_pipe(reader.as_raw_fd()).map_err(|(what, e)| fail(what, e))?;
        records.push((
            PipeDataEntry {
                pipe_id: p.ino,
                bytes: data.len() as u32,
                size: Some(size),
            },
            data,
        ));
    }
    Ok(records)
}

/// The size and the buffered bytes of the pipe `fd` reads, left in it.
fn peek_pipe(fd: i32) -> Result<(u32, Vec<u8>), (&'static str, std::io::Error)> {
    let size = sys::get_pipe_size(fd).map_err(|e| ("F_GETPIPE_SZ", e))?;
    let (r, w) = sys::pipe().map_err(|e| ("pipe", e))?;
    let mut data = Vec::new();
    let copied = sys::set_pipe_size(w, size).and_then(|_| sys::tee(fd, w, size as usize));
    if let Ok(n) = copied {
        data.resize(n, 0);
        let mut got = 0;
        while got < n {
            match sys::read(r, &mut data[got..]) {
                Ok(0) | Err(_) => break,
                Ok(k) => got += k,
            }
        }
        data.truncate(got);
    }
    sys::close(r);
    sys::close(w);
    copied.map_err(|e| ("tee", e))?;
    Ok((size, data))
}

/// The bytes buffered in every pipe of the tree, read without consuming
/// them: a read end is taken from a task that holds one (pidfd_getfd) and
/// `tee`d into a pipe of ours.
pub(crate) fn pipes_data(files: &Files) -> Result<Vec<(PipeDataEntry, Vec<u8>)>, DumpError> {
    use std::os::fd::AsRawFd;
    let mut records = Vec::new();
    let mut done: Vec<u32> = Vec::new();
    for p in &files.pipes {
        if done.contains(&p.ino) || p.flags & libc::O_ACCMODE as u32 != libc::O_RDONLY as u32 {
            continue;
        }
        done.push(p.ino);
        let fail = |what: &str, e: std::io::Error| {
            DumpError::sys(p.pid, format!("fd {}: pipe {}: {what}", p.fd, p.ino), e)
        };
        let theirs = sys::steal_fd(p.pid, p.fd).map_err(|e| fail("pidfd_getfd", e))?;
        let (size, data) = peek_pipe(theirs.as_raw_fd()).map_err(|(what, e)| fail(what, e))?;
        let entry = PipeDataEntry {
            pipe_id: p.ino,
            bytes: data.len() as u32,
            size: Some(size),
        };
        records.push((entry, data));
    }
    Ok(records)
}

/// A pipe to create: its size and the bytes it held.
#[derive(Debug)]
pub struct PipePlan {
    pub pipe_id: u32,
    pub size: Option<u32>,
    pub data: Vec<u8>,
}

/// Every pipe some task holds an end of, with its buffered data from
/// pipes-data.img (each record is followed by `bytes` raw bytes).
/// `extra`: pipes no task holds an end of, whose ends are in flight in a
/// socket's queue.
pub fn read_pipes<'a>(
    dir: &Path,
    plans: impl Iterator<Item = &'a FdPlan>,
    extra: impl Iterator<Item = u32>,
) -> Result<Vec<PipePlan>, RestoreError> {
    let mut pipes: Vec<PipePlan> = Vec::new();
    let held = plans
        .flat_map(|plan| plan.targets.iter())
        .filter_map(|t| match t.source {
            Source::Pipe { pipe_id, .. } => Some(pipe_id),
            _ => None,
        });
    for pipe_id in held.chain(extra) {
        if pipes.iter().all(|p| p.pipe_id != pipe_id) {
            pipes.push(PipePlan {
                pipe_id,
                size: None,
                data: Vec::new(),
            });
        }
    }
    fill_data(dir, "pipes-data.img", PIPES_DATA_MAGIC, &mut pipes)?;
    Ok(pipes)
}

/// Puts the data of `name` (pipes-data.img, fifo-data.img) into the
/// pipes it is for; a record for a pipe not in `pipes` is an error.
fn fill_data(
    dir: &Path,
    name: &str,
    magic: u32,
    pipes: &mut [PipePlan],
) -> Result<(), RestoreError> {
    if pipes.is_empty() {
        return Ok(());
    }
    let path = dir.join(name);
    let bytes = match crate::images::read_regular(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(RestoreError::Inconsistent(format!(
                "{}: {e}",
                path.display()
            )))
        }
    };
    let img = Image::parse(&path, bytes, magic, |_, body, _| {
        PipeDataEntry::decode(body)
            .map(|e| u64::from(e.bytes))
            .map_err(|e| e.to_string())
    })?;
    let mut seen = Vec::new();
    for i in 0..img.records.len() {
        let e: PipeDataEntry = img.decode(i)?;
        let bad = |what: String| {
            RestoreError::Inconsistent(format!("{}: record {i}: {what}", path.display()))
        };
        if seen.contains(&e.pipe_id) {
            return Err(bad(format!("pipe {} has data twice", e.pipe_id)));
        }
        seen.push(e.pipe_id);
        let p = pipes
            .iter_mut()
            .find(|p| p.pipe_id == e.pipe_id)
            .ok_or_else(|| bad(format!("data for pipe {}, which no task holds", e.pipe_id)))?;
        p.size = e.size;
        p.data = img.data[img.records[i].extra.clone()].to_vec();
    }
    Ok(())
}

/// Every FIFO some task opened (by its path), with its data from
/// fifo-data.img.
pub fn read_fifos<'a>(
    dir: &Path,
    plans: impl Iterator<Item = &'a FdPlan>,
) -> Result<Vec<(PipePlan, std::ffi::CString)>, RestoreError> {
    let mut fifos: Vec<PipePlan> = Vec::new();
    let mut paths = Vec::new();
    for t in plans.flat_map(|p| p.targets.iter()) {
        if let Source::Fifo { path, pipe_id, .. } = &t.source {
            if fifos.iter().all(|p| p.pipe_id != *pipe_id) {
                fifos.push(PipePlan {
                    pipe_id: *pipe_id,
                    size: None,
                    data: Vec::new(),
                });
                paths.push(path.clone());
            }
        }
    }
    fill_data(
        dir,
        "fifo-data.img",
        crate::images::magic::FIFO_DATA_MAGIC,
        &mut fifos,
    )?;
    Ok(fifos.into_iter().zip(paths).collect())
}
