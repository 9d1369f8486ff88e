//! The one bytes-like input type of the extension: bytes, bytearray, memoryview, or any
//! other object with a contiguous buffer (e.g. a uint8 numpy array).

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// An immutable bytes object holding the input: `bytes` itself (zero-copy), or a copy of
/// any other buffer (so decoded arrays can safely be views of it).
pub fn as_bytes<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.clone());
    }
    let py = obj.py();
    let buf = PyBuffer::<u8>::get(obj)?;
    let data = buf.to_vec(py)?;
    Ok(PyBytes::new(py, &data))
}
