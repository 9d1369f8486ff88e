//! Bytes -> [`Value`]. Every blob read from a database is untrusted: all reads are
//! bounds-checked, every count is checked against the bytes that remain before anything is
//! allocated for it, and nesting depth is limited, so bad input ends in a [`BlobError`].

use std::borrow::Cow;

use super::header::{self, Framing, Protocol};
use super::typecode::{Class, Code};
use super::value::{Array, ArrayData, Value};
use crate::compress;
use crate::error::{BlobError, Result};

/// Deepest nesting of values accepted when reading (and writing) a blob. DataJoint 0.14
/// recurses in Python (about three frames a level) and hits Python's recursion limit near
/// 330 levels, so no blob it wrote is deeper; the limit keeps our recursion far from the end
/// of even a small thread stack.
pub const MAX_DEPTH: usize = 400;

/// Decoder settings.
#[derive(Debug, Clone, Copy)]
pub struct DecodeOptions {
    /// Read every u64 length/dimension field as u32 (blobs of the old 32-bit mYm MEX build;
    /// `datajoint.blob.use_32bit_dims`). Cannot be auto-detected.
    pub dims32: bool,
    pub max_depth: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            dims32: false,
            max_depth: MAX_DEPTH,
        }
    }
}

/// Decode a plain (uncompressed) blob: protocol header, then exactly one value.
pub fn decode<'a>(plain: &'a [u8], opts: &DecodeOptions) -> Result<(Protocol, Value<'a>)> {
    let (protocol, start) = header::protocol(plain)?;
    let mut reader = Reader {
        buf: plain,
        pos: start,
        end: plain.len(),
        depth: 0,
        opts: *opts,
    };
    let value = reader.value()?;
    if reader.pos != plain.len() {
        return Err(BlobError::Length(format!(
            "{} bytes left over after the value",
            plain.len() - reader.pos
        )));
    }
    Ok((protocol, value))
}

/// Decode a complete blob, inflating an envelope first. The returned tree borrows from
/// `storage`, which holds the inflated bytes when there was an envelope.
pub fn unpack<'a>(
    blob: &'a [u8],
    storage: &'a mut Vec<u8>,
    opts: &DecodeOptions,
) -> Result<Value<'a>> {
    let plain: &'a [u8] = match header::frame(blob, opts.dims32)? {
        Framing::Plain(p) => p,
        Framing::Compressed {
            envelope,
            plain_len,
            stream,
        } => {
            *storage = compress::decompress(envelope, stream, plain_len)?;
            storage.as_slice()
        }
    };
    decode(plain, opts).map(|(_, v)| v)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// End of the innermost length-prefixed region being read; no read may cross it.
    end: usize,
    depth: usize,
    opts: DecodeOptions,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.end - self.pos
    }

    fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8]> {
        if n > self.remaining() as u64 {
            return Err(BlobError::Truncated {
                what,
                offset: self.pos,
                needed: n,
                available: self.remaining(),
            });
        }
        let n = n as usize;
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn fixed<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        Ok(self.take(N as u64, what)?.try_into().unwrap())
    }

    fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.fixed::<1>(what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.fixed(what)?))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.fixed(what)?))
    }
    fn i32(&mut self, what: &'static str) -> Result<i32> {
        Ok(i32::from_le_bytes(self.fixed(what)?))
    }
    fn i64(&mut self, what: &'static str) -> Result<i64> {
        Ok(i64::from_le_bytes(self.fixed(what)?))
    }
    fn f64(&mut self, what: &'static str) -> Result<f64> {
        Ok(f64::from_le_bytes(self.fixed(what)?))
    }

    /// Width of the length / dimension fields (8, or 4 in 32-bit mode).
    fn dim_width(&self) -> usize {
        if self.opts.dims32 {
            4
        } else {
            8
        }
    }

    /// A length / dimension / count field.
    fn dim(&mut self, what: &'static str) -> Result<u64> {
        if self.opts.dims32 {
            Ok(self.u32(what)? as u64)
        } else {
            Ok(u64::from_le_bytes(self.fixed(what)?))
        }
    }

    /// A count of length-prefixed items, checked against the bytes left (each item needs at
    /// least a length field and a type code), so a lying header cannot make us allocate.
    fn item_count(&mut self, what: &'static str, per_entry: u64) -> Result<usize> {
        let n = self.dim(what)?;
        self.check_items(n, per_entry, what)
    }

    fn check_items(&self, n: u64, per_entry: u64, what: &'static str) -> Result<usize> {
        let min = (self.dim_width() as u64 + 1) * per_entry;
        if n.checked_mul(min)
            .is_none_or(|b| b > self.remaining() as u64)
        {
            return Err(BlobError::Corrupt(format!(
                "{what} {n} at byte {} does not fit in the {} bytes left",
                self.pos,
                self.remaining()
            )));
        }
        Ok(n as usize)
    }

    fn shape(&mut self) -> Result<(Vec<u64>, u64)> {
        let ndim = self.dim("number of dimensions")?;
        if ndim.saturating_mul(self.dim_width() as u64) > self.remaining() as u64 {
            return Err(BlobError::Corrupt(format!(
                "{ndim} dimensions at byte {} do not fit in the {} bytes left",
                self.pos,
                self.remaining()
            )));
        }
        let mut shape = Vec::with_capacity(ndim as usize);
        let mut n: u64 = 1;
        for _ in 0..ndim {
            let d = self.dim("dimension")?;
            shape.push(d);
            n = n
                .checked_mul(d)
                .ok_or_else(|| BlobError::Corrupt(format!("array shape {shape:?} overflows")))?;
        }
        Ok((shape, n))
    }

    fn utf8(&self, bytes: &'a [u8], what: &'static str, offset: usize) -> Result<&'a str> {
        std::str::from_utf8(bytes).map_err(|_| BlobError::Utf8 { what, offset })
    }

    /// A NUL-terminated UTF-8 name (struct / record field names).
    fn cstr(&mut self) -> Result<&'a str> {
        let start = self.pos;
        let len = self.buf[start..self.end]
            .iter()
            .position(|&b| b == 0)
            .ok_or(BlobError::Truncated {
                what: "field name (no terminating NUL)",
                offset: start,
                needed: (self.remaining() + 1) as u64,
                available: self.remaining(),
            })?;
        let s = self.utf8(&self.buf[start..start + len], "field name", start)?;
        self.pos = start + len + 1;
        Ok(s)
    }

    fn names(&mut self, n: u32) -> Result<Vec<Cow<'a, str>>> {
        // Each name takes at least its NUL.
        if n as usize > self.remaining() {
            return Err(BlobError::Corrupt(format!(
                "{n} field names at byte {} do not fit in the {} bytes left",
                self.pos,
                self.remaining()
            )));
        }
        (0..n).map(|_| self.cstr().map(Cow::Borrowed)).collect()
    }

    /// A length-prefixed value: `u64 len` then exactly `len` bytes holding one value.
    fn item(&mut self) -> Result<Value<'a>> {
        let len = self.dim("item length")?;
        if len > self.remaining() as u64 {
            return Err(BlobError::Truncated {
                what: "item",
                offset: self.pos,
                needed: len,
                available: self.remaining(),
            });
        }
        let outer = self.end;
        self.end = self.pos + len as usize;
        let value = self.value()?;
        if self.pos != self.end {
            return Err(BlobError::Length(format!(
                "item ending at byte {} has {} unread bytes",
                self.end,
                self.end - self.pos
            )));
        }
        self.end = outer;
        Ok(value)
    }

    fn items(&mut self, n: usize) -> Result<Vec<Value<'a>>> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.item()?);
        }
        Ok(out)
    }

    fn value(&mut self) -> Result<Value<'a>> {
        if self.depth >= self.opts.max_depth {
            return Err(BlobError::TooDeep(self.opts.max_depth));
        }
        self.depth += 1;
        let code = Code::from_byte(self.u8("type code")?)?;
        let value = self.payload(code);
        self.depth -= 1;
        value
    }

    fn payload(&mut self, code: Code) -> Result<Value<'a>> {
        Ok(match code {
            Code::Array => Value::Array(self.array()?),
            Code::Struct => self.matlab_struct()?,
            Code::Cell => {
                let (shape, n) = self.shape()?;
                let n = self.check_items(n, 1, "cell element count")?;
                Value::Cell {
                    shape,
                    elements: self.items(n)?,
                }
            }
            Code::Record => self.record()?,
            Code::Sparse => {
                return Err(BlobError::Unsupported(
                    "datajoint-python does not yet support sparse arrays. Issue (#590)".into(),
                ))
            }
            Code::Tuple => {
                let n = self.item_count("tuple length", 1)?;
                Value::Tuple(self.items(n)?)
            }
            Code::List => {
                let n = self.item_count("list length", 1)?;
                Value::List(self.items(n)?)
            }
            Code::Set => {
                let n = self.item_count("set length", 1)?;
                Value::Set(self.items(n)?)
            }
            Code::Dict => {
                let n = self.item_count("dict length", 2)?;
                let mut pairs = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = self.item()?;
                    let v = self.item()?;
                    pairs.push((k, v));
                }
                Value::Dict(pairs)
            }
            Code::Str => {
                let n = self.dim("string length")?;
                let offset = self.pos;
                let bytes = self.take(n, "string")?;
                Value::Str(Cow::Borrowed(self.utf8(bytes, "string", offset)?))
            }
            Code::Bytes => {
                let n = self.dim("bytes length")?;
                Value::Bytes(Cow::Borrowed(self.take(n, "bytes")?))
            }
            Code::Int => {
                let n = self.u16("int length")?;
                Value::Int(Cow::Borrowed(self.take(n as u64, "int")?))
            }
            Code::Bool => Value::Bool(self.u8("bool")? != 0),
            Code::Complex => {
                let re = self.f64("complex")?;
                Value::Complex(re, self.f64("complex")?)
            }
            Code::Float => Value::Float(self.f64("float")?),
            Code::Decimal => {
                let n = self.dim("decimal length")?;
                let offset = self.pos;
                let bytes = self.take(n, "decimal")?;
                Value::Decimal(Cow::Borrowed(self.utf8(bytes, "decimal", offset)?))
            }
            Code::DateTime => {
                let date = self.i32("date")?;
                let time = self.i64("time")?;
                check_datetime(date, time)?;
                Value::DateTime { date, time }
            }
            Code::Uuid => Value::Uuid(self.fixed("uuid")?),
            Code::None => Value::None,
        })
    }

    fn array(&mut self) -> Result<Array<'a>> {
        let (shape, n) = self.shape()?;
        let class = Class::from_id(self.u32("array class")?)?;
        let complex = match self.u32("array complexity")? {
            0 => false,
            1 => true,
            other => {
                return Err(BlobError::Corrupt(format!(
                    "array complexity flag {other} (expected 0 or 1)"
                )))
            }
        };
        let data = match class.item_size() {
            None => {
                let n = self.check_items(n, 1, "object array element count")?;
                ArrayData::Objects(self.items(n)?)
            }
            Some(size) => {
                if complex && matches!(class, Class::Char | Class::Logical | Class::DateTime(_)) {
                    return Err(BlobError::Corrupt(format!(
                        "complex flag set on a {class:?} array"
                    )));
                }
                let bytes = n
                    .checked_mul(size as u64 * (1 + complex as u64))
                    .ok_or_else(|| BlobError::Corrupt(format!("array of {n} elements")))?;
                ArrayData::Raw(Cow::Borrowed(self.take(bytes, "array data")?))
            }
        };
        Ok(Array {
            class,
            shape,
            complex,
            data,
        })
    }

    fn matlab_struct(&mut self) -> Result<Value<'a>> {
        let (shape, n) = self.shape()?;
        let nfields = self.u32("struct field count")?;
        let names = self.names(nfields)?;
        if nfields == 0 {
            // DataJoint 0.14 writes a stray NUL after an empty name list and then cannot read
            // its own blob. Accept that byte when it is the last one of the enclosing value.
            if self.remaining() == 1 && self.buf[self.pos] == 0 {
                self.pos += 1;
            }
            return Ok(Value::Struct {
                shape,
                names,
                values: Vec::new(),
            });
        }
        let total = n.saturating_mul(nfields as u64);
        let total = self.check_items(total, 1, "struct value count")?;
        Ok(Value::Struct {
            shape,
            names,
            values: self.items(total)?,
        })
    }

    fn record(&mut self) -> Result<Value<'a>> {
        let nfields = self.u32("record field count")?;
        let names = self.names(nfields)?;
        if nfields == 0 && self.remaining() == 1 && self.buf[self.pos] == 0 {
            self.pos += 1; // the same stray NUL as in an empty struct
        }
        let mut fields = Vec::with_capacity(names.len());
        for _ in 0..nfields {
            let start = self.pos;
            let v = self.value()?;
            if !matches!(v, Value::Array(_) | Value::Record { .. }) {
                return Err(BlobError::Corrupt(format!(
                    "record field at byte {start} is not an array"
                )));
            }
            fields.push(v);
        }
        Ok(Value::Record { names, fields })
    }
}

/// Reject dates and times that no writer produces (the binding builds Python objects from
/// them, which would fail with a less helpful message).
fn check_datetime(date: i32, time: i64) -> Result<()> {
    let bad = |what: &str, v: i64| {
        Err(BlobError::Corrupt(format!(
            "{what} field {v} is not a valid encoded {what}"
        )))
    };
    if date >= 0 {
        let (y, m, d) = (date / 10000, (date / 100) % 100, date % 100);
        if !(1..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return bad("date", date as i64);
        }
    } else if date != -1 {
        return bad("date", date as i64);
    }
    if time >= 0 {
        let (h, mi, s) = (
            time / 10_000_000_000,
            (time / 100_000_000) % 100,
            (time / 1_000_000) % 100,
        );
        if h > 23 || mi > 59 || s > 59 {
            return bad("time", time);
        }
    } else if time != -1 {
        return bad("time", time);
    }
    if date < 0 && time < 0 {
        return Err(BlobError::Corrupt(
            "datetime with neither date nor time".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    trait Dbg {
        fn into_owned_debug(self) -> String;
    }
    impl Dbg for Value<'_> {
        fn into_owned_debug(self) -> String {
            format!("{self:?}")
        }
    }

    fn dec(b: &[u8]) -> Result<Value<'_>> {
        decode(b, &DecodeOptions::default()).map(|(_, v)| v)
    }

    #[test]
    fn scalar_float() {
        let mut b = b"dj0\0\x0d".to_vec();
        b.extend_from_slice(&1.5f64.to_le_bytes());
        assert_eq!(dec(&b).unwrap(), Value::Float(1.5));
    }

    #[test]
    fn double_row() {
        let mut b = b"mYm\0A".to_vec();
        for v in [2u64, 1, 2] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&6u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&1f64.to_le_bytes());
        b.extend_from_slice(&2f64.to_le_bytes());
        let Value::Array(a) = dec(&b).unwrap() else {
            panic!()
        };
        assert_eq!(a.shape, vec![1, 2]);
        assert_eq!(a.class, Class::Double);
        // truncating anywhere is an error, never a panic
        for cut in 0..b.len() {
            assert!(dec(&b[..cut]).is_err());
        }
        b.push(0);
        assert!(matches!(dec(&b), Err(BlobError::Length(_))));
    }

    #[test]
    fn lying_counts_do_not_allocate() {
        // a list claiming 2^60 items, an array claiming 2^40 x 2^40 elements
        let mut b = b"dj0\0\x02".to_vec();
        b.extend_from_slice(&(1u64 << 60).to_le_bytes());
        assert!(matches!(dec(&b), Err(BlobError::Corrupt(_))));
        let mut b = b"mYm\0A".to_vec();
        for v in [2u64, 1 << 40, 1 << 40] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 0]);
        assert!(dec(&b).is_err());
        let mut b = b"mYm\0A".to_vec();
        b.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(dec(&b), Err(BlobError::Corrupt(_))));
    }

    #[test]
    fn depth_is_limited() {
        let mut b = b"dj0\0".to_vec();
        // nested 1-tuples: each level is code + count + item length
        let depth = MAX_DEPTH + 5;
        let mut body = vec![0xFFu8];
        for _ in 0..depth {
            let mut outer = vec![0x01];
            outer.extend_from_slice(&1u64.to_le_bytes());
            outer.extend_from_slice(&(body.len() as u64).to_le_bytes());
            outer.extend_from_slice(&body);
            body = outer;
        }
        b.extend_from_slice(&body);
        // run where a debug build has room for MAX_DEPTH frames
        std::thread::Builder::new()
            .stack_size(16 << 20)
            .spawn(move || assert!(matches!(dec(&b), Err(BlobError::TooDeep(_)))))
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn struct_without_fields_reads_stray_nul() {
        let mut b = b"mYm\0S".to_vec();
        for v in [2u64, 1, 1] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&0u32.to_le_bytes());
        let clean = dec(&b).unwrap().into_owned_debug();
        b.push(0);
        assert_eq!(dec(&b).unwrap().into_owned_debug(), clean);
    }

    #[test]
    fn bad_utf8_and_dates() {
        let mut b = b"dj0\0\x05".to_vec();
        b.extend_from_slice(&2u64.to_le_bytes());
        b.extend_from_slice(&[0xC3, 0x28]);
        assert!(matches!(dec(&b), Err(BlobError::Utf8 { .. })));
        let mut b = b"dj0\0t".to_vec();
        b.extend_from_slice(&20241399i32.to_le_bytes());
        b.extend_from_slice(&(-1i64).to_le_bytes());
        assert!(matches!(dec(&b), Err(BlobError::Corrupt(_))));
    }
}
