//! The one mapping from core errors to Python exceptions.
//!
//! Decoding problems raise `datajoint_rs.errors.BlobError`; packing problems raise
//! `datajoint_rs.errors.DataJointError` (as DataJoint 0.14 does). Both classes live in
//! `errors.py`, so `except dj.DataJointError` catches everything the extension raises.

use dj_core::BlobError;
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::py_types::types;

/// Which side of the codec an error comes from.
#[derive(Clone, Copy)]
pub enum Side {
    Pack,
    Unpack,
}

fn raise(class: &Bound<'_, PyType>, msg: String) -> PyErr {
    PyErr::from_type(class.clone(), msg)
}

/// Convert a core error into the Python exception of its side.
pub fn blob_err(py: Python<'_>, err: BlobError, side: Side) -> PyErr {
    match types(py) {
        Ok(t) => {
            let class = match (side, &err) {
                (_, BlobError::NativeBlobsDisabled) | (Side::Pack, _) => t.dj_error.bind(py),
                (Side::Unpack, _) => t.blob_error.bind(py),
            };
            raise(class, err.to_string())
        }
        Err(e) => e,
    }
}

/// A `DataJointError` with a message (packing errors found in the binding itself).
pub fn dj_error(py: Python<'_>, msg: impl Into<String>) -> PyErr {
    match types(py) {
        Ok(t) => raise(t.dj_error.bind(py), msg.into()),
        Err(e) => e,
    }
}

/// Wrap any Python exception raised while building decoded values (invalid dates, bad
/// Decimal text, unhashable keys, ...) as a `BlobError` chained to the original.
pub fn as_blob_error(py: Python<'_>, err: PyErr) -> PyErr {
    let Ok(t) = types(py) else { return err };
    if err.is_instance(py, t.dj_error.bind(py)) {
        return err;
    }
    let new = raise(
        t.blob_error.bind(py),
        format!("Invalid blob: {}", err.value(py)),
    );
    new.set_cause(py, Some(err));
    new
}

/// Same for packing: a Python exception from inside the walk (e.g. a str with lone
/// surrogates) becomes a `DataJointError` chained to the original.
pub fn as_pack_error(py: Python<'_>, err: PyErr) -> PyErr {
    let Ok(t) = types(py) else { return err };
    if err.is_instance(py, t.dj_error.bind(py)) {
        return err;
    }
    let new = raise(
        t.dj_error.bind(py),
        format!("Cannot pack value: {}", err.value(py)),
    );
    new.set_cause(py, Some(err));
    new
}
