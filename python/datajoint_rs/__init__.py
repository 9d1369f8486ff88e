"""datajoint_rs: a drop-in, much faster DataJoint 0.14 for Python.

``import datajoint_rs as dj`` in place of ``import datajoint as dj``: the same API, reading
and writing the same databases, with the heavy lifting (blob serialization, compression,
hashing) in Rust.
"""

import logging
import warnings

from . import _native, blob, errors
from .attribute_adapter import AttributeAdapter
from .blob import MatCell, MatStruct
from .condition import AndList, Not, Top
from .connection import Connection, conn
from .diagram import ERD, Di, Diagram
from .errors import DataJointError
from .expression import U
from .fetch import key
from .hash import key_hash
from .schemas import Schema, VirtualModule, list_schemas
from .settings import config
from .table import FreeTable, Table
from .user_tables import Computed, Imported, Lookup, Manual, Part
from .version import __version__

logger = logging.getLogger(__name__)

schema = Schema  # alias, as in DataJoint 0.14
create_virtual_module = VirtualModule  # alias, as in DataJoint 0.14

__all__ = [
    "__version__",
    "config",
    "conn",
    "Connection",
    "Schema",
    "schema",
    "VirtualModule",
    "create_virtual_module",
    "list_schemas",
    "Table",
    "FreeTable",
    "Manual",
    "Lookup",
    "Imported",
    "Computed",
    "Part",
    "Diagram",
    "Di",
    "ERD",
    "Not",
    "AndList",
    "Top",
    "U",
    "MatCell",
    "MatStruct",
    "AttributeAdapter",
    "errors",
    "DataJointError",
    "key",
    "key_hash",
    "logger",
    "blob",
]

if _native.BUILD_PROFILE != "release":
    warnings.warn(
        "datajoint_rs._native is a debug build: expect it to be many times slower "
        "(build with `maturin develop --release`)",
        RuntimeWarning,
        stacklevel=2,
    )
