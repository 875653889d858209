"""The registry of custom objects (``keras.saving.register_keras_serializable``).

Loading a model file never imports a module named in the file: classes and functions are
found by name, first in the ``custom_objects`` given to ``load_model``, then here. Only the
user's own code adds entries, by decorating a class or function:

>>> import rillet as rl
>>> @rl.saving.register_keras_serializable(package="demo")
... class Twice(rl.layers.Layer):
...     def call(self, x):
...         return 2 * x
>>> rl.saving.get_registered_name(Twice)
'demo>Twice'
>>> rl.saving.get_registered_object("demo>Twice") is Twice
True
"""

from __future__ import annotations

import inspect

from ..errors import ArgumentError, ArgumentTypeError

_GLOBAL_CUSTOM_OBJECTS: dict = {}
_GLOBAL_CUSTOM_NAMES: dict = {}


def register_keras_serializable(package: str = "Custom", name: str | None = None):
    """Decorator registering a class or function as ``"package>name"`` (``name`` defaults
    to its ``__name__``) so that :func:`rillet.saving.load_model` can find it."""
    if not isinstance(package, str) or ">" in package:
        raise ArgumentError(
            f"register_keras_serializable: received package={package!r}, expected a string "
            "without '>'"
        )

    def decorator(obj):
        own = name if name is not None else getattr(obj, "__name__", None)
        if not isinstance(own, str) or not own:
            raise ArgumentTypeError(
                f"register_keras_serializable: cannot register {obj!r}: give it a name="
            )
        if inspect.isclass(obj) and not hasattr(obj, "get_config"):
            raise ArgumentTypeError(
                f"register_keras_serializable: class {obj.__name__} has no get_config(), so "
                "it cannot be serialized"
            )
        registered = f"{package}>{own}"
        _GLOBAL_CUSTOM_OBJECTS[registered] = obj
        _GLOBAL_CUSTOM_NAMES[obj] = registered
        return obj

    return decorator


def get_registered_name(obj) -> str:
    """``"package>name"`` for a registered object, its ``__name__`` otherwise."""
    return _GLOBAL_CUSTOM_NAMES.get(obj, getattr(obj, "__name__", None))


def get_registered_object(name: str, custom_objects: dict | None = None, module_objects=None):
    """The object registered (or passed in ``custom_objects``) as ``name``, or None."""
    for table in (custom_objects, _GLOBAL_CUSTOM_OBJECTS, module_objects):
        if table and name in table:
            return table[name]
    return None


def get_custom_objects() -> dict:
    """The global registry itself (a dict ``name -> object`` that may be edited)."""
    return _GLOBAL_CUSTOM_OBJECTS


def lookup_table(custom_objects: dict | None = None) -> dict:
    """Names -> objects for deserialization: registered objects under their full and short
    names, then ``custom_objects`` (which wins)."""
    table: dict = {}
    for registered, obj in _GLOBAL_CUSTOM_OBJECTS.items():
        table[registered.split(">", 1)[-1]] = obj
        table.setdefault(getattr(obj, "__name__", registered), obj)
    table.update(_GLOBAL_CUSTOM_OBJECTS)
    table.update(custom_objects or {})
    return table
