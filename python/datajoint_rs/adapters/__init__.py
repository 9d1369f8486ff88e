"""Backend dialects: every piece of SQL text that depends on the server lives in an adapter.

An adapter is an object with methods (quoting, type categories, DDL rendering, the catalog
queries that read a table's heading). ``get_adapter("mysql")`` returns the MySQL/MariaDB one,
which renders exactly what DataJoint 0.14 sends to the server; ``get_adapter("sqlite")`` the
SQLite one (docs/design-sqlite.md).

Code that has a connection uses its adapter (``connection.adapter``). Code that renders SQL
without one (the definition language compiler) asks ``get_adapter()``, which answers the
adapter made current by ``with using(adapter):`` (the table declaring itself sets it), and
MySQL's otherwise.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager

from .mysql import MySQLAdapter
from .sqlite import SQLiteAdapter

_ADAPTERS = {"mysql": MySQLAdapter, "sqlite": SQLiteAdapter}
_INSTANCES: dict[str, object] = {}
_CURRENT: contextvars.ContextVar = contextvars.ContextVar("datajoint_rs_adapter", default=None)


def get_adapter(name: str | None = None):
    """Return the (shared, stateless) adapter of the backend ``name``; without a name, the
    current one (see :func:`using`), MySQL's by default."""
    if name is None:
        current = _CURRENT.get()
        if current is not None:
            return current
        name = "mysql"
    key = name.lower()
    if key not in _ADAPTERS:
        raise ValueError(f"Unknown database backend {name!r}; known: {sorted(_ADAPTERS)}")
    if key not in _INSTANCES:
        _INSTANCES[key] = _ADAPTERS[key]()
    return _INSTANCES[key]


def adapter_of(connection):
    """The adapter of ``connection`` (MySQL's for connections that do not name one)."""
    return getattr(connection, "adapter", None) or get_adapter("mysql")


@contextmanager
def using(adapter):
    """Make ``adapter`` the one ``get_adapter()`` returns inside the block."""
    token = _CURRENT.set(adapter)
    try:
        yield adapter
    finally:
        _CURRENT.reset(token)


__all__ = ["MySQLAdapter", "SQLiteAdapter", "adapter_of", "get_adapter", "using"]
