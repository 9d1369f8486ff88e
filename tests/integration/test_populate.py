"""``populate()``, ``progress()`` and the ``~jobs`` table against a real server, checked
against DataJoint 0.14.9's behaviour (autopopulate.py, jobs.py, hash.py of the reference).

1. basics: make / Part rows, restrictions, order, limit, max_calls, keys, make_kwargs,
   errors (propagated and rolled back, or suppressed and collected), tripartite make;
2. jobs: errors recorded in ``schema.jobs``, skipped statuses, ``dj.key_hash``, the same
   ``~jobs`` table as the reference declares, one queue shared with reference workers;
3. reliability with real worker processes: 4 concurrent workers compute every key exactly once,
   a worker killed by SIGKILL / SIGTERM in the middle of ``make`` leaves no partial rows.

Needs DJ_HOST, DJ_USER, DJ_PASS; skipped otherwise. Schemas are named ``djtest_pop_<pid>*``
and dropped afterwards.
"""

from __future__ import annotations

import os
import platform
import re
import signal
import subprocess
import sys
import time
import types
import warnings

import lab_schema
import pytest

ENV = lab_schema.server_env()
if ENV is None:
    pytest.skip("DJ_HOST is not set: no database server to test against", allow_module_level=True)

import datajoint_rs as dj  # noqa: E402
from datajoint_rs.errors import DataJointError  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the reference's dependencies warn on import
    try:
        import datajoint as ref_dj
        import datajoint.hash as ref_hash
    except ImportError:  # pragma: no cover
        ref_dj = ref_hash = None

PREFIX = f"djtest_pop_{os.getpid()}"
SCHEMA = PREFIX
SCHEMA_REF = f"{PREFIX}_ref"
N_NUMBERS = 10

SOURCE = '''
schema = dj.Schema(SCHEMA_NAME, connection=CONNECTION)


@schema
class Number(dj.Lookup):
    definition = """
    n : int
    ---
    value : int
    """
    contents = [(i, i + 10) for i in range(10)]


@schema
class Square(dj.Computed):
    definition = """
    -> Number
    ---
    sq : int
    """

    class Digit(dj.Part):
        definition = """
        -> master
        pos : tinyint
        ---
        digit : tinyint
        """

    def make(self, key, **kwargs):
        HOOKS.calls.append((key["n"], dict(kwargs)))
        if HOOKS.on_make is not None:
            HOOKS.on_make(key)
        value = (Number & key).fetch1("value")
        sq = value * value
        self.insert1(dict(key, sq=sq))
        self.Digit.insert(dict(key, pos=i, digit=int(c)) for i, c in enumerate(str(sq)))
        if key["n"] in HOOKS.fail:
            raise HOOKS.fail[key["n"]]


@schema
class Doubled(dj.Computed):
    definition = """
    -> Number
    ---
    doubled : int
    """

    def make_fetch(self, key, **kwargs):
        HOOKS.fetches.append(key["n"])
        HOOKS.fetch_kwargs.append(dict(kwargs))
        return ((Number & key).fetch1("value"),)

    def make_compute(self, key, value):
        HOOKS.calls.append((key["n"], {}))
        if HOOKS.on_compute is not None:
            HOOKS.on_compute(key)
        return (2 * value,)

    def make_insert(self, key, doubled):
        self.insert1(dict(key, doubled=doubled))


@schema
class Legacy(dj.Computed):
    definition = """
    -> Number
    ---
    plus_one : int
    """
    key_source = Number  # a class: instantiated by populate

    def _make_tuples(self, key):
        HOOKS.calls.append((key["n"], {}))
        self.insert1(dict(key, plus_one=(Number & key).fetch1("value") + 1))


@schema
class Sample(dj.Lookup):
    definition = """
    -> Number
    idx : int
    ---
    val : int
    """
    contents = [(0, i, i) for i in range(200)]


@schema
class SampleSum(dj.Computed):
    definition = """
    -> Number
    ---
    total : bigint
    """

    @property
    def key_source(self):
        return Number & "n = 0"

    def make_fetch(self, key):
        return ((Sample & key).fetch(format="frame"),)

    def make_compute(self, key, frame):
        if HOOKS.on_frame_compute is not None:
            HOOKS.on_frame_compute(key)
        return (int(frame["val"].sum()),)

    def make_insert(self, key, total):
        self.insert1(dict(key, total=total))
'''


class Hooks:
    """Lets the tests steer and observe the ``make`` methods of SOURCE."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.calls = []  # (n, make kwargs) per make / make_compute call
        self.fetches = []  # n per make_fetch call
        self.fetch_kwargs = []  # kwargs per make_fetch call
        self.on_frame_compute = None  # callable(key) run inside SampleSum.make_compute
        self.fail = {}  # n -> exception raised by Square.make after its inserts
        self.on_compute = None  # callable(key) run inside Doubled.make_compute
        self.on_make = None  # callable(key) run at the start of Square.make


HOOKS = Hooks()


@pytest.fixture(scope="module")
def other_connection():
    """A second connection, to change data while a populate is running."""
    c = dj.Connection(*ENV)
    yield c
    c.close()


@pytest.fixture(scope="module")
def pop(connection):
    connection.query(f"DROP DATABASE IF EXISTS `{SCHEMA}`")
    module = types.ModuleType("pop_schema")
    module.__dict__.update(dj=dj, SCHEMA_NAME=SCHEMA, CONNECTION=connection, HOOKS=HOOKS)
    exec(compile(SOURCE, "<pop_schema>", "exec"), module.__dict__)
    yield module
    module.schema.drop(force=True)


@pytest.fixture
def clean(pop, connection):
    """Empty the computed tables and the jobs table, restore the inputs, reset the hooks."""
    pop.Square.Digit.delete_quick()
    pop.Square.delete_quick()
    pop.Doubled.delete_quick()
    pop.SampleSum.delete_quick()
    pop.Legacy.delete_quick()
    pop.schema.jobs.delete_quick()
    connection.query(f"UPDATE `{SCHEMA}`.`#number` SET value = n + 10")
    connection.query(f"UPDATE `{SCHEMA}`.`#sample` SET val = idx")
    HOOKS.reset()
    yield pop
    HOOKS.reset()


def ns(table):
    return sorted(table.fetch("n").tolist())


def called(hooks=HOOKS):
    return [n for n, _ in hooks.calls]


# ---------------------------------------------------------------- 1. basics


def test_populate_api_exists():
    assert hasattr(dj.Computed, "populate")
    assert hasattr(dj.Imported, "populate")
    assert hasattr(dj.Computed, "progress")


def test_populate_fills_everything_once(clean):
    pop = clean
    assert pop.Square.progress() == (N_NUMBERS, N_NUMBERS)
    result = pop.Square.populate()
    assert result == {"success_count": N_NUMBERS, "error_list": []}
    assert ns(pop.Square) == list(range(N_NUMBERS))
    rows = {r["n"]: r["sq"] for r in pop.Square.fetch(as_dict=True)}
    assert rows == {n: (n + 10) ** 2 for n in range(N_NUMBERS)}
    digits = pop.Square.Digit.fetch(as_dict=True, order_by="n, pos")
    assert len(digits) == 3 * N_NUMBERS  # 100..361: three digits each
    assert [d["digit"] for d in digits if d["n"] == 9] == [3, 6, 1]
    assert pop.Square.progress() == (0, N_NUMBERS)
    assert sorted(called()) == list(range(N_NUMBERS))

    HOOKS.reset()
    assert pop.Square.populate() == {"success_count": 0, "error_list": []}
    assert HOOKS.calls == []


def test_progress_and_restrictions(clean):
    pop = clean
    assert pop.Square.progress("n < 3") == (3, 3)
    result = pop.Square.populate("n < 3")
    assert result["success_count"] == 3
    assert ns(pop.Square) == [0, 1, 2]
    assert pop.Square.progress() == (N_NUMBERS - 3, N_NUMBERS)
    assert pop.Square.progress("n < 3") == (0, 3)
    assert pop.Square.progress("n < 5") == (2, 5)
    # a query expression, a dict and several restrictions (AND-ed)
    assert pop.Square.populate(pop.Number & "n in (5, 6)")["success_count"] == 2
    assert pop.Square.populate({"n": 8})["success_count"] == 1
    assert pop.Square.populate("n > 3", "n < 5")["success_count"] == 1
    assert ns(pop.Square) == [0, 1, 2, 4, 5, 6, 8]
    remaining, total = pop.Square.progress(display=True)
    assert (remaining, total) == (3, N_NUMBERS)


def test_populate_restricted_table_is_an_error(clean):
    with pytest.raises(DataJointError):
        (clean.Square & "n = 1").populate()
    assert len(clean.Square()) == 0


def test_populate_in_transaction_is_an_error(clean, connection):
    connection.start_transaction()
    try:
        with pytest.raises(DataJointError):
            clean.Square.populate()
    finally:
        connection.cancel_transaction()
    assert len(clean.Square()) == 0


def test_direct_insert_needs_permission(clean):
    with pytest.raises(DataJointError):
        clean.Square.insert1(dict(n=1, sq=5))
    assert len(clean.Square()) == 0
    clean.Square.insert1(dict(n=1, sq=5), allow_direct_insert=True)
    assert clean.Square.fetch1("sq") == 5
    # the permission granted during populate does not leak
    clean.Square.populate()
    with pytest.raises(DataJointError):
        clean.Square.insert1(dict(n=100, sq=5))


def test_bad_order_is_an_error(clean):
    with pytest.raises(DataJointError):
        clean.Square.populate(order="sideways")


def test_make_error_propagates_and_rolls_back(clean):
    pop = clean
    HOOKS.fail[4] = ValueError("boom")
    with pytest.raises(ValueError, match="boom"):
        pop.Square.populate()
    assert 4 in called()
    # the master row and the part rows inserted before the error are gone
    assert len(pop.Square & {"n": 4}) == 0
    assert len(pop.Square.Digit & {"n": 4}) == 0
    # every committed key is complete (master and parts), and populate stopped at the error
    done = ns(pop.Square)
    assert 4 not in done
    assert sorted(set(pop.Square.Digit.fetch("n").tolist())) == done
    assert len(done) == called().index(4)
    HOOKS.reset()
    result = pop.Square.populate()
    assert result["success_count"] == N_NUMBERS - len(done)
    assert ns(pop.Square) == list(range(N_NUMBERS))


def test_make_error_not_an_exception_subclass(clean):
    """KeyboardInterrupt from make: rolled back and re-raised."""
    HOOKS.fail[2] = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        clean.Square.populate("n = 2")
    assert len(clean.Square & {"n": 2}) == 0
    assert len(clean.Square.Digit & {"n": 2}) == 0
    assert not clean.Square.connection.in_transaction


def test_system_exit_is_never_suppressed(clean):
    HOOKS.fail[2] = SystemExit("bye")
    with pytest.raises(SystemExit):
        clean.Square.populate(suppress_errors=True)
    assert len(clean.Square & {"n": 2}) == 0
    assert len(clean.Square.Digit & {"n": 2}) == 0


def test_legacy_make_tuples_and_class_key_source(clean):
    assert clean.Legacy.progress() == (N_NUMBERS, N_NUMBERS)
    assert clean.Legacy.populate()["success_count"] == N_NUMBERS
    assert sorted(called()) == list(range(N_NUMBERS))
    assert (clean.Legacy & {"n": 2}).fetch1("plus_one") == 13


def test_suppress_errors(clean):
    pop = clean
    HOOKS.fail.update({2: ValueError("bad two"), 5: RuntimeError("r5"), 7: ValueError()})
    result = pop.Square.populate(suppress_errors=True)
    assert result["success_count"] == N_NUMBERS - 3
    errors = sorted(((dict(k), msg) for k, msg in result["error_list"]), key=lambda e: e[0]["n"])
    assert errors == [
        ({"n": 2}, "ValueError: bad two"),
        ({"n": 5}, "RuntimeError: r5"),
        ({"n": 7}, "ValueError"),
    ]
    assert ns(pop.Square) == [0, 1, 3, 4, 6, 8, 9]
    assert sorted(set(pop.Square.Digit.fetch("n").tolist())) == [0, 1, 3, 4, 6, 8, 9]
    assert not pop.Square.connection.in_transaction


def test_return_exception_objects(clean):
    pop = clean
    boom = ValueError("boom")
    HOOKS.fail[3] = boom
    result = pop.Square.populate(suppress_errors=True, return_exception_objects=True)
    assert result["success_count"] == N_NUMBERS - 1
    [(key, error)] = result["error_list"]
    assert dict(key) == {"n": 3}
    assert error is boom


def test_max_calls(clean):
    result = clean.Square.populate(max_calls=3)
    assert result["success_count"] == 3
    assert len(clean.Square()) == 3
    assert len(HOOKS.calls) == 3
    assert clean.Square.populate(max_calls=100)["success_count"] == N_NUMBERS - 3


def test_order(clean):
    pop = clean
    pop.Square.populate()
    forward = called()
    pop.Square.Digit.delete_quick()
    pop.Square.delete_quick()
    HOOKS.reset()
    pop.Square.populate(order="reverse")
    assert called() == forward[::-1]
    pop.Square.Digit.delete_quick()
    pop.Square.delete_quick()
    HOOKS.reset()
    assert pop.Square.populate(order="random")["success_count"] == N_NUMBERS
    assert sorted(called()) == sorted(forward)
    # reverse with max_calls takes the last keys of the original order
    pop.Square.Digit.delete_quick()
    pop.Square.delete_quick()
    HOOKS.reset()
    pop.Square.populate(order="reverse", max_calls=2)
    assert called() == forward[::-1][:2]


def test_limit(clean):
    pop = clean
    result = pop.Square.populate(limit=4)
    assert result["success_count"] == 4
    assert len(pop.Square()) == 4
    result = pop.Square.populate("n >= 5", limit=2)
    assert result["success_count"] == 2
    assert len(pop.Square & "n >= 5") == 2
    # limit counts keys still to do, so repeated calls make progress
    assert pop.Square.populate(limit=100)["success_count"] == N_NUMBERS - 6


def test_explicit_keys(clean):
    pop = clean
    result = pop.Square.populate(keys=[{"n": 1}, {"n": 3}])
    assert result["success_count"] == 2
    assert ns(pop.Square) == [1, 3]
    # already populated keys are skipped without calling make
    HOOKS.reset()
    result = pop.Square.populate(keys=[{"n": 3}, {"n": 6}])
    assert result["success_count"] == 1
    assert called() == [6]
    assert ns(pop.Square) == [1, 3, 6]
    assert pop.Square.populate(keys=[])["success_count"] == 0


def test_make_kwargs(clean):
    pop = clean
    pop.Square.populate("n < 2", make_kwargs={"scale": 3, "label": "x"})
    assert HOOKS.calls == [(0, {"scale": 3, "label": "x"}), (1, {"scale": 3, "label": "x"})]
    HOOKS.reset()
    pop.Square.populate()
    assert all(kwargs == {} for _, kwargs in HOOKS.calls)


def test_display_progress(clean, capsys):
    result = clean.Square.populate(display_progress=True)
    assert result == {"success_count": N_NUMBERS, "error_list": []}
    captured = capsys.readouterr()
    assert f"{N_NUMBERS}/{N_NUMBERS}" in captured.err


def test_tripartite_make(clean):
    pop = clean
    assert pop.Doubled.progress() == (N_NUMBERS, N_NUMBERS)
    result = pop.Doubled.populate()
    assert result == {"success_count": N_NUMBERS, "error_list": []}
    rows = {r["n"]: r["doubled"] for r in pop.Doubled.fetch(as_dict=True)}
    assert rows == {n: 2 * (n + 10) for n in range(N_NUMBERS)}
    # compute once per key, fetch twice (once outside, once inside the transaction)
    assert sorted(called()) == list(range(N_NUMBERS))
    assert sorted(HOOKS.fetches) == sorted(list(range(N_NUMBERS)) * 2)
    assert pop.Doubled.progress() == (0, N_NUMBERS)
    HOOKS.reset()
    assert pop.Doubled.populate()["success_count"] == 0
    assert HOOKS.calls == []


def test_tripartite_inputs_changed(clean, other_connection):
    pop = clean

    def change(key):
        if key["n"] == 3:
            other_connection.query(f"UPDATE `{SCHEMA}`.`#number` SET value = 999 WHERE n = 3")

    HOOKS.on_compute = change
    with pytest.raises(DataJointError, match="make_fetch"):
        pop.Doubled.populate("n = 3")
    assert len(pop.Doubled & {"n": 3}) == 0
    assert not pop.Doubled.connection.in_transaction
    # with suppress_errors, the others are computed; the changed key is computed the next time
    other_connection.query(f"UPDATE `{SCHEMA}`.`#number` SET value = 13 WHERE n = 3")
    result = pop.Doubled.populate(suppress_errors=True)
    assert result["success_count"] == N_NUMBERS - 1
    [(key, message)] = result["error_list"]
    assert dict(key) == {"n": 3}
    assert message.startswith("DataJointError: ")
    HOOKS.on_compute = None
    assert pop.Doubled.populate()["success_count"] == 1
    assert (pop.Doubled & {"n": 3}).fetch1("doubled") == 2 * 999


def test_tripartite_error_in_compute(clean):
    pop = clean

    def fail(key):
        if key["n"] == 6:
            raise ValueError("no compute")

    HOOKS.on_compute = fail
    result = pop.Doubled.populate(suppress_errors=True)
    assert result["success_count"] == N_NUMBERS - 1
    assert [(dict(k), m) for k, m in result["error_list"]] == [({"n": 6}, "ValueError: no compute")]
    assert not pop.Doubled.connection.in_transaction


def test_tripartite_make_kwargs(clean):
    """make_kwargs reach make_fetch (DataJoint 0.14.9: ``make(key, **kwargs)`` passes them)."""
    pop = clean
    result = pop.Doubled.populate("n < 2", make_kwargs={"scale": 3})
    assert result == {"success_count": 2, "error_list": []}
    assert HOOKS.fetch_kwargs == [{"scale": 3}] * 4


def test_tripartite_detects_change_in_a_large_frame(clean, other_connection):
    """The inputs are compared in full: a change in the middle of a 200-row DataFrame counts."""
    pop = clean
    assert pop.SampleSum.populate() == {"success_count": 1, "error_list": []}
    assert pop.SampleSum.fetch1("total") == sum(range(200))
    pop.SampleSum.delete_quick()

    def change(key):
        other_connection.query(f"UPDATE `{SCHEMA}`.`#sample` SET val = -1 WHERE idx = 100")

    HOOKS.on_frame_compute = change
    with pytest.raises(DataJointError, match="make_fetch"):
        pop.SampleSum.populate()
    assert len(pop.SampleSum()) == 0


def test_populate_with_processes(clean, connection):
    pop = clean
    result = pop.Square.populate(processes=2)
    assert result == {"success_count": N_NUMBERS, "error_list": []}
    assert ns(pop.Square) == list(range(N_NUMBERS))
    assert len(pop.Square.Digit()) == 3 * N_NUMBERS
    # the parent's connection works afterwards
    assert connection.query("SELECT 1").fetchone()[0] == 1
    pop.Square.Digit.delete_quick()
    pop.Square.delete_quick()
    HOOKS.fail[4] = ValueError("in a child")
    result = pop.Square.populate(processes=3, reserve_jobs=True, suppress_errors=True)
    assert result["success_count"] == N_NUMBERS - 1
    assert [(dict(k), m) for k, m in result["error_list"]] == [({"n": 4}, "ValueError: in a child")]
    assert job_row(pop, {"n": 4})["status"] == "error"
    assert len(pop.schema.jobs) == 1


# ---------------------------------------------------------------- 2. jobs


def job_row(pop, key, table_name="__square"):
    rows = (pop.schema.jobs & {"table_name": table_name, "key_hash": dj.key_hash(key)}).fetch(
        as_dict=True
    )
    return rows[0] if rows else None


def test_jobs_table_is_the_schema_table(clean):
    jobs = clean.schema.jobs
    assert jobs.table_name == "~jobs"
    assert jobs.full_table_name == f"`{SCHEMA}`.`~jobs`"
    assert clean.Square.table_name == "__square"


def test_reserve_jobs_success_leaves_no_jobs(clean):
    pop = clean
    before = signal.getsignal(signal.SIGTERM)
    result = pop.Square.populate(reserve_jobs=True)
    assert result == {"success_count": N_NUMBERS, "error_list": []}
    assert len(pop.schema.jobs) == 0
    assert signal.getsignal(signal.SIGTERM) is before  # the SIGTERM handler is restored


def test_reserve_jobs_records_errors(clean, connection):
    pop = clean
    HOOKS.fail[3] = ValueError("boom")
    result = pop.Square.populate(reserve_jobs=True, suppress_errors=True)
    assert result["success_count"] == N_NUMBERS - 1
    assert [(dict(k), m) for k, m in result["error_list"]] == [({"n": 3}, "ValueError: boom")]
    assert len(pop.schema.jobs) == 1
    row = job_row(pop, {"n": 3})
    assert row is not None
    assert row["status"] == "error"
    assert row["error_message"] == "ValueError: boom"
    assert isinstance(row["error_stack"], str)
    assert "Traceback" in row["error_stack"] and "ValueError: boom" in row["error_stack"]
    assert row["key"] == {"n": 3}
    assert row["user"] == connection.get_user()
    assert row["host"] == platform.node()
    assert row["pid"] == os.getpid()
    assert row["connection_id"] == connection.connection_id
    assert row["timestamp"] is not None
    assert len(pop.Square & {"n": 3}) == 0
    assert len(pop.Square.Digit & {"n": 3}) == 0


def test_reserve_jobs_error_propagates_and_is_recorded(clean):
    pop = clean
    HOOKS.fail[0] = RuntimeError("first fails")
    with pytest.raises(RuntimeError, match="first fails"):
        pop.Square.populate("n = 0", reserve_jobs=True)
    row = job_row(pop, {"n": 0})
    assert row["status"] == "error"
    assert row["error_message"] == "RuntimeError: first fails"
    assert len(pop.Square & {"n": 0}) == 0


def test_long_error_message_truncated(clean):
    pop = clean
    HOOKS.fail[1] = ValueError("x" * 5000)
    pop.Square.populate("n = 1", reserve_jobs=True, suppress_errors=True)
    message = job_row(pop, {"n": 1})["error_message"]
    assert len(message) == 2047
    assert message.startswith("ValueError: xxx")
    assert message.endswith("...truncated")
    assert message == ("ValueError: " + "x" * 5000)[: 2047 - len("...truncated")] + "...truncated"


def test_jobs_skip_error_ignore_reserved(clean):
    pop = clean
    jobs = pop.schema.jobs
    jobs.error("__square", {"n": 3}, error_message="ValueError: earlier")
    assert jobs.ignore("__square", {"n": 4}) is True
    assert jobs.reserve("__square", {"n": 5}) is True
    assert jobs.reserve("__square", {"n": 5}) is False  # already taken
    assert jobs.ignore("__square", {"n": 5}) is False
    assert jobs.reserve("__other", {"n": 6}) is True  # another table's job does not block
    statuses = dict(zip(*jobs.fetch("key_hash", "status"), strict=True))
    assert statuses[dj.key_hash({"n": 3})] == "error"
    assert statuses[dj.key_hash({"n": 4})] == "ignore"
    assert statuses[dj.key_hash({"n": 5})] == "reserved"

    result = pop.Square.populate(reserve_jobs=True)
    assert result["success_count"] == N_NUMBERS - 3
    assert sorted(called()) == [0, 1, 2, 6, 7, 8, 9]

    # the 0.14 idiom to retry failed jobs
    (jobs & 'status="error"').delete()
    assert job_row(pop, {"n": 3}) is None
    assert job_row(pop, {"n": 4})["status"] == "ignore"
    HOOKS.reset()
    assert pop.Square.populate(reserve_jobs=True)["success_count"] == 1
    assert called() == [3]

    jobs.complete("__square", {"n": 5})
    (jobs & {"key_hash": dj.key_hash({"n": 4})}).delete()
    assert job_row(pop, {"n": 5}) is None and job_row(pop, {"n": 4}) is None
    assert pop.Square.populate(reserve_jobs=True)["success_count"] == 2
    assert ns(pop.Square) == list(range(N_NUMBERS))
    # populate without reserve_jobs ignores the jobs table
    assert len(jobs & {"table_name": "__other"}) == 1


def test_jobs_taken_or_made_meanwhile_are_skipped(clean, other_connection):
    """Another worker reserves one key and makes another while we populate: both are
    skipped, nothing is made twice, and only the other worker's reservation remains."""
    pop = clean
    other_jobs = dj.Schema(SCHEMA, connection=other_connection, create_schema=False).jobs

    def other_worker(key):
        if key["n"] == 0:
            assert other_jobs.reserve("__square", {"n": 5})
            other_connection.query(f"INSERT INTO `{SCHEMA}`.`__square` (n, sq) VALUES (7, 289)")

    HOOKS.on_make = other_worker
    result = pop.Square.populate(reserve_jobs=True)
    assert result == {"success_count": N_NUMBERS - 2, "error_list": []}
    assert sorted(called()) == [0, 1, 2, 3, 4, 6, 8, 9]
    rows = pop.schema.jobs.fetch(as_dict=True)
    assert [(r["key"], r["status"], r["connection_id"]) for r in rows] == [
        ({"n": 5}, "reserved", other_connection.connection_id)
    ]


def test_explicit_keys_already_made_are_skipped_under_reserve_jobs(clean):
    pop = clean
    pop.Square.populate("n < 3")
    HOOKS.reset()
    keys = (pop.Number & "n < 8").fetch("KEY")
    result = pop.Square.populate(keys=keys, reserve_jobs=True)
    assert result == {"success_count": 5, "error_list": []}
    assert sorted(called()) == [3, 4, 5, 6, 7]
    assert len(pop.schema.jobs) == 0


def test_error_mid_run_releases_unstarted_reservations(clean):
    pop = clean
    HOOKS.fail[4] = RuntimeError("stop here")
    with pytest.raises(RuntimeError, match="stop here"):
        pop.Square.populate(reserve_jobs=True)
    assert ns(pop.Square) == [0, 1, 2, 3]
    rows = pop.schema.jobs.fetch(as_dict=True)
    assert [(r["key"], r["status"]) for r in rows] == [({"n": 4}, "error")]
    HOOKS.reset()
    assert pop.Square.populate(reserve_jobs=True)["success_count"] == N_NUMBERS - 5
    assert sorted(called()) == [5, 6, 7, 8, 9]


def test_populate_without_reserve_ignores_jobs(clean):
    pop = clean
    pop.schema.jobs.ignore("__square", {"n": 2})
    assert pop.Square.populate()["success_count"] == N_NUMBERS


def test_error_replaces_reservation(clean):
    jobs = clean.schema.jobs
    assert jobs.reserve("__square", {"n": 8})
    jobs.error("__square", {"n": 8}, error_message="E: m", error_stack="stack")
    row = job_row(clean, {"n": 8})
    assert row["status"] == "error"
    assert row["error_message"] == "E: m"
    assert row["error_stack"] == "stack"
    assert len(jobs) == 1


@pytest.mark.interop
@pytest.mark.skipif(ref_hash is None, reason="the reference datajoint 0.14.9 is not installed")
def test_key_hash_matches_reference():
    import datetime
    import decimal
    import uuid

    keys = [
        {"n": 1},
        {},
        {"a": "x", "b": 2},
        {"b": 2, "a": "x"},
        {"subject_id": 7, "session": 3, "trial": 12},
        {"f": 1.5, "none": None, "s": "ünïcode"},
        {"d": datetime.date(2020, 1, 2), "t": datetime.datetime(2020, 1, 2, 3, 4, 5)},
        {"u": uuid.UUID("12345678-1234-5678-1234-567812345678"), "dec": decimal.Decimal("1.50")},
        {"neg": -3, "big": 2**63 - 1, "bool": True},
    ]
    for key in keys:
        assert dj.key_hash(key) == ref_hash.key_hash(key), key
    assert dj.key_hash({"n": 1}) == "c4ca4238a0b923820dcc509a6f75849b"  # md5("1")


@pytest.fixture(scope="module")
def ref_conn():
    if ref_dj is None:
        pytest.skip("the reference datajoint 0.14.9 is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = ref_dj.Connection(*ENV)
    yield c
    c.close()


@pytest.mark.interop
def test_jobs_table_same_as_reference(pop, ref_conn, connection):
    connection.query(f"DROP DATABASE IF EXISTS `{SCHEMA_REF}`")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ref_schema = ref_dj.Schema(SCHEMA_REF, connection=ref_conn)
            ref_schema.jobs  # noqa: B018 (declares the table)
        pop.schema.jobs  # noqa: B018
        ours = connection.query(f"SHOW CREATE TABLE `{SCHEMA}`.`~jobs`").fetchone()[1]
        theirs = connection.query(f"SHOW CREATE TABLE `{SCHEMA_REF}`.`~jobs`").fetchone()[1]
        assert ours.replace(SCHEMA, "<schema>") == theirs.replace(SCHEMA_REF, "<schema>")
    finally:
        connection.query(f"DROP DATABASE IF EXISTS `{SCHEMA_REF}`")


@pytest.mark.interop
def test_jobs_queue_shared_with_reference(clean, ref_conn):
    pop = clean
    ours = pop.schema.jobs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        theirs = ref_dj.Schema(SCHEMA, connection=ref_conn, create_schema=False).jobs
    assert ours.reserve("__square", {"n": 7}) is True
    assert theirs.reserve("__square", {"n": 7}) is False
    assert theirs.reserve("__square", {"n": 8}) is True
    assert ours.reserve("__square", {"n": 8}) is False
    # each reads the other's rows (the key blob included)
    assert (theirs & {"key_hash": dj.key_hash({"n": 7})}).fetch1("key") == {"n": 7}
    row = job_row(pop, {"n": 8})
    assert row["key"] == {"n": 8}
    assert row["status"] == "reserved"
    assert row["connection_id"] == ref_conn.connection_id
    # a populate by ours skips the key reserved by theirs
    result = pop.Square.populate(reserve_jobs=True)
    assert result["success_count"] == N_NUMBERS - 2
    assert 7 not in called() and 8 not in called()
    # an error recorded by theirs is read by ours, and ours' retry idiom clears it
    theirs.error("__square", {"n": 8}, error_message="ValueError: theirs", error_stack="tb")
    row = job_row(pop, {"n": 8})
    assert (row["status"], row["error_message"], row["error_stack"]) == (
        "error",
        "ValueError: theirs",
        "tb",
    )
    theirs.complete("__square", {"n": 7})
    (ours & 'status="error"').delete()
    assert len(ours) == 0
    assert pop.Square.populate(reserve_jobs=True)["success_count"] == 2


# ---------------------------------------------------------------- 3. real worker processes

WORKER = r'''
"""A populate worker: its own process, its own connection."""
import os
import sys
import time

import datajoint_rs as dj

conn = dj.Connection(
    os.environ["DJ_HOST"], os.environ.get("DJ_USER", "root"), os.environ.get("DJ_PASS", "")
)
schema = dj.Schema(os.environ["DJPOP_SCHEMA"], connection=conn)
LOG = os.environ.get("DJPOP_LOG")
MARKER = int(os.environ.get("DJPOP_MARKER", "-1"))
FLAG = os.environ.get("DJPOP_FLAG")


@schema
class Src(dj.Manual):
    definition = """
    k : int
    """


@schema
class Calls(dj.Manual):
    definition = """
    call_id : int unsigned auto_increment
    ---
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

    class Piece(dj.Part):
        definition = """
        -> master
        piece : tinyint
        """

    def make(self, key):
        if LOG:
            with open(LOG, "a") as f:
                f.write(f"{key['k']}\n")
        Calls.insert1(dict(k=key["k"], pid=os.getpid()))
        self.insert1(dict(key, pid=os.getpid()))
        self.Piece.insert([dict(key, piece=0), dict(key, piece=1)])
        if key["k"] == MARKER:
            with open(FLAG, "w") as f:
                f.write(str(conn.connection_id))
            time.sleep(120)


if __name__ == "__main__":
    if sys.argv[1] == "declare":
        Src.insert([dict(k=k) for k in range(int(sys.argv[2]))])
        if not os.environ.get("DJPOP_NOJOBS"):
            schema.jobs  # declares ~jobs
        sys.exit(0)
    go = os.environ.get("DJPOP_GO")
    if go:
        deadline = time.time() + 60
        while not os.path.exists(go) and time.time() < deadline:
            time.sleep(0.01)
    result = Work.populate(reserve_jobs=True, order=os.environ.get("DJPOP_ORDER", "original"))
    print(result["success_count"], len(result["error_list"]))
'''


class Workers:
    def __init__(self, tmp_path, schema_name):
        self.tmp = tmp_path
        self.schema_name = schema_name
        self.script = tmp_path / "worker.py"
        self.script.write_text(WORKER)

    def env(self, **extra):
        env = dict(os.environ)
        env.update(DJ_HOST=ENV[0], DJ_USER=ENV[1], DJ_PASS=ENV[2], DJPOP_SCHEMA=self.schema_name)
        env.update({f"DJPOP_{k.upper()}": str(v) for k, v in extra.items()})
        env["PYTHONWARNINGS"] = "ignore"
        return env

    def run(self, *args, timeout=120, **extra):
        proc = subprocess.run(
            [sys.executable, str(self.script), *args],
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def start(self, *args, **extra):
        return subprocess.Popen(
            [sys.executable, str(self.script), *args],
            env=self.env(**extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture
def workers(tmp_path, connection, request):
    name = f"{PREFIX}_{re.sub(r'[^0-9a-zA-Z]+', '_', request.node.name)[-40:]}"
    connection.query(f"DROP DATABASE IF EXISTS `{name}`")
    w = Workers(tmp_path, name)
    yield w
    dj.Schema(name, connection=connection, create_schema=False).drop(force=True)


def scalar(connection, sql):
    row = connection.query(sql).fetchone()
    return None if row is None else row[0]


def wait_for(predicate, timeout=60.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def jobs_rows(connection, schema_name):
    cur = connection.query(
        f"SELECT table_name, key_hash, status, pid, connection_id, error_message "
        f"FROM `{schema_name}`.`~jobs`"
    )
    names = ("table_name", "key_hash", "status", "pid", "connection_id", "error_message")
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("n_keys", "jobs_declared"), [(400, True), (40, False)], ids=["400keys", "fresh_jobs_table"]
)
def test_concurrent_workers_compute_each_key_once(
    workers, connection, tmp_path, n_keys, jobs_declared
):
    """4 workers, one queue; with ``fresh_jobs_table`` they also race to declare ``~jobs``."""
    n_workers = 4
    if jobs_declared:
        workers.run("declare", str(n_keys))
    else:
        workers.run("declare", str(n_keys), nojobs=1)
        assert scalar(connection, f"SHOW TABLES IN `{workers.schema_name}` LIKE '~jobs'") is None
    go = tmp_path / "go"
    orders = ["original", "reverse", "random", "original"]
    logs = [tmp_path / f"log{i}.txt" for i in range(n_workers)]
    procs = [
        workers.start("populate", go=go, log=logs[i], order=orders[i]) for i in range(n_workers)
    ]
    time.sleep(1.0)  # let them connect and bind their classes
    go.touch()
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        outputs.append(out)
    db = workers.schema_name
    successes = sum(int(out.split()[0]) for out in outputs)
    errors = sum(int(out.split()[1]) for out in outputs)
    assert (successes, errors) == (n_keys, 0)
    # every make invocation, committed or not, is in a log file
    invocations = [int(line) for log in logs if log.exists() for line in log.read_text().split()]
    assert sorted(invocations) == list(range(n_keys))
    assert scalar(connection, f"SELECT count(*) FROM `{db}`.`__work`") == n_keys
    assert scalar(connection, f"SELECT count(*) FROM `{db}`.`__work__piece`") == 2 * n_keys
    assert scalar(connection, f"SELECT count(*) FROM `{db}`.`calls`") == n_keys
    assert scalar(connection, f"SELECT count(DISTINCT k) FROM `{db}`.`calls`") == n_keys
    # each result row was written by the process whose make call was logged with it
    joined = f"`{db}`.`calls` c JOIN `{db}`.`__work` w ON c.k = w.k AND c.pid = w.pid"
    assert scalar(connection, f"SELECT count(*) FROM {joined}") == n_keys
    assert jobs_rows(connection, db) == []
    # more than one worker did some of the work (not a hard guarantee, but 400 keys suffice)
    if n_keys >= 400:
        assert scalar(connection, f"SELECT count(DISTINCT pid) FROM `{db}`.`__work`") >= 2


def assert_no_partial_rows(connection, db, k):
    assert scalar(connection, f"SELECT count(*) FROM `{db}`.`__work` WHERE k = {k}") == 0
    assert scalar(connection, f"SELECT count(*) FROM `{db}`.`__work__piece` WHERE k = {k}") == 0
    assert scalar(connection, f"SELECT count(*) FROM `{db}`.`calls` WHERE k = {k}") == 0


def connection_gone(connection, connection_id):
    return (
        scalar(
            connection,
            f"SELECT count(*) FROM information_schema.processlist WHERE id = {int(connection_id)}",
        )
        == 0
    )


@pytest.mark.slow
def test_worker_killed_in_make(workers, connection, tmp_path):
    db, marker = workers.schema_name, 2
    workers.run("declare", "5")
    flag = tmp_path / "flag"
    proc = workers.start("populate", marker=marker, flag=flag)
    try:
        wait_for(lambda: flag.exists() and flag.read_text(), what="make to reach the marker")
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    wait_for(lambda: connection_gone(connection, flag.read_text()), what="the server to notice")
    assert_no_partial_rows(connection, db, marker)
    assert scalar(connection, f"SELECT count(*) FROM `{db}`.`__work`") == marker  # 0, 1 done
    rows = {row["key_hash"]: row for row in jobs_rows(connection, db)}
    row = rows[dj.key_hash({"k": marker})]
    assert row["table_name"] == "__work"
    assert row["status"] == "reserved"
    assert row["pid"] == proc.pid
    assert row["connection_id"] == int(flag.read_text())
    # Besides the killed job, datajoint_rs may leave (fast makes only, see
    # docs/compatibility.md) reservations of its batch: of keys already made, or of later keys
    # it had reserved but not started. All are the killed worker's.
    assert all(r["status"] == "reserved" and r["pid"] == proc.pid for r in rows.values())
    assert set(rows) <= {dj.key_hash({"k": k}) for k in range(5)}
    # the stale reservation blocks the key until it is cleared
    workers.run("populate")
    assert_no_partial_rows(connection, db, marker)
    blocked = {dj.key_hash({"k": k}) for k in range(marker, 5)} & set(rows)
    assert scalar(connection, f"SELECT count(*) FROM `{db}`.`__work`") == 5 - len(blocked)
    jobs = dj.Schema(db, connection=connection, create_schema=False).jobs
    (jobs & {"table_name": "__work", "status": "reserved", "pid": proc.pid}).delete()
    assert jobs_rows(connection, db) == []
    workers.run("populate")
    assert scalar(connection, f"SELECT count(*) FROM `{db}`.`__work`") == 5
    assert scalar(connection, f"SELECT count(*) FROM `{db}`.`__work__piece`") == 10
    assert jobs_rows(connection, db) == []


@pytest.mark.slow
def test_worker_terminated_in_make(workers, connection, tmp_path):
    db, marker = workers.schema_name, 1
    workers.run("declare", "4")
    flag = tmp_path / "flag"
    proc = workers.start("populate", marker=marker, flag=flag)
    try:
        wait_for(lambda: flag.exists() and flag.read_text(), what="make to reach the marker")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode not in (0, -signal.SIGKILL), err
    assert_no_partial_rows(connection, db, marker)
    assert scalar(connection, f"SELECT count(*) FROM `{db}`.`__work`") == marker  # key 0 done
    [row] = jobs_rows(connection, db)
    assert row["key_hash"] == dj.key_hash({"k": marker})
    assert row["status"] == "error"
    assert "SystemExit" in row["error_message"]
    assert "SIGTERM" in row["error_message"]
    assert row["pid"] == proc.pid
    # the error is cleared with the 0.14 idiom; then the key is computed
    jobs = dj.Schema(db, connection=connection, create_schema=False).jobs
    (jobs & 'status="error"').delete()
    workers.run("populate")
    assert scalar(connection, f"SELECT count(*) FROM `{db}`.`__work`") == 4
    assert jobs_rows(connection, db) == []
