"""External stores: ``schema.external[store]`` and the ``~external_<store>`` tracking tables
(DataJoint 0.14 behaviour).

Tables whose attributes are stored externally (``blob@store``, ``attach@store``,
``filepath@store``) reference the schema's ``~external_<store>`` table; this module declares
it exactly as 0.14 does and offers what needs no object storage: the store spec, the
referencing tables (``references``), the ``used`` / ``unused`` queries and attachment names.

Moving objects to and from a store (``put``, ``get``, attachments, filepaths, cleanup) is not
implemented yet: those methods raise a DataJointError, before anything is written.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from .declare import EXTERNAL_TABLE_ROOT
from .errors import DataJointError
from .heading import Heading
from .settings import config
from .table import FreeTable, Table

logger = logging.getLogger(__name__.split(".")[0])


class ExternalTable(Table):
    """The table tracking the objects of one external store in one schema:
    ``ExternalTable(connection, store, database)`` (declared if missing)."""

    def __init__(self, connection, store, database):
        self.store = store
        self.spec = config.get_store_spec(store)
        self.database = database
        self._connection = connection
        self._heading = Heading(
            table_info=dict(
                conn=connection, database=database, table_name=self.table_name, context=None
            )
        )
        self._support = [self.full_table_name]
        if not self.is_declared:
            self.declare()
        if self.spec["protocol"] == "file" and not Path(self.spec["location"]).is_dir():
            raise FileNotFoundError(f"Inaccessible local directory {self.spec['location']}")

    @property
    def definition(self):
        return """
        # external storage tracking
        hash  : uuid    #  hash of contents (blob), of filename + contents (attach), or relative filepath (filepath)
        ---
        size      :bigint unsigned     # size of object in bytes
        attachment_name=null : varchar(255)  # the filename of an attachment
        filepath=null : varchar(1000)  # relative filepath or attachment filename
        contents_hash=null : uuid      # used for the filepath datatype
        timestamp=CURRENT_TIMESTAMP  :timestamp   # automatic timestamp
        """

    @property
    def table_name(self):
        return f"{EXTERNAL_TABLE_ROOT}_{self.store}"

    def _unavailable(self, operation):
        return DataJointError(
            f"ExternalTable.{operation} (store `{self.store}` of schema `{self.database}`): "
            "external storage transfers are not available yet in datajoint_rs; "
            "use datajoint 0.14 to write, read or clean up externally stored attributes"
        )

    # --- object transfers: not available yet -------------------------------------------------
    @property
    def s3(self):
        raise self._unavailable("s3")

    def exists(self, external_filepath):
        raise self._unavailable("exists")

    def put(self, blob):
        raise self._unavailable("put")

    def get(self, uuid):
        if uuid is None:
            return None
        raise self._unavailable("get")

    def upload_attachment(self, local_path):
        raise self._unavailable("upload_attachment")

    def download_attachment(self, uuid, attachment_name, download_path):
        raise self._unavailable("download_attachment")

    def upload_filepath(self, local_filepath):
        raise self._unavailable("upload_filepath")

    def download_filepath(self, filepath_hash):
        if filepath_hash is None:
            return None
        raise self._unavailable("download_filepath")

    def fetch_external_paths(self, **fetch_kwargs):
        raise self._unavailable("fetch_external_paths")

    def delete(
        self,
        *,
        delete_external_files=None,
        limit=None,
        display_progress=True,
        errors_as_string=True,
    ):
        raise self._unavailable("delete")

    # --- read-only utilities ----------------------------------------------------------------
    def get_attachment_name(self, uuid):
        """The file name recorded for the attachment ``uuid``."""
        return (self & {"hash": uuid}).fetch1("attachment_name")

    @property
    def references(self):
        """Generator of dicts ``{"referencing_table": "`db`.`table`", "column_name": ...}``,
        one per column (of any schema) with a foreign key to this table."""
        return (
            {k.lower(): v for k, v in row.items()}
            for row in self.connection.query(
                "SELECT concat('`', table_schema, '`.`', table_name, '`') as referencing_table, "
                "column_name FROM information_schema.key_column_usage "
                "WHERE referenced_table_name=%s and referenced_table_schema=%s",
                args=(self.table_name, self.database),
                as_dict=True,
            )
        )

    def _referencing(self):
        return [
            FreeTable(self.connection, ref["referencing_table"]).proj(hash=ref["column_name"])
            for ref in self.references
        ]

    def unused(self):
        """This table restricted to the hashes no referencing table uses."""
        return self - self._referencing()

    def used(self):
        """This table restricted to the hashes some referencing table uses."""
        return self & self._referencing()


class ExternalMapping(Mapping):
    """The external tables of one schema, one per store, created on first use:
    ``schema.external[store]``."""

    def __init__(self, schema):
        self.schema = schema
        self._tables = {}

    def __repr__(self):
        return f"External file tables for schema `{self.schema.database}`:\n    " + "\n    ".join(
            '"{store}" {protocol}:{location}'.format(store=k, **v.spec) for k, v in self.items()
        )

    def __getitem__(self, store):
        """The ExternalTable of ``store`` (validating the store's spec and declaring the table
        on first use)."""
        if store not in self._tables:
            self._tables[store] = ExternalTable(
                connection=self.schema.connection, store=store, database=self.schema.database
            )
        return self._tables[store]

    def __len__(self):
        return len(self._tables)

    def __iter__(self):
        return iter(self._tables)


__all__ = ["ExternalMapping", "ExternalTable"]
