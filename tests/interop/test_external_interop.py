"""External storage shared with the reference datajoint 0.14.9, in both directions.

Both packages are configured with the same two stores, a ``file`` store and an ``s3`` store
(the S3-protocol server of scripts/s3server.sh), and the same stage. Each package declares
the same tables in its own schema and inserts the same rows (``blob@store``,
``attach@store``, ``filepath@store`` and inline ``attach``); then

- each package fetches the other's rows and gets exactly what the writer gets;
- both schemas hold the same ``~external_<store>`` rows (hash, size, attachment name,
  filepath, contents hash) and objects at the same paths (up to the schema name), with
  identical bytes;
- cleanup by one package of objects written by the other removes exactly the unused ones.

Needs DJ_HOST / DJ_USER / DJ_PASS and the reference package; the s3 cases also DJ_S3_*.
"""

from __future__ import annotations

import os
import uuid
import warnings
from pathlib import Path

import lab_schema
import numpy as np
import pytest

ENV = lab_schema.server_env()
if ENV is None:
    pytest.skip("DJ_HOST is not set: no database server to test against", allow_module_level=True)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:
        import datajoint as ref_dj
    except ImportError:  # pragma: no cover
        pytest.skip("the reference datajoint 0.14.9 is not installed", allow_module_level=True)

import datajoint_rs as dj  # noqa: E402

pytestmark = [
    pytest.mark.interop,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

S3_ENV = lab_schema.s3_env()
HAVE_S3 = all(S3_ENV.values())
SUFFIX = uuid.uuid4().hex[:8]
THEIRS = f"djtest_exti_{SUFFIX}_py"  # written by the reference
OURS = f"djtest_exti_{SUFFIX}_rs"  # written by datajoint_rs
PROTOCOLS = [
    "file",
    pytest.param(
        "s3", marks=pytest.mark.skipif(not HAVE_S3, reason="no S3 server (DJ_S3_ENDPOINT unset)")
    ),
]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    return {n: tmp_path_factory.mktemp(n) for n in ("location", "stage", "dl_ours", "dl_ref")}


@pytest.fixture(scope="module")
def stores(dirs):
    def specs():
        out = {
            "file": dict(protocol="file", location=str(dirs["location"]), stage=str(dirs["stage"]))
        }
        if HAVE_S3:
            out["s3"] = dict(
                protocol="s3",
                endpoint=S3_ENV["endpoint"],
                bucket=S3_ENV["bucket"],
                access_key=S3_ENV["access_key"],
                secret_key=S3_ENV["secret_key"],
                location=f"djtest-interop/{SUFFIX}",
                stage=str(dirs["stage"]),
            )
        return out

    saved = {pkg: pkg.config.get("stores") for pkg in (dj, ref_dj)}  # 0.14: no default
    for pkg in (dj, ref_dj):
        pkg.config["stores"] = specs()  # each package its own copy
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJ_SUPPORT_FILEPATH_MANAGEMENT", "TRUE")
        yield specs()
    if HAVE_S3:
        lab_schema.remove_s3_prefix(f"djtest-interop/{SUFFIX}/")
    for pkg, value in saved.items():
        if value is None:
            del pkg.config["stores"]
        else:
            pkg.config["stores"] = value


@pytest.fixture(scope="module")
def conns():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = ref_dj.Connection(*ENV)
    ours = dj.Connection(*ENV)
    yield {"ref": ref, "ours": ours}
    for name in (THEIRS, OURS):
        ours.query(f"DROP DATABASE IF EXISTS `{name}`")
    ref.close()
    ours.close()


def declare(pkg, database, connection, protocols):
    schema = pkg.Schema(database, connection=connection, context={})
    classes = {}
    for protocol in protocols:
        definition = f"""
        item : int
        ---
        arr = null : blob@{protocol}
        doc = null : attach@{protocol}
        path = null : filepath@{protocol}
        inline = null : attach
        """
        cls = type(f"Obj{protocol.title()}", (pkg.Manual,), {"definition": definition})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            classes[protocol] = schema(cls)
    return schema, classes


def make_rows(stage, protocol):
    """The same rows for both writers (files written once, shared by both)."""
    folder = Path(stage, protocol)
    (folder / "raw").mkdir(parents=True, exist_ok=True)
    docs = Path(stage, "docs_" + protocol)
    docs.mkdir(exist_ok=True)
    rng = np.random.default_rng(7)
    rows = []
    for i in range(6):
        raw = folder / "raw" / f"rec{i}.dat"
        if not raw.exists():
            raw.write_bytes(rng.bytes(1000 + 100 * i))
        doc = docs / f"note{i % 3}.txt"
        if not doc.exists():
            doc.write_text(f"note {i % 3}")
        rows.append(
            dict(
                item=i,
                arr=[
                    np.arange(10 * (i + 1), dtype=np.float32).reshape(-1, 2),
                    {"a": i, "b": "text"},
                    np.int16(i),
                    "a string",
                    np.array([1 + 2j, 3 - 1j]),
                    np.arange(1000.0),  # the same blob in every row: deduplicated
                ][i],
                doc=str(doc),
                path=str(raw),
                inline=str(doc),
            )
        )
    rows.append(dict(item=99, arr=None, doc=None, path=None, inline=None))
    return rows


@pytest.fixture(scope="module")
def written(stores, conns, dirs):
    """Each package declares and fills its own schema with the same rows."""
    protocols = list(stores)
    for name in (THEIRS, OURS):
        conns["ours"].query(f"DROP DATABASE IF EXISTS `{name}`")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_schema, ref_classes = declare(ref_dj, THEIRS, conns["ref"], protocols)
        for protocol in protocols:
            ref_classes[protocol].insert(make_rows(dirs["stage"], protocol))
    our_schema, our_classes = declare(dj, OURS, conns["ours"], protocols)
    for protocol in protocols:
        our_classes[protocol].insert(make_rows(dirs["stage"], protocol))
    return {"ref": (ref_schema, ref_classes), "ours": (our_schema, our_classes)}


def normalize(value, download_dir):
    """Comparable form of a fetched value: attachments by (name, contents)."""
    if isinstance(value, str) and value.startswith(str(download_dir)):
        return ("file", os.path.basename(value), Path(value).read_bytes())
    return value


def fetch_rows(table, download_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = table.fetch(as_dict=True, order_by="item", download_path=str(download_dir))
    return [{k: normalize(v, download_dir) for k, v in row.items()} for row in rows]


def assert_rows_equal(a, b):
    assert len(a) == len(b)
    for ra, rb in zip(a, b, strict=True):
        assert ra.keys() == rb.keys()
        for k in ra:
            va, vb = ra[k], rb[k]
            if k == "arr":
                assert_values_equal(va, vb)
            else:
                assert va == vb, (k, va, vb)


def assert_values_equal(a, b):
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_values_equal(a[k], b[k])
    else:
        assert type(a) is type(b) and a == b


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_ours_reads_reference_rows(written, conns, dirs, protocol):
    ref_table = written["ref"][1][protocol]
    module = dj.VirtualModule(f"exti_{protocol}", THEIRS, connection=conns["ours"])
    ours = getattr(module, f"Obj{protocol.title()}")
    assert_rows_equal(
        fetch_rows(ours, dirs["dl_ours"] / "a" / protocol),
        fetch_rows(ref_table, dirs["dl_ref"] / "a" / protocol),
    )
    # fetch1 and the array form too
    np.testing.assert_array_equal((ours & "item=5").fetch1("arr"), np.arange(1000.0))
    assert list(ours.fetch("item", order_by="item")) == [0, 1, 2, 3, 4, 5, 99]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_reference_reads_our_rows(written, conns, dirs, protocol):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = ref_dj.VirtualModule(f"exti_ref_{protocol}", OURS, connection=conns["ref"])
    ref_view = getattr(module, f"Obj{protocol.title()}")
    ours = written["ours"][1][protocol]
    assert_rows_equal(
        fetch_rows(ref_view, dirs["dl_ref"] / "b" / protocol),
        fetch_rows(ours, dirs["dl_ours"] / "b" / protocol),
    )


def tracking(conn, database, protocol):
    rows = conn.query(
        f"SELECT hash, size, attachment_name, filepath, contents_hash "
        f"FROM `{database}`.`~external_{protocol}` ORDER BY hash"
    ).fetchall()
    return [tuple(bytes(v) if isinstance(v, (bytes, bytearray)) else v for v in r) for r in rows]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_same_tracking_rows_and_objects(written, conns, protocol):
    ours_rows = tracking(conns["ours"], OURS, protocol)
    assert ours_rows == tracking(conns["ours"], THEIRS, protocol)
    assert len(ours_rows) == 6 + 3 + 6  # blobs (one shared by two rows), attachments, files
    our_ext = written["ours"][0].external[protocol]
    ref_ext = written["ref"][0].external[protocol]
    ours_paths = sorted((h, str(p).replace(OURS, "<s>")) for h, p in our_ext.fetch_external_paths())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_paths = sorted(
            (h, str(p).replace(THEIRS, "<s>")) for h, p in ref_ext.fetch_external_paths()
        )
    assert ours_paths == ref_paths
    # identical bytes at both paths, read by the other package's client
    for (_, ours_path), (_, ref_path) in zip(
        our_ext.fetch_external_paths(order_by="hash"),
        ref_ext.fetch_external_paths(order_by="hash"),
        strict=True,
    ):
        assert our_ext._download_buffer(ref_path) == ref_ext._download_buffer(ours_path)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_cleanup_across_packages(written, conns, dirs, protocol):
    """Each package cleans up the other's schema: unused objects go, used ones stay."""
    for writer, cleaner_pkg, database, conn in (
        ("ref", dj, THEIRS, conns["ours"]),
        ("ours", ref_dj, OURS, conns["ref"]),
    ):
        table = written[writer][1][protocol]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # (the row of NULLs goes too: with it, 0.14's unused() finds nothing, #1000)
            (table & "item < 2 OR item = 99").delete_quick()
            schema = cleaner_pkg.Schema(database, connection=conn, create_schema=False)
            external = schema.external[protocol]
            paths = dict(external.fetch_external_paths())
            keep = set(external.used().fetch("hash"))
            assert len(keep) < len(paths)
            errors = external.delete(delete_external_files=True, display_progress=False)
        assert errors == []
        assert set(external.fetch("hash")) == keep
        for h, path in paths.items():
            if h in keep:
                assert external.exists(path), path
            elif "/raw/" not in str(path):
                # (filepath objects are shared by both schemas: same stage, same relative
                # path; datajoint_rs keeps one that another schema still tracks)
                assert not external.exists(path), path
            elif cleaner_pkg is dj:  # the other schema still tracks this file
                assert external.exists(path), path
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows = table.fetch(as_dict=True, download_path=str(dirs["dl_ours"] / "c"))
        assert [r["item"] for r in rows] == [2, 3, 4, 5]


def test_shared_cache(written, conns, dirs, tmp_path):
    """The local blob cache has 0.14's layout: a blob cached by datajoint_rs is served to
    the reference from the cache after the store lost it, and the other way round."""
    protocol = "file"
    for writer, reader_pkg in (("ours", ref_dj), ("ref", dj)):
        table = written[writer][1][protocol]
        cache = tmp_path / writer
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (table & "item = 0").delete_quick()  # rows of item 0 may be gone already
            table.insert1(
                dict(
                    item=0,
                    arr=np.arange(123.0) + (writer == "ours"),
                    doc=None,
                    path=None,
                    inline=None,
                )
            )
            expected = (table & "item = 0").fetch1("arr")
        other_pkg = dj if reader_pkg is ref_dj else ref_dj
        other_conn = conns["ours"] if other_pkg is dj else conns["ref"]
        reader_conn = conns["ref"] if reader_pkg is ref_dj else conns["ours"]
        database = OURS if writer == "ours" else THEIRS
        # the package that did not write fills the cache...
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            other_pkg.config["cache"] = str(cache)
            try:
                module = other_pkg.VirtualModule(f"c_{writer}_a", database, connection=other_conn)
                np.testing.assert_array_equal((module.ObjFile & "item = 0").fetch1("arr"), expected)
            finally:
                other_pkg.config["cache"] = None
        # ...the object leaves the store...
        external = written[writer][0].external[protocol]
        (stored,) = (
            conns["ours"].query(f"SELECT arr FROM `{database}`.`obj_file` WHERE item=0").fetchone()
        )
        path = dict(external.fetch_external_paths())[uuid.UUID(bytes=bytes(stored))]
        os.unlink(path)
        # ...and the reader gets it from the cache
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader_pkg.config["cache"] = str(cache)
            try:
                module = reader_pkg.VirtualModule(f"c_{writer}_b", database, connection=reader_conn)
                np.testing.assert_array_equal((module.ObjFile & "item = 0").fetch1("arr"), expected)
            finally:
                reader_pkg.config["cache"] = None
