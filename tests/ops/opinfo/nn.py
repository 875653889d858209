"""Op table for rillet.ops.nn, with straightforward NumPy/SciPy references (naive loops
for pooling, textbook formulas and explicit Jacobians for normalization)."""

import math

import numpy as np
import scipy.special as sp

import rillet as rl
from rillet.ops import nn, pool_routing, pooling
from rillet.testing.opinfo import OpInfo, Sample, randn, uniform

F16, BF16 = np.dtype(np.float16), rl.bfloat16
LOOSE = {F16: (1e-2, 1e-2), BF16: (5e-2, 5e-2)}
LOOSER = {F16: (2e-2, 2e-2), BF16: (1e-1, 1e-1)}  # outputs summed or normalized in low precision


# ---------------------------------------------------------------- softmax and cross-entropies


def _softmax_samples(rng, dtype):
    x = randn(rng, (3, 4), dtype, scale=2.0)
    return [Sample((x,), {"axis": -1}), Sample((x,), {"axis": 0}),
            Sample((randn(rng, (2, 3, 2), dtype),), {"axis": 1})]  # fmt: skip


def _softmax_grad_samples(rng, dtype):
    """(g, y) with y a softmax along the axis (the last one takes the row-wise fast path)."""
    samples = []
    for shape, axis in (((3, 4), -1), ((3, 4), 0), ((2, 3, 5), 1), ((2, 3, 5), 2)):
        y = sp.softmax(randn(rng, shape, np.float64, scale=2.0), axis=axis).astype(dtype)
        samples.append(Sample((randn(rng, shape, dtype), y), {"axis": axis}))
    return samples


def _softmax_grad_ref(g, y, axis=-1):
    """Through the explicit Jacobian diag(y) - y y^T of each row."""
    rows_y = np.moveaxis(y, axis, -1).reshape(-1, y.shape[axis])
    rows_g = np.moveaxis(g, axis, -1).reshape(rows_y.shape)
    d = np.stack([(np.diag(yr) - np.outer(yr, yr)).T @ gr for yr, gr in zip(rows_y, rows_g)])
    return np.moveaxis(d.reshape(np.moveaxis(y, axis, -1).shape), -1, axis)


def _softmax_xent_cases(rng, dtype):
    """(labels, logits, axis): probability rows, and rows that do not sum to 1."""
    cases = []
    for shape, axis in (((3, 5), -1), ((2, 3, 2), 1)):
        labels = sp.softmax(rng.standard_normal(shape), axis=axis).astype(dtype)
        cases.append((labels, randn(rng, shape, dtype), axis))
    cases.append((uniform(rng, (2, 4), dtype, 0.0, 1.0), randn(rng, (2, 4), dtype), -1))
    return cases


def _softmax_xent_samples(rng, dtype):
    return [Sample((z, x), {"axis": a}) for z, x, a in _softmax_xent_cases(rng, dtype)]


def _softmax_xent_ref(labels, logits, axis=-1):
    return -np.sum(labels * sp.log_softmax(logits, axis=axis), axis=axis)


def _softmax_xent_grad_samples(rng, dtype):
    return [
        Sample((randn(rng, np.delete(x.shape, a % x.ndim), dtype), z, x), {"axis": a})
        for z, x, a in _softmax_xent_cases(rng, dtype)
    ]


def _softmax_xent_grad_ref(g, labels, logits, axis=-1):
    log_p = sp.log_softmax(logits, axis=axis)
    g = np.expand_dims(g, axis)
    return -g * log_p, g * (np.exp(log_p) * labels.sum(axis=axis, keepdims=True) - labels)


def _sparse_cases(rng, dtype):
    return [(rng.integers(0, 5, (4,)), randn(rng, (4, 5), dtype, scale=2.0)),
            (rng.integers(0, 3, (2, 3)), randn(rng, (2, 3, 3), dtype))]  # fmt: skip


def _sparse_xent_ref(labels, logits):
    return -np.take_along_axis(sp.log_softmax(logits, axis=-1), labels[..., None], -1)[..., 0]


def _sparse_xent_grad_samples(rng, dtype):
    return [Sample((randn(rng, z.shape, dtype), z, x)) for z, x in _sparse_cases(rng, dtype)]


def _sparse_xent_grad_ref(g, labels, logits):
    one_hot = np.eye(logits.shape[-1])[labels]
    return g[..., None] * (sp.softmax(logits, axis=-1) - one_hot)


def _sigmoid_cases(rng, dtype):
    return [(uniform(rng, s, dtype, 0.0, 1.0), randn(rng, s, dtype, scale=3.0))
            for s in ((3, 4), (5,))]  # fmt: skip


def _sigmoid_xent_ref(labels, logits):
    # -z log(sigmoid(x)) - (1 - z) log(1 - sigmoid(x)), with log sigmoid(x) = -log(1 + e^-x)
    return labels * np.logaddexp(0, -logits) + (1 - labels) * np.logaddexp(0, logits)


def _sigmoid_xent_grad_samples(rng, dtype):
    return [Sample((randn(rng, x.shape, dtype), z, x)) for z, x in _sigmoid_cases(rng, dtype)]


def _sigmoid_xent_grad_ref(g, labels, logits):
    return -g * logits, g * (sp.expit(logits) - labels)


# ---------------------------------------------------------------- pooling


def _ints(value, d):
    return (value,) * d if isinstance(value, int) else tuple(value)


def _windows(shape, pool_size, strides=None, padding="valid"):
    """Yield (output index, slices of the real input cells of that window), TF geometry."""
    d = len(shape) - 2
    window = _ints(pool_size, d)
    strides = window if strides is None else _ints(strides, d)
    spatial, outs, befores = shape[1:-1], [], []
    for n, k, s in zip(spatial, window, strides):
        if padding.lower() == "same":
            outs.append(math.ceil(n / s))
            befores.append(max((outs[-1] - 1) * s + k - n, 0) // 2)
        else:
            outs.append((n - k) // s + 1)
            befores.append(0)
    for index in np.ndindex(*outs):
        yield (
            index,
            tuple(
                slice(max(i * s - b, 0), min(i * s - b + k, n))
                for i, s, b, k, n in zip(index, strides, befores, window, spatial)
            ),
        )


def _out_shape(x_shape, **kwargs):
    indices = [i for i, _ in _windows(x_shape, **kwargs)]
    return (x_shape[0],) + tuple(m + 1 for m in indices[-1]) + (x_shape[-1],)


def _pool_ref(reduce):
    def ref(x, **kwargs):
        out = np.zeros(_out_shape(x.shape, **kwargs))
        axes = tuple(range(1, x.ndim - 1))
        for index, region in _windows(x.shape, **kwargs):
            out[(slice(None), *index)] = reduce(x[(slice(None), *region)], axis=axes)
        return out

    return ref


def _argmax_position(x, b, c, region):
    """Input index of the first maximum of one window (row-major), as TF picks it."""
    cells = x[(b, *region, c)]
    offset = np.unravel_index(np.argmax(cells), cells.shape)
    return (b, *(r.start + o for r, o in zip(region, offset)), c)


def _each_window(x_shape, kwargs):
    for index, region in _windows(x_shape, **kwargs):
        for b in range(x_shape[0]):
            for c in range(x_shape[-1]):
                yield (b, *index, c), b, c, region


def _max_pool_grad_ref(x, g, **kwargs):
    d_x = np.zeros(x.shape)
    for out_at, b, c, region in _each_window(x.shape, kwargs):
        d_x[_argmax_position(x, b, c, region)] += g[out_at]
    return d_x


def _max_pool_relu_grad_ref(x, g, **kwargs):
    return _max_pool_grad_ref(x, g, **kwargs) * (x > 0)


def _argmax_code(cells, positive_only: bool) -> int:
    """The row-major index of a window's first maximum, or its size where none passes."""
    passes = not np.isnan(cells).any() and (not positive_only or cells.max() > 0)
    return int(np.argmax(cells)) if passes else cells.size


def _max_pool_argmax_ref(x, positive_only=False, **kwargs):
    codes = np.zeros(_out_shape(x.shape, **kwargs))
    for out_at, b, c, region in _each_window(x.shape, kwargs):
        codes[out_at] = _argmax_code(x[(b, *region, c)], positive_only)
    return codes


def _coded_cell(code, b, c, region):
    """The input position of cell ``code`` of a window, or None for the "none" code."""
    sizes = tuple(r.stop - r.start for r in region)
    if code >= math.prod(sizes):
        return None
    offset = np.unravel_index(int(code), sizes)
    return (b, *(r.start + o for r, o in zip(region, offset)), c)


def _max_pool_scatter_ref(argmax, g, input_shape, **kwargs):
    d_x = np.zeros(input_shape)
    for out_at, b, c, region in _each_window(input_shape, kwargs):
        at = _coded_cell(argmax[out_at], b, c, region)
        if at is not None:
            d_x[at] = g[out_at]
    return d_x


def _max_pool_gather_ref(argmax, h, **kwargs):
    out = np.zeros(_out_shape(h.shape, **kwargs))
    for out_at, b, c, region in _each_window(h.shape, kwargs):
        at = _coded_cell(argmax[out_at], b, c, region)
        out[out_at] = 0.0 if at is None else h[at]
    return out


def _max_pool_grad_grad_ref(x, h, **kwargs):
    out = np.zeros(_out_shape(x.shape, **kwargs))
    for out_at, b, c, region in _each_window(x.shape, kwargs):
        out[out_at] = h[_argmax_position(x, b, c, region)]
    return out


def _avg_pool_grad_ref(g, input_shape, **kwargs):
    d_x = np.zeros(input_shape)
    for out_at, b, c, region in _each_window(input_shape, kwargs):
        cells = d_x[(b, *region, c)]
        cells += g[out_at] / cells.size
    return d_x


POOL_CASES = {
    1: [((2, 7, 3), dict(pool_size=2)), ((2, 7, 3), dict(pool_size=3, strides=2, padding="same")),
        ((1, 5, 2), dict(pool_size=(2,), strides=1, padding="same"))],
    2: [((2, 5, 5, 2), dict(pool_size=2)), ((2, 5, 5, 2), dict(pool_size=2, padding="same")),
        ((1, 6, 5, 2), dict(pool_size=(3, 2), strides=(2, 1), padding="same")),
        ((1, 5, 6, 1), dict(pool_size=3, strides=2)),
        ((1, 4, 4, 2), dict(pool_size=2, strides=1, padding="SAME"))],
}  # fmt: skip


def _pool_samples(d):
    def samples(rng, dtype):
        return [Sample((randn(rng, s, dtype),), dict(kw)) for s, kw in POOL_CASES[d]]

    return samples


# The backward ops are checked on fewer cases: one per kind of geometry.
GRAD_CASES = [POOL_CASES[1][1], POOL_CASES[2][1], POOL_CASES[2][2], POOL_CASES[2][4]]


def _pool_grad_samples(rng, dtype):
    """(x, g) for max_pool_grad: g has the pooled shape."""
    return [
        Sample((randn(rng, shape, dtype), randn(rng, _out_shape(shape, **kw), dtype)), dict(kw))
        for shape, kw in GRAD_CASES
    ]


def _max_pool_grad_grad_samples(rng, dtype):
    """(x, h) for max_pool_grad_grad: h has the input shape."""
    return [Sample((randn(rng, shape, dtype), randn(rng, shape, dtype)), dict(kw))
            for shape, kw in GRAD_CASES]  # fmt: skip


# Windows that tile the input (what the argmax routing takes): cut edges, 1-D, 3x2.
ROUTE_CASES = [((2, 4, 6, 3), dict(pool_size=2)), ((2, 5, 7, 2), dict(pool_size=2)),
               ((1, 6, 4, 2), dict(pool_size=(3, 2))), ((2, 7, 3), dict(pool_size=2))]  # fmt: skip


def _max_pool_argmax_samples(rng, dtype):
    return [Sample((randn(rng, shape, dtype),), dict(kw, positive_only=positive_only))
            for shape, kw in ROUTE_CASES for positive_only in (False, True)]  # fmt: skip


def _random_argmax(rng, shape, kw):
    """Cell indices of random windows, "none" (the window size) included."""
    size = math.prod(pooling._plan(shape, kw["pool_size"], None, "valid").window)
    return rng.integers(0, size + 1, _out_shape(shape, **kw)).astype(np.int8)


def _max_pool_scatter_samples(rng, dtype):
    return [Sample((_random_argmax(rng, shape, kw), randn(rng, _out_shape(shape, **kw), dtype)),
                   dict(kw, input_shape=shape)) for shape, kw in ROUTE_CASES]  # fmt: skip


def _max_pool_gather_samples(rng, dtype):
    return [Sample((_random_argmax(rng, shape, kw), randn(rng, shape, dtype)), dict(kw))
            for shape, kw in ROUTE_CASES]  # fmt: skip


def _avg_pool_grad_samples(rng, dtype):
    return [
        Sample((randn(rng, _out_shape(shape, **kw), dtype),), dict(kw, input_shape=shape))
        for shape, kw in GRAD_CASES
    ]


# ---------------------------------------------------------------- normalization


def _positive(rng, shape, dtype):
    return uniform(rng, shape, dtype, 0.5, 2.0)


def _batch_norm_samples(rng, dtype):
    return [
        Sample((randn(rng, (4, 3), dtype), randn(rng, (3,), dtype), _positive(rng, (3,), dtype),
                randn(rng, (3,), dtype), randn(rng, (3,), dtype)), {"variance_epsilon": 1e-3}),
        Sample((randn(rng, (2, 3, 2), dtype), randn(rng, (1, 1, 2), dtype),
                _positive(rng, (1, 1, 2), dtype), None, randn(rng, (2,), dtype)),
               {"variance_epsilon": 1e-2}),
        Sample((randn(rng, (2, 3), dtype), randn(rng, (2, 1), dtype), _positive(rng, (2, 1), dtype),
                randn(rng, (3,), dtype), None), {}),
    ]  # fmt: skip


def _batch_norm_ref(x, mean, variance, offset=None, scale=None, variance_epsilon=1e-3):
    y = (x - mean) / np.sqrt(variance + variance_epsilon)
    y = y if scale is None else y * scale
    return y if offset is None else y + offset


def _moments_samples(rng, dtype):
    x = randn(rng, (3, 4), dtype)
    return [Sample((x,), {"axes": 0}), Sample((x,), {"axes": [0, 1], "keepdims": True}),
            Sample((randn(rng, (2, 3, 2), dtype),), {"axes": (0, 1), "keepdims": False}),
            Sample((randn(rng, (2, 3, 2), dtype),), {"axes": -1, "keepdims": True})]  # fmt: skip


def _moments_ref(x, axes, keepdims=False):
    axes = tuple(axes) if isinstance(axes, (list, tuple)) else axes
    return np.mean(x, axis=axes, keepdims=keepdims), np.var(x, axis=axes, keepdims=keepdims)


def _fused_batch_norm_samples(rng, dtype):
    return [
        Sample((randn(rng, (4, 2, 3), dtype), randn(rng, (3,), dtype), randn(rng, (3,), dtype)),
               {}),
        Sample((randn(rng, (3, 2, 2), dtype), randn(rng, (2,), dtype), None),
               {"axis": 1, "epsilon": 1e-2}),
        Sample((randn(rng, (5, 2), dtype), None, randn(rng, (2,), dtype)), {"axis": -1}),
    ]  # fmt: skip


def _fused_batch_norm_ref(x, scale, offset, epsilon=1e-3, axis=-1):
    axes = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    shape = [1] * x.ndim
    shape[axis] = -1
    mean, variance = x.mean(axis=axes), x.var(axis=axes)
    y = (x - mean.reshape(shape)) / np.sqrt(variance.reshape(shape) + epsilon)
    y = y if scale is None else y * scale.reshape(shape)
    y = y if offset is None else y + offset.reshape(shape)
    return y, mean, variance


def _layer_norm_cases(rng, dtype):
    return [
        ((randn(rng, (3, 4), dtype), randn(rng, (4,), dtype), randn(rng, (4,), dtype)), {}),
        ((randn(rng, (2, 3, 2), dtype), randn(rng, (3, 2), dtype), None), {"axis": (1, 2)}),
        ((randn(rng, (2, 3), dtype), None, None), {"epsilon": 1e-2}),
        ((randn(rng, (2, 3, 2), dtype), None, randn(rng, (2, 3, 1), dtype)), {"axis": 1}),
    ]


def _layer_norm_samples(rng, dtype):
    return [Sample(args, kw) for args, kw in _layer_norm_cases(rng, dtype)]


def _axes(axis, ndim):
    return tuple(a % ndim for a in (axis if isinstance(axis, tuple) else (axis,)))


def _layer_norm_ref(x, scale=None, offset=None, axis=-1, epsilon=1e-3):
    axes = _axes(axis, x.ndim)
    mean = x.mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + epsilon)
    y = y if scale is None else y * scale
    return y if offset is None else y + offset


def _layer_norm_grad_samples(rng, dtype):
    return [Sample((randn(rng, x.shape, dtype), x, scale), kw)
            for (x, scale, _), kw in _layer_norm_cases(rng, dtype)]  # fmt: skip


def _layer_norm_grad_ref(g, x, scale=None, axis=-1, epsilon=1e-3):
    """Through the explicit Jacobian of x_hat over each normalized group of n cells:
    d x_hat_i / d x_j = inv_std * (delta_ij - 1/n - x_hat_i x_hat_j / n), symmetric."""
    axes = _axes(axis, x.ndim)
    a = np.broadcast_to(g if scale is None else g * scale, x.shape)
    last = tuple(range(-len(axes), 0))
    rows_x = np.moveaxis(x, axes, last).reshape(-1, math.prod(x.shape[i] for i in axes))
    rows_a = np.moveaxis(a, axes, last).reshape(rows_x.shape)
    n = rows_x.shape[1]
    d_rows, x_hat_rows = np.empty_like(rows_x), np.empty_like(rows_x)
    for r, (xr, ar) in enumerate(zip(rows_x, rows_a)):
        inv_std = 1.0 / np.sqrt(xr.var() + epsilon)
        x_hat_rows[r] = (xr - xr.mean()) * inv_std
        jacobian = inv_std * (np.eye(n) - 1.0 / n - np.outer(x_hat_rows[r], x_hat_rows[r]) / n)
        d_rows[r] = jacobian.T @ ar
    moved_shape = np.moveaxis(x, axes, last).shape
    d_x = np.moveaxis(d_rows.reshape(moved_shape), last, axes)
    if scale is None:
        return d_x, np.zeros(())
    x_hat = np.moveaxis(x_hat_rows.reshape(moved_shape), last, axes)
    return d_x, _sum_to(g * x_hat, scale.shape)


def _sum_to(t, shape):
    lead = t.ndim - len(shape)
    t = t.sum(axis=tuple(range(lead)))
    return t.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)


OPS = [
    OpInfo("softmax", rl.softmax, lambda x, axis: sp.softmax(x, axis=axis), _softmax_samples,
           grad2=True),
    OpInfo("softmax_grad", nn.softmax_grad, _softmax_grad_ref, _softmax_grad_samples,
           grad2=True, tolerance=LOOSE),
    OpInfo("log_softmax", rl.log_softmax, lambda x, axis: sp.log_softmax(x, axis=axis),
           _softmax_samples, grad2=True, tolerance=LOOSE),
    OpInfo("softmax_cross_entropy_with_logits", rl.softmax_cross_entropy_with_logits,
           _softmax_xent_ref, _softmax_xent_samples, grad2=True, tolerance=LOOSER),
    OpInfo("softmax_cross_entropy_with_logits_grad", nn.softmax_cross_entropy_with_logits_grad,
           _softmax_xent_grad_ref, _softmax_xent_grad_samples, grad2=True, tolerance=LOOSE),
    OpInfo("sparse_softmax_cross_entropy_with_logits",
           rl.sparse_softmax_cross_entropy_with_logits, _sparse_xent_ref,
           lambda rng, d: [Sample(c) for c in _sparse_cases(rng, d)], grad2=True, tolerance=LOOSE),
    OpInfo("sparse_softmax_cross_entropy_with_logits_grad",
           nn.sparse_softmax_cross_entropy_with_logits_grad, _sparse_xent_grad_ref,
           _sparse_xent_grad_samples, grad2=True),
    OpInfo("sigmoid_cross_entropy_with_logits", rl.sigmoid_cross_entropy_with_logits,
           _sigmoid_xent_ref, lambda rng, d: [Sample(c) for c in _sigmoid_cases(rng, d)],
           grad2=True, tolerance=LOOSE),
    OpInfo("sigmoid_cross_entropy_with_logits_grad", nn.sigmoid_cross_entropy_with_logits_grad,
           _sigmoid_xent_grad_ref, _sigmoid_xent_grad_samples, grad2=True, tolerance=LOOSE),
    OpInfo("max_pool1d", rl.max_pool1d, _pool_ref(np.max), _pool_samples(1), grad2=True),
    OpInfo("max_pool2d", rl.max_pool2d, _pool_ref(np.max), _pool_samples(2)),
    # Both are linear in their differentiable input (second derivatives vanish), and each
    # one's gradient check runs the other as its VJP.
    OpInfo("max_pool_grad", pooling.max_pool_grad, _max_pool_grad_ref, _pool_grad_samples,
           tolerance=LOOSE),
    OpInfo("max_pool_grad_grad", pooling.max_pool_grad_grad, _max_pool_grad_grad_ref,
           _max_pool_grad_grad_samples),
    OpInfo("max_pool_relu_grad", pooling.max_pool_relu_grad, _max_pool_relu_grad_ref,
           _pool_grad_samples, tolerance=LOOSE),
    OpInfo("max_pool_argmax", pool_routing.max_pool_argmax, _max_pool_argmax_ref,
           _max_pool_argmax_samples, grad=False),
    OpInfo("max_pool_scatter", pool_routing.max_pool_scatter, _max_pool_scatter_ref,
           _max_pool_scatter_samples, tolerance=LOOSE),
    OpInfo("max_pool_gather", pool_routing.max_pool_gather, _max_pool_gather_ref,
           _max_pool_gather_samples, tolerance=LOOSE),
    OpInfo("avg_pool1d", rl.avg_pool1d, _pool_ref(np.mean), _pool_samples(1), grad2=True,
           tolerance=LOOSE),
    OpInfo("avg_pool2d", rl.avg_pool2d, _pool_ref(np.mean), _pool_samples(2), grad2=True,
           tolerance=LOOSE),
    OpInfo("avg_pool_grad", pooling.avg_pool_grad, _avg_pool_grad_ref, _avg_pool_grad_samples,
           grad2=True, tolerance=LOOSE),
    OpInfo("batch_norm", rl.batch_norm, _batch_norm_ref, _batch_norm_samples, grad2=True,
           tolerance=LOOSER),
    OpInfo("moments", rl.moments, _moments_ref, _moments_samples, grad2=True, tolerance=LOOSE),
    OpInfo("fused_batch_norm", rl.fused_batch_norm, _fused_batch_norm_ref,
           _fused_batch_norm_samples, grad2=True, tolerance=LOOSER),
    OpInfo("layer_norm", rl.layer_norm, _layer_norm_ref, _layer_norm_samples, grad2=True,
           tolerance=LOOSER),
    OpInfo("layer_norm_grad", nn.layer_norm_grad, _layer_norm_grad_ref,
           _layer_norm_grad_samples, grad2=True, tolerance=LOOSER),
]  # fmt: skip
