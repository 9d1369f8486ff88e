"""The MySQL / MariaDB dialect: identifier quoting, the type categories of the definition
language, DDL rendering and the catalog queries that read a table's heading.

Everything here renders byte for byte what DataJoint 0.14 sends, because tables declared by
datajoint_rs must be indistinguishable from tables declared by 0.14 (0.14 reads their column
comments and definitions back). Quirks of 0.14 that reach the server are therefore kept and
marked "0.14 quirk" where they look like mistakes.
"""

from __future__ import annotations

import datetime
import decimal
import math
import re
import uuid
from collections.abc import Iterable, Sequence

import numpy as np

from ..errors import DataJointError

# --------------------------------------------------------------------------------------------
# type categories of the definition language
# --------------------------------------------------------------------------------------------
# Patterns are used with ``.match`` (anchored at the start only), case-insensitively, and in
# this order: the first category that matches wins. A store name is a letter followed by
# letters, digits, "_" or "-".
_STORE = r"(?P<store>[a-z][\-\w]*)"
_SIZE = r"(?:\s*\(.+\))?"  # an optional parenthesised size/precision, e.g. "(10)" or "(5,2)"

_TYPE_PATTERN_SOURCES = {
    # 0.14 quirk: only "serial" is anchored at the end, so any type that *starts* with one of
    # the integer names is an INTEGER (e.g. "int(10) unsigned zerofill", or even "interval").
    "INTEGER": (
        r"(?:(?:tiny|small|medium|big)?int|integer)"
        + _SIZE
        + r"(?:\s+unsigned)?(?:\s+auto_increment)?|serial$"
    ),
    "DECIMAL": r"(?:decimal|numeric)" + _SIZE + r"(?:\s+unsigned)?$",
    "FLOAT": r"(?:double|float|real)" + _SIZE + r"(?:\s+unsigned)?$",
    "STRING": r"(?:var)?char\s*\(.+\)$",
    "JSON": r"json$",
    "ENUM": r"enum\s*\(.+\)$",
    "BOOL": r"bool(?:ean)?$",  # declared as tinyint
    "TEMPORAL": r"(?:date|datetime|time|timestamp|year)" + _SIZE + r"$",
    "INTERNAL_BLOB": r"(?:tiny|small|medium|long)?blob$",
    "EXTERNAL_BLOB": r"blob@" + _STORE + r"$",
    "INTERNAL_ATTACH": r"attach$",
    "EXTERNAL_ATTACH": r"attach@" + _STORE + r"$",
    "FILEPATH": r"filepath@" + _STORE + r"$",
    "UUID": r"uuid$",
    "ADAPTED": r"<.+>$",
}

#: category name -> compiled pattern, in matching order (0.14's ``declare.TYPE_PATTERN``).
TYPE_PATTERN = {name: re.compile(src, re.I) for name, src in _TYPE_PATTERN_SOURCES.items()}

#: DataJoint types that the server does not know: the declared type is written at the start of
#: the column comment as ``:type:`` and the column gets a native type in its place.
SPECIAL_TYPES = frozenset(
    {"UUID", "INTERNAL_ATTACH", "EXTERNAL_ATTACH", "EXTERNAL_BLOB", "FILEPATH", "ADAPTED"}
)
#: the categories the server stores as declared
NATIVE_TYPES = frozenset(TYPE_PATTERN) - SPECIAL_TYPES
#: data held in an external store, referenced from the row by a UUID (``binary(16)``)
EXTERNAL_TYPES = frozenset({"EXTERNAL_ATTACH", "EXTERNAL_BLOB", "FILEPATH"})
#: values that go through DataJoint serialization (blob packing / attachment framing)
SERIALIZED_TYPES = frozenset(
    {"EXTERNAL_ATTACH", "INTERNAL_ATTACH", "EXTERNAL_BLOB", "INTERNAL_BLOB"}
)
NUMERIC_CATEGORIES = ("DECIMAL", "INTEGER", "FLOAT")
STRING_CATEGORIES = ("ENUM", "TEMPORAL", "STRING")

UUID_DATA_TYPE = "binary(16)"
#: default values written without quotes (compared case-insensitively, before any "(")
CONSTANT_LITERALS = frozenset({"CURRENT_TIMESTAMP", "NULL"})
EXTERNAL_TABLE_ROOT = "~external"
#: MariaDB CAST targets of json_value's MySQL ``returning`` types that CAST does not accept
#: (None: leave the value uncast)
_MARIADB_CASTS = {"year": "unsigned", "json": None}
#: MariaDB stores a ``json`` column as ``longtext`` with this check constraint
_JSON_CHECK = re.compile(r"^\s*json_valid\(`(?P<name>(?:[^`]|``)+)`\)\s*$", re.I)
MAX_TABLE_NAME_LENGTH = 64


class MySQLAdapter:
    """SQL text for MySQL 8 / MariaDB 10.x, as DataJoint 0.14 writes it."""

    name = "mysql"
    type_pattern = TYPE_PATTERN
    special_types = SPECIAL_TYPES
    native_types = NATIVE_TYPES
    external_types = EXTERNAL_TYPES
    serialized_types = SERIALIZED_TYPES
    uuid_data_type = UUID_DATA_TYPE
    constant_literals = CONSTANT_LITERALS
    external_table_root = EXTERNAL_TABLE_ROOT
    max_table_name_length = MAX_TABLE_NAME_LENGTH
    #: default written by the server for ``CURRENT_TIMESTAMP`` columns, as 0.14 compares it
    sql_literals = ("CURRENT_TIMESTAMP",)

    # ---- identifiers -------------------------------------------------------------------------
    def quote(self, name: str) -> str:
        """Quote one identifier: ``name`` -> `` `name` ``."""
        return f"`{name}`"

    def quote_list(self, names: Iterable[str]) -> str:
        """`` `a`,`b` `` (no spaces: the form 0.14 writes in keys)."""
        return ",".join(self.quote(n) for n in names)

    def full_table_name(self, database: str, table_name: str) -> str:
        return f"{self.quote(database)}.{self.quote(table_name)}"

    # ---- types -------------------------------------------------------------------------------
    def type_category(self, attribute_type: str) -> str | None:
        """The first category whose pattern matches ``attribute_type``; None if none does."""
        for category, pattern in TYPE_PATTERN.items():
            if pattern.match(attribute_type):
                return category
        return None

    def is_category(self, attribute_type: str, *categories: str) -> bool:
        return any(TYPE_PATTERN[c].match(attribute_type) for c in categories)

    # ---- column and constraint clauses -------------------------------------------------------
    def default_clause(self, default: str, nullable: bool) -> str:
        """The nullability/default part of a column: ``NOT NULL``, ``DEFAULT NULL`` or
        ``NOT NULL DEFAULT <value>``. A value that is neither quoted nor a constant literal
        (``CURRENT_TIMESTAMP``, ``NULL``, possibly followed by ``(...)``) is double-quoted."""
        if nullable:
            return "DEFAULT NULL"
        if not default:
            return "NOT NULL"
        is_literal = default.split("(")[0].upper() in CONSTANT_LITERALS
        if not is_literal and default[0] not in "\"'":
            default = f'"{default}"'
        return f"NOT NULL DEFAULT {default}"

    def column_sql(self, name: str, sql_type: str, default_clause: str, comment: str) -> str:
        """One column of CREATE TABLE; the COMMENT clause only when there is a comment.
        ``comment`` must already be escaped (see :meth:`escape_comment`)."""
        sql = f"{self.quote(name)} {sql_type} {default_clause}"
        return f'{sql} COMMENT "{comment}"' if comment else sql

    def escape_comment(self, comment: str) -> str:
        # 0.14 escapes only double quotes (comments are written in double quotes).
        return comment.replace('"', '\\"')

    def key_column_sql(self, name: str, sql_type: str, comment: str) -> str:
        """A column copied into a child table by a foreign key: always NOT NULL, always with
        a COMMENT clause, and no default (0.14 quirk: the comment is not escaped)."""
        return f'{self.quote(name)} {sql_type} NOT NULL COMMENT "{comment}"'

    def primary_key_sql(self, names: Sequence[str]) -> str:
        return f"PRIMARY KEY ({self.quote_list(names)})"

    def foreign_key_sql(
        self, columns: Sequence[str], ref_table: str, ref_columns: Sequence[str]
    ) -> str:
        return (
            f"FOREIGN KEY ({self.quote_list(columns)}) REFERENCES {ref_table} "
            f"({self.quote_list(ref_columns)}) ON UPDATE CASCADE ON DELETE RESTRICT"
        )

    def external_foreign_key_sql(self, column: str, store: str) -> str:
        """The key from an external-storage column to ``~external_<store>`` of the same schema.
        The schema is left as the placeholder ``{database}``: the caller fills it with
        ``sql.format(database=...)``, as 0.14's ``Table.declare`` does."""
        return (
            f"FOREIGN KEY ({self.quote(column)}) REFERENCES "
            f"`{{database}}`.{self.quote(f'{EXTERNAL_TABLE_ROOT}_{store}')} (`hash`) "
            "ON UPDATE RESTRICT ON DELETE RESTRICT"
        )

    def unique_index_sql(self, columns: Sequence[str]) -> str:
        """The unique index of a ``-> [unique] Parent`` reference."""
        return f"UNIQUE INDEX ({self.quote_list(columns)})"

    def index_sql(self, unique: bool, elements: Sequence[str]) -> str:
        """An ``index(...)`` line; ``elements`` are already rendered (quoted columns or
        parenthesised expressions)."""
        return f"{'unique ' if unique else ''}index ({','.join(elements)})"

    def json_path_sql(
        self, attribute: str, path: str, returning: str | None = None, *, mariadb: bool = False
    ) -> str:
        """The value at ``path`` (dotted, without ``$.``) inside the JSON column ``attribute``,
        as ``json_value(... returning <type>)`` (MySQL 8, 0.14's text). MariaDB's json_value
        has no ``returning`` clause: with ``mariadb=True`` the value is ``CAST`` to the type
        instead (``year`` as ``unsigned``; ``json`` is not cast)."""
        sql = f"json_value({self.quote(attribute)}, _utf8mb4'$.{path}'"
        if not returning:
            return sql + ")"
        if not mariadb:
            return f"{sql} returning {returning})"
        cast = _MARIADB_CASTS.get(returning.strip().lower(), returning)
        return f"{sql})" if cast is None else f"CAST({sql}) AS {cast})"

    def is_mariadb(self, conn) -> bool:
        """Whether ``conn`` talks to MariaDB (asked once per connection, then remembered on
        it as ``_dj_is_mariadb``). @@version may be a bare number (scripts/mariadb.sh sets
        it so), so the server is asked to run MariaDB-only code: ``/*M! */`` comments."""
        known = getattr(conn, "_dj_is_mariadb", None)
        if known is None:
            known = bool(int(conn.query("SELECT 0 /*M! + 1 */").fetchone()[0]))
            try:
                conn._dj_is_mariadb = known
            except AttributeError:  # pragma: no cover - a connection without a __dict__
                pass
        return known

    def hidden_timestamp_sql(self, name: str) -> str:
        return f"{self.quote(name)} timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP"

    def create_table_sql(
        self,
        full_table_name: str,
        column_sql: Sequence[str],
        primary_key: Sequence[str],
        foreign_key_sql: Sequence[str],
        index_sql: Sequence[str],
        comment: str,
    ) -> str:
        """``CREATE TABLE IF NOT EXISTS``: columns, primary key, foreign keys, indexes, one
        per line; the table comment is not escaped (0.14 quirk)."""
        clauses = [*column_sql, self.primary_key_sql(primary_key), *foreign_key_sql, *index_sql]
        body = ",\n".join(clauses)
        return (
            f"CREATE TABLE IF NOT EXISTS {full_table_name} (\n{body}\n) "
            f'ENGINE=InnoDB, COMMENT "{comment}"'
        )

    # ---- ALTER TABLE clauses -----------------------------------------------------------------
    # 0.14 writes "<verb> <column> <after>" with an empty <after> leaving a trailing space.
    def _after(self, after: str | None) -> str:
        return "" if after is None else f"AFTER {self.quote(after)}"

    def drop_column_sql(self, name: str) -> str:
        return f"DROP {self.quote(name)}"

    def add_column_sql(self, column_sql: str, after: str | None = None) -> str:
        return f"ADD {column_sql} {self._after(after)}"

    def modify_column_sql(self, column_sql: str, after: str | None = None) -> str:
        return f"MODIFY {column_sql} {self._after(after)}"

    def change_column_sql(self, old_name: str, column_sql: str, after: str | None = None) -> str:
        return f"CHANGE {self.quote(old_name)} {column_sql} {self._after(after)}"

    def table_comment_sql(self, comment: str) -> str:
        return f'COMMENT="{comment}"'

    def alter_table(self, conn, full_table_name: str, clauses, sql: str, create_sql) -> None:
        """Run ``alter()``'s change: the ALTER TABLE statement ``sql`` of ``clauses``
        (``create_sql()`` gives the new CREATE TABLE, for backends that rebuild instead)."""
        conn.query(sql)

    def alter_table_sql(self, full_table_name: str, clauses: Sequence[str]) -> str:
        return f"ALTER TABLE {full_table_name}\n\t" + ",\n\t".join(clauses)

    # ---- reading a table's heading from the catalog ------------------------------------------
    # The SHOW statements (rather than information_schema) are deliberate: they report what
    # 0.14 reads. MariaDB's information_schema.COLUMNS quotes string defaults and reports a
    # NULL default as the text 'NULL', and table_status must carry SHOW TABLE STATUS's keys
    # (users read heading.table_status["comment"], ["rows"], ["data_length"], ...).
    def table_status_query(self, database: str, table_name: str) -> tuple[str, tuple]:
        db = self.quote(database).replace("%", "%%")  # the query is %-formatted with args
        return f"SHOW TABLE STATUS FROM {db} WHERE name=%s", (table_name,)

    def columns_query(self, database: str, table_name: str) -> tuple[str, tuple]:
        return f"SHOW FULL COLUMNS FROM {self.quote(table_name)} IN {self.quote(database)}", ()

    def indexes_query(self, database: str, table_name: str) -> tuple[str, tuple]:
        return f"SHOW KEYS FROM {self.full_table_name(database, table_name)}", ()

    def load_table_status(self, conn, database: str, table_name: str) -> dict | None:
        """``SHOW TABLE STATUS`` of one table with lower-cased keys, or None if it is missing."""
        sql, args = self.table_status_query(database, table_name)
        row = conn.query(sql, args, as_dict=True).fetchone()
        return None if row is None else {k.lower(): v for k, v in row.items()}

    def json_columns_query(self, database: str, table_name: str) -> tuple[str, tuple]:
        """The CHECK clauses of a table. MariaDB only: its CHECK_CONSTRAINTS has a TABLE_NAME
        column (MySQL's has not, and MySQL reports json columns as ``json`` anyway); the
        ``/*M! */`` comment hides the MariaDB part from MySQL, which gets no rows."""
        sql = (
            "SELECT NULL AS check_clause FROM DUAL WHERE FALSE /*M! UNION ALL "
            "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
            "WHERE CONSTRAINT_SCHEMA=%s AND TABLE_NAME=%s */"
        )
        return sql, (database, table_name)

    def load_json_columns(self, conn, database: str, table_name: str) -> set[str]:
        """Names of the columns constrained by ``CHECK (json_valid(`col`))``: MariaDB's
        ``json`` columns (it implements ``json`` as ``longtext`` with that constraint)."""
        sql, args = self.json_columns_query(database, table_name)
        names = set()
        for (clause,) in conn.query(sql, args).fetchall():
            match = _JSON_CHECK.match(clause or "")
            if match:
                names.add(match["name"].replace("``", "`"))
        return names

    def load_columns(self, conn, database: str, table_name: str) -> list[dict]:
        """The columns in table order, as dicts with keys name, type, nullable (bool),
        default (as the server reports it), in_key (bool), comment, autoincrement (bool).

        MariaDB's ``json`` columns (reported as ``longtext``, see :meth:`load_json_columns`)
        are given the type ``json``, as MySQL 8 reports them: 0.14 sees a ``longtext`` there
        and cannot use the column. The constraints are read only for tables that have a
        ``longtext`` column."""
        sql, args = self.columns_query(database, table_name)
        columns = self._read_columns(conn, sql, args)
        if any(c["type"].lower() == "longtext" for c in columns):
            json_columns = self.load_json_columns(conn, database, table_name)
            for column in columns:
                if column["type"].lower() == "longtext" and column["name"] in json_columns:
                    column["type"] = "json"
        return columns

    def _read_columns(self, conn, sql: str, args: tuple) -> list[dict]:
        return [
            dict(
                name=row["Field"],
                type=row["Type"],
                nullable=row["Null"] == "YES",
                default=row["Default"],
                in_key=row["Key"] == "PRI",
                comment=row["Comment"],
                autoincrement=bool(re.search(r"auto_increment", row["Extra"], flags=re.I)),
            )
            for row in conn.query(sql, args, as_dict=True).fetchall()
        ]

    def load_indexes(self, conn, database: str, table_name: str) -> list[dict]:
        """The secondary indexes' columns (PRIMARY excluded), as dicts with keys key_name, seq,
        column (a name, or a parenthesised expression for functional key parts), unique and
        nullable."""
        sql, args = self.indexes_query(database, table_name)
        result = []
        for row in conn.query(sql, args, as_dict=True).fetchall():
            if row["Key_name"] == "PRIMARY":
                continue
            column = row["Column_name"] or f"({row.get('Expression')})".replace(r"\'", "'")
            result.append(
                dict(
                    key_name=row["Key_name"],
                    seq=row["Seq_in_index"],
                    column=column,
                    unique=row["Non_unique"] == 0,
                    nullable=row["Null"].lower() == "yes",
                )
            )
        return result

    # ---- fetched values ----------------------------------------------------------------------
    def convert_fetched(self, heading, columns):
        """Fetched columns as the MySQL driver gives them: nothing to convert."""
        return columns

    # ---- inserts -----------------------------------------------------------------------------
    #: INSERT statements carry their values rendered into the SQL text (``_native.sql_values``,
    #: MySQL's escaping); False: values go as parameters (``connection.executemany``)
    renders_values = True

    def converts_parameter(self, attr) -> bool:
        """Whether :meth:`parameter` changes values of ``attr`` (for backends that take
        values as parameters)."""
        return False

    def parameter(self, attr, value):
        """``value`` of ``attr`` as the backend stores it."""
        return value

    def column_default_sql(self, attr) -> str:
        return "DEFAULT"

    def skip_duplicates_clause(self, primary_key: Sequence[str], table: str | None = None) -> str:
        """The tail of an INSERT that skips rows whose key exists (0.14: an update of the first
        key attribute to itself; ``table`` qualifies it in INSERT ... SELECT)."""
        pk = self.quote(primary_key[0])
        return f" ON DUPLICATE KEY UPDATE {pk}={table + '.' if table else ''}{pk}"

    def insert_select_sql(
        self, command: str, table: str, fields: Sequence[str], select_sql: str, tail: str
    ) -> str:
        return f"{command} INTO {table} ({self.quote_list(fields)}) {select_sql}{tail}"

    def max_statement_bytes(self, conn) -> int:
        """The longest statement the server accepts (``max_allowed_packet``)."""
        return int(conn.query("SELECT @@max_allowed_packet").fetchone()[0])

    def table_size(self, conn, database: str, table_name: str) -> int:
        """Data and index bytes of one table."""
        row = conn.query(
            f"SHOW TABLE STATUS FROM {self.quote(database)} WHERE NAME=%s",
            args=(table_name,),
            as_dict=True,
        ).fetchone()
        return row["Data_length"] + row["Index_length"]

    def touch_on_duplicate_clause(self) -> str:
        """The tail of an INSERT into a ``~external_<store>`` table: an existing row only gets
        a new timestamp."""
        return " ON DUPLICATE KEY UPDATE timestamp=CURRENT_TIMESTAMP"

    #: the tail of a SELECT that locks its rows until the transaction ends
    lock_rows_clause = " FOR UPDATE"

    def referencing_columns(self, conn, database: str, table_name: str) -> list[dict]:
        """``{"referencing_table": "`db`.`table`", "column_name": ...}`` for each column (of
        any schema) with a foreign key to ``database.table_name``."""
        rows = conn.query(
            "SELECT concat('`', table_schema, '`.`', table_name, '`') as referencing_table, "
            "column_name FROM information_schema.key_column_usage "
            "WHERE referenced_table_name=%s and referenced_table_schema=%s",
            args=(table_name, database),
            as_dict=True,
        )
        return [{k.lower(): v for k, v in row.items()} for row in rows]

    def schemas_with_table(self, conn, table_name: str) -> list[str]:
        """The schemas that have a table named ``table_name``."""
        rows = conn.query(
            "SELECT table_schema FROM information_schema.tables WHERE table_name=%s",
            args=(table_name,),
        ).fetchall()
        return [r[0] for r in rows]

    # ---- schemas and tables in the catalog ---------------------------------------------------
    def create_schema(self, conn, database: str) -> None:
        conn.query(f"CREATE DATABASE {self.quote(database)}")

    def drop_schema(self, conn, database: str) -> None:
        conn.query(f"DROP DATABASE {self.quote(database)}")

    def schema_exists(self, conn, database: str) -> bool:
        return bool(
            conn.query(
                "SELECT schema_name FROM information_schema.schemata WHERE schema_name = %s",
                args=(database,),
            ).rowcount
        )

    def list_schemas(self, conn) -> list[str]:
        """All schemas the user can see (information_schema excluded)."""
        return [
            row[0]
            for row in conn.query(
                "SELECT schema_name FROM information_schema.schemata "
                'WHERE schema_name <> "information_schema"'
            )
        ]

    def list_tables(self, conn, database: str) -> list[str]:
        return [row[0] for row in conn.query(f"SHOW TABLES in {self.quote(database)}")]

    def table_exists(self, conn, database: str, table_name: str) -> bool:
        cur = conn.query(f'SHOW TABLES in {self.quote(database)} LIKE "{table_name}"')
        return cur.rowcount > 0

    def schema_size(self, conn, database: str) -> int:
        """Data and index bytes of the tables of ``database``."""
        return int(
            conn.query(
                "SELECT SUM(data_length + index_length) FROM information_schema.tables "
                "WHERE table_schema=%s",
                args=(database,),
            ).fetchone()[0]
            or 0
        )

    # ==== dependency graph: catalog queries of datajoint_rs.dependencies ======================
    # (section owned by dependencies.py; keep it at the end of the class)
    # Both return (sql, args) with the schema names bound as parameters; "%%" is a literal "%"
    # once the driver interpolates them. No schemas match nothing (0.14 sends ``IN ('')``).
    # Rows come in the server's order, which decides the graph's insertion (and tie-break)
    # order, as in 0.14: no ORDER BY.
    def _schema_list(self, schemas: Iterable[str]) -> tuple[str, tuple]:
        names = tuple(schemas) or ("",)
        return ", ".join(["%s"] * len(names)), names

    def primary_key_columns_query(self, schemas: Iterable[str]) -> tuple[str, tuple]:
        """(`db`.`table`, column) of every primary-key column of the tables of ``schemas``,
        hidden (``~``) tables excluded."""
        placeholders, names = self._schema_list(schemas)
        sql = (
            "SELECT concat('`', table_schema, '`.`', table_name, '`') AS tab, column_name "
            "FROM information_schema.key_column_usage "
            f'WHERE table_name NOT LIKE "~%%" AND table_schema IN ({placeholders}) '
            'AND constraint_name = "PRIMARY"'
        )
        return sql, names

    def foreign_key_columns_query(self, schemas: Iterable[str]) -> tuple[str, tuple]:
        """One row per column of every foreign key into or out of ``schemas`` (to non-hidden
        tables), with keys constraint_name, referencing_table, referenced_table (both
        `db`.`table`), column_name, referenced_column_name; key case varies with the server."""
        placeholders, names = self._schema_list(schemas)
        sql = (
            "SELECT constraint_name, "
            "concat('`', table_schema, '`.`', table_name, '`') AS referencing_table, "
            "concat('`', referenced_table_schema, '`.`', referenced_table_name, '`') "
            "AS referenced_table, column_name, referenced_column_name "
            "FROM information_schema.key_column_usage "
            'WHERE referenced_table_name NOT LIKE "~%%" AND ('
            f"referenced_table_schema IN ({placeholders}) OR "
            f"referenced_table_schema IS NOT NULL AND table_schema IN ({placeholders}))"
        )
        return sql, names * 2

    # ==== end of dependency graph section =====================================================

    # ------------------------------------------------------------------------------------
    # Query rendering (SELECT statements of query expressions; the expression classes build
    # the structure and call these for the text).

    def subquery_source(self, sql: str, alias: int) -> str:
        """A subquery in a FROM clause, with its `$N` alias."""
        return f"({sql}) as `${alias:x}`"

    def natural_join(self, sources: Sequence[str], lefts: Sequence[bool]) -> str:
        """FROM clause of sources joined in order (0.14: NATURAL [LEFT] JOIN)."""
        clause = sources[0]
        for source, left in zip(sources[1:], lefts, strict=True):
            clause += " NATURAL{} JOIN {}".format(" LEFT" if left else "", source)
        return clause

    def where_clause(self, conditions: Sequence) -> str:
        if not conditions:
            return ""
        return " WHERE (%s)" % ")AND(".join(str(c) for c in conditions)

    def order_limit(self, order_by: Sequence[str], limit, offset) -> str:
        """ORDER BY (attribute names, optionally with ASC/DESC) and LIMIT/OFFSET."""
        clause = ", ".join(
            re.sub(r"\b((?!asc|desc)\w+)\b", r"`\1`", entry, flags=re.IGNORECASE)
            for entry in order_by
        )
        clause = f" ORDER BY {clause}" if clause else ""
        if limit is not None:
            clause += f" LIMIT {limit}"
            if offset:
                clause += f" OFFSET {offset}"
        return clause

    def select(self, fields: str, from_: str, where: str = "", tail: str = "", distinct=False):
        return "SELECT {}{} FROM {}{}{}".format(
            "DISTINCT " if distinct else "", fields, from_, where, tail
        )

    def group_by(self, attributes: Sequence[str], having: Sequence) -> str:
        clause = " GROUP BY " + self.quote_list(attributes)
        if having:
            clause += " HAVING (%s)" % ")AND(".join(str(c) for c in having)
        return clause

    def count_query(self, count_expr: str, from_: str, where: str) -> str:
        return f"SELECT {count_expr} FROM {from_}{where}"

    def count_distinct(self, fields_sql: str) -> str:
        return f"count(DISTINCT {fields_sql})"

    def count_rows_of(self, sql: str, alias: int) -> str:
        return f"SELECT count(1) FROM ({sql}) `${alias:x}`"

    def any_row(self, from_: str, where: str) -> str:
        """A SELECT that has a row exactly when ``from_`` has one matching ``where``."""
        return f"SELECT 1 FROM {from_}{where}"

    def exists_query(self, from_: str, where: str) -> str:
        return f"SELECT EXISTS({self.any_row(from_, where)})"

    def exists_of(self, sql: str) -> str:
        return f"SELECT EXISTS({sql})"

    def insert_new_rows(self, table: str, columns: list[str], n_rows: int) -> str:
        """``n_rows`` rows of ``%s`` placeholders; rows whose key exists are skipped (they count
        0 in the affected rows, the inserted ones 1)."""
        names = ",".join(f"`{c}`" for c in columns)
        row = "(" + ",".join(["%s"] * len(columns)) + ")"
        first = columns[0]
        return (
            f"INSERT INTO {table} ({names}) VALUES {','.join([row] * n_rows)} "
            f"ON DUPLICATE KEY UPDATE `{first}`=`{first}`"
        )

    def insert_unless_exists(self, table: str, columns: list[str], exists_sql: str) -> str:
        """One row of ``%s`` placeholders inserted only if ``exists_sql`` (a SELECT) finds
        nothing, in one atomic statement."""
        names = ",".join(f"`{c}`" for c in columns)
        marks = ",".join(["%s"] * len(columns))
        return (
            f"INSERT INTO {table} ({names}) SELECT {marks} FROM DUAL WHERE NOT EXISTS({exists_sql})"
        )

    def union_keys(self, sql1: str, sql2: str, alias: int, sorting: str) -> str:
        """UNION of two key-only selections (duplicates removed), with ``sorting`` (ORDER BY /
        LIMIT) after the alias. 0.14 writes it inside the alias's quotes, which breaks
        ``fetch(order_by=...)`` and ``dj.Top`` on a union."""
        return f"SELECT * FROM (({sql1}) UNION ({sql2})) as `_u{alias}`{sorting}"

    def union_all_rows(self, sql1: str, sql2: str) -> str:
        return f"({sql1})  UNION ({sql2})"

    # conditions

    def combine_and(self, negate: bool, conditions: Sequence[str]) -> str:
        return "{} ({})".format("NOT " if negate else "", ")AND(".join(conditions))

    def combine_or(self, negate: bool, conditions: Sequence[str]) -> str:
        return "{} ({})".format("NOT " if negate else "", " OR ".join(conditions))

    def in_subquery(self, names: Sequence[str], negate: bool, subquery: str) -> str:
        return "({}) {}in ({})".format(self.quote_list(names), "not " if negate else "", subquery)

    def equals(self, expr: str, literal: str) -> str:
        return f"{expr}={literal}"

    def is_null(self, expr: str) -> str:
        return f"{expr} IS NULL"

    # literals

    def literal(self, value) -> str:
        """Render a Python value as a MySQL literal, escaped as the driver escapes it."""
        if value is None:
            return "NULL"
        if isinstance(value, (bool, np.bool_)):
            return "1" if value else "0"
        if isinstance(value, (datetime.timedelta, np.timedelta64)):  # (np.timedelta64 is an int)
            return "'" + _time_literal(value) + "'"
        if isinstance(value, (int, np.integer)):
            return str(int(value))
        if isinstance(value, (float, np.floating)):
            if math.isnan(value) or math.isinf(value):
                raise DataJointError(f"Cannot use {value} in a restriction")
            # str: a float32 renders as its shortest float32 digits, as 0.14 writes it
            return str(value) if isinstance(value, np.floating) else repr(value)
        if isinstance(value, uuid.UUID):
            return f"X'{value.bytes.hex()}'"
        if isinstance(value, (bytes, bytearray)):
            return f"X'{bytes(value).hex()}'"
        if isinstance(value, (datetime.date, datetime.datetime, datetime.time, decimal.Decimal)):
            value = str(value)
        elif isinstance(value, np.datetime64):
            value = str(value).replace("T", " ")
        elif not isinstance(value, str):
            value = str(value)
        return self.string_literal(value)

    def string_literal(self, value: str) -> str:
        """A quoted string: MySQL's escapes (sql_mode has no NO_BACKSLASH_ESCAPES), ``%``
        doubled for the driver's %-formatting of statements."""
        escaped = (
            value.replace("\\", "\\\\")
            .replace("\0", "\\0")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
            .replace("\x1a", "\\Z")
            .replace("'", "\\'")
            .replace('"', '\\"')
            .replace("%", "%%")
        )
        return f"'{escaped}'"


def _time_literal(value) -> str:
    """A timedelta as MySQL writes a TIME: ``[-]HH:MM:SS[.ffffff]`` (str() of a timedelta,
    "1 day, 1:01:02", would be read as 00:00:01)."""
    if isinstance(value, np.timedelta64):
        value = value.astype("m8[us]").item()
    micros = value // datetime.timedelta(microseconds=1)
    sign, micros = ("-" if micros < 0 else ""), abs(micros)
    seconds, micros = divmod(micros, 1_000_000)
    text = f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return text + (f".{micros:06d}" if micros else "")
