"""The database connection: ``dj.conn()`` (one shared connection per process) and
``dj.Connection``, with DataJoint 0.14's behaviour on top of the ``mysqlclient`` driver
(``MySQLdb``, a C extension, in place of 0.14's pure-Python ``pymysql``).

What matches DataJoint 0.14: the session settings (sql_mode, autocommit, charset, init
command), ``host:port`` parsing, TLS choices, ``query`` returning a DB-API cursor, the
translation of server errors into ``dj.errors`` classes, re-running a query once after a lost
connection (but not inside a transaction), transactions, and the query cache.

Differences, all on the side of robustness: no driver exception ever escapes (unmapped
server errors become ``QueryError``), ``use_tls=True`` really refuses an unencrypted
connection, ``connection_id`` is refreshed after a reconnect, and ``dj.conn()`` raises
instead of waiting forever for a username/password on a non-interactive stdin.
"""

from __future__ import annotations

import builtins
import getpass
import logging
import pathlib
import re
import sys
import warnings
from collections.abc import Mapping
from contextlib import contextmanager

try:
    import MySQLdb
    import MySQLdb.cursors
    from MySQLdb.constants import FIELD_TYPE

    _DriverError = MySQLdb.Error
except ImportError:  # pragma: no cover - mysqlclient is a dependency; fail on use, not import
    MySQLdb = None
    FIELD_TYPE = None

    class _DriverError(Exception):
        pass


from . import errors
from .blob import pack, unpack
from .dependencies import Dependencies
from .hash import uuid_from_buffer
from .settings import config
from .version import __version__

logger = logging.getLogger(__name__.split(".")[0])

query_log_max_length = 300  # characters of SQL shown in debug logs
cache_key = "query_cache"  # the dj.config key naming the folder of the query cache

#: The session sql_mode DataJoint sets on every connection.
SQL_MODE = (
    "NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
    "STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,ONLY_FULL_GROUP_BY"
)
_CONNECT_TIMEOUT = 10  # seconds, as pymysql's default
_CACHEABLE = re.compile(r"\s*(SELECT|SHOW)", re.IGNORECASE)
_HASH_ALIAS = re.compile(r"`\$\w+`")

# server/client error codes that mean the connection is gone. 0, 2006 and 2013 are DataJoint
# 0.14's; the others are what MariaDB and MySQL 8 answer in the same situation (1927: the
# connection was killed; 2026: a TLS read hit EOF because the server closed the socket;
# 2055: lost connection at a system call; 4031: disconnected for inactivity).
_LOST_CONNECTION = {
    0: "Server connection lost due to an interface error.",
    2006: "Connection timed out",
    2013: "Server connection lost",
    1927: "Server connection lost",
    2026: "Server connection lost",
    2055: "Server connection lost",
    4031: "Server connection lost",
}
_ACCESS_DENIED_AT_LOGIN = (1044, 1045, 1698)
_CONNECTION_REFUSED = (2002, 2003)


def _code_and_message(client_error):
    """(error code or None, message) of a driver exception."""
    args = client_error.args
    if len(args) >= 2 and isinstance(args[0], int):
        return args[0], str(args[1])
    if args and args[0] == "(0, '')":
        return 0, ""
    return None, " ".join(str(a) for a in args) or type(client_error).__name__


# Field types whose cells ``query(..., raw_numbers=True)`` leaves as raw text (parsed into
# whole columns by ``fetch``).
INT_FIELD_TYPES = (
    frozenset()
    if FIELD_TYPE is None
    else frozenset(
        {FIELD_TYPE.TINY, FIELD_TYPE.SHORT, FIELD_TYPE.LONG, FIELD_TYPE.LONGLONG, FIELD_TYPE.INT24}
    )
)
FLOAT_FIELD_TYPES = (
    frozenset() if FIELD_TYPE is None else frozenset({FIELD_TYPE.FLOAT, FIELD_TYPE.DOUBLE})
)
_RAW_NUMBER_TYPES = INT_FIELD_TYPES | FLOAT_FIELD_TYPES

# Binary arguments at least this long are sent as hex literals (see Connection._execute).
_HEX_MIN_BYTES = 1024


class HexBytes(bytes):
    """A bytes query argument rendered as the literal X'...'."""


def _hex_literal(value, _encoders=None):
    return b"X'" + value.hex().encode() + b"'"


def translate_query_error(client_error, query):
    """The ``dj.errors`` exception for a driver exception raised by ``query``.

    Mapped server codes give DataJoint 0.14's classes with 0.14's ``args``; any other
    driver error gives a ``QueryError(message, query)``. The server's error code is kept
    as the ``errno`` attribute of the result."""
    code, message = _code_and_message(client_error)
    logger.debug("type: %s, args: %s", type(client_error), client_error.args)
    if code in _LOST_CONNECTION:
        exc = errors.LostConnectionError(_LOST_CONNECTION[code], message)
    elif code in (1044, 1142):
        exc = errors.AccessError("Insufficient privileges.", message, query)
    elif code == 1062:
        exc = errors.DuplicateError(message)
    elif code in (1217, 1451, 1452):
        exc = errors.IntegrityError(message)
    elif code == 1064:
        exc = errors.QuerySyntaxError(message, query)
    elif code == 1146:
        exc = errors.MissingTableError(message, query)
    elif code == 1364:
        exc = errors.MissingAttributeError(message)
    elif code == 1054:
        exc = errors.UnknownAttributeError(message)
    else:
        exc = errors.QueryError(message, query)
    exc.errno = code
    return exc


def _can_prompt():
    """Whether asking the user with input()/getpass() can get an answer."""
    if getattr(builtins.input, "__module__", "builtins") != "builtins":
        return True  # a front end (Jupyter's kernel) answers input() itself
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _ask(what, prompt, secret):
    if not _can_prompt():
        raise errors.DataJointError(
            f"No database {what} is configured and standard input is not a terminal to ask "
            f"for it: set dj.config['database.{what}'] (or the DJ_{what[:4].upper()} "
            "environment variable), or pass it to dj.conn()."
        )
    # looked up at call time: Jupyter's kernel replaces getpass.getpass and builtins.input
    return getpass.getpass(prompt=prompt) if secret else input(prompt)


def conn(host=None, user=None, password=None, *, init_fun=None, reset=False, use_tls=None):
    """The connection shared by the whole process, created on first use (or when
    ``reset=True``). Arguments left ``None`` are taken from ``dj.config``; a username or
    password missing there too is asked for on the terminal.

    :param host: host name, optionally with ``:port``
    :param user: database user
    :param password: its password
    :param init_fun: SQL run at the start of every (re)connection
    :param reset: replace the shared connection with a new one
    :param use_tls: True (TLS required), False (no TLS), None (TLS if the server offers it),
        or a dict of TLS options (``ca``, ``cert``, ``key``, ``capath``, ``cipher``, ...)
    """
    if reset or not hasattr(conn, "connection"):
        backend = str(config.get("database.backend") or "mysql").lower()
        if backend == "sqlite":
            from .sqlite import SQLiteConnection

            init_fun = init_fun if init_fun is not None else config["connection.init_function"]
            conn.connection = SQLiteConnection(config["database.path"], init_fun=init_fun)
            return conn.connection
        if backend != "mysql":
            raise errors.DataJointError(
                f'Unknown database.backend "{backend}": use "mysql" or "sqlite"'
            )
        host = host if host is not None else config["database.host"]
        user = user if user is not None else config["database.user"]
        password = password if password is not None else config["database.password"]
        if user is None:
            user = _ask("user", "Please enter DataJoint username: ", secret=False)
        if password is None:
            password = _ask("password", "Please enter DataJoint password: ", secret=True)
        init_fun = init_fun if init_fun is not None else config["connection.init_function"]
        use_tls = use_tls if use_tls is not None else config["database.use_tls"]
        conn.connection = Connection(host, user, password, None, init_fun, use_tls)
    return conn.connection


class EmulatedCursor:
    """A read-only cursor over rows already in memory (served from the query cache)."""

    def __init__(self, data):
        self._data = data
        self._iter = iter(self._data)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._iter)

    def close(self):
        """Nothing to release (DB-API compatibility)."""

    def fetchall(self):
        return self._data

    def fetchone(self):
        return next(self._iter, None)

    @property
    def rowcount(self):
        return len(self._data)


def _split_host(host, port):
    """(host, port) from ``"host"``, ``"host:port"``, ``"[v6]:port"`` or a bare IPv6 address."""
    if host.startswith("[") and "]" in host:
        name, _, rest = host[1:].partition("]")
        if rest.startswith(":"):
            port = rest[1:]
        host = name
    elif host.count(":") == 1:  # more than one colon: a bare IPv6 address, no port
        host, port = host.split(":")
    if port is None:
        port = config["database.port"]
    try:
        return host, int(port)
    except (TypeError, ValueError):
        raise errors.DataJointError(f"Invalid port {port!r} for database host {host!r}") from None


def _tls_attempts(use_tls):
    """The driver TLS options to try in turn, and whether TLS must be verified to be on."""
    if use_tls is False:
        return [{"ssl_mode": "DISABLED"}], False
    if use_tls is None:  # preferred: try TLS, then without
        return [{"ssl_mode": "REQUIRED"}, {"ssl_mode": "DISABLED"}], False
    if not isinstance(use_tls, dict):
        return [{"ssl_mode": "REQUIRED"}], True
    # a dict of TLS options, in pymysql's vocabulary (as DataJoint 0.14 documents them)
    ssl = {k: use_tls[k] for k in ("ca", "capath", "cert", "key", "cipher") if use_tls.get(k)}
    if use_tls.get("ssl_mode"):
        mode = use_tls["ssl_mode"]
    elif "ca" in ssl or "capath" in ssl:
        # pymysql verifies the server certificate against a given CA, and its host name
        # unless check_hostname is false
        verify_name = use_tls.get("check_hostname", True)
        mode = "VERIFY_IDENTITY" if verify_name else "VERIFY_CA"
    else:
        mode = "REQUIRED"
    options = {"ssl_mode": mode}
    if ssl:
        options["ssl"] = ssl
    return [options], mode != "DISABLED"


class Connection:
    """A connection to a MySQL/MariaDB server, plus the catalogue of the schemas activated on
    it (``schemas``) and their foreign-key graph (``dependencies``).

    :param host: host name; ``"host:port"`` overrides ``port``
    :param user: user name
    :param password: password
    :param port: port (default ``dj.config["database.port"]``)
    :param init_fun: SQL run at the start of every (re)connection
    :param use_tls: see :func:`conn`
    """

    def __init__(self, host, user, password, port=None, init_fun=None, use_tls=None):
        if MySQLdb is None:
            raise errors.DataJointError(
                "datajoint_rs needs the mysqlclient package (pip install mysqlclient)"
            )
        host_input = host
        if "://" in host:
            plugin = host.split("://")[0]
            raise errors.DataJointError(f"Connection plugin '{plugin}' not found.")
        host, port = _split_host(host, port)
        self.conn_info = dict(host=host, port=port, user=user, passwd=password)
        if use_tls is not False:
            self.conn_info["ssl"] = use_tls if isinstance(use_tls, dict) else {"ssl": {}}
        self.conn_info["ssl_input"] = use_tls
        self.conn_info["host_input"] = host_input
        self.init_fun = init_fun
        self._conn = None
        self._query_cache = None
        self._in_transaction = False
        self._fetch_reader = None  # the fetch engine's connections (datajoint_rs.engine)
        self._fetch_writer = None  # and its insert connection
        self.connection_id = None
        self.schemas = dict()
        self.dependencies = Dependencies(self)
        self.connect()
        if not self.is_connected:
            raise errors.LostConnectionError(
                "Connection failed {user}@{host}:{port}".format(**self.conn_info)
            )
        logger.info(
            "DataJoint {version} connected to {user}@{host}:{port}".format(
                version=__version__, **self.conn_info
            )
        )

    def __eq__(self, other):
        return isinstance(other, Connection) and self.conn_info == other.conn_info

    __hash__ = None  # mutable, compared by connection parameters (as in DataJoint 0.14)

    def __repr__(self):
        connected = "connected" if self.is_connected else "disconnected"
        return "DataJoint connection ({connected}) {user}@{host}:{port}".format(
            connected=connected, **self.conn_info
        )

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    # ---------- connecting
    def _where(self):
        return "{user}@{host}:{port}".format(**self.conn_info)

    def _connect_error(self, client_error):
        code, message = _code_and_message(client_error)
        cls = errors.AccessError if code in _ACCESS_DENIED_AT_LOGIN else errors.LostConnectionError
        exc = cls(f"Connection failed {self._where()}: {message}")
        exc.errno = code
        return exc

    def _open(self, tls_options):
        info = self.conn_info
        # the C client takes "localhost" to mean its unix socket; DataJoint (like pymysql)
        # always connects over TCP
        hosts = ("127.0.0.1", "::1") if info["host"] == "localhost" else (info["host"],)
        for i, host in enumerate(hosts):
            try:
                return MySQLdb.connect(
                    host=host,
                    port=info["port"],
                    user=info["user"],
                    password=info["passwd"] if info["passwd"] is not None else "",
                    charset=config["connection.charset"] or "utf8mb4",
                    sql_mode=SQL_MODE,
                    autocommit=True,
                    connect_timeout=_CONNECT_TIMEOUT,
                    multi_statements=False,  # one statement per query, as with pymysql
                    binary_prefix=True,  # bytes are sent as _binary'...', as pymysql does
                    **tls_options,
                )
            except MySQLdb.OperationalError as err:
                code, _ = _code_and_message(err)
                if code not in _CONNECTION_REFUSED or i == len(hosts) - 1:
                    raise

    def connect(self):
        """Connect (or reconnect) to the database server."""
        attempts, must_encrypt = _tls_attempts(self.conn_info["ssl_input"])
        new = None
        for i, tls_options in enumerate(attempts):
            try:
                new = self._open(tls_options)
                break
            except _DriverError as err:
                code, _ = _code_and_message(err)
                if code == 2026 and i < len(attempts) - 1:
                    logger.debug("TLS connection failed (%s); trying without TLS", err)
                    continue
                raise self._connect_error(err) from err
        try:
            cursor = new.cursor()
            if must_encrypt:
                cursor.execute("SHOW STATUS LIKE 'Ssl_cipher'")
                row = cursor.fetchone()
                if not row or not row[1]:
                    new.close()
                    raise errors.LostConnectionError(
                        f"Connection failed {self._where()}: TLS is required (use_tls="
                        f"{self.conn_info['ssl_input']!r}) but the server does not offer it"
                    )
            if self.init_fun:
                cursor.execute(self.init_fun)
            cursor.close()
        except _DriverError as err:
            new.close()
            raise translate_query_error(err, self.init_fun or "") from err
        new.encoders[HexBytes] = _hex_literal
        self._close_fetch_reader()  # re-created with the new session's settings
        old, self._conn = self._conn, new
        self.connection_id = new.thread_id()
        if old is not None:
            try:
                old.close()
            except _DriverError:
                pass  # it was already gone

    def close(self):
        """Close the connection to the server (a later query reconnects)."""
        self._close_fetch_reader()
        if self._conn is not None:
            try:
                self._conn.close()
            except _DriverError:
                pass  # already closed or lost

    def _close_fetch_reader(self):
        from . import engine

        engine.close(self)

    def session_settings_sql(self, names):
        """``["SET SESSION a = ...", ...]``: the statements that give another connection this
        session's current values of the variables ``names`` (read in one query)."""
        values = self.query("SELECT " + ", ".join(f"@@session.{name}" for name in names)).fetchone()
        return [
            f"SET SESSION {name} = {self.literal(value).decode()}"
            for name, value in zip(names, values, strict=True)
        ]

    def engine_settings(self):
        """What the fetch engine needs to open connections like this one (see
        ``datajoint_rs.engine``): host, port, user, password, ``tls`` (None, or a dict of
        ``ca`` / ``check_hostname``), ``charset``, and ``init`` (the SQL that gives a new
        connection this session's settings: character set, sql_mode, time zone, init
        command). None when the engine cannot reproduce the TLS setup (client
        certificates)."""
        info = self.conn_info
        use_tls = info["ssl_input"]
        charset = config["connection.charset"] or "utf8mb4"
        session = self.session_settings_sql(("sql_mode", "time_zone"))
        status = self.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'").fetchone()
        cipher = status[1] if status else None
        if isinstance(use_tls, dict) and (use_tls.get("cert") or use_tls.get("key")):
            return None
        if not cipher:  # no TLS on this connection
            tls = None
        elif isinstance(use_tls, dict):
            tls = {"ca": use_tls.get("ca"), "check_hostname": use_tls.get("check_hostname", True)}
            if use_tls.get("capath") and not use_tls.get("ca"):
                return None
        else:
            tls = {}
        init = [f"SET NAMES {charset}", *session]
        if self.init_fun:
            init.append(self.init_fun)
        host = info["host"]
        return dict(
            host="127.0.0.1" if host == "localhost" else host,
            port=info["port"],
            user=info["user"],
            password=info["passwd"] if info["passwd"] is not None else "",
            tls=tls,
            charset=charset,
            init=init,
        )

    def ping(self):
        """Check the connection; raise LostConnectionError if it is gone (no reconnect)."""
        if self._conn is None:
            raise errors.LostConnectionError("Not connected")
        try:
            self._conn.ping()
        except _DriverError as err:
            raise translate_query_error(err, "ping") from err

    @property
    def is_connected(self):
        """True if the server answers a ping (without reconnecting)."""
        try:
            self.ping()
        except Exception:
            return False
        return True

    def register(self, schema):
        """Catalogue an activated schema (called by ``dj.Schema``)."""
        self.schemas[schema.database] = schema
        if self.dependencies is not None:
            self.dependencies.clear()

    # ---------- query cache
    def set_query_cache(self, query_cache=None):
        """Switch the query cache on (a tag string naming the cache state) or off (None).

        While on, only SELECT/SHOW queries are allowed, and their results are stored in (and
        then served from) files in the folder ``dj.config["query_cache"]``."""
        self._query_cache = query_cache

    def purge_query_cache(self):
        """Delete all the files of the query cache."""
        folder = config.get(cache_key)
        if isinstance(folder, str) and pathlib.Path(folder).is_dir():
            for path in pathlib.Path(folder).iterdir():
                if not path.is_dir():
                    path.unlink()

    def _cache_path(self, query, args):
        folder = config.get(cache_key)
        if not folder:
            raise errors.DataJointError(
                f"Provide filepath dj.config['{cache_key}'] when using query caching."
            )
        # the same file name as DataJoint 0.14's: md5 of tag + query (without `$hash`
        # aliases) + the packed arguments
        digest = uuid_from_buffer(
            (str(self._query_cache) + _HASH_ALIAS.sub("", query)).encode() + pack(args)
        )
        return pathlib.Path(folder) / str(digest)

    # ---------- queries
    def _execute(self, query, args, cursor_class, suppress_warnings, raw_numbers=False):
        if args and not isinstance(args, Mapping):
            # large binary values travel as hex literals: on a utf8mb4 connection the server
            # parses X'..' about 2.5x faster than an escaped string (measured), for 2x the bytes
            args = [
                HexBytes(a) if type(a) is bytes and len(a) >= _HEX_MIN_BYTES else a for a in args
            ]
        saved = {}
        if raw_numbers:  # the driver builds its converters when the result is stored
            converter = self._conn.converter
            saved = {t: converter.pop(t) for t in _RAW_NUMBER_TYPES if t in converter}
        try:
            cursor = self._conn.cursor(cursor_class)
            if suppress_warnings:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    cursor.execute(query, args)
            else:
                cursor.execute(query, args)
        except _DriverError as err:
            if not isinstance(query, str):  # a rendered INSERT: keep the error readable
                query = query[:query_log_max_length].decode("utf-8", "replace") + "..."
            raise translate_query_error(err, query) from err
        finally:
            if saved:
                self._conn.converter.update(saved)
        return cursor

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
        """Run one SQL statement and return its DB-API cursor.

        :param query: SQL, with ``%s`` (or ``%(name)s``) placeholders for ``args``
        :param args: the values of the placeholders (sequence or mapping)
        :param as_dict: rows as dicts instead of tuples
        :param suppress_warnings: silence Python warnings raised by the driver
        :param reconnect: reconnect and re-run once if the connection was lost (outside a
            transaction); None: ``dj.config["database.reconnect"]``
        :param raw_numbers: integer and float cells come back as their raw text (bytes), for
            the native column decoder (``fetch``)
        :param unbuffered: stream the rows (the driver keeps no copy of the whole result);
            the caller must read them all before the next query
        """
        cache_path = None
        text = (
            query
            if isinstance(query, str)
            else query[:query_log_max_length].decode("utf-8", "replace")
        )
        if self._query_cache:
            if not _CACHEABLE.match(text):
                raise errors.DataJointError(
                    "Only SELECT queries are allowed when query caching is on."
                )
            cache_path = self._cache_path(query, args)
            try:
                return EmulatedCursor(unpack(cache_path.read_bytes()))
            except FileNotFoundError:
                pass  # not cached yet: ask the server

        if reconnect is None:
            reconnect = config["database.reconnect"]
        logger.debug("Executing SQL:" + text[:query_log_max_length])
        if unbuffered:
            cursor_class = MySQLdb.cursors.SSDictCursor if as_dict else MySQLdb.cursors.SSCursor
        else:
            cursor_class = MySQLdb.cursors.DictCursor if as_dict else MySQLdb.cursors.Cursor
        try:
            cursor = self._execute(query, args, cursor_class, suppress_warnings, raw_numbers)
        except errors.LostConnectionError:
            if not reconnect:
                raise
            logger.warning("Reconnecting to MySQL server.")
            self.connect()
            if self._in_transaction:
                self.cancel_transaction()
                raise errors.LostConnectionError(
                    "Connection was lost during a transaction."
                ) from None
            logger.debug("Re-executing")
            cursor = self._execute(query, args, cursor_class, suppress_warnings, raw_numbers)

        if cache_path is not None:
            data = cursor.fetchall()
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            cache_path.write_bytes(pack(data))
            return EmulatedCursor(data)
        return cursor

    def literal(self, value):
        """``value`` as an SQL literal (bytes), escaped by the driver for this connection."""
        return self._conn.literal(value)

    def get_user(self):
        """``user@host`` as the server sees this client (``SELECT user()``)."""
        return self.query("SELECT user()").fetchone()[0]

    # ---------- transactions
    @property
    def in_transaction(self):
        """True while a transaction is open (and the connection is alive)."""
        self._in_transaction = self._in_transaction and self.is_connected
        return self._in_transaction

    def start_transaction(self):
        """Open a transaction; DataJointError if one is already open."""
        if self.in_transaction:
            raise errors.DataJointError("Nested connections are not supported.")
        self.query("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        self._in_transaction = True
        logger.debug("Transaction started")

    def cancel_transaction(self):
        """Roll back and close the open transaction."""
        self.query("ROLLBACK")
        self._in_transaction = False
        logger.debug("Transaction cancelled. Rolling back ...")

    def commit_transaction(self):
        """Commit and close the open transaction."""
        self.query("COMMIT")
        self._in_transaction = False
        logger.debug("Transaction committed and closed.")

    @property
    @contextmanager
    def transaction(self):
        """``with conn.transaction:`` runs the block in a transaction, committed at the end,
        or rolled back if the block raises (the exception then propagates).

        >>> with dj.conn().transaction as conn:
        ...     ...  # the transaction is open here
        """
        self.start_transaction()
        try:
            yield self
        except BaseException:
            try:
                self.cancel_transaction()
            except Exception as exc:  # keep the original exception; the transaction is over
                self._in_transaction = False
                logger.warning("Rollback failed: %s", exc)
            raise
        else:
            self.commit_transaction()

    # ---------- character set of bulk statements
    @contextmanager
    def binary_charset(self):
        """Statements sent in the block are read by the server with the ``binary`` character
        set (``SET NAMES binary``): it reads escaped ``_binary'..'`` literals about twice as
        fast as on utf8mb4 (strings then need the ``_utf8mb4`` introducer, which
        ``_native.sql_values(..., binary_charset=True)`` writes). The session's character set
        and collation are restored afterwards. Either form is valid on either character set,
        so a reconnection in between changes only the speed."""
        charset = getattr(self, "_session_charset", None)
        if charset is None:
            charset = self.query("SELECT @@character_set_client, @@collation_connection").fetchone()
            self._session_charset = charset
        self.query("SET NAMES binary")
        try:
            yield self
        finally:
            try:
                self.query("SET NAMES {} COLLATE {}".format(*charset))
            except errors.LostConnectionError:
                pass  # a new connection starts with the configured character set
