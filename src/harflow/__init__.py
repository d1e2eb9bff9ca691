"""harflow: human-activity recognition as a service."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("harflow")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+src"
