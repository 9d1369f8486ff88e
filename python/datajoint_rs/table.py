"""Base tables: declaration, insert, describe, graph navigation, ``FreeTable`` and the
schema's ``~log`` table (DataJoint 0.14 behaviour)."""

from __future__ import annotations

import collections.abc
import copy
import csv
import datetime
import decimal
import inspect
import json
import logging
import platform
import re
from contextlib import nullcontext
from pathlib import Path

import networkx as nx
import numpy as np

from . import _native, blob, engine, transfer
from .adapters import using
from .condition import AndList, as_uuid, make_condition
from .declare import alter, declare
from .dependencies import extract_master, load_dependents
from .errors import (
    AccessError,
    DataJointError,
    DuplicateError,
    IntegrityError,
    MissingAttributeError,
    UnknownAttributeError,
)
from .expression import QueryExpression
from .heading import Heading
from .settings import config
from .utils import user_choice
from .version import __version__ as version

logger = logging.getLogger(__name__.split(".")[0])

# Fraction of max_allowed_packet one INSERT statement may use (room for SQL text and escaping:
# binary values are sent hex-escaped by the driver at worst twice their size).
_PACKET_FRACTION = 0.45


class Table(QueryExpression):
    """A base table of the database (the class behind every tier)."""

    _table_name = None  # set by subclasses
    _log_ = None
    database = None
    declaration_context = None

    # ---- names ----------------------------------------------------------------------------
    @property
    def table_name(self):
        return self._table_name

    @property
    def class_name(self):
        return self.__class__.__name__

    @property
    def definition(self):
        raise NotImplementedError("Subclasses of Table must implement the `definition` property")

    @property
    def full_table_name(self):
        if self.database is None or self.table_name is None:
            raise DataJointError(f"Class {self.__class__.__name__} is not associated with a schema")
        return f"`{self.database}`.`{self.table_name}`"

    @property
    def heading(self):
        if self._heading is None:
            self._heading = Heading(
                table_info=dict(
                    conn=self.connection,
                    database=self.database,
                    table_name=self.table_name,
                    context=self.declaration_context,
                )
            )
        return self._heading

    @property
    def support(self):
        return self._support or [self.full_table_name]

    def from_clause(self):
        return self.full_table_name

    @property
    def is_declared(self):
        return self.adapter.table_exists(self.connection, self.database, self.table_name)

    @property
    def _log(self):
        if self._log_ is None:
            self._log_ = Log(
                self.connection,
                database=self.database,
                skip_logging=self.table_name.startswith("~"),
            )
        return self._log_

    @property
    def external(self):
        return self.connection.schemas[self.database].external

    # ---- declaration ----------------------------------------------------------------------
    def declare(self, context=None):
        """Create the table in the database (refused inside a transaction)."""
        if self.connection.in_transaction:
            raise DataJointError(
                "Cannot declare new tables inside a transaction, e.g. from inside a populate/make call"
            )
        with using(self.adapter):
            sql, external_stores = declare(self.full_table_name, self.definition, context)
        sql = sql.format(database=self.database)
        try:
            for store in external_stores:
                self.connection.schemas[self.database].external[store]  # declares ~external_
            self.connection.query(sql)
        except Exception as err:
            from .errors import AccessError

            if isinstance(err, AccessError):
                logger.warning(
                    f"Could not declare table {self.full_table_name} (insufficient privileges)"
                )
                return
            raise
        else:
            self._log("Declared " + self.full_table_name)
        if self.connection.dependencies is not None:
            self.connection.dependencies.clear()

    @property
    def size_on_disk(self):
        """Data and index size of the table on the server, in bytes."""
        return self.adapter.table_size(self.connection, self.database, self.table_name)

    # ---- graph ----------------------------------------------------------------------------
    def _dependencies(self):
        deps = self.connection.dependencies
        if deps is None:
            raise DataJointError("The dependency graph is not available on this connection")
        deps.load(force=False)
        return deps

    def parents(self, primary=None, as_objects=False, foreign_key_info=False):
        """Parent tables (through foreign keys), renamed references resolved."""
        return self._neighbors(self._dependencies().parents, primary, as_objects, foreign_key_info)

    def children(self, primary=None, as_objects=False, foreign_key_info=False):
        """Child tables (through foreign keys), renamed references resolved."""
        return self._neighbors(self._dependencies().children, primary, as_objects, foreign_key_info)

    def _neighbors(self, get_edge, primary, as_objects, foreign_key_info):
        # a renamed foreign key passes through a numbered alias node: step over it
        nodes = [
            next(iter(get_edge(name).items())) if name.isdigit() else (name, props)
            for name, props in get_edge(self.full_table_name, primary).items()
        ]
        if as_objects:
            nodes = [(FreeTable(self.connection, name), props) for name, props in nodes]
        if not foreign_key_info:
            nodes = [name for name, props in nodes]
        return nodes

    def descendants(self, as_objects=False):
        return [
            FreeTable(self.connection, node) if as_objects else node
            for node in self._dependencies().descendants(self.full_table_name)
            if not node.isdigit()
        ]

    def ancestors(self, as_objects=False):
        return [
            FreeTable(self.connection, node) if as_objects else node
            for node in self._dependencies().ancestors(self.full_table_name)
            if not node.isdigit()
        ]

    def parts(self, as_objects=False):
        """The part tables of this (master) table: full names, or FreeTables with
        ``as_objects``."""
        prefix = self.full_table_name[:-1] + "__"
        nodes = [
            node
            for node in self._dependencies().nodes
            if not node.isdigit() and node.startswith(prefix)
        ]
        return [FreeTable(self.connection, c) for c in nodes] if as_objects else nodes

    # ---- describe -------------------------------------------------------------------------
    def describe(self, context=None, printout=False):
        """The table's definition reconstructed from the database (0.14's layout)."""
        if context is None:
            frame = inspect.currentframe().f_back
            context = dict(frame.f_globals, **frame.f_locals)
            del frame
        parents = self.parents(foreign_key_info=True)
        in_key = True
        comment = self.heading.table_status["comment"]
        definition = "# " + comment + "\n" if comment else ""
        thus_far = set()
        indexes = self.heading.indexes.copy()
        for attr in self.heading.attributes.values():
            if in_key and not attr.in_key:
                definition += "---\n"
                in_key = False
            thus_far.add(attr.name)
            include = True
            for parent_name, fk in parents:
                if attr.name not in fk["attr_map"]:
                    continue
                include = False
                if not thus_far.issuperset(fk["attr_map"]):
                    continue
                try:
                    index_props = indexes.pop(tuple(fk["attr_map"]))
                except KeyError:
                    props = ""
                else:
                    flags = [k for k, v in index_props.items() if v]
                    props = " [{}]".format(", ".join(flags)) if flags else ""
                class_name = lookup_class_name(parent_name, context) or parent_name
                if not fk["aliased"]:
                    definition += f"->{props} {class_name}\n"
                else:
                    renames = ",".join(f'{a}="{r}"' for a, r in fk["attr_map"].items() if r != a)
                    definition += f"->{props} {class_name}.proj({renames})\n"
            if include:
                default = _declarable_default(attr.default)
                definition += "%-20s : %-28s %s\n" % (
                    attr.name if default is None else f"{attr.name}={default}",
                    attr.type + (" auto_increment" if attr.autoincrement else ""),
                    "# " + attr.comment if attr.comment else "",
                )
        for k, v in indexes.items():
            definition += "{}INDEX ({})\n".format("UNIQUE " if v["unique"] else "", ", ".join(k))
        if printout:
            logger.info("\n" + definition)
        return definition

    # ---- insert ---------------------------------------------------------------------------
    def insert1(self, row, **kwargs):
        """Insert one row (a dict, record or sequence); see ``insert`` for the options."""
        self.insert((row,), **kwargs)

    def insert(
        self,
        rows,
        replace=False,
        skip_duplicates=False,
        ignore_extra_fields=False,
        allow_direct_insert=None,
    ):
        """Insert rows: dicts, numpy records, sequences (in heading order), a DataFrame, a
        query (INSERT ... SELECT), or a ``pathlib.Path`` to a CSV file.

        All rows go in or none does: a large insert is split into statements that fit the
        server's ``max_allowed_packet``, inside one transaction."""
        try:
            import pandas
        except ImportError:  # pragma: no cover
            pandas = None
        if pandas is not None and isinstance(rows, pandas.DataFrame):
            rows = rows.reset_index(
                drop=len(rows.index.names) == 1 and not rows.index.names[0]
            ).to_records(index=False)
        if isinstance(rows, Path):
            with open(rows, newline="") as data_file:
                rows = list(csv.DictReader(data_file, delimiter=","))
        if not allow_direct_insert and not getattr(self, "_allow_insert", True):
            raise DataJointError(
                "Inserts into an auto-populated table can only be done inside "
                "its make method during a populate call."
                " To override, set keyword argument allow_direct_insert=True."
            )
        if inspect.isclass(rows) and issubclass(rows, QueryExpression):
            rows = rows()
        if isinstance(rows, QueryExpression):
            return self._insert_from_query(rows, replace, skip_duplicates, ignore_extra_fields)

        ctx = _InsertContext(self.heading)
        tracking = []
        binary_charset = False
        rows = rows if isinstance(rows, (list, tuple)) else list(rows)
        renders_values = self.adapter.renders_values
        if not renders_values and not ignore_extra_fields:
            fields, plain = self._plain_parameter_rows(rows, ctx)
            if plain is not None:
                prepared = [{"values": list(values)} for values in plain]
                return self._insert_parameters(fields, prepared, [], replace, skip_duplicates)
        field_list, values = (
            (None, None)
            if ignore_extra_fields or not renders_values
            else self._render_plain_rows(rows, ctx)
        )
        if values is None:
            # the general path: every value converted as DataJoint 0.14 does
            field_list = []
            prepared = [self._make_row(row, field_list, ignore_extra_fields, ctx) for row in rows]
            # external objects: checksummed and uploaded now, before any transaction opens
            tracking = transfer.resolve_pending(self, [r["values"] for r in prepared])
            _pack_pending_blobs(prepared)
            if not renders_values:  # values as parameters (SQLite)
                return self._insert_parameters(
                    field_list, prepared, tracking, replace, skip_duplicates
                )
            binary_bytes = sum(r["binary"] for r in prepared)
            if (
                not tracking
                and binary_bytes >= engine.WRITE_MIN_BYTES
                and engine.writer(self.connection) is not None
            ):
                return self._insert_prepared(field_list, prepared, replace, skip_duplicates)
            # large binary values are sent on the binary character set, where the server
            # reads escaped literals about twice as fast as hex (and they are half the size)
            binary_charset = binary_bytes >= _BINARY_CHARSET_MIN_BYTES
            # the VALUES lists are rendered natively (strings escaped, binary values as hex
            # or escaped binary literals); other values (dates, Decimal, ...) by the driver
            values = [
                _native.sql_values(
                    [r["values"] for r in chunk], self.connection.literal, binary_charset
                )
                for chunk in _chunks(prepared, self._packet_budget())
            ]
        if not values:
            return
        head, tail = self._insert_head_tail(field_list, replace, skip_duplicates)
        chunks = values

        def send():
            charset = self.connection.binary_charset() if binary_charset else nullcontext()
            with charset:
                for chunk in chunks:
                    self.connection.query(head + chunk + tail, args=None)

        try:
            if tracking or (len(chunks) > 1 and not self.connection.in_transaction):
                # the tracking rows of external objects commit (or fail) with the data rows
                with transfer.atomic(self.connection):
                    for sql, args in tracking:
                        self.connection.query(sql, args=args)
                    send()
            else:
                send()
        except (UnknownAttributeError, DuplicateError) as err:
            raise _with_insert_hint(err) from None

    def _insert_head_tail(self, field_list, replace, skip_duplicates):
        """The SQL before and after the VALUES lists of an INSERT (or REPLACE), as bytes."""
        command = "REPLACE" if replace else "INSERT"
        head = "{} INTO {}(`{}`) VALUES ".format(
            command, self.from_clause(), "`,`".join(field_list)
        ).encode()
        tail = (
            self.adapter.skip_duplicates_clause(self.primary_key) if skip_duplicates else ""
        ).encode()
        return head, tail

    def _insert_prepared(self, field_list, prepared, replace, skip_duplicates):
        """Insert prepared rows with large binary values through the engine's insert
        connection (``engine.writer``): each statement's binary values travel as parameters
        of a prepared statement, which the server copies instead of lexing an escaped
        literal; all other values are the same literals as in the text statements. The
        statements run in one transaction of that connection, rendered one at a time as
        they are sent."""
        head, tail = self._insert_head_tail(field_list, replace, skip_duplicates)
        literal = self.connection.literal

        def statements():
            for chunk in _chunks(prepared, self._packet_budget(), _MAX_PARAMETERS):
                sql, params = _native.sql_values([r["values"] for r in chunk], literal, True, True)
                yield head + sql + tail, params

        try:
            engine.write(self.connection, statements(), head.decode())
        except (UnknownAttributeError, DuplicateError) as err:
            raise _with_insert_hint(err) from None

    def _insert_parameters(self, field_list, prepared, tracking, replace, skip_duplicates):
        """Insert prepared rows with their values as statement parameters, for backends whose
        adapter does not render values into the SQL text. A None value means the column's
        default (as ``DEFAULT`` does in a rendered statement): rows are grouped by which
        columns they give, and each group leaves the others out."""
        adapter = self.adapter
        command = "REPLACE" if replace else "INSERT"
        tail = adapter.skip_duplicates_clause(self.primary_key) if skip_duplicates else ""
        groups = {}
        attrs = [self.heading[name] for name in field_list]
        convert = [(i, a) for i, a in enumerate(attrs) if adapter.converts_parameter(a)]
        for row in prepared:
            values = row["values"]
            for i, attr in convert:
                if values[i] is not None:
                    values[i] = adapter.parameter(attr, values[i])
            given = tuple(v is not None for v in values)
            groups.setdefault(given, []).append([v for v in values if v is not None])
        try:
            with transfer.atomic(self.connection):
                for sql, args in tracking:
                    self.connection.query(sql, args=args)
                for given, group in groups.items():
                    fields = [f for f, g in zip(field_list, given, strict=True) if g]
                    marks = ",".join(["%s"] * len(fields))
                    sql = (
                        f"{command} INTO {self.full_table_name} ({adapter.quote_list(fields)}) "
                        f"VALUES ({marks}){tail}"
                        if fields
                        else f"{command} INTO {self.full_table_name} DEFAULT VALUES{tail}"
                    )
                    self.connection.executemany(sql, group)
        except (UnknownAttributeError, DuplicateError) as err:
            raise _with_insert_hint(err) from None

    def _plain_fields(self, rows, ctx):
        """The fields of the common insert, dicts with the same keys, all of plain attributes
        (numbers, strings, dates), with all the required key attributes; None when the
        general path must handle the rows."""
        if not rows or type(rows[0]) is not dict:
            return None
        first = rows[0]
        fields = [name for name in ctx.names if name in first]
        if len(fields) != len(first) or any(f not in ctx.plain for f in fields):
            return None
        given = set(fields)
        if any(
            k not in given and not ctx.attrs[k].autoincrement and ctx.attrs[k].default is None
            for k in ctx.primary_key
        ):
            return None
        return fields

    def _render_plain_rows(self, rows, ctx):
        """Fast path for the common insert (see ``_plain_fields``). Returns (field list, VALUES
        lists), or (None, None) when the general path must handle it."""
        fields = self._plain_fields(rows, ctx)
        if fields is None:
            return None, None
        values = _native.dict_rows_values(
            rows, fields, [ctx.plain[f] for f in fields], self._packet_budget()
        )
        return (fields, values) if values is not None else (None, None)

    def _plain_parameter_rows(self, rows, ctx):
        """The fast path of ``_render_plain_rows`` for backends taking values as parameters:
        (field list, rows of values), or (None, None) as soon as a row or value needs the
        general path (other keys, None, NaN, '', a value of another type, a decimal)."""
        fields = self._plain_fields(rows, ctx)
        if fields is None or any(self.adapter.converts_parameter(ctx.attrs[f]) for f in fields):
            return None, None
        numeric = [ctx.plain[f] == "num" for f in fields]
        n_fields = len(fields)
        out = []
        for row in rows:
            if type(row) is not dict or len(row) != n_fields:
                return None, None
            try:
                values = tuple(row[f] for f in fields)
            except KeyError:
                return None, None
            for value, is_number in zip(values, numeric, strict=True):
                t = type(value)
                if is_number:
                    if not (t is int or (t is float and value == value)):
                        return None, None
                elif t not in _PLAIN_TYPES:
                    return None, None
            out.append(values)
        return fields, out

    def _packet_budget(self):
        limit = getattr(self.connection, "_max_allowed_packet", None)
        if limit is None:
            try:
                limit = self.adapter.max_statement_bytes(self.connection)
            except Exception:  # noqa: BLE001 - fall back to MySQL's smallest default
                limit = 4 << 20
            self.connection._max_allowed_packet = limit
        return int(limit * _PACKET_FRACTION)

    def _insert_from_query(self, query, replace, skip_duplicates, ignore_extra_fields):
        if not ignore_extra_fields:
            extra = next((n for n in query.heading if n not in self.heading), None)
            if extra is not None:
                raise DataJointError(
                    f"Attribute {extra} not found. To ignore extra attributes in insert, "
                    "set ignore_extra_fields=True."
                )
        fields = [name for name in query.heading if name in self.heading]
        adapter = self.adapter
        tail = (
            adapter.skip_duplicates_clause(self.primary_key, self.full_table_name)
            if skip_duplicates
            else ""
        )
        sql = adapter.insert_select_sql(
            "REPLACE" if replace else "INSERT",
            self.full_table_name,
            fields,
            query.make_sql(fields),
            tail,
        )
        self.connection.query(sql)

    def _make_placeholder(self, name, value, ignore_extra_fields=False, ctx=None):
        """(name, SQL placeholder, value) for one attribute value, converted for storage."""
        ctx = ctx or _InsertContext(self.heading)
        kind = ctx.plain.get(name)
        if kind is not None:
            # fast path: values the driver sends unchanged (NaN and '' go the long way)
            t = type(value)
            if kind == "num" and (t is int or (t is float and value == value)):
                return name, "%s", value
            if kind == "str" and t in _PLAIN_TYPES:
                return name, "%s", value
        if ignore_extra_fields and name not in ctx.name_set:
            return None
        attr = ctx.attrs[name]
        if attr.adapter:
            value = attr.adapter.put(value)
        if isinstance(value, (np.datetime64, np.timedelta64)):
            # e.g. from a DataFrame: datetime64[ns] would become an int; NaT means missing
            value = value.astype("M8[us]" if isinstance(value, np.datetime64) else "m8[us]").item()
        elif type(value).__name__ == "NaTType":  # pandas.NaT
            value = None
        if value is None or (attr.numeric and _is_empty_number(value)):
            if attr.in_key and not attr.autoincrement and attr.default is None:
                # (the server would refuse it too: 0.14 lets it answer with this error class)
                raise MissingAttributeError(
                    f"The primary key attribute `{name}` cannot be NULL, empty or NaN"
                )
            return name, "DEFAULT", None
        if attr.uuid:
            value = as_uuid(value, f"badly formed UUID value {value} for attribute `{name}`")
            value = value.bytes
        elif attr.is_blob:
            if not attr.is_external:
                # packed later for all rows at once (compression runs on all cores)
                return name, "%s", _PendingBlob(value)
            # packed, hashed and uploaded with the rest of the insert (transfer.py)
            return name, "%s", transfer.PendingObject(transfer.BLOB, attr.store, value)
        elif attr.is_attachment:
            path = Path(value)
            if attr.is_external:
                return name, "%s", transfer.PendingObject(transfer.ATTACH, attr.store, path)
            else:
                try:
                    value = path.name.encode() + b"\0" + path.read_bytes()
                except OSError as err:
                    raise DataJointError(f"Cannot read attachment {path}: {err}") from None
        elif attr.is_filepath:
            return name, "%s", transfer.PendingObject(transfer.FILEPATH, attr.store, value)
        elif attr.numeric:
            if isinstance(value, (bool, np.bool_)):
                value = int(value)
            elif isinstance(value, (str, bytes)):
                value = value.decode() if isinstance(value, bytes) else value
            elif not isinstance(value, (int, float, np.integer, np.floating)) and not hasattr(
                value, "as_tuple"
            ):
                raise DataJointError(
                    f"Invalid value {value!r} of type {type(value).__name__} for numeric "
                    f"attribute `{name}`"
                )
            value = str(value.item() if isinstance(value, np.generic) else value)
        elif attr.json:
            value = json.dumps(value)
        elif isinstance(value, np.generic):
            value = value.item()
        elif isinstance(value, (collections.abc.Mapping, list, tuple, set)):
            # the driver would write the container's repr (dict) or send invalid SQL
            raise DataJointError(
                f"Invalid value {value!r:.60} of type {type(value).__name__} for attribute "
                f"`{name}` of type {attr.type}"
            )
        return name, "%s", value

    def _make_row(self, row, field_list, ignore_extra_fields, ctx=None):
        """Placeholders and values of one row; the first row fixes the field list."""
        ctx = ctx or _InsertContext(self.heading)

        def check_fields(fields):
            if not field_list:
                if not ignore_extra_fields:
                    for field in fields:
                        if field not in ctx.name_set:
                            raise UnknownAttributeError(
                                f"`{field}` is not in the table heading"
                            ).suggest(
                                "To ignore extra fields in insert, set ignore_extra_fields=True"
                            )
            elif set(field_list) != ctx.name_set.intersection(fields):
                raise DataJointError("Attempt to insert rows with different fields.")

        if isinstance(row, dict):
            check_fields(row)
            attributes = [
                self._make_placeholder(name, row[name], ignore_extra_fields, ctx)
                for name in ctx.names
                if name in row
            ]
        elif isinstance(row, np.void):
            check_fields(row.dtype.fields)
            attributes = [
                self._make_placeholder(name, row[name], ignore_extra_fields, ctx)
                for name in ctx.names
                if name in row.dtype.fields
            ]
        elif isinstance(row, collections.abc.Mapping):
            check_fields(row)
            attributes = [
                self._make_placeholder(name, row[name], ignore_extra_fields, ctx)
                for name in ctx.names
                if name in row
            ]
        else:
            try:
                n = len(row)
            except TypeError:
                raise DataJointError(f"Datatype {type(row)} cannot be inserted") from None
            if n != len(ctx.names):
                raise DataJointError(
                    "Invalid insert argument. Incorrect number of attributes: "
                    f"{n} given; {len(ctx.names)} expected"
                )
            attributes = [
                self._make_placeholder(name, value, ignore_extra_fields, ctx)
                for name, value in zip(ctx.names, row, strict=True)
            ]
        if ignore_extra_fields:
            attributes = [a for a in attributes if a is not None]
        if not attributes:
            raise DataJointError("Cannot insert an empty row")
        names = [a[0] for a in attributes]
        given = set(names)
        missing = [
            k
            for k in ctx.primary_key
            if k not in given and not ctx.attrs[k].autoincrement and ctx.attrs[k].default is None
        ]
        if missing:
            raise MissingAttributeError(
                "Missing primary key attribute(s) " + ", ".join(f"`{k}`" for k in missing)
            )
        placeholders = [a[1] for a in attributes]
        values = [a[2] for a in attributes]
        if not field_list:
            field_list.extend(names)
        elif names != field_list:
            order = [names.index(f) for f in field_list]
            names = [names[i] for i in order]
            placeholders = [placeholders[i] for i in order]
            values = [values[i] for i in order]
        return {"names": names, "placeholders": placeholders, "values": values}

    # ---- cascading delete and drop ------------------------------------------------------------
    def delete(self, transaction=True, safemode=None, force_parts=False, force_masters=False):
        """Delete the rows of this (restricted) table and, recursively, every row of other
        tables that depends on them through foreign keys; return the number of rows deleted
        from this table.

        The cascade is planned from the dependency graph (renamed foreign keys and tables of
        other schemas included), shown table by table, and run leaves first in one
        transaction. ``safemode`` (default ``dj.config['safemode']``) asks "Commit deletes?"
        before committing; nothing is asked when there is nothing to delete, and a cancelled
        delete changes nothing (and returns 0). ``force_parts`` allows deleting part rows
        without their masters; ``force_masters`` extends the cascade to the masters of part
        rows reached through other tables (and so to all their parts). With
        ``transaction=False`` (inside a transaction of the caller) nothing is committed or
        rolled back here."""
        safemode = config["safemode"] if safemode is None else safemode
        conn = self.connection
        if transaction:
            if not conn.in_transaction:
                conn.start_transaction()
            elif not safemode:
                transaction = False
            else:
                raise DataJointError(
                    "Delete cannot use a transaction within an ongoing transaction. "
                    "Set transaction=False or safemode=False)."
                )
        try:
            counts = self._cascade(force_masters)
            if not force_parts:
                _check_part_integrity(self.full_table_name, counts)
        except BaseException:
            if transaction:
                conn.cancel_transaction()
            raise
        delete_count = counts[self.full_table_name]
        if not any(counts.values()):
            if safemode:
                logger.warning("Nothing to delete.")
            if transaction:
                conn.cancel_transaction()
            return 0
        if not transaction:
            logger.info("Delete completed")
            return delete_count
        if safemode:
            # the logger may have no handler: the person answering must see what goes
            print(_deletion_summary(counts), flush=True)
        try:
            confirmed = not safemode or user_choice("Commit deletes?", default="no") == "yes"
        except BaseException:  # e.g. Ctrl-C at the prompt: leave no open transaction behind
            conn.cancel_transaction()
            raise
        if confirmed:
            conn.commit_transaction()
            if safemode:
                logger.info("Delete committed.")
            return delete_count
        conn.cancel_transaction()
        logger.warning("Delete cancelled")
        return 0

    def _cascade(self, force_masters):
        """Delete this table's rows and everything that depends on them, leaves first, and
        return ``{table: rows deleted}`` (the table itself always included)."""
        plan = _CascadePlan(self, force_masters)
        counts = {self.full_table_name: 0}
        logs = {}  # one ~log writer per schema for the whole cascade
        for name in reversed(plan.order):
            table = plan.tables[name]
            if table.database not in logs:
                logs[table.database] = table._log
            table._log_ = logs[table.database]
            try:
                count = table.delete_quick(get_count=True)
            except IntegrityError as err:
                # a reference the graph does not hold: a table this user cannot see, or one
                # declared by another process during the delete
                raise err.suggest(
                    f"Rows of {name} are still referenced from a table that the dependency "
                    "graph does not hold (one this user cannot see, or one declared meanwhile)."
                ) from None
            counts[name] = count
            if count or name == self.full_table_name:
                logger.info(f"Deleting {count} rows from {name}")
        return counts

    def drop(self):
        """Drop this table and every table that depends on it (in other schemas too),
        dependents first. With ``safemode`` the tables and their row counts are listed and
        the user is asked to proceed."""
        if self.restriction:
            raise DataJointError(
                "A table with an applied restriction cannot be dropped."
                " Call drop() on the unrestricted Table."
            )
        deps = load_dependents(self.connection, [self.database])
        tables = [t for t in deps.descendants(self.full_table_name) if not t.isdigit()]
        for part in tables:
            master = extract_master(part)
            if master and master not in tables:
                raise DataJointError(
                    f"Attempt to drop part table {part} before dropping its master. "
                    f"Drop {master} first."
                )
        if config["safemode"]:
            listing = [f"{t} ({len(FreeTable(self.connection, t))} tuples)" for t in tables]
            for line in listing:
                logger.info(line)
            print("\n".join(listing), flush=True)
            if user_choice("Proceed?", default="no") != "yes":
                return
        for table in reversed(tables):
            FreeTable(self.connection, table).drop_quick()
        if self.connection.dependencies is not None:
            self.connection.dependencies.clear()
        logger.info("Tables dropped. Restart kernel.")

    # ---- update1 -------------------------------------------------------------------------
    def update1(self, row):
        """Update the secondary attributes of one existing row, given with its full primary
        key (``None`` resets an attribute to its default). Meant for corrections: as in
        DataJoint 0.14, not on restricted tables, and exactly one row must match."""
        if not isinstance(row, collections.abc.Mapping):
            raise DataJointError("The argument of update1 must be dict-like.")
        if not set(row).issuperset(self.primary_key):
            raise DataJointError("The argument of update1 must supply all primary key values.")
        missing = next((k for k in row if k not in self.heading.names), None)
        if missing is not None:
            raise DataJointError(f"Attribute `{missing}` not found.")
        if len(self.restriction):
            raise DataJointError("Update cannot be applied to a restricted table.")
        key = {k: row[k] for k in self.primary_key}
        if len(self & key) != 1:
            raise DataJointError("Update can only be applied to one existing entry.")
        ctx = _InsertContext(self.heading)
        assignments = [
            self._make_placeholder(k, v, ctx=ctx) for k, v in row.items() if k not in key
        ]
        if not assignments:
            return
        adapter = self.adapter
        if not adapter.renders_values:  # values as parameters: the backend's own forms
            assignments = [
                (
                    name,
                    adapter.column_default_sql(self.heading[name])
                    if placeholder == "DEFAULT"
                    else placeholder,
                    adapter.parameter(self.heading[name], value),
                )
                for name, placeholder, value in assignments
            ]
        values = [a[2] for a in assignments]
        pending = [i for i, v in enumerate(values) if isinstance(v, _PendingBlob)]
        packed_blobs = blob.pack_many([values[i].value for i in pending])
        for i, packed in zip(pending, packed_blobs, strict=True):
            values[i] = packed
        tracking = transfer.resolve_pending(self, [values])
        sql = "UPDATE {} SET {} WHERE {}".format(
            self.full_table_name,
            ",".join(f"`{a[0]}`={a[1]}" for a in assignments),
            make_condition(self, key, set()),
        )
        with transfer.atomic(self.connection):
            for statement, args in tracking:
                self.connection.query(statement, args=args)
            self.connection.query(sql, args=[v for v in values if v is not None])

    # ---- alter ----------------------------------------------------------------------------
    def alter(self, prompt=True, context=None):
        """Change the table's definition in place to match ``self.definition``: secondary
        attributes may be added, dropped, changed, or renamed (``new_name : type #
        {old_name} ...``), and the table comment changed; primary key, foreign key and index
        changes raise NotImplementedError. With ``prompt`` the ALTER statement is shown and
        the user asked "Execute?"."""
        if self.connection.in_transaction:
            raise DataJointError(
                "Cannot update table declaration inside a transaction, "
                "e.g. from inside a populate/make call"
            )
        if context is None:
            frame = inspect.currentframe().f_back
            context = dict(frame.f_globals, **frame.f_locals)
            del frame
        old_definition = self.describe(context=context)
        adapter = self.adapter
        with using(adapter):
            clauses, external_stores = alter(self.definition, old_definition, context)
        if not clauses:
            if prompt:
                logger.warning("Nothing to alter.")
            return
        sql = adapter.alter_table_sql(self.full_table_name, clauses)
        if prompt and user_choice(sql + "\n\nExecute?") != "yes":
            return
        try:
            for store in external_stores:
                self.connection.schemas[self.database].external[store]  # declares ~external_

            def create_sql():  # the new CREATE TABLE, for backends that rebuild the table
                with using(adapter):
                    ddl, _ = declare(self.full_table_name, self.definition, context)
                return ddl.format(database=self.database)

            adapter.alter_table(self.connection, self.full_table_name, clauses, sql, create_sql)
        except AccessError:
            logger.warning(f"Could not alter {self.full_table_name} (insufficient privileges)")
            return
        # the heading is read again from the server on next use
        heading = Heading(table_info=self.heading.table_info)
        if "_heading" in vars(self):
            self._heading = heading
        if not isinstance(self, FreeTable):
            type(self)._heading = heading  # user classes keep theirs on the class
        if prompt:
            logger.info("Table altered")
        self._log("Altered " + self.full_table_name)

    # ---- quick delete and drop --------------------------------------------------------------
    def delete_quick(self, get_count=False):
        """``DELETE`` the rows of this (restricted) table without cascading or prompts."""
        query = "DELETE FROM " + self.full_table_name + self.where_clause()
        cursor = self.connection.query(query)
        count = cursor.rowcount if get_count else None
        self._log(query[:255])
        return count

    def drop_quick(self):
        """``DROP TABLE`` without cascading or prompts."""
        if self.is_declared:
            query = "DROP TABLE %s" % self.full_table_name
            self.connection.query(query)
            logger.info("Dropped table %s" % self.full_table_name)
            self._log(query[:255])
        else:
            logger.info(f"Nothing to drop: table {self.full_table_name} is not declared")


# ---- cascading delete: the plan ------------------------------------------------------------
class _CascadePlan:
    """The tables a cascading delete of ``table`` touches, computed from the dependency graph
    before anything is deleted.

    ``tables`` maps each table name to a FreeTable restricted to exactly the rows to delete:
    the OR, over every foreign key leading to it from a table in the plan, of the rows that
    reference rows to delete there. ``order`` lists those tables in topological order (delete
    in reverse). Tables without matching rows are left out, and so are their dependents along
    that path. Restrictions are SQL over the parents' restrictions (semijoins), so the rows of
    a table must be deleted before those of its parents; where the parent's restriction only
    uses attributes that the child inherits unrenamed in its primary key, it is copied as it
    is instead (a flat condition the server answers from the index)."""

    def __init__(self, table, force_masters):
        self.connection = conn = table.connection
        self.top = top = table.full_table_name
        self.deps = load_dependents(conn, [table.database])
        self._free_tables = {}
        root = self._table(top)
        if table._top or _reads_dependents(table, self.deps):
            # Read the keys to delete first. dj.Top: the server cannot LIMIT inside IN (...).
            # A restriction that reads a dependent table (``Session & (Scan & cond)``,
            # ``Subject - Pair``) would be evaluated after that table's rows are gone
            # (leaves first), and select other rows.
            keys = table.fetch("KEY")
            restriction = AndList([make_condition(root, keys, set())]) if keys else [False]
            root_alt = (AndList(restriction), set(root.primary_key))
        else:
            root_alt = (AndList(table.restriction), set(table.restriction_attributes))
        seeds = {top: [root_alt]}
        visited_masters = set()
        while True:
            masters = self._propagate(seeds, force_masters, visited_masters)
            if not masters:
                break
            for master, alt in masters:  # force_masters: restart with the masters included
                seeds.setdefault(master, []).append(alt)

    def _table(self, name):
        """A new unrestricted FreeTable of ``name`` (all of them share one heading)."""
        base = self._free_tables.get(name)
        if base is None:
            base = self._free_tables[name] = FreeTable(self.connection, name)
        return copy.copy(base)

    def _propagate(self, seeds, force_masters, visited_masters):
        deps = self.deps
        nodes = set()
        for seed in seeds:
            nodes.add(seed)
            if seed in deps:
                nodes.update(nx.descendants(deps, seed))
        incoming = {name: [(None, alt) for alt in alts] for name, alts in seeds.items()}
        self.tables, self.order = {}, []
        new_masters = []
        order = [n for n in nx.lexicographical_topological_sort(deps.subgraph(nodes))]
        order = [s for s in seeds if s not in deps] + [n for n in order if not n.isdigit()]
        for name in order:
            if name not in incoming:
                continue
            table = _restricted(self._table(name), [alt for _, alt in incoming[name]])
            if name != self.top and not table:
                continue  # no rows to delete here: nothing below depends on this path
            if force_masters:
                master = extract_master(name)
                via_others = [alt for parent, alt in incoming[name] if parent not in (master, None)]
                if master and via_others and master not in visited_masters:
                    visited_masters.add(master)
                    parts = _restricted(self._table(name), via_others)
                    alt = _masters_of(self._table(master), parts)
                    if alt is not None:
                        new_masters.append((master, alt))
            self.tables[name] = table
            self.order.append(name)
            for child, props in _children(deps, name):
                alt = _child_restriction(self._table(child), table, props)
                incoming.setdefault(child, []).append((name, alt))
        return new_masters


def _reads_dependents(table, deps):
    """True if the restriction of ``table`` mentions a table that depends on it (in the SQL
    our expressions render, or written by hand as ```db`.`name``` or ``db.name``)."""
    if not table.restriction or table.full_table_name not in deps:
        return False
    sql = " ".join(str(c) for c in table.restriction)
    for name in nx.descendants(deps, table.full_table_name):
        if not name.isdigit() and (name in sql or name.replace("`", "") in sql):
            return True
    return False


def _children(deps, name):
    """(child, edge properties) of each foreign key referencing ``name``, stepping over the
    alias nodes of renamed foreign keys."""
    for child, props in deps.children(name).items():
        if child.isdigit():
            child = next(iter(deps.children(child)))
        yield child, props


def _child_restriction(child, parent, props):
    """The rows of ``child`` referencing rows of the restricted ``parent`` through the foreign
    key described by ``props``, as (AndList of SQL conditions, attribute names used)."""
    attr_map = props["attr_map"]
    if not props["aliased"] and props["primary"] and parent.restriction_attributes <= set(attr_map):
        # the child carries these attributes, with the same values, in its primary key
        return AndList(parent.restriction), set(parent.restriction_attributes)
    renames = {new: old for new, old in attr_map.items() if new != old}
    columns = set()
    condition = make_condition(child, parent.proj(**renames), columns)
    return AndList([condition]), columns


def _restricted(table, alternatives):
    """``table`` restricted to the rows matching any of the (AndList, attributes)
    alternatives."""
    adapter = table.adapter
    if any(not conds for conds, _ in alternatives):
        return table  # one alternative is the whole table
    if len(alternatives) == 1:
        conds, attrs = alternatives[0]
        table._restriction = AndList(conds)
        table._restriction_attributes = set(attrs)
        return table
    condition = adapter.combine_or(
        False,
        [adapter.combine_and(False, [str(c) for c in conds]) for conds, _ in alternatives],
    )
    table._restriction = AndList([condition])
    table._restriction_attributes = set().union(*(attrs for _, attrs in alternatives))
    return table


def _masters_of(master_table, parts):
    """(force_masters) The rows of ``master_table`` of the part rows ``parts``, as an
    alternative restriction of the master (their keys, read now), or None if there are
    none."""
    keys = (master_table.proj() & parts.proj()).fetch(as_dict=True)
    if not keys:
        return None
    columns = set()
    return AndList([make_condition(master_table, keys, columns)]), columns


def _check_part_integrity(top, counts):
    """0.14's rule: rows of a part table may only go with rows of its master."""
    deleted = {name for name, count in counts.items() if count} | {top}
    for part in sorted(deleted):
        master = extract_master(part)
        if master and master not in deleted:
            raise DataJointError(
                f"Attempt to delete part table {part} before deleting from its master "
                f"{master} first."
            ).suggest(
                "Delete from the master, or pass force_masters=True to include the masters "
                "(force_parts=True deletes the part rows alone)."
            )


def _deletion_summary(counts):
    """The lines shown before "Commit deletes?": rows per table, in deletion order."""
    return "\n".join(
        f"Deleting {count} rows from {name}" for name, count in counts.items() if count
    )


def _with_insert_hint(err):
    """A failed insert's error with 0.14's hint of the option that avoids it."""
    if isinstance(err, UnknownAttributeError):
        return err.suggest("To ignore extra fields in insert, set ignore_extra_fields=True")
    return err.suggest("To ignore duplicate entries in insert, set skip_duplicates=True")


def _declarable_default(default):
    """The default as a definition can declare it: MariaDB reports ``CURRENT_TIMESTAMP`` as
    ``current_timestamp()``, which the heading quotes like a string (as 0.14 does); a quoted
    function call would be declared as a (rejected) string default."""
    match = default and re.fullmatch(r'"current_timestamp(\(\d*\))?"', default, re.IGNORECASE)
    if match:
        return "CURRENT_TIMESTAMP" + ("" if match[1] in (None, "()") else match[1])
    return default


def _is_empty_number(value):
    if isinstance(value, str):
        return value == ""
    try:
        return bool(np.isnan(float(value)))
    except (TypeError, ValueError):
        return False


# values of these exact types go to the driver unchanged for non-numeric plain attributes
_PLAIN_TYPES = frozenset(
    {str, datetime.date, datetime.datetime, datetime.time, datetime.timedelta, decimal.Decimal}
)


class _InsertContext:
    """What one insert needs of the heading, computed once instead of per value."""

    __slots__ = ("names", "name_set", "attrs", "primary_key", "plain")

    def __init__(self, heading):
        self.names = list(heading.names)
        self.name_set = set(self.names)
        self.attrs = dict(heading.attributes)
        self.primary_key = list(heading.primary_key)
        # attributes whose plain str / int / float values go to the driver as they are
        self.plain = {
            name: "num" if attr.numeric else "str"
            for name, attr in self.attrs.items()
            if not (
                attr.adapter
                or attr.uuid
                or attr.json
                or attr.is_blob
                or attr.is_attachment
                or attr.is_filepath
                or attr.is_external
            )
        }


class _PendingBlob:
    """A blob value waiting to be packed together with the rest of its insert."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


#: most parameters of one prepared statement (the protocol counts them in 16 bits)
_MAX_PARAMETERS = 65535

#: binary bytes in one insert from which its statements are sent on the binary character set
#: (two more round trips, repaid by the faster parsing from about a megabyte on)
_BINARY_CHARSET_MIN_BYTES = 1 << 20


def _pack_pending_blobs(rows):
    """Pack every pending blob of the prepared rows in one native call (byte-identical to
    packing them one by one; the compression of all of them runs in parallel), then size the
    rows for chunking."""
    pending = [
        (row["values"], i)
        for row in rows
        for i, v in enumerate(row["values"])
        if isinstance(v, _PendingBlob)
    ]
    if pending:
        packed = blob.pack_many([values[i].value for values, i in pending])
        for (values, i), data in zip(pending, packed, strict=True):
            values[i] = data
    for row in rows:
        row["size"] = sum(_value_size(v) for v in row["values"] if v is not None)
        row["binary"] = sum(len(v) for v in row["values"] if type(v) is bytes)
        row["n_binary"] = sum(isinstance(v, bytes | bytearray) for v in row["values"])


def _value_size(value):
    """Bytes a value may take in the statement before escaping (UTF-8: up to 4 per char)."""
    t = type(value)
    if t is str:
        return len(value) if value.isascii() else 4 * len(value)
    if t is bytes:
        return len(value)
    return 8


def _chunks(rows, budget, max_binary=None):
    """Split prepared rows into groups whose values add up to at most ``budget`` bytes
    (a single larger row goes alone) and, with ``max_binary``, that have at most that many
    binary values."""
    chunk, size, n_binary = [], 0, 0
    for row in rows:
        row_binary = row["n_binary"] if max_binary else 0
        if chunk and (
            size + row["size"] > budget or (max_binary and n_binary + row_binary > max_binary)
        ):
            yield chunk
            chunk, size, n_binary = [], 0, 0
        chunk.append(row)
        size += row["size"] + 16
        n_binary += row_binary
    if chunk:
        yield chunk


def lookup_class_name(name, context, depth=3):
    """The dotted name under which the table `` `db`.`tbl` `` is reachable in ``context``
    (searching imported modules ``depth`` levels deep), or None."""
    nodes = [dict(context=context, context_name="", depth=depth)]
    while nodes:
        node = nodes.pop(0)
        for member_name, member in node["context"].items():
            if member_name.startswith("_"):
                continue
            if inspect.isclass(member) and issubclass(member, Table):
                try:
                    if member.full_table_name == name:
                        return ".".join([node["context_name"], member_name]).lstrip(".")
                except DataJointError:
                    continue
                for part_name in (p for p in member.__dict__ if p[0].isupper()):
                    part = getattr(member, part_name, None)
                    if inspect.isclass(part) and issubclass(part, Table):
                        try:
                            found = part.full_table_name == name
                        except DataJointError:
                            found = False
                        if found:
                            return ".".join(
                                [node["context_name"], member_name, part.__name__]
                            ).lstrip(".")
            elif (
                node["depth"] > 0
                and inspect.ismodule(member)
                and member.__name__ not in ("datajoint", "datajoint_rs")
            ):
                try:
                    nodes.append(
                        dict(
                            context=dict(inspect.getmembers(member)),
                            context_name=node["context_name"] + "." + member_name,
                            depth=node["depth"] - 1,
                        )
                    )
                except ImportError:
                    pass
    return None


class FreeTable(Table):
    """A table without a class of its own: ``FreeTable(conn, "`db`.`table`")``."""

    def __init__(self, conn, full_table_name):
        self.database, self._table_name = (s.strip("`") for s in full_table_name.split("."))
        self._connection = conn
        self._support = [full_table_name]
        self._heading = Heading(
            table_info=dict(
                conn=conn, database=self.database, table_name=self.table_name, context=None
            )
        )

    def __repr__(self):
        return f"FreeTable(`{self.database}`.`{self._table_name}`)\n" + super().__repr__()


class Log(Table):
    """The schema's ``~log`` table; calling it records an event (0.14's layout)."""

    _table_name = "~log"

    def __init__(self, conn, database, skip_logging=False):
        self.database = database
        self.skip_logging = skip_logging
        self._connection = conn
        self._heading = Heading(
            table_info=dict(conn=conn, database=database, table_name=self.table_name, context=None)
        )
        self._support = [self.full_table_name]
        self._definition = f"""    # event logging table for `{database}`
        id       :int unsigned auto_increment     # event order id
        ---
        timestamp = CURRENT_TIMESTAMP : timestamp # event timestamp
        version  :varchar(12)                     # datajoint version
        user     :varchar(255)                    # user@host
        host=""  :varchar(255)                    # system hostname
        event="" :varchar(255)                    # event message
        """
        super().__init__()
        if not self.is_declared:
            if self.connection.in_transaction:
                # a table cannot be declared in a transaction (e.g. a cascading delete in a
                # schema made by another tool): the events are not logged
                self.skip_logging = True
            else:
                self.declare()
                if self.connection.dependencies is not None:
                    self.connection.dependencies.clear()
        self._user = self.connection.get_user()

    @property
    def definition(self):
        return self._definition

    def __call__(self, event, skip_logging=None):
        skip_logging = self.skip_logging if skip_logging is None else skip_logging
        if skip_logging:
            return
        try:
            self.insert1(
                dict(
                    user=self._user, version=version + "rs", host=platform.uname().node, event=event
                ),
                skip_duplicates=True,
                ignore_extra_fields=True,
            )
        except DataJointError:
            logger.info("could not log event in table ~log")

    def delete(self):
        self.delete_quick()

    def drop(self):
        self.drop_quick()
