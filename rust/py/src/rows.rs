//! Fetched rows -> whole columns.
//!
//! The driver hands back integer and float cells as their raw ASCII text (the connection's
//! converters for those field types are switched off for the fetch); this module parses each
//! such column in one pass into a numpy array (non-null int64 / float64 columns) or into
//! Python ints/floats (nullable ones), and passes every other column through as a list.

use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use crate::errors::dj_error;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Int64,
    Float64,
    IntObj,
    FloatObj,
    Obj,
}

fn kind(name: &str) -> Option<Kind> {
    Some(match name {
        "i8" => Kind::Int64,
        "f8" => Kind::Float64,
        "int" => Kind::IntObj,
        "float" => Kind::FloatObj,
        "obj" => Kind::Obj,
        _ => return None,
    })
}

/// The raw text of a numeric cell (bytes, or str if a converter decoded it).
fn cell_text<'a>(cell: &'a Bound<'_, PyAny>) -> PyResult<&'a str> {
    if let Ok(b) = cell.cast::<PyBytes>() {
        return std::str::from_utf8(b.as_bytes())
            .map_err(|_| pyo3::exceptions::PyValueError::new_err("non-UTF-8 numeric cell"));
    }
    cell.cast::<PyString>()?.to_str()
}

fn parse_int(py: Python<'_>, text: &str) -> PyResult<i64> {
    text.trim()
        .parse::<i64>()
        .map_err(|_| dj_error(py, format!("integer value {text} does not fit in int64")))
}

fn parse_float(py: Python<'_>, text: &str) -> PyResult<f64> {
    text.trim()
        .parse::<f64>()
        .map_err(|_| dj_error(py, format!("cannot read {text:?} as a float")))
}

/// Split `rows` (a sequence of tuples) into columns decoded per `kinds` ("i8", "f8", "int",
/// "float" for raw numeric cells; "obj" to pass cells through).
#[pyfunction]
pub fn columns<'py>(
    py: Python<'py>,
    rows: &Bound<'py, PyAny>,
    kinds: Vec<String>,
) -> PyResult<Bound<'py, PyList>> {
    let kinds: Vec<Kind> = kinds
        .iter()
        .map(|k| kind(k).ok_or_else(|| dj_error(py, format!("unknown column kind {k:?}"))))
        .collect::<PyResult<_>>()?;
    let rows: Vec<Bound<'py, PyTuple>> = rows
        .try_iter()?
        .map(|r| r.and_then(|r| Ok(r.cast_into::<PyTuple>()?)))
        .collect::<PyResult<_>>()?;
    let n = rows.len();
    let out = PyList::empty(py);
    for (c, &k) in kinds.iter().enumerate() {
        let cell = |r: &Bound<'py, PyTuple>| r.get_item(c);
        match k {
            Kind::Int64 => {
                let mut v = Vec::with_capacity(n);
                for r in &rows {
                    let x = cell(r)?;
                    if x.is_none() {
                        return Err(dj_error(py, format!("NULL in non-nullable column {c}")));
                    }
                    v.push(parse_int(py, cell_text(&x)?)?);
                }
                out.append(v.into_pyarray(py))?;
            }
            Kind::Float64 => {
                let mut v = Vec::with_capacity(n);
                for r in &rows {
                    let x = cell(r)?;
                    v.push(if x.is_none() {
                        f64::NAN
                    } else {
                        parse_float(py, cell_text(&x)?)?
                    });
                }
                out.append(v.into_pyarray(py))?;
            }
            Kind::IntObj | Kind::FloatObj => {
                let mut v: Vec<Bound<'py, PyAny>> = Vec::with_capacity(n);
                for r in &rows {
                    let x = cell(r)?;
                    v.push(if x.is_none() {
                        x
                    } else if k == Kind::IntObj {
                        let text = cell_text(&x)?;
                        match text.trim().parse::<i64>() {
                            Ok(i) => i.into_pyobject(py)?.into_any(),
                            // beyond i64 (bigint unsigned): Python's int() of the text
                            Err(_) => py
                                .import("builtins")?
                                .getattr("int")?
                                .call1((text.trim(),))?,
                        }
                    } else {
                        parse_float(py, cell_text(&x)?)?
                            .into_pyobject(py)?
                            .into_any()
                    });
                }
                out.append(PyList::new(py, v)?)?;
            }
            Kind::Obj => {
                let v: Vec<Bound<'py, PyAny>> = rows.iter().map(cell).collect::<PyResult<_>>()?;
                out.append(PyList::new(py, v)?)?;
            }
        }
    }
    Ok(out)
}
