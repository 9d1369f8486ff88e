//! Streaming file checksums: `md5_file(path, prefix=b"")`.

use std::path::PathBuf;

use pyo3::exceptions::{PyFileNotFoundError, PyIsADirectoryError, PyOSError, PyPermissionError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::buffers;

/// MD5 digest (16 bytes) of `prefix` followed by the contents of the file at `path`, read in
/// chunks with the GIL released (other threads hash or transfer meanwhile). OS errors are
/// raised as the matching `OSError` subclass, with the path.
#[pyfunction]
#[pyo3(signature = (path, prefix=None))]
pub fn md5_file<'py>(
    py: Python<'py>,
    path: PathBuf,
    prefix: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let prefix = match prefix {
        Some(p) => buffers::as_bytes(p)?.as_bytes().to_vec(),
        None => Vec::new(),
    };
    let result = py.detach(|| dj_core::hash::md5_file(&path, &prefix));
    match result {
        Ok((digest, _)) => Ok(PyBytes::new(py, &digest)),
        Err(e) => {
            let msg = format!("{}: '{}'", e, path.display());
            Err(match e.kind() {
                std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(msg),
                std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(msg),
                std::io::ErrorKind::IsADirectory => PyIsADirectoryError::new_err(msg),
                _ => PyOSError::new_err(msg),
            })
        }
    }
}
