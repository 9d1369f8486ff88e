//! The blob functions of `_native`: `pack`, `unpack` (and their column forms), `md5`; the
//! `PlainBlob` that owns an inflated blob, and the statistics of its recycled buffers.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use dj_core::blob::header::{frame, Envelope, Framing};
use dj_core::blob::{decode, DecodeOptions, Writer};
use dj_core::compress;
use dj_core::pages::Buffer;

use crate::errors::{as_blob_error, as_pack_error, blob_err, dj_error, Side};
use crate::{buffers, builder, packer, parallel, py_types};

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
        py.detach(|| parallel::parallel_map(&datas, total, |d| compress::envelope(d, envelope)));
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
    match target(input.as_bytes(), dims32).map_err(|e| blob_err(py, e, Side::Unpack))? {
        Target::Input => build_value(py, input.as_any(), input.as_bytes(), squeeze, dims32),
        Target::Inflate(job) => {
            let plain = if job.n >= DETACH_COMPRESS {
                py.detach(|| job.run())
            } else {
                job.run()
            };
            let plain = plain.map_err(|e| blob_err(py, e, Side::Unpack))?;
            build_owned(py, plain, squeeze, dims32)
        }
    }
}

/// Where the plain blob of a stored cell is.
enum Target<'a> {
    /// the cell itself (stored uncompressed)
    Input,
    /// to be inflated from the cell's envelope
    Inflate(Inflate<'a>),
}

/// An envelope's stream and the (checked) length it inflates to.
struct Inflate<'a> {
    envelope: Envelope,
    stream: &'a [u8],
    n: usize,
}

impl Inflate<'_> {
    fn run(&self) -> Result<Buffer, dj_core::BlobError> {
        compress::decompress_buffer(self.envelope, self.stream, self.n)
    }
}

fn target(input: &[u8], dims32: bool) -> Result<Target<'_>, dj_core::BlobError> {
    Ok(match frame(input, dims32)? {
        Framing::Plain(_) => Target::Input,
        Framing::Compressed {
            envelope,
            plain_len,
            stream,
        } => Target::Inflate(Inflate {
            envelope,
            stream,
            n: compress::check_plain_len(envelope, stream.len(), plain_len)?,
        }),
    })
}

/// Build the value of a plain blob held in `plain`, which a new `PlainBlob` takes over (the
/// arrays decoded from it are views of its memory).
pub fn build_owned(
    py: Python<'_>,
    plain: Buffer,
    squeeze: bool,
    dims32: bool,
) -> PyResult<Bound<'_, PyAny>> {
    let base = Bound::new(py, PlainBlob { data: plain })?;
    let data: &[u8] = &base.get().data;
    build_value(py, base.as_any(), data, squeeze, dims32)
}

/// The memory of a decoded blob, which the arrays decoded from it are views of. Large ones
/// are recycled pages (`dj_core::pages`): freed with the last array that refers to them.
#[pyclass(module = "datajoint_rs._native", frozen)]
pub struct PlainBlob {
    data: Buffer,
}

#[pymethods]
impl PlainBlob {
    fn __len__(&self) -> usize {
        self.data.len()
    }
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
    let targets: Vec<Option<Target>> = inputs
        .iter()
        .map(|input| {
            input
                .as_ref()
                .map(|b| target(b.as_bytes(), dims32))
                .transpose()
        })
        .collect::<Result<_, _>>()
        .map_err(err)?;
    // inflate the compressed ones in parallel, GIL released
    let jobs: Vec<&Inflate> = targets
        .iter()
        .filter_map(|t| match t {
            Some(Target::Inflate(job)) => Some(job),
            _ => None,
        })
        .collect();
    let total: usize = jobs.iter().map(|j| j.n).sum();
    let inflated = py.detach(|| parallel::parallel_map(&jobs, total, |job| job.run()));
    // an envelope that does not inflate is reported before any value is built
    let mut inflated = inflated
        .into_iter()
        .collect::<Result<Vec<Buffer>, _>>()
        .map_err(err)?
        .into_iter();
    let out = PyList::empty(py);
    for (input, target) in inputs.iter().zip(&targets) {
        match (input, target) {
            (Some(input), Some(Target::Input)) => out.append(build_value(
                py,
                input.as_any(),
                input.as_bytes(),
                squeeze,
                dims32,
            )?)?,
            (Some(_), Some(Target::Inflate(_))) => {
                let plain = inflated.next().expect("one result per job");
                out.append(build_owned(py, plain, squeeze, dims32)?)?
            }
            _ => out.append(py.None())?,
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

/// The recycled-buffer pool (dj_core::pages): its idle buffers and their bytes, and its limit.
#[pyfunction]
pub fn buffer_pool_stats() -> (usize, usize, usize) {
    let (count, bytes) = dj_core::pages::stats();
    (count, bytes, dj_core::pages::limit())
}

/// Unmap the recycled-buffer pool's idle buffers now (they otherwise go after 10 s idle).
#[pyfunction]
pub fn buffer_pool_release(py: Python<'_>) {
    py.detach(dj_core::pages::release);
}
