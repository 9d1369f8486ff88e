"""``fetch`` and ``fetch1`` with DataJoint 0.14's forms and dtype rules.

Reading is one seam: ``_read_rows`` hands over the result in chunks of whole columns, read
either by the fetch engine (``datajoint_rs.engine``: the native module speaking the MySQL
protocol on its own connections, outside transactions) or through the user's mysqlclient
connection (inside transactions, and wherever the engine does not apply); both give the
same columns. Each chunk's encoded cells (blobs, uuid, json, attachments, ...) are decoded
while the engine reads the next chunk; ``fetch(as_iterator=True)`` hands the chunks out.
"""

from __future__ import annotations

import itertools
import json
import numbers
import uuid
from functools import partial
from pathlib import Path

import numpy as np

from . import _native, blob, engine, hash
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
    from .external import external_table

    return external_table(connection, attr.database, attr.store)


def _transfers(attr):
    """True for columns whose values are objects to download (external or attachments)."""
    return attr.is_external or attr.is_attachment


def _external_values(connection, attr, cells, squeeze, download_path):
    """Decode a whole column of external / attachment cells: the objects are downloaded in
    parallel (``transfer.run_parallel``); each external blob is decoded by the thread that
    downloaded it (the native decoder releases the GIL), overlapping the other transfers."""
    from .transfer import run_parallel

    adapt = attr.adapter.get if attr.adapter else (lambda x: x)
    if not attr.is_external:  # inline attachments: written locally, one by one
        return [
            None if c is None else adapt(_attachment(attr, c, None, download_path)) for c in cells
        ]
    extern = _external(connection, attr)
    uuids = [None if c is None else uuid.UUID(bytes=bytes(c)) for c in cells]
    if attr.is_filepath:
        found = extern.download_filepaths(uuids)
        return [None if f is None else adapt(f[0]) for f in found]
    if attr.is_blob:  # each blob decoded by the thread that downloaded it
        values = extern.get_many(uuids, decode=partial(blob.unpack, squeeze=squeeze))
        return [None if v is None else adapt(v) for v in values]
    # attachments: files of the same name are resolved one after the other (the name
    # conflict rules look at the files already there), different names in parallel
    names = extern.attachment_names([u for u in uuids if u is not None])
    groups = {}
    for i, u in enumerate(uuids):
        if u is not None:
            groups.setdefault(names[u], []).append(i)
    out = [None] * len(cells)
    if groups and extern.spec["protocol"] == "s3":
        extern.s3  # noqa: B018 - connect once, before the threads use the client

    def save(indices):
        for i in indices:
            out[i] = adapt(_attachment(attr, cells[i], extern, download_path, names[uuids[i]]))

    run_parallel(
        save,
        list(groups.values()),
        desc=f"download ({attr.store})",
        local=extern.spec["protocol"] != "s3",
    )
    return out


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


def _attachment(attr, data, extern, download_path, name=None):
    """Write an attachment under ``download_path`` (reusing an identical file already there,
    else a ``_NNNN``-suffixed name) and return its path."""
    from .external import file_md5

    _uuid = uuid.UUID(bytes=bytes(data)) if attr.is_external else None
    if name is None:
        name = (
            extern.get_attachment_name(_uuid)
            if attr.is_external
            else data.split(b"\0", 1)[0].decode()
        )
    local = Path(download_path) / name
    if local.is_file():
        checksum = _uuid if attr.is_external else hash.uuid_from_buffer(data)
        if checksum == file_md5(local, name + "\0"):
            return str(local)
        for n in itertools.count():
            candidate = local.parent / (local.stem + "_%04x" % n + local.suffix)
            if not candidate.is_file():
                local = candidate
                break
            if checksum == file_md5(candidate, name + "\0"):
                return str(candidate)
    if attr.is_external:
        extern.download_attachment(_uuid, name, local)
    else:
        safe_write(local, data.split(b"\0", 1)[1])
    return str(local)


def _wants(heading, objects):
    """Per column, how numeric cells are wanted: "i8" / "f8" (whole numpy columns, for the
    heading's int64 and float64 attributes) or "obj" (Python numbers, None for NULL)."""
    if objects:
        return ["obj"] * len(heading.names)
    dtypes = heading.as_dtype
    return [
        "i8" if dtypes[n] == np.int64 else "f8" if dtypes[n] == np.float64 else "obj"
        for n in heading.names
    ]


class _Decoded(list):
    """A fetched column whose values the fetch engine has decoded already (inline blobs)."""

    __slots__ = ()


def _inline_blob(attr):
    """Blob attributes stored in the table itself (decoded by ``blob.unpack_many``)."""
    return attr.is_blob and not attr.is_external and not attr.adapter


def _engine_wants(heading, wants, decode):
    """``wants`` with the inline blob columns decoded by the engine as they arrive (with
    ``decode``'s squeeze), when ``decode`` is given and blobs are not bypassed."""
    if decode is None or blob.bypass_serialization:
        return wants
    flags = f"blob:{int(bool(decode.squeeze))}{int(bool(blob.use_32bit_dims))}"
    return [
        flags if _inline_blob(heading[name]) else want
        for name, want in zip(heading.names, wants, strict=True)
    ]


def _formatted_sql(expression):
    """The SQL text the server receives for ``expression`` (formatted as the driver does:
    the rendered SQL doubles its literal ``%``), or None if it does not format."""
    try:
        return (expression.make_sql().encode() % ()).decode()
    except (TypeError, ValueError, UnicodeError):
        return None


def _read_rows(expression, heading, objects=False, chunk_rows=None, arrow=(), decode=None):
    """The rows of ``expression`` as ``(key, n_rows, columns)`` chunks, whose order in the
    result is that of their keys (they may arrive out of order when a large result is read
    over several connections: not with ``chunk_rows``), one column per heading
    attribute: numpy arrays for the numeric attributes ``_wants`` so, else lists of the cells
    as mysqlclient builds them (blobs, uuid, json still encoded).

    Outside a transaction the fetch engine reads them (``datajoint_rs.engine``: its own
    connections, chunks decoded natively as they arrive). Otherwise, and where the engine
    does not apply, the user's mysqlclient connection does: its integer and float cells
    arrive as raw text and are parsed into whole columns by ``_native.columns``. The
    engine gives columns ``i`` with ``arrow[i]`` true as Arrow-ready buffers
    (``arrow.direct_array`` reads both forms). With ``decode`` (a ``_Decoder``), the engine
    decodes inline blob columns itself as their cells arrive: they come as ``_Decoded``
    lists, which ``decode`` leaves alone."""
    connection = expression.connection
    wants = _wants(heading, objects)
    if engine.reader(connection) is not None:
        sql = _formatted_sql(expression)
        parts = engine.partitions(expression, heading) if sql and not chunk_rows else None
        binary = sql is not None and engine.use_binary(expression)
        engine_wants = _engine_wants(heading, wants, decode)
        decoded = [w.startswith("blob:") for w in engine_wants]

        def mark(columns):
            for i, done in enumerate(decoded):
                if done:
                    columns[i] = _Decoded(columns[i])
            return columns

        if parts:
            for key, n, columns in engine.stream_parts(
                connection, parts, engine_wants, arrow=arrow, binary=binary
            ):
                yield key, n, mark(columns)
            return
        if sql is not None:
            chunks = engine.stream(
                connection,
                sql,
                engine_wants,
                chunk_rows or engine.CHUNK_ROWS,
                arrow=arrow,
                whole=not chunk_rows,
                binary=binary,
            )
            for seq, (n, columns) in enumerate(chunks):
                yield (0, seq), n, mark(columns)
            return
    if getattr(connection, "_query_cache", None):  # cached rows carry no column types
        rows = expression.cursor().fetchall()
        kinds = ["obj"] * len(heading.names)
    else:
        # unbuffered: the rows stream in without the driver first storing a copy of the whole
        # result (for large blobs, that copy's fresh memory cost more than the transfer)
        cursor = connection.query(expression.make_sql(), raw_numbers=True, unbuffered=True)
        rows = cursor.fetchall()
        description = cursor.description or ()
        cursor.close()  # the driver's cursor would otherwise keep every fetched cell alive
        kinds = []
        for (_, type_code, *_), want in zip(description, wants, strict=True):
            if type_code in INT_FIELD_TYPES:
                kinds.append("int" if want == "obj" else want)
            elif type_code in FLOAT_FIELD_TYPES:
                kinds.append("f8" if want == "f8" else "float")
            else:
                kinds.append("obj")
    # backends whose driver leaves dates, times and decimals as text (SQLite) convert them
    convert = expression.adapter.convert_fetched
    step = chunk_rows or max(len(rows), 1)
    for seq, start in enumerate(range(0, len(rows), step)):
        part = rows[start : start + step]
        columns = _native.columns(part, kinds)
        columns = convert(heading, columns)
        yield (0, seq), len(part), columns


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
    """Decode a list of inline blob cells in place."""
    start, n = 0, len(column)
    while start < n:
        stop, size = start, 0
        while stop < n and (stop == start or size < _BATCH_BYTES):
            cell = column[stop]
            size += len(cell) if cell is not None else 0
            stop += 1
        column[start:stop] = blob.unpack_many(column[start:stop], squeeze=squeeze)
        start = stop


class _Decoder:
    """Decodes the encoded cells of fetched columns (blobs, uuid, json, external objects,
    attachments, adapted types)."""

    def __init__(self, connection, squeeze, download_path):
        self.connection = connection
        self.squeeze = squeeze
        self.download_path = download_path
        self.get = partial(_get, connection, squeeze=squeeze, download_path=download_path)

    def __call__(self, heading, columns):
        """Decode one chunk's columns in place (None: a column not wanted); returns them."""
        for i, name in enumerate(heading.names):
            attr = heading[name]
            if columns[i] is None or isinstance(columns[i], _Decoded):
                continue
            if _inline_blob(attr):
                columns[i] = list(columns[i])
                _unpack_column(columns[i], self.squeeze)
            elif _transfers(attr):
                columns[i] = _external_values(
                    self.connection, attr, list(columns[i]), self.squeeze, self.download_path
                )
            elif _needs_decoding(attr):
                columns[i] = [self.get(attr, v) for v in columns[i]]
        return columns


def _record_dtype(heading, first_row):
    """The structured dtype of fetched records: the heading's, except that a blob column
    whose first stored value is a number gets that number's type (as in 0.14)."""
    dtype = heading.as_dtype
    if first_row is None:
        return dtype
    return np.dtype(
        [
            (name, type(value))
            if heading[name].is_blob and isinstance(value, numbers.Number)
            else (name, dtype[name])
            for value, name in zip(first_row, dtype.names, strict=True)
        ]
    )


def _fill(ret, heading, start, columns):
    """Write one decoded chunk into ``ret[start:]`` (columns that are None: not in ``ret``)."""
    for name, column in zip(heading.names, columns, strict=True):
        if column is None:
            continue
        field = ret[name]
        attr = heading[name]
        if isinstance(column, np.ndarray) or not (attr.is_blob or _transfers(attr)):
            field[start : start + len(column)] = column
        else:  # decoded blobs may be arrays or sequences: never let numpy broadcast them
            for i, value in enumerate(column, start):
                field[i] = value


def _first_row(n, columns):
    """The raw first row of a chunk (for ``_record_dtype``), None for an empty one;
    Arrow-ready buffers (tuples) stand in as None: they are never blobs."""
    if not n:
        return None
    return [None if isinstance(c, tuple | _Decoded) else c[0] for c in columns]


def _dtype(heading, chunks):
    """The record dtype, from the first row of the first chunk in result order."""
    first = next((f for _, f, _ in sorted(chunks, key=lambda c: c[0]) if f is not None), None)
    return _record_dtype(heading, first)


def _fetch_records(expression, heading, decode):
    """All rows of ``expression`` as one structured array (each chunk is decoded while the
    engine reads the next)."""
    chunks, total = [], 0
    for key, n, columns in _read_rows(expression, heading, decode=decode):
        first = _first_row(n, columns)
        chunks.append((key, first, decode(heading, columns)))
        total += n
    # np.zeros, not np.empty: every field is overwritten below, and numpy initialises the
    # object fields of a structured np.empty one item at a time (10x slower, measured)
    ret = np.zeros(total, dtype=_dtype(heading, chunks))
    chunks.sort(key=lambda c: c[0], reverse=True)
    start = 0
    while chunks:
        _, _, columns = chunks.pop()  # each chunk is released once copied
        _fill(ret, heading, start, columns)
        start += len(columns[0]) if columns else 0
    return ret


def _fetch_arrow(expression, heading, decode, chunk_rows=None):
    """All rows of ``expression`` as a ``pyarrow.Table`` (see ``datajoint_rs.arrow``):
    columns of plain types go from the reader's buffers straight into Arrow arrays, chunk
    by chunk; the others (blobs, uuid, json, attachments, adapted or computed values) are
    decoded and converted as ``arrow.to_table`` converts fetched records."""
    from . import arrow

    pa = arrow._pyarrow()
    names = heading.names
    types = {n: arrow.direct_type(pa, heading[n]) for n in names}
    direct = {n: [] for n in names if types[n] is not None}
    rest = [n for n in names if n not in direct]
    chunks, total = [], 0
    wanted = [n in direct for n in names]
    for key, n, columns in _read_rows(
        expression, heading, chunk_rows=chunk_rows, arrow=wanted, decode=decode if rest else None
    ):
        first = _first_row(n, columns)
        for i, name in enumerate(names):
            if name in direct:
                direct[name].append((key, arrow.direct_array(pa, columns[i], types[name])))
                columns[i] = None
        chunks.append((key, first, decode(heading, columns) if rest else None, n))
        total += n
    direct = {n: [a for _, a in sorted(arrays, key=lambda x: x[0])] for n, arrays in direct.items()}
    dtype = _dtype(heading, [c[:3] for c in chunks])
    records = np.zeros(total, dtype=[(n, dtype[n]) for n in rest]) if rest else None
    chunks.sort(key=lambda c: c[0], reverse=True)
    start = 0
    while chunks:
        _, _, columns, n = chunks.pop()
        if columns is not None:
            _fill(records, heading, start, columns)
        start += n
    return arrow.table_from_parts(pa, heading, direct, records)


def _iter_records(expression, heading, decode, chunk_rows):
    """The rows of ``expression`` as a sequence of structured arrays of up to
    ``chunk_rows`` rows (the dtype is fixed by the first row)."""
    dtype = None
    for _, n, columns in _read_rows(expression, heading, chunk_rows=chunk_rows, decode=decode):
        if dtype is None:
            dtype = _record_dtype(heading, _first_row(n, columns))
        decode(heading, columns)
        ret = np.zeros(n, dtype=dtype)
        _fill(ret, heading, 0, columns)
        yield ret


def _fetch_dicts(expression, heading, decode):
    """All rows of ``expression`` as dicts of the driver's values (numbers as Python
    numbers, NULL as None), decoded."""
    names = heading.names
    chunks = []
    for key, _, columns in _read_rows(expression, heading, objects=True, decode=decode):
        decode(heading, columns)
        rows = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
        chunks.append((key, rows))
    chunks.sort(key=lambda c: c[0])
    return [row for _, rows in chunks for row in rows]


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
        as_iterator=False,
        chunk_rows=None,
    ):
        """Fetch the rows: a structured array (default), a DataFrame (``format="frame"``),
        a list of dicts (``as_dict=True``), or the requested attributes (one array each;
        "KEY" gives the primary-key dicts).

        ``format="arrow"`` (a datajoint_rs extension, behind ``to_arrow``) returns a
        ``pyarrow.Table`` (see ``datajoint_rs.arrow``).

        ``as_iterator=True`` (a datajoint_rs extension) returns an iterator over the result
        in chunks of up to ``chunk_rows`` rows (default 65,536), for results larger than
        memory: structured arrays, DataFrames with ``format="frame"``, or
        ``pyarrow.RecordBatch`` es with ``format="arrow"``. Outside a transaction, memory
        stays bounded by a few chunks (the fetch engine streams the rows); inside one, the
        rows are read through the transaction's connection first, then chunked."""
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
        if as_iterator:
            if attrs or as_dict:
                raise DataJointError(
                    "as_iterator=True fetches whole rows: select attributes with proj() and "
                    "leave as_dict unset."
                )
            if format not in {None, "array", "frame", "arrow"}:
                raise DataJointError(
                    'as_iterator=True chunks are in format "array", "frame" or "arrow", '
                    f'not "{format}"'
                )
            if chunk_rows is not None and (not isinstance(chunk_rows, int) or chunk_rows < 1):
                raise DataJointError("chunk_rows must be a positive integer")
            decode = _Decoder(expression.connection, squeeze, download_path)
            return self._iterate(expression, decode, format, chunk_rows or 65536)
        if format is not None and (as_dict or attrs):
            raise DataJointError(
                "Cannot specify output format when as_dict=True or "
                "when attributes are selected to be fetched separately."
            )
        if format not in {None, "array", "frame", "arrow"}:  # "arrow": ours (to_arrow)
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
        decode = _Decoder(expression.connection, squeeze, download_path)
        if as_dict:
            return _fetch_dicts(expression, heading, decode)
        if format == "arrow":
            return _fetch_arrow(expression, heading, decode)
        ret = _fetch_records(expression, heading, decode)
        if format == "frame":
            import pandas

            ret = pandas.DataFrame(ret).set_index(heading.primary_key)
        return ret

    @staticmethod
    def _iterate(expression, decode, format, chunk_rows):
        heading = expression.heading
        if format == "arrow":
            # one chunk at a time through the Arrow path: each yields its record batches
            for records in _iter_records(expression, heading, decode, chunk_rows):
                from .arrow import to_table

                yield from to_table(heading, records).to_batches()
            return
        for records in _iter_records(expression, heading, decode, chunk_rows):
            if format == "frame":
                import pandas

                yield pandas.DataFrame(records).set_index(heading.primary_key)
            else:
                yield records


class Fetch1:
    """``query.fetch1(...)``: exactly one row."""

    def __init__(self, expression):
        self._expression = expression

    def __call__(self, *attrs, squeeze=False, download_path="."):
        """The one row as a dict, or the requested attributes (a tuple, or one value)."""
        expression = self._expression
        heading = expression.heading
        if not attrs:
            decode = _Decoder(expression.connection, squeeze, download_path)
            rows = _fetch_dicts(expression, heading, decode)
            if len(rows) != 1:
                raise DataJointError("fetch1 requires exactly one tuple in the input set.")
            return rows[0]
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
