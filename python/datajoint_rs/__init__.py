"""datajoint_rs: a drop-in, much faster DataJoint 0.14 for Python.

``import datajoint_rs as dj`` in place of ``import datajoint as dj``: the same API, reading
and writing the same databases, with the heavy lifting (blob serialization, compression,
hashing) in Rust.
"""

import warnings

from . import _native, blob, errors
from .blob import MatCell, MatStruct
from .errors import DataJointError
from .settings import config
from .version import __version__

__all__ = [
    "__version__",
    "config",
    "errors",
    "DataJointError",
    "MatCell",
    "MatStruct",
    "blob",
]

if _native.BUILD_PROFILE != "release":
    warnings.warn(
        "datajoint_rs._native is a debug build: expect it to be many times slower "
        "(build with `maturin develop --release`)",
        RuntimeWarning,
        stacklevel=2,
    )
