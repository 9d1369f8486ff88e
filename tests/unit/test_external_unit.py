"""External storage without a database: the native streaming checksum, store settings
validation, the object path layout, and the transfer thread pool."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid

import datajoint_rs as dj
import pytest
from datajoint_rs import _native
from datajoint_rs.errors import DataJointError
from datajoint_rs.external import file_md5, subfold
from datajoint_rs.transfer import run_parallel

# ---- md5_file --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3_000_001])
def test_md5_file_matches_hashlib(tmp_path, size):
    data = bytes((i * 7919) % 256 for i in range(size)) if size < 5000 else (b"abc" * size)[:size]
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert _native.md5_file(path) == hashlib.md5(data).digest()
    assert _native.md5_file(str(path), b"name.bin\0") == hashlib.md5(b"name.bin\0" + data).digest()
    assert file_md5(path, "name.bin\0") == uuid.UUID(
        bytes=hashlib.md5(b"name.bin\0" + data).digest()
    )


def test_md5_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.bin"):
        _native.md5_file(tmp_path / "missing.bin")
    with pytest.raises(IsADirectoryError):
        _native.md5_file(tmp_path)
    with pytest.raises(TypeError):
        _native.md5_file(42)


def test_md5_file_releases_the_gil(tmp_path):
    """Several threads hash at once: with the GIL released, a Python thread keeps running
    while a native checksum is in progress."""
    path = tmp_path / "big.bin"
    path.write_bytes(b"\x01" * (64 << 20))
    ticks = []
    done = threading.Event()

    def hash_it():
        _native.md5_file(path)
        done.set()

    worker = threading.Thread(target=hash_it)
    worker.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    worker.join()
    assert len(ticks) > 3  # the main thread ran during the checksum


# ---- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"protocol": "file", "location": 5}, r'\["location"\] must be a string'),
        ({"protocol": "file", "location": "/tmp", "subfolding": (2, 0)}, "subfolding"),
        ({"protocol": "file", "location": "/tmp", "subfolding": "22"}, "subfolding"),
        (
            {
                "protocol": "s3",
                "endpoint": "http://localhost:9000",
                "bucket": "b",
                "access_key": "a",
                "secret_key": "s",
                "location": "x",
            },
            "without a scheme",
        ),
        (
            {
                "protocol": "s3",
                "endpoint": "localhost:9000",
                "bucket": "b",
                "access_key": "a",
                "secret_key": "s",
                "location": "x",
                "secure": "yes",
            },
            r'\["secure"\] must be True or False',
        ),
        ({"protocol": "file"}, 'is missing "location"'),
        ({"protocol": "gcs", "location": "x"}, "Missing or invalid protocol"),
        ({"protocol": "file", "location": "/tmp", "bucket": "b"}, 'Invalid key "bucket"'),
    ],
)
def test_store_spec_errors(spec, message):
    with dj.config(stores={"bad": spec}):
        with pytest.raises(DataJointError, match=message):
            dj.config.get_store_spec("bad")


def test_store_spec_defaults():
    with dj.config(stores={"good": {"protocol": "file", "location": "/tmp"}}):
        spec = dj.config.get_store_spec("good")
    assert spec["subfolding"] == (2, 2)
    with pytest.raises(DataJointError, match="Storage nowhere is requested but not configured"):
        dj.config.get_store_spec("nowhere")


def test_setting_validators():
    for key, bad in [
        ("stores", ["not", "a", "dict"]),
        ("cache", 3),
        ("filepath_checksum_size_limit", -1),
        ("filepath_checksum_size_limit_insert", 1.5),
        ("external.transfer_workers", 0),
    ]:
        before = dj.config[key]
        with pytest.raises(DataJointError, match=key.replace(".", r"\.")):
            dj.config[key] = bad
        assert dj.config[key] == before


# ---- layout and pool -------------------------------------------------------------------------


def test_subfold():
    assert subfold("aBCdefg", (2, 3)) == ("ab", "cde")
    assert subfold("abcdef", ()) == ()
    assert subfold("abcdef", None) == ()


def test_run_parallel_keeps_order_and_raises_first_error():
    with dj.config(**{"external.transfer_workers": 4}):
        assert run_parallel(lambda x: x * x, range(50)) == [x * x for x in range(50)]

        def fail_on_7(x):
            if x == 7:
                raise DataJointError("seven")
            return x

        with pytest.raises(DataJointError, match="seven"):
            run_parallel(fail_on_7, range(20))
    with dj.config(**{"external.transfer_workers": 1}):
        assert run_parallel(str, [1, 2]) == ["1", "2"]
    assert run_parallel(str, []) == []
