"""Imports that cost start-up time for parts of a package the model never uses.

A cached `sim run` of one replicate used to spend most of its 2-5 s importing (measured in
benchmarks/README.md, "Start-up"):

- `import mesa` (3.3) imports the whole package: the experimental continuous space (which
  imports scipy.spatial), the network grid (networkx) and the discrete spaces; and Mesa names
  its loggers with `inspect.stack()`, which reads the source of every frame on the import
  stack and scans every loaded module. The model needs `Agent`, `Model` and `DataCollector`.
- numba's first compile or cache load imports `numba.np.arraymath`, which imports all of
  scipy.linalg (0.3-0.5 s) to learn whether a BLAS exists. The kernels use no BLAS.

`defer` registers such subpackages as `Deferred` modules: their code runs at the first access
of a name they define, so `mesa.space.MultiGrid` or `scipy.linalg.solve` still work, only later.
`import_mesa` defers Mesa's unused subpackages and imports Mesa with the stack inspected
without source lines (same frames, same logger names). Anything unexpected falls back to the
plain import.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import inspect
import sys
import types

MESA_UNUSED = ("mesa.experimental", "mesa.space", "mesa.discrete_space")


class Deferred(types.ModuleType):
    """A module whose code runs when a name it does not have yet is first asked for. (Python's
    own LazyLoader runs it at any attribute access, including the `__spec__` that the import
    system reads when a package's `__init__` imports the subpackage, so it would load at once.)"""

    def __getattr__(self, name: str):
        self.__class__ = types.ModuleType          # from now on an ordinary module
        self.__spec__.loader.exec_module(self)
        return getattr(self, name)


def defer(*names: str) -> None:
    """Register subpackages `names` (of one top-level package) as Deferred modules, unless imported."""
    with contextlib.suppress(Exception):  # an optimisation only: a normal import happens otherwise
        top = importlib.util.find_spec(names[0].split(".")[0])   # finds the package without running it
        for name in names:
            if name in sys.modules:
                continue
            sub = importlib.machinery.PathFinder.find_spec(name, top.submodule_search_locations)
            if sub is None or sub.loader is None:
                continue
            module = importlib.util.module_from_spec(sub)
            module.__class__ = Deferred
            sys.modules[name] = module


@contextlib.contextmanager
def _frames_without_source():
    stack, outer = inspect.stack, inspect.getouterframes
    inspect.stack = lambda context=1: outer(sys._getframe(1), 0)   # the caller's frame, as stack() gives it
    inspect.getouterframes = lambda frame, context=1: outer(frame, 0)
    try:
        yield
    finally:
        inspect.stack, inspect.getouterframes = stack, outer


def import_mesa():
    """The `mesa` module, imported quickly the first time (see the module docstring)."""
    if "mesa" not in sys.modules:
        defer(*MESA_UNUSED)
        with _frames_without_source():
            import mesa  # noqa: F401
    return sys.modules["mesa"]
