"""The schema's ``~jobs`` table: reservations and errors of ``populate(reserve_jobs=True)``,
in DataJoint 0.14's exact layout so that workers of datajoint 0.14 and datajoint_rs can
share one queue.

A reservation is an INSERT of the job's primary key (table name, key hash): the server's
unique key makes it atomic, so two workers can never hold the same job."""

from __future__ import annotations

import contextlib
import os
import platform
import random
import time

from .blob import pack
from .errors import DuplicateError, QueryError
from .hash import key_hash
from .heading import Heading
from .settings import config
from .table import Table

ERROR_MESSAGE_LENGTH = 2047
TRUNCATION_APPENDIX = "...truncated"


def _native_blobs():
    """The key blob needs dj0 blobs: enable them for the insert if they are off (a config
    override copies the whole configuration, too slow to do for every job)."""
    if config.get("enable_python_native_blobs", True):
        return contextlib.nullcontext()
    return config(enable_python_native_blobs=True)


#: server errors after which the statement was rolled back whole and can simply be run again:
#: a deadlock between reservations of several workers, a lock wait timeout
_RETRIABLE = (1213, 1205)
_ATTEMPTS = 8


def _retrying(run):
    """``run()``, again (after a short random pause) when the server rolled it back because
    of a deadlock with another worker's reservation."""
    for attempt in range(_ATTEMPTS):
        try:
            return run()
        except QueryError as err:
            if getattr(err, "errno", None) not in _RETRIABLE or attempt == _ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0.001, 0.01) * (attempt + 1))
    raise AssertionError("unreachable")


class JobTable(Table):
    """``schema.jobs``: one row per reserved, failed or ignored job."""

    def __init__(self, conn, database):
        self.database = database
        self._connection = conn
        self._heading = Heading(
            table_info=dict(conn=conn, database=database, table_name=self.table_name, context=None)
        )
        self._support = [self.full_table_name]
        # the same definition text as DataJoint 0.14 (so the DDL is identical)
        self._definition = f"""    # job reservation table for `{database}`
        table_name  :varchar(255)  # className of the table
        key_hash  :char(32)  # key hash
        ---
        status  :enum('reserved','error','ignore')  # if tuple is missing, the job is available
        key=null  :blob  # structure containing the key
        error_message=""  :varchar({ERROR_MESSAGE_LENGTH})  # error message returned if failed
        error_stack=null  :mediumblob  # error stack if failed
        user="" :varchar(255) # database user
        host=""  :varchar(255)  # system hostname
        pid=0  :int unsigned  # system process id
        connection_id = 0  : bigint unsigned          # connection_id()
        timestamp=CURRENT_TIMESTAMP  :timestamp   # automatic timestamp
        """
        if not self.is_declared:
            self.declare()
        self._user = self.connection.get_user()

    @property
    def definition(self):
        return self._definition

    @property
    def table_name(self):
        return "~jobs"

    def delete(self):
        """Delete the (restricted) rows without prompts or cascading."""
        self.delete_quick()

    def drop(self):
        """Drop the table without prompts."""
        self.drop_quick()

    def _job(self, table_name, key, status, **extra):
        return dict(
            table_name=table_name,
            key_hash=key_hash(key),
            status=status,
            host=platform.node(),
            pid=os.getpid(),
            connection_id=self.connection.connection_id,
            key=key,
            user=self._user,
            **extra,
        )

    def _packed_jobs(self, table_name, keys):
        """Reservation rows whose ``key`` is already packed (for statements written here)."""
        jobs = [self._job(table_name, key, "reserved") for key in keys]
        with _native_blobs():
            for job in jobs:
                job["key"] = pack(job["key"])
        return jobs

    def _claim(self, job):
        def insert():
            with _native_blobs():
                self.insert1(job, ignore_extra_fields=True)

        try:
            _retrying(insert)
        except DuplicateError:
            return False
        return True

    def reserve(self, table_name, key):
        """Reserve the job ``key`` of ``table_name``; False if it is taken (reserved, failed or
        ignored)."""
        return self._claim(self._job(table_name, key, "reserved"))

    def reserve_unless_made(self, table_name, key, made):
        """Reserve the job ``key`` of ``table_name`` unless ``made`` (a query: the job's rows
        in the target) has rows, in one atomic statement. False if the job is taken or made.

        This is the check DataJoint 0.14 makes in its own round trip inside the transaction;
        once the reservation holds, no reserving worker can make the key meanwhile."""
        [job] = self._packed_jobs(table_name, [key])
        columns = list(job)
        sql = self.adapter.insert_unless_exists(
            self.full_table_name,
            columns,
            made.adapter.any_row(made.from_clause(), made.where_clause()),
        )
        args = [job[c] for c in columns]
        try:
            cursor = _retrying(lambda: self.connection.query(sql, args))
        except DuplicateError:
            return False
        return cursor.rowcount == 1

    def reserve_many(self, table_name, keys):
        """Reserve many jobs in one statement; the set of the indices of ``keys`` reserved
        here (the others are taken: reserved, failed or ignored)."""
        jobs = self._packed_jobs(table_name, keys)
        columns = list(jobs[0])
        sql = self.adapter.insert_new_rows(self.full_table_name, columns, len(jobs))
        # rows in index order, so that workers reserving overlapping batches lock them in the
        # same order (fewer deadlocks; those left are retried)
        ordered = sorted(jobs, key=lambda job: job["key_hash"])
        args = [job[c] for job in ordered for c in columns]
        cursor = _retrying(lambda: self.connection.query(sql, args))
        if cursor.rowcount == len(jobs):
            return set(range(len(jobs)))
        # some were taken: ours are those reserved under this connection by this process
        mine = set(
            (
                self
                & {
                    "table_name": table_name,
                    "status": "reserved",
                    "connection_id": jobs[0]["connection_id"],
                    "host": jobs[0]["host"],
                    "pid": jobs[0]["pid"],
                }
                & [{"key_hash": job["key_hash"]} for job in jobs]
            ).fetch("key_hash")
        )
        return {i for i, job in enumerate(jobs) if job["key_hash"] in mine}

    def complete_many(self, table_name, key_hashes):
        """Remove the reservations of many finished jobs (given by their key hashes)."""
        key_hashes = sorted(key_hashes)
        if key_hashes:
            rows = (
                self
                & {"table_name": table_name, "status": "reserved"}
                & [{"key_hash": h} for h in key_hashes]
            )
            _retrying(rows.delete_quick)

    def ignore(self, table_name, key):
        """Mark the job ``key`` to be skipped by populate; False if it has an entry already."""
        return self._claim(self._job(table_name, key, "ignore"))

    def complete(self, table_name, key):
        """The job is done: remove its reservation."""
        _retrying((self & dict(table_name=table_name, key_hash=key_hash(key))).delete_quick)

    def error(self, table_name, key, error_message, error_stack=None):
        """Replace the reservation by an error entry (message truncated to the column)."""
        if len(error_message) > ERROR_MESSAGE_LENGTH:
            error_message = (
                error_message[: ERROR_MESSAGE_LENGTH - len(TRUNCATION_APPENDIX)]
                + TRUNCATION_APPENDIX
            )
        job = self._job(
            table_name, key, "error", error_message=error_message, error_stack=error_stack
        )

        def replace():
            with _native_blobs():
                self.insert1(job, replace=True, ignore_extra_fields=True)

        _retrying(replace)
