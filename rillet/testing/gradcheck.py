"""Compare gradients from the tape with central finite differences."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .. import dtypes as _dtypes
from ..autodiff.tape import GradientTape
from ..tensor import Tensor


def _outputs(result) -> list:
    return list(result) if isinstance(result, (tuple, list)) else [result]


def _projection(fn: Callable, weights: list[np.ndarray]) -> Callable:
    """``x -> sum_i <fn(x)_i, w_i>`` over the floating outputs: a scalar to differentiate."""

    def scalar(*args):
        total = 0.0
        for out, w in zip(_outputs(fn(*args)), weights):
            if w is not None:
                total = total + (out * Tensor._wrap(w)).sum()
        return total

    return scalar


def _cotangents(fn: Callable, args: list, rng: np.random.Generator) -> list:
    weights = []
    for out in _outputs(fn(*args)):
        if _dtypes.is_floating(out.dtype):
            weights.append(rng.standard_normal(out.shape).astype(out.dtype))
        else:
            weights.append(None)
    return weights


def numerical_gradient(scalar: Callable, args: list, index: int, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar function ``scalar`` in argument ``index``."""
    base = np.array(args[index], dtype=np.float64)
    grad = np.zeros_like(base)
    flat = base.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        values = []
        for step in (eps, -eps):
            flat[i] = saved + step
            shifted = list(args)
            shifted[index] = Tensor._wrap(base.copy())
            values.append(float(np.asarray(scalar(*shifted))))
        flat[i] = saved
        grad.reshape(-1)[i] = (values[0] - values[1]) / (2 * eps)
    return grad


def tape_gradients(scalar: Callable, args: list, indices: Sequence[int]) -> list:
    with GradientTape(persistent=True) as tape:
        for i in indices:
            tape.watch(args[i])
        value = scalar(*args)
    return tape.gradient(value, [args[i] for i in indices])


def check_grads(
    fn: Callable,
    args: Sequence,
    indices: Sequence[int] | None = None,
    order: int = 1,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    seed: int = 0,
) -> None:
    """Assert that the tape's gradients of ``fn`` match finite differences (float64).

    ``fn`` takes tensors and returns a tensor (or several). The check projects the outputs
    on a random cotangent. ``order=2`` also checks the gradient of the gradient.
    """
    rng = np.random.default_rng(seed)
    args = [Tensor._wrap(np.asarray(a)) if isinstance(a, np.ndarray) else a for a in args]
    if indices is None:
        indices = [
            i for i, a in enumerate(args) if isinstance(a, Tensor) and _dtypes.is_floating(a.dtype)
        ]
    scalar = _projection(fn, _cotangents(fn, args, rng))
    _compare(scalar, args, indices, atol, rtol, "first-order")
    if order >= 2:
        for i in indices:
            direction = Tensor._wrap(rng.standard_normal(args[i].shape))

            def directional(*xs, i=i, direction=direction):
                g = tape_gradients(scalar, list(xs), [i])[0]
                return (g * direction).sum() if g is not None else Tensor._wrap(np.zeros(()))

            _compare(directional, args, indices, atol * 10, rtol * 10, "second-order")


def _compare(scalar, args, indices, atol, rtol, what: str) -> None:
    analytic = tape_gradients(scalar, args, indices)
    for i, g in zip(indices, analytic):
        numeric = numerical_gradient(scalar, args, i)
        got = np.zeros_like(numeric) if g is None else np.asarray(g, dtype=np.float64)
        if got.shape != numeric.shape:
            raise AssertionError(
                f"{what} gradient of argument {i} has shape {got.shape}, expected {numeric.shape}"
            )
        if not np.allclose(got, numeric, atol=atol, rtol=rtol):
            worst = np.max(np.abs(got - numeric))
            raise AssertionError(
                f"{what} gradient of argument {i} differs from finite differences by {worst:.3g}"
                f"\ntape:\n{got}\nfinite differences:\n{numeric}"
            )
