"""``dj.config``: DataJoint 0.14's settings mapping (dotted keys, the same defaults).

Loading of ``dj_local_conf.json`` / ``~/.datajoint_config.json`` and ``DJ_*`` environment
variables, ``save_local`` / ``save_global`` and temporary overrides follow DataJoint 0.14.
"""

from __future__ import annotations

import collections.abc
import json
import logging
import os
import pprint
from contextlib import contextmanager

from .errors import DataJointError

LOCALCONFIG = "dj_local_conf.json"
GLOBALCONFIG = ".datajoint_config.json"
DEFAULT_SUBFOLDING = (2, 2)

logger = logging.getLogger(__name__.split(".")[0])

#: Blob compression envelopes datajoint_rs can write (``dj.config["blob.compression"]``).
BLOB_COMPRESSIONS = ("zlib", "zstd")

default = {
    "database.host": "localhost",
    "database.password": None,
    "database.user": None,
    "database.port": 3306,
    "database.reconnect": True,
    "connection.init_function": None,
    "connection.charset": "",
    "loglevel": "INFO",
    "safemode": True,
    "fetch_format": "array",
    "display.limit": 12,
    "display.width": 14,
    "display.show_tuple_count": True,
    "database.use_tls": None,
    "enable_python_native_blobs": True,
    "add_hidden_timestamp": False,
    "filepath_checksum_size_limit": None,
    "filepath_checksum_size_limit_insert": None,
    # datajoint_rs: envelope for compressed blobs. "zlib" (DataJoint 0.14's ZL123, readable
    # by every DataJoint) or "zstd" (datajoint_rs's ZS123: faster, only datajoint_rs reads it).
    "blob.compression": "zlib",
}


def _validate(key, value):
    if key == "database.port" and not isinstance(value, int):
        raise DataJointError(f"Validator for {key} did not pass")
    if key == "blob.compression" and value not in BLOB_COMPRESSIONS:
        raise DataJointError(
            f'dj.config["blob.compression"] must be one of {BLOB_COMPRESSIONS}, not {value!r}'
        )
    if key == "loglevel":
        logger.setLevel(value)


ENV_VARS = {
    "DJ_HOST": "database.host",
    "DJ_USER": "database.user",
    "DJ_PASS": "database.password",
    "DJ_PORT": "database.port",
}


class Config(collections.abc.MutableMapping):
    """A mapping of dotted setting names to values, with 0.14's defaults."""

    def __init__(self, *args, **kwargs):
        self._conf = dict(default)
        self._conf.update(dict(*args, **kwargs))

    # -- mapping protocol --------------------------------------------------------------
    def __getitem__(self, key):
        return self._conf[key]

    def __setitem__(self, key, value):
        logger.debug("Setting %s to %s", key, value)
        _validate(key, value)
        self._conf[key] = value

    def __delitem__(self, key):
        del self._conf[key]

    def __iter__(self):
        return iter(self._conf)

    def __len__(self):
        return len(self._conf)

    def __str__(self):
        return pprint.pformat(self._conf, indent=4)

    __repr__ = __str__

    # -- temporary override: ``with dj.config(safemode=False, database__host="x"):`` ------
    @contextmanager
    def __call__(self, **kwargs):
        saved = dict(self._conf)
        try:
            for key, value in kwargs.items():
                self[key.replace("__", ".")] = value
            yield self
        finally:
            self._conf.clear()
            self._conf.update(saved)

    # -- files ---------------------------------------------------------------------------
    def load(self, filename):
        """Update the settings from a JSON file."""
        if filename is None:
            filename = LOCALCONFIG
        with open(filename) as fid:
            self._conf.update(json.load(fid))

    def save(self, filename, verbose=False):
        with open(filename, "w") as fid:
            json.dump(self._conf, fid, indent=4)
        if verbose:
            logger.info("Saved settings in " + filename)

    def save_local(self, verbose=False):
        self.save(LOCALCONFIG, verbose)

    def save_global(self, verbose=False):
        self.save(os.path.expanduser(os.path.join("~", GLOBALCONFIG)), verbose)

    def _load_environment(self):
        for var, key in ENV_VARS.items():
            value = os.getenv(var)
            if value:
                self._conf[key] = int(value) if key == "database.port" else value


def _initial_config():
    config = Config()
    for path in (LOCALCONFIG, os.path.expanduser(os.path.join("~", GLOBALCONFIG))):
        if os.path.isfile(path):
            try:
                config.load(path)
            except (OSError, ValueError) as exc:
                logger.warning("Could not read the settings file %s: %s", path, exc)
            break
    config._load_environment()
    return config


config = _initial_config()
