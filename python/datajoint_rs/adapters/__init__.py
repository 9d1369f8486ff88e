"""Backend dialects: every piece of SQL text that depends on the server lives in an adapter.

An adapter is an object with methods (quoting, type categories, DDL rendering, the catalog
queries that read a table's heading). ``get_adapter("mysql")`` returns the MySQL/MariaDB one,
which renders exactly what DataJoint 0.14 sends to the server.
"""

from __future__ import annotations

from .mysql import MySQLAdapter
from .sqlite import SQLiteAdapter

_ADAPTERS = {"mysql": MySQLAdapter, "sqlite": SQLiteAdapter}
_INSTANCES: dict[str, object] = {}


def get_adapter(name: str = "mysql"):
    """Return the (shared, stateless) adapter of the backend ``name``."""
    key = name.lower()
    if key not in _ADAPTERS:
        raise ValueError(f"Unknown database backend {name!r}; known: {sorted(_ADAPTERS)}")
    if key not in _INSTANCES:
        _INSTANCES[key] = _ADAPTERS[key]()
    return _INSTANCES[key]


__all__ = ["MySQLAdapter", "SQLiteAdapter", "get_adapter"]
