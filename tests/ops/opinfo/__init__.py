"""Op tables, one module per op family.

Each module defines ``OPS: list[OpInfo]`` and may define ``UNTABLED``: a dict from op name
to the reason it is tested in its own file instead (random draws, constructors).
"""

import importlib
import pkgutil


def _modules():
    return [importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__)]


def all_rows() -> list:
    return [row for module in _modules() for row in module.OPS]


def all_untabled() -> dict:
    untabled = {}
    for module in _modules():
        untabled.update(getattr(module, "UNTABLED", {}))
    return untabled
