"""The foreign-key dependency graph of the tables in the activated schemas (DataJoint 0.14's
``datajoint.dependencies``).

Nodes are full table names (```db`.`table```) carrying their ``primary_key`` set. An edge goes
from the referenced (parent) table to the referencing (child) table and carries

* ``attr_map``: child attribute -> parent attribute, in the foreign key's column order;
* ``primary``: every foreign-key attribute belongs to the child's primary key;
* ``aliased``: at least one attribute is renamed (``-> Parent.proj(new='old')``);
* ``multi``: the foreign-key attributes differ from the child's primary key (not one-to-one).

A renamed foreign key is routed through an extra node named by a decimal counter (``'0'``,
``'1'``, ...), so that a child may reference the same parent several times. Both of its edges
carry the same attributes. As in 0.14, the counter is never reset, so reloading numbers the
alias nodes anew.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict

import networkx as nx

from .adapters import adapter_of
from .errors import DataJointError

_PART_NAME = re.compile(r"(?P<master>`\w+`.`#?\w+)__\w+`")


def extract_master(part_table):
    """The full name of the master of ``part_table`` (```db`.`master__part```), or None when
    the name is not that of a part table."""
    found = _PART_NAME.match(part_table)
    if found is None:
        return None
    return found.group("master") + "`"


def unite_master_parts(lst):
    """Reorder a topologically sorted list of table names, in place, so that each part table
    comes right after its master (or after an earlier part of the same master); returns it.

    >>> unite_master_parts(['`s`.`a`', '`s`.`b`', '`s`.`a__q`'])
    ['`s`.`a`', '`s`.`a__q`', '`s`.`b`']
    """
    for i in range(2, len(lst)):
        master = extract_master(lst[i])
        if master is None:
            continue
        sibling_prefix = master[:-1] + "__"
        for j in range(i - 1, -1, -1):
            if lst[j] == master or lst[j].startswith(sibling_prefix):
                lst.insert(j + 1, lst.pop(i))
                break
    return lst


def _bypass_alias_nodes(graph):
    """Replace every alias node of ``graph`` by a direct parent -> child edge, in place."""
    aliases = [node for node in graph if node.isdigit()]
    for node in aliases:
        incoming = next(iter(graph.in_edges(node)), None)
        outgoing = next(iter(graph.out_edges(node)), None)
        if incoming is not None and outgoing is not None:
            graph.add_edge(incoming[0], outgoing[1])
    graph.remove_nodes_from(aliases)


def topo_sort(graph):
    """Table names of a dependency graph in topological order, with every part table placed
    right after its master. Alias nodes are left out."""
    graph = nx.DiGraph(graph)  # work on a copy
    _bypass_alias_nodes(graph)

    # A master must come after everything its parts depend on (other than itself and its own
    # parts), so that the parts can sit right behind it.
    for node in graph:
        master = extract_master(node)
        if master is None or master not in graph:
            continue
        for parent, _ in graph.in_edges(node):
            if parent != master and extract_master(parent) != master:
                graph.add_edge(parent, master)

    order = list(nx.topological_sort(graph))

    # Walk back from the end, moving each part (once) to just behind its master.
    moved = set()
    pos = len(order) - 1
    while pos > 1:
        name = order[pos]
        master = extract_master(name)
        if name in moved or master is None or master not in graph:
            pos -= 1
            continue
        moved.add(name)
        target = order.index(master) + 1
        if pos > target:
            order.insert(target, order.pop(pos))
    return order


class Dependencies(nx.DiGraph):
    """The graph of foreign keys between the tables of the schemas activated on a connection.

    ``connection`` may be omitted: networkx builds empty instances of graph classes (copies,
    subgraph views), so the constructor must work without arguments.
    """

    def __init__(self, connection=None, schemas=None):
        self._conn = connection
        # explicit schema names (a cascade's graph); None: the connection's activated schemas
        self._schemas = None if schemas is None else sorted(schemas)
        self._node_alias_count = itertools.count()
        self._loaded = False
        super().__init__()

    def clear(self):
        """Remove all nodes and edges; the next ``load(force=False)`` reloads."""
        self._loaded = False
        super().clear()

    def _fetch(self, query_name, *, as_dict=False):
        """Run one of the backend's dependency-graph catalog queries over the schemas."""
        schemas = self._conn.schemas if self._schemas is None else self._schemas
        sql, args = getattr(adapter_of(self._conn), query_name)(schemas)
        return self._conn.query(sql, args=args, as_dict=as_dict)

    def load(self, force=True):
        """(Re)build the graph from the server's catalog for all schemas in
        ``connection.schemas``. With ``force=False`` an already loaded graph is kept.
        Raises DataJointError if the foreign keys form a cycle."""
        if self._loaded and not force:
            return
        self.clear()  # always from scratch, or aliased edges would be duplicated

        primary_keys = defaultdict(set)
        for table, column in self._fetch("primary_key_columns_query"):
            primary_keys[table].add(column)
        for table, key in primary_keys.items():
            self.add_node(table, primary_key=key)

        # group the foreign-key columns by constraint, in the order the server lists them
        foreign_keys = {}
        for row in self._fetch("foreign_key_columns_query", as_dict=True):
            row = {name.lower(): value for name, value in row.items()}
            child, parent = row["referencing_table"], row["referenced_table"]
            fk = foreign_keys.setdefault(
                (row["constraint_name"], child, parent),
                {"child": child, "parent": parent, "attr_map": {}},
            )
            fk["attr_map"][row["column_name"]] = row["referenced_column_name"]

        for fk in foreign_keys.values():
            attr_map = fk["attr_map"]
            attrs = set(attr_map)
            child_key = primary_keys.get(fk["child"], set())
            props = {
                "primary": attrs <= child_key,
                "attr_map": attr_map,
                "aliased": any(name != ref for name, ref in attr_map.items()),
                "multi": attrs != child_key,
            }
            if props["aliased"]:
                alias = str(next(self._node_alias_count))
                self.add_node(alias)
                self.add_edge(fk["parent"], alias, **props)
                self.add_edge(alias, fk["child"], **props)
            else:
                self.add_edge(fk["parent"], fk["child"], **props)

        if not nx.is_directed_acyclic_graph(self):
            raise DataJointError("DataJoint can only work with acyclic dependencies")
        self._loaded = True

    def topo_sort(self):
        """All table names in topological order, parts right after their masters."""
        return topo_sort(self)

    def _select_edges(self, edges, primary):
        return [edge for edge in edges if primary is None or edge[2]["primary"] == primary]

    def parents(self, table_name, primary=None):
        """Map each node referenced by ``table_name``'s foreign keys to the edge's attributes.
        ``primary=True`` keeps only foreign keys within the primary key, ``False`` only the
        others, ``None`` all."""
        self.load(force=False)
        edges = self._select_edges(self.in_edges(table_name, data=True), primary)
        return {parent: data for parent, _, data in edges}

    def children(self, table_name, primary=None):
        """Map each node whose foreign keys reference ``table_name`` to the edge's attributes,
        filtered by ``primary`` as in ``parents``."""
        self.load(force=False)
        edges = self._select_edges(self.out_edges(table_name, data=True), primary)
        return {child: data for _, child, data in edges}

    def descendants(self, full_table_name):
        """``full_table_name`` followed by all the tables depending on it, in topological
        order."""
        self.load(force=False)
        below = self.subgraph(nx.descendants(self, full_table_name))
        return [full_table_name] + below.topo_sort()

    def ancestors(self, full_table_name):
        """``full_table_name`` followed by all the tables it depends on, in reverse topological
        order (an iterator, as in 0.14)."""
        self.load(force=False)
        above = self.subgraph(nx.ancestors(self, full_table_name))
        return reversed(above.topo_sort() + [full_table_name])


def _schema_of(full_table_name):
    return full_table_name.split("`")[1]


def load_dependents(connection, databases=()):
    """A freshly loaded dependency graph that holds every table depending, directly or not,
    on the tables of the activated schemas and of ``databases``, wherever it is declared.

    Cascading deletes and drops need it: a table of a schema that nobody activated in this
    process may still reference ours (or reference a table that does). When the activated
    schemas already hold all of them, this is ``connection.dependencies``, reloaded; otherwise
    a separate graph over the larger set of schemas (the connection's graph, which diagrams
    and ``list_tables`` show, is left as it is)."""
    activated = set(connection.schemas)
    names = activated | set(databases)
    if names == activated and connection.dependencies is not None:
        graph = connection.dependencies
    else:
        graph = Dependencies(connection, schemas=names)
    while True:
        graph.load(force=True)
        # tables of other schemas referencing ours are nodes now; their own dependents
        # are found by loading their schemas too
        found = {_schema_of(node) for node in graph if not node.isdigit()} - names
        if not found:
            return graph
        names |= found
        graph = Dependencies(connection, schemas=names)
