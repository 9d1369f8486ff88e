//! SQL literals for MySQL / MariaDB, for building INSERT statements without a Python call
//! per value.
//!
//! Strings are escaped as `mysql_real_escape_string` does for a UTF-8 connection (UTF-8
//! continuation bytes never collide with the escaped ASCII characters); binary values are
//! written as hex literals, which the server parses faster than escaped strings.

/// Append `'text'` with MySQL's backslash escapes (the session must not use
/// NO_BACKSLASH_ESCAPES, which DataJoint's sql_mode does not).
pub fn push_string(text: &str, out: &mut Vec<u8>) {
    out.reserve(text.len() + 2);
    out.push(b'\'');
    for &b in text.as_bytes() {
        match b {
            0 => out.extend_from_slice(b"\\0"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\'' => out.extend_from_slice(b"\\'"),
            b'"' => out.extend_from_slice(b"\\\""),
            0x1A => out.extend_from_slice(b"\\Z"),
            _ => out.push(b),
        }
    }
    out.push(b'\'');
}

/// Append `X'..'` (hex of `data`).
pub fn push_hex(data: &[u8], out: &mut Vec<u8>) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(data.len() * 2 + 3);
    out.extend_from_slice(b"X'");
    for &b in data {
        out.push(DIGITS[(b >> 4) as usize]);
        out.push(DIGITS[(b & 15) as usize]);
    }
    out.push(b'\'');
}

/// Append an integer.
pub fn push_int(v: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(v.to_string().as_bytes());
}

/// Append a finite float in a form MySQL reads back to the same double (shortest
/// round-trip digits); `None` for NaN and infinities, which SQL cannot express.
pub fn push_float(v: f64, out: &mut Vec<u8>) -> Option<()> {
    if !v.is_finite() {
        return None;
    }
    // `{:?}` is Rust's shortest round-trip form, always with a '.' or an exponent
    out.extend_from_slice(format!("{v:?}").as_bytes());
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        let mut out = vec![];
        push_string("a'b\"c\\d\0e\nf\rg\x1ah é", &mut out);
        assert_eq!(out, "'a\\'b\\\"c\\\\d\\0e\\nf\\rg\\Zh é'".as_bytes());
    }

    #[test]
    fn numbers_and_hex() {
        let mut out = vec![];
        push_hex(&[0, 0xAB, 0xFF], &mut out);
        out.push(b',');
        push_int(-42, &mut out);
        out.push(b',');
        push_float(0.1, &mut out).unwrap();
        out.push(b',');
        push_float(1e300, &mut out).unwrap();
        assert_eq!(out, b"X'00abff',-42,0.1,1e300");
        assert!(push_float(f64::NAN, &mut out).is_none());
    }
}
