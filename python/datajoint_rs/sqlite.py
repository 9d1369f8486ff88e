"""The SQLite backend's connection (see docs/design-sqlite.md).

All schemas of a pipeline live in one SQLite file, so that foreign keys between schemas are
enforced; the table ``#subject`` of schema ``lab`` is the SQLite table ``lab.#subject``. The
rest of the package keeps writing `` `lab`.`#subject` `` (and MySQL's ``%s`` placeholders and
double-quoted strings): :func:`rewrite` turns such SQL into SQLite's before it runs.
"""

from __future__ import annotations

import datetime
import decimal
import getpass
import itertools
import logging
import os
import pathlib
import re
import sqlite3
import threading
import uuid
from collections.abc import Mapping

from . import errors
from .connection import Connection as _Connection

logger = logging.getLogger(__name__.split(".")[0])

#: the catalog of schema names (one row per schema, created with the file)
SCHEMAS_TABLE = "~~schemas"

# One token of interest per match; everything between matches is copied unchanged.
_TOKENS = re.compile(
    r"""
      (?P<single>'(?:[^']|'')*')                      # a string literal (SQLite: '' escapes)
    | (?P<double>"(?:[^"\\]|""|\\.)*")                # MySQL: a string literal in double quotes
    | (?P<qualified>`(?:[^`]|``)+`\s*\.\s*`(?:[^`]|``)+`)   # `schema`.`table`
    | (?P<ident>`(?:[^`]|``)*`)                       # any other quoted identifier
    | (?P<line>--[^\n]*)                              # a comment to the end of the line
    | (?P<block>/\*.*?\*/)                            # a block comment
    | (?P<param>%\((?P<name>\w+)\)s|%s|%%)            # placeholders and an escaped percent
    | (?P<end>;)                                      # the end of a statement
    """,
    re.VERBOSE | re.DOTALL,
)
_QUALIFIED = re.compile(r"`((?:[^`]|``)+)`\s*\.\s*`((?:[^`]|``)+)`")


def rewrite(sql: str, schemas=None, params: bool = True) -> str:
    """MySQL-flavoured SQL as written by datajoint_rs (and by users in restriction strings)
    turned into SQLite's.

    - `` `lab`.`#subject` `` becomes `` `lab.#subject` `` when ``lab`` is in ``schemas`` (all
      qualified names when ``schemas`` is None);
    - a double-quoted string (MySQL reads it as a string, SQLite would look for a column of
      that name first) becomes a single-quoted one;
    - with ``params``: ``%s`` becomes ``?``, ``%(name)s`` becomes ``:name`` and ``%%`` becomes
      ``%``, as the MySQL driver's %-formatting would have done.

    Comments and other quoted identifiers are copied unchanged, string literals too except
    for ``%%`` (the literals of the adapters double ``%``)."""

    def replace(match):
        kind = match.lastgroup
        text = match.group(0)
        if kind == "qualified":
            db, table = _QUALIFIED.match(text).groups()
            if schemas is None or db.replace("``", "`") in schemas:
                return f"`{db}.{table}`"
            return text
        if kind == "single":  # the driver's %-formatting reaches inside literals too
            return text.replace("%%", "%") if params else text
        if kind == "double":
            body = text[1:-1].replace('""', '"')
            body = re.sub(r"\\(.)", lambda m: _BACKSLASH.get(m.group(1), m.group(1)), body)
            if params:
                body = body.replace("%%", "%")
            return "'" + body.replace("'", "''") + "'"
        if kind == "param":
            if not params:
                return text
            if text == "%%":
                return "%"
            name = match.group("name")
            return f":{name}" if name else "?"
        return text

    return _TOKENS.sub(replace, sql)


_BACKSLASH = {"n": "\n", "r": "\r", "t": "\t", "0": "\0", "Z": "\x1a"}


def split_statements(sql: str) -> list[str]:
    """The statements of a script, split at semicolons outside strings, identifiers and
    comments (empty statements dropped)."""
    if ";" not in sql:
        return [sql]
    statements, start = [], 0
    for match in _TOKENS.finditer(sql):
        if match.lastgroup == "end":
            statements.append(sql[start : match.start()])
            start = match.end()
    statements.append(sql[start:])
    return [s for s in statements if s.strip()]


def split_full_table_name(full_table_name: str) -> tuple[str, str]:
    """`` `db`.`table` `` -> (db, table)."""
    match = _QUALIFIED.fullmatch(full_table_name.strip())
    if not match:
        raise errors.DataJointError(f"Not a full table name: {full_table_name!r}")
    return tuple(part.replace("``", "`") for part in match.groups())


# ---- errors -------------------------------------------------------------------------------
_ERROR_PATTERNS = (
    (re.compile(r"UNIQUE constraint failed|PRIMARY KEY must be unique"), errors.DuplicateError),
    (re.compile(r"FOREIGN KEY constraint failed"), errors.IntegrityError),
    (re.compile(r"NOT NULL constraint failed"), errors.MissingAttributeError),
    (re.compile(r"no such table"), errors.MissingTableError),
    (re.compile(r"no such column|has no column named"), errors.UnknownAttributeError),
    (re.compile(r"syntax error|incomplete input|unrecognized token"), errors.QuerySyntaxError),
    (re.compile(r"database is locked|database table is locked"), errors.LostConnectionError),
)


def translate_error(error: sqlite3.Error, query: str) -> errors.DataJointError:
    """The ``dj.errors`` exception for an sqlite3 exception raised by ``query``: the same
    classes as for the same mistakes on MySQL."""
    message = str(error)
    for pattern, cls in _ERROR_PATTERNS:
        if pattern.search(message):
            if cls in (errors.MissingTableError, errors.QuerySyntaxError):
                return cls(message, query)
            if cls is errors.LostConnectionError:
                return cls(f"The SQLite database stayed locked: {message}", query)
            return cls(message)
    if "CHECK constraint failed" in message:
        name = message.split("CHECK constraint failed:", 1)[1].strip()
        what = f"attribute `{name}`" if re.fullmatch(r"\w+", name) else "an attribute"
        return errors.DataJointError(
            f"The value of {what} is out of the range or format of its declared type "
            f"(SQLite: {message})"
        )
    if isinstance(error, sqlite3.ProgrammingError) and "closed" in message:
        return errors.LostConnectionError("The SQLite connection is closed", query)
    return errors.QueryError(message, query)


# ---- values -------------------------------------------------------------------------------
_NATIVE = frozenset({int, float, str, bytes, type(None)})


def _adapt_value(value):
    """A Python value as sqlite3 stores it (the MySQL driver's conversions)."""
    if type(value) in _NATIVE:
        return value
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time, decimal.Decimal)):
        return str(value)
    if isinstance(value, datetime.timedelta):
        from .adapters.mysql import _time_literal

        return _time_literal(value)
    if isinstance(value, uuid.UUID):
        return value.bytes
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return value.item()
    return value


def _adapt_args(args):
    if args is None:
        return ()
    if isinstance(args, Mapping):
        return {k: _adapt_value(v) for k, v in args.items()}
    if all(type(v) in _NATIVE for v in args):
        return args
    return [_adapt_value(v) for v in args]


class _Cursor:
    """The part of the DB-API cursor the package uses, over an sqlite3 cursor: rows are
    tuples, or dicts with ``as_dict``."""

    def __init__(self, cursor: sqlite3.Cursor, as_dict: bool):
        self._cursor = cursor
        self._as_dict = as_dict
        self.description = cursor.description
        self.rowcount = cursor.rowcount
        self.lastrowid = cursor.lastrowid

    def _row(self, row):
        if row is None or not self._as_dict:
            return row
        return dict(zip((d[0] for d in self.description), row, strict=True))

    def fetchone(self):
        return self._row(self._cursor.fetchone())

    def fetchmany(self, size=1000):
        return [self._row(r) for r in self._cursor.fetchmany(size)]

    def fetchall(self):
        rows = self._cursor.fetchall()
        return [self._row(r) for r in rows] if self._as_dict else rows

    def __iter__(self):
        return (self._row(r) for r in self._cursor)

    def close(self):
        self._cursor.close()


_ids = itertools.count(1)


def sqlite_path(path) -> pathlib.Path:
    """The database file of ``path`` (a folder means ``<folder>/datajoint.sqlite``)."""
    path = pathlib.Path(os.path.expanduser(str(path)))
    if path.is_dir():
        path = path / "datajoint.sqlite"
    return path


class SQLiteConnection:
    """A connection to a pipeline kept in one SQLite file, with the interface of
    :class:`datajoint_rs.connection.Connection`."""

    backend = "sqlite"

    def __init__(self, path, init_fun=None, busy_timeout=30.0):
        from .adapters import get_adapter
        from .dependencies import Dependencies

        self.path = sqlite_path(path)
        self.adapter = get_adapter("sqlite")
        self.busy_timeout = float(busy_timeout)
        self.init_fun = init_fun
        self.conn_info = dict(host=str(self.path), port=None, user=getpass.getuser(), passwd=None)
        self._conn = None
        self._pid = os.getpid()
        self._lock = threading.RLock()
        self._in_transaction = False
        self._query_cache = None
        self._schema_names = None
        self.connection_id = None
        self.schemas = dict()
        self.dependencies = Dependencies(self)
        self.connect()
        logger.info(f"DataJoint connected to the SQLite database {self.path}")

    def __repr__(self):
        state = "connected" if self._conn is not None else "disconnected"
        return f"DataJoint connection ({state}) sqlite:{self.path}"

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    # ---- connecting ----------------------------------------------------------------------
    def connect(self):
        """Open (or reopen) the database file, creating it and its catalog if needed."""
        self.close()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,  # autocommit outside explicit transactions
                check_same_thread=False,
            )
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS `{SCHEMAS_TABLE}` (name TEXT PRIMARY KEY) STRICT"
            )
            if self.init_fun:
                conn.execute(self.init_fun)
        except (sqlite3.Error, OSError) as err:
            raise errors.LostConnectionError(
                f"Cannot open the SQLite database {self.path}: {err}"
            ) from err
        self._conn = conn
        self._pid = os.getpid()
        self._schema_names = None
        self.connection_id = os.getpid() * 1000 + next(_ids) % 1000
        self._in_transaction = False

    def close(self):
        if self._conn is not None:
            if self._pid == os.getpid():
                try:
                    self._conn.close()
                except sqlite3.Error:
                    pass
            # else: inherited through fork. SQLite must not touch the parent's handle in the
            # child (closing it could checkpoint the WAL under the parent); it is abandoned.
            self._conn = None

    def ping(self):
        if self._conn is None:
            raise errors.LostConnectionError("Not connected")

    @property
    def is_connected(self):
        return self._conn is not None

    def register(self, schema):
        self.schemas[schema.database] = schema
        if self.dependencies is not None:
            self.dependencies.clear()

    def set_query_cache(self, query_cache=None):
        if query_cache is not None:
            raise errors.DataJointError("The query cache is not available on SQLite yet.")

    def purge_query_cache(self):
        pass

    # ---- schema names --------------------------------------------------------------------
    @property
    def schema_names(self) -> set[str]:
        """The schemas in the file (cached; refreshed when a schema is created or dropped)."""
        if self._schema_names is None:
            rows = self._conn.execute(f"SELECT name FROM `{SCHEMAS_TABLE}`").fetchall()
            self._schema_names = {name for (name,) in rows}
        return self._schema_names

    def forget_schema_names(self):
        self._schema_names = None

    # ---- queries -------------------------------------------------------------------------
    def query(
        self,
        query,
        args=(),
        *,
        as_dict=False,
        suppress_warnings=True,
        reconnect=None,
        raw_numbers=False,
        unbuffered=False,
    ):
        """Run one SQL statement (MySQL-flavoured, see :func:`rewrite`) and return a cursor.
        ``raw_numbers`` and ``unbuffered`` are accepted for the interface's sake: SQLite
        returns numbers as numbers and reads rows lazily anyway."""
        if self._conn is None or self._pid != os.getpid():  # a forked child opens its own
            self.connect()
        if isinstance(query, (bytes, bytearray)):
            query = bytes(query).decode()
        # as the MySQL driver: %-formatting (placeholders, "%%") only when args are given
        sql = rewrite(query, self.schema_names, params=args is not None)
        logger.debug("Executing SQL: " + sql[:1000])
        statements = split_statements(sql)
        with self._lock:
            try:
                if len(statements) <= 1:
                    cursor = self._conn.execute(sql, _adapt_args(args or ()))
                else:  # a script (a table and its indexes): all of it or nothing
                    if args:
                        raise errors.DataJointError("A script of statements takes no arguments")
                    self._conn.execute("SAVEPOINT dj_script")
                    try:
                        for statement in statements:
                            cursor = self._conn.execute(statement)
                    except BaseException:
                        self._conn.execute("ROLLBACK TO dj_script")
                        self._conn.execute("RELEASE dj_script")
                        raise
                    self._conn.execute("RELEASE dj_script")
            except sqlite3.Error as err:
                raise translate_error(err, sql) from err
        return _Cursor(cursor, as_dict)

    def executemany(self, query, rows):
        """One statement run for many rows of parameters (inserts)."""
        sql = rewrite(query, self.schema_names)
        with self._lock:
            try:
                cursor = self._conn.executemany(sql, (_adapt_args(r) for r in rows))
            except sqlite3.Error as err:
                raise translate_error(err, sql) from err
        return _Cursor(cursor, False)

    def literal(self, value) -> bytes:
        """``value`` as an SQLite literal (bytes, as the MySQL driver's ``literal``)."""
        return self.adapter.literal(value).encode()

    def get_user(self):
        return f"{self.conn_info['user']}@localhost"

    # ---- transactions --------------------------------------------------------------------
    @property
    def in_transaction(self):
        return self._in_transaction and self._conn is not None

    def start_transaction(self):
        if self.in_transaction:
            raise errors.DataJointError("Nested connections are not supported.")
        # the write lock from the start: a transaction that read first could not write once
        # another process committed (SQLITE_BUSY_SNAPSHOT); readers are not blocked (WAL)
        self.query("BEGIN IMMEDIATE")
        self._in_transaction = True

    def cancel_transaction(self):
        if self._conn is not None and self._conn.in_transaction:
            self.query("ROLLBACK")
        self._in_transaction = False

    def commit_transaction(self):
        self.query("COMMIT")
        self._in_transaction = False

    # ``with conn.transaction:`` as on MySQL (committed at the end, rolled back if it raises)
    transaction = _Connection.transaction
