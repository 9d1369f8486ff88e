"""Exceptions of datajoint_rs: the DataJoint 0.14 hierarchy (same names and bases), so that
``except dj.DataJointError`` and ``except dj.errors.DuplicateError`` work unchanged.

The native extension raises these classes too (see ``rust/py/src/errors.rs``)."""

import os


class PluginWarning(Exception):
    pass


class DataJointError(Exception):
    """Base class for errors specific to DataJoint internal operation."""

    def suggest(self, *args):
        """Regenerate the exception with additional arguments (same as DataJoint 0.14)."""
        return self.__class__(*(self.args + args))


class LostConnectionError(DataJointError):
    """Loss of server connection."""


class QueryError(DataJointError):
    """Errors arising from queries to the database."""


class QuerySyntaxError(QueryError):
    """Errors arising from incorrect query syntax."""


class AccessError(QueryError):
    """User access error: insufficient privileges."""


class MissingTableError(DataJointError):
    """Query on a table that has not been declared."""


class DuplicateError(QueryError):
    """An integrity error caused by a duplicate entry into a unique key."""


class IntegrityError(QueryError):
    """An integrity error triggered by foreign key constraints."""


class UnknownAttributeError(QueryError):
    """User requests an attribute name not found in query heading."""


class MissingAttributeError(QueryError):
    """An error arising when a required attribute value is not provided in INSERT."""


class MissingExternalFile(DataJointError):
    """Error raised when an external file managed by DataJoint is no longer accessible."""


class BucketInaccessible(DataJointError):
    """Error raised when a S3 bucket is inaccessible."""


# ---- datajoint_rs additions (subclasses, so existing handlers still catch them) ----------


class BlobError(DataJointError):
    """A blob could not be decoded: truncated, corrupt, or not a DataJoint blob.

    DataJoint 0.14 raises assorted ValueError / UnicodeDecodeError / AssertionError for
    these; datajoint_rs always raises this class (a DataJointError)."""


# ---- feature switches (0.14 keeps them in errors.py; code calls dj.errors._switch_*) ---

#: the environment switch that enables adapted types (same name as 0.14's)
ADAPTED_TYPE_SWITCH = "DJ_SUPPORT_ADAPTED_TYPES"


def _support_adapted_types() -> bool:
    """True when adapted attribute types are enabled by the environment switch."""
    return os.getenv(ADAPTED_TYPE_SWITCH, "FALSE").upper() == "TRUE"


def _switch_adapted_types(on: bool) -> None:
    """Turn the adapted-type switch on or off for this process."""
    if on:
        os.environ[ADAPTED_TYPE_SWITCH] = "TRUE"
    else:
        os.environ.pop(ADAPTED_TYPE_SWITCH, None)


#: the environment switch that enables ``filepath@store`` (same name as 0.14's)
FILEPATH_FEATURE_SWITCH = "DJ_SUPPORT_FILEPATH_MANAGEMENT"


def _support_filepath_types() -> bool:
    """True when the ``filepath`` type is enabled by the environment switch."""
    return os.getenv(FILEPATH_FEATURE_SWITCH, "FALSE").upper() == "TRUE"


def _switch_filepath_types(on: bool) -> None:
    """Turn the filepath switch on or off for this process."""
    if on:
        os.environ[FILEPATH_FEATURE_SWITCH] = "TRUE"
    else:
        os.environ.pop(FILEPATH_FEATURE_SWITCH, None)
