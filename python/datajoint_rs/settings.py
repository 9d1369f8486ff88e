"""``dj.config``: DataJoint 0.14's settings mapping (dotted keys, the same defaults).

At import, the settings are read from the first of ``./dj_local_conf.json`` and
``~/.datajoint_config.json`` that exists, then the ``DJ_*`` environment variables override
them (``DJ_HOST``, ``DJ_USER``, ``DJ_PASS``, ``DJ_LOG_LEVEL``, ``DJ_AWS_ACCESS_KEY_ID``,
``DJ_AWS_SECRET_ACCESS_KEY``), exactly as in DataJoint 0.14. ``with dj.config(key__sub=v):``
overrides settings temporarily; ``save_local`` / ``save_global`` / ``save`` / ``load`` read
and write the same JSON files as DataJoint 0.14.
"""

from __future__ import annotations

import collections
import collections.abc
import copy
import json
import logging
import os
import pprint
from contextlib import contextmanager
from enum import Enum

from .errors import DataJointError

LOCALCONFIG = "dj_local_conf.json"
GLOBALCONFIG = ".datajoint_config.json"
#: External storage in a file system splits names into subfolders: with (2, 2), the file
#: ``abcdef`` is stored as ``ab/cd/abcdef``.
DEFAULT_SUBFOLDING = (2, 2)

logger = logging.getLogger(__name__.split(".")[0])

#: Blob compression envelopes datajoint_rs can write (``dj.config["blob.compression"]``).
BLOB_COMPRESSIONS = ("zlib", "zstd")

#: Table tiers and the prefixes of their table names (as in DataJoint 0.14's settings module).
Role = Enum("Role", "manual lookup imported computed job")
role_to_prefix = {
    Role.manual: "",
    Role.lookup: "#",
    Role.imported: "_",
    Role.computed: "__",
    Role.job: "~",
}
prefix_to_role = {prefix: role for role, prefix in role_to_prefix.items()}

default = {
    "database.host": "localhost",
    "database.password": None,
    "database.user": None,
    "database.port": 3306,
    "database.reconnect": True,
    "database.use_tls": None,
    # datajoint_rs: "mysql" (MySQL / MariaDB, default) or "sqlite" (docs/design-sqlite.md),
    # whose database file (or folder for datajoint.sqlite) is "database.path"
    "database.backend": "mysql",
    "database.path": "datajoint.sqlite",
    "connection.init_function": None,
    "connection.charset": "",  # empty: the driver's default (utf8mb4)
    "loglevel": "INFO",
    "safemode": True,
    "fetch_format": "array",
    "display.limit": 12,
    "display.width": 14,
    "display.show_tuple_count": True,
    "enable_python_native_blobs": True,
    "add_hidden_timestamp": False,
    # checksums of filepath attributes are skipped for files larger than these (bytes)
    "filepath_checksum_size_limit": None,
    "filepath_checksum_size_limit_insert": None,
    # external storage: {store name: spec}, the local cache folder of external blobs, the
    # folder of the query cache (Connection.set_query_cache), and S3 credentials
    "stores": {},
    "cache": None,
    "query_cache": None,
    "external.aws_access_key_id": None,
    "external.aws_secret_access_key": None,
    # datajoint_rs: external transfers (blob@store, attach, filepath) run on a bounded thread
    # pool of this many workers, with a tqdm progress bar when "external.progress" is True
    "external.transfer_workers": 8,
    "external.progress": False,
    # datajoint_rs: envelope for compressed blobs. "zlib" (DataJoint 0.14's ZL123, readable
    # by every DataJoint) or "zstd" (datajoint_rs's ZS123: faster, only datajoint_rs reads it).
    "blob.compression": "zlib",
}

log_levels = {
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "CRITICAL": logging.CRITICAL,
    "DEBUG": logging.DEBUG,
    "ERROR": logging.ERROR,
    None: logging.NOTSET,
}
_VALID_LOGLEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

#: Checks applied when a setting is assigned (``config[key] = value``): key -> predicate.
validators = collections.defaultdict(lambda: lambda value: True)
validators["database.port"] = lambda value: isinstance(value, int)
validators["blob.compression"] = lambda value: value in BLOB_COMPRESSIONS
validators["external.transfer_workers"] = lambda value: (
    isinstance(value, int) and not isinstance(value, bool) and value >= 1
)
validators["cache"] = lambda value: value is None or isinstance(value, (str, os.PathLike))
for _limit in ("filepath_checksum_size_limit", "filepath_checksum_size_limit_insert"):
    validators[_limit] = lambda value: (
        value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)
    )
validators["stores"] = lambda value: isinstance(value, collections.abc.Mapping)

#: What a setting must be, for the error message of a failed validator.
_EXPECTED = {
    "external.transfer_workers": "a positive int",
    "cache": "None or a folder path",
    "filepath_checksum_size_limit": "None or a non-negative int (bytes)",
    "filepath_checksum_size_limit_insert": "None or a non-negative int (bytes)",
    "stores": 'a dict {store name: spec}, e.g. {"raw": {"protocol": "file", "location": ...}}',
}

#: Environment variables read at import, and the settings they override.
ENV_VARS = {
    "DJ_HOST": "database.host",
    "DJ_USER": "database.user",
    "DJ_PASS": "database.password",
    "DJ_AWS_ACCESS_KEY_ID": "external.aws_access_key_id",
    "DJ_AWS_SECRET_ACCESS_KEY": "external.aws_secret_access_key",
    "DJ_LOG_LEVEL": "loglevel",
    "DJ_BACKEND": "database.backend",
    "DJ_DATABASE_PATH": "database.path",
}

# keys of a store spec, by protocol: upper case = required, lower case = optional
_STORE_KEYS = {
    "file": ("PROTOCOL", "LOCATION", "subfolding", "stage"),
    "s3": (
        "PROTOCOL",
        "ENDPOINT",
        "BUCKET",
        "ACCESS_KEY",
        "SECRET_KEY",
        "LOCATION",
        "secure",
        "subfolding",
        "stage",
        "proxy_server",
    ),
}


def _copy(value):
    try:
        return copy.deepcopy(value)
    except Exception:  # an uncopyable value (a callable, say): share it
        return copy.copy(value)


class _Settings:
    """The store behind ``dj.config``: a plain dict of dotted keys plus the validators."""

    def __init__(self, *args, **kwargs):
        self._conf = _copy(default)
        self._conf.update(dict(*args, **kwargs))

    def __getitem__(self, key):
        return self._conf[key]

    def __setitem__(self, key, value):
        logger.debug("Setting %s to %s", key, value)
        if not validators[key](value):
            if key == "blob.compression":
                raise DataJointError(
                    f'dj.config["blob.compression"] must be one of {BLOB_COMPRESSIONS}, '
                    f"not {value!r}"
                )
            if key in _EXPECTED:
                raise DataJointError(f'dj.config["{key}"] must be {_EXPECTED[key]}, not {value!r}')
            raise DataJointError(f"Validator for {key} did not pass")
        if key == "loglevel":
            if value not in _VALID_LOGLEVELS:
                raise ValueError(f"'{value}' is not a valid logging value {_VALID_LOGLEVELS}")
            logger.setLevel(value)
        self._conf[key] = value


class Config(collections.abc.MutableMapping):
    """``dj.config``: a mapping of dotted setting names (``"database.host"``) to values.

    As in DataJoint 0.14, every ``Config`` object shares one store (``Config.instance``);
    other attributes (``config._conf``, say) are looked up on that store."""

    instance: _Settings | None = None

    def __init__(self, *args, **kwargs):
        if Config.instance is None:
            Config.instance = _Settings(*args, **kwargs)
        else:
            Config.instance._conf.update(dict(*args, **kwargs))

    def __getattr__(self, name):
        # only reached for names the wrapper itself does not have
        return getattr(self.instance, name)

    # -- mapping protocol --------------------------------------------------------------
    def __getitem__(self, key):
        return self.instance[key]

    def __setitem__(self, key, value):
        self.instance[key] = value

    def __delitem__(self, key):
        del self.instance._conf[key]

    def __iter__(self):
        return iter(self.instance._conf)

    def __len__(self):
        return len(self.instance._conf)

    def __str__(self):
        return pprint.pformat(self.instance._conf, indent=4)

    __repr__ = __str__

    # -- temporary override: ``with dj.config(safemode=False, database__host="x"):`` ------
    @contextmanager
    def __call__(self, **kwargs):
        """Change settings for the duration of a ``with`` block (``__`` in a keyword stands
        for ``.`` in the key); the previous settings come back when the block exits, also
        when it raises. Yields the config."""
        saved = self.instance
        changes = {key.replace("__", "."): value for key, value in kwargs.items()}
        if "blob.compression" in changes and not validators["blob.compression"](
            changes["blob.compression"]
        ):
            raise DataJointError(
                f'dj.config["blob.compression"] must be one of {BLOB_COMPRESSIONS}, '
                f"not {changes['blob.compression']!r}"
            )
        self.instance = _Settings(_copy(saved._conf))
        self.instance._conf.update(changes)
        try:
            yield self
        finally:
            self.instance = saved

    # -- files ---------------------------------------------------------------------------
    def save(self, filename, verbose=False):
        """Write all settings to ``filename`` as JSON."""
        with open(filename, "w") as fid:
            json.dump(self.instance._conf, fid, indent=4)
        if verbose:
            logger.info("Saved settings in %s", filename)

    def load(self, filename):
        """Update the settings from the JSON file ``filename`` (``None``: the local one)."""
        if filename is None:
            filename = LOCALCONFIG
        with open(filename) as fid:
            logger.info("DataJoint is configured from %s", os.path.abspath(filename))
            self.instance._conf.update(json.load(fid))

    def save_local(self, verbose=False):
        """Save the settings to ``./dj_local_conf.json``."""
        self.save(LOCALCONFIG, verbose)

    def save_global(self, verbose=False):
        """Save the settings to ``~/.datajoint_config.json``."""
        self.save(os.path.expanduser(os.path.join("~", GLOBALCONFIG)), verbose)

    # -- external stores -----------------------------------------------------------------
    def get_store_spec(self, store):
        """The validated spec of external store ``store`` from ``config["stores"]``
        (``subfolding`` defaults to (2, 2)); DataJointError if it is missing or invalid."""
        try:
            spec = self["stores"][store]
        except (KeyError, TypeError):
            raise DataJointError(f"Storage {store} is requested but not configured") from None
        spec["subfolding"] = spec.get("subfolding", DEFAULT_SUBFOLDING)
        allowed = _STORE_KEYS.get(str(spec.get("protocol", "")).lower())
        if allowed is None:
            raise DataJointError(f'Missing or invalid protocol in dj.config["stores"]["{store}"]')
        for key in allowed:
            if key.isupper() and key.lower() not in spec:
                raise DataJointError(f'dj.config["stores"]["{store}"] is missing "{key.lower()}"')
        for key in spec:
            if key.upper() not in allowed and key.lower() not in allowed:
                raise DataJointError(f'Invalid key "{key}" in dj.config["stores"]["{store}"]')
        _check_store_values(store, spec)
        return spec


def _check_store_values(store, spec):
    """Clear errors for store settings of the wrong kind, which DataJoint 0.14 accepts and
    then fails on deep inside the storage client (datajoint_rs addition)."""
    where = f'dj.config["stores"]["{store}"]'
    for key in ("location", "endpoint", "bucket", "access_key", "secret_key", "stage"):
        if key in spec and not isinstance(spec[key], (str, os.PathLike)):
            raise DataJointError(f'{where}["{key}"] must be a string, not {spec[key]!r}')
    folds = spec["subfolding"]
    if folds is not None and (
        not isinstance(folds, (list, tuple))
        or not all(isinstance(f, int) and not isinstance(f, bool) and f > 0 for f in folds)
    ):
        raise DataJointError(
            f'{where}["subfolding"] must be a tuple of positive ints such as (2, 2), not {folds!r}'
        )
    if spec["protocol"].lower() == "s3":
        if "secure" in spec and not isinstance(spec["secure"], bool):
            raise DataJointError(f'{where}["secure"] must be True or False')
        if "://" in str(spec["endpoint"]):
            raise DataJointError(
                f'{where}["endpoint"] must be "host[:port]" without a scheme, not '
                f'{spec["endpoint"]!r} (use "secure": True for https)'
            )


def _config_file():
    """The settings file read at import: the local one if present, else the global one."""
    for name in (LOCALCONFIG, os.path.join("~", GLOBALCONFIG)):
        path = os.path.expanduser(name)
        if os.path.exists(path):
            return path
    return None


def _environment_overrides():
    return {key: os.environ[var] for var, key in ENV_VARS.items() if var in os.environ}


def _initialize(cfg: Config) -> None:
    path = _config_file()
    if path is None:
        logger.info("No config file was found.")
    else:
        try:
            cfg.load(path)
        except (OSError, ValueError) as exc:
            logger.warning("Could not read the settings file %s: %s", path, exc)
    overrides = _environment_overrides()
    if overrides:
        logger.info("Overloaded settings %s from environment variables.", tuple(overrides))
        cfg.update(overrides)
    level = cfg.get("loglevel")
    if level in log_levels:
        logger.setLevel(log_levels[level])
    else:
        logger.warning("Ignoring the invalid loglevel setting %r", level)


config = Config()
_initialize(config)
