"""``fetch`` and ``fetch1`` with DataJoint 0.14's forms and dtype rules.

Reading is one seam: ``_rows`` asks the connection's cursor for rows; blob cells are decoded
by the native codec. (A columnar reader can replace ``_rows`` without changing results.)
"""

from __future__ import annotations

import itertools
import json
import numbers
import uuid
from functools import partial
from pathlib import Path

import numpy as np

from . import _native, blob, hash
from .condition import Top
from .connection import FLOAT_FIELD_TYPES, INT_FIELD_TYPES
from .errors import DataJointError
from .settings import config
from .utils import safe_write


class key:
    """Stands for the primary key in ``fetch(dj.key)``; the string "KEY" works too."""


def is_key(attr):
    return attr is key or attr == "KEY"


def to_dicts(recarray):
    """Records of a structured array as dicts."""
    for rec in recarray:
        yield dict(zip(recarray.dtype.names, rec.tolist(), strict=True))


def _external(connection, attr):
    schema = connection.schemas.get(attr.database)
    external = getattr(schema, "external", None)
    if external is None:
        raise DataJointError(
            f"Attribute `{attr.name}` is stored in external store `{attr.store}`, which "
            "this version of datajoint_rs cannot read yet"
        )
    return external[attr.store]


def _get(connection, attr, data, squeeze, download_path):
    """Decode one fetched cell of attribute ``attr``."""
    if data is None:
        return None
    if attr.json:
        return json.loads(data)
    extern = _external(connection, attr) if attr.is_external else None
    adapt = attr.adapter.get if attr.adapter else (lambda x: x)
    if attr.is_filepath:
        return adapt(extern.download_filepath(uuid.UUID(bytes=data))[0])
    if attr.is_attachment:
        return adapt(_attachment(attr, data, extern, download_path))
    if attr.uuid:
        return adapt(uuid.UUID(bytes=data))
    if attr.is_blob:
        raw = extern.get(uuid.UUID(bytes=data)) if attr.is_external else data
        return adapt(blob.unpack(raw, squeeze=squeeze))
    return adapt(data)


def _attachment(attr, data, extern, download_path):
    """Write an attachment under ``download_path`` (reusing an identical file already there,
    else a ``_NNNN``-suffixed name) and return its path."""
    _uuid = uuid.UUID(bytes=data) if attr.is_external else None
    name = (
        extern.get_attachment_name(_uuid) if attr.is_external else data.split(b"\0", 1)[0].decode()
    )
    local = Path(download_path) / name
    if local.is_file():
        checksum = _uuid if attr.is_external else hash.uuid_from_buffer(data)
        if checksum == hash.uuid_from_file(local, init_string=name + "\0"):
            return str(local)
        for n in itertools.count():
            candidate = local.parent / (local.stem + "_%04x" % n + local.suffix)
            if not candidate.is_file():
                local = candidate
                break
            if checksum == hash.uuid_from_file(candidate, init_string=name + "\0"):
                return str(candidate)
    if attr.is_external:
        extern.download_attachment(_uuid, name, local)
    else:
        safe_write(local, data.split(b"\0", 1)[1])
    return str(local)


def _read_rows(expression, heading):
    """The rows of ``expression`` and, per column, how ``_native.columns`` decodes it:
    integer and float cells arrive as raw text and become numpy columns ("i8", "f8") or
    Python numbers ("int", "float"); every other cell is taken as the driver built it."""
    connection = expression.connection
    if getattr(connection, "_query_cache", None):  # cached rows carry no column types
        cursor = expression.cursor()
        rows = cursor.fetchall()
        return rows, ["obj"] * len(heading.names)
    # unbuffered: the rows stream in without the driver first storing a copy of the whole
    # result (for large blobs, that copy's fresh memory cost more than the transfer itself)
    cursor = connection.query(expression.make_sql(), raw_numbers=True, unbuffered=True)
    rows = cursor.fetchall()
    description = cursor.description or ()
    cursor.close()  # the driver's cursor would otherwise keep every fetched cell alive
    dtypes = heading.as_dtype
    kinds = []
    for (_, type_code, *_), name in zip(description, heading.names, strict=True):
        if type_code in INT_FIELD_TYPES:
            kinds.append(
                "i8" if dtypes[name] == np.int64 else "f8" if dtypes[name] == np.float64 else "int"
            )
        elif type_code in FLOAT_FIELD_TYPES:
            kinds.append("f8" if dtypes[name] == np.float64 else "float")
        else:
            kinds.append("obj")
    return rows, kinds


def _needs_decoding(attr):
    """False for columns whose driver values are already the fetched values."""
    return bool(
        attr.json
        or attr.uuid
        or attr.is_blob
        or attr.is_attachment
        or attr.is_filepath
        or attr.is_external
        or attr.adapter
    )


# Blob columns are decoded in batches of about this many stored bytes: each batch inflates on
# all cores, and its stored bytes are released as soon as it is decoded, so peak memory stays
# close to the size of the result.
_BATCH_BYTES = 8 << 20


def _unpack_column(column, squeeze):
    """Decode a column (object array view) of inline blob cells in place."""
    start, n = 0, len(column)
    while start < n:
        stop, size = start, 0
        while stop < n and (stop == start or size < _BATCH_BYTES):
            cell = column[stop]
            size += len(cell) if cell is not None else 0
            stop += 1
        for i, value in enumerate(blob.unpack_many(column[start:stop], squeeze=squeeze), start):
            column[i] = value
        start = stop


class Fetch:
    """``query.fetch(...)``."""

    def __init__(self, expression):
        self._expression = expression

    def __call__(
        self,
        *attrs,
        offset=None,
        limit=None,
        order_by=None,
        format=None,
        as_dict=None,
        squeeze=False,
        download_path=".",
    ):
        """Fetch the rows: a structured array (default), a DataFrame (``format="frame"``),
        a list of dicts (``as_dict=True``), or the requested attributes (one array each;
        "KEY" gives the primary-key dicts)."""
        expression = self._expression
        if offset or order_by or limit:
            expression = expression.restrict(Top(limit, order_by, offset or 0))

        attrs_as_dict = as_dict and attrs
        if attrs_as_dict and any(is_key(k) for k in attrs):
            attrs = list(expression.primary_key) + [
                a for a in attrs if a not in expression.primary_key
            ]
        if as_dict is None:
            as_dict = bool(attrs)
        if format is not None and (as_dict or attrs):
            raise DataJointError(
                "Cannot specify output format when as_dict=True or "
                "when attributes are selected to be fetched separately."
            )
        if format not in {None, "array", "frame"}:
            raise DataJointError(
                f'Fetch output format must be in {{"array", "frame"}} but "{format}" was given'
            )
        if not (attrs or as_dict) and format is None:
            format = config["fetch_format"]
            if format not in {"array", "frame"}:
                raise DataJointError(
                    f'Invalid entry "{format}" in datajoint.config["fetch_format"]: '
                    'use "array" or "frame"'
                )
        get = partial(_get, expression.connection, squeeze=squeeze, download_path=download_path)

        if attrs:
            attributes = [a for a in attrs if not is_key(a)]
            ret = expression.proj(*attributes).fetch(
                as_dict=False, squeeze=squeeze, download_path=download_path, format="array"
            )
            if attrs_as_dict:
                return [
                    {k: v for k, v in zip(ret.dtype.names, x, strict=True) if k in attrs}
                    for x in ret
                ]
            values = [
                list((to_dicts if as_dict else (lambda x: x))(ret[expression.primary_key]))
                if is_key(attribute)
                else ret[attribute]
                for attribute in attrs
            ]
            return values[0] if len(attrs) == 1 else values

        heading = expression.heading
        if as_dict:
            cursor = expression.cursor(as_dict=True)
            return [
                {name: get(heading[name], row[name]) for name in heading.names} for row in cursor
            ]
        rows, kinds = _read_rows(expression, heading)
        dtype = heading.as_dtype
        if rows:
            # a blob column whose first value is a number gets that number's type (0.14)
            dtype = np.dtype(
                [
                    (name, type(value))
                    if heading[name].is_blob and isinstance(value, numbers.Number)
                    else (name, heading.as_dtype[name])
                    for value, name in zip(rows[0], heading.as_dtype.names, strict=True)
                ]
            )
        ret = np.empty(len(rows), dtype=dtype)
        if rows:
            for name, column in zip(heading.names, _native.columns(rows, kinds), strict=True):
                ret[name] = column
        del rows
        for name in heading:
            attr = heading[name]
            if attr.is_blob and not attr.is_external and not attr.adapter:
                _unpack_column(ret[name], squeeze)
            elif _needs_decoding(attr):
                ret[name] = [get(attr, v) for v in ret[name]]
        if format == "frame":
            import pandas

            ret = pandas.DataFrame(ret).set_index(heading.primary_key)
        return ret


class Fetch1:
    """``query.fetch1(...)``: exactly one row."""

    def __init__(self, expression):
        self._expression = expression

    def __call__(self, *attrs, squeeze=False, download_path="."):
        """The one row as a dict, or the requested attributes (a tuple, or one value)."""
        expression = self._expression
        heading = expression.heading
        if not attrs:
            cursor = expression.cursor(as_dict=True)
            row = cursor.fetchone()
            if not row or cursor.fetchone():
                raise DataJointError("fetch1 requires exactly one tuple in the input set.")
            return {
                name: _get(
                    expression.connection,
                    heading[name],
                    row[name],
                    squeeze=squeeze,
                    download_path=download_path,
                )
                for name in heading.names
            }
        attributes = [a for a in attrs if not is_key(a)]
        result = expression.proj(*attributes).fetch(
            squeeze=squeeze, download_path=download_path, format="array"
        )
        if len(result) != 1:
            raise DataJointError(
                "fetch1 should only return one tuple. %d tuples found" % len(result)
            )
        values = tuple(
            next(to_dicts(result[expression.primary_key])) if is_key(a) else result[a][0]
            for a in attrs
        )
        return values[0] if len(attrs) == 1 else values
