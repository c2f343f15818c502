//! The network lock of dumped TCP connections, through nf_tables over
//! netlink (no `nft` or `iptables` is run). While a connection is away,
//! a packet from its peer would find no socket and draw a RST that ends
//! the connection for good; so before a connection goes into repair mode,
//! crest adds rules that drop its packets both ways, and the restore
//! deletes them once the connection is back.
//!
//! The rules live in table `inet CRIU-<run id>` with an input and an
//! output chain, the run id written to the inventory
//! (`dump_criu_run_id`, `network_lock_method` = nftables), as CRIU
//! names its own: either tool's restore unlocks the other's dump.

use std::io;

use crate::sys;

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NFPROTO_INET: u8 = 1;
const NLA_F_NESTED: u16 = 0x8000;

/// CRIU's `network_lock_method` value for nftables.
pub const LOCK_NFTABLES: u32 = 1;

/// One netlink attribute: type, then payload padded to 4.
fn attr(out: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    out.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

fn nested(out: &mut Vec<u8>, kind: u16, inner: impl FnOnce(&mut Vec<u8>)) {
    let mut v = Vec::new();
    inner(&mut v);
    attr(out, kind | NLA_F_NESTED, &v);
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

fn be32(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

/// A batch of nf_tables messages, each acknowledged.
struct Batch {
    buf: Vec<u8>,
    seq: u32,
}

impl Batch {
    fn new() -> Batch {
        let mut b = Batch {
            buf: Vec::new(),
            seq: 1,
        };
        // The batch markers are requests too: the kernel refuses any
        // message without NLM_F_REQUEST, and then aborts the batch.
        b.message(NFNL_MSG_BATCH_BEGIN, libc::NLM_F_REQUEST as u16, 0, |_| {});
        b
    }

    /// A message: nlmsghdr, nfgenmsg (family, version 0, res_id), attrs.
    fn message(&mut self, kind: u16, flags: u16, family: u8, attrs: impl FnOnce(&mut Vec<u8>)) {
        let mut body = vec![family, 0];
        let res_id = if kind == NFNL_MSG_BATCH_BEGIN || kind == NFNL_MSG_BATCH_END {
            NFNL_SUBSYS_NFTABLES
        } else {
            0
        };
        body.extend_from_slice(&res_id.to_be_bytes());
        attrs(&mut body);
        sys::nlmsg(&mut self.buf, kind, flags, self.seq, &body);
        self.seq += 1;
    }

    fn nft(&mut self, msg: u16, create: bool, attrs: impl FnOnce(&mut Vec<u8>)) {
        let mut flags = (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16;
        if create {
            flags |= libc::NLM_F_CREATE as u16;
        }
        self.message(NFNL_SUBSYS_NFTABLES << 8 | msg, flags, NFPROTO_INET, attrs);
    }

    fn send(mut self) -> io::Result<()> {
        self.message(NFNL_MSG_BATCH_END, libc::NLM_F_REQUEST as u16, 0, |_| {});
        sys::netfilter_batch(&self.buf)
    }
}

/// The expressions of one rule: `nfproto == family`, `l4proto == tcp`,
/// the addresses and ports, then `drop`.
fn rule_exprs(out: &mut Vec<u8>, family: u32, from: (&[u32], u32), to: (&[u32], u32)) {
    let elem = |out: &mut Vec<u8>, name: &str, data: &dyn Fn(&mut Vec<u8>)| {
        nested(out, 1, |e| {
            attr(e, 1, &cstr(name));
            nested(e, 2, |d| data(d));
        });
    };
    // meta KEY -> reg 1; cmp reg 1 == value
    let meta_eq = |out: &mut Vec<u8>, key: u32, value: &[u8]| {
        elem(out, "meta", &|d| {
            attr(d, 2, &be32(key));
            attr(d, 1, &be32(1));
        });
        cmp(out, value);
    };
    let cmp_value = value_bytes;
    let v6 = family == libc::AF_INET6 as u32;
    meta_eq(out, 15, &[if v6 { 10 } else { 2 }]); // NFT_META_NFPROTO
    meta_eq(out, 16, &[libc::IPPROTO_TCP as u8]); // NFT_META_L4PROTO
    let (alen, saddr_at, daddr_at) = if v6 { (16, 8, 24) } else { (4, 12, 16) };
    let load = |out: &mut Vec<u8>, base: u32, offset: u32, len: u32, value: &[u8]| {
        elem(out, "payload", &|d| {
            attr(d, 1, &be32(1)); // dreg
            attr(d, 2, &be32(base));
            attr(d, 3, &be32(offset));
            attr(d, 4, &be32(len));
        });
        cmp(out, value);
    };
    load(out, 1, saddr_at, alen, &cmp_value(from.0, alen));
    load(out, 1, daddr_at, alen, &cmp_value(to.0, alen));
    load(out, 2, 0, 2, &(from.1 as u16).to_be_bytes());
    load(out, 2, 2, 2, &(to.1 as u16).to_be_bytes());
    elem(out, "immediate", &|d| {
        attr(d, 1, &be32(0)); // NFT_REG_VERDICT
        nested(d, 2, |data| {
            nested(data, 2, |v| attr(v, 1, &be32(0))); // NF_DROP
        });
    });
}

fn cmp(out: &mut Vec<u8>, value: &[u8]) {
    nested(out, 1, |e| {
        attr(e, 1, &cstr("cmp"));
        nested(e, 2, |d| {
            attr(d, 1, &be32(1)); // sreg
            attr(d, 2, &be32(0)); // NFT_CMP_EQ
            nested(d, 3, |v| attr(v, 1, value));
        });
    });
}

/// The address words of an image as the bytes on the wire.
fn value_bytes(words: &[u32], len: u32) -> Vec<u8> {
    let mut b: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    b.resize(len as usize, 0);
    b
}

/// One TCP connection, as the image holds it.
pub struct Conn<'a> {
    pub family: u32,
    pub src: (&'a [u32], u32),
    pub dst: (&'a [u32], u32),
}

/// Creates table `inet CRIU-<run_id>` dropping the packets of `conns`
/// both ways, in and out.
pub fn lock(run_id: &str, conns: &[Conn<'_>]) -> io::Result<()> {
    let table = format!("CRIU-{run_id}");
    let mut b = Batch::new();
    b.nft(NFT_MSG_NEWTABLE, true, |a| attr(a, 1, &cstr(&table)));
    for (chain, hook) in [("input", 1u32), ("output", 3u32)] {
        b.nft(NFT_MSG_NEWCHAIN, true, |a| {
            attr(a, 1, &cstr(&table));
            attr(a, 3, &cstr(chain));
            nested(a, 4, |h| {
                attr(h, 1, &be32(hook));
                attr(h, 2, &be32(0));
            });
            attr(a, 7, &cstr("filter"));
        });
    }
    for c in conns {
        for (from, to) in [(c.src, c.dst), (c.dst, c.src)] {
            for chain in ["input", "output"] {
                b.nft(NFT_MSG_NEWRULE, true, |a| {
                    attr(a, 1, &cstr(&table));
                    attr(a, 2, &cstr(chain));
                    nested(a, 4, |list| rule_exprs(list, c.family, from, to));
                });
            }
        }
    }
    b.send()
}

/// After a restore: the dump's lock, if its inventory names one, is
/// taken away (a failure is reported, the tree runs on).
pub fn unlock_after_restore(inventory: &crate::images::schema::InventoryEntry) {
    if inventory.network_lock_method != Some(LOCK_NFTABLES) {
        return;
    }
    if let Some(id) = inventory.dump_criu_run_id.as_deref() {
        if let Err(e) = unlock(id) {
            crate::log!(
                crate::log::WARN,
                "unlocking the network (nftables table inet CRIU-{id}): {e}"
            );
        }
    }
}

/// Deletes the lock table of `run_id`; a missing table is no error.
pub fn unlock(run_id: &str) -> io::Result<()> {
    let table = format!("CRIU-{run_id}");
    let mut b = Batch::new();
    b.nft(NFT_MSG_DELTABLE, false, |a| attr(a, 1, &cstr(&table)));
    match b.send() {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        r => r,
    }
}
