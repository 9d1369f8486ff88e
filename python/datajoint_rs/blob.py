"""DataJoint blob (de)serialization: ``pack`` / ``unpack`` with the API and the bytes of
``datajoint.blob`` 0.14, implemented in Rust (``datajoint_rs._native``).

The wire format is specified in ``docs/blob-format.md``; the deliberate differences from
DataJoint 0.14 (all of them fixes of data it corrupts or cannot read back) are listed in
``docs/compatibility.md``.

The small ``_make_*`` helpers below are called by the native decoder to assemble MATLAB
cells, structs, records and char arrays, whose numpy construction rules are subtle and rare
enough that Python is the clearer place for them.
"""

from __future__ import annotations

import numpy as np

from . import _native
from .errors import DataJointError
from .settings import config

__all__ = ["pack", "unpack", "pack_many", "unpack_many", "MatCell", "MatStruct"]

#: Runtime setting: ``pack`` returns its (already serialized) ``bytes`` argument unchanged
#: and ``unpack`` returns raw bytes; used to copy blobs between tables.
bypass_serialization = False

#: Runtime setting: read blobs written by the old 32-bit mYm MEX build (every u64 length and
#: dimension field is a u32). Cannot be detected from the bytes.
use_32bit_dims = False

_BLOB_PREFIXES = (b"ZL123\0", b"ZS123\0", b"mYm\0", b"dj0\0")


class MatCell(np.ndarray):
    """A numpy ndarray representing a MATLAB cell array."""


class MatStruct(np.recarray):
    """A numpy recarray representing a MATLAB struct array."""


def pack(obj, compress=True):
    """Serialize ``obj`` as a DataJoint blob (``bytes``).

    Compression (``compress=True``, the default) is applied to blobs longer than 1000 bytes
    when it makes them shorter: zlib level 6 (``ZL123``), byte-identical to DataJoint 0.14,
    or zstd (``ZS123``) when ``dj.config["blob.compression"] == "zstd"`` (only datajoint_rs
    can read those)."""
    if bypass_serialization:
        if not (isinstance(obj, bytes) and obj.startswith(_BLOB_PREFIXES)):
            raise DataJointError("bypass_serialization is on: pack expects serialized blob bytes")
        return obj
    return _native.pack(
        obj,
        bool(compress),
        config.get("blob.compression", "zlib"),
        bool(config.get("enable_python_native_blobs", True)),
    )


def unpack(blob, squeeze=False):
    """Deserialize a DataJoint blob (``bytes``, ``bytearray``, ``memoryview``...).

    ``squeeze=True`` removes singleton dimensions of arrays and turns 0-d results into Python
    scalars, as in DataJoint 0.14. Corrupt input raises ``errors.BlobError``."""
    if bypass_serialization:
        if not (isinstance(blob, bytes) and blob.startswith(_BLOB_PREFIXES)):
            raise DataJointError("bypass_serialization is on: unpack expects blob bytes")
        return blob
    if blob is None:
        return None
    return _native.unpack(blob, bool(squeeze), bool(use_32bit_dims))


# --------------------------------------------------------------------------------------
# Assembly helpers called by the native decoder (private).


def _make_objects(items, shape):
    """Object array (class VOID), filled element by element: DataJoint 0.14 calls
    ``np.array(items, dtype=object)``, which fails or changes shape when the elements are
    equal-length sequences."""
    arr = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        arr[i] = item
    return arr.reshape(shape, order="F")


def _make_chars(raw, shape, per_element):
    """CHAR arrays: ``raw`` holds UTF-16 code units (MATLAB chars). A row (1-D or 1xN) is
    one string in a shape-(1,) array, anything else a ``<U1`` array of ``shape``."""
    ndim = len(shape)
    if not per_element and (ndim == 1 or (ndim == 2 and shape[0] == 1)):
        return np.array([raw.decode("utf-16-le", "surrogatepass")])
    units = np.frombuffer(raw, dtype="<u2").astype(np.uint32)
    return units.view("<U1").reshape(shape, order="F")


_CELL_KINDS = frozenset("biufcmM")


def _cell_kind(x):
    """What ``np.array`` would make of one cell element, when that is lossless."""
    if isinstance(x, str):
        return "U"
    if isinstance(x, (np.ndarray, np.generic)):
        if x.size != 1:
            return None
        if x.dtype.kind == "U":
            return "U"
        return x.dtype if x.dtype.kind in _CELL_KINDS else None
    if isinstance(x, bool):
        return np.dtype(bool)
    if isinstance(x, int):
        return np.dtype(np.int64) if -(2**63) <= x < 2**63 else None
    if isinstance(x, float):
        return np.dtype(np.float64)
    if isinstance(x, complex):
        return np.dtype(np.complex128)
    return None


def _make_cell(shape, elements, squeeze):
    """MATLAB cell arrays. Where every element is a string, or every element is a single
    number of one dtype, the cell is a ``<U`` or numeric MatCell as in DataJoint 0.14;
    otherwise it is an object MatCell holding the elements unchanged (0.14 would convert
    mixed contents to strings, or fail on equal-size arrays)."""
    if not elements:
        cell = np.array([]).reshape(shape, order="F")
    else:
        kinds = {_cell_kind(x) for x in elements}
        kind = kinds.pop() if len(kinds) == 1 else None
        if kind is None:
            cell = _make_objects(elements, shape)
        else:
            scalars = [x if np.isscalar(x) else np.asarray(x).reshape(-1)[0] for x in elements]
            cell = np.array(scalars, dtype=None if kind == "U" else kind)
            cell = cell.reshape(shape, order="F")
    if squeeze:
        cell = cell.squeeze()
    return cell.view(MatCell)


def _make_struct(shape, names, values, squeeze):
    """MATLAB struct arrays: every field of dtype object; ``values`` are element-major."""
    n = int(np.prod(shape, dtype=np.int64))
    data = np.empty(n, dtype=np.dtype([(name, object) for name in names]))
    k = len(names)
    for j, name in enumerate(names):
        column = data[name]
        for i in range(n):
            column[i] = values[i * k + j]
    data = data.reshape(shape, order="F")
    if squeeze:
        data = data.squeeze()
    return data.view(MatStruct)


def _make_record(names, fields):
    """numpy structured arrays (``'F'``), returned as ``np.recarray``. Fields whose arrays
    have more dimensions than the records are sub-array fields."""
    if not names:
        return np.array(None)
    arrays = [np.asarray(f) for f in fields]
    shape = arrays[0].shape
    for a in arrays[1:]:
        common = 0
        while common < min(len(shape), a.ndim) and shape[common] == a.shape[common]:
            common += 1
        shape = shape[:common]
    dtype = np.dtype(
        [(name, a.dtype, a.shape[len(shape) :]) for name, a in zip(names, arrays, strict=True)]
    )
    rec = np.empty(shape, dtype)
    for name, a in zip(names, arrays, strict=True):
        rec[name] = a
    return rec.view(np.recarray)


def pack_many(objs, compress=True):
    """Serialize a sequence of objects (e.g. a blob column to insert): the same bytes as
    ``[pack(o, compress) for o in objs]``, with the compression of all of them spread over
    all cores, GIL released."""
    return _native.pack_many(
        objs,
        bool(compress),
        config.get("blob.compression", "zlib"),
        bool(config.get("enable_python_native_blobs", True)),
    )


def unpack_many(blobs, squeeze=False):
    """Deserialize a sequence of blobs (``None`` entries stay ``None``): compressed ones are
    inflated in parallel on all cores with the GIL released. Same results as ``unpack``."""
    if bypass_serialization:
        return [unpack(b, squeeze) for b in blobs]
    return _native.unpack_many(blobs, bool(squeeze), bool(use_32bit_dims))
