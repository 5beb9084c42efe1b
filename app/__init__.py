"""The application layer: side effects, command line, benchmarks. Never imports Qt."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("huleedu-desktop")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+source"
