"""The backend-neutral behaviour, run on SQLite (a temporary file: always) and on MariaDB
(when DJ_HOST is set): the same lab schema, the same rows, the same answers, the same errors.

The lab is ``tests/lab_schema.py`` (the same module the MariaDB-only tests use), declared
through ``dj.Schema(..., connection=...)`` on a connection of each backend.
"""

from __future__ import annotations

import datetime
import decimal
import os
import pathlib
import subprocess
import sys
import textwrap
import types
import uuid

import blob_helpers
import datajoint_rs as dj
import lab_schema
import numpy as np
import pytest
from datajoint_rs import errors
from datajoint_rs.sqlite import SQLiteConnection

ENV = lab_schema.server_env()
BACKENDS = ["sqlite", "mariadb"]


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path):
    """(name, connection, schema name): a fresh database of the backend."""
    if request.param == "sqlite":
        conn = SQLiteConnection(tmp_path / "pipeline.sqlite")
        name = "lab"
    else:
        if ENV is None:
            pytest.skip("DJ_HOST is not set: no MariaDB to compare with")
        conn = dj.Connection(*ENV)
        name = f"djtest_backends_{os.getpid()}"
        conn.query(f"DROP DATABASE IF EXISTS `{name}`")
    yield request.param, conn, name
    if request.param == "mariadb":
        conn.query(f"DROP DATABASE IF EXISTS `{name}`")
    conn.close()


@pytest.fixture
def lab(backend):
    _, conn, name = backend
    with dj.config(safemode=False):
        yield lab_schema.load_lab(dj, name, connection=conn)


def add_subjects(lab, n=4):
    lab.Subject.insert(
        dict(
            subject_id=i,
            species="mus musculus" if i % 2 else "rattus norvegicus",
            lab="tolias" if i % 3 else None,
            sex="MFU"[i % 3],
            dob=datetime.date(2020, 1, 1 + i),
            weight=10.0 + i,
        )
        for i in range(n)
    )
    lab.Session.insert(
        dict(subject_id=i, session=s, operator=f"op{s}", buddy=(i + 1) % n if s else None)
        for i in range(n)
        for s in range(2)
    )
    lab.Session.Trial.insert(
        dict(subject_id=i, session=s, trial=t, outcome=("hit", "miss")[t % 2], rt=0.1 * t)
        for i in range(n)
        for s in range(2)
        for t in range(3)
    )


def rows(query, **kwargs):
    return query.fetch(as_dict=True, order_by="KEY", **kwargs)


# ---- declaration ------------------------------------------------------------------------------
def test_declaration_and_heading(lab):
    tables = set(lab.schema.list_tables())
    assert {"#species", "#lab", "subject", "session", "session__trial", "all_types"} <= tables
    subject = lab.Subject.heading
    assert subject.primary_key == ["subject_id"]
    assert (
        subject["sex"].type == "enum('M','F','U')" or subject["sex"].type == "enum('M', 'F', 'U')"
    )
    assert subject["dob"].nullable and subject["dob"].comment == "date of birth"
    assert subject["weight"].comment == "grams"
    assert lab.Subject.heading.table_status["comment"] == "experimental subject"
    assert lab.Recording.heading["rec_id"].uuid
    assert lab.AllTypes.heading["lb"].is_blob and lab.AllTypes.heading["att"].is_attachment
    assert lab.AllTypes.heading["j"].json
    assert lab.Counter.heading["cid"].autoincrement
    # parents, children and the foreign keys (renamed, nullable) come from the graph
    assert set(lab.Session.parents()) == {lab.Subject.full_table_name}
    assert lab.Session.Trial.full_table_name in lab.Session.children()


def test_describe_is_the_same_on_both(lab, backend):
    text = lab.Session.describe(context=vars(lab))
    assert "-> Subject" in text
    assert '-> [nullable] Subject.proj(buddy="subject_id")' in text
    assert "session_ts=CURRENT_TIMESTAMP : timestamp" in text
    assert "INDEX (dob)" in lab.Subject.describe(context=vars(lab))
    assert "-> [unique] Lab" in lab.Rig.describe(context=vars(lab))
    described = {
        name: lab_schema.get_class(lab, name).describe(context=vars(lab))
        for name in lab_schema.TABLE_CLASSES
    }
    first = DESCRIBED.setdefault("first", described)  # the first backend's text
    assert described == first
    # and the definition declares the same table again
    for name, text in described.items():
        assert text.count("\n") >= 2, name


DESCRIBED = {}


# ---- insert and fetch -------------------------------------------------------------------------
def test_every_type_round_trips(lab, tmp_path):
    attachment = tmp_path / "notes.txt"
    attachment.write_text("attached ✓\n")
    row = lab_schema.all_types_values(
        id=1,
        unum=decimal.Decimal("999.99"),
        u=uuid.UUID(int=12345),
        lb=np.random.default_rng(0).standard_normal((30, 4)),
        mb={"x": [1, "two"]},
        bl=np.arange(5, dtype=np.int16),
        att=attachment,
        nint=None,
        nfloat=float("nan"),
        nstr=None,
    )
    lab.AllTypes.insert1(row)
    got = (lab.AllTypes & "id=1").fetch1(download_path=tmp_path / "dl")
    expected = dict(row, flag=1, nfloat=None, att=str(tmp_path / "dl" / "notes.txt"), dint=7)
    expected["dstr"] = "x y"
    assert isinstance(got.pop("ts"), datetime.datetime)
    for name, value in expected.items():
        blob_helpers.assert_same(got[name], value, name)
    rec = lab.AllTypes.fetch(download_path=tmp_path / "dl2")
    assert rec.dtype["i64"] == np.int64 and rec.dtype["f64"] == np.float64
    assert rec["u64"][0] == 2**63 - 1


def test_auto_increment_defaults_and_nulls(lab):
    lab.Counter.insert([dict(label="a"), dict(label="b")])
    cids, labels = lab.Counter.fetch("cid", "label", order_by="cid")
    assert (cids.tolist(), labels.tolist()) == ([1, 2], ["a", "b"])
    lab.Subject.insert1(dict(subject_id=9, species="mus musculus"))
    got = (lab.Subject & {"subject_id": 9}).fetch1()
    assert (got["sex"], got["dob"], got["weight"], got["note"], got["lab"]) == (
        "U",
        None,
        None,
        "",
        None,
    )


def test_insert_options(lab):
    add_subjects(lab, 2)
    with pytest.raises(errors.DuplicateError):
        lab.Subject.insert1(dict(subject_id=0, species="mus musculus"))
    lab.Subject.insert1(dict(subject_id=0, species="mus musculus", note="x"), skip_duplicates=True)
    assert (lab.Subject & "subject_id=0").fetch1("note") == ""
    lab.Subject.insert1(
        dict(subject_id=5, species="mus musculus", extra=1), ignore_extra_fields=True
    )
    lab.Subject.insert1(dict(subject_id=5, species="mus musculus", note="y"), replace=True)
    assert (lab.Subject & "subject_id=5").fetch1("note") == "y"
    # insert from a query, with and without skip_duplicates
    lab.Release.insert1({"release": 1})
    lab.Release.insert(lab.Release.proj(label='"copy"') & {"release": 1}, skip_duplicates=True)
    assert (lab.Release & {"release": 1}).fetch1("label") == ""
    lab.Subject.update1(dict(subject_id=5, weight=33.5))
    assert (lab.Subject & "subject_id=5").fetch1("weight") == 33.5


@pytest.mark.parametrize(
    ("table", "row", "error"),
    [
        ("Subject", dict(subject_id=1, species="no such species"), errors.IntegrityError),
        ("Subject", dict(subject_id=-1, species="mus musculus"), errors.DataJointError),
        ("Subject", dict(subject_id=1, species="mus musculus", sex="X"), errors.DataJointError),
        (
            "Subject",
            dict(subject_id=1, species="mus musculus", note="x" * 17),
            errors.DataJointError,
        ),
        ("Lab", dict(lab="l", lab_code=3), errors.MissingAttributeError),
        ("Lab", dict(lab="l", lab_name="n", lab_code=1), errors.DuplicateError),  # unique index
    ],
)
def test_the_same_errors(lab, table, row, error):
    before = len(getattr(lab, table))
    with pytest.raises(error):
        getattr(lab, table).insert1(row)
    assert len(getattr(lab, table)) == before


def test_a_failed_insert_writes_nothing(lab):
    good = [dict(subject_id=i, species="mus musculus") for i in range(5)]
    with pytest.raises(errors.IntegrityError):
        lab.Subject.insert(good + [dict(subject_id=7, species="unknown")])
    assert len(lab.Subject) == 0


# ---- queries ----------------------------------------------------------------------------------
QUERIES = {
    "restrict_dict": lambda lab: lab.Subject & {"sex": "M"},
    "restrict_str": lambda lab: lab.Subject & 'sex = "F" OR weight > 12',
    "restrict_list": lambda lab: lab.Subject & [{"subject_id": 1}, "subject_id = 3"],
    "not": lambda lab: lab.Subject & dj.Not({"sex": "U"}),
    "semijoin": lambda lab: lab.Subject & (lab.Session.Trial & 'outcome="miss"'),
    "antijoin": lambda lab: lab.Subject - (lab.Session & "buddy IS NOT NULL"),
    "join": lambda lab: lab.Subject * lab.Session,
    "left_join": lambda lab: lab.Subject.proj("lab") @ lab.Lab,
    "proj_rename": lambda lab: lab.Session.proj(who="operator", mate="buddy"),
    "proj_computed": lambda lab: lab.Subject.proj(w2="weight * 2", older="dob < '2020-01-03'"),
    "aggr": lambda lab: lab.Subject.aggr(lab.Session.Trial, n="count(*)", best="max(rt)"),
    "aggr_keep_all": lambda lab: lab.Lab.aggr(lab.Subject, n="count(subject_id)", keep_all_rows=True),
    "U": lambda lab: dj.U("sex") & lab.Subject,
    "U_aggr": lambda lab: dj.U("outcome").aggr(lab.Session.Trial, n="count(*)"),
    "union": lambda lab: (lab.Subject & "subject_id < 2").proj() + (lab.Subject & "subject_id > 2").proj(),
    "top": lambda lab: lab.Subject & dj.Top(2, "weight DESC"),
    "nested": lambda lab: (lab.Session * lab.Subject & {"sex": "M"}).proj("weight") & "session=1",
}  # fmt: skip


@pytest.fixture
def filled(lab):
    add_subjects(lab)
    return lab


@pytest.mark.parametrize("name", list(QUERIES))
def test_queries_give_the_same_rows(filled, name):
    query = QUERIES[name](filled)
    got = rows(query)
    expected = EXPECTED.setdefault(name, got)  # the first backend's answer
    assert _normalized(got) == _normalized(expected)
    assert len(query) == len(got)
    assert bool(query) == bool(got)


EXPECTED = {}


def _normalized(result):
    """Rows comparable across backends: numbers rounded, insertion timestamps left out, in a
    canonical order (ORDER BY an enum attribute differs: MySQL sorts by declaration order,
    SQLite by text; see docs/compatibility.md)."""

    def value(v):
        if isinstance(v, (float, np.floating)):
            return round(float(v), 6)
        if isinstance(v, (np.integer,)):
            return int(v)
        return v

    rows = [{k: value(v) for k, v in r.items() if k != "session_ts"} for r in result]
    return sorted(rows, key=repr)


def test_query_answers_match_plain_python(filled):
    subjects = rows(filled.Subject)
    assert [r["subject_id"] for r in rows(filled.Subject & {"sex": "M"})] == [
        r["subject_id"] for r in subjects if r["sex"] == "M"
    ]
    trials = rows(filled.Session.Trial)
    counts = rows(filled.Subject.aggr(filled.Session.Trial, n="count(*)"))
    assert [c["n"] for c in counts] == [
        sum(t["subject_id"] == s["subject_id"] for t in trials) for s in subjects
    ]


# ---- populate, delete, drop -------------------------------------------------------------------
def test_populate_and_jobs(filled):
    lab = filled
    assert lab.Stim.progress() == (8, 8)
    assert lab.Stim.populate(reserve_jobs=True) == {"success_count": 8, "error_list": []}
    assert lab.Analysis.populate(processes=2)["success_count"] == 8
    assert len(lab.schema.jobs) == 0
    assert (lab.Stim & {"subject_id": 0, "session": 1}).fetch1("stim") == [1, 2, 3]


def test_cascading_delete_removes_the_same_rows(filled):
    lab = filled
    lab.Stim.populate()
    lab.Analysis.populate()
    (lab.Subject & "subject_id < 2").delete()
    assert sorted(lab.Subject.fetch("subject_id").tolist()) == [2, 3]
    # sessions of subjects 0 and 1, and the sessions whose buddy was 0 or 1? buddy is nullable:
    # a nullable reference cascades too (0.14: ON DELETE RESTRICT, cascade deletes the row)
    remaining = rows(lab.Session.proj("buddy"))
    assert all(r["subject_id"] >= 2 for r in remaining)
    assert all(r["buddy"] is None or r["buddy"] >= 2 for r in remaining)
    assert len(lab.Analysis) == len(lab.Stim) == len(remaining)
    assert len(lab.Session.Trial) == 3 * len(remaining)


def test_part_guard_and_drop(filled):
    lab = filled
    with pytest.raises(errors.DataJointError):
        (lab.Session.Trial & "trial=0").delete()
    lab.Session.Trial.delete(force_parts=True) if False else None
    lab.Analysis.drop()
    assert "__analysis" not in lab.schema.list_tables()


def test_diagram(filled):
    diagram = dj.Diagram(filled.schema)
    names = set(diagram.nodes)
    assert filled.Subject.full_table_name in names
    assert (filled.Subject.full_table_name, filled.Session.full_table_name) in set(diagram.edges)
    order = diagram.topo_sort()
    assert order.index(filled.Subject.full_table_name) < order.index(filled.Session.full_table_name)


# ---- several processes populating one SQLite file ---------------------------------------------
WORKER = textwrap.dedent(
    '''
    import os, sys, time
    import datajoint_rs as dj
    from datajoint_rs.sqlite import SQLiteConnection

    conn = SQLiteConnection(sys.argv[1])
    schema = dj.Schema("work", connection=conn)

    @schema
    class Src(dj.Lookup):
        definition = """
        k : int
        """
        contents = [(i,) for i in range(int(sys.argv[2]))]

    @schema
    class Calls(dj.Manual):
        definition = """
        k : int
        pid : int
        """

    @schema
    class Work(dj.Computed):
        definition = """
        -> Src
        ---
        pid : int
        """

        def make(self, key):
            time.sleep(0.002)
            Calls.insert1(dict(key, pid=os.getpid()))
            self.insert1(dict(key, pid=os.getpid()))

    if sys.argv[3] == "populate":
        result = Work.populate(reserve_jobs=True)
        print(result["success_count"], len(result["error_list"]))
    '''
)


def test_several_processes_populate_sqlite_exactly_once(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    db = str(tmp_path / "pipeline.sqlite")
    n = 120
    subprocess.run([sys.executable, str(script), db, str(n), "declare"], check=True)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), db, str(n), "populate"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    made = sum(int(out.split()[0]) for out, _ in outputs)
    assert made == n
    conn = SQLiteConnection(db)
    assert conn.query("SELECT count(*), count(DISTINCT k) FROM `work`.`calls`").fetchone() == (n, n)
    assert conn.query("SELECT count(*) FROM `work`.`__work`").fetchone()[0] == n
    assert conn.query("SELECT count(*) FROM `work`.`~jobs`").fetchone()[0] == 0
    conn.close()


def test_alter_keeps_the_rows(filled, backend):
    lab = filled
    before = rows(lab.Subject)
    lab.Subject.definition = lab.Subject.definition.replace(
        'note = "" : varchar(16)', 'remark = "" : varchar(40)   # {note} renamed and longer'
    ).replace("weight = null : float              # grams", "")
    lab.Subject.definition = lab.Subject.definition.replace(
        "# experimental subject", "# experimental subjects, altered"
    )
    lab.Subject.definition += "\n    extra = 5 : int\n"
    lab.Subject.alter(prompt=False, context=vars(lab))
    heading = lab.Subject.heading
    assert "remark" in heading.names and "note" not in heading.names
    assert "weight" not in heading.names
    assert heading["remark"].type == "varchar(40)"
    assert heading.table_status["comment"] == "experimental subjects, altered"
    after = rows(lab.Subject)
    assert [r["remark"] for r in after] == [r["note"] for r in before]
    assert [r["extra"] for r in after] == [5] * len(before)
    assert [r["dob"] for r in after] == [r["dob"] for r in before]
    # the children still reference it
    assert len(lab.Subject * lab.Session) == len(lab.Session)
    with pytest.raises(errors.IntegrityError):
        lab.Session.insert1(dict(subject_id=99, session=1))


EXTERNAL = '''
schema = dj.Schema(SCHEMA_NAME, connection=CONNECTION)


@schema
class Item(dj.Manual):
    definition = """
    item : int
    ---
    arr = null : blob@local
    doc = null : attach@local
    path = null : filepath@local
    """
'''


def test_external_store(backend, tmp_path, monkeypatch):
    _, conn, name = backend
    monkeypatch.setenv("DJ_SUPPORT_FILEPATH_MANAGEMENT", "TRUE")
    stage = tmp_path / "stage"
    stage.mkdir()
    (tmp_path / "store").mkdir()
    (stage / "raw.dat").write_bytes(b"raw bytes")
    (tmp_path / "doc.txt").write_text("a document")
    stores = {
        "local": {"protocol": "file", "location": str(tmp_path / "store"), "stage": str(stage)}
    }
    with dj.config(stores=stores, safemode=False):
        module = types.ModuleType("ext")
        module.__dict__.update(dj=dj, SCHEMA_NAME=name, CONNECTION=conn)
        exec(compile(EXTERNAL, "<ext>", "exec"), module.__dict__)
        arr = np.random.default_rng(1).standard_normal(10_000)
        module.Item.insert(
            [
                dict(item=1, arr=arr, doc=tmp_path / "doc.txt", path=stage / "raw.dat"),
                dict(item=2, arr=arr, doc=None, path=None),  # the same content: stored once
                dict(item=3, arr=None, doc=None, path=None),
            ]
        )
        external = module.schema.external["local"]
        assert len(external) == 3  # one blob, one attachment, one filepath
        got = (module.Item & "item=1").fetch1(download_path=tmp_path / "dl")
        np.testing.assert_array_equal(got["arr"], arr)
        assert pathlib.Path(got["doc"]).read_text() == "a document"
        assert pathlib.Path(got["path"]).read_bytes() == b"raw bytes"
        (module.Item & "item=1").delete()
        assert len(external.unused()) == 2  # the attachment and the filepath
        external.delete(delete_external_files=True)
        assert len(external) == 1
        np.testing.assert_array_equal((module.Item & "item=2").fetch1("arr"), arr)
        module.schema.drop()


def test_values_are_stored_as_mysql_stores_them(lab):
    """Decimals rounded to their scale, single-precision floats, calendar dates, defaults
    restored by update1: the same on both backends."""
    lab.AllTypes.insert1(
        dict(
            id=1, i8=0, u8=0, i16=0, u16=0, i24=0, u24=0, i32=0, u32=0, i64=0, u64=0,
            f32=0.123456789, f64=0.123456789, num="12.3456", unum="1.005", ch="a", vc="b",
            en="alpha", d="2024-02-29", dt="2024-02-29 10:00:00", dt3="2024-02-29 10:00:00",
            t="10:00:00", flag=0, u=uuid.UUID(int=1), dstr="given",
        )
    )  # fmt: skip
    got = (lab.AllTypes & "id=1").fetch1()
    assert got["num"] == decimal.Decimal("12.346")
    assert got["unum"] == decimal.Decimal("1.01")
    assert got["f32"] == pytest.approx(0.123457, abs=1e-9)
    assert got["f64"] == 0.123456789
    lab.AllTypes.update1(dict(id=1, dstr=None, num="-0.0005"))
    got = (lab.AllTypes & "id=1").fetch1()
    assert got["dstr"] == "x y"  # the default
    assert got["num"] == decimal.Decimal("-0.001")
    for bad in ("2024-02-30", "2023-02-29", "2024-13-01", "tomorrow"):
        with pytest.raises(errors.DataJointError):
            lab.AllTypes.update1(dict(id=1, d=bad))
    assert (lab.AllTypes & "id=1").fetch1("d") == datetime.date(2024, 2, 29)
