"""The op registry: every op is declared once, here, with its rule, kernel and gradient.

An op is a kernel function decorated with :func:`defop`::

    @defop(rule=rules.unary(floating=True))
    def tanh(xp, x, *, out=None):
        return xp.tanh(x, out=out)

    @tanh.defvjp
    def _tanh_vjp(g, y, x):
        return (g * (1.0 - y * y),)

The kernel's positional parameters after ``xp`` are the op's tensor inputs; its keyword-only
parameters (except ``out``) are attributes, with their defaults. The rule receives the inputs'
specs (anything with ``.shape`` and ``.dtype``; ``None`` for an absent optional input) and the
attributes, and returns the output :class:`Spec` (or a tuple/list of them for several outputs).
The VJP receives the output gradient(s), the output(s) and the inputs as tensors, and the
attributes, and returns one gradient (or ``None``) per input.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ArgumentTypeError, RilletError, attach_context


class _Registry(dict):
    """Op name -> :class:`OpDef`. Op families imported on first use (``rillet.ops``) register
    when imported, so a name not found, a membership test that fails, or a walk over every op
    first imports them all (``load_all``, set by ``rillet.ops``)."""

    def load_all(self) -> None:
        pass

    def __missing__(self, name: str) -> OpDef:
        self.load_all()
        if dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        raise KeyError(name)

    def __contains__(self, name) -> bool:
        if dict.__contains__(self, name):
            return True
        self.load_all()
        return dict.__contains__(self, name)

    def __iter__(self):
        self.load_all()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self.load_all()
        return dict.__len__(self)

    def keys(self):
        self.load_all()
        return dict.keys(self)

    def values(self):
        self.load_all()
        return dict.values(self)

    def items(self):
        self.load_all()
        return dict.items(self)

    def get(self, name, default=None):
        return self[name] if name in self else default


REGISTRY: _Registry = _Registry()


class Spec:
    """Static description of a tensor: shape (``None`` for an unknown size) and dtype."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape: tuple, dtype: np.dtype):
        self.shape = shape
        self.dtype = dtype

    def __eq__(self, other) -> bool:
        return isinstance(other, Spec) and (self.shape, self.dtype) == (other.shape, other.dtype)

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype))

    def __repr__(self) -> str:
        return f"Spec(shape={self.shape}, dtype={self.dtype.name})"


class OpDef:
    """One registered op. Calling it runs the op in the current context (eager or traced)."""

    def __init__(
        self,
        kernel: Callable,
        rule: Callable,
        *,
        name: str | None = None,
        differentiable: bool = True,
        variadic: bool = False,
        promote: bool | tuple[int, ...] = False,
        low_precision: str = "float32",
        stateful: bool = False,
        writes: tuple[str, ...] = (),
    ):
        self.name = name or kernel.__name__
        self.stateful = stateful or bool(writes)
        self.writes = tuple(writes)
        self.kernel = kernel
        self.rule = rule
        self.vjp: Callable | None = None
        self.differentiable = differentiable
        self.variadic = variadic
        self.promote = promote
        self.low_precision = low_precision
        self.widen_low_precision = low_precision == "float32"
        self._read_signature(kernel)
        self.__doc__ = kernel.__doc__
        self.__name__ = self.name
        self.__module__ = kernel.__module__  # so doctests in the op's docstring are found
        self.__wrapped__ = kernel

    def _read_signature(self, kernel: Callable) -> None:
        params = list(inspect.signature(kernel).parameters.values())[1:]  # drop xp
        kinds = inspect.Parameter
        self.input_names = [p.name for p in params if p.kind == kinds.POSITIONAL_OR_KEYWORD]
        self.attr_defaults = {
            p.name: p.default for p in params if p.kind == kinds.KEYWORD_ONLY and p.name != "out"
        }
        self.attr_names = tuple(self.attr_defaults)
        self.required_attrs = {
            name for name, value in self.attr_defaults.items() if value is inspect.Parameter.empty
        }
        self.n_inputs = len(self.input_names)
        self.optional_inputs = {
            p.name: p.default
            for p in params
            if p.kind == kinds.POSITIONAL_OR_KEYWORD and p.default is not inspect.Parameter.empty
        }
        if self.variadic and not any(p.kind == kinds.VAR_POSITIONAL for p in params):
            raise TypeError(f"variadic op {self.name} needs a *args kernel parameter")

    def defvjp(self, vjp: Callable) -> Callable:
        """Register ``vjp`` as this op's gradient rule."""
        self.vjp = vjp
        return vjp

    def __call__(self, *args: Any, **kwargs: Any):
        if len(args) == self.n_inputs and not self.variadic:  # the common, fast cases
            if not kwargs and not self.required_attrs:
                return _context.bind(self, args, self.attr_defaults)
            if kwargs.keys() >= self.required_attrs and kwargs.keys() <= self.attr_defaults.keys():
                return _context.bind(self, args, {**self.attr_defaults, **kwargs})
        try:
            inputs, attrs = self.parse_arguments(args, kwargs)
        except RilletError as error:
            raise attach_context(error, self.name) from None
        return _context.bind(self, inputs, attrs)

    def parse_arguments(self, args: tuple, kwargs: dict) -> tuple[list, dict]:
        """Split a call's arguments into tensor inputs and attributes (defaults filled in)."""
        if self.variadic:
            if not args:
                raise ArgumentTypeError("expected a sequence of tensors", op=self.name)
            first = args[0]
            if not isinstance(first, (list, tuple)):
                raise ArgumentTypeError(
                    f"takes a list of tensors as its first argument, got {type(first).__name__}",
                    op=self.name,
                )
            inputs = list(first)
            extra = args[1:]
        else:
            inputs = list(args[: self.n_inputs])
            extra = args[self.n_inputs :]
            if len(inputs) < self.n_inputs:
                inputs += self._inputs_from_keywords(len(inputs), kwargs)
        if len(extra) > len(self.attr_names):
            raise ArgumentTypeError(
                f"takes at most {self.n_inputs + len(self.attr_names)} positional arguments "
                f"but {len(args)} were given",
                op=self.name,
            )
        attrs = dict(self.attr_defaults)
        attrs.update(zip(self.attr_names, extra))
        for key, value in kwargs.items():
            if key not in attrs:
                raise ArgumentTypeError(
                    f"got an unexpected keyword argument {key!r}; "
                    f"expected one of {', '.join(self.input_names + list(self.attr_names))}",
                    op=self.name,
                )
            attrs[key] = value
        missing = [key for key, value in attrs.items() if value is inspect.Parameter.empty]
        if missing:
            raise ArgumentTypeError(f"missing required argument {missing[0]!r}", op=self.name)
        return inputs, attrs

    def _inputs_from_keywords(self, given: int, kwargs: dict) -> list:
        found = []
        for name in self.input_names[given:]:
            if name in kwargs:
                found.append(kwargs.pop(name))
            elif name in self.optional_inputs:
                found.append(self.optional_inputs[name])
            else:
                raise ArgumentTypeError(f"missing required input {name!r}", op=self.name)
        return found

    def __repr__(self) -> str:
        return f"<rillet op {self.name}>"


def defop(
    rule: Callable,
    *,
    name: str | None = None,
    differentiable: bool = True,
    variadic: bool = False,
    promote: bool | tuple[int, ...] = False,
    low_precision: str = "float32",
    stateful: bool = False,
    writes: tuple[str, ...] = (),
) -> Callable[[Callable], OpDef]:
    """Declare an op: decorate its kernel. See the module docstring.

    ``promote``: promote these inputs (``True``: all) to one dtype before the rule runs,
    with Python scalars weakly typed. ``low_precision``: ``"float32"`` runs the kernel in
    float32 when an input or output is float16/bfloat16 and casts back; ``"native"`` runs
    it as it is (for pure data movement). ``stateful``: the op reads or writes state, so
    graph passes never remove, merge, fold or reorder it. ``writes``: the names of the
    attributes holding the variables the kernel updates in place (implies ``stateful``);
    while tracing, later reads of those variables see the new values.
    """

    def register(kernel: Callable) -> OpDef:
        op = OpDef(
            kernel,
            rule,
            name=name,
            differentiable=differentiable,
            variadic=variadic,
            promote=promote,
            low_precision=low_precision,
            stateful=stateful,
            writes=writes,
        )
        if dict.__contains__(REGISTRY, op.name):
            raise ValueError(f"op {op.name!r} is registered twice")
        REGISTRY[op.name] = op
        return op

    return register


def get_op(name: str) -> OpDef:
    """The registered op called ``name``."""
    return REGISTRY[name]


from .. import _context  # noqa: E402  (the door every call goes through)
