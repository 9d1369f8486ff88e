"""The SQLite backend's building blocks (docs/design-sqlite.md): the SQL rewriting, the
dialect's DDL with DataJoint's types enforced, the heading read back from the DDL, foreign
keys between schemas, errors mapped to DataJoint's classes, transactions and scripts."""

from __future__ import annotations

import datetime

import pytest
from datajoint_rs import errors
from datajoint_rs.adapters import get_adapter
from datajoint_rs.sqlite import SQLiteConnection, rewrite, split_statements

A = get_adapter("sqlite")


# ---- rewriting ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mysql", "sqlite"),
    [
        ("SELECT * FROM `lab`.`#subject`", "SELECT * FROM `lab.#subject`"),
        (
            "SELECT * FROM `lab` . `x` NATURAL JOIN `other`.`y`",
            "SELECT * FROM `lab.x` NATURAL JOIN `other`.`y`",
        ),
        (
            "SELECT `a` FROM `lab`.`t` WHERE `a`=%s AND b LIKE 'x%%'",
            "SELECT `a` FROM `lab.t` WHERE `a`=? AND b LIKE 'x%'",
        ),
        ("WHERE k=%(key)s", "WHERE k=:key"),
        ('WHERE status="error"', "WHERE status='error'"),
        (
            'WHERE name="O\'Brien" OR name="say ""hi"""',
            "WHERE name='O''Brien' OR name='say \"hi\"'",
        ),
        ('WHERE s="a\\nb"', "WHERE s='a\nb'"),
        ("WHERE s='`lab`.`t` %s \"x\"'", "WHERE s='`lab`.`t` ? \"x\"'".replace("?", "%s")),
        ("SELECT 1 -- `lab`.`t` %s\n", "SELECT 1 -- `lab`.`t` %s\n"),
        ('SELECT 1 /* `lab`.`t` "x" */', 'SELECT 1 /* `lab`.`t` "x" */'),
        ("SELECT `lab`", "SELECT `lab`"),
    ],
)
def test_rewrite(mysql, sqlite):
    assert rewrite(mysql, {"lab"}) == sqlite


def test_rewrite_without_params_keeps_percent():
    assert rewrite("LIKE 'a%%' AND x=%s", {"lab"}, params=False) == "LIKE 'a%%' AND x=%s"


def test_split_statements():
    script = "CREATE TABLE `a;b` (x TEXT DEFAULT 'p;q'); -- c;d\nCREATE INDEX i ON t (x);"
    assert split_statements(script) == [
        "CREATE TABLE `a;b` (x TEXT DEFAULT 'p;q')",
        " -- c;d\nCREATE INDEX i ON t (x)",
    ]
    assert split_statements("SELECT 1") == ["SELECT 1"]


# ---- a pipeline file ------------------------------------------------------------------------
@pytest.fixture
def conn(tmp_path):
    c = SQLiteConnection(tmp_path)
    for name in ("lab", "other"):
        c.query("INSERT INTO `~~schemas` VALUES (%s)", (name,))
    c.forget_schema_names()
    yield c
    c.close()


def column(name, sql_type, default="", comment=""):
    nullable = default.lower() == "null"
    return A.column_sql(name, sql_type, A.default_clause(default, nullable), comment)


def declare(conn, full_name, columns, primary_key, foreign_keys=(), indexes=(), comment=""):
    conn.query(A.create_table_sql(full_name, columns, primary_key, foreign_keys, indexes, comment))


TYPES = [
    # (type, accepted values, refused values)
    ("tinyint", [-128, 127], [-129, 128]),
    ("tinyint unsigned", [0, 255], [-1, 256]),
    ("smallint", [-32768, 32767], [32768]),
    ("mediumint unsigned", [0, 2**24 - 1], [2**24]),
    ("int", [-(2**31), 2**31 - 1], [2**31]),
    ("int unsigned", [0, 2**32 - 1], [-1, 2**32]),
    ("bigint", [-(2**63), 2**63 - 1], []),
    ("bool", [0, 1, True, 2], [128]),  # tinyint, as MySQL declares it
    ("float", [1.5, -2.0], ["abc"]),
    ("double unsigned", [0.0, 3.5], [-1.0]),
    ("decimal(5,2)", ["123.45", "-1.5", "0"], ["1000.00", "abc", "1e3"]),
    ("char(3)", ["abc", ""], ["abcd"]),
    ("varchar(5)", ["hello", "héllo"], ["hello!"]),
    ("enum('a','b c')", ["a", "b c"], ["c", "A"]),
    ("date", ["2024-02-29", datetime.date(2020, 1, 2)], ["2024/02/29", "yesterday"]),
    (
        "datetime(3)",
        ["2024-02-29 12:30:00.123", datetime.datetime(2020, 1, 2, 3, 4, 5)],
        ["2024-02-29"],
    ),
    ("time", ["12:30:00", "-838:59:59"], ["noon"]),
    ("json", ['{"a": [1, 2]}', "3"], ["{a: 1}"]),
    ("binary(16)", [bytes(16)], [bytes(15), "text"]),
    ("longblob", [b"\x00\x01" * 1000], ["text"]),
]


@pytest.mark.parametrize(("sql_type", "good", "bad"), TYPES, ids=[t[0] for t in TYPES])
def test_declared_types_are_enforced(conn, sql_type, good, bad):
    declare(conn, "`lab`.`t`", [column("k", "int"), column("v", sql_type, "null")], ["k"])
    for i, value in enumerate(good):
        conn.query("INSERT INTO `lab`.`t` VALUES (%s, %s)", (i, value))
    conn.query("INSERT INTO `lab`.`t` VALUES (%s, NULL)", (len(good),))
    for value in bad:
        with pytest.raises(errors.DataJointError):
            conn.query("INSERT INTO `lab`.`t` VALUES (%s, %s)", (99, value))
    assert conn.query("SELECT count(*) FROM `lab`.`t`").fetchone()[0] == len(good) + 1


def test_heading_read_back_from_the_ddl(conn):
    columns = [
        column("subject_id", "int unsigned", comment="the id"),
        column("name", "varchar(8)", "anon", 'a "quoted" */ (name), with commas'),
        column("sex", "enum('F','M','U')", "U"),
        column("dob", "date", "null"),
        column("arr", "longblob", "null", ":blob@store:x"),
        column("ts", "timestamp", "CURRENT_TIMESTAMP"),
    ]
    declare(
        conn,
        "`lab`.`#subject`",
        columns,
        ["subject_id"],
        indexes=[A.index_sql(True, ["`name`", "`dob`"])],
        comment='subjects (all), "quoted"',
    )
    got = A.load_columns(conn, "lab", "#subject")
    assert [
        (c["name"], c["type"], c["nullable"], c["default"], c["in_key"], c["comment"]) for c in got
    ] == [
        ("subject_id", "int unsigned", False, None, True, "the id"),
        ("name", "varchar(8)", False, "anon", False, 'a "quoted" */ (name), with commas'),
        ("sex", "enum('F','M','U')", False, "U", False, ""),
        ("dob", "date", True, None, False, ""),
        ("arr", "longblob", True, None, False, ":blob@store:x"),
        ("ts", "timestamp", False, "CURRENT_TIMESTAMP", False, ""),
    ]
    assert A.load_table_status(conn, "lab", "#subject")["comment"] == 'subjects (all), "quoted"'
    assert A.load_table_status(conn, "lab", "missing") is None
    indexes = A.load_indexes(conn, "lab", "#subject")
    assert [(i["seq"], i["column"], i["unique"]) for i in indexes] == [
        (1, "name", True),
        (2, "dob", True),
    ]
    # the default timestamp is filled in, in the format the type checks
    conn.query("INSERT INTO `lab`.`#subject` (subject_id) VALUES (1)")
    row = conn.query("SELECT name, sex, ts FROM `lab`.`#subject`").fetchone()
    assert row[:2] == ("anon", "U")
    datetime.datetime.strptime(row[2], "%Y-%m-%d %H:%M:%S")


def test_added_column_keeps_its_metadata(conn):
    declare(conn, "`lab`.`t`", [column("k", "int")], ["k"], comment="c")
    conn.query(
        "ALTER TABLE `lab`.`t` ADD COLUMN " + column("extra", "smallint unsigned", "null", "new")
    )
    got = A.load_columns(conn, "lab", "t")
    assert [(c["name"], c["type"], c["comment"]) for c in got] == [
        ("k", "int", ""),
        ("extra", "smallint unsigned", "new"),
    ]
    assert A.load_table_status(conn, "lab", "t")["comment"] == "c"


def test_auto_increment(conn):
    declare(
        conn,
        "`lab`.`t`",
        [column("k", "int unsigned auto_increment"), column("v", "int", "null")],
        ["k"],
    )
    conn.query("INSERT INTO `lab`.`t` (v) VALUES (5)")
    conn.query("INSERT INTO `lab`.`t` (v) VALUES (6)")
    assert conn.query("SELECT k, v FROM `lab`.`t`").fetchall() == [(1, 5), (2, 6)]
    assert A.load_columns(conn, "lab", "t")[0]["autoincrement"] is True
    with pytest.raises(errors.DataJointError, match="auto_increment"):
        A.create_table_sql(
            "`lab`.`u`",
            [column("a", "int auto_increment"), column("b", "int")],
            ["a", "b"],
            [],
            [],
            "",
        )


def test_foreign_keys_between_schemas_are_enforced(conn):
    declare(conn, "`lab`.`#subject`", [column("subject_id", "int")], ["subject_id"])
    fk = A.foreign_key_sql(["subject_id"], "`lab`.`#subject`", ["subject_id"])
    key = A.key_column_sql("subject_id", "int", "")
    declare(
        conn,
        "`other`.`session`",
        [key, column("session", "smallint")],
        ["subject_id", "session"],
        [fk],
    )
    conn.query("INSERT INTO `lab`.`#subject` VALUES (1)")
    conn.query("INSERT INTO `other`.`session` VALUES (1, 1)")
    with pytest.raises(errors.IntegrityError):
        conn.query("INSERT INTO `other`.`session` VALUES (2, 1)")
    with pytest.raises(errors.IntegrityError):
        conn.query("DELETE FROM `lab`.`#subject`")
    rows = conn.query(*A.foreign_key_columns_query(["lab"]), as_dict=True).fetchall()
    assert [(r["referencing_table"], r["referenced_table"], r["column_name"]) for r in rows] == [
        ("`other`.`session`", "`lab`.`#subject`", "subject_id")
    ]
    assert conn.query(*A.primary_key_columns_query(["other"])).fetchall() == [
        ("`other`.`session`", "subject_id"),
        ("`other`.`session`", "session"),
    ]


def test_errors_have_datajoint_classes(conn):
    declare(conn, "`lab`.`t`", [column("k", "int"), column("v", "int")], ["k"])
    conn.query("INSERT INTO `lab`.`t` VALUES (1, 1)")
    with pytest.raises(errors.DuplicateError):
        conn.query("INSERT INTO `lab`.`t` VALUES (1, 2)")
    with pytest.raises(errors.MissingAttributeError):
        conn.query("INSERT INTO `lab`.`t` (k) VALUES (2)")
    with pytest.raises(errors.MissingTableError):
        conn.query("SELECT * FROM `lab`.`nope`")
    with pytest.raises(errors.UnknownAttributeError):
        conn.query("SELECT nope FROM `lab`.`t`")
    with pytest.raises(errors.QuerySyntaxError):
        conn.query("SELEC 1")


def test_transactions_and_scripts_are_atomic(conn):
    declare(conn, "`lab`.`t`", [column("k", "int")], ["k"])
    with pytest.raises(errors.DuplicateError):
        with conn.transaction:
            conn.query("INSERT INTO `lab`.`t` VALUES (1)")
            conn.query("INSERT INTO `lab`.`t` VALUES (1)")
    assert conn.query("SELECT count(*) FROM `lab`.`t`").fetchone()[0] == 0
    with conn.transaction:
        conn.query("INSERT INTO `lab`.`t` VALUES (2)")
        with pytest.raises(errors.DataJointError, match="Nested"):
            conn.start_transaction()
    assert conn.query("SELECT k FROM `lab`.`t`").fetchall() == [(2,)]
    # a script that fails half way leaves nothing behind
    with pytest.raises(errors.DataJointError):
        conn.query("CREATE TABLE `lab`.`u` (x INTEGER) STRICT; CREATE INDEX bad ON nope (x)")
    assert A.load_table_status(conn, "lab", "u") is None


def test_sqlite_literals():
    assert A.literal("O'Brien 100%") == "'O''Brien 100%%'"
    assert A.literal(b"\x00\xff") == "X'00ff'"
    assert A.literal(datetime.timedelta(hours=1, seconds=2)) == "'01:00:02'"
    assert A.literal(True) == "1"
    with pytest.raises(errors.DataJointError):
        A.literal(float("nan"))


def test_schema_catalog(tmp_path):
    c = SQLiteConnection(tmp_path / "pipeline.sqlite")
    assert A.list_schemas(c) == []
    A.create_schema(c, "lab")
    A.create_schema(c, "other")
    assert A.schema_exists(c, "lab") and not A.schema_exists(c, "nope")
    assert A.list_schemas(c) == ["lab", "other"]
    with pytest.raises(errors.DataJointError, match="cannot contain"):
        A.create_schema(c, "a.b")
    declare(c, "`lab`.`#subject`", [column("subject_id", "int")], ["subject_id"])
    fk = A.foreign_key_sql(["subject_id"], "`lab`.`#subject`", ["subject_id"])
    key = A.key_column_sql("subject_id", "int", "")
    declare(c, "`lab`.`session`", [key, column("s", "int")], ["subject_id", "s"], [fk])
    declare(
        c,
        "`lab`.`session__part`",
        [key, column("s", "int")],
        ["subject_id", "s"],
        [A.foreign_key_sql(["subject_id", "s"], "`lab`.`session`", ["subject_id", "s"])],
    )
    declare(c, "`other`.`t`", [column("k", "int")], ["k"])
    assert A.list_tables(c, "lab") == ["#subject", "session", "session__part"]
    assert A.table_exists(c, "lab", "session") and not A.table_exists(c, "other", "session")
    c.query("INSERT INTO `lab`.`#subject` VALUES (1)")
    c.query("INSERT INTO `lab`.`session` VALUES (1, 1)")
    A.drop_schema(c, "lab")  # referencing tables go first
    assert A.list_schemas(c) == ["other"]
    assert A.list_tables(c, "lab") == []
    assert A.list_tables(c, "other") == ["t"]
    c.close()
    # the file keeps the schemas
    c = SQLiteConnection(tmp_path / "pipeline.sqlite")
    assert A.list_schemas(c) == ["other"]
    c.close()


def test_single_precision_floats_read_as_mysql_prints_them():
    """``float`` columns come back with 6 significant digits (MySQL's text form); the
    vectorized rounding equals the text rounding for every exponent, zero, NULL and inf."""
    import numpy as np
    from datajoint_rs.adapters.sqlite import _parse_float32, _six_digits

    rng = np.random.default_rng(3)
    values = list(rng.standard_normal(50_000) * 10.0 ** rng.integers(-40, 40, 50_000))
    values += [0.0, -0.0, None, 1.5, 0.123456789, 999999.5, float("inf"), 1e-320, 16777217.0]
    expected = [None if v is None else _parse_float32(v) for v in values]
    assert _six_digits(values) == expected
    assert _parse_float32(0.123456789) == 0.123457
