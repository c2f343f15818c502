//! Terminals, kept as CRIU keeps them: a tty.img entry per open file,
//! with a regular entry for its path (`regf_id`), naming a tty-info.img
//! record per device end: its termios and their lock, window size, pty
//! lock and packet mode, exclusive mode, owner, and the session and
//! foreground group it is the controlling terminal of. Data queued in a
//! pair goes to tty-data.img.
//!
//! A pseudoterminal pair of the tree comes back as a new pair with the
//! same index, opened by the loader before the first fork; the session
//! leader takes it as its controlling terminal right after setsid, so
//! that the tasks forked after it inherit it. /dev/tty, the console and
//! virtual consoles are reopened by path in the task. A slave whose
//! master is outside the tree is the caller's terminal: refused, or with
//! --shell-job handed crest's own.

pub(crate) mod dump;
pub mod restore;

pub(crate) use dump::{finish, Drained, Dumped, Member};
pub use restore::*;

use crate::images::schema::TtyType;

/// Which kind of terminal a character device is (CRIU's drivers, and
/// their fixed tty-info ids for the kinds with no index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Driver {
    Master,
    Slave,
    /// `/dev/tty`: whichever terminal controls the opener.
    Ctty,
    Console,
    Vt,
    Serial,
}

impl Driver {
    pub(crate) fn of(rdev: u64) -> Option<Driver> {
        let (major, minor) = (libc::major(rdev), libc::minor(rdev));
        Some(match (major, minor) {
            (5, 0) => Driver::Ctty,
            (5, 1) => Driver::Console,
            (5, 2) | (128..=135, _) => Driver::Master,
            (136..=143, _) => Driver::Slave,
            (4, 1..=63) => Driver::Vt,
            (188 | 204, _) => Driver::Serial,
            _ => return None,
        })
    }

    fn r#type(self) -> TtyType {
        match self {
            Driver::Master | Driver::Slave => TtyType::Pty,
            Driver::Ctty => TtyType::Ctty,
            Driver::Console => TtyType::Console,
            Driver::Vt => TtyType::Vt,
            Driver::Serial => TtyType::Serial,
        }
    }

    /// The tty-info id: a pty end's from its index, as CRIU numbers it
    /// (slave even, master odd); one fixed id per other kind.
    fn info_id(self, index: u32) -> u32 {
        match self {
            Driver::Master => (index << 1) | 1,
            Driver::Slave => index << 1,
            Driver::Console => 1002 << 1,
            Driver::Vt => 1004 << 1,
            Driver::Ctty => 1006 << 1,
            Driver::Serial => 1010 << 1,
        }
    }
}

/// The master's tty-info id of the pair whose slave has id `slave`.
pub(crate) fn master_of(slave: u32) -> u32 {
    slave | 1
}

/// The control characters as CRIU writes them: their bytes copied over
/// the repeated uint32 field, four to an element (little-endian), in 19
/// elements.
pub(crate) fn pack_cc(cc: &[u8; 19]) -> Vec<u32> {
    let mut bytes = [0u8; 19 * 4];
    bytes[..cc.len()].copy_from_slice(cc);
    bytes
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// The control characters from CRIU's packing (`pack_cc`).
pub(crate) fn unpack_cc(packed: &[u32]) -> [u8; 19] {
    let mut cc = [0u8; 19];
    let bytes = packed.iter().flat_map(|v| v.to_le_bytes());
    for (c, b) in cc.iter_mut().zip(bytes) {
        *c = b;
    }
    cc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_packed_as_criu_packs_them() {
        // crit's view of a CRIU 4.2 image: ^C ^\ DEL ^U in one element.
        let cc = unpack_cc(&[0x157F_1C03, 0x0001_0004]);
        assert_eq!(&cc[..6], &[3, 0x1c, 0x7f, 0x15, 4, 0]);
        let mut all = [0u8; 19];
        for (i, c) in all.iter_mut().enumerate() {
            *c = i as u8 + 1;
        }
        let packed = pack_cc(&all);
        assert_eq!(packed.len(), 19);
        assert_eq!(packed[0], 0x0403_0201);
        assert_eq!(unpack_cc(&packed), all);
    }
}
