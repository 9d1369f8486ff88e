//! `sql_values`: the VALUES list of an INSERT rendered in one native call.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyFloat, PyInt, PyString};

use dj_core::sql;

use crate::errors::dj_error;

/// Render rows (sequences of values) as `(v,v,...),(v,...)`: `None` is `DEFAULT`; int,
/// float, str, bytes and bool are rendered natively; anything else (dates, Decimal, ...) by
/// `fallback(value)`, which must return the literal as bytes (the driver's `literal`).
#[pyfunction]
pub fn sql_values<'py>(
    py: Python<'py>,
    rows: &Bound<'py, PyAny>,
    fallback: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut out: Vec<u8> = Vec::with_capacity(1 << 16);
    for (r, row) in rows.try_iter()?.enumerate() {
        if r > 0 {
            out.push(b',');
        }
        out.push(b'(');
        for (i, value) in row?.try_iter()?.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_value(py, &value?, fallback, &mut out)?;
        }
        out.push(b')');
    }
    Ok(PyBytes::new(py, &out))
}

fn push_value(
    py: Python<'_>,
    v: &Bound<'_, PyAny>,
    fallback: &Bound<'_, PyAny>,
    out: &mut Vec<u8>,
) -> PyResult<()> {
    if v.is_none() {
        out.extend_from_slice(b"DEFAULT");
    } else if v.is_exact_instance_of::<PyString>() {
        sql::push_string(v.cast::<PyString>()?.to_str()?, out);
    } else if v.is_exact_instance_of::<PyBool>() {
        out.push(if v.is_truthy()? { b'1' } else { b'0' });
    } else if v.is_exact_instance_of::<PyInt>() {
        match v.extract::<i64>() {
            Ok(i) => sql::push_int(i, out),
            Err(_) => out.extend_from_slice(v.str()?.to_str()?.as_bytes()),
        }
    } else if v.is_exact_instance_of::<PyFloat>() {
        let f = v.cast::<PyFloat>()?.value();
        sql::push_float(f, out)
            .ok_or_else(|| dj_error(py, format!("Cannot insert the float value {f}")))?;
    } else if let Ok(b) = v.cast::<PyBytes>() {
        sql::push_hex(b.as_bytes(), out);
    } else if let Ok(b) = v.cast::<PyByteArray>() {
        sql::push_hex(&b.to_vec(), out);
    } else {
        let lit = fallback.call1((v,))?;
        if let Ok(b) = lit.cast::<PyBytes>() {
            out.extend_from_slice(b.as_bytes());
        } else {
            out.extend_from_slice(lit.str()?.to_str()?.as_bytes());
        }
    }
    Ok(())
}
