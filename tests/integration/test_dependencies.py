"""datajoint_rs.dependencies.Dependencies against the reference datajoint 0.14.9 on a real server.

A two-schema pipeline (parts, renamed foreign keys, nullable and secondary foreign keys, a part
referencing another master's part, a cross-schema reference) is declared with the reference
package; both graphs are then loaded from the same server and compared: nodes and edges with
their attributes (in insertion order), topo_sort, parents / children / descendants / ancestors.

Needs DJ_HOST, DJ_USER, DJ_PASS (e.g. ``bash /work/shared/tools/start-mariadb.sh`` then
DJ_HOST=127.0.0.1 DJ_USER=root DJ_PASS=password); skipped otherwise.
"""

from __future__ import annotations

import os
import warnings

import networkx as nx
import pytest
from datajoint_rs.dependencies import Dependencies
from datajoint_rs.errors import DataJointError

if not all(os.environ.get(name) for name in ("DJ_HOST", "DJ_USER", "DJ_PASS")):
    pytest.skip("DJ_HOST, DJ_USER and DJ_PASS are not set", allow_module_level=True)

MySQLdb = pytest.importorskip("MySQLdb")
MySQLdb_cursors = pytest.importorskip("MySQLdb.cursors")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pyparsing deprecation warnings on import
    try:
        import datajoint as ref_dj
        from datajoint.dependencies import Dependencies as RefDependencies
    except ImportError:  # pragma: no cover
        pytest.skip("the reference datajoint 0.14.9 is not installed", allow_module_level=True)

pytestmark = pytest.mark.interop

SCHEMA_A = "djtest_dep_a"
SCHEMA_B = "djtest_dep_b"
SCHEMA_CYCLE = "djtest_dep_cycle"


def _server():
    host, _, port = os.environ["DJ_HOST"].partition(":")
    return host, int(port or 3306), os.environ["DJ_USER"], os.environ["DJ_PASS"]


class StandInConnection:
    """The part of datajoint_rs's connection that Dependencies uses: ``schemas`` and
    ``query(sql, args=(), *, as_dict=False)`` returning a mysqlclient cursor."""

    def __init__(self, schemas):
        host, port, user, password = _server()
        self._db = MySQLdb.connect(
            host=host, port=port, user=user, passwd=password, charset="utf8mb4"
        )
        self._db.autocommit(True)
        self.schemas = {name: object() for name in schemas}
        self.queries = []

    def query(self, sql, args=(), *, as_dict=False):
        self.queries.append((sql, args, as_dict))
        cursor = self._db.cursor(MySQLdb_cursors.DictCursor if as_dict else None)
        cursor.execute(sql, args)
        return cursor

    def close(self):
        self._db.close()


def _drop(db, *schemas):
    cursor = db.cursor()
    cursor.execute("SET FOREIGN_KEY_CHECKS=0")
    for name in schemas:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    cursor.execute("SET FOREIGN_KEY_CHECKS=1")


def _declare_pipeline(conn):
    """Declare the test pipeline with the reference package on its connection ``conn``."""
    dj = ref_dj
    a = dj.Schema(SCHEMA_A, connection=conn)
    b = dj.Schema(SCHEMA_B, connection=conn)

    @a
    class Lab(dj.Lookup):
        definition = """
        lab : varchar(16)
        """
        contents = [("north",), ("south",)]

    @a
    class Experimenter(dj.Lookup):
        definition = """
        -> Lab
        experimenter : varchar(16)
        ---
        full_name = '' : varchar(64)
        """

    @a
    class Device(dj.Lookup):
        definition = """
        device_id : smallint
        """

    @a
    class Subject(dj.Manual):
        definition = """
        subject_id : int
        ---
        -> Lab
        sex = 'U' : enum('F', 'M', 'U')
        """

    @a
    class Session(dj.Manual):
        definition = """
        -> Subject
        session_id : smallint
        ---
        -> [nullable] Experimenter
        -> Device
        session_note = '' : varchar(255)
        unique index (session_note)
        """

        class Trial(dj.Part):
            definition = """
            -> master
            trial_id : int
            ---
            outcome : tinyint
            """

        class Channel(dj.Part):
            definition = """
            -> master
            channel : tinyint
            ---
            -> Device.proj(channel_device='device_id')
            """

    @a
    class SessionNote(dj.Manual):
        definition = """
        -> Session
        ---
        note : varchar(255)
        """

    @a
    class Pair(dj.Manual):
        definition = """
        -> Subject.proj(subject_a='subject_id')
        -> Subject.proj(subject_b='subject_id')
        ---
        relation : varchar(32)
        """

    @b
    class Param(dj.Lookup):
        definition = """
        param_id : int
        ---
        value : float
        """

    @b
    class Analysis(dj.Computed):
        definition = """
        -> Session
        -> Param
        ---
        result : float
        """

        class Unit(dj.Part):
            definition = """
            -> master
            -> Session.Channel
            unit : int
            """

        class TrialScore(dj.Part):
            definition = """
            -> master
            -> Session.Trial
            ---
            score : float
            """

        def make(self, key):  # pragma: no cover - never populated
            pass

    @b
    class Comparison(dj.Computed):
        definition = """
        -> Pair
        -> Analysis.proj(ref_session='session_id')
        ---
        -> [nullable] Subject.proj(reference_subject='subject_id')
        distance : float
        """

        def make(self, key):  # pragma: no cover
            pass

    @b
    class Report(dj.Manual):
        definition = """
        report_id : int
        ---
        -> [nullable] Comparison
        -> Param
        """

    @a
    class Review(dj.Manual):  # a table of the first schema declared after the second's
        definition = """
        -> Session
        review_no : tinyint
        ---
        -> [nullable] Report
        """


@pytest.fixture(scope="module")
def pipeline():
    host, port, user, password = _server()
    admin = MySQLdb.connect(host=host, port=port, user=user, passwd=password)
    _drop(admin, SCHEMA_A, SCHEMA_B, SCHEMA_CYCLE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_conn = ref_dj.Connection(f"{host}:{port}", user, password)
        _declare_pipeline(ref_conn)
    try:
        yield ref_conn
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref_conn.close()
        _drop(admin, SCHEMA_A, SCHEMA_B, SCHEMA_CYCLE)
        admin.close()


@pytest.fixture(scope="module")
def graphs(pipeline):
    """(ours, reference), both loaded from the server."""
    ref = RefDependencies(pipeline)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.load()
    conn = StandInConnection(list(pipeline.schemas))
    ours = Dependencies(conn)
    ours.load()
    yield ours, ref
    conn.close()


def _tables(graph):
    return [node for node in graph if not node.isdigit()]


def _assert_same_graph(ours, ref):
    assert list(ours.nodes(data=True)) == list(ref.nodes(data=True))
    assert list(ours.edges(data=True)) == list(ref.edges(data=True))
    # adjacency orders (they decide the tie-breaks of topological sorting)
    for node in ref:
        assert list(ours.predecessors(node)) == list(ref.predecessors(node))
        assert list(ours.successors(node)) == list(ref.successors(node))


def test_pipeline_is_rich_enough(graphs):
    ours, _ = graphs
    data = [d for _, _, d in ours.edges(data=True)]
    assert any(d["aliased"] for d in data)
    assert any(not d["primary"] for d in data)
    assert any(d["primary"] and not d["multi"] for d in data)
    assert any(d["primary"] and d["multi"] for d in data)
    aliases = [node for node in ours if node.isdigit()]
    assert aliases and sorted(map(int, aliases)) == list(range(len(aliases)))
    assert f"`{SCHEMA_B}`.`__analysis__unit`" in ours
    assert f"`{SCHEMA_A}`.`session__channel`" in ours
    assert f"`{SCHEMA_A}`.`#lab`" in ours
    # the jobs table (~jobs) is hidden
    assert not any("~" in node for node in ours)


def test_nodes_and_edges(graphs):
    _assert_same_graph(*graphs)


def test_primary_keys(graphs):
    ours, _ = graphs
    assert ours.nodes[f"`{SCHEMA_A}`.`session`"]["primary_key"] == {"subject_id", "session_id"}
    assert ours.nodes[f"`{SCHEMA_A}`.`pair`"]["primary_key"] == {"subject_a", "subject_b"}


def test_renamed_foreign_keys_go_through_alias_nodes(graphs):
    ours, _ = graphs
    pair = f"`{SCHEMA_A}`.`pair`"
    subject = f"`{SCHEMA_A}`.`subject`"
    aliases = list(ours.predecessors(pair))
    assert len(aliases) == 2 and all(a.isdigit() for a in aliases)
    maps = sorted(tuple(ours.edges[a, pair]["attr_map"].items()) for a in aliases)
    assert maps == [(("subject_a", "subject_id"),), (("subject_b", "subject_id"),)]
    for alias in aliases:
        assert list(ours.predecessors(alias)) == [subject]
        assert ours.edges[subject, alias] == ours.edges[alias, pair]
        assert ours.edges[alias, pair]["aliased"] and ours.edges[alias, pair]["primary"]


def test_topo_sort(graphs):
    ours, ref = graphs
    order = ours.topo_sort()
    assert order == ref.topo_sort()
    assert sorted(order) == sorted(_tables(ours))
    master = order.index(f"`{SCHEMA_B}`.`__analysis`")
    assert order[master + 1 : master + 3] == [
        f"`{SCHEMA_B}`.`__analysis__unit`",
        f"`{SCHEMA_B}`.`__analysis__trial_score`",
    ]


@pytest.mark.parametrize("primary", [None, True, False])
def test_parents_and_children(graphs, primary):
    ours, ref = graphs
    for node in ref:
        assert ours.parents(node, primary) == ref.parents(node, primary)
        assert ours.children(node, primary) == ref.children(node, primary)
        assert list(ours.parents(node, primary)) == list(ref.parents(node, primary))
        assert list(ours.children(node, primary=primary)) == list(
            ref.children(node, primary=primary)
        )


def test_descendants_and_ancestors(graphs):
    ours, ref = graphs
    for node in _tables(ref):
        assert ours.descendants(node) == ref.descendants(node)
        assert list(ours.ancestors(node)) == list(ref.ancestors(node))
    lab = f"`{SCHEMA_A}`.`#lab`"
    assert ours.descendants(lab)[0] == lab
    assert list(ours.ancestors(lab)) == [lab]


def test_load_not_forced_keeps_graph(graphs):
    ours, _ = graphs
    conn = ours._conn
    before = len(conn.queries)
    ours.load(force=False)
    ours.parents(f"`{SCHEMA_A}`.`session`")
    assert len(conn.queries) == before


def test_reload_renumbers_alias_nodes_like_reference(pipeline):
    ref = RefDependencies(pipeline)
    conn = StandInConnection(list(pipeline.schemas))
    ours = Dependencies(conn)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref.load()
            ref.load()
        ours.load()
        ours.load()
        _assert_same_graph(ours, ref)
        assert min(int(n) for n in ours if n.isdigit()) > 0  # the counter is never reset
        ours.clear()
        assert len(ours) == 0
        ours.parents(f"`{SCHEMA_A}`.`session`")  # reloads on demand
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref.clear()
            ref.parents(f"`{SCHEMA_A}`.`session`")
        _assert_same_graph(ours, ref)
    finally:
        conn.close()


def test_single_schema_keeps_outside_references(pipeline):
    """Loading only the second schema still brings in its edges from the first one."""
    ref = RefDependencies(pipeline)
    saved = dict(pipeline.schemas)
    conn = StandInConnection([SCHEMA_B])
    try:
        pipeline.schemas.clear()
        pipeline.schemas[SCHEMA_B] = saved[SCHEMA_B]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref.load()
        ours = Dependencies(conn)
        ours.load()
        _assert_same_graph(ours, ref)
        assert ours.topo_sort() == ref.topo_sort()
        session = f"`{SCHEMA_A}`.`session`"
        assert session in ours and "primary_key" not in ours.nodes[session]
    finally:
        pipeline.schemas.clear()
        pipeline.schemas.update(saved)
        conn.close()


def test_no_schemas():
    conn = StandInConnection([])
    try:
        deps = Dependencies(conn)
        deps.load()
        assert len(deps) == 0 and deps.topo_sort() == []
    finally:
        conn.close()


def test_cycle_raises(pipeline):
    host, port, user, password = _server()
    db = MySQLdb.connect(host=host, port=port, user=user, passwd=password)
    conn = StandInConnection([SCHEMA_CYCLE])
    try:
        cursor = db.cursor()
        cursor.execute(f"CREATE DATABASE `{SCHEMA_CYCLE}`")
        cursor.execute(f"CREATE TABLE `{SCHEMA_CYCLE}`.`x` (a INT PRIMARY KEY, b INT)")
        cursor.execute(f"CREATE TABLE `{SCHEMA_CYCLE}`.`y` (b INT PRIMARY KEY, a INT)")
        cursor.execute(
            f"ALTER TABLE `{SCHEMA_CYCLE}`.`x` ADD FOREIGN KEY (b) REFERENCES `{SCHEMA_CYCLE}`.`y` (b)"
        )
        cursor.execute(
            f"ALTER TABLE `{SCHEMA_CYCLE}`.`y` ADD FOREIGN KEY (a) REFERENCES `{SCHEMA_CYCLE}`.`x` (a)"
        )
        deps = Dependencies(conn)
        with pytest.raises(DataJointError, match="acyclic"):
            deps.load()
        assert not nx.is_directed_acyclic_graph(deps)
        with pytest.raises(DataJointError):
            deps.load(force=False)  # not marked loaded: tries again
    finally:
        _drop(db, SCHEMA_CYCLE)
        db.close()
        conn.close()
