"""User-defined attribute types (``<name>`` in a definition), as in DataJoint 0.14.

An adapter stores objects of some Python type in a column of a supported DataJoint type:
``attribute_type`` names that type, ``put`` converts on insert and ``get`` on fetch. Adapters
are found by name in the declaration context (or among installed ``datajoint_plugins.datatype``
entry points) and, as in 0.14, only while the environment variable
``DJ_SUPPORT_ADAPTED_TYPES`` is ``TRUE``.
"""

from __future__ import annotations

import re

from .errors import (  # noqa: F401 - the switch helpers are re-exported here too
    ADAPTED_TYPE_SWITCH,
    DataJointError,
    _support_adapted_types,
    _switch_adapted_types,
)


class AttributeAdapter:
    """Base class of user-defined attribute types: subclass it and override
    ``attribute_type`` (a property or class attribute), ``put`` and ``get``."""

    @property
    def attribute_type(self):
        """The DataJoint type that holds the stored form, e.g. ``"longblob"``,
        ``"blob@store"``."""
        raise NotImplementedError("Undefined attribute adapter")

    def get(self, value):
        """Turn a value fetched from the column into an object of the adapted type."""
        raise NotImplementedError("Undefined attribute adapter")

    def put(self, obj):
        """Turn an object of the adapted type into a value to store in the column."""
        raise NotImplementedError("Undefined attribute adapter")


def _plugin_adapter(name: str):
    """The adapter object registered by an installed plugin under ``name``, or None."""
    from importlib.metadata import entry_points

    for entry_point in entry_points(group="datajoint_plugins.datatype"):
        if entry_point.name == name:
            return entry_point.load()
    return None


def get_adapter(context, adapter_name: str) -> AttributeAdapter:
    """Find the adapter ``adapter_name`` (with or without the angle brackets) in ``context``,
    else among installed datatype plugins, and check that it is usable."""
    if not _support_adapted_types():
        raise DataJointError("Support for Adapted Attribute types is disabled.")
    name = adapter_name.lstrip("<").rstrip(">")
    if context is not None and name in context:
        adapter = context[name]
    else:
        adapter = _plugin_adapter(name)
        if adapter is None:
            raise DataJointError(f"Attribute adapter '{name}' is not defined.")
    if not isinstance(adapter, AttributeAdapter):
        raise DataJointError(
            f"Attribute adapter '{name}' must be an instance of datajoint.AttributeAdapter"
        )
    attribute_type = adapter.attribute_type
    if not isinstance(attribute_type, str) or not re.match(r"^\w", attribute_type):
        raise DataJointError(
            f"Invalid attribute type {attribute_type} in attribute adapter '{name}'"
        )
    return adapter
