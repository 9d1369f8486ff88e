"""The fetch engine: query results read by the native module straight from the server.

Outside a transaction, ``fetch`` (and ``fetch1``, ``to_arrow``, ``to_pandas``, ...) reads its
rows over the engine's own connections (opened with the user connection's host, credentials,
TLS choice and session settings: ``sql_mode``, ``time_zone``, character set, init command).
The native module speaks the MySQL/MariaDB protocol itself (the text protocol, or the
binary protocol of a prepared statement for large results where every column reads exactly
the same that way) and decodes each column into a numpy array, Arrow buffers, or a list of
the values mysqlclient would have built, with the GIL released, in chunks; blob columns of
one chunk are inflated on all cores while the next chunk is arriving. Large scans of one
table are read over several connections at once (``partitions``). Inline blob columns are
inflated by a pool of threads as their cells arrive and decoded by the engine. The results
are exactly those of the mysqlclient path.

Outside a transaction, inserts carrying large binary values go through the engine too
(``writer``/``write``): on an insert connection of its own, as prepared statements whose
binary values are parameters (the server copies them instead of lexing escaped literals), in
one transaction, with the caller's current session settings.

The engine is not used, and ``fetch`` reads through the user's own mysqlclient connection as
before, when:

- a transaction is open on the connection (inside ``make``, ``with conn.transaction``): the
  transaction's own uncommitted rows must be seen;
- the query cache is on;
- the connection uses TLS client certificates (``use_tls={"cert": ..., "key": ...}``), or a
  connection character set other than UTF-8;
- ``datajoint_rs.engine.enabled`` is False (or the environment variable
  ``DJ_FETCH_ENGINE=0`` was set at import).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager

from . import _native, errors

logger = logging.getLogger(__name__.split(".")[0])

#: Use the engine where it applies (see the module docstring).
enabled = os.environ.get("DJ_FETCH_ENGINE", "1").lower() not in ("0", "off", "false", "no")

#: Rows per chunk when reading a whole result, and the cell bytes after which a chunk is
#: handed over early: each chunk's blobs are decoded while the next one arrives, and the
#: stored bytes of a decoded chunk are freed, so memory stays close to the result's size.
CHUNK_ROWS = 65536
CHUNK_BYTES = 8 << 20
#: Chunks read ahead while the caller decodes: for a whole result (the transfer then never
#: waits for the decoding of a chunk), and for a stream (whose memory it bounds).
QUEUE_WHOLE = 8
QUEUE_STREAM = 1

#: Whole tables of this many rows (or stored bytes) or more, by the server's statistics, are
#: read over several connections at once, split by ranges of the primary key (``partitions``).
PARTITION_MIN_ROWS = 200_000
PARTITION_MIN_BYTES = 256 << 20
#: Results with blob columns are partitioned only on machines with this many cores: their
#: time goes to inflating the blobs on all cores, and more readers only compete with that
#: (on 2 cores, measured: no gain).
PARTITION_BLOB_CPUS = 4
#: How many connections read such a result.
PARTITIONS = max(2, min(4, os.cpu_count() or 1))

#: Read through prepared statements where that gives the same values (see ``use_binary``).
binary_protocol = True
BINARY_MIN_ROWS = 10_000

#: Inserts of this many bytes of binary values or more (outside a transaction) go through the
#: engine's insert connection as prepared statements (see ``writer``).
write_prepared = True
WRITE_MIN_BYTES = 1 << 20

#: How many results the engine has read in this process (tests use it to tell the paths apart).
reads = 0

_UTF8 = {"utf8", "utf8mb3", "utf8mb4"}
_lock = threading.Lock()


@contextmanager
def disabled():
    """``with engine.disabled():`` reads through the user's mysqlclient connection."""
    global enabled
    saved, enabled = enabled, False
    try:
        yield
    finally:
        enabled = saved


def reader(connection):
    """The engine's reader for ``connection``, or None where the engine does not apply."""
    if not enabled or getattr(connection, "_query_cache", None):
        return None
    if not hasattr(connection, "engine_settings"):  # not a MySQL connection (e.g. SQLite)
        return None
    if getattr(connection, "_in_transaction", True):  # also: not a datajoint_rs Connection
        return None
    existing = getattr(connection, "_fetch_reader", None)
    if existing is not None:
        return existing or None  # False: the engine was found not to apply
    with _lock:
        existing = getattr(connection, "_fetch_reader", None)
        if existing is None:
            existing = _new_reader(connection)
            connection._fetch_reader = existing
    return existing or None


def _new_reader(connection):
    try:
        settings = connection.engine_settings()
    except Exception as exc:  # e.g. the server went away: the usual path reports it
        logger.debug("fetch engine: no settings (%s)", exc)
        return None
    if settings is None or settings["charset"].lower() not in _UTF8:
        return False
    try:
        return _native.Reader(
            settings["host"],
            settings["port"],
            settings["user"],
            settings["password"],
            tls=settings["tls"],
            init=settings["init"],
        )
    except _native.EngineError as exc:
        logger.warning("fetch engine: cannot connect (%s); reading through mysqlclient", exc)
        return False


def writer(connection):
    """The engine's insert connection for ``connection`` (``_native.Writer``: statements with
    binary values as parameters of prepared statements, on the binary character set, in a
    transaction of their own), or None where the engine does not apply (see ``reader``:
    in particular inside a transaction, whose inserts must go through the caller's
    connection)."""
    if not write_prepared:
        return None
    rdr = reader(connection)
    if rdr is None:
        return None
    existing = getattr(connection, "_fetch_writer", None)
    if existing is None:
        existing = connection._fetch_writer = rdr.writer()
    return existing


def write(connection, statements, sql):
    """Run ``statements`` (``(sql, [binary parameters])`` pairs, ``?`` in the SQL for each)
    in one transaction on the insert connection of ``connection`` (see ``writer``): all or
    nothing. Raises ``dj.errors`` exceptions (``sql`` names the statement in them)."""
    # the caller's session settings as they are now (they may have changed since the
    # engine's connections were opened: e.g. foreign_key_checks switched off for a bulk load)
    session = connection.session_settings_sql(
        ("foreign_key_checks", "unique_checks", "sql_mode", "time_zone")
    )

    def with_session():
        for statement in session:
            yield statement.encode(), []
        yield from statements

    try:
        return writer(connection).run(with_session())
    except _native.EngineError as exc:
        raise translate(exc, sql) from None


def close(connection):
    """Close the engine's connections of ``connection`` (they reopen on the next fetch)."""
    existing = getattr(connection, "_fetch_reader", None)
    connection._fetch_reader = None
    if existing:
        existing.close()
    existing = getattr(connection, "_fetch_writer", None)
    connection._fetch_writer = None
    if existing:
        existing.close()


def translate(exc, sql):
    """The ``dj.errors`` exception for an ``_native.EngineError``."""
    from .connection import translate_query_error

    kind, code, message = exc.args
    if kind == "lost":
        return errors.LostConnectionError("Server connection lost", message)
    if kind == "server":
        return translate_query_error(Exception(code, message), sql)
    return errors.DataJointError(message)


def stream(
    connection,
    sql,
    wants,
    chunk_rows=CHUNK_ROWS,
    chunk_bytes=None,
    arrow=(),
    whole=True,
    binary=False,
):
    """``(n_rows, columns)`` chunks of the result of ``sql`` (already formatted), read by
    the engine (columns ``i`` with ``arrow[i]`` true come as Arrow-ready buffers; ``whole``:
    the caller reads the whole result, so more chunks are read ahead; ``binary``: through a
    prepared statement where that reads the same, see ``use_binary``). Raises
    ``dj.errors`` exceptions (``LostConnectionError`` when the connection fails mid-read)."""
    global reads
    rdr = reader(connection)
    reads += 1
    try:
        result = rdr.query(
            sql,
            wants,
            chunk_rows=chunk_rows,
            chunk_bytes=chunk_bytes or CHUNK_BYTES,
            arrow=list(arrow),
            queue=QUEUE_WHOLE if whole else QUEUE_STREAM,
            binary=binary,
        )
    except _native.EngineError as exc:
        raise translate(exc, sql) from None
    return _chunks(result, sql)


def partitions(expression, heading):
    """The SQL of primary-key ranges that, read at once over several connections and put
    together in order, give exactly the rows of ``expression`` in the same order; None when
    that does not apply or does not pay.

    It applies to large results (``PARTITION_MIN_ROWS`` rows or ``PARTITION_MIN_BYTES``
    stored bytes, by the server's statistics) of one whole InnoDB table (projected, not
    restricted, aggregated, limited or ordered) with an integer first primary-key attribute
    and no attachment, external or adapted columns (nor blobs, below
    ``PARTITION_BLOB_CPUS`` cores), whose plan scans the clustered index
    (``EXPLAIN``: a full scan or the PRIMARY key), which returns rows in primary-key order:
    each range is read in that order too (checked), and the ranges are put together in
    order. Restricted queries are left out so that the many small fetches of a pipeline
    (``(table & key).fetch1()``) pay no ``EXPLAIN``: the decision costs nothing for them,
    and at most one cached query per table and minute otherwise."""
    from .adapters.mysql import TYPE_PATTERN
    from .expression import Aggregation, Union

    if not enabled or PARTITIONS < 2 or reader(expression.connection) is None:
        return None
    if isinstance(expression, Aggregation | Union) or expression._top or expression._distinct:
        return None
    if expression.restriction:
        return None
    support = expression.support
    if not support or len(support) != 1 or not isinstance(support[0], str):
        return None
    if not heading.primary_key:
        return None
    pk = heading.primary_key[0]
    attr = heading[pk]
    if attr.attribute_expression is not None or not TYPE_PATTERN["INTEGER"].match(attr.type):
        return None
    for name in heading.names:
        a = heading[name]
        if a.is_attachment or a.is_filepath or a.is_external or a.adapter:
            return None
        if a.is_blob and (os.cpu_count() or 1) < PARTITION_BLOB_CPUS:
            return None
    connection = expression.connection
    stats = _table_stats(connection, support[0])
    if stats is None:
        return None
    table_rows, table_bytes = stats
    if table_rows < max(PARTITION_MIN_ROWS, 2) and table_bytes < PARTITION_MIN_BYTES:
        return None
    if _clustered_scan(connection, expression.make_sql()) < 0:
        return None
    quoted = f"`{pk}`"
    lo, hi = connection.query(
        f"SELECT MIN(q.{quoted}), MAX(q.{quoted}) FROM ({expression.make_sql()}) AS q"
    ).fetchone()
    if lo is None:
        return None
    lo, hi = int(lo), int(hi)
    bounds = sorted({lo + (hi - lo + 1) * i // PARTITIONS for i in range(PARTITIONS)})
    bounds.append(hi + 1)
    sqls = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        part = expression & f"{quoted} >= {a} AND {quoted} < {b}"
        if part.support != support or _clustered_scan(connection, part.make_sql()) < 0:
            return None
        sqls.append((part.make_sql().encode() % ()).decode())
    return sqls if len(sqls) > 1 else None


def use_binary(expression):
    """Whether to read ``expression`` through a prepared statement (the binary protocol:
    the server sends numbers and dates as binary values instead of printing them as text,
    which costs it more than the transfer). The engine uses it only where every column
    reads exactly the same both ways (see ``cells::binary_ok`` in the native module), and here
    only for whole tables (unrestricted) of ``BINARY_MIN_ROWS`` rows or more: preparing costs
    a round trip, which the many small restricted fetches of a pipeline should not pay."""
    support = expression.support
    if not binary_protocol or not support or not isinstance(support[0], str):
        return False
    if expression.restriction:
        return False
    stats = _table_stats(expression.connection, support[0])
    return stats is not None and stats[0] >= BINARY_MIN_ROWS


_STATS_SECONDS = 30.0
_stats = {}


def _table_stats(connection, table):
    """(estimated rows, stored bytes) of an InnoDB table (its quoted full name), cached
    for ``_STATS_SECONDS``; None for other engines (whose full scans are not in key
    order)."""
    key = (id(connection), table)
    now = time.monotonic()
    hit = _stats.get(key)
    if hit is not None and now - hit[0] < _STATS_SECONDS:
        return hit[1]
    database, _, name = table.strip("`").partition("`.`")
    row = connection.query(
        "SELECT ENGINE, TABLE_ROWS, DATA_LENGTH FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
        (database, name),
    ).fetchone()
    stats = None
    if row and (row[0] or "").lower() == "innodb":
        stats = (int(row[1] or 0), int(row[2] or 0))
    if len(_stats) > 1000:
        _stats.clear()
    _stats[key] = (now, stats)
    return stats


_plans = {}


def _clustered_scan(connection, sql):
    """The server's row estimate for ``sql`` if its plan reads one table along its
    clustered index (so rows come in primary-key order), else -1. Cached for
    ``_STATS_SECONDS``."""
    key = (id(connection), sql)
    now = time.monotonic()
    hit = _plans.get(key)
    if hit is not None and now - hit[0] < _STATS_SECONDS:
        return hit[1]
    if len(_plans) > 1000:
        _plans.clear()
    estimate = _explain(connection, sql)
    _plans[key] = (now, estimate)
    return estimate


def _explain(connection, sql):
    plan = connection.query("EXPLAIN " + sql).fetchall()
    if len(plan) != 1:
        return -1
    _, select_type, _, access, _, key, _, _, estimate, extra = plan[0][:10]
    extra = (extra or "").lower()
    if select_type != "SIMPLE" or "temporary" in extra or "filesort" in extra:
        return -1
    if key != "PRIMARY" and access != "ALL":
        return -1
    return int(estimate or 0)


def stream_parts(connection, sqls, wants, arrow=(), binary=False):
    """Like ``stream``, for the parts of one result (``partitions``) read at once:
    ``((part, seq), n_rows, columns)`` chunks in the order they arrive (each part's in
    order), for the caller to decode as they come and put in order."""
    global reads
    reads += 1
    try:
        result = reader(connection).query_parts(
            sqls,
            wants,
            chunk_rows=CHUNK_ROWS,
            chunk_bytes=CHUNK_BYTES,
            arrow=list(arrow),
            binary=binary,
        )
    except _native.EngineError as exc:
        raise translate(exc, sqls[0]) from None
    seq = [0] * len(sqls)
    for n, columns, part in _chunks(result, sqls[0]):
        seq[part] += 1
        yield (part, seq[part]), n, columns


def _chunks(result, sql):
    try:
        while True:
            try:
                chunk = next(result)
            except StopIteration:
                return
            except _native.EngineError as exc:
                raise translate(exc, sql) from None
            yield chunk
    finally:
        result.close()
