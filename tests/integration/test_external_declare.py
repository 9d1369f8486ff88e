"""Tables with externally stored attributes (``blob@store``, ``attach@store``,
``filepath@store``): declaration and introspection against the reference datajoint 0.14.9.

The same classes are declared in two schemas, one by datajoint_rs and one by the reference,
with a ``file`` store configured in both packages; then

- ``SHOW CREATE TABLE`` of the data tables and of ``~external_local`` is identical (up to the
  schema name);
- the schema declared by the reference loads in datajoint_rs: headings equal, the
  ``~external_local`` table's ``references`` / ``used`` / ``unused`` agree with the reference;
- objects written by the reference are read by datajoint_rs and the other way round (the
  full round trips are in test_external.py and tests/interop/test_external_interop.py);
- invalid store configurations raise the reference's errors.

Needs DJ_HOST, DJ_USER, DJ_PASS and the reference datajoint installed; skipped otherwise.
"""

from __future__ import annotations

import re
import uuid
import warnings

import lab_schema
import numpy as np
import pytest

ENV = lab_schema.server_env()
if ENV is None:
    pytest.skip("DJ_HOST is not set: no database server to test against", allow_module_level=True)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the reference's dependencies warn on import
    try:
        import datajoint as ref_dj
    except ImportError:  # pragma: no cover
        pytest.skip("the reference datajoint 0.14.9 is not installed", allow_module_level=True)

import datajoint_rs as dj  # noqa: E402
from datajoint_rs.errors import DataJointError  # noqa: E402
from datajoint_rs.external import ExternalMapping, ExternalTable  # noqa: E402

pytestmark = [
    pytest.mark.interop,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

SUFFIX = uuid.uuid4().hex[:8]
THEIRS = f"djtest_extd_{SUFFIX}_py"  # declared by the reference
OURS = f"djtest_extd_{SUFFIX}_rs"  # declared by datajoint_rs


def declare(pkg, database, connection):
    """Declare the test tables with package ``pkg``; returns (schema, {name: class})."""
    schema = pkg.Schema(database, connection=connection, context={})

    @schema
    class Scan(pkg.Manual):
        definition = """
        # scans with externally stored data
        scan_id : int
        ---
        raw = null : blob@local          # external blob
        doc = null : attach@local        # external attachment
        path = null : filepath@local     # managed file
        note = "" : varchar(60)
        """

        class Frame(pkg.Part):
            definition = """
            -> master
            frame : smallint
            ---
            image : blob@local
            """

    @schema
    class Plain(pkg.Lookup):
        definition = """
        plain_id : int
        ---
        value : longblob
        """

    return schema, {"Scan": Scan, "Scan.Frame": Scan.Frame, "Plain": Plain}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A ``file`` store ``local`` configured in both packages, filepath support switched on."""
    location = tmp_path_factory.mktemp("store")
    stage = tmp_path_factory.mktemp("stage")
    saved = {pkg: pkg.config.get("stores") for pkg in (dj, ref_dj)}  # 0.14: no default
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJ_SUPPORT_FILEPATH_MANAGEMENT", "TRUE")
        for pkg in (dj, ref_dj):
            pkg.config["stores"] = {
                "local": {"protocol": "file", "location": str(location), "stage": str(stage)}
            }
        yield {"location": location, "stage": stage}
        for pkg, stores in saved.items():
            if stores is None:
                del pkg.config["stores"]
            else:
                pkg.config["stores"] = stores


@pytest.fixture(scope="module")
def ref_conn():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = ref_dj.Connection(*ENV)
    yield c
    c.close()


@pytest.fixture(scope="module")
def our_conn():
    c = dj.Connection(*ENV)
    yield c
    c.close()


@pytest.fixture(scope="module")
def schemas(store, ref_conn, our_conn):
    """{"theirs": (reference schema, classes), "ours": (datajoint_rs schema, classes)}."""
    for name in (THEIRS, OURS):
        our_conn.query(f"DROP DATABASE IF EXISTS `{name}`")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        theirs = declare(ref_dj, THEIRS, ref_conn)
    ours = declare(dj, OURS, our_conn)
    yield {"theirs": theirs, "ours": ours}
    for name in (THEIRS, OURS):
        our_conn.query(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture(scope="module")
def loaded(schemas, our_conn):
    """The reference's schema as datajoint_rs loads it (a virtual module)."""
    return dj.VirtualModule("ext_theirs", THEIRS, connection=our_conn)


def ddl(conn, database, table_name):
    text = conn.query(f"SHOW CREATE TABLE `{database}`.`{table_name}`").fetchone()[1]
    return text.replace(database, "<schema>")


def count(conn, database, table_name):
    return conn.query(f"SELECT count(*) FROM `{database}`.`{table_name}`").fetchone()[0]


# ---- declaration ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Scan", "Scan.Frame", "Plain"])
def test_same_create_table(schemas, our_conn, name):
    table_name = schemas["ours"][1][name].table_name
    assert table_name == schemas["theirs"][1][name].table_name
    assert ddl(our_conn, OURS, table_name) == ddl(our_conn, THEIRS, table_name)


def test_same_external_table(schemas, our_conn):
    ours = ddl(our_conn, OURS, "~external_local")
    assert ours == ddl(our_conn, THEIRS, "~external_local")
    assert "`hash` binary(16) NOT NULL COMMENT ':uuid:hash of contents" in ours
    assert "~external" not in ddl(our_conn, OURS, "#plain")
    assert "REFERENCES `~external_local` (`hash`)" in ddl(our_conn, OURS, "scan")


def test_same_tables(schemas, our_conn):
    def tables(database):
        return sorted(r[0] for r in our_conn.query(f"SHOW TABLES IN `{database}`"))

    assert tables(OURS) == tables(THEIRS)


def test_same_log(schemas, our_conn):
    def events(database):
        rows = our_conn.query(f"SELECT event FROM `{database}`.`~log` ORDER BY id").fetchall()
        return [r[0].replace(database, "<s>") for r in rows]

    assert events(OURS) == events(THEIRS)


def test_redeclare_is_idempotent(schemas, our_conn):
    """Declaring the classes again (tables present) changes nothing."""
    before = ddl(our_conn, OURS, "~external_local")
    schema, classes = declare(dj, OURS, our_conn)
    assert ddl(our_conn, OURS, "~external_local") == before
    assert classes["Scan"].is_declared


# ---- the mapping and the external table --------------------------------------------------


def test_mapping(schemas, store):
    schema = schemas["ours"][0]
    ref_schema = schemas["theirs"][0]
    assert isinstance(schema.external, ExternalMapping)
    table = schema.external["local"]
    assert isinstance(table, ExternalTable)
    assert schema.external["local"] is table  # cached
    assert list(schema.external) == ["local"] and len(schema.external) == 1
    assert table.full_table_name == f"`{OURS}`.`~external_local`"
    assert table.store == "local"
    assert table.spec == ref_schema.external["local"].spec
    assert repr(schema.external).replace(OURS, "<s>") == repr(ref_schema.external).replace(
        THEIRS, "<s>"
    )


def test_external_heading(schemas):
    ours = schemas["ours"][0].external["local"].heading
    theirs = schemas["theirs"][0].external["local"].heading
    assert ours.names == theirs.names
    assert ours.primary_key == theirs.primary_key == ["hash"]
    for name in ours.names:
        assert ours[name].type == theirs[name].type
        assert ours[name].uuid == theirs[name].uuid
        assert ours[name].nullable == theirs[name].nullable


def references(table, database):
    return sorted(
        (ref["referencing_table"].replace(database, "<s>"), ref["column_name"])
        for ref in table.references
    )


def test_references(schemas, loaded):
    ours = references(schemas["ours"][0].external["local"], OURS)
    assert ours == references(schemas["theirs"][0].external["local"], THEIRS)
    assert ours == [
        ("`<s>`.`scan__frame`", "image"),
        ("`<s>`.`scan`", "doc"),
        ("`<s>`.`scan`", "path"),
        ("`<s>`.`scan`", "raw"),
    ]
    # the reference's schema seen through datajoint_rs
    assert references(loaded.schema.external["local"], THEIRS) == ours


@pytest.fixture(scope="module")
def filled(schemas, store):
    """One row (external blob and attachment) and one orphan object written by the
    reference into its schema."""
    ref_schema, ref_classes = schemas["theirs"]
    attachment = store["stage"] / "notes.txt"
    attachment.write_text("hello")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_classes["Scan"].insert1(dict(scan_id=1, raw=np.arange(5), doc=str(attachment)))
        ref_schema.external["local"].put(b"an orphan object")


def test_used_unused(schemas, loaded, our_conn, store, filled):
    """Tracking rows written by the reference, queried by datajoint_rs."""
    ref_classes = schemas["theirs"][1]
    ref_table = schemas["theirs"][0].external["local"]
    ours = loaded.schema.external["local"]
    assert isinstance(ours, ExternalTable)
    assert len(ours) == len(ref_table) == 3
    assert len(ours.used()) == len(ref_table.used()) == 2
    assert sorted(ours.used().fetch("hash")) == sorted(ref_table.used().fetch("hash"))
    # 0.14 bug, fixed (#1000): its ``unused`` is ``hash NOT IN (SELECT path ...)``, never true
    # while a referencing column holds a NULL (here: scan.path), so the orphan is not listed
    assert len(ref_table.unused()) == 0
    assert len(ours.unused()) == 1
    assert ours.unused().fetch1("size") == len(b"an orphan object")
    doc = (ref_classes["Scan"] & "scan_id=1").fetch1("doc", download_path=str(store["stage"]))
    assert doc.endswith("notes.txt")
    # the recorded name of an attachment needs no object storage
    (doc_hash,) = our_conn.query(f"SELECT doc FROM `{THEIRS}`.`scan`").fetchone()
    assert ours.get_attachment_name(uuid.UUID(bytes=doc_hash)) == "notes.txt"


def test_none_passes_through(schemas):
    table = schemas["ours"][0].external["local"]
    assert table.get(None) is None
    assert table.download_filepath(None) is None


# ---- the reference's tables in datajoint_rs ----------------------------------------------


HEADING_FIELDS = (
    "name",
    "type",
    "in_key",
    "nullable",
    "default",
    "comment",
    "uuid",
    "is_blob",
    "is_attachment",
    "is_filepath",
    "is_external",
    "store",
    "numeric",
    "string",
    "json",
    "autoincrement",
    "is_hidden",
    "unsupported",
    "database",
    "dtype",
)


@pytest.mark.parametrize("name", ["Scan", "Scan.Frame", "Plain"])
def test_heading_of_reference_table(schemas, loaded, name):
    ref_heading = schemas["theirs"][1][name]().heading
    heading = lab_schema.get_class(loaded, name)().heading
    assert heading.names == ref_heading.names
    for attr in ref_heading.names:
        ours, theirs = heading[attr], ref_heading[attr]
        for field in HEADING_FIELDS:
            assert getattr(ours, field) == getattr(theirs, field), (attr, field)


def test_heading_types(loaded):
    heading = loaded.Scan().heading
    assert heading["raw"].type == "blob@local" and heading["raw"].is_blob
    assert heading["doc"].type == "attach@local" and heading["doc"].is_attachment
    assert heading["path"].type == "filepath@local" and heading["path"].is_filepath
    for attr in ("raw", "doc", "path"):
        assert heading[attr].is_external and heading[attr].store == "local"
    assert not heading["note"].is_external and heading["note"].store is None


def test_parents(schemas, loaded):
    ref_parents = schemas["theirs"][1]["Scan"]().parents()
    # as in 0.14, ``~`` tables are not part of the dependency graph
    assert loaded.Scan().parents() == ref_parents == []


def test_insert_external_into_reference_schema(schemas, loaded, our_conn, store, filled):
    """datajoint_rs writes objects into the reference's schema; the reference reads them."""
    ref_classes = schemas["theirs"][1]
    attachment = store["stage"] / "ours.txt"
    attachment.write_text("written by datajoint_rs")
    data = store["stage"] / "data" / "file.bin"
    data.parent.mkdir(exist_ok=True)
    data.write_bytes(b"\x00\x01" * 100)
    loaded.Scan.insert1(dict(scan_id=10, raw=np.arange(3), doc=str(attachment), path=str(data)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        row = (ref_classes["Scan"] & "scan_id=10").fetch1(download_path=str(store["location"]))
    np.testing.assert_array_equal(row["raw"], np.arange(3))
    assert open(row["doc"]).read() == "written by datajoint_rs"
    assert row["path"] == str(data)
    (loaded.Scan & "scan_id=10").delete_quick()


def test_insert_without_external_values(schemas, loaded, our_conn):
    """Rows whose external attributes are NULL need no store."""
    loaded.Scan.insert1(dict(scan_id=30, note="no objects"))
    assert (loaded.Scan & "scan_id=30").fetch1("note", "raw", "doc", "path") == (
        "no objects",
        None,
        None,
        None,
    )
    (loaded.Scan & "scan_id=30").delete_quick()


def test_fetch_external(schemas, loaded, filled):
    """Objects written by the reference are read by datajoint_rs."""
    scan = loaded.Scan & "scan_id=1"
    assert scan.fetch1("note") == ""
    np.testing.assert_array_equal(scan.fetch1("raw"), np.arange(5))


# ---- invalid store configurations -------------------------------------------------------


def _error(pkg, database, connection, store_name):
    class_name = "Bad" + re.sub(r"\W", "", store_name).title()
    schema = pkg.Schema(database, connection=connection, context={})
    cls = type(
        class_name,
        (pkg.Manual,),
        {"definition": f"bad_id : int\n---\nvalue : blob@{store_name}\n"},
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            schema(cls)
    except Exception as err:  # noqa: BLE001 - the exception itself is compared
        return type(err).__name__, str(err), cls.table_name
    return None, None, cls.table_name


BAD_STORES = {
    "missing": None,
    "noprotocol": {"location": "/tmp"},
    "badprotocol": {"protocol": "ftp", "location": "/tmp"},
    "nolocation": {"protocol": "file"},
    "s3noendpoint": {
        "protocol": "s3",
        "bucket": "b",
        "access_key": "a",
        "secret_key": "s",
        "location": "x",
    },
    "extrakey": {"protocol": "file", "location": "/tmp", "color": "red"},
    "nodir": {"protocol": "file", "location": "/nonexistent/djtest/store"},
}


@pytest.mark.parametrize("store_name", list(BAD_STORES))
def test_invalid_store(schemas, store, ref_conn, our_conn, store_name):
    spec = BAD_STORES[store_name]
    for pkg in (dj, ref_dj):
        stores = dict(pkg.config["stores"])
        if spec is not None:
            stores[store_name] = dict(spec)
        pkg.config["stores"] = stores
    try:
        theirs = _error(ref_dj, THEIRS, ref_conn, store_name)
        ours = _error(dj, OURS, our_conn, store_name)
    finally:
        for pkg in (dj, ref_dj):
            pkg.config["stores"] = {
                k: v for k, v in pkg.config["stores"].items() if k not in BAD_STORES
            }
    assert theirs[0] is not None
    assert ours == theirs
    # same side effects: the data table is never declared, the ~external table only when the
    # spec itself was valid
    table_name = ours[2]
    for name in (table_name, f"~external_{store_name}"):
        assert ddl_or_none(our_conn, OURS, name) == ddl_or_none(our_conn, THEIRS, name)
    assert ddl_or_none(our_conn, OURS, table_name) is None


def ddl_or_none(conn, database, table_name):
    if not conn.query(f'SHOW TABLES IN `{database}` LIKE "{table_name}"').rowcount:
        return None
    return ddl(conn, database, table_name)


def test_mapping_unknown_store(schemas):
    with pytest.raises(DataJointError, match="Storage nowhere is requested but not configured"):
        schemas["ours"][0].external["nowhere"]
    assert "nowhere" not in list(schemas["ours"][0].external)
