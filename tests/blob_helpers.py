"""Shared helpers of the blob tests: golden vectors, raw-blob builders, expected values.

The vectors in ``tests/data/blob`` were written by the real datajoint 0.14.9 (see its
README.md); ``blobvec.py`` (vendored unchanged) loads them and compares values strictly.
"""

from __future__ import annotations

import collections.abc
import datetime
import decimal
import importlib.util
import os
import struct
import sys
import uuid
import warnings
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

TESTS_DIR = Path(__file__).resolve().parent
VECTOR_DIR = TESTS_DIR / "data" / "blob"


def _import_blobvec():
    if "blobvec" in sys.modules:
        return sys.modules["blobvec"]
    spec = importlib.util.spec_from_file_location("blobvec", VECTOR_DIR / "blobvec.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["blobvec"] = module
    spec.loader.exec_module(module)
    return module


blobvec = _import_blobvec()
CASES = blobvec.cases(VECTOR_DIR)
CASE_BY_NAME = {case["name"]: case for case in CASES}

# --------------------------------------------------------------------------------------------
# Deliberate deviations of datajoint_rs from 0.14.9 (letters as in tests/unit/test_blob_fixes.py).
# Only these vectors may differ from the reference; each is tested explicitly in test_blob_fixes.
PACK_DEVIATIONS = {
    "char_2d": "(a) CHAR matrices are written column-major (0.14 writes row-major)",
    "char_3x2_forder": "(a) CHAR matrices are written column-major (0.14 writes row-major)",
    "unpk_struct_no_fields": "(f) zero-field MatStruct is written without 0.14's stray NUL",
}
UNPACK_DEVIATIONS = {
    "unpk_char_nonascii": "(b) CHAR units are decoded as UTF-16",
    "raw_matlab_char_nonascii": "(b) CHAR units are decoded as UTF-16",
    "raw_matlab_char_omega": "(b) CHAR units are decoded as UTF-16",
    "arr_c128_signed_zero": "(c) complex arrays are assembled exactly",
    "arr_c128_specials": "(c) complex arrays are assembled exactly",
    "cell_py_mixed": "(d) MatCell of mixed content is an object MatCell",
    "cell_py_bool_int": "(d) MatCell of mixed content is an object MatCell",
    "unpk_cell_equal_arrays": "(d) MatCell of arrays is an object MatCell",
    "unpk_cell_ragged": "(d) MatCell of arrays is an object MatCell",
    "unpk_obj_equal_arrays": "(e) object arrays are built element-wise",
    "unpk_obj_equal_tuples": "(e) object arrays are built element-wise",
    "unpk_obj_single_list": "(e) object arrays are built element-wise",
    "object_one_elem_arrays": "(e) object arrays are built element-wise",
    "unpk_struct_no_fields": "(f) zero-field MatStruct is read as an empty-dtype MatStruct",
    "rec_char_field_multi": "(g) CHAR fields of records are decoded per element",
    "unpk_rec_subarray_field": "(g) sub-array fields of records are readable",
    "unpk_dict_frozenset_key": "(h) sets that must be hashable are read as frozensets",
    "raw_unknown_header": "(i) unknown protocol header raises BlobError",
    "raw_class16_function": "(i) array classes 0/1/2/16 raise BlobError",
    "raw_compressed_size_mismatch": "(i) compressed length mismatch raises BlobError",
}


# --------------------------------------------------------------------------------------------
# the package under test and the reference
def ours():
    import datajoint_rs.blob

    return datajoint_rs.blob


def reference_blob():
    """``datajoint.blob`` of the reference datajoint 0.14.9, or None when not installed."""
    try:
        with warnings.catch_warnings():
            # datajoint's imports (pyparsing, ...) emit deprecation warnings; the suite turns
            # warnings into errors.
            warnings.simplefilter("ignore")
            import datajoint.blob
    except ImportError:
        return None
    return datajoint.blob


@contextmanager
def use_32bit_dims(enabled):
    module = ours()
    saved = module.use_32bit_dims
    module.use_32bit_dims = bool(enabled)
    try:
        yield
    finally:
        module.use_32bit_dims = saved


# --------------------------------------------------------------------------------------------
# vectors
def read_blob(case):
    return blobvec.read_blob(VECTOR_DIR, case)


def load_input(case):
    module = ours()
    return blobvec.load_input(VECTOR_DIR, case, matcell=module.MatCell, matstruct=module.MatStruct)


def load_expected(case, version="0.14"):
    module = ours()
    return blobvec.load_expected(
        VECTOR_DIR, case, matcell=module.MatCell, matstruct=module.MatStruct, version=version
    )


def diff(got, expected):
    return blobvec.diff_values(got, expected)


def assert_same(got, expected, context=""):
    differences = blobvec.diff_values(got, expected)
    assert not differences, (
        f"{context} {differences}\n got: {got!r:.500}\n expected: {expected!r:.500}"
    )


def first_difference(a: bytes, b: bytes) -> str:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return f"first difference at byte {i}: {a[i : i + 16].hex()} != {b[i : i + 16].hex()}"
    return f"lengths {len(a)} != {len(b)}"


def contains_set(value) -> bool:
    """Does the value hold a set anywhere (set element order depends on PYTHONHASHSEED)?"""
    if isinstance(value, collections.abc.Set):
        return True
    if isinstance(value, (str, bytes, bytearray)):
        return False
    if isinstance(value, collections.abc.Mapping):
        return any(contains_set(k) or contains_set(v) for k, v in value.items())
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "O":
            return any(contains_set(v) for v in value.ravel(order="K"))
        if value.dtype.names:
            return any(contains_set(value[name]) for name in value.dtype.names)
        return False
    if isinstance(value, (list, tuple)):
        return any(contains_set(v) for v in value)
    return False


# --------------------------------------------------------------------------------------------
# raw blob builders (little-endian, spec §1-§9)
def u8(n):
    return struct.pack("<B", n)


def u16(n):
    return struct.pack("<H", n)


def u32(n):
    return struct.pack("<I", n)


def u64(n):
    return struct.pack("<Q", n)


def i32(n):
    return struct.pack("<i", n)


def i64(n):
    return struct.pack("<q", n)


def item(encoded: bytes) -> bytes:
    return u64(len(encoded)) + encoded


def enc_array(shape, class_id, payload=b"", is_complex=0) -> bytes:
    return (
        b"A"
        + u64(len(shape))
        + b"".join(u64(d) for d in shape)
        + u32(class_id)
        + u32(is_complex)
        + payload
    )


def enc_str(s: str) -> bytes:
    data = s.encode()
    return b"\x05" + u64(len(data)) + data


def enc_list(items, code=b"\x02") -> bytes:
    return code + u64(len(items)) + b"".join(item(e) for e in items)


def enc_cell(shape, items) -> bytes:
    return b"C" + u64(len(shape)) + b"".join(u64(d) for d in shape) + b"".join(map(item, items))


def enc_char(shape, units) -> bytes:
    """A MATLAB char array; ``units`` are u16 code units in column-major order."""
    return enc_array(shape, 4, struct.pack(f"<{len(units)}H", *units))


def mym(encoded: bytes) -> bytes:
    return b"mYm\0" + encoded


def dj0(encoded: bytes) -> bytes:
    return b"dj0\0" + encoded


def zl_envelope(plain: bytes, claimed_len=None) -> bytes:
    n = len(plain) if claimed_len is None else claimed_len
    return b"ZL123\0" + u64(n) + zlib.compress(plain)


def utf16_units(text: str):
    data = text.encode("utf-16-le")
    return list(struct.unpack(f"<{len(data) // 2}H", data))


# --------------------------------------------------------------------------------------------
# what datajoint_rs returns for unpack(pack(x)) (0.14's round-trip losses, spec §13, with our
# deliberate fixes of tests/unit/test_blob_fixes.py)
def _fits_int64(v):
    return -(2**63) <= v < 2**63


def _cell_numeric_dtype(element):
    """The exact dtype a cell element contributes to a numeric MatCell, or None.

    Python bool/int/float/complex -> bool/int64/float64/complex128 (an int beyond int64 has
    none); numpy scalars and size-1 arrays of numeric, bool or datetime dtypes: their dtype.
    """
    if isinstance(element, bool):
        return np.dtype(bool)
    if isinstance(element, int):
        return np.dtype(np.int64) if _fits_int64(element) else None
    if isinstance(element, float):
        return np.dtype(np.float64)
    if isinstance(element, complex):
        return np.dtype(np.complex128)
    if isinstance(element, (np.generic, np.ndarray)) and element.size == 1:
        if element.dtype.kind in "biufcmM" and element.dtype.names is None:
            return element.dtype
    return None


def _cell_char_text(element):
    if isinstance(element, str):
        return element
    if isinstance(element, np.ndarray) and element.dtype.kind == "U" and element.size == 1:
        return str(element.reshape(-1)[0])
    return None


def cell_from_elements(elements, shape):
    """The MatCell datajoint_rs builds from decoded ``elements`` (column-major order)."""
    matcell = ours().MatCell
    if not elements:
        return np.zeros(shape, dtype=np.float64).view(matcell)
    texts = [_cell_char_text(e) for e in elements]
    if all(t is not None for t in texts):
        return np.array(texts).reshape(shape, order="F").view(matcell)
    dtypes = [_cell_numeric_dtype(e) for e in elements]
    if all(d is not None for d in dtypes) and len(set(dtypes)) == 1:
        values = [np.asarray(e).reshape(-1)[0] for e in elements]
        return np.array(values, dtype=dtypes[0]).reshape(shape, order="F").view(matcell)
    out = np.empty(len(elements), dtype=object)
    for i, e in enumerate(elements):
        out[i] = e
    return out.reshape(shape, order="F").view(matcell)


def object_array(elements, shape, order="F"):
    """An object ndarray holding ``elements`` as they are (no numpy nesting)."""
    out = np.empty(len(elements), dtype=object)
    for i, e in enumerate(elements):
        out[i] = e
    return out.reshape(shape, order=order)


def expected_char(array):
    """unpack(pack(S1 array)): units decoded per element (bytes are zero-extended to u16)."""
    text = (
        np.vectorize(lambda b: b.decode("latin-1"), otypes=[object])(array) if array.size else None
    )
    if array.ndim == 1 or (array.ndim == 2 and array.shape[0] == 1):
        joined = "".join(text.ravel(order="F")) if array.size else ""
        return np.array([joined], dtype=f"<U{max(1, len(joined))}")
    if array.ndim == 0:
        return np.array(array[()].decode("latin-1"), dtype="<U1")
    out = np.empty(array.shape, dtype="<U1")
    if array.size:
        out[...] = text
    return out


def expected_roundtrip(x, hashable=False):
    """The value datajoint_rs's unpack(pack(x)) must return."""
    module = ours()
    if isinstance(x, module.MatCell):
        elements = [expected_roundtrip(e) for e in x.ravel(order="F")]
        return cell_from_elements(elements, x.shape)
    if isinstance(x, module.MatStruct):
        names = x.dtype.names
        out = np.empty(x.shape, dtype=[(n, object) for n in names])
        for idx in np.ndindex(x.shape):
            for n in names:
                out[n][idx] = expected_roundtrip(x[n][idx])
        return out.view(module.MatStruct)
    if isinstance(x, np.ndarray):
        if x.dtype.names:
            return expected_record_roundtrip(x)
        return expected_array_roundtrip(x)
    if isinstance(x, bool):
        return x
    if isinstance(x, (np.generic,)):
        if isinstance(x, np.str_):
            return str(x)
        if isinstance(x, np.bytes_):
            return bytes(x)
        return x
    if isinstance(x, (int, float, complex, str, decimal.Decimal, uuid.UUID)) or x is None:
        return x
    if isinstance(x, (bytes, bytearray, memoryview)):
        return bytes(x)
    if isinstance(x, datetime.datetime):
        return x.replace(tzinfo=None, fold=0)
    if isinstance(x, datetime.time):
        return x.replace(tzinfo=None, fold=0)
    if isinstance(x, datetime.date):
        return x
    if isinstance(x, collections.abc.Mapping):
        return {expected_roundtrip(k, hashable=True): expected_roundtrip(v) for k, v in x.items()}
    if isinstance(x, collections.abc.MutableSequence):
        return [expected_roundtrip(v) for v in x]
    if isinstance(x, collections.abc.Sequence):
        return tuple(expected_roundtrip(v, hashable=hashable) for v in x)
    if isinstance(x, collections.abc.Set):
        elements = [expected_roundtrip(v, hashable=True) for v in x]
        return frozenset(elements) if hashable else set(elements)
    raise TypeError(f"no expectation for {type(x)}")


def expected_array_roundtrip(x):
    x = np.asarray(x)
    kind = x.dtype.kind
    if kind == "S":
        return expected_char(x)
    if kind == "U":
        return object_array([str(v) for v in x.ravel(order="F")], x.shape)
    if kind == "O":
        return object_array([expected_roundtrip(v) for v in x.ravel(order="F")], x.shape)
    if x.ndim == 0:
        return x[()]
    return np.array(x, order="F")


def expected_record_roundtrip(x):
    """'F' arrays come back as np.recarray; U fields as object, S1 fields as <U1 (per element)."""
    fields = []
    values = {}
    for name in x.dtype.names:
        field = x[name]
        sub = x.dtype.fields[name][0]
        if sub.names:
            got = expected_record_roundtrip(np.asarray(field))
            fields.append((name, got.dtype))
            values[name] = got
            continue
        base, subshape = sub.base, sub.shape
        if base.kind == "U":
            dtype = np.dtype(object)
            conv = object_array([str(v) for v in field.ravel(order="F")], field.shape)
        elif base.kind == "S":
            dtype = np.dtype("<U1")
            conv = np.vectorize(lambda b: b.decode("latin-1"), otypes=["<U1"])(field)
        elif base.kind == "O":
            dtype = np.dtype(object)
            conv = object_array(
                [expected_roundtrip(v) for v in field.ravel(order="F")], field.shape
            )
        else:
            dtype = base
            conv = np.asarray(field)
        fields.append((name, dtype, subshape) if subshape else (name, dtype))
        values[name] = conv
    out = np.empty(x.shape, dtype=fields)
    for name in x.dtype.names:
        out[name] = values[name]
    return out.view(np.recarray)


def hash_seed_is_zero():
    return os.environ.get("PYTHONHASHSEED") == "0"
