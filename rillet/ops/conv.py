"""Convolutions, channels-last as in TF/Keras: conv1d, conv2d (grouped, depthwise), their
transposes, and the gradient ops ``conv2d_backprop_input`` / ``conv2d_backprop_filter``.

Layouts follow TF: inputs ``(N, W, C)`` / ``(N, H, W, C)``; filters ``(kw, C/groups, out)`` /
``(kh, kw, C/groups, out)``; transposed-conv filters ``(kh, kw, out, in)``. Like TF, the ops
compute a cross-correlation (the kernel is not flipped).

Three ops are registered and close under differentiation: each one's VJP is written with the
other two (and itself), so gradients of any order are exact. The 1-D and depthwise functions
reshape their operands (with rillet ops, so gradients flow) and call them.

Kernels. Timings: float32, N=64, 28x28 output, 3x3 kernel, 2 CPU cores, best of 10
interleaved rounds (NumPy 2.4, OpenBLAS):

    C -> out                        1->32   3->32   16->32   32->64   64->64
    conv2d: im2col, ONE GEMM        1.0ms   1.2ms    7.1ms    16ms     32ms
    conv2d: 9 shifted GEMMs          15ms   3.3ms    7.2ms    20ms     41ms
    backprop_input: 9 GEMMs         0.7ms   2.2ms    5.0ms    18ms     40ms
    backprop_input: 1 GEMM + col2im 0.7ms   5.4ms     15ms    30ms     54ms

im2col (a strided window view of the padded input, copied once into an
``(N*Ho*Wo, kh*kw*C)`` matrix, then one GEMM) wins the forward pass and is kept; the
filter gradient is the same matrix transposed times the output gradient, one GEMM. With a
single input channel that copy moves runs of ``kw`` pixels, so the matrix is built
transposed instead, one row of ``N*Ho*Wo`` pixels per tap (1->32 above: forward 0.75ms ->
0.40ms, filter gradient 0.95ms -> 0.55ms, one thread; then 0.47ms -> 0.23ms with its GEMM
cut into slices of 2048 pixels, see :func:`_sliced_tap_gemm`). For the
input gradient one GEMM per tap, added straight into the strided window view, beats one big
GEMM whose ``(N*Ho*Wo, kh*kw*C)`` result must then be scattered by NumPy; with compiled loops
on (``_conv_jit``) the scatter is one pass and the big GEMM wins (32->64 at 13x13, one
thread: 1.5ms against 2.1ms); im2col is compiled too, and both run a slice of the batch at a
time, in cache (forward 32->64 at 28x28: 8.7ms against 14ms). Grouped convs run batched
matmuls over the groups; depthwise convs (one input and one output channel per group) are 9
multiply-adds over the whole output instead (C=32: 7.6ms against 19ms; C=64: 19ms against
67ms for the batched matmul).
"""

from __future__ import annotations

from ..errors import ArgumentError, RilletError, ShapeError, attach_context
from ..tensor import asarray
from . import _conv_jit
from ._conv_geometry import (
    _LAYOUTS,
    _check_operand,
    _check_out_backprop,
    _conv_spec,
    _Geometry,
    _geometry,
    _is_count,
    _pads,
    _positive_ints,
    _shape_attr,
)
from ._registry import Spec, defop
from ._rules import fmt
from .shapes import expand_dims, reshape, squeeze

__all__ = [
    "conv1d",
    "conv2d",
    "depthwise_conv1d",
    "depthwise_conv2d",
    "conv1d_transpose",
    "conv2d_transpose",
    "conv2d_backprop_input",
    "conv2d_backprop_filter",
]


# ------------------------------------------------------------------------------------ rules


def _conv2d_rule(x, filters, *, strides=1, padding="valid", dilations=1, groups=1):
    return _conv_spec(x, filters, strides, padding, dilations, groups, 2)


def _backprop_input_rule(
    filters, out_backprop, *, input_shape, strides=1, padding="valid", dilations=1, groups=1
):
    shape = _shape_attr(input_shape, "input_shape")
    x = Spec(shape, filters.dtype)
    expected = _conv_spec(x, filters, strides, padding, dilations, groups, 2).shape
    _check_out_backprop(out_backprop, expected, f"input_shape {shape}, filters{fmt(filters.shape)}")
    return x


def _backprop_filter_rule(
    x, out_backprop, *, filter_shape, strides=1, padding="valid", dilations=1, groups=1
):
    shape = _shape_attr(filter_shape, "filter_shape")
    filters = Spec(shape, x.dtype)
    expected = _conv_spec(x, filters, strides, padding, dilations, groups, 2).shape
    _check_out_backprop(out_backprop, expected, f"x{fmt(x.shape)}, filter_shape {shape}")
    return filters


# ---------------------------------------------------------------------------- kernel helpers


def _pad(xp, x, pads: tuple):
    """``x`` with zero borders (``xp.pad`` costs 40us of Python per call; this costs 1us)."""
    (top, bottom), (left, right) = pads
    if not (top or bottom or left or right):
        return x
    n, h, w, c = x.shape
    padded = xp.zeros((n, h + top + bottom, w + left + right, c), dtype=x.dtype)
    padded[:, top : top + h, left : left + w] = x
    return padded


def _windows(xp, padded, f_shape: tuple, geo: _Geometry, writeable: bool = False):
    """``(N, Ho, Wo, kh, kw, C)`` strided view of every window of ``padded`` (no copy).

    Window ``(h, w)`` tap ``(i, j)`` is pixel ``(h * stride + i * dilation, ...)``. For a
    fixed tap no two windows share a pixel, so ``view[:, :, :, i, j] += ...`` is safe.
    """
    n, _, _, c = padded.shape
    sn, sh, sw, sc = padded.strides
    (s_h, s_w), (d_h, d_w) = geo.strides, geo.dilations
    return xp.lib.stride_tricks.as_strided(
        padded,
        shape=(n, *geo.out, f_shape[0], f_shape[1], c),
        strides=(sn, sh * s_h, sw * s_w, sh * d_h, sw * d_w, sc),
        writeable=writeable,
    )


def _is_depthwise(f_shape: tuple, groups: int) -> bool:
    """One input and one output channel per group: elementwise multiply-adds beat a GEMM."""
    return groups > 1 and f_shape[-2] == 1 and f_shape[-1] == groups


def _grouped_rows(cols, groups: int):
    """Windows ``(N, Ho, Wo, kh, kw, C)`` as ``(groups, N*Ho*Wo, kh*kw*C/groups)`` (a copy)."""
    n, ho, wo, kh, kw, c = cols.shape
    cols = cols.reshape(n, ho, wo, kh, kw, groups, c // groups)
    return cols.transpose(5, 0, 1, 2, 3, 4, 6).reshape(groups, n * ho * wo, kh * kw * c // groups)


def _grouped_filters(filters, groups: int):
    """Filters ``(kh, kw, C/groups, out)`` as ``(groups, kh*kw*C/groups, out/groups)``."""
    return filters.reshape(-1, groups, filters.shape[-1] // groups).transpose(1, 0, 2)


def _is_single_channel(f_shape: tuple, groups: int) -> bool:
    """One input channel (a grayscale image, a mono signal): see :func:`_tap_rows`."""
    return groups == 1 and f_shape[-2] == 1


def _tap_rows(xp, cols):
    """Single-channel windows ``(N, Ho, Wo, kh, kw, 1)`` copied as ``(kh*kw, N*Ho*Wo)``.

    The row-major im2col ``(N*Ho*Wo, kh*kw)`` copies runs of ``kw`` pixels (3x3, N=64,
    28x28: 0.42ms); one row per tap copies runs of ``Wo`` pixels (0.08ms). Its transpose is
    a Fortran-ordered matrix, which the GEMM takes as it is.
    """
    n, ho, wo, kh, kw, _ = cols.shape
    rows = xp.empty((kh, kw, n, ho, wo), cols.dtype)
    rows[...] = cols[..., 0].transpose(3, 4, 0, 1, 2)
    return rows.reshape(kh * kw, n * ho * wo)


# Pixels per GEMM of the single-channel filter gradient (see _sliced_tap_gemm).
_TAP_GEMM_PIXELS = 2048


def _sliced_tap_gemm(xp, rows, dy_rows):
    """``(rows @ dy_rows).T`` for tap rows ``(kh*kw, P)`` and gradients ``(P, out)``, as a sum
    of GEMMs over slices of ``_TAP_GEMM_PIXELS`` pixels.

    One GEMM with a ``kh*kw x out`` result and ``K = P`` (N=64, 26x26: 43264) is a poor shape
    for OpenBLAS (0.39ms, one thread; 0.7-1.7ms on two), where slices of 2048 pixels run as
    a batch of small GEMMs, ``dy_slice^T @ rows_slice^T`` (0.14ms on one or two threads). A
    slice of 8 images (5408 pixels) is 0.6ms again. The partial sums also keep the rounding
    error of the long sum down.
    """
    taps, pixels = rows.shape
    o = dy_rows.shape[1]
    whole = pixels - pixels % _TAP_GEMM_PIXELS
    grad = xp.zeros((o, taps), xp.result_type(rows, dy_rows))
    if whole:
        dy_slices = dy_rows[:whole].reshape(-1, _TAP_GEMM_PIXELS, o).transpose(0, 2, 1)
        row_slices = rows[:, :whole].reshape(taps, -1, _TAP_GEMM_PIXELS).transpose(1, 2, 0)
        xp.sum(xp.matmul(dy_slices, row_slices), axis=0, out=grad)
    if whole < pixels:
        grad += xp.matmul(dy_rows[whole:].T, rows[:, whole:].T)
    return grad


def _gemm(xp, rows, weights, out, shape: tuple):
    """``rows @ weights`` reshaped to ``shape``, written into ``out`` when it is contiguous."""
    if out is not None and out.flags.c_contiguous:
        xp.matmul(rows, weights, out=out.reshape(rows.shape[0], weights.shape[1]))
        return out
    return xp.matmul(rows, weights).reshape(shape)


def _forward(xp, cols, filters, groups: int, out):
    n, ho, wo = cols.shape[:3]
    o = filters.shape[-1]
    shape, weights = (n, ho, wo, o), filters.reshape(-1, o)
    if _is_single_channel(filters.shape, groups):
        return _gemm(xp, _tap_rows(xp, cols).T, weights, out, shape)
    if groups == 1:
        return _gemm(xp, cols.reshape(n * ho * wo, filters.size // o), weights, out, shape)
    if _is_depthwise(filters.shape, groups):
        return _depthwise_forward(xp, cols, filters)
    y = xp.matmul(_grouped_rows(cols, groups), _grouped_filters(filters, groups))
    return y.transpose(1, 0, 2).reshape(n, ho, wo, o)


def _depthwise_forward(xp, cols, filters):
    kh, kw = filters.shape[:2]
    y = cols[:, :, :, 0, 0] * filters[0, 0, 0]
    scratch = xp.empty_like(y)
    for i in range(kh):
        for j in range(kw):
            if i or j:
                y += xp.multiply(cols[:, :, :, i, j], filters[i, j, 0], out=scratch)
    return y


def _group_major(dy, groups: int):
    """Output gradients ``(N, Ho, Wo, out)`` as ``(groups, N*Ho*Wo, out/groups)``."""
    n, ho, wo, o = dy.shape
    return dy.reshape(n * ho * wo, groups, o // groups).transpose(1, 0, 2)


def _scatter_windows(xp, padded, filters, dy, geo: _Geometry) -> None:
    """Add each window's gradient back onto the pixels it read (col2im), one tap at a time:
    one ``(N*Ho*Wo, out) x (out, C)`` GEMM per tap (see the timings at the top)."""
    kh, kw, cg, o = filters.shape
    groups = geo.groups
    n, ho, wo = dy.shape[:3]
    cols = _windows(xp, padded, filters.shape, geo, writeable=True)  # safe: see _windows
    cols = cols.reshape(n, ho, wo, kh, kw, groups, cg)  # splitting an axis keeps the view
    if _is_depthwise(filters.shape, groups):
        for i in range(kh):
            for j in range(kw):
                cols[:, :, :, i, j, :, 0] += dy * filters[i, j, 0]
        return
    dy_rows = xp.ascontiguousarray(_group_major(dy, groups))
    per_group = filters.reshape(kh, kw, cg, groups, o // groups).transpose(0, 1, 3, 4, 2)
    for i in range(kh):
        for j in range(kw):
            taps = xp.matmul(dy_rows, per_group[i, j])  # (groups, N*Ho*Wo, C/groups)
            cols[:, :, :, i, j] += taps.reshape(groups, n, ho, wo, cg).transpose(1, 2, 3, 0, 4)


def _filter_gradient(xp, cols, dy, f_shape: tuple, groups: int):
    n, ho, wo, kh, kw, c = cols.shape
    o = dy.shape[-1]
    if _is_single_channel(f_shape, groups):
        grad_t = _sliced_tap_gemm(xp, _tap_rows(xp, cols), dy.reshape(n * ho * wo, o))
        return grad_t.T.reshape(f_shape)
    if groups == 1:
        rows = cols.reshape(n * ho * wo, kh * kw * c)
        return xp.matmul(rows.T, dy.reshape(n * ho * wo, o)).reshape(f_shape)
    if _is_depthwise(f_shape, groups):
        taps = xp.einsum("nhwijc,nhwc->ijc", cols, dy)
        return taps.reshape(f_shape)
    grad = xp.matmul(_grouped_rows(cols, groups).transpose(0, 2, 1), _group_major(dy, groups))
    grad = grad.reshape(groups, kh, kw, c // groups, o // groups).transpose(1, 2, 3, 0, 4)
    return grad.reshape(f_shape)


def _write(out, result):
    if out is None or out is result:
        return result
    out[...] = result
    return out


# --------------------------------------------------------------------------------- the ops


@defop(rule=_conv2d_rule, promote=True)
def conv2d(xp, x, filters, *, strides=1, padding="valid", dilations=1, groups=1, out=None):
    """2-D convolution (cross-correlation) of ``x`` (N, H, W, C) with ``filters``
    (kh, kw, C/groups, out), as ``tf.nn.conv2d``.

    ``strides``/``dilations``: an int or a pair. ``padding``: ``"valid"``, ``"same"`` (TF:
    ``ceil(H / stride)`` outputs, the odd pixel padded at the end) or explicit pairs
    ``[[top, bottom], [left, right]]``. ``groups > 1``: grouped convolution.

    >>> import rillet as rl
    >>> x = rl.reshape(rl.arange(16.0), shape=(1, 4, 4, 1))
    >>> rl.conv2d(x, rl.ones((2, 2, 1, 1)), strides=2).numpy()[0, :, :, 0].tolist()
    [[10.0, 18.0], [42.0, 50.0]]
    """
    geo = _geometry(x.shape, filters.shape, strides, padding, dilations, groups)
    if _whole_window(x.shape, filters.shape, geo):
        # One output pixel whose window is the whole input (a streaming frame): x's rows are
        # already the filter's (kh, kw, C) layout, so the convolution is one GEMM.
        n, o = x.shape[0], filters.shape[-1]
        rows = x.reshape(n, -1)
        return _write(out, _gemm(xp, rows, filters.reshape(-1, o), out, (n, 1, 1, o)))
    if _compiled_windows(filters.shape, geo, x, filters):
        shape = (x.shape[0], *geo.out, filters.shape[-1])
        y = out if out is not None and _conv_jit.applies(x, out) else xp.empty(shape, x.dtype)
        attrs = (geo.out, geo.strides, geo.dilations, geo.pads)
        _conv_jit.forward(x, filters, *attrs, y.reshape(-1, shape[-1]))
        return _write(out, y)
    cols = _windows(xp, _pad(xp, x, geo.pads), filters.shape, geo)
    return _write(out, _forward(xp, cols, filters, geo.groups, out))


def _compiled_windows(f_shape: tuple, geo: _Geometry, *arrays, min_channels: int = 8) -> bool:
    """Whether the window copies run compiled (``_conv_jit``): an ungrouped conv of at least
    ``min_channels`` input channels. The compiled im2col copies runs of C channels, which
    NumPy's copy of the window view beats below ~8 (N=64, 28x28, 3->32: forward 0.96ms
    against 1.46ms; 8->32: 1.92ms against 1.87ms); col2im wins from 2 channels on (3->32:
    1.7ms against 3.1ms); one channel takes :func:`_tap_rows`."""
    return geo.groups == 1 and f_shape[-2] >= min_channels and _conv_jit.applies(*arrays)


def _whole_window(x_shape: tuple, f_shape: tuple, geo: _Geometry) -> bool:
    # an unpadded, undilated kernel as large as the input has one output pixel at any stride
    return (
        geo.groups == 1
        and tuple(x_shape[1:3]) == tuple(f_shape[:2])
        and all(p == (0, 0) for p in geo.pads)
        and geo.dilations == (1, 1)
    )


@conv2d.defvjp
def _conv2d_vjp(g, y, x, filters, *, strides, padding, dilations, groups):
    attrs = dict(strides=strides, padding=padding, dilations=dilations, groups=groups)
    return (
        conv2d_backprop_input(filters, g, input_shape=x.shape, **attrs),
        conv2d_backprop_filter(x, g, filter_shape=filters.shape, **attrs),
    )


@defop(rule=_backprop_input_rule, promote=True)
def conv2d_backprop_input(
    xp,
    filters,
    out_backprop,
    *,
    input_shape,
    strides=1,
    padding="valid",
    dilations=1,
    groups=1,
    out=None,
):
    """Gradient of :func:`conv2d` with respect to its input (of shape ``input_shape``), given
    the output gradient ``out_backprop``; the computation of :func:`conv2d_transpose`."""
    shape = _shape_attr(input_shape, "input_shape")
    geo = _geometry(shape, filters.shape, strides, padding, dilations, groups)
    if _compiled_windows(filters.shape, geo, filters, out_backprop, min_channels=2):
        into = out is not None and _conv_jit.applies(out_backprop, out)
        d_x = out if into else xp.empty(shape, out_backprop.dtype)
        _conv_jit.input_gradient(filters, out_backprop, geo.strides, geo.dilations, geo.pads, d_x)
        return _write(out, d_x)
    (top, bottom), (left, right) = geo.pads
    if not (top or bottom or left or right) and out is not None:
        out[...] = 0  # no border to cut off: scatter straight into the result
        _scatter_windows(xp, out, filters, out_backprop, geo)
        return out
    padded = xp.zeros(
        (shape[0], shape[1] + top + bottom, shape[2] + left + right, shape[3]),
        dtype=out_backprop.dtype,
    )
    _scatter_windows(xp, padded, filters, out_backprop, geo)
    return _write(out, padded[:, top : top + shape[1], left : left + shape[2]])


@conv2d_backprop_input.defvjp
def _conv2d_backprop_input_vjp(
    g, y, filters, dy, *, input_shape, strides, padding, dilations, groups
):
    # y = A(filters)^T dy is bilinear: <g, A^T dy> = <A g, dy> = <conv2d(g, filters), dy>.
    attrs = dict(strides=strides, padding=padding, dilations=dilations, groups=groups)
    return (
        conv2d_backprop_filter(g, dy, filter_shape=filters.shape, **attrs),
        conv2d(g, filters, **attrs),
    )


@defop(rule=_backprop_filter_rule, promote=True)
def conv2d_backprop_filter(
    xp,
    x,
    out_backprop,
    *,
    filter_shape,
    strides=1,
    padding="valid",
    dilations=1,
    groups=1,
    out=None,
):
    """Gradient of :func:`conv2d` with respect to its filters (of shape ``filter_shape``),
    given the input ``x`` and the output gradient ``out_backprop``."""
    shape = _shape_attr(filter_shape, "filter_shape")
    geo = _geometry(x.shape, shape, strides, padding, dilations, groups)
    if _compiled_windows(shape, geo, x, out_backprop):
        attrs = (geo.strides, geo.dilations, geo.pads)
        grad = _conv_jit.filter_gradient(x, out_backprop, shape, *attrs)
        return _write(out, grad.reshape(shape))
    cols = _windows(xp, _pad(xp, x, geo.pads), shape, geo)
    return _write(out, _filter_gradient(xp, cols, out_backprop, shape, geo.groups))


@conv2d_backprop_filter.defvjp
def _conv2d_backprop_filter_vjp(g, y, x, dy, *, filter_shape, strides, padding, dilations, groups):
    # y = d<conv2d(x, w), dy>/dw, so <g, y> = <conv2d(x, g), dy>: bilinear in (x, dy).
    attrs = dict(strides=strides, padding=padding, dilations=dilations, groups=groups)
    return (
        conv2d_backprop_input(g, dy, input_shape=x.shape, **attrs),
        conv2d(x, g, **attrs),
    )


# ------------------------------------------------------------------- public wrapper functions


class _NamedErrors:
    """``with _NamedErrors("conv1d"):`` names that function (and the caller's line) in the
    errors raised by the rule checks a wrapper runs before calling the ops."""

    def __init__(self, op_name: str):
        self.op_name = op_name

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if isinstance(error, RilletError):
            attach_context(error, self.op_name)
        return False


def _operand(value):
    """Tensors, variables and arrays pass through; Python data becomes a tensor."""
    return value if hasattr(value, "shape") and hasattr(value, "dtype") else asarray(value)


def _padding_2d(padding, pads: tuple):
    """A 1-D padding as the 2-D padding of a height-1 image."""
    if isinstance(padding, str) and padding.lower() == "same":
        return "same"  # also right when the width is unknown
    return ((0, 0), pads[0])


def _height_1(t):
    """``(N, W, C)`` as the image ``(N, 1, W, C)``."""
    return expand_dims(t, axis=1)  # works for unknown sizes too (a traced time axis)


def _drop_height(t):
    return squeeze(t, axis=1)


def _conv1d_geometry(x, filters, strides, padding, dilations, groups) -> _Geometry:
    _conv_spec(x, filters, strides, padding, dilations, groups, 1)
    return _geometry(tuple(x.shape), tuple(filters.shape), strides, padding, dilations, groups)


def conv1d(x, filters, strides=1, padding="valid", dilations=1, groups=1):
    """1-D convolution of ``x`` (N, W, C) with ``filters`` (kw, C/groups, out), as
    ``tf.nn.conv1d``; ``padding`` is ``"valid"``, ``"same"``, ``"causal"`` (output ``t`` sees
    inputs ``<= t`` only) or ``[[left, right]]``.

    >>> import rillet as rl
    >>> x = rl.reshape(rl.arange(1.0, 5.0), shape=(1, 4, 1))
    >>> rl.conv1d(x, rl.ones((2, 1, 1)), padding="causal").numpy()[0, :, 0].tolist()
    [1.0, 3.0, 5.0, 7.0]
    """
    x, filters = _operand(x), _operand(filters)
    with _NamedErrors("conv1d"):
        geo = _conv1d_geometry(x, filters, strides, padding, dilations, groups)
    y = conv2d(
        _height_1(x),
        reshape(filters, shape=(1, *filters.shape)),
        strides=(1, *geo.strides),
        padding=_padding_2d(padding, geo.pads),
        dilations=(1, *geo.dilations),
        groups=groups,
    )
    return _drop_height(y)


def _depthwise_shape(x, filters, strides, padding, dilations, n: int) -> tuple:
    """Depthwise filters ``(..., C, multiplier)`` as grouped ones ``(..., 1, C * multiplier)``."""
    _check_operand(x, n, "x", _LAYOUTS[n][0])
    _check_operand(filters, n, "filters", "(" + "kh, " * (n - 1) + "kw, C, multiplier)")
    c, k = x.shape[-1], filters.shape[-2]
    if c is not None and k is not None and c != k:
        raise ShapeError(
            f"x{fmt(x.shape)} has {c} channels but filters{fmt(filters.shape)} expect {k}"
        )
    shape = (*filters.shape[:-2], 1, k * filters.shape[-1])
    _conv_spec(x, Spec(shape, filters.dtype), strides, padding, dilations, c, n)
    return shape


def depthwise_conv2d(x, filters, strides=1, padding="valid", dilations=1):
    """Depthwise 2-D convolution, as ``tf.nn.depthwise_conv2d``: ``filters`` (kh, kw, C,
    multiplier) give output channel ``c * multiplier + m`` from input channel ``c`` alone."""
    x, filters = _operand(x), _operand(filters)
    with _NamedErrors("depthwise_conv2d"):
        shape = _depthwise_shape(x, filters, strides, padding, dilations, 2)
    grouped = reshape(filters, shape=shape)
    return conv2d(x, grouped, strides, padding, dilations, groups=x.shape[-1])


def depthwise_conv1d(x, filters, strides=1, padding="valid", dilations=1):
    """Depthwise 1-D convolution: ``filters`` (kw, C, multiplier), as Keras DepthwiseConv1D."""
    x, filters = _operand(x), _operand(filters)
    with _NamedErrors("depthwise_conv1d"):
        shape = _depthwise_shape(x, filters, strides, padding, dilations, 1)
    return conv1d(x, reshape(filters, shape=shape), strides, padding, dilations, x.shape[-1])


def _transposed_size(size, extent: int, stride: int, padding, pads) -> int:
    """Keras ``deconv_output_length`` (no output padding)."""
    if isinstance(padding, str) and padding.lower() == "same":
        return size * stride
    if isinstance(padding, str) and padding.lower() == "valid":
        return size * stride + max(extent - stride, 0)
    return (size - 1) * stride + extent - pads[0] - pads[1]


def _default_transpose_shape(x, filters, strides, padding, dilations, n: int) -> tuple:
    strides = _positive_ints(strides, n, "strides")
    dilations = _positive_ints(dilations, n, "dilations")
    extents = tuple((k - 1) * d + 1 for k, d in zip(filters.shape[:n], dilations))
    pads = _pads(padding, (None,) * n, extents, strides)
    spatial = (
        _transposed_size(*a, padding, p) for *a, p in zip(x.shape[1:-1], extents, strides, pads)
    )
    return (x.shape[0], *spatial, filters.shape[-2])


def _transpose_shape(x, filters, output_shape, strides, padding, dilations, n: int) -> tuple:
    """The shape whose conv is ``x``: ``output_shape``, checked, or Keras's default."""
    _check_operand(x, n, "x", _LAYOUTS[n][0])
    _check_operand(filters, n, "filters", "(" + "kh, " * (n - 1) + "kw, out, in)")
    if x.shape[-1] != filters.shape[-1]:
        raise ShapeError(
            f"x{fmt(x.shape)} has {x.shape[-1]} channels but filters"
            f"{fmt(filters.shape)} (kernel, out, in) expect {filters.shape[-1]}"
        )
    if output_shape is None:
        output_shape = _default_transpose_shape(x, filters, strides, padding, dilations, n)
    shape = tuple(output_shape) if isinstance(output_shape, (list, tuple)) else ()
    if len(shape) != n + 2 or not all(_is_count(s) for s in shape):
        raise ArgumentError(
            f"output_shape must be {n + 2} non-negative ints {_LAYOUTS[n][0]}, got {output_shape!r}"
        )
    shape = tuple(int(s) for s in shape)
    if shape[-1] != filters.shape[-2]:
        raise ShapeError(
            f"output_shape {shape} has {shape[-1]} channels but filters"
            f"{fmt(filters.shape)} (kernel, out, in) make {filters.shape[-2]}"
        )
    conv_of_shape = _conv_spec(Spec(shape, x.dtype), filters, strides, padding, dilations, 1, n)
    if conv_of_shape.shape != tuple(x.shape):
        raise ShapeError(
            f"output_shape {shape} is inconsistent with x{fmt(x.shape)}: a conv of that shape "
            f"with filters{fmt(filters.shape)}, strides={strides!r}, padding={padding!r} "
            f"gives {fmt(conv_of_shape.shape)}"
        )
    return shape


def conv2d_transpose(x, filters, output_shape=None, strides=1, padding="valid", dilations=1):
    """Transposed 2-D convolution (the gradient of :func:`conv2d` with respect to its
    input), as ``tf.nn.conv2d_transpose``: ``filters`` (kh, kw, out, in), ``output_shape``
    (N, H, W, out). Without ``output_shape`` the size is Keras Conv2DTranspose's:
    ``H * stride`` for "same", ``H * stride + max(kernel_extent - stride, 0)`` for "valid".
    """
    x, filters = _operand(x), _operand(filters)
    with _NamedErrors("conv2d_transpose"):
        shape = _transpose_shape(x, filters, output_shape, strides, padding, dilations, 2)
    return conv2d_backprop_input(
        filters, x, input_shape=shape, strides=strides, padding=padding, dilations=dilations
    )


def conv1d_transpose(x, filters, output_shape=None, strides=1, padding="valid", dilations=1):
    """Transposed 1-D convolution, as ``tf.nn.conv1d_transpose``: ``x`` (N, W, in),
    ``filters`` (kw, out, in), ``output_shape`` (N, W_out, out)."""
    x, filters = _operand(x), _operand(filters)
    with _NamedErrors("conv1d_transpose"):
        shape = _transpose_shape(x, filters, output_shape, strides, padding, dilations, 1)
    geo = _geometry(shape, tuple(filters.shape), strides, padding, dilations, 1)
    y = conv2d_backprop_input(
        reshape(filters, shape=(1, *filters.shape)),
        _height_1(x),
        input_shape=(shape[0], 1, *shape[1:]),
        strides=(1, *geo.strides),
        padding=_padding_2d(padding, geo.pads),
        dilations=(1, *geo.dilations),
    )
    return _drop_height(y)
