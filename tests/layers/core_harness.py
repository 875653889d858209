"""One harness for layer tests (after Keras's ``run_layer_test``): output shapes against
``compute_output_shape``, the ``get_config`` round trip with the same weights, eager ==
traced, and gradients (inputs and weights) against finite differences in float64."""

from __future__ import annotations

import numpy as np

import rillet as rl
import rillet.layers  # noqa: F401  (registers rl.layers)
from rillet.testing import check_grads


def _structure(fn, value):
    if isinstance(value, (list, tuple)):
        return [fn(v) for v in value]
    return fn(value)


def _with_unknown_batch(shape):
    if isinstance(shape[0], (list, tuple)):
        return [(None, *s[1:]) for s in shape]
    return (None, *shape[1:])


def run_layer_test(
    cls,
    kwargs: dict,
    inputs,
    expected_shape=None,
    grads: bool = True,
    traced: bool = True,
    training=None,
):
    """Check a layer of class ``cls`` built with ``kwargs`` on ``inputs`` (arrays, float64
    for the gradient check); returns the float64 layer and its output."""
    layer = cls(dtype="float64", **kwargs)
    x = _structure(rl.asarray, inputs)
    y = layer(x) if training is None else layer(x, training=training)
    shape = _structure(lambda v: tuple(np.shape(v)), inputs)
    if expected_shape is not None:
        assert tuple(y.shape) == tuple(expected_shape)
    predicted = layer.compute_output_shape(shape)
    assert tuple(predicted) == tuple(y.shape)
    unknown = layer.compute_output_shape(_with_unknown_batch(shape))
    assert tuple(unknown) == (None, *tuple(y.shape)[1:])

    clone = cls.from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), y.numpy(), rtol=1e-12, atol=0)

    if traced:
        fn = rl.function(lambda *xs: layer(list(xs) if len(xs) > 1 else xs[0]))
        args = x if isinstance(x, list) else [x]
        np.testing.assert_allclose(fn(*args).numpy(), y.numpy(), rtol=1e-10, atol=1e-12)
    if grads:
        check_layer_grads(layer, x)
    return layer, y


def check_layer_grads(layer, x, atol: float = 1e-6, rtol: float = 1e-5) -> None:
    """Tape gradients of a float64 layer w.r.t. its inputs and trainable weights against
    central finite differences."""
    args = x if isinstance(x, list) else [x]
    floating = [i for i, a in enumerate(args) if rl.dtypes.is_floating(a.dtype)]
    call = (lambda *xs: layer(list(xs))) if isinstance(x, list) else (lambda v: layer(v))
    if floating:
        check_grads(call, args, indices=floating, atol=atol, rtol=rtol)
    weights = layer.trainable_weights
    if not weights:
        return
    rng = np.random.default_rng(1)
    cotangent = rng.standard_normal(tuple(call(*args).shape))

    def scalar():
        return float(np.sum(call(*args).numpy() * cotangent))

    with rl.GradientTape() as tape:
        value = rl.sum(call(*args) * rl.asarray(cotangent))
    analytic = tape.gradient(value, weights)
    for w, g in zip(weights, analytic):
        base = w.numpy().copy()
        numeric = np.zeros_like(base)
        for i in np.ndindex(base.shape):
            values = []
            for step in (1e-6, -1e-6):
                shifted = base.copy()
                shifted[i] += step
                w.assign(shifted)
                values.append(scalar())
            numeric[i] = (values[0] - values[1]) / 2e-6
        w.assign(base)
        np.testing.assert_allclose(np.asarray(g), numeric, atol=atol, rtol=rtol)
