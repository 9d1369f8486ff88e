"""unpack(pack(x)) round trips (hypothesis), options (compress, squeeze, zstd, flags), input
buffer types and zero-copy reads.

Expected values account for 0.14's documented round-trip losses (spec §13: 0-d arrays come
back as numpy scalars, 'U' arrays as object arrays of str, bytearray as bytes, tuples for
other sequences, tz dropped, ...) and for our fixes (test_blob_fixes.py); see
``blob_helpers.expected_roundtrip``.
"""

from __future__ import annotations

import collections
import datetime
import decimal
import struct
import uuid
import warnings
import zlib

import blob_strategies as bst
import numpy as np
import pytest
from blob_helpers import (
    CASES,
    UNPACK_DEVIATIONS,
    assert_same,
    enc_array,
    expected_roundtrip,
    load_expected,
    load_input,
    mym,
    object_array,
    read_blob,
    u64,
    use_32bit_dims,
)
from datajoint_rs import blob as dj_blob
from datajoint_rs.errors import BlobError, DataJointError
from hypothesis import given
from hypothesis import strategies as st

MatCell, MatStruct = dj_blob.MatCell, dj_blob.MatStruct


def round_trip(x, **pack_kwargs):
    return dj_blob.unpack(dj_blob.pack(x, **pack_kwargs))


def check_round_trip(x):
    expected = expected_roundtrip(x)
    for compress in (True, False):
        assert_same(round_trip(x, compress=compress), expected)


# ---------------------------------------------------------------------------------- arrays
@given(bst.numeric_arrays())
def test_numeric_arrays(x):
    check_round_trip(x)


@given(bst.numeric_arrays(shape=bst.shapes.filter(lambda s: 0 in s)))
def test_empty_arrays(x):
    check_round_trip(x)


@given(bst.char_arrays())
def test_char_arrays(x):
    check_round_trip(x)


@given(bst.unicode_arrays())
def test_unicode_arrays(x):
    check_round_trip(x)


@pytest.mark.parametrize("layout", bst.LAYOUTS)
@pytest.mark.parametrize("dtype", bst.NUMERIC_DTYPES + ["datetime64[ms]"])
def test_layouts_give_the_same_bytes(dtype, layout):
    base = (np.arange(60) % 7).reshape(3, 4, 5).astype(dtype)
    x = bst.relayout(base, layout)
    assert dj_blob.pack(x) == dj_blob.pack(np.ascontiguousarray(base))
    check_round_trip(x)


def test_array_payload_is_column_major():
    x = np.arange(6, dtype="<i4").reshape(2, 3)
    data = dj_blob.pack(x)
    assert data == mym(enc_array((2, 3), 12, np.array([0, 3, 1, 4, 2, 5], "<i4").tobytes()))


def test_array_result_is_f_contiguous():
    got = round_trip(np.arange(24.0).reshape(2, 3, 4))
    assert got.flags.f_contiguous


def test_array_subclasses_are_written_as_arrays():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        matrix = np.matrix([[1.0, 2.0], [3.0, 4.0]])
    got = round_trip(matrix)
    assert type(got) is np.ndarray
    assert_same(got, np.asarray(matrix))
    masked = np.ma.masked_array([1.0, 2.0, 3.0], mask=[0, 1, 0], fill_value=-1.0)
    got = round_trip(masked)
    assert type(got) is np.ndarray
    assert_same(got, masked.filled())


# --------------------------------------------------------------------------- python values
@given(bst.python_values())
def test_python_values(x):
    check_round_trip(x)


@given(bst.numpy_scalars())
def test_numpy_scalars(x):
    check_round_trip(x)


@given(st.integers(-(2**20000), 2**20000))
def test_ints(x):
    check_round_trip(x)


@pytest.mark.parametrize(
    "x, n_bytes",
    [(0, 1), (127, 1), (128, 2), (-128, 2), (-129, 2), (255, 2), (2**63, 9), (-(2**63), 9)],
)
def test_int_byte_count(x, n_bytes):
    data = dj_blob.pack(x)
    assert data == b"dj0\0\x0a" + struct.pack("<H", n_bytes) + x.to_bytes(
        n_bytes, "little", signed=True
    )


def test_largest_int():
    largest = 2 ** (65535 * 8 - 1) - 1  # bit_length 524279 -> 65535 bytes
    data = dj_blob.pack(largest, compress=False)
    assert data[5:7] == b"\xff\xff"
    assert dj_blob.unpack(data) == largest
    assert dj_blob.unpack(dj_blob.pack(-largest)) == -largest


@pytest.mark.parametrize(
    "x",
    [
        -0.0,
        float("nan"),
        struct.unpack("<d", b"\x01\x00\x00\x00\x00\x00\xf8\x7f")[0],  # NaN with a payload
        5e-324,
        complex(-0.0, float("nan")),
        decimal.Decimal("-0.00"),
        decimal.Decimal("1.5E-7"),
        decimal.Decimal("-Infinity"),
        decimal.Decimal("NaN"),
        uuid.UUID(int=0),
        datetime.datetime(1, 1, 1),
        datetime.datetime(9999, 12, 31, 23, 59, 59, 999999),
        datetime.date(2024, 2, 29),
        datetime.time(0, 0),
        datetime.time(23, 59, 59, 999999),
        "\0",
        "a\0b",
        "",
        b"",
        None,
        True,
        np.bool_(False),
        np.str_("numpy str"),
        np.bytes_(b"numpy bytes"),
        bytearray(b"\x00\x01"),
        memoryview(b"abc"),  # a Sequence: written as a tuple of ints
        range(3),
        collections.deque([1, 2]),
        collections.OrderedDict([("b", 1), ("a", 2)]),
        collections.defaultdict(list, {"k": [1]}),
    ],
    ids=lambda v: type(v).__name__,
)
def test_python_edge_values(x):
    got = round_trip(x)
    if isinstance(x, memoryview):
        assert got == (97, 98, 99)
        return
    if isinstance(x, range):
        assert got == (0, 1, 2) and type(got) is tuple
        return
    if isinstance(x, collections.deque):
        assert got == [1, 2] and type(got) is list
        return
    if isinstance(x, dict):
        assert type(got) is dict and list(got.items()) == list(x.items())
        return
    assert_same(got, expected_roundtrip(x))
    if isinstance(x, float):
        assert struct.pack("<d", got) == struct.pack("<d", x)  # exact bits, NaN payload kept


def test_tz_and_fold_are_dropped():
    tz = datetime.timezone(datetime.timedelta(hours=2))
    assert_same(
        round_trip(datetime.datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=tz)),
        datetime.datetime(2020, 1, 2, 3, 4, 5, 6),
    )
    got = round_trip(datetime.time(1, 2, 3, fold=1, tzinfo=datetime.timezone.utc))
    assert got == datetime.time(1, 2, 3) and got.tzinfo is None and got.fold == 0


def test_deep_nesting_within_limits():
    x = None
    for i in range(100):
        x = [x, i] if i % 2 else {"k": (x,)}
    check_round_trip(x)


def test_dict_keeps_insertion_order():
    x = {"z": 1, "a": 2, 3: "c", None: 4}
    got = round_trip(x)
    assert list(got) == ["z", "a", 3, None]


# ------------------------------------------------------------- object arrays, cells, structs
element_values = st.one_of(
    bst.python_values(max_leaves=4),
    bst.numeric_arrays(shape=bst.shapes),
    bst.char_arrays(shape=bst.nonempty_shapes),
)


@given(bst.object_arrays(element_values, layouts=True))
def test_object_arrays(x):
    check_round_trip(x)


@given(bst.cells(element_values, MatCell))
def test_cells(x):
    check_round_trip(x)


@given(bst.reference_cells(MatCell))
def test_homogeneous_cells(x):
    check_round_trip(x)


@given(bst.structs(element_values, MatStruct))
def test_structs(x):
    check_round_trip(x)


@given(bst.record_arrays())
def test_record_arrays(x):
    check_round_trip(x)


def test_nested_record_field():
    inner = np.dtype([("a", "<i4"), ("b", "<f8")])
    x = np.zeros(3, dtype=[("n", inner), ("v", "<u2")])
    x["n"]["a"] = [1, 2, 3]
    x["n"]["b"] = [0.5, -0.0, np.nan]
    x["v"] = [7, 8, 9]
    got = round_trip(x)
    assert isinstance(got, np.recarray)
    assert got.dtype.names == ("n", "v")
    assert_same(np.asarray(got["n"]["a"]), x["n"]["a"])
    assert_same(np.asarray(got["n"]["b"]), x["n"]["b"])
    assert_same(np.asarray(got["v"]), x["v"])


# --------------------------------------------------------------------------- compression
def test_compress_false_never_compresses():
    x = np.zeros(100_000)
    plain = dj_blob.pack(x, compress=False)
    assert plain.startswith(b"mYm\0") and len(plain) == 4 + 1 + 8 + 8 + 8 + 800_000
    packed = dj_blob.pack(x)
    assert packed.startswith(b"ZL123\0") and len(packed) < 10_000
    assert struct.unpack("<Q", packed[6:14])[0] == len(plain)
    assert zlib.decompress(packed[14:]) == plain  # a real zlib stream
    assert packed[14:16] == b"\x78\x9c"  # zlib header of level 6
    assert_same(dj_blob.unpack(packed), x)


@pytest.mark.parametrize("n, compressed", [(986, False), (987, False), (988, True), (5000, True)])
def test_compression_threshold(n, compressed):
    # dj0 + bytes code + u64 length + payload = 13 + n bytes: compressed only above 1000
    data = dj_blob.pack(b"\0" * n)
    assert data.startswith(b"ZL123\0") == compressed
    assert dj_blob.unpack(data) == b"\0" * n


def test_incompressible_stays_plain():
    noise = np.random.default_rng(0).bytes(5000)
    data = dj_blob.pack(noise)
    assert data.startswith(b"dj0\0") and dj_blob.unpack(data) == noise


def test_envelope_must_be_strictly_shorter():
    # partly compressible payloads of one plain length: the envelope is kept only when it is
    # strictly shorter than the plain blob (some k give equal lengths)
    noise = np.random.default_rng(1).bytes(1200)
    outcomes = set()
    for k in range(1100, 1201):
        payload = noise[:k] + b"\0" * (1200 - k)
        plain = dj_blob.pack(payload, compress=False)
        envelope_len = 14 + len(zlib.compress(plain))
        data = dj_blob.pack(payload)
        if envelope_len < len(plain):
            assert data.startswith(b"ZL123\0") and len(data) == envelope_len
        else:
            assert data == plain
        outcomes.add(envelope_len - len(plain))
    assert 0 in outcomes and -1 in outcomes  # the boundary itself was exercised


@pytest.mark.parametrize("name", ["comp_boundary_1000", "comp_boundary_1001"])
def test_compression_boundary_vectors(name):
    case = next(c for c in CASES if c["name"] == name)
    expected = read_blob(case)
    assert dj_blob.pack(load_input(case)) == expected
    assert_same(dj_blob.unpack(expected), load_expected(case))


def test_zstd_envelope(config):
    x = np.arange(50_000, dtype=np.int64) % 100
    assert config["blob.compression"] == "zlib"
    with config(blob__compression="zstd"):
        data = dj_blob.pack(x)
        small = dj_blob.pack(np.arange(3.0))
        plain = dj_blob.pack(x, compress=False)
    assert data.startswith(b"ZS123\0")
    assert struct.unpack("<Q", data[6:14])[0] == len(plain)
    assert len(data) < len(plain) // 10
    assert_same(dj_blob.unpack(data), x)
    assert small.startswith(b"mYm\0")  # threshold applies as for zlib
    assert plain.startswith(b"mYm\0")
    # the default is back
    assert config["blob.compression"] == "zlib"
    assert dj_blob.pack(x).startswith(b"ZL123\0")


def test_zstd_incompressible_stays_plain(config):
    noise = np.random.default_rng(0).bytes(5000)
    with config(blob__compression="zstd"):
        assert dj_blob.pack(noise).startswith(b"dj0\0")


def test_zstd_stream_is_standard(config):
    zstandard = pytest.importorskip("zstandard")
    x = list(range(2000))
    with config(blob__compression="zstd"):
        data = dj_blob.pack(x)
    plain = dj_blob.pack(x, compress=False)
    assert zstandard.ZstdDecompressor().decompress(data[14:], max_output_size=len(plain)) == plain


def test_unknown_compression_setting_rejected(config):
    with pytest.raises(DataJointError):
        config["blob.compression"] = "lz4"
    assert config["blob.compression"] == "zlib"


# -------------------------------------------------------------------------------- squeeze
def sq(x):
    return dj_blob.unpack(dj_blob.pack(x), squeeze=True)


@pytest.mark.parametrize(
    "x, expected",
    [
        (np.arange(3.0).reshape(1, 3, 1), np.arange(3.0)),
        (np.array([[2.5]]), 2.5),  # 0-d after squeeze -> Python scalar via .item()
        (np.float64(1.5), 1.5),
        (np.int32(-4), -4),
        (np.bool_(True), True),
        (np.array([[1 + 2j]]), 1 + 2j),
        (np.array([[True]]), True),
        (np.datetime64("2020-01-02", "D"), datetime.date(2020, 1, 2)),
        (
            np.datetime64("2020-01-02T03:04:05.000006", "us"),
            datetime.datetime(2020, 1, 2, 3, 4, 5, 6),
        ),
        (np.datetime64(1_000_000_007, "ns"), 1_000_000_007),  # ns and finer: int
        (np.array([b"a", b"b"], "S1"), "ab"),  # char row -> str
        (np.array([[b"a"], [b"b"]], "S1"), np.array(["a", "b"])),  # column squeezed
        (np.zeros((0, 3)), np.zeros((0, 3))),
        (np.zeros((1, 0)), np.zeros((0,))),
        (np.array(["xy"]), "xy"),  # 'U' (object) 1-element -> its element
        (object_array([1, "a"], (1, 2)), object_array([1, "a"], (2,))),
        ([np.array([[1.0]]), {"k": np.ones((1, 2))}], [1.0, {"k": np.ones(2)}]),
        ((1.0, "s", None), (1.0, "s", None)),  # Python values unaffected
    ],
    ids=repr,
)
def test_squeeze(x, expected):
    assert_same(sq(x), expected)


def test_squeeze_cells_and_structs_stay_arrays():
    cell = object_array(["ab", "cd", "ef"], (1, 3)).view(MatCell)
    got = sq(cell)
    assert_same(got, np.array(["ab", "cd", "ef"]).view(MatCell))
    one = sq(object_array([np.array([[3.0]])], (1, 1)).view(MatCell))
    assert type(one).__name__ == "MatCell" and one.shape == () and one[()] == 3.0
    struct_ = np.empty((1, 2), dtype=[("a", object)])
    struct_["a"][0, 0] = np.array([[1.0]])
    struct_["a"][0, 1] = np.array([[2.0, 3.0]])
    got = sq(struct_.view(MatStruct))
    assert type(got).__name__ == "MatStruct" and got.shape == (2,)
    assert got["a"][0] == 1.0  # fields squeezed too
    assert_same(np.asarray(got["a"][1]), np.array([2.0, 3.0]))


def test_squeeze_vectors():
    for case in CASES:
        if case["unpack_kwargs"].get("squeeze") and case["expected_file"]:
            got = dj_blob.unpack(read_blob(case), squeeze=True)
            assert_same(got, load_expected(case), case["name"])


# ----------------------------------------------------------------------------- flags, API
def test_bypass_serialization():
    data = dj_blob.pack([1, 2, 3])
    dj_blob.bypass_serialization = True
    try:
        assert dj_blob.pack(data) == data
        assert dj_blob.unpack(data) == data
    finally:
        dj_blob.bypass_serialization = False
    assert dj_blob.unpack(data) == [1, 2, 3]


def test_unpack_none_returns_none():
    assert dj_blob.unpack(None) is None  # as 0.14


def test_use_32bit_dims():
    # 'A' header with u32 ndim/dims: the old 32-bit mYm MEX build
    data = mym(
        b"A"
        + struct.pack("<I", 2)
        + struct.pack("<2I", 1, 3)
        + struct.pack("<II", 6, 0)
        + np.arange(3.0).tobytes()
    )
    dj_blob.use_32bit_dims = True
    try:
        assert_same(dj_blob.unpack(data), np.arange(3.0).reshape(1, 3))
    finally:
        dj_blob.use_32bit_dims = False
    with pytest.raises(BlobError):
        dj_blob.unpack(data)


def test_pack_signature_defaults():
    x = np.zeros(1000)
    assert dj_blob.pack(x) == dj_blob.pack(x, compress=True)
    assert dj_blob.pack(x, False) == dj_blob.pack(x, compress=False)
    assert dj_blob.unpack(dj_blob.pack(x), False).shape == (1000,)


# --------------------------------------------------------------------------- input buffers
BUFFER_CASES = [c for c in CASES if c["kind"] in ("pack", "raw") and c["expected_file"]]


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "memoryview_slice"])
def test_unpack_accepts_bytes_like(kind):
    for case in BUFFER_CASES:
        data = read_blob(case)
        if kind == "bytearray":
            buf = bytearray(data)
        elif kind == "memoryview":
            buf = memoryview(data)
        elif kind == "memoryview_slice":
            buf = memoryview(b"xyz" + data + b"!")[3:-1]
        else:
            buf = data
        if case["name"] in UNPACK_DEVIATIONS:
            continue
        with use_32bit_dims(case["unpack_settings"].get("use_32bit_dims", False)):
            got = dj_blob.unpack(buf, **case["unpack_kwargs"])
        assert_same(got, load_expected(case), f"{case['name']} from {kind}")


def test_unpack_accepts_other_buffers():
    x = {"a": np.arange(5.0), "b": "text"}
    data = dj_blob.pack(x)
    interleaved = np.zeros(2 * len(data), np.uint8)
    interleaved[::2] = np.frombuffer(data, np.uint8)
    for buf in (
        np.frombuffer(data, np.uint8),  # a uint8 array
        memoryview(interleaved[::2]),  # a non-contiguous memoryview
        memoryview(data)[:],
    ):
        assert_same(dj_blob.unpack(buf), x)


def test_unpack_memoryview_with_wide_items():
    # a memoryview whose items are not bytes: decoded as its bytes, or a clean refusal
    data = dj_blob.pack([1, 2])
    if len(data) % 2:
        data = dj_blob.pack([1, 20000])  # one byte longer: an even length
    assert len(data) % 2 == 0
    view = memoryview(data).cast("H")
    try:
        got = dj_blob.unpack(view)
    except (TypeError, DataJointError):
        return
    assert got == dj_blob.unpack(bytes(view))


def test_unpack_from_bytearray_does_not_alias():
    # a later change of a mutable input buffer must not change the decoded array
    x = np.arange(10.0)
    buf = bytearray(dj_blob.pack(x))
    got = dj_blob.unpack(buf)
    buf[-8:] = b"\xff" * 8
    assert_same(got, x)


# ------------------------------------------------------------------------------ zero copy
def _reaches(obj, target, depth=20):
    for _ in range(depth):
        if obj is target:
            return True
        nxt = getattr(obj, "base", None)
        if nxt is None and isinstance(obj, memoryview):
            nxt = obj.obj
        if nxt is None:
            return False
        obj = nxt
    return False


@pytest.mark.parametrize("shape", [(2,), (1000,), (3, 4), (2, 3, 4)])
def test_zero_copy_float64(shape):
    x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    data = dj_blob.pack(x, compress=False)
    got = dj_blob.unpack(data)
    assert_same(got, x)
    assert not got.flags.writeable
    assert got.flags.f_contiguous
    assert np.shares_memory(got, np.frombuffer(data, dtype=np.uint8))
    assert _reaches(got, data), "the .base chain must lead to the input bytes"
    # the result keeps the buffer alive
    del data
    import gc

    gc.collect()
    assert_same(got, x)


def test_one_element_and_complex_are_writeable_copies():
    # 0.14: n == 1 arrays and complex arrays are writeable copies
    got = dj_blob.unpack(dj_blob.pack(np.array([1.5])))
    assert got.flags.writeable
    got = dj_blob.unpack(dj_blob.pack(np.array([1 + 2j, 3j])))
    assert got.flags.writeable


def test_zero_copy_result_is_read_only():
    data = dj_blob.pack(np.arange(4.0).reshape(2, 2), compress=False)
    got = dj_blob.unpack(data)
    with pytest.raises(ValueError):
        got[0, 0] = 1.0  # read-only: numpy's own error


def test_u64_builder_sanity():
    assert u64(1) == b"\x01" + b"\0" * 7


# ------------------------------------------------------------------------ more edge cases
def test_use_32bit_dims_compressed_envelope():
    # in 32-bit mode the envelope's plain length is a u32 too
    plain = b"mYm\0A" + struct.pack("<5I", 2, 1, 300, 6, 0) + np.arange(300.0).tobytes()
    data = b"ZL123\0" + struct.pack("<I", len(plain)) + zlib.compress(plain)
    with use_32bit_dims(True):
        assert_same(dj_blob.unpack(data), np.arange(300.0).reshape(1, 300))


def test_use_32bit_dims_python_types():
    items = [b"\x05" + struct.pack("<I", 2) + b"hi", b"d" + struct.pack("<I", 3) + b"1.5"]
    items.append(b"\x06" + struct.pack("<I", 1) + b"z")
    data = (
        b"dj0\0\x02" + struct.pack("<I", 3) + b"".join(struct.pack("<I", len(i)) + i for i in items)
    )
    with use_32bit_dims(True):
        assert_same(dj_blob.unpack(data), ["hi", decimal.Decimal("1.5"), b"z"])


def test_broadcast_arrays_with_zero_strides():
    x = np.broadcast_to(np.arange(3.0), (4, 3))
    assert dj_blob.pack(x) == dj_blob.pack(np.ascontiguousarray(x))
    assert_same(round_trip(x), np.ascontiguousarray(x))


@pytest.mark.parametrize("ndim", [1, 8, 32, 64])
def test_many_dimensions(ndim):
    shape = (1,) * (ndim - 1) + (2,)
    x = np.arange(2, dtype=np.int16).reshape(shape)
    check_round_trip(x)


def test_zero_dim_cell_and_struct():
    cell = np.empty((), dtype=object)
    cell[()] = "text"
    got = round_trip(cell.view(MatCell))
    assert_same(got, np.array("text").view(MatCell))
    struct_ = np.empty((), dtype=[("f", object)])
    struct_["f"][()] = 2.5
    got = round_trip(struct_.view(MatStruct))
    assert type(got).__name__ == "MatStruct" and got.shape == () and got["f"][()] == 2.5


def test_non_object_cell_and_struct():
    # a float64 MatCell: elements are written as numpy scalars (dj0) and read back as float64
    cell = np.arange(6.0).reshape(2, 3).view(MatCell)
    assert dj_blob.pack(cell).startswith(b"dj0\0")
    assert_same(round_trip(cell), cell)
    struct_ = np.zeros((1, 2), dtype=[("a", "<f8"), ("b", "<i4")])
    struct_["a"] = [[1.5, 2.5]]
    struct_["b"] = [[3, 4]]
    got = round_trip(struct_.view(MatStruct))
    assert got.dtype == np.dtype([("a", object), ("b", object)])
    assert got["a"][0, 1] == np.float64(2.5) and type(got["b"][0, 0]) is np.int32


def test_python_subclasses():
    import enum
    import types
    from collections import UserDict, UserList, namedtuple

    class Color(enum.IntEnum):
        RED = 3

    class MyFloat(float):
        pass

    class MyStr(str):
        pass

    Point = namedtuple("Point", "x y")
    cases = [
        (Color.RED, 3),
        (MyFloat(1.5), 1.5),
        (MyStr("s"), "s"),
        (Point(1, 2), (1, 2)),
        (UserList([1, 2]), [1, 2]),
        (UserDict({"a": 1}), {"a": 1}),
        (types.MappingProxyType({"b": 2}), {"b": 2}),
    ]
    for x, expected in cases:
        got = round_trip(x)
        assert type(got) is type(expected) and got == expected, (x, got)


def test_concurrent_pack_and_unpack():
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(3)
    values = [np.arange(i * 5000.0) for i in range(1, 12)]
    values += [rng.integers(0, 10, (300, 200)), [f"s{i}" for i in range(3000)], {"a": np.ones(9)}]
    expected = [dj_blob.pack(v) for v in values]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(4):
            assert list(pool.map(dj_blob.pack, values)) == expected
            for got, value in zip(pool.map(dj_blob.unpack, expected), values, strict=True):
                assert_same(got, expected_roundtrip(value))
