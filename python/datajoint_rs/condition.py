"""Restriction conditions: the ONE place where user conditions (dict, str, list, AndList,
Not, Top, query, record, DataFrame, bool, None) are turned into SQL.

Values from dicts and records are rendered as SQL literals escaped the way the MySQL driver
escapes them (DataJoint 0.14 pastes them in double quotes, so a value containing a quote
breaks or changes the statement); no value can alter the SQL around it.
"""

from __future__ import annotations

import collections.abc
import inspect
import json
import re
import uuid

import numpy as np

from .adapters import get_adapter as _get_backend
from .errors import DataJointError

JSON_PATTERN = re.compile(r"^(?P<attr>\w+)(\.(?P<path>[\w.*\[\]]+))?(:(?P<type>[\w(,\s)]+))?$")


def translate_attribute(key, connection=None):
    """Split ``attr.json.path:type`` into its parts; return (match dict, SQL expression).

    A path becomes ``json_value(...)``, as 0.14 writes it; a typed path (``:type``) becomes
    ``json_value(... returning type)`` unless ``connection`` is a MariaDB connection, whose
    json_value has no ``returning`` (see ``MySQLAdapter.json_path_sql``)."""
    match = JSON_PATTERN.match(key)
    if match is None:
        return match, key
    match = match.groupdict()
    if match["path"] is None:
        return match, match["attr"]
    backend = _get_backend() if connection is None else _backend_of(connection)
    mariadb = bool(match["type"]) and connection is not None and backend.is_mariadb(connection)
    return match, backend.json_path_sql(
        match["attr"], match["path"], match["type"], mariadb=mariadb
    )


def _backend_of(connection):
    return getattr(connection, "adapter", None) or _get_backend()


class PromiscuousOperand:
    """Wraps an operand to skip the join-compatibility check (``q ^ other``)."""

    def __init__(self, operand):
        self.operand = operand


class AndList(list):
    """A list of conditions that are all required (logical conjunction).

    ``q & AndList((a, b))`` is ``q & a & b``; a nested AndList is flattened."""

    def append(self, restriction):
        if isinstance(restriction, AndList):
            self.extend(restriction)
        else:
            super().append(restriction)


class Not:
    """Inverts a restriction: ``q & Not(cond)`` is ``q - cond``."""

    def __init__(self, restriction):
        self.restriction = restriction


class Top:
    """``dj.Top(limit=1, order_by="KEY", offset=0)``: keep the first rows in an order.

    ``order_by`` may be an attribute name, a list of them (with ``" DESC"``), or "KEY"."""

    def __init__(self, limit=1, order_by="KEY", offset=0):
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
            raise TypeError("Top limit must be an integer")
        if isinstance(order_by, str):
            order_by = [order_by]
        if order_by is not None and (
            not isinstance(order_by, collections.abc.Sequence)
            or not all(isinstance(r, str) for r in order_by)
        ):
            raise TypeError("Top order_by attributes must all be strings")
        if not isinstance(offset, int) or isinstance(offset, bool):
            raise TypeError("The offset argument must be an integer")
        if offset and limit is None:
            limit = 999_999_999_999  # an offset needs a limit in SQL
        self.limit = limit
        self.order_by = order_by or ["KEY"]
        self.offset = offset

    def __eq__(self, other):
        return isinstance(other, Top) and (self.limit, self.order_by, self.offset) == (
            other.limit,
            other.order_by,
            other.offset,
        )

    def __hash__(self):
        return hash((self.limit, tuple(self.order_by), self.offset))


def sql_literal(value) -> str:
    """``value`` as an SQL literal of the default (MySQL) dialect; see the adapter."""
    return _get_backend().literal(value)


def as_uuid(value, error_message):
    """``value`` as a uuid.UUID (from a UUID or its text); DataJointError otherwise."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)
    except (AttributeError, ValueError, TypeError):
        raise DataJointError(error_message) from None


def _equality(heading, key, value, connection=None):
    """``attr = value`` for a dict/record restriction (JSON paths and uuids included)."""
    sql = _backend_of(connection)
    match, expr = translate_attribute(key, connection)
    attr_name = match["attr"] if match else key
    attr = heading[attr_name]
    if match is None or match["path"] is None:
        expr = sql.quote(attr_name)
    if attr.json and match and match["path"] is not None and isinstance(value, dict):
        return sql.equals(expr, sql.literal(json.dumps(value)))
    if value is None:
        return sql.is_null(expr)
    if attr.uuid:
        value = as_uuid(value, f"Badly formed UUID {value} in restriction by `{attr_name}`")
    elif isinstance(value, list):
        value = str(value)
    return sql.equals(expr, sql.literal(value))


def make_condition(query_expression, condition, columns):
    """Translate ``condition`` into an SQL condition string for ``query_expression``, or
    True / False when it is trivially so. Attribute names it uses are added to ``columns``.
    """
    from .expression import QueryExpression  # circular at import time

    sql = _backend_of(getattr(query_expression, "_connection", None))
    negate = False
    while isinstance(condition, Not):
        negate = not negate
        condition = condition.restriction

    if isinstance(condition, str):
        columns.update(extract_column_names(condition))
        return sql.combine_and(negate, [condition.strip().replace("%", "%%")])

    if isinstance(condition, AndList):
        items = [
            item
            for item in (make_condition(query_expression, c, columns) for c in condition)
            if item is not True
        ]
        if any(item is False for item in items):
            return negate
        if not items:
            return not negate
        return sql.combine_and(negate, items)

    if getattr(condition, "_is_universal_set", False):  # dj.U restricts nothing
        return not negate

    if isinstance(condition, (bool, np.bool_)):
        return negate != bool(condition)

    # the server decides how typed JSON paths are written (only asked for those)
    connection = getattr(query_expression, "_connection", None)
    if isinstance(condition, collections.abc.Mapping):
        names = query_expression.heading.names
        common = {k.split(".", 1)[0] for k in condition} & set(names)
        if not common:
            return not negate
        columns.update(common)
        return sql.combine_and(
            negate,
            [
                _equality(query_expression.heading, k, v, connection)
                for k, v in condition.items()
                if k.split(".", 1)[0] in common
            ],
        )

    if isinstance(condition, np.void):
        common = [n for n in condition.dtype.names if n in query_expression.heading.names]
        if not common:
            return not negate
        columns.update(common)
        return sql.combine_and(
            negate,
            [_equality(query_expression.heading, k, condition[k], connection) for k in common],
        )

    if inspect.isclass(condition) and issubclass(condition, QueryExpression):
        condition = condition()

    check = True
    if isinstance(condition, PromiscuousOperand):
        condition, check = condition.operand, False
    if isinstance(condition, QueryExpression):
        if check:
            assert_join_compatibility(query_expression, condition)
        common = [n for n in condition.heading.names if n in query_expression.heading.names]
        columns.update(common)
        if getattr(condition, "_needs_subquery_as_operand", False):
            condition = condition.make_subquery()
        if not common:
            return (not negate) if condition else negate
        return sql.in_subquery(common, negate, condition.make_sql(common))

    try:
        import pandas
    except ImportError:  # pragma: no cover - pandas is a dependency
        pandas = None
    if pandas is not None and isinstance(condition, pandas.DataFrame):
        condition = condition.to_records()

    if condition is None:
        return negate
    try:
        items = [make_condition(query_expression, c, columns) for c in condition]
    except TypeError:
        raise DataJointError(f"Invalid restriction type {condition!r}") from None
    items = [item for item in items if item is not False]
    if any(item is True for item in items):
        return not negate
    return sql.combine_or(negate, items) if items else negate


def assert_join_compatibility(expr1, expr2):
    """0.14's rule: two expressions may be joined (or one restrict the other) unless they
    share a secondary attribute (namesakes that are not in either's primary key)."""
    from .expression import QueryExpression

    for rel in (expr1, expr2):
        if not isinstance(rel, QueryExpression) and not getattr(rel, "_is_universal_set", False):
            raise DataJointError(f"Object {rel!r} is not a QueryExpression and cannot be joined.")
    if getattr(expr1, "_is_universal_set", False) or getattr(expr2, "_is_universal_set", False):
        return
    try:
        attr = next(
            r
            for r in set(expr1.heading.secondary_attributes).intersection(
                expr2.heading.secondary_attributes
            )
        )
    except StopIteration:
        return
    raise DataJointError(f"Cannot join query expressions on dependent attribute `{attr}`")


_SQL_WORDS = frozenset(
    "is in between like and or null not interval second minute hour day month week year".split()
)


def extract_column_names(sql_expression: str) -> set:
    """The presumed column names in an SQL expression (quoted text and functions removed)."""
    s = re.sub(r"(\\\")|(\\')", "", sql_expression)
    s = re.sub(r"'[^']*'", "", s)
    s = re.sub(r'"[^"]*"', "", s)
    result = set(re.findall(r"`([a-z][a-z_0-9]*)`", s))
    s = re.sub(r"`[a-z][a-z_0-9]*`", "", s)
    s = re.sub(r"\s*\(", "(", s)
    s = re.sub(r"(\b[a-z][a-z_0-9]*)\(", "(", s)
    result.update(set(re.findall(r"\b[a-z][a-z_0-9]*\b", s)) - _SQL_WORDS)
    return result
