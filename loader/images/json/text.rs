//! The text side of the JSON renderer: values printed as Python's
//! `json.dumps` prints them (crit's output), with MIME base64 for bytes.

use super::wire::Value;
use super::Style;

/// Python's `base64.encodebytes`: 76-character lines, each ending in `\n`.
pub(super) fn base64_mime(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() * 4 / 3 + data.len() / 57 + 4);
    for line in data.chunks(57) {
        for chunk in line.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out.push('\n');
    }
    out
}

/// Python's `quopri.encodestring` (binascii `b2a_qp`, text mode), which
/// crit applies to unix socket names (`(criu).conv = "unix_name"`):
/// `=XX` for `=`, bytes above 126 and controls, trailing blanks encoded,
/// soft line breaks (`=\n`) keeping lines under 76 characters.
pub(super) fn quoted_printable(data: &[u8]) -> String {
    const MAX: usize = 76;
    let mut out = String::new();
    let mut line = 0usize;
    let hex = |out: &mut String, c: u8| out.push_str(&format!("={c:02X}"));
    let mut i = 0;
    while i < data.len() {
        let c = data[i];
        let last = i + 1 == data.len();
        let next = data.get(i + 1).copied();
        let lone_dot = c == b'.' && line == 0 && matches!(next, None | Some(b'\n' | b'\r' | 0));
        let encode = c > 126
            || c == b'='
            || lone_dot
            || ((c == b'\t' || c == b' ') && last)
            || (c < 33 && c != b'\r' && c != b'\n' && c != b'\t' && c != b' ');
        if encode {
            if line + 3 >= MAX {
                out.push_str("=\n");
                line = 0;
            }
            hex(&mut out, c);
            line += 3;
        } else if c == b'\n' {
            // Protect a blank ending the line.
            if let Some(b) = out.pop() {
                if b == ' ' || b == '\t' {
                    hex(&mut out, b as u8);
                } else {
                    out.push(b);
                }
            }
            out.push('\n');
            line = 0;
        } else {
            if !last && next != Some(b'\n') && line + 1 >= MAX {
                out.push_str("=\n");
                line = 0;
            }
            out.push(char::from(c));
            line += 1;
        }
        i += 1;
    }
    out
}

/// Python's `repr(float)` as json.dump prints it (close enough for the
/// values CRIU could store; CRIU's schema has no float fields).
pub(super) fn python_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else {
        format!("{f:?}")
    }
}

pub(super) fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.push('"');
}

pub(super) fn newline(style: Style, level: usize, out: &mut String) {
    if let Some(n) = style.indent {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', n * level));
    }
}

pub(super) fn write_value(v: &Value, style: Style, level: usize, out: &mut String) {
    let sep = if style.indent.is_some() { "," } else { ", " };
    match v {
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Num(n) => out.push_str(n),
        Value::Str(s) => write_string(s, out),
        Value::Arr(items) if items.is_empty() => out.push_str("[]"),
        Value::Obj(items) if items.is_empty() => out.push_str("{}"),
        Value::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                newline(style, level + 1, out);
                write_value(item, style, level + 1, out);
            }
            newline(style, level, out);
            out.push(']');
        }
        Value::Obj(items) => {
            out.push('{');
            for (i, (key, item)) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                newline(style, level + 1, out);
                write_string(key, out);
                out.push_str(": ");
                write_value(item, style, level + 1, out);
            }
            newline(style, level, out);
            out.push('}');
        }
    }
}
