"""Cascading delete, drop, alter and the ~log table on a real server, with DataJoint 0.14's
rules; the rows a cascade must remove are computed independently (tests/pipeline_schema.py
lists the foreign keys by hand), and compared with what datajoint 0.14.9 removes."""

from __future__ import annotations

import builtins
import io
import os
import sys
import warnings

import pytest

if not os.environ.get("DJ_HOST"):
    pytest.skip("needs a database server (DJ_HOST)", allow_module_level=True)

import datajoint_rs as dj  # noqa: E402
import pipeline_schema as ps  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:
        import datajoint as ref
    except ImportError:  # pragma: no cover
        ref = None


def _configure(package):
    package.config["database.host"] = os.environ["DJ_HOST"]
    package.config["database.user"] = os.environ.get("DJ_USER", "root")
    package.config["database.password"] = os.environ.get("DJ_PASS", "password")


def _drop_schemas(conn, prefix):
    for suffix in ("_b", "_a"):
        conn.query(f"DROP DATABASE IF EXISTS `{prefix}{suffix}`")


@pytest.fixture(scope="module")
def pipeline():
    _configure(dj)
    prefix = f"djtest_delete_{os.getpid()}"
    _drop_schemas(dj.conn(), prefix)
    module = ps.load_pipeline(dj, prefix)
    yield module
    _drop_schemas(dj.conn(), prefix)


@pytest.fixture
def rows(pipeline):
    """Fresh rows in every table for each test."""
    data = ps.make_rows(seed=7)
    ps.clear(pipeline)
    ps.insert_rows(pipeline, data)
    return data


@pytest.fixture
def answer(monkeypatch):
    """``answer("yes")``: the person at the prompt types this; the prompts are recorded."""
    prompts = []

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    def set_answer(text):
        monkeypatch.setattr(sys, "stdin", Terminal())

        def fake_input(prompt=""):
            prompts.append(prompt)
            if text is None:
                raise AssertionError(f"unexpected prompt {prompt!r}")
            return text

        monkeypatch.setattr(builtins, "input", fake_input)
        return prompts

    return set_answer


def _rows_of(rows, name, restriction):
    return [r for r in rows[name] if restriction(r)]


# restrictions: (table, restriction for datajoint, the same as a Python predicate)
CASES = [
    ("Subject", "subject_id in (1, 2)", lambda r: r["subject_id"] in (1, 2)),
    ("Subject", {"subject_id": 3}, lambda r: r["subject_id"] == 3),
    ("Lab", "lab = 'lab1'", lambda r: r["lab"] == "lab1"),  # through a nullable reference
    ("Session", "buddy = 2", lambda r: r["buddy"] == 2),  # a secondary attribute
    ("Session", "session = 2", lambda r: r["session"] == 2),
    ("Scan", "scan = 2", lambda r: r["scan"] == 2),
    ("Param", "param = 1", lambda r: r["param"] == 1),  # into the second schema
    ("Analysis", "param = 2", lambda r: r["param"] == 2),
    ("Session", None, lambda r: True),  # the whole table: NULL references stay
    ("Subject", None, lambda r: True),
]


@pytest.mark.parametrize(("name", "restriction", "predicate"), CASES)
def test_cascade_removes_exactly_the_dependent_rows(pipeline, rows, name, restriction, predicate):
    table = ps.table_of(pipeline, name)
    query = table() if restriction is None else table & restriction
    top_rows = _rows_of(rows, name, predicate)
    assert top_rows, "the case must delete something"
    expected = ps.expected_remaining(rows, {name: top_rows})
    count = query.delete(safemode=False)
    assert count == len(top_rows)
    assert ps.remaining(pipeline) == expected


def test_cascade_reaches_many_levels_and_both_schemas(pipeline, rows):
    before = {name: len(ps.table_of(pipeline, name)()) for name in ps.TABLES}
    (pipeline.Subject & "subject_id = 1").delete(safemode=False)
    after = {name: len(ps.table_of(pipeline, name)()) for name in ps.TABLES}
    shrunk = {name for name in ps.TABLES if after[name] < before[name]}
    # 7 levels: Subject -> Session -> Scan -> Analysis -> Summary -> Detail, parts, schema b
    assert {"Subject", "Session", "Scan", "Analysis", "Analysis.Unit", "Summary"} <= shrunk
    assert {"Lab", "Param"}.isdisjoint(shrunk)


def test_nothing_to_delete_asks_nothing(pipeline, rows, answer):
    answer(None)  # any prompt fails the test
    assert (pipeline.Subject & "subject_id > 100").delete(safemode=True) == 0
    assert ps.remaining(pipeline) == ps.expected_remaining(rows, {})


def test_cancelled_delete_changes_nothing(pipeline, rows, answer, capsys):
    prompts = answer("no")
    untouched = ps.remaining(pipeline)
    assert (pipeline.Subject & "subject_id = 2").delete(safemode=True) == 0
    assert prompts == ["Commit deletes? [yes, No]: "]
    assert ps.remaining(pipeline) == untouched
    shown = capsys.readouterr().out
    # the counts per table were shown before asking
    sessions = len([r for r in rows["Session"] if 2 in (r["subject_id"], r["buddy"])])
    assert f"Deleting {sessions} rows from `{pipeline.schema_a.database}`.`session`" in shown
    assert f"Deleting 1 rows from `{pipeline.schema_a.database}`.`subject`" in shown
    assert not dj.conn().in_transaction


def test_interrupt_at_the_prompt_rolls_back(pipeline, rows, answer, monkeypatch):
    answer("yes")

    def interrupted(prompt=""):
        raise KeyboardInterrupt

    monkeypatch.setattr(builtins, "input", interrupted)
    untouched = ps.remaining(pipeline)
    with pytest.raises(KeyboardInterrupt):
        (pipeline.Subject & "subject_id = 2").delete(safemode=True)
    assert not dj.conn().in_transaction
    assert ps.remaining(pipeline) == untouched


def test_confirmed_delete_commits(pipeline, rows, answer):
    prompts = answer("yes")
    top = _rows_of(rows, "Subject", lambda r: r["subject_id"] == 2)
    assert (pipeline.Subject & "subject_id = 2").delete(safemode=True) == 1
    assert len(prompts) == 1
    assert ps.remaining(pipeline) == ps.expected_remaining(rows, {"Subject": top})
    assert not dj.conn().in_transaction


def test_class_level_delete_with_config_safemode(pipeline, rows, answer):
    answer("yes")
    with dj.config(safemode=True):
        assert pipeline.Detail.delete() == len(rows["Detail"])
    assert len(pipeline.Detail()) == 0


def test_failure_in_the_middle_rolls_everything_back(pipeline, rows):
    conn = dj.conn()
    scan = f"`{pipeline.schema_a.database}`.`_scan`"
    trigger = f"`{pipeline.schema_a.database}`.`refuse_scan_delete`"
    untouched = ps.remaining(pipeline)
    conn.query(
        f"CREATE TRIGGER {trigger} BEFORE DELETE ON {scan} FOR EACH ROW "
        "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'scan rows are kept'"
    )
    try:
        # Detail, Summary, Analysis.Unit and Analysis go first (leaves first), then Scan fails
        with pytest.raises(dj.DataJointError, match="scan rows are kept"):
            (pipeline.Subject & "subject_id = 1").delete(safemode=False)
    finally:
        conn.query(f"DROP TRIGGER {trigger}")
    assert not conn.in_transaction
    assert ps.remaining(pipeline) == untouched


def test_delete_inside_a_transaction(pipeline, rows):
    conn = dj.conn()
    untouched = ps.remaining(pipeline)
    conn.start_transaction()
    try:
        with pytest.raises(dj.DataJointError, match="within an ongoing transaction"):
            (pipeline.Subject & "subject_id = 1").delete(safemode=True)
        assert conn.in_transaction  # the caller's transaction is left alone
        (pipeline.Subject & "subject_id = 1").delete(transaction=False, safemode=True)
        assert len(pipeline.Subject & "subject_id = 1") == 0
    finally:
        conn.cancel_transaction()
    assert ps.remaining(pipeline) == untouched


def test_part_rules(pipeline, rows):
    trial = pipeline.Session.Trial
    untouched = ps.remaining(pipeline)
    with pytest.raises(dj.DataJointError, match="Delete from master instead"):
        (trial & "trial = 1").delete()
    with pytest.raises(dj.DataJointError, match="Cannot drop a Part directly"):
        trial.drop()
    free = dj.FreeTable(dj.conn(), trial.full_table_name)
    with pytest.raises(dj.DataJointError, match="before deleting from its master"):
        (free & "trial = 1").delete(safemode=False)
    assert ps.remaining(pipeline) == untouched  # rolled back
    # force: the part rows and what depends on them (units of other masters) go alone
    top = _rows_of(rows, "Session.Trial", lambda r: r["trial"] == 1)
    assert (trial & "trial = 1").delete(force=True, safemode=False) == len(top)
    assert ps.remaining(pipeline) == ps.expected_remaining(rows, {"Session.Trial": top})


def test_force_masters_takes_the_masters_along(pipeline, rows):
    trial = pipeline.Session.Trial
    top = _rows_of(rows, "Session.Trial", lambda r: r["trial"] == 2)
    hit = {(r["subject_id"], r["session"], r["trial"]) for r in top}
    masters = [
        r
        for r in rows["Analysis"]
        if any(
            (u["subject_id"], u["session"], u["trial"]) in hit
            and all(u[k] == r[k] for k in ("subject_id", "session", "scan", "param"))
            for u in rows["Analysis.Unit"]
        )
    ]
    assert masters
    (trial & "trial = 2").delete(force=True, force_masters=True, safemode=False)
    expected = ps.expected_remaining(rows, {"Session.Trial": top, "Analysis": masters})
    assert ps.remaining(pipeline) == expected


def test_delete_writes_the_log(pipeline, rows):
    (pipeline.Subject & "subject_id = 4").delete(safemode=False)
    for schema in (pipeline.schema_a, pipeline.schema_b):
        events = (schema.log & 'event LIKE "DELETE FROM%%"').fetch("event", order_by="id")
        assert len(events)
    events = pipeline.schema_a.log.fetch("event", order_by="id DESC", limit=20).tolist()
    assert any("`subject`" in e and "subject_id = 4" in e for e in events)


def test_delete_quick(pipeline, rows):
    n = len([r for r in rows["Detail"] if r["detail"] == 1])
    assert (pipeline.Detail & "detail = 1").delete_quick(get_count=True) == n
    with pytest.raises(dj.errors.IntegrityError):
        (pipeline.Subject & "subject_id = 1").delete_quick()


def test_top_restriction_deletes_only_the_selected_rows(pipeline, rows):
    (pipeline.Subject & dj.Top(limit=2, order_by="subject_id DESC")).delete(safemode=False)
    left = pipeline.Subject.fetch("subject_id").tolist()
    assert left == sorted(r["subject_id"] for r in rows["Subject"])[:-2]


def test_dependents_in_a_schema_not_activated_here(pipeline, rows):
    """A table of a schema nobody activated in this process still gets its rows removed."""
    conn = dj.conn()
    other = f"{pipeline.schema_a.database}_x"
    conn.query(f"CREATE DATABASE `{other}`")
    try:
        conn.query(
            f"CREATE TABLE `{other}`.`remark` (subject_id int NOT NULL, k int NOT NULL, "
            "PRIMARY KEY (subject_id, k), FOREIGN KEY (subject_id) REFERENCES "
            f"`{pipeline.schema_a.database}`.`subject` (subject_id) ON UPDATE CASCADE "
            "ON DELETE RESTRICT) ENGINE=InnoDB"
        )
        conn.query(
            f"CREATE TABLE `{other}`.`remark2` (subject_id int NOT NULL, k int NOT NULL, "
            "j int NOT NULL, PRIMARY KEY (subject_id, k, j), FOREIGN KEY (subject_id, k) "
            f"REFERENCES `{other}`.`remark` (subject_id, k)) ENGINE=InnoDB"
        )
        conn.query(f"INSERT INTO `{other}`.`remark` VALUES (1, 1), (2, 1)")
        conn.query(f"INSERT INTO `{other}`.`remark2` VALUES (1, 1, 1), (2, 1, 1)")
        (pipeline.Subject & "subject_id = 1").delete(safemode=False)
        assert conn.query(f"SELECT subject_id FROM `{other}`.`remark2`").fetchall() == ((2,),)
        assert conn.query(f"SELECT subject_id FROM `{other}`.`remark`").fetchall() == ((2,),)
    finally:
        conn.query(f"DROP DATABASE `{other}`")


# ---- drop --------------------------------------------------------------------------------
@pytest.fixture
def droppable():
    _configure(dj)
    prefix = f"djtest_drop_{os.getpid()}"
    _drop_schemas(dj.conn(), prefix)
    module = ps.load_pipeline(dj, prefix)
    ps.insert_rows(module, ps.make_rows(seed=3, subjects=3))
    yield module
    _drop_schemas(dj.conn(), prefix)


def _tables_of(conn, database):
    return {r[0] for r in conn.query(f"SHOW TABLES IN `{database}`") if not r[0].startswith("~")}


def test_drop_with_dependents(droppable, answer, capsys):
    conn = dj.conn()
    a, b = droppable.schema_a.database, droppable.schema_b.database
    with pytest.raises(dj.DataJointError, match="restriction cannot be dropped"):
        (droppable.Session & "session = 1").drop()
    free = dj.FreeTable(conn, droppable.Session.Trial.full_table_name)
    with pytest.raises(dj.DataJointError, match="before dropping its master"):
        free.drop()

    answer("no")
    droppable.Session.drop()
    assert "session" in _tables_of(conn, a)
    listing = capsys.readouterr().out.splitlines()
    n_sessions = len(droppable.Session())
    assert f"`{a}`.`session` ({n_sessions} tuples)" in listing
    # dependents listed after what they depend on, the other schema's tables included
    names = [line.split(" (")[0] for line in listing if " tuples)" in line]
    assert names.index(f"`{a}`.`session`") == 0
    assert names.index(f"`{a}`.`_scan`") < names.index(f"`{b}`.`__analysis`")
    assert names.index(f"`{b}`.`summary`") < names.index(f"`{b}`.`detail`")

    answer("yes")
    droppable.Session.drop()
    assert _tables_of(conn, a) == {"#lab", "subject", "pair"}
    assert _tables_of(conn, b) == {"#param"}
    dropped = conn.query(
        f"SELECT event FROM `{a}`.`~log` WHERE event LIKE 'DROP TABLE%%' ORDER BY id"
    ).fetchall()
    order = [e[0].split("`.`")[1].rstrip("`") for e in dropped]
    assert order.index("note") < order.index("session")
    assert order.index("session__trial") < order.index("session")
    assert order.index("_scan") < order.index("session")


def test_drop_reaches_schemas_not_activated_here(droppable, answer):
    conn = dj.conn()
    a = droppable.schema_a.database
    other = f"{a}_x"
    conn.query(f"CREATE DATABASE `{other}`")
    try:
        conn.query(
            f"CREATE TABLE `{other}`.`remark` (subject_id int NOT NULL, session int NOT NULL, "
            "PRIMARY KEY (subject_id, session), FOREIGN KEY (subject_id, session) REFERENCES "
            f"`{a}`.`_scan` (subject_id, session)) ENGINE=InnoDB"
        )
        conn.query(
            f"CREATE TABLE `{other}`.`remark2` (subject_id int NOT NULL, session int NOT NULL, "
            "PRIMARY KEY (subject_id, session), FOREIGN KEY (subject_id, session) REFERENCES "
            f"`{other}`.`remark` (subject_id, session)) ENGINE=InnoDB"
        )
        answer("yes")
        droppable.Scan.drop()
        assert _tables_of(conn, other) == set()
        assert "_scan" not in _tables_of(conn, a) and "session" in _tables_of(conn, a)
    finally:
        conn.query(f"DROP DATABASE `{other}`")


def test_schema_drop(droppable, answer):
    conn = dj.conn()
    a, b = droppable.schema_a.database, droppable.schema_b.database
    answer("no")
    droppable.schema_b.drop()
    assert droppable.schema_b.exists
    # another schema's tables reference this one: a clear error, nothing dropped
    with pytest.raises(dj.DataJointError, match=b):
        droppable.schema_a.drop(force=True)
    assert droppable.schema_a.exists and _tables_of(conn, a)
    answer("yes")
    droppable.schema_b.drop()
    assert not droppable.schema_b.exists
    droppable.schema_a.drop(force=True)
    assert not droppable.schema_a.exists
    droppable.schema_a.drop(force=True)  # nothing to do: no error


# ---- alter and update1 on live data ----------------------------------------------------------
@pytest.fixture
def alterable():
    _configure(dj)
    schema = dj.Schema(f"djtest_alter_{os.getpid()}")

    @schema
    class Animal(dj.Manual):
        definition = """
        # animals
        animal_id : int
        ---
        name : varchar(16)
        weight = null : float
        """

    Animal.insert([dict(animal_id=i, name=f"a{i}", weight=i * 1.5) for i in range(5)])
    yield schema, Animal
    schema.drop(force=True)


def test_alter_secondary_attributes_and_comment(alterable, answer):
    schema, Animal = alterable
    Animal.definition = """
    # animals of the lab
    animal_id : int
    ---
    nickname : varchar(32)  # {name} longer now
    weight = null : float
    notes = "" : varchar(255)
    """
    prompts = answer("no")
    Animal.alter()
    assert "ALTER TABLE" in prompts[0] and prompts[0].endswith("Execute? [yes, no]: ")
    assert "name" in Animal.heading.names  # not executed

    answer("yes")
    Animal.alter()
    assert Animal.heading.names == ["animal_id", "nickname", "weight", "notes"]
    assert Animal.heading.table_status["comment"] == "animals of the lab"
    rows = Animal.fetch(as_dict=True, order_by="animal_id")
    assert [r["nickname"] for r in rows] == [f"a{i}" for i in range(5)]
    assert [r["notes"] for r in rows] == [""] * 5
    assert (schema.log & 'event LIKE "Altered%%"').fetch("event").tolist()

    # update1 keeps working on the altered table
    Animal.update1(dict(animal_id=3, nickname="x" * 30, notes="renamed"))
    assert (Animal & "animal_id = 3").fetch1("nickname", "notes") == ("x" * 30, "renamed")

    Animal.alter(prompt=False)  # nothing left to alter: no error, no prompt

    Animal.definition = """
    animal_id : int
    litter : int
    ---
    nickname : varchar(32)
    weight = null : float
    notes = "" : varchar(255)
    """
    with pytest.raises(NotImplementedError, match="primary key"):
        Animal.alter(prompt=False)


def test_alter_inside_a_transaction(alterable):
    _, Animal = alterable
    conn = dj.conn()
    conn.start_transaction()
    try:
        with pytest.raises(dj.DataJointError, match="inside a transaction"):
            Animal.alter(prompt=False)
    finally:
        conn.cancel_transaction()


# ---- differential: the same deletes by datajoint 0.14.9 ----------------------------------------
needs_ref = pytest.mark.skipif(ref is None, reason="the reference datajoint 0.14.9 is missing")


@pytest.fixture(scope="module")
def ref_pipeline():
    if ref is None:
        pytest.skip("the reference datajoint 0.14.9 is not installed")
    _configure(ref)
    ref.config["database.use_tls"] = False
    prefix = f"djtest_delref_{os.getpid()}"
    _drop_schemas(ref.conn(), prefix)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = ps.load_pipeline(ref, prefix)
    yield module
    _drop_schemas(ref.conn(), prefix)


# (whole-table deletes differ on purpose: see the next test)
DIFFERENTIAL = [case for case in CASES if case[1] is not None]


@needs_ref
@pytest.mark.interop
@pytest.mark.parametrize("seed", [11, 12, 13])
@pytest.mark.parametrize(("name", "restriction", "_predicate"), DIFFERENTIAL)
def test_same_rows_removed_as_datajoint(
    pipeline, ref_pipeline, name, restriction, _predicate, seed
):
    data = ps.make_rows(seed=seed, subjects=8)
    results = []
    for module in (pipeline, ref_pipeline):
        ps.clear(module)
        ps.insert_rows(module, data)
        table = ps.table_of(module, name)
        query = table() if restriction is None else table & restriction
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            query.delete(safemode=False)
        results.append(ps.remaining(module))
    assert results[0] == results[1]
    assert results[0] != ps.expected_remaining(data, {})  # something was deleted


def _pairs_b(rows):
    return {r["subj_b"] for r in rows["Pair"]}


def _sessions_with(rows, table, predicate):
    return {(r["subject_id"], r["session"]) for r in rows[table] if predicate(r)}


def _session_key(r):
    return (r["subject_id"], r["session"])


# restrictions by other tables: (query, top table, which of its rows it selects, given rows)
QUERY_RESTRICTIONS = [
    (
        lambda m: m.Subject - m.Pair.proj(subject_id="subj_b"),
        "Subject",
        lambda rows, r: r["subject_id"] not in _pairs_b(rows),
    ),
    (
        lambda m: m.Session & (m.Scan & "scan = 2"),
        "Session",
        lambda rows, r: _session_key(r) in _sessions_with(rows, "Scan", lambda s: s["scan"] == 2),
    ),
    (
        lambda m: m.Subject & (m.Session & "buddy IS NULL"),
        "Subject",
        lambda rows, r: any(
            s["subject_id"] == r["subject_id"] and s["buddy"] is None for s in rows["Session"]
        ),
    ),
    (
        # (NOT IN over NULLs selects nothing, in SQL: leave the NULL references out)
        lambda m: m.Session - (m.Note & "session IS NOT NULL"),
        "Session",
        lambda rows, r: _session_key(r) not in _sessions_with(rows, "Note", lambda n: True),
    ),
    (
        lambda m: m.Scan & (m.Analysis & "param = 1") & "session > 1",
        "Scan",
        lambda rows, r: (
            r["session"] > 1
            and any(
                a["param"] == 1 and all(a[k] == r[k] for k in ("subject_id", "session", "scan"))
                for a in rows["Analysis"]
            )
        ),
    ),
    (
        lambda m: m.Subject & [{"subject_id": 1}, "subject_id > 6"],
        "Subject",
        lambda rows, r: r["subject_id"] == 1 or r["subject_id"] > 6,
    ),
    (
        lambda m: m.Lab & m.dj.Not("lab = 'lab0'"),
        "Lab",
        lambda rows, r: r["lab"] != "lab0",
    ),
]


@pytest.mark.parametrize(("make_query", "name", "selects"), QUERY_RESTRICTIONS)
def test_restrictions_by_other_tables(pipeline, make_query, name, selects):
    """Restrictions that read other tables, dependents of the deleted one included: the
    rows they select before anything is deleted are the ones that go."""
    data = ps.make_rows(seed=17, subjects=8)
    ps.clear(pipeline)
    ps.insert_rows(pipeline, data)
    top = [r for r in data[name] if selects(data, r)]
    assert top and len(top) < len(data[name])
    assert make_query(pipeline).delete(safemode=False) == len(top)
    assert ps.remaining(pipeline) == ps.expected_remaining(data, {name: top})


@needs_ref
@pytest.mark.interop
@pytest.mark.parametrize(("make_query", "_name", "_selects"), QUERY_RESTRICTIONS[5:])
def test_query_restrictions_same_as_datajoint(pipeline, ref_pipeline, make_query, _name, _selects):
    """(Restrictions that do not read a dependent of the deleted table.)"""
    data = ps.make_rows(seed=17, subjects=8)
    results = []
    for module in (pipeline, ref_pipeline):
        ps.clear(module)
        ps.insert_rows(module, data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            make_query(module).delete(safemode=False)
        results.append(ps.remaining(module))
    assert results[0] == results[1]
    assert results[0] != ps.expected_remaining(data, {})  # something was deleted


@needs_ref
@pytest.mark.interop
def test_restriction_by_a_dependent_unlike_datajoint(pipeline, ref_pipeline):
    """Documented fix: 0.14 deletes the scans first, then evaluates ``Scan & "scan = 2"``
    again for the sessions: it finds nothing, and the sessions stay (without their scans)."""
    data = ps.make_rows(seed=17, subjects=8)
    sessions = []
    for module in (pipeline, ref_pipeline):
        ps.clear(module)
        ps.insert_rows(module, data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (module.Session & (module.Scan & "scan = 2")).delete(safemode=False)
        sessions.append(len(module.Session()))
    with_scan_2 = len(_sessions_with(data, "Scan", lambda s: s["scan"] == 2))
    assert sessions == [len(data["Session"]) - with_scan_2, len(data["Session"])]


@needs_ref
@pytest.mark.interop
@pytest.mark.parametrize("force_masters", [False, True])
def test_part_deletes_same_as_datajoint(pipeline, ref_pipeline, force_masters):
    data = ps.make_rows(seed=21, subjects=8)
    results = []
    for package, module in ((dj, pipeline), (ref, ref_pipeline)):
        ps.clear(module)
        ps.insert_rows(module, data)
        part = package.FreeTable(package.conn(), module.Session.Trial.full_table_name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (part & "trial = 2").delete(
                safemode=False, force_parts=True, force_masters=force_masters
            )
        results.append(ps.remaining(module))
    assert results[0] == results[1]


@needs_ref
@pytest.mark.interop
def test_unrestricted_delete_keeps_null_references_unlike_datajoint(pipeline, ref_pipeline):
    """Documented fix: 0.14 deletes rows whose nullable reference is NULL when the parent
    table is deleted whole; they depend on nothing and stay here."""
    data = ps.make_rows(seed=11)
    nulls = sum(r["session"] is None for r in data["Note"])
    assert nulls
    left = []
    for module in (pipeline, ref_pipeline):
        ps.clear(module)
        ps.insert_rows(module, data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module.Session.delete(safemode=False)
        left.append(len(module.Note()))
    assert left == [nulls, 0]


@needs_ref
@pytest.mark.interop
def test_ours_deletes_rows_of_tables_declared_by_datajoint(pipeline, ref_pipeline):
    """Interop: our cascade on the schemas datajoint 0.14.9 declared."""
    data = ps.make_rows(seed=5)
    ps.clear(ref_pipeline)
    ps.insert_rows(ref_pipeline, data)
    prefix = ref_pipeline.schema_a.database[: -len("_a")]
    a = dj.VirtualModule("ref_a", prefix + "_a")
    dj.VirtualModule("ref_b", prefix + "_b")
    top = _rows_of(data, "Subject", lambda r: r["subject_id"] in (2, 5))
    (a.Subject & "subject_id in (2, 5)").delete(safemode=False)
    assert ps.remaining(ref_pipeline) == ps.expected_remaining(data, {"Subject": top})
