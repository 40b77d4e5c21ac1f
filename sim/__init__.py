"""Agent-based simulation of critical-mineral smuggling under export controls."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mineral-smuggling-sim")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+local"
