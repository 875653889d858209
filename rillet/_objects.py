"""Look-up, serialization and deserialization of named configurable objects (initializers,
regularizers, constraints), in the Keras 3 format::

    {"module": "rillet.initializers", "class_name": "GlorotUniform", "config": {"seed": None},
     "registered_name": None}

Deserializing only looks names up in a table (and in ``custom_objects``): it never imports a
module or runs code named by the config.
"""

from __future__ import annotations

import inspect
import re

from .errors import ArgumentError, ArgumentTypeError


def snake_case(name: str) -> str:
    """``GlorotUniform`` -> ``glorot_uniform``, ``L1L2`` -> ``l1_l2``."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.sub(r"(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def table(classes, aliases: dict | None = None) -> dict:
    """Names -> classes: each class under its own name and its snake_case name, plus aliases."""
    names = {}
    for cls in classes:
        names[cls.__name__] = cls
        names[snake_case(cls.__name__)] = cls
    names.update(aliases or {})
    return names


def serialize(obj, module: str):
    """The Keras 3 config dict of ``obj`` (None for None; a plain function by its name)."""
    if obj is None:
        return None
    if not hasattr(obj, "get_config"):
        name = getattr(obj, "__name__", None)
        if name is None:
            raise ArgumentTypeError(f"cannot serialize {obj!r}: it has no get_config()")
        return name
    return {
        "module": module,
        "class_name": type(obj).__name__,
        "config": obj.get_config(),
        "registered_name": None,
    }


def _lookup(name: str, names: dict, kind: str, custom_objects):
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if name in names:
        return names[name]
    known = ", ".join(sorted(n for n in names if n == n.lower()))
    raise ArgumentError(f"{kind}: unknown name {name!r}; known names: {known}")


def deserialize(config, names: dict, kind: str, custom_objects=None):
    """An object from a name or a ``{"class_name", "config"}`` dict."""
    if isinstance(config, str):
        found = _lookup(config, names, kind, custom_objects)
        return found() if inspect.isclass(found) else found
    if not isinstance(config, dict) or "class_name" not in config:
        raise ArgumentTypeError(
            f"{kind}: expected a name or a dict with 'class_name' and 'config', got {config!r}"
        )
    cls = _lookup(config["class_name"], names, kind, custom_objects)
    if not inspect.isclass(cls):
        return cls
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier, names: dict, kind: str, base: type):
    """None -> None; a name or config dict -> a new object; a class -> an instance; an
    instance of ``base`` or any callable -> itself."""
    if identifier is None or isinstance(identifier, base):
        return identifier
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier, names, kind)
    if inspect.isclass(identifier):
        return identifier()
    if callable(identifier):
        return identifier
    raise ArgumentTypeError(f"{kind}: could not interpret identifier {identifier!r}")
