"""The schema's ``~jobs`` table: reservations and errors of ``populate(reserve_jobs=True)``,
in DataJoint 0.14's exact layout so that workers of datajoint 0.14 and datajoint_rs can
share one queue.

A reservation is an INSERT of the job's primary key (table name, key hash): the server's
unique key makes it atomic, so two workers can never hold the same job."""

from __future__ import annotations

import contextlib
import os
import platform

from .errors import DuplicateError
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

    def _claim(self, job):
        try:
            with _native_blobs():
                self.insert1(job, ignore_extra_fields=True)
        except DuplicateError:
            return False
        return True

    def reserve(self, table_name, key):
        """Reserve the job ``key`` of ``table_name``; False if it is taken (reserved, failed or
        ignored)."""
        return self._claim(self._job(table_name, key, "reserved"))

    def ignore(self, table_name, key):
        """Mark the job ``key`` to be skipped by populate; False if it has an entry already."""
        return self._claim(self._job(table_name, key, "ignore"))

    def complete(self, table_name, key):
        """The job is done: remove its reservation."""
        (self & dict(table_name=table_name, key_hash=key_hash(key))).delete_quick()

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
        with _native_blobs():
            self.insert1(job, replace=True, ignore_extra_fields=True)
