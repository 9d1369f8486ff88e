"""The fetch engine (``datajoint_rs.engine``): results read by the native module over its own
connections are exactly those of the mysqlclient path, in every fetch form; reads inside a
transaction go through the caller's connection; session settings carry over; streaming in
chunks; a connection lost mid-read raises ``LostConnectionError``.

Needs DJ_HOST, DJ_USER, DJ_PASS; skipped otherwise. Schemas are named ``djtest_eng_*`` and
dropped afterwards.
"""

from __future__ import annotations

import datetime
import math
import os
import subprocess
import sys
import uuid

import lab_schema
import numpy as np
import pytest

ENV = lab_schema.server_env()
if ENV is None:
    pytest.skip("DJ_HOST is not set: no database server to test against", allow_module_level=True)

import datajoint_rs as dj  # noqa: E402
from datajoint_rs import _native, engine, errors  # noqa: E402

SUFFIX = uuid.uuid4().hex[:8]
SCHEMA = f"djtest_eng_{SUFFIX}"


@pytest.fixture(scope="module")
def lab(connection, tmp_path_factory):
    connection.query(f"DROP DATABASE IF EXISTS `{SCHEMA}`")
    module = lab_schema.load_lab(dj, SCHEMA, connection)
    attachment = tmp_path_factory.mktemp("att") / "notes.txt"
    attachment.write_bytes("attached ✓\n".encode())
    base = lab_schema.all_types_values(
        f32=0.1234567,
        t=datetime.timedelta(hours=-25, minutes=-1, seconds=-2),
        lb=np.arange(12, dtype="<f8").reshape(3, 4),
        mb={"name": "trace", "values": [1, 2.5, "three", (4, None)]},
        bl=np.array([[1 + 2j, 3 - 4j]], dtype=np.complex64),
        att=attachment,
        nint=None,
        nfloat=float("nan"),
        nstr=None,
    )
    rows = [dict(base, id=1)]
    rows.append(
        dict(
            base,
            id=2,
            f32=16777217.0,
            f64=1e300,
            t=datetime.timedelta(seconds=1),
            j=None,
            lb=None,
            mb=np.random.default_rng(1).standard_normal(200_000),  # compressed
            nint=7,
            nfloat=2.5,
            nstr="x",
            u64=0,
        )
    )
    module.AllTypes.insert(rows)
    module.Subject.insert(
        dict(subject_id=i, species="mus musculus", sex="MF"[i % 2], dob=f"2020-01-{i + 1:02d}")
        for i in range(20)
    )
    yield module
    connection.query(f"DROP DATABASE IF EXISTS `{SCHEMA}`")


def same(a, b):
    """Equal values of the same types (numpy arrays: same dtype, shape and contents; NaN
    equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.names:
            return all(same(a[n], b[n]) for n in a.dtype.names)
        if a.dtype == object:
            return all(same(x, y) for x, y in zip(a.ravel(), b.ravel(), strict=True))
        return np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float | np.floating) and math.isnan(a):
        return math.isnan(b)
    return a == b and str(a) == str(b)


def both_paths(call):
    """``call()`` through the engine and through mysqlclient; checks the engine was used."""
    before = engine.reads
    ours = call()
    assert engine.reads > before, "the engine did not read"
    with engine.disabled():
        before = engine.reads
        reference = call()
        assert engine.reads == before
    return ours, reference


def test_engine_applies_outside_transactions(connection):
    assert engine.reader(connection) is not None


@pytest.mark.parametrize(
    "form",
    ["array", "frame", "dicts", "fetch1", "attrs", "keys", "arrow", "pandas", "arrays"],
)
def test_every_type_same_as_mysqlclient(lab, form, tmp_path):
    table = lab.AllTypes()
    dl = str(tmp_path)
    calls = {
        "array": lambda: table.fetch(download_path=dl, order_by="id"),
        "frame": lambda: table.fetch(format="frame", download_path=dl),
        "dicts": lambda: table.fetch(as_dict=True, download_path=dl, order_by="id"),
        "fetch1": lambda: (table & "id = 2").fetch1(download_path=dl),
        "attrs": lambda: table.fetch("u64", "f32", "t", "mb", order_by="id", download_path=dl),
        "keys": lambda: table.fetch("KEY", "dt3", as_dict=True),
        "arrow": lambda: (table - ["att"]).proj(..., "-att").to_arrow(order_by="id"),
        "pandas": lambda: lab.Subject().to_pandas(),
        "arrays": lambda: lab.Subject().to_arrays("dob", "sex", include_key=True),
    }
    ours, reference = both_paths(calls[form])
    if form == "arrow":
        assert ours.equals(reference) and ours.schema == reference.schema
    elif form in ("frame", "pandas"):
        assert list(ours.columns) == list(reference.columns)
        assert list(ours.index) == list(reference.index)
        for name in ours.columns:
            assert ours[name].dtype == reference[name].dtype
            assert all(same(x, y) for x, y in zip(ours[name], reference[name], strict=True))
    else:
        assert same(ours, reference)


@pytest.mark.parametrize("use_engine", [True, False])
def test_arrow_straight_from_buffers_equals_records_route(lab, use_engine, tmp_path):
    """to_arrow builds plain columns from the engine's buffers: the same table as
    converting the fetched records (``arrow.to_table``)."""
    from datajoint_rs import arrow

    for query in (lab.AllTypes(), lab.Subject(), lab.Subject.proj(..., age="subject_id * 2")):
        query = query.proj(..., "-att") if "att" in query.heading.names else query
        if use_engine:
            direct = query.to_arrow(order_by="KEY")
            records = query.fetch(format="array", order_by="KEY")
        else:
            with engine.disabled():
                direct = query.to_arrow(order_by="KEY")
                records = query.fetch(format="array", order_by="KEY")
        via_records = arrow.to_table(query.heading, records)
        assert direct.schema == via_records.schema
        assert direct.equals(via_records)


@pytest.fixture
def small_partitions():
    saved = engine.PARTITION_MIN_ROWS, engine.PARTITION_BLOB_CPUS
    engine.PARTITION_MIN_ROWS = 2  # partition even these small tables
    engine.PARTITION_BLOB_CPUS = 1  # and blobs whatever the machine
    yield
    engine.PARTITION_MIN_ROWS, engine.PARTITION_BLOB_CPUS = saved


def test_partitioned_reads_give_the_same_rows_in_the_same_order(lab, small_partitions):
    subject = lab.Subject
    blobs = lab.AllTypes.proj(..., "-att")  # inline blobs: decoded as the parts arrive
    queries = (subject(), subject.proj("sex"), subject.proj(..., "-note"), blobs)
    for query in queries:
        parts = engine.partitions(query, query.heading)
        assert parts is not None and len(parts) >= 2, query.make_sql()
        for call in (
            lambda q=query: q.fetch(),
            lambda q=query: q.fetch(as_dict=True),
            lambda q=query: q.to_arrow(),
        ):
            ours, reference = both_paths(call)
            if isinstance(ours, np.ndarray | list):
                assert same(ours, reference)
            else:
                assert ours.equals(reference)
    # where the order or the plan could differ, or decoding dominates: one connection
    not_partitioned = (
        subject & "sex = 'F'",  # restricted: no EXPLAIN for the many small fetches
        subject - {"sex": "M"},
        subject & dj.Top(5, "dob"),
        subject.proj(other="subject_id"),
        subject.proj("dob"),  # the server reads the covering index on dob: not in key order
        lab.AllTypes(),  # blobs
        subject * lab.Species,
        dj.U("sex").aggr(subject, n="count(*)"),
    )
    for query in not_partitioned:
        assert engine.partitions(query, query.heading) is None, query.make_sql()


def test_values_are_the_stored_ones(lab, tmp_path):
    row = (lab.AllTypes & "id = 2").fetch1(download_path=tmp_path)
    assert row["u64"] == 0 and row["f32"] == 16777200.0  # float: the server's 6 digits
    assert row["i64"] == -9223372036854775808
    assert row["t"] == datetime.timedelta(seconds=1)
    assert np.array_equal(row["mb"], np.random.default_rng(1).standard_normal(200_000))
    first = (lab.AllTypes & "id = 1").fetch1(download_path=tmp_path)
    assert first["u64"] == 2**63 - 1 and type(first["u64"]) is int
    assert first["t"] == datetime.timedelta(hours=-25, minutes=-1, seconds=-2)
    assert first["vc"] == "ünïcødé ✓ 日本" and first["nint"] is None
    assert first["j"] == {"a": [1, 2, {"b": None}], "c": "d"}


def test_reads_in_a_transaction_see_its_own_rows(lab, connection):
    table = lab.Subject
    new = dict(subject_id=999, species="mus musculus", sex="F", dob="2021-01-01")
    other = dj.Connection(*ENV)
    try:
        with connection.transaction:
            table.insert1(new)
            before = engine.reads
            assert 999 in table.fetch("subject_id")  # read through the caller's connection
            assert (table & "subject_id = 999").fetch1("sex") == "F"
            assert len(table.fetch(as_dict=True)) == 21
            assert engine.reads == before  # the engine was not used
            # the engine's own connection does not see the uncommitted row: routing matters
            sql = (table & "subject_id = 999").make_sql()
            reader = connection._fetch_reader
            chunks = list(reader.query(sql, ["obj"] * len(table.heading.names)))
            assert chunks == []
            connection.cancel_transaction()
            connection.start_transaction()  # the context manager closes this one
        # outside: the engine reads, and the rolled-back row is gone
        before = engine.reads
        assert 999 not in table.fetch("subject_id")
        assert engine.reads > before
        # a row committed by another connection is seen at once (no stale snapshot)
        other_table = lab_schema.load_lab(dj, SCHEMA, other, module_name="lab2").Subject
        other_table.insert1(new)
        assert 999 in table.fetch("subject_id")
    finally:
        (lab.Subject & "subject_id = 999").delete_quick()
        other.close()


def test_session_settings_carry_over(lab):
    """The engine's connections get the user connection's time zone (and sql_mode): a
    TIMESTAMP reads the same through both paths under a non-default time zone."""
    conn = dj.Connection(*ENV, init_fun="SET time_zone = '+05:00'")
    try:
        settings = conn.engine_settings()
        assert "SET SESSION time_zone = '+05:00'" in settings["init"]
        assert any("STRICT_ALL_TABLES" in s for s in settings["init"])
        table = lab_schema.load_lab(dj, SCHEMA, conn, module_name="lab_tz").AllTypes
        ours, reference = both_paths(lambda: table.fetch("ts", order_by="id"))
        assert same(ours, reference)
        default = lab.AllTypes.fetch("ts", order_by="id")
        offset = lab.AllTypes.connection.query(
            "SELECT TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), NOW())"
        ).fetchone()[0]
        assert ours[0] - default[0] == datetime.timedelta(seconds=5 * 3600 - int(offset))
    finally:
        conn.close()


def test_streaming_in_chunks(lab):
    table = lab.Subject()
    whole = table.fetch()
    before = engine.reads
    chunks = list(table.fetch(as_iterator=True, chunk_rows=6))
    assert engine.reads > before
    assert [len(c) for c in chunks] == [6, 6, 6, 2]
    assert same(np.concatenate(chunks), whole)
    frames = list(table.fetch(as_iterator=True, chunk_rows=8, format="frame"))
    assert sum(len(f) for f in frames) == 20
    batches = list(table.fetch(as_iterator=True, chunk_rows=8, format="arrow"))
    import pyarrow as pa

    assert pa.Table.from_batches(batches).equals(table.to_arrow())
    # abandoning an iterator half-way leaves the engine usable
    it = table.fetch(as_iterator=True, chunk_rows=2)
    next(it)
    del it
    assert same(table.fetch(), whole)
    # inside a transaction: the same chunks, read through the caller's connection
    with table.connection.transaction:
        inside = list(table.fetch(as_iterator=True, chunk_rows=6))
    assert same(np.concatenate(inside), whole)
    with pytest.raises(errors.DataJointError):
        table.fetch("sex", as_iterator=True)


def test_blob_chunks_overlap_and_match(lab, connection, tmp_path):
    """Many compressed blobs across several engine chunks decode to the stored arrays."""
    rng = np.random.default_rng(7)
    table = lab.AllTypes
    data = {i: rng.standard_normal(20_000).round(2) for i in range(10, 40)}
    template = (table & "id = 2").fetch1(download_path=tmp_path)
    template.pop("ts")
    template.pop("att")
    table.insert(dict(template, id=i, mb=arr) for i, arr in data.items())
    try:
        saved = engine.CHUNK_BYTES
        engine.CHUNK_BYTES = 100_000  # a chunk every few rows
        try:
            ours, reference = both_paths(
                lambda: (table & "id >= 10").fetch("id", "mb", order_by="id")
            )
        finally:
            engine.CHUNK_BYTES = saved
        assert same(ours, reference)
        for i, arr in zip(*ours, strict=True):
            assert np.array_equal(arr, data[i])
    finally:
        (table & "id >= 10").delete_quick()


def test_blobs_decoded_by_the_engine_as_they_arrive(lab, connection, tmp_path):
    """Outside a transaction the engine inflates and decodes inline blobs itself: the arrays
    are views of the engine's buffers (``_native.PlainBlob``), equal to the mysqlclient path's
    in every form (squeeze, NULL, uncompressed and compressed cells, structures); inside a
    transaction the caller's connection reads them and ``unpack_many`` decodes them."""
    table = lab.AllTypes
    for squeeze in (False, True):
        ours, reference = both_paths(
            lambda s=squeeze: table.fetch("id", "lb", "mb", "bl", order_by="id", squeeze=s)
        )
        assert same(ours, reference)
    mb = table.fetch("mb", order_by="id")
    assert isinstance(mb[1].base, _native.PlainBlob)  # compressed: inflated by the engine
    assert not mb[1].flags.writeable
    lb = (table & "id = 1").fetch1("lb")
    assert isinstance(lb.base, _native.PlainBlob)  # stored uncompressed: the cell itself
    assert np.array_equal(lb, np.arange(12, dtype="<f8").reshape(3, 4))
    assert (table & "id = 2").fetch1("lb") is None
    for as_dict in (True, False):
        ours, reference = both_paths(lambda d=as_dict: table.fetch("mb", as_dict=d, order_by="id"))
        assert same(ours, reference)
    with connection.transaction:
        inside = table.fetch("mb", order_by="id")
    assert np.array_equal(inside[1], mb[1])
    # streamed chunks are decoded too
    chunks = list(table.proj("mb").fetch(as_iterator=True, chunk_rows=1))
    assert [len(c) for c in chunks] == [1, 1]
    assert np.array_equal(chunks[1]["mb"][0], mb[1])


def test_corrupt_blobs_raise_the_same_error(lab, connection):
    """A corrupt stored blob raises the same DataJointError through the engine as through
    mysqlclient, and the next fetch works."""
    table = lab.AllTypes
    bad = {
        "truncated stream": b"ZL123\0" + (1000).to_bytes(8, "little") + b"x\x9c\x01\x02",
        "impossible length": b"ZL123\0" + (2**60).to_bytes(8, "little") + b"x\x9c",
        "unknown protocol": b"no such protocol\0\x01",
    }
    for i, (what, raw) in enumerate(bad.items(), start=50):
        # a copy of row 2 with the bad blob (the same connection: a temporary table)
        full = f"`{SCHEMA}`.`all_types`"
        connection.query(
            f"CREATE TEMPORARY TABLE `{SCHEMA}`.bad_row SELECT * FROM {full} WHERE id = 2"
        )
        connection.query(f"UPDATE `{SCHEMA}`.bad_row SET id = %s, mb = %s", args=(i, raw))
        connection.query(f"INSERT INTO {full} SELECT * FROM `{SCHEMA}`.bad_row")
        connection.query(f"DROP TEMPORARY TABLE `{SCHEMA}`.bad_row")
        try:
            with pytest.raises(errors.DataJointError) as ours:
                (table & f"id = {i}").fetch1("mb")
            with engine.disabled(), pytest.raises(errors.DataJointError) as reference:
                (table & f"id = {i}").fetch1("mb")
            assert type(ours.value) is type(reference.value), what
            assert str(ours.value) == str(reference.value), what
        finally:
            connection.query(f"DELETE FROM `{SCHEMA}`.`all_types` WHERE id = {i}")
    assert len(table.fetch("mb")) == 2


def test_query_errors_are_the_same(lab):
    bad = lab.Subject & "subject_id = no_such_function(1)"
    with pytest.raises(errors.QueryError) as ours:
        bad.fetch()
    with engine.disabled(), pytest.raises(errors.QueryError) as reference:
        bad.fetch()
    assert type(ours.value) is type(reference.value)
    assert ours.value.errno == reference.value.errno == 1305
    assert len(lab.Subject.fetch()) == 20  # the engine's connection is still fine


def _engine_threads(connection):
    """Server thread ids of the engine's connections (those of this user that are not the
    user's own connection)."""
    rows = connection.query(
        "SELECT ID, INFO FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()"
    ).fetchall()
    return rows


def test_stale_pooled_connection_is_replaced(lab, connection):
    """The server closed the engine's idle connection: the next fetch reconnects."""
    lab.Subject.fetch()
    reader = connection._fetch_reader
    assert reader.idle >= 1
    # kill every engine connection of this reader: ask each for its id through the engine
    ids = []
    for _ in range(reader.idle):
        chunks = list(reader.query("SELECT CONNECTION_ID()", ["obj"]))
        ids.append(chunks[0][1][0][0])
    for thread_id in set(ids):
        connection.query(f"KILL CONNECTION {int(thread_id)}")
    before = engine.reads
    assert len(lab.Subject.fetch()) == 20
    assert engine.reads > before


def _slow_rows(subject, name):
    """400 rows of 20 kB that the server produces 5 ms apart (2 s in all): each row fills
    the server's network buffer, so the rows arrive while the query runs."""
    pairs = subject * subject.proj(**{name: "subject_id"})
    slow = pairs & f"SLEEP(0.005 + 0 * (subject_id + {name})) = 0"
    return slow.proj(name, pad="REPEAT('x', 20000)")


def test_connection_lost_mid_read(lab, connection):
    """The engine's connection is killed while a large result streams: LostConnectionError,
    and the next fetch works again."""
    subject = lab.Subject
    big = _slow_rows(subject, "o2")
    it = big.fetch(as_iterator=True, chunk_rows=50)
    first = next(it)
    assert len(first) == 50
    killed = False
    for thread_id, info in _engine_threads(connection):
        if info and SCHEMA in info and "o2" in info:
            connection.query(f"KILL CONNECTION {int(thread_id)}")
            killed = True
    if not killed:  # the server had already sent the whole result: nothing to interrupt
        pytest.skip("the result was fully sent before the kill")
    with pytest.raises(errors.LostConnectionError):
        for _ in it:
            pass
    assert len(lab.Subject.fetch()) == 20


def _cipher_through_engine(connection):
    reader = engine.reader(connection)
    (n, columns), *_ = list(reader.query("SHOW STATUS LIKE 'Ssl_cipher'", ["obj", "obj"]))
    return columns[1][0]


@pytest.mark.parametrize("use_tls", [None, False])
def test_engine_connections_use_tls_as_the_user_connection(lab, use_tls):
    conn = dj.Connection(*ENV, use_tls=use_tls)
    try:
        user_cipher = conn.query("SHOW STATUS LIKE 'Ssl_cipher'").fetchone()[1]
        assert bool(_cipher_through_engine(conn)) == bool(user_cipher)
        if use_tls is False:
            assert not user_cipher
    finally:
        conn.close()


def test_connection_lost_during_a_whole_fetch(lab, connection):
    """fetch() of a large result whose engine connection is killed mid-read raises
    LostConnectionError (no partial result), and the next fetch works."""
    import threading

    subject = lab.Subject
    big = _slow_rows(subject, "o3")
    watcher = dj.Connection(*ENV)
    killed = threading.Event()
    stop = threading.Event()

    def kill_when_seen():
        # keeps killing: a query that fails before any row arrived is re-run once on a new
        # connection (as mysqlclient's path reconnects once outside a transaction)
        while not stop.is_set():
            for thread_id, info in _engine_threads(watcher):
                if info and SCHEMA in info and "o3" in info:
                    killed.set()
                    try:
                        watcher.query(f"KILL CONNECTION {int(thread_id)}")
                    except errors.DataJointError:
                        pass  # already gone

    thread = threading.Thread(target=kill_when_seen)
    thread.start()
    saved = engine.PARTITION_MIN_ROWS
    engine.PARTITION_MIN_ROWS = 2**62  # one engine connection
    result = None
    try:
        try:
            result = big.fetch()
        except errors.LostConnectionError:
            assert killed.is_set()
    finally:
        stop.set()
        thread.join()
        watcher.close()
        engine.PARTITION_MIN_ROWS = saved
    if result is not None:
        assert len(result) == 400  # the read was over before the kill landed
        pytest.skip("the whole result arrived before the kill")
    assert len(lab.Subject.fetch()) == 20


@pytest.fixture
def binary_always():
    saved = engine.binary_protocol, engine.BINARY_MIN_ROWS
    engine.binary_protocol, engine.BINARY_MIN_ROWS = True, 0
    engine._stats.clear()
    yield
    engine.binary_protocol, engine.BINARY_MIN_ROWS = saved


def test_binary_protocol_reads_exactly_the_text_values(lab, connection, binary_always):
    """Through a prepared statement the server sends numbers and dates as binary values;
    the engine must turn them into exactly what the text protocol gives (FLOAT rounded to
    6 significant digits as the server prints it, doubles, dates, times, NULLs), over
    random values of every magnitude."""
    rng = np.random.default_rng(11)
    n = 3000
    exponents = rng.integers(-40, 38, n)
    floats = (rng.standard_normal(n) * 10.0**exponents).astype(np.float32)
    floats[:8] = [1234565, 1234575, 123456.5, 16777217, 0.1234567, 1e-45, -3.4e38, 0]
    doubles = rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n)
    doubles[:4] = [5e-324, 1e300, 0.1 + 0.2, -0.0]
    days = np.datetime64("1001-01-01") + rng.integers(0, 3_000_000, n).astype("timedelta64[D]")
    seconds = rng.integers(-3_000_000, 3_000_000, n)
    connection.query(
        f"CREATE TABLE `{SCHEMA}`.`binary_probe` (id int PRIMARY KEY, f float, d double, "
        "dec_ decimal(20,6), dt date, ts datetime(6), tm time(3), u bigint unsigned, "
        "s varchar(20), e enum('x','y'), b varbinary(16), y year)"
    )
    try:
        rows = []
        for i in range(n):
            null = i % 17 == 5
            rows.append(
                (
                    i,
                    None if null else float(floats[i]),
                    None if null else float(doubles[i]),
                    None if null else f"{rng.integers(-(10**13), 10**13)}.{i:06d}",
                    None if null else str(days[i]),
                    None if null else f"{days[i]} 12:34:56.{i:06d}",
                    None
                    if null
                    else f"{seconds[i] // 3600}:{abs(seconds[i]) % 3600 // 60:02d}:00.5",
                    None if null else int(rng.integers(0, 2**63)) * 2 + 1,
                    None if null else f"s{i}",
                    None if null else "xy"[i % 2],
                    None if null else bytes(rng.integers(0, 256, 10, dtype=np.uint8)),
                    None if null else 1901 + i % 255,
                )
            )
        cursor = connection._conn.cursor()
        cursor.executemany(
            f"INSERT INTO `{SCHEMA}`.`binary_probe` VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            rows,
        )
        cursor.close()
        table = dj.FreeTable(connection, f"`{SCHEMA}`.`binary_probe`")
        for objects in (False, True):
            before = _native.Reader.binary_reads()
            if objects:
                ours, reference = both_paths(lambda: table.fetch(as_dict=True, order_by="id"))
            else:
                ours, reference = both_paths(lambda: table.fetch(order_by="id"))
            assert _native.Reader.binary_reads() > before, "not read through the binary protocol"
            assert same(ours, reference)
        arrow_ours, arrow_reference = both_paths(lambda: table.to_arrow(order_by="id"))
        assert arrow_ours.equals(arrow_reference)
    finally:
        connection.query(f"DROP TABLE IF EXISTS `{SCHEMA}`.`binary_probe`")


def _insert_arrays(table, tmp_path, arrays):
    """Rows (id, mb=array) copied from row 2 for the other columns."""
    template = (table & "id = 2").fetch1(download_path=tmp_path)
    template.pop("ts")
    template.pop("att")
    table.insert((dict(template, id=i, mb=arr) for i, arr in arrays.items()), replace=True)


def test_large_blob_buffers_are_recycled(lab, tmp_path):
    """Inflated blobs of 1 MB and more live in buffers that go back to a pool when their
    arrays are freed, and later fetches reuse them (no fresh pages to fault in): every value
    is exactly the stored one whatever its buffer held before, and arrays still referenced
    (or views of them) keep their memory."""
    table = lab.AllTypes
    rng = np.random.default_rng(11)
    ids = range(60, 64)
    first_data = {i: rng.standard_normal(200_000) for i in ids}  # 1.6 MB, stored compressed
    _insert_arrays(table, tmp_path, first_data)
    restriction = "id >= 60 and id < 64"
    try:
        _native.buffer_pool_release()
        assert _native.buffer_pool_stats()[:2] == (0, 0)
        first = (table & restriction).fetch("mb", order_by="id")
        assert all(isinstance(a.base, _native.PlainBlob) for a in first)
        for arr, i in zip(first, ids, strict=True):
            assert np.array_equal(arr, first_data[i])
        view = first[0][10:20]
        del first, arr
        count, nbytes, limit = _native.buffer_pool_stats()
        assert count == 3  # the fourth buffer is still held by the view
        assert 3 * 1_600_000 <= nbytes <= limit
        # new, slightly smaller arrays: three buffers come back from the pool
        second_data = {i: rng.standard_normal(190_000) * 3 for i in ids}
        _insert_arrays(table, tmp_path, second_data)
        second = (table & restriction).fetch("mb", order_by="id")
        assert _native.buffer_pool_stats()[:2] == (0, 0)
        for arr, i in zip(second, ids, strict=True):
            assert np.array_equal(arr, second_data[i])
        assert np.array_equal(view, first_data[60][10:20])
        # the same memory, refilled again, matches the mysqlclient path
        del second, arr
        ours, reference = both_paths(lambda: (table & restriction).fetch("mb", order_by="id"))
        assert same(ours, reference)
    finally:
        (table & restriction).delete_quick()
        _native.buffer_pool_release()


POOL_CHILD = """
import os, time, datajoint_rs as dj
from datajoint_rs import _native
table = dj.FreeTable(dj.conn(), os.environ["POOL_TABLE"])
arrays = (table & "id >= 70").fetch("mb")
assert sum(a.nbytes for a in arrays) >= 4 * 1_600_000
del arrays
print(*_native.buffer_pool_stats())
time.sleep(float(os.environ["POOL_WAIT"]))
print(*_native.buffer_pool_stats())
"""


@pytest.mark.parametrize(
    ("env", "wait", "expected"),
    [
        # off: nothing is kept
        ({"DJ_BUFFER_POOL_MB": "0"}, 0, [(0, 0), (0, 0)]),
        # idle buffers are unmapped by themselves
        ({"DJ_BUFFER_POOL_IDLE_MS": "200"}, 1.0, [(4, None), (0, 0)]),
        # a limit smaller than the result keeps what fits
        ({"DJ_BUFFER_POOL_MB": "4"}, 0, [(2, None), (2, None)]),
    ],
    ids=["off", "idle", "limit"],
)
def test_buffer_pool_settings(lab, tmp_path, env, wait, expected):
    """DJ_BUFFER_POOL_MB (0: off) and DJ_BUFFER_POOL_IDLE_MS, in a fresh process."""
    table = lab.AllTypes
    rng = np.random.default_rng(12)
    _insert_arrays(table, tmp_path, {i: rng.standard_normal(200_000) for i in range(70, 74)})
    try:
        child_env = dict(
            os.environ,
            **env,
            POOL_TABLE=f"`{SCHEMA}`.`all_types`",
            POOL_WAIT=str(wait),
        )
        out = subprocess.run(
            [sys.executable, "-c", POOL_CHILD],
            env=child_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        lines = [tuple(map(int, line.split())) for line in out.stdout.split("\n") if line]
        for (count, nbytes, limit), (want_count, want_bytes) in zip(lines, expected, strict=True):
            assert count == want_count
            if want_bytes is not None:
                assert nbytes == want_bytes
            assert nbytes <= limit
    finally:
        (table & "id >= 70").delete_quick()
