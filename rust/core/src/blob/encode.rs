//! [`Value`] / streamed values -> bytes.
//!
//! [`Writer`] is the one place bytes of the format are produced: the Python binding drives it
//! while walking Python objects (it must follow DataJoint's dispatch order, which only the
//! binding can see), and [`encode`] drives it from a [`Value`] tree (Rust tests, fuzzing).
//! The protocol header is written as `mYm` and turned into `dj0` at the end if any value
//! needed a Python extension, exactly like the reference writer.

use super::header::{Envelope, Protocol};
use super::typecode::{Class, Code};
use super::value::{ArrayData, Value};
use crate::compress;
use crate::error::{BlobError, Result};

/// Streaming blob writer.
#[derive(Debug)]
pub struct Writer {
    buf: Vec<u8>,
    dj0: bool,
    allow_native: bool,
}

impl Writer {
    /// `allow_native` is `enable_python_native_blobs`: when false, anything that needs the
    /// `dj0` protocol fails with [`BlobError::NativeBlobsDisabled`].
    pub fn new(allow_native: bool) -> Self {
        Self::with_capacity(allow_native, 64)
    }

    pub fn with_capacity(allow_native: bool, capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity.max(16));
        buf.extend_from_slice(Protocol::MYm.header());
        Writer {
            buf,
            dj0: false,
            allow_native,
        }
    }

    /// Record that the blob needs the `dj0` protocol.
    pub fn set_dj0(&mut self) -> Result<()> {
        if !self.allow_native {
            return Err(BlobError::NativeBlobsDisabled);
        }
        self.dj0 = true;
        Ok(())
    }

    pub fn protocol(&self) -> Protocol {
        if self.dj0 {
            Protocol::Dj0
        } else {
            Protocol::MYm
        }
    }

    /// Bytes written so far (protocol header included).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Direct access for payload copies (see `layout::Strided::gather_fortran`).
    pub fn buffer_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    pub fn reserve(&mut self, additional: usize) {
        self.buf.reserve(additional);
    }

    pub fn code(&mut self, code: Code) {
        self.buf.push(code as u8);
    }
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// Start a length-prefixed item; pass the mark to [`Writer::end_item`].
    pub fn begin_item(&mut self) -> usize {
        let mark = self.buf.len();
        self.u64(0);
        mark
    }

    /// Patch the length of the item started at `mark`.
    pub fn end_item(&mut self, mark: usize) {
        let len = (self.buf.len() - mark - 8) as u64;
        self.buf[mark..mark + 8].copy_from_slice(&len.to_le_bytes());
    }

    /// `u64 ndim` then the dimensions.
    pub fn shape(&mut self, shape: &[u64]) {
        self.u64(shape.len() as u64);
        for &d in shape {
            self.u64(d);
        }
    }

    /// The header of an `'A'` array: code, shape, class id, complex flag.
    pub fn array_header(&mut self, class: Class, shape: &[u64], complex: bool) {
        self.code(Code::Array);
        self.shape(shape);
        self.u32(class.id());
        self.u32(complex as u32);
    }

    /// Field names of a struct or record: each NUL-terminated. (DataJoint 0.14 also writes a
    /// lone NUL for an empty name list, which its own reader then chokes on; we write
    /// nothing, which both readers accept.)
    pub fn names<'n>(&mut self, names: impl IntoIterator<Item = &'n str>) -> Result<()> {
        for name in names {
            if name.as_bytes().contains(&0) {
                return Err(BlobError::Pack(format!(
                    "field name {name:?} contains a NUL character"
                )));
            }
            self.bytes(name.as_bytes());
            self.u8(0);
        }
        Ok(())
    }

    /// `0x0A`: an int given as little-endian two's complement bytes (already of DataJoint's
    /// length: `bit_length // 8 + 1`).
    pub fn int(&mut self, le: &[u8]) -> Result<()> {
        if le.len() > u16::MAX as usize {
            return Err(BlobError::Pack(
                "Integers are limited to 65535 bytes".into(),
            ));
        }
        self.code(Code::Int);
        self.u16(le.len() as u16);
        self.bytes(le);
        Ok(())
    }

    /// `0x05` str, `0x06` bytes, `'d'` Decimal: code, u64 length, raw bytes.
    pub fn sized(&mut self, code: Code, data: &[u8]) {
        self.code(code);
        self.u64(data.len() as u64);
        self.bytes(data);
    }

    pub fn datetime(&mut self, date: i32, time: i64) {
        self.code(Code::DateTime);
        self.bytes(&date.to_le_bytes());
        self.bytes(&time.to_le_bytes());
    }

    /// The plain blob: the protocol header fixed up.
    pub fn finish(mut self) -> Vec<u8> {
        let header = self.protocol().header();
        self.buf[..4].copy_from_slice(header);
        self.buf
    }
}

/// Encode a [`Value`] tree as a plain blob (no envelope).
pub fn encode(value: &Value, allow_native: bool) -> Result<Vec<u8>> {
    let mut w = Writer::new(allow_native);
    write_value(&mut w, value, 0)?;
    Ok(w.finish())
}

/// Encode and apply the compression rule (`compress` as in `pack(obj, compress=True)`).
pub fn pack(value: &Value, compress: Option<Envelope>, allow_native: bool) -> Result<Vec<u8>> {
    let plain = encode(value, allow_native)?;
    if let Some(envelope) = compress {
        if let Some(env) = compress::envelope(&plain, envelope)? {
            return Ok(env);
        }
    }
    Ok(plain)
}

fn write_items(w: &mut Writer, values: &[Value], depth: usize) -> Result<()> {
    for v in values {
        let mark = w.begin_item();
        write_value(w, v, depth + 1)?;
        w.end_item(mark);
    }
    Ok(())
}

fn write_value(w: &mut Writer, value: &Value, depth: usize) -> Result<()> {
    if depth >= super::decode::MAX_DEPTH {
        return Err(BlobError::TooDeep(super::decode::MAX_DEPTH));
    }
    match value {
        Value::Array(a) => {
            if matches!(a.class, Class::DateTime(_)) {
                w.set_dj0()?;
            }
            w.array_header(a.class, &a.shape, a.complex);
            match &a.data {
                ArrayData::Objects(items) => {
                    write_items(w, items, depth)?;
                    w.set_dj0()?;
                }
                ArrayData::Raw(raw) => {
                    if a.shape.is_empty() && a.class != Class::Char {
                        w.set_dj0()?;
                    }
                    w.bytes(raw);
                }
            }
        }
        Value::Struct {
            shape,
            names,
            values,
        } => {
            w.code(Code::Struct);
            w.shape(shape);
            w.u32(names.len() as u32);
            w.names(names.iter().map(|n| n.as_ref()))?;
            write_items(w, values, depth)?;
        }
        Value::Cell { shape, elements } => {
            w.code(Code::Cell);
            w.shape(shape);
            write_items(w, elements, depth)?;
        }
        other => {
            w.set_dj0()?;
            match other {
                Value::Record { names, fields } => {
                    w.code(Code::Record);
                    w.u32(names.len() as u32);
                    w.names(names.iter().map(|n| n.as_ref()))?;
                    for f in fields {
                        write_value(w, f, depth + 1)?;
                    }
                }
                Value::Tuple(v) | Value::List(v) | Value::Set(v) => {
                    w.code(match other {
                        Value::Tuple(_) => Code::Tuple,
                        Value::List(_) => Code::List,
                        _ => Code::Set,
                    });
                    w.u64(v.len() as u64);
                    write_items(w, v, depth)?;
                }
                Value::Dict(pairs) => {
                    w.code(Code::Dict);
                    w.u64(pairs.len() as u64);
                    for (k, v) in pairs {
                        for x in [k, v] {
                            let mark = w.begin_item();
                            write_value(w, x, depth + 1)?;
                            w.end_item(mark);
                        }
                    }
                }
                Value::Str(s) => w.sized(Code::Str, s.as_bytes()),
                Value::Bytes(b) => w.sized(Code::Bytes, b),
                Value::Decimal(s) => w.sized(Code::Decimal, s.as_bytes()),
                Value::Int(le) => w.int(le)?,
                Value::Bool(b) => {
                    w.code(Code::Bool);
                    w.u8(*b as u8);
                }
                Value::Complex(re, im) => {
                    w.code(Code::Complex);
                    w.bytes(&re.to_le_bytes());
                    w.bytes(&im.to_le_bytes());
                }
                Value::Float(f) => {
                    w.code(Code::Float);
                    w.bytes(&f.to_le_bytes());
                }
                Value::DateTime { date, time } => w.datetime(*date, *time),
                Value::Uuid(u) => {
                    w.code(Code::Uuid);
                    w.bytes(u);
                }
                Value::None => w.code(Code::None),
                Value::Array(_) | Value::Struct { .. } | Value::Cell { .. } => unreachable!(),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::decode::{decode, DecodeOptions};
    use crate::blob::value::Array;
    use std::borrow::Cow;

    fn roundtrip(v: &Value) -> Vec<u8> {
        let bytes = encode(v, true).unwrap();
        let (_, back) = decode(&bytes, &DecodeOptions::default()).unwrap();
        assert_eq!(&back, v);
        bytes
    }

    #[test]
    fn protocol_choice() {
        let arr = Value::Array(Array {
            class: Class::Double,
            shape: vec![1, 1],
            complex: false,
            data: ArrayData::Raw(Cow::Owned(1f64.to_le_bytes().to_vec())),
        });
        assert_eq!(&roundtrip(&arr)[..4], b"mYm\0");
        let cell = Value::Cell {
            shape: vec![1, 2],
            elements: vec![arr.clone(), Value::Float(2.0)],
        };
        assert_eq!(&roundtrip(&cell)[..4], b"dj0\0");
        assert!(matches!(
            encode(&cell, false),
            Err(BlobError::NativeBlobsDisabled)
        ));
        assert!(encode(&arr, false).is_ok());
    }

    #[test]
    fn containers() {
        let v = Value::Dict(vec![
            (
                Value::Str("a".into()),
                Value::List(vec![Value::None, Value::Bool(true)]),
            ),
            (
                Value::Int(Cow::Owned(vec![0x80, 0])),
                Value::Decimal("1.5E-7".into()),
            ),
            (
                Value::Uuid([7; 16]),
                Value::Tuple(vec![
                    Value::Complex(1.0, -0.0),
                    Value::DateTime {
                        date: 20240131,
                        time: -1,
                    },
                ]),
            ),
        ]);
        let b = roundtrip(&v);
        assert_eq!(&b[..5], b"dj0\0\x04");
        // the int 128 takes two bytes, as in DataJoint
        assert!(b.windows(5).any(|w| w == [0x0A, 2, 0, 0x80, 0]));
    }

    #[test]
    fn empty_struct_has_no_stray_nul() {
        let v = Value::Struct {
            shape: vec![1, 1],
            names: vec![],
            values: vec![],
        };
        let b = roundtrip(&v);
        assert_eq!(b.len(), 4 + 1 + 8 * 3 + 4);
    }
}
