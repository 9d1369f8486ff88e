"""AutoPopulate: the mixin of Imported and Computed tables (``make``, ``key_source``).

Inserting into an auto-populated table is only allowed from its ``make`` (or with
``allow_direct_insert=True``), as in DataJoint 0.14."""

from __future__ import annotations

from .errors import DataJointError


class AutoPopulate:
    """Mixin for tables that fill themselves from ``key_source`` with ``make(key)``."""

    _key_source = None
    _allow_insert = False

    @property
    def key_source(self):
        """The keys to populate: by default the join of the primary-key parents,
        projected onto their primary keys (renamed foreign keys projected too)."""

        def _rename_attributes(table, props):
            return (
                table.proj(**{attr: ref for attr, ref in props["attr_map"].items() if attr != ref})
                if props["aliased"]
                else table.proj()
            )

        if self._key_source is None:
            parents = self.target.parents(primary=True, as_objects=True, foreign_key_info=True)
            if not parents:
                raise DataJointError(
                    "A table must have dependencies from its primary key for auto-populate to work"
                )
            self._key_source = _rename_attributes(*parents[0])
            for q in parents[1:]:
                self._key_source *= _rename_attributes(*q)
        return self._key_source

    @property
    def target(self):
        """The table that ``populate`` fills (self, unless overridden)."""
        return self

    def make(self, key):
        """Compute and insert the rows for one ``key``: implemented by the user's class."""
        raise NotImplementedError("Subclasses of AutoPopulate must implement the method `make`")
