//! Text-protocol cells -> typed column buffers (no GIL), then -> numpy arrays / Python lists.
//!
//! The engine reads the same text the server sends mysqlclient, and each column becomes
//! exactly what `fetch`'s other path makes of mysqlclient's cells (`rows.rs`): numeric
//! columns that the heading says are non-null int64 / float64 become numpy arrays without a
//! Python object per cell; every other column becomes a list holding the value mysqlclient's
//! converters would build (str or bytes by character set, `Decimal`, `date`, `datetime`,
//! `timedelta`, int for YEAR).

use mysql::consts::ColumnType;
use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDate, PyDateTime, PyDelta, PyList, PyString};

use super::blobs::{BlobCol, BlobOpts};
use crate::errors::dj_error;
use crate::py_types;

/// The binary character set: cells of such string columns are bytes, not str.
const BINARY_CHARSET: u16 = 63;

/// What the caller wants of a column whose cells turn out to be numeric (from the heading).
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Want {
    /// non-null int64 numpy column
    I8,
    /// float64 numpy column (NULL -> NaN)
    F8,
    /// Python objects (int / float / None)
    Obj,
    /// a blob column: DataJoint blobs decoded by the engine (see `blobs`); other cells as
    /// `Obj`
    Blob(BlobOpts),
}

impl Want {
    /// "i8", "f8", "obj", or "blob:SD" with S (squeeze) and D (32-bit dimensions) 0 or 1.
    pub fn parse(name: &str) -> Option<Want> {
        Some(match name {
            "i8" => Want::I8,
            "f8" => Want::F8,
            "obj" => Want::Obj,
            _ => {
                let flags = name.strip_prefix("blob:")?.as_bytes();
                let flag = |i: usize| match flags.get(i) {
                    Some(b'0') => Some(false),
                    Some(b'1') => Some(true),
                    _ => None,
                };
                if flags.len() != 2 {
                    return None;
                }
                Want::Blob(BlobOpts {
                    squeeze: flag(0)?,
                    dims32: flag(1)?,
                })
            }
        })
    }
}

/// How a non-numeric cell's text becomes a Python value (mysqlclient's converters).
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Cell {
    Str,
    Bytes,
    Decimal,
    Date,
    DateTime,
    Time,
    Int,
    /// the NULL type: every cell is None
    Null,
}

/// The decoding of one result column.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Plan {
    Int64,
    Float64,
    IntObj,
    FloatObj,
    Cells(Cell),
    /// binary cells decoded as DataJoint blobs
    Blobs(BlobOpts),
}

fn is_int(t: ColumnType) -> bool {
    use ColumnType::*;
    matches!(
        t,
        MYSQL_TYPE_TINY
            | MYSQL_TYPE_SHORT
            | MYSQL_TYPE_LONG
            | MYSQL_TYPE_LONGLONG
            | MYSQL_TYPE_INT24
    )
}

/// The plan for a column of server type `t` and character set `charset`, as `rows.rs` and
/// mysqlclient would decode it.
pub fn plan(t: ColumnType, charset: u16, want: Want) -> Plan {
    use ColumnType::*;
    if is_int(t) {
        return match want {
            Want::I8 => Plan::Int64,
            Want::F8 => Plan::Float64,
            Want::Obj | Want::Blob(_) => Plan::IntObj,
        };
    }
    if matches!(t, MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE) {
        return if want == Want::F8 {
            Plan::Float64
        } else {
            Plan::FloatObj
        };
    }
    Plan::Cells(match t {
        MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => Cell::Decimal,
        MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => Cell::Date,
        MYSQL_TYPE_DATETIME
        | MYSQL_TYPE_TIMESTAMP
        | MYSQL_TYPE_DATETIME2
        | MYSQL_TYPE_TIMESTAMP2 => Cell::DateTime,
        MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => Cell::Time,
        MYSQL_TYPE_YEAR => Cell::Int,
        MYSQL_TYPE_NULL => Cell::Null,
        MYSQL_TYPE_JSON => Cell::Str,
        MYSQL_TYPE_STRING
        | MYSQL_TYPE_VAR_STRING
        | MYSQL_TYPE_VARCHAR
        | MYSQL_TYPE_TINY_BLOB
        | MYSQL_TYPE_MEDIUM_BLOB
        | MYSQL_TYPE_LONG_BLOB
        | MYSQL_TYPE_BLOB
            if charset != BINARY_CHARSET =>
        {
            Cell::Str
        }
        // binary strings, blobs, BIT, GEOMETRY, and anything mysqlclient has no converter for
        _ => match want {
            Want::Blob(opts) => return Plan::Blobs(opts),
            _ => Cell::Bytes,
        },
    })
}

/// MySQL's "no fixed number of decimals" marker of a DOUBLE column's metadata.
const NOT_FIXED_DEC: u8 = 31;

/// Whether the binary protocol (a prepared statement) gives exactly the values the text
/// protocol gives for a column, so it may be used for the speed: integers, doubles (printed
/// as text in their shortest round-trip form), FLOAT (printed rounded to 6 significant
/// digits: `float_text_value` does the same), decimals, strings, blobs, dates, times. Not
/// FLOAT(M,D) / DOUBLE(M,D), printed with D decimals, nor anything unusual (BIT, ...).
pub fn binary_ok(column: &mysql::Column) -> bool {
    use ColumnType::*;
    match column.column_type() {
        MYSQL_TYPE_DOUBLE | MYSQL_TYPE_FLOAT => column.decimals() == NOT_FIXED_DEC,
        MYSQL_TYPE_TINY
        | MYSQL_TYPE_SHORT
        | MYSQL_TYPE_LONG
        | MYSQL_TYPE_LONGLONG
        | MYSQL_TYPE_INT24
        | MYSQL_TYPE_YEAR
        | MYSQL_TYPE_DECIMAL
        | MYSQL_TYPE_NEWDECIMAL
        | MYSQL_TYPE_DATE
        | MYSQL_TYPE_DATETIME
        | MYSQL_TYPE_TIMESTAMP
        | MYSQL_TYPE_TIME
        | MYSQL_TYPE_STRING
        | MYSQL_TYPE_VAR_STRING
        | MYSQL_TYPE_VARCHAR
        | MYSQL_TYPE_TINY_BLOB
        | MYSQL_TYPE_MEDIUM_BLOB
        | MYSQL_TYPE_LONG_BLOB
        | MYSQL_TYPE_BLOB
        | MYSQL_TYPE_ENUM
        | MYSQL_TYPE_SET
        | MYSQL_TYPE_JSON
        | MYSQL_TYPE_NULL => true,
        _ => false,
    }
}

/// The value the text protocol gives for a FLOAT cell: the server prints the single-precision
/// value rounded to 6 significant digits (ties to even, as Rust's exact formatting does),
/// and that text is read as a double.
fn float_text_value(f: f32) -> f64 {
    if !f.is_finite() {
        return f64::from(f);
    }
    format!("{:.5e}", f64::from(f))
        .parse()
        .unwrap_or(f64::from(f))
}

/// The text-protocol form of a binary-protocol temporal value (what the server would have
/// printed, up to the number of fraction digits, which parsing does not see).
fn temporal_text(value: &mysql::Value, with_time: bool) -> Option<Vec<u8>> {
    use std::fmt::Write;
    let mut out = String::new();
    match *value {
        mysql::Value::Date(y, mo, d, h, mi, s, us) => {
            let _ = write!(out, "{y:04}-{mo:02}-{d:02}");
            if with_time {
                let _ = write!(out, " {h:02}:{mi:02}:{s:02}");
            }
            if us != 0 {
                let _ = write!(out, ".{us:06}");
            }
        }
        mysql::Value::Time(neg, days, h, mi, s, us) => {
            let hours = u64::from(days) * 24 + u64::from(h);
            let sign = if neg { "-" } else { "" };
            let _ = write!(out, "{sign}{hours:02}:{mi:02}:{s:02}");
            if us != 0 {
                let _ = write!(out, ".{us:06}");
            }
        }
        _ => return None,
    }
    Some(out.into_bytes())
}

/// The cells of a text column, copied one after the other into one buffer: the cell
/// buffers the driver allocates are then freed at once by the thread that allocated them
/// (freeing them later on another thread cost a quarter of the read time, measured).
#[derive(Default)]
pub struct Texts {
    data: Vec<u8>,
    ends: Vec<usize>,
    valid: Vec<bool>,
}

impl Texts {
    fn with_capacity(n: usize) -> Texts {
        Texts {
            data: Vec::new(),
            ends: Vec::with_capacity(n),
            valid: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, cell: Option<&[u8]>) {
        if let Some(raw) = cell {
            self.data.extend_from_slice(raw);
        }
        self.ends.push(self.data.len());
        self.valid.push(cell.is_some());
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> Option<&[u8]> {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.valid[i].then(|| &self.data[start..self.ends[i]])
    }

    fn iter(&self) -> impl Iterator<Item = Option<&[u8]>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

/// One column of a chunk, decoded as far as possible without the GIL.
pub enum Col {
    Int64(Vec<i64>),
    Float64(Vec<f64>),
    IntObj(Vec<Option<i128>>),
    FloatObj(Vec<Option<f64>>),
    Cells(Cell, Texts),
    Blobs(BlobCol),
}

/// A problem with a cell, reported as a DataJointError.
pub type CellError = String;

fn text(raw: &[u8]) -> Result<&str, CellError> {
    std::str::from_utf8(raw).map_err(|_| "non-UTF-8 numeric cell".to_string())
}

/// The digits of a plain integer (what the server sends), without UTF-8 checks; None for
/// anything else (signs only in front, no spaces, no overflow).
fn fast_int(raw: &[u8]) -> Option<i128> {
    let (negative, digits) = match raw.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, raw),
    };
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    let mut value: i128 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i128::from(b - b'0');
    }
    Some(if negative { -value } else { value })
}

fn parse_i64(raw: &[u8]) -> Result<i64, CellError> {
    if let Some(v) = fast_int(raw).and_then(|v| i64::try_from(v).ok()) {
        return Ok(v);
    }
    let t = text(raw)?.trim();
    t.parse::<i64>()
        .map_err(|_| format!("integer value {t} does not fit in int64"))
}

fn parse_f64(raw: &[u8]) -> Result<f64, CellError> {
    // an integer below 2**53 is exact as a double ("-0" keeps its sign: the slow path)
    if let Some(v) =
        fast_int(raw).filter(|&v| v.unsigned_abs() < 1 << 53 && (v != 0 || raw[0] != b'-'))
    {
        return Ok(v as f64);
    }
    let t = text(raw)?.trim();
    t.parse::<f64>()
        .map_err(|_| format!("cannot read {t:?} as a float"))
}

impl Col {
    pub fn new(plan: Plan, capacity: usize) -> Col {
        match plan {
            Plan::Int64 => Col::Int64(Vec::with_capacity(capacity)),
            Plan::Float64 => Col::Float64(Vec::with_capacity(capacity)),
            Plan::IntObj => Col::IntObj(Vec::with_capacity(capacity)),
            Plan::FloatObj => Col::FloatObj(Vec::with_capacity(capacity)),
            Plan::Cells(c) => Col::Cells(c, Texts::with_capacity(capacity)),
            Plan::Blobs(opts) => Col::Blobs(BlobCol::new(opts, capacity)),
        }
    }

    /// The chunk is complete: start whatever work can run before the caller takes it.
    pub fn seal(&mut self) {
        if let Col::Blobs(v) = self {
            v.flush();
        }
    }

    /// Append one cell (None: SQL NULL). `index` names the column in error messages.
    pub fn push(&mut self, cell: Option<Vec<u8>>, index: usize) -> Result<(), CellError> {
        match self {
            Col::Int64(v) => match cell {
                None => return Err(format!("NULL in non-nullable column {index}")),
                Some(raw) => v.push(parse_i64(&raw)?),
            },
            Col::Float64(v) => v.push(match cell {
                None => f64::NAN,
                Some(raw) => parse_f64(&raw)?,
            }),
            Col::IntObj(v) => v.push(match cell {
                None => None,
                Some(raw) if fast_int(&raw).is_some() => fast_int(&raw),
                Some(raw) => {
                    let t = text(&raw)?.trim();
                    // bigint unsigned reaches 2**64 - 1: i128 holds every integer column
                    Some(
                        t.parse::<i128>()
                            .map_err(|_| format!("cannot read {t:?} as an integer"))?,
                    )
                }
            }),
            Col::FloatObj(v) => v.push(match cell {
                None => None,
                Some(raw) => Some(parse_f64(&raw)?),
            }),
            Col::Cells(_, v) => v.push(cell.as_deref()),
            Col::Blobs(v) => v.push(cell),
        }
        Ok(())
    }

    /// Append one binary-protocol value (of a column `binary_ok` accepted): numbers go in
    /// as numbers, the rest as the text the text protocol would have sent. Returns the
    /// bytes it counts towards a chunk.
    pub fn push_value(&mut self, value: mysql::Value, index: usize) -> Result<usize, CellError> {
        use mysql::Value as V;
        let too_big =
            |t: &dyn std::fmt::Display| format!("integer value {t} does not fit in int64");
        match (self, value) {
            (col, V::NULL) => col.push(None, index).map(|_| 0),
            (col, V::Bytes(b)) => {
                let n = b.len();
                col.push(Some(b), index).map(|_| n)
            }
            (Col::Int64(v), V::Int(i)) => {
                v.push(i);
                Ok(8)
            }
            (Col::Int64(v), V::UInt(u)) => {
                v.push(i64::try_from(u).map_err(|_| too_big(&u))?);
                Ok(8)
            }
            (Col::Float64(v), V::Int(i)) => {
                v.push(i as f64);
                Ok(8)
            }
            (Col::Float64(v), V::UInt(u)) => {
                v.push(u as f64);
                Ok(8)
            }
            (Col::Float64(v), V::Double(d)) => {
                v.push(d);
                Ok(8)
            }
            (Col::IntObj(v), V::Int(i)) => {
                v.push(Some(i.into()));
                Ok(8)
            }
            (Col::IntObj(v), V::UInt(u)) => {
                v.push(Some(u.into()));
                Ok(8)
            }
            (Col::FloatObj(v), V::Double(d)) => {
                v.push(Some(d));
                Ok(8)
            }
            (Col::Float64(v), V::Float(f)) => {
                v.push(float_text_value(f));
                Ok(4)
            }
            (Col::FloatObj(v), V::Float(f)) => {
                v.push(Some(float_text_value(f)));
                Ok(4)
            }
            (Col::FloatObj(v), V::Int(i)) => {
                v.push(Some(i as f64));
                Ok(8)
            }
            (col, V::Int(i)) => col.push(Some(i.to_string().into_bytes()), index).map(|_| 8),
            (col, V::UInt(u)) => col.push(Some(u.to_string().into_bytes()), index).map(|_| 8),
            (col, other @ (V::Date(..) | V::Time(..))) => {
                let with_time = !matches!(col, Col::Cells(Cell::Date, _));
                let text = temporal_text(&other, with_time).expect("a temporal value");
                col.push(Some(text), index).map(|_| 8)
            }
            (_, other) => Err(format!(
                "unexpected binary value {other:?} in column {index}"
            )),
        }
    }

    /// The column as a numpy array (Int64 / Float64) or a list of Python values.
    pub fn into_py(self, py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        Ok(match self {
            Col::Int64(v) => v.into_pyarray(py).into_any(),
            Col::Float64(v) => v.into_pyarray(py).into_any(),
            Col::IntObj(v) => {
                let items = v
                    .into_iter()
                    .map(|x| match x {
                        None => Ok(py.None().into_bound(py)),
                        Some(i) => match i64::try_from(i) {
                            Ok(small) => Ok(small.into_pyobject(py)?.into_any()),
                            Err(_) => Ok(i.into_pyobject(py)?.into_any()),
                        },
                    })
                    .collect::<PyResult<Vec<_>>>()?;
                PyList::new(py, items)?.into_any()
            }
            Col::FloatObj(v) => PyList::new(py, v)?.into_any(),
            Col::Cells(how, v) => cells_to_list(py, how, &v)?.into_any(),
            Col::Blobs(v) => v.into_py(py)?,
        })
    }
}

impl Col {
    /// The column as Arrow-ready buffers where it has a plain Arrow type, else as `into_py`:
    /// `("i8" | "f8", values, valid)` for nullable numbers and YEAR; `("date", int32 days
    /// since 1970, valid)`; `("us", int64 microseconds since 1970, valid)` for datetimes;
    /// `("dur", int64 microseconds, valid)` for TIME; `("str", int64 offsets, uint8 data,
    /// valid)` for text. `valid` is a bool array (False: NULL, or a value mysqlclient reads
    /// as None, such as a zero date). Numpy arrays stay numpy arrays; decimals, bytes and
    /// integers beyond int64 come as lists.
    pub fn into_py_arrow(self, py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        fn tagged<'py, T: numpy::Element>(
            py: Python<'py>,
            tag: &str,
            values: Vec<T>,
            valid: Vec<bool>,
        ) -> PyResult<Bound<'py, PyAny>> {
            Ok((tag, values.into_pyarray(py), valid.into_pyarray(py))
                .into_pyobject(py)?
                .into_any())
        }
        match self {
            Col::IntObj(v) => {
                let mut values = Vec::with_capacity(v.len());
                let mut valid = Vec::with_capacity(v.len());
                for x in &v {
                    match x.map(i64::try_from) {
                        None => {
                            values.push(0i64);
                            valid.push(false);
                        }
                        Some(Ok(i)) => {
                            values.push(i);
                            valid.push(true);
                        }
                        Some(Err(_)) => return Col::IntObj(v).into_py(py),
                    }
                }
                tagged(py, "i8", values, valid)
            }
            Col::FloatObj(v) => {
                let valid = v.iter().map(Option::is_some).collect();
                let values = v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect();
                tagged(py, "f8", values, valid)
            }
            Col::Cells(Cell::Str, cells) => {
                if cells
                    .iter()
                    .flatten()
                    .any(|raw| std::str::from_utf8(raw).is_err())
                {
                    // the error mysqlclient raises
                    return Col::Cells(Cell::Str, cells).into_py(py);
                }
                let mut offsets = Vec::with_capacity(cells.len() + 1);
                offsets.push(0i64);
                offsets.extend(cells.ends.iter().map(|&e| e as i64));
                let Texts { data, valid, .. } = cells;
                Ok((
                    "str",
                    offsets.into_pyarray(py),
                    data.into_pyarray(py),
                    valid.into_pyarray(py),
                )
                    .into_pyobject(py)?
                    .into_any())
            }
            Col::Cells(how @ (Cell::Date | Cell::DateTime | Cell::Time | Cell::Int), cells) => {
                let mut values = Vec::with_capacity(cells.len());
                let mut valid = Vec::with_capacity(cells.len());
                let mut unparsed = false;
                for cell in cells.iter() {
                    let parsed = match cell {
                        None => Some(None),
                        Some(raw) => std::str::from_utf8(raw).ok().and_then(|s| match how {
                            Cell::Date => date_days(s).map(|d| d.map(i64::from)),
                            Cell::DateTime => datetime_micros(s),
                            Cell::Time => time_micros(s).map(Some),
                            _ => s.trim().parse::<i64>().ok().map(Some),
                        }),
                    };
                    match parsed {
                        Some(Some(x)) => {
                            values.push(x);
                            valid.push(true);
                        }
                        Some(None) => {
                            values.push(0);
                            valid.push(false);
                        }
                        // text this module does not parse: mysqlclient's converters decide
                        None => {
                            unparsed = true;
                            break;
                        }
                    }
                }
                if unparsed {
                    return Col::Cells(how, cells).into_py(py);
                }
                match how {
                    Cell::Date => {
                        let days = values.into_iter().map(|d| d as i32).collect::<Vec<i32>>();
                        tagged(py, "date", days, valid)
                    }
                    Cell::DateTime => tagged(py, "us", values, valid),
                    Cell::Time => tagged(py, "dur", values, valid),
                    _ => tagged(py, "i8", values, valid),
                }
            }
            other => other.into_py(py),
        }
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Whether y-m-d is a date Python's `date` accepts (else mysqlclient gives None).
fn valid_date(y: i32, m: u8, d: u8) -> bool {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    (1..=9999).contains(&y) && (1..=12).contains(&m) && d >= 1 && d <= days[m as usize - 1]
}

/// Some(Some(days)) for a valid date, Some(None) for a well-formed impossible one (None in
/// Python), None for text of another form.
fn date_days(s: &str) -> Option<Option<i32>> {
    let (y, m, d) = parse_date(s)?;
    Some(valid_date(y, m, d).then(|| days_from_civil(y.into(), m.into(), d.into()) as i32))
}

fn datetime_micros(s: &str) -> Option<Option<i64>> {
    let (y, mo, d, h, mi, sec, us) = parse_datetime(s)?;
    if !valid_date(y, mo, d) || h > 23 || mi > 59 || sec > 59 {
        return Some(None);
    }
    let days = days_from_civil(y.into(), mo.into(), d.into());
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec);
    Some(Some(secs * 1_000_000 + i64::from(us)))
}

fn cells_to_list<'py>(py: Python<'py>, how: Cell, cells: &Texts) -> PyResult<Bound<'py, PyList>> {
    let decimal = match how {
        Cell::Decimal => Some(py_types::types(py)?.decimal.bind(py).clone()),
        _ => None,
    };
    // Equal dates and datetimes (frequent in a column) share one immutable object: a lookup
    // costs less than building another. Given up when values rarely repeat.
    let mut seen: std::collections::HashMap<&[u8], Bound<'py, PyAny>> = Default::default();
    let mut caching = matches!(how, Cell::Date | Cell::DateTime);
    let (mut lookups, mut hits) = (0usize, 0usize);
    let mut values = Vec::with_capacity(cells.len());
    for cell in cells.iter() {
        let Some(raw) = cell else {
            values.push(py.None().into_bound(py));
            continue;
        };
        if caching {
            lookups += 1;
            if let Some(v) = seen.get(raw) {
                hits += 1;
                values.push(v.clone());
                continue;
            }
            if lookups == 1024 && hits * 4 < lookups {
                caching = false;
                seen.clear();
            }
        }
        let value: Bound<'_, PyAny> = match how {
            Cell::Bytes => PyBytes::new(py, raw).into_any(),
            Cell::Str => str_value(py, raw)?,
            Cell::Null => py.None().into_bound(py),
            Cell::Decimal => decimal
                .as_ref()
                .expect("set for decimal columns")
                .call1((str_value(py, raw)?,))?,
            Cell::Int => {
                let t = std::str::from_utf8(raw).unwrap_or("").trim();
                match t.parse::<i64>() {
                    Ok(i) => i.into_pyobject(py)?.into_any(),
                    Err(_) => py
                        .import("builtins")?
                        .getattr("int")?
                        .call1((str_value(py, raw)?,))?,
                }
            }
            Cell::Date => match std::str::from_utf8(raw).ok().and_then(parse_date) {
                Some((y, m, d)) => match PyDate::new(py, y, m, d) {
                    Ok(date) => date.into_any(),
                    Err(_) => py.None().into_bound(py), // e.g. 0000-00-00: None, as mysqlclient
                },
                None => converter(py, "Date_or_None", raw)?,
            },
            Cell::DateTime => datetime_value(py, raw)?,
            Cell::Time => time_value(py, raw)?,
        };
        if caching && seen.len() < 1 << 16 {
            seen.insert(raw, value.clone());
        }
        values.push(value);
    }
    PyList::new(py, values)
}

fn str_value<'py>(py: Python<'py>, raw: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    match std::str::from_utf8(raw) {
        Ok(s) => Ok(PyString::new(py, s).into_any()),
        // the same UnicodeDecodeError mysqlclient raises
        Err(_) => PyBytes::new(py, raw).call_method1("decode", ("utf-8",)),
    }
}

/// mysqlclient's own converter (`MySQLdb.times.<name>`) for text this module does not parse.
fn converter<'py>(py: Python<'py>, name: &str, raw: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    py.import("MySQLdb.times")?
        .getattr(name)?
        .call1((str_value(py, raw)?,))
}

fn digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// "YYYY-MM-DD" (the strict form the server sends).
fn parse_date(s: &str) -> Option<(i32, u8, u8)> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    Some((digits(&s[..4])?, digits(&s[5..7])?, digits(&s[8..10])?))
}

/// "YYYY-MM-DD HH:MM:SS[.f{1,6}]" -> datetime; an impossible date (zero) -> None, as
/// mysqlclient's `DateTime_or_None`; any other form goes to that function itself.
fn datetime_value<'py>(py: Python<'py>, raw: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let parsed = std::str::from_utf8(raw).ok().and_then(parse_datetime);
    match parsed {
        Some((y, mo, d, h, mi, s, us)) => {
            Ok(match PyDateTime::new(py, y, mo, d, h, mi, s, us, None) {
                Ok(dt) => dt.into_any(),
                Err(_) => py.None().into_bound(py),
            })
        }
        None => converter(py, "DateTime_or_None", raw),
    }
}

type DateTimeParts = (i32, u8, u8, u8, u8, u8, u32);

/// "YYYY-MM-DD HH:MM:SS[.f{1,6}]"; None for any other form.
fn parse_datetime(s: &str) -> Option<DateTimeParts> {
    {
        let b = s.as_bytes();
        if b.len() < 19 || b[10] != b' ' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let (y, mo, d) = parse_date(&s[..10])?;
        let h: u8 = digits(&s[11..13])?;
        let mi: u8 = digits(&s[14..16])?;
        let sec: u8 = digits(&s[17..19])?;
        let micros = if b.len() == 19 {
            0
        } else {
            let frac = &s[20..];
            if b[19] != b'.' || frac.is_empty() || frac.len() > 6 {
                return None;
            }
            digits::<u32>(frac)? * 10u32.pow(6 - frac.len() as u32)
        };
        Some((y, mo, d, h, mi, sec, micros))
    }
}

/// "[-]H+:MM:SS[.f{1,6}]" -> timedelta (`TimeDelta_or_None`).
fn time_value<'py>(py: Python<'py>, raw: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let parsed = std::str::from_utf8(raw).ok().and_then(time_micros);
    match parsed {
        Some(total_us) => {
            let days = total_us.div_euclid(86_400_000_000);
            let rem = total_us.rem_euclid(86_400_000_000);
            let (secs, us) = (rem / 1_000_000, rem % 1_000_000);
            let days = i32::try_from(days).map_err(|_| dj_error(py, "TIME value out of range"))?;
            Ok(PyDelta::new(py, days, secs as i32, us as i32, false)?.into_any())
        }
        None => converter(py, "TimeDelta_or_None", raw),
    }
}

/// "[-]H+:MM:SS[.f{1,6}]" -> signed microseconds; None for any other form.
fn time_micros(s: &str) -> Option<i64> {
    {
        let (negative, rest) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let mut parts = rest.split(':');
        let h: i64 = digits(parts.next()?)?;
        let m: i64 = digits(parts.next()?)?;
        let sec_part = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        let (sec, us) = match sec_part.split_once('.') {
            None => (digits::<i64>(sec_part)?, 0),
            Some((s, f)) if !f.is_empty() && f.len() <= 6 => (
                digits::<i64>(s)?,
                digits::<i64>(f)? * 10i64.pow(6 - f.len() as u32),
            ),
            _ => return None,
        };
        let total = ((h * 60 + m) * 60 + sec) * 1_000_000 + us;
        Some(if negative { -total } else { total })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_strictly() {
        assert_eq!(parse_date("2024-02-29"), Some((2024, 2, 29)));
        assert_eq!(parse_date("0000-00-00"), Some((0, 0, 0)));
        assert_eq!(parse_date("2024-2-29"), None);
    }

    #[test]
    fn arrow_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2024, 2, 29), 19782);
        assert_eq!(days_from_civil(1, 1, 1), -719_162);
        assert_eq!(date_days("0000-00-00"), Some(None));
        assert_eq!(date_days("2023-02-29"), Some(None));
        assert_eq!(
            datetime_micros("1970-01-02 00:00:01.5"),
            Some(Some(86_401_500_000))
        );
        assert_eq!(
            time_micros("-838:59:59"),
            Some(-(838 * 3600 + 59 * 60 + 59) * 1_000_000)
        );
    }

    #[test]
    fn plans_follow_mysqlclient() {
        use ColumnType::*;
        assert_eq!(plan(MYSQL_TYPE_LONG, 63, Want::I8), Plan::Int64);
        assert_eq!(plan(MYSQL_TYPE_LONG, 63, Want::F8), Plan::Float64);
        assert_eq!(plan(MYSQL_TYPE_FLOAT, 63, Want::I8), Plan::FloatObj);
        assert_eq!(
            plan(MYSQL_TYPE_BLOB, 63, Want::Obj),
            Plan::Cells(Cell::Bytes)
        );
        assert_eq!(plan(MYSQL_TYPE_BLOB, 45, Want::Obj), Plan::Cells(Cell::Str));
        assert_eq!(
            plan(MYSQL_TYPE_STRING, 63, Want::Obj),
            Plan::Cells(Cell::Bytes)
        );
        assert_eq!(plan(MYSQL_TYPE_YEAR, 63, Want::I8), Plan::Cells(Cell::Int));
    }

    #[test]
    fn floats_read_as_the_server_prints_them() {
        // what MariaDB 10.11 prints for these FLOAT values (checked by the integration tests)
        assert_eq!(float_text_value(16777216.0), 16777200.0);
        assert_eq!(float_text_value(0.1234567), 0.123457);
        assert_eq!(float_text_value(1234565.0), 1234560.0);
        assert_eq!(float_text_value(1234575.0), 1234580.0);
        assert_eq!(float_text_value(1.5), 1.5);
    }

    #[test]
    fn binary_values_read_as_their_text() {
        use mysql::Value as V;
        assert_eq!(
            temporal_text(&V::Date(2024, 2, 29, 0, 0, 0, 0), false).unwrap(),
            b"2024-02-29"
        );
        assert_eq!(
            temporal_text(&V::Date(2024, 2, 29, 0, 0, 0, 0), true).unwrap(),
            b"2024-02-29 00:00:00"
        );
        assert_eq!(
            temporal_text(&V::Date(2024, 2, 29, 1, 2, 3, 456000), true).unwrap(),
            b"2024-02-29 01:02:03.456000"
        );
        assert_eq!(
            temporal_text(&V::Time(true, 1, 1, 1, 2, 0), false).unwrap(),
            b"-25:01:02"
        );
        let mut ints = Col::new(Plan::IntObj, 2);
        ints.push_value(V::UInt(u64::MAX), 0).unwrap();
        let mut i8s = Col::new(Plan::Int64, 1);
        assert!(i8s.push_value(V::UInt(u64::MAX), 0).is_err());
        let mut dates = Col::new(Plan::Cells(Cell::Date), 1);
        dates.push_value(V::Date(0, 0, 0, 0, 0, 0, 0), 0).unwrap();
        match dates {
            Col::Cells(_, v) => assert_eq!(v.get(0), Some(&b"0000-00-00"[..])),
            _ => unreachable!(),
        }
    }

    #[test]
    fn numeric_cells() {
        let mut c = Col::new(Plan::Int64, 2);
        c.push(Some(b"-12".to_vec()), 0).unwrap();
        assert!(c.push(None, 0).is_err());
        let mut f = Col::new(Plan::Float64, 2);
        f.push(None, 1).unwrap();
        f.push(Some(b"1e300".to_vec()), 1).unwrap();
        match f {
            Col::Float64(v) => assert!(v[0].is_nan() && v[1] == 1e300),
            _ => unreachable!(),
        }
        let mut zero = Col::new(Plan::Float64, 2);
        zero.push(Some(b"-0".to_vec()), 1).unwrap();
        zero.push(Some(b"17".to_vec()), 1).unwrap();
        match zero {
            Col::Float64(v) => assert!(v[0] == 0.0 && v[0].is_sign_negative() && v[1] == 17.0),
            _ => unreachable!(),
        }
        let mut big = Col::new(Plan::IntObj, 1);
        big.push(Some(b"18446744073709551615".to_vec()), 2).unwrap();
        match big {
            Col::IntObj(v) => assert_eq!(v[0], Some(18446744073709551615)),
            _ => unreachable!(),
        }
    }
}
