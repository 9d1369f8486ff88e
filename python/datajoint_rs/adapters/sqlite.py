"""The SQLite dialect (see docs/design-sqlite.md).

The definition language is DataJoint's (MySQL's types); SQLite stores each column in a STRICT
storage class and enforces the declared type with CHECK constraints. What SQLite would forget
(the declared type, the comment with its ``:type:`` marker, the table comment) is kept in
comments inside the CREATE TABLE text, which SQLite stores verbatim in ``sqlite_master``:

    `name` INTEGER NOT NULL CHECK (...) /*dj {"type": "tinyint unsigned", "comment": "..."} */
    ...) STRICT /*dj {"comment": "the table comment"} */

The SQL rendered here still names tables `` `schema`.`table` `` and uses ``%s`` placeholders;
the SQLite connection (:mod:`datajoint_rs.sqlite`) rewrites both before running it.
"""

from __future__ import annotations

import datetime
import decimal
import json
import re
from collections.abc import Sequence

import numpy as np

from ..errors import DataJointError
from .mysql import TYPE_PATTERN, MySQLAdapter

_META = re.compile(r"/\*dj (?P<json>\[.*?\]) \*/", re.S)

_INT_RANGES = {
    "tinyint": 8,
    "smallint": 16,
    "mediumint": 24,
    "int": 32,
    "integer": 32,
    "bigint": 64,
}
_TEMPORAL_GLOB = {
    # the ISO forms the values are stored in (sqlite3 stores str(datetime) etc.)
    "date": "[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]",
    "datetime": "[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9]*",
    "timestamp": "[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9]*",
    "time": "*[0-9]:[0-5][0-9]:[0-5][0-9]*",
}


def _meta_comment(data: dict) -> str:
    """``/*dj [...] */``: a JSON list (a column's ``["c", type, comment, autoincrement]`` or
    the table's ``["t", comment]``). The text has no braces (callers ``str.format`` the DDL;
    JSON's ``\\u007b`` escapes stand for them) and no ``*/`` (written ``*\\/``)."""
    if "type" in data:
        items = ["c", data["type"], data["comment"], bool(data.get("autoincrement"))]
    else:
        items = ["t", data["comment"]]
    text = json.dumps(items, ensure_ascii=False)
    text = text.replace("{", "\\u007b").replace("}", "\\u007d").replace("*/", "*\\/")
    return f"/*dj {text} */"


def _read_meta(text: str) -> dict:
    items = json.loads(text)
    if items[0] == "c":
        return {"type": items[1], "comment": items[2], "autoincrement": items[3]}
    return {"comment": items[1]}


def _parse_time(text: str) -> datetime.timedelta:
    """``[-]H+:MM:SS[.ffffff]`` (MySQL's TIME) as a timedelta."""
    sign = -1 if text.startswith("-") else 1
    hours, minutes, seconds = text.lstrip("-").split(":")
    return sign * datetime.timedelta(hours=int(hours), minutes=int(minutes), seconds=float(seconds))


def _parse_datetime(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


def _parse_date(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


def _parse_float32(value) -> float:
    """A single-precision ``float`` as MySQL returns it: 6 significant digits."""
    return float(f"{value:.6g}")


def _six_digits(column) -> list:
    """``_parse_float32`` of a whole column, vectorized: x rounded at 10**k (k so that 6
    significant digits stay) and divided by the exact power of ten again; values outside the
    exactly representable powers (|k| > 22) go through the text form."""
    values = np.fromiter((np.nan if v is None else v for v in column), float, len(column))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        k = 5 - np.floor(np.log10(np.abs(values)))
        exact = np.isfinite(k) & (np.abs(k) <= 22)
        kk = np.where(exact, k, 0)
        up, down = 10.0 ** np.maximum(kk, 0), 10.0 ** np.maximum(-kk, 0)  # exact powers
        rounded = np.where(kk > 0, np.round(values * up) / up, np.round(values / down) * down)
    out = rounded.tolist()
    for i in np.flatnonzero(~exact):  # zero, NULL, NaN, inf, extreme exponents
        v = column[i]
        out[i] = None if v is None else _parse_float32(v)
    return out


def _parser(sql_type: str):
    """The function turning a stored value of ``sql_type`` into the value the MySQL driver
    gives, or None for types sqlite3 already returns as such."""
    t = sql_type.strip().lower()
    if re.match(r"float(\s*\(\s*\d+\s*\))?(\s+unsigned)?$", t):
        size = re.search(r"\((\d+)\)", t)
        return _parse_float32 if not size or int(size.group(1)) <= 24 else None
    if TYPE_PATTERN["DECIMAL"].match(t):
        return decimal.Decimal
    if TYPE_PATTERN["TEMPORAL"].match(t):
        base = re.match(r"[a-z]+", t).group(0)
        return {
            "date": _parse_date,
            "datetime": _parse_datetime,
            "timestamp": _parse_datetime,
            "time": _parse_time,
        }.get(base)
    return None


def _as_reported(sql_type: str) -> str:
    """The type as MySQL/MariaDB report a column declared with ``sql_type`` (so that headings
    and ``describe()`` read the same on both backends): lower case, ``bool`` as ``tinyint``,
    no blanks between enum values, and the spellings the server normalizes."""
    t = sql_type.strip()
    if TYPE_PATTERN["ENUM"].match(t):
        head, values = t[: t.index("(")], t[t.index("(") :]
        parts = re.findall(r"'(?:[^'\\]|''|\\.)*'|\"(?:[^\"\\]|\"\"|\\.)*\"|[^'\"\s]+", values)
        return head.strip().lower() + "".join(parts)
    t = re.sub(r"\s+", " ", t).lower()
    if TYPE_PATTERN["BOOL"].match(t):
        return "tinyint"
    t = re.sub(r"^integer\b", "int", t)
    t = re.sub(r"^numeric\b", "decimal", t)
    t = re.sub(r"^real\b", "double", t)
    return t


def _storage_and_check(name: str, sql_type: str) -> tuple[str, str]:
    """(SQLite storage class, CHECK expression or "") of a column declared as ``sql_type``."""
    col = f"`{name}`"
    t = sql_type.strip().lower()
    base = re.match(r"[a-z]+", t).group(0) if re.match(r"[a-z]+", t) else t
    if TYPE_PATTERN["BOOL"].match(t):
        return "INTEGER", f"{col} IN (0, 1)"
    if TYPE_PATTERN["INTEGER"].match(t) and base in _INT_RANGES:
        bits = _INT_RANGES[base]
        if "unsigned" in t:
            low, high = 0, 2**bits - 1
        else:
            low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        if high > 2**63 - 1:  # bigint unsigned: SQLite integers are 64-bit signed
            high = 2**63 - 1
        return "INTEGER", f"{col} BETWEEN {low} AND {high}"
    if TYPE_PATTERN["INTEGER"].match(t):  # serial and other integer spellings
        return "INTEGER", ""
    if TYPE_PATTERN["FLOAT"].match(t):
        return "REAL", (f"{col} >= 0" if "unsigned" in t else "")
    if TYPE_PATTERN["DECIMAL"].match(t):
        size = re.search(r"\(\s*(\d+)\s*(?:,\s*(\d+))?\s*\)", t)
        precision, scale = (int(size.group(1)), int(size.group(2) or 0)) if size else (10, 0)
        # stored as exact text; the number must fit the declared digits
        check = (
            f"{col} GLOB '*[0-9]*' AND NOT {col} GLOB '*[^0-9.+-]*' "
            f"AND abs(CAST({col} AS REAL)) < 1e{precision - scale}"
        )
        return "TEXT", check
    if TYPE_PATTERN["STRING"].match(t):
        size = re.search(r"\(\s*(\d+)\s*\)", t)
        return "TEXT", (f"length({col}) <= {int(size.group(1))}" if size else "")
    if TYPE_PATTERN["ENUM"].match(t):
        values = sql_type[sql_type.index("(") + 1 : sql_type.rindex(")")]
        return "TEXT", f"{col} IN ({values})"
    if TYPE_PATTERN["JSON"].match(t):
        return "TEXT", f"json_valid({col})"
    if TYPE_PATTERN["TEMPORAL"].match(t):
        if base == "year":
            return "INTEGER", f"{col} BETWEEN 1901 AND 2155"
        check = f"{col} GLOB '{_TEMPORAL_GLOB[base]}'"
        if base in ("date", "datetime", "timestamp"):  # a real calendar date
            check += f" AND date(julianday(substr({col}, 1, 10))) IS substr({col}, 1, 10)"
        return "TEXT", check
    if t.startswith("binary") or t.startswith("varbinary"):
        size = re.search(r"\(\s*(\d+)\s*\)", t)
        if size and t.startswith("binary"):
            return "BLOB", f"length({col}) = {int(size.group(1))}"
        return "BLOB", (f"length({col}) <= {int(size.group(1))}" if size else "")
    if "blob" in t:
        return "BLOB", ""
    if "text" in t:
        return "TEXT", ""
    raise DataJointError(f"The type {sql_type!r} is not available on the SQLite backend")


#: the current local time, as MySQL's CURRENT_TIMESTAMP gives it in the session's time zone
_NOW = "(datetime('now', 'localtime'))"


class SQLiteAdapter(MySQLAdapter):
    """SQL text for SQLite 3.37+ (STRICT tables), from DataJoint's definition language."""

    name = "sqlite"
    max_table_name_length = 64

    # ---- literals ----------------------------------------------------------------------------
    def string_literal(self, value: str) -> str:
        """A quoted string: ``'`` doubled, no backslash escapes; ``%`` doubled for the
        %-formatting the connection applies."""
        return "'" + value.replace("'", "''").replace("%", "%%") + "'"

    # ---- declaration -------------------------------------------------------------------------
    def default_clause(self, default: str, nullable: bool) -> str:
        clause = super().default_clause(default, nullable)
        return re.sub(
            r"DEFAULT CURRENT_TIMESTAMP(\(\d*\))?$", f"DEFAULT {_NOW}", clause, flags=re.I
        )

    def escape_comment(self, comment: str) -> str:
        return comment  # kept in JSON inside the DDL's comments

    def column_sql(self, name: str, sql_type: str, default_clause: str, comment: str) -> str:
        auto = re.search(r"\bauto_increment\b", sql_type, re.I)
        declared = _as_reported(re.sub(r"\s+auto_increment\b", "", sql_type, flags=re.I))
        storage, check = _storage_and_check(name, declared)
        parts = [self.quote(name), storage]
        if auto:
            parts.append("PRIMARY KEY AUTOINCREMENT")
        parts.append(default_clause)
        if check:
            parts.append(f"CHECK ({self.quote(name)} IS NULL OR {check})")
        meta = {"type": declared, "comment": comment}
        if auto:
            meta["autoincrement"] = True
        parts.append(_meta_comment(meta))
        return " ".join(p for p in parts if p)

    def key_column_sql(self, name: str, sql_type: str, comment: str) -> str:
        return self.column_sql(name, sql_type, "NOT NULL", comment)

    def hidden_timestamp_sql(self, name: str) -> str:
        return self.column_sql(name, "timestamp", "NOT NULL DEFAULT CURRENT_TIMESTAMP", "")

    def unique_index_sql(self, columns: Sequence[str]) -> str:
        return f"UNIQUE ({self.quote_list(columns)})"

    def index_sql(self, unique: bool, elements: Sequence[str]) -> str:
        # kept as a marker; create_table_sql turns it into CREATE INDEX statements
        return f"{'unique ' if unique else ''}index ({','.join(elements)})"

    def json_path_sql(
        self, attribute: str, path: str, returning: str | None = None, *, mariadb: bool = False
    ) -> str:
        sql = f"json_extract({self.quote(attribute)}, '$.{path}')"
        if not returning:
            return sql
        storage, _ = _storage_and_check("x", returning)
        return f"CAST({sql} AS {storage})"

    def create_table_sql(
        self,
        full_table_name: str,
        column_sql: Sequence[str],
        primary_key: Sequence[str],
        foreign_key_sql: Sequence[str],
        index_sql: Sequence[str],
        comment: str,
    ) -> str:
        """``CREATE TABLE IF NOT EXISTS ... STRICT`` followed by its ``CREATE INDEX``
        statements (the connection runs the script in one transaction)."""
        auto = [c for c in column_sql if "PRIMARY KEY AUTOINCREMENT" in c]
        if auto and len(primary_key) != 1:
            raise DataJointError(
                "On SQLite, auto_increment needs a primary key of that one attribute"
            )
        clauses = list(column_sql)
        if not auto:
            clauses.append(self.primary_key_sql(primary_key))
        clauses.extend(foreign_key_sql)
        indexes, covered = [], {tuple(primary_key[:n]) for n in range(1, len(primary_key) + 1)}
        for number, index in enumerate(index_sql):
            match = re.match(r"(unique )?index \((.*)\)$", index, re.S)
            if match:
                indexes.append((bool(match.group(1)), match.group(2), number))
            else:
                clauses.append(index)  # UNIQUE (...) of a [unique] foreign key
                covered.add(tuple(re.findall(r"`((?:[^`]|``)+)`", index)))
        # as InnoDB does, an index for each foreign key that no other index starts with (the
        # heading reads [nullable] and [unique] of references from these, and cascading
        # deletes need them)
        for number, fk in enumerate(foreign_key_sql):
            match = re.match(r"FOREIGN KEY \((.*?)\) REFERENCES", fk)
            columns = tuple(re.findall(r"`((?:[^`]|``)+)`", match.group(1))) if match else ()
            if columns and columns not in covered:
                covered.add(columns)
                elements = ",".join(self.quote(c) for c in columns)
                indexes.append((False, elements, f"fk{number}"))
        body = ",\n".join(clauses)
        statements = [
            f"CREATE TABLE IF NOT EXISTS {full_table_name} (\n{body}\n) STRICT "
            + _meta_comment({"comment": comment})
        ]
        table = full_table_name.replace("`", "")
        for unique, elements, number in indexes:
            statements.append(
                f"CREATE {'UNIQUE ' if unique else ''}INDEX IF NOT EXISTS "
                f"`{table}/{number}` ON {full_table_name} ({elements})"
            )
        return ";\n".join(statements)

    # ---- ALTER TABLE ---------------------------------------------------------------------------
    def _after(self, after: str | None) -> str:
        return ""  # SQLite adds columns at the end; the rebuild places them

    def alter_table(self, conn, full_table_name: str, clauses, sql: str, create_sql) -> None:
        self.rebuild_table(conn, full_table_name, create_sql(), clauses)

    def rebuild_table(self, conn, full_table_name: str, create_sql: str, clauses) -> None:
        """``alter()`` on SQLite, which cannot change a column in place: the table is made
        anew from its new definition and the rows copied over (SQLite's documented procedure:
        foreign keys off, one transaction, the references checked before committing).
        ``clauses`` are the MySQL ALTER clauses: ``CHANGE `old` `new` ...`` renames, ``ADD``
        columns get their defaults, ``DROP`` ones are left behind."""
        if conn.in_transaction:
            raise DataJointError("Cannot alter a table inside a transaction")
        quoted = r"`((?:[^`]|``)+)`"
        renamed, dropped = {}, set()
        for clause in clauses:
            clause = clause.strip()
            match = re.match(rf"CHANGE {quoted} {quoted}", clause)
            if match:
                renamed[match.group(2)] = match.group(1)
            match = re.match(rf"DROP {quoted}", clause)
            if match:
                dropped.add(match.group(1))
        database, table = (part.strip("`") for part in full_table_name.split("`.`"))
        old_columns = [c["name"] for c in self.load_columns(conn, database, table)]
        temporary = f"`{database}`.`{table}~rebuild`"
        new_sql = create_sql.replace(f"CREATE TABLE IF NOT EXISTS {full_table_name}", "", 1)
        if new_sql == create_sql:
            raise DataJointError("Cannot rebuild: unexpected CREATE TABLE statement")
        statements = [s for s in new_sql.split(";\n")]  # the table, then its indexes
        conn.query("PRAGMA foreign_keys = OFF", None)
        try:
            conn.start_transaction()
            try:
                conn.query(f"CREATE TABLE {temporary}{statements[0]}", None)
                new_columns = [
                    c["name"] for c in self.load_columns(conn, database, f"{table}~rebuild")
                ]
                pairs = [
                    (new, renamed.get(new, new))
                    for new in new_columns
                    if renamed.get(new, new) in old_columns and new not in dropped
                ]
                conn.query(
                    f"INSERT INTO {temporary} ({self.quote_list(n for n, _ in pairs)}) "
                    f"SELECT {self.quote_list(o for _, o in pairs)} FROM {full_table_name}",
                    None,
                )
                conn.query(f"DROP TABLE {full_table_name}", None)
                conn.query(f"ALTER TABLE {temporary} RENAME TO `{database}.{table}`", None)
                for index in statements[1:]:
                    conn.query(index.replace("CREATE INDEX IF NOT EXISTS", "CREATE INDEX"), None)
                broken = conn.query("PRAGMA foreign_key_check", None).fetchall()
                if broken:
                    raise DataJointError(f"The altered table breaks foreign keys: {broken[:3]}")
            except BaseException:
                conn.cancel_transaction()
                raise
            conn.commit_transaction()
        finally:
            conn.query("PRAGMA foreign_keys = ON", None)

    # ---- reading a table's heading -----------------------------------------------------------
    @staticmethod
    def _sqlite_name(database: str, table_name: str) -> str:
        return f"{database}.{table_name}"

    def _table_sql(self, conn, database: str, table_name: str) -> str | None:
        row = conn.query(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %s",
            (self._sqlite_name(database, table_name),),
        ).fetchone()
        return None if row is None else row[0]

    def load_table_status(self, conn, database: str, table_name: str) -> dict | None:
        sql = self._table_sql(conn, database, table_name)
        if sql is None:
            return None
        _, table = _metadata(sql)
        return dict(name=table_name, engine="SQLite", comment=table.get("comment", ""), rows=None)

    def load_json_columns(self, conn, database: str, table_name: str) -> set[str]:
        return set()  # json columns keep their declared type in the DDL's comments

    def load_columns(self, conn, database: str, table_name: str) -> list[dict]:
        sql = self._table_sql(conn, database, table_name)
        if sql is None:
            return []
        name = self._sqlite_name(database, table_name)
        meta, _ = _metadata(sql)
        columns = []
        rows = conn.query(
            "SELECT name, `notnull`, dflt_value, pk FROM pragma_table_info(%s) ORDER BY cid",
            (name,),
        ).fetchall()
        for column, notnull, default, pk in rows:
            info = meta.get(column, {})
            columns.append(
                dict(
                    name=column,
                    type=info.get("type", ""),
                    nullable=not notnull and not pk,
                    default=_unquote_default(default),
                    in_key=bool(pk),
                    comment=info.get("comment", ""),
                    autoincrement=bool(info.get("autoincrement")),
                )
            )
        return columns

    def load_indexes(self, conn, database: str, table_name: str) -> list[dict]:
        name = self._sqlite_name(database, table_name)
        result = []
        indexes = conn.query(
            "SELECT name, `unique`, origin FROM pragma_index_list(%s)", (name,)
        ).fetchall()
        nullable = {
            column: not notnull
            for column, notnull in conn.query(
                "SELECT name, `notnull` FROM pragma_table_info(%s)", (name,)
            ).fetchall()
        }
        for index_name, unique, origin in indexes:
            if origin == "pk":
                continue
            for seq, column in conn.query(
                "SELECT seqno, name FROM pragma_index_info(%s) ORDER BY seqno", (index_name,)
            ).fetchall():
                result.append(
                    dict(
                        key_name=index_name,
                        seq=seq + 1,
                        column=column,
                        unique=bool(unique),
                        nullable=nullable.get(column, False),
                    )
                )
        return result

    # ---- fetched values ----------------------------------------------------------------------
    def convert_fetched(self, heading, columns):
        """Columns as read by sqlite3 (dates, times and decimals are stored as text) turned
        into the values the MySQL driver gives: date, datetime, timedelta, Decimal."""
        for i, attr in enumerate(heading.attributes.values()):
            parse = _parser(attr.type)
            if parse is _parse_float32:
                columns[i] = _six_digits(columns[i])
            elif parse is not None:
                column = columns[i]
                columns[i] = [None if v is None else parse(v) for v in column]
        return columns

    # ---- inserts -----------------------------------------------------------------------------
    renders_values = False

    def converts_parameter(self, attr) -> bool:
        return bool(TYPE_PATTERN["DECIMAL"].match(attr.type))

    def parameter(self, attr, value):
        """Decimals rounded to their scale (half away from zero), as MySQL stores them."""
        if value is None or not TYPE_PATTERN["DECIMAL"].match(attr.type):
            return value
        size = re.search(r"\(\s*\d+\s*,\s*(\d+)\s*\)", attr.type)
        scale = int(size.group(1)) if size else 0
        try:
            number = decimal.Decimal(str(value))
        except decimal.InvalidOperation:
            return value  # the CHECK constraint refuses it
        return str(number.quantize(decimal.Decimal(1).scaleb(-scale), decimal.ROUND_HALF_UP))

    def column_default_sql(self, attr) -> str:
        """The SQL of ``attr``'s default (SQLite has no ``DEFAULT`` in UPDATE)."""
        default = attr.default
        if default is None or default.lower() == "null":
            return "NULL"
        if re.match(r"current_timestamp", default.strip('"'), re.I):
            return _NOW
        return default

    def skip_duplicates_clause(self, primary_key: Sequence[str], table: str | None = None) -> str:
        return " ON CONFLICT DO NOTHING"

    def insert_select_sql(
        self, command: str, table: str, fields: Sequence[str], select_sql: str, tail: str
    ) -> str:
        # an upsert clause after a SELECT needs a WHERE of that SELECT (SQLite's parser)
        select = f"SELECT * FROM ({select_sql}) WHERE true" if tail else select_sql
        return f"{command} INTO {table} ({self.quote_list(fields)}) {select}{tail}"

    def max_statement_bytes(self, conn) -> int:
        return 1_000_000_000  # SQLITE_MAX_SQL_LENGTH; values travel as parameters anyway

    def table_size(self, conn, database: str, table_name: str) -> int:
        name = self._sqlite_name(database, table_name)
        try:
            row = conn.query(
                "SELECT SUM(pgsize) FROM dbstat WHERE name = %s OR name IN "
                "(SELECT name FROM pragma_index_list(%s))",
                (name, name),
            ).fetchone()
        except DataJointError:  # dbstat is not compiled in
            return 0
        return int(row[0] or 0)

    def touch_on_duplicate_clause(self) -> str:
        return f" ON CONFLICT DO UPDATE SET timestamp={_NOW}"

    lock_rows_clause = ""  # transactions hold the database's write lock from BEGIN IMMEDIATE

    def referencing_columns(self, conn, database: str, table_name: str) -> list[dict]:
        rows = conn.query(
            f"SELECT {self._FULL_NAME.format(t='m.name')} AS referencing_table, "
            "f.`from` AS column_name FROM sqlite_master m "
            "JOIN pragma_foreign_key_list(m.name) f "
            "WHERE m.type = 'table' AND f.`table` = %s ORDER BY m.name, f.id, f.seq",
            (self._sqlite_name(database, table_name),),
            as_dict=True,
        ).fetchall()
        return rows

    def schemas_with_table(self, conn, table_name: str) -> list[str]:
        return [db for db in sorted(conn.schema_names) if self.table_exists(conn, db, table_name)]

    # ---- schemas and tables in the catalog ---------------------------------------------------
    def create_schema(self, conn, database: str) -> None:
        if "." in database or "`" in database:
            raise DataJointError(f"A schema name on SQLite cannot contain '.' or '`': {database!r}")
        conn.query("INSERT INTO `~~schemas` (name) VALUES (%s)", (database,))
        conn.forget_schema_names()

    def drop_schema(self, conn, database: str) -> None:
        """Drop the schema's tables (referencing tables first) and its catalog entry, all or
        nothing. References from other schemas make it fail (the caller checks first)."""
        tables = self.list_tables(conn, database)
        references = conn.query(
            "SELECT m.name, f.`table` FROM sqlite_master m "
            "JOIN pragma_foreign_key_list(m.name) f WHERE m.type = 'table' "
            "AND substr(m.name, 1, instr(m.name, '.') - 1) = %s",
            (database,),
        ).fetchall()
        prefix = database + "."
        remaining = {prefix + t for t in tables}
        refs = {(child, parent) for child, parent in references if parent != child}
        statements = []
        while remaining:  # leaves (tables nothing remaining references) first
            leaves = sorted(
                t for t in remaining if not any(p == t and c in remaining for c, p in refs)
            )
            if not leaves:
                raise DataJointError(f"Circular references between the tables of {database}")
            statements += [f"DROP TABLE `{t}`" for t in leaves]
            remaining -= set(leaves)
        statements.append(f"DELETE FROM `~~schemas` WHERE name = {self.literal(database)}")
        conn.query(";\n".join(statements), None)
        conn.forget_schema_names()

    def schema_exists(self, conn, database: str) -> bool:
        return database in conn.schema_names

    def list_schemas(self, conn) -> list[str]:
        return sorted(conn.schema_names)

    def list_tables(self, conn, database: str) -> list[str]:
        rows = conn.query(
            "SELECT substr(name, instr(name, '.') + 1) FROM sqlite_master "
            "WHERE type = 'table' AND substr(name, 1, instr(name, '.') - 1) = %s ORDER BY name",
            (database,),
        ).fetchall()
        return [name for (name,) in rows]

    def table_exists(self, conn, database: str, table_name: str) -> bool:
        return self._table_sql(conn, database, table_name) is not None

    def schema_size(self, conn, database: str) -> int:
        """Bytes of the pages of the schema's tables and indexes (needs SQLite's dbstat)."""
        try:
            row = conn.query(
                "SELECT SUM(pgsize) FROM dbstat WHERE substr(name, 1, instr(name, '.') - 1) = %s",
                (database,),
            ).fetchone()
        except DataJointError:  # dbstat is not compiled in
            return 0
        return int(row[0] or 0)

    # ---- dependency graph --------------------------------------------------------------------
    _FULL_NAME = (
        "'`' || substr({t}, 1, instr({t}, '.') - 1) || '`.`' || substr({t}, instr({t}, '.') + 1)"
        " || '`'"
    )

    def _in_schemas(self, column: str, schemas) -> tuple[str, tuple]:
        names = tuple(schemas) or ("",)
        marks = ", ".join(["%s"] * len(names))
        return f"substr({column}, 1, instr({column}, '.') - 1) IN ({marks})", names

    def primary_key_columns_query(self, schemas) -> tuple[str, tuple]:
        condition, names = self._in_schemas("m.name", schemas)
        full = self._FULL_NAME.format(t="m.name")
        sql = (
            f"SELECT {full} AS tab, p.name AS column_name "
            "FROM sqlite_master m JOIN pragma_table_info(m.name) p "
            "WHERE m.type = 'table' AND p.pk > 0 AND instr(m.name, '.') > 0 "
            "AND substr(m.name, instr(m.name, '.') + 1) NOT LIKE '~%%' "
            f"AND {condition} ORDER BY m.name, p.pk"
        )
        return sql, names

    def foreign_key_columns_query(self, schemas) -> tuple[str, tuple]:
        out_cond, names = self._in_schemas("m.name", schemas)
        in_cond, _ = self._in_schemas("f.`table`", schemas)
        sql = (
            f"SELECT m.name || ':' || f.id AS constraint_name, "
            f"{self._FULL_NAME.format(t='m.name')} AS referencing_table, "
            f"{self._FULL_NAME.format(t='f.`table`')} AS referenced_table, "
            "f.`from` AS column_name, f.`to` AS referenced_column_name "
            "FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f "
            "WHERE m.type = 'table' AND instr(m.name, '.') > 0 "
            "AND substr(f.`table`, instr(f.`table`, '.') + 1) NOT LIKE '~%%' "
            f"AND ({in_cond} OR {out_cond}) ORDER BY m.name, f.id, f.seq"
        )
        return sql, names * 2

    # ---- queries -----------------------------------------------------------------------------
    def count_query(self, count_expr: str, from_: str, where: str) -> str:
        match = re.fullmatch(r"count\(DISTINCT (.*)\)", count_expr, re.S)
        if match and "," in match.group(1):  # SQLite counts DISTINCT of one expression only
            return f"SELECT count(*) FROM (SELECT DISTINCT {match.group(1)} FROM {from_}{where})"
        return f"SELECT {count_expr} FROM {from_}{where}"

    def insert_new_rows(self, table: str, columns: list[str], n_rows: int) -> str:
        names = ",".join(f"`{c}`" for c in columns)
        row = "(" + ",".join(["%s"] * len(columns)) + ")"
        return f"INSERT INTO {table} ({names}) VALUES {','.join([row] * n_rows)} ON CONFLICT DO NOTHING"

    def insert_unless_exists(self, table: str, columns: list[str], exists_sql: str) -> str:
        names = ",".join(f"`{c}`" for c in columns)
        marks = ",".join(["%s"] * len(columns))
        return f"INSERT INTO {table} ({names}) SELECT {marks} WHERE NOT EXISTS({exists_sql})"

    def union_keys(self, sql1: str, sql2: str, alias: int, sorting: str) -> str:
        return (
            f"SELECT * FROM (SELECT * FROM ({sql1}) UNION SELECT * FROM ({sql2})) "
            f"as `_u{alias}`{sorting}"
        )

    def union_all_rows(self, sql1: str, sql2: str) -> str:
        return f"SELECT * FROM ({sql1}) UNION SELECT * FROM ({sql2})"


_CLAUSE_START = re.compile(
    r"(?:^|\n|,|\()\s*`((?:[^`]|``)+)`\s+(?:INTEGER|REAL|TEXT|BLOB|ANY)\b", re.S
)


def _metadata(create_sql: str) -> tuple[dict[str, dict], dict]:
    """(column name -> the ``/*dj {...} */`` metadata written after its definition, the
    table's metadata) of a CREATE TABLE text written by this adapter (ALTER TABLE ADD COLUMN
    keeps the comment of the added column)."""
    columns, table, start = {}, {}, 0
    for match in _META.finditer(create_sql):
        data = _read_meta(match["json"])
        if "type" in data:
            clauses = list(_CLAUSE_START.finditer(create_sql, start, match.start()))
            if clauses:
                columns[clauses[-1].group(1).replace("``", "`")] = data
        else:
            table = data
        start = match.end()
    return columns, table


def _unquote_default(default):
    """pragma_table_info's default text as MySQL's SHOW COLUMNS reports it."""
    if default is None:
        return None
    if default.upper() == "NULL":
        return None
    if default in (_NOW, _NOW[1:-1]):
        return "CURRENT_TIMESTAMP"
    if len(default) >= 2 and default[0] == default[-1] and default[0] in "'\"":
        return default[1:-1].replace(default[0] * 2, default[0])
    return default
