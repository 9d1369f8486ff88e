"""The package version (from the installed distribution's metadata)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("datajoint_rs")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"
