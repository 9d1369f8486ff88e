//! Blob columns decoded by the engine as their cells arrive.
//!
//! Compressed cells are handed, as received (no copy), to a small pool of inflater threads in
//! batches of about a megabyte (a large blob is a batch of its own; a chunk's last batch goes
//! when the chunk is complete), and each is inflated into a buffer of its own; the reader goes
//! on with the next rows meanwhile. The pool's queue is bounded, so a reader that outpaces the
//! inflaters waits, and the compressed bytes in memory stay a few batches' worth. When the
//! caller takes the chunk, it waits (without the GIL) for the chunk's cells and builds the
//! values: arrays are views of the inflated buffers (each owned by a `blob::PlainBlob`), so the
//! result costs one allocation per blob and no copy beyond the inflation itself.
//!
//! Values, and errors for bad blobs, are those of `unpack_many`.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Mutex, OnceLock};

use dj_core::blob::header::{frame, Framing};
use dj_core::compress;
use dj_core::pages::Buffer;
use dj_core::BlobError;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::blob::build_owned;
use crate::errors::{blob_err, Side};

/// How blob cells are decoded (from the `want` of the column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobOpts {
    pub squeeze: bool,
    pub dims32: bool,
}

/// One cell of a blob column.
enum Cell {
    Null,
    /// the plain blob: as received (uncompressed), or inflated already
    Plain(Buffer),
    /// waiting for (or being inflated in) a batch
    Pending,
    /// the envelope could not be read, or the stream not inflated
    Bad(BlobError),
}

/// A compressed cell to inflate: its index in the column, the cell as received, where the
/// stream starts in it, and the plain length.
struct Job {
    index: usize,
    cell: Vec<u8>,
    start: usize,
    envelope: dj_core::blob::Envelope,
    n: usize,
}

type Inflated = Vec<(usize, Result<Buffer, BlobError>)>;

/// Compressed cells are inflated in batches of about this many stored bytes: a large blob
/// is a batch of its own, while many small ones share the cost of a hand-over.
const BATCH_BYTES: usize = 1 << 20;

/// The cells of one chunk's blob column.
pub struct BlobCol {
    opts: BlobOpts,
    cells: Vec<Cell>,
    batch: Vec<Job>,
    batch_bytes: usize,
    submitted: Vec<Receiver<Inflated>>,
}

type Task = Box<dyn FnOnce() + Send>;

/// The inflater pool: one thread per core, fed through a bounded queue.
fn pool() -> &'static SyncSender<Task> {
    static POOL: OnceLock<SyncSender<Task>> = OnceLock::new();
    POOL.get_or_init(|| {
        // one per core (DJ_INFLATE_THREADS overrides it)
        let threads = std::env::var("DJ_INFLATE_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            });
        let (tx, rx) = sync_channel::<Task>(2 * threads);
        let rx = std::sync::Arc::new(Mutex::new(rx));
        for _ in 0..threads {
            let rx = std::sync::Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name("dj-inflate".into())
                .spawn(move || loop {
                    let task = match rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(_) => return,
                    };
                    match task {
                        Ok(task) => task(),
                        Err(_) => return,
                    }
                });
            if spawned.is_err() {
                break; // fewer threads (at worst none: tasks then run inline, see `submit`)
            }
        }
        tx
    })
}

/// Run `task` on the pool (inline if the pool cannot take it).
fn submit(task: Task) {
    if let Err(std::sync::mpsc::SendError(task)) = pool().send(task) {
        task();
    }
}

/// Inflate `stream` (a slice of `cell` at `start..`) into a new buffer of `n` bytes.
fn inflate(
    cell: &[u8],
    start: usize,
    envelope: dj_core::blob::Envelope,
    n: usize,
) -> Result<Buffer, BlobError> {
    // Large buffers are recycled (dj_core::pages): no page faults once blobs of similar sizes
    // have been freed. (No huge-page advice: on the VMs measured, first touches of fresh 2 MiB
    // pages cost 0.25-2.4 s of system time per GB, erratically, against about 0.35 s for
    // 4 KiB faults.)
    compress::decompress_buffer(envelope, &cell[start..], n)
}

impl BlobCol {
    pub fn new(opts: BlobOpts, capacity: usize) -> BlobCol {
        BlobCol {
            opts,
            cells: Vec::with_capacity(capacity),
            batch: Vec::new(),
            batch_bytes: 0,
            submitted: Vec::new(),
        }
    }

    /// Append a cell (None: NULL); compressed ones are inflated on the pool, in batches.
    pub fn push(&mut self, cell: Option<Vec<u8>>) {
        let Some(cell) = cell else {
            self.cells.push(Cell::Null);
            return;
        };
        let (envelope, n, start) = match frame(&cell, self.opts.dims32) {
            Ok(Framing::Plain(_)) => {
                self.cells.push(Cell::Plain(Buffer::from_vec(cell)));
                return;
            }
            Ok(Framing::Compressed {
                envelope,
                plain_len,
                stream,
            }) => match compress::check_plain_len(envelope, stream.len(), plain_len) {
                Ok(n) => (
                    envelope,
                    n,
                    stream.as_ptr() as usize - cell.as_ptr() as usize,
                ),
                Err(e) => {
                    self.cells.push(Cell::Bad(e));
                    return;
                }
            },
            Err(e) => {
                self.cells.push(Cell::Bad(e));
                return;
            }
        };
        self.batch_bytes += cell.len();
        self.batch.push(Job {
            index: self.cells.len(),
            cell,
            start,
            envelope,
            n,
        });
        self.cells.push(Cell::Pending);
        if self.batch_bytes >= BATCH_BYTES {
            self.flush();
        }
    }

    /// Hand the cells collected so far to the pool (done when the chunk is complete, so
    /// that they inflate while the caller has not taken the chunk yet).
    pub fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        let (tx, rx) = sync_channel(1);
        submit(Box::new(move || {
            let out: Inflated = batch
                .into_iter()
                .map(|job| {
                    let plain = inflate(&job.cell, job.start, job.envelope, job.n);
                    (job.index, plain) // the received cell is freed here
                })
                .collect();
            let _ = tx.send(out);
        }));
        self.submitted.push(rx);
    }

    /// Wait for the cells still inflating (call without the GIL).
    pub fn wait(&mut self) {
        self.flush();
        for rx in self.submitted.drain(..) {
            // a batch whose task died leaves its cells Pending: reported by `into_py`
            for (index, plain) in rx.recv().unwrap_or_default() {
                self.cells[index] = match plain {
                    Ok(plain) => Cell::Plain(plain),
                    Err(e) => Cell::Bad(e),
                };
            }
        }
    }

    /// The decoded values, as a list (after `wait`).
    pub fn into_py(mut self, py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        py.detach(|| self.wait());
        let BlobOpts { squeeze, dims32 } = self.opts;
        let out = PyList::empty(py);
        for cell in self.cells {
            match cell {
                Cell::Null => out.append(py.None())?,
                Cell::Plain(data) => out.append(build_owned(py, data, squeeze, dims32)?)?,
                Cell::Bad(e) => return Err(blob_err(py, e, Side::Unpack)),
                Cell::Pending => {
                    return Err(crate::errors::dj_error(py, "a blob was not inflated"))
                }
            }
        }
        Ok(out.into_any())
    }
}
