"""Corrupt, truncated, hostile and unsupported input: unpack raises BlobError (a
DataJointError) and never anything else — no ValueError / AssertionError / MemoryError / crash —
and pack refuses what it cannot write with a DataJointError.
"""

from __future__ import annotations

import struct
import time
import zlib

import numpy as np
import pytest
from blob_helpers import (
    CASES,
    dj0,
    enc_array,
    enc_cell,
    enc_list,
    enc_str,
    item,
    mym,
    read_blob,
    u8,
    u16,
    u32,
    u64,
    use_32bit_dims,
)
from datajoint_rs import blob as dj_blob
from datajoint_rs.errors import BlobError, DataJointError
from hypothesis import given
from hypothesis import strategies as st

VALID = [
    (c["name"], read_blob(c))
    for c in CASES
    if c["kind"] == "pack" and c["expected_file"] and not c["unpack_settings"]
]
SMALL_VALID = [(name, data) for name, data in VALID if len(data) <= 4096]
COMPRESSED_VALID = [(name, data) for name, data in VALID if data.startswith(b"ZL123\0")]


def unpack_or_blob_error(data, **kwargs):
    """unpack; a BlobError is fine, any other exception fails the test."""
    try:
        return dj_blob.unpack(data, **kwargs)
    except BlobError:
        return None


def assert_blob_error(data, seconds=2.0):
    start = time.perf_counter()
    with pytest.raises(BlobError):
        dj_blob.unpack(data)
    assert time.perf_counter() - start < seconds


# ------------------------------------------------------------------------------ truncation
@pytest.mark.parametrize("name, data", SMALL_VALID, ids=[n for n, _ in SMALL_VALID])
def test_truncated_at_every_byte(name, data):
    for cut in range(len(data)):
        with pytest.raises(BlobError):
            dj_blob.unpack(data[:cut])


@pytest.mark.parametrize("name, data", COMPRESSED_VALID, ids=[n for n, _ in COMPRESSED_VALID])
def test_truncated_compressed(name, data):
    cuts = sorted(set(range(0, 40)) | set(range(40, len(data), max(1, len(data) // 200))))
    for cut in cuts:
        with pytest.raises(BlobError):
            dj_blob.unpack(data[:cut])


@pytest.mark.parametrize("name, data", SMALL_VALID[::4], ids=[n for n, _ in SMALL_VALID[::4]])
def test_trailing_bytes(name, data):
    if data.startswith(b"ZL123\0"):
        pytest.skip("compressed")
    for extra in (b"\0", b"\xff", b"mYm\0"):
        with pytest.raises(BlobError):
            dj_blob.unpack(data + extra)


@given(st.sampled_from(VALID), st.data())
def test_random_byte_flips(case, data):
    name, blob = case
    corrupted = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(blob) - 1))
        corrupted[pos] = data.draw(st.integers(0, 255))
    unpack_or_blob_error(bytes(corrupted))


@given(st.sampled_from(VALID), st.data())
def test_random_insertions_and_deletions(case, data):
    name, blob = case
    corrupted = bytearray(blob)
    pos = data.draw(st.integers(0, len(blob) - 1))
    if data.draw(st.booleans()):
        del corrupted[pos : pos + data.draw(st.integers(1, 8))]
    else:
        corrupted[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
    unpack_or_blob_error(bytes(corrupted))


@given(st.binary(max_size=200))
def test_random_bytes(data):
    unpack_or_blob_error(data)
    unpack_or_blob_error(b"mYm\0" + data)
    unpack_or_blob_error(b"dj0\0" + data)
    unpack_or_blob_error(b"ZL123\0" + data)
    unpack_or_blob_error(b"ZS123\0" + data)


@given(st.binary(max_size=200))
def test_random_bytes_32bit_dims(data):
    with use_32bit_dims(True):
        unpack_or_blob_error(b"mYm\0" + data)
        unpack_or_blob_error(b"dj0\0" + data)


@given(st.binary(min_size=1, max_size=64), st.sampled_from([b"A", b"S", b"C", b"F"]))
def test_random_container_bodies(body, code):
    unpack_or_blob_error(b"mYm\0" + code + body)
    unpack_or_blob_error(b"dj0\0" + code + body)


# ---------------------------------------------------------------------------- wrong lengths
def test_wrong_item_lengths():
    inner = enc_str("abc")
    for delta in (-2, -1, 1, 2, 2**32, 2**63):
        bad = b"\x02" + u64(1) + u64(len(inner) + delta) + inner
        with pytest.raises(BlobError):
            dj_blob.unpack(dj0(bad))
        with pytest.raises(BlobError):
            dj_blob.unpack(dj0(enc_list([bad])))


@pytest.mark.parametrize("delta", [-1, 1, 2**40])
def test_wrong_counts(delta):
    good = enc_list([enc_str("a"), enc_str("b")])
    bad = b"\x02" + u64(2 + delta) + good[9:]
    with pytest.raises(BlobError):
        dj_blob.unpack(dj0(bad))


@pytest.mark.parametrize("code", [b"\x05", b"\x06", b"d"])
def test_wrong_string_lengths(code):
    for n in (4, 6, 2**31, 2**63, 2**64 - 1):
        with pytest.raises(BlobError):
            dj_blob.unpack(dj0(code + u64(n) + b"12345"))


def test_cell_item_length_mismatch():
    element = enc_array((1,), 6, struct.pack("<d", 1.0))
    bad = b"C" + u64(2) + u64(1) + u64(1) + u64(len(element) + 1) + element + b"\0"
    with pytest.raises(BlobError):
        dj_blob.unpack(mym(bad))


def test_array_payload_too_short_or_long():
    for payload in (b"", b"\0" * 15, b"\0" * 17, b"\0" * 24):
        with pytest.raises(BlobError):
            dj_blob.unpack(mym(enc_array((2,), 6, payload)))


def test_complex_payload_missing_imaginary():
    with pytest.raises(BlobError):
        dj_blob.unpack(mym(enc_array((2,), 6, b"\0" * 16, is_complex=1)))


def test_int_and_scalars_truncated():
    for body in (
        b"\x0a",
        b"\x0a\x05\x00\x01\x02",
        b"\x0a\xff\xff" + b"\0" * 100,
        b"\x0b",
        b"\x0c" + b"\0" * 15,
        b"\x0d" + b"\0" * 7,
        b"t" + b"\0" * 11,
        b"u" + b"\0" * 15,
    ):
        with pytest.raises(BlobError):
            dj_blob.unpack(dj0(body))


# --------------------------------------------------------------------- huge declared sizes
@pytest.mark.parametrize(
    "shape",
    [(2**60,), (2**40, 2**40), (2**64 - 1,), (2**32, 2**32, 2**32), (3, 2**62), (1,) * 10**6],
    ids=["2^60", "overflow_2", "u64max", "overflow_3", "3x2^62", "many_dims"],
)
@pytest.mark.parametrize("class_id", [3, 4, 5, 6, 15, 65545])
def test_huge_array_headers(shape, class_id):
    body = b"A" + u64(len(shape)) + b"".join(u64(d) for d in shape) + u32(class_id) + u32(0)
    assert_blob_error(mym(body + b"\0" * 64))


def test_huge_ndim():
    for ndim in (2**20, 2**40, 2**64 - 1):
        assert_blob_error(mym(b"A" + u64(ndim) + u64(1) * 4))


@pytest.mark.parametrize("shape", [(0, 2**63), (2**64 - 1, 0), (0, 2**62, 2**62)])
def test_empty_array_with_huge_dims(shape):
    """No elements, but dimensions numpy cannot represent: an error or an empty array."""
    data = mym(b"A" + u64(len(shape)) + b"".join(u64(d) for d in shape) + u32(6) + u32(0))
    got = unpack_or_blob_error(data)
    if got is not None:
        assert got.size == 0


@pytest.mark.parametrize("code", [b"\x01", b"\x02", b"\x03", b"\x04"])
def test_huge_container_counts(code):
    for n in (2**60, 2**64 - 1):
        assert_blob_error(dj0(code + u64(n) + item(b"\xff")))


@pytest.mark.parametrize("code", [b"S", b"C"])
def test_huge_matlab_containers(code):
    for shape in ((2**60,), (2**32, 2**32), (1, 2**63)):
        head = code + u64(len(shape)) + b"".join(u64(d) for d in shape)
        if code == b"S":
            head += u32(1) + b"a\0"
        assert_blob_error(mym(head + item(b"\xff") * 2))


def test_huge_struct_field_count():
    for n in (2**31, 2**32 - 1):
        assert_blob_error(mym(b"S" + u64(2) + u64(1) + u64(1) + u32(n) + b"a\0" * 10))


def test_huge_record_field_count():
    for n in (2**31, 2**32 - 1):
        assert_blob_error(dj0(b"F" + u32(n) + b"a\0" * 10))


def test_compressed_envelope_claiming_huge_size():
    plain = mym(enc_array((3,), 6, np.arange(3.0).tobytes()))
    for claimed in (2**34, 2**50, 2**63, 2**64 - 1):
        assert_blob_error(b"ZL123\0" + u64(claimed) + zlib.compress(plain))
        assert_blob_error(b"ZS123\0" + u64(claimed) + b"\x28\xb5\x2f\xfd" + b"\0" * 16)


def test_zlib_bomb_beyond_claimed_size():
    bomb = zlib.compress(b"mYm\0" + b"\0" * 50_000_000, 9)  # ~50 KB that inflate to 50 MB
    assert_blob_error(b"ZL123\0" + u64(1000) + bomb)


def test_32bit_dims_huge_sizes():
    with use_32bit_dims(True):
        for body in (
            b"A" + u32(1) + u32(2**32 - 1) + u32(6) + u32(0),
            b"\x05" + u32(2**32 - 1) + b"abc",
            b"\x02" + u32(2**32 - 1) + u32(1) + b"\xff",
        ):
            with pytest.raises(BlobError):
                dj_blob.unpack(dj0(body))


# ---------------------------------------------------------------------- crafted structures
def _dict_of(key, value=b"\xff"):
    return dj0(b"\x04" + u64(1) + item(key) + item(value))


UNHASHABLE_KEYS = {
    "dict_list_key": _dict_of(enc_list([])),
    "dict_array_key": _dict_of(enc_array((2,), 6, b"\0" * 16)),
    "dict_dict_key": _dict_of(b"\x04" + u64(0)),
    "dict_0d_object_array_key": _dict_of(enc_array((), 5, item(b"\xff"))),
    "tuple_key_holding_list": _dict_of(enc_list([enc_list([])], code=b"\x01")),
    "set_of_list": dj0(b"\x03" + u64(1) + item(enc_list([]))),
    "set_of_cell": dj0(b"\x03" + u64(1) + item(enc_cell((1,), [b"\xff"]))),
}


@pytest.mark.parametrize("name", list(UNHASHABLE_KEYS))
def test_unhashable_keys(name):
    # 0.14: TypeError: unhashable type
    with pytest.raises(BlobError):
        dj_blob.unpack(UNHASHABLE_KEYS[name])


def _rec(names, *fields):
    return dj0(b"F" + u32(len(names)) + b"".join(n + b"\0" for n in names) + b"".join(fields))


def _f8(shape):
    return enc_array(shape, 6, b"\0" * 8 * int(np.prod(shape, dtype=np.int64)))


CRAFTED = {
    "rec_mismatched_shapes": _rec([b"a", b"b"], _f8((2,)), _f8((3,))),
    "rec_0d_and_1d": _rec([b"a", b"b"], _f8(()), _f8((3,))),
    "rec_field_not_array": _rec([b"a"], b"\xff"),
    "rec_field_str": _rec([b"a"], enc_str("x")),
    "rec_field_cell": _rec([b"a"], enc_cell((1,), [b"\xff"])),
    "rec_field_python_float": _rec([b"a"], b"\x0d" + b"\0" * 8),
    "rec_duplicate_names": _rec([b"a", b"a"], _f8((1,)), _f8((1,))),
    "rec_empty_name": _rec([b""], _f8((1,))),
    "rec_zero_fields": dj0(b"F" + u32(0)),
    "struct_duplicate_names": mym(
        b"S" + u64(2) + u64(1) + u64(1) + u32(2) + b"a\0a\0" + item(b"\xff") * 2
    ),
    "struct_empty_name": mym(b"S" + u64(2) + u64(1) + u64(1) + u32(1) + b"\0" + item(b"\xff")),
    "struct_0d": mym(b"S" + u64(0) + u32(1) + b"a\0" + item(b"\xff")),
    "cell_0d": mym(b"C" + u64(0) + item(b"\xff")),
    "bool_complex": mym(enc_array((2,), 3, b"\x01\x00\x01\x01", is_complex=1)),
    "char_complex": mym(enc_array((2,), 4, b"a\0b\0c\0d\0", is_complex=1)),
    "datetime_complex": dj0(enc_array((1,), 65539, b"\0" * 16, is_complex=1)),
    "object_complex": dj0(enc_array((1,), 5, item(b"\xff"), is_complex=1)),
    "complex_flag_2": mym(enc_array((1,), 6, b"\0" * 16, is_complex=2)),
    "int_zero_bytes": dj0(b"\x0a" + u16(0)),
    "bool_byte_7": dj0(b"\x0b\x07"),
    "decimal_spaces": dj0(b"d" + u64(5) + b" 1.5 "),
    "decimal_underscore": dj0(b"d" + u64(3) + b"1_0"),
    "datetime_minus_2": dj0(b"t" + struct.pack("<iq", -2, -2)),
    "char_odd_payload": mym(enc_array((1,), 4, b"a")),
    "dict_duplicate_keys": dj0(b"\x04" + u64(2) + (item(enc_str("a")) + item(b"\xff")) * 2),
}


@pytest.mark.parametrize("name", list(CRAFTED))
def test_crafted_structures(name):
    """Odd but well-framed blobs: a value or a BlobError, nothing else."""
    unpack_or_blob_error(CRAFTED[name])


# ------------------------------------------------------------------------ unknown codes etc.
KNOWN_CODES = set(b"ASCPFdtu") | {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0A, 0x0B, 0x0C, 0x0D, 0xFF}


@pytest.mark.parametrize("code", sorted(set(range(256)) - KNOWN_CODES))
def test_unknown_type_codes(code):
    for protocol in (b"mYm\0", b"dj0\0"):
        with pytest.raises(BlobError, match="Unknown data structure code"):
            dj_blob.unpack(protocol + bytes([code]) + b"\0" * 32)
    with pytest.raises(BlobError):  # nested
        dj_blob.unpack(dj0(enc_list([bytes([code])])))


def test_sparse_not_supported():
    with pytest.raises(BlobError, match="sparse"):
        dj_blob.unpack(mym(b"P" + b"\0" * 40))


# --------------------------------------------------------------------------------- nesting
def _nest(kind, depth):
    inner = b"\xff" if kind not in ("cell", "struct", "object") else enc_array((1,), 6, b"\0" * 8)
    for _ in range(depth):
        if kind == "list":
            inner = enc_list([inner])
        elif kind == "tuple":
            inner = enc_list([inner], code=b"\x01")
        elif kind == "set":
            inner = enc_list([inner], code=b"\x03")
        elif kind == "dict":
            inner = b"\x04" + u64(1) + item(enc_str("k")) + item(inner)
        elif kind == "cell":
            inner = enc_cell((1, 1), [inner])
        elif kind == "struct":
            inner = b"S" + u64(2) + u64(1) + u64(1) + u32(1) + b"f\0" + item(inner)
        elif kind == "object":
            inner = enc_array((1,), 5, item(inner))
        elif kind == "record":
            inner = (
                b"F"
                + u32(1)
                + b"r\0"
                + (inner if inner[:1] == b"F" else enc_array((1,), 6, b"\0" * 8))
            )
    return inner


@pytest.mark.parametrize(
    "kind", ["list", "tuple", "set", "dict", "cell", "struct", "object", "record"]
)
def test_deep_nesting_raises(kind):
    data = dj0(_nest(kind, 10_000))
    assert_blob_error(data, seconds=5.0)
    assert_blob_error(zlib_envelope(data), seconds=5.0)


def test_moderate_nesting_reads():
    assert dj_blob.unpack(dj0(_nest("list", 50))) is not None


def zlib_envelope(plain):
    return b"ZL123\0" + u64(len(plain)) + zlib.compress(plain)


# ------------------------------------------------------------------------------ text errors
@pytest.mark.parametrize(
    "body",
    [
        b"\x05" + u64(2) + b"\xff\xfe",  # str
        b"\x05" + u64(3) + b"a\xed\xa0\x80"[:3],  # truncated surrogate encoding
        b"\x05" + u64(3) + b"\xed\xa0\x80",  # UTF-8-encoded surrogate
        b"\x05" + u64(2) + b"\xc3(",  # bad continuation
        b"d" + u64(3) + b"abc",  # not a decimal
        b"d" + u64(0),  # empty decimal
        b"d" + u64(2) + b"\xff\xfe",  # non-UTF-8 decimal
    ],
)
def test_invalid_text(body):
    with pytest.raises(BlobError):
        dj_blob.unpack(dj0(body))


def test_invalid_field_names():
    bad_utf8 = b"S" + u64(2) + u64(1) + u64(1) + u32(1) + b"\xff\0" + item(b"\xff")
    missing_nul = b"S" + u64(2) + u64(1) + u64(1) + u32(1) + b"abc"
    for body in (bad_utf8, missing_nul):
        with pytest.raises(BlobError):
            dj_blob.unpack(mym(body))
    for body in (b"F" + u32(1) + b"\xff\0" + enc_array((1,), 6, b"\0" * 8), b"F" + u32(2) + b"a"):
        with pytest.raises(BlobError):
            dj_blob.unpack(dj0(body))


def test_invalid_protocol_name():
    for data in (b"\xff\xfe\0" + b"\xff", b"m\xffm\0\xff"):
        with pytest.raises(BlobError):
            dj_blob.unpack(data)


def test_invalid_char_units():
    # a lone surrogate code unit in a MATLAB char row: a str (surrogates kept) or BlobError
    for units in ([0xD800], [0x61, 0xDC00, 0x62], [0xDFFF, 0xD800]):
        data = mym(enc_array((1, len(units)), 4, struct.pack(f"<{len(units)}H", *units)))
        got = unpack_or_blob_error(data)
        if got is not None:
            assert got.shape == (1,) and got.dtype.kind == "U"


@pytest.mark.parametrize(
    "date, time_",
    [
        (20231399, -1),
        (20230230, -1),
        (100, -1),
        (-1, 250000000000),
        (-1, 996000000),
        (-1, 2**62),
        (99991231, -2),
        (2**31 - 1, -1),
    ],
)
def test_invalid_dates_and_times(date, time_):
    # 0.14: ValueError from datetime; we: BlobError (or a value where it is one)
    unpack_or_blob_error(dj0(b"t" + struct.pack("<iq", date, time_)))


def test_invalid_date_raises():
    with pytest.raises(BlobError):
        dj_blob.unpack(dj0(b"t" + struct.pack("<iq", 20231399, -1)))
    with pytest.raises(BlobError):
        dj_blob.unpack(dj0(b"t" + struct.pack("<iq", -1, 250000000000)))


def test_invalid_datetime64_ticks():
    # any int64 is a valid tick count; NaT included
    got = dj_blob.unpack(dj0(enc_array((2,), 65545, struct.pack("<2q", -(2**63), 2**63 - 1))))
    assert np.isnat(got[0]) and got[1].view("i8") == 2**63 - 1


# ---------------------------------------------------------------------------- bad zlib data
@pytest.mark.parametrize("name, data", COMPRESSED_VALID, ids=[n for n, _ in COMPRESSED_VALID])
def test_corrupt_zlib_stream(name, data):
    rng = np.random.default_rng(0)
    for _ in range(50):
        corrupted = bytearray(data)
        pos = int(rng.integers(14, len(data)))
        corrupted[pos] ^= int(rng.integers(1, 256))
        unpack_or_blob_error(bytes(corrupted))
    # header and adler32 damage always fails
    for pos in (14, 15, len(data) - 1):
        corrupted = bytearray(data)
        corrupted[pos] ^= 0x55
        with pytest.raises(BlobError):
            dj_blob.unpack(bytes(corrupted))


def test_not_zlib_at_all():
    with pytest.raises(BlobError):
        dj_blob.unpack(b"ZL123\0" + u64(100) + b"definitely not deflate")
    with pytest.raises(BlobError):
        dj_blob.unpack(b"ZS123\0" + u64(100) + b"definitely not zstd")


@pytest.mark.parametrize("delta", [-1, 1, 100])
def test_zstd_envelope_wrong_length(config, delta):
    with config(blob__compression="zstd"):
        data = dj_blob.pack(np.zeros(1000))
    assert data.startswith(b"ZS123\0")
    (n,) = struct.unpack("<Q", data[6:14])
    with pytest.raises(BlobError):
        dj_blob.unpack(data[:6] + u64(n + delta) + data[14:])


def test_envelope_with_garbage_inside():
    # a valid zlib stream of something that is not a blob
    with pytest.raises(BlobError):
        dj_blob.unpack(zlib_envelope(b"x" * 2000))
    with pytest.raises(BlobError):
        dj_blob.unpack(zlib_envelope(b"ZL123\0" + u64(5) + zlib.compress(b"mYm\0\xff")))


# --------------------------------------------------------------------- unsupported objects
class Custom:
    pass


def _self_containing_list():
    x = [1]
    x.append(x)
    return x


def _self_containing_dict():
    d = {}
    d["me"] = d
    return d


def _self_containing_object_array():
    a = np.empty(1, dtype=object)
    a[0] = a
    return a


UNPACKABLE = {
    "generator": lambda: (i for i in range(3)),
    "custom_object": Custom,
    "function": lambda: len,
    "np_void": lambda: np.zeros(1, dtype=[("a", "<f8")])[0],
    "float16": lambda: np.zeros(3, dtype=np.float16),
    "float16_scalar": lambda: np.float16(1),
    "big_endian_f8": lambda: np.zeros(3, dtype=">f8"),
    "big_endian_i4": lambda: np.zeros((2, 2), dtype=">i4"),
    "big_endian_c16": lambda: np.zeros(2, dtype=">c16"),
    "big_endian_datetime": lambda: np.zeros(2, dtype=">M8[s]"),
    "longdouble": lambda: np.zeros(2, dtype=np.longdouble),
    "clongdouble": lambda: np.zeros(2, dtype=np.clongdouble),
    "timedelta64": lambda: np.zeros(2, dtype="m8[s]"),
    "datetime64_multiple": lambda: np.zeros(2, dtype="M8[2s]"),
    "bytes_S2": lambda: np.array([b"ab"], dtype="S2"),
    "int_too_large": lambda: 2 ** (65535 * 8),
    "negative_int_too_large": lambda: -(2 ** (65535 * 8)),
    "self_containing_list": _self_containing_list,
    "self_containing_dict": _self_containing_dict,
    "self_containing_object_array": _self_containing_object_array,
    "nested_generator": lambda: [1, {"a": (i for i in range(2))}],
    "float16_in_cell": lambda: _cell_of(np.zeros(2, np.float16)),
    "custom_in_struct": lambda: _struct_of(Custom()),
    "void_in_object_array": lambda: np.array([np.zeros(1, dtype=[("a", "<f8")])[0]], dtype=object),
    "zero_field_dtype": lambda: np.zeros(2, dtype=np.dtype([])),  # not a MatStruct
    "deep_list": lambda: _deep_list(10_000),
}


def _cell_of(x):
    out = np.empty((1, 1), dtype=object)
    out[0, 0] = x
    return out.view(dj_blob.MatCell)


def _struct_of(x):
    out = np.empty((1, 1), dtype=[("f", object)])
    out["f"][0, 0] = x
    return out.view(dj_blob.MatStruct)


def _deep_list(depth):
    x = []
    for _ in range(depth):
        x = [x]
    return x


@pytest.mark.parametrize("name", list(UNPACKABLE))
def test_pack_unsupported(name):
    obj = UNPACKABLE[name]()
    with pytest.raises(DataJointError):
        dj_blob.pack(obj)


def test_pack_lone_surrogate():
    # 0.14: UnicodeEncodeError; a DataJointError is what callers catch
    with pytest.raises(DataJointError):
        dj_blob.pack("\ud800")


def test_unpack_wrong_argument_type():
    for bad in ("mYm\0", 12, 1.5, [1, 2]):
        with pytest.raises((TypeError, DataJointError)):
            dj_blob.unpack(bad)


def test_builders_sanity():
    assert u8(1) + u16(2) == b"\x01\x02\x00"
