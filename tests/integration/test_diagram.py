"""dj.Diagram and graph navigation (parents, children, ancestors, descendants, parts) on a
real two-schema pipeline, compared with datajoint 0.14.9 on the same schemas."""

from __future__ import annotations

import os
import types
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

needs_ref = pytest.mark.skipif(ref is None, reason="the reference datajoint 0.14.9 is missing")


def _configure(package):
    package.config["database.host"] = os.environ["DJ_HOST"]
    package.config["database.user"] = os.environ.get("DJ_USER", "root")
    package.config["database.password"] = os.environ.get("DJ_PASS", "password")


@pytest.fixture(scope="module")
def pipeline():
    _configure(dj)
    prefix = f"djtest_diagram_{os.getpid()}"
    module = ps.load_pipeline(dj, prefix)
    yield module
    for suffix in ("_b", "_a"):
        dj.conn().query(f"DROP DATABASE IF EXISTS `{prefix}{suffix}`")


@pytest.fixture(scope="module")
def reference(pipeline):
    """datajoint 0.14.9's classes for the same two schemas (a, b)."""
    if ref is None:
        pytest.skip("the reference datajoint 0.14.9 is not installed")
    _configure(ref)
    ref.config["database.use_tls"] = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = ref.VirtualModule("ref_a", pipeline.schema_a.database)
        b = ref.VirtualModule("ref_b", pipeline.schema_b.database)
    return a, b


def _name(module, table):
    return f"`{module.schema_a.database}`.`{table}`"


def _b(module, table):
    return f"`{module.schema_b.database}`.`{table}`"


def _shown(diagram):
    """The shown nodes, each alias node of a renamed reference written as the pair of tables
    it connects (alias numbers differ between processes)."""
    out = set()
    for node in diagram.nodes_to_show:
        if node.isdigit():
            (parent,) = diagram.predecessors(node)
            (child,) = diagram.successors(node)
            node = (parent, child)
        out.add(node)
    return out


def _tables(diagram):
    return {n for n in diagram.nodes_to_show if not n.isdigit()}


def _without_aliases(graph):
    """Edges with every alias node of a renamed foreign key replaced by a labelled direct
    edge (alias numbers differ between processes)."""
    edges = set()
    for u, v in graph.edges():
        if str(u).isdigit():
            continue
        if str(v).isdigit():
            for _, w in graph.out_edges(v):
                edges.add((u, w, "renamed"))
        else:
            edges.add((u, v, ""))
    return edges


# ---- sources and algebra --------------------------------------------------------------------
def test_sources(pipeline):
    a_tables = {
        "#lab", "subject", "session", "session__trial", "_scan", "pair", "note"
    }  # fmt: skip
    assert _shown(dj.Diagram(pipeline.schema_a)) == {_name(pipeline, t) for t in a_tables}
    assert _shown(dj.Diagram(pipeline.Session)) == {_name(pipeline, "session")}
    assert _shown(dj.Diagram(pipeline.Session())) == {_name(pipeline, "session")}
    module = types.ModuleType("holder")
    module.schema = pipeline.schema_b
    assert _shown(dj.Diagram(module)) == {
        _b(pipeline, t) for t in ("#param", "__analysis", "__analysis__unit", "summary", "detail")
    }
    assert dj.ERD is dj.Diagram and dj.Di is dj.Diagram
    both = dj.Diagram.from_sequence([pipeline.schema_a, pipeline.schema_b])
    assert len(both.nodes_to_show) == 12


def test_algebra(pipeline):
    d = dj.Diagram
    session = _name(pipeline, "session")
    assert _shown(d(pipeline.Session) + 1) == {
        session,
        _name(pipeline, "session__trial"),
        _name(pipeline, "_scan"),
        _name(pipeline, "note"),
    }
    # one level up passes through the alias node of the renamed reference (buddy)
    subject = _name(pipeline, "subject")
    assert _shown(d(pipeline.Session) - 1) == {session, subject, (subject, session)}
    assert _tables(d(pipeline.Pair) - 1) == {_name(pipeline, "pair"), subject}
    assert _shown(d(pipeline.Session) + pipeline.Param) == {session, _b(pipeline, "#param")}
    everything = d(pipeline.schema_a) + d(pipeline.schema_b)
    assert _shown(everything - d(pipeline.schema_a)) == _shown(d(pipeline.schema_b))
    assert _shown(everything * d(pipeline.Scan)) == {_name(pipeline, "_scan")}
    assert _shown(everything - pipeline.Detail) == _shown(everything) - {_b(pipeline, "detail")}
    assert _shown(d(pipeline.Analysis).add_parts()) == {
        _b(pipeline, "__analysis"),
        _b(pipeline, "__analysis__unit"),
    }
    assert _tables(d(pipeline.Detail) - 100) == {
        _b(pipeline, t) for t in ("detail", "summary", "__analysis", "#param")
    } | {_name(pipeline, t) for t in ("_scan", "session", "subject", "#lab")}
    with pytest.raises(dj.DataJointError):
        d(pipeline.Session) + "Subject"
    with pytest.raises(dj.DataJointError):
        dj.Diagram(42)


ALGEBRA = [
    lambda d, m: d(m.Session) + 1,
    lambda d, m: d(m.Session) - 1,
    lambda d, m: d(m.Session) + 1 - 1,
    lambda d, m: d(m.Session) - 1 + 1,
    lambda d, m: d(m.Pair) - 1,
    lambda d, m: d(m.Subject) + 2,
    lambda d, m: d(m.Subject) + 10,
    lambda d, m: d(m.Detail) - 3,
    lambda d, m: d(m.Analysis) - 1 + 1,
    lambda d, m: d(m.Session).add_parts(),
    lambda d, m: d(m.Analysis).add_parts() - 1,
    lambda d, m: (d(m.Subject) + 3) * (d(m.Detail) - 4),
    lambda d, m: d(m.Scan) + d(m.Note) - d(m.Note),
]


@needs_ref
@pytest.mark.interop
@pytest.mark.parametrize("expression", ALGEBRA)
def test_algebra_same_as_datajoint(pipeline, reference, expression):
    ours_module = types.SimpleNamespace(**{**vars(pipeline)})
    ref_module = types.SimpleNamespace(**{**vars(reference[0]), **vars(reference[1])})
    ours = expression(dj.Diagram, ours_module)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = expression(ref.Diagram, ref_module)
    assert _shown(ours) == _shown(theirs)


@needs_ref
@pytest.mark.interop
def test_graph_and_order_same_as_datajoint(pipeline, reference):
    ours = dj.Diagram(pipeline.schema_a, context={}) + dj.Diagram(pipeline.schema_b, context={})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = ref.Diagram(reference[0].schema, context={}) + ref.Diagram(
            reference[1].schema, context={}
        )
    ours_graph, their_graph = ours._make_graph(), theirs._make_graph()
    assert _without_aliases(ours_graph) == _without_aliases(their_graph)
    assert {n for n in ours_graph if not n.isdigit()} == {n for n in their_graph if not n.isdigit()}
    assert sum(n.isdigit() for n in ours_graph) == sum(n.isdigit() for n in their_graph) == 3
    assert ours.topo_sort() == [n for n in theirs.topo_sort() if n in theirs.nodes_to_show]
    for name in ours_graph:
        if not name.isdigit():
            assert (
                ours_graph.nodes[name]["distinguished"] == their_graph.nodes[name]["distinguished"]
            ), name


# ---- rendering --------------------------------------------------------------------------------
def _dot_nodes(dot):
    """label text -> node attributes of a pydot graph."""
    out = {}
    for node in dot.get_nodes():
        attrs = node.get_attributes()
        label = attrs.get("label", "")
        text = label.replace("<u>", "").replace("</u>", "").strip("<>")
        out[text] = dict(attrs, underlined="<u>" in label, id=node.get_name())
    return out


def test_make_dot_styles_tiers(pipeline):
    context = vars(pipeline)
    diagram = dj.Diagram(pipeline.schema_a, context) + dj.Diagram(pipeline.schema_b, context)
    dot = diagram.make_dot()
    nodes = _dot_nodes(dot)
    names = {n for n in nodes if not n.isdigit()}
    assert names == set(ps.TABLES)  # class names from the context
    assert nodes["Subject"]["shape"] == "box"  # Manual
    assert nodes["Lab"]["shape"] == "plaintext"  # Lookup
    assert nodes["Scan"]["shape"] == "ellipse" and nodes["Scan"]["fontcolor"] == "#00007FA0"
    assert nodes["Analysis"]["shape"] == "ellipse"  # Computed
    assert nodes["Analysis"]["fontcolor"] == "#7F0000A0"
    assert nodes["Session.Trial"]["shape"] == "plaintext"  # Part
    assert sum(n.isdigit() for n in nodes) == 3  # the renamed references
    assert nodes["Session"]["underlined"] and not nodes["Pair"]["underlined"]
    assert not nodes["Analysis"]["underlined"]  # its key comes from its parents
    assert "session" in nodes["Session"]["tooltip"]
    ids = {attrs["id"]: name for name, attrs in nodes.items()}
    edges = {
        (ids[e.get_source()], ids[e.get_destination()]): e.get_attributes() for e in dot.get_edges()
    }
    assert edges[("Subject", "Session")]["style"] == "solid"
    assert edges[("Lab", "Subject")]["style"] == "dashed"  # a secondary (nullable) reference
    assert edges[("Session", "Note")]["style"] == "dashed"
    assert edges[("Session", "Session.Trial")]["weight"] == "3"  # master -> part
    # thin: one session has many scans (a thick line would be one-to-one)
    assert edges[("Session", "Scan")]["penwidth"] == "0.75"


def test_save_and_show(pipeline, tmp_path):
    context = vars(pipeline)
    diagram = dj.Diagram(pipeline.schema_a, context) + dj.Diagram(pipeline.schema_b, context)
    png, svg = tmp_path / "pipeline.png", tmp_path / "pipeline.svg"
    diagram.save(str(png))
    diagram.save(str(svg))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = svg.read_text()
    assert "<svg" in text and "Session.Trial" in text and "Analysis.Unit" in text
    assert diagram._repr_svg_().lstrip().startswith(("<?xml", "<svg"))
    diagram.save(str(tmp_path / "other"), format="png")
    with pytest.raises(dj.DataJointError, match="Unsupported"):
        diagram.save(str(tmp_path / "pipeline.gif"))
    image = diagram.make_image()
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100

    import matplotlib

    matplotlib.use("Agg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Agg cannot "show": it says so
        diagram.draw()
    import matplotlib.pyplot as plt

    assert plt.gcf().axes
    plt.close("all")


def test_names_without_classes_in_context(pipeline):
    diagram = dj.Diagram(pipeline.Session, context={}) + 1
    labels = set(_dot_nodes(diagram.make_dot()))
    assert _name(pipeline, "session").replace("`", "&#x27;") not in labels
    assert any("session__trial" in label for label in labels)
    assert diagram.make_svg().data.count("<svg") == 1


# ---- graph navigation ---------------------------------------------------------------------------
def test_parents_and_children(pipeline):
    session = pipeline.Session
    assert set(session.parents()) == {_name(pipeline, "subject")}
    info = session.parents(foreign_key_info=True)
    maps = sorted(sorted(props["attr_map"].items()) for _, props in info)
    assert maps == [[("buddy", "subject_id")], [("subject_id", "subject_id")]]
    assert session.parents(primary=False) == [_name(pipeline, "subject")]
    assert [p["attr_map"] for _, p in session.parents(primary=False, foreign_key_info=True)] == [
        {"buddy": "subject_id"}
    ]
    children = session.children()
    assert set(children) == {_name(pipeline, t) for t in ("session__trial", "_scan", "note")}
    assert session.children(primary=False) == [_name(pipeline, "note")]
    objects = session.children(as_objects=True)
    assert all(isinstance(o, dj.FreeTable) for o in objects)
    assert (
        pipeline.Subject.children(primary=True, as_objects=False).count(_name(pipeline, "pair"))
        == 2
    )  # two renamed references
    assert pipeline.Session.parts() == [_name(pipeline, "session__trial")]
    assert [p.full_table_name for p in pipeline.Analysis.parts(as_objects=True)] == [
        _b(pipeline, "__analysis__unit")
    ]


def test_ancestors_and_descendants(pipeline):
    below = pipeline.Scan.descendants()
    assert below[0] == _name(pipeline, "_scan")
    assert set(below) == {_name(pipeline, "_scan")} | {
        _b(pipeline, t) for t in ("__analysis", "__analysis__unit", "summary", "detail")
    }
    assert below.index(_b(pipeline, "summary")) < below.index(_b(pipeline, "detail"))
    above = pipeline.Summary.ancestors()
    assert above[0] == _b(pipeline, "summary")
    assert _name(pipeline, "#lab") in above and _b(pipeline, "#param") in above
    assert above.index(_name(pipeline, "session")) < above.index(_name(pipeline, "subject"))
    assert all(isinstance(t, dj.FreeTable) for t in pipeline.Summary.ancestors(as_objects=True))


@needs_ref
@pytest.mark.interop
@pytest.mark.parametrize("name", ps.TABLES)
def test_navigation_same_as_datajoint(pipeline, reference, name):
    ours = ps.table_of(pipeline, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = ref.FreeTable(ref.conn(), ours.full_table_name)
        expected = dict(
            parents=theirs.parents(),
            children=theirs.children(),
            primary_parents=theirs.parents(primary=True),
            secondary_children=theirs.children(primary=False),
            ancestors=theirs.ancestors(),
            descendants=theirs.descendants(),
            parts=theirs.parts(),
            parent_info=theirs.parents(foreign_key_info=True),
        )
    got = dict(
        parents=ours.parents(),
        children=ours.children(),
        primary_parents=ours.parents(primary=True),
        secondary_children=ours.children(primary=False),
        ancestors=ours.ancestors(),
        descendants=ours.descendants(),
        parts=ours.parts(),
        parent_info=ours.parents(foreign_key_info=True),
    )
    for key in ("parents", "children", "primary_parents", "secondary_children", "parts"):
        assert sorted(got[key]) == sorted(expected[key]), key
    assert got["ancestors"] == expected["ancestors"]
    assert got["descendants"] == expected["descendants"]
    assert sorted((n, sorted(p["attr_map"].items())) for n, p in got["parent_info"]) == sorted(
        (n, sorted(p["attr_map"].items())) for n, p in expected["parent_info"]
    )
