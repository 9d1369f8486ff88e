"""Type stubs of the private Rust extension (see rust/py/src)."""

import os
from typing import Any

BUILD_PROFILE: str
MAX_DEPTH: int

def pack(
    obj: Any, compress: bool = True, compression: str = "zlib", allow_native: bool = True
) -> bytes: ...
def unpack(blob: Any, squeeze: bool = False, dims32: bool = False) -> Any: ...
def md5(data: Any) -> bytes: ...
def md5_file(path: str | os.PathLike[str], prefix: Any = None) -> bytes: ...
def unpack_many(blobs: Any, squeeze: bool = False, dims32: bool = False) -> list[Any]: ...
def pack_many(
    objs: Any, compress: bool = True, compression: str = "zlib", allow_native: bool = True
) -> list[bytes]: ...
def sql_values(rows: Any, fallback: Any) -> bytes: ...
def columns(rows: Any, kinds: list[str]) -> list[Any]: ...
def dict_rows_values(
    rows: Any, fields: list[str], kinds: list[str], budget: int
) -> list[bytes] | None: ...

class EngineError(Exception):
    """args: (kind, server error code or None, message); kind is "lost", "server" or "data"."""

class Stream:
    @property
    def description(self) -> list[tuple[str, int, int]]: ...
    def __iter__(self) -> Stream: ...
    def __next__(self) -> tuple[Any, ...]: ...
    def close(self) -> None: ...

class Reader:
    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        password: str,
        tls: dict[str, Any] | None = None,
        init: list[str] = ...,
    ) -> None: ...
    def query(
        self,
        sql: str,
        wants: list[str],
        chunk_rows: int = 65536,
        chunk_bytes: int = 8388608,
        arrow: list[bool] = ...,
        queue: int = 1,
        binary: bool = False,
    ) -> Stream: ...
    def query_parts(
        self,
        sqls: list[str],
        wants: list[str],
        chunk_rows: int = 65536,
        chunk_bytes: int = 8388608,
        arrow: list[bool] = ...,
        binary: bool = False,
    ) -> Stream: ...
    def close(self) -> None: ...
    @staticmethod
    def binary_reads() -> int: ...
    @property
    def idle(self) -> int: ...
