"""datajoint_rs.dependencies without a database: unite_master_parts / extract_master / topo_sort,
and Dependencies.load fed canned catalog rows by a fake connection. Where the reference
datajoint 0.14.9 is installed, the same inputs are compared with it (hypothesis)."""

from __future__ import annotations

import warnings

import networkx as nx
import pytest
from datajoint_rs import dependencies as deps
from datajoint_rs.errors import DataJointError
from hypothesis import given
from hypothesis import strategies as st

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pyparsing deprecation warnings on import
    try:
        import datajoint.dependencies as ref
    except ImportError:  # pragma: no cover
        ref = None

skip_without_ref = pytest.mark.skipif(
    ref is None, reason="the reference datajoint 0.14.9 is not installed"
)


# ------------------------------------------------------------------------- unite_master_parts
def test_unite_master_parts_example():
    names = ["a", "a__q", "b", "c", "c__q", "b__q", "d", "a__r"]
    lst = [f"`s`.`{n}`" for n in names]
    out = deps.unite_master_parts(lst)
    assert out is lst  # reordered in place
    assert out == [f"`s`.`{n}`" for n in ["a", "a__q", "a__r", "b", "b__q", "c", "c__q", "d"]]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ([], []),
        (["a"], ["a"]),
        (["b", "a__p"], ["b", "a__p"]),  # the first two positions are never moved
        (["a", "b", "a__p"], ["a", "a__p", "b"]),
        (["x", "b", "a__p"], ["x", "b", "a__p"]),  # master absent: stays
        (["#a", "b", "c", "#a__p", "#a__q"], ["#a", "#a__p", "#a__q", "b", "c"]),
        (["__a", "b", "__a__p"], ["__a", "__a__p", "b"]),
        (["a", "b", "c", "b__p", "a__p"], ["a", "a__p", "b", "b__p", "c"]),
    ],
)
def test_unite_master_parts_cases(before, after):
    assert deps.unite_master_parts([f"`s`.`{n}`" for n in before]) == [f"`s`.`{n}`" for n in after]


def test_unite_master_parts_other_schema_is_not_master():
    lst = ["`s`.`a`", "`t`.`b`", "`t`.`a__p`"]
    assert deps.unite_master_parts(list(lst)) == lst


@given(st.lists(st.sampled_from(["a", "b", "#c", "a__p", "a__q", "#c__p", "__d__p", "__d"])))
def test_unite_master_parts_is_a_permutation(names):
    lst = [f"`s`.`{n}`" for n in names]
    assert sorted(deps.unite_master_parts(list(lst))) == sorted(lst)


# ------------------------------------------------------------------------------ extract_master
@pytest.mark.parametrize(
    ("name", "master"),
    [
        ("`s`.`a__p`", "`s`.`a`"),
        ("`s`.`#a__p`", "`s`.`#a`"),
        ("`s`.`_a__p`", "`s`.`_a`"),
        ("`s`.`__a__p`", "`s`.`__a`"),
        ("`s`.`a__p__q`", "`s`.`a__p`"),
        ("`s`.`a`", None),
        ("`s`.`__a`", None),
        ("`s`.`#a`", None),
        ("1", None),
        ("a__p", None),
    ],
)
def test_extract_master(name, master):
    assert deps.extract_master(name) == master
    if ref is not None:
        assert ref.extract_master(name) == master


# ------------------------------------------------------------------------------- topo_sort
POOL = ["a", "a__p", "a__q", "#b", "#b__p", "_c", "_c__p", "__d", "__d__p", "e", "f__p"]
NAMES = [f"`{s}`.`{t}`" for s in ("s", "t") for t in POOL]


@st.composite
def dags(draw):
    """A graph like a dependency graph: table nodes, alias nodes '0', '1'... on some edges."""
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=14))
    graph = deps.Dependencies()
    graph.add_nodes_from(names)
    # parents mostly before children; parts usually reference their masters
    pairs = [(i, j) for i in range(len(names)) for j in range(len(names)) if i < j]
    edges = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=25)) if pairs else []
    for j, name in enumerate(names):
        master = deps.extract_master(name)
        if master in names and draw(st.booleans()):
            edges.append((names.index(master), j))
    alias = 0
    for i, j in edges:
        if draw(st.integers(0, 3)) == 0:
            graph.add_edge(names[i], str(alias))
            graph.add_edge(str(alias), names[j])
            alias += 1
        else:
            graph.add_edge(names[i], names[j])
    graph._loaded = True  # built by hand: no connection to load from
    return graph


def _outcome(fn, *args):
    try:
        return fn(*args)
    except nx.NetworkXUnfeasible as exc:  # merging parts into masters can make a cycle
        return type(exc)


def test_topo_sort_parts_follow_masters():
    graph = nx.DiGraph()
    s = "`s`.`{}`".format
    graph.add_edges_from(
        [
            (s("a"), s("a__p")),
            (s("b"), s("c")),
            (s("c"), "0"),
            ("0", s("a__q")),
            (s("a"), s("a__q")),
        ]
    )
    graph.add_node("1")  # a disconnected alias node
    order = deps.topo_sort(graph)
    # c feeds a part of a, so a (and its parts) come after c
    assert order == [s("b"), s("c"), s("a"), s("a__p"), s("a__q")]
    assert "0" not in order and "1" not in order
    assert order.index(s("c")) < order.index(s("a__q"))
    assert order.index(s("a")) + 1 == order.index(s("a__p"))
    assert order.index(s("a")) + 2 == order.index(s("a__q"))
    assert len(graph) == 7  # the input graph is not modified


@pytest.mark.interop
@skip_without_ref
@given(dags())
def test_topo_sort_matches_reference(graph):
    assert _outcome(deps.topo_sort, graph) == _outcome(ref.topo_sort, graph)
    assert _outcome(graph.topo_sort) == _outcome(ref.topo_sort, graph)
    for node in graph:
        if node.isdigit():
            continue
        assert _outcome(graph.descendants, node) == _outcome(
            ref.Dependencies.descendants, graph, node
        )
        theirs = _outcome(ref.Dependencies.ancestors, graph, node)
        ours = _outcome(graph.ancestors, node)
        if isinstance(theirs, type):
            assert ours is theirs
        else:
            assert list(ours) == list(theirs)


# ------------------------------------------------------------------- load with a fake server
class FakeConnection:
    """Serves canned information_schema rows; records the queries."""

    def __init__(self, schemas, pk_rows, fk_rows):
        self.schemas = dict.fromkeys(schemas)
        self.pk_rows = pk_rows
        self.fk_rows = fk_rows
        self.queries = []

    def query(self, sql, args=(), *, as_dict=False):
        self.queries.append((sql, args, as_dict))
        if '"PRIMARY"' in sql:
            assert not as_dict
            return iter(self.pk_rows)
        assert as_dict
        return iter(self.fk_rows)


def _fk_row(name, child, parent, column, referenced):
    # MySQL 8 spells information_schema column names in capitals
    return {
        "CONSTRAINT_NAME": name,
        "referencing_table": child,
        "referenced_table": parent,
        "COLUMN_NAME": column,
        "REFERENCED_COLUMN_NAME": referenced,
    }


def test_load_small():
    s = "`s`.`{}`".format
    pk_rows = [(s("a"), "x"), (s("b"), "x"), (s("b"), "y"), (s("c"), "z")]
    fk_rows = [
        _fk_row("f1", s("b"), s("a"), "x", "x"),
        _fk_row("f2", s("c"), s("a"), "w", "x"),
        _fk_row("f3", s("c"), "`t`.`o`", "z", "z"),
    ]
    conn = FakeConnection(["s"], pk_rows, fk_rows)
    graph = deps.Dependencies(conn)
    graph.load()
    assert graph.nodes[s("b")]["primary_key"] == {"x", "y"}
    assert graph.edges[s("a"), s("b")] == {
        "primary": True,
        "attr_map": {"x": "x"},
        "aliased": False,
        "multi": True,
    }
    assert graph.edges[s("a"), "0"] == graph.edges["0", s("c")]
    assert graph.edges["0", s("c")] == {
        "primary": False,
        "attr_map": {"w": "x"},
        "aliased": True,
        "multi": True,
    }
    assert graph.edges["`t`.`o`", s("c")]["multi"] is False
    assert graph.parents(s("c"), primary=True) == {"`t`.`o`": graph.edges["`t`.`o`", s("c")]}
    assert list(graph.parents(s("c"), primary=False)) == ["0"]
    assert list(graph.children(s("a"))) == [s("b"), "0"]
    order = graph.topo_sort()
    assert sorted(order) == sorted([s("a"), s("b"), s("c"), "`t`.`o`"])
    assert order.index(s("a")) < order.index(s("b")) and order.index("`t`.`o`") < order.index(
        s("c")
    )
    assert graph.descendants(s("a"))[0] == s("a")
    assert set(graph.descendants(s("a"))) == {s("a"), s("b"), s("c")}
    assert list(graph.ancestors(s("c")))[0] == s("c")
    # the schema names are bound as parameters, twice in the foreign-key query
    assert [q[1] for q in conn.queries] == [("s",), ("s", "s")]
    n_queries = len(conn.queries)
    graph.load(force=False)
    assert len(conn.queries) == n_queries
    graph.load()
    assert sorted(n for n in graph if n.isdigit()) == ["1"]  # the alias counter goes on


def test_load_without_schemas_binds_an_empty_name():
    conn = FakeConnection([], [], [])
    graph = deps.Dependencies(conn)
    graph.load()
    assert len(graph) == 0
    assert [q[1] for q in conn.queries] == [("",), ("", "")]


def test_load_cycle():
    s = "`s`.`{}`".format
    conn = FakeConnection(
        ["s"],
        [(s("a"), "x"), (s("b"), "y")],
        [_fk_row("f1", s("b"), s("a"), "x", "x"), _fk_row("f2", s("a"), s("b"), "y", "y")],
    )
    graph = deps.Dependencies(conn)
    with pytest.raises(DataJointError, match="acyclic"):
        graph.load()
    assert graph._loaded is False


def test_empty_constructor_and_views():
    graph = deps.Dependencies()
    graph.add_edge("`s`.`a`", "`s`.`b`")
    view = graph.subgraph(["`s`.`b`"])
    assert isinstance(view, deps.Dependencies)
    assert view.topo_sort() == ["`s`.`b`"]
    assert isinstance(graph.copy(), deps.Dependencies)


COLUMNS = ["x", "y", "z", "w"]


@st.composite
def catalogs(draw):
    """(schemas, pk rows, fk rows) as the server could list them, in a drawn order."""
    tables = draw(st.lists(st.sampled_from(NAMES), unique=True, min_size=1, max_size=10))
    outside = draw(st.lists(st.sampled_from(["`u`.`o`", "`u`.`#p`", "`u`.`o__p`"]), unique=True))
    keys = {t: draw(st.lists(st.sampled_from(COLUMNS), unique=True, min_size=1)) for t in tables}
    pk_rows = [(t, c) for t in tables for c in keys[t]]
    pk_rows = draw(st.permutations(pk_rows))
    fk_rows = []
    everything = tables + outside
    for k in range(draw(st.integers(0, 14))):
        child = draw(st.sampled_from(everything))
        earlier = everything[: everything.index(child)] + outside
        if earlier and draw(st.integers(0, 5)):  # mostly acyclic, sometimes anything
            parent = draw(st.sampled_from(earlier))
        else:
            parent = draw(st.sampled_from(everything))
        parent_key = keys.get(parent, ["x", "y"])
        n = draw(st.integers(1, len(parent_key)))
        for referenced in parent_key[:n]:
            column = draw(st.sampled_from([referenced, referenced, *COLUMNS, "v"]))
            fk_rows.append(_fk_row(f"fk{k % 4}", child, parent, column, referenced))
    fk_rows = draw(st.permutations(fk_rows))
    schemas = sorted({t.split("`")[1] for t in tables})
    return schemas, pk_rows, fk_rows


def _same_graph(ours, theirs):
    assert list(ours.nodes(data=True)) == list(theirs.nodes(data=True))
    assert list(ours.edges(data=True)) == list(theirs.edges(data=True))
    for node in theirs:
        assert list(ours.predecessors(node)) == list(theirs.predecessors(node))
        assert list(ours.successors(node)) == list(theirs.successors(node))


@pytest.mark.interop
@skip_without_ref
@given(catalogs(), st.booleans())
def test_load_matches_reference(catalog, twice):
    ours = deps.Dependencies(FakeConnection(*catalog))
    theirs = ref.Dependencies(FakeConnection(*catalog))
    for _ in range(1 + twice):
        outcomes = []
        for graph in (ours, theirs):
            try:
                graph.load()
                outcomes.append(None)
            except DataJointError:
                outcomes.append("cycle")
            except Exception as exc:  # the reference raises its own DataJointError class
                outcomes.append("cycle" if type(exc).__name__ == "DataJointError" else exc)
        assert outcomes[0] == outcomes[1]
    _same_graph(ours, theirs)
    if outcomes[0] is not None:
        return
    assert _outcome(ours.topo_sort) == _outcome(theirs.topo_sort)
    for node in theirs:
        for primary in (None, True, False):
            assert list(ours.parents(node, primary).items()) == list(
                theirs.parents(node, primary).items()
            )
            assert list(ours.children(node, primary).items()) == list(
                theirs.children(node, primary).items()
            )
