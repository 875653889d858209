"""Op tables, one module per op family; each module defines ``OPS: list[OpInfo]``."""

import importlib
import pkgutil


def all_rows() -> list:
    rows = []
    for module in pkgutil.iter_modules(__path__):
        rows += importlib.import_module(f"{__name__}.{module.name}").OPS
    return rows
