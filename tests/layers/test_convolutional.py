"""Convolution layers: shapes, config round trips, eager == traced, gradients against finite
differences (float64), values against PyTorch given the same weights, and errors."""

import numpy as np
import pytest

import rillet as rl
import rillet.layers as L
from rillet import regularizers
from rillet.errors import ArgumentError, ShapeError
from tests.layers.core_harness import run_layer_test


def _torch():
    return pytest.importorskip("torch")


def _tf_pads(size: int, kernel: int, stride: int, dilation: int, padding: str) -> tuple:
    """(before, after) padding of TF/Keras: "same" puts the odd pixel at the end."""
    extent = (kernel - 1) * dilation + 1
    if padding == "valid":
        return (0, 0)
    if padding == "causal":
        return (extent - 1, 0)
    total = max((-(-size // stride) - 1) * stride + extent - size, 0)
    return (total // 2, total - total // 2)


# --- shapes, config, traced and gradients (the harness) ---------------------------------------


CONV1D_CASES = [
    {"filters": 2, "kernel_size": 3},
    {"filters": 2, "kernel_size": 2, "padding": "same", "strides": 2},
    {"filters": 2, "kernel_size": 2, "padding": "causal", "dilation_rate": 2},
    {"filters": 4, "kernel_size": 2, "groups": 2, "activation": "tanh"},
]


@pytest.mark.parametrize("kwargs", CONV1D_CASES)
def test_conv1d_harness(rng, kwargs):
    layer, y = run_layer_test(L.Conv1D, kwargs, rng.standard_normal((2, 5, 2)))
    assert layer.kernel.shape == (kwargs["kernel_size"], 2 // kwargs.get("groups", 1), y.shape[-1])


CONV2D_CASES = [
    ({"filters": 2, "kernel_size": 2}, (2, 3, 3, 2)),
    ({"filters": 2, "kernel_size": (2, 3), "padding": "same", "strides": 2}, (2, 3, 3, 2)),
    ({"filters": 2, "kernel_size": 2, "dilation_rate": 2, "use_bias": False}, (2, 3, 3, 2)),
    ({"filters": 2, "kernel_size": 2, "groups": 2, "padding": "same"}, (2, 3, 3, 2)),
]


@pytest.mark.parametrize("kwargs, shape", CONV2D_CASES)
def test_conv2d_harness(rng, kwargs, shape):
    layer, y = run_layer_test(L.Conv2D, kwargs, rng.standard_normal(shape))
    assert len(layer.weights) == (2 if kwargs.get("use_bias", True) else 1)


@pytest.mark.parametrize(
    "cls, kwargs, shape, expected",
    [
        (L.DepthwiseConv1D, {"kernel_size": 2, "depth_multiplier": 2}, (2, 4, 2), (2, 3, 4)),
        (L.DepthwiseConv2D, {"kernel_size": 2, "padding": "same"}, (1, 3, 3, 2), (1, 3, 3, 2)),
        (L.SeparableConv1D, {"filters": 3, "kernel_size": 2}, (2, 4, 2), (2, 3, 3)),
        (
            L.SeparableConv2D,
            {"filters": 2, "kernel_size": 2, "depth_multiplier": 2, "strides": 2},
            (1, 4, 4, 2),
            (1, 2, 2, 2),
        ),
        (L.Conv1DTranspose, {"filters": 2, "kernel_size": 3, "strides": 2}, (2, 3, 2), (2, 7, 2)),
        (
            L.Conv2DTranspose,
            {"filters": 2, "kernel_size": 2, "strides": 2, "padding": "same"},
            (1, 2, 2, 2),
            (1, 4, 4, 2),
        ),
        (
            L.Conv2DTranspose,
            {"filters": 1, "kernel_size": 3, "strides": 2, "output_padding": 1},
            (1, 2, 2, 2),
            (1, 6, 6, 1),
        ),
    ],
)
def test_depthwise_separable_transpose_harness(rng, cls, kwargs, shape, expected):
    run_layer_test(cls, kwargs, rng.standard_normal(shape), expected_shape=expected)


def test_weight_shapes_follow_keras():
    x = rl.ones((1, 6, 6, 4))
    cases = [
        (L.Conv2D(8, 3, groups=2), [(3, 3, 2, 8), (8,)]),
        (L.DepthwiseConv2D(3, depth_multiplier=3), [(3, 3, 4, 3), (12,)]),
        (L.SeparableConv2D(5, 3, depth_multiplier=2), [(3, 3, 4, 2), (1, 1, 8, 5), (5,)]),
        (L.Conv2DTranspose(7, (2, 3)), [(2, 3, 7, 4), (7,)]),
    ]
    for layer, shapes in cases:
        layer(x)
        assert [w.shape for w in layer.weights] == shapes
    separable = cases[2][0]
    assert separable.depthwise_kernel.shape == (3, 3, 4, 2)
    assert separable.pointwise_kernel.shape == (1, 1, 8, 5)


def test_compute_output_shape_with_unknown_sizes():
    assert L.Conv2D(4, 3, strides=2).compute_output_shape((None, None, 9, 3)) == (None, None, 4, 4)
    assert L.Conv1D(4, 3, padding="causal").compute_output_shape((None, 7, 2)) == (None, 7, 4)
    transpose = L.Conv2DTranspose(3, 3, strides=2, padding="same")
    assert transpose.compute_output_shape((None, 5, None, 2)) == (None, 10, None, 3)
    assert L.DepthwiseConv1D(3, depth_multiplier=2).compute_output_shape((1, 5, 3)) == (1, 3, 6)


def test_config_round_trip_keeps_arguments():
    layer = L.Conv2D(
        4, (3, 2), strides=(2, 1), padding="SAME", dilation_rate=1, groups=2, activation="relu",
        use_bias=False, kernel_regularizer="l2", bias_constraint="non_neg", name="c",
    )  # fmt: skip
    config = layer.get_config()
    assert config["kernel_size"] == (3, 2) and config["strides"] == (2, 1)
    assert config["padding"] == "same" and config["groups"] == 2
    assert config["data_format"] == "channels_last"
    clone = L.Conv2D.from_config(config)
    assert clone.get_config() == config
    transpose = L.Conv2DTranspose(2, 3, strides=2, output_padding=1)
    assert transpose.get_config()["output_padding"] == (1, 1)
    assert L.Conv2DTranspose.from_config(transpose.get_config()).output_padding == (1, 1)
    assert L.Convolution2D is L.Conv2D and L.SeparableConvolution1D is L.SeparableConv1D


def test_regularizers_reach_losses(rng):
    layer = L.Conv2D(2, 2, kernel_regularizer=regularizers.L2(0.5), activity_regularizer="l1")
    y = layer(rng.standard_normal((1, 3, 3, 2)).astype(np.float32))
    kernel = layer.kernel.numpy()
    expected = sorted([0.5 * np.sum(kernel**2), 0.01 * np.sum(np.abs(y.numpy()))])
    np.testing.assert_allclose(sorted(float(v) for v in layer.losses), expected, rtol=1e-5)


def test_compiled_training_step_matches_eager(rng):
    layer = L.Conv2D(3, 2, padding="same", dtype="float64")
    x = rl.asarray(rng.standard_normal((2, 4, 4, 2)))

    def loss_and_grads(x):
        with rl.GradientTape() as tape:
            loss = rl.sum(layer(x) ** 2)
        return loss, tape.gradient(loss, layer.trainable_weights)

    eager = loss_and_grads(x)
    traced = rl.function(loss_and_grads)(x)
    np.testing.assert_allclose(float(traced[0]), float(eager[0]), rtol=1e-12)
    for a, b in zip(traced[1], eager[1]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10)


# --- agreement with PyTorch -------------------------------------------------------------------


def _torch_conv(torch, x, weight, strides, pads, dilations, groups):
    """Channels-first torch conv of channels-last ``x`` with explicit (TF) padding."""
    n = x.ndim - 2
    t = torch.from_numpy(np.moveaxis(x, -1, 1).copy())
    flat = [p for pair in reversed(pads) for p in pair]  # F.pad wants the last axis first
    t = torch.nn.functional.pad(t, flat)
    conv = torch.nn.functional.conv1d if n == 1 else torch.nn.functional.conv2d
    y = conv(t, torch.from_numpy(weight), stride=strides, dilation=dilations, groups=groups)
    return np.moveaxis(y.numpy(), 1, -1)


CONV_TORCH_CASES = [
    (1, {"filters": 4, "kernel_size": 3}),
    (1, {"filters": 4, "kernel_size": 3, "padding": "same", "strides": 2}),
    (1, {"filters": 4, "kernel_size": 2, "padding": "causal", "dilation_rate": 3}),
    (1, {"filters": 6, "kernel_size": 3, "padding": "same", "groups": 2}),
    (2, {"filters": 4, "kernel_size": (3, 2)}),
    (2, {"filters": 4, "kernel_size": 3, "padding": "same", "strides": (2, 3)}),
    (2, {"filters": 4, "kernel_size": 2, "padding": "same", "dilation_rate": (2, 1)}),
    (2, {"filters": 6, "kernel_size": 3, "strides": 2, "groups": 2}),
    (2, {"filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": 2}),
]


@pytest.mark.parametrize("rank, kwargs", CONV_TORCH_CASES)
def test_conv_matches_torch(rng, rank, kwargs):
    torch = _torch()
    shape = (2, 11, 4) if rank == 1 else (2, 9, 10, 4)
    x = rng.standard_normal(shape)
    layer = (L.Conv1D if rank == 1 else L.Conv2D)(**kwargs, dtype="float64")
    layer.build(shape)
    layer.bias.assign(rng.standard_normal(layer.bias.shape))
    kernel = layer.kernel.numpy()
    weight = np.moveaxis(kernel, (-1, -2), (0, 1)).copy()  # (out, in / groups, *kernel)
    pads = [
        _tf_pads(n, k, s, d, layer.padding)
        for n, k, s, d in zip(shape[1:-1], layer.kernel_size, layer.strides, layer.dilation_rate)
    ]
    expected = (
        _torch_conv(torch, x, weight, layer.strides, pads, layer.dilation_rate, layer.groups)
        + layer.bias.numpy()
    )
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("rank", [1, 2])
def test_depthwise_and_separable_match_torch(rng, rank):
    torch = _torch()
    shape = (2, 8, 3) if rank == 1 else (2, 7, 8, 3)
    x = rng.standard_normal(shape)
    depthwise = (L.DepthwiseConv1D if rank == 1 else L.DepthwiseConv2D)(
        3, strides=2, padding="same", depth_multiplier=2, dtype="float64"
    )
    y = depthwise(x).numpy()
    kernel = depthwise.kernel.numpy()  # (*k, C, m): output channel c * m + j
    weight = np.moveaxis(kernel.reshape(*kernel.shape[:-2], 6), -1, 0)[:, None].copy()
    pads = [_tf_pads(n, 3, 2, 1, "same") for n in shape[1:-1]]
    expected = _torch_conv(torch, x, weight, 2, pads, 1, groups=3)
    np.testing.assert_allclose(y, expected + depthwise.bias.numpy(), rtol=1e-10, atol=1e-12)

    separable = (L.SeparableConv1D if rank == 1 else L.SeparableConv2D)(
        5, 3, padding="same", depth_multiplier=2, dtype="float64"
    )
    y = separable(x).numpy()
    kernel = separable.depthwise_kernel.numpy()
    weight = np.moveaxis(kernel.reshape(*kernel.shape[:-2], 6), -1, 0)[:, None].copy()
    pads = [_tf_pads(n, 3, 1, 1, "same") for n in shape[1:-1]]
    middle = _torch_conv(torch, x, weight, 1, pads, 1, groups=3)
    pointwise = separable.pointwise_kernel.numpy().reshape(6, 5)
    np.testing.assert_allclose(y, middle @ pointwise, rtol=1e-10, atol=1e-12)


TRANSPOSE_TORCH_CASES = [
    {"filters": 3, "kernel_size": 3, "strides": 2},
    {"filters": 3, "kernel_size": (3, 2), "strides": (2, 1), "padding": "same"},
    {"filters": 2, "kernel_size": 4, "strides": 2, "padding": "same"},
    {"filters": 2, "kernel_size": 3, "strides": 3, "output_padding": (2, 1)},
    {"filters": 2, "kernel_size": 2, "dilation_rate": 2},
]


@pytest.mark.parametrize("kwargs", TRANSPOSE_TORCH_CASES)
def test_conv2d_transpose_matches_torch(rng, kwargs):
    torch = _torch()
    x = rng.standard_normal((2, 4, 5, 3))
    layer = L.Conv2DTranspose(**kwargs, dtype="float64")
    y = layer(x).numpy()
    weight = np.moveaxis(layer.kernel.numpy(), (-1, -2), (0, 1)).copy()  # (in, out, kh, kw)
    full = torch.nn.functional.conv_transpose2d(
        torch.from_numpy(np.moveaxis(x, -1, 1).copy()), torch.from_numpy(weight),
        stride=layer.strides, dilation=layer.dilation_rate,
        output_padding=layer.output_padding or 0,
    )  # fmt: skip
    full = np.moveaxis(full.numpy(), 1, -1)
    # "same" crops the full transposed conv as TF pads the forward conv: odd pixel at the end
    for axis, (n_out, k, s, d) in enumerate(
        zip(y.shape[1:3], layer.kernel_size, layer.strides, layer.dilation_rate), 1
    ):
        before = _tf_pads(n_out, k, s, d, layer.padding)[0]
        full = np.take(full, np.arange(before, before + n_out), axis=axis)
    np.testing.assert_allclose(y, full + layer.bias.numpy(), rtol=1e-10, atol=1e-12)


def test_conv1d_transpose_is_the_input_gradient_of_conv1d(rng):
    x = rng.standard_normal((2, 4, 3))
    layer = L.Conv1DTranspose(2, 3, strides=2, padding="same", use_bias=False, dtype="float64")
    y = layer(x)
    conv = L.Conv1D(3, 3, strides=2, padding="same", use_bias=False, dtype="float64")
    conv.build(y.shape)
    conv.kernel.assign(layer.kernel.numpy())  # (k, filters, in) is Conv1D's (k, in, out)
    probe = rl.asarray(rng.standard_normal(tuple(y.shape)))
    with rl.GradientTape() as tape:
        tape.watch(probe)
        value = rl.sum(conv(probe) * rl.asarray(x))
    np.testing.assert_allclose(y.numpy(), tape.gradient(value, probe).numpy(), rtol=1e-12)


# --- errors ----------------------------------------------------------------------------------


def test_channels_mismatch_on_a_built_layer():
    layer = L.Conv2D(2, 3)
    layer(rl.ones((1, 5, 5, 3)))
    with pytest.raises(ShapeError, match=r"with 3 channels .* got shape \(1, 5, 5, 4\)"):
        layer(rl.ones((1, 5, 5, 4)))
    with pytest.raises(ShapeError, match="rank 4"):
        L.Conv2D(2, 3)(rl.ones((1, 5, 3)))
    depthwise = L.DepthwiseConv1D(2)
    depthwise(rl.ones((1, 5, 3)))
    with pytest.raises(ShapeError, match="3 channels"):
        depthwise(rl.ones((1, 5, 2)))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: L.Conv2D(2, 3, padding="full"), "received padding='full'"),
        (lambda: L.Conv2D(2, 3, padding="causal"), "received padding='causal'"),
        (lambda: L.Conv2DTranspose(2, 3, padding="causal"), "received padding='causal'"),
        (lambda: L.Conv2D(2, 3, data_format="channels_first"), "channels_first"),
        (lambda: L.SeparableConv1D(2, 3, data_format="channels_first"), "channels_first"),
        (lambda: L.Conv2D(2, 3, data_format="nhwc"), "received data_format='nhwc'"),
        (lambda: L.Conv1D(0, 3), "received filters=0"),
        (lambda: L.Conv2D(2, 0), "received kernel_size=0"),
        (lambda: L.Conv2D(2, (3, 3, 3)), r"received kernel_size=\(3, 3, 3\)"),
        (lambda: L.Conv2D(2, 3, strides=(1, -1)), r"received strides=\(1, -1\)"),
        (lambda: L.Conv2D(3, 3, groups=2), "filters=3, groups=2"),
        (lambda: L.DepthwiseConv2D(3, depth_multiplier=0), "received depth_multiplier=0"),
        (lambda: L.Conv2DTranspose(2, 3, strides=2, output_padding=2), "output_padding=.2, 2."),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(ArgumentError, match=message):
        make()


def test_groups_must_divide_the_input_channels():
    with pytest.raises(ShapeError, match="received groups=2 and an input with 3 channels"):
        L.Conv2D(4, 1, groups=2)(rl.ones((1, 2, 2, 3)))


def test_input_smaller_than_the_kernel():
    with pytest.raises(ShapeError, match="too small"):
        L.Conv2D(2, 5).compute_output_shape((None, 3, 3, 1))
    with pytest.raises(ShapeError, match="kernel spans 5"):
        L.Conv2D(2, 5)(rl.ones((1, 3, 3, 1)))
