"""The table tiers users derive from: Manual, Lookup, Imported, Computed, Part (0.14 naming:
``name``, ``#name``, ``_name``, ``__name``, ``master__part``)."""

from __future__ import annotations

import re

from .autopopulate import AutoPopulate
from .errors import DataJointError
from .table import Table
from .utils import ClassProperty, from_camel_case

_base_regexp = r"[a-z][a-z0-9]*(_[a-z][a-z0-9]*)*"

# instance attributes that may be used on the class itself (Table.fetch(), Table.insert1(...))
supported_class_attrs = {
    "key_source",
    "describe",
    "alter",
    "heading",
    "populate",
    "progress",
    "primary_key",
    "proj",
    "aggr",
    "join",
    "fetch",
    "fetch1",
    "head",
    "tail",
    "descendants",
    "ancestors",
    "parts",
    "parents",
    "children",
    "insert",
    "insert1",
    "update1",
    "drop",
    "drop_quick",
    "delete",
    "delete_quick",
    "to_dicts",
    "to_pandas",
    "to_polars",
    "to_arrow",
    "to_arrays",
    "keys",
}


class TableMeta(type):
    """Lets table classes be used like instances: ``Session.fetch()``, ``Session & key``."""

    def __getattribute__(cls, name):
        if name in supported_class_attrs:
            return cls().__getattribute__(name)
        return super().__getattribute__(name)

    def __and__(cls, arg):
        return cls() & arg

    def __xor__(cls, arg):
        return cls() ^ arg

    def __sub__(cls, arg):
        return cls() - arg

    def __neg__(cls):
        return -cls()

    def __mul__(cls, arg):
        return cls() * arg

    def __matmul__(cls, arg):
        return cls() @ arg

    def __add__(cls, arg):
        return cls() + arg

    def __iter__(cls):
        return iter(cls())

    def __len__(cls):
        return len(cls())

    def __bool__(cls):
        return True  # a class is always truthy (len() asks the database)


class UserTable(Table, metaclass=TableMeta):
    """Base of the tiers; subclasses are bound to a schema by its decorator."""

    _connection = None
    _heading = None
    _support = None
    tier_regexp = None
    _prefix = None

    @property
    def definition(self):
        raise NotImplementedError('Subclasses of Table must implement the property "definition"')

    @ClassProperty
    def connection(cls):
        return cls._connection

    @ClassProperty
    def table_name(cls):
        # computed once per class (it is read for every query the table takes part in)
        name = cls.__dict__.get("_table_name_of_class")
        if name is None:
            if cls._prefix is None:
                raise AttributeError("Class prefix is not defined!")
            name = cls._prefix + from_camel_case(cls.__name__)
            type.__setattr__(cls, "_table_name_of_class", name)
        return name

    @ClassProperty
    def full_table_name(cls):
        if cls in {Manual, Imported, Lookup, Computed, Part, UserTable}:
            return None
        if cls.database is None:
            raise DataJointError(
                f"Class {cls.__name__} is not properly declared (schema decorator not applied?)"
            )
        return f"`{cls.database}`.`{cls.table_name}`"


class Manual(UserTable):
    """Tables whose rows are entered by hand or by scripts."""

    _prefix = ""
    tier_regexp = r"(?P<manual>" + _prefix + _base_regexp + ")"


class Lookup(UserTable):
    """Small reference tables, optionally filled from ``contents`` when declared."""

    _prefix = "#"
    tier_regexp = r"(?P<lookup>" + _prefix + _base_regexp + ")"


class Imported(UserTable, AutoPopulate):
    """Tables filled by ``populate()`` from data outside the database."""

    _prefix = "_"
    tier_regexp = r"(?P<imported>" + _prefix + _base_regexp + ")"


class Computed(UserTable, AutoPopulate):
    """Tables filled by ``populate()`` from other tables."""

    _prefix = "__"
    tier_regexp = r"(?P<computed>" + _prefix + _base_regexp + ")"


class Part(UserTable):
    """Detail rows of a master table, declared as a class inside the master's class."""

    _connection = None
    _master = None
    tier_regexp = (
        r"(?P<master>"
        + "|".join(c.tier_regexp for c in (Manual, Lookup, Imported, Computed))
        + r"){1,1}__(?P<part>"
        + _base_regexp
        + ")"
    )

    @ClassProperty
    def connection(cls):
        return cls._connection

    @ClassProperty
    def full_table_name(cls):
        if cls.database is None or cls.table_name is None:
            return None
        return f"`{cls.database}`.`{cls.table_name}`"

    @ClassProperty
    def master(cls):
        return cls._master

    @ClassProperty
    def table_name(cls):
        if cls.master is None:
            return None
        return cls.master.table_name + "__" + from_camel_case(cls.__name__)

    def delete(self, force=False, **kwargs):
        """Parts are deleted through their master unless ``force=True`` (then the part rows
        alone go, with what depends on them). Other keywords (``transaction``, ``safemode``,
        ``force_masters``) are passed on to ``Table.delete``."""
        if not force:
            raise DataJointError("Cannot delete from a Part directly. Delete from master instead")
        return super().delete(force_parts=True, **kwargs)

    def drop(self, force=False):
        """Parts are dropped with their master unless ``force=True``."""
        if not force:
            raise DataJointError("Cannot drop a Part directly.  Delete from master instead")
        return super().drop()

    def alter(self, prompt=True, context=None):
        return super().alter(prompt=prompt, context=context or self.declaration_context)


user_table_classes = (Manual, Lookup, Computed, Imported, Part)


class _AliasNode:
    """Marks the numbered alias nodes of renamed foreign keys in the dependency graph."""


def _get_tier(table_name):
    """The tier class of a full table name (``_AliasNode`` for alias nodes, None if none)."""
    if not table_name.startswith("`"):
        return _AliasNode
    name = table_name.split("`")[-2]
    return next((t for t in user_table_classes if re.fullmatch(t.tier_regexp, name)), None)
