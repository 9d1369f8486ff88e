"""Schemas: the decorator that binds table classes to a database, virtual modules, and
schema-wide utilities (DataJoint 0.14 behaviour)."""

from __future__ import annotations

import inspect
import logging
import re
import types
import warnings

import networkx as nx

from .adapters import adapter_of
from .errors import AccessError, DataJointError
from .heading import Heading
from .settings import config
from .table import FreeTable, Log, lookup_class_name
from .user_tables import Computed, Imported, Lookup, Manual, Part
from .utils import to_camel_case, user_choice

logger = logging.getLogger(__name__.split(".")[0])


def ordered_dir(class_):
    """Attributes of a class and its bases, in declaration order where possible."""
    attr_list = []
    for c in reversed(class_.mro()):
        attr_list.extend(e for e in c.__dict__ if e not in attr_list)
    return attr_list


def _conn():
    from .connection import conn

    return conn()


class Schema:
    """A database schema; decorate table classes with it to bind and declare them."""

    def __init__(
        self,
        schema_name=None,
        context=None,
        *,
        connection=None,
        create_schema=True,
        create_tables=True,
        add_objects=None,
    ):
        self._log = None
        self.connection = connection
        self.database = None
        self.context = context
        self.create_schema = create_schema
        self.create_tables = create_tables
        self._jobs = None
        self._external = None
        self.add_objects = add_objects
        self.declare_list = []
        if schema_name:
            self.activate(schema_name)

    def is_activated(self):
        return self.database is not None

    def activate(
        self,
        schema_name=None,
        *,
        connection=None,
        create_schema=None,
        create_tables=None,
        add_objects=None,
    ):
        """Bind to database ``schema_name`` (creating it if allowed) and declare the classes
        decorated before activation."""
        if schema_name is None:
            if self.exists:
                return
            raise DataJointError("Please provide a schema_name to activate the schema.")
        if self.database is not None and self.exists:
            if self.database == schema_name:
                return
            raise DataJointError(f"The schema is already activated for schema {self.database}.")
        if connection is not None:
            self.connection = connection
        if self.connection is None:
            self.connection = _conn()
        self.database = schema_name
        if create_schema is not None:
            self.create_schema = create_schema
        if create_tables is not None:
            self.create_tables = create_tables
        if add_objects:
            self.add_objects = add_objects
        if not self.exists:
            if not self.create_schema or not self.database:
                raise DataJointError(
                    f"Database `{schema_name}` has not yet been declared. "
                    "Set argument create_schema=True to create it."
                )
            logger.debug(f"Creating schema `{schema_name}`.")
            try:
                adapter_of(self.connection).create_schema(self.connection, schema_name)
            except AccessError:
                raise DataJointError(
                    f"Schema `{schema_name}` does not exist and could not be created. "
                    "Check permissions."
                ) from None
            else:
                self.log("created")
        self.connection.register(self)
        for cls, context in self.declare_list:
            if self.add_objects:
                context = dict(context, **self.add_objects)
            self._decorate_master(cls, context)

    def _assert_exists(self, message=None):
        if not self.exists:
            raise DataJointError(message or f"Schema `{self.database}` has not been created.")

    def __call__(self, cls, *, context=None):
        """Decorator: bind ``cls`` (and its Part classes) to this schema, declaring tables."""
        context = context or self.context or inspect.currentframe().f_back.f_locals
        if issubclass(cls, Part):
            raise DataJointError("The schema decorator should not be applied to Part tables.")
        if self.is_activated():
            self._decorate_master(cls, context)
        else:
            self.declare_list.append((cls, context))
        return cls

    def _decorate_master(self, cls, context):
        self._decorate_table(cls, context=dict(context, self=cls, **{cls.__name__: cls}))
        for name in ordered_dir(cls):
            if not name[0].isupper():
                continue
            part = getattr(cls, name)
            if inspect.isclass(part) and issubclass(part, Part):
                part._master = cls
                self._decorate_table(
                    part, context=dict(context, master=cls, self=part, **{cls.__name__: cls})
                )

    def _decorate_table(self, table_class, context, assert_declared=False):
        table_class.database = self.database
        table_class._connection = self.connection
        table_class._heading = Heading(
            table_info=dict(
                conn=self.connection,
                database=self.database,
                table_name=table_class.table_name,
                context=context,
            )
        )
        table_class._support = [table_class.full_table_name]
        table_class.declaration_context = context
        instance = table_class()
        is_declared = instance.is_declared
        if not is_declared and not assert_declared and self.create_tables:
            instance.declare(context)
            if self.connection.dependencies is not None:
                self.connection.dependencies.clear()
        is_declared = is_declared or instance.is_declared
        if isinstance(table_class.definition, str):
            table_class.__doc__ = (
                (table_class.__doc__ or "") + "\nTable definition:\n\n" + table_class.definition
            )
        if isinstance(instance, Lookup) and hasattr(instance, "contents") and is_declared:
            contents = list(instance.contents)
            if len(contents) > len(instance):
                if instance.heading.has_autoincrement:
                    warnings.warn(
                        f"Contents has changed but cannot be inserted because "
                        f"{instance.__class__.__name__} has autoincrement.",
                        stacklevel=2,
                    )
                else:
                    instance.insert(contents, skip_duplicates=True)

    @property
    def log(self):
        self._assert_exists()
        if self._log is None:
            self._log = Log(self.connection, self.database)
        return self._log

    def __repr__(self):
        return f"Schema `{self.database}`\n"

    @property
    def size_on_disk(self):
        """Data and index size of the whole schema, in bytes."""
        self._assert_exists()
        return adapter_of(self.connection).schema_size(self.connection, self.database)

    def spawn_missing_classes(self, context=None):
        """Create classes for the tables of the schema that have none in ``context``."""
        self._assert_exists()
        if context is None:
            if self.context is not None:
                context = self.context
            else:
                frame = inspect.currentframe().f_back
                context = frame.f_locals
                del frame
        tables = [
            name
            for name in adapter_of(self.connection).list_tables(self.connection, self.database)
            if lookup_class_name(f"`{self.database}`.`{name}`", context, 0) is None
        ]
        master_classes = (Lookup, Manual, Imported, Computed)
        part_tables = []
        for table_name in tables:
            class_name = to_camel_case(table_name)
            if class_name in context:
                continue
            cls = next((c for c in master_classes if re.fullmatch(c.tier_regexp, table_name)), None)
            if cls is not None:
                context[class_name] = self(type(class_name, (cls,), {}), context=context)
            elif re.fullmatch(Part.tier_regexp, table_name):
                part_tables.append(table_name)
        for table_name in part_tables:
            groups = re.fullmatch(Part.tier_regexp, table_name).groupdict()
            class_name = to_camel_case(groups["part"])
            try:
                master_class = context[to_camel_case(groups["master"])]
            except KeyError:
                raise DataJointError(
                    f"The table {table_name} does not follow DataJoint naming conventions"
                ) from None
            part_class = type(class_name, (Part,), dict(definition=...))
            part_class._master = master_class
            self._decorate_table(part_class, context=context, assert_declared=True)
            setattr(master_class, class_name, part_class)

    def drop(self, force=False):
        """Drop the whole database (asks first when ``safemode`` is on, unless ``force``).

        Tables of other schemas that reference this one must be dropped first: they are
        named in the DataJointError raised (before anything is dropped or asked)."""
        if not self.exists:
            logger.info(f"Schema named `{self.database}` does not exist. Doing nothing.")
            return
        outside = self._dependents_outside()
        if outside:
            raise DataJointError(
                f"Cannot drop schema `{self.database}`: tables of other schemas depend on it: "
                + ", ".join(outside)
                + ". Drop those first."
            )
        if (
            not config["safemode"]
            or force
            or user_choice(f"Proceed to delete entire schema `{self.database}`?", default="no")
            == "yes"
        ):
            logger.debug(f"Dropping `{self.database}`.")
            try:
                adapter_of(self.connection).drop_schema(self.connection, self.database)
                logger.debug(f"Schema `{self.database}` was dropped successfully.")
            except AccessError:
                raise AccessError(
                    f"An attempt to drop schema `{self.database}` has failed. Check permissions."
                ) from None
            if self.connection.dependencies is not None:
                self.connection.dependencies.clear()

    def _dependents_outside(self):
        """Full names of the tables of other schemas whose foreign keys reference this one."""
        from .dependencies import load_dependents

        graph = load_dependents(self.connection, [self.database])
        prefix = f"`{self.database}`."
        own = [n for n in graph if n.startswith(prefix)]
        below = set().union(*(nx.descendants(graph, n) for n in own)) if own else set()
        return sorted(n for n in below if not n.isdigit() and not n.startswith(prefix))

    @property
    def exists(self):
        """True if the database exists on the server."""
        if self.database is None:
            raise DataJointError("Schema must be activated first.")
        return adapter_of(self.connection).schema_exists(self.connection, self.database)

    @property
    def jobs(self):
        """The schema's ``~jobs`` table."""
        self._assert_exists()
        if self._jobs is None:
            from .jobs import JobTable

            self._jobs = JobTable(self.connection, self.database)
        return self._jobs

    @property
    def external(self):
        """``schema.external[store]``: the external-store tables of the schema."""
        if self._external is None:
            from .external import ExternalMapping

            self._external = ExternalMapping(self)
        return self._external

    def list_tables(self):
        """Names of the schema's tables in dependency order (``~`` tables excluded)."""
        deps = self.connection.dependencies
        deps.load()
        return [
            t
            for d, t in (name.replace("`", "").split(".") for name in deps.topo_sort())
            if d == self.database
        ]


class VirtualModule(types.ModuleType):
    """A module with a class for every table of an existing schema (and ``.schema``)."""

    def __init__(
        self,
        module_name,
        schema_name,
        *,
        create_schema=False,
        create_tables=False,
        connection=None,
        add_objects=None,
    ):
        super().__init__(name=module_name)
        _schema = Schema(
            schema_name,
            create_schema=create_schema,
            create_tables=create_tables,
            connection=connection,
        )
        if add_objects:
            self.__dict__.update(add_objects)
        self.__dict__["schema"] = _schema
        _schema.spawn_missing_classes(context=self.__dict__)


def list_schemas(connection=None):
    """All schemas on the server the user can see (information_schema excluded)."""
    connection = connection or _conn()
    return adapter_of(connection).list_schemas(connection)


__all__ = ["Schema", "VirtualModule", "list_schemas", "FreeTable"]
