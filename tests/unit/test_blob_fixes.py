"""The deliberate deviations of datajoint_rs from datajoint 0.14.9 — the only cases allowed to
differ from the golden vectors (test_blob_vectors.py skips them and points here).

Each test states what 0.14.9 does in a comment and checks what datajoint_rs does instead.
Vectors missing from tests/data/blob (the public split holds a subset) are synthesized.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from blob_helpers import (
    CASE_BY_NAME,
    assert_same,
    enc_array,
    enc_cell,
    enc_char,
    enc_str,
    item,
    load_expected,
    load_input,
    mym,
    object_array,
    read_blob,
    u32,
    u64,
    utf16_units,
    zl_envelope,
)
from datajoint_rs.errors import BlobError, DataJointError


def vector_input(name, synthesized):
    """The stored input of vector ``name``, or ``synthesized`` when the vector is absent."""
    case = CASE_BY_NAME.get(name)
    return load_input(case) if case else synthesized


def vector_blob(name, synthesized):
    case = CASE_BY_NAME.get(name)
    return read_blob(case) if case else synthesized


def matcell(elements, shape):
    from datajoint_rs.blob import MatCell

    return object_array(elements, shape).view(MatCell)


# ============================================================================================
# (a) CHAR matrices are written column-major.
# 0.14.9 writes the u16 payload of an 'S1' array in row-major (C) order, but reads it
# column-major, so a matrix with >= 2 rows and >= 2 columns comes back scrambled
# (char_2d: [[a,b,c],[d,e,f]] -> [[a,c,e],[b,d,f]]).
CHAR_MATRICES = {
    "2x3": np.array([[b"a", b"b", b"c"], [b"d", b"e", b"f"]], dtype="S1"),
    "3x2_forder": np.asfortranarray(np.array([[b"a", b"b"], [b"c", b"d"], [b"e", b"f"]], "S1")),
    "transposed": np.array([[b"a", b"b", b"c"], [b"d", b"e", b"f"]], dtype="S1").T,
    "2x2x2": np.array([b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h"], "S1").reshape(2, 2, 2),
    "neg_stride": np.array([[b"a", b"b", b"c"], [b"d", b"e", b"f"]], dtype="S1")[::-1, ::-1],
    "3x1x2": np.array([b"u", b"v", b"w", b"x", b"y", b"z"], "S1").reshape(3, 1, 2),
}


@pytest.mark.parametrize("name", list(CHAR_MATRICES))
def test_char_matrix_is_written_column_major(blob, name):
    x = CHAR_MATRICES[name]
    units = x.ravel(order="F").view(np.uint8).astype("<u2")
    assert blob.pack(x) == mym(enc_array(x.shape, 4, units.tobytes()))


@pytest.mark.parametrize("name", list(CHAR_MATRICES))
def test_char_matrix_round_trip(blob, name):
    x = CHAR_MATRICES[name]
    got = blob.unpack(blob.pack(x))
    assert type(got) is np.ndarray
    assert got.dtype == np.dtype("<U1") and got.shape == x.shape
    assert (got == x.astype("U1")).all()


def test_char_vectors_differ_only_in_payload_order(blob, vector):
    for name in ("char_2d", "char_3x2_forder"):
        if name not in CASE_BY_NAME:
            continue
        case, reference_bytes = vector(name)
        x = load_input(case)
        got = blob.pack(x)
        header = 4 + 1 + 8 + 8 * x.ndim + 8
        assert got[:header] == reference_bytes[:header]
        assert got != reference_bytes  # 0.14: row-major payload
        assert sorted(got[header:]) == sorted(reference_bytes[header:])
        assert_same(blob.unpack(got), x.astype("U1"))
        # our reader reads 0.14's bytes the way 0.14 does (scrambled, as written)
        assert_same(blob.unpack(reference_bytes), load_expected(case))


CHAR_UNCHANGED = {
    # name: (input, what 0.14 and datajoint_rs read back)
    "1d": (np.array([b"h", b"e", b"y"], "S1"), np.array(["hey"])),
    "row": (np.array([[b"h", b"e", b"y"]], "S1"), np.array(["hey"])),
    "column": (np.array([[b"h"], [b"e"], [b"y"]], "S1"), np.array([["h"], ["e"], ["y"]])),
    "0d": (np.array(b"q", "S1"), np.array("q", dtype="<U1")),
    "empty": (np.array([], "S1"), np.array([""], dtype="<U1")),
    "1x1": (np.array([[b"a"]], "S1"), np.array(["a"])),
    "0x3": (np.zeros((0, 3), "S1"), np.zeros((0, 3), "<U1")),
}


@pytest.mark.parametrize("name", list(CHAR_UNCHANGED))
def test_char_rows_columns_and_scalars_unchanged(blob, name):
    """Rows, columns and 0-d char arrays: the same bytes and the same reading as 0.14."""
    x, expected = CHAR_UNCHANGED[name]
    units = x.ravel(order="C").view(np.uint8).astype("<u2")  # 0.14's row-major payload
    data = blob.pack(x)
    assert data == mym(enc_array(x.shape, 4, units.tobytes()))
    assert_same(blob.unpack(data), expected)


@pytest.mark.interop
@pytest.mark.parametrize("name", list(CHAR_MATRICES))
def test_reference_reads_our_char_matrix(blob, ref_blob, name):
    """0.14 reads CHAR column-major, so it reads what we write correctly (unscrambled)."""
    x = CHAR_MATRICES[name]
    theirs = ref_blob.unpack(blob.pack(x))
    assert theirs.dtype == np.dtype("<U1") and theirs.shape == x.shape
    assert (theirs == x.astype("U1")).all()
    # ... while their own bytes come back scrambled
    assert not (ref_blob.unpack(ref_blob.pack(x)) == x.astype("U1")).all()


# ============================================================================================
# (b) CHAR units are decoded as UTF-16 (MATLAB chars).
# 0.14.9 keeps the low byte of each unit and decodes it as ASCII: a unit >= 0x80 raises
# UnicodeDecodeError (unpk_char_nonascii, raw_matlab_char_nonascii) and units > 0xFF are
# corrupted (raw_matlab_char_omega).
def expected_char_from_blob(data):
    """The value a UTF-16 reader gives for a one-array CHAR blob (derived from its bytes)."""
    if data.startswith(b"ZL123\0"):
        data = zlib.decompress(data[14:])
    assert data[:4] in (b"mYm\0", b"dj0\0") and data[4:5] == b"A"
    (ndim,) = struct.unpack_from("<Q", data, 5)
    shape = struct.unpack_from(f"<{ndim}Q", data, 13)
    pos = 13 + 8 * ndim
    class_id, _ = struct.unpack_from("<II", data, pos)
    assert class_id == 4
    n = int(np.prod(shape, dtype=np.int64))
    units = struct.unpack_from(f"<{n}H", data, pos + 8)
    assert pos + 8 + 2 * n == len(data)
    if ndim == 1 or (ndim == 2 and shape[0] == 1):
        text = struct.pack(f"<{n}H", *units).decode("utf-16-le")  # rows joined, pairs combined
        return np.array([text], dtype=f"<U{max(1, len(text))}")
    if ndim == 0:
        return np.array(chr(units[0]), dtype="<U1")
    return np.array([chr(u) for u in units], dtype="<U1").reshape(shape, order="F")


NONASCII_CHAR_BLOBS = {
    "unpk_char_nonascii": mym(enc_char((3,), [0xE9, 0x74, 0xE9])),  # 'S1' bytes b"\xe9t\xe9"
    "raw_matlab_char_nonascii": mym(enc_char((1, 4), utf16_units("café"))),
    "raw_matlab_char_omega": mym(enc_char((1, 3), utf16_units("Ωμ€"))),
    "surrogate_pair_row": mym(enc_char((1, 4), utf16_units("a😀b"))),
    "nonascii_matrix": mym(enc_char((2, 2), utf16_units("éΩßж"))),
    "nonascii_0d": mym(enc_char((), utf16_units("Ж"))),
}


@pytest.mark.parametrize("name", list(NONASCII_CHAR_BLOBS))
def test_nonascii_char_decoded_as_utf16(blob, name):
    data = vector_blob(name, NONASCII_CHAR_BLOBS[name])
    assert_same(blob.unpack(data), expected_char_from_blob(data), name)


def test_nonascii_char_values(blob):
    # explicit values, independent of the helper above
    assert_same(blob.unpack(NONASCII_CHAR_BLOBS["unpk_char_nonascii"]), np.array(["été"]))
    assert_same(blob.unpack(NONASCII_CHAR_BLOBS["raw_matlab_char_omega"]), np.array(["Ωμ€"]))
    assert_same(blob.unpack(NONASCII_CHAR_BLOBS["surrogate_pair_row"]), np.array(["a😀b"]))
    assert_same(
        blob.unpack(NONASCII_CHAR_BLOBS["nonascii_matrix"]),
        np.array([["é", "Ω"], ["ß", "ж"]], dtype="<U1").T,
    )


def test_nonascii_s1_round_trip(blob):
    # an 'S1' byte is written zero-extended (as 0.14) and read back as that Latin-1 char
    x = np.array([b"\xe9", b"t", b"\xe9"], "S1")
    data = blob.pack(x)
    assert data == NONASCII_CHAR_BLOBS["unpk_char_nonascii"]
    assert_same(blob.unpack(data), np.array(["été"]))


# ============================================================================================
# (c) Complex arrays are assembled exactly.
# 0.14.9 computes real + 1j*imag: signed zeros are lost and an infinite (or NaN) imaginary
# part turns the real part into NaN.
COMPLEX_SPECIALS = np.array(
    [
        complex(1.0, np.inf),
        complex(-np.inf, np.nan),
        complex(np.nan, -0.0),
        complex(-0.0, np.inf),
        complex(-0.0, -np.inf),
        complex(2.5, -1.5),
    ]
)


@pytest.mark.parametrize(
    "name, x",
    [
        (
            "arr_c128_signed_zero",
            np.array([complex(-0.0, 0.0), complex(1, -0.0), complex(-0.0, -0.0)]),
        ),
        ("arr_c128_specials", COMPLEX_SPECIALS),
        ("c64_specials", COMPLEX_SPECIALS.astype(np.complex64)),
        ("c128_2d_forder", np.asfortranarray(COMPLEX_SPECIALS.reshape(2, 3))),
    ],
)
def test_complex_exact(blob, name, x):
    x = vector_input(name, x)
    got = blob.unpack(blob.pack(x))
    assert_same(got, np.asarray(x))
    if name in CASE_BY_NAME:
        assert_same(blob.unpack(read_blob(CASE_BY_NAME[name])), x)


@pytest.mark.parametrize(
    "x",
    [np.complex128(complex(-0.0, np.inf)), np.complex64(complex(np.nan, -0.0))],
    ids=["c128", "c64"],
)
def test_complex_scalar_exact(blob, x):
    assert_same(blob.unpack(blob.pack(x)), x)


def test_matlab_integer_complex(blob):
    # MATLAB int32 complex: comes back complex128 (as 0.14), parts exact
    data = mym(enc_array((1, 2), 12, struct.pack("<4i", 0, -3, -7, 0), is_complex=1))
    assert_same(blob.unpack(data), np.array([[complex(0, -7), complex(-3, 0)]]))


# ============================================================================================
# (d) MatCell reader.
# 0.14.9 runs np.array(elements) (no dtype): mixed content is stringified or coerced
# (cell_py_mixed -> '<U32', cell_py_bool_int -> int64) and equal-size or ragged arrays raise
# ValueError (unpk_cell_equal_arrays, unpk_cell_ragged). datajoint_rs keeps 0.14's result where
# it is faithful (empty, all char rows/str, all one exact numeric dtype) and otherwise builds
# an object MatCell element-wise (as datajoint 2.x).
SAME_AS_014_CELLS = [
    "cell_char_strings",
    "cell_py_strs",
    "raw_matlab_cell_strings",
    "comp_cell_mym",
    "cell_in_dict",
    "cell_1x1_doubles",
    "cell_py_floats",
    "cell_empty_0x0",
]


@pytest.mark.parametrize("name", SAME_AS_014_CELLS)
def test_cell_same_as_014(blob, vector, name):
    case, data = vector(name)
    assert_same(blob.unpack(data), load_expected(case), name)


@pytest.mark.parametrize("name", ["cell_py_mixed", "cell_py_bool_int", "unpk_cell_ragged"])
def test_cell_element_wise_like_2x(blob, vector, name):
    case, data = vector(name)
    assert_same(blob.unpack(data), load_expected(case, version="2"), name)


def test_cell_explicit_values(blob, vector):
    _, data = vector("cell_py_mixed")
    got = blob.unpack(data)
    assert got.dtype == object and got.shape == (1, 3)
    assert [type(v) for v in got.ravel()] == [int, str, float]
    assert got.tolist() == [[1, "a", 2.5]]
    _, data = vector("cell_py_bool_int")
    got = blob.unpack(data)
    assert got.dtype == object and [type(v) for v in got.ravel()] == [bool, int]


def test_cell_equal_arrays(blob):
    x = vector_input("unpk_cell_equal_arrays", matcell([np.arange(3.0), np.arange(3.0)], (1, 2)))
    got = blob.unpack(blob.pack(x))
    assert_same(got, matcell([np.arange(3.0), np.arange(3.0)], (1, 2)))


@pytest.mark.parametrize(
    "elements, shape, expected",
    [
        # numeric: one exact dtype
        ([1, 2, 3], (1, 3), np.array([[1, 2, 3]], dtype=np.int64)),
        ([True, False], (2, 1), np.array([[True], [False]])),
        ([np.float32(1.5), np.float32(2)], (1, 2), np.array([[1.5, 2]], dtype=np.float32)),
        (
            [np.array([[1]], np.uint8), np.array([[7]], np.uint8)],
            (1, 2),
            np.array([[1, 7]], np.uint8),
        ),
        ([np.complex128(1j), np.complex128(2)], (1, 2), np.array([[1j, 2]])),
        # Python complex counts as complex128 (as 0.14's inference; lossless)
        ([1 + 2j, 3j], (1, 2), np.array([[1 + 2j, 3j]])),
        # datetime64 scalars and size-1 arrays of one unit
        (
            [np.datetime64(1, "s"), np.array([[2]], "datetime64[s]")],
            (2, 1),
            np.array([[1], [2]], "datetime64[s]"),
        ),
        # size-1 arrays of one dtype but different shapes (0.14: ValueError, inhomogeneous)
        ([np.array([[1.0]]), np.array([2.0])], (1, 2), np.array([[1.0, 2.0]])),
        # char rows and str mixed: a '<U' cell
        (["ab", np.array([b"c", b"d", b"e"], "S1")], (1, 2), np.array([["ab", "cde"]])),
        # column-major order of a 2x3 cell
        ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], (2, 3), np.array([[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]])),
    ],
    ids=[
        "ints",
        "bools",
        "float32",
        "uint8_1x1",
        "complex",
        "py_complex",
        "datetime64",
        "size1_shapes",
        "str_and_char_row",
        "2x3_order",
    ],
)
def test_cell_homogeneous(blob, elements, shape, expected):
    from datajoint_rs.blob import MatCell

    got = blob.unpack(blob.pack(matcell(elements, shape)))
    assert_same(got, expected.view(MatCell))


@pytest.mark.parametrize(
    "elements, shape",
    [
        ([1.0, 2], (1, 2)),  # float and int: 0.14 -> float64 [1., 2.]
        ([np.float32(1), 2.0], (1, 2)),  # float32 and float64
        ([np.array([1.0, 2.0]), np.array([3.0, 4.0])], (2, 1)),  # 0.14: ValueError
        ([None, "a"], (1, 2)),  # 0.14: '<U4' ['None', 'a']
        ([2**70, 1], (1, 2)),  # int beyond int64: 0.14 -> object via numpy
        ([{"a": 1}, [1, 2], (3,)], (3, 1)),
    ],
    ids=[
        "float_int",
        "f32_f64",
        "equal_arrays",
        "none_str",
        "huge_int",
        "containers",
    ],
)
def test_cell_mixed_is_object(blob, elements, shape):
    x = matcell(elements, shape)
    got = blob.unpack(blob.pack(x))
    assert got.dtype == object
    assert_same(got, x)


def test_nested_cells(blob):
    inner = matcell([1.0, "x"], (1, 2))
    outer = matcell([inner, 3.0], (2, 1))
    got = blob.unpack(blob.pack(outer))
    assert_same(got, outer)


@pytest.mark.parametrize("shape", [(0, 0), (0, 3), (2, 0), (0,)])
def test_empty_cell_keeps_shape(blob, shape):
    from datajoint_rs.blob import MatCell

    got = blob.unpack(blob.pack(np.empty(shape, dtype=object).view(MatCell)))
    assert_same(got, np.zeros(shape).view(MatCell))  # same as 0.14 (float64)


# ============================================================================================
# (e) Object (class VOID) arrays are built element-wise.
# 0.14.9 runs np.array(elements, dtype=object): equal-length sequences nest into a deeper
# array and the reshape fails (unpk_obj_equal_arrays, unpk_obj_equal_tuples,
# unpk_obj_single_list: ValueError), 1-element arrays become scalars (object_one_elem_arrays).
OBJECT_CASES = {
    "unpk_obj_equal_arrays": object_array([np.arange(3), np.arange(3)], (2,)),
    "unpk_obj_equal_tuples": object_array([(1, 2), (3, 4)], (2,)),
    "unpk_obj_single_list": object_array([[1, 2, 3]], (1,)),
    "object_one_elem_arrays": object_array([np.array([1.0]), np.array([2.0])], (2,)),
    "equal_lists_2d": object_array([[1, 2], [3, 4], [5, 6], [7, 8]], (2, 2)),
    "one_elem_lists": object_array([[1], ["a"]], (2,)),
    "nested_object": object_array([object_array([1, 2], (2,)), object_array([3, 4], (2,))], (2,)),
}


@pytest.mark.parametrize("name", list(OBJECT_CASES))
def test_object_array_element_wise(blob, name):
    x = vector_input(name, OBJECT_CASES[name])
    got = blob.unpack(blob.pack(x))
    assert type(got) is np.ndarray and got.dtype == object and got.shape == x.shape
    assert_same(got, x)  # tuples stay tuples, lists stay lists, arrays stay arrays
    if name in CASE_BY_NAME:
        assert_same(blob.unpack(read_blob(CASE_BY_NAME[name])), x)


# ============================================================================================
# (f) MatStruct with no fields.
# 0.14.9 writes a stray NUL (the empty name list's terminator) that its reader never consumes,
# so the blob fails the length check; for nfields == 0 its reader returns np.array(None).
def empty_struct(shape):
    from datajoint_rs.blob import MatStruct

    return np.empty(shape, dtype=np.dtype([])).view(MatStruct)


def _assert_empty_struct(got, shape):
    assert type(got).__name__ == "MatStruct"
    assert got.shape == shape
    assert got.dtype == np.dtype([]) and not got.dtype.names


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (0, 0)])
def test_struct_without_fields(blob, shape):
    data = blob.pack(empty_struct(shape))
    header = b"S" + u64(len(shape)) + b"".join(u64(d) for d in shape) + u32(0)
    assert data == mym(header)  # no stray NUL
    _assert_empty_struct(blob.unpack(data), shape)


def test_struct_without_fields_vector(blob, vector):
    case, reference_bytes = vector("unpk_struct_no_fields")
    assert reference_bytes.endswith(b"\0")
    x = load_input(case)
    ours = blob.pack(x)
    assert ours == reference_bytes[:-1]
    # 0.14's bytes, stray NUL included, are accepted too
    _assert_empty_struct(blob.unpack(reference_bytes), x.shape)
    _assert_empty_struct(blob.unpack(ours), x.shape)


# ============================================================================================
# (g) Record ('F') arrays: CHAR fields per element, sub-array fields readable.
# 0.14.9 joins a CHAR field over several records into one string broadcast into every record
# (rec_char_field_multi -> c == ['ab', 'ab']) and fails on sub-array fields
# (unpk_rec_subarray_field: ValueError: could not broadcast).
def test_record_char_field_multi(blob, vector):
    case, data = vector("rec_char_field_multi")
    expected = np.array([(1, "a"), (2, "b")], dtype=[("i", "<i4"), ("c", "<U1")]).view(np.recarray)
    assert_same(blob.unpack(data), expected)
    assert_same(blob.unpack(blob.pack(load_input(case))), expected)


def test_record_char_field_2d(blob):
    x = np.zeros((2, 3), dtype=[("k", "<i2"), ("c", "S1")])
    x["k"] = np.arange(6).reshape(2, 3)
    x["c"] = np.array([[b"a", b"b", b"c"], [b"d", b"e", b"f"]])
    got = blob.unpack(blob.pack(x))
    expected = np.zeros((2, 3), dtype=[("k", "<i2"), ("c", "<U1")])
    expected["k"] = x["k"]
    expected["c"] = [["a", "b", "c"], ["d", "e", "f"]]
    assert_same(got, expected.view(np.recarray))


def test_record_char_field_row(blob):
    # a 1xN record array: 0.14 joins the CHAR field as a row string; we keep one char each
    x = np.zeros((1, 3), dtype=[("k", "<f8"), ("c", "S1")])
    x["c"] = [[b"x", b"y", b"z"]]
    got = blob.unpack(blob.pack(x))
    assert got.dtype["c"] == np.dtype("<U1")
    assert got["c"].tolist() == [["x", "y", "z"]]


def test_record_subarray_field(blob, vector):
    case, data = vector("unpk_rec_subarray_field")
    x = load_input(case)
    assert_same(blob.unpack(data), x.view(np.recarray))
    assert_same(blob.unpack(blob.pack(x)), x.view(np.recarray))


def test_record_subarray_fields_2d(blob):
    dtype = [("x", "<f8"), ("y", "<i2", (2, 2)), ("z", "<u1", (3,))]
    x = np.zeros((2, 3), dtype=dtype)
    x["x"] = np.arange(6).reshape(2, 3)
    x["y"] = np.arange(24).reshape(2, 3, 2, 2)
    x["z"] = np.arange(18).reshape(2, 3, 3)
    got = blob.unpack(blob.pack(x))
    assert got.shape == (2, 3)
    assert_same(got, x.view(np.recarray))


# ============================================================================================
# (h) Sets read where a hashable value is needed (dict keys, set elements) are frozensets.
# 0.14.9 reads every set as set(), so a frozenset dict key makes the blob unreadable
# (unpk_dict_frozenset_key: TypeError: unhashable type: 'set').
def test_frozenset_dict_key(blob, vector):
    case, data = vector("unpk_dict_frozenset_key")
    assert_same(blob.unpack(data), {frozenset({1}): "x"})
    assert_same(blob.unpack(blob.pack(load_input(case))), {frozenset({1}): "x"})


@pytest.mark.parametrize(
    "x, expected",
    [
        ({frozenset({1, 2}), frozenset()}, {frozenset({1, 2}), frozenset()}),
        (frozenset({frozenset({"a"})}), {frozenset({"a"})}),  # top level: set (as 0.14)
        ([{1, 2}], [{1, 2}]),  # sets elsewhere stay sets
        ({"k": {3}}, {"k": {3}}),
        ({(1, frozenset({2})): "t"}, {(1, frozenset({2})): "t"}),  # inside a tuple key
    ],
    ids=["set_of_frozensets", "top_level", "in_list", "dict_value", "tuple_key"],
)
def test_sets_needing_hashability(blob, x, expected):
    got = blob.unpack(blob.pack(x))
    assert_same(got, expected)
    # the top-level type and the element types are exactly as expected
    assert type(got) is type(expected)


def test_frozenset_elements_are_frozensets(blob):
    got = blob.unpack(blob.pack({frozenset({1, 2})}))
    assert type(got) is set
    assert all(type(e) is frozenset for e in got)


# ============================================================================================
# (i) Errors instead of silent garbage.
def test_unknown_protocol_header(blob, vector):
    # 0.14.9: unpack returns None for a blob whose header is not mYm/dj0
    _, data = vector("raw_unknown_header")
    with pytest.raises(BlobError):
        blob.unpack(data)


@pytest.mark.parametrize(
    "data",
    [b"", b"\0", b"mYm", b"dj0", b"DJ0\0\xff", b"ZL123\0", b"mYm \0\xff"],
    ids=["empty", "nul", "mYm_no_nul", "dj0_no_nul", "upper", "bare_envelope", "mYm_space"],
)
def test_not_a_blob(blob, data):
    # 0.14.9: None or assorted errors
    with pytest.raises(BlobError):
        blob.unpack(data)


@pytest.mark.parametrize("class_id", [0, 1, 2, 16])
def test_classes_without_dtype(blob, class_id):
    # 0.14.9 reads these as u64 garbage (raw_class16_function)
    data = mym(enc_array((1, 2), class_id, u64(0) * 2))
    if class_id == 16:
        data = vector_blob("raw_class16_function", data)
    with pytest.raises(BlobError):
        blob.unpack(data)


@pytest.mark.parametrize("class_id", [17, 99, 65535, 65549, 2**32 - 1])
def test_unknown_classes(blob, class_id):
    # 0.14.9: KeyError
    with pytest.raises(BlobError):
        blob.unpack(mym(enc_array((1,), class_id, u64(0))))


@pytest.mark.parametrize("delta", [-1, 1, 1000])
def test_compressed_size_mismatch(blob, delta):
    # 0.14.9: AssertionError
    plain = mym(enc_array((200,), 6, np.zeros(200).tobytes()))
    data = zl_envelope(plain, len(plain) + delta)
    if delta == 1:
        data = vector_blob("raw_compressed_size_mismatch", data)
    with pytest.raises(BlobError):
        blob.unpack(data)


def test_errors_are_datajoint_errors():
    assert issubclass(BlobError, DataJointError)


def test_helpers_sanity():
    # the synthesized blobs above are valid framing for the reference format
    assert enc_str("a") == b"\x05" + u64(1) + b"a"
    assert item(b"xy") == u64(2) + b"xy"
    assert enc_cell((1,), [b"\xff"]) == b"C" + u64(1) + u64(1) + u64(1) + b"\xff"
