"""Agent-based simulation of critical-mineral smuggling under export controls.

`sim.__version__` is looked up in the installed package's metadata when first asked for, not
at import: importing importlib.metadata and scanning the installed distributions costs
30-100 ms, and every `sim` command imports this package.
"""


def __getattr__(name: str):
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("mineral-smuggling-sim")
        except PackageNotFoundError:  # running from a source tree without installation
            value = "0.0.0+local"
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
