//! The blob pipeline, end to end: the embedded blob is mapped at a random
//! address in a forked child, relocated, entered with an argument block,
//! and must write a word into shared memory and exit with the given code.

use crest::blob;
use crest::sys::{self, Forked};
use restorer_blob::SelftestArgs;

fn run_selftest(addr_seed: u64, code: u32) -> (i32, u64) {
    let page = blob::PAGE;
    let shared = sys::mmap(
        0,
        page,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_SHARED | libc::MAP_ANONYMOUS,
        -1,
        0,
    )
    .expect("shared page");
    // SAFETY: the page was just mapped shared and writable, 8 bytes fit.
    unsafe { sys::write_mem(shared, &0u64.to_ne_bytes()) };
    let value = 0x5eed_0000_0000_0000 | addr_seed;
    // SAFETY: the child makes only system calls (mmap, the blob, exit):
    // no allocation or lock that another test thread may hold.
    match unsafe { sys::clone3(0, &[]) }.expect("fork") {
        Forked::Child => {
            // A page-aligned address in the lower half of the user range.
            let want = 0x1000_0000_0000 + (addr_seed % 0x1000_0000) * page;
            let size = blob::code_size() + 16 * page;
            let base = match sys::mmap(
                want,
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            ) {
                Ok(b) => b,
                Err(_) => sys::exit_now(100),
            };
            // SAFETY: [base, base + size) was just mapped writable and
            // holds code_size() bytes and more.
            if unsafe {
                blob::install(base);
                blob::seal(base)
            }
            .is_err()
            {
                sys::exit_now(101);
            }
            let args_at = base + blob::code_size();
            let args = SelftestArgs {
                out: shared,
                value,
                code,
                _pad: 0,
            };
            // SAFETY: args_at is past the sealed code, inside the writable
            // part of our mapping (16 pages follow the code).
            unsafe { sys::write_mem(args_at, blob::abi_bytes(&[args])) };
            // SAFETY: the blob is installed and sealed at base, args_at holds
            // a SelftestArgs, and the stack is the top of our mapping.
            unsafe { blob::enter(base, blob::SELFTEST_OFFSET, args_at, base + size) }
        }
        Forked::Parent(pid) => {
            let (_, status) = sys::waitpid(pid, 0).expect("wait").expect("status");
            // SAFETY: the shared page is ours; the child that wrote it is gone.
            let out = u64::from_ne_bytes(unsafe { sys::read_mem(shared, 8) }.try_into().unwrap());
            // SAFETY: nothing refers to the page any more.
            unsafe { sys::munmap(shared, page) }.unwrap();
            assert!(libc::WIFEXITED(status), "child died: status {status:#x}");
            (libc::WEXITSTATUS(status), out ^ value)
        }
    }
}

#[test]
fn blob_runs_relocated_at_random_addresses() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    for (i, code) in [(0u64, 42u32), (1, 7), (2, 0)] {
        let (exit, diff) = run_selftest(seed.wrapping_mul(2654435761).wrapping_add(i * 7919), code);
        assert_eq!(exit, code as i32, "exit code from the blob");
        // Even codes store the value, odd ones its complement: proves that
        // the relocated function-pointer table was used.
        let want = if code & 1 == 0 { 0 } else { u64::MAX };
        assert_eq!(diff, want, "value written by the blob (code {code})");
    }
}

#[test]
fn blob_has_only_relative_relocations_applied() {
    assert!(
        !blob::RELOCS.is_empty(),
        "the self-test table needs relocations"
    );
    for &(off, addend) in blob::RELOCS.iter() {
        assert!(off + 8 <= blob::BLOB.len() as u64);
        assert!(addend < blob::BLOB_MEM_SIZE as u64);
    }
}
