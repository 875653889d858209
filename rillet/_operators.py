"""Python operators and convenience methods for tensors and variables, all through ops."""

from __future__ import annotations

import sys


def _rl():
    return sys.modules["rillet"]


def _binary(name: str):
    def method(self, other):
        return getattr(_rl(), name)(self, other)

    def reflected(self, other):
        return getattr(_rl(), name)(other, self)

    return method, reflected


def _unary(name: str):
    def method(self):
        return getattr(_rl(), name)(self)

    return method


_BINARY = {
    "add": "add",
    "sub": "subtract",
    "mul": "multiply",
    "truediv": "divide",
    "floordiv": "floor_divide",
    "mod": "remainder",
    "pow": "power",
    "matmul": "matmul",
    "and": "logical_and",
    "or": "logical_or",
    "xor": "logical_xor",
}
_COMPARE = {
    "eq": "equal",
    "ne": "not_equal",
    "lt": "less",
    "le": "less_equal",
    "gt": "greater",
    "ge": "greater_equal",
}
_UNARY = {"neg": "negative", "abs": "abs", "invert": "logical_not"}


def _getitem(self, key):
    from .ops.indexing import getitem

    return getitem(self, key)


def _astype(self, dtype):
    return _rl().cast(self, dtype=dtype)


def _reshape(self, *shape):
    shape = shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape
    return _rl().reshape(self, shape=shape)


def _transpose_property(self):
    return _rl().transpose(self)


def _reduction_method(name: str):
    def method(self, axis=None, keepdims=False):
        return getattr(_rl(), name)(self, axis=axis, keepdims=keepdims)

    method.__name__ = name
    return method


def install(cls) -> None:
    """Give ``cls`` the arithmetic, comparison and indexing operators."""
    for dunder, name in _BINARY.items():
        method, reflected = _binary(name)
        setattr(cls, f"__{dunder}__", method)
        setattr(cls, f"__r{dunder}__", reflected)
    for dunder, name in _COMPARE.items():
        setattr(cls, f"__{dunder}__", _binary(name)[0])
    for dunder, name in _UNARY.items():
        setattr(cls, f"__{dunder}__", _unary(name))
    cls.__pos__ = lambda self: self
    cls.__getitem__ = _getitem
    cls.astype = _astype
    cls.reshape = _reshape
    cls.T = property(_transpose_property)
    for name in ("sum", "mean", "max", "min", "prod", "std", "var", "all", "any"):
        setattr(cls, name, _reduction_method(name))
    cls.__hash__ = object.__hash__
