"""Headings: the attributes (columns) of a table or query, as in DataJoint 0.14.

A :class:`Heading` is built either from attribute specifications (dicts with the fields of
:class:`Attribute`, for derived query headings) or lazily from the server, given
``table_info = dict(conn=..., database=..., table_name=..., context=...)``. Loading reads the
column types, nullability, defaults and comments (decoding the ``:type:`` markers that
DataJoint writes for uuid, attach, filepath, external blobs and adapted types), the
auto-increment flag, the table status (including its comment) and the secondary indexes.

The connection needs only ``query(sql, args=(), *, as_dict=False, ...)`` returning a DB-API
cursor; its optional attribute ``adapter`` names the backend dialect object (MySQL if absent).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict, namedtuple
from itertools import chain

import numpy as np

from .adapters import get_adapter as _get_backend
from .attribute_adapter import AttributeAdapter, get_adapter
from .declare import (
    EXTERNAL_TYPES,
    NATIVE_TYPES,
    SPECIAL_TYPES,
    TYPE_PATTERN,
    UUID_DATA_TYPE,
    _filepath_disabled_message,
    _support_filepath_types,
)
from .errors import DataJointError

logger = logging.getLogger(__name__.split(".")[0])

#: the field values of an attribute computed in a query (``proj(new="expression")``); the
#: fields of :class:`Attribute`, in order.
default_attribute_properties = dict(
    name=None,
    type="expression",
    in_key=False,
    nullable=False,
    default=None,
    comment="calculated attribute",
    autoincrement=False,
    numeric=None,
    string=None,
    uuid=False,
    json=None,
    is_blob=False,
    is_attachment=False,
    is_filepath=False,
    is_external=False,
    is_hidden=False,
    adapter=None,
    store=None,
    unsupported=False,
    attribute_expression=None,
    database=None,
    dtype=object,
)

# fetch dtypes of the numeric column types (after sizes and "unsigned" are removed): every
# integer becomes int64 and every float float64 (0.14 quirk: "bigint unsigned" is int64 too,
# because the unsigned flag is never detected)
_NUMERIC_DTYPES = {
    "tinyint": np.int64,
    "smallint": np.int64,
    "mediumint": np.int64,
    "int": np.int64,
    "bigint": np.int64,
    "float": np.float64,
    "double": np.float64,
}
_SPECIAL_COMMENT = re.compile(r":(?P<type>[^:]+):(?P<comment>.*)")
_LEGACY_EXTERNAL_URL = (
    "https://docs.datajoint.io/python/admin/5-blob-config.html"
    "#migration-between-datajoint-v0-11-and-v0-12"
)


class Attribute(
    namedtuple(
        "_Attribute",
        list(default_attribute_properties),
        defaults=list(default_attribute_properties.values()),
    )
):
    """The properties of one attribute (column) of a heading."""

    __slots__ = ()

    def todict(self) -> dict:
        """The fields as a dict (in field order)."""
        return dict(zip(self._fields, self, strict=True))

    @property
    def sql_type(self) -> str:
        """The column type in the database (``binary(16)`` for a uuid, else ``type``)."""
        return UUID_DATA_TYPE if self.uuid else self.type

    @property
    def sql_comment(self) -> str:
        """The column comment, with the ``:uuid:`` marker for uuid attributes."""
        return (":uuid:" if self.uuid else "") + self.comment

    @property
    def sql(self) -> str:
        """The column declaration copied into a table that references this (primary-key)
        attribute: always NOT NULL, default not carried over."""
        return _get_backend().key_column_sql(self.name, self.sql_type, self.sql_comment)

    @property
    def original_name(self) -> str:
        """The column name this attribute reads: its own, or the source of a rename."""
        if self.attribute_expression is None:
            return self.name
        if not self.attribute_expression.startswith("`"):
            raise AssertionError(f"attribute {self.name} is computed, not renamed")
        return self.attribute_expression.strip("`")

    @property
    def sql_expression(self):
        """Alias of ``attribute_expression`` (the field's name in DataJoint before 0.13)."""
        return self.attribute_expression


def _backend_of(conn):
    return getattr(conn, "adapter", None) or _get_backend()


class Heading:
    """The attributes of a table or query result, in order.

    :param attribute_specs: dicts with the fields of :class:`Attribute` (optional)
    :param table_info: ``dict(conn, database, table_name, context)`` to load the heading of
        an existing table from the server on first use
    :param adapter: the backend dialect that renders identifiers (default: MySQL; a
        datajoint_rs extension, keyword only)
    """

    def __init__(self, attribute_specs=None, table_info=None, *, adapter=None):
        self.indexes = None
        self.table_info = table_info
        self._table_status = None
        self._adapter = adapter
        self._attributes = None  # name -> Attribute, hidden ones included (0.14's field)
        self._visible = None  # name -> Attribute, without hidden ones
        if attribute_specs is not None:
            self._set_attributes(Attribute(**spec) for spec in attribute_specs)

    # ---- loading -----------------------------------------------------------------------------
    def _set_attributes(self, attributes) -> None:
        self._attributes = {a.name: a for a in attributes}
        self._visible = {k: v for k, v in self._attributes.items() if not v.is_hidden}

    def _loaded(self) -> dict:
        if self._visible is None:
            self._init_from_database()
        return self._visible

    @property
    def adapter(self):
        """The backend dialect used to render SQL."""
        if self._adapter is None:
            conn = (self.table_info or {}).get("conn")
            self._adapter = _backend_of(conn)
        return self._adapter

    def _init_from_database(self) -> None:
        """Load the heading of ``table_info``'s table from the server."""
        if self.table_info is None:
            raise DataJointError("The heading has neither attributes nor a table to load from.")
        conn, database, table_name, context = (
            self.table_info[k] for k in ("conn", "database", "table_name", "context")
        )
        backend = self.adapter
        status = backend.load_table_status(conn, database, table_name)
        if status is None:
            if table_name == "~log":
                logger.warning("Could not create the ~log table")
                self._set_attributes([])
                return
            raise DataJointError(f"The table `{database}`.`{table_name}` is not defined.")
        self._table_status = status
        columns = backend.load_columns(conn, database, table_name)
        self._set_attributes(
            Attribute(**_decode_column(column, database, context, backend)) for column in columns
        )

        # secondary indexes: columns in key order -> unique, nullable (any of its columns)
        parts = defaultdict(dict)
        for item in backend.load_indexes(conn, database, table_name):
            parts[item["key_name"]][item["seq"]] = item
        self.indexes = {
            tuple(by_seq[seq]["column"] for seq in sorted(by_seq)): dict(
                unique=by_seq[1]["unique"],
                nullable=any(part["nullable"] for part in by_seq.values()),
            )
            for by_seq in parts.values()
        }

    # ---- the attributes ----------------------------------------------------------------------
    @property
    def table_status(self):
        """``SHOW TABLE STATUS`` of the table (lower-cased keys), or None for a derived
        heading."""
        if self.table_info is None:
            return None
        if self._table_status is None:
            self._init_from_database()
        return self._table_status

    @property
    def attributes(self) -> dict:
        """name -> :class:`Attribute`, hidden attributes (names starting with ``_``) left
        out. A new dict on each call, as in 0.14."""
        return dict(self._loaded())

    @property
    def names(self) -> list:
        return list(self._loaded())

    @property
    def primary_key(self) -> list:
        return [k for k, v in self._loaded().items() if v.in_key]

    @property
    def secondary_attributes(self) -> list:
        return [k for k, v in self._loaded().items() if not v.in_key]

    @property
    def blobs(self) -> list:
        return [k for k, v in self._loaded().items() if v.is_blob]

    @property
    def non_blobs(self) -> list:
        """Attributes that are not blobs, attachments, filepaths or json."""
        return [
            k
            for k, v in self._loaded().items()
            if not (v.is_blob or v.is_attachment or v.is_filepath or v.json)
        ]

    @property
    def new_attributes(self) -> list:
        """Attributes renamed or computed in a query (those with an expression)."""
        return [k for k, v in self._loaded().items() if v.attribute_expression is not None]

    @property
    def has_autoincrement(self) -> bool:
        return any(v.autoincrement for v in self._loaded().values())

    def __getitem__(self, name) -> Attribute:
        return self._loaded()[name]

    def __iter__(self):
        return iter(self._loaded())

    def __len__(self) -> int:
        if self._visible is None and self.table_info is None:
            return 0
        return len(self._loaded())

    def __bool__(self) -> bool:
        return len(self) > 0

    def __repr__(self) -> str:
        """The heading in definition form (without foreign keys)."""
        lines = []
        if self._table_status is not None:
            lines.append("# " + self.table_status["comment"] + "\n")
        in_key = True
        for v in self._loaded().values():
            if in_key and not v.in_key:
                lines.append("---\n")
                in_key = False
            name = v.name if v.default is None else f"{v.name}={v.default}"
            # 0.14 quirk: "auto_increment" is glued to the type without a space
            kind = f"{v.type}{'auto_increment' if v.autoincrement else ''}"
            lines.append(f"{name:<20} : {kind:<28} # {v.comment}\n")
        return "".join(lines)

    @property
    def as_dtype(self):
        """The heading as a numpy structured dtype (fetch's record layout)."""
        attributes = self._loaded()
        return np.dtype(
            dict(names=list(attributes), formats=[v.dtype for v in attributes.values()])
        )

    def as_sql(self, fields, include_aliases=True) -> str:
        """The SELECT list of ``fields``: quoted names, or expressions (aliased to their
        names when ``include_aliases``)."""
        quote = self.adapter.quote
        attributes = self._loaded()
        items = []
        for name in fields:
            expression = attributes[name].attribute_expression
            if expression is None:
                items.append(quote(name))
            else:
                items.append(expression + (f" as {quote(name)}" if include_aliases else ""))
        return ",".join(items)

    # ---- derived headings --------------------------------------------------------------------
    def _derived(self, specs) -> Heading:
        return Heading(specs, adapter=self._adapter)

    def select(self, select_list, rename_map=None, compute_map=None) -> Heading:
        """A heading with the attributes of ``select_list``, plus renamed ones
        (``rename_map``: new name -> old name; placed right after their source) and
        computed ones (``compute_map``: new name -> SQL expression; at the end). No checks."""
        rename_map = rename_map or {}
        compute_map = compute_map or {}
        quote = self.adapter.quote
        specs = []
        for name, attr in self._loaded().items():
            if name in select_list:
                specs.append(attr.todict())
            specs.extend(
                dict(attr.todict(), name=new_name, attribute_expression=quote(old_name))
                for new_name, old_name in rename_map.items()
                if old_name == name
            )
        computed = (
            dict(default_attribute_properties, name=new_name, attribute_expression=expression)
            for new_name, expression in compute_map.items()
        )
        return self._derived(chain(specs, computed))

    def join(self, other) -> Heading:
        """The heading of a join: both primary keys (self's first), then the secondary
        attributes of each that are not in the other's primary key. Assumes the headings
        share no secondary attributes."""
        mine, theirs = self._loaded(), other._loaded()
        my_key, their_key = self.primary_key, other.primary_key
        return self._derived(
            [mine[n].todict() for n in my_key]
            + [theirs[n].todict() for n in their_key if n not in my_key]
            + [mine[n].todict() for n in self.secondary_attributes if n not in their_key]
            + [theirs[n].todict() for n in other.secondary_attributes if n not in my_key]
        )

    def set_primary_key(self, primary_key) -> Heading:
        """A heading whose primary key is ``primary_key`` (moved to the front). No checks."""
        attributes = self._loaded()
        return self._derived(
            chain(
                (dict(attributes[n].todict(), in_key=True) for n in primary_key),
                (
                    dict(v.todict(), in_key=False)
                    for n, v in attributes.items()
                    if n not in primary_key
                ),
            )
        )

    def make_subquery_heading(self) -> Heading:
        """The heading seen from outside a subquery: expressions are resolved there, so
        every attribute becomes a plain column."""
        return self._derived(
            dict(v.todict(), attribute_expression=None) for v in self._loaded().values()
        )

    def extend_primary_key(self, new_attributes) -> Heading:
        """A heading whose primary key also includes ``new_attributes`` (order kept).
        Not in 0.14.9 (older DataJoint had it); kept for code written against it."""
        attributes = self._loaded()
        missing = [a for a in new_attributes if a not in attributes]
        if missing:
            raise DataJointError(f"Attribute `{missing[0]}` is not found")
        return self._derived(
            dict(v.todict(), in_key=v.in_key or v.name in new_attributes)
            for v in attributes.values()
        )


def _decode_column(column: dict, database: str, context, backend) -> dict:
    """The Attribute fields of a column read from the server (see ``load_columns``),
    with DataJoint's types restored from the ``:type:`` comment markers."""
    sql_type = column["type"]
    attr = dict(
        name=column["name"],
        type=sql_type,
        in_key=column["in_key"],
        nullable=column["nullable"],
        default=column["default"],
        comment=column["comment"],
        autoincrement=column["autoincrement"],
        database=database,
        numeric=backend.is_category(sql_type, "DECIMAL", "INTEGER", "FLOAT"),
        string=backend.is_category(sql_type, "ENUM", "TEMPORAL", "STRING"),
        is_blob=backend.is_category(sql_type, "INTERNAL_BLOB"),
        uuid=False,
        json=backend.is_category(sql_type, "JSON"),
        is_attachment=False,
        is_filepath=False,
        adapter=None,
        store=None,
        is_external=False,
        attribute_expression=None,
        is_hidden=column["name"].startswith("_"),
    )
    if backend.is_category(sql_type, "INTEGER", "FLOAT"):
        attr["type"] = re.sub(r"\(\d+\)", "", sql_type, count=1)  # display width, e.g. int(11)
    # 0.14 quirk: only blobs and numbers count as supported (strings, dates, json do not)
    attr["unsupported"] = not (attr["is_blob"] or attr["numeric"])

    special = _SPECIAL_COMMENT.match(attr["comment"])
    if special:
        special = special.groupdict()
        attr.update(special)
    adapter_name = None
    if special and TYPE_PATTERN["ADAPTED"].match(attr["type"]):
        if context is None:
            raise AssertionError("Declaration context is not set")
        adapter_name = special["type"]
        try:
            attr["adapter"] = get_adapter(context, adapter_name)
        except DataJointError:
            # an adapter missing from the context fails at first use, not here
            attr["adapter"] = AttributeAdapter()
        else:
            attr["type"] = attr["adapter"].attribute_type
            if not any(p.match(attr["type"]) for p in TYPE_PATTERN.values()):
                raise DataJointError(
                    f"Invalid attribute type '{attr['type']}' in adapter object <{adapter_name}>."
                )
            special = not any(TYPE_PATTERN[c].match(attr["type"]) for c in NATIVE_TYPES)

    if special:
        category = next((c for c in SPECIAL_TYPES if TYPE_PATTERN[c].match(attr["type"])), None)
        if category is None:
            if attr["type"].startswith("external"):
                raise DataJointError(
                    f"Legacy datatype `{attr['type']}`. Migrate your external stores to "
                    f"datajoint 0.12: {_LEGACY_EXTERNAL_URL}"
                )
            raise DataJointError(f"Unknown attribute type `{attr['type']}`")
        if category == "FILEPATH" and not _support_filepath_types():
            raise DataJointError(_filepath_disabled_message(24))
        attr.update(
            unsupported=False,
            is_attachment=category in ("INTERNAL_ATTACH", "EXTERNAL_ATTACH"),
            is_filepath=category == "FILEPATH",
            is_blob=category in ("INTERNAL_BLOB", "EXTERNAL_BLOB"),
            uuid=category == "UUID",
            is_external=category in EXTERNAL_TYPES,
            store=attr["type"].split("@")[1] if category in EXTERNAL_TYPES else None,
        )

    if attr["in_key"] and (
        attr["is_blob"] or attr["is_attachment"] or attr["is_filepath"] or attr["json"]
    ):
        raise DataJointError(
            "Json, Blob, attachment, or filepath attributes are not allowed in the primary key"
        )

    if (
        attr["string"]
        and attr["default"] is not None
        and attr["default"] not in backend.sql_literals
    ):
        attr["default"] = f'"{attr["default"]}"'
    if attr["nullable"]:  # nullable attributes always default to null
        attr["default"] = "null"

    # fetch dtype: floats and non-nullable integers get numpy types, the rest is object
    attr["dtype"] = object
    if attr["numeric"] and not attr["adapter"]:
        is_integer = TYPE_PATTERN["INTEGER"].match(attr["type"])
        is_float = TYPE_PATTERN["FLOAT"].match(attr["type"])
        if (is_integer and not attr["nullable"]) or is_float:
            base = re.sub(r" unsigned$", "", re.sub(r"\(.*\)", "", attr["type"]))
            # 0.14 fails on unknown combinations (e.g. zerofill); object is a safe fallback
            attr["dtype"] = _NUMERIC_DTYPES.get(base, object)

    if attr["adapter"]:
        attr["type"] = adapter_name  # shown as the adapted type, e.g. "<graph>"
    return attr
