"""Parts of a package imported on first use (PEP 562), so that a program pays, in time and
memory, only for the parts it touches: ``import rillet`` then ``rl.layers.Dense`` loads no
convolution, recurrent or metric code, and no zipfile, socket or logging.

A package calls :func:`attach` with

* ``submodules``: names of subpackages/modules imported when first read as attributes
  (``rl.callbacks``);
* ``names``: attribute -> the module that defines it, relative to the package as in an
  import statement (``rl.Metric`` -> ``".metrics"``, ``rl.models.load_model`` ->
  ``"..saving"``);
* ``unlisted``: submodules imported on first use but left out of ``dir()``: those that need
  an optional dependency (``rl.sklearn``), so that listing attributes never imports them;
* ``sources``: submodules whose public names (their ``__all__``) the package re-exports,
  searched in order for any other name (``rl.conv2d`` is found in ``ops``).

and keeps the returned ``__getattr__`` and ``__dir__`` as module globals. A name found is
stored in the package, so each is looked up once. Reading ``__all__`` (as ``from pkg import *``
does) loads every source, so that a star import and ``dir()`` still see every name.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable


def attach(
    package: str,
    submodules: Iterable[str] = (),
    names: dict[str, str] | None = None,
    sources: Iterable[str] = (),
    public: Iterable[str] | None = None,
    unlisted: Iterable[str] = (),
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``; ``public`` lists the names the package
    defines itself that belong in its ``__all__`` (by default every name without a leading
    underscore, as a star import takes from a module without ``__all__``)."""
    listed, names, sources = frozenset(submodules), dict(names or {}), tuple(sources)
    submodules = listed | frozenset(unlisted)

    def load(name: str):
        return importlib.import_module(f"{package}.{name}")

    def every_name() -> list[str]:
        if public is None:  # what a star import took before: the public names and submodules
            found = [n for n in vars(sys.modules[package]) if not n.startswith("_")]
            found += sorted(listed)
        else:
            found = list(public)
        found += names
        for source in sources:
            found += load(source).__all__
        return list(dict.fromkeys(found))

    def __getattr__(name: str):
        module = sys.modules[package]
        if name in submodules:
            return load(name)  # the import binds it in the package
        if name in names:
            value = getattr(importlib.import_module(names[name], package), name)
        elif name == "__all__":
            value = every_name()
        else:
            value = _search(package, sources, name, load)
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        module = sys.modules[package]
        return sorted(set(vars(module)) | listed | set(every_name()))

    return __getattr__, __dir__


def _search(package: str, sources: tuple[str, ...], name: str, load) -> object:
    # Sources re-export public names only (and `from . import _x` asks for `_x` here first).
    if not name.startswith("_"):
        for source in sources:
            module = load(source)
            if name in module.__all__:
                return getattr(module, name)
    raise AttributeError(f"module '{package}' has no attribute '{name}'")
