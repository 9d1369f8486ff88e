"""Differential tests against the reference datajoint 0.14.9 (skipped when not installed).

For hypothesis-generated values that trigger none of our deliberate deviations
(test_blob_fixes.py):
* our pack == their pack, byte for byte (except CHAR matrices, fix a);
* their unpack of our bytes == our unpack of our bytes;
* our unpack of their bytes == their unpack of their bytes;
* the same with squeeze=True, where 0.14's squeeze is well defined.
"""

from __future__ import annotations

import collections.abc

import blob_strategies as bst
import numpy as np
import pytest
from blob_helpers import assert_same, expected_roundtrip, first_difference, reference_blob
from datajoint_rs import blob as dj_blob
from hypothesis import given
from hypothesis import strategies as st

ref = reference_blob()
pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(ref is None, reason="the reference datajoint 0.14.9 is not installed"),
]


# ------------------------------------------------------------------------------ conversion
def to_ref(x):
    """The same value with the reference's MatCell / MatStruct classes."""
    if isinstance(x, dj_blob.MatCell):
        out = np.empty(x.shape, dtype=x.dtype)
        if x.dtype == object:
            for idx in np.ndindex(x.shape):
                out[idx] = to_ref(x[idx])
        else:
            out[...] = x
        return out.view(ref.MatCell)
    if isinstance(x, dj_blob.MatStruct):
        out = np.empty(x.shape, dtype=x.dtype.descr if x.dtype.names else np.dtype([]))
        for name in x.dtype.names or ():
            for idx in np.ndindex(x.shape):
                out[name][idx] = to_ref(x[name][idx])
        return out.view(ref.MatStruct)
    if isinstance(x, np.ndarray) and x.dtype == object and not x.dtype.names:
        out = np.empty(x.shape, dtype=object)
        for idx in np.ndindex(x.shape):
            out[idx] = to_ref(x[idx])
        return out
    if isinstance(x, dict):
        return {k: to_ref(v) for k, v in x.items()}
    if isinstance(x, list):
        return [to_ref(v) for v in x]
    if isinstance(x, tuple):
        return tuple(to_ref(v) for v in x)
    return x


def _children(x):
    if isinstance(x, np.ndarray):
        if x.dtype.names:
            return [np.asarray(x[name]) for name in x.dtype.names]
        if x.dtype == object:
            return list(x.ravel())
        return []
    if isinstance(x, collections.abc.Mapping):
        return list(x.keys()) + list(x.values())
    if isinstance(x, (list, tuple, set, frozenset)):
        return list(x)
    return []


def _any(x, predicate):
    return predicate(x) or any(_any(c, predicate) for c in _children(x))


def _char_matrix(x):
    """fix (a): 0.14 writes these row-major."""
    return (
        isinstance(x, np.ndarray) and x.dtype.kind == "S" and sum(1 for d in x.shape if d > 1) >= 2
    )


def pack_deviates(x):
    return _any(x, _char_matrix)


def check(x, squeeze=True):
    theirs_in = to_ref(x)
    ours = dj_blob.pack(x)
    theirs = ref.pack(theirs_in)
    if not pack_deviates(x):
        assert ours == theirs, first_difference(ours, theirs)
    # their unpack of our bytes == our unpack of our bytes
    ours_read = dj_blob.unpack(ours)
    assert_same(ours_read, ref.unpack(ours), "their unpack of our bytes")
    # our unpack of their bytes == their unpack
    assert_same(dj_blob.unpack(theirs), ref.unpack(theirs), "our unpack of their bytes")
    if squeeze:
        assert_same(
            dj_blob.unpack(ours, squeeze=True), ref.unpack(ours, squeeze=True), "squeeze=True"
        )
    return ours_read


# ------------------------------------------------------------------------------- values
@given(bst.numeric_arrays(for_reference=True))
def test_numeric_arrays(x):
    check(x)


@given(bst.char_arrays(for_reference=True))
def test_char_arrays(x):
    check(x)


@given(bst.unicode_arrays())
def test_unicode_arrays(x):
    check(x)


@given(bst.numpy_scalars(for_reference=True))
def test_numpy_scalars(x):
    check(x)


@given(bst.python_values(for_reference=True))
def test_python_values(x):
    check(x)


scalar_elements = st.one_of(
    st.none(),
    st.integers(),
    st.floats(),
    bst.texts,
    st.binary(max_size=8),
    st.dictionaries(bst.texts, st.integers(), max_size=2),
)


@given(bst.object_arrays(scalar_elements, layouts=True))
def test_object_arrays(x):
    check(x)


@given(bst.reference_cells(dj_blob.MatCell))
def test_cells(x):
    # squeeze: 0.14 squeezes elements before numpy inference (e.g. uint64 (1,1) arrays become
    # Python ints) -- a different rule, not compared
    check(x, squeeze=False)


struct_elements = st.one_of(
    bst.python_values(for_reference=True, max_leaves=3),
    bst.numeric_arrays(for_reference=True, shape=bst.shapes),
    bst.char_arrays(for_reference=True, shape=bst.nonempty_shapes),
)


@given(bst.structs(struct_elements, dj_blob.MatStruct))
def test_structs(x):
    check(x)


@given(bst.record_arrays(for_reference=True))
def test_record_arrays(x):
    # squeeze: 0.14 squeezes the field arrays, then fails on 0-d ones; not compared
    check(x, squeeze=False)


nested_with_arrays = st.recursive(
    st.one_of(
        bst.python_scalars(for_reference=True),
        bst.numeric_arrays(for_reference=True),
        bst.char_arrays(for_reference=True),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(bst.texts, children, max_size=3),
    ),
    max_leaves=8,
)


@given(nested_with_arrays)
def test_nested_containers_with_arrays(x):
    check(x)


# -------------------------------------------------------------------------- large arrays
def _large_cases():
    rng = np.random.default_rng(20240101)
    return {
        "f64_ramp_100k": np.arange(100_000, dtype=np.float64),
        "f64_linspace": np.linspace(-1.0, 1.0, 100_000),
        "i64_random_small_range": rng.integers(0, 1000, 100_000),
        "i8_random_small_range": rng.integers(-4, 4, 200_000, dtype=np.int8),
        "u16_gradient_image": (np.add.outer(np.arange(512), np.arange(512)) % 4096).astype(
            np.uint16
        ),
        "f32_forder_random": np.asfortranarray(rng.random((300, 400)).astype(np.float32)),
        "f64_transposed": rng.normal(size=(200, 300)).round(2).T,
        "c128_random": rng.random(50_000) + 1j * rng.random(50_000),
        "bool_random": rng.random(100_000) < 0.1,
        "dt64_ramp": np.arange(100_000).astype("datetime64[s]"),
        "u64_big": np.uint64(2**63) + np.arange(50_000, dtype=np.uint64),
        "unicode_10k": np.array([f"s{i % 97}" for i in range(10_000)]),
        "list_of_strs": [f"item {i}" for i in range(5000)],
        "dict_of_arrays": {"t": np.arange(20_000.0), "x": [np.zeros(500, np.int32)] * 3},
        "random_bytes_incompressible": rng.bytes(100_000),
        "struct_big_fields": None,  # filled below
    }


LARGE = _large_cases()
_struct = np.empty((1, 2), dtype=[("a", object), ("b", object)])
_struct["a"][0, 0], _struct["b"][0, 0] = np.arange(5000.0), "x"
_struct["a"][0, 1], _struct["b"][0, 1] = np.ones((100, 100)), np.arange(10, dtype=np.int16)
LARGE["struct_big_fields"] = _struct.view(dj_blob.MatStruct)


@pytest.mark.parametrize("name", list(LARGE))
def test_large_values_byte_identical(name):
    x = LARGE[name]
    ours_read = check(x, squeeze=False)
    ours = dj_blob.pack(x)
    if name != "random_bytes_incompressible":
        assert ours.startswith(b"ZL123\0")  # the zlib stream itself is byte-identical
    assert dj_blob.pack(x, compress=False) == ref.pack(to_ref(x), compress=False)
    assert_same(ours_read, expected_roundtrip(x))


def test_large_cell_of_arrays_pack():
    # a MatCell of arrays: 0.14 cannot read it back (fix d); its bytes are still identical
    cell = np.empty((1, 50), dtype=object)
    for i in range(50):
        cell[0, i] = np.arange(i * 100.0)
    cell = cell.view(dj_blob.MatCell)
    ours = dj_blob.pack(cell)
    assert ours == ref.pack(to_ref(cell))
    assert_same(dj_blob.unpack(ours), expected_roundtrip(cell))


# ---------------------------------------------------------------------- deviations (pack)
@given(bst.char_arrays(for_reference=True, shape=bst.nonempty_shapes))
def test_char_matrix_bytes_are_a_permutation(x):
    """Where our CHAR bytes differ (fix a), only the payload order differs."""
    ours, theirs = dj_blob.pack(x, compress=False), ref.pack(x, compress=False)
    if _char_matrix(x):
        header = 4 + 1 + 8 + 8 * x.ndim + 8
        assert ours[:header] == theirs[:header]
        units = np.frombuffer(theirs[header:], "<u2").reshape(x.shape)  # row-major in 0.14
        assert ours[header:] == units.ravel(order="F").tobytes()
    else:
        assert ours == theirs


# ----------------------------------------------------------------------- explicit objects
def _edge_objects():
    import enum
    import types
    from collections import OrderedDict, UserDict, UserList, deque, namedtuple

    class Color(enum.IntEnum):
        RED = 3

    class MyFloat(float):
        pass

    point = namedtuple("Point", "x y")
    cell0 = np.empty((), dtype=object)
    cell0[()] = 1.5
    struct_ = np.zeros((1, 2), dtype=[("a", "<f8"), ("b", "<i4")])
    struct_["a"], struct_["b"] = [[1.5, 2.5]], [[3, 4]]
    return {
        "bool_bytes_2_255": np.array([0, 2, 255], np.uint8).view(bool),
        "int_enum": Color.RED,
        "float_subclass": MyFloat(0.1),
        "namedtuple": point(1, "a"),
        "userlist": UserList([1, 2.0]),
        "userdict": UserDict({"k": [1]}),
        "mappingproxy": types.MappingProxyType({"m": None}),
        "ordereddict": OrderedDict([("b", 1), ("a", 2)]),
        "deque": deque([1, "x"]),
        "range": range(2, 9, 3),
        "memoryview": memoryview(b"mv"),
        "bytearray": bytearray(b"\x00\xff"),
        "np_str_in_list": [np.str_("a"), np.bytes_(b"b")],
        "cell_0d": cell0.view(dj_blob.MatCell),
        "cell_float64": np.arange(6.0).reshape(2, 3).view(dj_blob.MatCell),
        "struct_non_object": struct_.view(dj_blob.MatStruct),
        "array_64_dims": np.arange(2.0).reshape((1,) * 63 + (2,)),
        "broadcast": np.broadcast_to(np.arange(3, dtype=np.int16), (2, 3)),
        "recarray_nested": np.zeros(2, dtype=[("n", [("a", "<i4"), ("b", "<f4")]), ("v", "<u1")]),
        "object_0d_list": np.array(None, dtype=object),
        "dt64_scalars": [np.datetime64("2020-01-01", u) for u in ("Y", "M", "W", "D", "h", "ns")],
        "int_boundaries": [2**63 - 1, -(2**63), 2**64, -(2**64), 2**524279 - 1],
    }


EDGE_OBJECTS = _edge_objects()


@pytest.mark.parametrize("name", list(EDGE_OBJECTS))
def test_edge_objects(name):
    check(EDGE_OBJECTS[name])


@pytest.mark.parametrize(
    "obj",
    [
        np.timedelta64(1, "s"),
        np.zeros(2, "M8"),
        np.float16(1),
        np.zeros(2, ">i2"),
        np.zeros(1, dtype=[("a", "<f8")])[0],
        object(),
    ],
    ids=[
        "timedelta_scalar",
        "generic_datetime",
        "float16_scalar",
        "big_endian",
        "np_void",
        "object",
    ],
)
def test_both_refuse(obj):
    from datajoint_rs.errors import DataJointError

    with pytest.raises(
        ref.DataJointError if hasattr(ref, "DataJointError") else Exception
    ) as theirs:
        ref.pack(obj)
    with pytest.raises(DataJointError) as ours:
        dj_blob.pack(obj)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("kind, depth", [("list", 190), ("dict", 160), ("cell", 190)])
def test_nesting_as_deep_as_the_reference_writes(kind, depth):
    """0.14 (Python recursion limit 1000) writes ~200 levels; we read and write them."""
    ours_x, theirs_x = 1.0, 1.0
    for _ in range(depth):
        if kind == "list":
            ours_x, theirs_x = [ours_x], [theirs_x]
        elif kind == "dict":
            ours_x, theirs_x = {"k": ours_x}, {"k": theirs_x}
        else:
            a, b = np.empty((1, 1), object), np.empty((1, 1), object)
            a[0, 0], b[0, 0] = ours_x, theirs_x
            ours_x, theirs_x = a.view(dj_blob.MatCell), b.view(ref.MatCell)
    # run the (recursive) reference in a fresh thread: pytest's own frames use up the stack
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        theirs = pool.submit(ref.pack, theirs_x).result()
        theirs_read = pool.submit(ref.unpack, theirs).result()
    assert dj_blob.pack(ours_x) == theirs
    assert_same(dj_blob.unpack(theirs), theirs_read)
