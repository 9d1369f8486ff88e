//! The blob functions of `_native`: `pack`, `unpack`, `md5`.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use dj_core::blob::header::{frame, Envelope, Framing};
use dj_core::blob::{decode, DecodeOptions, Writer};
use dj_core::compress;

use crate::errors::{as_blob_error, as_pack_error, blob_err, dj_error, Side};
use crate::{buffers, builder, packer, py_types};

/// Above this many bytes, compression runs with the GIL released.
const DETACH_COMPRESS: usize = 64 << 10;

/// Serialize `obj` as a DataJoint blob.
///
/// `compression` is `"zlib"` (DataJoint 0.14's `ZL123` envelope) or `"zstd"` (ours);
/// `allow_native` is `enable_python_native_blobs`.
#[pyfunction]
#[pyo3(signature = (obj, compress=true, compression="zlib", allow_native=true))]
pub fn pack<'py>(
    py: Python<'py>,
    obj: &Bound<'py, PyAny>,
    compress: bool,
    compression: &str,
    allow_native: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let envelope = match compression {
        "zlib" => Envelope::Zlib,
        "zstd" => Envelope::Zstd,
        other => {
            return Err(dj_error(
                py,
                format!("Unknown blob compression {other:?} (use \"zlib\" or \"zstd\")"),
            ))
        }
    };
    let t = py_types::types(py)?;
    if let Some(plain) = packer::pack_large_array(py, obj)? {
        if compress {
            let data = plain.as_bytes();
            let env = py
                .detach(|| compress::envelope(data, envelope))
                .map_err(|e| blob_err(py, e, Side::Pack))?;
            if let Some(env) = env {
                return Ok(PyBytes::new(py, &env));
            }
        }
        return Ok(plain);
    }
    let mut packer = packer::Packer {
        py,
        t,
        w: Writer::new(allow_native),
    };
    packer.value(obj, 0).map_err(|e| as_pack_error(py, e))?;
    let plain = packer.w.finish();
    if compress && plain.len() > compress::COMPRESS_THRESHOLD {
        let env = if plain.len() >= DETACH_COMPRESS {
            py.detach(|| compress::envelope(&plain, envelope))
        } else {
            compress::envelope(&plain, envelope)
        }
        .map_err(|e| blob_err(py, e, Side::Pack))?;
        if let Some(env) = env {
            return Ok(PyBytes::new(py, &env));
        }
    }
    Ok(PyBytes::new(py, &plain))
}

/// Deserialize a DataJoint blob (bytes-like). `dims32` reads old 32-bit mYm blobs.
#[pyfunction]
#[pyo3(signature = (blob, squeeze=false, dims32=false))]
pub fn unpack<'py>(
    py: Python<'py>,
    blob: &Bound<'py, PyAny>,
    squeeze: bool,
    dims32: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let t = py_types::types(py)?;
    let input = buffers::as_bytes(blob)?;
    let opts = DecodeOptions {
        dims32,
        ..DecodeOptions::default()
    };
    let err = |e| blob_err(py, e, Side::Unpack);
    // Inflate into a new bytes object: decoded arrays become views of it.
    let plain_obj = match frame(input.as_bytes(), dims32).map_err(err)? {
        Framing::Plain(_) => input.clone(),
        Framing::Compressed {
            envelope,
            plain_len,
            stream,
        } => {
            let n = compress::check_plain_len(envelope, stream.len(), plain_len).map_err(err)?;
            let mut failure = None;
            let out = PyBytes::new_with(py, n, |buf| {
                let r = if n >= DETACH_COMPRESS {
                    py.detach(|| compress::decompress_into(envelope, stream, buf))
                } else {
                    compress::decompress_into(envelope, stream, buf)
                };
                failure = r.err();
                Ok(())
            })?;
            if let Some(e) = failure {
                return Err(err(e));
            }
            out
        }
    };
    let plain = plain_obj.as_bytes();
    let (_, value) = decode(plain, &opts).map_err(err)?;
    let base = plain_obj.as_any();
    let builder = builder::Builder {
        py,
        t,
        base,
        base_data: plain,
        squeeze,
    };
    builder.build(&value).map_err(|e| as_blob_error(py, e))
}

/// MD5 digest (16 bytes) of a bytes-like object, computed with the GIL released.
#[pyfunction]
pub fn md5<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let data = buffers::as_bytes(data)?;
    let bytes = data.as_bytes();
    let digest = py.detach(|| dj_core::hash::md5(bytes));
    Ok(PyBytes::new(py, &digest))
}
