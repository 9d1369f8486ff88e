"""External storage as users use it: ``blob@store``, ``attach``, ``attach@store`` and
``filepath@store`` in a ``file`` store and in an ``s3`` store (a real S3-protocol server,
scripts/s3server.sh), with 0.14's object layout and ``~external_<store>`` rows, the local
cache, the cleanup API, and what happens when transfers or inserts fail.

Needs DJ_HOST / DJ_USER / DJ_PASS; the S3 cases also DJ_S3_ENDPOINT / DJ_S3_ACCESS_KEY /
DJ_S3_SECRET_KEY / DJ_S3_BUCKET (``eval "$(bash scripts/s3server.sh env)"``) and are skipped
without them. Nothing here mocks the database or the storage client.
"""

from __future__ import annotations

import hashlib
import os
import uuid

import lab_schema
import numpy as np
import pytest

ENV = lab_schema.server_env()
if ENV is None:
    pytest.skip("DJ_HOST is not set: no database server to test against", allow_module_level=True)

import datajoint_rs as dj  # noqa: E402
from datajoint_rs import blob, errors  # noqa: E402
from datajoint_rs.errors import DataJointError  # noqa: E402

S3_ENV = lab_schema.s3_env()
HAVE_S3 = all(S3_ENV.values())
SUFFIX = uuid.uuid4().hex[:8]
SCHEMA = f"djtest_ext_{SUFFIX}"

pytestmark = [pytest.mark.filterwarnings("ignore::ResourceWarning")]

PROTOCOLS = [
    "file",
    pytest.param(
        "s3", marks=pytest.mark.skipif(not HAVE_S3, reason="no S3 server (DJ_S3_ENDPOINT unset)")
    ),
]


def s3_spec(location, stage, **extra):
    return dict(
        protocol="s3",
        endpoint=S3_ENV["endpoint"],
        bucket=S3_ENV["bucket"],
        access_key=S3_ENV["access_key"],
        secret_key=S3_ENV["secret_key"],
        location=location,
        stage=str(stage),
        **extra,
    )


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    return {name: tmp_path_factory.mktemp(name) for name in ("location", "stage", "cache", "dl")}


@pytest.fixture(scope="module")
def stores(dirs):
    saved = dj.config["stores"]
    stores = {
        "file": dict(protocol="file", location=str(dirs["location"]), stage=str(dirs["stage"]))
    }
    if HAVE_S3:
        stores["s3"] = s3_spec(f"djtest/{SUFFIX}", dirs["stage"])
    dj.config["stores"] = stores
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJ_SUPPORT_FILEPATH_MANAGEMENT", "TRUE")
        yield stores
    dj.config["stores"] = saved
    if HAVE_S3:
        lab_schema.remove_s3_prefix(f"djtest/{SUFFIX}/")


@pytest.fixture(scope="module")
def lab(stores, connection):
    """Tables with every external kind, in both stores."""
    connection.query(f"DROP DATABASE IF EXISTS `{SCHEMA}`")
    schema = dj.Schema(SCHEMA, connection=connection, context={})
    classes = {}
    for protocol in stores:
        definition = f"""
        item : int
        ---
        arr = null : blob@{protocol}
        doc = null : attach@{protocol}
        path = null : filepath@{protocol}
        """
        cls = type(f"Data{protocol.title()}", (dj.Manual,), {"definition": definition})
        classes[protocol] = schema(cls)

    @schema
    class Inline(dj.Manual):
        definition = """
        item : int
        ---
        doc : attach
        """

    classes["inline"] = Inline
    yield schema, classes
    connection.query(f"DROP DATABASE IF EXISTS `{SCHEMA}`")


@pytest.fixture
def table(lab, request):
    """The data table of one protocol, emptied (rows and tracking rows) before the test."""
    protocol = request.param
    schema, classes = lab
    tbl = classes[protocol]
    tbl.delete_quick()
    schema.external[protocol].delete(delete_external_files=True, display_progress=False)
    return tbl


def ext(lab, protocol):
    return lab[0].external[protocol]


def tracking_rows(lab, protocol):
    return ext(lab, protocol).fetch(order_by="hash", as_dict=True)


def stored_bytes(lab, protocol, path):
    """Bytes of the object at the full store path ``path``."""
    table = ext(lab, protocol)
    return table._download_buffer(path)


def object_exists(lab, protocol, path):
    return ext(lab, protocol).exists(path)


# ---- configuration ------------------------------------------------------------------------


def test_wrong_s3_key_is_refused(stores, lab, dirs):
    if not HAVE_S3:
        pytest.skip("no S3 server")
    spec = dict(stores["s3"], secret_key="not-the-key")
    with dj.config(stores={**stores, "bad": spec}):
        with pytest.raises(errors.BucketInaccessible, match="SignatureDoesNotMatch"):
            lab[0].external["bad"].s3  # noqa: B018
    with dj.config(stores={**stores, "bad": dict(spec, access_key="nobody")}):
        table = dj.external.ExternalTable(lab[0].connection, "bad", SCHEMA)
        with pytest.raises(errors.BucketInaccessible, match="InvalidAccessKeyId"):
            table.put(b"x")
    with dj.config(stores={**stores, "bad": dict(stores["s3"], bucket="no-such-bucket")}):
        table = dj.external.ExternalTable(lab[0].connection, "bad", SCHEMA)
        with pytest.raises(errors.BucketInaccessible, match="no-such-bucket"):
            table.put(b"x")
    lab[0].connection.query(f"DROP TABLE IF EXISTS `{SCHEMA}`.`~external_bad`")


# ---- blob@store -----------------------------------------------------------------------------


@pytest.mark.parametrize("table", PROTOCOLS, indirect=True)
def test_blob_layout_and_roundtrip(lab, table):
    protocol = table.__name__[4:].lower()
    arrays = [np.random.default_rng(i).standard_normal((20, i + 1)) for i in range(6)]
    table.insert(dict(item=i, arr=a) for i, a in enumerate(arrays))
    fetched = table.fetch("arr", order_by="item")
    for a, b in zip(arrays, fetched, strict=True):
        np.testing.assert_array_equal(a, b)
    # 0.14's layout: the packed blob under {location}/{db}/{ab}/{cd}/{md5 hex}
    rows = tracking_rows(lab, protocol)
    assert len(rows) == len(arrays)
    spec = ext(lab, protocol).spec
    for a in arrays:
        packed = blob.pack(a)
        h = uuid.UUID(bytes=hashlib.md5(packed).digest())
        row = next(r for r in rows if r["hash"] == h)
        assert row["size"] == len(packed)
        assert row["attachment_name"] is None and row["filepath"] is None
        path = f"{spec['location']}/{SCHEMA}/{h.hex[:2]}/{h.hex[2:4]}/{h.hex}"
        assert stored_bytes(lab, protocol, path) == packed
    # every form of fetch decodes the same
    assert [r["arr"].shape for r in table.fetch(as_dict=True, order_by="item")] == [
        a.shape for a in arrays
    ]
    np.testing.assert_array_equal((table & "item=3").fetch1("arr"), arrays[3])
    np.testing.assert_array_equal((table & "item=4").fetch1()["arr"], arrays[4])
    frame = table.fetch(format="frame", order_by="item")
    np.testing.assert_array_equal(frame.loc[5, "arr"], arrays[5])


@pytest.mark.parametrize("table", PROTOCOLS, indirect=True)
def test_blob_deduplicated(lab, table):
    protocol = table.__name__[4:].lower()
    same = np.arange(1000.0)
    table.insert([dict(item=1, arr=same), dict(item=2, arr=same.copy())])
    table.insert1(dict(item=3, arr=same))
    assert len(ext(lab, protocol)) == 1
    assert len(table & "arr IS NOT NULL") == 3
    for value in table.fetch("arr"):
        np.testing.assert_array_equal(value, same)


@pytest.mark.parametrize("table", PROTOCOLS, indirect=True)
def test_null_and_scalars(lab, table):
    table.insert([dict(item=1, arr=None), dict(item=2, arr=None), dict(item=3, arr=7)])
    assert list(table.fetch("arr", order_by="item")) == [None, None, 7]
    assert (table & "item=1").fetch1("arr", "doc", "path") == (None, None, None)


@pytest.mark.parametrize("table", PROTOCOLS, indirect=True)
def test_serial_and_parallel_transfers_agree(lab, table):
    arrays = {i: np.full(i + 1, i, dtype=np.int32) for i in range(40)}
    with dj.config(**{"external.transfer_workers": 1}):
        table.insert(dict(item=i, arr=a) for i, a in arrays.items() if i < 20)
    with dj.config(**{"external.transfer_workers": 16}):
        table.insert(dict(item=i, arr=a) for i, a in arrays.items() if i >= 20)
    for workers in (1, 16):
        with dj.config(**{"external.transfer_workers": workers}):
            keys, values = table.fetch("item", "arr", order_by="item")
            for k, v in zip(keys, values, strict=True):
                np.testing.assert_array_equal(v, arrays[k])


@pytest.mark.parametrize("table", PROTOCOLS, indirect=True)
def test_progress_bar(lab, table, capsys):
    with dj.config(**{"external.progress": True}):
        table.insert(dict(item=i, arr=np.arange(i + 2)) for i in range(5))
        table.fetch("arr")
    err = capsys.readouterr().err
    assert "upload" in err and "download" in err and "5/5" in err


@pytest.mark.parametrize("table", PROTOCOLS, indirect=True)
def test_cache(lab, table, dirs):
    protocol = table.__name__[4:].lower()
    value = np.arange(77)
    table.insert1(dict(item=1, arr=value))
    ((h, path),) = ext(lab, protocol).fetch_external_paths()
    cache = dirs["cache"] / protocol
    with dj.config(cache=str(cache)):
        np.testing.assert_array_equal(table.fetch1("arr"), value)
        cached = cache / h.hex[:2] / h.hex[2:4] / h.hex
        assert cached.read_bytes() == blob.pack(value)
        ext(lab, protocol)._remove_external_file(path)  # the store loses it: cache serves
        np.testing.assert_array_equal(table.fetch1("arr"), value)
    with pytest.raises(errors.MissingExternalFile):
        table.fetch1("arr")


def test_fetch_through_free_table(lab, stores):
    """A FreeTable on a connection where the schema was never activated reads objects too."""
    table = lab[1]["file"]
    table.delete_quick()
    table.insert1(dict(item=1, arr=np.arange(6)))
    other = dj.Connection(*ENV)
    try:
        assert SCHEMA not in other.schemas
        free = dj.FreeTable(other, table.full_table_name)
        np.testing.assert_array_equal(free.fetch1("arr"), np.arange(6))
    finally:
        other.close()


def test_cache_setting_validated():
    with pytest.raises(DataJointError, match='config\\["cache"\\]'):
        dj.config["cache"] = 5
    with pytest.raises(DataJointError, match="transfer_workers"):
        dj.config["external.transfer_workers"] = 0


@pytest.mark.parametrize("table", PROTOCOLS, indirect=True)
def test_update1_external_blob(lab, table):
    table.insert1(dict(item=1, arr=np.arange(3)))
    table.update1(dict(item=1, arr=np.arange(5)))
    np.testing.assert_array_equal(table.fetch1("arr"), np.arange(5))
    protocol = table.__name__[4:].lower()
    assert len(ext(lab, protocol)) == 2 and len(ext(lab, protocol).unused()) == 1


# ---- failures leave the store and the database consistent ---------------------------------


@pytest.mark.parametrize("table", PROTOCOLS, indirect=True)
def test_failed_insert_leaves_no_tracking_rows(lab, table):
    protocol = table.__name__[4:].lower()
    table.insert1(dict(item=1, arr=np.arange(3)))
    before = tracking_rows(lab, protocol)
    # a duplicate key in the batch: the data insert fails after the uploads
    with pytest.raises(errors.DuplicateError):
        table.insert([dict(item=2, arr=np.arange(10)), dict(item=1, arr=np.arange(11))])
    assert tracking_rows(lab, protocol) == before
    assert len(table) == 1
    # the same inside the caller's transaction: the savepoint undoes only the insert
    connection = lab[0].connection
    with connection.transaction:
        table.insert1(dict(item=5, arr=np.arange(4)))
        with pytest.raises(errors.DuplicateError):
            table.insert([dict(item=6, arr=np.arange(12)), dict(item=1, arr=np.arange(13))])
    assert sorted(table.fetch("item")) == [1, 5]
    assert len(ext(lab, protocol)) == 2
    assert len(ext(lab, protocol).unused()) == 0


@pytest.mark.parametrize("table", PROTOCOLS, indirect=True)
def test_failed_upload_leaves_no_rows(lab, table, dirs):
    protocol = table.__name__[4:].lower()
    missing = dirs["stage"] / "does_not_exist.txt"
    with pytest.raises(DataJointError, match="does_not_exist"):
        table.insert(
            [dict(item=1, arr=np.arange(3), doc=None), dict(item=2, arr=None, doc=str(missing))]
        )
    assert len(table) == 0 and len(ext(lab, protocol)) == 0


def test_failed_file_upload_leaves_no_rows(lab):
    """One upload of a batch fails (a folder occupies the object's path): the insert raises a
    DataJointError and neither data rows nor tracking rows are written."""
    table = lab[1]["file"]
    table.delete_quick()
    external = ext(lab, "file")
    external.delete(delete_external_files=True, display_progress=False)
    bad = np.arange(17)
    h = uuid.UUID(bytes=hashlib.md5(blob.pack(bad)).digest())
    blocker = external._make_uuid_path(h)
    os.makedirs(blocker)
    try:
        with pytest.raises(DataJointError, match="Cannot store"):
            table.insert(
                [dict(item=i, arr=np.arange(i + 1)) for i in range(8)] + [dict(item=9, arr=bad)]
            )
        assert len(table) == 0 and len(external) == 0
    finally:
        os.rmdir(blocker)


def test_failed_s3_upload_leaves_no_rows(lab, stores, dirs):
    """An upload refused by the server (the bucket vanished mid-way): nothing is tracked."""
    if not HAVE_S3:
        pytest.skip("no S3 server")
    import minio

    bucket = f"djtest-gone-{SUFFIX}"
    client = minio.Minio(
        S3_ENV["endpoint"],
        access_key=S3_ENV["access_key"],
        secret_key=S3_ENV["secret_key"],
        secure=False,
    )
    client.make_bucket(bucket)
    spec = dict(stores["s3"], bucket=bucket)
    with dj.config(stores={**stores, "gone": spec}):
        schema = dj.Schema(SCHEMA, connection=lab[0].connection, context={})

        @schema
        class Gone(dj.Manual):
            definition = """
            item : int
            ---
            arr : blob@gone
            """

        schema.external["gone"].s3  # noqa: B018 - connected while the bucket exists
        client.remove_bucket(bucket)
        with pytest.raises(DataJointError, match="NoSuchBucket"):
            Gone.insert(dict(item=i, arr=np.arange(i + 1)) for i in range(5))
        assert len(Gone) == 0 and len(schema.external["gone"]) == 0
        Gone.drop_quick()
        schema.external["gone"].drop_quick()


# ---- attachments ----------------------------------------------------------------------------


ATTACH_PARAMS = [*PROTOCOLS, "inline"]


@pytest.fixture
def attach_table(lab, request):
    protocol = request.param
    schema, classes = lab
    tbl = classes[protocol]
    tbl.delete_quick()
    if protocol != "inline":
        schema.external[protocol].delete(delete_external_files=True, display_progress=False)
    return tbl


@pytest.mark.parametrize("attach_table", ATTACH_PARAMS, indirect=True)
def test_attachments(lab, attach_table, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "notes.txt").write_text("first version")
    other = src / "other"
    other.mkdir()
    (other / "notes.txt").write_text("second version")
    attach_table.insert(
        [dict(item=1, doc=str(src / "notes.txt")), dict(item=2, doc=str(other / "notes.txt"))]
    )
    down = tmp_path / "down"
    paths = dict(zip(*attach_table.fetch("item", "doc", download_path=str(down)), strict=True))
    # same name, different contents: the second gets the _0000 suffix (0.14's rule)
    assert sorted(os.path.basename(p) for p in paths.values()) == ["notes.txt", "notes_0000.txt"]
    contents = {open(p).read() for p in paths.values()}
    assert contents == {"first version", "second version"}
    # fetching again reuses the identical files
    again = dict(zip(*attach_table.fetch("item", "doc", download_path=str(down)), strict=True))
    assert again == paths
    assert sorted(p.name for p in down.iterdir()) == ["notes.txt", "notes_0000.txt"]
    one = (attach_table & "item=1").fetch1("doc", download_path=str(tmp_path / "one"))
    assert open(one).read() == "first version"
    if attach_table.__name__ != "Inline":
        protocol = attach_table.__name__[4:].lower()
        rows = tracking_rows(lab, protocol)
        assert sorted(r["attachment_name"] for r in rows) == ["notes.txt", "notes.txt"]
        for h, path in ext(lab, protocol).fetch_external_paths():
            assert str(path).endswith(f"/{SCHEMA}/{h.hex[:2]}/{h.hex[2:4]}/{h.hex}.notes.txt")
            expected = hashlib.md5(b"notes.txt\0" + stored_bytes(lab, protocol, path)).digest()
            assert h.bytes == expected


# ---- filepath -------------------------------------------------------------------------------


@pytest.mark.parametrize("table", PROTOCOLS, indirect=True)
def test_filepath(lab, table, dirs, caplog):
    protocol = table.__name__[4:].lower()
    stage = dirs["stage"] / protocol
    (stage / "sub").mkdir(parents=True, exist_ok=True)
    f = stage / "sub" / "data.bin"
    f.write_bytes(os.urandom(5000))
    original = f.read_bytes()
    table.insert1(dict(item=1, path=str(f)))
    (row,) = tracking_rows(lab, protocol)
    relative = f"{protocol}/sub/data.bin"
    assert row["filepath"] == relative and row["size"] == 5000
    assert row["hash"].bytes == hashlib.md5(relative.encode()).digest()
    assert row["contents_hash"].bytes == hashlib.md5(original).digest()
    spec = ext(lab, protocol).spec
    assert stored_bytes(lab, protocol, f"{spec['location']}/{relative}") == original
    # the same file again: fine; a different version under the same path: refused
    table.insert1(dict(item=2, path=str(f)))
    f.write_bytes(b"changed")
    with pytest.raises(DataJointError, match="A different version"):
        table.insert1(dict(item=3, path=str(f)))
    assert len(table) == 2
    # fetch brings the tracked version back to the stage
    f.unlink()
    assert table.fetch("path", order_by="item").tolist() == [str(f), str(f)]
    assert f.read_bytes() == original
    f.write_bytes(b"tampered, same size?")  # a local change is replaced by the stored file
    assert (table & "item=1").fetch1("path") == str(f)
    assert f.read_bytes() == original
    # outside the stage
    with pytest.raises(DataJointError, match="is not in stage"):
        table.insert1(dict(item=4, path=str(dirs["dl"] / "x.bin")))


@pytest.mark.parametrize("table", PROTOCOLS, indirect=True)
def test_filepath_checksum_size_limits(lab, table, dirs, caplog):
    protocol = table.__name__[4:].lower()
    stage = dirs["stage"] / protocol
    stage.mkdir(parents=True, exist_ok=True)
    big = stage / "big.bin"
    big.write_bytes(b"x" * 3000)
    with dj.config(filepath_checksum_size_limit_insert=1000):
        table.insert1(dict(item=1, path=str(big)))
    (row,) = tracking_rows(lab, protocol)
    assert row["contents_hash"] is None and row["size"] == 3000
    assert "Skipping checksum" in caplog.text
    with dj.config(filepath_checksum_size_limit=1000):
        assert table.fetch1("path") == str(big)
    assert "Skipped checksum" in caplog.text
    with pytest.raises(DataJointError, match="filepath_checksum_size_limit"):
        dj.config["filepath_checksum_size_limit"] = "big"


def test_filepath_not_copied_again_after_rollback(lab, dirs):
    """A filepath insert rolled back and retried (#1397) finds its object already in the
    store and leaves it alone."""
    table = lab[1]["file"]
    table.delete_quick()
    external = ext(lab, "file")
    external.delete(delete_external_files=True, display_progress=False)
    stage = dirs["stage"] / "retry"
    stage.mkdir(exist_ok=True)
    f = stage / "large.bin"
    f.write_bytes(os.urandom(200_000))
    connection = lab[0].connection
    with pytest.raises(RuntimeError, match="make failed"):
        with connection.transaction:
            table.insert1(dict(item=1, path=str(f)))
            raise RuntimeError("make failed")
    assert len(table) == 0 and len(external) == 0
    stored = dirs["location"] / "retry" / "large.bin"
    before = os.stat(stored)
    table.insert1(dict(item=1, path=str(f)))
    after = os.stat(stored)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert stored.read_bytes() == f.read_bytes()
    assert external.delete(delete_external_files=False) is None


def test_filepath_without_stage(lab, stores, dirs):
    with dj.config(
        stores={**stores, "nostage": {"protocol": "file", "location": str(dirs["location"])}}
    ):
        schema = dj.Schema(SCHEMA, connection=lab[0].connection, context={})

        @schema
        class NoStage(dj.Manual):
            definition = """
            item : int
            ---
            path : filepath@nostage
            """

        with pytest.raises(DataJointError, match='has no "stage"'):
            NoStage.insert1(dict(item=1, path=str(dirs["stage"] / "x")))
        NoStage.drop_quick()
        schema.external["nostage"].drop_quick()


# ---- cleanup ----------------------------------------------------------------------------------


@pytest.mark.parametrize("table", PROTOCOLS, indirect=True)
def test_cleanup(lab, table, dirs):
    protocol = table.__name__[4:].lower()
    external = ext(lab, protocol)
    stage = dirs["stage"] / protocol
    stage.mkdir(parents=True, exist_ok=True)
    (stage / "keep.txt").write_text("keep")
    (stage / "drop.txt").write_text("drop")
    table.insert(
        [
            dict(
                item=1, arr=np.arange(1), doc=str(stage / "keep.txt"), path=str(stage / "keep.txt")
            ),
            dict(
                item=2, arr=np.arange(2), doc=str(stage / "drop.txt"), path=str(stage / "drop.txt")
            ),
            dict(item=3, arr=None, doc=None, path=None),  # NULLs in every external column
        ]
    )
    assert len(external) == 6 and len(external.used()) == 6
    paths = dict(external.fetch_external_paths())
    (table & "item=2").delete_quick()
    # NULLs in referencing columns do not hide unused objects (0.14 bug #1000)
    assert len(external.unused()) == 3 and len(external.used()) == 3
    unused = set(external.unused().fetch("hash"))
    # only tracking rows
    with pytest.raises(DataJointError, match="True or False"):
        external.delete()
    assert external.delete(delete_external_files=True, limit=1, display_progress=False) == []
    assert len(external.unused()) == 2
    assert external.delete(delete_external_files=True, display_progress=False) == []
    assert len(external) == 3 and len(external.unused()) == 0
    for h, path in paths.items():
        assert object_exists(lab, protocol, path) == (h not in unused), path
    # still referenced objects are fetched as before
    row = (table & "item=1").fetch1(download_path=str(dirs["dl"] / protocol))
    np.testing.assert_array_equal(row["arr"], np.arange(1))
    # delete_external_files=False removes the rows only
    (table & "item=1").delete_quick()
    external.delete(delete_external_files=False)
    assert len(external) == 0
    for h, path in paths.items():
        assert object_exists(lab, protocol, path) == (h not in unused)


def test_cleanup_keeps_row_when_removal_fails(lab, dirs):
    """An object that cannot be removed keeps its tracking row, and is reported."""
    table = lab[1]["file"]
    table.delete_quick()
    external = ext(lab, "file")
    external.delete(delete_external_files=True, display_progress=False)
    table.insert1(dict(item=1, arr=np.arange(9)))
    ((h, path),) = external.fetch_external_paths()
    table.delete_quick()
    # make the removal fail: a non-empty folder where the object file was
    os.unlink(path)
    os.makedirs(os.path.join(path, "x"))
    errors_ = external.delete(delete_external_files=True, display_progress=False)
    assert [e[0] for e in errors_] == [h] and isinstance(errors_[0][2], str)
    assert len(external) == 1  # the row is back
    os.rmdir(os.path.join(path, "x"))
    os.rmdir(path)


def test_cleanup_never_removes_referenced_objects(lab, dirs):
    """A listing of unused objects that is stale by the time of deletion (here: one that
    lists everything) still cannot remove a referenced object: the server refuses to delete
    its tracking row (foreign key), so the object stays and nothing is reported."""
    table = lab[1]["file"]
    table.delete_quick()
    external = ext(lab, "file")
    external.delete(delete_external_files=True, display_progress=False)
    # 250 unreferenced objects (more than one batch of the cleanup) and one referenced
    table.insert(dict(item=i, arr=np.arange(i + 5)) for i in range(100, 350))
    (table & "item >= 100").delete_quick()
    table.insert1(dict(item=1, arr=np.arange(4)))

    class StaleListing(dj.external.ExternalTable):
        def unused(self):
            return self  # as if every object had been unused when listed

    stale = StaleListing(lab[0].connection, "file", SCHEMA)
    items = dict(stale.fetch_external_paths())
    assert len(items) == 251
    assert stale.delete(delete_external_files=True, display_progress=False) == []
    assert len(external) == 1
    ((h, path),) = external.fetch_external_paths()
    assert external.exists(path)
    assert not any(external.exists(p) for k, p in items.items() if k != h)
    np.testing.assert_array_equal(table.fetch1("arr"), np.arange(4))
