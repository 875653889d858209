"""Normalization layers: shapes, config round trips, eager == traced, gradients against
finite differences (float64), values against PyTorch and NumPy, moving statistics (eager and
compiled), masks, and errors."""

import numpy as np
import pytest

import rillet as rl
import rillet.layers as L
from rillet.errors import ArgumentError, ArgumentTypeError, ShapeError
from tests.layers.core_harness import check_layer_grads, run_layer_test


def _torch():
    return pytest.importorskip("torch")


def _randomize(layer, rng) -> None:
    """Non-trivial gamma and beta (and moving statistics), so tests see them."""
    for w in layer.weights:
        low = 0.5 if "variance" in w.name or "gamma" in w.name else -1.0
        w.assign(rng.uniform(low, 1.5, w.shape))


class _Training(L.Layer):
    """Calls a layer with training=True (for the harness's gradient check)."""

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner

    def call(self, inputs):
        return self.inner(inputs, training=True)


# --- BatchNormalization ----------------------------------------------------------------------


@pytest.mark.parametrize("shape, axis", [((4, 3), -1), ((2, 3, 2, 2), -1), ((2, 3, 4), 1)])
def test_batch_norm_inference_harness(rng, shape, axis):
    x = rng.standard_normal(shape)
    layer, y = run_layer_test(L.BatchNormalization, {"axis": axis}, x)
    assert [w.name.split("/")[-1] for w in layer.weights] == [
        "gamma", "beta", "moving_mean", "moving_variance",
    ]  # fmt: skip
    assert len(layer.trainable_weights) == 2
    np.testing.assert_allclose(y.numpy(), x / np.sqrt(1.001), rtol=1e-12)  # fresh statistics


@pytest.mark.parametrize("center, scale", [(True, True), (False, True), (True, False)])
def test_batch_norm_training_values_and_gradients(rng, center, scale):
    x = rng.standard_normal((3, 2, 2))
    layer = L.BatchNormalization(center=center, scale=scale, dtype="float64")
    layer.build(x.shape)
    _randomize(layer, rng)
    y = layer(x, training=True).numpy()
    normalized = (x - x.mean((0, 1))) / np.sqrt(x.var((0, 1)) + 1e-3)
    gamma = layer.gamma.numpy() if scale else 1.0
    beta = layer.beta.numpy() if center else 0.0
    np.testing.assert_allclose(y, normalized * gamma + beta, rtol=1e-10, atol=1e-12)
    check_layer_grads(_Training(layer, dtype="float64"), rl.asarray(x))


def test_batch_norm_inference_uses_the_moving_statistics(rng):
    x = rng.standard_normal((4, 3))
    layer = L.BatchNormalization(epsilon=0.01, dtype="float64")
    layer.build(x.shape)
    _randomize(layer, rng)
    gamma, beta, mean, variance = layer.get_weights()
    expected = (x - mean) / np.sqrt(variance + 0.01) * gamma + beta
    for training in (None, False):
        np.testing.assert_allclose(layer(x, training=training).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(layer.moving_mean.numpy(), mean)  # not updated


def test_batch_norm_matches_torch_in_training_and_eval(rng):
    torch = _torch()
    layer = L.BatchNormalization(momentum=0.8, epsilon=1e-5, dtype="float64")
    reference = torch.nn.BatchNorm2d(3, momentum=0.2, eps=1e-5).double()
    layer.build((4, 5, 6, 3))
    _randomize(layer, rng)
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(layer.gamma.numpy()))
        reference.bias.copy_(torch.from_numpy(layer.beta.numpy()))
    layer.moving_mean.assign(np.zeros(3))
    layer.moving_variance.assign(np.ones(3))
    n = 4 * 5 * 6
    for step in range(3):
        x = rng.standard_normal((4, 5, 6, 3)) * (step + 1) + step
        expected = reference.train()(torch.from_numpy(np.moveaxis(x, -1, 1).copy()))
        got = layer(x, training=True).numpy()
        np.testing.assert_allclose(got, np.moveaxis(expected.detach().numpy(), 1, -1), rtol=1e-10)
    np.testing.assert_allclose(
        layer.moving_mean.numpy(), reference.running_mean.numpy(), rtol=1e-12
    )
    # torch averages the unbiased batch variance, Keras (and rillet) the biased one; both start
    # at 1 with the same momentum, so the updates differ by the factor (n - 1) / n only
    start = 0.8**3
    biased = start + (reference.running_var.numpy() - start) * (n - 1) / n
    np.testing.assert_allclose(layer.moving_variance.numpy(), biased, rtol=1e-12)
    x = rng.standard_normal((4, 5, 6, 3))
    reference.running_var.copy_(torch.from_numpy(layer.moving_variance.numpy()))
    expected = reference.eval()(torch.from_numpy(np.moveaxis(x, -1, 1).copy())).detach().numpy()
    np.testing.assert_allclose(layer(x).numpy(), np.moveaxis(expected, 1, -1), rtol=1e-10)


def test_batch_norm_axis_1_matches_torch_channels_first(rng):
    torch = _torch()
    x = rng.standard_normal((3, 4, 5, 2))
    layer = L.BatchNormalization(axis=1, dtype="float64")
    layer.build(x.shape)
    _randomize(layer, rng)
    reference = torch.nn.BatchNorm2d(4, eps=1e-3).double()
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(layer.gamma.numpy()))
        reference.bias.copy_(torch.from_numpy(layer.beta.numpy()))
    expected = reference.train()(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(layer(x, training=True).numpy(), expected, rtol=1e-10)


def test_batch_norm_updates_trace_into_compiled_train_steps(rng):
    xs = [rng.standard_normal((4, 3)) for _ in range(3)]
    eager = L.BatchNormalization(momentum=0.5, dtype="float64")
    compiled = L.BatchNormalization(momentum=0.5, dtype="float64")
    step = rl.function(lambda x: compiled(x, training=True))
    for x in xs:
        np.testing.assert_allclose(
            step(rl.asarray(x)).numpy(), eager(x, training=True).numpy(), rtol=1e-12
        )
    for a, b in zip(compiled.get_weights(), eager.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert not np.allclose(eager.moving_mean.numpy(), 0.0)


def test_batch_norm_frozen_runs_in_inference_mode(rng):
    x = rng.standard_normal((4, 3))
    layer = L.BatchNormalization(dtype="float64")
    layer.build(x.shape)
    layer.trainable = False
    np.testing.assert_allclose(layer(x, training=True).numpy(), x / np.sqrt(1.001), rtol=1e-12)
    np.testing.assert_array_equal(layer.moving_mean.numpy(), np.zeros(3))
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 4


def test_batch_norm_mask_leaves_masked_steps_out_of_the_statistics(rng):
    x = rng.standard_normal((2, 4, 3))
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 0]], dtype=bool)
    layer = L.BatchNormalization(momentum=0.0, dtype="float64")
    y = layer(x, training=True, mask=rl.asarray(mask)).numpy()
    kept = x[mask]  # (5, 3)
    np.testing.assert_allclose(layer.moving_mean.numpy(), kept.mean(0), rtol=1e-12)
    np.testing.assert_allclose(layer.moving_variance.numpy(), kept.var(0), rtol=1e-12)
    expected = (x - kept.mean(0)) / np.sqrt(kept.var(0) + 1e-3)
    np.testing.assert_allclose(y, expected, rtol=1e-10)
    with pytest.raises(ShapeError, match="one axis less"):
        layer(x, training=True, mask=rl.asarray(mask[:, :, None]))


def test_batch_norm_config_round_trip():
    layer = L.BatchNormalization(
        axis=1, momentum=0.9, epsilon=1e-5, center=False, gamma_regularizer="l2",
        moving_variance_initializer="zeros", name="bn",
    )  # fmt: skip
    config = layer.get_config()
    assert config["momentum"] == 0.9 and config["axis"] == 1 and config["center"] is False
    assert L.BatchNormalization.from_config(config).get_config() == config
    layer.build((2, 3, 4))
    assert [w.shape for w in layer.weights] == [(3,), (3,), (3,)]
    np.testing.assert_array_equal(layer.moving_variance.numpy(), np.zeros(3))
    assert len(layer.losses) == 1


# --- LayerNormalization ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, shape",
    [
        ({}, (2, 3, 4)),
        ({"axis": [1, 2]}, (2, 3, 2)),
        ({"axis": 1, "center": False}, (2, 3, 2)),
        ({"rms_scaling": True}, (2, 4)),
    ],
)
def test_layer_norm_harness_and_numpy_reference(rng, kwargs, shape):
    x = rng.standard_normal(shape)
    layer = L.LayerNormalization(**kwargs, dtype="float64")
    layer.build(shape)
    _randomize(layer, rng)
    weights = layer.get_weights()
    layer, y = run_layer_test(L.LayerNormalization, kwargs, x)
    layer.set_weights(weights)
    y = layer(x).numpy()
    axis = kwargs.get("axis", -1)
    axes = tuple(axis) if isinstance(axis, list) else (axis,)
    gamma = weights[0].reshape([shape[i] if i in axes or i - len(shape) in axes else 1
                                for i in range(len(shape))])  # fmt: skip
    if kwargs.get("rms_scaling"):
        expected = x / np.sqrt(x.var(axes, keepdims=True) + 1e-3) * gamma  # as Keras
    else:
        normalized = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + 1e-3)
        beta = weights[1].reshape(gamma.shape) if len(weights) == 2 else 0.0
        expected = normalized * gamma + beta
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)


def test_layer_norm_matches_torch(rng):
    torch = _torch()
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    layer = L.LayerNormalization(axis=[-2, -1], epsilon=1e-5)
    layer.build(x.shape)
    _randomize(layer, rng)
    reference = torch.nn.LayerNorm((4, 5), eps=1e-5)
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(layer.gamma.numpy()))
        reference.bias.copy_(torch.from_numpy(layer.beta.numpy()))
    expected = reference(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("compiled", [False, True])
def test_layer_norm_last_axis_values_and_gradients_match_torch(rng, dtype, compiled):
    """The last-axis fast path (row statistics as matrix-vector products), eager and in a
    compiled step (which hands the kernel an ``out=`` buffer), on rows far from zero."""
    torch = _torch()
    x = (rng.standard_normal((4, 6, 16)) * 3.0 + 50.0).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    layer = L.LayerNormalization(epsilon=1e-3, dtype=dtype)
    layer.build(x.shape)
    _randomize(layer, rng)

    def forward_and_grads(t):
        with rl.GradientTape() as tape:
            tape.watch(t)
            y = layer(t)
            loss = rl.sum(y * rl.asarray(g))
        return (y, *tape.gradient(loss, [t, layer.gamma, layer.beta]))

    run = rl.function(forward_and_grads) if compiled else forward_and_grads
    got = [t.numpy() for t in run(rl.asarray(x))]
    reference = torch.nn.LayerNorm(16, eps=1e-3).to(getattr(torch, dtype))
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(layer.gamma.numpy()))
        reference.bias.copy_(torch.from_numpy(layer.beta.numpy()))
    tx = torch.from_numpy(x).requires_grad_()
    ty = reference(tx)
    (ty * torch.from_numpy(g)).sum().backward()
    expected = [ty, tx.grad, reference.weight.grad, reference.bias.grad]
    tol = {"rtol": 2e-4, "atol": 2e-4} if dtype == "float32" else {"rtol": 1e-9, "atol": 1e-10}
    for name, a, b in zip(("y", "dx", "dgamma", "dbeta"), got, expected):
        np.testing.assert_allclose(a, b.detach().numpy(), err_msg=name, **tol)


def test_layer_norm_weights_and_config():
    layer = L.LayerNormalization(axis=[1, 2], rms_scaling=True, center=True)
    layer.build((2, 3, 4))
    assert [w.shape for w in layer.weights] == [(3, 4)]  # no beta with rms_scaling
    config = layer.get_config()
    assert config["axis"] == [1, 2] and config["epsilon"] == 1e-3 and config["rms_scaling"]
    assert L.LayerNormalization.from_config(config).get_config() == config
    assert L.LayerNormalization(scale=False, center=False)(rl.ones((2, 3))).shape == (2, 3)


# --- GroupNormalization ----------------------------------------------------------------------


def _numpy_group_norm(x, groups, gamma, beta, epsilon=1e-3):
    n, c = x.shape[0], x.shape[-1]
    grouped = x.reshape(n, -1, groups, c // groups)
    mean = grouped.mean((1, 3), keepdims=True)
    variance = grouped.var((1, 3), keepdims=True)
    normalized = ((grouped - mean) / np.sqrt(variance + epsilon)).reshape(x.shape)
    return normalized * gamma + beta


@pytest.mark.parametrize("groups, shape", [(2, (2, 3, 4)), (-1, (2, 2, 2, 3)), (1, (2, 3, 2))])
def test_group_norm_harness_and_numpy_reference(rng, groups, shape):
    x = rng.standard_normal(shape)
    layer, _ = run_layer_test(L.GroupNormalization, {"groups": groups}, x)
    _randomize(layer, rng)
    gamma, beta = layer.get_weights()
    expected = _numpy_group_norm(x, shape[-1] if groups == -1 else groups, gamma, beta)
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-10, atol=1e-12)
    check_layer_grads(layer, rl.asarray(x))


def test_group_norm_matches_torch(rng):
    torch = _torch()
    x = rng.standard_normal((2, 5, 4, 6)).astype(np.float32)
    layer = L.GroupNormalization(groups=3)
    layer.build(x.shape)
    _randomize(layer, rng)
    reference = torch.nn.GroupNorm(3, 6, eps=1e-3)
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(layer.gamma.numpy()))
        reference.bias.copy_(torch.from_numpy(layer.beta.numpy()))
    expected = reference(torch.from_numpy(np.moveaxis(x, -1, 1).copy())).detach().numpy()
    np.testing.assert_allclose(layer(x).numpy(), np.moveaxis(expected, 1, -1), rtol=1e-5, atol=1e-5)


def test_group_norm_on_a_middle_axis_matches_channels_last(rng):
    x = rng.standard_normal((2, 3, 4))
    last = L.GroupNormalization(groups=2, dtype="float64")
    middle = L.GroupNormalization(groups=2, axis=1, dtype="float64")
    last.build(x.shape)
    _randomize(last, rng)
    middle.build(np.swapaxes(x, 1, 2).shape)
    middle.set_weights(last.get_weights())
    expected = last(x).numpy()
    got = middle(np.swapaxes(x, 1, 2).copy()).numpy()
    np.testing.assert_allclose(np.swapaxes(got, 1, 2), expected, rtol=1e-12)


def test_group_norm_config_round_trip():
    layer = L.GroupNormalization(groups=4, axis=2, epsilon=1e-5, scale=False)
    config = layer.get_config()
    assert (config["groups"], config["axis"], config["epsilon"]) == (4, 2, 1e-5)
    assert L.GroupNormalization.from_config(config).get_config() == config
    assert L.GroupNormalization().groups == 32


# --- errors ----------------------------------------------------------------------------------


def test_normalization_errors():
    with pytest.raises(ShapeError, match="groups=4, which must divide the 6 channels"):
        L.GroupNormalization(groups=4)(rl.ones((1, 2, 6)))
    with pytest.raises(ShapeError, match="groups=8"):
        L.GroupNormalization(groups=8)(rl.ones((1, 2, 4)))
    with pytest.raises(ArgumentError, match="received groups=0"):
        L.GroupNormalization(groups=0)
    with pytest.raises(ArgumentError, match="received axis=3"):
        L.BatchNormalization(axis=3)(rl.ones((2, 3)))
    with pytest.raises(ArgumentTypeError, match="received axis=1.5"):
        L.LayerNormalization(axis=1.5)
    with pytest.raises(ArgumentError, match="received momentum=2"):
        L.BatchNormalization(momentum=2)
    with pytest.raises(ArgumentError, match="synchronized=True"):
        L.BatchNormalization(synchronized=True)
    with pytest.raises(ShapeError, match="must have known sizes"):
        L.LayerNormalization().build((None, None))


@pytest.mark.parametrize(
    "layer", [L.BatchNormalization(), L.LayerNormalization(), L.GroupNormalization(groups=3)]
)
def test_channels_mismatch_on_a_built_layer(layer):
    layer(rl.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"built for them\), got shape \(2, 4\)"):
        layer(rl.ones((2, 4)))
