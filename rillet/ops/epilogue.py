"""Fused epilogues: a matmul or conv2d, a bias added over the last axis and an activation,
as one op (``fused_matmul``, ``fused_conv2d``).

The graph pass ``fuse_epilogue`` writes them where a traced graph has the chain
``matmul/conv2d -> add(bias) -> relu``, as a Dense or Conv layer makes it: the unfused chain
is two or three passes over the output (each a Python call and, for a batch-1 streaming
step, mostly call overhead); fused, it is one call and at most one extra pass.

>>> import rillet as rl
>>> from rillet.ops.epilogue import fused_matmul
>>> x, w, b = rl.asarray([[1.0, -2.0]]), rl.asarray([[3.0], [1.0]]), rl.asarray([-2.0])
>>> fused_matmul(x, w, b).numpy().tolist()
[[-1.0]]
>>> fused_matmul(x, w, b, activation="relu").numpy().tolist()
[[0.0]]

Kernels (compiled loops from ``_epilogue_jit`` where Numba is on, see ``rillet/ops/_jit.py``):
a product of at most ``SMALL_PRODUCT`` multiply-adds is one loop doing product, bias and
activation (a batch-1 frame: BLAS costs more to call than the arithmetic); anything else
runs BLAS (or the conv2d kernel) into ``out``, then one pass adds the bias and applies the
activation (NumPy's two in place when compiled loops are off). Activations: ``None`` and
``"relu"``.

A direct conv2d loop for few input channels (the first layer of an image model) lost to
the conv2d kernel plus the one pass: N=64, 28x28x1 -> 32 channels, 3x3, one thread,
float32: 1.0ms (the best of several loop orders; LLVM vectorizes a 32-channel row only 8
wide) against 0.40ms, where the unfused chain took 1.0ms.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .. import dtypes as _dtypes
from ..errors import ArgumentError, DTypeError, ShapeError
from . import _epilogue_jit as _loops
from ._jit import FLOAT_DTYPES
from ._registry import Spec, defop
from ._rules import fmt
from .activations import relu_grad
from .linalg import matmul

__all__: list[str] = []

ACTIVATIONS = (None, "relu")
# Multiply-adds up to which one compiled loop beats a BLAS call plus an epilogue pass, twice
# that for one row. One thread, float32, (rows, K, N): (4, 64, 64) loop 1.3us, BLAS + pass
# 1.9us; (4, 128, 64) 2.8us against 2.0us; (1, 256, 128) 1.3us against 2.7us; (1, 1024,
# 64) 4.3us against 3.8us.
SMALL_PRODUCT = 1 << 14


def _small(rows: int, k_size: int, n_size: int) -> bool:
    return rows * k_size * n_size <= SMALL_PRODUCT * (2 if rows == 1 else 1)


# --------------------------------------------------------------------------------- rules


def _check_activation(activation) -> bool:
    """Whether ``activation`` is relu (else None); an ArgumentError for any other value."""
    if activation not in ACTIVATIONS:
        raise ArgumentError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    return activation == "relu"


def _with_bias(spec: Spec, bias, activation) -> Spec:
    """``spec`` after checking that ``bias`` is a vector over its last axis."""
    _check_activation(activation)
    if not _dtypes.is_floating(spec.dtype):
        raise DTypeError(f"expected floating operands, got {spec.dtype}")
    size = spec.shape[-1] if spec.shape else 1
    if len(bias.shape) != 1 or None not in (size, bias.shape[0]) and bias.shape[0] != size:
        raise ShapeError(
            f"bias{fmt(bias.shape)} must be a vector of the output's last axis {size} "
            f"(output {fmt(spec.shape)})"
        )
    return spec


def _fused_matmul_rule(x, w, bias, *, activation=None):
    if len(w.shape) != 2 or len(x.shape) < 1:
        raise ShapeError(f"expected x (..., K) and w (K, N), got x{fmt(x.shape)} w{fmt(w.shape)}")
    return _with_bias(matmul.rule(x, w), bias, activation)


def _conv2d():
    from .conv import conv2d  # the conv family is imported on first use

    return conv2d


def _fused_conv2d_rule(
    x, filters, bias, *, strides=1, padding="valid", dilations=1, groups=1, activation=None
):
    spec = _conv2d().rule(
        x, filters, strides=strides, padding=padding, dilations=dilations, groups=groups
    )
    return _with_bias(spec, bias, activation)


# ------------------------------------------------------------------------------------ ops


@defop(rule=_fused_matmul_rule, promote=True)
def fused_matmul(xp, x, w, bias, *, activation=None, out=None):
    """``activation(x @ w + bias)`` for ``x`` (..., K), ``w`` (K, N) and ``bias`` (N,);
    ``activation`` is ``None`` or ``"relu"``."""
    relu = _check_activation(activation)
    rows, n_size = math.prod(x.shape[:-1]), w.shape[1]
    shape = (*x.shape[:-1], n_size)
    small = _small(rows, x.shape[-1], n_size) and _floats(x, w, bias)
    loop = _loops.linear_loop.compiled if small else None  # asked for only when it would run
    if loop is not None:
        y = _output(out, shape, x.dtype)
        loop(x.reshape(1, rows, x.shape[-1]), w, bias, y.reshape(1, rows, n_size), relu)
        return _write(out, y)
    if x.ndim > 2 and out is not None and out.flags.c_contiguous:
        # one 2-D product (NumPy would run one per leading index)
        xp.matmul(x.reshape(rows, x.shape[-1]), w, out=out.reshape(rows, n_size))
        return bias_activation(xp, out, bias, relu)
    if x.ndim > 2:
        y = xp.matmul(x.reshape(rows, x.shape[-1]), w).reshape(shape)
    else:
        y = xp.matmul(x, w, out=out)
    return _write(out, bias_activation(xp, y, bias, relu))


@fused_matmul.defvjp
def _fused_matmul_vjp(g, y, x, w, bias, *, activation):
    g = _through_activation(g, y, activation)
    return (*matmul.vjp(g, None, x, w), g)  # the engine sums g over leading axes for bias


@defop(rule=_fused_conv2d_rule, promote=True)
def fused_conv2d(
    xp,
    x,
    filters,
    bias,
    *,
    strides=1,
    padding="valid",
    dilations=1,
    groups=1,
    activation=None,
    out=None,
):
    """``activation(conv2d(x, filters, ...) + bias)`` for ``bias`` (out,); the conv
    attributes as :func:`rillet.conv2d`, ``activation`` ``None`` or ``"relu"``."""
    relu = _check_activation(activation)
    attrs = dict(strides=strides, padding=padding, dilations=dilations, groups=groups)
    y = _conv2d().kernel(xp, x, filters, **attrs, out=out)
    return _write(out, bias_activation(xp, y, bias, relu))


@fused_conv2d.defvjp
def _fused_conv2d_vjp(g, y, x, filters, bias, *, strides, padding, dilations, groups, activation):
    g = _through_activation(g, y, activation)
    attrs = dict(strides=strides, padding=padding, dilations=dilations, groups=groups)
    return (*_conv2d().vjp(g, None, x, filters, **attrs), g)


def _through_activation(g, y, activation):
    """The gradient at the activation's input (relu's output ``y`` says where it passed)."""
    return relu_grad(g, y) if activation == "relu" else g


# -------------------------------------------------------------------------------- kernels


def specialize(x, w, bias, y, activation) -> Callable | None:
    """For a compiled graph: ``run(x, w, bias, out)`` doing what ``fused_matmul``'s kernel
    does on arrays of these static specs (anything with ``.shape`` and ``.dtype``) when its
    small loop applies, else None. The kernel's checks are done here, once: on a batch-1
    step they cost more than the loop. ``out`` is a C-contiguous array of ``y``'s spec, or
    None for a new one."""
    specs = (x, w, bias, y)
    if any(None in s.shape for s in specs) or len(w.shape) != 2:
        return None
    if y.dtype not in FLOAT_DTYPES or any(s.dtype != y.dtype for s in specs):
        return None
    rows, (k_size, n_size) = math.prod(x.shape[:-1]), w.shape
    loop = _loops.linear_loop.compiled if _small(rows, k_size, n_size) else None
    if loop is None:  # (asked for only when it would run: it loads Numba)
        return None
    relu, shape, dtype = _check_activation(activation), tuple(y.shape), y.dtype
    x_rows = None if len(x.shape) == 3 else (1, rows, k_size)  # the loop takes 3-D arrays
    y_rows = None if len(y.shape) == 3 else (1, rows, n_size)

    def run(x, w, bias, out):
        y = np.empty(shape, dtype) if out is None else out
        x_3d = x if x_rows is None else x.reshape(x_rows)
        loop(x_3d, w, bias, y if y_rows is None else y.reshape(y_rows), relu)
        return y

    return run


def bias_activation(xp, y, bias, relu: bool):
    """``y + bias``, then relu when ``relu``, written over ``y`` (a fresh or ``out`` array):
    one compiled pass when the loop applies, else NumPy's two in place."""
    loop = _loops.bias_activation_loop.compiled
    if loop is not None and y.size and _floats(y, bias) and y.flags.c_contiguous:
        loop(y.reshape(-1, y.shape[-1]), bias, relu)
        return y
    y = xp.add(y, bias, out=y)
    return xp.maximum(y, 0, out=y) if relu else y


def _floats(*arrays) -> bool:
    """NumPy arrays of one float32/float64 dtype (the compiled loops take any layout)."""
    dtype = arrays[0].dtype
    return dtype in FLOAT_DTYPES and all(type(a) is np.ndarray and a.dtype == dtype for a in arrays)


def _output(out, shape: tuple, dtype) -> np.ndarray:
    """``out`` when a loop may write it as it is (a C-contiguous NumPy array of ``shape``
    and ``dtype``), else a new array."""
    if (
        type(out) is np.ndarray
        and out.shape == shape
        and out.dtype == dtype
        and out.flags.c_contiguous
    ):
        return out
    return np.empty(shape, dtype)


def _write(out, result):
    if out is None or out is result:
        return result
    out[...] = result
    return out
