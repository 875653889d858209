"""Functional gradients: ``rl.grad`` and ``rl.value_and_grad``."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from ..errors import ArgumentError
from ..ops._registry import REGISTRY
from ..tensor import Tensor, asarray
from .tape import GradientTape


def value_and_grad(
    fn: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable:
    """Make a function returning ``(fn(*args), gradient)``.

    The gradient is taken of ``fn``'s (summed) output with respect to the positional
    arguments ``argnums`` (one gradient, or a tuple for a sequence of argnums). An argument
    the output does not depend on gets zeros. With ``has_aux``, ``fn`` returns
    ``(value, aux)`` and the result is ``((value, aux), gradient)``.

    >>> import rillet as rl
    >>> value, g = rl.value_and_grad(lambda x: rl.sum(x * x))(rl.asarray([1.0, 2.0]))
    >>> float(value), g.numpy().tolist()
    (5.0, [2.0, 4.0])
    """
    many = not isinstance(argnums, int)
    nums = tuple(argnums) if many else (argnums,)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        args = list(args)
        for i in nums:
            if i >= len(args):
                raise ArgumentError(f"argnums {i} is out of range for {len(args)} arguments")
            if not isinstance(args[i], Tensor) and not hasattr(args[i], "_rillet_read"):
                args[i] = asarray(args[i])
        with GradientTape() as tape:
            for i in nums:
                tape.watch(args[i])
            out = fn(*args, **kwargs)
        value = out[0] if has_aux else out
        grads = tape.gradient(value, [args[i] for i in nums])
        grads = [REGISTRY["zeros_like"](args[i]) if g is None else g for i, g in zip(nums, grads)]
        return out, tuple(grads) if many else grads[0]

    return wrapper


def grad(fn: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """Make a function returning the gradient of ``fn`` (see :func:`value_and_grad`).

    Gradients nest: ``rl.grad(rl.grad(f))`` is the second derivative.

    >>> import rillet as rl
    >>> float(rl.grad(rl.grad(lambda x: x * x * x))(rl.asarray(2.0)))
    12.0
    """
    inner = value_and_grad(fn, argnums, has_aux)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        out, grads = inner(*args, **kwargs)
        return (grads, out[1]) if has_aux else grads

    return wrapper
