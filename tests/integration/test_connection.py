"""datajoint_rs.connection against a real MariaDB/MySQL server.

Needs DJ_HOST (``host`` or ``host:port``), DJ_USER and DJ_PASS of an account that may create
users and schemas (scripts/mariadb.sh starts such a server: ``eval "$(bash
scripts/mariadb.sh env)"``); the whole module is skipped when DJ_HOST is not set. Every
schema made here is named ``djtest_*`` and dropped afterwards.
"""

from __future__ import annotations

import io
import os
import sys
import time
import uuid

import pytest

if not os.environ.get("DJ_HOST"):
    pytest.skip("DJ_HOST is not set: no database server to test against", allow_module_level=True)

import datajoint_rs  # noqa: E402
import MySQLdb  # noqa: E402
from datajoint_rs import connection as djconn  # noqa: E402
from datajoint_rs import errors  # noqa: E402
from datajoint_rs.blob import pack  # noqa: E402
from datajoint_rs.dependencies import Dependencies  # noqa: E402
from datajoint_rs.hash import uuid_from_buffer  # noqa: E402
from datajoint_rs.settings import config  # noqa: E402

HOST = os.environ["DJ_HOST"]
USER = os.environ.get("DJ_USER", "root")
PASSWORD = os.environ.get("DJ_PASS", "")
RESTRICTED_USER = "djtest_restricted"
RESTRICTED_PASSWORD = "djtest_restricted_pw"


def connect(**kwargs):
    return djconn.Connection(HOST, USER, PASSWORD, **kwargs)


@pytest.fixture
def conn():
    c = connect()
    yield c
    c.close()


@pytest.fixture(scope="module")
def admin():
    """A second connection, for watching and killing the one under test."""
    c = connect()
    yield c
    c.close()


@pytest.fixture
def schema(admin):
    """A fresh schema with a parent table and a child table referencing it."""
    name = f"djtest_conn_{uuid.uuid4().hex[:10]}"
    admin.query(f"CREATE DATABASE `{name}`")
    admin.query(
        f"CREATE TABLE `{name}`.parent (id INT NOT NULL, val VARCHAR(20) NOT NULL, "
        "PRIMARY KEY (id)) ENGINE=InnoDB"
    )
    admin.query(
        f"CREATE TABLE `{name}`.child (id INT NOT NULL, cid INT NOT NULL, PRIMARY KEY (id, cid), "
        f"FOREIGN KEY (id) REFERENCES `{name}`.parent (id)) ENGINE=InnoDB"
    )
    yield name
    admin.query(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture(scope="module")
def restricted(admin):
    """(user, password) of an account with privileges on `djtest%` schemas only."""
    admin.query(f"DROP USER IF EXISTS '{RESTRICTED_USER}'@'%%'")
    admin.query(f"CREATE USER '{RESTRICTED_USER}'@'%%' IDENTIFIED BY %s", (RESTRICTED_PASSWORD,))
    admin.query(f"GRANT ALL PRIVILEGES ON `djtest%%`.* TO '{RESTRICTED_USER}'@'%%'")
    yield RESTRICTED_USER, RESTRICTED_PASSWORD
    admin.query(f"DROP USER IF EXISTS '{RESTRICTED_USER}'@'%%'")


@pytest.fixture
def shared_conn_slot():
    """Save and restore the process-wide connection of dj.conn()."""
    had = hasattr(djconn.conn, "connection")
    saved = getattr(djconn.conn, "connection", None)
    if had:
        del djconn.conn.connection
    yield
    if hasattr(djconn.conn, "connection"):
        djconn.conn.connection.close()
        del djconn.conn.connection
    if had:
        djconn.conn.connection = saved


def alive(connection_id, admin):
    ids = {row[0] for row in admin.query("SELECT id FROM information_schema.processlist")}
    return connection_id in ids


def kill(c, admin):
    cid = c.connection_id
    admin.query(f"KILL {cid}")
    for _ in range(100):  # KILL is asynchronous: wait until the thread is gone
        if not alive(cid, admin):
            return
        time.sleep(0.02)


# ---------------------------------------------------------------------------------------------
# dj.conn(): the shared connection


def test_conn_is_a_singleton_and_reset_replaces_it(shared_conn_slot):
    with config(database__host=HOST, database__user=USER, database__password=PASSWORD):
        first = datajoint_rs.connection.conn()
        assert datajoint_rs.connection.conn() is first
        second = datajoint_rs.connection.conn(reset=True)
    assert second is not first
    assert datajoint_rs.connection.conn() is second
    assert second.is_connected
    assert first.is_connected  # reset does not close the old one (others may hold it)
    first.close()


def test_conn_arguments_override_config(shared_conn_slot):
    with config(database__host="no-such-host.invalid", database__user="nobody"):
        c = datajoint_rs.connection.conn(HOST, USER, PASSWORD, reset=True)
    assert c.conn_info["user"] == USER
    assert c.is_connected


def test_conn_takes_use_tls_and_init_function_from_config(shared_conn_slot):
    with config(
        database__host=HOST,
        database__user=USER,
        database__password=PASSWORD,
        database__use_tls=False,
        connection__init_function="SET @djtest_from_config = 7",
    ):
        c = datajoint_rs.connection.conn(reset=True)
    assert c.conn_info["ssl_input"] is False
    assert c.query("SELECT @djtest_from_config").fetchone()[0] == 7


@pytest.mark.parametrize("missing", ["user", "password"])
def test_conn_refuses_to_prompt_without_a_terminal(shared_conn_slot, monkeypatch, missing):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    settings = {"database__host": HOST, "database__user": USER, "database__password": PASSWORD}
    settings[f"database__{missing}"] = None
    with config(**settings), pytest.raises(errors.DataJointError, match=missing):
        datajoint_rs.connection.conn(reset=True)


def test_prompting_is_possible_when_a_front_end_answers_input(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert not djconn._can_prompt()

    def front_end_input(prompt=""):  # as Jupyter's kernel installs in builtins
        return ""

    monkeypatch.setattr("builtins.input", front_end_input)
    assert djconn._can_prompt()


def test_conn_prompts_on_a_terminal(shared_conn_slot, monkeypatch):
    monkeypatch.setattr(djconn, "_can_prompt", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: USER)
    monkeypatch.setattr("getpass.getpass", lambda prompt: PASSWORD)
    with config(database__host=HOST, database__user=None, database__password=None):
        c = datajoint_rs.connection.conn(reset=True)
    assert c.conn_info["user"] == USER


# ---------------------------------------------------------------------------------------------
# Connection: parameters, session, introspection


def split(host):
    name, _, port = host.partition(":")
    return name, int(port) if port else 3306


def test_host_port_parsing():
    name, port = split(HOST)
    c = djconn.Connection(f"{name}:{port}", USER, PASSWORD, port=1)  # host:port wins
    assert (c.conn_info["host"], c.conn_info["port"]) == (name, port)
    assert c.conn_info["host_input"] == f"{name}:{port}"
    c.close()
    c = djconn.Connection(name, USER, PASSWORD, port=port)
    assert c.conn_info["port"] == port
    c.close()
    with config(database__port=port):
        c = djconn.Connection(name, USER, PASSWORD)
    assert c.conn_info["port"] == port
    c.close()


def test_host_spelling_variants():
    assert djconn._split_host("db.example.org:3307", None) == ("db.example.org", 3307)
    assert djconn._split_host("[::1]:3307", None) == ("::1", 3307)
    assert djconn._split_host("::1", 3309) == ("::1", 3309)
    with pytest.raises(errors.DataJointError, match="Invalid port"):
        djconn._split_host("host:notaport", None)


def test_unknown_connection_plugin():
    with pytest.raises(errors.DataJointError, match="Connection plugin 'nope' not found"):
        djconn.Connection("nope://host", USER, PASSWORD)


def test_localhost_means_tcp():
    name, port = split(HOST)
    if name not in ("127.0.0.1", "localhost"):
        pytest.skip("the server is not on this machine")
    c = djconn.Connection("localhost", USER, PASSWORD, port=port)
    assert c.is_connected
    assert c.query("SELECT @@port").fetchone()[0] == port
    c.close()


def test_session_settings(conn):
    sql_mode, autocommit, charset = conn.query(
        "SELECT @@sql_mode, @@autocommit, @@character_set_client"
    ).fetchone()
    assert set(sql_mode.split(",")) == set(djconn.SQL_MODE.split(","))
    assert autocommit == 1
    assert charset == "utf8mb4"
    # one statement per query, as with pymysql
    with pytest.raises(errors.QuerySyntaxError):
        conn.query("SELECT 1; SELECT 2")


def test_charset_from_config():
    with config(connection__charset="latin1"):
        c = connect()
    assert c.query("SELECT @@character_set_client").fetchone()[0] == "latin1"
    c.close()


def test_init_function_runs_on_connect_and_reconnect(admin):
    c = connect(init_fun="SET @djtest_init = 42")
    assert c.query("SELECT @djtest_init").fetchone()[0] == 42
    kill(c, admin)
    assert c.query("SELECT @djtest_init").fetchone()[0] == 42
    c.close()


def test_introspection(conn):
    assert conn.connection_id == conn.query("SELECT connection_id()").fetchone()[0]
    assert conn.get_user().startswith(USER + "@")
    assert conn.is_connected
    assert conn.ping() is None
    name, port = split(HOST)
    assert repr(conn) == f"DataJoint connection (connected) {USER}@{name}:{port}"
    assert conn.conn_info["user"] == USER and conn.conn_info["passwd"] == PASSWORD
    assert conn == djconn.Connection(HOST, USER, PASSWORD)
    assert conn.schemas == {} and isinstance(conn.dependencies, Dependencies)
    assert not conn.in_transaction


def test_close_then_query_reconnects(conn):
    conn.close()
    assert not conn.is_connected
    assert repr(conn).startswith("DataJoint connection (disconnected)")
    with pytest.raises(errors.LostConnectionError):
        conn.ping()
    conn.close()  # closing twice is harmless
    assert conn.query("SELECT 1").fetchone() == (1,)
    assert conn.is_connected
    conn.connect()  # an explicit reconnect replaces the live connection
    assert conn.query("SELECT connection_id()").fetchone()[0] == conn.connection_id


def test_context_manager_closes():
    with connect() as c:
        assert c.is_connected
    assert not c.is_connected


def test_register(conn):
    class FakeSchema:
        database = "djtest_fake"

    conn.register(FakeSchema)
    assert conn.schemas["djtest_fake"] is FakeSchema

    class Deps:
        cleared = 0

        def clear(self):
            Deps.cleared += 1

    conn.dependencies = Deps()
    conn.register(FakeSchema)
    assert Deps.cleared == 1


def test_bad_password_and_unreachable_server():
    with pytest.raises(errors.AccessError, match="Connection failed"):
        djconn.Connection(HOST, USER, PASSWORD + "-wrong")
    with pytest.raises(errors.LostConnectionError, match="Connection failed"):
        djconn.Connection("127.0.0.1:1", USER, PASSWORD)


# ---------------------------------------------------------------------------------------------
# queries


def test_query_rows_placeholders_and_dicts(conn, schema):
    conn.query(f"INSERT INTO `{schema}`.parent VALUES (%s, %s), (%s, %s)", (1, "a", 2, "b'c"))
    cur = conn.query(f"SELECT id, val FROM `{schema}`.parent ORDER BY id")
    assert cur.rowcount == 2
    assert cur.fetchall() == ((1, "a"), (2, "b'c"))
    rows = conn.query(
        f"SELECT * FROM `{schema}`.parent WHERE val=%(v)s", {"v": "a"}, as_dict=True
    ).fetchall()
    assert rows == ({"id": 1, "val": "a"},)
    assert list(conn.query(f"SELECT id FROM `{schema}`.parent ORDER BY id")) == [(1,), (2,)]


def test_binary_arguments_round_trip(conn):
    data = bytes(range(256))
    got = conn.query("SELECT %s", (data,)).fetchone()[0]
    assert got == data


def test_bad_placeholder_count_is_a_query_error(conn):
    with pytest.raises(errors.QueryError) as info:
        conn.query("SELECT %s, %s", (1,))
    assert not isinstance(info.value, MySQLdb.Error)


# ---------------------------------------------------------------------------------------------
# error translation: each mapped server error, provoked for real


def raises(cls, conn, sql, args=()):
    with pytest.raises(cls) as info:
        conn.query(sql, args)
    exc = info.value
    assert type(exc) is cls
    assert isinstance(exc, errors.DataJointError)
    assert not isinstance(exc, MySQLdb.Error)
    assert isinstance(exc.__cause__, MySQLdb.Error)  # the driver's error is kept as the cause
    return exc


def test_duplicate_error(conn, schema):
    conn.query(f"INSERT INTO `{schema}`.parent VALUES (1, 'a')")
    exc = raises(errors.DuplicateError, conn, f"INSERT INTO `{schema}`.parent VALUES (1, 'b')")
    assert exc.errno == 1062
    assert exc.args[0].startswith("Duplicate entry")


def test_foreign_key_errors(conn, schema):
    exc = raises(errors.IntegrityError, conn, f"INSERT INTO `{schema}`.child VALUES (9, 1)")
    assert exc.errno == 1452
    assert "foreign key constraint fails" in exc.args[0]
    conn.query(f"INSERT INTO `{schema}`.parent VALUES (1, 'a')")
    conn.query(f"INSERT INTO `{schema}`.child VALUES (1, 1)")
    exc = raises(errors.IntegrityError, conn, f"DELETE FROM `{schema}`.parent")
    assert exc.errno == 1451
    # DataJoint's cascading delete parses this message
    assert "a foreign key constraint fails" in exc.args[0]
    assert "REFERENCES" in exc.args[0]


def test_missing_table(conn, schema):
    sql = f"SELECT * FROM `{schema}`.nothing"
    exc = raises(errors.MissingTableError, conn, sql)
    assert exc.errno == 1146
    assert exc.args[1] == sql


def test_unknown_attribute(conn, schema):
    exc = raises(errors.UnknownAttributeError, conn, f"SELECT nope FROM `{schema}`.parent")
    assert exc.errno == 1054
    assert "nope" in exc.args[0]


def test_missing_attribute(conn, schema):
    exc = raises(
        errors.MissingAttributeError, conn, f"INSERT INTO `{schema}`.parent (id) VALUES (3)"
    )
    assert exc.errno == 1364


def test_syntax_error(conn):
    exc = raises(errors.QuerySyntaxError, conn, "SELEC 1")
    assert exc.errno == 1064
    assert exc.args[1] == "SELEC 1"


def test_access_errors(restricted, schema):
    user, password = restricted
    c = djconn.Connection(HOST, user, password)
    try:
        exc = raises(errors.AccessError, c, "CREATE DATABASE `djnotallowed_x`")
        assert exc.errno == 1044
        assert exc.args[0] == "Insufficient privileges."
        exc = raises(errors.AccessError, c, "SELECT * FROM mysql.user")
        assert exc.errno == 1142
        # allowed where granted
        assert c.query(f"SELECT COUNT(*) FROM `{schema}`.parent").fetchone() == (0,)
    finally:
        c.close()


def test_other_server_errors_are_query_errors(conn):
    exc = raises(errors.QueryError, conn, "USE `djtest_no_such_schema_at_all`")
    assert exc.errno == 1049


@pytest.mark.parametrize(
    "code, cls",
    [
        (0, errors.LostConnectionError),
        (2006, errors.LostConnectionError),
        (2013, errors.LostConnectionError),
        (1062, errors.DuplicateError),
        (1217, errors.IntegrityError),
        (1451, errors.IntegrityError),
        (1452, errors.IntegrityError),
        (1146, errors.MissingTableError),
        (1054, errors.UnknownAttributeError),
        (1364, errors.MissingAttributeError),
        (1044, errors.AccessError),
        (1142, errors.AccessError),
        (1064, errors.QuerySyntaxError),
        (1205, errors.QueryError),
    ],
)
def test_translation_table(code, cls):
    exc = djconn.translate_query_error(MySQLdb.OperationalError(code, "message"), "SELECT x")
    assert type(exc) is cls
    assert exc.errno == code


@pytest.mark.interop
@pytest.mark.parametrize(
    "code", [0, 2006, 2013, 1044, 1062, 1217, 1451, 1452, 1064, 1146, 1054, 1364]
)
def test_translation_matches_datajoint_014(code):
    ref = pytest.importorskip("datajoint.connection")
    ours = djconn.translate_query_error(MySQLdb.OperationalError(code, "msg"), "SELECT q")
    theirs = ref.translate_query_error(MySQLdb.OperationalError(code, "msg"), "SELECT q")
    assert type(ours).__name__ == type(theirs).__name__
    assert ours.args == theirs.args


# ---------------------------------------------------------------------------------------------
# transactions


def count(admin, schema):
    return admin.query(f"SELECT COUNT(*) FROM `{schema}`.parent").fetchone()[0]


def test_transaction_commits(conn, admin, schema):
    with conn.transaction as c:
        assert c is conn
        assert conn.in_transaction
        conn.query(f"INSERT INTO `{schema}`.parent VALUES (1, 'a')")
        assert count(admin, schema) == 0  # not visible to others before the commit
    assert not conn.in_transaction
    assert count(admin, schema) == 1


def test_transaction_rolls_back_and_reraises(conn, admin, schema):
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with conn.transaction:
            conn.query(f"INSERT INTO `{schema}`.parent VALUES (1, 'a')")
            raise Boom
    assert not conn.in_transaction
    assert count(admin, schema) == 0
    assert count(conn, schema) == 0


def test_nested_transaction_is_refused(conn, admin, schema):
    conn.start_transaction()
    conn.query(f"INSERT INTO `{schema}`.parent VALUES (1, 'a')")
    with pytest.raises(errors.DataJointError, match="Nested connections are not supported."):
        conn.start_transaction()
    with pytest.raises(errors.DataJointError, match="Nested connections are not supported."):
        with conn.transaction:
            pass
    conn.cancel_transaction()
    assert not conn.in_transaction
    assert count(admin, schema) == 0


def test_explicit_commit_and_cancel(conn, admin, schema):
    conn.start_transaction()
    conn.query(f"INSERT INTO `{schema}`.parent VALUES (1, 'a')")
    conn.commit_transaction()
    conn.start_transaction()
    conn.query(f"INSERT INTO `{schema}`.parent VALUES (2, 'b')")
    conn.cancel_transaction()
    assert count(admin, schema) == 1


def test_consistent_snapshot(conn, admin, schema):
    conn.start_transaction()
    before = count(conn, schema)
    admin.query(f"INSERT INTO `{schema}`.parent VALUES (1, 'a')")
    assert count(conn, schema) == before  # the transaction reads its snapshot
    conn.commit_transaction()
    assert count(conn, schema) == before + 1


# ---------------------------------------------------------------------------------------------
# lost connections


def test_reconnect_outside_transaction(conn, admin):
    old_id = conn.connection_id
    kill(conn, admin)
    assert conn.query("SELECT 1").fetchone() == (1,)
    assert conn.connection_id != old_id  # refreshed after the reconnect
    assert conn.connection_id == conn.query("SELECT connection_id()").fetchone()[0]


def test_no_reconnect_when_disabled(conn, admin):
    kill(conn, admin)
    with pytest.raises(errors.LostConnectionError) as info:
        conn.query("SELECT 1", reconnect=False)
    assert not isinstance(info.value, MySQLdb.Error)
    kill_again = connect()
    kill(kill_again, admin)
    with config(database__reconnect=False), pytest.raises(errors.LostConnectionError):
        kill_again.query("SELECT 1")
    kill_again.close()


def test_lost_connection_inside_transaction(conn, admin, schema):
    conn.start_transaction()
    conn.query(f"INSERT INTO `{schema}`.parent VALUES (1, 'a')")
    kill(conn, admin)
    with pytest.raises(
        errors.LostConnectionError, match="Connection was lost during a transaction."
    ):
        conn.query(f"INSERT INTO `{schema}`.parent VALUES (2, 'b')")
    assert not conn._in_transaction
    assert not conn.in_transaction
    assert conn.is_connected  # reconnected, without the transaction
    assert count(admin, schema) == 0  # the server rolled the transaction back
    with conn.transaction:  # a new transaction can start
        conn.query(f"INSERT INTO `{schema}`.parent VALUES (3, 'c')")
    assert count(admin, schema) == 1


def test_lost_connection_inside_transaction_block(conn, admin, schema):
    with pytest.raises(errors.LostConnectionError, match="lost during a transaction"):
        with conn.transaction:
            conn.query(f"INSERT INTO `{schema}`.parent VALUES (1, 'a')")
            kill(conn, admin)
            conn.query(f"INSERT INTO `{schema}`.parent VALUES (2, 'b')")
    assert not conn.in_transaction
    assert count(admin, schema) == 0


# ---------------------------------------------------------------------------------------------
# TLS


@pytest.fixture(scope="module")
def server_has_tls(admin):
    if admin.query("SELECT @@have_ssl").fetchone()[0] != "YES":
        pytest.skip("the server has no TLS certificate")


def cipher(c):
    return c.query("SHOW STATUS LIKE 'Ssl_cipher'").fetchone()[1]


def test_tls_required(server_has_tls):
    c = connect(use_tls=True)
    assert cipher(c)
    assert c.conn_info["ssl"] == {"ssl": {}}
    c.close()


def test_tls_preferred_by_default(server_has_tls):
    c = connect()
    assert cipher(c)
    c.close()


def test_tls_off():
    c = connect(use_tls=False)
    assert cipher(c) == ""
    assert "ssl" not in c.conn_info
    c.close()


def test_tls_options_dict(server_has_tls, admin):
    c = connect(use_tls={"cipher": "ECDHE-RSA-AES256-GCM-SHA384:TLS_AES_256_GCM_SHA384"})
    assert cipher(c)
    c.close()
    ca = admin.query("SELECT @@ssl_cert").fetchone()[0]
    if split(HOST)[0] != "127.0.0.1" or os.path.basename(ca or "") != "tls-cert.pem":
        pytest.skip("not the server of scripts/mariadb.sh (whose certificate names 127.0.0.1)")
    if not os.path.isfile(ca):
        pytest.skip("the server's certificate file is not readable here")
    # the self-signed certificate is its own CA
    c = connect(use_tls={"ca": ca})
    assert cipher(c)
    c.close()
    with pytest.raises(errors.LostConnectionError, match="Connection failed"):
        connect(use_tls={"ca": "/etc/ssl/certs/ca-certificates.crt"})  # not signed by those


def test_tls_survives_reconnect(server_has_tls, admin):
    c = connect(use_tls=True)
    kill(c, admin)
    assert cipher(c)
    c.close()


# ---------------------------------------------------------------------------------------------
# query cache


def test_query_cache(conn, schema, tmp_path):
    conn.query(f"INSERT INTO `{schema}`.parent VALUES (1, 'a')")
    sql = f"SELECT id, val FROM `{schema}`.parent WHERE id > %s"
    with config(query_cache=str(tmp_path)):
        conn.set_query_cache("v1")
        try:
            assert conn.query(sql, (0,)).fetchall() == ((1, "a"),)
            files = list(tmp_path.iterdir())
            assert len(files) == 1
            # the file name: md5 of the tag, the query and the packed arguments (as in 0.14)
            assert files[0].name == str(uuid_from_buffer(("v1" + sql).encode() + pack((0,))))
            conn.set_query_cache(None)
            conn.query(f"INSERT INTO `{schema}`.parent VALUES (2, 'b')")
            conn.set_query_cache("v1")
            cur = conn.query(sql, (0,))  # served from the cache: the old result
            assert isinstance(cur, djconn.EmulatedCursor)
            assert cur.rowcount == 1
            assert cur.fetchone() == (1, "a")
            assert cur.fetchone() is None
            as_dict = conn.query(sql, (0,), as_dict=True).fetchall()
            assert as_dict == ((1, "a"),)  # the key does not include as_dict (as in 0.14)
            conn.set_query_cache("v2")  # another tag: a fresh result
            assert conn.query(sql, (0,)).fetchall() == ((1, "a"), (2, "b"))
            assert conn.query(f"SHOW TABLES FROM `{schema}`").fetchall()
            with pytest.raises(errors.DataJointError, match="Only SELECT"):
                conn.query(f"INSERT INTO `{schema}`.parent VALUES (3, 'c')")
            assert len(list(tmp_path.iterdir())) == 3
            conn.purge_query_cache()
            assert list(tmp_path.iterdir()) == []
        finally:
            conn.set_query_cache(None)
    assert conn.query(sql, (0,)).rowcount == 2
    conn.query(f"INSERT INTO `{schema}`.parent VALUES (3, 'c')")  # allowed again


def test_query_cache_needs_a_folder(conn):
    conn.set_query_cache("tag")
    try:
        with config(query_cache=None), pytest.raises(errors.DataJointError, match="query_cache"):
            conn.query("SELECT 1")
    finally:
        conn.set_query_cache(None)


@pytest.mark.interop
def test_query_cache_file_name_matches_datajoint_014():
    ref_hash = pytest.importorskip("datajoint.hash")
    ref_blob = pytest.importorskip("datajoint.blob")
    sql, args = "SELECT * FROM `x`.`y` AS `$a1` WHERE a=%s", (3, "q")
    c = object.__new__(djconn.Connection)
    c._query_cache = "tag"
    with config(query_cache="/nonexistent-folder"):
        ours = c._cache_path(sql, args).name
    theirs = ref_hash.uuid_from_buffer(
        ("tag" + "SELECT * FROM `x`.`y` AS  WHERE a=%s").encode() + ref_blob.pack(args)
    )
    assert ours == str(theirs)
