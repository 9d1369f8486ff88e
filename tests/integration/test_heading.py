"""datajoint_rs.heading.Heading against the reference datajoint 0.14.9.

Tables are declared by the reference package (every attribute type, renamed / nullable /
unique foreign keys, indexes, a hidden timestamp, external stores, adapted types) and by raw
SQL (comment markers 0.14 rejects); each is then loaded by both packages from the same server,
the reference over its own connection and datajoint_rs over a minimal MySQLdb stand-in, and
every Attribute field, the indexes, the table status, dtype, repr and the errors are compared.
Derived headings (select, join, ...) are compared without a server.

Needs DJ_HOST, DJ_USER, DJ_PASS (``eval "$(bash scripts/mariadb.sh env)"``, or
``bash /work/shared/tools/start-mariadb.sh`` and DJ_HOST=127.0.0.1 DJ_USER=root
DJ_PASS=password); the server tests are skipped otherwise.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from datajoint_rs.attribute_adapter import AttributeAdapter as OurAdapter
from datajoint_rs.errors import DataJointError
from datajoint_rs.heading import Attribute
from datajoint_rs.heading import Heading as OurHeading
from datajoint_rs.heading import default_attribute_properties as our_defaults

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pyparsing deprecation warnings on import
    try:
        import datajoint as ref_dj
        from datajoint.heading import Heading as RefHeading
    except ImportError:  # pragma: no cover
        pytest.skip("the reference datajoint 0.14.9 is not installed", allow_module_level=True)

pytestmark = pytest.mark.interop

SCHEMA = "djtest_heading"
HAVE_SERVER = all(os.environ.get(name) for name in ("DJ_HOST", "DJ_USER", "DJ_PASS"))
needs_server = pytest.mark.skipif(not HAVE_SERVER, reason="DJ_HOST, DJ_USER, DJ_PASS not set")
SWITCHES = ("DJ_SUPPORT_ADAPTED_TYPES", "DJ_SUPPORT_FILEPATH_MANAGEMENT")


def _server():
    host, _, port = os.environ["DJ_HOST"].partition(":")
    return host, int(port or 3306), os.environ["DJ_USER"], os.environ["DJ_PASS"]


class StandInConnection:
    """What Heading needs of a connection: ``query(sql, args=(), *, as_dict=False)``
    returning a mysqlclient cursor."""

    def __init__(self):
        import MySQLdb
        import MySQLdb.cursors

        host, port, user, password = _server()
        self._dict_cursor = MySQLdb.cursors.DictCursor
        self._db = MySQLdb.connect(
            host=host, port=port, user=user, passwd=password, charset="utf8mb4"
        )
        self._db.autocommit(True)
        self.queries = []

    def query(self, sql, args=(), *, as_dict=False, suppress_warnings=True, reconnect=None):
        self.queries.append(sql)
        cursor = self._db.cursor(self._dict_cursor if as_dict else None)
        cursor.execute(sql, args)
        return cursor

    def close(self):
        self._db.close()


def _adapter(base, attribute_type):
    class Adapter(base):
        @property
        def attribute_type(self):
            return attribute_type

        def put(self, obj):
            return obj

        def get(self, value):
            return value

    return Adapter()


ADAPTERS = {"graph": "longblob", "stored": "blob@store", "ident": "uuid", "doc": "attach"}


def _ref_context():
    return {k: _adapter(ref_dj.AttributeAdapter, v) for k, v in ADAPTERS.items()}


def _our_context():
    return {k: _adapter(OurAdapter, v) for k, v in ADAPTERS.items()}


def _declare(conn, store_dir):
    """Declare the test tables with the reference package; returns their table names."""
    dj = ref_dj
    context = _ref_context()
    schema = dj.Schema(SCHEMA, context=context, connection=conn)

    @schema
    class Subject(dj.Manual):
        definition = """
        # experimental subjects
        subject_id : int unsigned        # unique id
        ---
        species = "mouse" : varchar(30)  # latin name
        """

    context["Subject"] = Subject

    @schema
    class AllTypes(dj.Manual):
        definition = """
        # every type of the definition language
        id : int auto_increment       # "quoted" comment
        key_uuid : uuid
        ---
        a_tinyint : tinyint
        a_small = 3 : smallint unsigned
        a_medium : mediumint
        a_int = null : int
        a_big : bigint
        a_big_u : bigint unsigned
        a_integer = -4 : integer
        a_float = 1.5 : float
        a_double : double
        a_real = null : real
        a_float_u : float unsigned
        a_decimal = 1.25 : decimal(5,2)
        a_numeric : numeric(8,3) unsigned
        a_char = "ab" : char(2)
        a_varchar = '' : varchar(255)  # may be empty
        a_enum = 'b' : enum('a', 'b')
        a_bool = 1 : bool
        a_boolean : boolean
        a_date = "2020-01-02" : date
        a_datetime = null : datetime(3)
        a_time : time
        a_timestamp = CURRENT_TIMESTAMP : timestamp
        a_year : year
        a_json = null : json
        a_uuid = null : uuid            # nullable uuid
        a_tinyblob : tinyblob
        a_blob : blob
        a_mediumblob = null : mediumblob
        a_longblob : longblob           # inline blob
        a_external : blob@store         # external blob
        a_attach : attach
        a_attach_ext = null : attach@store
        a_filepath : filepath@store
        a_graph : <graph>               # adapted to longblob
        a_stored = null : <stored>
        a_ident : <ident>
        a_doc : <doc>
        """

    @schema
    class Child(dj.Manual):
        definition = """
        -> Subject
        session : smallint
        ---
        -> [nullable] Subject.proj(buddy='subject_id')
        -> [unique] Subject.proj(twin='subject_id')
        note : varchar(64)
        score : float
        index(note, score)
        unique index(score)
        """

    dj.config["add_hidden_timestamp"] = True
    try:

        @schema
        class Stamped(dj.Lookup):
            definition = """
            name : varchar(8)
            ---
            value = null : double
            """

    finally:
        dj.config["add_hidden_timestamp"] = False

    return [cls.table_name for cls in (Subject, AllTypes, Child, Stamped)] + ["~external_store"]


RAW_TABLES = {
    # DataJoint 2.x writes core type markers that 0.14 cannot read
    "raw_v2": "a int NOT NULL COMMENT ':int32:the key', PRIMARY KEY (a)",
    "raw_legacy": "a int NOT NULL, b binary(16) COMMENT ':external-store:old', PRIMARY KEY (a)",
    "raw_blob_key": "a varbinary(8) NOT NULL COMMENT ':blob@store:', PRIMARY KEY (a)",
    # MariaDB: j is longtext + a column CHECK, c a longtext with a table CHECK json_valid(c)
    "raw_json": (
        "a int NOT NULL, j json DEFAULT NULL, t longtext, c longtext NOT NULL, "
        "PRIMARY KEY (a), CONSTRAINT c_is_json CHECK (json_valid(`c`))"
    ),
    "raw_plain": (
        "a int(10) NOT NULL, b varchar(4) DEFAULT 'x' COMMENT 'no marker', "
        "c double DEFAULT NULL, d decimal(4,1) NOT NULL DEFAULT 0.5, "
        "e tinyint(1) DEFAULT NULL, PRIMARY KEY (a), KEY (b, c)"
    ),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(reference connection, stand-in connection, table names); tables dropped after."""
    if not HAVE_SERVER:
        pytest.skip("DJ_HOST, DJ_USER, DJ_PASS not set")
    saved_env = {k: os.environ.get(k) for k in SWITCHES}
    saved_stores = ref_dj.config.get("stores")
    os.environ.update({k: "TRUE" for k in SWITCHES})
    store_dir = tmp_path_factory.mktemp("store")
    ref_dj.config["stores"] = {"store": dict(protocol="file", location=str(store_dir))}
    host, port, user, password = _server()
    ours = StandInConnection()
    ours.query(f"DROP DATABASE IF EXISTS `{SCHEMA}`")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_conn = ref_dj.Connection(f"{host}:{port}", user, password)
        tables = _declare(ref_conn, store_dir)
    for name, body in RAW_TABLES.items():
        ours.query(f"CREATE TABLE `{SCHEMA}`.`{name}` ({body}) COMMENT 'raw table'")
    try:
        yield ref_conn, ours, tables
    finally:
        ours.query(f"DROP DATABASE IF EXISTS `{SCHEMA}`")
        ours.close()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref_conn.close()
        ref_dj.config["stores"] = saved_stores
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _load_ref(ref_conn, table_name, context=None):
    info = dict(conn=ref_conn, database=SCHEMA, table_name=table_name, context=context)
    heading = RefHeading(table_info=info)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            _ = heading.attributes  # loads it
        except Exception as err:
            return ("raised", type(err).__name__, str(err))
    return heading


def _load_ours(conn, table_name, context=None):
    info = dict(conn=conn, database=SCHEMA, table_name=table_name, context=context)
    heading = OurHeading(table_info=info)
    try:
        _ = heading.attributes  # loads it
    except Exception as err:
        return ("raised", type(err).__name__, str(err))
    return heading


def _comparable(attr):
    """Every field; the adapter by class name (the two packages have their own classes)."""
    fields = attr._asdict()
    adapter = fields.pop("adapter")
    fields["adapter"] = None if adapter is None else type(adapter).__name__
    return fields


def _accept_mariadb_json(ours, ref):
    """The one deliberate difference (docs/compatibility.md, "Tables"): MariaDB stores a json
    column as longtext + CHECK (json_valid(...)); 0.14 sees a longtext, datajoint_rs a json
    attribute, as on MySQL 8. The reference heading is patched to expect that."""
    for name, attr in list(ref._attributes.items()):
        mine = ours._attributes.get(name)
        if mine is not None and attr.type == "longtext" and mine.type == "json":
            ref._attributes[name] = attr._replace(type="json", json=True)


VOLATILE_STATUS = {"update_time", "check_time", "data_free", "rows", "avg_row_length"}


def _assert_same_heading(ours, ref):
    assert not isinstance(ref, tuple), ref
    assert not isinstance(ours, tuple), ours
    _accept_mariadb_json(ours, ref)
    # all attributes, hidden ones included, field by field
    assert list(ours._attributes) == list(ref._attributes)
    for name, attr in ref._attributes.items():
        assert _comparable(ours._attributes[name]) == _comparable(attr), name
    assert ours.names == ref.names
    assert ours.primary_key == ref.primary_key
    assert ours.secondary_attributes == ref.secondary_attributes
    assert ours.blobs == ref.blobs
    assert ours.non_blobs == ref.non_blobs
    assert ours.new_attributes == ref.new_attributes
    assert ours.has_autoincrement == ref.has_autoincrement
    assert len(ours) == len(ref)
    assert ours.as_dtype == ref.as_dtype
    assert repr(ours) == repr(ref)
    assert ours.indexes == ref.indexes
    assert ours.as_sql(ours.names) == ref.as_sql(ref.names)
    status, ref_status = dict(ours.table_status), dict(ref.table_status)
    assert set(status) == set(ref_status)
    for key in VOLATILE_STATUS:
        status.pop(key, None), ref_status.pop(key, None)
    assert status == ref_status


@needs_server
@pytest.mark.parametrize("index", range(5))
def test_declared_tables(server, index):
    ref_conn, conn, tables = server
    table = tables[index]
    _assert_same_heading(
        _load_ours(conn, table, _our_context()), _load_ref(ref_conn, table, _ref_context())
    )


@needs_server
def test_every_type_is_decoded(server):
    ref_conn, conn, tables = server
    heading = _load_ours(conn, tables[1], _our_context())
    assert heading["key_uuid"].uuid and heading["key_uuid"].type == "uuid"
    assert heading["a_external"].is_blob and heading["a_external"].store == "store"
    assert heading["a_attach"].is_attachment and not heading["a_attach"].is_external
    assert heading["a_filepath"].is_filepath and heading["a_filepath"].is_external
    assert heading["a_graph"].type == "<graph>" and heading["a_graph"].adapter is not None
    assert heading["a_timestamp"].default is not None
    assert heading["a_tinyint"].dtype is np.int64 and heading["a_int"].dtype is object
    assert heading["id"].autoincrement
    assert heading.table_status["comment"] == "every type of the definition language"
    assert repr(heading).startswith("# every type of the definition language\n")


@needs_server
def test_json_columns(server):
    """json attributes on either server: MySQL 8 reports ``json``; MariaDB ``longtext`` with
    CHECK (json_valid(`col`)), read from information_schema.CHECK_CONSTRAINTS."""
    from datajoint_rs.adapters import get_adapter

    _, conn, tables = server
    mariadb = get_adapter().is_mariadb(conn)
    heading = _load_ours(conn, tables[1], _our_context())
    assert heading["a_json"].type == "json" and heading["a_json"].json
    assert heading["a_json"].nullable and heading["a_json"].default == "null"
    assert "a_json" not in heading.non_blobs
    conn.queries.clear()
    heading = _load_ours(conn, "raw_json", {})
    assert heading["j"].type == "json" and heading["j"].json
    assert heading["t"].type == "longtext" and not heading["t"].json
    # a longtext constrained by a table-level CHECK is a json column too (on MariaDB)
    assert heading["c"].json is mariadb and not heading["c"].nullable
    assert heading["c"].type == ("json" if mariadb else "longtext")
    assert len(conn.queries) == 4  # status, columns, check constraints, keys
    assert repr(heading).splitlines()[3:] == [
        "j=null               : json                         # ",
        "t=null               : longtext                     # ",
        f"c                    : {heading['c'].type:<28} # ",
    ]


@needs_server
def test_hidden_attribute(server):
    ref_conn, conn, tables = server
    heading = _load_ours(conn, tables[3])
    hidden = [n for n in heading._attributes if n.startswith("_")]
    assert len(hidden) == 1 and hidden[0].endswith("_timestamp")
    assert heading.names == ["name", "value"]
    with pytest.raises(KeyError):
        heading[hidden[0]]


@needs_server
@pytest.mark.parametrize("table", sorted(RAW_TABLES))
def test_raw_tables(server, table):
    ref_conn, conn, _ = server
    expected = _load_ref(ref_conn, table, {})
    got = _load_ours(conn, table, {})
    if isinstance(expected, tuple):
        assert got == expected
    else:
        _assert_same_heading(got, expected)


@needs_server
def test_missing_adapters_fail_late(server):
    """An adapter missing from the context gets a placeholder that fails on use (as 0.14)."""
    ref_conn, conn, tables = server
    _assert_same_heading(_load_ours(conn, tables[1], {}), _load_ref(ref_conn, tables[1], {}))


@needs_server
def test_invalid_adapter_type(server):
    ref_conn, conn, tables = server
    ref_context, context = _ref_context(), _our_context()
    ref_context["graph"] = _adapter(ref_dj.AttributeAdapter, "no_such_type")
    context["graph"] = _adapter(OurAdapter, "no_such_type")
    expected = _load_ref(ref_conn, tables[1], ref_context)
    assert expected[0] == "raised"
    assert _load_ours(conn, tables[1], context) == expected


@needs_server
def test_switches_off(server, monkeypatch):
    ref_conn, conn, tables = server
    monkeypatch.setenv("DJ_SUPPORT_FILEPATH_MANAGEMENT", "FALSE")
    expected = _load_ref(ref_conn, tables[1], _ref_context())
    assert expected[0] == "raised"
    assert _load_ours(conn, tables[1], _our_context()) == expected
    monkeypatch.setenv("DJ_SUPPORT_FILEPATH_MANAGEMENT", "TRUE")
    monkeypatch.setenv("DJ_SUPPORT_ADAPTED_TYPES", "FALSE")  # adapters become placeholders
    _assert_same_heading(
        _load_ours(conn, tables[1], _our_context()), _load_ref(ref_conn, tables[1], _ref_context())
    )


@needs_server
def test_missing_table(server):
    ref_conn, conn, _ = server
    expected = _load_ref(ref_conn, "no_such_table")
    assert expected[0] == "raised"
    assert _load_ours(conn, "no_such_table") == expected


@needs_server
def test_lazy_loading(server):
    _, conn, tables = server
    conn.queries.clear()
    heading = OurHeading(
        table_info=dict(conn=conn, database=SCHEMA, table_name=tables[0], context=None)
    )
    assert conn.queries == []
    assert heading.table_status["comment"] == "experimental subjects"
    assert len(conn.queries) == 3  # status, columns, keys: once
    assert heading.primary_key == ["subject_id"] and len(conn.queries) == 3


@needs_server
def test_derived_headings_of_loaded_tables(server):
    ref_conn, conn, tables = server
    ours, ref = _load_ours(conn, tables[2]), _load_ref(ref_conn, tables[2])
    _assert_same_derived(ours, ref)


# --------------------------------------------------------------------------------------------
# derived headings, no server needed
# --------------------------------------------------------------------------------------------
SPECS = [
    dict(name="a", type="int", in_key=True, comment="key a", numeric=True, dtype=np.int64),
    dict(name="u", type="uuid", in_key=True, uuid=True, comment="key u"),
    dict(name="v", type="varchar(4)", comment="v", string=True, default='"x"'),
    dict(name="blob", type="longblob", comment="", is_blob=True),
    dict(name="att", type="attach", comment="", is_attachment=True),
    dict(name="j", type="json", json=True, comment="", nullable=True, default="null"),
    dict(name="n", type="float", numeric=True, comment="", dtype=np.float64),
    dict(name="_hidden", type="timestamp", is_hidden=True, comment=""),
]
OTHER = [
    dict(name="a", type="int", in_key=True, comment="key a", numeric=True, dtype=np.int64),
    dict(name="b", type="smallint", in_key=True, comment="key b", numeric=True),
    dict(name="w", type="double", comment="", numeric=True, dtype=np.float64),
]


def _pair(specs):
    ref_defaults = ref_dj.heading.default_attribute_properties
    return (
        OurHeading([dict(our_defaults, **s) for s in specs]),
        RefHeading([dict(ref_defaults, **s) for s in specs]),
    )


def _same(ours, ref):
    assert list(ours.attributes) == list(ref.attributes)
    for name, attr in ref.attributes.items():
        assert _comparable(ours[name]) == _comparable(attr), name
    assert repr(ours) == repr(ref)
    assert ours.as_dtype == ref.as_dtype
    assert (ours.table_status is None) == (ref.table_status is None)


def _assert_same_derived(ours, ref):
    names = ref.names
    _same(ours, ref)
    _same(ours.select(names[:2]), ref.select(names[:2]))
    renames = {"renamed": names[0], "again": names[0], "other": names[-1]}
    _same(ours.select(names[1:], rename_map=renames), ref.select(names[1:], rename_map=renames))
    computes = {"total": "`a` + 1", "label": "concat('x', `v`)"}
    projected = ours.select(names, rename_map=renames, compute_map=computes)
    ref_projected = ref.select(names, rename_map=renames, compute_map=computes)
    _same(projected, ref_projected)
    assert projected.new_attributes == ref_projected.new_attributes
    all_names = ref_projected.names
    assert projected.as_sql(all_names) == ref_projected.as_sql(all_names)
    assert projected.as_sql(all_names, include_aliases=False) == ref_projected.as_sql(
        all_names, include_aliases=False
    )
    _same(projected.make_subquery_heading(), ref_projected.make_subquery_heading())
    assert projected.table_status is None and projected.indexes is None
    key = names[-1:] + names[:1]
    _same(ours.set_primary_key(key), ref.set_primary_key(key))
    assert projected["renamed"].original_name == ref_projected["renamed"].original_name
    other, ref_other = _pair(OTHER)
    _same(ours.join(other), ref.join(ref_other))
    _same(other.join(ours), ref_other.join(ref))


def test_derived_headings():
    _assert_same_derived(*_pair(SPECS))


def test_attribute_properties():
    ours, ref = _pair(SPECS)
    for name in ref.names:
        for prop in ("sql_type", "sql_comment", "sql", "original_name"):
            assert getattr(ours[name], prop) == getattr(ref[name], prop), (name, prop)
        assert ours[name].todict() == dict(ours[name]._asdict())
    assert Attribute._fields == ref_dj.heading.Attribute._fields
    assert ours["u"].sql == '`u` binary(16) NOT NULL COMMENT ":uuid:key u"'
    assert ours["a"].sql_expression is None


def test_heading_sizes_and_extension():
    ours, _ = _pair(SPECS)
    assert len(ours) == 7 and bool(ours) and list(ours) == ours.names
    assert ours.blobs == ["blob"] and ours.non_blobs == ["a", "u", "v", "n"]
    assert not OurHeading() and len(OurHeading()) == 0
    assert not OurHeading([])
    extended = ours.extend_primary_key(["v"])
    assert extended.primary_key == ["a", "u", "v"]
    with pytest.raises(DataJointError, match="Attribute `zz` is not found"):
        ours.extend_primary_key(["zz"])
