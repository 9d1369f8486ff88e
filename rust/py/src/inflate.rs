//! Parallel inflation of many compressed blobs into preallocated Python bytes objects.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use dj_core::blob::Envelope;
use dj_core::compress;
use dj_core::BlobError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// One compressed blob and the buffer it inflates into.
pub struct Job<'a> {
    pub envelope: Envelope,
    pub stream: &'a [u8],
    pub out: OutBuf,
}

/// The writable inside of a freshly created bytes object. It is written only by the one
/// worker that takes its job, before the object is handed to any Python code.
pub struct OutBuf {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: each OutBuf is written by exactly one thread (jobs are claimed with an atomic
// counter), and its bytes object is kept alive (and unshared) by the caller meanwhile.
unsafe impl Send for OutBuf {}
unsafe impl Sync for OutBuf {}

/// A new bytes object of `len` bytes whose contents are to be written through the `OutBuf`.
pub fn new_bytes(py: Python<'_>, len: usize) -> PyResult<(Bound<'_, PyBytes>, OutBuf)> {
    // SAFETY: PyBytes_FromStringAndSize(NULL, n) returns a new, uninitialised bytes object of
    // n bytes that we own; PyBytes_AsString gives its buffer.
    unsafe {
        let obj = ffi::PyBytes_FromStringAndSize(std::ptr::null(), len as ffi::Py_ssize_t);
        let obj = Bound::from_owned_ptr_or_err(py, obj)?.cast_into::<PyBytes>()?;
        let ptr = ffi::PyBytes_AsString(obj.as_ptr()) as *mut u8;
        Ok((obj, OutBuf { ptr, len }))
    }
}

/// Inflate every job, on up to `available_parallelism` threads. Returns the first error.
pub fn run_parallel(jobs: &[Job]) -> Option<BlobError> {
    if jobs.is_empty() {
        return None;
    }
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<BlobError>> = Mutex::new(None);
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(job) = jobs.get(i) else { break };
        // SAFETY: see OutBuf: this thread alone writes job i's buffer.
        let out = unsafe { std::slice::from_raw_parts_mut(job.out.ptr, job.out.len) };
        if let Err(e) = compress::decompress_into(job.envelope, job.stream, out) {
            failure.lock().unwrap().get_or_insert(e);
            break;
        }
    };
    let total: usize = jobs.iter().map(|j| j.out.len).sum();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(jobs.len());
    // small work is not worth the threads
    if threads <= 1 || total < (4 << 20) {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 1..threads {
                s.spawn(work);
            }
            work();
        });
    }
    failure.into_inner().unwrap()
}
