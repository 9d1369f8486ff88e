"""Parallel transfers of externally stored values (``blob@store``, ``attach``,
``attach@store``, ``filepath@store``) for insert, update1 and fetch.

Insert works in three phases, so that neither a failed upload nor a failed insert leaves the
store and the database disagreeing:

1. *prepare*, before any transaction the insert opens: attachments and filepaths are
   checksummed (natively, streaming, GIL released, on the thread pool) and filepaths checked
   against their tracking rows;
2. *upload* every object not already stored, on a bounded thread pool (a blob is packed,
   hashed and uploaded by one worker, so compression overlaps the other transfers). If any
   upload fails the insert raises here: no tracking row and no data row has been written;
3. *commit*: the ``~external_<store>`` tracking rows and the data rows go in together, in one
   transaction (a savepoint when the caller already holds a transaction), so a rejected data
   row (a duplicate, say) takes its tracking rows with it.

The database connection is used only by the calling thread; workers only hash and move bytes.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import os
import threading

from .settings import config

#: The kinds of externally stored values.
BLOB, ATTACH, FILEPATH = "blob", "attach", "filepath"


class PendingObject:
    """An attribute value of an insert that becomes a hash once its object is stored."""

    __slots__ = ("kind", "store", "value")

    def __init__(self, kind, store, value):
        self.kind = kind
        self.store = store
        self.value = value


#: Tasks per worker thread: items go to the pool in this many chunks per thread, so that
#: small, fast objects do not pay a future each (about 50 us) while uneven ones still balance.
_CHUNKS_PER_WORKER = 4


def run_parallel(function, items, *, desc=None, progress=None, local=False):
    """``[function(item) for item in items]`` on a bounded thread pool (``dj.config
    ["external.transfer_workers"]`` threads), in order. After the first failure no new item
    starts; it is raised once the running calls have finished. ``local``: the items are
    local-disk work (a ``file`` store), which gains nothing from more threads than cores
    (measured: 8 threads made a fetch of 200 small objects 1.6x slower than one)."""
    items = list(items)
    if progress is None:
        progress = config.get("external.progress", False)
    bar = _progress_bar(len(items), desc) if progress and items else None
    workers = min(int(config.get("external.transfer_workers", 8) or 1), len(items))
    if local:
        workers = min(workers, os.cpu_count() or 1)
    try:
        if workers <= 1:
            out = []
            for item in items:
                out.append(function(item))
                if bar is not None:
                    bar.update(1)
            return out
        out = [None] * len(items)
        failed = threading.Event()

        def run_chunk(start, stop):
            for i in range(start, stop):
                if failed.is_set():
                    return
                try:
                    out[i] = function(items[i])
                except BaseException:
                    failed.set()
                    raise
                if bar is not None:
                    bar.update(1)

        size = -(-len(items) // (workers * _CHUNKS_PER_WORKER))
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="dj-transfer"
        ) as pool:
            futures = [
                pool.submit(run_chunk, start, min(start + size, len(items)))
                for start in range(0, len(items), size)
            ]
            for future in concurrent.futures.as_completed(futures):
                future.result()  # the first failure ends the wait (the others stop soon)
        return out
    finally:
        if bar is not None:
            bar.close()


def _progress_bar(total, desc):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="obj")


def resolve_pending(table, value_lists):
    """Phases 1 and 2 of an insert for the ``PendingObject`` values in ``value_lists`` (lists
    of one row's values, modified in place: each pending value becomes its hash bytes).
    Returns the tracking statements ``[(sql, args)]`` to run with the data rows (phase 3)."""
    pending = [
        (values, i)
        for values in value_lists
        for i, v in enumerate(values)
        if isinstance(v, PendingObject)
    ]
    if not pending:
        return []
    from .external import external_table  # (external imports table, which imports us)

    statements = []
    by_store = {}
    for values, i in pending:
        by_store.setdefault(values[i].store, []).append((values, i))
    for store, cells in by_store.items():
        external = external_table(table.connection, table.database, store)
        hashes, store_statements = external.stage([values[i] for values, i in cells])
        for (values, i), uuid in zip(cells, hashes, strict=True):
            values[i] = uuid.bytes
        statements.extend(store_statements)
    return statements


@contextlib.contextmanager
def atomic(connection):
    """A transaction around the block; inside the caller's transaction, a savepoint, so a
    failed statement undoes the block's earlier statements and nothing else."""
    if not connection.in_transaction:
        with connection.transaction:
            yield
        return
    name = f"dj_external_{next(_savepoints)}"
    connection.query(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):  # the server may have rolled back already
            connection.query(f"ROLLBACK TO SAVEPOINT {name}")
        raise
    with contextlib.suppress(Exception):
        connection.query(f"RELEASE SAVEPOINT {name}")


_savepoints = itertools.count()

__all__ = [
    "ATTACH",
    "BLOB",
    "FILEPATH",
    "PendingObject",
    "atomic",
    "resolve_pending",
    "run_parallel",
]
