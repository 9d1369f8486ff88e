//! The one bytes-like input type of the extension: bytes, bytearray, memoryview, or any
//! other object exporting a buffer (a numpy array, ...).

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// An immutable bytes object holding the input: `bytes` itself (zero-copy), or a copy of any
/// other buffer's raw contents (so decoded arrays can safely be views of it).
pub fn as_bytes<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.clone());
    }
    // SAFETY: PyObject_CheckBuffer only inspects the type's buffer slot.
    if unsafe { pyo3::ffi::PyObject_CheckBuffer(obj.as_ptr()) } == 0 {
        return Err(PyTypeError::new_err(format!(
            "a bytes-like object is required, not '{}'",
            obj.get_type().name()?
        )));
    }
    // memoryview(x).tobytes() copies any buffer (any item format, any layout) as raw bytes.
    let raw = obj
        .py()
        .import("builtins")?
        .getattr("memoryview")?
        .call1((obj,))?
        .call_method0("tobytes")?;
    Ok(raw.cast_into::<PyBytes>()?)
}
