//! The fetch engine: reads query results over its own MySQL/MariaDB connections (the `mysql`
//! crate's text protocol: the same cell text mysqlclient receives) and decodes them into
//! columns without a Python object per numeric cell.
//!
//! A query runs on a worker thread that owns one connection for its duration: it reads rows,
//! decodes each column into a typed buffer (`cells`), and hands over chunks of rows through a
//! bounded channel. The Python side takes chunks with the GIL released while waiting, and
//! decodes the blobs of one chunk (on all cores) while the worker already reads the next, so
//! inflation overlaps the transfer and at most a few chunks are in memory beyond the result.
//! When the result has been read to the end, the connection goes back to the reader's pool.

mod blobs;
mod cells;
mod write;

use std::mem::ManuallyDrop;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder, SslOpts};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use cells::{Col, Plan, Want};

create_exception!(
    _native,
    EngineError,
    PyException,
    "A failure of the fetch engine: args are (kind, server error code or None, message), \
     kind being \"lost\" (the connection failed), \"server\" (the server refused the \
     query) or \"data\" (a cell could not be decoded)."
);

/// How a failure is reported to Python (see `EngineError`).
#[derive(Debug, Clone)]
enum Failure {
    Lost(String),
    Server(u16, String),
    Data(String),
}

impl Failure {
    fn from_mysql(err: mysql::Error) -> Failure {
        match err {
            mysql::Error::MySqlError(e) => Failure::Server(e.code, e.message),
            mysql::Error::IoError(e) => Failure::Lost(e.to_string()),
            mysql::Error::CodecError(e) => Failure::Lost(e.to_string()),
            mysql::Error::DriverError(e) => Failure::Lost(e.to_string()),
            other => Failure::Lost(other.to_string()),
        }
    }

    fn into_py(self, py: Python<'_>) -> PyErr {
        let (kind, code, msg) = match self {
            Failure::Lost(m) => ("lost", None, m),
            Failure::Server(c, m) => ("server", Some(c), m),
            Failure::Data(m) => ("data", None, m),
        };
        let _ = py;
        EngineError::new_err((kind, code, msg))
    }
}

/// Connection settings of a reader.
#[derive(Clone)]
struct Settings {
    host: String,
    port: u16,
    user: String,
    password: String,
    tls: Option<SslOpts>,
    init: Vec<String>,
}

impl Settings {
    fn connect(&self) -> Result<Conn, Failure> {
        let opts = OptsBuilder::new()
            .ip_or_hostname(Some(self.host.clone()))
            .tcp_port(self.port)
            .user(Some(self.user.clone()))
            .pass(Some(self.password.clone()))
            .prefer_socket(false) // TCP (and its TLS) like the user's connection
            .tcp_nodelay(true)
            .tcp_connect_timeout(Some(Duration::from_secs(10)))
            .stmt_cache_size(0)
            .ssl_opts(self.tls.clone())
            .init(self.init.clone());
        Conn::new(opts).map_err(Failure::from_mysql)
    }
}

/// Idle connections kept for the next query (more are closed: a burst of concurrent
/// fetches should not leave many idle server connections behind).
const MAX_IDLE: usize = 8;

/// The idle workers of a reader: each is a thread that owns one open connection and waits
/// for a query (reusing threads spares a thread start per query: small fetches matter).
#[derive(Default)]
struct Pool {
    workers: Vec<Sender<Job>>,
    closed: bool,
}

type SharedPool = Arc<Mutex<Pool>>;

/// Put a worker (whose connection is healthy) back; false if the reader was closed or the
/// pool is full, and the worker should end.
fn give_back(pool: &SharedPool, worker: Sender<Job>) -> bool {
    match pool.lock() {
        Ok(mut p) if !p.closed && p.workers.len() < MAX_IDLE => {
            p.workers.push(worker);
            true
        }
        _ => false,
    }
}

/// Start a worker thread (connecting on its first query when `conn` is None).
fn spawn_worker(
    settings: Settings,
    conn: Option<Conn>,
    pool: SharedPool,
) -> std::io::Result<Sender<Job>> {
    let (jobs_tx, jobs_rx) = channel::<Job>();
    std::thread::Builder::new()
        .name("dj-fetch".into())
        .spawn(move || worker(settings, conn, jobs_rx, pool))?;
    Ok(jobs_tx)
}

/// A worker's life: run queries until its connection fails or it is not taken back. It
/// holds no sender of its own job channel while idle, so dropping the pool ends it.
fn worker(settings: Settings, mut conn: Option<Conn>, jobs: Receiver<Job>, pool: SharedPool) {
    while let Ok(mut job) = jobs.recv() {
        let me = job.worker.take();
        conn = work(&settings, conn.take(), job);
        let Some(me) = me else { return };
        if conn.is_none() || !give_back(&pool, me) {
            return;
        }
    }
}

/// A source of result streams over a pool of private connections.
#[pyclass(module = "datajoint_rs._native")]
pub struct Reader {
    settings: Settings,
    idle: SharedPool,
}

/// What the worker sends: the metadata with the first chunk, then chunks, then the end (or
/// a failure).
type Meta = Vec<(String, u8, u16)>;

enum Msg {
    /// the column metadata, with the first chunk if there are rows
    /// part, metadata, first chunk
    Start(usize, Meta, Option<(usize, Vec<Col>)>),
    /// part, rows, columns
    Chunk(usize, usize, Vec<Col>),
    Failed(Failure),
}

#[pymethods]
impl Reader {
    /// A reader connecting to `host:port` as `user`. `tls`: None (no TLS) or a dict with
    /// `ca` (certificate path; verifies the server against it), `check_hostname` (bool).
    /// `init`: SQL statements run on every new connection (session settings).
    #[new]
    #[pyo3(signature = (host, port, user, password, tls=None, init=Vec::new()))]
    fn new(
        py: Python<'_>,
        host: String,
        port: u16,
        user: String,
        password: String,
        tls: Option<&Bound<'_, PyAny>>,
        init: Vec<String>,
    ) -> PyResult<Self> {
        let tls = match tls {
            None => None,
            Some(t) if t.is_none() => None,
            Some(t) => {
                let ca: Option<String> = t.get_item("ca").ok().and_then(|v| v.extract().ok());
                let check_hostname: bool = t
                    .get_item("check_hostname")
                    .ok()
                    .and_then(|v| v.extract().ok())
                    .unwrap_or(true);
                let opts = match ca {
                    // as mysqlclient's ssl_mode=REQUIRED: encrypted, certificate not checked
                    None => SslOpts::default()
                        .with_danger_accept_invalid_certs(true)
                        .with_danger_skip_domain_validation(true),
                    Some(path) => SslOpts::default()
                        .with_root_cert_path(Some(std::path::PathBuf::from(path)))
                        .with_danger_skip_domain_validation(!check_hostname),
                };
                Some(opts)
            }
        };
        let settings = Settings {
            host,
            port,
            user,
            password,
            tls,
            init,
        };
        // connect once now, so that bad settings fail here rather than at the first fetch
        let conn = py
            .detach(|| settings.connect())
            .map_err(|e| e.into_py(py))?;
        let idle: SharedPool = Arc::new(Mutex::new(Pool::default()));
        let first = spawn_worker(settings.clone(), Some(conn), Arc::clone(&idle))
            .map_err(|e| crate::errors::dj_error(py, format!("cannot start a reader: {e}")))?;
        give_back(&idle, first);
        Ok(Reader { idle, settings })
    }

    /// Run `sql` and stream its rows. `wants[i]` ("i8", "f8", "obj") says how column `i`
    /// is wanted should it be numeric. Chunks hold at most `chunk_rows` rows and about
    /// `chunk_bytes` bytes of cells. Columns `i` with `arrow[i]` true come as Arrow-ready
    /// buffers (see `Col::into_py_arrow`).
    /// `queue`: how many chunks may wait, read but not yet taken (more overlaps the
    /// transfer with the caller's decoding better; fewer bounds the memory of a stream).
    /// `binary`: read through a prepared statement (the binary protocol: the server does not
    /// print numbers as text) when every column reads the same that way, else as text.
    #[pyo3(signature = (sql, wants, chunk_rows=65536, chunk_bytes=8 << 20, arrow=Vec::new(), queue=1, binary=false))]
    #[allow(clippy::too_many_arguments)]
    fn query(
        &self,
        py: Python<'_>,
        sql: String,
        wants: Vec<String>,
        chunk_rows: usize,
        chunk_bytes: usize,
        arrow: Vec<bool>,
        queue: usize,
        binary: bool,
    ) -> PyResult<Stream> {
        let spec = Spec {
            chunk_rows,
            chunk_bytes,
            queue: queue.max(1),
            binary,
        };
        self.start(py, vec![sql], wants, spec, arrow, false)
    }

    /// Run the queries `sqls` (parts of one result) at once, each on its own connection;
    /// the stream yields `(n_rows, [columns], part)` chunks in the order they arrive (each
    /// part's chunks in order). Same arguments as `query`.
    #[pyo3(signature = (sqls, wants, chunk_rows=65536, chunk_bytes=8 << 20, arrow=Vec::new(), binary=false))]
    #[allow(clippy::too_many_arguments)]
    fn query_parts(
        &self,
        py: Python<'_>,
        sqls: Vec<String>,
        wants: Vec<String>,
        chunk_rows: usize,
        chunk_bytes: usize,
        arrow: Vec<bool>,
        binary: bool,
    ) -> PyResult<Stream> {
        if sqls.is_empty() {
            return Err(crate::errors::dj_error(py, "no queries to run"));
        }
        let spec = Spec {
            chunk_rows,
            chunk_bytes,
            queue: sqls.len(),
            binary,
        };
        self.start(py, sqls, wants, spec, arrow, true)
    }

    /// A connection for bulk inserts with the same settings (see `write`).
    fn writer(&self) -> write::Writer {
        write::Writer::new(self.settings.clone())
    }

    /// Close the pooled idle connections.
    fn close(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.closed = true;
            idle.workers.clear(); // idle workers see their channel closed and end
        }
    }

    /// How many results (of any reader) were read through the binary protocol.
    #[staticmethod]
    fn binary_reads() -> usize {
        BINARY_READS.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many idle connections the pool holds.
    #[getter]
    fn idle(&self) -> usize {
        self.idle.lock().map(|v| v.workers.len()).unwrap_or(0)
    }
}

/// Results read through the binary protocol in this process (tests tell the paths apart).
static BINARY_READS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How a query is read.
struct Spec {
    chunk_rows: usize,
    chunk_bytes: usize,
    queue: usize,
    binary: bool,
}

impl Reader {
    fn start(
        &self,
        py: Python<'_>,
        sqls: Vec<String>,
        wants: Vec<String>,
        spec: Spec,
        arrow: Vec<bool>,
        with_part: bool,
    ) -> PyResult<Stream> {
        let Spec {
            chunk_rows,
            chunk_bytes,
            queue,
            binary,
        } = spec;
        let wants = wants
            .iter()
            .map(|w| {
                Want::parse(w).ok_or_else(|| crate::errors::dj_error(py, format!("bad want {w}")))
            })
            .collect::<PyResult<Vec<_>>>()?;
        // besides the chunks waiting in the queue: one being decoded by the caller, and one
        // per worker being read
        let (tx, rx) = sync_channel(queue);
        for (part, sql) in sqls.into_iter().enumerate() {
            let mut job = Job {
                part,
                sql,
                wants: wants.clone(),
                chunk_rows: chunk_rows.max(1),
                chunk_bytes,
                tx: tx.clone(),
                worker: None,
                binary,
            };
            // an idle worker, else a new one (a worker whose thread ended refuses the job)
            loop {
                let idle = self.idle.lock().ok().and_then(|mut p| p.workers.pop());
                let sender = match idle {
                    Some(w) => w,
                    None => spawn_worker(self.settings.clone(), None, Arc::clone(&self.idle))
                        .map_err(|e| {
                            crate::errors::dj_error(py, format!("cannot start a reader: {e}"))
                        })?,
                };
                job.worker = Some(sender.clone());
                match sender.send(job) {
                    Ok(()) => break,
                    Err(std::sync::mpsc::SendError(back)) => job = back,
                }
            }
        }
        drop(tx); // the channel closes when every worker is done
        let stream = Stream {
            rx: Mutex::new(Some(rx)),
            meta: Mutex::new(None),
            pending: Mutex::new(None),
            arrow,
            with_part,
        };
        stream.await_meta(py)?;
        Ok(stream)
    }
}

impl Drop for Reader {
    /// The idle workers hold the pool too: end them, or their connections would stay open.
    fn drop(&mut self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.closed = true;
            idle.workers.clear();
        }
    }
}

/// The rows of one query, chunk by chunk (an iterator of `(n_rows, [columns])`).
#[pyclass(module = "datajoint_rs._native")]
pub struct Stream {
    rx: Mutex<Option<Receiver<Msg>>>,
    meta: Mutex<Option<Meta>>,
    /// the first chunk, which came with the metadata: (part, rows, columns)
    pending: Mutex<Option<(usize, usize, Vec<Col>)>>,
    arrow: Vec<bool>,
    with_part: bool,
}

impl Stream {
    fn recv(&self, py: Python<'_>) -> PyResult<Option<Msg>> {
        // try_lock: a second Python thread must not block on the lock while holding the GIL
        // that the first one needs to return
        let Ok(mut guard) = self.rx.try_lock() else {
            return Err(crate::errors::dj_error(
                py,
                "this fetch stream is being read by another thread",
            ));
        };
        let Some(rx) = guard.take() else {
            return Ok(None);
        };
        // wait for the worker without holding the GIL
        let (rx, msg) = py.detach(move || {
            let msg = rx.recv().ok();
            (rx, msg)
        });
        *guard = Some(rx);
        Ok(msg)
    }

    fn finish(&self) {
        if let Ok(mut rx) = self.rx.lock() {
            rx.take(); // the worker sees the channel closed and stops
        }
    }

    fn await_meta(&self, py: Python<'_>) -> PyResult<()> {
        match self.recv(py)? {
            Some(Msg::Start(part, m, first)) => {
                *self.meta.lock().expect("not poisoned") = Some(m);
                *self.pending.lock().expect("not poisoned") =
                    first.map(|(n, cols)| (part, n, cols));
                Ok(())
            }
            Some(Msg::Failed(f)) => {
                self.finish();
                Err(f.into_py(py))
            }
            _ => {
                self.finish();
                Err(Failure::Lost("the reader stopped".into()).into_py(py))
            }
        }
    }
}

#[pymethods]
impl Stream {
    /// `(name, field type code, character set)` of every result column.
    #[getter]
    fn description<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let meta = self.meta.lock().expect("not poisoned");
        let items = meta
            .iter()
            .flatten()
            .map(|(n, t, c)| (n.as_str(), *t, *c).into_pyobject(py))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let pending = self.pending.lock().expect("not poisoned").take();
        let chunk = match pending {
            Some(chunk) => Some(chunk),
            None => loop {
                match self.recv(py)? {
                    None => break None,
                    Some(Msg::Chunk(part, n, cols)) => break Some((part, n, cols)),
                    // the first chunk of another part (the metadata is the same)
                    Some(Msg::Start(part, _, Some((n, cols)))) => break Some((part, n, cols)),
                    Some(Msg::Start(_, _, None)) => continue, // a part without rows
                    Some(Msg::Failed(f)) => {
                        self.finish();
                        return Err(f.into_py(py));
                    }
                }
            },
        };
        match chunk {
            None => {
                self.finish();
                Ok(None)
            }
            Some((part, n, cols)) => {
                let cols = cols
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| {
                        if self.arrow.get(i).copied().unwrap_or(false) {
                            c.into_py_arrow(py)
                        } else {
                            c.into_py(py)
                        }
                    })
                    .collect::<PyResult<Vec<_>>>()?;
                let cols = PyList::new(py, cols)?;
                let mut items = vec![n.into_pyobject(py)?.into_any(), cols.into_any()];
                if self.with_part {
                    items.push(part.into_pyobject(py)?.into_any());
                }
                Ok(Some(PyTuple::new(py, items)?))
            }
        }
    }

    /// Stop reading (the rest of the result is discarded on the worker thread).
    fn close(&self) {
        self.finish();
    }
}

/// One part of a query, for a worker.
struct Job {
    part: usize,
    sql: String,
    wants: Vec<Want>,
    chunk_rows: usize,
    chunk_bytes: usize,
    tx: SyncSender<Msg>,
    /// the job channel of the worker running it (to put the worker back afterwards)
    worker: Option<Sender<Job>>,
    /// read through a prepared statement (the binary protocol) where that gives the same
    /// values (`cells::binary_ok`)
    binary: bool,
}

/// The worker: run the query on a pooled (or new) connection and send chunks.
/// Run one job on `pooled` (or a new connection); the connection back if it is healthy.
fn work(settings: &Settings, pooled: Option<Conn>, job: Job) -> Option<Conn> {
    let tx = &job.tx;
    // A pooled connection may have been closed by the server while idle (wait_timeout): if
    // it fails before any data arrived, the query runs again once on a fresh connection.
    let mut conn = pooled;
    for attempt in 0..2 {
        let fresh = conn.is_none();
        let mut c = match conn.take() {
            Some(c) => c,
            None => match settings.connect() {
                Ok(c) => c,
                Err(f) => {
                    let _ = tx.send(Msg::Failed(f));
                    return None;
                }
            },
        };
        match run(&mut c, &job) {
            Outcome::Done | Outcome::Text => return Some(c),
            Outcome::Abandoned => return None, // the connection is dropped, not reused
            Outcome::Failed(f, sent_any) => {
                let retry = !sent_any && !fresh && attempt == 0 && matches!(f, Failure::Lost(_));
                if !retry {
                    // a server error refusing the query leaves the connection usable
                    let usable = !sent_any && matches!(f, Failure::Server(..));
                    let _ = tx.send(Msg::Failed(f));
                    return usable.then_some(c);
                }
            }
        }
    }
    None
}

enum Outcome {
    Done,
    Abandoned,
    /// the binary protocol does not apply: read as text
    Text,
    /// the failure, and whether anything had been sent already
    Failed(Failure, bool),
}

fn run(conn: &mut Conn, job: &Job) -> Outcome {
    let sql = &job.sql;
    // Dropping a result reads it to its end. A result abandoned half-way (the caller stopped
    // iterating, or a cell failed to decode) is forgotten instead, and its connection closed
    // rather than reused: its small metadata leaks, but a large remainder is never read.
    if job.binary {
        let stmt = match conn.prep(sql.as_str()) {
            Ok(stmt) => stmt,
            Err(e) => return Outcome::Failed(Failure::from_mysql(e), false),
        };
        let binary = stmt.columns().iter().all(cells::binary_ok);
        let outcome = if binary {
            BINARY_READS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match conn.exec_iter(&stmt, ()) {
                Ok(r) => read_rows(ManuallyDrop::new(r), job),
                Err(e) => Outcome::Failed(Failure::from_mysql(e), false),
            }
        } else {
            Outcome::Text
        };
        // close the statement where the connection is kept (given up, it closes with it)
        let kept = matches!(
            outcome,
            Outcome::Done | Outcome::Text | Outcome::Failed(Failure::Server(..), false)
        );
        if kept {
            if let Err(e) = conn.close(stmt) {
                return Outcome::Failed(Failure::from_mysql(e), true);
            }
        }
        if !matches!(outcome, Outcome::Text) {
            return outcome;
        }
    }
    match conn.query_iter(sql.as_str()) {
        Ok(r) => read_rows(ManuallyDrop::new(r), job),
        Err(e) => Outcome::Failed(Failure::from_mysql(e), false),
    }
}

/// Read a result (either protocol) into chunks and send them.
fn read_rows<P: mysql::prelude::Protocol>(
    mut result: ManuallyDrop<mysql::QueryResult<'_, '_, '_, P>>,
    job: &Job,
) -> Outcome {
    let Job {
        part,
        ref wants,
        chunk_rows,
        chunk_bytes,
        ref tx,
        binary,
        ..
    } = *job;
    let columns: Vec<mysql::Column> = result.columns().as_ref().to_vec();
    if columns.len() != wants.len() {
        drop(ManuallyDrop::into_inner(result));
        return Outcome::Failed(
            Failure::Data(format!(
                "the query returned {} columns, {} were expected",
                columns.len(),
                wants.len()
            )),
            false,
        );
    }
    let plans: Vec<Plan> = columns
        .iter()
        .zip(wants)
        .map(|(c, &w)| cells::plan(c.column_type(), c.character_set(), w))
        .collect();
    let meta: Meta = columns
        .iter()
        .map(|c| {
            (
                c.name_str().into_owned(),
                c.column_type() as u8,
                c.character_set(),
            )
        })
        .collect();
    // The metadata travels with the first chunk (or the end): one hand-over, not two, for
    // the many small results.
    let mut meta = Some(meta);
    let send = |n: usize, mut cols: Vec<Col>, meta: &mut Option<Meta>| {
        cols.iter_mut().for_each(Col::seal);
        let msg = match meta.take() {
            Some(m) => Msg::Start(part, m, (n > 0).then_some((n, cols))),
            None => Msg::Chunk(part, n, cols),
        };
        tx.send(msg).is_ok()
    };
    let new_chunk = || -> Vec<Col> {
        plans
            .iter()
            .map(|&p| Col::new(p, chunk_rows.min(4096)))
            .collect()
    };
    let mut cols = new_chunk();
    let (mut n, mut bytes) = (0usize, 0usize);
    for row in result.by_ref() {
        let row = match row {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(Failure::from_mysql(e), meta.is_none()),
        };
        for (i, (value, col)) in row.unwrap_raw().into_iter().zip(&mut cols).enumerate() {
            let pushed = match value {
                None | Some(mysql::Value::NULL) => col.push(None, i).map(|_| 0),
                Some(mysql::Value::Bytes(b)) => {
                    let n = b.len();
                    col.push(Some(b), i).map(|_| n)
                }
                // the binary protocol's numbers and temporal values (the text protocol
                // sends every non-NULL cell as bytes)
                Some(other) if binary => col.push_value(other, i),
                Some(other) => Err(format!("unexpected value {other:?} in column {i}")),
            };
            match pushed {
                Ok(n) => bytes += n,
                Err(msg) => return Outcome::Failed(Failure::Data(msg), meta.is_none()),
            }
        }
        n += 1;
        if n >= chunk_rows || bytes >= chunk_bytes {
            let full = std::mem::replace(&mut cols, new_chunk());
            if !send(n, full, &mut meta) {
                return Outcome::Abandoned;
            }
            (n, bytes) = (0, 0);
        }
    }
    drop(ManuallyDrop::into_inner(result)); // at the end already: nothing left to read
    if (n > 0 || meta.is_some()) && !send(n, cols, &mut meta) {
        return Outcome::Abandoned;
    }
    Outcome::Done
}

/// Register the engine's classes.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Reader>()?;
    m.add_class::<Stream>()?;
    m.add_class::<write::Writer>()?;
    m.add("EngineError", m.py().get_type::<EngineError>())?;
    Ok(())
}
