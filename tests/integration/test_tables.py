"""The table layer as users use it: a lab schema declared with ``dj.Schema`` decorators
(tests/lab_schema.py), then insert, fetch, restrict, describe, virtual modules and errors
against a real server, checked against DataJoint 0.14's documented behaviour.

Needs DJ_HOST, DJ_USER, DJ_PASS (``eval "$(bash scripts/mariadb.sh env)"``); skipped
otherwise. Schemas are named ``djtest_tbl_*`` and dropped afterwards.
"""

from __future__ import annotations

import datetime
import decimal
import json
import re
import uuid
from pathlib import Path

import lab_schema
import numpy as np
import pytest

ENV = lab_schema.server_env()
if ENV is None:
    pytest.skip("DJ_HOST is not set: no database server to test against", allow_module_level=True)

import blob_helpers  # noqa: E402
import datajoint_rs as dj  # noqa: E402
import pandas  # noqa: E402
from datajoint_rs import errors  # noqa: E402

SUFFIX = uuid.uuid4().hex[:8]
SCHEMA = f"djtest_tbl_{SUFFIX}"
SCHEMA_B = f"djtest_tbl_{SUFFIX}_b"


@pytest.fixture(scope="module")
def lab(connection):
    for name in (SCHEMA, SCHEMA_B):
        connection.query(f"DROP DATABASE IF EXISTS `{name}`")
    module = lab_schema.load_lab(dj, SCHEMA, connection)
    yield module
    for name in (SCHEMA_B, SCHEMA):
        connection.query(f"DROP DATABASE IF EXISTS `{name}`")


DATA_TABLES = (  # children first
    "Release",
    "Analysis",
    "Stim",
    "Recording",
    "Rig",
    "Session.Trial",
    "Session",
    "Subject",
    "AllTypes",
    "Counter",
)


@pytest.fixture
def clean(lab):
    """Empty the non-lookup tables before the test."""
    for name in DATA_TABLES:
        lab_schema.get_class(lab, name).delete_quick()
    return lab


def count(table):
    return len(table())


def add_subjects(lab, n=3):
    lab.Subject.insert(
        dict(subject_id=i, species="mus musculus", sex="MF"[i % 2], dob=f"2020-01-{i + 1:02d}")
        for i in range(1, n + 1)
    )


def add_sessions(lab):
    add_subjects(lab)
    lab.Session.insert(
        [
            dict(subject_id=1, session=1, operator="ann", buddy=None),
            dict(subject_id=1, session=2, operator=None, buddy=2),
            dict(subject_id=2, session=1, operator="bob", buddy=None),
        ]
    )
    lab.Session.Trial.insert(
        dict(subject_id=s, session=n, trial=t, outcome=("hit", "miss")[t % 2], rt=0.25 * t)
        for s, n in ((1, 1), (1, 2), (2, 1))
        for t in range(4)
    )


# ---------------------------------------------------------------------------------------------
# declaration


def test_schema_declares_every_table(lab, connection):
    assert set(lab.schema.list_tables()) == {
        "#lab",
        "#species",
        "#release",
        "counter",
        "all_types",
        "rig",
        "subject",
        "session",
        "session__trial",
        "_stim",
        "recording",
        "__analysis",
    }
    order = lab.schema.list_tables()
    assert order.index("subject") < order.index("session") < order.index("session__trial")
    assert order.index("#lab") < order.index("rig") < order.index("recording")
    assert lab.Session.Trial.table_name == "session__trial"
    assert lab.Session.Trial.master is lab.Session
    assert lab.Stim.full_table_name == f"`{SCHEMA}`.`_stim`"
    assert lab.Analysis.table_name == "__analysis"
    assert lab.Species.table_name == "#species"
    for name in lab_schema.TABLE_CLASSES:
        table = lab_schema.get_class(lab, name)
        assert table().is_declared
        assert "Table definition:" in table.__doc__
    assert lab.Subject.heading.table_status["comment"] == "experimental subject"
    assert lab.Subject.primary_key == ["subject_id"]
    assert lab.Session.primary_key == ["subject_id", "session"]
    assert lab.Recording.heading.secondary_attributes == ["rig"]
    assert SCHEMA in dj.list_schemas(connection)
    assert "information_schema" not in dj.list_schemas(connection)
    assert lab.schema.exists
    assert lab.schema.database == SCHEMA


def test_deferred_activation_and_default_connection(lab):
    """The common user setup: dj.config, then dj.Schema() activated later on dj.conn()."""
    from datajoint_rs import connection as djconn

    saved = djconn.conn.__dict__.pop("connection", None)
    host, user, password = ENV
    try:
        with dj.config(database__host=host, database__user=user, database__password=password):
            schema = dj.Schema()

            @schema
            class Probe(dj.Manual):
                definition = """
                probe : varchar(16)
                """

            assert not schema.is_activated()
            schema.activate(SCHEMA_B)
            assert schema.connection is dj.conn()
            assert Probe.full_table_name == f"`{SCHEMA_B}`.`probe`"
            Probe.insert1(("np-1",))
            assert Probe.fetch1("probe") == "np-1"
            vm = dj.VirtualModule("lab_default", SCHEMA)
            assert vm.schema.connection is dj.conn()
            assert len(vm.Species()) == 2
            Probe.drop_quick()
    finally:
        if "connection" in djconn.conn.__dict__:
            djconn.conn.connection.close()
            del djconn.conn.connection
        if saved is not None:
            djconn.conn.connection = saved


def test_lookup_contents_are_inserted(lab):
    assert lab.Species.fetch("species").tolist() == ["mus musculus", "rattus norvegicus"]
    assert lab.Lab.fetch(as_dict=True, order_by="lab_code") == [
        dict(lab="tolias", lab_name="Tolias Lab", lab_code=1),
        dict(lab="svoboda", lab_name="Svoboda Lab", lab_code=2),
    ]


def test_log_records_declarations(lab, connection):
    log = dj.FreeTable(connection, f"`{SCHEMA}`.`~log`")
    events = log.fetch("event").tolist()
    assert "created" in events
    for name in ("subject", "session", "session__trial", "#lab", "_stim", "__analysis"):
        assert f"Declared `{SCHEMA}`.`{name}`" in events
    row = (log & {"event": "created"}).fetch1()
    assert row["version"] == dj.__version__ + "rs"
    assert "@" in row["user"]
    assert isinstance(row["timestamp"], datetime.datetime)
    assert "~log" not in lab.schema.list_tables()


def test_foreign_keys_and_indexes_in_the_database(lab, connection):
    ddl = connection.query(f"SHOW CREATE TABLE `{SCHEMA}`.`session`").fetchone()[1]
    assert "FOREIGN KEY (`buddy`) REFERENCES `subject` (`subject_id`)" in ddl
    assert "`buddy` int(10) unsigned DEFAULT NULL" in ddl
    assert "`session_ts` timestamp NOT NULL DEFAULT current_timestamp()" in ddl
    ddl = connection.query(f"SHOW CREATE TABLE `{SCHEMA}`.`rig`").fetchone()[1]
    assert re.search(r"UNIQUE KEY `\w+` \(`lab`\)", ddl)
    ddl = connection.query(f"SHOW CREATE TABLE `{SCHEMA}`.`#lab`").fetchone()[1]
    assert re.search(r"UNIQUE KEY `\w+` \(`lab_code`\)", ddl)
    ddl = connection.query(f"SHOW CREATE TABLE `{SCHEMA}`.`all_types`").fetchone()[1]
    assert "COMMENT='one column of every attribute type'" in ddl
    assert "`u` binary(16) NOT NULL COMMENT ':uuid:'" in ddl
    assert "`att` longblob DEFAULT NULL COMMENT ':attach:'" in ddl
    assert lab.Subject.heading.indexes == {
        ("species",): dict(unique=False, nullable=False),
        ("lab",): dict(unique=False, nullable=True),
        ("dob",): dict(unique=False, nullable=True),
    }
    assert lab.Session.parents(primary=True) == [f"`{SCHEMA}`.`subject`"]
    assert f"`{SCHEMA}`.`session__trial`" in lab.Session.children()
    assert lab.Session.parts() == [f"`{SCHEMA}`.`session__trial`"]
    assert f"`{SCHEMA}`.`__analysis`" in lab.Subject.descendants()
    assert f"`{SCHEMA}`.`#species`" in lab.Analysis.ancestors()
    fk = dict(lab.Session.parents(primary=False, foreign_key_info=True))
    assert fk[f"`{SCHEMA}`.`subject`"]["attr_map"] == {"buddy": "subject_id"}


# ---------------------------------------------------------------------------------------------
# every attribute type: insert and read back

BLOB = {
    "lb": np.arange(12, dtype="<f8").reshape(3, 4),
    "mb": {"name": "trace", "values": [1, 2.5, "three", (4, None)], "nested": {"ok": True}},
    "bl": np.array([[1 + 2j, 3 - 4j]], dtype=np.complex64),
}


def full_row(tmp_path, **changes):
    attachment = tmp_path / "notes.txt"
    attachment.write_bytes("attached ✓\n".encode())
    row = lab_schema.all_types_values(
        id=1,
        lb=BLOB["lb"],
        mb=BLOB["mb"],
        bl=BLOB["bl"],
        att=attachment,
        nint=None,
        nfloat=float("nan"),
        nstr=None,
    )
    row.update(changes)
    return row


def fetched_as_inserted(lab, rows, tmp_path):
    """Fetch the AllTypes rows with the ids of ``rows``, check that their values are the
    inserted ones, and return them."""
    fetched = []
    for row in rows:
        got = (lab.AllTypes & {"id": row["id"]}).fetch1(download_path=tmp_path / "dl")
        for name in ("lb", "vc", "j", "num", "d", "dt3", "t", "u", "en", "mb"):
            blob_helpers.assert_same(got[name], row[name], name)
        fetched.append(got)
    return fetched


def test_every_type_round_trips(clean, tmp_path):
    lab = clean
    row = full_row(tmp_path)
    lab.AllTypes.insert1(row)
    got = (lab.AllTypes & "id=1").fetch1(download_path=tmp_path / "dl")
    assert list(got) == lab.AllTypes.heading.names
    expected = dict(
        row,
        num=decimal.Decimal("-12345.678"),
        unum=decimal.Decimal("999.99"),
        flag=1,
        nfloat=None,
        att=str(tmp_path / "dl" / "notes.txt"),
        dint=7,
        dstr="x y",
    )
    ts = got.pop("ts")
    expected.pop("ts", None)
    assert isinstance(ts, datetime.datetime)
    assert abs(ts - datetime.datetime.now()) < datetime.timedelta(hours=14)
    for name, value in expected.items():
        blob_helpers.assert_same(got[name], value, name)
    assert (tmp_path / "dl" / "notes.txt").read_bytes() == "attached ✓\n".encode()

    # the structured array of fetch(): 0.14's dtypes
    rec = lab.AllTypes.fetch(download_path=tmp_path / "dl2")
    ints = "id i8 u8 i16 u16 i24 u24 i32 u32 i64 u64 flag dint".split()
    for name in rec.dtype.names:
        if name in ints:
            assert rec.dtype[name] == np.int64, name
        elif name in ("f32", "f64", "nfloat"):
            assert rec.dtype[name] == np.float64, name
        else:
            assert rec.dtype[name] == np.dtype("O"), name
    assert rec.shape == (1,)
    assert np.isnan(rec["nfloat"][0])  # a NULL float is NaN in the array, None in a dict
    assert rec["nint"][0] is None
    blob_helpers.assert_same(rec["lb"][0], BLOB["lb"])
    blob_helpers.assert_same(rec["mb"][0], BLOB["mb"])
    assert rec["u64"][0] == 9223372036854775807


def test_large_insert_through_prepared_statements(clean, tmp_path, connection, monkeypatch):
    """Outside a transaction, an insert carrying over a megabyte of binary values goes
    through the engine's insert connection: binary values as parameters of a prepared
    statement, everything else as the same literals: every type round-trips, a duplicate is
    a DuplicateError that writes nothing, and the caller's session is untouched."""
    from datajoint_rs import engine

    lab = clean
    before = connection.query("SELECT @@character_set_client, @@collation_connection").fetchone()
    rng = np.random.default_rng(8)
    big = rng.integers(0, 256, 1_500_000, dtype=np.uint8)  # every byte value
    rows = [
        full_row(tmp_path, id=i, lb=big, vc="ünïcødé ' \\ \" ? ✓", j={"é?": [i]}) for i in (1, 2)
    ]
    used = []
    write = engine.write
    monkeypatch.setattr(engine, "write", lambda *a: used.append(a[0]) or write(*a))
    monkeypatch.setattr(type(connection), "binary_charset", None)  # not the text path
    lab.AllTypes.insert(rows)
    assert used == [lab.AllTypes.connection]
    for row, got in zip(rows, fetched_as_inserted(lab, rows, tmp_path), strict=True):
        assert Path(got["att"]).read_bytes() == row["att"].read_bytes()
    with pytest.raises(dj.errors.DuplicateError):
        lab.AllTypes.insert([full_row(tmp_path, id=3, lb=big), rows[0]])
    assert sorted(lab.AllTypes.fetch("id")) == [1, 2]  # id=3 was rolled back with it
    lab.AllTypes.insert([rows[0], full_row(tmp_path, id=3, lb=big)], skip_duplicates=True)
    assert sorted(lab.AllTypes.fetch("id")) == [1, 2, 3]
    lab.AllTypes.insert([dict(rows[0], vc="replaced")], replace=True)
    assert (lab.AllTypes & "id=1").fetch1("vc") == "replaced"
    after = connection.query("SELECT @@character_set_client, @@collation_connection").fetchone()
    assert after == before and not connection.in_transaction


def test_prepared_insert_follows_the_session_settings(clean, connection):
    """The engine's insert connection takes the caller's session settings as they are at the
    insert: with foreign_key_checks switched off for a bulk load (as on the caller's own
    connection), a large insert of rows whose parents are missing goes in; switched back
    on, it is refused as on the caller's connection."""
    lab = clean
    big = np.random.default_rng(3).integers(0, 256, 1_500_000, dtype=np.uint8)
    row = dict(subject_id=999, session=1, stim=big)
    with pytest.raises(errors.IntegrityError):
        lab.Stim.insert1(row, allow_direct_insert=True)
    connection.query("SET SESSION foreign_key_checks = 0")
    try:
        lab.Stim.insert1(row, allow_direct_insert=True)
    finally:
        connection.query("SET SESSION foreign_key_checks = 1")
    assert len(lab.Stim & "subject_id = 999") == 1
    connection.query("SET SESSION foreign_key_checks = 0")
    try:
        (lab.Stim & "subject_id = 999").delete_quick()
    finally:
        connection.query("SET SESSION foreign_key_checks = 1")
    with pytest.raises(errors.IntegrityError):
        lab.Stim.insert1(dict(row, session=2), allow_direct_insert=True)


def test_insert_connection_lost(clean, tmp_path, connection, monkeypatch):
    """The engine's idle insert connection closed by the server is replaced; a connection lost
    between two statements of one insert raises LostConnectionError and writes nothing."""
    from datajoint_rs import engine
    from datajoint_rs.table import Table

    lab = clean
    big = np.random.default_rng(9).integers(0, 256, 1_200_000, dtype=np.uint8)
    lab.AllTypes.insert1(full_row(tmp_path, id=1, lb=big))
    writer = engine.writer(connection)
    connection.query(f"KILL CONNECTION {writer.connection_id}")
    lab.AllTypes.insert1(full_row(tmp_path, id=2, lb=big))  # on a fresh connection
    assert sorted(lab.AllTypes.fetch("id")) == [1, 2]

    victim = writer.connection_id
    write = engine.write

    def kill_after_first(conn, items, sql):
        def gen():
            for k, item in enumerate(items):
                if k == 1:
                    connection.query(f"KILL CONNECTION {victim}")
                yield item

        return write(conn, gen(), sql)

    monkeypatch.setattr(engine, "write", kill_after_first)
    monkeypatch.setattr(Table, "_packet_budget", lambda self: 2_000_000)  # a statement a row
    rows = [full_row(tmp_path, id=i, lb=big) for i in (3, 4, 5)]
    with pytest.raises(errors.LostConnectionError):
        lab.AllTypes.insert(rows)
    assert sorted(lab.AllTypes.fetch("id")) == [1, 2]
    monkeypatch.setattr(engine, "write", write)
    lab.AllTypes.insert(rows)
    assert sorted(lab.AllTypes.fetch("id")) == [1, 2, 3, 4, 5]


def test_large_insert_on_the_binary_charset(clean, tmp_path, connection, monkeypatch):
    """Inside a transaction (where the insert must use the caller's connection), an insert
    carrying over a megabyte of binary values is sent on the binary character set (escaped
    ``_binary`` literals, ``_utf8mb4`` strings): every type still round-trips, and the
    session's character set is back afterwards, also after a failed insert."""
    lab = clean
    before = connection.query("SELECT @@character_set_client, @@collation_connection").fetchone()
    rng = np.random.default_rng(7)
    big = rng.integers(0, 256, 1_500_000, dtype=np.uint8)  # every byte value, escapes included
    rows = [full_row(tmp_path, id=i, lb=big, vc="ünïcødé ' \\ \" ✓", j={"é": [i]}) for i in (1, 2)]
    used = []
    original = type(connection).binary_charset

    def spy(self):
        used.append(self)
        return original(self)

    monkeypatch.setattr(type(connection), "binary_charset", spy)
    with lab.AllTypes.connection.transaction:
        lab.AllTypes.insert(rows)
    assert used == [lab.AllTypes.connection]
    fetched_as_inserted(lab, rows, tmp_path)
    after = connection.query("SELECT @@character_set_client, @@collation_connection").fetchone()
    assert after == before
    with pytest.raises(dj.errors.DuplicateError):
        with lab.AllTypes.connection.transaction:
            lab.AllTypes.insert1(rows[0])
    assert connection.query("SELECT @@character_set_client").fetchone() == before[:1]
    assert len(lab.AllTypes) == 2


def test_defaults_and_nulls(clean, tmp_path):
    lab = clean
    row = full_row(tmp_path, id=2)
    for name in ("lb", "mb", "bl", "att", "nint", "nfloat", "nstr", "j", "ts", "dint", "dstr"):
        row.pop(name, None)
    lab.AllTypes.insert1(row)
    got = (lab.AllTypes & dict(id=2)).fetch1()
    for name in ("lb", "mb", "bl", "att", "nint", "nfloat", "nstr", "j"):
        assert got[name] is None, name
    assert got["dint"] == 7 and got["dstr"] == "x y"
    assert isinstance(got["ts"], datetime.datetime)
    # None, NaN and "" in numeric secondary attributes mean the column default (NULL here)
    lab.AllTypes.insert1(full_row(tmp_path, id=3, nint="", nfloat=np.nan, dint=None))
    assert (lab.AllTypes & "id=3").fetch1(download_path=tmp_path)["nfloat"] is None
    # 0.14: fetch1 of named attributes reads them through fetch()'s array: a NULL float is NaN
    nint, nfloat, dint = (lab.AllTypes & "id=3").fetch1("nint", "nfloat", "dint")
    assert nint is None and np.isnan(nfloat) and dint == 7 and isinstance(dint, np.int64)


def test_bool_and_numpy_scalars(clean, tmp_path):
    lab = clean
    lab.AllTypes.insert1(
        full_row(
            tmp_path,
            id=4,
            flag=np.bool_(False),
            i8=np.int8(-5),
            u64=np.uint64(2**63 - 1),
            f32=np.float32(0.5),
            f64=np.float64(1 / 3),
            num=np.float64(2.5),
        )
    )
    got = (lab.AllTypes & "id=4").fetch1("flag", "i8", "u64", "f32", "f64", "num")
    assert got == (0, -5, 2**63 - 1, 0.5, 1 / 3, decimal.Decimal("2.500"))


def test_auto_increment(clean):
    lab = clean
    lab.Counter.insert1(dict(label="first"))
    lab.Counter.insert([dict(label="second"), dict(label="third")])
    assert lab.Counter.fetch("label", order_by="cid").tolist() == ["first", "second", "third"]
    cids = lab.Counter.fetch("cid", order_by="cid")
    assert cids.tolist() == list(range(cids[0], cids[0] + 3))
    lab.Counter.insert1(dict(cid=100, label="explicit"))
    assert (lab.Counter & "cid=100").fetch1("label") == "explicit"
    # None (or NaN) for an auto_increment key means "the next value", as the server does it
    lab.Counter.insert([dict(cid=None, label="none"), dict(cid=np.nan, label="nan")])
    assert lab.Counter.fetch("cid", order_by="cid").tolist()[-3:] == [100, 101, 102]


def test_primary_key_default(clean):
    lab = clean
    lab.Release.insert1(dict(label="first"))
    lab.Release.insert1(dict(release=2, label="second"))
    with pytest.raises(errors.DuplicateError):
        lab.Release.insert1(dict(release=None, label="again"))  # None: the default, 1
    assert lab.Release.fetch(as_dict=True, order_by="KEY") == [
        dict(release=1, label="first"),
        dict(release=2, label="second"),
    ]
    lab.Release.delete_quick()


# ---------------------------------------------------------------------------------------------
# insert forms and options


def test_insert_row_forms(clean, tmp_path):
    lab = clean
    lab.Subject.insert1(dict(subject_id=1, species="mus musculus", sex="M"))  # dict
    lab.Subject.insert1((2, "rattus norvegicus", "svoboda", "F", "2021-05-05", 30.5, "x"))
    rec = np.array(
        [(3, "mus musculus", "U"), (4, "mus musculus", "F")],
        dtype=[("subject_id", "<i8"), ("species", "O"), ("sex", "O")],
    )
    lab.Subject.insert(rec)  # numpy records
    frame = pandas.DataFrame(
        dict(subject_id=[5, 6], species=["mus musculus"] * 2, weight=[np.nan, 21.0])
    )
    lab.Subject.insert(frame)  # unnamed index dropped
    lab.Subject.insert(frame.assign(subject_id=[7, 8]).set_index("subject_id"))  # index kept
    csv_path = tmp_path / "subjects.csv"
    csv_path.write_text(
        "subject_id,species,sex,note\n9,mus musculus,M,from csv\n10,mus musculus,F,\n"
    )
    lab.Subject.insert(csv_path)
    lab.Subject.insert(iter([dict(subject_id=11, species="mus musculus")]))  # any iterable
    assert lab.Subject.fetch("subject_id", order_by="subject_id").tolist() == list(range(1, 12))
    assert (lab.Subject & "subject_id=2").fetch1() == dict(
        subject_id=2,
        species="rattus norvegicus",
        lab="svoboda",
        sex="F",
        dob=datetime.date(2021, 5, 5),
        weight=30.5,
        note="x",
    )
    assert np.isnan((lab.Subject & "subject_id=5").fetch1("weight"))
    assert (lab.Subject & "subject_id=8").fetch1("weight") == 21.0
    assert (lab.Subject & "subject_id=9").fetch1("note", "sex") == ("from csv", "M")
    assert (lab.Subject & "subject_id=10").fetch1("note") == ""
    # records fetched from one table go into another
    lab.Session.insert1(dict(subject_id=1, session=1))
    lab.Stim.insert(
        [dict(k, stim=np.ones(2)) for k in lab.Session.fetch("KEY")], allow_direct_insert=True
    )
    assert len(lab.Stim) == 1


def test_insert_from_query(clean):
    lab = clean
    add_sessions(lab)
    lab.Stim.insert(
        [dict(k, stim=np.arange(3)) for k in lab.Session.fetch("KEY")], allow_direct_insert=True
    )
    lab.Analysis.insert(
        (lab.Stim & "subject_id=1").proj(score="session * 1.5"), allow_direct_insert=True
    )
    assert sorted(lab.Analysis.fetch("score").tolist()) == [1.5, 3.0]
    with pytest.raises(dj.DataJointError, match="Attribute stim not found"):
        lab.Analysis.insert(lab.Stim, allow_direct_insert=True)
    with pytest.raises(errors.DuplicateError):
        lab.Analysis.insert(lab.Stim.proj(score="(session)"), allow_direct_insert=True)
    lab.Analysis.insert(
        lab.Stim.proj(score="(session)"), skip_duplicates=True, allow_direct_insert=True
    )
    assert sorted(lab.Analysis.fetch("score").tolist()) == [1.0, 1.5, 3.0]
    lab.Analysis.insert(lab.Stim.proj(score="session + 10"), replace=True, allow_direct_insert=True)
    assert sorted(lab.Analysis.fetch("score").tolist()) == [11.0, 11.0, 12.0]
    # extra attributes of the query are dropped with ignore_extra_fields; a class works too
    lab.Analysis.delete_quick()
    lab.Analysis.insert(lab.Stim, ignore_extra_fields=True, allow_direct_insert=True)
    assert np.isnan(lab.Analysis.fetch("score")).all()
    # computed values of a projection
    lab.Session.Trial.insert(
        lab.Session.proj(trial="(session) + 100", outcome="'ignore'", rt="session / 4")
    )
    assert (lab.Session.Trial & "trial > 100").fetch("rt", order_by="KEY").tolist() == [
        0.25,
        0.5,
        0.25,
    ]


def test_replace_skip_duplicates_ignore_extra_fields(clean):
    lab = clean
    add_subjects(lab)
    with pytest.raises(errors.DuplicateError) as info:
        lab.Subject.insert1(dict(subject_id=1, species="mus musculus"))
    assert "skip_duplicates=True" in str(info.value)
    assert isinstance(info.value, dj.DataJointError)
    lab.Subject.insert(
        [
            dict(subject_id=1, species="mus musculus", note="dup"),
            dict(subject_id=9, species="mus musculus", note="new"),
        ],
        skip_duplicates=True,
    )
    assert (lab.Subject & "subject_id=1").fetch1("note") == ""
    assert len(lab.Subject) == 4
    lab.Subject.insert1(dict(subject_id=1, species="rattus norvegicus", note="new"), replace=True)
    assert (lab.Subject & "subject_id=1").fetch1("species", "note", "sex") == (
        "rattus norvegicus",
        "new",
        "U",
    )
    with pytest.raises(dj.DataJointError, match="extra|heading"):
        lab.Subject.insert1(dict(subject_id=20, species="mus musculus", colour="brown"))
    lab.Subject.insert1(
        dict(subject_id=20, species="mus musculus", colour="brown"), ignore_extra_fields=True
    )
    rec = np.array(
        [(21, "mus musculus", 1.0)], dtype=[("subject_id", int), ("species", "O"), ("x", float)]
    )
    lab.Subject.insert(rec, ignore_extra_fields=True)
    assert len(lab.Subject) == 6
    # skip_duplicates also swallows conflicts on secondary unique keys (0.14: ON DUPLICATE KEY)
    lab.Rig.insert1(dict(rig="r1", lab="tolias"))
    lab.Rig.insert1(dict(rig="r2", lab="tolias"), skip_duplicates=True)
    assert lab.Rig.fetch("rig").tolist() == ["r1"]


def test_direct_insert_guard(clean):
    lab = clean
    add_sessions(lab)
    key = dict(subject_id=1, session=1)
    for table, row in ((lab.Stim, dict(key, stim=1)), (lab.Analysis, dict(key, score=2.0))):
        with pytest.raises(dj.DataJointError, match="allow_direct_insert=True"):
            table.insert1(row)
        with pytest.raises(dj.DataJointError, match="allow_direct_insert=True"):
            table().insert([row])
        if table is lab.Stim:
            table.insert1(row, allow_direct_insert=True)
    assert len(lab.Stim) == 1
    lab.Analysis.insert1(dict(key, score=2.0), allow_direct_insert=True)
    assert lab.Analysis.fetch1("score") == 2.0
    # Manual and Lookup tables take direct inserts
    lab.Species.insert1(("danio rerio", "zebrafish"), skip_duplicates=True)
    assert len(lab.Species & "species='danio rerio'") == 1
    (lab.Species & "species='danio rerio'").delete_quick()


def test_insert_with_different_fields_is_refused(clean):
    lab = clean
    with pytest.raises(dj.DataJointError, match="different fields"):
        lab.Subject.insert(
            [
                dict(subject_id=1, species="mus musculus"),
                dict(subject_id=2, species="mus musculus", sex="F"),
            ]
        )
    assert len(lab.Subject) == 0
    # the same fields in another order are fine
    lab.Subject.insert(
        [
            dict(subject_id=1, species="mus musculus", sex="M"),
            dict(sex="F", species="mus musculus", subject_id=2),
        ]
    )
    assert lab.Subject.fetch("sex", order_by="subject_id").tolist() == ["M", "F"]


# ---------------------------------------------------------------------------------------------
# errors: each a DataJointError, and nothing partially written


GOOD_VALUES = dict(
    species="mus musculus", note="ok", weight=1.5, sex="M", dob="2020-01-01", lab="tolias", bogus=1
)


def bad_rows(n, bad):
    """``n`` valid rows with the fields of ``bad`` (as far as they can be valid), then ``bad``."""
    good = [
        dict({k: GOOD_VALUES[k] for k in bad if k != "subject_id"}, subject_id=100 + i)
        for i in range(n)
    ]
    if "subject_id" not in bad:
        good = [{k: v for k, v in row.items() if k != "subject_id"} for row in good]
    return good + [bad]


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (dict(subject_id=1, species="mus musculus"), errors.DuplicateError, "skip_duplicates"),
        (dict(subject_id=200, species="homo sapiens"), errors.IntegrityError, "foreign key"),
        (dict(species="mus musculus"), errors.MissingAttributeError, "subject_id"),
        (dict(subject_id=201, species="mus musculus", bogus=1), dj.DataJointError, "bogus"),
        (dict(subject_id=None, species="mus musculus"), errors.MissingAttributeError, "subject_id"),
        (
            dict(subject_id=np.nan, species="mus musculus"),
            errors.MissingAttributeError,
            "subject_id",
        ),
        (dict(subject_id=202, species="mus musculus", note="x" * 17), dj.DataJointError, "note"),
        (dict(subject_id=-1, species="mus musculus"), dj.DataJointError, "subject_id"),
        (dict(subject_id=2**32, species="mus musculus"), dj.DataJointError, "subject_id"),
        (dict(subject_id=203, species="mus musculus", weight="heavy"), dj.DataJointError, "weight"),
        (dict(subject_id=204, species="mus musculus", weight=[1, 2]), dj.DataJointError, "weight"),
        (dict(subject_id=205, species="mus musculus", sex="X"), dj.DataJointError, "sex"),
        (dict(subject_id=206, species="mus musculus", dob="yesterday"), dj.DataJointError, "dob"),
        (dict(subject_id=207, species="mus musculus", lab="nolab"), errors.IntegrityError, ""),
    ],
    ids=[
        "duplicate",
        "missing-parent",
        "missing-pk",
        "unknown-attr",
        "none-in-key",
        "nan-in-key",
        "string-too-long",
        "negative-unsigned",
        "int-out-of-range",
        "text-for-float",
        "list-for-float",
        "bad-enum",
        "bad-date",
        "missing-nullable-parent",
    ],
)
def test_failed_insert_writes_nothing(clean, bad, error, message):
    lab = clean
    lab.Subject.insert1(dict(subject_id=1, species="mus musculus"))
    rows = bad_rows(5, bad)
    with pytest.raises(error) as info:
        lab.Subject.insert(rows)
    assert isinstance(info.value, dj.DataJointError)
    assert re.search(message, str(info.value), re.IGNORECASE), str(info.value)
    assert len(lab.Subject) == 1  # none of the good rows went in either
    with pytest.raises(error):
        lab.Subject.insert1(bad)
    assert len(lab.Subject) == 1


def test_insert_errors_for_bad_arguments(clean):
    lab = clean
    with pytest.raises(dj.DataJointError, match="Incorrect number of attributes"):
        lab.Subject.insert1((1, "mus musculus"))
    with pytest.raises(dj.DataJointError, match="cannot be inserted"):
        lab.Subject.insert1(5)
    with pytest.raises(dj.DataJointError, match="UUID"):
        lab.AllTypes.insert1(dict(id=1, u="not-a-uuid"))
    lab.Subject.insert1(dict(subject_id=1, species="mus musculus"), skip_duplicates=True)
    with pytest.raises(dj.DataJointError):
        lab.Session.insert1(dict(subject_id=1, session="abc"))
    lab.Subject.insert([])  # nothing to do
    assert len(lab.Subject) == 1


# ---------------------------------------------------------------------------------------------
# fetch


def test_fetch_forms(clean):
    lab = clean
    add_sessions(lab)
    trial = lab.Session.Trial
    rec = trial.fetch(order_by="KEY")
    assert isinstance(rec, np.ndarray)
    assert rec.dtype.names == ("subject_id", "session", "trial", "outcome", "rt")
    assert [rec.dtype[n] for n in rec.dtype.names] == [
        np.dtype("int64"),
        np.dtype("int64"),
        np.dtype("int64"),
        np.dtype("O"),
        np.dtype("float64"),
    ]
    assert len(rec) == 12
    frame = trial.fetch(format="frame", order_by="KEY")
    assert list(frame.index.names) == ["subject_id", "session", "trial"]
    assert list(frame.columns) == ["outcome", "rt"]
    assert frame.loc[(1, 2, 3), "rt"] == 0.75
    with dj.config(fetch_format="frame"):
        assert isinstance(trial.fetch(), pandas.DataFrame)
        assert isinstance(trial.fetch("rt"), np.ndarray)
    dicts = trial.fetch(as_dict=True, order_by="KEY")
    assert dicts[5] == dict(subject_id=1, session=2, trial=1, outcome="miss", rt=0.25)
    rt = trial.fetch("rt", order_by="KEY")
    assert rt.dtype == np.float64 and rt.shape == (12,)
    outcome, rt2 = trial.fetch("outcome", "rt", order_by="KEY")
    assert isinstance(trial.fetch("outcome", "rt"), list)  # 0.14: a list, not a tuple
    assert outcome.tolist()[:2] == ["hit", "miss"] and rt2.tolist() == rt.tolist()
    keys = trial.fetch("KEY", order_by="KEY")
    assert keys[0] == dict(subject_id=1, session=1, trial=0)
    assert trial.fetch(dj.key, order_by="KEY") == keys
    keys2, rt3 = trial.fetch("KEY", "rt", order_by="KEY")
    assert keys2 == keys and rt3.tolist() == rt.tolist()
    assert trial.fetch("trial", "rt", as_dict=True, order_by="KEY")[1] == dict(trial=1, rt=0.25)
    assert trial.fetch("KEY", "rt", as_dict=True, order_by="KEY")[1] == dict(
        subject_id=1, session=1, trial=1, rt=0.25
    )
    # order_by, limit, offset
    assert trial.fetch("trial", order_by="trial DESC", limit=2).tolist() == [3, 3]
    assert trial.fetch("KEY", order_by=("subject_id DESC", "session", "trial"), limit=1) == [
        dict(subject_id=2, session=1, trial=0)
    ]
    assert [k["trial"] for k in trial.fetch("KEY", order_by="KEY", limit=3, offset=2)] == [2, 3, 0]
    assert len(trial.fetch(offset=10, order_by="KEY")) == 2
    assert len(trial.fetch(limit=5)) == 5
    # with no rows
    empty = trial & "trial > 100"
    assert empty.fetch().shape == (0,)
    assert empty.fetch().dtype == rec.dtype
    assert empty.fetch(as_dict=True) == []
    assert empty.fetch("KEY") == []
    assert empty.fetch("rt").shape == (0,)
    with pytest.raises(dj.DataJointError):
        trial.fetch("rt", format="frame")
    with pytest.raises(dj.DataJointError):
        trial.fetch(format="xml")
    with pytest.raises(dj.DataJointError):
        trial.fetch("no_such_attribute")


def test_fetch1_forms(clean):
    lab = clean
    add_sessions(lab)
    one = lab.Session.Trial & dict(subject_id=1, session=2, trial=3)
    assert one.fetch1() == dict(subject_id=1, session=2, trial=3, outcome="miss", rt=0.75)
    assert one.fetch1("outcome", "rt") == ("miss", 0.75)
    assert one.fetch1("rt") == 0.75
    assert one.fetch1("KEY") == dict(subject_id=1, session=2, trial=3)
    assert one.fetch1("KEY", "rt") == (dict(subject_id=1, session=2, trial=3), 0.75)
    for query in (lab.Session.Trial, lab.Session.Trial & "trial > 100"):
        with pytest.raises(dj.DataJointError, match="exactly one|one tuple"):
            query.fetch1()
        with pytest.raises(dj.DataJointError, match="exactly one|one tuple"):
            query.fetch1("rt")


def test_fetch_blobs_and_squeeze(clean):
    lab = clean
    add_sessions(lab)
    lab.Stim.insert(
        [
            dict(subject_id=1, session=1, stim=np.array([[1.0, 2.0, 3.0]])),
            dict(subject_id=1, session=2, stim=np.float64(5.0)),
            dict(subject_id=2, session=1, stim={"a": [1, 2]}),
        ],
        allow_direct_insert=True,
    )
    stims = lab.Stim.fetch("stim", order_by="KEY")
    assert stims.dtype == object
    blob_helpers.assert_same(stims[0], np.array([[1.0, 2.0, 3.0]]))
    blob_helpers.assert_same(stims[2], {"a": [1, 2]})
    squeezed = lab.Stim.fetch("stim", order_by="KEY", squeeze=True)
    blob_helpers.assert_same(squeezed[0], np.array([1.0, 2.0, 3.0]))
    assert (lab.Stim & "session=2").fetch1("stim", squeeze=True) == 5.0
    assert not isinstance((lab.Stim & "session=2").fetch1("stim", squeeze=True), np.ndarray)
    # a blob column whose first value is a scalar number takes that number's type (0.14)
    rec = (lab.Stim & "session=2").fetch()
    assert rec.dtype["stim"] == np.dtype("O")


def test_columnar_methods(clean):
    lab = clean
    add_sessions(lab)
    trial = lab.Session.Trial & "subject_id=1"
    assert trial.to_dicts(order_by="KEY") == trial.fetch(as_dict=True, order_by="KEY")
    assert trial.keys(order_by="KEY") == trial.fetch("KEY", order_by="KEY")
    frame = trial.to_pandas(order_by="KEY")
    assert frame.equals(trial.fetch(format="frame", order_by="KEY"))
    arrays = trial.to_arrays(order_by="KEY")
    blob_helpers.assert_same(arrays, trial.fetch(order_by="KEY"))
    rt, outcome = trial.to_arrays("rt", "outcome", order_by="KEY")
    assert rt.tolist() == trial.fetch("rt", order_by="KEY").tolist()
    assert outcome[0] == "hit"
    table = trial.to_arrow(order_by="KEY")
    assert table.num_rows == 8
    assert table.column_names == ["subject_id", "session", "trial", "outcome", "rt"]
    assert table.column("rt").to_pylist() == rt.tolist()


# ---------------------------------------------------------------------------------------------
# restriction and other query operations


def test_restrictions(clean):
    lab = clean
    add_sessions(lab)
    trial = lab.Session.Trial
    assert len(trial & dict(subject_id=1)) == 8
    assert len(trial & dict(subject_id=1, unknown_attr=5)) == 8  # unknown keys ignored
    assert len(trial & "rt > 0.3") == 6
    assert len(trial & "outcome = 'hit'") == 6
    assert len(trial & 'outcome LIKE "h%"') == 6
    assert len(trial & [dict(trial=0), dict(trial=3)]) == 6  # list: OR
    assert len(trial & [dict(trial=0), "trial = 3"]) == 6
    assert len(trial & []) == 0
    assert len(trial & None) == 0
    assert len(trial & True) == 12 and len(trial & False) == 0
    assert len(trial & dj.AndList([dict(subject_id=1), "trial > 1"])) == 4
    assert len(trial & dj.Not(dict(subject_id=1))) == 4
    assert len(trial - dict(subject_id=1)) == 4
    assert len(trial - [dict(trial=0), dict(trial=1)]) == 6
    assert len(trial - []) == 12
    assert len(trial & (lab.Session & "operator = 'ann'")) == 4
    assert len(trial - lab.Stim) == 12
    assert len(trial & lab.Session.proj()) == 12
    assert len(lab.Subject & lab.Session) == 2
    assert len(lab.Subject - lab.Session) == 1
    keys = (lab.Session & "operator IS NULL").fetch("KEY")
    assert keys == [dict(subject_id=1, session=2)]
    rec = trial.fetch(order_by="KEY", limit=2)
    assert len(trial & rec) == 2  # a structured array: OR of its records
    assert len(trial & rec[0]) == 1
    frame = pandas.DataFrame([dict(subject_id=2, session=1)])
    assert len(trial & frame) == 4
    assert len(lab.Session & dict(buddy=2)) == 1
    assert len(lab.Session & dict(buddy=None)) == 2
    # values with quotes and percent signs are escaped
    assert len(lab.Subject & dict(note='it\'s 100% "fine"')) == 0
    lab.Subject.insert1(dict(subject_id=50, species="mus musculus", note='it\'s 100% "ok"'))
    assert len(lab.Subject & dict(note='it\'s 100% "ok"')) == 1
    # dates and uuids
    assert len(lab.Subject & dict(dob=datetime.date(2020, 1, 2))) == 1
    assert len(lab.Subject & "dob > '2020-01-02'") == 2
    rid = uuid.uuid4()
    lab.Rig.insert1(dict(rig="r1", lab="tolias"))
    lab.Recording.insert1(dict(subject_id=1, session=1, rec_id=rid, rig="r1"))
    assert len(lab.Recording & dict(rec_id=rid)) == 1
    assert len(lab.Recording & dict(rec_id=str(rid))) == 1
    assert len(lab.Recording & dict(rec_id=uuid.uuid4())) == 0
    assert (lab.Recording & dict(rec_id=rid)).fetch1("rec_id") == rid
    with pytest.raises(dj.DataJointError):
        len(lab.Recording & dict(rec_id="nonsense"))
    # restricting by a class and chained restrictions
    assert len(lab.Subject & lab.Session & "subject_id > 1") == 1
    assert len((trial & "trial > 0") & "trial < 3") == 6
    with pytest.raises(dj.DataJointError):
        len(trial & "no_such_column = 1")


def test_restrict_by_typed_values(clean, tmp_path):
    lab = clean
    lab.AllTypes.insert1(full_row(tmp_path, f32=0.1))
    lab.AllTypes.insert1(full_row(tmp_path, id=2, t=datetime.timedelta(seconds=-90), f32=2.0))
    matches = {
        "dt3": datetime.datetime(2024, 2, 29, 1, 2, 3, 456000),
        "d": datetime.date(2024, 2, 29),
        "num": decimal.Decimal("-12345.678"),
        "u": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "i64": np.int64(-9223372036854775808),
        "u8": np.uint8(255),
        "flag": True,
        "en": "beta",
        "vc": "ünïcødé ✓ 日本",
    }
    for name, value in matches.items():
        assert len(lab.AllTypes & {name: value}) == 2, name
    assert (lab.AllTypes & {"t": datetime.timedelta(hours=25, minutes=1, seconds=2)}).fetch1(
        "id"
    ) == 1
    assert (lab.AllTypes & {"t": datetime.timedelta(seconds=-90)}).fetch1("id") == 2
    assert (lab.AllTypes & {"t": np.timedelta64(-90000, "ms")}).fetch1("id") == 2
    assert (lab.AllTypes & {"f32": np.float32(2.0)}).fetch1("id") == 2
    assert (lab.AllTypes & {"dt": np.datetime64("2024-02-29T23:59:58")}).fetch("id").size == 2


def test_join_and_proj(clean):
    lab = clean
    add_sessions(lab)
    joined = lab.Session * lab.Subject
    assert len(joined) == 3
    assert set(joined.heading.names) >= {"operator", "species", "sex"}
    row = (joined & dict(subject_id=2)).fetch1()
    assert row["species"] == "mus musculus" and row["operator"] == "bob"
    proj = lab.Subject.proj("sex", birth="dob")
    assert proj.heading.names == ["subject_id", "sex", "birth"]
    assert (proj & "subject_id=1").fetch1("birth") == datetime.date(2020, 1, 2)
    computed = lab.Session.Trial.proj(rt_ms="rt * 1000")
    assert (computed & dict(subject_id=1, session=1, trial=2)).fetch1("rt_ms") == 500.0
    assert len(computed & "rt_ms > 400") == 6


def test_len_bool_contains_iteration(clean):
    lab = clean
    assert len(lab.Subject) == 0
    assert not lab.Subject()
    assert bool(lab.Subject)  # a class is always truthy
    add_sessions(lab)
    assert len(lab.Subject) == 3 and bool(lab.Subject())
    assert not (lab.Subject & "subject_id > 10")
    assert dict(subject_id=1) in lab.Subject()
    assert dict(subject_id=99) not in lab.Subject()
    assert "subject_id = 2" in lab.Subject()
    rows = list(lab.Subject & "subject_id < 3")
    assert sorted(r["subject_id"] for r in rows) == [1, 2]
    assert all(set(r) == set(lab.Subject.heading.names) for r in rows)
    keys = list(lab.Session.proj())  # all-key heading: iteration yields keys
    assert sorted(k["session"] for k in keys) == [1, 1, 2]
    assert sorted(r["subject_id"] for r in lab.Subject) == [1, 2, 3]  # iter() of a class


def test_head_tail_and_preview(clean, connection):
    lab = clean
    add_sessions(lab)
    trial = lab.Session.Trial
    head = trial.head(3)
    assert [tuple(r)[:3] for r in head] == [(1, 1, 0), (1, 1, 1), (1, 1, 2)]
    tail = trial.tail(2)
    assert [tuple(r)[:3] for r in tail] == [(2, 1, 2), (2, 1, 3)]
    assert trial.head(2, as_dict=True)[1]["trial"] == 1
    assert len(trial.head()) == 12
    text = repr(trial())
    lines = text.splitlines()
    assert lines[0].split() == ["*subject_id", "*session", "*trial", "outcome", "rt"]
    assert lines[-1].strip() == "(Total: 12)"
    assert "..." not in text  # 12 rows: display.limit
    with dj.config(**{"display.limit": 5}):
        text = repr(trial())
    assert len(text.splitlines()) == 2 + 5 + 2
    assert "   ..." in text
    stim_preview = repr(lab.Stim())
    assert "(Total: 0)" in stim_preview
    lab.Stim.insert1(dict(subject_id=1, session=1, stim=np.eye(2)), allow_direct_insert=True)
    assert "=BLOB=" in repr(lab.Stim())
    html = trial()._repr_html_()
    assert "<table" in html and "Total: 12" in html


def test_class_level_operators(clean):
    lab = clean
    add_sessions(lab)
    assert len(lab.Session.Trial & "trial=0") == 3
    assert len(lab.Session.Trial - "trial=0") == 9
    assert len(lab.Session * lab.Subject) == 3
    assert lab.Subject.fetch("KEY", order_by="KEY")[0] == dict(subject_id=1)
    assert lab.Subject.head(1)[0]["subject_id"] == 1


# ---------------------------------------------------------------------------------------------
# describe, spawn_missing_classes, virtual modules, FreeTable


def _heading_fields(table):
    return [
        {k: v for k, v in a.todict().items() if k not in ("database", "adapter")}
        for a in table.heading.attributes.values()
    ]


@pytest.mark.parametrize("name", lab_schema.TABLE_CLASSES)
def test_describe_round_trip(lab, connection, name):
    table = lab_schema.get_class(lab, name)
    definition = table.describe(context=vars(lab))
    copy_name = "Copy" + name.replace(".", "")
    tier = dj.Manual
    copy = type(copy_name, (tier,), dict(definition=definition))
    schema_b = dj.Schema(SCHEMA_B, context=dict(vars(lab)), connection=connection)
    schema_b(copy)
    assert _heading_fields(copy) == _heading_fields(table)
    assert copy.heading.indexes == table.heading.indexes
    assert copy.heading.table_status["comment"] == table.heading.table_status["comment"]
    ours = connection.query(f"SHOW CREATE TABLE {table.full_table_name}").fetchone()[1]
    theirs = connection.query(f"SHOW CREATE TABLE {copy.full_table_name}").fetchone()[1]
    # the same DDL, up to the table's name and the constraint names
    normalize = [
        (r"CREATE TABLE `[^`]+`", "CREATE TABLE"),
        (r"CONSTRAINT `[^`]+`", "CONSTRAINT"),
        (r" AUTO_INCREMENT=\d+", ""),
        # a bool column is tinyint(1); describe writes it as tinyint (0.14 too): tinyint(4)
        (r" tinyint\(\d+\)", " tinyint"),
    ]
    for pattern, replacement in normalize:
        ours, theirs = re.sub(pattern, replacement, ours), re.sub(pattern, replacement, theirs)
    ours = ours.replace(f"`{SCHEMA}`.", "")
    theirs = theirs.replace(f"`{SCHEMA}`.", "")
    assert theirs == ours


def test_describe_text(lab):
    text = lab.Session.describe(context=vars(lab))
    assert text.splitlines()[0] == "-> Subject"
    assert '-> [nullable] Subject.proj(buddy="subject_id")' in text
    assert "---" in text
    text = lab.Rig.describe(context=vars(lab))
    assert "-> [unique] Lab" in text
    assert lab.Subject.describe(context=vars(lab)).startswith("# experimental subject\n")
    assert "cid                  : int unsigned auto_increment" in lab.Counter.describe()
    assert "-> `" in lab.Session.Trial().describe(context={})  # unresolvable: full name


def test_spawn_missing_classes_and_virtual_module(clean, connection):
    lab = clean
    add_sessions(lab)
    context = {}
    schema = dj.Schema(SCHEMA, connection=connection, create_tables=False)
    schema.spawn_missing_classes(context=context)
    assert set(context) == {
        "Species",
        "Lab",
        "Subject",
        "Session",
        "Rig",
        "Recording",
        "AllTypes",
        "Counter",
        "Release",
        "Stim",
        "Analysis",
    }
    assert issubclass(context["Species"], dj.Lookup)
    assert issubclass(context["Stim"], dj.Imported)
    assert issubclass(context["Analysis"], dj.Computed)
    assert issubclass(context["Session"].Trial, dj.Part)
    assert context["Session"].Trial.full_table_name == lab.Session.Trial.full_table_name
    assert len(context["Session"].Trial()) == 12
    vm = dj.VirtualModule("lab_vm", SCHEMA, connection=connection)
    assert vm.schema.database == SCHEMA
    assert vm.Subject.fetch(as_dict=True, order_by="KEY") == lab.Subject.fetch(
        as_dict=True, order_by="KEY"
    )
    assert _heading_fields(vm.AllTypes) == _heading_fields(lab.AllTypes)
    assert len(vm.Session.Trial & "trial=1") == 3
    vm.Subject.insert1(dict(subject_id=77, species="mus musculus"))
    assert len(lab.Subject & "subject_id=77") == 1
    with pytest.raises(dj.DataJointError):
        dj.VirtualModule("nothing", f"djtest_tbl_{SUFFIX}_missing", connection=connection)


def test_free_table(clean, connection):
    lab = clean
    add_sessions(lab)
    free = dj.FreeTable(connection, f"`{SCHEMA}`.`session__trial`")
    assert free.full_table_name == lab.Session.Trial.full_table_name
    assert free.heading.names == lab.Session.Trial.heading.names
    assert free.fetch(as_dict=True, order_by="KEY") == lab.Session.Trial.fetch(
        as_dict=True, order_by="KEY"
    )
    assert len(free & "trial = 1") == 3
    assert repr(free).startswith(f"FreeTable(`{SCHEMA}`.`session__trial`)")
    free.insert1(dict(subject_id=2, session=1, trial=10, outcome="ignore"))
    assert len(lab.Session.Trial) == 13


# ---------------------------------------------------------------------------------------------
# inserts larger than max_allowed_packet: several statements, one transaction

PACKET = 16 * 1024 * 1024
BIG_SCHEMA = f"djtest_tbl_{SUFFIX}_big"


@pytest.fixture
def small_packet():
    """A server whose max_allowed_packet is 16 MB (restored afterwards) and a connection
    opened after the change."""
    admin = dj.Connection(*ENV)
    saved = admin.query("SELECT @@GLOBAL.max_allowed_packet").fetchone()[0]
    admin.query(f"SET GLOBAL max_allowed_packet = {PACKET}")
    try:
        c = dj.Connection(*ENV)
        assert c.query("SELECT @@max_allowed_packet").fetchone()[0] == PACKET
        yield c
        c.close()
    finally:
        admin.query(f"SET GLOBAL max_allowed_packet = {int(saved)}")
        admin.query(f"DROP DATABASE IF EXISTS `{BIG_SCHEMA}`")
        admin.close()


def _spy_statements(c, monkeypatch, prepared):
    """The INSERT statements of the big schema that ``c`` sends: through the engine's insert
    connection (``prepared``: ``engine.write`` spied; the text statements disabled) or as text
    (``c.query`` spied; the engine's insert connection disabled)."""
    from datajoint_rs import engine

    statements = []
    if prepared:
        write = engine.write

        def spy_write(connection, items, sql):
            def counted():
                for sql_text, params in items:
                    assert sql_text.startswith(b"INSERT INTO `" + BIG_SCHEMA.encode())
                    statements.append(sql_text)
                    yield sql_text, params

            return write(connection, counted(), sql)

        monkeypatch.setattr(engine, "write", spy_write)
        monkeypatch.setattr(c, "binary_charset", None)  # the text path must not be taken
        return statements
    monkeypatch.setattr(engine, "write_prepared", False)
    query = c.query

    def spy(sql, *args, **kwargs):
        text = sql if isinstance(sql, str) else sql[:200].decode("utf-8", "replace")
        if text.startswith("INSERT INTO `" + BIG_SCHEMA):
            statements.append(sql)
        return query(sql, *args, **kwargs)

    monkeypatch.setattr(c, "query", spy)
    return statements


@pytest.mark.slow
@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "text"])
def test_insert_larger_than_max_allowed_packet(small_packet, monkeypatch, prepared):
    """120 MB of blobs through a 16 MB max_allowed_packet: several statements in one
    transaction, both through the engine's insert connection (binary values as prepared
    statement parameters) and as text statements on the caller's connection."""
    c = small_packet
    schema = dj.Schema(BIG_SCHEMA, connection=c)

    @schema
    class Big(dj.Manual):
        definition = """
        big_id : int
        ---
        data : longblob
        """

    rng = np.random.default_rng(1)
    rows = [dict(big_id=i, data=rng.integers(0, 256, 2 << 20, dtype=np.uint8)) for i in range(60)]
    with monkeypatch.context() as m:
        statements = _spy_statements(c, m, prepared)
        Big.insert(rows)
    assert len(Big()) == 60
    assert len(statements) >= 120 // 16  # 120 MB of values through a 16 MB packet
    blob_helpers.assert_same((Big & "big_id=59").fetch1("data"), rows[59]["data"])

    # a failure in the last statement rolls back the statements before it
    Big.delete_quick()
    Big.insert1(dict(big_id=1000, data=np.zeros(1)))
    rows[-1] = dict(big_id=1000, data=rows[-1]["data"])
    with monkeypatch.context() as m:
        statements = _spy_statements(c, m, prepared)
        with pytest.raises(errors.DuplicateError):
            Big.insert(rows)
    assert len(statements) > 1
    assert Big.fetch("big_id").tolist() == [1000]
    assert not c.in_transaction


# ---------------------------------------------------------------------------------------------
# json attributes (MariaDB stores them as longtext + CHECK (json_valid(...)); datajoint_rs
# reads them as json, as MySQL 8 reports them: docs/compatibility.md, "Tables")


def _is_mariadb(connection):
    from datajoint_rs.adapters import get_adapter

    return get_adapter().is_mariadb(connection)


def test_json_heading(lab, connection):
    attr = lab.AllTypes.heading["j"]
    assert (attr.type, attr.json, attr.nullable, attr.default) == ("json", True, True, "null")
    assert "j" not in lab.AllTypes.heading.non_blobs
    ddl = connection.query(f"SHOW CREATE TABLE `{SCHEMA}`.`all_types`").fetchone()[1]
    if _is_mariadb(connection):
        assert "`j` longtext" in ddl and "CHECK (json_valid(`j`))" in ddl
    else:
        assert "`j` json DEFAULT NULL" in ddl


JSON_VALUES = [
    {"a": 1, "b": "two", "c": None, "d": True},
    [1, 2.5, "three", None, False],
    {"nested": {"list": [{"x": [1, {"y": "z"}]}], "empty": {}}, "ü": "日本"},
    [],
    {},
    "a string",
    42,
    -1.5,
    True,
]


@pytest.mark.parametrize("value", JSON_VALUES, ids=[f"v{i}" for i in range(len(JSON_VALUES))])
def test_json_values_round_trip(clean, tmp_path, value, connection):
    lab = clean
    lab.AllTypes.insert1(full_row(tmp_path, id=1, j=value))
    assert (lab.AllTypes & "id=1").fetch1("j") == value
    assert lab.AllTypes.fetch(as_dict=True, download_path=tmp_path)[0]["j"] == value
    assert lab.AllTypes.fetch("j")[0] == value
    stored = connection.query(f"SELECT j FROM `{SCHEMA}`.`all_types`").fetchone()[0]
    assert json.loads(stored) == value  # valid JSON text, not a Python repr


def test_json_null(clean, tmp_path, connection):
    lab = clean
    lab.AllTypes.insert1(full_row(tmp_path, id=1, j=None))
    row = full_row(tmp_path, id=2)
    del row["j"]  # the default: NULL
    lab.AllTypes.insert1(row)
    assert lab.AllTypes.fetch("j", order_by="id").tolist() == [None, None]
    sql = f"SELECT count(*) FROM `{SCHEMA}`.`all_types` WHERE j IS NULL"
    assert connection.query(sql).fetchone()[0] == 2
    assert len(lab.AllTypes & dict(j=None)) == 2
    # a JSON null is a value, not SQL NULL (0.14 json.dumps it too)
    lab.AllTypes.insert1(full_row(tmp_path, id=3, j=[None]))
    assert (lab.AllTypes & "id=3").fetch1("j") == [None]


def test_json_restrictions(clean, tmp_path, connection):
    lab = clean
    values = {
        1: {"name": "alpha", "n": 1, "size": 20.5, "tags": ["a", "b"], "sub": {"k": 10}},
        2: {"name": "beta", "n": 2, "size": 3.25, "tags": ["c"], "sub": {"k": 20}},
        3: {"name": "gamma", "n": 2, "sub": {"k": 30}},
        4: None,
    }
    lab.AllTypes.insert(full_row(tmp_path, id=i, j=v) for i, v in values.items())
    table = lab.AllTypes

    def ids(query):
        return sorted(query.fetch("id").tolist())

    # json paths (0.14: attr.path[:type], compared with json_value)
    assert ids(table & {"j.name": "beta"}) == [2]
    assert ids(table & {"j.n": 2}) == [2, 3]
    assert ids(table & {"j.sub.k": 30}) == [3]
    assert ids(table & {"j.tags[0]": "c"}) == [2]
    assert ids(table & {"j.n": 2, "j.sub.k": 20}) == [2]
    assert ids(table - {"j.n": 2}) == [1]  # json_value of a NULL document is NULL
    assert ids(table & [{"j.name": "alpha"}, {"j.name": "gamma"}]) == [1, 3]
    # typed paths: ``returning <type>`` on MySQL, a CAST on MariaDB
    assert ids(table & {"j.size:decimal(4, 1)": 20.5}) == [1]
    assert ids(table & {"j.name:char(20)": "gamma"}) == [3]
    assert ids(table & {"j.n:unsigned": 1}) == [1]
    assert ids(table & {"j.sub.k:signed": 10}) == [1]
    assert ids(table & {"j.size:double": 3.25}) == [2]
    if _is_mariadb(connection):  # MySQL's returning has no "int"; MariaDB's CAST does
        assert ids(table & {"j.n:int": 2}) == [2, 3]
        sql = (table & {"j.n:int": 2}).make_sql()
        assert "CAST(json_value(`j`, _utf8mb4'$.n') AS int)=2" in sql
    # SQL strings and projections with paths
    assert ids(table & "json_value(j, '$.n') > 1") == [2, 3]
    got = table.proj(k="j.sub.k:unsigned").fetch("k", order_by="id").tolist()
    assert got == [10, 20, 30, None]
    assert ids(table & dict(j=None)) == [4]


def test_json_describe(lab):
    definition = lab.AllTypes.describe(context=vars(lab))
    assert re.search(r"^j=null\s+: json\s*$", definition, re.M)
    assert "longtext" not in definition


def test_json_ddl_of_raw_tables(connection):
    """A json column made outside DataJoint; a longtext without the check stays longtext."""
    name = f"{SCHEMA}_raw"
    connection.query(f"DROP DATABASE IF EXISTS `{name}`")
    connection.query(f"CREATE DATABASE `{name}`")
    try:
        connection.query(
            f"CREATE TABLE `{name}`.`doc` (id int NOT NULL, body json NOT NULL, "
            "note longtext, PRIMARY KEY (id))"
        )
        connection.query(f"INSERT INTO `{name}`.`doc` VALUES (1, '{{\"x\": [1]}}', 'text')")
        doc = dj.FreeTable(connection, f"`{name}`.`doc`")
        assert doc.heading["body"].json and not doc.heading["body"].nullable
        assert doc.heading["note"].type == "longtext" and not doc.heading["note"].json
        assert doc.fetch1("body") == {"x": [1]} and doc.fetch1("note") == "text"
        doc.insert1(dict(id=2, body=[{"y": None}], note=None))
        assert (doc & {"body.x[0]": 1}).fetch1("id") == 1
        assert (doc & "id=2").fetch1("body") == [{"y": None}]
    finally:
        connection.query(f"DROP DATABASE IF EXISTS `{name}`")


# ---------------------------------------------------------------------------------------------
# to_arrow / to_pandas / to_polars


def _arrow_rows(lab, tmp_path):
    """Three AllTypes rows: everything set; everything nullable NULL; blobs mixed."""
    full = full_row(
        tmp_path, id=1, lb=np.arange(4.0), mb=BLOB["mb"], bl=np.float64(3.5), nfloat=0.25
    )
    nulls = full_row(tmp_path, id=2, j=None, lb=None, mb=None, bl=None, att=None, nfloat=None)
    mixed = full_row(tmp_path, id=3, lb=np.arange(2.0), mb=np.eye(2), bl="text", nint=-5)
    for row in (full, nulls, mixed):
        lab.AllTypes.insert1(row)
    return full, nulls, mixed


def test_to_arrow_types(clean, tmp_path):
    import pyarrow as pa

    lab = clean
    full, _, _ = _arrow_rows(lab, tmp_path)
    table = lab.AllTypes.to_arrow(order_by="id", download_path=tmp_path / "dl")
    assert table.num_rows == 3
    assert table.column_names == lab.AllTypes.heading.names
    types = {field.name: field.type for field in table.schema}
    expected = dict(
        id=pa.int64(),
        i8=pa.int64(),
        u32=pa.int64(),
        i64=pa.int64(),
        u64=pa.uint64(),
        f32=pa.float64(),
        f64=pa.float64(),
        num=pa.decimal128(8, 3),
        unum=pa.decimal128(5, 2),
        ch=pa.string(),
        vc=pa.string(),
        en=pa.string(),
        d=pa.date32(),
        dt=pa.timestamp("us"),
        dt3=pa.timestamp("us"),
        t=pa.duration("us"),
        ts=pa.timestamp("us"),
        flag=pa.int64(),
        j=pa.string(),
        u=pa.string(),
        lb=pa.list_(pa.float64()),
        mb=pa.binary(),
        bl=pa.binary(),
        att=pa.string(),
        nint=pa.int64(),
        nfloat=pa.float64(),
        nstr=pa.string(),
        dint=pa.int64(),
        dstr=pa.string(),
    )
    assert {k: types[k] for k in expected} == expected
    assert table.schema.field("mb").metadata == {b"datajoint_rs": b"blob"}
    assert table.schema.field("j").metadata == {b"datajoint_rs": b"json"}
    assert table.schema.field("lb").metadata is None
    first = table.slice(0, 1).to_pylist()[0]
    for name in ("i8", "u64", "i64", "f64", "num", "ch", "vc", "en", "d", "dt", "dt3", "t"):
        assert first[name] == full[name], name
    assert first["unum"] == decimal.Decimal("999.99") and first["flag"] == 1
    assert first["u"] == "12345678-1234-5678-1234-567812345678"  # canonical uuid text
    assert json.loads(first["j"]) == full["j"]
    assert first["lb"] == [0.0, 1.0, 2.0, 3.0]
    assert first["att"] == str(tmp_path / "dl" / "notes.txt")


def test_to_arrow_nulls(clean, tmp_path):
    lab = clean
    _arrow_rows(lab, tmp_path)
    table = lab.AllTypes.to_arrow(order_by="id", download_path=tmp_path / "dl")
    second = table.slice(1, 1).to_pylist()[0]
    for name in ("j", "lb", "mb", "bl", "att", "nint", "nfloat", "nstr"):
        assert second[name] is None, name
        assert table.column(name).null_count >= 1, name
    assert table.column("nfloat").null_count == 2  # NULL (NaN in fetch's array) is null
    assert table.column("i8").null_count == 0


def test_to_arrow_blob_columns(clean, tmp_path):
    lab = clean
    full, _, mixed = _arrow_rows(lab, tmp_path)
    table = lab.AllTypes.to_arrow(order_by="id", download_path=tmp_path / "dl")
    # 1-D float arrays (and a NULL): a list column
    assert table.column("lb").to_pylist() == [[0.0, 1.0, 2.0, 3.0], None, [0.0, 1.0]]
    # mixed contents: uncompressed blobs that unpack to the fetched values
    fetched = lab.AllTypes.fetch(order_by="id", download_path=tmp_path / "dl")
    for name in ("mb", "bl"):
        cells = table.column(name).to_pylist()
        assert cells[1] is None
        for i in (0, 2):
            assert cells[i] == dj.blob.pack(fetched[name][i], compress=False), (name, i)
            blob_helpers.assert_same(dj.blob.unpack(cells[i]), fetched[name][i], name)
    blob_helpers.assert_same(dj.blob.unpack(table.column("mb")[2].as_py()), np.eye(2))
    assert dj.blob.unpack(table.column("bl")[2].as_py()) == "text"


def test_to_arrow_list_columns(clean):
    lab = clean
    add_sessions(lab)
    lab.Stim.insert(
        [
            dict(subject_id=1, session=1, stim=np.arange(3, dtype=np.int16)),
            dict(subject_id=1, session=2, stim=np.zeros(0, dtype=np.int16)),
            dict(subject_id=2, session=1, stim=np.array([-7], dtype=np.int16)),
        ],
        allow_direct_insert=True,
    )
    import pyarrow as pa

    table = lab.Stim.to_arrow(order_by="KEY")
    assert table.schema.field("stim").type == pa.list_(pa.int16())
    assert table.column("stim").to_pylist() == [[0, 1, 2], [], [-7]]
    # arrays of different dtypes: binary
    lab.Stim.insert1(
        dict(subject_id=2, session=1, stim=np.arange(2.0)), allow_direct_insert=True, replace=True
    )
    table = lab.Stim.to_arrow(order_by="KEY")
    assert table.schema.field("stim").type == pa.binary()
    cells = table.column("stim").to_pylist()
    blob_helpers.assert_same(dj.blob.unpack(cells[2]), np.arange(2.0))
    blob_helpers.assert_same(dj.blob.unpack(cells[0]), np.arange(3, dtype=np.int16))


def test_to_arrow_of_every_lab_table(lab, tmp_path):
    import pyarrow as pa

    for name in lab_schema.TABLE_CLASSES:
        table = lab_schema.get_class(lab, name)
        result = table.to_arrow(download_path=tmp_path)
        assert isinstance(result, pa.Table), name
        assert result.column_names == table.heading.names, name
        assert result.num_rows == len(table), name


def test_to_arrow_queries(clean, tmp_path):
    import pyarrow as pa

    lab = clean
    add_sessions(lab)
    trial = lab.Session.Trial
    table = (trial & "subject_id=1").to_arrow("rt", order_by="KEY", limit=3)
    assert table.column_names == ["subject_id", "session", "trial", "rt"]
    assert table.column("rt").to_pylist() == [0.0, 0.25, 0.5]
    computed = lab.Session.proj(double="session*2", label="'s'", nothing="NULL")
    table = computed.to_arrow(order_by="KEY")
    assert table.schema.field("double").type == pa.int64()
    assert table.schema.field("label").type == pa.string()
    assert table.column("double").to_pylist() == [2, 4, 2]
    assert table.column("nothing").null_count == 3
    joined = (lab.Session * lab.Subject).to_arrow(order_by="KEY")
    assert joined.num_rows == 3 and joined.schema.field("dob").type == pa.date32()
    empty = (lab.AllTypes & "id < 0").to_arrow()
    assert empty.num_rows == 0 and empty.schema.field("u64").type == pa.uint64()
    assert empty.schema.field("lb").type == pa.binary()  # no cells: no element type


def test_to_pandas_with_blobs(clean, tmp_path):
    lab = clean
    _arrow_rows(lab, tmp_path)
    frame = lab.AllTypes.to_pandas(order_by="id", download_path=tmp_path / "dl")
    assert list(frame.index) == [1, 2, 3]
    blob_helpers.assert_same(frame.loc[3, "mb"], np.eye(2))
    assert frame.loc[1, "j"] == {"a": [1, 2, {"b": None}], "c": "d"}
    # and back through Arrow's own pandas conversion
    back = lab.AllTypes.to_arrow(order_by="id", download_path=tmp_path / "dl").to_pandas()
    assert back["id"].tolist() == [1, 2, 3]


def test_to_polars_without_polars(lab, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "polars", None)  # import polars -> ImportError
    with pytest.raises(errors.DataJointError, match="polars"):
        lab.Subject.to_polars()
