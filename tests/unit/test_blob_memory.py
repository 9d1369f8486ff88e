"""Memory of unpacked blobs: a compressed blob is inflated into a buffer of its own
(``_native.PlainBlob``) that its arrays are read-only views of; buffers of 1 MB and more are
recycled (``dj_core::pages``) once the last array using them is freed, and a recycled buffer
is always refilled completely."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from datajoint_rs import _native
from datajoint_rs import blob as dj_blob
from datajoint_rs.errors import DataJointError


@pytest.fixture
def empty_pool():
    gc.collect()
    _native.buffer_pool_release()
    yield
    gc.collect()
    _native.buffer_pool_release()


def pooled():
    return _native.buffer_pool_stats()[0]


def test_unpack_inflates_into_a_recycled_buffer(empty_pool):
    rng = np.random.default_rng(3)
    first = rng.standard_normal(300_000)  # 2.4 MB, stored compressed
    packed = dj_blob.pack(first)
    assert packed[:5] == b"ZL123"
    got = dj_blob.unpack(packed)
    assert isinstance(got.base, _native.PlainBlob)
    assert len(got.base) > got.nbytes  # the whole plain blob: header and array
    assert not got.flags.writeable
    assert np.array_equal(got, first)
    half = got[::2]
    del got
    gc.collect()
    assert pooled() == 0  # the view still holds it
    assert np.array_equal(half, first[::2])
    del half
    gc.collect()
    assert pooled() == 1
    # other data of a similar size reuses it, and every byte is the new blob's
    second = rng.integers(0, 2**60, 290_000, dtype=np.int64)
    again = dj_blob.unpack(dj_blob.pack(second))
    assert pooled() == 0
    assert again.dtype == np.int64
    assert np.array_equal(again, second)


def test_small_and_uncompressed_blobs_are_not_pooled(empty_pool):
    small = dj_blob.unpack(dj_blob.pack(np.random.default_rng(1).standard_normal(1000)))
    plain = dj_blob.pack(np.arange(300_000.0), compress=False)
    big_plain = dj_blob.unpack(plain)
    assert isinstance(small.base, _native.PlainBlob)
    assert big_plain.base is not None and not isinstance(big_plain.base, _native.PlainBlob)
    del small, big_plain
    gc.collect()
    assert pooled() == 0


def test_unpack_many_mixed_column(empty_pool):
    rng = np.random.default_rng(4)
    values = [rng.standard_normal(200_000 + 1000 * i) for i in range(6)]
    cells = [dj_blob.pack(v) for v in values]
    cells[2] = None
    cells[3] = dj_blob.pack(values[3], compress=False)
    cells.append(dj_blob.pack({"name": "small", "n": 3}))
    for _ in range(3):  # the second and third rounds reuse the first round's buffers
        got = dj_blob.unpack_many(cells)
        assert got[2] is None
        for i in (0, 1, 3, 4, 5):
            assert np.array_equal(got[i], values[i])
        assert got[6] == {"name": "small", "n": 3}
        del got
        gc.collect()
        assert pooled() == 4


def test_a_bad_envelope_fails_and_loses_no_buffer(empty_pool):
    rng = np.random.default_rng(5)
    good = dj_blob.pack(rng.standard_normal(200_000))
    bad = bytearray(dj_blob.pack(rng.standard_normal(200_000)))
    bad[len(bad) // 2 :] = b"\0" * (len(bad) - len(bad) // 2)  # the stream's second half
    with pytest.raises(DataJointError):
        dj_blob.unpack_many([good, bytes(bad), good])
    gc.collect()
    # every buffer went back to the pool, the failed one too (which a later job may have
    # taken again: two or three buffers in all)
    assert 2 <= pooled() <= 3
    assert np.array_equal(dj_blob.unpack(good), dj_blob.unpack(good))


def _unpack_in_child(packed, expected):
    values = dj_blob.unpack_many(packed)
    same = [np.array_equal(a, b) for a, b in zip(values, expected, strict=True)]
    del values
    gc.collect()
    return same, pooled()


def test_forked_workers_use_their_own_pool(empty_pool):
    """populate(processes=N) forks: a child inherits the parent's idle buffers and recycles
    them on its own, and the parent's results are unaffected."""
    import multiprocessing

    rng = np.random.default_rng(6)
    values = [rng.standard_normal(300_000) for _ in range(4)]
    packed = [dj_blob.pack(v) for v in values]
    del dj_blob.unpack_many(packed)[:]
    gc.collect()
    assert pooled() == 4
    with multiprocessing.get_context("fork").Pool(2) as workers:
        results = workers.starmap_async(_unpack_in_child, [(packed, values)] * 4).get(timeout=60)
    for same, count in results:
        assert same == [True] * 4
        assert count == 4
    again = dj_blob.unpack_many(packed)
    assert all(np.array_equal(a, b) for a, b in zip(again, values, strict=True))
