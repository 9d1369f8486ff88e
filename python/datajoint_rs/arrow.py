"""Query results as Apache Arrow tables (``QueryExpression.to_arrow``; a datajoint_rs
extension, DataJoint 0.14 has no Arrow export).

Every column gets an Arrow type from its attribute, whatever the values, and NULLs become
Arrow nulls:

==========================================  ===============================================
attribute                                   Arrow column
==========================================  ===============================================
integers (``bool`` too)                     ``int64`` (``uint64`` for ``bigint unsigned``)
``float`` / ``double``                      ``float64``
``decimal(p,s)`` / ``numeric(p,s)``         ``decimal128(p, s)`` (``decimal256`` if p > 38)
``char`` / ``varchar`` / ``enum``           ``string``
``date`` / ``datetime`` / ``timestamp``     ``date32`` / ``timestamp[us]``
``time`` / ``year``                         ``duration[us]`` / ``int64``
``uuid``                                    ``string``: the canonical form, ``str(uuid)``
``json``                                    ``string``: the JSON text; field metadata
                                            ``{"datajoint_rs": "json"}``
``attach`` / ``filepath``                   ``string``: the downloaded file's path
blobs, adapted types, computed              ``list<T>`` when every non-null cell is a 1-D
expressions of no simpler type              numpy array of one numeric (or bool) dtype ``T``;
                                            otherwise ``binary`` holding each value packed
                                            as an uncompressed DataJoint blob
                                            (``datajoint_rs.blob.pack(value,
                                            compress=False)``, read it back with
                                            ``blob.unpack``), field metadata
                                            ``{"datajoint_rs": "blob"}``
==========================================  ===============================================

A blob column that is empty or all NULL has no element type to go by: it is ``binary``.
"""

from __future__ import annotations

import json
import re
import uuid

import numpy as np

from .adapters.mysql import TYPE_PATTERN
from .blob import pack
from .errors import DataJointError

#: field metadata of binary columns of packed blobs / of JSON text columns
BLOB_METADATA = {"datajoint_rs": "blob"}
JSON_METADATA = {"datajoint_rs": "json"}

_DECIMAL_SIZE = re.compile(r"^\s*(?:decimal|numeric)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)", re.I)


def _pyarrow():
    try:
        import pyarrow
    except ImportError:
        raise DataJointError("to_arrow needs the pyarrow package installed") from None
    return pyarrow


def to_table(heading, records):
    """A ``pyarrow.Table`` of ``records`` (the structured array fetched for ``heading``)."""
    pa = _pyarrow()
    fields, columns = [], []
    for name in records.dtype.names:
        field, column = _column(pa, heading[name], records[name])
        fields.append(field)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def direct_type(pa, attr):
    """The Arrow type of an attribute whose fetched cells convert without decoding (plain
    SQL types), else None."""
    if attr.is_attachment or attr.is_filepath:
        return None
    return _simple_type(pa, attr)


_TAG_TYPES = {"date": "date32", "us": "timestamp", "dur": "duration"}


def direct_array(pa, column, arrow_type):
    """An Arrow array of one chunk of a plain column as the reader gives it: a numpy array,
    a list of Python values, or the fetch engine's Arrow-ready buffers (``(tag, values,
    valid)`` / ``("str", offsets, data, valid)``); the same array ``_column`` makes of
    the values mysqlclient gives."""
    if isinstance(column, np.ndarray):
        return _typed_array(pa, column, arrow_type)
    if isinstance(column, list):
        values = np.empty(len(column), dtype=object)
        values[:] = column
        return _typed_array(pa, values, arrow_type)
    tag = column[0]
    valid = column[-1]
    mask = None if valid.all() else ~valid
    if tag == "str":
        offsets, data = column[1], column[2]
        n = len(valid)
        bitmap = None if mask is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
        if offsets[-1] < 2**31:
            array = pa.StringArray.from_buffers(
                n, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data), bitmap
            )
        else:
            array = pa.LargeStringArray.from_buffers(
                n, pa.py_buffer(offsets), pa.py_buffer(data), bitmap
            )
    elif tag == "date":
        array = pa.array(column[1], type=pa.date32(), mask=mask)
    elif tag == "us":
        array = pa.array(column[1], type=pa.timestamp("us"), mask=mask)
    elif tag == "dur":
        array = pa.array(column[1], type=pa.duration("us"), mask=mask)
    else:  # "i8" / "f8": NaN counts as NULL, as for the columns of records
        array = pa.array(column[1], mask=mask, from_pandas=True)
    return array if array.type == arrow_type else array.cast(arrow_type)


def table_from_parts(pa, heading, direct, records):
    """The Table of ``heading``'s columns: ``direct[name]`` (lists of arrays) for plain
    columns, ``records[name]`` (fetched values) for the others."""
    fields, columns = [], []
    for name in heading.names:
        attr = heading[name]
        if name in direct:
            arrow_type = direct_type(pa, attr)
            fields.append(pa.field(name, arrow_type))
            columns.append(pa.chunked_array(direct[name], type=arrow_type))
        else:
            field, column = _column(pa, attr, records[name])
            fields.append(field)
            columns.append(column)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _column(pa, attr, values):
    """(field, array) of one attribute's fetched values (a numpy column)."""
    name = attr.name
    arrow_type = _simple_type(pa, attr)
    if attr.json:
        text = [None if v is None else json.dumps(v) for v in values]
        return pa.field(name, pa.string(), metadata=JSON_METADATA), pa.array(text, pa.string())
    if attr.uuid:
        text = [None if v is None else str(uuid.UUID(str(v))) for v in values]
        return pa.field(name, pa.string()), pa.array(text, pa.string())
    if arrow_type is not None:
        return pa.field(name, arrow_type), _typed_array(pa, values, arrow_type)
    serialized = attr.is_blob or bool(attr.adapter)
    if values.dtype != object and not serialized:  # a computed numeric expression
        array = pa.array(values, from_pandas=True)
        return pa.field(name, array.type), array
    return _object_column(pa, name, values, infer=not serialized)


def _simple_type(pa, attr):
    """The Arrow type of a column of a plain SQL type; None for blobs, adapted types and
    expressions (and json / uuid, handled by the caller)."""
    if attr.adapter or attr.is_blob or attr.json or attr.uuid:
        return None
    if attr.is_attachment or attr.is_filepath:
        return pa.string()
    sql_type = attr.type.lower()
    if TYPE_PATTERN["INTEGER"].match(sql_type) or TYPE_PATTERN["BOOL"].match(sql_type):
        unsigned_big = sql_type.startswith("bigint") and "unsigned" in sql_type
        return pa.uint64() if unsigned_big else pa.int64()
    if TYPE_PATTERN["FLOAT"].match(sql_type):
        return pa.float64()
    if TYPE_PATTERN["DECIMAL"].match(sql_type):
        size = _DECIMAL_SIZE.match(sql_type)
        precision, scale = (int(size[1]), int(size[2] or 0)) if size else (10, 0)
        return (pa.decimal128 if precision <= 38 else pa.decimal256)(precision, scale)
    if TYPE_PATTERN["STRING"].match(sql_type) or TYPE_PATTERN["ENUM"].match(sql_type):
        return pa.string()
    if TYPE_PATTERN["TEMPORAL"].match(sql_type):
        base = sql_type.split("(")[0].strip()
        return {
            "date": pa.date32(),
            "time": pa.duration("us"),
            "year": pa.int64(),
        }.get(base, pa.timestamp("us"))
    return None


def _typed_array(pa, values, arrow_type):
    if values.dtype != object:  # int64 / float64 columns: NaN (a NULL float) -> null
        return pa.array(values, type=arrow_type, from_pandas=True)
    cells = [None if _is_null(v) else v for v in values]
    return pa.array(cells, type=arrow_type)


def _is_null(value):
    return value is None or (isinstance(value, float) and value != value)


def _object_column(pa, name, values, infer):
    """Blobs and other objects: ``list<T>`` of 1-D numeric arrays of one dtype, else the
    packed blobs as ``binary``. With ``infer`` (computed expressions), plain Python values
    of one Arrow type keep that type."""
    cells = list(values)
    present = [v for v in cells if v is not None]
    dtype = _common_vector_dtype(present)
    if dtype is not None:
        array = _list_array(pa, cells, dtype)
        return pa.field(name, array.type), array
    if infer and present and not any(isinstance(v, np.ndarray) for v in present):
        try:
            array = pa.array(cells, from_pandas=True)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            pass
        else:
            if not pa.types.is_nested(array.type) and not pa.types.is_null(array.type):
                return pa.field(name, array.type), array
    packed = [None if v is None else pack(v, compress=False) for v in cells]
    return pa.field(name, pa.binary(), metadata=BLOB_METADATA), pa.array(packed, pa.binary())


def _common_vector_dtype(cells):
    """The (native byte order) dtype shared by ``cells`` when all are 1-D numpy arrays of
    one numeric or bool dtype; None otherwise, and for no cells."""
    dtype = None
    for v in cells:
        if not isinstance(v, np.ndarray) or v.ndim != 1 or v.dtype.kind not in "biuf":
            return None
        this = v.dtype.newbyteorder("=")
        if dtype is None:
            dtype = this
        elif this != dtype:
            return None
    return dtype


def _list_array(pa, cells, dtype):
    """A ``list<T>`` array (``large_list`` past 2**31 - 1 elements) of 1-D arrays / None."""
    lengths = np.fromiter((0 if v is None else len(v) for v in cells), np.int64, len(cells))
    offsets = np.zeros(len(cells) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    present = [v for v in cells if v is not None]
    flat = np.concatenate(present).astype(dtype, copy=False) if present else np.empty(0, dtype)
    values = pa.array(flat, type=pa.from_numpy_dtype(dtype))
    nulls = [v is None for v in cells]
    mask = pa.array(nulls, pa.bool_()) if any(nulls) else None
    if offsets[-1] < 2**31:
        return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values, mask=mask)
    return pa.LargeListArray.from_arrays(pa.array(offsets), values, mask=mask)
