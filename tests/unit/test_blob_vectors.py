"""datajoint_rs.blob against the golden vectors written by the real datajoint 0.14.9.

Every manifest case is checked: pack output byte for byte, unpack result (strict
``blobvec.diff_values``), errors, ``enable_python_native_blobs=False`` and the external-store
address. The deliberate deviations of datajoint_rs are skipped here (with the reason) and
tested in test_blob_fixes.py.
"""

from __future__ import annotations

import hashlib
import uuid

import pytest
from blob_helpers import (
    CASES,
    PACK_DEVIATIONS,
    UNPACK_DEVIATIONS,
    assert_same,
    blobvec,
    contains_set,
    first_difference,
    hash_seed_is_zero,
    load_expected,
    load_input,
    read_blob,
    use_32bit_dims,
)
from datajoint_rs.errors import BlobError, DataJointError

PACK_CASES = [c for c in CASES if c["kind"] == "pack"]
PACK_ERROR_CASES = [c for c in CASES if c["kind"] == "pack_error"]
UNPACK_CASES = [c for c in CASES if c["kind"] in ("pack", "raw")]


def _ids(cases):
    return [c["name"] for c in cases]


def test_manifest_is_complete():
    kinds = {c["kind"] for c in CASES}
    assert kinds <= {"pack", "pack_error", "raw"}
    assert len(PACK_CASES) >= 170 and len(UNPACK_CASES) >= 190
    for case in CASES:
        if case["blob_file"]:
            data = read_blob(case)
            assert hashlib.sha256(data).hexdigest() == case["sha256"], case["name"]


# ------------------------------------------------------------------------------------ pack
@pytest.mark.parametrize("case", PACK_CASES, ids=_ids(PACK_CASES))
def test_pack_matches_reference_bytes(blob, case):
    if case["name"] in PACK_DEVIATIONS:
        pytest.skip(PACK_DEVIATIONS[case["name"]] + " (see test_blob_fixes.py)")
    obj = load_input(case)
    expected = read_blob(case)
    got = blob.pack(obj, **case["pack_kwargs"])
    assert isinstance(got, bytes)
    if got != expected and contains_set(obj) and not hash_seed_is_zero():
        # set element order (so the bytes) depends on PYTHONHASHSEED; the vectors used seed 0
        assert got[:4] == expected[:4]
        assert_same(blob.unpack(got), blob.unpack(expected), case["name"])
        return
    assert got == expected, first_difference(got, expected)


@pytest.mark.parametrize("case", PACK_CASES, ids=_ids(PACK_CASES))
def test_external_uuid(blob, case):
    """0.14 external stores address a blob by MD5(blob) read as a UUID."""
    if case["name"] in PACK_DEVIATIONS:
        pytest.skip(PACK_DEVIATIONS[case["name"]] + " (see test_blob_fixes.py)")
    obj = load_input(case)
    if contains_set(obj) and not hash_seed_is_zero():
        pytest.skip("set order depends on PYTHONHASHSEED (vectors were made with seed 0)")
    got = blob.pack(obj, **case["pack_kwargs"])
    assert uuid.UUID(bytes=hashlib.md5(got).digest()) == uuid.UUID(case["external_uuid_0_14"])


@pytest.mark.parametrize("case", PACK_CASES, ids=_ids(PACK_CASES))
def test_pack_with_native_blobs_disabled(blob, config, case):
    """With enable_python_native_blobs=False only mYm blobs can be written."""
    obj = load_input(case)
    with config(enable_python_native_blobs=False):
        if case["packs_with_native_blobs_disabled"]:
            got = blob.pack(obj, **case["pack_kwargs"])
            assert got[:4] == b"mYm\0" or got[:6] == b"ZL123\0"
        else:
            with pytest.raises(DataJointError, match="python native blobs disabled"):
                blob.pack(obj, **case["pack_kwargs"])
    assert config["enable_python_native_blobs"] is True


@pytest.mark.parametrize("case", PACK_ERROR_CASES, ids=_ids(PACK_ERROR_CASES))
def test_pack_error(blob, case):
    obj = load_input(case)
    with pytest.raises(DataJointError) as info:
        blob.pack(obj)
    reference_error = case["pack_error"]
    prefix = "DataJointError: "
    if reference_error.startswith(prefix):
        assert str(info.value) == reference_error[len(prefix) :]
    # else: 0.14 raised something else (AssertionError for err_int_too_large); we raise a
    # DataJointError instead, with any message


# ---------------------------------------------------------------------------------- unpack
@pytest.mark.parametrize("case", UNPACK_CASES, ids=_ids(UNPACK_CASES))
def test_unpack_matches_reference(blob, case):
    if case["name"] in UNPACK_DEVIATIONS:
        pytest.skip(UNPACK_DEVIATIONS[case["name"]] + " (see test_blob_fixes.py)")
    data = read_blob(case)
    with use_32bit_dims(case["unpack_settings"].get("use_32bit_dims", False)):
        if case["expected_file"]:
            got = blob.unpack(data, **case["unpack_kwargs"])
            assert_same(got, load_expected(case), case["name"])
        else:
            # the reference raised; we must raise a BlobError (a DataJointError), never
            # another exception type
            with pytest.raises(BlobError) as info:
                blob.unpack(data, **case["unpack_kwargs"])
            reference_error = case["expected_error"]
            prefix = "DataJointError: "
            if reference_error.startswith(prefix):
                assert str(info.value).startswith(reference_error[len(prefix) :][:20])


def _layout_differences(got, expected, path, out):
    """Compare the memory order and writeable flags of two blobvec.summarize() trees."""
    if "order" in expected and "order" in got and got["order"] != expected["order"]:
        out.append(f"{path}: order {got['order']} != {expected['order']}")
    empty = 0 in expected.get("shape", [1])  # 0.14's empty arrays are read-only; not kept
    if "writeable" in expected and "writeable" in got and not empty:
        if got["writeable"] != expected["writeable"]:
            out.append(f"{path}: writeable {got['writeable']} != {expected['writeable']}")
    for i, (g, e) in enumerate(zip(got.get("items", []), expected.get("items", []), strict=False)):
        if "key" in e:  # a dict entry
            for key in ("key", "value"):
                _layout_differences(g[key], e[key], f"{path}[{i}].{key}", out)
        else:
            _layout_differences(g, e, f"{path}[{i}]", out)


@pytest.mark.parametrize("case", UNPACK_CASES, ids=_ids(UNPACK_CASES))
def test_unpack_memory_layout(blob, case):
    """Results have 0.14's memory order (F for arrays) and writeable flags (read-only
    zero-copy numeric arrays of >= 2 elements, writeable copies otherwise)."""
    if case["name"] in UNPACK_DEVIATIONS or not case["expected_file"]:
        pytest.skip("deviation or no result")
    if contains_set(load_expected(case)):
        pytest.skip("set order")
    with use_32bit_dims(case["unpack_settings"].get("use_32bit_dims", False)):
        got = blob.unpack(read_blob(case), **case["unpack_kwargs"])
    out = []
    _layout_differences(blobvec.summarize(got), case["expected_summary"], "$", out)
    assert not out


@pytest.mark.parametrize("case", PACK_CASES, ids=_ids(PACK_CASES))
def test_unpack_of_our_pack(blob, case):
    """unpack(pack(input)) equals what 0.14 returns for its own bytes (outside the fixes)."""
    if case["name"] in UNPACK_DEVIATIONS or case["name"] in PACK_DEVIATIONS:
        pytest.skip("deviation (see test_blob_fixes.py)")
    if not case["expected_file"]:
        pytest.skip("0.14 cannot read this")
    got = blob.unpack(blob.pack(load_input(case), **case["pack_kwargs"]), **case["unpack_kwargs"])
    assert_same(got, load_expected(case), case["name"])
