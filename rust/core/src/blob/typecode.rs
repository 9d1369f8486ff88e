//! Type codes (the first byte of every encoded value) and `'A'` array classes.

use crate::error::{BlobError, Result};

/// One-byte type codes. MATLAB-compatible (`mYm`) codes are ASCII letters; the others are
/// Python extensions written only under the `dj0` protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    Array = b'A',
    Struct = b'S',
    Cell = b'C',
    Sparse = b'P',
    Record = b'F',
    Tuple = 0x01,
    List = 0x02,
    Set = 0x03,
    Dict = 0x04,
    Str = 0x05,
    Bytes = 0x06,
    Int = 0x0A,
    Bool = 0x0B,
    Complex = 0x0C,
    Float = 0x0D,
    Decimal = b'd',
    DateTime = b't',
    Uuid = b'u',
    None = 0xFF,
}

impl Code {
    pub fn from_byte(b: u8) -> Result<Code> {
        Ok(match b {
            b'A' => Code::Array,
            b'S' => Code::Struct,
            b'C' => Code::Cell,
            b'P' => Code::Sparse,
            b'F' => Code::Record,
            0x01 => Code::Tuple,
            0x02 => Code::List,
            0x03 => Code::Set,
            0x04 => Code::Dict,
            0x05 => Code::Str,
            0x06 => Code::Bytes,
            0x0A => Code::Int,
            0x0B => Code::Bool,
            0x0C => Code::Complex,
            0x0D => Code::Float,
            b'd' => Code::Decimal,
            b't' => Code::DateTime,
            b'u' => Code::Uuid,
            0xFF => Code::None,
            other => {
                let shown = if other.is_ascii_graphic() {
                    format!("\"{}\"", other as char)
                } else {
                    format!("0x{other:02X}")
                };
                return Err(BlobError::UnknownCode(shown));
            }
        })
    }
}

/// Units of `datetime64` arrays, in class-id order (65536 + index).
pub const DATETIME_UNITS: [&str; 13] = [
    "Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as",
];

/// Class id of the first datetime64 unit (`datetime64[Y]`).
pub const DATETIME_BASE: u32 = 65_536;

/// The element class of an `'A'` array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Logical,
    Char,
    /// Object arrays (and numpy unicode arrays on write): every element is a nested value.
    Void,
    Double,
    Single,
    Int8,
    UInt8,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    UInt64,
    /// `datetime64` with the unit `DATETIME_UNITS[i]`.
    DateTime(u8),
}

impl Class {
    pub fn from_id(id: u32) -> Result<Class> {
        Ok(match id {
            3 => Class::Logical,
            4 => Class::Char,
            5 => Class::Void,
            6 => Class::Double,
            7 => Class::Single,
            8 => Class::Int8,
            9 => Class::UInt8,
            10 => Class::Int16,
            11 => Class::UInt16,
            12 => Class::Int32,
            13 => Class::UInt32,
            14 => Class::Int64,
            15 => Class::UInt64,
            // 0.14 reads these as garbage u64s; MATLAB never stores them in data blobs.
            0 | 1 | 2 | 16 => {
                let name = ["UNKNOWN", "CELL", "STRUCT"]
                    .get(id as usize)
                    .copied()
                    .unwrap_or("FUNCTION");
                return Err(BlobError::Unsupported(format!(
                    "array class {id} ({name}) cannot be read: it has no numpy equivalent"
                )));
            }
            id if (DATETIME_BASE..DATETIME_BASE + DATETIME_UNITS.len() as u32).contains(&id) => {
                Class::DateTime((id - DATETIME_BASE) as u8)
            }
            other => return Err(BlobError::UnknownClass(other)),
        })
    }

    pub fn id(self) -> u32 {
        match self {
            Class::Logical => 3,
            Class::Char => 4,
            Class::Void => 5,
            Class::Double => 6,
            Class::Single => 7,
            Class::Int8 => 8,
            Class::UInt8 => 9,
            Class::Int16 => 10,
            Class::UInt16 => 11,
            Class::Int32 => 12,
            Class::UInt32 => 13,
            Class::Int64 => 14,
            Class::UInt64 => 15,
            Class::DateTime(u) => DATETIME_BASE + u as u32,
        }
    }

    /// Bytes per stored element (CHAR: one UTF-16 unit); `None` for object arrays.
    pub fn item_size(self) -> Option<usize> {
        Some(match self {
            Class::Logical | Class::Int8 | Class::UInt8 => 1,
            Class::Char | Class::Int16 | Class::UInt16 => 2,
            Class::Single | Class::Int32 | Class::UInt32 => 4,
            Class::Double | Class::Int64 | Class::UInt64 | Class::DateTime(_) => 8,
            Class::Void => return None,
        })
    }

    /// numpy's dtype string for the class (little-endian), as the binding creates it.
    pub fn numpy_dtype(self) -> &'static str {
        match self {
            Class::Logical => "|b1",
            Class::Char => "<U1",
            Class::Void => "|O",
            Class::Double => "<f8",
            Class::Single => "<f4",
            Class::Int8 => "|i1",
            Class::UInt8 => "|u1",
            Class::Int16 => "<i2",
            Class::UInt16 => "<u2",
            Class::Int32 => "<i4",
            Class::UInt32 => "<u4",
            Class::Int64 => "<i8",
            Class::UInt64 => "<u8",
            Class::DateTime(u) => DATETIME_NAMES[u as usize],
        }
    }

    /// True for classes that the `mYm` protocol (MATLAB) can hold.
    pub fn is_matlab(self) -> bool {
        !matches!(self, Class::Void | Class::DateTime(_))
    }
}

const DATETIME_NAMES: [&str; 13] = [
    "<M8[Y]", "<M8[M]", "<M8[W]", "<M8[D]", "<M8[h]", "<M8[m]", "<M8[s]", "<M8[ms]", "<M8[us]",
    "<M8[ns]", "<M8[ps]", "<M8[fs]", "<M8[as]",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_ids_round_trip() {
        for id in (3..=15).chain(DATETIME_BASE..DATETIME_BASE + 13) {
            assert_eq!(Class::from_id(id).unwrap().id(), id);
        }
        for bad in [0, 1, 2, 16, 17, 65535, DATETIME_BASE + 13, u32::MAX] {
            assert!(Class::from_id(bad).is_err());
        }
    }

    #[test]
    fn codes() {
        assert_eq!(Code::from_byte(b'A').unwrap(), Code::Array);
        assert!(matches!(Code::from_byte(b'Z'), Err(BlobError::UnknownCode(s)) if s == "\"Z\""));
        assert!(matches!(Code::from_byte(0x07), Err(BlobError::UnknownCode(s)) if s == "0x07"));
    }
}
