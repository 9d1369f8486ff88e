"""AutoPopulate: the mixin of Imported and Computed tables — ``make``, ``key_source``,
``populate`` and ``progress`` with DataJoint 0.14 behaviour.

Each ``make`` runs in its own transaction (rolled back if it raises, so nothing it inserted
remains); with ``reserve_jobs=True`` each key is first reserved in the schema's ``~jobs``
table (an atomic INSERT), and the key is re-checked inside the transaction, so a key is
computed once even with many workers on many machines."""

from __future__ import annotations

import inspect
import logging
import multiprocessing as mp
import multiprocessing.util as mp_util
import pickle
import random
import signal
import time
import traceback

from . import blob
from .condition import AndList
from .errors import DataJointError, LostConnectionError
from .expression import QueryExpression
from .hash import key_hash

logger = logging.getLogger(__name__.split(".")[0])


def _rename_attributes(table, props):
    """A parent projected onto the child's names of its primary key."""
    if props["aliased"]:
        return table.proj(**{a: r for a, r in props["attr_map"].items() if a != r})
    return table.proj()


def _fingerprint(data):
    """Bytes that are equal for equal fetched data (to detect changed inputs): the blob
    serialization, or for values a blob cannot hold (DataFrames, custom objects) a pickle,
    which covers every value (a ``repr`` would elide the middle of large frames)."""
    try:
        return blob.pack(data, compress=False)
    except DataJointError:
        return pickle.dumps(data, protocol=5)


class _Completions:
    """Reservations of finished jobs, removed from ``~jobs`` in batches (one DELETE for up to
    ``batch`` jobs, at least every ``max_age`` seconds) instead of one round trip per key.

    A finished job's rows are committed before its reservation is queued here, so a
    reservation that outlives its job (the worker was killed before the flush) only ever
    names a key that is already made: populate skips it like any made key."""

    def __init__(self, jobs, table_name, batch=64, max_age=0.5):
        self.jobs, self.table_name = jobs, table_name
        self.batch, self.max_age = batch, max_age
        self.pending, self.since = [], 0.0

    def add(self, job_key):
        if not self.pending:
            self.since = time.monotonic()
        self.pending.append(key_hash(job_key))
        if len(self.pending) >= self.batch or time.monotonic() - self.since >= self.max_age:
            self.flush()

    def flush(self):
        pending, self.pending = self.pending, []
        self.jobs.complete_many(self.table_name, pending)


class _Reservations:
    """Reserve the jobs of one process's keys, in batches sized so that a batch holds about
    ``seconds`` of work: a slow ``make`` reserves one key at a time (as DataJoint 0.14 does),
    fast ones share one reservation statement (and one "already made?" check) per batch.

    ``iterate(keys)`` yields ``(key, reserved)`` for every key; a reserved key is not made yet
    (checked after the reservation holds, as 0.14 checks inside the transaction). Keys
    reserved but not handed out when the iteration stops (an error, SIGTERM) are released."""

    def __init__(self, table, jobs, seconds=0.05, max_batch=32):
        self.table, self.jobs = table, jobs
        self.seconds, self.max_batch = seconds, max_batch
        self.table_name = table.target.table_name

    def iterate(self, keys):
        table, jobs = self.table, self.jobs
        size, start = 1, 0
        while start < len(keys):
            chunk = keys[start : start + size]
            start += len(chunk)
            began = time.monotonic()
            if len(chunk) == 1:
                key = chunk[0]
                ok = jobs.reserve_unless_made(
                    self.table_name, table._job_key(key), table.target & key
                )
                yield key, ok
            else:
                yield from self._batch(chunk)
            per_key = (time.monotonic() - began) / len(chunk)
            size = max(1, min(self.max_batch, int(self.seconds / max(per_key, 1e-6))))

    def _batch(self, chunk):
        table, jobs = self.table, self.jobs
        job_keys = [table._job_key(key) for key in chunk]
        ours = jobs.reserve_many(self.table_name, job_keys)
        made = set()
        if ours:
            attrs = list(chunk[0])
            rows = (table.target & [chunk[i] for i in sorted(ours)]).fetch(*attrs, as_dict=True)
            present = {tuple(row[a] for a in attrs) for row in rows}
            made = {i for i in ours if tuple(chunk[i][a] for a in attrs) in present}
            if made:  # made by someone else meanwhile: release them
                jobs.complete_many(self.table_name, [key_hash(job_keys[i]) for i in made])
        pending = [i for i in range(len(chunk)) if i in ours and i not in made]
        try:
            for i, key in enumerate(chunk):
                if pending and pending[0] == i:
                    pending.pop(0)
                yield key, i in ours and i not in made
        finally:
            if pending:  # stopped early: release what was reserved and not handed out
                jobs.complete_many(self.table_name, [key_hash(job_keys[i]) for i in pending])


# ---- worker processes (processes > 1) ------------------------------------------------------
_worker_state = {}


def _initialize_worker(table, jobs, populate_kwargs):
    """In each worker: its own connection (the parent's socket is not shared)."""
    table.connection.connect()
    if jobs is not None:
        jobs.connection.connect()
        completions = _Completions(jobs, table.target.table_name)
        # flushed when the worker exits (pool.close + join lets workers exit normally; a
        # SIGTERM becomes SystemExit, which exits normally too)
        mp_util.Finalize(completions, completions.flush, exitpriority=10)
        populate_kwargs = dict(populate_kwargs, completions=completions)
    _worker_state.update(table=table, jobs=jobs, populate_kwargs=populate_kwargs)


def _call_populate1(key):
    state = _worker_state
    return state["table"]._populate1(key, state["jobs"], **state["populate_kwargs"])


class AutoPopulate:
    """Mixin for tables that fill themselves from ``key_source`` with ``make(key)``."""

    _key_source = None
    _allow_insert = False

    @property
    def key_source(self):
        """The keys to populate: by default the join of the primary-key parents, projected
        onto their primary keys (renamed foreign keys projected too)."""
        if self._key_source is None:
            parents = self.target.parents(primary=True, as_objects=True, foreign_key_info=True)
            if not parents:
                raise DataJointError(
                    "A table must have dependencies from its primary key for auto-populate to work"
                )
            self._key_source = _rename_attributes(*parents[0])
            for q in parents[1:]:
                self._key_source *= _rename_attributes(*q)
        return self._key_source

    @property
    def target(self):
        """The table that ``populate`` fills (self, unless overridden)."""
        return self

    def _job_key(self, key):
        """The key under which a job is reserved (override for coarser reservations)."""
        return key

    def make(self, key, **kwargs):
        """Compute and insert the rows of one ``key``. Override it, or define
        ``make_fetch(key)``, ``make_compute(key, *fetched)`` and ``make_insert(key,
        *computed)``: then the computation runs outside the transaction and the inputs are
        fetched again inside it and must not have changed. ``kwargs`` (``populate(...,
        make_kwargs=...)``) go to ``make_fetch``, as in DataJoint 0.14."""
        if not (
            hasattr(self, "make_fetch")
            and hasattr(self, "make_insert")
            and hasattr(self, "make_compute")
        ):
            raise NotImplementedError(
                "Subclasses of AutoPopulate must implement the method `make` "
                "or (`make_fetch` + `make_compute` + `make_insert`)"
            )
        fetched_data = self.make_fetch(key, **kwargs)
        computed_result = yield fetched_data
        if computed_result is None:
            computed_result = self.make_compute(key, *fetched_data)
            yield computed_result
        self.make_insert(key, *computed_result)
        yield

    def _jobs_to_do(self, restrictions):
        """The keys of ``key_source`` under ``restrictions`` (projected onto the key)."""
        if self.restriction:
            raise DataJointError(
                "Cannot call populate on a restricted table. "
                "Instead, pass conditions to populate() as arguments."
            )
        todo = self.key_source
        if inspect.isclass(todo) and issubclass(todo, QueryExpression):
            todo = todo()
        if not isinstance(todo, QueryExpression):
            raise DataJointError("Invalid key_source value")
        missing = next((n for n in todo.heading.primary_key if n not in self.target.heading), None)
        if missing is not None:
            raise DataJointError(
                f"The populate target lacks attribute {missing} from the primary key of key_source"
            )
        return (todo & AndList(restrictions)).proj()

    def populate(
        self,
        *restrictions,
        keys=None,
        suppress_errors=False,
        return_exception_objects=False,
        reserve_jobs=False,
        order="original",
        limit=None,
        max_calls=None,
        display_progress=False,
        processes=1,
        make_kwargs=None,
    ):
        """Call ``make`` for every key of ``key_source & restrictions`` not yet in the table.

        Returns ``{"success_count": n, "error_list": [...]}`` (errors are collected only
        with ``suppress_errors``). ``reserve_jobs`` coordinates workers through the schema's
        ``~jobs`` table; ``processes > 1`` runs a pool of worker processes, each with its own
        connection."""
        if self.connection.in_transaction:
            raise DataJointError("Populate cannot be called during a transaction.")
        valid_order = ["original", "reverse", "random"]
        if order not in valid_order:
            raise DataJointError("The order argument must be one of %s" % str(valid_order))
        jobs = self.connection.schemas[self.target.database].jobs if reserve_jobs else None

        old_handler = None
        if reserve_jobs:

            def handler(signum, frame):
                logger.info("Populate terminated by SIGTERM")
                raise SystemExit("SIGTERM received")

            old_handler = signal.signal(signal.SIGTERM, handler)
        try:
            if keys is None:
                keys = (self._jobs_to_do(restrictions) - self.target).fetch("KEY", limit=limit)
            if reserve_jobs:
                # keys with an error, ignore or reservation entry are skipped
                excluded = set(
                    (
                        jobs
                        & {"table_name": self.target.table_name}
                        & 'status in ("error", "ignore", "reserved")'
                    ).fetch("key_hash")
                )
                keys = [k for k in keys if key_hash(self._job_key(k)) not in excluded]
            if order == "reverse":
                keys.reverse()
            elif order == "random":
                random.shuffle(keys)
            logger.debug("Found %d keys to populate" % len(keys))
            keys = keys[:max_calls]
            populate_kwargs = dict(
                suppress_errors=suppress_errors,
                return_exception_objects=return_exception_objects,
                make_kwargs=make_kwargs,
            )
            success_count, error_list = 0, []
            if processes == 1 or len(keys) <= 1:
                completions = None
                if jobs is None:
                    source = ((key, None) for key in keys)
                else:
                    completions = _Completions(jobs, self.target.table_name)
                    source = _Reservations(self, jobs).iterate(keys)
                work = source
                if display_progress:
                    from tqdm import tqdm

                    work = tqdm(source, total=len(keys), desc=self.__class__.__name__)
                try:
                    for key, reserved in work:
                        if reserved is False:
                            continue  # taken by another worker, or made meanwhile
                        status = self._populate1(
                            key,
                            jobs,
                            completions=completions,
                            reserved=reserved,
                            **populate_kwargs,
                        )
                        if status is True:
                            success_count += 1
                        elif isinstance(status, tuple):
                            error_list.append(status)
                finally:
                    source.close()  # releases reserved keys not handed out
                    if work is not source:
                        work.close()
                    if completions is not None:
                        completions.flush()
            else:
                processes = min(p for p in (processes, len(keys), mp.cpu_count()) if p)
                # the children open their own connections; the parent's is closed meanwhile
                self.connection.close()
                try:
                    with mp.get_context("fork").Pool(
                        processes, _initialize_worker, (self, jobs, populate_kwargs)
                    ) as pool:
                        results = pool.imap(_call_populate1, keys, chunksize=1)
                        if display_progress:
                            from tqdm import tqdm

                            results = tqdm(results, desc="Processes: ", total=len(keys))
                        for status in results:
                            if status is True:
                                success_count += 1
                            elif isinstance(status, tuple):
                                error_list.append(status)
                        pool.close()  # workers exit normally and flush their completions
                        pool.join()
                finally:
                    self.connection.connect()
            return {"success_count": success_count, "error_list": error_list}
        finally:
            if reserve_jobs:
                signal.signal(signal.SIGTERM, old_handler)

    def _populate1(
        self,
        key,
        jobs,
        suppress_errors,
        return_exception_objects,
        make_kwargs=None,
        completions=None,
        reserved=None,
    ):
        """Make one key in its own transaction. True if made, False if skipped (taken or
        already present), or (key, error) when an error is suppressed. ``completions``
        (with ``jobs``) batches the removal of finished reservations; ``reserved=True``: the
        job is reserved already and the key was found not made after that."""
        make = self._make_tuples if hasattr(self, "_make_tuples") else self.make
        is_generator = inspect.isgeneratorfunction(make)
        # with jobs: reserved only if not made by someone else meanwhile (one statement)
        if (
            jobs is not None
            and not reserved
            and not jobs.reserve_unless_made(
                self.target.table_name, self._job_key(key), self.target & key
            )
        ):
            return False
        if not is_generator:
            self.connection.start_transaction()
        if jobs is None and key in self.target:  # made by someone else meanwhile
            if not is_generator:
                self.connection.cancel_transaction()
            return False
        logger.debug(f"Making {key} -> {self.target.full_table_name}")
        self.__class__._allow_insert = True
        try:
            if not is_generator:
                make(dict(key), **(make_kwargs or {}))
            else:
                # fetch and compute outside the transaction, then fetch again inside it
                gen = make(dict(key), **(make_kwargs or {}))
                fetched = _fingerprint(next(gen))
                computed = next(gen)
                self.connection.start_transaction()
                gen = make(dict(key), **(make_kwargs or {}))
                if _fingerprint(next(gen)) != fetched:
                    raise DataJointError(
                        "Referential integrity failed! The `make_fetch` data has changed"
                    )
                gen.send(computed)
        except (KeyboardInterrupt, SystemExit, Exception) as error:
            try:
                self.connection.cancel_transaction()
            except LostConnectionError:
                pass
            message = error.__class__.__name__ + (": " + str(error) if str(error) else "")
            logger.debug(f"Error making {key} -> {self.target.full_table_name} - {message}")
            if jobs is not None:
                jobs.error(
                    self.target.table_name,
                    self._job_key(key),
                    error_message=message,
                    error_stack=traceback.format_exc(),
                )
            if not suppress_errors or isinstance(error, SystemExit):
                raise
            logger.error(error)
            return key, error if return_exception_objects else message
        else:
            self.connection.commit_transaction()
            logger.debug(f"Success making {key} -> {self.target.full_table_name}")
            if completions is not None:
                completions.add(self._job_key(key))
            elif jobs is not None:
                jobs.complete(self.target.table_name, self._job_key(key))
            return True
        finally:
            self.__class__._allow_insert = False

    def progress(self, *restrictions, display=False):
        """(remaining, total) keys of ``key_source & restrictions``."""
        todo = self._jobs_to_do(restrictions)
        total = len(todo)
        remaining = len(todo - self.target)
        if display:
            logger.info(
                "%-20s" % self.__class__.__name__
                + " Completed %d of %d (%2.1f%%)"
                % (total - remaining, total, 100 - 100 * remaining / (total + 1e-12))
            )
        return remaining, total
