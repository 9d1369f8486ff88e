"""Schema diagrams (DataJoint 0.14's ``dj.Diagram``, alias ``dj.ERD`` / ``dj.Di``).

A Diagram is a copy of the connection's dependency graph plus the set of tables to show.
Its algebra picks tables (``+``/``-``/``*`` with another diagram or a table, ``+ n`` / ``- n``
for n levels of dependents / dependencies); rendering goes through Graphviz (``pydot`` and
the ``dot`` program) and matplotlib for ``draw()``.

Rendering is written against pydot's object API with plain node ids (``n0``, ``n1``, ...)
and the table names as labels, so no table or class name (backticks, dots) ever has to be
quoted as a Graphviz id, which is what broke 0.14's diagrams with some pydot versions.
"""

from __future__ import annotations

import functools
import html
import inspect
import io
import logging

import networkx as nx

from .dependencies import topo_sort
from .errors import DataJointError
from .table import Table, lookup_class_name
from .user_tables import Computed, Imported, Lookup, Manual, Part, _AliasNode, _get_tier

logger = logging.getLogger(__name__.split(".")[0])

_SCALE = 1.2  # scale of fonts and boxes

# Look of each tier (the same visual language as DataJoint 0.14's diagrams).
_TIER_STYLE = {
    None: dict(
        shape="circle", color="#FFFF0040", fontcolor="yellow", fontsize=8, size=0.4, fixed=False
    ),
    _AliasNode: dict(
        shape="circle", color="#FF880080", fontcolor="#FF880080", fontsize=0, size=0.05, fixed=True
    ),
    Manual: dict(
        shape="box", color="#00FF0030", fontcolor="darkgreen", fontsize=10, size=0.4, fixed=False
    ),
    Lookup: dict(
        shape="plaintext", color="#00000020", fontcolor="black", fontsize=8, size=0.4, fixed=False
    ),
    Computed: dict(
        shape="ellipse", color="#FF000020", fontcolor="#7F0000A0", fontsize=10, size=0.3, fixed=True
    ),
    Imported: dict(
        shape="ellipse",
        color="#00007F40",
        fontcolor="#00007FA0",
        fontsize=10,
        size=0.4,
        fixed=False,
    ),
    Part: dict(
        shape="plaintext", color="#0000000", fontcolor="black", fontsize=8, size=0.1, fixed=False
    ),
}


def _pydot():
    try:
        import pydot
    except ImportError:
        raise DataJointError(
            "Rendering a Diagram needs the pydot package (pip install pydot) and Graphviz "
            "(e.g. apt-get install graphviz)."
        ) from None
    return pydot


def _run_graphviz(create, what):
    """Call one of pydot's ``create_*``, turning a missing or failing ``dot`` into a clear
    DataJointError."""
    try:
        return create()
    except FileNotFoundError:
        raise DataJointError(
            f"Rendering the Diagram as {what} needs Graphviz's `dot` program on the PATH "
            "(e.g. apt-get install graphviz)."
        ) from None
    except Exception as err:  # pydot raises assorted exceptions when dot fails
        raise DataJointError(f"Graphviz could not render the Diagram as {what}: {err}") from None


class _SVG:
    """An SVG image that notebooks display (used when IPython is not installed)."""

    def __init__(self, data):
        self.data = data

    def _repr_svg_(self):
        return self.data


def _is_part(part, master):
    """True if ``part`` (`db`.`table`) is a part table of ``master``."""
    part_db, part_table = (s.strip("`") for s in part.split("."))
    master_db, master_table = (s.strip("`") for s in master.split("."))
    return part_db == master_db and part_table.startswith(master_table + "__")


class Diagram(nx.DiGraph):
    """The diagram of a table, a table class, a schema or a module with a ``schema``:
    ``dj.Diagram(source)``.

    ``d1 + d2`` union, ``d1 - d2`` difference, ``d1 * d2`` intersection; ``d + n`` adds n
    levels of dependent tables, ``d - n`` n levels of tables it depends on (so
    ``dj.Diagram(Table) + 1 - 1`` shows a table with its immediate neighbours; ``+1-1`` may
    differ from ``-1+1``). Only tables of schemas activated on the connection are known.
    In a notebook the diagram shows itself; elsewhere ``draw()`` or ``save(filename)``."""

    def __init__(self, source=None, context=None):
        if isinstance(source, Diagram):  # copy
            super().__init__(source)
            self.nodes_to_show = set(source.nodes_to_show)
            self.context = source.context
            return
        if source is None:  # networkx builds empty instances of graph classes
            super().__init__()
            self.nodes_to_show = set()
            self.context = context or {}
            return
        if context is None:
            frame = inspect.currentframe().f_back
            context = dict(frame.f_globals, **frame.f_locals)
            del frame
        self.context = context
        try:
            connection = source.connection
        except AttributeError:
            try:
                connection = source.schema.connection
            except AttributeError:
                raise DataJointError(
                    f"Could not find a database connection in {source!r}"
                ) from None
        if connection is None:
            raise DataJointError(f"{source!r} is not bound to a connection (activate its schema)")
        connection.dependencies.load()
        super().__init__(connection.dependencies)
        self.nodes_to_show = set()
        try:
            self.nodes_to_show.add(source.full_table_name)
        except AttributeError:
            try:
                database = source.database
            except AttributeError:
                try:
                    database = source.schema.database
                except AttributeError:
                    raise DataJointError(f"Cannot make a Diagram of {source!r}") from None
            prefix = f"`{database}`."
            self.nodes_to_show.update(n for n in self if n.startswith(prefix))

    @classmethod
    def from_sequence(cls, sequence):
        """The union of the diagrams of every item of ``sequence``."""
        return functools.reduce(lambda x, y: x + y, map(Diagram, sequence))

    # ---- algebra -------------------------------------------------------------------------
    def add_parts(self):
        """A copy with the part tables of every master table shown added."""
        result = Diagram(self)
        result.nodes_to_show.update(
            n
            for n in result.nodes
            if not n.isdigit() and any(_is_part(n, m) for m in self.nodes_to_show)
        )
        return result

    def _expand(self, graph, levels):
        """Add ``levels`` levels of ``graph``-successors to the shown tables (in place),
        stepping over the alias nodes of renamed foreign keys."""
        for _ in range(levels):
            new = nx.node_boundary(graph, self.nodes_to_show)
            if not new:
                break
            new.update(nx.node_boundary(graph, [a for a in new if a.isdigit()]))
            self.nodes_to_show.update(new)

    def __add__(self, arg):
        """Union with another diagram or a table, or ``arg`` more levels of dependents."""
        result = Diagram(self)
        if isinstance(arg, Diagram):
            result.nodes_to_show.update(arg.nodes_to_show)
        elif hasattr(arg, "full_table_name"):
            result.nodes_to_show.add(arg.full_table_name)
        else:
            result._expand(result, _levels(arg))
        return result

    def __sub__(self, arg):
        """Difference with another diagram or a table, or ``arg`` more levels of the tables
        the shown ones depend on."""
        result = Diagram(self)
        if isinstance(arg, Diagram):
            result.nodes_to_show.difference_update(arg.nodes_to_show)
        elif hasattr(arg, "full_table_name"):
            result.nodes_to_show.discard(arg.full_table_name)
        else:
            result._expand(nx.DiGraph(result).reverse(), _levels(arg))
        return result

    def __mul__(self, arg):
        """Intersection: the tables shown in both diagrams."""
        result = Diagram(self)
        result.nodes_to_show.intersection_update(arg.nodes_to_show)
        return result

    def topo_sort(self):
        """The shown tables in topological order, parts right after their masters."""
        return [n for n in topo_sort(self) if n in self.nodes_to_show]

    # ---- rendering -----------------------------------------------------------------------
    def _make_graph(self):
        """The graph to draw: shown tables (and the alias nodes between two of them),
        named by their classes in ``context`` where found, with ``node_type`` (tier) and
        ``distinguished`` (the table adds primary-key attributes of its own)."""
        shown = set(self.nodes_to_show)
        below = nx.node_boundary(self, shown)
        above = nx.node_boundary(nx.DiGraph(self).reverse(), shown)
        nodes = shown | {a for a in below & above if a.isdigit()}
        graph = nx.DiGraph(nx.DiGraph(self).subgraph(nodes))
        for name in graph:
            data = graph.nodes[name]
            data["node_type"] = _get_tier(name)
            inherited = {
                attr
                for _, _, props in self.in_edges(name, data=True)
                if props["primary"]
                for attr in props["attr_map"]
            }
            data["distinguished"] = "primary_key" in data and inherited < set(data["primary_key"])
        mapping = {}
        for node in graph:
            label = node if node.isdigit() else lookup_class_name(node, self.context) or node
            mapping[node] = label
        if len(set(mapping.values())) < len(mapping):  # two tables under one name
            mapping = {node: node for node in graph}
        return nx.relabel_nodes(graph, mapping)

    def _tooltip(self, name):
        """A table's definition, one attribute per line, for the node's tooltip."""
        if name.startswith("`"):
            return None  # no class of this table in the context
        try:
            cls = eval(name, dict(self.context))  # a dotted class name found in the context
            if not (inspect.isclass(cls) and issubclass(cls, Table)):
                return None
            lines = cls().describe(context=self.context).split("\n")
        except Exception:  # a tooltip is never worth failing the drawing
            return None
        out = []
        for line in lines:
            if not line or line.startswith("#"):
                continue
            if line.startswith("---"):
                out.append("-" * 30)
            elif "->" in line:
                out.append(line.replace("->", "\u2192"))
            else:
                out.append(line.split(":")[0].strip())
        return "\n".join(out)

    def make_dot(self):
        """The diagram as a ``pydot.Dot`` graph."""
        pydot = _pydot()
        graph = self._make_graph()
        dot = pydot.Dot(graph_type="digraph")
        ids = {}
        for i, (name, data) in enumerate(graph.nodes(data=True)):
            ids[name] = node_id = f"n{i}"
            style = _TIER_STYLE[data["node_type"]]
            size = round(style["size"] * _SCALE, 3)
            text = html.escape(name)
            label = f"<<u>{text}</u>>" if data.get("distinguished") else f"<{text}>"
            attrs = dict(
                label=label,
                shape=style["shape"],
                fontname="arial",
                fontsize=str(round(style["fontsize"] * _SCALE)),
                fontcolor=style["fontcolor"],
                color=style["color"],
                style="filled",
                fixedsize="shape" if style["fixed"] else "false",
                width=str(size),
                height=str(size),
            )
            tooltip = None if data["node_type"] is _AliasNode else self._tooltip(name)
            attrs["tooltip"] = '"{}"'.format(
                (tooltip or name).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "&#13;")
            )
            dot.add_node(pydot.Node(node_id, **attrs))
        for src, dest, props in graph.edges(data=True):
            master_part = graph.nodes[dest]["node_type"] is Part and dest.startswith(src + ".")
            dot.add_edge(
                pydot.Edge(
                    ids[src],
                    ids[dest],
                    color="#00000040",
                    style="solid" if props["primary"] else "dashed",
                    weight="3" if master_part else "1",
                    arrowhead="none",
                    penwidth="0.75" if props["multi"] else "2",
                )
            )
        return dot

    def make_svg(self):
        """The diagram as an SVG image (``IPython.display.SVG`` when IPython is
        installed; the text is in ``.data``)."""
        dot = self.make_dot()
        data = _run_graphviz(lambda: dot.create_svg(), "SVG").decode()
        try:
            from IPython.display import SVG
        except ImportError:
            return _SVG(data)
        return SVG(data)

    def make_png(self):
        """The diagram as PNG bytes in a ``io.BytesIO``."""
        dot = self.make_dot()
        return io.BytesIO(_run_graphviz(lambda: dot.create_png(), "PNG"))

    def make_image(self):
        """The diagram as an image array (matplotlib's ``imread`` of the PNG)."""
        return _pyplot().imread(self.make_png())

    def _repr_svg_(self):
        return self.make_svg()._repr_svg_()

    def draw(self):
        """Show the diagram with matplotlib."""
        plt = _pyplot()
        plt.imshow(self.make_image())
        plt.gca().axis("off")
        plt.show()

    def save(self, filename, format=None):
        """Write the diagram to ``filename`` as PNG or SVG (``format``, or from the
        file name's extension)."""
        if format is None:
            lower = str(filename).lower()
            format = "png" if lower.endswith(".png") else "svg" if lower.endswith(".svg") else None
        if format is None or format.lower() not in ("png", "svg"):
            raise DataJointError("Unsupported file format")
        if format.lower() == "png":
            with open(filename, "wb") as f:
                f.write(self.make_png().getbuffer().tobytes())
        else:
            with open(filename, "w", encoding="utf-8") as f:
                f.write(self.make_svg().data)


def _levels(arg):
    if isinstance(arg, bool) or not isinstance(arg, int):
        raise DataJointError(
            f"A Diagram can be combined with another Diagram, a table, or a number of levels, "
            f"not {arg!r}"
        )
    return arg


def _pyplot():
    try:
        from matplotlib import pyplot as plt
    except ImportError:
        raise DataJointError(
            "Drawing a Diagram needs matplotlib (pip install matplotlib)"
        ) from None
    return plt


ERD = Di = Diagram  # DataJoint 0.14's aliases
