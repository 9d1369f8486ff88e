"""Rules of the cascading delete and the Diagram algebra that need no database: part/master
integrity, the summary shown before "Commit deletes?", when a restriction must be read
before deleting, and +n / -n over renamed-reference (alias) nodes on a hand-built graph."""

from __future__ import annotations

import networkx as nx
import pytest
from datajoint_rs import table as table_module
from datajoint_rs.condition import AndList
from datajoint_rs.dependencies import Dependencies
from datajoint_rs.diagram import Diagram
from datajoint_rs.errors import DataJointError

A, B, C, P = "`s`.`a`", "`s`.`b`", "`s`.`c`", "`s`.`a__p`"


def test_part_without_master_is_refused():
    with pytest.raises(DataJointError, match="before deleting from its master `s`.`a`"):
        table_module._check_part_integrity(B, {B: 3, P: 2, A: 0})
    table_module._check_part_integrity(A, {A: 0, P: 2})  # the top table counts as deleted
    table_module._check_part_integrity(B, {B: 3, P: 2, A: 1})
    table_module._check_part_integrity(B, {B: 3, P: 0, A: 0})  # no part rows went


def test_summary_lists_tables_with_rows_in_deletion_order():
    text = table_module._deletion_summary({C: 4, B: 0, A: 1})
    assert text.splitlines() == [f"Deleting 4 rows from {C}", f"Deleting 1 rows from {A}"]


class _Restricted:
    """Just what _reads_dependents looks at: a name and rendered conditions."""

    def __init__(self, name, *conditions):
        self.full_table_name = name
        self.restriction = AndList(conditions)


def _graph():
    graph = Dependencies()
    graph.add_edge(A, B, primary=True, attr_map={"x": "x"}, aliased=False, multi=True)
    graph.add_edge(B, C, primary=True, attr_map={"x": "x"}, aliased=False, multi=True)
    graph.add_node("`t`.`other`")
    return graph


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ((), False),
        (("x = 1",), False),
        (("(`x`) in (SELECT `x` FROM `t`.`other`)",), False),
        (("(`x`) in (SELECT `x` FROM `s`.`c` WHERE y = 2)",), True),  # a dependent
        (("x = 1", "x in (select x from s.b)"), True),  # written by hand
        (("(`x`) in (SELECT `x` FROM `s`.`a`)",), False),  # itself: deleted last
    ],
)
def test_restriction_reading_a_dependent_is_read_first(conditions, expected):
    assert table_module._reads_dependents(_Restricted(A, *conditions), _graph()) is expected


def _diagram():
    """a -> b -> c, and b -> alias '0' -> d (a renamed reference)."""
    graph = _graph()
    graph.add_edge(B, "0", primary=False, attr_map={"y": "x"}, aliased=True, multi=True)
    graph.add_edge("0", "`s`.`d`", primary=False, attr_map={"y": "x"}, aliased=True, multi=True)
    diagram = Diagram()
    diagram.add_edges_from(graph.edges(data=True))
    diagram.add_nodes_from(graph.nodes(data=True))
    diagram.nodes_to_show = {B}
    return diagram


def test_diagram_levels_step_over_alias_nodes():
    d = _diagram()
    assert (d + 1).nodes_to_show == {B, C, "0", "`s`.`d`"}
    assert ((d + 1) * Diagram(d)).nodes_to_show == {B}
    up = Diagram(d)
    up.nodes_to_show = {"`s`.`d`"}
    assert (up - 1).nodes_to_show == {"`s`.`d`", "0", B}
    assert (up - 5).nodes_to_show == {"`s`.`d`", "0", B, A}
    assert d.nodes_to_show == {B}  # operators return new diagrams
    with pytest.raises(DataJointError):
        d + 1.5


def test_diagram_topo_sort_and_graph():
    d = _diagram()
    d.nodes_to_show = {A, B, C, "`s`.`d`"}
    assert d.topo_sort() == [A, B, C, "`s`.`d`"] or d.topo_sort() == [A, B, "`s`.`d`", C]
    graph = d._make_graph()
    assert set(graph) == {A, B, C, "`s`.`d`", "0"}  # the alias between two shown tables
    assert nx.is_directed_acyclic_graph(graph)
    d.nodes_to_show = {A, C}
    assert set(d._make_graph()) == {A, C}  # a table between shown ones is not drawn
