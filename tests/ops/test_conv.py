"""Convolutions: output shapes against TF's formulas, values against naive loops and SciPy,
the adjoint identities tying the three conv ops together, dtypes, and bad input."""

import math

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

import rillet as rl
from rillet.errors import ArgumentError, DTypeError, ShapeError
from rillet.ops import conv
from tests.ops.opinfo.conv import (
    keras_transpose_size,
    naive_backprop_filter,
    naive_backprop_input,
    naive_conv,
    naive_conv_transpose,
)


def _randn(rng, *shape):
    return rng.standard_normal(shape)


# ----------------------------------------------------------- output shapes (TF's formulas)


def _tf_output_size(size, kernel, stride, dilation, padding):
    """TF docs: "valid" -> ceil((in - (k - 1) * d) / s); "same" -> ceil(in / s)."""
    if padding == "same":
        return math.ceil(size / stride)
    return math.ceil((size - (kernel - 1) * dilation) / stride)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("stride,dilation", [(1, 1), (2, 1), (3, 1), (1, 2), (2, 2)])
def test_output_shape_follows_tf_formula_for_conv2d(padding, stride, dilation):
    x = np.zeros((2, 11, 8, 3))
    w = np.zeros((3, 2, 3, 5))
    y = rl.conv2d(x, w, strides=stride, padding=padding, dilations=dilation)
    expected = (
        2,
        _tf_output_size(11, 3, stride, dilation, padding),
        _tf_output_size(8, 2, stride, dilation, padding),
        5,
    )
    assert y.shape == expected


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("stride,dilation", [(1, 1), (2, 1), (1, 3)])
def test_output_shape_follows_tf_formula_for_conv1d(padding, stride, dilation):
    y = rl.conv1d(
        np.zeros((2, 10, 4)),
        np.zeros((3, 4, 6)),
        strides=stride,
        padding=padding,
        dilations=dilation,
    )
    # causal pads (k - 1) * d on the left: the output length is that of "same".
    formula = "same" if padding == "causal" else padding
    assert y.shape == (2, _tf_output_size(10, 3, stride, dilation, formula), 6)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("stride,kernel,dilation", [(1, 3, 1), (2, 3, 1), (2, 1, 1), (3, 2, 2)])
def test_conv2d_transpose_default_shape_follows_keras_formula(padding, stride, kernel, dilation):
    x = np.zeros((2, 4, 5, 3))
    w = np.zeros((kernel, kernel, 7, 3))
    y = rl.conv2d_transpose(x, w, strides=stride, padding=padding, dilations=dilation)
    sizes = [keras_transpose_size(s, kernel, stride, dilation, padding) for s in (4, 5)]
    assert y.shape == (2, *sizes, 7)
    # and the forward conv of that shape gives back x's shape, as TF requires
    assert (
        rl.conv2d(np.zeros(y.shape), w, strides=stride, padding=padding, dilations=dilation).shape[
            :3
        ]
        == x.shape[:3]
    )


# ------------------------------------------------------------- values against references


def test_single_channel_conv2d_matches_scipy_correlate():
    rng = np.random.default_rng(0)
    x, w = _randn(rng, 9, 7), _randn(rng, 3, 5)
    for padding, mode in [("valid", "valid"), ("same", "same")]:
        y = rl.conv2d(x[None, :, :, None], w[:, :, None, None], padding=padding)
        np.testing.assert_allclose(
            y.numpy()[0, :, :, 0], scipy.signal.correlate(x, w, mode=mode), rtol=1e-12, atol=1e-12
        )


def test_strided_dilated_conv2d_matches_subsampled_scipy_correlate():
    rng = np.random.default_rng(1)
    x, w = _randn(rng, 12, 11), _randn(rng, 2, 3)
    dilated = np.zeros((3, 5))
    dilated[::2, ::2] = w  # a dilation-2 kernel is the kernel with zeros between its taps
    expected = scipy.signal.correlate(x, dilated, mode="valid")[::2, ::3]
    y = rl.conv2d(x[None, :, :, None], w[:, :, None, None], strides=(2, 3), dilations=2)
    np.testing.assert_allclose(y.numpy()[0, :, :, 0], expected, rtol=1e-12, atol=1e-12)


def test_causal_conv1d_matches_the_head_of_full_correlation():
    rng = np.random.default_rng(2)
    x, w = _randn(rng, 10), _randn(rng, 4)
    y = rl.conv1d(x[None, :, None], w[:, None, None], padding="causal")
    full = scipy.signal.correlate(x, w, mode="full")
    np.testing.assert_allclose(y.numpy()[0, :, 0], full[:10], rtol=1e-12, atol=1e-12)


def test_causal_conv1d_output_does_not_see_the_future():
    rng = np.random.default_rng(3)
    x, w = _randn(rng, 1, 12, 2), _randn(rng, 3, 2, 2)
    changed = x.copy()
    changed[:, 7:] += 1.0
    a = rl.conv1d(x, w, padding="causal", dilations=2).numpy()
    b = rl.conv1d(changed, w, padding="causal", dilations=2).numpy()
    np.testing.assert_array_equal(a[:, :7], b[:, :7])
    assert not np.allclose(a[:, 7:], b[:, 7:])


def test_conv1d_equals_conv2d_of_height_one():
    rng = np.random.default_rng(4)
    x, w = _randn(rng, 2, 9, 4), _randn(rng, 3, 2, 6)
    y1 = rl.conv1d(x, w, strides=2, padding="same", groups=2)
    y2 = rl.conv2d(x[:, None], w[None], strides=(1, 2), padding="same", groups=2)
    np.testing.assert_allclose(y1.numpy(), y2.numpy()[:, 0], rtol=1e-12)


def test_conv1d_explicit_padding_matches_naive_loops():
    rng = np.random.default_rng(14)
    x, w = _randn(rng, 2, 6, 2), _randn(rng, 3, 2, 3)
    for padding in ([[2, 1]], [[0, 0], [0, 3], [0, 0]]):
        y = rl.conv1d(x, w, strides=2, padding=padding)
        pads = [p for p in padding if p != [0, 0]]
        np.testing.assert_allclose(y.numpy(), naive_conv(x, w, 2, pads), rtol=1e-12)


def test_depthwise_conv2d_orders_channels_as_tf():
    """Output channel c * multiplier + m comes from input channel c and filters[..., c, m]."""
    rng = np.random.default_rng(5)
    x, w = _randn(rng, 1, 5, 5, 3), _randn(rng, 2, 2, 3, 2)
    y = rl.depthwise_conv2d(x, w).numpy()
    for c in range(3):
        for m in range(2):
            single = naive_conv(x[..., c : c + 1], w[:, :, c : c + 1, m : m + 1])
            np.testing.assert_allclose(y[..., c * 2 + m], single[..., 0], rtol=1e-12)


def test_depthwise_conv2d_equals_grouped_conv2d():
    rng = np.random.default_rng(6)
    x, w = _randn(rng, 2, 6, 6, 4), _randn(rng, 3, 3, 4, 1)
    depthwise = rl.depthwise_conv2d(x, w, strides=2, padding="same")
    grouped = rl.conv2d(x, w.reshape(3, 3, 1, 4), strides=2, padding="same", groups=4)
    np.testing.assert_allclose(depthwise.numpy(), grouped.numpy(), rtol=1e-12)


def test_conv2d_transpose_is_the_input_gradient_of_conv2d():
    rng = np.random.default_rng(7)
    x, w = rl.asarray(_randn(rng, 2, 7, 6, 3)), _randn(rng, 3, 3, 3, 4)
    dy = _randn(rng, 2, 4, 3, 4)
    with rl.GradientTape() as tape:
        tape.watch(x)
        loss = rl.sum(rl.conv2d(x, w, strides=2, padding="same") * dy)
    transposed = rl.conv2d_transpose(dy, w, output_shape=x.shape, strides=2, padding="same")
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), transposed.numpy(), rtol=1e-12)


def test_conv1d_transpose_matches_naive_scatter():
    rng = np.random.default_rng(8)
    x, w = _randn(rng, 2, 4, 3), _randn(rng, 3, 2, 3)
    y = rl.conv1d_transpose(x, w, output_shape=(2, 9, 2), strides=2)
    np.testing.assert_allclose(
        y.numpy(), naive_conv_transpose(x, w, (2, 9, 2), strides=2), rtol=1e-12
    )


def test_tf_style_attributes_are_accepted():
    """TF spells strides [1, s, s, 1], padding "SAME" and explicit pads with batch/channels."""
    rng = np.random.default_rng(13)
    x, w = _randn(rng, 1, 7, 6, 2), _randn(rng, 3, 3, 2, 2)
    ours = rl.conv2d(x, w, strides=2, padding="same").numpy()
    tf_style = rl.conv2d(x, w, strides=[1, 2, 2, 1], padding="SAME", dilations=[1, 1, 1, 1])
    np.testing.assert_array_equal(tf_style.numpy(), ours)
    explicit = rl.conv2d(x, w, padding=[[0, 0], [1, 2], [0, 1], [0, 0]]).numpy()
    np.testing.assert_allclose(explicit, naive_conv(x, w, padding=[(1, 2), (0, 1)]), rtol=1e-12)


# --------------------------------------------------------------- property tests (Hypothesis)


@st.composite
def conv_geometry(draw):
    groups = draw(st.sampled_from([1, 2, 3]))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilations = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from(["valid", "same"]))
    extent = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    spatial = [draw(st.integers(e, e + 4)) for e in extent]
    x_shape = (draw(st.integers(1, 2)), *spatial, groups * cg)
    w_shape = (*kernel, cg, groups * og)
    attrs = {"strides": strides, "padding": padding, "dilations": dilations, "groups": groups}
    return x_shape, w_shape, attrs, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=40, deadline=None)
@given(conv_geometry())
def test_conv2d_matches_naive_loops_for_any_geometry(case):
    x_shape, w_shape, attrs, seed = case
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    y = rl.conv2d(x, w, **attrs)
    sizes = [
        _tf_output_size(*a, attrs["padding"])
        for a in zip(x_shape[1:3], w_shape[:2], attrs["strides"], attrs["dilations"])
    ]
    assert y.shape == (x_shape[0], *sizes, w_shape[-1])
    np.testing.assert_allclose(y.numpy(), naive_conv(x, w, **attrs), rtol=1e-10, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(conv_geometry())
def test_conv_ops_are_adjoint_for_any_geometry(case):
    """<conv2d(x, w), dy> == <x, backprop_input(w, dy)> == <w, backprop_filter(x, dy)>."""
    x_shape, w_shape, attrs, seed = case
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    dy = rng.standard_normal(rl.conv2d(x, w, **attrs).shape)
    forward = np.sum(rl.conv2d(x, w, **attrs).numpy() * dy)
    dx = rl.conv2d_backprop_input(w, dy, input_shape=x_shape, **attrs).numpy()
    dw = rl.conv2d_backprop_filter(x, dy, filter_shape=w_shape, **attrs).numpy()
    np.testing.assert_allclose(np.sum(x * dx), forward, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.sum(w * dw), forward, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dx, naive_backprop_input(w, dy, x_shape, **attrs), atol=1e-10)
    np.testing.assert_allclose(dw, naive_backprop_filter(x, dy, w_shape, **attrs), atol=1e-10)


# -------------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("dtype", [rl.float16, rl.bfloat16, rl.float32, rl.float64])
def test_conv2d_keeps_floating_dtype(dtype):
    rng = np.random.default_rng(9)
    x, w = _randn(rng, 1, 5, 5, 2).astype(dtype), _randn(rng, 3, 3, 2, 3).astype(dtype)
    assert rl.conv2d(x, w, padding="same").dtype == dtype
    assert rl.conv2d_transpose(x, w.transpose(0, 1, 3, 2)).dtype == dtype


def test_mixed_float_inputs_promote_to_the_wider_dtype():
    x = np.ones((1, 4, 4, 2), np.float32)
    w = np.ones((2, 2, 2, 1), np.float64)
    assert rl.conv2d(x, w).dtype == rl.float64
    assert rl.conv1d(x[:, 0], w[0]).dtype == rl.float64


def test_bfloat16_conv_is_computed_in_float32_and_rounded_once():
    rng = np.random.default_rng(10)
    x = _randn(rng, 2, 8, 8, 16).astype(rl.bfloat16)
    w = _randn(rng, 3, 3, 16, 4).astype(rl.bfloat16)
    exact = naive_conv(x.astype(np.float64), w.astype(np.float64))
    got = rl.conv2d(x, w).numpy().astype(np.float64)
    # one rounding to bfloat16 (8 significant bits): relative error <= 2 ** -8
    np.testing.assert_allclose(got, exact, rtol=2**-8, atol=1e-6)


def test_integer_inputs_raise_dtype_error():
    with pytest.raises(DTypeError, match=r"conv2d: .*int64.*floating"):
        rl.conv2d(np.ones((1, 3, 3, 1), np.int64), np.ones((2, 2, 1, 1), np.int64))


# ------------------------------------------------------------------- gradients and state


def test_conv1d_gradient_reaches_a_variable_filter():
    rng = np.random.default_rng(11)
    w = rl.Variable(_randn(rng, 3, 2, 4))
    x = _randn(rng, 2, 7, 2)
    with rl.GradientTape() as tape:
        loss = rl.sum(rl.conv1d(x, w, padding="causal"))
    grad = tape.gradient(loss, w)
    expected = naive_backprop_filter(
        x[:, None], np.ones((2, 1, 7, 4)), (1, 3, 2, 4), padding=[(0, 0), (2, 0)]
    )[0]
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-12)


def test_python_lists_are_accepted_as_operands():
    y = rl.conv1d([[[1.0], [2.0], [3.0]]], [[[1.0]], [[1.0]]])
    assert y.numpy().tolist() == [[[3.0], [5.0]]]


@pytest.mark.parametrize(
    "name,args,kwargs",
    [
        ("conv2d", ((1, 5, 5, 2), (3, 3, 2, 4)), {"padding": "same"}),
        (
            "conv2d_backprop_input",
            ((3, 3, 2, 4), (1, 5, 5, 4)),
            {"input_shape": (1, 5, 5, 2), "padding": "same"},
        ),
        (
            "conv2d_backprop_filter",
            ((1, 5, 5, 2), (1, 5, 5, 4)),
            {"filter_shape": (3, 3, 2, 4), "padding": "same"},
        ),
        ("conv2d", ((2, 6, 5, 1), (3, 2, 1, 4)), {"strides": (2, 1)}),  # one input channel
        (
            "conv2d_backprop_filter",
            ((2, 6, 5, 1), (2, 4, 4, 4)),
            {"filter_shape": (3, 2, 1, 4)},
        ),
        (
            "conv2d_backprop_input",  # no padding: scattered straight into out
            ((3, 3, 2, 4), (2, 3, 3, 4)),
            {"input_shape": (2, 5, 5, 2)},
        ),
    ],
)
def test_kernels_write_into_out_buffers(name, args, kwargs):
    op = rl.ops.REGISTRY[name]
    rng = np.random.default_rng(12)
    arrays = [rng.standard_normal(s) for s in args]
    expected = op.kernel(np, *arrays, **kwargs)
    out = np.empty_like(expected)
    assert op.kernel(np, *arrays, **kwargs, out=out) is out
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_unpadded_input_gradient_writes_through_a_strided_out():
    rng = np.random.default_rng(13)
    w, dy = rng.standard_normal((3, 3, 2, 4)), rng.standard_normal((2, 3, 3, 4))
    buffer = np.full((2, 5, 5, 4), np.nan)
    out = buffer[..., ::2]
    op = rl.ops.REGISTRY["conv2d_backprop_input"]
    assert op.kernel(np, w, dy, input_shape=(2, 5, 5, 2), out=out) is out
    np.testing.assert_allclose(out, naive_backprop_input(w, dy, (2, 5, 5, 2)), rtol=1e-12)
    assert np.isnan(buffer[..., 1::2]).all()


SINGLE_CHANNEL = [
    {},
    {"strides": (2, 3)},
    {"dilations": (2, 1), "padding": "same"},
    {"strides": 2, "dilations": 2, "padding": "same"},
    {"padding": [[2, 0], [1, 1]]},
]


@pytest.mark.parametrize("attrs", SINGLE_CHANNEL)
def test_single_channel_conv_and_filter_gradient_match_naive_loops(attrs):
    """One input channel takes its own im2col layout (one row per kernel tap)."""
    rng = np.random.default_rng(14)
    x, w = rng.standard_normal((3, 9, 8, 1)), rng.standard_normal((3, 2, 1, 5))
    y = rl.conv2d(x, w, **attrs).numpy()
    np.testing.assert_allclose(y, naive_conv(x, w, **attrs), rtol=1e-10, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    dw = rl.conv2d_backprop_filter(x, dy, filter_shape=w.shape, **attrs).numpy()
    expected = naive_backprop_filter(x, dy, w.shape, **attrs)
    np.testing.assert_allclose(dw, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("slice_pixels", [7, 16, 10_000])  # slices + rest, slices only, one GEMM
@pytest.mark.parametrize("attrs", SINGLE_CHANNEL)
def test_single_channel_filter_gradient_summed_over_pixel_slices(attrs, slice_pixels, monkeypatch):
    """The filter gradient's GEMM runs over slices of the N*Ho*Wo pixels, then sums them."""
    monkeypatch.setattr(conv, "_TAP_GEMM_PIXELS", slice_pixels)
    rng = np.random.default_rng(16)
    x = rng.standard_normal((4, 9, 8, 1))
    dy = rng.standard_normal(rl.conv2d(x, np.zeros((3, 2, 1, 5)), **attrs).shape)
    dw = rl.conv2d_backprop_filter(x, dy, filter_shape=(3, 2, 1, 5), **attrs).numpy()
    expected = naive_backprop_filter(x, dy, (3, 2, 1, 5), **attrs)
    np.testing.assert_allclose(dw, expected, rtol=1e-10, atol=1e-12)


def test_single_channel_filter_gradient_of_a_cnn_batch_matches_torch_in_float32():
    """The first layer of the CNN benchmark: 43264 pixels, 21 whole slices and a rest."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(17)
    x = rng.standard_normal((64, 28, 28, 1)).astype(np.float32)
    dy = rng.standard_normal((64, 26, 26, 32)).astype(np.float32)
    out = np.full((3, 3, 1, 32), np.nan, np.float32)
    op = rl.ops.REGISTRY["conv2d_backprop_filter"]
    got = op.kernel(np, x, dy, filter_shape=(3, 3, 1, 32), out=out)
    assert got is out and got.dtype == np.float32
    expected = torch.nn.grad.conv2d_weight(
        torch.from_numpy(x.astype(np.float64)).permute(0, 3, 1, 2),
        (32, 1, 3, 3),
        torch.from_numpy(dy.astype(np.float64)).permute(0, 3, 1, 2),
    )
    expected = expected.permute(2, 3, 1, 0).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=2e-6 * np.abs(expected).max())


def test_single_channel_conv_matches_torch_in_float32():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(15)
    x = rng.standard_normal((4, 28, 28, 1)).astype(np.float32)
    w = rng.standard_normal((3, 3, 1, 8)).astype(np.float32)
    expected = torch.nn.functional.conv2d(
        torch.from_numpy(x).permute(0, 3, 1, 2), torch.from_numpy(w).permute(3, 2, 0, 1)
    )
    got = rl.conv2d(x, w).numpy()
    np.testing.assert_allclose(got, expected.permute(0, 2, 3, 1).numpy(), rtol=1e-5, atol=1e-5)


def test_single_channel_conv1d_matches_naive_loops():
    rng = np.random.default_rng(16)
    x, w = rng.standard_normal((2, 11, 1)), rng.standard_normal((4, 1, 3))
    y = rl.conv1d(x, w, strides=2, padding="causal").numpy()
    expected = naive_conv(x[:, None], w[None], strides=(1, 2), padding=[(0, 0), (3, 0)])[:, 0]
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------------ bad input


def test_channel_mismatch_names_both_shapes_and_the_callers_line():
    with pytest.raises(ShapeError, match=r"conv2d: x\(2, 5, 5, 3\) .*filters\(3, 3, 4, 8\)") as e:
        rl.conv2d(np.ones((2, 5, 5, 3)), np.ones((3, 3, 4, 8)))
    assert "test_conv.py" in str(e.value)


def test_conv1d_channel_mismatch_names_the_1d_shapes():
    with pytest.raises(ShapeError, match=r"conv1d: x\(2, 9, 3\) .*filters\(3, 2, 4\)") as e:
        rl.conv1d(np.ones((2, 9, 3)), np.ones((3, 2, 4)))
    assert "test_conv.py" in str(e.value)


def test_groups_not_dividing_input_channels_raise():
    with pytest.raises(ArgumentError, match=r"conv2d: groups=2 .*3 channels of x\(1, 5, 5, 3\)"):
        rl.conv2d(np.ones((1, 5, 5, 3)), np.ones((3, 3, 1, 4)), groups=2)


def test_groups_not_dividing_output_channels_raise():
    with pytest.raises(ArgumentError, match=r"conv1d: groups=2 .*3 output channels.*\(3, 2, 3\)"):
        rl.conv1d(np.ones((1, 5, 4)), np.ones((3, 2, 3)), groups=2)


@pytest.mark.parametrize(
    "fn,x_shape,w_shape,match",
    [
        (rl.conv2d, (5, 5, 3), (3, 3, 3, 4), r"conv2d: x must have rank 4 .*\(5, 5, 3\)"),
        (rl.conv2d, (1, 5, 5, 3), (3, 3, 3), r"conv2d: filters must have rank 4 .*\(3, 3, 3\)"),
        (rl.conv1d, (1, 5, 5, 3), (3, 3, 4), r"conv1d: x must have rank 3 .*\(1, 5, 5, 3\)"),
        (rl.depthwise_conv2d, (1, 5, 5, 3), (3, 3, 3), r"depthwise_conv2d: filters .*rank 4"),
    ],
)
def test_wrong_rank_raises_shape_error(fn, x_shape, w_shape, match):
    with pytest.raises(ShapeError, match=match):
        fn(np.ones(x_shape), np.ones(w_shape))


@pytest.mark.parametrize("padding", ["full", "causal", 3])
def test_bad_padding_raises_for_conv2d(padding):
    with pytest.raises(
        ArgumentError,
        match=rf"conv2d: padding must be one of 'valid', 'same' "
        rf"or explicit pairs, got {padding!r}",
    ):
        rl.conv2d(np.ones((1, 5, 5, 1)), np.ones((2, 2, 1, 1)), padding=padding)


def test_bad_padding_raises_for_conv1d_listing_causal():
    with pytest.raises(
        ArgumentError,
        match=r"conv1d: padding must be one of 'valid', 'same', "
        r"'causal' or explicit pairs, got 'bogus'",
    ):
        rl.conv1d(np.ones((1, 5, 1)), np.ones((2, 1, 1)), padding="bogus")


def test_malformed_explicit_padding_raises():
    with pytest.raises(ArgumentError, match=r"conv2d: explicit padding must be 2 pairs .*-1"):
        rl.conv2d(np.ones((1, 5, 5, 1)), np.ones((2, 2, 1, 1)), padding=[[1, 1], [0, -1]])


@pytest.mark.parametrize(
    "height,attrs,match",
    [
        (2, {}, r"kernel spans 3 .*x\(1, 2, 4, 1\) .*only 2"),
        (5, {"dilations": 3}, r"kernel spans 7 \(size 3, dilation 3\) .*only 5"),
        (8, {"padding": [[0, 0], [1, 1]], "dilations": (1, 3)}, r"kernel spans 7 .*only 6"),
    ],
)
def test_kernel_larger_than_padded_input_raises(height, attrs, match):
    with pytest.raises(ShapeError, match=rf"conv2d: the {match}"):
        rl.conv2d(np.ones((1, height, 4, 1)), np.ones((3, 3, 1, 1)), **attrs)


@pytest.mark.parametrize("strides", [0, (1, 0), (1, 2, 3), "2"])
def test_bad_strides_raise(strides):
    with pytest.raises(ArgumentError, match=r"conv2d: strides must be a positive int or 2"):
        rl.conv2d(np.ones((1, 5, 5, 1)), np.ones((2, 2, 1, 1)), strides=strides)


def test_conv2d_transpose_inconsistent_output_shape_raises():
    x, w = np.ones((1, 3, 3, 4)), np.ones((3, 3, 2, 4))
    with pytest.raises(
        ShapeError,
        match=r"conv2d_transpose: output_shape \(1, 9, 9, 2\) is "
        r"inconsistent with x\(1, 3, 3, 4\).*gives \(1, 5, 5, 4\)",
    ):
        rl.conv2d_transpose(x, w, output_shape=(1, 9, 9, 2), strides=2, padding="same")


def test_conv2d_transpose_channel_mismatches_raise():
    with pytest.raises(
        ShapeError, match=r"conv2d_transpose: x\(1, 3, 3, 4\) .*filters\(3, 3, 2, 5\)"
    ):
        rl.conv2d_transpose(np.ones((1, 3, 3, 4)), np.ones((3, 3, 2, 5)))
    with pytest.raises(
        ShapeError,
        match=r"conv2d_transpose: output_shape \(1, 5, 5, 3\) has 3 "
        r"channels .*filters\(3, 3, 2, 4\)",
    ):
        rl.conv2d_transpose(np.ones((1, 3, 3, 4)), np.ones((3, 3, 2, 4)), output_shape=(1, 5, 5, 3))


def test_depthwise_channel_mismatch_names_both_shapes():
    with pytest.raises(
        ShapeError, match=r"depthwise_conv2d: x\(1, 5, 5, 3\) .*filters\(3, 3, 4, 2\)"
    ):
        rl.depthwise_conv2d(np.ones((1, 5, 5, 3)), np.ones((3, 3, 4, 2)))


def test_backprop_ops_reject_mismatched_out_backprop():
    with pytest.raises(
        ShapeError,
        match=r"conv2d_backprop_input: out_backprop\(1, 4, 4, 2\) "
        r"does not match .*\(1, 3, 3, 2\)",
    ):
        rl.conv2d_backprop_input(
            np.ones((3, 3, 1, 2)), np.ones((1, 4, 4, 2)), input_shape=(1, 5, 5, 1)
        )
    with pytest.raises(ArgumentError, match=r"conv2d_backprop_filter: filter_shape must be 4"):
        rl.conv2d_backprop_filter(
            np.ones((1, 5, 5, 1)), np.ones((1, 3, 3, 2)), filter_shape=(3, 3, 2)
        )


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_empty_batch_gives_empty_output(groups):
    w = np.ones((3, 3, 4 // groups, 4))
    assert rl.conv2d(np.zeros((0, 5, 5, 4)), w, padding="same", groups=groups).shape == (0, 5, 5, 4)
    assert rl.conv1d(np.zeros((0, 5, 4)), w[0], groups=groups).shape == (0, 3, 4)
    dx = rl.conv2d_backprop_input(
        w, np.zeros((0, 3, 3, 4)), input_shape=(0, 5, 5, 4), groups=groups
    )
    dw = rl.conv2d_backprop_filter(
        np.zeros((0, 5, 5, 4)), np.zeros((0, 3, 3, 4)), filter_shape=w.shape, groups=groups
    )
    assert dx.shape == (0, 5, 5, 4) and dw.shape == w.shape and not dw.numpy().any()


@pytest.mark.parametrize("use_out", [False, True])
def test_conv_whose_window_is_the_whole_input_is_one_product(use_out):
    # A streaming frame: the kernel covers the whole (kh, kw) input, one output pixel.
    from rillet.ops.conv import conv2d as conv2d_op

    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 3, 2, 5)).astype(np.float32)
    w = rng.standard_normal((3, 2, 5, 4)).astype(np.float32)
    expected = np.einsum("nhwc,hwco->no", x, w).reshape(3, 1, 1, 4)
    out = np.full((3, 1, 1, 4), np.nan, np.float32) if use_out else None
    y = conv2d_op.kernel(np, x, w, strides=(1, 1), padding=((0, 0), (0, 0)), out=out)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    if use_out:
        assert y is out
    np.testing.assert_allclose(rl.conv2d(x, w).numpy(), expected, rtol=1e-5, atol=1e-5)
