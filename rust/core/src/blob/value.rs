//! The decoded blob tree.
//!
//! Payloads borrow from the buffer being decoded (`Cow::Borrowed`) so large arrays are never
//! copied by the core; the binding turns them into zero-copy numpy views where it can.
//! `Cow::Owned` lets tests and the fuzzer build trees by hand for `encode`.

use std::borrow::Cow;

use super::typecode::Class;

/// One decoded value. Variants mirror the type codes of the format.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// `'A'`: numeric / logical / char / datetime / object array, or a 0-d scalar.
    Array(Array<'a>),
    /// `'S'`: MATLAB struct array. `values` holds `n_elements * names.len()` entries,
    /// element-major in column-major element order.
    Struct {
        shape: Vec<u64>,
        names: Vec<Cow<'a, str>>,
        values: Vec<Value<'a>>,
    },
    /// `'C'`: MATLAB cell array, elements in column-major order.
    Cell {
        shape: Vec<u64>,
        elements: Vec<Value<'a>>,
    },
    /// `'F'`: numpy structured array; each field is an `Array` or a nested `Record`.
    Record {
        names: Vec<Cow<'a, str>>,
        fields: Vec<Value<'a>>,
    },
    Tuple(Vec<Value<'a>>),
    List(Vec<Value<'a>>),
    Set(Vec<Value<'a>>),
    Dict(Vec<(Value<'a>, Value<'a>)>),
    Str(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    /// Arbitrary-precision integer: little-endian two's complement bytes (may be empty = 0).
    Int(Cow<'a, [u8]>),
    Bool(bool),
    Complex(f64, f64),
    Float(f64),
    /// `str(Decimal)` text.
    Decimal(Cow<'a, str>),
    /// `date = yyyymmdd` or -1, `time = hhmmssuuuuuu` or -1 (see the spec, section 9).
    DateTime {
        date: i32,
        time: i64,
    },
    Uuid([u8; 16]),
    None,
}

/// An `'A'` array.
#[derive(Debug, Clone, PartialEq)]
pub struct Array<'a> {
    pub class: Class,
    /// numpy's shape; empty for a 0-d scalar.
    pub shape: Vec<u64>,
    pub complex: bool,
    pub data: ArrayData<'a>,
}

/// The payload of an `'A'` array.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayData<'a> {
    /// Little-endian elements in column-major order (complex: all real parts, then all
    /// imaginary parts; CHAR: u16 units as stored).
    Raw(Cow<'a, [u8]>),
    /// Class VOID: one nested value per element, column-major.
    Objects(Vec<Value<'a>>),
}

impl Array<'_> {
    /// Number of elements (`prod(shape)`, 1 for a scalar).
    pub fn len(&self) -> u64 {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Value<'_> {
    /// True when this value (and everything in it) can be written under the MATLAB-compatible
    /// `mYm` protocol; anything else makes the writer switch the whole blob to `dj0`.
    pub fn is_matlab(&self) -> bool {
        match self {
            Value::Array(a) => {
                a.class.is_matlab() && (!a.shape.is_empty() || a.class == super::Class::Char)
            }
            Value::Struct { values, .. } => values.iter().all(Value::is_matlab),
            Value::Cell { elements, .. } => elements.iter().all(Value::is_matlab),
            _ => false,
        }
    }
}
