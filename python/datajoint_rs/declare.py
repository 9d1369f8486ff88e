"""Table definitions (DataJoint's definition language) -> ``CREATE TABLE`` / ``ALTER TABLE``.

The output is identical, string for string, to DataJoint 0.14's, so that tables declared by
either package read back the same in both. SQL text comes from the backend adapter
(:mod:`datajoint_rs.adapters`); this module parses the definition and applies the rules.

A definition is a sequence of lines:

* an optional first line ``# table comment`` (the comment must not start with ``:``);
* primary-key lines, then a line starting with ``---`` (or ``___``), then the secondary ones;
* attribute lines ``name [= default] : type [# comment]``;
* foreign keys ``-> [options] Reference`` (options: ``nullable``, ``unique``);
* indexes ``index(a, b)`` / ``unique index(a, json_attr.path:type)``;
* other lines starting with ``#`` are ignored.

The result of :func:`declare` may contain the placeholder ``{database}`` (in the foreign key of
an externally stored attribute); the caller substitutes it with ``sql.format(database=...)``,
exactly as 0.14's ``Table.declare`` does.

Foreign-key reference protocol
------------------------------
The text after ``->`` (and the options) is evaluated as a Python expression with ``context``
(a dict, e.g. a module's namespace: ``Parent``, ``module.Parent``, ``Parent.proj(new="old")``).
The object it yields must be one of:

* a class whose namespace (or a base's) defines ``heading``: it is instantiated without
  arguments (as 0.14 instantiates ``Table`` subclasses) and the instance must satisfy the next
  item;
* an object with

  - ``heading``: ``heading[name]`` gives an attribute with ``.sql`` (its column DDL,
    ``NOT NULL``; copied verbatim into the child) and ``.original_name`` (the column's name in
    the referenced table: differs from ``name`` for a renamed attribute);
  - ``primary_key``: the list of primary-key attribute names, as seen through any renames;
  - the referenced base table: ``support``, a list/tuple holding exactly one ``str`` (its full
    table name, `` `db`.`table` ``) as on 0.14's query expressions; or, for objects that have
    no ``support`` attribute, ``full_table_name`` (a ``str``);
  - optionally ``restriction``: when present it must be empty (a restricted table cannot be
    referenced).

A projection ``Parent.proj(new="old")`` carries its renames in its heading: the attribute
``new`` has ``attribute_expression == "`old`"`` (what ``Heading.select(..., rename_map=
{"new": "old"})`` builds), so its ``original_name`` is ``old``. Anything else is rejected with
0.14's error ``Dependency "..." is not supported (yet). Use a base table or its projection.``
"""

from __future__ import annotations

import re
from hashlib import sha1

from .adapters import get_adapter as _get_backend
from .adapters.mysql import (
    CONSTANT_LITERALS,
    EXTERNAL_TABLE_ROOT,
    EXTERNAL_TYPES,
    MAX_TABLE_NAME_LENGTH,
    NATIVE_TYPES,
    SERIALIZED_TYPES,
    SPECIAL_TYPES,
    TYPE_PATTERN,
    UUID_DATA_TYPE,
)
from .attribute_adapter import get_adapter
from .errors import (  # noqa: F401 - the switch helpers are re-exported here too
    FILEPATH_FEATURE_SWITCH,
    DataJointError,
    _support_filepath_types,
    _switch_filepath_types,
)
from .settings import config

__all__ = [
    "CONSTANT_LITERALS",
    "EXTERNAL_TABLE_ROOT",
    "EXTERNAL_TYPES",
    "FILEPATH_FEATURE_SWITCH",
    "MAX_TABLE_NAME_LENGTH",
    "NATIVE_TYPES",
    "SERIALIZED_TYPES",
    "SPECIAL_TYPES",
    "TYPE_PATTERN",
    "UUID_DATA_TYPE",
    "alter",
    "compile_attribute",
    "compile_foreign_key",
    "compile_index",
    "declare",
    "is_foreign_key",
    "match_type",
    "prepare_declare",
]


def _filepath_disabled_message(indent: int) -> str:
    # 0.14 words this message as an indented triple-quoted string; the indentation differs
    # between declare (12) and heading (24) and is part of the message users see.
    pad = " " * indent
    return (
        f"\n{pad}The filepath data type is disabled until complete validation.\n"
        f"{pad}To turn it on as experimental feature, set the environment variable\n"
        f"{pad}{FILEPATH_FEATURE_SWITCH} = TRUE or upgrade datajoint.\n{pad}"
    )


def match_type(attribute_type: str) -> str:
    """The category (a key of ``TYPE_PATTERN``) of a declared type."""
    category = _get_backend().type_category(attribute_type)
    if category is None:
        raise DataJointError(f"Unsupported attribute type {attribute_type}")
    return category


# --------------------------------------------------------------------------------------------
# line scanning
# --------------------------------------------------------------------------------------------
# The parsing rules reproduce what 0.14 accepts, including where it reports a syntax error:
# tabs are first expanded to spaces (8-column stops; this shows in comments and types), tokens
# may be separated by blanks (space, CR, LF), and quoted strings ("..." or '...',
# without line breaks) are skipped as a whole when looking for a delimiter, so a ':' or '#'
# inside quotes does not end a default value or a type.
_BLANKS = " \t\r\n"
_QUOTED = re.compile(r"[ \t\r\n]*(?:\"[^\"\n\r]*\"|'[^'\n\r]*')")
_ATTRIBUTE_NAME = re.compile(r"[a-z][a-z0-9_]*")
_TYPE_WORD = re.compile(r"[A-Za-z]+")
_ADAPTED_TYPE = re.compile(r"<[^>\n\r]*>")
_FOUND_WORD = re.compile(r"[^\W_]{1,16}|.")
_FK_OPTIONS = re.compile(r"\[[ \t\r\n]*([A-Za-z]+(?:[ \t\r\n]*,[ \t\r\n]*[A-Za-z]+)*)[ \t\r\n]*\]")


def _skip_blanks(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _BLANKS:
        pos += 1
    return pos


def _find_unquoted(text: str, pos: int, char: str) -> int:
    """Index of the first ``char`` at or after ``pos`` outside quoted strings; -1 if none."""
    while pos <= len(text):
        quoted = _QUOTED.match(text, pos)
        while quoted:
            pos = quoted.end()
            quoted = _QUOTED.match(text, pos)
        if text.startswith(char, pos):
            return pos
        pos += 1
    return -1


class _SyntaxError(Exception):
    """A definition line that does not parse: where, and what was expected there."""

    def __init__(self, text: str, pos: int, expected: str):
        super().__init__(text, pos, expected)
        self.text, self.pos, self.expected = text, pos, expected

    def found(self) -> str:
        if self.pos >= len(self.text):
            return "end of text"
        word = _FOUND_WORD.match(self.text, self.pos)
        return repr(word.group() if word else self.text[self.pos])

    def __str__(self) -> str:
        line = self.text.count("\n", 0, self.pos) + 1
        column = self.pos - (self.text.rfind("\n", 0, self.pos) + 1) + 1
        return (
            f"Expected {self.expected}, found {self.found()}  "
            f"(at char {self.pos}), (line:{line}, col:{column})"
        )


def _parse_attribute(line: str) -> dict:
    """Split ``name [= default] : type [# comment]`` into its raw (unstripped) parts.

    Raises _SyntaxError. As in 0.14 a ``#`` is appended to the line first, so the comment
    always exists, and the trailing ``#`` characters are removed from it afterwards."""
    text = (line + "#").expandtabs()  # 0.14 expands tabs (to 8-column stops) before parsing
    pos = _skip_blanks(text, 0)
    name = _ATTRIBUTE_NAME.match(text, pos)
    if name is None:
        raise _SyntaxError(text, pos, "W:(a-z, 0-9_a-z)")
    parts = {"name": name.group()}
    pos = _skip_blanks(text, name.end())
    if text.startswith("=", pos):
        colon = _find_unquoted(text, _skip_blanks(text, pos + 1), ":")
        if colon >= 0:  # without a colon after it, '=' is simply not a default
            parts["default"] = text[pos + 1 : colon]
            pos = colon
    if not text.startswith(":", pos):
        raise _SyntaxError(text, pos, "':'")
    pos = _skip_blanks(text, pos + 1)
    word = _TYPE_WORD.match(text, pos)
    if word is not None:  # a native or DataJoint type: everything up to the comment
        hash_pos = _find_unquoted(text, word.end(), "#")
        parts["type"] = text[pos:hash_pos]
        pos = hash_pos
    else:
        adapted = _ADAPTED_TYPE.match(text, pos)
        if adapted is None:
            raise _SyntaxError(text, pos, "W:(A-Za-z)")
        parts["type"] = adapted.group()
        pos = _skip_blanks(text, adapted.end())
        if not text.startswith("#", pos):
            raise _SyntaxError(text, pos, "'#'")
    end = text.find("\n", pos)
    end = len(text) if end < 0 else end
    parts["comment"] = text[pos + 1 : end]
    rest = _skip_blanks(text, end)
    if rest < len(text):
        raise _SyntaxError(text, rest, "end of text")
    return parts


def is_foreign_key(line: str) -> bool:
    """True if the definition line is a foreign key: it has ``->`` not preceded by a quote or
    a comment sign."""
    arrow = line.find("->")
    return arrow >= 0 and not any(c in line[:arrow] for c in "\"#'")


def _parse_foreign_key(line: str) -> tuple[list[str], str]:
    """``-> [opt, ...] reference`` -> (options, reference text). Raises _SyntaxError."""
    line = line.expandtabs()  # as in 0.14
    pos = _skip_blanks(line, 0)
    if not line.startswith("->", pos):
        raise _SyntaxError(line, pos, "'->'")
    pos = _skip_blanks(line, pos + 2)
    options = []
    bracket = _FK_OPTIONS.match(line, pos)
    if bracket is not None:
        options = re.split(r"[ \t\r\n]*,[ \t\r\n]*", bracket.group(1))
        pos = bracket.end()  # the reference keeps any blanks that follow "]" (as 0.14)
    end = line.find("\n", pos)
    return options, line[pos:] if end < 0 else line[pos:end]


# --------------------------------------------------------------------------------------------
# foreign keys
# --------------------------------------------------------------------------------------------
def _defines(cls: type, name: str) -> bool:
    return any(name in vars(klass) for klass in cls.__mro__)


def _referenced_table(ref) -> str | None:
    """The full name of the base table ``ref`` stands for, or None if ``ref`` is not an
    unrestricted base table or a projection of one (see the module docstring)."""
    if getattr(ref, "restriction", None):
        return None
    support = getattr(ref, "support", None)
    if support is None:
        name = getattr(ref, "full_table_name", None)
        return name if isinstance(name, str) else None
    if isinstance(support, (list, tuple)) and len(support) == 1 and isinstance(support[0], str):
        return support[0]
    return None


def compile_foreign_key(
    line, context, attributes, primary_key, attr_sql, foreign_key_sql, index_sql
):
    """Compile the foreign-key line ``line``, appending to the lists given.

    :param context: namespace in which the reference is evaluated
    :param attributes: names of the attributes declared so far (updated)
    :param primary_key: the primary-key names so far (updated), or None in the secondary part
    :param attr_sql: column declarations (updated with the inherited attributes)
    :param foreign_key_sql: foreign-key constraints (updated)
    :param index_sql: index declarations (updated for ``[unique]``)
    """
    backend = _get_backend()
    try:
        options, ref_text = _parse_foreign_key(line)
    except _SyntaxError as err:
        raise DataJointError(f'Parsing error in line "{line}". {err}.') from None
    try:
        ref = eval(ref_text, dict(context) if context is not None else {})
    except Exception:
        raise DataJointError(f"Foreign key reference {ref_text} could not be resolved") from None

    options = [option.upper() for option in options]
    for option in options:
        if option not in {"NULLABLE", "UNIQUE"}:
            raise DataJointError(f'Invalid foreign key option "{option}"')
    is_nullable = "NULLABLE" in options
    is_unique = "UNIQUE" in options
    if is_nullable and primary_key is not None:
        raise DataJointError(f'Primary dependencies cannot be nullable in line "{line}"')

    if isinstance(ref, type) and _defines(ref, "heading"):
        ref = ref()
    unsupported = DataJointError(
        f'Dependency "{ref_text}" is not supported (yet). Use a base table or its projection.'
    )
    try:
        ref_table = _referenced_table(ref)
        ref_key = list(ref.primary_key)
        heading = ref.heading
    except Exception:
        raise unsupported from None
    if ref_table is None:
        raise unsupported

    for name in ref_key:
        if name not in attributes:
            attributes.append(name)
            if primary_key is not None:
                primary_key.append(name)
            sql = heading[name].sql
            attr_sql.append(sql.replace("NOT NULL ", "", 1) if is_nullable else sql)
    foreign_key_sql.append(
        backend.foreign_key_sql(ref_key, ref_table, [heading[n].original_name for n in ref_key])
    )
    if is_unique:
        index_sql.append(backend.unique_index_sql(ref_key))


# --------------------------------------------------------------------------------------------
# indexes
# --------------------------------------------------------------------------------------------
_INDEX_LINE = re.compile(r"^(unique\s+)?index\s*.*$", re.I)
_INDEX = re.compile(r"(?P<unique>unique\s+)?index\s*\(\s*(?P<args>.*)\)", re.I)
# one element of an index: characters other than ',' and '(', or a parenthesised group
_INDEX_ELEMENT = re.compile(r"(?:\([^)]*\)|[^,(])+")
# attribute, optional JSON path and optional returned type: attr[.path][:type]
_JSON_ATTRIBUTE = re.compile(
    r"^(?P<attr>\w+)(?:\.(?P<path>[\w.*\[\]]+))?(?::(?P<type>[\w(,\s)]+))?$"
)


def _index_element_sql(element: str) -> str:
    backend = _get_backend()
    match = _JSON_ATTRIBUTE.match(element)
    if match is None:  # an expression: passed through as written
        return element
    if match["path"] is None:
        return backend.quote(match["attr"])
    return f"({backend.json_path_sql(match['attr'], match['path'], match['type'])})"


def compile_index(line: str, index_sql: list) -> None:
    """Compile an ``[unique] index(...)`` line, appending to ``index_sql``."""
    match = _INDEX.match(line)
    if match is None:
        raise DataJointError(f'Table definition syntax error in line "{line}"')
    elements = [e.strip() for e in _INDEX_ELEMENT.findall(match["args"])]
    index_sql.append(
        _get_backend().index_sql(bool(match["unique"]), [_index_element_sql(e) for e in elements])
    )


# --------------------------------------------------------------------------------------------
# attributes
# --------------------------------------------------------------------------------------------
def _substitute_special_type(attr: dict, category: str, foreign_key_sql: list, context) -> None:
    """Replace the DataJoint type in ``attr["type"]`` by the column type that stores it; for
    external storage also record the store and add the key to its ``~external`` table."""
    backend = _get_backend()
    if category == "UUID":
        attr["type"] = UUID_DATA_TYPE
    elif category == "INTERNAL_ATTACH":
        attr["type"] = "LONGBLOB"
    elif category in EXTERNAL_TYPES:
        if category == "FILEPATH" and not _support_filepath_types():
            raise DataJointError(_filepath_disabled_message(12))
        attr["store"] = attr["type"].split("@", 1)[1]
        attr["type"] = UUID_DATA_TYPE
        foreign_key_sql.append(backend.external_foreign_key_sql(attr["name"], attr["store"]))
    elif category == "ADAPTED":
        adapter = get_adapter(context, attr["type"])
        attr["type"] = adapter.attribute_type
        category = match_type(attr["type"])
        if category in SPECIAL_TYPES:  # an adapter may store into another special type
            _substitute_special_type(attr, category, foreign_key_sql, context)
    else:  # pragma: no cover - the callers pass special categories only
        raise AssertionError(f"Unknown special type {category}")


def compile_attribute(line: str, in_key: bool, foreign_key_sql: list, context):
    """Compile one attribute line to its column declaration.

    :param line: the attribute line
    :param in_key: True in the primary-key part of the definition
    :param foreign_key_sql: foreign-key constraints (external storage adds one)
    :param context: namespace in which adapted types ``<name>`` are looked up
    :return: (name, column SQL, store name or None)
    """
    backend = _get_backend()
    try:
        parts = _parse_attribute(line)
    except _SyntaxError as err:
        raise DataJointError(
            f"Declaration error in position {err.pos} in line:\n  {err.text}\n"
            f"Expected {err.expected}"
        ) from None
    parts["comment"] = parts["comment"].rstrip("#")
    attr = {key: value.strip() for key, value in parts.items()}
    default = attr.get("default", "")
    nullable = default.lower() == "null"
    if nullable and in_key:
        raise DataJointError(f'Primary key attributes cannot be nullable in line "{line}"')
    attr["default"] = backend.default_clause(default, nullable)
    attr["comment"] = backend.escape_comment(attr["comment"])
    if attr["comment"].startswith(":"):
        raise DataJointError(
            f'An attribute comment must not start with a colon in comment "{attr["comment"]}"'
        )

    category = match_type(attr["type"])
    if category in SPECIAL_TYPES:
        # the declared type goes into the comment; the column gets the type that stores it
        attr["comment"] = f":{attr['type']}:{attr['comment']}"
        _substitute_special_type(attr, category, foreign_key_sql, context)
    if category in SERIALIZED_TYPES and attr["default"] not in {"DEFAULT NULL", "NOT NULL"}:
        raise DataJointError(
            "The default value for a blob or attachment attributes can only be NULL in:\n" + line
        )
    sql = backend.column_sql(attr["name"], attr["type"], attr["default"], attr["comment"])
    return attr["name"], sql, attr.get("store")


# --------------------------------------------------------------------------------------------
# definitions
# --------------------------------------------------------------------------------------------
def prepare_declare(definition: str, context):
    """Compile a definition into its parts.

    :return: (table comment, primary key names, column declarations, foreign-key
        constraints, index declarations, external stores used)
    """
    lines = re.split(r"\s*\n\s*", definition.strip())
    table_comment = lines.pop(0)[1:].strip() if lines[0].startswith("#") else ""
    if table_comment.startswith(":"):
        raise DataJointError('Table comment must not start with a colon ":"')
    in_key = True
    primary_key: list[str] = []
    attributes: list[str] = []
    attribute_sql: list[str] = []
    foreign_key_sql: list[str] = []
    index_sql: list[str] = []
    external_stores: list[str] = []

    for line in lines:
        if not line or line.startswith("#"):
            continue
        if line.startswith(("---", "___")):
            in_key = False
        elif is_foreign_key(line):
            compile_foreign_key(
                line,
                context,
                attributes,
                primary_key if in_key else None,
                attribute_sql,
                foreign_key_sql,
                index_sql,
            )
        elif _INDEX_LINE.match(line):
            # 0.14 quirk: any line starting with "index" is an index, so an attribute named
            # e.g. "index_id" is a syntax error.
            compile_index(line, index_sql)
        else:
            name, sql, store = compile_attribute(line, in_key, foreign_key_sql, context)
            if store:
                external_stores.append(store)
            if in_key and name not in primary_key:
                primary_key.append(name)
            if name not in attributes:  # a repeated attribute keeps its first declaration
                attributes.append(name)
                attribute_sql.append(sql)

    return (
        table_comment,
        primary_key,
        attribute_sql,
        foreign_key_sql,
        index_sql,
        external_stores,
    )


def declare(full_table_name: str, definition: str, context):
    """Compile a table definition into its ``CREATE TABLE`` statement.

    :param full_table_name: `` `database`.`table` ``
    :param definition: the definition text
    :param context: namespace for foreign-key references and adapted types
    :return: (SQL, list of external stores used). The SQL may hold the placeholder
        ``{database}``: fill it with ``sql.format(database=...)``.
    """
    backend = _get_backend()
    # 0.14 quirk: the measured name keeps the opening backtick of `table`, so the longest
    # name accepted is 63 characters, and the message shows that backtick.
    table_name = full_table_name.strip("`").split(".")[1]
    if len(table_name) > MAX_TABLE_NAME_LENGTH:
        raise DataJointError(
            f"Table name `{table_name}` exceeds the max length of {MAX_TABLE_NAME_LENGTH}"
        )
    (
        table_comment,
        primary_key,
        attribute_sql,
        foreign_key_sql,
        index_sql,
        external_stores,
    ) = prepare_declare(definition, context)

    if config.get("add_hidden_timestamp", False):
        digest = sha1(full_table_name.replace("`", "").encode("utf-8")).hexdigest()
        attribute_sql.append(backend.hidden_timestamp_sql(f"_{digest}_timestamp"))

    if not primary_key:
        raise DataJointError("Table must have a primary key")

    sql = backend.create_table_sql(
        full_table_name, attribute_sql, primary_key, foreign_key_sql, index_sql, table_comment
    )
    return sql, external_stores


_COLUMN_NAME = re.compile(r"^`(?P<name>\w+)`")
_RENAMED_FROM = re.compile(r'COMMENT "{\s*(?P<name>\w+)\s*}')


def _attribute_alterations(new: list[str], old: list[str], primary_key: list[str]) -> list[str]:
    """ALTER clauses turning the columns ``old`` into ``new`` (both column declarations).

    A new attribute whose comment starts with ``{old_name}`` renames ``old_name``. Columns
    missing from ``new`` are dropped; changed or moved ones are modified in place and put
    after their new predecessor."""
    backend = _get_backend()
    # new name -> the old name it renames (or None), in the new order
    renames = {}
    for column in new:
        source = _RENAMED_FROM.search(column)
        renames[_COLUMN_NAME.match(column)["name"]] = source and source["name"]
    old_names = [_COLUMN_NAME.search(column)["name"] for column in old]

    renamed = set()
    for source in renames.values():
        if source:
            if source in renamed:
                raise DataJointError(f"Alter attempted to rename attribute {{{source}}} twice.")
            renamed.add(source)
    for source in renamed:
        if source not in old_names:
            raise DataJointError(f"Attribute {source} does not exist in the original definition")

    dropped = [n for n in old_names if n not in renamed and n not in renames]
    sql = [backend.drop_column_sql(n) for n in dropped]
    old_names = [n for n in old_names if n not in dropped]

    previous = None  # (name, renamed-from) of the preceding new attribute
    for column, (name, source) in zip(new, renames.items(), strict=True):
        if name not in primary_key:
            after = None
            if previous:
                try:
                    idx = old_names.index(source or name)
                except ValueError:
                    after = previous[0]
                else:
                    # 0.14 quirk: an attribute moved to the very front (idx 0) keeps its place
                    if idx >= 1 and old_names[idx - 1] != (previous[1] or previous[0]):
                        after = previous[0]
            if column not in old or after:
                if (source or name) not in old_names:
                    sql.append(backend.add_column_sql(column, after))
                elif not source:
                    sql.append(backend.modify_column_sql(column, after))
                else:
                    sql.append(backend.change_column_sql(source, column, after))
        previous = name, source
    return sql


def alter(definition: str, old_definition: str, context):
    """The ALTER clauses turning ``old_definition`` into ``definition``.

    Only secondary attributes (added, dropped, changed, renamed with ``# {old_name} ...``)
    and the table comment can change.

    :return: (list of ALTER TABLE clauses, list of external stores newly used)
    """
    backend = _get_backend()
    comment, primary_key, attribute_sql, foreign_key_sql, index_sql, stores = prepare_declare(
        definition, context
    )
    comment_, primary_key_, attribute_sql_, foreign_key_sql_, index_sql_, stores_ = prepare_declare(
        old_definition, context
    )
    if primary_key != primary_key_:
        raise NotImplementedError("table.alter cannot alter the primary key (yet).")
    if foreign_key_sql != foreign_key_sql_:
        raise NotImplementedError("table.alter cannot alter foreign keys (yet).")
    if index_sql != index_sql_:
        raise NotImplementedError("table.alter cannot alter indexes (yet)")
    sql = []
    if attribute_sql != attribute_sql_:
        sql.extend(_attribute_alterations(attribute_sql, attribute_sql_, primary_key))
    if comment != comment_:
        sql.append(backend.table_comment_sql(comment))
    return sql, [store for store in stores if store not in stores_]
