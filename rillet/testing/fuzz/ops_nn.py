"""Catalog entries: convolutions, pooling, softmax, layer norm and casts."""

from __future__ import annotations

import numpy as np

import rillet as rl

from .catalog import away_from, distinct, entry, pick_ranked

# -- neural-network ops -------------------------------------------------------------------


def _image(builder, rank):
    """A value of ``rank`` (NWC or NHWC), or a new input of that layout."""
    i = (
        builder.pick(lambda j: len(builder.shape(j)) == rank)
        if builder.rng.random() < 0.7
        else None
    )
    if i is None:
        rng = builder.rng
        shape = (
            int(rng.integers(1, 3)),
            *rng.integers(2, 6, size=rank - 2),
            int(rng.integers(1, 4)),
        )
        i = builder.input(tuple(int(s) for s in shape))
    return i


def _window(rng, n, low=1, high=3):
    sizes = [int(s) for s in rng.integers(low, high + 1, size=n)]
    return sizes[0] if n == 1 or (rng.random() < 0.5 and len(set(sizes)) == 1) else tuple(sizes)


def _conv_propose(rank, depthwise=False):
    def propose(builder):
        x = _image(builder, rank)
        rng, channels = builder.rng, builder.shape(x)[-1]
        n = rank - 2
        kernel = tuple(int(k) for k in rng.integers(1, 4, size=n))
        groups = channels if (not depthwise and channels > 1 and rng.random() < 0.3) else 1
        out = int(rng.integers(1, 3)) * (groups if groups > 1 else int(rng.integers(1, 3)))
        inner = (channels, int(rng.integers(1, 3))) if depthwise else (channels // groups, out)
        filters = (
            builder.input((*kernel, *inner))
            if rng.random() < 0.7
            else builder.const((*kernel, *inner))
        )
        attrs = {"strides": _window(rng, n, 1, 2), "padding": str(rng.choice(["valid", "same"]))}
        attrs["dilations"] = 1 if attrs["strides"] != 1 or rng.random() < 0.6 else 2
        if not depthwise:
            attrs["groups"] = groups
        return [x, filters], attrs

    return propose


CONV = (
    "rl.{op}({{0}}, {{1}}, strides={{strides!r}}, padding={{padding!r}}, "
    "dilations={{dilations!r}}{extra})"
)
entry(
    "conv2d",
    CONV.format(op="conv2d", extra=", groups={groups!r}"),
    _conv_propose(4),
    weight=0.5,
    family="nn",
)
entry(
    "conv1d",
    CONV.format(op="conv1d", extra=", groups={groups!r}"),
    _conv_propose(3),
    weight=0.4,
    family="nn",
)
entry(
    "depthwise_conv2d",
    CONV.format(op="depthwise_conv2d", extra=""),
    _conv_propose(4, depthwise=True),
    weight=0.2,
    family="nn",
)


# A Conv2D layer's trace, conv -> bias add -> relu: what the epilogue fusion pass fuses.
def _conv_bias_relu_propose(builder):
    (x, filters), attrs = _conv_propose(4)(builder)
    channels = builder.shape(filters)[-1]
    return [x, filters, builder.input((channels,))], attrs


def _conv_bias_relu_guard(margin, attrs, x, filters, bias):
    """The relu's input (the conv plus bias) away from relu's kink at 0 (False where the
    conv itself is invalid: the step is then rejected as any invalid one)."""
    try:
        pre = rl.conv2d(rl.asarray(x), rl.asarray(filters), **attrs) + rl.asarray(bias)
    except rl.errors.RilletError:
        return False
    return away_from(margin, pre.numpy(), 0.0)


CONV_BIAS_RELU = "rl.relu(" + CONV.format(op="conv2d", extra=", groups={groups!r}") + " + {2})"
entry(
    "conv2d_bias_relu",
    CONV_BIAS_RELU,
    _conv_bias_relu_propose,
    _conv_bias_relu_guard,
    weight=0.3,
    family="nn",
)


def _pool_propose(rank):
    def propose(builder):
        x, rng = _image(builder, rank), builder.rng
        strides = None if rng.random() < 0.4 else _window(rng, rank - 2, 1, 2)
        return [x], {
            "pool_size": _window(rng, rank - 2, 1, 3),
            "strides": strides,
            "padding": str(rng.choice(["valid", "same"])),
        }

    return propose


POOL = "rl.{op}({{0}}, pool_size={{pool_size!r}}, strides={{strides!r}}, padding={{padding!r}})"
for _name, _rank in [("max_pool2d", 4), ("avg_pool2d", 4), ("max_pool1d", 3), ("avg_pool1d", 3)]:
    entry(
        _name,
        POOL.format(op=_name),
        _pool_propose(_rank),
        (lambda m, a, x: distinct(m, x)) if _name.startswith("max") else None,
        0.3,
        "nn",
    )


# relu then a max pool, as image models stack them: the pool-gradient fusion pass's pattern.
entry(
    "relu_max_pool2d",
    POOL.format(op="max_pool2d").replace("({0}", "(rl.relu({0})"),
    _pool_propose(4),
    lambda margin, attrs, x: distinct(margin, x) and away_from(margin, x, 0.0),
    0.3,
    "nn",
)


def _softmax_propose(builder):
    i = pick_ranked(builder)
    if i is None:
        return None
    rank = len(builder.shape(i))
    return [i], {"axis": int(builder.rng.integers(-rank, rank))}


entry("softmax", "rl.softmax({0}, axis={axis!r})", _softmax_propose, weight=0.4, family="nn")
entry(
    "log_softmax", "rl.log_softmax({0}, axis={axis!r})", _softmax_propose, weight=0.4, family="nn"
)


def _layer_norm_propose(builder):
    x = builder.pick(lambda j: len(builder.shape(j)) >= 1 and builder.shape(j)[-1] > 1)
    if x is None:
        return None
    size = builder.shape(x)[-1]
    params = [builder.input((size,)), builder.input((size,))] if builder.rng.random() < 0.6 else []
    return [x, *params], {}


def _layer_norm_source(names, attrs):
    params = f", scale={names[1]}, offset={names[2]}" if len(names) == 3 else ""
    return f"rl.layer_norm({names[0]}{params}, axis=-1)"


entry(
    "layer_norm",
    _layer_norm_source,
    _layer_norm_propose,
    lambda m, a, x, *p: bool(np.min(np.var(x, axis=-1)) > 1e-3),
    0.3,
    family="nn",
)


def _cast_propose(builder):
    i = builder.pick()
    target = "float32" if builder.dtype_of(i) == "float64" else "float64"
    return [i], {"dtype": target}


entry("cast", "rl.cast({0}, dtype=rl.{dtype})", _cast_propose, weight=0.5)
