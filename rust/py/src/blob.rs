//! The blob functions of `_native`: `pack`, `unpack`, `md5`.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use dj_core::blob::header::{frame, Envelope, Framing};
use dj_core::blob::{decode, DecodeOptions, Writer};
use dj_core::compress;

use crate::errors::{as_blob_error, as_pack_error, blob_err, dj_error, Side};
use crate::{buffers, builder, inflate, packer, py_types};

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
    let envelope = envelope_named(py, compression)?;
    let plain = pack_plain(py, obj, allow_native)?;
    let data = plain.data();
    if compress && data.len() > compress::COMPRESS_THRESHOLD {
        let env = if data.len() >= DETACH_COMPRESS {
            py.detach(|| compress::envelope(data, envelope))
        } else {
            compress::envelope(data, envelope)
        }
        .map_err(|e| blob_err(py, e, Side::Pack))?;
        if let Some(env) = env {
            return Ok(PyBytes::new(py, &env));
        }
    }
    Ok(match plain {
        Plain::Bytes(b) => b,
        Plain::Buffer(v) => PyBytes::new(py, &v),
    })
}

/// The envelope named by `compression`.
fn envelope_named(py: Python<'_>, compression: &str) -> PyResult<Envelope> {
    match compression {
        "zlib" => Ok(Envelope::Zlib),
        "zstd" => Ok(Envelope::Zstd),
        other => Err(dj_error(
            py,
            format!("Unknown blob compression {other:?} (use \"zlib\" or \"zstd\")"),
        )),
    }
}

/// A plain blob: either already a bytes object (large arrays) or a buffer.
enum Plain<'py> {
    Bytes(Bound<'py, PyBytes>),
    Buffer(Vec<u8>),
}

impl Plain<'_> {
    fn data(&self) -> &[u8] {
        match self {
            Plain::Bytes(b) => b.as_bytes(),
            Plain::Buffer(v) => v,
        }
    }
}

/// Serialize without compressing.
fn pack_plain<'py>(
    py: Python<'py>,
    obj: &Bound<'py, PyAny>,
    allow_native: bool,
) -> PyResult<Plain<'py>> {
    if let Some(plain) = packer::pack_large_array(py, obj)? {
        return Ok(Plain::Bytes(plain));
    }
    let mut packer = packer::Packer {
        py,
        t: py_types::types(py)?,
        w: Writer::new(allow_native),
    };
    packer.value(obj, 0).map_err(|e| as_pack_error(py, e))?;
    Ok(Plain::Buffer(packer.w.finish()))
}

/// Serialize many objects (e.g. a blob column being inserted): values are walked one by one,
/// then the compression of all of them runs in parallel on all cores, GIL released. Each
/// result is byte-identical to `pack(obj)`.
#[pyfunction]
#[pyo3(signature = (objs, compress=true, compression="zlib", allow_native=true))]
pub fn pack_many<'py>(
    py: Python<'py>,
    objs: &Bound<'py, PyAny>,
    compress: bool,
    compression: &str,
    allow_native: bool,
) -> PyResult<Bound<'py, PyList>> {
    let envelope = envelope_named(py, compression)?;
    let plains: Vec<Plain<'py>> = objs
        .try_iter()?
        .map(|o| pack_plain(py, &o?, allow_native))
        .collect::<PyResult<_>>()?;
    let out = PyList::empty(py);
    if !compress {
        for p in plains {
            match p {
                Plain::Bytes(b) => out.append(b)?,
                Plain::Buffer(v) => out.append(PyBytes::new(py, &v))?,
            }
        }
        return Ok(out);
    }
    let datas: Vec<&[u8]> = plains.iter().map(Plain::data).collect();
    let total: usize = datas.iter().map(|d| d.len()).sum();
    let envelopes =
        py.detach(|| inflate::parallel_map(&datas, total, |d| compress::envelope(d, envelope)));
    for (plain, env) in plains.iter().zip(envelopes) {
        match env.map_err(|e| blob_err(py, e, Side::Pack))? {
            Some(env) => out.append(PyBytes::new(py, &env))?,
            None => match plain {
                Plain::Bytes(b) => out.append(b)?,
                Plain::Buffer(v) => out.append(PyBytes::new(py, v))?,
            },
        }
    }
    Ok(out)
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
    let input = buffers::as_bytes(blob).map_err(|e| as_blob_error(py, e))?;
    let (plain_obj, job) = plain_target(py, &input, dims32)?;
    if let Some(job) = job {
        let jobs = [job];
        let failure = if plain_obj.as_bytes().len() >= DETACH_COMPRESS {
            py.detach(|| inflate::run_parallel(&jobs))
        } else {
            inflate::run_parallel(&jobs)
        };
        if let Some(e) = failure {
            return Err(blob_err(py, e, Side::Unpack));
        }
    }
    build_plain(py, &plain_obj, squeeze, dims32)
}

/// The bytes object that will hold the plain blob of `input`: `input` itself, or (for an
/// envelope) a new buffer of the claimed size together with the job that inflates into it.
/// Decoded arrays become views of that object.
fn plain_target<'a, 'py>(
    py: Python<'py>,
    input: &'a Bound<'py, PyBytes>,
    dims32: bool,
) -> PyResult<(Bound<'py, PyBytes>, Option<inflate::Job<'a>>)> {
    let err = |e| blob_err(py, e, Side::Unpack);
    match frame(input.as_bytes(), dims32).map_err(err)? {
        Framing::Plain(_) => Ok((input.clone(), None)),
        Framing::Compressed {
            envelope,
            plain_len,
            stream,
        } => {
            let n = compress::check_plain_len(envelope, stream.len(), plain_len).map_err(err)?;
            let (obj, out) = inflate::new_bytes(py, n)?;
            let job = inflate::Job {
                envelope,
                stream,
                out,
            };
            Ok((obj, Some(job)))
        }
    }
}

/// Decode a plain blob held by `plain_obj` and build its Python value.
fn build_plain<'py>(
    py: Python<'py>,
    plain_obj: &Bound<'py, PyBytes>,
    squeeze: bool,
    dims32: bool,
) -> PyResult<Bound<'py, PyAny>> {
    build_value(
        py,
        plain_obj.as_any(),
        plain_obj.as_bytes(),
        squeeze,
        dims32,
    )
}

/// Decode the plain blob `plain`, which `base` owns, and build its Python value (arrays are
/// views of `plain`, kept alive by `base`).
pub fn build_value<'py>(
    py: Python<'py>,
    base: &Bound<'py, PyAny>,
    plain: &[u8],
    squeeze: bool,
    dims32: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let t = py_types::types(py)?;
    let opts = DecodeOptions {
        dims32,
        ..DecodeOptions::default()
    };
    let (_, value) = decode(plain, &opts).map_err(|e| blob_err(py, e, Side::Unpack))?;
    let builder = builder::Builder {
        keys: Default::default(),
        py,
        t,
        base,
        base_data: plain,
        squeeze,
    };
    builder.build(&value).map_err(|e| as_blob_error(py, e))
}

/// Deserialize many blobs (a column of fetched cells; `None` stays `None`). Compressed
/// blobs are inflated in parallel on all cores with the GIL released, each straight into the
/// bytes object its arrays will be views of; then the values are built.
#[pyfunction]
#[pyo3(signature = (blobs, squeeze=false, dims32=false))]
pub fn unpack_many<'py>(
    py: Python<'py>,
    blobs: &Bound<'py, PyAny>,
    squeeze: bool,
    dims32: bool,
) -> PyResult<Bound<'py, PyList>> {
    let err = |e| blob_err(py, e, Side::Unpack);
    let inputs: Vec<Option<Bound<'py, PyBytes>>> = blobs
        .try_iter()?
        .map(|x| {
            let x = x?;
            if x.is_none() {
                Ok(None)
            } else {
                buffers::as_bytes(&x)
                    .map(Some)
                    .map_err(|e| as_blob_error(py, e))
            }
        })
        .collect::<PyResult<_>>()?;
    // Allocate the inflated buffers (GIL held), then fill them in parallel (GIL released).
    let mut plains: Vec<Option<Bound<'py, PyBytes>>> = Vec::with_capacity(inputs.len());
    let mut jobs: Vec<inflate::Job> = Vec::new();
    for input in &inputs {
        let Some(input) = input else {
            plains.push(None);
            continue;
        };
        let (plain, job) = plain_target(py, input, dims32)?;
        jobs.extend(job);
        plains.push(Some(plain));
    }
    if let Some(e) = py.detach(|| inflate::run_parallel(&jobs)) {
        return Err(err(e));
    }
    let out = PyList::empty(py);
    for plain in &plains {
        match plain {
            None => out.append(py.None())?,
            Some(obj) => out.append(build_plain(py, obj, squeeze, dims32)?)?,
        }
    }
    Ok(out)
}

/// MD5 digest (16 bytes) of a bytes-like object, computed with the GIL released.
#[pyfunction]
pub fn md5<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let data = buffers::as_bytes(data)?;
    let bytes = data.as_bytes();
    let digest = py.detach(|| dj_core::hash::md5(bytes));
    Ok(PyBytes::new(py, &digest))
}
