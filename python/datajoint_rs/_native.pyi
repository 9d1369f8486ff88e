"""Type stubs of the private Rust extension (see rust/py/src)."""

from typing import Any

BUILD_PROFILE: str
MAX_DEPTH: int

def pack(
    obj: Any, compress: bool = True, compression: str = "zlib", allow_native: bool = True
) -> bytes: ...
def unpack(blob: Any, squeeze: bool = False, dims32: bool = False) -> Any: ...
def md5(data: Any) -> bytes: ...
