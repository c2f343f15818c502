//! What follows each record of a few image kinds, as crit's "extra"
//! handlers (lib/pycriu/images/images.py) read it: its length, for the
//! framing, and its JSON. A count the remaining bytes cannot hold is
//! returned as it is, so that the framing reports the truncation.

use super::super::desc::MsgDesc;
use super::super::magic::{Extra, ImageKind};
use super::super::schema::IPC_MSG;
use super::text::base64_mime;
use super::wire::{decode_message, read_u32, scan, Path, Raw, Value};
use super::{JsonError, Style};

/// The last value of the varint field `name` in `body` (0 when absent or
/// malformed: the record's own decoding reports malformed ones).
fn varint(desc: &MsgDesc, body: &[u8], name: &str) -> u64 {
    let Some(field) = desc.fields.iter().find(|f| f.name == name) else {
        return 0;
    };
    let root = Path::root(desc.name);
    let Ok(occurrences) = scan(desc, body, 0, &root) else {
        return 0;
    };
    occurrences
        .iter()
        .rev()
        .find_map(|o| match o.raw {
            Raw::Varint(v) if o.tag == field.tag => Some(v),
            _ => None,
        })
        .unwrap_or(0)
}

fn round_up(n: u64, to: u64) -> u64 {
    n.div_ceil(to).saturating_mul(to)
}

/// One queued message of an `ipc_msg_entry`: where its `ipc_msg` record
/// and its data lie in the bytes after the queue's record.
struct QueuedMsg {
    record: std::ops::Range<usize>,
    data: std::ops::Range<usize>,
}

/// Walks the `qnum` messages after a queue's record: the messages and the
/// bytes they take. `Err(end)`: the message running to `end` does not fit
/// in `rest`.
fn queued_msgs(qnum: u64, rest: &[u8]) -> Result<(Vec<QueuedMsg>, u64), u64> {
    let mut out = Vec::new();
    let mut pos = 0u64;
    // Each message takes at least 4 bytes, so this ends within rest.len() / 4 + 1 steps.
    for _ in 0..qnum {
        let at = usize::try_from(pos).map_err(|_| pos)?;
        let len = read_u32(rest, at).ok_or(pos + 4)?;
        let start = pos + 4;
        let end = start + u64::from(len);
        let record = rest.get(start as usize..end.min(rest.len() as u64) as usize);
        let record = record
            .filter(|r| r.len() as u64 == u64::from(len))
            .ok_or(end)?;
        let msize = varint(&IPC_MSG, record, "msize");
        let data_end = end.saturating_add(msize);
        pos = end.saturating_add(round_up(msize, 8));
        if pos > rest.len() as u64 {
            return Err(pos);
        }
        out.push(QueuedMsg {
            record: start as usize..end as usize,
            data: end as usize..data_end as usize,
        });
    }
    Ok((out, pos))
}

/// How many bytes after the record `body` (number `index`) belong to it.
pub(super) fn length(kind: &ImageKind, index: usize, body: &[u8], rest: &[u8]) -> u64 {
    let Some(desc) = kind.entry_desc(index) else {
        return 0;
    };
    let get = |name| varint(desc, body, name);
    match kind.extra {
        Extra::None => 0,
        Extra::Bytes(field) => u64::from(get(field) as u32),
        Extra::SemValues => round_up(2 * u64::from(get("nsems") as u32), 8),
        Extra::ShmData if get("in_pagemaps") != 0 => 0,
        Extra::ShmData => round_up(get("size"), 4),
        Extra::MsgQueue => match queued_msgs(get("qnum"), rest) {
            Ok((_, len)) => len,
            Err(end) => end,
        },
        Extra::TcpQueues => u64::from(get("inq_len") as u32) + u64::from(get("outq_len") as u32),
        Extra::Ghost if index > 0 => get("len"),
        Extra::Ghost if get("chunks") != 0 => 0,
        Extra::Ghost => rest.len() as u64,
    }
}

/// The JSON of the bytes after the record `body` (`extra`, starting at
/// file offset `base`); `None` where crit would print nothing.
pub(super) fn value(
    kind: &ImageKind,
    index: usize,
    body: &[u8],
    extra: &[u8],
    base: usize,
    style: Style,
) -> Result<Option<Value>, JsonError> {
    let Some(desc) = kind.entry_desc(index) else {
        return Ok(None);
    };
    let get = |name| varint(desc, body, name);
    Ok(match kind.extra {
        Extra::None => None,
        // A chunked ghost's first record has nothing after it; crit
        // prints no "extra" for it.
        Extra::Ghost if index == 0 && get("chunks") != 0 => None,
        Extra::Bytes(_) | Extra::Ghost => Some(Value::Str(base64_mime(extra))),
        Extra::SemValues => {
            let n = (get("nsems") as u32 as usize).min(extra.len() / 2);
            let values = extra[..2 * n]
                .chunks_exact(2)
                .map(|b| Value::Num(u16::from_le_bytes([b[0], b[1]]).to_string()))
                .collect();
            Some(Value::Arr(values))
        }
        Extra::ShmData if get("in_pagemaps") != 0 => None,
        Extra::ShmData => {
            let size = usize::try_from(get("size"))
                .unwrap_or(usize::MAX)
                .min(extra.len());
            Some(Value::Str(base64_mime(&extra[..size])))
        }
        Extra::TcpQueues => {
            let inq = (get("inq_len") as u32 as usize).min(extra.len());
            Some(Value::Obj(vec![
                ("inq".into(), Value::Str(base64_mime(&extra[..inq]))),
                ("outq".into(), Value::Str(base64_mime(&extra[inq..]))),
            ]))
        }
        Extra::MsgQueue => {
            // The framing gave us exactly the bytes queued_msgs accepts.
            let (msgs, _) = queued_msgs(get("qnum"), extra).unwrap_or_default();
            let mut out = Vec::with_capacity(2 * msgs.len());
            for m in msgs {
                let root = Path::root(IPC_MSG.name);
                let record = &extra[m.record.clone()];
                out.push(decode_message(
                    &IPC_MSG,
                    record,
                    base + m.record.start,
                    0,
                    false,
                    &root,
                    style,
                )?);
                out.push(Value::Str(base64_mime(&extra[m.data])));
            }
            Some(Value::Arr(out))
        }
    })
}
