//! Work on many blobs at once: parallel inflation into preallocated Python bytes objects,
//! and a small scoped-thread `parallel_map` (also used to compress many blobs).

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
        advise_huge_pages(ptr, len);
        Ok((obj, OutBuf { ptr, len }))
    }
}

/// Large inflated blobs are written into fresh memory, and each 4 KiB page of it costs a
/// page fault on first touch (about 0.5 s per GB on the VMs measured). Where transparent
/// huge pages are in "madvise" mode, ask for 2 MiB pages on the interior of large buffers
/// before writing them: 512 times fewer faults. Advisory only; errors are ignored.
const HUGE_PAGE: usize = 2 << 20;

fn advise_huge_pages(ptr: *mut u8, len: usize) {
    if len < 2 * HUGE_PAGE {
        return;
    }
    let start = (ptr as usize).next_multiple_of(HUGE_PAGE);
    let end = (ptr as usize + len) / HUGE_PAGE * HUGE_PAGE;
    if end > start {
        // SAFETY: the range lies inside the buffer we own and have not written yet;
        // madvise(MADV_HUGEPAGE) changes no contents.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

/// Inflate every job, on all cores when there is enough work. Returns the first error.
pub fn run_parallel(jobs: &[Job]) -> Option<BlobError> {
    let total: usize = jobs.iter().map(|j| j.out.len).sum();
    let results = parallel_map(jobs, total, |job| {
        // SAFETY: see OutBuf: only the thread running this job writes its buffer.
        let out = unsafe { std::slice::from_raw_parts_mut(job.out.ptr, job.out.len) };
        compress::decompress_into(job.envelope, job.stream, out)
    });
    results.into_iter().find_map(Result::err)
}

/// Below this much work (bytes), threads cost more than they save.
const PARALLEL_MIN_BYTES: usize = 4 << 20;

/// `items.map(f)` on up to `available_parallelism` scoped threads (work claimed item by item
/// through an atomic counter), or inline when `work_bytes` is small. Order is preserved.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    work_bytes: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(items.len());
    if threads <= 1 || work_bytes < PARALLEL_MIN_BYTES {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(item) = items.get(i) else { break };
        *slots[i].lock().unwrap() = Some(f(item));
    };
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(work);
        }
        work();
    });
    slots
        .into_iter()
        .map(|m| m.into_inner().unwrap().expect("every item was processed"))
        .collect()
}
