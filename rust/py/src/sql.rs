//! `sql_values`: the VALUES list of an INSERT rendered in one native call.

use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDate, PyDateAccess, PyDateTime, PyFloat, PyInt, PyString,
    PyTimeAccess, PyTzInfoAccess,
};

use dj_core::sql;

use crate::errors::dj_error;

/// Render rows (sequences of values) as `(v,v,...),(v,...)`: `None` is `DEFAULT`; int,
/// float, str, bytes and bool are rendered natively; anything else (dates, Decimal, ...) by
/// `fallback(value)`, which must return the literal as bytes (the driver's `literal`).
///
/// Binary values are hex literals, for a utf8mb4 connection; with `binary_charset` (for a
/// statement sent after `SET NAMES binary`) they are escaped `_binary'..'` literals and
/// strings carry the `_utf8mb4` introducer. With `placeholders` (implies `binary_charset`),
/// binary values are `?` and the result is `(sql, [the binary values in order])`, for a
/// prepared statement.
#[pyfunction]
#[pyo3(signature = (rows, fallback, binary_charset=false, placeholders=false))]
pub fn sql_values<'py>(
    py: Python<'py>,
    rows: &Bound<'py, PyAny>,
    fallback: &Bound<'py, PyAny>,
    binary_charset: bool,
    placeholders: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let rows = rows
        .try_iter()?
        .map(|row| row?.try_iter()?.collect::<PyResult<Vec<_>>>())
        .collect::<PyResult<Vec<_>>>()?;
    let binary_charset = binary_charset || placeholders;
    // sized for the binary values up front: growing a buffer of hundreds of MB by doubling
    // copies it and faults in fresh pages several times over
    let binary: usize = if placeholders {
        0
    } else {
        rows.iter()
            .flatten()
            .filter_map(|v| v.cast::<PyBytes>().ok().map(|b| b.as_bytes().len()))
            .sum()
    };
    let per_byte = if binary_charset { 1.04 } else { 2.0 };
    let mut out: Vec<u8> =
        Vec::with_capacity((binary as f64 * per_byte) as usize + 32 * rows.len() + (1 << 12));
    let mut params: Vec<Bound<'py, PyAny>> = Vec::new();
    let mut ctx = Render {
        fallback,
        binary_charset,
        params: placeholders.then_some(&mut params),
    };
    for (r, row) in rows.iter().enumerate() {
        if r > 0 {
            out.push(b',');
        }
        out.push(b'(');
        for (i, value) in row.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_value(py, value, &mut ctx, &mut out)?;
        }
        out.push(b')');
    }
    let sql = PyBytes::new(py, &out).into_any();
    if !placeholders {
        return Ok(sql);
    }
    let params = pyo3::types::PyList::new(py, params)?;
    Ok(pyo3::types::PyTuple::new(py, [sql, params.into_any()])?.into_any())
}

/// How values are rendered.
struct Render<'a, 'py> {
    fallback: &'a Bound<'py, PyAny>,
    binary_charset: bool,
    /// where binary values go, as parameters (`?` in the text)
    params: Option<&'a mut Vec<Bound<'py, PyAny>>>,
}

fn push_value<'py>(
    py: Python<'py>,
    v: &Bound<'py, PyAny>,
    ctx: &mut Render<'_, 'py>,
    out: &mut Vec<u8>,
) -> PyResult<()> {
    let binary_charset = ctx.binary_charset;
    if v.is_none() {
        out.extend_from_slice(b"DEFAULT");
    } else if v.is_exact_instance_of::<PyString>() {
        let text = v.cast::<PyString>()?.to_str()?;
        if binary_charset {
            sql::push_utf8mb4_string(text, out);
        } else {
            sql::push_string(text, out);
        }
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
    } else if v.is_instance_of::<PyBytes>() || v.is_instance_of::<PyByteArray>() {
        if let Some(params) = ctx.params.as_deref_mut() {
            out.push(b'?');
            let value = match v.cast::<PyByteArray>() {
                Ok(b) => PyBytes::new(py, &b.to_vec()).into_any(),
                Err(_) => v.clone(),
            };
            params.push(value);
        } else if let Ok(b) = v.cast::<PyBytes>() {
            push_bytes(b.as_bytes(), binary_charset, out);
        } else {
            push_bytes(&v.cast::<PyByteArray>()?.to_vec(), binary_charset, out);
        }
    } else {
        let lit = ctx.fallback.call1((v,))?;
        if let Ok(b) = lit.cast::<PyBytes>() {
            out.extend_from_slice(b.as_bytes());
        } else {
            out.extend_from_slice(lit.str()?.to_str()?.as_bytes());
        }
    }
    Ok(())
}

fn push_bytes(data: &[u8], binary_charset: bool, out: &mut Vec<u8>) {
    if binary_charset {
        sql::push_binary(data, out);
    } else {
        sql::push_hex(data, out);
    }
}

/// Render rows given as dicts with the same keys (`fields`, in column order) straight into
/// VALUES lists of at most about `budget` bytes each. `kinds[i]` is "num" or "str" (the
/// attribute's category). Returns `None` as soon as any row or value needs the general path
/// (a missing or extra key, None, NaN, a value of another type), so that path can apply
/// DataJoint's conversions and produce its errors; nothing is rendered half-way then.
#[pyfunction]
pub fn dict_rows_values<'py>(
    py: Python<'py>,
    rows: &Bound<'py, PyAny>,
    fields: Vec<Bound<'py, PyString>>,
    kinds: Vec<String>,
    budget: usize,
) -> PyResult<Option<Vec<Bound<'py, PyBytes>>>> {
    let numeric: Vec<bool> = kinds.iter().map(|k| k == "num").collect();
    let mut chunks: Vec<Bound<'py, PyBytes>> = Vec::new();
    let mut chunk: Vec<u8> = Vec::with_capacity(budget.min(1 << 24));
    let mut row_buf: Vec<u8> = Vec::with_capacity(256);
    for row in rows.try_iter()? {
        let row = row?;
        let Ok(dict) = row.cast::<pyo3::types::PyDict>() else {
            return Ok(None);
        };
        if !row.is_exact_instance_of::<pyo3::types::PyDict>() || dict.len() != fields.len() {
            return Ok(None);
        }
        row_buf.clear();
        row_buf.push(b'(');
        for (i, (field, &num)) in fields.iter().zip(&numeric).enumerate() {
            if i > 0 {
                row_buf.push(b',');
            }
            let Some(v) = dict.get_item(field)? else {
                return Ok(None);
            };
            if !push_plain(&v, num, &mut row_buf)? {
                return Ok(None);
            }
        }
        row_buf.push(b')');
        if !chunk.is_empty() && chunk.len() + 1 + row_buf.len() > budget {
            chunks.push(PyBytes::new(py, &chunk));
            chunk.clear();
        }
        if !chunk.is_empty() {
            chunk.push(b',');
        }
        chunk.extend_from_slice(&row_buf);
    }
    if !chunk.is_empty() {
        chunks.push(PyBytes::new(py, &chunk));
    }
    Ok(Some(chunks))
}

/// One value of a plain attribute; false if it needs the general path.
fn push_plain(v: &Bound<'_, PyAny>, numeric: bool, out: &mut Vec<u8>) -> PyResult<bool> {
    if numeric {
        if v.is_exact_instance_of::<PyInt>() {
            match v.extract::<i64>() {
                Ok(i) => sql::push_int(i, out),
                Err(_) => return Ok(false),
            }
            return Ok(true);
        }
        if v.is_exact_instance_of::<PyFloat>() {
            return Ok(sql::push_float(v.cast::<PyFloat>()?.value(), out).is_some());
        }
        return Ok(false);
    }
    if v.is_exact_instance_of::<PyString>() {
        sql::push_string(v.cast::<PyString>()?.to_str()?, out);
        return Ok(true);
    }
    if v.is_exact_instance_of::<PyDateTime>() {
        let d = v.cast::<PyDateTime>()?;
        if !d.get_tzinfo().is_none_or(|tz| tz.is_none()) {
            return Ok(false);
        }
        let mut text = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            d.get_year(),
            d.get_month(),
            d.get_day(),
            d.get_hour(),
            d.get_minute(),
            d.get_second()
        );
        if d.get_microsecond() != 0 {
            text.push_str(&format!(".{:06}", d.get_microsecond()));
        }
        sql::push_string(&text, out);
        return Ok(true);
    }
    if v.is_exact_instance_of::<PyDate>() {
        let d = v.cast::<PyDate>()?;
        let text = format!(
            "{:04}-{:02}-{:02}",
            d.get_year(),
            d.get_month(),
            d.get_day()
        );
        sql::push_string(&text, out);
        return Ok(true);
    }
    Ok(false)
}
