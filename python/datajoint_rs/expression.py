"""Query expressions: immutable nodes with a support (tables or subqueries), a restriction
(an AndList) and a heading. Every operator returns a new expression; invalid combinations
raise DataJointError where they are written.

This module holds restriction, projection and natural join with DataJoint 0.14 semantics;
aggregation, ``dj.U`` and union build on the same node shape.
"""

from __future__ import annotations

import copy
import inspect
import logging
import re
from itertools import count

from .adapters import get_adapter
from .condition import (
    AndList,
    Not,
    PromiscuousOperand,
    Top,
    assert_join_compatibility,
    extract_column_names,
    make_condition,
    translate_attribute,
)
from .errors import DataJointError
from .fetch import Fetch, Fetch1
from .settings import config

logger = logging.getLogger(__name__.split(".")[0])

# SQL literals that may appear where an attribute name is expected in proj()
CONSTANT_LITERALS = {"CURRENT_TIMESTAMP", "NULL"}


class QueryExpression:
    """A SELECT statement built from a support, a restriction and a heading."""

    _restriction = None
    _restriction_attributes = None
    _left: list = []  # one bool per join: True for a left join
    _original_heading = None
    _connection = None
    _heading = None
    _support = None
    _top = None
    _distinct = False

    # ---- structure ----------------------------------------------------------------------
    @property
    def connection(self):
        if self._connection is None:
            raise DataJointError("The query expression has no connection")
        return self._connection

    @property
    def support(self):
        return self._support

    @property
    def heading(self):
        return self._heading

    @property
    def original_heading(self):
        return self._original_heading or self.heading

    @property
    def restriction(self):
        if self._restriction is None:
            self._restriction = AndList()
        return self._restriction

    @property
    def restriction_attributes(self):
        if self._restriction_attributes is None:
            self._restriction_attributes = set()
        return self._restriction_attributes

    @property
    def primary_key(self):
        return self.heading.primary_key

    # ---- SQL (the text comes from the backend adapter) ------------------------------------
    _subquery_alias_count = count()

    @property
    def adapter(self):
        """The SQL dialect of this expression's connection (MySQL unless it names another)."""
        return getattr(self._connection, "adapter", None) or get_adapter()

    def from_clause(self):
        adapter = self.adapter
        sources = [
            adapter.subquery_source(src.make_sql(), next(self._subquery_alias_count))
            if isinstance(src, QueryExpression)
            else src
            for src in self.support
        ]
        return adapter.natural_join(sources, self._left)

    def where_clause(self):
        return self.adapter.where_clause(self.restriction)

    def sorting_clauses(self):
        if not self._top:
            return ""
        order = list(_flatten_order(self.primary_key, self._top.order_by))
        return self.adapter.order_limit(order, self._top.limit, self._top.offset)

    def make_sql(self, fields=None):
        """The SELECT statement of this expression (optionally of selected ``fields``)."""
        return self.adapter.select(
            self.heading.as_sql(fields or self.heading.names),
            self.from_clause(),
            self.where_clause(),
            self.sorting_clauses(),
            distinct=self._distinct,
        )

    def cursor(self, as_dict=False):
        """Execute the query and return the driver's cursor."""
        sql = self.make_sql()
        logger.debug(sql)
        return self.connection.query(sql, as_dict=as_dict)

    # ---- operators ----------------------------------------------------------------------
    def make_subquery(self):
        """A new expression selecting from this one as a subquery."""
        result = QueryExpression()
        result._connection = self.connection
        result._support = [self]
        result._heading = self.heading.make_subquery_heading()
        return result

    def restrict(self, restriction):
        """``q & restriction``: keep the rows matching ``restriction`` (see DataJoint's
        docs for the operand types: dict, str, list (OR), AndList, Not, query, record, bool,
        None, DataFrame, Top)."""
        attributes = set()
        if isinstance(restriction, Top):
            result = (
                self.make_subquery() if self._top and self._top != restriction else copy.copy(self)
            )
            result._top = restriction
            return result
        new_condition = make_condition(self, restriction, attributes)
        if new_condition is True:
            return self
        missing = next((a for a in attributes if a not in self.heading.names), None)
        if missing is not None:
            raise DataJointError(f"Attribute `{missing}` is not found in query.")
        need_subquery = self._needs_subquery_to_restrict() or self._top
        if need_subquery:
            result = self.make_subquery()
        else:
            result = copy.copy(self)
            result._restriction = AndList(self.restriction)
            result._restriction_attributes = set(self.restriction_attributes)
        result.restriction.append(new_condition)
        result.restriction_attributes.update(attributes)
        return result

    def _needs_subquery_to_restrict(self):
        return bool(self.heading.new_attributes)

    def restrict_in_place(self, restriction):
        self.__dict__.update(self.restrict(restriction).__dict__)

    def __and__(self, restriction):
        return self.restrict(restriction)

    def __xor__(self, restriction):
        if inspect.isclass(restriction) and issubclass(restriction, QueryExpression):
            restriction = restriction()
        if isinstance(restriction, Not):
            return self.restrict(Not(PromiscuousOperand(restriction.restriction)))
        return self.restrict(PromiscuousOperand(restriction))

    def __sub__(self, restriction):
        return self.restrict(Not(restriction))

    def __neg__(self):
        return Not(self)

    def __mul__(self, other):
        return self.join(other)

    def __rmul__(self, other):
        return self.join(other)

    def __matmul__(self, other):
        if inspect.isclass(other) and issubclass(other, QueryExpression):
            other = other()
        return self.join(other, semantic_check=False)

    def join(self, other, semantic_check=True, left=False):
        """Natural join (``q * other``); ``left=True`` keeps every row of ``q``."""
        if getattr(other, "_is_universal_set", False):
            return other * self
        if inspect.isclass(other) and issubclass(other, QueryExpression):
            other = other()
        if not isinstance(other, QueryExpression):
            raise DataJointError("The argument of join must be a QueryExpression")
        if semantic_check:
            assert_join_compatibility(self, other)
        join_attributes = {n for n in self.heading.names if n in other.heading.names}
        # a subquery is needed when the FROM clauses share attributes that are not joined on,
        # or when a join attribute is computed/renamed
        shared = bool(
            (set(self.original_heading.names) & set(other.original_heading.names)) - join_attributes
        )
        need1 = shared or self._needs_subquery_to_join(join_attributes)
        need2 = shared or other._needs_subquery_to_join(join_attributes)
        if need1:
            self = self.make_subquery()
        if need2:
            other = other.make_subquery()
        result = QueryExpression()
        result._connection = self.connection
        result._support = self.support + other.support
        result._left = self._left + [left] + other._left
        result._heading = self.heading.join(other.heading)
        result._restriction = AndList(self.restriction)
        result._restriction.append(other.restriction)
        result._original_heading = self.original_heading.join(other.original_heading)
        return result

    def _needs_subquery_to_join(self, join_attributes):
        return bool(self._top) or any(n in self.heading.new_attributes for n in join_attributes)

    def proj(self, *attributes, **named_attributes):
        """Projection: keep, rename (``new='old'``), duplicate (``new='(old)'``) or compute
        (``new='sql expr'``) attributes; ``...`` keeps all secondary attributes and ``'-a'``
        drops one. The primary key is always kept (it may be renamed)."""
        named_attributes = {
            k: translate_attribute(v, self._connection)[1] for k, v in named_attributes.items()
        }
        literals = "|".join(CONSTANT_LITERALS)
        duplication = re.compile(rf"^\s*\(\s*(?!{literals})(?P<name>[a-zA-Z_]\w*)\s*\)\s*$")
        rename = re.compile(rf"^\s*(?!{literals})(?P<name>[a-zA-Z_]\w*)\s*$")
        replicate_map = {
            k: m.group("name")
            for k, m in ((k, duplication.match(v)) for k, v in named_attributes.items())
            if m
        }
        rename_map = {
            k: m.group("name")
            for k, m in ((k, rename.match(v)) for k, v in named_attributes.items())
            if m
        }
        compute_map = {
            k: v
            for k, v in named_attributes.items()
            if not duplication.match(v) and not rename.match(v)
        }
        bad = next((a for a in attributes if not isinstance(a, str) and a is not Ellipsis), None)
        if bad is not None:
            raise DataJointError(f"{bad} is not a valid data type for an attribute in .proj")
        attributes = set(attributes)
        attributes.update(k for k in self.primary_key if k not in rename_map.values())
        if Ellipsis in attributes:
            attributes.discard(Ellipsis)
            attributes.update(
                a
                for a in self.heading.secondary_attributes
                if a not in attributes and a not in rename_map.values()
            )
        excluded = {a for a in attributes if a.strip().startswith("-")}
        attributes -= excluded
        excluded = {a.lstrip("-").strip() for a in excluded}
        attributes -= excluded
        key = next((a for a in excluded if a in self.primary_key), None)
        if key is not None:
            raise DataJointError(f"Cannot exclude primary key attribute {key}")
        missing = next(
            (
                a
                for a in attributes | set(replicate_map.values()) | set(rename_map.values())
                if a not in self.heading.names
            ),
            None,
        )
        if missing is not None:
            raise DataJointError(f"Attribute `{missing}` not found.")
        for new_names, others in (
            (rename_map, attributes | set(compute_map) | set(replicate_map)),
            (compute_map, attributes | set(rename_map) | set(replicate_map)),
            (replicate_map, attributes | set(rename_map) | set(compute_map)),
        ):
            clash = next((a for a in new_names if a in others), None)
            if clash is not None:
                raise DataJointError(f"Attribute `{clash}` already exists")
        used = {q for v in compute_map.values() for q in extract_column_names(v)}
        used.update(rename_map.values())
        used.update(replicate_map.values())
        used &= set(self.heading.names)
        need_subquery = self._needs_subquery_to_project() or any(
            self.heading[name].attribute_expression is not None for name in used
        )
        if not need_subquery and self.restriction:
            need_subquery = any(
                name in self.restriction_attributes for name in self.heading.new_attributes
            )
        result = self.make_subquery() if need_subquery else copy.copy(self)
        result._original_heading = result.original_heading
        result._heading = result.heading.select(
            attributes, rename_map=dict(**rename_map, **replicate_map), compute_map=compute_map
        )
        return result

    def _needs_subquery_to_project(self):
        return False

    def aggr(self, group, *attributes, keep_all_rows=False, **named_attributes):
        """Aggregate ``group`` per row of this expression: ``q.aggr(g, n="count(*)")``.
        Rows of ``q`` without a match in ``group`` are dropped unless ``keep_all_rows``
        (DataJoint 0.14's default is an inner join)."""
        if Ellipsis in attributes:
            attributes = set(attributes)
            attributes.discard(Ellipsis)
            attributes.update(self.heading.secondary_attributes)
        return Aggregation.create(self, group=group, keep_all_rows=keep_all_rows).proj(
            *attributes, **named_attributes
        )

    aggregate = aggr

    def __add__(self, other):
        """Union of two expressions with the same primary key (``q1 + q2``)."""
        return Union.create(self, other)

    # ---- fetching -----------------------------------------------------------------------
    @property
    def fetch(self):
        return Fetch(self)

    @property
    def fetch1(self):
        return Fetch1(self)

    def to_dicts(self, *attrs, **kwargs):
        """Rows as a list of dicts (the columnar API of DataJoint 2.x)."""
        return self.fetch(*attrs, as_dict=True, **kwargs)

    def to_pandas(self, *attrs, **kwargs):
        """Rows as a pandas DataFrame indexed by the primary key."""
        query = self.proj(*attrs) if attrs else self
        return query.fetch(format="frame", **kwargs)

    def to_arrays(self, *attrs, include_key=False, **kwargs):
        """A numpy structured array, or one array per requested attribute (a tuple)."""
        if not attrs:
            return self.fetch(**kwargs)
        if include_key:
            attrs = ("KEY",) + attrs
        result = self.fetch(*attrs, **kwargs)
        return tuple(result) if len(attrs) > 1 else result

    def to_arrow(self, *attrs, **kwargs):
        """A ``pyarrow.Table`` of the rows: the primary key and ``attrs`` (all attributes if
        none are named); ``kwargs`` go to ``fetch`` (``order_by``, ``limit``, ...).

        Columns are typed by attribute, NULLs are nulls: numbers, decimals, strings, dates,
        datetimes and times get their Arrow types; a uuid is a ``string`` of its canonical
        form (``str(uuid)``); json is a ``string`` of JSON text. A blob column is
        ``list<T>`` when every non-null cell is a 1-D numpy array of one numeric dtype ``T``,
        otherwise ``binary`` holding each value packed as an uncompressed DataJoint blob
        (``dj.blob.unpack`` reads it back), marked by the field metadata
        ``{"datajoint_rs": "blob"}``. See :mod:`datajoint_rs.arrow` for the full table."""
        query = self.proj(*attrs) if attrs else self
        return query.fetch(format="arrow", **kwargs)  # plain columns straight into Arrow

    def to_polars(self, *attrs, **kwargs):
        """A polars DataFrame of the rows (needs polars installed)."""
        try:
            import polars
        except ImportError:
            raise DataJointError("to_polars needs the polars package installed") from None
        return polars.from_arrow(self.to_arrow(*attrs, **kwargs))

    def keys(self, **kwargs):
        """The primary-key dicts of the rows."""
        return self.fetch("KEY", **kwargs)

    def head(self, limit=25, **fetch_kwargs):
        """The first ``limit`` rows in primary-key order."""
        return self.fetch(order_by="KEY", limit=limit, **fetch_kwargs)

    def tail(self, limit=25, **fetch_kwargs):
        """The last ``limit`` rows in primary-key order."""
        return self.fetch(order_by="KEY DESC", limit=limit, **fetch_kwargs)[::-1]

    def __len__(self):
        result = self.make_subquery() if self._top else copy.copy(self)
        adapter = result.adapter
        count_expr = (
            "count(*)"
            if any(result._left)
            else adapter.count_distinct(
                result.heading.as_sql(result.primary_key, include_aliases=False)
            )
        )
        sql = adapter.count_query(count_expr, result.from_clause(), result.where_clause())
        return result.connection.query(sql).fetchone()[0]

    def __bool__(self):
        sql = self.adapter.exists_query(self.from_clause(), self.where_clause())
        return bool(self.connection.query(sql).fetchone()[0])

    def __contains__(self, item):
        return bool(self & item)

    def __iter__(self):
        self._iter_only_key = all(v.in_key for v in self.heading.attributes.values())
        self._iter_keys = self.fetch("KEY")
        return self

    def __next__(self):
        try:
            key = self._iter_keys.pop(0)
        except AttributeError:
            raise TypeError(
                "A QueryExpression object is not an iterator. Use iter(obj) to create an iterator."
            ) from None
        except IndexError:
            raise StopIteration from None
        if self._iter_only_key:
            return key
        try:
            return (self & key).fetch1()
        except DataJointError:
            # the row was deleted meanwhile: skip it
            return next(self)

    # ---- display ------------------------------------------------------------------------
    def preview(self, limit=None, width=None):
        from .preview import preview

        return preview(self, limit, width)

    def __repr__(self):
        return super().__repr__() if config["loglevel"].lower() == "debug" else self.preview()

    def _repr_html_(self):
        from .preview import repr_html

        return repr_html(self)


class Aggregation(QueryExpression):
    """The result of ``q.aggr(group, ...)`` / ``dj.U(...).aggr(...)``: the rows of ``q``
    joined with ``group``, grouped by ``q``'s primary key. Restrictions on it become HAVING
    conditions."""

    _left_restrict = None  # conditions applied before GROUP BY (the WHERE clause)
    _needs_subquery_as_operand = True

    @classmethod
    def create(cls, arg, group, keep_all_rows=False):
        if inspect.isclass(group) and issubclass(group, QueryExpression):
            group = group()
        if not isinstance(group, QueryExpression):
            raise DataJointError("The group of an aggregation must be a QueryExpression")
        if (keep_all_rows and len(group.support) > 1) or group.heading.new_attributes:
            group = group.make_subquery()
        join = arg.join(group, left=keep_all_rows)
        result = cls()
        result._connection = join.connection
        result._heading = join.heading.set_primary_key(arg.primary_key)
        result._support = join.support
        result._left = join._left
        result._left_restrict = join.restriction
        result._grouping_attributes = result.primary_key
        return result

    def _needs_subquery_to_restrict(self):
        return False  # HAVING can use the computed attributes

    def _needs_subquery_to_join(self, join_attributes):
        return True

    def where_clause(self):
        return self.adapter.where_clause(self._left_restrict or ())

    def make_sql(self, fields=None):
        adapter = self.adapter
        group_by = ""
        if self.primary_key:
            group_by = adapter.group_by(self._grouping_attributes, self.restriction)
        elif self.restriction:
            raise DataJointError("Cannot restrict an aggregation without grouping attributes")
        return adapter.select(
            self.heading.as_sql(fields or self.heading.names),
            self.from_clause(),
            self.where_clause(),
            group_by + self.sorting_clauses(),
            distinct=set(self.heading.names) == set(self.primary_key),
        )

    def __len__(self):
        sql = self.adapter.count_rows_of(self.make_sql(), next(self._subquery_alias_count))
        return self.connection.query(sql).fetchone()[0]

    def __bool__(self):
        return bool(self.connection.query(self.adapter.exists_of(self.make_sql())).fetchone()[0])


class Union(QueryExpression):
    """``q1 + q2``: rows of either; the operands share the primary key and no secondary
    attributes (missing values are NULL)."""

    _union_count = count()
    _needs_subquery_as_operand = False

    @classmethod
    def create(cls, arg1, arg2):
        if inspect.isclass(arg2) and issubclass(arg2, QueryExpression):
            arg2 = arg2()
        if not isinstance(arg2, QueryExpression):
            raise DataJointError(
                "A QueryExpression can only be unioned with another QueryExpression"
            )
        if arg1.connection != arg2.connection:
            raise DataJointError(
                "Cannot operate on QueryExpressions originating from different connections."
            )
        if set(arg1.primary_key) != set(arg2.primary_key):
            raise DataJointError("The operands of a union must share the same primary key.")
        if set(arg1.heading.secondary_attributes) & set(arg2.heading.secondary_attributes):
            raise DataJointError("The operands of a union must not share any secondary attributes.")
        result = cls()
        result._connection = arg1.connection
        result._heading = arg1.heading.join(arg2.heading)
        result._support = [arg1, arg2]
        return result

    def _needs_subquery_to_restrict(self):
        return True

    def _needs_subquery_to_join(self, join_attributes):
        return True

    def _needs_subquery_to_project(self):
        return True

    def make_sql(self, fields=None):
        arg1, arg2 = self._support
        if not arg1.heading.secondary_attributes and not arg2.heading.secondary_attributes:
            keys = arg1.primary_key
            sql1 = arg1.make_sql() if isinstance(arg1, Union) else arg1.make_sql(keys)
            sql2 = arg2.make_sql() if isinstance(arg2, Union) else arg2.make_sql(keys)
            return self.adapter.union_keys(
                sql1, sql2, next(self._union_count), self.sorting_clauses()
            )
        # with secondary attributes: left join of the first with the second, plus the rows
        # only in the second with NULLs for the first's secondary attributes
        names = self.heading.names
        sql1 = arg1.join(arg2, left=True).make_sql(names)
        sql2 = (
            (arg2 - arg1)
            .proj(..., **{k: "NULL" for k in arg1.heading.secondary_attributes})
            .make_sql(names)
        )
        return self.adapter.union_all_rows(sql1, sql2)

    def from_clause(self):
        raise DataJointError("A union has no FROM clause")

    def where_clause(self):
        raise DataJointError("A union has no WHERE clause")

    def __len__(self):
        alias = next(QueryExpression._subquery_alias_count)
        sql = self.adapter.count_rows_of(self.make_sql(), alias)
        return self.connection.query(sql).fetchone()[0]

    def __bool__(self):
        return bool(self.connection.query(self.adapter.exists_of(self.make_sql())).fetchone()[0])


class U:
    """``dj.U(*attributes)``: the universal set of the given attributes.

    ``dj.U("a") & q`` gives the distinct values of ``a`` in ``q``; ``dj.U("a").aggr(q, ...)``
    aggregates per value of ``a`` (``dj.U().aggr`` over all of ``q``); ``q * dj.U("a")``
    promotes ``a`` to the primary key of ``q``."""

    _is_universal_set = True

    def __init__(self, *primary_key):
        self._primary_key = primary_key

    @property
    def primary_key(self):
        return list(self._primary_key)

    def __and__(self, other):
        if inspect.isclass(other) and issubclass(other, QueryExpression):
            other = other()
        if not isinstance(other, QueryExpression):
            raise DataJointError("Set U can only be restricted with a QueryExpression.")
        result = copy.copy(other)
        result._distinct = True
        result._heading = result.heading.set_primary_key(self.primary_key)
        return result.proj()

    def join(self, other, left=False):
        """Promote the attributes of U to the primary key of ``other`` (``left`` is ignored)."""
        if inspect.isclass(other) and issubclass(other, QueryExpression):
            other = other()
        if not isinstance(other, QueryExpression):
            raise DataJointError("Set U can only be joined with a QueryExpression.")
        missing = next((k for k in self.primary_key if k not in other.heading.names), None)
        if missing is not None:
            raise DataJointError(f"Attribute `{missing}` not found")
        result = copy.copy(other)
        result._heading = result.heading.set_primary_key(
            other.primary_key + [k for k in self.primary_key if k not in other.primary_key]
        )
        return result

    def __mul__(self, other):
        return self.join(other)

    def __rmul__(self, other):
        return self.join(other)

    def __sub__(self, other):
        raise DataJointError("dj.U cannot be subtracted from")

    def aggr(self, group, **named_attributes):
        """Aggregate ``group`` per distinct value of U's attributes."""
        if named_attributes.get("keep_all_rows", False):
            raise DataJointError(
                "Cannot set keep_all_rows=True when aggregating on a universal set."
            )
        named_attributes.pop("keep_all_rows", None)
        return Aggregation.create(self, group=group, keep_all_rows=False).proj(**named_attributes)

    aggregate = aggr


def _flatten_order(primary_key, attrs):
    for a in attrs:
        if re.match(r"^\s*KEY(\s+[aA][Ss][Cc])?\s*$", a):
            yield from primary_key
        elif re.match(r"^\s*KEY\s+[Dd][Ee][Ss][Cc]\s*$", a):
            yield from (q + " DESC" for q in primary_key)
        else:
            yield a
