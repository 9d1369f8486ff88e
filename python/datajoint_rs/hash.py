"""MD5-based digests used by DataJoint 0.14 (``dj.hash``): job keys, external file ids,
query-cache file names. Same inputs, same digests as DataJoint 0.14."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

__all__ = ["key_hash", "uuid_from_buffer", "uuid_from_stream", "uuid_from_file"]

_CHUNK = 1 << 14


def key_hash(mapping) -> str:
    """Hex MD5 of the values of ``mapping`` (each as ``str``), taken in key-name order.

    Used e.g. to shorten a long primary key into the ``key_hash`` of the jobs table."""
    digest = hashlib.md5()
    for _, value in sorted(mapping.items()):
        digest.update(str(value).encode())
    return digest.hexdigest()


def uuid_from_stream(stream, *, init_string: str = "") -> uuid.UUID:
    """MD5 of ``init_string`` followed by everything read from the binary ``stream``."""
    digest = hashlib.md5(init_string.encode())
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        digest.update(chunk)
    return uuid.UUID(bytes=digest.digest())


def uuid_from_buffer(buffer=b"", *, init_string: str = "") -> uuid.UUID:
    """MD5 of ``init_string`` followed by ``buffer`` (bytes-like), as a ``uuid.UUID``."""
    digest = hashlib.md5(init_string.encode())
    digest.update(buffer)
    return uuid.UUID(bytes=digest.digest())


def uuid_from_file(filepath, *, init_string: str = "") -> uuid.UUID:
    """MD5 of ``init_string`` followed by the contents of the file at ``filepath``."""
    with Path(filepath).open("rb") as stream:
        return uuid_from_stream(stream, init_string=init_string)
